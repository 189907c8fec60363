"""The federation manifest's shape, checked wherever a manifest is read.

A manifest is data from outside the process: it may be hand-edited, truncated, or crafted. Every
reader (the converter updating it, :class:`holistic.data.federation.Federation`, ``holistic
verify``) parses it with :func:`parse_manifest`, which names the file and the first thing wrong
with it instead of failing later with ``KeyError`` or ``JSONDecodeError``. Shard names are
checked against the naming scheme :func:`shard_name` writes before anything uses them: a name is
substituted into URLs and ``pipe:`` shell templates, so ``rafdb-train-000000.tar; rm -rf ~`` must
never reach a shell.

A dataset entry whose ``status`` is ``"converting"`` belongs to a conversion that started to
rewrite or delete the dataset's shards and has not finished: its shards may not be the ones the
entry describes. Readers (:func:`parse_manifest`, :func:`check_manifest`) refuse such a manifest
with :class:`ConversionInterrupted`, which says which command to re-run; only the converter itself
reads it with ``interrupted_ok=True``. Entries without ``status`` (written before it existed) are
complete. A shard entry may record its tar's ``bytes`` and ``sha256``; when present they are
checked for shape here, and against the file by ``holistic verify``.

Shard and split entries may record ``va_histogram``, the counts of their VA labels per bin
(:func:`va_histogram_to_json`); when present it is checked here: its bins, one count >= 0 per
bin for valence and for arousal, both summing to the entry's VA count, and a split's equal to the
sum of its shards'. Manifests written before it existed lack it and are still read.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from holistic.schema import VABins, VAHistogram

__all__ = [
    "COMPLETE",
    "CONVERTING",
    "MANIFEST_FILE",
    "MANIFEST_VERSION",
    "ConversionInterrupted",
    "ManifestError",
    "check_file_name",
    "check_manifest",
    "check_shard_name",
    "parse_manifest",
    "record_has",
    "shard_name",
    "va_histogram_from_json",
    "va_histogram_to_json",
]

MANIFEST_VERSION = 1
#: Manifest task counts whose record key differs from the task's name.
TASK_RECORD_KEYS = {"audio": "audio_features"}
#: The manifest's file name in a federation.
MANIFEST_FILE = "manifest.json"

#: Dataset and split names: they name shard files and are substituted into URL templates.
_NAME = r"[A-Za-z0-9][A-Za-z0-9_-]*"
_SHARD_NAME = re.compile(rf"^(?P<dataset>{_NAME})-(?P<split>{_NAME})-(?P<index>\d{{6}})\.tar$")
_SAFE_NAME = re.compile(rf"^{_NAME}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

#: ``status`` of a dataset entry whose shards are being (re)written: readers must not use it.
CONVERTING = "converting"
#: ``status`` of a dataset entry whose conversion finished (also what a missing status means).
COMPLETE = "complete"


class ManifestError(ValueError):
    """A manifest that cannot be used: the message names the file, the entry and the fault."""


class ConversionInterrupted(ManifestError):
    """A dataset of the manifest is marked ``"converting"``: its conversion did not finish, so
    its shards may not be the ones the manifest describes. The message names the command to
    re-run."""


def shard_name(dataset: str, split: str, index: int) -> str:
    """``affwild2-train-000003.tar``.

    Raises:
        ValueError: a dataset or split name with characters other than letters, digits, ``_``
            and ``-`` (they could not be told apart from the rest of the name, or be quoted
            safely in a ``pipe:`` template), or an index outside ``[0, 999999]``.
    """
    for kind, value in (("dataset", dataset), ("split", split)):
        if not isinstance(value, str) or not _SAFE_NAME.match(value):
            raise ValueError(
                f"{kind} name {value!r} cannot name a shard: use letters, digits, _ and -"
            )
    if not 0 <= index <= 999_999:
        raise ValueError(f"shard index {index} outside [0, 999999]")
    return f"{dataset}-{split}-{index:06d}.tar"


def check_shard_name(name: Any, dataset: str, split: str, where: str = "manifest") -> str:
    """``name`` if it is a shard name of ``dataset``'s ``split`` under the naming scheme.

    Raises:
        ManifestError: anything else (the message names ``where``).
    """
    match = _SHARD_NAME.match(name) if isinstance(name, str) else None
    if match is None or name != f"{dataset}-{split}-{match['index']}.tar":
        raise ManifestError(
            f"{where}: shard name {name!r} is not a shard of {dataset!r} {split!r} "
            f"(expected {dataset}-{split}-NNNNNN.tar); the manifest was edited or crafted, "
            f"re-convert with `holistic federate`"
        )
    return name


def check_file_name(name: Any, where: str = "federation") -> str:
    """``name`` if a federation may hold a file of that name: ``manifest.json`` or a shard name
    of the naming scheme (any dataset and split). What is substituted into a URL or a
    ``pipe:`` shell template passes here first.

    Raises:
        ManifestError: anything else (the message names ``where`` and the name).
    """
    if name == MANIFEST_FILE or (isinstance(name, str) and _SHARD_NAME.fullmatch(name)):
        return name
    raise ManifestError(
        f"{where}: {name!r} is not a file of a federation ({MANIFEST_FILE} or "
        "DATASET-SPLIT-NNNNNN.tar); a name read from a manifest must not reach a URL or a "
        "pipe: command unchecked"
    )


def parse_manifest(
    text: str | bytes, where: str, *, interrupted_ok: bool = False
) -> dict[str, Any]:
    """Parse and check a manifest's text; ``where`` names its file or URL in errors.

    Args:
        text: the manifest's bytes or text.
        where: its file or URL, for messages.
        interrupted_ok: accept datasets marked ``"converting"`` (only the converter, which
            is about to finish them, reads a manifest this way).

    Raises:
        ManifestError: not JSON, or not a manifest of the supported shape.
        ConversionInterrupted: a dataset's conversion was interrupted (unless
            ``interrupted_ok``).
    """
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ManifestError(
            f"{where} is not valid JSON ({error}); delete it and re-run `holistic federate` "
            f"for each source"
        ) from None
    return check_manifest(data, where, interrupted_ok=interrupted_ok)


def check_manifest(data: Any, where: str, *, interrupted_ok: bool = False) -> dict[str, Any]:
    """``data`` if it has the manifest's shape: version, datasets, splits, shards with safe
    names and sample counts (and, when recorded, well-formed ``bytes`` and ``sha256``), and no
    dataset left ``"converting"`` by an interrupted conversion.

    Args:
        data: the parsed manifest.
        where: its file or URL, for messages.
        interrupted_ok: accept datasets marked ``"converting"`` (see :func:`parse_manifest`).

    Raises:
        ManifestError: the first entry that is missing or of the wrong kind, by its path
            (``manifest.json: datasets.rafdb.splits.train.shards[2].samples: ...``).
        ConversionInterrupted: a dataset's conversion was interrupted (unless
            ``interrupted_ok``).
    """
    root = _mapping(data, where, "the manifest")
    if root.get("version") != MANIFEST_VERSION:
        raise ManifestError(
            f"{where}: manifest version {root.get('version')!r} is not supported "
            f"(expected {MANIFEST_VERSION})"
        )
    datasets = _mapping(root.get("datasets"), where, "datasets")
    for dataset, entry in datasets.items():
        path = f"datasets.{dataset}"
        if not isinstance(dataset, str) or not _SAFE_NAME.match(dataset):
            raise ManifestError(f"{where}: {path}: not a dataset name")
        entry = _mapping(entry, where, path)
        status = entry.get("status", COMPLETE)
        if status not in (COMPLETE, CONVERTING):
            raise ManifestError(
                f"{where}: {path}.status: expected {COMPLETE!r} or {CONVERTING!r}, got {status!r}"
            )
        if status == CONVERTING and not interrupted_ok:
            raise ConversionInterrupted(_interrupted_message(where, dataset, entry))
        splits = _mapping(entry.get("splits"), where, f"{path}.splits")
        for split, split_entry in splits.items():
            spath = f"{path}.splits.{split}"
            if not _SAFE_NAME.match(split):
                raise ManifestError(f"{where}: {spath}: not a split name")
            split_entry = _mapping(split_entry, where, spath)
            shards = split_entry.get("shards")
            if not isinstance(shards, list):
                raise ManifestError(f"{where}: {spath}.shards: expected a list of shards")
            histograms = []
            for i, shard in enumerate(shards):
                hpath = f"{spath}.shards[{i}]"
                shard = _mapping(shard, where, hpath)
                check_shard_name(shard.get("name"), dataset, split, f"{where}: {hpath}.name")
                _count(shard.get("samples"), where, f"{hpath}.samples")
                for task, count in _mapping(shard.get("tasks"), where, f"{hpath}.tasks").items():
                    _count(count, where, f"{hpath}.tasks.{task}")
                _check_integrity(shard, where, hpath)
                histograms.append(_check_va_histogram(shard, where, hpath))
            _check_split_va_histogram(split_entry, histograms, where, spath)
    return root


def _check_integrity(shard: Mapping[str, Any], where: str, path: str) -> None:
    """``bytes`` and ``sha256`` of a shard entry, when recorded (manifests written before
    they existed lack them)."""
    if "bytes" in shard:
        _count(shard["bytes"], where, f"{path}.bytes")
    digest = shard.get("sha256")
    if "sha256" in shard and not (isinstance(digest, str) and _SHA256.match(digest)):
        raise ManifestError(
            f"{where}: {path}.sha256: expected 64 lower-case hex digits, got {digest!r}"
        )


def va_histogram_to_json(histogram: VAHistogram) -> dict[str, Any]:
    """The manifest's (and sidecar's) ``va_histogram``: ``{"low", "high", "bins_per_unit",
    "valence": [count per bin], "arousal": [count per bin]}``."""
    bins = histogram.bins
    return {
        "low": bins.low,
        "high": bins.high,
        "bins_per_unit": bins.bins_per_unit,
        "valence": list(histogram.valence),
        "arousal": list(histogram.arousal),
    }


def va_histogram_from_json(
    value: Any, where: str = "manifest", path: str = "va_histogram"
) -> VAHistogram:
    """The :class:`~holistic.schema.VAHistogram` of a ``va_histogram`` entry.

    Args:
        value: the entry.
        where, path: its file or URL and its path in the file, for messages.

    Raises:
        ManifestError: not of that shape: bins that are not numbers with ``low < high`` and
            ``bins_per_unit > 0``, counts that are not one count >= 0 per bin, or valence and
            arousal counting different totals.
    """
    value = _mapping(value, where, path)
    spec = {name: value.get(name) for name in ("low", "high", "bins_per_unit")}
    try:
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in spec.values()):
            raise ValueError(f"expected numbers, got {spec}")
        bins = VABins(**{name: float(v) for name, v in spec.items()})
    except ValueError as error:
        raise ManifestError(f"{where}: {path}: bad bins ({error})") from None
    counts = {}
    for name in ("valence", "arousal"):
        found = value.get(name)
        if not isinstance(found, list) or len(found) != bins.num_bins:
            raise ManifestError(
                f"{where}: {path}.{name}: expected a list of {bins.num_bins} counts (one per bin "
                f"of [{bins.low}, {bins.high}] at {bins.bins_per_unit} bins per unit), got "
                f"{found!r}"
            )
        counts[name] = tuple(_count(c, where, f"{path}.{name}[{i}]") for i, c in enumerate(found))
    if sum(counts["valence"]) != sum(counts["arousal"]):
        raise ManifestError(
            f"{where}: {path}: valence counts {sum(counts['valence'])} labels and arousal "
            f"{sum(counts['arousal'])}, but every VA label has both"
        )
    return VAHistogram(counts["valence"], counts["arousal"], bins)


def _check_va_histogram(entry: Mapping[str, Any], where: str, path: str) -> VAHistogram | None:
    """An entry's ``va_histogram`` (None when it has none), counting its ``tasks.va`` labels."""
    if "va_histogram" not in entry:
        return None
    histogram = va_histogram_from_json(entry["va_histogram"], where, f"{path}.va_histogram")
    tasks = entry.get("tasks")
    labelled = tasks.get("va", 0) if isinstance(tasks, Mapping) else None
    if labelled is not None and histogram.total != labelled:
        raise ManifestError(
            f"{where}: {path}.va_histogram counts {histogram.total} VA labels, but "
            f"{path}.tasks.va says {labelled}; the manifest was edited, re-convert with "
            "`holistic federate`"
        )
    return histogram


