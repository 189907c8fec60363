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
- valence/arousal follow the segment's target scaled by the segment envelope, through
  exponential smoothing with a time constant of ``VA_TIME_CONSTANT_S`` (affect lags the face a
  little and never jumps);
- head pose is an Ornstein-Uhlenbeck random walk per angle, squashed by ``tanh`` into
  :data:`POSE_BOUNDS`: smooth, slow and bounded.
"""

from __future__ import annotations

import math

import numpy as np

from holistic.synth.labels import AU_OCCURRENCE, LABEL_AUS, LabelModel
from holistic.synth.types import FrameLabels, Pose

__all__ = [
    "APEX_FRACTION",
    "NEUTRAL_GAP_S",
    "OFFSET_S",
    "ONSET_S",
    "APEX_S",
    "POSE_BOUNDS",
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


def sample_video(
    model: LabelModel,
    rng: np.random.Generator,
    num_frames: int,
    fps: float = 30.0,
    *,
    kind: str = "basic",
    compounds: str | tuple[str, ...] = "rafdb11",
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
        start = _play_segment(model, rng, target, start, times, intensity, va_target, category)
    va = np.clip(_low_pass(va_target, fps, VA_TIME_CONSTANT_S), -1.0, 1.0)
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
) -> float:
    """Write one segment starting at ``start`` (s) into the arrays; return its end time."""
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
    segment_envelope = np.minimum(
        _smoothstep((t[:, 0] - start) / rise_window),
        1.0 - _smoothstep((t[:, 0] - fall_start) / (end - fall_start)),
    )
    va_target[inside] = segment_envelope[:, None] * np.asarray(target.va)[None, :]
    prototypical = [LABEL_AUS.index(au) for au in model.prototypical_aus(name)]
    if prototypical:
        needed = np.maximum(AU_OCCURRENCE, APEX_FRACTION * apex[prototypical])
        shown = (intensity[inside][:, prototypical] >= needed).all(axis=1)
        for index, on in zip(np.flatnonzero(inside), shown, strict=True):
            if on:
                category[index] = name
    return end


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
