"""Clip evaluation: every labelled frame of every held-out video once, merged per frame, on the
same rows as a frame model's evaluation."""

import numpy as np
import pytest
import torch
from conftest import tiny_adapter

from holistic.data.federation import Federation
from holistic.data.shards import federate
from holistic.evaluation.run import evaluate_model
from holistic.models import InputSpec
from holistic.schema import LabelSpace


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    """Validation videos a (frames 0-12), b (0-4, 6-9: frame 5 missing); a still image."""
    tmp = tmp_path_factory.mktemp("clipeval")
    records = [
        {"key": f"{video}-{f:02d}", "split": "validation", "video": video, "frame": f,
         "labels": {"va": [f / 20, -f / 20], "expr": "happiness" if f % 2 else "neutral"},
         "image_value": 10 + 15 * f}
        for video, frames in (("a", range(13)), ("b", [*range(5), *range(6, 10)]))
        for f in frames
    ]  # fmt: skip
    stills = [{"key": "still", "split": "validation", "labels": {"va": [0.5, 0.5]}}]
    root = tmp / "src"
    root.mkdir()
    federate(tiny_adapter("vid", records), root, tmp / "out", shard_size=5, size=32,
             progress=False)  # fmt: skip
    federate(tiny_adapter("img", stills), root, tmp / "out", size=32, progress=False)
    return Federation(str(tmp / "out"))


class FrameMean(torch.nn.Module):
    """Valence = the frame's mean pixel; arousal = the running mean of that over the input
    (what a recurrent model that starts at each window's first frame sees); 7 expression
    logits favouring class 1 on bright frames."""

    def __init__(self, kind="clip"):
        super().__init__()
        self.input_spec = InputSpec(
            kind=kind, image_size=32, clip_length=4 if kind == "clip" else None
        )
        self.tasks = {"va": ("valence", "arousal"), "expr": ("x",) * 7}
        self.calls = []

    def forward(self, x):
        self.calls.append(tuple(x.shape))
        mean = x.mean(dim=(-3, -2, -1))  # [B, T] or [B]
        if mean.ndim == 1:
            running = mean
        else:
            steps = torch.arange(1, mean.shape[1] + 1, dtype=mean.dtype)
            running = mean.cumsum(dim=1) / steps
        expr = torch.zeros(*mean.shape, 7)
        expr[..., 1] = mean
        return {"va": torch.stack([mean, running], dim=-1), "expr": expr}


def _rows(predictions):
    order = np.lexsort((predictions["va"][:, 0], predictions["dataset"]))
    return predictions["va"][order], predictions["va_pred"][order]


def test_every_video_frame_once_on_the_rows_a_frame_model_sees(federation):
    clip = evaluate_model(FrameMean(), federation, LabelSpace(), datasets=["vid"])
    frame = evaluate_model(FrameMean("image"), federation, LabelSpace(), datasets=["vid"])
    assert len(clip) == len(frame) == 13 + 9
    clip_labels, clip_pred = _rows(clip)
    frame_labels, frame_pred = _rows(frame)
    assert np.array_equal(clip_labels, frame_labels)
    # The per-frame output (valence) is the same whichever way the frames were fed.
    assert np.allclose(clip_pred[:, 0], frame_pred[:, 0], atol=1e-6)


def test_windows_strides_and_whole_runs(federation):
    model = FrameMean()
    evaluate_model(model, federation, LabelSpace(), datasets=["vid"])  # window = clip length 4
    # Runs of 13, 5 and 4 frames: 4 windows (the last aligned to the end), 2, 1; a window never
    # crosses the missing frame 5 of video b.
    assert sorted(model.calls) == sorted([(1, 4, 3, 32, 32)] * 4 + [(1, 4, 3, 32, 32)] * 3)
    model.calls.clear()
    whole = evaluate_model(model, federation, LabelSpace(), datasets=["vid"], window=None)
    assert sorted(model.calls) == [(1, 4, 3, 32, 32), (1, 5, 3, 32, 32), (1, 13, 3, 32, 32)]
    # Over a whole run, the running mean at frame t covers frames 0..t of the run.
    video_a = whole["va_pred"][:13]
    assert np.allclose(video_a[:, 1], np.cumsum(video_a[:, 0]) / np.arange(1, 14), atol=1e-6)
    # Overlapping windows (stride 2): each frame's prediction is the mean over its windows.
    strided = evaluate_model(FrameMean(), federation, LabelSpace(), datasets=["vid"], window=4,
                             stride=2)  # fmt: skip
    a = strided["va_pred"][:13, 0]
    frames = whole["va_pred"][:13, 0]
    running = {s: np.cumsum(frames[s : s + 4]) / np.arange(1, 5) for s in (0, 2, 4, 6, 8)}
    running[9] = np.cumsum(frames[9:13]) / np.arange(1, 5)
    expected = np.zeros(13)
    counts = np.zeros(13)
    for start, values in running.items():
        expected[start : start + 4] += values
        counts[start : start + 4] += 1
    assert np.allclose(a, frames, atol=1e-6)
    assert np.allclose(strided["va_pred"][:13, 1], expected / counts, atol=1e-6)


def test_stills_are_not_clips_and_the_log_says_so(federation, caplog):
    predictions = evaluate_model(FrameMean(), federation, LabelSpace())
    assert set(predictions["dataset"]) == {"vid"}  # the still image belongs to no video run
    assert "img (validation): 1 of the 1 samples" in caplog.text


def test_a_landmark_model_is_refused_on_videos_without_landmarks(federation):
    from holistic.data.clips import ClipSourceError

    model = FrameMean()
    model.input_spec = InputSpec(kind="clip", image_size=32, clip_length=4, landmarks=True)
    with pytest.raises(ClipSourceError, match=r"68 landmarks .* \['vid'\]"):
        evaluate_model(model, federation, LabelSpace())
