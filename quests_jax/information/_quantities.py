"""Information entropy, diversity and differential entropy of descriptor sets.

Same names and argument order as the reference ``quests.entropy``, so that migrating
is an import change. With K(x, y) = exp(-|x - y|^2 / (2 h^2)):

* entropy       H = -(1/N) sum_i log((1/N) sum_j K(x_i, x_j))   (nats; 0 <= H <= log N)
* diversity     D = log sum_i 1 / sum_j K(x_i, x_j)
* delta_entropy dH(y | X) = -log sum_j K(y, x_j)   (per environment; finite far away)
* overlap       fraction of y with dH(y | X) < eps

``h`` may be a number or a 1-D array of bandwidths: vector results then carry a
trailing bandwidth axis ((H,) for H and D, (M, H) per environment; the reference's
``approx_delta_entropy`` alone returns (H, M)). Results are JAX arrays in the dtype
of the descriptors (float32 unless x64 is enabled).

All functions are pure and work under ``jit`` and ``vmap`` (``batch_size`` static);
with concrete inputs they first check them and raise ``ValueError`` naming the bad
argument.
"""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .._core.array_types import (
    Bandwidths,
    Execution,
    PerRow,
    QueryMask,
    QueryRows,
    RowMask,
    Rows,
)
from .._core.errors import InputTypeError, InputValueError
from .._core.npy_files import read_rows
from .._core.validation import (
    check_block_size,
    check_finite_dh,
    check_finite_rows,
    check_scale,
    native_byte_order,
)
from . import _engine as engine
from ._arguments import DEFAULT_BANDWIDTH, DEFAULT_EPS, as_bandwidths, shape_out
from ._kernels import (
    entropy_diversity_from_log_p,
    log_kernel_from_sq_distances,
    log_kernel_sums,
    nearest_sq_distances,
    self_kernel_sums,
)
from .execution import choose, is_traced

DEFAULT_APPROX_NEIGHBORS = 3
"""Nearest references summed by :func:`approx_delta_entropy`."""
# here so that the CLI's options need not import the generation code
DEFAULT_TARGET = 30.0
"""Target dH of the Monte Carlo generation (:func:`quests_jax.tools.monte_carlo`), nats:
the reference's default."""


# --------------------------------------------------------------------------------------
# argument handling


def _as_descriptors(a, name: str):
    """Checked descriptors: the traced array itself under jit / vmap / grad, otherwise
    a host array (NumPy, or the memory map itself) in the working dtype (float32, or
    float64 with x64 enabled), checked for NaN / inf on the host (no device program
    depends on its number of rows)."""
    traced = is_traced(a)
    if not traced:
        a = native_byte_order(a if isinstance(a, np.memmap) else np.asarray(a))
    if getattr(a, "ndim", None) != 2:
        raise InputValueError(
            f"{name} must be a 2-D (n_environments, width) array, got shape {np.shape(a)}"
        )
    if a.shape[0] == 0:
        raise InputValueError(f"{name} is empty: it needs at least one environment")
    if a.dtype.kind == "c":
        raise InputTypeError(f"{name} must be real descriptors, got complex dtype {a.dtype}")
    if not traced and a.dtype.kind not in "fiub":
        try:
            a = np.asarray(a, np.float64)
        except (TypeError, ValueError):
            raise InputTypeError(f"{name} must be a numeric array, got dtype {a.dtype}") from None
    floating = jnp.issubdtype(a.dtype, jnp.floating)
    if traced:
        return a if floating else a.astype(jnp.result_type(float))
    # half precision cannot hold kernel sums: computed in float32
    work = a.dtype if floating and a.dtype.itemsize >= 4 else np.float64
    work = jax.dtypes.canonicalize_dtype(work)
    if a.dtype != work:
        a = np.asarray(a, work)
    for start in range(0, a.shape[0], engine.HOST_CHUNK_ROWS):
        check_finite_rows(read_rows(a, start, start + engine.HOST_CHUNK_ROWS), name, start)
    return a


