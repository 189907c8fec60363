"""Latent adversarial affect models: AEG-CD, AEG-CD-SZ, the D-only baseline, ANCLaF and the
ANCLaF-S-n / -SA-n curriculum, DiLaST and DiLaST-SA on faces or on audio images, AVi-CaS and
AVi-GaS (Aspandi et al., FG 2020, VISAPP 2021 and TAFFC 2022).

A run is a list of stages. The **frame** stage trains the denoising generator G, the critic D
and (ANCLaF) the combiner C adversarially on degraded frames: every step a critic update, every
``train.n_critic`` steps a generator update, and C every step, each with its own optimiser.
**Sequence** stages (ANCLaF-S/-SA) then train the LSTM over the per-frame [Z; Q] of windows of
``length`` frames, G and D frozen, each stage starting from the previous one's weights (or from
a named earlier stage), so the curriculum 2 -> 4 -> 8 -> 16 -> 32 is one run that resumes
exactly anywhere. DiLaST is ANCLaF on one modality: on audio, G, D and C read each frame's audio
image, and frames without audio count in no term. AVi-CaS / AVi-GaS runs have sequence stages
only: their frame models are two finished DiLaST runs' (``model.video_frame``,
``model.audio_frame``), held frozen. docs/latent_adversarial.md says what each config reproduces.

    accelerate launch recipes/latent_adversarial.py \
        --config recipes/configs/latent_adversarial/aegcd.yaml
    accelerate launch recipes/latent_adversarial.py --config ... train.steps=500

Rerunning the same command resumes an interrupted run exactly and leaves a finished one as it
is (docs/facebehaviornet.md, "Checkpoints and resume").

Reads top to bottom: config -> build -> prepare -> loop (stages) -> evaluate -> save.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import torch
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from holistic.data.clips import ClipLoader
from holistic.data.degrade import PAPER_DEGRADATIONS
from holistic.data.federation import AlignedMixer, Federation
from holistic.data.transforms import build_train_transform, normalise
from holistic.evaluation.run import evaluate_pooled, write_evaluation
from holistic.losses.adversarial import (
    discriminator_adv_loss,
    generator_adv_loss,
    gradient_penalty,
    quadrant_loss,
    reconstruction_loss,
)
from holistic.losses.affect import affect_loss
from holistic.models import create_model, label_space_of, load_model
from holistic.models.checkpoint import checkpoint_files, save_model
from holistic.models.latent import AEGCD, AV_MODALITIES, ANCLaF, ANCLaFSequence, AViGaSNet
from holistic.schema import va_quadrant
from holistic.training.checks import check_eval_split
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
from holistic.training.divergence import check_terms
from holistic.training.latent import (
    AUDIO_FEATURES,
    AUDIO_IMAGES,
    AudioStatistics,
    OptimizerGroups,
    audio_context,
    audio_statistics,
    check_audio_sources,
    class_weights,
    degrade_batch,
    fold_audio_normalisation,
    init_from_checkpoint,
    native_va_markdown,
    native_va_metrics,
    quantise_images,
    reset_optimizer,
    sample_weights,
)
from holistic.training.runs import STATE, check_output_dir, end_run, save_outputs, start_run
from holistic.training.state import batches_from, due, log_terms, resume_state, save_state

AFFECT_TERM = Literal["rmse", "cor", "ccc", "icc"]
DEGRADATION = Literal["downsample", "blur", "noise", "colour", "grayscale", "occlusion"]
STAGES = "stages"  # per-stage models and reports: output_dir/stages/<name>/ (runs.OUTPUTS)


# --- config ----------------------------------------------------------------------------------


@dataclass
class DataConfig:
    federation: str = "data/shards"  # folder, http(s) prefix or pipe: template with {name}
    datasets: list[str] | None = None  # frame stages; None: every dataset with a train split
    sequence_datasets: list[str] | None = None  # sequence stages (videos); None: data.datasets
    batch_size: PositiveInt = 64  # frames per step (the reference: 500)
    clip_batch_size: PositiveInt = 16  # windows per step of a sequence stage
    image_size: PositiveInt = 112
    augment: Annotated[float, Range(ge=0, le=3)] = 0.0  # before degradation; 0: resize only
    num_workers: NonNegativeInt = 0
    shuffle_buffer: PositiveInt = 500  # frames (frame stages)
    clip_shuffle_buffer: PositiveInt = 64  # clips (AEG-CD-SZ's 3-frame clips, sequence stages)
    interleave: PositiveInt = 8  # shards a clip reader reads at once
    tolerate_damage: bool = False
    eval_split: str | list[str] = "validation"
    eval_batch_size: PositiveInt = 128
    native_scale: dict[str, PositiveFloat] = field(default_factory=lambda: {"afewva": 10.0})


@dataclass
class ModelConfig:
    name: str = "aegcd_112"  # the frame model: aegcd_112, aegcd_sz_112, anclaf_128, test_*
    sequence: str | None = None  # the sequence model of sequence stages: anclaf_s_128, ...
    discriminator_only: bool = False  # the "Disc" baseline: D alone on clean images, L_afc only
    va_output: Literal["tanh", "linear"] = "tanh"
    kwargs: dict[str, Any] = field(default_factory=dict)  # builder arguments (G, D, C)
    # A finished run's model/ to start from: AEG-CD-SZ from AEG-CD, as the paper trains it.
    init_from: str | None = None
    sequence_kwargs: dict[str, Any] = field(default_factory=dict)  # the LSTM's (hidden_size...)
    # AVi-CaS / AVi-GaS (model.name avicas_128, avigas_128): the frame models of two finished
    # DiLaST runs (a frame-only run's model/, or a run's stages/frame/model), G and D held frozen;
    # the run then has sequence stages only.
    video_frame: str | None = None  # DiLaST on faces (dilast_video_128)
    audio_frame: str | None = None  # DiLaST on audio images (dilast_audio_128)


@dataclass
class LossConfig:
    adversarial: Literal["wgan-gp", "log"] = "wgan-gp"  # the code's / the papers' Eq. 1
    gp: NonNegativeFloat = 10.0  # λ_gp (wgan-gp)
    rec: NonNegativeFloat = 10.0  # λ_rec, the cycle term |x - G(G(x̃))|
    rec_direct: NonNegativeFloat = 0.0  # |x - G(x̃)| (decision 13; neither paper nor code)
    afc: NonNegativeFloat = 1.0  # λ_afc of every L_afc
    quadrant: NonNegativeFloat = 1.0  # ANCLaF D's quadrant head (decision 6)
    # The AViGaS paper's Eq. 13 (λ_D = λ_G = 0.25, λ_P = 0.5; 1 = the reference code's weights):
    adv_d: NonNegativeFloat = 1.0  # λ_D: D's real-vs-fake term in D's loss
    adv_g: NonNegativeFloat = 1.0  # λ_G: G's adversarial term in G's loss
    afc_c: NonNegativeFloat = 1.0  # λ_P: C's (the paper's P) L_afc, as afc_c * afc
    terms: list[AFFECT_TERM] = field(default_factory=lambda: ["rmse", "cor", "ccc", "icc"])
    sequence_terms: list[AFFECT_TERM] = field(default_factory=lambda: ["rmse", "ccc", "icc"])
    class_weights: bool = True  # inverse bin frequency from the manifest (decision 5)
    combiner_trains_generator: bool = True  # C's loss reaches G on generator steps (the code)


@dataclass
class DegradeConfig:
    kinds: list[DEGRADATION] = field(default_factory=lambda: list(PAPER_DEGRADATIONS))
    p_clean: Annotated[float, Range(ge=0, le=1)] = 0.5  # the reference's


@dataclass
class StageConfig:
    name: str = "frame"
    kind: Literal["frame", "sequence"] = "frame"
    steps: PositiveInt = 1000
    length: PositiveInt = 1  # frames per window (sequence stages: n)
    attention: bool = False  # -SA
    start_from: str | None = None  # an earlier sequence stage's weights; None: the previous

    def __post_init__(self) -> None:
        if self.kind == "frame" and (self.length != 1 or self.attention or self.start_from):
            raise ValueError(f"stage {self.name!r}: a frame stage has no length/attention/start")


@dataclass
class TrainConfig:
    steps: PositiveInt | None = None  # stop here; None: every stage's steps (see stage_plan)
    n_critic: PositiveInt = 5  # a generator step every n_critic steps (iterations, not epochs)
    lr: PositiveFloat = 1e-4  # G, D and C (the reference's Adam)
    betas: list[Annotated[float, Range(ge=0, lt=1)]] = field(default_factory=lambda: [0.5, 0.999])
    sequence_lr: PositiveFloat = 1e-4
    sequence_init: Literal["combiner", "scratch"] = "combiner"  # the first sequence stage's CNN
    diverge_above: PositiveFloat = 1e5  # a loss term above this (or NaN/inf) stops the run
    eval_stages: bool = True  # evaluate each finished stage (the S-n / SA-n comparison)
    grad_accum: Literal[1] = 1  # the GAN steps alternate optimisers: no accumulation
    mixed_precision: Literal["no", "bf16"] = "no"
    cpu: bool = False
    seed: Seed = 0
    log_every: PositiveInt = 10  # generator terms are logged on generator steps
    checkpoint_every: NonNegativeInt = 0  # 0: at the end of each stage only
    output_dir: str = "runs/latent_adversarial"
    resume: bool = True
    accept_changes: list[str] = field(default_factory=list)


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    degrade: DegradeConfig = field(default_factory=DegradeConfig)
    stages: list[StageConfig] = field(default_factory=lambda: [StageConfig()])
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        names = [stage.name for stage in self.stages]
        frames = (self.model.video_frame, self.model.audio_frame)
        if any(path is not None for path in frames):  # AVi-CaS / AVi-GaS
            if None in frames or not self.stages or self.model.sequence is not None:
                raise ValueError(
                    "model.video_frame and model.audio_frame: AVi-CaS / AVi-GaS (model.name) "
                    "take both DiLaST frame models and no model.sequence"
                )
            if any(s.kind == "frame" for s in self.stages):
                raise ValueError(
                    "stages: an AVi-CaS / AVi-GaS run has no frame stage (its frame models are "
                    "model.video_frame and model.audio_frame); list sequence stages only"
                )
        elif not self.stages or self.stages[0].kind != "frame":
            raise ValueError("stages must start with the frame stage (kind: frame)")
        if len(set(names)) != len(names) or any(s.kind == "frame" for s in self.stages[1:]):
            raise ValueError(f"stages need distinct names and one frame stage, got {names}")
        for index, stage in enumerate(self.stages):
            earlier = [s.name for s in self.stages[:index] if s.kind == "sequence"]
            if stage.start_from is not None and stage.start_from not in earlier:
                raise ValueError(
                    f"stage {stage.name!r}: start_from must name an earlier sequence stage "
                    f"({earlier or 'none'}), got {stage.start_from!r}"
                )
        if len(self.train.betas) != 2:
            raise ValueError(f"train.betas must be two numbers, got {self.train.betas}")


def parse_args(argv: list[str] | None) -> RunConfig:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="YAML config (recipes/configs/...)")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.lr=3e-4")
    args = parser.parse_args(argv)
    config = load_config(RunConfig, args.config, args.overrides)
    if config.train.steps is None:  # resolved here, so config.yaml records the steps trained
        config.train.steps = sum(stage.steps for stage in config.stages)
    return config


class Span(NamedTuple):
    """A stage and its global steps ``[start, end)``."""

    stage: StageConfig
    start: int
    end: int


def stage_plan(stages: list[StageConfig], steps: int) -> list[Span]:
    """Each stage's global steps: stage k runs after stages 0..k-1, so the stage (and the step
    within it, the position its loader resumes at) is a function of the global step. The last
    stage runs on to ``steps`` when that is more than the stages' sum (train a run further)."""
    spans, start = [], 0
    for stage in stages:
        spans.append(Span(stage, start, start + stage.steps))
        start += stage.steps
    if steps > start:
        spans[-1] = spans[-1]._replace(end=steps)
    return spans


