"""Faults injected into training runs: a kill after a checkpoint and a kill during a save must
both resume to the bit-exact result of an uninterrupted run, with dropout on (the DataLoader's
iterator used to draw its base seed from the global torch RNG when a run resumed mid-epoch,
shifting every later dropout mask), and a save that does not complete must leave the previous
checkpoint in place."""

import json
from pathlib import Path

import pytest
import torch
from conftest import ROOT, load_recipe, tiny_shards
from safetensors.torch import load_file

from holistic.models import create_model
from holistic.training.state import PROGRESS, find_checkpoint, load_progress, recover_state

recipe = load_recipe  # the other fault tests import it from here
SOURCES = ["affwild2", "affectnet", "rafdb", "rafdb-compound", "emotionet", "bp4d"]


class Killed(Exception):
    """Stands for a kill: the run stops where it is, without cleaning up."""


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """The tiny world's frame datasets as shards of 48 px faces."""
    out = tmp_path_factory.mktemp("fbn_world")
    return tiny_shards(out, 5, SOURCES, 48)


def fbn_args(shards, out, steps, *extra):
    """FaceBehaviorNet on the tiny world with dropout 0.5 in its head, logging every step."""
    return [
        f"data.federation={shards}", "data.batch_size=24", "data.image_size=48",
        "data.shuffle_buffer=50", "model.name=test_facebehaviornet", "model.dropout=0.5",
        f"train.steps={steps}", "train.lr=0.003", "train.cpu=true", "train.log_every=1",
        "train.checkpoint_every=2", f"train.output_dir={out}", *extra,
    ]  # fmt: skip


def steps_per_epoch(shards) -> int:
    """The aligned mixer's epoch in steps, for the arguments of :func:`fbn_args`."""
    from holistic.data.federation import AlignedMixer, Federation, aligned_batch_sizes
    from holistic.schema import LabelSpace

    federation = Federation(str(shards))
    sizes = aligned_batch_sizes(federation, 24)
    return len(AlignedMixer(federation, LabelSpace(), sizes, transform=None))


def kill_after_checkpoint(monkeypatch, module, step: int) -> None:
    """The recipe dies right after its checkpoint at ``step`` is complete."""
    real = module.save_state

    def save_then_die(accelerator, state_dir, progress):
        real(accelerator, state_dir, progress)
        if progress.step == step:
            raise Killed(f"killed after the checkpoint at step {step}")

    monkeypatch.setattr(module, "save_state", save_then_die)


def assert_same_run(a: Path, b: Path) -> None:
    """Bit-identical final weights and logged loss history (every step)."""
    first = load_file(a / "model" / "model.safetensors")
    second = load_file(b / "model" / "model.safetensors")
    assert first.keys() == second.keys()
    different = [name for name in first if not torch.equal(first[name], second[name])]
    assert not different, different
    assert json.loads((a / "history.json").read_text()) == json.loads(
        (b / "history.json").read_text()
    )


@pytest.fixture(scope="module")
def straight(shards, tmp_path_factory):
    """An uninterrupted 8-step FaceBehaviorNet run."""
    out = tmp_path_factory.mktemp("straight") / "run"
    recipe("facebehaviornet").main(fbn_args(shards, out, 8))
    return out


def test_facebehaviornet_resumes_bit_exactly_with_dropout_after_a_kill(
    shards, straight, tmp_path, monkeypatch
):
    module = recipe("facebehaviornet")
    assert 4 % steps_per_epoch(shards) != 0  # the kill falls mid-epoch
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        kill_after_checkpoint(patch, module, 4)
        with pytest.raises(Killed):
            module.main(fbn_args(shards, out, 8))
    saved = load_progress(out / "state")
    assert saved.step == 4 and [s for s, _ in saved.history["loss/total"]] == [1, 2, 3, 4]
    module.main(fbn_args(shards, out, 8))  # the same command again: resumes at step 4
    assert_same_run(straight, out)
    model = create_model("test_facebehaviornet", dropout=0.5)
    assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.5}
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["steps"] == 8 and summary["train_seconds"] >= round(saved.seconds_before, 1)


