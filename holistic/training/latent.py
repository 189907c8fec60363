"""Parts of ``recipes/latent_adversarial.py`` that are not the loop: degraded inputs seeded by
the step (faces, and DiLaST's audio images in 8 bits), per-sample class-balance weights, the
audio context of AEG-CD-SZ (statistics, the t-1..t+1 window, the training mean where a frame has
no audio, folding the normalisation into the saved model), its evaluation with audio, the VA
metrics on each dataset's native scale, and a view of several optimisers for
:func:`~holistic.training.state.resume_state`.

See ``docs/latent_adversarial.md``; the decisions are numbered as
``reference/latent_models.md`` §8.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from holistic.data.degrade import RandomDegradation
from holistic.losses.affect import VABinWeights
from holistic.models.latent._layers import MEL_IMAGE
from holistic.models.latent.composite import AUDIO_FRAMES, AUDIO_NAME
from holistic.training.checks import check_audio_sources  # re-exported: it lived here
from holistic.training.config import ConfigError

__all__ = [
    "AUDIO_FEATURES",
    "AUDIO_FRAMES",
    "AUDIO_IMAGES",
    "AudioStatistics",
    "OptimizerGroups",
    "audio_context",
    "audio_statistics",
    "check_audio_sources",
    "class_weights",
    "degrade_batch",
    "fold_audio_normalisation",
    "init_from_checkpoint",
    "native_va_markdown",
    "native_va_metrics",
    "quantise_images",
    "reset_optimizer",
    "sample_weights",
]

#: The per-frame audio features AEG-CD-SZ reads (25 eGeMAPS low-level descriptors).
AUDIO_FEATURES = AUDIO_NAME
#: The per-frame audio image DiLaST on audio and AViGaS-Net read (``AudioSettings.mel_image_size``).
AUDIO_IMAGES = MEL_IMAGE


# --- degraded inputs -------------------------------------------------------------------------


def degrade_batch(
    images: torch.Tensor,
    kinds: Sequence[str],
    p_clean: float,
    key: Sequence[int],
) -> torch.Tensor:
    """The degraded generator inputs x̃ of a batch of clean uint8 images (decision 12).

    Args:
        images: uint8 ``[B, 3, H, W]`` (or clips ``[B, T, 3, H, W]``: every frame of a clip gets
            the same type and level, noise drawn per frame).
        kinds: degradation types (:data:`holistic.data.degrade.PAPER_DEGRADATIONS`, ...).
        p_clean: probability of leaving a sample clean.
        key: integers the draws are seeded from, e.g. ``(seed, step, rank)``: a batch's
            degradations are a function of its position, so a resumed run draws them again.

    Returns:
        uint8 of the same shape, on the same device.
    """
    if images.dtype != torch.uint8 or images.ndim not in (4, 5):
        raise ValueError(
            f"expected uint8 images [B, 3, H, W] or clips [B, T, 3, H, W], got {images.dtype} "
            f"{tuple(images.shape)}"
        )
    degrade = RandomDegradation(kinds, p_clean, seed=np.random.default_rng([int(k) for k in key]))
    channels_last = images.movedim(-3, -1).cpu().numpy()
    out = np.empty_like(channels_last)
    for index, sample in enumerate(channels_last):
        if images.ndim == 4:
            out[index] = degrade(image=sample)["image"]
        else:
            out[index] = degrade(images=sample)["images"]
    return torch.from_numpy(out).movedim(-1, -3).to(images.device)


def quantise_images(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (any layout) to uint8, rounded: the inverse of
    :func:`holistic.data.transforms.normalise` to within 1/255. What puts a DiLaST's audio
    images (``model.modality_images``) through :func:`degrade_batch` as faces go (decision 12);
    values outside [-1, 1] are clipped."""
    return images.add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)


# --- class-balance weights -------------------------------------------------------------------


def class_weights(federation: Any, datasets: Sequence[str] | None) -> VABinWeights:
    """Inverse-frequency VA bin weights from the manifest's histograms of the **training**
    split of ``datasets`` (decision 5: the current training data only; no pass over it)."""
    histogram = federation.va_histogram("train", datasets)
    return VABinWeights.from_histograms(
        histogram.valence,
        histogram.arousal,
        histogram.bins.low,
        histogram.bins.high,
        histogram.bins.bins_per_unit,
    )


