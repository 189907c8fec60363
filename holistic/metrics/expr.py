"""Classification metrics for expressions: confusion matrix, F1 variants, accuracy, UAR.

Conventions (reference/metrics.md §2):

- ``pred`` is integer labels ``[N]`` or scores ``[N, K]`` (logits or probabilities, arg-maxed).
- ``target`` is integer labels ``[N]``. **Negative targets** (the -1 "no label" marker) and NaN are
  invalid and silently masked; ``mask`` (booleans ``[N]``) masks more.
- At valid positions, a label ``>= num_classes`` (in target or pred) raises ValueError: a dataset's
  extra codes (AffectNet 8-10, say) must be masked, never folded into a class.
- Averages run over the **fixed class list** ``0 .. num_classes - 1`` unless asked otherwise.
- **No valid samples** gives NaN for every score (an all-zero confusion matrix, an all-NaN
  per-class F1).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from holistic.metrics._arrays import ArrayLike, as_array, as_mask, first_bad

__all__ = [
    "accuracy",
    "afa",
    "confusion_diag",
    "confusion_matrix",
    "e_total",
    "f1_macro",
    "f1_per_class",
    "uar",
]


def _check_num_classes(num_classes: int | None) -> None:
    if num_classes is None:
        return
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer):
        raise TypeError(f"num_classes: expected an int, got {type(num_classes).__name__}")
    if num_classes < 1:
        raise ValueError(f"num_classes: expected >= 1, got {num_classes}")


def _check_labels(
    values: np.ndarray, valid: np.ndarray, name: str, num_classes: int | None
) -> None:
    """Raise on a non-integer, negative (pred only) or too-large label at a valid position."""
    if values.dtype.kind == "f":
        bad = valid & ~np.isfinite(values)
        if bad.any():
            raise ValueError(f"{name}: expected finite class labels, got {first_bad(values, bad)}")
        bad = valid & (values != np.round(values))
        if bad.any():
            raise ValueError(f"{name}: expected integer class labels, got {first_bad(values, bad)}")
    bad = valid & (values < 0)
    if bad.any():
        raise ValueError(f"{name}: expected class labels >= 0, got {first_bad(values, bad)}")
    if num_classes is not None:
        bad = valid & (values >= num_classes)
        if bad.any():
            raise ValueError(
                f"{name}: expected class labels < num_classes={num_classes}, got "
                f"{first_bad(values, bad)}; mask labels outside the class list"
            )


def _valid_labels(
    pred: ArrayLike, target: ArrayLike, num_classes: int | None, mask: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray]:
    """The valid ``(pred, target)`` label pairs as int64 arrays ``[M]``, checked against K."""
    _check_num_classes(num_classes)
    t = as_array(target, "target")
    if t.ndim != 1:
        raise ValueError(f"target: expected integer labels [N], got shape {t.shape}")
    p = as_array(pred, "pred")
    if p.ndim not in (1, 2) or p.shape[0] != t.shape[0]:
        raise ValueError(
            f"pred: expected labels [N] or scores [N, K] with N={t.shape[0]}, got shape {p.shape}"
        )
    if p.ndim == 2 and (p.shape[1] == 0 or num_classes not in (None, p.shape[1])):
        raise ValueError(f"pred: expected scores [N, {num_classes}], got shape {p.shape}")

    # NaN and negative targets (the -1 marker) are "no label"; ``mask`` removes more.
    valid = as_mask(mask, t.shape) & ~np.isnan(t) & (t >= 0)
    _check_labels(t, valid, "target", num_classes)
    if p.ndim == 2:
        bad = valid[:, None] & ~np.isfinite(p)
        if bad.any():
            raise ValueError(f"pred: expected finite scores, got {first_bad(p, bad)}")
        p = p.argmax(axis=1)
    _check_labels(p, valid, "pred", num_classes)
    return p[valid].astype(np.int64), t[valid].astype(np.int64)


def _confusion(p: np.ndarray, t: np.ndarray, num_classes: int) -> np.ndarray:
    counts = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def _f1_from_confusion(cm: np.ndarray, zero_division: float) -> np.ndarray:
    tp = np.diag(cm).astype(np.float64)
    denominator = cm.sum(axis=0) + cm.sum(axis=1)  # = 2·TP + FP + FN
    f1 = np.full(tp.shape, float(zero_division))
    np.divide(2.0 * tp, denominator, out=f1, where=denominator > 0)
    return f1


def confusion_matrix(
    pred: ArrayLike, target: ArrayLike, num_classes: int, mask: ArrayLike | None = None
) -> np.ndarray:
    """Counts ``[K, K]`` (int64) over the valid samples: rows = true class, columns = predicted."""
    p, t = _valid_labels(pred, target, num_classes, mask)
    return _confusion(p, t, num_classes)


def f1_per_class(
    pred: ArrayLike,
    target: ArrayLike,
    num_classes: int,
    mask: ArrayLike | None = None,
    zero_division: float = 0.0,
) -> np.ndarray:
    """Per-class F1 = 2·TP / (2·TP + FP + FN), an array ``[K]``.

    A class that is never true and never predicted has undefined F1 and gets ``zero_division``
    (0.0 by default, as ABAW; 1.0 or NaN as scikit-learn allows). All NaN if nothing is valid.
    """
    p, t = _valid_labels(pred, target, num_classes, mask)
    if t.size == 0:
        return np.full(num_classes, np.nan)
    return _f1_from_confusion(_confusion(p, t, num_classes), zero_division)


def f1_macro(
    pred: ArrayLike,
    target: ArrayLike,
    num_classes: int | None = None,
    mask: ArrayLike | None = None,
    average: Literal["fixed", "sklearn"] = "fixed",
    zero_division: float = 0.0,
) -> float:
    """Unweighted mean of per-class F1.

    Args:
        pred: labels ``[N]`` or scores ``[N, K]``.
        target: labels ``[N]``; negative values are masked.
        num_classes: K; required for ``average="fixed"``.
        mask: booleans ``[N]``.
        average: ``"fixed"`` (ABAW): the mean over **all** K classes, a class absent from both
            target and pred counting as ``zero_division`` (NaN drops it from the mean).
            ``"sklearn"``: scikit-learn's default ``f1_score(average="macro")``, the mean over
            the sorted union of classes present in target or pred; ``zero_division`` is then
            irrelevant because every such class has a defined F1.
        zero_division: the F1 of a class that is never true and never predicted.

    Returns:
        The macro F1; NaN if nothing is valid. On the metrics.md golden example the fixed
        8-class value is 0.246 while the scikit-learn default gives 0.656.
    """
    if average not in ("fixed", "sklearn"):
        raise ValueError(f"average: expected 'fixed' or 'sklearn', got {average!r}")
    if average == "fixed" and num_classes is None:
        raise ValueError("num_classes: required for average='fixed' (the fixed class list)")
    p, t = _valid_labels(pred, target, num_classes, mask)
    if t.size == 0:
        return float("nan")
    k = num_classes if num_classes is not None else int(max(p.max(), t.max())) + 1
    f1 = _f1_from_confusion(_confusion(p, t, k), zero_division)
    if average == "sklearn":
        f1 = f1[np.union1d(p, t)]
    f1 = f1[~np.isnan(f1)]
    return float(f1.mean()) if f1.size else float("nan")


def accuracy(pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Fraction of valid samples predicted correctly (ABAW's "total accuracy"); NaN if none."""
    p, t = _valid_labels(pred, target, None, mask)
    return float(np.mean(p == t)) if t.size else float("nan")


