"""What holistic predict reads (files, folders, globs, frames of videos) and how it tracks faces."""

import math

import cv2
import numpy as np
import pytest

from holistic.inference.sources import expand_inputs, read_frames, video_info
from holistic.inference.tracks import FaceTracker, box_iou


def write_video(path, frames: int, size=(64, 48), fps=10.0, codec="MJPG"):
    """A video whose frame k has grey level 8 k (frame indices read back from the pixels)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, size)
    assert writer.isOpened()
    for k in range(frames):
        writer.write(np.full((size[1], size[0], 3), 8 * k, np.uint8))
    writer.release()
    return path


def test_inputs_expand_folders_recursively_and_globs_in_order(tmp_path):
    for name in ["b/2.png", "b/c/3.JPG", "a.jpg", "v.mp4", "notes.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = expand_inputs([tmp_path / "b", str(tmp_path / "*.jpg"), tmp_path / "v.mp4"])
    assert found == [str(tmp_path / "b/2.png"), str(tmp_path / "b/c/3.JPG"),
                     str(tmp_path / "a.jpg"), str(tmp_path / "v.mp4")]  # fmt: skip
    # A named file is kept whatever it is (reading reports it); each file once.
    assert expand_inputs([tmp_path / "notes.txt", tmp_path / "a.jpg", tmp_path / "a.jpg"]) == [
        str(tmp_path / "notes.txt"), str(tmp_path / "a.jpg")]  # fmt: skip
    with pytest.raises(ValueError, match="no image or video"):
        expand_inputs([tmp_path / "empty*.png"])


def test_video_frames_stream_with_index_time_and_every(tmp_path):
    video = write_video(tmp_path / "v.avi", 10)
    assert video_info(video) == (10.0, 10)
    frames = list(read_frames([str(video)], every=3))
    assert [f.index for f in frames] == [0, 3, 6, 9]
    assert [f.time for f in frames] == pytest.approx([0.0, 0.3, 0.6, 0.9])
    assert all(f.video and f.fps == 10.0 and f.error == "" for f in frames)
    # The pixels are those of the frame the index says (MJPG is lossy: about 8 k).
    assert [round(f.image.mean() / 8) for f in frames] == [0, 3, 6, 9]


def test_bad_inputs_become_frames_with_errors_and_the_rest_is_read(tmp_path):
    good = write_video(tmp_path / "good.avi", 30)
    data = good.read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) * 2 // 3])  # truncated
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    (tmp_path / "junk.jpg").write_bytes(b"not an image")
    cv2.imwrite(str(tmp_path / "ok.png"), np.zeros((8, 8, 3), np.uint8))
    names = ["cut.avi", "junk.mp4", "junk.jpg", "missing.png", "ok.png", "good.avi"]
    frames = list(read_frames([str(tmp_path / n) for n in names]))
    errors = [(f.input.rsplit("/", 1)[1], f.index, f.error) for f in frames if f.error]
    cut = [f for f in frames if f.input.endswith("cut.avi")]
    # The truncated video keeps the frames that decode, then says where it ended.
    assert cut[-1].error.startswith("video ends early: frame ") and cut[-1].image is None
    assert len(cut) - 1 == cut[-1].index < 30 and all(f.image is not None for f in cut[:-1])
    assert errors[1:] == [
        ("junk.mp4", 0, "unreadable video: OpenCV cannot open it"),
        ("junk.jpg", 0, "unreadable image: not an image OpenCV can decode"),
        ("missing.png", 0, "no such file"),
    ]
    assert [f.index for f in frames if f.input.endswith("good.avi")] == list(range(30))
    [ok] = [f for f in frames if f.input.endswith("ok.png")]
    assert ok.image.shape == (8, 8, 3) and math.isnan(ok.time) and not ok.video


def test_iou():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    assert box_iou(a, b).tolist() == [[1.0, pytest.approx(50 / 150), 0.0]]


def test_two_faces_keep_their_ids_while_they_move_and_cross_gaps():
    tracker = FaceTracker(iou_threshold=0.3, max_gap=3)
    ids = []
    for frame in range(12):
        left = [10 + 4 * frame, 50, 50 + 4 * frame, 90]  # moves right 4 px a frame
        right = [200, 50, 240, 90]
        boxes = [right, left] if frame % 2 else [left, right]  # detector order varies
        if frame in (5, 6):  # the left face is missed twice (within max_gap)
            boxes = [right]
        ids.append(tracker.update(frame, boxes))
    assert ids[0] == [0, 1]
    assert all(i == [1, 0] for i in ids[1:5:2]) and ids[2] == [0, 1]
    assert ids[5] == ids[6] == [1]
    assert ids[7] == [1, 0] and ids[8] == [0, 1]  # back, with its id: its motion was predicted
    # A face gone longer than max_gap comes back as a new track.
    assert tracker.update(20, [[200, 50, 240, 90], [10, 50, 50, 90]]) == [2, 3]


def test_tracker_rejects_bad_settings():
    with pytest.raises(ValueError, match="iou_threshold"):
        FaceTracker(iou_threshold=0)
    with pytest.raises(ValueError, match="max_gap"):
        FaceTracker(max_gap=-1)
