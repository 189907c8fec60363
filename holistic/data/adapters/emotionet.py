"""EmotioNet AU occurrence labels (challenge track 1) on images the user downloaded.

Native layout (reference/datasets.md §6)::

    ROOT/
      labels/                    every *.txt / *.csv under it is a label file (or option labels)
        dataFile_1001.txt        challenge format: URL <tab> field <tab> 60 AU values
        emotionet_train.csv      CSV format: URL column, then columns "AU 1", "AU 2", ...
      images/                    the downloaded images, named by the URL's basename
        N_0000000001_00001.jpg   (or any layout, given option url_map)

Two label formats, told apart by the first line of each file:

- **challenge** (no header; tab-separated, else whitespace-separated): the image URL, one more
  field (kept as ``extra["field2"]``), then AU values where value *k* (1-based) is AU *k*. The
  first row fixes the file's field count; positions whose number is not in the FACS table
  (3, 40, 47-50, 59, 60) are not AUs and are not read.
- **CSV** (a header whose fields after the first are ``AU 1``, ``AU_1``, ``'AU 1'``, ... ; comma-
  or tab-separated): the first column is the URL whatever its name.

Values: ``1`` present, ``0`` absent, ``999`` (and ``-1``, the Kollias re-partition's code) not
annotated. An AU is read from a file only when at least one row of that file gives it 0 or 1 (the
file is read twice: once to find these *labelled* AUs, once to emit), so the many AU positions the
challenge files never annotate produce neither labels nor rejects. In a labelled AU, a row's
not-annotated marker leaves that AU absent and yields one ``invalid_marker`` reject (task ``au``)
per row listing the AUs; other values give ``out_of_range`` / ``malformed_row`` rejects the same
way. A row left with no valid AU is rejected whole (task None) and gives no sample.

Images are URLs. Without ``url_map`` a URL maps to ``ROOT/images/<basename of the URL path>``
(option ``images`` names another folder); with ``url_map`` (a two-column table: URL, image path
relative to ``ROOT``) the table decides. A row whose image is not on disk -> ``missing_image``;
a second row for an image already labelled -> ``duplicate`` (the first row is kept); an image
file (or a url_map row) that no label row names -> ``no_label``. (The image lookup is shared with
track 2: ``_files.url_images``.)

Track 2 (6 basic + 10 compound expression categories) is read by the ``emotionet-compound``
adapter (:mod:`holistic.data.adapters.emotionet_compound`), not by this one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from holistic.schema import FACS

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
)
from ._files import UrlImages, find_label_files, load_url_map, url_images
from ._parsing import (
    MalformedLine,
    csv_fields,
    encoding_option,
    normalise_header,
    parse_bool,
    parse_int,
    read_lines,
    relative,
    single_split,
)

__all__ = ["ADAPTER", "CHALLENGE_AUS", "scan"]

#: The 11 AUs of the EmotioNet challenge (track 1).
CHALLENGE_AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 9, 12, 17, 20, 25, 26)
#: Values meaning "not annotated": 999 (challenge files), -1 (Kollias re-partition).
MARKERS: frozenset[int] = frozenset({999, -1})
_AU_HEADER = re.compile(r"^au(\d+)$")
#: Whole-row reject reason when several kinds of bad value occur: the most severe first.
_SEVERITY = (MALFORMED_ROW, OUT_OF_RANGE, INVALID_MARKER)


@dataclass(frozen=True)
class _Layout:
    """How to read one label file."""

    kind: str  # "challenge" or "csv"
    delimiter: str | None  # None = any whitespace
    n_fields: int
    columns: dict[int, int]  # field index -> AU number
    first_data_line: int  # rows before it (the header) are skipped
    encoding: str | None  # of a file without a byte-order mark (None: UTF-8)


def scan(
    root: Path,
    splits: Sequence[str] | None = None,
    *,
    labels: str | None = None,
    url_map: str | None = None,
    images: str | Path | None = None,
    split: str = "train",
    aligned: bool | str = False,
    encoding: str | None = None,
) -> Iterator[Sample | Reject]:
    """Scan EmotioNet AU label files and yield one :class:`Sample` per labelled image on disk.

    Args:
        root: the EmotioNet folder (``labels/`` and ``images/`` under it by default).
        splits: None, or a list that must contain only ``split``.
        labels: a label file, a folder or a glob (absolute, or relative to the working
            directory, else to ``root``: see ``_parsing.option_path``); default every ``*.txt``
            / ``*.csv`` under ``root/labels/``.
        url_map: a CSV/TSV of ``url, path`` rows (path relative to ``root``; an optional header
            row starting with ``url``) mapping image URLs to local files. The table itself is
            found like ``images``.
        images: the folder holding images named by URL basename (default ``root/images``;
            found like ``labels``); unused with ``url_map``.
        split: the split every row goes to (default ``"train"``; run once per split file).
        aligned: ``true`` when the local images are already aligned face crops (face hint
            ``aligned``); default ``detect`` (EmotioNet images are raw photos).
        encoding: the label files' and url_map's text encoding when they have no byte-order
            mark (default UTF-8; see ``_parsing.encoding_option``).

    Raises:
        ScanError: no label file, an unreadable header, a bad url_map, no image folder, an
            unknown split, a bad option value or a line that does not decode.
    """
    split_name = single_split(split, splits, "emotionet")
    face = FaceHint("aligned" if parse_bool(aligned, "aligned", "emotionet") else "detect")
    encoding = encoding_option(encoding, "emotionet")
    mapping = load_url_map(root, url_map, encoding) if url_map is not None else None
    files = find_label_files(
        root, labels, (".txt", ".csv"), "EmotioNet label", mapping.path if mapping else None
    )
    layouts = [_layout(path, encoding) for path in files]
    resolver = url_images("emotionet", root, images, mapping)
    if splits is not None and split_name not in splits:
        return iter(())  # an empty selection
    return _scan(root, split_name, face, files, layouts, resolver)


def _scan(
    root: Path,
    split: str,
    face: FaceHint,
    files: list[Path],
    layouts: list[_Layout],
    resolver: UrlImages,
) -> Iterator[Sample | Reject]:
    rows = _Rows(root, split, face, resolver)
    for path, layout in zip(files, layouts, strict=True):
        columns = _labelled_columns(path, layout)
        file_rel = relative(path, root)
        for line, fields in _data_rows(path, layout):
            yield from rows.items(file_rel, line, fields, layout, columns)
    yield from resolver.unclaimed(split)


class _Rows:
    """Turns label rows into samples and rejects (the resolver remembers labelled images)."""

    def __init__(self, root: Path, split: str, face: FaceHint, resolver: UrlImages) -> None:
        self.root, self.split, self.face, self.resolver = root, split, face, resolver

    def items(
        self,
        file: str,
        line: int,
        fields: list[str] | MalformedLine,
        layout: _Layout,
        columns: dict[int, int],
    ) -> Iterator[Sample | Reject]:
        def reject(reason: str, detail: str, task: str | None = None, key: str | None = None):
            return Reject("emotionet", self.split, file, line, reason, detail, task, key)

        if isinstance(fields, MalformedLine):
            yield reject(MALFORMED_ROW, str(fields))
            return

        url = fields[0] if fields else ""
        # Resolve first, so that an image whose only row is rejected is not also "no label".
        image, why = self.resolver.resolve(url) if url else (None, "")
        if len(fields) != layout.n_fields:
            yield reject(
                MALFORMED_ROW,
                f"expected {layout.n_fields} fields like the file's first row, found {len(fields)}",
            )
            return
        if not url:
            yield reject(MALFORMED_ROW, "the image URL (first field) is empty")
            return
        if not columns:
            yield reject(NO_LABEL, "no row of this file gives any AU the value 0 or 1")
            return
        au, problems = _parse_aus(fields, columns)
        if not au:
            reason = next(r for r in _SEVERITY if r in problems)
            yield reject(reason, "no AU of this row is labelled: " + _describe(problems))
            return
        if image is None:
            yield reject(MISSING_IMAGE, why)
            return
        key, duplicate = self.resolver.label(image, url, file, line)
        if key is None:
            yield reject(DUPLICATE, duplicate)
            return
        extra = {"url": url}
        if layout.kind == "challenge":
            extra["field2"] = fields[1]
        yield Sample(
            dataset="emotionet",
            split=self.split,
            key=key,
            image=image,
            source_path=relative(image, self.root),
            labels={"au": au},
            face=self.face,
            origin=(file, line),
            extra=extra,
        )
        for reason in _SEVERITY:
            if reason in problems:
                detail = _describe({reason: problems[reason]}) + "; the row's other AUs are kept"
                yield reject(reason, detail, "au", key)


# ---------------------------------------------------------------------------------------------
# Label files
# ---------------------------------------------------------------------------------------------


def _layout(path: Path, encoding: str | None) -> _Layout:
    """Tell the challenge format from the CSV format by the file's first line."""
    first = next(read_lines(path, encoding), None)
    if first is None:
        raise ScanError(f"{path}: the label file is empty")
    number, text = first
    delimiter = "\t" if "\t" in text else ("," if "," in text else None)
    try:
        fields = csv_fields(text, delimiter)
    except MalformedLine as error:
        raise ScanError(f"{path} line {number}: {error}") from None
    names = normalise_header([field.strip("'\"") for field in fields])
    if any(_AU_HEADER.match(name) for name in names[1:]):
        columns: dict[int, int] = {}
        bad = []
        for index, (field, name) in enumerate(zip(fields, names, strict=True)):
            if index == 0:
                continue
            match = _AU_HEADER.match(name)
            au = int(match.group(1)) if match else None
            if au is None or au not in FACS or au in columns.values():
                bad.append(field)
            else:
                columns[index] = au
        if bad:
            raise ScanError(
                f"{path} line {number}: header fields {bad} are not (distinct) FACS AU columns; "
                "expected the URL column, then columns named like 'AU 1', 'AU 2', ..."
            )
        return _Layout("csv", delimiter, len(fields), columns, number + 1, encoding)
    if delimiter == ",":
        delimiter = None  # a challenge row has no commas outside its URL
        fields = csv_fields(text, delimiter)
    if len(fields) < 3:
        raise ScanError(
            f"{path} line {number}: expected a header (URL, 'AU 1', 'AU 2', ...) or a challenge "
            f"row (URL, a second field, then AU values); found {len(fields)} fields"
        )
    columns = {k + 1: k for k in range(1, len(fields) - 1) if k in FACS}
    return _Layout("challenge", delimiter, len(fields), columns, number, encoding)


