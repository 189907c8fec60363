"""The helpers the adapters share: option values, the one path rule, frame and image listing."""

from pathlib import Path

import pytest
from conftest import write_file, write_image

from holistic.data.adapters._base import DUPLICATE, NO_LABEL, ScanError
from holistic.data.adapters._files import find_folder, list_frames, list_images, unclaimed_frames
from holistic.data.adapters._parsing import (
    check_dataset_name,
    compound_from_name,
    expression_from_name,
    option_glob,
    option_int,
    option_path,
    parse_bool,
    split_name,
    unique_key,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (" Yes", True), ("ON", True), ("1", True), (False, False), ("off", False)],
)
def test_parse_bool(value, expected):
    assert parse_bool(value, "aligned", "bp4d") is expected


def test_parse_bool_names_the_source_option_and_value():
    message = "bp4d option aligned must be true or false (or 1/0, yes/no, on/off); got aligned='2'"
    with pytest.raises(ScanError) as error:
        parse_bool("2", "aligned", "bp4d")
    assert str(error.value) == message


def test_option_int():
    assert option_int("3.0", "folds", "afewva", allowed=lambda n: n > 1, expected="n > 1") == 3
    for value in ["1", "x", "2.5", True]:
        with pytest.raises(ScanError, match=f"afewva option folds={value!r}: expected n > 1"):
            option_int(value, "folds", "afewva", allowed=lambda n: n > 1, expected="n > 1")


def test_option_path_prefers_the_working_directory_then_root(tmp_path, monkeypatch):
    root, cwd = tmp_path / "root", tmp_path / "cwd"
    (root / "only_root").mkdir(parents=True)
    (root / "both").mkdir()
    (cwd / "both").mkdir(parents=True)
    monkeypatch.chdir(cwd)
    assert option_path(root, "both") == cwd / "both"
    assert option_path(root, "only_root") == root / "only_root"
    assert option_path(root, "nowhere") == cwd / "nowhere"  # reported where the shell was
    assert option_path(root, tmp_path / "root") == tmp_path / "root"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert option_path(root, "~/root") == tmp_path / "root"


def test_option_glob_follows_the_same_rule(tmp_path, monkeypatch):
    root, cwd = tmp_path / "root", tmp_path / "cwd"
    write_file(root / "labels" / "a.txt", "")
    write_file(root / "labels" / "deep" / "b.txt", "")
    monkeypatch.chdir(tmp_path)
    assert option_glob(root, "labels/**/*.txt") == [
        root / "labels/a.txt",
        root / "labels/deep/b.txt",
    ]
    write_file(cwd / "labels" / "c.txt", "")
    monkeypatch.chdir(cwd)
    assert option_glob(root, "labels/*.txt") == [cwd / "labels" / "c.txt"]
    assert option_glob(root, str(root / "labels" / "*.txt")) == [root / "labels/a.txt"]
    assert option_glob(root, "none/*.txt") == []


def test_dataset_names():
    assert check_dataset_name("my_faces-2", "csv") == "my_faces-2"
    for bad in ["My", "a b", "a.b", "-a", "", None]:
        with pytest.raises(ScanError, match="csv option name=.*: expected a dataset name"):
            check_dataset_name(bad, "csv")


def test_split_names():
    texts = ["Val", " Train_Set ", "fold-1", "_x", "a/b", "a.b", " "]
    assert [split_name(text) for text in texts] == [
        "validation",
        "train",
        "fold-1",
        "_x",
        "",
        "",
        "",
    ]


def test_names_of_expressions_and_compounds():
    assert expression_from_name(" Others") == "other"  # Aff-Wild2's EXPR header spelling
    assert expression_from_name("Scared") == "fear"
    assert compound_from_name("Happily Surprised") == "happily_surprised"
    assert compound_from_name("sadness") == "sadness"  # a basic emotion, as check_compound
    assert compound_from_name("happy") is None


def test_unique_key():
    used: set[str] = set()
    assert [unique_key(key, used) for key in ["a", "a", "b", "a"]] == ["a", "a-2", "b", "a-3"]
    assert used == {"a", "a-2", "a-3", "b"}


def test_list_frames_by_number_with_duplicates_and_hidden_files(tmp_path):
    for name in ["00002.png", "2.jpg", "3.jpg", "cover.jpg", "._00004.jpg"]:
        write_image(tmp_path / name)
    write_file(tmp_path / "notes.txt", "not an image")
    frames = list_frames(tmp_path)
    assert frames.exists
    assert frames.by_number == {2: tmp_path / "2.jpg", 3: tmp_path / "3.jpg"}  # .jpg first
    assert frames.unnumbered == [tmp_path / "cover.jpg"]
    assert frames.duplicates == [(tmp_path / "00002.png", tmp_path / "2.jpg")]
    assert list_frames(tmp_path, (".png", ".jpg")).by_number[2] == tmp_path / "00002.png"
    assert list(unclaimed_frames(frames, {2}, "no row for frame {number}")) == [
        (tmp_path / "3.jpg", NO_LABEL, "no row for frame 3"),
        (tmp_path / "cover.jpg", NO_LABEL, "the file name is not a frame number"),
        (tmp_path / "00002.png", DUPLICATE, "repeats the frame number of 2.jpg"),
    ]
    assert not list_frames(tmp_path / "absent").exists


def test_list_images(tmp_path):
    for name in ["a.JPG", "b.webp", "sub/c.png", ".hidden/d.jpg", "__MACOSX/e.jpg", "f.txt"]:
        write_file(tmp_path / name, "x")
    assert list_images(tmp_path) == ["a.JPG", "b.webp"]
    assert list_images(tmp_path, recursive=True) == ["a.JPG", "b.webp", "sub/c.png"]
    assert list_images(tmp_path / "absent") == []


def test_find_folder(tmp_path: Path):
    (tmp_path / "Image" / "ORIGIN").mkdir(parents=True)
    (tmp_path / "images").mkdir()
    what = "the image folder"
    assert find_folder(tmp_path, None, ("image/origin", "images"), what) == (
        tmp_path / "Image" / "ORIGIN"
    )
    assert find_folder(tmp_path, "images", ("image/origin",), what) == tmp_path / "images"
    with pytest.raises(ScanError, match=r"none of the folders \['photos/', 'faces/'\]"):
        find_folder(tmp_path, None, ("photos", "faces"), what)
    with pytest.raises(ScanError, match="no photos/ folder; expected the image folder there"):
        find_folder(tmp_path, None, ("photos",), what)
    with pytest.raises(ScanError, match="absent: not a directory; expected the image folder"):
        find_folder(tmp_path, tmp_path / "absent", ("images",), what)
