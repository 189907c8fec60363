"""Expression metrics: the metrics.md golden example, scikit-learn cross-checks, masking."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from holistic.metrics import (
    accuracy,
    afa,
    confusion_diag,
    confusion_matrix,
    e_total,
    f1_macro,
    f1_per_class,
    uar,
)

Y_TRUE = [0, 0, 1, 1, 2, 2]
Y_PRED = [0, 1, 1, 1, 2, 0]


def test_golden_example_from_metrics_md() -> None:
    np.testing.assert_allclose(f1_per_class(Y_PRED, Y_TRUE, 3), [0.5, 0.8, 2 / 3])
    assert f1_macro(Y_PRED, Y_TRUE, average="sklearn") == pytest.approx(0.656, abs=5e-4)
    assert f1_macro(Y_PRED, Y_TRUE, 8) == pytest.approx(0.246, abs=5e-4)
    assert f1_macro(Y_PRED, Y_TRUE, 8) == pytest.approx((0.5 + 0.8 + 2 / 3) / 8)
    assert f1_macro(Y_PRED, Y_TRUE, 8, zero_division=1.0) == pytest.approx(0.871, abs=5e-4)
    assert accuracy(Y_PRED, Y_TRUE) == pytest.approx(4 / 6)
    assert uar(Y_PRED, Y_TRUE, 8) == pytest.approx(0.667, abs=5e-4)
    assert confusion_diag(Y_PRED, Y_TRUE, 8) == pytest.approx(0.667, abs=5e-4)
    expected = np.zeros((8, 8), dtype=np.int64)
    expected[:3, :3] = [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    cm = confusion_matrix(Y_PRED, Y_TRUE, 8)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, expected)


def test_combined_scores() -> None:
    assert afa(0.4, 0.8) == pytest.approx(0.6)
    assert e_total(0.5, 0.8) == pytest.approx(0.67 * 0.5 + 0.33 * 0.8)


def test_uar_excludes_classes_without_true_samples() -> None:
    # Class 2 is predicted once but never true: its recall is undefined and not averaged.
    assert uar([0, 2, 1, 1], [0, 0, 1, 1], 3) == pytest.approx((0.5 + 1.0) / 2)
    assert confusion_diag([0, 2, 1, 1], [0, 0, 1, 1], 3) == pytest.approx(0.75)


def _random_labels(seed: int, k: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Labels where class k-1 never occurs and class k-2 is predicted but never true."""
    rng = np.random.default_rng(seed)
    target = rng.integers(0, k - 2, size=n)
    pred = np.where(rng.random(n) < 0.6, target, rng.integers(0, k - 1, size=n))
    return pred, target


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_sklearn_including_absent_classes(seed: int) -> None:
    k = 7
    pred, target = _random_labels(seed, k)
    labels = list(range(k))
    assert k - 1 not in np.union1d(pred, target) and k - 2 in pred and k - 2 not in target
    np.testing.assert_allclose(
        f1_per_class(pred, target, k),
        skm.f1_score(target, pred, labels=labels, average=None, zero_division=0),
    )
    assert f1_macro(pred, target, k) == pytest.approx(
        skm.f1_score(target, pred, labels=labels, average="macro", zero_division=0)
    )
    assert f1_macro(pred, target, k, zero_division=1.0) == pytest.approx(
        skm.f1_score(target, pred, labels=labels, average="macro", zero_division=1)
    )
    default = skm.f1_score(target, pred, average="macro", zero_division=0)
    assert f1_macro(pred, target, average="sklearn") == pytest.approx(default)
    assert f1_macro(pred, target, k, average="sklearn") == pytest.approx(default)
    assert f1_macro(pred, target, k, zero_division=np.nan) == pytest.approx(default)
    assert accuracy(pred, target) == pytest.approx(skm.accuracy_score(target, pred))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        balanced = skm.balanced_accuracy_score(target, pred)
    assert uar(pred, target, k) == pytest.approx(balanced)
    assert confusion_diag(pred, target, k) == pytest.approx(balanced)
    np.testing.assert_array_equal(
        confusion_matrix(pred, target, k), skm.confusion_matrix(target, pred, labels=labels)
    )


