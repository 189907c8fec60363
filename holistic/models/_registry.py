"""The model registry: ``register_model``, ``create_model``, ``list_models``, ``is_model``.

One registry, for models only (DESIGN.md decision 7), in the spirit of timm's
``timm/models/_registry.py``: a registered name is a function that pins a family's values and passes
``**kwargs`` through to the family's builder. ``create_model`` records the name and the arguments on
the model as ``model.build_args`` so a checkpoint can rebuild it without the run's config.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from typing import Any

from torch import nn

__all__ = ["create_model", "is_model", "list_models", "register_model"]

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register ``fn`` under its ``__name__``; use as a decorator on a variant function.

    Raises:
        ValueError: If the name is already registered to another function.
    """
    name = fn.__name__
    if name in _MODELS and _MODELS[name] is not fn:
        raise ValueError(f"model {name!r} is already registered (by {_MODELS[name].__module__})")
    _MODELS[name] = fn
    return fn


def is_model(name: str) -> bool:
    """Whether ``name`` is a registered model."""
    return name in _MODELS


def list_models(pattern: str | None = None) -> list[str]:
    """Registered model names, sorted; ``pattern`` filters with shell wildcards (``"test_*"``)."""
    names = sorted(_MODELS)
    if pattern is not None:
        names = [name for name in names if fnmatch.fnmatchcase(name, pattern)]
    return names


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name`` with ``kwargs`` passed to its variant function.

    The returned model carries ``build_args = {"name": name, "kwargs": kwargs}`` (the arguments as
    given), which ``holistic.models.save_model`` writes next to the weights.

    Raises:
        ValueError: If ``name`` is not registered; the message lists close matches.
    """
    if name not in _MODELS:
        close = difflib.get_close_matches(name, list(_MODELS), n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"unknown model {name!r}{hint} (list_models() gives all {len(_MODELS)} names)"
        )
    model = _MODELS[name](**kwargs)
    model.build_args = {"name": name, "kwargs": dict(kwargs)}
    return model