# --- the recipe ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    config = parse_args(argv)
    out = Path(config.train.output_dir)
    finished = check_output_dir(config)  # a refused config change stops here, writing nothing
    if finished is not None:
        return finished  # the run is finished: its results stay as they are
    set_seed(config.train.seed)

    # Build: the frame model (G, D, C) and the sequence model sharing its G and D; or, for
    # AVi-CaS / AVi-GaS, two finished DiLaST runs' frame models and the model holding their G
    # and D (no frame stage). Then the data.
    if config.model.video_frame is None:
        frame = build_frame_model(config)
        if config.model.init_from is not None:  # progressive: from a smaller model's weights
            started = init_from_checkpoint(frame, config.model.init_from)
            print(f"started from {config.model.init_from}: {len(started['copied'])} weights "
                  f"copied, {started['extended']} extended, {len(started['new'])} new",
                  flush=True)  # fmt: skip
        kind = model_kind(frame, config)  # "disc", "aegcd" or "anclaf"
        sequence = build_sequence_model(config, frame) if len(config.stages) > 1 else None
        reads = frame  # what the run's models read
    else:
        frame = load_frame_models(config)  # {"video": DiLaST, "audio": DiLaST}
        kind, sequence = "fused", build_fused_model(config, frame)
        reads = sequence
    # What the models hear: None, AEG-CD-SZ's eGeMAPS of 3 frames, or each frame's audio image
    # (DiLaST on audio, DiLaST-SA on audio, AViGaS); a DiLaST on audio trains on heard frames only.
    audio = next(iter(reads.input_spec.audio), None)
    audio_only = getattr(reads, "modality", "video") == "audio"
    space = label_space_of(reads)
    federation = Federation(config.data.federation)
    check_eval_split(federation, config.data.eval_split, config.data.datasets)
    if audio is not None:  # fails at start, naming the datasets without audio (or its images)
        size = reads.audio_image_size if audio == AUDIO_IMAGES else None
        for datasets in trained_datasets(config):
            check_audio_sources(federation, datasets, features=[audio], image_size=size)
    if audio == AUDIO_IMAGES:  # the saved models record how their audio images were made
        set_audio_settings(federation, config, frame, sequence)
    accelerator = start_run(config)
    bins = class_weights(federation, config.data.datasets) if config.loss.class_weights else None
    statistics = None
    if audio == AUDIO_FEATURES:
        statistics = audio_statistics(federation, config.data.datasets)
    plan = stage_plan(config.stages, config.train.steps)
    loaders = [build_loader(config, span.stage, federation, space, accelerator, audio)
               if span.start < config.train.steps else None for span in plan]  # fmt: skip

    # One optimiser per part (Adam, β = (0.5, 0.999) as the reference); all prepared together.
    # AVi-CaS / AVi-GaS train their sequence part only; their DiLaST parts are not prepared.
    parts = {} if kind == "fused" else {"discriminator": frame.discriminator}
    if kind == "disc":  # the baseline has no adversary: its critic head never trains
        frame.discriminator.critic.requires_grad_(False)
    elif kind == "fused":
        sequence.to(accelerator.device)
    else:
        parts["generator"] = frame.generator
    if kind == "anclaf":
        parts["combiner"] = frame.combiner
    if sequence is not None:
        parts["sequence"] = sequence.sequence
    optimizers = {
        name: torch.optim.Adam(
            [p for p in part.parameters() if p.requires_grad],
            lr=config.train.sequence_lr if name == "sequence" else config.train.lr,
            betas=tuple(config.train.betas),
        )
        for name, part in parts.items()
    }
    # The loaders split themselves by rank and worker: they are NOT prepared (DESIGN.md #6).
    prepared = accelerator.prepare(*parts.values(), *optimizers.values())
    train = dict(zip(parts, prepared[: len(parts)], strict=True))  # wrapped (DDP) parts
    optim = dict(zip(parts, prepared[len(parts) :], strict=True))
    progress = resume_state(accelerator, out / STATE, OptimizerGroups(optim.values()))
    if kind == "fused":  # a resumed run must read the latents it started on
        frame_models = check_frame_models(accelerator, out, config, resumed=progress.step > 0)
        G = D = None
    else:  # unwrapped: called where no gradient syncs
        G, D = frame.generator, frame.discriminator
    device, seed, rank = accelerator.device, config.train.seed, accelerator.process_index
    lam = config.loss  # the term weights (λ)

    def stage_end(span: Span) -> None:
        """Save the finished stage's model (a later stage may start from it), evaluate it
        (train.eval_stages), and checkpoint. The last stage's model is the run's own."""
        if span.end < config.train.steps and kind != "disc":
            model = stage_model(span.stage, frame, sequence, statistics, config)
            folder = out / STAGES / span.stage.name
            if accelerator.is_main_process:
                save_model(model, folder / "model")
            if config.train.eval_stages:
                pooled, extra = evaluate(accelerator, model, federation, space, config,
                                         span.stage, statistics)  # fmt: skip
                if accelerator.is_main_process:
                    native = native_va_metrics(pooled, config.data.native_scale)
                    summary = {"stage": span.stage.name, "steps": span.end, **extra,
                               "native_scale": native}  # fmt: skip
                    write_evaluation(folder, pooled, space, summary=summary,
                                     title=span.stage.name)  # fmt: skip
        save_state(accelerator, out / STATE, progress)  # every process has the stage's files

    def kept() -> str:
        if progress.saved_step is None:
            return "no checkpoint had been written yet"
        return f"the last good checkpoint (step {progress.saved_step}) stays in {out / STATE}"

    # Loop: the stages in order, each from where the checkpoint left it.
    steps = config.train.steps
    bar = tqdm(total=steps, initial=progress.step, disable=not accelerator.is_main_process)

    def step_done(span: Span, stop: int, logged: dict, shown: str) -> None:
        """Count the step; log when due (the bar shows ``loss/<shown>``), then end the stage
        or checkpoint when due."""
        progress.step += 1
        bar.update(1)
        if due(progress.step, config.train.log_every) or progress.step == stop:
            values = log_terms(accelerator, logged, progress.step, progress.history)
            bar.set_postfix(loss=f"{values[f'loss/{shown}']:.3f}")
        if progress.step == span.end:
            stage_end(span)
        elif due(progress.step, config.train.checkpoint_every):
            save_state(accelerator, out / STATE, progress)

    for span, loader in zip(plan, loaders, strict=True):
        stop = min(span.end, steps)
        if progress.step >= stop:
            continue
        stage = span.stage
        if stage.kind == "frame":
            for part in train.values():
                part.train()
            for batch in batches_from(loader, progress.step - span.start, stop - span.start,
                                      config.data.num_workers, progress.damage):  # fmt: skip
                step = progress.step + 1  # the step being trained, as logged
                images, va, va_mask, context, audio_mask = frame_inputs(batch, statistics, device,
                                                                        frame)  # fmt: skip
                degraded = degrade_batch(images, config.degrade.kinds, config.degrade.p_clean,
                                         (seed, progress.step, rank))  # fmt: skip
                clean, degraded = normalise(images.to(device)), normalise(degraded.to(device))
                labels = Labels(va, va_mask, sample_weights(bins, va, va_mask))
                heard = audio_mask if audio_only else None  # the frames every term counts

                # 1. The critic (D): every step. G's outputs are constants here.
                d_terms, fakes = critic_terms(train["discriminator"], G, kind, clean, degraded,
                                              context, labels, config.loss, heard)  # fmt: skip
                check_terms(d_terms, step, limit=config.train.diverge_above,
                            accelerator=accelerator, kept=kept())  # fmt: skip
                optim["discriminator"].zero_grad()
                accelerator.backward(d_terms["total_d"])
                optim["discriminator"].step()
                logged = dict(d_terms)
                if audio_mask is not None:  # the share of (clip) frames with audio
                    logged["audio_present"] = audio_mask.float().mean()

                # 2. The generator (G): every n_critic steps, counted in steps (defect 7.1.1),
                # with D frozen. 3. The combiner (C, ANCLaF): every step; its loss reaches G
                # on generator steps (loss.combiner_trains_generator, as the reference).
                g_step = kind != "disc" and (progress.step + 1) % config.train.n_critic == 0
                g_terms, c_terms, total = {}, {}, None
                if g_step:
                    D.requires_grad_(False)
                    g_terms, fakes = generator_terms(train["generator"], D, clean, degraded,
                                                     context, labels, config.loss,
                                                     heard)  # fmt: skip
                    total = g_terms["total_g"]
                if kind == "anclaf":
                    reaches_g = g_step and lam.combiner_trains_generator
                    c_terms = combiner_terms(train["combiner"],
                                             fakes.z if reaches_g else fakes.z.detach(),
                                             fakes.out, frame, labels, config.loss)  # fmt: skip
                    c_total = c_terms["total_c"]
                    total = c_total if total is None else total + c_total
                if total is not None:
                    check_terms({**g_terms, **c_terms}, step, limit=config.train.diverge_above,
                                accelerator=accelerator, kept=kept())  # fmt: skip
                    for name in ("generator", "combiner"):
                        if name in optim:
                            optim[name].zero_grad()
                    accelerator.backward(total)
                    if g_step:
                        optim["generator"].step()
                    if kind == "anclaf":
                        optim["combiner"].step()
                if g_step:
                    D.requires_grad_(True)
                logged.update(g_terms)
                logged.update(c_terms)
                step_done(span, stop, logged, "total_d")
        else:  # a sequence stage: G and D frozen (eval mode), the LSTM over [Z; Q] trains
            for name, part in sequence.named_children():  # G and D (AViGaS: each modality's)
                if name != "sequence":
                    part.eval().requires_grad_(False)
            train["sequence"].train()
            sequence.sequence.attention = stage.attention
            if progress.step == span.start:  # entering the stage (not resuming inside it)
                start_stage(span, plan, frame, sequence, out, config)
                reset_optimizer(optim["sequence"])
            for batch in batches_from(loader, progress.step - span.start, stop - span.start,
                                      config.data.num_workers, progress.damage):  # fmt: skip
                step = progress.step + 1
                clips = normalise(batch["image"].to(device))  # [B, n, 3, H, W]
                va = batch["va"].to(device).float().flatten(0, 1)
                va_mask = batch["va_mask"].to(device).bool().flatten(0, 1)
                # Each frame's audio image and whether it has one ([B, n]), for the models on
                # audio images; a DiLaST-SA on audio counts the heard frames only.
                sound = clip_audio(batch, device) if audio == AUDIO_IMAGES else {}
                if audio_only:
                    va_mask = va_mask & sound["audio_mask"].flatten(0, 1)
                with torch.no_grad():  # (Z, Q); AViGaS: each modality's, and where audio is
                    latents = sequence.clip_latents(clips, **sound)
                outputs = train["sequence"](*latents)
                s_terms = affect_loss(outputs.va.flatten(0, 1), va, va_mask,
                                      sample_weights(bins, va, va_mask),
                                      terms=config.loss.sequence_terms, prefix="afc_s/")  # fmt: skip
                check_terms(s_terms, step, limit=config.train.diverge_above,
                            accelerator=accelerator, kept=kept())  # fmt: skip
                optim["sequence"].zero_grad()
                # The score layer of -S gets an exact zero gradient: under DDP every
                # parameter must take part in the backward pass.
                idle = 0.0 * sum(p.sum() for p in sequence.sequence.score.parameters())
                accelerator.backward(lam.afc * s_terms["afc_s/total"] + idle)
                optim["sequence"].step()
                logged = dict(s_terms)
                if sound:  # the share of clip frames with audio
                    logged["audio_present"] = sound["audio_mask"].float().mean()
                step_done(span, stop, logged, "afc_s/total")
    bar.close()
    progress.stop_clock()
    save_state(accelerator, out / STATE, progress)

    # Evaluate the model of the stage the run ended in on every dataset's held-out split.
    last = next(span for span in plan if span.start < steps <= span.end).stage
    model = stage_model(last, frame, sequence, statistics, config)
    pooled, extra = evaluate(accelerator, model, federation, space, config, last, statistics)
    metrics: dict = {}
    if accelerator.is_main_process:
        summary = save_outputs(accelerator, out, model, progress)  # model/, history.json
        native = native_va_metrics(pooled, config.data.native_scale)
        summary = {**summary, **extra, "stage": last.name, "native_scale": native}
        if kind == "fused":  # the DiLaST runs it holds (their weights' SHA-256)
            summary["frame_models"] = frame_models
        sections = {"VA on each dataset's native scale": native_va_markdown({last.name: native})}
        earlier = stage_reports(out, plan, steps) if config.train.eval_stages else {}
        if earlier:
            sections["Curriculum stages"] = native_va_markdown({**earlier, last.name: native})
        metrics = write_evaluation(
            out,
            pooled,
            space,
            history=progress.history,
            summary=summary,
            title=f"{config.model.name} ({last.name})",
            extra_sections=sections,
            damaged_in_training=progress.damage.rows(),
        )
    end_run(accelerator, out, progress)
    return metrics


