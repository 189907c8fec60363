"""The audio-visual preset at a reduced size: Aff-Wild2 with its voice (and the audio image when
asked for), AFEW-VA with a validation split, VA a function of the current face."""

import json

import pytest

from holistic.cli import federate_world
from holistic.data.audio import AudioSettings
from holistic.synth.video import CONTROL_DYNAMICS
from holistic.synth.world import PRESETS, write_world


def test_the_preset_is_the_control_dynamics_with_audio_and_more_videos():
    preset = PRESETS["audiovisual"]
    assert list(preset) == ["affwild2", "afewva"]
    assert all(settings["dynamics"] == CONTROL_DYNAMICS for settings in preset.values())
    affwild2 = preset["affwild2"]
    assert affwild2["counts"] == {"train": 24, "validation": 6}  # the demo has 12 training videos
    assert affwild2.get("audio", True) and "audio" in affwild2["federate"][0]["options"]
    afewva = preset["afewva"]
    options = afewva["federate"][0]["options"]
    assert afewva["counts"]["validation"] == sum(afewva["counts"].values()) // int(options["folds"])


def test_a_small_world_federates_with_audio_images(tmp_path):
    small = {
        "affwild2": {**PRESETS["audiovisual"]["affwild2"], "counts": {"train": 1, "validation": 1},
                     "frames": 40},
        "afewva": {**PRESETS["audiovisual"]["afewva"], "counts": {"train": 4, "validation": 1},
                   "frames": 20},
    }  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(PRESETS, "audiovisual-small", small)
        write_world(tmp_path / "world", "audiovisual-small", seed=1, progress=False)
    settings = AudioSettings(mel_image_size=8)
    federate_world(tmp_path / "world", tmp_path / "shards", audio_settings=settings, progress=False)
    manifest = json.loads((tmp_path / "shards" / "manifest.json").read_text())
    splits = {name: entry["splits"] for name, entry in manifest["datasets"].items()}
    assert set(splits["affwild2"]) == set(splits["afewva"]) == {"train", "validation"}
    assert all(split["tasks"].get("audio") for split in splits["affwild2"].values())
    assert not any(split["tasks"].get("audio") for split in splits["afewva"].values())
    recorded = manifest["datasets"]["affwild2"]["settings"]["audio_features"]
    assert AudioSettings.from_json(recorded) == settings


def test_the_synth_command_offers_the_preset():
    from holistic.cli import build_parser

    args = build_parser().parse_args(["synth", "w", "--preset", "audiovisual"])
    assert args.preset == "audiovisual"
