"""Small parsing helpers every adapter uses (reference/datasets.md §0: parse positionally, check
headers loosely, tolerate BOMs, CRLF and spaces after commas), and the parsing of options.

Text files (label files, tables, JSON, url maps, fold lists) are read through
:func:`text_lines`, :func:`read_lines` or :func:`read_text`, one rule for every adapter: a
byte-order mark decides the encoding (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE); without one, the
adapter's ``encoding`` option (``--option encoding=latin-1``, checked by
:func:`encoding_option`), else UTF-8. A line that does not decode raises :class:`ScanError`
naming the file and line and suggesting the option, and so does a file that looks like UTF-16
without a mark (NUL bytes).

Options reach ``scan`` as Python values (from the library and the tests) or as strings (from
``--option key=value`` on the command line), so every option parser here takes both, and a bad
value raises :class:`ScanError` naming the source, the option and the value.

Path options (``--images``, ``file=``, ``url_map=``, ``folds=``, ``cache=``, ...) follow one rule
for every adapter, :func:`option_path`: ``~`` is expanded; an absolute path is used as it is; a
relative path is taken from the current working directory, as the shell gives it, and when
nothing exists there but the path exists under ROOT, from ROOT instead. A path that exists in
neither place is reported as the working-directory path. Globs (:func:`option_glob`) follow the
same rule.
"""

from __future__ import annotations

import codecs
import csv
import glob
import io
import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from holistic.data.adapters._base import FaceHint, ScanError
from holistic.schema import BASIC_EXPRESSIONS, COMPOUNDS, EXPRESSIONS

__all__ = [
    "EXPRESSION_ALIASES",
    "MalformedLine",
    "SPLIT_NAMES",
    "canonical_split",
    "check_dataset_name",
    "compound_from_name",
    "csv_fields",
    "encoding_option",
    "expression_from_name",
    "face_option",
    "normalise_header",
    "option_error",
    "option_float",
    "option_glob",
    "option_int",
    "option_path",
    "parse_bool",
    "parse_float",
    "parse_int",
    "read_lines",
    "read_text",
    "relative",
    "select_splits",
    "single_split",
    "split_fields",
    "split_name",
    "split_option",
    "text_lines",
    "unique_key",
]


# ---------------------------------------------------------------------------------------------
# Lines and fields
# ---------------------------------------------------------------------------------------------


#: Byte-order marks and their codecs; UTF-32 LE first, as its mark starts like UTF-16 LE's.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_ENCODING_HINT = "pass the file's encoding, e.g. --option encoding=latin-1 (or cp1252, utf-16)"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def encoding_option(value: str | None, source: str) -> str | None:
    """The ``encoding`` option of a text-reading adapter: a Python text codec (``latin-1``,
    ``cp1252``, ``utf-16``, ...) for label files without a byte-order mark; None keeps UTF-8.

    Raises:
        ScanError: not the name of a text encoding.
    """
    if value is None:
        return None
    name = str(value).strip()
    try:
        io.TextIOWrapper(io.BytesIO(), encoding=name)  # LookupError for non-text codecs too
    except LookupError:
        raise option_error(
            source, "encoding", value, "a text encoding such as utf-8, latin-1, cp1252 or utf-16"
        ) from None
    return codecs.lookup(name).name


def _codec(path: Path, encoding: str | None) -> tuple[str, int]:
    """``(codec, bytes to skip)``: a byte-order mark decides; else ``encoding``, else UTF-8.

    Raises:
        ScanError: no mark and no ``encoding``, but NUL bytes at the start: UTF-16 or UTF-32
            without a mark would otherwise be read as text full of NULs.
    """
    with open(path, "rb") as handle:
        head = handle.read(1024)
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec, len(bom)
    if encoding is None and b"\x00" in head:
        raise ScanError(
            f"{path}: NUL bytes near the start: probably UTF-16 or UTF-32 without a "
            "byte-order mark; pass its encoding, e.g. --option encoding=utf-16-le (or "
            "utf-16-be, utf-32-le)"
        )
    return encoding or "utf-8", 0


def _decode_error(path: Path, codec: str, skip: int, encoding: str | None) -> ScanError:
    """The ScanError for a file that does not decode as ``codec``: the line, and what to do."""
    data = path.read_bytes()[skip:]
    try:
        data.decode(codec)
        start, reason = len(data), "it changed while being read"
    except UnicodeDecodeError as error:
        start, reason = error.start, f"{error.reason} at byte {skip + error.start}"
    line = len(_LINE_BREAK.findall(data[:start].decode(codec, "replace"))) + 1
    hint = (
        f"the encoding option says {encoding}, which does not fit: pass the right one"
        if encoding is not None
        else _ENCODING_HINT
    )
    return ScanError(f"{path} line {line}: cannot be decoded as {codec} ({reason}); {hint}")