# --- the three updates of a frame step -------------------------------------------------------


class Labels(NamedTuple):
    va: torch.Tensor  # [B, 2]
    mask: torch.Tensor  # [B] bool
    weight: torch.Tensor | None  # [B, 2] class-balance weights


class Fakes(NamedTuple):
    """G(x̃), its z and D's output on it: what C reads."""

    image: torch.Tensor
    z: torch.Tensor
    out: Any


def critic_terms(
    d: torch.nn.Module,
    generator: torch.nn.Module,
    kind: str,
    clean: torch.Tensor,
    degraded: torch.Tensor,
    audio: torch.Tensor | None,
    labels: Labels,
    loss: LossConfig,
    present: torch.Tensor | None = None,
) -> tuple[dict[str, torch.Tensor], Fakes | None]:
    """D's terms: λ_D adv_d + λ_gp gp on clean real vs G(x̃) (decision 1), λ_afc L_afc of D's VA
    on the clean images (``afc_d/``), λ_quadrant of D's quadrant head against the label's
    quadrant (decision 6). Real and fake images get z alike: z of G(x) and of G(x̃) (decision 2);
    the gradient penalty's interpolates get the clean image's z. ``present`` ``[B]``: the
    samples adv_d and gp count (a DiLaST on audio: the frames with audio; ``labels.mask``
    leaves the others out of the affect terms); None: all. With none counted, they are zeros."""
    if kind == "disc":  # the baseline: D on the clean image, its VA only
        real = d(clean)
        terms = affect_loss(real.va, labels.va, labels.mask, labels.weight, loss.terms,
                            prefix="afc_d/")  # fmt: skip
        return {**terms, "total_d": loss.afc * terms["afc_d/total"]}, None
    takes_z = generator is not None and _takes_z(d)
    with torch.no_grad():  # G's outputs are constants for D (defect 7.1.7 did not detach z)
        fake, z_fake = generator(degraded)
        z_real = generator.encode(clean) if takes_z else None
    real = d(clean, z_real, audio)
    fake_out = d(fake, z_fake if takes_z else None, audio)
    terms = discriminator_adv_loss(real.critic, fake_out.critic, loss.adversarial, present)
    total = loss.adv_d * terms["adv_d"]
    if loss.adversarial == "wgan-gp":
        terms.update(gradient_penalty(lambda x: d(x, z_real, audio).critic, clean, fake, present))
        total = total + loss.gp * terms["gp"]
    if real.va is not None:
        terms.update(affect_loss(real.va, labels.va, labels.mask, labels.weight, loss.terms,
                                 prefix="afc_d/"))  # fmt: skip
        total = total + loss.afc * terms["afc_d/total"]
    if real.quadrant is not None:
        terms.update(quadrant_loss(real.quadrant, labels.va, labels.mask))
        total = total + loss.quadrant * terms["quadrant"]
    terms["total_d"] = total
    return terms, Fakes(fake, z_fake, fake_out)


