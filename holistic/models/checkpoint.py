"""Model checkpoints: ``model.safetensors`` + ``model.json``; they load without executing code.

The JSON holds the registry name and builder arguments (from ``model.build_args``, set by
``create_model``), the model contract (``"input"``: its :class:`~holistic.models.spec.InputSpec`;
``"tasks"``: what it predicts, with vocabularies), the vocabularies and the holistic version, so a
model reloads without the run's YAML, and a reader (``holistic evaluate``, ``holistic predict``)
learns how to feed it from the JSON alone. Weights are safetensors (no pickle).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

import holistic
from holistic.schema import resolve_aus, resolve_compounds, resolve_expressions

from ._registry import create_model, is_model
from .spec import InputSpec, tasks_to_json

__all__ = ["checkpoint_files", "load_model", "read_model_json", "save_model"]

FORMAT = "holistic.model/1"
# Builder arguments that fetch or read weights: the checkpoint's weights replace them.
_WEIGHT_SOURCES = ("pretrained", "checkpoint_path", "init_from", "member_checkpoints")


def checkpoint_files(path: str | Path) -> tuple[Path, Path]:
    """The ``(weights, metadata)`` files for ``path``.

    ``path`` is a directory (``DIR/model.safetensors`` + ``DIR/model.json``), or a file stem given
    by its ``.safetensors`` or ``.json`` name (``best.safetensors`` + ``best.json``).
    """
    path = Path(path)
    if path.suffix in (".safetensors", ".json"):
        return path.with_suffix(".safetensors"), path.with_suffix(".json")
    return path / "model.safetensors", path / "model.json"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"builder argument {value!r} ({type(value).__name__}) cannot go in model.json")


def save_model(
    model: nn.Module, path: str | Path, *, au_thresholds: Mapping[int, float] | None = None
) -> Path:
    """Write ``model``'s weights and how to rebuild it; returns the weights file.

    Args:
        model: A model made by ``create_model`` (it carries ``build_args``).
        path: A directory, or a ``NAME.safetensors`` stem (see :func:`checkpoint_files`).
        au_thresholds: per-AU occurrence thresholds ``{au: t}`` chosen on validation data,
            recorded as ``au_thresholds`` in the JSON (``holistic predict`` applies them).

    Raises:
        ValueError: If the model was not made by ``create_model`` or lacks the contract
            (``input_spec``, ``tasks``).
        TypeError: If a builder argument is not JSON-serialisable.
    """
    from safetensors.torch import save_model as save_safetensors

    build_args = getattr(model, "build_args", None)
    if not build_args or not is_model(build_args.get("name", "")):
        raise ValueError(
            "save_model needs a model built by holistic.models.create_model (it records "
            f"model.build_args); got {type(model).__name__} without them"
        )
    spec, tasks = getattr(model, "input_spec", None), getattr(model, "tasks", None)
    if not isinstance(spec, InputSpec) or not isinstance(tasks, dict):
        raise ValueError(
            f"{build_args['name']}: a registered model declares input_spec (an InputSpec) and "
            "tasks (DESIGN.md decision 11)"
        )
    kwargs = {k: v for k, v in build_args["kwargs"].items() if k not in _WEIGHT_SOURCES}
    meta: dict[str, Any] = {"format": FORMAT, "name": build_args["name"], "kwargs": kwargs}
    # The model is the truth: reset_heads may have changed its vocabularies since building, a
    # recipe may have set the input size it trained on, or (fine-tuning) its VA output.
    kwargs["image_size"] = spec.image_size
    if hasattr(model, "va_output"):  # models whose builders take it (FaceBehaviorNet)
        kwargs["va_output"] = model.va_output
    if getattr(model, "audio_fill", None) is not None:  # a trained AEG-CD-SZ's missing-audio input
        kwargs["audio_fill"] = list(model.audio_fill)
    if getattr(model, "audio_settings", None) is not None:  # how its audio features were made
        kwargs["audio_settings"] = dict(model.audio_settings)
    if spec.is_clip:
        kwargs["clip_length"] = spec.clip_length
    meta["input"] = spec.to_json()
    meta["tasks"] = tasks_to_json(tasks)
    if au_thresholds:
        unknown = sorted(set(map(int, au_thresholds)) - set(map(int, tasks.get("au", ()))))
        if unknown:
            raise ValueError(f"au_thresholds: AUs {unknown} are not the model's")
        meta["au_thresholds"] = {str(int(au)): float(t) for au, t in au_thresholds.items()}
    for key in ("expressions", "aus", "compounds"):
        if hasattr(model, key):
            kwargs[key] = list(getattr(model, key))
            meta[key] = list(getattr(model, key))
    meta["holistic_version"] = holistic.__version__
    meta["torch_version"] = torch.__version__
    meta = _jsonable(meta)
    weights, metadata = checkpoint_files(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    save_safetensors(model, str(weights), metadata={"format": "pt", "holistic": FORMAT})
    metadata.write_text(json.dumps(meta, indent=2) + "\n")
    return weights


def load_model(
    path: str | Path,
    *,
    expressions: Any = None,
    aus: Any = None,
    compounds: Any = None,
    map_location: str | torch.device = "cpu",
) -> nn.Module:
    """Rebuild a model saved by :func:`save_model` and load its weights strictly.

    Args:
        path: A checkpoint directory, or its ``.safetensors`` / ``.json`` file.
        expressions: The expression vocabulary the caller expects (name or list), or None.
        aus: The AU vocabulary the caller expects, or None.
        compounds: The compound vocabulary the caller expects, or None.
        map_location: Device for the weights and the model.

    Returns:
        The model (in eval mode), with ``build_args`` as recorded.

    Raises:
        FileNotFoundError: If the weights or the JSON are missing.
        ValueError: If the model name is not registered, the JSON is not a holistic checkpoint, the
            checkpoint was built for other vocabularies than ``expressions``/``aus``/``compounds``,
            or the weights do not fit.
    """
    from safetensors.torch import load_model as load_safetensors

    weights, metadata = checkpoint_files(path)
    if not weights.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {str(path)!r}: expected {str(weights)!r} and {str(metadata)!r} "
            "(as written by holistic.models.save_model)"
        )
    meta = read_model_json(path)
    name, kwargs = meta.get("name"), dict(meta.get("kwargs") or {})
    if not isinstance(name, str) or not is_model(name):
        raise ValueError(
            f"checkpoint {str(metadata)!r} is for model {name!r}, which is not registered "
            "(is the module that registers it imported?)"
        )
    for key, wanted, resolve in (
        ("expressions", expressions, resolve_expressions),
        ("aus", aus, resolve_aus),
        ("compounds", compounds, resolve_compounds),
    ):
        if wanted is None or key not in meta:
            continue
        have = resolve(meta[key]) if meta[key] else ()
        want = resolve(wanted) if (isinstance(wanted, str) or list(wanted)) else ()
        if have != want:
            raise ValueError(
                f"checkpoint {str(metadata)!r} was built for {key} {list(have)}, "
                f"but {list(want)} were asked for (reset_heads to fine-tune to a new label space)"
            )
    kwargs.update(pretrained=False, checkpoint_path=None)
    model = create_model(name, **kwargs)
    model.build_args = {"name": name, "kwargs": dict(meta.get("kwargs") or {})}
    if "input" in meta:  # checkpoints before the model contract have no "input"
        saved = InputSpec.from_json(meta["input"], f"{metadata}: input")
        if saved != model.input_spec:
            raise ValueError(
                f"checkpoint {str(metadata)!r}: its input spec {saved} differs from the one the "
                f"builder makes from its arguments, {model.input_spec}; the JSON was edited or "
                "written by another version"
            )
    try:
        load_safetensors(model, str(weights), strict=True, device=str(map_location))
    except RuntimeError as error:
        raise ValueError(f"weights {str(weights)!r} do not fit model {name!r}: {error}") from error
    return model.to(map_location).eval()


def read_model_json(path: str | Path) -> dict[str, Any]:
    """The ``model.json`` of a checkpoint (name, kwargs, ``input``, ``tasks``), validated.

    Reads no weights and builds nothing: what a tool needs to know how to feed a model.

    Raises:
        FileNotFoundError: no ``model.json`` at ``path``.
        ValueError: not JSON, or not a holistic model checkpoint.
    """
    _, metadata = checkpoint_files(path)
    if not metadata.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {str(path)!r}: expected {str(metadata)!r} "
            "(as written by holistic.models.save_model)"
        )
    try:
        meta = json.loads(metadata.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{str(metadata)!r} is not valid JSON: {error}") from error
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{str(metadata)!r} is not a holistic model checkpoint (format {FORMAT})")
    return meta
