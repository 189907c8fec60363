"""A synthetic voice whose prosody follows valence and arousal.

:func:`synthesize_voice` turns a per-frame (valence, arousal) track into a speech-like mono signal:
additive synthesis of the first :data:`NUM_HARMONICS` harmonics of a pitch contour, shaped by a
spectral tilt and by three formant resonances that change vowel every syllable, under a
syllable-rate amplitude envelope with short pauses between phrases. The mapping (per unit of
arousal a or valence v, both in [-1, 1]):

================  ==========================  =========================
cue               arousal                     valence
================  ==========================  =========================
level             +12 dB per unit             +1 dB per unit
mean F0           +5 semitones per unit       +1 semitone per unit
F0 variability    intonation depth 0.5-3 st   —
brightness        spectral tilt -0.5/unit     spectral tilt -0.1/unit
speaking rate     syllables 4.5 +- 1 Hz       —
================  ==========================  =========================

Arousal drives every cue strongly and valence only weakly, as in speech-emotion studies (Scherer
2003; Juslin & Laukka 2003): audio carries arousal much better than valence, and better than a
face does. Deterministic for a given ``rng`` state; vectorised numpy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["NUM_HARMONICS", "synthesize_voice"]

#: Harmonics of the additive source.
NUM_HARMONICS: int = 24

_BASE_F0_HZ = 125.0
_F0_ST_PER_AROUSAL = 5.0
_F0_ST_PER_VALENCE = 1.0
_DB_PER_AROUSAL = 12.0
_DB_PER_VALENCE = 1.0
_TILT = 1.3  # harmonic k has amplitude k ** -tilt at neutral affect
_TILT_PER_AROUSAL = -0.5
_TILT_PER_VALENCE = -0.1
_SYLLABLE_HZ = 4.5
_SYLLABLE_HZ_PER_AROUSAL = 1.0
_INTONATION_KNOT_S = 0.3  # spacing of the random pitch-contour knots
_PHRASE_S = (1.0, 3.0)
_PAUSE_S = (0.15, 0.45)
_PAUSE_RAMP_S = 0.03
_CONTROL_HOP = 80  # samples between harmonic-weight updates (5 ms at 16 kHz)
_NOISE_FLOOR = 3e-4  # breath/room noise, keeps pauses off digital silence
_PEAK = 0.9  # largest amplitude the harmonic part can reach
# Peterson & Barney (1952) male vowel formants F1-F3 (Hz): /a/, /i/, /u/, /e/, /o/.
_VOWELS = np.array(
    [
        [730.0, 1090.0, 2440.0],
        [270.0, 2290.0, 3010.0],
        [300.0, 870.0, 2240.0],
        [530.0, 1840.0, 2480.0],
        [570.0, 840.0, 2410.0],
    ]
)
_BANDWIDTHS = np.array([90.0, 110.0, 170.0])


def synthesize_voice(
    va: np.ndarray,
    fps: float,
    sample_rate: int = 16000,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """A speech-like voice whose loudness, pitch and pitch variability follow arousal.

    Args:
        va: ``[T, 2]`` per-frame (valence, arousal) in [-1, 1] (values outside are clipped);
            frame i sits at time i / fps and the controls are interpolated linearly between.
        fps: video frames per second (> 0).
        sample_rate: output rate in Hz (>= 8000).
        rng: random generator for the syllables, vowels, pauses and intonation; None uses a
            fixed seed (so the voice is a function of ``va`` alone).

    Returns:
        ``float32 [round(T / fps * sample_rate)]`` with ``|x| <= 1``.

    Raises:
        ValueError: ``va`` not of shape [T, 2] or not finite; bad ``fps`` or ``sample_rate``.
    """
    controls = np.asarray(va, dtype=np.float64)
    if controls.ndim != 2 or controls.shape[1] != 2:
        raise ValueError(f"va must have shape [T, 2], got {list(controls.shape)}")
    if not np.isfinite(controls).all():
        raise ValueError("va contains NaN or infinite values")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be at least 8000 Hz, got {sample_rate}")
    rng = np.random.default_rng(0) if rng is None else rng
    num_samples = round(len(controls) / fps * sample_rate)
    if num_samples == 0:
        return np.zeros(0, dtype=np.float32)
    t = np.arange(num_samples) / sample_rate
    frames = np.arange(len(controls)) / fps
    valence = np.interp(t, frames, np.clip(controls[:, 0], -1.0, 1.0))
    arousal = np.interp(t, frames, np.clip(controls[:, 1], -1.0, 1.0))

    syllable_phase = np.cumsum(_SYLLABLE_HZ + _SYLLABLE_HZ_PER_AROUSAL * arousal) / sample_rate
    f0 = _pitch(rng, t, valence, arousal)
    source = _harmonics(rng, f0, syllable_phase, valence, arousal, sample_rate)
    envelope = np.sin(np.pi * syllable_phase) ** 2 * _phrases(rng, t, sample_rate)
    gain_db = _DB_PER_AROUSAL * (arousal - 1.0) + _DB_PER_VALENCE * (valence - 1.0)
    voice = _PEAK * 10.0 ** (gain_db / 20.0) * envelope * source  # gain <= 1 at a = v = 1
    voice += _NOISE_FLOOR * rng.standard_normal(num_samples)
    return np.clip(voice, -1.0, 1.0).astype(np.float32)


def _pitch(
    rng: np.random.Generator, t: np.ndarray, valence: np.ndarray, arousal: np.ndarray
) -> np.ndarray:
    """F0 in Hz: a mean set by arousal (and valence), plus intonation whose depth grows with
    arousal (random knots every ``_INTONATION_KNOT_S`` seconds, interpolated)."""
    knots = np.arange(0.0, t[-1] + 2 * _INTONATION_KNOT_S, _INTONATION_KNOT_S)
    contour = np.interp(t, knots, rng.uniform(-1.0, 1.0, len(knots)))
    depth = 1.75 + 1.25 * arousal  # semitones: 0.5 at a = -1, 3 at a = +1
    semitones = _F0_ST_PER_AROUSAL * arousal + _F0_ST_PER_VALENCE * valence + depth * contour
    return _BASE_F0_HZ * 2.0 ** (semitones / 12.0)


def _harmonics(
    rng: np.random.Generator,
    f0: np.ndarray,
    syllable_phase: np.ndarray,
    valence: np.ndarray,
    arousal: np.ndarray,
    sample_rate: int,
) -> np.ndarray:
    """Sum of harmonics of ``f0`` weighted by tilt and formants, normalised to |x| <= 1.

    The harmonic weights change slowly, so they are computed every ``_CONTROL_HOP`` samples and
    interpolated; sin(k phase) comes from the Chebyshev recurrence instead of k sine calls.
    """
    control = np.arange(0, len(f0) + _CONTROL_HOP, _CONTROL_HOP).clip(max=len(f0) - 1)
    syllable = np.floor(syllable_phase[control]).astype(np.int64)
    vowel = rng.integers(len(_VOWELS), size=int(syllable[-1]) + 1)[syllable]
    formants = _VOWELS[vowel]  # [M, 3]
    tilt = _TILT + _TILT_PER_AROUSAL * arousal[control] + _TILT_PER_VALENCE * valence[control]
    k = np.arange(1, NUM_HARMONICS + 1)
    frequency = f0[control][:, None] * k  # [M, K]
    distance = (frequency[:, :, None] - formants[:, None, :]) / _BANDWIDTHS  # [M, K, 3]
    resonance = 0.15 + (1.0 / (1.0 + distance**2)).sum(axis=2)
    weights = k ** -tilt[:, None] * resonance * (frequency < 0.45 * sample_rate)
    weights /= weights.sum(axis=1, keepdims=True)  # so that |source| <= 1

    # Work on [M - 1, hop] blocks so weights interpolate by broadcasting, not gathering.
    blocks = len(control) - 1
    padded = np.zeros(blocks * _CONTROL_HOP)
    padded[: len(f0)] = 2.0 * np.pi * np.cumsum(f0) / sample_rate
    phase = padded.reshape(blocks, _CONTROL_HOP)
    fraction = np.arange(_CONTROL_HOP) / _CONTROL_HOP
    twice_cos = 2.0 * np.cos(phase)
    previous, current = np.zeros_like(phase), np.sin(phase)
    total = np.zeros_like(phase)
    for j in range(NUM_HARMONICS):  # current = sin((j + 1) phase)
        start, step = weights[:-1, j, None], (weights[1:, j] - weights[:-1, j])[:, None]
        total += (start + step * fraction) * current
        previous, current = current, twice_cos * current - previous
    total = total.reshape(-1)[: len(f0)]
    return total


def _phrases(rng: np.random.Generator, t: np.ndarray, sample_rate: int) -> np.ndarray:
    """1 during phrases, 0 in the short pauses after each, with ``_PAUSE_RAMP_S`` ramps."""
    count = int((t[-1] + 1.0) / (_PHRASE_S[0] + _PAUSE_S[0])) + 2
    phrase = rng.uniform(*_PHRASE_S, count)
    pause = rng.uniform(*_PAUSE_S, count)
    pause_end = np.cumsum(phrase + pause)
    pause_start = pause_end - pause
    index = np.searchsorted(pause_end, t, side="right")  # the pause that ends next
    speaking = (t < pause_start[index]).astype(np.float64)
    width = max(1, round(_PAUSE_RAMP_S * sample_rate))
    sums = np.concatenate([[0.0], np.cumsum(speaking)])
    low = np.clip(np.arange(len(t)) - width // 2, 0, len(t))
    high = np.clip(low + width, 0, len(t))
    return (sums[high] - sums[low]) / np.maximum(high - low, 1)  # moving average: linear ramps
