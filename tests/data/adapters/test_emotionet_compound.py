"""EmotioNet track 2 (emotionet-compound): category ids and names, class lists, URL -> image."""

from pathlib import Path

import pytest
from conftest import reject_tuples, split_items, summary, write_file, write_image, write_lines

import relatedness
from holistic.data.adapters import ADAPTERS
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
from holistic.data.adapters.emotionet_compound import ADAPTER, category_from_name
from holistic.schema import BASIC_EXPRESSIONS, COMPOUND_VOCABULARIES, COMPOUNDS

URL = "http://cbcsnas01.ece.ohio-state.edu/EmotioNet/Images/dataFile_2001"
LABELS = "labels/validation.txt"


def make_tree(root: Path) -> None:
    rows = [
        "URL\tcategory",  # 1: a header
        f"{URL}/N_1.jpg\t3",  # 2: emotionet16 id 3 = happiness (basic -> expr)
        f"{URL}/N_2.jpg\t6",  # 3: id 6 = happily_surprised (compound)
        f"{URL}/N_3.jpg\t16",  # 4: one past the last id
        f"{URL}/N_4.jpg\tSadly Angry",  # 5: a name with a space and capitals
        f"{URL}/N_5.jpg happy",  # 6: no tab: URL, then the rest; an everyday basic name
        f"{URL}/N_6.jpg\tsmiling",  # 7: not a category
        f"{URL}/N_7.jpg\thatred",  # 8: a category, but not one of emotionet16
        f"{URL}/never_downloaded.jpg\t0",  # 9: no image
        f"{URL}/N_1.jpg\t4",  # 10: the first image again, with another category
        f"{URL}/N_8.jpg\t1\t2",  # 11: three fields
        "\t2",  # 12: no URL
        f"{URL}/a%20b.jpg\t-1",  # 13: a negative id (no marker is known for track 2)
    ]
    write_lines(root / LABELS, rows, newline="\r\n", bom=True)
    for name in ["N_1", "N_2", "N_3", "N_4", "N_5", "N_6", "N_7", "N_8", "a b", "N_9"]:
        write_image(root / "images" / f"{name}.jpg")  # N_9: no row names it
    (root / "images" / "notes.txt").write_text("not an image")


def sample(root: Path, name: str, labels: dict, line: int, native: str) -> Sample:
    return Sample(
        dataset="emotionet-compound",
        split="validation",
        key=name,
        image=root / "images" / f"{name}.jpg",
        source_path=f"images/{name}.jpg",
        labels=labels,
        face=FaceHint("detect"),
        origin=(LABELS, line),
        extra={"url": f"{URL}/{name}.jpg", "native_label": native},
    )


def test_exact_samples_and_rejects(tmp_path):
    make_tree(tmp_path)
    samples, rejects = split_items(ADAPTERS["emotionet-compound"](tmp_path))
    assert samples == [
        sample(tmp_path, "N_1", {"expr": "happiness"}, 2, "3"),
        sample(tmp_path, "N_2", {"compound": "happily_surprised"}, 3, "6"),
        sample(tmp_path, "N_4", {"compound": "sadly_angry"}, 5, "Sadly Angry"),
        sample(tmp_path, "N_5", {"expr": "happiness"}, 6, "happy"),
    ]
    assert reject_tuples(rejects) == [
        ("validation", LABELS, 4, OUT_OF_RANGE, None, None),
        ("validation", LABELS, 7, MALFORMED_ROW, None, None),
        ("validation", LABELS, 8, OUT_OF_RANGE, None, None),
        ("validation", LABELS, 9, MISSING_IMAGE, None, None),
        ("validation", LABELS, 10, DUPLICATE, None, None),
        ("validation", LABELS, 11, MALFORMED_ROW, None, None),
        ("validation", LABELS, 12, MALFORMED_ROW, None, None),
        ("validation", LABELS, 13, OUT_OF_RANGE, None, None),
        ("validation", "images/N_9.jpg", None, NO_LABEL, None, None),
    ]
    assert {r.dataset for r in rejects} == {"emotionet-compound"}
    details = [r.detail for r in rejects]
    assert details[0] == (
        "category id 16 is outside the ids 0-15 of the 16 classes (options classes, base)"
    )
    assert "'smiling' is neither an integer id nor a category name" in details[1]
    assert details[2] == (
        "category 'hatred' (hatred) is not one of the 16 classes of this scan (option classes)"
    )
    assert "no image never_downloaded.jpg in images/" in details[3]
    assert "N_1.jpg names the image images/N_1.jpg that labels/validation.txt line 2" in details[4]
    assert details[5] == "expected 'URL <tab> category', found 3 fields"
    assert details[6] == "the image URL (first field) is empty"
    assert "category id -1 is outside" in details[7]


