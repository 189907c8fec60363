"""The clip models and their ensembles (holistic/models/temporal.py, holistic/models/ensemble.py).

AffWildNet, CNN-1RNN/3RNN and MT-VGG-GRU: architecture facts from the papers
(``reference/metrics.md`` sections 7.2 and 7.3) are checked on the full-size variants built on the
meta device; behaviour (landmarks, recurrence, weights from files and FaceBehaviorNet checkpoints,
save/load) on the tiny ``test_*`` variants.

Ensembles: model-level fusion and decision-level fusion, Eq. 3 of the FaceBehaviorNet paper
(``reference/metrics.md`` section 1): ``O_i = sum_n t_i^n o_i^n / sum_n t_i^n`` for ``i`` in
{valence, arousal}, ``t_i^n`` member ``n``'s validation CCC; the golden values are worked out by
hand in the comments.
"""

import json

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from holistic.models import (
    CNNRNN,
    MTVGGGRU,
    DecisionFusion,
    InputSpec,
    ModelFusion,
    build_cnn1rnn,
    build_features_backbone,
    build_timm_backbone,
    create_model,
    decision_fusion_weights,
    load_model,
    save_model,
)
from holistic.models.ensemble import MIN_CCC
from holistic.models.spec import model_tasks
from holistic.models.temporal import load_features_weights
from holistic.schema import AU_VOCABULARIES

TEMPORAL_TEST_MODELS = ["test_affwildnet", "test_cnn1rnn", "test_cnn3rnn", "test_mtvgggru"]

# name -> (timm backbone, pool2 tap index or None, FC width, GRU input groups, output units)
FULL = {
    "affwildnet_vgg16": ("vgg16", None, 4096, [["fc"]], 2),
    "affwildnet_resnet50": ("resnet50", None, 1500, [["fc"]], 2),
    "affwildnet_resnet18": ("resnet18", None, 256, [["fc"]], 2),
    "cnn1rnn_vgg16": ("vgg16", 1, 4096, [["pool2", "pool5", "fc"]], 2),
    "cnn3rnn_vgg16": ("vgg16", 1, 4096, [["pool2"], ["pool5"], ["fc"]], 2),
    "cnn1rnn_resnet18": ("resnet18", 1, 256, [["pool2", "pool5", "fc"]], 2),
    "cnn3rnn_resnet18": ("resnet18", 1, 256, [["pool2"], ["pool5"], ["fc"]], 2),
    "mtvgggru_vgg16": ("vgg16", None, 4096, [["fc"]], 2 + 7 + 17),
    "mtvgggru_resnet18": ("resnet18", None, 256, [["fc"]], 2 + 7 + 17),
}


def _clips(batch: int = 2, frames: int = 4, size: int = 32, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, frames, 3, size, size, generator=generator) * 2 - 1


def _landmarks(batch: int = 2, frames: int = 4, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, frames, 68, 2, generator=generator) * 2 - 1


def gru_parameters(inputs: int, hidden: int = 128, layers: int = 2) -> int:
    """nn.GRU's parameter count: 3 gates x (input and hidden weights + two biases) per layer."""
    first = 3 * hidden * (inputs + hidden) + 6 * hidden
    return first + (layers - 1) * (3 * hidden * 2 * hidden + 6 * hidden)


def expected_parameters(name: str, landmarks: bool = False) -> int:
    """The parameter count of a full clip variant from timm's backbone and the paper's layers."""
    import timm

    backbone, pool2, fc, groups, outputs = FULL[name]
    out_indices = (-1,) if pool2 is None else (pool2, -1)
    with torch.device("meta"):
        features = timm.create_model(backbone, features_only=True, out_indices=out_indices)
    channels = features.feature_info.channels()
    widths = {"pool5": channels[-1] + 136 * landmarks, "fc": fc}
    if pool2 is not None:
        widths["pool2"] = channels[0]
    count = sum(p.numel() for p in features.parameters())
    count += widths["pool5"] * fc + fc
    count += sum(gru_parameters(sum(widths[tap] for tap in group)) for group in groups)
    count += 128 * len(groups) * outputs + outputs
    return count


# --- architecture facts, on the full-size variants ----------------------------------------------


@pytest.mark.parametrize("name", sorted(FULL))
def test_full_variants_count_parameters_against_timm(name):
    with torch.device("meta"):
        model = create_model(name)
    assert sum(p.numel() for p in model.parameters()) == expected_parameters(name)
    assert model.backbone.pretrained_cfg["architecture"] == FULL[name][0]


