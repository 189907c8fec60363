"""Stream stages shared by the aligned mixer and the clip loader (DESIGN.md decision 12).

Every stage is a small public function over iterators of samples, so both loaders read as an
explicit list of stages (shards -> reader split -> tar members -> filter -> shuffle -> decode ->
augment -> batch) and nothing is imported privately across modules.

A *reader* is one (rank, DataLoader worker) pair: ``part = rank * workers + worker`` of
``parts = world_size * workers``. Readers get fixed, disjoint shares of the shards, and every
reader yields the same number of batches (:func:`steps_for`).
"""

from __future__ import annotations

import io
import json
import random
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "batch_images",
    "decode_sample",
    "has_task",
    "interleave",
    "reader",
    "reseed",
    "shard_share",
    "shuffled",
    "steps_for",
    "tar_samples",
    "weighted_mix",
    "with_record",
]


def reader(rank: int, world_size: int) -> tuple[int, int]:
    """``(part, parts)`` of this process and DataLoader worker (worker 0 of 1 outside a loader).

    Raises:
        ValueError: ``rank`` outside ``[0, world_size)``.
    """
    import torch.utils.data

    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside [0, {world_size})")
    info = torch.utils.data.get_worker_info()
    worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
    return rank * workers + worker, world_size * workers


def steps_for(steps: int, part: int, parts: int, world_size: int) -> int:
    """This reader's share of a rank's ``steps``: the rank's workers split them, the first ones
    taking one more when they do not divide evenly (the DataLoader interleaves workers)."""
    workers = parts // world_size
    worker = part % workers
    return steps // workers + (1 if worker < steps % workers else 0)


def shard_share(urls: Sequence[str], part: int, parts: int, seed: int | str) -> list[str] | None:
    """This reader's shards: the list shuffled with ``seed`` (identically on every reader), then
    every ``parts``-th from ``part``. ``None`` when there are fewer shards than readers: the
    caller splits by sample (or by video) instead. The assignment is fixed for a seed, so two
    readers never read the same shard."""
    if not 0 <= part < parts:
        raise ValueError(f"part {part} outside [0, {parts})")
    order = list(urls)
    random.Random(f"{seed}").shuffle(order)
    return order[part::parts] if len(order) >= parts else None


def tar_samples(urls: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Raw samples (``{"__key__", "__url__", "json", "jpg", ...}``) of each shard in turn."""
    from holistic.data.tario import iter_samples

    for url in urls:
        yield from iter_samples(url)


def with_record(raw: dict[str, Any]) -> dict[str, Any]:
    """Parse the sample's JSON record into ``raw["record"]`` (once); returns ``raw``."""
    if "record" not in raw:
        raw["record"] = json.loads(raw["json"])
    return raw


def has_task(raw: dict[str, Any], task: str) -> bool:
    """Whether the sample is labelled for ``task``, looking at the JSON before the image: a
    substring test first (most off-task samples fail it), then the parsed record (kept)."""
    if "record" not in raw and f'"{task}":'.encode() not in raw["json"]:
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


def decode_sample(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A raw tar sample -> ``{"key", "image": RGB uint8 HxWx3, "record": dict}``, plus
    ``"audio": {"mel": ..., "egemaps": ...}`` when the shard stored audio features.

    Raises:
        ValueError: the JPEG does not decode (the message names the sample and shard).
    """
    import cv2

    global _IMREAD_RGB
    if _IMREAD_RGB is None:
        _IMREAD_RGB = _imread_rgb_flag()
    record = raw.get("record") or json.loads(raw["json"])
    rgb = cv2.imdecode(np.frombuffer(raw["jpg"], np.uint8), _IMREAD_RGB)
    if rgb is None:
        raise ValueError(f"sample {raw.get('__key__')} of {raw.get('__url__')}: bad JPEG")
    if _IMREAD_RGB == cv2.IMREAD_COLOR:  # OpenCV < 4.10: decode as BGR, then swap
        rgb = cv2.cvtColor(rgb, cv2.COLOR_BGR2RGB)
    item = {"key": raw["__key__"], "image": rgb, "record": record}
    if "audio_features" in record:  # per-frame audio features stored as <name>.npy members
        item["audio"] = {
            name: np.load(io.BytesIO(raw[f"{name}.npy"]), allow_pickle=False)
            for name in record["audio_features"]
        }
    return item


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
