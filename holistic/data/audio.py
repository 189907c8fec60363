"""Audio features aligned to video frames: log-mel spectrogram windows and eGeMAPS descriptors.

Every feature is computed once for the whole recording and then sampled at the video frames'
times (:func:`frame_times`), so a clip of any length costs one spectrogram and one openSMILE pass.

* :func:`mel_windows`: for each frame, a window of log-mel spectrogram columns centred on the
  frame's time, ``float32 [T, n_mels, W]`` in [-1, 1]. The defaults follow the FaceBehaviorNet
  paper's audio pre-processing (spectrograms over 33 ms windows with 11 ms overlap, normalised to
  [-1, 1]).
* :func:`egemaps_frames`: openSMILE's 25 eGeMAPSv02 low-level descriptors (10 ms hop), the row
  nearest each frame's time (or the mean over a span around it), ``float32 [T, 25]``.
* :func:`mel_images`: the AViGaS audio image, a 128-band mel spectrogram crop of 128 columns
  around each frame at 22,050 Hz, as 3 channels, ``float32 [T, 3, 128, 128]``;
  :func:`mel_image_frames` is its one channel area-averaged to ``size x size``, what a shard
  stores as ``mel_image`` when :attr:`AudioSettings.mel_image_size` is set.

Signals are mono ``float32`` arrays (:func:`load_audio` reads WAV/FLAC/OGG with libsndfile and
the audio track of videos, mp4/avi/mkv/..., with PyAV). librosa, opensmile and PyAV come with the
``audio`` extra (``pip install 'holistic[audio]'``) and are imported on first use.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "AUDIO_SETTINGS",
    "AudioSettings",
    "CONTAINER_SUFFIXES",
    "EGEMAPS_HOP_S",
    "context_windows",
    "egemaps_feature_names",
    "egemaps_frames",
    "frame_audio_features",
    "frame_times",
    "load_audio",
    "mel_image_frames",
    "mel_images",
    "mel_window_columns",
    "mel_windows",
    "recording_features",
    "resample",
]

_AUDIO_EXTRA = "pip install 'holistic[audio]'"

#: Hop of openSMILE's eGeMAPSv02 low-level descriptors, in seconds (their frames are 20 ms long;
#: F0, jitter and shimmer look at 60 ms).
EGEMAPS_HOP_S = 0.01
_EGEMAPS_FRAME_S = 0.02
_EGEMAPS_MIN_S = 0.06  # openSMILE returns one row of NaN for anything shorter
_POWER_FLOOR = 1e-10  # power below this (-100 dB) counts as silence


@dataclasses.dataclass(frozen=True)
class AudioSettings:
    """How a conversion computes the per-frame audio features it stores: recorded in the
    manifest (``settings.audio_features`` of each source) and in every audio shard's digest,
    so features made with other settings are never reused, and two sources whose features
    differ are not mixed silently (:meth:`holistic.data.federation.Federation.audio_settings`).

    Attributes:
        sample_rate: the rate the recording is resampled to before ``mel`` and ``egemaps``, Hz.
        mel_bands, mel_window_s, mel_fft_window_s, mel_hop_s, mel_top_db: :func:`mel_windows`'s
            ``n_mels``, ``window_s``, ``win_s``, ``hop_s`` and ``top_db``.
        egemaps: the openSMILE feature set and level of :func:`egemaps_frames`.
        mel_image_size: also store the AViGaS audio image of every frame as ``mel_image``,
            ``float16 [size, size]`` (:func:`mel_image_frames`: the paper's 128 x 128 image from
            the recording at its own rate, one channel, area-averaged to ``size``, so a small
            image still spans the 3 s around the frame); 0 (default): not stored. From 4 to 128.
    """

    sample_rate: int = 16000
    mel_bands: int = 64
    mel_window_s: float = 0.22
    mel_fft_window_s: float = 0.033
    mel_hop_s: float = 0.022
    mel_top_db: float = 80.0
    egemaps: str = "eGeMAPSv02 low-level descriptors"
    mel_image_size: int = 0

    def __post_init__(self) -> None:
        numbers = (self.sample_rate, self.mel_bands, self.mel_fft_window_s, self.mel_hop_s,
                   self.mel_top_db)  # fmt: skip
        if min(numbers) <= 0 or self.mel_window_s < 0:
            raise ValueError(f"audio settings must be positive (mel_window_s >= 0): {self}")
        if self.egemaps != AudioSettings.egemaps:
            raise ValueError(
                f"audio settings: egemaps {self.egemaps!r} is not computed here; only "
                f"{AudioSettings.egemaps!r}"
            )
        size = self.mel_image_size
        whole = isinstance(size, int) and not isinstance(size, bool)
        if not whole or not (size == 0 or 4 <= size <= MEL_IMAGE_SIDE):
            raise ValueError(
                f"audio settings: mel_image_size must be 0 (no audio image) or an integer from 4 "
                f"to {MEL_IMAGE_SIDE} (the side the {MEL_IMAGE_SIDE} x {MEL_IMAGE_SIDE} image is "
                f"area-averaged to), got {size!r}"
            )

    def to_json(self) -> dict[str, Any]:
        """The settings as JSON. ``mel_image_size`` is left out at 0, so conversions made before
        it existed keep their digests (and are not rebuilt)."""
        data = dataclasses.asdict(self)
        if not self.mel_image_size:
            del data["mel_image_size"]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "audio settings") -> AudioSettings:
        """Settings from their JSON (a manifest's, a model's).

        Raises:
            ValueError: unknown keys or bad values, naming ``where``.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


