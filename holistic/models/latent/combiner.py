"""The combiner C of ANCLaF (VISAPP 2021, Eq. 3): valence-arousal from the latent Z and quadrant Q.

``ANCLaF(I) = FC(enc([Z; Q]))``::

    Z [B, 64, h, w] (G's latent)  ;  Q: 4 one-hot planes [B, 4, h, w]
      -> concatenated [B, 64 + 4, h, w]
      -> depth x (conv 4×4 s2 -> LeakyReLU(0.01)), widths d, 2d, 4d, ..., no normalisation
      -> adaptive average pooling to 1×1 -> f [B, 2^(depth-1) d]
      -> Linear -> 2 (valence, arousal)

Choices (``reference/latent_models.md`` §8):

- **Q as one-hot planes** (decision 6): the stage-2 reference code stores Q as one constant plane
  holding the integer 0-3 (defect 7.2.3), which imposes an order on the quadrants; here Q is four
  planes, one per quadrant (one-hot, or class probabilities if a caller wants soft Q).
  ``quadrants=False`` gives the released stage-3 model, which sees Z only (defect 7.2.5).
- **Any latent size** (decision 11): the reference's five convolutions need a 32×32 latent
  (128 px faces) and collapse a 28×28 one (defect 7.2.9). Each stride-2 convolution here maps a
  side ``n`` to ``ceil(n / 2)``, and adaptive pooling to 1×1 ends the stack, so 112 px faces
  (28×28) and 32 px faces (8×8) work; at 32×32 the pooling is the identity and the layers are
  the reference's.
- The quadrant of a VA value is :func:`holistic.schema.va_quadrant` (§2.3; a value on the
  midpoint counts as high), the one the losses train against.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..heads import VAOutput
from ._layers import LEAKY_SLOPE, HalvingConv, apply_va_output, va_output_property

__all__ = [
    "NUM_QUADRANTS",
    "Combiner",
    "CombinerOutput",
    "LatentFeatures",
    "quadrant_planes",
]

#: Quadrants of the valence-arousal plane (§2.3).
NUM_QUADRANTS = 4


def quadrant_planes(q: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Q as four constant planes ``[B, 4, height, width]`` (decision 6).

    Args:
        q: Quadrant indices, long ``[B]`` in 0..3 (made one-hot), or ``[B, 4]`` floats (one-hot
            or probabilities, used as they are).
        height: Plane height (the latent's).
        width: Plane width.

    Raises:
        ValueError: another shape, or an index outside 0..3.
    """
    if q.ndim == 1 and not q.is_floating_point():
        if q.numel() and (int(q.min()) < 0 or int(q.max()) >= NUM_QUADRANTS):
            raise ValueError(
                f"quadrant indices must be in 0..{NUM_QUADRANTS - 1}, got {sorted(set(q.tolist()))}"
            )
        q = F.one_hot(q.long(), NUM_QUADRANTS).float()
    elif q.ndim != 2 or q.shape[1] != NUM_QUADRANTS or not q.is_floating_point():
        raise ValueError(
            f"q must be quadrant indices (long [B]) or one-hot/probabilities (float "
            f"[B, {NUM_QUADRANTS}]), got {q.dtype} {tuple(q.shape)}"
        )
    return q[:, :, None, None].expand(-1, -1, height, width)


class LatentFeatures(nn.Module):
    """C's convolution stack: ``[B, in_channels, h, w]`` to ``f [B, num_features]``.

    ``depth x (HalvingConv (with bias) -> LeakyReLU(0.01))`` with widths ``width * 2^i``, then
    adaptive average pooling to 1×1. The sequence combiner has one of the same shape, so its
    weights can start from a trained C's (``sequence.features.load_state_dict(
    combiner.features.state_dict())``).
    """

    def __init__(self, in_channels: int, width: int = 64, depth: int = 5) -> None:
        super().__init__()
        if in_channels < 1 or width < 1 or depth < 1:
            raise ValueError(
                f"LatentFeatures: sizes must be >= 1, got {in_channels=}, {width=}, {depth=}"
            )
        widths = [width * 2**i for i in range(depth)]
        self.in_channels = in_channels
        self.convs = nn.ModuleList(
            HalvingConv(cin, cout)
            for cin, cout in zip([in_channels, *widths[:-1]], widths, strict=True)
        )
        self.num_features = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"LatentFeatures: expected [B, {self.in_channels}, h, w] (Z and the Q planes), "
                f"got {tuple(x.shape)}"
            )
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LEAKY_SLOPE)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


