"""Recipe configs: YAML files + ``key=value`` overrides, checked against typed dataclasses.

A recipe declares its config as nested dataclasses with typed fields and defaults (one layer of
defaults: the dataclass). ``load_config(schema, path, overrides)`` reads the YAML, applies
overrides such as ``train.lr=3e-4`` or ``loss.weights.dm=0.5``, and builds the dataclasses
(nested dataclasses merge key by key; a field typed as a mapping is replaced as a whole),
failing at start with a message naming the key: an unknown key, a value of the wrong type, a
missing required value, a number outside its range, a value a dataclass's ``__post_init__``
refuses. ``save_config`` writes the resolved config next to the run's outputs.

Ranges are declared on the field's type, next to the field, and checked wherever the type
occurs (in lists and mappings too)::

    steps: PositiveInt = 200                      # Annotated[int, Range(ge=1)]
    dropout: Annotated[float, Range(ge=0, lt=1)] = 0.5
    batch_sizes: dict[str, PositiveInt] | None = None
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

__all__ = [
    "ConfigError",
    "Fraction",
    "NonNegativeFloat",
    "NonNegativeInt",
    "PositiveFloat",
    "PositiveInt",
    "Range",
    "Seed",
    "config_changes",
    "config_to_dict",
    "flat_config",
    "load_config",
    "parse_overrides",
    "save_config",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """A config that cannot be used: the message names the key, the value and what was expected."""


@dataclasses.dataclass(frozen=True)
class Range:
    """The valid range of a numeric config value, declared with ``Annotated[int, Range(ge=1)]``.

    ``ge``/``gt`` are the lower bound (inclusive/exclusive), ``le``/``lt`` the upper one; None:
    unbounded. NaN and infinite values are always out of range.
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def check(self, value: float, key: str) -> None:
        """Raise :class:`ConfigError` naming ``key`` when ``value`` is outside the range."""
        inside = (
            math.isfinite(value)
            and (self.ge is None or value >= self.ge)
            and (self.gt is None or value > self.gt)
            and (self.le is None or value <= self.le)
            and (self.lt is None or value < self.lt)
        )
        if not inside:
            raise ConfigError(f"config key {key}: expected a number {self}, got {value!r}")

    def __str__(self) -> str:
        bounds = [
            f"{sign} {int(bound) if float(bound).is_integer() else bound}"
            for sign, bound in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt))
            if bound is not None
        ]
        return " and ".join(bounds) or "that is finite"


#: Counts that must be at least 1 (steps, batch sizes, image sizes, intervals).
PositiveInt = Annotated[int, Range(ge=1)]
#: Counts where 0 means "none" or "off" (workers, checkpoint interval).
NonNegativeInt = Annotated[int, Range(ge=0)]
#: Rates and scales that must be above 0 (learning rates).
PositiveFloat = Annotated[float, Range(gt=0)]
#: Weights and strengths where 0 switches something off (weight decay, augmentation).
NonNegativeFloat = Annotated[float, Range(ge=0)]
#: Probabilities of dropping a unit: in [0, 1).
Fraction = Annotated[float, Range(ge=0, lt=1)]
#: Seeds of Python, NumPy and torch: in [0, 2**32).
Seed = Annotated[int, Range(ge=0, lt=2**32)]


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
    hints = typing.get_type_hints(cls, include_extras=True)
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
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as error:  # the dataclass's own checks (__post_init__)
        raise ConfigError(f"config section {where or 'config'}: {error}") from None


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _coerce(kind: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(kind)
    if kind is Any:
        return value
    if origin is Annotated:
        base, *constraints = typing.get_args(kind)
        value = _coerce(base, value, key)
        for constraint in constraints:
            if isinstance(constraint, Range):
                constraint.check(value, key)
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
        if len(errors) == 1:  # X | None: X's own message (a range, a wrong type)
            raise ConfigError(errors[0])
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
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return " | ".join(_name(option) for option in typing.get_args(kind))
    if typing.get_origin(kind) is Annotated:
        base, *constraints = typing.get_args(kind)
        return " ".join([_name(base), *(str(c) for c in constraints if isinstance(c, Range))])
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


def flat_config(config: Any) -> dict[str, Any]:
    """A config (dataclass or nested dicts) as ``{"train.lr": 0.001, ...}``; mappings are
    flattened to their leaves, lists are values."""
    plain = config_to_dict(config) if dataclasses.is_dataclass(config) else config
    return _flatten(plain) if plain else {}


def config_changes(old: Any, new: Any) -> dict[str, tuple[Any, Any]]:
    """``{"train.lr": (0.001, 0.0003), ...}``: every dotted key whose value differs between two
    configs (dataclasses or nested dicts); a key only one of them has pairs with ``None``."""
    before, after = flat_config(old), flat_config(new)
    return {
        key: (before.get(key), after.get(key))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def _flatten(node: Any, where: str = "") -> dict[str, Any]:
    if not isinstance(node, Mapping) or not node:
        return {where: list(node) if isinstance(node, tuple) else node}
    flat: dict[str, Any] = {}
    for key, value in node.items():
        flat.update(_flatten(value, _join(where, str(key))))
    return flat
