"""AFEW-VA: per-frame valence/arousal and 68 landmarks on 600 film clips.

Reads clip folders ``ROOT/<clip>/``, or ``ROOT/<part>/<clip>/`` when the release's zip parts
``01`` ... ``12`` were unpacked into their own folders (both layouts, even mixed, are accepted; a
folder with neither frames nor JSON but with sub-folders is taken as a part folder). A clip folder
holds frames ``00000.png``, ``00001.png``, ... (0-based; ``.jpg`` accepted) and exactly one JSON
file (``<clip>.json`` in the release, name unverified, so any single ``*.json`` is read)::

    {"frames": {"00000": {"valence": 3, "arousal": -2, "landmarks": [[x, y], ... 68]}, ...}}

(reference/datasets.md §10). Mapping:

- valence/arousal are integers in [-10, 10]; the canonical VA is the value / 10 and the native
  pair is kept in ``extra["native_va"]``. A value that is not an integer is ``MALFORMED_ROW``,
  one outside [-10, 10] is ``OUT_OF_RANGE``; VA is the only label, so the frame is rejected.
- face: ``FaceHint("landmarks")`` from the frame's 68 landmarks (frames are full film frames).
  A frame without 68 numeric (x, y) pairs is ``MALFORMED_ROW``: without face geometry its VA
  cannot be used.
- ``frame`` = int(frame id); ``video`` = ``subject`` = the clip folder name (AFEW-VA has no subject
  ids; a clip is the finest identity unit it gives). A JSON ``"actor"`` string, when present, is
  kept in ``extra["actor"]``.

Frames are joined by number, never by position: a JSON frame without an image is
``MISSING_IMAGE``, an image without a JSON entry is ``NO_LABEL``. A JSON file that does not parse
(or lacks the ``frames`` dict) is one ``MALFORMED_ROW`` reject, and its clip's images are
``NO_LABEL``. Rejects of JSON entries have ``line=None`` and name the frame id in ``detail``.

Splits: none official. ``folds=0`` (default) puts everything in ``train``; ``folds=k`` assigns the
clips, sorted by folder name, to ``fold1`` ... ``foldk`` in k contiguous near-equal parts (the
first ``n % k`` folds get one clip more), after Aspandi et al.'s 5-fold protocol. ``holdout=K``
with ``folds=k`` names fold K ``validation`` and the other folds ``train``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from holistic.data.adapters._base import (
    DUPLICATE,
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
from holistic.data.adapters._files import list_dirs, list_frames
from holistic.data.adapters._parsing import encoding_option, option_int, read_text, relative

__all__ = ["ADAPTER", "assign_folds", "scan"]

DATASET = "afewva"
SCALE = 10
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")  # preference order when a frame has two files
_NUMBER = re.compile(r"[0-9]+")


def scan(
    root: Path,
    splits: Sequence[str] | None = None,
    *,
    folds: int | str = 0,
    holdout: int | str = 0,
    encoding: str | None = None,
) -> Iterator[Sample | Reject]:
    """Yield a Sample or Reject for every frame entry and every frame image of every clip.

    Args:
        root: the AFEW-VA root holding the clip folders (or the zip-part folders).
        splits: ``["train"]`` without folds, fold names (``"fold1"``...) with them,
            ``"train"``/``"validation"`` with ``holdout``; None: all.
        folds: 0 for no folds (everything ``train``), else the number of folds (>= 2) into
            which the sorted clips are cut; strings are accepted (``--option folds=5``).
        holdout: 0 (default) keeps the fold names; K in 1..``folds`` makes fold K the
            ``validation`` split and every other fold ``train``.
        encoding: the JSON files' text encoding when they have no byte-order mark (default
            UTF-8; see ``_parsing.encoding_option``).

    Raises:
        ScanError: no clip folder, a clip folder without exactly one JSON file, two clip
            folders with one name, ``folds`` not 0 or an integer >= 2, ``holdout`` not 0 or a
            fold number of ``folds``, fewer clips than folds, an unknown split name or
            ``encoding``. Raised before the first item is yielded. Later: a JSON file that does
            not decode.
    """
    root = Path(os.path.abspath(root))
    count = option_int(
        folds,
        "folds",
        DATASET,
        allowed=lambda number: number == 0 or number >= 2,
        expected="0 (no folds) or an integer >= 2",
    )
    held_out = option_int(
        holdout,
        "holdout",
        DATASET,
        allowed=lambda number: number == 0 or 1 <= number <= count,
        expected=(
            f"0 (no holdout) or a fold number in 1..{count} (folds={count})"
            if count
            else "0 without folds (holdout=K needs folds=k, k >= 2)"
        ),
    )
    encoding = encoding_option(encoding, DATASET)
    clips = _find_clips(root)
    split_of = assign_folds([name for name, _, _ in clips], count, holdout=held_out)
    available = list(dict.fromkeys(split_of.values()))
    if splits is not None:
        unknown = [split for split in splits if split not in available]
        if unknown:
            raise ScanError(f"afewva: unknown split(s) {unknown}; available: {available}")
    for name, folder, json_path in clips:
        if splits is None or split_of[name] in splits:
            yield from _scan_clip(root, name, folder, json_path, split_of[name], encoding)


# ---------------------------------------------------------------------------------------------
# Clips and folds
# ---------------------------------------------------------------------------------------------


def assign_folds(clips: Sequence[str], folds: int, *, holdout: int = 0) -> dict[str, str]:
    """Clip name -> split: ``train`` for all when ``folds == 0``, else ``fold1``..``fold<k>``;
    with ``holdout`` = K (1..``folds``), fold K is ``validation`` and the others ``train``.

    The clips are sorted by name and cut into ``folds`` contiguous parts whose sizes differ by at
    most one (the first ``len(clips) % folds`` parts are the larger ones).

    Raises:
        ScanError: fewer clips than folds; ``holdout`` not 0 or a fold number.
    """
    if holdout and not 1 <= holdout <= folds:
        raise ScanError(
            f"afewva: holdout={holdout} is not a fold number: expected 0 or 1..{folds} "
            f"(folds={folds})"
        )
    ordered = sorted(clips)
    if folds == 0:
        return {clip: "train" for clip in ordered}
    if len(ordered) < folds:
        raise ScanError(f"afewva: folds={folds} needs at least {folds} clips, found {len(ordered)}")
    size, larger = divmod(len(ordered), folds)
    split_of: dict[str, str] = {}
    start = 0
    for fold in range(folds):
        end = start + size + (1 if fold < larger else 0)
        name = f"fold{fold + 1}"
        if holdout:
            name = "validation" if fold + 1 == holdout else "train"
        split_of.update({clip: name for clip in ordered[start:end]})
        start = end
    return split_of


def _holds_clip_files(folder: Path) -> bool:
    return any(
        child.is_file() and child.suffix.lower() in (".json", *FRAME_SUFFIXES)
        for child in folder.iterdir()
    )


def _find_clips(root: Path) -> list[tuple[str, Path, Path]]:
    """(clip name, folder, JSON file), sorted by clip name, from ``ROOT/<clip>`` and
    ``ROOT/<part>/<clip>``; every clip folder is checked here, before anything is yielded."""
    clips: dict[str, Path] = {}
    for child in list_dirs(root):
        is_part = not _holds_clip_files(child) and bool(list_dirs(child))
        for folder in list_dirs(child) if is_part else [child]:
            if folder.name in clips:
                raise ScanError(
                    f"{root}: two clip folders named {folder.name!r} "
                    f"({relative(clips[folder.name], root)} and {relative(folder, root)})"
                )
            clips[folder.name] = folder
    if not clips:
        raise ScanError(
            f"{root}: no AFEW-VA clip folder; expected ROOT/<clip>/ or ROOT/<part>/<clip>/ "
            "folders holding 00000.png ... and one .json file"
        )
    return [(name, folder, _json_file(folder, root)) for name, folder in sorted(clips.items())]


# ---------------------------------------------------------------------------------------------
# One clip
# ---------------------------------------------------------------------------------------------


def _json_file(folder: Path, root: Path) -> Path:
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".json")
    if len(found) != 1:
        raise ScanError(
            f"{relative(folder, root)}: expected exactly one .json annotation file in the clip "
            f"folder, found {len(found)}{' ' + str([p.name for p in found]) if found else ''}"
        )
    return found[0]


def _load_frames(path: Path, encoding: str | None) -> tuple[dict[str, Any] | None, str | None, str]:
    """(frames dict, actor, problem): frames is None when the file is unusable.

    Raises:
        ScanError: the file does not decode (a wrong ``encoding`` concerns every clip).
    """
    try:
        document = json.loads(read_text(path, encoding))
    except json.JSONDecodeError as error:
        return None, None, f"not valid JSON ({error})"
    if not isinstance(document, dict) or not isinstance(document.get("frames"), dict):
        return None, None, 'expected an object with a "frames" object keyed by frame id'
    actor = document.get("actor")
    return document["frames"], actor if isinstance(actor, str) else None, ""


def _scan_clip(
    root: Path, clip: str, folder: Path, json_path: Path, split: str, encoding: str | None
) -> Iterator[Sample | Reject]:
    json_rel = relative(json_path, root)
    frames = list_frames(folder, FRAME_SUFFIXES)
    images = frames.by_number

    def reject(reason: str, detail: str, file: str = json_rel, key: str | None = None) -> Reject:
        return Reject(DATASET, split, file, None, reason, detail, None, key)

    for extra_image, kept in frames.duplicates:
        detail = f"a second image for frame {kept.stem}; {kept.name} is used"
        yield reject(DUPLICATE, detail, relative(extra_image, root))
    for path in frames.unnumbered:
        yield reject(
            NO_LABEL, f"{path.name} is not a frame image (NNNNN.png)", relative(path, root)
        )

    frames, actor, problem = _load_frames(json_path, encoding)
    if frames is None:
        yield reject(MALFORMED_ROW, f"{problem}; the clip's {len(images)} frame images are unused")
        for number in sorted(images):
            yield reject(NO_LABEL, "the clip's JSON is unusable", relative(images[number], root))
        return

    entries: dict[int, tuple[str, Any]] = {}
    for frame_id, entry in frames.items():
        if not _NUMBER.fullmatch(frame_id.strip()):
            yield reject(MALFORMED_ROW, f"frame id {frame_id!r} is not a frame number")
        elif int(frame_id) in entries:
            detail = f"frame {frame_id}: frame {entries[int(frame_id)][0]} has the same number"
            yield reject(DUPLICATE, detail, key=safe_key(clip, f"{int(frame_id):05d}"))
        else:
            entries[int(frame_id)] = (frame_id, entry)

    for number in sorted(entries.keys() | images.keys()):
        key = safe_key(clip, f"{number:05d}")
        if number not in entries:
            detail = f"frame {number:05d} has no entry in {json_path.name}"
            yield reject(NO_LABEL, detail, relative(images[number], root), key)
            continue
        frame_id, entry = entries[number]
        va, native, problem = _valence_arousal(entry)
        landmarks, landmark_problem = _landmarks(entry)
        if va is None or landmarks is None:
            problems = [p for p in (problem, landmark_problem) if p is not None]
            reason = problems[0][0]
            details = "; ".join(p[1] for p in problems)
            if landmarks is None:
                details += " (without face geometry the frame's VA cannot be used)"
            yield reject(reason, f"frame {frame_id}: {details}", key=key)
            continue
        if number not in images:
            where = relative(folder, root)
            detail = f"frame {frame_id}: no image {number:05d}.png/.jpg in {where}"
            yield reject(MISSING_IMAGE, detail, key=key)
            continue
        extra: dict[str, Any] = {"native_va": native}
        if actor is not None:
            extra["actor"] = actor
        yield Sample(
            dataset=DATASET,
            split=split,
            key=key,
            image=images[number],
            source_path=relative(images[number], root),
            labels={"va": va},
            subject=clip,
            video=clip,
            frame=number,
            face=FaceHint("landmarks", landmarks=landmarks),
            origin=(json_rel, None),
            extra=extra,
        )


# ---------------------------------------------------------------------------------------------
# One frame entry
# ---------------------------------------------------------------------------------------------

Problem = tuple[str, str]  # (reason, detail)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _valence_arousal(entry: Any) -> tuple[list[float] | None, list[int] | None, Problem | None]:
    """(canonical [v, a], native [v, a], problem)."""
    if not isinstance(entry, dict):
        return None, None, (MALFORMED_ROW, f"entry {entry!r} is not an object")
    values = [entry.get("valence"), entry.get("arousal")]
    if not all(_is_number(value) and float(value).is_integer() for value in values):
        detail = f"valence {values[0]!r}, arousal {values[1]!r}: expected integers in [-10, 10]"
        return None, None, (MALFORMED_ROW, detail)
    native = [int(value) for value in values]
    if not all(-SCALE <= value <= SCALE for value in native):
        detail = f"valence {native[0]}, arousal {native[1]}: outside [-10, 10]"
        return None, None, (OUT_OF_RANGE, detail)
    return [value / SCALE for value in native], native, None


def _landmarks(entry: Any) -> tuple[np.ndarray | None, Problem | None]:
    points = entry.get("landmarks") if isinstance(entry, dict) else None
    if points is None:
        return None, (MALFORMED_ROW, "no landmarks")
    if (
        not isinstance(points, list)
        or len(points) != 68
        or not all(
            isinstance(point, list) and len(point) == 2 and all(map(_is_number, point))
            for point in points
        )
    ):
        return None, (MALFORMED_ROW, "landmarks are not 68 numeric [x, y] pairs")
    return np.asarray(points, dtype=np.float64), None


ADAPTER = Adapter(
    name=DATASET,
    version="1",
    scan=scan,
    description=(
        "AFEW-VA: 600 film clips, per-frame integer valence/arousal in [-10, 10] and 68 "
        "landmarks; clips at the root or under zip-part folders 01..12."
    ),
    conventions={
        "va": "integers in [-10, 10] divided by 10; native pair in extra['native_va']; "
        "non-integer -> malformed_row, outside [-10, 10] -> out_of_range",
        "face": "68 landmarks from the JSON; missing or malformed landmarks -> malformed_row "
        "(the frame's VA is lost)",
        "subject": "the clip name (AFEW-VA has no subject ids); video = clip name",
        "json": "any single *.json in the clip folder (name unverified)",
        "splits": "folds=0: all 'train'; folds=k: clips sorted by name cut into k contiguous "
        "near-equal parts fold1..foldk (after Aspandi et al.); holdout=K with folds=k: fold K "
        "is 'validation', the other folds 'train'",
    },
)
