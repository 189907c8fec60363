"""Clips for sequence models: windows of T consecutive frames of one video, with per-frame labels.

Shards keep each video's frames in order (the writer cuts them in scan order), so clips are built
while streaming: consecutive samples of the same dataset and video whose frame numbers follow
each other form a *run*; a rejected frame (no face, an invalid label row that left nothing) breaks
a run, so a clip never jumps over a gap.

Training (:class:`ClipLoader`), as an explicit list of stages (:mod:`holistic.data.stages`):

1. shards: each reader (rank x worker) gets a disjoint share of the shards, drawn anew every
   epoch with the same seed on every reader and read in a new order every pass (with fewer
   shards than readers: the videos whose name hashes to it);
2. runs -> windows, per shard: non-overlapping windows of ``length`` frames from a random start
   offset (new every pass); a run that continues into the next shard is cut at the boundary;
3. interleave ``interleave`` shards at a time and shuffle windows through a buffer, so one batch
   holds clips of many videos (a batch-level CCC loss needs that);
4. decode, augment with the *same* parameters for every frame of a clip, batch ``[B, T, ...]``
   (only from the batch a loader starts at: the windows of earlier batches are drawn, not
   decoded); with ``audio=True`` every batch carries the per-frame audio features, zero-filled
   where a frame has none, and ``audio_mask``.

Every shard is checked against the manifest as it is read (``stages.shard_samples``): damage
raises :class:`~holistic.data.damage.ShardError`, or is skipped and counted with
``tolerate_damage``.

Evaluation (:func:`video_runs`, :func:`clip_arrays`): every run of every held-out video exactly
once, in frame order; the evaluation code cuts runs into windows and merges predictions per frame.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.utils.data

from holistic.data.damage import DamageLog, ShardError, advice
from holistic.data.federation import Federation
from holistic.data.manifest import record_has
from holistic.data.stages import (
    ShardRef,
    batch_images,
    decode_sample,
    epoch_loader,
    first_batch,
    interleave,
    read_shards,
    reader,
    reseed,
    shard_share,
    shuffled,
    steps_for,
    with_records,
)
from holistic.schema import LabelSpace

__all__ = [
    "ClipLoader",
    "ClipSourceError",
    "audio_layout",
    "check_clip_sources",
    "clip_arrays",
    "clip_windows",
    "collate_clips",
    "frame_runs",
    "run_windows",
    "video_runs",
]


class ClipSourceError(ValueError):
    """A dataset cannot serve clips of the asked length (stills, no frame numbers, short runs)."""


def _run_key(record: Mapping[str, Any]) -> tuple[Any, Any]:
    return record.get("dataset"), record.get("video")


def _is_frame(record: Mapping[str, Any]) -> bool:
    return record.get("video") is not None and isinstance(record.get("frame"), int)


def frame_runs(samples: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Runs of consecutive frames of one video, in stream order.

    Args:
        samples: raw shard samples, each with a parsed ``"record"``. Samples without a video or a
            frame number (still images) belong to no run and are skipped.
    """
    run: list[dict[str, Any]] = []
    for sample in samples:
        record = sample["record"]
        if run:
            last = run[-1]["record"]
            continues = (
                _is_frame(record)
                and _run_key(record) == _run_key(last)
                and record["frame"] == last["frame"] + 1
            )
            if not continues:
                yield run
                run = []
        if _is_frame(record):
            run.append(sample)
    if run:
        yield run


def clip_windows(
    samples: Iterator[dict[str, Any]], length: int, rng: random.Random
) -> Iterator[list[dict[str, Any]]]:
    """Non-overlapping windows of ``length`` consecutive frames of one video.

    Args:
        samples: raw shard samples in stream order, each with a parsed ``"record"``.
        length: frames per window (T).
        rng: draws each run's start offset in ``[0, length)`` (within what the run allows).
    """
    if length < 1:
        raise ValueError(f"clip length must be >= 1, got {length}")
    for run in frame_runs(samples):
        if len(run) < length:
            continue
        start = rng.randrange(min(length, len(run) - length + 1))
        for begin in range(start, len(run) - length + 1, length):
            yield run[begin : begin + length]


