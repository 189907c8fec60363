"""The AViGaS audio image: a 128-band mel spectrogram crop of 128 columns around each frame,
at 22,050 Hz, in dB relative to the peak, as 3 channels."""

import numpy as np
import pytest
import torch

from holistic.data.audio import MEL_IMAGE_HOP, MEL_IMAGE_RATE, mel_images


def _tone_from(start_s: float, rate: int, seconds: float = 4.0, hz: float = 1000.0):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * hz * t) * (t >= start_s)).astype(np.float32)


def test_each_frame_gets_a_three_channel_crop_centred_on_its_time():
    images = mel_images(_tone_from(2.0, MEL_IMAGE_RATE), MEL_IMAGE_RATE, [1.0, 2.5, 3.9])
    assert images.shape == (3, 3, 128, 128) and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert (images[:, 0] == images[:, 1]).all() and (images[:, 0] == images[:, 2]).all()
    # Frame at 1.0 s: silence until the tone starts 1.0 s later, 43 columns after the centre.
    first = images[0, 0]
    onset = 64 + round(1.0 * MEL_IMAGE_RATE / MEL_IMAGE_HOP)
    assert (first[:, : onset - 2] == -1.0).all()
    assert (first[:, onset + 2 :].max(axis=0) > 0.5).all()


def test_the_tone_is_in_the_mel_band_of_its_frequency_at_any_input_rate():
    import librosa

    centres = librosa.mel_frequencies(n_mels=130, fmax=MEL_IMAGE_RATE / 2)[1:-1]  # band centres
    expected = int(np.argmin(np.abs(centres - 1000.0)))
    for rate in (MEL_IMAGE_RATE, 16000, 44100):
        image = mel_images(_tone_from(0.0, rate), rate, [2.0])[0, 0]
        assert abs(int(image[:, 64].argmax()) - expected) <= 1, rate
        assert image[:, 64].max() == pytest.approx(1.0, abs=0.05)  # the recording's peak


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="columns even"):
        mel_images(_tone_from(0.0, 16000), 16000, [1.0], columns=127)


# --- the stored audio image (AudioSettings.mel_image_size) -----------------------------------


def _block_means(images, size):
    side = images.shape[-1]
    return images.reshape(len(images), size, side // size, size, side // size).mean(axis=(2, 4))


def test_the_stored_image_is_one_channel_of_the_paper_image_area_averaged():
    from holistic.data.audio import mel_image_frames

    signal, times = _tone_from(1.0, 16000, hz=500.0), [0.5, 1.2, 3.0]
    paper = mel_images(signal, 16000, times)[:, 0]  # [T, 128, 128]
    assert np.array_equal(mel_image_frames(signal, 16000, times, 128), paper)
    small = mel_image_frames(signal, 16000, times, 32)
    assert small.shape == (3, 32, 32) and small.dtype == np.float32
    assert np.allclose(small, _block_means(paper, 32), atol=1e-5)
    # The 3 s span is kept: the tone starting 0.5 s after frame 0 shows in its right half only.
    assert small[0, :, :16].max() == -1.0 and small[0, :, 20:].max() > 0.0
    with pytest.raises(ValueError, match="size must be from 1 to 128"):
        mel_image_frames(signal, 16000, times, 256)


def _wav(tmp_path, rate=16000, seconds=2.0):
    import soundfile

    path = tmp_path / "voice.wav"
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 700 * t) * (t > 0.5)).astype(np.float32), rate)
    return path


def test_a_shard_stores_the_audio_image_only_when_the_settings_ask(tmp_path):
    from holistic.data.audio import AudioSettings, frame_audio_features, load_audio

    path, times = _wav(tmp_path, rate=44100), [0.2, 0.9, 1.5]
    plain = frame_audio_features(path, times)
    assert set(plain) == {"mel", "egemaps"}
    made = frame_audio_features(path, times, AudioSettings(mel_image_size=16))
    assert set(made) == {"mel", "egemaps", "mel_image"}
    assert made["mel_image"].shape == (3, 16, 16) and made["mel_image"].dtype == np.float16
    # mel and egemaps are made exactly as before; the image from the recording's own rate.
    assert all(np.array_equal(made[k], plain[k]) for k in plain)
    own = mel_images(*load_audio(path, None), times)[:, 0]
    assert np.allclose(made["mel_image"], _block_means(own, 16), atol=2e-3)  # float16