def _as_mask(mask, n: int, name: str):
    """(n,) bool: a host array unless ``mask`` is traced."""
    if mask is None:
        return None
    traced = is_traced(mask)
    mask = mask.astype(bool) if traced else np.asarray(mask, bool)
    if mask.shape != (n,):
        raise InputValueError(f"{name} must have shape ({n},), got {mask.shape}")
    if not traced and not mask.any():
        raise InputValueError(f"{name} selects no environment")
    return mask


def _check_widths(queries, width: int, names=("y", "x")) -> None:
    """Queries of the references' width (``names``: the user's names of both)."""
    if queries.shape[1] != width:
        raise InputValueError(
            f"mismatched descriptor widths: {names[0]} has {queries.shape[1]} columns, "
            f"{names[1]} has {width} (were they made with the same k, or one "
            "multicomponent?)"
        )


def _with_masked_rows(log_p, y_mask, n: int):
    """log sums (m, H) of the valid queries placed among all n rows, -inf (an empty
    sum) on masked ones."""
    if y_mask is None:
        return log_p
    full = np.full((n, log_p.shape[1]), -np.inf)
    full[y_mask] = log_p
    return full


def _descriptor_pair(queries, refs, names=("y", "x")):
    """(queries, refs) checked as descriptors of one width; ``names`` are the user's
    argument names (``y, x`` for dH, ``x, y`` for the kernel sums, as the reference)."""
    queries = _as_descriptors(queries, names[0])
    refs = _as_descriptors(refs, names[1])
    _check_widths(queries, refs.shape[1], names)
    return queries, refs


def _xp(values):
    """NumPy for host results, jax.numpy for traced ones: element-wise work on a host
    result must not compile a program for its shape."""
    return np if isinstance(values, np.ndarray) else jnp


def _host_result(values, dtype):
    """A host result in the working dtype (it stays on the host until shape_out)."""
    return np.asarray(values).astype(dtype)


# --------------------------------------------------------------------------------------
# the front door: every dataset-level quantity goes through one of these two, which
# run the path quests_jax.information.execution.choose picks (traced scans, block engine, sharded)


def _self_quantities(x, h, mask, block_size, execution, per_row=False):
    """(entropy (H,), diversity (H,), -log p (N, H) or None) of one set; -log p
    (every row's dH against the set, +inf on masked rows) only with ``per_row``."""
    block_size = check_block_size(block_size)
    how = choose([x, mask], execution)
    if how == "traced":
        ent, div, dh = _self_metrics(x, h, mask, block_size=block_size, wide=per_row)
        return ent, div, (dh if per_row else None)
    rows = x if mask is None else x[mask]
    reach = engine.host_max_abs(rows)
    check_scale(reach, h, x.shape[1], x.dtype)
    if how == "sharded" and not per_row:
        from . import sharded

        return (*sharded.entropy_and_diversity(rows, h, block_size), None)
    sums = engine.self_sums(
        rows,
        np.asarray(h),
        block_size=block_size,
        wide=per_row,
        resident=how != "streamed",
        reach=reach,
    )
    log_p = np.log(sums.astype(np.float64))
    ent = np.log(log_p.shape[0]) - log_p.mean(axis=0)
    top = (-log_p).max(axis=0)
    div = top + np.log(np.exp(-log_p - top).sum(axis=0))
    dh = None
    if per_row:
        dh = _host_result(-_with_masked_rows(log_p, mask, x.shape[0]), x.dtype)
    return _host_result(ent, x.dtype), _host_result(div, x.dtype), dh


