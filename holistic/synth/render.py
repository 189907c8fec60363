"""The procedural face renderer: identity + AU intensities + pose + nuisance -> image + landmarks.

The face is drawn with OpenCV polygons on a canvas twice the output size and shrunk with area
averaging (anti-aliasing), back to front: background, long hair, neck and shoulders, ears, face,
hair cap, eyes (sclera, iris, pupil, lids), brows, nose, lips (mouth cavity and teeth when
parted), AU marks (wrinkles, shading), occluders; then light (brightness and a horizontal key
light gradient), blur and noise on the output. Smooth curves come from fixed Catmull-Rom
interpolation matrices applied to the landmarks, so the per-face cost is a few small matrix
products and about 30 fill calls.

Regenerate the documentation gallery with
``python -m holistic.synth.render --gallery docs/images/synth``.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from holistic.synth.aus import AU_DISPLACEMENT, MARKS, SUPPORTED_AUS, au_vector
from holistic.synth.layout import (
    EARS,
    HAIRLINE,
    HEAD,
    MEAN_DEPTH,
    NECK,
    SHAPE_MODES,
    apply_shape,
    project_pose,
)
from holistic.synth.types import Nuisance, Pose, RenderedFace

__all__ = ["HAIR_STYLES", "Identity", "render_face", "sample_identity"]

#: Hair styles: index -> name (``Identity.hair_style``).
HAIR_STYLES: tuple[str, ...] = ("short", "long", "fringe", "bald")
_OCCLUDERS = (None, "hand", "glasses")
_SS = 2  # supersampling factor of the canvas
_SHIFT = 4  # fractional bits of the polygon coordinates handed to OpenCV
_ONE = 1 << _SHIFT

_SKIN_LIGHT = np.array([238.0, 204.0, 180.0])
_SKIN_DARK = np.array([92.0, 60.0, 44.0])
_HAIR_COLOURS = np.array(
    [[28, 24, 22], [70, 46, 30], [120, 82, 50], [196, 164, 108], [150, 70, 38], [165, 162, 158]],
    dtype=float,
)
_IRIS_COLOURS = np.array(
    [[78, 48, 28], [46, 32, 24], [72, 112, 160], [84, 112, 72], [122, 92, 52], [100, 120, 130]],
    dtype=float,
)


@dataclass(frozen=True)
class Identity:
    """Who the face is: shape, proportions and colours. Never changes a label.

    Attributes:
        shape: one coefficient per :data:`holistic.synth.layout.SHAPE_MODES` entry (face width and
            length, jaw width, eye size and spacing, nose length and width, mouth width, lip
            thickness, brow height), in standard units (about [-2, 2]).
        skin: skin colour, RGB 0-255.
        hair: hair colour, RGB 0-255.
        hair_style: index into :data:`HAIR_STYLES`.
        iris: iris colour, RGB 0-255.
        brow_thickness: brow thickness in face units (about 0.02-0.04).
    """

    shape: tuple[float, ...] = (0.0,) * len(SHAPE_MODES)
    skin: tuple[int, int, int] = (214, 170, 140)
    hair: tuple[int, int, int] = (70, 46, 30)
    hair_style: int = 0
    iris: tuple[int, int, int] = (78, 48, 28)
    brow_thickness: float = 0.028

    def __post_init__(self) -> None:
        if len(self.shape) != len(SHAPE_MODES):
            raise ValueError(
                f"Identity.shape needs {len(SHAPE_MODES)} coefficients {SHAPE_MODES}, "
                f"got {len(self.shape)}"
            )
        if not 0 <= self.hair_style < len(HAIR_STYLES):
            raise ValueError(
                f"hair_style must be in [0, {len(HAIR_STYLES)}), got {self.hair_style}"
            )
        if not 0.005 <= self.brow_thickness <= 0.08:
            raise ValueError(f"brow_thickness must be in [0.005, 0.08], got {self.brow_thickness}")


def sample_identity(rng: np.random.Generator) -> Identity:
    """Draw a random identity (shape N(0, 1) clipped to [-2, 2]; varied skin, hair and eyes)."""
    shape = np.clip(rng.standard_normal(len(SHAPE_MODES)), -2.0, 2.0)
    tone = rng.uniform(0.0, 1.0)
    skin = _SKIN_LIGHT + (_SKIN_DARK - _SKIN_LIGHT) * tone + rng.normal(0, 6, 3)
    hair = _HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))] * rng.uniform(0.85, 1.15)
    iris = _IRIS_COLOURS[rng.integers(len(_IRIS_COLOURS))] * rng.uniform(0.85, 1.15)
    return Identity(
        shape=tuple(round(float(v), 4) for v in shape),
        skin=_rgb(skin),
        hair=_rgb(hair),
        hair_style=int(rng.choice(len(HAIR_STYLES), p=[0.45, 0.3, 0.17, 0.08])),
        iris=_rgb(iris),
        brow_thickness=round(float(rng.uniform(0.018, 0.04)), 4),
    )


def _rgb(values: np.ndarray) -> tuple[int, int, int]:
    r, g, b = np.clip(np.round(values), 0, 255).astype(int)
    return int(r), int(g), int(b)


# --- curve interpolation ----------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _catmull_rom(n: int, steps: int, closed: bool) -> np.ndarray:
    """``[M, n]`` weights turning ``n`` control points into a smooth Catmull-Rom curve."""
    segments = n if closed else n - 1
    rows = []
    t = np.arange(steps) / steps
    basis = 0.5 * np.stack(
        [-(t**3) + 2 * t**2 - t, 3 * t**3 - 5 * t**2 + 2, -3 * t**3 + 4 * t**2 + t, t**3 - t**2], 1
    )
    for seg in range(segments):
        idx = [seg - 1, seg, seg + 1, seg + 2]
        idx = [i % n for i in idx] if closed else [min(max(i, 0), n - 1) for i in idx]
        w = np.zeros((steps, n))
        for k, i in enumerate(idx):
            w[:, i] += basis[:, k]
        rows.append(w)
    if not closed:
        last = np.zeros((1, n))
        last[0, -1] = 1.0
        rows.append(last)
    return np.vstack(rows)


_JAW_CURVE = _catmull_rom(17, 3, closed=False)
_HEAD_CURVE = _catmull_rom(len(HEAD), 2, closed=False)
_HAIRLINE_CURVE = _catmull_rom(len(HAIRLINE), 3, closed=False)
_EYE_CURVE = _catmull_rom(6, 4, closed=True)
_LIP_OUT_CURVE = _catmull_rom(12, 3, closed=True)
_LIP_IN_CURVE = _catmull_rom(8, 3, closed=True)
_BROW_CURVE = _catmull_rom(5, 3, closed=False)
_NOSE_CURVE = _catmull_rom(5, 3, closed=False)
_BROW_PROFILE = np.interp(
    np.linspace(0, 1, _BROW_CURVE.shape[0]), [0, 0.3, 0.8, 1], [0.45, 1, 1, 0.8]
)
# Hair styles: how far the hairline drops (face units) and whether hair hangs behind the face.
_HAIRLINE_DROP = {"short": 0.0, "long": 0.02, "fringe": 0.09, "bald": -0.25}


@functools.lru_cache(maxsize=4096)
def _neutral_layout(shape: tuple[float, ...]) -> np.ndarray:
    layout = apply_shape(np.asarray(shape, dtype=float))
    layout.setflags(write=False)
    return layout


# --- colours ------------------------------------------------------------------------------------
def _mix(colour: np.ndarray, target: np.ndarray, amount: float) -> tuple[float, float, float]:
    c = colour + (target - colour) * amount
    return float(c[0]), float(c[1]), float(c[2])


@dataclass
class _Palette:
    skin: np.ndarray
    shadow: tuple[float, float, float]
    lip: tuple[float, float, float]
    hair: tuple[float, float, float]
    iris: tuple[float, float, float]
    dark: np.ndarray
    light: np.ndarray


def _palette(identity: Identity) -> _Palette:
    skin = np.array(identity.skin, dtype=float)
    lip = np.clip(skin * np.array([0.84, 0.52, 0.54]) + np.array([36.0, 4.0, 8.0]), 0, 255)
    return _Palette(
        skin=skin,
        shadow=_mix(skin, np.zeros(3), 0.22),
        lip=(float(lip[0]), float(lip[1]), float(lip[2])),
        hair=tuple(float(v) for v in identity.hair),  # type: ignore[arg-type]
        iris=tuple(float(v) for v in identity.iris),  # type: ignore[arg-type]
        dark=skin * 0.35,
        light=np.minimum(skin * 1.25 + 20, 255),
    )


# --- drawing helpers ------------------------------------------------------------------------------
def _fix(points: np.ndarray) -> np.ndarray:
    """Canvas points -> int32 fixed point for OpenCV's ``shift``."""
    return (points * _ONE + 0.5).astype(np.int32)


