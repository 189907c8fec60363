"""Subsets of a federation, written as federations of their own: few-shot and label-budget.

Fine-tuning on K examples per class, or training with a fraction of a task's labels, streams the
subset through the same mixer, augmentation and rank/worker split as any federation, so the
subset is written as shards + ``manifest.json`` of its own (the raw tar members are copied,
nothing is re-encoded). The choice is a function of the source and the seed alone, and is
recorded in ``subset.json`` next to the manifest.

    keys = few_shot_keys(federation, task="compound", vocabulary=space.compounds, shots=5, seed=0)
    subset = write_subset(federation, "runs/ft/fewshot", keys)

    budget = write_label_budget(federation, "runs/budget/au01", {"au": 0.01, "expr": 0.01})

Both writers stream a split through :func:`_write_split`, which copies every member of a kept
sample byte for byte and re-encodes only a JSON record that was edited; every file is written
to a temporary name and renamed, and ``manifest.json`` is written last.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import numbers
import os
import random
import shutil
import tarfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from holistic.data._sidecars import _json_bytes
from holistic.data.atomic import write_atomic
from holistic.data.federation import Federation
from holistic.data.manifest import MANIFEST_FILE, MANIFEST_VERSION
from holistic.data.shards import (
    LABEL_TASKS,
    ShardStats,
    file_digest,
    save_manifest,
    shard_name,
    split_entries,
)
from holistic.data.tario import iter_samples

__all__ = [
    "BUDGET_TASKS",
    "few_shot_keys",
    "label_budget_keys",
    "write_label_budget",
    "write_subset",
]

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
        ValueError: a key that ``split`` of its dataset does not have, or ``out`` is the
            source federation's own folder.
    """
    out = _start(federation, out)
    manifest: dict[str, Any] = {"version": MANIFEST_VERSION, "datasets": {}}
    for dataset, wanted in keys.items():
        missing = set(wanted)

        def take(key: str, record: dict[str, Any], missing: set[str] = missing) -> dict | None:
            if key not in missing:
                return None
            missing.discard(key)
            return record

        sidecars = _write_split(federation, out, dataset, split, take)
        if missing:
            for sidecar in sidecars:  # in no manifest: leave nothing behind
                (out / sidecar["shard"]).unlink()
            some = sorted(missing)[:5]
            raise ValueError(f"{dataset}/{split} has no samples {some} (of {len(missing)})")
        manifest["datasets"][dataset] = _entry(federation, dataset, split_entries(sidecars))
    subset = {"source": federation.location, "split": split, "keys": keys, **(note or {})}
    return _finish(out, manifest, subset)


# ---------------------------------------------------------------------------------------------
# Label budgets
# ---------------------------------------------------------------------------------------------

#: Tasks a label budget subsamples.
BUDGET_TASKS = ("va", "expr", "au")
#: The record fields that carry each budget task's label (what makes a sample labelled for it).
_LABEL_FIELDS: dict[str, tuple[str, ...]] = {
    "va": ("va",),
    "expr": ("expr",),
    "au": ("au", "au_intensity"),
}
#: Fields of a record's ``extra`` that hold the same label in the source's own units, or how it
#: was derived (adapters: AFEW-VA/table/HF ``native_va``; AffectNet/table ``native_expression``;
#: DISFA ``occurrence_threshold``). They go with the label: a dropped label must not survive
#: in another form. ``native_label`` (RAF-DB, HF, EmotioNet compound) names the class of
#: whichever of ``expr``/``compound`` the record has; it goes with ``expr`` only when the record
#: has no ``compound``.
_EXTRA_FIELDS: dict[str, tuple[str, ...]] = {
    "va": ("native_va",),
    "expr": ("native_expression",),
    "au": ("occurrence_threshold",),
}


