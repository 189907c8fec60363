import json
import random

import numpy as np
import pytest
import torch
from conftest import tiny_adapter

from holistic.data.clips import (
    ClipLoader,
    ClipSourceError,
    audio_layout,
    clip_arrays,
    clip_windows,
    collate_clips,
    video_runs,
)
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
    loader = ClipLoader(
        Federation(str(tmp_path / "out")), LabelSpace(), 10, 2, None, steps=1, audio=True
    )
    batch = next(iter(loader))
    assert batch["mel"].shape[:3] == (2, 10, 64) and batch["egemaps"].shape == (2, 10, 25)
    assert batch["mel"].dtype == torch.float16 and batch["audio_mask"].all()
    # Within each clip, later frames are louder: the mel energy rises with the frame time.
    energy = batch["mel"].float().mean(dim=(2, 3))
    assert bool((energy[:, -1] > energy[:, 0]).all())


# --- audio with a mask: clips with and without audio in one batch ----------------------------


@pytest.fixture(scope="module")
def audio_videos(tmp_path_factory):
    """Dataset "av": video a (frames 0-19) with audio, b (0-19) without, c (0-19) with audio on
    frames 0-9 only, one shard each; dataset "mute": video m (0-9) without audio."""
    import soundfile

    tmp = tmp_path_factory.mktemp("audio")
    rate, fps = 16000, 10
    t = np.arange(2 * rate) / rate
    for name, pitch in (("a", 220), ("c", 330)):
        soundfile.write(tmp / f"{name}.wav", 0.3 * np.sin(2 * np.pi * pitch * t), rate)

    def frames(video, count, audio_until):
        return [
            {"key": f"{video}-{f:03d}", "split": "train", "video": video, "frame": f,
             "labels": {"va": [0.0, 0.0]},
             **({"audio": tmp / f"{video}.wav", "audio_time": f / fps} if f < audio_until else {})}
            for f in range(count)
        ]  # fmt: skip

    root = tmp / "src"
    root.mkdir()
    records = frames("a", 20, 20) + frames("b", 20, 0) + frames("c", 20, 10)
    federate(tiny_adapter("av", records), root, tmp / "out", shard_size=20, size=32,
             progress=False)  # fmt: skip
    federate(tiny_adapter("mute", frames("m", 10, 0)), root, tmp / "out", size=32, progress=False)
    return Federation(str(tmp / "out"))


def _has_audio(video: str, frame: int) -> bool:
    return video == "a" or (video == "c" and frame < 10)


def _expected_mask(batch) -> torch.Tensor:
    frames = len(batch["audio_mask"][0])
    return torch.tensor(
        [[_has_audio(v, f + t) for t in range(frames)]
         for v, f in zip(batch["video"], batch["frames"], strict=True)]
    )  # fmt: skip


def _check_zero_filled(batch) -> None:
    mask = batch["audio_mask"]
    assert batch["egemaps"].shape == (*mask.shape, 25) and batch["egemaps"].dtype == torch.float32
    assert batch["mel"].shape == (*mask.shape, 64, 11) and batch["mel"].dtype == torch.float16
    assert not batch["egemaps"][~mask].any() and not batch["mel"][~mask].any()
    # Where a frame has audio its features are the tone's: never all zero.
    assert bool(batch["egemaps"][mask].abs().sum(-1).gt(0).all())
    assert bool(batch["mel"][mask].float().abs().sum((-2, -1)).gt(0).all())


def test_a_batch_of_clips_with_and_without_audio_is_zero_filled_with_a_mask(audio_videos):
    runs = {run[0]["record"]["video"]: run for run in video_runs(audio_videos, split="train")}
    windows = [runs["a"][0:4], runs["b"][3:7], runs["c"][8:12], runs["c"][12:16]]
    space = LabelSpace()
    clips = [clip_arrays(window, space, None) for window in windows]
    assert "audio_mask" not in clips[1] and "egemaps" not in clips[1]  # b: no frame has audio
    assert clips[2]["audio_mask"].tolist() == [True, True, False, False]
    layout = audio_layout(audio_videos.shards("train", None, ["av"]))
    assert layout == {"egemaps": ((25,), "<f4"), "mel": ((64, 11), "<f2")}
    batch = collate_clips(clips, windows, audio=layout)
    assert batch["audio_mask"].tolist() == [[True] * 4, [False] * 4, [True, True, False, False],
                                            [False] * 4]  # fmt: skip
    assert torch.equal(batch["audio_mask"], _expected_mask(batch))
    _check_zero_filled(batch)
    # The features with audio are the clip's own, frame by frame.
    assert torch.equal(batch["egemaps"][2, :2], torch.from_numpy(clips[2]["egemaps"][:2]))
    # Without a layout the batch has no audio keys, even where every frame has audio.
    plain = collate_clips(clips[:1], windows[:1])
    assert not {"egemaps", "mel", "audio_mask"} & set(plain)


