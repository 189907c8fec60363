"""Sequence models on clips: AffWildNet, CNN-1RNN / CNN-3RNN, model-level fusion, MT-VGG-GRU,
A/V-MT-VGG-GRU.

Trains a registered clip model (``model.input_spec.kind == "clip"``) on clips of consecutive
frames of the federation's videos, with the multi-task loss on every labelled frame (VA only for
AffWildNet and the CNN-RNNs: 1 - CCC, as the papers train them), then evaluates every frame of
every held-out video once and saves a reloadable model with its input spec.

A model that takes audio (A/V-MT-VGG-GRU, ``input_spec.audio``) gets each frame's log-mel window
and the clips' ``audio_mask``; its first ``train.stream_steps`` steps train each stream on its
own output layer, the rest the whole model end to end (the paper's schedule).

    accelerate launch recipes/cnn_rnn.py --config recipes/configs/cnn_rnn/synthetic.yaml
    accelerate launch recipes/cnn_rnn.py --config ... model.name=cnn3rnn_resnet18 train.steps=500
    accelerate launch recipes/cnn_rnn.py --config recipes/configs/cnn_rnn/avmtvgggru.yaml

Decision-level fusion of trained members is ``recipes/decision_fusion.py``. Rerunning the same
command resumes an interrupted run exactly and leaves a finished one as it is (see
docs/facebehaviornet.md, "Checkpoints and resume").

Reads top to bottom: config -> build -> prepare -> loop -> evaluate -> save.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from holistic.data.clips import ClipLoader
from holistic.data.federation import Federation
from holistic.data.transforms import build_train_transform, normalise
from holistic.evaluation.run import evaluate_pooled, write_evaluation
from holistic.losses import LossWeights, flatten_frames, multitask_loss
from holistic.models import create_model, label_space_of
from holistic.models.audiovisual import StreamOutputs
from holistic.training.checks import check_audio_sources, check_eval_split, check_served
from holistic.training.config import (
    ConfigError,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Range,
    Seed,
    load_config,
)
from holistic.training.latent import native_va_markdown, native_va_metrics
from holistic.training.optim import OptimizerName, build_optimizer
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
    datasets: list[str] = field(default_factory=lambda: ["affwild2"])  # video datasets only
    clip_length: PositiveInt | None = None  # frames per training clip; None: the model's
    batch_size: PositiveInt = 4  # clips per step (the papers: 4 x 80 frames)
    image_size: PositiveInt = 64
    augment: Annotated[float, Range(ge=0, le=3)] = 1.0  # train augmentation (alike per clip)
    num_workers: NonNegativeInt = 0
    shuffle_buffer: PositiveInt = 64  # clips
    tolerate_damage: bool = False  # skip and count damaged shards instead of failing
    interleave: PositiveInt = 8  # shards read at once: the clips of a batch come from their videos
    eval_split: str | list[str] = "validation"
    eval_window: NonNegativeInt | None = (
        0  # frames per window; 0: the clip length; None: whole runs
    )
    eval_stride: PositiveInt | None = None  # None: the window (no overlap)
    # VA also reported on each dataset's native scale (RMSE, COR, CCC, ICC; AFEW-VA's integers
    # in [-10, 10]), as latent_adversarial.py reports it; datasets not named: x1.
    native_scale: dict[str, PositiveFloat] = field(default_factory=lambda: {"afewva": 10.0})


@dataclass
class ModelConfig:
    name: str = "affwildnet_resnet18"
    expressions: str | list[str] | None = None  # multi-task models (mtvgggru_*): vocabularies
    aus: str | list[PositiveInt] | None = None  # None: the model's default (basic7, fbn17)
    landmarks: bool = False  # feed the 68 landmarks (frames without them get zeros)
    pretrained: bool = False  # timm weights from the local cache, if you have them
    checkpoint_path: str | None = None  # or backbone weights from a local file
    init_from: str | None = None  # MT-VGG-GRU: start the CNN from a FaceBehaviorNet checkpoint
    kwargs: dict[str, Any] = field(default_factory=dict)  # other builder arguments (dropout...)


@dataclass
class TrainConfig:
    steps: PositiveInt = 300
    lr: PositiveFloat = 1e-4
    # The paper decays exponentially: lr *= lr_decay every decay_steps (smoothly, step by step).
    lr_decay: Annotated[float, Range(gt=0, le=1)] = 1.0
    decay_steps: PositiveInt = 1000
    optimizer: OptimizerName = "adam"  # as the papers (unlike the image recipes' adamw)
    weight_decay: NonNegativeFloat = 0.0  # adam: an L2 term in the gradient; adamw: decoupled
    # The CNN frozen for the first N steps (after init_from); -1: always.
    freeze_steps: Annotated[int, Range(ge=-1)] = 0
    # A/V models: the first N steps train each stream on its own output layer, then end to end.
    stream_steps: NonNegativeInt = 0
    grad_accum: PositiveInt = 1
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    cpu: bool = False
    seed: Seed = 0
    log_every: PositiveInt = 10
    checkpoint_every: NonNegativeInt = 0  # 0: only at the end
    output_dir: str = "runs/cnn_rnn"
    resume: bool = True  # continue from output_dir/state when it exists; false: start afresh
    accept_changes: list[str] = field(default_factory=list)  # config keys changed on resume


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossWeights = field(default_factory=LossWeights)  # 0 switches a term off
    train: TrainConfig = field(default_factory=TrainConfig)


def parse_args(argv: list[str] | None) -> RunConfig:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="YAML config (recipes/configs/cnn_rnn/...)")
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
    set_seed(config.train.seed)

    # Build: the model first (its input spec says how to feed it), then the clips.
    model = build_model(config)
    if not model.input_spec.is_clip:
        raise ValueError(f"{config.model.name} is an image model; train it with its own recipe")
    if config.data.clip_length is not None:  # the GRUs run on any length: the spec records it
        model.input_spec = replace(model.input_spec, clip_length=config.data.clip_length)
    spec, space = model.input_spec, label_space_of(model)
    federation = Federation(config.data.federation)
    if {"expr", "au"} & set(model.tasks):  # multi-task models: their vocabularies are trained
        check_served(federation, space, config.data.datasets)
    check_eval_split(federation, config.data.eval_split, config.data.datasets)
    takes_audio = bool(spec.audio)  # A/V-MT-VGG-GRU: every frame's log-mel window
    if takes_audio:  # fails at start, naming the datasets without audio features
        check_audio_sources(federation, config.data.datasets, features=list(spec.audio))
        model.audio_settings = federation.audio_settings(config.data.datasets).to_json()
    elif config.train.stream_steps:
        raise ConfigError(
            f"config key train.stream_steps: {config.model.name} takes no audio, so it has no "
            "streams to train on their own; leave it 0 or train an A/V model (avmtvgggru_*)"
        )
    accelerator = start_run(config)
    clips = ClipLoader(  # fails at start on image datasets and clips longer than any run
        federation,
        space,
        spec.clip_length,
        config.data.batch_size,
        build_train_transform(spec.image_size, config.data.augment, keypoints=spec.landmarks),
        datasets=config.data.datasets,
        task=list(model.tasks),
        rank=accelerator.process_index,
        world_size=accelerator.num_processes,
        seed=config.train.seed,
        shuffle_buffer=config.data.shuffle_buffer,
        tolerate_damage=config.data.tolerate_damage,
        interleave=config.data.interleave,
        normalise=False,  # uint8 to the device, normalised there
        landmarks=spec.landmarks,
        audio=takes_audio,  # every feature [B, T, ...], zeros and audio_mask False where none
    )
    backbone = getattr(model, "backbone", None)
    cnn = list(backbone.parameters()) if backbone is not None else []
    frozen_for_good = bool(cnn) and config.train.freeze_steps < 0
    if frozen_for_good:  # no gradient through the CNN at all (a third of a step's time)
        backbone.requires_grad_(False)
        cnn = []
    cnn_ids = {id(p) for p in backbone.parameters()} if backbone is not None else set()
    rest = [p for p in model.parameters() if id(p) not in cnn_ids]
    groups = [{"params": rest}] + ([{"params": cnn}] if cnn else [])
    optimizer = build_optimizer(
        groups, config.train.optimizer, lr=config.train.lr, weight_decay=config.train.weight_decay
    )
    # The clip loader splits itself by rank and worker: it is NOT prepared (DESIGN.md #6). An
    # A/V model trains through StreamOutputs: every output layer from one (DDP) forward.
    trained = StreamOutputs(model) if takes_audio else model
    trained, optimizer = accelerator.prepare(trained, optimizer)
    progress = resume_state(accelerator, out / STATE, optimizer)  # step 0 when starting afresh

    # Loop.
    trained.train()
    if frozen_for_good:  # BatchNorm statistics stay put
        model.backbone.eval()
    steps = config.train.steps
    bar = tqdm(total=steps, initial=progress.step, disable=not accelerator.is_main_process)
    for batch in batches_from(
        clips, progress.step, steps, config.data.num_workers, progress.damage
    ):
        lr = learning_rate(config.train, progress.step)  # a function of the step: exact resume
        optimizer.param_groups[0]["lr"] = lr
        if cnn:  # frozen for the first steps: no step (lr 0), BatchNorm statistics stay put
            frozen = progress.step < config.train.freeze_steps
            optimizer.param_groups[1]["lr"] = 0.0 if frozen else lr
            model.backbone.train(not frozen)
        with accelerator.accumulate(trained):
            images = normalise(batch["image"].to(accelerator.device))
            extra = {}
            if spec.landmarks:
                extra["landmarks"] = batch["landmarks"].to(accelerator.device)
            if takes_audio:  # a frame without audio: zeros and False (the model hears silence)
                extra["audio"] = batch["mel"].to(accelerator.device).float()
                extra["audio_mask"] = batch["audio_mask"].to(accelerator.device)
            outputs = trained(images, **extra)
            labels = flatten_frames({k: batch[k].to(accelerator.device) for k in LABEL_KEYS})
            if takes_audio:  # the stage is a function of the step: resume stays exact
                streams = progress.step < config.train.stream_steps
                terms = audiovisual_loss(outputs, labels, extra["audio_mask"], config.loss, streams)
            else:
                terms = multitask_loss(flatten_frames(outputs), labels, config.loss)
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

    # Evaluate every frame of every held-out video once; pool the ranks' predictions.
    window = spec.clip_length if config.data.eval_window == 0 else config.data.eval_window
    pooled = evaluate_pooled(
        accelerator,
        model,
        federation,
        space,
        split=config.data.eval_split,
        datasets=config.data.datasets,
        window=window,
        stride=config.data.eval_stride,
        tolerate_damage=config.data.tolerate_damage,
    )
    metrics: dict = {}
    if accelerator.is_main_process:
        summary = save_outputs(accelerator, out, model, progress, pooled)  # model/, history.json
        summary["eval_window"] = window
        if takes_audio:
            summary["eval_frames_without_audio"] = pooled.frames_without_audio
        native = native_va_metrics(pooled, config.data.native_scale)
        summary["native_scale"] = native
        sections = {
            "VA on each dataset's native scale": native_va_markdown({config.model.name: native})
        }
        metrics = write_evaluation(
            out,
            pooled,
            space,
            history=progress.history,
            summary=summary,
            title=config.model.name,
            extra_sections=sections if native else None,
            damaged_in_training=progress.damage.rows(),
        )
    end_run(accelerator, out, progress)
    return metrics


# --- the parts the recipe names --------------------------------------------------------------


def learning_rate(train: TrainConfig, step: int) -> float:
    """The learning rate at ``step``: ``train.lr`` decayed by ``train.lr_decay`` every
    ``train.decay_steps`` steps, smoothly (the papers' exponential decay)."""
    return train.lr * train.lr_decay ** (step / train.decay_steps)


def audiovisual_loss(
    outputs: dict[str, dict[str, torch.Tensor]],
    labels: dict[str, torch.Tensor],
    audio_mask: torch.Tensor,
    weights: LossWeights,
    streams: bool,
) -> dict[str, torch.Tensor]:
    """An A/V model's loss terms from every output layer's clip outputs (``StreamOutputs``):
    each layer's multi-task terms under ``video_``, ``audio_`` and ``fused_`` names, and
    ``total``. In the stream-wise stage (``streams``) the total is the video and the audio output
    layers' (the audio one on frames with audio only: elsewhere it hears silence), afterwards the
    fused one's. The others enter with weight 0: every parameter is in the graph at every step,
    as DDP needs, and gets a zero gradient from them.

    Args:
        outputs: ``{"video" | "audio" | "fused": {task: [B, T, ...]}}``.
        labels: The frames' labels and masks, flattened to ``[B*T, ...]``.
        audio_mask: ``[B, T]`` bool, True where a frame has audio.
        weights: The task weights of each output layer's loss.
        streams: Whether the step trains the streams on their own.
    """
    heard = audio_mask.flatten().to(torch.bool)
    heard_labels = {**labels, "va_mask": labels["va_mask"] & heard}
    heard_labels["expr_mask"] = labels["expr_mask"] & heard
    heard_labels["au_mask"] = labels["au_mask"] & heard[:, None]
    per_layer = {
        "video": multitask_loss(flatten_frames(outputs["video"]), labels, weights),
        "audio": multitask_loss(flatten_frames(outputs["audio"]), heard_labels, weights),
        "fused": multitask_loss(flatten_frames(outputs["fused"]), labels, weights),
    }
    terms = {f"{layer}_{k}": v for layer, part in per_layer.items() for k, v in part.items()}
    stage = 1.0 if streams else 0.0
    streams_total = per_layer["video"]["total"] + per_layer["audio"]["total"]
    terms["total"] = stage * streams_total + (1.0 - stage) * per_layer["fused"]["total"]
    return terms


def build_model(config: RunConfig) -> torch.nn.Module:
    """The registered model with the config's builder arguments (the recipe's translation of
    config into flat arguments)."""
    kwargs: dict[str, Any] = {
        "image_size": config.data.image_size,
        "pretrained": config.model.pretrained,
        "checkpoint_path": config.model.checkpoint_path,
        **config.model.kwargs,
    }
    if config.model.landmarks:
        kwargs["landmarks"] = True
    if config.model.init_from is not None:
        kwargs["init_from"] = config.model.init_from
    if config.model.expressions is not None:
        kwargs["expressions"] = config.model.expressions
    if config.model.aus is not None:
        kwargs["aus"] = config.model.aus
    return create_model(config.model.name, **kwargs)


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
