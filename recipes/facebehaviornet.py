"""FaceBehaviorNet: one network for valence-arousal, basic expressions and action units.

Trains on a federation of shards with aligned VA/AU/EXPR batches and the coupling losses of the
FaceBehaviorNet paper, then evaluates per dataset x task and saves a reloadable model.

    accelerate launch recipes/facebehaviornet.py --config recipes/configs/facebehaviornet/demo.yaml
    accelerate launch recipes/facebehaviornet.py --config ... train.steps=500 loss.weights.dm=0.5

Reads top to bottom: config -> build -> prepare -> loop -> evaluate -> save.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm

import relatedness
from holistic.data.federation import AlignedMixer, Federation, aligned_batch_sizes
from holistic.data.transforms import build_train_transform
from holistic.evaluation.run import evaluate_pooled, write_evaluation
from holistic.losses import Coupling, LossWeights, multitask_loss
from holistic.models import create_model
from holistic.models.checkpoint import save_model
from holistic.schema import LabelSpace
from holistic.training.config import load_config, save_config
from holistic.training.state import batches_from, log_terms, resume_step, save_state

LABEL_KEYS = ("va", "va_mask", "expr", "expr_mask", "au", "au_mask")


# --- config ----------------------------------------------------------------------------------


@dataclass
class DataConfig:
    federation: str = "data/shards"  # folder, http(s) prefix or pipe: template with {name}
    datasets: list[str] | None = None  # None: every dataset with a train split
    batch_size: int = 96  # per step, split over the VA, AU and EXPR sets by their sizes
    batch_sizes: dict[str, int] | None = None  # or explicit, e.g. {va: 401, au: 247, expr: 103}
    image_size: int = 64
    augment: float = 1.0  # strength of the train augmentation; 0 disables it
    num_workers: int = 0
    shuffle_buffer: int = 500
    eval_split: str | list[str] = "validation"  # or preferences per dataset: [validation, test]
    eval_batch_size: int = 128


@dataclass
class ModelConfig:
    name: str = "facebehaviornet_resnet18"
    expressions: str | list[str] = "basic7"
    aus: str | list[int] = "fbn17"
    hidden: list[int] | None = None  # None: the variant's own head (vgg16 has none: fc6/fc7)
    dropout: float = 0.5
    pretrained: bool = False  # timm weights from the local cache, if you have them
    checkpoint_path: str | None = None  # or backbone weights from a local file


@dataclass
class LossConfig:
    weights: LossWeights = field(default_factory=LossWeights)  # 0 switches a term off
    table: str = "cognitive"  # cognitive | empirical-affwild2 | a path to your own table
    dm_reweighted: bool = False
    dm_gradient: Literal["both", "au", "expr"] = "both"  # which head distribution matching trains
    soft_reweighted: bool = True
    strict: bool = True


@dataclass
class TrainConfig:
    steps: int = 200
    lr: float = 1e-4
    weight_decay: float = 1e-4
    grad_accum: int = 1
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    cpu: bool = False
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 0  # 0: only at the end
    output_dir: str = "runs/facebehaviornet"
    resume: bool = True  # continue from output_dir/state when it exists


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def parse_args(argv: list[str] | None) -> RunConfig:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="YAML config (recipes/configs/...)")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.lr=3e-4")
    args = parser.parse_args(argv)
    return load_config(RunConfig, args.config, args.overrides)


# --- the recipe ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    config = parse_args(argv)
    out = Path(config.train.output_dir)
    accelerator = Accelerator(
        cpu=config.train.cpu,
        mixed_precision=config.train.mixed_precision,
        gradient_accumulation_steps=config.train.grad_accum,
        log_with="tensorboard",
        project_dir=str(out),
    )
    set_seed(config.train.seed)
    if accelerator.is_main_process:
        save_config(config, out / "config.yaml")
    accelerator.init_trackers("logs")

    # Build: data, model, losses, optimiser.
    federation = Federation(config.data.federation)
    space = LabelSpace(config.model.expressions, config.model.aus)
    federation.check_serves(space)
    batch_sizes = config.data.batch_sizes or aligned_batch_sizes(
        federation, config.data.batch_size, datasets=config.data.datasets
    )
    mixer = AlignedMixer(
        federation,
        space,
        batch_sizes,
        build_train_transform(config.data.image_size, config.data.augment),
        datasets=config.data.datasets,
        rank=accelerator.process_index,
        world_size=accelerator.num_processes,
        seed=config.train.seed,
        shuffle_buffer=config.data.shuffle_buffer,
    )
    head = {} if config.model.hidden is None else {"hidden": tuple(config.model.hidden)}
    model = create_model(
        config.model.name,
        expressions=list(space.expressions),
        aus=list(space.aus),
        dropout=config.model.dropout,
        pretrained=config.model.pretrained,
        checkpoint_path=config.model.checkpoint_path,
        image_size=config.data.image_size,
        **head,
    )
    weights = config.loss.weights
    coupling = None
    if weights.uses_coupling:
        coupling = Coupling.from_table(
            relatedness.load_table(config.loss.table),
            space.expressions,
            space.aus,
            dm_reweighted=config.loss.dm_reweighted,
            dm_gradient=config.loss.dm_gradient,
            soft_reweighted=config.loss.soft_reweighted,
            strict=config.loss.strict,
        )
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.train.lr, weight_decay=config.train.weight_decay
    )
    # The mixer splits itself by rank and worker: its loader is NOT prepared (DESIGN.md #6).
    model, optimizer = accelerator.prepare(model, optimizer)

    state_dir = out / "state"
    step = resume_step(accelerator, state_dir, config.train.resume)

    # Loop.
    history: dict[str, list[tuple[int, float]]] = {}
    model.train()
    bar = tqdm(total=config.train.steps, initial=step, disable=not accelerator.is_main_process)
    start = time.perf_counter()
    for batch in batches_from(mixer, step, config.train.steps, config.data.num_workers):
        with accelerator.accumulate(model):
            outputs = model(batch["image"].to(accelerator.device))
            labels = {key: batch[key].to(accelerator.device) for key in LABEL_KEYS}
            terms = multitask_loss(outputs, labels, weights, coupling)
            accelerator.backward(terms["total"])
            optimizer.step()
            optimizer.zero_grad()
        step += 1
        bar.update(1)
        if step % config.train.log_every == 0 or step == config.train.steps:
            logged = log_terms(accelerator, terms, step, history)
            bar.set_postfix(loss=f"{logged['loss/total']:.3f}")
        if config.train.checkpoint_every and step % config.train.checkpoint_every == 0:
            save_state(accelerator, state_dir, step)
    bar.close()
    seconds = time.perf_counter() - start
    save_state(accelerator, state_dir, step)

    # Evaluate on every dataset's held-out split; pool the ranks' predictions (as ABAW does).
    pooled = evaluate_pooled(
        accelerator,
        model,
        federation,
        space,
        split=config.data.eval_split,
        datasets=config.data.datasets,
        batch_size=config.data.eval_batch_size,
    )
    metrics: dict = {}
    if accelerator.is_main_process:
        save_model(accelerator.unwrap_model(model), out / "model")
        (out / "history.json").write_text(json.dumps(history))
        summary = {"steps": step, "train_seconds": round(seconds, 1)}
        metrics = write_evaluation(
            out, pooled, space, history=history, summary=summary, title="FaceBehaviorNet"
        )
        accelerator.print(f"done: {step} steps in {seconds:.0f} s; report in {out / 'report.md'}")
    accelerator.wait_for_everyone()  # no process tears the process group down under another
    accelerator.end_training()
    return metrics


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