def uar(
    pred: ArrayLike, target: ArrayLike, num_classes: int, mask: ArrayLike | None = None
) -> float:
    """Unweighted average recall (mean recall, balanced accuracy).

    The mean of TP_c / (number of true c) over the classes that **have at least one true
    sample**; classes without true samples are excluded from the mean (their recall is
    undefined), as in scikit-learn's ``balanced_accuracy_score``. Predictions of such a class
    still count, as misses of the true class. NaN if nothing is valid.
    """
    p, t = _valid_labels(pred, target, num_classes, mask)
    if t.size == 0:
        return float("nan")
    support = np.bincount(t, minlength=num_classes)
    hits = np.bincount(t[p == t], minlength=num_classes)
    present = support > 0
    return float(np.mean(hits[present] / support[present]))


def confusion_diag(
    pred: ArrayLike, target: ArrayLike, num_classes: int, mask: ArrayLike | None = None
) -> float:
    """RAF-DB's "Diag.": the mean diagonal of the row-normalised confusion matrix.

    Rows without samples are left out, so this equals :func:`uar`. NaN if nothing is valid.
    """
    cm = confusion_matrix(pred, target, num_classes, mask).astype(np.float64)
    rows = cm.sum(axis=1)
    present = rows > 0
    if not present.any():
        return float("nan")
    normalised = cm[present] / rows[present, None]
    return float(np.mean(normalised[np.arange(normalised.shape[0]), np.flatnonzero(present)]))


def afa(f1: float, acc: float) -> float:
    """0.5·F1 + 0.5·Acc: the ABAW 2020/2021 AU score ("AFA" in FaceBehaviorNet Table VI)."""
    return 0.5 * float(f1) + 0.5 * float(acc)


def e_total(f1: float, acc: float) -> float:
    """0.67·F1 + 0.33·Acc: the ABAW 2020/2021 expression score ("E_total")."""
    return 0.67 * float(f1) + 0.33 * float(acc)
