"""Evaluation: per dataset × task metrics, Markdown tables, plots and zero-shot compound scoring.

- :mod:`.evaluate`: :class:`Predictions` (accumulate outputs with labels, merge across processes)
  and :func:`compute_metrics` (the Table VI metrics per dataset and task, JSON-ready);
- :mod:`.tables`: :func:`metrics_markdown` and :func:`write_report` (``report.md``);
- :mod:`.plots`: confusion matrix, per-AU F1 bars, VA scatter, training curves (matplotlib,
  imported lazily);
- :mod:`.zeroshot`: Eq. 10 compound scores, predictions and metrics against chance.

Imports :mod:`holistic.schema` and :mod:`holistic.metrics` only (DESIGN.md decision 8). See
``docs/evaluation.md``.
"""

from holistic.evaluation.evaluate import ALL, TASKS, Predictions, compute_metrics, to_jsonable
from holistic.evaluation.plots import (
    au_f1_bars,
    confusion_matrix_plot,
    plot_metrics,
    training_curves,
    va_scatter,
)
from holistic.evaluation.tables import format_value, markdown_table, metrics_markdown, write_report
from holistic.evaluation.zeroshot import (
    VALENCE_TERM_FOR,
    compound_scores,
    emotion_components,
    predict_compounds,
    zeroshot_metrics,
)

__all__ = [
    "ALL",
    "TASKS",
    "VALENCE_TERM_FOR",
    "Predictions",
    "au_f1_bars",
    "compound_scores",
    "compute_metrics",
    "confusion_matrix_plot",
    "emotion_components",
    "format_value",
    "markdown_table",
    "metrics_markdown",
    "plot_metrics",
    "predict_compounds",
    "to_jsonable",
    "training_curves",
    "va_scatter",
    "write_report",
    "zeroshot_metrics",
]
