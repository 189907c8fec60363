"""The generic ``csv`` source: header variants, every kind of bad cell, options, clear errors."""

import re
from pathlib import Path

import pytest
from conftest import reject_tuples, split_items, write_image, write_lines

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
from holistic.data.adapters.table import ADAPTER, expression_from_name


def write_table(root: Path, name: str, lines: list[str], images: str = "faces") -> None:
    write_lines(root / name, lines, newline="\r\n", bom=True)
    for letter in "abcdefghij":
        write_image(root / images / f"{letter}.jpg")


HEADER = " Image_Path , Valence, AROUSAL, Expression, AU 1, au_12, compound, Split, subject, video, frame"
ROWS = [
    HEADER,
    "faces/a.jpg, 0.5, -0.25, happy, 1, 0, , train, s1, v1, 10",  # 2
    "faces/b.jpg, , , , , , Happily Surprised, Validation, , , ",  # 3
    "faces/c.jpg, 2, 0, sadness, -1, 2, , , , , ",  # 4: va out of range, AU1 marker, AU12 = 2
    "faces/d.jpg, 0.1, , , , , , , , , ",  # 5: valence without arousal, nothing else
    "faces/e.jpg, , , , , , , , , , ",  # 6: no label at all
    "faces/missing.jpg, , , neutral, , , , , , , ",  # 7
    "faces/a.jpg, , , anger, , , , train, , , ",  # 8: the same image again
    "faces/f.jpg, , , joyful, , , , , , , ",  # 9: unknown expression name
    "faces/g.jpg, , , 3, , , , , , , ",  # 10: a class index without expression_classes
    "faces/h.jpg, 0.1, 0.2",  # 11: short row
    "faces\\i.jpg, , , Surprised, , , , , , , ",  # 12: Windows separator
    "faces/j.jpg, , , fear, , , , , , , abc",  # 13: bad frame
    "faces/j.jpg, , , fear, , , , fold 1/2, , , ",  # 14: unusable split name
    ", , , fear, , , , , , , ",  # 15: no image
    "faces/j.jpg, , , , x, 1, wistfully_sad, test, , , ",  # 16: AU1 not a number, bad compound
    ", , , , , , , , , , ",  # 17: an all-empty row is not a row
]


def test_exact_samples_and_rejects(tmp_path):
    write_table(tmp_path, "labels.csv", ROWS)
    samples, rejects = split_items(list(ADAPTER(tmp_path)))

    def sample(key, split, labels, line, **kw):
        image = tmp_path / "faces" / f"{key.split('_')[-1]}.jpg"
        return Sample(
            dataset="csv",
            split=split,
            key=key,
            image=image,
            source_path=f"faces/{image.name}",
            labels=labels,
            face=FaceHint("aligned"),
            origin=("labels.csv", line),
            **kw,
        )

    assert samples == [
        sample(
            "faces_a",
            "train",
            {"va": [0.5, -0.25], "expr": "happiness", "au": {"1": 1, "12": 0}},
            2,
            subject="s1",
            video="v1",
            frame=10,
        ),
        sample("faces_b", "validation", {"compound": "happily_surprised"}, 3),
        sample("faces_c", "train", {"expr": "sadness"}, 4),
        sample("faces_i", "train", {"expr": "surprise"}, 12),
        sample("faces_j", "test", {"au": {"12": 1}}, 16),
    ]
    assert reject_tuples(rejects) == [
        ("train", "labels.csv", 4, OUT_OF_RANGE, "va", "faces_c"),
        ("train", "labels.csv", 4, OUT_OF_RANGE, "au", "faces_c"),
        ("train", "labels.csv", 4, INVALID_MARKER, "au", "faces_c"),
        ("train", "labels.csv", 5, MALFORMED_ROW, None, None),
        ("train", "labels.csv", 6, NO_LABEL, None, None),
        ("train", "labels.csv", 7, MISSING_IMAGE, None, None),
        ("train", "labels.csv", 8, DUPLICATE, None, None),
        ("train", "labels.csv", 9, MALFORMED_ROW, None, None),
        ("train", "labels.csv", 10, MALFORMED_ROW, None, None),
        ("", "labels.csv", 11, MALFORMED_ROW, None, None),
        ("train", "labels.csv", 13, MALFORMED_ROW, None, None),
        ("", "labels.csv", 14, MALFORMED_ROW, None, None),
        ("train", "labels.csv", 15, MALFORMED_ROW, None, None),
        ("test", "labels.csv", 16, MALFORMED_ROW, "au", "faces_j"),
        ("test", "labels.csv", 16, MALFORMED_ROW, "compound", "faces_j"),
    ]
    details = [r.detail for r in rejects]
    assert details[:4] == [
        "valence 2 is outside [-1, 1]",
        "AU values outside {0, 1}: AU12=2",
        "AU values not-annotated markers (negative or listed in markers): AU1=-1",
        "no valid label: valence is given but arousal is empty",
    ]
    assert details[4] == "every label cell of this row is empty"
    assert "image faces/missing.jpg not found" in details[5]
    assert "line 2 already labels faces/a.jpg in split train" in details[6]
    assert "expression 'joyful' is not an expression name" in details[7]
    assert "pass expression_classes=basic7" in details[8]
    assert details[9] == "expected 11 fields like the header, found 3"
    assert details[10] == "frame 'abc' is not an integer"
    assert details[11] == "split 'fold 1/2' is not a usable split name"
    assert details[12] == "the image cell is empty"
    assert details[13] == "AU values not numbers: AU1=x"
    assert "compound 'wistfully_sad' is not a canonical compound name" in details[14]


