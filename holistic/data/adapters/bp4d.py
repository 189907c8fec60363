"""BP4D-Spontaneous (and BP4D+): AU occurrence per coded video frame.

Native layout (reference/datasets.md §8)::

    ROOT/AUCoding/AU_OCC/F001_T1.csv     header "0,1,2,4,...,45,...": frame, then AU numbers
    ROOT/images/F001/T1/2440.jpg         one folder per subject and task; any zero padding

Each csv row is one frame: column ``0`` (or ``frame``) holds the frame number, every other column
is named by its FACS AU number and holds 1 (present), 0 (absent) or 9 (not coded). Columns are
read by header name (the AU columns are numbered, not contiguous). Only a subset of frames is
AU-coded: frames without a row are unlabelled, not negative. BP4D+ is read with the same layout
(its layout is unverified); the adapter fails loudly if ``AUCoding/AU_OCC`` is absent. See
``docs/datasets/bp4d.md``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from holistic.data.adapters._base import (
    DUPLICATE,
    INVALID_MARKER,
    MALFORMED_ROW,
    MISSING_IMAGE,
    OUT_OF_RANGE,
    Adapter,
    FaceHint,
    Reject,
    Sample,
    ScanError,
    safe_key,
)
from holistic.data.adapters._files import Frames, list_frames, unclaimed_frames
from holistic.data.adapters._parsing import (
    encoding_option,
    normalise_header,
    option_path,
    parse_bool,
    parse_float,
    parse_int,
    read_lines,
    relative,
    select_splits,
    split_fields,
    split_name,
)
from holistic.schema import check_au

__all__ = ["ADAPTER", "BENCHMARK_AUS", "scan"]

LABEL_DIR = ("AUCoding", "AU_OCC")
#: The 12 AUs of the usual BP4D benchmark (reference/datasets.md §8); every coded column is read.
BENCHMARK_AUS: tuple[int, ...] = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)
#: ``variant`` option -> dataset name written into samples and rejects.
VARIANTS: dict[str, str] = {"bp4d": "bp4d", "bp4d+": "bp4dplus", "bp4dplus": "bp4dplus"}
NOT_CODED = 9
UNASSIGNED = "unassigned"
_FRAME_HEADERS = ("0", "frame")


# ---------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------


def _parse_variant(value: str) -> str:
    name = str(value).strip().lower()
    if name not in VARIANTS:
        raise ScanError(f"bp4d option variant must be bp4d or bp4d+, got {value!r}")
    return VARIANTS[name]


def _fold_name(text: str) -> str | None:
    """``"1"`` -> ``"fold1"``; ``"Train"`` -> ``"train"``; a safe name as is; None otherwise."""
    number = parse_int(text)
    if number is not None:
        return f"fold{number}"
    name = split_name(text)
    return name if name and name != UNASSIGNED else None


def load_folds(path: str | Path, encoding: str | None = None) -> dict[str, str]:
    """Read a ``subject,fold`` file into subject -> split name.

    Lines are ``F001,1`` (comma or whitespace separated; an optional ``subject,fold`` header).
    An integer fold ``k`` becomes split ``fold<k>``; train/validation/test aliases become their
    canonical names; any other name of letters, digits, ``_`` and ``-`` is kept as it is.
    ``encoding`` is the file's text encoding when it has no byte-order mark (default UTF-8).

    Raises:
        ScanError: the file is missing, a line has not two fields or an unusable fold name, or
            a subject is listed twice.
    """
    path = Path(path)
    if not path.is_file():
        raise ScanError(f"{path}: bp4d folds file not found; expected 'subject,fold' lines")
    subjects: dict[str, str] = {}
    for number, text in read_lines(path, encoding):
        fields = split_fields(text, "," if "," in text else None)
        if number == 1 and normalise_header(fields) == ["subject", "fold"]:
            continue
        fold = _fold_name(fields[1]) if len(fields) == 2 and fields[0] else None
        if fold is None:
            raise ScanError(
                f"{path}:{number}: expected 'subject,fold' (fold an integer or a name of "
                f"letters, digits, _ and -), got {text!r}"
            )
        if fields[0] in subjects and subjects[fields[0]] != fold:
            raise ScanError(f"{path}:{number}: subject {fields[0]} is listed in two folds")
        subjects[fields[0]] = fold
    if not subjects:
        raise ScanError(f"{path}: the bp4d folds file lists no subject")
    return subjects


# ---------------------------------------------------------------------------------------------
# Label files
# ---------------------------------------------------------------------------------------------


def _parse_header(fields: list[str], where: str) -> list[int]:
    """AU numbers of the columns after the frame column; ScanError on anything else."""
    first = normalise_header(fields[:1])
    if not first or first[0] not in _FRAME_HEADERS:
        raise ScanError(
            f"{where}: the first column must be the frame number, named '0' (or 'frame'); "
            f"got {fields[:1]}"
        )
    aus: list[int] = []
    for name in fields[1:]:
        try:
            au = check_au(name)
        except ValueError as error:
            raise ScanError(f"{where}: column {name!r}: {error}") from None
        if au in aus:
            raise ScanError(f"{where}: column {name!r} repeats AU{au}")
        aus.append(au)
    if not aus:
        raise ScanError(f"{where}: no AU columns after the frame column")
    return aus


@dataclass(frozen=True)
class _Video:
    subject: str
    task: str

    @property
    def name(self) -> str:
        return f"{self.subject}_{self.task}"


def _label_files(label_dir: Path, root: Path) -> dict[_Video, Path]:
    files: dict[_Video, Path] = {}
    for path in sorted(label_dir.iterdir()):
        if not path.is_file() or path.suffix.lower() != ".csv":
            continue
        subject, sep, task = path.stem.partition("_")
        if not sep or not subject or not task:
            raise ScanError(
                f"{relative(path, root)}: expected a label file named <subject>_<task>.csv "
                "(e.g. F001_T1.csv)"
            )
        files[_Video(subject, task)] = path
    if not files:
        raise ScanError(f"{relative(label_dir, root)}: no <subject>_<task>.csv label files")
    return files


def _image_videos(image_root: Path) -> set[_Video]:
    return {
        _Video(subject.name, task.name)
        for subject in image_root.iterdir()
        if subject.is_dir()
        for task in subject.iterdir()
        if task.is_dir()
    }


# ---------------------------------------------------------------------------------------------
# Scan
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    dataset: str
    root: Path
    image_root: Path
    face: FaceHint
    encoding: str | None = None  # of label files without a byte-order mark


def scan(
    root: Path,
    splits: Sequence[str] | None = None,
    *,
    images: str | Path | None = None,
    folds: str | Path | None = None,
    variant: str = "bp4d",
    aligned: bool | str = False,
    encoding: str | None = None,
) -> Iterator[Sample | Reject]:
    """Yield one Sample per AU-coded frame of a BP4D (or BP4D+) copy, and a Reject for the rest.

    Args:
        root: the dataset root, holding ``AUCoding/AU_OCC/``.
        splits: split names to keep; None keeps all. Without ``folds`` the only split is
            ``train``; with it, the file's fold names and ``unassigned``.
        images: the folder holding ``<subject>/<task>/<frame>.jpg`` (default ``ROOT/images``;
            a relative path is taken from the working directory, else from ROOT: see
            ``_parsing.option_path``).
        folds: path of a ``subject,fold`` file (see :func:`load_folds`; resolved like
            ``images``); subjects it does not list go to split ``unassigned``. Default: none,
            everything ``train``.
        variant: ``bp4d`` (default) or ``bp4d+``: only the dataset name written into samples
            changes (``bp4d`` / ``bp4dplus``).
        aligned: true when the frames are already aligned face crops (FaceHint "aligned");
            default false (raw frames, FaceHint "detect").
        encoding: the label and folds files' text encoding when they have no byte-order mark
            (default UTF-8; see ``_parsing.encoding_option``).

    Yields:
        Samples with ``au`` = {"<n>": 0/1} for the AUs coded 0/1 on the row. Rejects, per file:
        one INVALID_MARKER (line None, task ``au``) per column that is 9 on every row; per row:
        one INVALID_MARKER listing the other 9-coded AUs, one OUT_OF_RANGE listing numbers other
        than 0/1/9 and one MALFORMED_ROW listing non-numbers (task ``au``, or None when the row
        keeps no AU at all); MALFORMED_ROW for a wrong field count or frame number; DUPLICATE
        for a frame on several rows; MISSING_IMAGE for a coded row without an image; NO_LABEL
        for an image without a row; DUPLICATE for an image repeating a frame number.

    Raises:
        ScanError: ``AUCoding/AU_OCC/`` or the image folder is missing; a label file is named
            otherwise than ``<subject>_<task>.csv``, is empty, or has a header whose first
            column is not the frame or whose other columns are not FACS AU numbers; an option,
            the folds file or a split name is invalid; a line does not decode.
    """
    context = _Context(
        dataset=_parse_variant(variant),
        root=root,
        image_root=option_path(root, images) if images is not None else root / "images",
        face=FaceHint("aligned") if parse_bool(aligned, "aligned", "bp4d") else FaceHint("detect"),
        encoding=encoding_option(encoding, "bp4d"),
    )
    subject_folds = (
        load_folds(option_path(root, folds), context.encoding) if folds is not None else {}
    )
    available = (*sorted(set(subject_folds.values())), UNASSIGNED) if subject_folds else ("train",)
    wanted = select_splits(splits, available, "bp4d")
    label_dir = root.joinpath(*LABEL_DIR)
    if not label_dir.is_dir():
        assumed = "; BP4D+ is assumed to share it" if context.dataset == "bp4dplus" else ""
        raise ScanError(
            f"{label_dir}: no AUCoding/AU_OCC/ folder; expected "
            f"AUCoding/AU_OCC/<subject>_<task>.csv (the BP4D layout{assumed})"
        )
    if not context.image_root.is_dir():
        raise ScanError(
            f"{context.image_root}: no image folder; expected <subject>/<task>/<frame>.jpg "
            "inside it (pass --images DIR if the frames are elsewhere)"
        )
    label_files = _label_files(label_dir, root)
    for video in sorted(set(label_files) | _image_videos(context.image_root), key=_order):
        split = subject_folds.get(video.subject, UNASSIGNED) if subject_folds else "train"
        if split not in wanted:
            continue
        frames = list_frames(context.image_root / video.subject / video.task)
        claimed: set[int] = set()
        if video in label_files:
            yield from _scan_file(context, video, split, label_files[video], frames, claimed)
        yield from _unlabelled(context, frames, split, claimed)


def _order(video: _Video) -> tuple[str, str]:
    return video.subject, video.task


@dataclass
class _Row:
    line: int
    frame: int
    cells: list[str]


def _read_rows(
    context: _Context, path: Path, split: str
) -> tuple[list[int], list[_Row], list[Reject]]:
    """The header's AU numbers, the well-formed rows, and rejects for the malformed ones."""
    where = relative(path, context.root)
    lines = read_lines(path, context.encoding)
    header = next(lines, None)
    if header is None:
        raise ScanError(f"{where}: empty label file; expected a header row '0,1,2,4,...'")
    aus = _parse_header(split_fields(header[1]), where)
    rows: list[_Row] = []
    rejects: list[Reject] = []
    for number, text in lines:
        fields = split_fields(text)
        frame = parse_int(fields[0]) if len(fields) == len(aus) + 1 else None
        if frame is None or frame < 0:
            detail = (
                f"expected {len(aus) + 1} fields (frame and {len(aus)} AUs), got {len(fields)}"
                if len(fields) != len(aus) + 1
                else f"frame {fields[0]!r} is not a frame number"
            )
            rejects.append(Reject(context.dataset, split, where, number, MALFORMED_ROW, detail))
            continue
        rows.append(_Row(number, frame, fields[1:]))
    return aus, rows, rejects


