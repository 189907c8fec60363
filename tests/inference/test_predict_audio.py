"""holistic predict with models that take audio: each face's frame hears the video's audio at
its time, its features made as a conversion stores them; stills and videos without audio get
the model's input for silence, counted."""

import cv2
import numpy as np
import pytest
import torch

from holistic.cli import main as cli
from holistic.data.audio import (
    AUDIO_SETTINGS,
    AudioSettings,
    frame_audio_features,
    frame_times,
)
from holistic.inference.audio import FrameAudio
from holistic.inference.predictor import Predictor
from holistic.inference.sources import Frame
from holistic.models import create_model, save_model

FPS, FRAMES = 30.0, 12
FILL = np.linspace(-1.0, 1.0, 25, dtype=np.float32)


def _video(path, frames=FRAMES):
    """A 30 fps MJPG video without an audio stream, each frame a different grey ramp (with
    aligned=True each frame is the face)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (48, 48))
    ramp = np.linspace(0, 255, 48, dtype=np.float32)[None, :, None]
    for k in range(frames):
        frame = np.clip(ramp * (0.3 + 0.05 * k) + 20 * k, 0, 255).astype(np.uint8)
        writer.write(np.broadcast_to(frame, (48, 48, 3)).copy())
    writer.release()
    return path


def _voice(path, seconds=0.6, rate=16000):
    """A tone whose loudness and pitch rise over the track, so every frame's audio differs."""
    import soundfile

    t = np.arange(int(seconds * rate)) / rate
    signal = (0.05 + 0.5 * t / seconds) * np.sin(2 * np.pi * (150 + 300 * t) * t)
    soundfile.write(str(path), signal.astype(np.float32), rate)
    return path


@pytest.fixture
def clip_with_track(tmp_path):
    video = _video(tmp_path / "clip.avi")
    tracks = tmp_path / "tracks"
    tracks.mkdir()
    _voice(tracks / "clip.wav")
    return video, tracks


def _frame(video, index):
    return Frame(str(video), index, index / FPS, fps=FPS, video=True)


def test_each_frame_hears_what_a_conversion_stores_at_its_time(clip_with_track):
    video, tracks = clip_with_track
    # One frame past the video: frame 11's context t+1 is the audio at frame 12's time, not a
    # repeat of frame 11 (the audio goes on past the last frame the count names).
    stored = frame_audio_features(
        tracks / "clip.wav", frame_times(FRAMES + 1, FPS), AudioSettings(mel_image_size=8)
    )
    mel = FrameAudio({"mel": {"fill": -1.0, "settings": AUDIO_SETTINGS.to_json()}}, is_clip=True,
                     tracks=tracks)  # fmt: skip
    image = FrameAudio({"mel_image": {"size": 8}}, is_clip=True, tracks=tracks)
    context = FrameAudio(
        {"egemaps": {"features": 75, "frames": 3, "fill": FILL.tolist()}},
        is_clip=False,
        tracks=tracks,
    )
    egemaps = stored["egemaps"]
    for i in range(FRAMES):
        heard, present = mel.at(_frame(video, i))
        assert present and heard.dtype == np.float32
        np.testing.assert_array_equal(heard, stored["mel"][i].astype(np.float32))
        np.testing.assert_array_equal(image.at(_frame(video, i))[0], stored["mel_image"][i])
        neighbours = egemaps[[max(i - 1, 0), i, i + 1]].reshape(-1)
        np.testing.assert_allclose(context.at(_frame(video, i))[0], neighbours, rtol=1e-6)
    assert mel.frames_without_audio == 0 and not mel.missing
    assert not np.array_equal(stored["mel"][0], stored["mel"][FRAMES - 1])  # the audio varies


def _muxed(path, frames=FRAMES, rate=16000):
    """An MPEG-4 video with its own AAC audio stream (written with PyAV)."""
    import av

    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=int(FPS))
        video.width = video.height = 48
        video.pix_fmt = "yuv420p"
        sound = out.add_stream("aac", rate=rate, layout="mono")  # every stream before muxing
        for k in range(frames):
            image = av.VideoFrame.from_ndarray(np.full((48, 48, 3), 20 * k, np.uint8), "rgb24")
            out.mux(video.encode(image))
        out.mux(video.encode())
        t = np.arange(int(frames / FPS * rate)) / rate
        tone = (0.1 + t) * np.sin(2 * np.pi * (200 + 400 * t) * t)
        chunk = av.AudioFrame.from_ndarray(tone.astype(np.float32)[None], "fltp", "mono")
        chunk.sample_rate = rate
        out.mux(sound.encode(chunk))
        out.mux(sound.encode())
    return path


def test_a_video_is_heard_through_its_own_audio_stream_unless_a_track_is_given(tmp_path):
    from holistic.data.audio import load_audio, recording_features

    video = _muxed(tmp_path / "talk.mp4")
    recording, rate = load_audio(video, None)
    own = recording_features(recording, rate, frame_times(FRAMES, FPS))["mel"]
    audio = {"mel": {"fill": -1.0, "settings": None}}
    heard = FrameAudio(audio, is_clip=True)
    for i in range(FRAMES):
        features, present = heard.at(_frame(video, i))
        assert present
        np.testing.assert_array_equal(features, own[i].astype(np.float32))
    tracks = tmp_path / "tracks"
    tracks.mkdir()
    _voice(tracks / "talk.wav")  # an extracted track comes first
    given = FrameAudio(audio, is_clip=True, tracks=tracks)
    assert given.track(str(video)) == tracks / "talk.wav"
    assert not np.array_equal(given.at(_frame(video, 5))[0], heard.at(_frame(video, 5))[0])


