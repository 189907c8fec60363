"""Evaluate a model on a federation split and write the results: what recipes and
``holistic evaluate`` share."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from holistic.evaluation.evaluate import (
    Predictions,
    compute_metrics,
    to_jsonable,
    trivial_predictions,
)
from holistic.schema import LabelSpace

if TYPE_CHECKING:
    from holistic.data.damage import DamageLog
    from holistic.data.federation import Federation

logger = logging.getLogger(__name__)

__all__ = [
    "CompoundTarget",
    "audio_frame_predictions",
    "check_audio_settings",
    "check_selection",
    "clip_predictions",
    "evaluate_model",
    "evaluate_pooled",
    "eval_splits",
    "pool_predictions",
    "write_evaluation",
    "zeroshot_compounds",
]


@dataclass
class CompoundTarget:
    """A dataset with compound labels to score zero-shot, and its class list."""

    dataset: str = "rafdb-compound"
    split: str = "test"
    compounds: str | list[str] = "rafdb11"  # a vocabulary name or the class names in order


def eval_splits(
    manifest: Mapping[str, Any],
    split: str | Sequence[str],
    datasets: Sequence[str] | None = None,
) -> dict[str, list[str]]:
    """``{split: [dataset, ...]}``: every dataset of the federation (or of ``datasets``) under the
    first split of ``split`` it has (a name, or names in order of preference such as
    ``["validation", "test"]`` for sources like RAF-DB that publish no validation split).
    Datasets with none of them are left out (:func:`check_selection` refuses that)."""
    preferences = _preferences(split)
    chosen: dict[str, list[str]] = {}
    for name, entry in manifest["datasets"].items():
        if datasets is not None and name not in datasets:
            continue
        for candidate in preferences:
            if candidate in entry["splits"]:
                chosen.setdefault(candidate, []).append(name)
                break
    return chosen


def _preferences(split: str | Sequence[str]) -> list[str]:
    return [split] if isinstance(split, str) else list(split)


def check_selection(
    federation: Federation, split: str | Sequence[str], datasets: Sequence[str] | None = None
) -> dict[str, list[str]]:
    """:func:`eval_splits`, for a selection a user typed: every dataset named must exist and
    have one of the splits, and something must be chosen.

    Raises:
        holistic.data.federation.SelectionError: an unknown dataset (the message lists the
            federation's datasets), or named datasets (or, with ``datasets=None``, all of them)
            without any of the splits (the message lists the splits each has).
    """
    from holistic.data.federation import SelectionError

    federation.check_datasets(datasets)
    chosen = eval_splits(federation.manifest, split, datasets)
    picked = {name for names in chosen.values() for name in names}
    lacking = [name for name in datasets or () if name not in picked]
    if lacking or not chosen:
        wanted = " or ".join(repr(name) for name in _preferences(split))
        splits = {
            name: sorted(entry["splits"]) for name, entry in federation.manifest["datasets"].items()
        }
        listed = "; ".join(f"{name} has {splits[name]}" for name in lacking or sorted(splits))
        raise SelectionError(f"no {wanted} split to evaluate: {listed}")
    return chosen


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module,
    federation,
    label_space: LabelSpace,
    *,
    split: str | Sequence[str] = "validation",
    datasets: Sequence[str] | None = None,
    image_size: int | None = None,
    batch_size: int = 128,
    window: int | None | str = "spec",
    stride: int | None = None,
    rank: int = 0,
    world_size: int = 1,
    device: torch.device | str = "cpu",
    tolerate_damage: bool = False,
) -> Predictions:
    """This rank's predictions on every sample of ``split`` (gather ``state()`` across ranks);
    with several splits, each dataset on the first it has (:func:`eval_splits`).

    The model's input spec (``model.input_spec``) says how to feed it: image models see every
    sample once, in batches of ``batch_size``; clip models see every run of consecutive frames of
    every video once (:func:`~holistic.data.clips.video_runs`), cut into windows of ``window``
    frames every ``stride`` frames (default: the model's clip length, no overlap; ``None``: each
    run whole, the recurrent state carried over the whole video), with the predictions of
    overlapping windows averaged per frame. Both report per frame, so a frame model and a
    sequence model are scored on the same rows. An image model that takes audio (the input
    spec's ``audio``: AEG-CD-SZ with the audio of its neighbours, a DiLaST on audio with its
    frame's audio image) sees every frame of every video run (:func:`audio_frame_predictions`); a
    clip model that takes audio (A/V-MT-VGG-GRU, DiLaST-SA on audio, AViGaS-Net) sees each
    window's audio with its mask (:func:`clip_predictions`).

    Args:
        image_size: side of the crops fed to the model; default: the model's input spec.
        tolerate_damage: False (default): a shard that holds another number of samples than
            the manifest says, or a sample that does not parse, raises
            :class:`~holistic.data.damage.ShardError`. True: damaged samples are left out,
            logged as warnings and listed in ``predictions.damaged_shards`` (and so in the
            report of :func:`write_evaluation`).
    """
    from holistic.data.damage import DamageLog
    from holistic.data.federation import eval_batches
    from holistic.data.transforms import build_eval_transform

    spec = unwrapped(model).input_spec
    transform = build_eval_transform(image_size or spec.image_size)
    damage = DamageLog(tolerate_damage)
    was_training = model.training
    model.eval()
    predictions = Predictions()
    for split_name, chosen in eval_splits(federation.manifest, split, datasets).items():
        if spec.audio and not spec.is_clip:
            audio_frame_predictions(
                model,
                federation,
                label_space,
                transform,
                predictions,
                split=split_name,
                datasets=chosen,
                batch_size=batch_size,
                rank=rank,
                world_size=world_size,
                device=device,
                damage=damage,
            )
            continue
        if spec.is_clip:
            clip_predictions(
                model,
                federation,
                label_space,
                transform,
                predictions,
                split=split_name,
                datasets=chosen,
                window=spec.clip_length if window == "spec" else window,
                stride=stride,
                rank=rank,
                world_size=world_size,
                device=device,
                damage=damage,
            )
            continue
        for batch in eval_batches(
            federation,
            label_space,
            transform,
            split=split_name,
            datasets=chosen,
            batch_size=batch_size,
            rank=rank,
            world_size=world_size,
            damage=damage,
        ):
            outputs = model(batch["image"].to(device))
            predictions.add(
                {k: v for k, v in batch.items() if not isinstance(v, list)},
                {k: v.float().cpu() for k, v in outputs.items()},
                batch["dataset"],
                batch["video"],
            )
    model.train(was_training)
    predictions.damaged_shards = damage.rows()
    return predictions


@torch.no_grad()
def clip_predictions(
    model: torch.nn.Module,
    federation,
    label_space: LabelSpace,
    transform: Any,
    predictions: Predictions,
    *,
    split: str,
    datasets: Sequence[str] | None,
    window: int | None,
    stride: int | None = None,
    rank: int = 0,
    world_size: int = 1,
    device: torch.device | str = "cpu",
    damage: DamageLog | None = None,
) -> Predictions:
    """Add a clip model's per-frame predictions on every video run of ``split`` to
    ``predictions`` (see :func:`evaluate_model`); logits of overlapping windows are averaged.

    A model that takes audio (one feature in its input spec's ``audio``, e.g. A/V-MT-VGG-GRU's
    ``mel``) gets each window's features as ``audio`` and ``audio_mask``; a frame without audio
    gets zeros and False (the model decides what it reads there) and is counted in
    ``predictions.frames_without_audio``.

    ``damage``: where damaged shards are reported (default: raised). When it tolerates damage,
    a window with a frame that does not decode is left out, and so are the frames no other
    window covers.

    Raises:
        ValueError: a model that takes several audio features or one the shards do not store,
            or whose audio features were made otherwise than those of ``datasets``
            (:func:`check_audio_settings`).
    """
    from holistic.data.clips import check_clip_sources, run_windows, video_runs
    from holistic.data.damage import DamageLog, ShardError

    damage = DamageLog() if damage is None else damage
    spec = unwrapped(model).input_spec
    landmarks = spec.landmarks
    refs = federation.shards(split, None, datasets)
    audio = _audio_feature(model, federation, refs, datasets, damage) if spec.audio else None
    videos = sorted({ref.dataset for ref in refs if ref.frames is None or ref.frames > 0})
    if landmarks and videos:  # a model fed zeros for landmarks is wrong, not slow: fail first
        check_clip_sources(
            federation, 1, split=split, datasets=videos, landmarks=True, damage=damage
        )
    for ref in refs:
        if ref.frames is not None and ref.frames < ref.samples:
            logger.warning(
                "%s (%s): %d of the %d samples of %s are not video frames; a clip model is "
                "not evaluated on them",
                ref.dataset,
                split,
                ref.samples - ref.frames,
                ref.samples,
                ref.url,
            )
    runs = video_runs(
        federation, split=split, datasets=datasets, rank=rank, world_size=world_size, damage=damage
    )
    for run in runs:
        sums: dict[str, np.ndarray] = {}
        counts = np.zeros(len(run))
        heard = np.zeros(len(run), bool)
        for start, stop in run_windows(len(run), window, stride):
            try:
                outputs, present = _window_outputs(
                    model, run[start:stop], label_space, transform, device, audio
                )
            except ShardError as error:
                damage.bad_sample(error)
                continue
            for key, frames in outputs.items():
                sums.setdefault(key, np.zeros((len(run), *frames.shape[1:])))[start:stop] += frames
            counts[start:stop] += 1
            if present is not None:
                heard[start:stop] |= present
        seen = counts > 0  # frames of windows left out as damaged have no prediction
        if not seen.any():
            continue
        if audio is not None:
            predictions.frames_without_audio += int((seen & ~heard).sum())
        labels = label_space.project_arrays(
            [s["record"] for s, ok in zip(run, seen, strict=True) if ok]
        )
        outputs = {key: total[seen] / counts[seen, None] for key, total in sums.items()}
        record = run[0]["record"]
        n = int(seen.sum())
        predictions.add(labels, outputs, [record["dataset"]] * n, [record.get("video", "")] * n)
    return predictions


@torch.no_grad()
def audio_frame_predictions(
    model: torch.nn.Module,
    federation,
    label_space: LabelSpace,
    transform: Any,
    predictions: Predictions,
    *,
    split: str,
    datasets: Sequence[str] | None,
    batch_size: int = 128,
    rank: int = 0,
    world_size: int = 1,
    device: torch.device | str = "cpu",
    damage: DamageLog | None = None,
) -> Predictions:
    """Add the predictions of an image model that takes audio on every frame of every video run
    of ``split`` to ``predictions``: each frame with the raw audio features of its neighbours
    (the input spec's ``frames``, e.g. t-1, t, t+1; a run's first and last frames repeat at its
    edges), or, for a model on audio images (``mel_image``: a DiLaST on audio), with its own
    audio image and ``audio_mask``.

    A frame without audio (the loader's ``audio_mask``) counts as the spec's ``fill`` (the
    training mean the model was saved with) in its own and its neighbours' input, or gets zeros
    and False (the model hears silence), and is counted in ``predictions.frames_without_audio``.
    Samples that are not video frames (stills) are not evaluated, so the frame model is scored on
    the rows its sequence models are.

    Raises:
        ValueError: the spec records no ``fill`` (a model saved before training set it), or
            audio images the shards do not store (:func:`_audio_feature`).
    """
    from holistic.data.audio import context_windows
    from holistic.data.clips import clip_arrays, video_runs
    from holistic.data.damage import DamageLog, ShardError
    from holistic.data.stages import batch_images
    from holistic.models.latent._layers import MEL_IMAGE

    damage = DamageLog() if damage is None else damage
    (name, settings), *more = unwrapped(model).input_spec.audio.items()
    images_of_audio = name == MEL_IMAGE
    if more or not (images_of_audio or "fill" in settings):
        raise ValueError(
            f"the model takes audio {dict(unwrapped(model).input_spec.audio)} but records no "
            "single fill for frames without it; evaluate a model saved by its recipe"
        )
    if images_of_audio:  # each frame's own image, with the mask
        refs = federation.shards(split, None, datasets)
        _, shape = _audio_feature(model, federation, refs, datasets, damage)
    else:
        fill, frames = np.asarray(settings["fill"], np.float32), int(settings["frames"])
        check_audio_settings(model, federation, datasets)
    runs = video_runs(
        federation, split=split, datasets=datasets, rank=rank, world_size=world_size, damage=damage
    )
    for run in runs:
        try:
            arrays = clip_arrays(run, label_space, transform)
        except ShardError as error:
            damage.bad_sample(error)
            continue
        if images_of_audio:
            audio, present = _stored_audio(arrays, name, shape, len(run))
            inputs = (audio, present)
        else:
            audio, present = context_windows(
                arrays.get(name), arrays.get("audio_mask"), len(run), fill, frames
            )
            inputs = (audio,)
        predictions.frames_without_audio += int((~present).sum())
        images = batch_images(arrays["image"], normalise=True)
        outputs: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(run), batch_size):
            stop = start + batch_size
            out = model(
                images[start:stop].to(device),
                *(torch.from_numpy(value[start:stop]).to(device) for value in inputs),
            )
            for key, value in out.items():
                outputs.setdefault(key, []).append(value.float().cpu().numpy())
        record = run[0]["record"]
        predictions.add(
            arrays,
            {key: np.concatenate(chunks) for key, chunks in outputs.items()},
            [record["dataset"]] * len(run),
            [record.get("video", "")] * len(run),
        )
    return predictions


def check_audio_settings(
    model: torch.nn.Module, federation, datasets: Sequence[str] | None
) -> None:
    """A model that takes audio must be fed features made as those it was trained on: the
    settings its input spec records for each feature (``input_spec.audio[name]["settings"]``,
    which its recipe sets from the training federation) against those the manifest records for
    ``datasets`` (None: all). A model that records none (saved before training) is not checked.

    Raises:
        ValueError: the features of ``datasets`` were made with other settings (naming both and
            what to do), or with settings that differ among the datasets.
    """
    recorded = [
        entry["settings"]
        for entry in unwrapped(model).input_spec.audio.values()
        if entry.get("settings") is not None
    ]
    made = federation.audio_settings(datasets) if recorded else None
    for settings in recorded:
        if made is not None and made.to_json() != settings:
            raise ValueError(
                f"the model was trained on audio features made with {settings}, but those of "
                f"{list(datasets) if datasets else 'the federation'} were made with "
                f"{made.to_json()}: convert them alike (holistic federate with the model's "
                "audio settings)"
            )


def _audio_feature(
    model: torch.nn.Module,
    federation,
    refs: Sequence[Any],
    datasets: Sequence[str] | None,
    damage: DamageLog,
) -> tuple[str, tuple[int, ...]]:
    """The audio feature a model takes and its per-frame shape (what a frame without audio gets
    zeros of): as the shards ``refs`` store it, or, when none of them has audio, for ``mel`` as
    the audio settings make it (the model's, else those of ``datasets``, else the defaults) and
    for ``mel_image`` as the model reads it (``[size, size]``).

    Raises:
        ValueError: the model takes several audio features, one the shards do not store, or
            one made otherwise than those of ``datasets`` (:func:`check_audio_settings`).
    """
    from holistic.data.audio import AudioSettings, mel_window_columns
    from holistic.data.clips import audio_layout
    from holistic.models.latent._layers import MEL_IMAGE

    audio = unwrapped(model).input_spec.audio
    (name, entry), *more = audio.items()
    if more:
        raise ValueError(
            f"a clip model is evaluated with one audio feature per frame; this one takes "
            f"{sorted(audio)}"
        )
    check_audio_settings(model, federation, datasets)
    heard = [ref for ref in refs if ref.tasks.get("audio")]
    if heard:
        stored = audio_layout(heard, damage)
        if name not in stored:
            setting = f" mel_image_size={entry['size']}" if name == MEL_IMAGE else ""
            raise ValueError(
                f"the model takes the audio feature {name!r}, but the shards of "
                f"{sorted({ref.dataset for ref in heard})} store {sorted(stored)}: convert them "
                f"with the model's audio settings (holistic federate ... --audio-setting{setting})"
            )
        return name, tuple(stored[name][0])
    if name == MEL_IMAGE:  # no frame has audio: zeros of the size the model reads
        return name, (int(entry["size"]), int(entry["size"]))
    if name != "mel":
        raise ValueError(
            f"no shard of {list(datasets) if datasets else 'the federation'} has audio, so the "
            f"shape of the model's {name!r} is unknown; evaluate it on data with audio"
        )
    recorded = entry.get("settings")
    settings = (
        AudioSettings.from_json(recorded, "the model's audio settings")
        if recorded is not None
        else federation.audio_settings(datasets) or AudioSettings()
    )
    columns = mel_window_columns(settings.sample_rate, settings.mel_window_s, settings.mel_hop_s)
    return name, (settings.mel_bands, columns)


def _window_outputs(
    model: torch.nn.Module,
    window: Sequence[dict[str, Any]],
    label_space: LabelSpace,
    transform: Any,
    device: torch.device | str,
    audio: tuple[str, tuple[int, ...]] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """A clip model's per-frame outputs ``{key: [T, ...]}`` on one window of raw frames, and
    ``[T]`` whether each frame had audio (None for a model without audio).

    ``audio``: the audio feature the model takes and its per-frame shape (the zeros a window
    without any audio gets; :func:`_audio_feature`), or None: it takes none."""
    from holistic.data.clips import clip_arrays
    from holistic.data.stages import batch_images

    landmarks = unwrapped(model).input_spec.landmarks
    arrays = clip_arrays(window, label_space, transform, landmarks=landmarks)
    extra = {}
    if landmarks:
        extra["landmarks"] = torch.from_numpy(arrays["landmarks"][None]).to(device)
    present = None
    if audio is not None:  # zeros and False where a frame has no audio
        features, present = _stored_audio(arrays, *audio, len(window))
        extra["audio"] = torch.from_numpy(features[None]).to(device)
        extra["audio_mask"] = torch.from_numpy(present[None]).to(device)
    images = batch_images(arrays["image"][None], normalise=True).to(device)
    outputs = model(images, **extra)
    return {key: value[0].float().cpu().numpy() for key, value in outputs.items()}, present


def _stored_audio(
    arrays: Mapping[str, np.ndarray], name: str, shape: Sequence[int], length: int
) -> tuple[np.ndarray, np.ndarray]:
    """A run's (or window's) stored feature ``name`` as float32 ``[T, *shape]`` and ``[T]``
    whether each frame has audio, from :func:`~holistic.data.clips.clip_arrays`: zeros and
    False where a frame has none (all of them when no frame has any)."""
    present = np.asarray(arrays.get("audio_mask", np.zeros(length, bool)), bool)
    features = arrays.get(name, np.zeros((length, *shape), np.float32))
    return features.astype(np.float32), present


def unwrapped(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside DDP / ``torch.compile`` wrappers (where its contract attributes live)."""
    from accelerate.utils import extract_model_from_parallel

    return extract_model_from_parallel(model, keep_torch_compile=False)


def evaluate_pooled(
    accelerator, model: torch.nn.Module, federation, label_space: LabelSpace, **kwargs: Any
) -> Predictions:
    """:func:`evaluate_model` on this process's share of the split, pooled over every process
    (as ABAW pools a split); ``kwargs``: ``split``, ``datasets``, ``image_size``, ``batch_size``,
    ``window``, ``stride``, ``tolerate_damage``.

    The model runs outside its DDP wrapper: ranks evaluate different numbers of batches (a rank
    may have none), and a wrapped forward would wait for the others to sync buffers.
    """
    predictions = evaluate_model(
        unwrapped(model),
        federation,
        label_space,
        rank=accelerator.process_index,
        world_size=accelerator.num_processes,
        device=accelerator.device,
        **kwargs,
    )
    return pool_predictions(predictions)


def pool_predictions(predictions: Predictions) -> Predictions:
    """Every process's predictions, damaged shards and frames without audio, merged (the same on
    every process); one process: as is."""
    from accelerate.utils import gather_object

    pooled = Predictions()
    shares = gather_object(
        [(predictions.state(), predictions.damaged_shards, predictions.frames_without_audio)]
    )
    for state, damaged, without_audio in shares:
        share = Predictions.from_state(state)
        share.damaged_shards, share.frames_without_audio = damaged, without_audio
        pooled.merge(share)
    return pooled


def write_evaluation(
    out: str | Path,
    predictions: Predictions,
    label_space: LabelSpace,
    *,
    history: Mapping[str, Sequence[tuple[int, float]]] | None = None,
    summary: Mapping[str, Any] | None = None,
    title: str = "Evaluation report",
    extra_sections: Mapping[str, str] | None = None,
    damaged_in_training: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Compute the metrics and write ``metrics.json``, ``plots/`` and ``report.md`` in ``out``
    (with ``extra_sections``, ``{heading: markdown}``, at its end).

    ``metrics.json`` and the report also hold the metrics of trivial predictors on the same
    samples (:func:`~holistic.evaluation.evaluate.trivial_predictions`): the chance levels the
    model's numbers are read against, and the shards found damaged when the evaluation tolerated
    damage (``damaged_shards``: per shard the samples expected and read, the samples left out
    and the problems). ``damaged_in_training``: the shards the training loader skipped
    (``progress.damage.rows()``), listed under ``damaged_shards_in_training``.

    Returns the metrics (``{}`` when nothing was evaluated).
    """
    from holistic.evaluation.plots import plot_metrics
    from holistic.evaluation.tables import metrics_markdown, write_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = compute_metrics(predictions, label_space) if len(predictions) else {}
    document = {**(summary or {}), "metrics": metrics}
    sections = dict(extra_sections or {})
    if predictions.damaged_shards:
        document["damaged_shards"] = predictions.damaged_shards
        sections[DAMAGED_SECTION] = damage_markdown(predictions.damaged_shards, EVALUATION_LOSS)
    if damaged_in_training:
        document["damaged_shards_in_training"] = list(damaged_in_training)
        sections[DAMAGED_IN_TRAINING_SECTION] = damage_markdown(damaged_in_training, TRAINING_LOSS)
    if metrics:
        trivial = compute_metrics(trivial_predictions(predictions), label_space)
        document["trivial"] = trivial
        sections = {
            "Chance levels": "The same samples scored with trivial predictors: valence-arousal "
            "constant at 0, each dataset's most frequent class, every AU present.\n\n"
            + metrics_markdown(trivial, label_space, per_class=False),
            **sections,
        }
    (out / "metrics.json").write_text(json.dumps(to_jsonable(document), indent=1, allow_nan=False))
    va = None
    if len(predictions) and "va" in predictions.tasks:
        mask = predictions["va_mask"].astype(bool)
        if mask.any():  # e.g. a compound fine-tuning split has no VA labels
            va = (predictions["va_pred"][mask], predictions["va"][mask])
    plots = {}
    if metrics or history:
        plots = plot_metrics(
            metrics,
            label_space.expressions,
            out / "plots",
            va=va,
            history=history or None,
            compounds=label_space.compounds,
        )
    write_report(out, metrics, plots, sections, label_space=label_space, title=title)
    return metrics


#: The report's sections listing damaged shards, met in the evaluation and in training.
DAMAGED_SECTION = "Damaged shards (skipped: tolerate_damage)"
DAMAGED_IN_TRAINING_SECTION = "Damaged shards met in training (skipped: tolerate_damage)"
EVALUATION_LOSS = "left out of the metrics above"
TRAINING_LOSS = "never trained on"


def damage_markdown(rows: Sequence[Mapping[str, Any]], lost: str = EVALUATION_LOSS) -> str:
    """A markdown table of damaged shards (rows of :meth:`DamageLog.rows`); ``lost`` says what
    became of their damaged samples."""
    lines = [
        f"These shards did not hold what the manifest says; what was damaged was {lost}. "
        "Run `holistic verify` on the federation and re-convert the datasets named with "
        "`holistic federate`.",
        "",
        "| dataset | split | shard | samples expected | read | samples left out | problems |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        found = "not to the end" if row["found"] is None else row["found"]
        problems = "; ".join(row["problems"]).replace("|", "\\|")
        lines.append(
            f"| {row['dataset']} | {row['split']} | `{row['shard']}` | {row['expected']} | "
            f"{found} | {len(row['bad_samples'])} | {problems} |"
        )
    return "\n".join(lines)


@torch.no_grad()
def zeroshot_compounds(
    model: torch.nn.Module,
    federation,
    *,
    dataset: str,
    split: str,
    compounds: Sequence[str],
    table: str | Path = "compound",
    image_size: int | None = None,
    batch_size: int = 128,
    device: torch.device | str = "cpu",
    tolerate_damage: bool = False,
) -> dict[str, Any]:
    """Eq. 10 zero-shot compound scores of ``model`` on ``dataset``/``split`` (no compound
    label is trained on); see :func:`holistic.evaluation.zeroshot.zeroshot_metrics` for the keys.

    ``model`` must be an image model predicting ``va``, ``expr`` and ``au`` (a
    FaceBehaviorNet); ``table`` names the prototypical-AU table (or a path to one);
    ``image_size`` defaults to the model's input spec. ``tolerate_damage``: as for
    :func:`evaluate_model`; the damaged shards are listed under ``"damaged_shards"``.

    Raises:
        ValueError: the model is not an image model with VA, expression and AU outputs, or
            ``dataset`` has no ``split`` samples in the federation.
    """
    import relatedness
    from holistic.data.damage import DamageLog
    from holistic.data.federation import eval_batches
    from holistic.data.transforms import build_eval_transform
    from holistic.evaluation.zeroshot import predict_compounds, zeroshot_metrics

    missing = {"va", "expr", "au"} - set(model.tasks)
    if missing or model.input_spec.is_clip:
        raise ValueError(
            "zero-shot compound scoring (Eq. 10) needs an image model predicting va, expr and "
            f"au; this one is a {model.input_spec.kind} model predicting {sorted(model.tasks)}"
        )
    compounds = tuple(compounds)
    prototypes = relatedness.load_table(table).compound_prototypes(compounds, model.aus)
    space = LabelSpace(model.expressions, model.aus, compounds)
    damage = DamageLog(tolerate_damage)
    was_training = model.training
    model.eval()
    predictions, targets, masks = [], [], []
    for batch in eval_batches(
        federation,
        space,
        build_eval_transform(image_size or model.input_spec.image_size),
        split=split,
        datasets=[dataset],
        batch_size=batch_size,
        damage=damage,
    ):
        outputs = {k: v.float().cpu() for k, v in model(batch["image"].to(device)).items()}
        predictions.append(
            predict_compounds(
                torch.sigmoid(outputs["au"]).numpy(),
                torch.softmax(outputs["expr"], dim=-1).numpy(),
                outputs["va"][:, 0].numpy(),
                prototypes=prototypes.numpy(),
                compounds=compounds,
                expressions=model.expressions,
            )
        )
        targets.append(batch["compound"].numpy())
        masks.append(batch["compound_mask"].numpy())
    model.train(was_training)
    if not predictions:
        raise ValueError(
            f"{dataset} has no {split} samples in the federation; federate it first "
            "(holistic federate / holistic synth --federate)"
        )
    scores = zeroshot_metrics(
        np.concatenate(predictions), np.concatenate(targets), len(compounds), np.concatenate(masks)
    )
    if len(damage):
        scores["damaged_shards"] = damage.rows()
    return scores
