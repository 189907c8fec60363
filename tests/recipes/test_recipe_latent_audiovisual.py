"""recipes/latent_adversarial.py on audio-visual data (TAFFC 2022) in the tiny synthetic world, its
Aff-Wild2 videos converted with 32 px audio images: DiLaST on audio trains on the heard frames
with the paper's λs, then DiLaST-SA on audio; AVi-GaS trains its sequence part on two DiLaST
runs' frozen G and D by the curriculum, resumes bit-exactly inside and across stages and refuses
changed DiLaST weights; AVi-CaS trains on two CPU processes; the saved models reload alone with
their audio settings and `holistic evaluate` scores them again, counting frames without audio;
datasets without audio, or without audio images, are refused at start, naming them."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, free_port, load_recipe, tiny_shards
from safetensors.torch import load_file, save_file

from holistic.data.audio import AudioSettings
from holistic.data.federation import Federation
from holistic.data.transforms import normalise
from holistic.evaluation.run import evaluate_model
from holistic.models import create_model, label_space_of, load_model
from holistic.training.config import ConfigError, load_config
from holistic.training.state import load_progress

CONFIGS = ROOT / "recipes" / "configs" / "latent_adversarial"
SIZE = 32  # faces and audio images


class Killed(Exception):
    """Stands for a kill: the run stops where it is."""


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny models run fastest on one intra-op thread (as the two-process launch does with
    OMP_NUM_THREADS=1); more threads only wait for each other on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def recipe():
    return load_recipe("latent_adversarial")


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    # Aff-Wild2 videos with audio and its 32 px images (train + validation), AFEW-VA clips
    # without audio (train only); shards of 6 frames, so two processes each get their own.
    out = tmp_path_factory.mktemp("av")
    return tiny_shards(out, 2, ["affwild2", "afewva"], SIZE, shard_size=6,
                       audio_settings=AudioSettings(mel_image_size=SIZE))  # fmt: skip


def _args(shards, out, config, *extra):
    return [
        "--config", str(CONFIGS / config), f"data.federation={shards}",
        "data.datasets=[affwild2]", "data.batch_size=6", "data.clip_batch_size=2",
        f"data.image_size={SIZE}", "data.num_workers=0", "data.shuffle_buffer=20",
        "data.clip_shuffle_buffer=8", "train.log_every=1", "train.checkpoint_every=2",
        f"train.output_dir={out}", *extra,
    ]  # fmt: skip


def _manifest(shards):
    return json.loads((shards / "manifest.json").read_text())


def _frames(shards, dataset="affwild2", split="validation"):
    return _manifest(shards)["datasets"][dataset]["splits"][split]["samples"]


def _same_weights(a, b):
    a, b = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


AUDIO = [
    "model.name=test_dilast", "model.sequence=test_dilast_sa",
    f"model.kwargs={{modality: audio, audio_image_size: {SIZE}}}", "train.n_critic=2",
    "stages=[{name: frame, steps: 4}, {name: SA-2, kind: sequence, length: 2, steps: 2,"
    " attention: true}]",
]  # fmt: skip
VIDEO = ["model.name=test_dilast", "train.n_critic=2", "stages=[{name: frame, steps: 2}]"]


def _fused(fusion, video, audio):
    return [
        f"model.name=test_{fusion}", f"model.video_frame={video}",
        f"model.audio_frame={audio}",
        "stages=[{name: SA-2, kind: sequence, length: 2, steps: 3, attention: true},"
        " {name: SA-4, kind: sequence, length: 4, steps: 2, attention: true}]",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def audio_run(recipe, shards, tmp_path_factory):
    """DiLaST on audio (frame stage), then DiLaST-SA on audio (SA-2): ``(out, metrics)``."""
    out = tmp_path_factory.mktemp("dilast") / "audio"
    return out, recipe.main(_args(shards, out, "dilast_audio.yaml", *AUDIO))


@pytest.fixture(scope="module")
def video_run(recipe, shards, tmp_path_factory):
    """DiLaST on faces, a frame stage only: its model/ is AVi-GaS's face model."""
    out = tmp_path_factory.mktemp("dilast") / "video"
    recipe.main(_args(shards, out, "dilast_video.yaml", *VIDEO))
    return out