def test_splits_filter_and_unknown_split(tmp_path):
    write_table(tmp_path, "labels.csv", ROWS)
    items = list(ADAPTER(tmp_path, ["validation", "test"]))
    assert [(type(i).__name__, i.split, i.key) for i in items] == [
        ("Sample", "validation", "faces_b"),
        ("Reject", "", None),  # the short row: no split to filter on
        ("Reject", "", None),  # the unusable split name
        ("Sample", "test", "faces_j"),
        ("Reject", "test", "faces_j"),
        ("Reject", "test", "faces_j"),
    ]
    with pytest.raises(ScanError, match=r"no split \['fold1'\]; available splits are \['test'"):
        ADAPTER(tmp_path, ["fold1"])


def test_va_scale_markers_classes_tsv_and_images_folder(tmp_path):
    lines = [
        "file\tvalence\tarousal\texpr\tsubject",
        "a.jpg\t5\t-10\t1\tp1",
        "b.jpg\t-5\t3\t7\t",  # -5 is a marker, not -0.5
        "c.jpg\t11\t0\t8\t",  # 11 / 10 out of range; class 8 out of 1-7
        "d.jpg\t\t\t-1\t",  # -1 marker for the expression
    ]
    write_table(tmp_path, "mine.tsv", lines, images="pics")
    (tmp_path / "other.csv").write_text("image,expression\n")
    items = list(
        ADAPTER(
            tmp_path,
            file="mine.tsv",
            images="pics",
            va_scale="10",
            markers="-5, -1",
            expression_classes="surprise,fear,disgust,happy,sad,angry,neutral",
            expression_base="1",
            face="detect",
            split="fold1",
        )
    )
    samples, rejects = split_items(items)
    assert [
        (s.split, s.key, s.source_path, s.labels, s.subject, s.face, s.extra) for s in samples
    ] == [
        (
            "fold1",
            "a",
            "pics/a.jpg",
            {"va": [0.5, -1.0], "expr": "surprise"},
            "p1",
            FaceHint("detect"),
            {"native_va": [5.0, -10.0], "native_expression": "1"},
        ),
        (
            "fold1",
            "b",
            "pics/b.jpg",
            {"expr": "neutral"},
            None,
            FaceHint("detect"),
            {"native_expression": "7"},
        ),
    ]
    assert reject_tuples(rejects) == [
        ("fold1", "mine.tsv", 3, INVALID_MARKER, "va", "b"),
        ("fold1", "mine.tsv", 4, OUT_OF_RANGE, None, None),
        ("fold1", "mine.tsv", 5, INVALID_MARKER, None, None),
    ]
    assert rejects[0].detail == "valence -5 is a not-annotated marker"
    assert rejects[1].detail == (
        "no valid label: valence 1.1 (11 / 10) is outside [-1, 1]; "
        "expression 8 is outside the class indices 1-7 of expression_classes"
    )


def test_named_expression_vocabulary(tmp_path):
    write_table(tmp_path, "t.csv", ["image,expression", "faces/a.jpg,7", "faces/b.jpg,0"])
    samples = list(ADAPTER(tmp_path, expression_classes="affectnet8"))
    assert [s.labels for s in samples] == [{"expr": "contempt"}, {"expr": "neutral"}]


def test_ignore_unknown(tmp_path):
    write_table(tmp_path, "t.csv", ["image,expression,notes", "faces/a.jpg,happiness,smiles"])
    with pytest.raises(ScanError, match=r"unknown columns \['notes'\].*ignore_unknown=true"):
        ADAPTER(tmp_path)
    (sample,) = ADAPTER(tmp_path, ignore_unknown="true")
    assert sample.labels == {"expr": "happiness"}


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("valence,arousal", r"no image column; expected one named image, path, image_path or file"),
        ("image,valence", r"a valence column needs its partner"),
        ("image,subject", r"no label column"),
        ("image,path,AU1", r"columns 'image' and 'path' both give the image"),
        ("image,AU 3", r"column 'AU 3': AU3 is not in the FACS table"),
        ("image,AU1,au_1", r"AU1 has two columns"),
    ],
)
def test_header_errors(tmp_path, header, message):
    write_table(tmp_path, "t.csv", [header])
    with pytest.raises(ScanError, match=message):
        ADAPTER(tmp_path)


