"""Checkpoints: safetensors + JSON round trips, vocabularies, and clear errors."""

import json

import pytest
import torch

from holistic.models import create_model, load_model, save_model
from holistic.models.checkpoint import checkpoint_files
from holistic.schema import AU_VOCABULARIES


def _images() -> torch.Tensor:
    return torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(0)) * 2 - 1


def _same_outputs(a, b) -> bool:
    x = _images()
    with torch.no_grad():
        first, second = a.eval()(x), b.eval()(x)
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_round_trip_directory(tmp_path):
    torch.manual_seed(0)
    model = create_model("test_facebehaviornet", hidden=(16,), dropout=0.3, pretrained=False)
    # Train-mode statistics differ from init: make BN buffers part of what must round-trip.
    with torch.no_grad():
        model.train()(_images())
    weights = save_model(model, tmp_path / "run")
    assert weights == tmp_path / "run" / "model.safetensors"
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert meta["name"] == "test_facebehaviornet"
    assert meta["kwargs"]["hidden"] == [16] and "pretrained" not in meta["kwargs"]
    assert meta["aus"] == list(AU_VOCABULARIES["fbn17"]) and len(meta["expressions"]) == 7
    assert "holistic_version" in meta
    loaded = load_model(tmp_path / "run")
    assert not loaded.training and loaded.head.hidden == (16,) and loaded.head.dropout == 0.3
    assert _same_outputs(model, loaded)


def test_round_trip_stem_and_json_path(tmp_path):
    model = create_model("test_facebehaviornet")
    save_model(model, tmp_path / "best.safetensors")
    assert (tmp_path / "best.json").is_file()
    assert _same_outputs(model, load_model(tmp_path / "best.json"))
    assert _same_outputs(model, load_model(tmp_path / "best.safetensors"))


def test_reset_heads_then_save_keeps_new_vocabularies(tmp_path):
    model = create_model("test_facebehaviornet")
    model.reset_heads(expressions=["neutral", "happiness", "contempt"], aus="abaw2021")
    save_model(model, tmp_path)
    loaded = load_model(tmp_path, expressions=["neutral", "happiness", "contempt"], aus="abaw2021")
    assert loaded.expressions == ("neutral", "happiness", "contempt")
    assert loaded.aus == AU_VOCABULARIES["abaw2021"]
    assert _same_outputs(model, loaded)


def test_a_compound_output_survives_save_and_load(tmp_path):
    model = create_model("test_facebehaviornet")
    model.reset_heads(compounds="rafdb11")
    save_model(model, tmp_path)
    loaded = load_model(tmp_path, compounds="rafdb11")
    assert loaded.compounds == model.compounds and _same_outputs(model, loaded)
    with pytest.raises(ValueError, match="built for compounds"):
        load_model(tmp_path, compounds="abaw_compound7")


def test_a_linear_va_output_survives_save_and_load(tmp_path):
    torch.manual_seed(0)
    model = create_model("test_facebehaviornet", va_output="linear")
    with torch.no_grad():  # large VA units: linear and tanh outputs differ visibly
        model.head.out.bias[:2] = torch.tensor([3.0, -2.5])
    save_model(model, tmp_path)
    assert json.loads((tmp_path / "model.json").read_text())["kwargs"]["va_output"] == "linear"
    loaded = load_model(tmp_path)
    assert loaded.va_output == "linear" and _same_outputs(model, loaded)
    with torch.no_grad():
        assert loaded(_images())["va"].abs().max() > 1


def test_a_va_output_set_after_building_is_what_is_saved(tmp_path):
    """Fine-tuning may switch a trained model's VA output: the model, not its build
    arguments, is what the checkpoint records."""
    model = create_model("test_facebehaviornet")
    model.va_output = "linear"
    save_model(model, tmp_path)
    assert load_model(tmp_path).va_output == "linear"


def test_a_checkpoint_from_before_va_output_loads_with_tanh(tmp_path):
    save_model(create_model("test_facebehaviornet"), tmp_path)
    meta_path = tmp_path / "model.json"
    meta = json.loads(meta_path.read_text())
    assert meta["kwargs"].pop("va_output") == "tanh"
    meta_path.write_text(json.dumps(meta))
    assert load_model(tmp_path).va_output == "tanh"


def test_other_vocabularies_are_refused(tmp_path):
    save_model(create_model("test_facebehaviornet"), tmp_path)
    with pytest.raises(ValueError, match=r"built for aus \[1, 2, 4, 5.*but \[1, 2, 4, 6"):
        load_model(tmp_path, aus="abaw2021")
    with pytest.raises(ValueError, match="built for expressions"):
        load_model(tmp_path, expressions=["neutral", "anger"])
    assert load_model(tmp_path, expressions="basic7", aus="fbn17").aus == AU_VOCABULARIES["fbn17"]


def test_missing_files_and_unknown_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_model(tmp_path / "nothing")
    save_model(create_model("test_facebehaviornet"), tmp_path)
    weights, metadata = checkpoint_files(tmp_path)
    meta = json.loads(metadata.read_text())
    metadata.write_text(json.dumps({**meta, "name": "facebehaviornet_resnet50x"}))
    with pytest.raises(ValueError, match="facebehaviornet_resnet50x.*not registered"):
        load_model(tmp_path)
    metadata.write_text(json.dumps({"name": "test_facebehaviornet"}))
    with pytest.raises(ValueError, match="not a holistic model checkpoint"):
        load_model(tmp_path)
    weights.unlink()
    with pytest.raises(FileNotFoundError, match="expected"):
        load_model(tmp_path)


def test_weights_that_do_not_fit_are_refused(tmp_path):
    save_model(create_model("test_facebehaviornet", hidden=(16,)), tmp_path)
    _, metadata = checkpoint_files(tmp_path)
    meta = json.loads(metadata.read_text())
    meta["kwargs"]["hidden"] = [8]
    metadata.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="do not fit"):
        load_model(tmp_path)


def test_save_needs_a_registry_model(tmp_path):
    with pytest.raises(ValueError, match="create_model"):
        save_model(torch.nn.Linear(2, 2), tmp_path)
