"""Smoke test of recipes/facebehaviornet.py on the tiny synthetic federation, and its configs."""

import json
import math
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, free_port, load_recipe, tiny_shards

from holistic.models.checkpoint import load_model
from holistic.training.config import load_config

SOURCES = ["affwild2", "affectnet", "rafdb", "rafdb-compound", "emotionet", "bp4d"]


def _recipe(name="facebehaviornet"):
    """A recipe script as a module (see conftest.load_recipe)."""
    return load_recipe(name)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("fbn")
    return tiny_shards(out, 5, SOURCES, 48)


def _records(shards, dataset, split):
    """The JSON records of one dataset's split (no image decoded)."""
    from holistic.data.federation import Federation
    from holistic.data.tario import iter_samples

    for ref in Federation(str(shards)).shards(split, None, [dataset]):
        for raw in iter_samples(ref.url):
            yield json.loads(raw["json"])


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
    # The VA tables say what a split can measure: its videos (frames, not stills), label spread.
    videos = {record["video"] for record in _records(shards, "affwild2", "validation")}
    assert metrics["affwild2"]["va"]["videos"] == len(videos)
    assert "videos" not in metrics["affectnet"]["va"] and metrics["affectnet"]["va"]["label_sd_v"]
    assert (out / "report.md").is_file() and (out / "config.yaml").is_file()
    assert list((out / "logs").rglob("events.out.tfevents*"))  # TensorBoard logs
    # The loss went down: the last logged totals are below the first one.
    totals = [value for _, value in json.loads((out / "history.json").read_text())["loss/total"]]
    assert len(totals) == 6 and sum(totals[-2:]) / 2 < totals[0]
    model = load_model(out / "model")
    assert model.expressions[0] == "neutral" and len(model.aus) == 17
    # The AU thresholds for holistic predict: chosen on the held-out predictions, one per AU,
    # from the grid, saved with the model and listed in the summary.
    saved = json.loads((out / "model" / "model.json").read_text())["au_thresholds"]
    assert saved == summary["au_thresholds"] and sorted(map(int, saved)) == sorted(model.aus)
    assert all(0.1 <= t <= 0.9 and abs(t * 20 - round(t * 20)) < 1e-9 for t in saved.values())
    # model.hidden unset: the variant's own head (test_facebehaviornet: 32 units), not 256.
    assert model.head.hidden == (32,) and model.input_spec.image_size == 48
    x = torch.zeros(2, 3, 48, 48)
    assert torch.isfinite(model(x)["au"]).all()
    assert "rafdb-compound" not in metrics  # compound labels are never trained or validated on
    # holistic evaluate on the saved model gives the same metrics as the recipe's evaluation.
    from holistic.cli import main as cli

    assert cli(["evaluate", str(out / "model"), str(shards),  # 48 px from the input spec
                "--out", str(tmp_path / "eval")]) == 0  # fmt: skip
    evaluated = json.loads((tmp_path / "eval" / "metrics.json").read_text())["metrics"]
    assert evaluated["affwild2"]["va"]["ccc_mean"] == pytest.approx(
        metrics["affwild2"]["va"]["ccc_mean"], abs=1e-5
    )
    # Resume: asking for more steps continues from the saved state.
    recipe.main(_args(shards, out, 35))
    assert json.loads((out / "metrics.json").read_text())["steps"] == 35
    # Zero-shot compound scoring of the trained model, with itself as the "baseline".
    report = _recipe("zeroshot_compound").main(
        [
            f"checkpoint={out / 'model'}",
            f"baseline={out / 'model'}",
            f"federation={shards}",
            "image_size=48",
            f"output={out / 'zeroshot.json'}",
        ]  # fmt: skip
    )
    (target,) = report["targets"]
    assert target["model"]["n"] == 11 and target["model"]["chance"] == pytest.approx(1 / 11)
    assert 0.0 <= target["model"]["uar"] <= 1.0 and target["baseline"] == target["model"]
    written = json.loads((out / "zeroshot.json").read_text())["targets"][0]
    assert written["dataset"] == "rafdb-compound" and written["classes"][0] == "happily_surprised"


@pytest.mark.parametrize(
    ("recipe", "schema", "name"),
    [
        ("facebehaviornet", "RunConfig", "demo.yaml"),
        ("facebehaviornet", "RunConfig", "paper.yaml"),
        ("facebehaviornet", "RunConfig", "ablation_base.yaml"),
        ("zeroshot_compound", "ZeroShotConfig", "demo.yaml"),
        *[
            ("cnn_rnn", "RunConfig", path.name)
            for path in sorted((ROOT / "recipes/configs/cnn_rnn").glob("*.yaml"))
        ],
        ("decision_fusion", "FusionConfig", "synthetic.yaml"),
    ],
)
def test_shipped_configs_load(recipe, schema, name):
    path = ROOT / "recipes" / "configs" / recipe / name
    lines = path.read_text().splitlines()
    assert lines[0].startswith("#")  # each config opens with what it is and its launch line
    assert f"recipes/{recipe}.py --config {path.relative_to(ROOT)}" in lines[1]
    load_config(getattr(_recipe(recipe), schema), path)


def test_bad_config_fails_at_start(shards, tmp_path):
    recipe = _recipe()
    with pytest.raises(ValueError, match="unknown config key"):
        recipe.main(_args(shards, tmp_path, 1, "train.stpes=3"))
    with pytest.raises(FileNotFoundError, match="holistic federate"):
        recipe.main(_args(tmp_path / "nowhere", tmp_path, 1))