def check_clip_sources(
    federation: Federation,
    length: int,
    *,
    split: str = "train",
    datasets: Sequence[str] | None = None,
    landmarks: bool = False,
    damage: DamageLog | None = None,
) -> dict[str, int]:
    """The longest run of consecutive frames inside one shard, per dataset; raise if a dataset
    cannot serve clips of ``length`` frames (with ``landmarks``: clips with landmarks).

    Read from the manifest (``longest_run`` per shard); shards converted before it was recorded
    are scanned (JSON only), damage reported to ``damage`` (default: raised).

    Raises:
        ClipSourceError: a dataset named (or, with ``datasets=None``, any dataset of ``split``)
            has no frame numbers (an image-only dataset), no run of ``length`` frames, or (with
            ``landmarks``) no frame with landmarks. The message names the dataset and its longest
            run.
    """
    refs = federation.shards(split, None, datasets)
    if not refs:
        raise ClipSourceError(f"the federation has no {split} shards for {datasets or 'clips'}")
    longest: dict[str, int] = {}
    frames: dict[str, int] = {}
    with_landmarks: dict[str, int] = {}
    for ref in refs:
        with_landmarks[ref.dataset] = with_landmarks.get(ref.dataset, 0) + ref.tasks.get(
            "landmarks", 0
        )
        run, count = (
            (ref.longest_run, ref.frames)
            if ref.longest_run is not None
            else _scan_runs(ref, DamageLog() if damage is None else damage)
        )
        longest[ref.dataset] = max(longest.get(ref.dataset, 0), run)
        frames[ref.dataset] = frames.get(ref.dataset, 0) + count
    for dataset, run in longest.items():
        if not frames[dataset]:
            raise ClipSourceError(
                f"{dataset} ({split}) has no video frames (no sample has a video and a frame "
                "number): it is an image dataset and cannot serve clips; leave it out of the "
                "clip recipe's datasets"
            )
        if run < length:
            raise ClipSourceError(
                f"{dataset} ({split}): clips of {length} frames, but its longest run of "
                f"consecutive frames in one shard is {run}; use clips of at most {run} frames "
                "or convert it with larger shards (holistic federate --shard-size)"
            )
    # Landmark counts exist in manifests that record runs; older ones are not judged here.
    recorded = {ref.dataset for ref in refs if ref.longest_run is not None}
    missing = sorted(d for d in recorded if landmarks and not with_landmarks[d])
    if missing:
        raise ClipSourceError(
            f"the model takes 68 landmarks per frame, but no {split} frame of {missing} has "
            "them (sources given as aligned crops carry none): leave these datasets out or use "
            "a model without landmarks"
        )
    return longest


def _scan_runs(ref: ShardRef, damage: DamageLog) -> tuple[int, int]:
    runs = [len(run) for run in frame_runs(with_records(read_shards([ref], damage), damage))]
    return max(runs, default=0), sum(runs)