def label_budget_keys(
    federation: Federation,
    fractions: Mapping[str, float],
    *,
    seed: int = 0,
    split: str = "train",
    datasets: Sequence[str] | None = None,
) -> dict[str, dict[str, list[str]]]:
    """Choose, per task of ``fractions`` and per dataset, the samples that keep that task's label.

    Of the ``n`` samples of a dataset's ``split`` labelled for a task, ``ceil(fraction * n)``
    are kept (so a dataset with labels keeps at least one; 1.0 keeps all). Samples are ranked by
    a hash of (seed, task, dataset, key) and the budget takes a prefix of that ranking, so the
    choice depends only on the federation's keys, the seed and the fraction, and a smaller
    budget is a subset of a larger one with the same seed (nested budgets). Each task is ranked
    on its own: a sample kept for ``expr`` is no likelier to be kept for ``au``.

    Args:
        fractions: ``{task: fraction}`` with tasks among :data:`BUDGET_TASKS`, ``0 < fraction
            <= 1``; tasks not named keep all their labels.
        datasets: only these datasets (None: all of the federation).

    Returns:
        ``{task: {dataset: [key, ...]}}``, keys in the federation's order; every dataset with
        samples of ``split`` appears (with an empty list when it has no label of the task).

    Raises:
        ValueError: an unknown task, a fraction outside (0, 1], or no task at all.
        SelectionError: a dataset the federation does not have.
    """
    pools = _label_pools(federation, _check_fractions(fractions), split, datasets)
    return _choose(pools, fractions, seed)


def write_label_budget(
    federation: Federation,
    out: str | Path,
    fractions: Mapping[str, float],
    *,
    seed: int = 0,
    split: str = "train",
    datasets: Sequence[str] | None = None,
) -> Federation:
    """Write a federation at ``out`` whose ``split`` keeps each task's labels on the samples of
    :func:`label_budget_keys` only, and return it.

    In ``split``, a sample not chosen for a task loses that task's label fields (and the
    ``extra`` fields that restate them, see :data:`_EXTRA_FIELDS`), nothing else: a sample with
    VA and EXPR labels whose EXPR is dropped keeps its VA. A sample the budget leaves with no
    label of any task is dropped. Every other member (JPEG, audio arrays) is copied byte for
    byte, and the split is cut into shards of the source's shard size. The other splits of the
    datasets are hard-linked from the source (copied across file systems or from a URL) with
    their manifest entries, so a run evaluates on untouched data. ``subset.json`` records the
    source, seed, fractions and, per dataset and task, the labels ``kept`` of ``available``.

    Raises:
        ValueError: a bad ``fractions`` (see :func:`label_budget_keys`) or ``out`` is the
            source federation's own folder.
        SelectionError: a dataset the federation does not have.
    """
    tasks = _check_fractions(fractions)
    pools = _label_pools(federation, tasks, split, datasets)
    chosen = {
        task: {dataset: set(keys) for dataset, keys in per_dataset.items()}
        for task, per_dataset in _choose(pools, fractions, seed).items()
    }
    out = _start(federation, out)
    manifest: dict[str, Any] = {"version": MANIFEST_VERSION, "datasets": {}}
    counts: dict[str, dict[str, Any]] = {}
    for dataset in datasets or federation.datasets:
        source = federation.manifest["datasets"][dataset]["splits"]
        splits = {name: entry for name, entry in source.items() if name != split}
        for entry in splits.values():
            for shard in entry["shards"]:
                _link(federation.url(shard["name"]), out / shard["name"])
        if split in source:
            keep = {task: chosen[task][dataset] for task in tasks}
            size = max([shard["samples"] for shard in source[split]["shards"]] + [1])
            edit = _budget_edit(keep)
            sidecars = _write_split(federation, out, dataset, split, edit, shard_size=size)
            splits.update(split_entries(sidecars))
            kept = sum(sidecar["samples"] for sidecar in sidecars)
            counts[dataset] = {
                **{
                    task: {"kept": len(keep[task]), "available": len(pools[task][dataset])}
                    for task in tasks
                },
                "samples": {"kept": kept, "available": source[split]["samples"]},
            }
        manifest["datasets"][dataset] = _entry(federation, dataset, dict(sorted(splits.items())))
    subset = {
        "source": federation.location,
        "split": split,
        "seed": seed,
        "fractions": {task: float(fractions[task]) for task in tasks},
        "counts": counts,
    }
    return _finish(out, manifest, subset)


