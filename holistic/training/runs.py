"""A run's output folder across interruptions: resume it, refuse the config changes a resume
cannot honour, leave a finished run as it is, or start it fresh.

Each training recipe opens and closes with these (the loop in between is its own)::

    finished = check_output_dir(config)  # before anything is written
    if finished is not None:
        return finished  # the finished run's metrics: nothing was touched
    accelerator = start_run(config)  # output_dir recovered or cleared, config.yaml written
    ...
    progress = resume_state(accelerator, out / STATE, optimizer)
    ... the loop ...
    summary = save_outputs(accelerator, out, model, progress)  # model/, history.json
    ... write_evaluation(..., summary=summary) ...
    end_run(accelerator, out, progress)

``config`` is a recipe config whose ``train`` section has ``steps``, ``resume``,
``accept_changes``, ``output_dir``, ``cpu``, ``mixed_precision`` and ``grad_accum``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from holistic.training.config import (
    ConfigError,
    config_changes,
    flat_config,
    load_config,
    save_config,
)
from holistic.training.state import (
    CONFIG,
    HISTORY,
    Progress,
    find_checkpoint,
    load_progress,
    recover_state,
    remove_checkpoints,
)

__all__ = [
    "CONFIG",
    "METRICS",
    "OUTPUTS",
    "RESUME_SAFE",
    "STATE",
    "check_output_dir",
    "clear_outputs",
    "end_run",
    "save_outputs",
    "start_run",
]

STATE = "state"
METRICS = "metrics.json"

#: What a training run writes in its output folder (``stages``: the models of a curriculum's
#: stages); ``train.resume=false`` removes these (and the leftovers of interrupted saves) before
#: it starts.
OUTPUTS = (STATE, HISTORY, METRICS, "report.md", "plots", "model", "logs", "stages")

#: Config keys that may differ from the saved ``config.yaml`` when a run resumes; the new
#: values apply from the checkpoint's step on. They change neither the model nor how it learns:
#: how long it trains (``train.steps``, never below the steps already trained: that is how a
#: run trains further), how often it logs and checkpoints, the folder's spelling, resuming
#: itself, the loader workers (the rest of the epoch under way is then drawn by other readers:
#: valid batches, no longer the uninterrupted run's) and the batch size of evaluation. Any
#: other change is refused unless named in ``train.accept_changes``.
RESUME_SAFE = (
    "train.steps",
    "train.log_every",
    "train.checkpoint_every",
    "train.output_dir",
    "train.resume",
    "train.accept_changes",
    "data.num_workers",
    "data.eval_batch_size",
)


def _say(message: str) -> None:
    """Print once per launch (before an Accelerator exists: rank 0 of the launcher, if any)."""
    if os.environ.get("RANK", "0") == "0":
        print(message, flush=True)


def check_output_dir(config: Any) -> dict | None:
    """Check ``config`` against the run already in ``config.train.output_dir``, writing nothing.

    With ``train.resume`` and a checkpoint there, the config must equal the one the checkpoint
    was trained with (its copy of ``config.yaml``; the output folder's for checkpoints without
    one) but for :data:`RESUME_SAFE` keys and those in ``train.accept_changes``, and
    ``train.steps`` must not be below the steps already trained. A run that trained all its
    steps and wrote its metrics is finished: this says so, with where its report is and how to
    train further, and returns its metrics (the recipe then returns them, touching nothing).

    Returns:
        The finished run's metrics, or None when there is training (or evaluation) to do.

    Raises:
        ConfigError: a refused change, with the changed keys (old -> new) and what to do.
    """
    train = config.train
    out = Path(train.output_dir)
    checkpoint = find_checkpoint(out / STATE) if train.resume else None
    if checkpoint is None:
        return None
    progress = load_progress(checkpoint)
    trained = progress.step
    saved = checkpoint / CONFIG if (checkpoint / CONFIG).is_file() else out / CONFIG
    changes = _check_changes(config, saved, trained)
    metrics = _finished_metrics(out, trained)
    if progress.stopped and metrics is not None:
        _say(
            f"{out} is finished: it {progress.stopped}. Its report is {out / 'report.md'}; "
            "nothing was changed. To train it again, add train.resume=false (deletes its "
            "results) or give another train.output_dir."
        )
        return metrics
    if train.steps < trained:
        raise ConfigError(
            f"train.steps={train.steps}, but the run in {out} has already trained {trained} "
            f"steps. Give train.steps >= {trained} to resume it (train.steps={trained} leaves "
            "it as it is); for a shorter run use another train.output_dir or train.resume=false "
            "(which deletes this run's state and results)"
        )
    if train.steps == trained and metrics is not None:
        _say(
            f"{out} is finished: it trained {trained} of train.steps={train.steps} and its "
            f"report is {out / 'report.md'} (metrics in {out / METRICS}); nothing was changed. "
            f"To train it further, raise train.steps (e.g. train.steps={2 * trained}); to "
            "train it again from scratch, add train.resume=false (deletes its results) or give "
            "another train.output_dir."
        )
        return metrics
    if changes:
        listed = ", ".join(f"{key}: {old!r} -> {new!r}" for key, (old, new) in changes.items())
        _say(f"resuming {out} at step {trained} with {listed}")
    return None


def _check_changes(config: Any, saved: Path, trained: int) -> dict[str, tuple[Any, Any]]:
    """The changes against the saved config that resume applies; raise on any other."""
    out = Path(config.train.output_dir)
    if not saved.is_file():
        _say(f"warning: {saved} is missing: cannot check the config of the run being resumed")
        return {}
    try:
        previous = load_config(type(config), saved)
    except ConfigError as error:
        raise ConfigError(
            f"{saved} (the config of the run in {out}) does not load with this version of the "
            f"recipe: {error}. Start it again with train.resume=false or use another "
            "train.output_dir"
        ) from None
    accepted = tuple(config.train.accept_changes)
    _check_keys_exist(config, accepted)
    changes = config_changes(previous, config)
    refused = {k: v for k, v in changes.items() if not _allowed(k, RESUME_SAFE + accepted)}
    if refused:
        listed = "\n".join(f"  {key}: {old!r} -> {new!r}" for key, (old, new) in refused.items())
        names = ",".join(refused)
        raise ConfigError(
            f"the run in {out} (checkpoint at step {trained}) was trained with another config "
            f"({saved}); resuming it would mix two settings. Changed:\n{listed}\n"
            f"Either resume it as it was (drop these changes), "
            f"train elsewhere (another train.output_dir), start it again from scratch "
            f"(train.resume=false: deletes its state and results), or resume it with the new "
            f"values from step {trained} on (train.accept_changes=[{names}]). Resume applies "
            f"these changes by itself: {', '.join(RESUME_SAFE)}."
        )
    return changes


def _allowed(key: str, allowed: tuple[str, ...]) -> bool:
    return any(key == name or key.startswith(f"{name}.") for name in allowed)


def _check_keys_exist(config: Any, names: tuple[str, ...]) -> None:
    keys = flat_config(config)
    unknown = [name for name in names if not any(_allowed(key, (name,)) for key in keys)]
    if unknown:
        raise ConfigError(
            f"config key train.accept_changes: {unknown} name no config key; give dotted keys "
            "such as train.lr or loss.weights"
        )


def _finished_metrics(out: Path, trained: int) -> dict | None:
    """The metrics of the run in ``out`` when they were written for the checkpoint's step."""
    path = out / METRICS
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):  # none, or cut short by a kill: evaluate again
        return None
    return document.get("metrics", {}) if document.get("steps") == trained else None