def _uncoded_columns(aus: list[int], rows: list[_Row]) -> set[int]:
    """Column positions that are 9 (not coded) on every row of the file."""
    if not rows:
        return set()
    return {
        position
        for position in range(len(aus))
        if all(parse_int(row.cells[position]) == NOT_CODED for row in rows)
    }


def _duplicates(rows: list[_Row]) -> dict[int, str]:
    """Line -> detail for rows repeating a frame: every repeat, or every row if they conflict."""
    by_frame: dict[int, list[_Row]] = {}
    for row in rows:
        by_frame.setdefault(row.frame, []).append(row)
    details: dict[int, str] = {}
    for frame, group in by_frame.items():
        if len(group) == 1:
            continue
        lines = ", ".join(str(row.line) for row in group)
        if len({tuple(row.cells) for row in group}) > 1:
            for row in group:
                details[row.line] = f"frame {frame} is coded differently on lines {lines}"
        else:
            for row in group[1:]:
                details[row.line] = f"repeats frame {frame} of line {group[0].line}"
    return details


def _scan_file(
    context: _Context,
    video: _Video,
    split: str,
    path: Path,
    frames: Frames,
    claimed: set[int],
) -> Iterator[Sample | Reject]:
    where = relative(path, context.root)
    aus, rows, malformed = _read_rows(context, path, split)
    yield from malformed
    uncoded = _uncoded_columns(aus, rows)
    for position in sorted(uncoded):
        yield Reject(
            context.dataset,
            split,
            where,
            None,
            INVALID_MARKER,
            f"AU{aus[position]} is 9 (not coded) on every row",
            task="au",
        )
    duplicates = _duplicates(rows)
    for row in rows:
        claimed.add(row.frame)
        key = safe_key(video.name, row.frame)
        if row.line in duplicates:
            yield Reject(
                context.dataset, split, where, row.line, DUPLICATE, duplicates[row.line], key=key
            )
            continue
        labels, problems = _row_labels(aus, row, uncoded)
        task = "au" if labels else None
        for reason, detail in problems:
            yield Reject(context.dataset, split, where, row.line, reason, detail, task, key)
        if not labels:
            if not problems:  # every column of the file is 9 throughout
                yield Reject(
                    context.dataset,
                    split,
                    where,
                    row.line,
                    INVALID_MARKER,
                    "no AU is coded on this row (every column of the file is 9)",
                    key=key,
                )
            continue
        image = frames.by_number.get(row.frame)
        if image is None:
            folder = relative(context.image_root / video.subject / video.task, context.root)
            detail = (
                f"frame {row.frame} is coded but {folder} has no image numbered {row.frame}"
                if frames.exists
                else f"frame {row.frame} is coded but the image folder {folder} does not exist"
            )
            yield Reject(context.dataset, split, where, row.line, MISSING_IMAGE, detail, key=key)
            continue
        yield Sample(
            dataset=context.dataset,
            split=split,
            key=key,
            image=image,
            source_path=relative(image, context.root),
            labels={"au": labels},
            subject=video.subject,
            video=video.name,
            frame=row.frame,
            face=context.face,
            origin=(where, row.line),
            extra={"task": video.task},
        )


