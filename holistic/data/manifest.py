"""The federation manifest's shape, checked wherever a manifest is read.

A manifest is data from outside the process: it may be hand-edited, truncated, or crafted. Every
reader (the converter updating it, :class:`holistic.data.federation.Federation`, ``holistic
verify``) parses it with :func:`parse_manifest`, which names the file and the first thing wrong
with it instead of failing later with ``KeyError`` or ``JSONDecodeError``. Shard names are
checked against the naming scheme :func:`shard_name` writes before anything uses them: a name is
substituted into URLs and ``pipe:`` shell templates, so ``rafdb-train-000000.tar; rm -rf ~`` must
never reach a shell.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MANIFEST_VERSION",
    "ManifestError",
    "check_manifest",
    "check_shard_name",
    "parse_manifest",
    "shard_name",
]

MANIFEST_VERSION = 1

#: Dataset and split names: they name shard files and are substituted into URL templates.
_NAME = r"[A-Za-z0-9][A-Za-z0-9_-]*"
_SHARD_NAME = re.compile(rf"^(?P<dataset>{_NAME})-(?P<split>{_NAME})-(?P<index>\d{{6}})\.tar$")
_SAFE_NAME = re.compile(rf"^{_NAME}$")


class ManifestError(ValueError):
    """A manifest that cannot be used: the message names the file, the entry and the fault."""


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


def parse_manifest(text: str | bytes, where: str) -> dict[str, Any]:
    """Parse and check a manifest's text; ``where`` names its file or URL in errors.

    Raises:
        ManifestError: not JSON, or not a manifest of the supported shape.
    """
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ManifestError(
            f"{where} is not valid JSON ({error}); delete it and re-run `holistic federate` "
            f"for each source"
        ) from None
    return check_manifest(data, where)


def check_manifest(data: Any, where: str) -> dict[str, Any]:
    """``data`` if it has the manifest's shape: version, datasets, splits, shards with safe
    names and sample counts.

    Raises:
        ManifestError: the first entry that is missing or of the wrong kind, by its path
            (``manifest.json: datasets.rafdb.splits.train.shards[2].samples: ...``).
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
        splits = _mapping(_mapping(entry, where, path).get("splits"), where, f"{path}.splits")
        for split, split_entry in splits.items():
            spath = f"{path}.splits.{split}"
            if not _SAFE_NAME.match(split):
                raise ManifestError(f"{where}: {spath}: not a split name")
            shards = _mapping(split_entry, where, spath).get("shards")
            if not isinstance(shards, list):
                raise ManifestError(f"{where}: {spath}.shards: expected a list of shards")
            for i, shard in enumerate(shards):
                hpath = f"{spath}.shards[{i}]"
                shard = _mapping(shard, where, hpath)
                check_shard_name(shard.get("name"), dataset, split, f"{where}: {hpath}.name")
                _count(shard.get("samples"), where, f"{hpath}.samples")
                for task, count in _mapping(shard.get("tasks"), where, f"{hpath}.tasks").items():
                    _count(count, where, f"{hpath}.tasks.{task}")
    return root


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
