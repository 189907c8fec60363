"""The DISFA adapter on tiny native trees: AU files joined by frame index, two views, frame base
0/1, count mismatches both ways, invalid intensities, folds, options and malformed trees."""

from pathlib import Path

import pytest
from conftest import reject_tuples, split_items, write_file, write_image

from holistic.data.adapters._base import FaceHint, Reject, Sample, ScanError
from holistic.data.adapters.disfa import ADAPTER, ME_GRAPHAU_FOLDS


def _write(root: Path, labels: dict[str, str], images: list[str]) -> Path:
    for name, text in labels.items():
        write_file(root / "ActionUnit_Labels" / name, text)
    (root / "images").mkdir(parents=True, exist_ok=True)
    for name in images:
        if name.endswith(".txt"):
            write_file(root / "images" / name, "not an image")
        else:
            write_image(root / "images" / name)
    return root


def _scan(root: Path, splits=None, **options) -> tuple[list[Sample], list[Reject]]:
    return split_items(ADAPTER(root, splits, **options))


def test_au_files_are_joined_on_frame_index_not_line_position(tmp_path):
    root = _write(
        tmp_path,
        {
            "SN001/SN001_au1.txt": "1,0\n2,3\n3,1\n",
            # listed out of order, and without frame 1: joined by the stated frame index
            "SN001/SN001_au12.txt": "3,5\n2,1\n",
            "SN001/SN001_au26.txt": "1,2\n",
            "SN001/notes.txt": "ignored\n",
        },
        ["LeftVideoSN001/00001.jpg", "LeftVideoSN001/00002.jpg", "LeftVideoSN001/00003.jpg"],
    )
    samples, rejects = _scan(root, views="left")
    assert rejects == []
    extra = {"view": "left", "occurrence_threshold": 2, "frame_base": 1, "frame_base_rule": "auto"}
    assert samples == [
        Sample(
            dataset="disfa",
            split="fold1",
            key="LeftVideoSN001-1",
            image=root / "images/LeftVideoSN001/00001.jpg",
            source_path="images/LeftVideoSN001/00001.jpg",
            labels={"au_intensity": {"1": 0, "26": 2}, "au": {"1": 0, "26": 1}},
            subject="SN001",
            video="LeftVideoSN001",
            frame=1,
            face=FaceHint("detect"),
            origin=("ActionUnit_Labels/SN001/SN001_au1.txt", 1),
            extra=extra,
        ),
        Sample(
            dataset="disfa",
            split="fold1",
            key="LeftVideoSN001-2",
            image=root / "images/LeftVideoSN001/00002.jpg",
            source_path="images/LeftVideoSN001/00002.jpg",
            labels={"au_intensity": {"1": 3, "12": 1}, "au": {"1": 1, "12": 0}},
            subject="SN001",
            video="LeftVideoSN001",
            frame=2,
            face=FaceHint("detect"),
            origin=("ActionUnit_Labels/SN001/SN001_au1.txt", 2),
            extra=extra,
        ),
        Sample(
            dataset="disfa",
            split="fold1",
            key="LeftVideoSN001-3",
            image=root / "images/LeftVideoSN001/00003.jpg",
            source_path="images/LeftVideoSN001/00003.jpg",
            labels={"au_intensity": {"1": 1, "12": 5}, "au": {"1": 0, "12": 1}},
            subject="SN001",
            video="LeftVideoSN001",
            frame=3,
            face=FaceHint("detect"),
            origin=("ActionUnit_Labels/SN001/SN001_au1.txt", 3),
            extra=extra,
        ),
    ]


def test_origin_is_the_first_au_file_that_has_the_frame(tmp_path):
    root = _write(
        tmp_path,
        {"SN001/SN001_au1.txt": "1,0\n", "SN001/SN001_au2.txt": "1,0\n2,4\n"},
        ["LeftVideoSN001/00001.jpg", "LeftVideoSN001/00002.jpg"],
    )
    samples, _ = _scan(root, views="left")
    assert [(s.frame, s.origin, s.labels["au"]) for s in samples] == [
        (1, ("ActionUnit_Labels/SN001/SN001_au1.txt", 1), {"1": 0, "2": 0}),
        (2, ("ActionUnit_Labels/SN001/SN001_au2.txt", 2), {"2": 1}),
    ]


