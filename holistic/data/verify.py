"""``holistic verify``: every shard of a federation checked against its manifest.

Training and evaluation check what they read as they read it (:mod:`holistic.data.stages`);
this reads everything once, up front, and says what is wrong where. Per shard of the manifest:

- presence: the shard opens (a local file, a URL, a ``pipe:`` command);
- integrity: its byte size and SHA-256, when the manifest records them (``bytes``, ``sha256``;
  shards converted before they were recorded say "not recorded", which is not a fault);
- samples: the tar reads to its end-of-archive block and holds the manifest's number of samples,
  and of samples labelled for each task;
- members: every JSON record parses and names the shard's dataset and split, every JPEG decodes,
  every audio array loads.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from holistic.data.damage import ShardError
from holistic.data.federation import TASK_SETS, Federation, SelectionError
from holistic.data.manifest import record_has
from holistic.data.stages import ShardRef, decode_sample, read_samples

__all__ = ["ShardCheck", "verify_federation", "verify_shard", "verify_table"]

#: Bad samples named in a shard's problem (the others are counted).
_NAMED = 3


@dataclass
class ShardCheck:
    """What :func:`verify_shard` found for one shard (one row of ``holistic verify``)."""

    dataset: str
    split: str
    shard: str  # file name, as in the manifest
    url: str
    expected: int  # samples the manifest lists
    found: int | None = None  # samples read; None: the shard could not be read at all
    integrity: str = "not recorded"  # bytes / sha256 against the manifest
    problems: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``ok``, ``damaged`` or ``missing`` (nothing could be read)."""
        if not self.problems:
            return "ok"
        return "missing" if self.found is None else "damaged"

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "split": self.split,
            "shard": self.shard,
            "url": self.url,
            "expected": self.expected,
            "found": self.found,
            "integrity": self.integrity,
            "status": self.status,
            "problems": list(self.problems),
        }


def verify_federation(
    federation: Federation,
    *,
    datasets: Sequence[str] | None = None,
    splits: Sequence[str] | None = None,
    progress: bool = False,
) -> list[ShardCheck]:
    """Check every shard of the manifest (of ``datasets`` and ``splits``, default all).

    Args:
        federation: the federation (folder, URL prefix or ``pipe:`` template).
        datasets, splits: only these; a name the manifest does not have is an error.
        progress: show a progress bar (samples checked).

    Returns:
        One :class:`ShardCheck` per shard, in manifest order.

    Raises:
        SelectionError: a dataset or split that is not in the manifest.
    """
    from tqdm.auto import tqdm

    entries = list(_shard_entries(federation, datasets, splits))
    checks = []
    with tqdm(
        total=sum(entry["samples"] for *_, entry in entries),
        desc="verify",
        unit="sample",
        disable=not progress,
    ) as bar:
        for dataset, split, entry in entries:
            checks.append(verify_shard(federation.url(entry["name"]), dataset, split, entry))
            bar.update(entry["samples"])
    return checks


def _shard_entries(
    federation: Federation, datasets: Sequence[str] | None, splits: Sequence[str] | None
) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    federation.check_datasets(datasets)
    chosen = {
        name: entry["splits"]
        for name, entry in federation.manifest["datasets"].items()
        if datasets is None or name in datasets
    }
    present = {split for dataset_splits in chosen.values() for split in dataset_splits}
    unknown = sorted(set(splits or ()) - present)
    if unknown:
        raise SelectionError(
            f"split(s) {unknown} are in none of the datasets checked; they have "
            f"{ {name: sorted(dataset_splits) for name, dataset_splits in chosen.items()} }"
        )
    for dataset, dataset_splits in chosen.items():
        for split, split_entry in dataset_splits.items():
            if splits is None or split in splits:
                for entry in split_entry["shards"]:
                    yield dataset, split, entry


