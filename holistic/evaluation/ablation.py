"""Ablation summaries over seeds: mean ± spread tables in the form of Table VI, differences to a
baseline, and a bar chart; over label budgets, a table and a line plot per column and a sentence
per variant and column saying at which budgets it beats the baseline.

A *column* picks one number out of a run's ``metrics.json`` (``dataset``, ``task``, ``metric``,
e.g. ``affwild2 / va / ccc_v``) or out of its zero-shot scores (task ``zeroshot``, dataset the
compound dataset). A *row* is a model variant with one metrics document per seed. Spread is the
sample standard deviation over seeds (``ddof=1``); a difference to the baseline is flagged when it
exceeds two standard errors (Welch), which with 3 seeds is a coarse screen, not a test.

Over label budgets the rows of each budget are ``{budget label: {variant label: [document per
seed]}}``, with each budget's fraction of labels kept (``{budget label: fraction}``) placing it
on a log axis and ordering it ("holds only at budgets ≤ 10 %").
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from holistic.evaluation.tables import MISSING, markdown_table

__all__ = [
    "Claim",
    "Column",
    "column_values",
    "difference",
    "format_difference",
    "format_mean_sd",
    "gate_shift_verdict",
    "lookup",
    "mean_sd",
    "ablation_bars",
    "budget_lines",
    "budget_reading",
    "budget_table",
    "budget_claim_reading",
    "budget_verdict",
    "check_claims",
    "claim_reading",
    "claim_verdict",
    "compare",
    "fewest_positives",
    "optimum_verdict",
    "positives_note",
    "reading",
    "replace_section",
    "sections",
    "summary_table",
    "training_time_line",
]


@dataclass
class Column:
    """One reported number: ``metrics[dataset][task][metric]`` (task ``zeroshot``: the zero-shot
    scores of ``dataset``; task ``native``: the VA metrics on the dataset's native scale,
    ``native_scale[dataset][metric]``), shown under ``header``; ``higher_is_better`` False for an
    error (RMSE), so that a lower value reads as *better*."""

    dataset: str
    task: str
    metric: str
    header: str
    higher_is_better: bool = True


@dataclass
class Claim:
    """A paper's claim, checked on the rows (variant labels) of a comparison.

    Either ``better`` beats ``than`` (:func:`claim_verdict`), or ``expected`` has the best mean
    among ``best_of`` (:func:`optimum_verdict`, e.g. the window length a paper finds best).
    ``columns`` (headers) restricts the check to some columns (e.g. arousal only); empty: all.
    """

    text: str
    better: str = ""
    than: str = ""
    best_of: list[str] = field(default_factory=list)
    expected: str = ""
    columns: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        pair, optimum = bool(self.better or self.than), bool(self.best_of or self.expected)
        if (
            pair == optimum
            or (pair and not (self.better and self.than))
            or (optimum and (self.expected not in self.best_of or len(self.best_of) < 2))
        ):
            raise ValueError(
                f"claim {self.text!r}: give either better and than, or best_of (two or more) "
                "with expected among them"
            )

    @property
    def rows(self) -> list[str]:
        """The rows (entry or variant names, or labels) the claim reads."""
        return self.best_of or [self.better, self.than]

    def relabelled(self, labels: Mapping[str, str]) -> Claim:
        """The claim with its entry (variant) names replaced by their row labels."""
        return replace(
            self,
            better=labels.get(self.better, ""),
            than=labels.get(self.than, ""),
            best_of=[labels[name] for name in self.best_of],
            expected=labels.get(self.expected, ""),
        )


def check_claims(
    claims: Sequence[Claim], names: Sequence[str], headers: Sequence[str], what: str = "entries"
) -> None:
    """Refuse, naming it, the first claim that reads a row not in ``names`` (the ``what``: entry
    or variant names) or a column not in ``headers``.

    Raises:
        ValueError: ``claims[i] ('text'): no <what> [...]; <what>: [...]`` or ``no columns``.
    """
    for index, claim in enumerate(claims):
        unknown = [name for name in claim.rows if name not in names]
        if unknown:
            raise ValueError(
                f"claims[{index}] ({claim.text!r}): no {what} {unknown}; {what}: {list(names)}"
            )
        unknown = [header for header in claim.columns if header not in headers]
        if unknown:
            raise ValueError(
                f"claims[{index}] ({claim.text!r}): no columns {unknown}; columns: {list(headers)}"
            )


def lookup(document: Mapping[str, Any], column: Column) -> float | None:
    """The column's value in one run's results ``{"metrics": ..., "zeroshot": ...}``, or None."""
    if column.task == "zeroshot":
        value = document.get("zeroshot", {}).get(column.dataset, {}).get(column.metric)
    elif column.task == "native":
        value = document.get("native_scale", {}).get(column.dataset, {}).get(column.metric)
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
    """For each row but the baseline, the column headers where it is ``better`` or ``worse``
    than the baseline by more than two Welch standard errors (each column's direction), and
    those ``within`` that noise (columns without values on both sides are left out)."""
    return {label: _sides(rows, columns, label, baseline) for label in rows if label != baseline}


def _sides(
    rows: Mapping[str, Sequence[Mapping[str, Any]]],
    columns: Sequence[Column],
    label: str,
    baseline: str,
) -> dict[str, list[str]]:
    """``{"better": headers, "worse": headers, "within": headers}`` of row ``label`` against
    row ``baseline`` (see :func:`compare`)."""
    verdict: dict[str, list[str]] = {"better": [], "worse": [], "within": []}
    for column in columns:
        side = _side(
            column_values(rows.get(label, []), column),
            column_values(rows.get(baseline, []), column),
            column.higher_is_better,
        )
        if side is not None:
            verdict[side].append(column.header)
    return verdict


def _side(
    values: Sequence[float], baseline: Sequence[float], higher_is_better: bool = True
) -> str | None:
    """``better``/``worse`` than the baseline by more than two Welch standard errors, ``within``
    them, or None where the difference or its standard error is undefined."""
    delta, se = difference(values, baseline)
    if not (math.isfinite(delta) and math.isfinite(se)):
        return None
    if abs(delta) <= 2 * se:
        return "within"
    return "better" if (delta > 0) == higher_is_better else "worse"


def _directions(columns: Sequence[Column]) -> str:
    """How to read the columns: "higher is better in every column", or which are errors."""
    lower = [column.header for column in columns if not column.higher_is_better]
    if not lower:
        return "higher is better in every column"
    return f"lower is better in {', '.join(lower)}, higher in the others"


def reading(
    rows: Mapping[str, Sequence[Mapping[str, Any]]], columns: Sequence[Column], baseline: str
) -> list[str]:
    """Markdown lines, one per row but the baseline: where it is better or worse than the
    baseline beyond two standard errors, and in how many columns it is within that noise."""
    lines = [f"Read against **{baseline}** ({_directions(columns)}):", ""]
    for label, verdict in compare(rows, columns, baseline).items():
        parts = [
            f"better in {', '.join(verdict['better'])}" if verdict["better"] else "",
            f"worse in {', '.join(verdict['worse'])}" if verdict["worse"] else "",
            f"within two standard errors in {len(verdict['within'])} of "
            f"{sum(map(len, verdict.values()))} columns",
        ]
        lines.append(f"- {label}: " + "; ".join(part for part in parts if part) + ".")
    return [*lines, ""]


def claim_verdict(
    rows: Mapping[str, Sequence[Mapping[str, Any]]], columns: Sequence[Column], claim: Claim
) -> str:
    """Whether ``claim.better`` beats ``claim.than``: "holds in every column", "holds in k of
    m columns (...), the others within two standard errors", "does not hold: worse in ...",
    "not shown: every difference within two standard errors" or "mixed: ...", with the
    columns named. Columns without a difference to screen (fewer than two seeds with values on
    either side) are left out and said so."""
    chosen = _claim_columns(columns, claim)
    return _sides_verdict(_sides(rows, chosen, claim.better, claim.than), len(chosen))


def _sides_verdict(sides: Mapping[str, Sequence[str]], chosen: int) -> str:
    """:func:`claim_verdict`'s sentence from the claim's :func:`_sides` on ``chosen`` columns."""
    better, worse = sides["better"], sides["worse"]
    screened = sum(map(len, sides.values()))
    if screened == 0:
        return "no difference to screen (fewer than two seeds with values on either side)"
    if better and worse:
        text = f"mixed: better in {', '.join(better)}; worse in {', '.join(worse)}"
    elif worse:
        text = f"does not hold: worse in {', '.join(worse)}"
    elif not better:
        text = "not shown: every difference within two standard errors"
    elif len(better) == screened:
        text = "holds in every column"
    else:
        text = (
            f"holds in {len(better)} of {screened} columns ({', '.join(better)}), the others "
            "within two standard errors"
        )
    unscreened = chosen - screened
    return text + (f" ({unscreened} column(s) without values on both sides)" if unscreened else "")


def optimum_verdict(
    rows: Mapping[str, Sequence[Mapping[str, Any]]], columns: Sequence[Column], claim: Claim
) -> str:
    """Which of ``claim.best_of`` has the best mean in each column, and in how many of them it
    is ``claim.expected``; a best mean that is not beyond two standard errors of the runner-up
    is marked "(within noise of <runner-up>)"."""
    chosen = _claim_columns(columns, claim)
    bests, hits = [], 0
    for column in chosen:
        means = {
            label: mean_sd(column_values(rows.get(label, []), column))[0] for label in claim.best_of
        }
        ranked = sorted(
            (label for label in claim.best_of if math.isfinite(means[label])),
            key=lambda label: means[label],
            reverse=column.higher_is_better,
        )
        if not ranked:
            continue
        best = ranked[0]
        hits += best == claim.expected
        note = ""
        if len(ranked) > 1:
            side = _side(
                column_values(rows.get(best, []), column),
                column_values(rows.get(ranked[1], []), column),
                column.higher_is_better,
            )
            if side != "better":
                note = f" (within noise of {ranked[1]})"
        bests.append(f"{column.header}: {best}{note}")
    if not bests:
        return "no values to compare"
    verdict = f"{claim.expected} is best in {hits} of {len(bests)} columns"
    return f"{verdict}. Best per column: " + "; ".join(bests)


def claim_reading(
    rows: Mapping[str, Sequence[Mapping[str, Any]]],
    columns: Sequence[Column],
    claims: Sequence[Claim],
) -> list[str]:
    """Markdown lines, one per claim: its text and its verdict (:func:`claim_verdict` or
    :func:`optimum_verdict`), or that its rows are missing."""
    lines = [f"The papers' claims, read on these numbers ({_directions(columns)}):", ""]
    for claim in claims:
        missing = [label for label in claim.rows if label not in rows]
        if missing:
            verdict = f"not checked: no rows {missing}"
        elif claim.best_of:
            verdict = optimum_verdict(rows, columns, claim)
        else:
            verdict = claim_verdict(rows, columns, claim)
        lines.append(f"- *{claim.text}*: {verdict}.")
    return [*lines, ""]


def gate_shift_verdict(shifts: Sequence[float], corrupted: str) -> str:
    """Whether a fusion's face gate moves toward the intact modality where ``corrupted``
    (``"video"``: the face, ``"audio"``) is corrupted, read on its shifts over seeds (the mean
    face gate on corrupted frames minus that on intact frames, one per seed; ``gate_shift`` of
    :func:`holistic.evaluation.gates.gate_summary`). A corrupted face should move the gate
    toward the audio (a negative shift), corrupted audio toward the face (a positive one).

    Returns:
        "the face gate moves toward the intact audio, beyond two standard errors (shift -0.042
        ± 0.011 over 3 seeds)", "the face gate does not move beyond two standard errors (shift
        ..., toward the intact audio)" (or "..., toward the corrupted face"), or for fewer than
        two seeds "no spread to screen (shift ... over 1 seed, ...)"; the standard error is the
        sd over seeds / sqrt(n).

    Raises:
        ValueError: ``corrupted`` is neither ``"video"`` nor ``"audio"``.
    """
    if corrupted not in ("video", "audio"):
        raise ValueError(
            f"gate_shift_verdict: corrupted must be 'video' or 'audio', got {corrupted!r}"
        )
    mean, sd, n = mean_sd(shifts)
    if n == 0:
        return "no gate shift to read"
    intact, broken = ("audio", "face") if corrupted == "video" else ("face", "audio")
    expected = -1.0 if corrupted == "video" else 1.0
    toward = "no direction"  # a shift of exactly 0
    if mean * expected > 0:
        toward = f"toward the intact {intact}"
    elif mean * expected < 0:
        toward = f"toward the corrupted {broken}"
    if n < 2:
        return f"no spread to screen (shift {mean:+.3f} over 1 seed, {toward})"
    shift = f"shift {mean:+.3f} ± {sd:.3f} over {n} seeds"
    if abs(mean) > 2 * sd / math.sqrt(n):
        return f"the face gate moves {toward}, beyond two standard errors ({shift})"
    return f"the face gate does not move beyond two standard errors ({shift}, {toward})"


def _claim_columns(columns: Sequence[Column], claim: Claim) -> list[Column]:
    """The columns a claim is read on (``claim.columns``: headers; empty: all)."""
    if not claim.columns:
        return list(columns)
    unknown = sorted(set(claim.columns) - {column.header for column in columns})
    if unknown:
        raise ValueError(f"claim {claim.text!r}: unknown column header(s) {unknown}")
    return [column for column in columns if column.header in claim.columns]


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


#: The row label of the trivial predictors' scores in a table.
CHANCE = "chance (trivial predictors)"


def chance_row(rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, list[dict]]:
    """``{CHANCE: [document]}``: the scores of trivial predictors on the evaluated samples
    (valence-arousal constant at 0, each dataset's most frequent class, every AU present; the
    ``"trivial"`` metrics of a run's document), from the first run that has them, so a table
    shows the level its models have to beat; ``{}`` when no run has them. Every run of a table
    is evaluated on the same samples, so one run's suffice."""
    for documents in rows.values():
        for document in documents:
            if document.get("trivial"):
                return {CHANCE: [{"metrics": document["trivial"], "seed": document.get("seed")}]}
    return {}


def training_time_line(seconds: float, threads: int) -> str:
    """``- Total training time: <minutes> min on <machine> (<threads> torch thread(s)).``"""
    plural = "" if threads == 1 else "s"
    return (
        f"- Total training time: {seconds / 60:.0f} min on {platform.machine()} "
        f"({threads} torch thread{plural})."
    )


def stopping_line(results: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """How one budget's runs ended: how many stopped at a validation plateau, and which reached
    the step limit first (their scores may still have been rising: read them as lower bounds of
    what the variant can do with more steps)."""
    runs = [(label, d) for label, documents in results.items() for d in documents]
    limited = [(label, d) for label, d in runs if not d.get("stopped")]
    if not runs:
        return []
    text = f"{len(runs) - len(limited)} of {len(runs)} runs stopped at a validation plateau"
    if limited:
        by_variant: dict[str, list[str]] = {}
        for label, document in limited:
            by_variant.setdefault(label, []).append(str(document["seed"]))
        named = "; ".join(
            f"{label} (seed{'s' if len(seeds) > 1 else ''} {', '.join(seeds)})"
            for label, seeds in by_variant.items()
        )
        steps = sorted({d["steps"] for _, d in limited})
        text += (
            f"; the others reached the step limit ({', '.join(map(str, steps))}) first, so their "
            f"numbers may still have been rising: {named}"
        )
    return [text + ".", ""]


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


def fewest_positives(
    rows: Mapping[str, Sequence[Mapping[str, Any]]], column: Column
) -> tuple[int, list[str]] | None:
    """The fewest positive samples any one AU has in the split an AU column is scored on, and
    the AUs with that few, from the metrics' ``per_au_positives`` (the evaluated split is the
    same for every run, so the smallest count over the runs is taken); None for a column of
    another task or when no run's metrics count positives."""
    if column.task != "au":
        return None
    counts: dict[str, int] = {}
    for documents in rows.values():
        for document in documents:
            per_task = document.get("metrics", {}).get(column.dataset, {})
            for au, n in (per_task.get("au", {}).get("per_au_positives") or {}).items():
                counts[au] = min(counts.get(au, int(n)), int(n))
    if not counts:
        return None
    fewest = min(counts.values())
    return fewest, [au for au, n in counts.items() if n == fewest]


def positives_note(
    rows: Mapping[str, Sequence[Mapping[str, Any]]], columns: Sequence[Column]
) -> list[str]:
    """A Markdown note (lines) with the fewest positives of one AU behind each AU column, or no
    lines when no AU column has counts."""
    parts = []
    for column in columns:
        found = fewest_positives(rows, column)
        if found is not None:
            parts.append(f"{column.header}: {found[0]} ({', '.join(found[1])})")
    if not parts:
        return []
    return [
        f"Fewest positives of one AU in the evaluated split, per AU column: {'; '.join(parts)}. "
        "The mean F1 weighs every AU alike, and the F1 of an AU with a handful of positives is "
        "noise.",
        "",
    ]


def _variants(budgets: Mapping[str, Mapping[str, Sequence[Any]]]) -> list[str]:
    """The variant labels of every budget, in order of first appearance."""
    return list(dict.fromkeys(label for rows in budgets.values() for label in rows))


def budget_table(
    budgets: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]],
    column: Column,
    *,
    baseline: str,
) -> str:
    """A Markdown table of one column over label budgets: one row per variant, one cell per
    budget (in the order given) with the mean ± sd and, but for the baseline's row, the
    difference to the baseline in brackets (**bold** beyond two standard errors). A variant
    with no value of the column at any budget (a single-task network of another task) has no
    row."""
    body = []
    for label in _variants(budgets):
        per_budget = [
            (column_values(rows.get(label, []), column), rows) for rows in budgets.values()
        ]
        if not any(values for values, _ in per_budget):
            continue
        cells = [label]
        for values, rows in per_budget:
            cell = format_mean_sd(values)
            if label != baseline and values:
                delta = format_difference(values, column_values(rows.get(baseline, []), column))
                cell += f" ({delta})" if delta != MISSING else ""
            cells.append(cell)
        body.append(cells)
    return markdown_table(["Model", *budgets], body)


