"""recipes/latent_adversarial.py on the tiny synthetic world: AEG-CD, the D-only baseline,
AEG-CD-SZ with audio and ANCLaF with its sequence curriculum each train, evaluate and reload from
their checkpoint alone; the generator steps every n_critic steps; the curriculum resumes bit-exactly
from a kill in the middle of its second stage; a NaN stops the run naming the term and the step
and keeps the last good checkpoint; SZ without audio fails at start naming the datasets."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, free_port, load_recipe, tiny_shards
from safetensors.torch import load_file

from holistic.models import list_models, load_model
from holistic.training.config import ConfigError, load_config
from holistic.training.divergence import DivergenceError
from holistic.training.state import load_progress

CONFIGS = ROOT / "recipes" / "configs" / "latent_adversarial"


class Killed(Exception):
    """Stands for a kill: the run stops where it is."""


@pytest.fixture(scope="module")
def recipe():
    return load_recipe("latent_adversarial")


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    # Aff-Wild2 videos with audio (train + validation), AFEW-VA clips without (train only);
    # shards of 6 frames, so two processes each get their own.
    out = tmp_path_factory.mktemp("latent")
    return tiny_shards(out, 2, ["affwild2", "afewva"], 32, shard_size=6)


def _args(shards, out, config, *extra):
    return [
        "--config", str(CONFIGS / config), f"data.federation={shards}",
        "data.datasets=[affwild2]", "data.batch_size=6", "data.clip_batch_size=2",
        "data.image_size=32", "data.num_workers=0", "data.shuffle_buffer=20",
        "data.clip_shuffle_buffer=8", "train.log_every=1", "train.checkpoint_every=2",
        f"train.output_dir={out}", *extra,
    ]  # fmt: skip


def _frames(shards, dataset="affwild2", split="validation"):
    manifest = json.loads((shards / "manifest.json").read_text())
    return manifest["datasets"][dataset]["splits"][split]["samples"]


def _count_calls(monkeypatch, module, name):
    """Count the calls of a function the recipe imported (``module.name``)."""
    real, calls = getattr(module, name), []

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


ANCLAF = [
    "model.name=test_anclaf", "model.sequence=test_anclaf_s", "train.n_critic=2",
    "stages=[{name: frame, steps: 4}, {name: S-2, kind: sequence, length: 2, steps: 4},"
    " {name: S-3, kind: sequence, length: 3, steps: 2},"
    " {name: SA-2, kind: sequence, length: 2, steps: 2, attention: true, start_from: S-2}]",
]  # fmt: skip


# --- frame models ----------------------------------------------------------------------------


def test_aegcd_trains_evaluates_and_reloads(recipe, shards, tmp_path, monkeypatch):
    out = tmp_path / "aegcd"
    generator_steps = _count_calls(monkeypatch, recipe, "generator_adv_loss")
    metrics = recipe.main(
        _args(
            shards,
            out,
            "aegcd.yaml",
            "model.name=test_aegcd",
            "train.n_critic=3",
            "stages=[{name: frame, steps: 7}]",
            "data.datasets=[affwild2,afewva]",
            "data.eval_split=[validation,train]",
        )  # fmt: skip
    )
    # n_critic counted in steps: generator steps after steps 3 and 6 of 7 (defect 7.1.1).
    assert len(generator_steps) == 2
    history = json.loads((out / "history.json").read_text())
    assert [step for step, _ in history["loss/adv_g"]] == [3, 6]
    assert [step for step, _ in history["loss/total_d"]] == list(range(1, 8))
    assert {"loss/gp", "loss/rec", "loss/afc_d/ccc", "loss/afc_g/icc"} <= set(history)
    assert all(np.isfinite(v) for rows in history.values() for _, v in rows)
    assert list((out / "logs").rglob("events.out.tfevents*"))  # TensorBoard curves
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["steps"] == 7
    assert metrics["affwild2"]["va"]["n"] == _frames(shards)
    # AFEW-VA (no validation split here: its train split) on its native scale: x10.
    native = summary["native_scale"]
    assert native["afewva"]["scale"] == 10 and native["affwild2"]["scale"] == 1
    assert native["afewva"]["rmse_v"] == pytest.approx(10 * metrics["afewva"]["va"]["rmse_v"])
    assert native["afewva"]["ccc_a"] == pytest.approx(metrics["afewva"]["va"]["ccc_a"])
    assert -1 <= native["affwild2"]["icc_v"] <= 1
    assert "native scale" in (out / "report.md").read_text()
    # The checkpoint alone: holistic evaluate rebuilds the model and gets the same metrics.
    model = load_model(out / "model")
    assert model.input_spec.image_size == 32 and not model.input_spec.is_clip
    from holistic.cli import main as cli

    assert cli(["evaluate", str(out / "model"), str(shards), "--dataset", "affwild2",
                "--out", str(tmp_path / "eval")]) == 0  # fmt: skip
    again = json.loads((tmp_path / "eval" / "metrics.json").read_text())["metrics"]
    assert again["affwild2"]["va"]["ccc_mean"] == pytest.approx(
        metrics["affwild2"]["va"]["ccc_mean"], abs=1e-5
    )


def test_discriminator_only_baseline_trains_d_alone(recipe, shards, tmp_path, monkeypatch):
    out = tmp_path / "disc"
    generator_steps = _count_calls(monkeypatch, recipe, "generator_adv_loss")
    metrics = recipe.main(_args(shards, out, "disc_only.yaml", "model.name=test_aegcd",
                                "stages=[{name: frame, steps: 6}]", "train.lr=0.003"))  # fmt: skip
    assert not generator_steps  # no generator, no adversary
    history = json.loads((out / "history.json").read_text())
    assert set(history) == {f"loss/afc_d/{t}" for t in ("rmse", "cor", "ccc", "icc", "total")} | {
        "loss/total_d"
    }
    assert metrics["affwild2"]["va"]["n"] == _frames(shards)
    # The checkpoint alone rebuilds the baseline: D on the image itself, G unused.
    model = load_model(out / "model")
    assert model.denoise is False and "generator" in model.detached_parameters
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(model(x)["va"], model.discriminator(x).va)
    from holistic.cli import main as cli

    assert cli(["evaluate", str(out / "model"), str(shards), "--dataset", "affwild2",
                "--out", str(tmp_path / "eval")]) == 0  # fmt: skip
    again = json.loads((tmp_path / "eval" / "metrics.json").read_text())["metrics"]
    assert again["affwild2"]["va"]["ccc_mean"] == pytest.approx(
        metrics["affwild2"]["va"]["ccc_mean"], abs=1e-5
    )


def test_sz_takes_the_audio_of_three_frames_and_reloads(recipe, shards, tmp_path):
    from holistic.cli import main as cli

    out = tmp_path / "sz"
    metrics = recipe.main(
        _args(
            shards,
            out,
            "aegcd_sz.yaml",
            "model.name=test_aegcd",
            "model.kwargs={z_mode: add, audio_features: 75}",
            "train.n_critic=2",
            "stages=[{name: frame, steps: 4}]",
        )  # fmt: skip
    )
    history = json.loads((out / "history.json").read_text())
    assert [v for _, v in history["loss/audio_present"]] == [1.0] * 4  # every clip had audio
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["eval_frames_without_audio"] == 0
    assert metrics["affwild2"]["va"]["n"] == _frames(shards)
    # The checkpoint alone takes raw eGeMAPS (the normalisation is folded into D's audio layer),
    # carries the training mean for frames without audio, and `holistic evaluate` feeds it the
    # audio of frames t-1..t+1: the recipe's evaluation again.
    model = load_model(out / "model")
    mean = summary["audio_statistics"]["mean"]
    spec_audio = model.input_spec.audio["egemaps"]
    assert spec_audio["features"] == 75 and spec_audio["frames"] == 3
    assert spec_audio["fill"] == pytest.approx(mean)
    from holistic.data.audio import AUDIO_SETTINGS, AudioSettings
    from holistic.data.federation import Federation
    from holistic.evaluation.run import evaluate_model
    from holistic.models import label_space_of

    assert spec_audio["settings"] == AUDIO_SETTINGS.to_json()  # how its features were made
    # Features made otherwise (a manifest saying so) are refused, naming both settings.
    manifest = json.loads((shards / "manifest.json").read_text())
    other = AudioSettings(mel_hop_s=0.01).to_json()
    manifest["datasets"]["affwild2"]["settings"]["audio_features"] = other
    with pytest.raises(ValueError, match="trained on audio features made with"):
        evaluate_model(model, Federation(str(shards), manifest), label_space_of(model),
                       datasets=["affwild2"])  # fmt: skip
    assert cli(["evaluate", str(out / "model"), str(shards), "--dataset", "affwild2",
                "--out", str(tmp_path / "eval")]) == 0  # fmt: skip
    again = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert again["eval_frames_without_audio"] == 0
    assert again["metrics"]["affwild2"]["va"]["n"] == _frames(shards)
    assert again["metrics"]["affwild2"]["va"]["ccc_mean"] == pytest.approx(
        metrics["affwild2"]["va"]["ccc_mean"], abs=1e-5
    )
    # Given no audio, the model reads every frame as one without audio: the fill.
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    filled = torch.tensor(list(model.audio_fill) * 3).expand(2, -1)
    assert torch.allclose(model(images)["va"], model(images, filled)["va"])


def test_sz_starts_from_an_aegcd_run_as_the_paper_trains_it(recipe, shards, tmp_path):
    from holistic.models import create_model
    from holistic.training.latent import init_from_checkpoint

    first = tmp_path / "aegcd"
    recipe.main(_args(shards, first, "aegcd.yaml", "model.name=test_aegcd",
                      "stages=[{name: frame, steps: 2}]"))  # fmt: skip
    sz = create_model("test_aegcd", image_size=32, z_mode="add", audio_features=75)
    report = init_from_checkpoint(sz, first / "model")
    saved = load_file(first / "model" / "model.safetensors")
    state = sz.state_dict()
    assert all(torch.equal(state[k], saved[k]) for k in report["copied"])
    assert all(k in report["copied"] for k in state if k.startswith("generator."))
    [conv] = report["extended"]  # D's first convolution gained the audio plane's channel
    assert torch.equal(state[conv][:, :3], saved[conv]) and not state[conv][:, 3:].any()
    assert report["new"] and all(k.startswith("discriminator.") for k in report["new"])
    # The recipe starts from it and trains on.
    out = tmp_path / "sz"
    recipe.main(_args(shards, out, "aegcd_sz.yaml", "model.name=test_aegcd",
                      "model.kwargs={z_mode: add, audio_features: 75}",
                      f"model.init_from={first / 'model'}", "stages=[{name: frame, steps: 2}]"))  # fmt: skip
    assert json.loads((out / "metrics.json").read_text())["steps"] == 2
    anclaf = create_model("test_anclaf", image_size=32)
    with pytest.raises(ValueError, match="not in the model"):
        init_from_checkpoint(anclaf, first / "model")


def test_sz_without_audio_fails_at_start_naming_the_datasets(recipe, shards, tmp_path):
    with pytest.raises(ConfigError, match=r"\['afewva'\] has no audio features"):
        recipe.main(_args(shards, tmp_path / "x", "aegcd_sz.yaml", "model.name=test_aegcd",
                          "model.kwargs={z_mode: add, audio_features: 75}",
                          "data.datasets=[affwild2,afewva]"))  # fmt: skip
    assert not (tmp_path / "x").exists()  # nothing was written


def test_clips_without_audio_get_the_training_mean_and_a_mask(recipe):
    from holistic.training.latent import AudioStatistics

    statistics = AudioStatistics(np.full(25, 3.0, np.float32), np.full(25, 2.0, np.float32))
    # The clip loader's batch (audio=True): clip 0 has audio on every frame, clip 1 on none,
    # clip 2 not on frame t+1; zeros where a frame has none.
    present = torch.tensor([[True] * 3, [False] * 3, [True, True, False]])
    batch = {"image": torch.zeros(3, 3, 3, 8, 8, dtype=torch.uint8),
             "va": torch.zeros(3, 3, 2), "va_mask": torch.ones(3, 3, dtype=torch.bool),
             "egemaps": torch.full((3, 3, 25), 5.0) * present[..., None],
             "audio_mask": present}  # fmt: skip
    images, _, _, audio, mask = recipe.frame_inputs(batch, statistics, "cpu")
    assert images.shape == (3, 3, 8, 8)  # the middle frame
    assert torch.equal(mask, present)
    # Standardised, (5 - 3) / 2 = 1 where a frame has audio; 0, the training mean, where not
    # (a raw 0 would have become -1.5): the silent clip still trains, on the zero input's plane.
    expected = present[..., None].float().expand(3, 3, 25).flatten(1)
    assert torch.equal(audio, expected)
    with pytest.raises(ValueError, match=r"expected audio \[B, 3, F\] and its mask \[B, 3\]"):
        recipe.frame_inputs({**batch, "audio_mask": present[:, :2]}, statistics, "cpu")


def test_evaluation_fills_frames_without_audio_with_the_training_mean():
    from holistic.data.audio import context_windows

    fill = np.full(2, 7.0, np.float32)
    features = np.array([[1, 1], [0, 0], [3, 3]], np.float32)  # frame 1 has no audio
    audio, present = context_windows(features, np.array([True, False, True]), 3, fill, 3)
    assert present.tolist() == [True, False, True]
    # Each frame's context t-1, t, t+1 (the run's edges repeat), the mean in frame 1's place.
    assert audio.tolist() == [[1, 1, 1, 1, 7, 7], [1, 1, 7, 7, 3, 3], [7, 7, 3, 3, 3, 3]]
    audio, present = context_windows(None, None, 2, fill, 3)  # a run without audio
    assert not present.any() and (audio == 7).all() and audio.shape == (2, 6)


def test_an_sz_model_without_its_fill_is_refused_by_evaluation_and_needs_audio(shards):
    from holistic.data.federation import Federation
    from holistic.evaluation.run import evaluate_model
    from holistic.models import create_model, label_space_of

    model = create_model("test_aegcd", image_size=32, z_mode="add", audio_features=75)
    assert "fill" not in model.input_spec.audio["egemaps"]  # untrained: no training mean yet
    with pytest.raises(ValueError, match="records no single fill"):
        evaluate_model(model, Federation(str(shards)), label_space_of(model))
    with pytest.raises(ValueError, match=r"takes audio \[B, 75\]"):
        model(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="25 per frame"):
        model.audio_fill = [0.0] * 24


# --- ANCLaF and its curriculum ---------------------------------------------------------------


@pytest.fixture(scope="module")
def anclaf_straight(recipe, shards, tmp_path_factory):
    """An uninterrupted ANCLaF run: frame stage, S-2, S-3, then SA-2 from S-2."""
    out = tmp_path_factory.mktemp("anclaf") / "straight"
    metrics = recipe.main(_args(shards, out, "anclaf.yaml", *ANCLAF))
    return out, metrics


def test_anclaf_curriculum_trains_each_stage_and_reloads(anclaf_straight, shards):
    out, metrics = anclaf_straight
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["steps"] == 12 and summary["stage"] == "SA-2"
    assert metrics["affwild2"]["va"]["n"] == _frames(shards)  # every frame of every video
    history = json.loads((out / "history.json").read_text())
    assert [s for s, _ in history["loss/afc_c/total"]] == [1, 2, 3, 4]  # C: every frame step
    assert [s for s, _ in history["loss/adv_g"]] == [2, 4]
    assert [s for s, _ in history["loss/afc_s/total"]] == list(range(5, 13))
    assert "loss/afc_s/cor" not in history  # the stage-3 terms drop COR
    # Each finished stage left its model and report; the final report compares them.
    for name, kind in (("frame", "image"), ("S-2", "clip"), ("S-3", "clip")):
        model = load_model(out / "stages" / name / "model")
        assert model.input_spec.kind == kind
        assert "native_scale" in json.loads((out / "stages" / name / "metrics.json").read_text())
    assert load_model(out / "stages" / "S-3" / "model").input_spec.clip_length == 3
    assert "| S-2 | affwild2 |" in (out / "report.md").read_text()
    # G and D stayed frozen through the sequence stages: the frame stage's weights.
    frame = load_file(out / "stages" / "frame" / "model" / "model.safetensors")
    final = load_file(out / "model" / "model.safetensors")
    shared = [k for k in frame if k.startswith(("generator.", "discriminator."))]
    assert shared and all(torch.equal(frame[k], final[k]) for k in shared)
    # The final model is ANCLaF-SA-2, rebuilt from its checkpoint alone.
    model = load_model(out / "model")
    assert model.sequence.attention and model.input_spec.clip_length == 2
    clip = torch.rand(2, 5, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        va = model(clip)["va"]
    assert va.shape == (2, 5, 2) and torch.isfinite(va).all()


def test_each_sequence_stage_starts_from_the_weights_it_names(recipe, shards, tmp_path,
                                                               monkeypatch):  # fmt: skip
    """SA-2 starts from S-2's saved model (start_from), not from S-3 where training left the
    LSTM; S-3 starts from S-2 as it ended; the first sequence stage from C's convolutions."""
    real, started = recipe.start_stage, {}

    def record(span, plan, frame, sequence, out, config):
        real(span, plan, frame, sequence, out, config)
        started[span.stage.name] = {k: v.clone() for k, v in sequence.sequence.state_dict().items()}

    monkeypatch.setattr(recipe, "start_stage", record)
    out = tmp_path / "run"
    recipe.main(_args(shards, out, "anclaf.yaml", *ANCLAF))
    assert list(started) == ["S-2", "S-3", "SA-2"]
    saved = {name: load_file(out / "stages" / name / "model" / "model.safetensors")
             for name in ("frame", "S-2", "S-3")}  # fmt: skip
    lstm = {name: {k.removeprefix("sequence."): v for k, v in weights.items()
                   if k.startswith("sequence.")} for name, weights in saved.items()}  # fmt: skip
    same = lambda a, b: set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)  # noqa: E731
    assert same(started["SA-2"], lstm["S-2"]) and not same(started["SA-2"], lstm["S-3"])
    assert same(started["S-3"], lstm["S-2"])
    convs = {k.removeprefix("combiner.features."): v for k, v in saved["frame"].items()
             if k.startswith("combiner.features.")}  # fmt: skip
    first = {k.removeprefix("features."): v for k, v in started["S-2"].items()
             if k.startswith("features.")}  # fmt: skip
    assert convs and same(first, convs)


