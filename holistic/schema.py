"""Label spaces: canonical expression and compound names, the FACS table, named vocabularies.

Shards are vocabulary-free (DESIGN.md decision 1): a record stores what its source says, in
canonical units. A run chooses its vocabularies and projects records onto them at load time with
:class:`LabelSpace`, which yields arrays plus per-sample masks.

A record is a plain mapping with any of these label keys (absent means unlabelled):

- ``va``: ``[valence, arousal]``, each in [-1, 1];
- ``expr``: a canonical expression name (:data:`EXPRESSIONS`);
- ``au``: ``{"<FACS number>": 0 or 1}`` for the AUs the source labels;
- ``au_intensity``: ``{"<FACS number>": 0..5}`` where the source has intensities;
- ``compound``: a canonical compound name (:data:`COMPOUNDS`);

plus the provenance keys of :data:`RECORD_KEYS`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_OCCURRENCE = frozenset({0, 1})
_INTENSITY = frozenset({0, 1, 2, 3, 4, 5})

__all__ = [
    "AU_VOCABULARIES",
    "BASIC_EXPRESSIONS",
    "COMPOUNDS",
    "COMPOUND_COMPONENTS",
    "COMPOUND_VOCABULARIES",
    "EXPRESSIONS",
    "EXPRESSION_VOCABULARIES",
    "FACS",
    "LABEL_KEYS",
    "LabelSpace",
    "RECORD_KEYS",
    "VA_BINS",
    "VABins",
    "VAHistogram",
    "au_name",
    "check_au",
    "check_compound",
    "check_expression",
    "resolve_aus",
    "resolve_compounds",
    "resolve_expressions",
    "va_bin_index",
    "va_num_bins",
]

# ---------------------------------------------------------------------------------------------
# Expressions
# ---------------------------------------------------------------------------------------------

#: Every canonical expression name a record may carry.
EXPRESSIONS: tuple[str, ...] = (
    "neutral",
    "anger",
    "disgust",
    "fear",
    "happiness",
    "sadness",
    "surprise",
    "contempt",
    "other",
)

#: The six basic emotions of the relatedness tables (no neutral, no contempt).
BASIC_EXPRESSIONS: tuple[str, ...] = (
    "anger",
    "disgust",
    "fear",
    "happiness",
    "sadness",
    "surprise",
)

#: Named expression vocabularies. ``basic7`` is the ABAW order and the default.
EXPRESSION_VOCABULARIES: dict[str, tuple[str, ...]] = {
    "basic7": ("neutral", "anger", "disgust", "fear", "happiness", "sadness", "surprise"),
    # ABAW3 onward: the seven plus "other" as class 7.
    "abaw8": ("neutral", "anger", "disgust", "fear", "happiness", "sadness", "surprise", "other"),
    # AffectNet's eight expression classes, in AffectNet's own order (codes 0-7).
    "affectnet8": (
        "neutral",
        "happiness",
        "sadness",
        "surprise",
        "fear",
        "disgust",
        "anger",
        "contempt",
    ),
}

# ---------------------------------------------------------------------------------------------
# Action units
# ---------------------------------------------------------------------------------------------

#: The FACS table: AU number -> name. Main action units, head and eye positions; it covers every
#: AU that any supported dataset labels (BP4D and BP4D+ code up to the 40s and beyond).
FACS: dict[int, str] = {
    1: "inner brow raiser",
    2: "outer brow raiser",
    4: "brow lowerer",
    5: "upper lid raiser",
    6: "cheek raiser",
    7: "lid tightener",
    8: "lips toward each other",
    9: "nose wrinkler",
    10: "upper lip raiser",
    11: "nasolabial deepener",
    12: "lip corner puller",
    13: "sharp lip puller",
    14: "dimpler",
    15: "lip corner depressor",
    16: "lower lip depressor",
    17: "chin raiser",
    18: "lip pucker",
    19: "tongue show",
    20: "lip stretcher",
    21: "neck tightener",
    22: "lip funneler",
    23: "lip tightener",
    24: "lip pressor",
    25: "lips part",
    26: "jaw drop",
    27: "mouth stretch",
    28: "lip suck",
    29: "jaw thrust",
    30: "jaw sideways",
    31: "jaw clencher",
    32: "lip bite",
    33: "cheek blow",
    34: "cheek puff",
    35: "cheek suck",
    36: "tongue bulge",
    37: "lip wipe",
    38: "nostril dilator",
    39: "nostril compressor",
    41: "lid droop",
    42: "slit",
    43: "eyes closed",
    44: "squint",
    45: "blink",
    46: "wink",
    51: "head turn left",
    52: "head turn right",
    53: "head up",
    54: "head down",
    55: "head tilt left",
    56: "head tilt right",
    57: "head forward",
    58: "head back",
    61: "eyes turn left",
    62: "eyes turn right",
    63: "eyes up",
    64: "eyes down",
}

#: Named AU vocabularies (FACS numbers, in head order). ``fbn17`` is the default.
AU_VOCABULARIES: dict[str, tuple[int, ...]] = {
    # The AUs of the FaceBehaviorNet relatedness table (Table V): every entry has a head.
    "fbn17": (1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 15, 17, 20, 23, 24, 25, 26),
    # The dataset-union alternative: DISFA ∪ BP4D bench ∪ EmotioNet ∪ Aff-Wild2 ABAW1.
    "union17": (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 24, 25, 26),
    "abaw2020": (1, 2, 4, 6, 12, 15, 20, 25),
    "abaw2021": (1, 2, 4, 6, 7, 10, 12, 15, 23, 24, 25, 26),
    # Per-source protocols (reference/datasets.md §15).
    "disfa12": (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26),
    "disfa8": (1, 2, 4, 6, 9, 12, 25, 26),
    "bp4d12": (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24),
    "emotionet11": (1, 2, 4, 5, 6, 9, 12, 17, 20, 25, 26),
    "gft14": (1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 15, 17, 23, 24),
    "rafau13": (1, 2, 4, 5, 6, 9, 10, 12, 16, 17, 25, 26, 27),
}
AU_VOCABULARIES["abaw"] = AU_VOCABULARIES["abaw2021"]  # ABAW2 (2021) onward

# ---------------------------------------------------------------------------------------------
# Compound expressions
# ---------------------------------------------------------------------------------------------

#: Basic components of each compound category, read off its name the way the FaceBehaviorNet
#: paper forms emo1 and emo2. ``awed``, ``appalled`` and ``hatred`` have none.
COMPOUND_COMPONENTS: dict[str, tuple[str, ...]] = {
    "happily_sad": ("happiness", "sadness"),
    "happily_surprised": ("happiness", "surprise"),
    "happily_disgusted": ("happiness", "disgust"),
    "sadly_fearful": ("sadness", "fear"),
    "sadly_angry": ("sadness", "anger"),
    "sadly_surprised": ("sadness", "surprise"),
    "sadly_disgusted": ("sadness", "disgust"),
    "fearfully_angry": ("fear", "anger"),
    "fearfully_surprised": ("fear", "surprise"),
    "fearfully_disgusted": ("fear", "disgust"),
    "angrily_surprised": ("anger", "surprise"),
    "disgustedly_surprised": ("disgust", "surprise"),
    "happily_fearful": ("happiness", "fear"),
    "angrily_disgusted": ("anger", "disgust"),
    "awed": (),
    "appalled": (),
    "hatred": (),
}

#: Every canonical compound name a record may carry.
COMPOUNDS: tuple[str, ...] = tuple(COMPOUND_COMPONENTS)

#: Named compound vocabularies, each in its dataset's own class order.
COMPOUND_VOCABULARIES: dict[str, tuple[str, ...]] = {
    # RAF-DB compound labels 1-11 -> indices 0-10.
    "rafdb11": (
        "happily_surprised",
        "happily_disgusted",
        "sadly_fearful",
        "sadly_angry",
        "sadly_surprised",
        "sadly_disgusted",
        "fearfully_angry",
        "fearfully_surprised",
        "angrily_surprised",
        "angrily_disgusted",
        "disgustedly_surprised",
    ),
    # ABAW6/7 compound-expression challenge, submission indices 0-6.
    "abaw_compound7": (
        "fearfully_surprised",
        "happily_surprised",
        "sadly_surprised",
        "disgustedly_surprised",
        "angrily_surprised",
        "sadly_fearful",
        "sadly_angry",
    ),
    # Every category of the prototypical-AU table: the 6 basic emotions and the 17 compounds.
    "prototypical23": BASIC_EXPRESSIONS + COMPOUNDS,
}

# EmotioNet challenge track 2: 6 basic + 10 compound categories. Which 10 compounds is
# (unverified): two lists circulate (reference/relatedness.md §6), both kept here. List 1 is
# RAF-DB's 11 minus disgustedly_surprised, in RAF-DB's order; list 2 has appalled and awed (no
# basic components) and is in the order relatedness.md lists it.
_EMOTIONET10 = tuple(c for c in COMPOUND_VOCABULARIES["rafdb11"] if c != "disgustedly_surprised")
_EMOTIONET10_ALT: tuple[str, ...] = (
    "appalled",
    "awed",
    "angrily_disgusted",
    "angrily_surprised",
    "fearfully_angry",
    "fearfully_surprised",
    "happily_disgusted",
    "happily_surprised",
    "sadly_angry",
    "sadly_disgusted",
)
COMPOUND_VOCABULARIES.update(
    {
        "emotionet10": _EMOTIONET10,
        "emotionet10_alt": _EMOTIONET10_ALT,
        # The 16 track-2 categories: the 6 basic emotions, then the 10 compounds. The
        # challenge's own class order is (unverified); this one is our convention, so a run
        # names its class list in config (the emotionet-compound adapter's option ``classes``).
        "emotionet16": BASIC_EXPRESSIONS + _EMOTIONET10,
        "emotionet16_alt": BASIC_EXPRESSIONS + _EMOTIONET10_ALT,
    }
)

# ---------------------------------------------------------------------------------------------
# Valence and arousal bins
# ---------------------------------------------------------------------------------------------

#: How far below a bin edge, in bins, a value still falls in the bin above. Labels on an edge
#: (-0.8, 0.7, every AFEW-VA label divided by 10) come out a hair short of it in floating point,
#: and differently in float32 and float64: floor((-0.8 + 1) * 10) is 1 in float64, and -0.3 as
#: float32 gives 6. With the snap, a label has one bin whether it is counted from JSON (float64,
#: at conversion) or looked up in a float32 batch; only values within 1e-5 of an edge move.
_VA_BIN_SNAP = 1e-4


@dataclass(frozen=True)
class VABins:
    """A binning of valence or of arousal: bin ``i`` holds ``[low + i / bins_per_unit, low +
    (i + 1) / bins_per_unit)`` and the last bin holds ``high`` (see :func:`va_bin_index`).

    The default, :data:`VA_BINS`, is the latent-adversarial papers' 0.1-wide bins on the
    canonical [-1, 1] scale: 21 bins, the last one holding 1.0 alone (their ``int(v * 10 + 10)``,
    ``reference/latent_models.md`` §2.2).
    """

    low: float = -1.0
    high: float = 1.0
    bins_per_unit: float = 10.0

    def __post_init__(self) -> None:
        finite = all(math.isfinite(v) for v in (self.low, self.high, self.bins_per_unit))
        if not finite or self.low >= self.high or self.bins_per_unit <= 0:
            raise ValueError(
                f"VA bins need finite low < high and bins_per_unit > 0, got low={self.low}, "
                f"high={self.high}, bins_per_unit={self.bins_per_unit}"
            )

    @property
    def num_bins(self) -> int:
        return va_num_bins(self.low, self.high, self.bins_per_unit)


def va_num_bins(low: float = -1.0, high: float = 1.0, bins_per_unit: float = 10.0) -> int:
    """Bins on ``[low, high]``: ``(high - low) * bins_per_unit + 1`` (21 on [-1, 1] by 0.1); the
    last bin holds ``high`` alone."""
    if not high > low or not bins_per_unit > 0:
        raise ValueError(
            f"need low < high and bins_per_unit > 0, got {low}, {high}, {bins_per_unit}"
        )
    return int(round((high - low) * bins_per_unit)) + 1


#: 0.1-wide bins on the canonical [-1, 1] scale: what the federation manifest records.
VA_BINS = VABins()


def va_bin_index(
    values: Any, low: float = -1.0, high: float = 1.0, bins_per_unit: float = 10.0
) -> Any:
    """The bin of each value: ``floor((v - low) * bins_per_unit)``, snapped up when within 1e-4
    of a bin below an edge, clipped to ``[0, num_bins - 1]``. The one binning of valence and
    arousal: manifests count with it and class-balance weights look up with it.

    Args:
        values: a numpy array (or anything ``np.asarray`` takes) or a torch tensor, any shape;
            computed in float64 whatever the dtype, so float32 and float64 copies of a label
            share a bin.

    Returns:
        int64 bins of the same shape: a numpy array, or a tensor on the input's device.

    Raises:
        ValueError: a value outside ``[low, high]`` or NaN (mask unlabelled samples first).
    """
    bins = VABins(float(low), float(high), float(bins_per_unit))
    is_tensor = not isinstance(values, np.ndarray) and hasattr(values, "double")
    x = values.double() if is_tensor else np.asarray(values, np.float64)
    outside = ~((x >= bins.low) & (x <= bins.high))
    if bool(outside.any()):
        raise ValueError(
            f"VA value {x[outside].reshape(-1)[0].item()} lies outside [{bins.low}, {bins.high}]; "
            "mask unlabelled samples and invalid markers first"
        )
    index = ((x - bins.low) * bins.bins_per_unit + _VA_BIN_SNAP) // 1  # floor, numpy or torch
    index = index.clip(0, bins.num_bins - 1)
    return index.long() if is_tensor else index.astype(np.int64)


@dataclass(frozen=True)
class VAHistogram:
    """Counts of valence and of arousal labels per bin of ``bins`` (samples without a VA label
    are not counted), as the federation manifest records them.

    Attributes:
        valence, arousal: ``bins.num_bins`` counts each.
        bins: the binning they were counted with.
    """

    valence: tuple[int, ...]
    arousal: tuple[int, ...]
    bins: VABins = VA_BINS

    def __post_init__(self) -> None:
        for name in ("valence", "arousal"):
            counts = tuple(getattr(self, name))
            ok = all(isinstance(c, int | np.integer) and c >= 0 for c in counts)
            if not ok or len(counts) != self.bins.num_bins:
                raise ValueError(
                    f"{name} must be {self.bins.num_bins} counts >= 0 (one per bin of "
                    f"{self.bins}), got {counts!r}"
                )
            object.__setattr__(self, name, tuple(int(c) for c in counts))

    @classmethod
    def count(cls, va: Any, bins: VABins = VA_BINS) -> VAHistogram:
        """The histogram of ``[N, 2]`` valence/arousal labels (numpy or torch)."""
        va = np.asarray(va, np.float64).reshape(-1, 2)
        index = va_bin_index(va, bins.low, bins.high, bins.bins_per_unit)
        valence, arousal = (np.bincount(index[:, c], minlength=bins.num_bins) for c in (0, 1))
        return cls(tuple(valence.tolist()), tuple(arousal.tolist()), bins)

    @classmethod
    def zeros(cls, bins: VABins = VA_BINS) -> VAHistogram:
        """No label counted yet (the start of a sum)."""
        return cls((0,) * bins.num_bins, (0,) * bins.num_bins, bins)

    @property
    def total(self) -> int:
        """Samples counted (each has one valence and one arousal)."""
        return sum(self.valence)

    def __add__(self, other: VAHistogram) -> VAHistogram:
        if not isinstance(other, VAHistogram):
            return NotImplemented
        if other.bins != self.bins:
            raise ValueError(f"cannot add histograms of different bins: {self.bins}, {other.bins}")
        valence = tuple(a + b for a, b in zip(self.valence, other.valence, strict=True))
        arousal = tuple(a + b for a, b in zip(self.arousal, other.arousal, strict=True))
        return VAHistogram(valence, arousal, self.bins)


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------

#: Label keys a record may carry (absent = unlabelled).
LABEL_KEYS: tuple[str, ...] = ("va", "expr", "au", "au_intensity", "compound")
#: Every key of a shard record's JSON.
RECORD_KEYS: tuple[str, ...] = (
    "dataset",
    "split",
    "subject",
    "video",
    "frame",
    "source_path",
    *LABEL_KEYS,
    "landmarks",
)


def check_expression(name: str) -> str:
    """Return ``name`` if it is a canonical expression name, else raise ``ValueError``."""
    if name not in EXPRESSIONS:
        raise ValueError(f"unknown expression {name!r}; canonical names are {list(EXPRESSIONS)}")
    return name


def check_compound(name: str) -> str:
    """Return ``name`` if it is a canonical compound name or a basic emotion, else raise."""
    if name not in COMPOUNDS and name not in BASIC_EXPRESSIONS:
        raise ValueError(
            f"unknown compound category {name!r}; canonical names are "
            f"{list(BASIC_EXPRESSIONS + COMPOUNDS)}"
        )
    return name


def check_au(au: int | str) -> int:
    """Return the FACS number of ``au`` (``12``, ``"12"`` or ``"AU12"``), or raise ``ValueError``."""
    text = str(au).strip()
    if text.upper().startswith("AU"):
        text = text[2:]
    try:
        number = int(text)
    except ValueError:
        raise ValueError(f"{au!r} is not an AU number (expected e.g. 12, '12' or 'AU12')") from None
    if number not in FACS:
        raise ValueError(f"AU{number} is not in the FACS table (holistic.schema.FACS)")
    return number


def au_name(au: int | str) -> str:
    """FACS name of an AU, e.g. ``au_name(12) == "lip corner puller"``."""
    return FACS[check_au(au)]


def _resolve(kind: str, spec: str | Iterable, named: Mapping[str, tuple], check) -> tuple:
    if isinstance(spec, str):
        if spec not in named:
            raise ValueError(f"unknown {kind} vocabulary {spec!r}; named ones are {sorted(named)}")
        return named[spec]
    items = tuple(check(item) for item in spec)
    if not items:
        raise ValueError(f"the {kind} vocabulary is empty")
    if len(set(items)) != len(items):
        raise ValueError(f"the {kind} vocabulary {list(items)} has duplicates")
    return items


def resolve_expressions(spec: str | Iterable[str]) -> tuple[str, ...]:
    """A named expression vocabulary (``"basic7"``) or an explicit list of canonical names."""
    return _resolve("expression", spec, EXPRESSION_VOCABULARIES, check_expression)


def resolve_aus(spec: str | Iterable[int | str]) -> tuple[int, ...]:
    """A named AU vocabulary (``"fbn17"``) or an explicit list of FACS numbers."""
    return _resolve("AU", spec, AU_VOCABULARIES, check_au)


def resolve_compounds(spec: str | Iterable[str]) -> tuple[str, ...]:
    """A named compound vocabulary (``"rafdb11"``) or an explicit list of category names."""
    return _resolve("compound", spec, COMPOUND_VOCABULARIES, check_compound)


# ---------------------------------------------------------------------------------------------
# Projection onto a run's vocabularies
# ---------------------------------------------------------------------------------------------


def _where(record: Mapping[str, Any]) -> str:
    parts = [
        f"{key}={record[key]!r}" for key in ("dataset", "source_path", "frame") if key in record
    ]
    return f" (record {', '.join(parts)})" if parts else ""


@dataclass(frozen=True)
class LabelSpace:
    """The vocabularies of a run, and the projection of vocabulary-free records onto them.

    Args:
        expressions: expression vocabulary, a name from :data:`EXPRESSION_VOCABULARIES` or a list
            of canonical names. Its order is the order of the expression head.
        aus: AU vocabulary, a name from :data:`AU_VOCABULARIES` or a list of FACS numbers.
        compounds: compound vocabulary (empty for runs without compound labels).

    :meth:`project` turns one record into arrays with masks; a label the record lacks, or an
    expression/compound outside the vocabulary (say ``contempt`` in a 7-class run), is masked out,
    never mapped to a class. Malformed values raise ``ValueError`` naming the record.
    """

    expressions: tuple[str, ...] = EXPRESSION_VOCABULARIES["basic7"]
    aus: tuple[int, ...] = AU_VOCABULARIES["fbn17"]
    compounds: tuple[str, ...] = ()
    _expr_index: dict[str, int] = field(init=False, repr=False, compare=False)
    _au_index: dict[int, int] = field(init=False, repr=False, compare=False)
    _compound_index: dict[str, int] = field(init=False, repr=False, compare=False)
    _au_key_cache: dict[Any, int | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "expressions", resolve_expressions(self.expressions))
        object.__setattr__(self, "aus", resolve_aus(self.aus))
        compounds = resolve_compounds(self.compounds) if self.compounds else ()
        object.__setattr__(self, "compounds", compounds)
        object.__setattr__(self, "_expr_index", {n: i for i, n in enumerate(self.expressions)})
        object.__setattr__(self, "_au_index", {a: i for i, a in enumerate(self.aus)})
        object.__setattr__(self, "_compound_index", {n: i for i, n in enumerate(compounds)})
        object.__setattr__(self, "_au_key_cache", {})

    @property
    def num_expressions(self) -> int:
        return len(self.expressions)

    @property
    def num_aus(self) -> int:
        return len(self.aus)

    @property
    def num_compounds(self) -> int:
        return len(self.compounds)

    def project(self, record: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Project one record onto the vocabularies.

        Returns a dict of numpy arrays: ``va`` float32 [2] + ``va_mask`` bool [];
        ``expr`` int64 [] + ``expr_mask``; ``au`` float32 [A] + ``au_mask`` bool [A];
        ``au_intensity`` float32 [A] + ``au_intensity_mask``; ``compound`` int64 [] +
        ``compound_mask`` (only when the space has compounds). Unlabelled entries hold 0.
        """
        return {key: value[0] for key, value in self.project_arrays([record]).items()}

    def project_batch(self, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Project and stack records into torch tensors (a batch of labels with masks)."""
        import torch

        return {key: torch.from_numpy(v) for key, v in self.project_arrays(records).items()}

    def project_arrays(self, records: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        """Project records into stacked numpy arrays (the keys of :meth:`project`, batched)."""
        n, num_aus = len(records), len(self.aus)
        if n == 0:
            raise ValueError("projection needs at least one record")
        out = {
            "va": np.zeros((n, 2), np.float32),
            "va_mask": np.zeros(n, bool),
            "expr": np.zeros(n, np.int64),
            "expr_mask": np.zeros(n, bool),
            "au": np.zeros((n, num_aus), np.float32),
            "au_mask": np.zeros((n, num_aus), bool),
            "au_intensity": np.zeros((n, num_aus), np.float32),
            "au_intensity_mask": np.zeros((n, num_aus), bool),
        }
        if self.compounds:
            out["compound"] = np.zeros(n, np.int64)
            out["compound_mask"] = np.zeros(n, bool)
        for i, record in enumerate(records):
            self._fill(out, i, record)
        return out

    def _fill(self, out: dict[str, np.ndarray], i: int, record: Mapping[str, Any]) -> None:
        va = record.get("va")
        if va is not None:
            try:
                valence, arousal = (float(v) for v in va)
            except (TypeError, ValueError):
                raise ValueError(
                    f"va must be [valence, arousal], got {va!r}{_where(record)}"
                ) from None
            if not (math.isfinite(valence) and math.isfinite(arousal)):
                raise ValueError(f"va must be finite, got {va!r}{_where(record)}")
            if abs(valence) > 1.0 or abs(arousal) > 1.0:
                raise ValueError(f"va must lie in [-1, 1], got {va!r}{_where(record)}")
            out["va"][i] = (valence, arousal)
            out["va_mask"][i] = True
        self._fill_class(out, "expr", i, record, self._expr_index, check_expression)
        if self.compounds:
            self._fill_class(out, "compound", i, record, self._compound_index, check_compound)
        self._fill_aus(out, "au", i, record, _OCCURRENCE)
        self._fill_aus(out, "au_intensity", i, record, _INTENSITY)

    def _fill_class(self, out, key: str, i: int, record, index, check) -> None:
        name = record.get(key)
        if name is None:
            return
        position = index.get(name)
        if position is None:  # outside the vocabulary (masked) or not a canonical name (error)
            try:
                check(name)
            except ValueError as error:
                raise ValueError(f"{error}{_where(record)}") from None
            return
        out[key][i] = position
        out[f"{key}_mask"][i] = True

    def _fill_aus(self, out, key: str, i: int, record, allowed: frozenset[int]) -> None:
        labels = record.get(key)
        if labels is None:
            return
        if not isinstance(labels, Mapping):
            raise ValueError(
                f"{key} must map FACS numbers to values, got {labels!r}{_where(record)}"
            )
        values, mask = out[key], out[f"{key}_mask"]
        for au, value in labels.items():
            position = self._au_position(au, record)
            if value not in allowed:
                raise ValueError(
                    f"{key}[{au!r}] must be one of {sorted(allowed)}, got {value!r}{_where(record)}"
                )
            if position is not None:
                values[i, position] = value
                mask[i, position] = True

    def _au_position(self, au: int | str, record) -> int | None:
        """Head position of a record's AU key; None when the AU is outside the vocabulary."""
        cache = self._au_key_cache
        if au not in cache:
            try:
                cache[au] = self._au_index.get(check_au(au))
            except ValueError as error:
                raise ValueError(f"{error}{_where(record)}") from None
        return cache[au]


def va_quadrant(va: Any, midpoint: float = 0.0) -> Any:
    """The valence-arousal quadrant Q ∈ {0, 1, 2, 3} of ``va`` [..., 2] (latent_models.md §2.3):
    V ≥ t, A ≥ t → 0; V < t, A ≥ t → 1; V < t, A < t → 2; V ≥ t, A < t → 3, with t the scale
    midpoint (0 on [-1, 1] and on AFEW-VA's [-10, 10]; 0.5 on SEWA's [0, 1]). A value on the
    midpoint counts as high: there is no −1 for exact zeros (the vectorised reference copy).
    The one quadrant function: the latent models derive Q with it and the losses train it.

    Args:
        va: a torch tensor or a numpy array (or anything ``np.asarray`` takes), ``[..., 2]``.

    Returns:
        int64 quadrants ``[...]``: a tensor on the input's device, or a numpy array.
    """
    is_tensor = hasattr(va, "detach") and hasattr(va, "long")
    values = va if is_tensor else np.asarray(va)
    if values.ndim == 0 or values.shape[-1] != 2:
        raise ValueError(f"va must be [..., 2] (valence, arousal), got shape {tuple(values.shape)}")
    high_v = values[..., 0] >= midpoint
    high_a = values[..., 1] >= midpoint
    as_int = (lambda b: b.long()) if is_tensor else (lambda b: b.astype(np.int64))
    v, a = as_int(high_v), as_int(high_a)
    return a * (1 - v) + (1 - a) * (2 + v)  # high A: 0 or 1; low A: 3 or 2
