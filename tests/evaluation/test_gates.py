"""The AViGaS gate analyses and evaluation under a corrupted modality (holistic/evaluation/
gates.py): one row per evaluated frame, gates in [0, 1] summing to 1 and all on the face where
the audio is removed, the same frames as clip evaluation, the paper's summary by hand, the
timeline plot, and refusals."""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tiny_adapter

from holistic.data.audio import AudioSettings
from holistic.data.corruption import ModalityCorruption
from holistic.data.federation import Federation
from holistic.data.shards import federate
from holistic.evaluation.gates import (
    GATE_COLUMNS,
    _timeline_figure,
    corrupted_predictions,
    corruption_metrics,
    gate_analysis,
    gate_summary,
    gate_timeline,
)
from holistic.evaluation.run import evaluate_model
from holistic.models import create_model
from holistic.schema import LabelSpace

SPACE = LabelSpace()
# Video a: frames 0-10, all heard; video b: frames 0-6, audio on frames 0-3 only.
VIDEOS = {"a": (range(11), range(11)), "b": (range(7), range(4))}
REMOVE = ModalityCorruption("audio", "remove", segment=3, unit="frames")


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    import soundfile

    tmp = tmp_path_factory.mktemp("gates")
    rate, t = 16000, np.arange(3 * 16000) / 16000
    wav = tmp / "voice.wav"
    soundfile.write(wav, (0.3 * np.sin(2 * np.pi * 300 * t * (1 + t))).astype(np.float32), rate)
    records = [
        {"key": f"{video}-{f:02d}", "split": "validation", "video": video, "frame": f,
         "labels": {"va": [f / 10 - 0.5, 0.4 - f / 20]}, "image_value": 20 + 17 * f,
         **({"audio": wav, "audio_time": 0.2 * f} if f in heard else {})}
        for video, (frames, heard) in VIDEOS.items()
        for f in frames
    ]  # fmt: skip
    (tmp / "src").mkdir()
    federate(tiny_adapter("av", records), tmp / "src", tmp / "out", size=32, progress=False,
             audio_settings=AudioSettings(mel_image_size=32))  # fmt: skip
    return Federation(str(tmp / "out"))


def build(name, **kwargs):
    torch.manual_seed(0)
    return create_model(name, **kwargs).eval()


def test_one_row_per_frame_with_gates_that_sum_to_one_and_go_to_the_face_without_audio(
    federation,
):
    table = gate_analysis(build("test_avigas"), federation, SPACE, REMOVE)
    assert list(table.columns) == list(GATE_COLUMNS)
    assert len(table) == 18 and not table.duplicated(["video", "frame"]).any()
    assert sorted(zip(table["video"], table["frame"], strict=True)) == sorted(
        (video, f) for video, (frames, _) in VIDEOS.items() for f in frames
    )
    gates = table[["gate_video", "gate_audio"]].to_numpy()
    assert gates.min() >= 0 and gates.max() <= 1
    assert np.allclose(gates.sum(axis=1), 1.0, atol=1e-6)
    for video, part in table.groupby("video"):
        frames = part["frame"].to_numpy()
        assert np.array_equal(part["corrupted"], REMOVE.corrupted(frames, video, "av"))
        heard = np.isin(frames, list(VIDEOS[video][1])) & ~part["corrupted"].to_numpy(bool)
        assert np.array_equal(part["audio_present"], heard)
    silent = ~table["audio_present"].to_numpy(bool)
    assert table["corrupted"].any() and silent.sum() > table["corrupted"].sum()  # b's own gaps
    assert (table["gate_video"][silent] == 1).all()  # the GMU's presence mask
    heard = table["gate_video"][~silent]
    assert ((heard > 0) & (heard < 1)).all()  # where the audio is fed, both count
    # The labels ride along; predictions are the model's VA.
    row = table[(table["video"] == "a") & (table["frame"] == 4)].iloc[0]
    assert (row["valence"], row["arousal"]) == pytest.approx((-0.1, 0.2))
    assert np.isfinite(table[["valence_pred", "arousal_pred"]].to_numpy()).all()


def test_without_a_corruption_the_rows_and_predictions_are_clip_evaluation_s(federation):
    model = build("test_avigas")
    table = gate_analysis(model, federation, SPACE)
    assert not table["corrupted"].any()
    reference = evaluate_model(model, federation, SPACE)
    clean = corrupted_predictions(model, federation, SPACE)
    for predictions in (reference, clean.predictions):
        assert np.allclose(predictions["va_pred"], table[["valence_pred", "arousal_pred"]])
        assert np.allclose(predictions["va"], table[["valence", "arousal"]])
    # Whole runs (the paper's streaming inference): the same rows, other predictions.
    whole = gate_analysis(model, federation, SPACE, window=None)
    assert np.array_equal(whole[["video", "frame"]], table[["video", "frame"]])
    assert not np.allclose(whole["valence_pred"], table["valence_pred"])


