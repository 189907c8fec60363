"""Video dynamics of the synthetic affect world: expression segments, AU trajectories, head pose.

:func:`sample_video` lays out a clip as neutral stretches alternating with expression segments.
Each segment draws one still target from a :class:`~holistic.synth.labels.LabelModel` (its
expression or compound, apex AU intensities and VA) and plays it out:

- every AU switched on in the target follows an onset-apex-offset trajectory: a smoothstep rise
  (0.25-0.6 s, after a per-AU delay of up to 0.15 s), a plateau at exactly its apex intensity,
  and a smoothstep fall (0.3-0.8 s, starting up to 0.15 s early). Between segments every AU is 0;
- the frame's expression is the segment's while **every** prototypical AU of it is at or above
  ``max(AU_OCCURRENCE, APEX_FRACTION * apex)``; otherwise the frame is neutral. So a labelled
  frame always shows its prototypical AUs occurring, as in the stills;
- valence/arousal follow the segment's target scaled by an envelope, as a :class:`Dynamics`
  says. By default (:data:`DEFAULT_DYNAMICS`) the envelope spans the whole segment and goes
  through exponential smoothing with a time constant of ``VA_TIME_CONSTANT_S`` (affect lags the
  face a little and never jumps). :data:`TEMPORAL_DYNAMICS` gives VA that a single frame cannot
  read: it follows the AU envelope a second late and slowly, and arousal rises with the speed of
  the face; :data:`CONTROL_DYNAMICS` is its control, VA an instantaneous function of the face;
- head pose is an Ornstein-Uhlenbeck random walk per angle, squashed by ``tanh`` into
  :data:`POSE_BOUNDS`: smooth, slow and bounded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from holistic.synth.labels import AU_OCCURRENCE, LABEL_AUS, LabelModel
from holistic.synth.types import FrameLabels, Pose

__all__ = [
    "APEX_FRACTION",
    "CONTROL_DYNAMICS",
    "DEFAULT_DYNAMICS",
    "Dynamics",
    "NEUTRAL_GAP_S",
    "OFFSET_S",
    "ONSET_S",
    "APEX_S",
    "POSE_BOUNDS",
    "TEMPORAL_DYNAMICS",
    "VA_TIME_CONSTANT_S",
    "sample_video",
]

#: Fraction of its apex every prototypical AU must reach for a frame to carry the expression.
APEX_FRACTION: float = 0.5
#: Range of each AU's rise time, seconds.
ONSET_S: tuple[float, float] = (0.25, 0.6)
#: Range of each AU's fall time, seconds.
OFFSET_S: tuple[float, float] = (0.3, 0.8)
#: Range of the apex plateau of a segment, seconds (segments last about 2-4 s in all).
APEX_S: tuple[float, float] = (0.3, 2.3)
#: Range of the neutral stretch before each segment, seconds.
NEUTRAL_GAP_S: tuple[float, float] = (0.4, 2.0)
#: Largest per-AU delay of the rise and advance of the fall, seconds.
_JITTER_S = 0.15
#: Time constant of the exponential smoothing of valence/arousal, seconds.
VA_TIME_CONSTANT_S: float = 0.4
#: Largest |yaw|, |pitch|, |roll| in degrees.
POSE_BOUNDS: tuple[float, float, float] = (15.0, 10.0, 8.0)
_POSE_TIME_CONSTANT_S = 4.0  # mean reversion of the head-pose random walk
_POSE_SMOOTHING_S = 0.5  # low-pass of the walk
_POSE_SPREAD = 0.4  # stationary std of the walk before squashing, as a fraction of the bound
_VA_DRIVES = ("segment", "aus")


@dataclass(frozen=True)
class Dynamics:
    """How valence/arousal follow the face of a video (AUs and expressions never depend on it).

    Per frame, the *drive* is the segment's target VA times an envelope in [0, 1]; the drive is
    delayed, smoothed, arousal gets a motion term, and both are clipped to [-1, 1]::

        va(t) = clip(low_pass(drive(t - va_lag_s), va_time_constant_s)
                     + [0, motion_gain * low_pass(motion(t), motion_time_constant_s)])

    where ``motion(t) = sum_a |d intensity_a / dt|`` is the speed of the face (AU intensity units
    per second, summed over the 20 AUs; a single frame cannot see it).

    Attributes:
        va_drive: the envelope. ``"segment"``: a smoothstep envelope spanning the whole segment
            (onset to the end of the last AU's fall), the world's original dynamics.
            ``"aus"``: the segment's AU envelope, the mean over the AUs switched on in the
            target of each AU's onset-apex-offset envelope, so the drive is 0 exactly when the
            face is at rest (and for a segment whose target switches no AU on).
        va_lag_s: delay of the drive in seconds (>= 0), rounded to whole frames; the drive
            before the first frame is 0 (every clip opens with a neutral stretch).
        va_time_constant_s: time constant of the first-order low-pass of the delayed drive,
            seconds (>= 0; 0 = no smoothing).
        motion_gain: arousal added per unit of smoothed motion (>= 0; 0 = no motion term).
        motion_time_constant_s: time constant of the low-pass of the motion, seconds (>= 0).

    Raises:
        ValueError: an unknown ``va_drive``, a negative or non-finite number.
    """

    va_drive: str = "segment"
    va_lag_s: float = 0.0
    va_time_constant_s: float = VA_TIME_CONSTANT_S
    motion_gain: float = 0.0
    motion_time_constant_s: float = 0.0

    def __post_init__(self) -> None:
        if self.va_drive not in _VA_DRIVES:
            raise ValueError(
                f"Dynamics.va_drive must be one of {_VA_DRIVES}, got {self.va_drive!r}"
            )
        for name in ("va_lag_s", "va_time_constant_s", "motion_gain", "motion_time_constant_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"Dynamics.{name} must be a finite number >= 0, got {value!r}")


#: The world's original dynamics (presets tiny, demo, full): VA follows the segment, 0.4 s late.
DEFAULT_DYNAMICS = Dynamics()
#: VA lags the face: the AU envelope, 1 s late and smoothed over 1 s; arousal also rises with
#: the speed of the face (about +0.3 at a typical onset). Presets ``temporal``.
TEMPORAL_DYNAMICS = Dynamics(
    va_drive="aus",
    va_lag_s=1.0,
    va_time_constant_s=1.0,
    motion_gain=0.06,
    motion_time_constant_s=0.2,
)
#: The control of :data:`TEMPORAL_DYNAMICS`: VA = the segment's target times the current AU
#: envelope, no lag, no smoothing, no motion term. Preset ``temporal-control``.
CONTROL_DYNAMICS = Dynamics(va_drive="aus", va_time_constant_s=0.0)


def sample_video(
    model: LabelModel,
    rng: np.random.Generator,
    num_frames: int,
    fps: float = 30.0,
    *,
    kind: str = "basic",
    compounds: str | tuple[str, ...] = "rafdb11",
    dynamics: Dynamics = DEFAULT_DYNAMICS,
) -> tuple[list[FrameLabels], list[Pose]]:
    """Per-frame labels and head poses of one synthetic video.

    Args:
        model: draws each segment's target (see :meth:`LabelModel.sample_still`; a segment
            whose target is neutral shows only its spontaneous AUs and stays neutral).
        rng: the random generator; the result is a function of its state.
        num_frames: T >= 0.
        fps: frames per second (> 0); 25-30 is typical.
        kind: ``"basic"`` segments carry an expression; ``"compound"`` segments a compound
            (frames outside them are neutral with ``compound`` None).
        compounds: compound vocabulary for ``kind="compound"``.
        dynamics: how valence/arousal follow the face. It draws nothing from ``rng``, so two
            calls that differ only in ``dynamics`` give the same AUs, expressions and poses.

    Returns:
        ``(labels, poses)``, two lists of length T.

    Raises:
        ValueError: negative ``num_frames``, non-positive ``fps``, unknown ``kind``.
    """
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if kind not in ("basic", "compound"):
        raise ValueError(f"kind must be 'basic' or 'compound', got {kind!r}")
    times = np.arange(num_frames, dtype=np.float64) / fps
    intensity = np.zeros((num_frames, len(LABEL_AUS)))
    va_target = np.zeros((num_frames, 2))
    category: list[str | None] = [None] * num_frames
    start = 0.0
    end_time = num_frames / fps
    while start < end_time:
        start += float(rng.uniform(*NEUTRAL_GAP_S))
        target = model.sample_still(rng, kind=kind, compounds=compounds)
        start = _play_segment(
            model, rng, target, start, times, intensity, va_target, category, dynamics.va_drive
        )
    va = _affect(va_target, intensity, fps, dynamics)
    labels = [_frame_labels(kind, category[t], intensity[t], va[t]) for t in range(num_frames)]
    return labels, _sample_poses(rng, num_frames, fps)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _play_segment(
    model: LabelModel,
    rng: np.random.Generator,
    target: FrameLabels,
    start: float,
    times: np.ndarray,
    intensity: np.ndarray,
    va_target: np.ndarray,
    category: list[str | None],
    va_drive: str,
) -> float:
    """Write one segment starting at ``start`` (s) into the arrays; return its end time.

    ``va_target`` gets the segment's target VA times the ``va_drive`` envelope."""
    apex = np.array([target.au_intensity[au] for au in LABEL_AUS])
    n = len(LABEL_AUS)
    delay = rng.uniform(0.0, _JITTER_S, n)
    onset = rng.uniform(*ONSET_S, n)
    advance = rng.uniform(0.0, _JITTER_S, n)
    offset = rng.uniform(*OFFSET_S, n)
    plateau = float(rng.uniform(*APEX_S))
    rise_window = _JITTER_S + ONSET_S[1]  # every AU has risen by then
    fall_start = start + rise_window + plateau  # no AU falls before this
    end = fall_start + _JITTER_S + OFFSET_S[1]
    inside = (times >= start) & (times < end)
    if not inside.any():
        return end
    t = times[inside][:, None]
    rise = _smoothstep((t - start - delay) / onset)
    fall_at = fall_start + _JITTER_S - advance
    fall = 1.0 - _smoothstep((t - fall_at) / offset)
    envelope = np.minimum(rise, fall)  # [F, A]
    intensity[inside] = apex * envelope
    name = target.expression if target.compound is None else target.compound
    if va_drive == "segment":
        drive = np.minimum(
            _smoothstep((t[:, 0] - start) / rise_window),
            1.0 - _smoothstep((t[:, 0] - fall_start) / (end - fall_start)),
        )
    else:  # "aus": what the face shows, 0 on a face at rest
        switched_on = apex > 0
        drive = envelope[:, switched_on].mean(axis=1) if switched_on.any() else np.zeros(len(t))
    va_target[inside] = drive[:, None] * np.asarray(target.va)[None, :]
    prototypical = [LABEL_AUS.index(au) for au in model.prototypical_aus(name)]
    if prototypical:
        needed = np.maximum(AU_OCCURRENCE, APEX_FRACTION * apex[prototypical])
        shown = (intensity[inside][:, prototypical] >= needed).all(axis=1)
        for index, on in zip(np.flatnonzero(inside), shown, strict=True):
            if on:
                category[index] = name
    return end


