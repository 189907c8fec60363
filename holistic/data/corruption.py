"""Corrupt one modality in chosen segments of a video: the evaluation setting of the AViGaS
paper's gate analyses (``reference/latent_models.md`` §5), where the face or the audio is removed
or degraded in known frames and one asks how a fusion model's gate, and every model's accuracy,
respond.

A :class:`ModalityCorruption` says three things:

- **which modality**: ``"video"`` (the face crops) or ``"audio"`` (the per-frame audio features);
- **how** (``kind``):

  ==========  =====================================================  ==========================
  kind        video (``image`` [T, H, W, 3])                         audio (``mel``,
                                                                     ``mel_image``, in [-1, 1])
  ==========  =====================================================  ==========================
  remove      a blank mid-grey frame (128; 0.5 for float images)     ``audio_mask`` False and
                                                                     the features zeroed, as a
                                                                     frame without audio
  noise       additive N(0, strength²) on the [0, 1] scale,          additive N(0, strength²),
              clipped                                                clipped to [-1, 1]
  silence     --                                                     every value -1 (the image
                                                                     of a silent time), the
                                                                     mask kept True
  blur, ...   the degradations of :mod:`holistic.data.degrade`       --
              (``downsample``, ``blur``, ``colour``, ``grayscale``,
              ``occlusion``) at ``level`` 0, 1 or 2
  ==========  =====================================================  ==========================

  ``remove`` on audio is what a model's presence mask sees (AVi-GaS's GMU then gives the face
  all the weight by construction); ``noise`` and ``silence`` keep the mask True, so a model has to
  notice from the features themselves. Frames that had no audio stay as they were.
- **where**: the frames of a video are cut into segments of ``segment`` seconds (at ``fps``) or
  frames, counted from the video's frame 0 (the frame numbers the records store), and
  ``pattern`` picks segments: ``"alternate"`` (segments 1, 3, 5, ...: every other one, starting
  intact), ``"random"`` (each segment independently with probability ``fraction``) or ``"all"``.

Everything is a function of the corruption's ``seed``, the dataset and video names and the frame
numbers (never of a global random state, nor of how a run is cut into windows), so every model
evaluated with one corruption sees the same corrupted frames, and a frame covered by two
overlapping windows is corrupted alike in both.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from holistic.data.degrade import DEGRADATION_LEVELS, degrade

__all__ = [
    "AUDIO_CORRUPTIONS",
    "CORRUPTION_MODALITIES",
    "CORRUPTION_PATTERNS",
    "SPECTROGRAM_FEATURES",
    "VIDEO_CORRUPTIONS",
    "ModalityCorruption",
    "corrupt_arrays",
    "parse_corruption",
]

#: The modalities one can corrupt.
CORRUPTION_MODALITIES: tuple[str, ...] = ("video", "audio")
#: The ways to corrupt the face crops (``remove``, ``noise``, then :mod:`~holistic.data.degrade`'s
#: types other than its own fixed-level noise).
VIDEO_CORRUPTIONS: tuple[str, ...] = (
    "remove",
    "noise",
    *(kind for kind in DEGRADATION_LEVELS if kind != "noise"),
)
#: The ways to corrupt the audio.
AUDIO_CORRUPTIONS: tuple[str, ...] = ("remove", "noise", "silence")
#: How segments are picked.
CORRUPTION_PATTERNS: tuple[str, ...] = ("alternate", "random", "all")
#: The stored audio features in [-1, 1] (log-mel windows and the AViGaS audio image): what
#: ``noise`` and ``silence`` change. eGeMAPS is in openSMILE's raw units and can only be removed.
SPECTROGRAM_FEATURES: tuple[str, ...] = ("mel", "mel_image")
#: Every audio feature a shard may store (:func:`holistic.data.audio.frame_audio_features`).
_AUDIO_FEATURES = ("mel", "mel_image", "egemaps")
_UNITS = ("s", "frames")
_GREY = 128  # the blank face of ``remove`` (0.5 for float images)
_SILENCE = -1.0  # a spectrogram value of silence (top_db below the peak)
# Salts that keep the segment draws and the noise of each modality apart.
_SEGMENT_SALT, _NOISE_SALT = 0, {"video": 1, "audio": 2}


@dataclasses.dataclass(frozen=True)
class ModalityCorruption:
    """Which modality to corrupt, how, and in which segments of each video (module docstring).

    Plain values throughout, so it reads from YAML (:meth:`from_json`) and from ``key=value``
    pairs (:func:`parse_corruption`).

    Attributes:
        modality: ``"video"`` or ``"audio"``.
        kind: one of :data:`VIDEO_CORRUPTIONS` or :data:`AUDIO_CORRUPTIONS`.
        strength: ``noise`` only: the noise's standard deviation, on the [0, 1] pixel scale
            (video) or the features' [-1, 1] scale (audio); must be 0 for other kinds.
        level: a :mod:`~holistic.data.degrade` type's level (0, 1 or 2; 0 for ``grayscale``
            and ``occlusion``); must be 0 for other kinds.
        segment: segment length, in ``unit``s.
        unit: ``"s"`` (seconds, at ``fps``) or ``"frames"`` (a whole number).
        fps: frames per second of the videos, for ``unit="s"`` (the shards do not store it).
        pattern: ``"alternate"``, ``"random"`` or ``"all"``.
        fraction: ``"random"`` only: each segment's probability of being corrupted.
        seed: a non-negative integer; with the dataset and video names it draws the ``random``
            segments and the noise.

    Raises:
        ValueError: an unknown modality, kind, unit or pattern, or a number out of range (each
            message names the field, what it allows and what it got).
    """

    modality: str
    kind: str = "remove"
    strength: float = 0.0
    level: int = 0
    segment: float = 2.0
    unit: str = "s"
    fps: float = 30.0
    pattern: str = "alternate"
    fraction: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        kinds = {"video": VIDEO_CORRUPTIONS, "audio": AUDIO_CORRUPTIONS}
        if self.modality not in kinds:
            raise ValueError(
                f"corruption: modality must be one of {list(CORRUPTION_MODALITIES)}, got "
                f"{self.modality!r}"
            )
        if self.kind not in kinds[self.modality]:
            raise ValueError(
                f"corruption: kind for {self.modality} must be one of "
                f"{list(kinds[self.modality])}, got {self.kind!r}"
            )
        for name in ("strength", "segment", "fps", "fraction"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value):
                raise ValueError(f"corruption: {name} must be a finite number, got {value!r}")
        for name in ("level", "seed"):
            value = getattr(self, name)
            if not _is_whole(value) or value < 0:
                raise ValueError(f"corruption: {name} must be an integer >= 0, got {value!r}")
        if self.kind == "noise" and not self.strength > 0:
            raise ValueError(
                f"corruption: kind 'noise' needs a strength > 0 (the noise's standard "
                f"deviation), got {self.strength!r}"
            )
        if self.kind != "noise" and self.strength != 0:
            raise ValueError(
                f"corruption: strength is for kind 'noise', got strength={self.strength!r} with "
                f"kind {self.kind!r}"
            )
        levels = _levels(self.modality, self.kind)
        if self.level >= levels:
            raise ValueError(
                f"corruption: level must be from 0 to {levels - 1} for kind {self.kind!r}, got "
                f"{self.level!r}"
            )
        if self.unit not in _UNITS:
            raise ValueError(f"corruption: unit must be one of {list(_UNITS)}, got {self.unit!r}")
        if not self.segment > 0 or (self.unit == "frames" and not float(self.segment).is_integer()):
            raise ValueError(
                f"corruption: segment must be > 0 (a whole number of frames with unit "
                f"'frames'), got {self.segment!r} {self.unit}"
            )
        if not self.fps > 0:
            raise ValueError(f"corruption: fps must be > 0, got {self.fps!r}")
        if self.pattern not in CORRUPTION_PATTERNS:
            raise ValueError(
                f"corruption: pattern must be one of {list(CORRUPTION_PATTERNS)}, got "
                f"{self.pattern!r}"
            )
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"corruption: fraction must lie in [0, 1], got {self.fraction!r}")

    @property
    def segment_frames(self) -> int:
        """Frames per segment (``segment · fps`` rounded, at least 1, for ``unit="s"``)."""
        if self.unit == "frames":
            return int(self.segment)
        return max(1, round(self.segment * self.fps))

    def corrupted(self, frames: Sequence[int], video: str, dataset: str = "") -> np.ndarray:
        """``[T]`` bool: which of a video's frame numbers ``frames`` fall in corrupted segments.

        Raises:
            ValueError: a frame number that is not an integer >= 0.
        """
        numbers = _frame_numbers(frames)
        segments = numbers // self.segment_frames
        if self.pattern == "all":
            return np.ones(len(numbers), bool)
        if self.pattern == "alternate":
            return segments % 2 == 1
        key = _name_key(dataset, video)
        draws = {
            int(s): np.random.default_rng((self.seed, key, int(s), _SEGMENT_SALT)).random()
            for s in np.unique(segments)
        }
        return np.array([draws[int(s)] < self.fraction for s in segments], bool)

    def to_json(self) -> dict[str, Any]:
        """The corruption as JSON (what a results file records next to its numbers)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "corruption") -> ModalityCorruption:
        """A corruption from its JSON or YAML mapping.

        Raises:
            ValueError: unknown keys, a missing modality or bad values, naming ``where``.
        """
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; known: {known}")
        if "modality" not in data:
            raise ValueError(f"{where}: modality is required ({list(CORRUPTION_MODALITIES)})")
        try:
            return cls(**data)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None


