"""The registered latent-adversarial models: AEG-CD(-SZ), ANCLaF and ANCLaF-S/-SA.

Each composite holds every part its paper trains (G, D and, for ANCLaF, the combiner), so one
checkpoint (``save_model``/``load_model``) rebuilds the whole model, and implements the model
contract (DESIGN.md decision 11): ``input_spec``, ``tasks = {"va": ("valence", "arousal")}``,
``forward(x)`` = what evaluation calls, split as ``forward_heads(forward_features(x))``.

- :class:`AEGCD` (FG 2020): ``va = D(G(x), z, audio).va``, with z of G(x) when D takes z and
  the frame's audio features when it takes audio (AEG-CD-SZ). An image model.
- :class:`ANCLaF` (VISAPP 2021, Eq. 3): ``va = C([Z; Q])`` with ``image, Z = G(x)`` and Q the
  quadrant D reads off ``G(x)`` (as the reference evaluates: D on the generated image), as
  four one-hot planes. An image model.
- :class:`ANCLaFSequence` (ANCLaF-S-n / -SA-n): the same Z and Q for every frame of a clip, then
  the sequence combiner: clips ``[B, T, 3, H, W]`` to ``[B, T, 2]``. A clip model.

**DiLaST** (TAFFC 2022) is ANCLaF on one modality: ``modality="video"`` reads the face crops,
``modality="audio"`` the stored audio image of each frame (``mel_image`` ``[B, s, s]``,
``holistic.data.audio.mel_image_frames``), replicated to 3 channels so G, D and C are the image
networks; the -SA model (DiLaST-SA: Vi-DeS, Au-DeS) is :class:`ANCLaFSequence` on it. What
differs in the paper (λ_D = λ_G = 0.25, λ_P = 0.5, degraded inputs of both modalities) is the
recipe's. The audio-visual models (AVi-CaS, AVi-GaS) are in ``audiovisual.py``.

The recipe trains the parts by calling them directly (``model.generator(x)``,
``model.discriminator(...)``, ...), with its own optimisers per part.

**Parameters the prediction does not train.** Some parts serve only the training (D's critic,
the quadrant head of AEG-CD's D, ANCLaF's decoder of G), and ANCLaF's Q is a hard decision
(arg max), so no gradient reaches D or G's decoder from the prediction; with ``score="linear"``
the attention bias cannot change a softmax. ``model.detached_parameters`` lists these name
prefixes, so a contract test can tell them from dead parameters; every other parameter gets a
gradient from ``forward``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

import torch
from torch import nn

from ...schema import va_quadrant
from .._registry import register_model
from ..heads import VAOutput
from ..spec import InputSpec, model_tasks
from ._layers import (
    MODALITIES,
    AudioImageInput,
    audio_images,
    check_audio_image_size,
    check_audio_images,
    va_output_of,
)
from .combiner import Combiner
from .discriminator import Discriminator
from .generator import Generator
from .sequence import SequenceCombiner, SequenceOutput, SequencePredictor, SequenceState

__all__ = [
    "AEGCD",
    "ANCLaF",
    "ANCLaFSequence",
    "QUADRANT_SOURCES",
    "build_aegcd",
    "build_anclaf",
    "build_anclaf_sequence",
]

#: Where ANCLaF's Q comes from: D's 4-way classifier (the paper) or D's VA regression,
#: thresholded at the midpoint (the reference code).
QUADRANT_SOURCES: tuple[str, ...] = ("classifier", "va")
#: The audio features an AEG-CD-SZ takes, as recorded in its input spec.
AUDIO_NAME = "egemaps"
#: Frames of audio context per image: t-1, t, t+1 (the paper's §III-D), concatenated.
AUDIO_FRAMES = 3


def _check_images(x: torch.Tensor, who: str) -> None:
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"{who}: expected images [B, 3, H, W], got shape {tuple(x.shape)}")


class AEGCD(nn.Module):
    """AEG-CD and AEG-CD-SZ: the denoising generator and the conditional discriminator.

    Prediction: ``image, z = G(x)``; ``va = D(image, z, audio).va`` (z only when D takes z,
    audio only when it takes audio), as the reference validates (G on the input, D on G's
    output). With ``denoise=False`` it is the "Disc" baseline: ``va = D(x).va``, G unused.

    Args:
        generator: The :class:`Generator`.
        discriminator: A :class:`Discriminator` with a VA head (and ``z_channels`` equal to G's
            when it takes z).
        image_size: Side of the training crops (the input spec's; any multiple of 4 runs
            without audio).
        audio_fill: The raw per-frame audio vector that stands for a frame without audio (the
            training mean, :func:`~holistic.training.latent.fold_audio_normalisation` sets it),
            ``audio_features / 3`` values; None until the model is trained.
        audio_settings: How the training features were made (``AudioSettings.to_json()``);
            None until the model is trained.

    Attributes:
        input_spec: Images of ``image_size``; with audio, ``audio={"egemaps": {"features": A,
            "frames": 3, "fill": [...]}}`` (``fill`` once set).
        num_features: D's pooled trunk features (``C k²``).
        detached_parameters: Name prefixes of the parameters the prediction does not train.

    Raises:
        ValueError: D has no VA head, or its z does not fit G's.
    """

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator,
        *,
        image_size: int,
        denoise: bool = True,
        audio_fill: Sequence[float] | None = None,
        audio_settings: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not denoise and (discriminator.z_mode is not None or discriminator.audio is not None):
            raise ValueError("AEGCD: the D-only baseline (denoise=False) takes images alone")
        if discriminator.va is None:
            raise ValueError("AEGCD: the discriminator needs a VA head (built with va=True)")
        if discriminator.z_mode is not None and discriminator.z_channels != generator.z_channels:
            raise ValueError(
                f"AEGCD: D takes z of {discriminator.z_channels} channels, G's has "
                f"{generator.z_channels}"
            )
        self.generator, self.discriminator, self.denoise = generator, discriminator, denoise
        self.input_spec = InputSpec(kind="image", image_size=image_size)
        self._audio_settings: dict[str, Any] | None = None
        self.audio_fill = audio_fill
        self.audio_settings = audio_settings
        self.num_features = discriminator.num_features

    @property
    def audio_fill(self) -> tuple[float, ...] | None:
        """The raw per-frame audio vector fed for a frame without audio (None: not set)."""
        return self._audio_fill

    @audio_fill.setter
    def audio_fill(self, fill: Sequence[float] | None) -> None:
        features = self.discriminator.audio_features
        if fill is not None:
            if features is None:
                raise ValueError("AEGCD: audio_fill is for a model with audio (AEG-CD-SZ)")
            if len(fill) * AUDIO_FRAMES != features:
                raise ValueError(
                    f"AEGCD: audio_fill has {len(fill)} values; the model takes {features} "
                    f"audio features over {AUDIO_FRAMES} frames, so {features / AUDIO_FRAMES:g} "
                    "per frame"
                )
            fill = tuple(float(value) for value in fill)
        self._audio_fill = fill
        self._update_audio_spec()

    @property
    def audio_settings(self) -> dict[str, Any] | None:
        """How the audio features it was trained on were made (``AudioSettings.to_json()``, the
        training federation's manifest says; None: not set). Evaluation refuses features made
        otherwise."""
        return self._audio_settings

    @audio_settings.setter
    def audio_settings(self, settings: Mapping[str, Any] | None) -> None:
        if settings is not None and self.discriminator.audio_features is None:
            raise ValueError("AEGCD: audio_settings is for a model with audio (AEG-CD-SZ)")
        self._audio_settings = None if settings is None else dict(settings)
        self._update_audio_spec()

    def _update_audio_spec(self) -> None:
        features = self.discriminator.audio_features
        audio: dict[str, Any] = {}
        if features is not None:
            entry: dict[str, Any] = {"features": features, "frames": AUDIO_FRAMES}
            if self._audio_fill is not None:
                entry["fill"] = list(self._audio_fill)
            if getattr(self, "_audio_settings", None) is not None:
                entry["settings"] = dict(self._audio_settings)
            audio = {AUDIO_NAME: entry}
        self.input_spec = replace(self.input_spec, audio=audio)

    @property
    def detached_parameters(self) -> tuple[str, ...]:
        """Name prefixes of the parameters ``forward`` sends no gradient to: D's critic (and its
        quadrant head), which serve training only."""
        detached = ["discriminator.critic"]
        if self.discriminator.quadrant is not None:
            detached.append("discriminator.quadrant")
        if not self.denoise:
            detached.append("generator")
        return tuple(detached)

    @property
    def tasks(self) -> dict[str, tuple]:
        """Valence and arousal."""
        return model_tasks()

    va_output = va_output_of("discriminator")

    def forward_features(self, x: torch.Tensor, audio: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [-1, 1] ``[B, 3, H, W]`` (and audio ``[B, A]`` for AEG-CD-SZ) to D's pooled
        trunk features ``[B, num_features]``."""
        _check_images(x, "AEGCD")
        image, z = self.generator(x) if self.denoise else (x, None)
        d = self.discriminator
        trunk = d.forward_features(image, z if d.z_mode is not None else None, audio)
        return d.pool(trunk).flatten(1)

    def forward_heads(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """``[B, num_features]`` to ``{"va": [B, 2]}`` (D's VA head)."""
        d = self.discriminator
        pooled = features.unflatten(1, (d.channels, d.head_size, d.head_size))
        return {"va": d.forward_va(pooled)}

    def forward(
        self, x: torch.Tensor, audio: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Images (and audio) to ``{"va": [B, 2]}``.

        An AEG-CD-SZ given no audio takes every frame as one without audio, i.e. fed
        :attr:`audio_fill` (an error while it has none)."""
        if audio is None and self.discriminator.audio is not None and self.audio_fill is not None:
            fill = torch.tensor(self.audio_fill * AUDIO_FRAMES, device=x.device, dtype=x.dtype)
            audio = fill.expand(x.shape[0], -1)
        return self.forward_heads(self.forward_features(x, audio))


class _Latents(AudioImageInput, nn.Module):
    """Z and Q of frames, shared by the ANCLaF composites (and AViGaS-Net's modalities); what
    G reads is the face crops or, for ``modality="audio"``, the audio images."""

    generator: Generator
    discriminator: Discriminator
    quadrant_from: str
    midpoint: float
    modality: str = "video"

    def _set_modality(self, modality: str, audio_image_size: int | None) -> None:
        who = type(self).__name__
        if modality not in MODALITIES:
            raise ValueError(f"{who}: modality must be one of {list(MODALITIES)}, got {modality!r}")
        if modality == "audio" and audio_image_size is None:
            raise ValueError(
                f"{who}: an audio model needs audio_image_size, the side of the stored audio "
                "images it reads (the federation's AudioSettings.mel_image_size)"
            )
        if modality == "video" and audio_image_size is not None:
            raise ValueError(f"{who}: audio_image_size is for modality='audio'")
        self.modality = modality
        if audio_image_size is not None:
            self.audio_image_size = check_audio_image_size(audio_image_size, who)

    def modality_images(
        self,
        x: torch.Tensor,
        audio: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """What G reads for faces ``x [*lead, 3, H, W]``: ``x`` itself (``"video"``), or the
        audio images ``audio [*lead, s, s]`` as 3 channels (``"audio"``; frames without audio,
        ``audio_mask`` False or no ``audio`` at all, are silence: -1).

        Raises:
            ValueError: audio given to a video model, or audio of the wrong shape.
        """
        who, lead = type(self).__name__, tuple(x.shape[:-3])
        if self.modality == "video":
            if audio is not None or audio_mask is not None:
                raise ValueError(
                    f"{who}: this model reads the faces only (modality='video'); it takes no audio"
                )
            return x
        size = self.audio_image_size
        audio, present = check_audio_images(audio, audio_mask, lead, size, who)
        return audio_images(audio, present, lead, size, x)

    def latents(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``[N, 3, H, W]`` to ``(Z [N, 4 w, H / 4, W / 4], Q [N] long)``: stage 2's
        extraction. Q is D's arg max quadrant (or its VA's quadrant) on G(x)."""
        z = self.generator.encode(x)
        # Q is a hard decision: no gradient could pass it, so G's decoder and D run without a
        # graph (they train through the recipe's own losses).
        with torch.no_grad():
            out = self.discriminator(self.generator.decode(z))
        if self.quadrant_from == "classifier":
            q = out.quadrant.argmax(dim=1)
        else:
            q = va_quadrant(out.va, self.midpoint)
        return z, q


def _anclaf_parts(
    generator: Generator, discriminator: Discriminator, quadrant_from: str, z_channels: int
) -> None:
    if quadrant_from not in QUADRANT_SOURCES:
        raise ValueError(
            f"quadrant_from must be one of {list(QUADRANT_SOURCES)}, got {quadrant_from!r}"
        )
    if quadrant_from == "classifier" and discriminator.quadrant is None:
        raise ValueError("quadrant_from='classifier' needs a D with a quadrant head")
    if quadrant_from == "va" and discriminator.va is None:
        raise ValueError("quadrant_from='va' needs a D with a VA head")
    if discriminator.z_mode is not None or discriminator.audio is not None:
        raise ValueError("ANCLaF's D takes images only (no z, no audio)")
    if z_channels != generator.z_channels:
        raise ValueError(
            f"the combiner reads Z of {z_channels} channels, G's has {generator.z_channels}"
        )


class ANCLaF(_Latents):
    """ANCLaF, the frame model: ``va = C([Z; Q])`` (Eq. 3).

    Args:
        generator: G (Z after its ``latent_block``).
        discriminator: D on images only, with a quadrant head (``quadrant_from="classifier"``)
            or a VA head (``"va"``).
        combiner: C.
        quadrant_from: ``"classifier"`` (the paper's quadrant estimator) or ``"va"`` (the code:
            D regresses VA, Q is its quadrant).
        midpoint: The VA scale midpoint for ``"va"`` (0 for [-1, 1]).
        image_size: Side of the training crops (the input spec's).
        modality: ``"video"`` (G reads the faces) or ``"audio"`` (G reads the audio images:
            DiLaST on audio, Au-De).
        audio_image_size: Side ``s`` of the stored audio images an audio model reads (its
            input spec's ``audio.mel_image.size``); None for video.
        audio_settings: How its training audio was made (``AudioSettings.to_json()``, with
            ``mel_image_size == s``); None until a recipe sets it.
    """

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator,
        combiner: Combiner,
        *,
        quadrant_from: Literal["classifier", "va"] = "classifier",
        midpoint: float = 0.0,
        image_size: int = 128,
        modality: Literal["video", "audio"] = "video",
        audio_image_size: int | None = None,
        audio_settings: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        _anclaf_parts(generator, discriminator, quadrant_from, combiner.z_channels)
        self.generator, self.discriminator, self.combiner = generator, discriminator, combiner
        self.quadrant_from, self.midpoint = quadrant_from, midpoint
        self.input_spec = InputSpec(kind="image", image_size=image_size)
        self._set_modality(modality, audio_image_size)
        self.audio_settings = audio_settings
        self.num_features = combiner.num_features

    @property
    def detached_parameters(self) -> tuple[str, ...]:
        """Name prefixes of the parameters ``forward`` sends no gradient to: G's decoder and D,
        which only decide Q (a hard decision)."""
        return ("generator.decoder", "discriminator")

    @property
    def tasks(self) -> dict[str, tuple]:
        """Valence and arousal."""
        return model_tasks()

    va_output = va_output_of("combiner")

    def forward_features(
        self,
        x: torch.Tensor,
        audio: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Images in [-1, 1] ``[B, 3, H, W]`` (an audio model: and the audio images ``[B, s, s]``
        with their mask ``[B]``, see :meth:`modality_images`) to C's features
        ``f [B, num_features]``."""
        _check_images(x, "ANCLaF")
        z, q = self.latents(self.modality_images(x, audio, audio_mask))
        return self.combiner.forward_features(z, q if self.combiner.quadrants else None)

    def forward_heads(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """``f [B, F]`` to ``{"va": [B, 2]}``."""
        return {"va": self.combiner.forward_va(features)}

    def forward(
        self,
        x: torch.Tensor,
        audio: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Images (and, for an audio model, audio images) to ``{"va": [B, 2]}``."""
        return self.forward_heads(self.forward_features(x, audio, audio_mask))


class SequenceForwards:
    """The forwards of a sequence model built on :meth:`forward_sequence` (ANCLaF-S/-SA,
    DiLaST-SA, AViGaS-Net): ``forward_sequence(x, state, audio, audio_mask)`` returns the
    sequence part's output (``.va``, ``.features``, ``.state``, ...) and ``self.sequence`` is
    its :class:`~holistic.models.latent.sequence.SequencePredictor`."""

    def forward_features(
        self,
        x: torch.Tensor,
        audio: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Clips in [-1, 1] ``[B, T, 3, H, W]`` (and audio images ``[B, T, s, s]`` with their
        mask, for a model that hears) to the LSTM outputs ``[B, T, hidden]`` (each clip is one
        window: the state starts from zeros)."""
        return self.forward_sequence(x, None, audio, audio_mask).features

    def forward_stream(
        self,
        x: torch.Tensor,
        state: SequenceState | None = None,
        audio: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], SequenceState]:
        """The next frames of a stream, continuing from ``state`` (None: its start), to
        ``({"va": [B, T, 2]}, state)`` (see :meth:`forward_sequence`).

        Raises:
            ValueError: attention without a rolling memory (``memory_size=None``, the
                reference's -SA): it attends within each call only, so a stream cut into other
                windows would give other predictions.
        """
        check_streamable(self.sequence, type(self).__name__, self.input_spec.clip_length)
        out = self.forward_sequence(x, state, audio, audio_mask)
        return {"va": out.va}, out.state

    def forward_heads(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """``[B, T, hidden]`` to ``{"va": [B, T, 2]}``."""
        return {"va": self.sequence.forward_va(features)}

    def forward(
        self,
        x: torch.Tensor,
        audio: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Clips (and, for a model that hears, audio images) to ``{"va": [B, T, 2]}``; a model
        with gates gives them in :meth:`forward_sequence`'s output."""
        return self.forward_heads(self.forward_features(x, audio, audio_mask))


class ANCLaFSequence(SequenceForwards, _Latents):
    """ANCLaF-S-n and ANCLaF-SA-n: Z and Q per frame, then the sequence combiner.

    Args:
        generator: G.
        discriminator: D (as :class:`ANCLaF`'s).
        sequence: The :class:`SequenceCombiner` (``attention`` False: -S; True: -SA).
        quadrant_from: As :class:`ANCLaF`'s.
        midpoint: As :class:`ANCLaF`'s.
        image_size: Side of the training crops.
        clip_length: Frames ``n`` of a training window (the input spec's; any ``T`` runs).
        modality: As :class:`ANCLaF`'s (``"audio"``: DiLaST-SA on audio, Au-DeS).
        audio_image_size: As :class:`ANCLaF`'s.
        audio_settings: As :class:`ANCLaF`'s.
    """

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator,
        sequence: SequenceCombiner,
        *,
        quadrant_from: Literal["classifier", "va"] = "classifier",
        midpoint: float = 0.0,
        image_size: int = 128,
        clip_length: int = 8,
        modality: Literal["video", "audio"] = "video",
        audio_image_size: int | None = None,
        audio_settings: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        _anclaf_parts(generator, discriminator, quadrant_from, sequence.z_channels)
        self.generator, self.discriminator, self.sequence = generator, discriminator, sequence
        self.quadrant_from, self.midpoint = quadrant_from, midpoint
        self.input_spec = InputSpec(kind="clip", image_size=image_size, clip_length=clip_length)
        self._set_modality(modality, audio_image_size)
        self.audio_settings = audio_settings
        self.num_features = sequence.num_features

    @property
    def detached_parameters(self) -> tuple[str, ...]:
        """Name prefixes of the parameters ``forward`` sends no gradient to: G's decoder and D
        (they only decide Q), the score layer without attention, and the bias of the linear
        score (a softmax ignores it)."""
        return ("generator.decoder", "discriminator", *sequence_detached(self.sequence))

    @property
    def tasks(self) -> dict[str, tuple]:
        """Valence and arousal for every frame."""
        return model_tasks()

    va_output = va_output_of("sequence")

    def clip_latents(
        self,
        x: torch.Tensor,
        audio: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Clips ``[B, T, 3, H, W]`` (an audio model: and the audio images ``[B, T, s, s]``
        with their mask ``[B, T]``) to ``(Z [B, T, C, h, w], Q [B, T] or None)``: what the
        sequence stages of a recipe train the LSTM on."""
        check_clips(x, "ANCLaFSequence")
        batch, frames = x.shape[:2]
        images = self.modality_images(x, audio, audio_mask)
        z, q = self.latents(images.flatten(0, 1))
        q = q.unflatten(0, (batch, frames)) if self.sequence.quadrants else None
        return z.unflatten(0, (batch, frames)), q

    def forward_sequence(
        self,
        x: torch.Tensor,
        state: SequenceState | None = None,
        audio: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
    ) -> SequenceOutput:
        """Clips (and audio) to the sequence combiner's full output (VA, LSTM outputs,
        attention weights, state); pass ``state`` back in to continue a stream window by
        window."""
        z, q = self.clip_latents(x, audio, audio_mask)
        return self.sequence(z, q, state)


def check_clips(x: torch.Tensor, who: str) -> None:
    """Refuse anything but clips ``[B, T, 3, H, W]`` with ``T >= 1``."""
    if x.ndim != 5 or x.shape[2] != 3 or x.shape[1] < 1:
        raise ValueError(
            f"{who}: expected clips [B, T, 3, H, W] with T >= 1, got shape {tuple(x.shape)}"
        )


def check_streamable(sequence: SequencePredictor, who: str, clip_length: int | None) -> None:
    """Refuse a stream to attention without a rolling memory (``memory_size=None``, the
    reference's -SA): it attends within each call only, so a stream cut into other windows
    would give other predictions."""
    if sequence.attention and sequence.memory_size is None:
        raise ValueError(
            f"{who}: this -SA model attends within each window only (memory_size=None), so it "
            f"has no stream form; evaluate it on windows of {clip_length} frames (holistic "
            "evaluate), or build it with memory_size=n-1 for attention over the last n states "
            "of a stream"
        )


def sequence_detached(sequence: SequencePredictor, prefix: str = "sequence") -> tuple[str, ...]:
    """The sequence part's :attr:`~SequencePredictor.detached_parameters` under ``prefix``."""
    return tuple(f"{prefix}.{name}" for name in sequence.detached_parameters)


# ---------------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------------


def _no_weight_sources(pretrained: bool, checkpoint_path: Any) -> None:
    if pretrained or checkpoint_path is not None:
        raise ValueError(
            "the latent models have no pretrained weights: build with pretrained=False and "
            "load a trained model with holistic.models.load_model"
        )


def _generator(width: int, blocks: int, latent_block: int, skips: Sequence[bool]) -> Generator:
    return Generator(width, blocks, latent_block, tuple(skips))


def build_aegcd(
    *,
    image_size: int = 112,
    generator_width: int = 16,
    generator_blocks: int = 1,
    latent_block: int = 1,
    skips: Sequence[bool] = (False,),
    discriminator_width: int = 32,
    discriminator_depth: int = 6,
    z_mode: Literal["add", "concat"] | None = None,
    audio_features: int | None = None,
    audio_plane: Literal["full", "rows"] = "full",
    quadrant: bool = False,
    va_output: VAOutput = "tanh",
    denoise: bool = True,
    audio_fill: Sequence[float] | None = None,
    audio_settings: Mapping[str, Any] | None = None,
    pretrained: bool = False,
    checkpoint_path: str | None = None,
) -> AEGCD:
    """AEG-CD (no z, no audio) or AEG-CD-SZ (``z_mode`` and ``audio_features`` set); with
    ``denoise=False``, the papers' "Disc" baseline (D on the image itself; G unused).

    Args:
        image_size: Side of the training crops (112: Aff-Wild2 cropped-aligned); the audio
            plane's size.
        generator_width: G's first width (16).
        generator_blocks: G's residual blocks (1).
        latent_block: The block whose output is Z (1).
        skips: Each block's skip (``(False,)``: ALN's latent block has none).
        discriminator_width: D's first width (32 in ALN, so that z of 64 channels adds to its
            2nd convolution).
        discriminator_depth: D's stride-2 convolutions (6).
        z_mode: None (AEG-CD), ``"add"`` (the code) or ``"concat"`` (the paper).
        audio_features: Per-frame audio vector size (None: no audio).
        audio_plane: ``"full"`` or ``"rows"`` (the reference's row broadcast).
        quadrant: Give D the optional 4-way quadrant head (decision 6; off in the paper).
        va_output: ``"tanh"`` (VA in [-1, 1]) or ``"linear"`` (the reference's head).
        denoise: False: predict ``D(x).va`` without G (the D-only baseline; no z, no audio).
        audio_fill: The raw per-frame audio vector for frames without audio (a trained
            AEG-CD-SZ's checkpoint records it; see :class:`AEGCD`).
        audio_settings: How its training features were made (recorded likewise).
        pretrained: Must be False (there are none).
        checkpoint_path: Must be None.
    """
    _no_weight_sources(pretrained, checkpoint_path)
    generator = _generator(generator_width, generator_blocks, latent_block, skips)
    discriminator = Discriminator(
        discriminator_width,
        discriminator_depth,
        va=True,
        quadrant=quadrant,
        z_channels=generator.z_channels if z_mode is not None else None,
        z_mode=z_mode,
        audio_features=audio_features,
        audio_plane=audio_plane,
        image_size=image_size,
        va_output=va_output,
    )
    return AEGCD(
        generator,
        discriminator,
        image_size=image_size,
        denoise=denoise,
        audio_fill=audio_fill,
        audio_settings=audio_settings,
    )


def _anclaf_discriminator(width: int, depth: int, quadrant_from: str) -> Discriminator:
    if quadrant_from not in QUADRANT_SOURCES:
        raise ValueError(
            f"quadrant_from must be one of {list(QUADRANT_SOURCES)}, got {quadrant_from!r}"
        )
    classifier = quadrant_from == "classifier"
    return Discriminator(width, depth, va=not classifier, quadrant=classifier)


def build_anclaf(
    *,
    image_size: int = 128,
    generator_width: int = 16,
    generator_blocks: int = 5,
    latent_block: int = 3,
    skips: Sequence[bool] = (True, True, False, True, True),
    discriminator_width: int = 16,
    discriminator_depth: int = 6,
    quadrant_from: Literal["classifier", "va"] = "classifier",
    midpoint: float = 0.0,
    quadrants: bool = True,
    combiner_width: int = 64,
    combiner_depth: int = 5,
    va_output: VAOutput = "tanh",
    modality: Literal["video", "audio"] = "video",
    audio_image_size: int | None = None,
    audio_settings: Mapping[str, Any] | None = None,
    pretrained: bool = False,
    checkpoint_path: str | None = None,
) -> ANCLaF:
    """ANCLaF, the frame model (G, D and C); with ``modality="audio"``, DiLaST's frame model on
    the audio images (its P is C).

    Args:
        image_size: Side of the training crops (128: the author's AFEW-VA/SEWA crops).
        generator_width: G's first width (16).
        generator_blocks: G's residual blocks (5).
        latent_block: The block whose output is Z (3).
        skips: Each block's skip (yes, yes, no, yes, yes).
        discriminator_width: D's first width (16).
        discriminator_depth: D's stride-2 convolutions (6).
        quadrant_from: ``"classifier"`` (D has a 4-way quadrant head, no VA head: the paper) or
            ``"va"`` (D regresses VA; Q is its quadrant: the code).
        midpoint: The VA scale midpoint for ``"va"``.
        quadrants: C reads ``[Z; Q]`` (True: the paper) or Z only.
        combiner_width: C's first width ``d`` (64).
        combiner_depth: C's convolutions (5).
        va_output: ``"tanh"`` or ``"linear"`` (the reference's).
        modality: ``"video"`` (faces) or ``"audio"`` (the stored audio images, replicated to
            3 channels).
        audio_image_size: Side of the audio images (``"audio"`` only; the federation's
            ``AudioSettings.mel_image_size``, 128 in the paper).
        audio_settings: How the training audio was made (a trained model's checkpoint records
            it).
        pretrained: Must be False.
        checkpoint_path: Must be None.
    """
    _no_weight_sources(pretrained, checkpoint_path)
    generator = _generator(generator_width, generator_blocks, latent_block, skips)
    discriminator = _anclaf_discriminator(discriminator_width, discriminator_depth, quadrant_from)
    combiner = Combiner(
        generator.z_channels,
        quadrants=quadrants,
        width=combiner_width,
        depth=combiner_depth,
        va_output=va_output,
    )
    return ANCLaF(
        generator,
        discriminator,
        combiner,
        quadrant_from=quadrant_from,
        midpoint=midpoint,
        image_size=image_size,
        modality=modality,
        audio_image_size=audio_image_size,
        audio_settings=audio_settings,
    )


def build_anclaf_sequence(
    *,
    image_size: int = 128,
    clip_length: int = 8,
    generator_width: int = 16,
    generator_blocks: int = 5,
    latent_block: int = 3,
    skips: Sequence[bool] = (True, True, False, True, True),
    discriminator_width: int = 16,
    discriminator_depth: int = 6,
    quadrant_from: Literal["classifier", "va"] = "classifier",
    midpoint: float = 0.0,
    quadrants: bool = True,
    combiner_width: int = 64,
    combiner_depth: int = 5,
    hidden_size: int = 512,
    attention: bool = False,
    attention_state: Literal["hc", "h"] = "hc",
    score: Literal["linear", "general", "concat"] = "linear",
    divide_context: bool = False,
    memory_size: int | None = None,
    va_output: VAOutput = "tanh",
    modality: Literal["video", "audio"] = "video",
    audio_image_size: int | None = None,
    audio_settings: Mapping[str, Any] | None = None,
    pretrained: bool = False,
    checkpoint_path: str | None = None,
) -> ANCLaFSequence:
    """ANCLaF-S-n (``attention=False``) or ANCLaF-SA-n (``attention=True``); on either modality
    (DiLaST-SA: Vi-DeS, Au-DeS).

    Args:
        image_size: Side of the training crops (128).
        clip_length: Frames ``n`` of a training window (8, the paper's best; the curriculum
            trains 2, 4, 8, 16, 32).
        generator_width: As :func:`build_anclaf`'s (and the G, D and C options below).
        generator_blocks: As :func:`build_anclaf`'s.
        latent_block: As :func:`build_anclaf`'s.
        skips: As :func:`build_anclaf`'s.
        discriminator_width: As :func:`build_anclaf`'s.
        discriminator_depth: As :func:`build_anclaf`'s.
        quadrant_from: As :func:`build_anclaf`'s.
        midpoint: As :func:`build_anclaf`'s.
        quadrants: As :func:`build_anclaf`'s (False: the released stage-3 model, Z only).
        combiner_width: The sequence combiner's first width ``d`` (64).
        combiner_depth: Its convolutions (5).
        hidden_size: LSTM units (512).
        attention: -SA (True) or -S (False).
        attention_state: ``"hc"`` (the reference's ``useCH``) or ``"h"``.
        score: ``"linear"`` (the reference's), ``"general"`` or ``"concat"``.
        divide_context: Divide the context by the number of memory entries (paper Eq. 7).
        memory_size: A rolling memory of the last k states, carried over a stream; None: the
            current window's earlier steps (the reference).
        va_output: ``"tanh"`` or ``"linear"`` (the reference's).
        modality: As :func:`build_anclaf`'s.
        audio_image_size: As :func:`build_anclaf`'s.
        audio_settings: As :func:`build_anclaf`'s.
        pretrained: Must be False.
        checkpoint_path: Must be None.
    """
    _no_weight_sources(pretrained, checkpoint_path)
    generator = _generator(generator_width, generator_blocks, latent_block, skips)
    discriminator = _anclaf_discriminator(discriminator_width, discriminator_depth, quadrant_from)
    sequence = SequenceCombiner(
        generator.z_channels,
        quadrants=quadrants,
        width=combiner_width,
        depth=combiner_depth,
        hidden_size=hidden_size,
        attention=attention,
        attention_state=attention_state,
        score=score,
        divide_context=divide_context,
        memory_size=memory_size,
        va_output=va_output,
    )
    return ANCLaFSequence(
        generator,
        discriminator,
        sequence,
        quadrant_from=quadrant_from,
        midpoint=midpoint,
        image_size=image_size,
        clip_length=clip_length,
        modality=modality,
        audio_image_size=audio_image_size,
        audio_settings=audio_settings,
    )


# ---------------------------------------------------------------------------------------------
# Registered variants
# ---------------------------------------------------------------------------------------------

# The tiny variants: G of width 2 (Z has 8 channels), D of width 4 (its 2nd convolution has 8,
# so z can be added), C of width 4, a 16-unit LSTM; 32 px images, 4-frame clips.
_TINY = {"generator_width": 2, "discriminator_width": 4, "image_size": 32}
_TINY_ANCLAF = {**_TINY, "combiner_width": 4}
_TINY_SEQUENCE = {**_TINY_ANCLAF, "hidden_size": 16, "clip_length": 4}


@register_model
def aegcd_112(**kwargs: Any) -> AEGCD:
    """AEG-CD as in ALN: G of width 16 (one block without skip), D of width 32, 112 px."""
    return build_aegcd(**kwargs)


@register_model
def aegcd_sz_112(**kwargs: Any) -> AEGCD:
    """AEG-CD-SZ: z added after D's 2nd convolution, and the audio plane of 75 features
    (25 eGeMAPS descriptors of frames t-1, t, t+1) as a 4th input channel, 112 px."""
    return build_aegcd(**{"z_mode": "add", "audio_features": 75, **kwargs})


@register_model
def test_aegcd(**kwargs: Any) -> AEGCD:
    """A tiny AEG-CD for CPU tests (``z_mode``/``audio_features`` make it a tiny AEG-CD-SZ)."""
    return build_aegcd(**{**_TINY, **kwargs})


@register_model
def anclaf_128(**kwargs: Any) -> ANCLaF:
    """ANCLaF as in Seq-Att-Affect: G of width 16 (5 blocks, Z after block 3), D of width 16,
    C of width 64, 128 px."""
    return build_anclaf(**kwargs)


@register_model
def anclaf_s_128(**kwargs: Any) -> ANCLaFSequence:
    """ANCLaF-S-8: the sequence combiner (LSTM 512) over 8-frame windows, no attention."""
    return build_anclaf_sequence(**kwargs)


@register_model
def anclaf_sa_128(**kwargs: Any) -> ANCLaFSequence:
    """ANCLaF-SA-8: as ANCLaF-S-8 with attention over [h; c] (the reference's score)."""
    return build_anclaf_sequence(**{"attention": True, **kwargs})


@register_model
def test_anclaf(**kwargs: Any) -> ANCLaF:
    """A tiny ANCLaF for CPU tests."""
    return build_anclaf(**{**_TINY_ANCLAF, **kwargs})


@register_model
def test_anclaf_s(**kwargs: Any) -> ANCLaFSequence:
    """A tiny ANCLaF-S for CPU tests."""
    return build_anclaf_sequence(**{**_TINY_SEQUENCE, **kwargs})


@register_model
def test_anclaf_sa(**kwargs: Any) -> ANCLaFSequence:
    """A tiny ANCLaF-SA for CPU tests."""
    return build_anclaf_sequence(**{**_TINY_SEQUENCE, "attention": True, **kwargs})


# DiLaST (TAFFC 2022): ANCLaF's networks on one modality. The paper's -SA model attends over up
# to the last 8 states of a stream (§5.3): a rolling memory of 7 states, which within a training
# window of 8 frames is exactly the reference's memory of the window's earlier steps.
_DILAST_SA = {"attention": True, "memory_size": 7}
_AUDIO_128 = {"modality": "audio", "audio_image_size": 128}


@register_model
def dilast_video_128(**kwargs: Any) -> ANCLaF:
    """DiLaST on faces (Vi-De): ANCLaF's G, D and P (= C) at 128 px."""
    return build_anclaf(**kwargs)


@register_model
def dilast_audio_128(**kwargs: Any) -> ANCLaF:
    """DiLaST on audio (Au-De): the same networks on the 128x128 audio image of each frame."""
    return build_anclaf(**{**_AUDIO_128, **kwargs})


@register_model
def dilast_sa_video_128(**kwargs: Any) -> ANCLaFSequence:
    """DiLaST-SA on faces (Vi-DeS): the LSTM with attention over the last 8 states."""
    return build_anclaf_sequence(**{**_DILAST_SA, **kwargs})


@register_model
def dilast_sa_audio_128(**kwargs: Any) -> ANCLaFSequence:
    """DiLaST-SA on audio (Au-DeS)."""
    return build_anclaf_sequence(**{**_DILAST_SA, **_AUDIO_128, **kwargs})


@register_model
def test_dilast(**kwargs: Any) -> ANCLaF:
    """A tiny DiLaST on faces for CPU tests (``modality="audio", audio_image_size=32``: on
    32 px audio images)."""
    return build_anclaf(**{**_TINY_ANCLAF, **kwargs})


@register_model
def test_dilast_sa(**kwargs: Any) -> ANCLaFSequence:
    """A tiny DiLaST-SA on faces (a rolling memory of 3 states, for 4-frame clips; audio as
    :func:`test_dilast`)."""
    return build_anclaf_sequence(**{**_TINY_SEQUENCE, **_DILAST_SA, "memory_size": 3, **kwargs})
