"""Layers shared by the latent-adversarial parts: the halving convolution and argument checks."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..heads import VA_OUTPUTS, VAOutput

__all__ = [
    "LEAKY_SLOPE",
    "HalvingConv",
    "apply_va_output",
    "check_va_output",
    "halved",
    "va_output_of",
    "va_output_property",
]

#: StarGAN's LeakyReLU slope, used after every convolution of D and C.
LEAKY_SLOPE = 0.01


class HalvingConv(nn.Module):
    """A 4×4 stride-2 convolution whose output side is ``ceil(n / 2)`` for any input side ``n``.

    The reference convolutions pad by 1, which halves an even side and floors an odd one, so a
    stack of six collapses to nothing below 64 px; its 112 px discriminator pads one layer by 2
    by hand (7 -> 4). Here each side is padded by 1 when it is even and by 2 when it is odd,
    per forward: the same outputs as the reference at 112 and 128 px, and at least 1×1 for any
    input. The parameters are an ordinary ``nn.Conv2d`` (``self.conv``).
    """

    def __init__(self, in_channels: int, out_channels: int, *, bias: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=4, stride=2, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        pad_h, pad_w = 1 + height % 2, 1 + width % 2
        return self.conv(F.pad(x, (pad_w, pad_w, pad_h, pad_h)))


def halved(side: int, times: int) -> int:
    """The side after ``times`` :class:`HalvingConv` layers."""
    for _ in range(times):
        side = (side + 1) // 2
    return side


def check_va_output(value: str) -> Literal["tanh", "linear"]:
    if value not in VA_OUTPUTS:
        raise ValueError(f"va_output: expected one of {list(VA_OUTPUTS)}, got {value!r}")
    return value  # type: ignore[return-value]


def apply_va_output(va: torch.Tensor, va_output: VAOutput) -> torch.Tensor:
    """``tanh`` squashes valence and arousal into [-1, 1]; ``linear`` leaves them as they are."""
    return torch.tanh(va) if va_output == "tanh" else va


def va_output_property() -> property:
    """A part's settable ``va_output`` (``"linear"`` or ``"tanh"``), checked when set."""

    def get(self) -> VAOutput:
        return self._va_output

    def set_(self, value: VAOutput) -> None:
        self._va_output = check_va_output(value)

    return property(
        get, set_, doc='``"linear"`` or ``"tanh"``: how the VA head is read (settable).'
    )


def va_output_of(part: str) -> property:
    """A composite's ``va_output``: that of its ``part`` (settable; ``save_model`` records it)."""

    def get(self) -> VAOutput:
        return getattr(self, part).va_output

    def set_(self, value: VAOutput) -> None:
        getattr(self, part).va_output = value

    return property(get, set_, doc=f"The {part}'s VA output (settable; save_model records it).")