def test_table_and_option_errors(tmp_path):
    with pytest.raises(ScanError, match=r"no \*\.csv or \*\.tsv label table"):
        ADAPTER(tmp_path)
    (tmp_path / "a.csv").write_text("")
    with pytest.raises(ScanError, match="the table is empty"):
        ADAPTER(tmp_path)
    (tmp_path / "b.tsv").write_text("image\texpression\n")
    with pytest.raises(ScanError, match=r"several label tables \['a.csv', 'b.tsv'\]"):
        ADAPTER(tmp_path)
    with pytest.raises(ScanError, match="option file='c.csv'"):
        ADAPTER(tmp_path, file="c.csv")
    bad_options = [
        ({"va_scale": "0"}, "va_scale='0': expected a positive number"),
        ({"expression_classes": "basic9"}, r"expression_classes='basic9'.*unknown: \['basic9'\]"),
        ({"expression_classes": "happy,happiness"}, "distinct"),
        ({"expression_base": "2"}, "expected 0 or 1"),
        ({"markers": "-5,x"}, "markers='-5,x'"),
        ({"face": "box"}, "face='box'"),
        ({"ignore_unknown": "perhaps"}, "ignore_unknown='perhaps'"),
        ({"split": "../x"}, "split='../x'"),
        ({"images": "nowhere"}, "images='nowhere'"),
    ]
    for options, message in bad_options:
        with pytest.raises(ScanError, match=message):
            ADAPTER(tmp_path, file="b.tsv", **options)


def test_expression_names():
    assert expression_from_name(" Happy ") == "happiness"
    assert expression_from_name("AFRAID") == "fear"
    assert expression_from_name("contempt") == "contempt"
    assert expression_from_name("joy") is None


def test_path_options_relative_to_the_working_directory(tmp_path, monkeypatch):
    root = tmp_path / "root"
    write_table(root, "t.csv", ["image,expression", "a.jpg,sad"], images="elsewhere")
    (root / "elsewhere").rename(tmp_path / "elsewhere")
    monkeypatch.chdir(tmp_path)
    (sample,) = ADAPTER(root, images="elsewhere")
    assert sample.image == tmp_path / "elsewhere" / "a.jpg"
    assert sample.source_path == (tmp_path / "elsewhere" / "a.jpg").as_posix()
    (root / "t.csv").rename(tmp_path / "cwd.csv")
    (sample,) = ADAPTER(root, file="cwd.csv", images="elsewhere")
    assert sample.origin == ((tmp_path / "cwd.csv").as_posix(), 2)


def test_name_option_names_the_dataset_of_samples_and_rejects(tmp_path):
    write_table(tmp_path, "t.csv", ["image,expression", "faces/a.jpg,happy", "faces/b.jpg,joy"])
    samples, rejects = split_items(list(ADAPTER(tmp_path)))
    assert [s.dataset for s in samples] + [r.dataset for r in rejects] == ["csv", "csv"]
    samples, rejects = split_items(list(ADAPTER(tmp_path, name="my_faces-2")))
    assert [(s.dataset, s.key) for s in samples] == [("my_faces-2", "faces_a")]
    assert [(r.dataset, r.reason) for r in rejects] == [("my_faces-2", MALFORMED_ROW)]
    for bad in ["MyFaces", "my faces", "faces.v2", "faces/x", "-faces", ""]:
        with pytest.raises(ScanError, match=re.escape(f"option name={bad!r}: expected")):
            ADAPTER(tmp_path, name=bad)


def test_tables_federate_side_by_side_under_their_names(tmp_path):
    from holistic.data.shards import federate, load_manifest

    out = tmp_path / "federation"
    for name, rows in [("faces_a", ["faces/a.jpg,happy"]), ("faces-b", ["faces/b.jpg,sad"] * 2)]:
        write_table(tmp_path / name, "t.csv", ["image,expression", *rows])
        federate(ADAPTER, tmp_path / name, out, options={"name": name}, progress=False)
    assert sorted(path.name for path in out.glob("*.tar")) == [
        "faces-b-train-000000.tar",
        "faces_a-train-000000.tar",
    ]
    manifest = load_manifest(out)["datasets"]
    assert {name: entry["splits"]["train"]["samples"] for name, entry in manifest.items()} == {
        "faces_a": 1,
        "faces-b": 1,
    }
    assert manifest["faces-b"]["splits"]["train"]["rejects"] == {"duplicate": 1}