@pytest.mark.parametrize("name", ["affwildnet_vgg16", "cnn3rnn_resnet18"])
def test_landmarks_widen_the_last_pool_tap(name):
    with torch.device("meta"):
        model = create_model(name, landmarks=True)
    assert model.input_spec.landmarks
    assert sum(p.numel() for p in model.parameters()) == expected_parameters(name, landmarks=True)


@pytest.mark.parametrize("name", sorted(FULL))
def test_grus_are_two_layers_of_128(name):
    with torch.device("meta"):
        model = create_model(name)
    assert len(model.rnns) == len(FULL[name][3])
    for rnn in model.rnns:
        assert isinstance(rnn, nn.GRU) and rnn.batch_first and not rnn.bidirectional
        assert (rnn.hidden_size, rnn.num_layers) == (128, 2)
        # Dropout 0.8 on the first GRU layer's output in the CNN-RNNs; none given for the others.
        assert rnn.dropout == (0.8 if name.startswith("cnn") else 0.0)
    assert model.num_features == 128 * len(FULL[name][3])
    # FC dropout 0.5 in every paper model.
    fc_dropout = [m for m in model.fc if isinstance(m, nn.Dropout)]
    assert [m.p for m in fc_dropout] == [0.5]


def test_cnn_rnn_taps_and_their_widths():
    with torch.device("meta"):
        three = create_model("cnn3rnn_vgg16")
        one = create_model("cnn1rnn_vgg16", landmarks=True)
        resnet = create_model("cnn3rnn_resnet18")
    # VGG: pool2 after the second conv block (128 channels), pool5 (512), FC 4096.
    assert three.widths == {"pool2": 128, "pool5": 512, "fc": 4096}
    assert three.rnn_inputs == (("pool2",), ("pool5",), ("fc",))
    assert [rnn.input_size for rnn in three.rnns] == [128, 512, 4096]
    assert three.num_features == 384
    # CNN-1RNN: one GRU over the concatenation; the landmarks ride on the pool5 tap.
    assert one.widths == {"pool2": 128, "pool5": 512 + 136, "fc": 4096}
    assert [rnn.input_size for rnn in one.rnns] == [128 + 648 + 4096]
    assert one.num_features == 128
    # ResNet-18: pool2 is layer1 (64 channels), pool5 layer4 (512).
    assert resnet.widths == {"pool2": 64, "pool5": 512, "fc": 256}


def test_affwildnet_and_mtvgggru_read_the_fc_layer():
    with torch.device("meta"):
        vgg = create_model("affwildnet_vgg16", landmarks=True)
        resnet50 = create_model("affwildnet_resnet50")
        mt = create_model("mtvgggru_vgg16")
    assert vgg.taps == ("pool5", "fc") and vgg.rnn_inputs == (("fc",),)
    assert vgg.fc[0].in_features == 512 + 136 and vgg.fc[0].out_features == 4096
    assert resnet50.fc[0].in_features == 2048
    assert resnet50.fc[0].out_features == 1500
    assert mt.head.out.in_features == 128 and mt.head.out.out_features == 2 + 7 + 17


def test_input_specs_follow_the_papers():
    with torch.device("meta"):
        specs = {name: create_model(name).input_spec for name in FULL}
    for name, spec in specs.items():
        assert spec.kind == "clip" and spec.image_size == 96 and not spec.landmarks
        assert spec.clip_length == (90 if name.startswith("mtvgggru") else 80), name
    for name in TEMPORAL_TEST_MODELS:
        spec = create_model(name).input_spec
        assert (spec.kind, spec.clip_length, spec.image_size) == ("clip", 4, 32)
    spec = create_model("test_cnn1rnn", clip_length=10, image_size=48, landmarks=True).input_spec
    assert (spec.clip_length, spec.image_size, spec.landmarks) == (10, 48, True)


# --- behaviour, on the tiny variants -----------------------------------------------------------


@pytest.mark.parametrize("name", ["test_affwildnet", "test_cnn1rnn", "test_cnn3rnn"])
def test_landmarks_change_the_output_when_the_model_takes_them(name):
    torch.manual_seed(0)
    model = create_model(name, landmarks=True).eval()
    x, points = _clips(), _landmarks()
    with torch.no_grad():
        first = model(x, points)["va"]
        moved = model(x, points.flip(2))["va"]
        assert not torch.allclose(first, moved)
        assert torch.equal(first, model(x, landmarks=points)["va"])
    with pytest.raises(ValueError, match="takes landmarks"):
        model(x)
    with pytest.raises(ValueError, match=r"\[B, T, 68, 2\]"):
        model(x, points[:, :3])


