"""AffectNet adapter on tiny native trees: every code, marker, face fallback and tree error."""

from pathlib import Path

import numpy as np
import pytest
from conftest import summary, write_image, write_lines

from holistic.data.adapters._base import (
    DUPLICATE,
    INVALID_MARKER,
    MALFORMED_ROW,
    MISSING_IMAGE,
    NO_LABEL,
    OUT_OF_RANGE,
    Reject,
    Sample,
    ScanError,
)
from holistic.data.adapters.affectnet import ADAPTER, scan

HEADER = (
    "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,"
    "expression,valence,arousal"
)
LANDMARKS = np.arange(136, dtype=np.float64).reshape(68, 2) + 0.5
LM = ";".join(f"{value:g}" for value in LANDMARKS.ravel())
IMAGES = "Manually_Annotated_Images"


TRAIN_ROWS = [
    HEADER.replace(",", ", "),  # spaces after commas
    f"1/a.jpg,10,20,100,120,{LM},1,0.5,-0.25",  # 2: landmarks, happiness, VA
    "1/b.jpg,10,20,100,120,,7,-2,-2",  # 3: contempt, VA marker
    "1/c.jpg,10,20,100,120,,9,0.1,0.2",  # 4: Uncertain: VA only
    "1/d.jpg,10,20,100,120,,8,-0.1,0.3",  # 5: None: VA only (or other)
    "1/e.jpg,10,20,100,120,,10,-2,-2",  # 6: No-Face: whole row
    "1/f.jpg,10,20,100,120,,9,-2,0.5",  # 7: Uncertain and VA marker: whole row
    "1/g.jpg,10,20,100,120,,3,1.5,0",  # 8: VA out of range
    "1/h.jpg,10,20,100,120,,12,0,0",  # 9: code out of range
    "1/i.jpg,1.5,2,3,4,1;2;3,0,0,0",  # 10: malformed landmarks -> box
    "1/j.jpg,10,20,0,120,,2,0,0",  # 11: no landmarks, empty box
    "1/missing.jpg,10,20,100,120,,4,0.1,0.1",  # 12
    "1/k.jpg,10,20,100,120,,4",  # 13: too few fields
    "",  # blank lines are skipped
    "1/a.jpg,10,20,100,120,,5,0,0",  # 15: same image again
    "1/l.jpg,10,20,100,120,,x,a,b",  # 16: nothing parses
    "1/m.jpg,10,20,100,120,,10,0.2,0.2",  # 17: No-Face with valid VA
]
VALIDATION_ROWS = [
    "image_path,x,y,w,h,landmarks,Expression,Valence,Arousal",  # another loose header
    f"2/v.png,0,0,8,8,{LM},6,-0.5,0.5",
]
TRAIN_IMAGES = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m"]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "AffectNet"
    write_lines(root / "training.csv", TRAIN_ROWS, newline="\r\n", bom=True)
    write_lines(root / "Validation.CSV", VALIDATION_ROWS)
    for name in TRAIN_IMAGES:
        write_image(root / IMAGES / "1" / f"{name}.jpg")
    write_image(root / IMAGES / "2" / "v.png")
    write_image(root / IMAGES / "2" / "orphan.png")
    (root / IMAGES / "2" / "notes.txt").write_text("not an image")
    return root


BOX = (10.0, 20.0, 110.0, 140.0)
TRAIN = "training.csv"


