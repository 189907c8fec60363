"""The procedural face renderer: framing, determinism, and that every AU shows where it should.

Visibility is measured as an *area of clearly changed pixels*: a pixel counts as changed when
the sum of its absolute RGB differences to the neutral render exceeds 40 grey levels (about a
10% colour change: far above JPEG q95 error and well visible). An AU is visible at 112 px when
at least 30 pixels change (a 2-pixel-wide stroke 15 pixels long, or a mouth corner moving by 3
pixels along the lip); it is where it should be when at least 70% of the changed pixels fall in
its region (brows, eyes, nose or mouth/chin), defined from the neutral face's landmarks.
"""

from __future__ import annotations

import numpy as np
import pytest

from holistic.data.faces import alignment_template, five_points_from_68
from holistic.schema import AU_VOCABULARIES
from holistic.synth import (
    SUPPORTED_AUS,
    Identity,
    Nuisance,
    Pose,
    RenderedFace,
    render_face,
    sample_identity,
)

CHANGED = 40  # L1 RGB difference of a clearly changed pixel
MIN_AREA_112 = 30  # changed pixels for "clearly visible" at 112 px
MIN_AREA_64 = 8  # the same area scaled to 64 px is ~10; 8 leaves room for rounding
INSIDE = 0.7  # share of the changed pixels inside the AU's region

REGION = {1: "brows", 2: "brows", 4: "brows", 5: "eyes", 6: "eyes", 7: "eyes", 9: "nose"}


def _region(landmarks: np.ndarray, size: int, name: str) -> np.ndarray:
    """Boolean mask of an AU's region, from the neutral face's 68 landmarks (pixels)."""
    lm, u = landmarks, float(size)  # one face unit is the crop side at scale 1
    yy, xx = np.mgrid[:size, :size]
    brow_top, brow_mid = lm[17:27, 1].min(), lm[17:27, 1].mean()
    across = (xx >= lm[0, 0] - 0.02 * u) & (xx <= lm[16, 0] + 0.02 * u)
    if name == "brows":  # forehead down to the eye line
        return across & (yy >= brow_top - 0.16 * u) & (yy <= lm[36:48, 1].mean())
    if name == "eyes":  # brow line down to the cheeks at nose-tip height
        return across & (yy >= brow_mid) & (yy <= lm[30, 1] + 0.02 * u)
    if name == "nose":  # between the outer eye corners, brows to the lip seam
        inner = (xx >= lm[36, 0] - 0.02 * u) & (xx <= lm[45, 0] + 0.02 * u)
        return inner & (yy >= brow_top - 0.02 * u) & (yy <= lm[62, 1] + 0.02 * u)
    return across & (yy >= lm[30, 1] - 0.02 * u)  # mouth, jaw and chin


def _changed(a: RenderedFace, b: RenderedFace) -> np.ndarray:
    return np.abs(a.image.astype(int) - b.image.astype(int)).sum(-1) > CHANGED


def _cases() -> list[tuple[Identity, Pose, Nuisance]]:
    """The default face plus sampled identities under poses, light, noise, glasses."""
    rng = np.random.default_rng(3)
    cases = [(Identity(), Pose(), Nuisance())]
    for k in range(5):
        nuisance = Nuisance(
            brightness=0.8 if k % 2 else 1.1,
            light_direction=(-0.8, 0.8)[k % 2],
            background=None if k >= 2 else (90, 140, 110),
            noise=3.0 if k >= 2 else 0.0,
            occluder="glasses" if k == 3 else None,
        )
        pose = Pose(10.0, -8.0, 6.0) if k >= 1 else Pose()
        cases.append((sample_identity(rng), pose, nuisance))
    return cases


CASES = _cases()


def _au_effects(size: int) -> dict[int, list[tuple[int, float]]]:
    """AU -> [(changed area, share inside region)] over CASES at ``size``."""
    effects: dict[int, list[tuple[int, float]]] = {au: [] for au in SUPPORTED_AUS}
    for identity, pose, nuisance in CASES:
        kwargs = {"pose": pose, "nuisance": nuisance, "size": size}
        neutral = render_face(identity, {}, rng=np.random.default_rng(1), **kwargs)
        for au in SUPPORTED_AUS:
            face = render_face(identity, {au: 1.0}, rng=np.random.default_rng(1), **kwargs)
            changed = _changed(neutral, face)
            region = _region(neutral.landmarks, size, REGION.get(au, "mouth"))
            area = int(changed.sum())
            effects[au].append((area, float((changed & region).sum() / max(area, 1))))
    return effects


