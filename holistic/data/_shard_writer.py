"""Write one shard: each sample's face prepared and encoded, its record and audio features, in a
tar and then its sidecar, each written atomically.

:func:`write_shard` runs in worker processes (:class:`~concurrent.futures.ProcessPoolExecutor`):
its job pickles, and the dlib detector, which does not, is made once per process on first use.
"""

from __future__ import annotations

import json
import logging
import os
import tarfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from holistic.data._sidecars import (
    _json_bytes,
    _needs_detector,
    _Settings,
    _ShardJob,
    file_digest,
)
from holistic.data.adapters._base import (
    MALFORMED_ROW,
    MISSING_IMAGE,
    NO_FACE,
    UNREADABLE_AUDIO,
    UNREADABLE_IMAGE,
    Reject,
    Sample,
)
from holistic.data.atomic import write_atomic
from holistic.data.manifest import ManifestError, va_histogram_from_json, va_histogram_to_json
from holistic.schema import VA_BINS, VAHistogram, va_bin_index

if TYPE_CHECKING:
    from holistic.data.faces import PreparedFace

logger = logging.getLogger(__name__)

LABEL_TASKS = ("va", "expr", "au", "au_intensity", "compound")


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
    audio, audio_problems = ({}, {})
    if job.settings.audio:
        audio, audio_problems = _audio_features(job.samples, job.settings.audio_settings())
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
    write_atomic(job.sidecar, _json_bytes(sidecar))
    return sidecar


def _has_va_histogram(sidecar: Mapping[str, Any]) -> bool:
    """Whether a sidecar records a well-formed VA histogram over :data:`VA_BINS` that counts
    its VA labels (sidecars written before histograms were recorded have none)."""
    try:
        histogram = va_histogram_from_json(sidecar.get("va_histogram"), str(sidecar.get("shard")))
    except ManifestError:
        return False
    return histogram.bins == VA_BINS and histogram.total == sidecar["tasks"].get("va", 0)


def _complete_sidecar(job: _ShardJob, sidecar: Mapping[str, Any]) -> dict[str, Any] | None:
    """Complete the sidecar of a done shard (its tar intact, :func:`~holistic.data._sidecars._done`)
    with the statistics it predates, counted from the tar's records, without rewriting the tar.

    The records are counted again by :class:`ShardStats`; when the counts the sidecar has agree
    with them, the sidecar gains the missing ones (``va_histogram``) and is written atomically.

    Returns:
        The completed sidecar (``sidecar`` itself when it lacks nothing), or None when the tar
        does not read or its records disagree with the sidecar: the shard is then written again.
    """
    if _has_va_histogram(sidecar):
        return dict(sidecar)
    from holistic.data.tario import iter_samples

    stats = ShardStats()
    try:
        with open(job.path, "rb") as stream:
            for raw in iter_samples(str(job.path), stream):
                stats.add(json.loads(raw["json"]))
    except (OSError, KeyError, ValueError) as error:  # TarError is an OSError
        logger.warning("%s: cannot count its records (%s); writing it again", job.path, error)
        return None
    counted = json.loads(_json_bytes(stats.to_json()))
    histogram = counted.pop("va_histogram")
    differs = [name for name, value in counted.items() if sidecar.get(name) != value]
    if differs:
        logger.warning(
            "%s: its records do not give the %s its sidecar records; writing it again",
            job.path,
            ", ".join(differs),
        )
        return None
    completed = {**sidecar, "va_histogram": histogram}
    write_atomic(job.sidecar, _json_bytes(completed))
    logger.info("%s: VA histogram counted from the shard's records", job.path)
    return completed


def _npy(array: Any) -> bytes:
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def _audio_features(
    samples: Sequence[Sample], settings: Any
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Per-frame audio features of the samples that have audio, made as ``settings``
    (:class:`~holistic.data.audio.AudioSettings`) say: ``{key: {"mel": [n_mels, W] float16,
    "egemaps": [25] float32}}``, and ``{key: why not}`` for samples whose audio file is missing
    or does not decode (they keep their image and labels). Each audio file is read and
    analysed once per shard."""
    by_file: dict[Path, list[Sample]] = {}
    for sample in samples:
        if sample.audio is not None and sample.audio_time is not None:
            by_file.setdefault(Path(sample.audio), []).append(sample)
    if not by_file:
        return {}, {}
    from holistic.data.audio import frame_audio_features

    features: dict[str, dict[str, Any]] = {}
    problems: dict[str, str] = {}
    for path, group in by_file.items():
        times = [sample.audio_time for sample in group]
        try:
            made = frame_audio_features(path, times, settings)
        except (OSError, ValueError) as error:  # missing, undecodable, a name it cannot open
            problems.update(
                {sample.key: f"audio {path} cannot be read: {error}" for sample in group}
            )
            continue
        for i, sample in enumerate(group):
            features[sample.key] = {name: values[i] for name, values in made.items()}
    return features, problems


@dataclass
class ShardStats:
    """What a shard's sidecar and manifest entry count, from its records (:meth:`add`).

    Besides the counts per task, class and AU: video frames and the longest run of consecutive
    frames (for clips), and the histograms of the VA labels over :data:`~holistic.schema.VA_BINS`
    (``va_histogram``; samples without VA are not counted), binned by
    :func:`~holistic.schema.va_bin_index` as class-balance weights look them up.
    """

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
    # Per bin of VA_BINS: [valence counts, arousal counts].
    va_bins: list[list[int]] = field(
        default_factory=lambda: [[0] * VA_BINS.num_bins for _ in range(2)]
    )

    def add(self, record: Mapping[str, Any]) -> None:
        self.samples += 1
        self._add_frame(record.get("video"), record.get("frame"))
        for task in LABEL_TASKS:
            if task in record:
                self.tasks[task] += 1
        if "va" in record:
            for counts, index in zip(
                self.va_bins, va_bin_index(record["va"]).tolist(), strict=True
            ):
                counts[index] += 1
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
            "va_histogram": va_histogram_to_json(VAHistogram(*map(tuple, self.va_bins), VA_BINS)),
        }
