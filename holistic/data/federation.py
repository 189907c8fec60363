"""Streaming the federation: per-task-set WebDataset pipelines and the aligned mixer.

A federation is a folder (or URL prefix) holding tar shards and ``manifest.json``. Training
streams it as three *task sets*, as FaceBehaviorNet does: the VA-Set (samples with a VA label),
the AU-Set (samples with AU labels) and the EXPR-Set (samples with an expression label). A sample
labelled for several tasks serves each of those sets and always carries all its labels.

Each step the :class:`AlignedMixer` yields one batch concatenating ``batch_sizes[task]`` samples of
each set (the paper's 401 VA + 247 AU + 103 EXPR), sized by default in proportion to the set
sizes read from the manifest so that every set finishes an epoch together.

Distribution (DESIGN.md decision 6): the mixer is an ``IterableDataset`` that splits itself
explicitly by rank and by DataLoader worker; it is *not* passed to ``accelerator.prepare``. Every
rank and worker yields the same number of steps, and no sample is read by two ranks or workers
within an epoch.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.utils.data

from holistic.data.damage import DamageLog, ShardError, advice
from holistic.data.manifest import (
    MANIFEST_FILE,
    check_file_name,
    check_manifest,
    parse_manifest,
    va_histogram_from_json,
)
from holistic.data.stages import (
    ShardRef,
    batch_images,
    decode_all,
    epoch_loader,
    every_nth,
    first_batch,
    read_shards,
    reader,
    reseed,
    shard_share,
    shuffled,
    steps_for,
    weighted_mix,
)
from holistic.schema import VA_BINS, LabelSpace, VAHistogram

__all__ = [
    "TASK_SETS",
    "AlignedMixer",
    "Federation",
    "SelectionError",
    "ShardRef",
    "aligned_batch_sizes",
    "eval_batches",
    "sample_stream",
]

logger = logging.getLogger(__name__)

#: Task sets of the aligned mixer and the record key that puts a sample in each.
TASK_SETS: dict[str, str] = {"va": "va", "au": "au", "expr": "expr", "compound": "compound"}


class SelectionError(ValueError):
    """Datasets or splits asked for that the federation does not have; the message lists the
    datasets and splits it has."""


class Federation:
    """A federation of shards, local or remote, described by its ``manifest.json``.

    Args:
        location: a local folder, an ``http(s)://`` prefix, or a template with ``{name}`` that
            webdataset opens, e.g. ``"pipe:aws s3 cp s3://bucket/fed/{name} -"``.
    """

    def __init__(self, location: str, manifest: Mapping[str, Any] | None = None) -> None:
        self.location = str(location)
        self.manifest = (
            check_manifest(dict(manifest), "the given manifest")
            if manifest is not None
            else self._read_manifest()
        )

    def url(self, name: str) -> str:
        """The URL (or ``pipe:`` command) of the federation's file ``name``.

        Raises:
            ManifestError: ``name`` is not ``manifest.json`` or a shard name of the naming
                scheme: nothing else is substituted into a location, which may be a shell
                command.
        """
        check_file_name(name, f"federation {self.location}")
        if "{name}" in self.location:
            return self.location.replace("{name}", name)
        return f"{self.location.rstrip('/')}/{name}"

    def _read_manifest(self) -> dict[str, Any]:
        import webdataset as wds

        url = self.url(MANIFEST_FILE)
        try:
            with wds.gopen(url, "rb") as stream:
                text = stream.read()
        except (OSError, ValueError) as error:  # a pipe: command that fails raises ValueError
            raise FileNotFoundError(
                f"cannot read the federation manifest {url}: {error}. Convert a source first "
                f"with `holistic federate SOURCE ROOT --out DIR`"
            ) from error
        return parse_manifest(text, url)

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(self.manifest["datasets"])

    def check_datasets(self, datasets: Sequence[str] | None) -> None:
        """Raise :class:`SelectionError` naming the datasets of ``datasets`` (None: all) that
        the federation does not have, and listing those it has."""
        unknown = sorted(set(datasets or ()) - set(self.datasets))
        if unknown:
            raise SelectionError(
                f"dataset(s) {unknown} are not in the federation {self.location}; it has "
                f"{sorted(self.datasets)}"
            )

    def shards(
        self,
        split: str = "train",
        task: str | None = None,
        datasets: Sequence[str] | None = None,
    ) -> list[ShardRef]:
        """Shards of ``split`` (optionally only those with ``task`` labels, from ``datasets``)."""
        self.check_datasets(datasets)
        refs = []
        for dataset, entry in self.manifest["datasets"].items():
            if datasets is not None and dataset not in datasets:
                continue
            split_entry = entry["splits"].get(split)
            if split_entry is None:
                continue
            for shard in split_entry["shards"]:
                tasks = shard["tasks"]
                if task is not None and not tasks.get(task):
                    continue
                refs.append(
                    ShardRef(
                        self.url(shard["name"]),
                        dataset,
                        split,
                        shard["samples"],
                        tasks,
                        shard.get("frames"),
                        shard.get("longest_run"),
                    )
                )
        return refs

    def set_size(self, task: str, split: str = "train", datasets=None) -> int:
        """Samples with a ``task`` label in ``split`` (the size of that task set)."""
        return sum(ref.tasks.get(task, 0) for ref in self.shards(split, task, datasets))

    def audio_settings(self, datasets: Sequence[str] | None = None) -> Any:
        """The :class:`~holistic.data.audio.AudioSettings` the audio features of ``datasets``
        (None: all) were made with, from the manifest; None when none of them has audio. A
        conversion from before the settings were recorded made them with the defaults.

        Raises:
            ValueError: the datasets' features were made with different settings (mixing them
                would feed a model two kinds of input under one name), naming each.
        """
        from holistic.data.audio import AudioSettings

        found: dict[str, AudioSettings] = {}
        for name, entry in self.manifest["datasets"].items():
            if datasets is not None and name not in datasets:
                continue
            splits = entry.get("splits", {}).values()
            if not any(split.get("tasks", {}).get("audio") for split in splits):
                continue
            recorded = entry.get("settings", {}).get("audio_features") or {}
            found[name] = AudioSettings.from_json(recorded, f"manifest: {name} audio_features")
        if len(set(found.values())) > 1:
            listed = "; ".join(f"{name}: {settings}" for name, settings in sorted(found.items()))
            raise ValueError(
                f"the audio features of {sorted(found)} were made with different settings "
                f"({listed}): convert them alike (holistic federate ... with the same audio "
                "settings) or train on one of them"
            )
        return next(iter(found.values()), None)

    def va_histogram(
        self, split: str = "train", datasets: Sequence[str] | None = None
    ) -> VAHistogram:
        """Valence and arousal labels per 0.1-wide bin of ``split``, summed over the shards of
        ``datasets`` (None: every dataset with that split), read from the manifest: no pass
        over the data. The bins are :func:`~holistic.schema.va_bin_index`'s, which class-balance
        weights look labels up with: ``VABinWeights.from_histograms(h.valence, h.arousal,
        h.bins.low, h.bins.high, h.bins.bins_per_unit)`` (training folds only: pass the
        training split).

        Returns:
            A :class:`~holistic.schema.VAHistogram` (``valence``, ``arousal``, ``bins``).

        Raises:
            SelectionError: a dataset the federation does not have, or none of ``datasets``
                has ``split``.
            ValueError: a chosen dataset whose manifest entry predates the histograms (the
                message names them and what to run), or datasets binned differently.
        """
        self.check_datasets(datasets)
        chosen = [
            name
            for name, entry in self.manifest["datasets"].items()
            if (datasets is None or name in datasets) and split in entry["splits"]
        ]
        if not chosen:
            asked = sorted(datasets) if datasets is not None else sorted(self.datasets)
            raise SelectionError(f"none of the datasets {asked} has a {split!r} split")
        outdated, histograms = [], []
        for name in chosen:
            shards = self.manifest["datasets"][name]["splits"][split]["shards"]
            if any("va_histogram" not in shard for shard in shards):
                outdated.append(name)
                continue
            histograms += [(name, va_histogram_from_json(s["va_histogram"])) for s in shards]
        if outdated:
            raise ValueError(
                f"the manifest of {self.location} has no VA histograms for {split!r} of "
                f"{outdated}: they were converted before histograms were recorded. Re-run "
                "`holistic federate` on them (same sources and options): the shards are not "
                "rewritten, only their sidecars and the manifest (a subset written by "
                "holistic.data.subsets: write it again)"
            )
        bins = {found.bins for _, found in histograms} or {VA_BINS}
        if len(bins) > 1:
            by_bins = {b: sorted({n for n, h in histograms if h.bins == b}) for b in bins}
            raise ValueError(f"the datasets' VA histograms are binned differently: {by_bins}")
        return sum((found for _, found in histograms), VAHistogram.zeros(bins.pop()))

    def check_serves(
        self,
        label_space: LabelSpace,
        split: str = "train",
        datasets: Sequence[str] | None = None,
    ) -> list[int]:
        """Raise if the shards cannot serve the vocabularies; return the AUs no source labels.

        An expression vocabulary none of whose classes occurs, or an AU vocabulary none of whose
        AUs is labelled, is an error. AUs of the vocabulary that no source labels (AU11 under
        the FaceBehaviorNet 17: only GFT codes it) are returned and logged: they learn only
        through the coupling losses, as in the paper. ``datasets``: only these sources count
        (the ones a run trains on); None: every dataset of the federation.
        """
        expr_seen: set[str] = set()
        aus_seen: set[int] = set()
        for name, entry in self.manifest["datasets"].items():
            if datasets is not None and name not in datasets:
                continue
            split_entry = entry["splits"].get(split, {})
            expr_seen |= set(split_entry.get("classes", {}).get("expr", {}))
            aus_seen |= {int(au) for au in split_entry.get("aus", {})}
        if expr_seen and not expr_seen & set(label_space.expressions):
            raise ValueError(
                f"no {split} sample has an expression of the vocabulary "
                f"{list(label_space.expressions)}; the shards have {sorted(expr_seen)}"
            )
        if aus_seen and not aus_seen & set(label_space.aus):
            raise ValueError(
                f"no {split} sample labels an AU of the vocabulary {list(label_space.aus)}; "
                f"the shards label {sorted(aus_seen)}"
            )
        unlabelled = [au for au in label_space.aus if au not in aus_seen]
        if aus_seen and unlabelled:
            logger.warning(
                "AUs %s are labelled by no %s sample: they learn only through the coupling losses",
                unlabelled,
                split,
            )
        return unlabelled if aus_seen else []


def aligned_batch_sizes(
    federation: Federation,
    total: int,
    split: str = "train",
    tasks: Sequence[str] = ("va", "au", "expr"),
    datasets: Sequence[str] | None = None,
) -> dict[str, int]:
    """Per-set batch sizes proportional to the set sizes, summing to ``total``.

    With the paper's federation (VA-Set : AU-Set : EXPR-Set) and ``total=751`` this gives its
    401 / 247 / 103. Every set gets at least 1 sample; a set with no samples is an error.
    """
    sizes = {task: federation.set_size(task, split, datasets) for task in tasks}
    empty = [task for task, size in sizes.items() if size == 0]
    if empty:
        raise ValueError(f"the {split} federation has no samples for task set(s) {empty}")
    if total < len(tasks):
        raise ValueError(f"a total batch of {total} cannot hold {len(tasks)} sets")
    grand = sum(sizes.values())
    raw = {task: total * size / grand for task, size in sizes.items()}
    batch = {task: max(1, math.floor(value)) for task, value in raw.items()}
    # Largest remainders get the samples rounding left over.
    for task in sorted(raw, key=lambda t: raw[t] - math.floor(raw[t]), reverse=True):
        if sum(batch.values()) >= total:
            break
        batch[task] += 1
    while sum(batch.values()) > total:  # only when a minimum of 1 pushed us over
        largest = max(batch, key=batch.get)
        batch[largest] -= 1
    return batch


# ---------------------------------------------------------------------------------------------
# The per-dataset stream (its stages are in holistic.data.stages)
# ---------------------------------------------------------------------------------------------


def sample_stream(
    shards: Sequence[ShardRef],
    *,
    task: str | None,
    part: int,
    parts: int,
    seed: int | str,
    shuffle_buffer: int = 1000,
    repeat: bool = True,
    damage: DamageLog | None = None,
) -> Iterator[dict[str, Any]]:
    """The raw (undecoded) samples of one dataset's shards that belong to ``part`` of ``parts``.

    The stages, in order:

    1. shards: the shard list shuffled with ``seed``, identically on every part;
    2. read tar members, checked against the manifest at each shard's end, and keep samples
       labelled for ``task`` (JSON only: cheap);
    3. split by part (``part = rank * workers + worker``): whole shards when there are at least
       as many shards as parts, otherwise every ``parts``-th kept sample. The assignment is
       fixed for the whole stream, so two parts never read the same sample, even when one part
       consumes more than its share and wraps around;
    4. shuffle buffer (seeded per part and pass).

    The caller decodes (:func:`~holistic.data.stages.decode_all`) what it uses, so samples it
    skips cost no JPEG decoding. With ``repeat=True`` the part's own shards are read again, in a
    new order, forever; the caller decides the epoch length (equal for every part). Vary
    ``seed`` per epoch to give each part other shards in the next epoch.

    Args:
        damage: where a damaged shard is reported (:class:`~holistic.data.damage.DamageLog`);
            default: a :class:`~holistic.data.damage.ShardError` is raised.
    """
    if not shards:
        raise ValueError(f"no shards to stream for task {task!r}")
    damage = DamageLog() if damage is None else damage
    mine = shard_share(shards, part, parts, seed)  # 1, 3. shuffled by seed, split by reader
    passes = 0
    while True:
        rng = random.Random(f"{seed}-{part}-{passes}")
        if mine is not None:
            order = list(mine)
            rng.shuffle(order)
            raw = read_shards(order, damage, task)  # 2. checked, this set's samples only
        else:  # 3. too few shards: split by sample position in the fixed order instead
            order = list(shards)
            random.Random(f"{seed}").shuffle(order)
            raw = every_nth(read_shards(order, damage, task), part, parts)
        yielded = False
        for item in shuffled(raw, shuffle_buffer, rng):  # 4. shuffle buffer
            yielded = True
            yield item
        if not repeat:
            return
        if not yielded:
            raise ValueError(
                f"part {part}/{parts} got no {task or 'any'} sample from {len(shards)} "
                f"shard(s); use fewer processes/workers or more, smaller shards"
            )
        passes += 1


# ---------------------------------------------------------------------------------------------
# The aligned mixer
# ---------------------------------------------------------------------------------------------


def _collate(
    items: list[dict[str, Any]],
    label_space: LabelSpace,
    transform,
    set_index: int,
    audio: Mapping[str, tuple[Sequence[int], str]] | None = None,
):
    from holistic.data.transforms import to_model_input

    batch = label_space.project_arrays([item["record"] for item in items])
    batch["image"] = np.stack([to_model_input(item["image"], transform) for item in items])
    batch["set"] = np.full(len(items), set_index, np.int64)
    batch["dataset"] = [item["record"]["dataset"] for item in items]
    batch["key"] = [item["key"] for item in items]
    batch["video"] = [item["record"].get("video") or "" for item in items]  # "": a still
    if audio is not None:
        from holistic.data.clips import frame_audio

        batch.update(frame_audio(items, audio))
    return batch


def _concat(batches: Sequence[dict[str, Any]], normalise: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in batches[0]:
        values = [batch[key] for batch in batches]
        if isinstance(values[0], list):
            out[key] = [v for value in values for v in value]
        elif key == "image":
            out[key] = batch_images(np.concatenate(values), normalise)
        else:
            out[key] = torch.from_numpy(np.concatenate(values))
    return out


class AlignedMixer(torch.utils.data.IterableDataset):
    """One step = one concatenated batch of each task set's samples (``torch`` IterableDataset).

    Args:
        federation: the shards and manifest.
        label_space: the run's vocabularies; every sample is projected onto them with masks.
        batch_sizes: samples per set and step, e.g. ``{"va": 401, "au": 247, "expr": 103}``
            (see :func:`aligned_batch_sizes`); sets with size 0 are left out.
        transform: albumentations transform (``holistic.data.transforms``).
        steps: steps per epoch *per rank*; default: the longest set's samples / its batch size,
            divided by ``world_size`` (so all sets finish an epoch together, as in the paper).
        split: the federation split to stream.
        dataset_weights: per-set (or shared) source weights, ``{"va": {"affwild2": 2, ...}}`` or
            ``{"affwild2": 2, ...}``; default: each source in proportion to its labelled samples
            (uniform over samples).
        rank, world_size: this process's rank and the number of processes (from Accelerate:
            ``accelerator.process_index`` and ``accelerator.num_processes``).
        seed: everything random derives from it, the epoch, the rank and the worker.
        shuffle_buffer: samples held by each shuffle buffer.
        normalise: yield float32 images in [-1, 1]; False yields uint8 [B, 3, H, W] to move to
            the accelerator as is and normalise there (``holistic.data.transforms.normalise``),
            which moves four times fewer bytes and frees the loader workers.
        tolerate_damage: False (default): a shard that holds another number of samples than
            the manifest says, or a sample that does not parse, raises
            :class:`~holistic.data.damage.ShardError`. True: what is damaged is skipped (a
            batch may then hold fewer samples), logged as a warning and counted in
            :attr:`damage` (of this process; DataLoader workers count in their own copy);
            the rows of newly damaged shards ride out with the next batch, under
            ``damaged_shards`` (:meth:`~holistic.data.damage.DamageLog.attach`).
        audio: every batch also carries each stored audio feature (``egemaps`` [B, 25],
            ``mel`` [B, n_mels, W], ...), zeros where a sample has none, and ``audio_mask``
            [B], so a batch mixes samples with and without audio and never drops it for the
            whole batch. The layout comes from the first stored frame with audio; a source
            converted with other audio settings is an error naming it.

    Iterating yields dicts of tensors: ``image`` [B, 3, H, W] in [-1, 1], the projected labels
    and masks of ``LabelSpace.project``, ``set`` [B] (index into :attr:`sets`), plus the lists
    ``dataset``, ``key`` and ``video`` (``""`` for a still). Use it through :meth:`loader`.

    Raises:
        ClipSourceError: ``audio`` on shards none of which has audio features.
    """

    def __init__(
        self,
        federation: Federation,
        label_space: LabelSpace,
        batch_sizes: Mapping[str, int],
        transform: Callable,
        *,
        steps: int | None = None,
        split: str = "train",
        dataset_weights: Mapping[str, Any] | None = None,
        datasets: Sequence[str] | None = None,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        shuffle_buffer: int = 1000,
        normalise: bool = True,
        tolerate_damage: bool = False,
        audio: bool = False,
    ) -> None:
        unknown = sorted(set(batch_sizes) - set(TASK_SETS))
        if unknown:
            raise ValueError(f"unknown task set(s) {unknown}; known: {list(TASK_SETS)}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside [0, {world_size})")
        self.federation = federation
        self.label_space = label_space
        self.batch_sizes = {task: int(size) for task, size in batch_sizes.items() if size > 0}
        self.sets = tuple(self.batch_sizes)
        self.transform = transform
        self.split = split
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.shuffle_buffer = shuffle_buffer
        self.normalise = normalise
        self.shards = {
            task: federation.shards(split, TASK_SETS[task], datasets) for task in self.sets
        }
        for task, refs in self.shards.items():
            if not refs:
                raise ValueError(f"the {split} federation has no shards for the {task} set")
        self.weights = {task: self._weights(task, dataset_weights) for task in self.sets}
        if steps is None:
            per_epoch = max(
                math.ceil(federation.set_size(TASK_SETS[t], split, datasets) / b)
                for t, b in self.batch_sizes.items()
            )
            steps = max(1, per_epoch // world_size)
        self.steps = int(steps)
        self.epoch = 0
        self.start = 0  # the first batch of the epoch to yield (set by ``loader(start=...)``)
        self.damage = DamageLog(tolerate_damage)
        self.audio = None  # the audio features' per-sample shapes and dtypes, when asked for
        if audio:
            from holistic.data.clips import audio_layout

            every = sorted({ref.url: ref for refs in self.shards.values() for ref in refs}.items())
            federation.audio_settings(sorted({ref.dataset for _, ref in every}))  # alike
            self.audio = audio_layout([ref for _, ref in every], self.damage)

    def _weights(self, task: str, given: Mapping[str, Any] | None) -> dict[str, float]:
        counts: dict[str, int] = {}
        for ref in self.shards[task]:
            counts[ref.dataset] = counts.get(ref.dataset, 0) + ref.tasks.get(TASK_SETS[task], 0)
        if not given:
            return {name: float(count) for name, count in counts.items()}
        chosen = given.get(task, given) if isinstance(given.get(task), Mapping) else given
        unknown = sorted(set(chosen) - set(counts))
        if unknown:
            raise ValueError(f"weights for {unknown}, which have no {task} shards ({counts})")
        weights = {name: float(chosen.get(name, 0.0)) for name in counts}
        if sum(weights.values()) <= 0 or min(weights.values()) < 0:
            raise ValueError(f"{task} source weights must be >= 0 and not all 0: {weights}")
        return {name: w for name, w in weights.items() if w > 0}

    def set_epoch(self, epoch: int) -> None:
        """Reseed for a new epoch (call before iterating again)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        """Batches left in the epoch: ``steps`` (less ``start`` in a :meth:`loader` from a
        position)."""
        return max(0, self.steps - self.start)

    def _streams(self, part: int, parts: int, seed: str) -> dict[str, Iterator[dict[str, Any]]]:
        """Each set's stream of raw samples: its sources mixed by weight."""
        rng = random.Random(f"{seed}-{part}-mix")
        streams = {}
        for task in self.sets:
            per_source = {
                dataset: sample_stream(
                    [r for r in self.shards[task] if r.dataset == dataset],
                    task=TASK_SETS[task],
                    part=part,
                    parts=parts,
                    seed=f"{seed}-{task}-{dataset}",
                    shuffle_buffer=self.shuffle_buffer,
                    damage=self.damage,
                )
                for dataset in self.weights[task]
            }
            streams[task] = weighted_mix(per_source, self.weights[task], rng)
        return streams

    def __iter__(self) -> Iterator[dict[str, Any]]:
        part, parts = reader(self.rank, self.world_size, self.start)
        seed = f"{self.seed}-{self.epoch}"
        streams = self._streams(part, parts, seed)
        first = first_batch(self.start, part, parts, self.world_size)
        for index in range(steps_for(self.steps, part, parts, self.world_size)):
            drawn = {
                task: [next(streams[task]) for _ in range(size)]
                for task, size in self.batch_sizes.items()
            }
            if index < first:  # before the resume position: drawn alike, never decoded
                continue
            # Augmentation seeded by (seed, epoch, reader, step): a batch is a function of its
            # position alone, so a resumed run that skips batches sees the same ones again.
            reseed(self.transform, f"{seed}-{part}-{index}")
            yield self._batch(drawn, f"batch {index} of reader {part}/{parts}")

    def _batch(self, drawn: Mapping[str, list[dict[str, Any]]], where: str) -> dict[str, Any]:
        """Decode, augment, project and concatenate the raw samples drawn for each set."""
        parts_of_batch = []
        for task, raws in drawn.items():
            items = decode_all(raws, self.damage)
            if items:  # a set's samples may all be damaged (and tolerated)
                parts_of_batch.append(
                    _collate(
                        items, self.label_space, self.transform, self.sets.index(task), self.audio
                    )
                )
        if not parts_of_batch:
            raise ShardError(f"every sample of {where} is damaged. {advice()}")
        return self.damage.attach(_concat(parts_of_batch, self.normalise))

    def loader(
        self, num_workers: int = 0, start: int = 0, **kwargs: Any
    ) -> torch.utils.data.DataLoader:
        """A ``DataLoader`` over this mixer (``batch_size=None``: batches are built here).

        Args:
            num_workers: DataLoader worker processes (each a reader with its share).
            start: the epoch's first batch to yield, counted as the DataLoader yields them:
                resume at a step without decoding or augmenting the batches before it. Their
                samples are drawn from the undecoded streams as an uninterrupted run draws
                them, so every batch from ``start`` on is identical to that run's.
            kwargs: more ``DataLoader`` arguments (``pin_memory``, ``prefetch_factor``, ...).
        """
        return epoch_loader(self, num_workers, start, **kwargs)