def budget_verdict(
    budgets: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]],
    column: Column,
    label: str,
    baseline: str,
    fractions: Mapping[str, float],
) -> str:
    """Where variant ``label`` *holds*, i.e. is better than ``baseline`` in ``column`` (higher,
    or lower for an error column) by more than two standard errors (the screen of :func:`format_difference`), over the budgets ordered
    by ``fractions``: "holds at every budget", "does not hold at any budget", "holds only at
    budgets ≤ X" (at the smallest budgets up to X and no larger one) or "mixed". A bracket adds
    the budgets where it is worse beyond two standard errors and those without a defined
    difference (fewer than two seeds with values on either side), which the verdict leaves out.
    """
    order = sorted(budgets, key=lambda budget: fractions[budget])
    sides = {
        budget: _side(
            column_values(budgets[budget].get(label, []), column),
            column_values(budgets[budget].get(baseline, []), column),
            column.higher_is_better,
        )
        for budget in order
    }
    defined = [budget for budget in order if sides[budget] is not None]
    holds = [budget for budget in defined if sides[budget] == "better"]
    if not defined:
        return "no difference to screen at any budget (fewer than two seeds with values)"
    text = _budget_span(defined, holds)
    notes = []
    worse = [budget for budget in defined if sides[budget] == "worse"]
    if worse:
        notes.append(f"worse at {', '.join(worse)}")
    undefined = [budget for budget in order if sides[budget] is None]
    if undefined:
        notes.append(f"no difference at {', '.join(undefined)}")
    return text + (f" ({'; '.join(notes)})" if notes else "")


