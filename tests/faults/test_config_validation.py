"""Configs that cannot work are refused at start, naming the key: numbers outside their range
(checked when the config loads, from the ranges declared on the recipes' dataclass fields) and
requests the shards cannot serve (an AU vocabulary only other datasets label, an evaluation split
no chosen dataset has, a zero-shot target without compound labels)."""

import dataclasses
import types
import typing
from pathlib import Path

import pytest
from test_training_resume import ROOT, fbn_args, recipe, shards  # noqa: F401 (shards: a fixture)

from holistic.training.config import ConfigError, Range, load_config

#: Every recipe with its config schema.
SCHEMAS = {
    "facebehaviornet": "RunConfig",
    "cnn_rnn": "RunConfig",
    "finetune": "FinetuneConfig",
    "zeroshot_compound": "ZeroShotConfig",
    "decision_fusion": "FusionConfig",
    "facebehaviornet_ablation": "AblationConfig",
    "temporal_comparison": "ComparisonConfig",
    "fit_soft_temperature": "FitConfig",
    "latent_adversarial": "RunConfig",
    "predict_video": "PredictVideoConfig",
}


def schema(name: str) -> type:
    return getattr(recipe(name), SCHEMAS[name])


@pytest.mark.parametrize(
    "path", sorted((ROOT / "recipes" / "configs").glob("*/*.yaml")), ids=lambda p: p.stem
)
def test_every_shipped_config_loads_and_is_in_range(path: Path):
    load_config(schema(path.parent.name), path)


