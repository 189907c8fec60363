"""Relatedness tables: the CSV format, its validating loader, and the tensors built from it.

A table file is CSV with leading ``#`` provenance comments, then the header
``category,au,kind,weight,uncertain,source,note`` and one row per (category, AU). The format is
described in ``relatedness/tables/README.md``; the facts behind the shipped tables are in
``reference/relatedness.md``.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import numbers
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from holistic.schema import (
    COMPOUNDS,
    EXPRESSIONS,
    check_au,
    resolve_aus,
    resolve_compounds,
    resolve_expressions,
)

__all__ = [
    "COLUMNS",
    "CATEGORIES",
    "KINDS",
    "TABLES",
    "RelatednessTable",
    "TableError",
    "TableRow",
    "list_tables",
    "load_table",
]

logger = logging.getLogger("relatedness")

#: The header of every table file, in this order.
COLUMNS: tuple[str, ...] = ("category", "au", "kind", "weight", "uncertain", "source", "note")

#: Row kinds: prototypical (all annotators, weight 1), observational (a fraction w of annotators),
#: empirical (a measured frequency P(AU active | category)).
KINDS: tuple[str, ...] = ("prototypical", "observational", "empirical")

#: Categories a row may name: every canonical expression except neutral (which has no AUs by
#: definition), and every canonical compound name.
CATEGORIES: tuple[str, ...] = tuple(e for e in EXPRESSIONS if e != "neutral") + COMPOUNDS

_TABLE_DIR = Path(__file__).resolve().parent / "tables"

#: The shipped tables: name -> file.
TABLES: dict[str, Path] = {
    "cognitive": _TABLE_DIR / "cognitive.csv",
    "empirical-affwild2": _TABLE_DIR / "empirical-affwild2.csv",
    "compound": _TABLE_DIR / "compound.csv",
}

_UNCERTAIN_MODES = ("keep", "drop")


class TableError(ValueError):
    """A table file that does not follow the format; the message names the file and the line.

    Attributes:
        path: the file.
        line: 1-based physical line in the file (comment lines count).
        reason: what is wrong, without the location.
    """

    def __init__(self, path: str | os.PathLike, line: int, reason: str) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = reason
        super().__init__(f"{self.path}, line {line}: {reason}")


@dataclass(frozen=True)
class TableRow:
    """One (category, AU) entry of a relatedness table.

    Attributes:
        category: canonical expression or compound name.
        au: FACS number.
        kind: one of :data:`KINDS`.
        weight: in (0, 1]; 1 for prototypical rows.
        uncertain: the entry is flagged as doubtful in the source (see ``note``).
        source: short citation.
        note: free text.
        line: physical line in the file it was read from (``None`` for rows built in code).
    """

    category: str
    au: int
    kind: str
    weight: float
    uncertain: bool = False
    source: str = ""
    note: str = ""
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class RelatednessTable:
    """An immutable relatedness table: which AUs go with which category, and how strongly.

    Build one with :func:`load_table` (or from :class:`TableRow` objects, which are then validated
    like a file). Turn it into tensors for a run's vocabularies with :meth:`au_given_expression`
    and :meth:`compound_prototypes`.

    Attributes:
        name: table name (the shipped name, or the file stem).
        rows: the rows, in file order.
        path: the file it was read from (``None`` for tables built in code).
        comments: provenance comment lines (without the leading ``#``), written back by
            :meth:`to_csv`.
    """

    name: str
    rows: tuple[TableRow, ...]
    path: Path | None = None
    comments: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", tuple(self.rows))
        object.__setattr__(self, "comments", tuple(self.comments))
        where = self.path if self.path is not None else f"<table {self.name}>"
        seen: dict[tuple[str, int], int | None] = {}
        for index, row in enumerate(self.rows):
            line = row.line if row.line is not None else index + 1
            reason = _row_problem(row)
            if reason:
                raise TableError(where, line, reason)
            key = (row.category, row.au)
            if key in seen:
                first = seen[key] if seen[key] is not None else "?"
                raise TableError(
                    where,
                    line,
                    f"duplicate row ({row.category}, AU{row.au}): first at line {first}, "
                    f"again at line {line}",
                )
            seen[key] = line

    # ------------------------------------------------------------------ views

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return (
            f"RelatednessTable(name={self.name!r}, rows={len(self.rows)}, "
            f"categories={len(self.categories)}, path={str(self.path) if self.path else None!r})"
        )

    @property
    def categories(self) -> tuple[str, ...]:
        """Categories with at least one row, in file order."""
        return tuple(dict.fromkeys(row.category for row in self.rows))

    @property
    def aus(self) -> tuple[int, ...]:
        """Sorted FACS numbers of every AU that appears in a row."""
        return tuple(sorted({row.au for row in self.rows}))

    def weights(self, category: str) -> dict[int, float]:
        """``{au: weight}`` of one category, in file order (empty if it has no rows).

        Raises:
            ValueError: ``category`` is not a canonical expression or compound name.
        """
        if category not in CATEGORIES and category != "neutral":
            raise ValueError(
                f"unknown category {category!r}; canonical names are {list(CATEGORIES)}"
            )
        return {row.au: row.weight for row in self.rows if row.category == category}

    # ------------------------------------------------------------------ tensors

    def au_given_expression(
        self,
        expressions: str | Iterable[str],
        aus: str | Iterable[int | str],
        weighted: bool = True,
    ) -> torch.Tensor:
        """P(AU | expression) for a run's vocabularies.

        Args:
            expressions: expression vocabulary: a name from
                ``holistic.schema.EXPRESSION_VOCABULARIES`` (``"basic7"``) or a list of
                canonical expression names (the rows of the result).
            aus: AU vocabulary: a name from ``holistic.schema.AU_VOCABULARIES`` (``"fbn17"``) or
                a list of FACS numbers (the columns of the result).
            weighted: ``True``: each entry is the row's weight (prototypical 1, observational or
                empirical w). ``False``: 1 wherever a row exists (the paper's main variant of
                distribution matching).

        Returns:
            float32 tensor [E, A] with values in [0, 1]. Expressions without rows in this table
            (neutral, contempt, other, ...) get an all-zero row. Rows naming an AU outside
            ``aus`` are dropped with one warning on the ``relatedness`` logger; normalisers
            downstream are computed from this tensor, so they cover only the AUs that remain.

        Raises:
            ValueError: an unknown expression name, AU or vocabulary name.
        """
        names = resolve_expressions(expressions)
        return self._matrix(names, resolve_aus(aus), weighted)

    def compound_prototypes(
        self,
        compounds: str | Iterable[str],
        aus: str | Iterable[int | str],
        weighted: bool = True,
    ) -> torch.Tensor:
        """P(AU | compound category): the prototype of each category, for zero-shot scoring.

        Args:
            compounds: compound vocabulary: a name from
                ``holistic.schema.COMPOUND_VOCABULARIES`` (``"rafdb11"``) or a list of canonical
                compound names or basic emotion names.
            aus: AU vocabulary (name or list of FACS numbers).
            weighted: as in :meth:`au_given_expression`.

        Returns:
            float32 tensor [C, A]. Rows naming an AU outside ``aus`` are dropped with one warning.

        Raises:
            ValueError: an unknown name; a category without rows in this table, or one whose
                AUs all lie outside ``aus`` (a compound prototype cannot be empty).
        """
        names = resolve_compounds(compounds)
        vocabulary = resolve_aus(aus)
        missing = [name for name in names if name not in self.categories]
        if missing:
            raise ValueError(
                f"relatedness table {self._label()} has no rows for {missing}; it covers "
                f"{list(self.categories)}"
            )
        matrix = self._matrix(names, vocabulary, weighted)
        empty = [name for name, row in zip(names, matrix, strict=True) if not bool(row.any())]
        if empty:
            raise ValueError(
                f"compound prototypes {empty} of table {self._label()} are empty under the AU "
                f"vocabulary {list(vocabulary)}: none of their AUs is in it"
            )
        return matrix

    def _matrix(
        self, names: Sequence[str], vocabulary: Sequence[int], weighted: bool
    ) -> torch.Tensor:
        row_index = {name: i for i, name in enumerate(names)}
        column = {au: j for j, au in enumerate(vocabulary)}
        matrix = torch.zeros(len(names), len(vocabulary), dtype=torch.float32)
        dropped: list[str] = []
        for row in self.rows:
            i = row_index.get(row.category)
            if i is None:
                continue
            j = column.get(row.au)
            if j is None:
                dropped.append(f"{row.category}→AU{row.au}")
                continue
            matrix[i, j] = float(row.weight) if weighted else 1.0
        if dropped:
            logger.warning(
                "relatedness table %s: %s dropped: not in the run's AU vocabulary %s",
                self._label(),
                ", ".join(dropped),
                list(vocabulary),
            )
        return matrix

    def _label(self) -> str:
        return f"{self.name!r}" + (f" ({self.path})" if self.path is not None else "")

    # ------------------------------------------------------------------ writing

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write the table in the file format of :func:`load_table`, comments included.

        ``load_table(path)`` gives back the same rows. Returns the path written.
        """
        path = Path(path)
        comments = self.comments or (f"relatedness table {self.name!r}",)
        buffer = io.StringIO()
        for comment in comments:
            for line in comment.splitlines() or [""]:
                buffer.write(f"# {line}".rstrip() + "\n")
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in self.rows:
            writer.writerow(
                [
                    row.category,
                    row.au,
                    row.kind,
                    _format_weight(row.weight),
                    "yes" if row.uncertain else "",
                    row.source,
                    row.note,
                ]
            )
        path.write_text(buffer.getvalue(), encoding="utf-8")
        return path

    def _without_uncertain(self) -> RelatednessTable:
        dropped = [row for row in self.rows if row.uncertain]
        if not dropped:
            return self
        note = "loaded with uncertain='drop': " + ", ".join(
            f"{row.category}→AU{row.au}" for row in dropped
        )
        return replace(
            self,
            rows=tuple(row for row in self.rows if not row.uncertain),
            comments=(*self.comments, note),
        )


