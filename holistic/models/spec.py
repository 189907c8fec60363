"""The model contract: what a model consumes (:class:`InputSpec`) and what it predicts (tasks).

Every registered model carries ``model.input_spec`` and ``model.tasks`` (DESIGN.md decision 11).
:func:`~holistic.models.checkpoint.save_model` writes both into ``model.json``; loaders,
evaluation, fine-tuning and ``holistic predict`` read them, so nothing re-reads a recipe's config
to learn how a model was fed.

``tasks`` maps each predicted task to its vocabulary, in head order:
``{"va": ("valence", "arousal"), "expr": (...names...), "au": (...FACS numbers...),
"compound": (...names...)}``, any subset. :func:`label_space_of` turns it into the
:class:`~holistic.schema.LabelSpace` a loader projects records onto.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from holistic.schema import LabelSpace

__all__ = [
    "ALIGNMENTS",
    "INPUT_KINDS",
    "NORMALISATIONS",
    "TASK_NAMES",
    "VA_NAMES",
    "InputSpec",
    "label_space_of",
    "model_tasks",
    "tasks_to_json",
]

#: Input kinds: one image per sample, or a clip of T consecutive frames of one video.
INPUT_KINDS: tuple[str, ...] = ("image", "clip")
#: Input value ranges a model takes (``"minus_one_one"``: RGB in [-1, 1], (x - 127.5) / 127.5,
#: what every loader of holistic yields; the model maps it to its backbone's own statistics).
NORMALISATIONS: tuple[str, ...] = ("minus_one_one",)
#: Face alignment templates of the shards (``holistic.data.faces``): the ArcFace 5-point
#: similarity template, or a box crop without alignment.
ALIGNMENTS: tuple[str, ...] = ("arcface5", "box")
#: Task names in head order.
TASK_NAMES: tuple[str, ...] = ("va", "expr", "au", "compound")
#: The VA "vocabulary": output columns of the ``va`` head.
VA_NAMES: tuple[str, str] = ("valence", "arousal")


@dataclass(frozen=True)
class InputSpec:
    """What a model eats.

    Args:
        kind: ``"image"`` (``[B, 3, H, W]``) or ``"clip"`` (``[B, T, 3, H, W]``, outputs per
            frame ``[B, T, ...]``).
        image_size: side of the square face crop in pixels the model was trained on.
        clip_length: frames T of a training clip (clip models; ``None`` for image models). A clip
            model runs on any number of frames; evaluation windows default to this length.
        normalisation: input value range (:data:`NORMALISATIONS`).
        alignment: face alignment template of the crops (:data:`ALIGNMENTS`).
        landmarks: the model also takes the 68 facial landmarks of each frame
            (``landmarks`` ``[B, T, 68, 2]`` in [-1, 1] crop coordinates; zeros for a frame
            without them).
        audio: per-frame audio features the model takes, ``{name: settings}`` (e.g.
            ``{"egemaps": {...}}``); empty for a visual model.

    Raises:
        ValueError: an unknown kind, normalisation or alignment, a size below 16, a clip length
            on an image model or a clip model without one.
    """

    kind: str = "image"
    image_size: int = 112
    clip_length: int | None = None
    normalisation: str = "minus_one_one"
    alignment: str = "arcface5"
    landmarks: bool = False
    audio: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in INPUT_KINDS:
            raise ValueError(f"input kind must be one of {list(INPUT_KINDS)}, got {self.kind!r}")
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(
                f"normalisation must be one of {list(NORMALISATIONS)}, got {self.normalisation!r}"
            )
        if self.alignment not in ALIGNMENTS:
            raise ValueError(f"alignment must be one of {list(ALIGNMENTS)}, got {self.alignment!r}")
        if not isinstance(self.image_size, int) or self.image_size < 16:
            raise ValueError(f"image_size must be an integer >= 16, got {self.image_size!r}")
        if self.kind == "clip" and (self.clip_length is None or self.clip_length < 1):
            raise ValueError(f"a clip model needs clip_length >= 1, got {self.clip_length!r}")
        if self.kind == "image" and self.clip_length is not None:
            raise ValueError(f"an image model has no clip_length, got {self.clip_length!r}")
        object.__setattr__(self, "audio", dict(self.audio))

    @property
    def is_clip(self) -> bool:
        return self.kind == "clip"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``model.json`` holds under ``"input"``)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "input spec") -> InputSpec:
        """Rebuild from :meth:`to_json`; unknown keys and bad values name ``where``."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected a mapping, got {data!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {error}") from None


def model_tasks(
    *,
    va: bool = True,
    expressions: tuple[str, ...] = (),
    aus: tuple[int, ...] = (),
    compounds: tuple[str, ...] = (),
) -> dict[str, tuple]:
    """The ``tasks`` dict of a model: each task it predicts with its vocabulary (empty = none)."""
    tasks: dict[str, tuple] = {}
    if va:
        tasks["va"] = VA_NAMES
    for name, vocabulary in (("expr", expressions), ("au", aus), ("compound", compounds)):
        if vocabulary:
            tasks[name] = tuple(vocabulary)
    return tasks


def tasks_to_json(tasks: Mapping[str, tuple]) -> dict[str, list]:
    """``tasks`` as JSON-ready lists, in :data:`TASK_NAMES` order."""
    return {name: list(tasks[name]) for name in TASK_NAMES if name in tasks}


def label_space_of(model_or_tasks: Any) -> LabelSpace:
    """The label space a model's outputs are scored in (its vocabularies).

    A model without an expression or AU head gets the default vocabularies for projection only;
    evaluation scores the tasks the model predicts.
    """
    tasks = getattr(model_or_tasks, "tasks", model_or_tasks)
    if not isinstance(tasks, Mapping):
        raise ValueError(f"expected a model with .tasks or a tasks mapping, got {tasks!r}")
    kwargs: dict[str, Any] = {}
    if tasks.get("expr"):
        kwargs["expressions"] = tuple(tasks["expr"])
    if tasks.get("au"):
        kwargs["aus"] = tuple(tasks["au"])
    if tasks.get("compound"):
        kwargs["compounds"] = tuple(tasks["compound"])
    return LabelSpace(**kwargs)