@pytest.mark.parametrize("name", TEMPORAL_TEST_MODELS)
def test_landmarks_are_ignored_when_the_model_does_not_take_them(name):
    model = create_model(name).eval()
    assert not model.input_spec.landmarks
    x = _clips()
    with torch.no_grad():
        without = model(x)
        given = model(x, _landmarks())
    assert all(torch.equal(without[k], given[k]) for k in without)


@pytest.mark.parametrize("name", TEMPORAL_TEST_MODELS)
def test_outputs_depend_on_earlier_frames_only(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    x = _clips(batch=1, frames=5)
    first_changed, last_changed = x.clone(), x.clone()
    first_changed[:, 0] = -first_changed[:, 0]
    last_changed[:, -1] = -last_changed[:, -1]
    with torch.no_grad():
        base = model(x)
        after_first = model(first_changed)
        after_last = model(last_changed)
    for task in base:
        # Recurrence: frame 0 reaches every later output.
        for t in range(1, 5):
            assert not torch.allclose(base[task][:, t], after_first[task][:, t]), (task, t)
        # Causality: the last frame reaches no earlier output.
        assert torch.equal(base[task][:, :-1], after_last[task][:, :-1]), task
        assert not torch.allclose(base[task][:, -1], after_last[task][:, -1]), task


def test_a_frame_is_not_an_image_model_run_per_frame():
    # The same frame repeated gives different outputs along time: the GRU state moves.
    model = create_model("test_affwildnet").eval()
    x = _clips(batch=1, frames=1).expand(1, 6, 3, 32, 32)
    with torch.no_grad():
        va = model(x)["va"][0]
    assert not torch.allclose(va[0], va[-1])


def test_bad_clip_shapes_are_refused():
    model = create_model("test_cnn3rnn")
    with pytest.raises(ValueError, match=r"\[B, T, 3, H, W\]"):
        model(torch.zeros(2, 4, 1, 32, 32))
    with pytest.raises(ValueError, match=r"T >= 1"):
        model(torch.zeros(2, 0, 3, 32, 32))


def test_per_frame_taps_and_bad_arguments():
    model = create_model("test_cnn1rnn", fc_features=8, landmarks=True).eval()
    with torch.no_grad():
        taps = model.forward_taps(torch.zeros(6, 3, 32, 32), torch.zeros(6, 68, 2))
    assert {k: tuple(v.shape) for k, v in taps.items()} == {
        "pool2": (6, 32),
        "pool5": (6, 96 + 136),
        "fc": (6, 8),
    }
    assert model.widths == {"pool2": 32, "pool5": 232, "fc": 8}
    net, channels = build_features_backbone("test_resnet", pool2_index=2)
    assert channels == [48, 96] and len(net.eval()(torch.zeros(1, 3, 32, 32))) == 2
    with pytest.raises(ValueError, match="not a timm model"):
        build_features_backbone("resnet19x")
    with pytest.raises(ValueError, match="pool2_index"):
        build_features_backbone("test_resnet", pool2_index=4)  # the last stage
    with pytest.raises(ValueError, match="pool2_index"):
        build_features_backbone("test_resnet", pool2_index=9)
    with pytest.raises(ValueError, match="sets"):
        build_features_backbone("test_resnet", features_only=False)
    with pytest.raises(ValueError, match="rnn_inputs"):
        CNNRNN(*build_features_backbone("test_resnet"), [["pool2"]], fc_features=8)
    with pytest.raises(ValueError, match="rnn_dropout"):
        build_cnn1rnn("test_resnet", fc_features=8, num_layers=1, rnn_dropout=0.8)


def test_backbone_weights_from_a_local_file(tmp_path):
    torch.manual_seed(3)
    whole, _ = build_timm_backbone("test_resnet")
    with torch.no_grad():
        for p in whole.parameters():
            p.add_(torch.randn_like(p))
    save_file(whole.state_dict(), str(tmp_path / "backbone.safetensors"))
    model = create_model("test_cnn3rnn", checkpoint_path=str(tmp_path / "backbone.safetensors"))
    reference = whole.state_dict()
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, reference[key]), key
    other, _ = build_timm_backbone("test_efficientnet")
    save_file(other.state_dict(), str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="do not fit"):
        create_model("test_affwildnet", checkpoint_path=str(tmp_path / "other.safetensors"))
    # A file of a bigger architecture holds every key the model needs, and more: refused.
    bigger = {**whole.state_dict(), "layer5.0.conv1.weight": torch.zeros(1)}
    save_file(bigger, str(tmp_path / "bigger.safetensors"))
    with pytest.raises(ValueError, match=r"unexpected \['layer5.0.conv1.weight'\]"):
        create_model("test_affwildnet", checkpoint_path=str(tmp_path / "bigger.safetensors"))
    # A classifier the backbone has no use for is dropped (a full ImageNet checkpoint).
    with_fc = {**whole.state_dict(), "fc.weight": torch.zeros(10, 96), "fc.bias": torch.zeros(10)}
    save_file(with_fc, str(tmp_path / "with_fc.safetensors"))
    model = create_model("test_affwildnet", checkpoint_path=str(tmp_path / "with_fc.safetensors"))
    assert torch.equal(model.backbone.state_dict()["conv1.0.weight"], reference["conv1.0.weight"])


