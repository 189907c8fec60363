"""Zero-shot compound expressions: the candidate score of Eq. 10 of the FaceBehaviorNet paper.

For each candidate category ``c`` with basic components emo1 and emo2
(:data:`holistic.schema.COMPOUND_COMPONENTS`)::

    C_s(c) = Σ_k p(AU_k|x)·P(AU_k|c) / Σ_k P(AU_k|c)      mean predicted probability of c's AUs
           + p(emo1|x) + p(emo2|x)                         the two basic-expression probabilities
           + [c in valence_term_for] · 0.5·(v/|v| + 1)     1 if v > 0, 0 if v < 0, 0 if v == 0

and the prediction is ``argmax_c C_s(c)``. ``P(AU|c)`` are the compound prototypes of
:meth:`relatedness.RelatednessTable.compound_prototypes` (reference/relatedness.md §4, §7.5).

Decisions the paper leaves open (reference/relatedness.md §8.9), documented in docs/evaluation.md:

- ``v == 0`` gives a valence term of 0 (the sign is undefined; no evidence of positive valence).
- Only ``happily_surprised`` and ``happily_disgusted`` get the valence term by default (the two
  "happily" classes of RAF-DB); ``valence_term_for`` changes that (e.g. adding ``happily_sad`` or
  ``happily_fearful`` for other vocabularies).
- A category gets the emotion terms it has: a basic emotion (``happiness`` …) one term, its own
  probability; ``awed``, ``appalled`` and ``hatred`` none. Their scores are therefore on a smaller
  scale than two-component compounds; this is the literal reading of Eq. 10, not rescaled.
- Prototypes are used as given (binary prototypical AUs in the shipped table; weights if a table
  provides observational AUs with weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from holistic.metrics import accuracy, confusion_diag, confusion_matrix, f1_macro, uar
from holistic.metrics._arrays import ArrayLike, as_array
from holistic.schema import BASIC_EXPRESSIONS, COMPOUND_COMPONENTS, check_compound

__all__ = [
    "VALENCE_TERM_FOR",
    "compound_scores",
    "emotion_components",
    "predict_compounds",
    "zeroshot_metrics",
]

#: The categories that get the valence-sign term by default (RAF-DB's two "happily" classes).
VALENCE_TERM_FOR: tuple[str, ...] = ("happily_surprised", "happily_disgusted")


def emotion_components(category: str) -> tuple[str, ...]:
    """The basic expressions whose probabilities a category's score adds.

    Two for a compound (``happily_surprised`` → happiness, surprise), one for a basic emotion
    (``fear`` → fear), none for ``awed``, ``appalled`` and ``hatred``.
    """
    check_compound(category)
    if category in BASIC_EXPRESSIONS:
        return (category,)
    return COMPOUND_COMPONENTS[category]


def _probabilities(x: ArrayLike, name: str, n: int | None) -> np.ndarray:
    arr = as_array(x, name).astype(np.float64)
    if arr.ndim != 2 or (n is not None and arr.shape[0] != n):
        expected = "[N, K]" if n is None else f"[{n}, K]"
        raise ValueError(f"{name}: expected probabilities {expected}, got shape {arr.shape}")
    if not ((arr >= 0) & (arr <= 1)).all():  # also catches NaN
        raise ValueError(
            f"{name}: expected probabilities in [0, 1] (apply sigmoid/softmax to logits), got "
            f"values in [{np.nanmin(arr):.3g}, {np.nanmax(arr):.3g}]"
        )
    return arr


def compound_scores(
    au_probs: ArrayLike,
    expr_probs: ArrayLike,
    valence: ArrayLike,
    *,
    prototypes: ArrayLike,
    compounds: Sequence[str],
    expressions: Sequence[str],
    valence_term_for: Sequence[str] = VALENCE_TERM_FOR,
) -> np.ndarray:
    """Eq. 10 scores of every candidate category for every sample.

    Args:
        au_probs: AU probabilities ``[N, A]`` (sigmoid of the AU head), in the prototypes' AU
            order.
        expr_probs: expression probabilities ``[N, E]`` (softmax of the expression head), in the
            order of ``expressions``.
        valence: predicted valence ``[N]`` (only its sign is used).
        prototypes: P(AU | category) ``[C, A]``, non-negative, no all-zero row, e.g.
            ``relatedness.load_table("compound").compound_prototypes("rafdb11", "fbn17")``.
        compounds: the ``C`` category names, in the prototypes' row order (compounds or basic
            emotions).
        expressions: the run's expression vocabulary (names of the ``E`` columns); it must hold
            every basic component of the candidates.
        valence_term_for: categories that get the valence-sign term.

    Returns:
        float64 scores ``[N, C]``.

    Raises:
        ValueError: shapes that disagree, values outside [0, 1], an empty or negative prototype,
            an unknown category, or a component missing from ``expressions``.
    """
    au = _probabilities(au_probs, "au_probs", None)
    n = au.shape[0]
    expr = _probabilities(expr_probs, "expr_probs", n)
    v = as_array(valence, "valence").astype(np.float64).reshape(-1)
    if v.shape != (n,) or not np.isfinite(v).all():
        raise ValueError(f"valence: expected {n} finite values, got shape {v.shape}")
    proto = as_array(prototypes, "prototypes").astype(np.float64)
    names = [check_compound(c) for c in compounds]
    if proto.ndim != 2 or proto.shape != (len(names), au.shape[1]):
        raise ValueError(
            f"prototypes: expected [{len(names)}, {au.shape[1]}] (one row per compound, one "
            f"column per AU), got {proto.shape}"
        )
    if not np.isfinite(proto).all() or (proto < 0).any():
        raise ValueError("prototypes: expected finite, non-negative weights P(AU | category)")
    totals = proto.sum(axis=1)
    if (totals <= 0).any():
        empty = [c for c, t in zip(names, totals, strict=True) if t <= 0]
        raise ValueError(f"prototypes: rows {empty} are empty (no AU); a prototype needs one")
    expressions = list(expressions)
    if expr.shape[1] != len(expressions):
        raise ValueError(
            f"expr_probs: expected {len(expressions)} columns like expressions, got {expr.shape[1]}"
        )
    for name in valence_term_for:  # a typo would silently drop the term; names absent from
        check_compound(name)  # the candidates are simply unused

    # AU evidence: the prototype-weighted mean of the AU probabilities, in [0, 1].
    scores = au @ (proto / totals[:, None]).T  # [N, C]
    # Emotion evidence: p(emo1) + p(emo2), or the components the category has.
    for j, name in enumerate(names):
        for component in emotion_components(name):
            if component not in expressions:
                raise ValueError(
                    f"expressions: {name!r} needs {component!r}, which is not in the run's "
                    f"vocabulary {expressions}"
                )
            scores[:, j] += expr[:, expressions.index(component)]
    # Valence sign: 0.5·(v/|v| + 1) is 1 for v > 0 and 0 for v < 0; v == 0 counts as 0.
    positive = (v > 0).astype(np.float64)
    for j, name in enumerate(names):
        if name in valence_term_for:
            scores[:, j] += positive
    return scores


def predict_compounds(
    au_probs: ArrayLike,
    expr_probs: ArrayLike,
    valence: ArrayLike,
    *,
    prototypes: ArrayLike,
    compounds: Sequence[str],
    expressions: Sequence[str],
    valence_term_for: Sequence[str] = VALENCE_TERM_FOR,
) -> np.ndarray:
    """``argmax_c`` of :func:`compound_scores`: class indices ``[N]`` (int64) into ``compounds``.

    Ties go to the first category in ``compounds`` order.
    """
    scores = compound_scores(
        au_probs,
        expr_probs,
        valence,
        prototypes=prototypes,
        compounds=compounds,
        expressions=expressions,
        valence_term_for=valence_term_for,
    )
    return scores.argmax(axis=1).astype(np.int64)


def zeroshot_metrics(
    pred: ArrayLike, target: ArrayLike, num_classes: int, mask: ArrayLike | None = None
) -> dict[str, Any]:
    """Scores of zero-shot compound predictions against labels, with the chance level.

    Args:
        pred: predicted class indices ``[N]`` (or scores ``[N, C]``).
        target: true class indices ``[N]``; negative = unlabelled.
        num_classes: ``C``, the fixed class list for F1.
        mask: booleans ``[N]``.

    Returns:
        ``n``, ``diag`` (RAF-DB's mean diagonal), ``f1`` (macro over the fixed list), ``uar``,
        ``accuracy``, ``chance`` = 1/C (the expected UAR and Diag. of a random or constant
        guesser), ``confusion_matrix`` (lists). NaN scores when nothing is valid.
    """
    cm = confusion_matrix(pred, target, num_classes, mask)
    return {
        "n": int(cm.sum()),
        "diag": confusion_diag(pred, target, num_classes, mask),
        "f1": f1_macro(pred, target, num_classes, mask),
        "uar": uar(pred, target, num_classes, mask),
        "accuracy": accuracy(pred, target, mask),
        "chance": 1.0 / num_classes,
        "confusion_matrix": cm.tolist(),
    }