@pytest.fixture(scope="module")
def gas_run(recipe, shards, video_run, audio_run, tmp_path_factory):
    """AVi-GaS on the two DiLaST runs, SA-2 then SA-4: ``(out, metrics, started)`` with the
    sequence part's weights as each stage started."""
    out, started = tmp_path_factory.mktemp("avigas") / "straight", {}
    real = recipe.start_stage

    def record(span, plan, frame, sequence, out, config):
        real(span, plan, frame, sequence, out, config)
        started[span.stage.name] = {k: v.clone() for k, v in sequence.sequence.state_dict().items()}

    fused = _fused("avigas", video_run / "model", audio_run[0] / "stages" / "frame" / "model")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recipe, "start_stage", record)
        metrics = recipe.main(_args(shards, out, "avigas.yaml", *fused))
    return out, metrics, started


# --- DiLaST on audio, DiLaST-SA on audio -----------------------------------------------------


def test_audio_dilast_trains_with_the_papers_weights_and_reloads_alone(
    recipe, audio_run, shards, tmp_path
):
    from holistic.cli import main as cli

    out, metrics = audio_run
    history = json.loads((out / "history.json").read_text())
    assert [v for _, v in history["loss/audio_present"]] == [1.0] * 6  # every frame was heard
    config = load_config(recipe.RunConfig, out / "config.yaml")  # the paper's λs (Eq. 13)
    assert (config.loss.adv_d, config.loss.adv_g, config.loss.afc_c) == (0.25, 0.25, 0.5)
    assert [s for s, _ in history["loss/adv_g"]] == [2, 4]  # n_critic 2
    assert [s for s, _ in history["loss/afc_s/total"]] == [5, 6]
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["stage"] == "SA-2" and summary["eval_frames_without_audio"] == 0
    assert metrics["affwild2"]["va"]["n"] == _frames(shards)
    # The frame stage's model is the audio DiLaST, with how its audio images were made.
    made = _manifest(shards)["datasets"]["affwild2"]["settings"]["audio_features"]
    frame = load_model(out / "stages" / "frame" / "model")
    assert frame.modality == "audio" and not frame.input_spec.is_clip
    assert frame.input_spec.audio["mel_image"] == {"size": SIZE, "settings": made}
    sa = load_model(out / "model")  # DiLaST-SA on audio, with the frozen G and D
    assert sa.modality == "audio" and sa.sequence.attention and sa.input_spec.clip_length == 2
    assert sa.audio_settings == made
    weights = load_file(out / "model" / "model.safetensors")
    frame_weights = load_file(out / "stages" / "frame" / "model" / "model.safetensors")
    shared = [k for k in frame_weights if k.startswith(("generator.", "discriminator."))]
    assert shared and all(torch.equal(weights[k], frame_weights[k]) for k in shared)
    # holistic evaluate feeds the saved audio DiLaST each frame's audio image: the recipe's
    # evaluation of that stage again. It predicts from the audio, not from the faces.
    assert cli(["evaluate", str(out / "stages" / "frame" / "model"), str(shards), "--dataset",
                "affwild2", "--out", str(tmp_path / "eval")]) == 0  # fmt: skip
    again = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    recipe_eval = json.loads((out / "stages" / "frame" / "metrics.json").read_text())
    assert again["eval_frames_without_audio"] == recipe_eval["eval_frames_without_audio"] == 0
    assert again["metrics"]["affwild2"]["va"]["n"] == _frames(shards)
    assert again["metrics"]["affwild2"]["va"]["ccc_mean"] == pytest.approx(
        recipe_eval["metrics"]["affwild2"]["va"]["ccc_mean"], abs=1e-5
    )
    audio = torch.rand(2, SIZE, SIZE) * 2 - 1
    with torch.no_grad():
        a = frame(torch.rand(2, 3, SIZE, SIZE), audio, torch.tensor([True, True]))["va"]
        b = frame(torch.zeros(2, 3, SIZE, SIZE), audio, torch.tensor([True, True]))["va"]
        silent = frame(torch.zeros(2, 3, SIZE, SIZE))["va"]
    assert torch.equal(a, b) and not torch.equal(a, silent)