def test_backbone_weights_without_the_layers_after_the_last_tap(tmp_path):
    # EfficientNet's features_only model drops conv_head and bn2: a file without them (the
    # conv layers only, like VGG-FACE's conv weights for VGG) is enough.
    torch.manual_seed(4)
    net, _ = build_features_backbone("test_efficientnet")
    state = {k: v + 1 if v.is_floating_point() else v for k, v in net.state_dict().items()}
    save_file(state, str(tmp_path / "convs.safetensors"))
    model = create_model(
        "test_cnn1rnn",
        backbone="test_efficientnet",
        checkpoint_path=str(tmp_path / "convs.safetensors"),
    )
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_features_weights_match_flattened_names():
    import timm

    # timm's features_only VGG names its layers features_0, features_3... (the whole model:
    # features.0, ...) and drops fc6/fc7; the copy matches them up. Meta tensors: no memory.
    with torch.device("meta"):
        features = timm.create_model("vgg11", features_only=True, out_indices=(1, -1))
        whole = timm.create_model("vgg11", num_classes=0)
    state = whole.state_dict()
    assert "features_0.weight" in features.state_dict() and "features.0.weight" in state
    load_features_weights(features, state, "vgg11")
    del state["features.3.weight"]
    with pytest.raises(ValueError, match=r"missing \['features_3.weight'\]"):
        load_features_weights(features, state, "vgg11")


@pytest.mark.parametrize(
    "name", ["test_mtvgggru", "test_affwildnet", "test_cnn1rnn", "test_cnn3rnn"]
)
def test_init_from_copies_a_facebehaviornet_backbone(tmp_path, name):
    torch.manual_seed(0)
    fbn = create_model("test_facebehaviornet")
    with torch.no_grad():  # trained-looking weights and BN statistics
        for p in fbn.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        fbn.train()(torch.rand(4, 3, 32, 32) * 2 - 1)
    save_model(fbn, tmp_path / "fbn")
    model = create_model(name, init_from=str(tmp_path / "fbn"))
    theirs = fbn.backbone.state_dict()
    ours = model.backbone.state_dict()
    assert set(ours) <= set(theirs)
    for key, value in ours.items():
        assert torch.equal(value, theirs[key]), key
    # The whole backbone was copied, not a default initialisation that happens to match.
    fresh = create_model(name).backbone.state_dict()
    assert not torch.equal(fresh["conv1.0.weight"], ours["conv1.0.weight"])
    # init_from is a weight source: it is not saved, and the saved model reloads without it.
    save_model(model, tmp_path / "mt")
    meta = json.loads((tmp_path / "mt" / "model.json").read_text())
    assert "init_from" not in meta["kwargs"]
    (tmp_path / "fbn" / "model.safetensors").unlink()
    again = load_model(tmp_path / "mt")
    assert torch.equal(again.backbone.state_dict()["conv1.0.weight"], ours["conv1.0.weight"])


def test_init_from_another_backbone_is_a_clear_error(tmp_path):
    save_model(create_model("test_facebehaviornet", backbone="test_efficientnet"), tmp_path)
    with pytest.raises(ValueError, match="'test_efficientnet', this model's is 'test_resnet'"):
        create_model("test_mtvgggru", init_from=str(tmp_path))


def test_mtvgggru_backbone_can_be_frozen():
    model = create_model("test_mtvgggru").train()
    # The CNN is the model's "backbone" module, as FaceBehaviorNet's: same state-dict names.
    assert all(name.startswith("backbone.") for name in model.state_dict() if "conv1.0" in name)
    model.backbone.requires_grad_(False)
    sum(v.sum() for v in model(_clips()).values()).backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(p.grad is not None for p in model.rnns.parameters())
    assert model.fc[0].weight.grad is not None


