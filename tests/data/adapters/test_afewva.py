"""AFEW-VA adapter on tiny native trees: part folders, frame joins, JSON errors and folds."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import summary, write_image

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
from holistic.data.adapters.afewva import ADAPTER, assign_folds, scan

LANDMARKS = (np.arange(136, dtype=np.float64).reshape(68, 2) * 1.5).tolist()


def _frame(valence=0, arousal=0, landmarks=LANDMARKS) -> dict:
    entry = {"valence": valence, "arousal": arousal}
    if landmarks is not None:
        entry["landmarks"] = landmarks
    return entry


def _clip(folder: Path, frames: dict, images: list[str], *, actor: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    document = {"frames": frames, "video_id": folder.name}
    if actor is not None:
        document["actor"] = actor
    (folder / f"{folder.name}.json").write_text(json.dumps(document))
    for name in images:
        write_image(folder / name)


def _summary(item: Sample | Reject) -> tuple:
    """conftest's ``summary``, with the clip provenance (subject, video, frame) of a sample in
    place of its face box (always None here: AFEW-VA faces come from landmarks)."""
    row = summary(item)
    if isinstance(item, Sample):
        mode, _box = row[5:7]
        row = (*row[:5], item.subject, item.video, item.frame, mode, *row[7:])
    return row


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Clips 001 and 002 under zip part 01/, clip 003 at the root (a mixed unpack)."""
    _clip(
        tmp_path / "01" / "001",
        {
            "00000": _frame(3, -2),
            "00001": _frame(11, 0),  # out of range
            "00002": _frame(2.5, 1),  # not an integer
            "00003": _frame(1, 1),  # no image
            "00004": _frame(1, 1, landmarks=None),  # no landmarks
            "00006": _frame(1, 1, landmarks=[[0, 0]] * 67),  # 67 points
            "00007": _frame("1", 1),  # a string
            "00008": _frame(-10, 10.0),  # both ends of the scale
            "0009": _frame(0, 0),  # an unpadded id is joined by number
            "x1": _frame(0, 0),  # not a frame number
            "00010": "oops",  # not an object
        },
        [f"{n:05d}.png" for n in (0, 1, 2, 4, 5, 6, 7, 8, 9, 10)] + ["cover.png"],
    )
    folder = tmp_path / "01" / "002"
    folder.mkdir(parents=True)
    (folder / "002.json").write_text('{"frames": {"00000": ')  # truncated
    write_image(folder / "00000.png")
    write_image(folder / "00001.png")
    _clip(tmp_path / "003", {"00000": _frame(-5, 7)}, ["00000.jpg"], actor="Jane Doe")
    (tmp_path / "README.md").write_text("not a clip")
    return tmp_path


def _sample(split, clip, frame, src, va, native, json_rel, extra=None) -> tuple:
    key = f"{clip}-{frame:05d}"
    return ("sample", split, key, src, {"va": va}, clip, clip, frame, "landmarks",
            (json_rel, None), {"native_va": native, **(extra or {})})  # fmt: skip


J1, J2, J3 = "01/001/001.json", "01/002/002.json", "003/003.json"


def _expected(split1="train", split2="train", split3="train") -> list[tuple]:
    return [
        ("reject", split1, "01/001/cover.png", None, NO_LABEL, None, None),
        ("reject", split1, J1, None, MALFORMED_ROW, None, None),  # "x1"
        _sample(split1, "001", 0, "01/001/00000.png", [0.3, -0.2], [3, -2], J1),
        ("reject", split1, J1, None, OUT_OF_RANGE, None, "001-00001"),
        ("reject", split1, J1, None, MALFORMED_ROW, None, "001-00002"),
        ("reject", split1, J1, None, MISSING_IMAGE, None, "001-00003"),
        ("reject", split1, J1, None, MALFORMED_ROW, None, "001-00004"),
        ("reject", split1, "01/001/00005.png", None, NO_LABEL, None, "001-00005"),
        ("reject", split1, J1, None, MALFORMED_ROW, None, "001-00006"),
        ("reject", split1, J1, None, MALFORMED_ROW, None, "001-00007"),
        _sample(split1, "001", 8, "01/001/00008.png", [-1.0, 1.0], [-10, 10], J1),
        _sample(split1, "001", 9, "01/001/00009.png", [0.0, 0.0], [0, 0], J1),
        ("reject", split1, J1, None, MALFORMED_ROW, None, "001-00010"),
        ("reject", split2, J2, None, MALFORMED_ROW, None, None),
        ("reject", split2, "01/002/00000.png", None, NO_LABEL, None, None),
        ("reject", split2, "01/002/00001.png", None, NO_LABEL, None, None),
        _sample(split3, "003", 0, "003/00000.jpg", [-0.5, 0.7], [-5, 7], J3, {"actor": "Jane Doe"}),
    ]