def _format_weight(weight: float) -> str:
    return str(int(weight)) if float(weight).is_integer() else repr(float(weight))


def _row_problem(row: TableRow) -> str | None:
    """Why a row is invalid, or ``None``. Used for rows built in code as well as parsed ones."""
    if row.category not in CATEGORIES:
        if row.category == "neutral":
            return "category 'neutral' takes no rows: P(AU | neutral) = 0 by definition"
        return f"unknown category {row.category!r}; expected one of {list(CATEGORIES)}"
    if not isinstance(row.au, numbers.Integral) or isinstance(row.au, bool):
        return f"AU {row.au!r} is not a FACS number"
    try:
        check_au(row.au)
    except ValueError:
        return f"AU{row.au} is not in the FACS table (holistic.schema.FACS)"
    if row.kind not in KINDS:
        return f"unknown kind {row.kind!r}; expected one of {list(KINDS)}"
    weight = row.weight
    if (
        not isinstance(weight, numbers.Real)
        or isinstance(weight, bool)
        or not math.isfinite(weight)
    ):
        return f"weight {weight!r} is not a finite number"
    if not 0.0 < weight <= 1.0:
        if weight == 0.0:
            return "weight 0 is not allowed: a row says the AU goes with the category; omit it"
        return f"weight {weight!r} is outside (0, 1]"
    if row.kind == "prototypical" and weight != 1.0:
        return f"prototypical rows have weight 1, found {weight!r}"
    if not isinstance(row.uncertain, bool):
        return f"uncertain must be a bool, found {row.uncertain!r}"
    return None


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def list_tables() -> list[str]:
    """Names of the shipped tables, for :func:`load_table`."""
    return list(TABLES)