def test_audio_noise_moves_the_gates_of_the_corrupted_frames_only(federation):
    model = build("test_avigas", per_unit_gate=False)
    clean = gate_analysis(model, federation, SPACE)
    noise = ModalityCorruption("audio", "noise", strength=0.8, segment=2, unit="frames")
    noisy = gate_analysis(model, federation, SPACE, noise)
    # Gates are per frame: exactly the same where the inputs are (an untrained gate moves
    # little, by 1e-6 here, so any change counts).
    moved = (clean["gate_video"] != noisy["gate_video"]).to_numpy()
    heard = noisy["audio_present"].to_numpy(bool)
    assert np.array_equal(moved, noisy["corrupted"].to_numpy(bool) & heard)


def test_any_model_under_a_corruption_with_rows_marked(federation):
    frame_model = build("test_dilast")  # a face-only image model
    noise = ModalityCorruption("video", "noise", strength=0.5, segment=3, unit="frames")
    clean = corrupted_predictions(frame_model, federation, SPACE, batch_size=4)
    noisy = corrupted_predictions(frame_model, federation, SPACE, noise, batch_size=4)
    assert len(noisy.predictions) == 18 and noisy.corrupted.sum() == 8  # a: 3-5, 9-10; b: 3-5
    changed = (clean.predictions["va_pred"] != noisy.predictions["va_pred"]).any(axis=1)
    assert np.array_equal(changed, noisy.corrupted)
    # A face-only model does not hear an audio corruption, but its rows are marked alike.
    deaf = corrupted_predictions(frame_model, federation, SPACE, REMOVE, batch_size=4)
    assert np.array_equal(deaf.predictions["va_pred"], clean.predictions["va_pred"])
    assert deaf.corrupted.sum() == 8 and deaf.predictions.frames_without_audio == 0
    # An audio-only frame model (Au-De) hears the removal on the corrupted frames with audio.
    listener = build("test_dilast", modality="audio", audio_image_size=32)
    heard = corrupted_predictions(listener, federation, SPACE, batch_size=4)
    removed = corrupted_predictions(listener, federation, SPACE, REMOVE, batch_size=4)
    changed = (heard.predictions["va_pred"] != removed.predictions["va_pred"]).any(axis=1)
    had_audio = np.array([f in VIDEOS[v][1] for v, frames in (("a", range(11)), ("b", range(7)))
                          for f in frames])  # fmt: skip
    assert np.array_equal(changed, removed.corrupted & had_audio)
    # AVi-CaS with the audio removed: the frames without audio are counted.
    fused = corrupted_predictions(build("test_avicas"), federation, SPACE, REMOVE)
    assert fused.predictions.frames_without_audio == 8 + 1  # the removed ones and b's frame 6
    metrics = corruption_metrics(fused, SPACE)
    n = {group: metrics[group]["all"]["va"]["n"] for group in ("all", "intact", "corrupted")}
    assert n == {"all": 18, "intact": 10, "corrupted": 8}
    assert corruption_metrics(clean, SPACE)["corrupted"] == {}


def test_models_without_gates_are_refused(federation):
    for model in (build("test_avicas"), build("test_dilast_sa")):
        with pytest.raises(ValueError, match="AVi-GaS model"):
            gate_analysis(model, federation, SPACE)
        with pytest.raises(ValueError, match="AVi-GaS model"):
            corrupted_predictions(model, federation, SPACE, gates=True)


def test_one_pass_gives_the_predictions_and_the_gates(federation, monkeypatch):
    model = build("test_avigas")
    noise = ModalityCorruption("audio", "noise", strength=0.8, segment=2, unit="frames")
    calls = []  # the model's passes over a window (its forward runs forward_sequence too)
    sequence = model.forward_sequence
    monkeypatch.setattr(model, "forward_sequence", lambda *a: calls.append(1) or sequence(*a))
    plain = corrupted_predictions(model, federation, SPACE, noise)
    table = gate_analysis(model, federation, SPACE, noise)
    apart = len(calls)
    together = corrupted_predictions(model, federation, SPACE, noise, gates=True)
    assert apart == 2 * (len(calls) - apart) > 0  # the same windows, run once instead of twice
    assert np.array_equal(together.corrupted, plain.corrupted)
    assert np.allclose(together.predictions["va_pred"], plain.predictions["va_pred"])
    pd.testing.assert_frame_equal(together.gates, table)
    assert plain.gates is None


