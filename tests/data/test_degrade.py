import math
from collections import Counter

import numpy as np
import pytest

from holistic.data.degrade import (
    CODE_DEGRADATIONS,
    PAPER_DEGRADATIONS,
    RandomDegradation,
    degrade,
)
from holistic.data.stages import reseed

H, W = 48, 70  # occlusion cells of 10 x 4 pixels, rectangles of 5 x 2


@pytest.fixture(scope="module")
def textured():
    return np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _roughness(image):
    return np.abs(np.diff(image.astype(float), axis=1)).mean()


def test_downsample_removes_detail_more_at_each_level(textured):
    outputs = [degrade(textured, "downsample", level) for level in range(3)]
    assert all(out.shape == textured.shape and out.dtype == np.uint8 for out in outputs)
    roughness = [_roughness(textured)] + [_roughness(out) for out in outputs]
    assert roughness == sorted(roughness, reverse=True) and roughness[-1] < 0.3 * roughness[0]
    # A flat image has no detail to lose.
    flat = np.full((H, W, 3), 90, np.uint8)
    assert np.array_equal(degrade(flat, "downsample", 2), flat)


@pytest.mark.parametrize("level, sigma", [(0, 1.0), (1, 3.0), (2, 5.0)])
def test_blur_is_a_gaussian_of_the_level_radius(level, sigma):
    line = np.zeros((H, W, 3), np.uint8)
    line[:, 35] = 255  # a vertical line: the blurred profile is the 1-D Gaussian
    profile = degrade(line, "blur", level)[H // 2, :, 0].astype(float)
    distance = np.arange(W) - 35.0
    gaussian = 255 * np.exp(-(distance**2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)
    assert np.abs(profile - gaussian).max() <= 1.0  # up to rounding to uint8
    assert np.array_equal(degrade(line, "blur", level)[0], degrade(line, "blur", level)[-1])


@pytest.mark.parametrize("level, var", [(0, 0.001), (1, 0.005), (2, 0.01)])
def test_noise_has_the_level_sigma_and_is_clipped_not_wrapped(level, var):
    rng = np.random.default_rng(1)
    grey = np.full((H, W, 3), 128, np.uint8)
    noisy = degrade(grey, "noise", level, rng).astype(float)
    assert noisy.std() == pytest.approx(math.sqrt(var) * 255, rel=0.05)
    assert abs(noisy.mean() - 128) < 1.0
    white = degrade(np.full((H, W, 3), 255, np.uint8), "noise", level, rng)
    assert white.min() > 128  # wraparound (255 + δ -> δ - 1) would leave dark pixels
    assert white.max() == 255 and (white < 255).mean() > 0.4
    black = degrade(np.zeros((H, W, 3), np.uint8), "noise", level, rng)
    assert black.max() < 128 and black.min() == 0


def test_colour_scales_brightness_and_clips():
    grey = np.full((4, 4, 3), 100, np.uint8)
    assert [int(degrade(grey, "colour", level)[0, 0, 0]) for level in range(3)] == [75, 125, 150]
    assert int(degrade(np.full((4, 4, 3), 200, np.uint8), "colour", 2).min()) == 255


def test_grayscale_is_pillow_luminance_on_three_channels(textured):
    from PIL import Image

    gray = degrade(textured, "grayscale")
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 0], gray[..., 2])
    pillow = np.asarray(Image.fromarray(textured).convert("L")).astype(int)
    assert np.abs(gray[..., 0].astype(int) - pillow).max() <= 1
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    assert int(degrade(red, "grayscale")[0, 0, 1]) == 76  # 0.299 * 255


def test_occlusion_whitens_the_top_left_quarter_of_each_cell(textured):
    black = np.zeros((H, W, 3), np.uint8)
    occluded = degrade(black, "occlusion")
    white = occluded[..., 0] == 255
    assert white.mean() == pytest.approx(0.25)
    # Cells are W // 7 = 10 wide and H // 12 = 4 high; rectangles 5 x 2 from each cell's corner.
    assert white[0, 0] and white[1, 4] and white[4, 10] and white[45, 64]
    assert not white[0, 5] and not white[2, 0] and not white[6, 12]
    out = degrade(textured, "occlusion")
    assert np.array_equal(out[~white], textured[~white]) and (out[white] == 255).all()


