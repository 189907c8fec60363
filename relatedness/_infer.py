"""Estimate P(AU | expression) from co-annotated data: the FaceBehaviorNet "empirical" route.

The paper's empirical Aff-Wild2 table (Table V, right column) is, for each expression, the fraction
of images with that expression in which each AU is active. :func:`infer_empirical` computes the
same from any data set whose images carry both an expression label and AU labels, with per-sample
AU masks, and turns it into a :class:`~relatedness.RelatednessTable` a run can load by path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from holistic.schema import check_expression, resolve_aus, resolve_expressions
from relatedness._table import RelatednessTable, TableRow

__all__ = ["EmpiricalEstimate", "infer_empirical"]


@dataclass(frozen=True)
class EmpiricalEstimate:
    """Counts and frequencies of AU activity per expression.

    Attributes:
        expressions: expression vocabulary (rows), canonical names.
        aus: AU vocabulary (columns), FACS numbers.
        images: int64 [E]: co-annotated images per expression (expression labelled and at least
            one AU labelled).
        labelled: int64 [E, A]: images of expression e in which AU a is labelled.
        active: int64 [E, A]: of those, images in which AU a is active.
        probability: float64 [E, A]: ``active / labelled``, NaN where ``labelled == 0``.
    """

    expressions: tuple[str, ...]
    aus: tuple[int, ...]
    images: np.ndarray
    labelled: np.ndarray
    active: np.ndarray
    probability: np.ndarray

    @property
    def num_images(self) -> int:
        """Co-annotated images used (the sum of :attr:`images`)."""
        return int(self.images.sum())

    def to_table(
        self, min_probability: float = 0.0, min_count: int = 1, name: str = "empirical"
    ) -> RelatednessTable:
        """A relatedness table of ``kind=empirical`` rows.

        A row is written for every (e, a) with ``labelled >= min_count``,
        ``probability >= min_probability`` and a weight (``probability`` rounded to 4 decimals)
        above 0. Neutral never gets rows (P(AU | neutral) = 0 by definition); every other
        expression of the vocabulary does. Each row's ``source`` is
        ``"infer_empirical: N images"`` and its ``note`` the counts ``"active/labelled"``.

        Args:
            min_probability: in [0, 1]; drop rarer AUs (the paper's table lists AUs down to 0.1).
            min_count: at least 1; drop estimates from fewer labelled images.
            name: the table's name.

        Raises:
            ValueError: ``min_probability`` outside [0, 1] or ``min_count < 1``.
        """
        if not 0.0 <= min_probability <= 1.0:
            raise ValueError(f"min_probability must lie in [0, 1], got {min_probability!r}")
        if int(min_count) != min_count or min_count < 1:
            raise ValueError(f"min_count must be an integer >= 1, got {min_count!r}")
        source = f"infer_empirical: {self.num_images} images"
        rows = []
        for i, expression in enumerate(self.expressions):
            if expression == "neutral":
                continue
            for j, au in enumerate(self.aus):
                n, k = int(self.labelled[i, j]), int(self.active[i, j])
                if n < min_count or n == 0:
                    continue
                p = k / n
                weight = round(p, 4)
                if p < min_probability or weight <= 0.0:
                    continue
                rows.append(
                    TableRow(expression, au, "empirical", weight, False, source, f"{k}/{n}")
                )
        comments = (
            f"Empirical P(AU | expression) inferred by relatedness.infer_empirical from "
            f"{self.num_images} co-annotated images.",
            f"expressions: {' '.join(self.expressions)}",
            f"AUs: {' '.join(str(a) for a in self.aus)}",
            "weight = images with the AU active / images of the expression with the AU labelled, "
            "rounded to 4 decimals; note = those two counts.",
            f"filters: min_probability={min_probability}, min_count={min_count}; neutral has no "
            "rows by definition.",
        )
        return RelatednessTable(name=name, rows=tuple(rows), comments=comments)

    def to_csv(self, path: str | os.PathLike, **to_table_kwargs: Any) -> Path:
        """Write :meth:`to_table` (with ``to_table_kwargs``) to ``path``; returns the path."""
        return self.to_table(**to_table_kwargs).to_csv(path)

    def summary(self, digits: int = 2) -> str:
        """A text table: one line per expression, its image count and P(AU | e) per AU.

        Cells with no labelled image show ``-``.
        """
        width = max(digits + 3, 5)
        name_width = max(len("expression"), *(len(e) for e in self.expressions))
        header = f"{'expression':<{name_width}} {'images':>7} " + " ".join(
            f"{'AU' + str(a):>{width}}" for a in self.aus
        )
        lines = [header]
        for i, expression in enumerate(self.expressions):
            cells = " ".join(
                f"{'-':>{width}}" if np.isnan(p) else f"{p:>{width}.{digits}f}"
                for p in self.probability[i]
            )
            lines.append(f"{expression:<{name_width}} {int(self.images[i]):>7} {cells}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def infer_empirical(
    expr: Any,
    au: Any,
    au_mask: Any = None,
    *,
    expressions: str | Iterable[str] = "basic7",
    aus: str | Iterable[int | str] = "fbn17",
) -> EmpiricalEstimate:
    """Estimate P(AU active | expression) from images labelled with both.

    Args:
        expr: [N] expression labels: integer indices into ``expressions`` (negative = unlabelled),
            or canonical names (``None`` = unlabelled; a canonical name outside ``expressions``,
            say ``contempt`` in a 7-class vocabulary, counts as unlabelled). numpy, torch or a list.
        au: [N, A] AU occurrence, 0 or 1, columns in the order of ``aus``. Negative or NaN
            entries count as unlabelled. numpy, torch or nested lists.
        au_mask: [N, A] bool (or 0/1), ``True`` where the AU is labelled; ``None`` = all labelled
            (apart from negative/NaN entries of ``au``).
        expressions: expression vocabulary: a name (``"basic7"``) or a list of canonical names.
        aus: AU vocabulary: a name (``"fbn17"``) or a list of FACS numbers.

    Returns:
        The counts and frequencies (:class:`EmpiricalEstimate`). An image counts only if its
        expression is labelled and at least one of its AUs is.

    Raises:
        ValueError: shapes that do not match each other or the vocabularies; an index outside
            the expression vocabulary; an unknown expression name; AU values other than 0/1
            (or negative/NaN); a mask that is not boolean.
    """
    expression_names = resolve_expressions(expressions)
    au_numbers = resolve_aus(aus)
    num_expr, num_au = len(expression_names), len(au_numbers)

    index = _expression_indices(expr, expression_names)
    values = _as_numpy(au, "au").astype(np.float64)
    if values.ndim != 2 or values.shape != (len(index), num_au):
        raise ValueError(
            f"au must have shape [N, A] = [{len(index)}, {num_au}] (N from expr, A from the AU "
            f"vocabulary {list(au_numbers)}), got {list(values.shape)}"
        )
    labelled = ~np.isnan(values) & (values >= 0)
    bad = labelled & (values != 0) & (values != 1)
    if bad.any():
        n, a = np.argwhere(bad)[0]
        raise ValueError(
            f"au values must be 0 or 1 (negative or NaN = unlabelled); found {values[n, a]!r} "
            f"at sample {n}, AU{au_numbers[a]}"
        )
    if au_mask is not None:
        mask = _as_numpy(au_mask, "au_mask")
        if mask.shape != values.shape:
            raise ValueError(
                f"au_mask must have shape {list(values.shape)}, got {list(mask.shape)}"
            )
        if mask.dtype != np.bool_:
            if not np.isin(mask, (0, 1)).all():
                raise ValueError("au_mask must be boolean (or 0/1)")
            mask = mask.astype(bool)
        labelled &= mask

    use = (index >= 0) & labelled.any(axis=1)
    one_hot = np.zeros((len(index), num_expr), dtype=np.int64)
    one_hot[np.flatnonzero(use), index[use]] = 1
    labelled_int = labelled.astype(np.int64)
    active_int = (labelled & (values == 1)).astype(np.int64)
    labelled_counts = one_hot.T @ labelled_int
    active_counts = one_hot.T @ active_int
    with np.errstate(invalid="ignore", divide="ignore"):
        probability = np.where(
            labelled_counts > 0, active_counts / np.maximum(labelled_counts, 1), np.nan
        )
    return EmpiricalEstimate(
        expressions=expression_names,
        aus=au_numbers,
        images=one_hot.sum(axis=0),
        labelled=labelled_counts,
        active=active_counts,
        probability=probability,
    )


def _as_numpy(value: Any, what: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except ValueError as error:  # ragged nested lists
        raise ValueError(f"{what} must be a rectangular array: {error}") from None


def _expression_indices(expr: Any, vocabulary: Sequence[str]) -> np.ndarray:
    """[N] int64 indices into ``vocabulary``; -1 for unlabelled."""
    if isinstance(expr, torch.Tensor | np.ndarray):
        array = _as_numpy(expr, "expr")
        if array.ndim != 1:
            raise ValueError(f"expr must be one-dimensional [N], got shape {list(array.shape)}")
        if array.dtype.kind in "iu":
            return _check_indices(array.astype(np.int64), vocabulary)
        if array.dtype.kind not in "OUS":
            raise ValueError(
                f"expr must hold integer indices or canonical names, got dtype {array.dtype}"
            )
        items: Sequence[Any] = array.tolist()
    else:
        items = list(expr)
    if all(item is None or isinstance(item, str) for item in items):
        position = {name: i for i, name in enumerate(vocabulary)}
        out = np.full(len(items), -1, dtype=np.int64)
        for n, item in enumerate(items):
            if item is not None:
                out[n] = position.get(check_expression(item), -1)
        return out
    if all(isinstance(item, int | np.integer) and not isinstance(item, bool) for item in items):
        return _check_indices(np.asarray(items, dtype=np.int64).reshape(-1), vocabulary)
    raise ValueError("expr must hold integer indices or canonical names (None = unlabelled)")


def _check_indices(index: np.ndarray, vocabulary: Sequence[str]) -> np.ndarray:
    too_large = index >= len(vocabulary)
    if too_large.any():
        n = int(np.flatnonzero(too_large)[0])
        raise ValueError(
            f"expression index {int(index[n])} at sample {n} is outside the vocabulary "
            f"{list(vocabulary)} (negative = unlabelled)"
        )
    return np.where(index < 0, -1, index)
