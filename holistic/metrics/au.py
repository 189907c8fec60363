"""Action-unit detection metrics: per-AU F1, mean F1, AU accuracy, per-AU thresholds.

Conventions (reference/metrics.md §3):

- ``pred`` is probabilities in [0, 1] (or 0/1 decisions), shape ``[N, A]``; an AU is predicted
  active where ``pred >= threshold``. Logits are rejected: apply a sigmoid first.
- ``target`` is 0/1, shape ``[N, A]``. **Negative targets** (the -1 marker) and NaN are masked;
  any other value outside {0, 1} raises ValueError, so dataset markers such as BP4D's 9 or
  EmotioNet's 999 must be masked (or set to -1) by the caller.
- ``mask`` (booleans ``[N]`` per frame or ``[N, A]`` per entry) masks more. An entry counts for
  its AU only where it is valid.
- **Undefined F1.** An AU with *no valid entry at all* is not evaluated: its F1 is NaN and it is
  left out of the mean. An AU with valid entries but no positive label and no positive
  prediction has F1 = ``zero_division`` (0.0 by default, as scikit-learn and ABAW), which pulls
  the mean down.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from holistic.metrics._arrays import ArrayLike, as_array, as_mask, first_bad
from holistic.metrics.expr import afa

__all__ = [
    "DEFAULT_THRESHOLD_GRID",
    "au_accuracy",
    "au_f1",
    "au_scores",
    "choose_au_thresholds",
    "mean_au_f1",
]

#: The Kollias-group fairness protocol's threshold grid {0.10, 0.15, ..., 0.90}.
DEFAULT_THRESHOLD_GRID: np.ndarray = np.round(np.arange(0.10, 0.90 + 1e-9, 0.05), 2)


def _prepare(
    pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(pred [N, A] float, positive [N, A] bool, valid [N, A] bool)``."""
    p = as_array(pred, "pred").astype(np.float64)
    t = as_array(target, "target").astype(np.float64)
    if t.ndim != 2:
        raise ValueError(f"target: expected 0/1 labels [N, A], got shape {t.shape}")
    if p.shape != t.shape:
        raise ValueError(f"pred: expected shape {t.shape} like target, got {p.shape}")
    valid = as_mask(mask, t.shape) & ~np.isnan(t) & (t >= 0)
    bad = valid & (t != 0) & (t != 1)
    if bad.any():
        raise ValueError(
            f"target: expected AU labels 0 or 1 (negative = not labelled), got "
            f"{first_bad(t, bad)}; mask dataset markers such as 9 or 999"
        )
    bad = valid & ~((p >= 0) & (p <= 1))  # also catches NaN
    if bad.any():
        raise ValueError(
            f"pred: expected probabilities in [0, 1] (apply a sigmoid to logits), got "
            f"{first_bad(p, bad)}"
        )
    return p, t == 1, valid


def _thresholds(threshold: float | ArrayLike, num_aus: int) -> np.ndarray:
    th = as_array(threshold, "threshold").astype(np.float64)
    if th.ndim == 0:
        th = np.full(num_aus, float(th))
    if th.shape != (num_aus,):
        raise ValueError(f"threshold: expected a float or an array [{num_aus}], got {th.shape}")
    if not np.isfinite(th).all():
        raise ValueError(f"threshold: expected finite values, got {th}")
    return th


def _f1(
    decision: np.ndarray, positive: np.ndarray, valid: np.ndarray, zero_division: float
) -> np.ndarray:
    """Per-AU F1 ``[A]`` of the positive class over valid entries; NaN where none is valid."""
    tp = np.sum(valid & decision & positive, axis=0)
    fp = np.sum(valid & decision & ~positive, axis=0)
    fn = np.sum(valid & ~decision & positive, axis=0)
    denominator = 2 * tp + fp + fn
    f1 = np.full(tp.shape, float(zero_division))
    np.divide(2.0 * tp, denominator, out=f1, where=denominator > 0)
    f1[~valid.any(axis=0)] = np.nan
    return f1


