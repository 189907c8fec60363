"""Convert a native source into WebDataset tar shards with a manifest and a rejects file.

``federate(adapter, root, out)`` streams the adapter's samples and rejects, cuts the samples of
each split into shards of ``shard_size`` in scan order, and writes each shard in a worker process:
read the image's bytes (any file name works), prepare the face (crop/align by the sample's
:class:`FaceHint`), encode JPEG and write ``<key>.jpg`` + ``<key>.json`` (the vocabulary-free
record). Output in ``out``:

- ``<dataset>-<split>-%06d.tar`` shards, each with a sidecar ``.tar.json``: its statistics, its
  rejects, the digest of its inputs, and the tar's ``bytes`` and ``sha256``;
- ``manifest.json``: per dataset and split, the shards (name, samples, tasks, ``bytes``,
  ``sha256``) and the counts per task, class and AU, the AUs the source annotates and the rejects
  by reason; per dataset the adapter's name, version and conventions, the ``options``, the
  ``settings`` and the ``status``;
- ``rejects.jsonl``: one JSON line per rejected row or label, with file, line and reason.

**Done means same inputs.** A shard is skipped only when its sidecar parses, names this shard,
dataset and split, records the same *inputs digest*, and the tar on disk has the size and
SHA-256 the sidecar records. The inputs digest covers every field of every sample of the shard
(key, labels, paths, subject, video, frame, face hint with box and landmarks, extra, audio file
and time, origin), the size and modification time of each image and audio file (or that it is
missing), the write settings (size, quality, align_boxes, audio; the landmark model when the
shard uses it), the adapter's name and version, and :data:`SHARD_FORMAT`. Editing a label,
fixing a row, replacing an image or changing an option (options change the samples) rewrites the
shards concerned and nothing else.

**Atomic, and never described wrongly.** Tars, sidecars, ``manifest.json`` and
``rejects.jsonl`` are written to a temporary file and renamed. Before the first shard of a
dataset is rewritten or deleted, its manifest entry is marked ``"status": "converting"``; it is
``"complete"`` again only once every shard, the rejects and the manifest are written. Readers
refuse a converting dataset with :class:`~holistic.data.manifest.ConversionInterrupted` (re-run
the same command to finish it). Files of this dataset's shards that the run did not produce (an
earlier, larger conversion; leftovers of an interruption; shards whose sidecar is corrupt) are
deleted at the end.

**One image, one sample.** Within a split, a sample whose image resolves to the same real file
as an earlier one (another spelling, ``..``, a symlink), with the same frame and the same face
box or landmarks, is a ``duplicate`` reject naming the first. Several faces of one photo (ExpW's
boxes) and distinct video frames stay distinct samples.

Several sources may share one ``out``: each run replaces only its own dataset's entries in the
manifest and the rejects file. A malformed ``manifest.json`` or ``rejects.jsonl`` stops the run
before anything is written, with a :class:`~holistic.data.manifest.ManifestError` naming the file
and line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tarfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

import numpy as np

from holistic.data.adapters._base import (
    DUPLICATE,
    MALFORMED_ROW,
    MISSING_IMAGE,
    NO_FACE,
    UNREADABLE_AUDIO,
    UNREADABLE_IMAGE,
    Adapter,
    FaceHint,
    Reject,
    Sample,
)
from holistic.data.manifest import (
    COMPLETE,
    CONVERTING,
    MANIFEST_VERSION,
    ManifestError,
    parse_manifest,
    shard_name,
)

if TYPE_CHECKING:
    from holistic.data.faces import PreparedFace

__all__ = [
    "MANIFEST",
    "REJECTS",
    "SHARD_FORMAT",
    "FederateResult",
    "federate",
    "file_digest",
    "inputs_digest",
    "load_manifest",
    "save_manifest",
    "shard_name",
    "write_shard",
]

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
REJECTS = "rejects.jsonl"
LABEL_TASKS = ("va", "expr", "au", "au_intensity", "compound")
#: The version of what :func:`write_shard` makes of its inputs; part of every inputs digest, so
#: raising it makes the next run rewrite every shard (do so when the output of the same inputs
#: changes: another record field, another crop).
SHARD_FORMAT = 2
_REJECT_FIELDS = ("dataset", "split", "file", "line", "reason", "detail", "task", "key")


# ---------------------------------------------------------------------------------------------
# Files: JSON that any file name survives, atomic writes, digests
# ---------------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """``json.dumps``'s ``default``: paths, numpy values, face hints, mappings and sets."""
    if isinstance(value, PurePath):
        return os.fspath(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable: {value!r}")


def _json_bytes(value: Any, indent: int | None = None) -> bytes:
    """UTF-8 JSON; a file name that is not valid UTF-8 (lone surrogates after ``os.fsdecode``)
    is written as a ``\\udcXX`` escape, which JSON reads back as the same string."""
    text = json.dumps(value, indent=indent, ensure_ascii=False, default=_jsonable)
    return text.encode("utf-8", "backslashreplace")


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` through a temporary file, flushed to disk, renamed over it."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def file_digest(path: str | os.PathLike[str]) -> tuple[int, str]:
    """``(bytes, sha256 hex)`` of a file: what a shard's sidecar and manifest entry record as
    ``bytes`` and ``sha256``."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _file_identity(path: Path | None) -> list[int] | None:
    """``[size, mtime_ns]`` of a file; None when there is none (a missing file is an input too:
    it is rejected, and must be converted again once it appears)."""
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


# ---------------------------------------------------------------------------------------------
# What a shard is made of
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    """The write settings every shard of a run shares (recorded in sidecars and the manifest)."""

    size: int
    quality: int
    align_boxes: bool
    audio: bool

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _needs_detector(face: FaceHint, align_boxes: bool) -> bool:
    """Whether the writer runs the dlib models on this face (else it resizes, warps or crops)."""
    return face.mode == "detect" or (face.mode == "box" and align_boxes)


def _sample_inputs(sample: Sample) -> dict[str, Any]:
    """Every field of a sample, and the identity of the files it points at."""
    inputs = {f.name: getattr(sample, f.name) for f in dataclasses.fields(sample)}
    inputs["image_file"] = _file_identity(sample.image)
    inputs["audio_file"] = _file_identity(sample.audio)
    return inputs


def inputs_digest(
    samples: Sequence[Sample],
    settings: Mapping[str, Any],
    adapter: Mapping[str, str],
    landmark_backend: str = "none",
) -> str:
    """The SHA-256 of everything a shard is made from (what "already done" compares).

    Args:
        samples: the shard's samples, in order; every field of each counts, and the size and
            modification time of its image and audio files (or that they are missing).
        settings: the write settings (``size``, ``quality``, ``align_boxes``, ``audio``).
        adapter: ``{"name": ..., "version": ...}`` of the adapter that made the samples.
        landmark_backend: :func:`holistic.data.faces.landmark_backend`; counted only when a
            sample's face goes through the detector or landmark models.
    """
    header: dict[str, Any] = {"format": SHARD_FORMAT, "adapter": adapter, "settings": settings}
    if any(_needs_detector(s.face, bool(settings.get("align_boxes"))) for s in samples):
        header["landmark_backend"] = landmark_backend
    digest = hashlib.sha256(_json_bytes(header))
    for sample in samples:
        digest.update(b"\n")
        digest.update(_json_bytes(_sample_inputs(sample)))
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# One shard (runs in a worker process)
# ---------------------------------------------------------------------------------------------


@dataclass
class _ShardJob:
    path: Path
    samples: list[Sample]
    settings: _Settings
    adapter: dict[str, str]
    digest: str  # inputs_digest, computed where the job is made

    @property
    def sidecar(self) -> Path:
        return _sidecar_path(self.path)

    def identity(self) -> dict[str, Any]:
        """The sidecar fields that must match for the shard to count as done."""
        return {
            "format": SHARD_FORMAT,
            "shard": self.path.name,
            "dataset": self.samples[0].dataset,
            "split": self.samples[0].split,
            "inputs_digest": self.digest,
        }


def _sidecar_path(shard: Path) -> Path:
    return shard.with_name(shard.name + ".json")


_DETECTOR: Any = None
_DETECTOR_ERROR: ImportError | None = None


def _detector(required: bool) -> Any:
    """One dlib detector (with 68 landmarks) per process, made on first use; dlib objects do
    not pickle. Without the ``faces`` extra: the extra's ImportError when ``required``, else
    None (box crops are then square crops of the box)."""
    global _DETECTOR, _DETECTOR_ERROR
    if _DETECTOR is None and _DETECTOR_ERROR is None:
        from holistic.data.faces import FaceDetector

        try:
            _DETECTOR = FaceDetector(with_landmarks=True)
        except ImportError as error:
            _DETECTOR_ERROR = error
            logger.warning("the faces extra is not installed: face boxes are cropped, not aligned")
    if _DETECTOR is None and required:
        raise _DETECTOR_ERROR
    return _DETECTOR


def _record(sample: Sample, landmarks: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "dataset": sample.dataset,
        "split": sample.split,
        "subject": sample.subject,
        "video": sample.video,
        "frame": sample.frame,
        "source_path": sample.source_path,
    }
    record.update({task: sample.labels[task] for task in LABEL_TASKS if task in sample.labels})
    if landmarks is not None:
        record["landmarks"] = [[round(float(x), 2), round(float(y), 2)] for x, y in landmarks]
    if sample.extra:
        record["extra"] = dict(sample.extra)
    return record


def _reject(sample: Sample, reason: str, detail: str, task: str | None = None) -> Reject:
    """A reject of ``sample`` (or of its ``task``) at the label row it came from."""
    file, line = sample.origin
    return Reject(
        sample.dataset, sample.split, file or sample.source_path, line, reason, detail, task,
        sample.key,
    )  # fmt: skip


def _prepare(sample: Sample, settings: _Settings) -> PreparedFace | Reject:
    """The sample's :class:`~holistic.data.faces.PreparedFace`, or the Reject saying why there
    is none (no file, unreadable, undecodable, unusable face geometry, no face found)."""
    from holistic.data.faces import load_image, prepare_face

    if not sample.image.is_file():
        return _reject(sample, MISSING_IMAGE, f"no image at {sample.image}")
    try:
        rgb = load_image(sample.image)
    except OSError as error:
        return _reject(sample, UNREADABLE_IMAGE, f"{sample.image} cannot be read ({error})")
    if rgb is None:
        return _reject(sample, UNREADABLE_IMAGE, f"{sample.image} does not decode")
    mode = sample.face.mode
    use_detector = _needs_detector(sample.face, settings.align_boxes)
    detector = _detector(required=mode == "detect") if use_detector else None
    try:
        face = prepare_face(rgb, sample.face, size=settings.size, detector=detector)
    except ValueError as error:  # degenerate landmarks or box: the row's geometry is wrong
        detail = f"the {mode} face hint cannot place a face in {sample.image}: {error}"
        return _reject(sample, MALFORMED_ROW, detail)
    if face is None:
        return _reject(sample, NO_FACE, f"no face found in {sample.image}")
    return face


def _jpeg(rgb: np.ndarray, quality: int) -> bytes:
    import cv2

    ok, jpeg = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:  # pragma: no cover - cv2 encodes any uint8 image
        raise RuntimeError(f"JPEG encoding failed for an image of shape {rgb.shape}")
    return jpeg.tobytes()


def write_shard(job: _ShardJob) -> dict[str, Any]:
    """Write one shard and then its sidecar, each atomically; return the sidecar.

    Every sample is in the tar or among the sidecar's ``rejects``. The sidecar records the
    job's inputs digest and the tar's ``bytes`` and ``sha256``, which is what makes the shard
    count as done on the next run.
    """
    import webdataset as wds

    stats = ShardStats()
    rejects: list[dict[str, Any]] = []
    audio, audio_problems = _audio_features(job.samples) if job.settings.audio else ({}, {})
    tmp = job.path.with_name(job.path.name + ".tmp")
    # Integer mtime and USTAR: no PAX headers (half the tar parsing when streaming) and
    # byte-identical shards when the same source is converted again.
    with wds.TarWriter(str(tmp), mtime=0, format=tarfile.USTAR_FORMAT) as sink:
        for sample in job.samples:
            face = _prepare(sample, job.settings)
            if isinstance(face, Reject):
                rejects.append(face.to_json())
                continue
            record = _record(sample, face.landmarks)
            members = {"__key__": sample.key, "jpg": _jpeg(face.image, job.settings.quality)}
            if sample.key in audio:
                record["audio_features"] = sorted(audio[sample.key])
                members |= {f"{name}.npy": _npy(a) for name, a in audio[sample.key].items()}
            elif sample.key in audio_problems:
                problem = audio_problems[sample.key]
                rejects.append(_reject(sample, UNREADABLE_AUDIO, problem, "audio").to_json())
            sink.write({**members, "json": record})
            stats.add(record)
    size, sha256 = file_digest(tmp)
    os.replace(tmp, job.path)
    sidecar = {
        **job.identity(),
        "adapter": job.adapter,
        "inputs": len(job.samples),
        **job.settings.to_json(),
        "bytes": size,
        "sha256": sha256,
        **stats.to_json(),
        "rejects": rejects,
    }
    _write_atomic(job.sidecar, _json_bytes(sidecar))
    return sidecar


def _npy(array: Any) -> bytes:
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def _audio_features(
    samples: Sequence[Sample],
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Per-frame audio features of the samples that have audio: ``{key: {"mel": [n_mels, W]
    float16, "egemaps": [25] float32}}``, and ``{key: why not}`` for samples whose audio file is
    missing or does not decode (they keep their image and labels). Each audio file is read and
    analysed once per shard."""
    by_file: dict[Path, list[Sample]] = {}
    for sample in samples:
        if sample.audio is not None and sample.audio_time is not None:
            by_file.setdefault(Path(sample.audio), []).append(sample)
    if not by_file:
        return {}, {}
    from holistic.data.audio import egemaps_frames, load_audio, mel_windows

    features: dict[str, dict[str, Any]] = {}
    problems: dict[str, str] = {}
    for path, group in by_file.items():
        try:
            signal, rate = load_audio(path)
        except (OSError, ValueError) as error:  # missing, undecodable, a name it cannot open
            problems.update(
                {sample.key: f"audio {path} cannot be read: {error}" for sample in group}
            )
            continue
        times = [sample.audio_time for sample in group]
        mel = mel_windows(signal, rate, times).astype("float16")
        egemaps = egemaps_frames(signal, rate, times)
        for i, sample in enumerate(group):
            features[sample.key] = {"mel": mel[i], "egemaps": egemaps[i]}
    return features, problems


@dataclass
class ShardStats:
    samples: int = 0
    tasks: Counter = field(default_factory=Counter)
    classes: dict[str, Counter] = field(default_factory=dict)
    au_labelled: Counter = field(default_factory=Counter)
    au_positive: Counter = field(default_factory=Counter)
    # Video frames: samples with a frame number, and the longest run of consecutive frames of one
    # video inside the shard (what the clip loader can cut clips from).
    frames: int = 0
    longest_run: int = 0
    _run: int = 0
    _last: tuple[Any, Any] | None = None

    def add(self, record: Mapping[str, Any]) -> None:
        self.samples += 1
        self._add_frame(record.get("video"), record.get("frame"))
        for task in LABEL_TASKS:
            if task in record:
                self.tasks[task] += 1
        if "audio_features" in record:
            self.tasks["audio"] += 1
        if "landmarks" in record:
            self.tasks["landmarks"] += 1
        for task in ("expr", "compound"):
            if task in record:
                self.classes.setdefault(task, Counter())[record[task]] += 1
        for au, value in record.get("au", {}).items():
            self.au_labelled[au] += 1
            self.au_positive[au] += int(value)

    def _add_frame(self, video: Any, frame: Any) -> None:
        if video is None or not isinstance(frame, int):
            self._run, self._last = 0, None
            return
        self.frames += 1
        follows = self._last is not None and self._last == (video, frame - 1)
        self._run = self._run + 1 if follows else 1
        self._last = (video, frame)
        self.longest_run = max(self.longest_run, self._run)

    def to_json(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "frames": self.frames,
            "longest_run": self.longest_run,
            "tasks": dict(self.tasks),
            "classes": {task: dict(counts) for task, counts in self.classes.items()},
            "au_labelled": dict(self.au_labelled),
            "au_positive": dict(self.au_positive),
        }


# ---------------------------------------------------------------------------------------------
# Is a shard done?
# ---------------------------------------------------------------------------------------------


def _load_sidecar(path: Path) -> dict[str, Any] | None:
    """A sidecar's JSON object; None when there is none, or when it is corrupt (logged: its
    shard is then neither done nor trusted for anything)."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:  # JSONDecodeError, UnicodeDecodeError
        logger.warning("ignoring the corrupt shard sidecar %s (%s)", path, error)
        return None
    if not isinstance(data, dict):
        logger.warning("ignoring the shard sidecar %s: not a JSON object", path)
        return None
    return data


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _counts(value: Any, depth: int = 1) -> bool:
    """A mapping of counts (``depth`` 1), or of mappings of counts (2)."""
    if not isinstance(value, Mapping):
        return False
    inner = _is_count if depth == 1 else (lambda v: _counts(v, depth - 1))
    return all(inner(v) for v in value.values())


def _is_reject(record: Any) -> bool:
    """Whether ``record`` is a reject record (:meth:`Reject.to_json`)."""
    return (
        isinstance(record, Mapping)
        and all(name in record for name in _REJECT_FIELDS)
        and all(isinstance(record[name], str) for name in ("dataset", "split", "reason"))
        and (record["line"] is None or _is_count(record["line"]))
    )


def _has_statistics(sidecar: Mapping[str, Any]) -> bool:
    """Whether a sidecar holds everything the manifest and the rejects are built from."""
    return (
        all(_is_count(sidecar.get(k)) for k in ("inputs", "samples", "frames", "longest_run"))
        and all(_counts(sidecar.get(k)) for k in ("tasks", "au_labelled", "au_positive"))
        and _counts(sidecar.get("classes"), depth=2)
        and isinstance(sidecar.get("rejects"), list)
        and all(_is_reject(reject) for reject in sidecar["rejects"])
    )


def _changed(job: _ShardJob, sidecar: Mapping[str, Any] | None) -> str | None:
    """What differs between the shard ``job`` would write and the one a sidecar describes;
    None when they are made from the same inputs and the sidecar is complete."""
    if sidecar is None:
        return "no readable sidecar"
    changed = [name for name, value in job.identity().items() if sidecar.get(name) != value]
    if changed:
        return f"its {', '.join(changed)} changed"
    if not (_has_statistics(sidecar) and _is_count(sidecar.get("bytes"))):
        return "its sidecar is malformed"
    return None


def _tar_matches(path: Path, sidecar: Mapping[str, Any]) -> bool:
    """Whether the tar on disk has the size and SHA-256 its sidecar records."""
    try:
        size = path.stat().st_size
    except OSError:
        return False
    return size == sidecar["bytes"] and file_digest(path)[1] == sidecar.get("sha256")


def _done(job: _ShardJob) -> dict[str, Any] | None:
    """The sidecar of a finished shard of exactly these inputs and settings whose tar is the
    one it describes, else None."""
    sidecar = _load_sidecar(job.sidecar)
    changed = _changed(job, sidecar)
    if changed is not None:
        logger.debug("%s: %s; writing it", job.path, changed)
        return None
    assert sidecar is not None  # _changed saw to it
    if not _tar_matches(job.path, sidecar):
        logger.warning(
            "%s is missing, truncated or modified since it was written; writing it again",
            job.path,
        )
        return None
    return sidecar


# ---------------------------------------------------------------------------------------------
# Cutting the stream into shards
# ---------------------------------------------------------------------------------------------


def _face_region(face: FaceHint) -> tuple[Any, ...] | None:
    """Which face of the image a hint names: its box, or its landmarks; None for the image's
    one face (aligned crops, detection)."""
    if face.box is not None:
        return ("box", *(float(v) for v in face.box))
    if face.landmarks is not None:
        return ("landmarks", np.asarray(face.landmarks, np.float64).round(2).tobytes())
    return None


class _RealPaths:
    """Real paths of image files: ``..``, relative spellings and symlinks resolved. One
    ``lstat`` per file; each folder is resolved once."""

    def __init__(self) -> None:
        self._folders: dict[str, str] = {}

    def __call__(self, path: str | os.PathLike[str]) -> str:
        text = os.fspath(path)
        if os.path.islink(text):
            return os.path.realpath(text)
        folder, name = os.path.split(text)
        folder = os.path.join(os.getcwd(), folder) if not os.path.isabs(folder) else folder
        if folder not in self._folders:
            self._folders[folder] = os.path.realpath(folder)
        return os.path.join(self._folders[folder], name)


class _Cutter:
    """Groups an adapter's samples per split into shards of ``shard_size`` in scan order, and
    collects its rejects and the dataset name the events carry.

    A sample whose image and face already are a sample of its split becomes a ``duplicate``
    reject: identity is (real path of the image, frame, face box or landmarks).
    """

    def __init__(self, shard_size: int) -> None:
        self.shard_size = shard_size
        self.rejects: list[Reject] = []
        self.dataset: str | None = None
        self._real_path = _RealPaths()
        # Hashes, not strings: millions of frames stay cheap. Per split: key hashes, and
        # identity hash -> the key of the first sample with that image and face.
        self._keys: dict[str, set[int]] = {}
        self._images: dict[str, dict[int, str]] = {}

    def _check_dataset(self, event: Sample | Reject) -> None:
        if self.dataset is None:
            self.dataset = event.dataset
        elif event.dataset != self.dataset:
            raise ValueError(
                f"one conversion writes one dataset: got {event.dataset!r} after {self.dataset!r}"
            )

    def _admit(self, sample: Sample) -> bool:
        """Whether ``sample`` is new in its split; a repeated image and face is rejected."""
        keys = self._keys.setdefault(sample.split, set())
        if hash(sample.key) in keys:
            raise ValueError(
                f"adapter produced the key {sample.key!r} twice in split {sample.split!r} "
                f"(second from {sample.origin}); keys must be unique"
            )
        keys.add(hash(sample.key))
        real = self._real_path(sample.image)
        identity = hash((real, sample.frame, _face_region(sample.face)))
        first = self._images.setdefault(sample.split, {}).setdefault(identity, sample.key)
        if first == sample.key:
            return True
        self.rejects.append(_reject(sample, DUPLICATE, _duplicate_detail(sample, first, real)))
        return False

    def shards(self, events: Iterable[Sample | Reject]) -> Iterator[tuple[str, int, list[Sample]]]:
        """``(split, index, samples)`` for each shard, as soon as it is full."""
        pending: dict[str, list[Sample]] = {}
        counters: Counter = Counter()
        for event in events:
            self._check_dataset(event)
            if isinstance(event, Reject):
                self.rejects.append(event)
                continue
            if not self._admit(event):
                continue
            batch = pending.setdefault(event.split, [])
            batch.append(event)
            if len(batch) == self.shard_size:
                yield event.split, counters[event.split], batch
                counters[event.split] += 1
                pending[event.split] = []
        for split, batch in pending.items():
            if batch:
                yield split, counters[split], batch


def _duplicate_detail(sample: Sample, first: str, real: str) -> str:
    frame = f" frame {sample.frame}" if sample.frame is not None else ""
    region = _face_region(sample.face)
    face = "" if region is None else f" with the same face {region[0]}"
    return (
        f"{sample.source_path}{frame} is the same image{face} as sample {first!r} of split "
        f"{sample.split!r} (both are {real}); one image and face is one sample, the first is kept"
    )


# ---------------------------------------------------------------------------------------------
# The conversion
# ---------------------------------------------------------------------------------------------


@dataclass
class FederateResult:
    """What a conversion did: the manifest entry of the dataset, and what was skipped."""

    dataset: str
    manifest: dict[str, Any]
    shards_written: int
    shards_skipped: int
    seconds: float

    @property
    def entry(self) -> dict[str, Any]:
        return self.manifest["datasets"][self.dataset]


@dataclass
class _Conversion:
    """One run: what it converts with which settings, and its bookkeeping in the manifest."""

    out: Path
    adapter: Adapter
    root: Path
    options: dict[str, Any]
    settings: _Settings
    shard_size: int
    scope: set[str] | None
    landmark_backend: str = "none"
    marked: bool = False

    def job(self, path: Path, samples: list[Sample]) -> _ShardJob:
        adapter = {"name": self.adapter.name, "version": self.adapter.version}
        settings = self.settings.to_json()
        digest = inputs_digest(samples, settings, adapter, self.landmark_backend)
        return _ShardJob(path, samples, self.settings, adapter, digest)

    def describe(self) -> dict[str, Any]:
        """The manifest entry's fields that say how the dataset was converted."""
        return {
            "adapter": {
                "name": self.adapter.name,
                "version": self.adapter.version,
                "conventions": dict(self.adapter.conventions),
            },
            "root": str(self.root.resolve()),
            "options": json.loads(_json_bytes(self.options)),
            "settings": {**self.settings.to_json(), "shard_size": self.shard_size},
            "image_size": self.settings.size,
        }

    def mark_converting(self, dataset: str) -> None:
        """Mark the dataset's manifest entry ``converting`` (once), before its first shard is
        rewritten or deleted: until the run finishes, readers refuse it."""
        if self.marked:
            return
        manifest = _read_manifest(self.out)
        previous = manifest["datasets"].get(dataset, {"splits": {}})
        manifest["datasets"][dataset] = {**previous, **self.describe(), "status": CONVERTING}
        save_manifest(self.out, manifest)
        self.marked = True


def federate(
    adapter: Adapter,
    root: str | Path,
    out: str | Path,
    *,
    splits: Sequence[str] | None = None,
    options: Mapping[str, Any] | None = None,
    size: int = 112,
    shard_size: int = 1000,
    quality: int = 95,
    workers: int = 1,
    align_boxes: bool = True,
    audio: bool = True,
    progress: bool = True,
) -> FederateResult:
    """Convert the source at ``root`` with ``adapter`` into shards in ``out``.

    Args:
        adapter: a registered source (``holistic.data.adapters.ADAPTERS[name]``).
        root: the dataset's root folder, in its native layout.
        out: the federation folder (created); other datasets already in it are kept.
        splits: canonical split names to convert (None: every split the source has).
        options: the adapter's keyword options (e.g. ``{"images": "/data/frames"}``); recorded
            in the manifest.
        size: side of the saved square face crops in pixels (the FaceBehaviorNet paper used 96).
        shard_size: samples per shard.
        quality: JPEG quality of the saved faces.
        workers: processes that write shards (1: in this process).
        align_boxes: align faces given by a box (AffectNet, ExpW) with dlib's 5-point model
            predicted inside the box; False, or without the ``faces`` extra: a square crop.
        audio: store per-frame audio features (``mel.npy``, ``egemaps.npy``) for samples whose
            source has audio (needs the ``audio`` extra).
        progress: show a progress bar.

    Returns:
        The manifest and what was written or skipped. Every source row is in a shard or in
        ``rejects.jsonl``.

    Raises:
        ScanError: the source cannot be read as this dataset (adapters raise it).
        ManifestError: ``manifest.json`` or ``rejects.jsonl`` in ``out`` is malformed (raised
            before anything is written).
        ValueError: a bad setting, or an adapter that yields one key twice or two datasets.
    """
    from tqdm.auto import tqdm

    from holistic.data.faces import landmark_backend

    if shard_size < 1 or size < 16 or not 1 <= quality <= 100 or workers < 1:
        raise ValueError(
            f"need shard_size >= 1, size >= 16, quality in [1, 100], workers >= 1; got "
            f"{shard_size}, {size}, {quality}, {workers}"
        )
    start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _read_manifest(out)  # a malformed manifest or rejects file stops the run here
    for _ in _read_rejects(out):
        pass
    conversion = _Conversion(
        out=out,
        adapter=adapter,
        root=Path(root),
        options=dict(options or {}),
        settings=_Settings(size, quality, align_boxes, audio),
        shard_size=shard_size,
        scope=None if splits is None else set(splits),
        landmark_backend=landmark_backend(),
    )
    events = adapter(root, splits, **conversion.options)
    cutter = _Cutter(shard_size)
    sidecars: list[dict[str, Any]] = []
    written = skipped = 0
    bar = tqdm(desc=f"federate {adapter.name}", unit="img", disable=not progress)
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    running: set[Future] = set()

    def collect(done: Iterable[Future]) -> None:
        for future in done:
            sidecar = future.result()
            sidecars.append(sidecar)
            bar.update(sidecar["inputs"])

    try:
        for split, index, samples in cutter.shards(events):
            job = conversion.job(out / shard_name(samples[0].dataset, split, index), samples)
            finished = _done(job)
            if finished is not None:
                sidecars.append(finished)
                skipped += 1
                bar.update(len(samples))
                continue
            conversion.mark_converting(samples[0].dataset)
            written += 1
            if pool is None:
                sidecars.append(write_shard(job))
                bar.update(len(samples))
                continue
            running.add(pool.submit(write_shard, job))
            if len(running) >= 2 * workers:  # bound memory: at most 2 jobs per worker queued
                done, running = wait(running, return_when=FIRST_COMPLETED)
                collect(done)
        if running:
            done, running = wait(running)
            collect(done)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)

    # The dataset name comes from the events (an adapter may name its output, e.g. "bp4dplus").
    dataset = cutter.dataset or adapter.name
    rejects = [r.to_json() for r in cutter.rejects]
    for sidecar in sorted(sidecars, key=lambda s: s["shard"]):
        rejects.extend(sidecar["rejects"])
    _remove_stale_shards(conversion, dataset, sidecars)
    _write_rejects(conversion, dataset, rejects)
    manifest = _update_manifest(conversion, dataset, sidecars, rejects)
    return FederateResult(dataset, manifest, written, skipped, time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------
# Manifest and rejects
# ---------------------------------------------------------------------------------------------


def load_manifest(out: str | Path) -> dict[str, Any]:
    """Read ``manifest.json`` of a federation folder (local path), as every reader does.

    Raises:
        FileNotFoundError: there is none.
        ManifestError: it is malformed.
        ConversionInterrupted: a dataset's conversion did not finish (the message says which
            command to re-run).
    """
    path = Path(out) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: convert a source first with `holistic federate SOURCE ROOT "
            f"--out {out}`"
        )
    return parse_manifest(path.read_bytes(), str(path))


