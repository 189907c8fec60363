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


def test_affect_loss_prefix_names_every_key_and_merged_dicts_keep_every_term():
    from holistic.losses import (
        critic_loss,
        generator_adv_loss,
        quadrant_loss,
        reconstruction_loss,
    )

    generator = torch.Generator().manual_seed(2)
    target = torch.rand(6, 2, generator=generator) * 2 - 1
    pred_d, pred_c = torch.rand(6, 2, generator=generator), torch.rand(6, 2, generator=generator)
    plain = affect_loss(pred_d, target)
    assert set(plain) == {"rmse", "cor", "ccc", "icc", "total"}  # default: today's keys
    afc_d = affect_loss(pred_d, target, prefix="afc_d/")
    afc_c = affect_loss(pred_c, target, prefix="afc_c/", terms=("rmse", "ccc", "icc"))
    assert set(afc_d) == {f"afc_d/{name}" for name in plain}
    assert all(afc_d[f"afc_d/{name}"].item() == plain[name].item() for name in plain)
    empty = affect_loss(pred_d, target, mask=torch.zeros(6, dtype=torch.bool), prefix="afc_d/")
    assert set(empty) == set(afc_d)

    images = torch.rand(6, 3, 4, 4, generator=generator)
    critic = lambda x: x.mean((1, 2, 3))  # noqa: E731
    parts = [
        afc_d,
        afc_c,
        critic_loss(critic, images, images.flip(0)),
        generator_adv_loss(critic(images)),
        reconstruction_loss(images, images.flip(0), direct=images),
        quadrant_loss(torch.zeros(6, 4), target),
    ]
    merged = {name: value for part in parts for name, value in part.items()}
    # 5 + 4 affect terms, adv_d, gp, adv_g, rec, rec_direct, quadrant: nothing overwritten.
    assert len(merged) == sum(len(part) for part in parts) == 15


def test_va_bin_weights_from_histograms_equal_fit():
    from holistic.schema import VAHistogram, va_bin_index

    generator = torch.Generator().manual_seed(4)
    va = (torch.rand(300, 2, generator=generator) * 2 - 1) ** 3  # skewed towards 0
    # Ends of the range and labels on bin edges (-0.8 and 0.7 land a hair short in floating point).
    va[:6] = torch.tensor(
        [[-1.0, 1.0], [1.0, -1.0], [-0.05, 0.0], [-0.8, 0.7], [0.7, -0.8], [0, 0.95]]
    )
    fitted = VABinWeights.fit(va)
    # The manifest's per-shard histograms add up to the training set's; no pass over the data.
    histogram = VAHistogram.zeros()
    for shard in va.split(97):
        histogram = histogram + VAHistogram.count(shard.numpy())
    assert histogram.total == 300
    from_counts = VABinWeights.from_histograms(
        histogram.valence,
        histogram.arousal,
        histogram.bins.low,
        histogram.bins.high,
        histogram.bins.bins_per_unit,
    )
    assert torch.equal(from_counts.weights, fitted.weights)
    assert torch.equal(from_counts(va), fitted(va))
    # Counting and lookup share one binning, in float32 and float64 alike: -0.8 is bin 2.
    edge = torch.tensor([[-0.8, 0.7]])
    assert fitted.bin_index(edge).tolist() == [[2, 17]]
    assert fitted.bin_index(edge.double()).tolist() == va_bin_index(edge.numpy()).tolist()
    assert VAHistogram.count(edge.numpy()).valence[2] == 1


def test_va_bin_weights_from_histograms_golden_and_errors():
    valence = [3, 1] + [0] * 19
    arousal = [0] * 20 + [2]
    weights = VABinWeights.from_histograms(valence, arousal)
    # Valence: 1/(3+1), 1/(1+1), 1/(0+1) over a mean of (3/4 + 1/2) / 4 = 0.3125 per label.
    assert weights.weights[:3, 0].tolist() == pytest.approx([0.8, 1.6, 3.2])
    # Arousal is normalised by its own total: its two labels in bin 20 weigh 1.
    assert weights.weights[20, 1].item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="21 bins"):
        VABinWeights.from_histograms(valence[:20], arousal)
    with pytest.raises(ValueError, match="non-negative"):
        VABinWeights.from_histograms([-1] + valence[1:], arousal)
    with pytest.raises(ValueError, match="count no label"):
        VABinWeights.from_histograms([0] * 21, arousal)
    afew = VABinWeights.from_histograms([1] * 21, [1] * 21, low=-10, high=10, bins_per_unit=1)
    assert torch.allclose(afew.weights, torch.ones(21, 2))
