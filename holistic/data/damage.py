"""Damaged shards: the error a reader raises, and the log that counts damage a reader tolerates.

A reader knows from the manifest how many samples each shard holds (and how many are labelled
for each task). A shard that is cut short, holds another number of samples, or has a member that
does not parse (a JSON record, a JPEG, an audio array) is *damaged*. By default damage is a
:class:`ShardError` naming the shard, what was expected and found, and what to do. A reader given
``DamageLog(tolerate=True)`` skips what is damaged instead, logs a warning once per shard and
problem, and counts it per shard (:meth:`DamageLog.rows`), for the evaluation report.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from holistic.data.stages import ShardRef

__all__ = ["DAMAGE_KEY", "DamageLog", "ShardError", "advice", "merge_damage", "sample_error"]

logger = logging.getLogger(__name__)

#: The batch field that carries damage rows out of a loader (only when there is new damage).
DAMAGE_KEY = "damaged_shards"


def advice(dataset: str | None = None) -> str:
    """What to do about a damaged shard (the end of every :class:`ShardError` message)."""
    source = f"the {dataset} source" if dataset else "its source"
    return (
        "Run `holistic verify FEDERATION` to list every damaged shard and re-run "
        f"`holistic federate` on {source} to rewrite it, or tolerate damage "
        "(tolerate_damage=True, `holistic evaluate --tolerate-damage`) to skip what is damaged "
        "and count it"
    )


class ShardError(ValueError):
    """A shard that does not hold what the manifest says, or a member of it that does not parse.

    The message names the shard's URL, what was expected and found, and what to do. The
    attributes (``url``; ``key``: the sample; ``shard``: its manifest entry when known;
    ``reason``: the fault without URL and advice) let a :class:`DamageLog` count it; the
    exception is also constructible from its message alone, as a DataLoader worker re-raises it.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        key: str | None = None,
        shard: ShardRef | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.url, self.key, self.shard = url, key, shard
        self.reason = reason or message


def sample_error(raw: Mapping[str, Any], what: str) -> ShardError:
    """A :class:`ShardError` for a sample of a shard (``raw``, as the readers yield it) whose
    member does not parse: ``what`` says which and how."""
    url, key, shard = raw.get("__url__"), raw.get("__key__"), raw.get("__shard__")
    return ShardError(
        f"{url}: sample {key}: {what}. {advice(getattr(shard, 'dataset', None))}",
        url=url,
        key=key,
        shard=shard,
        reason=what,
    )


@dataclass
class _Damaged:
    """What went wrong with one shard (one row of :meth:`DamageLog.rows`)."""

    shard: str
    dataset: str | None = None
    split: str | None = None
    expected: int | None = None
    found: int | None = None  # samples read when the shard was last read to its end
    bad_samples: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "dataset": self.dataset,
            "split": self.split,
            "expected": self.expected,
            "found": self.found,
            "bad_samples": sorted(self.bad_samples),
            "problems": list(self.problems),
        }


