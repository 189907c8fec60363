import json
import tarfile

import cv2
import numpy as np
import pytest
from conftest import tiny_adapter

from holistic.data.shards import federate, load_manifest

RECORDS = [
    {"key": "a1", "split": "train", "labels": {"va": [0.5, -0.5], "expr": "happiness"}},
    {"key": "a2", "split": "train", "labels": {"expr": "anger"}},
    {"key": "a3", "split": "train", "labels": {"au": {"1": 1, "12": 0}}},
    {"key": "a4", "split": "train", "labels": {"au": {"1": 0, "12": 1}, "expr": "happiness"}},
    {"key": "a5", "split": "train", "labels": {"va": [0.1, 0.2]}, "missing": True},
    {"key": "a6", "split": "train", "labels": {"va": [0.0, 0.0]}, "broken": True},
    {"key": "v1", "split": "validation", "labels": {"compound": "sadly_angry"}},
]
SCAN_REJECTS = (("train", "labels.txt", 9, "invalid_marker", "valence -5", "va", "a7"),)


def _members(path):
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def _convert(tmp_path, records=RECORDS, name="tiny", **kwargs):
    adapter = tiny_adapter(name, records, SCAN_REJECTS)
    root = tmp_path / f"{name}-root"
    root.mkdir(parents=True, exist_ok=True)
    options = {"shard_size": 2, "size": 48, "progress": False, **kwargs}
    return federate(adapter, root, tmp_path / "out", **options)