def _data_rows(path: Path, layout: _Layout) -> Iterator[tuple[int, list[str] | MalformedLine]]:
    """(line, fields) of every data row; the error instead of the fields for a line the csv
    module cannot split (it becomes a ``malformed_row`` reject)."""
    for number, text in read_lines(path, layout.encoding):
        if number >= layout.first_data_line:
            try:
                yield number, csv_fields(text, layout.delimiter)
            except MalformedLine as error:
                yield number, error


def _labelled_columns(path: Path, layout: _Layout) -> dict[int, int]:
    """The AU columns in which at least one row of the file says 0 or 1 (first pass)."""
    pending = dict(layout.columns)
    labelled: dict[int, int] = {}
    for _, fields in _data_rows(path, layout):
        if isinstance(fields, MalformedLine) or len(fields) != layout.n_fields:
            continue
        for index in [i for i in pending if _is_label(fields[i])]:
            labelled[index] = pending.pop(index)
        if not pending:
            break
    return dict(sorted(labelled.items(), key=lambda item: item[1]))


def _is_label(raw: str) -> bool:
    """0 or 1 (the common strings are compared before parsing: the first pass is hot)."""
    if raw in ("0", "1"):
        return True
    return raw not in ("999", "-1") and parse_int(raw) in (0, 1)


