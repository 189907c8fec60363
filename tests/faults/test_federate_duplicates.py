"""One image and face is one sample: two spellings of one image's path (relative and absolute
with ``..``, a symlink) give one sample and a ``duplicate`` reject naming the first, while
several faces of one photo, distinct frames, and one image in two splits stay distinct."""

import json

import pytest
from conftest import write_face, write_lines

from holistic.data.adapters import ADAPTERS
from holistic.data.adapters._base import Adapter, FaceHint, Sample
from holistic.data.shards import federate

SETTINGS = {"size": 32, "progress": False, "align_boxes": False}


def _rejects(out):
    return [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]


def test_two_spellings_of_one_image_are_one_sample_and_a_duplicate_reject(tmp_path):
    root = tmp_path / "table"
    write_face(root / "img" / "a.jpg", 60)
    write_face(root / "img" / "b.jpg", 90)
    roundabout = root / "img" / ".." / "img" / "a.jpg"
    write_lines(root / "labels.csv", ["image,expression", "img/a.jpg,anger",
                                      f"{roundabout},fear", "img/b.jpg,fear"])  # fmt: skip
    result = federate(ADAPTERS["csv"], root, tmp_path / "out", **SETTINGS)
    train = result.entry["splits"]["train"]
    assert train["samples"] == 2 and train["rejects"] == {"duplicate": 1}
    [reject] = _rejects(tmp_path / "out")
    assert (reject["file"], reject["line"], reject["reason"]) == ("labels.csv", 3, "duplicate")
    assert (
        "same image as sample 'img_a'" in reject["detail"]
        and str(roundabout.resolve()) in reject["detail"]
    )


def test_a_symlink_to_an_image_is_the_same_image(tmp_path):
    root = tmp_path / "table"
    write_face(root / "a.jpg", 60)
    try:
        (root / "alias.jpg").symlink_to(root / "a.jpg")
    except OSError:
        pytest.skip("no symlinks here")
    write_lines(root / "labels.csv", ["image,expression", "a.jpg,anger", "alias.jpg,anger"])
    result = federate(ADAPTERS["csv"], root, tmp_path / "out", **SETTINGS)
    assert result.entry["splits"]["train"]["rejects"] == {"duplicate": 1}


def _expw(root, lines):
    write_face(root / "image" / "origin" / "photo.jpg", 80, size=96)
    write_lines(root / "label" / "label.lst", lines)
    return root


def test_several_faces_of_one_photo_are_several_samples(tmp_path):
    # name, face_id, top, left, right, bottom, confidence, expression
    root = _expw(tmp_path / "expw", ["photo.jpg 0 4 4 40 40 0.9 3", "photo.jpg 1 50 50 90 90 0.8 0",
                                     "photo.jpg 2 4 4 40 40 0.7 4"])  # fmt: skip
    result = federate(ADAPTERS["expw"], root, tmp_path / "out", **SETTINGS)
    train = result.entry["splits"]["train"]
    assert train["samples"] == 2  # faces 0 and 1; face 2 repeats face 0's box
    [reject] = _rejects(tmp_path / "out")
    assert (reject["line"], reject["reason"], reject["key"]) == (3, "duplicate", "photo-2")
    assert "same face box" in reject["detail"] and "'photo-0'" in reject["detail"]


def test_frames_and_splits_keep_one_image_distinct(tmp_path):
    image = tmp_path / "still.jpg"
    write_face(image, 70)

    def sample(key, split, frame):
        return Sample("clips", split, key, image, "still.jpg", {"expr": "anger"},
                      video="v", frame=frame, face=FaceHint("aligned"))  # fmt: skip

    samples = [sample("f1", "train", 1), sample("f2", "train", 2), sample("f1", "test", 1)]
    adapter = Adapter("clips", "1", lambda root, splits=None: iter(samples))
    result = federate(adapter, tmp_path, tmp_path / "out", **SETTINGS)
    assert {s: e["samples"] for s, e in result.entry["splits"].items()} == {"test": 1, "train": 2}
    assert (tmp_path / "out" / "rejects.jsonl").read_text() == ""