def test_audio_dilast_resumes_exactly_from_a_kill_in_its_frame_stage(
    recipe, shards, audio_run, tmp_path, monkeypatch
):
    out = tmp_path / "resumed"
    real = recipe.save_state

    def save_then_die(accelerator, state_dir, progress):
        real(accelerator, state_dir, progress)
        if progress.step == 2:  # the frame stage runs steps 1..4
            raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(recipe, "save_state", save_then_die)
        with pytest.raises(Killed):
            recipe.main(_args(shards, out, "dilast_audio.yaml", *AUDIO))
    assert load_progress(out / "state").step == 2
    recipe.main(_args(shards, out, "dilast_audio.yaml", *AUDIO))  # resumes at 2, through SA-2
    straight, _ = audio_run
    assert _same_weights(straight / "model", out / "model")
    assert _same_weights(
        straight / "stages" / "frame" / "model", out / "stages" / "frame" / "model"
    )
    assert json.loads((straight / "history.json").read_text()) == json.loads(
        (out / "history.json").read_text()
    )


def test_a_batch_without_audio_trains_nothing_and_gives_finite_losses(recipe):
    torch.manual_seed(0)
    frame = create_model("test_dilast", modality="audio", audio_image_size=SIZE)
    loss = recipe.LossConfig(adv_d=0.25, adv_g=0.25, afc_c=0.5)
    heard = torch.tensor([True, False, True, False])
    # The aligned mixer's batch: frames 1 and 3 have no audio, zeros there and audio_mask False;
    # their faces and labels are anything (they must count in no term).
    batch = {"image": torch.randint(0, 256, (4, 3, SIZE, SIZE), dtype=torch.uint8),
             "va": torch.rand(4, 2) * 2 - 1, "va_mask": torch.ones(4, dtype=torch.bool),
             "mel_image": (torch.rand(4, SIZE, SIZE) * 2 - 1).half() * heard[:, None, None],
             "audio_mask": heard}  # fmt: skip

    def terms(batch):
        images, va, va_mask, _, present = recipe.frame_inputs(batch, None, "cpu", frame)
        x = normalise(images)
        labels = recipe.Labels(va, va_mask, None)
        d, _ = recipe.critic_terms(frame.discriminator, frame.generator, "anclaf", x, x, None,
                                   labels, loss, present)  # fmt: skip
        g, fakes = recipe.generator_terms(frame.generator, frame.discriminator, x, x, None,
                                          labels, loss, present)  # fmt: skip
        c = recipe.combiner_terms(frame.combiner, fakes.z, fakes.out, frame, labels, loss)
        return {**d, **g, **c}, images, va_mask

    mixed, images, va_mask = terms(batch)
    assert va_mask.tolist() == heard.tolist()
    # A heard frame is its audio image in 8 bits, 3 channels; an unheard one is silence (0).
    assert not images[~heard].any() and (images[0, 0] == images[0, 2]).all()
    only = {k: v[heard] for k, v in batch.items()}  # the batch of the heard frames alone
    alone, _, _ = terms(only)
    for name in ("adv_d", "adv_g", "rec", "quadrant", "afc_c/total"):
        assert mixed[name].item() == pytest.approx(alone[name].item(), rel=1e-5, abs=1e-6), name
    # No frame heard: every term is a finite zero that still back-propagates.
    silent, _, _ = terms({**batch, "audio_mask": torch.zeros(4, dtype=torch.bool)})
    assert all(torch.isfinite(v) for v in silent.values())
    for name in ("adv_d", "gp", "adv_g", "rec", "quadrant", "afc_c/total"):
        assert silent[name].item() == 0.0, name
    frame.zero_grad()
    (silent["total_d"] + silent["total_g"] + silent["afc_c/total"]).backward()
    grads = [p.grad for p in frame.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() and not g.any() for g in grads)


