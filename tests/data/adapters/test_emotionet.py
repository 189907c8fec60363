"""EmotioNet adapter: challenge .txt and CSV label formats, URL -> image mapping, markers."""

from pathlib import Path

import pytest
from conftest import reject_tuples, split_items, write_file, write_image, write_lines

from holistic.data.adapters._base import (
    DUPLICATE,
    INVALID_MARKER,
    MALFORMED_ROW,
    MISSING_IMAGE,
    NO_LABEL,
    OUT_OF_RANGE,
    FaceHint,
    Sample,
    ScanError,
)
from holistic.data.adapters.emotionet import ADAPTER

URL = "http://cbcsnas01.ece.ohio-state.edu/EmotioNet/Images/dataFile_1001"


def challenge_row(url: str, values: dict[int, object], field2: str = "0") -> str:
    """URL, a second field, then 60 values where value k is AU k (999 unless given)."""
    return "\t".join([url, field2, *(str(values.get(k, 999)) for k in range(1, 61))])


CHALLENGE = "labels/dataFile_1001.txt"


def make_challenge_tree(root: Path) -> None:
    rows = [
        # 1: AU4 not annotated, AU43 labelled (the file labels AUs 1, 2, 4, 12, 43).
        challenge_row(f"{URL}/N_0000000001_00001.jpg", {1: 1, 2: 0, 12: 1, 43: 0}, "17"),
        # 2: every value not annotated: the whole row is rejected.
        challenge_row(f"{URL}/N_0000000002_00001.jpg", {}),
        # 3: labelled, but the image was never downloaded.
        challenge_row(f"{URL}/N_0000000003_00001.jpg", {1: 0}),
        # 4: a field short.
        challenge_row(f"{URL}/N_0000000004_00001.jpg", {1: 0}).rsplit("\t", 1)[0],
        # 5: the same image again, with another label.
        challenge_row(f"{URL}/N_0000000001_00001.jpg", {1: 0}),
        # 6: AU2 out of range, AU12 not a number, AU4 labelled; a quoted URL name.
        challenge_row(f"{URL}/smiling%20face.jpg", {1: 1, 2: 2, 4: 1, 12: "x", 43: 1}),
    ]
    write_lines(root / CHALLENGE, rows, newline="\r\n", bom=True)
    for name in ["N_0000000001_00001.jpg", "N_0000000002_00001.jpg", "smiling face.jpg"]:
        write_image(root / "images" / name)
    write_image(root / "images" / "N_0000000009_00001.jpg")  # no label row
    (root / "images" / "notes.txt").write_text("not an image")


def test_challenge_format_exact_samples_and_rejects(tmp_path):
    make_challenge_tree(tmp_path)
    samples, rejects = split_items(list(ADAPTER(tmp_path)))
    assert samples == [
        Sample(
            dataset="emotionet",
            split="train",
            key="N_0000000001_00001",
            image=tmp_path / "images/N_0000000001_00001.jpg",
            source_path="images/N_0000000001_00001.jpg",
            labels={"au": {"1": 1, "2": 0, "12": 1, "43": 0}},
            face=FaceHint("detect"),
            origin=(CHALLENGE, 1),
            extra={"url": f"{URL}/N_0000000001_00001.jpg", "field2": "17"},
        ),
        Sample(
            dataset="emotionet",
            split="train",
            key="smiling_face",
            image=tmp_path / "images/smiling face.jpg",
            source_path="images/smiling face.jpg",
            labels={"au": {"1": 1, "4": 1, "43": 1}},
            face=FaceHint("detect"),
            origin=(CHALLENGE, 6),
            extra={"url": f"{URL}/smiling%20face.jpg", "field2": "0"},
        ),
    ]
    assert reject_tuples(rejects) == [
        ("train", CHALLENGE, 1, INVALID_MARKER, "au", "N_0000000001_00001"),
        ("train", CHALLENGE, 2, INVALID_MARKER, None, None),
        ("train", CHALLENGE, 3, MISSING_IMAGE, None, None),
        ("train", CHALLENGE, 4, MALFORMED_ROW, None, None),
        ("train", CHALLENGE, 5, DUPLICATE, None, None),
        ("train", CHALLENGE, 6, MALFORMED_ROW, "au", "smiling_face"),
        ("train", CHALLENGE, 6, OUT_OF_RANGE, "au", "smiling_face"),
        ("train", "images/N_0000000009_00001.jpg", None, NO_LABEL, None, None),
    ]
    details = [r.detail for r in rejects]
    assert details[0] == "not annotated (999 / -1): AU4=999; the row's other AUs are kept"
    assert details[1] == (
        "no AU of this row is labelled: not annotated (999 / -1): AU1=999, AU2=999, AU4=999, "
        "AU12=999, AU43=999"
    )
    assert "no image N_0000000003_00001.jpg in images/" in details[2]
    assert "expected 62 fields like the file's first row, found 61" in details[3]
    assert "line 1 already labelled" in details[4]
    assert details[5] == "not a number: AU12='x'; the row's other AUs are kept"
    assert details[6] == "outside {0, 1}: AU2=2; the row's other AUs are kept"


def make_csv_tree(root: Path) -> str:
    text = (
        "\ufeffURL, 'AU 1', AU_2 ,AU 26\r\n"
        f"{URL}/a.jpg, 1, -1, 0\r\n"  # Kollias marker -1 for AU2
        f"{URL}/b.jpg, 0, 0, 1\r\n"
        f"{URL}/c.jpg, -1, 999, -1\r\n"  # nothing labelled
        f"{URL}/d.jpg, 1, 0\r\n"  # short row
    )
    write_file(root / "labels" / "kollias_train.csv", text)
    for name in "abc":
        write_image(root / "images" / f"{name}.jpg")
    return "labels/kollias_train.csv"


