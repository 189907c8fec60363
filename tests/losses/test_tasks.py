import math

import numpy as np
import pytest
import torch

from holistic.losses import ccc_loss, masked_bce, masked_cross_entropy
from holistic.metrics import ccc


def _finite_grads(loss, *tensors):
    loss.backward()
    for tensor in tensors:
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all()


def test_ccc_loss_golden_value():
    # Valence: x = [1, 2, 3], y = [1, 2, 5]: mx 2, my 8/3, var_x 2/3, var_y 26/9, cov 4/3.
    # CCC = 2·(4/3) / (2/3 + 26/9 + 4/9) = (8/3) / 4 = 2/3. Arousal: perfect -> CCC 1.
    pred = torch.tensor([[1.0, 0.1], [2.0, 0.2], [3.0, 0.3]])
    target = torch.tensor([[1.0, 0.1], [2.0, 0.2], [5.0, 0.3]])
    loss = ccc_loss(pred, target)["va"]
    assert loss.item() == pytest.approx(1 - 0.5 * (2 / 3 + 1), abs=1e-6)


def test_ccc_loss_matches_the_metric_and_respects_the_mask():
    generator = torch.Generator().manual_seed(0)
    pred, target = torch.randn(50, 2, generator=generator), torch.randn(50, 2, generator=generator)
    mask = torch.rand(50, generator=generator) > 0.3
    target_with_markers = target.clone()
    target_with_markers[~mask] = -5.0  # invalid markers must not count
    loss = ccc_loss(pred, target_with_markers, mask)["va"]
    expected = 1 - np.mean(ccc(pred[mask].numpy(), target[mask].numpy()))
    assert loss.item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize(
    "case", ["constant_predictions", "single_sample", "no_labels", "all_constant"]
)
def test_ccc_loss_is_finite_on_degenerate_batches(case):
    pred = torch.randn(8, 2, requires_grad=True)
    target, mask = torch.rand(8, 2) * 2 - 1, torch.ones(8, dtype=torch.bool)
    if case == "constant_predictions":
        pred = torch.zeros(8, 2, requires_grad=True)
    elif case == "single_sample":
        mask[1:] = False
    elif case == "no_labels":
        mask[:] = False
    else:
        pred, target = torch.zeros(8, 2, requires_grad=True), torch.zeros(8, 2)
    loss = ccc_loss(pred, target, mask)["va"]
    assert torch.isfinite(loss)
    if case == "no_labels":
        assert loss.item() == 0.0
    _finite_grads(loss, pred)


def test_masked_cross_entropy_averages_over_valid_samples_only():
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0], [5.0, -5.0]], requires_grad=True)
    target = torch.tensor([0, 1, -1])  # the invalid marker sits under a False mask
    mask = torch.tensor([True, True, False])
    loss = masked_cross_entropy(logits, target, mask)["expr"]
    expected = (math.log(1 + math.exp(-2.0)) + math.log(2.0)) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    loss.backward()
    assert logits.grad[2].abs().sum() == 0


def test_masked_cross_entropy_without_labels_is_a_connected_zero():
    logits = torch.randn(4, 7, requires_grad=True)
    loss = masked_cross_entropy(logits, torch.zeros(4), torch.zeros(4, dtype=torch.bool))["expr"]
    assert loss.item() == 0.0 and loss.requires_grad
    _finite_grads(loss, logits)


def test_masked_cross_entropy_rejects_a_valid_out_of_range_target():
    with pytest.raises(ValueError, match="outside"):
        masked_cross_entropy(torch.zeros(2, 7), torch.tensor([0, 7]))


def test_masked_bce_is_equation_7():
    # Sample 0 labels AUs 0 and 1, sample 1 labels AU 2 only, sample 2 labels nothing.
    p = torch.tensor([[0.8, 0.3, 0.5], [0.5, 0.5, 0.9], [0.1, 0.1, 0.1]])
    y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    delta = torch.tensor([[1, 1, 0], [0, 0, 1], [0, 0, 0]], dtype=torch.bool)
    loss = masked_bce(torch.logit(p), y, delta)["au"]
    sample0 = -(math.log(0.8) + math.log(0.7)) / 2
    sample1 = -math.log(0.9)
    assert loss.item() == pytest.approx((sample0 + sample1) / 2, abs=1e-6)


def test_masked_bce_weights_scale_terms_and_keep_eq7_normaliser():
    """Eq. 7 divides by Σδ (the labelled AUs); a weight w scales its AU's term, and the
    normaliser stays Σδ = 2, not Σδw = 1.5."""
    p = torch.tensor([[0.8, 0.4]])
    loss = masked_bce(torch.logit(p), torch.ones(1, 2), weight=torch.tensor([[1.0, 0.5]]))["au"]
    expected = -(math.log(0.8) + 0.5 * math.log(0.4)) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_masked_bce_with_no_labelled_au_is_a_connected_zero():
    logits = torch.randn(3, 17, requires_grad=True)
    loss = masked_bce(logits, torch.ones(3, 17), torch.zeros(3, 17, dtype=torch.bool))["au"]
    assert loss.item() == 0.0
    _finite_grads(loss, logits)


def test_masked_bce_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        masked_bce(torch.zeros(2, 17), torch.zeros(2, 12))
