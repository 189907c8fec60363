"""The FaceBehaviorNet ablation in the form of the paper's Table VI, over seeds and label budgets:
single-task networks vs FaceBehaviorNet without coupling vs with coupling, plus zero-shot
compound expressions.

Each (budget, seed, variant) is one run of ``recipes/facebehaviornet.py`` in its own process,
with the base config + the ablation's overrides + the variant's overrides + the seed, on the
budget's federation: the whole one, or a label-budget subset of it (a seeded fraction of each
named task's training labels, written once per budget and seed, so the spread over seeds
includes the luck of the subset). A finished run with the same command line is reused, an
interrupted one resumes, a run whose command line changed starts again. Then every run with all
three heads is scored zero-shot (Eq. 10) on the whole federation, and the summary (mean ± sd
over seeds, differences to the uncoupled model, bar charts; over several budgets also a table,
a plot and a sentence per column saying at which budgets each variant beats the baseline) is
written as Markdown: the whole results page, or one marked section of it (``section``).

    python recipes/facebehaviornet_ablation.py \
        --config recipes/configs/facebehaviornet_ablation/synthetic.yaml      # (make results)

Reads top to bottom: config -> per budget and seed, its federation -> train every run ->
zero-shot -> summarise -> write.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import torch

from holistic.data.federation import Federation
from holistic.data.manifest import MANIFEST_FILE
from holistic.data.subsets import BUDGET_TASKS, write_label_budget
from holistic.evaluation import to_jsonable
from holistic.evaluation.ablation import (
    CHANCE,
    Claim,
    Column,
    ablation_bars,
    budget_claim_reading,
    budget_lines,
    budget_reading,
    budget_table,
    chance_row,
    check_claims,
    claim_reading,
    lookup,
    positives_note,
    reading,
    replace_section,
    sections,
    stopping_line,
    summary_table,
    training_time_line,
)
from holistic.evaluation.run import CompoundTarget, zeroshot_compounds
from holistic.evaluation.tables import markdown_table
from holistic.models.checkpoint import load_model
from holistic.schema import resolve_compounds
from holistic.training.checks import check_compound_targets
from holistic.training.config import ConfigError, Range, Seed, load_config
from holistic.training.experiments import (
    federation_digest,
    read_record,
    run_recipe,
    run_setting,
    write_record,
)

RECIPE = Path(__file__).resolve().parent / "facebehaviornet.py"
#: The folder under output_dir that holds the label-budget subsets.
SUBSETS = "budgets"

#: A fraction of a task's training labels kept: in (0, 1].
LabelFraction = Annotated[float, Range(gt=0, le=1)]


@dataclass
class Variant:
    name: str  # folder name under output_dir
    label: str  # row label in the tables
    overrides: list[str] = field(default_factory=list)  # recipe overrides of this variant
    tasks: list[str] | None = None  # the tasks it is trained for (reported); None: all
    zeroshot: bool = True  # score zero-shot compounds (needs the VA, expression and AU heads)
    budgets: list[str] | None = None  # the budgets (names) it runs at; None: every one


@dataclass
class Budget:
    name: str  # folder name under output_dir (with several budgets) and output_dir/budgets
    label: str  # column and heading label, e.g. "1 %"
    # {task: fraction of its training labels kept}, tasks among va, expr, au (others keep all);
    # empty: the whole federation, no subset written.
    fractions: dict[str, LabelFraction] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.fractions) - set(BUDGET_TASKS))
        if unknown:
            raise ValueError(
                f"budget {self.name}: fractions are kept per task of {list(BUDGET_TASKS)}, "
                f"not {unknown}"
            )

    @property
    def fraction(self) -> float:
        """Where the budget sits on the plots' log axis: its smallest fraction (1: all labels)."""
        return min(self.fractions.values(), default=1.0)