def test_mtvgggru_reset_heads_keeps_va_and_resizes():
    torch.manual_seed(0)
    model = create_model("test_mtvgggru").eval()
    x = _clips()
    with torch.no_grad():
        before = model(x)
    model.reset_heads(aus="abaw2021")
    with torch.no_grad():
        after = model(x)
    assert isinstance(model, MTVGGGRU)
    assert model.aus == AU_VOCABULARIES["abaw2021"] and after["au"].shape == (2, 4, 12)
    assert model.tasks["au"] == model.aus
    assert torch.equal(before["va"], after["va"]) and torch.equal(before["expr"], after["expr"])
    model.reset_heads(expressions=["neutral", "happiness"])
    assert model(x)["expr"].shape == (2, 4, 2)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("test_affwildnet", {"landmarks": True}),
        ("test_cnn1rnn", {}),
        ("test_cnn3rnn", {"clip_length": 6}),
        ("test_mtvgggru", {"aus": "abaw2021"}),
    ],
)
def test_save_and_load_round_trip(tmp_path, name, kwargs):
    torch.manual_seed(0)
    model = create_model(name, **kwargs)
    x = _clips()
    points = _landmarks() if model.input_spec.landmarks else None
    with torch.no_grad():  # move the BN statistics away from their initial values
        model.train()(x, points)
    save_model(model, tmp_path)
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["input"]["kind"] == "clip"
    assert meta["kwargs"]["clip_length"] == model.input_spec.clip_length
    assert meta["kwargs"]["image_size"] == 32
    loaded = load_model(tmp_path)
    assert loaded.input_spec == model.input_spec and loaded.tasks == model.tasks
    with torch.no_grad():
        first, second = model.eval()(x, points), loaded(x, points)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


# === Ensembles ==================================================================================


class ConstantVA(nn.Module):
    """A stand-in member predicting the same (valence, arousal) for every frame."""

    def __init__(self, valence: float, arousal: float) -> None:
        super().__init__()
        self.input_spec = InputSpec(kind="clip", image_size=32, clip_length=4)
        self.tasks = model_tasks()
        self.register_buffer("va", torch.tensor([valence, arousal]))

    def forward(self, x, landmarks=None):
        return {"va": self.va.expand(*x.shape[:2], 2)}


# --- Eq. 3 ---------------------------------------------------------------------------------------


def test_eq3_golden_example():
    # Members predict o^1 = (0.2, -0.4), o^2 = (0.6, 0.1) with validation CCCs
    # t^1 = (0.5, 0.2), t^2 = (0.3, 0.6):
    #   O_v = (0.5 * 0.2 + 0.3 * 0.6) / (0.5 + 0.3) = 0.28 / 0.8 = 0.35
    #   O_a = (0.2 * -0.4 + 0.6 * 0.1) / (0.2 + 0.6) = -0.02 / 0.8 = -0.025
    members = [ConstantVA(0.2, -0.4), ConstantVA(0.6, 0.1)]
    ensemble = DecisionFusion(members, [[0.5, 0.2], [0.3, 0.6]])
    va = ensemble(_clips(frames=3))["va"]
    assert va.shape == (2, 3, 2)
    assert torch.allclose(va, torch.tensor([0.35, -0.025]).expand(2, 3, 2), atol=1e-6)
    # The normalised weights t_i^n / sum_m t_i^m: 0.5/0.8, 0.3/0.8 and 0.2/0.8, 0.6/0.8.
    assert torch.allclose(ensemble.fusion_weights, torch.tensor([[0.625, 0.25], [0.375, 0.75]]))
    assert ensemble.tasks == {"va": ("valence", "arousal")}
    assert not list(ensemble.parameters())  # nothing trainable of its own


def test_eq3_with_a_member_worse_than_chance():
    # Member 3 has a negative valence CCC (-0.1): it counts as MIN_CCC, i.e. almost no weight.
    #   O_v = (0.5 * 0.2 + 0.3 * 0.6 + 1e-6 * -0.5) / (0.8 + 1e-6) = 0.35 (to 1e-6)
    #   O_a = (0.2 * -0.4 + 0.6 * 0.1 + 0.2 * 0.3) / (0.2 + 0.6 + 0.2) = 0.04 / 1.0 = 0.04
    members = [ConstantVA(0.2, -0.4), ConstantVA(0.6, 0.1), ConstantVA(-0.5, 0.3)]
    ensemble = DecisionFusion(members, [[0.5, 0.2], [0.3, 0.6], [-0.1, 0.2]])
    va = ensemble(_clips(batch=1, frames=1))["va"][0, 0]
    expected_v = (0.5 * 0.2 + 0.3 * 0.6 + MIN_CCC * -0.5) / (0.8 + MIN_CCC)
    assert va[0].item() == pytest.approx(expected_v, abs=1e-6)
    assert va[0].item() == pytest.approx(0.35, abs=1e-5)
    assert va[1].item() == pytest.approx(0.04, abs=1e-6)