class ClipLoader(torch.utils.data.IterableDataset):
    """Batches of clips ``[B, T, ...]`` for sequence models (AffWildNet, CNN-RNNs, MT-VGG-GRU).

    The same API as :class:`~holistic.data.federation.AlignedMixer`: :meth:`loader`,
    :meth:`set_epoch`, ``len()`` (steps per epoch per rank), a split by rank and DataLoader worker
    with equal steps everywhere, batches a function of their position (resume by skipping), and
    ``normalise=False`` for uint8 output.

    Args:
        federation: the shards and manifest.
        label_space: vocabularies; every frame is projected with masks.
        length: frames per clip (AffWildNet and the CNN-RNNs use 80, MT-VGG-GRU 90).
        batch_size: clips per batch.
        transform: albumentations transform, applied with the same parameters to all frames of a
            clip (``transform(images=...)``, and ``keypoints=`` when ``landmarks``); ``None``
            keeps the stored crops.
        split, datasets: which part of the federation to read.
        task: keep only clips with at least one frame labelled for this task (``"va"``), or for
            any of several (``["va", "expr", "au"]``); ``None`` keeps every clip. Frames carry
            every label they have, with masks, so a batch mixes VA, EXPR and AU clips.
        rank, world_size, seed: as for the aligned mixer.
        steps: batches per epoch per rank; default: the split's frames / (length · batch_size ·
            world_size), at least 1.
        shuffle_buffer: clips held by the shuffle buffer.
        interleave: shards a reader reads at once (the clips of a batch come from their videos).
        normalise: float32 images in [-1, 1]; False: uint8 ``[B, T, 3, H, W]``.
        landmarks: also yield ``landmarks`` ``[B, T, 68, 2]`` in [-1, 1] crop coordinates (moved
            by the augmentation with the image) and ``landmarks_mask`` ``[B, T]`` (frames without
            landmarks hold zeros).
        tolerate_damage: False (default): a shard that holds another number of samples than
            the manifest says, or a frame that does not parse, raises
            :class:`~holistic.data.damage.ShardError`. True: what is damaged is skipped (a clip
            with a damaged frame is left out of its batch), logged as a warning and counted in
            :attr:`damage` (of this process; DataLoader workers count in their own copy);
            the rows of newly damaged shards ride out with the next batch, under
            ``damaged_shards`` (:meth:`~holistic.data.damage.DamageLog.attach`).
        audio: also yield the per-frame audio features the shards store, in every batch:
            ``egemaps`` [B, T, 25] (float32, openSMILE's raw units) and ``mel`` [B, T, n_mels, W]
            (float16 in [-1, 1]; see :mod:`holistic.data.audio`), zero-filled where a frame has
            no audio, and ``audio_mask`` [B, T] (True where the frame has audio). A batch in
            which no frame has audio gets zeros and an all-False mask. The feature shapes are
            read at start from one stored frame (:func:`audio_layout`). False (default): no
            audio keys, whatever the shards hold.

    Raises:
        ClipSourceError: a dataset cannot serve clips of ``length`` frames (see
            :func:`check_clip_sources`); with ``audio``, no shard of the loader has audio.
        ValueError: with ``audio``, a frame's features have other names or shapes than the
            first stored frame's (shards converted with other audio settings), when its batch
            is built.

    Batches: ``image`` [B, T, 3, H, W], the projected labels ``[B, T, ...]`` with masks, with
    ``audio`` the audio keys above, and the lists ``dataset``, ``video`` and ``frames`` (first
    frame number).
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
        task: str | Sequence[str] | None = None,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        steps: int | None = None,
        shuffle_buffer: int = 64,
        interleave: int = 8,
        normalise: bool = True,
        landmarks: bool = False,
        tolerate_damage: bool = False,
        audio: bool = False,
    ) -> None:
        if length < 1 or batch_size < 1 or interleave < 1:
            raise ValueError(
                f"length, batch_size and interleave must be >= 1, got {length}, {batch_size}, "
                f"{interleave}"
            )
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside [0, {world_size})")
        self.tasks = (task,) if isinstance(task, str) else tuple(task or ())
        refs = federation.shards(split, None, datasets)
        if self.tasks:
            refs = [r for r in refs if any(r.tasks.get(t) for t in self.tasks)]
        self.shards: list[ShardRef] = sorted(refs, key=lambda r: r.url)
        if not self.shards:
            raise ClipSourceError(f"the federation has no {split} shards for clips")
        self.damage = DamageLog(tolerate_damage)
        check_clip_sources(
            federation,
            length,
            split=split,
            datasets=datasets,
            landmarks=landmarks,
            damage=self.damage,
        )
        self.label_space, self.length, self.batch_size = label_space, length, batch_size
        self.transform = transform
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.shuffle_buffer, self.interleave = shuffle_buffer, interleave
        self.normalise, self.landmarks = normalise, landmarks
        self.audio = None
        if audio:  # the datasets' features made alike, then their shapes
            federation.audio_settings(sorted({ref.dataset for ref in self.shards}))
            self.audio = audio_layout(self.shards, self.damage)
        frames = sum(ref.samples for ref in self.shards)
        self.steps = steps or max(1, frames // (length * batch_size * world_size))
        self.epoch = 0
        self.start = 0  # the first batch of the epoch to yield (set by ``loader(start=...)``)

    def set_epoch(self, epoch: int) -> None:
        """Reseed for a new epoch (call before iterating again)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        """Batches left in the epoch: ``steps`` (less ``start`` in a :meth:`loader` from a
        position)."""
        return max(0, self.steps - self.start)

    def loader(
        self, num_workers: int = 0, start: int = 0, **kwargs: Any
    ) -> torch.utils.data.DataLoader:
        """A ``DataLoader`` over this loader (``batch_size=None``: batches are built here);
        ``start``: the epoch's first batch to yield, the earlier ones drawn without decoding
        (as :meth:`AlignedMixer.loader <holistic.data.federation.AlignedMixer.loader>`)."""
        return epoch_loader(self, num_workers, start, **kwargs)

    def _keep(self, window: list[dict[str, Any]]) -> bool:
        return not self.tasks or any(record_has(s["record"], t) for s in window for t in self.tasks)

    def _windows(self, part: int, parts: int) -> Iterator[list[dict[str, Any]]]:
        seed = f"{self.seed}-{self.epoch}"
        mine = shard_share(self.shards, part, parts, f"{seed}-clips")  # 1. disjoint, per epoch
        passes = 0
        while True:
            rng = random.Random(f"{seed}-{part}-{passes}")
            if mine is not None:
                order = list(mine)
                rng.shuffle(order)  # 1. a new shard order every pass
                sources = (self._shard_windows([ref], rng, None) for ref in order)
            else:  # 1. fewer shards than readers: the videos that hash to this reader
                sources = iter([self._shard_windows(self.shards, rng, (part, parts))])
            windows = interleave(sources, self.interleave, rng)  # 3. many shards at once
            produced = False
            for window in shuffled(windows, self.shuffle_buffer, rng):  # 3. shuffle buffer
                produced = True
                yield window
            if not produced:
                raise ClipSourceError(
                    f"reader {part}/{parts} found no clip of {self.length} consecutive frames"
                    f"{' labelled for ' + '/'.join(self.tasks) if self.tasks else ''}; use "
                    "shorter clips or fewer processes/workers"
                )
            passes += 1

    def _shard_windows(
        self, refs: Sequence[ShardRef], rng: random.Random, by_video: tuple[int, int] | None
    ) -> Iterator[list[dict[str, Any]]]:
        raw = with_records(read_shards(refs, self.damage), self.damage)  # checked per shard
        if by_video is not None:
            part, parts = by_video
            raw = (s for s in raw if _video_hash(s["record"]) % parts == part)
        # 2. runs -> windows, with a start offset drawn per run
        return (w for w in clip_windows(raw, self.length, rng) if self._keep(w))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        part, parts = reader(self.rank, self.world_size, self.start)
        windows = self._windows(part, parts)
        first = first_batch(self.start, part, parts, self.world_size)
        for index in range(steps_for(self.steps, part, parts, self.world_size)):
            chosen = [next(windows) for _ in range(self.batch_size)]
            if index < first:  # before the resume position: drawn alike, never decoded
                continue
            reseed(self.transform, f"{self.seed}-{self.epoch}-{part}-{index}")
            yield self._batch(chosen, f"batch {index} of reader {part}/{parts}")

    def _batch(self, chosen: list[list[dict[str, Any]]], where: str) -> dict[str, Any]:
        """Decode, augment and collate the windows; a clip with a damaged frame goes to
        :attr:`damage` (raised, or left out of the batch)."""
        clips, kept = [], []
        for window in chosen:
            try:
                clips.append(
                    clip_arrays(window, self.label_space, self.transform, landmarks=self.landmarks)
                )
            except ShardError as error:
                self.damage.bad_sample(error)
                continue
            kept.append(window)
        if not clips:
            raise ShardError(f"every clip of {where} is damaged. {advice()}")
        return self.damage.attach(collate_clips(clips, kept, self.normalise, audio=self.audio))


