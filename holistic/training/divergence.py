"""Stop a training run whose losses diverge, before the bad step changes anything.

A GAN can blow up: a NaN or an infinite term, or a term that explodes past any sensible size.
:func:`check_terms` is called on a step's loss terms *before* their backward pass; when one is
not finite or larger in magnitude than the limit, it raises :class:`DivergenceError` naming the
term and the step, so the bad update is not applied and no checkpoint is written after it: the
run's last checkpoint is the last good state.

With several processes the terms are averaged over them first (one collective), so every
process sees the same verdict and stops together, instead of one process raising while the
others wait for it in the next collective.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["DivergenceError", "check_terms"]


class DivergenceError(RuntimeError):
    """A loss term became NaN, infinite or larger than the run's limit; the message names the
    term, its value, the step and what was kept."""


def check_terms(
    terms: Mapping[str, torch.Tensor],
    step: int,
    *,
    limit: float | None = None,
    accelerator: Any = None,
    kept: str = "",
) -> None:
    """Raise :class:`DivergenceError` when a term is not finite or ``|term| > limit``.

    Args:
        terms: scalar loss terms of one step, by name (as logged).
        step: the step being trained (1-based, as the logs count it).
        limit: the largest magnitude a term may reach; None: only NaN and inf stop.
        accelerator: when given, the terms are averaged over its processes first, so all of
            them stop at the same step.
        kept: what the run keeps (e.g. "the checkpoint of step 40 in runs/x/state"), appended
            to the message.
    """
    if not terms:
        return
    names = list(terms)
    values = torch.stack([terms[name].detach().float().reshape(()) for name in names])
    if accelerator is not None:
        values = accelerator.reduce(values, "mean")
    values = values.cpu()
    bad = ~torch.isfinite(values)
    if limit is not None:
        bad |= values.abs() > limit
    if not bool(bad.any()):
        return
    index = int(bad.nonzero()[0, 0])
    value = float(values[index])
    why = "not finite" if not math.isfinite(value) else f"above train.diverge_above={limit:g}"
    raise DivergenceError(
        f"training diverged at step {step}: loss term {names[index]!r} is {value!r} ({why}). "
        f"The run stopped before that update and saved nothing of step {step}"
        + (f"; {kept}" if kept else "")
        + ". Lower the learning rate or the loss weights and resume (train.accept_changes), "
        "or raise train.diverge_above if such values are expected"
    )