def _row_labels(
    aus: list[int], row: _Row, uncoded: set[int]
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """``au`` labels of a row (sorted by AU) and (reason, detail) of its rejected cells."""
    labels: dict[int, int] = {}
    marked: list[str] = []
    out_of_range: list[str] = []
    malformed: list[str] = []
    for position, (au, text) in enumerate(zip(aus, row.cells, strict=True)):
        if position in uncoded:
            continue
        value = parse_int(text)
        if value in (0, 1):
            labels[au] = value
        elif value == NOT_CODED:
            marked.append(f"AU{au}")
        elif value is None and parse_float(text) is None:
            malformed.append(f"AU{au} {text!r}")
        else:
            out_of_range.append(f"AU{au} = {text}")
    problems = []
    if marked:
        problems.append((INVALID_MARKER, f"9 (not coded): {', '.join(marked)}"))
    if out_of_range:
        problems.append((OUT_OF_RANGE, f"expected 0, 1 or 9: {', '.join(out_of_range)}"))
    if malformed:
        problems.append((MALFORMED_ROW, f"not a number: {', '.join(malformed)}"))
    return {str(au): labels[au] for au in sorted(labels)}, problems


def _unlabelled(
    context: _Context, frames: Frames, split: str, claimed: set[int]
) -> Iterator[Reject]:
    """NO_LABEL for images without a label row; DUPLICATE for images repeating a number."""
    for path, reason, detail in unclaimed_frames(
        frames, claimed, "no label row for frame {number}"
    ):
        yield Reject(context.dataset, split, relative(path, context.root), None, reason, detail)


ADAPTER = Adapter(
    name="bp4d",
    version="1",
    scan=scan,
    description="BP4D-Spontaneous / BP4D+: AU occurrence (0/1, 9 = not coded) per coded frame",
    conventions={
        "columns": "read by header name: column 0 (or frame) is the frame, others FACS AU numbers",
        "au": "1 = present, 0 = absent; only AUs coded 0/1 on the row are stored",
        "not_coded": (
            "9 = not coded -> AU absent for that frame (one reject per row listing them); a "
            "column that is 9 on every row of a file -> one reject per file and column"
        ),
        "uncoded_frames": "frames without a row are unlabelled, not negative (NO_LABEL)",
        "images": "<images>/<subject>/<task>/<frame>.<ext>, matched by the integer frame number",
        "variant": "bp4d+ reads the same layout (unverified) and is written as dataset bp4dplus",
        "folds": "a user subject,fold file; default none (everything train)",
        "duplicates": "a repeated frame: identical rows keep the first; conflicting rows all go",
    },
)