def _fill(canvas: np.ndarray, polys: list[np.ndarray], colour: tuple[float, ...]) -> None:
    cv2.fillPoly(canvas, [_fix(p) for p in polys], colour, cv2.LINE_8, _SHIFT)


def _lines(
    canvas: np.ndarray,
    polys: list[np.ndarray],
    colour: tuple[float, ...],
    width: float,
    closed: bool = False,
) -> None:
    cv2.polylines(
        canvas, [_fix(p) for p in polys], closed, colour, max(1, round(width)), cv2.LINE_AA, _SHIFT
    )


def _ellipse(
    canvas: np.ndarray, centre: np.ndarray, axes: tuple[float, float], angle: float, colour
) -> None:
    cv2.ellipse(
        canvas,
        (int(round(centre[0] * _ONE)), int(round(centre[1] * _ONE))),
        (max(1, int(round(axes[0] * _ONE))), max(1, int(round(axes[1] * _ONE)))),
        angle,
        0,
        360,
        colour,
        -1,
        cv2.LINE_8,
        _SHIFT,
    )


# --- the face -------------------------------------------------------------------------------------
def _layout_points(identity: Identity, au: np.ndarray, pose: Pose) -> np.ndarray:
    """All layout points (68 + extra), face-normalised, after AUs and pose."""
    pts = _neutral_layout(identity.shape)
    active = np.flatnonzero(au)
    if active.size:
        pts = pts + np.tensordot(au[active], AU_DISPLACEMENT[active], axes=1)
    return project_pose(pts, MEAN_DEPTH, pose)


