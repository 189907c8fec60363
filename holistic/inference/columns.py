"""The columns of a prediction table (``holistic predict``, :class:`~holistic.inference.Predictor`).

One row per face per frame; a frame (or image) without a face, or one that could not be read,
is one row with empty predictions, never a gap. The columns, in this order:

==================  ==========================================================================
column              meaning
==================  ==========================================================================
input               the path (or name) of the image or video the row comes from
frame               0-based frame index in a video (every frame counts, also the skipped ones
                    of ``--every``); 0 for an image
time                seconds from the video's start (frame / fps); NaN for an image
face_id             the face's track in its input (0, 1, ... by first appearance); <NA> when
                    the row has no face
box_x0 ... box_y1   the face box in the frame's pixels (x1, y1 exclusive); NaN without a face
score               the detector's score; NaN for ``--aligned`` inputs and rows without a face
lm_x0 ... lm_y4     (``landmarks=True``) the 5 alignment points (eyes, nose tip, mouth
                    corners) in the frame's pixels
valence, arousal    in [-1, 1] (models with a VA head)
expr_<name>         the probability of each expression of the model, e.g. ``expr_happiness``
expression          the most probable expression's name
AU01, AU02, ...     the probability of each action unit, two-digit FACS numbers
AU01_c, ...         its occurrence (0 / 1): the probability at or above the AU's threshold
                    (the model's, chosen on validation data; 0.5 when it has none)
compound_<name>     the probability of each compound expression (models with a compound head)
compound            the most probable compound's name
error               why the row has no predictions ("" when it has them): "no face",
                    "unreadable image: ...", "video ends early: ...", ...
==================  ==========================================================================

Prediction columns appear only for the tasks the model has; their order follows the model's
vocabularies (``model.tasks``), so two tables of the same model have the same columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "BOX_COLUMNS",
    "ID_COLUMNS",
    "au_column",
    "au_numbers",
    "compound_column",
    "compound_names",
    "expression_column",
    "expression_names",
    "landmark_columns",
    "occurrence_column",
    "prediction_columns",
    "table_columns",
]

#: The face box, in the frame's pixels.
BOX_COLUMNS: tuple[str, ...] = ("box_x0", "box_y0", "box_x1", "box_y1")
#: The columns every table starts with.
ID_COLUMNS: tuple[str, ...] = ("input", "frame", "time", "face_id", *BOX_COLUMNS, "score")
#: Points of the 5-point alignment in ``landmark_columns``.
LANDMARK_POINTS = 5

_EXPRESSION = "expr_"
_COMPOUND = "compound_"


def au_column(au: int) -> str:
    """``AU01`` for action unit 1 (two digits, as OpenFace and the ABAW files name them)."""
    return f"AU{int(au):02d}"


def occurrence_column(au: int) -> str:
    """``AU01_c``: the thresholded occurrence of action unit 1."""
    return f"{au_column(au)}_c"


def expression_column(name: str) -> str:
    """``expr_happiness``: the probability of an expression."""
    return f"{_EXPRESSION}{name}"


def compound_column(name: str) -> str:
    """``compound_happily_surprised``: the probability of a compound expression."""
    return f"{_COMPOUND}{name}"


def landmark_columns() -> list[str]:
    """``lm_x0, lm_y0, ..., lm_x4, lm_y4``: the 5 alignment points."""
    return [f"lm_{axis}{i}" for i in range(LANDMARK_POINTS) for axis in "xy"]


def prediction_columns(tasks: Mapping[str, Sequence]) -> list[str]:
    """The prediction columns of a model with ``tasks`` (``model.tasks``), in table order."""
    columns: list[str] = []
    if "va" in tasks:
        columns += ["valence", "arousal"]
    if "expr" in tasks:
        columns += [expression_column(name) for name in tasks["expr"]] + ["expression"]
    if "au" in tasks:
        columns += [au_column(au) for au in tasks["au"]]
        columns += [occurrence_column(au) for au in tasks["au"]]
    if "compound" in tasks:
        columns += [compound_column(name) for name in tasks["compound"]] + ["compound"]
    return columns


def table_columns(tasks: Mapping[str, Sequence], *, landmarks: bool = False) -> list[str]:
    """Every column of a prediction table of a model with ``tasks``, in order."""
    return [
        *ID_COLUMNS,
        *(landmark_columns() if landmarks else []),
        *prediction_columns(tasks),
        "error",
    ]


def expression_names(columns: Sequence[str]) -> list[str]:
    """The expressions a table has probabilities for, in column order."""
    return [c.removeprefix(_EXPRESSION) for c in columns if c.startswith(_EXPRESSION)]


def compound_names(columns: Sequence[str]) -> list[str]:
    """The compound expressions a table has probabilities for, in column order."""
    return [c.removeprefix(_COMPOUND) for c in columns if c.startswith(_COMPOUND)]


def au_numbers(columns: Sequence[str]) -> list[int]:
    """The action units a table has probabilities for (``AU01`` -> 1), in column order."""
    return [int(c[2:]) for c in columns if c.startswith("AU") and c[2:].isdigit()]