def _cross_log_sums(y, x, h, y_mask, x_mask, block_size, execution, weights=None):
    """log sum_j K(y_i, x_j) (M, H), -inf on masked rows of y; with ``weights`` (N,)
    also the kernel-weighted means (M, H)."""
    block_size = check_block_size(block_size)
    how = choose([y, x, y_mask, x_mask, weights], execution)
    if how == "traced":
        if weights is None:
            return _log_sums(y.astype(x.dtype), x, h, y_mask, x_mask, block_size=block_size)
        return _weighted(y.astype(x.dtype), x, weights, h, block_size=block_size)
    y = np.asarray(y, x.dtype) if not isinstance(y, np.memmap) else y
    ys = y if y_mask is None else y[y_mask]
    xs = x if x_mask is None else x[x_mask]
    reach_y, reach_x = engine.host_max_abs(ys), engine.host_max_abs(xs)
    name = "y" if reach_y > reach_x else "x"
    check_scale(max(reach_y, reach_x), h, x.shape[1], x.dtype, name)
    means = None
    if how == "sharded" and weights is None:
        from . import sharded

        rows_y = sharded.shard_rows(ys, name="y")
        log_p = -sharded.all_values(sharded.delta_entropy(rows_y, xs, h, block_size), rows_y)
        log_p = log_p.reshape(log_p.shape[0], -1)
    else:
        w = None if weights is None else np.asarray(weights)
        if w is not None and x_mask is not None:
            w = w[x_mask]
        out = engine.log_sums(
            ys,
            xs,
            np.asarray(h),
            weights=w,
            block_size=block_size,
            resident=how != "streamed",
            reach=max(reach_y, reach_x),
        )
        log_p, means = out if weights is not None else (out, None)
    check_finite_dh(log_p, "dH of y against x", x.dtype)
    log_p = _host_result(_with_masked_rows(log_p, y_mask, y.shape[0]), x.dtype)
    return log_p if weights is None else (log_p, _host_result(means, x.dtype))


# --------------------------------------------------------------------------------------
# jitted cores (block size static)


@functools.partial(jax.jit, static_argnames=("block_size", "wide"))
def _self_metrics(x, h, mask, *, block_size, wide=False):
    """(entropy (H,), diversity (H,), -log p (N, H)) from one pass; ``wide`` for
    per-row accuracy of -log p in float32 (see :mod:`quests_jax.information._kernels`)."""
    log_p = jnp.log(self_kernel_sums(x, h, mask=mask, block_size=block_size, wide=wide))
    valid = jnp.ones(x.shape[0], bool) if mask is None else mask
    entropy, diversity = entropy_diversity_from_log_p(log_p, valid)
    return entropy, diversity, jnp.where(valid[:, None], -log_p, jnp.inf)


@functools.partial(jax.jit, static_argnames=("block_size",))
def _log_sums(y, x, h, y_mask, x_mask, *, block_size):
    return log_kernel_sums(y, x, h, y_mask=y_mask, x_mask=x_mask, block_size=block_size)


@functools.partial(jax.jit, static_argnames=("block_size",))
def _weighted(y, x, w, h, *, block_size):
    return log_kernel_sums(y, x, h, weights=w, block_size=block_size)


@functools.partial(jax.jit, static_argnames=("n", "block_size"))
def _approx(y, x, h, *, n, block_size):
    d2 = nearest_sq_distances(y, x, n, block_size=block_size)
    return -log_kernel_from_sq_distances(d2, h)


# --------------------------------------------------------------------------------------
# public API


class BandwidthWarning(UserWarning):
    """An entropy at its ceiling log N, or near 0: the bandwidth h does not fit the data."""


SATURATION = 0.01  # within 1% of log N, or below 1% of it, an entropy says more of h


