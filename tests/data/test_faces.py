"""Face preparation: geometry on synthetic points, detection and alignment on real photos.

The real faces are the two offline sample photos: scikit-image's astronaut (512 x 512) and
matplotlib's Grace Hopper (512 x 600). dlib's predictors load once per module.
"""

import sys

import numpy as np
import pytest

from holistic.data import faces
from holistic.data.adapters._base import FaceHint
from holistic.data.faces import (
    ARCFACE_TEMPLATE_112,
    DLIB5_MEAN_SHAPE,
    align_face,
    alignment_template,
    crop_box,
    five_points_from_68,
    five_points_from_dlib5,
    prepare_face,
    resize_aligned,
    similarity_transform,
    transform_points,
)

RNG = np.random.default_rng(0)


def _similarity(angle: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    return np.array([[c, -s, shift[0]], [s, c, shift[1]]])


def _eye_centres(landmarks68: np.ndarray) -> np.ndarray:
    return five_points_from_68(landmarks68)[:2]


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------


def test_similarity_transform_recovers_a_known_transform_exactly():
    src = RNG.uniform(0, 100, size=(7, 2))
    known = _similarity(0.4, 1.7, (12.5, -30.0))
    matrix = similarity_transform(src, transform_points(src, known))
    np.testing.assert_allclose(matrix, known, atol=1e-9)


def test_similarity_transform_is_least_squares_and_never_reflects():
    src = RNG.uniform(0, 100, size=(5, 2))
    known = _similarity(-0.2, 0.8, (3.0, 4.0))
    noisy = transform_points(src, known) + RNG.normal(0, 0.5, size=(5, 2))
    matrix = similarity_transform(src, noisy)
    residual = np.sum((transform_points(src, matrix) - noisy) ** 2)
    # Any nearby similarity fits worse than the closed-form solution.
    for delta in (_similarity(0.01, 1.0, (0, 0)), _similarity(0, 1.01, (0.1, 0))):
        other = delta[:, :2] @ matrix
        other = np.column_stack([other[:, :2], delta[:, :2] @ matrix[:, 2] + delta[:, 2]])
        assert np.sum((transform_points(src, other) - noisy) ** 2) > residual
    mirrored = src * np.array([-1.0, 1.0])
    assert np.linalg.det(similarity_transform(src, mirrored)[:, :2]) > 0
    with pytest.raises(ValueError, match="same place"):
        similarity_transform(np.ones((5, 2)), src)


def test_similarity_transform_matches_scikit_image():
    transform = pytest.importorskip("skimage.transform", reason="scikit-image is not installed")
    src = RNG.uniform(0, 100, size=(5, 2))
    dst = transform_points(src, _similarity(1.0, 0.5, (7.0, 9.0))) + RNG.normal(0, 2, (5, 2))
    reference = transform.SimilarityTransform.from_estimate(src, dst)
    np.testing.assert_allclose(similarity_transform(src, dst), reference.params[:2], atol=1e-9)


def test_alignment_template_scales_the_arcface_template():
    np.testing.assert_allclose(alignment_template(112), ARCFACE_TEMPLATE_112, atol=1e-12)
    np.testing.assert_allclose(alignment_template(96), ARCFACE_TEMPLATE_112 * 96 / 112, atol=0.1)
    plain, wide = alignment_template(112), alignment_template(112, margin=0.25)
    eye_distance = np.linalg.norm(plain[1] - plain[0])
    assert np.linalg.norm(wide[1] - wide[0]) == pytest.approx(eye_distance / 1.5)
    np.testing.assert_allclose(wide.mean(0) - 55.5, (plain.mean(0) - 55.5) / 1.5)
    with pytest.raises(ValueError, match="margin"):
        alignment_template(112, margin=-0.5)


def test_five_points_from_68_uses_eye_means_nose_tip_and_mouth_corners():
    landmarks = RNG.uniform(0, 200, size=(68, 2))
    five = five_points_from_68(landmarks)
    np.testing.assert_allclose(five[0], landmarks[36:42].mean(0))
    np.testing.assert_allclose(five[1], landmarks[42:48].mean(0))
    np.testing.assert_allclose(five[2:], landmarks[[30, 48, 54]])
    with pytest.raises(ValueError, match=r"\[68, 2\]"):
        five_points_from_68(landmarks[:5])


def test_five_points_from_dlib5_follows_the_points_it_is_given():
    known = _similarity(0.3, 150.0, (40.0, 60.0))
    on_mean_face = five_points_from_dlib5(DLIB5_MEAN_SHAPE)
    moved = five_points_from_dlib5(transform_points(DLIB5_MEAN_SHAPE, known))
    np.testing.assert_allclose(moved, transform_points(on_mean_face, known), atol=1e-9)
    # On dlib's mean face the estimated points sit close to the ArcFace template.
    fitted = transform_points(
        on_mean_face, similarity_transform(on_mean_face, alignment_template())
    )
    assert np.abs(fitted - alignment_template()).max() < 2.0


def _dotted_canvas(points: np.ndarray, shape=(400, 500)) -> np.ndarray:
    image = np.zeros((*shape, 3), np.uint8)
    for x, y in np.rint(points).astype(int):
        image[y - 4 : y + 5, x - 4 : x + 5] = 255
    return image


def test_align_face_maps_the_five_points_onto_the_template():
    template = alignment_template(112)
    known = _similarity(0.35, 2.5, (180.0, 60.0))  # a rotated, enlarged face in a large image
    five = np.rint(transform_points(template, known))
    aligned, landmarks = align_face(_dotted_canvas(five), five=five)
    assert aligned.shape == (112, 112, 3) and aligned.dtype == np.uint8
    assert landmarks is None
    grid_y, grid_x = np.mgrid[0:112, 0:112]
    for x, y in template:
        # The intensity centroid of each dot, within 5 pixels of where it should be.
        near = (np.abs(grid_x - x) <= 5) & (np.abs(grid_y - y) <= 5)
        weight = aligned[:, :, 0] * near
        centroid = np.array([(weight * grid_x).sum(), (weight * grid_y).sum()]) / weight.sum()
        np.testing.assert_allclose(centroid, [x, y], atol=0.5)
    assert aligned[5:20, 5:20].max() == 0  # nothing where no point was drawn


def test_align_face_transforms_68_landmarks_and_shrinks_without_aliasing():
    template = alignment_template(112)
    landmarks = RNG.uniform(30, 80, size=(68, 2))
    landmarks[36:42] = template[0]
    landmarks[42:48] = template[1]
    landmarks[[30, 48, 54]] = template[2:]
    known = _similarity(-0.2, 6.0, (100.0, 50.0))  # a large face: the warp shrinks it 6 times
    big = transform_points(landmarks, known)
    stripes = np.zeros((1200, 1200, 3), np.uint8)
    stripes[:, ::2] = 255  # 1-pixel stripes: a plain bilinear warp would alias them
    aligned, moved = align_face(stripes, landmarks68=big)
    np.testing.assert_allclose(moved, landmarks, atol=1e-3)
    assert moved.dtype == np.float32
    assert abs(aligned[20:90, 20:90].mean() - 127.5) < 12
    assert aligned[20:90, 20:90].std() < 20  # averaged to grey, not a moire of 0s and 255s


def test_crop_box_pads_where_the_square_leaves_the_image():
    image = np.full((100, 120, 3), 200, np.uint8)
    image[0, :] = 50  # the top edge row, to see replication
    crop, matrix = crop_box(image, (-20, -20, 20, 20), size=40, margin=0.0)
    assert crop.shape == (40, 40, 3)
    assert crop[:15, :15].max() == 0  # outside the image: black padding
    assert crop[30:, 30:].min() == 200
    np.testing.assert_allclose(transform_points([[-20 - 0.5, -20 - 0.5]], matrix), [[-0.5, -0.5]])
    replicated, _ = crop_box(image, (-20, -20, 20, 20), size=40, margin=0.0, border="replicate")
    assert replicated[:15, 25:].max() == 50 and replicated[:15, 25:].min() == 50


def test_crop_box_is_square_centred_and_shrinks_large_boxes():
    image = RNG.integers(0, 256, size=(300, 400, 3), dtype=np.uint8)
    crop, matrix = crop_box(image, (100, 50, 300, 150), size=112, margin=0.1)
    # The crop is the 240-pixel square centred on (200, 100), with the box's longer side 200.
    np.testing.assert_allclose(transform_points([[199.5, 99.5]], matrix), [[55.5, 55.5]])
    assert matrix[0, 0] == pytest.approx(112 / 240) == matrix[1, 1]
    assert crop.shape == (112, 112, 3)
    with pytest.raises(ValueError, match="x1 > x0"):
        crop_box(image, (10, 10, 5, 20))


def test_resize_aligned_and_image_checks():
    image = RNG.integers(0, 256, size=(224, 224, 3), dtype=np.uint8)
    assert resize_aligned(image, 112).shape == (112, 112, 3)
    assert resize_aligned(image[:96, :96], 96) is not None
    np.testing.assert_array_equal(resize_aligned(image, 224), image)
    grey = resize_aligned(image[:, :, 0], 64)
    assert grey.shape == (64, 64, 3)
    with pytest.raises(ValueError, match="uint8"):
        resize_aligned(image.astype(np.float32), 112)


def test_prepare_face_without_a_detector():
    template = alignment_template(96)
    landmarks = RNG.uniform(20, 70, size=(68, 2))
    landmarks[36:42], landmarks[42:48] = template[0], template[1]
    landmarks[[30, 48, 54]] = template[2:]
    known = _similarity(0.1, 3.0, (50.0, 20.0))
    image = RNG.integers(0, 256, size=(400, 400, 3), dtype=np.uint8)

    aligned = prepare_face(image[:192, :192], FaceHint("aligned"), size=96)
    assert aligned.method == "aligned" and aligned.image.shape == (96, 96, 3)
    assert aligned.landmarks is None

    hint = FaceHint("landmarks", landmarks=transform_points(landmarks, known))
    from_landmarks = prepare_face(image, hint, size=96)
    assert from_landmarks.method == "landmarks" and from_landmarks.image.shape == (96, 96, 3)
    np.testing.assert_allclose(from_landmarks.landmarks, landmarks, atol=1e-3)

    boxed = prepare_face(image, FaceHint("box", box=(350, 350, 450, 450)), size=96)
    assert boxed.method == "box" and boxed.image.shape == (96, 96, 3)
    assert boxed.image[-10:, -10:].max() == 0  # past the image's corner: padding

    with pytest.raises(ValueError, match="FaceDetector"):
        prepare_face(image, FaceHint("detect"))


def test_missing_dlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # makes `import dlib` fail
    with pytest.raises(ImportError, match=r"pip install 'holistic\[faces\]'"):
        faces.FaceDetector()


# --------------------------------------------------------------------------------------------
# Real faces, dlib
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def detector():
    pytest.importorskip("dlib", reason="dlib is not installed (pip install 'holistic[faces]')")
    return faces.FaceDetector(with_landmarks=True)


@pytest.fixture(scope="module")
def photos():
    data = pytest.importorskip("skimage.data", reason="scikit-image (dev extra) is not installed")
    cbook = pytest.importorskip("matplotlib.cbook", reason="matplotlib is not installed")
    import matplotlib.image

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        grace = np.asarray(matplotlib.image.imread(handle, format="jpg"))
    return {"astronaut": data.astronaut(), "grace_hopper": grace}


@pytest.fixture(scope="module")
def detections(detector, photos):
    return {name: detector.detect(image) for name, image in photos.items()}


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_detection_finds_the_one_face(detections, photos, name):
    boxes = detections[name]
    assert len(boxes) == 1
    x0, y0, x1, y1 = boxes[0]
    height, width = photos[name].shape[:2]
    assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    assert 60 < x1 - x0 < 300  # a face-sized box, not the whole photo


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_five_point_alignment_puts_the_eyes_on_the_template(detector, photos, name):
    prepared = prepare_face(photos[name], FaceHint("detect"), detector=detector)
    assert prepared.method == "detect+5point"
    assert prepared.image.shape == (112, 112, 3) and prepared.image.dtype == np.uint8
    # The eyes of the (independent) 68-point model, moved into the aligned image.
    eyes = _eye_centres(prepared.landmarks)
    assert np.abs(eyes - alignment_template()[:2]).max() < 3.0
    assert prepared.landmarks.shape == (68, 2) and prepared.landmarks.dtype == np.float32
    # The ArcFace framing is tight: brows, eyes, nose and mouth are inside, the jaw line may
    # touch the border.
    assert (prepared.landmarks[17:] >= 0).all() and (prepared.landmarks[17:] < 112).all()
    assert (prepared.landmarks > -8).all() and (prepared.landmarks < 120).all()


def test_landmarks_mode_aligns_from_68_points(detector, detections, photos):
    image = photos["grace_hopper"]
    landmarks = detector.landmarks68(image, detections["grace_hopper"][0])
    prepared = prepare_face(image, FaceHint("landmarks", landmarks=landmarks), size=96)
    assert prepared.method == "landmarks" and prepared.image.shape == (96, 96, 3)
    assert np.abs(_eye_centres(prepared.landmarks) - alignment_template(96)[:2]).max() < 3.0
    # Both alignments frame the face alike: its landmarks land within a few pixels.
    five_point = prepare_face(image, FaceHint("detect"), size=96, detector=detector)
    assert np.abs(prepared.landmarks - five_point.landmarks).max() < 5.0


def test_box_mode_aligns_inside_the_box_with_a_detector(detector, detections, photos):
    image = photos["astronaut"]
    hint = FaceHint("box", box=detections["astronaut"][0])
    with_detector = prepare_face(image, hint, detector=detector)
    detected = prepare_face(image, FaceHint("detect"), detector=detector)
    assert with_detector.method == "box+5point"
    np.testing.assert_array_equal(with_detector.image, detected.image)
    plain = prepare_face(image, hint)
    assert plain.method == "box" and plain.landmarks is None
    assert plain.image.shape == (112, 112, 3)


def test_a_blank_image_has_no_face(detector):
    blank = np.full((256, 256, 3), 128, np.uint8)
    assert detector.detect(blank) == []
    assert prepare_face(blank, FaceHint("detect"), detector=detector) is None


def test_detection_on_a_shrunk_copy_returns_original_pixels(photos, detections):
    small = faces.FaceDetector(max_side=256, upsample=1)
    boxes = small.detect(photos["astronaut"])
    assert len(boxes) == 1
    np.testing.assert_allclose(boxes[0], detections["astronaut"][0], atol=12)
    with pytest.raises(RuntimeError, match="with_landmarks"):
        small.landmarks68(photos["astronaut"], boxes[0])