@dataclass
class AblationConfig:
    base_config: str = "recipes/configs/facebehaviornet/demo.yaml"
    federation: str = "data/demo/shards"
    overrides: list[str] = field(default_factory=list)  # for every run
    seeds: list[Seed] = field(default_factory=lambda: [0, 1, 2])
    variants: list[Variant] = field(default_factory=list)
    baseline: str = "fbn"  # the variant the others are compared with
    columns: list[Column] = field(default_factory=list)  # Table VI columns
    zeroshot: list[CompoundTarget] = field(default_factory=list)
    zeroshot_table: str = "compound"
    # The label budgets every (variant, seed) is trained on; one budget: the runs sit directly
    # under output_dir and the page has no per-budget summary (the ablation before budgets).
    budgets: list[Budget] = field(default_factory=lambda: [Budget("all", "all labels")])
    # Column headers (of columns and the zero-shot "<dataset> UAR|F1") summarised over
    # budgets; empty: every column.
    headline: list[str] = field(default_factory=list)
    # The paper's claims, each a variant (better) that should beat another (than) on some
    # columns (headers, zero-shot ones included; empty: every column), read per budget.
    claims: list[Claim] = field(default_factory=list)
    output_dir: str = "runs/ablation"
    results: str = "docs/results.md"
    section: str | None = None  # write only this marked section of the page; None: the page
    title: str = "Results"  # the heading of the page or the section
    figures: str = "docs/images/results"
    command: str = "make results"  # how results.md is regenerated (written into it)
    only: str | None = None  # train only this budget's runs (by name) and write no page
    # A record per finished run (its setting, commit and numbers; no weights), kept in the
    # repository: a record with the same setting stands for its run, so the sweep can be
    # finished a part at a time. None: no records.
    records: str | None = None
    # Train nothing: print which runs the records hold and their means so far (make
    # results-progress); a long sweep's interim look, never written to the page.
    progress: bool = False


def parse_args(argv: list[str] | None) -> tuple[AblationConfig, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path)
    parser.add_argument("overrides", nargs="*", help="key=value overrides")
    args = parser.parse_args(argv)
    config = load_config(AblationConfig, args.config, args.overrides)
    names = [variant.name for variant in config.variants]
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"config key variants: give unique names, got {names}")
    if config.baseline not in names:
        raise ConfigError(f"config key baseline: {config.baseline!r} is not a variant ({names})")
    if SUBSETS in names:
        raise ConfigError(f"config key variants: {SUBSETS!r} is the subsets' folder, rename it")
    budgets = [budget.name for budget in config.budgets]
    labels = [budget.label for budget in config.budgets]
    if not budgets or len(set(budgets)) != len(budgets) or len(set(labels)) != len(labels):
        raise ConfigError(
            f"config key budgets: give at least one, with unique names and labels, got {budgets}"
        )
    if SUBSETS in budgets:
        raise ConfigError(f"config key budgets: {SUBSETS!r} is the subsets' folder, rename it")
    if config.progress and config.records is None:
        raise ConfigError("config key progress: it reads the run records: set records too")
    if config.only is not None and config.only not in budgets:
        raise ConfigError(f"config key only: {config.only!r} is not a budget ({budgets})")
    for variant in config.variants:
        unknown = sorted(set(variant.budgets or ()) - set(budgets))
        if unknown:
            raise ConfigError(
                f"variant {variant.name}: budgets {unknown} are not budgets ({budgets})"
            )
    headers = [column.header for column in [*config.columns, *zeroshot_columns(config)]]
    unknown = [header for header in config.headline if header not in headers]
    if unknown:
        raise ConfigError(f"config key headline: {unknown} are not column headers ({headers})")
    try:
        check_claims(config.claims, names, headers, what="variants")
    except ValueError as error:
        raise ConfigError(f"config key {error}") from None
    for index, claim in enumerate(config.claims):
        if claim.best_of:
            raise ConfigError(
                f"config key claims[{index}] ({claim.text!r}): an ablation claim compares two "
                "variants: give better and than"
            )
    return config, args.config


def _pairs(runs: list[tuple[Budget, int, Variant]]) -> list[tuple[Budget, Variant]]:
    return [(budget, variant) for budget, _, variant in runs]


def run_folder(config: AblationConfig, budget: Budget, variant: Variant, seed: int) -> Path:
    """``output_dir/<variant>/seed<k>`` with one budget (where the runs were before budgets),
    ``output_dir/<budget>/<variant>/seed<k>`` with several."""
    root = Path(config.output_dir)
    if len(config.budgets) > 1:
        root = root / budget.name
    return root / variant.name / f"seed{seed}"