def test_frames_without_audio_count_in_no_term_of_either_stage(recipe, shards, tmp_path,
                                                               monkeypatch):  # fmt: skip
    """The loop hands the mask on: with the first frame of every batch (and of every window)
    unheard, no adversarial or affect term of the frame stage, and no L_afc of DiLaST-SA,
    counts it."""
    real_inputs, real_audio = recipe.frame_inputs, recipe.clip_audio
    real_adv, real_afc = recipe.discriminator_adv_loss, recipe.affect_loss

    def deafen(batch):
        mask = batch["audio_mask"].clone()
        mask[..., 0] = False
        return {
            **batch,
            "audio_mask": mask,
            "mel_image": batch["mel_image"] * mask[..., None, None],
        }

    masks = []

    def adv(real, fake, kind, mask=None):
        masks.append(("adv_d", mask.clone()))
        return real_adv(real, fake, kind, mask)

    def afc(pred, target, mask, *args, prefix="", **kwargs):
        masks.append((prefix, mask.clone()))
        return real_afc(pred, target, mask, *args, prefix=prefix, **kwargs)

    monkeypatch.setattr(recipe, "frame_inputs", lambda batch, *a: real_inputs(deafen(batch), *a))
    monkeypatch.setattr(
        recipe, "clip_audio", lambda batch, device: real_audio(deafen(batch), device)
    )
    monkeypatch.setattr(recipe, "discriminator_adv_loss", adv)
    monkeypatch.setattr(recipe, "affect_loss", afc)
    stages = ("stages=[{name: frame, steps: 2}, {name: SA-2, kind: sequence, length: 2, steps: 1,"
              " attention: true}]")  # fmt: skip
    recipe.main(_args(shards, tmp_path / "run", "dilast_audio.yaml", *AUDIO[:-1], stages,
                      "train.eval_stages=false"))  # fmt: skip
    seen = {prefix for prefix, _ in masks}
    assert seen == {"adv_d", "afc_c/", "afc_s/"}  # (D has a quadrant head, no VA head)
    for prefix, mask in masks:
        unheard = mask[::2] if prefix == "afc_s/" else mask[:1]  # windows of 2, flattened
        assert not unheard.any(), prefix
        assert mask.any(), prefix  # the heard frames count
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert all(v < 1 for _, v in history["loss/audio_present"])


def test_the_papers_weights_scale_each_updates_term(recipe):
    """λ_D on D's adversarial term, λ_G on G's, λ_P (× λ_afc) on P's L_afc: with every other
    term off, each update's total is its weighted term."""
    torch.manual_seed(0)
    frame = create_model("test_dilast", image_size=SIZE)
    loss = recipe.LossConfig(adv_d=0.25, adv_g=0.75, afc_c=0.5, afc=3.0, gp=0, rec=0, quadrant=0)
    x = torch.rand(4, 3, SIZE, SIZE) * 2 - 1
    labels = recipe.Labels(torch.rand(4, 2) * 2 - 1, torch.ones(4, dtype=torch.bool), None)
    d, _ = recipe.critic_terms(frame.discriminator, frame.generator, "anclaf", x, x, None, labels,
                               loss)  # fmt: skip
    g, fakes = recipe.generator_terms(frame.generator, frame.discriminator, x, x, None, labels,
                                      loss)  # fmt: skip
    c = recipe.combiner_terms(frame.combiner, fakes.z, fakes.out, frame, labels, loss)
    assert d["total_d"].item() == pytest.approx(0.25 * d["adv_d"].item(), rel=1e-6)
    assert g["total_g"].item() == pytest.approx(0.75 * g["adv_g"].item(), rel=1e-6)
    assert c["total_c"].item() == pytest.approx(1.5 * c["afc_c/total"].item(), rel=1e-6)
    assert d["adv_d"].item() != 0 and g["adv_g"].item() != 0  # the weights had something to weigh