def generator_terms(
    g: torch.nn.Module,
    discriminator: torch.nn.Module,
    clean: torch.Tensor,
    degraded: torch.Tensor,
    audio: torch.Tensor | None,
    labels: Labels,
    loss: LossConfig,
    present: torch.Tensor | None = None,
) -> tuple[dict[str, torch.Tensor], Fakes]:
    """G's terms: λ_G adv_g, λ_rec |x - G(G(x̃))| (and optionally |x - G(x̃)|), λ_afc L_afc of
    D's VA on G(x̃) (``afc_g/``), or for a quadrant D its quadrant loss on G(x̃). ``present``:
    as :func:`critic_terms`' (adv_g and the reconstruction count those samples)."""
    fake, z = g(degraded)
    cycled, _ = g(fake)
    out = discriminator(fake, z if _takes_z(discriminator) else None, audio)
    terms = generator_adv_loss(out.critic, loss.adversarial, present)
    terms.update(reconstruction_loss(clean, cycled, fake if loss.rec_direct else None, present))
    total = loss.adv_g * terms["adv_g"] + loss.rec * terms["rec"]
    if loss.rec_direct:
        total = total + loss.rec_direct * terms["rec_direct"]
    if out.va is not None:
        terms.update(affect_loss(out.va, labels.va, labels.mask, labels.weight, loss.terms,
                                 prefix="afc_g/"))  # fmt: skip
        total = total + loss.afc * terms["afc_g/total"]
    if out.quadrant is not None:
        terms["quadrant_g"] = quadrant_loss(out.quadrant, labels.va, labels.mask)["quadrant"]
        total = total + loss.quadrant * terms["quadrant_g"]
    terms["total_g"] = total
    return terms, Fakes(fake, z, out)


