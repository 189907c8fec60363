"""AU metrics: hand-computed values, scikit-learn cross-check, masks, threshold selection."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from holistic.metrics import (
    DEFAULT_THRESHOLD_GRID,
    au_accuracy,
    au_f1,
    au_scores,
    choose_au_thresholds,
    mean_au_f1,
)

# AU0: decisions [1, 0, 1, 0, 1] vs [1, 1, 0, 0, 1]: TP 2, FP 1, FN 1 -> F1 4/6, 3 of 5 correct.
# AU1: labelled, no positive label, no positive prediction -> F1 = zero_division, 5 of 5 correct.
# AU2: never labelled -> NaN, not counted anywhere.
PRED = np.array(
    [[0.9, 0.1, 0.8], [0.4, 0.2, 0.1], [0.6, 0.3, 0.7], [0.1, 0.4, 0.2], [0.7, 0.2, 0.9]]
)
TARGET = np.array([[1, 0, -1], [1, 0, -1], [0, 0, -1], [0, 0, -1], [1, 0, -1]])


def test_hand_computed_values() -> None:
    f1 = au_f1(PRED, TARGET)
    np.testing.assert_allclose(f1[:2], [4 / 6, 0.0])
    assert np.isnan(f1[2])
    np.testing.assert_allclose(au_f1(PRED, TARGET, zero_division=1.0)[:2], [4 / 6, 1.0])
    assert mean_au_f1(PRED, TARGET) == pytest.approx(1 / 3)
    assert au_accuracy(PRED, TARGET) == pytest.approx(8 / 10)
    scores = au_scores(PRED, TARGET)
    assert set(scores) == {"per_au_f1", "mean_f1", "accuracy", "afa"}
    assert scores["mean_f1"] == pytest.approx(1 / 3)
    assert scores["accuracy"] == pytest.approx(0.8)
    assert scores["afa"] == pytest.approx(0.5 / 3 + 0.4)


def test_thresholds_scalar_per_au_and_inclusive() -> None:
    # Per-AU thresholds: AU0 at 0.65 gives decisions [1, 0, 0, 0, 1]: TP 2, FN 1 -> F1 0.8.
    np.testing.assert_allclose(au_f1(PRED, TARGET, threshold=[0.65, 0.5, 0.5])[:2], [0.8, 0.0])
    # A probability equal to the threshold counts as active.
    assert au_f1([[0.5], [0.2]], [[1], [0]])[0] == 1.0
    # 0/1 decisions work as predictions.
    assert au_f1([[1], [0], [1]], [[1], [0], [0]])[0] == pytest.approx(2 / 3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_au_f1_matches_sklearn_with_masks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, a = 200, 6
    target = (rng.random((n, a)) < rng.uniform(0.05, 0.5, size=a)).astype(np.int64)
    pred = np.clip(0.5 * target + rng.uniform(0, 0.7, size=(n, a)), 0, 1)
    target[rng.random((n, a)) < 0.15] = -1  # unlabelled entries
    frame_mask = rng.random(n) > 0.1
    threshold = rng.uniform(0.3, 0.7, size=a)
    got = au_f1(pred, target, frame_mask, threshold)
    valid = (target >= 0) & frame_mask[:, None]
    for j in range(a):
        keep = valid[:, j]
        expected = f1_score(target[keep, j], pred[keep, j] >= threshold[j], zero_division=0)
        assert got[j] == pytest.approx(expected)
    decisions = pred >= threshold
    assert au_accuracy(pred, target, frame_mask, threshold) == pytest.approx(
        np.mean(decisions[valid] == target[valid])
    )


def test_invalid_labels_are_masked_not_counted() -> None:
    rng = np.random.default_rng(4)
    n, a = 100, 4
    target = rng.integers(0, 2, size=(n, a))
    pred = rng.random((n, a))
    bad_rows = rng.random(n) < 0.2
    marked = target.astype(np.float64)
    marked[bad_rows] = -1  # whole-row invalid, as in Aff-Wild2
    marked[~bad_rows & (rng.random(n) < 0.1), 2] = np.nan  # and a few NaN entries in AU2
    pred_at_invalid = np.where(np.isnan(marked) | (marked < 0), np.nan, pred)  # never looked at
    got = au_f1(pred_at_invalid, marked)
    for j in range(a):
        keep = ~np.isnan(marked[:, j]) & (marked[:, j] >= 0)
        assert got[j] == au_f1(pred[keep, j : j + 1], target[keep, j : j + 1])[0]
    keep_rows = ~bad_rows
    assert au_accuracy(pred, target, keep_rows) == au_accuracy(pred[keep_rows], target[keep_rows])
    assert mean_au_f1(pred, target, keep_rows) == mean_au_f1(pred[keep_rows], target[keep_rows])


def test_no_labels_gives_nan() -> None:
    empty = -np.ones((4, 3))
    assert np.isnan(au_f1(np.zeros((4, 3)), empty)).all()
    assert np.isnan(mean_au_f1(np.zeros((4, 3)), empty))
    assert np.isnan(au_accuracy(np.zeros((4, 3)), empty))


def test_choose_thresholds_finds_planted_optimum() -> None:
    n = 40
    pred = np.zeros((n, 3))
    target = np.zeros((n, 3), dtype=np.int64)
    positives = np.arange(n) % 4 == 0
    target[positives, :2] = 1
    # AU0: negatives at 0.69, positives at 0.71: only the grid point 0.70 separates them.
    pred[:, 0] = np.where(positives, 0.71, 0.69)
    # AU1: negatives at 0.2, positives at 0.3: 0.25 and 0.30 both give F1 = 1 -> closer to 0.5.
    pred[:, 1] = np.where(positives, 0.3, 0.2)
    target[:, 2] = -1  # AU2: unlabelled -> 0.5
    thresholds = choose_au_thresholds(pred, target)
    np.testing.assert_allclose(thresholds, [0.70, 0.30, 0.5])
    f1_tuned = au_f1(pred, target, threshold=thresholds)
    np.testing.assert_allclose(f1_tuned[:2], [1.0, 1.0])
    assert au_f1(pred, target)[1] < 1.0  # the default 0.5 misses every AU1 positive
    # Equidistant ties go to the smaller threshold.
    assert choose_au_thresholds([[0.9], [0.9]], [[1], [1]], grid=[0.55, 0.45])[0] == 0.45


def test_default_grid_is_kollias_protocol() -> None:
    np.testing.assert_allclose(DEFAULT_THRESHOLD_GRID, np.arange(10, 91, 5) / 100)


def test_torch_and_numpy_inputs_agree() -> None:
    rng = np.random.default_rng(8)
    pred = rng.random((50, 5)).astype(np.float32)
    target = rng.integers(-1, 2, size=(50, 5))
    mask = rng.random(50) > 0.2
    tp, tt, tm = torch.from_numpy(pred), torch.from_numpy(target), torch.from_numpy(mask)
    np.testing.assert_array_equal(au_f1(tp, tt, tm), au_f1(pred, target, mask))
    assert au_accuracy(tp, tt, tm) == au_accuracy(pred, target, mask)
    np.testing.assert_array_equal(
        choose_au_thresholds(tp, tt, tm), choose_au_thresholds(pred, target, mask)
    )
    np.testing.assert_array_equal(
        au_f1(pred, target, threshold=torch.full((5,), 0.4)), au_f1(pred, target, threshold=0.4)
    )


@pytest.mark.parametrize("marker", [9, 999, 2])
def test_unknown_label_values_raise(marker: int) -> None:
    with pytest.raises(ValueError, match=f"got {marker}"):
        au_f1([[0.2], [0.7]], [[marker], [1]])
    # Masked, the same value is never looked at.
    assert au_f1([[0.2], [0.7]], [[marker], [1]], mask=[False, True])[0] == 1.0


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="sigmoid"):
        au_f1([[2.3], [-1.0]], [[1], [0]])
    with pytest.raises(ValueError, match="pred: expected probabilities"):
        au_f1([[np.nan], [0.5]], [[1], [0]])
    with pytest.raises(ValueError, match=r"threshold: expected a float or an array \[2\]"):
        au_f1(np.zeros((3, 2)), np.zeros((3, 2)), threshold=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match=r"\[N, A\]"):
        au_f1([0.2, 0.7], [0, 1])
    with pytest.raises(ValueError, match="shape"):
        au_f1(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="grid"):
        choose_au_thresholds(np.zeros((3, 2)), np.zeros((3, 2)), grid=[])
