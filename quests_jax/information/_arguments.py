"""Argument handling shared by the quantities' paths (in memory, streamed, sharded):
the defaults, the bandwidths, the shape of a result."""

from __future__ import annotations

import jax
import numpy as np

from .._core.errors import InputTypeError, InputValueError
from .execution import is_traced

DEFAULT_BANDWIDTH = 0.015
"""The paper's bandwidth h (1/A), for dense solids (see the theory page for others)."""
DEFAULT_EPS = 1e-5
"""dH below which an environment counts as covered, in :func:`overlap` (nats)."""


def as_bandwidths(h, dtype):
    """(bandwidths (H,), whether h was a vector): a host array unless h is traced."""
    if isinstance(h, bool) or (not is_traced(h) and np.asarray(h).dtype.kind not in "fiu"):
        raise InputTypeError(f"h must be a number or a 1-D array of numbers (1/A), got {h!r}")
    arr = h if is_traced(h) else np.asarray(h, dtype)
    if arr.ndim > 1 or arr.size == 0:
        raise InputValueError(
            f"h must be a positive number or a 1-D array of them, not shape {arr.shape}"
        )
    value = None if is_traced(h) else arr
    if value is not None and not (np.isfinite(value).all() and (value > 0).all()):
        raise InputValueError(f"h must be > 0 and finite (bandwidth in 1/A), got {value}")
    return arr.reshape(-1), arr.ndim == 1


def shape_out(values, vector: bool):
    """Drop the trailing bandwidth axis for a scalar h; a host result becomes a JAX
    array here, at the very end (a copy: no compiled program depends on its shape)."""
    values = values if vector else values[..., 0]
    return jax.device_put(values) if isinstance(values, np.ndarray | np.generic) else values
