"""The reference's arithmetic where its kernel sums underflow.

The reference computes p(y_i) = sum_j exp(-|y_i - x_j|^2 / 2h^2) in the dtype of its
inputs and dH = -log p: an environment far from every reference row gets p = 0 and
dH = +inf (float32: from dH ~ 104 nats on, where exp underflows below the smallest
subnormal; float64: from ~745), and between the smallest normal and subnormal
numbers its p keeps only a few bits. quests_jax's native sums are taken in log space
and stay finite and exact there.

compat mirrors the reference: rows whose exact log p is within HEADROOM nats of the
dtype's smallest normal number are recomputed here with the reference's own steps
(distances as its ``cdist``, stored in the dtype; the exponent and its exp in
float64, as numba types ``dist / h``; the sum rounded to the dtype, which keeps
subnormal values and gives 0 below them). Every other row is untouched: there the
reference's sum is a normal number and the two agree to the dtype's rounding.
(``approx_delta_entropy``'s sum, over float32 distances, is ``quests.matrix.sumexp``
in the dtype of its exponents: :func:`reference_sumexp`.)

The distances are the reference's too (|x|^2 + |y|^2 - 2 x.y with the dot products
in the dtype), but BLAS may add a dot product's terms in another order than in the
reference's process: a row whose sum lies within a few roundings of the underflow
boundary may, rarely, fall on the other side of it.
"""

from __future__ import annotations

import numpy as np

HEADROOM = 20.0  # nats below the smallest normal log p at which rows are recomputed
_ROW_BLOCK = 256  # rows of y, and
_COLUMN_BLOCK = 4096  # rows of x at a time: temporaries of 8 MiB in float64


def reference_sumexp(z: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """``quests.matrix.sumexp`` (and ``wsumexp`` with weights ``w``): the exp of each
    entry of z (M, N) in z's dtype, summed over axis 1 in float64, in z's dtype."""
    terms = np.exp(z)
    if w is not None:
        terms = terms * w
    return terms.sum(axis=1, dtype=np.float64).astype(z.dtype)


def _norms(a: np.ndarray) -> np.ndarray:
    """``quests.matrix.norm``: squares in the rows' dtype, summed in float64, stored
    in the rows' dtype."""
    return (a * a).sum(axis=1, dtype=np.float64).astype(a.dtype)


def _distances(y: np.ndarray, x: np.ndarray, y_sq: np.ndarray, x_sq: np.ndarray):
    """``quests.matrix.cdist``: |y|^2 + |x|^2 - 2 y.x with the dot product and norms
    in the rows' dtype and the sum in float64, its square root stored in the dtype."""
    dot = y @ x.T
    d2 = -2.0 * dot.astype(np.float64) + y_sq[:, None] + x_sq[None, :]
    return np.sqrt(np.maximum(d2, 0.0)).astype(y.dtype)


def reference_kernel_sums(y, x, h: float, dtype) -> np.ndarray:
    """p (M,) = sum_j exp(-|y_i - x_j|^2 / 2h^2) of the rows y (M, d) over x (N, d), as
    the reference computes it in ``dtype`` (distances as its ``cdist``, in the dtype;
    the exponent and its exp in float64, as numba types ``dist / h``; the sum rounded
    to the dtype)."""
    return reference_weighted_kernel_sums(y, x, h, dtype, None)[0]


def reference_weighted_kernel_sums(y, x, h: float, dtype, w) -> tuple[np.ndarray, np.ndarray]:
    """(p, wp): :func:`reference_kernel_sums` and, with weights w (N,) (or None: zeros),
    sum_j w_j exp(-|y_i - x_j|^2 / 2h^2) as the reference's ``wsumexp``."""
    dtype = np.dtype(dtype)
    y = np.asarray(y, dtype)
    x = np.asarray(x, dtype)
    y_sq, x_sq = _norms(y), _norms(x)
    w = None if w is None else np.asarray(w, dtype)
    p = np.zeros(y.shape[0], np.float64)
    wp = np.zeros(y.shape[0], np.float64)
    for lo in range(0, y.shape[0], _ROW_BLOCK):
        rows = slice(lo, lo + _ROW_BLOCK)
        for start in range(0, x.shape[0], _COLUMN_BLOCK):
            cols = slice(start, start + _COLUMN_BLOCK)
            z = _distances(y[rows], x[cols], y_sq[rows], x_sq[cols]) / np.float64(h)
            z = -0.5 * z**2
            p[rows] += reference_sumexp(z)
            if w is not None:
                wp[rows] += reference_sumexp(z, w[cols])
    return p.astype(dtype), wp.astype(dtype)


def smallest_exact_p(dtype) -> float:
    """Kernel sums above this are normal numbers in ``dtype``, with HEADROOM nats to spare."""
    return float(np.finfo(dtype).tiny) * float(np.exp(HEADROOM))


def _computed_in(dtype) -> np.dtype:
    """The dtype quests_jax's native sums are taken in: float32 unless JAX's x64 mode is on."""
    import jax

    return np.dtype(dtype) if jax.config.read("jax_enable_x64") else np.dtype(np.float32)


def mirror_delta_entropy(dh: np.ndarray, y, x, h, dtype) -> np.ndarray:
    """dH (M,) or (M, H) with the rows where the reference's sum underflows recomputed
    with its arithmetic (+inf where it is zero); ``h`` a number or an (H,) array."""
    limit = -np.log(smallest_exact_p(dtype))
    bandwidths = np.atleast_1d(np.asarray(h, np.float64))
    columns = dh.reshape(dh.shape[0], -1)
    far = columns > limit
    if not far.any():
        return dh
    out = columns.copy()
    for c, h_c in enumerate(bandwidths):
        rows = np.flatnonzero(far[:, c])
        if rows.size:
            p = reference_kernel_sums(np.asarray(y)[rows], x, float(h_c), dtype)
            out[rows, c] = -np.log(p)  # -log(0) = +inf, with NumPy's warning, as the reference
    return out.reshape(dh.shape)


def mirror_kernel_sums(p: np.ndarray, y, x, h, dtype, q=None, w=None):
    """Kernel sums p (M,) or (M, H), and with weights the weighted means q = wp / p,
    where they come near underflow recomputed with the reference's arithmetic."""
    bandwidths = np.atleast_1d(np.asarray(h, np.float64))
    p_columns = p.reshape(p.shape[0], -1)
    # the native sums are exponentials of exact log sums: below the smallest normal
    # number of the dtype they are computed in, they flush to zero
    smallest = max(smallest_exact_p(dtype), smallest_exact_p(_computed_in(dtype)))
    near = p_columns.astype(np.float64) < smallest
    if not near.any():
        return p if q is None else (q, p)
    p_out = p_columns.copy()
    q_out = None if q is None else q.reshape(q.shape[0], -1).copy()
    for c, h_c in enumerate(bandwidths):
        rows = np.flatnonzero(near[:, c])
        if not rows.size:
            continue
        y_rows = np.asarray(y)[rows]
        if q_out is None:
            p_out[rows, c] = reference_kernel_sums(y_rows, x, float(h_c), dtype)
        else:
            p_c, wp_c = reference_weighted_kernel_sums(y_rows, x, float(h_c), dtype, w)
            p_out[rows, c] = p_c
            with np.errstate(invalid="ignore", divide="ignore"):
                q_out[rows, c] = wp_c / p_c  # 0 / 0 = nan, as the reference
    if q_out is None:
        return p_out.reshape(p.shape)
    return q_out.reshape(q.shape), p_out.reshape(p.shape)
