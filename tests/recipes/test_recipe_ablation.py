"""recipes/facebehaviornet_ablation.py: runs every (variant, seed), reuses finished runs, restarts
runs whose settings changed, and writes the results page with its tables and plots."""

import json

import pytest
import yaml
from conftest import tiny_shards
from test_recipe_facebehaviornet import ROOT, _recipe

from holistic.training.config import load_config


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("ablation")
    sources = ["affwild2", "affectnet", "emotionet", "bp4d", "rafdb-compound"]
    return tiny_shards(out, 2, sources, 48)


def _config(tmp_path, shards, steps=2):
    config = {
        "base_config": str(ROOT / "recipes/configs/facebehaviornet/demo.yaml"),
        "federation": str(shards),
        "overrides": [f"train.steps={steps}", "data.batch_size=12", "data.image_size=48",
                      "model.name=test_facebehaviornet", "data.shuffle_buffer=20",
                      "data.datasets=[affwild2, affectnet, emotionet, bp4d]"],
        "seeds": [0, 1],
        "baseline": "fbn",
        "variants": [
            {"name": "single_au", "label": "single-task AU", "tasks": ["au"], "zeroshot": False,
             "overrides": ["data.batch_sizes={au: 12}",
                           "loss.weights={va: 0, expr: 0, au: 1, dm: 0, soft_coann: 0}"]},
            {"name": "fbn", "label": "FBN", "overrides": ["loss.weights={dm: 0, soft_coann: 0}"]},
        ],
        "columns": [
            {"dataset": "affwild2", "task": "va", "metric": "ccc_v", "header": "AW2 CCC-V"},
            {"dataset": "emotionet", "task": "au", "metric": "mean_f1", "header": "EN AU F1"},
        ],
        "zeroshot": [{"dataset": "rafdb-compound", "split": "test", "compounds": "rafdb11"}],
        "output_dir": str(tmp_path / "runs"),
        "results": str(tmp_path / "docs" / "results.md"),
        "figures": str(tmp_path / "docs" / "images"),
    }  # fmt: skip
    path = tmp_path / "ablation.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_runs_reuses_and_writes_the_results_page(shards, tmp_path):
    recipe = _recipe("facebehaviornet_ablation")
    config = _config(tmp_path, shards)
    results = recipe.main(["--config", str(config)])
    assert list(results) == ["single-task AU", "FBN"] and all(len(r) == 2 for r in results.values())
    single = results["single-task AU"][0]["metrics"]
    assert {task for per_task in single.values() for task in per_task} == {"au"}  # trained task
    assert results["FBN"][1]["zeroshot"]["rafdb-compound"]["n"] == 11
    page = (tmp_path / "docs" / "results.md").read_text()
    assert "| Model | AW2 CCC-V | EN AU F1 |" in page and "±" in page
    assert "](images/ablation.png)" in page and (tmp_path / "docs/images/zeroshot.png").is_file()
    assert "| single-task AU | – |" in page  # no VA result for a single-task AU network
    assert "Read against **FBN**" in page and "- single-task AU: " in page
    # Same command again: every run is reused (its model is not rewritten).
    model = tmp_path / "runs" / "fbn" / "seed0" / "model" / "model.safetensors"
    written = model.stat().st_mtime_ns
    recipe.main(["--config", str(config)])
    assert model.stat().st_mtime_ns == written
    # Other settings: the run starts again from scratch (no state of the old one resumed).
    recipe.main(["--config", str(_config(tmp_path, shards, steps=3)), "seeds=[0]"])
    metrics = tmp_path / "runs" / "fbn" / "seed0" / "metrics.json"
    assert json.loads(metrics.read_text())["steps"] == 3


def test_shipped_config_loads_and_names_its_command():
    path = ROOT / "recipes/configs/facebehaviornet_ablation/synthetic.yaml"
    lines = path.read_text().splitlines()
    assert f"recipes/facebehaviornet_ablation.py --config {path.relative_to(ROOT)}" in lines[1]
    config = load_config(_recipe("facebehaviornet_ablation").AblationConfig, path)
    assert len(config.seeds) >= 3 and config.baseline in {v.name for v in config.variants}
