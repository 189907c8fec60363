"""The discriminator D: a StarGAN-style patch critic with valence-arousal and quadrant heads.

``reference/latent_models.md`` §3.2 (ALN's ``DiscriminatorMZ``) and §4.2 (Seq-Att-Affect's
``DiscriminatorM``)::

    image [B, 3, H, W] in [-1, 1]
      (+ audio plane [B, 1, H, W]: tanh(Linear(audio)), when built with audio_features)
      conv 4×4 s2 (w)   -> LeakyReLU(0.01)
      conv 4×4 s2 (2w)  -> LeakyReLU(0.01)   (+ z: added, or concatenated, when built with z_mode)
      conv 4×4 s2 (4w)  -> LeakyReLU ... depth convolutions in all, the last one 2^(depth-1) w wide
      -> trunk map [B, C, h, w]
      critic:   conv 3×3 s1 -> 1, no bias   -> patches [B, 1, h, w]; critic value = their mean
      va:       adaptive average pool to k×k -> conv k×k -> 2, no bias, linear -> [B, 2]
      quadrant: adaptive average pool to k×k -> conv k×k -> 4, no bias -> logits [B, 4]

Choices (numbered as in ``latent_models.md`` §8):

- **Any input size** (decision 11). Each stride-2 convolution pads by 1 on an even side and by 2
  on an odd one, so a side ``n`` becomes ``ceil(n / 2)``: the reference's maps at 112 px (its
  hand-made pad 2 on layer 5, 7 -> 4) and 128 px, and at least 1×1 below 64 px. The heads pool
  adaptively to ``head_size`` (2) before their k×k convolution, where the reference uses a kernel
  of ``image_size / 2^6``: at 112 and 128 px the trunk map is already 2×2, the pooling is the
  identity, and the parameters are the reference's.
- **z** (decision 2): injected after the 2nd convolution, either added (the code; needs
  ``z_channels == 2 w``) or concatenated as extra channels (the paper). When D is built with
  z it requires z for every image it is given, so real and fake images are treated alike
  (defect 7.1.6: the reference passes z for fakes only, and the gradient penalty without it).
  The recipe passes z of G(x̃) for the generated image and z of G(x) for the clean real image.
- **Audio** (decision 3): the per-frame audio features (e.g. eGeMAPS LLDs of frames t-1..t+1,
  concatenated; ``audio_features`` of them) pass through Linear -> tanh and become an extra input
  channel of the image's size: a full 2-D plane (``audio_plane="full"``, the paper's "single 2D
  kernel", ``image_size²`` outputs) or the reference's row broadcast to every row
  (``"rows"``, ``image_size`` outputs). The plane is built for ``image_size``; images of another
  size are refused with a clear error (the reference hard-codes 112).
- **Quadrant head** (decision 6): an optional 4-way classifier next to (or instead of) the VA
  regression.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..heads import VAOutput
from ._layers import LEAKY_SLOPE, HalvingConv, apply_va_output, check_va_output, va_output_property

__all__ = ["AUDIO_PLANES", "Z_MODES", "Discriminator", "DiscriminatorOutput"]

#: How z enters D after its 2nd convolution.
Z_MODES: tuple[str, ...] = ("add", "concat")
#: How the audio features become an input plane.
AUDIO_PLANES: tuple[str, ...] = ("full", "rows")


class DiscriminatorOutput(NamedTuple):
    """What :class:`Discriminator` returns.

    Attributes:
        critic: ``[B]``, the mean of the patch map (the WGAN critic value, or a logit for the
            log-loss GAN).
        patches: The patch map ``[B, 1, h, w]``.
        va: ``[B, 2]`` (valence, arousal), or None when D has no VA head.
        quadrant: Quadrant logits ``[B, 4]`` (order of §2.3), or None without the head.
    """

    critic: torch.Tensor
    patches: torch.Tensor
    va: torch.Tensor | None
    quadrant: torch.Tensor | None


class Discriminator(nn.Module):
    """The StarGAN-style patch critic with auxiliary affect heads (module docstring: layers).

    Args:
        width: Channels ``w`` of the first convolution (32 in ALN's D, 16 in ANCLaF's).
        depth: Stride-2 convolutions (6).
        va: Build the valence-arousal regression head.
        quadrant: Build the 4-way quadrant classifier.
        head_size: Side ``k`` the heads pool the trunk map to before their k×k convolution (2:
            the reference's map at 112 and 128 px).
        z_channels: Channels of the z this D takes (``4 w_G``), or None for a D without z.
        z_mode: ``"add"`` (needs ``z_channels == 2 w``) or ``"concat"``; None without z.
        audio_features: Size of the per-frame audio vector, or None for a D without audio.
        audio_plane: ``"full"`` (Linear to ``image_size²``, reshaped) or ``"rows"`` (Linear to
            ``image_size``, broadcast over the rows: the reference).
        image_size: Side of the square images the audio plane is built for (only used with
            audio).
        va_output: ``"linear"`` (the reference) or ``"tanh"`` for the VA head (settable).

    Attributes:
        channels: Channels ``C`` of the trunk map.
        num_features: ``C k²``, the pooled trunk features the heads read.

    Raises:
        ValueError: on bad sizes, an unknown mode, z_mode without z_channels (or the reverse),
            or ``"add"`` with ``z_channels != 2 w``. (The VA and quadrant heads are optional;
            the critic is always there.)
    """

    def __init__(
        self,
        width: int = 32,
        depth: int = 6,
        *,
        va: bool = True,
        quadrant: bool = False,
        head_size: int = 2,
        z_channels: int | None = None,
        z_mode: Literal["add", "concat"] | None = None,
        audio_features: int | None = None,
        audio_plane: Literal["full", "rows"] = "full",
        image_size: int = 112,
        va_output: VAOutput = "linear",
    ) -> None:
        super().__init__()
        if width < 1 or depth < 2 or head_size < 1:
            raise ValueError(
                f"Discriminator: need width >= 1, depth >= 2 (z enters after the 2nd "
                f"convolution) and head_size >= 1, got {width=}, {depth=}, {head_size=}"
            )
        if (z_mode is None) != (z_channels is None):
            raise ValueError(
                "Discriminator: z_mode and z_channels go together (both None for a D without "
                f"z), got {z_mode=}, {z_channels=}"
            )
        if z_mode is not None and z_mode not in Z_MODES:
            raise ValueError(
                f"Discriminator: z_mode must be one of {list(Z_MODES)}, got {z_mode!r}"
            )
        if z_mode == "add" and z_channels != 2 * width:
            raise ValueError(
                f"Discriminator: z_mode='add' adds z to the 2nd convolution's {2 * width} "
                f"channels (2 x width {width}), but z_channels={z_channels}; use "
                f"width={z_channels // 2 if z_channels else '?'} or z_mode='concat'"
            )
        if audio_plane not in AUDIO_PLANES:
            raise ValueError(
                f"Discriminator: audio_plane must be one of {list(AUDIO_PLANES)}, "
                f"got {audio_plane!r}"
            )
        if audio_features is not None and (audio_features < 1 or image_size < 1):
            raise ValueError(
                f"Discriminator: audio_features and image_size must be >= 1, got "
                f"{audio_features=}, {image_size=}"
            )
        self.width, self.depth, self.head_size = width, depth, head_size
        self.z_channels, self.z_mode = z_channels, z_mode
        self.audio_features, self.audio_plane = audio_features, audio_plane
        self.image_size = image_size
        self.va_output = check_va_output(va_output)

        self.audio: nn.Linear | None = None
        if audio_features is not None:
            plane = image_size * image_size if audio_plane == "full" else image_size
            self.audio = nn.Linear(audio_features, plane)
        widths = [width * 2**i for i in range(depth)]
        inputs = [3 + (audio_features is not None), *widths[:-1]]
        if z_mode == "concat":
            inputs[2] += z_channels  # the 3rd convolution reads [conv2 output; z]
        self.convs = nn.ModuleList(
            HalvingConv(cin, cout) for cin, cout in zip(inputs, widths, strict=True)
        )
        self.channels = widths[-1]
        self.num_features = self.channels * head_size * head_size
        self.critic = nn.Conv2d(self.channels, 1, kernel_size=3, padding=1, bias=False)
        self.va = nn.Conv2d(self.channels, 2, kernel_size=head_size, bias=False) if va else None
        self.quadrant = (
            nn.Conv2d(self.channels, 4, kernel_size=head_size, bias=False) if quadrant else None
        )

    va_output = va_output_property()

    def audio_input(self, audio: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """The audio plane ``[B, 1, H, W]`` in [-1, 1] from features ``[B, audio_features]``.

        Raises:
            ValueError: D has no audio, the features have the wrong shape, or the images are
                not ``image_size`` square.
        """
        if self.audio is None:
            raise ValueError(
                "Discriminator: audio was given, but this D was built without audio "
                "(audio_features=None)"
            )
        if audio.ndim != 2 or audio.shape[1] != self.audio_features:
            raise ValueError(
                f"Discriminator: expected audio [B, {self.audio_features}] (audio_features), "
                f"got {tuple(audio.shape)}"
            )
        if (height, width) != (self.image_size, self.image_size):
            raise ValueError(
                f"Discriminator: the audio plane is built for {self.image_size}x"
                f"{self.image_size} images (image_size), got {height}x{width}"
            )
        values = torch.tanh(self.audio(audio))
        if self.audio_plane == "full":
            return values.view(-1, 1, height, width)
        return values.view(-1, 1, 1, width).expand(-1, 1, height, width)

    def _check_z(self, z: torch.Tensor | None, x: torch.Tensor, expected: torch.Size) -> None:
        if self.z_mode is None:
            if z is not None:
                raise ValueError(
                    "Discriminator: z was given, but this D was built without z (z_mode=None)"
                )
            return
        if z is None:
            raise ValueError(
                f"Discriminator: this D takes z (z_mode={self.z_mode!r}) for every image, real "
                "or generated: pass z of G(x) for both (decision 2)"
            )
        want = (x.shape[0], self.z_channels, *expected[-2:])
        if tuple(z.shape) != want:
            raise ValueError(
                f"Discriminator: z must be [B, {self.z_channels}, h, w] matching the 2nd "
                f"convolution's map, i.e. {want} for images {tuple(x.shape)}; got {tuple(z.shape)}"
            )

    def forward_features(
        self,
        x: torch.Tensor,
        z: torch.Tensor | None = None,
        audio: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The trunk map ``[B, C, h, w]`` of images ``[B, 3, H, W]`` (with z and audio when D
        takes them; see :meth:`forward`)."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"Discriminator: expected images [B, 3, H, W], got {tuple(x.shape)}")
        if self.audio is not None and audio is None:
            raise ValueError(
                f"Discriminator: this D takes audio [B, {self.audio_features}] for every image "
                "(audio_features); none was given"
            )
        h = x
        if audio is not None:
            h = torch.cat([x, self.audio_input(audio, x.shape[2], x.shape[3])], dim=1)
        for index, conv in enumerate(self.convs):
            h = F.leaky_relu(conv(h), LEAKY_SLOPE)
            if index == 1:
                self._check_z(z, x, h.shape)
                if self.z_mode == "add":
                    h = h + z
                elif self.z_mode == "concat":
                    h = torch.cat([h, z], dim=1)
        return h

    def pool(self, trunk: torch.Tensor) -> torch.Tensor:
        """The trunk map pooled to ``[B, C, k, k]`` (what the VA and quadrant heads read)."""
        return F.adaptive_avg_pool2d(trunk, self.head_size)

    def forward_va(self, pooled: torch.Tensor) -> torch.Tensor:
        """``[B, C, k, k]`` to ``[B, 2]`` through the VA head and ``va_output``."""
        if self.va is None:
            raise ValueError("Discriminator: this D has no VA head (built with va=False)")
        return apply_va_output(self.va(pooled).flatten(1), self.va_output)

    def forward(
        self,
        x: torch.Tensor,
        z: torch.Tensor | None = None,
        audio: torch.Tensor | None = None,
    ) -> DiscriminatorOutput:
        """Score images and read their affect.

        Args:
            x: Images in [-1, 1] ``[B, 3, H, W]`` (any size; ``image_size`` square with audio).
            z: ``[B, z_channels, h2, w2]`` (the side after two halvings: ``H / 4`` for H a
                multiple of 4) when D was built with z; must be None otherwise.
            audio: ``[B, audio_features]`` when D was built with audio; must be None otherwise.

        Returns:
            :class:`DiscriminatorOutput`.

        Raises:
            ValueError: a missing, unexpected or badly shaped z or audio, naming the mismatch.
        """
        trunk = self.forward_features(x, z, audio)
        patches = self.critic(trunk)
        pooled = self.pool(trunk) if self.va is not None or self.quadrant is not None else None
        va = self.forward_va(pooled) if self.va is not None else None
        quadrant = self.quadrant(pooled).flatten(1) if self.quadrant is not None else None
        return DiscriminatorOutput(patches.mean(dim=(1, 2, 3)), patches, va, quadrant)