def test_one_label_set_serves_both_views_with_a_frame_base_per_video(tmp_path):
    root = _write(
        tmp_path,
        # CRLF and a space after the comma
        {"SN001/SN001_au4.txt": "1, 2\r\n2, 0\r\n"},
        [
            "LeftVideoSN001/00001.jpg",  # 1-based: image 1 = label frame 1
            "LeftVideoSN001/00002.jpg",
            "RightVideoSN001/0.png",  # 0-based, unpadded: image 0 = label frame 1
            "RightVideoSN001/1.png",
        ],
    )
    samples, rejects = _scan(root)
    assert rejects == []
    assert [
        (s.key, s.video, s.subject, s.frame, s.source_path, s.extra["view"], s.extra["frame_base"])
        for s in samples
    ] == [
        ("LeftVideoSN001-1", "LeftVideoSN001", "SN001", 1, "images/LeftVideoSN001/00001.jpg", "left", 1),
        ("LeftVideoSN001-2", "LeftVideoSN001", "SN001", 2, "images/LeftVideoSN001/00002.jpg", "left", 1),
        ("RightVideoSN001-1", "RightVideoSN001", "SN001", 1, "images/RightVideoSN001/0.png", "right", 0),
        ("RightVideoSN001-2", "RightVideoSN001", "SN001", 2, "images/RightVideoSN001/1.png", "right", 0),
    ]  # fmt: skip
    assert {s.extra["frame_base_rule"] for s in samples} == {"auto"}
    assert [s.labels for s in samples[:2]] == [
        {"au_intensity": {"4": 2}, "au": {"4": 1}},
        {"au_intensity": {"4": 0}, "au": {"4": 0}},
    ]

    right_only, _ = _scan(root, views="right")
    assert [s.key for s in right_only] == ["RightVideoSN001-1", "RightVideoSN001-2"]


def test_frame_base_option_and_the_ambiguous_auto_case(tmp_path):
    root = _write(
        tmp_path,
        {"SN001/SN001_au1.txt": "1,1\n2,2\n"},
        ["LeftVideoSN001/00000.jpg", "LeftVideoSN001/00001.jpg", "LeftVideoSN001/00002.jpg"],
    )
    # auto: the first image (0) equals the first label frame (1) minus 1 -> base 0
    samples, rejects = _scan(root, views="left")
    assert [(s.frame, s.source_path) for s in samples] == [
        (1, "images/LeftVideoSN001/00000.jpg"),
        (2, "images/LeftVideoSN001/00001.jpg"),
    ]
    assert reject_tuples(rejects) == [
        ("fold1", "images/LeftVideoSN001/00002.jpg", None, "no_label", None, None)
    ]
    # frame_base=1 forces image number = label frame
    samples, rejects = _scan(root, views="left", frame_base="1")
    assert [(s.frame, s.source_path, s.extra["frame_base_rule"]) for s in samples] == [
        (1, "images/LeftVideoSN001/00001.jpg", "option"),
        (2, "images/LeftVideoSN001/00002.jpg", "option"),
    ]
    assert reject_tuples(rejects) == [
        ("fold1", "images/LeftVideoSN001/00000.jpg", None, "no_label", None, None)
    ]

    # images starting at 7 match neither base: base 1, recorded as ambiguous
    ambiguous = _write(
        tmp_path / "ambiguous",
        {"SN001/SN001_au1.txt": "1,1\n7,2\n"},
        ["LeftVideoSN001/00007.jpg", "LeftVideoSN001/00008.jpg"],
    )
    samples, rejects = _scan(ambiguous, views="left")
    assert [(s.frame, s.source_path, s.extra) for s in samples] == [
        (
            7,
            "images/LeftVideoSN001/00007.jpg",
            {
                "view": "left",
                "occurrence_threshold": 2,
                "frame_base": 1,
                "frame_base_rule": "auto-ambiguous",
            },
        )
    ]
    assert reject_tuples(rejects) == [
        (
            "fold1",
            "ActionUnit_Labels/SN001/SN001_au1.txt",
            1,
            "missing_image",
            None,
            "LeftVideoSN001-1",
        ),
        ("fold1", "images/LeftVideoSN001/00008.jpg", None, "no_label", None, None),
    ]
    assert rejects[0].detail == (
        "frame 1 is labelled but images/LeftVideoSN001 has no image numbered 1 (frame base 1)"
    )