class DamageLog:
    """Where readers report damage: raised as :class:`ShardError`, or tolerated and counted.

    Args:
        tolerate: False (default): any damage raises. True: what is damaged is skipped (the
            samples after a cut, a sample whose member does not parse), a warning is logged the
            first time each problem of a shard is met, and :meth:`rows` lists the shards with
            their counts.

    Readers in DataLoader worker processes count in their own copy of the log; the warnings
    reach the log either way.
    """

    def __init__(self, tolerate: bool = False) -> None:
        self.tolerate = bool(tolerate)
        self._shards: dict[str, _Damaged] = {}
        self._changed: set[str] = set()  # shards whose row changed since :meth:`take_new`

    def __len__(self) -> int:
        return len(self._shards)

    def shard_end(
        self, shard: ShardRef, found: int, problem: str | None = None, labelled: str | None = None
    ) -> None:
        """A shard was read to its end: ``found`` samples, ``problem`` if reading stopped on
        an error, ``labelled`` if the samples of one task did not add up.

        Raises:
            ShardError: the shard is damaged and damage is not tolerated.
        """
        if problem is None and found == shard.samples:
            if labelled is not None:  # only the samples of one task are off
                self._fault(shard, labelled, found)
            return
        what = [problem] if problem else []
        if found != shard.samples:  # (the counts per task are off too: not repeated)
            what.append(f"the manifest lists {shard.samples} samples, {found} were read")
        self._fault(shard, "; ".join(what), found)

    def bad_sample(self, error: ShardError) -> None:
        """A sample whose member does not parse (``error`` from the stage that parsed it).

        Raises:
            ShardError: ``error`` itself, unless damage is tolerated.
        """
        if not self.tolerate:
            raise error
        entry = self._entry(error.url or "<unknown shard>", error.shard)
        new = not entry.bad_samples
        entry.bad_samples.add(error.key or "?")
        if new:  # the first bad sample of a shard is logged; the others are counted
            self._note(entry, f"sample {error.key}: {error.reason}")

    def rows(self) -> list[dict[str, Any]]:
        """One JSON-ready row per damaged shard: ``shard`` (URL), ``dataset``, ``split``,
        ``expected`` and ``found`` samples (``found`` None: never read to its end),
        ``bad_samples`` (keys of samples left out), ``problems`` (sentences)."""
        return [entry.to_json() for _, entry in sorted(self._shards.items())]

    def take_new(self) -> list[dict[str, Any]]:
        """The rows (as :meth:`rows`) of the shards whose damage changed since the last call.

        A row is cumulative, so the rows taken at different times merge into the same log
        (:meth:`update`) however often a shard is taken."""
        rows = [self._shards[url].to_json() for url in sorted(self._changed)]
        self._changed.clear()
        return rows

    def attach(self, batch: dict[str, Any]) -> dict[str, Any]:
        """``batch`` with the new damage rows (:meth:`take_new`) under :data:`DAMAGE_KEY`,
        when there are any; returns ``batch``."""
        rows = self.take_new()
        if rows:
            batch[DAMAGE_KEY] = rows
        return batch

    def update(self, rows: Iterable[Mapping[str, Any]]) -> DamageLog:
        """Add the rows of another log (another process's share); returns ``self``."""
        for row in rows:
            entry = self._entry(row["shard"])
            for name in ("dataset", "split", "expected"):
                setattr(entry, name, getattr(entry, name) or row.get(name))
            if row.get("found") is not None:
                entry.found = max(entry.found or 0, int(row["found"]))
            entry.bad_samples.update(row.get("bad_samples", ()))
            entry.problems += [p for p in row.get("problems", ()) if p not in entry.problems]
        return self

    def _fault(self, shard: ShardRef, what: str, found: int) -> None:
        if not self.tolerate:
            raise ShardError(
                f"{shard.url}: {what}. {advice(shard.dataset)}",
                url=shard.url,
                shard=shard,
                reason=what,
            )
        entry = self._entry(shard.url, shard)
        entry.found = found
        self._note(entry, what)

    def _entry(self, url: str, shard: ShardRef | None = None) -> _Damaged:
        entry = self._shards.get(url)
        if entry is None:
            entry = self._shards[url] = _Damaged(url)
        self._changed.add(url)  # every caller is about to change the entry
        if shard is not None and entry.dataset is None:
            entry.dataset, entry.split, entry.expected = shard.dataset, shard.split, shard.samples
        return entry

    def _note(self, entry: _Damaged, problem: str) -> None:
        if problem in entry.problems:
            return
        entry.problems.append(problem)
        logger.warning("damaged shard %s: %s; skipped (tolerate_damage)", entry.shard, problem)


def merge_damage(*row_lists: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The damage rows of several logs (processes) merged per shard."""
    log = DamageLog(tolerate=True)
    for rows in row_lists:
        log.update(rows)
    return log.rows()
