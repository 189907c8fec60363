"""Clip models: a per-frame CNN with GRUs over time (AffWildNet, CNN-1RNN/3RNN, MT-VGG-GRU).

Kollias et al.'s sequence models share one shape: a CNN runs on every frame, its features (pooled
conv maps, optionally the 68 facial landmarks, a fully connected layer) feed 2-layer GRUs of 128
units, and an output layer predicts each frame (FaceBehaviorNet paper, AffWildNet and the
OMG-Emotion CNN-RNN entry; ``reference/metrics.md`` sections 7.2 and 7.3). Here:

- :class:`CNNRNN`: the per-frame CNN stage shared by the family (:meth:`CNNRNN.forward_taps`: a
  timm backbone built with ``features_only=True`` whose taps are global-average pooled: ``"pool2"``,
  an early stage; ``"pool5"``, the last stage, with the flattened landmarks appended when the model
  takes them; ``"fc"``, a fully connected layer on ``"pool5"`` with ReLU and dropout), one GRU per
  group of taps (the group's taps concatenated), the GRU outputs concatenated, and a
  valence-arousal output layer. AffWildNet is ``(("fc",),)``, CNN-1RNN
  ``(("pool2", "pool5", "fc"),)``, CNN-3RNN ``(("pool2",), ("pool5",), ("fc",))``.
- :class:`MTVGGGRU`: the multi-task clip model, one GRU over ``"fc"`` and FaceBehaviorNet's single
  output layer for VA, expressions and AUs per frame; its CNN can start from a FaceBehaviorNet
  checkpoint (``init_from``).

Every model takes clips in [-1, 1] ``[B, T, 3, H, W]`` (any ``T >= 1``, any ``H, W >= 32``) and
returns per-frame outputs ``[B, T, ...]``. The GRUs are unidirectional: the output at frame ``t``
depends on frames ``0..t`` only. timm is imported inside the builders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from holistic.schema import resolve_aus, resolve_expressions

from ._registry import register_model
from .backbones import BackboneInput, load_state_dict_file
from .heads import MultiTaskHead
from .spec import InputSpec, model_tasks

__all__ = [
    "NUM_LANDMARKS",
    "CNNRNN",
    "MTVGGGRU",
    "build_affwildnet",
    "build_cnn1rnn",
    "build_cnn3rnn",
    "build_features_backbone",
    "build_mtvgggru",
    "load_features_weights",
]

#: Facial landmarks per frame (the 68-point iBUG scheme); a frame's landmarks enter as 136 values.
NUM_LANDMARKS = 68


class CNNRNN(nn.Module):
    """A per-frame CNN with GRUs over its taps, predicting valence and arousal for every frame.

    The per-frame CNN stage (:meth:`forward_taps`), shared by the family::

        frames [B*T, 3, H, W] -> backbone (timm, features_only) -> global average pooling
          "pool2": [B*T, C2]                      (an early stage; when the backbone taps one)
          "pool5": [B*T, C5 (+ 136 landmarks)]    (the last stage)
          "fc":    Dropout(ReLU(Linear(pool5)))   [B*T, fc_features]

    then, over time: for each group of ``rnn_inputs``, the group's taps concatenated ->
    ``GRU(hidden_size) x num_layers`` -> the GRU outputs concatenated ``[B, T, F]`` ->
    ``Linear(F, 2)`` -> tanh. AffWildNet is ``rnn_inputs=(("fc",),)``, CNN-1RNN
    ``(("pool2", "pool5", "fc"),)`` and CNN-3RNN ``(("pool2",), ("pool5",), ("fc",))``
    (``F = 3 * hidden_size``).

    Args:
        backbone: A module mapping images to a list of feature maps ``[N, C, h, w]``, one per
            entry of ``channels``: ``(pool5,)`` or ``(pool2, pool5)`` (a timm ``features_only``
            model, see :func:`build_features_backbone`).
        channels: Channels of each map the backbone returns, in order.
        rnn_inputs: Groups of tap names (``"pool2"``, ``"pool5"``, ``"fc"``); each group feeds its
            own GRU.
        fc_features: Width of the FC layer (4096 in the papers' VGG networks).
        landmarks: Append each frame's 68 landmarks (136 values, [-1, 1] crop coordinates) to the
            pooled last stage, before the FC layer (AffWildNet, CNN-RNNs).
        dropout: Dropout after the FC layer (0.5 in the papers).
        hidden_size: Units of each GRU layer (128 in the papers).
        num_layers: Stacked GRU layers (2 in the papers).
        rnn_dropout: Dropout on the output of every GRU layer but the last (``nn.GRU``'s
            ``dropout``; 0.8 on the first layer in the CNN-RNN paper).
        mean: Per-channel mean the backbone expects for [0, 1] images, or None (use [-1, 1] as is).
        std: Per-channel std matching ``mean``.
        clip_length: Frames per training clip (the input spec's); the model runs on any ``T``.
        image_size: Side of the training face crops (the input spec's); any size from 32 runs.

    Attributes:
        input_spec: Clips of ``clip_length`` frames of ``image_size`` crops, with landmarks when
            the model takes them.
        taps: The tap names, in order (``("pool2", "pool5", "fc")`` or ``("pool5", "fc")``).
        widths: Each tap's width.
        num_features: ``F``, the width of :meth:`forward_features`.

    Raises:
        ValueError: on an unknown tap, an empty group, bad sizes or dropouts, or only one of
            mean/std.
    """

    def __init__(
        self,
        backbone: nn.Module,
        channels: Sequence[int],
        rnn_inputs: Sequence[Sequence[str]],
        *,
        fc_features: int,
        landmarks: bool = False,
        dropout: float = 0.5,
        hidden_size: int = 128,
        num_layers: int = 2,
        rnn_dropout: float = 0.0,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        clip_length: int = 80,
        image_size: int = 96,
    ) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) not in (1, 2) or min(channels) < 1 or fc_features < 1:
            raise ValueError(
                f"need 1 or 2 tapped stages with channels >= 1 and fc_features >= 1, got "
                f"channels={channels}, fc_features={fc_features}"
            )
        self.taps: tuple[str, ...] = (
            ("pool2", "pool5", "fc") if len(channels) == 2 else ("pool5", "fc")
        )
        groups = tuple(tuple(group) for group in rnn_inputs)
        unknown = sorted({tap for group in groups for tap in group} - set(self.taps))
        if not groups or not all(groups) or unknown:
            raise ValueError(
                f"rnn_inputs must be non-empty groups of the taps {list(self.taps)}, "
                f"got {[list(g) for g in groups]}"
            )
        if hidden_size < 1 or num_layers < 1:
            raise ValueError(f"GRU sizes must be >= 1, got {hidden_size=} {num_layers=}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if not 0.0 <= rnn_dropout < 1.0 or (rnn_dropout and num_layers == 1):
            raise ValueError(
                f"rnn_dropout must be in [0, 1) and needs num_layers > 1, got {rnn_dropout} "
                f"with {num_layers} layer(s)"
            )
        self.input_spec = InputSpec(
            kind="clip", image_size=image_size, clip_length=clip_length, landmarks=bool(landmarks)
        )
        self.backbone = backbone
        self.channels = channels
        last = channels[-1] + (2 * NUM_LANDMARKS if landmarks else 0)
        self.widths: dict[str, int] = {"pool5": last, "fc": int(fc_features)}
        if len(channels) == 2:
            self.widths = {"pool2": channels[0], **self.widths}
        self.fc = nn.Sequential(
            nn.Linear(last, int(fc_features)), nn.ReLU(inplace=True), nn.Dropout(dropout)
        )
        self.rnn_inputs = groups
        self.rnns = nn.ModuleList(
            nn.GRU(
                sum(self.widths[tap] for tap in group),
                hidden_size,
                num_layers=num_layers,
                batch_first=True,
                dropout=rnn_dropout,
            )
            for group in groups
        )
        self.num_features = hidden_size * len(groups)
        self.head: nn.Module = nn.Linear(self.num_features, 2)
        self.input_norm = BackboneInput(mean, std)

    @property
    def tasks(self) -> dict[str, tuple]:
        """What the model predicts: valence and arousal."""
        return model_tasks()

    def forward_taps(
        self, frames: torch.Tensor, landmarks: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """The per-frame CNN stage: frames in [-1, 1] ``[N, 3, H, W]`` (and ``landmarks
        [N, 68, 2]`` when the model takes them; ignored otherwise) to ``{tap: [N, widths[tap]]}``.
        """
        pooled = [m.mean(dim=(2, 3)) for m in self.backbone(self.input_norm(frames))]
        last = pooled[-1]
        if self.input_spec.landmarks:
            if landmarks is None:
                raise ValueError("this model takes landmarks [N, 68, 2]; none were given")
            last = torch.cat([last, landmarks.flatten(1).to(last.dtype)], dim=1)
        taps = {"pool5": last, "fc": self.fc(last)}
        if len(pooled) == 2:
            taps = {"pool2": pooled[0], **taps}
        return taps

    def forward_features(
        self, x: torch.Tensor, landmarks: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Clips in [-1, 1] ``[B, T, 3, H, W]`` to per-frame GRU features ``[B, T, F]``.

        Args:
            x: The clips.
            landmarks: ``[B, T, 68, 2]`` in [-1, 1] crop coordinates (zeros for a frame without
                them); required when ``input_spec.landmarks``, ignored otherwise.

        Raises:
            ValueError: on a badly shaped clip, or missing or badly shaped landmarks.
        """
        return self.forward_features_stream(x, None, landmarks)[0]

    def forward_features_stream(
        self,
        x: torch.Tensor,
        state: Sequence[torch.Tensor] | None = None,
        landmarks: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """:meth:`forward_features` on the next frames of a stream: clips (and landmarks)
        continuing where ``state`` left off (None: the stream's start, GRUs from zeros), to the
        features ``[B, T, F]`` and each GRU's hidden state after them (what ensembles stream).

        Raises:
            ValueError: as :meth:`forward_features`, or a state of another number of GRUs.
        """
        batch, frames = _check_clip(x, landmarks, self.input_spec.landmarks)
        if state is not None and len(state) != len(self.rnns):
            raise ValueError(f"expected a state of {len(self.rnns)} GRU(s), got {len(state)}")
        points = landmarks.flatten(0, 1) if self.input_spec.landmarks else None
        taps = self.forward_taps(x.flatten(0, 1), points)
        outputs, hidden = [], []
        for i, (group, rnn) in enumerate(zip(self.rnn_inputs, self.rnns, strict=True)):
            sequence = torch.cat([taps[tap] for tap in group], dim=1).unflatten(0, (batch, frames))
            output, last = rnn(sequence, None if state is None else state[i])
            outputs.append(output)
            hidden.append(last)
        return torch.cat(outputs, dim=2), hidden

    def forward_stream(
        self,
        x: torch.Tensor,
        state: Sequence[torch.Tensor] | None = None,
        landmarks: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
        """The next frames of a stream: clips ``[B, T, 3, H, W]`` (and landmarks) continuing
        where ``state`` left off (None: the stream's start), to ``(outputs, state)``. Feeding a
        video window by window with the state passed on gives what one call on the whole video
        gives."""
        features, hidden = self.forward_features_stream(x, state, landmarks)
        return self.forward_heads(features), hidden

    def forward_heads(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features ``[B, T, F]`` to ``{"va": [B, T, 2]}`` in [-1, 1] (tanh; valence, arousal)."""
        return {"va": torch.tanh(self.head(features))}

    def forward(
        self, x: torch.Tensor, landmarks: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Clips (and landmarks) to the per-frame task dict of :meth:`forward_heads`."""
        return self.forward_heads(self.forward_features(x, landmarks))


class MTVGGGRU(CNNRNN):
    """The multi-task clip model: per-frame CNN + FC, a GRU, and one output layer for all tasks.

    ``clip -> CNN ("fc" tap) -> GRU(hidden_size) x num_layers -> MultiTaskHead`` (one output
    layer, no shared layers): ``{"va": [B, T, 2] in [-1, 1], "expr": [B, T, E] logits,
    "au": [B, T, A] logits}`` for every frame. No landmarks.

    Args:
        backbone: As :class:`CNNRNN`'s (the last stage only).
        channels: As :class:`CNNRNN`'s.
        fc_features: Width of the FC layer.
        expressions: Expression vocabulary: a name from ``schema.EXPRESSION_VOCABULARIES`` or names.
        aus: AU vocabulary: a name from ``schema.AU_VOCABULARIES`` or FACS numbers.
        dropout: Dropout after the FC layer.
        hidden_size: Units of each GRU layer.
        num_layers: Stacked GRU layers.
        rnn_dropout: Dropout between GRU layers.
        mean: Per-channel mean the backbone expects for [0, 1] images, or None.
        std: Per-channel std matching ``mean``.
        clip_length: Frames per training clip (90 in the paper).
        image_size: Side of the training face crops.

    Attributes:
        expressions: The resolved expression vocabulary (head order of ``"expr"``).
        aus: The resolved AU vocabulary (head order of ``"au"``).
    """

    def __init__(
        self,
        backbone: nn.Module,
        channels: Sequence[int],
        *,
        fc_features: int,
        expressions: str | Iterable[str] = "basic7",
        aus: str | Iterable[int | str] = "fbn17",
        dropout: float = 0.5,
        hidden_size: int = 128,
        num_layers: int = 2,
        rnn_dropout: float = 0.0,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        clip_length: int = 90,
        image_size: int = 96,
    ) -> None:
        super().__init__(
            backbone,
            channels,
            (("fc",),),
            fc_features=fc_features,
            dropout=dropout,
            hidden_size=hidden_size,
            num_layers=num_layers,
            rnn_dropout=rnn_dropout,
            mean=mean,
            std=std,
            clip_length=clip_length,
            image_size=image_size,
        )
        self.expressions = resolve_expressions(expressions)
        self.aus = resolve_aus(aus)
        self.head = MultiTaskHead(
            self.num_features, len(self.expressions), len(self.aus), hidden=(), dropout=0.0
        )

    @property
    def tasks(self) -> dict[str, tuple]:
        """What the model predicts: VA, its expressions and its AUs."""
        return model_tasks(expressions=self.expressions, aus=self.aus)

    def forward_heads(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features ``[B, T, F]`` to ``{"va": [B, T, 2] in [-1, 1], "expr": [B, T, E],
        "au": [B, T, A]}`` (logits)."""
        outputs = self.head(features.flatten(0, 1))
        return {task: value.unflatten(0, features.shape[:2]) for task, value in outputs.items()}

    def reset_heads(
        self,
        expressions: str | Iterable[str] | None = None,
        aus: str | Iterable[int | str] | None = None,
    ) -> None:
        """A new output layer for other vocabularies (fine-tuning); ``None`` keeps a vocabulary.

        As FaceBehaviorNet's: the outputs of every vocabulary given are freshly initialised (also
        when the size is unchanged); VA, the vocabularies not given, the GRU and the CNN keep
        their trained weights.
        """
        keep = ["va"]
        if expressions is not None:
            self.expressions = resolve_expressions(expressions)
        else:
            keep.append("expr")
        if aus is not None:
            self.aus = resolve_aus(aus)
        else:
            keep.append("au")
        self.head.reset(len(self.expressions), len(self.aus), 0, keep=keep)


def _check_clip(
    x: torch.Tensor, landmarks: torch.Tensor | None, uses_landmarks: bool
) -> tuple[int, int]:
    """``(B, T)`` of a clip batch; a clear error for a bad shape or missing landmarks."""
    if x.ndim != 5 or x.shape[2] != 3 or x.shape[1] < 1:
        raise ValueError(f"expected clips [B, T, 3, H, W] with T >= 1, got shape {tuple(x.shape)}")
    batch, frames = x.shape[:2]
    if uses_landmarks:
        if landmarks is None:
            raise ValueError(
                "this model takes landmarks (input_spec.landmarks): pass landmarks "
                "[B, T, 68, 2] in [-1, 1] crop coordinates (zeros where a frame has none)"
            )
        if tuple(landmarks.shape) != (batch, frames, NUM_LANDMARKS, 2):
            raise ValueError(
                f"expected landmarks [B, T, 68, 2] = {[batch, frames, NUM_LANDMARKS, 2]}, "
                f"got shape {tuple(landmarks.shape)}"
            )
    return batch, frames


# ---------------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------------


def load_features_weights(
    features: nn.Module, state: Mapping[str, torch.Tensor], source: str
) -> None:
    """Copy a whole timm backbone's weights into its ``features_only`` version, strictly.

    timm's ``features_only`` wrappers keep the backbone's parameter names, except that nested
    sequential modules are flattened (VGG's ``features.0`` becomes ``features_0``), and they drop
    the layers after the last tapped stage (VGG's fc6/fc7, EfficientNet's ``conv_head``). Keys are
    matched with ``.`` and ``_`` treated alike; entries of ``state`` the features model does not
    have are ignored.

    Args:
        features: The ``features_only`` model.
        state: A state dict of the whole backbone (``num_classes=0``).
        source: Where ``state`` comes from, for error messages.

    Raises:
        ValueError: If a weight of ``features`` is missing from ``state`` or has another shape.
    """
    by_name: dict[str, list[str]] = {}
    for key in state:
        by_name.setdefault(key.replace(".", "_"), []).append(key)
    own = features.state_dict()
    copied, missing, wrong = {}, [], []
    for key, value in own.items():
        found = by_name.get(key.replace(".", "_"), [])
        if len(found) != 1:
            missing.append(key)
        elif state[found[0]].shape != value.shape:
            wrong.append(key)
        else:
            copied[key] = state[found[0]]
    if missing or wrong:
        raise ValueError(
            f"backbone weights from {source} do not fit {type(features).__name__}: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"wrong shape {wrong[:5]}{'...' if len(wrong) > 5 else ''}"
        )
    features.load_state_dict(copied, strict=True)


def build_features_backbone(
    backbone: str,
    *,
    pool2_index: int | None = None,
    pretrained: bool = False,
    checkpoint_path: str | Path | None = None,
    **backbone_kwargs: Any,
) -> tuple[nn.Module, list[int]]:
    """A timm ``features_only`` backbone tapping ``(pool5,)`` or ``(pool2, pool5)``.

    Args:
        backbone: A timm architecture name (``"vgg16"``, ``"resnet18"``, ``"test_resnet"``...).
        pool2_index: Index into timm's ``feature_info`` of the early ``"pool2"`` tap (1: VGG's
            second block, 128 channels; a ResNet's ``layer1``), or None for no such tap. The
            ``"pool5"`` tap is always the last stage.
        pretrained: timm's pretrained weights from the local cache (tests and the demo never set
            it).
        checkpoint_path: A local weights file of the whole backbone (``.safetensors``, ``.pth``...;
            as for :func:`~holistic.models.backbones.build_timm_backbone`). When given, it is the
            weights and ``pretrained`` fetches nothing.
        **backbone_kwargs: Passed to ``timm.create_model``.

    Returns:
        The model (its forward gives a list of feature maps) and their channels.

    Raises:
        ValueError: If ``backbone`` is not a timm model, ``pool2_index`` is not an earlier stage
            than the last, or the weights file does not fit.
    """
    import timm

    if not timm.is_model(backbone):
        raise ValueError(f"{backbone!r} is not a timm model (timm.list_models() lists them)")
    fixed = sorted({"features_only", "out_indices", "num_classes"} & set(backbone_kwargs))
    if fixed:
        raise ValueError(f"build_features_backbone sets {fixed} itself")
    out_indices = (-1,) if pool2_index is None else (pool2_index, -1)
    use_timm_weights = pretrained and checkpoint_path is None
    try:
        net = timm.create_model(
            backbone,
            pretrained=use_timm_weights,
            features_only=True,
            out_indices=out_indices,
            **backbone_kwargs,
        )
    except IndexError:
        if pool2_index is None:
            raise
        raise ValueError(f"pool2_index {pool2_index} is not a stage of {backbone!r}") from None
    stages = len(net.feature_info.info)
    if pool2_index is not None and pool2_index % stages == stages - 1:
        raise ValueError(
            f"pool2_index must name a stage before the last of {backbone!r} (0..{stages - 2}), "
            f"got {pool2_index}"
        )
    if checkpoint_path is not None:
        state = _read_backbone_file(backbone, checkpoint_path, backbone_kwargs)
        load_features_weights(net, state, repr(str(checkpoint_path)))
    return net, list(net.feature_info.channels())


def _read_backbone_file(
    backbone: str, path: str | Path, backbone_kwargs: Mapping[str, Any]
) -> dict[str, torch.Tensor]:
    """A local weights file for ``backbone``, checked against the whole timm model.

    Every key of the file must belong to the whole backbone (built on the meta device: names and
    shapes only), so weights of another architecture are refused even where the features model's
    keys happen to be among them; the layers after the last tap (VGG's fc6/fc7) may be absent, and
    a classifier the backbone does not have (an ImageNet ``fc``) is dropped. Names are compared
    with ``.`` and ``_`` alike, as in :func:`load_features_weights`.

    Raises:
        ValueError: a key the backbone does not have, or a shape it does not have.
    """
    import timm

    with torch.device("meta"):
        whole = timm.create_model(backbone, num_classes=0, **backbone_kwargs)
    state = load_state_dict_file(path)
    own = whole.state_dict()
    classifier = (getattr(whole, "pretrained_cfg", None) or {}).get("classifier") or ()
    classifiers = (classifier,) if isinstance(classifier, str) else tuple(classifier)
    state = {
        key: value
        for key, value in state.items()
        if key in own or not any(key.startswith(f"{name}.") for name in classifiers)
    }
    own = {key.replace(".", "_"): value for key, value in own.items()}
    unexpected = sorted(k for k in state if k.replace(".", "_") not in own)
    wrong = sorted(
        k for k in state if k not in unexpected and own[k.replace(".", "_")].shape != state[k].shape
    )
    if unexpected or wrong:
        raise ValueError(
            f"backbone weights {str(path)!r} do not fit {backbone!r}: "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}, "
            f"wrong shape {wrong[:5]}{'...' if len(wrong) > 5 else ''}"
        )
    return state


def _normalisation(net: nn.Module) -> dict[str, Any]:
    """The backbone's own input ``mean``/``std`` (in [0, 1] units), or None for both."""
    cfg = getattr(net, "pretrained_cfg", None) or {}
    mean, std = cfg.get("mean"), cfg.get("std")
    if mean is None or std is None or len(mean) != 3 or len(std) != 3:
        return {"mean": None, "std": None}
    return {"mean": tuple(mean), "std": tuple(std)}


def _build_cnn_rnn(
    backbone: str,
    rnn_inputs: Sequence[Sequence[str]],
    *,
    pool2_index: int | None,
    pretrained: bool,
    checkpoint_path: str | Path | None,
    init_from: str | Path | None,
    backbone_kwargs: dict[str, Any],
    **model_kwargs: Any,
) -> CNNRNN:
    net, channels = build_features_backbone(
        backbone,
        pool2_index=pool2_index,
        pretrained=pretrained and init_from is None,
        checkpoint_path=checkpoint_path if init_from is None else None,
        **backbone_kwargs,
    )
    if init_from is not None:
        _init_backbone_from(net, backbone, init_from)
    return CNNRNN(net, channels, rnn_inputs, **_normalisation(net), **model_kwargs)


def build_affwildnet(
    backbone: str = "resnet18",
    *,
    fc_features: int = 256,
    landmarks: bool = False,
    dropout: float = 0.5,
    hidden_size: int = 128,
    num_layers: int = 2,
    rnn_dropout: float = 0.0,
    clip_length: int = 80,
    image_size: int = 96,
    pretrained: bool = False,
    checkpoint_path: str | Path | None = None,
    init_from: str | Path | None = None,
    **backbone_kwargs: Any,
) -> CNNRNN:
    """AffWildNet: last-pool features (+ landmarks) -> FC + dropout -> 2-layer GRU -> VA per frame.

    Args:
        backbone: A timm architecture (the paper: VGG-FACE, or ResNet-50 with a 1500-unit FC).
        fc_features: Width of the FC layer (4096 with VGG in the paper).
        landmarks: Take the 68 landmarks of each frame (concatenated to the last-pool features).
        dropout: Dropout after the FC layer (0.5).
        hidden_size: GRU units per layer (128).
        num_layers: GRU layers (2).
        rnn_dropout: Dropout between the GRU layers (the paper gives none).
        clip_length: Frames per training clip (80 in the paper).
        image_size: Side of the training face crops (96 in the paper).
        pretrained: timm's pretrained backbone weights from the local cache.
        checkpoint_path: A local backbone weights file.
        init_from: A holistic checkpoint of a model with a ``backbone`` of the same timm
            architecture (a trained FaceBehaviorNet): its backbone weights start the CNN, as the
            papers start from a trained frame CNN. Not saved with the model (its weights are).
        **backbone_kwargs: Passed to ``timm.create_model``.
    """
    return _build_cnn_rnn(
        backbone,
        (("fc",),),
        fc_features=fc_features,
        pool2_index=None,
        landmarks=landmarks,
        dropout=dropout,
        hidden_size=hidden_size,
        num_layers=num_layers,
        rnn_dropout=rnn_dropout,
        clip_length=clip_length,
        image_size=image_size,
        pretrained=pretrained,
        checkpoint_path=checkpoint_path,
        init_from=init_from,
        backbone_kwargs=backbone_kwargs,
    )


def build_cnn1rnn(
    backbone: str = "resnet18",
    *,
    fc_features: int = 256,
    pool2_index: int = 1,
    landmarks: bool = False,
    dropout: float = 0.5,
    hidden_size: int = 128,
    num_layers: int = 2,
    rnn_dropout: float = 0.8,
    clip_length: int = 80,
    image_size: int = 96,
    pretrained: bool = False,
    checkpoint_path: str | Path | None = None,
    init_from: str | Path | None = None,
    **backbone_kwargs: Any,
) -> CNNRNN:
    """CNN-1RNN: one 2-layer GRU over the concatenated pool2, pool5 (+ landmarks) and FC taps.

    Args as :func:`build_cnn3rnn`.
    """
    return _build_cnn_rnn(
        backbone,
        (("pool2", "pool5", "fc"),),
        fc_features=fc_features,
        pool2_index=pool2_index,
        landmarks=landmarks,
        dropout=dropout,
        hidden_size=hidden_size,
        num_layers=num_layers,
        rnn_dropout=rnn_dropout,
        clip_length=clip_length,
        image_size=image_size,
        pretrained=pretrained,
        checkpoint_path=checkpoint_path,
        init_from=init_from,
        backbone_kwargs=backbone_kwargs,
    )


def build_cnn3rnn(
    backbone: str = "resnet18",
    *,
    fc_features: int = 256,
    pool2_index: int = 1,
    landmarks: bool = False,
    dropout: float = 0.5,
    hidden_size: int = 128,
    num_layers: int = 2,
    rnn_dropout: float = 0.8,
    clip_length: int = 80,
    image_size: int = 96,
    pretrained: bool = False,
    checkpoint_path: str | Path | None = None,
    init_from: str | Path | None = None,
    **backbone_kwargs: Any,
) -> CNNRNN:
    """CNN-3RNN: one 2-layer GRU per tap (pool2, pool5 + landmarks, FC), outputs concatenated.

    Args:
        backbone: A timm architecture (the paper: VGG-FACE).
        fc_features: Width of the FC layer (4096 in the paper).
        pool2_index: ``feature_info`` index of the early ``"pool2"`` tap (1).
        landmarks: Take the 68 landmarks of each frame (appended to the last-pool tap).
        dropout: Dropout after the FC layer (0.5).
        hidden_size: GRU units per layer (128).
        num_layers: GRU layers (2).
        rnn_dropout: Dropout on the first GRU layer's output (0.8, read as a drop probability).
        clip_length: Frames per training clip (80).
        image_size: Side of the training face crops (96).
        pretrained: timm's pretrained backbone weights from the local cache.
        checkpoint_path: A local backbone weights file.
        init_from: A holistic checkpoint of a model with a ``backbone`` of the same timm
            architecture (a trained FaceBehaviorNet): its backbone weights start the CNN, as the
            papers start from a trained frame CNN. Not saved with the model (its weights are).
        **backbone_kwargs: Passed to ``timm.create_model``.
    """
    return _build_cnn_rnn(
        backbone,
        (("pool2",), ("pool5",), ("fc",)),
        fc_features=fc_features,
        pool2_index=pool2_index,
        landmarks=landmarks,
        dropout=dropout,
        hidden_size=hidden_size,
        num_layers=num_layers,
        rnn_dropout=rnn_dropout,
        clip_length=clip_length,
        image_size=image_size,
        pretrained=pretrained,
        checkpoint_path=checkpoint_path,
        init_from=init_from,
        backbone_kwargs=backbone_kwargs,
    )


def build_mtvgggru(
    backbone: str = "resnet18",
    *,
    expressions: str | Iterable[str] = "basic7",
    aus: str | Iterable[int | str] = "fbn17",
    fc_features: int = 256,
    dropout: float = 0.5,
    hidden_size: int = 128,
    num_layers: int = 2,
    rnn_dropout: float = 0.0,
    clip_length: int = 90,
    image_size: int = 96,
    init_from: str | Path | None = None,
    pretrained: bool = False,
    checkpoint_path: str | Path | None = None,
    **backbone_kwargs: Any,
) -> MTVGGGRU:
    """MT-VGG-GRU: per-frame CNN + FC -> 2-layer GRU -> VA, expressions and AUs per frame.

    Args:
        backbone: A timm architecture (the paper: VGG-FACE, as in MT-VGG).
        expressions: Expression vocabulary (name or list).
        aus: AU vocabulary (name or list).
        fc_features: Width of the FC layer.
        dropout: Dropout after the FC layer.
        hidden_size: GRU units per layer (128).
        num_layers: GRU layers (2).
        rnn_dropout: Dropout between the GRU layers.
        clip_length: Frames per training clip (90 in the paper).
        image_size: Side of the training face crops.
        init_from: A holistic checkpoint (written by ``save_model``) of a model with a ``backbone``
            of the same timm architecture, e.g. a trained FaceBehaviorNet: its backbone weights
            are copied into the CNN (the FC, GRU and output layer start fresh). Applied after
            ``pretrained``/``checkpoint_path``. Not saved with the model (its weights are).
        pretrained: timm's pretrained backbone weights from the local cache.
        checkpoint_path: A local backbone weights file.
        **backbone_kwargs: Passed to ``timm.create_model``.

    Raises:
        ValueError: If ``init_from``'s model has no backbone or another architecture.
    """
    net, channels = build_features_backbone(
        backbone,
        pretrained=pretrained and init_from is None,
        checkpoint_path=checkpoint_path if init_from is None else None,
        **backbone_kwargs,
    )
    if init_from is not None:
        _init_backbone_from(net, backbone, init_from)
    return MTVGGGRU(
        net,
        channels,
        fc_features=fc_features,
        expressions=expressions,
        aus=aus,
        dropout=dropout,
        hidden_size=hidden_size,
        num_layers=num_layers,
        rnn_dropout=rnn_dropout,
        clip_length=clip_length,
        image_size=image_size,
        **_normalisation(net),
    )


def _init_backbone_from(features: nn.Module, architecture: str, path: str | Path) -> None:
    from .checkpoint import load_model

    source = load_model(path)
    backbone = getattr(source, "backbone", None)
    if not isinstance(backbone, nn.Module):
        raise ValueError(
            f"init_from {str(path)!r}: its model ({type(source).__name__}) has no backbone to copy"
        )
    theirs = (getattr(backbone, "pretrained_cfg", None) or {}).get("architecture")
    if theirs != architecture:
        raise ValueError(
            f"init_from {str(path)!r}: its backbone is {theirs!r}, this model's is "
            f"{architecture!r}; build the model with backbone={theirs!r} or another checkpoint"
        )
    load_features_weights(features, backbone.state_dict(), f"init_from {str(path)!r}")


# ---------------------------------------------------------------------------------------------
# Registered variants
# ---------------------------------------------------------------------------------------------

# The tiny variants: timm's test_resnet (layer1 32 channels, layer4 96), 16-unit FC and GRUs,
# 4-frame clips of 32 px: milliseconds on a CPU.
_TINY = {"backbone": "test_resnet", "fc_features": 16, "hidden_size": 16}
_TINY_SPEC = {"clip_length": 4, "image_size": 32}


@register_model
def affwildnet_vgg16(**kwargs: Any) -> CNNRNN:
    """AffWildNet as in the paper: VGG-16 conv layers, FC 4096, GRU 2 x 128, 80 frames of 96 px."""
    return build_affwildnet(**{"backbone": "vgg16", "fc_features": 4096, **kwargs})


@register_model
def affwildnet_resnet50(**kwargs: Any) -> CNNRNN:
    """AffWildNet on ResNet-50 with the paper's 1500-unit FC."""
    return build_affwildnet(**{"backbone": "resnet50", "fc_features": 1500, **kwargs})


@register_model
def affwildnet_resnet18(**kwargs: Any) -> CNNRNN:
    """AffWildNet on ResNet-18 with a 256-unit FC (CPU-sized)."""
    return build_affwildnet(**{"backbone": "resnet18", "fc_features": 256, **kwargs})


@register_model
def test_affwildnet(**kwargs: Any) -> CNNRNN:
    """A tiny AffWildNet (timm's ``test_resnet``) for CPU tests."""
    return build_affwildnet(**{**_TINY, **_TINY_SPEC, **kwargs})


@register_model
def cnn1rnn_vgg16(**kwargs: Any) -> CNNRNN:
    """CNN-1RNN as in the paper: VGG-16, taps pool2 (128) + pool5 (512) + FC 4096, one GRU."""
    return build_cnn1rnn(**{"backbone": "vgg16", "fc_features": 4096, **kwargs})


@register_model
def cnn3rnn_vgg16(**kwargs: Any) -> CNNRNN:
    """CNN-3RNN as in the paper: VGG-16, three GRUs over pool2 (128), pool5 (512), FC 4096."""
    return build_cnn3rnn(**{"backbone": "vgg16", "fc_features": 4096, **kwargs})


@register_model
def cnn1rnn_resnet18(**kwargs: Any) -> CNNRNN:
    """CNN-1RNN on ResNet-18: taps layer1 (64) + layer4 (512) + FC 256, one GRU."""
    return build_cnn1rnn(**{"backbone": "resnet18", "fc_features": 256, **kwargs})


@register_model
def cnn3rnn_resnet18(**kwargs: Any) -> CNNRNN:
    """CNN-3RNN on ResNet-18: three GRUs over layer1 (64), layer4 (512), FC 256."""
    return build_cnn3rnn(**{"backbone": "resnet18", "fc_features": 256, **kwargs})


@register_model
def test_cnn1rnn(**kwargs: Any) -> CNNRNN:
    """A tiny CNN-1RNN (timm's ``test_resnet``) for CPU tests."""
    return build_cnn1rnn(**{**_TINY, **_TINY_SPEC, **kwargs})


@register_model
def test_cnn3rnn(**kwargs: Any) -> CNNRNN:
    """A tiny CNN-3RNN (timm's ``test_resnet``) for CPU tests."""
    return build_cnn3rnn(**{**_TINY, **_TINY_SPEC, **kwargs})


@register_model
def mtvgggru_vgg16(**kwargs: Any) -> MTVGGGRU:
    """MT-VGG-GRU on VGG-16 conv layers with FC 4096, GRU 2 x 128, 90-frame clips of 96 px."""
    return build_mtvgggru(**{"backbone": "vgg16", "fc_features": 4096, **kwargs})


@register_model
def mtvgggru_resnet18(**kwargs: Any) -> MTVGGGRU:
    """MT-VGG-GRU on ResNet-18 with a 256-unit FC (starts from ``facebehaviornet_resnet18``)."""
    return build_mtvgggru(**{"backbone": "resnet18", "fc_features": 256, **kwargs})


@register_model
def test_mtvgggru(**kwargs: Any) -> MTVGGGRU:
    """A tiny MT-VGG-GRU on timm's ``test_resnet`` (starts from ``test_facebehaviornet``)."""
    return build_mtvgggru(**{**_TINY, **_TINY_SPEC, **kwargs})
