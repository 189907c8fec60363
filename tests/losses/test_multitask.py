import pytest
import torch

import relatedness
from holistic.losses import Coupling, LossWeights, multitask_loss
from holistic.schema import AU_VOCABULARIES, EXPRESSION_VOCABULARIES, LabelSpace

EXPRESSIONS = EXPRESSION_VOCABULARIES["basic7"]
AUS = AU_VOCABULARIES["fbn17"]


RECORDS = [
    {"va": [0.3, 0.5], "expr": "happiness"},
    {"va": [-0.2, 0.1]},
    {"expr": "sadness"},
    {"au": {"6": 1, "12": 1, "25": 1, "1": 0}},
    {"au": {"1": 1, "2": 1, "5": 1, "25": 1, "26": 1}},
    {"va": [0.1, -0.4], "expr": "neutral", "au": {"12": 0}},
]


def _batch(requires_grad=True):
    labels = LabelSpace().project_batch(RECORDS)
    torch.manual_seed(0)
    n = len(RECORDS)
    outputs = {
        "va": torch.randn(n, 2, requires_grad=requires_grad),
        "expr": torch.randn(n, 7, requires_grad=requires_grad),
        "au": torch.randn(n, 17, requires_grad=requires_grad),
    }
    return outputs, labels


@pytest.fixture(scope="module")
def coupling():
    table = relatedness.load_table("cognitive")
    return Coupling.from_table(table, EXPRESSIONS, AUS)


def test_default_is_l_mt_with_unit_weights():
    outputs, labels = _batch()
    terms = multitask_loss(outputs, labels)
    assert set(terms) == {"expr", "au", "va", "total"}
    assert terms["total"].item() == pytest.approx(
        (terms["expr"] + terms["au"] + terms["va"]).item()
    )


def test_weights_scale_and_switch_terms(coupling):
    outputs, labels = _batch()
    weights = LossWeights(expr=1, au=0.5, va=2, coann_au=0.1, dm=0.3, soft_coann=0.2)
    terms = multitask_loss(outputs, labels, weights, coupling)
    assert set(terms) == {"expr", "au", "va", "coann_au", "dm", "soft_coann", "total"}
    expected = sum(getattr(weights, k) * v for k, v in terms.items() if k != "total")
    assert terms["total"].item() == pytest.approx(expected.item())
    terms["total"].backward()
    for tensor in outputs.values():
        assert torch.isfinite(tensor.grad).all() and tensor.grad.abs().sum() > 0


def test_coupling_variants_change_the_terms(coupling):
    outputs, labels = _batch(requires_grad=False)
    weights = LossWeights(dm=1, soft_coann=1)
    main = multitask_loss(outputs, labels, weights, coupling)
    reweighted = multitask_loss(
        outputs,
        labels,
        weights,
        Coupling(
            coupling.au_given_expr, dm_reweighted=True, soft_reweighted=False, neutral_index=0
        ),
    )
    assert main["dm"].item() != pytest.approx(reweighted["dm"].item())
    assert main["soft_coann"].item() != pytest.approx(reweighted["soft_coann"].item())
    assert coupling.neutral_index == 0


def test_all_terms_finite_when_no_sample_has_labels(coupling):
    labels = LabelSpace().project_batch([{}, {}, {}])
    outputs = {
        "va": torch.zeros(3, 2, requires_grad=True),
        "expr": torch.zeros(3, 7, requires_grad=True),
        "au": torch.zeros(3, 17, requires_grad=True),
    }
    weights = LossWeights(coann_au=1, coann_expr=1, dm=1, soft_coann=1)
    terms = multitask_loss(outputs, labels, weights, coupling)
    for name, value in terms.items():
        assert torch.isfinite(value), name
    for name in ("expr", "au", "va", "coann_au", "coann_expr", "soft_coann"):
        assert terms[name].item() == 0.0, name
    terms["total"].backward()
    for tensor in outputs.values():
        assert torch.isfinite(tensor.grad).all()


def test_bad_weights_and_missing_coupling_are_clear_errors():
    outputs, labels = _batch(requires_grad=False)
    with pytest.raises(ValueError, match="no Coupling"):
        multitask_loss(outputs, labels, LossWeights(dm=1))
    with pytest.raises(ValueError, match="unknown loss weight"):
        LossWeights.from_dict({"distribution_matching": 1})
    with pytest.raises(ValueError, match=">= 0"):
        LossWeights(au=-1)
    with pytest.raises(ValueError, match="every loss weight is zero"):
        multitask_loss(outputs, labels, LossWeights(expr=0, au=0, va=0))


def test_any_subset_of_heads_trains_on_its_own_terms(coupling):
    outputs, labels = _batch()
    va_only = multitask_loss({"va": outputs["va"]}, labels)
    assert set(va_only) == {"va", "total"}
    assert torch.equal(va_only["total"], multitask_loss(outputs, labels)["va"])
    va_only["total"].backward()
    assert outputs["va"].grad is not None and outputs["expr"].grad is None
    expr_au = multitask_loss({"expr": outputs["expr"], "au": outputs["au"]}, labels)
    assert set(expr_au) == {"expr", "au", "total"}
    # Coupling needs both heads it couples; a model without them gets a clear error.
    with pytest.raises(ValueError, match="coupling losses need expression and AU outputs"):
        multitask_loss({"va": outputs["va"]}, labels, LossWeights(dm=1), coupling)
    with pytest.raises(ValueError, match=r"name no head of \['va'\]"):
        multitask_loss({"va": outputs["va"]}, labels, LossWeights(va=0))


def test_clip_batches_flatten_to_frames():
    from holistic.losses import flatten_frames

    outputs, labels = _batch()

    # The same six frames as 2 clips of 3: the loss of the flattened clips is the frame loss.
    def as_clips(tensors):
        return {k: v.reshape(2, 3, *v.shape[1:]) for k, v in tensors.items()}

    flat_outputs, flat = flatten_frames(as_clips(outputs)), flatten_frames(as_clips(labels))
    assert flat_outputs["va"].shape == (6, 2) and flat["au_mask"].shape == (6, 17)
    got = multitask_loss(flat_outputs, flat)
    want = multitask_loss(outputs, labels)
    assert all(torch.allclose(got[k], want[k]) for k in want)