def _check_fractions(fractions: Mapping[str, float]) -> list[str]:
    """The tasks of ``fractions``, after checking every task and fraction."""
    if not fractions:
        raise ValueError(f"a label budget needs a fraction for at least one of {BUDGET_TASKS}")
    for task, fraction in fractions.items():
        if task not in BUDGET_TASKS:
            raise ValueError(f"label budgets subsample {list(BUDGET_TASKS)}, not {task!r}")
        number = isinstance(fraction, numbers.Real) and not isinstance(fraction, bool)
        if not number or not 0 < fraction <= 1:  # NaN fails the comparison too
            raise ValueError(
                f"the {task} fraction must be a number in (0, 1] (0.01 keeps 1 % of the "
                f"labels), got {fraction!r}"
            )
    return list(fractions)


def _label_pools(
    federation: Federation, tasks: Sequence[str], split: str, datasets: Sequence[str] | None
) -> dict[str, dict[str, list[str]]]:
    """``{task: {dataset: [key]}}``: the samples of ``split`` labelled for each task."""
    federation.check_datasets(datasets)
    entries = federation.manifest["datasets"]
    names = [d for d in datasets or federation.datasets if split in entries[d]["splits"]]
    pools: dict[str, dict[str, list[str]]] = {task: {d: [] for d in names} for task in tasks}
    for dataset, key, record in _records(federation, split, names):
        for task in tasks:
            if _labelled(record, task):
                pools[task][dataset].append(key)
    return pools


def _choose(
    pools: Mapping[str, Mapping[str, list[str]]], fractions: Mapping[str, float], seed: int
) -> dict[str, dict[str, list[str]]]:
    chosen: dict[str, dict[str, list[str]]] = {}
    for task, per_dataset in pools.items():
        chosen[task] = {}
        for dataset, keys in per_dataset.items():
            # round() first: 0.1 * 30 is 3.0000000000000004 in floating point, not 4 samples.
            count = math.ceil(round(fractions[task] * len(keys), 9))
            ranked = sorted(keys, key=lambda key: (_rank(seed, task, dataset, key), key))
            kept = set(ranked[:count])
            chosen[task][dataset] = [key for key in keys if key in kept]
    return chosen


def _rank(seed: int, task: str, dataset: str, key: str) -> bytes:
    """A sample's place in the seeded ranking of a task's labels: a hash, so it does not depend
    on the order shards are read in nor on the other samples."""
    return hashlib.blake2b(f"{seed}/{task}/{dataset}/{key}".encode(), digest_size=8).digest()


def _budget_edit(keep: Mapping[str, set[str]]) -> Callable[[str, dict], dict | None]:
    """The edit of :func:`_write_split` that applies a budget: strip each task's label from the
    samples not in ``keep[task]``; drop a sample left with no label."""

    def edit(key: str, record: dict[str, Any]) -> dict[str, Any] | None:
        drop = [t for t, kept in keep.items() if key not in kept and _labelled(record, t)]
        if not drop:
            return record
        edited = {**record}
        if isinstance(record.get("extra"), Mapping):
            edited["extra"] = dict(record["extra"])
        for task in drop:
            _strip(edited, task)
        if not any(task in edited for task in LABEL_TASKS):
            return None
        return edited

    return edit


def _labelled(record: Mapping[str, Any], task: str) -> bool:
    return any(name in record for name in _LABEL_FIELDS[task])


def _strip(record: dict[str, Any], task: str) -> None:
    """Remove ``task``'s label fields from ``record`` (a copy whose ``extra`` is its own)."""
    for name in _LABEL_FIELDS[task]:
        record.pop(name, None)
    extra = record.get("extra")
    if not isinstance(extra, dict):
        return
    for name in _EXTRA_FIELDS[task]:
        extra.pop(name, None)
    if task == "expr" and "compound" not in record:
        extra.pop("native_label", None)
    if not extra:
        del record["extra"]


# ---------------------------------------------------------------------------------------------
# Writing a federation from another one
# ---------------------------------------------------------------------------------------------


def _start(federation: Federation, out: str | Path) -> Path:
    """Make ``out``, refusing the source's own folder; remove its old ``manifest.json`` first,
    so that while shards are rewritten no reader trusts a manifest that describes others."""
    out = Path(out)
    location = federation.location
    local = "://" not in location and not location.startswith("pipe:") and "{" not in location
    if local and out.resolve() == Path(location).resolve():
        raise ValueError(
            f"{out} is the source federation itself: write the subset to another folder"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST_FILE).unlink(missing_ok=True)
    return out


