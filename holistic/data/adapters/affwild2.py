"""Aff-Wild2 (ABAW challenges): per-video VA / EXPR / AU files of every edition, and MTL lists.

reference/datasets.md §3. ``scan`` finds the annotation layouts under ``root`` (at most two
folders deep) and reads one of them:

- ``abaw1``: ``annotations/{VA_Set,EXPR_Set,AU_Set}/{Training_Set,Validation_Set}/<video>.txt``
  (7 expressions, AUs 1, 2, 4, 6, 12, 15, 20, 25);
- ``abaw2``: ``{VA_Set,EXPR_Set,AU_Set}/{Train_Set,Validation_Set}/<video>.txt`` (7 expressions,
  12 AUs);
- ``abaw3``: ``<top>/{VA_Estimation_Challenge,EXPR_Classification_Challenge,
  AU_Detection_Challenge}/{Train_Set,Validation_Set}/<video>.txt`` with ``<top>`` e.g.
  ``Third ABAW Annotations`` or ``6th_ABAW_Annotations`` (8 expressions, 7 = other; 12 AUs);
- ``mtl``: the multi-task lists ``MTL_Challenge/{train_set,validation_set}.txt`` (ABAW3) or
  ``{training,validation}_set_annotations.txt`` (s-Aff-Wild2): one row per image, 16 fields.

Per-video files: line 1 is a header, line ``k + 1`` labels frame ``k`` whose image is
``<images>/<video>/<k:05d>.jpg`` (``images`` defaults to ``root/cropped_aligned``). The VA, EXPR
and AU files of one split are joined on (video, frame), one record per image; the files are read
in lockstep, one video at a time.

Per frame, every invalid part (a row with a marker, a value out of range, a wrong field count)
yields one :class:`Reject` naming its file and line; its ``task`` is the part's task when the
frame still yields a :class:`Sample`, None when nothing valid remains (then no Sample). A frame
with valid labels and no image yields one ``missing_image`` Reject (plus its invalid parts). An
image of a labelled video that no file of the split labels yields a ``no_label`` Reject.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import itertools
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from holistic.data.adapters._files import list_dirs, list_files, list_frames, list_images
from holistic.data.adapters._parsing import (
    canonical_split,
    encoding_option,
    expression_from_name,
    normalise_header,
    option_float,
    option_path,
    parse_float,
    parse_int,
    read_lines,
    relative,
    split_fields,
)
from holistic.schema import AU_VOCABULARIES, EXPRESSION_VOCABULARIES, FACS

__all__ = ["ADAPTER", "EDITIONS", "scan"]

DATASET = "affwild2"
#: Audio the ``audio`` option looks for, in this order: an extracted track first (WAV, FLAC,
#: OGG), then the video itself (read with PyAV; see ``holistic.data.audio.load_audio``).
AUDIO_SUFFIXES: tuple[str, ...] = (
    ".wav",
    ".flac",
    ".ogg",
    ".mp4",
    ".avi",
    ".mkv",
    ".webm",
    ".mov",
    ".m4a",
)
#: Values of the ``edition`` option: which layout to read when several are present.
EDITIONS: tuple[str, ...] = ("abaw1", "abaw2", "abaw3", "mtl")
#: Values of the ``va_rule`` option (only "both": a -5 in valence or arousal drops the VA).
VA_RULES: tuple[str, ...] = ("both",)
TASKS: tuple[str, ...] = ("va", "expr", "au")
_TASK_ORDER = {task: order for order, task in enumerate(TASKS)}
_TASK_TITLE = {"va": "VA", "expr": "EXPR", "au": "AU"}

VA_MARKER = -5.0
EXPR_MARKER = -1
AU_MARKER = -1

#: Expression classes by index (§2), per edition; a header listing ``Other`` selects 8.
EXPR_CLASSES: dict[str, tuple[str, ...]] = {
    "abaw1": EXPRESSION_VOCABULARIES["basic7"],
    "abaw2": EXPRESSION_VOCABULARIES["basic7"],
    "abaw3": EXPRESSION_VOCABULARIES["abaw8"],
    "mtl": EXPRESSION_VOCABULARIES["abaw8"],
}
#: The AU columns each edition is expected to have (§3.2); the header is what is used.
EXPECTED_AUS: dict[str, tuple[int, ...]] = {
    "abaw1": AU_VOCABULARIES["abaw2020"],
    "abaw2": AU_VOCABULARIES["abaw2021"],
    "abaw3": AU_VOCABULARIES["abaw2021"],
    "mtl": AU_VOCABULARIES["abaw2021"],
}

_SIDE = re.compile(r"^(?P<source>.+)_(left|right)$")
# Folder and file names, compared after _norm (lower case, spaces and dashes -> "_").
_SET_TASK = re.compile(r"^(va|expr|au)_set$")
_CHALLENGE_TASK = re.compile(r"^(va|expr|au)_[a-z0-9_]*challenge$")
_MTL_DIR = re.compile(r"^(mtl|multi_task(_learning)?)_challenge$")
_MTL_FILE = re.compile(r"^(?P<split>train|training|validation|valid|val)_set\.txt$")
_SAW_FILE = re.compile(r"^(?P<split>train|training|validation|valid|val)_set_annotations\.txt$")

_VA_HEADERS = (["valence", "arousal"], ["v", "a"])
_EXPR_WORDS = frozenset({"expression", "expr", "exp", "emotion", "label", "class"})
_IMAGE_WORDS = frozenset({"image", "imagepath", "img", "path", "name", "file", "filename"})
_AU_FIELD = re.compile(r"^au0*(\d+)$")

_EXPECTED_NAMES = (
    "expected AU_Set/EXPR_Set/VA_Set (ABAW1 under annotations/ with Training_Set, ABAW2 with "
    "Train_Set), AU_Detection_Challenge/EXPR_Classification_Challenge/VA_Estimation_Challenge "
    "(ABAW3+, e.g. under 'Third ABAW Annotations' or '6th_ABAW_Annotations'), "
    "MTL_Challenge/{train_set,validation_set}.txt (ABAW3 MTL) or "
    "{training,validation}_set_annotations.txt (s-Aff-Wild2)"
)


# ---------------------------------------------------------------------------------------------
# Layouts
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """One annotation layout found under the root.

    Uni-task layouts have ``task_dirs`` (task -> folder); MTL layouts have ``mtl_files``
    (canonical split -> list file).
    """

    edition: str
    where: str
    task_dirs: dict[str, Path] = field(default_factory=dict)
    mtl_files: dict[str, Path] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.edition} ({self.where})"


def _norm(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip()).lower()


def _set_edition(task_dirs: dict[str, Path]) -> str:
    """ABAW1 names its split folders ``Training_Set``, ABAW2 ``Train_Set``."""
    names = {_norm(d.name) for folder in task_dirs.values() for d in list_dirs(folder)}
    if "training_set" in names:
        return "abaw1"
    if "train_set" in names:
        return "abaw2"
    parent = next(iter(task_dirs.values())).parent
    return "abaw1" if _norm(parent.name) == "annotations" else "abaw2"


def _layouts_in(folder: Path, root: Path) -> list[_Layout]:
    """The layouts whose task folders or list files are children of ``folder``."""
    sets: dict[str, Path] = {}
    challenges: dict[str, Path] = {}
    mtl: list[_Layout] = []
    if folder == root and _MTL_DIR.match(_norm(folder.name)):  # ROOT is MTL_Challenge itself
        mtl += _mtl_layout(folder, _MTL_FILE, root)
    for child in list_dirs(folder):
        name = _norm(child.name)
        if match := _SET_TASK.match(name):
            sets[match.group(1)] = child
        elif match := _CHALLENGE_TASK.match(name):
            challenges[match.group(1)] = child
        elif _MTL_DIR.match(name):
            mtl += _mtl_layout(child, _MTL_FILE, root)
    where = relative(folder, root) if folder != root else "."
    found: list[_Layout] = []
    if sets:
        found.append(_Layout(_set_edition(sets), where, task_dirs=sets))
    if challenges:
        found.append(_Layout("abaw3", where, task_dirs=challenges))
    return found + mtl + _mtl_layout(folder, _SAW_FILE, root)


def _mtl_layout(folder: Path, pattern: re.Pattern[str], root: Path) -> list[_Layout]:
    files: dict[str, Path] = {}
    for path in list_files(folder):
        match = pattern.match(_norm(path.name))
        if match:
            files[canonical_split(match.group("split")) or match.group("split")] = path
    if not files:
        return []
    names = ", ".join(relative(path, root) for path in files.values())
    return [_Layout("mtl", names, mtl_files=files)]


def _find_layouts(root: Path, image_root: Path) -> list[_Layout]:
    """Layouts whose task folders / list files lie at depth <= 2 under ``root``."""
    skip = (image_root, root / "cropped_aligned")  # image folders: thousands of video folders
    folders = [root] + [d for d in list_dirs(root) if d not in skip]
    return [layout for folder in folders for layout in _layouts_in(folder, root)]


def _choose_layout(layouts: list[_Layout], edition: str | None, root: Path) -> _Layout:
    if not layouts:
        raise ScanError(f"{root}: no Aff-Wild2 annotations found at depth <= 2; {_EXPECTED_NAMES}")
    found = "; ".join(layout.describe() for layout in layouts)
    if edition is not None:
        layouts = [layout for layout in layouts if layout.edition == edition]
        if not layouts:
            raise ScanError(f"{root}: no {edition} annotation layout; found {found}")
    if len(layouts) > 1:
        editions = sorted({layout.edition for layout in layouts})
        hint = (
            f"choose one with --option edition={'|'.join(editions)}"
            if len(editions) > 1 and edition is None
            else "point ROOT at the folder of one of them"
        )
        raise ScanError(f"{root}: several Aff-Wild2 annotation layouts found: {found}; {hint}")
    return layouts[0]


# ---------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------


def _check_options(edition: str | None, va_rule: str) -> str | None:
    if str(va_rule).strip().lower() not in VA_RULES:
        raise ValueError(
            f"va_rule={va_rule!r} is not supported; the only rule is 'both' (VA is dropped when "
            "valence or arousal is -5)"
        )
    if edition is None:
        return None
    value = str(edition).strip().lower()
    if value not in EDITIONS:
        raise ValueError(f"edition={edition!r} is not one of {list(EDITIONS)}")
    return value


def _image_root(root: Path, images: str | Path | None) -> Path:
    if images is None:
        folder = root / "cropped_aligned"
        if not folder.is_dir():
            raise ScanError(
                f"{folder}: no such folder; expected the face crops as "
                "cropped_aligned/<video>/<frame:05d>.jpg under ROOT, or pass --images DIR"
            )
        return folder
    folder = option_path(root, images)
    if not folder.is_dir():
        raise ScanError(f"{folder} (--images): not a directory; expected <video>/<frame>.jpg")
    return folder


_SPLIT_ORDER = {"train": 0, "validation": 1, "test": 2}


def _select_splits(available: Iterable[str], splits: Sequence[str] | None, where: str) -> list[str]:
    ordered = sorted(set(available), key=lambda s: (_SPLIT_ORDER.get(s, 3), s))
    if splits is None:
        return ordered
    chosen = []
    for name in splits:
        split = canonical_split(name) or name
        if split not in ordered:
            raise ScanError(f"{where}: no split {name!r}; available splits are {ordered}")
        chosen.append(split)
    return [split for split in ordered if split in chosen]


# ---------------------------------------------------------------------------------------------
# Headers
# ---------------------------------------------------------------------------------------------


def _va_header(fields: list[str], edition: str, rel: str) -> None:
    if normalise_header(fields) not in _VA_HEADERS:
        raise ScanError(
            f"{rel}: unknown VA header {','.join(fields)!r}; expected 'valence,arousal'"
        )


def _expr_header(fields: list[str], edition: str, rel: str) -> tuple[str, ...]:
    names = [expression_from_name(name) or name for name in normalise_header(fields)]
    if len(names) == 1 and names[0] in _EXPR_WORDS:
        return EXPR_CLASSES[edition]
    eight = EXPRESSION_VOCABULARIES["abaw8"]
    if tuple(names) in (eight[:7], eight):
        return tuple(names)
    raise ScanError(
        f"{rel}: unknown EXPR header {','.join(fields)!r}; expected "
        "'Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise' (ABAW1/2) or the same plus "
        "',Other' (ABAW3+)"
    )


def _au_numbers(fields: list[str], rel: str) -> tuple[int, ...] | None:
    """The AU numbers of header fields ``AU1,AU2,...``, or None if they are not all AUs."""
    matches = [_AU_FIELD.match(name) for name in normalise_header(fields)]
    if not matches or not all(matches):
        return None
    numbers = tuple(int(match.group(1)) for match in matches if match)
    unknown = [n for n in numbers if n not in FACS]
    if unknown or len(set(numbers)) != len(numbers):
        raise ScanError(f"{rel}: AU header {','.join(fields)!r} has unknown or repeated AUs")
    return numbers


def _check_au_set(numbers: tuple[int, ...], edition: str, rel: str) -> None:
    if numbers != EXPECTED_AUS[edition]:
        warnings.warn(
            f"{rel}: AU columns {list(numbers)} differ from the {edition} set "
            f"{list(EXPECTED_AUS[edition])}; using the header's columns",
            stacklevel=3,
        )


def _au_header(fields: list[str], edition: str, rel: str) -> tuple[int, ...]:
    numbers = _au_numbers(fields, rel)
    if numbers is None:
        raise ScanError(
            f"{rel}: unknown AU header {','.join(fields)!r}; expected AU columns such as "
            f"'{','.join(f'AU{n}' for n in EXPECTED_AUS[edition])}'"
        )
    _check_au_set(numbers, edition, rel)
    return numbers


def _mtl_header(fields: list[str], edition: str, rel: str) -> tuple[int, ...]:
    """The AU columns of an MTL header ``image,valence,arousal,expression,AU1,...``."""
    names = normalise_header(fields)
    known = (
        len(names) >= 5
        and names[0] in _IMAGE_WORDS
        and names[1:3] in _VA_HEADERS
        and names[3] in _EXPR_WORDS
    )
    if known and len(names) == 5 and names[4] in ("aus", "au"):
        return EXPECTED_AUS[edition]
    numbers = _au_numbers(fields[4:], rel) if known else None
    if numbers is None or len(numbers) != 12:
        raise ScanError(
            f"{rel}: unknown MTL header {','.join(fields)!r}; expected "
            "'image,valence,arousal,expression,AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,"
            "AU25,AU26' (or 'image_path,...')"
        )
    _check_au_set(numbers, edition, rel)
    return numbers


_HEADERS: dict[str, Callable[[list[str], str, str], Any]] = {
    "va": _va_header,
    "expr": _expr_header,
    "au": _au_header,
}


def _read_header(path: Path, rel: str, encoding: str | None) -> tuple[int, list[str]]:
    """(line number, fields) of the first non-blank line; ScanError for an empty file. The
    file is closed as soon as its header is read (the rows are read later, part by part)."""
    with contextlib.closing(read_lines(path, encoding)) as lines:
        for number, text in lines:
            return number, split_fields(text)
    raise ScanError(f"{rel}: empty file; expected a header line and one line per frame")


# ---------------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------------

#: (labels, reason, detail): labels when the part is valid, else a reject reason and detail.
_Parsed = tuple[dict[str, Any] | None, str | None, str]


def _parse_va(fields: list[str], spec: Any = None) -> _Parsed:
    if len(fields) != 2:
        return None, MALFORMED_ROW, f"VA: {len(fields)} fields, expected 2 (valence,arousal)"
    valence, arousal = (parse_float(text) for text in fields)
    if valence is None or arousal is None:
        return None, MALFORMED_ROW, f"VA: {','.join(fields)!r} is not two numbers"
    markers = [name for name, v in (("valence", valence), ("arousal", arousal)) if v == VA_MARKER]
    if markers:
        return None, INVALID_MARKER, f"{' and '.join(markers)} -5 is the not-annotated marker"
    outside = [f"{n} {v:g}" for n, v in (("valence", valence), ("arousal", arousal)) if abs(v) > 1]
    if outside:
        return None, OUT_OF_RANGE, f"{' and '.join(outside)} outside [-1, 1]"
    return {"va": [valence, arousal]}, None, ""


def _parse_expr(fields: list[str], classes: tuple[str, ...]) -> _Parsed:
    if len(fields) != 1:
        return None, MALFORMED_ROW, f"EXPR: {len(fields)} fields, expected 1"
    index = parse_int(fields[0])
    if index is None:
        return None, MALFORMED_ROW, f"EXPR: {fields[0]!r} is not an integer"
    if index == EXPR_MARKER:
        return None, INVALID_MARKER, "expression -1 is the not-annotated marker"
    if not 0 <= index < len(classes):
        return None, OUT_OF_RANGE, f"expression {index} outside 0..{len(classes) - 1}"
    return {"expr": classes[index]}, None, ""


def _parse_au(fields: list[str], aus: tuple[int, ...]) -> _Parsed:
    if len(fields) != len(aus):
        return None, MALFORMED_ROW, f"AU: {len(fields)} fields, expected {len(aus)}"
    values = [parse_int(text) for text in fields]
    if any(value is None for value in values):
        return None, MALFORMED_ROW, f"AU: {','.join(fields)!r} has a non-integer value"
    marked = [f"AU{n}" for n, value in zip(aus, values, strict=True) if value == AU_MARKER]
    if marked:
        return None, INVALID_MARKER, f"AU -1 (not annotated) in {', '.join(marked)}: row invalid"
    odd = [f"AU{n}={v}" for n, v in zip(aus, values, strict=True) if v not in (0, 1)]
    if odd:
        return None, OUT_OF_RANGE, f"AU values must be 0 or 1: {', '.join(odd)}"
    return {"au": {str(n): int(v) for n, v in zip(aus, values, strict=True)}}, None, ""


_PARSERS: dict[str, Callable[[list[str], Any], _Parsed]] = {
    "va": _parse_va,
    "expr": _parse_expr,
    "au": _parse_au,
}


@dataclass(frozen=True)
class _Part:
    """One task's row for one frame: valid labels, or why not."""

    frame: int
    task: str
    file: str
    line: int
    labels: dict[str, Any] | None
    reason: str | None = None
    detail: str = ""


