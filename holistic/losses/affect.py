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
from holistic.schema import va_bin_index, va_num_bins

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
        bins = va_bin_index(va, low, high, bins_per_unit)
        num_bins = va_num_bins(low, high, bins_per_unit)
        valence, arousal = (torch.bincount(bins[:, c], minlength=num_bins) for c in (0, 1))
        return cls.from_histograms(valence, arousal, low, high, bins_per_unit)

    @classmethod
    def from_histograms(
        cls,
        valence_counts: Sequence[float] | torch.Tensor,
        arousal_counts: Sequence[float] | torch.Tensor,
        low: float = -1.0,
        high: float = 1.0,
        bins_per_unit: float = 10.0,
    ) -> VABinWeights:
        """The weights :meth:`fit` gives, from per-bin label counts (no pass over the data).

        Args:
            valence_counts, arousal_counts: [num_bins] training labels per bin, binned by
                :func:`holistic.schema.va_bin_index` (the federation manifest's per-shard
                histograms, summed over the current training folds only:
                ``Federation.va_histogram("train")``, or ``VAHistogram.count(va)``).

        Each column is normalised by its own total, so the mean weight over the counted labels
        is 1 per column. Raises ``ValueError`` for a wrong length, a negative or non-finite
        count, or a column that counts nothing.
        """
        num_bins = va_num_bins(low, high, bins_per_unit)
        columns = []
        for name, counts in (("valence", valence_counts), ("arousal", arousal_counts)):
            counts = torch.as_tensor(counts, dtype=torch.float64)
            if counts.shape != (num_bins,):
                raise ValueError(
                    f"{name}_counts must hold {num_bins} bins for [{low}, {high}] at "
                    f"{bins_per_unit} per unit, got shape {tuple(counts.shape)}"
                )
            if not bool(torch.isfinite(counts).all()) or bool((counts < 0).any()):
                raise ValueError(f"{name}_counts must be finite and non-negative: {counts}")
            if not counts.sum() > 0:
                raise ValueError(f"{name}_counts count no label")
            columns.append(counts)
        counts = torch.stack(columns, dim=1)
        inverse = 1.0 / (counts + 1.0)
        per_sample_mean = (counts * inverse).sum(0) / counts.sum(0)
        return cls(low, high, bins_per_unit, (inverse / per_sample_mean).to(torch.float32))

    def bin_index(self, va: torch.Tensor) -> torch.Tensor:
        """[N, 2] bin of each value: :func:`holistic.schema.va_bin_index` with this range and
        bin width, the binning the manifest counts with."""
        return va_bin_index(va, self.low, self.high, self.bins_per_unit)

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
    prefix: str = "",
) -> dict[str, torch.Tensor]:
    """L_afc: the selected terms and their unweighted sum ``total`` (to minimise).

    Args:
        pred, target: [N, 2] valence and arousal.
        mask: [N] bool valid samples.
        weight: [N, 2] per-sample class-balance weights (e.g. ``VABinWeights(...)(target)``);
            the RMSE term is then ``sqrt(Σ w (ŷ - y)² / Σ w)`` per column, averaged over columns.
        terms: which of ``rmse``, ``cor``, ``ccc``, ``icc`` to include (ANCLaF stage 3 drops cor).
        eps: added to denominators only, so constant predictions give finite values.
        prefix: prepended to every key, ``total`` included (e.g. ``"afc_d/"`` and ``"afc_c/"``
            for the discriminator's and the combiner's L_afc), so the dicts of several affect
            losses merge with each other and with the adversarial terms without a collision.
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
            return {prefix + name: zero for name in (*terms, "total")}
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
    return {prefix + name: value for name, value in out.items()}
