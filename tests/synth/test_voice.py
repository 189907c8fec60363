"""The synthetic voice: eGeMAPS loudness and F0 follow arousal strongly and valence weakly."""

import time

import numpy as np
import pytest

from holistic.data.audio import egemaps_feature_names, egemaps_frames, frame_times, mel_windows
from holistic.synth.voice import synthesize_voice

FPS = 25.0
FRAMES = 1000  # 40 s
RATE = 16000


def _ramp_clip():
    """Arousal ramps from -1 to 1; valence oscillates, uncorrelated with the ramp (even vs odd)."""
    u = np.linspace(-1.0, 1.0, FRAMES)
    return np.stack([0.8 * np.cos(4 * np.pi * u), u], axis=1)


@pytest.fixture(scope="module")
def features():
    va = _ramp_clip()
    signal = synthesize_voice(va, FPS, RATE, rng=np.random.default_rng(1))
    names = egemaps_feature_names()
    times = frame_times(FRAMES, FPS)
    smooth = egemaps_frames(signal, RATE, times, span_s=1.0)  # 1 s means: over syllables
    nearest = egemaps_frames(signal, RATE, times)
    loudness = smooth[:, names.index("Loudness_sma3")]
    f0 = nearest[:, names.index("F0semitoneFrom27.5Hz_sma3nz")]
    return va, signal, loudness, f0


def test_length_range_and_type(features):
    va, signal, _, _ = features
    assert signal.dtype == np.float32 and signal.ndim == 1
    assert len(signal) == round(FRAMES / FPS * RATE)
    assert np.abs(signal).max() <= 1.0
    assert np.abs(signal).max() > 0.1  # not silent
    assert len(synthesize_voice(va[:7], 30.0, 8000)) == round(7 / 30 * 8000)


def test_no_clipping_at_the_extremes():
    for arousal, valence in ((1.0, 1.0), (1.0, -1.0), (-1.0, -1.0)):
        va = np.tile([valence, arousal], (50, 1))
        assert np.abs(synthesize_voice(va, 25.0)).max() <= 0.95


def test_loudness_follows_arousal_not_valence(features):
    va, _, loudness, _ = features
    assert np.corrcoef(loudness, va[:, 1])[0, 1] > 0.8
    assert abs(np.corrcoef(loudness, va[:, 0])[0, 1]) < 0.3


def test_pitch_follows_arousal_strongly_and_valence_weakly(features):
    va, _, _, f0 = features
    voiced = f0 > 0  # openSMILE writes 0 where unvoiced (pauses, syllable edges)
    assert voiced.mean() > 0.6
    assert np.corrcoef(f0[voiced], va[voiced, 1])[0, 1] > 0.8
    assert abs(np.corrcoef(f0[voiced], va[voiced, 0])[0, 1]) < 0.3
    design = np.column_stack([va[voiced, 1], va[voiced, 0], np.ones(voiced.sum())])
    slope_arousal, slope_valence, _ = np.linalg.lstsq(design, f0[voiced], rcond=None)[0]
    assert slope_arousal > 3.5  # semitones per unit of arousal
    assert 0.2 < slope_valence < slope_arousal / 3


def test_pitch_varies_more_at_high_arousal():
    names = egemaps_feature_names()
    spread = {}
    for arousal in (-0.8, 0.8):
        va = np.tile([0.0, arousal], (500, 1))  # 20 s of constant affect
        signal = synthesize_voice(va, FPS, RATE, rng=np.random.default_rng(2))
        f0 = egemaps_frames(signal, RATE, frame_times(500, FPS))[
            :, names.index("F0semitoneFrom27.5Hz_sma3nz")
        ]
        spread[arousal] = f0[f0 > 0].std()
    assert spread[0.8] > 2 * spread[-0.8]


def test_mel_energy_follows_arousal(features):
    va, signal, _, _ = features
    mel = mel_windows(signal, RATE, frame_times(FRAMES, FPS))
    energy = mel.mean(axis=(1, 2))
    assert np.corrcoef(energy, va[:, 1])[0, 1] > 0.5


def test_deterministic_and_seeded():
    va = _ramp_clip()[:100]
    first = synthesize_voice(va, FPS, rng=np.random.default_rng(3))
    again = synthesize_voice(va, FPS, rng=np.random.default_rng(3))
    other = synthesize_voice(va, FPS, rng=np.random.default_rng(4))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert np.array_equal(synthesize_voice(va, FPS), synthesize_voice(va, FPS))


def test_fast():
    va = np.stack([np.zeros(1500), np.linspace(-1, 1, 1500)], axis=1)  # 60 s at 25 fps
    synthesize_voice(va[:50], 25.0)
    start = time.perf_counter()
    synthesize_voice(va, 25.0)
    assert time.perf_counter() - start < 1.5  # typically ~0.2 s; generous for slow CI


@pytest.mark.parametrize(
    ("va", "fps", "rate", "message"),
    [
        (np.zeros((10, 3)), 25.0, RATE, "shape"),
        (np.full((10, 2), np.nan), 25.0, RATE, "NaN"),
        (np.zeros((10, 2)), 0.0, RATE, "fps"),
        (np.zeros((10, 2)), 25.0, 100, "sample_rate"),
    ],
)
def test_bad_arguments_are_rejected(va, fps, rate, message):
    with pytest.raises(ValueError, match=message):
        synthesize_voice(va, fps, rate)
