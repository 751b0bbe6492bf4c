"""Numerical precision: matmuls at HIGHEST precision (float32 stays float32 on GPUs
with TF32 and on TPUs, where the default is bfloat16 passes), and the dtype policy.

Dtype policy: descriptor rows are float32 unless the caller asks for float64
(``dtype="float64"``, computed under :func:`x64_scope`); an information function
computes in the dtype of its input rows; tools that build rows themselves use
:func:`default_dtype`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import jax
import numpy as np

from .errors import InputValueError

HIGHEST = jax.lax.Precision.HIGHEST


def resolve_dtype(dtype) -> np.dtype:
    """``dtype`` (a name or a NumPy dtype) checked to be float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise InputValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return dt


def default_dtype() -> type[np.floating]:
    """float64 when 64-bit JAX is on, else float32: the rows tools build themselves."""
    return np.float64 if jax.config.jax_enable_x64 else np.float32


def x64_scope(dtype) -> AbstractContextManager:
    """A scope with 64-bit JAX on when ``dtype`` is float64 (a no-op otherwise), so a
    float64 request works without the caller's global ``jax_enable_x64``."""
    return jax.enable_x64(True) if np.dtype(dtype) == np.float64 else nullcontext()
