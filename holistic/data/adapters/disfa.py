"""DISFA: AU intensities (0-5) per video frame, one label file per subject per AU, two views.

Native layout (reference/datasets.md §7)::

    ROOT/ActionUnit_Labels/SN001/SN001_au1.txt    lines "frameIndex,intensity"
                                 SN001_au2.txt    ... one file per coded AU (12 in DISFA)
    ROOT/images/LeftVideoSN001/00001.jpg          Kollias-group frames, one folder per view
                RightVideoSN001/00001.jpg

One label set serves both camera views, so every labelled frame gives one :class:`Sample` per
view. A subject's AU files are joined on the frame index they state (never on line position): a
frame carries ``au_intensity`` for every AU whose file has a valid line for it, and ``au``
occurrence derived as intensity >= ``occurrence_threshold``. Images are matched to label frames
through the frame base (0 or 1) of each video's image numbering, decided per video (see
:func:`scan`). See ``docs/datasets/disfa.md``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from holistic.data.adapters._base import (
    DUPLICATE,
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
    option_path,
    parse_bool,
    parse_float,
    parse_int,
    read_lines,
    relative,
    select_splits,
    split_fields,
)
from holistic.schema import FACS

__all__ = ["ADAPTER", "CODED_AUS", "ME_GRAPHAU_FOLDS", "scan"]

DATASET = "disfa"
LABEL_DIR = "ActionUnit_Labels"

#: The 12 AUs DISFA codes (any ``_au<n>.txt`` file with n in the FACS table is read).
CODED_AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)

#: The three subject-exclusive parts of ME-GraphAU (``tool/DISFA_image_label_process.py``),
#: as split names. ME-GraphAU's evaluation fold k *tests* on part 4 - k.
ME_GRAPHAU_FOLDS: dict[str, tuple[str, ...]] = {
    "fold1": ("SN002", "SN010", "SN001", "SN026", "SN027", "SN032", "SN030", "SN009", "SN016"),
    "fold2": ("SN013", "SN018", "SN011", "SN028", "SN012", "SN006", "SN031", "SN021", "SN024"),
    "fold3": ("SN003", "SN029", "SN023", "SN025", "SN008", "SN005", "SN007", "SN017", "SN004"),
}
UNASSIGNED = "unassigned"

#: View option name -> image folder prefix (the folder is prefix + subject).
VIEW_PREFIXES: dict[str, str] = {"left": "LeftVideo", "right": "RightVideo"}

_AU_FILE = re.compile(r"^(?P<subject>.+)_au(?P<au>\d+)\.txt$", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------


def _parse_views(value: str | Sequence[str]) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    names = {str(item).strip().lower() for item in items} - {""}
    unknown = sorted(names - set(VIEW_PREFIXES))
    if unknown or not names:
        raise ScanError(
            f"disfa option views must list left and/or right (e.g. 'left,right'), got {value!r}"
        )
    return tuple(view for view in VIEW_PREFIXES if view in names)


def _parse_frame_base(value: int | str) -> int | None:
    text = str(value).strip().lower()
    if text == "auto":
        return None
    if text in ("0", "1"):
        return int(text)
    raise ScanError(f"disfa option frame_base must be auto, 0 or 1, got {value!r}")


def _parse_threshold(value: int | str) -> int:
    number = parse_int(str(value).strip())
    if number is None or not 1 <= number <= 5:
        raise ScanError(
            f"disfa option occurrence_threshold must be an integer 1-5 "
            f"(occurrence = intensity >= threshold), got {value!r}"
        )
    return number


def _fold_map(folds: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """Subject -> split, and the available split names, for the ``folds`` option."""
    name = str(folds).strip().lower()
    if name == "me-graphau":
        subjects = {s: fold for fold, members in ME_GRAPHAU_FOLDS.items() for s in members}
        return subjects, (*ME_GRAPHAU_FOLDS, UNASSIGNED)
    if name == "none":
        return {}, ("train",)
    raise ScanError(f"disfa option folds must be me-graphau or none, got {folds!r}")


# ---------------------------------------------------------------------------------------------
# Labels: one subject's AU files, joined on frame index
# ---------------------------------------------------------------------------------------------


@dataclass
class _Problem:
    """A rejected label line whose frame is known; its task depends on what the frame keeps."""

    file: str
    line: int
    reason: str
    detail: str


@dataclass
class _SubjectLabels:
    """One subject's labels: valid intensities per frame, and everything rejected."""

    intensities: dict[int, dict[int, int]] = field(default_factory=dict)
    origins: dict[int, tuple[str, int]] = field(default_factory=dict)  # first AU file's line
    problems: dict[int, list[_Problem]] = field(default_factory=dict)
    malformed: list[_Problem] = field(default_factory=list)  # lines without a usable frame