def budget_reading(
    budgets: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]],
    columns: Sequence[Column],
    baseline: str,
    fractions: Mapping[str, float],
) -> list[str]:
    """Markdown lines, one per variant but the baseline: :func:`budget_verdict` for each column
    in which the variant has values at some budget."""
    lines = [
        f"Read against **{baseline}**; *holds* means better than it by more than two standard "
        f"errors at that budget (the bold differences above; {_directions(columns)}):",
        "",
    ]
    for label in _variants(budgets):
        if label == baseline:
            continue
        parts = [
            f"{column.header} {budget_verdict(budgets, column, label, baseline, fractions)}"
            for column in columns
            if any(column_values(rows.get(label, []), column) for rows in budgets.values())
        ]
        if parts:
            lines.append(f"- {label}: " + "; ".join(parts) + ".")
    return [*lines, ""]


def _budget_span(defined: Sequence[str], holds: Sequence[str]) -> str:
    """Where something holds over the budgets ``defined`` (smallest first) given those where it
    ``holds``: "holds at every budget", "does not hold at any budget", "holds only at budgets
    ≤ X" (the smallest ones up to X and no larger one) or "mixed (holds at ...)"; with one
    budget, "holds at X" or "does not hold at X"."""
    if len(defined) == 1:
        return f"{'holds' if holds else 'does not hold'} at {defined[0]}"
    if len(holds) == len(defined):
        return "holds at every budget"
    if not holds:
        return "does not hold at any budget"
    if list(holds) == list(defined[: len(holds)]):
        return f"holds only at budgets ≤ {holds[-1]}"
    return f"mixed (holds at {', '.join(holds)})"


