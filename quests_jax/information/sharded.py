"""Entropy, diversity, dH and overlap with the environments sharded over devices and
hosts.

Rows (environments) are split along one mesh axis. Each device keeps its share of the
query rows and computes their kernel sums against the reference rows, which travel
round a ring of ``ppermute`` steps inside ``shard_map``: after P steps (P devices)
every query block has met every reference block. A device holds its own shards and a
few reference shards in flight (the one in use, the one arriving, the loop's double
buffer), never the whole set: per-device memory is O((M + N) / P * d + block^2)
(measured: about five shards, benchmarks/README.md), compute per device O(M N / P).

Partial sums are combined in log space (``logaddexp``), so dH stays finite far from
the data, exactly as on one device. The same code runs across processes started
with ``jax.distributed.initialize``: each process passes only its own rows to
:func:`shard_rows`, and gets back the values of its own rows with :func:`local_values`.

Entropy and diversity visit each pair of shards once (a half ring, see
:func:`_ring_self_log_sums`), so the total work is about that of the single-device
symmetric pass (exactly for an odd device count; for an even one the shards P/2
apart meet twice).
"""

from __future__ import annotations

import functools
import zlib
from typing import TYPE_CHECKING

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from .._core.array_types import AnyArray, Array, Bandwidths, Bool, Float, QueryRows, Rows
from .._core.collectives import collective
from .._core.errors import InputValueError
from .._core.validation import check_block_size, check_finite_rows, check_rows, check_scale
from ._arguments import DEFAULT_BANDWIDTH, DEFAULT_EPS, as_bandwidths, shape_out
from ._kernels import (
    cross_kernel_sums,
    entropy_diversity_from_log_p,
    log_kernel_sums,
    self_kernel_sums,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from jaxtyping import Shaped


AXIS = "envs"
"""The mesh axis the rows are sharded over."""


def device_mesh(devices: Sequence[jax.Device] | None = None, axis: str = AXIS) -> Mesh:
    """A 1-D mesh over ``devices`` (default: every device of every process), ordered
    by process so that each process's rows sit on its own devices."""
    devices = jax.devices() if devices is None else list(devices)
    devices = sorted(devices, key=lambda d: (d.process_index, d.id))
    return Mesh(np.array(devices), (axis,))


class ShardedRows(eqx.Module):
    """Descriptor rows laid out over a 1-D device mesh, padded with masked rows.

    Process p's rows occupy ``rows[p * capacity : p * capacity + counts[p]]``; the
    rest is padding (``mask`` False), spread so that every device holds
    ``capacity / local devices`` rows.
    """

    rows: Float[Array, "rows d"]  # rows = n_processes * capacity, sharded along the mesh
    mask: Bool[Array, " rows"]  # same sharding
    counts: tuple[int, ...] = eqx.field(static=True)  # valid rows per process
    mesh: Mesh = eqx.field(static=True)
    reach: float = eqx.field(static=True, default=0.0)  # largest |entry| of any process

    @property
    def axis(self) -> str:
        return self.mesh.axis_names[0]

    @property
    def n_rows(self) -> int:
        return int(sum(self.counts))

    @property
    def capacity(self) -> int:
        return self.rows.shape[0] // len(self.counts)


def _check_local_rows(a, name: str) -> np.ndarray:
    a = np.asarray(check_rows(a, name, allow_empty=True))
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64 if jax.config.jax_enable_x64 else np.float32)
    check_finite_rows(a, name)
    return a


def _gather_counts(n_local: int, width: int, reach: float = 0.0) -> np.ndarray:
    """(n_processes, 3) float64 array of (rows, width, largest |entry|) of every
    process."""
    mine = np.array([n_local, width, reach], np.float64)
    if jax.process_count() == 1:
        return mine[None, :]
    from jax.experimental import multihost_utils

    with collective("gather row counts"):
        return np.asarray(multihost_utils.process_allgather(mine)).reshape(-1, 3)


