"""Results as the reference returns them: NumPy arrays and NumPy floats."""

from __future__ import annotations

import numpy as np


def as_reference(value, dtype=None):
    """A 0-d result as ``np.float64`` (a Python ``float`` too), any other as a NumPy
    array (of ``dtype`` when given)."""
    array = np.asarray(value)
    if array.ndim == 0:
        return np.float64(array)
    return array.astype(dtype, copy=False) if dtype is not None else array


def bandwidths(h):
    """The reference's h: a number, or an array (a list is taken as one too)."""
    return np.asarray(h, dtype=float) if isinstance(h, list | tuple | np.ndarray) else float(h)


def frame_count(size, n_frames: int) -> int:
    """Frames the reference's greedy loops select for ``size``: they add frames
    ``while len(selected) < size``, so size is a count (0.5 selects one frame)."""
    return int(min(n_frames, max(1, np.ceil(size))))