#: The settings conversions use unless told otherwise.
AUDIO_SETTINGS = AudioSettings()


def frame_audio_features(
    path: str | Path, times: Any, settings: AudioSettings = AUDIO_SETTINGS
) -> dict[str, np.ndarray]:
    """The features a shard stores for frames at ``times`` of the recording at ``path``:
    ``{"mel": float16 [T, mel_bands, W], "egemaps": float32 [T, 25]}``, and with
    ``settings.mel_image_size`` also ``"mel_image": float16 [T, size, size]``
    (:func:`mel_image_frames`, from the recording at its own rate), made as ``settings`` say.

    Raises:
        FileNotFoundError, ValueError: as :func:`load_audio`.
    """
    recording, own_rate = load_audio(path, None)
    return recording_features(recording, own_rate, times, settings)


def recording_features(
    recording: np.ndarray, own_rate: int, times: Any, settings: AudioSettings = AUDIO_SETTINGS
) -> dict[str, np.ndarray]:
    """:func:`frame_audio_features` of a recording already read (:func:`load_audio` with
    ``sample_rate=None``: mono at its own rate)."""
    signal, rate = resample(recording, own_rate, settings.sample_rate)
    mel = mel_windows(
        signal,
        rate,
        times,
        window_s=settings.mel_window_s,
        win_s=settings.mel_fft_window_s,
        hop_s=settings.mel_hop_s,
        n_mels=settings.mel_bands,
        top_db=settings.mel_top_db,
    )
    features = {"mel": mel.astype("float16"), "egemaps": egemaps_frames(signal, rate, times)}
    if settings.mel_image_size:
        images = mel_image_frames(recording, own_rate, times, settings.mel_image_size)
        features["mel_image"] = images.astype("float16")
    return features


