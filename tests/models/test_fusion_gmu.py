"""The gated multimodal unit (holistic/models/fusion.py): AViGaS Eqs. 5-8 and their M-modality form.

Golden values are computed with ``math`` from hand-set weights; the training test checks the
behaviour the paper's gate analysis relies on (the gate moves to the informative modality).
"""

import math

import pytest
import torch
from torch import nn

from holistic.models.fusion import GatedMultimodalUnit, GMUOutput


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def seeded_gmu(*args, seed: int = 0, **kwargs) -> GatedMultimodalUnit:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return GatedMultimodalUnit(*args, **kwargs)


# --- shapes and parameters -----------------------------------------------------------------------


@pytest.mark.parametrize("lead", [(3,), (3, 5)], ids=["BD", "BTD"])
@pytest.mark.parametrize("in_features", [(6, 4), (6, 4, 3)], ids=["M2", "M3"])
@pytest.mark.parametrize("per_unit_gate", [True, False])
def test_shapes_and_gates_sum_to_one(lead, in_features, per_unit_gate):
    gmu = seeded_gmu(in_features, 7, per_unit_gate=per_unit_gate)
    inputs = [randn(*lead, d, seed=i) for i, d in enumerate(in_features)]
    out = gmu(inputs)
    assert isinstance(out, GMUOutput)
    gate_size = 7 if per_unit_gate else 1
    assert out.fused.shape == (*lead, 7)
    assert out.gates.shape == (*lead, len(in_features), gate_size)
    torch.testing.assert_close(out.gates.sum(dim=-2), torch.ones(*lead, gate_size))
    assert (out.gates > 0).all() and (out.fused.abs() <= 1).all()


def test_sequence_input_is_per_frame():
    gmu = seeded_gmu((6, 4), 5)
    xs = [randn(2, 3, 6, seed=1), randn(2, 3, 4, seed=2)]
    seq = gmu(xs)
    flat = gmu([x.flatten(0, 1) for x in xs])
    torch.testing.assert_close(seq.fused.flatten(0, 1), flat.fused)
    torch.testing.assert_close(seq.gates.flatten(0, 1), flat.gates)


def test_parameter_count_and_repr():
    # Two modalities (6, 4) -> 5, per-unit gate: W_1 6*5 + W_2 4*5 + W_z (10*5 + 5 bias) = 105.
    gmu = GatedMultimodalUnit((6, 4), 5, names=("visual", "audio"))
    assert count(gmu) == 30 + 20 + 55
    # Three (6, 4, 3) -> 5, one gate per sample, projection biases: 13*5 + 3*5 + (13*2 + 2) = 108.
    gmu3 = GatedMultimodalUnit((6, 4, 3), 5, per_unit_gate=False, projection_bias=True)
    assert count(gmu3) == 65 + 15 + 28
    # The literal Eqs. 5-7: no biases at all.
    assert count(GatedMultimodalUnit((6, 4), 5, gate_bias=False)) == 30 + 20 + 50
    text = repr(gmu)
    assert "in_features=(6, 4)" in text and "out_features=5" in text
    assert "gate_size=5" in text and "'audio'" in text


def test_init_draws_only_what_the_linear_layers_draw():
    torch.manual_seed(123)
    gmu = GatedMultimodalUnit((6, 4), 5)
    after_gmu = torch.random.get_rng_state()
    torch.manual_seed(123)
    layers = [nn.Linear(6, 5, bias=False), nn.Linear(4, 5, bias=False), nn.Linear(10, 5)]
    assert torch.equal(after_gmu, torch.random.get_rng_state())
    for mine, ref in zip([*gmu.projections, gmu.gate], layers, strict=True):
        assert torch.equal(mine.weight, ref.weight)


# --- the equations -------------------------------------------------------------------------------


def sigmoid(a: float) -> float:
    return 1 / (1 + math.exp(-a))