# --- AVi-GaS and AVi-CaS on two DiLaST runs --------------------------------------------------


def test_avigas_trains_its_sequence_part_on_frozen_dilast_and_reloads_alone(
    gas_run, video_run, audio_run, shards, tmp_path
):
    from holistic.cli import main as cli

    out, metrics, started = gas_run
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["steps"] == 5 and summary["stage"] == "SA-4"
    assert summary["eval_frames_without_audio"] == 0
    assert metrics["affwild2"]["va"]["n"] == _frames(shards)  # every frame of every video
    history = json.loads((out / "history.json").read_text())
    assert [s for s, _ in history["loss/afc_s/total"]] == [1, 2, 3, 4, 5]
    assert "loss/adv_d" not in history  # no adversarial step: the DiLaST are trained
    frames = {"video": video_run / "model", "audio": audio_run[0] / "stages" / "frame" / "model"}
    assert {m: r["path"] for m, r in summary["frame_models"].items()} == {
        m: str(p) for m, p in frames.items()
    }
    # The saved model holds both DiLaST's G and D as they were; its stacks started from their P.
    weights = load_file(out / "model" / "model.safetensors")
    for modality, path in frames.items():
        dilast = load_file(path / "model.safetensors")
        parts = [k for k in dilast if k.startswith(("generator.", "discriminator."))]
        assert parts and all(torch.equal(weights[f"{modality}.{k}"], dilast[k]) for k in parts)
        convs = {k.removeprefix("combiner.features."): v for k, v in dilast.items()
                 if k.startswith("combiner.features.")}  # fmt: skip
        first = {k.removeprefix(f"features.{modality}."): v for k, v in started["SA-2"].items()
                 if k.startswith(f"features.{modality}.")}  # fmt: skip
        assert convs.keys() == first.keys() and all(torch.equal(convs[k], first[k]) for k in convs)
    saved_sa2 = load_file(out / "stages" / "SA-2" / "model" / "model.safetensors")
    assert all(torch.equal(saved_sa2[f"sequence.{k}"], v) for k, v in started["SA-4"].items())
    # The checkpoint alone: AVi-GaS with its audio settings; holistic evaluate scores it again.
    model = load_model(out / "model")
    assert model.fusion == "gate" and model.input_spec.clip_length == 4
    made = _manifest(shards)["datasets"]["affwild2"]["settings"]["audio_features"]
    assert model.audio_settings == made and model.input_spec.audio["mel_image"]["size"] == SIZE
    assert cli(["evaluate", str(out / "model"), str(shards), "--dataset", "affwild2",
                "--out", str(tmp_path / "eval")]) == 0  # fmt: skip
    again = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert again["eval_frames_without_audio"] == 0
    assert again["metrics"]["affwild2"]["va"]["ccc_mean"] == pytest.approx(
        metrics["affwild2"]["va"]["ccc_mean"], abs=1e-5
    )