def _parse_aus(
    fields: list[str], columns: dict[int, int]
) -> tuple[dict[str, int], dict[str, list[tuple[int, str]]]]:
    """Valid AUs of a row, and the bad ones grouped by reject reason."""
    au: dict[str, int] = {}
    problems: dict[str, list[tuple[int, str]]] = {}
    for index, number in columns.items():
        raw = fields[index]
        value = parse_int(raw)
        if value in (0, 1):
            au[str(number)] = value
            continue
        if value is None:
            reason = MALFORMED_ROW
        elif value in MARKERS:
            reason = INVALID_MARKER
        else:
            reason = OUT_OF_RANGE
        problems.setdefault(reason, []).append((number, raw))
    return au, problems


def _describe(problems: dict[str, list[tuple[int, str]]]) -> str:
    what = {
        INVALID_MARKER: "not annotated (999 / -1)",
        OUT_OF_RANGE: "outside {0, 1}",
        MALFORMED_ROW: "not a number",
    }
    parts = []
    for reason in _SEVERITY:
        if reason in problems:
            show = repr if reason == MALFORMED_ROW else str
            values = ", ".join(f"AU{au}={show(raw)}" for au, raw in problems[reason])
            parts.append(f"{what[reason]}: {values}")
    return "; ".join(parts)


ADAPTER = Adapter(
    name="emotionet",
    version="1",
    scan=scan,
    description="EmotioNet AU occurrence (challenge track 1) on downloaded in-the-wild photos",
    conventions={
        "aus": "per file, every AU with at least one 0/1 value (challenge: AU k = value k)",
        "markers": "999 and -1 = not annotated: that AU absent, one invalid_marker reject per row",
        "images": "URL basename in ROOT/images/, or the user's url_map",
        "face": "detect (raw photos) unless aligned=true",
        "duplicates": "a second row for the same image is rejected; the first is kept",
        "track2": "expression / compound categories are read by emotionet-compound",
    },
)
