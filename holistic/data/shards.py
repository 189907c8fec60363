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
SHA-256 the sidecar records (a done shard whose sidecar predates the VA histograms gets them
counted from its records; the tar is not rewritten). The inputs digest covers every field of every sample of the shard
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

This module cuts the stream into shards and runs the conversion; one shard is written by
:mod:`holistic.data._shard_writer`, whether it is done is decided by
:mod:`holistic.data._sidecars` (inputs digest, sidecar checks), and ``manifest.json`` and
``rejects.jsonl`` are kept by :mod:`holistic.data._federation_files`. Their public names are
exported here.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from holistic.data._federation_files import (
    MANIFEST,
    REJECTS,
    _read_manifest,
    _read_rejects,
    _remove_stale_shards,
    _update_manifest,
    _write_rejects,
    load_manifest,
    save_manifest,
    split_entries,
)
from holistic.data._shard_writer import (
    LABEL_TASKS,
    ShardStats,
    _complete_sidecar,
    _reject,
    write_shard,
)
from holistic.data._sidecars import (
    SHARD_FORMAT,
    _done,
    _json_bytes,
    _Settings,
    _ShardJob,
    file_digest,
    inputs_digest,
)
from holistic.data.adapters._base import DUPLICATE, Adapter, FaceHint, Reject, Sample
from holistic.data.manifest import CONVERTING, shard_name

__all__ = [
    "LABEL_TASKS",
    "MANIFEST",
    "REJECTS",
    "SHARD_FORMAT",
    "FederateResult",
    "ShardStats",
    "federate",
    "file_digest",
    "inputs_digest",
    "load_manifest",
    "save_manifest",
    "shard_name",
    "split_entries",
    "write_shard",
]


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
    audio_settings: Any = None,
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
        audio_settings: how to make them (:class:`~holistic.data.audio.AudioSettings`; default
            :data:`~holistic.data.audio.AUDIO_SETTINGS`). Recorded in the manifest and each
            shard's digest: other settings rebuild the shards with audio.
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
        settings=_Settings(
            size, quality, align_boxes, audio, _audio_settings_items(audio, audio_settings)
        ),
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
            if finished is not None:  # a sidecar that predates a statistic gets it from the tar
                finished = _complete_sidecar(job, finished)
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


def _audio_settings_items(audio: bool, settings: Any) -> tuple[tuple[str, Any], ...] | None:
    """The audio settings of a conversion as hashable items (None without audio)."""
    if not audio:
        return None
    from holistic.data.audio import AUDIO_SETTINGS

    return tuple(sorted((settings or AUDIO_SETTINGS).to_json().items()))