def text_lines(path: Path, encoding: str | None = None) -> Iterator[str]:
    """The lines of a text file with their ends (``\\n``, ``\\r\\n`` or ``\\r``), the
    byte-order mark removed; the encoding as the module docstring says.

    Raises:
        ScanError: a line that does not decode (named by its number), or a file that looks
            like UTF-16 without a byte-order mark.
    """
    codec, skip = _codec(path, encoding)
    with open(path, "rb") as raw:
        raw.seek(skip)
        try:
            yield from io.TextIOWrapper(raw, encoding=codec, newline="")
        except UnicodeDecodeError:
            raise _decode_error(path, codec, skip, encoding) from None


def read_lines(path: Path, encoding: str | None = None) -> Iterator[tuple[int, str]]:
    """``(line_number, text)`` for every non-blank line (1-based; BOM and line ends stripped);
    decoded by :func:`text_lines`."""
    for number, text in enumerate(text_lines(path, encoding), start=1):
        text = text.rstrip("\r\n")
        if text.strip():
            yield number, text


def read_text(path: Path, encoding: str | None = None) -> str:
    """A whole text file (a JSON document), decoded by :func:`text_lines`."""
    return "".join(text_lines(path, encoding))


def split_fields(text: str, sep: str | None = ",") -> list[str]:
    """Split on ``sep`` (None = any whitespace) and strip each field."""
    return [field.strip() for field in (text.split(sep) if sep else text.split())]


class MalformedLine(ValueError):
    """A line the ``csv`` module cannot split (a field over its size limit, a carriage return
    inside an unquoted field); the message says what is wrong. Callers turn it into a
    ``malformed_row`` reject for a data row, or a :class:`ScanError` naming file and line for a
    header."""