def subset_folder(config: AblationConfig, budget: Budget, seed: int) -> Path:
    """``output_dir/budgets/<budget>/seed<k>/shards``: where a budget's subset of a seed lies."""
    return Path(config.output_dir) / SUBSETS / budget.name / f"seed{seed}" / "shards"


def label_budget(config: AblationConfig, source: Federation, budget: Budget, seed: int) -> str:
    """The federation ``budget``'s runs of ``seed`` train on: the source for a budget without
    fractions, else its subset ``output_dir/budgets/<budget>/seed<k>/shards``, written with
    the seed on first use and reused while its ``subset.json`` names the same source, fractions
    and seed. Writing it removes runs of this budget and seed that trained on an older subset:
    their command line names only the folder, so it would not tell them apart."""
    if not budget.fractions:
        return config.federation
    out = subset_folder(config, budget, seed)
    wanted = {
        "source": source.location,
        "split": "train",
        "seed": seed,
        "fractions": {task: float(fraction) for task, fraction in budget.fractions.items()},
    }
    if (out / MANIFEST_FILE).is_file() and (out / "subset.json").is_file():
        written = json.loads((out / "subset.json").read_text())
        if {key: written.get(key) for key in wanted} == wanted:
            return str(out)
    for variant in config.variants:
        stale = run_folder(config, budget, variant, seed)
        if stale.exists():
            print(f"  {stale} trained on another subset: removed", flush=True)
            shutil.rmtree(stale)
    print(f"  writing label budget {budget.name} seed {seed} to {out}", flush=True)
    write_label_budget(source, out, budget.fractions, seed=seed, split="train")
    return str(out)


def train_argv(config: AblationConfig, budget: Budget, variant: Variant, seed: int) -> list[str]:
    """The command line of one training run (on the budget's federation)."""
    out = run_folder(config, budget, variant, seed)
    federation = str(subset_folder(config, budget, seed)) if budget.fractions else config.federation
    return [
        "--config", config.base_config, f"data.federation={federation}",
        *config.overrides, *variant.overrides, f"train.seed={seed}", f"train.output_dir={out}",
    ]  # fmt: skip


def record_path(config: AblationConfig, budget: Budget, variant: Variant, seed: int) -> Path:
    """``records/<budget>/<variant>/seed<k>.json``."""
    return Path(config.records) / budget.name / variant.name / f"seed{seed}.json"


def run_record(
    config: AblationConfig, budget: Budget, variant: Variant, seed: int, world: str
) -> tuple[list[str], dict, Path | None, dict | None]:
    """One run's training command line, its setting (that command line and the world it
    trains on), where its record lies (None: no records) and the record, when it holds this
    setting (None: the run has to be trained)."""
    argv = train_argv(config, budget, variant, seed)
    setting = {**run_setting(argv), "federation_sha256": world}
    if config.records is None:
        return argv, setting, None, None
    path = record_path(config, budget, variant, seed)
    return argv, setting, path, read_record(path, setting)


def sweep_progress(
    config: AblationConfig, runs: list[tuple[Budget, int, Variant]], world: str
) -> dict[str, dict[str, list[dict]]]:
    """Print, per budget, how many of its runs are recorded with this setting, which are not,
    and the means over the recorded seeds so far; returns the recorded documents as ``main``
    does. Trains nothing and writes nothing."""
    results: dict[str, dict[str, list[dict]]] = {}
    missing: dict[str, dict[str, list[int]]] = {}  # budget -> variant -> seeds
    for budget, seed, variant in runs:
        *_, record = run_record(config, budget, variant, seed, world)
        rows = results.setdefault(budget.label, {})
        if record is None:
            missing.setdefault(budget.label, {}).setdefault(variant.name, []).append(seed)
            continue
        rows.setdefault(variant.label, []).append(record["results"]["document"])
    columns = [*config.columns, *zeroshot_columns(config)]
    lines = [
        f"Recorded runs in {config.records}/ (this setting and world), means over their seeds:"
    ]
    for label, rows in results.items():
        found = missing.get(label, {})
        absent = {v.name: found[v.name] for v in config.variants if v.name in found}
        done = sum(len(documents) for documents in rows.values())
        todo = sum(len(seeds) for seeds in absent.values())
        line = f"{label}: {done} of {done + todo} runs recorded"
        if absent:
            line += "; to train (seeds): " + ", ".join(
                f"{name} ({', '.join(map(str, seeds))})" for name, seeds in absent.items()
            )
        lines += ["", line]
        if rows:
            counted = {f"{v} ({len(d)})": d for v, d in rows.items()}
            lines += ["", summary_table(counted, columns, first_header="Model (seeds)")]
    print("\n".join(lines), flush=True)
    return results


