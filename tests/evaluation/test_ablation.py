"""Ablation summaries: mean ± sd over seeds, differences to a baseline, the bar chart."""

import math

import pytest

from holistic.evaluation.ablation import (
    Column,
    ablation_bars,
    column_values,
    compare,
    difference,
    format_difference,
    format_mean_sd,
    lookup,
    mean_sd,
    summary_table,
)

F1 = Column("bp4d", "au", "mean_f1", "BP4D AU F1")
ZS = Column("rafdb-compound", "zeroshot", "uar", "RAF UAR")


def _run(f1=None, uar=None):
    document = {"metrics": {"bp4d": {"au": {"mean_f1": f1}}} if f1 is not None else {}}
    if uar is not None:
        document["zeroshot"] = {"rafdb-compound": {"uar": uar}}
    return document


def test_lookup_reads_metrics_and_zeroshot_and_skips_the_undefined():
    assert lookup(_run(0.5, 0.2), F1) == 0.5 and lookup(_run(0.5, 0.2), ZS) == 0.2
    assert lookup(_run(), F1) is None and lookup(_run(float("nan")), F1) is None
    assert column_values([_run(0.1), _run(), _run(0.3)], F1) == [0.1, 0.3]


def test_mean_and_sample_sd():
    assert mean_sd([0.30, 0.34, 0.32]) == pytest.approx((0.32, 0.02, 3))
    mean, sd, n = mean_sd([0.4])
    assert (mean, n) == (0.4, 1) and math.isnan(sd)
    assert format_mean_sd([0.30, 0.34, 0.32]) == "0.320 ± 0.020"
    assert format_mean_sd([0.4]) == "0.400" and format_mean_sd([]) == "–"


def test_differences_flag_more_than_two_welch_standard_errors():
    delta, se = difference([0.36, 0.38, 0.40], [0.30, 0.32, 0.34])
    assert delta == pytest.approx(0.06) and se == pytest.approx(math.sqrt(2 * 0.02**2 / 3))
    assert format_difference([0.36, 0.38, 0.40], [0.30, 0.32, 0.34]) == "**+0.060**"
    assert format_difference([0.30, 0.40, 0.35], [0.30, 0.32, 0.34]) == "+0.030"  # within noise
    assert format_difference([], [0.3, 0.4]) == "–"


def test_summary_table_rows_columns_and_baseline():
    rows = {"none": [_run(0.30, 0.1), _run(0.34, 0.1)], "coupled": [_run(0.40, 0.2), _run(0.42)]}
    table = summary_table(rows, [F1, ZS]).splitlines()
    assert table[0] == "| Model | BP4D AU F1 | RAF UAR |"
    assert table[2] == "| none | 0.320 ± 0.028 | 0.100 ± 0.000 |"
    assert table[3] == "| coupled | 0.410 ± 0.014 | 0.200 |"
    differences = summary_table(rows, [F1], baseline="none").splitlines()
    assert len(differences) == 3 and differences[2].startswith("| coupled | ")  # no baseline row


def test_bars_write_a_png(tmp_path):
    rows = {"none": [_run(0.30, 0.1), _run(0.34, 0.12)], "coupled": [_run(0.40, 0.2)]}
    path = ablation_bars(rows, [F1, ZS], tmp_path / "a.png", reference={"RAF UAR": 1 / 11})
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="at least one row"):
        ablation_bars({}, [F1], tmp_path / "b.png")


def test_compare_sorts_columns_into_higher_lower_and_within_noise():
    other = Column("bp4d", "au", "accuracy", "BP4D Acc.")

    def run(f1, acc):
        return {"metrics": {"bp4d": {"au": {"mean_f1": f1, "accuracy": acc}}}}

    rows = {
        "base": [run(0.30, 0.80), run(0.32, 0.82), run(0.34, 0.84)],
        "new": [run(0.36, 0.70), run(0.38, 0.72), run(0.40, 0.74)],
        "same": [run(0.31, 0.81), run(0.33, 0.83), run(0.35, 0.83)],
    }
    verdicts = compare(rows, [F1, other, ZS], "base")  # ZS has no values: left out
    assert verdicts["new"] == {"higher": ["BP4D AU F1"], "lower": ["BP4D Acc."], "within": []}
    assert verdicts["same"] == {"higher": [], "lower": [], "within": ["BP4D AU F1", "BP4D Acc."]}
    assert "base" not in verdicts
