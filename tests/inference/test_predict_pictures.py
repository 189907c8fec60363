"""The pictures of ``holistic predict``: annotated frames, annotated videos, the per-video figure."""

import math

import cv2
import numpy as np
import pandas as pd
import pytest

from holistic.data.faces import load_image
from holistic.inference.columns import au_column, expression_column, table_columns
from holistic.inference.render import (
    VIDEO_CODECS,
    AnnotatedVideoWriter,
    _va_square,
    _video_figure,
    annotate_frame,
    plot_video,
    write_annotated_image,
)

EXPRESSIONS = ["neutral", "anger", "happiness"]
AUS = [1, 6, 12]
ALL_TASKS = {"va": None, "expr": EXPRESSIONS, "au": AUS}


def face_row(tasks, frame=0, face_id=0, box=(100, 80, 160, 150), va=(0.5, -0.3), top="happiness"):
    """One row of a prediction table with a face and predictions for ``tasks``."""
    row = {c: math.nan for c in table_columns(tasks)}
    row.update(input="clip.mp4", frame=frame, time=frame / 25, face_id=face_id, error="")
    row.update(zip(("box_x0", "box_y0", "box_x1", "box_y1"), box, strict=True))
    if "va" in tasks:
        row["valence"], row["arousal"] = va
    if "expr" in tasks:
        for name in EXPRESSIONS:
            row[expression_column(name)] = 0.9 if name == top else 0.05
        row["expression"] = top
    if "au" in tasks:
        for au in AUS:
            row[au_column(au)] = au / 20
            row[f"{au_column(au)}_c"] = 0
    return row


def no_face_row(tasks, frame=0):
    row = {c: math.nan for c in table_columns(tasks)}
    row.update(input="clip.mp4", frame=frame, time=frame / 25, face_id=pd.NA, error="no face")
    return row


def table(tasks, rows):
    out = pd.DataFrame(rows, columns=table_columns(tasks))
    out["face_id"] = out["face_id"].astype("Int64")
    return out


def grey(height, width, value=120):
    return np.full((height, width, 3), value, np.uint8)


# --- annotate_frame ----------------------------------------------------------------------------


def test_annotate_draws_on_and_around_the_box_only():
    image = grey(240, 320)
    out = annotate_frame(image, table(ALL_TASKS, [face_row(ALL_TASKS)]))
    changed = (out != image).any(axis=2)
    assert (image == 120).all()  # the input is left as it is
    assert changed[80, 100:160].all() and changed[149, 100:160].all()  # top and bottom edges
    assert changed[80:150, 100].all() and changed[80:150, 159].all()  # left and right edges
    assert changed[60:80, 100:160].any()  # the label above the box
    x, y, side = _va_square((100, 80, 160, 150), image.shape)
    assert x >= 160 and changed[y : y + side, x : x + side].mean() > 0.9  # VA square right of it
    assert not changed[95:135, 110:150].any()  # the face itself stays visible
    assert not changed[180:, :].any() and not changed[:, 240:].any()  # far away: untouched


def test_annotate_va_dot_points_valence_right_and_arousal_up():
    image = grey(240, 320, value=60)
    box = (100, 80, 160, 150)
    x, y, side = _va_square(box, image.shape)
    centres = []
    for va in ((0.9, 0.9), (-0.9, -0.9)):
        out = annotate_frame(image, [face_row({"va": None}, box=box, va=va)])
        square = out[y : y + side, x : x + side]
        rows, cols = np.nonzero((square == 255).all(axis=2))  # the white dot
        assert rows.size > 0
        centres.append((cols.mean() - (side - 1) / 2, rows.mean() - (side - 1) / 2))
    (right, up), (left, down) = centres
    assert right > side / 4 and up < -side / 4  # high valence right, high arousal up
    assert left < -side / 4 and down > side / 4


def test_annotate_rows_without_a_face_draw_nothing():
    image = grey(120, 160)
    for rows in (table(ALL_TASKS, [no_face_row(ALL_TASKS)]), table(ALL_TASKS, []), []):
        np.testing.assert_array_equal(annotate_frame(image, rows), image)


