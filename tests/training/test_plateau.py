"""Training until the validation score plateaus: the score, the stopping rule, the record."""

import math

import pytest

from holistic.training.plateau import (
    plateau_reason,
    plateaued,
    record_validation,
    validation_score,
)
from holistic.training.state import Progress


def test_the_score_averages_each_task_over_its_datasets_then_the_tasks():
    metrics = {
        "affwild2": {"va": {"ccc_mean": 0.2}, "expr": {"f1": 0.4}, "au": {"mean_f1": 0.3}},
        "affectnet": {"va": {"ccc_mean": 0.6}, "expr": {"f1": 0.8}},
        "bp4d": {"au": {"mean_f1": None}},  # NaN in metrics.json: left out
        "all": {"va": {"ccc_mean": 99.0}},  # the pooled row is not a dataset
    }
    assert validation_score(metrics) == pytest.approx((0.4 + 0.6 + 0.3) / 3)
    assert validation_score(metrics, tasks=["expr"]) == pytest.approx(0.6)  # a single-task run
    assert math.isnan(validation_score({"x": {"compound": {"f1": 0.5}}}))


@pytest.mark.parametrize(
    ("scores", "patience", "min_delta", "expected"),
    [
        ([0.1, 0.2, 0.3], 2, 0.0, False),  # still rising
        ([0.1, 0.3, 0.3, 0.2], 2, 0.0, True),  # no gain over 0.3 in the last two
        ([0.1, 0.3, 0.305, 0.2], 2, 0.01, True),  # a gain below min_delta does not count
        ([0.1, 0.3, 0.32, 0.2], 2, 0.01, False),
        ([0.3, 0.2], 2, 0.0, False),  # not enough evaluations yet
        ([0.3, 0.2, 0.1], 0, 0.0, False),  # patience 0: never stop
        ([math.nan, math.nan, math.nan], 1, 0.0, False),  # no finite best yet
        ([0.2, math.nan, math.nan], 2, 0.0, True),  # NaN never counts as a gain
    ],
)
def test_plateaued(scores, patience, min_delta, expected):
    assert plateaued(scores, patience, min_delta) is expected


def test_recording_stops_with_a_reason_and_curves_for_the_report():
    progress = Progress()
    for step, score in ((100, 0.30), (200, 0.35), (300, 0.34), (400, 0.35)):
        progress.step = step
        stopped = record_validation(progress, score, patience=2, min_delta=0.001)
    assert stopped and progress.validation[-1] == (400, 0.35)
    assert progress.history["val/score"] == progress.validation
    assert progress.stopped == plateau_reason(progress.validation, 2, 0.001)
    assert "peaked at 0.3500 at step 200" in progress.stopped and "step 400" in progress.stopped


def test_the_reason_names_the_best_score_the_last_evaluations_failed_to_beat():
    """A score in the last evaluations can be the highest yet and still not a gain (by less
    than min_delta): the reason names the best before them, the one it was compared with (a
    recorded run said "peaked at 0.3451 at step 1800 and did not rise ... after it", stopped at
    1800)."""
    validation = [(1000, 0.3317), (1200, 0.3433), (1400, 0.3405), (1600, 0.3388), (1800, 0.3451)]
    assert plateaued([s for _, s in validation], 3, 0.002)
    reason = plateau_reason(validation, 3, 0.002)
    assert reason.startswith("stopped at step 1800:")
    assert "peaked at 0.3433 at step 1200 and did not rise by more than 0.002 in the 3" in reason