def run_variant(
    config: AblationConfig,
    source: Federation,
    budget: Budget,
    variant: Variant,
    seed: int,
    argv: list[str],
) -> tuple[dict, dict | None]:
    """Train (or reuse, or resume) one run and score it zero-shot.

    Returns:
        The run's metrics document (only its trained tasks, with the seed and zero-shot scores)
        and the description of the label-budget subset it trained on (None: every label).
    """
    federation = label_budget(config, source, budget, seed)
    subset = None
    if federation != config.federation:
        subset = json.loads((Path(federation) / "subset.json").read_text())
    run = run_recipe(RECIPE, argv, run_folder(config, budget, variant, seed))
    document = json.loads((run / "metrics.json").read_text())
    document["seed"] = seed
    if variant.tasks is not None:  # untrained heads are not results
        document["metrics"] = {
            dataset: {task: m for task, m in per_task.items() if task in variant.tasks}
            for dataset, per_task in document["metrics"].items()
        }
    if variant.zeroshot and config.zeroshot:  # on the whole federation: not training data
        document["zeroshot"] = score_zeroshot(config, run)
        (run / "zeroshot.json").write_text(json.dumps(to_jsonable(document["zeroshot"])))
    return document, subset


def score_zeroshot(config: AblationConfig, run: Path) -> dict[str, dict]:
    """Eq. 10 scores of one run's model on every zero-shot target, by dataset."""
    model = load_model(run / "model")  # its input spec says the image size it was trained at
    federation = Federation(config.federation)
    return {
        target.dataset: zeroshot_compounds(
            model,
            federation,
            dataset=target.dataset,
            split=target.split,
            compounds=resolve_compounds(target.compounds),
            table=config.zeroshot_table,
        )
        for target in config.zeroshot
    }


def main(argv: list[str] | None = None) -> dict:
    config, config_path = parse_args(argv)
    source = Federation(config.federation)
    if config.zeroshot:  # before hours of training, not after
        check_compound_targets(source, config.zeroshot, key="zeroshot")
    # Budget -> seed -> variant: each subset is written right before the first run on it.
    budgets = [b for b in config.budgets if config.only in (None, b.name)]
    runs = [(b, s, v) for b in budgets for s in config.seeds for v in config.variants
            if v.budgets is None or b.name in v.budgets]  # fmt: skip
    results: dict[str, dict[str, list[dict]]] = {
        budget.label: {v.label: [] for v in config.variants if (budget, v) in _pairs(runs)}
        for budget in budgets
    }
    kept: dict[str, list[dict]] = {budget.label: [] for budget in budgets}
    world = federation_digest(source.manifest)  # records of runs on other data do not count
    commits: set[str | None] = set()  # of the code that trained the recorded runs
    if config.progress:
        return sweep_progress(config, runs, world)
    start = time.perf_counter()
    for i, (budget, seed, variant) in enumerate(runs, 1):
        print(f"[{i}/{len(runs)}] {budget.name} {variant.name} seed {seed}", flush=True)
        argv, setting, path, record = run_record(config, budget, variant, seed, world)
        if record is not None:
            print(f"  reused its record {path}", flush=True)
            document, subset = record["results"]["document"], record["results"]["subset"]
        else:
            document, subset = run_variant(config, source, budget, variant, seed, argv)
            if path is not None:
                numbers = to_jsonable({"document": document, "subset": subset})
                record = write_record(path, setting, numbers)
        commits.add(record["commit"] if record is not None else None)
        if subset is not None and len(kept[budget.label]) < config.seeds.index(seed) + 1:
            kept[budget.label].append(subset)  # once per subset
        results[budget.label][variant.label].append(document)
    print(f"all runs ready in {time.perf_counter() - start:.0f} s", flush=True)
    if config.only is not None:  # one budget's runs: the page needs them all
        return results

    results_path = Path(config.results)
    figures = Path(config.figures)
    text = results_markdown(
        config, config_path, results, kept, figures, results_path.parent, commits
    )
    results_path.parent.mkdir(parents=True, exist_ok=True)
    old = results_path.read_text() if results_path.is_file() else "# Results\n"
    if config.section is not None:  # this section only; the rest of the page stays as it is
        text = replace_section(old, config.section, text)
    else:  # other generators' sections of the page (the temporal comparison) are kept
        for name, body in sections(old).items():
            text = replace_section(text, name, body)
    results_path.write_text(text)
    summary = Path(config.output_dir) / "results.json"
    summary.parent.mkdir(parents=True, exist_ok=True)  # absent when every run was recorded
    summary.write_text(json.dumps(to_jsonable(results), indent=1, allow_nan=False))
    print(f"written {results_path} (and {summary})")
    return results


