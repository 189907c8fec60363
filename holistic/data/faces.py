"""Face preparation: detect, align to a 5-point template, crop, resize; 68 landmarks on request.

Images are RGB ``uint8`` numpy arrays of shape ``[H, W, 3]`` throughout (a grey ``[H, W]`` or an
RGBA ``[H, W, 4]`` image is accepted and converted). Points are ``(x, y)`` in pixels, with the
centre of the top-left pixel at ``(0, 0)`` (OpenCV's convention); "left" and "right" mean as seen
in the image. Boxes are ``(x0, y0, x1, y1)`` with ``x1, y1`` exclusive (a 10-pixel-wide box
starting at column 5 is ``(5, ..., 15, ...)``).

:func:`prepare_face` is what the shard writer calls: it turns an image and the sample's
:class:`~holistic.data.adapters._base.FaceHint` into a square face crop, with the 68 landmarks in
the crop's pixel coordinates when they are known. The alignment follows the FaceBehaviorNet
paper's pre-processing (five anchor points mapped by a similarity transform onto a frontal
template) with the ArcFace/InsightFace template, 112 x 112 by default (the paper used 96).

Detection and landmarks use dlib (the ``faces`` extra: ``pip install 'holistic[faces]'``): the
HOG detector built into dlib and the 5- and 68-point shape predictors that ship in the
``face-recognition-models`` package. dlib marks the 68-point model as not for commercial use;
alignment needs only the 5-point model.

Images are read with :func:`load_image`: Python reads the file's bytes and OpenCV decodes them
from memory (``cv2.imread`` and ``cv2.imwrite`` crash the process on a file name that is not valid
UTF-8, which ``os.fsdecode`` turns into lone surrogates).

OpenCV and dlib are imported on first use, so importing this module is cheap.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from holistic.data.adapters._base import FaceHint

__all__ = [
    "ARCFACE_TEMPLATE_112",
    "DEFAULT_BOX_MARGIN",
    "DEFAULT_SIZE",
    "DLIB5_MEAN_SHAPE",
    "FaceDetector",
    "PreparedFace",
    "align_face",
    "alignment_template",
    "crop_box",
    "five_points_from_68",
    "five_points_from_dlib5",
    "landmark_backend",
    "load_image",
    "prepare_face",
    "resize_aligned",
    "similarity_transform",
    "transform_points",
]

#: Default output side in pixels (Aff-Wild2 ``cropped_aligned`` size; the paper used 96).
DEFAULT_SIZE = 112

#: Default margin of :func:`crop_box`: the fraction of the box's longer side added on each side.
DEFAULT_BOX_MARGIN = 0.2

#: The ArcFace/InsightFace 5-point template for a 112 x 112 crop (``insightface``'s
#: ``arcface_dst``): left eye, right eye, nose tip, left mouth corner, right mouth corner.
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)

# dlib's mean face shape, points 17-67 of the iBUG 68 layout in a unit square (dlib,
# ``dlib/image_transforms/interpolation.h``, ``get_face_chip_details``; Boost Software Licence).
_DLIB_MEAN_X = [
    0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124,
    0.904991, 0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036,
    0.490127, 0.554217, 0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918,
    0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149,
    0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
    0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874,
    0.553364, 0.490127, 0.42689,
]  # fmt: skip
_DLIB_MEAN_Y = [
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891,
    0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326,
    0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758, 0.179852, 0.231733,
    0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077, 0.245099,
    0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805,
    0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746,
    0.784792, 0.824182, 0.831803, 0.824182,
]  # fmt: skip

#: Mean positions of the 5 points of dlib's 5-point model, in the frame of dlib's mean face
#: (same source): right eye outer and inner corner, left eye outer and inner corner, the base
#: of the nose (the order the model outputs).
DLIB5_MEAN_SHAPE = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ],
    dtype=np.float64,
)

_FACES_EXTRA = "pip install 'holistic[faces]'"
_BORDERS = ("constant", "replicate")
# Below this scale factor, the source is first shrunk with area averaging: a bilinear warp alone
# would alias (skip pixels) when it shrinks a large face to 112 pixels.
_ANTIALIAS_BELOW = 0.8


# ---------------------------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------------------------


def alignment_template(size: int = DEFAULT_SIZE, margin: float = 0.0) -> np.ndarray:
    """The 5-point template for a ``size`` x ``size`` aligned face.

    Args:
        size: output side in pixels; the 112-pixel ArcFace template is scaled to it.
        margin: extra context around the face, as a fraction of ``size`` added on each side:
            the template shrinks towards the centre by ``1 / (1 + 2 * margin)``. 0 gives the
            ArcFace framing; negative values zoom in (down to -0.25).

    Returns:
        ``float64 [5, 2]``: left eye, right eye, nose tip, left and right mouth corner.
    """
    if size < 8:
        raise ValueError(f"alignment size must be at least 8 pixels, got {size}")
    if not -0.25 <= margin <= 2.0:
        raise ValueError(f"alignment margin must be in [-0.25, 2], got {margin}")
    # Scale pixel edges, not pixel centres: (p + 0.5) is the point in edge coordinates.
    points = (ARCFACE_TEMPLATE_112 + 0.5) * (size / 112.0) - 0.5
    centre = (size - 1) / 2.0
    return centre + (points - centre) / (1.0 + 2.0 * margin)


def _points(values: Any, count: int | None, name: str) -> np.ndarray:
    points = np.asarray(values, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or (count is not None and len(points) != count):
        expected = f"[{count}, 2]" if count is not None else "[N, 2]"
        raise ValueError(f"{name} must have shape {expected}, got {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError(f"{name} contains NaN or infinite coordinates")
    return points


def five_points_from_68(landmarks68: Any) -> np.ndarray:
    """The five alignment points from iBUG 68-point landmarks.

    Eye centres are the means of points 36-41 and 42-47, the nose tip is point 30, the mouth
    corners are points 48 and 54 (0-based), in the template's order (left eye, right eye, nose,
    left mouth corner, right mouth corner; left as seen in the image).

    Args:
        landmarks68: ``[68, 2]`` points in pixels.

    Returns:
        ``float64 [5, 2]``.
    """
    points = _points(landmarks68, 68, "landmarks68")
    return np.stack(
        [points[36:42].mean(0), points[42:48].mean(0), points[30], points[48], points[54]]
    )


def _dlib_mean_five() -> np.ndarray:
    """The template's five points on dlib's mean face (unit square), as five_points_from_68."""
    mean = np.zeros((68, 2))  # the jaw, points 0-16, is not part of dlib's mean face
    mean[17:, 0] = _DLIB_MEAN_X
    mean[17:, 1] = _DLIB_MEAN_Y
    return five_points_from_68(mean)


def five_points_from_dlib5(points5: Any) -> np.ndarray:
    """Estimate the five template points from the output of dlib's 5-point model.

    dlib's 5-point model gives the four eye corners and the base of the nose, not the template's
    points. The least-squares similarity that maps dlib's mean 5-point shape onto ``points5`` is
    applied to dlib's mean face's template points (eye centres, nose tip, mouth corners), so
    aligning with the result is aligning the detected eye corners and nose base to where they
    sit on the mean face. On dlib's mean face, the template points fit the ArcFace template to
    within 1.7 pixels at 112.

    Args:
        points5: ``[5, 2]`` in the model's order (see :data:`DLIB5_MEAN_SHAPE`).

    Returns:
        ``float64 [5, 2]``, in the template's order.
    """
    points = _points(points5, 5, "points5")
    matrix = similarity_transform(DLIB5_MEAN_SHAPE, points)
    return transform_points(_dlib_mean_five(), matrix)


def similarity_transform(src: Any, dst: Any) -> np.ndarray:
    """The least-squares similarity (rotation, uniform scale, translation) mapping src onto dst.

    Umeyama's closed form (IEEE TPAMI 13(4), 1991), without reflection: it minimises
    ``sum ||s R src_i + t - dst_i||^2``. Exact when the points are related by a similarity.

    Args:
        src: ``[N, 2]`` points, N >= 2, not all equal.
        dst: ``[N, 2]`` points.

    Returns:
        ``float64 [2, 3]`` matrix ``M`` with ``dst ≈ src @ M[:, :2].T + M[:, 2]`` (the form
        ``cv2.warpAffine`` takes).
    """
    source = _points(src, None, "src")
    target = _points(dst, len(source), "dst")
    if len(source) < 2:
        raise ValueError(f"a similarity transform needs at least 2 points, got {len(source)}")
    source_mean, target_mean = source.mean(0), target.mean(0)
    source_centred, target_centred = source - source_mean, target - target_mean
    source_variance = (source_centred**2).sum(1).mean()
    if source_variance <= 1e-12:
        raise ValueError("src points are all at the same place; the transform is undefined")
    covariance = target_centred.T @ source_centred / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    d = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1, 1] = -1.0
    rotation = u @ d @ vt
    scale = float(np.trace(np.diag(singular) @ d) / source_variance)
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = target_mean - scale * rotation @ source_mean
    return matrix


def transform_points(points: Any, matrix: np.ndarray) -> np.ndarray:
    """Apply a ``[2, 3]`` affine matrix to ``[N, 2]`` points; returns ``float64 [N, 2]``."""
    array = np.asarray(points, dtype=np.float64)
    return array @ matrix[:, :2].T + matrix[:, 2]


# ---------------------------------------------------------------------------------------------
# Warping
# ---------------------------------------------------------------------------------------------


def _cv2() -> Any:
    import cv2  # heavy: imported on use (a core dependency, via albumentations)

    return cv2


def load_image(path: str | os.PathLike[str]) -> np.ndarray | None:
    """Read an image file as RGB ``uint8 [H, W, 3]``; None when its bytes do not decode.

    The bytes are read by Python and decoded from memory, so any file name the file system
    holds works (``cv2.imread`` crashes the process on a name that is not valid UTF-8). An
    empty file, a truncated or foreign format (GIF), or an image beyond OpenCV's size limit
    gives None. Grey, 16-bit and RGBA images are converted to 8-bit RGB.

    Raises:
        OSError: the file cannot be read (missing, a folder, no permission).
    """
    cv2 = _cv2()
    with open(path, "rb") as handle:
        data = np.frombuffer(handle.read(), np.uint8)
    if data.size == 0:
        return None
    try:
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error:  # e.g. more pixels than CV_IO_MAX_IMAGE_PIXELS
        return None
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _as_rgb(image: Any) -> np.ndarray:
    """Check an image and return it as a contiguous ``uint8 [H, W, 3]`` array."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"images must be uint8 RGB arrays, got dtype {array.dtype}")
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, :3]
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"images must have shape [H, W, 3] (RGB), got {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"empty image of shape {array.shape}")
    return np.ascontiguousarray(array)