def test_scores_are_argmaxed() -> None:
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(80, 8))
    target = rng.integers(0, 8, size=80)
    labels = logits.argmax(axis=1)
    assert f1_macro(logits, target, 8) == f1_macro(labels, target, 8)
    assert accuracy(logits, target) == accuracy(labels, target)
    np.testing.assert_array_equal(
        confusion_matrix(torch.from_numpy(logits).softmax(1), target, 8),
        confusion_matrix(labels, target, 8),
    )


def test_invalid_labels_are_masked_not_counted() -> None:
    rng = np.random.default_rng(9)
    pred, target = _random_labels(9, 8, n=120)
    marked = target.copy()
    marked[rng.random(120) < 0.2] = -1
    extra = rng.random(120) > 0.1
    keep = (marked >= 0) & extra
    as_float = marked.astype(np.float64)
    as_float[as_float < 0] = np.nan  # NaN is a "no label" marker too
    for marked_target in (marked, as_float):
        assert f1_macro(pred, marked_target, 8, extra) == f1_macro(pred[keep], target[keep], 8)
        np.testing.assert_array_equal(
            f1_per_class(pred, marked_target, 8, extra), f1_per_class(pred[keep], target[keep], 8)
        )
        assert accuracy(pred, marked_target, extra) == accuracy(pred[keep], target[keep])
        assert uar(pred, marked_target, 8, extra) == uar(pred[keep], target[keep], 8)
        np.testing.assert_array_equal(
            confusion_matrix(pred, marked_target, 8, extra),
            confusion_matrix(pred[keep], target[keep], 8),
        )
    # Out-of-range codes (AffectNet's 8-10) are fine once masked, and pred there is not checked.
    codes = np.array([0, 1, 9, 10])
    assert accuracy([0, 1, 99, 5], codes, mask=codes < 8) == 1.0


def test_no_valid_samples_gives_nan() -> None:
    target = [-1, -1, -1]
    assert np.isnan(f1_macro([0, 1, 2], target, 8))
    assert np.isnan(f1_macro([0, 1, 2], target, average="sklearn"))
    assert np.isnan(f1_per_class([0, 1, 2], target, 8)).all()
    assert np.isnan(accuracy([0, 1, 2], target))
    assert np.isnan(uar([0, 1, 2], target, 8))
    assert np.isnan(confusion_diag([0, 1, 2], [0, 1, 2], 8, mask=[False] * 3))
    assert confusion_matrix([0, 1, 2], target, 8).sum() == 0


def test_torch_and_numpy_inputs_agree() -> None:
    rng = np.random.default_rng(13)
    scores = rng.normal(size=(60, 8)).astype(np.float32)
    target = rng.integers(-1, 8, size=60)
    mask = rng.random(60) > 0.2
    ts, tt, tm = torch.from_numpy(scores), torch.from_numpy(target), torch.from_numpy(mask)
    for fn in (f1_per_class, f1_macro, uar, confusion_diag, confusion_matrix):
        np.testing.assert_array_equal(fn(ts, tt, 8, tm), fn(scores, target, 8, mask))
    assert accuracy(ts, tt, tm) == accuracy(scores, target, mask)


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="target: expected class labels < num_classes=7.*7"):
        f1_macro([0, 1], [0, 7], 7)
    with pytest.raises(ValueError, match="pred: expected class labels < num_classes=7.*9"):
        f1_macro([0, 9], [0, 1], 7)
    with pytest.raises(ValueError, match="pred: expected class labels >= 0"):
        accuracy([0, -1], [0, 1])
    with pytest.raises(ValueError, match="num_classes: required"):
        f1_macro([0, 1], [0, 1])
    with pytest.raises(ValueError, match="average"):
        f1_macro([0, 1], [0, 1], 2, average="micro")
    with pytest.raises(ValueError, match=r"expected scores \[N, 8\]"):
        f1_macro(np.zeros((2, 7)), [0, 1], 8)
    with pytest.raises(ValueError, match="integer class labels"):
        accuracy([0.3, 0.9], [0, 1])  # probabilities passed as labels
    with pytest.raises(ValueError, match="N=3"):
        accuracy([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="num_classes: expected >= 1"):
        uar([0], [0], 0)