def _au_files(subject_dir: Path, root: Path) -> list[tuple[int, Path]]:
    """``(AU, path)`` of ``<subject>_au<n>.txt`` files, sorted by AU; other files are ignored."""
    found: dict[int, Path] = {}
    for path in sorted(subject_dir.iterdir()):
        match = _AU_FILE.match(path.name)
        if not path.is_file() or match is None:
            continue
        where = relative(path, root)
        if match["subject"].lower() != subject_dir.name.lower():
            raise ScanError(
                f"{where}: AU label file of subject {match['subject']!r} inside the folder of "
                f"subject {subject_dir.name!r}; expected {subject_dir.name}_au<n>.txt"
            )
        au = int(match["au"])
        if au not in FACS:
            raise ScanError(f"{where}: AU{au} is not in the FACS table (holistic.schema.FACS)")
        if au in found:
            raise ScanError(
                f"{where}: a second label file for AU{au} (the first is "
                f"{relative(found[au], root)})"
            )
        found[au] = path
    if not found:
        raise ScanError(
            f"{relative(subject_dir, root)}: no {subject_dir.name}_au<n>.txt label files"
        )
    return sorted(found.items())


def _read_au_file(
    au: int, path: Path, root: Path, labels: _SubjectLabels, encoding: str | None
) -> None:
    """Add one AU file's lines to ``labels`` (valid values, problems, origins)."""
    where = relative(path, root)
    lines: dict[int, list[tuple[int, str]]] = {}  # frame -> [(line, intensity text)]
    for number, text in read_lines(path, encoding):
        fields = split_fields(text)
        frame = parse_int(fields[0]) if len(fields) == 2 else None
        if frame is None or frame < 0:
            labels.malformed.append(
                _Problem(
                    where,
                    number,
                    MALFORMED_ROW,
                    f"expected 'frameIndex,intensity' with a frame number >= 0, got {text!r}",
                )
            )
            continue
        lines.setdefault(frame, []).append((number, fields[1]))
        labels.origins.setdefault(frame, (where, number))
    for frame, entries in lines.items():
        problems = labels.problems.setdefault(frame, [])
        number, value = entries[0]
        if len(entries) > 1:
            stated = ", ".join(f"line {line} ({text})" for line, text in entries)
            if len({text for _, text in entries}) > 1:
                problems.extend(
                    _Problem(
                        where,
                        line,
                        DUPLICATE,
                        f"frame {frame} has different AU{au} intensities: {stated}",
                    )
                    for line, _ in entries
                )
                continue
            problems.extend(
                _Problem(where, line, DUPLICATE, f"repeats frame {frame} of line {number}")
                for line, _ in entries[1:]
            )
        intensity = parse_int(value)
        if intensity is None and parse_float(value) is None:
            problems.append(
                _Problem(
                    where, number, MALFORMED_ROW, f"AU{au} intensity {value!r} is not a number"
                )
            )
        elif intensity is None or not 0 <= intensity <= 5:
            problems.append(
                _Problem(
                    where,
                    number,
                    OUT_OF_RANGE,
                    f"AU{au} intensity {value} is outside the integer scale 0-5",
                )
            )
        else:
            labels.intensities.setdefault(frame, {})[au] = intensity
    for frame in lines:
        if not labels.problems[frame]:
            del labels.problems[frame]


def _read_subject(subject_dir: Path, root: Path, encoding: str | None) -> _SubjectLabels:
    labels = _SubjectLabels()
    for au, path in _au_files(subject_dir, root):
        _read_au_file(au, path, root, labels, encoding)
    return labels


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------


def _resolve_base(option: int | None, first_label: int | None, frames: Frames) -> tuple[int, str]:
    """The frame base of a video's images and how it was chosen (``extra["frame_base_rule"]``).

    Image number = label frame - 1 + base. ``auto``: base 1 when the first image number equals
    the first label frame, base 0 when it equals the first label frame - 1, else 1 ("ambiguous").
    """
    if option is not None:
        return option, "option"
    if first_label is not None and frames.by_number:
        first_image = min(frames.by_number)
        if first_image == first_label:
            return 1, "auto"
        if first_image == first_label - 1:
            return 0, "auto"
    return 1, "auto-ambiguous"