def test_annotate_with_boxes_only_and_boxes_at_the_frame_edge():
    tasks = {}
    image = grey(112, 112)
    rows = [
        face_row(tasks, box=(0, 0, 112, 112)),
        face_row(tasks, face_id=1, box=(90, 95, 130, 140)),
    ]
    out = annotate_frame(image, rows)
    assert out.shape == image.shape and (out != image).any()
    with pytest.raises(ValueError, match="box_x0"):
        annotate_frame(image, [{"face_id": 0}])


def test_annotate_line_width_scales_with_the_frame():
    def left_edge_width(height, width, box):
        image = grey(height, width)
        out = annotate_frame(image, [face_row({}, box=box)])
        middle = (box[1] + box[3]) // 2
        return int((out[middle] != image[middle]).any(axis=1).sum())

    small = left_edge_width(112, 112, (20, 20, 90, 90))
    large = left_edge_width(720, 1280, (400, 200, 800, 600))
    assert small == 2  # one pixel each for the left and right edges
    assert large >= 6


# --- writing images and videos -----------------------------------------------------------------


def test_write_annotated_image_round_trips(tmp_path):
    image = grey(240, 320)
    rows = table(ALL_TASKS, [face_row(ALL_TASKS)])
    path = write_annotated_image(tmp_path / "out" / "frame.png", image, rows)
    np.testing.assert_array_equal(load_image(path), annotate_frame(image, rows))
    assert sorted(p.name for p in path.parent.iterdir()) == ["frame.png"]
    with pytest.raises(ValueError, match="extension"):
        write_annotated_image(tmp_path / "frame.nope", image, rows)


def read_video(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_video_writer_round_trips_frames(tmp_path, suffix):
    path = tmp_path / f"annotated{suffix}"
    levels = [20, 60, 100, 140, 180, 220]
    with AnnotatedVideoWriter(path, 25.0, (96, 64)) as writer:
        for i, level in enumerate(levels):
            rows = [face_row({}, box=(10, 10, 40, 50))] if i % 2 else []
            writer.write(grey(64, 96, level), rows)
    assert writer.codec in VIDEO_CODECS[suffix]
    frames = read_video(path)
    assert len(frames) == len(levels)
    assert all(frame.shape == (64, 96, 3) for frame in frames)
    # In order, and the plain frames survive the lossy codec closely.
    means = [float(frame[40:, 60:].mean()) for frame in frames]
    np.testing.assert_allclose(means, levels, atol=6)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_video_writer_pads_odd_sizes(tmp_path):
    path = tmp_path / "odd.mp4"
    with AnnotatedVideoWriter(path, 10.0, (63, 47)) as writer:
        for _ in range(3):
            writer.write(grey(47, 63))
    assert writer.frame_size == (64, 48)
    frames = read_video(path)
    assert len(frames) == 3 and frames[0].shape == (48, 64, 3)


def test_video_writer_leaves_nothing_when_the_block_fails(tmp_path):
    path = tmp_path / "annotated.mp4"
    with (
        pytest.raises(RuntimeError, match="boom"),
        AnnotatedVideoWriter(path, 25.0, (32, 32)) as writer,
    ):
        writer.write(grey(32, 32))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    # An earlier video at the target stays as it was.
    path.write_bytes(b"earlier")
    with (
        pytest.raises(ValueError, match="32 x 32"),
        AnnotatedVideoWriter(path, 25.0, (32, 32)) as writer,
    ):
        writer.write(grey(16, 32))  # wrong size: OpenCV would drop it silently
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert path.read_bytes() == b"earlier"


def test_video_writer_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="extension"):
        AnnotatedVideoWriter(tmp_path / "a.gif", 25.0, (32, 32))
    with pytest.raises(ValueError, match="fps"):
        AnnotatedVideoWriter(tmp_path / "a.mp4", 0.0, (32, 32))
    assert list(tmp_path.iterdir()) == []


# --- plot_video --------------------------------------------------------------------------------


