"""AffectNet (manually annotated part): 8 expressions plus valence/arousal on still photos.

Reads ``training.csv`` (split ``train``) and ``validation.csv`` (split ``validation``) at the
dataset root (any letter case) and checks the images under ``Manually_Annotated_Images/`` (or the
folder given as ``images=``). Each CSV row is
``subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,
arousal``, parsed by position; the header is only checked loosely (reference/datasets.md §4).

Mapping:

- ``expression`` 0-7 -> neutral, happiness, sadness, surprise, fear, disgust, anger, contempt.
  8 (None), 9 (Uncertain) and 10 (No-Face) are not expressions: the expression is absent and a
  ``Reject(INVALID_MARKER, task="expr")`` says why. With ``none_as_other=True`` code 8 becomes
  ``other`` (a project choice: that AffectNet's None is ABAW's Other is unverified). Code 10 rows
  are rejected whole (there is no face to label), whatever their VA.
- ``valence``/``arousal`` floats in [-1, 1]; -2 in either marks "no valid VA" (VA absent,
  ``INVALID_MARKER``), any other value outside [-1, 1] is ``OUT_OF_RANGE``. VA is kept for rows
  whose expression is 8 or 9.
- face: the 68 landmarks (136 ``;``-separated numbers) when they parse, else the box
  ``(face_x, face_y, face_x + face_width, face_y + face_height)``. A malformed landmark field
  falls back to the box; a row with neither is ``MALFORMED_ROW``.

Each row yields one Sample (with the valid labels, plus a task Reject per invalid label) or one
whole-row Reject; the first cause wins in this order: field count, labels, face geometry, image
file. Image files that no CSV row names become ``NO_LABEL`` rejects (only when every available
split is scanned, since the two CSVs share one image folder).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

import numpy as np

from holistic.data.adapters._base import (
    DUPLICATE,
    INVALID_MARKER,
    MALFORMED_ROW,
    MISSING_IMAGE,
    NO_LABEL,
    OUT_OF_RANGE,
    Adapter,
    FaceHint,
    Reject,
    Sample,
    ScanError,
    safe_key,
)
from holistic.data.adapters._files import find_folder, list_images
from holistic.data.adapters._parsing import (
    MalformedLine,
    csv_fields,
    encoding_option,
    normalise_header,
    parse_bool,
    parse_float,
    parse_int,
    read_lines,
    relative,
)

__all__ = ["ADAPTER", "EXPRESSION_CODES", "scan"]

DATASET = "affectnet"

#: AffectNet's expression codes 0-7 -> canonical names (reference/datasets.md §2).
EXPRESSION_CODES: dict[int, str] = {
    0: "neutral",
    1: "happiness",
    2: "sadness",
    3: "surprise",
    4: "fear",
    5: "disgust",
    6: "anger",
    7: "contempt",
}
#: Codes that are not expression labels.
NON_EXPRESSIONS: dict[int, str] = {8: "None", 9: "Uncertain", 10: "No-Face"}
NONE_CODE, NO_FACE_CODE = 8, 10
VA_MARKER = -2.0

#: Canonical split -> label file name (matched case-insensitively at the root), in scan order.
LABEL_FILES: dict[str, str] = {"train": "training.csv", "validation": "validation.csv"}
IMAGE_DIR = "Manually_Annotated_Images"
HEADER = (
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
)
#: Loose names accepted for the three label columns (after ``normalise_header``).
_LABEL_HEADERS = ({"expression", "expr", "emotion", "label"}, {"valence"}, {"arousal"})


def scan(
    root: Path,
    splits: Sequence[str] | None = None,
    *,
    images: str | Path | None = None,
    none_as_other: bool | str = False,
    encoding: str | None = None,
) -> Iterator[Sample | Reject]:
    """Yield a Sample or Reject for every row of AffectNet's CSVs, then every unlabelled image.

    Args:
        root: the AffectNet root holding ``training.csv`` / ``validation.csv``.
        splits: ``"train"``, ``"validation"`` or both (None: every CSV present).
        images: the image folder (default ``ROOT/Manually_Annotated_Images``, any case; a
            relative path is taken from the working directory, else from ROOT).
        none_as_other: map expression code 8 (None) to ``other`` instead of rejecting it;
            ``"true"``/``"false"`` strings are accepted (``--option none_as_other=true``).
        encoding: the CSVs' text encoding when they have no byte-order mark (default UTF-8;
            see ``_parsing.encoding_option``).

    Raises:
        ScanError: no label CSV, an ambiguous or unknown header, no image folder, an unknown
            split name, a ``none_as_other`` that is not a boolean or an unknown ``encoding``
            (raised before the first item is yielded); a line that does not decode.
    """
    root = Path(os.path.abspath(root))
    as_other = parse_bool(none_as_other, "none_as_other", DATASET)
    encoding = encoding_option(encoding, DATASET)
    label_files = _find_label_files(root)
    wanted = _select_splits(label_files, splits)
    for split in wanted:  # every header is checked before the first item is yielded
        _check_header(label_files[split], encoding)
    image_dir = find_folder(root, images, (IMAGE_DIR,), "AffectNet's image folder")
    existing = set(list_images(image_dir, recursive=True))
    labelled: set[str] = set()
    for split in wanted:
        yield from _scan_file(
            root, label_files[split], split, image_dir, existing, labelled, as_other, encoding
        )
    if len(wanted) == len(label_files):
        csv_names = " or ".join(path.name for path in label_files.values())
        for name in sorted(existing - labelled):
            detail = f"image {name} is named by no row of {csv_names}"
            yield Reject(DATASET, "", relative(image_dir / name, root), None, NO_LABEL, detail)


# ---------------------------------------------------------------------------------------------
# The tree
# ---------------------------------------------------------------------------------------------


def _find_label_files(root: Path) -> dict[str, Path]:
    """Split -> CSV path for the label files present at ``root`` (names matched ignoring case)."""
    found: dict[str, Path] = {}
    for split, name in LABEL_FILES.items():
        matches = sorted(p for p in root.iterdir() if p.is_file() and p.name.lower() == name)
        if len(matches) > 1:
            raise ScanError(
                f"{root}: several {name} files differing in case ({[p.name for p in matches]}); "
                "keep one"
            )
        if matches:
            found[split] = matches[0]
    if not found:
        raise ScanError(
            f"{root}: no AffectNet label file; expected {' and/or '.join(LABEL_FILES.values())} "
            "at the root"
        )
    return found


def _select_splits(label_files: dict[str, Path], splits: Sequence[str] | None) -> list[str]:
    if splits is None:
        return list(label_files)
    unknown = [s for s in splits if s not in label_files]
    if unknown:
        raise ScanError(
            f"affectnet: unknown or absent split(s) {unknown}; available: {list(label_files)}"
        )
    return [s for s in label_files if s in splits]


# ---------------------------------------------------------------------------------------------
# One CSV
# ---------------------------------------------------------------------------------------------


def _is_header(fields: list[str], file: Path) -> bool:
    """True for a (loosely) known header, False for a data row; ScanError for anything else."""
    if parse_float(fields[1] if len(fields) > 1 else "") is not None:
        return False  # a headerless copy: the first line is data
    names = normalise_header(fields)
    if len(names) == len(HEADER) and all(
        name in accepted for name, accepted in zip(names[6:], _LABEL_HEADERS, strict=True)
    ):
        return True
    raise ScanError(f"{file}: unknown header {fields}; expected {','.join(HEADER)}")


def _check_header(file: Path, encoding: str | None) -> None:
    for line, text in read_lines(file, encoding):
        _is_header(_header_fields(file, line, text), file)
        return


def _header_fields(file: Path, line: int, text: str) -> list[str]:
    try:
        return csv_fields(text, ",")
    except MalformedLine as error:
        raise ScanError(f"{file} line {line}: {error}; expected {','.join(HEADER)}") from None


def _scan_file(
    root: Path,
    file: Path,
    split: str,
    image_dir: Path,
    existing: set[str],
    labelled: set[str],
    as_other: bool,
    encoding: str | None,
) -> Iterator[Sample | Reject]:
    file_rel = relative(file, root)
    seen: dict[str, int] = {}
    first = True
    for line, text in read_lines(file, encoding):
        if first:
            first = False
            if _is_header(_header_fields(file, line, text), file):
                continue
        try:
            fields = csv_fields(text, ",")
        except MalformedLine as error:
            yield Reject(DATASET, split, file_rel, line, MALFORMED_ROW, str(error))
            continue
        yield from _scan_row(
            fields, root, file_rel, line, split, image_dir, existing, labelled, seen, as_other
        )


def _scan_row(
    fields: list[str],
    root: Path,
    file_rel: str,
    line: int,
    split: str,
    image_dir: Path,
    existing: set[str],
    labelled: set[str],
    seen: dict[str, int],
    as_other: bool,
) -> Iterator[Sample | Reject]:
    def reject(reason: str, detail: str, task: str | None = None, key: str | None = None) -> Reject:
        return Reject(DATASET, split, file_rel, line, reason, detail, task, key)

    if len(fields) != len(HEADER):
        yield reject(MALFORMED_ROW, f"expected {len(HEADER)} fields, found {len(fields)}")
        return
    name = fields[0].replace("\\", "/").lstrip("/")
    if name.startswith("./"):
        name = name[2:]
    if not name:
        yield reject(MALFORMED_ROW, "empty subDirectory_filePath")
        return
    key = safe_key(*PurePosixPath(name).with_suffix("").parts)
    labelled.add(name)  # named by a row: whatever happens to the row, the image is accounted for

    code = parse_int(fields[6])
    expr, expr_problem = _expression(fields[6], code, as_other)
    va, va_problem = _valence_arousal(fields[7], fields[8])
    if code == NO_FACE_CODE:
        detail = "expression 10 is AffectNet's 'No-Face' code: no label of the row is kept"
        yield reject(INVALID_MARKER, detail, key=key)
        return
    if expr is None and va is None:
        problems = [p for p in (expr_problem, va_problem) if p is not None]
        yield reject(problems[0][0], "; ".join(p[1] for p in problems), key=key)
        return

    face = _face(fields[1:6])
    if face is None:
        yield reject(MALFORMED_ROW, f"no face geometry: {_box_problem(fields[1:5])}", key=key)
        return
    if name not in existing:
        yield reject(MISSING_IMAGE, f"no image {relative(image_dir / name, root)}", key=key)
        return
    if key in seen:
        yield reject(DUPLICATE, f"sample {key} is already labelled on line {seen[key]}", key=key)
        return
    seen[key] = line

    labels: dict[str, object] = {}
    if expr is not None:
        labels["expr"] = expr
    if va is not None:
        labels["va"] = va
    image = image_dir / name
    yield Sample(
        dataset=DATASET,
        split=split,
        key=key,
        image=image,
        source_path=relative(image, root),
        labels=labels,
        face=face,
        origin=(file_rel, line),
        extra={"native_expression": code} if code is not None else {},
    )
    if expr_problem is not None:
        yield reject(expr_problem[0], expr_problem[1], task="expr", key=key)
    if va_problem is not None:
        yield reject(va_problem[0], va_problem[1], task="va", key=key)


# ---------------------------------------------------------------------------------------------
# Fields
# ---------------------------------------------------------------------------------------------

Problem = tuple[str, str]  # (reason, detail)


def _expression(text: str, code: int | None, as_other: bool) -> tuple[str | None, Problem | None]:
    if code is None:
        return None, (MALFORMED_ROW, f"expression {text!r} is not an integer code")
    if code in EXPRESSION_CODES:
        return EXPRESSION_CODES[code], None
    if code == NONE_CODE and as_other:
        return "other", None
    if code in NON_EXPRESSIONS:
        return None, (
            INVALID_MARKER,
            f"expression {code} is AffectNet's {NON_EXPRESSIONS[code]!r} code, not an expression",
        )
    return None, (OUT_OF_RANGE, f"expression {code} is outside AffectNet's codes 0-10")


def _valence_arousal(
    valence_text: str, arousal_text: str
) -> tuple[list[float] | None, Problem | None]:
    valence, arousal = parse_float(valence_text), parse_float(arousal_text)
    # The marker is checked before anything else is done with the values (datasets.md §0.5).
    if VA_MARKER in (valence, arousal):
        return None, (
            INVALID_MARKER,
            f"valence {valence_text}, arousal {arousal_text}: -2 is the no-valid-VA marker",
        )
    if valence is None or arousal is None:
        return None, (
            MALFORMED_ROW,
            f"valence {valence_text!r}, arousal {arousal_text!r}: not numbers",
        )
    if not (-1.0 <= valence <= 1.0 and -1.0 <= arousal <= 1.0):
        return None, (
            OUT_OF_RANGE,
            f"valence {valence_text}, arousal {arousal_text}: outside [-1, 1]",
        )
    return [valence, arousal], None


def _landmarks(text: str) -> np.ndarray | None:
    """68 x 2 landmarks from 136 ``;``-separated numbers, or None."""
    numbers = [parse_float(piece) for piece in text.split(";") if piece.strip()]
    if len(numbers) != 136 or any(number is None for number in numbers):
        return None
    return np.asarray(numbers, dtype=np.float64).reshape(68, 2)


def _box(fields: list[str]) -> tuple[float, float, float, float] | None:
    x, y, width, height = (parse_float(field) for field in fields)
    if x is None or y is None or width is None or height is None or width <= 0 or height <= 0:
        return None
    return (x, y, x + width, y + height)


def _box_problem(fields: list[str]) -> str:
    return (
        f"landmarks absent or malformed, and the box (face_x, face_y, face_width, face_height) = "
        f"({', '.join(fields)}) is not 4 numbers with a positive width and height"
    )


def _face(fields: list[str]) -> FaceHint | None:
    """Landmarks when they parse, else the box, else None. ``fields`` = columns 1-5."""
    landmarks = _landmarks(fields[4])
    if landmarks is not None:
        return FaceHint("landmarks", landmarks=landmarks)
    box = _box(fields[:4])
    return FaceHint("box", box=box) if box is not None else None


ADAPTER = Adapter(
    name=DATASET,
    version="1",
    scan=scan,
    description=(
        "AffectNet manually annotated images: training.csv -> train, validation.csv -> "
        "validation; 8 expressions and valence/arousal, face from landmarks or box."
    ),
    conventions={
        "expression": "codes 0-7 -> neutral, happiness, sadness, surprise, fear, disgust, anger, "
        "contempt; 8 None / 9 Uncertain -> expr absent (invalid_marker, task expr)",
        "none_as_other": "option (default false): code 8 None -> 'other'; that AffectNet None "
        "equals ABAW Other is unverified",
        "no_face": "code 10 No-Face -> the whole row is rejected (invalid_marker), VA included",
        "va": "-2 in valence or arousal -> VA absent (invalid_marker, task va); other values "
        "outside [-1, 1] -> out_of_range; VA kept for codes 8 and 9",
        "face": "68 landmarks when the field holds 136 numbers, else the box (x, y, x+w, y+h); "
        "neither -> malformed_row",
        "no_label": "images no CSV row names -> no_label, only when every split present is scanned",
    },
)
