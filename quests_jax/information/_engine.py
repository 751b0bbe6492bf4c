"""Kernel sums of concrete descriptor sets, driven block by block from the host.

Every dataset-level quantity (entropy, diversity, dH, overlap, weighted sums) reduces
to sums of Gaussian kernels over pairs of row blocks. Here the rows stay on the host
(NumPy arrays or memory maps) and Python drives a few small compiled programs over
the blocks:

* (on the host, no program) one block of B rows -> its rows (padding moved far
  away), robust centre and squared norms
  (:func:`quests_jax.information._kernels.prepare_block`);
* ``self_pair`` / ``self_diagonal``: row and column sums of one block pair of a set
  against itself (each pair of blocks visited once);
* ``log_step``: one query block against one reference block, folded into a streamed
  log sum (relative to the nearest row; finite at any distance).

Each comes in two variants: the plain matmul distances, and exact ones for rows far
from the reference block's centre (:func:`quests_jax.information._kernels.exact_limit`: coincident
atoms, outliers). The host picks the variant per block pair from each block's centre
and radius (a triangle bound), so ordinary data runs branch-free programs. For
per-row sums (:func:`log_sums`), in-memory sets whose blocks are too wide in file
order (heterogeneous data: several elements, slabs, molecules) are first put in a
k-d tree's order (:func:`compact_order`) so that nearby rows share blocks and most
pairs stay on the plain variant; results come back in the caller's order.

Each is keyed by (block size, width, dtype, number of bandwidths, ``wide``), never by
the number of rows (sets smaller than one block use the next power of two, a menu of
a few small sizes: :func:`block_for`), so a machine compiles them once and a new
dataset compiles nothing (:mod:`quests_jax.compilation` keeps them across
processes). The arithmetic is the one of the pure, traceable functions of
:mod:`._kernels` (same block
functions), which remain for use under ``jit``, ``vmap`` and ``grad``; results agree
to rounding.

Blocks are sent to the device when first needed and, for ``resident`` sets, kept
there; otherwise (sets larger than device memory: memory maps) they are read from the
host again at each use. Each block pair is one call from Python: on an accelerator
the calls queue while the device computes; on a CPU they run one after another,
and this costs ~10% against the traced scans (dH of 10,000 against 50,000 rows: 1.16
vs 1.05 s on 2 cores), the price of never compiling for a new size.
"""

from __future__ import annotations

import functools
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from .._core.errors import InputValueError
from .._core.npy_files import read_rows
from .._core.precision import x64_scope
from .._core.progress import Progress
from ._kernels import (
    block_sq_distances,
    default_block_size,
    exact_block_sq_distances,
    exact_limit,
    far_beyond,
    log_sums_init,
    log_sums_step,
    pad_rows,
    prepare_block,
    scales_of,
    self_block_sums,
)

# Rows per host pass when scanning a set (finiteness, extent) and per device block
# read of a memory map.
HOST_CHUNK_ROWS = 1 << 16

# Whether to show it: None on a terminal only, False never (module-wide default).
SHOW_PROGRESS: bool | None = None


# --------------------------------------------------------------------------------------
# compiled block programs


def _distances(y, y_valid, block, wide, limit, exact):
    """d2 of query rows against a prepared block: the matmul (``exact`` False: the
    host found no row beyond ``limit`` from the block's centre), or exact for rows far
    from it."""
    rows, centre, sq, valid = block
    if not exact:
        y = jnp.where(y_valid[:, None], y, centre)  # padding rows: not in the split's scale
        return block_sq_distances(y, rows, centre, sq, wide, limit, fix_far=False)
    return exact_block_sq_distances(y, rows, centre, sq, wide, limit, y_valid, valid)


@functools.partial(jax.jit, static_argnames=("wide", "exact"))
def _self_pair(acc_i, acc_j, block_i, block_j, scales, limit, *, wide, exact):
    d2 = _distances(block_i[0], block_i[3], block_j, wide, limit, exact)
    rows, cols = self_block_sums(d2, scales, False)
    return acc_i + rows, acc_j + cols


