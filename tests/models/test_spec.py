"""The model contract: InputSpec validation and JSON, tasks, label spaces, model.json."""

import json

import pytest

from holistic.models import InputSpec, create_model, label_space_of, load_model, save_model
from holistic.models.checkpoint import read_model_json
from holistic.schema import AU_VOCABULARIES, EXPRESSION_VOCABULARIES


def test_input_spec_round_trips_and_rejects_nonsense():
    spec = InputSpec(kind="clip", image_size=96, clip_length=80, landmarks=True)
    assert spec.is_clip and InputSpec.from_json(spec.to_json()) == spec
    assert InputSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    with pytest.raises(ValueError, match="clip model needs clip_length"):
        InputSpec(kind="clip")
    with pytest.raises(ValueError, match="image model has no clip_length"):
        InputSpec(clip_length=4)
    with pytest.raises(ValueError, match="input kind"):
        InputSpec(kind="video")
    with pytest.raises(ValueError, match="image_size"):
        InputSpec(image_size=8)
    with pytest.raises(ValueError, match=r"model.json: input: unknown key\(s\) \['size'\]"):
        InputSpec.from_json({"size": 64}, "model.json: input")


def test_label_space_of_follows_the_tasks():
    model = create_model("test_facebehaviornet", expressions="affectnet8", aus="abaw2021")
    space = label_space_of(model)
    assert space.expressions == EXPRESSION_VOCABULARIES["affectnet8"]
    assert space.aus == AU_VOCABULARIES["abaw2021"] and space.compounds == ()
    va_only = label_space_of({"va": ("valence", "arousal")})
    assert va_only.expressions == EXPRESSION_VOCABULARIES["basic7"]  # defaults, for projection


def test_model_json_records_the_input_and_the_tasks(tmp_path):
    model = create_model("test_facebehaviornet", image_size=48, compounds="rafdb11")
    assert model.input_spec == InputSpec(image_size=48)
    assert set(model.tasks) == {"va", "expr", "au", "compound"}
    save_model(model, tmp_path)
    meta = read_model_json(tmp_path)
    assert meta["input"] == InputSpec(image_size=48).to_json()
    assert meta["tasks"]["va"] == ["valence", "arousal"]
    assert meta["tasks"]["au"] == list(AU_VOCABULARIES["fbn17"])
    assert len(meta["tasks"]["compound"]) == 11
    assert load_model(tmp_path).input_spec.image_size == 48


def test_a_recipe_may_change_the_input_size_and_the_checkpoint_keeps_it(tmp_path):
    from dataclasses import replace

    model = create_model("test_facebehaviornet")  # built at the default 112
    model.input_spec = replace(model.input_spec, image_size=64)  # e.g. fine-tuned at 64 px
    save_model(model, tmp_path)
    assert load_model(tmp_path).input_spec.image_size == 64


def test_an_edited_input_spec_is_refused_at_load(tmp_path):
    save_model(create_model("test_facebehaviornet", image_size=48), tmp_path)
    meta = json.loads((tmp_path / "model.json").read_text())
    meta["input"]["image_size"] = 96
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="input spec .* differs"):
        load_model(tmp_path)
    meta["input"] = {"kind": "image", "side": 96}
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['side'\]"):
        load_model(tmp_path)


def test_checkpoints_before_the_contract_still_load(tmp_path):
    save_model(create_model("test_facebehaviornet"), tmp_path)
    meta = json.loads((tmp_path / "model.json").read_text())
    for key in ("input", "tasks"):
        del meta[key]
    del meta["kwargs"]["image_size"]
    (tmp_path / "model.json").write_text(json.dumps(meta))
    assert load_model(tmp_path).input_spec == InputSpec()  # the builder's default, 112 px