def test_fusion_weights_golden_values_and_edge_cases():
    weights = decision_fusion_weights([[0.5, 0.2], [0.3, 0.6]])
    assert torch.allclose(torch.tensor(weights), torch.tensor([[0.625, 0.25], [0.375, 0.75]]))
    # A zero CCC counts as MIN_CCC as well.
    weights = decision_fusion_weights([[0.4, 0.0], [0.4, 0.5]])
    assert weights[0] == pytest.approx([0.5, MIN_CCC / (0.5 + MIN_CCC)])
    # No member better than chance on arousal: equal weights there, with a warning.
    with pytest.warns(UserWarning, match="no member has a positive arousal CCC"):
        weights = decision_fusion_weights([[0.3, -0.2], [0.1, 0.0], [0.1, -0.5]])
    assert [row[1] for row in weights] == pytest.approx([1 / 3] * 3)
    assert [row[0] for row in weights] == pytest.approx([0.6, 0.2, 0.2])


@pytest.mark.parametrize(
    "bad",
    [[], [[0.5]], [[0.5, 0.2, 0.1]], [[1.5, 0.2]], [[float("nan"), 0.2]], [["0.5", 0.2]]],
)
def test_fusion_weights_refuse_bad_cccs(bad):
    with pytest.raises(ValueError, match="CCC"):
        decision_fusion_weights(bad)


def test_registered_decision_fusion_is_eq3_of_its_members():
    torch.manual_seed(0)
    ccc = [[0.45, 0.30], [0.47, 0.33]]
    ensemble = create_model("test_decisionfusion", weights=ccc).eval()
    x = _clips()
    with torch.no_grad():
        fused = ensemble(x)["va"]
        outputs = [member(x)["va"] for member in ensemble.members]
    t = torch.tensor(ccc)
    expected = (t[0] * outputs[0] + t[1] * outputs[1]) / (t[0] + t[1])
    assert torch.allclose(fused, expected, atol=1e-6)
    with pytest.raises(ValueError, match="one \\[valence, arousal\\] pair per member"):
        create_model("test_decisionfusion", weights=[[0.5, 0.5]])


def test_decision_fusion_without_weights_averages():
    ensemble = DecisionFusion([ConstantVA(0.2, -0.4), ConstantVA(0.6, 0.1)])
    va = ensemble(_clips(batch=1, frames=1))["va"][0, 0]
    assert va.tolist() == pytest.approx([0.4, -0.15])


# --- model-level fusion --------------------------------------------------------------------------


@pytest.mark.parametrize("head", ["gru", "fc"])
def test_model_fusion_reads_the_members_features(head):
    torch.manual_seed(0)
    ensemble = create_model("test_modelfusion", head=head).eval()
    one, three = ensemble.members
    # The members' own output layers are gone: the fusion head reads their RNN features.
    assert one.head is None and three.head is None
    width = one.num_features + three.num_features
    assert width == 16 + 3 * 16
    if head == "gru":
        assert isinstance(ensemble.fusion, nn.GRU) and ensemble.fusion.input_size == width
        assert (ensemble.fusion.hidden_size, ensemble.fusion.num_layers) == (16, 1)
    else:
        assert ensemble.fusion[0].in_features == width
    x = _clips()
    with torch.no_grad():
        out = ensemble(x)
        features = ensemble.forward_features(x)
    assert features.shape == (2, 4, 16) and out["va"].shape == (2, 4, 2)
    assert torch.equal(ensemble.forward_heads(features)["va"], out["va"])


