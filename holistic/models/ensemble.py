"""Ensembles of clip models: model-level fusion and decision-level fusion (the OMG-Emotion entry).

The FaceBehaviorNet paper combines its CNN-1RNN and CNN-3RNN networks two ways
(``reference/metrics.md`` sections 1 and 7.3):

- **Model-level fusion** (:class:`ModelFusion`): the members' per-frame RNN features
  (``forward_features``) are concatenated and fed to a GRU of 128 units ("+ RNN") or a 128-unit
  fully connected layer ("+ FC"), then a valence-arousal output layer; trained end to end.
- **Decision-level fusion** (:class:`DecisionFusion`): Eq. 3,
  ``O_i = sum_n t_i^n o_i^n / sum_n t_i^n`` for ``i`` in {valence, arousal}, where ``o_i^n`` is
  member ``n``'s prediction and ``t_i^n`` its validation CCC. The members are trained separately;
  the ensemble adds no trainable parameters.

Members are built through the registry from JSON-ready descriptions
(``[{"name": "cnn1rnn_resnet18", "kwargs": {...}}, ...]``), so an ensemble is one registered model:
``create_model`` builds it, ``save_model`` writes it and ``load_model`` rebuilds it, members
included. ``member_checkpoints`` starts the members from trained checkpoints; like any weight
source it is not saved (the ensemble's own weights are).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._registry import create_model, register_model
from .checkpoint import _WEIGHT_SOURCES, load_model, read_model_json
from .spec import VA_NAMES, model_tasks

__all__ = [
    "DecisionFusion",
    "ModelFusion",
    "build_decisionfusion",
    "build_members",
    "build_modelfusion",
    "decision_fusion_weights",
]

#: Fusion heads of :class:`ModelFusion`.
FUSION_HEADS: tuple[str, ...] = ("gru", "fc")
#: The weight a member with a non-positive validation CCC gets before normalisation in Eq. 3
#: (members with a positive CCC of ~0.3-0.5 then outweigh it by ~10^5).
MIN_CCC = 1e-6


def _check_members(members: Sequence[nn.Module], needs: str) -> None:
    """Members exist, are clip models with one input spec, and have what the ensemble uses."""
    if not members:
        raise ValueError("an ensemble needs at least one member")
    for index, member in enumerate(members):
        name = getattr(member, "build_args", {}).get("name", type(member).__name__)
        if not getattr(member, "input_spec", None) or not member.input_spec.is_clip:
            raise ValueError(f"member {index} ({name}) is not a clip model")
        if needs == "features" and not (
            hasattr(member, "forward_features_stream") and hasattr(member, "num_features")
        ):
            raise ValueError(
                f"member {index} ({name}) has no forward_features_stream/num_features "
                "(model-level fusion reads a CNN-RNN's per-frame GRU features)"
            )
        if needs == "va" and "va" not in getattr(member, "tasks", {}):
            raise ValueError(f"member {index} ({name}) predicts no valence-arousal")
    specs = [member.input_spec for member in members]
    if any(spec != specs[0] for spec in specs[1:]):
        listed = "; ".join(f"member {i}: {spec}" for i, spec in enumerate(specs))
        raise ValueError(
            f"the members of an ensemble share one input, so their input specs must agree; "
            f"got {listed}"
        )


def _stream_parts(state: Sequence[Any] | None, parts: int, what: str) -> list[Any]:
    """An ensemble's stream state split into its parts (None: every part starts its stream)."""
    if state is None:
        return [None] * parts
    if len(state) != parts:
        raise ValueError(f"expected a state of {parts} part(s) ({what}), got {len(state)}")
    return list(state)