def test_every_frame_and_image_is_accounted_for(tree: Path) -> None:
    results = list(scan(tree))
    assert [_summary(item) for item in results] == _expected()
    first = next(item for item in results if isinstance(item, Sample))
    np.testing.assert_array_equal(first.face.landmarks, np.asarray(LANDMARKS))
    assert first.image == tree / "01" / "001" / "00000.png"


def test_reject_details(tree: Path) -> None:
    details = {(r.file, r.key): r.detail for r in scan(tree) if isinstance(r, Reject)}
    assert details[(J1, "001-00001")] == "frame 00001: valence 11, arousal 0: outside [-10, 10]"
    assert "expected integers in [-10, 10]" in details[(J1, "001-00002")]
    assert details[(J1, "001-00003")] == "frame 00003: no image 00003.png/.jpg in 01/001"
    assert details[(J1, "001-00004")] == (
        "frame 00004: no landmarks (without face geometry the frame's VA cannot be used)"
    )
    assert "68 numeric [x, y] pairs" in details[(J1, "001-00006")]
    assert "'1'" in details[(J1, "001-00007")]
    assert details[(J1, None)] == "frame id 'x1' is not a frame number"
    assert "not an object" in details[(J1, "001-00010")]
    assert details[(J2, None)].startswith("not valid JSON")
    assert "2 frame images are unused" in details[(J2, None)]


def test_json_without_frames_object(tmp_path: Path) -> None:
    folder = tmp_path / "001"
    folder.mkdir()
    (folder / "annotations.json").write_text(json.dumps({"frames": [1, 2]}))
    write_image(folder / "00000.png")
    assert [_summary(item) for item in scan(tmp_path)] == [
        ("reject", "train", "001/annotations.json", None, MALFORMED_ROW, None, None),
        ("reject", "train", "001/00000.png", None, NO_LABEL, None, None),
    ]


def test_two_entries_or_images_for_one_frame(tmp_path: Path) -> None:
    folder = tmp_path / "007"
    _clip(folder, {"00001": _frame(1, 2), "1": _frame(3, 4)}, ["00001.png", "00001.jpg"])
    assert [_summary(item) for item in scan(tmp_path)] == [
        ("reject", "train", "007/00001.jpg", None, DUPLICATE, None, None),
        ("reject", "train", "007/007.json", None, DUPLICATE, None, "007-00001"),
        _sample("train", "007", 1, "007/00001.png", [0.1, 0.2], [1, 2], "007/007.json"),
    ]


def test_folds_cut_sorted_clips_into_contiguous_parts(tmp_path: Path) -> None:
    names = ["005", "001", "007", "003", "002", "006", "004"]
    for index, name in enumerate(names):
        part = "02" if index % 2 else "01"
        _clip(tmp_path / part / name, {"00000": _frame(1, 1)}, ["00000.png"])
    by_clip = {s.video: s.split for s in scan(tmp_path, folds="3") if isinstance(s, Sample)}
    assert by_clip == {
        "001": "fold1", "002": "fold1", "003": "fold1",
        "004": "fold2", "005": "fold2",
        "006": "fold3", "007": "fold3",
    }  # fmt: skip
    assert [s.video for s in scan(tmp_path, ["fold2"], folds=3)] == ["004", "005"]
    with pytest.raises(ScanError, match=r"available: \['fold1', 'fold2', 'fold3'\]"):
        list(scan(tmp_path, ["train"], folds=3))
    with pytest.raises(ScanError, match="folds=8 needs at least 8 clips, found 7"):
        list(scan(tmp_path, folds=8))