def zeroshot_columns(config: AblationConfig) -> list[Column]:
    """The zero-shot columns: UAR and F1 of each target, headed "<dataset> UAR" etc. (UAR is
    the paper's Diag., the mean diagonal of the row-normalised confusion matrix: one column)."""
    return [
        Column(target.dataset, "zeroshot", metric, f"{target.dataset} {header}")
        for target in config.zeroshot
        for metric, header in (("uar", "UAR"), ("f1", "F1"))
    ]


def results_markdown(
    config: AblationConfig,
    config_path: Path | None,
    results: dict[str, dict[str, list[dict]]],
    kept: dict[str, list[dict]],
    figures: Path,
    page_dir: Path,
    commits: set[str | None] = frozenset(),
) -> str:
    """The page (or its section): setup, then with several budgets the summary over budgets and
    one section per budget, else the one budget's tables as the ablation had them. ``commits``:
    of the code that trained the recorded runs (None: not recorded or outside git)."""
    top = 1 if config.section is None else 2  # a section sits one level below the page's title
    several = len(config.budgets) > 1
    subsets = any(budget.fractions for budget in config.budgets)
    seconds = sum(
        d.get("train_seconds", 0.0) for rows in results.values() for docs in rows.values()
        for d in docs
    )  # fmt: skip
    lines = [
        _heading(top, config.title),
        "",
        f"<!-- Generated by `{config.command}`; edits by hand are overwritten. -->",
        "",
        f"Regenerate with `{config.command}` (= `python recipes/facebehaviornet_ablation.py "
        f"--config {config_path}`). Every number below was measured by that command on the "
        "synthetic demo world (docs/synth_world.md); nothing was tuned on these results.",
        "",
        _heading(top + 1, "Setup"),
        "",
        base_config_line(config),
        f"- Seeds: {', '.join(map(str, config.seeds))} (a seed changes the initialisation, the "
        "data order and the augmentation"
        + (", and which labels a budget keeps" if subsets else "")
        + "; the world is the same).",
    ]
    if several or subsets:
        lines += [
            "- Label budgets (training labels kept per task, summed over the datasets; the "
            "evaluated splits and the zero-shot targets are whole):",
            *[f"  - **{b.label}** (`{b.name}`): {_budget_text(b, kept[b.label])}"
              for b in config.budgets],
        ]  # fmt: skip
    lines += [
        "- Variants (overrides of each):",
        *[f"  - **{v.label}**: `{' '.join(v.overrides) or '(none)'}`" for v in config.variants],
        _time_line(config, seconds),
        *_records_line(config, commits),
        "- Cells are mean ± sample standard deviation over the seeds. Validation splits.",
        "",
    ]
    if not several:
        (budget,) = config.budgets
        lines += budget_section(
            config, results[budget.label], figures, page_dir, level=top + 1,
            title="Table VI on the synthetic world",
        )  # fmt: skip
    else:
        lines += budget_summary(config, results, figures, page_dir, level=top + 1)
        for budget in config.budgets:
            lines += [_heading(top + 1, f"Label budget: {budget.label}"), ""]
            lines += budget_section(
                config, results[budget.label], figures / budget.name, page_dir, level=top + 2,
                title="Table VI", budget=budget.label,
            )  # fmt: skip
    lines += [_heading(top + 1, "Per seed"), "", per_seed_table(results, config.columns), ""]
    return "\n".join(lines)