def save_manifest(out: str | Path, manifest: Mapping[str, Any]) -> None:
    """Write ``manifest.json`` of a federation folder atomically."""
    _write_atomic(Path(out) / MANIFEST, _json_bytes(manifest, indent=1))


def _read_manifest(out: Path) -> dict[str, Any]:
    """The manifest as the converter reads it (datasets left ``converting`` accepted: this run
    may be the one that finishes them); an empty one when there is none."""
    path = out / MANIFEST
    if not path.is_file():
        return {"version": MANIFEST_VERSION, "datasets": {}}
    return parse_manifest(path.read_bytes(), str(path), interrupted_ok=True)


def _read_rejects(out: Path) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """``(line, record)`` for every non-blank line of ``rejects.jsonl`` (nothing if absent).

    Raises:
        ManifestError: a line that is not a JSON reject record, by its number.
    """
    path = out / REJECTS
    if not path.is_file():
        return
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                raise ManifestError(_rejects_problem(path, number, f"not JSON ({error})")) from None
            if not _is_reject(record):
                fields = ", ".join(_REJECT_FIELDS)
                problem = f"not a reject record (expected an object with {fields})"
                raise ManifestError(_rejects_problem(path, number, problem))
            yield line, record


def _rejects_problem(path: Path, number: int, problem: str) -> str:
    return (
        f"{path} line {number}: {problem}. Every conversion rewrites only its own dataset's "
        "lines of this file, so a broken line cannot be told apart: fix or delete it, or delete "
        f"{REJECTS} and re-run `holistic federate` for every source in {path.parent}"
    )


