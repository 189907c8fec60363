"""Ablation summaries over seeds: mean ± spread tables in the form of Table VI, differences to a
baseline, and a bar chart.

A *column* picks one number out of a run's ``metrics.json`` (``dataset``, ``task``, ``metric``,
e.g. ``affwild2 / va / ccc_v``) or out of its zero-shot scores (task ``zeroshot``, dataset the
compound dataset). A *row* is a model variant with one metrics document per seed. Spread is the
sample standard deviation over seeds (``ddof=1``); a difference to the baseline is flagged when it
exceeds two standard errors (Welch), which with 3 seeds is a coarse screen, not a test.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from holistic.evaluation.tables import MISSING, markdown_table

__all__ = [
    "Column",
    "column_values",
    "difference",
    "format_difference",
    "format_mean_sd",
    "lookup",
    "mean_sd",
    "ablation_bars",
    "compare",
    "reading",
    "replace_section",
    "sections",
    "summary_table",
]


@dataclass
class Column:
    """One reported number: ``metrics[dataset][task][metric]`` (task ``zeroshot``: the zero-shot
    scores of ``dataset``), shown under ``header``."""

    dataset: str
    task: str
    metric: str
    header: str


def lookup(document: Mapping[str, Any], column: Column) -> float | None:
    """The column's value in one run's results ``{"metrics": ..., "zeroshot": ...}``, or None."""
    if column.task == "zeroshot":
        value = document.get("zeroshot", {}).get(column.dataset, {}).get(column.metric)
    else:
        per_task = document.get("metrics", {}).get(column.dataset, {})
        value = per_task.get(column.task, {}).get(column.metric)
    if value is None or isinstance(value, bool):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def column_values(documents: Sequence[Mapping[str, Any]], column: Column) -> list[float]:
    """The column's defined values over the runs (seeds) of one variant."""
    values = (lookup(document, column) for document in documents)
    return [value for value in values if value is not None]