def test_a_batch_without_any_audio_gets_zeros_and_an_all_false_mask(audio_videos):
    runs = {run[0]["record"]["video"]: run for run in video_runs(audio_videos, split="train")}
    windows = [runs["b"][0:5], runs["b"][10:15], runs["c"][12:17]]
    clips = [clip_arrays(window, LabelSpace(), None) for window in windows]
    layout = audio_layout(audio_videos.shards("train", None, ["av"]))
    batch = collate_clips(clips, windows, audio=layout)
    assert batch["audio_mask"].shape == (3, 5) and not batch["audio_mask"].any()
    _check_zero_filled(batch)
    # Features of another shape (a conversion with other settings) are named, not stacked.
    other = {**layout, "mel": ((128, 11), "<f2")}
    windows[2] = runs["c"][0:5]
    clips[2] = clip_arrays(windows[2], LabelSpace(), None)
    with pytest.raises(ValueError, match=r"av video 'c' frame 0: audio features .*other audio"):
        collate_clips(clips, windows, audio=other)


def test_the_loader_carries_audio_in_every_batch_when_asked(audio_videos):
    loader = ClipLoader(audio_videos, LabelSpace(), 5, 6, None, datasets=["av"], steps=4,
                        audio=True)  # fmt: skip
    masks = []
    for batch in loader:
        assert torch.equal(batch["audio_mask"], _expected_mask(batch))
        _check_zero_filled(batch)
        masks.append(batch["audio_mask"])
    per_clip = torch.cat(masks).float().mean(1)
    assert bool((per_clip == 0).any() and (per_clip == 1).any())  # silent and sounding clips
    silent = ClipLoader(audio_videos, LabelSpace(), 5, 6, None, datasets=["av"], steps=1)
    assert not {"egemaps", "mel", "audio_mask"} & set(next(iter(silent)))  # audio=False
    with pytest.raises(ClipSourceError, match=r"no shard of \['mute'\] has audio features"):
        ClipLoader(audio_videos, LabelSpace(), 5, 2, None, datasets=["mute"], audio=True)


def test_the_aligned_mixer_carries_audio_with_a_mask_when_asked(audio_videos):
    from holistic.data.federation import AlignedMixer

    mixer = AlignedMixer(audio_videos, LabelSpace(), {"va": 16}, None, datasets=["av"],
                         steps=4, audio=True)  # fmt: skip
    seen = torch.zeros(0, dtype=torch.bool)
    for batch in mixer:
        frames = [(key.split("-")[0], int(key.split("-")[1])) for key in batch["key"]]
        expected = torch.tensor([_has_audio(video, frame) for video, frame in frames])
        assert torch.equal(batch["audio_mask"], expected)
        _check_zero_filled(batch)
        seen = torch.cat([seen, batch["audio_mask"]])
    assert bool(seen.any() and (~seen).any())  # batches mix samples with and without audio
    plain = next(iter(AlignedMixer(audio_videos, LabelSpace(), {"va": 4}, None, steps=1)))
    assert not {"egemaps", "mel", "audio_mask"} & set(plain)  # audio=False: as before
    with pytest.raises(ClipSourceError, match=r"no shard of \['mute'\] has audio features"):
        AlignedMixer(audio_videos, LabelSpace(), {"va": 4}, None, datasets=["mute"], audio=True)


def test_clips_for_the_audio_task_are_those_with_audio(audio_videos):
    """task="audio" keeps the clips with a frame that has audio (the records' audio_features)."""
    loader = ClipLoader(audio_videos, LabelSpace(), 5, 4, None, datasets=["av"], steps=6,
                        task="audio", audio=True)  # fmt: skip
    for batch in loader:
        assert batch["audio_mask"].any(dim=1).all()  # every clip has a frame with audio
    # Video b has no audio at all: its shard is not read for the audio task.
    assert {ref.url.rsplit("/", 1)[-1] for ref in loader.shards} == {
        ref.url.rsplit("/", 1)[-1] for ref in audio_videos.shards("train", None, ["av"])
        if ref.tasks.get("audio")
    }  # fmt: skip


# --- the loader API shared with the aligned mixer --------------------------------------------


