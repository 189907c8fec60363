"""Faults injected into restarts of a training run: rerunning a finished run, training it
further, a kill during evaluation, a changed config on resume, and starting afresh in a used
folder. History and training time must survive resume, a finished run must stay as it is, and a
config change resume cannot honour must stop the run before anything is written."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file
from test_training_resume import fbn_args, recipe, shards  # noqa: F401 (shards: a fixture)

from holistic.training.config import ConfigError
from holistic.training.state import load_progress

STEPS = 4


@pytest.fixture(scope="module")
def finished(shards, tmp_path_factory):  # noqa: F811
    """A finished 4-step FaceBehaviorNet run (checkpoints at 2 and 4, logs every step)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    recipe("facebehaviornet").main(fbn_args(shards, out, STEPS))
    return out


@pytest.fixture
def run(finished, tmp_path):
    """A copy of the finished run to restart (its config.yaml names the original folder:
    train.output_dir is a change resume applies)."""
    return shutil.copytree(finished, tmp_path / "run")


def _files(folder):
    """Every file of a folder with its bytes and modification time."""
    return {
        path.relative_to(folder): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _steps(folder, name="loss/total"):
    return [step for step, _ in json.loads((folder / "history.json").read_text())[name]]


def test_rerunning_a_finished_run_leaves_it_as_it_is(shards, run, capsys):  # noqa: F811
    before = _files(run)
    metrics = recipe("facebehaviornet").main(fbn_args(shards, run, STEPS))
    assert metrics == json.loads((run / "metrics.json").read_text())["metrics"]
    assert _files(run) == before  # metrics, report, model, history, state, logs: untouched
    said = capsys.readouterr().out
    assert "is finished" in said and str(run / "report.md") in said
    assert "train.steps=8" in said and "train.resume=false" in said


def test_training_further_keeps_the_history_and_the_training_time(shards, run):  # noqa: F811
    earlier = json.loads((run / "state" / "progress.json").read_text())["seconds"]
    recipe("facebehaviornet").main(fbn_args(shards, run, STEPS + 2))
    assert _steps(run) == [1, 2, 3, 4, 5, 6]  # the first segment's steps are still there
    summary = json.loads((run / "metrics.json").read_text())
    # The seconds add up over the segments (unrounded: two tiny steps may take under 0.05 s).
    seconds = json.loads((run / "state" / "progress.json").read_text())["seconds"]
    assert summary["steps"] == 6 and seconds > earlier
    assert summary["train_seconds"] == round(seconds, 1)
    assert load_progress(run / "state").history == {
        name: [tuple(row) for row in rows]
        for name, rows in json.loads((run / "history.json").read_text()).items()
    }


def test_a_run_killed_during_evaluation_evaluates_without_training(shards, run):  # noqa: F811
    (run / "metrics.json").unlink()
    (run / "report.md").unlink()
    weights = load_file(run / "model" / "model.safetensors")
    saved = load_progress(run / "state")
    recipe("facebehaviornet").main(fbn_args(shards, run, STEPS))
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["steps"] == STEPS and (run / "report.md").is_file()
    assert summary["train_seconds"] == pytest.approx(saved.seconds_before, abs=0.2)  # no training
    again = load_file(run / "model" / "model.safetensors")
    assert again.keys() == weights.keys()
    assert all(torch.equal(again[name], weights[name]) for name in weights)
    assert _steps(run) == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("change", "listed"),
    [
        (["train.lr=0.001"], "train.lr: 0.003 -> 0.001"),
        (["model.hidden=[16]"], "model.hidden: None -> [16]"),  # else: a size mismatch
        (["model.aus=[1,2,4]", "loss.weights.dm=0.2"], "model.aus: 'fbn17' -> [1, 2, 4]"),
        # Another optimiser would take over AdamW's moments; another VA output, its weights.
        (["train.optimizer=adam"], "train.optimizer: 'adamw' -> 'adam'"),
        (["model.va_output=linear"], "model.va_output: 'tanh' -> 'linear'"),
    ],
)
def test_a_changed_config_is_refused_before_anything_is_written(
    shards,  # noqa: F811
    run,
    change,
    listed,
):
    before = _files(run)
    with pytest.raises(ConfigError) as refused:
        recipe("facebehaviornet").main(fbn_args(shards, run, STEPS + 2, *change))
    message = str(refused.value)
    assert listed in message and "checkpoint at step 4" in message
    assert "train.resume=false" in message and "train.output_dir" in message
    assert f"train.accept_changes=[{','.join(sorted(c.split('=')[0] for c in change))}]" in message
    assert _files(run) == before  # config.yaml still says what was trained


def test_a_run_from_before_the_optimizer_option_resumes_with_adamw(shards, run):  # noqa: F811
    """Its config.yaml has no train.optimizer or model.va_output: they load as the defaults it
    trained with (AdamW, tanh), so resuming it is no change."""
    for saved in (run / "config.yaml", run / "state" / "config.yaml"):
        text = saved.read_text()
        assert "  optimizer: adamw\n" in text and "  va_output: tanh\n" in text
        saved.write_text(
            text.replace("  optimizer: adamw\n", "").replace("  va_output: tanh\n", "")
        )
    recipe("facebehaviornet").main(fbn_args(shards, run, STEPS + 1))
    assert _steps(run) == [1, 2, 3, 4, 5]
    assert "  optimizer: adamw\n" in (run / "config.yaml").read_text()


def test_training_fewer_steps_than_trained_is_refused(shards, run):  # noqa: F811
    with pytest.raises(ConfigError, match="already trained 4 steps"):
        recipe("facebehaviornet").main(fbn_args(shards, run, 2))


def test_an_accepted_change_applies_from_the_checkpoint_on(shards, run):  # noqa: F811
    args = fbn_args(shards, run, STEPS + 1, "train.lr=0.001", "train.accept_changes=[train.lr]")
    recipe("facebehaviornet").main(args)
    optimizer = torch.load(run / "state" / "optimizer.bin", weights_only=False)
    assert [group["lr"] for group in optimizer["param_groups"]] == [0.001]  # not the saved 0.003
    assert "lr: 0.001" in (run / "config.yaml").read_text()
    with pytest.raises(ConfigError, match=r"\['train.lrr'\] name no config key"):
        recipe("facebehaviornet").main(fbn_args(shards, run, 9, "train.accept_changes=[train.lrr]"))


def test_resume_false_starts_afresh_without_the_old_state_or_history(shards, run):  # noqa: F811
    (run / "state.tmp-6").mkdir()  # a leftover of an interrupted save
    recipe("facebehaviornet").main(fbn_args(shards, run, 2, "train.resume=false"))
    assert _steps(run) == [1, 2]
    assert load_progress(run / "state").step == 2
    assert json.loads((run / "metrics.json").read_text())["steps"] == 2
    assert not (run / "state.tmp-6").exists()


def test_a_forced_change_of_architecture_fails_to_load_and_the_run_stays_resumable(
    shards,  # noqa: F811
    run,
):
    """The checkpoint keeps the config it was trained with: a failed forced resume (whose
    config.yaml says the new model) does not stop the original command from resuming."""
    forced = ["model.hidden=[16]", "train.accept_changes=[model.hidden]"]
    with pytest.raises(RuntimeError, match=r"(?s)cannot resume from .* no longer match"):
        recipe("facebehaviornet").main(fbn_args(shards, run, STEPS + 1, *forced))
    recipe("facebehaviornet").main(fbn_args(shards, run, STEPS + 1))
    assert _steps(run) == [1, 2, 3, 4, 5]
    assert "hidden: null" in (run / "config.yaml").read_text()
