"""Crafted manifests: a shard name read from manifest.json never reaches a ``pipe:`` shell
template (or a URL) unless it is a shard name of the naming scheme. The command must not run,
and the error must name the manifest entry."""

import json
import re
from pathlib import Path

import pytest
from test_stream_damage import SPACE, build, face_records

from holistic.cli import main
from holistic.data.federation import AlignedMixer, Federation
from holistic.data.manifest import ManifestError

CRAFTED = [
    "faces-train-000000.tar; touch PWNED",
    "faces-train-000000.tar$(touch PWNED)",
    "faces-train-`touch PWNED`.tar",
    "../faces-train-000000.tar",
    "faces-train-000000.tar\ntouch PWNED",
]


@pytest.fixture
def fed(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)  # where a pipe: command would create PWNED
    return build(tmp_path, "faces", face_records())


def craft(fed: Path, name: str) -> dict:
    manifest = json.loads((fed / "manifest.json").read_text())
    manifest["datasets"]["faces"]["splits"]["train"]["shards"][1]["name"] = name
    (fed / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def pipe(fed: Path) -> str:
    return f"pipe:cat {fed}/{{name}}"


def read_all(federation: Federation) -> None:
    """Stream every training shard as a run would (what would run a crafted command)."""
    list(AlignedMixer(federation, SPACE, {"va": 5}, None, datasets=["faces"], steps=3))


@pytest.mark.parametrize("name", CRAFTED)
def test_a_crafted_name_in_the_manifest_file_never_runs(fed, name):
    craft(fed, name)
    with pytest.raises(ManifestError, match=r"datasets\.faces\.splits\.train\.shards\[1\]\.name"):
        read_all(Federation(pipe(fed)))
    assert not Path("PWNED").exists()


@pytest.mark.parametrize("name", CRAFTED)
def test_a_crafted_manifest_given_in_memory_or_edited_later_never_runs(fed, name):
    federation = Federation(pipe(fed))  # read while the manifest is honest
    manifest = craft(fed, name)
    with pytest.raises(ManifestError, match=r"shards\[1\]\.name"):
        read_all(Federation(pipe(fed), manifest))
    federation.manifest = manifest  # edited after the checks at construction
    with pytest.raises(ManifestError, match=re.escape(f"{name!r} is not a file of a federation")):
        read_all(federation)
    assert not Path("PWNED").exists()


def test_verify_refuses_a_crafted_manifest_cleanly(fed, capsys):
    craft(fed, CRAFTED[0])
    assert main(["verify", pipe(fed), "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert "holistic verify:" in error and "shards[1].name" in error
    assert "Traceback" not in error
    assert not Path("PWNED").exists()


def test_honest_names_still_stream_through_a_pipe(fed):
    federation = Federation(pipe(fed))
    assert federation.url("faces-train-000001.tar") == f"pipe:cat {fed}/faces-train-000001.tar"
    batches = list(AlignedMixer(federation, SPACE, {"va": 5}, None, datasets=["faces"]))
    assert sum(len(batch["key"]) for batch in batches) == 15
