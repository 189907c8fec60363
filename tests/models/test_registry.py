"""The contract every registered model keeps (timm's tests/test_models.py, in small).

Every ``test_*`` model runs on inputs made from its own ``input_spec`` (images ``[B, 3, S, S]`` or
clips ``[B, T, 3, S, S]``, with landmarks and log-mel windows when the spec asks for them), and its outputs are checked
against its own ``tasks``: keys, per-sample (or per-frame) shapes from the vocabularies, VA in
[-1, 1], finite values; a non-zero gradient for every parameter, determinism in eval mode, dropout
in train mode, any input size from 32 and, for clip models, any number of frames. The full-size
variants are built on the meta device (no memory, no weights) and their contract checked.
"""

import subprocess
import sys

import pytest
import torch
from torch import nn

from holistic.models import (
    FaceBehaviorNet,
    InputSpec,
    create_model,
    is_model,
    list_models,
    register_model,
)
from holistic.models.spec import TASK_NAMES, VA_NAMES
from holistic.schema import AU_VOCABULARIES

TEST_MODELS = list_models("test_*")
FULL_MODELS = [name for name in list_models() if not name.startswith("test_")]


def _spec(name: str) -> InputSpec:
    return create_model(name).input_spec


def _tasks(name: str) -> dict:
    return create_model(name).tasks


def _has_dropout(model: nn.Module) -> bool:
    return any(
        (isinstance(m, nn.Dropout) and m.p > 0)
        or (isinstance(m, nn.RNNBase) and m.dropout > 0 and m.num_layers > 1)
        for m in model.modules()
    )


CLIP_MODELS = [name for name in TEST_MODELS if _spec(name).is_clip]
VOCABULARY_MODELS = [name for name in TEST_MODELS if {"expr", "au"} <= set(_tasks(name))]
DROPOUT_MODELS = [name for name in TEST_MODELS if _has_dropout(create_model(name))]


def _inputs(
    model: nn.Module,
    batch: int = 2,
    size: int | tuple[int, int] | None = None,
    frames: int | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, dict]:
    """Random inputs in [-1, 1] as the model's spec describes them: ``(x, forward kwargs)``."""
    spec = model.input_spec
    height, width = (size, size) if isinstance(size, int) else (size or (spec.image_size,) * 2)
    generator = torch.Generator().manual_seed(seed)
    if not spec.is_clip:
        return torch.rand(batch, 3, height, width, generator=generator) * 2 - 1, {}
    frames = frames or spec.clip_length
    x = torch.rand(batch, frames, 3, height, width, generator=generator) * 2 - 1
    kwargs = {}
    if spec.landmarks:
        kwargs["landmarks"] = torch.rand(batch, frames, 68, 2, generator=generator) * 2 - 1
    if "mel" in spec.audio:  # A/V clip models: a 64 x 11 log-mel window per frame, all heard
        kwargs["audio"] = torch.rand(batch, frames, 64, 11, generator=generator) * 2 - 1
        kwargs["audio_mask"] = torch.ones(batch, frames, dtype=torch.bool)
    if "mel_image" in spec.audio:  # AViGaS-Net: the stored audio image of every frame, all heard
        side = spec.audio["mel_image"]["size"]
        kwargs["audio"] = torch.rand(batch, frames, side, side, generator=generator) * 2 - 1
        kwargs["audio_mask"] = torch.ones(batch, frames, dtype=torch.bool)
    return x, kwargs


def _check_outputs(model: nn.Module, out: dict, lead: tuple[int, ...]) -> None:
    """Keys are the model's tasks; outputs ``[*lead, len(vocabulary)]``, finite; VA in range."""
    assert set(out) == set(model.tasks)
    for task, vocabulary in model.tasks.items():
        assert out[task].shape == (*lead, len(vocabulary)), task
        assert torch.isfinite(out[task]).all(), task
    if "va" in out:
        assert out["va"].abs().max() <= 1


def _lead(model: nn.Module, x: torch.Tensor) -> tuple[int, ...]:
    return tuple(x.shape[:2]) if model.input_spec.is_clip else tuple(x.shape[:1])


def test_every_family_has_a_test_variant():
    assert TEST_MODELS, "the registry needs tiny test_* variants"
    for name in FULL_MODELS:
        family = name.split("_")[0]
        assert f"test_{family}" in TEST_MODELS, f"{name}: no test_{family} variant"


def test_the_parametrised_lists_are_not_empty():
    # The lists below parametrise tests; an empty one would silently test nothing.
    assert CLIP_MODELS and VOCABULARY_MODELS and DROPOUT_MODELS
    assert set(TEST_MODELS) - set(CLIP_MODELS), "no image model among the test variants"


@pytest.mark.parametrize("name", TEST_MODELS)
def test_contract_input_spec_and_tasks(name):
    model = create_model(name)
    spec, tasks = model.input_spec, model.tasks
    assert isinstance(spec, InputSpec) and spec.image_size >= 32
    assert (spec.clip_length is not None) == spec.is_clip
    assert tasks and list(tasks) == [task for task in TASK_NAMES if task in tasks]
    if "va" in tasks:
        assert tasks["va"] == VA_NAMES
    for task, attribute in (("expr", "expressions"), ("au", "aus")):
        if task in tasks:
            assert tasks[task] == getattr(model, attribute)
    assert model.build_args == {"name": name, "kwargs": {}}


@pytest.mark.parametrize("name", TEST_MODELS)
def test_forward_keys_shapes_and_range(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    x, kwargs = _inputs(model)
    with torch.no_grad():
        out = model(x, **kwargs)
    _check_outputs(model, out, _lead(model, x))
    # forward is forward_heads of forward_features; features are [B, F] or [B, T, F].
    with torch.no_grad():
        features = model.forward_features(x, **kwargs)
        split = model.forward_heads(features)
    assert features.shape == (*_lead(model, x), model.num_features)
    assert all(torch.equal(split[task], out[task]) for task in out)


@pytest.mark.parametrize("name", VOCABULARY_MODELS)
def test_head_sizes_follow_vocabularies(name):
    model = create_model(name, expressions=["neutral", "happiness", "contempt"], aus="abaw2021")
    x, kwargs = _inputs(model, size=32)
    with torch.no_grad():
        out = model.eval()(x, **kwargs)
    assert out["expr"].shape[-1] == 3 and out["au"].shape[-1] == 12
    assert model.expressions == ("neutral", "happiness", "contempt")
    assert model.aus == AU_VOCABULARIES["abaw2021"]
    _check_outputs(model, out, _lead(model, x))


@pytest.mark.parametrize("name", TEST_MODELS)
def test_every_parameter_gets_a_gradient(name):
    torch.manual_seed(0)
    model = create_model(name).train()
    # timm zero-initialises the last norm of each residual branch (zero_init_last), so at step 0
    # every layer of the branch before it gets exactly zero gradient, though it is in the graph.
    # Giving the all-zero parameters a value makes "non-zero gradient" a check that can fail.
    with torch.no_grad():
        for parameter in model.parameters():
            if not parameter.any():
                parameter.normal_()
    x, kwargs = _inputs(model)
    out = model(x, **kwargs)
    sum(value.sum() for value in out.values()).backward()
    # A latent adversarial model's forward is its inference path: the critic and what only the
    # adversarial objective trains are named in ``detached_parameters`` (prefixes) and left out.
    skip = tuple(getattr(model, "detached_parameters", ()))
    named = [
        (n, p) for n, p in model.named_parameters() if p.requires_grad and not n.startswith(skip)
    ]
    missing = [n for n, p in named if p.grad is None]
    assert not missing, f"no gradient for {missing}"
    assert all(torch.isfinite(p.grad).all() for _, p in named)
    zero = [n for n, p in named if not p.grad.any()]
    assert not zero, f"all-zero gradient for {zero}"


@pytest.mark.parametrize("name", TEST_MODELS)
def test_eval_is_deterministic(name):
    model = create_model(name).eval()
    x, kwargs = _inputs(model)
    with torch.no_grad():
        torch.manual_seed(1)
        first = model(x, **kwargs)
        torch.manual_seed(2)
        second = model(x, **kwargs)
    for key in first:
        assert torch.equal(first[key], second[key]), key


@pytest.mark.parametrize("name", DROPOUT_MODELS)
def test_train_mode_uses_dropout(name):
    model = create_model(name).train()
    x, kwargs = _inputs(model)
    with torch.no_grad():
        torch.manual_seed(1)
        a = model(x, **kwargs)
        torch.manual_seed(2)
        b = model(x, **kwargs)
        torch.manual_seed(1)
        again = model(x, **kwargs)
    assert any(not torch.equal(a[key], b[key]) for key in a), "dropout should vary train outputs"
    assert all(torch.equal(a[key], again[key]) for key in a), "same seed, same dropout masks"


@pytest.mark.parametrize("name", TEST_MODELS)
@pytest.mark.parametrize("size", [(32, 32), (48, 80), (96, 96)])
def test_any_input_size_from_32(name, size):
    model = create_model(name).eval()
    x, kwargs = _inputs(model, batch=1, size=size, frames=2)
    with torch.no_grad():
        out = model(x, **kwargs)
    _check_outputs(model, out, _lead(model, x))


@pytest.mark.parametrize("name", CLIP_MODELS)
@pytest.mark.parametrize("frames", [1, 3, 9])
def test_clip_models_run_on_any_number_of_frames(name, frames):
    model = create_model(name).eval()
    assert frames != model.input_spec.clip_length
    x, kwargs = _inputs(model, frames=frames)
    with torch.no_grad():
        out = model(x, **kwargs)
    _check_outputs(model, out, (2, frames))


@pytest.mark.parametrize("name", CLIP_MODELS)
def test_clip_models_refuse_images(name):
    model = create_model(name).eval()
    with pytest.raises(ValueError, match=r"\[B, T, 3, H, W\]"):
        model(torch.zeros(2, 3, 32, 32))


@pytest.mark.parametrize("name", FULL_MODELS)
def test_full_size_variants_build(name):
    """Built on the meta device: the builder runs, nothing is allocated or downloaded."""
    with torch.device("meta"):
        model = create_model(name, pretrained=False)
    assert model.build_args == {"name": name, "kwargs": {"pretrained": False}}
    spec, tasks = model.input_spec, model.tasks
    assert isinstance(spec, InputSpec) and (spec.clip_length is not None) == spec.is_clip
    assert tasks.get("va") == VA_NAMES
    for task, attribute in (("expr", "expressions"), ("au", "aus")):
        if task in tasks:
            assert tasks[task] == getattr(model, attribute)
    assert all(p.is_meta for p in model.parameters())
    # Parameter counts against timm's backbone: FaceBehaviorNet here, the clip families in
    # tests/models/test_temporal.py.
    if isinstance(model, FaceBehaviorNet):
        _check_facebehaviornet_count(model)


def _check_facebehaviornet_count(model: FaceBehaviorNet) -> None:
    import timm

    backbone_name = model.backbone.pretrained_cfg["architecture"]
    kwargs = {"drop_rate": 0.5} if backbone_name.startswith("vgg") else {}
    with torch.device("meta"):
        reference = timm.create_model(backbone_name, num_classes=0, **kwargs)
    count = sum(p.numel() for p in model.parameters())
    backbone = sum(p.numel() for p in reference.parameters())
    width, head = model.num_features, 0
    for size in model.head.hidden:
        head += width * size + size
        width = size
    head += width * (2 + 7 + 17) + 2 + 7 + 17
    assert count == backbone + head


def test_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match="facebehaviornet_resnet18"):
        create_model("facebehaviornet_resnet19")
    with pytest.raises(ValueError, match="unknown model 'nothing_like_it'"):
        create_model("nothing_like_it")


def test_list_and_is_model():
    assert is_model("test_facebehaviornet") and not is_model("resnet18")
    assert list_models("facebehaviornet_*") == [
        "facebehaviornet_efficientnet_b0",
        "facebehaviornet_resnet18",
        "facebehaviornet_vgg16",
    ]
    assert list_models("affwildnet_*") == [
        "affwildnet_resnet18",
        "affwildnet_resnet50",
        "affwildnet_vgg16",
    ]
    assert list_models() == sorted(list_models())
    assert list_models("nothing*") == []


def test_register_refuses_a_second_function_under_one_name():
    def test_facebehaviornet():  # same name as the registered variant
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="already registered"):
        register_model(test_facebehaviornet)


def test_create_model_records_build_args():
    model = create_model("test_facebehaviornet", aus="abaw2021", hidden=(8, 8))
    assert model.build_args == {
        "name": "test_facebehaviornet",
        "kwargs": {"aus": "abaw2021", "hidden": (8, 8)},
    }
    assert model.head.hidden == (8, 8)


def test_import_holistic_models_does_not_import_timm():
    code = "import sys, holistic.models; print('timm' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
