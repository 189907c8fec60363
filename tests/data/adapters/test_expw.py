"""ExpW adapter on tiny native trees: box order, several faces per photo, bad lines, folders."""

from pathlib import Path

import pytest
from conftest import summary, write_image, write_lines

from holistic.data.adapters._base import (
    DUPLICATE,
    MALFORMED_ROW,
    MISSING_IMAGE,
    NO_LABEL,
    OUT_OF_RANGE,
    Reject,
    Sample,
    ScanError,
)
from holistic.data.adapters.expw import ADAPTER, scan

LABELS = "label/label.lst"


LINES = [
    "angry_actor_1.jpg 0 10 20 60 50 0.9 3",  # 1: top 10, left 20, right 60, bottom 50
    "angry_actor_1.jpg 1 5 70 90  40 0.8 0",  # 2: a second face (two spaces: whitespace split)
    "b.jpg 0 10 20 60 50 0.7 6",  # 3
    "b.jpg 0 11 21 61 51 0.7 6",  # 4: the same face again
    "",  # 5: blank
    "c.jpg 0 10 60 20 50 0.5 1",  # 6: right <= left
    "c.jpg 1 10 20 60 10 0.5 1",  # 7: bottom <= top
    "c.jpg 2 10 20 60 50 0.5 7",  # 8: expression out of range
    "c.jpg 3 10 20 60 50 0.5 x",  # 9: expression not a number
    "missing.jpg 0 10 20 60 50 0.5 2",  # 10
    "c.jpg 4 10 20 60 50 0.5",  # 11: a field short
    "c.jpg 5 10 20 abc 50 0.5 2",  # 12: box not a number
    "d.png 0 0 1 2 3 0.25 4",  # 13
    "d.png 1 0 1 2 3 0.25 5",  # 14
]
SRC = "image/origin"


def _expected(src: str = SRC) -> list[tuple]:
    return [
        ("sample", "train", "angry_actor_1-0", f"{src}/angry_actor_1.jpg", {"expr": "happiness"},
         "box", (20.0, 10.0, 60.0, 50.0), (LABELS, 1),
         {"face_id": 0, "detector_confidence": 0.9}),
        ("sample", "train", "angry_actor_1-1", f"{src}/angry_actor_1.jpg", {"expr": "anger"},
         "box", (70.0, 5.0, 90.0, 40.0), (LABELS, 2), {"face_id": 1, "detector_confidence": 0.8}),
        ("sample", "train", "b-0", f"{src}/b.jpg", {"expr": "neutral"}, "box",
         (20.0, 10.0, 60.0, 50.0), (LABELS, 3), {"face_id": 0, "detector_confidence": 0.7}),
        ("reject", "train", LABELS, 4, DUPLICATE, None, "b-0"),
        ("reject", "train", LABELS, 6, MALFORMED_ROW, None, "c-0"),
        ("reject", "train", LABELS, 7, MALFORMED_ROW, None, "c-1"),
        ("reject", "train", LABELS, 8, OUT_OF_RANGE, None, "c-2"),
        ("reject", "train", LABELS, 9, MALFORMED_ROW, None, "c-3"),
        ("reject", "train", LABELS, 10, MISSING_IMAGE, None, "missing-0"),
        ("reject", "train", LABELS, 11, MALFORMED_ROW, None, None),
        ("reject", "train", LABELS, 12, MALFORMED_ROW, None, None),
        ("sample", "train", "d-0", f"{src}/d.png", {"expr": "sadness"}, "box",
         (1.0, 0.0, 2.0, 3.0), (LABELS, 13), {"face_id": 0, "detector_confidence": 0.25}),
        ("sample", "train", "d-1", f"{src}/d.png", {"expr": "surprise"}, "box",
         (1.0, 0.0, 2.0, 3.0), (LABELS, 14), {"face_id": 1, "detector_confidence": 0.25}),
        ("reject", "train", f"{src}/orphan.jpg", None, NO_LABEL, None, None),
    ]  # fmt: skip


