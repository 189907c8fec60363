"""The FaceBehaviorNet ablation in the form of the paper's Table VI, over seeds: single-task networks
vs FaceBehaviorNet without coupling vs with coupling, plus zero-shot compound expressions.

Each (variant, seed) is one run of ``recipes/facebehaviornet.py`` in its own process, with the
base config + the ablation's overrides + the variant's overrides + the seed. A finished run with
the same command line is reused, an interrupted one resumes, a run whose command line changed
starts again. Then every run with all three heads is scored zero-shot (Eq. 10), and the summary
(mean ± sd over seeds, differences to the uncoupled model, a bar chart) is written as Markdown.

    python recipes/facebehaviornet_ablation.py \
        --config recipes/configs/facebehaviornet_ablation/synthetic.yaml      # (make results)

Reads top to bottom: config -> train every run -> zero-shot -> summarise -> write.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from holistic.data.federation import Federation
from holistic.evaluation import to_jsonable
from holistic.evaluation.ablation import (
    Column,
    ablation_bars,
    lookup,
    reading,
    replace_section,
    sections,
    summary_table,
)
from holistic.evaluation.run import CompoundTarget, zeroshot_compounds
from holistic.evaluation.tables import markdown_table
from holistic.models.checkpoint import load_model
from holistic.schema import resolve_compounds
from holistic.training.checks import check_compound_targets
from holistic.training.config import ConfigError, Seed, load_config
from holistic.training.experiments import run_recipe

RECIPE = Path(__file__).resolve().parent / "facebehaviornet.py"


@dataclass
class Variant:
    name: str  # folder name under output_dir
    label: str  # row label in the tables
    overrides: list[str] = field(default_factory=list)  # recipe overrides of this variant
    tasks: list[str] | None = None  # the tasks it is trained for (reported); None: all
    zeroshot: bool = True  # score zero-shot compounds (needs the VA, expression and AU heads)


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
    output_dir: str = "runs/ablation"
    results: str = "docs/results.md"
    figures: str = "docs/images/results"
    command: str = "make results"  # how results.md is regenerated (written into it)


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
    return config, args.config


def train(config: AblationConfig, variant: Variant, seed: int) -> Path:
    """Run (or reuse, or resume) one training run; return its output folder."""
    out = Path(config.output_dir) / variant.name / f"seed{seed}"
    argv = [
        "--config", config.base_config, f"data.federation={config.federation}",
        *config.overrides, *variant.overrides, f"train.seed={seed}", f"train.output_dir={out}",
    ]  # fmt: skip
    return run_recipe(RECIPE, argv, out)


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
    if config.zeroshot:  # before hours of training, not after
        check_compound_targets(Federation(config.federation), config.zeroshot, key="zeroshot")
    runs = [(variant, seed) for seed in config.seeds for variant in config.variants]
    results: dict[str, list[dict]] = {variant.label: [] for variant in config.variants}
    start = time.perf_counter()
    for i, (variant, seed) in enumerate(runs, 1):
        print(f"[{i}/{len(runs)}] {variant.name} seed {seed}", flush=True)
        run = train(config, variant, seed)
        document = json.loads((run / "metrics.json").read_text())
        document["seed"] = seed
        if variant.tasks is not None:  # untrained heads are not results
            document["metrics"] = {
                dataset: {task: m for task, m in per_task.items() if task in variant.tasks}
                for dataset, per_task in document["metrics"].items()
            }
        if variant.zeroshot and config.zeroshot:
            document["zeroshot"] = score_zeroshot(config, run)
            (run / "zeroshot.json").write_text(json.dumps(to_jsonable(document["zeroshot"])))
        results[variant.label].append(document)
    print(f"all runs ready in {time.perf_counter() - start:.0f} s", flush=True)

    results_path = Path(config.results)
    figures = Path(config.figures)
    text = results_markdown(config, config_path, results, figures, results_path.parent)
    results_path.parent.mkdir(parents=True, exist_ok=True)
    # Other generators' sections of the page (the temporal comparison) are kept as they are.
    kept = sections(results_path.read_text()) if results_path.is_file() else {}
    for name, body in kept.items():
        text = replace_section(text, name, body)
    results_path.write_text(text)
    summary = Path(config.output_dir) / "results.json"
    summary.write_text(json.dumps(to_jsonable(results), indent=1, allow_nan=False))
    print(f"written {results_path} (and {summary})")
    return results


def results_markdown(
    config: AblationConfig,
    config_path: Path | None,
    results: dict[str, list[dict]],
    figures: Path,
    page_dir: Path,
) -> str:
    baseline = next(v.label for v in config.variants if v.name == config.baseline)
    zeroshot_rows = {v.label: results[v.label] for v in config.variants if v.zeroshot}
    zeroshot_columns = [
        Column(target.dataset, "zeroshot", metric, f"{target.dataset} {header}")
        for target in config.zeroshot
        for metric, header in (("uar", "UAR"), ("f1", "F1"), ("diag", "Diag."))
    ]
    chance = {
        f"{t.dataset} {header}": 1 / len(resolve_compounds(t.compounds))
        for t in config.zeroshot
        for header in ("UAR", "Diag.")
    }
    seconds = sum(d.get("train_seconds", 0.0) for docs in results.values() for d in docs)
    table_plot = ablation_bars(results, config.columns, figures / "ablation.png",
                               title="Table VI on the synthetic world (mean ± sd over seeds)")  # fmt: skip
    lines = [
        "# Results",
        "",
        f"<!-- Generated by `{config.command}`; edits by hand are overwritten. -->",
        "",
        f"Regenerate with `{config.command}` (= `python recipes/facebehaviornet_ablation.py "
        f"--config {config_path}`). Every number below was measured by that command on the "
        "synthetic demo world (docs/synth_world.md); nothing was tuned on these results.",
        "",
        "## Setup",
        "",
        f"- Base recipe config: `{config.base_config}`, with `{' '.join(config.overrides)}`.",
        f"- Seeds: {', '.join(map(str, config.seeds))} (a seed changes the initialisation, the "
        "data order and the augmentation; the world is the same).",
        "- Variants (overrides of each):",
        *[f"  - **{v.label}**: `{' '.join(v.overrides) or '(none)'}`" for v in config.variants],
        f"- Total training time: {seconds / 60:.0f} min on {platform.machine()} "
        f"({torch.get_num_threads()} torch threads).",
        "- Cells are mean ± sample standard deviation over the seeds. Validation splits.",
        "",
        "## Table VI on the synthetic world",
        "",
        summary_table(results, config.columns),
        "",
        f"![Ablation]({_relative(table_plot, page_dir)})",
        "",
        f"### Differences to {baseline}",
        "",
        "Difference of the means; **bold** where it exceeds two standard errors (Welch). With "
        "three seeds this is a screen, not a significance test.",
        "",
        summary_table(results, config.columns, baseline=baseline),
        "",
        *reading(results, config.columns, baseline),
    ]
    if config.zeroshot:
        zs_plot = ablation_bars(zeroshot_rows, zeroshot_columns, figures / "zeroshot.png",
                                title="Zero-shot compounds (Eq. 10)", reference=chance)  # fmt: skip
        targets = ", ".join(
            f"{t.dataset} {t.split} ({len(resolve_compounds(t.compounds))} classes, chance "
            f"{1 / len(resolve_compounds(t.compounds)):.3f})"
            for t in config.zeroshot
        )
        lines += [
            "## Zero-shot compound expressions",
            "",
            f"Eq. 10 of the FaceBehaviorNet paper; no compound label is trained on. Targets: "
            f"{targets}. The dashed lines in the plot are chance.",
            "",
            summary_table(zeroshot_rows, zeroshot_columns),
            "",
            f"![Zero-shot]({_relative(zs_plot, page_dir)})",
            "",
            summary_table(zeroshot_rows, zeroshot_columns, baseline=baseline),
            "",
            *reading(zeroshot_rows, zeroshot_columns, baseline),
        ]
    lines += ["## Per seed", "", per_seed_table(results, config.columns), ""]
    return "\n".join(lines)


def per_seed_table(results: dict[str, list[dict]], columns: list[Column]) -> str:

    rows = [
        [label, document["seed"], *(lookup(document, column) for column in columns)]
        for label, documents in results.items()
        for document in documents
    ]
    return markdown_table(["Model", "Seed", *(column.header for column in columns)], rows)


def _relative(path: Path, start: Path) -> str:

    return Path(os.path.relpath(path, start)).as_posix()


if __name__ == "__main__":
    main(sys.argv[1:])
