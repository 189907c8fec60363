import math

import pytest
import torch

from holistic.losses import (
    co_annotate,
    co_annotation_loss,
    distribution_matching_loss,
    distribution_matching_target,
    soft_co_annotation_loss,
    soft_co_annotation_targets,
)
from holistic.schema import AU_VOCABULARIES, EXPRESSION_VOCABULARIES

EXPRESSIONS = EXPRESSION_VOCABULARIES["basic7"]
AUS = AU_VOCABULARIES["fbn17"]


def expr_index(name: str) -> int:
    return EXPRESSIONS.index(name)


def au_index(au: int) -> int:
    return AUS.index(au)


def _au_labels(active, labelled=AUS):
    au = torch.zeros(1, len(AUS))
    mask = torch.zeros(1, len(AUS), dtype=torch.bool)
    for a in labelled:
        mask[0, au_index(a)] = True
    for a in active:
        au[0, au_index(a)] = 1.0
    return au, mask


def _expr_probs(probs: dict[str, float]) -> torch.Tensor:
    p = torch.zeros(1, len(EXPRESSIONS))
    for name, value in probs.items():
        p[0, expr_index(name)] = value
    return p


# --- co-annotation ------------------------------------------------------------------------------


def test_emotion_to_au_co_annotation_sadness(cognitive):
    """relatedness.md §7.2: sadness -> {4, 15, 1, 6, 11, 17} with weights {1, 1, .6, .5, .26, .67}."""
    au, au_mask = torch.zeros(1, 17), torch.zeros(1, 17, dtype=torch.bool)
    co = co_annotate(
        torch.tensor([expr_index("sadness")]), torch.tensor([True]), au, au_mask, cognitive
    )
    derived = {AUS[i]: co.au_weight[0, i].item() for i in torch.nonzero(co.au_mask[0]).flatten()}
    assert derived == pytest.approx({4: 1, 15: 1, 1: 0.6, 6: 0.5, 11: 0.26, 17: 0.67})
    assert (co.au[co.au_mask] == 1).all()
    assert not co.expr_mask.any()


def test_emotion_to_au_keeps_real_labels_and_neutral_derives_nothing(cognitive):
    au, au_mask = _au_labels(active=[], labelled=[12])  # the source says AU12 is off
    co = co_annotate(
        torch.tensor([expr_index("happiness"), expr_index("neutral")]),
        torch.tensor([True, True]),
        au.repeat(2, 1),
        au_mask.repeat(2, 1),
        cognitive,
    )
    derived0 = {AUS[i] for i in torch.nonzero(co.au_mask[0]).flatten()}
    assert derived0 == {25, 6}  # AU12 keeps its real label
    assert not co.au_mask[1].any()


@pytest.mark.parametrize(
    ("active", "expected"),
    [
        ([1, 2, 5, 25, 26], "surprise"),  # relatedness.md §7.2 example 1
        ([1, 2, 4, 5, 20, 25, 26], "fear"),  # example 2: fear needs 7 AUs, surprise 5
        ([6, 12, 25], "happiness"),
        ([12, 25], None),  # happiness also needs its observational AU6
        ([], None),  # no rule for neutral
    ],
)
def test_au_to_emotion_co_annotation(cognitive, active, expected):
    au, au_mask = _au_labels(active)
    co = co_annotate(torch.tensor([0]), torch.tensor([False]), au, au_mask, cognitive)
    if expected is None:
        assert not co.expr_mask[0]
    else:
        assert co.expr_mask[0] and EXPRESSIONS[co.expr[0]] == expected


def test_au_to_emotion_strict_and_lenient(cognitive):
    # EmotioNet-like source: AU7, 10, 15, 23, 24 unlabelled. Happiness AUs all labelled and on.
    labelled = [1, 2, 4, 5, 6, 9, 12, 17, 20, 25, 26]
    au, au_mask = _au_labels([6, 12, 25], labelled)
    strict = co_annotate(torch.tensor([0]), torch.tensor([False]), au, au_mask, cognitive)
    assert EXPRESSIONS[strict.expr[0]] == "happiness"
    # Sadness needs AU15 and AU11, which this source never labels: strict blocks it ...
    au, au_mask = _au_labels([1, 4, 6, 17], labelled)
    strict = co_annotate(torch.tensor([0]), torch.tensor([False]), au, au_mask, cognitive)
    assert not strict.expr_mask[0]
    # ... the lenient rule skips unlabelled AUs.
    lenient = co_annotate(
        torch.tensor([0]), torch.tensor([False]), au, au_mask, cognitive, strict=False
    )
    assert lenient.expr_mask[0] and EXPRESSIONS[lenient.expr[0]] == "sadness"