# ---------------------------------------------------------------------------------------------
# Frames -> samples and rejects
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    root: Path
    image_root: Path
    edition: str
    audio_root: Path | None = None
    fps: float = 30.0
    encoding: str | None = None  # of label files without a byte-order mark

    def audio_of(self, video: str) -> Path | None:
        """The source video's audio: the first of ``<source video><suffix>`` in the audio
        folder, suffixes in :data:`AUDIO_SUFFIXES` order (a WAV before the video), or None."""
        if self.audio_root is None:
            return None
        return _audio_file(self.audio_root, _source_video(video))


@functools.lru_cache(maxsize=64)
def _audio_file(audio_root: Path, source_video: str) -> Path | None:
    for suffix in AUDIO_SUFFIXES:
        path = audio_root / f"{source_video}{suffix}"
        if path.is_file():
            return path
    return None


def _source_video(video: str) -> str:
    match = _SIDE.match(video)
    return match.group("source") if match else video


def _emit(
    ctx: _Context,
    split: str,
    video: str,
    frame: int,
    parts: list[_Part],
    image: Path,
    exists: bool,
) -> Iterator[Sample | Reject]:
    """The Sample and/or Rejects of one frame, from its parts (sorted VA, EXPR, AU)."""
    key = safe_key(video, frame)
    valid = [part for part in parts if part.labels is not None]
    kept = bool(valid) and exists
    if valid and not exists:
        where = ", ".join(f"{p.file} line {p.line}" for p in valid)
        yield Reject(
            DATASET,
            split,
            valid[0].file,
            valid[0].line,
            MISSING_IMAGE,
            f"no face image {relative(image, ctx.root)} for frame {frame} (labelled in {where})",
            key=key,
        )
    if kept:
        labels: dict[str, Any] = {}
        for part in valid:
            labels.update(part.labels or {})
        yield Sample(
            dataset=DATASET,
            split=split,
            key=key,
            image=image,
            source_path=relative(image, ctx.root),
            labels=labels,
            subject=_source_video(video),
            video=video,
            frame=frame,
            face=FaceHint("aligned"),
            origin=(valid[0].file, valid[0].line),
            extra={"edition": ctx.edition, "source_video": _source_video(video)},
            audio=(audio := ctx.audio_of(video)),
            audio_time=None if audio is None else (frame - 1) / ctx.fps,
        )
    for part in parts:
        if part.labels is None and part.reason is not None:
            task = part.task if kept else None
            yield Reject(DATASET, split, part.file, part.line, part.reason, part.detail, task, key)