def test_evaluation_counts_frames_without_audio_and_refuses_other_audio(gas_run, audio_run, shards):
    """AFEW-VA has no audio: the audio DiLaST and AVi-GaS see zeros and a False mask on every
    frame (the shape of their audio images from their input spec) and count them."""
    federation = Federation(str(shards))
    frames = _frames(shards, "afewva", "train")
    for path in (audio_run[0] / "stages" / "frame" / "model", gas_run[0] / "model"):
        model = load_model(path)
        predictions = evaluate_model(model, federation, label_space_of(model), split="train",
                                     datasets=["afewva"])  # fmt: skip
        assert predictions.frames_without_audio == len(predictions) == frames, path
        manifest = _manifest(shards)  # audio made otherwise is refused, naming both
        manifest["datasets"]["affwild2"]["settings"]["audio_features"]["mel_image_size"] = 16
        with pytest.raises(ValueError, match="trained on audio features made with"):
            evaluate_model(model, Federation(str(shards), manifest), label_space_of(model),
                           datasets=["affwild2"])  # fmt: skip


def test_avigas_resumes_exactly_inside_and_across_stages_and_refuses_changed_dilast(
    recipe, shards, gas_run, video_run, audio_run, tmp_path, monkeypatch
):
    audio = tmp_path / "audio_frame"  # a copy, so that the test can change it
    shutil.copytree(audio_run[0] / "stages" / "frame" / "model", audio)
    args = _args(shards, tmp_path / "resumed", "avigas.yaml",
                 *_fused("avigas", video_run / "model", audio))  # fmt: skip
    real = recipe.save_state

    def run_until(step):
        def save_then_die(accelerator, state_dir, progress):
            real(accelerator, state_dir, progress)
            if progress.step == step:
                raise Killed

        with monkeypatch.context() as patch:
            patch.setattr(recipe, "save_state", save_then_die)
            with pytest.raises(Killed):
                recipe.main(args)

    run_until(2)  # inside SA-2 (steps 1..3)
    # The DiLaST weights changed under the run: its LSTM trained on the old latents.
    weights = audio / "model.safetensors"
    original = weights.read_bytes()
    changed = {k: v + 1 if k.startswith("generator.") else v for k, v in load_file(weights).items()}
    save_file(changed, str(weights))
    with pytest.raises(ConfigError, match=r"model.audio_frame: the DiLaST weights changed"):
        recipe.main(args)
    weights.write_bytes(original)
    run_until(4)  # from 2, across the stage boundary (3), into SA-4 (steps 4..5)
    recipe.main(args)  # from 4, inside SA-4
    straight = gas_run[0]
    resumed = tmp_path / "resumed"
    assert _same_weights(straight / "model", resumed / "model")
    assert _same_weights(
        straight / "stages" / "SA-2" / "model", resumed / "stages" / "SA-2" / "model"
    )
    assert json.loads((straight / "history.json").read_text()) == json.loads(
        (resumed / "history.json").read_text()
    )


def _launch_two(args):
    """``latent_adversarial.py args`` under accelerate launch with 2 CPU processes (gloo)."""
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()), str(ROOT / "recipes" / "latent_adversarial.py"),
        *args, "train.cpu=true",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_audio_dilast_on_two_cpu_processes(shards, tmp_path):
    """The audio DiLaST's frame stage (D, G and P under DDP, frames without audio counted in no
    term) and its SA-2 stage, each rank on its own shards, pooled evaluation of both stages."""
    out = tmp_path / "ddp"
    _launch_two(_args(shards, out, "dilast_audio.yaml", *AUDIO))
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["stage"] == "SA-2" and summary["eval_frames_without_audio"] == 0
    assert summary["metrics"]["affwild2"]["va"]["n"] == _frames(shards)
    frame = json.loads((out / "stages" / "frame" / "metrics.json").read_text())
    assert frame["metrics"]["affwild2"]["va"]["n"] == _frames(shards)
    history = json.loads((out / "history.json").read_text())
    assert [s for s, _ in history["loss/adv_g"]] == [2, 4]  # n_critic 2, as on one process
    assert all(np.isfinite(v) for rows in history.values() for _, v in rows)
    assert load_model(out / "stages" / "frame" / "model").modality == "audio"