@pytest.fixture(scope="module")
def many_videos(tmp_path_factory):
    """12 videos of 40 frames (one per shard), VA on even videos, EXPR on odd ones; an image-only
    dataset "stills" beside them."""
    tmp = tmp_path_factory.mktemp("many")
    records = []
    for v in range(12):
        labels = (lambda f: {"va": [0.1, 0.2]}) if v % 2 == 0 else (lambda f: {"expr": "happiness"})
        records += [
            {"key": f"v{v:02d}-{f:03d}", "split": "train", "video": f"v{v:02d}", "frame": f,
             "labels": labels(f)}
            for f in range(40)
        ]  # fmt: skip
    root = tmp / "src"
    root.mkdir()
    federate(tiny_adapter("vids", records), root, tmp / "out", shard_size=40, size=32,
             progress=False)  # fmt: skip
    stills = [{"key": f"s{i}", "split": "train", "labels": {"expr": "sadness"}} for i in range(6)]
    federate(tiny_adapter("stills", stills), root, tmp / "out", size=32, progress=False)
    return Federation(str(tmp / "out"))


def _videos_per_batch(loader) -> float:
    return float(np.mean([len(set(batch["video"])) for batch in loader]))


def test_a_batch_holds_clips_of_many_videos(many_videos):
    def loader(width):
        return ClipLoader(many_videos, LabelSpace(), 5, 8, None, datasets=["vids"], steps=6,
                          interleave=width, shuffle_buffer=0)  # fmt: skip

    # One shard at a time (what a fixed shard order gave): a batch comes from one or two videos.
    assert _videos_per_batch(loader(1)) <= 2.0
    assert _videos_per_batch(loader(8)) >= 5.0


def test_multitask_clips_mix_with_masks(many_videos):
    loader = ClipLoader(many_videos, LabelSpace(), 5, 12, None, datasets=["vids"], steps=4)
    batch = next(iter(loader))
    assert batch["va_mask"].any() and batch["expr_mask"].any()
    va_clips = batch["va_mask"].all(dim=1)
    expr_clips = batch["expr_mask"].all(dim=1)
    assert bool((va_clips ^ expr_clips).all())  # every clip is one video's: VA or EXPR frames
    only_va = ClipLoader(many_videos, LabelSpace(), 5, 4, None, datasets=["vids"], task="va",
                         steps=3)  # fmt: skip
    assert all(b["va_mask"].all() for b in only_va)


def test_uint8_output_and_batches_are_a_function_of_their_position(many_videos):
    from holistic.data.transforms import normalise

    def loader(**kwargs):
        return ClipLoader(many_videos, LabelSpace(), 4, 3, build_train_transform(32),
                          datasets=["vids"], steps=5, seed=3, **kwargs)  # fmt: skip

    floats, raw, again = list(loader()), list(loader(normalise=False)), list(loader())
    assert raw[0]["image"].dtype == torch.uint8 and raw[0]["image"].shape == (3, 4, 3, 32, 32)
    for a, b, c in zip(floats, raw, again, strict=True):
        assert torch.allclose(a["image"], normalise(b["image"]), atol=1e-6)
        assert torch.equal(a["image"], c["image"]) and a["video"] == c["video"]
    # Resume: a new epoch gives other clips; the same epoch the same ones, skipping by reading.
    from holistic.training.state import batches_from

    reference = loader()
    full = [b["frames"] for b in batches_from(reference, 0, 8)]
    resumed = [b["frames"] for b in batches_from(loader(), 3, 8)]
    assert resumed == full[3:] and full[:5] != full[5:] + full[:0]


def test_readers_get_disjoint_clips_and_equal_steps(many_videos):
    seen = []
    for rank in range(2):
        loader = ClipLoader(many_videos, LabelSpace(), 5, 2, None, datasets=["vids"], rank=rank,
                            world_size=2, steps=4, shuffle_buffer=0)  # fmt: skip
        batches = list(loader.loader(num_workers=2))
        assert len(batches) == 4
        seen.append({(v, f) for b in batches for v, f in zip(b["video"], b["frames"], strict=True)})
    assert seen[0] and seen[1] and not {v for v, _ in seen[0]} & {v for v, _ in seen[1]}


def test_clip_sources_are_checked_at_start(many_videos):
    from holistic.data.clips import ClipSourceError, check_clip_sources

    ref = many_videos.shards("train", None, ["vids"])[0]
    assert ref.longest_run == 40 and ref.frames == 40  # recorded in the manifest
    assert check_clip_sources(many_videos, 40, datasets=["vids"]) == {"vids": 40}
    with pytest.raises(ClipSourceError, match=r"vids \(train\): clips of 41 frames.* is 40"):
        ClipLoader(many_videos, LabelSpace(), 41, 2, None, datasets=["vids"])
    with pytest.raises(ClipSourceError, match="stills .* image dataset"):
        ClipLoader(many_videos, LabelSpace(), 4, 2, None)


