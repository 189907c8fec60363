"""build_optimizer: the optimiser ``train.optimizer`` names, with the config's lr and decay."""

import pytest
import torch
from torch import nn

from holistic.training.optim import build_optimizer


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))


@pytest.mark.parametrize(
    ("name", "kind"), [("adamw", torch.optim.AdamW), ("adam", torch.optim.Adam)]
)
def test_each_name_builds_its_optimiser_with_lr_and_weight_decay(name, kind):
    model = _model()
    optimizer = build_optimizer(model.parameters(), name, lr=3e-4, weight_decay=0.01)
    assert type(optimizer) is kind  # AdamW subclasses Adam in recent torch: not isinstance
    (group,) = optimizer.param_groups
    assert group["lr"] == 3e-4 and group["weight_decay"] == 0.01
    assert len(group["params"]) == 4


def test_the_default_is_adamw_without_decay():
    optimizer = build_optimizer(_model().parameters(), lr=1e-3)
    assert type(optimizer) is torch.optim.AdamW
    assert optimizer.param_groups[0]["weight_decay"] == 0.0


def test_parameter_groups_keep_their_own_values_and_take_the_rest():
    model = _model()
    groups = [
        {"params": model[0].parameters(), "lr": 1e-4},
        {"params": model[1].parameters(), "weight_decay": 0.5},
    ]
    optimizer = build_optimizer(groups, "adam", lr=1e-3, weight_decay=0.0)
    first, second = optimizer.param_groups
    assert (first["lr"], first["weight_decay"]) == (1e-4, 0.0)
    assert (second["lr"], second["weight_decay"]) == (1e-3, 0.5)


def test_adam_decays_through_the_gradient_and_adamw_apart_from_it():
    """With a zero gradient, Adam's L2 term is the whole gradient: its normalised step moves the
    weight by about lr; AdamW's decoupled decay moves it by lr * weight_decay * w only."""
    moved = {}
    for name in ("adam", "adamw"):
        weight = nn.Parameter(torch.tensor([2.0]))
        optimizer = build_optimizer([weight], name, lr=0.1, weight_decay=0.01)
        weight.grad = torch.zeros(1)
        optimizer.step()
        moved[name] = 2.0 - weight.item()
    assert moved["adam"] == pytest.approx(0.1, rel=1e-3)  # sign(0.01 * 2) * lr
    assert moved["adamw"] == pytest.approx(0.1 * 0.01 * 2.0, rel=1e-3)


def test_an_unknown_name_is_refused_listing_the_known_ones():
    with pytest.raises(
        ValueError, match=r"optimizer: expected one of \['adam', 'adamw'\], got 'sgd'"
    ):
        build_optimizer(_model().parameters(), "sgd", lr=1e-3)