def _to_pixels(pts: np.ndarray, side: float, nuisance: Nuisance) -> np.ndarray:
    """Face-normalised points -> pixel centres of a ``side``-pixel frame."""
    ox, oy = nuisance.offset
    q = 0.5 + (pts - 0.5) * nuisance.scale + np.array([ox, oy])
    return q * side - 0.5


def _background(side: int, nuisance: Nuisance, rng: np.random.Generator) -> np.ndarray:
    if nuisance.background is not None:
        row = np.tile(np.asarray(nuisance.background, np.uint8), side)
        return np.broadcast_to(row, (side, 3 * side)).reshape(side, side, 3).copy()
    base = rng.uniform(40, 215, 3)
    coarse = np.clip(base + rng.normal(0, 28, (4, 4, 3)), 0, 255).astype(np.uint8)
    return cv2.resize(coarse, (side, side), interpolation=cv2.INTER_LINEAR)


def _draw_head(
    canvas: np.ndarray, p: np.ndarray, unit: float, identity: Identity, pal: _Palette
) -> None:
    style = HAIR_STYLES[identity.hair_style]
    head = _HEAD_CURVE @ p[HEAD]
    jaw = _JAW_CURVE @ p[:17]
    centre = p[27]
    if style == "long":  # hair hanging behind the face down to the shoulders
        drop = np.array([0.0, 0.55 * unit])
        back = np.vstack(
            [
                jaw[:1] + drop + [-0.06 * unit, 0],
                _grow(head, centre, 1.1),
                jaw[-1:] + drop + [0.06 * unit, 0],
            ]
        )
        _fill(canvas, [back], pal.hair)
    neck = p[NECK]
    shoulders = np.array(
        [neck[1] + [-0.35 * unit, 0.15 * unit], neck[1] + [-0.2 * unit, -0.2 * unit], neck[0],
         neck[3], neck[2] + [0.2 * unit, -0.2 * unit], neck[2] + [0.35 * unit, 0.15 * unit]]
    )  # fmt: skip
    _fill(canvas, [shoulders], (70.0, 80.0, 110.0))  # clothing
    _fill(canvas, [neck], pal.shadow)
    for ear in p[EARS]:
        _ellipse(canvas, ear, (0.05 * unit, 0.09 * unit), 0, pal.shadow)
    _fill(canvas, [np.vstack([jaw, head[::-1][1:-1]])], tuple(pal.skin))
    if style != "bald":
        drop = _HAIRLINE_DROP[style] * unit
        hairline = _HAIRLINE_CURVE @ p[HAIRLINE] + [0.0, drop]
        hairline[[0, -1], 1] = p[HAIRLINE][[0, -1], 1] + 0.03 * unit  # sideburns
        cap = np.vstack([_grow(head, centre, 1.06), hairline[::-1]])
        _fill(canvas, [cap], pal.hair)


