"""Zero-shot compound expressions with a trained FaceBehaviorNet (the paper's Eq. 10).

No compound label is ever trained on: each compound class is scored from the model's AU
probabilities (against the class's prototypical AUs), its two basic-expression probabilities and,
for the "happily" classes, the sign of the predicted valence. Reports Diag., F1 and UAR against
chance and, optionally, against the same scoring with a baseline model (e.g. trained without
coupling).

    python recipes/zeroshot_compound.py --config recipes/configs/zeroshot_compound/demo.yaml
    python recipes/zeroshot_compound.py --config ... baseline=runs/no-coupling/model

Reads top to bottom: config -> load -> score -> report.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import relatedness
from holistic.data.federation import Federation, eval_batches
from holistic.data.transforms import build_eval_transform
from holistic.evaluation import to_jsonable
from holistic.evaluation.zeroshot import predict_compounds, zeroshot_metrics
from holistic.models.checkpoint import load_model
from holistic.schema import LabelSpace, resolve_compounds
from holistic.training.config import load_config


@dataclass
class ZeroShotConfig:
    checkpoint: str = "runs/demo/model"
    baseline: str | None = None  # another checkpoint scored the same way, for comparison
    federation: str = "data/demo/shards"
    dataset: str = "rafdb-compound"
    split: str = "test"
    compounds: str | list[str] = "rafdb11"
    table: str = "compound"  # compound prototypical-AU table (name or path)
    image_size: int = 64
    batch_size: int = 128
    output: str = "runs/demo/zeroshot.json"
    report: str | None = None  # a report.md to append the zero-shot table to


def parse_args(argv: list[str] | None) -> ZeroShotConfig:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path)
    parser.add_argument("overrides", nargs="*", help="key=value overrides")
    args = parser.parse_args(argv)
    return load_config(ZeroShotConfig, args.config, args.overrides)


@torch.no_grad()
def score(checkpoint: str, config: ZeroShotConfig, compounds: tuple[str, ...]) -> dict:
    model = load_model(checkpoint)
    prototypes = relatedness.load_table(config.table).compound_prototypes(compounds, model.aus)
    space = LabelSpace(model.expressions, model.aus, compounds)
    predictions, targets, masks = [], [], []
    for batch in eval_batches(
        Federation(config.federation),
        space,
        build_eval_transform(config.image_size),
        split=config.split,
        datasets=[config.dataset],
        batch_size=config.batch_size,
    ):
        outputs = model(batch["image"])
        predictions.append(
            predict_compounds(
                torch.sigmoid(outputs["au"]).numpy(),
                torch.softmax(outputs["expr"], dim=-1).numpy(),
                outputs["va"][:, 0].numpy(),
                prototypes=prototypes.numpy(),
                compounds=compounds,
                expressions=model.expressions,
            )
        )
        targets.append(batch["compound"].numpy())
        masks.append(batch["compound_mask"].numpy())
    if not predictions:
        raise ValueError(f"{config.dataset} has no {config.split} samples in {config.federation}")
    return zeroshot_metrics(
        np.concatenate(predictions), np.concatenate(targets), len(compounds), np.concatenate(masks)
    )


def main(argv: list[str] | None = None) -> dict:
    config = parse_args(argv)
    compounds = resolve_compounds(config.compounds)
    report = {
        "dataset": config.dataset,
        "split": config.split,
        "classes": list(compounds),
        "model": score(config.checkpoint, config, compounds),
    }
    if config.baseline:
        report["baseline"] = score(config.baseline, config, compounds)
    output = Path(config.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(to_jsonable(report), indent=1, allow_nan=False))
    model = report["model"]
    line = (
        f"zero-shot {config.dataset}/{config.split} ({len(compounds)} classes, n={model['n']}): "
        f"Diag. {model['diag']:.3f}, F1 {model['f1']:.3f}, UAR {model['uar']:.3f} "
        f"(chance {model['chance']:.3f})"
    )
    if "baseline" in report:
        base = report["baseline"]
        line += f"; baseline Diag. {base['diag']:.3f}, F1 {base['f1']:.3f}, UAR {base['uar']:.3f}"
    print(line + f"\nwritten to {output}")
    if config.report and Path(config.report).is_file():
        append_to_report(Path(config.report), report)
    return report


def append_to_report(path: Path, report: dict) -> None:
    from holistic.evaluation.tables import markdown_table

    rows = [
        [
            name,
            report[name]["diag"],
            report[name]["f1"],
            report[name]["uar"],
            report[name]["chance"],
        ]
        for name in ("model", "baseline")
        if name in report
    ]
    table = markdown_table(["model", "Diag.", "F1", "UAR", "chance"], rows)
    section = (
        f"\n## Zero-shot compound expressions ({report['dataset']}, {report['split']}, "
        f"{len(report['classes'])} classes)\n\nEq. 10 of the FaceBehaviorNet paper: no compound "
        f"label was trained on.\n\n{table}\n"
    )
    text = path.read_text()
    marker = "\n## Zero-shot compound expressions"
    path.write_text(text.split(marker)[0].rstrip("\n") + "\n" + section)


if __name__ == "__main__":
    main(sys.argv[1:])