def _entry(federation: Federation, dataset: str, splits: dict[str, Any]) -> dict[str, Any]:
    """The source's manifest entry of ``dataset`` (adapter, settings, ...) with ``splits``."""
    source = federation.manifest["datasets"][dataset]
    return {**{k: v for k, v in source.items() if k != "splits"}, "splits": splits}


def _finish(out: Path, manifest: dict[str, Any], subset: dict[str, Any]) -> Federation:
    """Write ``subset.json`` and, last, ``manifest.json``; delete shard files of the
    manifest's datasets and splits that it does not list (left by an earlier, larger subset)."""
    write_atomic(out / "subset.json", _json_bytes(subset, indent=1))
    save_manifest(out, manifest)
    for dataset, entry in manifest["datasets"].items():
        for split, split_entry in entry["splits"].items():
            listed = {shard["name"] for shard in split_entry["shards"]}
            for path in out.glob(f"{dataset}-{split}-[0-9][0-9][0-9][0-9][0-9][0-9].tar"):
                if path.name not in listed:
                    path.unlink()
    return Federation(str(out))


def _write_split(
    federation: Federation,
    out: Path,
    dataset: str,
    split: str,
    edit: Callable[[str, dict[str, Any]], dict[str, Any] | None],
    *,
    shard_size: int | None = None,
) -> list[dict[str, Any]]:
    """Stream ``dataset``'s ``split`` through ``edit`` into shards ``<dataset>-<split>-NNNNNN.tar``
    at ``out``, each written to a temporary file and renamed; return their statistics in the
    form :func:`~holistic.data.shards.split_entries` reads.

    ``edit(key, record)`` returns ``record`` itself to copy the sample as it is (its JSON member
    byte for byte), a new dict to write in its place, or None to leave the sample out. Other
    members are always copied byte for byte. ``shard_size``: samples per shard (None: one shard).
    No sample kept: no shard.
    """
    import webdataset as wds

    sidecars: list[dict[str, Any]] = []
    sink: Any = None
    tmp = Path()
    stats = ShardStats()

    def close() -> None:
        sink.close()
        path = tmp.with_name(tmp.name.removesuffix(".tmp"))
        size, sha256 = file_digest(tmp)
        os.replace(tmp, path)
        sidecars.append(
            {"shard": path.name, "split": split, **stats.to_json(), "bytes": size, "sha256": sha256}
        )

    try:
        for ref in federation.shards(split, None, [dataset]):
            for raw in iter_samples(ref.url):
                if "json" not in raw:
                    raise ValueError(f"{ref.url}: sample {raw['__key__']!r} has no JSON record")
                record = json.loads(raw["json"])
                written = edit(raw["__key__"], record)
                if written is None:
                    continue
                if sink is None:
                    tmp = out / (shard_name(dataset, split, len(sidecars)) + ".tmp")
                    # Integer mtime and USTAR, as the converter writes: no PAX headers.
                    sink = wds.TarWriter(str(tmp), mtime=0, format=tarfile.USTAR_FORMAT)
                    stats = ShardStats()
                members = {k: v for k, v in raw.items() if k != "__url__"}
                if written is not record:
                    members["json"] = written  # encoded by the writer, as the converter does
                sink.write(members)
                stats.add(written)
                if stats.samples == shard_size:
                    close()
                    sink = None
        if sink is not None:
            close()
            sink = None
    finally:
        if sink is not None:  # an error mid-shard: no partial file left
            sink.close()
            tmp.unlink(missing_ok=True)
    return sidecars


def _link(url: str, path: Path) -> None:
    """Put the source shard ``url`` at ``path``: a hard link (the same bytes, no space), a copy
    across file systems, or a download from a URL; through a temporary name either way."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    if os.path.isfile(url):
        try:
            os.link(url, tmp)
        except OSError:  # another file system, or links not allowed
            shutil.copyfile(url, tmp)
    else:
        import webdataset as wds

        with wds.gopen(url, "rb") as source, open(tmp, "wb") as target:
            shutil.copyfileobj(source, target)
    os.replace(tmp, path)