# ---------------------------------------------------------------------------------------------
# Scan
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    root: Path
    image_root: Path
    views: tuple[str, ...]
    frame_base: int | None
    threshold: int
    face: FaceHint
    encoding: str | None = None  # of AU files without a byte-order mark


def scan(
    root: Path,
    splits: Sequence[str] | None = None,
    *,
    images: str | Path | None = None,
    views: str | Sequence[str] = "left,right",
    frame_base: int | str = "auto",
    occurrence_threshold: int | str = 2,
    folds: str = "me-graphau",
    aligned: bool | str = False,
    encoding: str | None = None,
) -> Iterator[Sample | Reject]:
    """Yield one Sample per (view, labelled frame) of a DISFA copy, and a Reject for the rest.

    Args:
        root: the DISFA root, holding ``ActionUnit_Labels/``.
        splits: split names to keep (``fold1``, ``fold2``, ``fold3``, ``unassigned`` with
            ``folds=me-graphau``; ``train`` with ``folds=none``); None keeps all.
        images: the folder holding ``LeftVideo<subject>/`` and ``RightVideo<subject>/``
            (default ``ROOT/images``; a relative path is taken from the working directory,
            else from ROOT: see ``_parsing.option_path``).
        views: ``left``, ``right`` or ``left,right`` (default).
        frame_base: ``auto`` (default), ``0`` or ``1``: image number = label frame - 1 + base.
            ``auto`` decides per video: 1 if the first image number equals the first label
            frame, 0 if it equals the first label frame - 1, otherwise 1 (recorded as
            ``extra["frame_base_rule"] == "auto-ambiguous"``).
        occurrence_threshold: ``au`` occurrence is intensity >= this (1-5, default 2).
        folds: ``me-graphau`` (default: ME-GraphAU's 3 subject parts as ``fold1``-``fold3``,
            other subjects ``unassigned``) or ``none`` (everything ``train``).
        aligned: true when the frames are already aligned face crops (FaceHint "aligned");
            default false (raw video frames, FaceHint "detect").
        encoding: the AU files' text encoding when they have no byte-order mark (default
            UTF-8; see ``_parsing.encoding_option``).

    Yields:
        Samples with ``au_intensity`` and ``au`` for the AUs whose file has a valid line for the
        frame; Rejects: malformed lines (MALFORMED_ROW), intensities outside 0-5 (OUT_OF_RANGE,
        task ``au_intensity``, or None when the frame keeps no AU at all), repeated frames in
        one AU file (DUPLICATE), labelled frames without an image (MISSING_IMAGE, one per
        view), images without a label line (NO_LABEL) or repeating a frame number (DUPLICATE).

    Raises:
        ScanError: ``ActionUnit_Labels/`` or the image folder is missing, a subject folder has
            no AU files, an AU file names an AU outside the FACS table or another subject, no
            image folder exists for a requested view, an option or split name is invalid; a
            line does not decode.
    """
    subject_splits, available = _fold_map(folds)
    wanted = select_splits(splits, available, "disfa")
    image_root = option_path(root, images) if images is not None else root / "images"
    settings = _Settings(
        root=root,
        image_root=image_root,
        views=_parse_views(views),
        frame_base=_parse_frame_base(frame_base),
        threshold=_parse_threshold(occurrence_threshold),
        face=FaceHint("aligned") if parse_bool(aligned, "aligned", "disfa") else FaceHint("detect"),
        encoding=encoding_option(encoding, "disfa"),
    )
    label_root = root / LABEL_DIR
    if not label_root.is_dir():
        raise ScanError(f"{label_root}: no {LABEL_DIR}/ folder; expected {LABEL_DIR}/SN001/...")
    if not image_root.is_dir():
        raise ScanError(
            f"{image_root}: no image folder; expected LeftVideoSN001/00001.jpg ... inside it "
            "(pass --images DIR if the frames are elsewhere)"
        )
    label_subjects = sorted(p.name for p in label_root.iterdir() if p.is_dir())
    image_subjects = _image_subjects(image_root, settings.views)
    for subject in sorted(set(label_subjects) | image_subjects):
        split = subject_splits.get(subject, UNASSIGNED) if subject_splits else "train"
        if split not in wanted:
            continue
        if subject in label_subjects:
            labels = _read_subject(label_root / subject, root, settings.encoding)
            yield from _scan_subject(settings, subject, split, labels)
        else:
            for view in settings.views:
                folder = image_root / f"{VIEW_PREFIXES[view]}{subject}"
                yield from _unlabelled(settings, list_frames(folder), split, set())


