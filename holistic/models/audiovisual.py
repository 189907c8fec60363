"""A/V-MT-VGG-GRU: the audio-visual multi-task clip model (Kollias & Zafeiriou, Aff-Wild2).

Two streams and their fusion, every GRU 2 layers of 128 units::

    clip  [B, T, 3, H, W] -> visual CNN -> FC -> GRU(128) x 2 --------------------+
    mel   [B, T, M, W]    -> audio CNN (1 channel) -> FC -> GRU(128) x 2 -> x mask -+- concat (256 + 1)
    audio_mask [B, T] --------------------------------------------------------------+
      -> GRU(128) x 2 -> one output layer: VA [B, T, 2] in [-1, 1], expressions, AUs per frame

Each stream is an :class:`~holistic.models.temporal.MTVGGGRU` of its own (CNN -> FC -> GRU ->
output layer): the visual one as ``mtvgggru_*`` builds it (VGG-16 and FC 4096 in the paper; its CNN
can start from a FaceBehaviorNet checkpoint), the audio one with a timm CNN of one input channel
reading each frame's log-mel window (``mel`` of the shards, :mod:`holistic.data.audio`) as a
grey image, global-average pooled. The streams' own output layers serve the paper's first stage,
each stream trained on its own (:meth:`AVMTVGGGRU.forward_streams`); the fused output layer is
the model's (``forward``).

A frame without audio (``audio_mask`` False) enters the audio CNN as silence (:data:`MEL_FILL`,
-1 everywhere, what :func:`~holistic.data.audio.mel_windows` gives before and after a
recording), and the fusion sees that it has none: the audio stream's GRU output is multiplied by
the mask and the mask is one more input of the fusion GRU. A clip without any audio still gives
finite outputs, losses and gradients. timm is imported inside the builders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._registry import register_model
from .heads import MultiTaskHead
from .spec import model_tasks
from .temporal import MTVGGGRU, build_features_backbone, build_mtvgggru

__all__ = [
    "AUDIO_NAME",
    "AVMTVGGGRU",
    "MEL_FILL",
    "STATE_PARTS",
    "StreamOutputs",
    "build_avmtvgggru",
]

#: The per-frame audio feature the model reads: the shards' log-mel window ``[n_mels, W]``.
AUDIO_NAME = "mel"
#: What a frame without audio feeds the audio CNN: silence in the mel windows' [-1, 1] scale.
MEL_FILL = -1.0
#: The GRUs' states in a :meth:`AVMTVGGGRU.forward_stream` state, in order.
STATE_PARTS: tuple[str, ...] = ("video", "audio", "fusion")


class AVMTVGGGRU(nn.Module):
    """A/V-MT-VGG-GRU: a visual and an audio MT-VGG-GRU stream fused by a 2-layer GRU.

    ``forward(x, audio, audio_mask)``: ``{"va": [B, T, 2] in [-1, 1], "expr": [B, T, E],
    "au": [B, T, A]}`` (logits) from the fused output layer, for every frame.

    Args:
        video: The visual stream (an ``MTVGGGRU`` taking RGB clips, one GRU over its FC tap).
        audio: The audio stream (an ``MTVGGGRU`` whose CNN takes one channel), with the same
            vocabularies.
        hidden_size: Units of each fusion GRU layer (128 in the paper).
        num_layers: Stacked fusion GRU layers (2 in the paper).
        rnn_dropout: Dropout between the fusion GRU layers.
        audio_settings: How the audio features it was trained on were made
            (``AudioSettings.to_json()`` of the training federation); None until trained.

    Attributes:
        input_spec: The visual stream's clips, with ``audio={"mel": {"fill": -1.0,
            "settings": ...}}``.
        num_features: Width of the fusion GRU's output (:meth:`forward_features`).
        detached_parameters: Name prefixes of the parameters ``forward`` sends no gradient to.

    Raises:
        ValueError: streams with other vocabularies, several GRUs, or a visual stream taking
            landmarks.
    """

    def __init__(
        self,
        video: MTVGGGRU,
        audio: MTVGGGRU,
        *,
        hidden_size: int = 128,
        num_layers: int = 2,
        rnn_dropout: float = 0.0,
        audio_settings: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if (video.expressions, video.aus) != (audio.expressions, audio.aus):
            raise ValueError(
                "AVMTVGGGRU: the streams predict other vocabularies: video "
                f"{list(video.expressions)} / {list(video.aus)}, audio "
                f"{list(audio.expressions)} / {list(audio.aus)}; build both with the same ones"
            )
        if len(video.rnns) != 1 or len(audio.rnns) != 1 or video.input_spec.landmarks:
            raise ValueError("AVMTVGGGRU: each stream needs one GRU (an MTVGGGRU), no landmarks")
        if hidden_size < 1 or num_layers < 1:
            raise ValueError(f"GRU sizes must be >= 1, got {hidden_size=} {num_layers=}")
        self.video, self.audio = video, audio
        # The audio stream's GRU output (masked) and the mask itself join the visual stream's.
        self.fusion = nn.GRU(
            video.num_features + audio.num_features + 1,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=rnn_dropout,
        )
        self.num_features = hidden_size
        self.head = MultiTaskHead(
            hidden_size, len(self.expressions), len(self.aus), hidden=(), dropout=0.0
        )
        self.input_spec = video.input_spec
        self.audio_settings = audio_settings

    @property
    def audio_settings(self) -> dict[str, Any] | None:
        """How the audio features it was trained on were made (``AudioSettings.to_json()``, the
        training federation's manifest says; None: not set). Evaluation refuses features made
        otherwise."""
        return self._audio_settings

    @audio_settings.setter
    def audio_settings(self, settings: Mapping[str, Any] | None) -> None:
        self._audio_settings = None if settings is None else dict(settings)
        entry = {"fill": MEL_FILL, "settings": self._audio_settings}
        self.input_spec = replace(self.input_spec, audio={AUDIO_NAME: entry})

    @property
    def backbone(self) -> nn.Module:
        """The visual CNN (what a recipe freezes, what ``init_from`` starts)."""
        return self.video.backbone

    @property
    def expressions(self) -> tuple[str, ...]:
        """The expression vocabulary (head order of ``"expr"``)."""
        return self.video.expressions

    @property
    def aus(self) -> tuple[int, ...]:
        """The AU vocabulary (head order of ``"au"``)."""
        return self.video.aus

    @property
    def tasks(self) -> dict[str, tuple]:
        """What the model predicts: VA, its expressions and its AUs."""
        return model_tasks(expressions=self.expressions, aus=self.aus)

    @property
    def detached_parameters(self) -> tuple[str, ...]:
        """Name prefixes of the parameters ``forward`` sends no gradient to: the streams' own
        output layers, which only the stream-wise stage trains (:meth:`forward_streams`)."""
        return ("video.head", "audio.head")

    def forward_features(
        self,
        x: torch.Tensor,
        audio: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Clips in [-1, 1] ``[B, T, 3, H, W]`` and their audio to the fusion GRU's output
        ``[B, T, num_features]``.

        Args:
            x: The clips.
            audio: Each frame's log-mel window ``[B, T, n_mels, W]`` in [-1, 1] (anything where
                ``audio_mask`` is False: the model reads silence there).
            audio_mask: ``[B, T]`` bool, True where the frame has audio; None: every frame has.

        Raises:
            ValueError: a badly shaped clip, no audio, or audio or a mask of another shape.
        """
        return self._recurrent(x, audio, audio_mask, None)[0]["fused"]

    def forward_heads(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Fusion features ``[B, T, F]`` to ``{"va": [B, T, 2] in [-1, 1], "expr": [B, T, E],
        "au": [B, T, A]}`` (logits)."""
        outputs = self.head(features.flatten(0, 1))
        return {task: value.unflatten(0, features.shape[:2]) for task, value in outputs.items()}

    def forward(
        self,
        x: torch.Tensor,
        audio: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Clips and their audio (as :meth:`forward_features`) to the fused per-frame task dict
        of :meth:`forward_heads`."""
        return self.forward_heads(self.forward_features(x, audio, audio_mask))

    def forward_streams(
        self,
        x: torch.Tensor,
        audio: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
    ) -> dict[str, dict[str, torch.Tensor]]:
        """Every output layer's per-frame task dict, from one pass: ``{"video": ..., "audio":
        ..., "fused": ...}``, the two streams' own output layers (the stream-wise stage trains
        them, each stream on its own) and the fused one (``forward``'s). The audio stream's
        outputs on frames without audio read silence: leave them out of its loss."""
        features = self._recurrent(x, audio, audio_mask, None)[0]
        return {
            "video": self.video.forward_heads(features["video"]),
            "audio": self.audio.forward_heads(features["audio"]),
            "fused": self.forward_heads(features["fused"]),
        }

    def forward_stream(
        self,
        x: torch.Tensor,
        state: Sequence[torch.Tensor] | None = None,
        audio: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
        """The next frames of a stream: clips and their audio continuing where ``state`` (the
        video, audio and fusion GRUs' hidden states) left off (None: the stream's start), to
        ``(outputs, state)``. Feeding a video window by window with the state passed on gives
        what one call on the whole video gives."""
        features, hidden = self._recurrent(x, audio, audio_mask, state)
        return self.forward_heads(features["fused"]), hidden

    def reset_heads(
        self,
        expressions: str | Iterable[str] | None = None,
        aus: str | Iterable[int | str] | None = None,
    ) -> None:
        """New output layers for other vocabularies (fine-tuning), in both streams and the
        fusion, as :meth:`MTVGGGRU.reset_heads`; ``None`` keeps a vocabulary."""
        for stream in (self.video, self.audio):
            stream.reset_heads(expressions, aus)
        keep = ["va", *(["expr"] if expressions is None else []), *(["au"] if aus is None else [])]
        self.head.reset(len(self.expressions), len(self.aus), 0, keep=keep)

    def _recurrent(
        self,
        x: torch.Tensor,
        audio: torch.Tensor | None,
        audio_mask: torch.Tensor | None,
        state: Sequence[torch.Tensor] | None,
    ) -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
        """Each GRU's output ``{"video", "audio", "fused": [B, T, ...]}`` and hidden state after
        the clip, the GRUs started from ``state`` (None: zeros)."""
        batch, frames = _check_inputs(x, audio, audio_mask)
        if state is not None and len(state) != len(STATE_PARTS):
            raise ValueError(
                f"expected a state of {len(STATE_PARTS)} GRUs ({', '.join(STATE_PARTS)}), got "
                f"{len(state)}"
            )
        video_state, audio_state, fusion_state = state if state is not None else (None,) * 3
        heard = (
            torch.ones(batch, frames, dtype=torch.bool, device=x.device)
            if audio_mask is None
            else audio_mask.to(torch.bool)
        )
        mel = torch.where(heard[..., None, None], audio.to(x.dtype), MEL_FILL)
        seen = self.video.forward_taps(x.flatten(0, 1))["fc"].unflatten(0, (batch, frames))
        sound = self.audio.forward_taps(mel.flatten(0, 1).unsqueeze(1))["fc"]
        video, video_state = self.video.rnns[0](seen, video_state)
        voice, audio_state = self.audio.rnns[0](sound.unflatten(0, (batch, frames)), audio_state)
        present = heard.unsqueeze(2).to(voice.dtype)
        fused, fusion_state = self.fusion(
            torch.cat([video, voice * present, present], dim=2), fusion_state
        )
        return (
            {"video": video, "audio": voice, "fused": fused},
            [video_state, audio_state, fusion_state],
        )


def _check_inputs(
    x: torch.Tensor, audio: torch.Tensor | None, audio_mask: torch.Tensor | None
) -> tuple[int, int]:
    """``(B, T)`` of a clip batch; a clear error for a bad shape or missing audio."""
    if x.ndim != 5 or x.shape[2] != 3 or x.shape[1] < 1:
        raise ValueError(f"expected clips [B, T, 3, H, W] with T >= 1, got shape {tuple(x.shape)}")
    batch, frames = x.shape[:2]
    if audio is None:
        raise ValueError(
            "this model takes audio (input_spec.audio): pass audio, each frame's log-mel window "
            "[B, T, n_mels, W] (the shards' mel), and audio_mask [B, T] (False where a frame "
            "has none; its window may hold anything)"
        )
    if audio.ndim != 4 or tuple(audio.shape[:2]) != (batch, frames):
        raise ValueError(
            f"expected audio [B, T, n_mels, W] with B, T = {batch}, {frames}, got shape "
            f"{tuple(audio.shape)}"
        )
    if audio_mask is not None and tuple(audio_mask.shape) != (batch, frames):
        raise ValueError(
            f"expected audio_mask [B, T] = {[batch, frames]}, got shape {tuple(audio_mask.shape)}"
        )
    return batch, frames


class StreamOutputs(nn.Module):
    """An :class:`AVMTVGGGRU` whose ``forward`` is its :meth:`~AVMTVGGGRU.forward_streams`:
    every output layer's outputs from one call. What a training loop hands to DDP for the
    stream-wise schedule: DDP syncs the gradients of what its wrapped ``forward`` computed, so
    the streams' own output layers must be computed there. Adds no parameters; its state names
    are the model's with ``model.`` in front."""

    def __init__(self, model: AVMTVGGGRU) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        x: torch.Tensor,
        audio: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
    ) -> dict[str, dict[str, torch.Tensor]]:
        """``model.forward_streams(x, audio, audio_mask)``."""
        return self.model.forward_streams(x, audio, audio_mask)


# ---------------------------------------------------------------------------------------------
# Builder and registered variants
# ---------------------------------------------------------------------------------------------


def build_avmtvgggru(
    backbone: str = "resnet18",
    audio_backbone: str = "resnet18",
    *,
    expressions: str | Iterable[str] = "basic7",
    aus: str | Iterable[int | str] = "fbn17",
    fc_features: int = 256,
    audio_fc_features: int = 256,
    dropout: float = 0.5,
    hidden_size: int = 128,
    num_layers: int = 2,
    rnn_dropout: float = 0.0,
    clip_length: int = 90,
    image_size: int = 96,
    audio_settings: Mapping[str, Any] | None = None,
    init_from: str | Path | None = None,
    pretrained: bool = False,
    checkpoint_path: str | Path | None = None,
    **backbone_kwargs: Any,
) -> AVMTVGGGRU:
    """A/V-MT-VGG-GRU: a visual and an audio MT-VGG-GRU stream, fused by a 2-layer GRU.

    Args:
        backbone: The visual CNN, a timm architecture (the paper: VGG-16 / VGG-FACE).
        audio_backbone: The audio CNN, a timm architecture built with one input channel (its
            input, ``n_mels x W`` = 64 x 11 by default, is too narrow for VGG's five poolings).
        expressions: Expression vocabulary (name or list), of every output layer.
        aus: AU vocabulary (name or list).
        fc_features: Width of the visual FC layer (4096 in the paper).
        audio_fc_features: Width of the audio FC layer.
        dropout: Dropout after each FC layer.
        hidden_size: Units of every GRU layer, both streams' and the fusion's (128).
        num_layers: Layers of every GRU (2).
        rnn_dropout: Dropout between GRU layers.
        clip_length: Frames per training clip.
        image_size: Side of the training face crops.
        audio_settings: How the audio features it was trained on were made (``save_model``
            records them; a recipe sets ``model.audio_settings``).
        init_from: A holistic checkpoint (a trained FaceBehaviorNet) whose backbone starts the
            visual CNN, as for :func:`~holistic.models.temporal.build_mtvgggru`; the audio
            stream and the fusion start fresh. Not saved with the model (its weights are).
        pretrained: timm's pretrained weights for the visual CNN, from the local cache (the
            audio CNN starts from scratch).
        checkpoint_path: A local weights file for the visual CNN.
        **backbone_kwargs: Passed to ``timm.create_model`` for the visual CNN.

    Raises:
        ValueError: an unknown timm architecture, or ``init_from`` of another architecture.
    """
    common = {"expressions": expressions, "aus": aus, "dropout": dropout}
    common |= {"hidden_size": hidden_size, "num_layers": num_layers, "rnn_dropout": rnn_dropout}
    video = build_mtvgggru(
        backbone,
        fc_features=fc_features,
        clip_length=clip_length,
        image_size=image_size,
        init_from=init_from,
        pretrained=pretrained,
        checkpoint_path=checkpoint_path,
        **common,
        **backbone_kwargs,
    )
    net, channels = build_features_backbone(audio_backbone, in_chans=1)
    # The mel windows are in [-1, 1] already: no image normalisation (mean/std None).
    audio = MTVGGGRU(net, channels, fc_features=audio_fc_features, **common)
    return AVMTVGGGRU(
        video,
        audio,
        hidden_size=hidden_size,
        num_layers=num_layers,
        rnn_dropout=rnn_dropout,
        audio_settings=audio_settings,
    )


@register_model
def avmtvgggru_vgg16(**kwargs: Any) -> AVMTVGGGRU:
    """A/V-MT-VGG-GRU with the paper's visual stream (VGG-16, FC 4096, as ``mtvgggru_vgg16``),
    a ResNet-18 audio CNN with FC 4096, GRUs 2 x 128, 90-frame clips of 96 px."""
    return build_avmtvgggru(
        **{"backbone": "vgg16", "fc_features": 4096, "audio_fc_features": 4096, **kwargs}
    )


@register_model
def avmtvgggru_resnet18(**kwargs: Any) -> AVMTVGGGRU:
    """A/V-MT-VGG-GRU on ResNet-18 CNNs with 256-unit FCs (its visual CNN starts from
    ``facebehaviornet_resnet18``)."""
    return build_avmtvgggru(**{"backbone": "resnet18", "fc_features": 256, **kwargs})


@register_model
def test_avmtvgggru(**kwargs: Any) -> AVMTVGGGRU:
    """A tiny A/V-MT-VGG-GRU on timm's ``test_resnet`` (visual and audio), 16-unit FCs and
    GRUs, 4-frame clips of 32 px (its visual CNN starts from ``test_facebehaviornet``)."""
    tiny = {"backbone": "test_resnet", "audio_backbone": "test_resnet", "fc_features": 16}
    tiny |= {"audio_fc_features": 16, "hidden_size": 16, "clip_length": 4, "image_size": 32}
    return build_avmtvgggru(**{**tiny, **kwargs})