# ---------------------------------------------------------------------------------------------
# Uni-task layouts
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TaskFile:
    task: str
    path: Path
    rel: str
    header_line: int
    spec: Any


def _split_folders(task_dir: Path, root: Path) -> dict[str, Path]:
    folders: dict[str, Path] = {}
    for folder in list_dirs(task_dir):
        split = canonical_split(folder.name)
        if split is None:
            continue
        if split in folders:
            raise ScanError(
                f"{relative(task_dir, root)}: two folders for split {split!r}: "
                f"{folders[split].name!r} and {folder.name!r}"
            )
        folders[split] = folder
    if not folders:
        raise ScanError(
            f"{relative(task_dir, root)}: no split folder; expected Train_Set (or Training_Set) "
            "and Validation_Set"
        )
    return folders


def _task_plan(
    ctx: _Context, layout: _Layout, splits: Sequence[str] | None
) -> list[tuple[str, str, list[_TaskFile]]]:
    """(split, video, files) per video, with every header checked up front."""
    per_task = {task: _split_folders(d, ctx.root) for task, d in layout.task_dirs.items()}
    available = {split for folders in per_task.values() for split in folders}
    plan = []
    for split in _select_splits(available, splits, layout.describe()):
        videos: dict[str, list[_TaskFile]] = {}
        for task in TASKS:
            folder = per_task.get(task, {}).get(split)
            for path in list_files(folder) if folder else []:
                if path.suffix.lower() != ".txt":
                    continue
                rel = relative(path, ctx.root)
                header_line, fields = _read_header(path, rel, ctx.encoding)
                spec = _HEADERS[task](fields, ctx.edition, rel)
                files = videos.setdefault(path.stem, [])
                if any(other.task == task for other in files):
                    raise ScanError(f"{rel}: a second {_TASK_TITLE[task]} file for {path.stem}")
                files.append(_TaskFile(task, path, rel, header_line, spec))
        plan += [(split, video, videos[video]) for video in sorted(videos)]
    return plan


