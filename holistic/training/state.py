"""Checkpoints, exact resume and logging helpers that every recipe's loop uses.

A checkpoint is the folder ``state/`` of a run's output folder, holding:

- accelerate's ``save_state`` files: the model, the optimiser's state and the RNG states of
  Python, NumPy and torch (CPU and CUDA) of every process;
- ``history.json``: the loss terms logged so far (the training curves of the report);
- ``config.yaml``: the run's config (a copy of the one next to ``state/``): what this state was
  trained with, which a resume compares the new config with;
- ``progress.json``, written last: the step, which is also the data position (the mixer's
  batches are a function of (seed, epoch, position), so :func:`batches_from` skipping to the step
  continues exactly where an interrupted run stopped), the training seconds so far, and the
  damaged shards the loaders skipped so far (``tolerate_damage``; every process's, merged), so
  that the report of a resumed run lists them too.

Saving is atomic: a checkpoint is written into ``state.tmp-<step>/``, synced to disk, and only
then renamed to ``state/`` (the previous one is kept as ``state.old/`` until the switch is done).
A kill at any moment leaves ``state/`` or, between the two renames, a complete ``state.tmp-*`` or
``state.old``: :func:`recover_state` (called at start) finishes or undoes the switch and removes
the leftovers of saves that did not complete.

Resume is bit-exact: accelerate restores the RNG states saved after the checkpoint's step, and
nothing draws from the global torch RNG between that point and the next step. DataLoaders draw
their workers' base seed from the global torch RNG each time an epoch's iterator is created;
the loaders of the aligned mixer and the clip loader (``holistic.data.stages.epoch_loader``) give
them their own generator, seeded by (seed, epoch), so creating the iterator mid-epoch when
resuming draws nothing that an uninterrupted run does not draw.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from holistic.data.damage import DAMAGE_KEY, DamageLog, merge_damage

__all__ = [
    "CONFIG",
    "HISTORY",
    "PROGRESS",
    "History",
    "Progress",
    "batches_from",
    "due",
    "find_checkpoint",
    "load_progress",
    "log_terms",
    "recover_state",
    "remove_checkpoints",
    "resume_state",
    "save_state",
]

PROGRESS = "progress.json"  # written last: a folder without it is not a checkpoint
HISTORY = "history.json"
CONFIG = "config.yaml"

#: Logged values by name: ``{"loss/total": [(step, value), ...], ...}``.
History = dict[str, list[tuple[int, float]]]


@dataclass
class Progress:
    """Where a run stands: its step, its logged history and its training time.

    Args:
        step: optimiser steps done (the data position).
        history: the logged values so far (appended to by :func:`log_terms`).
        seconds_before: training seconds of the run's earlier segments (before a resume).
        saved_step: the step of the checkpoint on disk (None: none yet).
        damage: the damaged shards the training loader skipped (``tolerate_damage``), as
            :func:`batches_from` takes them off the batches; a run's report lists them.
        validation: ``(step, score)`` of each evaluation during training (``train.eval_every``;
            :mod:`holistic.training.plateau`).
        stopped: why training stopped before ``train.steps`` (the validation score plateaued);
            None while it runs or when it trained every step. A stopped run is finished.
    """

    step: int = 0
    history: History = field(default_factory=dict)
    seconds_before: float = 0.0
    saved_step: int | None = None
    damage: DamageLog = field(default_factory=lambda: DamageLog(tolerate=True))
    validation: list[tuple[int, float]] = field(default_factory=list)
    stopped: str | None = None
    _started: float | None = field(default_factory=time.perf_counter, repr=False, compare=False)

    def train_seconds(self) -> float:
        """Training seconds so far: the earlier segments' plus this one's (since it started,
        until :meth:`stop_clock`)."""
        running = 0.0 if self._started is None else time.perf_counter() - self._started
        return self.seconds_before + running

    @property
    def clock_running(self) -> bool:
        """Whether training time is being counted (False after :meth:`stop_clock`)."""
        return self._started is not None

    def stop_clock(self) -> None:
        """Stop counting training time (the loop is over; evaluation does not count)."""
        self.seconds_before, self._started = self.train_seconds(), None


# --- saving -------------------------------------------------------------------------------------


def save_state(accelerator: Any, state_dir: str | Path, progress: Progress) -> None:
    """Checkpoint the run atomically (collective: every process calls it).

    Nothing is written when ``state_dir`` already holds this step (the loop's last checkpoint,
    or a rerun that trained nothing); a stopped clock then takes the seconds it holds, so the
    report's training time is the checkpoint's (the tail of that save, or the rerun's loading,
    is not training). Otherwise accelerate's state,
    the history, the run's ``config.yaml`` (next to ``state_dir``) and then the progress go into
    ``state_dir.tmp-<step>``, which replaces ``state_dir`` once it is complete and synced; until
    then the previous checkpoint stays. The processes' damaged shards are merged first, so
    every process's ``progress.damage`` holds them all (also when nothing is written).
    """
    from accelerate.utils import gather_object

    progress.damage.update(merge_damage(*gather_object([progress.damage.rows()])))
    if progress.saved_step == progress.step:
        saved = Path(state_dir) / PROGRESS
        if not progress.clock_running and saved.is_file():
            held = json.loads(saved.read_text())
            if held.get("step") == progress.step:
                progress.seconds_before = float(held.get("seconds", progress.seconds_before))
        return
    state_dir = Path(state_dir)
    partial = _sibling(state_dir, f"tmp-{progress.step}")
    if accelerator.is_main_process and partial.exists():
        _remove(partial)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()  # every process has written its RNG state
    if accelerator.is_main_process:
        (partial / HISTORY).write_text(json.dumps(progress.history))
        if (state_dir.parent / CONFIG).is_file():
            shutil.copyfile(state_dir.parent / CONFIG, partial / CONFIG)
        seconds = progress.train_seconds()
        _sync_tree(partial)
        saved = {"step": progress.step, "seconds": seconds, DAMAGE_KEY: progress.damage.rows(),
                 "validation": progress.validation, "stopped": progress.stopped}  # fmt: skip
        _write_synced(partial / PROGRESS, json.dumps(saved))
        _switch(partial, state_dir)
    accelerator.wait_for_everyone()
    progress.saved_step = progress.step


def _sibling(state_dir: Path, suffix: str) -> Path:
    return state_dir.with_name(f"{state_dir.name}.{suffix}")


def _switch(partial: Path, state_dir: Path) -> None:
    """``partial`` becomes ``state_dir``; the previous checkpoint is removed only afterwards."""
    previous = _sibling(state_dir, "old")
    if previous.exists():
        _remove(previous)
    if state_dir.exists():
        os.replace(state_dir, previous)
    os.replace(partial, state_dir)
    _sync_dir(state_dir.parent)
    _remove(previous)


def _remove(folder: Path) -> None:
    """Delete a checkpoint folder, its progress.json first: cut short, it is no checkpoint."""
    (folder / PROGRESS).unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    _sync_dir(path.parent)


def _sync_tree(folder: Path) -> None:
    """fsync every file under ``folder`` and the folders themselves (the data reach the disk
    before the rename that makes them the checkpoint)."""
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as file:
                os.fsync(file.fileno())
    for path in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
        _sync_dir(path)


def _sync_dir(folder: Path) -> None:
    if os.name != "posix":  # folders cannot be opened for fsync elsewhere
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# --- finding and loading ------------------------------------------------------------------------


def _complete(folder: Path) -> bool:
    return (folder / PROGRESS).is_file()


def _leftovers(state_dir: Path) -> list[Path]:
    """The folders of saves that did not complete or whose switch was interrupted."""
    partial = state_dir.parent.glob(f"{state_dir.name}.tmp-*")
    return sorted(p for p in [*partial, _sibling(state_dir, "old")] if p.is_dir())


def find_checkpoint(state_dir: str | Path) -> Path | None:
    """The complete checkpoint a run would resume from (read-only): ``state_dir``, or the newest
    complete leftover of a switch a kill interrupted; None when there is none."""
    state_dir = Path(state_dir)
    if _complete(state_dir):
        return state_dir
    complete = [p for p in _leftovers(state_dir) if _complete(p)]
    return max(complete, key=lambda p: load_progress(p).step, default=None)


def recover_state(state_dir: str | Path) -> Path | None:
    """Make ``state_dir`` the run's newest complete checkpoint and remove the leftovers of
    interrupted saves (``state.tmp-*``, ``state.old``); return it, or None when there is none.

    Call it on the main process only, before any process loads the state.
    """
    state_dir = Path(state_dir)
    checkpoint = find_checkpoint(state_dir)
    if checkpoint is not None and checkpoint != state_dir:
        if state_dir.exists():  # not a checkpoint: it has no progress.json
            _remove(state_dir)
        os.replace(checkpoint, state_dir)
        _sync_dir(state_dir.parent)
    for leftover in _leftovers(state_dir):
        _remove(leftover)
    return state_dir if checkpoint is not None else None


def remove_checkpoints(state_dir: str | Path) -> list[Path]:
    """Remove ``state_dir`` and the leftovers of interrupted saves; return what was removed."""
    state_dir = Path(state_dir)
    removed = [p for p in [state_dir, *_leftovers(state_dir)] if p.exists()]
    for path in removed:
        _remove(path)
    return removed


def load_progress(checkpoint: str | Path) -> Progress:
    """The progress and history saved in a checkpoint folder."""
    checkpoint = Path(checkpoint)
    saved = json.loads((checkpoint / PROGRESS).read_text())
    history_file = checkpoint / HISTORY
    history = json.loads(history_file.read_text()) if history_file.is_file() else {}
    return Progress(
        step=int(saved["step"]),
        history={name: [(int(s), float(v)) for s, v in rows] for name, rows in history.items()},
        seconds_before=float(saved.get("seconds", 0.0)),
        saved_step=int(saved["step"]),
        damage=DamageLog(tolerate=True).update(saved.get(DAMAGE_KEY, ())),
        validation=[(int(step), float(score)) for step, score in saved.get("validation", [])],
        stopped=saved.get("stopped"),
    )


def resume_state(accelerator: Any, state_dir: str | Path, optimizer: Any) -> Progress:
    """Load the checkpoint in ``state_dir`` into the prepared objects and return its progress;
    a fresh :class:`Progress` when there is none.

    The model, the optimiser's moments, the RNG states and the step come from the checkpoint.
    The optimiser's hyperparameters (learning rates, weight decay...) stay those it was built
    with from the config: a change the resume check let through (``train.accept_changes``)
    applies from the checkpoint's step on, and an unchanged config restores the same values.

    Raises:
        RuntimeError: the checkpoint does not fit the model (another architecture or vocabulary)
            or the optimiser (other parameter groups).
    """
    state_dir = Path(state_dir)
    if not _complete(state_dir):
        return Progress()
    built = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
    try:
        accelerator.load_state(str(state_dir))
    except (RuntimeError, ValueError) as error:  # torch: sizes; the optimiser: its groups
        raise RuntimeError(
            f"cannot resume from {state_dir}: {error}\nThe model or its optimiser's parameter "
            "groups no longer match the saved ones; train it in another train.output_dir, or "
            "start again with train.resume=false"
        ) from error
    for group, values in zip(optimizer.param_groups, built, strict=True):
        group.update(values)
    progress = load_progress(state_dir)
    accelerator.print(f"resumed from {state_dir} at step {progress.step}")
    return progress


# --- data and logging ---------------------------------------------------------------------------


def batches_from(
    mixer: Any, start: int, stop: int, num_workers: int = 0, damage: DamageLog | None = None
) -> Iterator[dict[str, Any]]:
    """The mixer's batches of global steps ``start`` to ``stop - 1``, epoch after epoch.

    The batches an earlier run already trained on in the current epoch are skipped: the
    loader starts at their position, drawing them raw (no JPEG decoded, nothing augmented), so
    a resumed run sees the same batches as an uninterrupted one without paying for the skipped.

    The damage rows a tolerant loader attaches to a batch (``damaged_shards``, from whichever
    worker process met the damage) are taken off it and added to ``damage`` (the run's
    ``progress.damage``), so the batches hold only what the model reads.
    """
    steps_per_epoch = len(mixer)
    step = start
    epoch, position = divmod(start, steps_per_epoch)
    while step < stop:
        mixer.set_epoch(epoch)
        for batch in mixer.loader(num_workers=num_workers, start=position):
            rows = batch.pop(DAMAGE_KEY, None)
            if rows and damage is not None:
                damage.update(rows)
            yield batch
            step += 1
            if step >= stop:
                return
        epoch, position = epoch + 1, 0


def log_terms(
    accelerator: Any,
    terms: Mapping[str, torch.Tensor],
    step: int,
    history: History,
    prefix: str = "loss/",
) -> dict[str, float]:
    """Average each term over the processes, log it (TensorBoard) and append it to ``history``."""
    logged = {
        f"{prefix}{name}": accelerator.reduce(value.detach(), "mean").item()
        for name, value in terms.items()
    }
    accelerator.log(logged, step=step)
    for key, value in logged.items():
        history.setdefault(key, []).append((step, value))
    return logged


def due(step: int, every: int) -> bool:
    """Whether something done every ``every`` steps (0: never) is due after ``step``."""
    return every > 0 and step % every == 0
