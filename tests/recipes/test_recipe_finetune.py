"""recipes/finetune.py: few-shot compound fine-tuning from shards, new label spaces straight from a
CSV + image folder and from a saved Hugging Face dataset, the freeze schedule and exact resume."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from test_recipe_facebehaviornet import ROOT, _recipe

from holistic.cli import federate_world
from holistic.models import create_model, load_model, save_model
from holistic.schema import COMPOUND_VOCABULARIES, EXPRESSION_VOCABULARIES
from holistic.synth.world import write_world
from holistic.training.config import load_config


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The tiny world's RAF-DB compound shards and an (untrained) model to start from."""
    out = tmp_path_factory.mktemp("ft")
    write_world(out / "world", "tiny", seed=3, sources=["rafdb-compound"], progress=False)
    federate_world(out / "world", out / "shards", size=48, progress=False)
    torch.manual_seed(0)
    save_model(create_model("test_facebehaviornet"), out / "start")
    return out


def _args(world, out, *extra):
    return [
        f"checkpoint={world / 'start'}", f"data.federation={world / 'shards'}",
        "data.datasets=[rafdb-compound]", "data.eval_split=test", "data.batch_size=8",
        "data.image_size=48", "data.shuffle_buffer=20", "train.cpu=true", "train.log_every=2",
        f"train.output_dir={out}", *extra,
    ]  # fmt: skip


def _weights(path):
    return load_file(Path(path) / "model.safetensors")


def test_few_shot_compounds_from_shards(world, tmp_path):
    out = tmp_path / "run"
    # eval_split as preferences (RAF-DB compound has no validation split): the zero-shot
    # baseline took the list as one split name and failed (TypeError: unhashable type: 'list').
    _recipe("finetune").main(_args(world, out, "data.shots=1", "train.steps=6",
                                   "train.freeze_steps=3", "data.eval_split=[validation,test]"))  # fmt: skip
    subset = json.loads((out / "fewshot" / "subset.json").read_text())
    chosen = subset["keys"]["rafdb-compound"]
    manifest = json.loads((out / "fewshot" / "manifest.json").read_text())
    classes = manifest["datasets"]["rafdb-compound"]["splits"]["train"]["classes"]["compound"]
    assert len(chosen) == sum(classes.values()) and max(classes.values()) == 1  # 1 per class
    summary = json.loads((out / "metrics.json").read_text())
    compound = summary["metrics"]["rafdb-compound"]["compound"]
    assert compound["n"] == 11 and 0.0 <= compound["uar"] <= 1.0  # the whole test split
    baseline = summary["zeroshot_baseline"]["rafdb-compound"]
    assert baseline["n"] == 11 and baseline["chance"] == pytest.approx(1 / 11)
    model = load_model(out / "model", compounds="rafdb11")
    assert model.compounds == COMPOUND_VOCABULARIES["rafdb11"]
    assert model.input_spec.image_size == 48  # fine-tuned at 48 px from a 112 px start
    assert model(torch.zeros(1, 3, 48, 48))["compound"].shape == (1, 11)
    report = (out / "report.md").read_text()
    assert "Compound" in report and "## Zero-shot baseline (Eq. 10)" in report
    assert "![Compound confusion matrix](plots/compound_all.png)" in report
    assert (out / "plots" / "compound_all.png").is_file()
    # holistic evaluate reloads the compound head; rafdb-compound has no validation split.
    from holistic.cli import main as cli

    # ... at the size it was fine-tuned at, read from its input spec.
    assert cli(["evaluate", str(out / "model"), str(world / "shards"),
                "--split", "validation,test", "--out", str(tmp_path / "eval")]) == 0  # fmt: skip
    evaluated = json.loads((tmp_path / "eval" / "metrics.json").read_text())["metrics"]
    assert evaluated["rafdb-compound"]["compound"]["uar"] == pytest.approx(compound["uar"])


