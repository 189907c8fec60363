"""The synthetic affect world: procedurally rendered FACS-driven faces with known ground truth.

Importing this package is cheap (numpy only); OpenCV is imported when :func:`render_face` and
friends are first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from holistic.synth.aus import SUPPORTED_AUS
from holistic.synth.types import FrameLabels, Nuisance, Pose, RenderedFace

if TYPE_CHECKING:
    from holistic.synth.render import Identity, render_face, sample_identity

__all__ = [
    "SUPPORTED_AUS",
    "FrameLabels",
    "Identity",
    "Nuisance",
    "Pose",
    "RenderedFace",
    "render_face",
    "sample_identity",
]

_LAZY = {"Identity", "render_face", "sample_identity"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from holistic.synth import render

        return getattr(render, name)
    raise AttributeError(f"module 'holistic.synth' has no attribute {name!r}")
