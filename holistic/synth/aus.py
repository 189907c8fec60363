"""What each facial action unit does to the synthetic face.

An AU has two parts, both scaled by its intensity in [0, 1]:

- a *displacement* of layout points (face-normalised units, see :mod:`holistic.synth.layout`),
  applied before the head pose; the displacements of all active AUs add up;
- optional *marks*: wrinkle strokes and shading blobs (crow's feet, nasal wrinkles, glabella
  lines, nasolabial folds, dimples, chin boss ...), whose darkness follows the intensity.

Marks are given relative to the landmarks, so they follow the face: each mark point is
``P[a] + t * (P[b] - P[a]) + (dx, dy)`` with ``(dx, dy)`` in face units along the face's own axes
(they rotate with roll).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from holistic.schema import AU_VOCABULARIES
from holistic.synth.layout import CHEEKS, NUM_POINTS

__all__ = ["AU_DISPLACEMENT", "MARKS", "SUPPORTED_AUS", "Mark", "au_vector"]

#: Every AU that a supported dataset labels (the union of ``AU_VOCABULARIES``), ascending.
SUPPORTED_AUS: tuple[int, ...] = tuple(sorted({au for v in AU_VOCABULARIES.values() for au in v}))
_INDEX = {au: i for i, au in enumerate(SUPPORTED_AUS)}

MarkPoint = tuple[int, int, float, float, float]  # (a, b, t, dx, dy)


@dataclass(frozen=True)
class Mark:
    """A wrinkle stroke (open polyline) or a shading blob (filled polygon) tied to landmarks.

    Attributes:
        points: the mark's points, each ``(a, b, t, dx, dy)`` (see the module docstring).
        darkness: how far the colour moves from skin towards dark at intensity 1 (negative:
            towards light, a highlight).
        width: stroke width in face units (ignored for filled marks).
        filled: a filled polygon instead of a stroke.
    """

    points: tuple[MarkPoint, ...]
    darkness: float = 0.5
    width: float = 0.008
    filled: bool = False


def _sym(points: tuple[MarkPoint, ...], mirror: dict[int, int]) -> tuple[MarkPoint, ...]:
    """Mirror a mark defined on the image-left side of the face to the image-right side."""
    return tuple((mirror.get(a, a), mirror.get(b, b), t, -dx, dy) for a, b, t, dx, dy in points)


def _mirror_index() -> dict[int, int]:
    pairs = [(i, 16 - i) for i in range(8)]
    pairs += [(17 + i, 26 - i) for i in range(5)]
    pairs += [(31, 35), (32, 34), (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    pairs += [(48, 54), (49, 53), (50, 52), (59, 55), (58, 56), (60, 64), (61, 63), (67, 65)]
    pairs += [(int(CHEEKS[0]), int(CHEEKS[1]))]
    mirror = {}
    for a, b in pairs:
        mirror[a], mirror[b] = b, a
    return mirror


_MIRROR = _mirror_index()


def _pair(points: tuple[MarkPoint, ...], **kwargs: float | bool) -> tuple[Mark, Mark]:
    return Mark(points, **kwargs), Mark(_sym(points, _MIRROR), **kwargs)  # type: ignore[arg-type]


# --- displacements (image-left side; the image-right side is mirrored) ------------------------
# Each entry: AU -> {point: (dx, dy)} at intensity 1, for the image-left side and the midline.
_LEFT_MOVES: dict[int, dict[int, tuple[float, float]]] = {
    1: {21: (0.004, -0.05), 20: (0.0, -0.036), 19: (0.0, -0.016), 18: (0.0, -0.005)},
    2: {17: (-0.004, -0.05), 18: (0.0, -0.046), 19: (0.0, -0.026), 20: (0.0, -0.008)},
    4: {17: (0.004, 0.012), 18: (0.008, 0.022), 19: (0.012, 0.03), 20: (0.018, 0.036),
        21: (0.024, 0.036), 37: (0.0, 0.006), 38: (0.0, 0.007)},
    5: {37: (0.0, -0.026), 38: (0.0, -0.028), 36: (-0.002, -0.003), 39: (0.0, -0.002)},
    6: {40: (0.0, -0.015), 41: (0.0, -0.017), 36: (0.0, -0.004), CHEEKS[0]: (0.0, -0.04),
        37: (0.0, 0.004), 38: (0.0, 0.003), 48: (-0.004, -0.008), 17: (0.0, 0.006)},
    7: {40: (0.0, -0.021), 41: (0.0, -0.021), 37: (0.0, 0.012), 38: (0.0, 0.012),
        36: (0.003, 0.0), 39: (-0.002, 0.0)},
    9: {27: (0.0, 0.012), 28: (0.0, 0.004), 31: (0.004, -0.02), 32: (0.0, -0.016),
        33: (0.0, -0.014), 30: (0.0, -0.008), 49: (0.0, -0.014), 50: (0.0, -0.012),
        51: (0.0, -0.01), 61: (0.0, -0.008), 62: (0.0, -0.006), 21: (0.006, 0.018),
        20: (0.003, 0.012), 40: (0.0, -0.006), 41: (0.0, -0.005)},
    10: {49: (0.0, -0.03), 50: (0.0, -0.032), 51: (0.0, -0.028), 61: (0.0, -0.03),
         62: (0.0, -0.026), 48: (0.0, -0.01), 60: (0.0, -0.012), 31: (0.0, -0.008),
         32: (0.0, -0.005)},
    11: {31: (-0.004, -0.006), 49: (-0.002, -0.008), 48: (-0.004, -0.006), 60: (-0.002, -0.005)},
    12: {48: (-0.03, -0.042), 60: (-0.024, -0.032), 49: (-0.012, -0.02), 59: (-0.014, -0.022),
         61: (-0.008, -0.01), 67: (-0.008, -0.012), 50: (0.0, -0.004), 58: (-0.004, -0.008),
         CHEEKS[0]: (-0.005, -0.025), 41: (0.0, -0.004), 40: (0.0, -0.004)},
    14: {48: (0.02, -0.004), 60: (0.016, -0.002), 49: (0.008, 0.0), 59: (0.008, 0.0),
         50: (0.002, 0.002), 58: (0.002, -0.002)},
    15: {48: (0.004, 0.04), 60: (0.003, 0.03), 59: (0.0, 0.016), 49: (0.0, 0.014),
         67: (0.0, 0.01), 61: (0.0, 0.008)},
    16: {57: (0.0, 0.036), 58: (0.0, 0.034), 59: (0.0, 0.022), 66: (0.0, 0.036),
         67: (0.0, 0.03), 8: (0.0, 0.006)},
    17: {57: (0.0, -0.028), 58: (0.0, -0.026), 59: (0.0, -0.014), 66: (0.0, -0.014),
         67: (0.0, -0.012), 65: (0.0, -0.012), 48: (0.0, 0.012), 60: (0.0, 0.006),
         8: (0.0, -0.02), 7: (0.0, -0.014), 6: (0.0, -0.006), 50: (0.0, -0.008),
         51: (0.0, -0.008), 61: (0.0, -0.01), 62: (0.0, -0.01)},
    20: {48: (-0.052, 0.012), 60: (-0.046, 0.01), 49: (-0.022, 0.008), 59: (-0.024, -0.01),
         61: (-0.01, 0.0), 67: (-0.01, 0.0), 58: (-0.006, -0.01), 57: (0.0, -0.008),
         50: (0.0, 0.004), 51: (0.0, 0.004)},
    23: {48: (0.026, 0.0), 60: (0.03, 0.0), 49: (0.014, 0.012), 50: (0.004, 0.016),
         51: (0.0, 0.016), 59: (0.014, -0.014), 58: (0.004, -0.018), 57: (0.0, -0.018),
         61: (0.01, 0.002), 67: (0.01, -0.002)},
    24: {49: (0.004, 0.02), 50: (0.0, 0.024), 51: (0.0, 0.024), 59: (0.004, -0.022),
         58: (0.0, -0.026), 57: (0.0, -0.026), 61: (0.0, 0.004), 62: (0.0, 0.004),
         65: (0.0, -0.002), 66: (0.0, -0.002), 67: (0.0, -0.002), 48: (0.006, 0.0)},
    25: {61: (0.0, -0.01), 62: (0.0, -0.012), 67: (0.0, 0.03), 66: (0.0, 0.034),
         57: (0.0, 0.024), 58: (0.0, 0.022), 59: (0.0, 0.014), 49: (0.0, -0.006),
         50: (0.0, -0.008), 51: (0.0, -0.008)},
    26: {67: (0.0, 0.07), 66: (0.0, 0.08), 57: (0.0, 0.078), 58: (0.0, 0.072),
         59: (0.0, 0.05), 48: (0.002, 0.02), 60: (0.002, 0.02), 61: (0.0, -0.004),
         8: (0.0, 0.07), 7: (0.0, 0.066), 6: (0.0, 0.052), 5: (0.0, 0.034), 4: (0.0, 0.018),
         3: (0.0, 0.006)},
    27: {67: (0.0, 0.12), 66: (0.0, 0.135), 57: (0.0, 0.13), 58: (0.0, 0.12),
         59: (0.0, 0.085), 48: (0.014, 0.04), 60: (0.016, 0.04), 49: (0.004, -0.01),
         61: (0.002, -0.016), 62: (0.0, -0.018), 50: (0.0, -0.012), 51: (0.0, -0.012),
         8: (0.0, 0.11), 7: (0.0, 0.104), 6: (0.0, 0.084), 5: (0.0, 0.056), 4: (0.0, 0.03),
         3: (0.0, 0.01), 31: (0.004, 0.004), 40: (0.0, 0.004), 41: (0.0, 0.004)},
}  # fmt: skip


def _build_displacement() -> np.ndarray:
    disp = np.zeros((len(SUPPORTED_AUS), NUM_POINTS, 2))
    for au, moves in _LEFT_MOVES.items():
        for point, (dx, dy) in moves.items():
            p = int(point)
            disp[_INDEX[au], p] = (dx, dy)
            q = _MIRROR.get(p)
            if q is not None:
                disp[_INDEX[au], q] = (-dx, dy)
    return disp


#: ``[len(SUPPORTED_AUS), NUM_POINTS, 2]``: each AU's displacement at intensity 1.
AU_DISPLACEMENT = _build_displacement()
AU_DISPLACEMENT.setflags(write=False)


# --- marks -------------------------------------------------------------------------------------
def _forehead_lines(x0: float, x1: float, ys: tuple[float, ...]) -> tuple[Mark, ...]:
    """Horizontal forehead wrinkles, x0..x1 along brow 19->24, ys above it (face units)."""
    return tuple(
        Mark(((19, 24, x0, 0.0, y), (19, 24, (x0 + x1) / 2, 0.0, y - 0.008), (19, 24, x1, 0.0, y)),
             darkness=0.35, width=0.007)
        for y in ys
    )  # fmt: skip


_MARKS: dict[int, tuple[Mark, ...]] = {
    1: _forehead_lines(0.2, 0.8, (-0.07, -0.1)),
    2: (
        *_pair(((18, 24, -0.05, 0.0, -0.07), (18, 24, 0.1, 0.0, -0.082), (18, 24, 0.25, 0.0, -0.075)),
               darkness=0.35, width=0.007),
        *_pair(((18, 24, -0.05, 0.0, -0.1), (18, 24, 0.1, 0.0, -0.112), (18, 24, 0.25, 0.0, -0.105)),
               darkness=0.35, width=0.007),
    ),
    4: (
        Mark(((21, 22, 0.38, 0.0, -0.01), (21, 22, 0.4, 0.0, 0.035)), darkness=0.6, width=0.009),
        Mark(((21, 22, 0.62, 0.0, -0.01), (21, 22, 0.6, 0.0, 0.035)), darkness=0.6, width=0.009),
        *_pair(((20, 21, 0.5, 0.0, 0.016), (21, 22, 0.2, 0.0, 0.03)), darkness=0.45, width=0.008),
    ),
    6: (
        *_pair(((36, 36, 0, -0.012, -0.012), (36, 36, 0, -0.04, -0.026)), darkness=0.6, width=0.01),
        *_pair(((36, 36, 0, -0.014, 0.0), (36, 36, 0, -0.045, -0.002)), darkness=0.6, width=0.01),
        *_pair(((36, 36, 0, -0.012, 0.012), (36, 36, 0, -0.04, 0.028)), darkness=0.6, width=0.01),
        *_pair(((41, 41, 0, -0.02, 0.022), (40, 41, 0.5, 0.0, 0.028), (40, 40, 0, 0.02, 0.022)),
               darkness=0.45, width=0.007),
        *_pair(((92, 92, 0, -0.045, 0.0), (92, 92, 0, 0.0, -0.03), (92, 92, 0, 0.045, 0.0),
                (92, 92, 0, 0.0, 0.03)), darkness=-0.3, filled=True),
    ),
    7: _pair(((41, 41, 0, -0.014, 0.01), (40, 41, 0.5, 0.0, 0.015), (40, 40, 0, 0.014, 0.01)),
             darkness=0.65, width=0.011),
    9: (
        Mark(((39, 42, 0.3, 0.0, -0.004), (27, 27, 0, 0.0, -0.01), (39, 42, 0.7, 0.0, -0.004)),
             darkness=0.6, width=0.008),
        Mark(((39, 42, 0.3, 0.0, 0.012), (27, 27, 0, 0.0, 0.008), (39, 42, 0.7, 0.0, 0.012)),
             darkness=0.6, width=0.008),
        Mark(((39, 42, 0.33, 0.0, 0.028), (28, 28, 0, 0.0, 0.0), (39, 42, 0.67, 0.0, 0.028)),
             darkness=0.55, width=0.008),
        *_pair(((31, 31, 0, -0.01, -0.03), (31, 31, 0, -0.028, -0.008)), darkness=0.55),
    ),
    10: _pair(((31, 31, 0, -0.012, -0.006), (48, 48, 0, -0.01, -0.05), (48, 48, 0, -0.015, -0.03)),
              darkness=0.35, width=0.008),
    11: _pair(((31, 31, 0, -0.014, -0.012), (48, 48, 0, -0.03, -0.06), (48, 48, 0, -0.025, -0.005)),
              darkness=0.8, width=0.015),
    12: (
        *_pair(((31, 31, 0, -0.016, -0.01), (48, 48, 0, -0.028, -0.05), (48, 48, 0, -0.02, 0.0)),
               darkness=0.45, width=0.009),
        *_pair(((36, 36, 0, -0.014, 0.006), (36, 36, 0, -0.038, 0.012)), darkness=0.3),
    ),
    14: _pair(((48, 48, 0, -0.012, -0.022), (48, 48, 0, -0.022, 0.0), (48, 48, 0, -0.012, 0.022)),
              darkness=0.8, width=0.015),
    15: _pair(((48, 48, 0, -0.006, 0.01), (48, 48, 0, -0.014, 0.04)), darkness=0.45, width=0.009),
    16: (),
    17: (
        Mark(((58, 56, 0.0, 0.0, 0.022), (57, 57, 0, 0.0, 0.03), (58, 56, 1.0, 0.0, 0.022)),
             darkness=0.55, width=0.01),
        Mark(((8, 8, 0, -0.05, -0.045), (8, 8, 0, 0.0, -0.065), (8, 8, 0, 0.05, -0.045),
              (8, 8, 0, 0.0, -0.02)), darkness=0.28, filled=True),
    ),
    20: _pair(((48, 48, 0, -0.012, -0.014), (48, 48, 0, -0.026, 0.005), (48, 48, 0, -0.016, 0.03)),
              darkness=0.75, width=0.014),
    23: _pair(((49, 49, 0, 0.0, -0.016), (48, 48, 0, -0.01, 0.0), (59, 59, 0, 0.0, 0.016)),
              darkness=0.45, width=0.008),
    24: (
        Mark(((49, 53, 0.1, 0.0, -0.012), (51, 51, 0, 0.0, -0.016), (49, 53, 0.9, 0.0, -0.012)),
             darkness=0.4, width=0.008),
        Mark(((59, 55, 0.1, 0.0, 0.014), (57, 57, 0, 0.0, 0.02), (59, 55, 0.9, 0.0, 0.014)),
             darkness=0.4, width=0.008),
    ),
    25: (),
    26: (),
    27: _pair(((48, 48, 0, -0.01, 0.02), (48, 48, 0, -0.02, 0.07)), darkness=0.4, width=0.008),
}  # fmt: skip

#: AU -> its marks (empty where the AU acts through the landmarks only).
MARKS: dict[int, tuple[Mark, ...]] = {au: _MARKS.get(au, ()) for au in SUPPORTED_AUS}


def au_vector(au_intensity: Mapping[int, float]) -> np.ndarray:
    """Intensities as a ``[len(SUPPORTED_AUS)]`` float vector (absent AUs are 0).

    Raises:
        ValueError: an AU the renderer does not support, or an intensity outside [0, 1].
    """
    vector = np.zeros(len(SUPPORTED_AUS))
    for au, value in au_intensity.items():
        index = _INDEX.get(int(au))
        if index is None:
            raise ValueError(
                f"AU {au} is not supported by the face renderer; supported: {SUPPORTED_AUS}"
            )
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"intensity of AU {au} must be in [0, 1], got {value}")
        vector[index] = value
    return vector