def test_the_audio_image_setting_is_checked_and_left_out_of_the_json_when_off():
    from holistic.data.audio import AudioSettings

    assert "mel_image_size" not in AudioSettings().to_json()  # old digests stay the same
    on = AudioSettings(mel_image_size=32)
    assert on.to_json()["mel_image_size"] == 32
    assert AudioSettings.from_json(on.to_json()) == on
    assert AudioSettings.from_json(AudioSettings().to_json()) == AudioSettings()
    for bad in (2, 129, -1, 3.5, True):
        with pytest.raises(ValueError, match="mel_image_size must be 0"):
            AudioSettings(mel_image_size=bad)


def test_a_federation_with_audio_images_feeds_them_to_both_loaders(tmp_path):
    from conftest import tiny_adapter

    from holistic.data.audio import AudioSettings
    from holistic.data.clips import ClipLoader
    from holistic.data.federation import AlignedMixer, Federation
    from holistic.data.shards import federate
    from holistic.schema import LabelSpace

    path = _wav(tmp_path)
    records = [  # frames 4..7 have no audio: zero-filled, audio_mask False
        {"key": f"v-{f:03d}", "split": "train", "video": "v", "frame": f,
         "labels": {"va": [0.1, -0.2]},
         **({"audio": path, "audio_time": f / 5} if f < 4 else {})}
        for f in range(8)
    ]  # fmt: skip
    (tmp_path / "src").mkdir()
    result = federate(tiny_adapter("v", records), tmp_path / "src", tmp_path / "out", size=32,
                      progress=False, audio_settings=AudioSettings(mel_image_size=16))  # fmt: skip
    assert result.entry["settings"]["audio_features"]["mel_image_size"] == 16
    federation = Federation(str(tmp_path / "out"))
    assert federation.audio_settings().mel_image_size == 16
    clips = ClipLoader(federation, LabelSpace(), 8, 1, None, audio=True, steps=1)
    batch = next(iter(clips))
    assert batch["mel_image"].shape == (1, 8, 16, 16) and batch["mel_image"].dtype == torch.float16
    assert batch["audio_mask"].tolist() == [[True] * 4 + [False] * 4]
    assert batch["mel_image"][0, :4].abs().sum() > 0 and not batch["mel_image"][0, 4:].any()
    mixer = AlignedMixer(federation, LabelSpace(), {"va": 8}, None, audio=True, steps=1)
    frames = next(iter(mixer))
    assert frames["mel_image"].shape == (8, 16, 16) and frames["audio_mask"].sum() == 4


def test_the_command_lines_take_the_audio_image_size(tmp_path, capsys):
    from holistic.cli import _audio_settings, main
    from holistic.data.audio import AudioSettings

    assert _audio_settings(["mel_image_size=32"]) == AudioSettings(mel_image_size=32)
    federate = ["federate", "affwild2", str(tmp_path), "--out", str(tmp_path / "out")]
    assert main([*federate, "--audio-setting", "mel_image_size=2"]) == 2
    assert "mel_image_size must be 0" in capsys.readouterr().err
    synth = ["synth", str(tmp_path / "world"), "--federate", str(tmp_path / "shards")]
    assert main([*synth, "--audio-setting", "mel_image_size=200"]) == 2
    assert "mel_image_size must be 0" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "world").exists()


def test_the_synthetic_world_stores_audio_images_when_asked(tmp_path):
    import json

    from holistic.cli import federate_world
    from holistic.data.audio import AudioSettings
    from holistic.data.clips import ClipLoader
    from holistic.data.federation import Federation
    from holistic.schema import LabelSpace
    from holistic.synth.world import write_world

    write_world(tmp_path / "world", "tiny", seed=0, sources=["affwild2", "rafdb"], progress=False)
    federate_world(tmp_path / "world", tmp_path / "shards", size=32, progress=False,
                   audio_settings=AudioSettings(mel_image_size=16))  # fmt: skip
    manifest = json.loads((tmp_path / "shards" / "manifest.json").read_text())
    made = {name: entry["settings"]["audio_features"].get("mel_image_size")
            for name, entry in manifest["datasets"].items()}  # fmt: skip
    assert made == {"affwild2": 16, "rafdb": None}  # only the run that converts audio
    federation = Federation(str(tmp_path / "shards"))
    batch = next(iter(ClipLoader(federation, LabelSpace(), 4, 2, None, datasets=["affwild2"],
                                 audio=True, steps=1)))  # fmt: skip
    assert batch["mel_image"].shape == (2, 4, 16, 16) and batch["audio_mask"].any()
