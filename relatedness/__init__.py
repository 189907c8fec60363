"""Emotion↔AU relatedness tables as data (DESIGN.md decision 3).

The tables live in ``relatedness/tables/*.csv`` with their provenance; this package loads and
validates them and turns them into tensors for a run's vocabularies:

- :func:`load_table` reads a shipped table by name (:data:`TABLES`) or any table file by path;
- :meth:`RelatednessTable.au_given_expression` gives P(AU | expression) [E, A] for the coupling
  losses, :meth:`RelatednessTable.compound_prototypes` the compound prototypes [C, A] for zero-shot
  scoring;
- :func:`infer_empirical` estimates a table from a user's own co-annotated data.

Imports only the standard library, numpy, torch and :mod:`holistic.schema`.
"""

from relatedness._infer import EmpiricalEstimate, infer_empirical
from relatedness._table import (
    CATEGORIES,
    COLUMNS,
    KINDS,
    TABLES,
    RelatednessTable,
    TableError,
    TableRow,
    list_tables,
    load_table,
)

__all__ = [
    "CATEGORIES",
    "COLUMNS",
    "KINDS",
    "TABLES",
    "EmpiricalEstimate",
    "RelatednessTable",
    "TableError",
    "TableRow",
    "infer_empirical",
    "list_tables",
    "load_table",
]