def load_table(name_or_path: str | os.PathLike, *, uncertain: str = "keep") -> RelatednessTable:
    """Load and validate a relatedness table.

    Args:
        name_or_path: a shipped table name (``"cognitive"``, ``"empirical-affwild2"``,
            ``"compound"``; see :func:`list_tables`) or the path of a table file.
        uncertain: ``"keep"`` (default) keeps rows flagged uncertain; ``"drop"`` removes them.

    Returns:
        The table; its ``name`` is the shipped name or the file stem.

    Raises:
        ValueError: ``uncertain`` is neither ``"keep"`` nor ``"drop"``.
        FileNotFoundError: no shipped table has that name and no file has that path.
        TableError: (a ``ValueError``) the file breaks the format; the message names the file,
            the 1-based physical line (comment lines count) and the reason.
    """
    if uncertain not in _UNCERTAIN_MODES:
        raise ValueError(f"uncertain must be one of {list(_UNCERTAIN_MODES)}, got {uncertain!r}")
    if isinstance(name_or_path, str) and name_or_path in TABLES:
        name, path = name_or_path, TABLES[name_or_path]
    else:
        path = Path(name_or_path)
        name = path.stem
    if not path.is_file():
        raise FileNotFoundError(
            f"no relatedness table file {str(path)!r}; known table names are {list_tables()}"
        )
    table = _parse(path, name)
    return table._without_uncertain() if uncertain == "drop" else table


