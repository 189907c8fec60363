"""FaceBehaviorNet: one network for valence-arousal, basic expressions and action units.

Trains on a federation of shards with aligned VA/AU/EXPR batches and the coupling losses of the
FaceBehaviorNet paper, then evaluates per dataset x task and saves a reloadable model.

    accelerate launch recipes/facebehaviornet.py --config recipes/configs/facebehaviornet/demo.yaml
    accelerate launch recipes/facebehaviornet.py --config ... train.steps=500 loss.weights.dm=0.5

Rerunning the same command resumes an interrupted run exactly and leaves a finished one as it
is; ``train.steps=<more>`` trains it further; docs/facebehaviornet.md says what resume guarantees.

Reads top to bottom: config -> build -> prepare -> loop -> evaluate -> save.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from accelerate.utils import set_seed
from tqdm.auto import tqdm

import relatedness
from holistic.data.federation import AlignedMixer, Federation, aligned_batch_sizes
from holistic.data.transforms import build_train_transform
from holistic.evaluation.evaluate import compute_metrics
from holistic.evaluation.run import evaluate_pooled, write_evaluation
from holistic.losses import Coupling, LossWeights, multitask_loss
from holistic.models import create_model
from holistic.schema import LabelSpace
from holistic.training.checks import check_eval_split, check_served
from holistic.training.config import (
    Fraction,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Range,
    Seed,
    load_config,
)
from holistic.training.optim import OptimizerName, build_optimizer
from holistic.training.plateau import record_validation, validation_score
from holistic.training.runs import STATE, check_output_dir, end_run, save_outputs, start_run
from holistic.training.state import (
    batches_from,
    due,
    log_terms,
    resume_state,
    save_state,
)

LABEL_KEYS = ("va", "va_mask", "expr", "expr_mask", "au", "au_mask")


# --- config ----------------------------------------------------------------------------------


@dataclass
class DataConfig:
    federation: str = "data/shards"  # folder, http(s) prefix or pipe: template with {name}
    datasets: list[str] | None = None  # None: every dataset with a train split
    batch_size: PositiveInt = 96  # per step, split over the VA, AU and EXPR sets by their sizes
    # or explicit, e.g. {va: 401, au: 247, expr: 103}; a set left out is not trained on
    batch_sizes: dict[Literal["va", "au", "expr"], PositiveInt] | None = None
    image_size: PositiveInt = 64
    augment: Annotated[float, Range(ge=0, le=3)] = 1.0  # train augmentation strength; 0: off
    num_workers: NonNegativeInt = 0
    shuffle_buffer: PositiveInt = 500
    tolerate_damage: bool = False  # skip and count damaged shards instead of failing
    eval_split: str | list[str] = "validation"  # or preferences per dataset: [validation, test]
    eval_batch_size: PositiveInt = 128


@dataclass
class ModelConfig:
    name: str = "facebehaviornet_resnet18"
    expressions: str | list[str] = "basic7"
    aus: str | list[PositiveInt] = "fbn17"  # a vocabulary name or FACS numbers
    hidden: list[PositiveInt] | None = None  # None: the variant's own head (vgg16: fc6/fc7)
    dropout: Fraction = 0.5
    pretrained: bool = False  # timm weights from the local cache, if you have them
    checkpoint_path: str | None = None  # or backbone weights from a local file
    va_output: Literal["tanh", "linear"] = "tanh"  # VA in [-1, 1]; linear: unbounded (paper's)


@dataclass
class LossConfig:
    weights: LossWeights = field(default_factory=LossWeights)  # 0 switches a term off
    table: str = "cognitive"  # cognitive | empirical-affwild2 | a path to your own table
    # The defaults are the paper as printed; docs/losses.md says what each departure is for.
    dm_reweighted: bool = False
    dm_gradient: Literal["both", "au", "expr"] = "both"  # which head distribution matching trains
    dm_form: Literal["printed", "bernoulli", "kl"] = "printed"  # Eq. 9's term per AU
    soft_reweighted: bool = True
    soft_temperature: PositiveFloat = 1.0  # divides the soft co-annotation scores
    soft_neutral: Literal["zero", "complement"] = "zero"  # neutral's soft co-annotation score
    strict: bool = True  # an AU the source does not label blocks/counts as absent


@dataclass
class TrainConfig:
    steps: PositiveInt = 200
    lr: PositiveFloat = 1e-4
    optimizer: OptimizerName = "adamw"  # adam: the paper's (with weight_decay=0)
    weight_decay: NonNegativeFloat = 1e-4  # adamw: decoupled; adam: an L2 term in the gradient
    grad_accum: PositiveInt = 1
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    cpu: bool = False
    seed: Seed = 0
    log_every: PositiveInt = 10
    checkpoint_every: NonNegativeInt = 0  # 0: only at the end
    eval_every: NonNegativeInt = 0  # evaluate on data.eval_split every that many steps; 0: never
    patience: NonNegativeInt = 0  # stop after that many evaluations without a gain; 0: never
    min_delta: NonNegativeFloat = 0.0  # a gain is a validation score above the best + min_delta
    output_dir: str = "runs/facebehaviornet"
    resume: bool = True  # continue from output_dir/state when it exists; false: start afresh
    accept_changes: list[str] = field(default_factory=list)  # config keys changed on resume


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
    finished = check_output_dir(config)  # a refused config change stops here, writing nothing
    if finished is not None:
        return finished  # the run is finished: its results stay as they are
    federation = Federation(config.data.federation)
    space = LabelSpace(config.model.expressions, config.model.aus)
    check_served(federation, space, config.data.datasets)
    check_eval_split(federation, config.data.eval_split, config.data.datasets)
    accelerator = start_run(config)
    set_seed(config.train.seed)

    # Build: data, model, losses, optimiser.
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
        tolerate_damage=config.data.tolerate_damage,
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
        va_output=config.model.va_output,
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
            dm_form=config.loss.dm_form,
            soft_reweighted=config.loss.soft_reweighted,
            soft_temperature=config.loss.soft_temperature,
            soft_neutral=config.loss.soft_neutral,
            strict=config.loss.strict,
        )
    optimizer = build_optimizer(
        model.parameters(),
        config.train.optimizer,
        lr=config.train.lr,
        weight_decay=config.train.weight_decay,
    )
    # The mixer splits itself by rank and worker: its loader is NOT prepared (DESIGN.md #6).
    model, optimizer = accelerator.prepare(model, optimizer)
    progress = resume_state(accelerator, out / STATE, optimizer)  # step 0 when starting afresh

    # Every dataset's held-out split: the validation curve during training and the report.
    held_out = {
        "split": config.data.eval_split,
        "datasets": config.data.datasets,
        "batch_size": config.data.eval_batch_size,
        "tolerate_damage": config.data.tolerate_damage,
    }

    trained_tasks = [task for task in ("va", "expr", "au") if getattr(weights, task)]

    # Loop (until train.steps, or until the validation score plateaus).
    model.train()
    steps = config.train.steps if progress.stopped is None else progress.step  # stopped: done
    bar = tqdm(total=steps, initial=progress.step, disable=not accelerator.is_main_process)
    for batch in batches_from(
        mixer, progress.step, steps, config.data.num_workers, progress.damage
    ):
        with accelerator.accumulate(model):
            outputs = model(batch["image"].to(accelerator.device))
            labels = {key: batch[key].to(accelerator.device) for key in LABEL_KEYS}
            terms = multitask_loss(outputs, labels, weights, coupling)
            accelerator.backward(terms["total"])
            optimizer.step()
            optimizer.zero_grad()
        progress.step += 1
        bar.update(1)
        if due(progress.step, config.train.log_every) or progress.step == steps:
            logged = log_terms(accelerator, terms, progress.step, progress.history)
            bar.set_postfix(loss=f"{logged['loss/total']:.3f}")
        if due(progress.step, config.train.eval_every):
            pooled = evaluate_pooled(accelerator, model, federation, space, **held_out)
            model.train()
            score = validation_score(compute_metrics(pooled, space), trained_tasks)
            accelerator.log({"val/score": score}, step=progress.step)
            if record_validation(progress, score, config.train.patience, config.train.min_delta):
                break  # plateaued: progress.stopped says where and why
        if due(progress.step, config.train.checkpoint_every):
            save_state(accelerator, out / STATE, progress)
    bar.close()
    progress.stop_clock()
    save_state(accelerator, out / STATE, progress)

    # Evaluate on every dataset's held-out split; pool the ranks' predictions (as ABAW does).
    pooled = evaluate_pooled(accelerator, model, federation, space, **held_out)
    metrics: dict = {}
    if accelerator.is_main_process:
        summary = save_outputs(accelerator, out, model, progress, pooled)  # model/, history.json
        metrics = write_evaluation(
            out,
            pooled,
            space,
            history=progress.history,
            summary=summary,
            title="FaceBehaviorNet",
            damaged_in_training=progress.damage.rows(),
        )
    end_run(accelerator, out, progress)
    return metrics


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