def budget_summary(
    config: AblationConfig,
    results: dict[str, dict[str, list[dict]]],
    figures: Path,
    page_dir: Path,
    level: int,
) -> list[str]:
    """Coupling per label budget: a table per headline column (variants x budgets), the line
    plot over budgets, and per variant and column the budgets where it beats the baseline."""
    baseline = next(v.label for v in config.variants if v.name == config.baseline)
    every = [*config.columns, *zeroshot_columns(config)]
    columns = [c for c in every if c.header in config.headline] if config.headline else every
    fractions = {budget.label: budget.fraction for budget in config.budgets}
    plot = budget_lines(results, columns, fractions, figures / "budgets.png",
                        title="Per label budget (mean ± sd over seeds)")  # fmt: skip
    lines = [
        _heading(level, "Coupling per label budget"),
        "",
        "Per column, the mean ± sd over the seeds at each budget and, in brackets, the "
        f"difference to **{baseline}** at that budget; **bold** where it exceeds two standard "
        "errors (Welch), a screen rather than a test.",
        "",
    ]
    for column in columns:
        lines += [f"**{column.header}**", "", budget_table(results, column, baseline=baseline), ""]
    pooled = {f"{b} {v}": docs for b, rows in results.items() for v, docs in rows.items()}
    lines += [
        *positives_note(pooled, columns),
        f"![Per label budget]({_relative(plot, page_dir)})",
        "",
        *budget_reading(results, columns, baseline, fractions),
    ]
    if config.claims:
        lines += budget_claim_reading(results, every, _claims(config), fractions)
    return lines


def budget_section(
    config: AblationConfig,
    results: dict[str, list[dict]],
    figures: Path,
    page_dir: Path,
    *,
    level: int,
    title: str,
    budget: str | None = None,
) -> list[str]:
    """One budget's Table VI, its differences to the baseline and its zero-shot compounds; the
    plots' titles name ``budget`` when given."""
    of_budget = f", label budget {budget}" if budget is not None else ""
    baseline = next(v.label for v in config.variants if v.name == config.baseline)
    zeroshot_rows = {v.label: results[v.label] for v in config.variants if v.zeroshot}
    chance = {f"{t.dataset} UAR": 1 / len(resolve_compounds(t.compounds)) for t in config.zeroshot}
    trivial = chance_row(results)
    levels = {c.header: lookup(doc, c) for doc in trivial.get(CHANCE, []) for c in config.columns}
    table_plot = ablation_bars(results, config.columns, figures / "ablation.png",
                               title=f"{title}{of_budget} (mean ± sd over seeds)",
                               reference=levels)  # fmt: skip
    lines = [
        _heading(level, title),
        "",
        summary_table({**results, **trivial}, config.columns),
        "",
        *_chance_note(trivial),
        *stopping_line(results),
        *positives_note(results, config.columns),
        f"![Ablation]({_relative(table_plot, page_dir)})",
        "",
        _heading(level + 1, f"Differences to {baseline}"),
        "",
        "Difference of the means; **bold** where it exceeds two standard errors (Welch). With "
        "three seeds this is a screen, not a significance test.",
        "",
        summary_table(results, config.columns, baseline=baseline),
        "",
        *reading(results, config.columns, baseline),
    ]
    if config.claims and budget is None:  # over several budgets the summary reads them
        every = [*config.columns, *zeroshot_columns(config)]
        lines += claim_reading(results, every, _claims(config))
    if config.zeroshot:
        columns = zeroshot_columns(config)
        zs_plot = ablation_bars(zeroshot_rows, columns, figures / "zeroshot.png",
                                title=f"Zero-shot compounds (Eq. 10){of_budget}",
                                reference=chance)  # fmt: skip
        targets = ", ".join(
            f"{t.dataset} {t.split} ({len(resolve_compounds(t.compounds))} classes, chance "
            f"{1 / len(resolve_compounds(t.compounds)):.3f})"
            for t in config.zeroshot
        )
        lines += [
            _heading(level, "Zero-shot compound expressions"),
            "",
            f"Eq. 10 of the FaceBehaviorNet paper; no compound label is trained on. Targets: "
            f"{targets}. UAR equals the paper's Diag. (the mean diagonal of the row-normalised "
            "confusion matrix). The dashed lines in the plot are chance.",
            "",
            summary_table(zeroshot_rows, columns),
            "",
            f"![Zero-shot]({_relative(zs_plot, page_dir)})",
            "",
            summary_table(zeroshot_rows, columns, baseline=baseline),
            "",
            *reading(zeroshot_rows, columns, baseline),
        ]
    return lines