def test_au_to_emotion_never_overrides_a_real_expression(cognitive):
    au, au_mask = _au_labels([6, 12, 25])
    co = co_annotate(
        torch.tensor([expr_index("anger")]), torch.tensor([True]), au, au_mask, cognitive
    )
    assert not co.expr_mask[0]


def test_co_annotation_loss_terms(cognitive):
    expr_logits = torch.randn(2, 7, requires_grad=True)
    au_logits = torch.randn(2, 17, requires_grad=True)
    au, au_mask = _au_labels([1, 2, 5, 25, 26])
    co = co_annotate(
        torch.tensor([expr_index("happiness"), 0]),
        torch.tensor([True, False]),
        torch.cat([torch.zeros(1, 17), au]),
        torch.cat([torch.zeros(1, 17, dtype=torch.bool), au_mask]),
        cognitive,
    )
    terms = co_annotation_loss(expr_logits, au_logits, co)
    assert set(terms) == {"coann_au", "coann_expr"}
    p = torch.sigmoid(au_logits[0]).detach()
    i6, i12, i25 = au_index(6), au_index(12), au_index(25)
    expected_au = -(torch.log(p[i12]) + torch.log(p[i25]) + 0.51 * torch.log(p[i6])) / 2.51
    assert terms["coann_au"].item() == pytest.approx(expected_au.item(), abs=1e-5)
    expected_expr = -torch.log_softmax(expr_logits[1], -1)[expr_index("surprise")]
    assert terms["coann_expr"].item() == pytest.approx(expected_expr.item(), abs=1e-5)
    sum(terms.values()).backward()
    assert torch.isfinite(expr_logits.grad).all() and torch.isfinite(au_logits.grad).all()


# --- distribution matching ------------------------------------------------------------------------


def test_q_au2_is_p_surprise_plus_p_fear(cognitive):
    """The paper's example: AU2 is prototypical for surprise, observational for fear."""
    probs = torch.softmax(torch.randn(5, 7), -1)
    binary = (cognitive > 0).float()
    q = distribution_matching_target(probs, binary)
    expected = probs[:, expr_index("surprise")] + probs[:, expr_index("fear")]
    torch.testing.assert_close(q[:, au_index(2)], expected)
    # p(happiness) = 1 -> q(AU12) = q(AU25) = q(AU6) = 1 and 0 elsewhere.
    q_happy = distribution_matching_target(_expr_probs({"happiness": 1.0}), binary)[0]
    on = {AUS[i] for i in torch.nonzero(q_happy).flatten()}
    assert on == {6, 12, 25} and (q_happy[q_happy > 0] == 1).all()


def test_distribution_matching_worked_example(cognitive):
    """relatedness.md §7.3 worked example."""
    probs = _expr_probs({"neutral": 0.05, "happiness": 0.70, "surprise": 0.20, "fear": 0.05})
    binary = (cognitive > 0).float()
    q = distribution_matching_target(probs, binary)[0]
    expected = {25: 0.95, 6: 0.70, 12: 0.70, 1: 0.25, 2: 0.25, 5: 0.25, 26: 0.25, 4: 0.05, 20: 0.05}
    for au in AUS:
        assert q[au_index(au)].item() == pytest.approx(expected.get(au, 0.0), abs=1e-6), au
    # Re-weighted variant: q(AU6) = 0.51 · 0.70.
    assert distribution_matching_target(probs, cognitive)[0, au_index(6)].item() == pytest.approx(
        0.357, abs=1e-6
    )
    expr_logits = torch.log(probs)

    def only(au, p):
        logits = torch.full((1, 17), -float("inf"))
        logits[0, au_index(au)] = math.log(p / (1 - p))
        return distribution_matching_loss(expr_logits, logits, binary, eps=1e-6)["dm"].item()

    assert only(12, 0.9) == pytest.approx(-0.9 * math.log(0.70), abs=1e-5)  # 0.321
    assert only(7, 0.1) == pytest.approx(0.1 * -math.log(1e-6), abs=1e-4)  # 1.38, clamped


def test_distribution_matching_gradient_routing(cognitive):
    for gradient, (expr_grad, au_grad) in {
        "both": (True, True),
        "au": (False, True),
        "expr": (True, False),
    }.items():
        expr_logits = torch.randn(4, 7, requires_grad=True)
        au_logits = torch.randn(4, 17, requires_grad=True)
        distribution_matching_loss(expr_logits, au_logits, cognitive, gradient=gradient)[
            "dm"
        ].backward()
        assert (expr_logits.grad is not None and expr_logits.grad.abs().sum() > 0) == expr_grad
        assert (au_logits.grad is not None and au_logits.grad.abs().sum() > 0) == au_grad