@functools.partial(jax.jit, static_argnames=("wide", "exact"))
def _self_diagonal(acc, block, scales, limit, *, wide, exact):
    d2 = _distances(block[0], block[3], block, wide, limit, exact)
    sums, _ = self_block_sums(d2, scales, True)
    return acc + sums


@functools.partial(jax.jit, static_argnames=("wide", "exact"))
def _log_step(carry, y, y_valid, block, weights, scales, limit, *, wide, exact):
    d2 = _distances(y, y_valid, block, wide, limit, exact)
    return log_sums_step(carry, d2, scales, weights)


def _reach(centre, radius, other_centre) -> float:
    """A bound on |row - other_centre| for rows within ``radius`` of ``centre``."""
    return radius + float(np.linalg.norm(np.asarray(centre) - np.asarray(other_centre)))


# --------------------------------------------------------------------------------------
# host-side sets


def far_value(arrays, h, reach: float | None = None) -> float:
    """A coordinate far enough from every row of ``arrays`` that the kernel between a
    row there and any real row underflows to exactly 0 for every bandwidth
    (``reach``: their largest |entry|, when the caller has it already)."""
    if reach is None:
        reach = max(host_max_abs(a) for a in arrays)
    return float(far_beyond(reach, h, np))


def host_max_abs(a) -> float:
    """Largest |entry| of a host set (N, d), read in chunks (memory maps)."""
    return max(
        float(np.abs(read_rows(a, s, s + HOST_CHUNK_ROWS)).max())
        for s in range(0, a.shape[0], HOST_CHUNK_ROWS)
    )