def _read_parts(file: _TaskFile, encoding: str | None) -> Iterator[_Part]:
    """The parts of one per-video file in frame order (line ``header + k`` is frame ``k``)."""
    previous = file.header_line
    parse = _PARSERS[file.task]
    title = _TASK_TITLE[file.task]
    for number, text in read_lines(file.path, encoding):
        if number <= file.header_line:
            continue
        for blank in range(previous + 1, number):
            frame = blank - file.header_line
            detail = f"blank line: frame {frame} has no {title} value in this file"
            yield _Part(frame, file.task, file.rel, blank, None, MALFORMED_ROW, detail)
        previous = number
        labels, reason, detail = parse(split_fields(text), file.spec)
        yield _Part(number - file.header_line, file.task, file.rel, number, labels, reason, detail)


def _scan_video(
    ctx: _Context, split: str, video: str, files: list[_TaskFile]
) -> Iterator[Sample | Reject]:
    folder = ctx.image_root / video
    frames = list_frames(folder)
    streams = [_read_parts(file, ctx.encoding) for file in files]
    merged = heapq.merge(*streams, key=lambda part: (part.frame, _TASK_ORDER[part.task]))
    labelled: set[int] = set()
    for frame, group in itertools.groupby(merged, key=lambda part: part.frame):
        labelled.add(frame)
        found = frames.by_number.get(frame)
        image = found or folder / f"{frame:05d}.jpg"
        yield from _emit(ctx, split, video, frame, list(group), image, found is not None)
    files_text = ", ".join(file.rel for file in files)
    for frame in sorted(set(frames.by_number) - labelled):
        rel = relative(frames.by_number[frame], ctx.root)
        detail = f"frame {frame} has no line in the {split} files of {video} ({files_text})"
        yield Reject(DATASET, split, rel, None, NO_LABEL, detail, key=safe_key(video, frame))
    for path in frames.unnumbered:
        detail = f"image name {path.name!r} is not a frame number, so no label line can name it"
        yield Reject(DATASET, split, relative(path, ctx.root), None, NO_LABEL, detail)
    for path, kept in frames.duplicates:
        detail = f"a second image for frame {int(path.stem)}; {kept.name} is used"
        yield Reject(DATASET, split, relative(path, ctx.root), None, DUPLICATE, detail)