def test_linear_probe_leaves_the_backbone_untouched(world, tmp_path):
    out = tmp_path / "probe"
    _recipe("finetune").main(_args(world, out, "train.steps=4", "train.freeze_steps=-1"))
    start, tuned = _weights(world / "start"), _weights(out / "model")
    backbone = [k for k in start if k.startswith("backbone.")]
    assert backbone and all(torch.equal(start[k], tuned[k]) for k in backbone)  # BN stats too
    assert not torch.equal(start["head.shared.0.weight"], tuned["head.shared.0.weight"])
    # The output layer gained 11 compound rows; the VA rows get no gradient from the compound
    # loss (only AdamW's decoupled weight decay, a relative 4e-7 over 4 steps).
    assert tuned["head.out.weight"].shape[0] == start["head.out.weight"].shape[0] + 11
    assert torch.allclose(start["head.out.weight"][:2], tuned["head.out.weight"][:2], rtol=1e-5)


def test_resume_across_the_unfreezing_reaches_the_same_model(world, tmp_path):
    recipe = _recipe("finetune")
    common = ("train.freeze_steps=3", "train.lr=0.01")
    recipe.main(_args(world, tmp_path / "straight", "train.steps=6", *common))
    recipe.main(_args(world, tmp_path / "resumed", "train.steps=2", *common))  # "interrupted"
    recipe.main(_args(world, tmp_path / "resumed", "train.steps=6", *common))
    straight, resumed = (
        _weights(tmp_path / "straight" / "model"),
        _weights(tmp_path / "resumed" / "model"),
    )
    start = _weights(world / "start")
    assert not torch.equal(straight["backbone.conv1.0.weight"], start["backbone.conv1.0.weight"])
    for name, tensor in straight.items():
        assert torch.equal(tensor, resumed[name]), name


def test_new_expression_classes_from_a_csv_and_image_folder(world, tmp_path):
    import cv2

    root = tmp_path / "my_faces"
    names = EXPRESSION_VOCABULARIES["affectnet8"]
    rng = np.random.default_rng(0)
    rows = ["image,expression,split"]
    for i in range(40):
        path = root / "faces" / f"{i:03d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        label = names[i % len(names)]
        image = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
        image[:, :, i % 3] = 30 * (i % len(names))  # the class is visible in one channel
        cv2.imwrite(str(path), image)
        rows.append(f"faces/{i:03d}.jpg,{label},{'validation' if i >= 32 else 'train'}")
    rows.append("faces/missing.jpg,happiness,train")  # rejected, and accounted for
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "csv"
    _recipe("finetune").main(
        [
            f"checkpoint={world / 'start'}",
            "target.task=expr",
            "target.vocabulary=affectnet8",
            "data.source={adapter: csv, root: "
            + str(root)
            + ", options: {name: my_faces}, size: 48}",
            "data.image_size=48",
            "data.batch_size=8",
            "train.steps=4",
            "train.freeze_steps=2",
            "train.cpu=true",
            f"train.output_dir={out}",
        ]  # fmt: skip
    )
    rejects = [
        json.loads(line) for line in (out / "shards" / "rejects.jsonl").read_text().splitlines()
    ]
    assert [(r["reason"], r["line"]) for r in rejects] == [("missing_image", 42)]
    expr = json.loads((out / "metrics.json").read_text())["metrics"]["my_faces"]["expr"]
    assert expr["n"] == 8 and len(expr["per_class_f1"]) == 8
    model = load_model(out / "model", expressions="affectnet8")
    assert model.expressions[-1] == "contempt" and model.compounds == ()


