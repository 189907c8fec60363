"""Face tracks across the frames of a video: a stable ``face_id`` per person.

Detections of a frame are matched to the open tracks by the intersection over union (IoU) of
their boxes with each track's predicted box, one to one, the best total first (Hungarian
assignment). A track's box is predicted from its last two boxes (constant velocity over the gap
since), so a face that moves between sampled frames (``--every N``) stays matched. A track not
matched for more than ``max_gap`` frames is closed; a detection matched to no track opens a new
one with the next id (0, 1, ... in order of first appearance).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["FaceTracker", "box_iou"]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` ``[N, 4]`` with every box of ``b`` ``[M, 4]`` (``x0, y0, x1,
    y1``), ``[N, M]``."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


@dataclass
class _Track:
    id: int
    frame: int
    box: np.ndarray
    velocity: np.ndarray  # box change per frame

    def predicted(self, frame: int) -> np.ndarray:
        return self.box + self.velocity * (frame - self.frame)


class FaceTracker:
    """Assign track ids to the face boxes of consecutive frames of one video.

    Args:
        iou_threshold: the least IoU between a detection and a track's predicted box for them to
            match.
        max_gap: frames a track may go unmatched (the face turned away, missed by the detector)
            and still continue.
    """

    def __init__(self, iou_threshold: float = 0.3, max_gap: int = 30) -> None:
        if not 0 < iou_threshold <= 1:
            raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        if max_gap < 0:
            raise ValueError(f"max_gap must be >= 0, got {max_gap}")
        self.iou_threshold, self.max_gap = float(iou_threshold), int(max_gap)
        self._tracks: list[_Track] = []
        self._next_id = 0

    def update(self, frame: int, boxes: Sequence[Sequence[float]]) -> list[int]:
        """The track id of each box of ``frame`` (frames must not go backwards)."""
        from scipy.optimize import linear_sum_assignment

        self._tracks = [t for t in self._tracks if frame - t.frame <= self.max_gap]
        boxes = np.asarray(boxes, float).reshape(-1, 4)
        ids = [-1] * len(boxes)
        if len(boxes) and self._tracks:
            predicted = np.stack([t.predicted(frame) for t in self._tracks])
            iou = box_iou(boxes, predicted)
            for row, col in zip(*linear_sum_assignment(-iou), strict=True):
                if iou[row, col] >= self.iou_threshold:
                    track = self._tracks[col]
                    if frame > track.frame:
                        track.velocity = (boxes[row] - track.box) / (frame - track.frame)
                    track.box, track.frame = boxes[row], frame
                    ids[row] = track.id
        for row, box in enumerate(boxes):
            if ids[row] < 0:
                track = _Track(self._next_id, frame, box, np.zeros(4))
                self._tracks.append(track)
                ids[row] = track.id
                self._next_id += 1
        return ids
