"""The denoising generator G: an encoder-decoder whose bottleneck is the latent Z.

Both references are one shape (``reference/latent_models.md`` §3.2, §4.2)::

    image [B, 3, H, W] in [-1, 1]              (H, W multiples of 4)
      encoder: conv 7×7 s1 (w)  -> IN -> ReLU                       [B, w,  H,   W]
               conv 4×4 s2 (2w) -> IN -> ReLU                       [B, 2w, H/2, W/2]
               conv 4×4 s2 (4w) -> IN -> ReLU                       [B, 4w, H/4, W/4]
               residual blocks 1..k (conv 3×3-IN-ReLU-conv 3×3-IN, with or without the skip)
               -> Z                                                 [B, 4w, H/4, W/4]
      decoder: residual blocks k+1..n
               transposed conv 4×4 s2 (2w) -> IN -> ReLU            [B, 2w, H/2, W/2]
               transposed conv 4×4 s2 (w)  -> IN -> ReLU            [B, w,  H,   W]
               conv 7×7 s1 (3) -> tanh                              [B, 3,  H,   W]

- ALN's ``GeneratorMZ`` (AEG of AEG-CD-SZ): one block, without the skip, ``k = 1``
  (160,928 parameters at ``w = 16``).
- Seq-Att-Affect's ``GeneratorM`` (G of ANCLaF): five blocks with skips
  ``(yes, yes, no, yes, yes)``, Z after block 3 (456,864 parameters at ``w = 16``).

Every convolution is bias-free (StarGAN's); InstanceNorm is affine and keeps **no running
statistics** (``track_running_stats=False``), so training, latent extraction and evaluation
normalise the same way, with each image's own statistics, in ``train()`` and ``eval()`` alike
(decision 17; the references track running statistics and evaluate with them, defects 7.1.12
and 7.2.3).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

__all__ = ["Generator", "GeneratorOutput", "ResidualBlock"]


class GeneratorOutput(NamedTuple):
    """What :class:`Generator` returns (a named tuple: ``image, z = generator(x)`` works).

    Attributes:
        image: The cleaned image ``[B, 3, H, W]`` in [-1, 1] (tanh).
        z: The latent ``[B, 4 w, H / 4, W / 4]``.
    """

    image: torch.Tensor
    z: torch.Tensor


def _norm(channels: int) -> nn.InstanceNorm2d:
    # Decision 17: per-image statistics in every mode, no running statistics to drift.
    return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)


class ResidualBlock(nn.Module):
    """``conv 3×3 -> IN -> ReLU -> conv 3×3 -> IN``, plus the input when ``skip`` (channels kept).

    ALN's latent block and block 3 of ANCLaF's G have no skip: their output is a plain
    convolutional map (the paper's "without skip connections").
    """

    def __init__(self, channels: int, skip: bool = True) -> None:
        super().__init__()
        self.skip = bool(skip)
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False),
            _norm(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False),
            _norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + out if self.skip else out

    def extra_repr(self) -> str:
        return f"skip={self.skip}"


class Generator(nn.Module):
    """The denoising encoder-decoder G with latent Z (see the module docstring for the layers).

    Args:
        width: Channels ``w`` of the first convolution (16 in both papers); Z has ``4 w``.
        blocks: Residual blocks at the bottleneck (1: ALN; 5: ANCLaF).
        latent_block: Z is the output of this block, counted from 1 (1: ALN; 3: ANCLaF).
        skips: For each block, whether it adds its input (``len(skips) == blocks``).

    Attributes:
        encoder: Image to Z (stem, two downsamplings, blocks ``1..latent_block``).
        decoder: Z to image (the remaining blocks, two upsamplings, output convolution).
        z_channels: ``4 w``.

    Raises:
        ValueError: on a width or block count below 1, ``latent_block`` outside
            ``1..blocks`` or ``skips`` of the wrong length.
    """

    def __init__(
        self,
        width: int = 16,
        blocks: int = 1,
        latent_block: int = 1,
        skips: Sequence[bool] = (False,),
    ) -> None:
        super().__init__()
        skips = tuple(bool(s) for s in skips)
        if width < 1 or blocks < 1:
            raise ValueError(f"Generator: width and blocks must be >= 1, got {width=}, {blocks=}")
        if not 1 <= latent_block <= blocks:
            raise ValueError(
                f"Generator: latent_block must be in 1..{blocks} (blocks), got {latent_block}"
            )
        if len(skips) != blocks:
            raise ValueError(
                f"Generator: skips needs one flag per block ({blocks}), got {len(skips)}: {skips}"
            )
        self.width, self.blocks, self.latent_block, self.skips = width, blocks, latent_block, skips
        self.z_channels = 4 * width

        def down(cin: int, cout: int, kernel: int, stride: int) -> nn.Sequential:
            conv = nn.Conv2d(
                cin, cout, kernel, stride=stride, padding=(kernel - 1) // 2, bias=False
            )
            return nn.Sequential(conv, _norm(cout), nn.ReLU(inplace=True))

        def up(cin: int, cout: int) -> nn.Sequential:
            conv = nn.ConvTranspose2d(cin, cout, kernel_size=4, stride=2, padding=1, bias=False)
            return nn.Sequential(conv, _norm(cout), nn.ReLU(inplace=True))

        w = width
        residual = [(f"block{i + 1}", ResidualBlock(4 * w, skip)) for i, skip in enumerate(skips)]
        self.encoder = nn.Sequential(
            OrderedDict(
                [
                    ("stem", down(3, w, 7, 1)),
                    ("down1", down(w, 2 * w, 4, 2)),
                    ("down2", down(2 * w, 4 * w, 4, 2)),
                    *residual[:latent_block],
                ]
            )
        )
        out = nn.Sequential(nn.Conv2d(w, 3, kernel_size=7, padding=3, bias=False), nn.Tanh())
        self.decoder = nn.Sequential(
            OrderedDict(
                [
                    *residual[latent_block:],
                    ("up1", up(4 * w, 2 * w)),
                    ("up2", up(2 * w, w)),
                    ("out", out),
                ]
            )
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] ``[B, 3, H, W]`` to Z ``[B, 4 w, H / 4, W / 4]`` (the decoder does
        not run).

        Raises:
            ValueError: not ``[B, 3, H, W]``, or H or W not a multiple of 4 (the decoder could
                not give the input size back).
        """
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"Generator: expected images [B, 3, H, W], got {tuple(x.shape)}")
        if x.shape[2] % 4 or x.shape[3] % 4:
            raise ValueError(
                f"Generator: H and W must be multiples of 4 (two stride-2 stages), got "
                f"{tuple(x.shape[2:])}"
            )
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Z ``[B, 4 w, h, w]`` to an image ``[B, 3, 4 h, 4 w]`` in [-1, 1]."""
        if z.ndim != 4 or z.shape[1] != self.z_channels:
            raise ValueError(
                f"Generator: expected Z [B, {self.z_channels}, h, w], got {tuple(z.shape)}"
            )
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> GeneratorOutput:
        """Images in [-1, 1] ``[B, 3, H, W]`` (H, W multiples of 4) to
        ``GeneratorOutput(image [B, 3, H, W], z [B, 4 w, H / 4, W / 4])``."""
        z = self.encode(x)
        return GeneratorOutput(self.decoder(z), z)
