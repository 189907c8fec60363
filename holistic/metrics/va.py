"""Regression metrics for valence and arousal: CCC, Pearson, RMSE, MSE and the Aspandi "ICC".

Conventions (reference/metrics.md §1):

- **Population moments** (divide by N), as in the Aff-Wild evaluation script and the ABAW
  participants' code.
- ``pred`` and ``target`` have shape ``[N]`` (one score, returned as a float) or ``[N, D]`` (one
  score per column, returned as an array ``[D]``).
- **Masking.** ``mask`` (booleans, ``[N]`` per frame or ``[N, D]`` per entry) selects the valid
  entries, and NaN in ``target`` is invalid too. Each column is scored on its own valid entries
  (per-dimension masking). To drop a whole frame when either of V or A is missing (the Aff-Wild2
  rule for the -5 marker), pass a per-frame mask. Dataset markers such as -5 are *not* recognised:
  turn them into NaN or mask them.
- **No valid entries** in a column gives NaN for that column (no error).
- **Degenerate denominators** (zero variance) are decided per metric and documented on each
  function: they never produce NaN or a warning when there are valid entries.
- A NaN or infinite prediction at a valid entry raises ValueError (a model bug, not a label gap).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from holistic.metrics._arrays import ArrayLike, as_array, as_mask, first_bad

__all__ = ["ccc", "icc", "mean_ccc", "mse", "pearson", "rmse"]


def _columns(
    pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None
) -> tuple[list[tuple[np.ndarray, np.ndarray]], bool]:
    """Per-column pairs of valid ``(pred, target)``, and whether the input was 1-D."""
    p = as_array(pred, "pred").astype(np.float64)
    t = as_array(target, "target").astype(np.float64)
    if p.shape != t.shape:
        raise ValueError(f"pred and target: expected equal shapes, got {p.shape} and {t.shape}")
    if p.ndim not in (1, 2):
        raise ValueError(f"pred: expected shape [N] or [N, D], got {p.shape}")
    valid = as_mask(mask, p.shape) & ~np.isnan(t)
    for name, values in (("target", t), ("pred", p)):
        bad = valid & ~np.isfinite(values)
        if bad.any():
            raise ValueError(f"{name}: expected finite values, got {first_bad(values, bad)}")
    one_d = p.ndim == 1
    if one_d:
        p, t, valid = p[:, None], t[:, None], valid[:, None]
    pairs = [(p[valid[:, j], j], t[valid[:, j], j]) for j in range(p.shape[1])]
    return pairs, one_d


def _moments(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float, float]:
    """Population ``(mean_x, mean_y, var_x, var_y, cov)``; exactly 0 variance for constants."""
    # Centre explicitly and zero constant columns so a constant input has variance exactly 0,
    # not a rounding residue that would make the degenerate cases below unpredictable.
    dx = x - x.mean() if np.ptp(x) > 0 else np.zeros_like(x)
    dy = y - y.mean() if np.ptp(y) > 0 else np.zeros_like(y)
    return (
        float(x.mean()),
        float(y.mean()),
        float(np.mean(dx * dx)),
        float(np.mean(dy * dy)),
        float(np.mean(dx * dy)),
    )


def _apply(
    score: Callable[[np.ndarray, np.ndarray], float],
    pred: ArrayLike,
    target: ArrayLike,
    mask: ArrayLike | None,
) -> float | np.ndarray:
    pairs, one_d = _columns(pred, target, mask)
    values = np.array([score(x, y) if x.size else np.nan for x, y in pairs], dtype=np.float64)
    return float(values[0]) if one_d else values


def _ccc(x: np.ndarray, y: np.ndarray) -> float:
    mx, my, vx, vy, cov = _moments(x, y)
    denominator = vx + vy + (mx - my) ** 2
    if denominator == 0.0:  # both constant and equal: pred == target exactly
        return 1.0
    return float(np.clip(2.0 * cov / denominator, -1.0, 1.0))


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    _, _, vx, vy, cov = _moments(x, y)
    if vx == 0.0 or vy == 0.0:
        return 0.0
    return float(np.clip(cov / np.sqrt(vx * vy), -1.0, 1.0))


def _icc(x: np.ndarray, y: np.ndarray) -> float:
    _, _, vx, vy, cov = _moments(x, y)
    if vx + vy == 0.0:  # both constant: pred == target + c, perfect consistency
        return 1.0
    return float(np.clip(2.0 * cov / (vx + vy), -1.0, 1.0))


def _mse(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((x - y) ** 2))


def ccc(pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None) -> float | np.ndarray:
    """Concordance correlation coefficient 2·cov / (σx² + σy² + (μx − μy)²), in [-1, 1].

    Penalises shifted or rescaled predictions even when they are perfectly correlated.

    Args:
        pred: predictions ``[N]`` or ``[N, D]``.
        target: labels of the same shape; NaN marks a missing label.
        mask: booleans ``[N]`` or ``[N, D]``; False drops the entry.

    Returns:
        A float for ``[N]`` input, an array ``[D]`` for ``[N, D]``. NaN where a column has no valid
        entry. When the denominator is 0 (pred and target constant and equal, i.e. identical) the
        agreement is perfect and the result is 1.0; a constant prediction of a varying target
        scores 0.0.
    """
    return _apply(_ccc, pred, target, mask)


def pearson(
    pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None
) -> float | np.ndarray:
    """Pearson correlation cov / (σx·σy) ("COR" in the Aspandi papers), in [-1, 1].

    Shift- and scale-invariant. Shapes, masking and NaN-on-empty as in :func:`ccc`. If pred or
    target is constant over the valid entries the correlation is undefined; it is reported as
    0.0 (no linear association measurable), where scipy would return NaN.
    """
    return _apply(_pearson, pred, target, mask)


def icc(pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None) -> float | np.ndarray:
    """The Aspandi papers' "ICC": 2·cov / (σx² + σy²), in [-1, 1].

    This is CCC without the mean-difference term and equals the two-way consistency ICC(3,1) of
    the (prediction, label) pair. It is blind to a constant offset. Shapes, masking and
    NaN-on-empty as in :func:`ccc`. If both are constant the result is 1.0 (pred = target + c is
    perfect consistency); if only one is constant it is 0.0.
    """
    return _apply(_icc, pred, target, mask)


def mse(pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None) -> float | np.ndarray:
    """Mean squared error (AffWildNet Table II).

    Shapes, masking and NaN-on-empty as in :func:`ccc`.
    """
    return _apply(_mse, pred, target, mask)


def rmse(pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None) -> float | np.ndarray:
    """Root mean squared error, what the Aspandi papers report (their "MSE" columns are RMSE).

    Shapes, masking and NaN-on-empty as in :func:`ccc`. Note the scale of the labels: AFEW-VA
    uses [-10, 10], so its RMSE is 10 times that of the same error on [-1, 1].
    """
    return _apply(lambda x, y: float(np.sqrt(_mse(x, y))), pred, target, mask)


def mean_ccc(pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None) -> float:
    """The ABAW VA score: the mean of the per-column CCCs, (CCC_valence + CCC_arousal) / 2.

    Args:
        pred: predictions ``[N, D]``, usually ``D = 2`` (valence, arousal).
        target: labels of the same shape; NaN marks a missing label.
        mask: booleans ``[N]`` (per frame) or ``[N, D]``.

    Returns:
        The mean CCC; NaN if any column has no valid entry (the score is then undefined).
    """
    p = as_array(pred, "pred")
    if p.ndim != 2:
        raise ValueError(
            f"pred: expected shape [N, D] (e.g. valence, arousal), got {p.shape}; "
            "use ccc() for a single column"
        )
    return float(np.mean(ccc(p, target, mask)))