def _table():
    """Two datasets; gates chosen around the thresholds, labels where given."""
    return pd.DataFrame(
        {
            "dataset": ["d"] * 4 + ["e"] * 2,
            "video": ["v"] * 4 + ["w"] * 2,
            "frame": [0, 1, 2, 3, 0, 1],
            "corrupted": [False, True, True, False, False, True],
            "audio_present": [True, False, True, True, True, True],
            "gate_video": [0.5, 1.0, 0.1, 0.8, 0.2, 0.95],
            "gate_audio": [0.5, 0.0, 0.9, 0.2, 0.8, 0.05],
            "valence_pred": [0.1, 0.5, -0.2, 0.3, 0.0, 0.4],
            "arousal_pred": [0.2, -0.1, 0.0, 0.1, 0.3, 0.2],
            "valence": [0.0, 0.5, -0.4, np.nan, 0.2, 0.1],
            "arousal": [0.1, 0.1, 0.0, np.nan, 0.1, 0.2],
        }
    )


def test_the_paper_s_summary_by_hand():
    summary = gate_summary(_table(), thresholds=(0.25, 0.125))
    gates = summary.gates
    assert list(gates.index) == ["d", "e", "all"]
    assert gates.loc["d", "gate_video_intact"] == pytest.approx((0.5 + 0.8) / 2)
    assert gates.loc["d", "gate_video_corrupted"] == pytest.approx((1.0 + 0.1) / 2)
    assert gates.loc["d", "gate_shift"] == pytest.approx(0.55 - 0.65)
    assert gates.loc["all", "gate_video_intact"] == pytest.approx((0.5 + 0.8 + 0.2) / 3)
    assert gates.loc["all", "gate_video_corrupted"] == pytest.approx((1.0 + 0.1 + 0.95) / 3)
    assert gates.loc["e", "frames"] == 2 and gates.loc["all", "corrupted_frames"] == 3
    rows = summary.decisive.set_index(["dataset", "threshold"])
    # T = 0.25: d's 1.0 and 0.8 (> 0.75) and 0.1 (< 0.25) decide, 0.5 does not.
    d = rows.loc[("d", 0.25)]
    assert d["decisive"] == pytest.approx(3 / 4) and d["decisive_frames"] == 3
    assert d["video_decides"] == pytest.approx(2 / 4) and d["audio_decides"] == pytest.approx(1 / 4)
    # Decisive and labelled: frames 1 and 2 (frame 3 has no label); the rest: frame 0.
    assert d["labelled_decisive"] == 2 and d["labelled_rest"] == 1
    assert d["rmse_v_decisive"] == pytest.approx(np.sqrt((0.0**2 + 0.2**2) / 2))
    assert d["rmse_a_rest"] == pytest.approx(0.1)
    pred, true = np.array([0.5, -0.2]), np.array([0.5, -0.4])
    shift = (pred.mean() - true.mean()) ** 2
    expected = 2 * np.cov(pred, true, bias=True)[0, 1] / (pred.var() + true.var() + shift)
    assert d["ccc_v_decisive"] == pytest.approx(expected)
    # T = 0.125: 1.0, 0.1 (d) and 0.95 (e) decide.
    assert rows.loc[("d", 0.125), "decisive"] == pytest.approx(2 / 4)  # 1.0 and 0.1
    assert rows.loc[("e", 0.125), "decisive"] == pytest.approx(1 / 2)  # 0.95
    assert rows.loc[("all", 0.125), "decisive_frames"] == 3
    with pytest.raises(ValueError, match=r"thresholds must lie in \(0, 0.5\]"):
        gate_summary(_table(), thresholds=(0.6,))
    with pytest.raises(ValueError, match="lacks the column"):
        gate_summary(_table().drop(columns="gate_video"))


def test_the_timeline_shades_each_corrupted_stretch(tmp_path):
    table = _table()
    table.loc[len(table)] = ["d", "v", 4, True, True, 0.3, 0.7, 0.0, 0.0, np.nan, np.nan]
    figure = _timeline_figure(table, "v", None, (0.25,), None)
    assert len(figure.axes[0].patches) == 2  # frames 1-2 and frame 4
    import matplotlib.pyplot as plt

    plt.close(figure)
    path = gate_timeline(table, tmp_path / "gates.png", video="w")
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="no frame of video 'x'"):
        gate_timeline(table, tmp_path / "x.png", video="x")