def budget_claim_reading(
    budgets: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]],
    columns: Sequence[Column],
    claims: Sequence[Claim],
    fractions: Mapping[str, float],
) -> list[str]:
    """Markdown lines, one per claim (``better`` beats ``than``; row labels): where over the
    budgets it holds (:func:`_budget_span`, in bold), then its :func:`claim_verdict` sentence at each
    budget that has both rows. A claim *holds* at a budget where it is better beyond two
    standard errors in at least one of its columns and worse in none; a budget where no column
    can be screened (fewer than two seeds) is named but left out of the span."""
    order = sorted(budgets, key=lambda budget: fractions[budget])
    lines = [
        "The paper's claims, read at each label budget; a claim *holds* at a budget where it is "
        "better beyond two standard errors in at least one of its columns and worse in none "
        f"({_directions(columns)}):",
        "",
    ]
    for claim in claims:
        if claim.best_of:
            raise ValueError(f"claim {claim.text!r}: over budgets, give better and than")
        present = [b for b in order if all(label in budgets[b] for label in claim.rows)]
        if not present:
            lines.append(f"- *{claim.text}*: not checked: no budget has rows {claim.rows}.")
            continue
        chosen = _claim_columns(columns, claim)
        sides = {b: _sides(budgets[b], chosen, claim.better, claim.than) for b in present}
        defined = [b for b in present if any(sides[b].values())]
        holds = [b for b in defined if sides[b]["better"] and not sides[b]["worse"]]
        span = (
            f"**{_budget_span(defined, holds)}**"
            if defined
            else "no difference to screen at any budget"
        )
        per_budget = "; ".join(f"{b}: {_sides_verdict(sides[b], len(chosen))}" for b in present)
        lines.append(f"- *{claim.text}*: {span}. {per_budget}.")
    return [*lines, ""]