def _scan_tasks(ctx: _Context, plan: list[tuple[str, str, list[_TaskFile]]]) -> Iterator:
    for split, video, files in plan:
        yield from _scan_video(ctx, split, video, files)


# ---------------------------------------------------------------------------------------------
# MTL lists
# ---------------------------------------------------------------------------------------------


def _mtl_plan(
    ctx: _Context, layout: _Layout, splits: Sequence[str] | None
) -> list[tuple[str, Path, str, int, tuple[int, ...]]]:
    plan = []
    for split in _select_splits(layout.mtl_files, splits, layout.describe()):
        path = layout.mtl_files[split]
        rel = relative(path, ctx.root)
        header_line, fields = _read_header(path, rel, ctx.encoding)
        plan.append((split, path, rel, header_line, _mtl_header(fields, ctx.edition, rel)))
    return plan


def _mtl_parts(fields: list[str], rel: str, line: int, frame: int, aus: tuple[int, ...]) -> list:
    pieces = (("va", fields[1:3], None), ("expr", fields[3:4], EXPR_CLASSES["mtl"]))
    parts = [_Part(frame, task, rel, line, *_PARSERS[task](f, spec)) for task, f, spec in pieces]
    parts.append(_Part(frame, "au", rel, line, *_parse_au(fields[4:], aus)))
    return parts