def test_avicas_on_two_cpu_processes(shards, video_run, audio_run, tmp_path):
    """accelerate launch with 2 CPU processes (gloo): AVi-CaS's sequence part under DDP through
    two curriculum stages, pooled evaluation."""
    out = tmp_path / "ddp"
    fused = _fused("avicas", video_run / "model", audio_run[0] / "stages" / "frame" / "model")
    _launch_two(_args(shards, out, "avicas.yaml", "train.eval_stages=false", *fused))
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["stage"] == "SA-4" and summary["eval_frames_without_audio"] == 0
    assert summary["metrics"]["affwild2"]["va"]["n"] == _frames(shards)
    model = load_model(out / "model")
    assert model.fusion == "concat"
    history = json.loads((out / "history.json").read_text())
    assert all(np.isfinite(v) for rows in history.values() for _, v in rows)


# --- refused at start ------------------------------------------------------------------------


def test_datasets_without_audio_or_audio_images_are_refused_at_start(
    recipe, shards, video_run, audio_run, tmp_path_factory, tmp_path
):
    with pytest.raises(ConfigError, match=r"takes audio \(mel_image\).*\['afewva'\] has no audio"):
        recipe.main(_args(shards, tmp_path / "a", "dilast_audio.yaml", *AUDIO,
                          "data.datasets=[affwild2,afewva]"))  # fmt: skip
    # A federation whose audio stores no audio images: rebuild it with them.
    plain = tiny_shards(tmp_path_factory.mktemp("plain"), 2, ["affwild2"], SIZE, shard_size=6)
    fused = _fused("avigas", video_run / "model", audio_run[0] / "stages" / "frame" / "model")
    for config, extra in (("dilast_audio.yaml", AUDIO), ("avigas.yaml", fused)):
        with pytest.raises(ConfigError, match=r"\['affwild2'\] stores other ones or none "
                           r"\(affwild2: none\).*--audio-setting mel_image_size=32"):  # fmt: skip
            recipe.main(_args(plain, tmp_path / "b", config, *extra))
    # Evaluation refuses it too: the model was trained on audio made otherwise.
    model = load_model(audio_run[0] / "stages" / "frame" / "model")
    with pytest.raises(ValueError, match="trained on audio features made with"):
        evaluate_model(model, Federation(str(plain)), label_space_of(model))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # nothing written


def test_fused_runs_take_two_matching_dilast_frame_models(recipe, shards, video_run, audio_run,
                                                          tmp_path):  # fmt: skip
    video, audio = video_run / "model", audio_run[0] / "stages" / "frame" / "model"
    cases = [
        (_fused("avigas", video, video), r"model.audio_frame: .* holds test_dilast, not a "
         r"DiLaST frame model on audio images"),
        (_fused("avigas", video, audio_run[0] / "model"), r"model.audio_frame: .* holds "
         "test_dilast_sa"),
        ([*_fused("avigas", video, audio), "model.kwargs={generator_width: 4}"],
         r"model.kwargs: test_avigas's video G and D are shaped otherwise"),
        ([*_fused("avigas", video, audio), "model.kwargs={audio_image_size: 16}"],
         r"reads 32 px audio images, this model 16 px"),
        ([*_fused("avigas", video, audio), "stages=[{name: frame, steps: 1}]"],
         "an AVi-CaS / AVi-GaS run has no frame stage"),
        ([*_fused("avigas", video, audio), "model.name=test_dilast"],
         r"model.name / model.kwargs: .*clip_length.* \(avicas_128, avigas_128"),
    ]  # fmt: skip
    for extra, message in cases:
        with pytest.raises(ConfigError, match=message):
            recipe.main(_args(shards, tmp_path / "x", "avigas.yaml", *extra))
    with pytest.raises(ConfigError, match="trains on two finished DiLaST runs"):
        recipe.main(_args(shards, tmp_path / "x", "dilast_video.yaml", "model.name=test_avigas",
                          "stages=[{name: frame, steps: 1}]"))  # fmt: skip
    assert not (tmp_path / "x").exists()
