"""A/V-MT-VGG-GRU in recipes/cnn_rnn.py on the tiny synthetic world (Aff-Wild2 videos with audio,
AFEW-VA clips without): the stream-wise stage trains each stream on its own output layer and
leaves the fusion as it was, then the whole trains end to end; the model records the training
features' audio settings, reloads from its checkpoint alone and `holistic evaluate` feeds it
audio again; resume is exact across the change of stage; two CPU processes train and pool;
datasets without audio fail at start, naming them; evaluation refuses features made otherwise and
counts the frames without audio."""

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, free_port, load_recipe, tiny_shards
from safetensors.torch import load_file

from holistic.data.federation import Federation
from holistic.evaluation.run import evaluate_model
from holistic.models import label_space_of, load_model
from holistic.training.config import ConfigError

STEPS, STREAM_STEPS = 6, 3


@pytest.fixture(scope="module")
def recipe():
    return load_recipe("cnn_rnn")


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    # Shards of 6 frames: several per split, so two processes each get their own.
    return tiny_shards(tmp_path_factory.mktemp("av"), 2, ["affwild2", "afewva"], 32, shard_size=6)


def _args(shards, out, steps, *extra):
    return [
        "--config", str(ROOT / "recipes/configs/cnn_rnn/synthetic.yaml"),
        f"data.federation={shards}", "data.datasets=[affwild2]", "data.clip_length=4",
        "data.batch_size=3", "data.image_size=32", "data.num_workers=0", "data.shuffle_buffer=8",
        "model.name=test_avmtvgggru", "loss.expr=1", "loss.au=1", f"train.steps={steps}",
        f"train.stream_steps={STREAM_STEPS}", "train.lr=0.003", "train.log_every=1",
        f"train.output_dir={out}", *extra,
    ]  # fmt: skip


def _manifest(shards):
    return json.loads((shards / "manifest.json").read_text())


def _frames(shards, dataset="affwild2", split="validation"):
    return _manifest(shards)["datasets"][dataset]["splits"][split]["samples"]


@pytest.fixture(scope="module")
def trained(recipe, shards, tmp_path_factory):
    """A run of STEPS steps, the first STREAM_STEPS stream-wise: ``(output folder, metrics)``."""
    out = tmp_path_factory.mktemp("avrun") / "run"
    return out, recipe.main(_args(shards, out, STEPS))


def _initial_model(recipe, shards, out):
    """The recipe's model before its first step (seeded, then built)."""
    from accelerate.utils import set_seed

    config = recipe.parse_args(_args(shards, out, STEPS))
    set_seed(config.train.seed)
    return recipe.build_model(config).state_dict()


def test_streams_first_then_end_to_end_and_the_model_reloads(recipe, shards, trained, tmp_path):
    from holistic.cli import main as cli

    out, metrics = trained
    history = json.loads((out / "history.json").read_text())
    total = dict(history["loss/total"])
    video, audio, fused = (dict(history[f"loss/{k}_total"]) for k in ("video", "audio", "fused"))
    assert sorted(total) == list(range(1, STEPS + 1))
    for step in total:  # logged after the step: steps 1..3 are the stream-wise ones
        expected = video[step] + audio[step] if step <= STREAM_STEPS else fused[step]
        assert total[step] == pytest.approx(expected, rel=1e-5), step
    # The fused layer was not what the stream-wise steps minimised: its loss differs from theirs.
    assert any(fused[s] != pytest.approx(total[s]) for s in range(1, STREAM_STEPS + 1))
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["steps"] == STEPS and summary["eval_frames_without_audio"] == 0
    assert metrics["affwild2"]["va"]["n"] == _frames(shards)
    assert {"va", "expr"} <= set(metrics["affwild2"])
    # The checkpoint alone: its audio settings are those the training features were made with.
    model = load_model(out / "model")
    made = _manifest(shards)["datasets"]["affwild2"]["settings"]["audio_features"]
    assert model.input_spec.audio["mel"]["settings"] == made
    assert model.input_spec.clip_length == 4 and model.input_spec.image_size == 32
    # The end-to-end steps trained the fusion.
    initial = _initial_model(recipe, shards, out)
    weights = load_file(out / "model" / "model.safetensors")
    assert not torch.equal(weights["fusion.weight_ih_l0"], initial["fusion.weight_ih_l0"])
    # holistic evaluate feeds the saved model its audio again: the recipe's evaluation.
    assert cli(["evaluate", str(out / "model"), str(shards), "--dataset", "affwild2",
                "--out", str(tmp_path / "eval")]) == 0  # fmt: skip
    again = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert again["eval_frames_without_audio"] == 0
    assert again["metrics"]["affwild2"]["va"]["ccc_mean"] == pytest.approx(
        metrics["affwild2"]["va"]["ccc_mean"], abs=1e-5
    )


