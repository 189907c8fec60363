"""Convert a native source into WebDataset tar shards with a manifest and a rejects file.

``federate(adapter, root, out)`` streams the adapter's samples and rejects, cuts the samples of
each split into shards of ``shard_size`` in scan order, and writes each shard in a worker process:
load the image, prepare the face (crop/align by the sample's :class:`FaceHint`), encode JPEG and
write ``<key>.jpg`` + ``<key>.json`` (the vocabulary-free record). Output in ``out``:

- ``<dataset>-<split>-%06d.tar`` shards, each with a sidecar ``.tar.json`` of its statistics;
- ``manifest.json``: per dataset and split, the shards, samples per shard, counts per task, class
  and AU, the AUs the source annotates, rejects by reason, and the adapter's name, version and
  conventions;
- ``rejects.jsonl``: one JSON line per rejected row or label, with file, line and reason.

Re-running is idempotent and resumable: a shard whose tar and sidecar exist and whose sidecar
lists the same sample keys is skipped. Several sources may share one ``out``: each run replaces
only its own dataset's entries in the manifest and the rejects file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tarfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from holistic.data.adapters._base import (
    MISSING_IMAGE,
    NO_FACE,
    UNREADABLE_IMAGE,
    Adapter,
    Reject,
    Sample,
)
from holistic.data.manifest import MANIFEST_VERSION, parse_manifest, shard_name

__all__ = [
    "MANIFEST",
    "REJECTS",
    "FederateResult",
    "federate",
    "load_manifest",
    "shard_name",
    "write_shard",
]

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
REJECTS = "rejects.jsonl"
LABEL_TASKS = ("va", "expr", "au", "au_intensity", "compound")


# ---------------------------------------------------------------------------------------------
# One shard (runs in a worker process)
# ---------------------------------------------------------------------------------------------


@dataclass
class _ShardJob:
    path: Path
    samples: list[Sample]
    size: int
    quality: int
    align_boxes: bool
    audio: bool = True


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


def _keys_digest(samples: Sequence[Sample]) -> str:
    digest = hashlib.sha1()
    for sample in samples:
        digest.update(sample.key.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _reject_from(sample: Sample, reason: str, detail: str) -> dict[str, Any]:
    file, line = sample.origin
    return Reject(
        sample.dataset,
        sample.split,
        file or sample.source_path,
        line,
        reason,
        detail,
        None,
        sample.key,
    ).to_json()


def write_shard(job: _ShardJob) -> dict[str, Any]:
    """Write one shard atomically; return its statistics (also saved as the sidecar)."""
    import cv2
    import webdataset as wds

    from holistic.data.faces import prepare_face

    stats = ShardStats()
    rejects: list[dict[str, Any]] = []
    audio = _audio_features(job.samples) if job.audio else {}
    tmp = job.path.with_name(job.path.name + ".tmp")
    # Integer mtime and USTAR: no PAX headers (half the tar parsing when streaming) and
    # byte-identical shards when the same source is converted again.
    with wds.TarWriter(str(tmp), mtime=0, format=tarfile.USTAR_FORMAT) as sink:
        for sample in job.samples:
            if not sample.image.is_file():
                rejects.append(_reject_from(sample, MISSING_IMAGE, f"no image at {sample.image}"))
                continue
            bgr = cv2.imread(str(sample.image), cv2.IMREAD_COLOR)
            if bgr is None:
                rejects.append(
                    _reject_from(sample, UNREADABLE_IMAGE, f"{sample.image} does not decode")
                )
                continue
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            mode = sample.face.mode
            use_detector = mode == "detect" or (mode == "box" and job.align_boxes)
            detector = _detector(required=mode == "detect") if use_detector else None
            face = prepare_face(rgb, sample.face, size=job.size, detector=detector)
            if face is None:
                rejects.append(_reject_from(sample, NO_FACE, f"no face found in {sample.image}"))
                continue
            ok, jpeg = cv2.imencode(
                ".jpg",
                cv2.cvtColor(face.image, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, job.quality],
            )
            if not ok:  # pragma: no cover - cv2 encodes any uint8 image
                raise RuntimeError(f"JPEG encoding failed for {sample.image}")
            record = _record(sample, face.landmarks)
            members = {"__key__": sample.key, "jpg": jpeg.tobytes()}
            if sample.key in audio:
                record["audio_features"] = sorted(audio[sample.key])
                members |= {f"{name}.npy": _npy(a) for name, a in audio[sample.key].items()}
            sink.write({**members, "json": record})
            stats.add(record)
    os.replace(tmp, job.path)
    sidecar = {
        "shard": job.path.name,
        "dataset": job.samples[0].dataset,
        "split": job.samples[0].split,
        "keys_digest": _keys_digest(job.samples),
        "inputs": len(job.samples),
        "size": job.size,
        "quality": job.quality,
        "align_boxes": job.align_boxes,
        "audio": job.audio,
        **stats.to_json(),
        "rejects": rejects,
    }
    job.path.with_name(job.path.name + ".json").write_text(json.dumps(sidecar))
    return sidecar


def _npy(array: Any) -> bytes:
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def _audio_features(samples: Sequence[Sample]) -> dict[str, dict[str, Any]]:
    """Per-frame audio features of the samples that have audio: ``{key: {"mel": [n_mels, W]
    float16, "egemaps": [25] float32}}``. Each audio file is read and analysed once per shard."""
    by_file: dict[Path, list[Sample]] = {}
    for sample in samples:
        if sample.audio is not None and sample.audio_time is not None:
            by_file.setdefault(Path(sample.audio), []).append(sample)
    if not by_file:
        return {}
    from holistic.data.audio import egemaps_frames, load_audio, mel_windows

    features: dict[str, dict[str, Any]] = {}
    for path, group in by_file.items():
        signal, rate = load_audio(path)
        times = [sample.audio_time for sample in group]
        mel = mel_windows(signal, rate, times).astype("float16")
        egemaps = egemaps_frames(signal, rate, times)
        for i, sample in enumerate(group):
            features[sample.key] = {"mel": mel[i], "egemaps": egemaps[i]}
    return features


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


def _done(job: _ShardJob) -> dict[str, Any] | None:
    """The sidecar of a finished shard with exactly these samples and settings, else None."""
    sidecar = job.path.with_name(job.path.name + ".json")
    if not (job.path.is_file() and sidecar.is_file()):
        return None
    try:
        stats = json.loads(sidecar.read_text())
    except json.JSONDecodeError:
        return None
    same = (
        stats.get("split") == job.samples[0].split
        and stats.get("keys_digest") == _keys_digest(job.samples)
        and stats.get("size") == job.size
        and stats.get("quality") == job.quality
        and stats.get("align_boxes") == job.align_boxes
        and stats.get("audio") == job.audio
    )
    return stats if same else None


class _Cutter:
    """Groups an adapter's samples per split into shards of ``shard_size`` in scan order, and
    collects its rejects and the dataset name the events carry."""

    def __init__(self, shard_size: int) -> None:
        self.shard_size = shard_size
        self.rejects: list[Reject] = []
        self.dataset: str | None = None

    def _check_dataset(self, event: Sample | Reject) -> None:
        if self.dataset is None:
            self.dataset = event.dataset
        elif event.dataset != self.dataset:
            raise ValueError(
                f"one conversion writes one dataset: got {event.dataset!r} after {self.dataset!r}"
            )

    def shards(self, events: Iterable[Sample | Reject]):
        """``(split, index, samples)`` for each shard, as soon as it is full."""
        pending: dict[str, list[Sample]] = {}
        counters: Counter = Counter()
        seen: dict[str, set[int]] = {}  # hashes, not strings: millions of frames stay cheap
        for event in events:
            self._check_dataset(event)
            if isinstance(event, Reject):
                self.rejects.append(event)
                continue
            keys = seen.setdefault(event.split, set())
            if hash(event.key) in keys:
                raise ValueError(
                    f"adapter produced the key {event.key!r} twice in split {event.split!r} "
                    f"(second from {event.origin}); keys must be unique"
                )
            keys.add(hash(event.key))
            batch = pending.setdefault(event.split, [])
            batch.append(event)
            if len(batch) == self.shard_size:
                yield event.split, counters[event.split], batch
                counters[event.split] += 1
                pending[event.split] = []
        for split, batch in pending.items():
            if batch:
                yield split, counters[split], batch


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
        options: the adapter's keyword options (e.g. ``{"images": "/data/frames"}``).
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
    """
    from tqdm.auto import tqdm

    if shard_size < 1 or size < 16 or not 1 <= quality <= 100 or workers < 1:
        raise ValueError(
            f"need shard_size >= 1, size >= 16, quality in [1, 100], workers >= 1; got "
            f"{shard_size}, {size}, {quality}, {workers}"
        )
    start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    events = adapter(root, splits, **dict(options or {}))
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
            path = out / shard_name(samples[0].dataset, split, index)
            job = _ShardJob(path, samples, size, quality, align_boxes, audio)
            finished = _done(job)
            if finished is not None:
                sidecars.append(finished)
                skipped += 1
                bar.update(len(samples))
                continue
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
    scope = None if splits is None else set(splits)
    _remove_stale_shards(out, dataset, scope, {s["shard"] for s in sidecars})
    _write_rejects(out, dataset, scope, rejects)
    manifest = _update_manifest(out, adapter, root, dataset, scope, sidecars, rejects, size)
    return FederateResult(dataset, manifest, written, skipped, time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------
# Manifest and rejects
# ---------------------------------------------------------------------------------------------


def load_manifest(out: str | Path) -> dict[str, Any]:
    """Read ``manifest.json`` of a federation folder (local path)."""
    path = Path(out) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: convert a source first with `holistic federate SOURCE ROOT "
            f"--out {out}`"
        )
    return parse_manifest(path.read_bytes(), str(path))


