"""Video dynamics: smooth AU trajectories that reach their apex, consistent labels, bounded pose."""

import numpy as np
import pytest

from holistic.synth.labels import AU_OCCURRENCE, LABEL_AUS, LabelModel
from holistic.synth.video import (
    APEX_FRACTION,
    NEUTRAL_GAP_S,
    ONSET_S,
    POSE_BOUNDS,
    sample_video,
)

FPS = 30.0
FRAMES = 1800  # one minute


@pytest.fixture(scope="module")
def video():
    model = LabelModel()
    labels, poses = sample_video(model, np.random.default_rng(11), FRAMES, FPS)
    intensity = np.array([[f.au_intensity[au] for au in LABEL_AUS] for f in labels])
    va = np.array([f.va for f in labels])
    pose = np.array([[p.yaw, p.pitch, p.roll] for p in poses])
    return model, labels, intensity, va, pose


def test_lengths_and_bounds(video):
    _, labels, intensity, va, pose = video
    assert len(labels) == FRAMES and len(pose) == FRAMES
    assert intensity.min() >= 0 and intensity.max() <= 1
    assert np.abs(va).max() <= 1
    assert (np.abs(pose) <= np.array(POSE_BOUNDS)).all()
    assert np.abs(pose).max(axis=0).min() > 0.5  # the head does move


def test_trajectories_are_continuous(video):
    _, _, intensity, va, pose = video
    # a smoothstep ramp of the shortest onset rises by at most 1.5 / (onset * fps) per frame
    assert np.abs(np.diff(intensity, axis=0)).max() <= 1.5 / (ONSET_S[0] * FPS) + 1e-9
    assert np.abs(np.diff(va, axis=0)).max() < 0.1
    assert np.abs(np.diff(pose, axis=0)).max() < 1.0  # degrees per frame


def test_expressions_change_and_reach_their_apex(video):
    model, labels, intensity, _, _ = video
    names = [f.expression for f in labels]
    gap = int(NEUTRAL_GAP_S[0] * FPS)  # every clip opens with a neutral stretch
    assert set(names[:gap]) == {"neutral"} and intensity[:gap].max() == 0
    changes = sum(a != b for a, b in zip(names, names[1:], strict=False))
    assert changes >= 10  # about one segment every 2-6 s
    assert len(set(names) - {"neutral"}) >= 3
    # within each labelled run the prototypical AUs hold a plateau (their apex) for frames
    for start, stop, name in _runs(names):
        if name == "neutral":
            continue
        for au in model.prototypical_aus(name):
            track = intensity[start:stop, LABEL_AUS.index(au)]
            apex = track.max()
            assert apex >= AU_OCCURRENCE
            assert (np.isclose(track, apex)).sum() >= 3, (name, au)


def test_labels_are_consistent_with_aus(video):
    model, labels, intensity, _, _ = video
    for frame, row in zip(labels, intensity, strict=True):
        assert frame.compound is None
        if frame.expression == "neutral":
            continue
        for au in model.prototypical_aus(frame.expression):
            assert row[LABEL_AUS.index(au)] >= AU_OCCURRENCE
    # a frame is labelled exactly when every prototypical AU is past the threshold of its run
    names = [f.expression for f in labels]
    for start, stop, name in _runs(names):
        if name == "neutral" or start == 0 or stop == len(names):
            continue
        columns = [LABEL_AUS.index(au) for au in model.prototypical_aus(name)]
        apex = intensity[start:stop, columns].max(axis=0)
        needed = np.maximum(AU_OCCURRENCE, APEX_FRACTION * apex)
        assert (intensity[start:stop, columns] >= needed).all()
        assert not (intensity[start - 1, columns] >= needed).all()
        assert not (intensity[stop, columns] >= needed).all()


def test_va_moves_toward_the_segment_target(video):
    _, labels, _, va, _ = video
    for name, sign in (("happiness", 1), ("sadness", -1), ("anger", -1)):
        frames = [i for i, f in enumerate(labels) if f.expression == name]
        assert frames, name  # all three occur in this seed's minute
        assert sign * va[frames, 0].mean() > 0.15, name


def test_deterministic_for_a_seed():
    model = LabelModel()
    first = sample_video(model, np.random.default_rng(5), 200, 25.0)
    again = sample_video(model, np.random.default_rng(5), 200, 25.0)
    other = sample_video(model, np.random.default_rng(6), 200, 25.0)
    assert first == again
    assert first != other


def test_compound_videos():
    model = LabelModel()
    labels, _ = sample_video(model, np.random.default_rng(2), 600, 25.0, kind="compound")
    compounds = {f.compound for f in labels} - {None}
    assert compounds
    for frame in labels:
        assert (frame.compound is None) != (frame.expression is None)
        assert frame.expression in (None, "neutral")


def test_bad_arguments_are_rejected():
    model = LabelModel()
    rng = np.random.default_rng(0)
    assert sample_video(model, rng, 0) == ([], [])
    with pytest.raises(ValueError, match="num_frames"):
        sample_video(model, rng, -1)
    with pytest.raises(ValueError, match="fps"):
        sample_video(model, rng, 10, fps=0.0)
    with pytest.raises(ValueError, match="kind"):
        sample_video(model, rng, 10, kind="other")


def _runs(names):
    """(start, stop, name) of each maximal run of equal names."""
    runs, start = [], 0
    for i in range(1, len(names) + 1):
        if i == len(names) or names[i] != names[start]:
            runs.append((start, i, names[start]))
            start = i
    return runs


def test_runs_helper():
    assert _runs(["a", "a", "b"]) == [(0, 2, "a"), (2, 3, "b")]
