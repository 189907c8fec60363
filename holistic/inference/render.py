"""The pictures of ``holistic predict``: annotated frames, annotated videos, a per-video figure.

Everything here reads a prediction table (:mod:`holistic.inference.columns`) and works with
whatever prediction groups it has: a model without a VA head has no valence-arousal square and no
valence-arousal panel, and so on. Rows without a face (a NaN box) draw nothing.

- :func:`annotate_frame` draws, for each face of a frame, its box, its face id, the top
  expression with its probability, and a small valence-arousal square (valence to the right,
  arousal up) next to the box. Line widths and text scale with the frame, so the drawing stays
  readable on a 112-pixel crop and on a 1280-pixel video frame.
- :class:`AnnotatedVideoWriter` streams annotated frames into a video file, one frame at a time
  (constant memory); :func:`write_annotated_image` writes one annotated image. Both write to a
  temporary file next to the target and rename it when done, so a failure never leaves a partial
  target behind.
- :func:`plot_video` draws one face of one video over time: valence and arousal, the top
  expression (and compound expression) as a coloured strip, the AU probabilities as a heat map.

Images are RGB ``uint8 [H, W, 3]`` and boxes ``(x0, y0, x1, y1)`` with ``x1, y1`` exclusive, as in
:mod:`holistic.data.faces`. OpenCV, pandas and matplotlib are imported on use.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from holistic.data.atomic import replacing, temporary_beside
from holistic.data.faces import _as_rgb, _cv2
from holistic.inference.columns import (
    BOX_COLUMNS,
    au_column,
    au_numbers,
    compound_column,
    compound_names,
    expression_column,
    expression_names,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "VIDEO_CODECS",
    "AnnotatedVideoWriter",
    "annotate_frame",
    "plot_video",
    "write_annotated_image",
]

#: The FourCC codes tried, in order, for each video file extension. All of them write files that
#: the OpenCV wheels (FFmpeg backend) read back; ``avc1`` (H.264) is absent because the wheels
#: ship FFmpeg without an H.264 encoder.
VIDEO_CODECS: dict[str, tuple[str, ...]] = {
    ".mp4": ("mp4v",),
    ".m4v": ("mp4v",),
    ".mov": ("mp4v",),
    ".mkv": ("mp4v", "MJPG"),
    ".avi": ("MJPG", "XVID"),
}

# tab10, as RGB: one colour per face id.
_PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)
_WHITE = (255, 255, 255)
_BLACK = (0, 0, 0)
# Drawing sizes are given for a 640-pixel frame and scaled with the frame's longer side.
_REFERENCE_SIDE = 640.0
DPI = 100


# ---------------------------------------------------------------------------------------------
# Annotated frames
# ---------------------------------------------------------------------------------------------


def _records(rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows as mappings, checked for the box columns."""
    records = rows.to_dict("records") if hasattr(rows, "to_dict") else list(rows)
    for record in records:
        missing = [c for c in BOX_COLUMNS if c not in record]
        if missing:
            raise ValueError(
                f"rows: expected prediction-table rows with the columns {list(BOX_COLUMNS)}, "
                f"a row lacks {missing}"
            )
    return records


