"""save_state at a step already saved (the loop's last checkpoint, or a rerun that trains
nothing) writes nothing, and the run's training time becomes the one that checkpoint holds, so
the report and the checkpoint agree."""

import json

from accelerate import Accelerator

from holistic.training.runs import STATE
from holistic.training.state import PROGRESS, Progress, save_state


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_report_s_training_time_is_the_last_checkpoint_s(tmp_path):
    accelerator = Accelerator(cpu=True)
    state = tmp_path / STATE
    progress = Progress(step=4, history={"loss/total": [(4, 1.0)]})
    save_state(accelerator, state, progress)  # the loop's checkpoint at step 4
    held = json.loads((state / PROGRESS).read_text())["seconds"]
    files = _files(state)
    progress.seconds_before += 0.5  # the rest of that save and the loop's end took time
    assert progress.clock_running
    progress.stop_clock()
    assert not progress.clock_running
    assert progress.train_seconds() > held + 0.4
    save_state(accelerator, state, progress)  # after the loop: the same step
    assert _files(state) == files  # nothing written
    assert progress.train_seconds() == held  # what the summary reports
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE]


def test_a_running_clock_is_left_alone(tmp_path):
    accelerator = Accelerator(cpu=True)
    state = tmp_path / STATE
    progress = Progress(step=4)
    save_state(accelerator, state, progress)
    progress.seconds_before += 0.5  # the clock still runs: no adoption
    save_state(accelerator, state, progress)
    assert progress.train_seconds() >= 0.5