def _border(border: str) -> tuple[int, tuple[int, int, int]]:
    cv2 = _cv2()
    if border not in _BORDERS:
        raise ValueError(f"border must be one of {_BORDERS}, got {border!r}")
    mode = cv2.BORDER_CONSTANT if border == "constant" else cv2.BORDER_REPLICATE
    return mode, (0, 0, 0)


def _warp(image: np.ndarray, matrix: np.ndarray, size: int, border: str) -> np.ndarray:
    """``cv2.warpAffine`` to ``size`` x ``size``, area-averaging first when shrinking a lot."""
    cv2 = _cv2()
    mode, value = _border(border)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale < _ANTIALIAS_BELOW:
        # Cut out the part of the source the output sees (plus a little for interpolation),
        # shrink it by the transform's scale with area averaging, and warp what is left.
        inverse = cv2.invertAffineTransform(matrix)
        corners = np.array(
            [[-0.5, -0.5], [size - 0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5]]
        )
        seen = transform_points(corners, inverse)
        height, width = image.shape[:2]
        x0, y0 = np.floor(seen.min(0)).astype(int) - 2
        x1, y1 = np.ceil(seen.max(0)).astype(int) + 3
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            region = image[y0:y1, x0:x1]
            new_w = max(1, round((x1 - x0) * scale))
            new_h = max(1, round((y1 - y0) * scale))
            region = cv2.resize(region, (new_w, new_h), interpolation=cv2.INTER_AREA)
            fx, fy = new_w / (x1 - x0), new_h / (y1 - y0)
            # A pixel u of the shrunk region sits at x0 + (u + 0.5) / fx - 0.5 in the source.
            linear = matrix[:, :2] @ np.diag([1.0 / fx, 1.0 / fy])
            offset = matrix[:, :2] @ np.array([x0 + 0.5 / fx - 0.5, y0 + 0.5 / fy - 0.5])
            image = region
            matrix = np.column_stack([linear, matrix[:, 2] + offset])
    return cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=mode, borderValue=value
    )