def test_two_modalities_worked_example():
    """Identity projections; W_z reads x_1[0] into unit 0 and x_2[1] into unit 1 (bias 0)."""
    gmu = GatedMultimodalUnit((2, 2), 2)
    with torch.no_grad():
        gmu.projections[0].weight.copy_(torch.eye(2))
        gmu.projections[1].weight.copy_(torch.eye(2))
        gmu.gate.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 1.0]]))
        gmu.gate.bias.zero_()
    x1, x2 = [0.5, -1.0], [2.0, 0.3]
    out = gmu([torch.tensor([x1]), torch.tensor([x2])])
    z = [sigmoid(0.5), sigmoid(0.3)]  # Eq. 5
    h1 = [math.tanh(v) for v in x1]  # Eq. 6
    h2 = [math.tanh(v) for v in x2]  # Eq. 7
    fused = [z[j] * h1[j] + (1 - z[j]) * h2[j] for j in range(2)]  # Eq. 8
    torch.testing.assert_close(out.fused, torch.tensor([fused]))
    torch.testing.assert_close(out.gates, torch.tensor([[z, [1 - z[0], 1 - z[1]]]]))


def test_two_modalities_gate_is_the_sigmoid_of_eq5():
    gmu = seeded_gmu((6, 4), 5, projection_bias=True)
    x1, x2 = randn(8, 6, seed=1), randn(8, 4, seed=2)
    out = gmu([x1, x2])
    z = torch.sigmoid(gmu.gate(torch.cat([x1, x2], dim=-1)))
    h1, h2 = torch.tanh(gmu.projections[0](x1)), torch.tanh(gmu.projections[1](x2))
    torch.testing.assert_close(out.gates[:, 0], z)
    torch.testing.assert_close(out.fused, z * h1 + (1 - z) * h2)


def test_three_modalities_worked_example():
    """Gate logits (log 2, 0) plus the fixed 0 of the last modality: gates 2/4, 1/4, 1/4."""
    gmu = GatedMultimodalUnit((2, 2, 2), 2)
    with torch.no_grad():
        for p in gmu.projections:
            p.weight.copy_(torch.eye(2))
        gmu.gate.weight.zero_()
        gmu.gate.bias.copy_(torch.tensor([math.log(2), math.log(2), 0.0, 0.0]))
    xs = [[0.5, -1.0], [2.0, 0.3], [-0.7, 1.5]]
    out = gmu([torch.tensor([x]) for x in xs])
    g = [0.5, 0.25, 0.25]
    fused = [sum(g[i] * math.tanh(xs[i][j]) for i in range(3)) for j in range(2)]
    torch.testing.assert_close(out.fused, torch.tensor([fused]))
    torch.testing.assert_close(out.gates, torch.tensor([[[0.5, 0.5], [0.25, 0.25], [0.25, 0.25]]]))


# --- missing modalities --------------------------------------------------------------------------


@pytest.mark.parametrize("per_time", [False, True], ids=["mask_B", "mask_BT"])
def test_masked_modality_gets_gate_zero(per_time):
    gmu = seeded_gmu((6, 4), 5, projection_bias=True)
    video, audio = randn(3, 4, 6, seed=1), randn(3, 4, 4, seed=2)
    has_audio = torch.tensor([False, True, True])
    if per_time:
        has_audio = has_audio[:, None].repeat(1, 4)
        has_audio[2, 1:] = False  # sample 2 loses audio after its first frame
    filled = torch.where(has_audio.reshape(3, -1, 1), audio, torch.nan)  # filler is ignored
    out = gmu([video, filled], present=[None, has_audio])
    full = gmu([video, audio])
    absent = ~has_audio.reshape(3, -1).expand(3, 4)
    assert torch.isfinite(out.fused).all()
    assert (out.gates[..., 1, :][absent] == 0).all()
    assert (out.gates[..., 0, :][absent] == 1).all()
    torch.testing.assert_close(out.fused[absent], torch.tanh(gmu.projections[0](video))[absent])
    torch.testing.assert_close(out.fused[~absent], full.fused[~absent])
    torch.testing.assert_close(out.gates.sum(dim=-2), torch.ones(3, 4, 5))


def test_masked_modality_renormalises_the_others():
    gmu = seeded_gmu((6, 4, 3), 5)
    xs = [randn(4, 6, seed=1), randn(4, 4, seed=2), torch.zeros(4, 3)]
    present = [None, None, torch.tensor([False, False, True, True])]
    out = gmu(xs, present=present)
    full = gmu(xs)  # the same zeros in the third slot: the same logits for the first two
    expected = full.gates[:2, :2] / full.gates[:2, :2].sum(dim=-2, keepdim=True)
    torch.testing.assert_close(out.gates[:2, :2], expected)
    assert (out.gates[:2, 2] == 0).all()
    torch.testing.assert_close(out.gates[2:], full.gates[2:])


