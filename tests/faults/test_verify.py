"""``holistic verify``: every shard checked against the manifest (presence, bytes and SHA-256 where
recorded, sample counts, records and JPEGs), with faults injected into tiny federations."""

import json
import tarfile
from pathlib import Path

import pytest
import test_stream_damage as damage
from test_stream_damage import add_copy, cut_before, overwrite

from holistic.cli import main
from holistic.data.federation import Federation, SelectionError
from holistic.data.verify import verify_federation

pristine, fed = damage.pristine, damage.fed  # the tiny federation, and a copy to break


def rows(fed: Path, **kwargs) -> dict[str, dict]:
    checks = verify_federation(Federation(str(fed)), **kwargs)
    return {check.shard: check.to_json() for check in checks}


def member_bytes(shard: Path, member: str) -> bytes:
    with tarfile.open(shard) as tar:
        return tar.extractfile(member).read()


def test_an_intact_federation_verifies(fed):
    checked = rows(fed, progress=True)
    assert len(checked) == 3 + 2 + 4  # faces train, faces validation, vid train
    assert {row["status"] for row in checked.values()} == {"ok"}
    assert all(row["expected"] == row["found"] for row in checked.values())
    assert {row["integrity"] for row in checked.values()} == {"bytes, sha256 ok"}


def test_shards_without_recorded_digests_are_not_recorded_and_not_a_fault(fed, capsys):
    manifest = json.loads((fed / "manifest.json").read_text())
    for dataset in manifest["datasets"].values():
        for split in dataset["splits"].values():
            for shard in split["shards"]:
                shard.pop("bytes", None), shard.pop("sha256", None)
    (fed / "manifest.json").write_text(json.dumps(manifest))
    assert main(["verify", str(fed), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.count("not recorded") == 9 and "9 shard(s): 9 ok" in out


def test_every_fault_is_a_row_naming_it(fed, capsys):
    cut_before(fed / "faces-train-000001.tar", "t07.jpg", inside_header=True)
    (fed / "faces-train-000002.tar").unlink()
    overwrite(fed / "faces-validation-000000.tar", "v01.json", b'{"va": oops')
    overwrite(fed / "faces-validation-000001.tar", "v06.jpg", b"\0" * 16)
    record = member_bytes(fed / "vid-train-000000.tar", "a02.json")
    overwrite(fed / "vid-train-000000.tar", "a02.json", record.replace(b'"vid"', b'"vod"'))
    add_copy(fed / "vid-train-000001.tar", "a05", "a99")
    padded = fed / "vid-train-000002.tar"  # a byte flipped after the end-of-archive blocks
    padded.write_bytes(padded.read_bytes()[:-1] + b"\1")

    checked = rows(fed)
    cut = checked["faces-train-000001.tar"]
    assert (cut["status"], cut["expected"], cut["found"]) == ("damaged", 5, 2)
    assert "truncated tar" in cut["problems"][0] and cut["integrity"] == "not checked"
    missing = checked["faces-train-000002.tar"]
    assert (missing["status"], missing["found"]) == ("missing", None)
    assert "No such file" in missing["problems"][0]
    assert (
        "v01: its JSON record does not parse"
        in checked["faces-validation-000000.tar"]["problems"][-1]
    )
    assert "v06: its JPEG is cut short" in checked["faces-validation-000001.tar"]["problems"][-1]
    assert "its record is of 'vod' 'train'" in checked["vid-train-000000.tar"]["problems"][-1]
    extra = checked["vid-train-000001.tar"]
    assert extra["found"] == 6 and "lists 5 samples, 6 were read" in " ".join(extra["problems"])
    flipped = checked["vid-train-000002.tar"]
    assert flipped["found"] == 5 and flipped["integrity"] == "sha256 differ"
    assert checked["vid-train-000003.tar"]["status"] == "ok"

    assert main(["verify", str(fed), "--no-progress"]) == 1
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == [
        "dataset", "split", "shard", "expected", "found", "integrity", "status", "problem",
    ]  # fmt: skip
    assert "9 shard(s): 2 ok, 6 damaged, 1 missing" in table
    assert "re-run `holistic federate` on the sources of ['faces', 'vid']" in table


def test_a_selection_and_json_output(fed, capsys):
    cut_before(fed / "vid-train-000003.tar", "b07.jpg")
    assert main(["verify", str(fed), "--dataset", "faces", "--split", "validation", "--json",
                 "--no-progress"]) == 0  # fmt: skip
    printed = json.loads(capsys.readouterr().out)
    assert [row["shard"] for row in printed] == [
        "faces-validation-000000.tar",
        "faces-validation-000001.tar",
    ]
    assert main(["verify", str(fed), "--dataset", "vid", "--no-progress"]) == 1


def test_unknown_names_are_clean_errors(fed, capsys):
    assert main(["verify", str(fed), "--dataset", "nope", "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert "['nope'] are not in the federation" in error and "['faces', 'vid']" in error
    assert main(["verify", str(fed), "--dataset", "vid", "--split", "test", "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert "['test'] are in none of the datasets" in error and "'vid': ['train']" in error
    assert "Traceback" not in error
    with pytest.raises(SelectionError):
        verify_federation(Federation(str(fed)), splits=["tset"])
    assert main(["verify", str(fed / "nowhere"), "--no-progress"]) == 2
    assert "cannot read the federation manifest" in capsys.readouterr().err


def test_a_pipe_federation_verifies_the_same(fed):
    cut_before(fed / "faces-train-000000.tar", "t01.jpg")
    local = rows(fed)
    remote = {
        check.shard: check.to_json()
        for check in verify_federation(Federation(f"pipe:cat {fed}/{{name}}"))
    }
    assert {k: v["status"] for k, v in remote.items()} == {k: v["status"] for k, v in local.items()}
    assert remote["faces-train-000000.tar"]["found"] == 1
