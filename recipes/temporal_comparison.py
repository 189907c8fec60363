"""Frame model vs sequence models on the synthetic temporal world, and under its control, over
seeds: the temporal table of docs/results.md.

Each (setting, model, seed) is one run of its recipe (``facebehaviornet.py``, ``cnn_rnn.py`` or
``decision_fusion.py``) in its own process, on the setting's federation; every model is scored
on the same validation frames (every frame of every held-out video once). A finished run with
the same command line is reused, an interrupted one resumes, a changed one starts again. The
summary (mean ± sd over seeds per setting, each model's difference to the frame model) replaces
the temporal section of the results page and leaves the rest of the page as it is.

    python recipes/temporal_comparison.py \
        --config recipes/configs/temporal_comparison/synthetic.yaml    # (make results-temporal)

Reads top to bottom: config -> run every (setting, model, seed) -> summarise -> write.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from holistic.evaluation import to_jsonable
from holistic.evaluation.ablation import (
    Claim,
    Column,
    ablation_bars,
    claim_reading,
    reading,
    replace_section,
    summary_table,
)
from holistic.training.config import ConfigError, Seed, load_config
from holistic.training.experiments import run_recipe

RECIPES = Path(__file__).resolve().parent


@dataclass
class Setting:
    name: str  # folder name under output_dir
    label: str  # heading in the tables
    federation: str


@dataclass
class Entry:
    name: str  # folder name under output_dir/<setting>
    label: str  # row label
    recipe: str = ""  # a script in recipes/ (none with reuse)
    # The recipe's arguments; {federation}, {seed}, {out} and {model:<entry>} (the model folder
    # of another entry's run of the same setting and seed) are filled in.
    args: list[str] = field(default_factory=list)
    # Read another (earlier) entry's run instead of training: e.g. one stage of a curriculum.
    reuse: str | None = None
    metrics: str = "metrics.json"  # the results file in the run folder (stages/S-8/metrics.json)


#: What the temporal section says it measures (the default of ComparisonConfig.intro).
TEMPORAL_INTRO = (
    "Does a sequence model beat a frame model where labels depend on time, and does the gain "
    "vanish where they do not? Settings (docs/synth_labels.md, temporal dynamics): {settings}. "
    "Every model is scored on the same frames: every frame of every validation video once."
)


@dataclass
class ComparisonConfig:
    settings: list[Setting] = field(default_factory=list)
    seeds: list[Seed] = field(default_factory=lambda: [0, 1, 2])
    entries: list[Entry] = field(default_factory=list)  # in order: members before their fusion
    baseline: str = "frame"  # the entry the others are compared with
    columns: list[Column] = field(default_factory=list)
    # The papers' claims, each read on every setting: better/than, best_of/expected name entries.
    claims: list[Claim] = field(default_factory=list)
    output_dir: str = "runs/temporal"
    results: str = "docs/results.md"
    section: str = "temporal"  # the marked section of the results page this writes
    figures: str = "docs/images/results"
    command: str = "make results-temporal"
    title: str = "Temporal models on the synthetic temporal world"  # the section's heading
    intro: str = TEMPORAL_INTRO  # what it measures; {settings} is filled in


def parse_args(argv: list[str] | None) -> tuple[ComparisonConfig, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path)
    parser.add_argument("overrides", nargs="*", help="key=value overrides")
    args = parser.parse_args(argv)
    config = load_config(ComparisonConfig, args.config, args.overrides)
    names = [entry.name for entry in config.entries]
    if not names or len(set(names)) != len(names) or config.baseline not in names:
        raise ConfigError(
            f"config keys entries, baseline: unique entry names including the baseline "
            f"{config.baseline!r}, got {names}"
        )
    if not config.settings:
        raise ConfigError("config key settings: name at least one federation to compare on")
    trained = [entry.name for entry in config.entries if entry.reuse is None]
    for index, entry in enumerate(config.entries):
        if entry.reuse is not None and (entry.reuse not in trained or entry.recipe or entry.args):
            raise ConfigError(
                f"config key entries[{index}] ({entry.name}): reuse names an entry that trains "
                f"({trained}) and then takes no recipe or args"
            )
        if entry.reuse is None and not entry.recipe:
            raise ConfigError(
                f"config key entries[{index}] ({entry.name}): give a recipe, or reuse an "
                "earlier entry's run"
            )
    for index, claim in enumerate(config.claims):
        unknown = [n for n in (claim.best_of or [claim.better, claim.than]) if n not in names]
        if unknown:
            raise ConfigError(
                f"config key claims[{index}] ({claim.text!r}): no entries {unknown}; "
                f"entries: {names}"
            )
    return config, args.config


def run(config: ComparisonConfig, setting: Setting, entry: Entry, seed: int) -> Path:
    """Run (or reuse, or resume) one entry's recipe; return its output folder (for an entry
    that reuses another's run, that run's folder)."""
    root = Path(config.output_dir) / setting.name
    if entry.reuse is not None:
        return root / entry.reuse / f"seed{seed}"
    out = root / entry.name / f"seed{seed}"
    fields = {"federation": setting.federation, "seed": seed, "out": out}
    argv = [_fill(arg, fields, root, seed) for arg in entry.args]
    return run_recipe(RECIPES / entry.recipe, argv, out)


def _fill(arg: str, fields: dict, root: Path, seed: int) -> str:
    while "{model:" in arg:  # another entry's trained model of this setting and seed
        start = arg.index("{model:")
        end = arg.index("}", start)
        name = arg[start + len("{model:") : end]
        arg = arg[:start] + str(root / name / f"seed{seed}" / "model") + arg[end + 1 :]
    for key, value in fields.items():  # not str.format: YAML flow maps have braces too
        arg = arg.replace(f"{{{key}}}", str(value))
    return arg


def main(argv: list[str] | None = None) -> dict:
    config, config_path = parse_args(argv)
    results: dict[str, dict[str, list[dict]]] = {}
    trained = [entry for entry in config.entries if entry.reuse is None]
    runs = [(s, e, seed) for s in config.settings for seed in config.seeds for e in trained]
    start = time.perf_counter()
    for i, (setting, entry, seed) in enumerate(runs, 1):
        print(f"[{i}/{len(runs)}] {setting.name} {entry.name} seed {seed}", flush=True)
        run(config, setting, entry, seed)
    print(f"all runs ready in {time.perf_counter() - start:.0f} s", flush=True)
    for setting in config.settings:  # rows in the entries' order, reused runs read again
        for entry in config.entries:
            for seed in config.seeds:
                out = run(config, setting, entry, seed)  # finished: reused, not trained again
                document = json.loads((out / entry.metrics).read_text())
                document["seed"] = seed
                results.setdefault(setting.label, {}).setdefault(entry.label, []).append(document)

    page = Path(config.results)
    section = results_markdown(config, config_path, results, page.parent)
    page.parent.mkdir(parents=True, exist_ok=True)
    old = page.read_text() if page.is_file() else "# Results\n"
    page.write_text(replace_section(old, config.section, section))
    summary = Path(config.output_dir) / "results.json"
    summary.write_text(json.dumps(to_jsonable(results), indent=1, allow_nan=False))
    print(f"written the {config.section!r} section of {page} (and {summary})")
    return results


def results_markdown(
    config: ComparisonConfig,
    config_path: Path | None,
    results: dict[str, dict[str, list[dict]]],
    page_dir: Path,
) -> str:
    import os

    baseline = next(e.label for e in config.entries if e.name == config.baseline)
    seconds = sum(
        d.get("train_seconds", 0.0) for rows in results.values() for docs in rows.values()
        for d in docs
    )  # fmt: skip
    settings = "; ".join(f"**{s.label}**: `{s.federation}`" for s in config.settings)
    labels = {e.name: e.label for e in config.entries}
    lines = [
        f"## {config.title}",
        "",
        f"<!-- Generated by `{config.command}` (= `python recipes/temporal_comparison.py "
        f"--config {config_path}`); edits by hand are overwritten. -->",
        "",
        config.intro.replace("{settings}", settings)
        + " Cells are mean ± sample standard deviation over seeds "
        f"{', '.join(map(str, config.seeds))}.",
        "",
        "- Models (recipe and arguments of each):",
        *[
            f"  - **{e.label}**: `{e.recipe} {' '.join(e.args)}`"
            if e.reuse is None
            else f"  - **{e.label}**: `{e.metrics}` of the **{labels[e.reuse]}** run"
            for e in config.entries
        ],
        f"- Total training time: {seconds / 60:.0f} min on {platform.machine()} "
        f"({torch.get_num_threads()} torch threads).",
        "",
    ]
    for setting in config.settings:
        rows = results[setting.label]
        slug = f"{config.section}-{setting.name}"
        plot = ablation_bars(rows, config.columns, Path(config.figures) / f"{slug}.png",
                             title=f"{setting.label} (mean ± sd over seeds)")  # fmt: skip
        lines += [
            f"### {setting.label}",
            "",
            summary_table(rows, config.columns),
            "",
            f"![{setting.label}]({Path(os.path.relpath(plot, page_dir)).as_posix()})",
            "",
            f"Difference to **{baseline}** (difference of the means; **bold** beyond two "
            "standard errors, Welch):",
            "",
            summary_table(rows, config.columns, baseline=baseline),
            "",
            *reading(rows, config.columns, baseline),
        ]
        if config.claims:
            lines += claim_reading(
                rows, config.columns, [_labelled(c, labels) for c in config.claims]
            )
    return "\n".join(lines)


def _labelled(claim: Claim, labels: dict[str, str]) -> Claim:
    """The claim with its entry names replaced by the entries' row labels."""
    return replace(
        claim,
        better=labels.get(claim.better, ""),
        than=labels.get(claim.than, ""),
        best_of=[labels[name] for name in claim.best_of],
        expected=labels.get(claim.expected, ""),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
