"""recipes/cnn_rnn.py and recipes/decision_fusion.py on the tiny synthetic world: every sequence
family trains, evaluates on every video frame, reloads from its checkpoint alone, resumes exactly
and runs on two CPU processes; bad clip sources fail at start."""

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import free_port, tiny_shards
from test_recipe_facebehaviornet import ROOT, _recipe

from holistic.data.clips import ClipSourceError
from holistic.models import create_model, load_model, save_model

FAMILIES = ["test_affwildnet", "test_cnn1rnn", "test_cnn3rnn", "test_modelfusion", "test_mtvgggru"]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("cnnrnn")
    # Shards of 6 frames: several per split, so two processes each get their own.
    return tiny_shards(out, 2, ["affwild2", "affectnet"], 32, shard_size=6)


def _args(shards, out, steps, *extra):
    return [
        "--config", str(ROOT / "recipes/configs/cnn_rnn/synthetic.yaml"),
        f"data.federation={shards}", "data.datasets=[affwild2]", "data.clip_length=4",
        "data.batch_size=3", "data.image_size=32", "data.num_workers=0", "data.shuffle_buffer=8",
        f"train.steps={steps}", "train.lr=0.003", "train.log_every=2", f"train.output_dir={out}",
        *extra,
    ]  # fmt: skip


def _frames(shards, split="validation"):
    manifest = json.loads((shards / "manifest.json").read_text())
    return manifest["datasets"]["affwild2"]["splits"][split]["samples"]


@pytest.mark.parametrize("name", FAMILIES)
def test_each_family_trains_evaluates_and_reloads(shards, tmp_path, name):
    out = tmp_path / name
    loss = ["loss.expr=1", "loss.au=1"] if "mtvgggru" in name else []
    scale = "data.native_scale={affwild2: 2.0}"  # VA on a native scale too, as x2
    metrics = _recipe("cnn_rnn").main(_args(shards, out, 12, f"model.name={name}", scale, *loss))
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["steps"] == 12 and summary["eval_window"] == 4
    native = summary["native_scale"]["affwild2"]
    assert native["scale"] == 2 and native["n"] == metrics["affwild2"]["va"]["n"]
    assert native["rmse_a"] == pytest.approx(2 * metrics["affwild2"]["va"]["rmse_a"])
    assert native["ccc_v"] == pytest.approx(metrics["affwild2"]["va"]["ccc_v"])  # scale-free
    assert "VA on each dataset's native scale" in (out / "report.md").read_text()
    # Every labelled validation frame was evaluated once (the tiny world's video is one run
    # per faceless gap; frames without a face are not in the shards).
    assert metrics["affwild2"]["va"]["n"] == _frames(shards)
    assert -1 <= metrics["affwild2"]["va"]["ccc_mean"] <= 1
    if "mtvgggru" in name:
        assert {"va", "expr"} <= set(metrics["affwild2"])
    else:
        assert set(metrics["affwild2"]) == {"va"}  # VA-only models report VA only
    history = json.loads((out / "history.json").read_text())
    assert all(torch.isfinite(torch.tensor(v)) for _, v in history["loss/total"])
    # The checkpoint alone: holistic evaluate learns the clip length and image size from it.
    model = load_model(out / "model")
    assert model.input_spec.is_clip and model.input_spec.image_size == 32
    assert model.input_spec.clip_length == 4
    from holistic.cli import main as cli

    assert cli(["evaluate", str(out / "model"), str(shards), "--dataset", "affwild2",
                "--out", str(tmp_path / "eval")]) == 0  # fmt: skip
    again = json.loads((tmp_path / "eval" / "metrics.json").read_text())["metrics"]
    assert again["affwild2"]["va"]["ccc_mean"] == pytest.approx(
        metrics["affwild2"]["va"]["ccc_mean"], abs=1e-5
    )


