"""A malformed ``manifest.json`` or ``rejects.jsonl`` in the output folder stops the conversion
before it writes anything, with a message naming the file (and line) and what is wrong, never a
JSONDecodeError or ``KeyError: 'splits'``; other datasets' records are kept byte for byte."""

import json

import pytest
from conftest import tiny_adapter

from holistic.data.manifest import ManifestError, check_manifest
from holistic.data.shards import federate

RECORDS = [{"key": "r1", "split": "train", "labels": {"expr": "anger"}, "missing": True}]


def _convert(tmp_path, name="tiny"):
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    adapter = tiny_adapter(name, RECORDS)
    return federate(adapter, root, tmp_path / "out", size=32, progress=False)


def _planted(tmp_path, name, content):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    (out / name).write_bytes(content)
    return out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"version": 1, "datasets": {', r"manifest\.json is not valid JSON"),
        (b'{"version": 1, "datasets": {"x": {}}}', r"datasets\.x\.splits: expected a mapping"),
        (b'{"version": 1, "datasets": []}', r"datasets: expected a mapping, got list"),
        (b'{"version": 1, "datasets": {"x": {"status": "half", "splits": {}}}}', r"x\.status"),
        (b"[]", r"the manifest: expected a mapping"),
    ],
    ids=["truncated", "no-splits", "datasets-list", "bad-status", "not-an-object"],
)
def test_a_malformed_manifest_is_named_before_anything_is_written(tmp_path, content, message):
    out = _planted(tmp_path, "manifest.json", content)
    with pytest.raises(ManifestError, match=message):
        _convert(tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"dataset": "other", "split": "tra', "not JSON"),
        (b"[1, 2]", "not a reject record"),
        (b'{"dataset": "other"}', "not a reject record"),
    ],
    ids=["truncated", "a-list", "missing-fields"],
)
def test_a_malformed_rejects_line_is_named_by_its_number(tmp_path, line, message):
    good = {"dataset": "other", "split": "train", "file": "a.txt", "line": 3,
            "reason": "no_label", "detail": "x", "task": None, "key": None}  # fmt: skip
    out = _planted(tmp_path, "rejects.jsonl", json.dumps(good).encode() + b"\n\n" + line + b"\n")
    with pytest.raises(ManifestError, match=rf"rejects\.jsonl line 3: {message}"):
        _convert(tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["rejects.jsonl"]


def test_other_datasets_rejects_are_kept_byte_for_byte(tmp_path):
    _convert(tmp_path, name="first")
    out = tmp_path / "out"
    before = (out / "rejects.jsonl").read_bytes()
    _convert(tmp_path, name="second")
    _convert(tmp_path, name="second")
    lines = (out / "rejects.jsonl").read_bytes().splitlines(keepends=True)
    assert lines[0] == before and len(lines) == 2


def test_manifests_written_before_integrity_fields_still_read():
    shard = {"name": "old-train-000000.tar", "samples": 3, "tasks": {"expr": 3}}
    old = {"version": 1, "datasets": {"old": {"splits": {"train": {"shards": [shard]}}}}}
    assert check_manifest(old, "old.json") is old
    bad = {**shard, "bytes": 10, "sha256": "abc"}
    old["datasets"]["old"]["splits"]["train"]["shards"] = [bad]
    with pytest.raises(ManifestError, match=r"shards\[0\]\.sha256: expected 64"):
        check_manifest(old, "old.json")
