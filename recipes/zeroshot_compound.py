"""Zero-shot compound expressions with a trained FaceBehaviorNet (the paper's Eq. 10).

No compound label is ever trained on: each compound class is scored from the model's AU
probabilities (against the class's prototypical AUs), its two basic-expression probabilities and,
for the "happily" classes, the sign of the predicted valence. Reports Diag., F1 and UAR against
chance and, optionally, against the same scoring with a baseline model (e.g. trained without
coupling). Each target is a dataset with compound labels and its class list (RAF-DB compound's
11 classes, EmotioNet track 2's 10 compounds, ...).

    python recipes/zeroshot_compound.py --config recipes/configs/zeroshot_compound/demo.yaml
    python recipes/zeroshot_compound.py --config ... baseline=runs/no-coupling/model

Reads top to bottom: config -> load -> score -> report.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from holistic.data.federation import Federation
from holistic.evaluation import to_jsonable
from holistic.evaluation.run import CompoundTarget, zeroshot_compounds
from holistic.models.checkpoint import load_model
from holistic.schema import resolve_compounds
from holistic.training.checks import check_compound_targets
from holistic.training.config import PositiveInt, load_config


@dataclass
class ZeroShotConfig:
    checkpoint: str = "runs/demo/model"
    baseline: str | None = None  # another checkpoint scored the same way, for comparison
    federation: str = "data/demo/shards"
    targets: list[CompoundTarget] = field(default_factory=lambda: [CompoundTarget()])
    table: str = "compound"  # compound prototypical-AU table (name or path)
    image_size: PositiveInt | None = None  # None: each model's input spec
    batch_size: PositiveInt = 128
    tolerate_damage: bool = False  # skip and count damaged shards instead of failing
    output: str = "runs/demo/zeroshot.json"
    report: str | None = None  # a report.md to append the zero-shot table to


def parse_args(argv: list[str] | None) -> ZeroShotConfig:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path)
    parser.add_argument("overrides", nargs="*", help="key=value overrides")
    args = parser.parse_args(argv)
    return load_config(ZeroShotConfig, args.config, args.overrides)


def main(argv: list[str] | None = None) -> dict:
    config = parse_args(argv)
    federation = Federation(config.federation)
    check_compound_targets(federation, config.targets)  # before any model is loaded or scored
    models = {"model": load_model(config.checkpoint)}
    if config.baseline:
        models["baseline"] = load_model(config.baseline)
    report: dict = {"checkpoint": config.checkpoint, "baseline": config.baseline, "targets": []}
    for target in config.targets:
        compounds = resolve_compounds(target.compounds)
        entry = {"dataset": target.dataset, "split": target.split, "classes": list(compounds)}
        for name, model in models.items():
            entry[name] = zeroshot_compounds(
                model,
                federation,
                dataset=target.dataset,
                split=target.split,
                compounds=compounds,
                table=config.table,
                image_size=config.image_size,
                batch_size=config.batch_size,
                tolerate_damage=config.tolerate_damage,
            )
        report["targets"].append(entry)
        print(summary_line(entry))
    output = Path(config.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(to_jsonable(report), indent=1, allow_nan=False))
    print(f"written to {output}")
    if config.report and Path(config.report).is_file():
        append_to_report(Path(config.report), report)
    return report


def summary_line(entry: dict) -> str:
    scores = entry["model"]
    line = (
        f"zero-shot {entry['dataset']}/{entry['split']} ({len(entry['classes'])} classes, "
        f"n={scores['n']}): Diag. {scores['diag']:.3f}, F1 {scores['f1']:.3f}, "
        f"UAR {scores['uar']:.3f} (chance {scores['chance']:.3f})"
    )
    if "baseline" in entry:
        base = entry["baseline"]
        line += f"; baseline Diag. {base['diag']:.3f}, F1 {base['f1']:.3f}, UAR {base['uar']:.3f}"
    return line


def append_to_report(path: Path, report: dict) -> None:
    from holistic.evaluation.tables import zeroshot_markdown

    rows = [
        (
            f"{entry['dataset']} ({entry['split']}, {len(entry['classes'])} classes)",
            name,
            entry[name],
        )
        for entry in report["targets"]
        for name in ("model", "baseline")
        if name in entry
    ]
    section = (
        "\n## Zero-shot compound expressions\n\nEq. 10 of the FaceBehaviorNet paper: no compound "
        f"label was trained on.\n\n{zeroshot_markdown(rows)}\n"
    )
    text = path.read_text()
    marker = "\n## Zero-shot compound expressions"
    path.write_text(text.split(marker)[0].rstrip("\n") + "\n" + section)


if __name__ == "__main__":
    main(sys.argv[1:])
