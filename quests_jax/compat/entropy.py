"""``quests.entropy`` on quests_jax (see :mod:`quests_jax.compat`).

Argument names and orders are the reference's: ``kernel_sum(x, y)`` sums the kernel
of each row of ``x`` over the rows of ``y``; ``delta_entropy(y, x)`` is dH(y | x).
``batch_size`` is accepted and has no effect on the results (quests_jax picks its
own block size). Results are NumPy: floats for one bandwidth, arrays otherwise.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .. import information as _info
from ._results import as_reference, bandwidths, result_dtype
from ._underflow import mirror_delta_entropy, mirror_kernel_sums, reference_sumexp

DEFAULT_BANDWIDTH = 0.015
DEFAULT_BATCH = 20000
DEFAULT_UQ_NBRS = 3
DEFAULT_GRAPH_NBRS = 10


def _rows(a):
    """Rows in the dtype the reference computes in (integers float64, float16
    float32: the library's arrays are floating point)."""
    a = np.asarray(a)
    return a.astype(result_dtype(a.dtype), copy=False)


def perfect_entropy(x, h=DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH):
    """Entropy H (nats), as :func:`entropy` (the reference's alias)."""
    return entropy(x, h, batch_size)


def entropy(x, h=DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH):
    """Information entropy H of the rows of x (nats): a float, or (H,) for an array h."""
    del batch_size
    x = _rows(x)
    return as_reference(_info.entropy(x, bandwidths(h)), x.dtype)


def diversity(x, h=DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH):
    """Diversity D = log sum_i 1 / p(x_i): a float, or (H,) for an array h."""
    del batch_size
    x = _rows(x)
    return as_reference(_info.diversity(x, bandwidths(h)), x.dtype)


def delta_entropy(y, x, h=DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH):
    """dH(y | x) of each row of y (nats): (M,), or (M, H) for an array h; +inf where
    the reference's kernel sum underflows in the rows' dtype (see ``_underflow``)."""
    del batch_size
    y, x = _rows(y), _rows(x)
    dh = as_reference(_info.delta_entropy(y, x, bandwidths(h)), y.dtype)
    return mirror_delta_entropy(dh, y, x, h, y.dtype)


def get_all_metrics(x, h=DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH):
    """(entropy, diversity, dH of every row against all rows) in one pass."""
    del batch_size
    x = _rows(x)
    ent, div, dh = _info.get_all_metrics(x, bandwidths(h))
    return as_reference(ent, x.dtype), as_reference(div, x.dtype), as_reference(dh, x.dtype)


def kernel_sum(x, y, h=DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH):
    """sum_j K(x_i, y_j): (M,) (underflows to 0 far from y, as the reference's)."""
    del batch_size
    x, y = _rows(x), _rows(y)
    p = as_reference(_info.kernel_sum(x, y, bandwidths(h)), x.dtype)
    return mirror_kernel_sums(p, x, y, h, x.dtype)


def kernel_sum_multi_bandwidth(x, y, h=DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH):
    """sum_j K(x_i, y_j) for each bandwidth: (M, H)."""
    del batch_size
    x, y = _rows(x), _rows(y)
    h = np.atleast_1d(np.asarray(h, dtype=float))
    p = as_reference(_info.kernel_sum(x, y, h), x.dtype).reshape(x.shape[0], -1)
    return mirror_kernel_sums(p, x, y, h, x.dtype)


def weighted_kernel_sum(x, y, w, h=DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH):
    """(sum_j w_j K_ij / sum_j K_ij, sum_j K_ij) for each row of x: two (M,) arrays
    (nan and 0 where the reference's sums underflow)."""
    del batch_size
    x, y = _rows(x), _rows(y)
    q, p = _info.weighted_kernel_sum(x, y, np.asarray(w), bandwidths(h))
    q, p = as_reference(q, x.dtype), as_reference(p, x.dtype)
    return mirror_kernel_sums(p, x, y, h, x.dtype, q=q, w=w)


def weighted_kernel_sum_multi_bandwidth(
    x, y, w, h=DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH
):
    """:func:`weighted_kernel_sum` for each bandwidth: two (M, H) arrays."""
    del batch_size
    x, y = _rows(x), _rows(y)
    h = np.atleast_1d(np.asarray(h, dtype=float))
    q, p = _info.weighted_kernel_sum(x, y, np.asarray(w), h)
    n = x.shape[0]
    q, p = as_reference(q, x.dtype).reshape(n, -1), as_reference(p, x.dtype).reshape(n, -1)
    return mirror_kernel_sums(p, x, y, h, x.dtype, q=q, w=w)


def get_bandwidth(volume: float, method: str = "gaussian"):
    """Bandwidth h (1/A) for a volume per atom (A^3/atom)."""
    return as_reference(_info.get_bandwidth(volume, method))


def approx_delta_entropy(
    y,
    x,
    h=DEFAULT_BANDWIDTH,
    n: int = DEFAULT_UQ_NBRS,
    graph_neighbors: int = DEFAULT_GRAPH_NBRS,
    **kwargs,
):
    """dH from the n nearest rows of x: (M,), or (H, M) for an array h, as the
    reference (its pynndescent keywords are accepted; the search here is exact).

    The sum over those n is the reference's own arithmetic on float32 distances (what
    pynndescent returns): float32 results for a number h (whatever the rows' dtype),
    the rows' dtype for an array h, and +inf where every term underflows."""
    del graph_neighbors, kwargs
    y = _rows(y)
    if isinstance(h, list | tuple):
        h = np.asarray(h, dtype=float)
    _, d = nearest_rows(y, x, int(n))
    d = d.astype(np.float32)
    if isinstance(h, np.ndarray) and h.ndim == 1:
        p = np.zeros((h.shape[0], y.shape[0]), dtype=y.dtype)
        for i, h_i in enumerate(h):
            p[i] = reference_sumexp(-0.5 * (d / h_i) ** 2)
    else:
        p = reference_sumexp(-0.5 * (d / h) ** 2)
    return -np.log(p)


def nearest_rows(y, x, n: int):
    """(indices (M, n), distances (M, n)) of the n nearest rows of x to each row of y,
    ascending, exact (pynndescent's ``query`` order of results)."""
    y = jnp.asarray(np.asarray(y, np.result_type(_rows(y), _rows(x))))  # float32 unless x64
    x = jnp.asarray(_rows(x), y.dtype)
    d2, index = _info.nearest_sq_distances(y, x, int(n), return_index=True)
    return np.asarray(index, dtype=np.int64), np.sqrt(np.maximum(np.asarray(d2), 0))


def find_equal(x, y, batch_size: int = DEFAULT_BATCH, eps: float = 1e-5):
    """(N,) for each row of y, the index of a row of x closer than ``eps`` (the
    nearest one; the reference returns any), or -1."""
    del batch_size
    index, distance = nearest_rows(y, x, 1)
    return np.where(distance[:, 0] < eps, index[:, 0], -1).astype(np.int64)
