"""The ``hf`` source: a saved DatasetDict / Dataset and an image folder, read offline."""

import re
import socket
from pathlib import Path

import cv2
import pytest
from conftest import reject_tuples, split_items, write_image

from holistic.data.adapters._base import (
    INVALID_MARKER,
    MALFORMED_ROW,
    MISSING_IMAGE,
    NO_LABEL,
    OUT_OF_RANGE,
    FaceHint,
    Sample,
    ScanError,
)
from holistic.data.adapters.huggingface import ADAPTER

datasets = pytest.importorskip("datasets")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test here may touch the network: HF offline mode, and any connection fails loudly."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


CLASSES = ["Angry", "Happy", "Sad", "uncertain"]


def make_saved_dict(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    images = [str(write_image(source / f"{name}.png", 10 * i)) for i, name in enumerate("abcd")]
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "label": datasets.ClassLabel(names=CLASSES),
            "valence": datasets.Value("float32"),
            "arousal": datasets.Value("float32"),
            "AU12": datasets.Value("int8"),
            "notes": datasets.Value("string"),
        }
    )
    train = datasets.Dataset.from_dict(
        {
            "image": [images[0], images[1], images[2], images[3], None],
            "label": [1, -1, 3, 2, 0],
            "valence": [0.5, None, 2.0, 0.25, None],
            "arousal": [0.25, None, 0.0, None, None],
            "AU12": [1, None, -1, 0, None],
            "notes": ["", "", "", "", ""],
        },
        features=features,
    )
    validation = datasets.Dataset.from_dict(
        {
            "image": [images[0]],
            "label": [0],
            "valence": [None],
            "arousal": [None],
            "AU12": [None],
            "notes": [""],
        },
        features=features,
    )
    root = tmp_path / "saved"
    datasets.DatasetDict({"train": train, "val": validation}).save_to_disk(str(root))
    for path in files_under(source):
        path.unlink()  # save_to_disk embedded the bytes; the files are gone
    return root


def test_saved_dataset_dict_with_embedded_bytes(tmp_path):
    root = make_saved_dict(tmp_path)
    before = files_under(root)
    cache = tmp_path / "cache"
    items = list(
        ADAPTER(
            root,
            valence_column="valence",
            arousal_column="arousal",
            au_columns="AU12",
            label_map="uncertain:none",
            cache=str(cache),
        )
    )
    assert files_under(root) == before  # nothing written into ROOT
    samples, rejects = split_items(items)
    assert samples == [
        Sample(
            dataset="hf",
            split="train",
            key="000000",
            image=cache / "train" / "000000.png",
            source_path="train/0",
            labels={"expr": "happiness", "va": [0.5, 0.25], "au": {"12": 1}},
            face=FaceHint("aligned"),
            origin=("train", 1),
            extra={"native_label": "Happy", "hf_path": "a.png"},
        ),
        Sample(
            dataset="hf",
            split="train",
            key="000003",
            image=cache / "train" / "000003.png",
            source_path="train/3",
            labels={"expr": "sadness", "au": {"12": 0}},
            face=FaceHint("aligned"),
            origin=("train", 4),
            extra={"native_label": "Sad", "hf_path": "d.png"},
        ),
        Sample(
            dataset="hf",
            split="validation",
            key="000000",
            image=cache / "validation" / "000000.png",
            source_path="val/0",
            labels={"expr": "anger"},
            face=FaceHint("aligned"),
            origin=("val", 1),
            extra={"native_label": "Angry", "hf_path": "a.png"},
        ),
    ]
    # The written files are the embedded images, byte for byte.
    assert cv2.imread(str(cache / "train" / "000003.png"))[0, 0, 0] == 30
    assert reject_tuples(rejects) == [
        ("train", "train", 2, INVALID_MARKER, None, None),
        ("train", "train", 3, OUT_OF_RANGE, None, None),
        ("train", "train", 4, MALFORMED_ROW, "va", "000003"),
        ("train", "train", 5, MISSING_IMAGE, None, None),
    ]
    assert rejects[0].detail == "no valid label: label -1 is HF's no-label value"
    assert rejects[1].detail == (
        "no valid label: label class 'uncertain' is mapped to none; "
        "valence 2 is outside [-1, 1]; AU values negative (not annotated): AU12=-1"
    )
    assert rejects[2].detail == "only valence is given"
    assert rejects[3].detail == "the image value has no path and no bytes"


