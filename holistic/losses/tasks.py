"""Task losses of the multi-task objective (FaceBehaviorNet paper, Eqs. 2, 6 and 7).

Each function takes the batch's mask for its task and returns a dict with one named term; a batch
without a valid sample for the task gives a graph-connected zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from holistic.losses._common import graph_zero, masked_mean

__all__ = ["batch_ccc", "ccc_loss", "masked_bce", "masked_cross_entropy", "soft_cross_entropy"]


def batch_ccc(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Concordance correlation per column of [N, D] tensors, with population moments.

    ``eps`` keeps the value finite (0) when predictions and targets are both constant, e.g. a
    single-sample batch.
    """
    mean_pred, mean_target = pred.mean(0), target.mean(0)
    centred_pred, centred_target = pred - mean_pred, target - mean_target
    covariance = (centred_pred * centred_target).mean(0)
    denominator = (
        centred_pred.pow(2).mean(0)
        + centred_target.pow(2).mean(0)
        + (mean_pred - mean_target).pow(2)
    )
    return 2.0 * covariance / (denominator + eps)


def ccc_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, name: str = "va"
) -> dict[str, torch.Tensor]:
    """``1 - mean CCC`` over the columns (valence, arousal) of the valid samples.

    Args:
        pred: [N, 2] predicted valence and arousal.
        target: [N, 2] labels in [-1, 1].
        mask: [N] bool, True where the sample has a VA label.
        name: key of the returned term.

    CCC is a batch statistic: it needs several valid samples (the paper's 401-image VA batch); a
    single valid sample gives a finite loss of 1 with zero gradient.
    """
    _check_pair(pred, target, "ccc_loss")
    if mask is not None:
        mask = mask.to(torch.bool)
        if not bool(mask.any()):
            return {name: graph_zero(pred)}
        pred, target = pred[mask], target[mask]
    return {name: 1.0 - batch_ccc(pred, target.to(pred.dtype)).mean()}


def masked_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    name: str = "expr",
) -> dict[str, torch.Tensor]:
    """Cross-entropy averaged over the valid samples (L_Emo of Eq. 7).

    Args:
        logits: [N, K] expression logits.
        target: [N] class indices; entries where ``mask`` is False are ignored whatever they hold.
        mask: [N] bool.
        weight: optional [N] per-sample loss weights (a weighted mean over valid samples).
        name: key of the returned term.
    """
    target = target.to(torch.long)
    valid = torch.ones_like(target, dtype=torch.bool) if mask is None else mask.to(torch.bool)
    if not bool(valid.any()):
        return {name: graph_zero(logits)}
    safe_target = torch.where(valid, target, torch.zeros_like(target))
    if bool(((safe_target < 0) | (safe_target >= logits.shape[-1])).any()):
        raise ValueError(f"{name}: a valid target lies outside [0, {logits.shape[-1]})")
    per_sample = F.cross_entropy(logits, safe_target, reduction="none")
    return {name: _weighted_mean(per_sample, valid, weight)}


def soft_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    name: str = "soft_expr",
) -> dict[str, torch.Tensor]:
    """``-Σ_k target_k log softmax(logits)_k`` averaged over valid samples (soft targets [N, K])."""
    per_sample = -(target * F.log_softmax(logits, dim=-1)).sum(-1)
    return {name: masked_mean(per_sample, mask)}


def masked_bce(
    logits: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    name: str = "au",
) -> dict[str, torch.Tensor]:
    """The AU loss of Eq. 7: per-sample BCE over the AUs its source labels, then a mean.

    For sample n: ``-(1 / Σ_i δ_i) Σ_i δ_i w_i [y_i log p_i + (1 - y_i) log(1 - p_i)]``, then the
    mean over samples with at least one labelled AU. With ``weight=None`` every w_i = 1 and this is
    exactly Eq. 7 (δ_i = ``mask``). With weights (co-annotation's observational re-weighting) the
    normaliser stays Eq. 7's Σ δ, so an observational AU of weight w counts w times as much as a
    prototypical one in absolute terms: dividing by Σ δ w instead would scale every co-annotated
    sample back up, undoing part of the down-weighting the paper asks for.

    Args:
        logits: [N, A] AU logits.
        target: [N, A] 0/1 (soft targets in [0, 1] are accepted).
        mask: [N, A] bool δ; None means every AU of every sample is labelled.
        weight: optional [N, A] non-negative loss weights.
        name: key of the returned term.
    """
    _check_pair(logits, target, "masked_bce")
    delta = torch.ones_like(logits) if mask is None else mask.to(logits.dtype)
    weighted = delta if weight is None else delta * weight.to(logits.dtype)
    per_entry = F.binary_cross_entropy_with_logits(
        logits, target.to(logits.dtype), reduction="none"
    )
    norm = delta.sum(-1)
    valid = norm > 0
    if not bool(valid.any()):
        return {name: graph_zero(logits)}
    per_sample = (per_entry * weighted).sum(-1) / norm.clamp_min(1.0)
    return {name: per_sample[valid].mean()}


def _weighted_mean(
    values: torch.Tensor, valid: torch.Tensor, weight: torch.Tensor | None
) -> torch.Tensor:
    if weight is None:
        return values[valid].mean()
    weight = weight.to(values.dtype) * valid.to(values.dtype)
    total = weight.sum()
    if float(total) <= 0:
        return graph_zero(values)
    return (values * weight).sum() / total


def _check_pair(pred: torch.Tensor, target: torch.Tensor, where: str) -> None:
    if pred.shape != target.shape:
        raise ValueError(
            f"{where}: prediction shape {tuple(pred.shape)} != target shape {tuple(target.shape)}"
        )