def _tree(root: Path, folder: str = SRC, lines: list[str] = LINES, **write) -> Path:
    write_lines(root / LABELS, lines, **write)
    for name in ("angry_actor_1.jpg", "b.jpg", "c.jpg", "d.png", "orphan.jpg"):
        write_image(root / folder / name)
    (root / folder / "README.txt").write_text("not an image")
    return root


def test_every_line_becomes_a_sample_or_a_reject(tmp_path: Path) -> None:
    root = _tree(tmp_path, newline="\r\n", bom=True)
    results = list(scan(root))
    assert [summary(item) for item in results] == _expected()
    assert results[0].image == root / SRC / "angry_actor_1.jpg"
    samples = [item for item in results if isinstance(item, Sample)]
    assert all(s.subject is None and s.video is None and s.frame is None for s in samples)


def test_reject_details(tmp_path: Path) -> None:
    details = {r.line: r.detail for r in scan(_tree(tmp_path)) if isinstance(r, Reject)}
    assert details[4] == "face 0 of b.jpg is already labelled on line 3"
    assert details[6] == "empty box: top 10, left 60, right 20, bottom 50"
    assert details[7] == "empty box: top 10, left 20, right 60, bottom 10"
    assert details[8] == "expression 7 is outside ExpW's codes 0-6"
    assert details[10] == "no image image/origin/missing.jpg"
    assert details[11] == "expected 8 space-separated fields, found 7"
    assert "abc" in details[12]


def test_a_header_line_is_skipped(tmp_path: Path) -> None:
    header = "image_name face_id top left right bottom confidence expression"
    root = _tree(tmp_path, lines=[header, *LINES])
    shifted = [
        (*row[:7], (LABELS, row[7][1] + 1), row[8])
        if row[0] == "sample"
        else (*row[:3], row[3] + 1 if row[3] else None, *row[4:])
        for row in _expected()
    ]
    assert [summary(item) for item in scan(root)] == shifted


@pytest.mark.parametrize("folder", ["image", "images", "origin"])
def test_other_image_folders(tmp_path: Path, folder: str) -> None:
    root = _tree(tmp_path, folder=folder)
    assert [summary(item) for item in scan(root)] == _expected(folder)


def test_image_origin_wins_over_image(tmp_path: Path) -> None:
    root = _tree(tmp_path)  # image/origin/ ...
    write_image(root / "image" / "cropped_faces" / "b.jpg")  # a loader's output, not the source
    assert [summary(item) for item in scan(root)] == _expected()


def test_images_option(tmp_path: Path) -> None:
    root = tmp_path / "ExpW"
    write_lines(root / LABELS, ["b.jpg 0 1 2 3 4 1.0 5"])
    write_image(tmp_path / "photos" / "b.jpg")
    (sample,) = list(ADAPTER(str(root), ["train"], images=str(tmp_path / "photos")))
    assert (sample.key, sample.labels, sample.image) == (
        "b-0",
        {"expr": "surprise"},
        tmp_path / "photos" / "b.jpg",
    )


def test_tree_errors(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match="label/label.lst"):
        list(scan(tmp_path))
    write_lines(tmp_path / LABELS, LINES)
    with pytest.raises(ScanError, match=r"\['image/origin/', 'image/', 'images/', 'origin/'\]"):
        list(scan(tmp_path))
    with pytest.raises(ScanError, match="not a directory"):
        list(scan(tmp_path, images=tmp_path / "nowhere"))


def test_splits(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    assert len(list(scan(root, ["train"]))) == len(_expected())
    with pytest.raises(ScanError, match=r"unknown split\(s\) \['test'\]; available: \['train'\]"):
        list(scan(root, ["train", "test"]))


def test_adapter_metadata() -> None:
    assert ADAPTER.name == "expw" and ADAPTER.version == "1"
    assert "top, left, right, bottom" in ADAPTER.conventions["box"]