def test_distribution_matching_ignores_aus_no_emotion_relates(cognitive):
    """Under a vocabulary with an AU no row names (AU14), that AU adds nothing."""
    table = torch.cat([cognitive, torch.zeros(7, 1)], dim=1)  # an 18th, unrelated AU
    expr_logits, au_logits = torch.randn(3, 7), torch.randn(3, 17)
    with_extra = torch.cat([au_logits, torch.full((3, 1), 5.0)], dim=1)
    a = distribution_matching_loss(expr_logits, au_logits, cognitive)["dm"]
    b = distribution_matching_loss(expr_logits, with_extra, table)["dm"]
    assert a.item() == pytest.approx(b.item(), abs=1e-6)


def test_distribution_matching_is_finite_for_confident_and_constant_heads(cognitive):
    expr_logits = torch.tensor([[0.0, 0, 0, 0, 50.0, 0, 0]] * 3, requires_grad=True)
    au_logits = torch.zeros(3, 17, requires_grad=True)
    loss = distribution_matching_loss(expr_logits, au_logits, cognitive, negative_term=True)["dm"]
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(expr_logits.grad).all() and torch.isfinite(au_logits.grad).all()


# --- soft co-annotation ---------------------------------------------------------------------------

SOFT_6 = {"happiness": 0.328, "sadness": 0.137, "fear": 0.145, "anger": 0.121,
          "surprise": 0.150, "disgust": 0.121}  # fmt: skip
SOFT_7 = {"happiness": 0.293, "sadness": 0.122, "fear": 0.129, "anger": 0.108,
          "surprise": 0.133, "disgust": 0.108, "neutral": 0.108}  # fmt: skip


@pytest.mark.parametrize(("neutral_index", "expected"), [(None, SOFT_6), (0, SOFT_7)])
def test_soft_co_annotation_worked_example(cognitive, neutral_index, expected):
    """relatedness.md §7.4: AU6, AU12, AU25 on; s(happiness) = (1 + 1 + 0.51)/2.51 = 1."""
    au, au_mask = _au_labels([6, 12, 25])
    targets, valid = soft_co_annotation_targets(au, au_mask, cognitive, neutral_index=neutral_index)
    assert valid.tolist() == [True]
    got = {name: targets[0, expr_index(name)].item() for name in EXPRESSIONS}
    for name in EXPRESSIONS:
        assert got[name] == pytest.approx(expected.get(name, 0.0), abs=1e-3), name


def test_soft_co_annotation_happiness_score_formula(cognitive):
    """s(happiness) = (y12 + y25 + 0.51·y6) / 2.51; with only AU6 on it is 0.51 / 2.51."""
    au, au_mask = _au_labels([6])
    targets, _ = soft_co_annotation_targets(au, au_mask, cognitive, temperature=1e-3)
    # A near-zero temperature turns the softmax into an argmax over the scores: s(happiness) =
    # 0.51/2.51 = 0.203 beats s(sadness) = 0.5/4.03 = 0.124.
    assert targets[0].argmax().item() == expr_index("happiness")
    unweighted, _ = soft_co_annotation_targets(
        au, au_mask, (cognitive > 0).float(), temperature=1e-3
    )
    # Without re-weighting: happiness 1/3 vs sadness 1/6.
    assert unweighted[0].argmax().item() == expr_index("happiness")


def test_soft_co_annotation_loss_value_and_masking(cognitive):
    expr_logits = torch.randn(2, 7, requires_grad=True)
    au, au_mask = _au_labels([6, 12, 25])
    au = torch.cat([au, torch.zeros(1, 17)])
    au_mask = torch.cat([au_mask, torch.zeros(1, 17, dtype=torch.bool)])  # sample 1: no AU labels
    loss = soft_co_annotation_loss(expr_logits, au, au_mask, cognitive, neutral_index=0)
    targets, _ = soft_co_annotation_targets(au[:1], au_mask[:1], cognitive, neutral_index=0)
    expected = -(targets[0] * torch.log_softmax(expr_logits[0], -1)).sum()
    assert loss["soft_coann"].item() == pytest.approx(expected.item(), abs=1e-6)
    loss["soft_coann"].backward()
    assert expr_logits.grad[1].abs().sum() == 0


def test_soft_co_annotation_without_au_labels_is_a_connected_zero(cognitive):
    expr_logits = torch.randn(3, 7, requires_grad=True)
    loss = soft_co_annotation_loss(
        expr_logits, torch.zeros(3, 17), torch.zeros(3, 17, dtype=torch.bool), cognitive
    )["soft_coann"]
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(expr_logits.grad).all()
