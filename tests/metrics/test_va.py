"""Regression metrics: golden values, population moments, masking, degenerate cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from holistic.metrics import ccc, icc, mean_ccc, mse, pearson, rmse

X = [1.0, 2.0, 3.0]
Y = [2.0, 4.0, 6.0]


def _reference(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Independent formulas via numpy's population covariance and correlation."""
    cov = np.cov(x, y, bias=True)
    return {
        "ccc": 2 * cov[0, 1] / (cov[0, 0] + cov[1, 1] + (x.mean() - y.mean()) ** 2),
        "icc": 2 * cov[0, 1] / (cov[0, 0] + cov[1, 1]),
        "pearson": np.corrcoef(x, y)[0, 1],
        "mse": np.mean((x - y) ** 2),
        "rmse": np.sqrt(np.mean((x - y) ** 2)),
    }


METRICS = {"ccc": ccc, "icc": icc, "pearson": pearson, "mse": mse, "rmse": rmse}


def test_golden_values_by_hand() -> None:
    # μx = 2, μy = 4, σx² = 2/3, σy² = 8/3, cov = 4/3 (population moments).
    assert ccc(X, Y) == pytest.approx((8 / 3) / (2 / 3 + 8 / 3 + 4))  # = 4/11
    assert ccc(X, Y) == pytest.approx(4 / 11)
    assert icc(X, Y) == pytest.approx(0.8)
    assert pearson(X, Y) == pytest.approx(1.0)
    assert mse(X, Y) == pytest.approx(14 / 3)
    assert rmse(X, Y) == pytest.approx(np.sqrt(14 / 3))
    assert ccc(X, X[::-1]) == pytest.approx(-1.0)


def test_population_not_sample_moments() -> None:
    # Population: σx² = 0.25, σy² = 1, cov = 0.5, Δμ² = 0.25 -> 1 / 1.5 (N - 1: 2 / 2.75).
    assert ccc([0.0, 1.0], [0.0, 2.0]) == pytest.approx(2 / 3)


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_numpy_reference_per_column(seed: int) -> None:
    rng = np.random.default_rng(seed)
    target = rng.uniform(-1, 1, size=(200, 2))
    pred = 0.6 * target + 0.2 + 0.3 * rng.normal(size=(200, 2))
    for name, fn in METRICS.items():
        values = fn(pred, target)
        assert isinstance(values, np.ndarray) and values.shape == (2,)
        for j in range(2):
            expected = _reference(pred[:, j], target[:, j])[name]
            assert values[j] == pytest.approx(expected, rel=1e-12)
            assert isinstance(fn(pred[:, j], target[:, j]), float)
    assert mean_ccc(pred, target) == pytest.approx(np.mean(ccc(pred, target)))


def test_invariances() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=100)
    assert icc(y + 0.5, y) == pytest.approx(1.0)  # ICC is blind to offsets ...
    v = np.var(y)
    assert ccc(y + 0.5, y) == pytest.approx(2 * v / (2 * v + 0.25))  # ... CCC is not
    assert pearson(3 * y - 1, y) == pytest.approx(1.0)
    mu = np.mean(y)
    assert ccc(3 * y, y) == pytest.approx(6 * v / (9 * v + v + (2 * mu) ** 2))  # scaled, too
    assert icc(y, y) == ccc(y, y) == pearson(y, y) == pytest.approx(1.0)


def test_degenerate_denominators_are_defined_and_silent() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ccc([0.1, 0.1, 0.1], [0.1, 0.1, 0.1]) == 1.0  # identical constants
        assert ccc([0.3, 0.3], [0.1, 0.1]) == 0.0  # different constants
        assert ccc([0.2, 0.2, 0.2], [0.0, 0.5, 1.0]) == 0.0  # collapsed prediction
        assert pearson([0.2, 0.2, 0.2], [0.0, 0.5, 1.0]) == 0.0
        assert pearson([0.1, 0.1], [0.1, 0.1]) == 0.0
        assert icc([0.3, 0.3], [0.1, 0.1]) == 1.0  # pred = target + c
        assert icc([0.2, 0.2, 0.2], [0.0, 0.5, 1.0]) == 0.0
        assert mse([0.3, 0.3], [0.1, 0.1]) == pytest.approx(0.04)


def test_no_valid_samples_gives_nan() -> None:
    for fn in METRICS.values():
        assert np.isnan(fn([], []))
        assert np.isnan(fn([0.1, 0.2], [0.3, 0.4], mask=[False, False]))
        assert np.isnan(fn([0.1, 0.2], [np.nan, np.nan]))
    # Only the column without labels is NaN.
    values = ccc(
        [[0.1, 0.5], [0.2, 0.6], [0.3, 0.4]], [[0.1, np.nan], [0.2, np.nan], [0.4, np.nan]]
    )
    assert np.isfinite(values[0]) and np.isnan(values[1])
    assert np.isnan(mean_ccc([[0.1, 0.5], [0.2, 0.6]], [[0.1, np.nan], [0.2, np.nan]]))


def test_invalid_labels_are_masked_not_counted() -> None:
    rng = np.random.default_rng(7)
    pred = rng.uniform(-1, 1, size=(60, 2))
    target = rng.uniform(-1, 1, size=(60, 2))
    frame_ok = rng.random(60) > 0.2
    marked = target.copy()
    marked[rng.random((60, 2)) < 0.15] = np.nan  # per-entry missing labels
    for name, fn in METRICS.items():
        got = fn(pred, marked, mask=frame_ok)
        for j in range(2):
            keep = frame_ok & ~np.isnan(marked[:, j])
            expected = fn(pred[keep, j], target[keep, j])
            assert got[j] == pytest.approx(expected, rel=1e-12), name
    # A per-entry [N, D] mask works too, and a masked entry may hold anything (even NaN pred).
    entry_mask = ~np.isnan(marked)
    wild_pred = np.where(entry_mask, pred, np.nan)
    assert np.allclose(
        ccc(wild_pred, np.nan_to_num(marked, nan=-5.0), entry_mask), ccc(pred, marked)
    )


def test_torch_and_numpy_inputs_agree() -> None:
    rng = np.random.default_rng(11)
    pred = rng.uniform(-1, 1, size=(50, 2)).astype(np.float32)
    target = rng.uniform(-1, 1, size=(50, 2)).astype(np.float32)
    mask = rng.random(50) > 0.3
    for fn in [*METRICS.values(), mean_ccc]:
        got = fn(torch.from_numpy(pred), torch.from_numpy(target), torch.from_numpy(mask))
        np.testing.assert_array_equal(got, fn(pred, target, mask))
    assert ccc(torch.tensor(X, requires_grad=True), torch.tensor(Y)) == pytest.approx(4 / 11)
    assert ccc(torch.tensor(X, dtype=torch.bfloat16), Y) == pytest.approx(4 / 11)


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="equal shapes"):
        ccc([0.1, 0.2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"\[N\] or \[N, D\]"):
        ccc(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="pred: expected finite"):
        ccc([0.1, np.nan], [0.1, 0.2])
    with pytest.raises(ValueError, match="mask: expected shape"):
        ccc([0.1, 0.2], [0.1, 0.2], mask=[True])
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        mean_ccc([0.1, 0.2], [0.1, 0.2])
    with pytest.raises(ValueError, match="expected numbers"):
        ccc(["a", "b"], [0.1, 0.2])
