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
    # Eq. 7's normaliser: the 3 co-annotated AUs (Σδ), not their weights (Σδw = 2.51).
    expected_au = -(torch.log(p[i12]) + torch.log(p[i25]) + 0.51 * torch.log(p[i6])) / 3
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


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ("printed", -0.9 * math.log(0.7)),  # 0.321, Eq. 9 as printed
        ("bernoulli", -0.9 * math.log(0.7) - 0.1 * math.log(0.3)),  # 0.442
        ("kl", 0.9 * math.log(0.9 / 0.7) + 0.1 * math.log(0.1 / 0.3)),  # 0.116
    ],
)
def test_distribution_matching_forms_on_the_worked_example(cognitive, form, expected):
    """§7.3's example, AU12 alone (q = 0.70, p = 0.9), in each form of the term."""
    probs = _expr_probs({"neutral": 0.05, "happiness": 0.70, "surprise": 0.20, "fear": 0.05})
    only_au12 = torch.zeros_like(cognitive)
    only_au12[:, au_index(12)] = (cognitive[:, au_index(12)] > 0).float()
    au_logits = torch.zeros(1, 17)
    au_logits[0, au_index(12)] = math.log(0.9 / 0.1)
    loss = distribution_matching_loss(torch.log(probs), au_logits, only_au12, form=form)["dm"]
    assert loss.item() == pytest.approx(expected, abs=1e-5)


def test_only_the_kl_form_leaves_an_au_head_that_matches_q_alone(cognitive):
    """At p = q the KL form has no gradient on the AU head; the printed form still pushes every
    AU with q < 1 down (its minimum is p = 0: what silenced the AU head), and the Bernoulli
    cross-entropy pushes p away from q towards 0 or 1."""
    probs = _expr_probs({"neutral": 0.05, "happiness": 0.70, "surprise": 0.20, "fear": 0.05})
    binary = (cognitive > 0).float()
    q = distribution_matching_target(probs, binary).clamp(0.01, 0.99)
    grads = {}
    for form in ("printed", "bernoulli", "kl"):
        au_logits = torch.logit(q).clone().requires_grad_(True)
        loss = distribution_matching_loss(torch.log(probs), au_logits, binary, eps=0.01, form=form)
        loss["dm"].backward()  # (eps: q clamped as above)
        grads[form] = au_logits.grad[0]
    related = binary.any(0)
    assert grads["kl"].abs().max().item() < 1e-6
    assert (grads["printed"][related] > 0).all()  # gradient descent lowers every related p
    i25, i4 = au_index(25), au_index(4)  # q = 0.95 and 0.05
    assert grads["bernoulli"][i25] < 0 < grads["bernoulli"][i4]  # p pushed to 1 and to 0


def test_a_coupling_refuses_unknown_options(cognitive):
    from holistic.losses import Coupling

    with pytest.raises(ValueError, match="dm_form"):
        Coupling(cognitive, dm_form="reverse")
    with pytest.raises(ValueError, match="soft_neutral"):
        Coupling(cognitive, soft_neutral="one")
    with pytest.raises(ValueError, match="soft_temperature"):
        Coupling(cognitive, soft_temperature=0.0)


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


@pytest.mark.parametrize("form", ["printed", "bernoulli", "kl"])
@pytest.mark.parametrize("au_logit", [0.0, 40.0, -40.0])
def test_distribution_matching_is_finite_for_confident_and_constant_heads(
    cognitive, form, au_logit
):
    expr_logits = torch.tensor([[0.0, 0, 0, 0, 50.0, 0, 0]] * 3, requires_grad=True)
    au_logits = torch.full((3, 17), au_logit, requires_grad=True)
    loss = distribution_matching_loss(expr_logits, au_logits, cognitive, form=form)["dm"]
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