def test_class_list_base_split_url_map_and_labels_option(tmp_path):
    rows = [
        f"{URL}/a.jpg\t1",  # base 1: the first class
        f"{URL}/b.jpg\t3",  # awed
        f"{URL}/c.jpg\t0",  # below base 1
        f"{URL}/d.jpg\tsad",  # sadness is not in this class list
        f"{URL}/e.jpg\tHappily-Surprised",
    ]
    write_lines(tmp_path / "mine" / "track2.tsv", rows)
    write_lines(tmp_path / "mine" / "notes.md", ["not a label file"])
    for name in "abcde":
        write_image(tmp_path / "downloads" / f"{name}.png")
    (tmp_path / "map.csv").write_text(
        "url,path\n"
        + "".join(f"{URL}/{name}.jpg,downloads/{name}.png\n" for name in "abcde")
        + f"{URL}/never_labelled.jpg,downloads/a.png\n"
    )
    items = ADAPTER(
        tmp_path,
        ["test"],
        labels="mine",
        classes="happiness, Happily Surprised, awed",
        base="1",
        url_map="map.csv",
        split="test",
        aligned="true",
    )
    assert [summary(item) for item in items] == [
        ("sample", "test", "downloads_a", "downloads/a.png", {"expr": "happiness"}, "aligned",
         None, ("mine/track2.tsv", 1), {"url": f"{URL}/a.jpg", "native_label": "1"}),
        ("sample", "test", "downloads_b", "downloads/b.png", {"compound": "awed"}, "aligned",
         None, ("mine/track2.tsv", 2), {"url": f"{URL}/b.jpg", "native_label": "3"}),
        ("reject", "test", "mine/track2.tsv", 3, OUT_OF_RANGE, None, None),
        ("reject", "test", "mine/track2.tsv", 4, OUT_OF_RANGE, None, None),
        ("sample", "test", "downloads_e", "downloads/e.png", {"compound": "happily_surprised"},
         "aligned", None, ("mine/track2.tsv", 5),
         {"url": f"{URL}/e.jpg", "native_label": "Happily-Surprised"}),
        ("reject", "test", "map.csv", 7, NO_LABEL, None, None),
    ]  # fmt: skip


def test_named_class_lists(tmp_path):
    write_lines(tmp_path / "labels" / "a.txt", [f"{URL}/x.jpg\t6", f"{URL}/y.jpg\t7"])
    write_image(tmp_path / "images" / "x.jpg")
    write_image(tmp_path / "images" / "y.jpg")
    labels = [s.labels for s in ADAPTER(tmp_path, classes="emotionet16_alt")]
    assert labels == [{"compound": "appalled"}, {"compound": "awed"}]
    labels = [s.labels for s in ADAPTER(tmp_path, classes="emotionet10")]
    assert labels == [{"compound": "fearfully_angry"}, {"compound": "fearfully_surprised"}]
    mine = ["sad", "Awed", "anger", "disgusted", "fear", "happy", "Sadly Angry"]  # ids 0-6
    items = [summary(item)[4:6] for item in ADAPTER(tmp_path, classes=mine)]
    assert items == [({"compound": "sadly_angry"}, "detect"), (OUT_OF_RANGE, None)]


def test_scan_errors(tmp_path):
    with pytest.raises(ScanError, match="expected a labels/ folder holding EmotioNet track-2"):
        ADAPTER(tmp_path)
    (tmp_path / "labels").mkdir()
    with pytest.raises(ScanError, match=r"no EmotioNet track-2 label file \(\*\.txt or \*\.tsv\)"):
        ADAPTER(tmp_path)
    label_file = write_file(tmp_path / "labels" / "a.txt", "\r\n")
    with pytest.raises(ScanError, match=r"labels/a\.txt: the label file is empty"):
        ADAPTER(tmp_path)
    write_lines(label_file, ["image_url\tcategory"])
    with pytest.raises(ScanError, match=r"labels/a\.txt: the label file has a header and no rows"):
        ADAPTER(tmp_path)
    write_lines(label_file, ["\t".join([f"{URL}/x.jpg", "0", *["999"] * 60])])  # track 1
    with pytest.raises(ScanError, match=r"a\.txt line 1: expected 'URL <tab> category'.*62 fields"):
        ADAPTER(tmp_path)
    write_lines(label_file, [f"{URL}/x.jpg\t0"])
    with pytest.raises(ScanError, match="image folder not found"):
        ADAPTER(tmp_path)
    (tmp_path / "images").mkdir()
    with pytest.raises(ScanError, match=r"classes='emotionet17'"):
        ADAPTER(tmp_path, classes="emotionet17")
    with pytest.raises(ScanError, match=r"classes='happiness,neutral'.*unknown: \['neutral'\]"):
        ADAPTER(tmp_path, classes="happiness,neutral")  # neutral is no track-2 category
    with pytest.raises(ScanError, match=r"option classes=.*repeated: \['awed'\]"):
        ADAPTER(tmp_path, classes=["awed", "Awed"])
    with pytest.raises(ScanError, match=r"base='2': expected 0 or 1"):
        ADAPTER(tmp_path, base="2")
    with pytest.raises(ScanError, match="aligned='maybe'"):
        ADAPTER(tmp_path, aligned="maybe")
    with pytest.raises(ScanError, match=r"emotionet-compound has no split \['train'\] here"):
        ADAPTER(tmp_path, ["train"])
    assert reject_tuples(ADAPTER(tmp_path)) == [
        ("validation", "labels/a.txt", 1, MISSING_IMAGE, None, None)
    ]


def test_category_names():
    assert category_from_name(" Happily Surprised ") == "happily_surprised"
    assert category_from_name("fearful") == "fear"
    assert category_from_name("disgust") == "disgust"
    assert category_from_name("neutral") is None  # not a track-2 category
    assert category_from_name("contempt") is None
    assert category_from_name("3") is None


def test_track2_vocabularies():
    rafdb = COMPOUND_VOCABULARIES["rafdb11"]
    first, alt = COMPOUND_VOCABULARIES["emotionet10"], COMPOUND_VOCABULARIES["emotionet10_alt"]
    assert first == tuple(name for name in rafdb if name != "disgustedly_surprised")
    assert alt[:2] == ("appalled", "awed") and len(set(alt)) == 10
    assert set(alt) <= set(COMPOUNDS)
    assert COMPOUND_VOCABULARIES["emotionet16"] == BASIC_EXPRESSIONS + first
    assert COMPOUND_VOCABULARIES["emotionet16_alt"] == BASIC_EXPRESSIONS + alt
    # Every category of both lists has prototypical AUs in the compound relatedness table.
    table = relatedness.load_table("compound")
    for name in set(first) | set(alt) | set(BASIC_EXPRESSIONS):
        assert table.weights(name), name
