"""Layers shared by the latent-adversarial parts: the halving convolution, argument checks and
the audio-image input of the models that read it (DiLaST on audio, AViGaS-Net)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..heads import VA_OUTPUTS, VAOutput
from ..spec import InputSpec

__all__ = [
    "LEAKY_SLOPE",
    "MEL_IMAGE",
    "MODALITIES",
    "AudioImageInput",
    "HalvingConv",
    "apply_va_output",
    "audio_images",
    "check_audio_image_size",
    "check_audio_images",
    "check_va_output",
    "halved",
    "va_output_of",
    "va_output_property",
]

#: The stored audio feature the audio-image models read (``holistic.data.audio``:
#: ``AudioSettings.mel_image_size``, one channel ``[size, size]`` per frame).
MEL_IMAGE = "mel_image"
#: What a single-modality latent model's generator reads: the face crops or the audio images.
MODALITIES: tuple[str, ...] = ("video", "audio")
#: The value of silence in a stored audio image (dB clipped at the floor, mapped to -1).
SILENCE = -1.0

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


def check_audio_images(
    audio: torch.Tensor | None,
    audio_mask: torch.Tensor | None,
    lead: tuple[int, ...],
    size: int,
    who: str,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Check stored audio images ``[*lead, size, size]`` and their mask ``[*lead]``.

    Returns:
        ``(audio, present)``: the images as given (None stays None) and the mask as bool (None
        when neither is given; all True for images without a mask).

    Raises:
        ValueError: other shapes (naming the size the model was trained on), or a mask without
            images.
    """
    if audio is None:
        if audio_mask is not None and bool(audio_mask.any()):
            raise ValueError(
                f"{who}: audio_mask says some frames have audio, but no audio was given"
            )
        return None, None
    want = (*lead, size, size)
    if tuple(audio.shape) != want:
        raise ValueError(
            f"{who}: expected audio images ({MEL_IMAGE}) {list(want)}, got {tuple(audio.shape)}; "
            f"the model reads {size}x{size} images (the federation's AudioSettings."
            f"mel_image_size)"
        )
    if audio_mask is None:
        return audio, torch.ones(lead, dtype=torch.bool, device=audio.device)
    if tuple(audio_mask.shape) != lead:
        raise ValueError(
            f"{who}: expected audio_mask {list(lead)} (True where a frame has audio), got "
            f"{tuple(audio_mask.shape)}"
        )
    return audio, audio_mask.to(device=audio.device, dtype=torch.bool)


def audio_images(
    audio: torch.Tensor | None,
    present: torch.Tensor | None,
    lead: tuple[int, ...],
    size: int,
    like: torch.Tensor,
) -> torch.Tensor:
    """The images G reads from stored audio images: ``[*lead, size, size]`` replicated to
    ``[*lead, 3, size, size]`` (the paper's 3 channels), in ``like``'s dtype and device. A frame
    without audio (``present`` False, or no ``audio`` at all) is silence: -1 everywhere, what
    the image of a time outside the recording holds."""
    if audio is None:
        return like.new_full((*lead, 3, size, size), SILENCE)
    audio = audio.to(device=like.device, dtype=like.dtype)
    if present is not None:
        audio = torch.where(present.to(like.device)[..., None, None], audio, SILENCE)
    return audio.unsqueeze(-3).expand(*lead, 3, size, size)


class AudioImageInput:
    """The audio-image side of a latent model's contract (mixed into the ``nn.Module``).

    ``audio_image_size`` is the side of the stored audio images the model reads (None: it reads
    none); ``audio_settings`` how they were made (``AudioSettings.to_json()`` of the training
    federation; None until a recipe sets it). Both live in ``input_spec.audio`` as
    ``{"mel_image": {"size": s, "settings": {...}}}``, so evaluation knows what to feed and can
    refuse features made otherwise; ``save_model`` records the settings.
    """

    input_spec: InputSpec
    audio_image_size: int | None = None
    _audio_settings: dict[str, Any] | None = None

    @property
    def audio_settings(self) -> dict[str, Any] | None:
        """How the audio images it was trained on were made (None: not set)."""
        return self._audio_settings

    @audio_settings.setter
    def audio_settings(self, settings: Mapping[str, Any] | None) -> None:
        who, size = type(self).__name__, self.audio_image_size
        if settings is not None:
            if size is None:
                raise ValueError(
                    f"{who}: audio_settings is for a model that reads audio images "
                    "(modality='audio', or AViGaS-Net)"
                )
            made = settings.get("mel_image_size", 0)
            if made != size:
                raise ValueError(
                    f"{who}: these audio settings store audio images of side {made} "
                    f"(mel_image_size; 0: none), the model reads {size}: build it with "
                    f"audio_image_size={made}, or convert the audio with --audio-setting "
                    f"mel_image_size={size}"
                )
        self._audio_settings = None if settings is None else dict(settings)
        audio: dict[str, Any] = {}
        if size is not None:
            entry: dict[str, Any] = {"size": size}
            if self._audio_settings is not None:
                entry["settings"] = dict(self._audio_settings)
            audio = {MEL_IMAGE: entry}
        self.input_spec = replace(self.input_spec, audio=audio)


def check_audio_image_size(size: int, who: str) -> int:
    """An audio image side G can read (a multiple of 4, from 4 to 128)."""
    if isinstance(size, bool) or not isinstance(size, int) or size % 4 or not 4 <= size <= 128:
        raise ValueError(
            f"{who}: audio_image_size must be a multiple of 4 from 4 to 128 (G's two stride-2 "
            f"stages; the paper's image is 128), got {size!r}"
        )
    return size