def combiner_terms(
    c: torch.nn.Module,
    z: torch.Tensor,
    d_out: Any,
    frame: ANCLaF,
    labels: Labels,
    loss: LossConfig,
) -> dict[str, torch.Tensor]:
    """C's L_afc (``afc_c/``) on ``[Z; Q]``: Z of G(x̃), Q D's decision on G(x̃) (its quadrant
    head's arg max, or its VA's quadrant), as the model predicts at evaluation; ``total_c`` =
    λ_P λ_afc L_afc (``loss.afc_c``, ``loss.afc``)."""
    if frame.quadrant_from == "classifier":
        q = d_out.quadrant.detach().argmax(dim=1)
    else:
        q = va_quadrant(d_out.va.detach(), frame.midpoint)
    out = c(z, q if frame.combiner.quadrants else None)
    terms = affect_loss(out.va, labels.va, labels.mask, labels.weight, loss.terms,
                        prefix="afc_c/")  # fmt: skip
    return {**terms, "total_c": loss.afc_c * loss.afc * terms["afc_c/total"]}


def _takes_z(discriminator: torch.nn.Module) -> bool:
    inner = getattr(discriminator, "module", discriminator)  # DDP keeps the module inside
    return inner.z_mode is not None


# --- the parts the recipe names --------------------------------------------------------------


