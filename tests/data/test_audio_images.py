"""The AViGaS audio image: a 128-band mel spectrogram crop of 128 columns around each frame,
at 22,050 Hz, in dB relative to the peak, as 3 channels."""

import numpy as np
import pytest

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
