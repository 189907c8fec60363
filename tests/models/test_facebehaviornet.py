"""FaceBehaviorNet, its head, and backbone weights from local files."""

import pytest
import torch
from torch import nn

from holistic.models import (
    FaceBehaviorNet,
    MultiTaskHead,
    build_facebehaviornet,
    build_timm_backbone,
    create_model,
    list_models,
    load_state_dict_file,
)
from holistic.schema import AU_VOCABULARIES


def _images(batch: int = 2, size: int = 64) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_head_is_one_output_layer_over_shared_layers():
    head = MultiTaskHead(10, num_expr=7, num_au=17, hidden=(16, 8), dropout=0.5)
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(10, 16), (16, 8), (8, 26)]
    assert sum(isinstance(m, nn.Dropout) for m in head.modules()) == 2
    out = head.eval()(torch.randn(4, 10) * 100)
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "va": (4, 2),
        "expr": (4, 7),
        "au": (4, 17),
    }
    assert out["va"].abs().max() <= 1
    # The three tasks are slices of one output layer: VA is tanh of its first two units.
    raw = head.out(head.shared(torch.ones(1, 10)))
    assert torch.allclose(head(torch.ones(1, 10))["va"], torch.tanh(raw[:, :2]))
    assert torch.equal(head(torch.ones(1, 10))["au"], raw[:, 9:])


def test_head_without_hidden_layers_and_bad_values():
    head = MultiTaskHead(12, 3, 2, hidden=(), dropout=0.5)
    assert isinstance(head.shared[0], nn.Dropout) and head.out.in_features == 12
    with pytest.raises(ValueError, match="dropout"):
        MultiTaskHead(12, 3, 2, dropout=1.0)
    with pytest.raises(ValueError, match="positive"):
        MultiTaskHead(0, 3, 2)


def test_a_linear_va_output_passes_the_output_units_through_unbounded():
    torch.manual_seed(0)
    head = MultiTaskHead(10, num_expr=7, num_au=17, hidden=(), dropout=0.0, va_output="linear")
    assert MultiTaskHead(10, 7, 17).va_output == "tanh"  # the default is unchanged
    features = torch.randn(64, 10) * 100
    raw = head.out(head.shared(features))
    out = head.eval()(features)
    assert torch.equal(out["va"], raw[:, :2])
    assert out["va"].abs().max() > 1  # values outside [-1, 1] pass through
    assert torch.equal(out["expr"], raw[:, 2:9]) and torch.equal(out["au"], raw[:, 9:])
    head.va_output = "tanh"  # the same units, read through tanh
    assert torch.equal(head(features)["va"], torch.tanh(raw[:, :2]))
    with pytest.raises(ValueError, match=r"va_output: expected one of \['tanh', 'linear'\]"):
        MultiTaskHead(10, 7, 17, va_output="sigmoid")
    with pytest.raises(ValueError, match="va_output"):
        head.va_output = "relu"


@pytest.mark.parametrize("name", list_models("*facebehaviornet*"))
def test_every_registered_variant_takes_the_va_output(name):
    assert create_model(name, va_output="linear").head.va_output == "linear"


def test_the_model_reads_va_as_its_head_says():
    torch.manual_seed(0)
    model = create_model("test_facebehaviornet", va_output="linear").eval()
    assert model.va_output == "linear" and create_model("test_facebehaviornet").va_output == "tanh"
    with torch.no_grad():
        raw = model.head.out(model.head.shared(model.forward_features(_images())))
        assert torch.equal(model(_images())["va"], raw[:, :2])
        model.va_output = "tanh"
        assert model.head.va_output == "tanh"
        assert torch.equal(model(_images())["va"], torch.tanh(raw[:, :2]))


def test_forward_is_forward_heads_of_forward_features():
    model = create_model("test_facebehaviornet").eval()
    x = _images()
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape == (2, model.num_features) == (2, 96)
        split = model.forward_heads(features)
        whole = model(x)
    assert all(torch.equal(split[k], whole[k]) for k in whole)
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        model(torch.zeros(3, 64, 64))


def test_reset_heads_keeps_backbone_and_shared_layers():
    torch.manual_seed(0)
    model = create_model("test_facebehaviornet").eval()
    backbone = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    shared = {k: v.clone() for k, v in model.head.shared.state_dict().items()}
    old_out = model.head.out
    model.reset_heads(aus="abaw2021")
    assert model.expressions[0] == "neutral" and len(model.expressions) == 7
    assert model.aus == AU_VOCABULARIES["abaw2021"]
    assert model.head.out is not old_out
    assert all(torch.equal(v, model.backbone.state_dict()[k]) for k, v in backbone.items())
    assert all(torch.equal(v, model.head.shared.state_dict()[k]) for k, v in shared.items())
    model.reset_heads(expressions=["happiness", "sadness", "surprise", "contempt"])
    with torch.no_grad():
        out = model(_images())
    assert out["expr"].shape == (2, 4) and out["au"].shape == (2, 12)
    with pytest.raises(ValueError):
        model.reset_heads(expressions=["not_an_expression"])


