"""Blockwise Gaussian kernel sums between descriptor sets, as pure JAX.

K(y, x) = exp(-|y - x|^2 / (2 h^2)), unnormalised, for one bandwidth or a vector of
bandwidths (one pass: the distances are shared). Every routine streams over blocks:
memory is O((M + N) d + block^2 H), never the M x N matrix, and results do not depend
on the block size beyond rounding.

Numerics:

* Squared distances come from one matmul, |y|^2 + |x|^2 - 2 y.x, at explicit
  ``precision=HIGHEST`` (no TF32 on NVIDIA GPUs). Its cancellation error scales with
  |y - c|^2 + |x - c|^2 for the centre c, so each block pair is centred on the mean of
  its reference block.
* In float32 that error is still ~eps |y - c|^2, i.e. ~1e-5 in the exponent
  |y - x|^2 / 2h^2 for h = 0.015 and a query 0.15 from the block centre. Per-
  environment results (dH) therefore accumulate the distances in float64 ("wide"
  distances; float32 in, float32 out, ~1.8x the matmul cost), which leaves only the
  rounding of the float32 inputs. Averages over a set (entropy, diversity) keep the
  float32 matmul: their rounding errors average out (~1e-7 relative).
* Sums against a reference set accumulate in log space (running max and rescaled sum,
  as in a streaming log-sum-exp), so log p(y) = log sum_j K(y, x_j) stays finite and
  accurate when every kernel underflows (the reference package returns +inf there).
* Self sums (a set against itself) include K(x_i, x_i) = 1, set exactly, so they
  need no log space; they visit each pair of blocks once (the kernel matrix is
  symmetric), which halves the work of the entropy and the diversity.
* Padding and masked rows are moved so far away that their kernel values are exactly
  0: the hot loops need no masks.

Gradients: :func:`log_kernel_sums` (without weights) and :func:`self_kernel_sums` have
custom VJPs that stream over the same blocks, so ``jax.grad`` of an entropy or a dH
needs O((M + N) d) memory too (reverse mode through the scans would keep every
block's kernel matrix: the full M x N). With a = the cotangent times the kernel (for
log sums: times the softmax weight K_ij / sum_j K_ij, formed in log space, so it stays
finite far from the data), d/dy_i = sum_j a_ij 2s (y_i - x_j) and d/dx_j the same
with the opposite sign, s = -1/(2h^2): two more matmuls per block pair. The
reference side is skipped when it is not being differentiated.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .geometry import HIGHEST


def default_block_size() -> int:
    """Rows per block: the fastest measured on CPU (see benchmarks/README.md), larger
    on accelerators."""
    return 1280 if jax.default_backend() == "cpu" else 8192


def _block_for(n: int, block: int) -> int:
    """Block size actually used for n rows: at most ``block``, a multiple of 8, and no
    larger than n needs."""
    return max(8, min(block, -(-n // 8) * 8))


def _pad_rows(a, rows: int):
    pad = rows - a.shape[0]
    if pad == 0:
        return a
    return jnp.concatenate([a, jnp.zeros((pad,) + a.shape[1:], a.dtype)], axis=0)


def _blocks(a, mask, block: int, fill=None):
    """(n_blocks, block, ...) views of rows and their validity (False for padding and
    masked rows, which are replaced by ``fill`` when given)."""
    n = a.shape[0]
    n_blocks = -(-n // block)
    valid = jnp.arange(n_blocks * block) < n
    if mask is not None:
        valid = valid & _pad_rows(jnp.asarray(mask, bool), n_blocks * block)
    a = _pad_rows(a, n_blocks * block)
    if fill is not None:
        a = jnp.where(valid.reshape((-1,) + (1,) * (a.ndim - 1)), a, fill)
    return a.reshape((n_blocks, block) + a.shape[1:]), valid.reshape(n_blocks, block)


def _far_value(arrays, masks, h):
    """A coordinate far enough from all valid rows of ``arrays`` that exp(-d^2 / 2h^2)
    underflows to 0 for every bandwidth (d > 10^3 (1 + h))."""
    reach = 0.0
    for a, m in zip(arrays, masks, strict=True):
        magnitude = jnp.abs(a)
        if m is not None:
            magnitude = jnp.where(jnp.asarray(m, bool)[:, None], magnitude, 0.0)
        reach = jnp.maximum(reach, jnp.max(magnitude))
    return jax.lax.stop_gradient(reach + 1e3 * (1.0 + jnp.max(h)))


@jax.custom_batching.custom_vmap
def _wide_matmul_distances(y, x, centre):
    """|y - x|^2 (By, Bx) of float32 rows, accumulated in float64 (returned in float32).

    float64 is used inside a local ``enable_x64`` scope, so this works whatever the
    global setting. Under ``vmap`` the batching rule below traces it again inside that
    scope: batching the traced float64 operations outside it (as ``vmap`` of a
    ``scan`` otherwise does) would mix float32 and float64.
    """
    with jax.enable_x64(True):
        c = centre.astype(jnp.float64)
        yc = y.astype(jnp.float64) - c
        xc = x.astype(jnp.float64) - c
        cross = jnp.matmul(yc, xc.T, precision=HIGHEST)
        d2 = jnp.sum(yc * yc, axis=1)[:, None] + jnp.sum(xc * xc, axis=1)[None, :] - 2 * cross
        return d2.astype(y.dtype)


@_wide_matmul_distances.def_vmap
def _wide_matmul_distances_vmap(axis_size, in_batched, y, x, centre):
    y_batched, x_batched, centre_batched = in_batched
    if not (x_batched or centre_batched):  # one reference block for the whole batch
        d2 = _wide_matmul_distances(y.reshape(-1, y.shape[-1]), x, centre)
        return d2.reshape(axis_size, y.shape[1], x.shape[0]), True

    def batched(a, is_batched):
        return a if is_batched else jnp.broadcast_to(a, (axis_size,) + a.shape)

    args = [batched(a, b) for a, b in zip((y, x, centre), in_batched, strict=True)]
    return jax.lax.map(lambda a: _wide_matmul_distances(*a), args), True


@jax.custom_jvp
def _wide_sq_distances(y, x, centre):
    """:func:`_wide_matmul_distances`, with its derivative computed in float32."""
    return _wide_matmul_distances(y, x, centre)


@_wide_sq_distances.defjvp
def _wide_sq_distances_jvp(primals, tangents):
    y, x, centre = primals
    dy, dx, _ = tangents  # the centre cancels out of |y - x|^2
    yc, xc = y - centre, x - centre
    tangent = (
        2 * jnp.sum(yc * dy, axis=1)[:, None]
        + 2 * jnp.sum(xc * dx, axis=1)[None, :]
        - 2 * jnp.matmul(dy, xc.T, precision=HIGHEST)
        - 2 * jnp.matmul(yc, dx.T, precision=HIGHEST)
    )
    return _wide_sq_distances(y, x, centre), tangent


class _ReferenceBlocks(eqx.Module):
    """Rows of a reference set in blocks, each block with its own mean as centre.

    The centred rows are formed per block when needed (block x d work against the
    block^2 x d matmul) rather than stored: one copy of the set, not two.
    """

    rows: jax.Array  # (n_blocks, block, d); padding/masked rows far away
    valid: jax.Array  # (n_blocks, block)
    centres: jax.Array  # (n_blocks, d)
    sq: jax.Array  # (n_blocks, block) |rows - centre|^2

    @classmethod
    def build(cls, x, mask, block: int, far):
        rows, valid = _blocks(x, mask, block, far)
        w = valid.astype(x.dtype)[..., None]
        centres = (rows * w).sum(axis=1) / jnp.maximum(w.sum(axis=1), 1.0)
        centred = rows - centres[:, None, :]
        return cls(rows, valid, centres, jnp.sum(centred * centred, axis=2))

    @property
    def n_blocks(self) -> int:
        return self.rows.shape[0]

    def sq_distances(self, y, j, wide: bool):
        """|y - x|^2 (By, Bx) between rows y and reference block j."""
        if wide and y.dtype == jnp.float32:
            return jnp.maximum(_wide_sq_distances(y, self.rows[j], self.centres[j]), 0.0)
        yc = y - self.centres[j]
        xc = self.rows[j] - self.centres[j]
        cross = jnp.matmul(yc, xc.T, precision=HIGHEST)
        d2 = jnp.sum(yc * yc, axis=1)[:, None] + self.sq[j][None, :] - 2.0 * cross
        return jnp.maximum(d2, 0.0)


def _scales(h, dtype):
    """-1/(2 h^2) for a bandwidth vector (H,)."""
    h = jnp.asarray(h, dtype)
    return -0.5 / (h * h)


def log_kernel_sums(
    y, x, h, *, weights=None, y_mask=None, x_mask=None, block_size=None, wide: bool = True
):
    """log sum_j K(y_i, x_j) (and the kernel-weighted mean of ``weights``).

    Args:
        y: (M, d) query descriptors.
        x: (N, d) reference descriptors.
        h: (H,) bandwidths.
        weights: optional (N,) values per reference row.
        y_mask, x_mask: optional (M,), (N,) bool; False rows are ignored (a masked
            query row gets -inf).
        block_size: rows per block (static); default :func:`default_block_size`.
        wide: accumulate float32 distances in float64 (per-row accuracy, the
            default); False is ~1.8x faster where only averages over rows matter.

    Returns:
        (M, H) log kernel sums, and with ``weights`` also the (M, H) weighted means
        sum_j w_j K_ij / sum_j K_ij. Without weights the result is differentiable in
        y, x and h with O((M + N) d) memory (a streamed custom VJP).
    """
    block = block_size or default_block_size()
    if weights is None:
        return _log_sums(y, x, h, y_mask, x_mask, block, wide)
    return _stream_log_sums(y, x, h, weights, y_mask, x_mask, block, wide)


def _stream_log_sums(y, x, h, weights, y_mask, x_mask, block, wide):
    """Forward pass of :func:`log_kernel_sums` (see there)."""
    m = y.shape[0]
    by, bx = _block_for(m, block), _block_for(x.shape[0], block)
    scales = _scales(h, y.dtype)
    n_h = scales.shape[0]
    far = _far_value([y, x], [y_mask, x_mask], h)
    ref = _ReferenceBlocks.build(x, x_mask, bx, far)
    wb = None
    if weights is not None:
        wb, _ = _blocks(jnp.asarray(weights, y.dtype), x_mask, bx, 0.0)
    yb, y_valid = _blocks(y, y_mask, by, far)

    def query_block(yq):
        def step(carry, j):
            log_scale, total, weighted = carry  # (H, By) each
            d2 = ref.sq_distances(yq, j, wide)
            new_scale, new_total, new_weighted = [], [], []
            for b in range(n_h):  # bandwidths share the distances
                z = scales[b] * d2
                top = jnp.maximum(log_scale[b], jnp.max(z, axis=1))
                decay = jnp.exp(log_scale[b] - top)  # 0 while log_scale is -inf
                kz = jnp.exp(z - top[:, None])
                new_scale.append(top)
                new_total.append(total[b] * decay + jnp.sum(kz, axis=1))
                if wb is not None:
                    new_weighted.append(
                        weighted[b] * decay + jnp.matmul(kz, wb[j], precision=HIGHEST)
                    )
            weighted = weighted if wb is None else jnp.stack(new_weighted)
            return (jnp.stack(new_scale), jnp.stack(new_total), weighted), None

        init = (
            jnp.full((n_h, by), -jnp.inf, y.dtype),
            jnp.zeros((n_h, by), y.dtype),
            jnp.zeros((n_h, by), y.dtype),
        )
        (log_scale, total, weighted), _ = jax.lax.scan(step, init, jnp.arange(ref.n_blocks))
        return log_scale + jnp.log(total), weighted / total

    log_sum, mean_w = jax.lax.map(query_block, yb)  # (n_blocks, H, By)
    log_sum = jnp.moveaxis(log_sum, 1, 2).reshape(-1, n_h)[:m]
    log_sum = jnp.where(y_valid.reshape(-1)[:m, None], log_sum, -jnp.inf)
    if weights is None:
        return log_sum
    return log_sum, jnp.moveaxis(mean_w, 1, 2).reshape(-1, n_h)[:m]


def _pull_rows(yc, xc, a):
    """sum_j a_ij (y_i - x_j): (By, d), for A (By, Bx) and rows centred on one point."""
    return yc * jnp.sum(a, axis=1)[:, None] - jnp.matmul(a, xc, precision=HIGHEST)


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6))
def _log_sums(y, x, h, y_mask, x_mask, block, wide):
    return _stream_log_sums(y, x, h, None, y_mask, x_mask, block, wide)


def _log_sums_fwd(y, x, h, y_mask, x_mask, block, wide):
    # symbolic zeros: ``perturbed`` says which inputs are being differentiated, so the
    # backward pass skips the reference side (one matmul in three) for fixed data
    out = _stream_log_sums(y.value, x.value, h.value, None, _value(y_mask), _value(x_mask),
                           block, wide)  # fmt: skip
    need_x = True if x.perturbed else None  # None: a static "no" inside the residuals
    return out, (y.value, x.value, h.value, _value(y_mask), _value(x_mask), out, need_x)


def _value(a):
    return None if a is None else a.value


def _log_sums_bwd(block, wide, res, g):
    y, x, h, y_mask, x_mask, log_sum, need_x = res
    if isinstance(g, jax.custom_derivatives.SymbolicZero):
        return jnp.zeros_like(y), jnp.zeros_like(x), jnp.zeros_like(h), None, None
    m, n = y.shape[0], x.shape[0]
    by, bx = _block_for(m, block), _block_for(n, block)
    scales = _scales(h, y.dtype)
    n_h = scales.shape[0]
    far = _far_value([y, x], [y_mask, x_mask], h)
    ref = _ReferenceBlocks.build(x, x_mask, bx, far)
    yb, y_valid = _blocks(y, y_mask, by, far)
    # masked and padding query rows: log sum -inf; give them weight 0
    live = y_valid.reshape(-1)[:m, None] & jnp.isfinite(log_sum)
    g = jnp.where(live, jnp.asarray(g, y.dtype), 0.0)
    log_sum = jnp.where(live, log_sum, 0.0)
    gb, _ = _blocks(g, None, by, 0.0)  # (n_yb, By, H)
    lb, _ = _blocks(log_sum, None, by, 0.0)

    def query_block(carry, i):
        grad_x, grad_scale = carry
        yq, gq, lq = yb[i], gb[i], lb[i]

        def step(inner, j):
            grad_y, grad_x, grad_scale = inner
            d2 = ref.sq_distances(yq, j, wide)
            a = jnp.zeros_like(d2)
            terms = []
            for b in range(n_h):
                # softmax weight K_ij / sum_j K_ij times the cotangent, in log space
                w = gq[:, b, None] * jnp.exp(scales[b] * d2 - lq[:, b, None])
                a = a + 2.0 * scales[b] * w
                terms.append(jnp.sum(w * d2))
            grad_scale = grad_scale + jnp.stack(terms)
            yc = yq - ref.centres[j]
            xc = ref.rows[j] - ref.centres[j]
            if need_x is not None:
                grad_x = grad_x.at[j].add(_pull_rows(xc, yc, a.T))
            return (grad_y + _pull_rows(yc, xc, a), grad_x, grad_scale), None

        init = (jnp.zeros_like(yq), grad_x, grad_scale)
        (grad_y, grad_x, grad_scale), _ = jax.lax.scan(step, init, jnp.arange(ref.n_blocks))
        return (grad_x, grad_scale), grad_y

    grad_x0 = jnp.zeros((ref.n_blocks, bx, x.shape[1]), y.dtype) if need_x else jnp.zeros(())
    init = (grad_x0, jnp.zeros((n_h,), y.dtype))
    (grad_x, grad_scale), grad_y = jax.lax.scan(query_block, init, jnp.arange(yb.shape[0]))
    grad_y = grad_y.reshape(-1, y.shape[1])[:m]
    if need_x is None:
        grad_x = jnp.zeros_like(x)
    else:
        grad_x = jnp.where(ref.valid.reshape(-1)[:n, None], grad_x.reshape(-1, x.shape[1])[:n], 0)
    grad_h = (grad_scale / h**3).reshape(jnp.shape(h))  # ds/dh = 1/h^3 for s = -1/(2h^2)
    return grad_y, grad_x, grad_h, None, None


_log_sums.defvjp(_log_sums_fwd, _log_sums_bwd, symbolic_zeros=True)


def self_kernel_sums(x, h, *, mask=None, block_size=None, wide: bool = False):
    """sum_j K(x_i, x_j) over the (valid) rows of one set, self term included: (N, H).

    Each pair of blocks is visited once. Entries are >= 1 for valid rows (the self
    term, exactly 1), so plain sums are exact enough; masked rows get 0. ``wide``
    accumulates float32 distances in float64 (for per-row accuracy). Differentiable
    in x and h with O(N d) memory (a streamed custom VJP).
    """
    return _self_sums(x, h, mask, block_size or default_block_size(), wide)


def _self_setup(x, h, mask, block):
    b = _block_for(x.shape[0], block)
    ref = _ReferenceBlocks.build(x, mask, b, _far_value([x], [mask], h))
    rows_i, cols_j = np.triu_indices(ref.n_blocks)
    return ref, (jnp.asarray(rows_i), jnp.asarray(cols_j))


def _self_sums_forward(x, h, mask, block, wide):
    n = x.shape[0]
    scales = _scales(h, x.dtype)
    n_h = scales.shape[0]
    ref, pairs = _self_setup(x, h, mask, block)

    def step(sums, pair):
        i, j = pair
        d2 = ref.sq_distances(ref.rows[i], j, wide)
        rows, cols = [], []
        for h_index in range(n_h):  # bandwidths share the distances
            k = jnp.exp(scales[h_index] * d2)  # 0 against far (masked) rows
            # the self term is exactly K = 1: replace the computed diagonal (cheaper
            # than masking the whole block, measured 15%)
            self_fix = jnp.where(i == j, 1.0 - jnp.diagonal(k), 0.0)
            rows.append(jnp.sum(k, axis=1) + self_fix)
            cols.append(jnp.sum(k, axis=0))
        sums = sums.at[i].add(jnp.stack(rows))
        sums = sums.at[j].add(jnp.where(i != j, jnp.stack(cols), 0.0))
        return sums, None

    init = jnp.zeros((ref.n_blocks, n_h, ref.rows.shape[1]), x.dtype)
    sums, _ = jax.lax.scan(step, init, pairs)
    sums = jnp.moveaxis(sums, 1, 2).reshape(-1, n_h)[:n]
    return jnp.where(ref.valid.reshape(-1)[:n, None], sums, 0.0)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _self_sums(x, h, mask, block, wide):
    return _self_sums_forward(x, h, mask, block, wide)


def _self_sums_fwd(x, h, mask, block, wide):
    return _self_sums_forward(x, h, mask, block, wide), (x, h, mask)


def _self_sums_bwd(block, wide, res, g):
    """d/dx_k sum_i g_i s_i = sum_j 2s K_kj (g_k + g_j) (x_k - x_j), and
    d/ds = sum_ij g_i K_ij d2_ij, one visit per pair of blocks."""
    x, h, mask = res
    n = x.shape[0]
    scales = _scales(h, x.dtype)
    n_h = scales.shape[0]
    ref, pairs = _self_setup(x, h, mask, block)
    g = jnp.where(ref.valid.reshape(-1)[:n, None], jnp.asarray(g, x.dtype), 0.0)
    gb, _ = _blocks(g, None, ref.rows.shape[1], 0.0)  # (n_blocks, B, H)

    def step(carry, pair):
        grad, grad_scale = carry
        i, j = pair
        d2 = ref.sq_distances(ref.rows[i], j, wide)
        diagonal = i == j
        a = jnp.zeros_like(d2)
        terms = []
        for b in range(n_h):
            k = jnp.exp(scales[b] * d2)
            # pairs (i, j) and (j, i) of an off-diagonal block pair are both here
            gk = gb[i][:, b, None] + jnp.where(diagonal, 0.0, gb[j][None, :, b])
            terms.append(jnp.sum(gk * k * d2))
            a = a + 2.0 * scales[b] * k * (gb[i][:, b, None] + gb[j][None, :, b])
        grad_scale = grad_scale + jnp.stack(terms)
        xi = ref.rows[i] - ref.centres[j]
        xj = ref.rows[j] - ref.centres[j]
        grad = grad.at[i].add(_pull_rows(xi, xj, a))
        # a diagonal block: A already holds both orders of every pair, once
        grad = grad.at[j].add(jnp.where(diagonal, 0.0, _pull_rows(xj, xi, a.T)))
        return (grad, grad_scale), None

    init = (jnp.zeros_like(ref.rows), jnp.zeros((n_h,), x.dtype))
    (grad, grad_scale), _ = jax.lax.scan(step, init, pairs)
    grad = jnp.where(ref.valid.reshape(-1)[:n, None], grad.reshape(-1, x.shape[1])[:n], 0.0)
    return grad, (grad_scale / h**3).reshape(jnp.shape(h)), None


_self_sums.defvjp(_self_sums_fwd, _self_sums_bwd)


def cross_kernel_sums(a, b, h, *, a_mask=None, b_mask=None, block_size=None):
    """Row and column sums of the kernel between two sets: sum_j K(a_i, b_j) (Na, H)
    and sum_i K(a_i, b_j) (Nb, H), from one pass over the block pairs.

    Plain (not log-space) sums, for use next to a self sum (entropy of a sharded set),
    where every total is >= 1; masked rows get meaningless values, to be ignored.
    """
    block = block_size or default_block_size()
    ba, bb = _block_for(a.shape[0], block), _block_for(b.shape[0], block)
    scales = _scales(h, a.dtype)
    n_h = scales.shape[0]
    far = _far_value([a, b], [a_mask, b_mask], h)
    ref = _ReferenceBlocks.build(b, b_mask, bb, far)
    a_blocks, _ = _blocks(a, a_mask, ba, far)
    pairs_i, pairs_j = np.divmod(np.arange(a_blocks.shape[0] * ref.n_blocks), ref.n_blocks)

    def step(carry, pair):
        rows, cols = carry
        i, j = pair
        d2 = ref.sq_distances(a_blocks[i], j, wide=False)
        k = [jnp.exp(scales[b] * d2) for b in range(n_h)]  # bandwidths share distances
        rows = rows.at[i].add(jnp.stack([jnp.sum(kb, axis=1) for kb in k]))
        cols = cols.at[j].add(jnp.stack([jnp.sum(kb, axis=0) for kb in k]))
        return (rows, cols), None

    init = (
        jnp.zeros((a_blocks.shape[0], n_h, ba), a.dtype),
        jnp.zeros((ref.n_blocks, n_h, bb), a.dtype),
    )
    (rows, cols), _ = jax.lax.scan(step, init, (jnp.asarray(pairs_i), jnp.asarray(pairs_j)))
    rows = jnp.moveaxis(rows, 1, 2).reshape(-1, n_h)[: a.shape[0]]
    cols = jnp.moveaxis(cols, 1, 2).reshape(-1, n_h)[: b.shape[0]]
    return rows, cols


def nearest_sq_distances(y, x, n: int, *, block_size=None):
    """The n smallest squared distances from each y to the rows of x, ascending: (M, n).

    A streamed top-n over blocks of x finds the n nearest rows with the fast matmul
    distances; their squared distances are then recomputed from explicit differences,
    so the values carry no cancellation error (only a near-tie at the n-th neighbour
    can pick a different, equally near row).
    """
    block = block_size or default_block_size()
    m = y.shape[0]
    by, bx = _block_for(m, block), _block_for(x.shape[0], block)
    far = _far_value([y, x], [None, None], jnp.zeros(()))
    ref = _ReferenceBlocks.build(x, None, bx, far)
    yb, _ = _blocks(y, None, by, far)

    def query_block(yq):
        def step(best, j):
            best_d2, best_index = best
            d2 = ref.sq_distances(yq, j, wide=False)
            index = j.astype(jnp.int32) * bx + jnp.arange(bx, dtype=jnp.int32)
            merged = jnp.concatenate([best_d2, d2], axis=1)
            merged_index = jnp.concatenate([best_index, jnp.broadcast_to(index, d2.shape)], axis=1)
            neg, pick = jax.lax.top_k(-merged, n)
            return (-neg, jnp.take_along_axis(merged_index, pick, axis=1)), None

        init = (jnp.full((by, n), jnp.inf, y.dtype), jnp.zeros((by, n), jnp.int32))
        (_, index), _ = jax.lax.scan(step, init, jnp.arange(ref.n_blocks))
        nearest = ref.rows.reshape(-1, x.shape[1])[index]  # (By, n, d)
        exact = jnp.sum((yq[:, None, :] - nearest) ** 2, axis=2)
        return jnp.sort(exact, axis=1)

    return jax.lax.map(query_block, yb).reshape(-1, n)[:m]


def log_kernel_from_sq_distances(d2, h):
    """log sum over the last axis of exp(-d2 / (2 h^2)), per bandwidth: (..., H)."""
    scales = _scales(h, d2.dtype)
    return jax.nn.logsumexp(d2[..., None] * scales, axis=-2)
