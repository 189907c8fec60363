"""RAF-DB basic and compound adapters on tiny native trees."""

from pathlib import Path

import pytest
from conftest import reject_tuples, split_items, write_file, write_image

from holistic.data.adapters._base import (
    DUPLICATE,
    MALFORMED_ROW,
    MISSING_IMAGE,
    NO_LABEL,
    OUT_OF_RANGE,
    FaceHint,
    Sample,
    ScanError,
)
from holistic.data.adapters.rafdb import ADAPTER, COMPOUND_ADAPTER


def make_part(
    root: Path,
    part: str,
    lines: str,
    images: list[str],
    label_name: str = "list_patition_label.txt",
) -> None:
    write_file(root / part / "EmoLabel" / label_name, lines)
    (root / part / "Image" / "aligned").mkdir(parents=True)
    for name in images:
        write_image(root / part / "Image" / "aligned" / name)


BASIC_LINES = (
    "\ufefftrain_00001.jpg 5\r\n"  # BOM + CRLF
    "train_00002.jpg 1\r\n"
    "\r\n"  # blank line (3) is not a row
    "test_0001.jpg 7\r\n"
    "test_0002.jpg 8\r\n"  # label out of range
    "train_00003.jpg\r\n"  # one field
    "val_0001.jpg 3\r\n"  # unknown prefix
    "train_00004.jpg x\r\n"  # not an integer
    "train_00001.jpg 4\r\n"  # duplicate with another label
    "train_00005.jpg 2\r\n"  # image missing
    "train_00002.jpg 1\r\n"  # duplicate with the same label
)
BASIC_IMAGES = [
    "train_00001_aligned.jpg",
    "train_00002_aligned.jpg",
    "test_0001_aligned.jpg",
    "train_00009_aligned.jpg",  # no label line
    "test_0002_aligned.jpg",  # its line is out of range: claimed, not "no label"
]
LABELS = "basic/EmoLabel/list_patition_label.txt"


def test_basic_exact_samples_and_rejects(tmp_path):
    make_part(tmp_path, "basic", BASIC_LINES, BASIC_IMAGES)
    samples, rejects = split_items(list(ADAPTER(tmp_path)))

    assert samples == [
        Sample(
            dataset="rafdb",
            split="train",
            key="train_00001",
            image=tmp_path / "basic/Image/aligned/train_00001_aligned.jpg",
            source_path="basic/Image/aligned/train_00001_aligned.jpg",
            labels={"expr": "sadness"},
            face=FaceHint("aligned"),
            origin=(LABELS, 1),
            extra={"native_label": 5},
        ),
        Sample(
            dataset="rafdb",
            split="train",
            key="train_00002",
            image=tmp_path / "basic/Image/aligned/train_00002_aligned.jpg",
            source_path="basic/Image/aligned/train_00002_aligned.jpg",
            labels={"expr": "surprise"},
            face=FaceHint("aligned"),
            origin=(LABELS, 2),
            extra={"native_label": 1},
        ),
        Sample(
            dataset="rafdb",
            split="test",
            key="test_0001",
            image=tmp_path / "basic/Image/aligned/test_0001_aligned.jpg",
            source_path="basic/Image/aligned/test_0001_aligned.jpg",
            labels={"expr": "neutral"},
            face=FaceHint("aligned"),
            origin=(LABELS, 4),
            extra={"native_label": 7},
        ),
    ]
    assert reject_tuples(rejects) == [
        ("test", LABELS, 5, OUT_OF_RANGE, None, "test_0002"),
        ("train", LABELS, 6, MALFORMED_ROW, None, "train_00003"),
        ("", LABELS, 7, MALFORMED_ROW, None, None),
        ("train", LABELS, 8, MALFORMED_ROW, None, "train_00004"),
        ("train", LABELS, 9, DUPLICATE, None, "train_00001"),
        ("train", LABELS, 10, MISSING_IMAGE, None, "train_00005"),
        ("train", LABELS, 11, DUPLICATE, None, "train_00002"),
        ("train", "basic/Image/aligned/train_00009_aligned.jpg", None, NO_LABEL, None, None),
    ]
    details = {r.line: r.detail for r in rejects}
    assert "outside RAF-DB basic's classes 1-7" in details[5]
    assert "'val_0001.jpg' does not start with 'train_' or 'test_'" in details[7]
    assert "line 1 gave it label 5" in details[9]
    assert "the same label" in details[11]
    assert "train_00005_aligned.jpg" in details[10]


def test_every_basic_class_maps_to_its_name(tmp_path):
    names = ["surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral"]
    lines = "".join(f"train_{i:05d}.jpg {i}\n" for i in range(1, 8))
    make_part(tmp_path, "basic", lines, [f"train_{i:05d}_aligned.jpg" for i in range(1, 8)])
    samples, rejects = split_items(list(ADAPTER(tmp_path)))
    assert rejects == []
    assert [s.labels for s in samples] == [{"expr": name} for name in names]


