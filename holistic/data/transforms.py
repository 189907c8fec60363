"""Image transforms (albumentations): train and eval pipelines on uint8 faces.

Transforms work on RGB uint8 images (albumentations is fastest there) and stop before
normalisation; :func:`to_model_input` gives uint8 CHW and :func:`normalise_batch` turns a whole
batch into float32 in [-1, 1] at once, which costs a fraction of normalising image by image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["build_eval_transform", "build_train_transform", "normalise_batch", "to_model_input"]


def _albumentations() -> Any:
    import albumentations as A

    return A


def build_train_transform(size: int = 112, strength: float = 1.0) -> Any:
    """Augmentation for training: flip, small affine, colour jitter, blur/noise/downscale.

    Args:
        size: output side in pixels (the stored crops are resized when they differ).
        strength: scales every augmentation's magnitude (0 disables all but resizing).

    The output is ``{"image": uint8 HxWx3}``; see :func:`to_model_input`.
    Facial AUs are left-right symmetric, so a horizontal flip keeps every label valid.
    """
    A = _albumentations()
    s = float(strength)
    return A.Compose(
        [
            A.Resize(size, size),
            A.HorizontalFlip(p=0.5 if s > 0 else 0.0),
            A.Affine(
                scale=(1 - 0.08 * s, 1 + 0.08 * s),
                translate_percent=(-0.05 * s, 0.05 * s),
                rotate=(-10 * s, 10 * s),
                border_mode=0,
                p=0.7 if s > 0 else 0.0,
            ),
            A.ColorJitter(0.3 * s, 0.3 * s, 0.2 * s, 0.03 * s, p=0.8 if s > 0 else 0.0),
            A.OneOf(
                [
                    A.GaussianBlur(blur_limit=(3, 5)),
                    A.GaussNoise(std_range=(0.02, 0.06)),
                    A.Downscale(scale_range=(0.5, 0.8)),
                ],
                p=0.3 * min(s, 1.0),
            ),
        ]
    )


class _ResizeIfNeeded:
    """The eval transform: resize to ``size`` only when the stored crop differs (no-op copy-free
    otherwise); called like an albumentations transform."""

    def __init__(self, size: int) -> None:
        self.size = int(size)

    def __call__(self, *, image: np.ndarray) -> dict[str, np.ndarray]:
        if image.shape[0] == image.shape[1] == self.size:
            return {"image": image}
        import cv2

        interpolation = cv2.INTER_AREA if image.shape[0] > self.size else cv2.INTER_LINEAR
        return {"image": cv2.resize(image, (self.size, self.size), interpolation=interpolation)}

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


def normalise_batch(images: np.ndarray) -> Any:
    """uint8 [B, H, W, 3] -> contiguous float32 torch tensor [B, 3, H, W] in [-1, 1].

    (x - 127.5) / 127.5: the FaceBehaviorNet input range. One copy for the whole batch.
    """
    import torch

    hwc = torch.from_numpy(np.ascontiguousarray(images))
    out = torch.empty((hwc.shape[0], hwc.shape[3], hwc.shape[1], hwc.shape[2]))
    out.copy_(hwc.permute(0, 3, 1, 2))
    return out.mul_(2.0 / 255.0).sub_(1.0)