class Blocks:
    """A host set of rows (N, d) cut into blocks of ``block`` rows, each prepared on
    the host (:func:`quests_jax.information._kernels.prepare_block`) and sent to the
    device when first needed.

    ``resident``: keep the prepared blocks on the device (otherwise each use reads the
    rows from the host again: for memory maps larger than the device's memory).
    """

    def __init__(self, rows, block_size: int, dtype, far: float, resident: bool = True):
        self.rows = rows
        self.block_size = block_size
        self.dtype = np.dtype(dtype)
        self.far = np.asarray(far, self.dtype)
        self.n_rows = rows.shape[0]
        self.n_blocks = -(-self.n_rows // block_size)
        self.resident = resident
        self._cache: dict[int, tuple] = {}
        self._extent: dict[int, tuple] = {}

    def host_block(self, j: int):
        """Rows (B, d) and validity (B,) of block j, padded with zero rows."""
        part = read_rows(self.rows, j * self.block_size, (j + 1) * self.block_size)
        part = np.asarray(part, dtype=self.dtype)
        valid = np.arange(self.block_size) < part.shape[0]
        return pad_rows(part, self.block_size, np), valid

    def __getitem__(self, j: int):
        """(rows (B, d), centre (d,), sq (B,), valid (B,)) of block j on the device."""
        if j in self._cache:
            return self._cache[j]
        host_rows, host_valid = self.host_block(j)
        rows, centre, sq, valid = prepare_block(host_rows, host_valid, self.far)
        if j not in self._extent:
            self._extent[j] = (centre, float(np.sqrt(sq[valid].max())))
        prepared = jax.device_put((rows, centre, sq, valid))
        if self.resident:
            self._cache[j] = prepared
        return prepared

    def extent(self, j: int):
        """(centre (d,), radius): block j's valid rows lie within radius of centre."""
        self[j]
        return self._extent[j]

    def query_extent(self, j: int):
        """(centre, radius) of block j's rows from the host (without preparing it)."""
        rows, valid = self.host_block(j)
        return mean_extent(rows[valid])


def mean_extent(rows) -> tuple[np.ndarray, float]:
    """(mean (d,), radius): host rows (n, d) lie within radius of their mean (float64)."""
    rows = np.asarray(rows, np.float64)
    centre = rows.mean(axis=0)
    return centre, float(np.sqrt(((rows - centre) ** 2).sum(axis=1).max()))


def block_for(n: int, block_size: int | None) -> int:
    """Rows per block for a set of n rows: ``block`` (default per backend, rounded up
    to a multiple of 8), or for a smaller set the smallest power of two >= 8 that holds
    it, so that many small calls neither pay for a full block nor compile a program
    per size (at most ~8 small sizes)."""
    block_size = max(8, -(-int(block_size or default_block_size()) // 8) * 8)
    if n >= block_size:
        return block_size
    return min(block_size, max(8, 1 << (int(n) - 1).bit_length()))


# --------------------------------------------------------------------------------------
# drivers


def widest_radius(rows, block_size: int) -> float:
    """The largest distance of a row from its block's mean, blocks of ``block`` rows
    in the rows' own order."""
    starts = range(0, rows.shape[0], block_size)
    return max(mean_extent(rows[start : start + block_size])[1] for start in starts)


def compact_order(rows, block_size: int) -> np.ndarray:
    """A row order that gathers nearby rows into the same blocks: (N,) indices.

    Per-row results (dH, kernel sums against a set) do not depend on the order of the
    rows, but the cost does: a block pair whose rows may lie farther than the exact
    limit from the block's centre runs the exact-distance program (:func:`log_sums`),
    ~3x the split arithmetic's. Heterogeneous sets (several elements, slabs,
    molecules) hold rows 1 - 1.3 from their block's mean in file order, beyond the
    float32 limit (0.69 at h = 0.015), so every pair ran exactly. The order is a k-d
    tree's: the rows are split at the median of their coordinate of largest variance,
    the first part a whole number of blocks, until each part is one block
    (O(N d log(N / B)) on the host; 36 ms for 60,000 rows of 63).
    """
    order = np.arange(rows.shape[0])
    pending = [(0, rows.shape[0])]
    while pending:
        lo, hi = pending.pop()
        if hi - lo <= block_size:
            continue
        part = np.asarray(rows[order[lo:hi]], np.float32)
        column = part[:, int(np.argmax(part.var(axis=0)))]
        n_left = (-(-(hi - lo) // block_size) // 2) * block_size
        order[lo:hi] = order[lo:hi][np.argpartition(column, n_left - 1)]
        pending += [(lo, lo + n_left), (lo + n_left, hi)]
    return order


def _order_if_wide(rows, block_size: int, limit) -> np.ndarray | None:
    """:func:`compact_order` of rows whose blocks, in the rows' own order, hold rows
    beyond the exact limit from their centre; None for compact rows or one block."""
    if rows.shape[0] > block_size and widest_radius(rows, block_size) ** 2 > limit:
        return compact_order(rows, block_size)
    return None


def _orders(y, x, by: int, bx: int, limit) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Row orders for compact blocks of queries y and references x (None: keep the
    rows' own order, already within the limit, or one block). A single wide query
    block meets every reference block through the exact program whatever their order,
    so the references are then left alone (ordering 50,000 rows of 63 takes ~40 ms).
    For a compact query block ordering them pays even at 64 queries (50,000
    heterogeneous references: 0.103 s vs 0.110 s; 512 queries: 0.166 vs 0.276 s)."""
    if y.shape[0] <= by and widest_radius(y, by) ** 2 > limit:
        return None, None  # a single wide query block
    return _order_if_wide(y, by, limit), _order_if_wide(x, bx, limit)


def self_sums(x, h, *, block_size=None, wide=False, resident=True, label="entropy", reach=None):
    """sum_j K(x_i, x_j) of every row of a host set, self term included: (N, H) NumPy.

    ``x`` (N, d): a NumPy array or memory map in the working dtype (float32, or
    float64 with x64 enabled); ``h`` (H,) bandwidths; ``wide``: float32 distances in
    split arithmetic (per-row accuracy, :mod:`quests_jax.information._kernels`); ``reach``: the
    largest |entry|, if known (saves a pass over the rows).
    """
    dtype = np.dtype(x.dtype)
    block_size = block_for(x.shape[0], block_size)
    h = np.asarray(h, dtype).reshape(-1)
    with x64_scope(dtype):
        sets = Blocks(x, block_size, dtype, far_value([x], h, reach), resident)
        scales = scales_of(h, dtype, np)
        limit = exact_limit(h, dtype, wide, np)
        nb = sets.n_blocks
        acc = [np.zeros((h.shape[0], block_size), dtype) for _ in range(nb)]
        with Progress(
            nb * (nb + 1) // 2,
            label,
            unit="block pairs",
            enabled=SHOW_PROGRESS,
        ) as bar:
            for i in range(nb):
                centre_i, radius_i = sets.extent(i)
                exact = radius_i * radius_i > limit
                acc[i] = _self_diagonal(acc[i], sets[i], scales, limit, wide=wide, exact=exact)
                for j in range(i + 1, nb):
                    centre_j, radius_j = sets.extent(j)
                    # rows far from block j's centre need exact distances (kernels)
                    far = max(_reach(centre_i, radius_i, centre_j), radius_j)
                    acc[i], acc[j] = _self_pair(
                        acc[i],
                        acc[j],
                        sets[i],
                        sets[j],
                        scales,
                        limit,
                        wide=wide,
                        exact=far * far > limit,
                    )
                bar.update(nb - i)
        sums = np.concatenate([np.asarray(a).T for a in acc])
    return sums[: x.shape[0]]


class References:
    """Reference rows (N, d) prepared for kernel sums with many query sets (dH of a
    trajectory's frames against a training set): their extent measured, their rows in
    compact order (``order``: by default that of :func:`compact_order` when their
    blocks are wide and the set is ``resident``, in memory) and their blocks kept on
    the device (``resident``) once, not at every call of :func:`log_sums`.

    The fill of padding rows must lie beyond the queries too: the blocks are prepared
    again only when a query set reaches farther than any before (rare: descriptors
    of one kind share their scale).
    """

    def __init__(
        self,
        x,
        h,
        block_size: int | None = None,
        *,
        wide: bool = True,
        resident: bool = True,
        order: np.ndarray | None | Literal["auto"] = "auto",
        reach: float | None = None,
    ):
        self.dtype = np.dtype(x.dtype)
        self.h = np.asarray(h, self.dtype).reshape(-1)
        self.block_size = block_for(x.shape[0], block_size)
        self.limit = exact_limit(self.h, self.dtype, wide, np)
        self.wide, self.resident = wide, resident
        self.reach = host_max_abs(x) if reach is None else reach
        if isinstance(order, str):  # (a memory map is read in its own order)
            order = _order_if_wide(x, self.block_size, self.limit) if resident else None
        self.order = order
        self.rows = x if order is None else np.asarray(x)[order]
        self.shape = x.shape
        self._blocks: Blocks | None = None
        self._covers = -1.0  # the reach the blocks' padding lies beyond

    def blocks(self, reach: float) -> Blocks:
        """The prepared blocks, their padding (``.far``) beyond rows reaching ``reach``."""
        if self._blocks is None or reach > self._covers:
            self._covers = max(reach, self.reach)
            far = far_value([], self.h, self._covers)
            self._blocks = Blocks(self.rows, self.block_size, self.dtype, far, self.resident)
        return self._blocks


def _references_for(y, x, h, by, weights, block_size, wide, resident, reach):
    """(References, exact limit, query order or None, weights in the references'
    order) for :func:`log_sums`: ``x`` as given when prepared, else prepared here in
    compact blocks (in memory only: a memory map is read in its own order)."""
    dtype = np.dtype(x.dtype)
    if isinstance(x, References):
        if weights is not None:
            raise InputValueError("weighted sums take the reference rows themselves")
        y_order = _order_if_wide(y, by, x.limit) if x.resident else None
        return x, x.limit, y_order, weights
    h = np.asarray(h, dtype).reshape(-1)
    bx = block_for(x.shape[0], block_size)
    limit = exact_limit(h, dtype, wide, np)
    y_order, x_order = _orders(y, x, by, bx, limit) if resident else (None, None)
    refs = References(x, h, bx, wide=wide, resident=resident, order=x_order, reach=reach)
    if refs.order is not None and weights is not None:
        weights = np.asarray(weights)[refs.order]
    return refs, limit, y_order, weights


def log_sums(
    y, x, h, *, weights=None, block_size=None, wide=True, resident=True, label="dH", reach=None
):
    """log sum_j K(y_i, x_j) for host sets y (M, d) and x (N, d) or :class:`References`:
    (M, H) NumPy, and with ``weights`` (N,) also the kernel-weighted means of the
    weights (M, H).

    Both sets in the working dtype; ``wide`` as in :func:`self_sums` (for prepared
    references, theirs). The reference blocks stay on the device when ``resident``;
    query blocks pass once. ``reach``: the largest |entry| of both sets, if known.
    """
    dtype = np.dtype(x.dtype)
    by = block_for(y.shape[0], block_size)
    refs, limit, y_order, weights = _references_for(
        y, x, h, by, weights, block_size, wide, resident, reach
    )
    h, wide = refs.h, refs.wide
    n_h, bx = h.shape[0], refs.block_size
    if y_order is not None:
        y = np.asarray(y)[y_order]
    with x64_scope(dtype):
        blocks = refs.blocks(max(refs.reach, host_max_abs(y)) if reach is None else reach)
        queries = Blocks(y, by, dtype, blocks.far, resident=False)
        w = None
        if weights is not None:
            w = Blocks(np.asarray(weights, dtype)[:, None], bx, dtype, 0.0, resident=False)
        scales = scales_of(h, dtype, np)
        out = np.empty((y.shape[0], n_h), dtype)
        means = np.empty((y.shape[0], n_h), dtype) if weights is not None else None
        pending = []  # query blocks dispatched, collected one behind

        def collect(item):
            i, (nearest, rel, mean_w) = item
            rows = slice(i * by, min((i + 1) * by, y.shape[0]))
            n = rows.stop - rows.start
            nearest, rel = np.asarray(nearest)[:n], np.asarray(rel).T[:n]
            out[rows] = scales * nearest[:, None] + rel
            if means is not None:
                means[rows] = np.asarray(mean_w).T[:n]

        with Progress(
            queries.n_blocks * blocks.n_blocks,
            label,
            unit="block pairs",
            enabled=SHOW_PROGRESS,
        ) as bar:
            for i in range(queries.n_blocks):
                yq, y_valid = jax.device_put(queries.host_block(i))
                centre_q, radius_q = queries.query_extent(i)
                carry = log_sums_init(by, n_h, dtype, np)
                for j in range(blocks.n_blocks):
                    wj = None if w is None else jax.device_put(w.host_block(j)[0][:, 0])
                    ref_block = blocks[j]
                    centre_j, radius_j = blocks.extent(j)
                    far = max(_reach(centre_q, radius_q, centre_j), radius_j)
                    carry = _log_step(
                        carry,
                        yq,
                        y_valid,
                        ref_block,
                        wj,
                        scales,
                        limit,
                        wide=wide,
                        exact=far * far > limit,
                    )
                pending.append((i, carry))
                if len(pending) > 1:
                    collect(pending.pop(0))
                bar.update(blocks.n_blocks)
            for item in pending:
                collect(item)
    if y_order is not None:  # back to the caller's order
        out[y_order] = out.copy()
        if means is not None:
            means[y_order] = means.copy()
    return out if weights is None else (out, means)
