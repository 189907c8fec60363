"""Audio feature settings: recorded in the manifest and in each audio shard's digest (other
settings rebuild the shards), and datasets whose features were made differently are not mixed."""

import numpy as np
import pytest
from conftest import tiny_adapter

from holistic.data.audio import AUDIO_SETTINGS, AudioSettings
from holistic.data.clips import ClipLoader
from holistic.data.federation import AlignedMixer, Federation
from holistic.data.shards import federate
from holistic.data.stages import decode_sample, read_shards, with_records
from holistic.schema import LabelSpace


def _source(tmp_path, name, audio=True):
    import soundfile

    rate, fps = 16000, 10
    if not (tmp_path / f"{name}.wav").exists():  # written once: its mtime is in the digest
        soundfile.write(tmp_path / f"{name}.wav", 0.3 * np.sin(np.arange(rate) / rate * 2e3), rate)
    records = [
        {"key": f"{name}-{f:03d}", "split": "train", "video": name, "frame": f,
         "labels": {"va": [0.0, 0.0]},
         **({"audio": tmp_path / f"{name}.wav", "audio_time": f / fps} if audio else {})}
        for f in range(8)
    ]  # fmt: skip
    return tiny_adapter(name, records)


def _mel_shape(federation, dataset):
    from holistic.data.damage import DamageLog

    [ref] = federation.shards("train", None, [dataset])
    raw = next(iter(with_records(read_shards([ref], DamageLog()), DamageLog())))
    return decode_sample(raw)["audio"]["mel"].shape


def test_settings_are_recorded_and_other_settings_rebuild_the_shards(tmp_path):
    (tmp_path / "src").mkdir()
    out = tmp_path / "out"
    coarse = AudioSettings(mel_bands=32)
    first = federate(_source(tmp_path, "v"), tmp_path / "src", out, size=32, progress=False,
                     audio_settings=coarse)  # fmt: skip
    assert first.entry["settings"]["audio_features"] == coarse.to_json()
    assert _mel_shape(Federation(str(out)), "v")[0] == 32
    again = federate(_source(tmp_path, "v"), tmp_path / "src", out, size=32, progress=False,
                     audio_settings=coarse)  # fmt: skip
    assert (again.shards_written, again.shards_skipped) == (0, 1)  # same settings: reused
    other = federate(_source(tmp_path, "v"), tmp_path / "src", out, size=32, progress=False)
    assert other.shards_written == 1  # other settings: made again
    assert other.entry["settings"]["audio_features"] == AUDIO_SETTINGS.to_json()
    assert _mel_shape(Federation(str(out)), "v")[0] == AUDIO_SETTINGS.mel_bands
    # Without audio the settings are not recorded (nor in the digest).
    silent = federate(_source(tmp_path, "q"), tmp_path / "src", out, size=32, progress=False,
                      audio=False)  # fmt: skip
    assert "audio_features" not in silent.entry["settings"]


def test_datasets_with_features_made_differently_are_not_mixed(tmp_path):
    (tmp_path / "src").mkdir()
    out = tmp_path / "out"
    federate(_source(tmp_path, "a"), tmp_path / "src", out, size=32, progress=False)
    federate(_source(tmp_path, "b"), tmp_path / "src", out, size=32, progress=False,
             audio_settings=AudioSettings(mel_hop_s=0.01))  # fmt: skip
    federate(_source(tmp_path, "m", audio=False), tmp_path / "src", out, size=32, progress=False)
    federation = Federation(str(out))
    assert federation.audio_settings(["a", "m"]) == AUDIO_SETTINGS  # m has no audio
    assert federation.audio_settings(["b"]).mel_hop_s == 0.01
    assert federation.audio_settings(["m"]) is None
    with pytest.raises(ValueError, match=r"\['a', 'b'\] were made with different settings"):
        federation.audio_settings()
    # The loaders refuse before reading a sample; without audio they do not care.
    with pytest.raises(ValueError, match="different settings"):
        ClipLoader(federation, LabelSpace(), 4, 2, None, audio=True)
    with pytest.raises(ValueError, match="different settings"):
        AlignedMixer(federation, LabelSpace(), {"va": 4}, None, audio=True)
    assert next(iter(ClipLoader(federation, LabelSpace(), 4, 2, None, steps=1)))["image"].ndim


def test_bad_settings_are_refused_with_the_key():
    with pytest.raises(ValueError, match="must be positive"):
        AudioSettings(mel_bands=0)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['hop'\]"):
        AudioSettings.from_json({"hop": 0.01})
    with pytest.raises(ValueError, match="only 'eGeMAPSv02 low-level descriptors'"):
        AudioSettings(egemaps="ComParE")


def test_the_command_line_takes_audio_settings(tmp_path, capsys):
    from holistic.cli import _audio_settings, main

    assert _audio_settings(None) is None
    made = _audio_settings(["mel_bands=128", "sample_rate=22050", "mel_hop_s=0.01"])
    assert made == AudioSettings(mel_bands=128, sample_rate=22050, mel_hop_s=0.01)
    argv = ["federate", "affwild2", str(tmp_path), "--out", str(tmp_path / "out")]
    assert main([*argv, "--audio-setting", "mel_bands=many"]) == 2
    assert "--audio-setting mel_bands='many': not a int" in capsys.readouterr().err
    assert main([*argv, "--audio-setting", "hop=0.01"]) == 2
    assert "--audio-setting hop: unknown" in capsys.readouterr().err
    assert main([*argv, "--audio-setting", "mel_bands=0"]) == 2
    assert "must be positive" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before anything was written
