"""Input conversion and masking shared by the metric modules.

Metrics accept numpy arrays, (nested) lists and torch tensors. torch is never imported here: a
tensor is recognised by its ``detach`` method and copied to a CPU numpy array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ArrayLike", "as_array", "as_mask", "first_bad"]

#: Anything a metric accepts as an array: a numpy array, a (nested) list or a torch tensor.
ArrayLike = Any


def as_array(x: ArrayLike, name: str) -> np.ndarray:
    """Convert ``x`` to a numeric numpy array (torch tensors are detached and moved to the CPU).

    Raises:
        TypeError: ``x`` is None.
        ValueError: ``x`` does not hold numbers or booleans (strings, ragged lists).
    """
    if x is None:
        raise TypeError(f"{name}: expected an array, got None")
    if hasattr(x, "detach"):  # a torch tensor; torch stays an optional import
        tensor = x.detach().cpu()
        if tensor.is_floating_point():
            tensor = tensor.double()  # numpy has no bfloat16
        x = tensor.numpy()
    try:
        arr = np.asarray(x)
    except ValueError as err:  # ragged nested lists
        raise ValueError(f"{name}: expected a rectangular array, got {type(x).__name__}") from err
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected numbers, got an array of dtype {arr.dtype}")
    return arr


def as_mask(mask: ArrayLike | None, shape: tuple[int, ...], name: str = "mask") -> np.ndarray:
    """A boolean validity mask broadcast to ``shape``.

    Args:
        mask: None (everything valid), or booleans (or 0/1 numbers) of shape ``shape`` or of a
            leading part of it, e.g. one flag per frame ``[N]`` for data of shape ``[N, D]``.
        shape: the shape of the data the mask applies to.
        name: the argument name used in error messages.

    Returns:
        A (possibly read-only) boolean array of shape ``shape``; True marks valid entries.
    """
    if mask is None:
        return np.ones(shape, dtype=bool)
    arr = as_array(mask, name)
    if arr.dtype != bool:
        if not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name}: expected booleans or 0/1, got values {np.unique(arr)[:5]}")
        arr = arr.astype(bool)
    if arr.shape != shape[: arr.ndim] or arr.ndim == 0:
        allowed = " or ".join(str(shape[:k]) for k in range(len(shape), 0, -1))
        raise ValueError(f"{name}: expected shape {allowed}, got {arr.shape}")
    arr = arr.reshape(arr.shape + (1,) * (len(shape) - arr.ndim))
    return np.broadcast_to(arr, shape)


def first_bad(values: np.ndarray, bad: np.ndarray) -> str:
    """Describe the first entry of ``values`` where ``bad`` is True, for error messages."""
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    where = index[0] if len(index) == 1 else index
    count = int(bad.sum())
    entries = "entry" if count == 1 else "entries"
    return f"{values[index].item()!r} at index {where} ({count} such {entries})"