def context_windows(
    features: np.ndarray | None,
    present: np.ndarray | None,
    length: int,
    fill: np.ndarray,
    frames: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``[T, frames F]``: the raw audio context of every frame of a run of ``length`` frames
    (frames t - frames // 2 ... t + frames // 2, the run's first and last frames repeated at its
    edges), what AEG-CD-SZ takes; and ``[T]`` whether each frame has audio. A frame without it
    counts as ``fill`` (the training mean the model was saved with) in its own and its
    neighbours' context.

    Args:
        features: ``[T, F]``, anything where a frame has none, or None when no frame has audio.
        present: ``[T]`` bool, which frames have audio (None with ``features``).
        fill: ``[F]``.
        frames: an odd context length (the frame in the middle).
    """
    if features is None or present is None:
        return np.tile(fill, (length, frames)).astype(np.float32), np.zeros(length, bool)
    present = np.asarray(present, bool)
    filled = np.where(present[:, None], features, fill[None, :])
    side = frames // 2
    padded = np.concatenate([filled[:1].repeat(side, 0), filled, filled[-1:].repeat(side, 0)])
    windows = np.stack([padded[t : t + frames].reshape(-1) for t in range(len(filled))])
    return windows.astype(np.float32), present


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(
            f"audio features need {name}, which is not installed: {_AUDIO_EXTRA}"
        ) from error


#: Suffixes read through PyAV (FFmpeg) rather than libsndfile: video and MPEG-4 audio containers.
CONTAINER_SUFFIXES: tuple[str, ...] = (".mp4", ".m4a", ".mov", ".avi", ".mkv", ".webm")


def load_audio(path: str | Path, sample_rate: int | None = 16000) -> tuple[np.ndarray, int]:
    """Read an audio file, or the audio track of a video, as a mono ``float32`` signal.

    Files whose suffix is one of :data:`CONTAINER_SUFFIXES` (mp4, m4a, mov, avi, mkv, webm) are
    decoded with PyAV, which bundles FFmpeg: the first audio stream, from its first decoded
    sample to its last. Everything else goes to libsndfile (WAV, FLAC, OGG, ...), and to PyAV
    when libsndfile cannot decode it and PyAV is installed. Either way the channels are averaged
    and the signal is resampled with librosa (soxr), so a video and the WAV extracted from it
    give the same signal. A stream that starts later than the video (its ``start_time``) is
    not padded: sample 0 is the track's first sample, as in a track extracted with ffmpeg.

    Args:
        path: the audio file or video.
        sample_rate: output rate in Hz; None keeps the file's own rate.

    Returns:
        ``(signal, sample_rate)``: ``float32 [N]`` in [-1, 1] (channels averaged) and its rate.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a file that does not decode, or a video without an audio stream (the
            message names the file and what is wrong); never silence in their place.
        ImportError: a video container and PyAV is not installed (``pip install
            'holistic[audio]'``).
    """
    _import("librosa")  # the audio extra, checked before any file is read
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such audio file")
    if sample_rate is not None and sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if path.suffix.lower() in CONTAINER_SUFFIXES:
        signal, rate = _read_container(path, _import_av(path))
    else:
        signal, rate = _read_sound_file(path)
    return resample(signal, rate, sample_rate)


def resample(signal: np.ndarray, rate: int, sample_rate: int | None) -> tuple[np.ndarray, int]:
    """``(signal, rate)`` resampled to ``sample_rate`` with librosa (soxr), as
    :func:`load_audio` does; unchanged (as contiguous ``float32``) when ``sample_rate`` is None
    or already ``rate``."""
    if sample_rate is not None and sample_rate != rate:
        signal = _import("librosa").resample(signal, orig_sr=rate, target_sr=sample_rate)
        rate = sample_rate
    return np.ascontiguousarray(signal, dtype=np.float32), int(rate)


def _import_av(path: Path) -> Any:
    try:
        return importlib.import_module("av")
    except ImportError as error:
        raise ImportError(
            f"{path}: reading audio from a video container needs PyAV (av), which is not "
            f"installed: {_AUDIO_EXTRA}"
        ) from error


def _read_sound_file(path: Path) -> tuple[np.ndarray, int]:
    """A file through libsndfile, or through PyAV when libsndfile cannot decode it."""
    soundfile = _import("soundfile")  # a dependency of librosa
    # libsndfile gets an open file, not a name: a name that is not valid UTF-8 (os.fsdecode's
    # surrogates) cannot be encoded for it, while Python opens it as any other.
    try:
        with path.open("rb") as handle:
            soundfile.info(handle)
    except (RuntimeError, soundfile.LibsndfileError) as error:
        try:
            av = importlib.import_module("av")
        except ImportError:
            raise ValueError(
                f"{path}: cannot decode audio ({error}). WAV, FLAC and OGG files are read "
                "directly; audio inside a video (mp4, avi, mkv, ...) needs PyAV, which is not "
                f"installed: {_AUDIO_EXTRA}"
            ) from error
        try:
            return _read_container(path, av)
        except ValueError as second:
            raise ValueError(f"{second} (libsndfile: {error})") from error
    with path.open("rb") as handle:
        data, rate = soundfile.read(handle, dtype="float32", always_2d=True)
    return data.mean(axis=1), int(rate)


def _read_container(path: Path, av: Any) -> tuple[np.ndarray, int]:
    """The first audio stream of ``path``, decoded with PyAV and averaged to mono, at its own
    rate. Every failure is a ValueError naming the file."""
    advice = "the file may be truncated or not a media file (`ffmpeg -i {}` shows what is wrong)"
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as error:
        raise ValueError(
            f"{path}: cannot open it with PyAV ({error}); {advice.format(path.name)}"
        ) from error
    with container:
        if not container.streams.audio:
            kinds = sorted({stream.type for stream in container.streams}) or ["none"]
            raise ValueError(
                f"{path}: the container has no audio stream (streams: {', '.join(kinds)})"
            )
        stream = container.streams.audio[0]
        # Planar float32 at the first frame's rate and layout, one row per channel (a stream
        # whose rate or layout changes midway fails here rather than mixing rates).
        to_float = av.AudioResampler(format="fltp")
        chunks: list[np.ndarray] = []
        rate = stream.rate
        try:
            for frame in container.decode(stream):
                for converted in to_float.resample(frame):
                    chunks.append(converted.to_ndarray().mean(axis=0))
                    rate = converted.sample_rate
            for converted in to_float.resample(None):
                chunks.append(converted.to_ndarray().mean(axis=0))
        except (av.error.FFmpegError, ValueError) as error:
            raise ValueError(
                f"{path}: cannot decode audio stream {stream.index} with PyAV ({error}); "
                f"{advice.format(path.name)}"
            ) from error
    signal = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if signal.size == 0 or not rate:
        raise ValueError(f"{path}: audio stream {stream.index} has no decodable samples")
    return signal.astype(np.float32, copy=False), int(rate)


def frame_times(
    num_frames: int, fps: float, *, position: str = "start", offset_s: float = 0.0
) -> np.ndarray:
    """The time, in seconds, of each video frame.

    Args:
        num_frames: T, the number of frames (frame 0 is the first one of the video).
        fps: frames per second.
        position: ``"start"`` (default): when the frame starts being shown, ``i / fps`` (the
            presentation timestamp video containers store); ``"centre"``: the middle of its
            display interval, ``(i + 0.5) / fps``.
        offset_s: added to every time (the audio's start relative to the video's).

    Returns:
        ``float64 [T]``.
    """
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if position not in ("start", "centre"):
        raise ValueError(f"position must be 'start' or 'centre', got {position!r}")
    shift = 0.5 if position == "centre" else 0.0
    return (np.arange(num_frames, dtype=np.float64) + shift) / fps + offset_s


def _check_signal(signal: Any, sample_rate: int) -> np.ndarray:
    array = np.asarray(signal)
    if array.ndim != 1:
        raise ValueError(
            f"signal must be mono, shape [N], got {array.shape} (load_audio averages channels)"
        )
    if array.size == 0:
        raise ValueError("signal is empty")
    if not sample_rate > 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise ValueError("signal contains NaN or infinite samples")
    return np.ascontiguousarray(array)


def _check_times(times: Any) -> np.ndarray:
    array = np.asarray(times, dtype=np.float64)
    if array.ndim != 1 or not np.isfinite(array).all():
        raise ValueError(f"times must be a finite 1-D array of seconds, got shape {array.shape}")
    return array


def mel_window_columns(sample_rate: int, window_s: float = 0.22, hop_s: float = 0.022) -> int:
    """W, the number of spectrogram columns :func:`mel_windows` gives each frame (always odd)."""
    hop = max(1, round(hop_s * sample_rate))
    return 2 * max(0, round(window_s * sample_rate / (2 * hop))) + 1


def mel_windows(
    signal: np.ndarray,
    sample_rate: int,
    times: Any,
    *,
    window_s: float = 0.22,
    win_s: float = 0.033,
    hop_s: float = 0.022,
    n_mels: int = 64,
    fmin: float = 0.0,
    fmax: float | None = None,
    top_db: float = 80.0,
) -> np.ndarray:
    """A log-mel spectrogram window centred on each video frame's time.

    The spectrogram is computed once: short-time Fourier transform with a Hann window of
    ``win_s`` seconds every ``hop_s`` seconds (33 ms windows with 11 ms overlap by default, as in
    the FaceBehaviorNet paper), column ``j`` centred at ``j * hop``; ``n_mels`` mel bands of the
    power spectrum. Power is converted to dB relative to the loudest cell of the recording,
    clipped at ``-top_db`` and mapped linearly onto [-1, 1] (so -1 is silence or anything
    ``top_db`` below the recording's peak, +1 its peak). Each frame gets the W columns (see
    :func:`mel_window_columns`: about ``window_s`` seconds, 11 columns by default) whose centre
    column is the one nearest its time. Columns before the start or after the end of the
    signal are -1 (silence), so frames at the edges, or past the end of the audio, still get W
    columns.

    Args:
        signal: mono ``float32 [N]``.
        sample_rate: its rate in Hz.
        times: ``[T]`` frame times in seconds (:func:`frame_times`).
        window_s: span of the window each frame gets, in seconds.
        win_s: STFT window length in seconds.
        hop_s: STFT hop in seconds.
        n_mels: mel bands.
        fmin, fmax: the mel filter bank's range in Hz (``fmax`` None: ``sample_rate / 2``).
        top_db: dynamic range kept below the recording's peak.

    Returns:
        ``float32 [T, n_mels, W]`` in [-1, 1]; mel band 0 is the lowest frequency, column
        ``W // 2`` is centred on the frame's time.
    """
    librosa = _import("librosa")
    audio = _check_signal(signal, sample_rate)
    moments = _check_times(times)
    if not (win_s > 0 and hop_s > 0 and window_s >= 0):
        raise ValueError(
            f"win_s, hop_s must be positive and window_s >= 0, got {win_s}, {hop_s}, {window_s}"
        )
    if not top_db > 0:
        raise ValueError(f"top_db must be positive, got {top_db}")
    win_length = max(2, round(win_s * sample_rate))
    hop = max(1, round(hop_s * sample_rate))
    n_fft = 1 << (win_length - 1).bit_length()  # the next power of two
    power = librosa.feature.melspectrogram(
        y=audio,
        sr=sample_rate,
        n_fft=n_fft,
        hop_length=hop,
        win_length=win_length,
        window="hann",
        center=True,
        pad_mode="constant",
        power=2.0,
        n_mels=n_mels,
        fmin=fmin,
        fmax=fmax,
    )  # [n_mels, columns]
    decibels = 10.0 * np.log10(np.maximum(power, _POWER_FLOOR))
    peak = float(decibels.max())
    if peak <= 10.0 * np.log10(_POWER_FLOOR):
        scaled = np.full_like(decibels, -1.0)
    else:
        scaled = 2.0 * np.clip((decibels - peak) / top_db, -1.0, 0.0) + 1.0
    columns = scaled.T.astype(np.float32)  # [columns, n_mels]

    half = mel_window_columns(sample_rate, window_s, hop_s) // 2
    centres = np.rint(moments * sample_rate / hop).astype(np.int64)
    index = centres[:, None] + np.arange(-half, half + 1)[None, :]  # [T, W]
    inside = (index >= 0) & (index < len(columns))
    windows = columns[np.clip(index, 0, len(columns) - 1)]  # [T, W, n_mels]
    windows[~inside] = -1.0
    return np.ascontiguousarray(windows.transpose(0, 2, 1))


#: The AViGaS audio image (reference/latent_models.md §5.2): librosa's defaults at 22,050 Hz.
MEL_IMAGE_RATE, MEL_IMAGE_FFT, MEL_IMAGE_HOP = 22050, 2048, 512
#: Its side: 128 mel bands by 128 columns, "to match the 128x128 image".
MEL_IMAGE_SIDE = 128


def mel_images(
    signal: np.ndarray,
    sample_rate: int,
    times: Any,
    *,
    n_mels: int = 128,
    columns: int = 128,
    top_db: float = 80.0,
) -> np.ndarray:
    """The AViGaS audio image of each video frame: a ``columns``-wide crop of the recording's
    ``n_mels``-band mel spectrogram, centred on the frame's time, as a 3-channel image.

    As the paper describes it (reference/latent_models.md §5.2; its FFT size and hop are not
    given, so librosa's defaults, decision 16): the recording resampled to 22,050 Hz, power
    mel spectrogram with 2048-sample FFTs every 512 samples (23 ms; 128 columns span 3.0 s),
    in dB relative to the recording's peak, clipped ``top_db`` below it and mapped onto
    [-1, 1] (as :func:`mel_windows`); ``columns // 2`` columns before the frame's column and
    ``columns // 2 - 1`` after it; replicated to 3 channels so the audio stream can use an image
    network. Columns outside the recording are -1 (silence).

    Returns:
        ``float32 [T, 3, n_mels, columns]`` in [-1, 1]; mel band 0 (row 0) is the lowest
        frequency; column ``columns // 2`` is centred on the frame's time.

    Raises:
        ValueError: a bad signal, times or sizes.
    """
    windows = _mel_crops(signal, sample_rate, times, n_mels, columns, top_db)
    return np.ascontiguousarray(np.repeat(windows[:, None], 3, axis=1))


def _mel_crops(
    signal: np.ndarray, sample_rate: int, times: Any, n_mels: int, columns: int, top_db: float
) -> np.ndarray:
    """One channel of :func:`mel_images`, ``float32 [T, n_mels, columns]``."""
    audio = _check_signal(signal, sample_rate)
    if n_mels < 1 or columns < 2 or columns % 2:
        raise ValueError(f"n_mels must be >= 1 and columns even and >= 2, got {n_mels}, {columns}")
    audio, _ = resample(audio, sample_rate, MEL_IMAGE_RATE)
    windows = mel_windows(
        audio,
        MEL_IMAGE_RATE,
        times,
        window_s=columns * MEL_IMAGE_HOP / MEL_IMAGE_RATE,  # W = columns + 1 (odd, centred)
        win_s=MEL_IMAGE_FFT / MEL_IMAGE_RATE,
        hop_s=MEL_IMAGE_HOP / MEL_IMAGE_RATE,
        n_mels=n_mels,
        top_db=top_db,
    )
    return np.ascontiguousarray(windows[:, :, :columns])


def mel_image_frames(signal: np.ndarray, sample_rate: int, times: Any, size: int) -> np.ndarray:
    """The AViGaS audio image of each frame as a shard stores it (``mel_image``): one channel of
    :func:`mel_images` (the 128-band, 128-column crop at 22,050 Hz; the model replicates it to
    3 channels), area-averaged to ``size x size``.

    Area averaging keeps what the image spans: at 32 px each pixel is the mean of 4 mel bands by
    4 columns (93 ms), and the image still covers the 3 s around the frame and every band.

    Args:
        signal: mono ``float32 [N]`` (at any rate; resampled to 22,050 Hz).
        sample_rate: its rate in Hz.
        times: ``[T]`` frame times in seconds (:func:`frame_times`).
        size: the stored side, 1 to 128.

    Returns:
        ``float32 [T, size, size]`` in [-1, 1]; row 0 is the lowest mel bands, column
        ``size // 2`` holds the column centred on the frame's time.

    Raises:
        ValueError: a bad signal or times, or ``size`` outside 1..128.
    """
    import cv2

    if not 1 <= size <= MEL_IMAGE_SIDE:
        raise ValueError(f"size must be from 1 to {MEL_IMAGE_SIDE}, got {size}")
    crops = _mel_crops(signal, sample_rate, times, MEL_IMAGE_SIDE, MEL_IMAGE_SIDE, 80.0)
    if size == MEL_IMAGE_SIDE:
        return crops
    out = np.empty((len(crops), size, size), np.float32)
    for i, crop in enumerate(crops):
        out[i] = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return out


@functools.lru_cache(maxsize=1)
def _smile() -> Any:
    opensmile = _import("opensmile")
    return opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.LowLevelDescriptors,
    )


def egemaps_feature_names() -> list[str]:
    """The 25 eGeMAPSv02 low-level descriptor names, in the column order of
    :func:`egemaps_frames` (``Loudness_sma3`` first)."""
    return list(_smile().feature_names)


def egemaps_frames(
    signal: np.ndarray, sample_rate: int, times: Any, *, span_s: float | None = None
) -> np.ndarray:
    """openSMILE eGeMAPSv02 low-level descriptors sampled at each video frame's time.

    openSMILE computes the 25 descriptors every 10 ms over 20 ms frames; row ``k`` is taken to
    sit at the centre of its frame, ``k * 0.01 + 0.01`` s. With ``span_s`` None each video frame
    gets the row nearest its time; otherwise the mean of the rows within ``span_s / 2`` of it
    (the nearest row when none is). Times before the first row or after the last one get the
    first or last row. Values are openSMILE's raw units (loudness in sones, F0 in semitones from
    27.5 Hz, 0 where unvoiced, ...): normalise them with statistics of the training data.

    Args:
        signal: mono ``float32 [N]``, at least 60 ms long.
        sample_rate: its rate in Hz (16 kHz is what eGeMAPS is usually run at).
        times: ``[T]`` frame times in seconds (:func:`frame_times`).
        span_s: averaging span in seconds (e.g. ``1 / fps``), or None for the nearest row.

    Returns:
        ``float32 [T, 25]``, columns as :func:`egemaps_feature_names`.
    """
    audio = _check_signal(signal, sample_rate)
    moments = _check_times(times)
    if span_s is not None and not span_s > 0:
        raise ValueError(f"span_s must be positive or None, got {span_s}")
    if len(audio) < _EGEMAPS_MIN_S * sample_rate:
        raise ValueError(
            f"signal of {len(audio) / sample_rate * 1000:.1f} ms is too short for eGeMAPS "
            f"(at least {_EGEMAPS_MIN_S * 1000:.0f} ms)"
        )
    table = _smile().process_signal(audio, sample_rate)
    rows = table.to_numpy(dtype=np.float32)
    if len(rows) == 0 or np.isnan(rows).all():
        raise ValueError(f"openSMILE returned no descriptors for a {len(audio)}-sample signal")
    rows = np.nan_to_num(rows, nan=0.0)
    starts = table.index.get_level_values("start").total_seconds().to_numpy()
    centres = starts + _EGEMAPS_FRAME_S / 2
    # Nearest row: the closer of the neighbours on each side of each time.
    right = np.clip(np.searchsorted(centres, moments), 0, len(centres) - 1)
    left = np.clip(right - 1, 0, len(centres) - 1)
    closer_left = np.abs(moments - centres[left]) <= np.abs(centres[right] - moments)
    nearest = np.where(closer_left, left, right)
    if span_s is None:
        return np.ascontiguousarray(rows[nearest])
    low = np.searchsorted(centres, moments - span_s / 2, side="left")
    high = np.searchsorted(centres, moments + span_s / 2, side="right")
    sums = np.concatenate([np.zeros((1, rows.shape[1])), np.cumsum(rows, axis=0, dtype=np.float64)])
    counts = (high - low)[:, None]
    means = (sums[high] - sums[low]) / np.maximum(counts, 1)
    return np.where(counts > 0, means, rows[nearest]).astype(np.float32)
