"""What a model that takes audio hears on the frames ``holistic predict`` reads.

A video's audio is its extracted track in the ``tracks`` folder, when there is one
(``<video stem>.wav``, ``.flac`` or ``.ogg``, as the Aff-Wild2 adapter looks for them), else the
video's own audio stream (read with PyAV). Its features are made once per video, at every frame's
time, with the settings the model records (``input_spec.audio[name]["settings"]``; the defaults
for a model that records none), exactly as a conversion stores them in the shards, and fed as
evaluation feeds them (:func:`holistic.evaluation.run.audio_frame_predictions` for image models,
the clip windows for clip models):

- raw-feature context (AEG-CD-SZ: ``egemaps``, frames t-1, t, t+1): a frame without audio
  counts as the training mean the model was saved with (``fill``);
- a feature with a mask (``mel`` of A/V-MT-VGG-GRU, the ``mel_image`` of AVi-CaS/-GaS and
  DiLaST on audio): zeros and ``audio_mask`` False where a frame has none.

A still image, a frame iterator without a file, or a video whose audio cannot be read has no
audio (a video whose audio ends early hears the silence after its end, as its shards would):
its frames get the model's input for silence and are counted (:attr:`FrameAudio.missing` says
why, per input).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from holistic.inference.sources import Frame

__all__ = ["TRACK_SUFFIXES", "FrameAudio"]

#: Extracted tracks looked for in the ``tracks`` folder, in this order.
TRACK_SUFFIXES: tuple[str, ...] = (".wav", ".flac", ".ogg")
#: Frames computed past the end of a video's audio and its frame count (a count read from the
#: container may be short).
_MARGIN_S = 1.0


class FrameAudio:
    """A model's audio input for each frame, one video's features held at a time.

    Args:
        audio: the model's ``input_spec.audio`` (one feature).
        is_clip: the model takes clips (features with a mask) rather than frames.
        tracks: a folder of extracted tracks named after the videos, or None: each video's own
            audio stream.

    Attributes:
        silence: the input of a frame without audio.
        frames_without_audio: frames fed silence so far.
        missing: ``{input: why}`` for each video whose audio could not be read.

    Raises:
        ValueError: a model that takes several audio features, an image model on raw features
            that records no ``fill`` (one saved before training), or ``tracks`` not a folder.
    """

    def __init__(
        self, audio: Mapping[str, Any], *, is_clip: bool, tracks: str | Path | None = None
    ) -> None:
        from holistic.data.audio import AUDIO_SETTINGS, AudioSettings, mel_window_columns
        from holistic.models.latent._layers import MEL_IMAGE

        (self.name, entry), *more = audio.items()
        if more:
            raise ValueError(f"this model takes several audio features ({sorted(audio)}); "
                             "holistic predict feeds one")  # fmt: skip
        self.tracks = None if tracks is None else Path(tracks)
        if self.tracks is not None and not self.tracks.is_dir():
            raise ValueError(f"--audio {self.tracks}: not a folder of audio tracks")
        recorded = entry.get("settings")
        settings = (
            AudioSettings.from_json(recorded, "the model's audio settings")
            if recorded is not None
            else AUDIO_SETTINGS
        )
        self.masked = is_clip or self.name == MEL_IMAGE
        if self.name == MEL_IMAGE:
            size = int(entry["size"])
            settings = dataclasses.replace(settings, mel_image_size=size)
            self.silence = np.zeros((size, size), np.float32)
        elif self.masked:
            columns = mel_window_columns(
                settings.sample_rate, settings.mel_window_s, settings.mel_hop_s
            )
            self.silence = np.zeros((settings.mel_bands, columns), np.float32)
        else:
            if "fill" not in entry:
                raise ValueError(
                    f"the model takes audio {dict(audio)} but records no fill for frames without "
                    "it; predict with a model saved by its recipe"
                )
            self.fill = np.asarray(entry["fill"], np.float32)
            self.frames = int(entry["frames"])
            self.silence = np.tile(self.fill, self.frames)
        self.settings = settings
        self.reset()

    def reset(self) -> None:
        """Forget the counts and the video held (a new prediction run)."""
        self.frames_without_audio = 0
        self.missing: dict[str, str] = {}
        self._input: str | None = None
        self._features: np.ndarray | None = None

    def at(self, frame: Frame) -> tuple[np.ndarray, bool]:
        """The model's audio input for ``frame`` (float32: ``[frames F]`` of raw context, or the
        feature, e.g. ``[size, size]``) and whether it heard audio (False: silence)."""
        if frame.video and not math.isnan(frame.fps) and frame.input != self._input:
            self._input, self._features = frame.input, self._video_features(frame)
        features = self._features if frame.input == self._input else None
        if features is None or not 0 <= frame.index < len(features):
            self.frames_without_audio += 1
            return self.silence, False
        return features[frame.index].astype(np.float32), True

    def track(self, video: str) -> Path:
        """Where the audio of ``video`` is read from: its extracted track in ``tracks``, else
        the video itself."""
        if self.tracks is not None:
            for suffix in TRACK_SUFFIXES:
                path = self.tracks / f"{Path(video).stem}{suffix}"
                if path.is_file():
                    return path
        return Path(video)

    def _video_features(self, frame: Frame) -> np.ndarray | None:
        """The model input of every frame of the video ``frame`` comes from, or None (why in
        :attr:`missing`)."""
        from holistic.data.audio import context_windows, frame_times, load_audio, recording_features
        from holistic.inference.sources import video_info

        path = self.track(frame.input)
        try:
            recording, rate = load_audio(path, None)
        except (OSError, ValueError, ImportError) as error:
            self.missing[frame.input] = str(error)
            return None
        _, count = video_info(frame.input)
        seconds = len(recording) / rate + _MARGIN_S
        length = max(count + math.ceil(_MARGIN_S * frame.fps), math.ceil(seconds * frame.fps))
        made = recording_features(recording, rate, frame_times(length, frame.fps), self.settings)
        if self.masked:  # as stored (mel and mel_image in float16), float32 frame by frame
            return made[self.name]
        features = made[self.name].astype(np.float32)
        return context_windows(features, np.ones(length, bool), length, self.fill, self.frames)[0]