def test_saved_dict_split_selection_and_label_errors(tmp_path):
    root = make_saved_dict(tmp_path)
    cache = str(tmp_path / "cache")
    with pytest.raises(ScanError, match=r"label names \['uncertain'\].*label_map=uncertain:"):
        ADAPTER(root, cache=cache)
    items = list(ADAPTER(root, ["validation"], label_map="uncertain:none", cache=cache))
    assert [(i.split, i.key, i.labels) for i in items] == [
        ("validation", "000000", {"expr": "anger"})
    ]
    with pytest.raises(ScanError, match=r"no split \['test'\]; available splits are"):
        ADAPTER(root, ["test"], cache=cache)
    with pytest.raises(ScanError, match="must not lie inside ROOT"):
        ADAPTER(root, cache=str(root / "cache"))
    with pytest.raises(ScanError, match="no image column 'picture'"):
        ADAPTER(root, image_column="picture", cache=cache)
    with pytest.raises(ScanError, match="valence_column and arousal_column go together"):
        ADAPTER(root, valence_column="valence", label_map="uncertain:none", cache=cache)
    with pytest.raises(ScanError, match="'AU99' names no FACS AU"):
        ADAPTER(root, au_columns="AU99", label_map="uncertain:none", cache=cache)
    with pytest.raises(ScanError, match="column 'notes' is .*expected numbers"):
        ADAPTER(root, au_columns="notes:12", label_map="uncertain:none", cache=cache)
    with pytest.raises(ScanError, match="'uncertain':'maybe' - 'maybe' is not a canonical"):
        ADAPTER(root, label_map="uncertain:maybe", cache=cache)


def make_image_folder(root: Path) -> None:
    write_image(root / "train" / "happy" / "a.jpg")
    write_image(root / "train" / "Angry" / "b.jpg")
    write_image(root / "train" / "sadly surprised" / "c.jpg")
    write_image(root / "val" / "happy" / "d.jpg")
    write_image(root / "test" / "Angry" / "e.jpg")


def test_image_folder(tmp_path):
    root = tmp_path / "faces"
    make_image_folder(root)
    cache = tmp_path / "hf-cache"
    samples, rejects = split_items(list(ADAPTER(root, cache=str(cache), face="detect")))
    assert rejects == []
    assert [(s.split, s.key, s.source_path, s.labels, s.origin, s.image) for s in samples] == [
        (
            "train",
            "000000",
            "train/Angry/b.jpg",
            {"expr": "anger"},
            ("train/Angry/b.jpg", None),
            root / "train/Angry/b.jpg",
        ),
        (
            "train",
            "000001",
            "train/happy/a.jpg",
            {"expr": "happiness"},
            ("train/happy/a.jpg", None),
            root / "train/happy/a.jpg",
        ),
        (
            "train",
            "000002",
            "train/sadly surprised/c.jpg",
            {"compound": "sadly_surprised"},
            ("train/sadly surprised/c.jpg", None),
            root / "train/sadly surprised/c.jpg",
        ),
        (
            "validation",
            "000000",
            "val/happy/d.jpg",
            {"expr": "happiness"},
            ("val/happy/d.jpg", None),
            root / "val/happy/d.jpg",
        ),
        (
            "test",
            "000000",
            "test/Angry/e.jpg",
            {"expr": "anger"},
            ("test/Angry/e.jpg", None),
            root / "test/Angry/e.jpg",
        ),
    ]
    assert {s.face for s in samples} == {FaceHint("detect")}
    assert not any(p.suffix == ".jpg" for p in files_under(cache))  # images used in place


def test_image_folder_unknown_names(tmp_path):
    root = tmp_path / "faces"
    write_image(root / "joy" / "a.jpg")
    write_image(root / "calm" / "b.jpg")
    cache = str(tmp_path / "hf-cache")
    with pytest.raises(ScanError, match=r"label names \['calm', 'joy'\] of column 'label'"):
        ADAPTER(root, cache=cache)
    samples = list(ADAPTER(root, label_map="joy:happy, calm:neutral", cache=cache))
    assert [(s.split, s.source_path, s.labels) for s in samples] == [
        ("train", "calm/b.jpg", {"expr": "neutral"}),
        ("train", "joy/a.jpg", {"expr": "happiness"}),
    ]


