"""Out-of-core entropy and dH: descriptor sets on the host (NumPy arrays or memory
maps of ``.npy`` files, see :mod:`quests_jax.storage`) sent to the device in chunks.

Chunks of queries meet chunks of references; partial log kernel sums are combined in
log space (``logaddexp``), so results equal the in-memory functions to rounding and
device memory is O(chunk_rows * d + block^2) whatever the data size. Every chunk is
padded to one shape (one compilation). A progress bar with the time remaining is
shown on a terminal.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .information import DEFAULT_BANDWIDTH, _as_bandwidths, _shape_out
from .kernels import log_kernel_sums
from .progress import Progress
from .validation import check_finite_rows

DEFAULT_CHUNK_ROWS = 1 << 16


def _check_rows(a, name: str) -> None:
    if getattr(a, "ndim", None) != 2:
        raise ValueError(f"{name} must be a 2-D (n_environments, width) array")
    if a.shape[0] == 0:
        raise ValueError(f"{name} is empty: it needs at least one environment")


def _balanced(n: int, chunk: int) -> int:
    """Rows per chunk: at most ``chunk``, a multiple of 8, chunks of equal size (the
    padding of the last one, computed for nothing, stays under 8 rows per chunk)."""
    n_chunks = -(-n // chunk)
    return -(-n // (8 * n_chunks)) * 8


def _chunks(a, chunk: int, dtype, name: str):
    """(start, padded chunk on device, valid mask) over the rows of a host array;
    rows are checked for NaN/inf as they arrive."""
    for start in range(0, a.shape[0], chunk):
        part = np.asarray(a[start : start + chunk], dtype=dtype)
        check_finite_rows(part, name, first_row=start)
        n = part.shape[0]
        if n < chunk:
            part = np.concatenate([part, np.zeros((chunk - n, part.shape[1]), dtype)])
        yield start, n, jnp.asarray(part), jnp.asarray(np.arange(chunk) < n)


@functools.partial(jax.jit, static_argnames=("block", "wide"))
def _accumulate(acc, y, y_mask, x, x_mask, h, *, block, wide):
    part = log_kernel_sums(y, x, h, y_mask=y_mask, x_mask=x_mask, block_size=block, wide=wide)
    return jnp.logaddexp(acc, part)


def _log_sums(y, x, h, block, chunk, label, progress, wide, y_name="y"):
    """log sum_j K(y_i, x_j) over host arrays, chunk by chunk: (M, H) NumPy."""
    dtype = np.dtype(jnp.dtype(h.dtype))
    cy, cx = _balanced(y.shape[0], chunk), _balanced(x.shape[0], chunk)
    n_y, n_x = -(-y.shape[0] // cy), -(-x.shape[0] // cx)
    x_resident = list(_chunks(x, cx, dtype, "x")) if n_x == 1 else None
    out = np.empty((y.shape[0], h.shape[0]), dtype)
    with Progress(n_y * n_x, label, unit="chunk pairs", enabled=progress) as bar:
        for start, n, yc, ym in _chunks(y, cy, dtype, y_name):
            acc = jnp.full((cy, h.shape[0]), -jnp.inf, yc.dtype)
            for _, _, xc, xm in x_resident or _chunks(x, cx, dtype, "x"):
                acc = _accumulate(acc, yc, ym, xc, xm, h, block=block, wide=wide)
                bar.update()
            out[start : start + n] = np.asarray(acc)[:n]
    return out


def delta_entropy(
    y,
    x,
    h=DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: bool | None = None,
):
    """dH(y | X) for host-resident (e.g. memory-mapped) y (M, d) and x (N, d).

    Returns a NumPy (M,) or (M, H) array in the working dtype (float32 unless x64).
    """
    _check_rows(y, "y")
    _check_rows(x, "x")
    if y.shape[1] != x.shape[1]:
        raise ValueError(
            f"mismatched descriptor widths: y has {y.shape[1]} columns, x has {x.shape[1]}"
        )
    if chunk_rows < 8:
        raise ValueError(f"chunk_rows must be >= 8, got {chunk_rows}")
    hs, vector = _as_bandwidths(h, jnp.result_type(float))
    log_p = _log_sums(y, x, hs, batch_size, chunk_rows, "dH", progress, wide=True)
    return _shape_out(-log_p, vector)


def entropy_and_diversity(
    x,
    h=DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: bool | None = None,
):
    """Entropy and diversity of host-resident (e.g. memory-mapped) x (N, d): (H, D)."""
    _check_rows(x, "x")
    if chunk_rows < 8:
        raise ValueError(f"chunk_rows must be >= 8, got {chunk_rows}")
    hs, vector = _as_bandwidths(h, jnp.result_type(float))
    log_p = _log_sums(x, x, hs, batch_size, chunk_rows, "entropy", progress, wide=False, y_name="x")
    n = x.shape[0]
    ent = np.log(n) - log_p.astype(np.float64).mean(axis=0)
    div = np.asarray(jax.nn.logsumexp(-log_p, axis=0))
    return _shape_out(ent.astype(log_p.dtype), vector), _shape_out(div, vector)
