"""Inputs that used to crash the conversion: file names that are not UTF-8 (``cv2.imread`` and
``cv2.imwrite`` segfault on them; libsndfile cannot take them), empty image files, degenerate
face geometry, unreadable audio. Each becomes a sample or a reject with its file, line and
reason; the process never dies."""

import json
import os
import tarfile

import cv2
import numpy as np
import pytest

from holistic.data.adapters._base import Adapter, FaceHint, Sample
from holistic.data.faces import load_image
from holistic.data.shards import federate
from holistic.synth.writers._common import save_image


def _non_utf8_name(folder, suffix):
    """A file name made of bytes that are not UTF-8, as ``os.fsdecode`` gives it; skip where
    the file system refuses such names."""
    path = folder / os.fsdecode(b"\xff\xfe" + suffix.encode())
    try:
        path.touch()
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses file names that are not UTF-8")
    path.unlink()
    return path


def _photo(path, value=120):
    ok, data = cv2.imencode(".png", np.full((40, 40, 3), value, np.uint8))
    path.write_bytes(data.tobytes())


def _federate(tmp_path, samples, **kwargs):
    adapter = Adapter("odd", "1", lambda root, splits=None: iter(samples))
    options = {"size": 32, "progress": False, **kwargs}
    return federate(adapter, tmp_path, tmp_path / "out", **options)


def _sample(key, image, line, **fields):
    return Sample("odd", "train", key, image, os.fsdecode(image.name), {"expr": "fear"},
                  origin=("labels.txt", line), **fields)  # fmt: skip


def _rejects(tmp_path):
    lines = (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()
    return {r["key"]: r for r in map(json.loads, lines)}


def test_images_named_by_bytes_that_are_not_utf8_are_read_and_rejected_cleanly(tmp_path):
    image = _non_utf8_name(tmp_path, ".png")
    _photo(image)
    assert load_image(image).shape == (40, 40, 3)
    missing = tmp_path / "gone" / _non_utf8_name(tmp_path, ".jpg").name
    result = _federate(tmp_path, [_sample("a", image, 2), _sample("b", missing, 3)])
    assert result.entry["splits"]["train"]["samples"] == 1
    with tarfile.open(tmp_path / "out" / "odd-train-000000.tar") as tar:
        record = json.loads(tar.extractfile("a.json").read())
    assert record["source_path"] == os.fsdecode(b"\xff\xfe.png")  # round-trips through JSON
    reject = _rejects(tmp_path)["b"]
    assert (reject["file"], reject["line"], reject["reason"]) == ("labels.txt", 3, "missing_image")
    assert reject["detail"].endswith(os.fsdecode(b"\xff\xfe.jpg"))


def test_the_synthetic_world_writes_images_named_by_any_bytes(tmp_path):
    path = _non_utf8_name(tmp_path, ".png")
    image = np.zeros((8, 8, 3), np.uint8)
    image[2:5, 3] = (255, 0, 0)
    save_image(path, image)
    assert np.array_equal(load_image(path), image)


def test_empty_and_foreign_image_files_are_unreadable_rejects(tmp_path):
    empty, text = tmp_path / "empty.jpg", tmp_path / "text.jpg"
    empty.write_bytes(b"")
    text.write_text("not an image")
    _federate(tmp_path, [_sample("e", empty, 2), _sample("t", text, 3)])
    assert {k: r["reason"] for k, r in _rejects(tmp_path).items()} == {
        "e": "unreadable_image",
        "t": "unreadable_image",
    }


def test_degenerate_face_geometry_is_a_malformed_row_not_a_crash(tmp_path):
    image = tmp_path / "frame.png"
    _photo(image)
    collapsed = FaceHint("landmarks", landmarks=np.full((68, 2), 7.0))
    _federate(tmp_path, [_sample("f", image, 5, face=collapsed)])
    reject = _rejects(tmp_path)["f"]
    assert (reject["line"], reject["reason"]) == (5, "malformed_row")
    assert "same place" in reject["detail"]


def test_an_unreadable_audio_track_rejects_the_audio_and_keeps_the_frame(tmp_path):
    pytest.importorskip("librosa")
    image, track = tmp_path / "frame.png", tmp_path / "clip.wav"
    _photo(image)
    track.write_bytes(b"RIFF not really a wave file")
    sample = _sample("v", image, 4, audio=track, audio_time=0.0, video="clip", frame=1)
    result = _federate(tmp_path, [sample])
    assert result.entry["splits"]["train"]["samples"] == 1
    assert result.entry["splits"]["train"]["rejects"] == {"unreadable_audio": 1}
    reject = _rejects(tmp_path)["v"]
    assert (reject["task"], reject["line"]) == ("audio", 4)


def test_an_audio_track_named_by_bytes_that_are_not_utf8_is_read(tmp_path):
    """libsndfile cannot take such a name; the track is read through an open file instead of
    becoming an unreadable_audio reject."""
    soundfile = pytest.importorskip("soundfile")
    image, track = tmp_path / "frame.png", _non_utf8_name(tmp_path, ".wav")
    _photo(image)
    tone = 0.5 * np.sin(np.linspace(0, 400 * np.pi, 16000)).astype(np.float32)
    with open(track, "wb") as handle:
        soundfile.write(handle, tone, 16000, format="WAV")
    sample = _sample("v", image, 4, audio=track, audio_time=0.5, video="clip", frame=1)
    result = _federate(tmp_path, [sample])
    split = result.entry["splits"]["train"]
    assert (split["samples"], split["rejects"]) == (1, {})
    assert split["tasks"].get("audio") == 1