def _in_scope(dataset: str, scope: set[str] | None, entry_dataset: str, split: str) -> bool:
    """Whether a file or line of (entry_dataset, split) belongs to this run's output."""
    return entry_dataset == dataset and (scope is None or split in scope)


def _shard_of(name: str) -> str | None:
    """The shard a file name belongs to: ``x.tar`` for ``x.tar``, ``x.tar.json`` and their
    ``.tmp`` files; None for other files."""
    base = name.removesuffix(".tmp").removesuffix(".json")
    return base if base.endswith(".tar") else None


def _owner(out: Path, shard: str, dataset: str, splits: set[str]) -> tuple[str, str] | None:
    """``(dataset, split)`` of a shard: from its sidecar, never from the name alone
    (``rafdb-compound``'s shards also start with ``rafdb-``); without a usable sidecar, by the
    name when it is ``<dataset>-<split>-NNNNNN.tar`` for one of ``splits``. None: unknown."""
    sidecar = _load_sidecar(_sidecar_path(out / shard))
    if sidecar is not None:
        owner, split = sidecar.get("dataset"), sidecar.get("split")
        if isinstance(owner, str) and isinstance(split, str):
            return owner, split
    for split in splits:
        prefix = f"{dataset}-{split}-"
        number = shard.removeprefix(prefix).removesuffix(".tar")
        if shard.startswith(prefix) and len(number) == 6 and number.isdigit():
            return dataset, split
    return None