def warn_if_bandwidth_misfits(entropies, n_rows: int, h, *, stacklevel: int = 3) -> None:
    """Warn (:class:`BandwidthWarning`) for each entropy within 1% of its ceiling
    log N (every environment alone within h: the bandwidth is too small for the data)
    or below 1% of it (near 0: one environment, or h too large). Silent under
    tracing and for arrays this process cannot read whole."""
    if n_rows < 2 or is_traced(entropies) or jax.process_count() > 1:
        return
    try:
        values = np.atleast_1d(np.asarray(entropies, dtype=float))
    except Exception:  # noqa: BLE001 - e.g. a global array across hosts
        return
    ceiling = float(np.log(n_rows))
    bandwidths = np.broadcast_to(np.atleast_1d(np.asarray(h, dtype=float)), values.shape)
    for value, bandwidth in zip(values, bandwidths, strict=True):
        if value >= (1 - SATURATION) * ceiling:
            message = (
                f"entropy {value:.4f} nats is within 1% of its ceiling log N = {ceiling:.4f} "
                f"(N = {n_rows}) at h = {bandwidth:g}: nearly every environment is alone "
                "within the bandwidth, so H counts environments instead of measuring their "
                "distribution. The bandwidth is too small for these data: a larger h (see "
                "`quests-jax bandwidth` or quests_jax.get_bandwidth) compares them"
            )
        elif value <= SATURATION * ceiling:
            message = (
                f"entropy {value:.4f} nats is near 0 (below 1% of log N = {ceiling:.4f}) at "
                f"h = {bandwidth:g}: the environments are indistinguishable at this "
                "bandwidth. Either the data hold one environment (a perfect crystal), or h "
                "is too large for them (see `quests-jax bandwidth`)"
            )
        else:
            continue
        warnings.warn(message, BandwidthWarning, stacklevel=stacklevel)


def entropy(
    x: Rows,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    mask: RowMask = None,
    execution: Execution = "auto",
):
    """Information entropy H of a set of environments (nats).

    Args:
        x: (N, d) descriptors.
        h: bandwidth (1/A), or a 1-D array of bandwidths.
        batch_size: rows per block (memory ~ batch_size^2); default per backend.
        mask: optional (N,) bool; False rows are padding and ignored (N counts only
            valid rows), which makes per-frame entropies of padded frames one ``vmap``.
        execution: "auto", "memory", "streamed" or "sharded": where and how the sums
            run (:mod:`quests_jax.information.execution`; every function here takes it).

    Returns:
        () or (H,) entropy.
    """
    x = _as_descriptors(x, "x")
    h, vector = as_bandwidths(h, x.dtype)
    mask = _as_mask(mask, x.shape[0], "mask")
    ent, _, _ = _self_quantities(x, h, mask, batch_size, execution)
    warn_if_bandwidth_misfits(ent, _valid_rows(x, mask), h)
    return shape_out(ent, vector)


def _valid_rows(x, mask) -> int:
    """How many rows take part (0 when the mask is traced: no warning then)."""
    if mask is None:
        return x.shape[0]
    return 0 if is_traced(mask) else int(np.count_nonzero(np.asarray(mask)))


def diversity(
    x: Rows,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    mask: RowMask = None,
    execution: Execution = "auto",
):
    """Diversity D = log sum_i 1 / sum_j K(x_i, x_j): () or (H,)."""
    x = _as_descriptors(x, "x")
    h, vector = as_bandwidths(h, x.dtype)
    mask = _as_mask(mask, x.shape[0], "mask")
    _, div, _ = _self_quantities(x, h, mask, batch_size, execution)
    return shape_out(div, vector)


def entropy_and_diversity(
    x: Rows,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    mask: RowMask = None,
    execution: Execution = "auto",
):
    """Entropy and diversity from one pass over the kernel: (H, D), each () or (H,)."""
    x = _as_descriptors(x, "x")
    h, vector = as_bandwidths(h, x.dtype)
    mask = _as_mask(mask, x.shape[0], "mask")
    ent, div, _ = _self_quantities(x, h, mask, batch_size, execution)
    warn_if_bandwidth_misfits(ent, _valid_rows(x, mask), h)
    return shape_out(ent, vector), shape_out(div, vector)