def _expected(none_label: dict) -> list[tuple]:
    src = f"{IMAGES}/1"
    return [
        ("sample", "train", "1-a", f"{src}/a.jpg", {"expr": "happiness", "va": [0.5, -0.25]},
         "landmarks", None, (TRAIN, 2), {"native_expression": 1}),
        ("sample", "train", "1-b", f"{src}/b.jpg", {"expr": "contempt"}, "box", BOX,
         (TRAIN, 3), {"native_expression": 7}),
        ("reject", "train", TRAIN, 3, INVALID_MARKER, "va", "1-b"),
        ("sample", "train", "1-c", f"{src}/c.jpg", {"va": [0.1, 0.2]}, "box", BOX, (TRAIN, 4),
         {"native_expression": 9}),
        ("reject", "train", TRAIN, 4, INVALID_MARKER, "expr", "1-c"),
        ("sample", "train", "1-d", f"{src}/d.jpg", {**none_label, "va": [-0.1, 0.3]}, "box", BOX,
         (TRAIN, 5), {"native_expression": 8}),
        *([] if none_label else [("reject", "train", TRAIN, 5, INVALID_MARKER, "expr", "1-d")]),
        ("reject", "train", TRAIN, 6, INVALID_MARKER, None, "1-e"),
        ("reject", "train", TRAIN, 7, INVALID_MARKER, None, "1-f"),
        ("sample", "train", "1-g", f"{src}/g.jpg", {"expr": "surprise"}, "box", BOX, (TRAIN, 8),
         {"native_expression": 3}),
        ("reject", "train", TRAIN, 8, OUT_OF_RANGE, "va", "1-g"),
        ("sample", "train", "1-h", f"{src}/h.jpg", {"va": [0.0, 0.0]}, "box", BOX, (TRAIN, 9),
         {"native_expression": 12}),
        ("reject", "train", TRAIN, 9, OUT_OF_RANGE, "expr", "1-h"),
        ("sample", "train", "1-i", f"{src}/i.jpg", {"expr": "neutral", "va": [0.0, 0.0]}, "box",
         (1.5, 2.0, 4.5, 6.0), (TRAIN, 10), {"native_expression": 0}),
        ("reject", "train", TRAIN, 11, MALFORMED_ROW, None, "1-j"),
        ("reject", "train", TRAIN, 12, MISSING_IMAGE, None, "1-missing"),
        ("reject", "train", TRAIN, 13, MALFORMED_ROW, None, None),
        ("reject", "train", TRAIN, 15, DUPLICATE, None, "1-a"),
        ("reject", "train", TRAIN, 16, MALFORMED_ROW, None, "1-l"),
        ("reject", "train", TRAIN, 17, INVALID_MARKER, None, "1-m"),
        ("sample", "validation", "2-v", f"{IMAGES}/2/v.png", {"expr": "anger", "va": [-0.5, 0.5]},
         "landmarks", None, ("Validation.CSV", 2), {"native_expression": 6}),
        ("reject", "", f"{IMAGES}/1/k.jpg", None, NO_LABEL, None, None),
        ("reject", "", f"{IMAGES}/2/orphan.png", None, NO_LABEL, None, None),
    ]  # fmt: skip


def test_every_row_becomes_samples_and_rejects(tree: Path) -> None:
    results = list(scan(tree))
    assert [summary(item) for item in results] == _expected({})
    samples = {item.key: item for item in results if isinstance(item, Sample)}
    np.testing.assert_array_equal(samples["1-a"].face.landmarks, LANDMARKS)
    assert samples["1-a"].image == tree / IMAGES / "1" / "a.jpg"
    assert all(s.subject is None and s.video is None and s.frame is None for s in samples.values())


def test_reject_details_name_the_cause(tree: Path) -> None:
    details = {(r.line, r.task): r.detail for r in scan(tree) if isinstance(r, Reject)}
    assert "-2" in details[(3, "va")] and "marker" in details[(3, "va")]
    assert "'Uncertain'" in details[(4, "expr")]
    assert "'None'" in details[(5, "expr")]
    assert "'No-Face'" in details[(6, None)]
    assert "'Uncertain'" in details[(7, None)] and "-2" in details[(7, None)]
    assert "outside [-1, 1]" in details[(8, "va")]
    assert "outside AffectNet's codes 0-10" in details[(9, "expr")]
    assert "box" in details[(11, None)]
    assert "1/missing.jpg" in details[(12, None)]
    assert details[(13, None)] == "expected 9 fields, found 7"
    assert "line 2" in details[(15, None)]


@pytest.mark.parametrize("value", [True, "true", "1", "Yes"])
def test_none_as_other_maps_code_8_to_other(tree: Path, value) -> None:
    results = list(scan(tree, none_as_other=value))
    assert [summary(item) for item in results] == _expected({"expr": "other"})


@pytest.mark.parametrize("value", [False, "false", "0", "no"])
def test_none_as_other_off(tree: Path, value) -> None:
    assert [summary(item) for item in scan(tree, none_as_other=value)] == _expected({})


def test_none_as_other_rejects_non_booleans(tree: Path) -> None:
    with pytest.raises(ScanError, match="none_as_other='maybe'"):
        list(scan(tree, none_as_other="maybe"))