class _Digest:
    """A read-only stream that counts and hashes what is read through it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.bytes = 0
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.bytes += len(data)
        self.sha256.update(data)
        return data

    def drain(self) -> None:
        """Read to the end (the tar's record padding after its end-of-archive block)."""
        while self.read(1 << 20):
            pass


def verify_shard(url: str, dataset: str, split: str, entry: Mapping[str, Any]) -> ShardCheck:
    """Read one shard whole and check it against its manifest ``entry`` (see the module)."""
    import webdataset as wds

    check = ShardCheck(dataset, split, entry["name"], url, entry["samples"])
    samples = _Samples(ShardRef(url, dataset, split, entry["samples"], entry.get("tasks", {})))
    digest = None
    try:
        with wds.gopen(url, "rb") as stream:
            digest = _Digest(stream)
            for raw in read_samples(url, digest):
                if isinstance(raw, OSError):
                    raise raw
                samples.add(raw)
            digest.drain()
    except OSError as error:  # missing, cut short, malformed, a pipe: command that failed
        check.problems.append(str(error).removeprefix(f"{url}: "))
        check.integrity = "not checked"
    else:
        check.integrity = _integrity(entry, digest, check.problems)
    if digest is not None:  # it opened: say what it held
        check.found = samples.read
        check.problems += samples.problems()
    return check


class _Samples:
    """Counts and checks the samples of one shard as they are read."""

    def __init__(self, ref: ShardRef) -> None:
        self.ref = ref
        self.read = 0
        self.tasks: Counter[str] = Counter()
        self.counted = sorted(set(ref.tasks) | set(TASK_SETS))  # tasks whose counts are checked
        self.bad: list[ShardError] = []

    def add(self, raw: dict[str, Any]) -> None:
        self.read += 1
        raw["__shard__"] = self.ref
        try:
            record = decode_sample(raw)["record"]  # record, JPEG and audio arrays
        except ShardError as error:
            self.bad.append(error)
            return
        for task in self.counted:
            self.tasks[task] += record_has(record, task)

    def problems(self) -> list[str]:
        found = []
        if self.read != self.ref.samples:
            found.append(f"the manifest lists {self.ref.samples} samples, {self.read} were read")
        if self.bad:
            named = "; ".join(f"{error.key}: {error.reason}" for error in self.bad[:_NAMED])
            more = f" and {len(self.bad) - _NAMED} more" if len(self.bad) > _NAMED else ""
            found.append(f"{len(self.bad)} sample(s) do not parse ({named}{more})")
        elif self.read == self.ref.samples:  # task counts are meaningful on intact samples
            found += [
                f"the manifest lists {self.ref.tasks.get(task, 0)} samples labelled {task}, "
                f"{count} were read"
                for task, count in sorted(self.tasks.items())
                if count != self.ref.tasks.get(task, 0)
            ]
        return found


def _integrity(entry: Mapping[str, Any], digest: _Digest, problems: list[str]) -> str:
    """``"bytes, sha256 ok"``-style summary of the checks the manifest records; a mismatch
    goes to ``problems``."""
    recorded = {
        "bytes": (entry.get("bytes"), digest.bytes),
        "sha256": (entry.get("sha256"), digest.sha256.hexdigest()),
    }
    checked, differ = [], []
    for name, (wanted, got) in recorded.items():
        if wanted is None:
            continue
        checked.append(name)
        if wanted != got:
            differ.append(name)
            problems.append(f"{name} {_short(got)} differs from the manifest's {_short(wanted)}")
    if not checked:
        return "not recorded"
    return f"{', '.join(differ)} differ" if differ else f"{', '.join(checked)} ok"


def _short(value: Any) -> str:
    text = str(value)
    return f"{text[:12]}..." if len(text) > 16 else text


def verify_table(checks: Sequence[ShardCheck]) -> str:
    """The table ``holistic verify`` prints: one line per shard, then a summary."""
    header = ("dataset", "split", "shard", "expected", "found", "integrity", "status", "problem")
    rows = [header] + [
        (
            check.dataset,
            check.split,
            check.shard,
            str(check.expected),
            "-" if check.found is None else str(check.found),
            check.integrity,
            check.status,
            "; ".join(check.problems),
        )
        for check in checks
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join(
            [*(value.ljust(width) for value, width in zip(row, widths, strict=False)), row[-1]]
        ).rstrip()
        for row in rows
    ]
    statuses = Counter(check.status for check in checks)
    lines.append(
        f"{len(checks)} shard(s): "
        + ", ".join(f"{statuses[s]} {s}" for s in ("ok", "damaged", "missing") if statuses[s])
    )
    damaged = sorted({check.dataset for check in checks if check.problems})
    if damaged:
        lines.append(
            f"re-run `holistic federate` on the sources of {damaged} (it rewrites the shards "
            "that differ from their sidecars), or read around them with tolerate_damage / "
            "`holistic evaluate --tolerate-damage`"
        )
    return "\n".join(lines)