def _check_split_va_histogram(
    entry: Mapping[str, Any], shards: list[VAHistogram | None], where: str, path: str
) -> None:
    """A split's ``va_histogram``, when recorded: well formed, and the sum of its shards'."""
    histogram = _check_va_histogram(entry, where, path)
    if histogram is None or any(shard is None for shard in shards):
        return
    try:
        total = sum(shards, VAHistogram.zeros(histogram.bins))
    except ValueError as error:  # shards binned otherwise than their split
        raise ManifestError(f"{where}: {path}.shards: {error}") from None
    if total != histogram:
        raise ManifestError(
            f"{where}: {path}.va_histogram is not the sum of its shards' histograms; the "
            "manifest was edited, re-convert with `holistic federate`"
        )


def _interrupted_message(where: str, dataset: str, entry: Mapping[str, Any]) -> str:
    """What to do about a dataset left ``"converting"``: the command that finishes it."""
    adapter = entry.get("adapter")
    source = adapter.get("name") if isinstance(adapter, Mapping) else None
    options = entry.get("options") if isinstance(entry.get("options"), Mapping) else {}
    command = " ".join(
        [
            "holistic federate",
            str(source or "SOURCE"),
            str(entry.get("root") or "ROOT"),
            f"--out {_folder_of(where)}",
            *(f"--option {key}={value}" for key, value in options.items()),
        ]
    )
    return (
        f"{where}: the conversion of {dataset!r} was interrupted (status {CONVERTING!r}), so "
        f"its shards may not be the ones the manifest describes; re-run `{command}` (the same "
        "command and splits as before) to finish it, then read the federation again"
    )


def _mapping(value: Any, where: str, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ManifestError(f"{where}: {path}: expected a mapping, got {_kind(value)}")
    return value


def _count(value: Any, where: str, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ManifestError(f"{where}: {path}: expected a count >= 0, got {value!r}")
    return value


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _folder_of(where: str) -> str:
    """The federation folder of a local ``.../manifest.json``, else ``OUT``."""
    local = "://" not in where and not where.startswith("pipe:")
    if local and os.path.basename(where) == "manifest.json":
        return os.path.dirname(where) or "."
    return "OUT"


def record_has(record: Any, task: str) -> bool:
    """Whether a shard record counts for ``task`` in the manifest's task counts (``"audio"``:
    the record lists ``audio_features``; a label task: the record has its key)."""
    return TASK_RECORD_KEYS.get(task, task) in record