def _remove_stale_shards(
    conversion: _Conversion, dataset: str, sidecars: Sequence[Mapping[str, Any]]
) -> None:
    """Delete files of this run's dataset/splits that the run did not write: shards of an
    earlier, larger conversion, shards whose sidecar is corrupt, temporary files left by an
    interruption. Marks the dataset ``converting`` first."""
    out, scope = conversion.out, conversion.scope
    keep = {sidecar["shard"] for sidecar in sidecars}
    previous = _read_manifest(out)["datasets"].get(dataset, {}).get("splits", {})
    splits = {sidecar["split"] for sidecar in sidecars} | set(previous) | (scope or set())
    by_shard: dict[str, list[Path]] = {}
    for path in out.iterdir():
        shard = _shard_of(path.name)
        if shard is not None:
            by_shard.setdefault(shard, []).append(path)
    stale = []
    for shard, files in sorted(by_shard.items()):
        owner = _owner(out, shard, dataset, splits)
        if owner is None or not _in_scope(dataset, scope, *owner):
            continue
        stale += [f for f in files if shard not in keep or f.name.endswith(".tmp")]
    if stale:
        conversion.mark_converting(dataset)
    for path in stale:
        path.unlink(missing_ok=True)


def _write_rejects(conversion: _Conversion, dataset: str, rejects: list[dict[str, Any]]) -> None:
    """Replace this run's lines of ``rejects.jsonl`` (other datasets' lines are kept); when
    they change, the dataset is marked ``converting`` first (the manifest counts them)."""
    kept, previous = [], []
    for line, old in _read_rejects(conversion.out):
        in_scope = _in_scope(dataset, conversion.scope, old["dataset"], old["split"])
        (previous if in_scope else kept).append(line)
    lines = [_json_bytes(reject) for reject in rejects]
    if lines != previous:
        conversion.mark_converting(dataset)
    _write_atomic(conversion.out / REJECTS, b"".join(line + b"\n" for line in kept + lines))