def budget_lines(
    budgets: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]],
    columns: Sequence[Column],
    fractions: Mapping[str, float],
    path: str | os.PathLike,
    *,
    title: str | None = None,
) -> Path:
    """One panel per column: x is the budget's fraction of labels kept (log scale, ticks named
    by the budgets; evenly spaced when two budgets share a fraction), a line per variant
    through its means with ±sd error bars. The last panel holds the legend."""
    from holistic.evaluation.plots import _pyplot, _save

    if not budgets or not columns:
        raise ValueError("budget_lines: expected at least one budget and one column")
    missing = [budget for budget in budgets if budget not in fractions]
    if missing:
        raise ValueError(f"budget_lines: no fraction for budget(s) {missing}")
    plt = _pyplot()
    order = sorted(budgets, key=lambda budget: fractions[budget])
    xs = [fractions[budget] for budget in order]
    log = len(set(xs)) == len(xs) and all(x > 0 for x in xs)
    position = {budget: (fractions[budget] if log else i) for i, budget in enumerate(order)}
    labels = _variants(budgets)
    ncols = min(4, len(columns) + 1)
    nrows = math.ceil((len(columns) + 1) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.0 * ncols, 2.6 * nrows + 0.4), squeeze=False)
    handles: dict[str, Any] = {}
    for ax, column in zip(axes.flat, columns, strict=False):
        for k, label in enumerate(labels):
            points = []
            for budget in order:
                mean, sd, n = mean_sd(column_values(budgets[budget].get(label, []), column))
                if n:
                    points.append((position[budget], mean, sd if n > 1 else 0.0))
            if points:
                x, y, err = zip(*points, strict=True)
                handles[label] = ax.errorbar(x, y, yerr=err, marker="o", ms=3, capsize=2,
                                             color=f"C{k % 10}", label=label)  # fmt: skip
        if log:
            ax.set_xscale("log")
        ax.set_xticks([position[budget] for budget in order], order, fontsize=7)
        ax.minorticks_off()
        ax.set_title(column.header, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(alpha=0.3)
    legend = axes.flat[len(columns)]
    legend.axis("off")
    legend.legend(list(handles.values()), list(handles), loc="center", fontsize=7)
    for ax in list(axes.flat)[len(columns) + 1 :]:
        ax.set_visible(False)
    fig.suptitle(title or "Per label budget (mean ± sd over seeds)", fontsize=9)
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