def mean_sd(values: Sequence[float]) -> tuple[float, float, int]:
    """``(mean, sample sd, n)``; the sd is NaN for fewer than 2 values, both NaN for none."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return math.nan, math.nan, 0
    sd = float(arr.std(ddof=1)) if arr.size > 1 else math.nan
    return float(arr.mean()), sd, int(arr.size)


def format_mean_sd(values: Sequence[float], digits: int = 3) -> str:
    """``"0.812 ± 0.012"`` (``"0.812"`` for one value, "–" for none)."""
    mean, sd, n = mean_sd(values)
    if n == 0:
        return MISSING
    if n == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def difference(values: Sequence[float], baseline: Sequence[float]) -> tuple[float, float]:
    """``(mean(values) - mean(baseline), Welch standard error)``; NaN where undefined."""
    mean_a, sd_a, n_a = mean_sd(values)
    mean_b, sd_b, n_b = mean_sd(baseline)
    if n_a < 2 or n_b < 2:
        return mean_a - mean_b, math.nan
    return mean_a - mean_b, math.sqrt(sd_a**2 / n_a + sd_b**2 / n_b)


def format_difference(values: Sequence[float], baseline: Sequence[float], digits: int = 3) -> str:
    """``"+0.021"``, in bold when it exceeds two standard errors; "–" when undefined."""
    delta, se = difference(values, baseline)
    if not math.isfinite(delta):
        return MISSING
    text = f"{delta:+.{digits}f}"
    return f"**{text}**" if math.isfinite(se) and abs(delta) > 2 * se else text


def compare(
    rows: Mapping[str, Sequence[Mapping[str, Any]]], columns: Sequence[Column], baseline: str
) -> dict[str, dict[str, list[str]]]:
    """For each row but the baseline, the column headers where it is ``higher`` or ``lower``
    than the baseline by more than two Welch standard errors, and those ``within`` that noise
    (columns without values on both sides are left out)."""
    verdicts: dict[str, dict[str, list[str]]] = {}
    for label, documents in rows.items():
        if label == baseline:
            continue
        verdict: dict[str, list[str]] = {"higher": [], "lower": [], "within": []}
        for column in columns:
            delta, se = difference(
                column_values(documents, column), column_values(rows[baseline], column)
            )
            if not (math.isfinite(delta) and math.isfinite(se)):
                continue
            side = "within" if abs(delta) <= 2 * se else ("higher" if delta > 0 else "lower")
            verdict[side].append(column.header)
        verdicts[label] = verdict
    return verdicts


def reading(
    rows: Mapping[str, Sequence[Mapping[str, Any]]], columns: Sequence[Column], baseline: str
) -> list[str]:
    """Markdown lines, one per row but the baseline: where it is above or below the baseline
    beyond two standard errors, and in how many columns it is within that noise."""
    lines = [f"Read against **{baseline}** (higher is better in every column):", ""]
    for label, verdict in compare(rows, columns, baseline).items():
        parts = [
            f"higher in {', '.join(verdict['higher'])}" if verdict["higher"] else "",
            f"lower in {', '.join(verdict['lower'])}" if verdict["lower"] else "",
            f"within two standard errors in {len(verdict['within'])} of "
            f"{sum(map(len, verdict.values()))} columns",
        ]
        lines.append(f"- {label}: " + "; ".join(part for part in parts if part) + ".")
    return [*lines, ""]


def summary_table(
    rows: Mapping[str, Sequence[Mapping[str, Any]]],
    columns: Sequence[Column],
    *,
    baseline: str | None = None,
    first_header: str = "Model",
) -> str:
    """A Markdown table: one row per variant (``{label: [document per seed]}``), one cell per
    column, as mean ± sd; with ``baseline`` (a row label), the cells are each row's difference to
    it (row minus baseline; the baseline's own row is left out)."""
    header = [first_header, *(column.header for column in columns)]
    body = []
    for label, documents in rows.items():
        if label == baseline:
            continue
        cells = [label]
        for column in columns:
            values = column_values(documents, column)
            if baseline is None:
                cells.append(format_mean_sd(values))
            else:
                cells.append(format_difference(values, column_values(rows[baseline], column)))
        body.append(cells)
    return markdown_table(header, body)


def ablation_bars(
    rows: Mapping[str, Sequence[Mapping[str, Any]]],
    columns: Sequence[Column],
    path: str | os.PathLike,
    *,
    title: str | None = None,
    reference: Mapping[str, float] | None = None,
) -> Path:
    """Grouped bars (one group per column, one bar per variant) of the mean with ±sd error bars
    and the seeds as dots; ``reference`` marks a per-column level (e.g. chance) with a dash."""
    from holistic.evaluation.plots import _pyplot, _save

    if not rows or not columns:
        raise ValueError("ablation_bars: expected at least one row and one column")
    plt = _pyplot()
    width = 0.8 / len(rows)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(columns) + 2), 3.8))
    for i, (label, documents) in enumerate(rows.items()):
        xs, means, sds = [], [], []
        for j, column in enumerate(columns):
            values = column_values(documents, column)
            mean, sd, n = mean_sd(values)
            if n == 0:
                continue
            x = j - 0.4 + width * (i + 0.5)
            xs.append(x)
            means.append(mean)
            sds.append(sd if n > 1 else 0.0)
            ax.plot([x] * n, values, "k.", ms=3, zorder=3)
        ax.bar(xs, means, width, yerr=sds, capsize=2, label=label, zorder=2)
    for j, column in enumerate(columns):
        level = (reference or {}).get(column.header)
        if level is not None:
            ax.hlines(level, j - 0.45, j + 0.45, colors="grey", linestyles="--", zorder=4)
    ax.set_xticks(range(len(columns)), [column.header for column in columns], rotation=30,
                  ha="right", fontsize=8)  # fmt: skip
    ax.set_ylabel("score")
    ax.grid(axis="y", alpha=0.3, zorder=0)
    ax.legend(fontsize=7, ncol=2, loc="best")
    ax.set_title(title or "Ablation (mean ± sd over seeds)")
    return _save(fig, path)


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- section:{name} -->", f"<!-- /section:{name} -->"


def replace_section(page: str, name: str, body: str) -> str:
    """``page`` with its section ``name`` (between ``<!-- section:NAME -->`` and
    ``<!-- /section:NAME -->``) replaced by ``body``, or ``body`` appended as that section.

    Two generators share one results page this way: each rewrites its own section only.
    """
    begin, end = _markers(name)
    block = f"{begin}\n{body.rstrip()}\n{end}\n"
    if begin in page and end in page:
        head, rest = page.split(begin, 1)
        _, tail = rest.split(end, 1)
        return head + block.rstrip("\n") + tail
    return page.rstrip("\n") + "\n\n" + block


def sections(page: str) -> dict[str, str]:
    """The marked sections of ``page``, ``{name: body}`` (see :func:`replace_section`)."""
    found = {}
    for chunk in page.split("<!-- section:")[1:]:
        name, _, rest = chunk.partition(" -->\n")
        body, marker, _ = rest.partition(f"<!-- /section:{name} -->")
        if marker:
            found[name] = body.rstrip("\n")
    return found