@pytest.fixture(scope="module")
def effects_112() -> dict[int, list[tuple[int, float]]]:
    return _au_effects(112)


def test_supported_aus_are_the_union_of_the_vocabularies():
    union = sorted({au for vocabulary in AU_VOCABULARIES.values() for au in vocabulary})
    assert list(SUPPORTED_AUS) == union
    assert len(SUPPORTED_AUS) == 20


@pytest.mark.parametrize("au", SUPPORTED_AUS)
def test_every_au_is_visible_where_it_should_be_at_112(effects_112, au):
    for case, (area, inside) in enumerate(effects_112[au]):
        assert area >= MIN_AREA_112, f"AU{au} case {case}: only {area} pixels change"
        assert inside >= INSIDE, f"AU{au} case {case}: {inside:.0%} of the change in its region"


def test_most_aus_are_visible_at_64():
    effects = _au_effects(64)
    visible = [au for au in SUPPORTED_AUS if min(a for a, _ in effects[au]) >= MIN_AREA_64]
    assert len(visible) >= 16, f"visible at 64 px: {visible}"
    # And those that show are still in the right place.
    for au in visible:
        assert min(share for _, share in effects[au]) >= 0.6, au


def test_neutral_face_is_framed_like_an_aligned_crop():
    template = alignment_template(112)
    for identity, _, nuisance in CASES:
        face = render_face(identity, {}, nuisance=Nuisance(background=nuisance.background))
        error = np.abs(five_points_from_68(face.landmarks) - template).max()
        assert error < 3.0, (identity, error)
    # The mean face sits on the template far more tightly than the identity tolerance.
    face = render_face(Identity(), {})
    assert np.abs(five_points_from_68(face.landmarks) - template).max() < 1.0


def test_output_types_shapes_and_landmarks_inside_the_image():
    """Aligned framing keeps every landmark in for poses within 15 degrees (a jaw drop may push
    the chin out of an aligned crop, as in real ones); photo framing keeps everything in."""
    rng = np.random.default_rng(0)
    no_jaw_drop = [au for au in SUPPORTED_AUS if au not in (26, 27)]
    for size in (64, 112, 160):
        for k in range(16):
            photo = k % 2 == 1
            pool = SUPPORTED_AUS if photo else no_jaw_drop
            aus = {int(au): float(rng.uniform(0.5, 1)) for au in rng.choice(pool, 4, replace=False)}
            pose = Pose(*(float(v) for v in rng.uniform(-20 if photo else -15, 15, 3)))
            nuisance = Nuisance(scale=0.7, offset=(0.05, -0.05)) if photo else Nuisance()
            face = render_face(sample_identity(rng), aus, pose=pose, nuisance=nuisance, size=size)
            assert face.image.shape == (size, size, 3) and face.image.dtype == np.uint8
            assert face.landmarks.shape == (68, 2) and face.landmarks.dtype == np.float32
            inside = (face.landmarks >= -0.5) & (face.landmarks <= size - 0.5)
            assert inside.all(), (size, aus, pose, face.landmarks[~inside.all(1)])


def test_determinism_same_inputs_same_rng_state_same_pixels():
    identity = sample_identity(np.random.default_rng(5))
    nuisance = Nuisance(background=None, noise=4.0, blur=0.7, occluder="hand", light_direction=0.5)
    kwargs = {"pose": Pose(5, 3, -4), "nuisance": nuisance}
    a = render_face(identity, {12: 0.8, 6: 0.5}, rng=np.random.default_rng(9), **kwargs)
    b = render_face(identity, {12: 0.8, 6: 0.5}, rng=np.random.default_rng(9), **kwargs)
    c = render_face(identity, {12: 0.8, 6: 0.5}, rng=np.random.default_rng(10), **kwargs)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    assert (a.image != c.image).any()  # the rng does drive texture and noise
    np.testing.assert_array_equal(a.landmarks, c.landmarks)  # ... but not the geometry
    d = render_face(identity, {12: 0.8, 6: 0.5})
    np.testing.assert_array_equal(d.image, render_face(identity, {12: 0.8, 6: 0.5}).image)


