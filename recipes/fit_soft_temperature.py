"""Fit the soft co-annotation temperature on a federation's doubly labelled training samples.

Soft co-annotation trains the expression head on targets computed from AU labels: a softmax of
per-emotion scores s(e) in [0, 1] (FaceBehaviorNet paper, §VI-B). At temperature 1 these targets
are nearly flat. This recipe reads the training samples that carry both an expression and AU
labels (Aff-Wild2 frames, for instance), scores their AUs with the relatedness table as training
will (`loss.soft_neutral`, `loss.strict`), and fits the temperature by temperature scaling: the
one whose targets give the real expression the lowest cross-entropy. It prints a table of how
well the targets name the real expression at temperature 1 and at the fitted one; put the fitted
value in the training config as `loss.soft_temperature`.

    python recipes/fit_soft_temperature.py --config recipes/configs/fit_soft_temperature/demo.yaml

Reads top to bottom: config -> labels -> fit -> table.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

import relatedness
from holistic.data.federation import Federation, eval_batches
from holistic.losses import fit_soft_temperature, soft_co_annotation_targets
from holistic.schema import LabelSpace
from holistic.training.config import PositiveInt, load_config


@dataclass
class FitConfig:
    federation: str = "data/demo/shards"
    datasets: list[str] | None = None  # None: every dataset with both labels in the split
    split: str = "train"
    expressions: str | list[str] = "basic7"
    aus: str | list[PositiveInt] = "union17"
    table: str = "cognitive"
    soft_reweighted: bool = True
    soft_neutral: Literal["zero", "complement"] = "complement"
    strict: bool = False
    batch_size: PositiveInt = 512
    output: str | None = None  # a JSON file for the fitted temperature and the table


def parse_args(argv: list[str] | None) -> FitConfig:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path)
    parser.add_argument("overrides", nargs="*", help="key=value overrides")
    args = parser.parse_args(argv)
    return load_config(FitConfig, args.config, args.overrides)


def main(argv: list[str] | None = None) -> dict:
    config = parse_args(argv)
    space = LabelSpace(expressions=config.expressions, aus=config.aus)

    # Labels: every training sample with an expression label and at least one AU label.
    labels = doubly_labelled(Federation(config.federation), space, config)
    if not len(labels["expr"]):
        raise SystemExit(
            f"no {config.split} sample of {config.datasets or 'the federation'} has both an "
            "expression and AU labels; choose datasets that label both (e.g. affwild2)"
        )
    table = relatedness.load_table(config.table).au_given_expression(
        list(space.expressions), list(space.aus), weighted=True
    )
    if not config.soft_reweighted:
        table = (table > 0).to(table.dtype)
    neutral = list(space.expressions).index("neutral") if "neutral" in space.expressions else None

    # Fit, then compare with the paper's temperature 1 and with the paper's scoring.
    options = {"neutral_index": neutral, "neutral_score": config.soft_neutral,
               "skip_unlabelled": not config.strict}  # fmt: skip
    fitted = fit_soft_temperature(labels["expr"], labels["au"], labels["au_mask"], table, **options)
    paper = {"neutral_index": neutral, "neutral_score": "zero", "skip_unlabelled": False}
    rows = [
        target_quality(labels, table, "paper (T = 1, neutral 0, unlabelled absent)", 1.0, paper),
        target_quality(labels, table, "these options, T = 1", 1.0, options),
        target_quality(labels, table, f"these options, T = {fitted:.3f} (fitted)", fitted, options),
    ]
    result = {"soft_temperature": round(fitted, 4), "samples": len(labels["expr"]), "rows": rows}
    print(markdown(result))
    if config.output:
        Path(config.output).write_text(json.dumps(result, indent=1))
    return result


# --- the parts the recipe names ---------------------------------------------------------------


def doubly_labelled(federation: Federation, space: LabelSpace, config: FitConfig) -> dict:
    """``expr`` [N], ``au`` and ``au_mask`` [N, A] of the split's samples labelled for both."""
    parts: dict[str, list[torch.Tensor]] = {"expr": [], "au": [], "au_mask": []}
    batches = eval_batches(federation, space, None, split=config.split, datasets=config.datasets,
                           batch_size=config.batch_size)  # fmt: skip
    for batch in batches:  # images are decoded but not transformed: cheap at this size
        both = batch["expr_mask"].to(torch.bool) & batch["au_mask"].to(torch.bool).any(-1)
        for key in parts:
            parts[key].append(batch[key][both])
    if not parts["expr"]:
        return {key: torch.empty(0) for key in parts}
    return {key: torch.cat(values) for key, values in parts.items()}


def target_quality(labels: dict, table: torch.Tensor, name: str, temperature: float,
                   options: dict) -> dict:  # fmt: skip
    """How well the soft targets name the real expression: its mean target probability, how
    often it is the target's argmax, and the cross-entropy."""
    targets, _ = soft_co_annotation_targets(
        labels["au"], labels["au_mask"], table, temperature=temperature, **options
    )
    truth = labels["expr"].to(torch.long)
    p_true = targets[torch.arange(len(truth)), truth]
    return {
        "targets": name,
        "p_true": round(p_true.mean().item(), 3),
        "argmax_is_true": round((targets.argmax(-1) == truth).float().mean().item(), 3),
        "cross_entropy": round(-p_true.clamp_min(1e-12).log().mean().item(), 3),
    }


def markdown(result: dict) -> str:
    lines = [
        f"soft_temperature = {result['soft_temperature']} (fitted on {result['samples']} "
        "samples with both labels)",
        "",
        "| soft targets | mean p(true expression) | argmax = true | cross-entropy |",
        "|---|---|---|---|",
    ]
    for row in result["rows"]:
        lines.append(f"| {row['targets']} | {row['p_true']:.3f} | {row['argmax_is_true']:.3f} "
                     f"| {row['cross_entropy']:.3f} |")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
