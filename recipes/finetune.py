"""Fine-tune a trained model on a new dataset with its own label space, few-shot or in full.

The target is one task with its vocabulary: expression classes (e.g. AffectNet's 8), compound
classes (RAF-DB's 11: a compound output is added to FaceBehaviorNet) or a new AU set. Its output
rows are re-initialised; the backbone, the shared layers and the other outputs keep their trained
weights. The backbone can stay frozen for the first steps (or for the whole run: a linear probe).

Data come from shards (``data.federation``) or straight from a source that ``holistic federate``
reads, converted first into ``<output_dir>/shards`` (``data.source``: a Hugging Face ``datasets``
folder, a CSV + image folder, or any native dataset). ``data.shots=K`` trains on K samples per
class, chosen by the seed and written as a small federation of their own.

    accelerate launch recipes/finetune.py --config recipes/configs/finetune/demo_compound.yaml
    accelerate launch recipes/finetune.py --config ... data.shots=null train.freeze_steps=0

Rerunning the same command resumes an interrupted run exactly and leaves a finished one as it is
(see docs/facebehaviornet.md, "Checkpoints and resume").

Reads top to bottom: config -> data -> model -> prepare -> loop -> evaluate -> save.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Literal

import torch
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from holistic.data.federation import AlignedMixer, Federation
from holistic.data.transforms import build_train_transform
from holistic.evaluation.run import (
    eval_splits,
    evaluate_pooled,
    write_evaluation,
    zeroshot_compounds,
)
from holistic.evaluation.tables import zeroshot_markdown
from holistic.losses import masked_bce, masked_cross_entropy
from holistic.models.checkpoint import load_model
from holistic.schema import LabelSpace
from holistic.training.checks import check_eval_split, check_target_served
from holistic.training.config import (
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Range,
    Seed,
    load_config,
)
from holistic.training.optim import OptimizerName, build_optimizer
from holistic.training.runs import STATE, check_output_dir, end_run, save_outputs, start_run
from holistic.training.state import (
    batches_from,
    due,
    log_terms,
    resume_state,
    save_state,
)

# --- config ----------------------------------------------------------------------------------


@dataclass
class SourceConfig:
    adapter: str  # a `holistic federate` source: hf, csv, affectnet, rafdb-compound, ...
    root: str  # its native root (a saved HF dataset, a CSV file, a dataset folder)
    options: dict[str, str] = field(default_factory=dict)  # the adapter's --option key=value
    size: PositiveInt = 112  # side of the stored face crops
    align_boxes: bool = True


@dataclass
class DataConfig:
    federation: str | None = None  # shards to read, or None with `source`
    source: SourceConfig | None = None  # a source converted into <output_dir>/shards first
    datasets: list[str] | None = None  # None: every dataset with target labels
    shots: PositiveInt | None = None  # few-shot: K train samples per class (per AU); None: all
    batch_size: PositiveInt = 64
    image_size: PositiveInt | None = None  # None: the starting model's input spec
    augment: Annotated[float, Range(ge=0, le=3)] = 1.0  # train augmentation strength; 0: off
    num_workers: NonNegativeInt = 0
    shuffle_buffer: PositiveInt = 500
    tolerate_damage: bool = False  # skip and count damaged shards instead of failing
    train_split: str = "train"
    eval_split: str | list[str] = "validation"  # or preferences per dataset: [validation, test]
    eval_batch_size: PositiveInt = 128

    def __post_init__(self) -> None:
        if (self.federation is None) == (self.source is None):
            raise ValueError("give exactly one of data.federation (shards) and data.source")


@dataclass
class TargetConfig:
    task: Literal["expr", "compound", "au"] = "compound"
    vocabulary: str | list[str] | list[PositiveInt] = "rafdb11"  # classes (expr, compound) or AUs
    zeroshot_baseline: bool = True  # compound: also score the starting model zero-shot (Eq. 10)


@dataclass
class ModelConfig:
    # How the head reads valence and arousal: None keeps the checkpoint's; tanh: in [-1, 1];
    # linear: unbounded (the paper's). The VA rows keep their weights either way.
    va_output: Literal["tanh", "linear"] | None = None


@dataclass
class TrainConfig:
    steps: PositiveInt = 300
    lr: PositiveFloat = 1e-3  # the head (shared layers and outputs)
    backbone_lr: NonNegativeFloat = 1e-4  # the backbone, once unfrozen
    optimizer: OptimizerName = "adamw"  # adam: the paper's (with weight_decay=0)
    # The backbone frozen for the first N steps; -1: always (a linear probe).
    freeze_steps: Annotated[int, Range(ge=-1)] = 100
    weight_decay: NonNegativeFloat = 1e-4  # adamw: decoupled; adam: an L2 term in the gradient
    grad_accum: PositiveInt = 1
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    cpu: bool = False
    seed: Seed = 0
    log_every: PositiveInt = 10
    checkpoint_every: NonNegativeInt = 0  # 0: only at the end
    output_dir: str = "runs/finetune"
    resume: bool = True  # continue from output_dir/state when it exists; false: start afresh
    accept_changes: list[str] = field(default_factory=list)  # config keys changed on resume


@dataclass
class FinetuneConfig:
    checkpoint: str = "runs/demo/model"  # the trained model to start from
    model: ModelConfig = field(default_factory=ModelConfig)
    target: TargetConfig = field(default_factory=TargetConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def parse_args(argv: list[str] | None) -> FinetuneConfig:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path)
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. data.shots=10")
    args = parser.parse_args(argv)
    return load_config(FinetuneConfig, args.config, args.overrides)


# --- the recipe ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    config = parse_args(argv)
    out = Path(config.train.output_dir)
    finished = check_output_dir(config)  # a refused config change stops here, writing nothing
    if finished is not None:
        return finished  # the run is finished: its results stay as they are
    accelerator = start_run(config)
    set_seed(config.train.seed)
    task = config.target.task

    # Data: shards, or the source converted into shards (by the main process; others wait).
    location = config.data.federation
    if config.data.source is not None:
        location = str(out / "shards")
        with accelerator.main_process_first():
            if accelerator.is_main_process:
                convert_source(config.data.source, Path(location))
    federation = Federation(location)
    datasets = config.data.datasets or datasets_with(federation, task, config.data.train_split)
    check_eval_split(federation, config.data.eval_split, datasets)
    check_target_served(
        federation, task, config.target.vocabulary, datasets, config.data.train_split
    )

    # Model: the trained one, with the target's outputs re-initialised, fed as its spec says
    # (or at data.image_size, which its saved spec then records).
    model = load_model(config.checkpoint)
    if model.input_spec.is_clip:
        raise ValueError(
            f"{config.checkpoint} is a clip model; this recipe fine-tunes image models (train "
            "clip models with recipes/cnn_rnn.py, whose model.init_from starts from a checkpoint)"
        )
    image_size = config.data.image_size or model.input_spec.image_size
    model.input_spec = replace(model.input_spec, image_size=image_size)
    model.reset_heads(**{HEAD_VOCABULARY[task]: config.target.vocabulary})
    if config.model.va_output is not None:  # else the checkpoint's, which save_model records
        if not hasattr(model, "va_output"):
            raise ValueError(
                f"config key model.va_output: {config.checkpoint} is a "
                f"{model.build_args['name']} model, whose VA output cannot be chosen; leave it out"
            )
        model.va_output = config.model.va_output
    space = LabelSpace(model.expressions, model.aus, model.compounds)
    vocabulary = {"expr": space.expressions, "compound": space.compounds, "au": space.aus}[task]

    train_federation, train_datasets = federation, datasets
    if config.data.shots:
        with accelerator.main_process_first():
            if accelerator.is_main_process:
                write_few_shot(config, federation, datasets, vocabulary, out / "fewshot")
        train_federation = Federation(str(out / "fewshot"))
        train_datasets = list(train_federation.datasets)
    mixer = AlignedMixer(
        train_federation,
        space,
        {task: config.data.batch_size},
        build_train_transform(image_size, config.data.augment),
        split=config.data.train_split,
        datasets=train_datasets,
        rank=accelerator.process_index,
        world_size=accelerator.num_processes,
        seed=config.train.seed,
        shuffle_buffer=config.data.shuffle_buffer,
        tolerate_damage=config.data.tolerate_damage,
    )
    optimizer = build_optimizer(
        [
            {"params": model.backbone.parameters(), "lr": config.train.backbone_lr},
            {"params": model.head.parameters(), "lr": config.train.lr},
        ],
        config.train.optimizer,
        lr=config.train.lr,
        weight_decay=config.train.weight_decay,
    )
    model, optimizer = accelerator.prepare(model, optimizer)
    progress = resume_state(accelerator, out / STATE, optimizer)  # step 0 when starting afresh

    # Loop. While frozen, the backbone's learning rate is 0 and its BatchNorm statistics stay put
    # (the gradients still flow, so DDP sees every parameter used).
    backbone = accelerator.unwrap_model(model).backbone
    model.train()
    steps = config.train.steps
    bar = tqdm(total=steps, initial=progress.step, disable=not accelerator.is_main_process)
    for batch in batches_from(
        mixer, progress.step, steps, config.data.num_workers, progress.damage
    ):
        frozen = config.train.freeze_steps < 0 or progress.step < config.train.freeze_steps
        backbone_group = optimizer.param_groups[0]  # looked up each step: loading state
        backbone_group["lr"] = 0.0 if frozen else config.train.backbone_lr  # replaces groups
        backbone.train(not frozen)
        if progress.step == config.train.freeze_steps:  # unfreezing: no moments of frozen steps
            for parameter in backbone_group["params"]:
                optimizer.state[parameter].clear()
        with accelerator.accumulate(model):
            outputs = model(batch["image"].to(accelerator.device))
            terms = target_loss(task, outputs, batch, accelerator.device)
            accelerator.backward(terms["total"])
            optimizer.step()
            optimizer.zero_grad()
        progress.step += 1
        bar.update(1)
        if due(progress.step, config.train.log_every) or progress.step == steps:
            logged = log_terms(accelerator, terms, progress.step, progress.history)
            bar.set_postfix(loss=f"{logged['loss/total']:.3f}")
        if due(progress.step, config.train.checkpoint_every):
            save_state(accelerator, out / STATE, progress)
    bar.close()
    progress.stop_clock()
    save_state(accelerator, out / STATE, progress)

    # Evaluate on the held-out split of the full data (never the few-shot subset).
    pooled = evaluate_pooled(
        accelerator,
        model,
        federation,
        space,
        split=config.data.eval_split,
        datasets=datasets,
        batch_size=config.data.eval_batch_size,
        tolerate_damage=config.data.tolerate_damage,
    )
    metrics: dict = {}
    if accelerator.is_main_process:
        summary = {**save_outputs(accelerator, out, model, progress, pooled), "task": task}
        sections = {}
        if task == "compound" and config.target.zeroshot_baseline:
            baseline = zeroshot_baseline(config, federation, datasets, space, image_size)
            summary["zeroshot_baseline"] = baseline
            rows = [(name, "starting model, zero-shot", s) for name, s in baseline.items()]
            sections["Zero-shot baseline (Eq. 10)"] = (
                "The starting model scored on the same split without training on compounds: "
                f"the number fine-tuning has to beat.\n\n{zeroshot_markdown(rows)}"
            )
        metrics = write_evaluation(out, pooled, space, history=progress.history, summary=summary,
                                   title="Fine-tuning", extra_sections=sections,
                                   damaged_in_training=progress.damage.rows())  # fmt: skip
    end_run(accelerator, out, progress)
    return metrics


# --- the parts the recipe names --------------------------------------------------------------

#: The reset_heads argument of each target task.
HEAD_VOCABULARY = {"expr": "expressions", "compound": "compounds", "au": "aus"}


def target_loss(task: str, outputs: dict, batch: dict, device: torch.device) -> dict:
    """The target task's loss (cross-entropy for classes, Eq. 7's masked BCE for AUs)."""
    labels, mask = batch[task].to(device), batch[f"{task}_mask"].to(device)
    if task == "au":
        term = masked_bce(outputs["au"], labels, mask)["au"]
    else:
        term = masked_cross_entropy(outputs[task], labels, mask, name=task)[task]
    return {task: term, "total": term}


def datasets_with(federation: Federation, task: str, split: str) -> list[str]:
    """The datasets whose ``split`` has ``task`` labels."""
    names = [ref.dataset for ref in federation.shards(split, task)]
    if not names:
        raise ValueError(
            f"no {split} shard in {federation.location} has {task} labels; name the datasets "
            "with data.datasets or convert a source that has them"
        )
    return sorted(set(names))


def convert_source(source: SourceConfig, out: Path) -> None:
    """``holistic federate`` the source into ``out`` (unchanged shards are skipped)."""
    from holistic.data.adapters import ADAPTERS
    from holistic.data.shards import federate

    if source.adapter not in ADAPTERS:
        raise ValueError(f"data.source.adapter {source.adapter!r} is not one of {sorted(ADAPTERS)}")
    federate(
        ADAPTERS[source.adapter],
        source.root,
        out,
        options=source.options,
        size=source.size,
        align_boxes=source.align_boxes,
        progress=False,
    )


def write_few_shot(config, federation, datasets, vocabulary, out: Path) -> None:
    """K train samples per class of the target, chosen by the seed, as a small federation."""
    from holistic.data.subsets import few_shot_keys, write_subset

    keys = few_shot_keys(
        federation,
        task=config.target.task,
        vocabulary=vocabulary,
        shots=config.data.shots,
        seed=config.train.seed,
        split=config.data.train_split,
        datasets=datasets,
    )
    note = {"shots": config.data.shots, "seed": config.train.seed, "task": config.target.task}
    write_subset(federation, out, keys, split=config.data.train_split, note=note)


def zeroshot_baseline(config, federation, datasets, space, image_size: int) -> dict:
    """Eq. 10 scores of the starting model on the evaluation split (each dataset on the first
    split of ``data.eval_split`` it has): what fine-tuning must beat."""
    start = load_model(config.checkpoint)
    return {
        dataset: zeroshot_compounds(
            start,
            federation,
            dataset=dataset,
            split=split,
            compounds=space.compounds,
            image_size=image_size,
        )
        for split, chosen in eval_splits(
            federation.manifest, config.data.eval_split, datasets
        ).items()
        for dataset in chosen
    }


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