def test_a_new_au_set_from_a_saved_hugging_face_dataset(world, tmp_path):
    import datasets
    from conftest import write_image

    images = [str(write_image(tmp_path / "src" / f"{i}.png", 20 * i)) for i in range(12)]
    aus = {f"AU{au}": [int((i + au) % 3 == 0) for i in range(12)] for au in (1, 2, 12)}
    features = datasets.Features(
        {"image": datasets.Image(), **{name: datasets.Value("int8") for name in aus}}
    )
    data = datasets.Dataset.from_dict({"image": images, **aus}, features=features)
    root = tmp_path / "hf"
    datasets.DatasetDict(
        {"train": data.select(range(8)), "validation": data.select(range(8, 12))}
    ).save_to_disk(str(root))
    out = tmp_path / "au"
    _recipe("finetune").main(
        [
            f"checkpoint={world / 'start'}",
            "target.task=au",
            "target.vocabulary=[1, 2, 12]",
            "data.source={adapter: hf, root: "
            + str(root)
            + ", options: {au_columns: 'AU1,AU2,AU12', name: myaus, cache: "
            + str(tmp_path / "cache")
            + "}, size: 32}",
            "data.image_size=32",
            "data.batch_size=4",
            "data.shots=2",
            "train.steps=3",
            "train.cpu=true",
            f"train.output_dir={out}",
        ]  # fmt: skip
    )
    au = json.loads((out / "metrics.json").read_text())["metrics"]["myaus"]["au"]
    assert au["n"] == 4 and list(au["per_au_f1"]) == ["AU1", "AU2", "AU12"]
    subset = json.loads((out / "fewshot" / "subset.json").read_text())
    assert subset["shots"] == 2 and 2 <= len(subset["keys"]["myaus"]) <= 8
    assert load_model(out / "model").aus == (1, 2, 12)


def test_config_errors_name_the_problem(world, tmp_path):
    recipe = _recipe("finetune")
    with pytest.raises(ValueError, match="exactly one of data.federation"):
        recipe.main([f"checkpoint={world / 'start'}", f"train.output_dir={tmp_path}"])
    with pytest.raises(ValueError, match="not one of"):
        recipe.main([f"checkpoint={world / 'start'}", f"train.output_dir={tmp_path}",
                     "data.source={adapter: nope, root: .}", "train.cpu=true"])  # fmt: skip
    with pytest.raises(ValueError, match="unknown compound"):
        recipe.main(_args(world, tmp_path, "target.vocabulary=[happily_tired]"))


def test_fine_tuning_keeps_the_checkpoints_va_output_unless_the_config_names_one(world, tmp_path):
    torch.manual_seed(0)
    save_model(create_model("test_facebehaviornet", va_output="linear"), tmp_path / "linear")
    recipe = _recipe("finetune")
    common = ["train.steps=2", "train.freeze_steps=-1", "target.zeroshot_baseline=false",
              "train.optimizer=adam", "train.weight_decay=0"]  # fmt: skip
    recipe.main(_args(world, tmp_path / "kept", *common, f"checkpoint={tmp_path / 'linear'}"))
    assert load_model(tmp_path / "kept" / "model").va_output == "linear"
    recipe.main(_args(world, tmp_path / "switched", *common, "model.va_output=tanh",
                      f"checkpoint={tmp_path / 'linear'}"))  # fmt: skip
    assert load_model(tmp_path / "switched" / "model").va_output == "tanh"


@pytest.mark.parametrize("name", ["demo_compound.yaml", "csv_affectnet8.yaml"])
def test_shipped_finetune_configs_load(name):
    path = ROOT / "recipes" / "configs" / "finetune" / name
    lines = path.read_text().splitlines()
    assert lines[0].startswith("#")
    assert f"recipes/finetune.py --config {path.relative_to(ROOT)}" in lines[1]
    load_config(_recipe("finetune").FinetuneConfig, path)


def test_two_cpu_processes_fine_tune_with_a_frozen_then_trained_backbone(world, tmp_path):
    """accelerate launch with 2 CPU processes (gloo, DDP): the subset is written once, the
    frozen steps keep the backbone, the later ones train it, the evaluation is pooled."""
    import os
    import subprocess
    import sys

    from conftest import free_port

    out = tmp_path / "ddp"
    args = _args(world, out, "data.shots=1", "train.steps=4", "train.freeze_steps=2",
                 "train.backbone_lr=0.01")  # fmt: skip
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()), str(ROOT / "recipes" / "finetune.py"), *args,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["steps"] == 4 and summary["metrics"]["rafdb-compound"]["compound"]["n"] == 11
    start, tuned = _weights(world / "start"), _weights(out / "model")
    assert not torch.equal(start["backbone.conv1.0.weight"], tuned["backbone.conv1.0.weight"])