def test_anclaf_resumes_bit_exactly_from_a_kill_inside_the_second_stage(
    recipe, shards, anclaf_straight, tmp_path, monkeypatch
):
    out = tmp_path / "resumed"
    real = recipe.save_state

    def save_then_die(accelerator, state_dir, progress):
        real(accelerator, state_dir, progress)
        if progress.step == 6:  # S-2 runs steps 5..8: killed in its middle
            raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(recipe, "save_state", save_then_die)
        with pytest.raises(Killed):
            recipe.main(_args(shards, out, "anclaf.yaml", *ANCLAF))
    assert load_progress(out / "state").step == 6
    recipe.main(_args(shards, out, "anclaf.yaml", *ANCLAF))  # the same command: resumes at 6
    straight, _ = anclaf_straight
    a = load_file(straight / "model" / "model.safetensors")
    b = load_file(out / "model" / "model.safetensors")
    assert a.keys() == b.keys()
    assert not [k for k in a if not torch.equal(a[k], b[k])]
    assert json.loads((straight / "history.json").read_text()) == json.loads(
        (out / "history.json").read_text()
    )


def test_a_nan_stops_the_run_naming_the_term_and_keeps_the_last_checkpoint(
    recipe, shards, tmp_path, monkeypatch
):
    out = tmp_path / "nan"
    real, calls = recipe.reconstruction_loss, []

    def poisoned(*args, **kwargs):
        terms = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 3:  # the generator step of step 3 (n_critic 1)
            terms["rec"] = terms["rec"] * float("nan")
        return terms

    monkeypatch.setattr(recipe, "reconstruction_loss", poisoned)
    with pytest.raises(DivergenceError, match=r"step 3: loss term 'rec' is nan") as error:
        recipe.main(_args(shards, out, "aegcd.yaml", "model.name=test_aegcd", "train.n_critic=1",
                          "stages=[{name: frame, steps: 6}]"))  # fmt: skip
    assert "checkpoint (step 2)" in str(error.value)
    saved = load_progress(out / "state")
    assert saved.step == 2  # the last good state; nothing of step 3 was saved
    weights = load_file(out / "state" / "model.safetensors")
    assert all(torch.isfinite(v).all() for v in weights.values())