def _scan_mtl_file(
    ctx: _Context, split: str, path: Path, rel: str, header_line: int, aus: tuple[int, ...]
) -> Iterator[Sample | Reject]:
    seen: dict[str, int] = {}
    listing: tuple[Path | None, frozenset[str]] = (None, frozenset())
    for number, text in read_lines(path, ctx.encoding):
        if number <= header_line:
            continue
        fields = split_fields(text)
        if len(fields) != 4 + len(aus):
            detail = f"{len(fields)} fields, expected {4 + len(aus)} (image,valence,arousal,..."
            yield Reject(DATASET, split, rel, number, MALFORMED_ROW, detail + "expression,AUs)")
            continue
        image_path = Path(fields[0].replace("\\", "/"))
        if len(image_path.parts) < 2 or not image_path.stem.isdigit():
            detail = f"image {fields[0]!r} is not <video>/<frame>.jpg"
            yield Reject(DATASET, split, rel, number, MALFORMED_ROW, detail)
            continue
        video, frame = image_path.parent.name, int(image_path.stem)
        if fields[0] in seen:
            detail = f"image {fields[0]} already listed on line {seen[fields[0]]}"
            yield Reject(DATASET, split, rel, number, DUPLICATE, detail, key=safe_key(video, frame))
            continue
        seen[fields[0]] = number
        image = ctx.image_root / image_path
        if listing[0] != image.parent:  # the list is grouped by video: one listing per video
            listing = (image.parent, frozenset(list_images(image.parent)))
        parts = _mtl_parts(fields, rel, number, frame, aus)
        yield from _emit(ctx, split, video, frame, parts, image, image.name in listing[1])


