"""The face's geometry: a mean 68-point layout, identity shape modes and head-pose projection.

Coordinates are *face-normalised*: ``(x, y)`` in the unit square of an aligned 112 x 112 crop
(edge convention: ``0`` is the left/top edge of the crop, ``1`` the right/bottom edge), so that
with the default framing a point ``p`` lands at pixel ``p * size - 0.5``. The mean layout is
fitted (least-squares similarity) so that its five alignment points (eye centres, nose tip,
mouth corners; :func:`holistic.data.faces.five_points_from_68`) sit on the ArcFace template.

Besides the 68 iBUG points, the layout carries a few *extra* points the renderer needs (head
outline, hairline, ears, neck, cheeks); they follow the same identity, AU and pose transforms.
Every point also has a depth (towards the camera, same units) used by the pose projection.
"""

from __future__ import annotations

import numpy as np

from holistic.synth.types import Pose

__all__ = [
    "CHEEKS",
    "EARS",
    "HAIRLINE",
    "HEAD",
    "MEAN_DEPTH",
    "MEAN_LAYOUT",
    "NECK",
    "NUM_POINTS",
    "SHAPE_MODES",
    "TEMPLATE_NORMALISED",
    "apply_shape",
    "fit_similarity",
    "project_pose",
]

#: The ArcFace 5-point template in face-normalised units (``(p + 0.5) / 112``).
TEMPLATE_NORMALISED = (
    np.array(
        [
            [38.2946, 51.6963],
            [73.5318, 51.5014],
            [56.0252, 71.7366],
            [41.5493, 92.3655],
            [70.7299, 92.2041],
        ]
    )
    + 0.5
) / 112.0

# Index ranges of the extra points (after the 68 iBUG points).
HEAD = np.arange(68, 79)  # 11 points: skull outline from the left temple over the top (image left)
HAIRLINE = np.arange(79, 86)  # 7 points: hairline from the left temple to the right temple
EARS = np.arange(86, 88)  # ear centres, left then right (as seen in the image)
NECK = np.arange(88, 92)  # neck: left top, left bottom, right bottom, right top
CHEEKS = np.arange(92, 94)  # cheek apples, left then right
NUM_POINTS = 94

_FACE_W = 0.36  # half-width of the face at the temples
_JAW_TOP = 0.44  # y of jaw points 0 and 16
_CHIN = 0.93  # y of the chin (point 8)


def _right_half() -> tuple[np.ndarray, np.ndarray]:
    """Hand-made mean points and depths for the image-left half and the midline."""
    pts = np.zeros((NUM_POINTS, 2))
    depth = np.zeros(NUM_POINTS)
    # Jaw 0-16: a slightly squared half-ellipse from temple to temple through the chin.
    t = np.linspace(-np.pi / 2, np.pi / 2, 17)
    s = np.sin(t)
    pts[:17, 0] = 0.5 + _FACE_W * np.sign(s) * np.abs(s) ** 0.85
    pts[:17, 1] = _JAW_TOP + (_CHIN - _JAW_TOP) * np.cos(t) ** 0.9
    depth[:17] = -0.22 * np.abs(s) ** 1.5
    # Brows 17-21 (outer to inner), mirrored to 26-22.
    pts[17:22] = [[0.21, 0.378], [0.26, 0.348], [0.32, 0.337], [0.38, 0.342], [0.44, 0.357]]
    depth[17:22] = [-0.04, 0.0, 0.02, 0.03, 0.03]
    # Nose bridge 27-30 and base 31-35.
    pts[27:31] = [[0.5, 0.45], [0.5, 0.515], [0.5, 0.58], [0.5, 0.645]]
    depth[27:31] = [0.04, 0.08, 0.12, 0.16]
    pts[31:36] = [[0.435, 0.676], [0.467, 0.69], [0.5, 0.698], [0.533, 0.69], [0.565, 0.676]]
    depth[31:36] = [0.07, 0.1, 0.11, 0.1, 0.07]
    # Image-left eye 36-41: outer corner, upper lid x2, inner corner, lower lid x2.
    cx, cy, hw = 0.3464, 0.466, 0.06
    pts[36:42] = [
        [cx - hw, cy + 0.002],
        [cx - 0.022, cy - 0.026],
        [cx + 0.022, cy - 0.026],
        [cx + hw, cy + 0.004],
        [cx + 0.022, cy + 0.02],
        [cx - 0.022, cy + 0.02],
    ]
    depth[36:42] = [-0.02, 0.01, 0.01, 0.0, 0.01, 0.01]
    # Outer lip 48-59 (48 left corner, 51 top centre, 54 right corner, 57 bottom centre).
    pts[48:60] = [
        [0.37, 0.83], [0.415, 0.806], [0.465, 0.792], [0.5, 0.798], [0.535, 0.792],
        [0.585, 0.806], [0.63, 0.83], [0.585, 0.866], [0.54, 0.885], [0.5, 0.89],
        [0.46, 0.885], [0.415, 0.866],
    ]  # fmt: skip
    depth[48:60] = [0.02, 0.05, 0.07, 0.08, 0.07, 0.05, 0.02, 0.05, 0.07, 0.08, 0.07, 0.05]
    # Inner lip 60-67 (closed: upper and lower inner lines 0.006 apart).
    pts[60:68] = [
        [0.385, 0.83], [0.45, 0.826], [0.5, 0.828], [0.55, 0.826], [0.615, 0.83],
        [0.55, 0.832], [0.5, 0.834], [0.45, 0.832],
    ]  # fmt: skip
    depth[60:68] = [0.02, 0.06, 0.07, 0.06, 0.02, 0.06, 0.07, 0.06]
    # Head outline over the top (from the left temple to the right temple).
    phi = np.linspace(np.pi, 0.0, len(HEAD))
    pts[HEAD, 0] = 0.5 + 1.04 * _FACE_W * np.cos(phi)
    pts[HEAD, 1] = _JAW_TOP - 0.56 * np.sin(phi) + 0.02
    depth[HEAD] = -0.1 - 0.15 * np.abs(np.cos(phi))
    # Hairline (medium height; styles move it in the renderer).
    phi = np.linspace(np.pi, 0.0, len(HAIRLINE))
    pts[HAIRLINE, 0] = 0.5 + 0.98 * _FACE_W * np.cos(phi)
    pts[HAIRLINE, 1] = 0.40 - 0.24 * np.sin(phi) ** 0.6
    depth[HAIRLINE] = -0.05 - 0.12 * np.abs(np.cos(phi))
    pts[EARS] = [[0.5 - _FACE_W - 0.015, 0.5], [0.5 + _FACE_W + 0.015, 0.5]]
    depth[EARS] = -0.3
    pts[NECK] = [[0.33, 0.85], [0.31, 1.4], [0.69, 1.4], [0.67, 0.85]]
    depth[NECK] = -0.3
    pts[CHEEKS] = [[0.3, 0.62], [0.7, 0.62]]
    depth[CHEEKS] = 0.0
    return pts, depth


