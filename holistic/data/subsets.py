"""Few-shot subsets of a federation: choose K samples per class, write them as a small federation.

Fine-tuning on K examples per class streams them through the same mixer, augmentation and
rank/worker split as any federation, so the subset is written as shards + ``manifest.json`` of its
own (a few hundred samples; the raw tar members are copied, nothing is re-encoded). The choice is
a function of the seed alone, and is recorded in ``subset.json`` next to the manifest.

    keys = few_shot_keys(federation, task="compound", vocabulary=space.compounds, shots=5, seed=0)
    subset = write_subset(federation, "runs/ft/fewshot", keys)
"""

from __future__ import annotations

import json
import logging
import os
import random
import tarfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from holistic.data.federation import Federation
from holistic.data.manifest import MANIFEST_VERSION
from holistic.data.shards import (
    ShardStats,
    file_digest,
    save_manifest,
    shard_name,
    split_entries,
)
from holistic.data.tario import iter_samples

__all__ = ["few_shot_keys", "write_subset"]

logger = logging.getLogger(__name__)

#: Tasks a few-shot subset can be chosen for: classes of ``expr``/``compound``, AUs of ``au``.
TASKS = ("expr", "compound", "au")


def _records(federation: Federation, split: str, datasets: Sequence[str] | None):
    """``(dataset, key, record)`` of every sample of ``split``, reading only the JSON members."""
    for ref in federation.shards(split, None, datasets):
        for raw in iter_samples(ref.url):
            if "json" in raw:
                yield ref.dataset, raw["__key__"], json.loads(raw["json"])


def few_shot_keys(
    federation: Federation,
    *,
    task: str,
    vocabulary: Iterable[str | int],
    shots: int,
    seed: int = 0,
    split: str = "train",
    datasets: Sequence[str] | None = None,
) -> dict[str, list[str]]:
    """Choose ``shots`` samples per class (``expr``/``compound``) or per occurring AU (``au``).

    An AU sample is chosen for an AU it shows (occurrence 1); one sample may serve several AUs,
    and ``shots`` more samples with no vocabulary AU occurring are added as negatives. A class
    with fewer samples than ``shots`` gives all it has (logged). The choice depends only on the
    federation and ``seed``.

    Returns:
        ``{dataset: [key, ...]}`` in the federation's order.

    Raises:
        ValueError: an unknown task, ``shots < 1``, or no sample of the vocabulary at all.
    """
    if task not in TASKS:
        raise ValueError(f"few-shot subsets are chosen per class of {list(TASKS)}, not {task!r}")
    if shots < 1:
        raise ValueError(f"shots must be >= 1, got {shots}")
    classes = [str(c) for c in vocabulary]
    pools: dict[str, list[tuple[str, str]]] = {c: [] for c in classes}
    negatives: list[tuple[str, str]] = []
    order: dict[tuple[str, str], int] = {}
    for dataset, key, record in _records(federation, split, datasets):
        label = record.get(task)
        if label is None:
            continue
        item = (dataset, key)
        order.setdefault(item, len(order))
        if task == "au":
            shown = [au for au in classes if label.get(au) == 1]
            for au in shown:
                pools[au].append(item)
            if not shown and any(au in label for au in classes):
                negatives.append(item)
        elif label in pools:
            pools[label].append(item)
    if not any(pools.values()):
        raise ValueError(
            f"no {split} sample of {list(datasets or federation.datasets)} has a {task} label in "
            f"{classes}"
        )
    rng = random.Random(f"few-shot-{seed}")
    chosen: set[tuple[str, str]] = set()
    short = {}
    for name, pool in [*pools.items(), *([("negatives", negatives)] if task == "au" else [])]:
        picked = rng.sample(pool, min(shots, len(pool)))
        if len(picked) < shots:
            short[name] = len(picked)
        chosen.update(picked)
    if short:
        logger.warning("fewer than %d %s samples of %s (all taken): %s", shots, split, task, short)
    keys: dict[str, list[str]] = {}
    for dataset, key in sorted(chosen, key=order.__getitem__):
        keys.setdefault(dataset, []).append(key)
    return keys


def write_subset(
    federation: Federation,
    out: str | Path,
    keys: dict[str, Sequence[str]],
    *,
    split: str = "train",
    note: dict[str, Any] | None = None,
) -> Federation:
    """Copy the samples named by ``keys`` (``{dataset: [key]}``) of ``split`` into a federation
    at ``out`` (one shard per dataset + ``manifest.json`` + ``subset.json``) and return it.

    Raises:
        ValueError: a key that ``split`` of its dataset does not have.
    """
    import webdataset as wds

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"version": MANIFEST_VERSION, "datasets": {}}
    for dataset, wanted in keys.items():
        wanted_set = set(wanted)
        path = out / shard_name(dataset, split, 0)
        tmp = path.with_name(path.name + ".tmp")
        stats = ShardStats()
        with wds.TarWriter(str(tmp), mtime=0, format=tarfile.USTAR_FORMAT) as sink:
            for ref in federation.shards(split, None, [dataset]):
                for raw in iter_samples(ref.url):
                    if raw["__key__"] in wanted_set:
                        sink.write({k: v for k, v in raw.items() if k != "__url__"})
                        stats.add(json.loads(raw["json"]))
                        wanted_set.discard(raw["__key__"])
        if wanted_set:
            tmp.unlink()
            missing = sorted(wanted_set)[:5]
            raise ValueError(f"{dataset}/{split} has no samples {missing} (of {len(wanted_set)})")
        size, sha256 = file_digest(tmp)
        os.replace(tmp, path)
        sidecar = {
            "shard": path.name,
            "split": split,
            **stats.to_json(),
            "bytes": size,
            "sha256": sha256,
        }
        source = federation.manifest["datasets"][dataset]
        manifest["datasets"][dataset] = {
            **{k: v for k, v in source.items() if k != "splits"},
            "splits": split_entries([sidecar]),
        }
    save_manifest(out, manifest)
    subset = {"source": federation.location, "split": split, "keys": keys, **(note or {})}
    (out / "subset.json").write_text(json.dumps(subset, indent=1))
    return Federation(str(out))