def video_table(tasks, frames=20, gap=range(5, 9), faces=1):
    rows = []
    for frame in range(frames):
        if frame in gap:
            rows.append(no_face_row(tasks, frame))
            continue
        for face in range(faces if frame % 2 else 1):  # face 0 in every frame, others in odd ones
            top = EXPRESSIONS[frame % 3]
            va = (math.sin(frame / 3), math.cos(frame / 3))
            rows.append(face_row(tasks, frame=frame, face_id=face, va=va, top=top))
    return table(tasks, rows)


@pytest.fixture
def figure():
    """``_video_figure``, closing the figures it made at the end of the test."""
    import matplotlib.pyplot as plt

    made = []

    def make(*args, **kwargs):
        made.append(_video_figure(*args, **kwargs))
        return made[-1]

    yield make
    for fig in made:
        plt.close(fig)


def panels(fig):
    return [ax.get_label() for ax in fig.axes if ax.get_label() != "<colorbar>"]


@pytest.mark.parametrize(
    ("tasks", "expected"),
    [
        (ALL_TASKS, ["va", "expr", "au"]),
        (
            {**ALL_TASKS, "compound": ["happily_surprised", "sadly_angry"]},
            ["va", "expr", "au", "compound"],
        ),
        ({"va": None}, ["va"]),
        ({"au": AUS}, ["au"]),
        ({"expr": EXPRESSIONS}, ["expr"]),
    ],
)
def test_plot_video_draws_a_panel_per_task(tmp_path, tasks, expected, figure):
    data = video_table(tasks)
    if "compound" in tasks:
        data["compound_happily_surprised"], data["compound_sadly_angry"] = 0.7, 0.3
        data["compound"] = data["compound"].astype(object)
        data.loc[data["face_id"].notna(), "compound"] = "happily_surprised"
    fig = figure(data)
    assert panels(fig) == expected
    path = plot_video(data, tmp_path / "plots" / "clip.png")
    image = load_image(path)
    assert image is not None and image.shape[1] == 1000
    assert [p.name for p in path.parent.iterdir()] == ["clip.png"]


def test_plot_video_leaves_gaps_where_the_face_is_missing(figure):
    fig = figure(video_table(ALL_TASKS))
    axes = {ax.get_label(): ax for ax in fig.axes}
    gap = np.zeros(20, bool)
    gap[5:9] = True
    valence = axes["va"].lines[0]
    np.testing.assert_allclose(valence.get_xdata(), np.arange(20) / 25)  # time in seconds
    np.testing.assert_array_equal(np.isnan(valence.get_ydata()), gap)
    heat = np.ma.getmaskarray(axes["au"].collections[0].get_array()).reshape(len(AUS), 20)
    assert (heat == gap).all()
    strip = np.ma.getmaskarray(axes["expr"].collections[0].get_array()).reshape(20)
    np.testing.assert_array_equal(strip, gap)
    assert [t.get_text() for t in axes["expr"].get_legend().get_texts()] == EXPRESSIONS
    assert axes["au"].get_xlabel() == "time (s)"


def test_plot_video_frames_without_times_use_the_frame_axis(figure):
    data = video_table({"va": None})
    data["time"] = math.nan
    fig = figure(data)
    assert fig.axes[0].get_xlabel() == "frame"
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xdata(), np.arange(20))


def test_plot_video_with_several_faces_draws_one(tmp_path, figure):
    data = video_table(ALL_TASKS, faces=3)
    fig = figure(data)
    assert "face 0 of 3" in fig.get_suptitle() and "most frames" in fig.get_suptitle()
    fig = figure(data, face_id=2)
    assert "face 2 of 3" in fig.get_suptitle()
    # Face 2 is only in odd frames: even frames are gaps.
    valence = fig.axes[0].lines[0].get_ydata()
    assert np.isnan(valence[::2]).all() and np.isfinite(valence[1::2][[0, 1, 4, 5]]).all()
    with pytest.raises(ValueError, match=r"\[0, 1, 2\]"):
        figure(data, face_id=7)
    two = pd.concat([data, data.assign(input="other.mp4")])
    with pytest.raises(ValueError, match="one input"):
        plot_video(two, tmp_path / "x.png")
    with pytest.raises(ValueError, match="no prediction columns"):
        plot_video(table({}, [face_row({})]), tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []
