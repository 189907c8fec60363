"""infer_empirical: recover P(AU | expression) from synthetic co-annotated data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from holistic.schema import AU_VOCABULARIES, EXPRESSION_VOCABULARIES
from relatedness import EmpiricalEstimate, infer_empirical, load_table

BASIC7 = EXPRESSION_VOCABULARIES["basic7"]
FBN17 = AU_VOCABULARIES["fbn17"]
SPONTANEOUS = 0.02  # chance that an AU fires although the table does not link it to the emotion


@pytest.fixture(scope="module")
def synthetic():
    """20k co-annotated samples generated from the weighted cognitive table.

    10% of the expressions are unlabelled and 15% of the AU entries are masked; both carry
    values that would bias the estimate if they were counted.
    """
    rng = np.random.default_rng(0)
    n = 20_000
    table = load_table("cognitive").au_given_expression("basic7", "fbn17").numpy().astype(float)
    truth = table + (1.0 - table) * SPONTANEOUS  # [7, 17]
    expr = rng.integers(0, len(BASIC7), size=n)
    au = (rng.random((n, len(FBN17))) < truth[expr]).astype(np.int64)
    mask = rng.random(au.shape) >= 0.15
    au[~mask] = 1 - au[~mask]  # garbage where unlabelled
    unlabelled = rng.random(n) < 0.10
    labels = np.where(unlabelled, -1, expr)
    au[unlabelled] = 1  # garbage too
    return {"truth": truth, "expr": labels, "au": au, "mask": mask, "table": table}


@pytest.fixture(scope="module")
def estimate(synthetic) -> EmpiricalEstimate:
    return infer_empirical(synthetic["expr"], synthetic["au"], synthetic["mask"])


def test_recovers_generating_table(synthetic, estimate):
    truth = synthetic["truth"]
    assert estimate.expressions == BASIC7 and estimate.aus == FBN17
    assert estimate.probability.shape == (7, 17)
    n = estimate.labelled
    assert (n > 2000).all()
    tolerance = 5.0 * np.sqrt(truth * (1.0 - truth) / n) + 1e-12  # 5 binomial standard errors
    error = np.abs(estimate.probability - truth)
    assert (error <= tolerance).all(), np.argwhere(error > tolerance)
    # Prototypical entries (truth 1) are recovered exactly; neutral only fires spontaneously.
    assert (estimate.probability[truth == 1.0] == 1.0).all()
    assert estimate.probability[0].max() < 0.04


def test_counts_ignore_masked_aus_and_unlabelled_expressions(synthetic, estimate):
    expr, mask, au = synthetic["expr"], synthetic["mask"], synthetic["au"]
    for e in range(len(BASIC7)):
        rows = expr == e
        np.testing.assert_array_equal(estimate.labelled[e], mask[rows].sum(0))
        np.testing.assert_array_equal(estimate.active[e], (mask[rows] & (au[rows] == 1)).sum(0))
        assert estimate.images[e] == (rows & mask.any(1)).sum()
    assert estimate.num_images == (expr >= 0).sum()
    assert estimate.labelled.dtype == np.int64 and estimate.active.dtype == np.int64


def test_negative_values_are_unlabelled_like_the_mask(synthetic, estimate):
    au = synthetic["au"].copy()
    au[~synthetic["mask"]] = -1
    again = infer_empirical(synthetic["expr"], au)
    np.testing.assert_array_equal(again.labelled, estimate.labelled)
    np.testing.assert_array_equal(again.active, estimate.active)


def test_torch_and_name_inputs_match(synthetic, estimate):
    expr, au, mask = synthetic["expr"], synthetic["au"], synthetic["mask"]
    from_torch = infer_empirical(
        torch.from_numpy(expr), torch.from_numpy(au), torch.from_numpy(mask)
    )
    np.testing.assert_array_equal(from_torch.active, estimate.active)
    # Names: None and a canonical name outside the vocabulary both count as unlabelled.
    names = [BASIC7[e] if e >= 0 else (None if k % 2 else "contempt") for k, e in enumerate(expr)]
    from_names = infer_empirical(names, au, mask)
    np.testing.assert_array_equal(from_names.labelled, estimate.labelled)
    np.testing.assert_array_equal(from_names.active, estimate.active)


def test_small_example_by_hand():
    expr = ["happiness", "happiness", "sadness", None, "happiness"]
    au = [[1, 1], [0, 1], [1, 0], [1, 1], [1, -1]]
    est = infer_empirical(expr, au, aus=[12, 25], expressions=["happiness", "sadness", "neutral"])
    np.testing.assert_array_equal(est.images, [3, 1, 0])
    np.testing.assert_array_equal(est.labelled, [[3, 2], [1, 1], [0, 0]])
    np.testing.assert_array_equal(est.active, [[2, 2], [1, 0], [0, 0]])
    np.testing.assert_allclose(est.probability[:2], [[2 / 3, 1.0], [1.0, 0.0]])
    assert np.isnan(est.probability[2]).all()
    text = str(est)
    assert text.splitlines()[0].split() == ["expression", "images", "AU12", "AU25"]
    assert text.splitlines()[1].split() == ["happiness", "3", "0.67", "1.00"]
    assert text.splitlines()[3].split() == ["neutral", "0", "-", "-"]
    table = est.to_table()
    assert [(r.category, r.au, r.weight, r.note) for r in table.rows] == [
        ("happiness", 12, 0.6667, "2/3"),
        ("happiness", 25, 1.0, "2/2"),
        ("sadness", 12, 1.0, "1/1"),
    ]
    assert all(
        r.kind == "empirical" and r.source == "infer_empirical: 4 images" for r in table.rows
    )
    assert [(r.category, r.au) for r in est.to_table(min_count=2).rows] == [
        ("happiness", 12),
        ("happiness", 25),
    ]


def test_to_table_csv_round_trip(synthetic, estimate, tmp_path):
    table = estimate.to_table(min_probability=0.1, name="synthetic")
    assert table.name == "synthetic"
    assert "neutral" not in table.categories
    assert all(r.weight >= 0.1 for r in table.rows)
    path = estimate.to_csv(tmp_path / "mine.csv", min_probability=0.1)
    loaded = load_table(path)
    assert loaded.rows == table.rows
    assert loaded.comments[0].startswith("Empirical P(AU | expression) inferred")
    matrix = loaded.au_given_expression("basic7", "fbn17").numpy()
    expected = np.where(estimate.probability >= 0.1, np.round(estimate.probability, 4), 0.0)
    expected[0] = 0.0  # neutral
    np.testing.assert_allclose(matrix, expected, atol=1e-6)
    # Above the spontaneous rate, the inferred table links exactly the AUs of the generating one.
    np.testing.assert_array_equal(matrix > 0, synthetic["table"] > 0)
    # With no threshold, every labelled (e, a) with an active AU gets a row, neutral excepted.
    assert len(estimate.to_table()) == int((estimate.active[1:] > 0).sum())


def test_bad_inputs():
    au = np.zeros((3, 17), dtype=int)
    with pytest.raises(ValueError, match="index 7"):
        infer_empirical(np.array([0, 7, 1]), au)
    with pytest.raises(ValueError, match="joy"):
        infer_empirical(["happiness", "joy", None], au)
    with pytest.raises(ValueError, match=r"\[3, 17\]"):
        infer_empirical([0, 1, 2], au[:, :12])
    with pytest.raises(ValueError, match=r"\[3, 17\]"):
        infer_empirical([0, 1], au)
    bad = au.copy()
    bad[1, 9] = 2
    with pytest.raises(ValueError, match="AU12"):
        infer_empirical([0, 1, 2], bad)
    with pytest.raises(ValueError, match="dtype"):
        infer_empirical(np.array([0.0, 1.0, 2.0]), au)
    with pytest.raises(ValueError, match="au_mask"):
        infer_empirical([0, 1, 2], au, np.ones((3, 16), bool))
    with pytest.raises(ValueError, match="au_mask"):
        infer_empirical([0, 1, 2], au, np.full((3, 17), 0.5))
    est = infer_empirical([0, 1, 2], au)
    with pytest.raises(ValueError, match="min_probability"):
        est.to_table(min_probability=1.5)
    with pytest.raises(ValueError, match="min_count"):
        est.to_table(min_count=0)