def test_all_absent_sample_gives_zeros_and_finite_gradients():
    gmu = seeded_gmu((6, 4), 5, projection_bias=True)
    video = randn(3, 6, seed=1).requires_grad_()
    audio = randn(3, 4, seed=2).requires_grad_()
    present = [torch.tensor([True, False, True]), torch.tensor([False, False, True])]
    out = gmu([video, audio], present=present)
    assert (out.fused[1] == 0).all() and (out.gates[1] == 0).all()
    assert out.fused[[0, 2]].abs().sum() > 0
    out.fused.pow(2).sum().backward()
    grads = [video.grad, audio.grad, *(p.grad for p in gmu.parameters())]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert (video.grad[1] == 0).all() and (audio.grad[[0, 1]] == 0).all()
    assert gmu.gate.weight.grad.abs().sum() > 0  # sample 2 still trains the gate


# --- the gate learns which modality carries the target -------------------------------------------


@pytest.mark.parametrize("per_unit_gate", [True, False])
def test_gate_moves_to_the_informative_modality(per_unit_gate):
    """Modality 0 is noise, modality 1 determines the target, which the fused output must match.

    ``|target|`` reaches 1 only through ``h_1`` with gate near 1; the noise branch can at best be
    silenced (``W_0 -> 0``), so the gate of modality 1 has to grow.
    """
    data = torch.Generator().manual_seed(0)
    signal, noise = torch.randn(128, 4, generator=data), torch.randn(128, 4, generator=data)
    target = torch.tanh(2 * signal @ torch.randn(4, 4, generator=data))
    gmu = seeded_gmu((4, 4), 4, per_unit_gate=per_unit_gate)
    before = gmu([noise, signal]).gates[..., 1, :].mean().item()
    optimiser = torch.optim.Adam(gmu.parameters(), lr=0.05)
    for _ in range(200):
        loss = (gmu([noise, signal]).fused - target).pow(2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        out = gmu([noise, signal])
    assert abs(before - 0.5) < 0.15
    assert out.gates[..., 1, :].mean() > 0.7
    assert (out.fused - target).pow(2).mean() < 0.05


# --- bad input -----------------------------------------------------------------------------------


def test_bad_inputs_raise():
    gmu = GatedMultimodalUnit((6, 4), 5, names=("visual", "audio"))
    video, audio = torch.zeros(2, 3, 6), torch.zeros(2, 3, 4)
    with pytest.raises(ValueError, match=r"2 modalities \['visual', 'audio'\], got 1 inputs"):
        gmu([video])
    with pytest.raises(ValueError, match=r"2 modalities .* got 3 inputs"):
        gmu([video, audio, audio])
    with pytest.raises(ValueError, match=r"audio: expected features \[\.\.\., 4\], got shape"):
        gmu([video, torch.zeros(2, 3, 5)])
    with pytest.raises(ValueError, match=r"audio: leading shape \(2, 4\) differs .* \(2, 3\)"):
        gmu([video, torch.zeros(2, 4, 4)])
    with pytest.raises(ValueError, match=r"audio: leading shape \(6,\) differs"):
        gmu([video, torch.zeros(6, 4)])
    with pytest.raises(ValueError, match=r"present: expected 2 entries"):
        gmu([video, audio], present=[None])
    with pytest.raises(ValueError, match=r"present\[audio\]: expected a bool tensor"):
        gmu([video, audio], present=[None, torch.ones(2)])
    with pytest.raises(ValueError, match=r"present\[audio\]: shape \(3,\) is not a prefix"):
        gmu([video, audio], present=[None, torch.ones(3, dtype=torch.bool)])
    with pytest.raises(ValueError, match=r"present\[visual\]: shape \(2, 3, 1\) is not a prefix"):
        gmu([video, audio], present=[torch.ones(2, 3, 1, dtype=torch.bool), None])


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (((6,), 5), {}, "at least 2 modalities"),
        (((6, 0), 5), {}, "sizes must be >= 1"),
        (((6, 4), 0), {}, "sizes must be >= 1"),
        (((6, 4), 5), {"names": ("a",)}, "2 distinct names"),
        (((6, 4), 5), {"names": ("a", "a")}, "2 distinct names"),
    ],
)
def test_bad_construction_raises(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        GatedMultimodalUnit(*args, **kwargs)
