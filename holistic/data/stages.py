"""Stream stages shared by the aligned mixer and the clip loader (DESIGN.md decision 12).

Every stage is a small public function over iterators of samples, so both loaders read as an
explicit list of stages (shards -> reader split -> tar members -> filter -> shuffle -> decode ->
augment -> batch) and nothing is imported privately across modules.

A *reader* is one (rank, DataLoader worker) pair: ``part = rank * workers + worker`` of
``parts = world_size * workers``. Readers get fixed, disjoint shares of the shards, and every
reader yields the same number of batches (:func:`steps_for`).

Reading is checked against the manifest: :func:`shard_samples` compares, at each shard's natural
end, the samples it read with the manifest's count, and every parse (:func:`with_record`,
:func:`decode_sample`) raises :class:`~holistic.data.damage.ShardError` naming the shard and the
sample. Damage goes to a :class:`~holistic.data.damage.DamageLog`, which raises or, when the
user asked to tolerate damage, skips and counts it.

Samples stay undecoded (``{"__key__", "__url__", "__shard__", "json", "jpg", ...}``) through the
shuffle; loaders decode them per batch, so batches before a resume position are drawn exactly
as an uninterrupted run draws them without decoding a JPEG (:func:`first_batch`).
"""

from __future__ import annotations

import io
import json
import random
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import IO, TYPE_CHECKING, Any, TypeVar

import numpy as np

from holistic.data.damage import DamageLog, ShardError, sample_error

if TYPE_CHECKING:
    from torch.utils.data import DataLoader

__all__ = [
    "ShardRef",
    "batch_images",
    "decode_all",
    "decode_sample",
    "epoch_loader",
    "every_nth",
    "first_batch",
    "has_task",
    "interleave",
    "read_samples",
    "read_shards",
    "reader",
    "reseed",
    "shard_samples",
    "shard_share",
    "shuffled",
    "steps_for",
    "weighted_mix",
    "with_record",
    "with_records",
]

T = TypeVar("T")


@dataclass(frozen=True)
class ShardRef:
    """One shard of the federation: where it is, whose it is and how much it holds."""

    url: str
    dataset: str
    split: str
    samples: int
    tasks: Mapping[str, int]
    frames: int | None = None  # samples with a video frame number (None: not recorded)
    longest_run: int | None = None  # longest run of consecutive frames of one video


def reader(rank: int, world_size: int, start: int = 0) -> tuple[int, int]:
    """``(part, parts)`` of this process and DataLoader worker (worker 0 of 1 outside a loader).

    A DataLoader yields its workers' batches in turn, from worker 0: in an epoch read from the
    start, worker ``w`` of ``k`` yields the rank's batches ``w, w + k, ...``. A DataLoader that
    starts at batch ``start`` still polls worker 0 first, so its worker ``w`` plays the reader
    whose batches come next: reader ``(w + start) % k`` (see :func:`first_batch`).

    Raises:
        ValueError: ``rank`` outside ``[0, world_size)``.
    """
    import torch.utils.data

    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside [0, {world_size})")
    info = torch.utils.data.get_worker_info()
    worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
    return rank * workers + (worker + start) % workers, world_size * workers


def steps_for(steps: int, part: int, parts: int, world_size: int) -> int:
    """This reader's share of a rank's ``steps``: the rank's workers split them, the first ones
    taking one more when they do not divide evenly (the DataLoader interleaves workers)."""
    workers = parts // world_size
    worker = part % workers
    return steps // workers + (1 if worker < steps % workers else 0)