def _video_hash(record: Mapping[str, Any]) -> int:
    return zlib.crc32(f"{record.get('dataset')}/{record.get('video')}".encode())


def clip_arrays(
    window: Sequence[dict[str, Any]],
    label_space: LabelSpace,
    transform: Callable | None,
    *,
    landmarks: bool = False,
) -> dict[str, np.ndarray]:
    """One clip as arrays: ``image`` uint8 [T, H, W, 3] (decoded, augmented alike), the
    projected labels [T, ...], and with ``landmarks`` the 68 points [T, 68, 2] in [-1, 1] of the
    output crop plus ``landmarks_mask`` [T].

    When any frame has audio: each stored feature [T, ...] (``mel``, ``egemaps``), zero-filled
    where a frame has none, and ``audio_mask`` [T] (True where the frame has audio); no audio
    keys when no frame has any.

    Raises:
        ShardError: a frame does not decode.
        ValueError: frames of the clip store audio features of other names or shapes.
    """
    decoded = [decode_sample(raw) for raw in window]
    images = np.stack([item["image"] for item in decoded])
    side = images.shape[1]
    points = mask = None
    if landmarks:
        points, mask = _landmarks(window)
    if transform is not None:
        if points is not None and getattr(transform, "processors", {}).get("keypoints"):
            out = transform(images=images, keypoints=points.reshape(-1, 2))
            points = np.asarray(out["keypoints"], np.float32).reshape(points.shape)
        else:
            out = transform(images=images)
            if points is not None:  # a resize-only transform (evaluation): scale the points
                points = points * (np.asarray(out["images"]).shape[1] / side)
        images = np.asarray(out["images"])
    arrays = label_space.project_arrays([raw["record"] for raw in window])
    arrays["image"] = images
    arrays.update(_clip_audio(decoded, window))
    if points is not None:
        size = images.shape[1]
        arrays["landmarks"] = (points / size * 2 - 1).astype(np.float32) * mask[:, None, None]
        arrays["landmarks_mask"] = mask
    return arrays


