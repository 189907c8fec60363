"""What a shard is made of, and the sidecar that says whether it is already written.

:func:`inputs_digest` is the SHA-256 of everything a shard is made from (its samples, the size and
modification time of their files, the write settings, the adapter, :data:`SHARD_FORMAT`); a
:class:`_ShardJob` carries it to the writer, which records it in the shard's sidecar
``<shard>.tar.json`` with the tar's ``bytes`` and ``sha256``. :func:`_done` trusts a shard only
when that sidecar parses, is complete, records the same inputs, and the tar matches it. Also the
file helpers that shards, sidecars, ``manifest.json`` and ``rejects.jsonl`` are written with: JSON
that any file name survives, atomic writes, file digests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from holistic.data.adapters._base import FaceHint, Sample

logger = logging.getLogger(__name__)

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
    """The write settings every shard of a run shares (recorded in sidecars and the manifest).

    ``audio_features``: how the audio features are made (``AudioSettings.to_json()``), when
    ``audio``; left out of the JSON otherwise, so conversions without audio keep their digests.
    """

    size: int
    quality: int
    align_boxes: bool
    audio: bool
    audio_features: tuple[tuple[str, Any], ...] | None = None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["audio_features"] = dict(self.audio_features or ())
        if not self.audio:
            del data["audio_features"]
        return data

    def audio_settings(self) -> Any:
        """The :class:`~holistic.data.audio.AudioSettings` of the features (defaults when none
        were given)."""
        from holistic.data.audio import AUDIO_SETTINGS, AudioSettings

        if not self.audio_features:
            return AUDIO_SETTINGS
        return AudioSettings.from_json(dict(self.audio_features))


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
# The job of writing one shard
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