def eval_batches(
    federation: Federation,
    label_space: LabelSpace,
    transform: Callable,
    *,
    split: str = "validation",
    datasets: Sequence[str] | None = None,
    batch_size: int = 256,
    rank: int = 0,
    world_size: int = 1,
    damage: DamageLog | None = None,
) -> Iterator[dict[str, Any]]:
    """Every sample of ``split`` exactly once (this rank's share), in fixed order, batched.

    Ranks take disjoint shards (or every ``world_size``-th sample when shards are fewer than
    ranks); gather predictions across ranks for pooled metrics.

    Args:
        damage: where damaged shards are reported; default: a
            :class:`~holistic.data.damage.ShardError` is raised. With
            ``DamageLog(tolerate=True)`` damaged samples are left out (a batch may be smaller)
            and counted there.
    """
    refs = federation.shards(split, None, datasets)
    if not refs:
        raise ValueError(f"the federation has no {split} shards")
    damage = DamageLog() if damage is None else damage
    stream = sample_stream(
        refs,
        task=None,
        part=rank,
        parts=world_size,
        seed=0,
        shuffle_buffer=0,
        repeat=False,
        damage=damage,
    )
    # The shard order of sample_stream is shuffled by seed 0, identically on every rank.
    raws: list[dict[str, Any]] = []
    for raw in stream:
        raws.append(raw)
        if len(raws) == batch_size:
            yield from _eval_batch(raws, label_space, transform, damage)
            raws = []
    yield from _eval_batch(raws, label_space, transform, damage)


def _eval_batch(
    raws: list[dict[str, Any]], label_space: LabelSpace, transform: Callable, damage: DamageLog
) -> Iterator[dict[str, Any]]:
    items = decode_all(raws, damage)
    if items:
        yield _concat([_collate(items, label_space, transform, 0)])