def _clip_audio(
    decoded: Sequence[dict[str, Any]], window: Sequence[dict[str, Any]]
) -> dict[str, np.ndarray]:
    """The clip's per-frame audio features, zero-filled, and ``audio_mask`` (none: ``{}``)."""
    present = np.array(["audio" in item for item in decoded])
    if not present.any():
        return {}
    first = decoded[int(np.argmax(present))]["audio"]
    layout = _layout_of(first)
    out = {name: np.zeros((len(decoded), *a.shape), a.dtype) for name, a in first.items()}
    for t, item in enumerate(decoded):
        if "audio" not in item:
            continue
        _check_audio(item["audio"], layout, window[t]["record"])
        for name, features in item["audio"].items():
            out[name][t] = features
    out["audio_mask"] = present
    return out


def _layout_of(features: Mapping[str, np.ndarray]) -> dict[str, tuple[tuple[int, ...], str]]:
    return {name: (tuple(a.shape), a.dtype.str) for name, a in sorted(features.items())}


def _check_audio(
    features: Mapping[str, np.ndarray],
    layout: Mapping[str, tuple[Sequence[int], str]],
    record: Mapping[str, Any],
) -> None:
    found = {name: tuple(a.shape) for name, a in sorted(features.items())}
    expected = {name: tuple(shape) for name, (shape, _) in sorted(layout.items())}
    if found != expected:
        raise ValueError(
            f"{record.get('dataset')} video {record.get('video')!r} frame {record.get('frame')}: "
            f"audio features {found}, expected {expected} (the first stored frame's): its "
            "shards were converted with other audio settings; convert the datasets alike"
        )