def _in_scope(dataset: str, scope: set[str] | None, entry_dataset: str, split: str) -> bool:
    """Whether a file or line of (entry_dataset, split) belongs to this run's output."""
    return entry_dataset == dataset and (scope is None or split in scope)


def _remove_stale_shards(out: Path, dataset: str, scope: set[str] | None, keep: set[str]) -> None:
    """Delete shards of this run's dataset/splits left by an earlier, larger conversion.

    Ownership comes from each shard's sidecar, never from the file name: ``rafdb-compound``'s
    shards also start with ``rafdb-``.
    """
    for sidecar_path in out.glob("*.tar.json"):
        try:
            sidecar = json.loads(sidecar_path.read_text())
        except json.JSONDecodeError:
            continue
        owner, split, shard = sidecar.get("dataset"), sidecar.get("split"), sidecar.get("shard")
        if shard in keep or not _in_scope(dataset, scope, owner, split):
            continue
        (out / shard).unlink(missing_ok=True)
        sidecar_path.unlink()


def _write_rejects(
    out: Path, dataset: str, scope: set[str] | None, rejects: list[dict[str, Any]]
) -> None:
    path = out / REJECTS
    kept = []
    if path.is_file():
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            old = json.loads(line)
            if not _in_scope(dataset, scope, old.get("dataset"), old.get("split")):
                kept.append(line)
    lines = kept + [json.dumps(reject, ensure_ascii=False) for reject in rejects]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(line + "\n" for line in lines))
    os.replace(tmp, path)


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
    out: Path,
    adapter: Adapter,
    root: str | Path,
    dataset: str,
    scope: set[str] | None,
    sidecars: list[dict[str, Any]],
    rejects: list[dict[str, Any]],
    size: int,
) -> dict[str, Any]:
    path = out / MANIFEST
    manifest = (
        parse_manifest(path.read_bytes(), str(path))
        if path.is_file()
        else {"version": MANIFEST_VERSION, "datasets": {}}
    )
    splits = split_entries(sidecars, rejects)
    if scope is not None:  # a partial run keeps the splits it did not convert
        previous = manifest["datasets"].get(dataset, {}).get("splits", {})
        splits = {**{k: v for k, v in previous.items() if k not in scope}, **splits}
    manifest["datasets"][dataset] = {
        "adapter": {
            "name": adapter.name,
            "version": adapter.version,
            "conventions": dict(adapter.conventions),
        },
        "root": str(Path(root).resolve()),
        "image_size": size,
        "splits": dict(sorted(splits.items())),
    }
    manifest["datasets"] = dict(sorted(manifest["datasets"].items()))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    os.replace(tmp, path)
    return manifest
