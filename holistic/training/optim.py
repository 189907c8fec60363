"""The optimiser every training recipe builds from its ``train`` section.

``train.optimizer`` names it: ``"adamw"`` (our default) or ``"adam"`` (the FaceBehaviorNet,
AffWildNet and CNN-RNN papers'). The two differ only in what ``weight_decay`` does:

- ``adam``: an L2 term added to the gradient (``g + weight_decay * w``), which then goes through
  Adam's adaptive scaling like the rest of the gradient; ``weight_decay=0`` is the papers' Adam.
- ``adamw``: decoupled decay, the weights shrink by ``lr * weight_decay`` each step, apart from
  the adaptive step (Loshchilov & Hutter).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import torch

__all__ = ["OPTIMIZERS", "OptimizerName", "build_optimizer"]

#: The names ``train.optimizer`` accepts (the type of the config field).
OptimizerName = Literal["adamw", "adam"]

#: Each name's optimiser class.
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adamw": torch.optim.AdamW,
    "adam": torch.optim.Adam,
}


def build_optimizer(
    params: Iterable[torch.nn.Parameter] | Iterable[dict[str, Any]],
    name: str = "adamw",
    *,
    lr: float,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """The optimiser ``name`` over ``params``, with torch's defaults for everything else
    (betas (0.9, 0.999), eps 1e-8).

    Args:
        params: parameters, or parameter groups (dicts with ``"params"`` and their own
            ``"lr"``, ``"weight_decay"``... that override the arguments for that group).
        name: ``"adamw"`` (decoupled weight decay) or ``"adam"`` (weight decay as an L2 term in
            the gradient); see the module's docstring.
        lr: learning rate (> 0) of every group that does not set its own.
        weight_decay: decay (>= 0) of every group that does not set its own; 0: none.

    Raises:
        ValueError: an unknown ``name`` (the message lists the known ones), or a learning rate
            or weight decay torch refuses.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer: expected one of {sorted(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name](params, lr=lr, weight_decay=weight_decay)
