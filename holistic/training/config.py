"""Recipe configs: YAML files + ``key=value`` overrides, checked against typed dataclasses.

A recipe declares its config as nested dataclasses with typed fields and defaults (one layer of
defaults: the dataclass). ``load_config(schema, path, overrides)`` reads the YAML, applies
overrides such as ``train.lr=3e-4`` or ``loss.weights.dm=0.5``, and builds the dataclasses
(nested dataclasses merge key by key; a field typed as a mapping is replaced as a whole),
failing at start with a message naming the key: an unknown key, a value of the wrong type, a
missing required value. ``save_config`` writes the resolved config next to the run's outputs.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["ConfigError", "config_to_dict", "load_config", "parse_overrides", "save_config"]

T = TypeVar("T")


class ConfigError(ValueError):
    """A config that cannot be used: the message names the key, the value and what was expected."""


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``["train.lr=3e-4", "model.aus=[1,2,4]"]`` -> nested dict; values are parsed as YAML."""
    import yaml

    nested: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {pair!r}: expected key=value, e.g. train.lr=3e-4")
        value = yaml.safe_load(text) if text.strip() else None
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {pair!r}: {part!r} is set to a value and a section")
        node[parts[-1]] = value
    return nested


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def load_config(
    schema: type[T],
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> T:
    """Build ``schema`` (a dataclass) from a YAML file and overrides.

    Raises:
        ConfigError: unreadable YAML, an unknown key, a wrong type, a missing required value.
        FileNotFoundError: ``path`` does not exist.
    """
    import yaml

    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    data = _merge(data, parse_overrides(overrides))
    return _build(schema, data, "")


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {[_join(where, k) for k in unknown]}; "
            f"{where or 'the config'} accepts {sorted(fields)}"
        )
    values = {}
    for name, field in fields.items():
        key = _join(where, name)
        if name in data:
            values[name] = _coerce(hints[name], data[name], key)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            if dataclasses.is_dataclass(hints[name]):
                values[name] = _build(hints[name], {}, key)
            else:
                raise ConfigError(f"config key {key} is required")
    return cls(**values)


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _coerce(kind: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(kind)
    if kind is Any:
        return value
    if dataclasses.is_dataclass(kind):
        return _build(kind, value, key)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, key)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(f"config key {key}: {value!r} matches none of {_name(kind)}")
    if origin in (list, tuple, Sequence):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config key {key}: expected a list ({_name(kind)}), got {value!r}")
        (item,) = typing.get_args(kind)[:1] or (Any,)
        items = [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"config key {key}: expected a mapping ({_name(kind)}), got {value!r}"
            )
        key_type, value_type = typing.get_args(kind) or (Any, Any)
        return {
            _coerce(key_type, k, key): _coerce(value_type, v, f"{key}.{k}")
            for k, v in value.items()
        }
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind is float and isinstance(value, str):  # YAML 1.1 reads 3e-4 as a string
        try:
            return float(value)
        except ValueError:
            pass
    if kind in (int, str, bool) and type(value) is kind:
        return value
    if typing.get_origin(kind) is typing.Literal:
        if value in typing.get_args(kind):
            return value
        raise ConfigError(
            f"config key {key}: {value!r} is not one of {list(typing.get_args(kind))}"
        )
    raise ConfigError(f"config key {key}: expected {_name(kind)}, got {value!r}")


def _name(kind: Any) -> str:
    return getattr(kind, "__name__", None) or str(kind).replace("typing.", "")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A dataclass config as plain nested dicts and lists (YAML/JSON-ready)."""
    return dataclasses.asdict(config)


def save_config(config: Any, path: str | Path) -> Path:
    """Write the resolved config as YAML (what the run really used)."""
    import yaml

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
    return path
