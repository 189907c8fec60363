"""Label lines the ``csv`` module cannot split (a field over its 128 KiB limit) used to stop
AffectNet and EmotioNet conversions with a raw ``csv.Error``, and a generic CSV table's with a
ScanError for the whole file. A data row becomes a ``malformed_row`` reject with its file and
line, every other row is still read; a header line is a ScanError naming file and line."""

import pytest
from conftest import split_items, write_image, write_lines

from holistic.data.adapters import ADAPTERS, ScanError
from holistic.synth.world import write_world

LONG = "x" * 200_000  # over the csv module's field limit (131072)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("long_fields")
    write_world(root, "tiny", seed=0, sources=["affectnet", "emotionet"], progress=False)
    return root


def _copy(world, tmp_path, name):
    import shutil

    shutil.copytree(world / name, tmp_path / name)
    return tmp_path / name


def _insert(path, line, text):
    """``text`` as line ``line`` (1-based) of ``path``."""
    lines = path.read_text().split("\n")[:-1]
    lines.insert(line - 1, text)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("source", "file", "row"),
    [
        ("affectnet", "training.csv", f"100/{LONG}.jpg,1,2,30,30,,1,0.1,0.1"),
        ("emotionet", "labels/train.txt", f"http://emotionet.example/{LONG}.jpg\t1\t0"),
    ],
)
def test_a_row_the_csv_module_cannot_split_is_a_malformed_row_reject(
    world, tmp_path, source, file, row
):
    intact, _ = split_items(ADAPTERS[source](world / source, splits=["train"]))
    root = _copy(world, tmp_path, source)
    _insert(root / file, 3, row)
    samples, rejects = split_items(ADAPTERS[source](root, splits=["train"]))
    assert [sample.key for sample in samples] == [sample.key for sample in intact]
    [reject] = [r for r in rejects if r.reason == "malformed_row"]
    assert (reject.file, reject.line) == (file, 3)
    assert "cannot be split into fields" in reject.detail


@pytest.mark.parametrize(("source", "file"), [("affectnet", "training.csv"),
                                              ("emotionet", "labels/train.txt")])  # fmt: skip
def test_a_header_the_csv_module_cannot_split_names_file_and_line(world, tmp_path, source, file):
    root = _copy(world, tmp_path, source)
    _insert(root / file, 1, f"{LONG},{LONG}\t{LONG}")
    with pytest.raises(ScanError, match=r"line 1: the line cannot be split into fields"):
        split_items(ADAPTERS[source](root, splits=["train"]))


def _table(root, lines):
    write_lines(root / "labels.csv", lines)
    for name in "abc":
        write_image(root / "faces" / f"{name}.jpg")
    return root


def test_a_csv_table_row_the_csv_module_cannot_split_is_a_malformed_row_reject(tmp_path):
    rows = ["image,expression", "faces/a.jpg,happy", f'faces/b.jpg,"{LONG}"', "faces/c.jpg,sad"]
    samples, rejects = split_items(ADAPTERS["csv"](_table(tmp_path, rows)))
    assert [sample.image.name for sample in samples] == ["a.jpg", "c.jpg"]  # the rest is read
    [reject] = rejects
    assert (reject.reason, reject.file, reject.line) == ("malformed_row", "labels.csv", 3)
    assert "cannot be split into fields" in reject.detail and "field larger" in reject.detail


def test_a_csv_table_header_the_csv_module_cannot_split_names_file_and_line(tmp_path):
    root = _table(tmp_path, [f'image,"{LONG}"', "faces/a.jpg,happy"])
    with pytest.raises(ScanError, match=r"labels.csv line 1: the line cannot be split into"):
        split_items(ADAPTERS["csv"](root))
