"""ABAW challenge scores per edition (reference/metrics.md §4).

Every score pools all valid frames of the evaluation set. The organisers publish no evaluation
script; the formulas follow the papers and the participants' code cited in metrics.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from holistic.metrics._arrays import ArrayLike, as_array
from holistic.metrics.au import au_accuracy, mean_au_f1
from holistic.metrics.expr import accuracy, afa, e_total, f1_macro
from holistic.metrics.va import mean_ccc

__all__ = ["EDITIONS", "EDITION_ALIASES", "Edition", "abaw_score", "resolve_edition"]


@dataclass(frozen=True)
class Edition:
    """How one ABAW edition scores each task.

    Attributes:
        name: canonical name, ``"abaw1"`` ... ``"abaw8"``.
        venue: conference and year.
        num_expr_classes: size of the fixed expression class list (7 basic; 8 with "other").
        expr_vocabulary: the matching name in ``holistic.schema.EXPRESSION_VOCABULARIES``.
        expr_metric: ``"e_total"`` (0.67·F1 + 0.33·Acc) or ``"f1"`` (macro F1 alone).
        num_aus: number of AU columns scored.
        au_vocabulary: the matching name in ``holistic.schema.AU_VOCABULARIES``.
        au_metric: ``"afa"`` (0.5·mean F1 + 0.5·Acc) or ``"f1"`` (mean F1 alone).
        mtl: whether :func:`abaw_score` reports ``"mtl"`` = P_VA + P_EXPR + P_AU.
        mtl_track: whether the edition ran a multi-task (MTL) track scored by that sum.
        formulas: the task scores in words, keyed ``"va"``, ``"expr"``, ``"au"`` (and ``"mtl"``).
    """

    name: str
    venue: str
    num_expr_classes: int
    expr_vocabulary: str
    expr_metric: Literal["e_total", "f1"]
    num_aus: int
    au_vocabulary: str
    au_metric: Literal["afa", "f1"]
    mtl: bool
    mtl_track: bool
    formulas: dict[str, str]


def _early(name: str, venue: str, num_aus: int, au_vocabulary: str) -> Edition:
    """ABAW 2020/2021: accuracy-weighted expression and AU scores, 7 classes."""
    formulas = {
        "va": "(CCC_V + CCC_A) / 2",
        "expr": "0.67 * macro F1 + 0.33 * accuracy, 7 classes",
        "au": f"0.5 * mean F1 + 0.5 * accuracy, {num_aus} AUs, threshold 0.5",
    }
    return Edition(
        name, venue, 7, "basic7", "e_total", num_aus, au_vocabulary, "afa", False, False, formulas
    )


def _late(name: str, venue: str, mtl_track: bool) -> Edition:
    """ABAW3 onward: F1-only scores, 8 expression classes (with "other"), 12 AUs."""
    formulas = {
        "va": "(CCC_V + CCC_A) / 2",
        "expr": "macro F1 over the fixed 8 classes (incl. other)",
        "au": "mean F1 over 12 AUs, threshold 0.5",
        "mtl": "P_VA + P_EXPR + P_AU",
    }
    return Edition(name, venue, 8, "abaw8", "f1", 12, "abaw2021", "f1", True, mtl_track, formulas)


#: Editions by canonical name. ABAW5, 6 and 8 ran uni-task tracks only, scored as ABAW3
#: (unverified in metrics.md); ``abaw_score`` still reports the ABAW3-style ``"mtl"`` sum there.
EDITIONS: dict[str, Edition] = {
    "abaw1": _early("abaw1", "FG 2020", 8, "abaw2020"),
    "abaw2": _early("abaw2", "ICCV 2021", 12, "abaw2021"),
    "abaw3": _late("abaw3", "CVPR 2022", mtl_track=True),
    "abaw4": _late("abaw4", "ECCV 2022", mtl_track=True),
    "abaw5": _late("abaw5", "CVPR 2023", mtl_track=False),
    "abaw6": _late("abaw6", "CVPR 2024", mtl_track=False),
    "abaw7": _late("abaw7", "ECCV 2024", mtl_track=True),
    "abaw8": _late("abaw8", "CVPR 2025", mtl_track=False),
}

#: Accepted spellings (case-insensitive) of each edition.
EDITION_ALIASES: dict[str, str] = {
    **{name: name for name in EDITIONS},
    "2020": "abaw1",
    "2021": "abaw2",
    "2022": "abaw3",
}

TaskInput = tuple[ArrayLike, ArrayLike] | tuple[ArrayLike, ArrayLike, ArrayLike | None]


def resolve_edition(edition: str) -> Edition:
    """Look up an edition by name or alias (``"abaw3"``, ``"ABAW3"``, ``"2022"``)."""
    key = str(edition).strip().lower()
    if key not in EDITION_ALIASES:
        raise ValueError(
            f"edition: expected one of {', '.join(EDITION_ALIASES)} (case-insensitive), "
            f"got {edition!r}"
        )
    return EDITIONS[EDITION_ALIASES[key]]


def _unpack(task: str, value: Sequence[ArrayLike]) -> tuple[np.ndarray, ArrayLike, ArrayLike]:
    if not isinstance(value, tuple | list) or len(value) not in (2, 3):
        raise TypeError(f"{task}: expected a tuple (pred, target) or (pred, target, mask)")
    pred, target, mask = (*value, None) if len(value) == 2 else value
    return as_array(pred, f"{task} pred"), target, mask


def abaw_score(
    edition: str,
    *,
    va: TaskInput | None = None,
    expr: TaskInput | None = None,
    au: TaskInput | None = None,
) -> dict[str, float]:
    """The ABAW challenge score of each task given, under one edition's rules.

    Args:
        edition: ``"abaw1"``/``"2020"``, ``"abaw2"``/``"2021"``, ``"abaw3"``/``"2022"``,
            ``"abaw4"`` ... ``"abaw8"``, case-insensitive.
        va: ``(pred, target[, mask])`` with pred and target ``[N, 2]`` (valence, arousal); NaN in
            target is masked. Scored by mean CCC in every edition.
        expr: ``(pred, target[, mask])``, pred labels ``[N]`` or scores ``[N, K]``, target labels
            ``[N]`` with -1 masked, K = the edition's class count (7, or 8 from ABAW3).
        au: ``(pred, target[, mask])``, pred probabilities ``[N, A]``, target 0/1 with -1
            masked, A = the edition's AU count (8 for ABAW1, else 12); threshold 0.5.

    Returns:
        ``"va"``, ``"expr"``, ``"au"`` for the tasks given, plus ``"mtl"`` = their sum when all
        three are given and the edition is ABAW3 or later (range [-1, 3] in principle, [0, 3] in
        practice).

    Raises:
        ValueError: unknown edition, no task given, or a wrong number of columns or classes.
    """
    ed = resolve_edition(edition)
    if va is None and expr is None and au is None:
        raise ValueError("abaw_score: expected at least one of va=, expr=, au=")
    scores: dict[str, float] = {}
    if va is not None:
        pred, target, mask = _unpack("va", va)
        if pred.ndim != 2 or pred.shape[1] != 2:
            raise ValueError(f"va pred: expected shape [N, 2] (valence, arousal), got {pred.shape}")
        scores["va"] = mean_ccc(pred, target, mask)
    if expr is not None:
        pred, target, mask = _unpack("expr", expr)
        score = f1_macro(pred, target, ed.num_expr_classes, mask, average="fixed")
        if ed.expr_metric == "e_total":
            score = e_total(score, accuracy(pred, target, mask))
        scores["expr"] = score
    if au is not None:
        pred, target, mask = _unpack("au", au)
        if pred.ndim != 2 or pred.shape[1] != ed.num_aus:
            raise ValueError(
                f"au pred: {ed.name} scores {ed.num_aus} AUs ({ed.au_vocabulary}), expected "
                f"shape [N, {ed.num_aus}], got {pred.shape}"
            )
        score = mean_au_f1(pred, target, mask)
        if ed.au_metric == "afa":
            score = afa(score, au_accuracy(pred, target, mask))
        scores["au"] = score
    if ed.mtl and len(scores) == 3:
        scores["mtl"] = scores["va"] + scores["expr"] + scores["au"]
    return scores