def test_stills_and_videos_without_audio_get_silence_and_are_counted(tmp_path):
    video = _video(tmp_path / "mute.avi")
    context = FrameAudio({"egemaps": {"features": 75, "frames": 3, "fill": FILL.tolist()}},
                         is_clip=False)  # fmt: skip
    heard, present = context.at(Frame("photo.png"))
    assert not present and np.array_equal(heard, np.tile(FILL, 3))  # the training mean
    heard, present = context.at(_frame(video, 0))
    assert not present and np.array_equal(heard, np.tile(FILL, 3))
    assert context.frames_without_audio == 2
    assert "no audio stream" in context.missing[str(video)]
    mel = FrameAudio({"mel_image": {"size": 8}}, is_clip=True)
    heard, present = mel.at(_frame(video, 3))
    assert not present and heard.shape == (8, 8) and not heard.any()


def test_models_without_what_predict_needs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="records no fill"):
        FrameAudio({"egemaps": {"features": 75, "frames": 3}}, is_clip=False)
    with pytest.raises(ValueError, match="not a folder of audio tracks"):
        FrameAudio({"mel_image": {"size": 8}}, is_clip=True, tracks=tmp_path / "none")
    with pytest.raises(ValueError, match="this model takes no audio"):
        Predictor(create_model("test_cnn1rnn", image_size=32), aligned=True, audio=tmp_path)
    aegcd = create_model("test_aegcd", z_mode="add", audio_features=75, image_size=32)
    with pytest.raises(ValueError, match="records no fill"):  # saved before training
        Predictor(aegcd, aligned=True)


def _recording(model, method):
    """Wrap ``model.<method>`` to keep the audio inputs of every call."""
    calls = []
    original = getattr(model, method)

    def recorded(*args, **kwargs):
        audio = kwargs.get("audio", args[1] if len(args) > 1 else None)
        mask = kwargs.get("audio_mask", args[2] if len(args) > 2 and method == "forward" else None)
        calls.append((audio.clone(), None if mask is None else mask.clone()))
        return original(*args, **kwargs)

    setattr(model, method, recorded)
    return calls


IMAGE_MODELS = {"test_aegcd": {"z_mode": "add", "audio_features": 75},  # raw eGeMAPS context
                "test_dilast": {"modality": "audio", "audio_image_size": 8}}  # fmt: skip


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_an_image_model_hears_each_frames_audio(name, clip_with_track):
    video, tracks = clip_with_track
    torch.manual_seed(0)
    model = create_model(name, image_size=32, **IMAGE_MODELS[name]).eval()
    if name == "test_aegcd":
        model.audio_fill = FILL.tolist()  # what its recipe saves
    calls = _recording(model, "forward")
    table = Predictor(model, aligned=True, batch_size=5, audio=tracks).predict(str(video))
    assert table["frame"].tolist() == list(range(FRAMES))
    heard = torch.cat([audio for audio, _ in calls]).numpy()
    expected = FrameAudio(model.input_spec.audio, is_clip=False, tracks=tracks)
    for i in range(FRAMES):
        np.testing.assert_array_equal(heard[i], expected.at(_frame(video, i))[0])
    masks = [mask for _, mask in calls]
    # As evaluation feeds them: raw context without a mask, an audio image with its mask.
    assert (
        all(mask is None for mask in masks)
        if name == "test_aegcd"
        else all(mask.all() for mask in masks)
    )
    silent = Predictor(model, aligned=True, batch_size=5).predict(str(video))  # the .avi is mute
    assert not np.allclose(table["arousal"], silent["arousal"])  # the audio reaches the output


@pytest.mark.parametrize("name", ["test_avmtvgggru", "test_avigas"])
def test_a_clip_model_hears_its_track_as_a_stream(name, clip_with_track, tmp_path, capsys):
    video, tracks = clip_with_track
    torch.manual_seed(0)
    model = create_model(name, image_size=32).eval()
    small = Predictor(model, aligned=True, batch_size=5, audio=tracks).predict(str(video))
    whole = Predictor(model, aligned=True, batch_size=100, audio=tracks).predict(str(video))
    assert small["valence"].to_numpy() == pytest.approx(whole["valence"].to_numpy(), abs=1e-5)
    heard = Predictor(model, aligned=True, batch_size=100, audio=tracks)
    calls = _recording(model, "forward_stream")  # after the predictor's probe
    heard.predict(str(video))
    [(audio, mask)] = calls
    expected = FrameAudio(model.input_spec.audio, is_clip=True, tracks=tracks)
    assert mask.shape == (1, FRAMES) and mask.all()
    for i in range(FRAMES):
        np.testing.assert_array_equal(audio[0, i].numpy(), expected.at(_frame(video, i))[0])
    assert heard.summary.frames_without_audio == 0
    # Without the track the mute video is silence: other predictions, counted and explained.
    save_model(model, tmp_path / "model")
    out = tmp_path / "table.csv"
    assert cli(["predict", str(tmp_path / "model"), str(video), "--aligned", "--out", str(out),
                "--no-progress"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert f"{FRAMES} frame(s) with a face but no audio" in printed
    assert "no audio stream" in printed
    assert cli(["predict", str(tmp_path / "model"), str(video), "--aligned", "--out", str(out),
                "--audio", str(tracks), "--no-progress"]) == 0  # fmt: skip
    assert "but no audio" not in capsys.readouterr().out
