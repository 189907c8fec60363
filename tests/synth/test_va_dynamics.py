"""VA dynamics: the temporal structure a single frame cannot see, and its control.

Every statistic here is computed from the labels alone (AU intensities, expressions, VA), the
way a model would meet them, never from the generator's internals.
"""

from dataclasses import replace

import numpy as np
import pytest

from holistic.synth.labels import AU_OCCURRENCE, LABEL_AUS, LabelModel
from holistic.synth.video import (
    CONTROL_DYNAMICS,
    DEFAULT_DYNAMICS,
    OFFSET_S,
    ONSET_S,
    TEMPORAL_DYNAMICS,
    VA_TIME_CONSTANT_S,
    Dynamics,
    _low_pass,
    sample_video,
)

FPS = 30.0
FRAMES = 5400  # three minutes, about 45 expression segments
SEED = 4
LAG_ONLY = replace(TEMPORAL_DYNAMICS, va_time_constant_s=0.0, motion_gain=0.0)
MOTION_ONLY = replace(
    CONTROL_DYNAMICS,
    motion_gain=TEMPORAL_DYNAMICS.motion_gain,
    motion_time_constant_s=TEMPORAL_DYNAMICS.motion_time_constant_s,
)


def _arrays(dynamics: Dynamics, seed: int = SEED, frames: int = FRAMES):
    labels, poses = sample_video(
        LabelModel(), np.random.default_rng(seed), frames, FPS, dynamics=dynamics
    )
    intensity = np.array([[f.au_intensity[au] for au in LABEL_AUS] for f in labels])
    va = np.array([f.va for f in labels])
    names = [f.expression for f in labels]
    return intensity, va, names, poses


@pytest.fixture(scope="module")
def videos():
    """One video under each dynamics, from one seed: the same faces, different VA."""
    return {
        name: _arrays(dynamics)
        for name, dynamics in (
            ("temporal", TEMPORAL_DYNAMICS),
            ("control", CONTROL_DYNAMICS),
            ("lag_only", LAG_ONLY),
            ("motion_only", MOTION_ONLY),
        )
    }


def test_dynamics_change_only_va(videos):
    intensity, va, names, poses = videos["temporal"]
    for other in ("control", "lag_only", "motion_only"):
        other_intensity, other_va, other_names, other_poses = videos[other]
        np.testing.assert_array_equal(other_intensity, intensity)
        assert other_names == names and other_poses == poses
        assert np.abs(other_va - va).max() > 0.3, other
    # and the generator is left in the same state: later draws do not depend on the dynamics
    generators = [np.random.default_rng(1), np.random.default_rng(1)]
    for rng, dynamics in zip(generators, (DEFAULT_DYNAMICS, TEMPORAL_DYNAMICS), strict=True):
        sample_video(LabelModel(), rng, 300, FPS, dynamics=dynamics)
    assert generators[0].random() == generators[1].random()


def test_default_dynamics_are_the_segment_drive_smoothed_over_0_4_s():
    """The presets tiny/demo/full keep the world's original VA: the segment drive through a
    0.4 s low-pass, exactly."""
    raw = _arrays(Dynamics(va_time_constant_s=0.0), seed=5, frames=600)
    default = _arrays(DEFAULT_DYNAMICS, seed=5, frames=600)
    np.testing.assert_array_equal(default[0], raw[0])
    expected = np.clip(_low_pass(raw[1], FPS, VA_TIME_CONSTANT_S), -1.0, 1.0)
    np.testing.assert_array_equal(default[1], expected)
    assert np.abs(default[1] - raw[1]).max() > 0.05  # the smoothing does something


def _peak_lag(x: np.ndarray, y: np.ndarray, max_lag: int = 120) -> int:
    """The lag k >= 0 (frames) at which y(t + k) correlates best with x(t)."""
    x, y = x - x.mean(), y - y.mean()
    return int(np.argmax([np.dot(x[: len(x) - k], y[k:]) for k in range(max_lag)]))


def test_valence_trails_the_face_by_the_lag(videos):
    """(a) The cross-correlation of the AU envelope (sum of intensities) with |valence| peaks at
    the configured lag (plus the smoothing's delay); in the control at 0."""
    lag = TEMPORAL_DYNAMICS.va_lag_s
    envelope = videos["temporal"][0].sum(axis=1)
    peaks = {name: _peak_lag(envelope, np.abs(videos[name][1][:, 0])) / FPS for name in videos}
    assert abs(peaks["lag_only"] - lag) <= 1 / FPS
    assert lag <= peaks["temporal"] <= lag + TEMPORAL_DYNAMICS.va_time_constant_s
    assert peaks["control"] == 0.0 and peaks["motion_only"] == 0.0


