"""Corrupting one modality in chosen segments of a video (holistic/data/corruption.py): the
segments asked and only them, the same frames for every seed, video and window, removal seen by
the audio mask, noise only where corrupted, and clear errors."""

import numpy as np
import pytest

from holistic.data.corruption import ModalityCorruption, corrupt_arrays, parse_corruption
from holistic.data.degrade import degrade


def _window(frames=10, audio=True, seed=0):
    """clip_arrays-like arrays: uint8 faces, mel_image and egemaps, audio on every frame but
    the last, a label array that must pass through."""
    rng = np.random.default_rng(seed)
    arrays = {
        "image": rng.integers(0, 256, (frames, 16, 16, 3), dtype=np.uint8),
        "va": rng.uniform(-1, 1, (frames, 2)).astype(np.float32),
    }
    if audio:
        arrays["mel_image"] = rng.uniform(-1, 1, (frames, 8, 8)).astype(np.float16)
        arrays["egemaps"] = rng.normal(0, 5, (frames, 25)).astype(np.float32)
        arrays["audio_mask"] = np.arange(frames) < frames - 1
        arrays["mel_image"][-1] = 0  # zero-filled, as clip_arrays leaves a frame without audio
        arrays["egemaps"][-1] = 0
    return arrays


def test_alternate_segments_in_frames_and_in_seconds():
    every_other = ModalityCorruption("video", segment=5, unit="frames")
    hit = every_other.corrupted(range(30), "v")
    assert np.flatnonzero(hit).tolist() == [*range(5, 10), *range(15, 20), *range(25, 30)]
    # 0.5 s at 10 fps is 5 frames; segments are counted from the video's frame 0
    seconds = ModalityCorruption("audio", segment=0.5, fps=10.0)
    assert seconds.segment_frames == 5
    assert np.array_equal(seconds.corrupted(range(12, 23), "v"), hit[12:23])
    assert ModalityCorruption("audio", pattern="all").corrupted([3, 4, 90], "v").all()


def test_random_segments_are_whole_a_fraction_and_a_function_of_seed_video_and_frame():
    corruption = ModalityCorruption("audio", segment=4, unit="frames", pattern="random",
                                    fraction=0.3, seed=7)  # fmt: skip
    frames = np.arange(4000)
    hit = corruption.corrupted(frames, "v1", "d")
    segments = hit.reshape(-1, 4)
    assert (segments.all(axis=1) | ~segments.any(axis=1)).all()  # a segment is all or nothing
    assert 0.25 < segments[:, 0].mean() < 0.35  # 1000 segments, each with probability 0.3
    # The same frames whatever window they are asked in, and for every call.
    parts = [corruption.corrupted(frames[a:b], "v1", "d") for a, b in ((0, 13), (13, 2500),
                                                                      (2500, 4000))]  # fmt: skip
    assert np.array_equal(np.concatenate(parts), hit)
    assert np.array_equal(corruption.corrupted(frames[::-1], "v1", "d"), hit[::-1])
    # Another seed, video or dataset: other segments.
    other_seed = ModalityCorruption("audio", segment=4, unit="frames", pattern="random",
                                    fraction=0.3, seed=8)  # fmt: skip
    for other in (other_seed.corrupted(frames, "v1", "d"), corruption.corrupted(frames, "v2", "d"),
                  corruption.corrupted(frames, "v1", "e")):  # fmt: skip
        assert not np.array_equal(other, hit)
    none = ModalityCorruption("audio", pattern="random", fraction=0.0).corrupted(frames, "v")
    assert not none.any()


def test_removing_audio_clears_the_mask_and_features_of_the_corrupted_frames_only():
    arrays = _window()
    corruption = ModalityCorruption("audio", "remove", segment=3, unit="frames")
    out, hit = corrupt_arrays(arrays, corruption, frames=range(10, 20), video="v")
    # segments 3 (frames 9-11) and 5 (15-17) of the video
    assert np.flatnonzero(hit).tolist() == [0, 1, 5, 6, 7]
    assert np.array_equal(out["audio_mask"], arrays["audio_mask"] & ~hit)
    assert not out["mel_image"][hit].any() and not out["egemaps"][hit].any()
    kept = ~hit
    assert np.array_equal(out["mel_image"][kept], arrays["mel_image"][kept])
    assert np.array_equal(out["egemaps"][kept], arrays["egemaps"][kept])
    assert out["image"] is arrays["image"] and out["va"] is arrays["va"]
    assert arrays["audio_mask"].sum() == 9 and arrays["mel_image"][0].any()  # input untouched


def test_audio_noise_and_silence_keep_the_mask_and_touch_only_the_spectrogram_features():
    arrays = _window()
    frames = list(range(10))
    noisy = ModalityCorruption("audio", "noise", strength=0.5, segment=2, unit="frames")
    out, hit = corrupt_arrays(arrays, noisy, frames=frames, video="v")
    assert np.array_equal(out["audio_mask"], arrays["audio_mask"])
    changed = (out["mel_image"] != arrays["mel_image"]).any(axis=(1, 2))
    assert np.array_equal(changed, hit & arrays["audio_mask"])  # frame 9 had no audio: left
    assert np.abs(out["mel_image"].astype(np.float32)).max() <= 1.0
    assert np.array_equal(out["egemaps"], arrays["egemaps"])  # raw units: not a spectrogram
    again, _ = corrupt_arrays(arrays, noisy, frames=frames, video="v")
    assert np.array_equal(again["mel_image"], out["mel_image"])
    silent, _ = corrupt_arrays(arrays, ModalityCorruption("audio", "silence", pattern="all"),
                               frames=frames, video="v")  # fmt: skip
    assert (silent["mel_image"][:9] == -1).all() and not silent["mel_image"][9].any()
    assert silent["audio_mask"][:9].all()
    with pytest.raises(ValueError, match=r"\['egemaps'\] can only be removed"):
        corrupt_arrays(arrays, noisy, frames=frames, video="v", features=["egemaps"])
    with pytest.raises(ValueError, match="asked for"):
        corrupt_arrays(_window(), noisy, frames=frames, video="v", features=["mel"])


