"""What every native writer shares: drawing a face for a label, saving images, nuisances.

Each synthetic source has its own nuisance distribution (lighting, pose, quality) and its own
label noise, so the federation is heterogeneous the way real ones are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from holistic.synth.types import FrameLabels, Nuisance, Pose, RenderedFace

__all__ = ["SourceStyle", "Studio", "save_image", "write_lines"]


@dataclass(frozen=True)
class SourceStyle:
    """How one synthetic source looks and how noisy its labels are.

    Attributes:
        brightness: (low, high) of the light level.
        pose: maximum |yaw|, |pitch|, |roll| in degrees for still images.
        blur: (low, high) blur sigma in output pixels.
        noise: (low, high) noise std in grey levels.
        jpeg: (low, high) JPEG quality.
        occluder_rate: probability of a hand or glasses.
        misalignment: face-centre jitter (fraction of the crop) and scale jitter of "aligned"
            crops, as a face detector and landmark fit leave them on real data.
        expr_noise: probability that a written expression label is replaced by another one.
        au_noise: probability that a written AU occurrence is flipped.
        va_noise: std of Gaussian noise added to written valence/arousal.
    """

    brightness: tuple[float, float] = (0.85, 1.15)
    pose: tuple[float, float, float] = (10.0, 6.0, 5.0)
    blur: tuple[float, float] = (0.0, 0.6)
    noise: tuple[float, float] = (0.0, 4.0)
    jpeg: tuple[int, int] = (85, 97)
    occluder_rate: float = 0.03
    misalignment: float = 0.05
    expr_noise: float = 0.03
    au_noise: float = 0.02
    va_noise: float = 0.05


class Studio:
    """Draws faces for labels in a source's style: identities, pose, nuisances, rendering."""

    def __init__(self, style: SourceStyle, rng: np.random.Generator, size: int = 112) -> None:
        from holistic.synth import render

        self.style, self.rng, self.size = style, rng, size
        self._render = render

    def identity(self):
        return self._render.sample_identity(self.rng)

    def pose(self) -> Pose:
        yaw, pitch, roll = self.style.pose
        u = self.rng.uniform(-1, 1, 3)
        return Pose(yaw * u[0], pitch * u[1], roll * u[2])

    def nuisance(self, **overrides) -> Nuisance:
        s, rng = self.style, self.rng
        occluder = None
        if rng.random() < s.occluder_rate:
            occluder = "hand" if rng.random() < 0.5 else "glasses"
        nuisance = Nuisance(
            brightness=float(rng.uniform(*s.brightness)),
            light_direction=float(rng.uniform(-1, 1)),
            background=tuple(int(v) for v in rng.integers(40, 220, 3)),
            blur=float(rng.uniform(*s.blur)),
            noise=float(rng.uniform(*s.noise)),
            jpeg_quality=int(rng.integers(s.jpeg[0], s.jpeg[1] + 1)),
            occluder=occluder,
            scale=float(1 + rng.uniform(-1.5, 1.5) * s.misalignment),
            offset=tuple(float(v) for v in rng.uniform(-1, 1, 2) * s.misalignment),
        )
        return replace(nuisance, **overrides)

    def draw(
        self,
        labels: FrameLabels,
        identity=None,
        pose: Pose | None = None,
        nuisance: Nuisance | None = None,
        size: int | None = None,
    ) -> tuple[RenderedFace, Nuisance]:
        nuisance = nuisance or self.nuisance()
        face = self._render.render_face(
            identity if identity is not None else self.identity(),
            labels.au_intensity,
            pose=pose or self.pose(),
            nuisance=nuisance,
            size=size or self.size,
            rng=self.rng,
        )
        return face, nuisance

    # --- label noise -------------------------------------------------------------------------

    def noisy_expression(self, expression: str | None, choices: tuple[str, ...]) -> str | None:
        if expression is None or self.rng.random() >= self.style.expr_noise:
            return expression
        others = [c for c in choices if c != expression]
        return str(others[self.rng.integers(len(others))])

    def noisy_occurrence(self, occurrence: Mapping[int, int]) -> dict[int, int]:
        flips = self.rng.random(len(occurrence)) < self.style.au_noise
        return {au: int(v) ^ int(f) for (au, v), f in zip(occurrence.items(), flips, strict=True)}

    def noisy_va(self, va: tuple[float, float]) -> tuple[float, float]:
        noisy = np.clip(np.asarray(va) + self.rng.normal(0, self.style.va_noise, 2), -1, 1)
        return float(noisy[0]), float(noisy[1])


def save_image(path: Path, image: np.ndarray, quality: int = 95) -> None:
    """Write an RGB uint8 image in the format its suffix names (``.jpg`` at ``quality``,
    ``.png``, ``.bmp``, ...), creating folders.

    OpenCV encodes in memory and Python writes the file: ``cv2.imwrite`` crashes the process on
    a path that is not valid UTF-8.
    """
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if suffix in (".jpg", ".jpeg") else []
    ok, data = cv2.imencode(suffix, cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise OSError(f"could not encode an image of shape {image.shape} for {path}")
    path.write_bytes(data.tobytes())


def write_lines(path: Path, lines: list[str]) -> None:
    """A text file of ``lines`` (newline-terminated), creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