def _affect(drive: np.ndarray, intensity: np.ndarray, fps: float, dynamics: Dynamics) -> np.ndarray:
    """Per-frame [valence, arousal] from the drive ``[T, 2]`` and the AUs ``[T, A]``."""
    lag = round(dynamics.va_lag_s * fps)
    if lag:
        delayed = np.zeros_like(drive)
        delayed[lag:] = drive[: max(len(drive) - lag, 0)]
        drive = delayed
    if dynamics.va_time_constant_s > 0:
        drive = _low_pass(drive, fps, dynamics.va_time_constant_s)
    if dynamics.motion_gain > 0:
        drive = drive.copy()
        drive[:, 1] += dynamics.motion_gain * _motion(intensity, fps, dynamics)
    return np.clip(drive, -1.0, 1.0)


def _motion(intensity: np.ndarray, fps: float, dynamics: Dynamics) -> np.ndarray:
    """Smoothed speed of the face: sum over AUs of |d intensity / dt| (units per second)."""
    speed = np.zeros(len(intensity))
    speed[1:] = np.abs(np.diff(intensity, axis=0)).sum(axis=1) * fps
    if dynamics.motion_time_constant_s > 0:
        speed = _low_pass(speed, fps, dynamics.motion_time_constant_s)
    return speed


