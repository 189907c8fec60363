"""Degradations for denoising generators (``reference/latent_models.md`` §2.4, decision 12).

The latent-adversarial models (AEG-CD-SZ, ANCLaF, AViGaS-Net) train a generator to map a degraded
face x̃ back to the clean face x. :class:`RandomDegradation` makes x̃ from an augmented clean RGB
uint8 ``[H, W, 3]`` image: with probability ``p_clean`` it is left as is, otherwise one type is
drawn uniformly from the chosen set and a level uniformly from that type's levels:

============  ==================================================  =========================
type          operation                                            levels 0, 1, 2
============  ==================================================  =========================
downsample    halve the size n times (area averaging), then back   n = 1, 2, 3 (×2, ×4, ×8)
              to the original size (bilinear)
blur          Gaussian blur, σ = r pixels (Pillow's "radius")      r = 1, 3, 5
noise         additive N(0, σ²), σ = √var · 255, **clipped** to    var = 0.001, 0.005, 0.01
              [0, 255] (the reference wraps around, defect 7.1.10)
colour        brightness scaling: x · f, clipped                   f = 0.75, 1.25, 1.5
grayscale     luminance (ITU-R 601, as Pillow's "L"), replicated   one level
occlusion     white rectangles, each the top-left quarter of a     one level
              (W // 7) × (H // 12) cell of a lattice anchored at
              the top-left corner (≈ 25 % of the image)
============  ==================================================  =========================

The default set is the papers' four (:data:`PAPER_DEGRADATIONS`); the reference code's six are
:data:`CODE_DEGRADATIONS`. The transform is called like the other transforms of
:mod:`holistic.data.transforms` (``transform(image=...)`` or ``transform(images=...)`` for a
clip) and has ``set_random_seed``, so :func:`holistic.data.stages.reseed` seeds it from the
batch position. Apply it **after** ordinary augmentation: it returns both images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "CODE_DEGRADATIONS",
    "DEGRADATION_LEVELS",
    "PAPER_DEGRADATIONS",
    "RandomDegradation",
    "degrade",
]

#: Parameters per level of each degradation type; an empty tuple: a single level (0).
DEGRADATION_LEVELS: dict[str, tuple[float, ...]] = {
    "downsample": (1, 2, 3),  # halvings: ×2, ×4, ×8
    "blur": (1.0, 3.0, 5.0),  # Gaussian σ in pixels
    "noise": (0.001, 0.005, 0.01),  # variance on the [0, 1] scale
    "colour": (0.75, 1.25, 1.5),  # brightness factor
    "grayscale": (),
    "occlusion": (),
}

#: The four artefacts the AEG-CD-SZ paper lists.
PAPER_DEGRADATIONS: tuple[str, ...] = ("downsample", "blur", "noise", "colour")
#: The six types of the reference code (``deckyal/ALN: utils.py: generalNoise``), in its order.
CODE_DEGRADATIONS: tuple[str, ...] = (*PAPER_DEGRADATIONS, "grayscale", "occlusion")


def _num_levels(kind: str) -> int:
    return max(1, len(DEGRADATION_LEVELS[kind]))


def _check_image(image: Any) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"expected an RGB uint8 [H, W, 3] image, got {image.dtype} of shape {image.shape}"
        )
    return image


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def degrade(
    image: np.ndarray, kind: str, level: int = 0, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Apply one degradation to an RGB uint8 ``[H, W, 3]`` image; return a new uint8 image.

    Args:
        image: the clean image.
        kind: one of :data:`CODE_DEGRADATIONS`.
        level: 0, 1 or 2 (only 0 for ``grayscale`` and ``occlusion``).
        rng: the noise generator (only ``noise`` draws; a fresh unseeded one when ``None``).
    """
    image = _check_image(image)
    if kind not in DEGRADATION_LEVELS:
        raise ValueError(f"kind must be one of {CODE_DEGRADATIONS}, got {kind!r}")
    if not 0 <= level < _num_levels(kind):
        raise ValueError(f"{kind} has levels 0..{_num_levels(kind) - 1}, got {level}")
    import cv2

    height, width = image.shape[:2]
    if kind == "downsample":
        small = image
        for _ in range(int(DEGRADATION_LEVELS[kind][level])):
            size = (max(1, small.shape[1] // 2), max(1, small.shape[0] // 2))
            small = cv2.resize(small, size, interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    if kind == "blur":
        sigma = DEGRADATION_LEVELS[kind][level]
        return cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    if kind == "noise":
        rng = np.random.default_rng() if rng is None else rng
        sigma = np.sqrt(DEGRADATION_LEVELS[kind][level]) * 255.0
        return _to_uint8(image + rng.normal(0.0, sigma, image.shape))
    if kind == "colour":
        return _to_uint8(image.astype(np.float32) * DEGRADATION_LEVELS[kind][level])
    if kind == "grayscale":
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        return np.repeat(gray[:, :, None], 3, axis=2)
    # occlusion: the lattice is anchored at (0, 0); partial cells at the right and bottom edges
    # are occluded as far as the image reaches.
    cell_w, cell_h = max(1, width // 7), max(1, height // 12)
    cols = (np.arange(width) % cell_w) < cell_w // 2
    rows = (np.arange(height) % cell_h) < cell_h // 2
    out = image.copy()
    out[np.ix_(rows, cols)] = 255
    return out


class RandomDegradation:
    """With probability ``p_clean`` the clean image, else a random type and level.

    Args:
        kinds: the types to draw from, uniformly (default: the papers' four).
        p_clean: probability of leaving the input clean (the reference code: 0.5).
        seed: an int or a ``numpy.random.Generator``; everything random (clean or not, type,
            level, noise) is drawn from it, so a seed fixes the sequence of outputs.

    Calling it returns ``{"image": degraded, "clean": image, "degradation": type or "none",
    "level": int}`` (``"images"`` instead of ``"image"`` for a clip ``images=[T, H, W, 3]``,
    whose frames all get the same type and level, with noise drawn per frame).
    """

    def __init__(
        self,
        kinds: Sequence[str] = PAPER_DEGRADATIONS,
        p_clean: float = 0.5,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        kinds = tuple(kinds)
        unknown = [kind for kind in kinds if kind not in DEGRADATION_LEVELS]
        if unknown or not kinds or len(set(kinds)) != len(kinds):
            raise ValueError(
                f"kinds must be distinct names from {CODE_DEGRADATIONS}, got {list(kinds)}"
            )
        if not 0.0 <= p_clean <= 1.0:
            raise ValueError(f"p_clean must lie in [0, 1], got {p_clean}")
        self.kinds, self.p_clean = kinds, float(p_clean)
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    def set_random_seed(self, seed: int) -> None:
        """Restart the random sequence from ``seed`` (what ``stages.reseed`` calls)."""
        self.rng = np.random.default_rng(seed)

    def draw(self) -> tuple[str, int]:
        """The next (type, level): ``("none", 0)`` with probability ``p_clean``."""
        if self.rng.random() < self.p_clean:
            return "none", 0
        kind = self.kinds[int(self.rng.integers(len(self.kinds)))]
        return kind, int(self.rng.integers(_num_levels(kind)))

    def __call__(
        self, *, image: np.ndarray | None = None, images: np.ndarray | None = None
    ) -> dict[str, Any]:
        if (image is None) == (images is None):
            raise ValueError("pass exactly one of image= ([H, W, 3]) or images= ([T, H, W, 3])")
        kind, level = self.draw()
        if image is not None:
            image = _check_image(image)
            out = image.copy() if kind == "none" else degrade(image, kind, level, self.rng)
            return {"image": out, "clean": image, "degradation": kind, "level": level}
        images = np.asarray(images)
        frames = [_check_image(frame) for frame in images]
        if kind == "none" or not frames:
            degraded = images.copy()
        else:
            degraded = np.stack([degrade(frame, kind, level, self.rng) for frame in frames])
        return {"images": degraded, "clean": images, "degradation": kind, "level": level}

    def __repr__(self) -> str:
        return f"RandomDegradation(kinds={list(self.kinds)}, p_clean={self.p_clean})"
