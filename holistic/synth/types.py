"""The data types the parts of the synthetic affect world exchange.

The world is built from independent parts: the face renderer (``render.py``: identities,
landmarks, AU effects, nuisances), the label model (``labels.py``: expressions, AUs and VA driven
by the relatedness tables; ``video.py``: dynamics; ``voice.py``: audio) and the native writers
(``writers/``). They meet only through these types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["FrameLabels", "Nuisance", "Pose", "RenderedFace"]


@dataclass(frozen=True)
class Pose:
    """Head pose in degrees (small angles: the faces stay near-frontal)."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0


@dataclass(frozen=True)
class Nuisance:
    """Everything about an image that never changes a label.

    Attributes:
        brightness: multiplicative light level (1 = neutral).
        light_direction: horizontal direction of the key light in [-1, 1] (shading side).
        background: RGB background colour (0-255) or None for a textured background.
        blur: Gaussian blur sigma in pixels of the output image (0 = none).
        noise: Gaussian noise std in grey levels (0 = none).
        jpeg_quality: JPEG quality the writer saves with (100 = near lossless).
        occluder: None, ``"hand"`` or ``"glasses"``.
        scale: face size relative to the frame (1 = aligned crop framing).
        offset: face centre offset in fractions of the frame (x, y).
    """

    brightness: float = 1.0
    light_direction: float = 0.0
    background: tuple[int, int, int] | None = (128, 128, 128)
    blur: float = 0.0
    noise: float = 0.0
    jpeg_quality: int = 95
    occluder: str | None = None
    scale: float = 1.0
    offset: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class FrameLabels:
    """The ground truth of one image or video frame.

    Attributes:
        expression: canonical basic expression (``holistic.schema.EXPRESSIONS``) or None.
        compound: canonical compound name (``holistic.schema.COMPOUNDS``) or None.
        au_intensity: AU FACS number -> intensity in [0, 1] (0 = off) for every AU the renderer
            supports; occurrence is intensity >= ``AU_OCCURRENCE`` (see ``labels.py``).
        va: (valence, arousal) in [-1, 1].
    """

    expression: str | None
    compound: str | None
    au_intensity: Mapping[int, float] = field(default_factory=dict)
    va: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class RenderedFace:
    """A rendered image and where the face's 68 iBUG landmarks are in it (pixels)."""

    image: np.ndarray  # RGB uint8 [H, W, 3]
    landmarks: np.ndarray  # float32 [68, 2]