def csv_fields(text: str, delimiter: str | None) -> list[str]:
    """Split one line the way the ``csv`` module does (quoted fields may hold ``delimiter``),
    stripping each field; ``delimiter`` None splits on any whitespace (no quoting).

    Raises:
        MalformedLine: the csv module cannot split the line.
    """
    if delimiter is None:
        return text.split()
    try:
        row = next(csv.reader([text.rstrip()], delimiter=delimiter), [])
    except csv.Error as error:
        raise MalformedLine(f"the line cannot be split into fields ({error})") from None
    return [field.strip() for field in row]


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


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` as a POSIX string (the form stored in shards and rejects)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


# ---------------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------------

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


_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def split_name(text: str) -> str:
    """The canonical name of a split alias (``"Val"`` -> ``"validation"``), else ``text`` itself
    (stripped) when it is made of letters, digits, ``_`` and ``-`` (``"fold1"``); ``""`` when
    it is unusable (empty, or other characters: it names shard files)."""
    name = canonical_split(text) or text.strip()
    return name if _SPLIT_NAME.match(name) else ""


def split_option(value: str, source: str) -> str:
    """:func:`split_name` of the ``split`` option; ScanError when it is unusable."""
    name = split_name(str(value))
    if not name:
        raise option_error(
            source, "split", value, "a split name like train, validation, test or fold1"
        )
    return name


def single_split(value: str, splits: Sequence[str] | None, source: str) -> str:
    """The split of a source whose every row goes to the one split named by its ``split`` option
    (:func:`split_option`); ScanError when ``splits`` asks for another one."""
    name = split_option(value, source)
    unknown = sorted(set(splits or ()) - {name})
    if unknown:
        raise ScanError(
            f"{source} has no split {unknown} here; available splits are [{name!r}] "
            "(option split names the split of the label files)"
        )
    return name


def select_splits(splits: Sequence[str] | None, available: Sequence[str], source: str) -> set[str]:
    """The requested ``splits`` (all ``available`` ones for None); ScanError naming the
    unknown ones and the available ones."""
    if splits is None:
        return set(available)
    unknown = sorted(set(splits) - set(available))
    if unknown:
        raise ScanError(f"{source} has no split(s) {unknown}; available: {list(available)}")
    return set(splits)


# ---------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def option_error(source: str, option: str, value: object, expected: str) -> ScanError:
    """The ScanError for a bad option value: ``"<source> option <option>=<value>: expected
    <expected>"``."""
    return ScanError(f"{source} option {option}={value!r}: expected {expected}")


def parse_bool(value: bool | str, option: str, source: str) -> bool:
    """A boolean option: a bool, or ``true``/``false``, ``1``/``0``, ``yes``/``no``,
    ``on``/``off`` in any case and with spaces around.

    Raises:
        ScanError: any other value; the message names the source, the option and the value.
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ScanError(
        f"{source} option {option} must be true or false (or 1/0, yes/no, on/off); "
        f"got {option}={value!r}"
    )


def option_int(
    value: int | str,
    option: str,
    source: str,
    *,
    allowed: Callable[[int], bool],
    expected: str,
) -> int:
    """An integer option (``3``, ``"3"``, ``"3.0"``) for which ``allowed`` holds.

    Raises:
        ScanError: not an integer, or not allowed (the message says ``expected``).
    """
    number = parse_int(str(value).strip())
    if number is None or not allowed(number):
        raise option_error(source, option, value, expected)
    return number


def option_float(
    value: float | str,
    option: str,
    source: str,
    *,
    allowed: Callable[[float], bool],
    expected: str,
) -> float:
    """A finite number option (``2.5``, ``"10"``) for which ``allowed`` holds.

    Raises:
        ScanError: not a finite number, or not allowed (the message says ``expected``).
    """
    number = parse_float(str(value).strip())
    if number is None or not allowed(number):
        raise option_error(source, option, value, expected)
    return number


def face_option(value: str, source: str) -> FaceHint:
    """The ``face`` option of sources that hold either face crops or whole photos:
    ``aligned`` or ``detect``."""
    if value not in ("aligned", "detect"):
        raise option_error(source, "face", value, "aligned or detect")
    return FaceHint(value)


_DATASET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def check_dataset_name(value: str, source: str, option: str = "name") -> str:
    """A dataset name for samples and rejects: lowercase letters, digits, ``_`` and ``-``,
    starting with a letter or digit (it names the shard files ``<name>-<split>-000000.tar``).

    Raises:
        ScanError: any other value.
    """
    if not isinstance(value, str) or not _DATASET_NAME.match(value):
        raise option_error(
            source,
            option,
            value,
            "a dataset name of lowercase letters, digits, _ and - (starting with a letter or "
            "digit), e.g. myfaces; it names the shard files <name>-<split>-000000.tar",
        )
    return value


def option_path(root: Path, value: str | Path) -> Path:
    """A path option, resolved by the rule of the module docstring.

    Absolute (after ``~`` expansion): as it is. Relative: from the working directory when it
    exists there (made absolute, ``..`` folded as the shell does); else from ``root`` when it
    exists there (returned as ``root / value``); else the working-directory path, for the
    caller's error message.
    """
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    if not path.exists() and (root / path).exists():
        return root / path
    return Path(os.path.abspath(path))


def option_glob(root: Path, pattern: str) -> list[Path]:
    """The files a glob option matches (``**`` recursive), by the rule of :func:`option_path`:
    an absolute pattern as it is; a relative one from the working directory when it matches
    there, else from ``root``. Sorted; folders are left out."""

    def matching_files(pattern: str) -> list[Path]:
        return sorted(
            Path(match) for match in glob.glob(pattern, recursive=True) if Path(match).is_file()
        )

    expanded = str(Path(pattern).expanduser())
    if Path(expanded).is_absolute():
        return matching_files(expanded)
    found = matching_files(pattern)
    if found:
        return [path.absolute() for path in found]
    return matching_files(f"{glob.escape(str(root))}/{pattern}")


def unique_key(key: str, used: set[str]) -> str:
    """``key``, or ``key-2``, ``key-3``, ... when it is already in ``used``; the result is added
    to ``used``."""
    candidate, n = key, 1
    while candidate in used:
        n += 1
        candidate = f"{key}-{n}"
    used.add(candidate)
    return candidate


# ---------------------------------------------------------------------------------------------
# Expression and compound names
# ---------------------------------------------------------------------------------------------

#: Everyday spellings of expression names -> canonical names (the canonical names map to
#: themselves). Used for class names (``csv``, ``hf``) and header names (Aff-Wild2 EXPR files).
EXPRESSION_ALIASES: dict[str, str] = {
    **{name: name for name in EXPRESSIONS},
    "happy": "happiness",
    "angry": "anger",
    "sad": "sadness",
    "surprised": "surprise",
    "fearful": "fear",
    "afraid": "fear",
    "scared": "fear",
    "disgusted": "disgust",
    "contemptuous": "contempt",
    "others": "other",
}


def expression_from_name(text: str) -> str | None:
    """The canonical expression for ``"Happy"``, ``"happiness"``, ``" Angry "``; else None."""
    return EXPRESSION_ALIASES.get(text.strip().lower().replace(" ", "_"))


def compound_from_name(text: str) -> str | None:
    """The canonical compound category for ``"Happily Surprised"``, ``"happily-surprised"``,
    ``"happily_surprised"`` (or a basic emotion, as ``holistic.schema.check_compound`` allows);
    else None."""
    name = re.sub(r"[\s-]+", "_", text.strip().lower())
    return name if name in COMPOUNDS or name in BASIC_EXPRESSIONS else None
