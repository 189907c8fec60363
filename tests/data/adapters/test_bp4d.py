"""The BP4D / BP4D+ adapter on tiny native trees: columns by header name, 9-coded cells, all-9
columns, uncoded frames, count mismatches both ways, folds files, variants and malformed trees."""

from pathlib import Path

import pytest
from conftest import reject_tuples, split_items, write_file, write_image

from holistic.data.adapters._base import FaceHint, Reject, Sample, ScanError
from holistic.data.adapters.bp4d import ADAPTER, load_folds

OCC = "AUCoding/AU_OCC"


def _write(root: Path, labels: dict[str, str], images: list[str]) -> Path:
    for name, text in labels.items():
        write_file(root / OCC / name, text)
    (root / "images").mkdir(parents=True, exist_ok=True)
    for name in images:
        write_image(root / "images" / name)
    return root


def _scan(root: Path, splits=None, **options) -> tuple[list[Sample], list[Reject]]:
    return split_items(ADAPTER(root, splits, **options))


T1 = (
    "0,1,2,4,12,45\n"
    "2440,1,0,9,1,9\n"  # AU4 not coded on this row; AU45 not coded in the whole file
    "2441,0,0,0,1,9\n"
    "2442,9,9,9,9,9\n"  # nothing coded: no sample
    "2443,1,3,0,x,9\n"  # AU2 out of range, AU12 not a number
    "2444,1,0,0,0,9\n"  # coded, but no image
    "2445,1,0\n"  # wrong field count
)


def test_rows_become_samples_with_the_coded_aus_and_rejects_for_the_rest(tmp_path):
    root = _write(
        tmp_path,
        {"F001_T1.csv": T1},
        [
            "F001/T1/2440.jpg",
            "F001/T1/2441.jpg",
            "F001/T1/02442.jpg",  # zero padded: still frame 2442
            "F001/T1/2443.jpg",
            "F001/T1/2446.jpg",  # an uncoded frame
        ],
    )
    samples, rejects = _scan(root)
    csv = f"{OCC}/F001_T1.csv"

    def sample(frame: int, line: int, au: dict) -> Sample:
        return Sample(
            dataset="bp4d",
            split="train",
            key=f"F001_T1-{frame}",
            image=root / f"images/F001/T1/{frame}.jpg",
            source_path=f"images/F001/T1/{frame}.jpg",
            labels={"au": au},
            subject="F001",
            video="F001_T1",
            frame=frame,
            face=FaceHint("detect"),
            origin=(csv, line),
            extra={"task": "T1"},
        )

    assert samples == [
        sample(2440, 2, {"1": 1, "2": 0, "12": 1}),
        sample(2441, 3, {"1": 0, "2": 0, "4": 0, "12": 1}),
        sample(2443, 5, {"1": 1, "4": 0}),
    ]
    assert reject_tuples(rejects) == [
        ("train", csv, 7, "malformed_row", None, None),
        ("train", csv, None, "invalid_marker", "au", None),  # AU45: once for the whole file
        ("train", csv, 2, "invalid_marker", "au", "F001_T1-2440"),
        ("train", csv, 4, "invalid_marker", None, "F001_T1-2442"),
        ("train", csv, 5, "out_of_range", "au", "F001_T1-2443"),
        ("train", csv, 5, "malformed_row", "au", "F001_T1-2443"),
        ("train", csv, 6, "missing_image", None, "F001_T1-2444"),
        ("train", "images/F001/T1/2446.jpg", None, "no_label", None, None),
    ]
    assert [r.detail for r in rejects] == [
        "expected 6 fields (frame and 5 AUs), got 3",
        "AU45 is 9 (not coded) on every row",
        "9 (not coded): AU4",
        "9 (not coded): AU1, AU2, AU4, AU12",
        "expected 0, 1 or 9: AU2 = 3",
        "not a number: AU12 'x'",
        "frame 2444 is coded but images/F001/T1 has no image numbered 2444",
        "no label row for frame 2446",
    ]


