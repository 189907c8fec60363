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
file (or a url_map row) that no label row names -> ``no_label``. Track 2 (basic and compound
expression categories) is not read.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

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
    safe_key,
)
from ._files import list_images
from ._parsing import (
    normalise_header,
    option_glob,
    option_path,
    parse_bool,
    parse_int,
    read_lines,
    relative,
    split_option,
    unique_key,
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


def scan(
    root: Path,
    splits: Sequence[str] | None = None,
    *,
    labels: str | None = None,
    url_map: str | None = None,
    images: str | Path | None = None,
    split: str = "train",
    aligned: bool | str = False,
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

    Raises:
        ScanError: no label file, an unreadable header, a bad url_map, no image folder, an
            unknown split or a bad option value.
    """
    split_name = _check_split(split, splits)
    face = FaceHint("aligned" if parse_bool(aligned, "aligned", "emotionet") else "detect")
    mapping = _load_url_map(root, url_map) if url_map is not None else None
    files = _label_files(root, labels, mapping)
    layouts = [_layout(path) for path in files]
    if mapping is None:
        image_dir = option_path(root, images) if images is not None else root / "images"
        if not image_dir.is_dir():
            raise ScanError(
                f"{image_dir}: image folder not found; expected the downloaded images named by "
                "their URL's basename there, or options images=DIR or url_map=FILE"
            )
        resolver = _BasenameImages(image_dir, list_images(image_dir))
    else:
        resolver = _MappedImages(root, mapping)
    if splits is not None and split_name not in splits:
        return iter(())  # an empty selection
    return _scan(root, split_name, face, files, layouts, resolver)


def _scan(
    root: Path,
    split: str,
    face: FaceHint,
    files: list[Path],
    layouts: list[_Layout],
    resolver: _BasenameImages | _MappedImages,
) -> Iterator[Sample | Reject]:
    rows = _Rows(root, split, face, resolver)
    for path, layout in zip(files, layouts, strict=True):
        columns = _labelled_columns(path, layout)
        file_rel = relative(path, root)
        for line, fields in _data_rows(path, layout):
            yield from rows.items(file_rel, line, fields, layout, columns)
    yield from resolver.unclaimed(root, split)


class _Rows:
    """Turns label rows into samples and rejects; remembers images already labelled."""

    def __init__(
        self, root: Path, split: str, face: FaceHint, resolver: _BasenameImages | _MappedImages
    ) -> None:
        self.root, self.split, self.face, self.resolver = root, split, face, resolver
        self.seen: dict[Path, tuple[str, int]] = {}  # image -> (label file, line) of its sample
        self.keys: set[str] = set()

    def items(
        self, file: str, line: int, fields: list[str], layout: _Layout, columns: dict[int, int]
    ) -> Iterator[Sample | Reject]:
        def reject(reason: str, detail: str, task: str | None = None, key: str | None = None):
            return Reject("emotionet", self.split, file, line, reason, detail, task, key)

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
        if image in self.seen:
            first_file, first_line = self.seen[image]
            yield reject(
                DUPLICATE,
                f"{url} names the image {relative(image, self.root)} that {first_file} line "
                f"{first_line} already labelled (the first row is kept)",
            )
            return
        self.seen[image] = (file, line)
        key = unique_key(safe_key(self.resolver.key_of(image)), self.keys)
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


def _label_files(root: Path, labels: str | None, mapping: _UrlMap | None) -> list[Path]:
    if labels is None:
        folder = root / "labels"
        if not folder.is_dir():
            raise ScanError(
                f"{folder}: expected a labels/ folder holding EmotioNet's *.txt / *.csv label "
                "files, or option labels=FILE_OR_GLOB"
            )
        found = [
            p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in (".txt", ".csv")
        ]
    else:
        target = option_path(root, labels)
        if target.is_dir():
            found = [p for p in target.iterdir() if p.suffix.lower() in (".txt", ".csv")]
        elif target.is_file():
            found = [target]
        else:
            found = option_glob(root, labels)
    if mapping is not None:
        found = [p for p in found if p.resolve() != mapping.path.resolve()]
    if not found:
        where = root / "labels" if labels is None else labels
        raise ScanError(f"{where}: no EmotioNet label file (*.txt or *.csv) found")
    return sorted(found)


def _layout(path: Path) -> _Layout:
    """Tell the challenge format from the CSV format by the file's first line."""
    first = next(read_lines(path), None)
    if first is None:
        raise ScanError(f"{path}: the label file is empty")
    number, text = first
    delimiter = "\t" if "\t" in text else ("," if "," in text else None)
    fields = _fields(text, delimiter)
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
        return _Layout("csv", delimiter, len(fields), columns, number + 1)
    if delimiter == ",":
        delimiter = None  # a challenge row has no commas outside its URL
        fields = _fields(text, delimiter)
    if len(fields) < 3:
        raise ScanError(
            f"{path} line {number}: expected a header (URL, 'AU 1', 'AU 2', ...) or a challenge "
            f"row (URL, a second field, then AU values); found {len(fields)} fields"
        )
    columns = {k + 1: k for k in range(1, len(fields) - 1) if k in FACS}
    return _Layout("challenge", delimiter, len(fields), columns, number)


def _fields(text: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return text.split()
    return [field.strip() for field in next(csv.reader([text.rstrip()], delimiter=delimiter))]


def _data_rows(path: Path, layout: _Layout) -> Iterator[tuple[int, list[str]]]:
    for number, text in read_lines(path):
        if number >= layout.first_data_line:
            yield number, _fields(text, layout.delimiter)


def _labelled_columns(path: Path, layout: _Layout) -> dict[int, int]:
    """The AU columns in which at least one row of the file says 0 or 1 (first pass)."""
    pending = dict(layout.columns)
    labelled: dict[int, int] = {}
    for _, fields in _data_rows(path, layout):
        if len(fields) != layout.n_fields:
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


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _UrlMap:
    path: Path
    rows: dict[str, tuple[str, int]]  # url -> (path relative to root, line)


def _load_url_map(root: Path, url_map: str) -> _UrlMap:
    path = option_path(root, url_map)
    if not path.is_file():
        raise ScanError(f"{path}: url_map file not found; expected rows 'url,path'")
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    rows: dict[str, tuple[str, int]] = {}
    for number, text in read_lines(path):
        fields = _fields(text, "\t" if "\t" in text else delimiter)
        if not rows and normalise_header(fields[:1]) in (["url"], ["imageurl"]):
            continue  # header
        if len(fields) != 2 or not fields[0] or not fields[1]:
            raise ScanError(
                f"{path} line {number}: expected two fields 'url,path' (path relative to "
                f"{root}), found {fields}"
            )
        url, local = fields
        if url in rows and rows[url][0] != local:
            raise ScanError(
                f"{path} line {number}: {url} is mapped again, to {local!r}; line "
                f"{rows[url][1]} maps it to {rows[url][0]!r}"
            )
        rows.setdefault(url, (local, number))
    return _UrlMap(path, rows)


class _BasenameImages:
    """URL -> ``image_dir/<basename of the URL path>``."""

    def __init__(self, image_dir: Path, on_disk: list[str]) -> None:
        self.image_dir = image_dir
        self.on_disk = on_disk
        self.existing = set(on_disk)
        self.claimed: set[str] = set()

    def resolve(self, url: str) -> tuple[Path | None, str]:
        name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        if not name:
            return None, f"the URL {url!r} has no file name to look for"
        self.claimed.add(name)
        if name not in self.existing:
            return None, f"no image {name} in {self.image_dir.name}/ for {url}"
        return self.image_dir / name, ""

    def key_of(self, image: Path) -> str:
        return image.stem

    def unclaimed(self, root: Path, split: str) -> Iterator[Reject]:
        for name in self.on_disk:
            if name not in self.claimed:
                yield Reject(
                    "emotionet",
                    split,
                    relative(self.image_dir / name, root),
                    None,
                    NO_LABEL,
                    "no label row has a URL with this file name",
                )


class _MappedImages:
    """URL -> the path the user's url_map gives."""

    def __init__(self, root: Path, mapping: _UrlMap) -> None:
        self.root = root
        self.mapping = mapping
        self.claimed: set[str] = set()

    def resolve(self, url: str) -> tuple[Path | None, str]:
        row = self.mapping.rows.get(url)
        if row is None:
            return None, f"{url} is not in the url_map {self.mapping.path.name}"
        self.claimed.add(url)
        image = self.root / row[0]
        if not image.is_file():
            return None, f"no image {row[0]} (url_map line {row[1]}) for {url}"
        return image, ""

    def key_of(self, image: Path) -> str:
        return relative(image.with_suffix(""), self.root)

    def unclaimed(self, root: Path, split: str) -> Iterator[Reject]:
        file_rel = relative(self.mapping.path, root)
        for url, (local, line) in self.mapping.rows.items():
            if url not in self.claimed:
                yield Reject(
                    "emotionet",
                    split,
                    file_rel,
                    line,
                    NO_LABEL,
                    f"no label row has the URL {url} (image {local})",
                )


# ---------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------


def _check_split(split: str, splits: Sequence[str] | None) -> str:
    name = split_option(split, "emotionet")
    unknown = sorted(set(splits or ()) - {name})
    if unknown:
        raise ScanError(
            f"EmotioNet has no split {unknown} here; available splits are [{name!r}] "
            "(option split names the split of the label files)"
        )
    return name


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
        "track2": "expression / compound categories are not read",
    },
)
