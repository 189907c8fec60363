"""The contract every registered model keeps (timm's tests/test_models.py, in small).

Every ``test_*`` model runs: forward, output keys and shapes, VA range, a gradient for every
parameter, determinism in eval mode. The full-size variants are built on the meta device (no memory,
no weights) and their parameter counts checked against timm's backbone plus the head.
"""

import subprocess
import sys

import pytest
import torch

from holistic.models import create_model, is_model, list_models, register_model
from holistic.schema import AU_VOCABULARIES, EXPRESSION_VOCABULARIES

TEST_MODELS = list_models("test_*")
FULL_MODELS = [name for name in list_models() if not name.startswith("test_")]


def _images(batch: int = 2, size: int = 64, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, size, size, generator=generator) * 2 - 1


def test_every_family_has_a_test_variant():
    assert TEST_MODELS, "the registry needs tiny test_* variants"
    for name in FULL_MODELS:
        family = name.split("_")[0]
        assert f"test_{family}" in TEST_MODELS, f"{name}: no test_{family} variant"


@pytest.mark.parametrize("name", TEST_MODELS)
def test_forward_keys_shapes_and_range(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    with torch.no_grad():
        out = model(_images())
    assert set(out) == {"va", "expr", "au"}
    assert out["va"].shape == (2, 2)
    assert out["expr"].shape == (2, len(EXPRESSION_VOCABULARIES["basic7"])) == (2, 7)
    assert out["au"].shape == (2, len(AU_VOCABULARIES["fbn17"])) == (2, 17)
    assert out["va"].abs().max() <= 1
    assert all(torch.isfinite(value).all() for value in out.values())


@pytest.mark.parametrize("name", TEST_MODELS)
def test_head_sizes_follow_vocabularies(name):
    model = create_model(name, expressions=["neutral", "happiness", "contempt"], aus="abaw2021")
    with torch.no_grad():
        out = model.eval()(_images(size=32))
    assert out["expr"].shape == (2, 3) and out["au"].shape == (2, 12)
    assert model.expressions == ("neutral", "happiness", "contempt")
    assert model.aus == AU_VOCABULARIES["abaw2021"]


@pytest.mark.parametrize("name", TEST_MODELS)
def test_every_parameter_gets_a_gradient(name):
    torch.manual_seed(0)
    model = create_model(name).train()
    out = model(_images())
    sum(value.sum() for value in out.values()).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient for {missing}"
    # Not "non-zero": timm zero-initialises each residual block's last norm, so the branch before it
    # gets exactly zero gradient at step 0; it is still in the graph.
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    head = [n for n, p in model.head.named_parameters() if not p.grad.any()]
    assert not head, f"all-zero gradient for {head}"


@pytest.mark.parametrize("name", TEST_MODELS)
def test_eval_is_deterministic_and_train_uses_dropout(name):
    model = create_model(name, dropout=0.5)
    x = _images()
    model.eval()
    with torch.no_grad():
        first, second = model(x), model(x)
    for key in first:
        assert torch.equal(first[key], second[key]), key
    model.train()
    with torch.no_grad():
        torch.manual_seed(1)
        a = model(x)["expr"]
        torch.manual_seed(2)
        b = model(x)["expr"]
    assert not torch.equal(a, b), "dropout 0.5 should make train-mode outputs vary"


@pytest.mark.parametrize("name", TEST_MODELS)
@pytest.mark.parametrize("size", [(32, 32), (48, 80), (96, 96)])
def test_any_input_size_from_32(name, size):
    model = create_model(name).eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, *size))
    assert out["va"].shape == (1, 2)


@pytest.mark.parametrize("name", FULL_MODELS)
def test_full_size_variants_build(name):
    """Built on the meta device: the builder runs, nothing is allocated or downloaded."""
    import timm

    with torch.device("meta"):
        model = create_model(name, pretrained=False)
        backbone_name = model.backbone.pretrained_cfg["architecture"]
        kwargs = {"drop_rate": 0.5} if backbone_name.startswith("vgg") else {}
        reference = timm.create_model(backbone_name, num_classes=0, **kwargs)
    count = sum(p.numel() for p in model.parameters())
    backbone = sum(p.numel() for p in reference.parameters())
    width, head = model.num_features, 0
    for size in model.head.hidden:
        head += width * size + size
        width = size
    head += width * (2 + 7 + 17) + 2 + 7 + 17
    assert count == backbone + head
    assert model.build_args == {"name": name, "kwargs": {"pretrained": False}}


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
