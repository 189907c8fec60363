"""Training until the validation metric plateaus: one score per evaluation, and the stopping rule.

A recipe with ``train.eval_every`` evaluates on its evaluation split every that many steps and
records :func:`validation_score` in ``progress.validation``; with ``train.patience`` it stops
once :func:`plateaued` says the score has not risen by more than ``train.min_delta`` over the
best one for ``patience`` evaluations in a row. The model it reports is the one at the stop,
not the best one seen: choosing the best on the split the report is read on would flatter it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["HEADLINE", "plateau_reason", "plateaued", "record_validation", "validation_score"]

#: The metric of each task that the score averages (Table VI's columns).
HEADLINE = {"va": "ccc_mean", "expr": "f1", "au": "mean_f1"}


def validation_score(
    metrics: Mapping[str, Mapping[str, Mapping[str, Any]]], tasks: Iterable[str] | None = None
) -> float:
    """One number per evaluation: each task's headline metric (:data:`HEADLINE`) averaged over
    the datasets labelled for it, then averaged over the tasks (each task counts alike however
    many datasets label it). ``metrics``: :func:`~holistic.evaluation.compute_metrics`'s
    result; ``tasks``: the tasks to count (default: all; a single-task run counts its own, not
    the heads it does not train). NaN when no dataset has a headline metric."""
    chosen = {t: m for t, m in HEADLINE.items() if tasks is None or t in set(tasks)}
    per_task: dict[str, list[float]] = {}
    for dataset, by_task in metrics.items():
        if dataset == "all":
            continue
        for task, metric in chosen.items():
            value = by_task.get(task, {}).get(metric)
            if value is not None and math.isfinite(value):
                per_task.setdefault(task, []).append(float(value))
    if not per_task:
        return math.nan
    return sum(sum(v) / len(v) for v in per_task.values()) / len(per_task)


def plateaued(scores: Sequence[float], patience: int, min_delta: float = 0.0) -> bool:
    """Whether the last ``patience`` scores all fail to beat the best score before them by more
    than ``min_delta`` (higher is better; NaN never counts as a gain). ``patience`` 0: never."""
    if patience <= 0 or len(scores) <= patience:
        return False
    before = [s for s in scores[:-patience] if math.isfinite(s)]
    if not before:
        return False
    best = max(before)
    return not any(math.isfinite(s) and s > best + min_delta for s in scores[-patience:])


def plateau_reason(validation: Sequence[tuple[int, float]], patience: int,
                   min_delta: float) -> str:  # fmt: skip
    """A sentence for the report: the best score before the last ``patience`` evaluations
    (the one they failed to beat by more than ``min_delta``; a later score may be higher by
    less, so the overall maximum is not it) and when training stopped."""
    before = validation[:-patience] if 0 < patience < len(validation) else validation
    best_step, best = max(before, key=lambda item: item[1] if math.isfinite(item[1]) else -1e9)
    return (
        f"stopped at step {validation[-1][0]}: the validation score (mean of each task's "
        f"headline metric) peaked at {best:.4f} at step {best_step} and did not rise by more "
        f"than {min_delta} in the {patience} evaluations after it"
    )


def record_validation(progress: Any, score: float, patience: int, min_delta: float) -> bool:
    """Record ``score`` at ``progress.step`` (in ``progress.validation`` and, for the report's
    curves, ``progress.history["val/score"]``); when the scores have plateaued, set
    ``progress.stopped`` to the reason and return True (the loop then stops)."""
    progress.validation.append((progress.step, score))
    progress.history.setdefault("val/score", []).append((progress.step, score))
    if not plateaued([s for _, s in progress.validation], patience, min_delta):
        return False
    progress.stopped = plateau_reason(progress.validation, patience, min_delta)
    return True