def test_resume_after_an_interruption_reaches_the_same_model(shards, tmp_path):
    from safetensors.torch import load_file

    recipe = _recipe()
    recipe.main(_args(shards, tmp_path / "straight", 12, "train.log_every=3"))
    recipe.main(_args(shards, tmp_path / "resumed", 6, "train.log_every=3"))  # "interrupted"
    recipe.main(_args(shards, tmp_path / "resumed", 12, "train.log_every=3"))  # resumed
    straight = load_file(tmp_path / "straight" / "model" / "model.safetensors")
    resumed = load_file(tmp_path / "resumed" / "model" / "model.safetensors")
    assert straight.keys() == resumed.keys()
    for name, tensor in straight.items():
        assert torch.equal(tensor, resumed[name]), name


def test_two_cpu_processes_give_the_same_kind_of_result(shards, tmp_path):
    """accelerate launch with 2 CPU processes (gloo): the same outputs as one process."""
    import os
    import subprocess

    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()),
        str(ROOT / "recipes" / "facebehaviornet.py"), *_args(shards, out, 10),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["steps"] == 10
    single = tmp_path / "single"
    _recipe().main(_args(shards, single, 10))
    expected = json.loads((single / "metrics.json").read_text())["metrics"]
    assert summary["metrics"].keys() == expected.keys()
    # Both processes' shares were pooled: the evaluation saw every validation sample once.
    for dataset, tasks in expected.items():
        for task, values in tasks.items():
            assert summary["metrics"][dataset][task]["n"] == values["n"], (dataset, task)
    assert load_model(out / "model").aus == load_model(single / "model").aus


def test_gradient_accumulation_steps_the_optimiser_every_k_batches(shards, tmp_path):
    recipe = _recipe()
    recipe.main(_args(shards, tmp_path / "half", 1, "train.grad_accum=2"))
    recipe.main(_args(shards, tmp_path / "full", 2, "train.grad_accum=2"))
    half, full = (
        torch.load(tmp_path / name / "state" / "optimizer.bin", weights_only=False)["state"]
        for name in ("half", "full")
    )
    assert half == {}  # one batch of two: no optimiser step yet (AdamW holds no moments)
    assert full and {int(moments["step"]) for moments in full.values()} == {1}  # the second


def test_bf16_mixed_precision_on_the_cpu(shards, tmp_path):
    # Its own process: accelerate fixes the precision of a process's first Accelerator.
    args = _args(shards, tmp_path, 4, "train.mixed_precision=bf16", "train.log_every=2")
    run = subprocess.run([sys.executable, str(ROOT / "recipes/facebehaviornet.py"), *args],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    totals = [v for _, v in json.loads((tmp_path / "history.json").read_text())["loss/total"]]
    assert len(totals) == 2 and all(math.isfinite(v) for v in totals)
    x = torch.zeros(1, 3, 48, 48)
    assert torch.isfinite(load_model(tmp_path / "model")(x)["expr"]).all()


def test_the_soft_temperature_is_fitted_on_doubly_labelled_frames(shards, tmp_path):
    fit = _recipe("fit_soft_temperature")
    out = tmp_path / "soft.json"
    result = fit.main([f"federation={shards}", "datasets=[affwild2]", f"output={out}"])
    assert json.loads(out.read_text()) == result
    paper, options_t1, fitted = result["rows"]
    assert result["samples"] > 0 and result["soft_temperature"] < 1.0  # AUs name the expression
    assert fitted["argmax_is_true"] == options_t1["argmax_is_true"]  # a temperature keeps argmax
    assert (
        fitted["p_true"] > options_t1["p_true"] and fitted["cross_entropy"] < paper["cross_entropy"]
    )
    with pytest.raises(SystemExit, match="both an expression and AU labels"):
        fit.main([f"federation={shards}", "datasets=[bp4d]"])


def test_trains_with_every_coupling_option_departing_from_the_paper(shards, tmp_path):
    options = ["loss.dm_form=kl", "loss.soft_neutral=complement", "loss.soft_temperature=0.14",
               "loss.strict=false", "loss.weights.coann_au=0.5", "loss.weights.coann_expr=0.5"]  # fmt: skip
    metrics = _recipe().main(_args(shards, tmp_path / "run", 3, *options))
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    for name in ("loss/dm", "loss/soft_coann", "loss/coann_au", "loss/coann_expr"):
        assert all(math.isfinite(value) for _, value in history[name]), name
    assert metrics


def test_training_stops_when_the_validation_score_plateaus_and_stays_stopped(shards, tmp_path):
    out = tmp_path / "run"
    # A gain must exceed 1.0: impossible, so the second evaluation ends the run (patience 1).
    plateau = ["train.eval_every=2", "train.patience=1", "train.min_delta=1.0"]
    metrics = _recipe().main(_args(shards, out, 20, *plateau))
    document = json.loads((out / "metrics.json").read_text())
    assert document["steps"] == 4 and document["metrics"] == metrics
    assert [step for step, _ in document["validation"]] == [2, 4]
    assert document["stopped"].startswith("stopped at step 4")
    history = json.loads((out / "history.json").read_text())
    assert [step for step, _ in history["val/score"]] == [2, 4]
    saved = (out / "state" / "progress.json").read_bytes()
    again = _recipe().main(_args(shards, out, 20, *plateau))  # finished: nothing trains
    assert again == metrics and (out / "state" / "progress.json").read_bytes() == saved
    (out / "metrics.json").unlink()  # killed after stopping, before its report: evaluate only
    _recipe().main(_args(shards, out, 20, *plateau))
    assert json.loads((out / "metrics.json").read_text())["steps"] == 4
    assert (out / "state" / "progress.json").read_bytes() == saved