def _scan_mtl(ctx: _Context, plan: list) -> Iterator[Sample | Reject]:
    for split, path, rel, header_line, aus in plan:
        yield from _scan_mtl_file(ctx, split, path, rel, header_line, aus)


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def scan(
    root: Path,
    splits: Sequence[str] | None = None,
    *,
    images: str | Path | None = None,
    edition: str | None = None,
    va_rule: str = "both",
    audio: str | Path | None = None,
    fps: float | str = 30.0,
    encoding: str | None = None,
) -> Iterator[Sample | Reject]:
    """Scan an Aff-Wild2 copy: one Sample per labelled face image, Rejects for the rest.

    Args:
        root: a folder holding one or more annotation layouts (at most two folders down) and,
            unless ``images`` is given, ``cropped_aligned/<video>/<frame:05d>.jpg``.
        splits: canonical split names to read (``"train"``, ``"validation"``); None = all.
        images: the folder of ``<video>/<frame>.jpg`` face crops, if not ``root/cropped_aligned``.
        edition: ``"abaw1"``, ``"abaw2"``, ``"abaw3"`` or ``"mtl"``: the layout to read when
            several are present (required then).
        va_rule: only ``"both"``: a frame's VA is dropped when valence or arousal is -5.
        audio: a folder of audio tracks or of the videos themselves, named after the source
            videos (the ``_left``/``_right`` suffix stripped). For each source video the first
            file found is used, in this order: ``.wav``, ``.flac``, ``.ogg`` (extracted
            tracks), then ``.mp4``, ``.avi``, ``.mkv``, ``.webm``, ``.mov``, ``.m4a`` (the
            first audio stream, read with PyAV). Frame k (1-based) is at (k - 1) / ``fps``
            seconds; a video without a file gets no audio features, and a file without an
            audio stream is rejected for the audio task when the shards are written.
        fps: the videos' frame rate for that alignment (default 30).
        encoding: the label files' text encoding when they have no byte-order mark (default
            UTF-8; see ``_parsing.encoding_option``).

    Returns:
        An iterator of Samples and Rejects (splits, then videos, then frames, in order).

    Raises:
        ValueError: an unknown ``edition`` or ``va_rule``.
        ScanError: no layout, several layouts and no ``edition``, a missing image folder, an
            unknown split, an empty file, an unknown header or ``encoding`` (all checked before
            the first record is yielded); a line that does not decode.
    """
    chosen = _check_options(edition, va_rule)
    root = Path(root).absolute()
    image_root = _image_root(root, images)
    layout = _choose_layout(_find_layouts(root, image_root), chosen, root)
    audio_root = None if audio is None else option_path(root, audio)
    if audio_root is not None and not audio_root.is_dir():
        raise ScanError(f"affwild2 option audio: {audio_root} is not a folder of audio tracks")
    rate = option_float(fps, "fps", DATASET, allowed=lambda v: v > 0, expected="a frame rate > 0")
    encoding = encoding_option(encoding, DATASET)
    ctx = _Context(root, image_root, layout.edition, audio_root, rate, encoding)
    if layout.mtl_files:
        return _scan_mtl(ctx, _mtl_plan(ctx, layout, splits))
    return _scan_tasks(ctx, _task_plan(ctx, layout, splits))


