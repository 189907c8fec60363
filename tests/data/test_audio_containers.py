"""Audio read from video containers with PyAV: test videos are written with PyAV itself (a
440 Hz tone, 1 s, 44.1 kHz stereo), read back with ``load_audio`` and found in an Aff-Wild2
audio folder by the adapter."""

import io
import json
import sys
import tarfile
from fractions import Fraction

import numpy as np
import pytest
from conftest import split_items, write_image, write_lines

from holistic.data.adapters.affwild2 import ADAPTER
from holistic.data.audio import load_audio
from holistic.data.shards import federate

av = pytest.importorskip("av", reason="PyAV is not installed (pip install 'holistic[audio]')")
pytest.importorskip("librosa", reason="librosa is not installed (pip install 'holistic[audio]')")

RATE = 44100
TONE_HZ = 440.0


def _tone(amplitude: float = 0.6) -> np.ndarray:
    t = np.arange(RATE) / RATE
    return (amplitude * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)


def write_media(path, audio_codec=None, video_codec=None, left=None, right=None):
    """A container at ``path`` with an optional audio stream (stereo ``left``/``right`` at
    44.1 kHz, the tone and silence by default) and an optional 1 s, 25 fps video stream."""
    with av.open(str(path), "w") as container:  # every stream is added before the first mux
        video = sound = None
        if video_codec:
            video = container.add_stream(video_codec, rate=25)
            video.width = video.height = 32
            video.pix_fmt = "yuv420p"
        if audio_codec:
            rate = 48000 if "opus" in audio_codec else RATE  # Opus runs at 48 kHz
            sound = container.add_stream(audio_codec, rate=rate, layout="stereo")
        if video is not None:
            for k in range(25):
                picture = np.full((32, 32, 3), 8 * k, np.uint8)
                container.mux(video.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
            container.mux(video.encode(None))
        if sound is not None:
            stereo = np.stack([
                _tone() if left is None else left,
                np.zeros(RATE, np.float32) if right is None else right,
            ])  # fmt: skip
            for start in range(0, RATE, 1000):  # the encoder resamples and re-frames
                chunk = np.ascontiguousarray(stereo[:, start : start + 1000])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                frame.sample_rate, frame.pts, frame.time_base = RATE, start, Fraction(1, RATE)
                container.mux(sound.encode(frame))
            container.mux(sound.encode(None))
    return path


def _peak_hz(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(signal.size)))
    return float(np.fft.rfftfreq(signal.size, 1 / rate)[spectrum.argmax()])


CONTAINERS = [  # name, audio codec, video codec
    ("clip.mp4", "aac", "mpeg4"),
    ("clip.avi", "mp3", "mpeg4"),
    ("clip.mkv", "pcm_s16le", None),
    ("flac.mkv", "flac", "mpeg4"),
    ("clip.webm", "libopus", "libvpx"),
    ("clip.mov", "aac", "mpeg4"),
    ("clip.m4a", "aac", None),
]


@pytest.mark.parametrize(("name", "audio_codec", "video_codec"), CONTAINERS)
def test_the_tone_of_a_video_comes_back_mono_at_16k(tmp_path, name, audio_codec, video_codec):
    path = write_media(tmp_path / name, audio_codec, video_codec)
    signal, rate = load_audio(path, 16000)
    assert rate == 16000 and signal.dtype == np.float32 and signal.ndim == 1
    # Encoders pad to whole codec frames (AAC 1024 samples, MP3 1152 and a decoder delay).
    assert 16000 <= signal.size <= 16800, signal.size
    assert abs(_peak_hz(signal, rate) - TONE_HZ) < 3
    # Channels are averaged: the tone in the left channel only comes back at half amplitude.
    middle = signal[2000:14000]
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.1)


def test_a_pcm_track_equals_the_same_audio_as_wav(tmp_path):
    soundfile = pytest.importorskip("soundfile")
    left, right = _tone(0.5), _tone(0.25)
    video = write_media(tmp_path / "clip.mkv", "pcm_s16le", "mpeg4", left=left, right=right)
    wav = tmp_path / "clip.wav"
    soundfile.write(wav, np.stack([left, right], axis=1), RATE, subtype="PCM_16")
    for sample_rate in (16000, None):
        from_video, video_rate = load_audio(video, sample_rate)
        from_wav, wav_rate = load_audio(wav, sample_rate)
        assert video_rate == wav_rate == (sample_rate or RATE)
        np.testing.assert_allclose(from_video, from_wav, atol=1e-4)
    native, _ = load_audio(video, None)
    np.testing.assert_allclose(native, (left + right) / 2, atol=1e-4)