def start_run(config: Any) -> Any:
    """The run's ``Accelerator`` (``train.cpu``, ``mixed_precision``, ``grad_accum``; TensorBoard
    logs in ``output_dir/logs``), with the output folder ready (collective).

    With ``train.resume`` an interrupted save is finished or undone (``recover_state``);
    without, the previous run's outputs are removed, so nothing of it mixes with the new one.
    Then the resolved config is written to ``config.yaml``. Call :func:`check_output_dir` first.
    """
    from accelerate import Accelerator

    train = config.train
    out = Path(train.output_dir)
    accelerator = Accelerator(
        cpu=train.cpu,
        mixed_precision=train.mixed_precision,
        gradient_accumulation_steps=train.grad_accum,
        log_with="tensorboard",
        project_dir=str(out),
    )
    if accelerator.is_main_process:
        if train.resume:
            recover_state(out / STATE)
        else:
            clear_outputs(out)
        save_config(config, out / CONFIG)
    accelerator.wait_for_everyone()
    accelerator.init_trackers("logs")
    return accelerator


def clear_outputs(out: str | Path) -> list[Path]:
    """Remove what a training run wrote in ``out`` (:data:`OUTPUTS` and leftovers of interrupted
    saves); other files (caches, your own notes) stay. Returns what was removed."""
    out = Path(out)
    removed = remove_checkpoints(out / STATE)
    for path in [out / name for name in OUTPUTS if name != STATE and (out / name).exists()]:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        removed.append(path)
    if removed:
        print(f"train.resume=false: removed the previous run's {[p.name for p in removed]}")
    return removed