def test_an_exploding_term_stops_the_run(recipe, shards, tmp_path):
    with pytest.raises(
        DivergenceError, match=r"step 1: loss term '.*' is .* \(above train.diverge_above=0.5\)"
    ):
        recipe.main(_args(shards, tmp_path / "x", "aegcd.yaml", "model.name=test_aegcd",
                          "stages=[{name: frame, steps: 2}]", "train.diverge_above=0.5"))  # fmt: skip


# --- configs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(recipe, path):
    lines = path.read_text().splitlines()
    assert lines[0].startswith("#")  # what it is, then the exact launch line
    assert f"recipes/latent_adversarial.py --config {path.relative_to(ROOT)}" in lines[1]
    config = load_config(recipe.RunConfig, path)
    assert config.model.name in list_models()
    assert config.model.sequence is None or config.model.sequence in list_models()


def test_bad_stage_configs_fail_at_start(recipe, shards, tmp_path):
    with pytest.raises(ConfigError, match="start_from must name an earlier sequence stage"):
        recipe.main(_args(shards, tmp_path / "a", "anclaf.yaml", *ANCLAF[:3],
                          "stages=[{name: frame, steps: 1}, {name: S, kind: sequence, "
                          "length: 2, steps: 1, start_from: T}]"))  # fmt: skip
    with pytest.raises(ConfigError, match="sequence stages need an ANCLaF"):
        recipe.main(_args(shards, tmp_path / "b", "aegcd.yaml", "model.name=test_aegcd",
                          "stages=[{name: frame, steps: 1}, {name: S, kind: sequence, "
                          "length: 2, steps: 1}]"))  # fmt: skip