def _check_size(size: int) -> int:
    if int(size) != size or size < 8:
        raise ValueError(f"output size must be an integer >= 8, got {size!r}")
    return int(size)


def align_face(
    image: np.ndarray,
    landmarks68: Any | None = None,
    five: Any | None = None,
    size: int = DEFAULT_SIZE,
    *,
    margin: float = 0.0,
    border: str = "constant",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Align a face to the 5-point template by a least-squares similarity transform.

    Args:
        image: RGB ``uint8 [H, W, 3]``.
        landmarks68: ``[68, 2]`` iBUG landmarks in image pixels; used for the alignment when
            ``five`` is not given, and returned in the aligned image's coordinates.
        five: ``[5, 2]`` points in the template's order (see :func:`five_points_from_68`,
            :func:`five_points_from_dlib5`); takes precedence over ``landmarks68`` for the
            alignment.
        size: output side in pixels.
        margin: see :func:`alignment_template`.
        border: how pixels outside the image are filled: ``"constant"`` (black) or
            ``"replicate"`` (the nearest edge pixel).

    Returns:
        The aligned ``uint8 [size, size, 3]`` image and ``float32 [68, 2]`` landmarks in its
        pixel coordinates (None when ``landmarks68`` is None). Landmarks may fall outside the
        image when the face is larger than the crop.
    """
    size = _check_size(size)
    rgb = _as_rgb(image)
    landmarks = None if landmarks68 is None else _points(landmarks68, 68, "landmarks68")
    if five is not None:
        anchors = _points(five, 5, "five")
    elif landmarks is not None:
        anchors = five_points_from_68(landmarks)
    else:
        raise ValueError("align_face needs landmarks68 or five")
    matrix = similarity_transform(anchors, alignment_template(size, margin))
    aligned = _warp(rgb, matrix, size, border)
    if landmarks is None:
        return aligned, None
    return aligned, transform_points(landmarks, matrix).astype(np.float32)


def _align_matrix(five: np.ndarray, size: int, margin: float) -> np.ndarray:
    return similarity_transform(five, alignment_template(size, margin))


def crop_box(
    image: np.ndarray,
    box: Sequence[float],
    size: int = DEFAULT_SIZE,
    margin: float = DEFAULT_BOX_MARGIN,
    *,
    border: str = "constant",
) -> tuple[np.ndarray, np.ndarray]:
    """A square crop around a box, padded where it leaves the image, resized to ``size``.

    The square is centred on the box, with side ``max(width, height) * (1 + 2 * margin)``.

    Args:
        image: RGB ``uint8 [H, W, 3]``.
        box: ``(x0, y0, x1, y1)`` in pixels, ``x1 > x0``, ``y1 > y0`` (exclusive ends).
        size: output side in pixels.
        margin: fraction of the box's longer side added on each side.
        border: ``"constant"`` (black padding) or ``"replicate"`` (edge pixels repeated).

    Returns:
        The ``uint8 [size, size, 3]`` crop and the ``float64 [2, 3]`` matrix mapping image
        pixel coordinates to crop pixel coordinates (use it with :func:`transform_points`).
    """
    size = _check_size(size)
    rgb = _as_rgb(image)
    if len(box) != 4:
        raise ValueError(f"box must be (x0, y0, x1, y1), got {box!r}")
    x0, y0, x1, y1 = (float(value) for value in box)
    if not np.isfinite([x0, y0, x1, y1]).all() or x1 <= x0 or y1 <= y0:
        raise ValueError(f"box must be finite with x1 > x0 and y1 > y0, got {tuple(box)}")
    if margin < 0:
        raise ValueError(f"box margin must be >= 0, got {margin}")
    side = max(x1 - x0, y1 - y0) * (1.0 + 2.0 * margin)
    left = (x0 + x1) / 2.0 - side / 2.0  # in pixel-edge coordinates
    top = (y0 + y1) / 2.0 - side / 2.0
    scale = size / side
    # Edge coordinates e = x + 0.5; the crop's edge coordinate is scale * (e - left).
    matrix = np.array(
        [[scale, 0.0, scale * (0.5 - left) - 0.5], [0.0, scale, scale * (0.5 - top) - 0.5]]
    )
    return _warp(rgb, matrix, size, border), matrix


def resize_aligned(image: np.ndarray, size: int = DEFAULT_SIZE) -> np.ndarray:
    """Resize an already aligned face crop to ``size`` x ``size``.

    Area averaging when shrinking, bilinear when enlarging. A non-square crop is stretched (it
    keeps all of its content; the source's own alignment decided the framing).

    Args:
        image: RGB ``uint8 [H, W, 3]``.
        size: output side in pixels.

    Returns:
        ``uint8 [size, size, 3]`` (the input itself when it already has that size).
    """
    cv2 = _cv2()
    size = _check_size(size)
    rgb = _as_rgb(image)
    height, width = rgb.shape[:2]
    if (height, width) == (size, size):
        return rgb
    shrinking = height * width > size * size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(rgb, (size, size), interpolation=interpolation)


def _resize_matrix(shape: tuple[int, ...], size: int) -> np.ndarray:
    height, width = shape[:2]
    sx, sy = size / width, size / height
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])


# ---------------------------------------------------------------------------------------------
# Detection (dlib)
# ---------------------------------------------------------------------------------------------


def _import_dlib() -> Any:
    try:
        import dlib  # the faces extra
    except ImportError as error:
        raise ImportError(
            f"face detection and landmarks need dlib, which is not installed: {_FACES_EXTRA} "
            "(it installs dlib-bin and face-recognition-models)"
        ) from error
    return dlib


def _models_dir() -> Path:
    # find_spec does not run face_recognition_models/__init__.py, which imports pkg_resources
    # (gone from setuptools >= 81).
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "dlib's shape predictors come from the face-recognition-models package, which is "
            f"not installed: {_FACES_EXTRA}, or pass models_dir= pointing at a folder with "
            "shape_predictor_5_face_landmarks.dat (and shape_predictor_68_face_landmarks.dat)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _model_file(folder: Path, name: str, models_dir: str | Path | None) -> Path:
    path = folder / name
    if path.is_file():
        return path
    if models_dir is not None:
        raise FileNotFoundError(f"dlib model file {path} not found (models_dir={models_dir!r})")
    raise ImportError(f"dlib model file {path} not found; reinstall: {_FACES_EXTRA}")


def landmark_backend() -> str:
    """What :class:`FaceDetector` would run here: ``"dlib <version>"``, or ``"none"`` when
    dlib or its model files are missing (the shard writer then crops boxes instead of aligning
    them). The converter records it, so that installing the ``faces`` extra re-converts the
    shards it changes."""
    try:
        dlib = _import_dlib()
        folder = _models_dir()
    except ImportError:
        return "none"
    models = ("shape_predictor_5_face_landmarks.dat", "shape_predictor_68_face_landmarks.dat")
    if not all((folder / name).is_file() for name in models):
        return "none"
    return f"dlib {getattr(dlib, '__version__', 'unknown')}"


Box = tuple[float, float, float, float]


class FaceDetector:
    """dlib's HOG face detector with the 5-point and (optionally) 68-point shape predictors.

    The HOG detector finds frontal and near-frontal faces of about 80 pixels and up (40 with
    ``upsample=1``); it takes about 0.1 s on a 512 x 512 image with ``upsample=1`` and about
    0.03 s with ``upsample=0`` on one CPU core. The 5-point predictor (used for alignment) takes
    well under a millisecond; the 68-point one a few milliseconds, and about 0.7 s to load.

    Args:
        upsample: how many times the image is doubled before detection (finds smaller faces,
            about 4x slower per step).
        min_score: detections scoring below this are dropped (dlib's own threshold is 0; weak
            detections between 0 and 0.5 are mostly false positives).
        with_landmarks: also load the 68-point predictor (dlib notes it is for non-commercial
            use: it was trained on the iBUG 300-W data).
        models_dir: a folder holding ``shape_predictor_5_face_landmarks.dat`` (and
            ``shape_predictor_68_face_landmarks.dat``); default: the ``face-recognition-models``
            package.
        max_side: detect on a copy shrunk so that its longer side is at most this many pixels
            (faster on large video frames); boxes are returned in the original's pixels.

    Raises:
        ImportError: dlib or the model files are missing (the message names the install).
    """

    def __init__(
        self,
        *,
        upsample: int = 1,
        min_score: float = 0.5,
        with_landmarks: bool = False,
        models_dir: str | Path | None = None,
        max_side: int | None = None,
    ) -> None:
        if upsample < 0:
            raise ValueError(f"upsample must be >= 0, got {upsample}")
        if max_side is not None and max_side < 80:
            raise ValueError(f"max_side must be at least 80 pixels, got {max_side}")
        dlib = _import_dlib()
        folder = _models_dir() if models_dir is None else Path(models_dir)
        self.upsample = int(upsample)
        self.min_score = float(min_score)
        self.max_side = max_side
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor5 = dlib.shape_predictor(
            str(_model_file(folder, "shape_predictor_5_face_landmarks.dat", models_dir))
        )
        self._predictor68 = None
        if with_landmarks:
            self._predictor68 = dlib.shape_predictor(
                str(_model_file(folder, "shape_predictor_68_face_landmarks.dat", models_dir))
            )

    @property
    def has_landmarks68(self) -> bool:
        """Whether the 68-point predictor is loaded (``with_landmarks=True``)."""
        return self._predictor68 is not None

    def detect(self, image: np.ndarray) -> list[Box]:
        """Faces in an RGB image, as ``(x0, y0, x1, y1)`` boxes sorted by area, largest first."""
        return [box for box, _ in self.detect_scored(image)]

    def detect_scored(self, image: np.ndarray) -> list[tuple[Box, float]]:
        """Faces in an RGB image with dlib's detection scores, ``[(box, score), ...]`` sorted by
        box area, largest first."""
        cv2 = _cv2()
        rgb = _as_rgb(image)
        factor = 1.0
        if self.max_side is not None and max(rgb.shape[:2]) > self.max_side:
            factor = self.max_side / max(rgb.shape[:2])
            new_size = (round(rgb.shape[1] * factor), round(rgb.shape[0] * factor))
            rgb = cv2.resize(rgb, new_size, interpolation=cv2.INTER_AREA)
        rects, scores, _ = self._detector.run(rgb, self.upsample, 0.0)
        found = [
            (
                (
                    r.left() / factor,
                    r.top() / factor,
                    (r.right() + 1) / factor,
                    (r.bottom() + 1) / factor,
                ),
                float(score),
            )
            for r, score in zip(rects, scores, strict=True)
            if score >= self.min_score
        ]
        return sorted(found, key=lambda f: (f[0][2] - f[0][0]) * (f[0][3] - f[0][1]), reverse=True)

    def _rectangle(self, box: Sequence[float]) -> Any:
        x0, y0, x1, y1 = (float(value) for value in box)
        if not x1 > x0 or not y1 > y0:
            raise ValueError(f"box must have x1 > x0 and y1 > y0, got {tuple(box)}")
        right = max(round(x1) - 1, round(x0))
        bottom = max(round(y1) - 1, round(y0))
        return self._dlib.rectangle(round(x0), round(y0), right, bottom)

    @staticmethod
    def _shape_points(shape: Any) -> np.ndarray:
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def landmarks5(self, image: np.ndarray, box: Sequence[float]) -> np.ndarray:
        """dlib's 5 points inside ``box``: ``float32 [5, 2]`` in :data:`DLIB5_MEAN_SHAPE` order.

        Pass them to :func:`five_points_from_dlib5` for the template's points.
        """
        return self._shape_points(self._predictor5(_as_rgb(image), self._rectangle(box)))

    def landmarks68(self, image: np.ndarray, box: Sequence[float]) -> np.ndarray:
        """iBUG 68-point landmarks inside ``box``: ``float32 [68, 2]``.

        Raises:
            RuntimeError: the detector was built without ``with_landmarks=True``.
        """
        if self._predictor68 is None:
            raise RuntimeError("the 68-point predictor is not loaded; use with_landmarks=True")
        return self._shape_points(self._predictor68(_as_rgb(image), self._rectangle(box)))


# ---------------------------------------------------------------------------------------------
# The shard writer's entry point
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedFace:
    """A face ready for a shard.

    Attributes:
        image: RGB ``uint8 [size, size, 3]``.
        landmarks: ``float32 [68, 2]`` iBUG landmarks in ``image``'s pixel coordinates, or None
            when unknown (they may lie outside the image).
        method: how the face was obtained: ``"aligned"`` (resized), ``"landmarks"`` (5-point
            alignment from given 68 landmarks), ``"box"`` (square crop of the given box),
            ``"box+5point"`` (5-point alignment with points predicted inside the given box),
            ``"detect+5point"`` (detected, then 5-point aligned).
        transform: ``float64 [2, 3]`` matrix from source-image pixels to ``image`` pixels.
    """

    image: np.ndarray
    landmarks: np.ndarray | None
    method: str
    transform: np.ndarray | None = None


def _detected_face(
    rgb: np.ndarray,
    box: Sequence[float],
    detector: FaceDetector,
    size: int,
    margin: float,
    border: str,
    method: str,
) -> PreparedFace:
    five = five_points_from_dlib5(detector.landmarks5(rgb, box))
    matrix = _align_matrix(five, size, margin)
    landmarks = None
    if detector.has_landmarks68:
        landmarks68 = detector.landmarks68(rgb, box)
        landmarks = transform_points(landmarks68, matrix).astype(np.float32)
    return PreparedFace(_warp(rgb, matrix, size, border), landmarks, method, matrix)


def prepare_face(
    image: np.ndarray,
    hint: FaceHint,
    size: int = DEFAULT_SIZE,
    detector: FaceDetector | None = None,
    *,
    margin: float = 0.0,
    box_margin: float = DEFAULT_BOX_MARGIN,
    border: str = "constant",
) -> PreparedFace | None:
    """Turn an image and its face hint into a square face crop (what the shard writer calls).

    ============  =================================================================================
    hint.mode     what happens
    ============  =================================================================================
    aligned       :func:`resize_aligned`; ``hint.landmarks`` (if any, in the image's pixels) are
                  scaled with it.
    landmarks     5-point alignment from ``hint.landmarks`` (68 points), returned transformed.
    box           with a ``detector``: its 5-point model inside ``hint.box``, then alignment
                  (68 landmarks too when it has them); without: :func:`crop_box`.
    detect        ``detector`` required: the largest face, 5-point alignment, 68 landmarks when
                  the detector has them; None when no face is found.
    ============  =================================================================================

    Args:
        image: RGB ``uint8 [H, W, 3]``.
        hint: the sample's :class:`~holistic.data.adapters._base.FaceHint`.
        size: output side in pixels (112 by default; the FaceBehaviorNet paper used 96).
        detector: a :class:`FaceDetector`; required for ``"detect"``, optional for ``"box"``.
        margin: template margin for alignments (see :func:`alignment_template`).
        box_margin: margin of the plain box crop (see :func:`crop_box`).
        border: ``"constant"`` or ``"replicate"`` filling outside the image.

    Returns:
        A :class:`PreparedFace`, or None when detection finds no face.

    Raises:
        ValueError: a ``"detect"`` hint without a detector, or malformed image/hint values.
    """
    size = _check_size(size)
    rgb = _as_rgb(image)
    if hint.mode == "aligned":
        matrix = _resize_matrix(rgb.shape, size)
        landmarks = None
        if hint.landmarks is not None:
            given = _points(hint.landmarks, 68, "hint.landmarks")
            landmarks = transform_points(given, matrix).astype(np.float32)
        return PreparedFace(resize_aligned(rgb, size), landmarks, "aligned", matrix)
    if hint.mode == "landmarks":
        given = _points(hint.landmarks, 68, "hint.landmarks")
        matrix = _align_matrix(five_points_from_68(given), size, margin)
        landmarks = transform_points(given, matrix).astype(np.float32)
        return PreparedFace(_warp(rgb, matrix, size, border), landmarks, "landmarks", matrix)
    if hint.mode == "box":
        if hint.box is None:
            raise ValueError("face mode 'box' needs a box")
        if detector is not None:
            return _detected_face(rgb, hint.box, detector, size, margin, border, "box+5point")
        crop, matrix = crop_box(rgb, hint.box, size, box_margin, border=border)
        landmarks = None
        if hint.landmarks is not None:
            given = _points(hint.landmarks, 68, "hint.landmarks")
            landmarks = transform_points(given, matrix).astype(np.float32)
        return PreparedFace(crop, landmarks, "box", matrix)
    if hint.mode == "detect":
        if detector is None:
            raise ValueError(
                "face mode 'detect' needs a FaceDetector (holistic.data.faces.FaceDetector, "
                f"from the faces extra: {_FACES_EXTRA})"
            )
        boxes = detector.detect(rgb)
        if not boxes:
            return None
        return _detected_face(rgb, boxes[0], detector, size, margin, border, "detect+5point")
    raise ValueError(f"unknown face mode {hint.mode!r}")