def save_outputs(
    accelerator: Any, out: Path, model: Any, progress: Progress, held_out: Any = None
) -> dict[str, Any]:
    """Save the trained model (``model/``) and the history of every segment (``history.json``);
    return the summary a report starts with (steps, training seconds over every segment).
    Call it on the main process.

    ``held_out``: the run's pooled predictions on its evaluation split. With AU predictions,
    the per-AU thresholds that maximise F1 there are saved with the model (``holistic predict``
    applies them) and listed in the summary; the reported metrics stay at 0.5, so no reported
    number is tuned on the split it is reported on."""
    from holistic.models.checkpoint import save_model

    unwrapped = accelerator.unwrap_model(model)
    thresholds = au_thresholds(held_out, getattr(unwrapped, "tasks", {}).get("au", ()))
    save_model(unwrapped, out / "model", au_thresholds=thresholds)
    (out / HISTORY).write_text(json.dumps(progress.history))
    summary = {"steps": progress.step, "train_seconds": round(progress.train_seconds(), 1)}
    if thresholds:
        summary["au_thresholds"] = {str(au): t for au, t in thresholds.items()}
    if progress.validation:
        summary["validation"] = progress.validation
    if progress.stopped:
        summary["stopped"] = progress.stopped
    return summary


def end_run(accelerator: Any, out: Path, progress: Progress) -> None:
    """Say where the report is, then close the run on every process together."""
    accelerator.print(
        f"done: {progress.step} steps in {progress.train_seconds():.0f} s of training; "
        f"report in {out / 'report.md'}"
    )
    accelerator.wait_for_everyone()  # no process tears the process group down under another
    accelerator.end_training()


def au_thresholds(predictions: Any, aus: Sequence[int]) -> dict[int, float] | None:
    """Per-AU thresholds chosen on ``predictions`` of a model with AUs ``aus`` (its head order),
    ``{au: t}``, by :func:`~holistic.metrics.au.choose_au_thresholds` (the F1-maximising grid;
    0.5 for an AU without labels there); None without AU predictions."""
    from holistic.metrics.au import choose_au_thresholds

    if predictions is None or not len(predictions) or "au" not in predictions.tasks or not aus:
        return None
    chosen = choose_au_thresholds(
        predictions["au_prob"], predictions["au"], predictions["au_mask"].astype(bool)
    )
    return {int(au): float(t) for au, t in zip(aus, chosen, strict=True)}
