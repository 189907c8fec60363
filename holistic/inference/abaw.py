"""ABAW challenge submission files from a prediction table (reference/datasets.md §3.3, §3.6;
relatedness.md §5).

:func:`write_submission` turns the table of ``holistic predict`` on Aff-Wild2 (or C-EXPR-DB)
videos (columns: :mod:`holistic.inference.columns`) into the files one ABAW edition
(:data:`holistic.metrics.challenge.EDITIONS`) asks for. Layout under ``out_dir``:

=======================  ======================================================================
file                     content
=======================  ======================================================================
VA folder/<video>.txt    ``valence,arousal``, then one ``<v>,<a>`` line per frame (6 decimals)
EXPR folder/<video>.txt  ``Neutral,...,Surprise`` (ABAW1/2) or the same plus ``,Other`` (ABAW3
                         on), then one class index per frame, in that header's order
AU folder/<video>.txt    ``AU1,AU2,...`` (the edition's AUs, in its order), then one line of
                         comma-separated 0/1 per frame
MTL_Challenge/           (editions with an MTL track: ABAW3, 4, 7) one file for every video:
predictions.txt          ``image,valence,arousal,expression,aus``, then
                         ``<video>/<frame:05d>.jpg,<v>,<a>,<expr>,<AU1>,...,<AU26>`` (16 fields)
Compound_Expression_     (ABAW6, 7) one file for every video: ``image_location,Fearfully_
Challenge/predictions    Surprised,...,Sadly_Angry``, then ``<video>/<frame:05d>.jpg,<index>``
.txt
=======================  ======================================================================

The task folders are named as in the edition's annotation release (§3.2): ``VA_Set``,
``EXPR_Set``, ``AU_Set`` for ABAW1/2; ``VA_Estimation_Challenge``,
``EXPR_Classification_Challenge``, ``AU_Detection_Challenge`` from ABAW3. Placed under a split
folder (``Validation_Set``), a submission reads back with the Aff-Wild2 adapter, which is how the
tests check it. ``<video>`` is the stem of the table's ``input`` (``10-60-1280x720_right.mp4``
-> ``10-60-1280x720_right``): run ``holistic predict`` on videos named as the challenge names
them. Files of videos not in the table are left alone.

Frames: line ``k`` after the header is challenge frame ``k`` (1-based, image ``<k:05d>.jpg``),
which is the table's 0-based ``frame`` ``k - 1``. Every frame gets a line, up to the video's
last row in the table or ``frame_counts[video]``.

Decisions (each reported in the returned summary):

- **One face per video.** Each file annotates one person (two people are two videos, ``_left``
  and ``_right``), so one track is written: the ``face_id`` with predictions in the most frames
  (ties: the larger mean box, then the lower id). A track rather than the largest face per frame,
  because a per-frame choice can jump between people from one frame to the next; the track seen
  longest is the person the video is about. Frames where only other faces are seen are gaps.
- **Gaps** (frames with no face, error rows, frames skipped by ``--every N``, trailing frames):
  each task takes the value of the nearest frame with a prediction for it (the earlier one on a
  tie), so a gap is carried forward and backward from both sides. A video with no prediction for
  a task gets neutral values: valence and arousal 0, Neutral, no AU, and for compounds the
  class predicted most often in the whole table (compounds have no neutral; class 0 if none);
  the summary lists it and a warning says so.
- **Expressions** are mapped by name: the written class is the argmax of the ``expr_<name>``
  probabilities over the edition's classes that the model has. Classes of the model the edition
  lacks (contempt) are ignored; edition classes the model lacks (other) are never written.
- **AUs** are the ``AUxx_c`` occurrences (the model's thresholds). An edition AU without its
  ``_c`` column is an error unless ``zero_missing_aus=True`` writes 0 for it.
- **Compounds** (ABAW6/7) are the argmax over the 7 ABAW classes of the ``compound_<name>``
  probabilities; the table must have all 7.
- **MTL** rows list every frame of every video. ABAW4 and ABAW7 score s-Aff-Wild2, a subset of
  frames: keep only the rows of the organisers' test list before submitting.

Every file is written to a temporary file in its folder, then renamed over the target
(``os.replace``), so an interrupted run leaves whole files only. All checks run before the first
file is written.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from holistic.data.atomic import write_atomic
from holistic.inference.columns import (
    BOX_COLUMNS,
    au_numbers,
    compound_column,
    compound_names,
    expression_column,
    expression_names,
    occurrence_column,
)
from holistic.metrics.challenge import Edition, resolve_edition
from holistic.schema import AU_VOCABULARIES, COMPOUND_VOCABULARIES, EXPRESSION_VOCABULARIES

__all__ = ["COMPOUND_EDITIONS", "COMPOUND_VOCABULARY", "SUBMISSION_TASKS", "write_submission"]

#: What :func:`write_submission` can write: the uni-task files, the MTL file, the compound file.
SUBMISSION_TASKS: tuple[str, ...] = ("va", "expr", "au", "mtl", "compound")
#: Editions with a compound-expression track (relatedness.md §5).
COMPOUND_EDITIONS: tuple[str, ...] = ("abaw6", "abaw7")
#: The compound classes of that track, in submission index order 0-6.
COMPOUND_VOCABULARY: tuple[str, ...] = COMPOUND_VOCABULARIES["abaw_compound7"]

_UNI_TASKS = ("va", "expr", "au")
_EARLY_FOLDERS = {"va": "VA_Set", "expr": "EXPR_Set", "au": "AU_Set"}
_LATE_FOLDERS = {
    "va": "VA_Estimation_Challenge",
    "expr": "EXPR_Classification_Challenge",
    "au": "AU_Detection_Challenge",
}
_MTL_FILE = "MTL_Challenge/predictions.txt"
_COMPOUND_FILE = "Compound_Expression_Challenge/predictions.txt"


def _title(name: str) -> str:
    """``happily_surprised`` -> ``Happily_Surprised``; ``neutral`` -> ``Neutral``."""
    return "_".join(word.capitalize() for word in name.split("_"))


def _folders(ed: Edition) -> dict[str, str]:
    return _EARLY_FOLDERS if ed.name in ("abaw1", "abaw2") else _LATE_FOLDERS


def _edition_tasks(ed: Edition) -> tuple[str, ...]:
    extra = (("mtl",) if ed.mtl_track else ()) + (
        ("compound",) if ed.name in COMPOUND_EDITIONS else ()
    )
    return (*_UNI_TASKS, *extra)


# ---------------------------------------------------------------------------------------------
# Reading the table: one extractor per task
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    """How one task's values come out of the table's rows.

    ``values(table)`` gives ``[rows, width]`` (float for VA, int otherwise) and a validity
    mask ``[rows]`` (all of the task's columns finite); ``neutral`` is the fill of a video
    without any prediction.
    """

    name: str
    columns: tuple[str, ...]
    neutral: np.ndarray
    classes: tuple[str, ...] = ()  # expr/compound: the written classes; au: the AU numbers
    zero_columns: tuple[int, ...] = ()  # au: positions written as 0 (AUs the model lacks)

    def values(self, table: Any) -> tuple[np.ndarray, np.ndarray]:
        raw = np.stack(
            [table[c].to_numpy(dtype=float, na_value=np.nan) for c in self.columns], axis=1
        ).reshape(len(table), len(self.columns))
        valid = np.isfinite(raw).all(axis=1)
        if self.name == "va":
            return np.clip(np.nan_to_num(raw), -1.0, 1.0), valid
        if self.name == "au":
            width = len(self.classes)
            out = np.zeros((len(table), width), dtype=np.int64)
            keep = [i for i in range(width) if i not in self.zero_columns]
            out[:, keep] = (np.nan_to_num(raw) >= 0.5).astype(np.int64)
            return out, valid
        # expr, compound: the argmax among the columns, mapped to the written class index.
        index = np.array([self.classes.index(c) for c in self._names()], dtype=np.int64)
        best = np.argmax(np.where(np.isfinite(raw), raw, -np.inf), axis=1)
        return index[best][:, None], valid

    def _names(self) -> list[str]:
        prefix = "expr_" if self.name == "expr" else "compound_"
        return [c.removeprefix(prefix) for c in self.columns]


def _va_task(columns: Sequence[str]) -> _Task | str:
    missing = [c for c in ("valence", "arousal") if c not in columns]
    if missing:
        return f"the table has no {' and '.join(missing)} column (a model with a VA head)"
    return _Task("va", ("valence", "arousal"), np.zeros(2))


def _expr_task(columns: Sequence[str], ed: Edition) -> _Task | str:
    classes = EXPRESSION_VOCABULARIES[ed.expr_vocabulary]
    model = expression_names(columns)
    if not model:
        return "the table has no expr_<name> columns (a model with an expression head)"
    have = tuple(name for name in classes if name in model)
    if not have:
        raise ValueError(
            f"expr: the table's expressions {model} share no class with {ed.name}'s "
            f"{list(classes)}; use a model whose expression vocabulary names these classes"
        )
    columns_ = tuple(expression_column(name) for name in have)
    return _Task("expr", columns_, np.zeros(1, dtype=np.int64), classes)


def _au_task(columns: Sequence[str], ed: Edition, zero_missing_aus: bool) -> _Task | str:
    aus = AU_VOCABULARIES[ed.au_vocabulary]
    present = [au for au in aus if occurrence_column(au) in columns]
    if not present and not au_numbers(columns):
        return "the table has no AUxx / AUxx_c columns (a model with an AU head)"
    missing = [au for au in aus if au not in present]
    if missing and not zero_missing_aus:
        names = ", ".join(occurrence_column(au) for au in missing)
        raise ValueError(
            f"au: {ed.name} scores AUs {list(aus)}; the table has no occurrence column "
            f"{names}. Use a model that predicts them, or pass zero_missing_aus=True to write "
            "0 (absent) for them"
        )
    zero = tuple(i for i, au in enumerate(aus) if au in missing)
    used = tuple(occurrence_column(au) for au in present)
    classes = tuple(str(au) for au in aus)
    return _Task("au", used, np.zeros(len(aus), dtype=np.int64), classes, zero)


def _compound_task(columns: Sequence[str]) -> _Task | str:
    model = compound_names(columns)
    if not model:
        return "the table has no compound_<name> columns (a model with a compound head)"
    missing = [c for c in COMPOUND_VOCABULARY if c not in model]
    if missing:
        return (
            f"the table's compound columns lack {', '.join(compound_column(c) for c in missing)}"
            f" of the ABAW compound classes {list(COMPOUND_VOCABULARY)}"
        )
    columns_ = tuple(compound_column(c) for c in COMPOUND_VOCABULARY)
    return _Task("compound", columns_, np.zeros(1, dtype=np.int64), COMPOUND_VOCABULARY)


def _plan_tasks(
    columns: Sequence[str], ed: Edition, tasks: Sequence[str] | None, zero_missing_aus: bool
) -> tuple[list[str], dict[str, _Task], dict[str, str]]:
    """(tasks to write, extractors by task, skipped task -> reason)."""
    offered = _edition_tasks(ed)
    if tasks is not None:
        if isinstance(tasks, str):
            tasks = [tasks]
        unknown = [t for t in tasks if t not in SUBMISSION_TASKS]
        if unknown:
            raise ValueError(f"tasks: unknown {unknown}; expected some of {list(SUBMISSION_TASKS)}")
        absent = [t for t in tasks if t not in offered]
        if absent:
            raise ValueError(
                f"tasks: {ed.name} ({ed.venue}) has no {absent} track; its tasks are "
                f"{list(offered)}"
            )
    wanted = list(offered if tasks is None else dict.fromkeys(tasks))
    needed = {t for t in wanted if t in _UNI_TASKS}
    if "mtl" in wanted:
        needed |= set(_UNI_TASKS)
    found: dict[str, _Task | str] = {}
    if "va" in needed:
        found["va"] = _va_task(columns)
    if "expr" in needed:
        found["expr"] = _expr_task(columns, ed)
    if "au" in needed:
        found["au"] = _au_task(columns, ed, zero_missing_aus)
    if "compound" in wanted:
        found["compound"] = _compound_task(columns)
    reasons = {t: r for t, r in found.items() if isinstance(r, str)}
    extractors = {t: r for t, r in found.items() if isinstance(r, _Task)}
    skipped: dict[str, str] = {}
    for task in wanted:
        parts = _UNI_TASKS if task == "mtl" else (task,)
        why = "; ".join(reasons[p] for p in parts if p in reasons)
        if not why:
            continue
        if tasks is not None:
            raise ValueError(
                f"{task}: cannot write the {ed.name} {task} file: {why}. Predict with a model "
                "that has this task, or leave it out of tasks="
            )
        skipped[task] = why
    chosen = [t for t in wanted if t not in skipped]
    if not chosen:
        raise ValueError(
            f"the table has the columns of none of {ed.name}'s tasks {list(offered)}: "
            + "; ".join(f"{t}: {r}" for t, r in skipped.items())
        )
    return chosen, extractors, skipped


# ---------------------------------------------------------------------------------------------
# Per video: the face track, the frame count, the filled values
# ---------------------------------------------------------------------------------------------


def _video_names(inputs: np.ndarray) -> np.ndarray:
    """The challenge video name (file stem) of each row; ValueError when two inputs share one."""
    names: dict[str, str] = {}
    for value in dict.fromkeys(inputs.tolist()):
        if not isinstance(value, str | os.PathLike) or not str(value):
            raise ValueError(f"input: expected a video path or name in every row, got {value!r}")
        stem = Path(value).stem
        if stem in names and names[stem] != value:
            raise ValueError(
                f"input: {names[stem]!r} and {value!r} are both video {stem!r}; the challenge "
                "names a video by its file stem, so write their tables separately"
            )
        names[stem] = value
    by_input = {value: stem for stem, value in names.items()}
    return np.array([by_input[value] for value in inputs.tolist()], dtype=object)


def _rows_by_video(video: np.ndarray) -> dict[str, np.ndarray]:
    """The row indices of each video, in table order (one pass, not one per video)."""
    if len(video) == 0:
        return {}
    names, inverse = np.unique(video.astype(str), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=len(names)))[:-1]
    return dict(zip(names.tolist(), np.split(order, bounds), strict=True))


def _error_rows(table: Any) -> np.ndarray:
    if "error" not in table.columns:
        return np.zeros(len(table), dtype=bool)
    return np.array([isinstance(e, str) and e != "" for e in table["error"].tolist()], dtype=bool)


def _choose_face(face_ids: np.ndarray, frames: np.ndarray, area: np.ndarray) -> tuple[int, int]:
    """(chosen face_id, number of tracks) among rows with predictions; -1 when there are none."""
    tracks = np.unique(face_ids)
    if len(tracks) == 0:
        return -1, 0
    key = []
    for track in tracks:
        mine = face_ids == track
        size = float(np.nanmean(area[mine])) if np.isfinite(area[mine]).any() else 0.0
        key.append((-len(np.unique(frames[mine])), -size, int(track)))
    return min(key)[2], len(tracks)


def _nearest(known: np.ndarray, count: int) -> np.ndarray:
    """For frames 0..count-1, the index into sorted ``known`` of the nearest known frame
    (the earlier one on a tie)."""
    frames = np.arange(count)
    after = np.clip(np.searchsorted(known, frames), 0, len(known) - 1)
    before = np.clip(after - 1, 0, len(known) - 1)
    use_before = np.abs(frames - known[before]) <= np.abs(known[after] - frames)
    return np.where(use_before, before, after)


@dataclass
class _Video:
    name: str
    count: int
    face_id: int | None
    faces: int
    values: dict[str, np.ndarray]  # task -> [count, width]
    filled: dict[str, int]
    without: list[str]  # tasks with no prediction at all


def _fill(
    task: _Task, frames: np.ndarray, values: np.ndarray, valid: np.ndarray, count: int
) -> tuple[np.ndarray, int]:
    """[count, width] values of every frame, and how many were filled."""
    frames, values = frames[valid], values[valid]
    if len(frames) == 0:
        return np.repeat(task.neutral[None, :], count, axis=0), count
    # One row per frame: the rows are sorted by (frame, -score), so the first is the best.
    frames, first = np.unique(frames, return_index=True)
    values = values[first]
    return values[_nearest(frames, count)], count - len(frames)


def _column(table: Any, columns: Sequence[str], name: str, default: float) -> np.ndarray:
    """A numeric column as float with NaN for missing values; ``default`` when it is absent."""
    if name not in columns:
        return np.full(len(table), default)
    return table[name].to_numpy(dtype=float, na_value=np.nan)


def _collect_videos(
    table: Any,
    columns: Sequence[str],
    frame: np.ndarray,
    groups: Mapping[str, np.ndarray],
    counts: Mapping[str, int],
    extractors: Mapping[str, _Task],
) -> dict[str, _Video]:
    """Every video's face track and filled values, by video name (sorted)."""
    extractors = dict(extractors)
    ids = _column(table, columns, "face_id", -1.0)
    face = np.where(np.isfinite(ids), ids, -1).astype(np.int64)  # -1: no id (NA or no column)
    score = np.nan_to_num(_column(table, columns, "score", np.nan), nan=-np.inf)
    x0, y0, x1, y1 = (_column(table, columns, c, np.nan) for c in BOX_COLUMNS)
    area = (x1 - x0) * (y1 - y0)
    error = _error_rows(table)
    task_values = {task: extractor.values(table) for task, extractor in extractors.items()}
    predicted = ~error & np.any([valid for _, valid in task_values.values()], axis=0)
    if "compound" in extractors:
        # The fill of a video without compound predictions: the table's most frequent class.
        labels, valid = task_values["compound"]
        hits = labels[valid & ~error, 0]
        prior = int(np.bincount(hits).argmax()) if len(hits) else 0
        old = extractors["compound"]
        extractors["compound"] = _Task(old.name, old.columns, np.array([prior]), old.classes)

    videos: dict[str, _Video] = {}
    for name in sorted(set(groups) | set(counts)):
        rows = groups.get(name, np.zeros(0, dtype=np.int64))
        # By frame, best detector score first: _fill keeps the first row of a frame.
        rows = rows[np.lexsort((-score[rows], frame[rows]))]
        count = counts.get(name, int(frame[rows].max()) + 1 if len(rows) else 0)
        live = rows[predicted[rows]]
        track, faces = _choose_face(face[live], frame[live], area[live])
        mine = rows[face[rows] == track] if faces else rows[:0]
        values, filled, without = {}, {}, []
        for task, extractor in extractors.items():
            data, valid = task_values[task]
            usable = valid[mine] & ~error[mine]
            values[task], filled[task] = _fill(extractor, frame[mine], data[mine], usable, count)
            if filled[task] == count:
                without.append(task)
        face_id = track if faces and track >= 0 else None
        videos[name] = _Video(name, count, face_id, faces, values, filled, without)
    return videos


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    """``lines`` (each ended by ``\\n``) to ``path``, atomically."""
    write_atomic(path, "".join(f"{line}\n" for line in lines))


def _va_lines(values: np.ndarray) -> list[str]:
    return [f"{v:.6f},{a:.6f}" for v, a in values.tolist()]


def _int_lines(values: np.ndarray) -> list[str]:
    return [",".join(map(str, row)) for row in values.tolist()]


def _image(video: str, count: int) -> list[str]:
    return [f"{video}/{k:05d}.jpg" for k in range(1, count + 1)]


def _write_files(
    out: Path, ed: Edition, chosen: Sequence[str], videos: Mapping[str, _Video]
) -> dict[str, list[Path]]:
    """The files of the ``chosen`` tasks under ``out``, by task."""
    folders = _folders(ed)
    files: dict[str, list[Path]] = {task: [] for task in chosen}
    headers = {
        "va": "valence,arousal",
        "expr": ",".join(_title(c) for c in EXPRESSION_VOCABULARIES[ed.expr_vocabulary]),
        "au": ",".join(f"AU{au}" for au in AU_VOCABULARIES[ed.au_vocabulary]),
    }
    formats = {"va": _va_lines, "expr": _int_lines, "au": _int_lines}
    for task in (t for t in chosen if t in _UNI_TASKS):
        for item in videos.values():
            path = out / folders[task] / f"{item.name}.txt"
            _write_lines(path, [headers[task], *formats[task](item.values[task])])
            files[task].append(path)
    if "mtl" in chosen:
        lines = ["image,valence,arousal,expression,aus"]
        for item in videos.values():
            va = _va_lines(item.values["va"])
            expr = _int_lines(item.values["expr"])
            au = _int_lines(item.values["au"])
            images = _image(item.name, item.count)
            lines += [",".join(row) for row in zip(images, va, expr, au, strict=True)]
        files["mtl"].append(out / _MTL_FILE)
        _write_lines(out / _MTL_FILE, lines)
    if "compound" in chosen:
        lines = ["image_location," + ",".join(_title(c) for c in COMPOUND_VOCABULARY)]
        for item in videos.values():
            labels = _int_lines(item.values["compound"])
            lines += [
                f"{i},{c}" for i, c in zip(_image(item.name, item.count), labels, strict=True)
            ]
        files["compound"].append(out / _COMPOUND_FILE)
        _write_lines(out / _COMPOUND_FILE, lines)
    return files


def write_submission(
    table: Any,
    out_dir: str | Path,
    *,
    edition: str,
    tasks: Sequence[str] | None = None,
    frame_counts: Mapping[str, int] | None = None,
    zero_missing_aus: bool = False,
) -> dict[str, Any]:
    """Write an ABAW edition's submission files for the videos of a prediction table.

    The layout, frame numbering, face choice and gap fill are in the module docstring.

    Args:
        table: a pandas DataFrame with the columns of :mod:`holistic.inference.columns`
            (``input`` and ``frame`` at least; ``face_id``, box, ``score`` and ``error`` when
            present), one or more videos.
        out_dir: the submission folder (created; existing files are replaced one by one).
        edition: ``"abaw1"`` ... ``"abaw8"`` or an alias (:func:`~holistic.metrics.challenge.
            resolve_edition`); sets the EXPR classes, the AU list, the folder names and whether
            the MTL (ABAW3, 4, 7) and compound (ABAW6, 7) files exist.
        tasks: some of :data:`SUBMISSION_TASKS`; each must be a track of the edition and the
            table must have its columns (``"mtl"`` needs VA, EXPR and AU). None: every track
            of the edition whose columns the table has; the others are listed in ``skipped``.
        frame_counts: ``{video: number of frames}`` (video = file stem), so that frames after
            the table's last row get lines too, and videos without any row get a (filled) file.
            Without it a video ends at its last row in the table.
        zero_missing_aus: write 0 for edition AUs without an ``AUxx_c`` column instead of
            raising.

    Returns:
        A summary: ``edition``; ``tasks`` (written); ``skipped`` (task -> why); ``files``
        (task -> list of Paths); ``expr_classes_missing`` (edition classes the model lacks,
        never written); ``videos``: video -> ``{"frames": lines per file, "face_id": the track
        written (None without a face), "faces": tracks seen, "filled": task -> lines filled,
        "no_prediction": tasks filled with neutral values}``.

    Raises:
        ValueError: an unknown edition or task, a task the edition does not run, a requested
            task (or an edition AU) without its columns, a bad ``input``/``frame`` value, two
            inputs with one stem, or a table row after ``frame_counts[video]``; all before any
            file is written.
    """
    ed = resolve_edition(edition)
    columns = [str(c) for c in table.columns]
    missing = [c for c in ("input", "frame") if c not in columns]
    if missing:
        raise ValueError(f"table: no {missing} column(s); expected a holistic predict table")
    chosen, extractors, skipped = _plan_tasks(columns, ed, tasks, zero_missing_aus)

    frame = table["frame"].to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(frame) | (frame < 0) | (frame != np.round(frame))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"frame: expected integers >= 0, got {frame[row]!r} in row {row}")
    frame = frame.astype(np.int64)
    groups = _rows_by_video(_video_names(table["input"].to_numpy(dtype=object)))
    counts = {str(k): int(v) for k, v in (frame_counts or {}).items()}
    if not groups and not counts:
        raise ValueError("table: no rows and no frame_counts, so no video to write")
    for name, count in counts.items():
        if count < 1:
            raise ValueError(f"frame_counts[{name!r}]: expected >= 1 frames, got {count}")
        beyond = frame[groups.get(name, [])]
        if len(beyond) and beyond.max() >= count:
            raise ValueError(
                f"frame_counts[{name!r}] = {count}, but the table has a row for frame "
                f"{int(beyond.max())} (0-based) of that video; check the video and its count"
            )

    videos = _collect_videos(table, columns, frame, groups, counts, extractors)
    files = _write_files(Path(out_dir), ed, chosen, videos)

    empty = {item.name: item.without for item in videos.values() if item.without}
    if empty:
        warnings.warn(
            f"{ed.name} submission: no prediction at all for {empty} (video: tasks); those "
            "files hold neutral values",
            stacklevel=2,
        )
    expr_classes = EXPRESSION_VOCABULARIES[ed.expr_vocabulary]
    return {
        "edition": ed.name,
        "tasks": chosen,
        "skipped": skipped,
        "files": files,
        "expr_classes_missing": (
            [c for c in expr_classes if expression_column(c) not in extractors["expr"].columns]
            if "expr" in extractors
            else []
        ),
        "videos": {
            item.name: {
                "frames": item.count,
                "face_id": item.face_id,
                "faces": item.faces,
                "filled": {t: item.filled[t] for t in extractors},
                "no_prediction": item.without,
            }
            for item in videos.values()
        },
    }