def test_reset_heads_reinitialises_only_the_vocabularies_given():
    torch.manual_seed(0)
    model = create_model("test_facebehaviornet").eval()
    x = _images()
    with torch.no_grad():
        before = model(x)
    model.reset_heads(compounds="rafdb11")  # a compound output is added; the rest is kept
    with torch.no_grad():
        after = model(x)
    assert model.compounds[0] == "happily_surprised" and after["compound"].shape == (2, 11)
    # (allclose: a wider output layer may sum in another order)
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in ("va", "expr", "au"))
    model.reset_heads(expressions="affectnet8")  # expressions re-initialised, AUs and VA kept
    with torch.no_grad():
        again = model(x)
    assert again["expr"].shape == (2, 8) and not torch.equal(again["expr"][:, :7], before["expr"])
    assert torch.allclose(again["au"], before["au"], atol=1e-6)
    assert torch.allclose(again["va"], before["va"], atol=1e-6)
    assert torch.allclose(again["compound"], after["compound"], atol=1e-6)
    model.reset_heads(compounds=[])  # and removed again
    with torch.no_grad():
        assert set(model(x)) == {"va", "expr", "au"}
    with pytest.raises(ValueError, match="compound"):
        model.reset_heads(compounds=["happily_tired"])


def test_head_refuses_to_keep_a_block_that_changes_size():
    head = MultiTaskHead(8, 3, 2, hidden=(4,))
    with pytest.raises(ValueError, match="change size"):
        head.reset(4, 2, keep=["expr"])
    with pytest.raises(ValueError, match="unknown output blocks"):
        head.reset(3, 2, keep=["valence"])


def test_inputs_are_mapped_to_the_backbone_normalisation():
    model = build_facebehaviornet("resnet10t", hidden=(8,)).eval()  # ImageNet mean/std
    norm = model.input_norm
    assert norm.enabled
    x = _images()
    with torch.no_grad():
        expected = model.backbone(((x + 1) / 2 - norm.mean) / norm.std)
        assert torch.allclose(model.forward_features(x), expected)
    assert "mean" not in model.state_dict()  # derived, not saved


def test_flat_constructor_with_any_backbone():
    backbone = nn.Sequential(nn.Conv2d(3, 5, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    model = FaceBehaviorNet(backbone, 5, expressions="basic7", aus=[1, 2, 12], hidden=(4,))
    out = model(_images(size=32))
    assert out["au"].shape == (2, 3) and model.aus == (1, 2, 12)
    with pytest.raises(ValueError, match="mean and std"):
        FaceBehaviorNet(backbone, 5, mean=(0.5, 0.5, 0.5))


def test_unknown_backbone_and_num_classes():
    with pytest.raises(ValueError, match="not a timm model"):
        build_timm_backbone("resnet_does_not_exist")
    with pytest.raises(ValueError, match="num_classes"):
        build_timm_backbone("test_resnet", num_classes=10)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_backbone_weights_from_a_local_file(tmp_path, suffix):
    torch.manual_seed(1)
    source, _ = build_timm_backbone("test_resnet")
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(source.state_dict(), str(path))
    else:  # a training checkpoint: nested, DDP-prefixed, with an ImageNet classifier
        state = {f"module.{k}": v for k, v in source.state_dict().items()}
        state |= {"module.fc.weight": torch.zeros(1000, 96), "module.fc.bias": torch.zeros(1000)}
        torch.save({"state_dict": state, "epoch": 3}, path)
    torch.manual_seed(2)
    fresh, _ = build_timm_backbone("test_resnet")
    loaded, features = build_timm_backbone("test_resnet", checkpoint_path=path)
    x = _images()
    source.eval(), fresh.eval(), loaded.eval()
    with torch.no_grad():
        assert torch.equal(source(x), loaded(x))
        assert not torch.allclose(source(x), fresh(x))
    assert features == 96
    model = build_facebehaviornet("test_resnet", checkpoint_path=path).eval()
    with torch.no_grad():
        assert torch.equal(model.forward_features(x), source(x))


def test_backbone_weights_that_do_not_fit(tmp_path):
    from safetensors.torch import save_file

    other, _ = build_timm_backbone("test_efficientnet")
    save_file(other.state_dict(), str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="do not fit"):
        build_timm_backbone("test_resnet", checkpoint_path=tmp_path / "other.safetensors")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_timm_backbone("test_resnet", checkpoint_path=tmp_path / "missing.pth")
    (tmp_path / "weights.ckpt").write_text("")
    with pytest.raises(ValueError, match=r"\.safetensors, \.pth"):
        load_state_dict_file(tmp_path / "weights.ckpt")


def test_pth_with_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "fn": print}, path)
    with pytest.raises(Exception, match="(?i)weights_only|unsupported|global"):
        load_state_dict_file(path)