def frame_audio(
    items: Sequence[Mapping[str, Any]], layout: Mapping[str, tuple[Sequence[int], str]]
) -> dict[str, np.ndarray]:
    """The audio of decoded single samples (the aligned mixer's): each feature of ``layout``
    ``[B, ...]``, zeros where a sample has no audio, and ``audio_mask`` [B].

    Raises:
        ValueError: a sample's features have other names or shapes than ``layout``.
    """
    out = {
        name: np.zeros((len(items), *shape), np.dtype(dtype))
        for name, (shape, dtype) in layout.items()
    }
    mask = np.zeros(len(items), bool)
    for i, item in enumerate(items):
        if "audio" not in item:
            continue
        _check_audio(item["audio"], layout, item["record"])
        for name, value in item["audio"].items():
            out[name][i] = value
        mask[i] = True
    return {**out, "audio_mask": mask}


def audio_layout(
    shards: Sequence[ShardRef], damage: DamageLog | None = None
) -> dict[str, tuple[tuple[int, ...], str]]:
    """The per-frame shape and dtype of each stored audio feature, read from the first frame
    with audio of the first shard the manifest says has some (``tasks.audio``), e.g.
    ``{"egemaps": ((25,), "<f4"), "mel": ((64, 11), "<f2")}``.

    Raises:
        ClipSourceError: no shard has audio (naming their datasets).
    """
    damage = DamageLog() if damage is None else damage
    for ref in shards:
        if not ref.tasks.get("audio"):
            continue
        for raw in with_records(read_shards([ref], damage), damage):
            if not raw["record"].get("audio_features"):
                continue
            try:
                return _layout_of(decode_sample(raw)["audio"])
            except ShardError as error:
                damage.bad_sample(error)
    datasets = sorted({ref.dataset for ref in shards})
    raise ClipSourceError(
        f"audio was asked for, but no shard of {datasets} has audio features (the manifest's "
        "tasks.audio): convert the videos with their audio tracks (e.g. holistic federate "
        "affwild2 --option audio=DIR, without --no-audio), or build the loader without audio"
    )


