"""Eq. 10 zero-shot compound scoring: the worked example of relatedness.md §7.5, the real RAF-DB
prototypes, the §8.9 decisions, and the metrics against chance."""

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score, f1_score

import relatedness
from holistic.evaluation import (
    compound_scores,
    emotion_components,
    predict_compounds,
    zeroshot_metrics,
)
from holistic.schema import AU_VOCABULARIES, COMPOUND_COMPONENTS, COMPOUND_VOCABULARIES

AUS = AU_VOCABULARIES["fbn17"]
BASIC7 = ("neutral", "anger", "disgust", "fear", "happiness", "sadness", "surprise")
TABLE = relatedness.load_table("compound")


def _au_probs(values: dict[int, float]) -> np.ndarray:
    row = np.zeros(len(AUS))
    for au, p in values.items():
        row[AUS.index(au)] = p
    return row[None]


def _expr_probs(values: dict[str, float]) -> np.ndarray:
    row = np.array([values.get(name, 0.0) for name in BASIC7])
    row[0] = 1.0 - row.sum()  # the rest on neutral, so the row is a distribution
    return row[None]


# The worked example of reference/relatedness.md §7.5.
EXAMPLE_AUS = {1: 0.8, 2: 0.7, 4: 0.1, 5: 0.3, 12: 0.9, 20: 0.1, 25: 0.6, 26: 0.2}
EXAMPLE_EXPR = {"happiness": 0.5, "surprise": 0.3, "fear": 0.1, "sadness": 0.05}
EXAMPLE_CLASSES = ("happily_surprised", "fearfully_surprised", "sadly_surprised")


def _example(valence: float) -> np.ndarray:
    return compound_scores(
        _au_probs(EXAMPLE_AUS),
        _expr_probs(EXAMPLE_EXPR),
        np.array([valence]),
        prototypes=TABLE.compound_prototypes(EXAMPLE_CLASSES, AUS),
        compounds=EXAMPLE_CLASSES,
        expressions=BASIC7,
    )[0]


def test_worked_example_positive_valence():
    np.testing.assert_allclose(_example(0.4), [2.550, 0.900, 0.775], atol=1e-9)


def test_worked_example_negative_valence_still_wins():
    scores = _example(-0.4)
    np.testing.assert_allclose(scores, [1.550, 0.900, 0.775], atol=1e-9)
    assert scores.argmax() == 0


def test_zero_valence_gives_no_valence_term():
    # §8.9: v / |v| is undefined at 0; the term is 0, as for negative valence.
    np.testing.assert_allclose(_example(0.0), _example(-0.4), atol=1e-12)


@pytest.mark.parametrize("compound", COMPOUND_VOCABULARIES["rafdb11"])
def test_definition_images_are_predicted_as_their_compound(compound):
    """An image with exactly the compound's prototypical AUs, half probability on each of its two
    basic components and the valence sign the compound implies is predicted as that compound,
    among the 11 RAF-DB classes with the shipped prototypes."""
    classes = COMPOUND_VOCABULARIES["rafdb11"]
    prototypes = TABLE.compound_prototypes("rafdb11", "fbn17")
    row = classes.index(compound)
    au = (prototypes[row].numpy() > 0).astype(np.float64)[None]
    expr = _expr_probs({name: 0.5 for name in COMPOUND_COMPONENTS[compound]})
    valence = np.array([0.6 if compound.startswith("happily") else -0.6])
    pred = predict_compounds(
        au, expr, valence, prototypes=prototypes, compounds=classes, expressions=BASIC7
    )
    assert classes[int(pred[0])] == compound


def test_batch_rows_are_independent_and_torch_inputs_work():
    classes = COMPOUND_VOCABULARIES["rafdb11"]
    prototypes = TABLE.compound_prototypes("rafdb11", "fbn17")
    rng = np.random.default_rng(0)
    au = rng.uniform(size=(5, len(AUS)))
    expr = rng.dirichlet(np.ones(7), size=5)
    valence = rng.uniform(-1, 1, size=5)
    kwargs = {"prototypes": prototypes, "compounds": classes, "expressions": BASIC7}
    batch = compound_scores(torch.tensor(au), torch.tensor(expr), torch.tensor(valence), **kwargs)
    assert batch.shape == (5, 11)
    for i in range(5):
        single = compound_scores(au[i : i + 1], expr[i : i + 1], valence[i : i + 1], **kwargs)
        np.testing.assert_allclose(batch[i], single[0], atol=1e-12)


