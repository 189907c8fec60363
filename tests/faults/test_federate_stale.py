"""Stale shards: "already done" must mean the same inputs, not the same keys.

Each test converts a tiny source, changes one input (a label, an image, an option, the adapter's
version, a missing image that appears) and converts again: exactly the shards made from the
changed input are written again, and the shards and rejects agree with the source.
"""

import json
import os
import tarfile

from conftest import tiny_adapter, write_face, write_lines

from holistic.data.adapters import ADAPTERS
from holistic.data.shards import federate, load_manifest

RECORDS = [
    {"key": f"s{i}", "split": "train", "labels": {"expr": "anger"}, "image_value": 20 * i}
    for i in range(6)
]


def _records(tar_path) -> dict[str, dict]:
    """key -> JSON record of a shard."""
    with tarfile.open(tar_path) as tar:
        return {
            m.name.split(".")[0]: json.loads(tar.extractfile(m).read())
            for m in tar.getmembers()
            if m.name.endswith(".json")
        }


def _convert(tmp_path, records, version="1", **kwargs):
    adapter = tiny_adapter("tiny", records)
    if version != "1":
        adapter = type(adapter)(adapter.name, version, adapter.scan, conventions={})
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    options = {"shard_size": 2, "size": 32, "progress": False, **kwargs}
    return federate(adapter, root, tmp_path / "out", **options)


def test_an_edited_label_rewrites_only_its_shard(tmp_path):
    _convert(tmp_path, RECORDS)
    edited = [dict(r, labels={"expr": "happiness"}) if r["key"] == "s3" else r for r in RECORDS]
    result = _convert(tmp_path, edited)
    assert (result.shards_written, result.shards_skipped) == (1, 2)
    assert _records(tmp_path / "out" / "tiny-train-000001.tar")["s3"]["expr"] == "happiness"
    assert result.entry["splits"]["train"]["classes"]["expr"] == {"anger": 5, "happiness": 1}


def test_a_replaced_image_rewrites_its_shard(tmp_path):
    _convert(tmp_path, RECORDS)
    image = tmp_path / "root" / "img" / "s4.jpg"
    before = os.stat(image)
    write_face(image, 200)
    os.utime(image, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    result = _convert(tmp_path, RECORDS)
    assert (result.shards_written, result.shards_skipped) == (1, 2)


def test_a_new_adapter_version_rewrites_every_shard(tmp_path):
    _convert(tmp_path, RECORDS)
    result = _convert(tmp_path, RECORDS, version="2")
    assert (result.shards_written, result.shards_skipped) == (3, 0)
    assert result.entry["adapter"]["version"] == "2"


def test_an_image_that_appears_is_converted_and_its_reject_goes(tmp_path):
    missing = [dict(r, missing=True) if r["key"] == "s5" else r for r in RECORDS]
    first = _convert(tmp_path, missing)
    assert first.entry["splits"]["train"]["rejects"] == {"missing_image": 1}
    write_face(tmp_path / "root" / "img" / "s5.jpg", 90)
    again = _convert(tmp_path, missing)
    assert (again.shards_written, again.shards_skipped) == (1, 2)
    assert again.entry["splits"]["train"]["rejects"] == {}
    assert "s5" in _records(tmp_path / "out" / "tiny-train-000002.tar")
    assert (tmp_path / "out" / "rejects.jsonl").read_text() == ""


def test_an_option_that_changes_labels_rewrites_shards_and_rejects_agree(tmp_path):
    """The reported case: VA on a [-10, 10] scale, converted first without va_scale."""
    root = tmp_path / "table"
    lines = ["image,valence,arousal,expression"]
    for i in range(3):
        write_face(root / f"{i}.jpg", 40 * i)
        lines.append(f"{i}.jpg,{i + 2},-{i + 1},anger")
    write_lines(root / "labels.csv", lines)
    out = tmp_path / "out"
    settings = {"size": 32, "shard_size": 10, "progress": False}
    first = federate(ADAPTERS["csv"], root, out, **settings)
    assert first.entry["splits"]["train"]["rejects"] == {"out_of_range": 3}
    scaled = federate(ADAPTERS["csv"], root, out, options={"va_scale": "10"}, **settings)
    assert (scaled.shards_written, scaled.shards_skipped) == (1, 0)
    records = _records(out / "csv-train-000000.tar")
    assert [records[k]["va"] for k in ("0", "1", "2")] == [[0.2, -0.1], [0.3, -0.2], [0.4, -0.3]]
    assert (out / "rejects.jsonl").read_text() == ""
    entry = load_manifest(out)["datasets"]["csv"]
    assert entry["options"] == {"va_scale": "10"}
    assert entry["splits"]["train"]["tasks"] == {"va": 3, "expr": 3}
