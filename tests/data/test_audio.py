"""Audio features per video frame, on synthetic signals: a tone that grows louder, a click."""

import sys

import numpy as np
import pytest

from holistic.data import audio
from holistic.data.audio import (
    egemaps_feature_names,
    egemaps_frames,
    frame_times,
    load_audio,
    mel_window_columns,
    mel_windows,
)

SR = 16000
FPS = 25


def _needs(name: str) -> None:
    pytest.importorskip(name, reason=f"{name} is not installed (pip install 'holistic[audio]')")


@pytest.fixture(scope="module")
def ramp():
    """A 4 s, 440 Hz tone whose amplitude grows linearly from 0.01 to 0.8."""
    t = np.arange(4 * SR) / SR
    return (np.sin(2 * np.pi * 440 * t) * np.linspace(0.01, 0.8, t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def click():
    """3 s of silence with a single-sample click at exactly 1.0 s."""
    signal = np.zeros(3 * SR, np.float32)
    signal[SR] = 1.0
    return signal


def _increasing(values: np.ndarray) -> bool:
    """Each quarter of the sequence is higher on average than the one before."""
    quarters = [part.mean() for part in np.array_split(values, 4)]
    return bool(np.all(np.diff(quarters) > 0))


def test_frame_times():
    np.testing.assert_allclose(frame_times(4, 25), [0.0, 0.04, 0.08, 0.12])
    np.testing.assert_allclose(frame_times(2, 25, position="centre"), [0.02, 0.06])
    np.testing.assert_allclose(frame_times(2, 50, offset_s=1.0), [1.0, 1.02])
    assert frame_times(0, 30).shape == (0,)
    with pytest.raises(ValueError, match="fps"):
        frame_times(3, 0)


def test_mel_windows_shape_range_and_loudness_ramp(ramp):
    _needs("librosa")
    times = frame_times(100, FPS)
    windows = mel_windows(ramp, SR, times, n_mels=48)
    columns = mel_window_columns(SR)
    assert columns == 11
    assert windows.shape == (100, 48, columns) and windows.dtype == np.float32
    assert windows.min() >= -1.0 and windows.max() <= 1.0
    energy = windows[:, :, columns // 2].mean(1)  # the column at each frame's own time
    assert _increasing(energy)
    assert np.corrcoef(energy[5:], np.arange(95))[0, 1] > 0.9
    # The tone's band carries the energy, and most bands stay quiet.
    assert windows[50].mean(1).argmax() < 20


def test_mel_windows_pad_the_edges_with_silence(ramp):
    _needs("librosa")
    duration = ramp.size / SR
    times = np.array([0.0, duration / 2, duration + 1.0])
    windows = mel_windows(ramp, SR, times, window_s=0.22)
    half = windows.shape[2] // 2
    assert (windows[0, :, :half] == -1.0).all()  # before the signal starts
    assert (windows[0, :, half:] > -1.0).any()
    assert (windows[1] > -1.0).any(axis=0).all()  # inside: every column sees the tone
    assert (windows[2] == -1.0).all()  # a frame after the audio ends


def test_a_click_shows_up_in_the_window_of_its_frame(click):
    _needs("librosa")
    windows = mel_windows(click, SR, frame_times(75, FPS))  # frame 25 starts at 1.0 s
    band_energy = windows.mean(1)  # [T, W]
    assert band_energy[25].argmax() == windows.shape[2] // 2  # the centre column
    loud = np.flatnonzero(windows.max(axis=(1, 2)) > 0.5)
    # Frames whose window (about +-0.11 s) reaches 1.0 s, and only those.
    assert loud.min() >= 22 and loud.max() <= 28 and 25 in loud
    assert windows[10].max() < -0.9 and windows[40].max() < -0.9


def test_mel_windows_of_silence_are_minus_one():
    _needs("librosa")
    windows = mel_windows(np.zeros(SR, np.float32), SR, frame_times(10, FPS))
    assert (windows == -1.0).all()
    with pytest.raises(ValueError, match="mono"):
        mel_windows(np.zeros((2, SR), np.float32), SR, [0.0])


def test_egemaps_loudness_grows_with_the_ramp(ramp):
    _needs("opensmile")
    names = egemaps_feature_names()
    assert len(names) == 25 and names[0] == "Loudness_sma3"
    times = frame_times(100, FPS)
    nearest = egemaps_frames(ramp, SR, times)
    assert nearest.shape == (100, 25) and nearest.dtype == np.float32
    assert _increasing(nearest[:, 0])
    assert np.corrcoef(nearest[:, 0], times)[0, 1] > 0.95
    averaged = egemaps_frames(ramp, SR, times, span_s=1 / FPS)
    assert averaged.shape == (100, 25)
    # Means over 40 ms are smoother than single rows, and close to them.
    assert np.abs(np.diff(averaged[:, 0], 2)).mean() < np.abs(np.diff(nearest[:, 0], 2)).mean()
    np.testing.assert_allclose(averaged[:, 0], nearest[:, 0], atol=0.1)


def test_egemaps_click_lands_on_its_frame_and_edges_are_clamped(click):
    _needs("opensmile")
    times = frame_times(75, FPS)
    loudness = egemaps_frames(click, SR, times)[:, 0]
    assert loudness.argmax() == 25
    late = egemaps_frames(click, SR, [-1.0, 10.0])
    first_last = egemaps_frames(click, SR, [0.01, 2.99])
    np.testing.assert_array_equal(late, first_last)  # outside the signal: first / last row
    with pytest.raises(ValueError, match="too short"):
        egemaps_frames(np.zeros(100, np.float32), SR, [0.0])


def test_load_audio_resamples_and_mixes_down(tmp_path, ramp):
    _needs("librosa")
    soundfile = pytest.importorskip("soundfile", reason="soundfile (librosa's reader) is missing")
    stereo = np.stack([ramp, -ramp], axis=1)[: 2 * SR]
    stereo[:, 1] = stereo[:, 0]  # identical channels: the mono mix equals either one
    path = tmp_path / "clip.wav"
    soundfile.write(path, stereo, SR)
    signal, rate = load_audio(path, sample_rate=8000)
    assert rate == 8000 and signal.dtype == np.float32 and signal.ndim == 1
    assert signal.size == 2 * 8000
    native, native_rate = load_audio(path, sample_rate=None)
    assert native_rate == SR
    np.testing.assert_allclose(native, stereo[:, 0], atol=1e-4)


def test_load_audio_errors_say_what_to_do(tmp_path):
    _needs("librosa")
    with pytest.raises(FileNotFoundError, match="no such audio file"):
        load_audio(tmp_path / "missing.wav")
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    with pytest.raises(ValueError, match="ffmpeg"):
        load_audio(video)


def test_missing_librosa_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "librosa", None)  # makes `import librosa` fail
    with pytest.raises(ImportError, match=r"pip install 'holistic\[audio\]'"):
        audio.mel_windows(np.zeros(SR, np.float32), SR, [0.0])
