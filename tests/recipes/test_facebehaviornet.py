"""Smoke test of recipes/facebehaviornet.py on the tiny synthetic federation, and its configs."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from holistic.cli import federate_world
from holistic.models.checkpoint import load_model
from holistic.synth.world import write_world
from holistic.training.config import load_config

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["affwild2", "affectnet", "rafdb", "emotionet", "bp4d"]


def _recipe():
    """The recipe script as a module (registered in sys.modules, as dataclasses need)."""
    if "fbn_recipe" not in sys.modules:
        path = ROOT / "recipes" / "facebehaviornet.py"
        spec = importlib.util.spec_from_file_location("fbn_recipe", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["fbn_recipe"] = module
        spec.loader.exec_module(module)
    return sys.modules["fbn_recipe"]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("fbn")
    write_world(out / "world", "tiny", seed=5, sources=SOURCES, progress=False)
    federate_world(out / "world", out / "shards", size=48, progress=False)
    return out / "shards"


def _args(shards, out, steps, *extra):
    return [
        f"data.federation={shards}", "data.batch_size=24", "data.image_size=48",
        "data.shuffle_buffer=50", "model.name=test_facebehaviornet", f"train.steps={steps}",
        "train.lr=0.003", "train.cpu=true", "train.log_every=5", f"train.output_dir={out}",
        "loss.weights.dm=0.5", "loss.weights.soft_coann=0.5", *extra,
    ]  # fmt: skip


def test_trains_evaluates_saves_and_resumes(shards, tmp_path):
    recipe = _recipe()
    out = tmp_path / "run"
    recipe.main(_args(shards, out, 30))
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["steps"] == 30
    metrics = summary["metrics"]
    assert {"affwild2", "affectnet", "emotionet"} <= set(
        metrics
    )  # datasets with a validation split
    assert "va" in metrics["affwild2"] and "expr" in metrics["affectnet"]
    assert (out / "report.md").is_file() and (out / "config.yaml").is_file()
    assert list((out / "logs").rglob("events.out.tfevents*"))  # TensorBoard logs
    # The loss went down: the last logged totals are below the first one.
    totals = [value for _, value in json.loads((out / "history.json").read_text())["loss/total"]]
    assert len(totals) == 6 and sum(totals[-2:]) / 2 < totals[0]
    model = load_model(out / "model")
    assert model.expressions[0] == "neutral" and len(model.aus) == 17
    x = torch.zeros(2, 3, 48, 48)
    assert torch.isfinite(model(x)["au"]).all()
    # Resume: asking for more steps continues from the saved state.
    recipe.main(_args(shards, out, 35))
    assert json.loads((out / "metrics.json").read_text())["steps"] == 35


@pytest.mark.parametrize("name", ["demo.yaml", "paper.yaml"])
def test_shipped_configs_load(name):
    recipe = _recipe()
    path = ROOT / "recipes" / "configs" / "facebehaviornet" / name
    assert path.read_text().startswith("#")  # each config opens with what it is and its launch line
    assert "accelerate launch recipes/facebehaviornet.py" in path.read_text().splitlines()[1]
    config = load_config(recipe.RunConfig, path)
    assert config.train.steps > 0


def test_bad_config_fails_at_start(shards, tmp_path):
    recipe = _recipe()
    with pytest.raises(ValueError, match="unknown config key"):
        recipe.main(_args(shards, tmp_path, 1, "train.stpes=3"))
    with pytest.raises(FileNotFoundError, match="holistic federate"):
        recipe.main(_args(tmp_path / "nowhere", tmp_path, 1))