def build_frame_model(config: RunConfig) -> torch.nn.Module:
    """The registered frame model (AEG-CD, AEG-CD-SZ or ANCLaF) with the config's arguments."""
    extra = {"denoise": False} if config.model.discriminator_only else {}  # the Disc baseline
    return create_model(
        config.model.name,
        image_size=config.data.image_size,
        va_output=config.model.va_output,
        **extra,
        **config.model.kwargs,
    )


def model_kind(model: torch.nn.Module, config: RunConfig) -> str:
    """``"disc"``, ``"aegcd"`` or ``"anclaf"``; refuses what this recipe cannot train."""
    sequence_stages = len(config.stages) > 1
    if isinstance(model, AEGCD):
        if sequence_stages:
            raise ConfigError("config key stages: sequence stages need an ANCLaF frame model")
        if config.model.discriminator_only:
            d = model.discriminator
            if d.z_mode is not None or d.audio is not None:
                raise ConfigError(
                    "config key model.discriminator_only: the D-only baseline takes images "
                    "alone; use an AEG-CD without z and audio (aegcd_112, test_aegcd)"
                )
            return "disc"
        return "aegcd"
    if isinstance(model, ANCLaF):  # also DiLaST, on faces or on audio images
        if config.model.discriminator_only:
            raise ConfigError("config key model.discriminator_only: use an AEG-CD model")
        if sequence_stages and config.model.sequence is None:
            raise ConfigError(
                "config key model.sequence: sequence stages need the sequence model "
                "(anclaf_s_128, test_anclaf_s)"
            )
        return "anclaf"
    if isinstance(model, AViGaSNet):
        raise ConfigError(
            f"config key model.name: {config.model.name} (AVi-CaS / AVi-GaS) trains on two "
            "finished DiLaST runs: give their frame models as model.video_frame and "
            "model.audio_frame, and sequence stages only (avigas.yaml)"
        )
    raise ConfigError(
        f"config key model.name: {config.model.name} is not a latent frame model; use "
        "aegcd_112, aegcd_sz_112, anclaf_128, dilast_video_128, dilast_audio_128 or their "
        "test_* variants"
    )


def build_sequence_model(config: RunConfig, frame: ANCLaF) -> torch.nn.Module:
    """The ANCLaF-S/-SA model of the sequence stages, holding the frame model's G and D."""
    kwargs = {**config.model.kwargs, **config.model.sequence_kwargs}
    model = create_sequence_model(config, config.model.sequence, kwargs)
    if not isinstance(model, ANCLaFSequence):
        hint = " (AVi-CaS / AVi-GaS: model.name, see avigas.yaml)"
        raise ConfigError(
            f"config key model.sequence: {config.model.sequence} is not an ANCLaF-S/-SA sequence "
            "model; use anclaf_s_128, anclaf_sa_128, dilast_sa_video_128, dilast_sa_audio_128 or "
            f"their test_* variants{hint if isinstance(model, AViGaSNet) else ''}"
        )
    read = (model.modality, model.audio_image_size)
    if read != (frame.modality, frame.audio_image_size):
        raise ConfigError(
            f"config key model.sequence: {config.model.sequence} reads {_reads(model)}, the frame "
            f"model {config.model.name} {_reads(frame)}: give both the same modality (and audio "
            "image size) in model.kwargs"
        )
    model.generator, model.discriminator = frame.generator, frame.discriminator
    return model


def create_sequence_model(config: RunConfig, name: str, kwargs: dict) -> torch.nn.Module:
    """The registered model ``name`` of the sequence stages, built for the first one's window
    length and attention (``stage_model`` sets each stage's)."""
    first = next(stage for stage in config.stages if stage.kind == "sequence")
    return create_model(
        name,
        image_size=config.data.image_size,
        va_output=config.model.va_output,
        clip_length=first.length,
        attention=first.attention,
        **kwargs,
    )


def _reads(model: ANCLaF | ANCLaFSequence) -> str:
    if model.modality == "video":
        return "faces"
    return f"{model.audio_image_size} px audio images"