class ModelFusion(nn.Module):
    """Model-level fusion: the members' per-frame features, concatenated, into a GRU or FC head.

    ``clip -> each member's forward_features [B, T, F_n] -> concatenate [B, T, sum F_n] ->
    GRU(hidden_size) or Dropout(ReLU(Linear(hidden_size))) -> Linear(hidden_size, 2) -> tanh``.

    The members' own output layers are removed (set to ``None``): the ensemble reads their RNN
    features, and an unused layer would hold parameters without gradients.

    Args:
        members: Clip models with ``forward_features`` and ``num_features`` (CNN-RNNs) and equal
            input specs; they all get the same clip (and landmarks).
        head: ``"gru"`` (a 1-layer GRU, the paper's "Model-level fusion + RNN") or ``"fc"``
            ("+ FC").
        hidden_size: Units of the fusion GRU or FC layer (128).
        dropout: Dropout after the FC head's layer (unused by the GRU head).

    Attributes:
        input_spec: The members' (common) input spec.
        num_features: ``hidden_size``, the width of :meth:`forward_features`.

    Raises:
        ValueError: no members, members without features, disagreeing input specs, an unknown
            head.
    """

    def __init__(
        self,
        members: Sequence[nn.Module],
        *,
        head: str = "gru",
        hidden_size: int = 128,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        _check_members(members, "features")
        if head not in FUSION_HEADS:
            raise ValueError(f"head must be one of {list(FUSION_HEADS)}, got {head!r}")
        if hidden_size < 1 or not 0.0 <= dropout < 1.0:
            raise ValueError(
                f"need hidden_size >= 1 and dropout in [0, 1), got {hidden_size}, {dropout}"
            )
        for member in members:
            if hasattr(member, "head"):
                member.head = None
        self.members = nn.ModuleList(members)
        self.input_spec = members[0].input_spec
        self.head_type = head
        width = sum(int(member.num_features) for member in members)
        if head == "gru":
            self.fusion: nn.Module = nn.GRU(width, hidden_size, batch_first=True)
        else:
            self.fusion = nn.Sequential(
                nn.Linear(width, hidden_size), nn.ReLU(inplace=True), nn.Dropout(dropout)
            )
        self.num_features = hidden_size
        self.head = nn.Linear(hidden_size, 2)

    @property
    def tasks(self) -> dict[str, tuple]:
        """What the ensemble predicts: valence and arousal."""
        return model_tasks()

    @property
    def backbone(self) -> nn.ModuleList:
        """The members' CNNs together (``member.backbone``), to freeze or unfreeze as a whole."""
        return nn.ModuleList(m.backbone for m in self.members if hasattr(m, "backbone"))

    def forward_features(
        self, x: torch.Tensor, landmarks: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Clips ``[B, T, 3, H, W]`` (and landmarks ``[B, T, 68, 2]`` when the members take them)
        to the fused per-frame features ``[B, T, hidden_size]``."""
        return self.forward_features_stream(x, None, landmarks)[0]

    def forward_features_stream(
        self,
        x: torch.Tensor,
        state: Sequence[Any] | None = None,
        landmarks: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, list[Any]]:
        """:meth:`forward_features` on the next frames of a stream, continuing where ``state``
        left off (None: the stream's start), to ``(features, state)``. The state holds each
        member's GRU states, in order, then (GRU head) the fusion GRU's hidden state.

        Raises:
            ValueError: as the members' ``forward_features``, or a state of another shape.
        """
        recurrent = self.head_type == "gru"
        what = "one per member" + (", then the fusion GRU's" if recurrent else "")
        parts = _stream_parts(state, len(self.members) + recurrent, what)
        features, states = [], []
        for member, part in zip(self.members, parts[: len(self.members)], strict=True):
            member_features, member_state = member.forward_features_stream(x, part, landmarks)
            features.append(member_features)
            states.append(member_state)
        fused = torch.cat(features, dim=2)
        if not recurrent:
            return self.fusion(fused), states
        fused, hidden = self.fusion(fused, parts[-1])
        return fused, [*states, hidden]

    def forward_stream(
        self,
        x: torch.Tensor,
        state: Sequence[Any] | None = None,
        landmarks: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], list[Any]]:
        """The next frames of a stream (``holistic predict`` on a face track): clips (and
        landmarks) continuing where ``state`` left off (None: the stream's start), to
        ``(outputs, state)``; window by window equals one call on the whole video."""
        features, state = self.forward_features_stream(x, state, landmarks)
        return self.forward_heads(features), state

    def forward_heads(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features ``[B, T, hidden_size]`` to ``{"va": [B, T, 2]}`` in [-1, 1] (tanh)."""
        return {"va": torch.tanh(self.head(features))}

    def forward(
        self, x: torch.Tensor, landmarks: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Clips (and landmarks) to ``{"va": [B, T, 2]}``."""
        return self.forward_heads(self.forward_features(x, landmarks))


class DecisionFusion(nn.Module):
    """Decision-level fusion (Eq. 3): the members' VA predictions averaged with CCC weights.

    ``va[b, t, i] = sum_n w[n, i] * va_n[b, t, i]`` with ``w[n, i] = t_i^n / sum_m t_i^m``,
    ``t_i^n`` member ``n``'s validation CCC for output ``i`` (valence, arousal), after
    :func:`decision_fusion_weights` (a non-positive CCC counts as :data:`MIN_CCC`). The weights are
    a buffer (``fusion_weights``, ``[N, 2]``, saved with the model); the ensemble has no trainable
    parameters of its own.

    Args:
        members: Clip models predicting ``"va"`` with equal input specs.
        weights: Validation CCCs ``[members][valence, arousal]``, or None for equal weights.

    Attributes:
        input_spec: The members' (common) input spec.
        num_features: ``2 N``, the width of :meth:`forward_features`.

    Raises:
        ValueError: no members, a member without VA, disagreeing input specs, weights of the wrong
            shape or out of [-1, 1].
    """

    def __init__(
        self, members: Sequence[nn.Module], weights: Sequence[Sequence[float]] | None = None
    ) -> None:
        super().__init__()
        _check_members(members, "va")
        if weights is None:
            weights = [[1.0, 1.0]] * len(members)
        if len(weights) != len(members):
            raise ValueError(
                f"weights: one [valence, arousal] pair per member ({len(members)}), "
                f"got {len(weights)}"
            )
        self.members = nn.ModuleList(members)
        self.input_spec = members[0].input_spec
        self.register_buffer("fusion_weights", torch.tensor(decision_fusion_weights(weights)))
        self.num_features = 2 * len(members)

    @property
    def tasks(self) -> dict[str, tuple]:
        """What the ensemble predicts: valence and arousal."""
        return model_tasks()

    def forward_features(
        self, x: torch.Tensor, landmarks: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Clips to the members' VA predictions side by side, ``[B, T, 2 N]``
        (``valence_0, arousal_0, valence_1, ...``)."""
        return torch.cat([member(x, landmarks)["va"] for member in self.members], dim=2)

    def forward_stream(
        self,
        x: torch.Tensor,
        state: Sequence[Any] | None = None,
        landmarks: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], list[Any]]:
        """The next frames of a stream (``holistic predict`` on a face track): each member's
        ``forward_stream``, its state carried in ``state`` (one part per member; None: the
        stream's start), fused by Eq. 3, to ``(outputs, state)``.

        Raises:
            ValueError: a member without a stream form, or a state of another shape.
        """
        parts = _stream_parts(state, len(self.members), "one per member")
        predictions, states = [], []
        for index, (member, part) in enumerate(zip(self.members, parts, strict=True)):
            if not hasattr(member, "forward_stream"):
                name = getattr(member, "build_args", {}).get("name", type(member).__name__)
                raise ValueError(
                    f"member {index} ({name}) has no stream form (forward_stream), so the "
                    "ensemble cannot run on a stream; evaluate it on whole clips instead"
                )
            outputs, member_state = member.forward_stream(x, part, landmarks)
            predictions.append(outputs["va"])
            states.append(member_state)
        return self.forward_heads(torch.cat(predictions, dim=2)), states

    def forward_heads(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """The members' predictions ``[B, T, 2 N]`` to Eq. 3's ``{"va": [B, T, 2]}``."""
        stacked = features.unflatten(2, (len(self.members), 2))
        return {"va": (stacked * self.fusion_weights.to(stacked.dtype)).sum(dim=2)}

    def forward(
        self, x: torch.Tensor, landmarks: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Clips (and landmarks) to the fused ``{"va": [B, T, 2]}``."""
        return self.forward_heads(self.forward_features(x, landmarks))


def decision_fusion_weights(
    ccc_per_member: Sequence[Sequence[float]], min_ccc: float = MIN_CCC
) -> list[list[float]]:
    """Eq. 3's normalised weights ``t_i^n / sum_m t_i^m`` from the members' validation CCCs.

    A member whose CCC for an output is not positive (no better than a constant prediction)
    counts as ``min_ccc`` there, so it gets almost no weight but the weights stay defined. When
    no member has a positive CCC for an output, that output's members are weighted equally, with
    a warning.

    Args:
        ccc_per_member: ``[members][valence, arousal]`` CCCs, each in [-1, 1].
        min_ccc: The CCC a non-positive one is raised to (> 0).

    Returns:
        ``[members][valence, arousal]`` weights; each column sums to 1.

    Raises:
        ValueError: no members, a row that is not a pair, a CCC that is not a number in [-1, 1].
    """
    rows = [list(row) for row in ccc_per_member]
    if not rows or any(len(row) != 2 for row in rows):
        raise ValueError(
            f"expected CCCs [members][valence, arousal] (pairs, at least one), got {rows}"
        )
    for n, row in enumerate(rows):
        for i, value in enumerate(row):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or abs(value) > 1:
                raise ValueError(
                    f"member {n} {VA_NAMES[i]}: a CCC is a number in [-1, 1], got {value!r}"
                )
    if not min_ccc > 0:
        raise ValueError(f"min_ccc must be > 0, got {min_ccc}")
    columns = []
    for i, name in enumerate(VA_NAMES):
        ccc = [float(row[i]) for row in rows]
        if all(value <= 0 for value in ccc):
            warnings.warn(
                f"decision-level fusion: no member has a positive {name} CCC ({ccc}); "
                "weighting the members equally",
                stacklevel=2,
            )
            ccc = [1.0] * len(ccc)
        clamped = [max(value, min_ccc) for value in ccc]
        total = sum(clamped)
        columns.append([value / total for value in clamped])
    return [[columns[0][n], columns[1][n]] for n in range(len(rows))]


# ---------------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------------


def build_members(
    members: Sequence[Mapping[str, Any]],
    *,
    member_checkpoints: Sequence[str | Path] | None = None,
    image_size: int | None = None,
    clip_length: int | None = None,
    landmarks: bool | None = None,
    pretrained: bool = False,
    checkpoint_path: str | Path | None = None,
) -> list[nn.Module]:
    """Build an ensemble's members through the registry.

    Args:
        members: ``[{"name": registered name, "kwargs": {...}}, ...]`` (JSON-ready; ``kwargs``
            optional). Weight sources (``pretrained``, ``checkpoint_path``, ``init_from``...) do
            not belong in a member's kwargs: they would be saved with the ensemble and read again
            on every reload. Use ``member_checkpoints``, or the ensemble's own ``pretrained``/
            ``checkpoint_path``.
        member_checkpoints: One holistic checkpoint per member (``save_model``'s), or None: each
            member is built from its description, then loads its checkpoint's weights strictly.
        image_size: When given, every member's ``image_size`` (``save_model`` records the
            ensemble's, which is its members').
        clip_length: When given, every member's ``clip_length``.
        landmarks: When given, every member's ``landmarks`` (whether it takes the 68 landmarks).
        pretrained: Passed to every member (timm's pretrained backbone weights).
        checkpoint_path: Passed to every member (a local backbone weights file).

    Raises:
        ValueError: a malformed description, a weight source in a member's kwargs, a checkpoint of
            another model, input spec or shape.
    """
    if isinstance(members, (str, Mapping)) or not members:
        raise ValueError(
            f"members: a non-empty list of {{'name', 'kwargs'}} dicts, got {members!r}"
        )
    if member_checkpoints is not None and len(member_checkpoints) != len(members):
        raise ValueError(
            f"member_checkpoints: one per member ({len(members)}), got {len(member_checkpoints)}"
        )
    built = []
    for index, description in enumerate(members):
        if (
            not isinstance(description, Mapping)
            or not isinstance(description.get("name"), str)
            or not isinstance(description.get("kwargs", {}), Mapping)
            or set(description) - {"name", "kwargs"}
        ):
            raise ValueError(
                f"member {index}: expected {{'name': str, 'kwargs': dict}}, got {description!r}"
            )
        name, kwargs = description["name"], dict(description.get("kwargs") or {})
        sources = sorted(set(kwargs) & set(_WEIGHT_SOURCES))
        if sources:
            raise ValueError(
                f"member {index} ({name}): {sources} in its kwargs would be saved with the "
                "ensemble; pass member_checkpoints, or pretrained/checkpoint_path to the ensemble"
            )
        kwargs.update(pretrained=pretrained, checkpoint_path=checkpoint_path)
        if image_size is not None:
            kwargs["image_size"] = image_size
        if clip_length is not None:
            kwargs["clip_length"] = clip_length
        if landmarks is not None:
            kwargs["landmarks"] = landmarks
        model = create_model(name, **kwargs)
        if member_checkpoints is not None:
            _load_member(model, member_checkpoints[index], index, name)
        built.append(model)
    return built


def _load_member(model: nn.Module, path: str | Path, index: int, name: str) -> None:
    saved = read_model_json(path).get("name")
    if saved != name:
        raise ValueError(f"member {index} ({name}): checkpoint {str(path)!r} holds a {saved!r}")
    trained = load_model(path)
    # The clip length is how a member was trained, not what it is (its GRUs run on any length):
    # an ensemble trained on other clips may start from it.
    if replace(trained.input_spec, clip_length=model.input_spec.clip_length) != model.input_spec:
        raise ValueError(
            f"member {index} ({name}): checkpoint {str(path)!r} was trained on "
            f"{trained.input_spec}, the member is built for {model.input_spec}"
        )
    try:
        model.load_state_dict(trained.state_dict(), strict=True)
    except RuntimeError as error:
        raise ValueError(
            f"member {index} ({name}): checkpoint {str(path)!r} does not fit: {error}"
        ) from error


def build_modelfusion(
    members: Sequence[Mapping[str, Any]],
    *,
    head: str = "gru",
    hidden_size: int = 128,
    dropout: float = 0.5,
    member_checkpoints: Sequence[str | Path] | None = None,
    image_size: int | None = None,
    clip_length: int | None = None,
    landmarks: bool | None = None,
    pretrained: bool = False,
    checkpoint_path: str | Path | None = None,
) -> ModelFusion:
    """Model-level fusion of registered CNN-RNN models (see :func:`build_members`).

    Args:
        members: Member descriptions ``[{"name": ..., "kwargs": {...}}, ...]``.
        head: ``"gru"`` or ``"fc"``.
        hidden_size: Units of the fusion head (128).
        dropout: Dropout of the FC head.
        member_checkpoints: Trained checkpoints to start the members from (not saved).
        image_size: Every member's image size (None: the members' own, which must agree).
        clip_length: Every member's clip length (None: the members' own).
        landmarks: Whether every member takes the 68 landmarks (None: the members' own).
        pretrained: timm's pretrained weights for every member's backbone.
        checkpoint_path: A local backbone weights file for every member.
    """
    built = build_members(
        members,
        member_checkpoints=member_checkpoints,
        image_size=image_size,
        clip_length=clip_length,
        landmarks=landmarks,
        pretrained=pretrained,
        checkpoint_path=checkpoint_path,
    )
    return ModelFusion(built, head=head, hidden_size=hidden_size, dropout=dropout)


def build_decisionfusion(
    members: Sequence[Mapping[str, Any]],
    *,
    weights: Sequence[Sequence[float]] | None = None,
    member_checkpoints: Sequence[str | Path] | None = None,
    image_size: int | None = None,
    clip_length: int | None = None,
    landmarks: bool | None = None,
    pretrained: bool = False,
    checkpoint_path: str | Path | None = None,
) -> DecisionFusion:
    """Decision-level fusion (Eq. 3) of registered models predicting VA (see :func:`build_members`).

    Args:
        members: Member descriptions ``[{"name": ..., "kwargs": {...}}, ...]``.
        weights: The members' validation CCCs ``[members][valence, arousal]`` (saved with the
            model), or None for equal weights.
        member_checkpoints: The separately trained members' checkpoints (not saved).
        image_size: Every member's image size (None: the members' own, which must agree).
        clip_length: Every member's clip length (None: the members' own).
        landmarks: Whether every member takes the 68 landmarks (None: the members' own).
        pretrained: timm's pretrained weights for every member's backbone.
        checkpoint_path: A local backbone weights file for every member.
    """
    built = build_members(
        members,
        member_checkpoints=member_checkpoints,
        image_size=image_size,
        clip_length=clip_length,
        landmarks=landmarks,
        pretrained=pretrained,
        checkpoint_path=checkpoint_path,
    )
    return DecisionFusion(built, weights)


# ---------------------------------------------------------------------------------------------
# Registered variants
# ---------------------------------------------------------------------------------------------


def _members(*names: str) -> list[dict[str, Any]]:
    return [{"name": name, "kwargs": {}} for name in names]


@register_model
def modelfusion_gru_resnet18(**kwargs: Any) -> ModelFusion:
    """CNN-1RNN + CNN-3RNN on ResNet-18, fused by a GRU of 128 units ("+ RNN")."""
    members = _members("cnn1rnn_resnet18", "cnn3rnn_resnet18")
    return build_modelfusion(**{"members": members, "head": "gru", **kwargs})


@register_model
def modelfusion_fc_resnet18(**kwargs: Any) -> ModelFusion:
    """CNN-1RNN + CNN-3RNN on ResNet-18, fused by a 128-unit FC layer ("+ FC")."""
    members = _members("cnn1rnn_resnet18", "cnn3rnn_resnet18")
    return build_modelfusion(**{"members": members, "head": "fc", **kwargs})


@register_model
def modelfusion_gru_vgg16(**kwargs: Any) -> ModelFusion:
    """CNN-1RNN + CNN-3RNN on VGG-16, fused by a GRU of 128 units (the paper's best entry)."""
    members = _members("cnn1rnn_vgg16", "cnn3rnn_vgg16")
    return build_modelfusion(**{"members": members, "head": "gru", **kwargs})


@register_model
def modelfusion_fc_vgg16(**kwargs: Any) -> ModelFusion:
    """CNN-1RNN + CNN-3RNN on VGG-16, fused by a 128-unit FC layer."""
    members = _members("cnn1rnn_vgg16", "cnn3rnn_vgg16")
    return build_modelfusion(**{"members": members, "head": "fc", **kwargs})


@register_model
def test_modelfusion(**kwargs: Any) -> ModelFusion:
    """A tiny model-level fusion (``test_cnn1rnn`` + ``test_cnn3rnn``, 16-unit GRU head)."""
    members = _members("test_cnn1rnn", "test_cnn3rnn")
    return build_modelfusion(**{"members": members, "head": "gru", "hidden_size": 16, **kwargs})


@register_model
def decisionfusion_resnet18(**kwargs: Any) -> DecisionFusion:
    """Eq. 3 over CNN-1RNN + CNN-3RNN on ResNet-18 (pass ``weights``: their validation CCCs)."""
    members = _members("cnn1rnn_resnet18", "cnn3rnn_resnet18")
    return build_decisionfusion(**{"members": members, **kwargs})


@register_model
def decisionfusion_vgg16(**kwargs: Any) -> DecisionFusion:
    """Eq. 3 over CNN-1RNN + CNN-3RNN on VGG-16 (the paper's decision-level fusion)."""
    members = _members("cnn1rnn_vgg16", "cnn3rnn_vgg16")
    return build_decisionfusion(**{"members": members, **kwargs})


@register_model
def test_decisionfusion(**kwargs: Any) -> DecisionFusion:
    """A tiny decision-level fusion of ``test_cnn1rnn`` and ``test_cnn3rnn``."""
    members = _members("test_cnn1rnn", "test_cnn3rnn")
    return build_decisionfusion(**{"members": members, **kwargs})