def _parse(path: Path, name: str) -> RelatednessTable:
    # Split on "\n" only (read_text already turned \r\n into \n), like the csv module counts lines.
    lines = io.StringIO(path.read_text(encoding="utf-8-sig")).readlines()
    comments: list[str] = []
    header_line = None
    for number, text in enumerate(lines, start=1):
        stripped = text.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            comment = stripped[1:]
            comments.append(comment[1:] if comment.startswith(" ") else comment)
            continue
        header_line = number
        break
    if header_line is None:
        raise TableError(path, max(len(lines), 1), f"no header line; expected {','.join(COLUMNS)}")

    reader = csv.reader(io.StringIO("".join(lines[header_line - 1 :])))
    header = [column.strip() for column in next(reader)]
    if tuple(header) != COLUMNS:
        missing = [c for c in COLUMNS if c not in header]
        unexpected = [c for c in header if c not in COLUMNS]
        detail = "; ".join(
            part
            for part in (
                f"missing {missing}" if missing else "",
                f"unexpected {unexpected}" if unexpected else "",
                "columns out of order" if not missing and not unexpected else "",
            )
            if part
        )
        raise TableError(
            path,
            header_line,
            f"header must be exactly {','.join(COLUMNS)}; found {','.join(header)} ({detail})",
        )

    rows: list[TableRow] = []
    consumed = reader.line_num
    for fields in reader:
        line = header_line + consumed  # the record's first physical line
        consumed = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        rows.append(_parse_row(path, line, fields))
    return RelatednessTable(name=name, rows=tuple(rows), path=path, comments=tuple(comments))


def _parse_row(path: Path, line: int, fields: list[str]) -> TableRow:
    if len(fields) != len(COLUMNS):
        raise TableError(
            path, line, f"expected {len(COLUMNS)} fields ({','.join(COLUMNS)}), found {len(fields)}"
        )
    category, au_text, kind, weight_text, uncertain_text, source, note = (f.strip() for f in fields)
    try:
        au = int(au_text)
    except ValueError:
        raise TableError(path, line, f"AU {au_text!r} is not a number") from None
    try:
        weight = float(weight_text)
    except ValueError:
        raise TableError(path, line, f"weight {weight_text!r} is not a number") from None
    if uncertain_text not in ("yes", ""):
        raise TableError(path, line, f"uncertain must be 'yes' or empty, found {uncertain_text!r}")
    row = TableRow(
        category=category,
        au=au,
        kind=kind,
        weight=weight,
        uncertain=uncertain_text == "yes",
        source=source,
        note=note,
        line=line,
    )
    reason = _row_problem(row)
    if reason:
        raise TableError(path, line, reason)
    return row