def test_categories_get_the_emotion_terms_they_have():
    # §8.9: a basic emotion gets one emotion term, awed/appalled/hatred none.
    assert emotion_components("fear") == ("fear",)
    assert emotion_components("sadly_angry") == ("sadness", "anger")
    assert emotion_components("awed") == ()
    names = ("fear", "awed", "sadly_angry")
    prototypes = TABLE.compound_prototypes(names, AUS).numpy()
    au = np.zeros((1, len(AUS)))  # no AU evidence: only the emotion terms remain
    expr = _expr_probs({"fear": 0.2, "sadness": 0.3, "anger": 0.4})
    scores = compound_scores(
        au, expr, np.array([1.0]), prototypes=prototypes, compounds=names, expressions=BASIC7
    )
    np.testing.assert_allclose(scores[0], [0.2, 0.0, 0.7], atol=1e-12)


def test_valence_term_for_is_configurable():
    names = ("happily_sad", "sadly_angry")
    prototypes = TABLE.compound_prototypes(names, AUS)
    au, expr = np.zeros((1, len(AUS))), _expr_probs({})
    args = (au, expr, np.array([0.5]))
    kwargs = {"prototypes": prototypes, "compounds": names, "expressions": BASIC7}
    np.testing.assert_allclose(compound_scores(*args, **kwargs)[0], [0.0, 0.0])
    with_term = compound_scores(*args, **kwargs, valence_term_for=("happily_sad",))
    np.testing.assert_allclose(with_term[0], [1.0, 0.0])
    with pytest.raises(ValueError, match="unknown compound"):
        compound_scores(*args, **kwargs, valence_term_for=("happy_sad",))


def test_weighted_prototypes_give_a_weighted_mean():
    prototypes = np.zeros((1, len(AUS)))
    prototypes[0, AUS.index(1)] = 1.0
    prototypes[0, AUS.index(2)] = 3.0
    au = _au_probs({1: 1.0, 2: 0.0})
    scores = compound_scores(
        au,
        _expr_probs({}),
        np.array([-1.0]),
        prototypes=prototypes,
        compounds=("awed",),
        expressions=BASIC7,
    )
    np.testing.assert_allclose(scores, [[0.25]])


def test_bad_input_raises():
    classes = ("happily_surprised", "sadly_angry")
    prototypes = TABLE.compound_prototypes(classes, AUS)
    au, expr, v = np.full((2, len(AUS)), 0.5), np.full((2, 7), 1 / 7), np.zeros(2)
    kwargs = {"prototypes": prototypes, "compounds": classes, "expressions": BASIC7}
    with pytest.raises(ValueError, match="probabilities in"):
        compound_scores(au * 4, expr, v, **kwargs)  # logits, not probabilities
    with pytest.raises(ValueError, match="expr_probs"):
        compound_scores(au, expr[:1], v, **kwargs)
    with pytest.raises(ValueError, match="valence"):
        compound_scores(au, expr, np.zeros(3), **kwargs)
    with pytest.raises(ValueError, match="prototypes"):
        compound_scores(au[:, :5], expr, v, **kwargs)
    with pytest.raises(ValueError, match="empty"):
        compound_scores(au, expr, v, **{**kwargs, "prototypes": np.zeros((2, len(AUS)))})
    with pytest.raises(ValueError, match="not in the run's vocabulary"):
        compound_scores(
            au, expr[:, :4], v, **{**kwargs, "expressions": ("neutral", "anger", "fear", "sadness")}
        )


def test_zeroshot_metrics_golden_and_sklearn():
    # reference/metrics.md §2.2 golden example, as a 3-class problem.
    target = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0])
    m = zeroshot_metrics(pred, target, 3)
    assert m["n"] == 6
    assert m["f1"] == pytest.approx(0.6556, abs=1e-4)
    assert m["f1"] == pytest.approx(f1_score(target, pred, labels=[0, 1, 2], average="macro"))
    assert m["uar"] == pytest.approx(balanced_accuracy_score(target, pred))
    assert m["diag"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["chance"] == pytest.approx(1 / 3)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_constant_guess_sits_at_chance():
    target = np.repeat(np.arange(11), 4)
    m = zeroshot_metrics(np.zeros_like(target), target, 11)
    assert m["uar"] == pytest.approx(m["chance"])
    assert m["diag"] == pytest.approx(1 / 11)