def _mirror_points(pts: np.ndarray, depth: np.ndarray) -> None:
    """Fill the image-right brow and eye by mirroring the left ones about x = 0.5 (in place)."""
    for src, dst in (
        (range(17, 22), range(26, 21, -1)),
        ((36, 37, 38, 39, 40, 41), (45, 44, 43, 42, 47, 46)),
    ):
        for a, b in zip(src, dst, strict=True):
            pts[b] = [1.0 - pts[a, 0], pts[a, 1]]
            depth[b] = depth[a]


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity ``[2, 3]`` mapping points ``src [N, 2]`` onto ``dst [N, 2]``."""
    src_c, dst_c = src - src.mean(0), dst - dst.mean(0)
    denom = (src_c**2).sum()
    a = (src_c * dst_c).sum() / denom
    b = (src_c[:, 0] * dst_c[:, 1] - src_c[:, 1] * dst_c[:, 0]).sum() / denom
    rot = np.array([[a, -b], [b, a]])
    return np.hstack([rot, (dst.mean(0) - rot @ src.mean(0))[:, None]])


def _five(pts: np.ndarray) -> np.ndarray:
    return np.stack([pts[36:42].mean(0), pts[42:48].mean(0), pts[30], pts[48], pts[54]])


def _align(pts: np.ndarray) -> np.ndarray:
    """Similarity-align a layout so that its five points fit the ArcFace template."""
    m = fit_similarity(_five(pts), TEMPLATE_NORMALISED)
    return pts @ m[:, :2].T + m[:, 2]


def _build_mean() -> tuple[np.ndarray, np.ndarray]:
    pts, depth = _right_half()
    _mirror_points(pts, depth)
    return _align(pts), depth


MEAN_LAYOUT, MEAN_DEPTH = _build_mean()
MEAN_LAYOUT.setflags(write=False)
MEAN_DEPTH.setflags(write=False)

#: Names of the identity shape modes, in the order of ``Identity.shape``; each coefficient is in
#: standard units (the sampler draws N(0, 1) clipped to [-2, 2]).
SHAPE_MODES: tuple[str, ...] = (
    "face_width",
    "face_length",
    "jaw_width",
    "eye_size",
    "eye_spacing",
    "nose_length",
    "nose_width",
    "mouth_width",
    "lip_thickness",
    "brow_height",
)


def _mode_basis() -> np.ndarray:
    """Unit displacement of every point for each shape mode, ``[modes, points, 2]``."""
    base = MEAN_LAYOUT
    basis = np.zeros((len(SHAPE_MODES), NUM_POINTS, 2))
    outline = np.r_[np.arange(17), HEAD, HAIRLINE, EARS, CHEEKS]
    # face_width: the outline scales horizontally about the midline.
    basis[0, outline, 0] = 0.06 * (base[outline, 0] - 0.5)
    # face_length: the lower jaw stretches down (features stay put: the crop is aligned on them).
    jaw = np.arange(17)
    basis[1, jaw, 1] = 0.05 * np.clip(base[jaw, 1] - _JAW_TOP, 0, None)
    basis[1, HEAD, 1] = -0.04 * np.clip(_JAW_TOP - base[HEAD, 1], 0, None)
    # jaw_width: lower jaw sides outwards, strongest at the jaw angle (points 4 and 12).
    weight = np.exp(-(((np.arange(17) - 4) / 1.8) ** 2)) + np.exp(
        -(((np.arange(17) - 12) / 1.8) ** 2)
    )
    basis[2, jaw, 0] = 0.035 * weight * np.sign(base[jaw, 0] - 0.5)
    # eye_size: eyes scale about their centres.
    for eye in (np.arange(36, 42), np.arange(42, 48)):
        basis[3, eye] = 0.12 * (base[eye] - base[eye].mean(0))
    # eye_spacing: eyes move apart, brows follow halfway.
    basis[4, 36:42, 0], basis[4, 42:48, 0] = -0.008, 0.008
    basis[4, 17:22, 0], basis[4, 22:27, 0] = -0.004, 0.004
    # nose_length: the nose base moves down, the bridge stretches.
    basis[5, 31:36, 1] = 0.02
    basis[5, 27:31, 1] = 0.02 * np.linspace(0, 0.6, 4)
    # nose_width: nostrils scale about the midline.
    basis[6, 31:36, 0] = 0.15 * (base[31:36, 0] - 0.5)
    # mouth_width: the lips scale horizontally about the midline.
    basis[7, 48:68, 0] = 0.07 * (base[48:68, 0] - 0.5)
    # lip_thickness: outer upper lip up, outer lower lip down (most at the centre).
    centre = 1.0 - np.abs(base[48:60, 0] - 0.5) / 0.14
    upper = np.isin(np.arange(48, 60), np.arange(49, 54))
    lower = np.isin(np.arange(48, 60), np.arange(55, 60))
    basis[8, 48:60, 1] = np.where(upper, -0.01 * centre, 0) + np.where(lower, 0.012 * centre, 0)
    # brow_height.
    basis[9, 17:27, 1] = -0.016
    return basis


_BASIS = _mode_basis()


def apply_shape(coefficients: np.ndarray) -> np.ndarray:
    """An identity's neutral layout ``[NUM_POINTS, 2]``: the mean plus its shape modes, aligned.

    Args:
        coefficients: ``[len(SHAPE_MODES)]`` mode coefficients in standard units.

    Returns:
        The neutral points, re-fitted (similarity) onto the ArcFace template as an aligned crop
        would be.
    """
    pts = MEAN_LAYOUT + np.tensordot(coefficients, _BASIS, axes=1)
    return _align(pts)


def project_pose(pts: np.ndarray, depth: np.ndarray, pose: Pose) -> np.ndarray:
    """Rotate the points by the head pose and project them orthographically.

    The head turns about a point just behind the face's centre (``(0.5, 0.6)``, depth
    ``-0.05``), so the features stay near their aligned-crop places as in a real aligned crop.
    Positive yaw turns the face towards the image right, positive pitch tilts it down, positive
    roll rotates it clockwise in the image.

    Args:
        pts: ``[N, 2]`` face-normalised points; depth: ``[N]``; pose: angles in degrees.

    Returns:
        ``[N, 2]`` projected points (a new array; the input is returned unchanged when frontal).
    """
    if pose.yaw == 0.0 and pose.pitch == 0.0 and pose.roll == 0.0:
        return pts
    yaw, pitch, roll = np.deg2rad([pose.yaw, pose.pitch, pose.roll])
    cy, sy, cp, sp, cr, sr = (
        np.cos(yaw),
        np.sin(yaw),
        np.cos(pitch),
        np.sin(pitch),
        np.cos(roll),
        np.sin(roll),
    )
    centre = np.array([0.5, 0.6, -0.05])
    xyz = np.column_stack([pts, depth]) - centre
    # Image axes: x right, y down, z towards the camera.
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    r_pitch = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]])
    r_roll = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    rotated = xyz @ (r_roll @ r_pitch @ r_yaw).T
    return rotated[:, :2] + centre[:2]
