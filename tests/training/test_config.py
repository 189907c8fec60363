from dataclasses import dataclass, field
from typing import Literal

import pytest

from holistic.training.config import ConfigError, load_config, parse_overrides, save_config


@dataclass
class Model:
    name: str = "facebehaviornet_resnet18"
    aus: str | list[int] = "fbn17"
    hidden: list[int] = field(default_factory=lambda: [256])
    dropout: float = 0.5


@dataclass
class Train:
    steps: int
    lr: float = 1e-4
    precision: Literal["no", "fp16", "bf16"] = "no"
    weights: dict[str, float] = field(default_factory=lambda: {"expr": 1.0})
    resume: str | None = None


@dataclass
class Recipe:
    model: Model
    train: Train


def _yaml(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_yaml_and_overrides_build_typed_config(tmp_path):
    path = _yaml(tmp_path, "train:\n  steps: 10\n  lr: 0.001\nmodel:\n  aus: [1, 2, 4]\n")
    config = load_config(
        Recipe, path, ["train.lr=3e-4", "train.weights.dm=0.5", "model.hidden=[64,32]"]
    )
    assert config.train.steps == 10 and config.train.lr == 3e-4
    assert config.train.weights == {"dm": 0.5}  # a mapping field is replaced as a whole
    assert config.model.aus == [1, 2, 4] and config.model.hidden == [64, 32]
    assert config.model.name == "facebehaviornet_resnet18"  # the dataclass default
    assert isinstance(load_config(Recipe, None, ["train.steps=3", "train.lr=1"]).train.lr, float)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.step=3"], r"unknown config key\(s\) \['train.step'\]"),
        (["train.steps=ten"], "train.steps: expected int, got 'ten'"),
        (["train.steps=3", "train.precision=fp8"], "not one of"),
        (["train.steps=3", "model.hidden=64"], "model.hidden: expected a list"),
        (["train.steps=3", "train.lr=true"], "train.lr: expected float"),
        ([], "train.steps is required"),
        (["train.steps=3", "model.aus={}"], "matches none of"),
        (["train.steps"], "expected key=value"),
    ],
)
def test_bad_configs_fail_naming_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(Recipe, None, overrides)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_config(Recipe, tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Recipe, _yaml(tmp_path, "train: [1,\n"))
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(Recipe, _yaml(tmp_path, "- 1\n- 2\n"))


def test_saved_config_loads_back_identically(tmp_path):
    config = load_config(Recipe, None, ["train.steps=7", "train.resume=/x"])
    path = save_config(config, tmp_path / "run" / "config.yaml")
    assert load_config(Recipe, path) == config


def test_parse_overrides_nests_and_parses_yaml_values():
    assert parse_overrides(["a.b.c=1", "a.d=[x, y]", "e=null"]) == {
        "a": {"b": {"c": 1}, "d": ["x", "y"]},
        "e": None,
    }
