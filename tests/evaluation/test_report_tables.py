"""Markdown tables in Table VI style and report.md with embedded plots."""

import numpy as np
import pytest

from holistic.evaluation import (
    Predictions,
    compute_metrics,
    format_value,
    metrics_markdown,
    write_report,
)
from holistic.schema import LabelSpace

SPACE = LabelSpace()
METRICS = {
    "affwild": {"va": {"n": 10, "ccc_v": 0.6, "ccc_a": 0.4, "ccc_mean": 0.5, "pearson_v": None}},
    "affectnet": {
        "va": {"n": 5, "ccc_v": 0.61234, "ccc_a": 0.51, "ccc_mean": 0.56},
        "expr": {
            "n": 5,
            "f1": 0.6,
            "accuracy": 0.7,
            "diag": 0.65,
            "uar": 0.65,
            "per_class_f1": {"anger": 0.5, "neutral": 0.25},
        },
    },
    "disfa": {
        "au": {
            "n": 3,
            "mean_f1": 0.5,
            "accuracy": 0.9,
            "afa": 0.7,
            "per_au_f1": {"AU2": 0.4, "AU1": 0.6},
        }
    },
    "all": {"va": {"n": 15, "ccc_v": 0.6}},
}


def _section(text, heading):
    """The table lines under a heading, up to the next blank line after the table."""
    lines = text.splitlines()
    start = lines.index(heading) + 2
    end = next((i for i in range(start, len(lines)) if not lines[i]), len(lines))
    return lines[start:end]


def test_format_value():
    assert format_value(0.61234) == "0.612"
    assert format_value(None) == format_value(float("nan")) == "–"
    assert format_value(12) == "12"
    assert format_value(np.float32(0.5)) == "0.500"


def test_metrics_markdown_one_table_per_task():
    text = metrics_markdown(METRICS, SPACE)
    va = _section(text, "### Valence-arousal")
    assert va[0].startswith("| Dataset | N | CCC-V | CCC-A | Mean CCC |")
    # Rows are the datasets with that task, "all" last; 3 decimals; "–" for missing values.
    assert [row.split(" | ")[0] for row in va[2:]] == ["| affwild", "| affectnet", "| all"]
    assert va[3].startswith("| affectnet | 5 | 0.612 | 0.510 | 0.560 | – |")
    assert va[4] == "| all | 15 | 0.600 | – | – | – | – | – | – | – | – | – |"
    assert va[0].endswith("| RMSE-A | Label SD-V | Label SD-A | Videos |")
    expr = _section(text, "### Basic expressions")
    assert [row.split(" | ")[0] for row in expr[2:]] == ["| affectnet"]
    assert "| Diag. |" in expr[0] and "| E_total |" in expr[0]
    # Per-AU columns follow the label space's AU order, whatever the metrics' order.
    per_au = _section(text, "#### Per-AU F1")
    assert per_au[0] == "| Dataset | AU1 | AU2 |"
    assert per_au[2] == "| disfa | 0.600 | 0.400 |"
    per_class = _section(text, "#### Per-class F1 (basic expressions)")
    assert per_class[0].startswith("| Dataset | neutral | anger | disgust |")
    assert per_class[2].startswith("| affectnet | 0.250 | 0.500 | – |")
    assert "Compound" not in text


def test_metrics_markdown_of_real_metrics_has_consistent_columns():
    rng = np.random.default_rng(0)
    records = [{"va": [0.1, -0.2], "expr": "fear", "au": {"4": 1, "12": 0}}] * 8
    p = Predictions()
    p.add(
        SPACE.project_batch(records),
        {
            "va": rng.normal(size=(8, 2)),
            "expr": rng.normal(size=(8, 7)),
            "au": rng.normal(size=(8, 17)),
        },
        ["affwild2"] * 8,
    )
    text = metrics_markdown(compute_metrics(p, SPACE), SPACE, per_class=False)
    blocks = [b.splitlines() for b in text.split("\n\n") if b.startswith("|")]
    assert len(blocks) == 3  # VA, expressions, AUs; no per-class tables
    for block in blocks:
        assert [row.split(" | ")[0] for row in block[::2]] == ["| Dataset", "| affwild2"]
        assert block[3].startswith("| all | 8 |")
        assert len({row.count("|") for row in block}) == 1  # every row fills every column
    full = metrics_markdown(compute_metrics(p, SPACE), SPACE)
    positives = _section(full, "#### Positives per AU (an F1 over a handful of positives is noise)")
    assert positives[0] == "| Dataset | AU4 | AU12 |"
    assert positives[2:] == ["| affwild2 | 8 | 0 |", "| all | 8 | 0 |"]


def test_write_report_embeds_plots_relative(tmp_path):
    run = tmp_path / "runs" / "demo"
    plot = run / "plots" / "cm.png"
    plot.parent.mkdir(parents=True)
    plot.write_bytes(b"\x89PNG\r\n\x1a\n")
    path = write_report(
        run,
        METRICS,
        {"Confusion matrix": plot, "Relative": "plots/cm.png"},
        {"Zero-shot compound": "| class | Diag. |\n|---|---|\n| x | 0.3 |"},
        label_space=SPACE,
    )
    assert path == run / "report.md"
    text = path.read_text()
    assert text.startswith("# Evaluation report")
    assert text.count("![Confusion matrix](plots/cm.png)") == 1
    assert "![Relative](plots/cm.png)" in text
    assert str(tmp_path) not in text  # no absolute paths: the report moves with the run
    assert text.index("## Metrics") < text.index("## Plots") < text.index("## Zero-shot compound")
    assert "| affectnet | 5 | 0.612 |" in text


def test_write_report_missing_plot_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        write_report(tmp_path, METRICS, {"x": tmp_path / "missing.png"})