def test_one_split_skips_the_unlabelled_image_check(tree: Path) -> None:
    results = [summary(item) for item in ADAPTER(str(tree), ["validation"])]
    assert results == [
        ("sample", "validation", "2-v", f"{IMAGES}/2/v.png", {"expr": "anger", "va": [-0.5, 0.5]},
         "landmarks", None, ("Validation.CSV", 2), {"native_expression": 6}),
    ]  # fmt: skip
    train = [item for item in scan(tree, ["train"]) if isinstance(item, Reject)]
    assert NO_LABEL not in {item.reason for item in train}


def test_unknown_or_absent_split(tree: Path) -> None:
    with pytest.raises(ScanError, match=r"\['test'\].*available: \['train', 'validation'\]"):
        list(scan(tree, ["test"]))
    (tree / "Validation.CSV").unlink()
    with pytest.raises(ScanError, match=r"available: \['train'\]"):
        list(scan(tree, ["validation"]))


def test_only_training_csv_reports_validation_images_as_unlabelled(tree: Path) -> None:
    (tree / "Validation.CSV").unlink()
    no_label = [r.file for r in scan(tree) if isinstance(r, Reject) and r.reason == NO_LABEL]
    assert no_label == [f"{IMAGES}/1/k.jpg", f"{IMAGES}/2/orphan.png", f"{IMAGES}/2/v.png"]


def test_headerless_csv_and_images_option(tmp_path: Path) -> None:
    root, images = tmp_path / "labels", tmp_path / "elsewhere"
    write_lines(root / "TRAINING.csv", [f"7/x.jpg,1,2,3,4,{LM},2,0.25,0.75"])
    write_image(images / "7" / "x.jpg")
    (results,) = list(scan(root, images=str(images)))
    assert isinstance(results, Sample)
    assert (results.key, results.labels, results.image) == (
        "7-x",
        {"expr": "sadness", "va": [0.25, 0.75]},
        images / "7" / "x.jpg",
    )
    assert results.source_path == (images / "7" / "x.jpg").as_posix()
    assert results.origin == ("TRAINING.csv", 1)


def test_lowercase_image_folder_is_found(tmp_path: Path) -> None:
    write_lines(tmp_path / "training.csv", [HEADER, "1/a.jpg,0,0,8,8,,0,0,0"])
    write_image(tmp_path / "manually_annotated_images" / "1" / "a.jpg")
    (sample,) = list(scan(tmp_path))
    assert sample.source_path == "manually_annotated_images/1/a.jpg"


def test_tree_errors(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match="training.csv and/or validation.csv"):
        list(scan(tmp_path))
    write_lines(tmp_path / "training.csv", [HEADER])
    with pytest.raises(ScanError, match=f"no {IMAGES}/ folder"):
        list(scan(tmp_path))
    with pytest.raises(ScanError, match="not a directory"):
        list(scan(tmp_path, images=tmp_path / "nowhere"))
    (tmp_path / IMAGES).mkdir()
    assert list(scan(tmp_path)) == []
    write_lines(tmp_path / "Training.csv", [HEADER])
    with pytest.raises(ScanError, match="differing in case"):
        list(scan(tmp_path))
    with pytest.raises(ScanError, match="not a directory"):
        list(ADAPTER(tmp_path / "absent"))


@pytest.mark.parametrize(
    "header",
    [
        "image,x,y,w,h,landmarks,label,valence",  # a column short
        "Unnamed: 0," + HEADER,  # a pandas index column
        "path,x,y,w,h,landmarks,arousal,valence,expression",  # reordered label columns
    ],
)
def test_unknown_header_is_a_scan_error(tmp_path: Path, header: str) -> None:
    write_lines(tmp_path / "training.csv", [header, "1/a.jpg,0,0,8,8,,0,0,0"])
    (tmp_path / IMAGES).mkdir()
    with pytest.raises(ScanError, match="unknown header"):
        list(scan(tmp_path))


def test_every_header_is_checked_before_the_first_item(tree: Path) -> None:
    write_lines(tree / "Validation.CSV", ["what,ever"])
    items = scan(tree)
    with pytest.raises(ScanError, match="Validation.CSV: unknown header"):
        next(items)


def test_adapter_metadata() -> None:
    assert ADAPTER.name == "affectnet" and ADAPTER.version == "1"
    assert "unverified" in ADAPTER.conventions["none_as_other"]