def load_frame_models(config: RunConfig) -> torch.nn.ModuleDict:
    """AVi-CaS / AVi-GaS: the DiLaST frame models of two finished runs, ``{"video": ...,
    "audio": ...}`` (``model.video_frame``, ``model.audio_frame``)."""
    frames = {}
    for modality in AV_MODALITIES:
        key = f"model.{modality}_frame"
        path = getattr(config.model, f"{modality}_frame")
        try:
            model = load_model(path)
        except (OSError, ValueError) as error:
            raise ConfigError(f"config key {key}: {error}") from None
        if not isinstance(model, ANCLaF) or model.modality != modality:
            raise ConfigError(
                f"config key {key}: {path} holds {model.build_args['name']}, not a DiLaST frame "
                f"model on {'faces' if modality == 'video' else 'audio images'}: give the "
                f"model/ of a dilast_{modality}_128 run with a frame stage only, or a run's "
                "stages/frame/model"
            )
        frames[modality] = model
    return torch.nn.ModuleDict(frames)


def build_fused_model(config: RunConfig, frames: torch.nn.ModuleDict) -> AViGaSNet:
    """The AVi-CaS / AVi-GaS model of the sequence stages, holding the two DiLaST frame models'
    G and D (:meth:`AViGaSNet.share_frame_parts`); refuses parts shaped otherwise, so that its
    checkpoint reloads alone."""
    fused = "avicas_128, avigas_128 or their test_* variants"
    try:
        model = create_sequence_model(config, config.model.name, config.model.kwargs)
    except TypeError as error:  # another family's builder, or an argument no builder takes
        raise ConfigError(f"config keys model.name / model.kwargs: {error} ({fused})") from None
    if not isinstance(model, AViGaSNet):
        raise ConfigError(
            f"config key model.name: with model.video_frame and model.audio_frame, name AVi-CaS "
            f"or AVi-GaS ({fused}), not {config.model.name}"
        )
    faces = frames["video"].input_spec.image_size
    if faces != config.data.image_size:
        raise ConfigError(
            f"config key data.image_size: model.video_frame reads {faces} px faces, the run "
            f"feeds {config.data.image_size} px"
        )
    for modality, dilast in frames.items():
        ours = {k: tuple(v.shape) for k, v in getattr(model, modality).state_dict().items()}
        theirs = {k: tuple(v.shape) for k, v in dilast.state_dict().items()
                  if k.startswith(("generator.", "discriminator."))}  # fmt: skip
        if ours != theirs:
            raise ConfigError(
                f"config key model.kwargs: {config.model.name}'s {modality} G and D are shaped "
                f"otherwise than those of model.{modality}_frame; build it with the DiLaST's "
                "generator and discriminator arguments"
            )
    try:
        model.share_frame_parts(frames["video"], frames["audio"])
    except ValueError as error:
        raise ConfigError(f"config keys model.video_frame / model.audio_frame: {error}") from None
    return model


def build_loader(config, stage, federation, space, accelerator, audio) -> Any:
    """A stage's training batches, uint8 (normalised on the device): VA frames from the
    aligned mixer, 3-frame clips for AEG-CD-SZ (the middle frame and the audio of t-1..t+1),
    windows of ``stage.length`` frames for a sequence stage. ``audio``: what the models hear
    (None, ``egemaps`` or ``mel_image``, each frame's audio image)."""
    data = config.data
    transform = build_train_transform(data.image_size, data.augment)
    common = {"rank": accelerator.process_index, "world_size": accelerator.num_processes,
              "seed": config.train.seed, "normalise": False,
              "tolerate_damage": data.tolerate_damage}  # fmt: skip
    # Audio rides in every batch, zero-filled with an audio_mask where a frame has none.
    if stage.kind == "frame" and audio != AUDIO_FEATURES:
        return AlignedMixer(federation, space, {"va": data.batch_size}, transform,
                            datasets=data.datasets, shuffle_buffer=data.shuffle_buffer,
                            audio=audio is not None, **common)  # fmt: skip
    length, batch, datasets = 3, data.batch_size, data.datasets
    if stage.kind == "sequence":
        length, batch = stage.length, data.clip_batch_size
        datasets = data.sequence_datasets or data.datasets
    return ClipLoader(federation, space, length, batch, transform, datasets=datasets, task="va",
                      shuffle_buffer=data.clip_shuffle_buffer, interleave=data.interleave,
                      audio=audio is not None, **common)  # fmt: skip


def frame_inputs(
    batch: dict, statistics: AudioStatistics | None, device: Any, frame: Any = None
) -> tuple:
    """``(images uint8 [B, 3, H, W], va, va_mask, audio, audio_mask)`` of a frame batch; for
    3-frame clips the middle frame, the normalised audio of frames t-1..t+1 (0, the training
    mean, where a frame has none: such clips still train) and the loader's ``audio_mask``
    ``[B, 3]``.

    For a DiLaST on audio (``frame.modality == "audio"``) the images are the frames' audio
    images as G reads them (``frame.modality_images``: 3 channels, silence where a frame has
    none) in 8 bits, as a face, so that the same degradations apply; ``audio_mask`` is the
    loader's ``[B]``, and ``va_mask`` is False where a frame has no audio: it trains nothing."""
    if batch["image"].ndim == 5:  # AEG-CD-SZ: clips of frames t-1, t, t+1
        images, va, mask = batch["image"][:, 1], batch["va"][:, 1], batch["va_mask"][:, 1]
        audio, present = audio_context(batch["egemaps"], batch["audio_mask"], statistics, device)
    elif getattr(frame, "modality", "video") == "audio":  # DiLaST on audio
        present = batch["audio_mask"].bool()
        heard = frame.modality_images(normalise(batch["image"]), batch["mel_image"], present)
        images, va, mask = quantise_images(heard), batch["va"], batch["va_mask"].bool() & present
        audio, present = None, present.to(device)
    else:
        images, va, mask = batch["image"], batch["va"], batch["va_mask"]
        audio = present = None
    return images, va.to(device).float(), mask.to(device).bool(), audio, present


