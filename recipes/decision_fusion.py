"""Decision-level fusion (Eq. 3) of separately trained clip models, saved as one model.

Each member (a checkpoint written by ``recipes/cnn_rnn.py``) is evaluated on ``weights_split``;
its valence and arousal CCCs there are its Eq. 3 weights, O_i = Σ_n t_i^n o_i^n / Σ_n t_i^n. The
fused model is then evaluated on ``eval_split`` (every frame of every held-out video once) and
saved with its members and weights, so it reloads with ``load_model`` like any model.

    python recipes/decision_fusion.py --config recipes/configs/decision_fusion/synthetic.yaml

The paper takes the weights from the validation split it reports (``weights_split:
validation``, the default, as printed); give another split to keep the report unbiased.

Reads top to bottom: config -> members -> weights -> fuse -> evaluate -> save.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from holistic.data.federation import Federation
from holistic.evaluation import to_jsonable
from holistic.evaluation.evaluate import compute_metrics
from holistic.evaluation.run import evaluate_model, write_evaluation
from holistic.evaluation.tables import markdown_table
from holistic.models import create_model, label_space_of, load_model, read_model_json
from holistic.models.checkpoint import save_model
from holistic.models.ensemble import decision_fusion_weights
from holistic.training.checks import check_eval_split
from holistic.training.config import NonNegativeInt, PositiveInt, load_config, save_config


@dataclass
class FusionConfig:
    members: list[str] = field(default_factory=list)  # checkpoints of trained clip models
    name: str = "decisionfusion_resnet18"  # the registered decision-level fusion to build
    federation: str = "data/shards"
    datasets: list[str] | None = None  # None: every dataset of the split
    weights_split: str | list[str] = "validation"  # where the members' CCCs (weights) come from
    eval_split: str | list[str] = "validation"
    eval_window: NonNegativeInt | None = 0  # frames per window; 0: the clip length; None: whole
    eval_stride: PositiveInt | None = None
    cpu: bool = False
    tolerate_damage: bool = False  # skip and count damaged shards instead of failing
    output_dir: str = "runs/decision_fusion"

    def __post_init__(self) -> None:
        if len(self.members) < 2:
            raise ValueError(f"members: give at least two checkpoints, got {self.members}")


def parse_args(argv: list[str] | None) -> FusionConfig:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path)
    parser.add_argument("overrides", nargs="*", help="key=value overrides")
    args = parser.parse_args(argv)
    return load_config(FusionConfig, args.config, args.overrides)


def main(argv: list[str] | None = None) -> dict:
    config = parse_args(argv)
    out = Path(config.output_dir)
    federation = Federation(config.federation)
    check_eval_split(federation, config.weights_split, config.datasets, key="weights_split")
    check_eval_split(federation, config.eval_split, config.datasets, key="eval_split")
    save_config(config, out / "config.yaml")
    device = "cuda" if torch.cuda.is_available() and not config.cpu else "cpu"

    # Members: each one's CCCs on the weights split are its Eq. 3 weights.
    members = [load_model(path, map_location=device) for path in config.members]
    ccc = []
    for path, member in zip(config.members, members, strict=True):
        scores = evaluate(member, federation, config, config.weights_split, device)["all"]["va"]
        ccc.append([scores["ccc_v"], scores["ccc_a"]])
        print(f"{path}: {config.weights_split} CCC-V {ccc[-1][0]:.3f}, CCC-A {ccc[-1][1]:.3f}")
    weights = decision_fusion_weights(ccc)

    # Fuse: one registered model holding the members, their weights and their descriptions.
    descriptions = [
        {"name": meta["name"], "kwargs": meta["kwargs"]}
        for meta in map(read_model_json, config.members)
    ]
    fused = create_model(
        config.name, members=descriptions, weights=ccc, member_checkpoints=config.members
    ).to(device)

    # Evaluate the fused model and write the report, with the members' weights.
    predictions = evaluate_model(
        fused,
        federation,
        label_space_of(fused),
        split=config.eval_split,
        datasets=config.datasets,
        window=_window(fused, config),
        stride=config.eval_stride,
        device=device,
        tolerate_damage=config.tolerate_damage,
    )
    rows = [
        [path, f"{c[0]:.3f}", f"{c[1]:.3f}", f"{w[0]:.3f}", f"{w[1]:.3f}"]
        for path, c, w in zip(config.members, ccc, weights, strict=True)
    ]
    members_table = markdown_table(["Member", "CCC-V", "CCC-A", "weight V", "weight A"], rows)
    summary = {"members": config.members, "member_ccc": ccc, "weights": weights}
    metrics = write_evaluation(
        out,
        predictions,
        label_space_of(fused),
        summary=to_jsonable(summary),
        title="Decision-level fusion (Eq. 3)",
        extra_sections={f"Members and their weights ({config.weights_split} CCC)": members_table},
    )
    save_model(fused, out / "model")
    (out / "weights.json").write_text(json.dumps(to_jsonable(summary), indent=1))
    print(f"done: report in {out / 'report.md'}")
    return metrics


def evaluate(model, federation, config: FusionConfig, split, device) -> dict:
    """Per dataset x task metrics of ``model`` on ``split`` (the ``"all"`` row pools datasets)."""
    space = label_space_of(model)
    predictions = evaluate_model(
        model,
        federation,
        space,
        split=split,
        datasets=config.datasets,
        window=_window(model, config),
        stride=config.eval_stride,
        device=device,
        tolerate_damage=config.tolerate_damage,
    )
    return compute_metrics(predictions, space)


def _window(model, config: FusionConfig) -> int | None:
    return model.input_spec.clip_length if config.eval_window == 0 else config.eval_window


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