class CombinerOutput(NamedTuple):
    """What :class:`Combiner` returns.

    Attributes:
        va: ``[B, 2]`` (valence, arousal).
        features: ``f [B, F]``, the pooled convolution features (what the sequence model reads).
    """

    va: torch.Tensor
    features: torch.Tensor


def latent_input(
    z: torch.Tensor, q: torch.Tensor | None, z_channels: int, quadrants: bool
) -> torch.Tensor:
    """``[Z; Q planes]`` (or Z alone), with the checks both combiners share."""
    if z.ndim != 4 or z.shape[1] != z_channels:
        raise ValueError(f"expected Z [B, {z_channels}, h, w], got {tuple(z.shape)}")
    if not quadrants:
        if q is not None:
            raise ValueError("q was given, but this combiner was built without Q (quadrants=False)")
        return z
    if q is None:
        raise ValueError(
            "this combiner reads [Z; Q]: pass q (quadrant indices [B] or one-hot [B, 4])"
        )
    if q.shape[0] != z.shape[0]:
        raise ValueError(f"q has {q.shape[0]} rows for {z.shape[0]} latents")
    planes = quadrant_planes(q, z.shape[2], z.shape[3]).to(z.dtype)
    return torch.cat([z, planes], dim=1)


class Combiner(nn.Module):
    """ANCLaF's frame-wise combiner C: ``[Z; Q]`` to valence-arousal (module docstring: layers).

    Args:
        z_channels: Channels of Z (64 for G of width 16).
        quadrants: Read Q as four one-hot planes next to Z (the paper); False: Z only (the
            released stage-3 code).
        width: Channels ``d`` of the first convolution (64 in the reference).
        depth: Convolutions (5).
        va_output: ``"linear"`` (the reference) or ``"tanh"`` (settable).

    Attributes:
        features: The :class:`LatentFeatures` stack.
        head: ``Linear(num_features, 2)``.
        num_features: ``2^(depth-1) d`` (1,024 for d = 64).
    """

    def __init__(
        self,
        z_channels: int = 64,
        *,
        quadrants: bool = True,
        width: int = 64,
        depth: int = 5,
        va_output: VAOutput = "linear",
    ) -> None:
        super().__init__()
        self.z_channels, self.quadrants = z_channels, bool(quadrants)
        self.features = LatentFeatures(z_channels + NUM_QUADRANTS * self.quadrants, width, depth)
        self.num_features = self.features.num_features
        self.head = nn.Linear(self.num_features, 2)
        self.va_output = va_output

    va_output = va_output_property()

    def forward_features(self, z: torch.Tensor, q: torch.Tensor | None = None) -> torch.Tensor:
        """``f [B, F]`` from Z ``[B, z_channels, h, w]`` and Q (see :meth:`forward`)."""
        return self.features(latent_input(z, q, self.z_channels, self.quadrants))

    def forward_va(self, features: torch.Tensor) -> torch.Tensor:
        """``f [B, F]`` to ``[B, 2]`` (head and ``va_output``)."""
        return apply_va_output(self.head(features), self.va_output)

    def forward(self, z: torch.Tensor, q: torch.Tensor | None = None) -> CombinerOutput:
        """Valence-arousal of latents.

        Args:
            z: ``[B, z_channels, h, w]``, any ``h, w >= 1``.
            q: Quadrants: long ``[B]`` in 0..3 or float ``[B, 4]``; required with
                ``quadrants=True``, refused without.

        Returns:
            ``CombinerOutput(va [B, 2], features [B, F])``.
        """
        features = self.forward_features(z, q)
        return CombinerOutput(self.forward_va(features), features)