def test_count_mismatches_both_ways(tmp_path):
    root = _write(
        tmp_path,
        {
            "SN002/SN002_au1.txt": "1,0\n2,0\n3,0\n",
            "SN002/SN002_au2.txt": "1,0\n2,0\n3,0\n4,1\n",
        },
        [
            "LeftVideoSN002/1.jpg",
            "LeftVideoSN002/2.jpg",  # frames 3 and 4 have no image
            "LeftVideoSN002/5.jpg",  # no label line for frame 5
            "LeftVideoSN002/0002.jpg",  # frame 2 again
            "LeftVideoSN002/cover.jpg",  # not a frame number
            "LeftVideoSN002/readme.txt",  # not an image: ignored
            "RightVideoSN099/1.jpg",  # a right view exists, but not for SN002
        ],
    )
    samples, rejects = _scan(root)
    assert [s.key for s in samples] == ["LeftVideoSN002-1", "LeftVideoSN002-2"]
    assert samples[1].source_path == "images/LeftVideoSN002/0002.jpg"  # sorted first, kept
    au1, au2 = "ActionUnit_Labels/SN002/SN002_au1.txt", "ActionUnit_Labels/SN002/SN002_au2.txt"
    assert reject_tuples(rejects) == [
        ("fold1", au1, 3, "missing_image", None, "LeftVideoSN002-3"),
        # frame 4 is only in the AU2 file: its line there is the origin
        ("fold1", au2, 4, "missing_image", None, "LeftVideoSN002-4"),
        ("fold1", "images/LeftVideoSN002/5.jpg", None, "no_label", None, None),
        ("fold1", "images/LeftVideoSN002/cover.jpg", None, "no_label", None, None),
        ("fold1", "images/LeftVideoSN002/2.jpg", None, "duplicate", None, None),
        # the right view of SN002 has no folder: every labelled frame is missing there
        ("fold1", au1, 1, "missing_image", None, "RightVideoSN002-1"),
        ("fold1", au1, 2, "missing_image", None, "RightVideoSN002-2"),
        ("fold1", au1, 3, "missing_image", None, "RightVideoSN002-3"),
        ("fold1", au2, 4, "missing_image", None, "RightVideoSN002-4"),
        # SN099 has images but no labels (and is in no ME-GraphAU part)
        ("unassigned", "images/RightVideoSN099/1.jpg", None, "no_label", None, None),
    ]
    assert rejects[5].detail == (
        "frame 1 is labelled but the image folder images/RightVideoSN002 does not exist"
    )


def test_invalid_intensities_duplicates_and_malformed_lines(tmp_path):
    root = _write(
        tmp_path,
        {
            "SN001/SN001_au1.txt": "1,0\n2,6\n3,-1\n4,2\n4,2\n5,1\n5,3\n",
            "SN001/SN001_au2.txt": "1,2.5\n2,1\n3,x\nframe,intensity\n7\n",
        },
        [f"LeftVideoSN001/{n:05d}.jpg" for n in range(1, 6)],
    )
    samples, rejects = _scan(root, views="left")
    assert [(s.frame, s.labels["au_intensity"]) for s in samples] == [
        (1, {"1": 0}),
        (2, {"2": 1}),
        (4, {"1": 2}),
    ]
    au1, au2 = "ActionUnit_Labels/SN001/SN001_au1.txt", "ActionUnit_Labels/SN001/SN001_au2.txt"
    assert reject_tuples(rejects) == [
        ("fold1", au2, 4, "malformed_row", None, None),  # a header line
        ("fold1", au2, 5, "malformed_row", None, None),  # one field
        ("fold1", au2, 1, "out_of_range", "au_intensity", None),  # 2.5: not an integer
        ("fold1", au1, 2, "out_of_range", "au_intensity", None),  # 6 > 5
        # frame 3 keeps no AU at all: its rejects take the whole frame (task None)
        ("fold1", au1, 3, "out_of_range", None, None),
        ("fold1", au2, 3, "malformed_row", None, None),
        ("fold1", au1, 5, "duplicate", "au_intensity", None),  # identical repeat: first kept
        # frame 5 has conflicting AU1 lines: both rejected, the frame keeps nothing
        ("fold1", au1, 6, "duplicate", None, None),
        ("fold1", au1, 7, "duplicate", None, None),
    ]
    details = {(r.file, r.line): r.detail for r in rejects}
    assert details[(au1, 2)] == "AU1 intensity 6 is outside the integer scale 0-5"
    assert details[(au2, 3)] == "AU2 intensity 'x' is not a number"
    assert details[(au1, 5)] == "repeats frame 4 of line 4"
    assert details[(au1, 6)] == "frame 5 has different AU1 intensities: line 6 (1), line 7 (3)"
    # frames 3 and 5 are rejected through their label lines, so their images are not NO_LABEL
    assert not [r for r in rejects if r.reason == "no_label"]