def sample_weights(
    weights: VABinWeights | None, va: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor | None:
    """``[N, 2]`` per-sample weights: valence looked up in valence bins and arousal in arousal
    bins (defect 7.1.3 looks arousal up with the valence bin); rows without a VA label get 0."""
    if weights is None:
        return None
    looked_up = weights(torch.where(mask[:, None], va, torch.zeros_like(va)))
    return looked_up.to(va.device) * mask[:, None].to(va.dtype)


# --- optimisers ------------------------------------------------------------------------------


class OptimizerGroups:
    """Several optimisers seen as one by :func:`~holistic.training.state.resume_state`, which
    keeps the configured hyperparameters of every parameter group across a resume."""

    def __init__(self, optimizers: Sequence[Any]) -> None:
        self.optimizers = list(optimizers)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        # Read anew each time: loading a state replaces the groups' dicts.
        return [group for optimizer in self.optimizers for group in optimizer.param_groups]


def reset_optimizer(optimizer: Any) -> None:
    """Forget the optimiser's moments (a new curriculum stage starts like a new run)."""
    optimizer.state.clear()


# --- audio (AEG-CD-SZ) -----------------------------------------------------------------------


@dataclass(frozen=True)
class AudioStatistics:
    """Per-feature mean and standard deviation of the training audio features (decision 3:
    eGeMAPS comes in openSMILE's raw units: Hz, dB, semitones), and how the features were made
    (``settings``: the manifest's ``AudioSettings`` JSON)."""

    mean: np.ndarray
    std: np.ndarray
    settings: dict | None = None

    def normalise(self, features: torch.Tensor) -> torch.Tensor:
        """``[..., F]`` raw features to zero mean and unit variance."""
        mean = torch.as_tensor(self.mean, dtype=features.dtype, device=features.device)
        std = torch.as_tensor(self.std, dtype=features.dtype, device=features.device)
        return (features - mean) / std

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "settings": self.settings}


def audio_statistics(
    federation: Any, datasets: Sequence[str] | None, split: str = "train", damage: Any = None
) -> AudioStatistics:
    """Mean and SD of every audio feature over the frames of ``split`` that have them.

    Reads the shards' records and ``egemaps.npy`` members (no image is decoded); a feature that
    never varies gets SD 1.
    """
    from holistic.data.damage import DamageLog
    from holistic.data.stages import read_shards, with_records

    damage = DamageLog() if damage is None else damage
    refs = [ref for ref in federation.shards(split, None, datasets) if ref.tasks.get("audio")]
    total, squares, count = None, None, 0
    for raw in with_records(read_shards(sorted(refs, key=lambda r: r.url), damage), damage):
        if AUDIO_FEATURES not in raw["record"].get("audio_features", ()):
            continue
        member = raw.get(f"{AUDIO_FEATURES}.npy")
        if member is None:
            continue
        import io

        values = np.load(io.BytesIO(member), allow_pickle=False).astype(np.float64).reshape(-1)
        total = values if total is None else total + values
        squares = values**2 if squares is None else squares + values**2
        count += 1
    if count == 0:
        raise ConfigError(f"no {split} frame of {datasets or 'the federation'} has audio")
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    std[std < 1e-8] = 1.0
    made = federation.audio_settings(datasets)  # one way of making them, or an error
    settings = None if made is None else made.to_json()
    return AudioStatistics(mean.astype(np.float32), std.astype(np.float32), settings)


