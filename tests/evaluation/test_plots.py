"""Plots: each writes a valid, small PNG and rejects malformed input before drawing."""

import struct

import numpy as np
import pytest

from holistic.evaluation import (
    au_f1_bars,
    confusion_matrix_plot,
    plot_metrics,
    training_curves,
    va_scatter,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path):
    """(width, height) from the IHDR chunk; asserts the file is a PNG of plausible size."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    assert 2_000 < len(data) < 400_000  # drawn content, but small
    width, height = struct.unpack(">II", data[16:24])
    assert 200 <= width <= 2000 and 150 <= height <= 2000
    return width, height


def test_confusion_matrix_plot(tmp_path):
    classes = ["neutral", "anger", "disgust"]
    cm = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 0]])  # an empty row must not divide by zero
    path = confusion_matrix_plot(cm, classes, tmp_path / "sub" / "cm.png")
    assert path == tmp_path / "sub" / "cm.png"
    _png_size(path)
    counts = confusion_matrix_plot(cm, classes, tmp_path / "counts.png", normalize=False)
    _png_size(counts)


def test_confusion_matrix_plot_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="expected shape"):
        confusion_matrix_plot(np.zeros((3, 3)), ["a", "b"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="expected shape"):
        confusion_matrix_plot(np.zeros((2, 3)), ["a", "b"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="non-negative"):
        confusion_matrix_plot(-np.ones((2, 2)), ["a", "b"], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_au_f1_bars(tmp_path):
    path = au_f1_bars({1: 0.5, "AU2": 0.75, 12: None, 25: float("nan")}, tmp_path / "au.png")
    _png_size(path)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        au_f1_bars({1: 1.5}, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="at least one"):
        au_f1_bars({}, tmp_path / "bad.png")


def test_va_scatter(tmp_path):
    rng = np.random.default_rng(0)
    target = rng.uniform(-1, 1, size=(300, 2))
    pred = np.clip(target + rng.normal(0, 0.2, size=target.shape), -1, 1)
    width, height = _png_size(va_scatter(pred, target, tmp_path / "va.png"))
    assert width > height  # two panels side by side
    with pytest.raises(ValueError, match="equal shapes"):
        va_scatter(pred[:10], target, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="equal shapes"):
        va_scatter(pred[:, :1], target[:, :1], tmp_path / "bad.png")
    with pytest.raises(ValueError, match="finite"):
        va_scatter(np.full((3, 2), np.nan), np.zeros((3, 2)), tmp_path / "bad.png")


def test_training_curves(tmp_path):
    steps = np.arange(1, 51)
    history = {
        "loss/total": [(int(s), float(2.0 / s)) for s in steps],
        "loss/au": [(int(s), float(1.0 / s)) for s in steps],
        "loss/dm": [(1, 0.0), (10, 0.1)],  # a zero is skipped on a log axis
    }
    _png_size(training_curves(history, tmp_path / "curves.png"))
    _png_size(training_curves(history, tmp_path / "log.png", log_scale=True))
    with pytest.raises(ValueError, match="pairs"):
        training_curves({"loss": [1.0, 2.0]}, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="at least one"):
        training_curves({}, tmp_path / "bad.png")


def test_plot_metrics_draws_what_exists(tmp_path):
    metrics = {
        "all": {
            "expr": {"confusion_matrix": [[2, 1], [0, 3]]},
            "au": {"per_au_f1": {"AU1": 0.4, "AU2": 0.6}},
        }
    }
    va = (np.zeros((4, 2)), np.linspace(-1, 1, 8).reshape(4, 2))
    plots = plot_metrics(metrics, ["neutral", "anger"], tmp_path, va=va, history=None)
    assert set(plots) == {"Expression confusion matrix", "Per-AU F1", "Valence-arousal"}
    for path in plots.values():
        _png_size(path)
    # A model with a compound head (fine-tuned to compound classes) gets its own matrix.
    compound = {"all": {"compound": {"confusion_matrix": [[1, 0, 1], [0, 2, 0], [1, 0, 3]]}}}
    classes = ["happily_surprised", "sadly_fearful", "angrily_disgusted"]
    plots = plot_metrics(compound, ["neutral"], tmp_path, compounds=classes)
    assert set(plots) == {"Compound confusion matrix"}
    assert plots["Compound confusion matrix"].name == "compound_all.png"
    _png_size(plots["Compound confusion matrix"])