def test_columns_are_read_by_header_name(tmp_path):
    root = _write(
        tmp_path,
        # BOM, CRLF, spaces, "frame" and "AU4" names, columns in another order
        {"F001_T2.csv": "\ufeffFrame, 23 ,AU4,1\r\n7, 1, 0, 1\r\n8,0,1,0\r\n"},
        ["F001/T2/0007.jpg", "F001/T2/0008.jpg"],
    )
    samples, rejects = _scan(root)
    assert rejects == []
    assert [(s.key, s.frame, s.labels, s.source_path) for s in samples] == [
        ("F001_T2-7", 7, {"au": {"1": 1, "4": 0, "23": 1}}, "images/F001/T2/0007.jpg"),
        ("F001_T2-8", 8, {"au": {"1": 0, "4": 1, "23": 0}}, "images/F001/T2/0008.jpg"),
    ]


def test_files_coded_9_throughout_and_duplicate_rows(tmp_path):
    root = _write(
        tmp_path,
        {
            "F002_T1.csv": "0,1,2\n10,9,9\n11,9,9\n",
            "F002_T2.csv": "0,1,2\n5,1,0\n5,1,0\n6,0,0\n6,1,0\n7,0,1\n",
        },
        ["F002/T1/10.jpg", "F002/T1/11.jpg"] + [f"F002/T2/{n}.jpg" for n in (5, 6, 7)],
    )
    samples, rejects = _scan(root)
    t1, t2 = f"{OCC}/F002_T1.csv", f"{OCC}/F002_T2.csv"
    assert [(s.key, s.labels["au"]) for s in samples] == [
        ("F002_T2-5", {"1": 1, "2": 0}),
        ("F002_T2-7", {"1": 0, "2": 1}),
    ]
    assert reject_tuples(rejects) == [
        ("train", t1, None, "invalid_marker", "au", None),
        ("train", t1, None, "invalid_marker", "au", None),
        ("train", t1, 2, "invalid_marker", None, "F002_T1-10"),
        ("train", t1, 3, "invalid_marker", None, "F002_T1-11"),
        ("train", t2, 3, "duplicate", None, "F002_T2-5"),  # identical repeat: first kept
        ("train", t2, 4, "duplicate", None, "F002_T2-6"),  # conflicting: both rejected
        ("train", t2, 5, "duplicate", None, "F002_T2-6"),
    ]
    assert [r.detail for r in rejects] == [
        "AU1 is 9 (not coded) on every row",
        "AU2 is 9 (not coded) on every row",
        "no AU is coded on this row (every column of the file is 9)",
        "no AU is coded on this row (every column of the file is 9)",
        "repeats frame 5 of line 2",
        "frame 6 is coded differently on lines 4, 5",
        "frame 6 is coded differently on lines 4, 5",
    ]


def test_videos_without_images_or_without_labels(tmp_path):
    root = _write(
        tmp_path,
        {"F001_T1.csv": "0,1\n1,1\n2,0\n"},
        ["F001/T2/1.jpg", "F001/T2/name.jpg", "F001/T2/01.jpg"],
    )
    samples, rejects = _scan(root)
    assert samples == []
    csv = f"{OCC}/F001_T1.csv"
    assert reject_tuples(rejects) == [
        ("train", csv, 2, "missing_image", None, "F001_T1-1"),
        ("train", csv, 3, "missing_image", None, "F001_T1-2"),
        ("train", "images/F001/T2/01.jpg", None, "no_label", None, None),
        ("train", "images/F001/T2/name.jpg", None, "no_label", None, None),
        ("train", "images/F001/T2/1.jpg", None, "duplicate", None, None),
    ]
    assert rejects[0].detail == (
        "frame 1 is coded but the image folder images/F001/T1 does not exist"
    )