def test_a_kill_during_a_save_keeps_the_previous_checkpoint(
    shards, straight, tmp_path, monkeypatch
):
    """The save at step 4 dies with optimizer.bin half written: state/ is still step 2's, and
    the same command resumes from it to the uninterrupted result."""
    from accelerate import Accelerator

    real = Accelerator.save_state
    calls = []

    def save_and_die_halfway(self, output_dir=None, **kwargs):
        calls.append(output_dir)
        location = real(self, output_dir, **kwargs)
        if len(calls) == 2:  # the checkpoint of step 4 (checkpoint_every=2)
            optimizer = Path(output_dir) / "optimizer.bin"
            optimizer.write_bytes(optimizer.read_bytes()[: optimizer.stat().st_size // 2])
            raise Killed("killed while writing the checkpoint of step 4")
        return location

    module = recipe("facebehaviornet")
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(Accelerator, "save_state", save_and_die_halfway)
        with pytest.raises(Killed):
            module.main(fbn_args(shards, out, 8))
    assert load_progress(out / "state").step == 2  # the last complete checkpoint, untouched
    torch.load(out / "state" / "optimizer.bin", weights_only=False)  # and it loads
    assert Path(calls[-1]) == out / "state.tmp-4" and not (out / "state.tmp-4" / PROGRESS).exists()
    module.main(fbn_args(shards, out, 8))
    assert not list(out.glob("state.*"))  # the leftover is gone
    assert_same_run(straight, out)


def _checkpoint(folder: Path, step: int | None) -> Path:
    """A fake checkpoint folder; ``step`` None: one whose save did not complete."""
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights")
    if step is not None:
        (folder / PROGRESS).write_text(json.dumps({"step": step, "seconds": 1.0}))
    return folder


def test_a_kill_between_the_renames_of_a_switch_is_finished_at_start(tmp_path):
    """Killed after state/ became state.old and before state.tmp-6 became state/: the newest
    complete checkpoint becomes state/, every other leftover goes."""
    _checkpoint(tmp_path / "state.old", 4)
    _checkpoint(tmp_path / "state.tmp-6", 6)
    _checkpoint(tmp_path / "state.tmp-8", None)  # a later save that did not complete
    assert find_checkpoint(tmp_path / "state") == tmp_path / "state.tmp-6"  # read-only
    assert (tmp_path / "state.old").is_dir()
    assert recover_state(tmp_path / "state") == tmp_path / "state"
    assert load_progress(tmp_path / "state").step == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]


def test_an_incomplete_state_without_leftovers_is_no_checkpoint(tmp_path):
    _checkpoint(tmp_path / "state", None)
    assert find_checkpoint(tmp_path / "state") is None
    assert recover_state(tmp_path / "state") is None


# --- the sequence recipe ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip_shards(tmp_path_factory):
    """The tiny world's videos as shards of 6 frames of 32 px."""
    out = tmp_path_factory.mktemp("clip_world")
    return tiny_shards(out, 2, ["affwild2", "affectnet"], 32, shard_size=6)


def clip_args(shards, out, steps, *extra):
    """CNN-1RNN (dropout 0.5 after its FC, 0.8 between its GRU layers) with a decaying lr."""
    return [
        "--config", str(ROOT / "recipes/configs/cnn_rnn/synthetic.yaml"),
        f"data.federation={shards}", "data.datasets=[affwild2]", "data.clip_length=4",
        "data.batch_size=3", "data.image_size=32", "data.num_workers=0", "data.shuffle_buffer=8",
        "model.name=test_cnn1rnn", f"train.steps={steps}", "train.lr=0.003",
        "train.lr_decay=0.5", "train.decay_steps=2", "train.log_every=1",
        "train.checkpoint_every=3", f"train.output_dir={out}", *extra,
    ]  # fmt: skip


def test_cnn_rnn_resumes_bit_exactly_with_dropout_after_a_kill(clip_shards, tmp_path, monkeypatch):
    from holistic.data.clips import ClipLoader
    from holistic.data.federation import Federation
    from holistic.models import label_space_of

    model = create_model("test_cnn1rnn")
    assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.5}
    assert model.rnns[0].dropout == 0.8
    clips = ClipLoader(Federation(str(clip_shards)), label_space_of(model), 4, 3, None,
                       datasets=["affwild2"], task=list(model.tasks))  # fmt: skip
    assert 3 % len(clips) != 0  # the kill falls mid-epoch
    module = recipe("cnn_rnn")
    module.main(clip_args(clip_shards, tmp_path / "straight", 5))
    with monkeypatch.context() as patch:
        kill_after_checkpoint(patch, module, 3)
        with pytest.raises(Killed):
            module.main(clip_args(clip_shards, tmp_path / "resumed", 5))
    module.main(clip_args(clip_shards, tmp_path / "resumed", 5))
    assert_same_run(tmp_path / "straight", tmp_path / "resumed")