def test_model_fusion_full_variants_count_parameters():
    with torch.device("meta"):
        gru = create_model("modelfusion_gru_vgg16")
        fc = create_model("modelfusion_fc_resnet18")
    # Members without their VA output layers (F * 2 + 2), then the fusion head and Linear(128, 2).
    vgg_members = expected_parameters("cnn1rnn_vgg16") - (128 * 2 + 2)
    vgg_members += expected_parameters("cnn3rnn_vgg16") - (384 * 2 + 2)
    assert sum(p.numel() for p in gru.parameters()) == (
        vgg_members + gru_parameters(128 + 384, layers=1) + 128 * 2 + 2
    )
    resnet_members = expected_parameters("cnn1rnn_resnet18") - (128 * 2 + 2)
    resnet_members += expected_parameters("cnn3rnn_resnet18") - (384 * 2 + 2)
    assert sum(p.numel() for p in fc.parameters()) == (
        resnet_members + (512 * 128 + 128) + 128 * 2 + 2
    )
    assert gru.input_spec == create_model("test_cnn1rnn", clip_length=80, image_size=96).input_spec
    with torch.device("meta"):
        decision = create_model("decisionfusion_vgg16")
    assert sum(p.numel() for p in decision.parameters()) == (
        expected_parameters("cnn1rnn_vgg16") + expected_parameters("cnn3rnn_vgg16")
    )


# --- members: input specs, weight sources, checkpoints -----------------------------------------


@pytest.mark.parametrize("ensemble", ["test_modelfusion", "test_decisionfusion"])
def test_members_must_agree_on_their_input(ensemble):
    members = [
        {"name": "test_cnn1rnn", "kwargs": {"image_size": 48}},
        {"name": "test_cnn3rnn", "kwargs": {}},
    ]
    with pytest.raises(ValueError, match="input specs must agree.*image_size=48"):
        create_model(ensemble, members=members)
    members = [
        {"name": "test_cnn1rnn", "kwargs": {"landmarks": True}},
        {"name": "test_cnn3rnn"},
    ]
    with pytest.raises(ValueError, match="input specs must agree"):
        create_model(ensemble, members=members)
    # The ensemble's own image_size / clip_length apply to every member.
    model = create_model(ensemble, members=members[1:] * 2, image_size=48, clip_length=7)
    assert {(m.input_spec.image_size, m.input_spec.clip_length) for m in model.members} == {(48, 7)}
    assert model.input_spec == model.members[0].input_spec


def test_members_landmarks_reach_every_member():
    members = [
        {"name": "test_cnn1rnn", "kwargs": {"landmarks": True}},
        {"name": "test_affwildnet", "kwargs": {"landmarks": True}},
    ]
    ensemble = create_model("test_modelfusion", members=members).eval()
    assert ensemble.input_spec.landmarks
    points = torch.rand(2, 4, 68, 2) * 2 - 1
    with torch.no_grad():
        assert not torch.equal(ensemble(_clips(), points)["va"], ensemble(_clips(), -points)["va"])
    with pytest.raises(ValueError, match="takes landmarks"):
        ensemble(_clips())
    # The ensemble's own landmarks=True applies to every member.
    ensemble = create_model("test_decisionfusion", landmarks=True)
    assert all(member.input_spec.landmarks for member in ensemble.members)


def test_model_fusion_backbone_is_the_members_cnns():
    ensemble = create_model("test_modelfusion").train()
    assert [id(m) for m in ensemble.backbone] == [id(m.backbone) for m in ensemble.members]
    ensemble.backbone.requires_grad_(False)
    ensemble.backbone.eval()
    assert not any(m.backbone.training for m in ensemble.members)
    ensemble(_clips())["va"].sum().backward()
    assert all(p.grad is None for p in ensemble.backbone.parameters())
    assert all(p.grad is not None for p in ensemble.fusion.parameters())


@pytest.mark.parametrize(
    ("members", "match"),
    [
        ([], "non-empty list"),
        ("test_cnn1rnn", "non-empty list"),
        ([{"name": "test_cnn1rnn", "args": {}}], "expected"),
        ([{"name": "test_cnn1rnn", "kwargs": {"pretrained": True}}], "member_checkpoints"),
        ([{"name": "test_cnn1rnn", "kwargs": {"checkpoint_path": "w.pt"}}], "would be saved"),
        ([{"name": "test_facebehaviornet"}], "not a clip model"),
        ([{"name": "test_cnn1rnn_typo"}], "unknown model"),
    ],
)
def test_bad_member_descriptions(members, match):
    with pytest.raises(ValueError, match=match):
        create_model("test_modelfusion", members=members)


def test_model_fusion_refuses_an_unknown_head():
    with pytest.raises(ValueError, match="head must be one of"):
        create_model("test_modelfusion", head="lstm")


def test_model_fusion_refuses_a_clip_member_without_per_frame_features():
    with pytest.raises(ValueError, match=r"member 1 \(ConstantVA\) has no forward_features_stream"):
        ModelFusion([create_model("test_cnn1rnn"), ConstantVA(0.2, -0.4)])