def _unranged(kind, where: str) -> list[str]:
    """The places in a field's type where an int or float has no declared Range."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Annotated:
        ranged = any(isinstance(a, Range) for a in args[1:])
        return [] if ranged else _unranged(args[0], where)
    if kind in (int, float):
        return [where]
    if origin in (typing.Union, types.UnionType, list, dict, tuple):
        return [place for arg in args for place in _unranged(arg, where)]
    return []


def _dataclasses(cls: type, module: str) -> set[type]:
    """``cls`` and every dataclass of ``module`` its fields use."""
    found = {cls}
    for kind in typing.get_type_hints(cls, include_extras=True).values():
        stack = [kind]
        while stack:
            current = stack.pop()
            stack.extend(typing.get_args(current))
            if dataclasses.is_dataclass(current) and current.__module__ == module:
                found |= _dataclasses(current, module)
    return found


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_numeric_field_of_the_recipes_declares_its_range(name: str):
    """The class of fault: a count of 0, a negative size, a NaN rate passing the type check and
    failing (or silently doing nothing) deep in training. Every int or float field a recipe
    declares must say its range (library dataclasses check themselves in __post_init__)."""
    module = recipe(name).__name__
    missing = [
        place
        for cls in _dataclasses(schema(name), module)
        for field, kind in typing.get_type_hints(cls, include_extras=True).items()
        for place in _unranged(kind, f"{cls.__name__}.{field}")
    ]
    assert not missing, f"numeric config fields without a Range: {missing}"


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("facebehaviornet", ["train.steps=0"], "train.steps: expected a number >= 1, got 0"),
        ("facebehaviornet", ["train.steps=-5"], "train.steps: expected a number >= 1"),
        ("facebehaviornet", ["data.batch_sizes={va: 8, au: 0}"], "data.batch_sizes.au: .* >= 1"),
        ("facebehaviornet", ["data.batch_sizes={va: -3}"], "data.batch_sizes.va: .* >= 1"),
        ("facebehaviornet", ["data.batch_sizes={vx: 3}"], r"data.batch_sizes: 'vx' is not one"),
        ("facebehaviornet", ["train.log_every=0"], "train.log_every: expected a number >= 1"),
        ("facebehaviornet", ["train.grad_accum=0"], "train.grad_accum: expected a number >= 1"),
        ("facebehaviornet", ["data.image_size=0"], "data.image_size: expected a number >= 1"),
        ("facebehaviornet", ["model.dropout=1.0"], r"model.dropout: .* >= 0 and < 1, got 1.0"),
        ("facebehaviornet", ["train.lr=0"], "train.lr: expected a number > 0, got 0.0"),
        ("facebehaviornet", ["train.lr=nan"], "train.lr: expected a number > 0, got nan"),
        ("facebehaviornet", ["train.seed=-1"], "train.seed: .* >= 0"),
        ("facebehaviornet", ["data.augment=9"], "data.augment: .* <= 3"),
        ("facebehaviornet", ["model.hidden=[32, 0]"], r"model.hidden\[1\]: .* >= 1"),
        ("facebehaviornet", ["loss.weights.dm=-1"], "config section loss.weights: .*dm"),
        ("facebehaviornet", ["train.optimizer=sgd"], r"train.optimizer: 'sgd' is not one of \["),
        ("facebehaviornet", ["model.va_output=sigmoid"], r"model.va_output: 'sigmoid' is not one"),
        ("cnn_rnn", ["data.clip_length=0"], "data.clip_length: expected a number >= 1"),
        ("cnn_rnn", ["train.lr_decay=0"], "train.lr_decay: .* > 0 and <= 1"),
        ("cnn_rnn", ["train.freeze_steps=-2"], "train.freeze_steps: .* >= -1"),
        ("cnn_rnn", ["data.eval_window=-1"], "data.eval_window: .* >= 0"),
        ("finetune", ["data.federation=x", "data.shots=0"], "data.shots: .* >= 1"),
        ("finetune", ["data.federation=null"], "config section data: give exactly one of"),
        ("finetune", ["data.federation=x", "model.va_output=relu"], r"model.va_output: 'relu' is"),
        ("cnn_rnn", ["train.optimizer=Adam"], r"train.optimizer: 'Adam' is not one of \['adamw', "),
        ("zeroshot_compound", ["batch_size=0"], "batch_size: expected a number >= 1"),
        ("decision_fusion", ["members=[a,b]", "eval_stride=0"], "eval_stride: .* >= 1"),
        ("decision_fusion", ["members=[a]"], "config section config: members: give at least"),
        ("facebehaviornet_ablation", ["seeds=[0, -1]"], r"seeds\[1\]: .* >= 0"),
        ("temporal_comparison", ["seeds=[4294967296]"], r"seeds\[0\]: .* < 4294967296"),
    ],
)
def test_out_of_range_values_fail_at_load_naming_the_key(name, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(schema(name), None, overrides)


@pytest.mark.parametrize(
    ("name", "required", "default_optimizer", "default_va"),
    [
        ("facebehaviornet", [], "adamw", "tanh"),
        ("finetune", ["data.federation=x"], "adamw", None),  # None: the checkpoint's
        ("cnn_rnn", [], "adam", None),  # Adam before the option existed; no model.va_output
    ],
)
def test_the_papers_optimiser_and_va_output_are_options(
    name, required, default_optimizer, default_va
):
    """``train.optimizer=adam train.weight_decay=0 model.va_output=linear``: the paper-faithful
    variant; without them, each recipe keeps the optimiser and VA output it always had."""
    default = load_config(schema(name), None, required)
    assert default.train.optimizer == default_optimizer
    paper = ["train.optimizer=adam", "train.weight_decay=0"]
    if name != "cnn_rnn":
        assert default.model.va_output == default_va
        paper.append("model.va_output=linear")
    config = load_config(schema(name), None, [*required, *paper])
    assert config.train.optimizer == "adam" and config.train.weight_decay == 0.0
    if name != "cnn_rnn":
        assert config.model.va_output == "linear"


# --- requests the shards cannot serve ---------------------------------------------------------


def test_an_au_vocabulary_only_other_datasets_label_is_refused(shards, tmp_path):  # noqa: F811
    """AffectNet and RAF-DB label no AU and the AUs 5, 9 and 20 are EmotioNet's: training on
    the first two used to run with loss/au = 0 throughout."""
    args = ["data.datasets=[affwild2,affectnet,rafdb]", "model.aus=[5,9,20]"]
    with pytest.raises(ConfigError, match=r"model.aus with data.datasets=\['affwild2'"):
        recipe("facebehaviornet").main(fbn_args(shards, tmp_path, 2, *args))
    assert not tmp_path.joinpath("config.yaml").exists()  # refused before anything is written


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.eval_split=valid"], r"data.eval_split: no dataset of the run has a split valid"),
        (["data.datasets=[rafdb]", "data.eval_split=validation"], r"'rafdb': \['test', 'train'\]"),
    ],
)
def test_an_eval_split_no_chosen_dataset_has_is_refused(
    shards,  # noqa: F811
    tmp_path,
    overrides,
    message,
):
    with pytest.raises(ConfigError, match=message):
        recipe("facebehaviornet").main(fbn_args(shards, tmp_path, 2, *overrides))
    assert not tmp_path.joinpath("config.yaml").exists()


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("{dataset: affectnet, split: validation}", r"targets\[0\]: affectnet/validation has no"),
        ("{dataset: rafdb-compound, split: validation}", r"targets\[0\].split: .* \['test', "),
        ("{dataset: raf-db, split: test}", r"targets\[0\].dataset: 'raf-db' is not in"),
        ("{dataset: rafdb-compound, compounds: [awed]}", r"targets\[0\].compounds"),
    ],
)
def test_a_zeroshot_target_without_compound_labels_is_refused(
    shards,  # noqa: F811
    tmp_path,
    target,
    message,
):
    args = [f"checkpoint={tmp_path / 'never-loaded'}", f"federation={shards}",
            f"targets=[{target}]", f"output={tmp_path / 'zs.json'}"]  # fmt: skip
    with pytest.raises(ConfigError, match=message):
        recipe("zeroshot_compound").main(args)
    assert not (tmp_path / "zs.json").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["target.task=compound", "data.datasets=[bp4d]"], r"data.datasets: none of \['bp4d'\] has compound"),
        (["target.task=au", "target.vocabulary=[5,9,20]", "data.datasets=[bp4d]"],
         r"target.vocabulary: none of \[5, 9, 20\] is labelled .*they label \[1, 2, 4"),
        (["target.task=compound", "target.vocabulary=[awed]"], r"target.vocabulary: .*awed"),
    ],
)  # fmt: skip
def test_a_finetuning_target_the_datasets_do_not_label_is_refused(
    shards,  # noqa: F811
    tmp_path,
    overrides,
    message,
):
    """The new head would train on nothing (loss 0 throughout); refused before the checkpoint
    is read."""
    args = [f"checkpoint={tmp_path / 'never-loaded'}", f"data.federation={shards}",
            "data.eval_split=[validation, test]", f"train.output_dir={tmp_path / 'run'}",
            "train.cpu=true", *overrides]  # fmt: skip
    with pytest.raises(ConfigError, match=message):
        recipe("finetune").main(args)
    assert not (tmp_path / "run" / "state").exists()


def test_config_changes_lists_every_changed_leaf_by_its_dotted_key():
    from holistic.training.config import config_changes

    old = {"train": {"lr": 0.001, "steps": 4}, "loss": {"weights": {"dm": 0.0}}, "x": [1, 2]}
    new = {"train": {"lr": 0.0003, "steps": 4}, "loss": {"weights": {"dm": 0.5}}, "x": (1, 2)}
    assert config_changes(old, new) == {"loss.weights.dm": (0.0, 0.5), "train.lr": (0.001, 0.0003)}
