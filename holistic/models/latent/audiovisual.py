"""AViGaS-Net (Aspandi et al., TAFFC 2022): AVi-CaS and AVi-GaS, audio-visual sequence models
over the latents of two DiLaST frame models (``reference/latent_models.md`` §5).

Per frame ``t`` of a clip, for each modality ``m`` (the face crop, and the stored audio image
of the frame replicated to 3 channels, ``holistic.data.audio.mel_image_frames``)::

    Z^m_t, Q^m_t = G^m.enc(x^m_t), arg max D^m(G^m(x^m_t))      (DiLaST's G and D, Eqs. 1-2)
    f^m_t = LatentFeatures^m([Z^m_t; Q^m_t])                     (P's convolution stack, Eq. 3)
    AVi-CaS: f_t = [f^video_t; f^audio_t]                        (concatenation, Eq. 4)
    AVi-GaS: f_t, gates_t = GMU(f^video_t, f^audio_t)             (Eqs. 5-8)
    va_t = LSTM + attention over f_1..f_t                        (Eqs. 9-12, ANCLaF-SA's)

Choices where the paper is silent (``latent_models.md`` §8; docs/models.md says why):

- **Where the modalities meet** (decision 14): each modality's ``[Z; Q]`` map is encoded by its
  own copy of P's convolution stack into a vector, and the vectors are concatenated or gated.
  Not the literal layer-wise concatenation of the two maps: the face and audio latents need not
  have one size (112 px faces and 32 px audio images give 28 x 28 and 8 x 8), each stack can
  start from its modality's trained P (or its DiLaST-SA), and the gate is one decision per frame
  (and unit), the quantity the paper analyses. A GMU on the flattened maps (69,632 values per
  modality at 128 px) would hold about 285 million weights for 1,024 fused units, where the
  paper adds 0.26 M.
- **GMU shape** (decision 14): :class:`~holistic.models.fusion.GatedMultimodalUnit`, for two
  modalities exactly Eqs. 5-8 (``ZG = gates[..., 0, :]``); a gate per unit by default (Eq. 5's
  ``W_ZG`` maps to the size of ``h``), ``per_unit_gate=False`` for one per frame.
- **Frames without audio**: they do not run the audio networks; the GMU's presence mask gives
  the face all the weight there (AVi-GaS), and their audio features are zeros (AVi-CaS).
- **Inference graph** (decision 15): Q comes from D on G's output, as ANCLaF computes it and as
  the recipe trains P, so inference runs G (encoder, and its decoder for D's input) and D's
  trunk and quadrant head, without gradient; D's critic serves training only. The paper says
  inference drops D and G's decoder, which would leave Q without a source.
- **Stream state** (decision 8): the paper's inference starts the LSTM once and attends to up
  to the last 8 states: a rolling memory of 7 states (``memory_size=7``), which within a
  training window of 8 frames is the reference's memory of the window's earlier steps, so
  :meth:`AViGaSNet.forward_stream` window by window equals one call on the whole clip.

**How a recipe trains it** (the paper's order, §5.4): DiLaST frame models per modality
(``dilast_video_128``, ``dilast_audio_128``: G, D and P with their own optimisers, as ANCLaF's
frame stage, weighted λ_D = λ_G = 0.25, λ_P = 0.5); then this model holding their G and D
(:meth:`AViGaSNet.share_frame_parts`), frozen, while ``model.sequence`` trains on
``model.clip_latents(clips, audio, audio_mask)`` by the curriculum 2, 4, 8 with attention.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

import torch
from torch import nn

from .._registry import register_model
from ..fusion import GatedMultimodalUnit
from ..heads import VAOutput
from ..spec import InputSpec, model_tasks
from ._layers import (
    AudioImageInput,
    audio_images,
    check_audio_image_size,
    check_audio_images,
    va_output_of,
)
from .combiner import NUM_QUADRANTS, LatentFeatures
from .composite import (
    _TINY_SEQUENCE,
    ANCLaF,
    SequenceForwards,
    _anclaf_discriminator,
    _anclaf_parts,
    _generator,
    _Latents,
    _no_weight_sources,
    check_clips,
    sequence_detached,
)
from .discriminator import Discriminator
from .generator import Generator
from .sequence import SequencePredictor, SequenceState, clip_features

__all__ = [
    "AV_MODALITIES",
    "FUSIONS",
    "AViGaSNet",
    "ClipLatents",
    "FusedSequenceCombiner",
    "FusedSequenceOutput",
    "ModalityLatents",
    "build_avigasnet",
]

#: How AViGaS-Net joins the modalities: ``"concat"`` (AVi-CaS) or ``"gate"`` (AVi-GaS, the GMU).
FUSIONS: tuple[str, ...] = ("concat", "gate")
#: AViGaS-Net's modalities, in the order of its inputs, latents and gates.
AV_MODALITIES: tuple[str, str] = ("video", "audio")


class ModalityLatents(_Latents):
    """One modality's G and D as AViGaS-Net holds them: ``latents(images)`` gives Z and Q per
    frame, as ANCLaF's (Q is D's decision on G's output, without gradient).

    Args:
        generator: G.
        discriminator: D on images only, with a quadrant head (``"classifier"``) or a VA head
            (``"va"``).
        modality: ``"video"`` or ``"audio"``: what its images are.
        quadrant_from: As :class:`~holistic.models.latent.composite.ANCLaF`'s.
        midpoint: As ANCLaF's.
    """

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator,
        *,
        modality: Literal["video", "audio"],
        quadrant_from: Literal["classifier", "va"] = "classifier",
        midpoint: float = 0.0,
    ) -> None:
        super().__init__()
        if modality not in AV_MODALITIES:
            raise ValueError(f"modality must be one of {list(AV_MODALITIES)}, got {modality!r}")
        _anclaf_parts(generator, discriminator, quadrant_from, generator.z_channels)
        self.generator, self.discriminator = generator, discriminator
        self.modality, self.quadrant_from, self.midpoint = modality, quadrant_from, midpoint


class FusedSequenceOutput(NamedTuple):
    """What :class:`FusedSequenceCombiner` (and :meth:`AViGaSNet.forward_sequence`) returns.

    Attributes:
        va: ``[B, n, 2]`` per frame.
        features: ``[B, n, hidden]``, the LSTM outputs the VA layer reads.
        attention: ``[B, n, M]`` attention weights (as :class:`SequenceOutput`'s).
        gates: AVi-GaS: ``[B, n, modalities, G]`` (``G`` = the fused size, or 1 with one gate
            per frame): each modality's weight, in [0, 1], summing to 1 over modalities; video
            1 and audio 0 on frames without audio. ``gates[..., 0, :]`` is the paper's ``ZG``.
            None for AVi-CaS.
        state: The :class:`SequenceState` after the last step.
    """

    va: torch.Tensor
    features: torch.Tensor
    attention: torch.Tensor
    gates: torch.Tensor | None
    state: SequenceState


class ClipLatents(NamedTuple):
    """The per-modality latents of clips (:meth:`AViGaSNet.clip_latents`), in the order of
    :data:`AV_MODALITIES`; what the sequence stages of a recipe train the fused sequence model on
    (``model.sequence(*latents)``).

    Attributes:
        z: Per modality ``[B, T, C, h, w]`` (zeros on frames without that modality).
        q: Per modality ``[B, T]`` long quadrants, or None for a model without Q.
        present: Per modality ``[B, T]`` bool, or None where always present (the faces).
    """

    z: tuple[torch.Tensor, ...]
    q: tuple[torch.Tensor | None, ...]
    present: tuple[torch.Tensor | None, ...]


class FusedSequenceCombiner(SequencePredictor):
    """The sequence part of AVi-CaS / AVi-GaS: each modality's ``[Z; Q]`` through its own
    convolution stack, the features concatenated or gated, then ANCLaF-SA's LSTM with
    attention (module docstring).

    Args:
        z_channels: Channels of each modality's Z, one per name.
        names: The modalities, in the order of :meth:`forward`'s inputs.
        fusion: ``"concat"`` (AVi-CaS) or ``"gate"`` (AVi-GaS).
        quadrants: Read Q next to Z (the paper); False: Z only.
        width: Channels ``d`` of each stack's first convolution (64).
        depth: Its convolutions (5).
        fused_features: The GMU's output size (``"gate"``; None: a modality's feature size
            ``F``, so the LSTM reads what a single-modality -SA model's reads).
        per_unit_gate: One gate per fused unit (Arevalo et al.'s; Eq. 5 as printed) or one per
            frame.
        hidden_size: LSTM units (512).
        attention: Attention over earlier states (True: the paper trains with it).
        attention_state: ``"hc"`` or ``"h"`` (:mod:`~holistic.models.latent.sequence`).
        score: ``"linear"``, ``"general"`` or ``"concat"``.
        divide_context: Divide the context by the number of memory entries (Eq. 7).
        memory_size: The rolling memory of the last ``k`` states (7: the paper's last 8).
        va_output: ``"linear"`` or ``"tanh"`` (settable).

    Attributes:
        features: ``nn.ModuleDict`` of one :class:`LatentFeatures` per modality, each shaped as
            a DiLaST P's (``features[name].load_state_dict(p.features.state_dict())``).
        gmu: The :class:`~holistic.models.fusion.GatedMultimodalUnit` (None for ``"concat"``).

    Raises:
        ValueError: an unknown fusion, names that do not match ``z_channels``, or
            ``fused_features`` with ``"concat"``.
    """

    def __init__(
        self,
        z_channels: Sequence[int],
        *,
        names: Sequence[str] = AV_MODALITIES,
        fusion: Literal["concat", "gate"] = "gate",
        quadrants: bool = True,
        width: int = 64,
        depth: int = 5,
        fused_features: int | None = None,
        per_unit_gate: bool = True,
        hidden_size: int = 512,
        attention: bool = True,
        attention_state: Literal["hc", "h"] = "hc",
        score: Literal["linear", "general", "concat"] = "linear",
        divide_context: bool = False,
        memory_size: int | None = 7,
        va_output: VAOutput = "linear",
    ) -> None:
        z_channels, names = tuple(int(c) for c in z_channels), tuple(str(n) for n in names)
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {list(FUSIONS)}, got {fusion!r}")
        if len(names) < 2 or len(names) != len(z_channels) or len(set(names)) != len(names):
            raise ValueError(
                f"FusedSequenceCombiner: needs two or more distinct modality names, one per "
                f"z_channels entry, got names={names}, z_channels={z_channels}"
            )
        if fusion == "concat" and fused_features is not None:
            raise ValueError("fused_features is the GMU's size: it is for fusion='gate'")
        features = nn.ModuleDict(
            {
                name: LatentFeatures(channels + NUM_QUADRANTS * bool(quadrants), width, depth)
                for name, channels in zip(names, z_channels, strict=True)
            }
        )
        size = features[names[0]].num_features
        fused = len(names) * size if fusion == "concat" else (fused_features or size)
        super().__init__(
            fused,
            features=features,
            hidden_size=hidden_size,
            attention=attention,
            attention_state=attention_state,
            score=score,
            divide_context=divide_context,
            memory_size=memory_size,
            va_output=va_output,
        )
        self.z_channels, self.names, self.fusion = z_channels, names, fusion
        self.quadrants = bool(quadrants)
        self.gmu = None
        if fusion == "gate":
            self.gmu = GatedMultimodalUnit(
                [size] * len(names), fused, per_unit_gate=per_unit_gate, names=names
            )

    def modality_features(
        self, z: Sequence[torch.Tensor], q: Sequence[torch.Tensor | None]
    ) -> list[torch.Tensor]:
        """Each modality's ``f [B, n, F]`` from its latents ``z [B, n, C, h, w]`` and
        quadrants ``q [B, n]``, through its own convolution stack."""
        self._check_count(z, "z")
        self._check_count(q, "q")
        return [
            clip_features(self.features[name], z_m, q_m, channels, self.quadrants)
            for name, z_m, q_m, channels in zip(self.names, z, q, self.z_channels, strict=True)
        ]

    def fuse(
        self, features: Sequence[torch.Tensor], present: Sequence[torch.Tensor | None] | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(fused [B, n, in_features], gates or None)`` of the modalities' features; an
        absent modality (``present[i]`` False) adds zeros (``"concat"``) or gets gate 0."""
        if self.gmu is not None:
            fused, gates = self.gmu(features, present)
            return fused, gates
        if present is not None:
            self._check_count(present, "present")
            features = [
                f if p is None else torch.where(_spread(p.to(f.device), f), f, 0.0)
                for f, p in zip(features, present, strict=True)
            ]
        return torch.cat(list(features), dim=-1), None

    def forward(
        self,
        z: Sequence[torch.Tensor],
        q: Sequence[torch.Tensor | None],
        present: Sequence[torch.Tensor | None] | None = None,
        state: SequenceState | None = None,
    ) -> FusedSequenceOutput:
        """Valence-arousal for every frame of windows of per-modality latents.

        Args:
            z: Per modality (``names`` order) latents ``[B, n, C, h, w]``.
            q: Per modality quadrants ``[B, n]`` (long) or ``[B, n, 4]``; None entries without Q.
            present: None (every modality everywhere), or per modality None or a bool mask
                ``[B, n]`` (or ``[B]``).
            state: None (start from zeros) or a previous call's state (the next window of a
                stream).
        """
        fused, gates = self.fuse(self.modality_features(z, q), present)
        out = self.forward_frames(fused, state)
        return FusedSequenceOutput(out.va, out.features, out.attention, gates, out.state)

    def _check_count(self, values: Sequence[Any], what: str) -> None:
        if len(values) != len(self.names):
            raise ValueError(
                f"{what}: expected one entry per modality {list(self.names)}, got {len(values)}"
            )


def _spread(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A bool mask ``[B]`` or ``[B, n]`` shaped to broadcast over ``like [B, n, F]``."""
    if mask.dtype != torch.bool or tuple(mask.shape) != tuple(like.shape[: mask.ndim]):
        raise ValueError(
            f"present: expected a bool mask {list(like.shape[:2])} or {list(like.shape[:1])}, "
            f"got {mask.dtype} {tuple(mask.shape)}"
        )
    return mask.reshape(*mask.shape, *(1,) * (like.ndim - mask.ndim))


class AViGaSNet(SequenceForwards, AudioImageInput, nn.Module):
    """AVi-CaS (``fusion="concat"``) and AVi-GaS (``fusion="gate"``): clips of faces and the
    audio image of every frame to VA per frame (module docstring).

    Args:
        video: The faces' G and D (:class:`ModalityLatents`).
        audio: The audio images' G and D.
        sequence: The :class:`FusedSequenceCombiner` (names ``("video", "audio")``).
        image_size: Side of the training face crops (the input spec's).
        audio_image_size: Side ``s`` of the stored audio images (``mel_image``; the
            federation's ``AudioSettings.mel_image_size``).
        clip_length: Frames ``n`` of a training window (any ``T`` runs).
        audio_settings: How the training audio was made (``AudioSettings.to_json()``); None
            until a recipe sets it.

    Attributes:
        input_spec: Clips of ``image_size`` with ``audio={"mel_image": {"size": s,
            "settings": ...}}``.
        num_features: The LSTM's units.

    Raises:
        ValueError: the sequence's modalities or Z channels do not match the parts.
    """

    def __init__(
        self,
        video: ModalityLatents,
        audio: ModalityLatents,
        sequence: FusedSequenceCombiner,
        *,
        image_size: int = 128,
        audio_image_size: int = 128,
        clip_length: int = 8,
        audio_settings: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if sequence.names != AV_MODALITIES:
            raise ValueError(
                f"AViGaSNet: the sequence model must fuse {list(AV_MODALITIES)}, in that order, "
                f"got {list(sequence.names)}"
            )
        parts = (video, audio)
        for name, part, channels in zip(AV_MODALITIES, parts, sequence.z_channels, strict=True):
            if part.modality != name:
                raise ValueError(f"AViGaSNet: its {name} part reads {part.modality} images")
            if part.generator.z_channels != channels:
                raise ValueError(
                    f"AViGaSNet: the sequence model reads {name} Z of {channels} channels, the "
                    f"{name} G makes {part.generator.z_channels}"
                )
        self.video, self.audio, self.sequence = video, audio, sequence
        self.input_spec = InputSpec(kind="clip", image_size=image_size, clip_length=clip_length)
        self.audio_image_size = check_audio_image_size(audio_image_size, "AViGaSNet")
        self.audio_settings = audio_settings
        self.num_features = sequence.num_features

    @property
    def fusion(self) -> str:
        """``"concat"`` (AVi-CaS) or ``"gate"`` (AVi-GaS)."""
        return self.sequence.fusion

    @property
    def detached_parameters(self) -> tuple[str, ...]:
        """Name prefixes of the parameters ``forward`` sends no gradient to: each modality's
        G decoder and D (they only decide Q, a hard decision), and the sequence part's (the
        bias of the linear attention score; the score layer without attention)."""
        parts = [f"{m}.{p}" for m in AV_MODALITIES for p in ("generator.decoder", "discriminator")]
        return (*parts, *sequence_detached(self.sequence))

    @property
    def tasks(self) -> dict[str, tuple]:
        """Valence and arousal for every frame."""
        return model_tasks()

    va_output = va_output_of("sequence")

    def share_frame_parts(self, video: ANCLaF, audio: ANCLaF) -> None:
        """Hold the G and D of two DiLaST frame models (the same modules, not copies), as a
        recipe's fusion stages do after training them.

        Raises:
            ValueError: the frame models' modalities, audio image size, Z channels or Q source
                differ from this model's.
        """
        for name, frame in zip(AV_MODALITIES, (video, audio), strict=True):
            part: ModalityLatents = getattr(self, name)
            if frame.modality != name:
                raise ValueError(
                    f"AViGaSNet: the {name} frame model has modality {frame.modality!r}"
                )
            if frame.generator.z_channels != part.generator.z_channels:
                raise ValueError(
                    f"AViGaSNet: the {name} frame model's Z has {frame.generator.z_channels} "
                    f"channels, this model reads {part.generator.z_channels}"
                )
            if (frame.quadrant_from, frame.midpoint) != (part.quadrant_from, part.midpoint):
                raise ValueError(
                    f"AViGaSNet: the {name} frame model takes Q from {frame.quadrant_from!r}, "
                    f"this model from {part.quadrant_from!r}"
                )
        if audio.audio_image_size != self.audio_image_size:
            raise ValueError(
                f"AViGaSNet: the audio frame model reads {audio.audio_image_size} px audio "
                f"images, this model {self.audio_image_size} px"
            )
        for name, frame in zip(AV_MODALITIES, (video, audio), strict=True):
            part = getattr(self, name)
            part.generator, part.discriminator = frame.generator, frame.discriminator

    def clip_latents(
        self,
        x: torch.Tensor,
        audio: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
    ) -> ClipLatents:
        """Each modality's Z and Q for every frame of clips.

        Args:
            x: Faces in [-1, 1] ``[B, T, 3, H, W]``.
            audio: The stored audio images ``[B, T, s, s]`` (the loader's ``mel_image``, any
                float dtype), or None: no frame has audio.
            audio_mask: ``[B, T]``, True where a frame has audio (None: every frame, when
                ``audio`` is given). Frames without audio do not run the audio G and D.

        Returns:
            :class:`ClipLatents` (zeros for the audio of frames without it).

        Raises:
            ValueError: not clips, or audio of another shape than ``[B, T, s, s]``.
        """
        check_clips(x, "AViGaSNet")
        lead = tuple(x.shape[:2])
        z_video, q_video = self.video.latents(x.flatten(0, 1))
        audio, present = check_audio_images(
            audio, audio_mask, lead, self.audio_image_size, "AViGaSNet"
        )
        if present is None:
            present = torch.zeros(lead, dtype=torch.bool, device=x.device)
        z_audio, q_audio = self._audio_latents(audio, present, x)
        quadrants = self.sequence.quadrants
        return ClipLatents(
            z=(z_video.unflatten(0, lead), z_audio.unflatten(0, lead)),
            q=(
                q_video.unflatten(0, lead) if quadrants else None,
                q_audio.unflatten(0, lead) if quadrants else None,
            ),
            present=(None, present),
        )

    def _audio_latents(
        self, audio: torch.Tensor | None, present: torch.Tensor, like: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat ``(Z [N, C, s/4, s/4], Q [N])`` of the audio, zeros where a frame has none."""
        size, flat = self.audio_image_size, present.flatten()
        side, channels = size // 4, self.audio.generator.z_channels
        z = like.new_zeros(flat.numel(), channels, side, side)
        q = torch.zeros(flat.numel(), dtype=torch.long, device=like.device)
        kept = flat.nonzero().squeeze(1).to(like.device)
        if audio is None or kept.numel() == 0:
            return z, q
        heard = audio.flatten(0, 1).to(like.device)[kept]
        z_kept, q_kept = self.audio.latents(audio_images(heard, None, (len(kept),), size, like))
        return z.index_copy(0, kept, z_kept), q.index_copy(0, kept, q_kept)

    def forward_sequence(
        self,
        x: torch.Tensor,
        state: SequenceState | None = None,
        audio: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
    ) -> FusedSequenceOutput:
        """Clips and their audio to the full output (VA, LSTM outputs, attention weights, the
        GMU's gates, state); pass ``state`` back in to continue a stream window by window."""
        latents = self.clip_latents(x, audio, audio_mask)
        return self.sequence(*latents, state=state)


# ---------------------------------------------------------------------------------------------
# Builder and registered variants
# ---------------------------------------------------------------------------------------------


def build_avigasnet(
    *,
    fusion: Literal["concat", "gate"] = "gate",
    image_size: int = 128,
    audio_image_size: int = 128,
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
    fused_features: int | None = None,
    per_unit_gate: bool = True,
    hidden_size: int = 512,
    attention: bool = True,
    attention_state: Literal["hc", "h"] = "hc",
    score: Literal["linear", "general", "concat"] = "linear",
    divide_context: bool = False,
    memory_size: int | None = 7,
    va_output: VAOutput = "tanh",
    audio_settings: Mapping[str, Any] | None = None,
    pretrained: bool = False,
    checkpoint_path: str | None = None,
) -> AViGaSNet:
    """AVi-CaS (``fusion="concat"``) or AVi-GaS (``fusion="gate"``). Both modalities get
    ANCLaF's G and D (the paper runs the audio image through "the image network structure").

    Args:
        fusion: ``"concat"`` or ``"gate"``.
        image_size: Side of the face crops (128).
        audio_image_size: Side of the stored audio images (128: the paper's; a multiple of 4).
        clip_length: Frames ``n`` of a training window (8; the curriculum trains 2, 4, 8).
        generator_width: As :func:`~holistic.models.latent.composite.build_anclaf`'s (and the
            G, D and P options below), for both modalities.
        generator_blocks: As ``build_anclaf``'s.
        latent_block: As ``build_anclaf``'s.
        skips: As ``build_anclaf``'s.
        discriminator_width: As ``build_anclaf``'s.
        discriminator_depth: As ``build_anclaf``'s.
        quadrant_from: As ``build_anclaf``'s.
        midpoint: As ``build_anclaf``'s.
        quadrants: As ``build_anclaf``'s.
        combiner_width: Each modality's convolution stack's first width ``d`` (64, as P's).
        combiner_depth: Its convolutions (5).
        fused_features: The GMU's output size (None: a modality's feature size).
        per_unit_gate: A gate per fused unit (True) or per frame.
        hidden_size: LSTM units (512).
        attention: Attention over earlier states (True).
        attention_state: ``"hc"`` or ``"h"``.
        score: ``"linear"``, ``"general"`` or ``"concat"``.
        divide_context: Divide the context by the number of memory entries.
        memory_size: The rolling memory (7: attention over the last 8 states of a stream).
        va_output: ``"tanh"`` or ``"linear"``.
        audio_settings: How the training audio was made (a trained model's checkpoint records
            it).
        pretrained: Must be False.
        checkpoint_path: Must be None.
    """
    _no_weight_sources(pretrained, checkpoint_path)

    def modality(name: Literal["video", "audio"]) -> ModalityLatents:
        generator = _generator(generator_width, generator_blocks, latent_block, skips)
        discriminator = _anclaf_discriminator(
            discriminator_width, discriminator_depth, quadrant_from
        )
        return ModalityLatents(
            generator, discriminator, modality=name, quadrant_from=quadrant_from, midpoint=midpoint
        )

    video, audio = modality("video"), modality("audio")
    sequence = FusedSequenceCombiner(
        (video.generator.z_channels, audio.generator.z_channels),
        fusion=fusion,
        quadrants=quadrants,
        width=combiner_width,
        depth=combiner_depth,
        fused_features=fused_features,
        per_unit_gate=per_unit_gate,
        hidden_size=hidden_size,
        attention=attention,
        attention_state=attention_state,
        score=score,
        divide_context=divide_context,
        memory_size=memory_size,
        va_output=va_output,
    )
    return AViGaSNet(
        video,
        audio,
        sequence,
        image_size=image_size,
        audio_image_size=audio_image_size,
        clip_length=clip_length,
        audio_settings=audio_settings,
    )


# The tiny variants: ANCLaF's tiny parts on 32 px faces and 32 px audio images, 4-frame clips,
# a rolling memory of 3 states.
_TINY_AV = {**_TINY_SEQUENCE, "audio_image_size": 32, "memory_size": 3}


@register_model
def avicas_128(**kwargs: Any) -> AViGaSNet:
    """AVi-CaS: DiLaST latents of 128 px faces and 128x128 audio images, concatenated, then the
    LSTM (512) with attention over the last 8 states."""
    return build_avigasnet(**{"fusion": "concat", **kwargs})


@register_model
def avigas_128(**kwargs: Any) -> AViGaSNet:
    """AVi-GaS: as AVi-CaS with the gated multimodal unit instead of the concatenation."""
    return build_avigasnet(**{"fusion": "gate", **kwargs})


@register_model
def test_avicas(**kwargs: Any) -> AViGaSNet:
    """A tiny AVi-CaS for CPU tests."""
    return build_avigasnet(**{**_TINY_AV, "fusion": "concat", **kwargs})


@register_model
def test_avigas(**kwargs: Any) -> AViGaSNet:
    """A tiny AVi-GaS for CPU tests."""
    return build_avigasnet(**{**_TINY_AV, "fusion": "gate", **kwargs})