def _nanmean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def au_f1(
    pred: ArrayLike,
    target: ArrayLike,
    mask: ArrayLike | None = None,
    threshold: float | ArrayLike = 0.5,
    zero_division: float = 0.0,
) -> np.ndarray:
    """Per-AU binary F1 of the positive class, an array ``[A]``.

    Args:
        pred: probabilities or 0/1 decisions ``[N, A]``.
        target: 0/1 labels ``[N, A]``; negative or NaN = not labelled.
        mask: booleans ``[N]`` or ``[N, A]``.
        threshold: a float or per-AU thresholds ``[A]``; active where ``pred >= threshold``.
        zero_division: F1 of an AU with labels but no positive label and no positive prediction.

    Returns:
        F1 per AU; NaN for an AU with no valid entry.
    """
    p, positive, valid = _prepare(pred, target, mask)
    decision = p >= _thresholds(threshold, p.shape[1])
    return _f1(decision, positive, valid, zero_division)


def mean_au_f1(
    pred: ArrayLike,
    target: ArrayLike,
    mask: ArrayLike | None = None,
    threshold: float | ArrayLike = 0.5,
    zero_division: float = 0.0,
) -> float:
    """Mean of :func:`au_f1` over the AUs that have valid entries; NaN if none has."""
    return _nanmean(au_f1(pred, target, mask, threshold, zero_division))


def au_accuracy(
    pred: ArrayLike,
    target: ArrayLike,
    mask: ArrayLike | None = None,
    threshold: float | ArrayLike = 0.5,
) -> float:
    """Accuracy over the flattened valid ``N × A`` decisions (ABAW 2020/2021); NaN if none."""
    p, positive, valid = _prepare(pred, target, mask)
    decision = p >= _thresholds(threshold, p.shape[1])
    return float(np.mean((decision == positive)[valid])) if valid.any() else float("nan")


def choose_au_thresholds(
    pred: ArrayLike,
    target: ArrayLike,
    mask: ArrayLike | None = None,
    grid: ArrayLike | None = None,
) -> np.ndarray:
    """Per-AU thresholds ``[A]`` that maximise each AU's F1 on the given data.

    Tune on a validation split and reuse the thresholds unchanged on the split you report:
    **never tune on the split you report** (the result would be optimistically biased).

    Args:
        pred: probabilities ``[N, A]``.
        target: 0/1 labels ``[N, A]``; negative or NaN = not labelled.
        mask: booleans ``[N]`` or ``[N, A]``.
        grid: candidate thresholds; default :data:`DEFAULT_THRESHOLD_GRID`, {0.10, 0.15, ...,
            0.90}, the Kollias-group protocol.

    Returns:
        The best threshold per AU. Ties (within 1e-12) go to the candidate closest to 0.5, then
        to the smaller one. An AU with no valid entry gets 0.5. Undefined F1 (no positive label
        and no positive prediction) counts as 0 during the search.
    """
    candidates = DEFAULT_THRESHOLD_GRID if grid is None else as_array(grid, "grid")
    candidates = np.asarray(candidates, dtype=np.float64)
    if candidates.ndim != 1 or candidates.size == 0 or not np.isfinite(candidates).all():
        raise ValueError(f"grid: expected a non-empty 1-D array of finite values, got {candidates}")
    p, positive, valid = _prepare(pred, target, mask)
    scores = np.stack([_f1(p >= g, positive, valid, 0.0) for g in candidates])  # [G, A]
    # Preference among tied candidates: closest to 0.5 first, then the smaller threshold.
    preference = np.lexsort((candidates, np.abs(candidates - 0.5)))
    chosen = np.full(p.shape[1], 0.5)
    for j in np.flatnonzero(valid.any(axis=0)):
        column = scores[preference, j]
        chosen[j] = candidates[preference][np.argmax(column >= column.max() - 1e-12)]
    return chosen


def au_scores(
    pred: ArrayLike,
    target: ArrayLike,
    mask: ArrayLike | None = None,
    threshold: float | ArrayLike = 0.5,
    zero_division: float = 0.0,
) -> dict[str, Any]:
    """All AU scores at once.

    Returns:
        ``per_au_f1`` (array ``[A]``, NaN for unlabelled AUs), ``mean_f1``, ``accuracy`` and
        ``afa`` = 0.5·mean_f1 + 0.5·accuracy (floats).
    """
    per_au = au_f1(pred, target, mask, threshold, zero_division)
    mean_f1 = _nanmean(per_au)
    acc = au_accuracy(pred, target, mask, threshold)
    return {"per_au_f1": per_au, "mean_f1": mean_f1, "accuracy": acc, "afa": afa(mean_f1, acc)}