def clip_audio(batch: dict, device: Any) -> dict[str, torch.Tensor]:
    """A clip batch's audio images ``[B, n, s, s]`` and ``audio_mask`` ``[B, n]`` on the
    device, as ``clip_latents`` takes them (``audio=``, ``audio_mask=``)."""
    return {"audio": batch["mel_image"].to(device), "audio_mask": batch["audio_mask"].to(device)}


def start_stage(span: Span, plan: list[Span], frame, sequence, out: Path, config) -> None:
    """A sequence stage's first weights: a named earlier stage's, C's convolutions for the
    first one (train.sequence_init; AVi-CaS / AVi-GaS: each modality's stack from its DiLaST's
    C), or else the previous stage's as they are."""
    from safetensors.torch import load_file

    stage, index = span.stage, plan.index(span)
    first = index == 0 or plan[index - 1].stage.kind == "frame"  # the first sequence stage
    lstm = sequence.sequence
    if stage.start_from is not None:
        saved = load_file(out / STAGES / stage.start_from / "model" / "model.safetensors")
        lstm.load_state_dict({k.removeprefix("sequence."): v.to(next(lstm.parameters()).device)
                              for k, v in saved.items() if k.startswith("sequence.")})  # fmt: skip
    elif first and config.train.sequence_init == "combiner":
        if isinstance(frame, torch.nn.ModuleDict):  # AViGaS: each modality's, from its DiLaST
            for modality, dilast in frame.items():
                lstm.features[modality].load_state_dict(dilast.combiner.features.state_dict())
        else:
            lstm.features.load_state_dict(frame.combiner.features.state_dict())


def stage_model(stage: StageConfig, frame, sequence, statistics, config) -> torch.nn.Module:
    """The model a stage ends with, as it is saved and evaluated."""
    if stage.kind == "sequence":
        sequence.sequence.attention = stage.attention
        sequence.input_spec = replace(sequence.input_spec, clip_length=stage.length)
        kwargs = {**sequence.build_args["kwargs"], "attention": stage.attention,
                  "clip_length": stage.length}  # fmt: skip
        sequence.build_args = {**sequence.build_args, "kwargs": kwargs}
        return sequence
    if statistics is not None:  # AEG-CD-SZ: the saved model takes raw audio features
        return fold_audio_normalisation(frame, statistics)
    return frame


def evaluate(accelerator, model, federation, space, config, stage, statistics):
    """Pooled predictions on every held-out frame (with its audio for a model that takes it, as
    ``holistic evaluate`` feeds the saved model), and what the summary adds (frames without
    audio)."""
    data = config.data
    datasets = data.datasets
    if stage.kind == "sequence":
        datasets = data.sequence_datasets or data.datasets
    pooled = evaluate_pooled(accelerator, model, federation, space, split=data.eval_split,
                             datasets=datasets, batch_size=data.eval_batch_size,
                             tolerate_damage=data.tolerate_damage)  # fmt: skip
    extra = {}
    if model.input_spec.audio:
        extra["eval_frames_without_audio"] = pooled.frames_without_audio
    if statistics is not None:
        extra["audio_statistics"] = statistics.to_json()
    return pooled, extra


def trained_datasets(config: RunConfig) -> list[list[str] | None]:
    """The dataset selections the run trains on: the frame stage's, and the sequence stages'
    when they name others (None: every dataset)."""
    data, kinds = config.data, {stage.kind for stage in config.stages}
    chosen = [data.datasets] if "frame" in kinds else []
    if "sequence" in kinds and (data.sequence_datasets is not None or not chosen):
        chosen.append(data.sequence_datasets or data.datasets)
    return chosen


def set_audio_settings(federation, config, frame, sequence) -> None:
    """Record on the models that read audio images how the run's audio was made (their
    checkpoints keep it; evaluation refuses audio made otherwise). AVi-CaS / AVi-GaS: the audio
    DiLaST must have been trained on audio made alike."""
    chosen = trained_datasets(config)
    datasets = None if None in chosen else sorted({name for names in chosen for name in names})
    made = federation.audio_settings(datasets).to_json()
    if isinstance(frame, torch.nn.ModuleDict):
        trained = frame["audio"].audio_settings
        if trained is not None and trained != made:
            raise ConfigError(
                f"config key model.audio_frame: that DiLaST was trained on audio made with "
                f"{trained}, the run's datasets' audio was made with {made}: convert them alike "
                "(holistic federate ... --audio-setting)"
            )
    else:
        frame.audio_settings = made
    if sequence is not None:
        sequence.audio_settings = made


def check_frame_models(accelerator, out: Path, config: RunConfig, resumed: bool) -> dict:
    """AVi-CaS / AVi-GaS: the paths and SHA-256 of the two DiLaST weight files, written to
    ``stages/frame_models.json`` when the run starts; a resumed run must find them unchanged
    (its LSTM trained on their latents), or it stops naming the one that changed."""
    import hashlib

    found = {}
    for modality in AV_MODALITIES:
        path = getattr(config.model, f"{modality}_frame")
        weights = checkpoint_files(path)[0]
        found[modality] = {"path": str(path),
                           "sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}  # fmt: skip
    record = out / STAGES / "frame_models.json"
    if resumed and record.is_file():
        started = json.loads(record.read_text())
        changed = [m for m in AV_MODALITIES if started.get(m) != found[m]]
        if changed:
            raise ConfigError(
                f"config key(s) {', '.join(f'model.{m}_frame' for m in changed)}: the DiLaST "
                f"weights changed since this run started ({record}); resume with the ones it "
                "started on, or start again (train.resume=false)"
            )
    elif accelerator.is_main_process:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(found, indent=1))
    accelerator.wait_for_everyone()
    return found


def stage_reports(out: Path, plan: list[Span], steps: int) -> dict[str, dict]:
    """The native-scale metrics of the stages that finished before the last one."""
    rows = {}
    for span in plan:
        path = out / STAGES / span.stage.name / "metrics.json"
        if span.end < steps and path.is_file():
            rows[span.stage.name] = json.loads(path.read_text()).get("native_scale", {})
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