def parse_corruption(pairs: Sequence[str]) -> ModalityCorruption:
    """A corruption from ``key=value`` strings, e.g. ``["modality=audio", "kind=noise",
    "strength=0.5", "segment=2"]`` (a command line's), each value read as its field's type.

    Raises:
        ValueError: a pair without ``=``, an unknown key, a value not of its field's type, or a
            bad corruption.
    """
    types = {"strength": float, "level": int, "segment": float, "fps": float,
             "fraction": float, "seed": int}  # fmt: skip
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = str(pair).partition("=")
        key, text = key.strip(), text.strip()
        if not sep or not key:
            raise ValueError(f"corruption: expected key=value, got {pair!r}")
        kind = types.get(key, str)
        try:
            values[key] = kind(text)
        except ValueError:
            raise ValueError(f"corruption: {key}={text!r} is not a {kind.__name__}") from None
    return ModalityCorruption.from_json(values)


def corrupt_arrays(
    arrays: Mapping[str, np.ndarray],
    corruption: ModalityCorruption,
    *,
    frames: Sequence[int],
    video: str,
    dataset: str = "",
    features: Sequence[str] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Corrupt a window of a video as :func:`~holistic.data.clips.clip_arrays` gives it.

    Args:
        arrays: ``image`` ``[T, H, W, 3]`` (uint8, or float in [0, 1]) and, when the window has
            audio, its features ``[T, ...]`` and ``audio_mask`` ``[T]``; other keys (labels,
            landmarks) pass through.
        corruption: what to do where.
        frames: the ``T`` frames' numbers in their video.
        video, dataset: the video's names (they seed the ``random`` segments and the noise).
        features: the audio features to corrupt (None: for ``remove`` every stored one, for
            ``noise`` and ``silence`` those of :data:`SPECTROGRAM_FEATURES` the window holds).

    Returns:
        ``(arrays, corrupted)``: a new dict (the input is not changed) and ``[T]`` bool, True on
        the frames of corrupted segments, whether or not the window holds the modality there
        (an audio corruption of a frame without audio changes nothing, but is counted).

    Raises:
        ValueError: no ``image`` or ``frames`` of another length, images that are not
            ``[T, H, W, 3]``, ``noise`` or ``silence`` asked of a feature not in [-1, 1]
            (``egemaps``), or a named feature the window lacks.
    """
    if "image" not in arrays:
        raise ValueError(f"corrupt_arrays: expected an 'image' array, got {sorted(arrays)}")
    images = np.asarray(arrays["image"])
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"corrupt_arrays: expected images [T, H, W, 3], got shape {tuple(images.shape)}"
        )
    if len(frames) != len(images):
        raise ValueError(
            f"corrupt_arrays: {len(frames)} frame numbers for a window of {len(images)} frames"
        )
    corrupted = corruption.corrupted(frames, video, dataset)
    out = dict(arrays)
    if not corrupted.any():
        return out, corrupted
    numbers = _frame_numbers(frames)
    key = _name_key(dataset, video)

    def rng(frame: int) -> np.random.Generator:
        salt = _NOISE_SALT[corruption.modality]
        return np.random.default_rng((corruption.seed, key, int(frame), salt))

    if corruption.modality == "video":
        out["image"] = _corrupt_images(images, corrupted, numbers, corruption, rng)
        return out, corrupted
    if "audio_mask" not in arrays:  # no frame of the window has audio: nothing to corrupt
        return out, corrupted
    present = np.asarray(arrays["audio_mask"], bool)
    names = _audio_names(arrays, corruption.kind, features)
    hit = corrupted & present
    for name in names:
        values = np.array(arrays[name], copy=True)
        if corruption.kind == "remove":
            values[hit] = 0
        elif corruption.kind == "silence":
            values[hit] = _SILENCE
        else:
            for t in np.flatnonzero(hit):
                noise = rng(numbers[t]).normal(0.0, corruption.strength, values[t].shape)
                values[t] = np.clip(values[t].astype(np.float64) + noise, -1.0, 1.0)
        out[name] = values
    if corruption.kind == "remove":
        out["audio_mask"] = present & ~corrupted
    return out, corrupted


def _corrupt_images(
    images: np.ndarray,
    corrupted: np.ndarray,
    numbers: np.ndarray,
    corruption: ModalityCorruption,
    rng: Any,
) -> np.ndarray:
    """The images with the corrupted frames replaced; uint8 stays uint8, float stays float."""
    floats = images.dtype != np.uint8
    if floats and not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"corrupt_arrays: images must be uint8 or float, got {images.dtype}")
    out = images.copy()
    for t in np.flatnonzero(corrupted):
        if corruption.kind == "remove":
            out[t] = _GREY / 255.0 if floats else _GREY
        elif corruption.kind == "noise":
            noise = rng(numbers[t]).normal(0.0, corruption.strength, images[t].shape)
            if floats:
                out[t] = np.clip(images[t] + noise, 0.0, 1.0)
            else:
                out[t] = np.clip(np.rint(images[t] + noise * 255.0), 0, 255)
        else:
            frame = np.clip(np.rint(images[t] * 255.0), 0, 255) if floats else images[t]
            made = degrade(frame.astype(np.uint8), corruption.kind, corruption.level)
            out[t] = made / 255.0 if floats else made
    return out


def _audio_names(
    arrays: Mapping[str, np.ndarray], kind: str, features: Sequence[str] | None
) -> list[str]:
    if features is None:
        wanted = _AUDIO_FEATURES if kind == "remove" else SPECTROGRAM_FEATURES
        return [name for name in wanted if name in arrays]
    missing = [name for name in features if name not in arrays]
    if missing:
        raise ValueError(
            f"corrupt_arrays: audio feature(s) {missing} asked for, the window holds "
            f"{[name for name in _AUDIO_FEATURES if name in arrays]}"
        )
    raw = [name for name in features if name not in SPECTROGRAM_FEATURES]
    if raw and kind != "remove":
        raise ValueError(
            f"corrupt_arrays: {kind} is defined on the features in [-1, 1] "
            f"{list(SPECTROGRAM_FEATURES)}; {raw} can only be removed (kind='remove')"
        )
    return list(features)


def _levels(modality: str, kind: str) -> int:
    """How many levels a kind has (the :mod:`~holistic.data.degrade` types' own; others 1)."""
    if modality == "video" and kind not in ("remove", "noise"):
        return max(1, len(DEGRADATION_LEVELS[kind]))
    return 1


def _frame_numbers(frames: Sequence[int]) -> np.ndarray:
    numbers = np.asarray(frames)
    if numbers.ndim != 1 or (numbers.size and not np.issubdtype(numbers.dtype, np.integer)):
        raise ValueError(f"frames: expected integer frame numbers [T], got {numbers!r}")
    if numbers.size and numbers.min() < 0:
        raise ValueError(f"frames: frame numbers must be >= 0, got {numbers.min()}")
    return numbers.astype(np.int64)


def _name_key(dataset: str, video: str) -> int:
    """A stable number for a video (``hash()`` changes between processes)."""
    return zlib.crc32(f"{dataset}/{video}".encode())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
