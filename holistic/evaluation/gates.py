"""The AViGaS paper's gate analyses, and any model's valence-arousal under a corrupted modality.

AVi-GaS fuses the face and the audio with a gated multimodal unit whose gate ``ZG`` says, per
frame (and unit), how much the face counts; the paper reads it against thresholds (the frames
where ``ZG < T`` or ``ZG > 1 - T`` for T = 0.25, 0.125, 0.0625 are those where one modality
decides, and it scores them apart; ``reference/latent_models.md`` §5). Here the held-out videos
are run once, frame by frame, optionally with one modality corrupted in known segments
(:class:`~holistic.data.corruption.ModalityCorruption`):

- :func:`gate_analysis`: a per-frame table of an AVi-GaS model's gates (the face's and the
  audio's, each the mean over the fused units), whether the frame was corrupted and had audio,
  and the predicted and true valence-arousal;
- :func:`gate_summary`: per dataset, the mean face gate on intact and on corrupted frames (does
  it move toward the intact modality?), and per threshold the share of decisive frames and the
  CCC / RMSE on them and on the rest;
- :func:`gate_timeline`: the face gate over one video, corrupted segments shaded;
- :func:`corrupted_predictions`: any image or clip model's predictions under the same corruption
  (a face-only, an audio-only, AVi-CaS, AVi-GaS), with each row marked corrupted or intact, for
  :func:`corruption_metrics` (the usual metrics on all, intact and corrupted frames).

The videos are read as clip evaluation reads them (:func:`holistic.evaluation.run.evaluate_model`:
every run of consecutive frames of every video of the split, cut into windows of the model's clip
length, overlapping predictions averaged), the corruption applied to each window after the
evaluation transform, on the frames it names. The corrupted frames are a function of the
corruption, the video and the frame numbers only, so every model sees the same ones.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch

from holistic.evaluation.evaluate import ALL, Predictions, compute_metrics
from holistic.metrics import ccc, rmse
from holistic.schema import LabelSpace

if TYPE_CHECKING:
    import pandas as pd

    from holistic.data.corruption import ModalityCorruption

__all__ = [
    "GATE_COLUMNS",
    "GATE_THRESHOLDS",
    "CorruptedPredictions",
    "GateSummary",
    "corrupted_predictions",
    "corruption_metrics",
    "gate_analysis",
    "gate_summary",
    "gate_timeline",
]

#: The paper's thresholds T: a frame's gate is decisive where ``ZG < T`` or ``ZG > 1 - T``.
GATE_THRESHOLDS: tuple[float, ...] = (0.25, 0.125, 0.0625)
#: The columns of :func:`gate_analysis`'s table, in order.
GATE_COLUMNS: tuple[str, ...] = (
    "dataset",
    "video",
    "frame",
    "corrupted",
    "audio_present",
    "gate_video",
    "gate_audio",
    "valence_pred",
    "arousal_pred",
    "valence",
    "arousal",
)


class CorruptedPredictions(NamedTuple):
    """What :func:`corrupted_predictions` returns.

    Attributes:
        predictions: every evaluated frame, as clip evaluation stores it.
        corrupted: ``[N]`` bool, in the rows' order: True on the frames of corrupted segments.
        gates: with ``gates=True``, :func:`gate_analysis`'s table of the same rows (None
            otherwise).
    """

    predictions: Predictions
    corrupted: np.ndarray
    gates: pd.DataFrame | None = None

    def subset(self, corrupted: bool) -> Predictions:
        """The corrupted (True) or intact (False) frames' predictions (empty when none)."""
        rows = self.corrupted == corrupted
        if not rows.any():
            return Predictions()
        return Predictions.from_state(
            {key: value[rows] for key, value in self.predictions.state().items()}
        )


class GateSummary(NamedTuple):
    """What :func:`gate_summary` returns: two tables, datasets in order of appearance, then
    ``"all"``.

    Attributes:
        gates: one row per dataset (the index): ``frames``, ``corrupted_frames``,
            ``gate_video_intact`` and ``gate_video_corrupted`` (the mean face gate ``ZG`` on
            intact and on corrupted frames; NaN where there are none) and ``gate_shift``
            (corrupted minus intact: negative when the gate moves toward the audio).
        decisive: one row per dataset and threshold (``dataset``, ``threshold``):
            ``decisive`` (the share of frames with ``ZG < T`` or ``ZG > 1 - T``),
            ``video_decides`` (``ZG > 1 - T``), ``audio_decides`` (``ZG < T``),
            ``decisive_frames``, and on the decisive frames and on the rest (suffixes
            ``_decisive``, ``_rest``) ``labelled`` (frames with VA labels), ``ccc_v``,
            ``ccc_a``, ``rmse_v``, ``rmse_a`` (NaN where no frame is labelled).
    """

    gates: pd.DataFrame
    decisive: pd.DataFrame