def _number(value: Any) -> float:
    """A float, NaN for missing values (None, pandas' NA, strings)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _colour(face_id: Any) -> tuple[int, int, int]:
    number = _number(face_id)
    return _PALETTE[int(number) % len(_PALETTE)] if math.isfinite(number) else _PALETTE[0]


def _label(record: Mapping[str, Any]) -> str:
    face_id = _number(record.get("face_id"))
    parts = [f"#{int(face_id)}" if math.isfinite(face_id) else "face"]
    expression = record.get("expression")
    if isinstance(expression, str) and expression:
        probability = _number(record.get(expression_column(expression)))
        parts.append(
            f"{expression} {probability:.2f}" if math.isfinite(probability) else expression
        )
    return " ".join(parts)


def _va_square(
    box: tuple[float, float, float, float], shape: tuple[int, ...]
) -> tuple[int, int, int]:
    """Where the valence-arousal square of a face goes: ``(x, y, side)`` in pixels.

    Right of the box when it fits in the frame, else left of it, else inside the box's top-right
    corner; its side follows the face's height, within limits that keep it visible and inside
    the frame.
    """
    height, width = shape[:2]
    unit = max(height, width) / _REFERENCE_SIDE
    x0, y0, x1, y1 = box
    low = max(12.0, 24.0 * unit)
    high = max(low, 0.25 * min(height, width))
    side = int(min(round(float(np.clip(0.45 * (y1 - y0), low, high))), height, width))
    gap = max(2, round(4 * unit))
    if x1 + gap + side <= width:
        x = x1 + gap
    elif x0 - gap - side >= 0:
        x = x0 - gap - side
    else:
        x = min(x1, width) - side
    x = int(np.clip(round(x), 0, width - side))
    y = int(np.clip(round(y0), 0, height - side))
    return x, y, side


def _draw_va(
    out: np.ndarray,
    box: tuple[float, float, float, float],
    valence: float,
    arousal: float,
    colour: tuple[int, int, int],
) -> None:
    cv2 = _cv2()
    x, y, side = _va_square(box, out.shape)
    unit = max(out.shape[:2]) / _REFERENCE_SIDE
    region = out[y : y + side, x : x + side]
    region[:] = (region * 0.35).astype(np.uint8)  # a dark backdrop whatever the frame shows
    centre_x, centre_y, half = x + (side - 1) / 2, y + (side - 1) / 2, (side - 1) / 2
    grey = (150, 150, 150)
    cv2.line(out, (x, round(centre_y)), (x + side - 1, round(centre_y)), grey, 1)
    cv2.line(out, (round(centre_x), y), (round(centre_x), y + side - 1), grey, 1)
    cv2.rectangle(out, (x, y), (x + side - 1, y + side - 1), colour, max(1, round(unit)))
    radius = max(2, side // 10)
    reach = max(half - radius, 0.0)
    dot_x = centre_x + float(np.clip(valence, -1.0, 1.0)) * reach
    dot_y = centre_y - float(np.clip(arousal, -1.0, 1.0)) * reach  # arousal up
    cv2.circle(out, (round(dot_x), round(dot_y)), radius, _WHITE, -1, cv2.LINE_AA)


def _draw_label(
    out: np.ndarray,
    text: str,
    box: tuple[float, float, float, float],
    colour: tuple[int, int, int],
) -> None:
    cv2 = _cv2()
    height, width = out.shape[:2]
    unit = max(height, width) / _REFERENCE_SIDE
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.3, 0.5 * unit)
    thickness = max(1, round(1.2 * unit))
    (text_w, text_h), baseline = cv2.getTextSize(text, font, scale, thickness)
    pad = max(1, round(3 * unit))
    label_h = text_h + baseline + 2 * pad
    x0, y0 = box[0], box[1]
    # Above the box when there is room, else just inside its top edge.
    top = y0 - label_h if y0 - label_h >= 0 else y0
    left = int(np.clip(round(x0), 0, max(width - text_w - 2 * pad, 0)))
    top = int(np.clip(round(top), 0, max(height - label_h, 0)))
    cv2.rectangle(out, (left, top), (left + text_w + 2 * pad, top + label_h - 1), colour, -1)
    luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    ink = _BLACK if luminance > 150 else _WHITE
    origin = (left + pad, top + pad + text_h)
    cv2.putText(out, text, origin, font, scale, ink, thickness, cv2.LINE_AA)


def annotate_frame(
    image: np.ndarray, rows: pd.DataFrame | Sequence[Mapping[str, Any]]
) -> np.ndarray:
    """A copy of a frame with its faces' predictions drawn on it.

    For each row with a face: the box (in the face id's colour), a label above it with the face
    id and, when the table has expressions, the top expression and its probability, and, when
    it has valence and arousal, a small square next to the box with a white dot at
    ``(valence, arousal)`` (valence to the right, arousal up, the square's edges at -1 and 1).
    Rows without a face (a NaN box) draw nothing.

    Args:
        image: the frame, RGB ``uint8 [H, W, 3]`` (grey and RGBA are converted).
        rows: the prediction table's rows of this frame (a DataFrame, or mappings with the
            table's column names); empty for nothing to draw.

    Returns:
        A new RGB ``uint8 [H, W, 3]`` array; ``image`` is left as it is.

    Raises:
        ValueError: a malformed image, or rows without the box columns.
    """
    cv2 = _cv2()
    out = _as_rgb(image).copy()
    height, width = out.shape[:2]
    unit = max(height, width) / _REFERENCE_SIDE
    thickness = max(1, round(2 * unit))
    for record in _records(rows):
        box = tuple(_number(record[c]) for c in BOX_COLUMNS)
        if not all(math.isfinite(v) for v in box):
            continue
        colour = _colour(record.get("face_id"))
        x0, y0, x1, y1 = box
        # x1 and y1 are exclusive: the last pixel column inside the box is x1 - 1.
        corner0 = (round(x0), round(y0))
        corner1 = (max(round(x1) - 1, corner0[0]), max(round(y1) - 1, corner0[1]))
        cv2.rectangle(out, corner0, corner1, colour, thickness)
        valence, arousal = _number(record.get("valence")), _number(record.get("arousal"))
        if math.isfinite(valence) and math.isfinite(arousal):
            _draw_va(out, box, valence, arousal, colour)
        _draw_label(out, _label(record), box, colour)
    return out


# ---------------------------------------------------------------------------------------------
# Writing images and videos
# ---------------------------------------------------------------------------------------------


def write_annotated_image(
    path: str | os.PathLike[str],
    image: np.ndarray,
    rows: pd.DataFrame | Sequence[Mapping[str, Any]],
) -> Path:
    """Write :func:`annotate_frame`'s drawing of ``image`` to ``path``, atomically.

    The format follows the extension (``.png``, ``.jpg``, ... as OpenCV encodes them). The file
    is written under a temporary name next to ``path`` and renamed when complete.

    Raises:
        ValueError: an extension OpenCV cannot encode, or what :func:`annotate_frame` raises.
    """
    cv2 = _cv2()
    target = Path(path)
    drawn = annotate_frame(image, rows)
    suffix = target.suffix.lower()
    try:
        ok, data = cv2.imencode(suffix, cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
    except cv2.error:
        ok = False
    if not ok:
        raise ValueError(f"{target}: OpenCV cannot write images with extension {suffix!r}")
    with replacing(target, suffix) as temporary:
        temporary.write_bytes(data.tobytes())
    return target


class AnnotatedVideoWriter:
    """Streams annotated frames into a video file: one frame in memory at a time.

    Use it as a context manager; the video appears at ``path`` only when the ``with`` block ends
    without an exception (it is written to a temporary file next to ``path`` and renamed), so an
    interrupted run leaves no partial video::

        with AnnotatedVideoWriter("out.mp4", fps, (width, height)) as writer:
            for frame, rows in frames_and_rows:
                writer.write(frame, rows)

    Without ``with``, call :meth:`close` (keep the video) or :meth:`abort` (drop it).

    The codec follows the extension (:data:`VIDEO_CODECS`: ``mp4v`` for ``.mp4``/``.mov``,
    Motion JPEG for ``.avi``); the first one OpenCV opens is used (:attr:`codec`). The codecs
    need even sides, so a frame with an odd width or height is padded by one pixel (the edge
    repeated) on the right or bottom: :attr:`frame_size` is the size written.

    Args:
        path: the video to write; its folder is created.
        fps: frames per second (> 0).
        size: ``(width, height)`` of the frames passed to :meth:`write`.

    Raises:
        ValueError: an unsupported extension, a non-positive fps or size.
        RuntimeError: OpenCV opens none of the extension's codecs.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float, size: tuple[int, int]) -> None:
        cv2 = _cv2()
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in VIDEO_CODECS:
            raise ValueError(
                f"{self.path}: expected a video extension among {sorted(VIDEO_CODECS)}, got "
                f"{suffix!r}"
            )
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps}")
        width, height = (int(v) for v in size)
        if width <= 0 or height <= 0:
            raise ValueError(f"size must be (width, height) with positive sides, got {size}")
        self.size = (width, height)
        self.frame_size = (width + width % 2, height + height % 2)
        self.frames_written = 0
        self._temporary = temporary_beside(self.path, suffix)
        self._writer: Any = None
        self.codec = ""
        for codec in VIDEO_CODECS[suffix]:
            writer = cv2.VideoWriter(
                str(self._temporary), cv2.VideoWriter_fourcc(*codec), float(fps), self.frame_size
            )
            if writer.isOpened():
                self._writer, self.codec = writer, codec
                break
            writer.release()
        if self._writer is None:
            self._temporary.unlink(missing_ok=True)
            raise RuntimeError(
                f"{self.path}: OpenCV could not open a video writer with any of the codecs "
                f"{list(VIDEO_CODECS[suffix])} (is OpenCV built with FFmpeg?)"
            )

    def write(
        self,
        frame: np.ndarray,
        rows: pd.DataFrame | Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Annotate ``frame`` (RGB ``uint8 [height, width, 3]``) with ``rows`` and append it.

        Raises:
            ValueError: a frame of another size (OpenCV would drop it silently).
            RuntimeError: the writer is closed.
        """
        if self._writer is None:
            raise RuntimeError(f"{self.path}: the video writer is closed")
        width, height = self.size
        drawn = annotate_frame(frame, rows)
        if drawn.shape[:2] != (height, width):
            raise ValueError(
                f"{self.path}: expected frames of {width} x {height} pixels, got "
                f"{drawn.shape[1]} x {drawn.shape[0]}"
            )
        cv2 = _cv2()
        bgr = cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR)
        pad_x, pad_y = self.frame_size[0] - width, self.frame_size[1] - height
        if pad_x or pad_y:
            bgr = cv2.copyMakeBorder(bgr, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
        self._writer.write(bgr)
        self.frames_written += 1

    def close(self) -> Path:
        """Finish the video and move it to :attr:`path`; returns the path."""
        if self._writer is None:
            raise RuntimeError(f"{self.path}: the video writer is closed")
        writer, self._writer = self._writer, None
        try:
            writer.release()
            os.replace(self._temporary, self.path)
        finally:
            self._temporary.unlink(missing_ok=True)
        return self.path

    def abort(self) -> None:
        """Stop writing and delete the temporary file; :attr:`path` is left as it was."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.release()
        self._temporary.unlink(missing_ok=True)

    def __enter__(self) -> AnnotatedVideoWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


# ---------------------------------------------------------------------------------------------
# The per-video figure
# ---------------------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _edges(x: np.ndarray) -> np.ndarray:
    """Cell edges around sorted sample positions: half-way between neighbours."""
    if x.size == 1:
        return np.array([x[0] - 0.5, x[0] + 0.5])
    middle = (x[:-1] + x[1:]) / 2
    return np.concatenate([[2 * x[0] - middle[0]], middle, [2 * x[-1] - middle[-1]]])


def _lone(values: np.ndarray) -> np.ndarray:
    """Finite samples whose neighbours are both missing (a line plot would not show them)."""
    finite = np.isfinite(values)
    before = np.concatenate([[False], finite[:-1]])
    after = np.concatenate([finite[1:], [False]])
    return finite & ~before & ~after


def _top(face: pd.DataFrame, label: str, names: list[str], column: Any) -> pd.Series:
    """The top class per row: the table's ``label`` column, else the argmax of the names'
    probabilities; missing (NaN) where the row has none."""
    import pandas as pd

    if label in face.columns:
        top = face[label].where(face[label].map(lambda v: isinstance(v, str) and v != ""))
        return top.astype(object)
    probabilities = face[[column(n) for n in names]].astype(float)
    best = probabilities.fillna(-np.inf).to_numpy().argmax(axis=1)
    top = pd.Series(np.asarray(names, dtype=object)[best], index=face.index, dtype=object)
    return top.where(probabilities.notna().any(axis=1))


def _strip(ax: Any, edges: np.ndarray, top: pd.Series, names: list[str], title: str) -> None:
    """A one-row strip coloured by the top class per frame, with a legend of all classes."""
    from matplotlib import colormaps
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    palette = colormaps["tab10" if len(names) <= 10 else "tab20"]
    colours = [palette(i % palette.N) for i in range(len(names))]
    index = {name: i for i, name in enumerate(names)}
    codes = np.array([index.get(v, np.nan) if isinstance(v, str) else np.nan for v in top])
    cells = np.ma.masked_invalid(codes[None, :])
    norm = BoundaryNorm(np.arange(len(names) + 1) - 0.5, len(names))
    ax.pcolormesh(edges, [0, 1], cells, cmap=ListedColormap(colours), norm=norm, rasterized=True)
    ax.set_yticks([])
    ax.set_ylabel(title)
    handles = [Patch(color=c, label=n) for c, n in zip(colours, names, strict=True)]
    # Above the strip, in rows of up to 8: a column to the right would stretch the figure.
    ax.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        fontsize=7,
        frameon=False,
        ncol=min(len(names), 8),
        borderaxespad=0.2,
        handlelength=1.2,
    )


def _check_table(table: pd.DataFrame) -> None:
    missing = [c for c in ("input", "frame", "time", "face_id") if c not in table.columns]
    if missing:
        raise ValueError(f"table: expected a prediction table, it lacks the columns {missing}")
    if table.empty:
        raise ValueError("table: expected the rows of one input, got an empty table")
    inputs = table["input"].unique()
    if len(inputs) > 1:
        raise ValueError(
            f"table: expected the rows of one input, got {len(inputs)} ({list(inputs[:3])}...); "
            "pass table[table['input'] == name]"
        )


def _panels(columns: Sequence[str]) -> Iterator[str]:
    if "valence" in columns or "arousal" in columns:
        yield "va"
    if expression_names(columns) or "expression" in columns:
        yield "expr"
    if au_numbers(columns):
        yield "au"
    if compound_names(columns) or "compound" in columns:
        yield "compound"


def _video_figure(table: pd.DataFrame, face_id: int | None = None) -> Any:
    """The figure of :func:`plot_video`; its panels' axes are labelled ``va``, ``expr``, ``au``
    and ``compound`` (``ax.get_label()``)."""
    import pandas as pd

    _check_table(table)
    columns = list(table.columns)
    panels = list(_panels(columns))
    if not panels:
        raise ValueError(
            "table: no prediction columns to plot (valence/arousal, expr_*, AU*, compound_*)"
        )
    ids = pd.to_numeric(table["face_id"], errors="coerce")
    counts = ids.dropna().astype(int).value_counts()
    present = sorted(counts.index.tolist())
    if face_id is None:
        # The face in most rows; the smaller id on a tie.
        chosen = min(present, key=lambda i: (-counts[i], i)) if present else None
    elif int(face_id) in present:
        chosen = int(face_id)
    else:
        raise ValueError(f"face_id={face_id}: the table has the faces {present}")

    # One sample per frame of the input (a frame without the chosen face stays a gap).
    frames = table.groupby("frame", sort=True)["time"].first()
    use_time = bool(np.isfinite(frames.to_numpy(dtype=float)).all())
    x = frames.to_numpy(dtype=float) if use_time else frames.index.to_numpy(dtype=float)
    face = table[ids == chosen] if chosen is not None else table.iloc[:0]
    face = face.drop_duplicates("frame").set_index("frame").reindex(frames.index)
    edges = _edges(x)

    plt = _pyplot()
    heights = {"va": 2.0, "expr": 0.7, "au": max(1.2, 0.16 * len(au_numbers(columns))),
               "compound": 0.7}  # fmt: skip
    ratios = [heights[p] for p in panels]
    fig, axes = plt.subplots(
        len(panels),
        1,
        sharex=True,
        squeeze=False,
        figsize=(10.0, 1.0 + sum(ratios)),
        height_ratios=ratios,
        layout="constrained",
    )
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        ax.set_label(panel)
        if panel == "va":
            for name, colour in (("valence", "tab:blue"), ("arousal", "tab:orange")):
                if name not in face.columns:
                    continue
                values = face[name].to_numpy(dtype=float)
                ax.plot(x, values, color=colour, lw=1.0, label=name)  # NaN breaks the line
                lone = _lone(values)
                ax.plot(x[lone], values[lone], ".", color=colour, ms=3)
            ax.axhline(0.0, color="grey", lw=0.5)
            ax.set_ylim(-1.05, 1.05)
            ax.set_yticks([-1, -0.5, 0, 0.5, 1])
            ax.set_ylabel("valence /\narousal")
            ax.grid(alpha=0.3)
            ax.legend(
                loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, fontsize=7, frameon=False
            )
        elif panel in ("expr", "compound"):
            label, names_of, column = {
                "expr": ("expression", expression_names, expression_column),
                "compound": ("compound", compound_names, compound_column),
            }[panel]
            names = names_of(columns)
            top = _top(face, label, names, column)
            if not names:  # only the label column: its values, in order of appearance
                names = list(dict.fromkeys(top.dropna()))
            _strip(ax, edges, top, names, label)
        else:
            numbers = au_numbers(columns)
            values = face[[au_column(n) for n in numbers]].to_numpy(dtype=float).T
            # viridis has no white, so the white gaps stand out from any probability.
            mesh = ax.pcolormesh(
                edges,
                np.arange(len(numbers) + 1) - 0.5,
                np.ma.masked_invalid(values),
                cmap="viridis",
                vmin=0.0,
                vmax=1.0,
                rasterized=True,
            )
            ax.set_yticks(range(len(numbers)), labels=[au_column(n) for n in numbers])
            ax.tick_params(axis="y", labelsize=max(5, 8 - len(numbers) // 10))
            ax.invert_yaxis()
            fig.colorbar(mesh, ax=ax, pad=0.01, fraction=0.03, label="P(AU)")
    axes[-1, 0].set_xlim(edges[0], edges[-1])
    axes[-1, 0].set_xlabel("time (s)" if use_time else "frame")

    name = Path(str(table["input"].iloc[0])).name
    if chosen is None:
        title = f"{name}: no face found"
    elif len(present) == 1:
        title = f"{name}: face {chosen}"
    else:
        how = "the face in most frames" if face_id is None else "chosen with face_id"
        title = f"{name}: face {chosen} of {len(present)} ({how}; faces {present})"
    fig.suptitle(title, fontsize=10)
    return fig


def plot_video(
    table: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    face_id: int | None = None,
) -> Path:
    """One face of one video over time, as a PNG.

    Panels, sharing the time axis, for the tasks the table has: valence and arousal (on
    [-1, 1]), the top expression per frame as a coloured strip (with a legend of the model's
    expressions), the AU probabilities as a heat map (one row per AU), and the top compound
    expression as a strip. Frames without the face are gaps (no interpolation). The time axis
    is ``time`` in seconds, or ``frame`` when the table has no times.

    Args:
        table: the prediction table's rows of one input (:mod:`holistic.inference.columns`).
        path: the PNG to write (atomically: a temporary file next to it, then a rename).
        face_id: the face to draw; default the face in most rows (the title says which, and
            how many faces the video has).

    Returns:
        ``path``.

    Raises:
        ValueError: an empty table, rows of several inputs, a ``face_id`` not in the table, or
            a table without prediction columns.
    """
    plt = _pyplot()
    fig = _video_figure(table, face_id)
    target = Path(path)
    try:
        with replacing(target, ".png") as temporary:
            fig.savefig(temporary, dpi=DPI, format="png")
    finally:
        plt.close(fig)
    return target