def audio_context(
    features: torch.Tensor, mask: torch.Tensor, statistics: AudioStatistics, device: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """The normalised audio input ``[B, 3 F]`` of the middle frames of 3-frame clips, and its
    mask ``[B, 3]``.

    Args:
        features: raw ``[B, 3, F]`` of frames t-1, t, t+1, zero-filled where a frame has no
            audio (the clip loader's ``egemaps`` with ``audio=True``).
        mask: ``[B, 3]``, True where the frame has audio (the loader's ``audio_mask``).
        statistics: the training statistics.

    Returns:
        ``(audio, mask)``: features standardised with ``statistics``, and 0 (the training mean,
        what the saved model is fed for a frame without audio) where the mask is False; the
        mask on ``device``.

    Raises:
        ValueError: shapes other than ``[B, 3, F]`` and ``[B, 3]``.
    """
    frames = (len(features), AUDIO_FRAMES)
    if features.ndim != 3 or tuple(features.shape[:2]) != frames or tuple(mask.shape) != frames:
        raise ValueError(
            f"expected audio [B, {AUDIO_FRAMES}, F] and its mask [B, {AUDIO_FRAMES}], got "
            f"{tuple(features.shape)} and {tuple(mask.shape)}"
        )
    mask = mask.to(device).bool()
    standard = statistics.normalise(features.to(device).float()) * mask[..., None]
    return standard.flatten(1), mask


def fold_audio_normalisation(model: nn.Module, statistics: AudioStatistics) -> nn.Module:
    """A copy of an AEG-CD-SZ whose audio layer takes **raw** features: the normalisation
    ``(x - mean) / std`` of the 3 frames is folded into D's ``Linear`` (``W' = W / std``,
    ``b' = b - W' mean``), and the training mean (:attr:`AudioStatistics.mean`, what a frame
    without audio is fed) becomes its ``audio_fill``, so the saved model needs nothing beside
    it (``holistic evaluate`` feeds it the audio)."""
    folded = copy.deepcopy(model)
    folded.audio_fill = statistics.mean
    folded.audio_settings = statistics.settings
    layer = folded.discriminator.audio
    mean = torch.as_tensor(np.tile(statistics.mean, AUDIO_FRAMES), dtype=layer.weight.dtype)
    std = torch.as_tensor(np.tile(statistics.std, AUDIO_FRAMES), dtype=layer.weight.dtype)
    with torch.no_grad():
        weight = layer.weight / std.to(layer.weight.device)
        layer.bias -= weight @ mean.to(layer.weight.device)
        layer.weight.copy_(weight)
    return folded


# --- VA on each dataset's native scale -------------------------------------------------------


def native_va_metrics(predictions: Any, scales: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """RMSE, Pearson (COR), CCC and ICC (the consistency ICC(3,1): CCC without its mean term,
    the Aspandi papers' "ICC") of valence and arousal per dataset, with predictions and labels
    multiplied by the dataset's native scale (AFEW-VA: 10, its integers in [-10, 10]; others
    1: the canonical [-1, 1]).
    """
    from holistic.metrics.va import ccc, icc, pearson, rmse

    if not len(predictions) or "va_pred" not in predictions:
        return {}
    out: dict[str, dict[str, float]] = {}
    mask = predictions["va_mask"].astype(bool)
    for dataset in predictions.datasets:
        rows = mask & (predictions["dataset"] == dataset)
        if not rows.any():
            continue
        scale = float(scales.get(dataset, 1.0))
        pred, target = predictions["va_pred"][rows] * scale, predictions["va"][rows] * scale
        row: dict[str, float] = {"scale": scale, "n": int(rows.sum())}
        for name, metric in (("rmse", rmse), ("cor", pearson), ("ccc", ccc), ("icc", icc)):
            values = metric(pred, target)
            row[f"{name}_v"], row[f"{name}_a"] = float(values[0]), float(values[1])
        out[dataset] = row
    return out


def native_va_markdown(rows: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    """A markdown table of :func:`native_va_metrics` results, ``{label: {dataset: row}}`` (the
    label: a stage or a model)."""
    lines = [
        "| model | dataset | scale | n | RMSE V | RMSE A | COR V | COR A | CCC V | CCC A | "
        "ICC V | ICC A |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, per_dataset in rows.items():
        for dataset, row in per_dataset.items():
            values = " | ".join(
                f"{row[f'{name}_{d}']:.3f}" for name in ("rmse", "cor", "ccc", "icc") for d in "va"
            )
            lines.append(f"| {label} | {dataset} | ×{row['scale']:g} | {row['n']} | {values} |")
    return "\n".join(lines)


# --- progressive training: start a larger model from a smaller one's weights ----------------


def init_from_checkpoint(model: nn.Module, checkpoint: str | Path) -> dict[str, list[str]]:
    """Start ``model`` from the weights a finished run saved in ``checkpoint`` (its ``model/``
    folder): AEG-CD-SZ from AEG-CD, as the paper trains it (G + D first, then z and audio).

    A weight of the same shape is copied. A convolution that gained input channels (D's first,
    which takes the audio plane as one more channel) gets the saved weights on the old channels
    and zeros on the new ones, so the audio plane starts with no effect. Weights the checkpoint
    lacks (the audio layer) keep their initialisation; z, added after D's 2nd convolution, takes
    effect at once.

    Returns:
        ``{"copied": [...], "extended": [...], "new": [...]}`` parameter names.

    Raises:
        ValueError: a saved weight the model lacks, or one whose shape differs otherwise.
    """
    from safetensors.torch import load_file

    path = Path(checkpoint)
    saved = load_file(path / "model.safetensors" if path.is_dir() else path)
    state = model.state_dict()
    unknown = sorted(set(saved) - set(state))
    if unknown:
        raise ValueError(f"{checkpoint}: weights {unknown[:5]} are not in the model; start from "
                         "a run of the same family (AEG-CD for AEG-CD-SZ)")  # fmt: skip
    report: dict[str, list[str]] = {"copied": [], "extended": [], "new": []}
    with torch.no_grad():
        for name, target in state.items():
            if name not in saved:
                report["new"].append(name)
                continue
            source = saved[name].to(target.dtype)
            if source.shape == target.shape:
                target.copy_(source)
                report["copied"].append(name)
            elif (target.ndim == 4 and source.ndim == 4 and source.shape[0] == target.shape[0]
                  and source.shape[2:] == target.shape[2:] and source.shape[1] < target.shape[1]):  # fmt: skip
                target.zero_()
                target[:, : source.shape[1]] = source
                report["extended"].append(name)
            else:
                raise ValueError(f"{checkpoint}: {name} is {tuple(source.shape)} there and "
                                 f"{tuple(target.shape)} in the model")  # fmt: skip
    return report