class _Run(NamedTuple):
    """One video run's frames as a model saw them (averaged over overlapping windows)."""

    dataset: str
    video: str
    records: list[dict[str, Any]]
    outputs: dict[str, np.ndarray]
    gates: np.ndarray | None  # [n, 2]: the face's and the audio's, mean over units
    corrupted: np.ndarray
    heard: np.ndarray | None  # whether a model that takes audio was fed some (None: no audio)


@torch.no_grad()
def gate_analysis(
    model: torch.nn.Module,
    federation,
    label_space: LabelSpace,
    corruption: ModalityCorruption | None = None,
    *,
    split: str | Sequence[str] = "validation",
    datasets: Sequence[str] | None = None,
    image_size: int | None = None,
    window: int | None | str = "spec",
    stride: int | None = None,
    device: torch.device | str = "cpu",
) -> pd.DataFrame:
    """An AVi-GaS model's gates on every frame of every video run of ``split``, once.

    Args:
        model: an :class:`~holistic.models.latent.AViGaSNet` with ``fusion="gate"`` (on
            ``device``).
        federation: the shards, with the audio images the model reads (``mel_image``).
        label_space: the run's vocabularies (for the VA labels).
        corruption: the modality to corrupt and where (None: the clean videos; every frame then
            counts as intact).
        split: a split, or splits in order of preference (as :func:`evaluate_model
            <holistic.evaluation.run.evaluate_model>`'s).
        datasets: the datasets to read (None: every dataset with the split).
        image_size: the face crops' side (default: the model's input spec).
        window, stride: as clip evaluation's: windows of the model's clip length (``"spec"``),
            of ``window`` frames, or each run whole (None: the recurrent state and the attention
            memory carried over the whole video, the paper's inference); overlapping windows'
            gates and predictions are averaged.
        device: where the inputs go.

    Returns:
        A DataFrame with :data:`GATE_COLUMNS`, one row per evaluated frame in reading order:
        ``gate_video`` is the paper's ``ZG`` (the mean over the fused units of a per-unit gate)
        and ``gate_audio = 1 - gate_video`` (both 0 ... 1; video 1 where ``audio_present`` is
        False: the GMU's presence mask); ``valence`` and ``arousal`` are the labels (NaN where
        a frame has none).

    Raises:
        ValueError: a model without gates (not AVi-GaS), or a selection of datasets and splits
            the federation lacks.
    """
    _check_gated(model)
    return corrupted_predictions(
        model,
        federation,
        label_space,
        corruption,
        split=split,
        datasets=datasets,
        image_size=image_size,
        window=window,
        stride=stride,
        device=device,
        gates=True,
    ).gates


