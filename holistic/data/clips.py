"""Clips for sequence models: windows of T consecutive frames of one video, with per-frame labels.

Shards keep each video's frames in order (the writer cuts them in scan order), so clips are built
while streaming: consecutive samples of the same dataset and video whose frame numbers follow
each other form a *run*; a run yields non-overlapping windows of ``length`` frames from a random
start offset (new every epoch). A rejected frame (no face, invalid label row that left nothing)
breaks a run, so a window never jumps over a gap. Windows are shuffled across videos through a
buffer, decoded, augmented with the *same* parameters for every frame of a clip, and batched as
``[B, T, ...]``.
"""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.utils.data

from holistic.data.federation import (
    Federation,
    _reseed,
    _shuffled,
    _tar_samples,
    decode_sample,
)
from holistic.data.transforms import normalise_batch
from holistic.schema import LabelSpace

__all__ = ["ClipLoader", "clip_windows"]


def _run_key(record: dict[str, Any]) -> tuple[Any, Any]:
    return record.get("dataset"), record.get("video")


def clip_windows(
    samples: Iterator[dict[str, Any]], length: int, rng: random.Random
) -> Iterator[list[dict[str, Any]]]:
    """Non-overlapping windows of ``length`` consecutive frames of one video.

    Args:
        samples: raw shard samples in stream order, each with a parsed ``"record"``.
        length: frames per window (T).
        rng: draws each run's start offset in ``[0, length)``.
    """
    if length < 1:
        raise ValueError(f"clip length must be >= 1, got {length}")
    run: list[dict[str, Any]] = []

    def flush() -> Iterator[list[dict[str, Any]]]:
        start = rng.randrange(min(length, len(run) - length + 1)) if len(run) >= length else 0
        for begin in range(start, len(run) - length + 1, length):
            yield run[begin : begin + length]

    for sample in samples:
        record = sample["record"]
        if run:
            previous = run[-1]["record"]
            frame, last = record.get("frame"), previous.get("frame")
            continues = (
                _run_key(record) == _run_key(previous)
                and frame is not None
                and last is not None
                and frame == last + 1
            )
            if not continues:
                yield from flush()
                run = []
        if record.get("video") is None or record.get("frame") is None:
            continue  # still images cannot form clips
        run.append(sample)
    if run:
        yield from flush()


def _with_record(raw: dict[str, Any]) -> dict[str, Any]:
    raw["record"] = json.loads(raw["json"])
    return raw