ADAPTER = Adapter(
    name=DATASET,
    version="1",
    scan=scan,
    description=(
        "Aff-Wild2 (ABAW1-ABAW6+ uni-task VA/EXPR/AU files, ABAW3 MTL and s-Aff-Wild2 lists) over "
        "cropped_aligned face crops"
    ),
    conventions={
        "audio": "with --option audio=DIR: the first of <source video>.wav/.flac/.ogg/.mp4/"
        ".avi/.mkv/.webm/.mov/.m4a (a video's first audio stream); frame k (1-based) at "
        "(k - 1) / fps seconds; a video without a file gets no audio features",
        "va_rule": "both: a frame's VA is dropped (invalid_marker, task va) when valence or "
        "arousal is -5",
        "frames": "line k+1 of a per-video file is frame k (1-based), image <video>/<k:05d>.jpg; "
        "files are joined on frame number, never by position after filtering",
        "merge": "one record per (split, video, frame) across the VA, EXPR and AU files of that "
        "split; origin = first valid row in VA, EXPR, AU order",
        "expr": "ABAW index order 0-6 neutral, anger, disgust, fear, happiness, sadness, "
        "surprise; 7 = other (ABAW3+, MTL); -1 = not annotated",
        "au": "the AU columns of each file's header; a row with any -1 is invalid as a whole",
        "missing_image": "a labelled frame without a face image is rejected, never filled from a "
        "neighbouring frame",
        "subject": "subject = source video name (_left/_right stripped); unverified, Aff-Wild2 "
        "releases no subject ids",
        "no_label": "images of a labelled video that no file of the split labels are rejected; "
        "image folders of videos without annotation files, and images absent from MTL lists, "
        "are not reported",
    },
)
