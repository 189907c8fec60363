"""The affect loss L_afc of the latent-adversarial papers (AEG-CD-SZ, ANCLaF, AViGaS-Net).

Printed (ANCLaF Eqs. 10-14, AViGaS Eqs. 14-18): a class-balanced sum of RMSE, COR, CCC and ICC
terms over valence and arousal discretised into 0.1-wide bins. The printed equations contain sign
and weighting slips and the public code has defects (``reference/latent_models.md`` §2.1, §7);
this implementation takes these explicit conventions instead:

- every term is a quantity to *minimise* and is 0 for a perfect prediction:
  ``rmse`` = class-weighted RMSE, ``cor`` = 1 - mean(COR_V, COR_A), ``ccc`` = 1 - mean(CCC_V,
  CCC_A), ``icc`` = 1 - mean(ICC_V, ICC_A), where ICC = 2·cov / (σx² + σy²) (CCC without the mean
  term, the consistency ICC(3,1));
- statistics are population moments over the batch, with no epsilon added to the means;
- class-balance weights come from :class:`VABinWeights` (inverse bin frequency, one binning for
  counting and lookup, valence and arousal binned separately, normalised to mean 1 over the
  training labels) and weight the RMSE term only; the correlation terms are unweighted, as in the
  reference code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from holistic.losses._common import graph_zero
from holistic.losses.tasks import batch_ccc

__all__ = ["AFFECT_TERMS", "VABinWeights", "affect_loss"]

AFFECT_TERMS: tuple[str, ...] = ("rmse", "cor", "ccc", "icc")


@dataclass(frozen=True)
class VABinWeights:
    """Inverse-frequency weights over discretised valence and arousal.

    Attributes:
        low, high: the label range (-1, 1 for Aff-Wild2; -10, 10 for native AFEW-VA).
        bins_per_unit: bins per unit of the label scale (10 on [-1, 1]: 0.1-wide bins, 21 bins).
        weights: [num_bins, 2] weight of each bin, column 0 valence, column 1 arousal.
    """

    low: float
    high: float
    bins_per_unit: float
    weights: torch.Tensor

    @property
    def num_bins(self) -> int:
        return self.weights.shape[0]

    @classmethod
    def fit(
        cls, va: torch.Tensor, low: float = -1.0, high: float = 1.0, bins_per_unit: float = 10.0
    ) -> VABinWeights:
        """Count training labels per bin (from zero, +1 smoothing) and invert.

        Args:
            va: [N, 2] training valence/arousal labels (the current training folds only).

        A bin's weight is proportional to 1 / (count + 1), scaled so the mean weight over the
        given labels is 1 per column: weighting then changes the balance between bins, not the
        scale of the RMSE term.
        """
        va = torch.as_tensor(va, dtype=torch.float64)
        if va.ndim != 2 or va.shape[1] != 2 or va.shape[0] == 0:
            raise ValueError(f"va must be a non-empty [N, 2] tensor, got shape {tuple(va.shape)}")
        num_bins = int(round((high - low) * bins_per_unit)) + 1
        probe = cls(low, high, bins_per_unit, torch.ones(num_bins, 2))
        bins = probe.bin_index(va)
        counts = torch.stack(
            [torch.bincount(bins[:, c], minlength=num_bins) for c in range(2)], dim=1
        ).to(torch.float64)
        inverse = 1.0 / (counts + 1.0)
        per_sample_mean = (counts * inverse).sum(0) / va.shape[0]
        return cls(low, high, bins_per_unit, (inverse / per_sample_mean).to(torch.float32))

    def bin_index(self, va: torch.Tensor) -> torch.Tensor:
        """[N, 2] bin of each value: floor((v - low) · bins_per_unit), clipped to the range."""
        va = torch.as_tensor(va)
        outside = (va < self.low) | (va > self.high)
        if bool(outside.any()):
            bad = va[outside][0].item()
            raise ValueError(
                f"VA value {bad} lies outside [{self.low}, {self.high}]; mask invalid markers first"
            )
        index = torch.floor((va.to(torch.float64) - self.low) * self.bins_per_unit).long()
        return index.clamp(0, self.num_bins - 1)

    def __call__(self, va: torch.Tensor) -> torch.Tensor:
        """[N, 2] per-sample weights: valence looked up in valence bins, arousal in arousal bins."""
        bins = self.bin_index(va)
        weights = self.weights.to(torch.as_tensor(va).device)
        return torch.stack([weights[bins[:, c], c] for c in range(2)], dim=1)


def affect_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    terms: Sequence[str] = AFFECT_TERMS,
    eps: float = 1e-8,
) -> dict[str, torch.Tensor]:
    """L_afc: the selected terms and their unweighted sum ``total`` (to minimise).

    Args:
        pred, target: [N, 2] valence and arousal.
        mask: [N] bool valid samples.
        weight: [N, 2] per-sample class-balance weights (e.g. ``VABinWeights(...)(target)``);
            the RMSE term is then ``sqrt(Σ w (ŷ - y)² / Σ w)`` per column, averaged over columns.
        terms: which of ``rmse``, ``cor``, ``ccc``, ``icc`` to include (ANCLaF stage 3 drops cor).
        eps: added to denominators only, so constant predictions give finite values.
    """
    unknown = sorted(set(terms) - set(AFFECT_TERMS))
    if unknown or not terms:
        raise ValueError(f"terms must be a non-empty subset of {AFFECT_TERMS}, got {list(terms)}")
    if pred.shape != target.shape or pred.ndim != 2:
        raise ValueError(
            f"pred and target must both be [N, D], got {tuple(pred.shape)}, {tuple(target.shape)}"
        )
    if mask is not None:
        mask = mask.to(torch.bool)
        if not bool(mask.any()):
            zero = graph_zero(pred)
            return {**{name: zero for name in terms}, "total": zero}
        pred, target = pred[mask], target[mask]
        weight = None if weight is None else weight[mask]
    target = target.to(pred.dtype)
    out: dict[str, torch.Tensor] = {}
    if "rmse" in terms:
        squared = (pred - target).pow(2)
        w = torch.ones_like(squared) if weight is None else weight.to(pred.dtype)
        out["rmse"] = torch.sqrt((w * squared).sum(0) / w.sum(0).clamp_min(eps) + eps).mean()
    centred_pred, centred_target = pred - pred.mean(0), target - target.mean(0)
    covariance = (centred_pred * centred_target).mean(0)
    var_pred, var_target = centred_pred.pow(2).mean(0), centred_target.pow(2).mean(0)
    if "cor" in terms:
        out["cor"] = 1.0 - (covariance / torch.sqrt(var_pred * var_target + eps)).mean()
    if "ccc" in terms:
        out["ccc"] = 1.0 - batch_ccc(pred, target, eps).mean()
    if "icc" in terms:
        out["icc"] = 1.0 - (2.0 * covariance / (var_pred + var_target + eps)).mean()
    out["total"] = sum(out.values())
    return out