def test_faces_without_aus_carry_va_only_under_the_temporal_dynamics(videos):
    """(b) Frames whose face shows no AU are ambiguous for a frame model under the temporal
    dynamics (VA far from 0 after an offset), and carry VA 0 in the control."""
    intensity, va, names, _ = videos["temporal"]
    no_au = intensity.max(axis=1) < AU_OCCURRENCE
    at_rest = intensity.max(axis=1) == 0
    assert 0.25 < no_au.mean() < 0.6  # neutral stretches and the ends of the ramps
    strong = np.abs(va).max(axis=1) > 0.25
    assert strong[no_au].mean() > 0.3
    assert (np.abs(va[at_rest, 0]) > 0.2).mean() > 0.3
    control_va = videos["control"][1]
    assert np.abs(control_va[at_rest]).max() < 1e-12
    assert (np.abs(control_va[no_au]).max(axis=1) > 0.25).mean() < 0.01
    # at onset the expression is on the face while valence has not risen yet
    shown = np.array([name != "neutral" for name in names])
    assert (np.abs(va[shown, 0]) < 0.05).mean() > 0.15
    assert (np.abs(control_va[shown, 0]) < 0.05).mean() < 0.08


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each maximal run of True that neither starts nor stops the clip."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(int), 0]))
    return [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if a > 0 and b < len(mask)]


def _speed_and_residual(intensity: np.ndarray, arousal: np.ndarray):
    """Per segment (a run of frames with some AU > 0), the arousal left after the best linear
    fit on the segment's current AU envelope (mean over its AUs of intensity / apex), and the
    face's speed sum_a |d intensity_a / dt| (7-frame mean)."""
    speed = np.r_[0.0, np.abs(np.diff(intensity, axis=0)).sum(axis=1) * FPS]
    speed = np.convolve(speed, np.ones(7) / 7, mode="same")
    residuals, speeds = [], []
    for start, stop in _runs(intensity.max(axis=1) > 0):
        aus = intensity[start:stop]
        on = aus.max(axis=0) > 0
        envelope = (aus[:, on] / aus[:, on].max(axis=0)).mean(axis=1, keepdims=True)
        fit = np.linalg.lstsq(envelope, arousal[start:stop], rcond=None)[0]
        residuals.append(arousal[start:stop] - envelope @ fit)
        speeds.append(speed[start:stop])
    return np.concatenate(speeds), np.concatenate(residuals)


def test_arousal_carries_the_speed_of_the_face(videos):
    """(c) Arousal correlates with the face's speed beyond what a per-segment linear function of
    the current AUs explains; in the control that function explains arousal exactly."""
    intensity = videos["temporal"][0]
    assert len(_runs(intensity.max(axis=1) > 0)) >= 30
    correlation = {}
    for name in ("temporal", "motion_only", "lag_only"):
        speed, residual = _speed_and_residual(intensity, videos[name][1][:, 1])
        correlation[name] = np.corrcoef(speed, residual)[0, 1]
    assert correlation["motion_only"] > 0.6
    assert correlation["temporal"] > 0.4
    assert correlation["temporal"] > correlation["lag_only"] + 0.15  # the motion term, not the lag
    _, residual = _speed_and_residual(intensity, videos["control"][1][:, 1])
    assert np.abs(residual).max() < 1e-9


def test_va_stays_in_range_and_continuous(videos):
    for name, (_, va, _, _) in videos.items():
        assert np.abs(va).max() <= 1.0, name
    # the motion term only raises arousal, by up to about half a unit at the fastest onsets
    raised = videos["motion_only"][1][:, 1] - videos["control"][1][:, 1]
    assert raised.min() >= 0 and 0.3 < raised.max() < 1.0
    np.testing.assert_array_equal(videos["motion_only"][1][:, 0], videos["control"][1][:, 0])
    assert np.abs(np.diff(videos["temporal"][1], axis=0)).max() < 0.15  # low-passed: no jumps
    # the control moves with the AU ramps: |target| <= 1 times the steepest smoothstep step
    steepest = 1.5 / (min(ONSET_S[0], OFFSET_S[0]) * FPS)
    assert np.abs(np.diff(videos["control"][1], axis=0)).max() <= steepest + 1e-12


def test_lag_longer_than_the_clip():
    intensity, va, _, _ = _arrays(replace(LAG_ONLY, va_lag_s=10.0), frames=60)
    assert intensity.max() > 0 and np.abs(va).max() == 0


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("va_drive", "face", "va_drive must be one of"),
        ("va_lag_s", -1.0, "va_lag_s must be a finite number >= 0"),
        ("va_time_constant_s", float("nan"), "va_time_constant_s"),
        ("motion_gain", float("inf"), "motion_gain"),
    ],
)
def test_bad_dynamics(field, value, match):
    with pytest.raises(ValueError, match=match):
        Dynamics(**{field: value})
