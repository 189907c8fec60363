"""Task heads. Plain modules with flat arguments (no registry: DESIGN.md decision 7)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MultiTaskHead"]


class MultiTaskHead(nn.Module):
    """MT-VGG-style head: shared fully connected layers, then one output layer for all tasks.

    ``in_features -> [Linear(h) -> ReLU -> Dropout] for h in hidden -> Linear(2 + E + A)``; with
    ``hidden=()`` the features go through Dropout straight to the output layer (as on top of VGG's
    own fc6/fc7). VA, expressions and AUs are read from one output layer, i.e. predicted from the
    same feature space, as in FaceBehaviorNet.

    Args:
        in_features: Size of the backbone's pooled features.
        num_expr: Number of expression logits ``E`` (the run's expression vocabulary).
        num_au: Number of AU logits ``A`` (the run's AU vocabulary).
        hidden: Widths of the shared fully connected layers.
        dropout: Dropout probability after each shared layer (and before the output layer).
    """

    def __init__(
        self,
        in_features: int,
        num_expr: int,
        num_au: int,
        hidden: Sequence[int] = (256,),
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if in_features < 1 or num_expr < 0 or num_au < 0 or any(h < 1 for h in hidden):
            raise ValueError(
                f"MultiTaskHead sizes must be positive: in_features={in_features}, "
                f"num_expr={num_expr}, num_au={num_au}, hidden={tuple(hidden)}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = size
        if not hidden:
            layers.append(nn.Dropout(dropout))
        self.shared = nn.Sequential(*layers)
        self.hidden = tuple(int(h) for h in hidden)
        self.dropout = float(dropout)
        self.out_features = width
        self.num_expr = num_expr
        self.num_au = num_au
        self.out = nn.Linear(width, 2 + num_expr + num_au)

    def reset(self, num_expr: int, num_au: int) -> None:
        """A new, freshly initialised output layer for other vocabulary sizes; shared layers stay."""
        self.num_expr = num_expr
        self.num_au = num_au
        device, dtype = self.out.weight.device, self.out.weight.dtype
        self.out = nn.Linear(self.out_features, 2 + num_expr + num_au, device=device, dtype=dtype)

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Map features ``[B, in_features]`` to the task outputs.

        Returns:
            ``{"va": [B, 2] in [-1, 1] (tanh; valence, arousal), "expr": [B, E] logits,
            "au": [B, A] logits}``.
        """
        out = self.out(self.shared(features))
        va, expr, au = out.split([2, self.num_expr, self.num_au], dim=1)
        return {"va": torch.tanh(va), "expr": expr, "au": au}