def test_me_graphau_folds_and_split_selection(tmp_path):
    root = _write(
        tmp_path,
        {
            "SN001/SN001_au1.txt": "1,1\n",
            "SN013/SN013_au1.txt": "1,1\n",
            "SN003/SN003_au1.txt": "1,1\n",
            "SN099/SN099_au1.txt": "1,1\n",
        },
        [f"LeftVideo{s}/00001.jpg" for s in ("SN001", "SN013", "SN003", "SN099")],
    )
    samples, _ = _scan(root, views="left")
    assert [(s.subject, s.split) for s in samples] == [
        ("SN001", "fold1"),
        ("SN003", "fold3"),
        ("SN013", "fold2"),
        ("SN099", "unassigned"),
    ]
    samples, _ = _scan(root, ["fold2", "unassigned"], views="left")
    assert [s.subject for s in samples] == ["SN013", "SN099"]
    samples, _ = _scan(root, folds="none", views="left")
    assert {s.split for s in samples} == {"train"}
    assert sorted(len(v) for v in ME_GRAPHAU_FOLDS.values()) == [9, 9, 9]
    with pytest.raises(ScanError, match=r"no split\(s\) \['test'\]; available: \['fold1'"):
        _scan(root, ["test"])
    with pytest.raises(ScanError, match=r"available: \['train'\]"):
        _scan(root, ["fold1"], folds="none")


def test_options_threshold_aligned_and_invalid_values(tmp_path):
    root = _write(
        tmp_path / "disfa",
        {"SN001/SN001_au1.txt": "1,2\n2,3\n"},
        ["LeftVideoSN001/00001.jpg", "LeftVideoSN001/00002.jpg"],
    )
    samples, _ = _scan(root, views="left", occurrence_threshold="3", aligned="true")
    assert [(s.labels["au"], s.extra["occurrence_threshold"], s.face) for s in samples] == [
        ({"1": 0}, 3, FaceHint("aligned")),
        ({"1": 1}, 3, FaceHint("aligned")),
    ]
    moved = tmp_path / "frames"  # outside the root: source paths stay absolute
    (root / "images").rename(moved)
    samples, _ = _scan(root, views="left", images=str(moved))
    assert [s.source_path for s in samples] == [
        (moved / "LeftVideoSN001/00001.jpg").as_posix(),
        (moved / "LeftVideoSN001/00002.jpg").as_posix(),
    ]
    for options, message in [
        ({"views": "top"}, "views must list left and/or right"),
        ({"frame_base": "2"}, "frame_base must be auto, 0 or 1"),
        ({"occurrence_threshold": "0"}, "occurrence_threshold must be an integer 1-5"),
        ({"folds": "five"}, "folds must be me-graphau or none"),
        ({"aligned": "maybe"}, "aligned must be true or false"),
    ]:
        with pytest.raises(ScanError, match=message):
            _scan(root, images=str(moved), **options)


def test_malformed_trees_raise_scan_errors(tmp_path):
    with pytest.raises(ScanError, match="no ActionUnit_Labels/ folder"):
        _scan(tmp_path)
    root = _write(tmp_path / "a", {"SN001/SN001_au40.txt": "1,1\n"}, ["LeftVideoSN001/1.jpg"])
    with pytest.raises(ScanError, match=r"SN001_au40.txt: AU40 is not in the FACS table"):
        _scan(root, views="left")
    root = _write(tmp_path / "b", {"SN001/SN002_au1.txt": "1,1\n"}, ["LeftVideoSN001/1.jpg"])
    with pytest.raises(ScanError, match="AU label file of subject 'SN002' inside the folder"):
        _scan(root, views="left")
    root = _write(
        tmp_path / "c",
        {"SN001/SN001_au1.txt": "1,1\n", "SN001/SN001_AU01.txt": "1,1\n"},
        ["LeftVideoSN001/1.jpg"],
    )
    with pytest.raises(ScanError, match="a second label file for AU1"):
        _scan(root, views="left")
    root = _write(tmp_path / "d", {"SN001/readme.md": "x"}, ["LeftVideoSN001/1.jpg"])
    with pytest.raises(ScanError, match=r"SN001: no SN001_au<n>.txt label files"):
        _scan(root, views="left")
    root = _write(tmp_path / "e", {"SN001/SN001_au1.txt": "1,1\n"}, ["LeftVideoSN001/1.jpg"])
    with pytest.raises(ScanError, match="no RightVideo<subject> folders for the right view"):
        _scan(root)
    (root / "images" / "LeftVideoSN001" / "1.jpg").unlink()
    (root / "images" / "LeftVideoSN001").rmdir()
    (root / "images").rmdir()
    with pytest.raises(ScanError, match="no image folder"):
        _scan(root)
