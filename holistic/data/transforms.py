"""Image transforms (albumentations): train and eval pipelines on uint8 faces.

Transforms work on RGB uint8 images (albumentations is fastest there) and stop before
normalisation; :func:`to_model_input` gives uint8 CHW and :func:`normalise_batch` turns a whole
batch into float32 in [-1, 1] at once, which costs a fraction of normalising image by image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "build_eval_transform",
    "build_train_transform",
    "channels_first",
    "normalise",
    "normalise_batch",
    "to_model_input",
]


def _albumentations() -> Any:
    import albumentations as A

    return A


def build_train_transform(size: int = 112, strength: float = 1.0, keypoints: bool = False) -> Any:
    """Augmentation for training: flip, scale/shift crop, small rotation, photometric jitter,
    blur/noise/downscale.

    Args:
        size: output side in pixels (the stored crops are resized when they differ).
        strength: scales every augmentation's magnitude (0 disables all but resizing).
        keypoints: also move ``keypoints=`` (x, y pixel coordinates, e.g. 68 landmarks) with the
            geometric part, for models that take landmarks.

    The output is ``{"image": uint8 HxWx3}``; see :func:`to_model_input`. Facial AUs are
    left-right symmetric, so a horizontal flip keeps every label valid. The geometric part is a
    random-resized crop plus an occasional rotation rather than a general affine warp, which
    costs several times more per image at these sizes (see docs/benchmarks.md).
    """
    A = _albumentations()
    s = float(strength)
    on = 1.0 if s > 0 else 0.0
    return A.Compose(
        [
            A.Resize(size, size),
            A.HorizontalFlip(p=0.5 * on),
            A.RandomResizedCrop(
                size=(size, size),
                scale=(1 - 0.15 * s, 1.0),
                ratio=(1 - 0.05 * s, 1 + 0.05 * s),
                p=0.7 * on,
            ),
            A.Rotate(limit=10 * s, border_mode=0, p=0.3 * on),
            A.RandomBrightnessContrast(0.3 * s, 0.3 * s, p=0.8 * on),
            A.HueSaturationValue(int(round(5 * s)), int(round(20 * s)), 0, p=0.3 * on),
            A.OneOf(
                [
                    A.GaussianBlur(blur_limit=(3, 5)),
                    A.GaussNoise(std_range=(0.02, 0.06)),
                    A.Downscale(scale_range=(0.5, 0.8)),
                ],
                p=0.3 * min(s, 1.0),
            ),
        ],
        keypoint_params=(
            A.KeypointParams(format="xy", remove_invisible=False) if keypoints else None
        ),
    )


class _ResizeIfNeeded:
    """The eval transform: resize to ``size`` only when the stored crop differs (no-op copy-free
    otherwise); called like an albumentations transform."""

    def __init__(self, size: int) -> None:
        self.size = int(size)

    def __call__(
        self, *, image: np.ndarray | None = None, images: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        if images is not None:  # a clip [T, H, W, 3]: every frame alike
            return {"images": np.stack([self._resize(frame) for frame in images])}
        return {"image": self._resize(image)}

    def _resize(self, image: np.ndarray) -> np.ndarray:
        if image.shape[0] == image.shape[1] == self.size:
            return image
        import cv2

        interpolation = cv2.INTER_AREA if image.shape[0] > self.size else cv2.INTER_LINEAR
        return cv2.resize(image, (self.size, self.size), interpolation=interpolation)

    def __repr__(self) -> str:
        return f"ResizeIfNeeded({self.size})"


def build_eval_transform(size: int = 112) -> Any:
    """Deterministic: only resizing (to ``size`` when the stored crops differ)."""
    return _ResizeIfNeeded(size)


def to_model_input(image: np.ndarray, transform: Any) -> np.ndarray:
    """Apply ``transform`` to an RGB uint8 HxWx3 image; return it (uint8 HWC).

    Channels move first for the whole batch at once, in :func:`normalise_batch`.
    """
    return transform(image=image)["image"] if transform is not None else image


def channels_first(images: np.ndarray) -> Any:
    """uint8 [B, H, W, 3] -> contiguous uint8 torch tensor [B, 3, H, W] (no normalisation).

    Four times fewer bytes to move to an accelerator than float32; normalise there with
    :func:`normalise`.
    """
    import torch

    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def normalise(images: Any) -> Any:
    """uint8 image tensor (any layout, any device) -> float32 in [-1, 1]: (x - 127.5) / 127.5."""
    return images.float().mul_(2.0 / 255.0).sub_(1.0)


def normalise_batch(images: np.ndarray) -> Any:
    """uint8 [B, H, W, 3] -> contiguous float32 torch tensor [B, 3, H, W] in [-1, 1].

    (x - 127.5) / 127.5: the FaceBehaviorNet input range, computed for the whole batch at once.
    """
    import torch

    # One pass over memory: read uint8 HWC, write float32 CHW (the fastest variant measured).
    out = np.empty((images.shape[0], images.shape[3], *images.shape[1:3]), np.float32)
    np.multiply(images.transpose(0, 3, 1, 2), np.float32(2.0 / 255.0), out=out, dtype=np.float32)
    out -= np.float32(1.0)
    return torch.from_numpy(out)