def _same_in_every_process(**values) -> None:
    """Raise in every process if any of ``values`` differs between processes (one
    small all-gather of a checksum): processes given other bandwidths would combine
    sums of different kernels into a wrong number without an error."""
    if jax.process_count() == 1:
        return
    from jax.experimental import multihost_utils

    items = sorted((k, np.asarray(v).tolist()) for k, v in values.items())
    mine = np.array([zlib.crc32(repr(items).encode())], np.int64)
    with collective("compare settings"):
        every = np.asarray(multihost_utils.process_allgather(mine)).reshape(-1)
    if (every != every[0]).any():
        names = ", ".join(sorted(values))
        raise InputValueError(f"{names} differ between processes: every process must pass the same")


def shard_rows(
    local_rows: Float[AnyArray, "n_local d"] | ShardedRows,
    mesh: Mesh | None = None,
    *,
    name: str = "x",
) -> ShardedRows:
    """Lay out descriptor rows over ``mesh`` (default :func:`device_mesh`).

    Args:
        local_rows: (n, d) rows held by this process (all rows when there is one
            process); a NumPy array, a memory map or an array on one device (a
            :class:`ShardedRows` is returned as it is).
        mesh: a 1-D mesh; its devices must be ordered by process.
        name: the argument name used in error messages.

    Every process must call this (it exchanges row counts). Sizes need not divide
    the device count: the rows are padded with masked rows.
    """
    if isinstance(local_rows, ShardedRows):
        return local_rows
    mesh = device_mesh() if mesh is None else mesh
    if len(mesh.axis_names) != 1:
        raise InputValueError(f"mesh must be 1-D, got axes {mesh.axis_names}")
    a = _check_local_rows(local_rows, name)
    reach = float(np.abs(a).max()) if a.size else 0.0
    table = _gather_counts(a.shape[0], a.shape[1], reach)
    if (table[:, 1] != table[0, 1]).any():
        widths = sorted({int(w) for w in table[:, 1]})
        raise InputValueError(f"{name}: processes hold rows of different widths {widths}")
    counts = tuple(int(c) for c in table[:, 0])
    if sum(counts) == 0:
        raise InputValueError(f"{name} is empty: it needs at least one environment")
    n_proc = len(counts)
    per_process = mesh.devices.size // n_proc
    if per_process * n_proc != mesh.devices.size:
        raise InputValueError(
            "every process must contribute the same number of devices to the mesh"
        )
    capacity = max(per_process, -(-max(counts) // per_process) * per_process)
    padded = np.zeros((capacity, a.shape[1]), a.dtype)
    padded[: a.shape[0]] = a
    mask = np.arange(capacity) < a.shape[0]
    axis = mesh.axis_names[0]
    rows = jax.make_array_from_process_local_data(
        NamedSharding(mesh, P(axis, None)), padded, (n_proc * capacity, a.shape[1])
    )
    mask = jax.make_array_from_process_local_data(
        NamedSharding(mesh, P(axis)), mask, (n_proc * capacity,)
    )
    return ShardedRows(rows, mask, counts, mesh, float(table[:, 2].max()))


def local_values(values: Shaped[Array, "n ..."], sharded: ShardedRows) -> np.ndarray:
    """This process's valid rows of a per-row result laid out like ``sharded``
    (e.g. dH from :func:`delta_entropy`), in the order they were given."""
    shards = sorted(values.addressable_shards, key=lambda s: s.index[0].start or 0)
    mine = np.concatenate([np.asarray(s.data) for s in shards], axis=0)
    return mine[: sharded.counts[jax.process_index()]]


def all_values(values: Shaped[Array, "n ..."], sharded: ShardedRows) -> np.ndarray:
    """Every process's valid rows of a per-row result laid out like ``sharded``, in
    process order (the order of the full dataset when each process took a contiguous
    share), on every process. Every process must call this."""
    if jax.process_count() == 1:
        return local_values(values, sharded)
    from jax.experimental import multihost_utils

    with collective("gather results"):
        full = np.asarray(multihost_utils.process_allgather(values, tiled=True))
    cap = sharded.capacity
    return np.concatenate([full[p * cap : p * cap + c] for p, c in enumerate(sharded.counts)])


# --------------------------------------------------------------------------------------
# the ring


def _ring_step(local_sum, axis: str, n_dev: int):
    """One step of the ring as a ``scan`` body: the reference chunk (and its mask)
    moves one device on, and ``local_sum(chunk, mask)`` joins the log-space total."""
    perm = [(i, (i + 1) % n_dev) for i in range(n_dev)]

    def step(carry, _):
        acc, xc, xmc = carry
        xc = jax.lax.ppermute(xc, axis, perm)
        xmc = jax.lax.ppermute(xmc, axis, perm)
        return (jnp.logaddexp(acc, local_sum(xc, xmc)), xc, xmc), None

    return step


@functools.partial(jax.jit, static_argnames=("mesh", "block_size", "wide"))
def _ring_log_sums(y, y_mask, x, x_mask, h, *, mesh, block_size, wide):
    """log sum_j K(y_i, x_j) for row-sharded y and x: (M, H), sharded like y."""
    axis = mesh.axis_names[0]
    n_dev = mesh.devices.size

    def local(yl, yml, xl, xml, hl):
        def part(xc, xmc):
            return log_kernel_sums(
                yl, xc, hl, y_mask=yml, x_mask=xmc, block_size=block_size, wide=wide
            )

        acc = part(xl, xml)
        if n_dev > 1:
            step = _ring_step(part, axis, n_dev)
            (acc, _, _), _ = jax.lax.scan(step, (acc, xl, xml), None, length=n_dev - 1)
        return acc

    return jax.shard_map(
        local,
        mesh=mesh,
        in_specs=(P(axis, None), P(axis), P(axis, None), P(axis), P()),
        out_specs=P(axis, None),
        check_vma=False,
    )(y, y_mask, x, x_mask, h)


@functools.partial(jax.jit, static_argnames=("mesh", "block_size"))
def _ring_self_log_sums(x, mask, h, *, mesh, block_size):
    """log sum_j K(x_i, x_j) over a row-sharded set, self term included: (N, H).

    Each pair of shards is visited once (a half ring): a device's own shard uses the
    symmetric self sum (self term exactly 1); then, for P // 2 steps, the shard of the
    device s places behind arrives, and the device adds the kernel's row sums to its
    own rows and its column sums to an accumulator that travels with the visiting
    shard; at the end the accumulators go back to their owners. With P even, the
    shards P/2 apart meet from both sides: that last step adds row sums only. Sums
    are >= 1 (the self term), so they need no log space.
    """
    axis = mesh.axis_names[0]
    n_dev = mesh.devices.size
    half = n_dev // 2
    forward = [(i, (i + 1) % n_dev) for i in range(n_dev)]
    home = [(i, (i - half) % n_dev) for i in range(n_dev)]

    def local(xl, ml, hl):
        own = self_kernel_sums(xl, hl, mask=ml, block_size=block_size)

        def step(carry, s):
            own, xc, mc, travelling = carry
            xc, mc, travelling = (jax.lax.ppermute(a, axis, forward) for a in (xc, mc, travelling))
            rows, cols = cross_kernel_sums(xl, xc, hl, a_mask=ml, b_mask=mc, block_size=block_size)
            both_sides = (n_dev % 2 == 0) & (s == half)  # the pair is also met from there
            travelling = travelling + jnp.where(both_sides, 0.0, cols)
            return (own + rows, xc, mc, travelling), None

        if n_dev > 1:
            init = (own, xl, ml, jnp.zeros_like(own))
            steps = jnp.arange(1, half + 1)
            (own, _, _, travelling), _ = jax.lax.scan(step, init, steps)
            own = own + jax.lax.ppermute(travelling, axis, home)
        return jnp.log(jnp.where(ml[:, None], own, 1.0))

    return jax.shard_map(
        local,
        mesh=mesh,
        in_specs=(P(axis, None), P(axis), P()),
        out_specs=P(axis, None),
        check_vma=False,
    )(x, mask, h)


@functools.partial(jax.jit, static_argnames=("mesh", "block_size"))
def _sharded_self_metrics(x, mask, h, *, mesh, block_size):
    return entropy_diversity_from_log_p(
        _ring_self_log_sums(x, mask, h, mesh=mesh, block_size=block_size), mask
    )


def entropy_and_diversity(
    x: Rows | ShardedRows,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    mesh: Mesh | None = None,
):
    """Entropy and diversity of row-sharded environments: (H, D), each () or (H,).

    ``x`` is a :class:`ShardedRows` or this process's (n, d) rows (sharded here).
    """
    xs = shard_rows(x, mesh, name="x")
    hs, vector = as_bandwidths(h, xs.rows.dtype)
    check_scale(xs.reach, hs, xs.rows.shape[1], xs.rows.dtype)
    batch_size = check_block_size(batch_size)
    _same_in_every_process(h=hs, batch_size=-1 if batch_size is None else batch_size)
    with collective("sharded entropy"):
        ent, div = _sharded_self_metrics(xs.rows, xs.mask, hs, mesh=xs.mesh, block_size=batch_size)
    return shape_out(ent, vector), shape_out(div, vector)


def entropy(
    x: Rows | ShardedRows,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    mesh: Mesh | None = None,
):
    """Information entropy (nats) of row-sharded environments: () or (H,)."""
    return entropy_and_diversity(x, h, batch_size, mesh=mesh)[0]


def diversity(
    x: Rows | ShardedRows,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    mesh: Mesh | None = None,
):
    """Diversity of row-sharded environments: () or (H,)."""
    return entropy_and_diversity(x, h, batch_size, mesh=mesh)[1]


def delta_entropy(
    y: QueryRows | ShardedRows,
    x: Rows | ShardedRows,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    mesh: Mesh | None = None,
):
    """dH(y | X) of row-sharded queries against row-sharded references.

    Returns a global (rows of ``y``'s layout, H or nothing) array sharded like the
    queries, +inf on padding rows (the value of an empty sum, as a masked row gets on
    every path); :func:`local_values` extracts this process's rows.
    """
    ys = shard_rows(y, mesh, name="y")
    xs = shard_rows(x, ys.mesh if mesh is None else mesh, name="x")
    if ys.mesh != xs.mesh:
        raise InputValueError("y and x must be laid out on the same mesh")
    if ys.rows.shape[1] != xs.rows.shape[1]:
        raise InputValueError(
            f"mismatched descriptor widths: y has {ys.rows.shape[1]} columns, "
            f"x has {xs.rows.shape[1]}"
        )
    hs, vector = as_bandwidths(h, xs.rows.dtype)
    name = "y" if ys.reach > xs.reach else "x"
    check_scale(max(ys.reach, xs.reach), hs, xs.rows.shape[1], xs.rows.dtype, name)
    batch_size = check_block_size(batch_size)
    _same_in_every_process(h=hs, batch_size=-1 if batch_size is None else batch_size)
    with collective("sharded dH"):
        dh = _sharded_delta(
            ys.rows.astype(xs.rows.dtype),
            ys.mask,
            xs.rows,
            xs.mask,
            hs,
            mesh=ys.mesh,
            block_size=batch_size,
        )
    return shape_out(dh, vector)


@functools.partial(jax.jit, static_argnames=("mesh", "block_size"))
def _sharded_delta(y, y_mask, x, x_mask, h, *, mesh, block_size):
    log_p = _ring_log_sums(y, y_mask, x, x_mask, h, mesh=mesh, block_size=block_size, wide=True)
    return jnp.where(y_mask[:, None], -log_p, jnp.inf)


def overlap(
    y: QueryRows | ShardedRows,
    x: Rows | ShardedRows,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    eps: float = DEFAULT_EPS,
    batch_size: int | None = None,
    *,
    mesh: Mesh | None = None,
):
    """Fraction of the (valid) rows of y with dH(y | X) < eps: () or (H,)."""
    if not np.isfinite(eps):
        raise InputValueError(f"eps must be a finite number, got {eps}")
    ys = shard_rows(y, mesh, name="y")
    _same_in_every_process(eps=eps)
    dh = delta_entropy(ys, x, h, batch_size, mesh=ys.mesh)  # +inf (never < eps) on padding
    with collective("count overlap"):
        return jnp.sum(dh < eps, axis=0) / ys.n_rows


__all__ = [
    "AXIS",
    "ShardedRows",
    "all_values",
    "delta_entropy",
    "device_mesh",
    "diversity",
    "entropy",
    "entropy_and_diversity",
    "local_values",
    "overlap",
    "shard_rows",
]
