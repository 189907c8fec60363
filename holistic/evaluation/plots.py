"""Evaluation plots as small PNGs: confusion matrix, per-AU F1 bars, VA scatter, training curves.

matplotlib is imported lazily (inside each function) with the non-interactive Agg backend, so
``import holistic.evaluation`` stays cheap and plotting works on headless machines. Every function
checks its input before drawing, writes one PNG at about 100 dpi and returns its path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from holistic.metrics import ccc
from holistic.metrics._arrays import ArrayLike, as_array

__all__ = [
    "au_f1_bars",
    "confusion_matrix_plot",
    "plot_metrics",
    "training_curves",
    "va_scatter",
]

DPI = 100


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plots need matplotlib: pip install matplotlib (or holistic[plots])"
        ) from error
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | os.PathLike) -> Path:
    plt = _pyplot()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=DPI, format="png")
    plt.close(fig)
    return out


def confusion_matrix_plot(
    cm: ArrayLike,
    classes: Sequence[str],
    path: str | os.PathLike,
    *,
    normalize: bool = True,
    title: str | None = None,
) -> Path:
    """A heat map of a confusion matrix (rows = true class, columns = predicted).

    Args:
        cm: counts ``[K, K]``, as :func:`holistic.metrics.confusion_matrix` returns.
        classes: the ``K`` class names.
        path: the PNG to write.
        normalize: divide each row by its count (the RAF-DB "Diag." view; empty rows stay 0)
            and print fractions; otherwise print counts.
        title: the figure title (default: "Confusion matrix").

    Raises:
        ValueError: ``cm`` is not square, does not match ``classes``, or has negative entries.
    """
    m = as_array(cm, "cm").astype(np.float64)
    k = len(classes)
    if m.ndim != 2 or m.shape != (k, k):
        raise ValueError(f"cm: expected shape [{k}, {k}] for {k} classes, got {m.shape}")
    if not np.isfinite(m).all() or (m < 0).any():
        raise ValueError("cm: expected finite, non-negative counts")
    if normalize:
        rows = m.sum(axis=1, keepdims=True)
        m = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    plt = _pyplot()
    size = 2.0 + 0.45 * k
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(m, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else max(m.max(), 1.0))
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), labels=list(classes), rotation=45, ha="right")
    ax.set_yticks(range(k), labels=list(classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 15:  # numbers stay legible up to about 15 classes
        threshold = 0.5 * (1.0 if normalize else m.max())
        for i in range(k):
            for j in range(k):
                text = f"{m[i, j]:.2f}" if normalize else f"{int(m[i, j])}"
                colour = "white" if m[i, j] > threshold else "black"
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
    ax.set_title(title or "Confusion matrix")
    return _save(fig, path)


def au_f1_bars(
    per_au_f1: Mapping[int | str, float | None],
    path: str | os.PathLike,
    *,
    title: str | None = None,
) -> Path:
    """One bar per AU with its F1, and a dashed line at the mean.

    Args:
        per_au_f1: ``{AU: F1}``; keys are FACS numbers (``12``) or names (``"AU12"``), values in
            [0, 1]. ``None``/NaN (an AU not evaluated) is drawn as a missing bar.
        path: the PNG to write.
        title: the figure title (default: "Per-AU F1").

    Raises:
        ValueError: an empty mapping, or an F1 outside [0, 1].
    """
    if not per_au_f1:
        raise ValueError("per_au_f1: expected at least one AU")
    labels = [k if str(k).upper().startswith("AU") else f"AU{k}" for k in per_au_f1]
    values = np.array(
        [np.nan if v is None else float(v) for v in per_au_f1.values()], dtype=np.float64
    )
    finite = values[np.isfinite(values)]
    if ((finite < 0) | (finite > 1)).any():
        raise ValueError(f"per_au_f1: expected values in [0, 1], got {values.tolist()}")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.5 + 0.4 * len(labels), 3.0))
    ax.bar(range(len(labels)), np.nan_to_num(values), color="tab:blue")
    if finite.size:
        ax.axhline(finite.mean(), color="tab:red", ls="--", lw=1, label=f"mean {finite.mean():.3f}")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xticks(range(len(labels)), labels=labels, rotation=60, fontsize=8)
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("F1")
    ax.set_title(title or "Per-AU F1")
    return _save(fig, path)


def va_scatter(
    pred: ArrayLike,
    target: ArrayLike,
    path: str | os.PathLike,
    *,
    max_points: int = 5000,
    title: str | None = None,
) -> Path:
    """Predicted against true valence and arousal, two panels, identity line, CCC in the titles.

    Args:
        pred: predictions ``[N, 2]`` (valence, arousal).
        target: labels ``[N, 2]`` in [-1, 1].
        path: the PNG to write.
        max_points: draw at most this many points (an even subsample; CCC uses all of them).
        title: a figure title above both panels.

    Raises:
        ValueError: shapes that differ or are not ``[N, 2]`` with ``N >= 1``; non-finite values.
    """
    p = as_array(pred, "pred").astype(np.float64)
    t = as_array(target, "target").astype(np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or p.shape != t.shape or p.shape[0] == 0:
        raise ValueError(
            f"pred and target: expected equal shapes [N, 2], got {p.shape} and {t.shape}"
        )
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise ValueError("pred and target: expected finite values")
    scores = ccc(p, t)
    step = max(1, p.shape[0] // max_points)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 3.6))
    for j, (ax, name) in enumerate(zip(axes, ("valence", "arousal"), strict=True)):
        ax.scatter(t[::step, j], p[::step, j], s=4, alpha=0.4, color="tab:blue")
        ax.plot([-1, 1], [-1, 1], color="tab:red", lw=1, ls="--")
        ax.set_xlim(-1.05, 1.05)
        ax.set_ylim(min(-1.05, p[:, j].min()), max(1.05, p[:, j].max()))
        ax.set_xlabel(f"true {name}")
        ax.set_ylabel(f"predicted {name}")
        ax.set_title(f"{name}: CCC = {scores[j]:.3f}")
        ax.set_aspect("equal", adjustable="box")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def training_curves(
    history: Mapping[str, Sequence[tuple[float, float]]],
    path: str | os.PathLike,
    *,
    log_scale: bool = False,
    title: str | None = None,
) -> Path:
    """One line per logged term (e.g. each loss term) against the training step.

    Args:
        history: ``{name: [(step, value), ...]}``, e.g. read back from the TensorBoard logs.
        path: the PNG to write.
        log_scale: a logarithmic y axis (only positive values are then drawn).
        title: the figure title (default: "Training curves").

    Raises:
        ValueError: an empty history, a series that is not a list of (step, value) pairs, or
            non-finite steps.
    """
    if not history:
        raise ValueError("history: expected at least one series")
    series = {}
    for name, points in history.items():
        arr = as_array(list(points), f"history[{name!r}]").astype(np.float64)
        if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
            raise ValueError(
                f"history[{name!r}]: expected a non-empty list of (step, value) pairs, got shape "
                f"{arr.shape}"
            )
        if not np.isfinite(arr[:, 0]).all():
            raise ValueError(f"history[{name!r}]: expected finite steps")
        series[name] = arr[np.argsort(arr[:, 0], kind="stable")]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    for name, arr in series.items():
        keep = np.isfinite(arr[:, 1]) & ((arr[:, 1] > 0) if log_scale else True)
        ax.plot(
            arr[keep, 0], arr[keep, 1], lw=1.2, label=name, marker="." if keep.sum() < 30 else None
        )
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("value")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title or "Training curves")
    return _save(fig, path)


def plot_metrics(
    metrics: Mapping[str, Mapping[str, Mapping[str, Any]]],
    classes: Sequence[str],
    out_dir: str | os.PathLike,
    *,
    va: tuple[ArrayLike, ArrayLike] | None = None,
    history: Mapping[str, Sequence[tuple[float, float]]] | None = None,
    dataset: str = "all",
    compounds: Sequence[str] = (),
) -> dict[str, Path]:
    """The standard report plots for one (pseudo-)dataset of :func:`compute_metrics`'s output.

    Args:
        metrics: the output of :func:`holistic.evaluation.compute_metrics`.
        classes: expression class names (the label space's ``expressions``).
        out_dir: folder for the PNGs.
        va: optional ``(pred [N, 2], target [N, 2])`` of the labelled VA samples for the scatter.
        history: optional training history for the curves.
        dataset: which entry of ``metrics`` to plot.
        compounds: compound class names (the label space's ``compounds``), for a model with a
            compound head.

    Returns:
        ``{name: path}`` for the plots drawn (those whose data exist), ready for
        :func:`holistic.evaluation.write_report`.
    """
    out = Path(out_dir)
    entry = metrics.get(dataset, {})
    plots: dict[str, Path] = {}
    if "expr" in entry:
        plots["Expression confusion matrix"] = confusion_matrix_plot(
            entry["expr"]["confusion_matrix"], classes, out / f"confusion_{dataset}.png"
        )
    if "compound" in entry:
        plots["Compound confusion matrix"] = confusion_matrix_plot(
            entry["compound"]["confusion_matrix"],
            compounds,
            out / f"compound_{dataset}.png",
            title="Compound expressions: confusion matrix",
        )
    if "au" in entry and entry["au"].get("per_au_f1"):
        plots["Per-AU F1"] = au_f1_bars(entry["au"]["per_au_f1"], out / f"au_f1_{dataset}.png")
    if va is not None:
        plots["Valence-arousal"] = va_scatter(va[0], va[1], out / f"va_{dataset}.png")
    if history:
        plots["Training curves"] = training_curves(history, out / "training_curves.png")
    return plots
