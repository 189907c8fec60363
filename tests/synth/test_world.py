"""The synthetic world end to end: native trees -> holistic federate -> only planted rejects."""

import hashlib
import json

import pytest

from holistic.cli import federate_world, main
from holistic.synth.world import PRESETS, SOURCES, write_world


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    world = write_world(out / "native", "tiny", seed=7, progress=False)
    summary = federate_world(out / "native", out / "shards", progress=False)
    return out, world, summary


def test_every_source_is_written_and_converted(tiny_world):
    out, world, summary = tiny_world
    assert set(world["sources"]) == set(SOURCES) == set(summary)
    for name, entry in summary.items():
        assert entry["samples"] > 0, name


def test_the_adapters_reject_exactly_what_was_planted(tiny_world):
    _, world, summary = tiny_world
    for name, entry in summary.items():
        assert entry["rejects"] == world["sources"][name]["planted_rejects"], name


HELD_OUT = {"rafdb-compound", "emotionet-compound"}  # zero-shot compound evaluation sets


def test_compound_labels_only_in_the_held_out_sources(tiny_world):
    out, _, _ = tiny_world
    manifest = json.loads((out / "shards" / "manifest.json").read_text())
    for name, entry in manifest["datasets"].items():
        for split in entry["splits"].values():
            has_compound = "compound" in split["tasks"]
            assert has_compound == (name in HELD_OUT), name
    # EmotioNet track 2: basic categories as expr, compounds as compound, and no train split
    # (recipes that train on every dataset with a train split leave it out).
    track2 = manifest["datasets"]["emotionet-compound"]["splits"]
    assert set(track2) == {"validation"}
    assert set(track2["validation"]["tasks"]) >= {"expr", "compound"}


def _digest(folder):
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_a_source_does_not_depend_on_the_sources_after_it(tiny_world, tmp_path):
    """Each source's generator comes from its position: appending a source to SOURCES leaves
    every earlier source's files byte-identical."""
    out, _, _ = tiny_world
    write_world(tmp_path, "tiny", seed=7, sources=list(SOURCES)[:3], progress=False)
    for name in list(SOURCES)[:3]:
        assert _digest(tmp_path / name) == _digest(out / "native" / name), name


def test_the_world_is_deterministic_for_a_seed(tmp_path):
    write_world(tmp_path / "a", "tiny", seed=3, sources=["rafdb", "affwild2"], progress=False)
    write_world(tmp_path / "b", "tiny", seed=3, sources=["rafdb", "affwild2"], progress=False)
    write_world(tmp_path / "c", "tiny", seed=4, sources=["rafdb"], progress=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a" / "rafdb") != _digest(tmp_path / "c" / "rafdb")


def test_synth_command(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "w"), "--preset", "tiny", "--source", "rafdb",
                 "--no-progress"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "holistic federate rafdb" in printed
    assert (tmp_path / "w" / "rafdb" / "basic" / "EmoLabel" / "list_patition_label.txt").is_file()


def test_presets_cover_every_source():
    for name in ("tiny", "demo", "full"):
        assert set(PRESETS[name]) == set(SOURCES), name
    for name, preset in PRESETS.items():  # the temporal presets write a subset
        assert set(preset) <= set(SOURCES), name


def test_gallery_images(tmp_path):
    import cv2

    from holistic.synth.gallery import write_video_strip

    path = write_video_strip(tmp_path / "strip.png", frames=20, size=48)
    image = cv2.imread(str(path))
    assert image.shape == (48 + 16, 4 * 48, 3)  # 4 tiles (every fifth frame), one caption row


def test_va_dynamics_figure(tmp_path):
    import cv2

    from holistic.synth.gallery import write_va_dynamics

    image = cv2.imread(str(write_va_dynamics(tmp_path / "va.png", seconds=4.0)))
    assert image.shape == (560, 1000, 3)  # 10 x 5.6 inches at 100 dpi
    blue, green, red = (image[..., c].astype(int) for c in range(3))
    assert ((blue - red > 80) & (blue - green > 30)).sum() > 500  # valence lines, both panels
    assert ((red - blue > 80) & (red - green > 80)).sum() > 500  # arousal lines