def _landmarks(window: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    points = np.zeros((len(window), 68, 2), np.float32)
    mask = np.zeros(len(window), bool)
    for t, raw in enumerate(window):
        given = raw["record"].get("landmarks")
        if given is not None and len(given) == 68:
            points[t] = given
            mask[t] = True
    return points, mask


def collate_clips(
    clips: Sequence[Mapping[str, np.ndarray]],
    windows: Sequence[Sequence[dict[str, Any]]],
    normalise: bool = True,
    *,
    audio: Mapping[str, tuple[Sequence[int], str]] | None = None,
) -> dict[str, Any]:
    """Stack clips of equal length (:func:`clip_arrays`) into a batch ``[B, T, ...]`` (see
    :class:`ClipLoader`).

    Args:
        clips, windows: each clip's arrays and its raw frames.
        normalise: float32 images in [-1, 1]; False: uint8.
        audio: the per-frame shape and dtype of each audio feature (:func:`audio_layout`): the
            batch carries every one of them ``[B, T, ...]``, zeros where a clip or frame has no
            audio, and ``audio_mask`` [B, T], even when no frame has audio. None: no audio keys.

    Raises:
        ValueError: a clip's audio features have other names or shapes than ``audio``.
    """
    batch: dict[str, Any] = {}
    stored = {name for window in windows for raw in window for name in _audio_names(raw)}
    skip = {"audio_mask", *stored, *(audio or {})}  # audio: only as the layout says
    for key in clips[0]:
        if key in skip:
            continue
        stacked = np.stack([clip[key] for clip in clips])
        batch[key] = (
            batch_images(stacked, normalise) if key == "image" else torch.from_numpy(stacked)
        )
    if audio is not None:
        batch.update(_collate_audio(clips, windows, audio))
    batch["dataset"] = [w[0]["record"]["dataset"] for w in windows]
    batch["video"] = [w[0]["record"]["video"] for w in windows]
    batch["frames"] = [w[0]["record"]["frame"] for w in windows]
    return batch


def _audio_names(raw: Mapping[str, Any]) -> Sequence[str]:
    return raw["record"].get("audio_features", ())


def _collate_audio(
    clips: Sequence[Mapping[str, np.ndarray]],
    windows: Sequence[Sequence[dict[str, Any]]],
    layout: Mapping[str, tuple[Sequence[int], str]],
) -> dict[str, torch.Tensor]:
    """``[B, T, ...]`` zero-filled features of ``layout`` and ``audio_mask`` [B, T]."""
    frames = len(clips[0]["image"])
    out = {
        name: np.zeros((len(clips), frames, *shape), np.dtype(dtype))
        for name, (shape, dtype) in layout.items()
    }
    mask = np.zeros((len(clips), frames), bool)
    for b, (clip, window) in enumerate(zip(clips, windows, strict=True)):
        if "audio_mask" not in clip:  # no frame of this clip has audio: zeros
            continue
        first = window[int(np.argmax(clip["audio_mask"]))]
        names = _audio_names(first)
        _check_audio({name: clip[name][0] for name in names}, layout, first["record"])
        for name in names:
            out[name][b] = clip[name]
        mask[b] = clip["audio_mask"]
    return {
        **{name: torch.from_numpy(a) for name, a in out.items()},
        "audio_mask": torch.from_numpy(mask),
    }


def video_runs(
    federation: Federation,
    *,
    split: str = "validation",
    datasets: Sequence[str] | None = None,
    rank: int = 0,
    world_size: int = 1,
    damage: DamageLog | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Every run of consecutive frames of every video of ``split``, once, in frame order.

    Each dataset's shards are read in name order (the writer's order), so a run that continues
    into the next shard stays whole. Ranks take the videos whose name hashes to them (a video is
    never split across ranks); gather the predictions for pooled metrics. Samples without a
    video or frame number (stills) belong to no run and are not yielded. Shards are checked
    against the manifest; damage goes to ``damage`` (default: raised as
    :class:`~holistic.data.damage.ShardError`).
    """
    damage = DamageLog() if damage is None else damage
    for dataset in _datasets_of(federation, split, datasets):
        refs = sorted(federation.shards(split, None, [dataset]), key=lambda ref: ref.url)
        raw = with_records(read_shards(refs, damage), damage)
        if world_size > 1:
            raw = (s for s in raw if _video_hash(s["record"]) % world_size == rank)
        yield from frame_runs(raw)


def _datasets_of(federation: Federation, split: str, datasets: Sequence[str] | None) -> list[str]:
    names = sorted({ref.dataset for ref in federation.shards(split, None, datasets)})
    if not names:
        raise ClipSourceError(f"the federation has no {split} shards for {datasets or 'clips'}")
    return names


def run_windows(length: int, window: int | None, stride: int | None) -> list[tuple[int, int]]:
    """``(start, stop)`` windows covering frames ``0 .. length-1`` of a run.

    ``window=None`` (or a run shorter than the window): the whole run at once. Otherwise windows
    of ``window`` frames every ``stride`` frames (default ``window``: no overlap), plus one
    aligned to the end when the last stride leaves frames uncovered. Every frame is covered at
    least once; overlapping predictions are averaged by the caller.
    """
    if length < 1:
        return []
    if window is None or length <= window:
        return [(0, length)]
    stride = stride or window
    if not 1 <= stride <= window:
        raise ValueError(f"stride must be in [1, window={window}], got {stride}")
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] + window < length:
        starts.append(length - window)
    return [(s, s + window) for s in starts]