class ClipLoader(torch.utils.data.IterableDataset):
    """Batches of clips ``[B, T, ...]`` for CNN-RNN models (AffWildNet, CNN-1RNN/3RNN, ...).

    Args:
        federation: the shards and manifest.
        label_space: vocabularies; every frame is projected with masks.
        length: frames per clip (the papers use 80).
        batch_size: clips per batch.
        transform: albumentations transform, applied with the same parameters to all frames of a
            clip (``transform(images=...)``); ``None`` keeps the stored crops.
        split, datasets: which part of the federation to read.
        task: keep only clips with at least one frame labelled for this task (``"va"``, ...).
        rank, world_size, seed: as for :class:`~holistic.data.federation.AlignedMixer`.
        steps: batches per epoch per rank; default: the split's frames / (length · batch_size ·
            world_size), at least 1.
        shuffle_buffer: clips held by the shuffle buffer.

    Ranks and DataLoader workers read disjoint, contiguous blocks of shards (videos stay whole
    inside a block); with fewer shards than readers, each reader keeps the videos whose name
    hashes to it. Every reader yields the same number of batches.

    Batches: ``image`` float32 [B, T, 3, H, W] in [-1, 1], the projected labels [B, T, ...]
    with masks, the per-frame audio features ``mel`` [B, T, n_mels, W] and ``egemaps``
    [B, T, 25] when the source has audio, and the lists ``dataset``, ``video`` and ``frames``
    (first frame number).
    """

    def __init__(
        self,
        federation: Federation,
        label_space: LabelSpace,
        length: int,
        batch_size: int,
        transform: Callable | None,
        *,
        split: str = "train",
        datasets: Sequence[str] | None = None,
        task: str | None = None,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        steps: int | None = None,
        shuffle_buffer: int = 64,
    ) -> None:
        if length < 1 or batch_size < 1:
            raise ValueError(f"length and batch_size must be >= 1, got {length}, {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside [0, {world_size})")
        self.shards = sorted(federation.shards(split, task, datasets), key=lambda r: r.url)
        if not self.shards:
            raise ValueError(f"the federation has no {split} shards for clips")
        self.label_space, self.length, self.batch_size = label_space, length, batch_size
        self.transform, self.task = transform, task
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.shuffle_buffer = shuffle_buffer
        frames = sum(ref.samples for ref in self.shards)
        self.steps = steps or max(1, frames // (length * batch_size * world_size))
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.steps

    def _raw(self, part: int, parts: int) -> Iterator[dict[str, Any]]:
        urls = [ref.url for ref in self.shards]
        if len(urls) >= parts:  # contiguous blocks keep videos whole
            block = urls[part * len(urls) // parts : (part + 1) * len(urls) // parts]
            yield from (_with_record(raw) for raw in _tar_samples(block))
            return
        for raw in _tar_samples(urls):  # few shards: split by video name instead
            raw = _with_record(raw)
            video = f"{raw['record'].get('dataset')}/{raw['record'].get('video')}"
            if zlib.crc32(video.encode()) % parts == part:
                yield raw

    def _windows(self, part: int, parts: int) -> Iterator[list[dict[str, Any]]]:
        epoch = self.epoch
        while True:
            rng = random.Random(f"{self.seed}-{epoch}-{part}")
            windows = clip_windows(self._raw(part, parts), self.length, rng)
            if self.task is not None:
                windows = (w for w in windows if any(self.task in s["record"] for s in w))
            produced = False
            for window in _shuffled(windows, self.shuffle_buffer, rng):
                produced = True
                yield window
            if not produced:
                raise ValueError(
                    f"reader {part}/{parts} found no clip of {self.length} consecutive frames; "
                    f"use shorter clips or fewer processes/workers"
                )
            epoch += 1

    def _clip(self, window: list[dict[str, Any]]) -> dict[str, Any]:
        decoded = [decode_sample(raw) for raw in window]
        images = np.stack([item["image"] for item in decoded])
        if self.transform is not None:
            images = np.asarray(self.transform(images=images)["images"])
        labels = self.label_space.project_arrays([raw["record"] for raw in window])
        labels["image"] = images
        if all("audio" in item for item in decoded):  # audio-visual sources: [T, ...] features
            for name in decoded[0]["audio"]:
                labels[name] = np.stack([item["audio"][name] for item in decoded])
        return labels

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        part, parts = self.rank * workers + worker, self.world_size * workers
        steps = self.steps // workers + (1 if worker < self.steps % workers else 0)
        windows = self._windows(part, parts)
        for index in range(steps):
            chosen = [next(windows) for _ in range(self.batch_size)]
            _reseed(self.transform, f"{self.seed}-{self.epoch}-{part}-{index}")
            clips = [self._clip(window) for window in chosen]
            batch: dict[str, Any] = {}
            for key in clips[0]:
                stacked = np.stack([clip[key] for clip in clips])
                if key == "image":
                    b, t = stacked.shape[:2]
                    batch[key] = normalise_batch(stacked.reshape(b * t, *stacked.shape[2:]))
                    batch[key] = batch[key].reshape(b, t, *batch[key].shape[1:])
                else:
                    batch[key] = torch.from_numpy(stacked)
            batch["dataset"] = [w[0]["record"]["dataset"] for w in chosen]
            batch["video"] = [w[0]["record"]["video"] for w in chosen]
            batch["frames"] = [w[0]["record"]["frame"] for w in chosen]
            yield batch
