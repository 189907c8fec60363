"""Label files in other encodings: byte-order marks decide, ``encoding=`` covers files without
one, and anything else is a ScanError naming the file and line (never a bare
UnicodeDecodeError)."""

import inspect
import json

import pytest
from conftest import split_items, write_face

from holistic.cli import main
from holistic.data.adapters import ADAPTERS, ScanError

#: Adapters that read no text file (a Hugging Face dataset is Arrow data).
NO_TEXT = {"hf"}
ROWS = ["image,valence,arousal,expression", "café.jpg,0.5,0.1,anger", "naïve.jpg,-0.5,0.2,fear"]


def _table(tmp_path, encoding, bom=b""):
    root = tmp_path / "table"
    for name in ("café.jpg", "naïve.jpg"):
        write_face(root / name, 100)
    (root / "labels.csv").write_bytes(bom + "\r\n".join(ROWS).encode(encoding))
    return root


def _source_paths(root, **options):
    samples, rejects = split_items(ADAPTERS["csv"](root, **options))
    assert rejects == []
    return [sample.source_path for sample in samples]


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-8", b"\xef\xbb\xbf"),
        ("utf-16-le", b"\xff\xfe"),
        ("utf-16-be", b"\xfe\xff"),
        ("utf-32-le", b"\xff\xfe\x00\x00"),
        ("utf-32-be", b"\x00\x00\xfe\xff"),
    ],
)
def test_a_byte_order_mark_decides_the_encoding(tmp_path, encoding, bom):
    assert _source_paths(_table(tmp_path, encoding, bom)) == ["café.jpg", "naïve.jpg"]


def test_latin1_without_the_option_names_file_line_and_option(tmp_path):
    root = _table(tmp_path, "latin-1")
    with pytest.raises(ScanError, match=r"labels\.csv line 2: cannot be decoded as utf-8"):
        _source_paths(root)
    with pytest.raises(ScanError, match="--option encoding=latin-1"):
        _source_paths(root)
    assert _source_paths(root, encoding="latin-1") == ["café.jpg", "naïve.jpg"]


def test_utf16_without_a_mark_is_not_read_as_text_full_of_nuls(tmp_path):
    root = _table(tmp_path, "utf-16-le")
    with pytest.raises(ScanError, match="UTF-16 or UTF-32 without a byte-order mark"):
        _source_paths(root)
    assert _source_paths(root, encoding="utf-16-le") == ["café.jpg", "naïve.jpg"]


def test_an_unknown_or_non_text_encoding_is_an_option_error(tmp_path):
    root = _table(tmp_path, "utf-8")
    for bad in ("klingon", "base64"):
        with pytest.raises(ScanError, match=f"option encoding='{bad}'"):
            _source_paths(root, encoding=bad)


def test_the_cli_passes_the_encoding_option_and_reports_a_bad_file(tmp_path, capsys):
    root, out = _table(tmp_path, "cp1252"), tmp_path / "out"
    argv = ["federate", "csv", str(root), "--out", str(out), "--size", "32", "--no-progress"]
    assert main(argv) == 2
    assert "labels.csv line 2: cannot be decoded" in capsys.readouterr().err
    assert main([*argv, "--option", "encoding=cp1252"]) == 0
    entry = json.loads((out / "manifest.json").read_text())["datasets"]["csv"]
    assert entry["options"] == {"encoding": "cp1252"}
    assert entry["splits"]["train"]["samples"] == 2


def test_a_decoding_error_deep_in_a_stream_names_its_line(tmp_path):
    """ExpW reads label.lst line by line: the error surfaces at line 3, not as a traceback."""
    root = tmp_path / "expw"
    (root / "image" / "origin").mkdir(parents=True)
    lines = [f"a{i}.jpg 0 1 1 9 9 0.9 3" for i in range(2)] + ["\xe9t\xe9.jpg 0 1 1 9 9 0.9 3"]
    (root / "label").mkdir()
    (root / "label" / "label.lst").write_bytes("\n".join(lines).encode("latin-1"))
    with pytest.raises(ScanError, match=r"label\.lst line 3: cannot be decoded"):
        split_items(ADAPTERS["expw"](root))
    items = split_items(ADAPTERS["expw"](root, encoding="latin-1"))[1]
    assert [r.reason for r in items] == ["missing_image"] * 3


def test_afewva_json_with_a_byte_order_mark_is_read(tmp_path):
    clip = tmp_path / "afewva" / "001"
    write_face(clip / "00000.png", 50)
    landmarks = [[10 + i % 10, 10 + i // 10] for i in range(68)]
    document = {"frames": {"00000": {"valence": 3, "arousal": -2, "landmarks": landmarks}}}
    (clip / "001.json").write_bytes(b"\xff\xfe" + json.dumps(document).encode("utf-16-le"))
    samples, rejects = split_items(ADAPTERS["afewva"](tmp_path / "afewva"))
    assert [s.labels["va"] for s in samples] == [[0.3, -0.2]] and rejects == []


@pytest.mark.parametrize("name", sorted(set(ADAPTERS) - NO_TEXT))
def test_every_text_reading_adapter_takes_an_encoding_option(name):
    parameters = inspect.signature(ADAPTERS[name].scan).parameters
    assert parameters["encoding"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["encoding"].default is None


def test_the_cli_names_a_malformed_manifest_in_out_without_a_traceback(tmp_path, capsys):
    root, out = _table(tmp_path, "utf-8"), tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text('{"version": 1, "datasets": {')
    argv = ["federate", "csv", str(root), "--out", str(out), "--size", "32", "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("holistic federate: ") and "manifest.json is not valid JSON" in err
