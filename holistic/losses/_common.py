"""Small helpers shared by the loss modules."""

from __future__ import annotations

import torch

__all__ = ["graph_zero", "masked_mean"]


def graph_zero(reference: torch.Tensor) -> torch.Tensor:
    """A scalar zero connected to ``reference``'s graph.

    A batch without a valid sample for a task still yields a loss that backpropagates (all-zero
    gradients), so every rank runs the same backward graph (DESIGN.md decision 4).
    """
    return reference.sum() * 0.0


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``values`` [N] over ``mask`` [N]; a graph-connected zero when nothing is valid."""
    if mask is None:
        return values.mean() if values.numel() else graph_zero(values)
    mask = mask.to(torch.bool)
    if mask.shape != values.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match {tuple(values.shape)}")
    if not bool(mask.any()):
        return graph_zero(values)
    return values[mask].mean()
