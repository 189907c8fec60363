"""What an adapter emits: one :class:`Sample` per source image, or a :class:`Reject`.

An adapter is a small, pure module that knows one dataset's files and label maps. Its
``scan(root, splits=None, **options)`` generator walks the native tree under ``root`` and yields,
for every row or file of the source, either a :class:`Sample` (an image with the labels the source
gives it, vocabulary-free as in ``holistic.schema``) or a :class:`Reject` (file, line and reason),
so that nothing is ever dropped silently (DESIGN.md decision 2). A row valid for one task and
invalid for another yields a Sample with the valid labels *and* a Reject naming the invalid task.

Adapters never open images: the shard writer loads, checks, crops/aligns and encodes them, and
turns a missing or unreadable image into a reject itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Adapter",
    "FaceHint",
    "Reject",
    "RejectReason",
    "Sample",
    "ScanError",
    "safe_key",
]

#: Reasons a row or part of a row is rejected (the manifest counts rejects by these names).
RejectReason = str
INVALID_MARKER: RejectReason = "invalid_marker"  # -5, -1, -2, 9, 999, AffectNet 8/9/10 ...
OUT_OF_RANGE: RejectReason = "out_of_range"  # a value outside its scale
MALFORMED_ROW: RejectReason = "malformed_row"  # wrong field count, unparsable number
MISSING_IMAGE: RejectReason = "missing_image"  # labelled frame/row without an image file
UNREADABLE_IMAGE: RejectReason = "unreadable_image"  # the file exists but does not decode
NO_FACE: RejectReason = "no_face"  # the detector found no face
NO_LABEL: RejectReason = "no_label"  # an image/row that ends up with no valid label at all
DUPLICATE: RejectReason = "duplicate"  # the same image (and face) labelled again
UNREADABLE_AUDIO: RejectReason = "unreadable_audio"  # task "audio": the sample keeps its image
REASONS: tuple[RejectReason, ...] = (
    INVALID_MARKER,
    OUT_OF_RANGE,
    MALFORMED_ROW,
    MISSING_IMAGE,
    UNREADABLE_IMAGE,
    NO_FACE,
    NO_LABEL,
    DUPLICATE,
    UNREADABLE_AUDIO,
)


class ScanError(ValueError):
    """A malformed tree or an unknown header: the whole source cannot be read as this dataset.

    The message names the file (or folder) and says what was expected.
    """


@dataclass(frozen=True)
class FaceHint:
    """How to get the face out of a sample's image.

    ``mode``:
      - ``"aligned"``: the image already is an aligned face crop (Aff-Wild2 ``cropped_aligned``,
        RAF-DB ``aligned``); it is only resized.
      - ``"landmarks"``: align from ``landmarks`` (68 × 2, image pixels) by a 5-point similarity
        transform (AFEW-VA, AffectNet when landmarks are given).
      - ``"box"``: crop ``box`` = (x0, y0, x1, y1) in image pixels, then align with landmarks
        found inside it when a landmark model is available, else a square crop (ExpW, AffectNet).
      - ``"detect"``: full frames/photos without face geometry: detect, then align (needs the
        ``faces`` extra).
    """

    mode: str = "aligned"
    box: tuple[float, float, float, float] | None = None
    landmarks: np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.mode not in ("aligned", "landmarks", "box", "detect"):
            raise ValueError(f"unknown face mode {self.mode!r}")
        if self.mode == "box" and self.box is None:
            raise ValueError("face mode 'box' needs a box")
        landmarks_ok = self.landmarks is not None and np.shape(self.landmarks) == (68, 2)
        if self.mode == "landmarks" and not landmarks_ok:
            raise ValueError("face mode 'landmarks' needs 68 x 2 landmarks")


@dataclass(frozen=True)
class Sample:
    """One image of a source and every valid label the source gives it.

    Attributes:
        dataset: the federation name of the source (``"affwild2"``, ``"affectnet"``, ...).
        split: ``"train"``, ``"validation"``, ``"test"``, or a fold name.
        key: unique within (dataset, split); letters, digits, ``_`` and ``-`` only (see
            :func:`safe_key`), it names the sample's members in the tar shard.
        image: absolute path of the image file (it may not exist: the writer then rejects it).
        source_path: the image path relative to the dataset root, as stored in the shard.
        labels: vocabulary-free labels (``holistic.schema``): ``va``, ``expr``, ``au``,
            ``au_intensity``, ``compound``; only those the source gives validly.
        subject, video, frame: provenance; ``frame`` is the source's frame number (None for
            still images).
        face: how to get the face from the image.
        origin: (file, line) of the label row this sample came from, relative to root; used
            when the writer has to reject it (missing image, no face).
        extra: JSON-serialisable provenance kept in the shard (e.g. AFEW-VA's native integer
            VA under ``"native_va"``).
        audio: the audio file of the sample's video (WAV, FLAC, or a video container such as
            mp4), when the source has audio; the writer stores per-frame features from it
            (``audio`` extra).
        audio_time: the frame's time in ``audio``, in seconds.
    """

    dataset: str
    split: str
    key: str
    image: Path
    source_path: str
    labels: Mapping[str, Any]
    subject: str | None = None
    video: str | None = None
    frame: int | None = None
    face: FaceHint = field(default_factory=FaceHint)
    origin: tuple[str, int | None] = ("", None)
    extra: Mapping[str, Any] = field(default_factory=dict)
    audio: Path | None = None
    audio_time: float | None = None


@dataclass(frozen=True)
class Reject:
    """A source row, or one task of it, that does not go into the shards, and why.

    Attributes:
        dataset, split: where it would have gone (split may be ``""`` if unknown).
        file: the label (or image) file, relative to the dataset root.
        line: 1-based line in ``file`` (None for per-file problems such as an image with no
            label row).
        reason: one of :data:`REASONS`.
        detail: a human sentence: what was found, what was expected.
        task: the label that was rejected (``"va"``, ``"expr"``, ``"au"``, ...) when the rest of
            the row survives; None when the whole row/image is rejected.
        key: the sample key, when the row maps to one.
    """

    dataset: str
    split: str
    file: str
    line: int | None
    reason: RejectReason
    detail: str
    task: str | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown reject reason {self.reason!r}; use one of {REASONS}")

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "split": self.split,
            "file": self.file,
            "line": self.line,
            "reason": self.reason,
            "detail": self.detail,
            "task": self.task,
            "key": self.key,
        }


ScanResult = Iterator[Sample | Reject]


@dataclass(frozen=True)
class Adapter:
    """A registered source: its name, version and scan function.

    ``scan(root: Path, splits: Sequence[str] | None = None, **options) -> Iterator[Sample |
    Reject]``; ``options`` are the keyword-only parameters of ``scan`` (the CLI passes
    ``--images`` and ``--option key=value`` pairs to them). ``conventions`` states the rules
    the adapter applies where the source leaves a choice (e.g. "VA dropped if valence or arousal
    is -5"); the manifest records them.
    """

    name: str
    version: str
    scan: Callable[..., ScanResult]
    description: str = ""
    conventions: Mapping[str, str] = field(default_factory=dict)

    def __call__(
        self, root: str | Path, splits: Sequence[str] | None = None, **options: Any
    ) -> ScanResult:
        root = Path(root)
        if not root.is_dir():
            raise ScanError(f"{root}: not a directory; expected the root of a {self.name} copy")
        return self.scan(root, splits, **options)


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def safe_key(*parts: object) -> str:
    """A tar-safe sample key from its parts: ``safe_key("vid 1", 17) == "vid_1-17"``.

    Dots are replaced too (webdataset splits member names at the first dot).
    """
    return "-".join(_UNSAFE.sub("_", str(part)).strip("_") or "_" for part in parts)
