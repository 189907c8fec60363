"""``holistic evaluate`` on what a user can get wrong: an unknown dataset or split is named in a
one-line error (with what exists), a damaged shard stops it with the shard named unless
``--tolerate-damage``, and the crop size defaults to the size the model was trained at."""

import json
from pathlib import Path

import pytest
import test_stream_damage as damage
from test_stream_damage import cut_before

import holistic.models
from holistic.cli import main
from holistic.models import create_model, save_model

pristine, fed = damage.pristine, damage.fed  # the tiny federation (32 px crops), a copy to break


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny FaceBehaviorNet saved at 64 px (its input spec says so)."""
    path = tmp_path_factory.mktemp("model") / "model"
    save_model(create_model("test_facebehaviornet", image_size=64), path)
    return path


def evaluate(checkpoint: Path, fed: Path, *options: str) -> int:
    out = fed.parent / "eval"
    return main(["evaluate", str(checkpoint), str(fed), "--out", str(out), *options])


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--dataset", "nope"], ["dataset(s) ['nope'] are not in the federation", "['faces', 'vid']"]),
        (["--split", "valdation"], ["no 'valdation' split", "faces has ['train', 'validation']",
                                    "vid has ['train']"]),
        (["--dataset", "vid"], ["no 'validation' split to evaluate: vid has ['train']"]),
    ],
    ids=["dataset", "split", "dataset-without-the-split"],
)  # fmt: skip
def test_unknown_names_are_one_line_errors(checkpoint, fed, capsys, options, named):
    assert evaluate(checkpoint, fed, *options) == 2
    error = capsys.readouterr().err
    assert error.startswith("holistic evaluate: ") and "Traceback" not in error
    for text in named:
        assert text in error


def test_a_damaged_shard_stops_evaluation_unless_tolerated(checkpoint, fed, capsys):
    cut_before(fed / "faces-validation-000001.tar", "v06.jpg")
    assert evaluate(checkpoint, fed) == 2
    error = capsys.readouterr().err
    assert "faces-validation-000001.tar" in error and "--tolerate-damage" in error
    assert evaluate(checkpoint, fed, "--tolerate-damage") == 0
    assert "1 damaged shard(s)" in capsys.readouterr().err
    document = json.loads((fed.parent / "eval" / "metrics.json").read_text())
    [row] = document["damaged_shards"]
    assert (row["expected"], row["found"]) == (3, 1)
    assert document["metrics"]["faces"]["va"]["n"] == 5 + 1
    assert "faces-validation-000001.tar" in (fed.parent / "eval" / "report.md").read_text()


def test_the_crop_size_defaults_to_the_models_input_spec(checkpoint, fed, monkeypatch):
    seen = []
    load = holistic.models.load_model

    def recording(path, **kwargs):
        model = load(path, **kwargs)
        model.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[-2:]))
        return model

    monkeypatch.setattr(holistic.models, "load_model", recording)
    assert evaluate(checkpoint, fed, "--dataset", "faces") == 0
    assert seen and {tuple(shape) for shape in seen} == {(64, 64)}  # the shards hold 32 px
    seen.clear()
    assert evaluate(checkpoint, fed, "--dataset", "faces", "--image-size", "48") == 0
    assert {tuple(shape) for shape in seen} == {(48, 48)}