def first_batch(start: int, part: int, parts: int, world_size: int) -> int:
    """This reader's first batch (an index among its own) at or after ``start``, a position
    among its rank's batches: the DataLoader interleaves workers, so worker ``w`` of ``k``
    yields the rank's batches ``w, w + k, w + 2k, ...``."""
    workers = parts // world_size
    worker = part % workers
    return max(0, -((worker - start) // workers))


def shard_share(items: Sequence[T], part: int, parts: int, seed: int | str) -> list[T] | None:
    """This reader's shards: the list shuffled with ``seed`` (identically on every reader), then
    every ``parts``-th from ``part``. ``None`` when there are fewer shards than readers: the
    caller splits by sample (or by video) instead. The assignment is fixed for a seed, so two
    readers never read the same shard."""
    if not 0 <= part < parts:
        raise ValueError(f"part {part} outside [0, {parts})")
    order = list(items)
    random.Random(f"{seed}").shuffle(order)
    return order[part::parts] if len(order) >= parts else None


def every_nth(items: Iterable[T], part: int, parts: int) -> Iterator[T]:
    """Items ``part, part + parts, ...`` (the split by sample when shards are fewer than
    readers)."""
    return (item for i, item in enumerate(items) if i % parts == part)


def shard_samples(
    shard: ShardRef, damage: DamageLog, task: str | None = None
) -> Iterator[dict[str, Any]]:
    """Raw samples of one shard (only those labelled for ``task``), checked at its end.

    Each sample is ``{"__key__", "__url__", "__shard__": shard, "json": bytes, "jpg": bytes,
    ...}``. When the shard ends (a reader that stops early checks nothing), the samples read
    must number ``shard.samples`` and, with ``task``, those labelled for it
    ``shard.tasks[task]``, as the manifest says. A cut or malformed tar, another count, or a
    record that does not parse is reported to ``damage``: a
    :class:`~holistic.data.damage.ShardError`, or, when it tolerates damage, the samples read
    up to the fault are kept and the rest skipped.
    """
    read = labelled = bad = 0
    problem = None
    for raw in read_samples(shard.url):
        if isinstance(raw, OSError):  # cut short, malformed, missing, a failed pipe: command
            problem = str(raw).removeprefix(f"{shard.url}: ")
            break
        read += 1
        raw["__shard__"] = shard
        if task is not None:
            try:
                if not has_task(raw, task):
                    continue
            except ShardError as error:
                damage.bad_sample(error)
                bad += 1
                continue
        labelled += 1
        yield raw
    damage.shard_end(shard, read, problem, _task_count(shard, task, labelled, bad))


def read_samples(url: str, stream: IO[bytes] | None = None) -> Iterator[dict[str, Any] | OSError]:
    """The raw samples of one shard (read from ``stream`` if given), then, as the last item,
    the ``OSError`` that stopped reading early, if any (a cut or malformed tar, a missing file,
    a failed ``pipe:`` command). The sample being read at a cut is kept when it has its record
    and image (it was whole)."""
    from holistic.data.tario import iter_samples

    samples = iter_samples(url, stream)
    while True:
        try:  # only the reading: a reader closing this generator early is not a fault
            raw = next(samples)
        except StopIteration:
            return
        except OSError as error:
            partial = getattr(error, "partial", None)
            if partial is not None and "json" in partial and "jpg" in partial:
                yield partial
            yield error
            return
        yield raw


def _task_count(shard: ShardRef, task: str | None, labelled: int, bad: int) -> str | None:
    """What is wrong with the number of samples labelled for ``task`` (None: nothing); a
    sample whose record did not parse may have been one of them."""
    expected = shard.tasks.get(task, 0) if task is not None else None
    if expected is None or labelled <= expected <= labelled + bad:
        return None
    return f"the manifest lists {expected} samples labelled {task}, {labelled} were read"


def read_shards(
    shards: Iterable[ShardRef], damage: DamageLog, task: str | None = None
) -> Iterator[dict[str, Any]]:
    """:func:`shard_samples` of each shard in turn."""
    return chain.from_iterable(shard_samples(shard, damage, task) for shard in shards)


def with_record(raw: dict[str, Any]) -> dict[str, Any]:
    """Parse the sample's JSON record into ``raw["record"]`` (once); returns ``raw``.

    Raises:
        ShardError: no record, a record that is not a JSON object, or (for samples of
            :func:`shard_samples`) one of another dataset or split than its shard.
    """
    if "record" not in raw:
        raw["record"] = _parse_record(raw)
    return raw


def _parse_record(raw: Mapping[str, Any]) -> dict[str, Any]:
    if "json" not in raw:
        raise sample_error(raw, f"no .json record (members: {_members(raw)})")
    try:
        record = json.loads(raw["json"])
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise sample_error(raw, f"its JSON record does not parse ({error})") from None
    if not isinstance(record, dict):
        raise sample_error(raw, f"its JSON record is a {type(record).__name__}, not an object")
    shard = raw.get("__shard__")
    if shard is not None and (record.get("dataset"), record.get("split")) != (
        shard.dataset,
        shard.split,
    ):
        raise sample_error(
            raw,
            f"its record is of {record.get('dataset')!r} {record.get('split')!r}, the shard "
            f"of {shard.dataset!r} {shard.split!r}",
        )
    return record


def _members(raw: Mapping[str, Any]) -> list[str]:
    return sorted(key for key in raw if not key.startswith("__"))


def with_records(samples: Iterable[dict[str, Any]], damage: DamageLog) -> Iterator[dict[str, Any]]:
    """Samples with their parsed record (:func:`with_record`); one whose record does not parse
    goes to ``damage`` (raised, or left out and counted)."""
    for raw in samples:
        try:
            with_record(raw)
        except ShardError as error:
            damage.bad_sample(error)
            continue
        yield raw


def has_task(raw: dict[str, Any], task: str) -> bool:
    """Whether the sample is labelled for ``task``, looking at the JSON before the image: a
    substring test first (most off-task samples fail it), then the parsed record (kept).

    Raises:
        ShardError: the record does not parse (:func:`with_record`).
    """
    if "record" not in raw and "json" in raw and f'"{task}":'.encode() not in raw["json"]:
        return False
    return task in with_record(raw)["record"]


def shuffled(items: Iterable[Any], buffer: int, rng: random.Random) -> Iterator[Any]:
    """A shuffle buffer of ``buffer`` items (``<= 1``: the order as is)."""
    if buffer <= 1:
        yield from items
        return
    pool: list = []
    for item in items:
        if len(pool) < buffer:
            pool.append(item)
            continue
        index = rng.randrange(len(pool))
        yield pool[index]
        pool[index] = item
    rng.shuffle(pool)
    yield from pool


def interleave(sources: Iterable[Iterator[Any]], width: int, rng: random.Random) -> Iterator[Any]:
    """Items of several iterators mixed: ``width`` are open at once, each next item comes from a
    random open one, and an exhausted one is replaced by the next source. With per-shard
    iterators this draws from ``width`` shards at a time, so neighbouring items (and the clips
    of one batch) come from many videos, not from the one a shard happens to hold next."""
    pending = iter(sources)
    active: list[Iterator[Any]] = []
    while True:
        while len(active) < width:
            source = next(pending, None)
            if source is None:
                break
            active.append(source)
        if not active:
            return
        index = rng.randrange(len(active))
        item = next(active[index], _END)
        if item is _END:
            active.pop(index)
            continue
        yield item


_END = object()


def weighted_mix(
    streams: Mapping[str, Iterator[Any]], weights: Mapping[str, float], rng: random.Random
) -> Iterator[Any]:
    """An endless mix: each item from stream ``name`` with probability ``weights[name]``."""
    names = list(streams)
    cumulative = np.cumsum([weights[name] for name in names], dtype=np.float64)
    cumulative /= cumulative[-1]
    while True:
        name = names[int(np.searchsorted(cumulative, rng.random(), side="right"))]
        yield next(streams[name])


def _imread_rgb_flag() -> int:
    import cv2

    return getattr(cv2, "IMREAD_COLOR_RGB", cv2.IMREAD_COLOR)


_IMREAD_RGB: int | None = None


def decode_sample(raw: dict[str, Any]) -> dict[str, Any]:
    """A raw tar sample -> ``{"key", "image": RGB uint8 HxWx3, "record": dict}``, plus
    ``"audio": {"mel": ..., "egemaps": ...}`` when the shard stored audio features.

    Raises:
        ShardError: the record, the JPEG or an audio array is missing or does not parse (the
            message names the sample and the shard).
    """
    record = with_record(raw)["record"]
    item = {"key": raw["__key__"], "image": _decode_jpeg(raw), "record": record}
    if "audio_features" in record:  # per-frame audio features stored as <name>.npy members
        item["audio"] = {name: _load_npy(raw, name) for name in record["audio_features"]}
    return item


def _decode_jpeg(raw: Mapping[str, Any]) -> np.ndarray:
    import cv2

    global _IMREAD_RGB
    if _IMREAD_RGB is None:
        _IMREAD_RGB = _imread_rgb_flag()
    jpeg = raw.get("jpg")
    if not jpeg:
        raise sample_error(raw, f"no .jpg image (members: {_members(raw)})")
    # libjpeg fills a cut JPEG with grey and succeeds: the end-of-image marker tells.
    if not (jpeg.startswith(b"\xff\xd8") and jpeg.endswith(b"\xff\xd9")):
        raise sample_error(raw, "its JPEG is cut short or not a JPEG (no start/end marker)")
    try:
        rgb = cv2.imdecode(np.frombuffer(jpeg, np.uint8), _IMREAD_RGB)
    except cv2.error:
        rgb = None
    if rgb is None:
        raise sample_error(raw, "its JPEG does not decode")
    if _IMREAD_RGB == cv2.IMREAD_COLOR:  # OpenCV < 4.10: decode as BGR, then swap
        rgb = cv2.cvtColor(rgb, cv2.COLOR_BGR2RGB)
    return rgb


def _load_npy(raw: Mapping[str, Any], name: str) -> np.ndarray:
    member = f"{name}.npy"
    if member not in raw:
        raise sample_error(raw, f"its record lists audio features {name}, but it has no {member}")
    try:
        return np.load(io.BytesIO(raw[member]), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise sample_error(raw, f"its {member} does not load ({error})") from None


def decode_all(raws: Iterable[dict[str, Any]], damage: DamageLog) -> list[dict[str, Any]]:
    """:func:`decode_sample` of each sample; one that does not decode goes to ``damage``
    (raised, or left out of the list and counted)."""
    items = []
    for raw in raws:
        try:
            items.append(decode_sample(raw))
        except ShardError as error:
            damage.bad_sample(error)
    return items


def reseed(transform: Any, key: str) -> None:
    """Seed an albumentations transform from ``key``: augmentation becomes a function of the
    batch position, so a resumed run that skips batches sees the same ones again."""
    if hasattr(transform, "set_random_seed"):
        transform.set_random_seed(zlib.crc32(key.encode()))


def batch_images(images: np.ndarray, normalise: bool) -> Any:
    """uint8 ``[..., H, W, 3]`` -> torch ``[..., 3, H, W]``: float32 in [-1, 1], or uint8 (to
    move to the accelerator as is and normalise there with ``transforms.normalise``)."""
    from holistic.data.transforms import channels_first, normalise_batch

    lead = images.shape[:-3]
    flat = images.reshape(-1, *images.shape[-3:])
    out = normalise_batch(flat) if normalise else channels_first(flat)
    return out.reshape(*lead, *out.shape[1:])


def epoch_loader(dataset: Any, num_workers: int = 0, start: int = 0, **kwargs: Any) -> DataLoader:
    """A ``DataLoader`` (``batch_size=None``) over a loader of batches with ``steps``, ``start``
    and ``__len__`` (the aligned mixer, the clip loader), from batch ``start`` of the epoch.

    ``start`` counts the rank's batches as the DataLoader yields them (workers interleaved). A
    copy of ``dataset`` carries it, so the dataset itself still starts at 0.

    The DataLoader draws its workers' base seed from a generator seeded by the dataset's
    ``(seed, epoch)``, never from the global torch RNG: an uninterrupted run creates one loader
    per epoch, a resumed run one more mid-epoch, and a draw from the global RNG there would
    shift every later dropout mask (resume would not be exact).

    Raises:
        ValueError: ``start < 0``.
    """
    import copy

    import torch
    import torch.utils.data

    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    if "generator" not in kwargs:
        kwargs["generator"] = torch.Generator().manual_seed(
            zlib.crc32(f"{dataset.seed}-{dataset.epoch}-loader".encode())
        )
    if start:
        dataset = copy.copy(dataset)
        dataset.start = int(start)
    return torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=num_workers, **kwargs)
