"""Checkpoint, exact resume and logging helpers that every recipe's loop uses.

A run's state is ``accelerator.save_state`` (model, optimiser, RNG) plus ``progress.json`` with
the step counter. The step is also the data position: the aligned mixer's batches are a function
of (seed, epoch, position), so :func:`batches_from` skipping to the step continues exactly where an
interrupted run stopped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = ["batches_from", "log_terms", "resume_step", "save_state"]

PROGRESS = "progress.json"


def save_state(accelerator: Any, state_dir: str | Path, step: int) -> None:
    """Model, optimiser and RNG state (accelerate) + the step counter (the data position)."""
    accelerator.save_state(str(state_dir))
    if accelerator.is_main_process:
        (Path(state_dir) / PROGRESS).write_text(json.dumps({"step": step}))


def resume_step(accelerator: Any, state_dir: str | Path, resume: bool = True) -> int:
    """Load the state saved in ``state_dir`` and return its step; 0 when there is none (or
    ``resume`` is False)."""
    progress = Path(state_dir) / PROGRESS
    if not (resume and progress.is_file()):
        return 0
    accelerator.load_state(str(state_dir))
    step = int(json.loads(progress.read_text())["step"])
    accelerator.print(f"resumed from {state_dir} at step {step}")
    return step


def batches_from(
    mixer: Any, start: int, stop: int, num_workers: int = 0
) -> Iterator[dict[str, Any]]:
    """The mixer's batches of global steps ``start`` to ``stop - 1``, epoch after epoch.

    The batches an earlier run already trained on in the current epoch are skipped (read, not
    trained on), so a resumed run sees the same batches as an uninterrupted one.
    """
    steps_per_epoch = len(mixer)
    step = start
    epoch, position = divmod(start, steps_per_epoch)
    while step < stop:
        mixer.set_epoch(epoch)
        batches = iter(mixer.loader(num_workers=num_workers))
        for _ in range(position):
            next(batches)
        for batch in batches:
            yield batch
            step += 1
            if step >= stop:
                return
        epoch, position = epoch + 1, 0


def log_terms(
    accelerator: Any,
    terms: Mapping[str, torch.Tensor],
    step: int,
    history: dict[str, list[tuple[int, float]]],
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