def test_a_video_without_audio_names_the_file(tmp_path):
    path = write_media(tmp_path / "mute.mp4", None, "mpeg4")
    with pytest.raises(ValueError, match=r"mute\.mp4: the container has no audio stream"):
        load_audio(path)


def test_truncated_and_garbage_files_raise(tmp_path):
    whole = write_media(tmp_path / "whole.mp4", "aac", "mpeg4")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])  # the index is at the end
    with pytest.raises(ValueError, match=r"cut\.mp4: cannot (open|decode)"):
        load_audio(cut)
    junk = tmp_path / "junk.mkv"
    junk.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ValueError, match=r"junk\.mkv: cannot (open|decode)"):
        load_audio(junk)
    bad_wav = tmp_path / "bad.wav"
    bad_wav.write_bytes(b"RIFF not really a wave file")
    with pytest.raises(ValueError, match=r"bad\.wav.*libsndfile"):  # both readers tried
        load_audio(bad_wav)


def test_missing_pyav_names_the_extra(tmp_path, monkeypatch):
    video = write_media(tmp_path / "clip.mp4", "aac", None)
    bad_wav = tmp_path / "bad.wav"
    bad_wav.write_bytes(b"RIFF not really a wave file")
    monkeypatch.setitem(sys.modules, "av", None)  # makes `import av` fail
    with pytest.raises(ImportError, match=r"pip install 'holistic\[audio\]'"):
        load_audio(video)
    with pytest.raises(ValueError, match=r"bad\.wav: cannot decode audio"):  # not ImportError
        load_audio(bad_wav)


# --- the Aff-Wild2 audio folder ----------------------------------------------------------------


def _affwild2_tree(root):
    """VA files for v9_left, v9_right (source video v9) and solo; two frames each at 25 fps."""
    for video in ("v9_left", "v9_right", "solo"):
        write_lines(
            root / f"VA_Set/Train_Set/{video}.txt", ["valence,arousal", "0.1,0.2", "0.3,0.4"]
        )
        for frame in (1, 2):
            write_image(root / "cropped_aligned" / video / f"{frame:05d}.jpg", 40 * frame)


def test_affwild2_finds_videos_and_prefers_a_wav(tmp_path):
    soundfile = pytest.importorskip("soundfile")
    pytest.importorskip("opensmile", reason="opensmile is not installed")
    root, audio = tmp_path / "affwild2", tmp_path / "affwild2" / "videos"
    _affwild2_tree(root)
    audio.mkdir()
    write_media(audio / "v9.mp4", "aac", "mpeg4")
    soundfile.write(audio / "solo.wav", _tone(), RATE)
    write_media(audio / "solo.mp4", None, "mpeg4")  # no audio: rejected if it were chosen

    samples, rejects = split_items(ADAPTER(root, None, audio=audio, fps="25"))
    assert rejects == []
    assert {s.video: s.audio for s in samples} == {
        "v9_left": audio / "v9.mp4",
        "v9_right": audio / "v9.mp4",
        "solo": audio / "solo.wav",
    }
    assert sorted({s.audio_time for s in samples}) == [0.0, 0.04]

    out = tmp_path / "out"
    result = federate(ADAPTER, root, out, options={"audio": str(audio), "fps": "25"}, size=32,
                      progress=False)  # fmt: skip
    train = result.entry["splits"]["train"]
    assert train["samples"] == 6 and train["tasks"]["audio"] == 6
    assert "unreadable_audio" not in train.get("rejects", {})
    with tarfile.open(next(out.glob("affwild2-train-*.tar"))) as tar:
        keys = [name.removesuffix(".json") for name in tar.getnames() if name.endswith(".json")]
        assert len(keys) == 6
        for key in keys:
            record = json.loads(tar.extractfile(f"{key}.json").read())
            assert record["audio_features"] == ["egemaps", "mel"]
            mel = np.load(io.BytesIO(tar.extractfile(f"{key}.mel.npy").read()))
            assert mel.shape[0] == 64 and mel.max() > 0.5  # the tone is heard at every frame