def get_all_metrics(
    x: Rows,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    mask: RowMask = None,
    execution: Execution = "auto",
):
    """Entropy, diversity and each environment's dH against the set itself (self term
    included), from one pass over the kernel: (H, D, dH (N,)), with a trailing
    bandwidth axis for vector h."""
    x = _as_descriptors(x, "x")
    h, vector = as_bandwidths(h, x.dtype)
    mask = _as_mask(mask, x.shape[0], "mask")
    ent, div, dh = _self_quantities(x, h, mask, batch_size, execution, per_row=True)
    warn_if_bandwidth_misfits(ent, _valid_rows(x, mask), h)
    return shape_out(ent, vector), shape_out(div, vector), shape_out(dh, vector)


def delta_entropy(
    y: QueryRows,
    x: Rows,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    y_mask: QueryMask = None,
    x_mask: RowMask = None,
    execution: Execution = "auto",
):
    """Differential entropy dH(y | X) = -log sum_j K(y, x_j) of each row of y.

    Computed in log space: finite however far y is from X (the reference returns +inf
    once every kernel underflows). Returns (M,) or (M, H).
    """
    log_p, vector = _log_p(y, x, h, batch_size, y_mask, x_mask, execution)
    return shape_out(-log_p, vector)


def _log_p(y, x, h, batch_size, y_mask=None, x_mask=None, execution="auto", names=("y", "x")):
    """(log sum_j K(y_i, x_j) (M, H), whether h was a vector), checked; ``names``: the
    user's names of (y, x), for errors."""
    y, x = _descriptor_pair(y, x, names)
    h, vector = as_bandwidths(h, x.dtype)
    y_mask = _as_mask(y_mask, y.shape[0], "y_mask")
    x_mask = _as_mask(x_mask, x.shape[0], "x_mask")
    return _cross_log_sums(y, x, h, y_mask, x_mask, batch_size, execution), vector


class ReferenceRows:
    """Descriptor rows that many query sets are compared with: checked, put in
    compact order and placed on the device once, not at every call (the dH of each
    frame of a trajectory, or of each batch of new structures, against a training
    set). In-memory execution; the results equal :func:`delta_entropy`'s::

        train = ReferenceRows(x_train, h)
        for frame_rows in frames:
            dh = train.delta_entropy(frame_rows)  # == delta_entropy(frame_rows, x_train, h)

    Args:
        x: (N, d) reference descriptors (copied: later changes to ``x`` do not count).
        h: bandwidth (1/A), or a 1-D array of bandwidths.
        batch_size: rows per block; default per backend.
    """

    def __init__(self, x: Rows, h: Bandwidths = DEFAULT_BANDWIDTH, batch_size: int | None = None):
        x = np.array(_as_descriptors(x, "x"))
        self._h, self._vector = as_bandwidths(h, x.dtype)
        self._reach = engine.host_max_abs(x)
        check_scale(self._reach, self._h, x.shape[1], x.dtype, "x")
        self._block_size = check_block_size(batch_size)
        self._refs = engine.References(x, self._h, self._block_size)
        self.shape, self.dtype = x.shape, x.dtype

    def delta_entropy(self, y: QueryRows, *, y_mask: QueryMask = None):
        """dH(y_i | X) (M,) or (M, H): as :func:`delta_entropy` (y, x, h, batch_size)."""
        y = _as_descriptors(y, "y")
        _check_widths(y, self.shape[1])
        y_mask = _as_mask(y_mask, y.shape[0], "y_mask")
        ys = np.asarray(y, self.dtype) if y_mask is None else np.asarray(y, self.dtype)[y_mask]
        reach = max(engine.host_max_abs(ys), self._reach)
        check_scale(reach, self._h, self.shape[1], self.dtype, "y")
        log_p = engine.log_sums(ys, self._refs, self._h, block_size=self._block_size, reach=reach)
        check_finite_dh(log_p, "dH of y against x", self.dtype)
        log_p = _with_masked_rows(log_p, y_mask, y.shape[0])
        return shape_out(-_host_result(log_p, self.dtype), self._vector)


def log_kernel_sum(
    x: QueryRows,
    y: Rows,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    execution: Execution = "auto",
):
    """log sum_j K(x_i, y_j): (M,) or (M, H) for x (M, d) queries and y (N, d)
    references (the reference package's argument names); equals -dH of x given y."""
    log_p, vector = _log_p(x, y, h, batch_size, execution=execution, names=("x", "y"))
    return shape_out(log_p, vector)