def test_degrade_rejects_bad_input(textured):
    with pytest.raises(ValueError, match="uint8"):
        degrade(textured.astype(np.float32), "blur")
    with pytest.raises(ValueError, match="kind"):
        degrade(textured, "jpeg")
    with pytest.raises(ValueError, match="levels"):
        degrade(textured, "blur", 3)
    with pytest.raises(ValueError, match="levels"):
        degrade(textured, "grayscale", 1)
    with pytest.raises(ValueError, match="kinds"):
        RandomDegradation(kinds=("blur", "jpeg"))
    with pytest.raises(ValueError, match="p_clean"):
        RandomDegradation(p_clean=1.5)


@pytest.mark.parametrize("p_clean", [0.5, 0.2])
def test_p_clean_and_uniform_types_and_levels(p_clean):
    transform = RandomDegradation(p_clean=p_clean, seed=0)
    draws = [transform.draw() for _ in range(4000)]
    kinds = Counter(kind for kind, _ in draws)
    assert kinds["none"] / 4000 == pytest.approx(p_clean, abs=0.03)
    assert set(kinds) == {"none", *PAPER_DEGRADATIONS}  # the default set: the paper's four
    degraded = 4000 - kinds["none"]
    for kind in PAPER_DEGRADATIONS:
        assert kinds[kind] / degraded == pytest.approx(0.25, abs=0.03)
    levels = Counter(level for kind, level in draws if kind != "none")
    assert set(levels) == {0, 1, 2} and min(levels.values()) > 0.3 * degraded


def test_the_code_set_adds_grayscale_and_occlusion_with_one_level():
    transform = RandomDegradation(kinds=CODE_DEGRADATIONS, seed=3)
    draws = [transform.draw() for _ in range(600)]
    assert {kind for kind, _ in draws} == {"none", *CODE_DEGRADATIONS}
    assert {level for kind, level in draws if kind in ("grayscale", "occlusion")} == {0}
    assert RandomDegradation(p_clean=1.0).draw() == ("none", 0)
    assert all(RandomDegradation(p_clean=0.0, seed=s).draw()[0] != "none" for s in range(20))


def test_calls_record_what_was_applied_and_keep_the_clean_image(textured):
    transform = RandomDegradation(kinds=CODE_DEGRADATIONS, seed=5)
    seen = set()
    for _ in range(40):
        out = transform(image=textured)
        assert out["clean"] is textured and out["image"].shape == textured.shape
        kind, level = out["degradation"], out["level"]
        seen.add(kind)
        if kind == "none":
            assert np.array_equal(out["image"], textured) and out["image"] is not textured
        elif kind != "noise":  # everything but noise is deterministic given the type and level
            assert np.array_equal(out["image"], degrade(textured, kind, level))
        else:
            assert not np.array_equal(out["image"], textured)
    assert "none" in seen and len(seen) >= 5


def test_seeded_runs_reproduce_and_reseed_restarts(textured):
    def run(transform, n=12):
        return [transform(image=textured) for _ in range(n)]

    first, second = run(RandomDegradation(seed=7)), run(RandomDegradation(seed=7))
    assert [o["degradation"] for o in first] == [o["degradation"] for o in second]
    assert all(np.array_equal(a["image"], b["image"]) for a, b in zip(first, second, strict=True))
    other = run(RandomDegradation(seed=8))
    assert any(
        not np.array_equal(a["image"], b["image"]) for a, b in zip(first, other, strict=True)
    )
    # A numpy Generator works as the seed; stages.reseed seeds it from a batch position.
    generator_seeded = run(RandomDegradation(seed=np.random.default_rng(7)))
    assert all(
        np.array_equal(a["image"], b["image"]) for a, b in zip(first, generator_seeded, strict=True)
    )
    a, b = RandomDegradation(seed=1), RandomDegradation(seed=2)
    reseed(a, "0-0-3")
    reseed(b, "0-0-3")
    assert all(np.array_equal(x["image"], y["image"]) for x, y in zip(run(a), run(b), strict=True))


def test_a_clip_gets_one_type_and_level_for_every_frame():
    frames = np.stack([np.full((H, W, 3), 40 * t, np.uint8) for t in range(1, 5)])
    transform = RandomDegradation(kinds=("colour",), p_clean=0.0, seed=0)
    out = transform(images=frames)
    assert out["images"].shape == frames.shape and out["degradation"] == "colour"
    factor = (0.75, 1.25, 1.5)[out["level"]]
    expected = np.clip(np.rint(frames * factor), 0, 255).astype(np.uint8)
    assert np.array_equal(out["images"], expected)
    with pytest.raises(ValueError, match="exactly one"):
        transform(image=frames[0], images=frames)