def test_stream_wise_steps_train_the_streams_and_leave_the_fusion(recipe, shards, tmp_path):
    out = tmp_path / "streams"
    recipe.main(_args(shards, out, STREAM_STEPS))  # every step stream-wise
    initial = _initial_model(recipe, shards, out)
    weights = load_file(out / "model" / "model.safetensors")
    fusion = [k for k in weights if k.startswith(("fusion.", "head."))]
    assert fusion and all(torch.equal(weights[k], initial[k]) for k in fusion)
    for stream in ("video", "audio"):  # each stream's CNN and its own output layer learnt
        for key in (f"{stream}.head.out.weight", f"{stream}.fc.0.weight"):
            assert not torch.equal(weights[key], initial[key]), key


def test_resume_across_the_change_of_stage_is_exact(recipe, shards, trained, tmp_path):
    straight, _ = trained
    resumed = tmp_path / "resumed"
    recipe.main(_args(shards, resumed, STREAM_STEPS - 1))  # "interrupted" in the first stage
    recipe.main(_args(shards, resumed, STEPS))
    a = load_file(straight / "model" / "model.safetensors")
    b = load_file(resumed / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_two_cpu_processes(shards, tmp_path):
    """accelerate launch with 2 CPU processes (gloo) through both stages: every parameter is in
    DDP's graph at every step, and the evaluation is pooled."""
    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()), str(ROOT / "recipes" / "cnn_rnn.py"),
        *_args(shards, out, STREAM_STEPS + 2),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["steps"] == STREAM_STEPS + 2 and summary["eval_frames_without_audio"] == 0
    assert summary["metrics"]["affwild2"]["va"]["n"] == _frames(shards)  # every frame once


def test_datasets_without_audio_fail_at_start_naming_them(recipe, shards, tmp_path):
    with pytest.raises(ConfigError, match=r"takes audio \(mel\).*\['afewva'\] has no audio"):
        recipe.main(_args(shards, tmp_path / "x", 2, "data.datasets=[affwild2,afewva]"))
    assert not (tmp_path / "x").exists()  # nothing was written
    with pytest.raises(ConfigError, match="train.stream_steps: test_mtvgggru takes no audio"):
        recipe.main(_args(shards, tmp_path / "y", 2, "model.name=test_mtvgggru"))
    assert not (tmp_path / "y").exists()


def test_evaluation_refuses_other_audio_settings_and_counts_frames_without(shards, trained):
    from holistic.data.audio import AudioSettings

    model = load_model(trained[0] / "model")
    space = label_space_of(model)
    manifest = _manifest(shards)
    manifest["datasets"]["affwild2"]["settings"]["audio_features"] = AudioSettings(
        mel_hop_s=0.01
    ).to_json()
    with pytest.raises(ValueError, match="trained on audio features made with"):
        evaluate_model(model, Federation(str(shards), manifest), space, datasets=["affwild2"])
    # AFEW-VA has no audio: every frame gets zeros and a False mask, and is counted.
    federation = Federation(str(shards))
    predictions = evaluate_model(model, federation, space, split="train", datasets=["afewva"])
    frames = _frames(shards, "afewva", "train")
    assert predictions.frames_without_audio == len(predictions) == frames
    heard = evaluate_model(model, federation, space, datasets=["affwild2"])
    assert heard.frames_without_audio == 0 and len(heard) == _frames(shards)
