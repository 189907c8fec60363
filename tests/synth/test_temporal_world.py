"""The temporal presets at a reduced size: two sources, train + validation splits once federated,
and a control that differs from the temporal world in its VA files only."""

import hashlib
import json

import pytest

from holistic.cli import federate_world, main
from holistic.synth.video import CONTROL_DYNAMICS, TEMPORAL_DYNAMICS
from holistic.synth.world import PRESETS, write_world

SMALL = {"affwild2": {"train": 2, "validation": 1}, "afewva": {"train": 4, "validation": 1}}
FRAMES = {"affwild2": 45, "afewva": 50}


def _small(preset: str) -> dict:
    """The preset with fewer, shorter videos; every other setting (dynamics, federate) kept."""
    return {
        name: {**settings, "counts": SMALL[name], "frames": FRAMES[name]}
        for name, settings in PRESETS[preset].items()
    }


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    out = tmp_path_factory.mktemp("temporal")
    written = {}
    with pytest.MonkeyPatch.context() as patch:
        for preset in ("temporal", "temporal-control"):
            patch.setitem(PRESETS, f"{preset}-small", _small(preset))
            written[preset] = write_world(out / preset, f"{preset}-small", seed=3, progress=False)
    return out, written


def test_the_presets_differ_only_in_the_dynamics():
    temporal, control = PRESETS["temporal"], PRESETS["temporal-control"]
    assert list(temporal) == list(control) == ["affwild2", "afewva"]
    for name in temporal:
        assert temporal[name]["dynamics"] == TEMPORAL_DYNAMICS
        assert control[name]["dynamics"] == CONTROL_DYNAMICS
        assert {**temporal[name], "dynamics": None} == {**control[name], "dynamics": None}
    assert temporal["affwild2"]["counts"] == {"train": 24, "validation": 6}
    assert temporal["affwild2"]["frames"] == 600
    # AFEW-VA's held-out fold is exactly the clips the preset counts as validation
    afewva = temporal["afewva"]
    options = afewva["federate"][0]["options"]
    assert options["holdout"] == options["folds"]  # the last fold: the last clips written
    clips = sum(afewva["counts"].values())
    assert clips == 40 and afewva["counts"]["validation"] == clips // int(options["folds"])


def test_only_the_two_va_video_sources_are_written(worlds):
    out, written = worlds
    for preset, world in written.items():
        assert list(world["sources"]) == ["affwild2", "afewva"]
        assert {p.name for p in (out / preset).iterdir()} == {"affwild2", "afewva", "world.json"}
        assert not (out / preset / "affwild2" / "audio").exists()
        recorded = json.loads((out / preset / "world.json").read_text())
        dynamics = recorded["sources"]["afewva"]["settings"]["dynamics"]
        expected = TEMPORAL_DYNAMICS if preset == "temporal" else CONTROL_DYNAMICS
        assert dynamics == expected.__dict__
        assert recorded["sources"]["afewva"]["federate"][0]["options"] == {
            "folds": "5", "holdout": "5"
        }  # fmt: skip


def _files(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_the_control_differs_in_its_va_files_only(worlds):
    out, _ = worlds
    temporal, control = _files(out / "temporal"), _files(out / "temporal-control")
    assert temporal.keys() == control.keys()
    differ = {path for path in temporal if temporal[path] != control[path]}
    va_files = {
        path
        for path in temporal
        if path.startswith("affwild2/VA_Set/")
        or (path.startswith("afewva/") and path.endswith(".json"))
    }
    assert len(va_files) == 3 + 5
    assert differ - va_files == {"world.json"}  # images, EXPR and AU files are byte-identical
    assert len(differ & va_files) >= 6  # a clip without any AU can keep VA 0 in both


def test_federated_splits(worlds, tmp_path):
    out, _ = worlds
    summary = federate_world(out / "temporal", tmp_path / "shards", progress=False)
    assert set(summary) == {"affwild2", "afewva"}
    manifest = json.loads((tmp_path / "shards" / "manifest.json").read_text())
    splits = {name: entry["splits"] for name, entry in manifest["datasets"].items()}
    assert set(splits["affwild2"]) == set(splits["afewva"]) == {"train", "validation"}
    # AFEW-VA: 5 clips, folds=5, holdout=5: the last clip is the validation split
    assert splits["afewva"]["validation"]["samples"] == FRAMES["afewva"]
    assert splits["afewva"]["train"]["samples"] == 4 * FRAMES["afewva"]
    assert set(splits["affwild2"]["validation"]["tasks"]) >= {"va", "expr"}


def test_sources_of_another_preset_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"preset 'temporal' has no source\(s\) \['rafdb'\]"):
        write_world(tmp_path, "temporal", sources=["afewva", "rafdb"], progress=False)
    assert not (tmp_path / "afewva").exists()  # refused before anything is written


def test_synth_command_knows_the_temporal_presets(tmp_path, capsys):
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(PRESETS, "temporal", _small("temporal"))
        assert main(["synth", str(tmp_path / "w"), "--preset", "temporal", "--source", "afewva",
                     "--no-progress"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "--option folds=5 --option holdout=5" in printed
    assert sorted(p.name for p in (tmp_path / "w" / "afewva").iterdir()) == [
        f"{c:03d}" for c in range(1, 6)
    ]