def test_folds_file_variant_aligned_and_images_option(tmp_path):
    root = _write(
        tmp_path / "bp4d",
        {f"{s}_T1.csv": "0,1\n1,1\n" for s in ("F001", "M001", "F002")},
        [f"{s}/T1/1.jpg" for s in ("F001", "M001", "F002")],
    )
    folds = tmp_path / "folds.csv"
    folds.write_text("subject,fold\nF001,1\nM001 2\nF002,test\n")
    assert load_folds(folds) == {"F001": "fold1", "M001": "fold2", "F002": "test"}
    samples, _ = _scan(root, folds=str(folds))
    assert [(s.subject, s.split) for s in samples] == [
        ("F001", "fold1"),
        ("F002", "test"),
        ("M001", "fold2"),
    ]
    folds.write_text("F001,1\n")
    samples, _ = _scan(root, folds=folds)
    assert [(s.subject, s.split) for s in samples] == [
        ("F001", "fold1"),
        ("F002", "unassigned"),
        ("M001", "unassigned"),
    ]
    samples, _ = _scan(root, ["unassigned"], folds=folds, variant="bp4d+", aligned="yes")
    assert [(s.dataset, s.subject, s.face) for s in samples] == [
        ("bp4dplus", "F002", FaceHint("aligned")),
        ("bp4dplus", "M001", FaceHint("aligned")),
    ]
    with pytest.raises(ScanError, match=r"no split\(s\) \['train'\]; available: \['fold1'"):
        _scan(root, ["train"], folds=folds)
    with pytest.raises(ScanError, match=r"available: \['train'\]"):
        _scan(root, ["fold1"])

    moved = tmp_path / "frames"
    (root / "images").rename(moved)
    samples, _ = _scan(root, images=moved)
    assert samples[0].source_path == (moved / "F001/T1/1.jpg").as_posix()

    for text, message in [
        ("F001\n", r"folds.csv:1: expected 'subject,fold'"),
        ("F001,1\nF001,2\n", "folds.csv:2: subject F001 is listed in two folds"),
        ("F001,a.b\n", "expected 'subject,fold'"),
    ]:
        folds.write_text(text)
        with pytest.raises(ScanError, match=message):
            _scan(root, images=moved, folds=folds)
    with pytest.raises(ScanError, match="folds file not found"):
        _scan(root, images=moved, folds=tmp_path / "absent.csv")
    with pytest.raises(ScanError, match="variant must be bp4d or bp4d"):
        _scan(root, images=moved, variant="bp5d")
    with pytest.raises(ScanError, match="aligned must be true or false"):
        _scan(root, images=moved, aligned="perhaps")


def test_malformed_trees_raise_scan_errors(tmp_path):
    with pytest.raises(ScanError, match="BP4D\\+ is assumed to share it"):
        _scan(tmp_path, variant="bp4d+")
    cases = [
        ("F001_T1.csv", "0,1,40\n1,0,0\n", r"F001_T1.csv: column '40': AU40 is not in the FACS"),
        ("F001_T1.csv", "0,1,brow\n", r"column 'brow': 'brow' is not an AU number"),
        ("F001_T1.csv", "1,2,4\n", "the first column must be the frame number"),
        ("F001_T1.csv", "0,1,AU1\n", "column 'AU1' repeats AU1"),
        ("F001_T1.csv", "0\n", "no AU columns"),
        ("F001_T1.csv", "", "empty label file"),
        ("F001.csv", "0,1\n", r"F001.csv: expected a label file named <subject>_<task>.csv"),
    ]
    for number, (name, text, message) in enumerate(cases):
        root = _write(tmp_path / f"case{number}", {name: text}, ["F001/T1/1.jpg"])
        with pytest.raises(ScanError, match=message):
            _scan(root)
    root = _write(tmp_path / "nocsv", {"README": "x"}, [])
    with pytest.raises(ScanError, match="no <subject>_<task>.csv label files"):
        _scan(root)
    root = _write(tmp_path / "noimages", {"F001_T1.csv": "0,1\n1,1\n"}, [])
    (root / "images").rmdir()
    with pytest.raises(ScanError, match="no image folder"):
        _scan(root)