def _chance_note(trivial: dict[str, list[dict]]) -> list[str]:
    if not trivial:
        return []
    return [
        f"*{CHANCE}*: the same samples scored with valence-arousal constant at 0, each "
        "dataset's most frequent expression and every AU present (the dashes in the plot); an "
        "F1 below it is no better than calling every AU present.",
        "",
    ]


def _claims(config: AblationConfig) -> list[Claim]:
    """The config's claims on the tables' rows: variant names replaced by their labels."""
    labels = {variant.name: variant.label for variant in config.variants}
    return [claim.relabelled(labels) for claim in config.claims]


def _budget_text(budget: Budget, subsets: list[dict]) -> str:
    """``"1 % of au, 1 % of expr labels; kept au 35 of 3484, expr 40 of 4615"`` from the
    budget's fractions and its subsets' ``subset.json`` (one per seed)."""
    if not budget.fractions:
        return "every label (the federation as it is)"
    asked = ", ".join(f"{100 * f:g} % of {task}" for task, f in budget.fractions.items())
    counts = []
    for subset in subsets:
        per_task = {
            task: [sum(c[task][k] for c in subset["counts"].values() if task in c)
                   for k in ("kept", "available")]
            for task in budget.fractions
        }  # fmt: skip
        text = ", ".join(f"{task} {kept} of {total}" for task, (kept, total) in per_task.items())
        counts.append(text)
    distinct = list(dict.fromkeys(counts))
    kept = (
        distinct[0]
        if len(distinct) == 1
        else "; ".join(f"seed {s['seed']}: {c}" for s, c in zip(subsets, counts, strict=True))
    )
    return f"{asked} labels; kept {kept}"


def per_seed_table(results: dict[str, dict[str, list[dict]]], columns: list[Column]) -> str:
    """Every run's numbers and the steps it trained ("800, plateau"; "2400, limit": it reached
    its step budget first); a Budget column first when there are several budgets."""
    several = len(results) > 1
    rows = [
        [*([budget] if several else []), label, document["seed"],
         f"{document['steps']}, {'plateau' if document.get('stopped') else 'limit'}",
         *(lookup(document, column) for column in columns)]
        for budget, per_variant in results.items()
        for label, documents in per_variant.items()
        for document in documents
    ]  # fmt: skip
    header = [*(["Budget"] if several else []), "Model", "Seed", "Steps"]
    return markdown_table([*header, *(column.header for column in columns)], rows)


def base_config_line(config: AblationConfig) -> str:
    """The setup's first line: the recipe config every run starts from, and the overrides
    every run shares (named only when there are some)."""
    shared = f", with `{' '.join(config.overrides)}`" if config.overrides else ""
    return f"- Base recipe config: `{config.base_config}`{shared}."


def _time_line(config: AblationConfig, seconds: float) -> str:
    """The training time: the runs' wall clocks summed; with records, the runs may have been
    trained on other days and side by side, so say that the sum overstates the machine time."""
    if config.records is None:
        return training_time_line(seconds, torch.get_num_threads())
    return (
        f"- Training time: {seconds / 60:.0f} min, the runs' wall-clock times summed (from their "
        "records; a run trained beside another on the same cores counts in full, so this "
        "overstates the machine time)."
    )


def _records_line(config: AblationConfig, commits: set[str | None]) -> list[str]:
    if config.records is None:
        return []
    known = sorted(commit[:12] + commit[40:] for commit in commits if commit)  # "+changes" kept
    return [
        f"- Every run's setting and numbers are recorded in `{config.records}/` (a record with "
        "the same setting stands for its run, so the sweep can be finished a part at a time; "
        f"delete a record to train its run again); trained at commit(s) {', '.join(known)}."
    ]


def _heading(level: int, text: str) -> str:

    return f"{'#' * level} {text}"


def _relative(path: Path, start: Path) -> str:

    return Path(os.path.relpath(path, start)).as_posix()


if __name__ == "__main__":
    main(sys.argv[1:])