@pytest.mark.parametrize("au", [1, 4, 6, 12, 17, 26])
def test_effect_grows_with_intensity(au):
    identity = Identity()
    neutral = render_face(identity, {})
    half = render_face(identity, {au: 0.5})
    full = render_face(identity, {au: 1.0})
    diff_half = np.abs(half.image.astype(int) - neutral.image.astype(int)).sum()
    diff_full = np.abs(full.image.astype(int) - neutral.image.astype(int)).sum()
    assert 0 < diff_half < diff_full


def test_landmarks_move_as_the_aus_say():
    identity = Identity()
    lm0 = render_face(identity, {}).landmarks
    up = lambda au, idx: (lm0[idx, 1] - render_face(identity, {au: 1.0}).landmarks[idx, 1]).mean()  # noqa: E731
    assert up(1, [21, 22]) > 3  # inner brows raise
    assert up(2, [17, 26]) > 3  # outer brows raise
    assert up(4, [19, 20, 21, 22, 23, 24]) < -2  # brows lower
    assert up(12, [48, 54]) > 3  # lip corners up
    assert up(15, [48, 54]) < -3  # lip corners down
    assert up(26, [8]) < -5  # jaw drops
    gap = lambda lm: lm[66, 1] - lm[62, 1]  # noqa: E731
    assert gap(render_face(identity, {25: 1.0}).landmarks) > gap(lm0) + 3
    assert gap(render_face(identity, {27: 1.0}).landmarks) > gap(
        render_face(identity, {26: 1.0}).landmarks
    )
    width = lambda lm: lm[54, 0] - lm[48, 0]  # noqa: E731
    assert width(render_face(identity, {20: 1.0}).landmarks) > width(lm0) + 6
    assert width(render_face(identity, {23: 1.0}).landmarks) < width(lm0) - 3


def test_nuisance_framing_places_the_face_in_a_larger_photo():
    base = render_face(Identity(), {}, size=112)
    small = render_face(Identity(), {}, size=224, nuisance=Nuisance(scale=0.5, offset=(0.1, -0.05)))
    # Same face, half as large relative to a frame twice as big, shifted by (22.4, -11.2) px.
    expected = (base.landmarks + 0.5 - 56.0) * 1.0 + 112.0 + np.array([22.4, -11.2]) - 0.5
    np.testing.assert_allclose(small.landmarks, expected, atol=1e-3)


def test_occluders_and_nuisances_change_pixels_not_landmarks():
    identity = Identity()
    plain = render_face(identity, {12: 1.0})
    for nuisance in (Nuisance(occluder="hand"), Nuisance(occluder="glasses"), Nuisance(blur=1.0),
                     Nuisance(brightness=0.7, light_direction=1.0)):  # fmt: skip
        other = render_face(identity, {12: 1.0}, nuisance=nuisance)
        np.testing.assert_array_equal(plain.landmarks, other.landmarks)
        assert _changed(plain, other).sum() > 100, nuisance


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="AU 3"):
        render_face(Identity(), {3: 1.0})
    with pytest.raises(ValueError, match="intensity"):
        render_face(Identity(), {12: 1.5})
    with pytest.raises(ValueError, match="occluder"):
        render_face(Identity(), {}, nuisance=Nuisance(occluder="hat"))
    with pytest.raises(ValueError, match="shape"):
        Identity(shape=(0.0,))


def test_sampled_identities_vary():
    rng = np.random.default_rng(0)
    identities = [sample_identity(rng) for _ in range(20)]
    assert len({i.skin for i in identities}) == 20
    assert len({i.hair_style for i in identities}) >= 3
    images = [render_face(i, {}).image.astype(int) for i in identities[:4]]
    assert all(np.abs(images[0] - other).mean() > 5 for other in images[1:])
