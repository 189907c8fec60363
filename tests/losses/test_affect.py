import math

import numpy as np
import pytest
import torch

from holistic.losses import VABinWeights, affect_loss
from holistic.metrics import ccc, icc, pearson


def test_affect_loss_terms_match_the_metrics():
    generator = torch.Generator().manual_seed(1)
    target = torch.rand(64, 2, generator=generator) * 2 - 1
    pred = 0.5 * target + 0.2 + 0.1 * torch.randn(64, 2, generator=generator)
    terms = affect_loss(pred, target)
    x, y = pred.numpy(), target.numpy()
    assert terms["rmse"].item() == pytest.approx(
        np.mean(np.sqrt(np.mean((x - y) ** 2, 0))), abs=1e-4
    )
    assert terms["cor"].item() == pytest.approx(1 - np.mean(pearson(x, y)), abs=1e-4)
    assert terms["ccc"].item() == pytest.approx(1 - np.mean(ccc(x, y)), abs=1e-4)
    assert terms["icc"].item() == pytest.approx(1 - np.mean(icc(x, y)), abs=1e-4)
    total = sum(terms[name] for name in ("rmse", "cor", "ccc", "icc"))
    assert terms["total"].item() == pytest.approx(total.item())


def test_affect_loss_sign_convention_perfect_prediction_is_zero():
    target = torch.rand(32, 2) * 2 - 1
    terms = affect_loss(target.clone(), target)
    for name in ("rmse", "cor", "ccc", "icc"):
        assert abs(terms[name].item()) < 1e-3, name
    # An offset prediction: ICC is blind to it, CCC is not.
    shifted = affect_loss(target + 0.5, target)
    assert shifted["icc"].item() < 1e-3 < shifted["ccc"].item()


def test_affect_loss_term_selection_and_errors():
    pred, target = torch.randn(8, 2), torch.randn(8, 2)
    assert set(affect_loss(pred, target, terms=("rmse", "ccc", "icc"))) == {
        "rmse",
        "ccc",
        "icc",
        "total",
    }
    with pytest.raises(ValueError, match="subset"):
        affect_loss(pred, target, terms=("mse",))


def test_affect_loss_degenerate_batches_are_finite():
    pred = torch.zeros(6, 2, requires_grad=True)
    target = torch.rand(6, 2)
    affect_loss(pred, target)["total"].backward()
    assert torch.isfinite(pred.grad).all()
    pred = torch.randn(6, 2, requires_grad=True)
    out = affect_loss(pred, target, mask=torch.zeros(6, dtype=torch.bool))
    assert out["total"].item() == 0.0
    out["total"].backward()
    assert torch.isfinite(pred.grad).all()


def test_weighted_rmse_is_a_weighted_mean():
    pred = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    target = torch.zeros(2, 2)
    weight = torch.tensor([[1.0, 1.0], [3.0, 1.0]])
    rmse = affect_loss(pred, target, weight=weight, terms=("rmse",))["rmse"].item()
    # valence column: sqrt(3·1 / 4); arousal column: 0.
    assert rmse == pytest.approx(0.5 * math.sqrt(0.75), abs=1e-4)


def test_va_bin_weights():
    # 3 samples in valence bin of 0.05 (bin 10), 1 sample at -0.95 (bin 0); arousal all at 0.55.
    va = torch.tensor([[0.05, 0.55], [0.05, 0.55], [0.05, 0.55], [-0.95, 0.55]])
    weights = VABinWeights.fit(va)
    assert weights.num_bins == 21
    assert weights.bin_index(torch.tensor([[-1.0, 1.0], [0.05, -0.05]])).tolist() == [
        [0, 20],
        [10, 9],
    ]
    w = weights(va)
    # Inverse (count + 1): bin 10 -> 1/4, bin 0 -> 1/2; the mean over the labels is 1.
    assert w[3, 0].item() == pytest.approx(2 * w[0, 0].item())
    assert w[:, 0].mean().item() == pytest.approx(1.0) and w[:, 1].mean().item() == pytest.approx(
        1.0
    )
    # Arousal is looked up in the arousal bins, not the valence ones.
    assert torch.allclose(w[:, 1], torch.ones(4))
    with pytest.raises(ValueError, match="outside"):
        weights(torch.tensor([[-5.0, 0.0]]))


def test_va_bin_weights_on_the_afew_va_scale():
    va = torch.tensor([[-10.0, 10.0], [0.0, 3.0], [0.0, 3.0]])
    weights = VABinWeights.fit(va, low=-10, high=10, bins_per_unit=1)
    assert weights.num_bins == 21
    assert weights.bin_index(va).tolist() == [[0, 20], [10, 13], [10, 13]]