def test_single_dataset_with_path_strings_and_integer_labels(tmp_path):
    root = tmp_path / "single"
    write_image(root / "imgs" / "x.jpg")
    write_image(root / "imgs" / "y.jpg")
    data = datasets.Dataset.from_dict(
        {
            "file": ["imgs/x.jpg", "imgs/y.jpg", "imgs/z.jpg", "imgs/y.jpg"],
            "emotion": [2, 0, 1, 5],
            "v": [5.0, -10.0, 0.0, None],
            "a": [0.0, 10.0, 0.0, None],
            "au_1": [True, False, None, None],
            "brow": [0.0, 0.5, None, None],
        }
    )
    data.save_to_disk(str(root))
    cache = str(tmp_path / "cache")
    with pytest.raises(ScanError, match="holds integers without class names; pass label_map=0:"):
        ADAPTER(root, image_column="file", label_column="emotion", cache=cache)
    with pytest.raises(ScanError, match=r"label names \['5'\]"):
        ADAPTER(
            root, image_column="file", label_column="emotion", label_map="0:neutral,1:sad,2:happy"
        )
    items = list(
        ADAPTER(
            root,
            image_column="file",
            label_column="emotion",
            label_map="0:neutral,1:sad,2:happy,5:none",
            valence_column="v",
            arousal_column="a",
            va_scale="10",
            au_columns="au_1,brow:4",
            split="test",
            cache=cache,
        )
    )
    samples, rejects = split_items(items)
    assert [(s.split, s.key, s.source_path, s.labels, s.origin, s.extra) for s in samples] == [
        (
            "test",
            "000000",
            "imgs/x.jpg",
            {"expr": "happiness", "va": [0.5, 0.0], "au": {"1": 1, "4": 0}},
            (".", 1),
            {"native_label": "2", "native_va": [5.0, 0.0], "hf_path": "imgs/x.jpg"},
        ),
        (
            "test",
            "000001",
            "imgs/y.jpg",
            {"expr": "neutral", "va": [-1.0, 1.0], "au": {"1": 0}},
            (".", 2),
            {"native_label": "0", "native_va": [-10.0, 10.0], "hf_path": "imgs/y.jpg"},
        ),
    ]
    assert reject_tuples(rejects) == [
        ("test", ".", 2, OUT_OF_RANGE, "au", "000001"),
        ("test", ".", 3, MISSING_IMAGE, None, None),
        ("test", ".", 4, INVALID_MARKER, None, None),
    ]
    assert rejects[0].detail == "AU values outside {0, 1}: brow=0.5"
    assert "the path 'imgs/z.jpg', not a file," in rejects[1].detail


def test_nothing_to_read(tmp_path):
    root = tmp_path / "nolabels"
    datasets.Dataset.from_dict({"image": ["a.jpg"], "x": [1]}).save_to_disk(str(root))
    with pytest.raises(ScanError, match="no label to read; columns are"):
        ADAPTER(root, image_column="image")
    with pytest.raises(ScanError, match="column 'x' is .* expected an Image or path strings"):
        ADAPTER(root, image_column="x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScanError, match="empty; expected a save_to_disk folder"):
        ADAPTER(tmp_path / "empty")
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "readme.txt").write_text("no images here")
    with pytest.raises(ScanError, match="neither a save_to_disk folder .* nor an image folder"):
        ADAPTER(tmp_path / "text", cache=str(tmp_path / "cache"))
    with pytest.raises(ScanError, match="face='box'"):
        ADAPTER(root, face="box")
    with pytest.raises(ScanError, match="va_scale='-1'"):
        ADAPTER(root, va_scale="-1")


def test_rows_without_any_label(tmp_path):
    root = tmp_path / "sparse"
    write_image(root / "a.jpg")
    datasets.Dataset.from_dict(
        {"image": ["a.jpg"], "valence": [None], "arousal": [None]},
        features=datasets.Features(
            {
                "image": datasets.Value("string"),
                "valence": datasets.Value("float32"),
                "arousal": datasets.Value("float32"),
            }
        ),
    ).save_to_disk(str(root))
    assert reject_tuples(ADAPTER(root, valence_column="valence", arousal_column="arousal")) == [
        ("train", ".", 1, NO_LABEL, None, None)
    ]


def test_name_option_names_the_dataset_of_samples_and_rejects(tmp_path):
    root = tmp_path / "faces"
    make_image_folder(root)
    write_image(root / "train" / "bored" / "f.jpg")
    cache = str(tmp_path / "hf-cache")
    items = list(ADAPTER(root, label_map="bored:none", cache=cache))
    assert {item.dataset for item in items} == {"hf"}
    samples, rejects = split_items(
        list(ADAPTER(root, label_map="bored:none", cache=cache, name="fer_v2"))
    )
    assert len(samples) == 5 and {s.dataset for s in samples} == {"fer_v2"}
    assert [(r.dataset, r.reason, r.task) for r in rejects] == [("fer_v2", INVALID_MARKER, None)]
    for bad in ["FER", "fer 2013", "fer.2013", "_fer", ""]:
        with pytest.raises(ScanError, match=re.escape(f"option name={bad!r}: expected")):
            ADAPTER(root, cache=cache, name=bad)