def _merge_counts(target: dict[str, Any], source: Mapping[str, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, Mapping):
            _merge_counts(target.setdefault(key, {}), value)
        else:
            target[key] = target.get(key, 0) + value


def split_entries(
    sidecars: Sequence[Mapping[str, Any]], rejects: Sequence[Mapping[str, Any]] = ()
) -> dict[str, dict[str, Any]]:
    """The manifest's per-split entries (shards, task counts, classes, AUs, rejects) from shard
    statistics (the sidecars of :func:`write_shard`) and reject records."""
    splits: dict[str, dict[str, Any]] = {}

    def entry_of(split: str) -> dict[str, Any]:
        return splits.setdefault(
            split,
            {"shards": [], "samples": 0, "tasks": {}, "classes": {}, "aus": {}, "rejects": {}},
        )

    for sidecar in sorted(sidecars, key=lambda s: s["shard"]):
        entry = entry_of(sidecar["split"])
        shard = {"name": sidecar["shard"], "samples": sidecar["samples"], "tasks": sidecar["tasks"]}
        if "longest_run" in sidecar:  # sidecars written before clips were counted lack it
            shard["frames"], shard["longest_run"] = sidecar["frames"], sidecar["longest_run"]
        if "sha256" in sidecar:  # the tar's integrity, checked by `holistic verify` and readers
            shard["bytes"], shard["sha256"] = sidecar["bytes"], sidecar["sha256"]
        entry["shards"].append(shard)
        entry["samples"] += sidecar["samples"]
        _merge_counts(entry["tasks"], sidecar["tasks"])
        _merge_counts(entry["classes"], sidecar["classes"])
        for au, labelled in sidecar["au_labelled"].items():
            counts = entry["aus"].setdefault(au, {"labelled": 0, "positive": 0})
            counts["labelled"] += labelled
            counts["positive"] += sidecar["au_positive"].get(au, 0)
    for reject in rejects:
        entry = entry_of(reject["split"] or "unknown")
        entry["rejects"][reject["reason"]] = entry["rejects"].get(reject["reason"], 0) + 1
    for entry in splits.values():
        entry["aus"] = dict(sorted(entry["aus"].items(), key=lambda item: int(item[0])))
        entry["annotated_aus"] = [int(au) for au in entry["aus"]]
    return splits


def _update_manifest(
    conversion: _Conversion,
    dataset: str,
    sidecars: list[dict[str, Any]],
    rejects: list[dict[str, Any]],
) -> dict[str, Any]:
    """Write the dataset's finished entry (``status`` complete): the last step of a run."""
    manifest = _read_manifest(conversion.out)
    splits = split_entries(sidecars, rejects)
    if conversion.scope is not None:  # a partial run keeps the splits it did not convert
        previous = manifest["datasets"].get(dataset, {}).get("splits", {})
        kept = {k: v for k, v in previous.items() if k not in conversion.scope}
        splits = {**kept, **splits}
    manifest["datasets"][dataset] = {
        **conversion.describe(),
        "status": COMPLETE,
        "splits": dict(sorted(splits.items())),
    }
    manifest["datasets"] = dict(sorted(manifest["datasets"].items()))
    save_manifest(conversion.out, manifest)
    return manifest
