"""Results as the reference returns them: NumPy arrays and NumPy floats."""

from __future__ import annotations

import numpy as np


def result_dtype(dtype) -> np.dtype:
    """The dtype the reference computes and returns results in for inputs of
    ``dtype``: float32 and float64 as they are; integers and booleans (which the
    reference's numba code refuses) float64; float16 (refused too) float32. Results
    are never cast to an integer or half dtype (dH of integer rows came out as ints)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f" and dtype.itemsize >= 4:
        return dtype.newbyteorder("=")
    return np.dtype(np.float32 if dtype.kind == "f" else np.float64)


def as_reference(value, dtype=None):
    """A result as the reference returns it: a 0-d one as a NumPy float scalar
    (``np.float64``, a Python ``float`` too, or ``np.float32`` for float32 inputs),
    any other as a NumPy array; of :func:`result_dtype` of the inputs' ``dtype`` when
    given."""
    array = np.asarray(value)
    target = None if dtype is None else result_dtype(dtype)
    if array.ndim == 0:
        return np.float64(array) if target is None else target.type(array)
    return array.astype(target, copy=False) if target is not None else array


def bandwidths(h):
    """The reference's h: a number, or an array (a list is taken as one too)."""
    return np.asarray(h, dtype=float) if isinstance(h, list | tuple | np.ndarray) else float(h)


def frame_count(size, n_frames: int) -> int:
    """Frames the reference's greedy loops select for ``size``: they add frames
    ``while len(selected) < size``, so size is a count (0.5 selects one frame)."""
    return int(min(n_frames, max(1, np.ceil(size))))
