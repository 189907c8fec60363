"""Hugging Face ``datasets`` data on disk (source name ``hf``): a saved dataset or an image folder.

Two layouts under ``ROOT``::

    ROOT/                          saved with Dataset(Dict).save_to_disk(ROOT)
      dataset_dict.json            (a DatasetDict; a single Dataset has state.json instead)
      train/  data-00000-of-00001.arrow  dataset_info.json  state.json
      test/   ...

    ROOT/                          an image folder, read with load_dataset("imagefolder")
      train/happy/0001.jpg         <split>/<label>/<image> (HF maps train, val/validation,
      train/sad/0002.jpg           test, ... to splits; without split folders everything
      test/happy/0003.jpg          is "train"; a metadata.csv/jsonl may add columns)

Nothing is downloaded: ``load_from_disk`` and the packaged ``imagefolder`` builder work offline
(the image folder's arrow cache goes to option ``cache``, else the usual HF cache).

Labels:

- ``label_column`` (default ``label`` when present): a ``ClassLabel`` (its names), strings, or
  integers with ``label_map``. Names map to canonical expressions through a tolerant name map
  (``happy`` -> happiness, ``angry`` -> anger, ``sad`` -> sadness, ``surprised`` -> surprise,
  ``fearful``/``afraid`` -> fear, ``disgusted`` -> disgust, ``neutral``, ``contempt``; compound
  names such as ``happily_surprised`` go to ``compound``); ``label_map=name:canonical,...``
  overrides or extends it (``name:none`` marks a class as "no expression"). A name neither knows
  raises :class:`ScanError` listing them all before anything is read. The value -1 (HF's "no
  label") and ``none`` classes -> ``invalid_marker`` (task ``expr``).
- ``valence_column`` + ``arousal_column``: floats in [-1, 1] after dividing by ``va_scale``.
- ``au_columns``: comma list of columns, the AU number read from the name (``AU12``, ``au_12``)
  or given as ``column:number``; values 0/1 (booleans too), None = unlabelled, negative ->
  ``invalid_marker``, others -> ``out_of_range``.

Images are examples of an ``Image`` feature (or a string column of paths). The adapter casts the
column to ``Image(decode=False)`` and never decodes: an example with an existing absolute path
(an image folder, a dataset built from local files) is used in place; one with only encoded bytes
(``save_to_disk`` embeds them) is written once to ``cache/<split>/<key><ext>`` (option ``cache``,
else a fresh ``tempfile.mkdtemp`` folder, logged), never into ``ROOT``. A relative path is looked
up under ``ROOT``; an example with no usable image -> ``missing_image``.

Keys are the 0-based row index (``000017``) within the split. Rejects name the split folder as
``file`` and the 1-based row as ``line`` (for an image folder: the image file, line None).
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from holistic.schema import FACS

from ._base import (
    INVALID_MARKER,
    MALFORMED_ROW,
    MISSING_IMAGE,
    NO_LABEL,
    OUT_OF_RANGE,
    Adapter,
    FaceHint,
    Reject,
    Sample,
    ScanError,
    safe_key,
)
from ._parsing import (
    canonical_split,
    check_dataset_name,
    compound_from_name,
    expression_from_name,
    face_option,
    option_float,
    option_path,
    relative,
    split_option,
)

__all__ = ["ADAPTER", "scan"]

log = logging.getLogger(__name__)

SOURCE = "hf"

#: Whole-row reject reason when a row has several bad values: the most severe first.
_SEVERITY = (MALFORMED_ROW, OUT_OF_RANGE, INVALID_MARKER)
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", ".jpg"),
    (b"\x89PNG", ".png"),
    (b"GIF8", ".gif"),
    (b"BM", ".bmp"),
    (b"RIFF", ".webp"),
)
_NONE = ("none", "-", "ignore")


@dataclass(frozen=True)
class _Label:
    """What a label value means: (task, canonical name); task None = "no label" class."""

    task: str | None
    name: str


@dataclass
class _Config:
    dataset: str  # the dataset name written into samples and rejects
    image_column: str
    image_is_path: bool
    label_column: str | None
    label_names: list[str] | None  # ClassLabel names, by index
    label_meaning: dict[str, _Label]  # raw name (or integer as text) -> meaning
    va_columns: tuple[str, str] | None
    va_scale: float
    au_columns: dict[str, int]  # column -> AU number
    face: FaceHint
    cache: Path | None
    folder: bool  # an image folder (rejects name the image file)


def scan(
    root: Path,
    splits: Sequence[str] | None = None,
    *,
    image_column: str = "image",
    label_column: str | None = None,
    label_map: str | Mapping[str, str] | None = None,
    valence_column: str | None = None,
    arousal_column: str | None = None,
    au_columns: str | None = None,
    va_scale: float | str = 1.0,
    split: str = "train",
    cache: str | Path | None = None,
    face: str = "aligned",
    name: str = SOURCE,
) -> Iterator[Sample | Reject]:
    """Scan a Hugging Face dataset saved on disk, or an image folder, without decoding images.

    Args:
        root: the ``save_to_disk`` folder, or the image folder root.
        splits: splits to keep (canonical names: ``val`` is ``validation``); None for all.
        image_column: the ``Image`` (or path string) column.
        label_column: the expression class column; default ``label`` when the data has one.
        label_map: ``name:canonical,...`` (or a mapping) for class names the built-in name map
            does not know, or integer classes without names (``0:neutral,1:happiness``).
        valence_column, arousal_column: valence/arousal columns (both or neither).
        au_columns: ``AU1,AU12`` or ``col_a:1,col_b:12``.
        va_scale: native valence/arousal are divided by it before the [-1, 1] check.
        split: the split of a single saved ``Dataset`` (a DatasetDict names its own).
        cache: folder for files the adapter must write (image bytes without a file; the image
            folder's arrow cache); default a temporary folder / the HF cache. A relative path is
            taken from the working directory, else from ROOT (``_parsing.option_path``).
        face: ``aligned`` (the images are face crops; default) or ``detect``.
        name: the dataset name written into samples and rejects (default ``hf``): lowercase
            letters, digits, ``_`` and ``-``. It names the shard files
            (``<name>-<split>-000000.tar``), so several datasets can share one federation.

    Raises:
        ScanError: neither layout, a missing column, an unknown class name, a bad option.
    """
    try:
        import datasets
    except ImportError as error:  # pragma: no cover - datasets is a core dependency
        raise ScanError("the hf source needs the datasets package: pip install datasets") from error
    dataset = check_dataset_name(name, SOURCE)
    hint = face_option(face, SOURCE)
    scale = option_float(
        va_scale, "va_scale", SOURCE, allowed=lambda x: x > 0, expected="a positive number"
    )
    cache_dir = option_path(root, cache) if cache is not None else None
    if cache_dir is not None and cache_dir.resolve().is_relative_to(root.resolve()):
        raise ScanError(f"option cache={cache!r}: the cache must not lie inside ROOT ({root})")
    parts, folder = _load(datasets, root, split, cache_dir)
    if splits is not None:
        unknown = sorted(set(splits) - set(parts))
        if unknown:
            raise ScanError(f"{root}: no split {unknown}; available splits are {sorted(parts)}")
        parts = {name: part for name, part in parts.items() if name in splits}
    features = next(iter(parts.values()))[1].features if parts else {}
    config = _Config(
        dataset=dataset,
        image_column=image_column,
        image_is_path=_check_image_column(root, features, image_column),
        label_column=None,
        label_names=None,
        label_meaning={},
        va_columns=_va_columns(root, features, valence_column, arousal_column),
        va_scale=scale,
        au_columns=_au_columns(root, features, au_columns),
        face=hint,
        cache=cache_dir,
        folder=folder,
    )
    _configure_labels(datasets, root, parts, features, config, label_column, label_map)
    if config.label_column is None and config.va_columns is None and not config.au_columns:
        raise ScanError(
            f"{root}: no label to read; columns are {sorted(features)}. Name them with "
            "label_column=, valence_column= + arousal_column=, or au_columns="
        )
    columns = [image_column, *_label_columns(config)]
    prepared = {}
    for name, (source, part) in parts.items():
        _check_same_columns(root, name, part.features, features, columns)
        selected = part.select_columns(columns)
        if not config.image_is_path:
            selected = selected.cast_column(image_column, datasets.Image(decode=False))
        prepared[name] = (source, selected)
    return _scan(root, prepared, config)


def _scan(
    root: Path, parts: dict[str, tuple[str, Any]], config: _Config
) -> Iterator[Sample | Reject]:
    for split, (source, part) in parts.items():
        width = max(6, len(str(len(part) - 1)))
        for index, example in enumerate(part):
            yield from _example(root, split, source, index, f"{index:0{width}d}", example, config)


def _example(
    root: Path,
    split: str,
    source: str,
    index: int,
    key: str,
    example: Mapping[str, Any],
    config: _Config,
) -> Iterator[Sample | Reject]:
    value = example[config.image_column]
    path_text, data = (value, None) if config.image_is_path else _image_parts(value)
    # Embedded bytes win over a relative path (save_to_disk keeps only the file name).
    image = _existing_image(root, path_text, relative_ok=not data)
    if config.folder and image is not None:
        origin: tuple[str, int | None] = (relative(image, root), None)
    else:
        origin = (source, index + 1)

    def reject(reason: str, detail: str, task: str | None = None, sample_key=None) -> Reject:
        return Reject(config.dataset, split, origin[0], origin[1], reason, detail, task, sample_key)

    labels, extra, problems = _labels(example, config)
    if not labels:
        if not problems:
            yield reject(NO_LABEL, "this example has no label (every label column is empty)")
        else:
            reason = next(r for r in _SEVERITY if any(p[1] == r for p in problems))
            yield reject(reason, "no valid label: " + "; ".join(p[2] for p in problems))
        return
    if image is not None:
        source_path = relative(image, root)
    elif data:
        # Only bytes (save_to_disk embeds them): write them once, outside ROOT.
        image = _write_bytes(config, split, key, path_text, data)
        source_path = f"{source}/{index}"
    else:
        shown = f"the path {path_text!r}, not a file," if path_text else "no path"
        yield reject(MISSING_IMAGE, f"the {config.image_column} value has {shown} and no bytes")
        return
    if path_text:
        extra["hf_path"] = path_text
    yield Sample(
        dataset=config.dataset,
        split=split,
        key=key,
        image=image,
        source_path=source_path,
        labels=labels,
        face=config.face,
        origin=origin,
        extra=extra,
    )
    for task, reason, detail in problems:
        yield reject(reason, detail, task, key)


def _existing_image(root: Path, path_text: str | None, relative_ok: bool) -> Path | None:
    """The image file an example names: an existing absolute path, or (``relative_ok``) a
    path under ROOT."""
    if not path_text:
        return None
    path = Path(path_text)
    if not path.is_absolute():
        if not relative_ok:
            return None
        path = root / path
    return path if path.is_file() else None


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _load(datasets: Any, root: Path, split: str, cache: Path | None) -> tuple[dict[str, Any], bool]:
    """Split name -> (source folder name, Dataset), and whether ROOT is an image folder."""
    if (root / "dataset_dict.json").is_file() or (root / "state.json").is_file():
        loaded = datasets.load_from_disk(str(root))
        if isinstance(loaded, datasets.DatasetDict):
            named = {key: (key, part) for key, part in loaded.items()}
        else:
            return {split_option(split, SOURCE): (".", loaded)}, False
        folder = False
    else:
        if not any(root.iterdir()):
            raise ScanError(f"{root}: empty; expected a save_to_disk folder or an image folder")
        try:
            loaded = datasets.load_dataset(
                "imagefolder", data_dir=str(root), cache_dir=str(cache) if cache else None
            )
        except (FileNotFoundError, ValueError) as error:
            raise ScanError(
                f"{root}: neither a save_to_disk folder (no dataset_dict.json / state.json) nor "
                f"an image folder <split>/<label>/<image> ({error})"
            ) from error
        named = {key: (key, part) for key, part in loaded.items()}
        folder = True
    parts: dict[str, tuple[str, Any]] = {}
    for key, value in named.items():
        name = canonical_split(key) or safe_key(key)
        if name in parts:
            raise ScanError(f"{root}: splits {parts[name][0]!r} and {key!r} are both {name!r}")
        parts[name] = value
    return parts, folder


def _check_same_columns(
    root: Path, split: str, features: Mapping[str, Any], first: Mapping[str, Any], columns: list
) -> None:
    """Every split must have the columns the scan reads, with the first split's types."""
    for column in columns:
        if features.get(column) != first.get(column):
            raise ScanError(
                f"{root}: split {split!r} has column {column!r} as {features.get(column)}, the "
                f"first split as {first.get(column)}; scan these splits separately (splits=...)"
            )


def _check_image_column(root: Path, features: Mapping[str, Any], column: str) -> bool:
    """True when the column holds path strings, False for an Image feature."""
    import datasets

    feature = features.get(column)
    if isinstance(feature, datasets.Image):
        return False
    if isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string"):
        return True
    if feature is None:
        raise ScanError(
            f"{root}: no image column {column!r}; columns are {sorted(features)} "
            "(pass image_column=NAME)"
        )
    raise ScanError(f"{root}: column {column!r} is {feature}, expected an Image or path strings")


def _va_columns(
    root: Path, features: Mapping[str, Any], valence: str | None, arousal: str | None
) -> tuple[str, str] | None:
    if valence is None and arousal is None:
        return None
    if valence is None or arousal is None:
        raise ScanError("options valence_column and arousal_column go together")
    for column in (valence, arousal):
        _check_numeric(root, features, column)
    return valence, arousal


def _au_columns(root: Path, features: Mapping[str, Any], spec: str | None) -> dict[str, int]:
    columns: dict[str, int] = {}
    for item in (spec or "").split(","):
        if not item.strip():
            continue
        column, _, number = item.strip().partition(":")
        digits = number or "".join(re.findall(r"\d+", column)[:1])
        au = int(digits) if digits.isdigit() else None
        if au is None or au not in FACS:
            raise ScanError(
                f"option au_columns: {item.strip()!r} names no FACS AU; write AU12 or column:12"
            )
        if au in columns.values():
            raise ScanError(f"option au_columns: AU{au} is given twice")
        _check_numeric(root, features, column)
        columns[column] = au
    return columns


def _check_numeric(root: Path, features: Mapping[str, Any], column: str) -> None:
    import datasets

    feature = features.get(column)
    if feature is None:
        raise ScanError(f"{root}: no column {column!r}; columns are {sorted(features)}")
    numeric = isinstance(feature, datasets.Value) and (
        feature.dtype == "bool" or feature.dtype.startswith(("int", "uint", "float"))
    )
    if not numeric:
        raise ScanError(f"{root}: column {column!r} is {feature}, expected numbers")


def _label_columns(config: _Config) -> list[str]:
    columns = [config.label_column] if config.label_column else []
    return columns + list(config.va_columns or ()) + list(config.au_columns)


# ---------------------------------------------------------------------------------------------
# Expression classes
# ---------------------------------------------------------------------------------------------


def _configure_labels(
    datasets: Any,
    root: Path,
    parts: dict[str, tuple[str, Any]],
    features: Mapping[str, Any],
    config: _Config,
    label_column: str | None,
    label_map: str | Mapping[str, str] | None,
) -> None:
    overrides = _parse_label_map(label_map)
    if label_column is None:
        if "label" not in features:
            if overrides:
                raise ScanError(f"{root}: label_map given, but there is no 'label' column")
            return
        label_column = "label"
    feature = features.get(label_column)
    if feature is None:
        raise ScanError(f"{root}: no label column {label_column!r}; columns are {sorted(features)}")
    if isinstance(feature, datasets.ClassLabel):
        raw = list(feature.names)
        config.label_names = raw
    elif isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string"):
        raw = _unique(parts, label_column)
    elif isinstance(feature, datasets.Value) and feature.dtype.startswith(("int", "uint")):
        raw = [str(v) for v in _unique(parts, label_column) if v >= 0]
        if not overrides:
            raise ScanError(
                f"{root}: label column {label_column!r} holds integers without class names; "
                "pass label_map=0:neutral,1:happiness,... to say what they mean"
            )
    else:
        raise ScanError(
            f"{root}: label column {label_column!r} is {feature}; expected a ClassLabel, "
            "strings or integers"
        )
    meaning: dict[str, _Label] = {}
    unknown = []
    for name in raw:
        label = overrides.get(name.strip().lower()) or _meaning(name)
        if label is None:
            unknown.append(name)
        else:
            meaning[name] = label
    if unknown:
        raise ScanError(
            f"{root}: label names {unknown} of column {label_column!r} are not expression or "
            "compound names; pass label_map=name:canonical,... (e.g. label_map="
            f"{unknown[0]}:happiness, or {unknown[0]}:none for a class that is no expression)"
        )
    config.label_column = label_column
    config.label_meaning = meaning


def _unique(parts: dict[str, tuple[str, Any]], column: str) -> list:
    values: set = set()
    for _, part in parts.values():
        values.update(v for v in part.unique(column) if v is not None)
    return sorted(values)


def _meaning(name: str) -> _Label | None:
    expression = expression_from_name(name)
    if expression is not None:
        return _Label("expr", expression)
    compound = compound_from_name(name)  # a basic emotion is an expression, found above
    return _Label("compound", compound) if compound is not None else None


def _parse_label_map(spec: str | Mapping[str, str] | None) -> dict[str, _Label]:
    if spec is None:
        return {}
    if isinstance(spec, str):
        pairs = []
        for item in spec.split(","):
            if not item.strip():
                continue
            name, sep, target = item.partition(":")
            if not sep:
                raise ScanError(f"option label_map: {item.strip()!r} is not name:canonical")
            pairs.append((name, target))
    else:
        pairs = list(spec.items())
    result: dict[str, _Label] = {}
    for name, target in pairs:
        target = str(target).strip().lower()
        label = _Label(None, target) if target in _NONE else _meaning(target)
        if label is None:
            raise ScanError(
                f"option label_map: {name.strip()!r}:{target!r} - {target!r} is not a canonical "
                "expression (neutral, anger, disgust, fear, happiness, sadness, surprise, "
                "contempt, other), a compound name, or none"
            )
        result[str(name).strip().lower()] = label
    return result


# ---------------------------------------------------------------------------------------------
# Example values -> labels
# ---------------------------------------------------------------------------------------------


def _labels(example: Mapping[str, Any], config: _Config) -> tuple[dict, dict, list]:
    labels: dict = {}
    extra: dict = {}
    problems: list[tuple[str, str, str]] = []
    if config.label_column is not None:
        value = example[config.label_column]
        if value is not None:
            _class(value, config, labels, extra, problems)
    if config.va_columns is not None:
        _va(example, config, labels, extra, problems)
    if config.au_columns:
        _aus(example, config, labels, problems)
    return labels, extra, problems


def _class(value: Any, config: _Config, labels: dict, extra: dict, problems: list) -> None:
    column = config.label_column
    if isinstance(value, int) and value < 0:
        problems.append(("expr", INVALID_MARKER, f"{column} {value} is HF's no-label value"))
        return
    if config.label_names is not None:
        if value >= len(config.label_names):
            problems.append(("expr", OUT_OF_RANGE, f"{column} {value} has no class name"))
            return
        name = config.label_names[value]
    else:
        name = str(value)
    label = config.label_meaning[name]  # every value was checked against the map up front
    if label.task is None:
        problems.append(("expr", INVALID_MARKER, f"{column} class {name!r} is mapped to none"))
        return
    labels[label.task] = label.name
    extra["native_label"] = name


def _va(example: Mapping[str, Any], config: _Config, labels: dict, extra: dict, problems: list):
    assert config.va_columns is not None
    values = [example[column] for column in config.va_columns]
    if all(v is None for v in values):
        return
    if any(v is None for v in values):
        given = [c for c, v in zip(config.va_columns, values, strict=True) if v is not None]
        problems.append(("va", MALFORMED_ROW, f"only {given[0]} is given"))
        return
    scaled = [float(v) / config.va_scale for v in values]
    for column, value in zip(config.va_columns, scaled, strict=True):
        if not -1.0 <= value <= 1.0:  # also catches NaN
            problems.append(("va", OUT_OF_RANGE, f"{column} {value:g} is outside [-1, 1]"))
            return
    labels["va"] = scaled
    if config.va_scale != 1.0:
        extra["native_va"] = [float(v) for v in values]


def _aus(example: Mapping[str, Any], config: _Config, labels: dict, problems: list) -> None:
    valid: dict[str, int] = {}
    bad: dict[str, list[str]] = {}
    for column, au in config.au_columns.items():
        value = example[column]
        if value is None:
            continue
        number = float(value)
        if number in (0.0, 1.0):
            valid[str(au)] = int(number)
            continue
        reason = INVALID_MARKER if number < 0 else OUT_OF_RANGE
        bad.setdefault(reason, []).append(f"{column}={value}")
    what = {INVALID_MARKER: "negative (not annotated)", OUT_OF_RANGE: "outside {0, 1}"}
    for reason in _SEVERITY:
        if reason in bad:
            problems.append(("au", reason, f"AU values {what[reason]}: {', '.join(bad[reason])}"))
    if valid:
        labels["au"] = valid


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------


def _image_parts(value: Any) -> tuple[str | None, bytes | None]:
    if isinstance(value, Mapping):
        return value.get("path"), value.get("bytes")
    return None, None


def _write_bytes(config: _Config, split: str, key: str, name: str | None, data: bytes) -> Path:
    if config.cache is None:
        config.cache = Path(tempfile.mkdtemp(prefix="holistic-hf-"))
        log.warning("hf: writing embedded image bytes to %s", config.cache)
    suffix = Path(name).suffix.lower() if name else ""
    if not suffix:
        suffix = next((ext for magic, ext in _MAGIC if data.startswith(magic)), ".img")
    path = config.cache / split / f"{key}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


ADAPTER = Adapter(
    name="hf",
    version="1",
    scan=scan,
    description="A Hugging Face datasets folder (save_to_disk) or an image folder, offline",
    conventions={
        "labels": "class names through a tolerant name map (+ label_map); -1 = no label",
        "images": "existing files in place; embedded bytes written to the cache folder",
        "keys": "0-based row index within the split",
        "splits": "DatasetDict keys through canonical_split (val -> validation)",
    },
)