def test_clip_sources_of_an_older_manifest_are_scanned(many_videos, tmp_path):
    from holistic.data.clips import check_clip_sources

    manifest = json.loads(json.dumps(many_videos.manifest))
    for shard in manifest["datasets"]["vids"]["splits"]["train"]["shards"]:
        del shard["longest_run"], shard["frames"]
    older = Federation(many_videos.location, manifest)
    assert older.shards("train", None, ["vids"])[0].longest_run is None
    assert check_clip_sources(older, 40, datasets=["vids"]) == {"vids": 40}


def test_landmarks_follow_the_frames(tmp_path):
    from holistic.synth.layout import SHAPE_MODES, apply_shape

    points = apply_shape(np.zeros(len(SHAPE_MODES)))[:68] * 64
    records = [
        {"key": f"l-{f:02d}", "split": "train", "video": "l", "frame": f,
         "labels": {"va": [0.0, 0.0]}, **({"landmarks": points} if f != 2 else {})}
        for f in range(6)
    ]  # fmt: skip
    root = tmp_path / "src"
    root.mkdir()
    federate(tiny_adapter("lm", records), root, tmp_path / "out", size=48, progress=False)
    federation = Federation(str(tmp_path / "out"))
    assert federation.shards("train")[0].tasks["landmarks"] == 5  # counted in the manifest
    still = ClipLoader(federation, LabelSpace(), 6, 1, None, steps=1, landmarks=True)
    batch = next(iter(still))
    assert batch["landmarks"].shape == (1, 6, 68, 2)
    assert batch["landmarks_mask"].tolist() == [[True, True, False, True, True, True]]
    assert batch["landmarks"][0, 2].abs().sum() == 0  # no landmarks: zeros
    inside = batch["landmarks"][0, 0]
    assert inside.min() > -1 and inside.max() < 1  # [-1, 1] crop coordinates
    # Flipped by the augmentation: the points move with the image (x mirrored).
    from holistic.data.transforms import build_train_transform as build

    flip = ClipLoader(federation, LabelSpace(), 6, 1, build(48, 0.0, keypoints=True), steps=1,
                      landmarks=True)  # fmt: skip
    import albumentations as A

    flip.transform = A.Compose([A.HorizontalFlip(p=1.0)],
                               keypoint_params=A.KeypointParams(format="xy"))  # fmt: skip
    flipped = next(iter(flip))["landmarks"][0, 0]
    # x' = W - x in pixels -> in [-1, 1] coordinates x' = -x (up to the pixel convention)
    assert torch.allclose(flipped[:, 0], -inside[:, 0], atol=2 / 48 + 1e-5)
    assert torch.allclose(flipped[:, 1], inside[:, 1], atol=1e-5)


# --- evaluation: every frame of every video run once -----------------------------------------


def test_video_runs_cover_every_frame_once_in_order(videos):
    from holistic.data.clips import video_runs

    runs = list(video_runs(videos, split="train"))
    frames = [(r["record"]["video"], r["record"]["frame"]) for run in runs for r in run]
    # Shards of 8 frames cut the videos: runs continue across shard boundaries, gaps break them.
    assert frames == sorted(frames) and len(frames) == len(set(frames)) == 20 + 29 + 3
    assert [len(run) for run in runs] == [20, 9, 20, 3]
    split = [list(video_runs(videos, split="train", rank=r, world_size=2)) for r in range(2)]
    flat = [
        [(s["record"]["video"], s["record"]["frame"]) for run in part for s in run]
        for part in split
    ]
    assert sorted(flat[0] + flat[1]) == frames and not set(flat[0]) & set(flat[1])


def test_run_windows_cover_every_frame():
    from holistic.data.clips import run_windows

    assert run_windows(10, None, None) == [(0, 10)]
    assert run_windows(3, 5, None) == [(0, 3)]
    assert run_windows(10, 4, None) == [(0, 4), (4, 8), (6, 10)]
    assert run_windows(10, 4, 2) == [(0, 4), (2, 6), (4, 8), (6, 10)]
    with pytest.raises(ValueError, match="stride"):
        run_windows(10, 4, 5)


def test_a_landmark_model_needs_frames_with_landmarks(many_videos, tmp_path):
    from holistic.data.clips import ClipSourceError

    assert "landmarks" not in many_videos.shards("train", None, ["vids"])[0].tasks
    with pytest.raises(ClipSourceError, match=r"68 landmarks .* \['vids'\]"):
        ClipLoader(many_videos, LabelSpace(), 4, 2, None, datasets=["vids"], landmarks=True)