def kernel_sum(
    x: QueryRows,
    y: Rows,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    execution: Execution = "auto",
):
    """sum_j K(x_i, y_j) (the reference's unnormalised density): (M,) or (M, H) for x
    (M, d) queries and y (N, d) references, named as in the reference package.

    Underflows to 0 far from y, like the reference; prefer :func:`log_kernel_sum`.
    """
    log_p, vector = _log_p(x, y, h, batch_size, execution=execution, names=("x", "y"))
    return shape_out(_xp(log_p).exp(log_p), vector)


def weighted_kernel_sum(
    x: QueryRows,
    y: Rows,
    w: PerRow,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    execution: Execution = "auto",
):
    """Kernel-weighted average of per-reference values, as the reference.

    Args:
        x: (M, d) queries; y: (N, d) references; w: (N,) values of the references
            (e.g. known errors). The names are the reference package's.

    Returns:
        (q, p): q = sum_j w_j K_ij / sum_j K_ij, the expected value of w at x (well
        defined even where every kernel underflows), and p = sum_j K_ij; (M,) or (M, H).
    """
    x, y = _descriptor_pair(x, y, ("x", "y"))
    w = w if is_traced(w) else np.asarray(w, y.dtype)
    if w.shape != (y.shape[0],):
        raise InputValueError(
            f"w must have shape ({y.shape[0]},) like the rows of y, got {w.shape}"
        )
    if not is_traced(w) and not np.isfinite(w).all():
        raise InputValueError("w has NaN or infinite entries")
    h, vector = as_bandwidths(h, y.dtype)
    log_p, q = _cross_log_sums(x, y, h, None, None, batch_size, execution, weights=w)
    return shape_out(q, vector), shape_out(_xp(log_p).exp(log_p), vector)


def overlap(
    y: QueryRows,
    x: Rows,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    eps: float = DEFAULT_EPS,
    batch_size: int | None = None,
    *,
    execution: Execution = "auto",
):
    """Fraction of the rows of y with dH(y | X) < eps: () or (H,)."""
    if not np.isfinite(eps):
        raise InputValueError(f"eps must be a finite number, got {eps}")
    log_p, vector = _log_p(y, x, h, batch_size, execution=execution)
    return shape_out(_xp(log_p).mean(-log_p < eps, axis=0), vector)


def approx_delta_entropy(
    y: QueryRows,
    x: Rows,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    n: int = DEFAULT_APPROX_NEIGHBORS,
    graph_neighbors: int | None = None,
    batch_size: int | None = None,
    **nndescent_kwargs,
):
    """dH from the n nearest reference environments only: an upper bound on dH.

    The reference finds the neighbours approximately (pynndescent); here the search
    is exact (a streamed top-n), so the result is the exact n-term bound.
    ``graph_neighbors`` and any further keyword (the reference passes them to
    pynndescent's ``NNDescent``) are accepted for compatibility and have no effect.
    Returns (M,) or (M, H) (the reference returns (H, M) for vector h), in the dtype
    of ``x``.
    """
    del graph_neighbors, nndescent_kwargs
    y, x = _descriptor_pair(y, x)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise InputValueError(f"n must be a positive integer, got {n!r}")
    if n > x.shape[0]:
        raise InputValueError(f"n = {n} exceeds the {x.shape[0]} reference environments in x")
    h, vector = as_bandwidths(h, x.dtype)
    batch_size = check_block_size(batch_size)
    y = y.astype(x.dtype)
    return shape_out(_approx(y, x, h, n=int(n), block_size=batch_size), vector)


def perfect_entropy(x: Rows, h: Bandwidths = DEFAULT_BANDWIDTH, batch_size: int | None = None):
    """Deprecated alias of :func:`entropy`, as in the reference."""
    return entropy(x, h, batch_size)
