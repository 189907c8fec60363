"""Task heads. Plain modules with flat arguments (no registry: DESIGN.md decision 7)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

__all__ = ["BLOCKS", "VA_OUTPUTS", "MultiTaskHead", "VAOutput"]


#: The output blocks of the head's single output layer, in order.
BLOCKS: tuple[str, ...] = ("va", "expr", "au", "compound")

#: How the VA block becomes valence and arousal: ``tanh`` (in [-1, 1], the label range) or
#: ``linear`` (the output units as they are, any real value: the FaceBehaviorNet paper's).
VAOutput = Literal["tanh", "linear"]
VA_OUTPUTS: tuple[str, ...] = ("tanh", "linear")


class MultiTaskHead(nn.Module):
    """MT-VGG-style head: shared fully connected layers, then one output layer for all tasks.

    ``in_features -> [Linear(h) -> ReLU -> Dropout] for h in hidden -> Linear(2 + E + A [+ C])``;
    with ``hidden=()`` the features go through Dropout straight to the output layer (as on top of
    VGG's own fc6/fc7). VA, expressions and AUs (and compound expressions, when a model is
    fine-tuned to them) are read from one output layer, i.e. predicted from the same feature
    space, as in FaceBehaviorNet.

    Args:
        in_features: Size of the backbone's pooled features.
        num_expr: Number of expression logits ``E`` (the run's expression vocabulary).
        num_au: Number of AU logits ``A`` (the run's AU vocabulary).
        hidden: Widths of the shared fully connected layers.
        dropout: Dropout probability after each shared layer (and before the output layer).
        num_compound: Number of compound-expression logits ``C`` (0: no compound output).
        va_output: ``"tanh"``: valence and arousal squashed into [-1, 1], the labels' range;
            ``"linear"``: the two output units as they are (the paper's), any real value. An
            attribute: setting it later changes only how the same units are read.
    """

    def __init__(
        self,
        in_features: int,
        num_expr: int,
        num_au: int,
        hidden: Sequence[int] = (256,),
        dropout: float = 0.5,
        num_compound: int = 0,
        va_output: VAOutput = "tanh",
    ) -> None:
        super().__init__()
        if in_features < 1 or min(num_expr, num_au, num_compound) < 0 or any(h < 1 for h in hidden):
            raise ValueError(
                f"MultiTaskHead sizes must be positive: in_features={in_features}, "
                f"num_expr={num_expr}, num_au={num_au}, num_compound={num_compound}, "
                f"hidden={tuple(hidden)}"
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
        self.num_compound = num_compound
        self.va_output = va_output
        self.out = nn.Linear(width, sum(self.sizes.values()))

    @property
    def va_output(self) -> VAOutput:
        """``"tanh"`` (VA in [-1, 1]) or ``"linear"`` (VA unbounded)."""
        return self._va_output

    @va_output.setter
    def va_output(self, value: VAOutput) -> None:
        if value not in VA_OUTPUTS:
            raise ValueError(f"va_output: expected one of {list(VA_OUTPUTS)}, got {value!r}")
        self._va_output = value

    @property
    def sizes(self) -> dict[str, int]:
        """Rows of each output block, in :data:`BLOCKS` order."""
        return {"va": 2, "expr": self.num_expr, "au": self.num_au, "compound": self.num_compound}

    def reset(
        self, num_expr: int, num_au: int, num_compound: int = 0, *, keep: Sequence[str] = ()
    ) -> None:
        """A new output layer for other vocabulary sizes; the shared layers stay.

        The blocks named in ``keep`` (of :data:`BLOCKS`, with unchanged sizes) keep their trained
        rows; every other block is freshly initialised.
        """
        unknown = sorted(set(keep) - set(BLOCKS))
        if unknown:
            raise ValueError(f"keep: unknown output blocks {unknown}; blocks are {list(BLOCKS)}")
        old, old_sizes = self.out, self.sizes
        self.num_expr, self.num_au, self.num_compound = num_expr, num_au, num_compound
        changed = [b for b in keep if old_sizes[b] != self.sizes[b]]
        if changed:
            raise ValueError(f"keep: blocks {changed} change size and cannot keep their rows")
        device, dtype = old.weight.device, old.weight.dtype
        self.out = nn.Linear(
            self.out_features, sum(self.sizes.values()), device=device, dtype=dtype
        )
        old_rows, new_rows = _block_rows(old_sizes), _block_rows(self.sizes)
        with torch.no_grad():
            for block in keep:
                self.out.weight[new_rows[block]] = old.weight[old_rows[block]]
                self.out.bias[new_rows[block]] = old.bias[old_rows[block]]

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Map features ``[B, in_features]`` to the task outputs.

        Returns:
            ``{"va": [B, 2] (valence, arousal; in [-1, 1] with tanh, any real with linear),
            "expr": [B, E] logits, "au": [B, A] logits}``, plus ``"compound": [B, C]`` logits
            when ``C > 0``.
        """
        out = self.out(self.shared(features))
        va, expr, au, compound = out.split(list(self.sizes.values()), dim=1)
        if self.va_output == "tanh":
            va = torch.tanh(va)
        outputs = {"va": va, "expr": expr, "au": au}
        if self.num_compound:
            outputs["compound"] = compound
        return outputs


def _block_rows(sizes: dict[str, int]) -> dict[str, slice]:
    rows, start = {}, 0
    for block, size in sizes.items():
        rows[block] = slice(start, start + size)
        start += size
    return rows
