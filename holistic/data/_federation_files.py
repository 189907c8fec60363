"""A federation folder's ``manifest.json`` and ``rejects.jsonl`` as a conversion keeps them.

Readers load the manifest with :func:`load_manifest`. A conversion reads both files before it
writes anything (a malformed one stops it), replaces only its own dataset's manifest entry and
rejects lines, marks the entry ``converting`` before its first change, deletes the dataset's
stale shard files, and writes the finished entry (:func:`split_entries` of the shards' sidecars)
last.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from holistic.data._sidecars import (
    _REJECT_FIELDS,
    _is_reject,
    _json_bytes,
    _load_sidecar,
    _sidecar_path,
)
from holistic.data.atomic import write_atomic
from holistic.data.manifest import (
    COMPLETE,
    MANIFEST_VERSION,
    ManifestError,
    parse_manifest,
    va_histogram_from_json,
    va_histogram_to_json,
)
from holistic.schema import VA_BINS, VAHistogram

if TYPE_CHECKING:
    from holistic.data.shards import _Conversion

MANIFEST = "manifest.json"
REJECTS = "rejects.jsonl"


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
    write_atomic(Path(out) / MANIFEST, _json_bytes(manifest, indent=1))


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
    write_atomic(conversion.out / REJECTS, b"".join(line + b"\n" for line in kept + lines))


def _merge_counts(target: dict[str, Any], source: Mapping[str, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, Mapping):
            _merge_counts(target.setdefault(key, {}), value)
        else:
            target[key] = target.get(key, 0) + value


def split_entries(
    sidecars: Sequence[Mapping[str, Any]], rejects: Sequence[Mapping[str, Any]] = ()
) -> dict[str, dict[str, Any]]:
    """The manifest's per-split entries (shards, task counts, classes, AUs, rejects, VA
    histograms) from shard statistics (the sidecars of :func:`write_shard`) and reject
    records. A split's ``va_histogram`` is the sum of its shards'; it is left out when a shard
    has none."""
    splits: dict[str, dict[str, Any]] = {}
    # Per split, the sum of its shards' VA histograms; None once a shard has none.
    histograms: dict[str, VAHistogram | None] = {}

    def entry_of(split: str) -> dict[str, Any]:
        histograms.setdefault(split, VAHistogram.zeros(VA_BINS))
        return splits.setdefault(
            split,
            {"shards": [], "samples": 0, "tasks": {}, "classes": {}, "aus": {}, "rejects": {}},
        )

    for sidecar in sorted(sidecars, key=lambda s: s["shard"]):
        split = sidecar["split"]
        entry = entry_of(split)
        shard = {"name": sidecar["shard"], "samples": sidecar["samples"], "tasks": sidecar["tasks"]}
        if "longest_run" in sidecar:  # sidecars written before clips were counted lack it
            shard["frames"], shard["longest_run"] = sidecar["frames"], sidecar["longest_run"]
        if "sha256" in sidecar:  # the tar's integrity, checked by `holistic verify` and readers
            shard["bytes"], shard["sha256"] = sidecar["bytes"], sidecar["sha256"]
        if "va_histogram" in sidecar and histograms[split] is not None:
            shard["va_histogram"] = sidecar["va_histogram"]
            where = f"the sidecar of {sidecar['shard']}"
            histograms[split] += va_histogram_from_json(sidecar["va_histogram"], where)
        else:  # sidecars written before VA histograms lack it (a conversion recounts them)
            histograms[split] = None
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
    for split, entry in splits.items():
        entry["aus"] = dict(sorted(entry["aus"].items(), key=lambda item: int(item[0])))
        entry["annotated_aus"] = [int(au) for au in entry["aus"]]
        if histograms[split] is not None:
            entry["va_histogram"] = va_histogram_to_json(histograms[split])
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