def test_holdout_makes_one_fold_the_validation_split(tmp_path: Path) -> None:
    for number in range(1, 8):  # clips 001..007, each one frame with valence = its number
        _clip(tmp_path / f"{number:03d}", {"00000": _frame(number, -1)}, ["00000.png"])
    samples = [_summary(s) for s in scan(tmp_path, folds=3, holdout="2") if isinstance(s, Sample)]

    def row(split: str, clip: int) -> tuple:
        name = f"{clip:03d}"
        return _sample(split, name, 0, f"{name}/00000.png", [clip / 10, -0.1], [clip, -1],
                       f"{name}/{name}.json")  # fmt: skip

    # folds=3 cuts 001-003 | 004-005 | 006-007; fold 2 is held out
    assert samples == [row("train", c) for c in (1, 2, 3)] + [
        row("validation", 4), row("validation", 5)
    ] + [row("train", c) for c in (6, 7)]  # fmt: skip
    assert [s.video for s in scan(tmp_path, ["validation"], folds=3, holdout=2)] == ["004", "005"]
    train = {s.video for s in scan(tmp_path, ["train"], folds=3, holdout=3)}
    assert train == {"001", "002", "003", "004", "005"}
    with pytest.raises(ScanError, match=r"unknown split\(s\) \['fold1'\]; available: "
                       r"\['train', 'validation'\]"):  # fmt: skip
        list(scan(tmp_path, ["fold1"], folds=3, holdout=3))
    assert assign_folds(["b", "a", "c"], 3, holdout=1) == {
        "a": "validation", "b": "train", "c": "train"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("folds", "holdout", "match"),
    [
        (3, 4, r"holdout=4: expected 0 \(no holdout\) or a fold number in 1\.\.3 \(folds=3\)"),
        (3, -1, r"holdout=-1: expected 0 \(no holdout\)"),
        (3, "last", r"holdout='last': expected 0 \(no holdout\)"),
        (0, 1, r"holdout=1: expected 0 without folds \(holdout=K needs folds=k, k >= 2\)"),
        (0, "1", r"holdout='1': expected 0 without folds"),
    ],
)
def test_bad_holdout_option(tree: Path, folds, holdout, match) -> None:
    with pytest.raises(ScanError, match=f"^afewva option {match}"):
        list(scan(tree, folds=folds, holdout=holdout))


def test_assign_folds_rejects_a_holdout_past_the_folds() -> None:
    with pytest.raises(ScanError, match=r"holdout=6 is not a fold number: expected 0 or 1\.\.5"):
        assign_folds(["001", "002", "003", "004", "005"], 5, holdout=6)


def test_assign_folds() -> None:
    clips = [f"{n:03d}" for n in range(1, 601)]
    split_of = assign_folds(clips, 5)
    assert [sum(1 for s in split_of.values() if s == f"fold{k}") for k in range(1, 6)] == [120] * 5
    assert split_of["120"] == "fold1" and split_of["121"] == "fold2" and split_of["600"] == "fold5"
    assert set(assign_folds(clips, 0).values()) == {"train"}


def test_folds_split_names(tree: Path) -> None:
    results = [_summary(item) for item in scan(tree, folds=3)]
    assert results == _expected("fold1", "fold2", "fold3")
    assert [_summary(item) for item in ADAPTER(str(tree), ["train"])] == _expected()


@pytest.mark.parametrize("value", [1, -1, "1", "five", 2.5, True])
def test_bad_folds_option(tree: Path, value) -> None:
    with pytest.raises(ScanError, match="expected 0 \\(no folds\\) or an integer >= 2"):
        list(scan(tree, folds=value))


def test_tree_errors(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match="no AFEW-VA clip folder"):
        list(scan(tmp_path))
    folder = tmp_path / "001"
    write_image(folder / "00000.png")
    with pytest.raises(ScanError, match=r"^001: expected exactly one \.json .* found 0$"):
        list(scan(tmp_path))
    (folder / "a.json").write_text("{}")
    (folder / "b.json").write_text("{}")
    with pytest.raises(ScanError, match=r"001: .* found 2 \['a.json', 'b.json'\]"):
        list(scan(tmp_path))
    (folder / "b.json").unlink()
    _clip(tmp_path / "04" / "001", {"00000": _frame()}, ["00000.png"])
    with pytest.raises(ScanError, match="two clip folders named '001'"):
        list(scan(tmp_path))
    with pytest.raises(ScanError, match=r"unknown split\(s\) \['fold1'\]; available: \['train'\]"):
        list(scan(tmp_path / "04", ["fold1"]))


def test_adapter_metadata() -> None:
    assert ADAPTER.name == "afewva" and ADAPTER.version == "1"
    assert "no subject ids" in ADAPTER.conventions["subject"]