def test_shards_hold_every_valid_sample_with_its_record(tmp_path):
    result = _convert(tmp_path)
    out = tmp_path / "out"
    # train: a1..a6 cut into shards of 2 in scan order; a5 (missing) and a6 (broken) rejected.
    assert sorted(p.name for p in out.glob("*.tar")) == [
        "tiny-train-000000.tar",
        "tiny-train-000001.tar",
        "tiny-train-000002.tar",
        "tiny-validation-000000.tar",
    ]
    members = _members(out / "tiny-train-000000.tar")
    assert sorted(members) == ["a1.jpg", "a1.json", "a2.jpg", "a2.json"]
    record = json.loads(members["a1.json"])
    assert record == {
        "dataset": "tiny",
        "split": "train",
        "subject": None,
        "video": None,
        "frame": None,
        "source_path": "img/a1.jpg",
        "va": [0.5, -0.5],
        "expr": "happiness",
    }
    image = cv2.imdecode(np.frombuffer(members["a1.jpg"], np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (48, 48, 3)
    assert _members(out / "tiny-train-000002.tar") == {}  # both of its samples were rejected
    assert result.shards_written == 4 and result.shards_skipped == 0


def test_manifest_counts_tasks_classes_aus_and_rejects(tmp_path):
    _convert(tmp_path)
    manifest = load_manifest(tmp_path / "out")
    entry = manifest["datasets"]["tiny"]
    assert entry["adapter"] == {"name": "tiny", "version": "1", "conventions": {"test": "tiny"}}
    assert entry["image_size"] == 48
    train = entry["splits"]["train"]
    assert train["samples"] == 4
    assert [s["samples"] for s in train["shards"]] == [2, 2, 0]
    assert train["shards"][0]["tasks"] == {"va": 1, "expr": 2}
    assert train["tasks"] == {"va": 1, "expr": 3, "au": 2}
    assert train["classes"] == {"expr": {"happiness": 2, "anger": 1}}
    assert train["aus"] == {
        "1": {"labelled": 2, "positive": 1},
        "12": {"labelled": 2, "positive": 1},
    }
    assert train["annotated_aus"] == [1, 12]
    assert train["rejects"] == {"invalid_marker": 1, "missing_image": 1, "unreadable_image": 1}
    validation = entry["splits"]["validation"]
    assert validation["classes"] == {"compound": {"sadly_angry": 1}}


def test_every_row_is_in_a_shard_or_in_rejects(tmp_path):
    _convert(tmp_path)
    out = tmp_path / "out"
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert {(r["key"], r["reason"]) for r in rejects} == {
        ("a7", "invalid_marker"),
        ("a5", "missing_image"),
        ("a6", "unreadable_image"),
    }
    missing = next(r for r in rejects if r["key"] == "a5")
    assert missing["file"] == "labels.txt" and missing["line"] == 6  # origin of its label row
    in_shards = set()
    for path in out.glob("*.tar"):
        in_shards |= {name.split(".")[0] for name in _members(path)}
    assert in_shards | {"a5", "a6"} == {r["key"] for r in RECORDS}


def test_rerun_is_idempotent_and_resumes(tmp_path):
    _convert(tmp_path)
    out = tmp_path / "out"
    before = {p.name: p.read_bytes() for p in out.glob("*.tar")}
    again = _convert(tmp_path)
    assert again.shards_written == 0 and again.shards_skipped == 4
    assert {p.name: p.read_bytes() for p in out.glob("*.tar")} == before
    (out / "tiny-train-000001.tar").unlink()
    resumed = _convert(tmp_path)
    assert resumed.shards_written == 1 and resumed.shards_skipped == 3
    assert _members(out / "tiny-train-000001.tar").keys() == {
        "a3.jpg",
        "a3.json",
        "a4.jpg",
        "a4.json",
    }
    assert len((out / "rejects.jsonl").read_text().splitlines()) == 3  # not duplicated
    resized = _convert(tmp_path, size=64)  # other settings: every shard is written again
    assert resized.shards_written == 4 and resized.entry["image_size"] == 64


def test_changed_source_rewrites_its_shards_and_removes_stale_ones(tmp_path):
    _convert(tmp_path)
    fewer = [r for r in RECORDS if r["key"] in ("a1", "a2", "v1")]
    result = _convert(tmp_path, records=fewer)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.glob("*.tar")) == [
        "tiny-train-000000.tar",
        "tiny-validation-000000.tar",
    ]
    assert result.entry["splits"]["train"]["samples"] == 2


def test_two_sources_share_one_federation_and_a_partial_run_keeps_other_splits(tmp_path):
    _convert(tmp_path, name="first")
    _convert(tmp_path, name="second")
    manifest = load_manifest(tmp_path / "out")
    assert list(manifest["datasets"]) == ["first", "second"]
    _convert(tmp_path, name="first", splits=["validation"])
    manifest = load_manifest(tmp_path / "out")
    assert manifest["datasets"]["first"]["splits"]["train"]["samples"] == 4
    rejects = (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()
    assert sum('"first"' in line for line in rejects) == 3
    assert sum('"second"' in line for line in rejects) == 3


def test_worker_processes_write_the_same_samples(tmp_path):
    single = _convert(tmp_path / "one")
    multi = _convert(tmp_path / "two", workers=2)
    assert single.entry["splits"] == multi.entry["splits"]
    for path in (tmp_path / "one" / "out").glob("*.tar"):
        assert _members(path).keys() == _members(tmp_path / "two" / "out" / path.name).keys()


def test_duplicate_keys_from_an_adapter_are_an_error(tmp_path):
    records = [RECORDS[0], dict(RECORDS[1], key="a1")]
    with pytest.raises(ValueError, match="key 'a1' twice"):
        _convert(tmp_path, records=records)


def test_missing_manifest_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="holistic federate"):
        load_manifest(tmp_path)


def test_a_dataset_whose_name_prefixes_another_keeps_its_hands_off(tmp_path):
    _convert(tmp_path, name="lab-b")
    _convert(tmp_path, name="lab")
    _convert(tmp_path, name="lab", records=RECORDS[:1])  # lab shrinks: its stale shards go
    out = tmp_path / "out"
    manifest = load_manifest(out)
    for name, entry in manifest["datasets"].items():
        for split in entry["splits"].values():
            for shard in split["shards"]:
                assert (out / shard["name"]).is_file(), (name, shard["name"])
    assert sorted(p.name for p in out.glob("lab-train-*.tar")) == ["lab-train-000000.tar"]
    assert len(list(out.glob("lab-b-train-*.tar"))) == 3


def test_a_photo_without_a_face_is_rejected_as_no_face(tmp_path):
    from holistic.data.adapters._base import Adapter, FaceHint, Sample

    root = tmp_path / "src"
    path = root / "blank.jpg"
    path.parent.mkdir(parents=True)
    cv2.imwrite(str(path), np.full((120, 120, 3), 128, np.uint8))

    def scan(root, splits=None):
        yield Sample("photos", "train", "blank", path, "blank.jpg", {"expr": "anger"},
                     face=FaceHint("detect"), origin=("labels.csv", 2))  # fmt: skip

    result = federate(Adapter("photos", "1", scan), root, tmp_path / "out", progress=False)
    assert result.entry["splits"]["train"]["rejects"] == {"no_face": 1}
    reject = json.loads((tmp_path / "out" / "rejects.jsonl").read_text())
    assert (reject["file"], reject["line"], reject["reason"]) == ("labels.csv", 2, "no_face")
