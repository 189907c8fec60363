"""Metrics for valence-arousal, expression and action-unit tasks, and ABAW challenge scores.

Only numpy is needed; torch tensors are accepted and converted. Conventions (population moments,
fixed class lists, masking, undefined values) are documented in ``docs/metrics.md`` and in each
module: :mod:`.va`, :mod:`.expr`, :mod:`.au`, :mod:`.challenge`.
"""

from holistic.metrics.au import (
    DEFAULT_THRESHOLD_GRID,
    au_accuracy,
    au_f1,
    au_scores,
    choose_au_thresholds,
    mean_au_f1,
)
from holistic.metrics.challenge import (
    EDITION_ALIASES,
    EDITIONS,
    Edition,
    abaw_score,
    resolve_edition,
)
from holistic.metrics.expr import (
    accuracy,
    afa,
    confusion_diag,
    confusion_matrix,
    e_total,
    f1_macro,
    f1_per_class,
    uar,
)
from holistic.metrics.va import ccc, icc, mean_ccc, mse, pearson, rmse

__all__ = [
    "DEFAULT_THRESHOLD_GRID",
    "EDITIONS",
    "EDITION_ALIASES",
    "Edition",
    "abaw_score",
    "accuracy",
    "afa",
    "au_accuracy",
    "au_f1",
    "au_scores",
    "ccc",
    "choose_au_thresholds",
    "confusion_diag",
    "confusion_matrix",
    "e_total",
    "f1_macro",
    "f1_per_class",
    "icc",
    "mean_au_f1",
    "mean_ccc",
    "mse",
    "pearson",
    "resolve_edition",
    "rmse",
    "uar",
]
