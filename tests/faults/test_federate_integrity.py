"""Shards that are not what their sidecar says, interrupted conversions, corrupt sidecars.

The manifest must never describe shards that are not there as described: a truncated shard is
written again, an interrupted re-conversion leaves the dataset marked ``converting`` (readers
refuse it and name the command to re-run), and corrupt sidecars neither count as done nor leave
stale shards behind.
"""

import json

import pytest
from conftest import tiny_adapter

from holistic.data import shards
from holistic.data.federation import Federation
from holistic.data.manifest import ConversionInterrupted
from holistic.data.shards import federate, file_digest, load_manifest

RECORDS = [{"key": f"k{i}", "split": "train", "labels": {"expr": "fear"}} for i in range(6)]


def _convert(tmp_path, records=RECORDS, name="tiny", **kwargs):
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    options = {"shard_size": 2, "size": 32, "progress": False, **kwargs}
    return federate(tiny_adapter(name, records), root, tmp_path / "out", **options)


def _assert_manifest_matches_disk(out, dataset="tiny"):
    """Every shard the manifest lists is on disk with its bytes and sha256, and no other."""
    entry = load_manifest(out)["datasets"][dataset]
    listed = [s for split in entry["splits"].values() for s in split["shards"]]
    for shard in listed:
        assert file_digest(out / shard["name"]) == (shard["bytes"], shard["sha256"])
        sidecar = json.loads((out / f"{shard['name']}.json").read_text())
        assert (sidecar["bytes"], sidecar["sha256"]) == (shard["bytes"], shard["sha256"])
    assert sorted(p.name for p in out.glob(f"{dataset}-*.tar*")) == sorted(
        name for s in listed for name in (s["name"], f"{s['name']}.json")
    )


def test_manifest_and_sidecars_record_each_shards_bytes_and_sha256(tmp_path):
    _convert(tmp_path)
    _assert_manifest_matches_disk(tmp_path / "out")


def test_a_truncated_shard_is_written_again(tmp_path):
    _convert(tmp_path)
    shard = tmp_path / "out" / "tiny-train-000001.tar"
    shard.write_bytes(shard.read_bytes()[:700])
    result = _convert(tmp_path)
    assert (result.shards_written, result.shards_skipped) == (1, 2)
    _assert_manifest_matches_disk(tmp_path / "out")


def test_a_modified_shard_of_the_same_size_is_written_again(tmp_path):
    _convert(tmp_path)
    shard = tmp_path / "out" / "tiny-train-000002.tar"
    data = bytearray(shard.read_bytes())
    data[600] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert _convert(tmp_path).shards_written == 1


def test_an_interrupted_reconversion_is_refused_until_it_is_finished(tmp_path, monkeypatch):
    _convert(tmp_path)  # 3 shards of 2
    out = tmp_path / "out"
    real_write = shards.write_shard
    calls = []

    def killed_after_one_shard(job):
        if calls:
            raise KeyboardInterrupt  # the process dies while writing the second shard
        calls.append(job.path.name)
        return real_write(job)

    monkeypatch.setattr(shards, "write_shard", killed_after_one_shard)
    with pytest.raises(KeyboardInterrupt):
        _convert(tmp_path, shard_size=4)
    monkeypatch.undo()

    # Shard 0 now holds 4 samples while the manifest still lists 2: readers must refuse it.
    message = f"holistic federate tiny {(tmp_path / 'root').resolve()} --out {out}"
    with pytest.raises(ConversionInterrupted, match="interrupted") as refused:
        load_manifest(out)
    assert message in str(refused.value)
    with pytest.raises(ConversionInterrupted):
        Federation(str(out))

    finished = _convert(tmp_path, shard_size=4)
    assert finished.entry["status"] == "complete"
    assert [s["samples"] for s in finished.entry["splits"]["train"]["shards"]] == [4, 2]
    _assert_manifest_matches_disk(out)  # the third shard of the old conversion is gone
    assert Federation(str(out)).datasets == ("tiny",)


def test_a_failed_scan_before_any_write_leaves_the_federation_readable(tmp_path):
    _convert(tmp_path)

    def broken(root, splits=None):
        raise ValueError("the source broke")
        yield  # a generator, like every adapter

    adapter = type(tiny_adapter("tiny", []))("tiny", "1", broken)
    with pytest.raises(ValueError, match="broke"):
        federate(adapter, tmp_path / "root", tmp_path / "out", progress=False)
    assert load_manifest(tmp_path / "out")["datasets"]["tiny"]["status"] == "complete"


@pytest.mark.parametrize(
    "corrupt",
    [
        b"{not json",
        b"[1, 2]",
        b"\xff\xfe garbage",
        None,  # valid JSON, wrong statistics: filled in below
    ],
    ids=["not-json", "not-an-object", "not-utf8", "bad-statistics"],
)
def test_a_corrupt_sidecar_never_counts_as_done(tmp_path, corrupt):
    _convert(tmp_path)
    sidecar = tmp_path / "out" / "tiny-train-000000.tar.json"
    if corrupt is None:
        data = json.loads(sidecar.read_text())
        corrupt = json.dumps({**data, "rejects": "none", "tasks": {"expr": -1}}).encode()
    sidecar.write_bytes(corrupt)
    result = _convert(tmp_path)
    assert (result.shards_written, result.shards_skipped) == (1, 2)
    _assert_manifest_matches_disk(tmp_path / "out")


def test_stale_shards_with_corrupt_or_missing_sidecars_and_temporary_files_are_removed(tmp_path):
    _convert(tmp_path)
    out = tmp_path / "out"
    (out / "tiny-train-000002.tar.json").write_text("{truncated")
    (out / "tiny-train-000001.tar.json").unlink()
    (out / "tiny-train-000007.tar.tmp").write_bytes(b"left by a killed worker")
    (out / "tiny-train-000000.tar.json.tmp").write_bytes(b"{")
    _convert(tmp_path, records=RECORDS[:2])  # one shard now
    _assert_manifest_matches_disk(out)
    assert sorted(p.name for p in out.iterdir() if "tiny" in p.name) == [
        "tiny-train-000000.tar",
        "tiny-train-000000.tar.json",
    ]


def test_another_datasets_files_are_left_alone(tmp_path):
    _convert(tmp_path, name="tiny-b")
    out = tmp_path / "out"
    (out / "tiny-b-train-000002.tar.json").write_text("{corrupt")
    _convert(tmp_path, name="tiny", records=RECORDS[:2])
    assert (out / "tiny-b-train-000002.tar").is_file()
    assert (out / "tiny-b-train-000002.tar.json").read_text() == "{corrupt"