def test_soft_co_annotation_complement_neutral_and_temperature(cognitive):
    """Neutral scores 1 - max_e s(e): 0 for a full happiness face, 1 for a face without any
    related AU; temperature 0.1 then turns a score gap of 1 into a factor e^10."""
    happy, mask = _au_labels([6, 12, 25])
    blank, _ = _au_labels([])
    au = torch.cat([happy, blank])
    options = {"neutral_index": expr_index("neutral"), "neutral_score": "complement"}
    targets, _ = soft_co_annotation_targets(au, mask.expand(2, -1), cognitive, **options)
    assert targets[0].argmax().item() == expr_index("happiness")
    assert targets[1].argmax().item() == expr_index("neutral")
    sharp, _ = soft_co_annotation_targets(
        au, mask.expand(2, -1), cognitive, temperature=0.1, **options
    )
    others = len(EXPRESSIONS) - 1  # every emotion scores 0 on the blank face
    blank_neutral = math.exp(10) / (math.exp(10) + others)
    assert sharp[1, expr_index("neutral")].item() == pytest.approx(blank_neutral, abs=1e-5)
    with_zero, _ = soft_co_annotation_targets(
        blank, mask, cognitive, temperature=0.1, neutral_index=expr_index("neutral")
    )
    assert with_zero[0].tolist() == pytest.approx([1 / 7] * 7)  # "zero": flat at any temperature


def test_soft_co_annotation_can_normalise_over_the_labelled_aus(cognitive):
    """A source without AU15 and AU11 (EmotioNet): a full sadness face shows AU1, 4, 6, 17.
    As printed the unlabelled AUs count as absent: s(sadness) = (0.6 + 1 + 0.5 + 0.67) / 4.03
    and s(anger) = (1 + 0.52) / 4.07 (AU4, AU17). Skipping them, both are 1: of anger's AUs
    this source labels only AU4 and AU17, so it cannot tell the two apart."""
    labelled = [1, 2, 4, 5, 6, 9, 12, 17, 20, 25, 26]
    au, mask = _au_labels([1, 4, 6, 17], labelled=labelled)
    happy = 0.51 / 2.51  # AU6 of happiness's {12, 25, 6}, all labelled: the same either way
    for skip, sadness, anger in ((False, 2.77 / 4.03, 1.52 / 4.07), (True, 1.0, 1.0)):
        targets, _ = soft_co_annotation_targets(au, mask, cognitive, skip_unlabelled=skip)
        log_targets = torch.log(targets[0])  # the scores, up to a constant, at temperature 1
        relative = log_targets - log_targets[expr_index("happiness")] + happy
        assert relative[expr_index("sadness")].item() == pytest.approx(sadness, abs=1e-4)
        assert relative[expr_index("anger")].item() == pytest.approx(anger, abs=1e-4)


def test_fit_soft_temperature_sharpens_when_aus_predict_the_label_and_not_otherwise(cognitive):
    """Temperature scaling: AU evidence that names the true expression gives a low temperature
    (confident targets); evidence unrelated to the labels gives a high one (flat targets)."""
    from holistic.losses import fit_soft_temperature

    rows = {"happiness": [6, 12, 25], "surprise": [1, 2, 5, 25, 26], "anger": [4, 7, 24]}
    aus, masks, labels = [], [], []
    for name, active in rows.items():
        au, mask = _au_labels(active)
        aus += [au] * 10
        masks += [mask] * 10
        labels += [expr_index(name)] * 10
    au, mask, expr = torch.cat(aus), torch.cat(masks), torch.tensor(labels)
    options = {"neutral_index": expr_index("neutral"), "neutral_score": "complement"}
    right = fit_soft_temperature(expr, au, mask, cognitive, **options)
    wrong = fit_soft_temperature(expr.roll(10), au, mask, cognitive, **options)
    assert right < 0.05 and wrong > 1.0
    with pytest.raises(ValueError, match="no sample has an AU label"):
        fit_soft_temperature(expr, au, torch.zeros_like(mask), cognitive)
