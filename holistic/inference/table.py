"""Prediction tables on disk: written in chunks as rows come (constant memory), as ``.csv`` or
``.parquet``, into a temporary file that replaces the target only when the table is complete.

A run that stops early (an error, Ctrl-C) keeps what it wrote as ``<name>.partial<suffix>``
next to the target and leaves the target as it was.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from holistic.data.atomic import temporary_beside

__all__ = ["TABLE_SUFFIXES", "TableWriter", "column_dtypes", "predicted_rows", "typed_table"]

#: The table formats ``holistic predict --out`` writes.
TABLE_SUFFIXES: tuple[str, ...] = (".csv", ".parquet")

_TEXT = ("input", "expression", "compound", "error")


def column_dtypes(columns: Sequence[str]) -> dict[str, str]:
    """The pandas dtype of each column: text, nullable integers (frame, face id, AU
    occurrences), floats for the rest."""
    dtypes = {}
    for column in columns:
        if column in _TEXT:
            dtypes[column] = "string"
        elif column in ("frame", "face_id") or column.endswith("_c"):
            dtypes[column] = "Int64"
        else:
            dtypes[column] = "float64"
    return dtypes


def typed_table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> Any:
    """A DataFrame of ``rows`` with ``columns`` in order and :func:`column_dtypes`."""
    import pandas as pd

    frame = pd.DataFrame(list(rows), columns=list(columns))
    for column, dtype in column_dtypes(columns).items():
        if dtype == "Int64":
            values = [None if v is None or (isinstance(v, float) and math.isnan(v)) else v
                      for v in frame[column]]  # fmt: skip
            frame[column] = pd.array(values, dtype="Int64")
        else:
            frame[column] = frame[column].astype(dtype)
    return frame


def predicted_rows(table: Any) -> Any:
    """The rows of a prediction table (as written or read back) that have predictions: an empty
    ``error`` (read from a CSV, an empty text is NaN)."""
    errors = table["error"]
    return errors.isna() | (errors.astype("string") == "")


class TableWriter:
    """Write a prediction table in chunks; use as a context manager.

    Args:
        path: the target, ``.csv`` or ``.parquet``.
        columns: the table's columns, in order.
        chunk_rows: rows held before they are written.

    Raises:
        ValueError: another suffix.
    """

    def __init__(self, path: str | Path, columns: Sequence[str], chunk_rows: int = 1024) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in TABLE_SUFFIXES:
            raise ValueError(
                f"--out {str(path)!r}: write the table as {' or '.join(TABLE_SUFFIXES)}"
            )
        self.columns, self.chunk_rows = list(columns), int(chunk_rows)
        self.partial = self.path.with_name(f"{self.path.stem}.partial{self.path.suffix}")
        self._temporary = Path()  # made on entering: a hidden file next to path
        self._rows: list[Mapping[str, Any]] = []
        self._parquet: Any = None
        self._started = False
        self.rows_written = 0

    def __enter__(self) -> TableWriter:
        self._temporary = temporary_beside(self.path, self.path.suffix)
        return self

    def write(self, row: Mapping[str, Any]) -> None:
        """Add one row (written with its chunk)."""
        self._rows.append(row)
        if len(self._rows) >= self.chunk_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._rows and self._started:
            return
        table = typed_table(self._rows, self.columns)
        if self.path.suffix.lower() == ".csv":
            table.to_csv(self._temporary, mode="a" if self._started else "w",
                         header=not self._started, index=False)  # fmt: skip
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            arrow = pa.Table.from_pandas(table, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self._temporary, arrow.schema)
            self._parquet.write_table(arrow)
        self.rows_written += len(self._rows)
        self._rows, self._started = [], True

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._flush()
        finally:
            if self._parquet is not None:
                self._parquet.close()
        os.replace(self._temporary, self.partial if kind is not None else self.path)