def test_video_noise_changes_only_the_corrupted_frames_alike_in_every_window():
    arrays = _window(20)
    corruption = ModalityCorruption("video", "noise", strength=0.2, segment=3, unit="frames")
    out, hit = corrupt_arrays(arrays, corruption, frames=range(20), video="v")
    changed = (out["image"] != arrays["image"]).any(axis=(1, 2, 3))
    assert hit.any() and np.array_equal(changed, hit)
    assert out["image"].dtype == np.uint8
    for key in ("mel_image", "egemaps", "audio_mask"):
        assert out[key] is arrays[key]
    # An overlapping window: the frames it shares get the same noise.
    late = {key: value[8:] for key, value in arrays.items()}
    shifted, _ = corrupt_arrays(late, corruption, frames=range(8, 20), video="v")
    assert np.array_equal(shifted["image"], out["image"][8:])
    # Another video: other noise.
    elsewhere, _ = corrupt_arrays(arrays, corruption, frames=range(20), video="w")
    assert not np.array_equal(elsewhere["image"][hit], out["image"][hit])


def test_video_removal_degradations_and_float_images():
    arrays = _window(6)
    every = {"segment": 1, "unit": "frames", "pattern": "all"}
    grey, _ = corrupt_arrays(arrays, ModalityCorruption("video", **every), frames=range(6),
                             video="v")  # fmt: skip
    assert (grey["image"] == 128).all()
    blurred, _ = corrupt_arrays(arrays, ModalityCorruption("video", "blur", level=2, **every),
                                frames=range(6), video="v")  # fmt: skip
    assert np.array_equal(blurred["image"][3], degrade(arrays["image"][3], "blur", 2))
    floats = {"image": arrays["image"].astype(np.float32) / 255}
    noisy, _ = corrupt_arrays(floats, ModalityCorruption("video", "noise", strength=0.1, **every),
                              frames=range(6), video="v")  # fmt: skip
    assert noisy["image"].dtype == np.float32 and 0 <= noisy["image"].min() <= 1
    assert noisy["image"].max() <= 1 and not np.array_equal(noisy["image"], floats["image"])
    removed, _ = corrupt_arrays(floats, ModalityCorruption("video", **every), frames=range(6),
                                video="v")  # fmt: skip
    assert np.allclose(removed["image"], 128 / 255)


def test_a_window_without_audio_is_marked_but_unchanged_by_an_audio_corruption():
    arrays = _window(audio=False)
    out, hit = corrupt_arrays(arrays, ModalityCorruption("audio", pattern="all"),
                              frames=range(10), video="v")  # fmt: skip
    assert hit.all() and set(out) == set(arrays) and out["image"] is arrays["image"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"modality": "text"}, "modality must be one of"),
        ({"modality": "audio", "kind": "blur"}, "kind for audio must be one of"),
        ({"modality": "video", "kind": "silence"}, "kind for video must be one of"),
        ({"modality": "video", "kind": "noise"}, "needs a strength > 0"),
        ({"modality": "audio", "strength": 0.3}, "strength is for kind 'noise'"),
        ({"modality": "video", "kind": "blur", "level": 3}, "level must be from 0 to 2"),
        ({"modality": "video", "kind": "grayscale", "level": 1}, "level must be from 0 to 0"),
        ({"modality": "audio", "segment": 0}, "segment must be > 0"),
        ({"modality": "audio", "segment": 2.5, "unit": "frames"}, "a whole number of frames"),
        ({"modality": "audio", "unit": "ms"}, "unit must be one of"),
        ({"modality": "audio", "fps": 0}, "fps must be > 0"),
        ({"modality": "audio", "pattern": "odd"}, "pattern must be one of"),
        ({"modality": "audio", "fraction": 1.5}, r"fraction must lie in \[0, 1\]"),
        ({"modality": "audio", "seed": -1}, "seed must be an integer >= 0"),
        ({"modality": "audio", "seed": True}, "seed must be an integer >= 0"),
        ({"modality": "audio", "segment": float("nan")}, "segment must be a finite number"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModalityCorruption(**kwargs)


def test_from_yaml_values_and_key_value_pairs():
    made = parse_corruption(["modality=audio", "kind=noise", "strength=0.5", "segment=4",
                             "unit=frames", "pattern=random", "seed=3"])  # fmt: skip
    assert made == ModalityCorruption("audio", "noise", strength=0.5, segment=4.0, unit="frames",
                                      pattern="random", seed=3)  # fmt: skip
    assert ModalityCorruption.from_json(made.to_json()) == made
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['strenght'\]"):
        ModalityCorruption.from_json({"modality": "audio", "strenght": 1})
    with pytest.raises(ValueError, match="modality is required"):
        ModalityCorruption.from_json({"kind": "remove"})
    with pytest.raises(ValueError, match="seed='x' is not a int"):
        parse_corruption(["modality=audio", "seed=x"])
    with pytest.raises(ValueError, match="expected key=value"):
        parse_corruption(["audio"])
    with pytest.raises(ValueError, match="frame numbers must be >= 0"):
        made.corrupted([-1, 0], "v")
    with pytest.raises(ValueError, match="3 frame numbers for a window of 10 frames"):
        corrupt_arrays(_window(), made, frames=[0, 1, 2], video="v")
