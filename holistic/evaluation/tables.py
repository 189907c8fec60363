"""Markdown tables of evaluation metrics (FaceBehaviorNet Table VI style) and the run report.

:func:`metrics_markdown` renders the output of :func:`holistic.evaluation.compute_metrics` as one
table per task: rows are datasets (``all`` last), columns the metrics, numbers with 3 decimals and
"–" where a value is missing or undefined. :func:`write_report` writes ``report.md`` with those
tables, the plots (embedded by relative path) and any extra sections.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from holistic.schema import LabelSpace

__all__ = [
    "MISSING",
    "format_value",
    "markdown_table",
    "metrics_markdown",
    "write_report",
    "zeroshot_markdown",
]

#: What a missing or undefined value prints as.
MISSING = "–"

# (metric key, column header) per task, in the order of the paper's tables.
_COLUMNS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "va": (
        "Valence-arousal",
        [
            ("n", "N"),
            ("ccc_v", "CCC-V"),
            ("ccc_a", "CCC-A"),
            ("ccc_mean", "Mean CCC"),
            ("pearson_v", "PCC-V"),
            ("pearson_a", "PCC-A"),
            ("rmse_v", "RMSE-V"),
            ("rmse_a", "RMSE-A"),
            ("label_sd_v", "Label SD-V"),  # a split whose labels hardly vary cannot measure CCC
            ("label_sd_a", "Label SD-A"),
            ("videos", "Videos"),
        ],
    ),
    "expr": (
        "Basic expressions",
        [
            ("n", "N"),
            ("f1", "F1"),
            ("accuracy", "Acc."),
            ("diag", "Diag."),
            ("uar", "UAR"),
            ("e_total", "E_total"),
            ("afa", "AFA"),
        ],
    ),
    "au": (
        "Action units",
        [("n", "N"), ("mean_f1", "Mean F1"), ("accuracy", "Acc."), ("afa", "AFA")],
    ),
    "compound": (
        "Compound expressions",
        [("n", "N"), ("f1", "F1"), ("accuracy", "Acc."), ("diag", "Diag."), ("uar", "UAR")],
    ),
}


#: The per-AU tables under the AU table: (metrics key, heading).
_PER_AU_TABLES = (
    ("per_au_f1", "#### Per-AU F1"),
    ("per_au_positives", "#### Positives per AU (an F1 over a handful of positives is noise)"),
)


def format_value(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` decimals (integers as they are); "–" for None, NaN or absent."""
    if value is None or isinstance(value, bool):
        return MISSING
    if isinstance(value, int):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.{digits}f}" if math.isfinite(number) else MISSING


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table; cells are formatted with :func:`format_value`."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for row in rows:
        cells = [c if isinstance(c, str) else format_value(c) for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def zeroshot_markdown(rows: Sequence[tuple[str, str, Mapping[str, Any]]]) -> str:
    """A table of zero-shot scores: ``(dataset, model, zeroshot_metrics(...))`` per row."""
    header = ["dataset", "model", "N", "Diag.", "F1", "UAR", "chance"]
    return markdown_table(
        header,
        [
            [dataset, model, s["n"], s["diag"], s["f1"], s["uar"], s["chance"]]
            for dataset, model, s in rows
        ],
    )


def _datasets(metrics: Mapping[str, Any]) -> list[str]:
    names = [d for d in metrics if d != "all"]
    return [*names, "all"] if "all" in metrics else names


def metrics_markdown(
    metrics: Mapping[str, Mapping[str, Mapping[str, Any]]],
    label_space: LabelSpace | None = None,
    *,
    per_class: bool = True,
) -> str:
    """Render metrics as one Markdown table per task, in the style of Table VI.

    Args:
        metrics: ``{dataset: {task: {metric: value}}}`` from
            :func:`holistic.evaluation.compute_metrics`.
        label_space: the run's vocabularies, for the column order of the per-AU and per-class
            tables (default: the order found in ``metrics``).
        per_class: also print per-AU F1 and per-class F1 tables.

    Returns:
        Markdown text: a ``###`` heading and a table for each task present in some dataset
        (rows = datasets that have the task, ``all`` last).
    """
    datasets = _datasets(metrics)
    sections: list[str] = []
    for task, (title, columns) in _COLUMNS.items():
        have = [d for d in datasets if task in metrics[d]]
        if not have:
            continue
        header = ["Dataset", *(name for _, name in columns)]
        rows = [[d, *(metrics[d][task].get(key) for key, _ in columns)] for d in have]
        sections.append(f"### {title}\n\n{markdown_table(header, rows)}")
        if not per_class:
            continue
        if task == "au":
            found: list[str] = []
            for d in have:
                found += [k for k in metrics[d]["au"].get("per_au_f1", {}) if k not in found]
            if label_space is not None:
                order = [f"AU{a}" for a in label_space.aus]
                found = [k for k in order if k in found] + [k for k in found if k not in order]
            for key, heading in _PER_AU_TABLES:
                if not any(key in metrics[d]["au"] for d in have):
                    continue  # e.g. metrics from before positives were counted
                rows = [[d, *(metrics[d]["au"].get(key, {}).get(k) for k in found)] for d in have]
                sections.append(f"{heading}\n\n{markdown_table(['Dataset', *found], rows)}")
        elif task in ("expr", "compound"):
            names: list[str] = []
            if label_space is not None:
                names = list(label_space.expressions if task == "expr" else label_space.compounds)
            for d in have:
                names += [k for k in metrics[d][task].get("per_class_f1", {}) if k not in names]
            rows = [
                [d, *(metrics[d][task].get("per_class_f1", {}).get(k) for k in names)] for d in have
            ]
            sections.append(
                f"#### Per-class F1 ({title.lower()})\n\n{markdown_table(['Dataset', *names], rows)}"
            )
    if not sections:
        return "_No labelled samples: nothing to report._\n"
    return "\n\n".join(sections) + "\n"


def write_report(
    run_dir: str | os.PathLike,
    metrics: Mapping[str, Mapping[str, Mapping[str, Any]]],
    plots: Mapping[str, str | os.PathLike] | None = None,
    extra_sections: Mapping[str, str] | None = None,
    *,
    label_space: LabelSpace | None = None,
    title: str = "Evaluation report",
) -> Path:
    """Write ``run_dir/report.md``: the metric tables, the plots and extra sections.

    Args:
        run_dir: the run directory (created if needed).
        metrics: the output of :func:`holistic.evaluation.compute_metrics`.
        plots: ``{caption: path}``; each is embedded as an image by its path relative to
            ``run_dir`` (so the report moves with the run). A plot that does not exist raises.
        extra_sections: ``{heading: markdown}`` appended in order (e.g. zero-shot results).
        label_space: passed to :func:`metrics_markdown`.
        title: the level-1 heading.

    Returns:
        The path of ``report.md``.

    Raises:
        FileNotFoundError: a plot file is missing.
    """
    root = Path(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    parts = [f"# {title}", "## Metrics", metrics_markdown(metrics, label_space).rstrip()]
    if plots:
        parts.append("## Plots")
        for caption, path in plots.items():
            target = Path(path)
            if not target.is_absolute() and not target.exists():
                target = root / target  # a path already relative to the run directory
            if not target.exists():
                raise FileNotFoundError(f"plot {caption!r}: {path} does not exist")
            relative = Path(os.path.relpath(target.resolve(), root.resolve())).as_posix()
            parts.append(f"### {caption}\n\n![{caption}]({relative})")
    for heading, text in (extra_sections or {}).items():
        parts.append(f"## {heading}\n\n{text.rstrip()}")
    out = root / "report.md"
    out.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return out