def _trained_members(tmp_path):
    paths = []
    for seed, name in enumerate(["test_cnn1rnn", "test_cnn3rnn"]):
        torch.manual_seed(seed)
        member = create_model(name)
        with torch.no_grad():
            for p in member.parameters():
                p.add_(torch.randn_like(p) * 0.1)
            member.train()(_clips())
        save_model(member, tmp_path / name)
        paths.append(str(tmp_path / name))
    return paths


@pytest.mark.parametrize("ensemble_name", ["test_modelfusion", "test_decisionfusion"])
def test_members_start_from_checkpoints_and_reload_without_them(tmp_path, ensemble_name):
    paths = _trained_members(tmp_path)
    trained = [load_model(path) for path in paths]
    ensemble = create_model(ensemble_name, member_checkpoints=paths)
    for member, source in zip(ensemble.members, trained, strict=True):
        theirs = source.state_dict()
        for key, value in member.state_dict().items():
            assert torch.equal(value, theirs[key]), key
    if ensemble_name == "test_decisionfusion":
        x = _clips()
        with torch.no_grad():
            assert torch.equal(ensemble.eval().members[0](x)["va"], trained[0](x)["va"])
    save_model(ensemble, tmp_path / "ensemble")
    meta = json.loads((tmp_path / "ensemble" / "model.json").read_text())
    assert "member_checkpoints" not in meta["kwargs"]
    for path in paths:
        (tmp_path / path / "model.safetensors").unlink()
    loaded = load_model(tmp_path / "ensemble")
    x = _clips()
    with torch.no_grad():
        assert torch.equal(ensemble.eval()(x)["va"], loaded(x)["va"])


def test_member_checkpoints_of_other_models_are_refused(tmp_path):
    paths = _trained_members(tmp_path)
    with pytest.raises(ValueError, match="holds a 'test_cnn3rnn'"):
        create_model("test_modelfusion", member_checkpoints=paths[::-1])
    with pytest.raises(ValueError, match="one per member"):
        create_model("test_modelfusion", member_checkpoints=paths[:1])
    save_model(create_model("test_cnn1rnn", image_size=48), tmp_path / "other")
    with pytest.raises(ValueError, match="was trained on"):
        create_model("test_modelfusion", member_checkpoints=[str(tmp_path / "other"), paths[1]])


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("test_modelfusion", {}),
        (
            "test_modelfusion",
            {
                "head": "fc",
                "clip_length": 6,
                "members": [{"name": "test_affwildnet", "kwargs": {}}, {"name": "test_cnn3rnn"}],
            },
        ),
        ("test_decisionfusion", {"weights": [[0.4, 0.1], [0.5, 0.3]]}),
    ],
)
def test_ensembles_save_and_load_as_one_model(tmp_path, name, kwargs):
    torch.manual_seed(0)
    ensemble = create_model(name, **kwargs)
    x = _clips()
    with torch.no_grad():
        ensemble.train()(x)
    save_model(ensemble, tmp_path)
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["name"] == name and meta["tasks"] == {"va": ["valence", "arousal"]}
    # Members given to create_model are saved as given (JSON); a variant's own are its defaults.
    assert meta["kwargs"].get("members") == kwargs.get("members")
    assert meta["kwargs"]["clip_length"] == kwargs.get("clip_length", 4)
    loaded = load_model(tmp_path)
    assert loaded.input_spec == ensemble.input_spec
    names = [m.build_args["name"] for m in ensemble.members]
    assert [m.build_args["name"] for m in loaded.members] == names
    with torch.no_grad():
        assert torch.equal(ensemble.eval()(x)["va"], loaded(x)["va"])
    if name == "test_decisionfusion":
        assert torch.equal(loaded.fusion_weights, ensemble.fusion_weights)
        assert isinstance(loaded, DecisionFusion)
    else:
        assert isinstance(loaded, ModelFusion) and loaded.head_type == kwargs.get("head", "gru")


def test_ensembles_are_causal_over_time():
    torch.manual_seed(0)
    for name in ("test_modelfusion", "test_decisionfusion"):
        ensemble = create_model(name).eval()
        x = _clips(batch=1, frames=5)
        changed = x.clone()
        changed[:, -1] = -changed[:, -1]
        with torch.no_grad():
            base, after = ensemble(x)["va"], ensemble(changed)["va"]
        assert torch.equal(base[:, :-1], after[:, :-1]), name
        assert not torch.allclose(base[:, -1], after[:, -1]), name
