import random

import numpy as np
import pytest
import torch
from conftest import tiny_adapter

from holistic.data.clips import ClipLoader, clip_windows
from holistic.data.federation import Federation
from holistic.data.shards import federate
from holistic.data.transforms import build_train_transform
from holistic.schema import LabelSpace


def _frames(video, frames, labelled=lambda f: True):
    return [
        {
            "key": f"{video}-{f:03d}",
            "split": "train",
            "video": video,
            "frame": f,
            "labels": {"va": [f / 100, -f / 100]} if labelled(f) else {"expr": "neutral"},
        }
        for f in frames
    ]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Video a: frames 1-20; b: 1-9 and 11-30 (frame 10 missing); c: 1-3 (too short)."""
    tmp = tmp_path_factory.mktemp("clips")
    records = (
        _frames("a", range(1, 21))
        + _frames("b", [*range(1, 10), *range(11, 31)], labelled=lambda f: f > 20)
        + _frames("c", range(1, 4))
    )
    root = tmp / "src"
    root.mkdir()
    federate(tiny_adapter("vid", records), root, tmp / "out", shard_size=8, size=32, progress=False)
    return Federation(str(tmp / "out"))


def _raw(record):
    return {"record": record}


def test_windows_never_cross_videos_or_gaps():
    stream = [_raw({"dataset": "d", "video": v, "frame": f}) for v, f in
              [("a", 1), ("a", 2), ("a", 3), ("a", 4), ("a", 5), ("b", 6), ("b", 7), ("b", 9), ("b", 10)]]  # fmt: skip
    windows = list(clip_windows(iter(stream), 2, random.Random(0)))
    spans = [[(s["record"]["video"], s["record"]["frame"]) for s in w] for w in windows]
    for span in spans:
        assert len({video for video, _ in span}) == 1
        assert [f for _, f in span] == list(range(span[0][1], span[0][1] + 2))
    assert [("b", 6), ("b", 7)] in spans and [("b", 9), ("b", 10)] in spans
    assert sum(span[0][0] == "a" for span in spans) == 2  # 5 frames -> 2 windows of 2


def test_start_offset_varies_and_every_long_enough_run_yields_a_window():
    stream = [_raw({"dataset": "d", "video": "a", "frame": f}) for f in range(1, 12)]
    starts = {
        next(clip_windows(iter(stream), 4, random.Random(seed)))[0]["record"]["frame"]
        for seed in range(30)
    }
    assert starts == {1, 2, 3, 4}
    exact = [_raw({"dataset": "d", "video": "a", "frame": f}) for f in range(1, 5)]
    assert len(list(clip_windows(iter(exact), 4, random.Random(1)))) == 1


def test_clip_batches(videos):
    loader = ClipLoader(
        videos, LabelSpace(), length=5, batch_size=3, transform=build_train_transform(32), steps=4
    )
    batches = list(loader)
    assert len(batches) == 4
    batch = batches[0]
    assert batch["image"].shape == (3, 5, 3, 32, 32) and batch["image"].dtype == torch.float32
    assert batch["va"].shape == (3, 5, 2) and batch["va_mask"].shape == (3, 5)
    for b in range(3):
        video, first = batch["video"][b], batch["frames"][b]
        assert video in ("a", "b")
        if video == "b":
            assert first >= 11 or first + 4 <= 9  # no clip jumps over the missing frame 10
        frames = torch.tensor([first + t for t in range(5)], dtype=torch.float32)
        labelled = batch["va_mask"][b]
        expected = frames / 100
        assert torch.allclose(batch["va"][b, :, 0][labelled], expected[labelled])


def test_task_filter_and_reader_split(videos):
    loader = ClipLoader(videos, LabelSpace(), 5, 2, None, task="va", steps=6)
    for batch in loader:
        assert batch["va_mask"].any(dim=1).all()
    seen = []
    for rank in range(2):
        loader = ClipLoader(videos, LabelSpace(), 5, 1, None, rank=rank, world_size=2, steps=3)
        batches = list(loader)
        assert len(batches) == 3
        seen.append({(b["video"][0], b["frames"][0]) for b in batches})
    assert not seen[0] & seen[1]


def test_audio_features_travel_with_the_frames(tmp_path):
    import soundfile

    rate, fps = 16000, 10
    t = np.arange(3 * rate) / rate
    # A 220 Hz tone whose loudness ramps up over 3 s: arousal-like energy rising with time.
    soundfile.write(tmp_path / "v.wav", (0.02 + 0.3 * t / 3) * np.sin(2 * np.pi * 220 * t), rate)
    records = [
        {"key": f"v-{f:03d}", "split": "train", "video": "v", "frame": f,
         "labels": {"va": [0.0, 0.0]}, "audio": tmp_path / "v.wav", "audio_time": f / fps}
        for f in range(30)
    ]  # fmt: skip
    root = tmp_path / "src"
    root.mkdir()
    result = federate(tiny_adapter("av", records), root, tmp_path / "out", shard_size=30, size=32,
                      progress=False)  # fmt: skip
    assert result.entry["splits"]["train"]["tasks"]["audio"] == 30
    loader = ClipLoader(Federation(str(tmp_path / "out")), LabelSpace(), 10, 2, None, steps=1)
    batch = next(iter(loader))
    assert batch["mel"].shape[:3] == (2, 10, 64) and batch["egemaps"].shape == (2, 10, 25)
    # Within each clip, later frames are louder: the mel energy rises with the frame time.
    energy = batch["mel"].float().mean(dim=(2, 3))
    assert bool((energy[:, -1] > energy[:, 0]).all())