def _image_subjects(image_root: Path, views: tuple[str, ...]) -> set[str]:
    """Subjects with an image folder for some requested view; ScanError if a view has none."""
    names = [p.name for p in image_root.iterdir() if p.is_dir()]
    subjects: set[str] = set()
    for view in views:
        prefix = VIEW_PREFIXES[view]
        found = {name[len(prefix) :] for name in names if name.startswith(prefix)}
        if not found:
            raise ScanError(
                f"{image_root}: no {prefix}<subject> folders for the {view} view; "
                f"pass --option views=... to choose the views this copy has"
            )
        subjects |= found - {""}
    return subjects


def _scan_subject(
    settings: _Settings, subject: str, split: str, labels: _SubjectLabels
) -> Iterator[Sample | Reject]:
    for problem in labels.malformed:
        yield _reject(split, problem, task=None)
    for frame in sorted(labels.problems):
        task = "au_intensity" if labels.intensities.get(frame) else None
        for problem in labels.problems[frame]:
            yield _reject(split, problem, task)
    first_label = min(labels.origins) if labels.origins else None
    for view in settings.views:
        video = f"{VIEW_PREFIXES[view]}{subject}"
        frames = list_frames(settings.image_root / video)
        base, rule = _resolve_base(settings.frame_base, first_label, frames)
        claimed = {frame - 1 + base for frame in labels.origins}
        for frame in sorted(labels.intensities):
            intensities = labels.intensities[frame]
            key = safe_key(video, frame)
            origin = labels.origins[frame]
            image = frames.by_number.get(frame - 1 + base)
            if image is None:
                yield Reject(
                    DATASET,
                    split,
                    origin[0],
                    origin[1],
                    MISSING_IMAGE,
                    _missing_detail(settings, video, frame, base, frames.exists),
                    key=key,
                )
                continue
            yield Sample(
                dataset=DATASET,
                split=split,
                key=key,
                image=image,
                source_path=relative(image, settings.root),
                labels={
                    "au_intensity": {str(au): v for au, v in sorted(intensities.items())},
                    "au": {
                        str(au): int(v >= settings.threshold)
                        for au, v in sorted(intensities.items())
                    },
                },
                subject=subject,
                video=video,
                frame=frame,
                face=settings.face,
                origin=origin,
                extra={
                    "view": view,
                    "occurrence_threshold": settings.threshold,
                    "frame_base": base,
                    "frame_base_rule": rule,
                },
            )
        yield from _unlabelled(settings, frames, split, claimed)


def _missing_detail(settings: _Settings, video: str, frame: int, base: int, exists: bool) -> str:
    folder = relative(settings.image_root / video, settings.root)
    if not exists:
        return f"frame {frame} is labelled but the image folder {folder} does not exist"
    number = frame - 1 + base
    return (
        f"frame {frame} is labelled but {folder} has no image numbered {number} (frame base {base})"
    )


def _unlabelled(
    settings: _Settings, frames: Frames, split: str, claimed: set[int]
) -> Iterator[Reject]:
    """NO_LABEL for images no label line maps to; DUPLICATE for images repeating a number."""
    no_label = "no label line maps to image {number}"
    for path, reason, detail in unclaimed_frames(frames, claimed, no_label):
        yield Reject(DATASET, split, relative(path, settings.root), None, reason, detail)


def _reject(split: str, problem: _Problem, task: str | None) -> Reject:
    return Reject(DATASET, split, problem.file, problem.line, problem.reason, problem.detail, task)


ADAPTER = Adapter(
    name="disfa",
    version="1",
    scan=scan,
    description="DISFA: 12 AU intensities (0-5) per frame of two camera views per subject",
    conventions={
        "join": "a subject's AU files are joined on the frame index each line states",
        "au_intensity": "stored as given (integers 0-5); other values are rejected per AU",
        "au": "occurrence = intensity >= occurrence_threshold (default 2; in extra)",
        "missing_au": "a frame absent from some AU file lacks those AUs (no reject)",
        "views": "one label set serves both views: one sample per (view, frame)",
        "frame_base": (
            "image number = label frame - 1 + base; auto per video: 1 if the first image "
            "number equals the first label frame, 0 if it equals it minus 1, else 1 "
            "(extra frame_base_rule = auto-ambiguous)"
        ),
        "folds": "me-graphau: split foldk = ME-GraphAU part k; others unassigned",
        "duplicates": (
            "a frame repeated in one AU file: identical repeats rejected, the first kept; "
            "conflicting values reject every line of it"
        ),
    },
)