def test_csv_format_with_quoted_headers_and_minus_one(tmp_path):
    labels = make_csv_tree(tmp_path)
    samples, rejects = split_items(list(ADAPTER(tmp_path, ["test"], split="test", aligned="true")))
    assert [(s.key, s.split, s.labels, s.face, s.origin, s.extra) for s in samples] == [
        (
            "a",
            "test",
            {"au": {"1": 1, "26": 0}},
            FaceHint("aligned"),
            (labels, 2),
            {"url": f"{URL}/a.jpg"},
        ),
        (
            "b",
            "test",
            {"au": {"1": 0, "2": 0, "26": 1}},
            FaceHint("aligned"),
            (labels, 3),
            {"url": f"{URL}/b.jpg"},
        ),
    ]
    assert reject_tuples(rejects) == [
        ("test", labels, 2, INVALID_MARKER, "au", "a"),
        ("test", labels, 4, INVALID_MARKER, None, None),
        ("test", labels, 5, MALFORMED_ROW, None, None),
    ]
    assert "AU2=-1" in rejects[0].detail


def test_url_map_and_labels_glob(tmp_path):
    make_challenge_tree(tmp_path)
    (tmp_path / "labels" / "other.txt").write_text(challenge_row(f"{URL}/zzz.jpg", {1: 1}))
    write_image(tmp_path / "downloads" / "x" / "first.png")
    (tmp_path / "map.csv").write_text(
        "url,path\n"
        f"{URL}/N_0000000001_00001.jpg,downloads/x/first.png\n"
        f"{URL}/smiling%20face.jpg,downloads/x/missing.png\n"
        f"{URL}/never_labelled.jpg,downloads/x/first.png\n"
    )
    items = list(ADAPTER(tmp_path, labels="labels/dataFile_*.txt", url_map="map.csv"))
    samples, rejects = split_items(items)
    assert [(s.key, s.source_path, s.labels) for s in samples] == [
        ("downloads_x_first", "downloads/x/first.png", {"au": {"1": 1, "2": 0, "12": 1, "43": 0}})
    ]
    assert reject_tuples(rejects) == [
        ("train", CHALLENGE, 1, INVALID_MARKER, "au", "downloads_x_first"),
        ("train", CHALLENGE, 2, INVALID_MARKER, None, None),
        ("train", CHALLENGE, 3, MISSING_IMAGE, None, None),
        ("train", CHALLENGE, 4, MALFORMED_ROW, None, None),
        ("train", CHALLENGE, 5, DUPLICATE, None, None),
        ("train", CHALLENGE, 6, MISSING_IMAGE, None, None),
        ("train", "map.csv", 4, NO_LABEL, None, None),
    ]
    assert "is not in the url_map map.csv" in rejects[2].detail
    assert "no image downloads/x/missing.png (url_map line 3)" in rejects[5].detail


def test_a_file_that_labels_nothing(tmp_path):
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "empty_aus.txt").write_text(challenge_row(f"{URL}/a.jpg", {}) + "\n")
    write_image(tmp_path / "images" / "a.jpg")
    assert reject_tuples(ADAPTER(tmp_path)) == [
        ("train", "labels/empty_aus.txt", 1, NO_LABEL, None, None)
    ]


def test_scan_errors(tmp_path):
    with pytest.raises(ScanError, match="expected a labels/ folder"):
        ADAPTER(tmp_path)
    (tmp_path / "labels").mkdir()
    with pytest.raises(ScanError, match=r"no EmotioNet label file \(\*\.txt or \*\.csv\)"):
        ADAPTER(tmp_path)
    with pytest.raises(ScanError, match="nothing_here"):
        ADAPTER(tmp_path, labels="nothing_here/*.txt")
    (tmp_path / "labels" / "a.csv").write_text("URL,AU 1,AU 3,Expression\n")
    with pytest.raises(ScanError, match=r"\['AU 3', 'Expression'\] are not \(distinct\) FACS"):
        ADAPTER(tmp_path)
    (tmp_path / "labels" / "a.csv").write_text("URL,label\nhttp://x/a.jpg,1\n")
    with pytest.raises(ScanError, match="expected a header .* found 1 fields"):
        ADAPTER(tmp_path)
    (tmp_path / "labels" / "a.csv").write_text("URL,AU 1\nhttp://x/a.jpg,1\n")
    with pytest.raises(ScanError, match="image folder not found"):
        ADAPTER(tmp_path)
    with pytest.raises(ScanError, match="url_map file not found"):
        ADAPTER(tmp_path, url_map="map.csv")
    (tmp_path / "map.csv").write_text("http://x/a.jpg\n")
    with pytest.raises(ScanError, match="map.csv line 1: expected two fields"):
        ADAPTER(tmp_path, url_map="map.csv")
    (tmp_path / "map.csv").write_text("http://x/a.jpg,a.jpg\nhttp://x/a.jpg,b.jpg\n")
    with pytest.raises(ScanError, match="line 2: http://x/a.jpg is mapped again"):
        ADAPTER(tmp_path, url_map="map.csv")
    (tmp_path / "images").mkdir()
    with pytest.raises(ScanError, match=r"no split \['test'\] here; available splits are"):
        ADAPTER(tmp_path, ["test"])
    with pytest.raises(ScanError, match="aligned='maybe'"):
        ADAPTER(tmp_path, aligned="maybe")
    with pytest.raises(ScanError, match="split='a/b'"):
        ADAPTER(tmp_path, split="a/b")