def _low_pass(signal: np.ndarray, fps: float, time_constant_s: float) -> np.ndarray:
    """Exponential smoothing along axis 0 (first-order low-pass), starting at the first value."""
    alpha = 1.0 - math.exp(-1.0 / (fps * time_constant_s))
    out = np.empty_like(signal)
    if len(signal) == 0:
        return out
    state = signal[0]
    for t in range(len(signal)):
        state = state + alpha * (signal[t] - state)
        out[t] = state
    return out


def _frame_labels(
    kind: str, name: str | None, intensity: np.ndarray, va: np.ndarray
) -> FrameLabels:
    aus = {au: float(value) for au, value in zip(LABEL_AUS, intensity, strict=True)}
    pair = (float(va[0]), float(va[1]))
    if kind == "compound" and name is not None:
        return FrameLabels(expression=None, compound=name, au_intensity=aus, va=pair)
    return FrameLabels(expression=name or "neutral", compound=None, au_intensity=aus, va=pair)


def _sample_poses(rng: np.random.Generator, num_frames: int, fps: float) -> list[Pose]:
    """Ornstein-Uhlenbeck walk per angle, low-passed, squashed into the bounds with ``tanh``."""
    bounds = np.asarray(POSE_BOUNDS)
    spread = _POSE_SPREAD * bounds
    decay = math.exp(-1.0 / (fps * _POSE_TIME_CONSTANT_S))
    kick = spread * math.sqrt(1.0 - decay * decay)  # keeps the walk's std at ``spread``
    noise = rng.normal(size=(num_frames, 3))
    state = spread * rng.normal(size=3)
    walk = np.empty((num_frames, 3))
    for t in range(num_frames):
        state = decay * state + kick * noise[t]
        walk[t] = state
    walk = _low_pass(walk, fps, _POSE_SMOOTHING_S)  # no jitter: heads drift, they do not shake
    angles = bounds * np.tanh(walk / bounds)
    return [Pose(yaw=float(y), pitch=float(p), roll=float(r)) for y, p, r in angles]
