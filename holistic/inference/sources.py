"""What ``holistic predict`` reads: image and video paths expanded from files, folders and globs,
and their frames, streamed one at a time.

Videos are decoded with OpenCV (its FFmpeg backend reads mp4, avi, mkv, webm and mov), frame by
frame, so memory does not grow with a video's length. A file that cannot be read is not an
exception: it becomes a :class:`Frame` with an ``error``, so the run goes on and the table says
what was lost where.
"""

from __future__ import annotations

import glob
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "Frame",
    "expand_inputs",
    "is_video",
    "read_frames",
    "video_info",
]

#: Image files a folder is searched for (case-insensitive).
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: Video files a folder is searched for (case-insensitive).
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".avi", ".mkv", ".webm", ".mov")


@dataclass
class Frame:
    """One image, or one frame of a video.

    Attributes:
        input: the file it comes from (as given, or as found in a folder).
        index: 0-based frame index in the video (0 for an image).
        time: seconds from the video's start (NaN for an image).
        image: RGB ``uint8 [H, W, 3]``; None when it could not be read.
        error: why there is no image ("" when there is one).
        fps: the video's frame rate (NaN for an image, or when unknown).
        video: whether it is a frame of a video (its faces are tracked across frames).
    """

    input: str
    index: int = 0
    time: float = math.nan
    image: np.ndarray | None = None
    error: str = ""
    fps: float = math.nan
    video: bool = False


def is_video(path: str | Path) -> bool:
    """Whether ``path`` names a video (by its suffix)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def expand_inputs(inputs: Iterable[str | Path]) -> list[str]:
    """The image and video files named by ``inputs``, in order: a file as it is (whatever its
    suffix, so that a bad file is reported, not skipped), a folder's images and videos
    recursively in sorted order, a glob pattern's matches in sorted order. A path that exists
    nowhere is kept too; reading it reports it missing.

    Raises:
        ValueError: no input names any file (an empty folder, a glob without matches).
    """
    found: list[str] = []
    wanted = IMAGE_SUFFIXES + VIDEO_SUFFIXES
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found += sorted(
                str(p) for p in path.rglob("*") if p.is_file() and p.suffix.lower() in wanted
            )
        elif not path.exists() and glob.has_magic(str(item)):
            found += sorted(p for p in glob.glob(str(item), recursive=True) if Path(p).is_file())
        else:
            found.append(str(item))
    if not found:
        raise ValueError(
            f"no image or video in {list(map(str, inputs))} (looked for {', '.join(wanted)})"
        )
    return list(dict.fromkeys(found))  # each file once, first place kept


def video_info(path: str | Path) -> tuple[float, int]:
    """``(frames per second, frame count)`` of a video as its container states them (0 when
    unknown).

    Raises:
        ValueError: OpenCV cannot open it.
    """
    cv2 = _cv2()
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise ValueError(f"cannot open video {str(path)!r}")
        fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        return float(fps), max(count, 0)
    finally:
        capture.release()


def read_frames(paths: Sequence[str], every: int = 1) -> Iterator[Frame]:
    """The frames of ``paths`` one at a time: an image is one frame; a video yields every
    ``every``-th frame (0, every, 2 every, ...), decoding each frame once.

    Errors become frames without an image: a missing or unreadable image, a video OpenCV cannot
    open, and a video that ends before the frame count its container states (one frame with the
    error, at the index where it ended; the frames before it are kept).
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    for path in paths:
        if is_video(path):
            yield from _video_frames(path, every)
        else:
            yield _image_frame(path)


def _image_frame(path: str) -> Frame:
    from holistic.data.faces import load_image

    if not Path(path).is_file():
        return Frame(path, error="no such file")
    try:
        image = load_image(path)
    except Exception as error:  # noqa: BLE001 - any decoder failure is this file's, not the run's
        return Frame(path, error=f"unreadable image: {error}")
    if image is None:
        return Frame(path, error="unreadable image: not an image OpenCV can decode")
    return Frame(path, image=image)


def _video_frames(path: str, every: int) -> Iterator[Frame]:
    cv2 = _cv2()
    if not Path(path).is_file():
        yield Frame(path, error="no such file")
        return
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            yield Frame(path, error="unreadable video: OpenCV cannot open it")
            return
        fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
        stated = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        index = 0
        while True:
            if index % every:
                ok = capture.grab()  # skipped frames are not decoded into images
                image = None
            else:
                ok, image = capture.read()
            if not ok:
                break
            rate = fps if fps > 0 else math.nan
            if image is not None:
                rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
                yield Frame(path, index, index / rate, rgb, fps=rate, video=True)
            index += 1
        if index == 0:
            yield Frame(path, error="unreadable video: no frame decodes")
        elif stated and index < stated:
            yield Frame(
                path,
                index,
                index / fps if fps > 0 else math.nan,
                error=f"video ends early: frame {index} of the {stated} its container states "
                "does not decode (truncated or damaged file)",
                fps=fps if fps > 0 else math.nan,
                video=True,
            )
    finally:
        capture.release()


def _cv2():
    import cv2

    return cv2
