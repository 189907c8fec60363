"""The label model: occurrence/levels agree, and the samples' statistics are the relatedness table."""

import math

import numpy as np
import pytest

from holistic.schema import BASIC_EXPRESSIONS, COMPOUND_VOCABULARIES
from holistic.synth.labels import (
    AU_OCCURRENCE,
    CIRCUMPLEX,
    LABEL_AUS,
    LabelModel,
    intensity_0_5,
    occurrence,
)
from holistic.synth.types import FrameLabels
from relatedness import infer_empirical, load_table

SEED = 20240611
N_STILLS = 16000
SIGMAS = 4.5  # tolerance in binomial standard errors (120+ cells are checked)


@pytest.fixture(scope="module")
def stills():
    model = LabelModel()
    samples = model.sample_stills(np.random.default_rng(SEED), N_STILLS)
    occurring = np.array(
        [[s.au_intensity[au] >= AU_OCCURRENCE for au in LABEL_AUS] for s in samples], dtype=int
    )
    return model, samples, occurring


def _tolerance(p: float, n: int) -> float:
    return SIGMAS * math.sqrt(max(p * (1 - p), 1e-4) / n)


def test_levels_binarise_exactly_to_occurrence():
    grid = np.concatenate(
        [np.linspace(0, 1, 2001), [0.1, 0.3, 0.5, 0.7, 0.9, 0.2999999, 0.3000001]]
    )
    for value in grid:
        labels = FrameLabels("neutral", None, {au: float(value) for au in LABEL_AUS})
        levels, occurs = intensity_0_5(labels), occurrence(labels)
        for au in LABEL_AUS:
            assert (levels[au] >= 2) == bool(occurs[au]), value
            assert levels[au] == math.floor(5 * value + 0.5) or abs(5 * value % 1 - 0.5) < 1e-9


def test_missing_aus_count_as_off():
    labels = FrameLabels("neutral", None, {12: 0.8})
    assert occurrence(labels)[12] == 1 and occurrence(labels)[1] == 0
    assert intensity_0_5(labels) == {au: (4 if au == 12 else 0) for au in LABEL_AUS}


def test_every_sample_is_well_formed(stills):
    model, samples, _ = stills
    for sample in samples[:2000]:
        assert sample.compound is None and sample.expression in model.expressions
        assert set(sample.au_intensity) == set(LABEL_AUS)
        values = np.array(list(sample.au_intensity.values()))
        assert ((values == 0) | ((values >= AU_OCCURRENCE) & (values <= 1))).all()
        assert all(-1 <= x <= 1 for x in sample.va)
        for au in model.prototypical_aus(sample.expression):
            assert sample.au_intensity[au] >= AU_OCCURRENCE


def test_occurrence_given_expression_is_the_table(stills):
    model, samples, occurring = stills
    expressions = np.array([s.expression for s in samples])
    assert abs((expressions == "neutral").mean() - model.neutral_rate) < _tolerance(
        model.neutral_rate, N_STILLS
    )
    for expression in model.expressions:
        rows = occurring[expressions == expression]
        assert len(rows) > 1500
        weights = model.weights(expression)
        for j, au in enumerate(LABEL_AUS):
            expected = weights.get(au, model.spontaneous_rate)
            observed = rows[:, j].mean()
            if expected == 1.0:
                assert observed == 1.0, (expression, au)
            else:
                assert abs(observed - expected) < _tolerance(expected, len(rows)), (
                    expression,
                    au,
                    observed,
                    expected,
                )


def test_infer_empirical_recovers_the_cognitive_table(stills):
    model, samples, occurring = stills
    estimate = infer_empirical(
        [s.expression for s in samples], occurring, expressions="basic7", aus=list(LABEL_AUS)
    )
    table = load_table("cognitive")
    for i, expression in enumerate(estimate.expressions):
        weights = table.weights(expression)
        n = int(estimate.images[i])
        for j, au in enumerate(LABEL_AUS):
            p = float(estimate.probability[i, j])
            if au in weights:  # every table entry is recovered
                assert abs(p - weights[au]) <= _tolerance(weights[au], n), (expression, au, p)
            else:  # nothing else rises above the spontaneous rate
                rate = model.spontaneous_rate
                assert p <= rate + _tolerance(rate, n), (expression, au, p)
    # and thresholding the estimate gives back exactly the table's (expression, AU) pairs
    recovered = {(r.category, r.au) for r in estimate.to_table(min_probability=0.15).rows}
    assert recovered == {(r.category, r.au) for r in table.rows}


def test_neutral_has_only_spontaneous_aus(stills):
    model, samples, occurring = stills
    neutral = occurring[np.array([s.expression == "neutral" for s in samples])]
    rate = model.spontaneous_rate
    assert np.abs(neutral.mean(axis=0) - rate).max() < _tolerance(rate, len(neutral))


def test_va_follows_the_circumplex(stills):
    _, samples, _ = stills
    for expression in ("neutral", *BASIC_EXPRESSIONS):
        va = np.array([s.va for s in samples if s.expression == expression])
        centre = np.array(CIRCUMPLEX[expression])
        mean = va.mean(axis=0)
        # mean intensity is 0.75 (uniform in [0.5, 1]); neutral stays at the origin
        expected = centre * (0.75 if expression != "neutral" else 0.0)
        assert np.abs(mean - expected).max() < 0.03, (expression, mean, expected)


def test_compound_samples_use_the_compound_table():
    model = LabelModel()
    rng = np.random.default_rng(3)
    samples = model.sample_stills(rng, 600, kind="compound")
    seen = {s.compound for s in samples}
    assert seen == set(COMPOUND_VOCABULARIES["rafdb11"])
    table = load_table("compound")
    for sample in samples:
        assert sample.expression is None
        for au in table.weights(sample.compound):
            assert sample.au_intensity[au] >= AU_OCCURRENCE
    happily_surprised = [s.va for s in samples if s.compound == "happily_surprised"]
    centre = (np.array(CIRCUMPLEX["happiness"]) + np.array(CIRCUMPLEX["surprise"])) / 2
    assert np.abs(np.mean(happily_surprised, axis=0) - 0.75 * centre).max() < 0.06


def test_deterministic_for_a_seed():
    model = LabelModel()
    first = model.sample_stills(np.random.default_rng(7), 50)
    again = model.sample_stills(np.random.default_rng(7), 50)
    other = model.sample_stills(np.random.default_rng(8), 50)
    assert first == again
    assert first != other


def test_forced_category_and_intensity():
    model = LabelModel(va_noise=0.0)
    sample = model.sample_still(np.random.default_rng(0), category="sadness", intensity=1.0)
    assert sample.expression == "sadness"
    assert sample.va == pytest.approx(CIRCUMPLEX["sadness"])
    assert sample.au_intensity[4] >= 0.6 and sample.au_intensity[15] >= 0.6


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"spontaneous_rate": 0.9}, "spontaneous_rate"),
        ({"neutral_rate": -0.1}, "neutral_rate"),
        ({"va_noise": -1.0}, "va_noise"),
        ({"expressions": ("neutral", "contempt")}, "contempt"),
        ({"expressions": ("joy",)}, "joy"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LabelModel(**kwargs)


def test_bad_sampling_arguments_are_rejected():
    model = LabelModel()
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="intensity"):
        model.sample_still(rng, intensity=0.2)
    with pytest.raises(ValueError, match="kind"):
        model.sample_still(rng, kind="mixed")


def test_label_aus_are_the_aus_the_renderer_draws():
    from holistic.synth.aus import SUPPORTED_AUS

    assert LABEL_AUS == SUPPORTED_AUS
