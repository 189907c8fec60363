"""The label model of the synthetic affect world: expressions, AUs and VA driven by relatedness.

A :class:`LabelModel` samples the ground truth of one still image (:class:`FrameLabels`):

1. a category: a basic expression (or neutral, with probability ``neutral_rate``) or a compound;
2. its AUs from a relatedness table (``relatedness.load_table``): every row of weight 1
   (prototypical) is switched on with high intensity; every row of weight w < 1 (observational)
   is switched on with probability w and moderate intensity; every other AU of
   :data:`LABEL_AUS` is switched on with probability ``spontaneous_rate`` (sparse spontaneous
   activity) and low-to-moderate intensity;
3. valence/arousal: the category's circumplex position (:data:`CIRCUMPLEX`) scaled by the
   expression intensity, plus Gaussian noise, clipped to [-1, 1].

Every switched-on AU has an intensity of at least :data:`AU_OCCURRENCE` and every other AU an
intensity of 0, so P(AU occurring | expression) is exactly 1, w or ``spontaneous_rate``: the
expression-AU statistics of the samples *are* the table, and ``relatedness.infer_empirical`` on
them recovers it (``docs/synth_labels.md``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from holistic.schema import (
    BASIC_EXPRESSIONS,
    COMPOUND_COMPONENTS,
    check_expression,
    resolve_compounds,
)
from holistic.synth.types import FrameLabels
from relatedness import RelatednessTable, load_table

__all__ = [
    "AU_LEVEL_THRESHOLDS",
    "AU_OCCURRENCE",
    "CIRCUMPLEX",
    "COMPOUND_CIRCUMPLEX",
    "LABEL_AUS",
    "MIN_EXPRESSION_INTENSITY",
    "LabelModel",
    "intensity_0_5",
    "occurrence",
]

#: The AUs the renderer draws, and so the AUs every :class:`FrameLabels` carries (same tuple as
#: ``render.SUPPORTED_AUS``; kept here so the label model does not import the renderer).
LABEL_AUS: tuple[int, ...] = (
    1,
    2,
    4,
    5,
    6,
    7,
    9,
    10,
    11,
    12,
    14,
    15,
    16,
    17,
    20,
    23,
    24,
    25,
    26,
    27,
)

#: Intensity thresholds of the DISFA-style levels 1..5: level k starts at (k - 0.5) / 5, i.e. the
#: level is round(5 * intensity) with halves rounded up.
AU_LEVEL_THRESHOLDS: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)

#: Intensity at or above which an AU counts as occurring. Equal to the threshold of level 2, so
#: occurrence agrees exactly with DISFA's usual "level >= 2" binarisation of ``intensity_0_5``.
AU_OCCURRENCE: float = AU_LEVEL_THRESHOLDS[1]

#: Lowest expression intensity: prototypical AUs get intensity U(0.6, 1.0) x the expression
#: intensity, which must stay at or above :data:`AU_OCCURRENCE` (0.6 x 0.5 = 0.3).
MIN_EXPRESSION_INTENSITY: float = 0.5

#: (valence, arousal) of each expression at full intensity, placed by quadrant and angle on
#: Russell's circumplex (Russell 1980). Design values, not measurements; see
#: docs/synth_labels.md.
CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "neutral": (0.0, 0.0),
    "happiness": (0.8, 0.5),
    "sadness": (-0.7, -0.4),
    "anger": (-0.6, 0.65),
    "fear": (-0.55, 0.8),
    "surprise": (0.2, 0.85),
    "disgust": (-0.7, 0.3),
    "contempt": (-0.5, 0.2),
}

#: Circumplex positions of the compounds that have no basic components (the others take the
#: mean of their two components' positions).
COMPOUND_CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "awed": (0.4, 0.7),
    "appalled": (-0.7, 0.55),
    "hatred": (-0.8, 0.6),
}

_DEFAULT_EXPRESSIONS: tuple[str, ...] = ("neutral", *BASIC_EXPRESSIONS)

# Intensity ranges (before scaling by the expression intensity where noted).
_PROTOTYPICAL_RANGE = (0.6, 1.0)  # x expression intensity
_OBSERVATIONAL_RANGE = (AU_OCCURRENCE, 0.75)
_SPONTANEOUS_RANGE = (AU_OCCURRENCE, 0.55)


def occurrence(labels: FrameLabels) -> dict[int, int]:
    """0/1 occurrence of every AU of :data:`LABEL_AUS` (intensity >= :data:`AU_OCCURRENCE`).

    AUs missing from ``labels.au_intensity`` count as 0.
    """
    return {au: int(labels.au_intensity.get(au, 0.0) >= AU_OCCURRENCE) for au in LABEL_AUS}


def intensity_0_5(labels: FrameLabels) -> dict[int, int]:
    """DISFA-style 0-5 intensity level of every AU of :data:`LABEL_AUS`.

    Level k (1..5) starts at intensity (k - 0.5) / 5 (:data:`AU_LEVEL_THRESHOLDS`), so
    ``level >= 2`` holds exactly when the AU occurs (:func:`occurrence`).
    """
    return {au: _level(labels.au_intensity.get(au, 0.0)) for au in LABEL_AUS}


def _level(intensity: float) -> int:
    return sum(intensity >= threshold for threshold in AU_LEVEL_THRESHOLDS)


def _as_table(table: str | os.PathLike | RelatednessTable) -> RelatednessTable:
    if isinstance(table, RelatednessTable):
        return table
    return load_table(table)


def _check_rate(name: str, value: float, upper: float = 1.0) -> float:
    if not 0.0 <= value <= upper:
        raise ValueError(f"{name} must lie in [0, {upper}], got {value!r}")
    return float(value)


class LabelModel:
    """Samples ground-truth labels whose expression-AU statistics are a relatedness table.

    Args:
        table: the basic-expression table: a shipped name (``"cognitive"``), a table file, or a
            :class:`~relatedness.RelatednessTable`. Rows of weight 1 are prototypical AUs, rows
            of weight w < 1 occur with probability w.
        compound_table: the same for compound categories (``"compound"``).
        spontaneous_rate: probability that an AU without a row for the category occurs anyway;
            in [0, 0.5].
        neutral_rate: probability of neutral when sampling a basic still (only if ``"neutral"``
            is in ``expressions``); the other expressions share the rest uniformly.
        va_noise: standard deviation of the Gaussian noise added to valence and arousal.
        expressions: the expressions :meth:`sample_still` picks from (canonical names). Every
            one but neutral needs rows in ``table``.

    Raises:
        ValueError: rates or noise out of range; an expression without rows in ``table``; a
            table row naming an AU outside :data:`LABEL_AUS` (the renderer could not draw it).
    """

    def __init__(
        self,
        table: str | os.PathLike | RelatednessTable = "cognitive",
        compound_table: str | os.PathLike | RelatednessTable = "compound",
        spontaneous_rate: float = 0.03,
        neutral_rate: float = 0.15,
        va_noise: float = 0.1,
        expressions: Iterable[str] = _DEFAULT_EXPRESSIONS,
    ) -> None:
        self.table = _as_table(table)
        self.compound_table = _as_table(compound_table)
        self.spontaneous_rate = _check_rate("spontaneous_rate", spontaneous_rate, 0.5)
        self.neutral_rate = _check_rate("neutral_rate", neutral_rate)
        if not va_noise >= 0.0:
            raise ValueError(f"va_noise must be >= 0, got {va_noise!r}")
        self.va_noise = float(va_noise)
        self.expressions = tuple(check_expression(e) for e in expressions)
        if not self.expressions:
            raise ValueError("expressions is empty")
        for table_ in (self.table, self.compound_table):
            outside = sorted(set(table_.aus) - set(LABEL_AUS))
            if outside:
                raise ValueError(
                    f"relatedness table {table_.name!r} names AUs {outside} that the renderer "
                    f"does not draw; LABEL_AUS = {list(LABEL_AUS)}"
                )
        for expression in self.expressions:
            if expression != "neutral" and not self.table.weights(expression):
                raise ValueError(
                    f"expression {expression!r} has no rows in relatedness table "
                    f"{self.table.name!r} (it covers {list(self.table.categories)})"
                )
        self._emotional = tuple(e for e in self.expressions if e != "neutral")

    # ------------------------------------------------------------------ public

    def weights(self, category: str) -> dict[int, float]:
        """``{au: P(AU occurs | category)}`` for the AUs with a row (neutral: empty)."""
        if category == "neutral":
            return {}
        table = self.table if category in self.table.categories else self.compound_table
        return table.weights(category)

    def prototypical_aus(self, category: str) -> tuple[int, ...]:
        """The AUs of ``category`` with weight 1 (always on), sorted."""
        return tuple(sorted(au for au, w in self.weights(category).items() if w >= 1.0))

    def circumplex(self, category: str) -> tuple[float, float]:
        """Full-intensity (valence, arousal) of an expression or compound.

        Compounds with two basic components take the mean of the components' positions.
        """
        if category in CIRCUMPLEX:
            return CIRCUMPLEX[category]
        if category in COMPOUND_CIRCUMPLEX:
            return COMPOUND_CIRCUMPLEX[category]
        components = COMPOUND_COMPONENTS.get(category, ())
        if not components:
            raise ValueError(f"no circumplex position for category {category!r}")
        points = np.array([CIRCUMPLEX[c] for c in components], dtype=np.float64)
        valence, arousal = points.mean(axis=0)
        return float(valence), float(arousal)

    def pick_expression(self, rng: np.random.Generator) -> str:
        """An expression of ``expressions``: neutral with ``neutral_rate``, else uniform."""
        has_neutral = "neutral" in self.expressions
        if not self._emotional or (has_neutral and rng.random() < self.neutral_rate):
            return "neutral"
        return self._emotional[int(rng.integers(len(self._emotional)))]

    def sample_still(
        self,
        rng: np.random.Generator,
        *,
        kind: str = "basic",
        intensity: float | None = None,
        category: str | None = None,
        compounds: str | Sequence[str] = "rafdb11",
    ) -> FrameLabels:
        """The labels of one still image.

        Args:
            rng: the random generator; the result is a function of its state.
            kind: ``"basic"`` (an expression of ``expressions``, ``compound`` None) or
                ``"compound"`` (a compound of ``compounds``, ``expression`` None).
            intensity: expression intensity in [:data:`MIN_EXPRESSION_INTENSITY`, 1]; None
                draws it uniformly from that range.
            category: force this expression (basic) or compound instead of drawing one.
            compounds: compound vocabulary (name or canonical names) for ``kind="compound"``.

        Returns:
            :class:`FrameLabels` with an intensity for every AU of :data:`LABEL_AUS` (0 = off).

        Raises:
            ValueError: unknown ``kind``, ``intensity`` out of range, an unknown category.
        """
        if kind not in ("basic", "compound"):
            raise ValueError(f"kind must be 'basic' or 'compound', got {kind!r}")
        if intensity is None:
            strength = float(rng.uniform(MIN_EXPRESSION_INTENSITY, 1.0))
        elif MIN_EXPRESSION_INTENSITY <= intensity <= 1.0:
            strength = float(intensity)
        else:
            raise ValueError(
                f"intensity must lie in [{MIN_EXPRESSION_INTENSITY}, 1], got {intensity!r} "
                "(weaker expressions would leave prototypical AUs below AU_OCCURRENCE)"
            )
        if kind == "basic":
            name = self.pick_expression(rng) if category is None else check_expression(category)
            if name != "neutral" and not self.table.weights(name):
                raise ValueError(f"expression {name!r} has no rows in table {self.table.name!r}")
            weights = self.weights(name)
        else:
            vocabulary = resolve_compounds(compounds)
            name = vocabulary[int(rng.integers(len(vocabulary)))] if category is None else category
            weights = self.compound_table.weights(name)
            if not weights:
                raise ValueError(
                    f"compound {name!r} has no rows in table {self.compound_table.name!r}"
                )
        aus = self._sample_aus(rng, weights, strength)
        va = self._sample_va(rng, name, strength if name != "neutral" else 0.0)
        if kind == "basic":
            return FrameLabels(expression=name, compound=None, au_intensity=aus, va=va)
        return FrameLabels(expression=None, compound=name, au_intensity=aus, va=va)

    def sample_stills(self, rng: np.random.Generator, n: int, **kwargs) -> list[FrameLabels]:
        """``n`` independent :meth:`sample_still` draws (same keyword arguments)."""
        return [self.sample_still(rng, **kwargs) for _ in range(n)]

    # ------------------------------------------------------------------ parts

    def _sample_aus(
        self, rng: np.random.Generator, weights: Mapping[int, float], strength: float
    ) -> dict[int, float]:
        """AU intensities: one uniform draw per AU for on/off and one for the intensity."""
        switch = rng.random(len(LABEL_AUS))
        level = rng.random(len(LABEL_AUS))
        out: dict[int, float] = {}
        for au, u_switch, u_level in zip(LABEL_AUS, switch, level, strict=True):
            weight = weights.get(au)
            if weight is None:  # no row: sparse spontaneous activity
                on, (low, high) = u_switch < self.spontaneous_rate, _SPONTANEOUS_RANGE
            elif weight >= 1.0:  # prototypical
                on = True
                low, high = (strength * bound for bound in _PROTOTYPICAL_RANGE)
            else:  # observational
                on, (low, high) = u_switch < weight, _OBSERVATIONAL_RANGE
            value = max(AU_OCCURRENCE, low + (high - low) * float(u_level)) if on else 0.0
            out[au] = value
        return out

    def _sample_va(
        self, rng: np.random.Generator, category: str, strength: float
    ) -> tuple[float, float]:
        centre = np.asarray(self.circumplex(category), dtype=np.float64) * strength
        va = np.clip(centre + rng.normal(0.0, self.va_noise, size=2), -1.0, 1.0)
        return float(va[0]), float(va[1])