def test_splits_filter_and_unknown_split(tmp_path):
    make_part(tmp_path, "basic", BASIC_LINES, BASIC_IMAGES)
    items = list(ADAPTER(tmp_path, ["test"]))
    assert [(type(i).__name__, i.split, i.key) for i in items] == [
        ("Sample", "test", "test_0001"),
        ("Reject", "test", "test_0002"),
        ("Reject", "", None),  # the unknown prefix has no split to filter on
    ]
    with pytest.raises(ScanError, match=r"no split \['validation'\].*\['train', 'test'\]"):
        ADAPTER(tmp_path, ["validation"])


def test_root_at_the_part_folder_and_corrected_spelling(tmp_path):
    make_part(
        tmp_path,
        "basic",
        "test_0001.jpg 4\n",
        ["test_0001_aligned.jpg"],
        "list_partition_label.txt",
    )
    (sample,) = ADAPTER(tmp_path / "basic")
    assert sample.source_path == "Image/aligned/test_0001_aligned.jpg"
    assert sample.origin == ("EmoLabel/list_partition_label.txt", 1)
    assert sample.labels == {"expr": "happiness"}


def test_images_option_prefers_the_label_file_name(tmp_path):
    make_part(tmp_path, "basic", "train_00001.jpg 6\ntrain_00002.jpg 3\n", [])
    write_image(tmp_path / "original" / "train_00001.jpg")
    write_image(tmp_path / "original" / "train_00002_aligned.jpg")
    items = list(ADAPTER(tmp_path, images="original", face="detect"))
    assert [(i.source_path, i.labels, i.face) for i in items] == [
        ("original/train_00001.jpg", {"expr": "anger"}, FaceHint("detect")),
        ("original/train_00002_aligned.jpg", {"expr": "disgust"}, FaceHint("detect")),
    ]


def test_compound_maps_to_compound_names_only(tmp_path):
    lines = "train_0001.jpg 1\ntrain_0002.jpg 11\ntest_0001.jpg 4\ntest_0002.jpg 12\n"
    images = ["train_0001_aligned.jpg", "train_0002_aligned.jpg", "test_0001_aligned.jpg"]
    make_part(tmp_path, "compound", lines, images)
    make_part(tmp_path, "basic", "train_00001.jpg 5\n", ["train_00001_aligned.jpg"])
    samples, rejects = split_items(list(COMPOUND_ADAPTER(tmp_path)))
    assert [(s.dataset, s.split, s.key, s.labels, s.source_path) for s in samples] == [
        (
            "rafdb-compound",
            "train",
            "train_0001",
            {"compound": "happily_surprised"},
            "compound/Image/aligned/train_0001_aligned.jpg",
        ),
        (
            "rafdb-compound",
            "train",
            "train_0002",
            {"compound": "disgustedly_surprised"},
            "compound/Image/aligned/train_0002_aligned.jpg",
        ),
        (
            "rafdb-compound",
            "test",
            "test_0001",
            {"compound": "sadly_angry"},
            "compound/Image/aligned/test_0001_aligned.jpg",
        ),
    ]
    assert reject_tuples(rejects) == [
        ("test", "compound/EmoLabel/list_patition_label.txt", 4, OUT_OF_RANGE, None, "test_0002")
    ]
    assert "classes 1-11" in rejects[0].detail


def test_malformed_trees_raise_scan_errors(tmp_path):
    with pytest.raises(ScanError, match="basic/EmoLabel/"):
        ADAPTER(tmp_path)
    (tmp_path / "compound" / "EmoLabel").mkdir(parents=True)
    with pytest.raises(ScanError, match="not a directory"):
        COMPOUND_ADAPTER(tmp_path / "nowhere")
    with pytest.raises(ScanError, match="expected the label file list_patition_label.txt"):
        COMPOUND_ADAPTER(tmp_path)
    # ROOT pointing at the compound folder is not a basic folder.
    (tmp_path / "compound" / "EmoLabel" / "list_patition_label.txt").write_text("")
    with pytest.raises(ScanError, match="basic/EmoLabel/"):
        ADAPTER(tmp_path / "compound")
    with pytest.raises(ScanError, match="image folder not found"):
        COMPOUND_ADAPTER(tmp_path)
    (tmp_path / "compound" / "EmoLabel" / "list_partition_label.txt").write_text("")
    with pytest.raises(ScanError, match="both list_patition_label.txt and"):
        COMPOUND_ADAPTER(tmp_path)


def test_bad_face_option(tmp_path):
    make_part(tmp_path, "basic", "", [])
    with pytest.raises(ScanError, match="face='box'"):
        ADAPTER(tmp_path, face="box")