@torch.no_grad()
def corrupted_predictions(
    model: torch.nn.Module,
    federation,
    label_space: LabelSpace,
    corruption: ModalityCorruption | None = None,
    *,
    split: str | Sequence[str] = "validation",
    datasets: Sequence[str] | None = None,
    image_size: int | None = None,
    window: int | None | str = "spec",
    stride: int | None = None,
    batch_size: int = 128,
    device: torch.device | str = "cpu",
    gates: bool = False,
) -> CorruptedPredictions:
    """Any model's predictions on every frame of every video run of ``split`` with one modality
    corrupted, each row marked corrupted or intact (score with :func:`corruption_metrics`).

    Clip models are fed as clip evaluation feeds them (``window``, ``stride``: as
    :func:`gate_analysis`'s), with the one per-frame audio feature their input spec names
    (``mel_image`` for AViGaS-Net and the audio DiLaST models, ``mel`` for A/V-MT-VGG-GRU) and
    its ``audio_mask``; image models see the frames of each run in batches of ``batch_size``.
    A model reads only its own modalities: a face-only model is unchanged by an audio
    corruption and an audio-only one by a video corruption, but their rows are marked alike, so
    every model is scored on the same corrupted frames. Stills are not evaluated (they have no
    frame numbers to corrupt). ``predictions.frames_without_audio`` counts the frames a model
    that takes audio was fed none (removed, or never there). With ``gates`` (AVi-GaS only) the
    same pass also gives :func:`gate_analysis`'s table, so a gated model is run once.

    Raises:
        ValueError: an image model that takes the audio of neighbouring frames (AEG-CD-SZ), a
            model that takes several audio features or one the shards lack, ``gates`` for a
            model without them, or a selection of datasets and splits the federation lacks.
    """
    import pandas as pd

    if gates:
        _check_gated(model)
    predictions = Predictions()
    corrupted: list[np.ndarray] = []
    columns: dict[str, list[np.ndarray]] = {name: [] for name in GATE_COLUMNS}
    for run in _runs(
        model,
        federation,
        label_space,
        corruption,
        split=split,
        datasets=datasets,
        image_size=image_size,
        window=window,
        stride=stride,
        batch_size=batch_size,
        device=device,
        gates=gates,
    ):
        n = len(run.records)
        labels = label_space.project_arrays(run.records)
        predictions.add(labels, run.outputs, [run.dataset] * n, [run.video] * n)
        corrupted.append(run.corrupted)
        if run.heard is not None:
            predictions.frames_without_audio += int((~run.heard).sum())
        if gates:
            for name, value in _gate_rows(run, labels).items():
                columns[name].append(value)
    rows = np.concatenate(corrupted) if corrupted else np.zeros(0, bool)
    table = None
    if gates:
        table = pd.DataFrame(
            {name: np.concatenate(parts) if parts else [] for name, parts in columns.items()}
        )
    return CorruptedPredictions(predictions, rows, table)