def _grow(points: np.ndarray, centre: np.ndarray, factor: float) -> np.ndarray:
    return centre + (points - centre) * factor


def _draw_eyes(canvas: np.ndarray, p: np.ndarray, unit: float, pal: _Palette) -> None:
    eyes = [_EYE_CURVE @ p[36:42], _EYE_CURVE @ p[42:48]]
    _fill(canvas, eyes, (236.0, 232.0, 226.0))
    lids = []
    for eye_idx, contour in zip((slice(36, 42), slice(42, 48)), eyes, strict=True):
        pts = p[eye_idx]
        corner_mid = (pts[0] + pts[3]) / 2
        iris_c = corner_mid + [0.0, -0.003 * unit]
        r = 0.026 * unit
        cv2.circle(canvas, _ipt(iris_c), int(round(r * _ONE)), pal.iris, -1, cv2.LINE_8, _SHIFT)
        cv2.circle(
            canvas,
            _ipt(iris_c),
            int(round(0.45 * r * _ONE)),
            (15.0, 12.0, 12.0),
            -1,
            cv2.LINE_8,
            _SHIFT,
        )
        cv2.circle(
            canvas,
            _ipt(iris_c + [0.3 * r, -0.35 * r]),
            int(round(0.2 * r * _ONE)),
            (245.0, 245.0, 245.0),
            -1,
            cv2.LINE_8,
            _SHIFT,
        )
        # Lids: skin above the upper lid line and below the lower lid line hide the iris.
        n = contour.shape[0]
        upper = contour[: n // 2 + 1]
        lower = np.vstack([contour[n // 2 :], contour[:1]])
        up = np.array([0.0, -0.05 * unit])
        lids.append(np.vstack([upper, upper[::-1] + up]))
        lids.append(np.vstack([lower, lower[::-1] - up * 0.8]))
    _fill(canvas, lids, tuple(pal.skin))
    lash = (30.0, 22.0, 20.0)
    uppers = [c[: c.shape[0] // 2 + 1] for c in eyes]
    _lines(canvas, uppers, lash, 0.012 * unit)
    crease = [u + [0.0, -0.022 * unit] for u in uppers]
    _lines(canvas, [c[2:-2] for c in crease], pal.shadow, 0.007 * unit)
    lowers = [np.vstack([c[c.shape[0] // 2 :], c[:1]]) for c in eyes]
    _lines(canvas, lowers, _mix(pal.skin, pal.dark, 0.45), 0.006 * unit)


def _ipt(point: np.ndarray) -> tuple[int, int]:
    return int(round(point[0] * _ONE)), int(round(point[1] * _ONE))


def _draw_brows(
    canvas: np.ndarray, p: np.ndarray, unit: float, identity: Identity, pal: _Palette
) -> None:
    polys = []
    half = 0.5 * identity.brow_thickness * unit * _BROW_PROFILE[:, None]
    for idx in (slice(17, 22), slice(22, 27)):
        line = _BROW_CURVE @ p[idx]
        line_half = half[::-1] if idx.start == 22 else half
        polys.append(np.vstack([line + line_half * [0, -1], (line + line_half * [0, 1])[::-1]]))
    colour = _mix(np.array(pal.hair), pal.skin * 0.3, 0.35)
    _fill(canvas, polys, colour)


def _draw_nose(canvas: np.ndarray, p: np.ndarray, unit: float, pal: _Palette, light: float) -> None:
    side = 1 if light <= 0 else -1  # the bridge shadow falls away from the light
    bridge = p[27:31] + [side * 0.03 * unit, 0.0]
    _lines(canvas, [bridge[1:]], _mix(pal.skin, pal.dark, 0.22), 0.01 * unit)
    base = _NOSE_CURVE @ p[31:36]
    wing_l = np.array(
        [
            p[31] + [-0.012 * unit, -0.035 * unit],
            p[31] + [-0.02 * unit, -0.008 * unit],
            p[31],
            p[32],
        ]
    )
    wing_r = np.array(
        [p[35] + [0.012 * unit, -0.035 * unit], p[35] + [0.02 * unit, -0.008 * unit], p[35], p[34]]
    )
    _lines(canvas, [wing_l, wing_r], _mix(pal.skin, pal.dark, 0.4), 0.008 * unit)
    _lines(canvas, [base], _mix(pal.skin, pal.dark, 0.3), 0.006 * unit)
    for a, b in ((31, 32), (35, 34)):
        c = p[a] * 0.45 + p[b] * 0.55 + [0.0, -0.008 * unit]
        _ellipse(canvas, c, (0.016 * unit, 0.007 * unit), 0, _mix(pal.skin, pal.dark, 0.75))


def _draw_mouth(canvas: np.ndarray, p: np.ndarray, unit: float, pal: _Palette) -> None:
    outer = _LIP_OUT_CURVE @ p[48:60]
    inner = _LIP_IN_CURVE @ p[60:68]
    _fill(canvas, [outer], pal.lip)
    _fill(canvas, [inner], (52.0, 18.0, 24.0))
    gap = p[[67, 66, 65], 1] - p[[61, 62, 63], 1]
    if gap.max() > 0.012 * unit:
        upper = p[60:65]
        depth = np.minimum(np.r_[0.0, gap, 0.0] * 0.38, 0.032 * unit)
        teeth_up = np.vstack([upper, (upper + np.c_[np.zeros(5), depth])[::-1]])
        lower = p[[60, 67, 66, 65, 64]]
        depth_low = np.minimum(np.r_[0.0, gap, 0.0] * 0.22, 0.022 * unit)
        teeth_low = np.vstack([lower, (lower - np.c_[np.zeros(5), depth_low])[::-1]])
        _fill(canvas, [teeth_up, teeth_low], (236.0, 232.0, 218.0))
        _lines(canvas, [inner], (52.0, 18.0, 24.0), 0.006 * unit, closed=True)
    else:
        _lines(
            canvas,
            [inner[: inner.shape[0] // 2 + 1]],
            _mix(np.array(pal.lip), pal.dark, 0.6),
            0.008 * unit,
        )


def _face_axes(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Unit x axis (eye to eye), unit y axis and the canvas length of one face unit."""
    ex = p[42:48].mean(0) - p[36:42].mean(0)
    dist = float(np.hypot(*ex))
    ex = ex / dist
    ey = np.array([-ex[1], ex[0]])
    return ex, ey, dist / 0.3146  # mean inter-ocular distance in face units


@dataclass(frozen=True)
class _MarkGroup:
    """The marks of one AU that share a style, as arrays (precomputed once)."""

    a: np.ndarray
    b: np.ndarray
    t: np.ndarray
    offset: np.ndarray
    splits: np.ndarray  # where one mark's points end and the next one's begin
    darkness: float
    width: float
    filled: bool


def _mark_groups() -> dict[int, list[_MarkGroup]]:
    groups: dict[int, list[_MarkGroup]] = {}
    for au, marks in MARKS.items():
        styles: dict[tuple[float, float, bool], list] = {}
        for mark in marks:
            styles.setdefault((mark.darkness, mark.width, mark.filled), []).append(mark)
        groups[au] = []
        for (darkness, width, filled), members in styles.items():
            spec = np.array([pt for m in members for pt in m.points], dtype=float)
            splits = np.cumsum([len(m.points) for m in members])[:-1]
            groups[au].append(
                _MarkGroup(spec[:, 0].astype(int), spec[:, 1].astype(int), spec[:, 2:3],
                           spec[:, 3:5], splits, darkness, width, filled)
            )  # fmt: skip
    return groups


_MARK_GROUPS = _mark_groups()


def _draw_marks(canvas: np.ndarray, p: np.ndarray, au: np.ndarray, pal: _Palette) -> None:
    ex, ey, unit = _face_axes(p)
    frame = np.stack([ex, ey]) * unit
    for i in np.flatnonzero(au):
        for g in _MARK_GROUPS[SUPPORTED_AUS[i]]:
            pts = p[g.a] + (p[g.b] - p[g.a]) * g.t + g.offset @ frame
            polys = np.split(pts, g.splits)
            amount = abs(g.darkness) * au[i]
            colour = _mix(pal.skin, pal.dark if g.darkness > 0 else pal.light, amount)
            if g.filled:
                _fill(canvas, [_catmull_rom(len(q), 4, closed=True) @ q for q in polys], colour)
            else:
                _lines(canvas, polys, colour, g.width * unit)


def _draw_occluder(
    canvas: np.ndarray,
    p: np.ndarray,
    unit: float,
    kind: str,
    pal: _Palette,
    rng: np.random.Generator,
) -> None:
    if kind == "glasses":
        frame = (25.0, 25.0, 28.0)
        rims = []
        for eye in (p[36:42], p[42:48]):
            c = eye.mean(0)
            t = np.linspace(0, 2 * np.pi, 20, endpoint=False)
            rims.append(c + np.c_[0.085 * unit * np.cos(t), 0.06 * unit * np.sin(t)])
        bridge = np.array([rims[0][0], (p[39] + p[42]) / 2 + [0, -0.02 * unit], rims[1][10]])
        temples = [
            np.array([rims[0][10], p[0] + [0.0, -0.03 * unit]]),
            np.array([rims[1][0], p[16] + [0.0, -0.03 * unit]]),
        ]
        _lines(canvas, rims, frame, 0.014 * unit, closed=True)
        _lines(canvas, [bridge, *temples], frame, 0.012 * unit)
    elif kind == "hand":
        side = 1 if rng.uniform() < 0.5 else -1
        anchor = p[57] * 0.5 + p[8] * 0.5 + [side * rng.uniform(0.05, 0.15) * unit, 0.0]
        palm_axes = (0.2 * unit, 0.13 * unit)
        colour = _mix(pal.skin, pal.dark, 0.08)
        _ellipse(canvas, anchor + [0.0, 0.08 * unit], palm_axes, -side * 20, colour)
        finger_dir = np.array([-side * 0.9, -0.45])
        for k in range(4):
            base = anchor + [side * (0.08 - 0.06 * k) * unit, (0.02 * k) * unit]
            tip = base + finger_dir * (0.16 - 0.02 * abs(k - 1.5)) * unit
            _lines(canvas, [np.array([base, tip])], colour, 0.05 * unit)
            _lines(
                canvas,
                [np.array([tip - finger_dir * 0.02 * unit, tip])],
                _mix(pal.skin, pal.dark, 0.25),
                0.01 * unit,
            )


@functools.lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    """A fixed field of unit Gaussian noise; faces take random windows of it (much cheaper than
    drawing fresh normals for every pixel of every face)."""
    return np.random.default_rng(12345).standard_normal((_BANK, 3 * _BANK), dtype=np.float32)


_BANK = 384


def _finish(
    image: np.ndarray, p_out: np.ndarray, nuisance: Nuisance, rng: np.random.Generator
) -> np.ndarray:
    """Lighting (brightness and a horizontal key-light gradient), blur and noise, uint8 out."""
    size = image.shape[1]
    centre = p_out[27, 0]
    half_width = max(abs(p_out[16, 0] - p_out[0, 0]) / 2, 1.0)
    x = (np.arange(size, dtype=np.float32) - centre) / half_width
    gain = nuisance.brightness * (1.0 + 0.22 * nuisance.light_direction * np.clip(x, -1.5, 1.5))
    if np.any(gain != 1.0):
        gain_map = np.repeat(gain.astype(np.float32), 3)[None, :].repeat(size, 0)
        image = cv2.multiply(image.reshape(size, 3 * size), gain_map, dtype=cv2.CV_8U)  # saturates
        image = image.reshape(size, size, 3)
    if nuisance.blur > 0:
        image = cv2.GaussianBlur(image, (0, 0), nuisance.blur)
    if nuisance.noise > 0:
        if size <= _BANK:
            y0, x0 = rng.integers(0, _BANK - size + 1), 3 * rng.integers(0, _BANK - size + 1)
            noise = _noise_bank()[y0 : y0 + size, x0 : x0 + 3 * size]
        else:
            noise = rng.standard_normal((size, 3 * size), dtype=np.float32)
        noisy = cv2.scaleAdd(
            noise, float(nuisance.noise), image.reshape(size, 3 * size).astype(np.float32)
        )
        image = cv2.convertScaleAbs(cv2.max(noisy, 0.0)).reshape(size, size, 3)  # clip to 0-255
    return image


def _check_inputs(pose: Pose, nuisance: Nuisance, size: int) -> None:
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    if nuisance.occluder not in _OCCLUDERS:
        raise ValueError(f"occluder must be one of {_OCCLUDERS}, got {nuisance.occluder!r}")
    if not 0.1 <= nuisance.scale <= 2.0:
        raise ValueError(f"nuisance.scale must be in [0.1, 2], got {nuisance.scale}")
    if max(abs(pose.yaw), abs(pose.pitch), abs(pose.roll)) > 45:
        raise ValueError(f"pose angles must be within 45 degrees, got {pose}")


def render_face(
    identity: Identity,
    au_intensity: Mapping[int, float],
    *,
    pose: Pose = Pose(),  # noqa: B008 - frozen dataclass, immutable default
    nuisance: Nuisance = Nuisance(),  # noqa: B008
    size: int = 112,
    rng: np.random.Generator | None = None,
) -> RenderedFace:
    """Render one face.

    Args:
        identity: who (shape, colours, hair).
        au_intensity: AU number -> intensity in [0, 1]; absent AUs are 0.
        pose: head pose in degrees (within 45).
        nuisance: light, background, blur, noise, occluder and framing. With ``scale`` 1 and
            ``offset`` (0, 0) the face is framed as an ArcFace-aligned crop of side ``size``.
            ``jpeg_quality`` is left to the writer.
        size: output side in pixels (the image is square).
        rng: drives the textured background, the noise and the hand's placement only; ``None``
            uses a fixed seed (0), so the output is always a function of the inputs.

    Returns:
        RGB ``uint8 [size, size, 3]`` and the 68 landmarks ``float32 [68, 2]`` in its pixels.

    Raises:
        ValueError: an unsupported AU, an intensity outside [0, 1], or a bad pose/nuisance/size.
    """
    au = au_vector(au_intensity)
    _check_inputs(pose, nuisance, size)
    rng = np.random.default_rng(0) if rng is None else rng
    pts = _layout_points(identity, au, pose)
    side = size * _SS
    p = _to_pixels(pts, side, nuisance)
    unit = side * nuisance.scale  # canvas pixels per face unit
    pal = _palette(identity)
    canvas = _background(side, nuisance, rng)
    _draw_head(canvas, p, unit, identity, pal)
    _draw_eyes(canvas, p, unit, pal)
    _draw_brows(canvas, p, unit, identity, pal)
    _draw_nose(canvas, p, unit, pal, nuisance.light_direction)
    _draw_mouth(canvas, p, unit, pal)
    _draw_marks(canvas, p, au, pal)
    if nuisance.occluder is not None:
        _draw_occluder(canvas, p, unit, nuisance.occluder, pal, rng)
    image = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    landmarks = _to_pixels(pts[:68], size, nuisance)
    image = _finish(image, landmarks, nuisance, rng)
    return RenderedFace(image=image, landmarks=landmarks.astype(np.float32))


# --- gallery ------------------------------------------------------------------------------------------
def write_gallery(out_dir: Path, size: int = 112) -> list[Path]:
    """Write the documentation gallery: one neutral | AU pair per AU, and a grid of identities."""
    from holistic.synth.writers._common import save_image  # writers import this module

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    identity = Identity()
    neutral = render_face(identity, {}, size=size).image
    for au in SUPPORTED_AUS:
        face = render_face(identity, {au: 1.0}, size=size).image
        pair = np.hstack([neutral, np.full((size, 4, 3), 255, np.uint8), face])
        path = out_dir / f"au{au:02d}.png"
        save_image(path, pair)
        written.append(path)
    rng = np.random.default_rng(7)
    tiles = []
    for k in range(24):
        ident = sample_identity(rng)
        nuisance = Nuisance(
            brightness=float(rng.uniform(0.75, 1.2)),
            light_direction=float(rng.uniform(-1, 1)),
            background=None if k % 3 == 0 else tuple(int(v) for v in rng.integers(40, 220, 3)),
            blur=float(rng.choice([0.0, 0.0, 0.8])),
            noise=float(rng.choice([0.0, 3.0])),
            occluder=(None, None, None, "hand", "glasses")[k % 5],
        )
        pose = Pose(*(float(v) for v in rng.uniform(-15, 15, 3)))
        aus = {
            int(a): float(rng.uniform(0.5, 1.0))
            for a in rng.choice(SUPPORTED_AUS, 2, replace=False)
        }
        tiles.append(
            render_face(ident, aus, pose=pose, nuisance=nuisance, size=size, rng=rng).image
        )
    grid = np.vstack([np.hstack(tiles[r * 8 : (r + 1) * 8]) for r in range(3)])
    path = out_dir / "identities.png"
    save_image(path, grid)
    written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    """``python -m holistic.synth.render --gallery DIR``: write the documentation gallery."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gallery", type=Path, required=True, help="output folder for the PNGs")
    parser.add_argument("--size", type=int, default=112)
    args = parser.parse_args(argv)
    for path in write_gallery(args.gallery, args.size):
        print(path)


if __name__ == "__main__":
    main()
