"""Small parsing helpers every adapter uses (reference/datasets.md §0: parse positionally, check
headers loosely, tolerate BOMs, CRLF and spaces after commas)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "SPLIT_NAMES",
    "canonical_split",
    "normalise_header",
    "parse_float",
    "parse_int",
    "read_lines",
    "relative",
    "split_fields",
]


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line_number, text)`` for every non-blank line (1-based; BOM and CR stripped)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for number, text in enumerate(handle, start=1):
            text = text.rstrip("\r\n")
            if text.strip():
                yield number, text


def split_fields(text: str, sep: str | None = ",") -> list[str]:
    """Split on ``sep`` (None = any whitespace) and strip each field."""
    return [field.strip() for field in (text.split(sep) if sep else text.split())]


def normalise_header(fields: list[str]) -> list[str]:
    """Lower-case, spaces/underscores removed: ``" AU 1"`` -> ``"au1"``, for loose comparison."""
    return [re.sub(r"[\s_]+", "", field).lower() for field in fields]


def parse_float(text: str) -> float | None:
    """A finite float, or None when ``text`` is not one."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_int(text: str) -> int | None:
    """An integer (``"3"``, ``"3.0"``), or None when ``text`` is not one."""
    value = parse_float(text)
    if value is None or not float(value).is_integer():
        return None
    return int(value)


#: Native split folder/file names -> canonical split names.
SPLIT_NAMES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "train_set": "train",
    "training_set": "train",
    "trainset": "train",
    "validation": "validation",
    "validation_set": "validation",
    "valid": "validation",
    "val": "validation",
    "test": "test",
    "test_set": "test",
}


def canonical_split(name: str) -> str | None:
    """``"Train_Set"`` -> ``"train"``, ``"Validation_Set"`` -> ``"validation"``; None if unknown."""
    return SPLIT_NAMES.get(name.strip().lower().replace(" ", "_"))


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` as a POSIX string (the form stored in shards and rejects)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