def _gate_rows(run: _Run, labels: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One run's rows of the gate table (:data:`GATE_COLUMNS`), ``labels`` its projected ones."""
    n = len(run.records)
    true = np.where(labels["va_mask"][:, None], labels["va"], np.nan)
    return {
        "dataset": np.full(n, run.dataset, object),
        "video": np.full(n, run.video, object),
        "frame": np.array([record["frame"] for record in run.records], np.int64),
        "corrupted": run.corrupted,
        "audio_present": run.heard,
        "gate_video": run.gates[:, 0],
        "gate_audio": run.gates[:, 1],
        "valence_pred": run.outputs["va"][:, 0],
        "arousal_pred": run.outputs["va"][:, 1],
        "valence": true[:, 0],
        "arousal": true[:, 1],
    }


def corruption_metrics(
    result: CorruptedPredictions, label_space: LabelSpace
) -> dict[str, dict[str, Any]]:
    """:func:`~holistic.evaluation.evaluate.compute_metrics` on ``"all"`` the frames, the
    ``"intact"`` ones and the ``"corrupted"`` ones (``{}`` for a group without frames)."""
    groups = {
        "all": result.predictions,
        "intact": result.subset(False),
        "corrupted": result.subset(True),
    }
    return {
        name: compute_metrics(predictions, label_space) if len(predictions) else {}
        for name, predictions in groups.items()
    }


def gate_summary(table: pd.DataFrame, thresholds: Sequence[float] = GATE_THRESHOLDS) -> GateSummary:
    """The paper's gate analyses of a :func:`gate_analysis` table, per dataset and pooled.

    Args:
        table: needs ``dataset``, ``corrupted``, ``gate_video``, ``valence_pred``,
            ``arousal_pred``, ``valence`` and ``arousal`` (labels NaN where missing).
        thresholds: the T values, each in (0, 0.5].

    Raises:
        ValueError: missing columns, an empty table, gates outside [0, 1], or a threshold
            outside (0, 0.5].
    """
    import pandas as pd

    needed = ["dataset", "corrupted", "gate_video", "valence_pred", "arousal_pred", "valence",
              "arousal"]  # fmt: skip
    missing = [name for name in needed if name not in table.columns]
    if missing:
        raise ValueError(f"gate_summary: the table lacks the column(s) {missing}")
    if table.empty:
        raise ValueError("gate_summary: the table has no frames")
    bad = [t for t in thresholds if not 0 < float(t) <= 0.5]
    if bad or not len(thresholds):
        raise ValueError(f"gate_summary: thresholds must lie in (0, 0.5], got {list(thresholds)}")
    gate = table["gate_video"].to_numpy(np.float64)
    if not np.isfinite(gate).all() or gate.min() < 0 or gate.max() > 1:
        raise ValueError("gate_summary: gate_video must be finite and in [0, 1]")
    names = table["dataset"].astype(str).to_numpy()
    corrupted = table["corrupted"].to_numpy(bool)
    pred = table[["valence_pred", "arousal_pred"]].to_numpy(np.float64)
    true = table[["valence", "arousal"]].to_numpy(np.float64)
    groups = [(name, names == name) for name in dict.fromkeys(names)]
    groups.append((ALL, np.ones(len(table), bool)))
    gates, decisive = [], []
    for dataset, rows in groups:
        intact = _mean(gate[rows & ~corrupted])
        hit = _mean(gate[rows & corrupted])
        gates.append(
            {
                "dataset": dataset,
                "frames": int(rows.sum()),
                "corrupted_frames": int((rows & corrupted).sum()),
                "gate_video_intact": intact,
                "gate_video_corrupted": hit,
                "gate_shift": hit - intact,
            }
        )
        for threshold in thresholds:
            video, audio = gate > 1 - threshold, gate < threshold
            decides = rows & (video | audio)
            row = {
                "dataset": dataset,
                "threshold": float(threshold),
                "decisive": float(decides.sum() / rows.sum()),
                "video_decides": float((rows & video).sum() / rows.sum()),
                "audio_decides": float((rows & audio).sum() / rows.sum()),
                "decisive_frames": int(decides.sum()),
            }
            for suffix, chosen in (("decisive", decides), ("rest", rows & ~decides)):
                row.update(_va_scores(pred[chosen], true[chosen], suffix))
            decisive.append(row)
    return GateSummary(pd.DataFrame(gates).set_index("dataset"), pd.DataFrame(decisive))


def gate_timeline(
    table: pd.DataFrame,
    path: str | os.PathLike,
    *,
    video: str | None = None,
    dataset: str | None = None,
    thresholds: Sequence[float] = GATE_THRESHOLDS,
    title: str | None = None,
) -> Path:
    """The face gate ``ZG`` of one video over its frames, with the corrupted frames shaded
    and the thresholds' bands ``1 - T`` and ``T`` dotted; frames without audio are marked.

    Args:
        table: a :func:`gate_analysis` table.
        path: the PNG to write.
        video, dataset: which video (default: the table's first; ``dataset`` only where two
            datasets name a video alike).
        thresholds: the T values drawn.
        title: the figure title (default: the dataset and video).

    Raises:
        ValueError: the table lacks the columns, or has no frame of that video.
    """
    from holistic.evaluation.plots import _save

    return _save(_timeline_figure(table, video, dataset, thresholds, title), path)


def _timeline_figure(
    table: pd.DataFrame,
    video: str | None,
    dataset: str | None,
    thresholds: Sequence[float],
    title: str | None,
) -> Any:
    """The figure of :func:`gate_timeline`; its shaded spans are ``ax.patches``."""
    from holistic.evaluation.plots import _pyplot

    missing = [c for c in ("dataset", "video", "frame", "corrupted", "gate_video")
               if c not in table.columns]  # fmt: skip
    if missing:
        raise ValueError(f"gate_timeline: the table lacks the column(s) {missing}")
    if table.empty:
        raise ValueError("gate_timeline: the table has no frames")
    first = table.iloc[0]
    video = str(first["video"]) if video is None else str(video)
    rows = table["video"].astype(str) == video
    if dataset is not None:
        rows &= table["dataset"].astype(str) == str(dataset)
    if not rows.any():
        raise ValueError(
            f"gate_timeline: no frame of video {video!r}"
            f"{'' if dataset is None else f' of {dataset}'}; the table has "
            f"{sorted(table['video'].astype(str).unique())[:10]}"
        )
    part = table[rows].sort_values("frame")
    frames = part["frame"].to_numpy(np.float64)
    gate = part["gate_video"].to_numpy(np.float64)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.0, 2.6))
    for start, stop in _spans(part["frame"].to_numpy(), part["corrupted"].to_numpy(bool)):
        ax.axvspan(start - 0.5, stop + 0.5, color="tab:red", alpha=0.15, lw=0)
    ax.plot(frames, gate, color="tab:blue", lw=1.0, label="face gate ZG")
    if "audio_present" in part.columns:
        silent = ~part["audio_present"].to_numpy(bool)
        ax.plot(frames[silent], gate[silent], "x", color="grey", ms=3, label="no audio fed")
    for threshold in thresholds:
        for level in (threshold, 1 - threshold):
            ax.axhline(level, color="grey", lw=0.5, ls=":")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("frame")
    ax.set_ylabel("face gate (audio: 1 - ZG)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=7, frameon=False)
    name = str(part["dataset"].iloc[0])
    ax.set_title(title or f"{name} / {video} (corrupted frames shaded)", fontsize=9)
    return fig


def _spans(frames: np.ndarray, corrupted: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` frame numbers of each stretch of consecutive corrupted frames."""
    spans: list[tuple[int, int]] = []
    for frame, hit in zip(frames.tolist(), corrupted.tolist(), strict=True):
        if not hit:
            continue
        if spans and spans[-1][1] == frame - 1:
            spans[-1] = (spans[-1][0], frame)
        else:
            spans.append((frame, frame))
    return spans


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def _va_scores(pred: np.ndarray, true: np.ndarray, suffix: str) -> dict[str, float]:
    labelled = ~np.isnan(true).any(axis=1)
    out: dict[str, float] = {f"labelled_{suffix}": int(labelled.sum())}
    if labelled.any():
        c, e = ccc(pred[labelled], true[labelled]), rmse(pred[labelled], true[labelled])
    else:
        c = e = np.full(2, np.nan)
    for i, axis in enumerate(("v", "a")):
        out[f"ccc_{axis}_{suffix}"] = float(c[i])
        out[f"rmse_{axis}_{suffix}"] = float(e[i])
    return out


def _check_gated(model: torch.nn.Module) -> None:
    from holistic.evaluation.run import unwrapped

    inner = unwrapped(model)
    if getattr(inner, "fusion", None) != "gate" or not hasattr(inner, "forward_sequence"):
        raise ValueError(
            "gate_analysis reads the gates of an AVi-GaS model (AViGaSNet with "
            f"fusion='gate'); this {type(inner).__name__}"
            f"{' with fusion=' + repr(inner.fusion) if hasattr(inner, 'fusion') else ''} has "
            "none: use corrupted_predictions for its valence-arousal under a corruption"
        )


def _runs(
    model: torch.nn.Module,
    federation,
    label_space: LabelSpace,
    corruption: ModalityCorruption | None,
    *,
    split: str | Sequence[str],
    datasets: Sequence[str] | None,
    image_size: int | None,
    window: int | None | str,
    stride: int | None,
    device: torch.device | str,
    gates: bool,
    batch_size: int = 128,
) -> Iterator[_Run]:
    """Every video run of the selection through ``model``, windows corrupted, outputs (and
    gates) averaged per frame over the windows that cover it."""
    from holistic.data.clips import check_clip_sources, run_windows, video_runs
    from holistic.data.damage import DamageLog
    from holistic.data.transforms import build_eval_transform
    from holistic.evaluation.run import _audio_feature, check_selection, unwrapped

    spec = unwrapped(model).input_spec
    if not spec.is_clip and any("frames" in entry for entry in spec.audio.values()):
        raise ValueError(
            f"an image model that takes the audio of neighbouring frames ({dict(spec.audio)}) "
            "is not evaluated under a corruption here: evaluate_model feeds it"
        )
    transform = build_eval_transform(image_size or spec.image_size)
    length = batch_size if not spec.is_clip else spec.clip_length if window == "spec" else window
    damage = DamageLog()  # damage is raised
    was_training = model.training
    model.eval()
    try:
        for split_name, chosen in check_selection(federation, split, datasets).items():
            refs = federation.shards(split_name, None, chosen)
            audio = _audio_feature(model, federation, refs, chosen, damage) if spec.audio else None
            if spec.landmarks:  # a model fed zeros for landmarks is wrong: fail first
                check_clip_sources(
                    federation, 1, split=split_name, datasets=chosen, landmarks=True, damage=damage
                )
            for run in video_runs(federation, split=split_name, datasets=chosen, damage=damage):
                windows = run_windows(len(run), length, stride if spec.is_clip else None)
                yield _run(
                    model, run, label_space, transform, device, audio, corruption, gates, windows
                )
    finally:
        model.train(was_training)


def _run(
    model: torch.nn.Module,
    run: list[dict[str, Any]],
    label_space: LabelSpace,
    transform: Any,
    device: torch.device | str,
    audio: tuple[str, tuple[int, ...]] | None,
    corruption: ModalityCorruption | None,
    gates: bool,
    windows: Sequence[tuple[int, int]],
) -> _Run:
    """One run through the model, window by window (:func:`_window`), merged per frame."""
    n = len(run)
    sums: dict[str, np.ndarray] = {}
    counts = np.zeros(n)
    corrupted = np.zeros(n, bool)
    heard = np.zeros(n, bool)
    for start, stop in windows:
        outputs, hit, present = _window(
            model, run[start:stop], label_space, transform, device, audio, corruption, gates
        )
        for key, value in outputs.items():
            sums.setdefault(key, np.zeros((n, *value.shape[1:])))[start:stop] += value
        counts[start:stop] += 1
        corrupted[start:stop] = hit  # a function of the frame: alike in every window
        if present is not None:
            heard[start:stop] = present
    merged = {key: total / counts[:, None] for key, total in sums.items()}  # [n, ...]: 2-D
    record = run[0]["record"]
    return _Run(
        dataset=str(record["dataset"]),
        video=str(record.get("video", "")),
        records=[raw["record"] for raw in run],
        outputs={key: value for key, value in merged.items() if key != "gates"},
        gates=merged.get("gates"),
        corrupted=corrupted,
        heard=heard if audio is not None else None,
    )


def _window(
    model: torch.nn.Module,
    window: Sequence[dict[str, Any]],
    label_space: LabelSpace,
    transform: Any,
    device: torch.device | str,
    audio: tuple[str, tuple[int, ...]] | None,
    corruption: ModalityCorruption | None,
    gates: bool,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray | None]:
    """A window's per-frame outputs ``{key: [T, ...]}`` (with ``gates`` ``[T, 2]``: the
    face's and the audio's gate, mean over units), ``[T]`` corrupted, and ``[T]`` whether the
    model was fed audio (None for a model without audio). As clip evaluation's window, with the
    corruption applied to the decoded and resized arrays."""
    from holistic.data.clips import clip_arrays
    from holistic.data.corruption import corrupt_arrays
    from holistic.data.stages import batch_images
    from holistic.evaluation.run import unwrapped

    inner = unwrapped(model)
    spec = inner.input_spec
    arrays = clip_arrays(window, label_space, transform, landmarks=spec.landmarks)
    n = len(window)
    corrupted = np.zeros(n, bool)
    if corruption is not None:
        record = window[0]["record"]
        name = audio[0] if audio is not None and audio[0] in arrays else None
        arrays, corrupted = corrupt_arrays(
            arrays,
            corruption,
            frames=[raw["record"]["frame"] for raw in window],
            video=str(record.get("video", "")),
            dataset=str(record["dataset"]),
            features=None if name is None or corruption.modality == "video" else [name],
        )

    def batch(values: np.ndarray) -> torch.Tensor:  # clips: one clip [1, T, ...]
        return torch.from_numpy(values[None] if spec.is_clip else values).to(device)

    extra = {}
    if spec.landmarks:
        extra["landmarks"] = batch(arrays["landmarks"])
    present = None
    if audio is not None:  # zeros and False where a frame has no audio
        name, shape = audio
        present = np.asarray(arrays.get("audio_mask", np.zeros(n, bool)), bool)
        features = arrays.get(name, np.zeros((n, *shape), np.float32))
        extra["audio"] = batch(np.ascontiguousarray(features, np.float32))
        extra["audio_mask"] = batch(present)
    images = batch_images(arrays["image"][None] if spec.is_clip else arrays["image"], True)
    images = images.to(device)
    if gates:
        out = inner.forward_sequence(images, None, extra.get("audio"), extra.get("audio_mask"))
        outputs = {"va": out.va, "gates": out.gates.mean(dim=-1)}  # [1, T, 2]
    else:
        outputs = model(images, **extra)
    first = (lambda value: value[0]) if spec.is_clip else (lambda value: value)
    return (
        {key: first(value).float().cpu().numpy() for key, value in outputs.items()},
        corrupted,
        present,
    )