def test_the_loss_goes_down_and_resume_is_exact(shards, tmp_path):
    from safetensors.torch import load_file

    recipe = _recipe("cnn_rnn")
    straight = tmp_path / "straight"
    recipe.main(_args(shards, straight, 40, "model.name=test_affwildnet", "train.log_every=5"))
    totals = [v for _, v in json.loads((straight / "history.json").read_text())["loss/total"]]
    assert sum(totals[-3:]) / 3 < sum(totals[:3]) / 3
    resumed = tmp_path / "resumed"
    recipe.main(_args(shards, resumed, 20, "model.name=test_affwildnet", "train.log_every=5"))
    recipe.main(_args(shards, resumed, 40, "model.name=test_affwildnet", "train.log_every=5"))
    a = load_file(straight / "model" / "model.safetensors")
    b = load_file(resumed / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_mtvgggru_starts_from_facebehaviornet_with_a_frozen_cnn(shards, tmp_path):
    from accelerate.utils import set_seed
    from safetensors.torch import load_file

    torch.manual_seed(0)
    start = create_model("test_facebehaviornet", image_size=32)
    save_model(start, tmp_path / "fbn")
    out = tmp_path / "mt"
    args = ["model.name=test_mtvgggru", f"model.init_from={tmp_path / 'fbn'}", "loss.expr=1",
            "loss.au=1", "train.freeze_steps=6"]  # fmt: skip
    _recipe("cnn_rnn").main(_args(shards, out, 6, *args))
    backbone = {k: v for k, v in start.backbone.state_dict().items()}
    trained = load_file(out / "model" / "model.safetensors")
    cnn = {k.removeprefix("backbone."): v for k, v in trained.items() if k.startswith("backbone.")}
    # Frozen for every step: the CNN is still FaceBehaviorNet's (its BatchNorm statistics too).
    assert cnn.keys() == backbone.keys()
    assert all(torch.equal(cnn[k], backbone[k]) for k in cnn)
    unfrozen = tmp_path / "mt2"
    _recipe("cnn_rnn").main(_args(shards, unfrozen, 6, *args[:-1], "train.freeze_steps=2"))
    later = load_file(unfrozen / "model" / "model.safetensors")
    assert any(not torch.equal(later[f"backbone.{k}"], v) for k, v in backbone.items())
    # Frozen for good (-1): no gradient through the CNN; the FC and GRUs train on its features.
    probe = tmp_path / "probe"
    _recipe("cnn_rnn").main(_args(shards, probe, 4, *args[:-1], "train.freeze_steps=-1"))
    probed = load_file(probe / "model" / "model.safetensors")
    assert all(torch.equal(probed[f"backbone.{k}"], v) for k, v in backbone.items())
    config = _recipe("cnn_rnn").parse_args(_args(shards, probe, 4, *args[:-1]))
    set_seed(config.train.seed)  # the recipe's initial model: seeded, then built
    initial = _recipe("cnn_rnn").build_model(config).state_dict()
    assert not torch.equal(probed["rnns.0.weight_ih_l0"], initial["rnns.0.weight_ih_l0"])
    assert torch.equal(probed["backbone.conv1.0.weight"], initial["backbone.conv1.0.weight"])


def test_model_level_fusion_starts_from_members_trained_on_other_clips(shards, tmp_path):
    from safetensors.torch import load_file

    recipe = _recipe("cnn_rnn")
    for name in ("test_cnn1rnn", "test_cnn3rnn"):  # 3-frame clips; the fusion trains on 4
        recipe.main(_args(shards, tmp_path / name, 4, f"model.name={name}", "data.clip_length=3"))
    members = [str(tmp_path / name / "model") for name in ("test_cnn1rnn", "test_cnn3rnn")]
    out = tmp_path / "fusion"
    recipe.main(_args(shards, out, 2, "model.name=test_modelfusion", "train.freeze_steps=-1",
                      f"model.kwargs.member_checkpoints=[{','.join(members)}]"))  # fmt: skip
    fused = load_model(out / "model")
    assert fused.input_spec.clip_length == 4
    member = load_file(tmp_path / "test_cnn1rnn" / "model" / "model.safetensors")
    ours = {k.removeprefix("members.0."): v for k, v in fused.state_dict().items()}
    # The members' CNNs came from their checkpoints and stayed frozen.
    assert torch.equal(ours["backbone.conv1.0.weight"], member["backbone.conv1.0.weight"])


def test_decision_level_fusion_of_two_trained_members(shards, tmp_path):
    recipe = _recipe("cnn_rnn")
    for name in ("test_cnn1rnn", "test_cnn3rnn"):
        recipe.main(_args(shards, tmp_path / name, 8, f"model.name={name}"))
    out = tmp_path / "fused"
    metrics = _recipe("decision_fusion").main(
        [
            "--config",
            str(ROOT / "recipes/configs/decision_fusion/synthetic.yaml"),
            f"members=[{tmp_path / 'test_cnn1rnn' / 'model'},{tmp_path / 'test_cnn3rnn' / 'model'}]",
            "name=test_decisionfusion",
            f"federation={shards}",
            "datasets=[affwild2]",
            f"output_dir={out}",
        ]  # fmt: skip
    )
    weights = json.loads((out / "weights.json").read_text())
    assert len(weights["member_ccc"]) == 2
    assert sum(w[0] for w in weights["weights"]) == pytest.approx(1.0)
    assert metrics["affwild2"]["va"]["n"] == _frames(shards)
    fused = load_model(out / "model")  # members and weights, from the checkpoint alone
    x = torch.rand(1, 5, 3, 32, 32) * 2 - 1
    members = [load_model(tmp_path / n / "model") for n in ("test_cnn1rnn", "test_cnn3rnn")]
    with torch.no_grad():
        expected = sum(
            torch.tensor(w) * m(x)["va"] for w, m in zip(weights["weights"], members, strict=True)
        )
        assert torch.allclose(fused(x)["va"], expected, atol=1e-5)


def test_bad_clip_sources_fail_at_start(shards, tmp_path):
    recipe = _recipe("cnn_rnn")
    with pytest.raises(ClipSourceError, match="affectnet .* image dataset"):
        recipe.main(_args(shards, tmp_path / "a", 2, "model.name=test_affwildnet",
                          "data.datasets=[affwild2,affectnet]"))  # fmt: skip
    with pytest.raises(ClipSourceError, match=r"affwild2 \(train\): clips of 500 frames"):
        recipe.main(_args(shards, tmp_path / "b", 2, "model.name=test_affwildnet",
                          "data.clip_length=500"))  # fmt: skip
    with pytest.raises(ValueError, match="image model"):
        recipe.main(_args(shards, tmp_path / "c", 2, "model.name=test_facebehaviornet"))


@pytest.mark.parametrize("name", FAMILIES)
def test_two_cpu_processes(shards, tmp_path, name):
    """accelerate launch with 2 CPU processes (gloo): trains, and pools the evaluation."""
    out = tmp_path / "ddp"
    loss = ["loss.expr=1", "loss.au=1"] if "mtvgggru" in name else []
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()), str(ROOT / "recipes" / "cnn_rnn.py"),
        *_args(shards, out, 4, f"model.name={name}", *loss),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["steps"] == 4
    # Each video on one rank, pooled: every validation frame once.
    assert summary["metrics"]["affwild2"]["va"]["n"] == _frames(shards)
