"""A generic label table (source name ``csv``): the way in for users with their own data.

Layout::

    ROOT/
      labels.csv          one row per image (or labels.tsv, tab-separated); option file=NAME
      faces/0001.jpg      image paths in the table are relative to ROOT (or option images=DIR)

Columns are found by header name; case, spaces and underscores do not matter:

====================================  =======================================================
column                                meaning
====================================  =======================================================
``image`` / ``path`` / ``image_path``  the image file (required), relative to ROOT or ``images``
/ ``file``
``valence``, ``arousal``              both or neither; floats in [-1, 1] after dividing by the
                                      option ``va_scale``
``expression`` (or ``expr``)          a canonical name (``happiness``; ``happy``, ``angry``,
                                      ... are accepted), or an integer class index with option
                                      ``expression_classes``
``AU12``, ``AU 12``, ``au_12``, ...   AU occurrence 0/1; empty = unlabelled
``compound``                          a canonical compound name (``happily_surprised``)
``split``                             train / validation / test / a fold name (else option
                                      ``split``)
``subject``, ``video``, ``frame``     provenance (``frame`` an integer)
====================================  =======================================================

An empty cell means "not labelled" and is never a reject. Every other bad cell becomes a reject
that names its task, the column and the value: a non-number or an unknown name ->
``malformed_row``; a number outside its scale -> ``out_of_range``; a negative AU value or a value
listed in option ``markers`` -> ``invalid_marker``. A row keeps its valid labels; a row left with
none is rejected whole (task None; ``no_label`` when all its label cells are empty). A row whose
image is missing -> ``missing_image``; a second row for the same image in the same split ->
``duplicate`` (the first row is kept). A header with no image column, a lone valence/arousal
column, an unknown column (unless ``ignore_unknown=true``) or no label column raises
:class:`ScanError`. Image files that no row names are not looked for.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from holistic.schema import EXPRESSION_VOCABULARIES, EXPRESSIONS, FACS

from ._base import (
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
from ._parsing import (
    EXPRESSION_ALIASES,
    MalformedLine,
    check_dataset_name,
    compound_from_name,
    encoding_option,
    expression_from_name,
    face_option,
    normalise_header,
    option_error,
    option_float,
    option_int,
    option_path,
    parse_bool,
    parse_float,
    parse_int,
    relative,
    split_name,
    split_option,
    text_lines,
    unique_key,
)

# EXPRESSION_ALIASES and expression_from_name live in _parsing (the hf adapter and the Aff-Wild2
# headers use them too); they stay importable from here, where users first met them.
__all__ = ["ADAPTER", "EXPRESSION_ALIASES", "expression_from_name", "scan"]

SOURCE = "csv"

#: Header name (normalised: lower case, no spaces/underscores) -> column role.
ROLES: dict[str, str] = {
    "image": "image",
    "path": "image",
    "imagepath": "image",
    "file": "image",
    "valence": "valence",
    "arousal": "arousal",
    "expression": "expression",
    "expr": "expression",
    "compound": "compound",
    "split": "split",
    "subject": "subject",
    "video": "video",
    "frame": "frame",
}
_AU_HEADER = re.compile(r"^au(\d+)$")
#: Whole-row reject reason when a row has several bad cells: the most severe first.
_SEVERITY = (MALFORMED_ROW, OUT_OF_RANGE, INVALID_MARKER)


@dataclass(frozen=True)
class _Columns:
    """Field index of each role in the header (None = absent); AU number -> field index."""

    n_fields: int
    image: int
    valence: int | None = None
    arousal: int | None = None
    expression: int | None = None
    compound: int | None = None
    split: int | None = None
    subject: int | None = None
    video: int | None = None
    frame: int | None = None
    aus: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Options:
    dataset: str
    split: str
    va_scale: float
    classes: tuple[str, ...] | None
    base: int
    markers: frozenset[float]
    face: FaceHint


@dataclass
class _Problems:
    """The bad cells of one row: (task, reason, detail)."""

    items: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, task: str, reason: str, detail: str) -> None:
        self.items.append((task, reason, detail))


def scan(
    root: Path,
    splits: Sequence[str] | None = None,
    *,
    file: str | None = None,
    images: str | Path | None = None,
    split: str = "train",
    va_scale: float | str = 1.0,
    expression_classes: str | None = None,
    expression_base: int | str = 0,
    markers: str | None = None,
    face: str = "aligned",
    ignore_unknown: bool | str = False,
    name: str = SOURCE,
    encoding: str | None = None,
) -> Iterator[Sample | Reject]:
    """Scan a CSV/TSV label table and yield one :class:`Sample` per valid row.

    Args:
        root: the folder holding the table (and, by default, the images).
        splits: splits to keep; None for all. A split the table (or option ``split``) does not
            have raises :class:`ScanError`.
        file: the table (absolute, or relative to the working directory, else to ``root``: see
            ``_parsing.option_path``); default the single ``*.csv`` / ``*.tsv`` in ``root``.
            ``.tsv`` / ``.tab`` files are tab-separated.
        images: the folder image paths are relative to (default ``root``; found like
            ``file``).
        split: the split of rows without a ``split`` column or with an empty split cell.
        va_scale: native valence/arousal are divided by it (e.g. 10 for [-10, 10]) before the
            [-1, 1] check.
        expression_classes: what integer expression cells mean: a vocabulary name of
            ``holistic.schema.EXPRESSION_VOCABULARIES`` (``basic7``, ``affectnet8``, ...) or a
            comma list of canonical names, in class-index order.
        expression_base: the first class index (0 or 1).
        markers: comma list of numbers meaning "not annotated" (e.g. ``-5,999``), checked
            before any scaling: such a cell -> ``invalid_marker`` for its task.
        face: ``aligned`` (the images are face crops; default) or ``detect``.
        ignore_unknown: ``true`` to skip unknown columns instead of raising.
        name: the dataset name written into samples and rejects (default ``csv``): lowercase
            letters, digits, ``_`` and ``-``. It names the shard files
            (``<name>-<split>-000000.tar``), so several tables can share one federation.
        encoding: the table's text encoding when it has no byte-order mark (default UTF-8;
            see ``_parsing.encoding_option``), e.g. ``latin-1`` or ``cp1252``.

    Raises:
        ScanError: no table or several, an unusable header, a bad option value, or a line
            that does not decode.
    """
    table = _find_table(root, file, encoding_option(encoding, SOURCE))
    options = _Options(
        dataset=check_dataset_name(name, SOURCE),
        split=split_option(split, SOURCE),
        va_scale=option_float(
            va_scale, "va_scale", SOURCE, allowed=lambda x: x > 0, expected="a positive number"
        ),
        classes=_expression_classes(expression_classes),
        base=option_int(
            expression_base,
            "expression_base",
            SOURCE,
            allowed=lambda n: n in (0, 1),
            expected="0 or 1",
        ),
        markers=_markers(markers),
        face=face_option(face, SOURCE),
    )
    header_line, header = table.header()
    columns = _columns(
        table.path, header_line, header, parse_bool(ignore_unknown, "ignore_unknown", SOURCE)
    )
    image_dir = option_path(root, images) if images is not None else root
    if not image_dir.is_dir():
        raise ScanError(f"option images={images!r}: {image_dir} is not a folder")
    wanted = None
    if splits is not None:
        available = _available_splits(table, columns, options.split)
        unknown = sorted(set(splits) - available)
        if unknown:
            raise ScanError(
                f"{table.path.name} has no split {unknown}; available splits are "
                f"{sorted(available)}"
            )
        wanted = set(splits)
    return _scan(root, table, columns, options, image_dir, wanted)


def _scan(
    root: Path,
    table: _Table,
    columns: _Columns,
    options: _Options,
    image_dir: Path,
    wanted: set[str] | None,
) -> Iterator[Sample | Reject]:
    rows = _Rows(root, relative(table.path, root), columns, options, image_dir, wanted)
    for line, fields in table.rows():
        yield from rows.items(line, fields)


class _Rows:
    """Turns table rows into samples and rejects; remembers the images already labelled."""

    def __init__(
        self,
        root: Path,
        file: str,
        columns: _Columns,
        options: _Options,
        image_dir: Path,
        wanted: set[str] | None,
    ) -> None:
        self.root, self.file, self.columns, self.options = root, file, columns, options
        self.image_dir, self.wanted = image_dir, wanted
        self.seen: dict[tuple[str, Path], int] = {}  # (split, image) -> line of its sample
        self.keys: dict[str, set[str]] = {}  # split -> keys in use

    def items(self, line: int, fields: list[str] | MalformedLine) -> Iterator[Sample | Reject]:
        columns, options = self.columns, self.options

        def reject(split: str, reason: str, detail: str, task=None, key=None) -> Reject:
            return Reject(options.dataset, split, self.file, line, reason, detail, task, key)

        if isinstance(fields, MalformedLine):
            yield reject("", MALFORMED_ROW, str(fields))
            return
        if len(fields) != columns.n_fields:
            detail = f"expected {columns.n_fields} fields like the header, found {len(fields)}"
            yield reject("", MALFORMED_ROW, detail)
            return
        split = options.split
        if columns.split is not None and fields[columns.split]:
            split = split_name(fields[columns.split])
            if not split:
                detail = f"split {fields[columns.split]!r} is not a usable split name"
                yield reject("", MALFORMED_ROW, detail)
                return
        if self.wanted is not None and split not in self.wanted:
            return
        image_text = fields[columns.image].replace("\\", "/")
        if not image_text:
            yield reject(split, MALFORMED_ROW, "the image cell is empty")
            return
        frame = None
        if columns.frame is not None and fields[columns.frame]:
            frame = parse_int(fields[columns.frame])
            if frame is None:
                yield reject(
                    split, MALFORMED_ROW, f"frame {fields[columns.frame]!r} is not an integer"
                )
                return
        labels, extra, problems = _labels(fields, columns, options)
        if not labels:
            if not problems.items:
                yield reject(split, NO_LABEL, "every label cell of this row is empty")
            else:
                reason = next(r for r in _SEVERITY if any(p[1] == r for p in problems.items))
                yield reject(
                    split, reason, "no valid label: " + "; ".join(p[2] for p in problems.items)
                )
            return
        image = self.image_dir / image_text
        if not image.is_file():
            yield reject(split, MISSING_IMAGE, f"image {image_text} not found in {self.image_dir}")
            return
        if (split, image) in self.seen:
            detail = (
                f"line {self.seen[split, image]} already labels {image_text} in split {split} "
                "(one row per image; the first row is kept)"
            )
            yield reject(split, DUPLICATE, detail)
            return
        self.seen[split, image] = line
        name = relative(image.with_suffix(""), self.image_dir)
        key = unique_key(safe_key(name), self.keys.setdefault(split, set()))
        yield Sample(
            dataset=options.dataset,
            split=split,
            key=key,
            image=image,
            source_path=relative(image, self.root),
            labels=labels,
            subject=_cell(fields, columns.subject),
            video=_cell(fields, columns.video),
            frame=frame,
            face=options.face,
            origin=(self.file, line),
            extra=extra,
        )
        for task, reason, detail in problems.items:
            yield reject(split, reason, detail, task, key)


# ---------------------------------------------------------------------------------------------
# Cells -> labels
# ---------------------------------------------------------------------------------------------


def _labels(
    fields: list[str], columns: _Columns, options: _Options
) -> tuple[dict, dict, _Problems]:
    labels: dict = {}
    extra: dict = {}
    problems = _Problems()
    if columns.valence is not None and columns.arousal is not None:
        va = _va(fields[columns.valence], fields[columns.arousal], options, problems)
        if va is not None:
            labels["va"] = va
            if options.va_scale != 1.0:
                extra["native_va"] = [
                    float(fields[columns.valence]),
                    float(fields[columns.arousal]),
                ]
    if columns.expression is not None and fields[columns.expression]:
        expr = _expression(fields[columns.expression], options, problems)
        if expr is not None:
            labels["expr"] = expr
            if options.classes is not None:
                extra["native_expression"] = fields[columns.expression]
    if columns.aus:
        au = _aus(fields, columns.aus, options, problems)
        if au:
            labels["au"] = au
    if columns.compound is not None and fields[columns.compound]:
        text = fields[columns.compound]
        compound = compound_from_name(text)
        if compound is None:
            problems.add(
                "compound",
                MALFORMED_ROW,
                f"compound {text!r} is not a canonical compound name (e.g. happily_surprised; "
                "see holistic.schema.COMPOUNDS)",
            )
        else:
            labels["compound"] = compound
    return labels, extra, problems


def _va(valence: str, arousal: str, options: _Options, problems: _Problems) -> list | None:
    if not valence and not arousal:
        return None
    if not valence or not arousal:
        given, empty = ("valence", "arousal") if valence else ("arousal", "valence")
        problems.add("va", MALFORMED_ROW, f"{given} is given but {empty} is empty")
        return None
    values = []
    for name, text in (("valence", valence), ("arousal", arousal)):
        value = parse_float(text)
        if value is None:
            problems.add("va", MALFORMED_ROW, f"{name} {text!r} is not a number")
            return None
        if value in options.markers:
            problems.add("va", INVALID_MARKER, f"{name} {text} is a not-annotated marker")
            return None
        values.append(value / options.va_scale)
    for name, text, value in zip(("valence", "arousal"), (valence, arousal), values, strict=True):
        if not -1.0 <= value <= 1.0:
            scaled = f" ({text} / {options.va_scale:g})" if options.va_scale != 1.0 else ""
            problems.add("va", OUT_OF_RANGE, f"{name} {value:g}{scaled} is outside [-1, 1]")
            return None
    return values


def _expression(text: str, options: _Options, problems: _Problems) -> str | None:
    name = expression_from_name(text)
    if name is not None:
        return name
    number = parse_float(text)
    if number is None:
        problems.add(
            "expr",
            MALFORMED_ROW,
            f"expression {text!r} is not an expression name (canonical names: "
            f"{', '.join(EXPRESSIONS)}) nor a class index",
        )
        return None
    if number in options.markers:
        problems.add("expr", INVALID_MARKER, f"expression {text} is a not-annotated marker")
        return None
    if options.classes is None:
        problems.add(
            "expr",
            MALFORMED_ROW,
            f"expression {text!r} is a class index; pass expression_classes=basic7 (a name from "
            "EXPRESSION_VOCABULARIES) or a comma list of names to say what the indices mean",
        )
        return None
    index = parse_int(text)
    first, last = options.base, options.base + len(options.classes) - 1
    if index is None or not first <= index <= last:
        problems.add(
            "expr",
            OUT_OF_RANGE,
            f"expression {text} is outside the class indices {first}-{last} of expression_classes",
        )
        return None
    return options.classes[index - options.base]


def _aus(
    fields: list[str], aus: dict[int, int], options: _Options, problems: _Problems
) -> dict[str, int]:
    valid: dict[str, int] = {}
    bad: dict[str, list[str]] = {}
    for au, index in aus.items():
        text = fields[index]
        if not text:
            continue
        value = parse_float(text)
        if value is None:
            reason = MALFORMED_ROW
        elif value in options.markers or value < 0:
            reason = INVALID_MARKER
        elif value in (0.0, 1.0):
            valid[str(au)] = int(value)
            continue
        else:
            reason = OUT_OF_RANGE
        bad.setdefault(reason, []).append(f"AU{au}={text}")
    what = {
        MALFORMED_ROW: "not numbers",
        INVALID_MARKER: "not-annotated markers (negative or listed in markers)",
        OUT_OF_RANGE: "outside {0, 1}",
    }
    for reason in _SEVERITY:
        if reason in bad:
            problems.add("au", reason, f"AU values {what[reason]}: {', '.join(bad[reason])}")
    return valid


def _cell(fields: list[str], index: int | None) -> str | None:
    return (fields[index] or None) if index is not None else None


# ---------------------------------------------------------------------------------------------
# The table and its header
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """The label table: its file, delimiter (tab for ``.tsv``/``.tab``, else comma) and the
    text encoding of a file without a byte-order mark (None: UTF-8)."""

    path: Path
    encoding: str | None

    @property
    def delimiter(self) -> str:
        return "\t" if self.path.suffix.lower() in (".tsv", ".tab") else ","

    def _records(self) -> Iterator[tuple[int, list[str] | MalformedLine]]:
        """(last line, stripped fields) of every non-blank record, the header included; a
        record the csv module cannot split (a field over its size limit) is a
        :class:`MalformedLine` in place of its fields, and reading goes on at the next line.

        Raises:
            ScanError: a line that does not decode.
        """
        reader = csv.reader(text_lines(self.path, self.encoding), delimiter=self.delimiter)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield (
                    reader.line_num,
                    MalformedLine(f"the line cannot be split into fields ({error})"),
                )
                continue
            fields = [f.strip() for f in row]
            if any(fields):
                yield reader.line_num, fields

    def header(self) -> tuple[int, list[str]]:
        """(line, fields) of the header row, quotes around names removed.

        Raises:
            ScanError: the table is empty, or its header cannot be split (naming the line).
        """
        for line, fields in self._records():
            if isinstance(fields, MalformedLine):
                raise ScanError(f"{self.path} line {line}: {fields}")
            return line, [f.strip("'\"") for f in fields]
        raise ScanError(
            f"{self.path}: the table is empty; expected a header row (image, labels...)"
        )

    def rows(self) -> Iterator[tuple[int, list[str] | MalformedLine]]:
        """(line, stripped fields) of every non-blank row after the header; a row the csv
        module cannot split is a :class:`MalformedLine` (a ``malformed_row`` reject)."""
        records = self._records()
        next(records, None)
        yield from records


def _find_table(root: Path, file: str | None, encoding: str | None) -> _Table:
    if file is not None:
        path = option_path(root, file)
        if not path.is_file():
            raise ScanError(f"option file={file!r}: {path} is not a file")
        return _Table(path, encoding)
    found = sorted(
        p for p in root.iterdir() if p.is_file() and p.suffix.lower() in (".csv", ".tsv")
    )
    if not found:
        raise ScanError(f"{root}: no *.csv or *.tsv label table; put one there or pass file=NAME")
    if len(found) > 1:
        raise ScanError(
            f"{root}: several label tables {[p.name for p in found]}; choose one with file=NAME"
        )
    return _Table(found[0], encoding)


def _columns(table: Path, line: int, header: list[str], ignore_unknown: bool) -> _Columns:
    where = f"{table.name} line {line}"
    found: dict[str, int] = {}
    aus: dict[int, int] = {}
    unknown: list[str] = []
    for index, (text, name) in enumerate(zip(header, normalise_header(header), strict=True)):
        match = _AU_HEADER.match(name)
        if match:
            au = int(match.group(1))
            if au not in FACS:
                raise ScanError(f"{where}: column {text!r}: AU{au} is not in the FACS table")
            if au in aus:
                raise ScanError(f"{where}: AU{au} has two columns")
            aus[au] = index
        elif name in ROLES:
            role = ROLES[name]
            if role in found:
                raise ScanError(
                    f"{where}: columns {header[found[role]]!r} and {text!r} both give the {role}"
                )
            found[role] = index
        else:
            unknown.append(text)
    if unknown and not ignore_unknown:
        raise ScanError(
            f"{where}: unknown columns {unknown}; known columns are image (or path, image_path, "
            "file), valence, arousal, expression, AU<n>, compound, split, subject, video, "
            "frame. Rename them, or pass ignore_unknown=true to skip them"
        )
    if "image" not in found:
        raise ScanError(
            f"{where}: no image column; expected one named image, path, image_path or file "
            f"(found {header})"
        )
    if ("valence" in found) != ("arousal" in found):
        given = "valence" if "valence" in found else "arousal"
        raise ScanError(f"{where}: a {given} column needs its partner (valence and arousal)")
    if not aus and not {"valence", "expression", "compound"} & set(found):
        raise ScanError(
            f"{where}: no label column; expected valence+arousal, expression, AU<n> or compound"
        )
    return _Columns(n_fields=len(header), aus=dict(sorted(aus.items())), **found)


def _available_splits(table: _Table, columns: _Columns, default: str) -> set[str]:
    if columns.split is None:
        return {default}
    available = set()
    for _, fields in table.rows():
        if not isinstance(fields, MalformedLine) and len(fields) == columns.n_fields:
            available.add(split_name(fields[columns.split]) if fields[columns.split] else default)
    available.discard("")
    return available


# ---------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------


def _expression_classes(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if value in EXPRESSION_VOCABULARIES:
        return EXPRESSION_VOCABULARIES[value]
    names = [part.strip() for part in value.split(",")]
    canonical = [expression_from_name(name) for name in names]
    bad = [name for name, c in zip(names, canonical, strict=True) if c is None]
    if bad or len(set(canonical)) != len(canonical):
        raise ScanError(
            f"option expression_classes={value!r}: expected a vocabulary name "
            f"{sorted(EXPRESSION_VOCABULARIES)} or a comma list of distinct expression names "
            f"({', '.join(EXPRESSIONS)}); unknown: {bad}"
        )
    return tuple(c for c in canonical if c is not None)


def _markers(value: str | None) -> frozenset[float]:
    if value is None:
        return frozenset()
    numbers = [parse_float(part) for part in str(value).split(",")]
    if any(number is None for number in numbers):
        raise option_error(SOURCE, "markers", value, "a comma list of numbers")
    return frozenset(n for n in numbers if n is not None)


ADAPTER = Adapter(
    name="csv",
    version="1",
    scan=scan,
    description="A generic CSV/TSV label table: image path + any of VA, expression, AUs, compound",
    conventions={
        "columns": "by header name, case/spaces/underscores ignored; unknown columns are errors",
        "empty": "an empty cell is unlabelled, never a reject",
        "va": "both or neither; divided by va_scale, then must lie in [-1, 1]",
        "au": "0/1; negative = not annotated (invalid_marker)",
        "duplicates": "one row per image and split; later rows are rejected",
    },
)