def test_frame_and_sequence_models_must_read_the_same_modality(recipe):
    """DiLaST on audio trains here (tests/recipes/test_recipe_latent_audiovisual.py); its -SA
    model must read what its frame model reads, and AVi-CaS / AVi-GaS are no -SA models."""
    from holistic.models import create_model

    audio = {"modality": "audio", "audio_image_size": 32}
    config = recipe.RunConfig(model=recipe.ModelConfig(name="test_dilast", kwargs=audio))
    assert recipe.model_kind(create_model("test_dilast", **audio), config) == "anclaf"
    stages = [recipe.StageConfig(), recipe.StageConfig(name="S", kind="sequence", length=2)]
    for frame, sequence, kwargs, message in (
        ("test_anclaf", "test_dilast_sa", audio,
         "test_dilast_sa reads 32 px audio images, the frame model test_anclaf faces"),
        ("test_anclaf", "test_avigas", {},
         r"test_avigas is not an ANCLaF-S/-SA sequence model.*AVi-CaS / AVi-GaS: model.name"),
    ):  # fmt: skip
        model = recipe.ModelConfig(name=frame, sequence=sequence, sequence_kwargs=kwargs)
        with pytest.raises(ConfigError, match=message):
            recipe.build_sequence_model(recipe.RunConfig(model=model, stages=stages),
                                        create_model(frame))  # fmt: skip
    model = recipe.ModelConfig(name="test_dilast", sequence="test_dilast_sa", kwargs=audio)
    frame = create_model("test_dilast", **audio)
    sequence = recipe.build_sequence_model(recipe.RunConfig(model=model, stages=stages), frame)
    assert sequence.modality == "audio" and sequence.generator is frame.generator


# --- two processes ---------------------------------------------------------------------------


@pytest.mark.parametrize("config", ["aegcd", "anclaf"])
def test_two_cpu_processes(shards, tmp_path, config):
    """accelerate launch with 2 CPU processes (gloo): every part under DDP, pooled evaluation."""
    out = tmp_path / "ddp"
    extra = ANCLAF if config == "anclaf" else [
        "model.name=test_aegcd", "train.n_critic=2", "stages=[{name: frame, steps: 4}]"
    ]  # fmt: skip
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()), str(ROOT / "recipes" / "latent_adversarial.py"),
        *_args(shards, out, f"{config}.yaml", "train.cpu=true", *extra),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["metrics"]["affwild2"]["va"]["n"] == _frames(shards)
