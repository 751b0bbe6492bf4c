"""Blockwise Gaussian kernel sums between descriptor sets, as pure JAX.

K(y, x) = exp(-|y - x|^2 / (2 h^2)), unnormalised, for one bandwidth or a vector of
bandwidths (one pass: the distances are shared). Every routine streams over blocks:
memory is O((M + N) d + block^2 H), never the M x N matrix, and results do not depend
on the block size beyond rounding.

Numerics:

* Squared distances come from one matmul, |y|^2 + |x|^2 - 2 y.x, at explicit
  ``precision=HIGHEST`` (no TF32 on NVIDIA GPUs). Its cancellation error scales with
  |y - c|^2 + |x - c|^2 for the centre c, so each block pair is centred on the
  mean of its reference block, outlying rows left out (:func:`robust_centres`).
  Rows still farther from it than :func:`exact_limit` (the 1e16 entries of
  coincident atoms, outliers: any share of a block) get their distances from
  explicit differences instead (here one row at a time behind a ``cond``; the
  engine runs :func:`exact_block_sq_distances` on the block pairs that may hold such
  rows), so the sums are exact at any block size and device count.
* In float32 that error is still ~eps |y - c|^2, i.e. ~1e-4 in the exponent
  |y - x|^2 / 2h^2 for h = 0.015 and rows 0.2 from the block centre (measured on the
  DFT silicon set: dH off by up to 1.6e-4; 5e-4 on a set of mixed structures).
  Per-environment results (dH) therefore use "wide" distances: in float32, split
  arithmetic (:func:`_compensated_matmul_distances`: an exact product of coarse high
  parts plus a float32 product of the rest, ~2x the plain distances' time on a
  CPU) brings it to ~1e-6, with no 64-bit float in any program (TPUs have none; most
  GPUs run it at 1/32-1/64 speed). Averages over a set (entropy, diversity) keep the
  plain float32 matmul: their rounding errors average out (~1e-7 relative).
* Sums against a reference set accumulate in log space, relative to the nearest
  reference row: log sum_j K(y, x_j) = s m + log sum_j exp(s (|y - x_j|^2 - m)), with
  m the smallest squared distance and s = -1/(2h^2). It stays finite and accurate when
  every kernel underflows (the reference package returns +inf there), and, because
  the exponents are formed from differences of distances, for any distance at all
  (the running-max form exp(s d^2 - max s d^2) lost whole rows to 0 or inf where XLA
  fused the product into a multiply-add).
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
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._core.array_types import (
    AnyArray,
    Array,
    Bandwidths,
    Bool,
    Float,
    QueryMask,
    QueryRows,
    RowMask,
    Rows,
)
from .._core.errors import InputValueError
from .._core.padding import far_beyond, pad_rows
from .._core.precision import HIGHEST


def default_block_size() -> int:
    """Rows per block: the fastest measured on CPU (see benchmarks/README.md), larger
    on accelerators."""
    return 1280 if jax.default_backend() == "cpu" else 8192


def _block_for(n: int, block_size: int) -> int:
    """Block size actually used for n rows: at most ``block``, a multiple of 8, and no
    larger than n needs."""
    return max(8, min(block_size, -(-n // 8) * 8))


def _blocks(a, mask, block_size: int, fill=None):
    """(n_blocks, block, ...) views of rows and their validity (False for padding and
    masked rows, which are replaced by ``fill`` when given)."""
    n = a.shape[0]
    n_blocks = -(-n // block_size)
    valid = jnp.arange(n_blocks * block_size) < n
    if mask is not None:
        valid = valid & pad_rows(jnp.asarray(mask, bool), n_blocks * block_size)
    a = pad_rows(a, n_blocks * block_size)
    if fill is not None:
        a = jnp.where(valid.reshape((-1,) + (1,) * (a.ndim - 1)), a, fill)
    return a.reshape((n_blocks, block_size) + a.shape[1:]), valid.reshape(n_blocks, block_size)


def _far_value(arrays, masks, h):
    """A coordinate far enough from all valid rows of ``arrays`` that exp(-d^2 / 2h^2)
    underflows to 0 for every bandwidth (d > 10^3 (1 + h))."""
    reach = 0.0
    for a, m in zip(arrays, masks, strict=True):
        magnitude = jnp.abs(a)
        if m is not None:
            magnitude = jnp.where(jnp.asarray(m, bool)[:, None], magnitude, 0.0)
        reach = jnp.maximum(reach, jnp.max(magnitude))
    return jax.lax.stop_gradient(far_beyond(reach, h, jnp))


# Bits of the coarse ("high") part of each centred entry in compensated distances:
# with |high| <= 2^8 grid steps, every product of two high parts, the sums of 63 of
# them, |y_h|^2 + |x_h|^2 and |y_h - x_h|^2 stay below 2^24 steps: exact in float32.
_HIGH_BITS = 8


def _split(a, step):
    """(high, low) of centred rows ``a``: high on the grid ``step`` (at most 2^8 steps,
    clipped there for rows beyond the block's scale), low = a - high (exact where not
    clipped)."""
    limit = float(2**_HIGH_BITS)
    high = jnp.clip(jnp.round(a / step), -limit, limit) * step
    return high, a - high


def _compensated_matmul_distances(y, x, centre, x_sq, limit):
    """|y - x|^2 (By, Bx) of float32 rows with ~1/70 of the plain matmul's rounding
    error (measured: ~1e-6 instead of ~1e-4 in the exponent at h = 0.015), in float32
    only (split arithmetic; no float64, so it runs on TPUs and at full speed on GPUs
    without fast float64).

    Entries are centred on ``centre`` and split into a high part on a grid of 2^-8 of
    the largest entry A of the rows within ``limit`` of the centre (others are far rows,
    whose distances the callers recompute exactly) and a low part (<= 2^-9 A). Then

        |y - x|^2 = |y_h - x_h|^2 + (2 y_h.y_l + |y_l|^2) + (2 x_h.x_l + |x_l|^2)
                    - 2 (y_h.x_l + y_l.x)

    where |y_h - x_h|^2 = |y_h|^2 + |x_h|^2 - 2 y_h.x_h is exact (integers of the grid,
    all below 2^24 steps: any summation order, any device at HIGHEST precision) and
    the rest is ~2^-9 of the plain terms' size, so its float32 rounding is too (its row,
    column and product terms round separately: ~1/70 overall).
    ``x_sq`` (Bx,): |x - centre|^2, the block's own (prepared once per block).
    Cost: two matmuls, of width d and 2d + 2 (~2x the plain distances' time on a CPU).
    """
    yc, xc = y - centre, x - centre
    y_sq = jnp.sum(yc * yc, axis=1)
    scale = jnp.maximum(
        jnp.max(jnp.where(y_sq <= limit, jnp.max(jnp.abs(yc), axis=1), 0.0)),
        jnp.max(jnp.where(x_sq <= limit, jnp.max(jnp.abs(xc), axis=1), 0.0)),
    )
    # scale < 2^e; floored so that the step stays a normal number: when every row within
    # the limit sits exactly at the centre (scale 0), a subnormal step is flushed to 0
    # on CPUs and GPUs, and 0 / 0 gave NaN distances
    floor = jnp.finfo(y.dtype).tiny * 2.0 ** (_HIGH_BITS + 1)
    _, exponent = jnp.frexp(jnp.maximum(scale, floor))
    step = jnp.ldexp(jnp.ones((), y.dtype), exponent - _HIGH_BITS)
    yh, yl = _split(yc, step)
    xh, xl = _split(xc, step)
    exact = (  # |y_h - x_h|^2, exact
        jnp.sum(yh * yh, axis=1)[:, None]
        + jnp.sum(xh * xh, axis=1)[None, :]
        + jnp.matmul(-2.0 * yh, xh.T, precision=HIGHEST)
    )
    # the rest in one matmul of width 2d + 2 (128 for d = 63), row and column terms
    # folded in: [y_h, y_l, r_y, 1] . [-2 x_l, -2 x, 1, r_x]
    y_rest = jnp.sum(yl * (2.0 * yh + yl), axis=1, keepdims=True)
    x_rest = jnp.sum(xl * (2.0 * xh + xl), axis=1, keepdims=True)
    rest = jnp.matmul(
        jnp.concatenate([yh, yl, y_rest, jnp.ones_like(y_rest)], axis=1),
        jnp.concatenate([-2.0 * xl, -2.0 * xc, jnp.ones_like(x_rest), x_rest], axis=1).T,
        precision=HIGHEST,
    )
    return exact + rest


@jax.custom_jvp
def _compensated_sq_distances(y, x, centre, x_sq, limit):
    """:func:`_compensated_matmul_distances`, with its derivative computed in float32
    from the plain formula (the split's rounding steps have no derivative)."""
    return _compensated_matmul_distances(y, x, centre, x_sq, limit)


@_compensated_sq_distances.defjvp
def _compensated_sq_distances_jvp(primals, tangents):
    y, x, centre, x_sq, limit = primals
    dy, dx, _, _, _ = tangents  # the centre cancels out of |y - x|^2; x_sq follows x
    yc, xc = y - centre, x - centre
    tangent = (
        2 * jnp.sum(yc * dy, axis=1)[:, None]
        + 2 * jnp.sum(xc * dx, axis=1)[None, :]
        - 2 * jnp.matmul(dy, xc.T, precision=HIGHEST)
        - 2 * jnp.matmul(yc, dx.T, precision=HIGHEST)
    )
    return _compensated_sq_distances(y, x, centre, x_sq, limit), tangent


def robust_centres(rows, valid, passes: int = 6, xp=jnp):
    """(n_blocks, d) centre of the valid rows of each block (rows (n_blocks, B, d),
    valid (n_blocks, B)): a mean that outlying rows (the 1e16 entries of coincident
    atoms) do not drag away from the others. ``xp=np``: on the host.

    Each pass keeps the rows no farther from the current centre than the root mean
    square (an outlier dominates that mean and is dropped; without outliers about
    two thirds of the rows stay, around the middle) and takes their mean; each pass
    removes one scale of outliers. Sort-free, O(block d) per pass, so it fuses with
    its neighbours (a median's sort would hold a copy of the set). Rows still far
    from it get exact distances anyway (:func:`block_sq_distances`): the centre only
    decides how many. No gradient flows through it (it cancels out of distances).
    """
    if xp is jnp:
        rows = jax.lax.stop_gradient(rows)

        def weighted_sums(w, a):  # (n, B), (n, B, d) -> (n, d)
            return (a * w[..., None]).sum(axis=1)

        def sq_norms(a):  # (n, B, d) -> (n, B)
            return jnp.sum(a * a, axis=2)
    else:  # the same sums as NumPy contractions: 2-3x faster than products and sums

        def weighted_sums(w, a):
            return np.einsum("nb,nbd->nd", w, a)

        def sq_norms(a):
            return np.einsum("nbd,nbd->nb", a, a)

    keep = valid

    def mean_of(keep):
        w = keep.astype(rows.dtype)
        return weighted_sums(w, rows) / xp.maximum(w.sum(axis=1), 1.0)[:, None]

    centres = mean_of(keep)
    for _ in range(passes):
        r2 = sq_norms(rows - centres[:, None, :])
        count = xp.maximum(keep.sum(axis=1, keepdims=True), 1)
        mean_r2 = xp.sum(xp.where(keep, r2, 0.0), axis=1, keepdims=True) / count
        keep = keep & (r2 <= mean_r2)
        centres = mean_of(keep)
    if xp is not jnp:
        return centres
    # materialised once: XLA may otherwise recompute the mean inside a consumer's
    # fusion with another rounding (x * (1/n) for x / n), which at 1e16 entries puts
    # |row - centre|^2 off by O(1) against the centre used elsewhere
    return jax.lax.optimization_barrier(centres)


def exact_limit(h, dtype, wide: bool, xp=jnp):
    """|row - centre|^2 beyond which a row's matmul distances are not trusted.

    The matmul's rounding error in |y - x|^2 is ~4 eps (|y - c|^2 + |x - c|^2); rows
    within limit = tol h^2 / eps of the centre keep it below ~4 tol in the exponent
    |y - x|^2 / 2h^2. tol = 1e-10 in float64; 1e-2 for the plain float32 matmul of set
    averages (entropy, diversity), whose rounding errors average out; for ``wide``
    float32 distances (per-row results: compensated, :func:`_compensated_matmul_distances`)
    eps is 2^-8 times smaller and tol = 1e-6 (|row - c| < 0.69 at h = 0.015).
    Descriptors of physical structures lie inside it; rows beyond (coincident atoms,
    outliers) get exact distances.
    """
    eps = float(np.finfo(dtype).eps)
    if np.dtype(dtype) == np.float64:
        tol = 1e-10
    elif wide:
        tol, eps = 1e-6, eps * 2.0**-_HIGH_BITS
    else:
        tol = 1e-2
    h_min = xp.min(xp.asarray(h, dtype))
    return (tol * h_min * h_min / eps).astype(dtype)


class _ReferenceBlocks(NamedTuple):
    """Rows of a reference set in blocks, each block with its own centre.

    The centred rows are formed per block when needed (block x d work against the
    block^2 x d matmul) rather than stored: one copy of the set, not two. (A
    NamedTuple: a pytree without importing equinox on the dataset path.)
    """

    rows: jax.Array  # (n_blocks, block, d); padding/masked rows far away
    valid: jax.Array  # (n_blocks, block)
    centres: jax.Array  # (n_blocks, d)
    sq: jax.Array  # (n_blocks, block) |rows - centre|^2
    h_min: jax.Array  # () the smallest bandwidth (for exact_limit)

    @classmethod
    def build(cls, x, mask, block_size: int, far, h):
        rows, valid = _blocks(x, mask, block_size, far)
        centres = robust_centres(rows, valid)
        centred = rows - centres[:, None, :]
        h_min = jax.lax.stop_gradient(jnp.min(jnp.asarray(h, x.dtype)))
        return cls(rows, valid, centres, jnp.sum(centred * centred, axis=2), h_min)

    @property
    def n_blocks(self) -> int:
        return self.rows.shape[0]

    def sq_distances(self, y, j, wide: bool, y_valid):
        """|y - x|^2 (By, Bx) between rows y (valid: ``y_valid`` (By,)) and reference
        block j, exact for rows far from the block's centre
        (:func:`block_sq_distances`)."""
        limit = exact_limit(self.h_min, self.rows.dtype, wide)
        return block_sq_distances(
            y, self.rows[j], self.centres[j], self.sq[j], wide, limit, y_valid, self.valid[j]
        )


def prepare_block(rows, valid, far):
    """One reference block for :func:`block_sq_distances`, prepared on the host (NumPy
    rows (B, d) and validity (B,)): (rows with invalid rows moved to ``far`` (B, d),
    robust centre (d,), |rows - centre|^2 (B,), validity (B,)).

    On the host rather than in a compiled program: it is cheaper there than a call
    (0.49 vs 0.63 ms per 1,280 x 63 block on a CPU), compiles nothing (a program per
    block size cost ~0.16 s of every cold run) and leaves the block's extent on the
    host, where the engine needs it, without a round trip from the device.
    """
    rows = np.where(valid[:, None], rows, np.asarray(far, rows.dtype))
    centre = robust_centres(rows[None], valid[None], xp=np)[0]
    centred = rows - centre
    return rows, centre, np.einsum("ij,ij->i", centred, centred), valid


def block_sq_distances(
    y, rows, centre, sq, wide: bool, limit=None, y_valid=None, x_valid=None, *, fix_far=True
):
    """|y - x|^2 (By, Bx) between rows y (By, d) and a reference block ``rows``
    (Bx, d) with its centre (d,) and |rows - centre|^2 (Bx,) (module docstring).

    With ``limit`` (:func:`exact_limit`; needed for ``wide`` float32 distances), the
    distances of valid rows (``y_valid`` (By,), ``x_valid`` (Bx,) bool) farther than
    the limit from the centre are recomputed from explicit differences, exact whatever
    share of the block is far away (:func:`_exact_far_rows`); ``fix_far=False`` skips
    that (the caller knows there are none). No gradient flows through the recomputed
    entries.
    """
    d2 = _matmul_sq_distances(y, rows, centre, sq, wide, limit)
    if limit is None or not fix_far:
        return d2
    y_far, x_far = _far_rows(y, centre, sq, limit, y_valid, x_valid)
    return jax.lax.cond(
        jnp.any(y_far) | jnp.any(x_far),
        lambda d2: _exact_far_rows(d2, y, rows, y_far, x_far),
        lambda d2: d2,
        d2,
    )


def exact_block_sq_distances(y, rows, centre, sq, wide: bool, limit, y_valid, x_valid):
    """:func:`block_sq_distances` with the distances of valid rows beyond ``limit``
    from the centre taken from explicit differences of every pair (one fused
    reduction, ~5x the matmul), without branches: for the block programs of
    :mod:`quests_jax.information._engine`, which run it only on block pairs that may hold such rows
    (a while loop or cond in the common program, even never entered, slowed it by
    20-60% on XLA:CPU)."""
    d2 = _matmul_sq_distances(y, rows, centre, sq, wide, limit)
    y_far, x_far = _far_rows(y, centre, sq, limit, y_valid, x_valid)
    direct = jnp.sum((y[:, None, :] - rows[None, :, :]) ** 2, axis=-1)
    return jnp.where(y_far[:, None] | x_far[None, :], direct.astype(d2.dtype), d2)


def _matmul_sq_distances(y, rows, centre, sq, wide, limit):
    if wide and y.dtype == jnp.float32:
        if limit is None:
            raise InputValueError("compensated float32 distances need the exact limit")
        return jnp.maximum(_compensated_sq_distances(y, rows, centre, sq, limit), 0.0)
    yc = y - centre
    xc = rows - centre
    cross = jnp.matmul(yc, xc.T, precision=HIGHEST)
    d2 = jnp.sum(yc * yc, axis=1)[:, None] + sq[None, :] - 2.0 * cross
    return jnp.maximum(d2, 0.0)


def _far_rows(y, centre, sq, limit, y_valid, x_valid):
    """Valid rows of y (By,) and of the block (Bx,) beyond ``limit`` from the centre."""
    y_sq = jnp.sum((y - centre) ** 2, axis=1)
    return (y_sq > limit) & y_valid, (sq > limit) & x_valid


def _exact_far_rows(d2, y, x, y_far, x_far):
    """d2 (By, Bx) with the rows ``y_far`` (By,) and columns ``x_far`` (Bx,) replaced
    by |y_i - x_j|^2 from explicit differences, one flagged row at a time."""
    y, x = jax.lax.stop_gradient(y), jax.lax.stop_gradient(x)

    def replace(d2, a, b, flagged):  # rows i of d2 <- |a_i - b_j|^2
        def body(state):
            d2, pending = state
            i = jnp.argmax(pending)
            d2 = d2.at[i].set(jnp.sum((a[i] - b) ** 2, axis=1).astype(d2.dtype))
            return d2, pending.at[i].set(False)

        return jax.lax.while_loop(lambda state: jnp.any(state[1]), body, (d2, flagged))[0]

    fixed = replace(jax.lax.stop_gradient(d2), y, x, y_far)
    fixed = replace(fixed.T, x, y, x_far).T
    return jnp.where(y_far[:, None] | x_far[None, :], fixed, d2)


def scales_of(h, dtype, xp=jnp):
    """-1/(2 h^2) for a bandwidth vector (H,) (``xp=np``: on the host)."""
    h = xp.asarray(h, dtype)
    return (-0.5 / (h * h)).astype(dtype)


def log_kernel_sums(
    y: QueryRows,
    x: Rows,
    h: Bandwidths,
    *,
    weights: Float[AnyArray, " n"] | None = None,
    y_mask: QueryMask = None,
    x_mask: RowMask = None,
    block_size: int | None = None,
    wide: bool = True,
):
    """log sum_j K(y_i, x_j) (and the kernel-weighted mean of ``weights``).

    Args:
        y: (M, d) query descriptors.
        x: (N, d) reference descriptors.
        h: (H,) bandwidths.
        weights: optional (N,) values per reference row.
        y_mask: optional (M,) bool; False rows are ignored (a masked query row gets
            -inf).
        x_mask: optional (N,) bool; False reference rows are ignored.
        block_size: rows per block (static); default :func:`default_block_size`.
        wide: float32 distances in split arithmetic (per-row accuracy, the
            default; module docstring); False is ~2x faster on a CPU where only
            averages over rows matter. No effect in float64.

    Returns:
        (M, H) log kernel sums, and with ``weights`` also the (M, H) weighted means
        sum_j w_j K_ij / sum_j K_ij. Without weights the result is differentiable in
        y, x and h with O((M + N) d) memory (a streamed custom VJP).
    """
    block_size = block_size or default_block_size()
    if weights is None:
        return _log_sums(y, x, h, y_mask, x_mask, block_size, wide)
    log_sum, mean_w = _stream_log_sums(y, x, h, weights, y_mask, x_mask, block_size, wide)
    if y_mask is not None:  # masked rows: the mean of nothing (quests_jax._core.padding)
        mean_w = jnp.where(jnp.asarray(y_mask, bool)[:, None], mean_w, jnp.nan)
    return log_sum, mean_w


def _block_log_sums(d2, scales, weights=None):
    """One block of a streamed log sum, relative to its nearest row.

    Returns the (By,) nearest squared distance m_i = min_j d2_ij, the (H, By) log
    sums relative to it, log sum_j exp(s (d2_ij - m_i)) (in [0, log Bx]), and with
    ``weights`` (Bx,) the (H, By) kernel-weighted means of the weights.

    Rounding-safe for any distance: the exponents s (d2 - m) <= 0 are formed from
    differences of distances, and the nearest row contributes exactly 1. (The direct
    form exp(s d2 - max_j s d2) is not: where XLA contracts s d2 - top into a fused
    multiply-add, the product's rounding error, ~1e28 for the distances of
    coincident-atom descriptors, lands in the exponent and gives 0 or inf.)
    """
    nearest = jnp.min(d2, axis=1)
    gap = d2 - nearest[:, None]  # >= 0 (an elementwise clamp would cost 45% in float64)
    logs, means = [], []
    for scale in scales:  # bandwidths share the distances
        kz = jnp.exp(scale * gap)
        total = jnp.sum(kz, axis=1)
        # >= 1 (the nearest row); should XLA recompute d2 in two fusions with different
        # roundings, a gap of -1 ulp at 1e32 would give inf: a whole row's sum is then
        # taken as 1, an error of at most log(block) on a log sum of ~1e35
        finite = total < jnp.inf
        safe = jnp.where(finite, jnp.maximum(total, 1.0), 1.0)
        logs.append(jnp.log(safe))
        if weights is not None:
            weighted = jnp.matmul(kz, weights, precision=HIGHEST)
            means.append(jnp.where(finite, weighted / safe, 0.0))
    return nearest, jnp.stack(logs), (jnp.stack(means) if weights is not None else None)


def _rebase(nearest, new_nearest, scales):
    """(H, By) s (m - m'): the change of a relative log sum when its base distance m
    moves to m' <= m (0 where they are equal, -inf where m is +inf)."""
    shift = jnp.where(nearest == new_nearest, 0.0, nearest - new_nearest)
    return scales[:, None] * shift[None, :]


def _share(part, total):
    """exp(part - total) in [0, 1], the share of a log sum in a larger one; 0 where
    the part is -inf."""
    return jnp.where(part > -jnp.inf, jnp.exp(jnp.minimum(part - total, 0.0)), 0.0)


def log_sums_init(rows: int, n_h: int, dtype, xp=jnp):
    """Empty carry of :func:`log_sums_step`: nearest (B,) = inf, relative log sums
    (H, B) = -inf, weighted means (H, B) = 0 (``xp=np``: made on the host)."""
    return (
        xp.full((rows,), np.inf, dtype),
        xp.full((n_h, rows), -np.inf, dtype),
        xp.zeros((n_h, rows), dtype),
    )


def log_sums_step(carry, d2, scales, weights=None):
    """Fold one reference block's squared distances d2 (By, Bx) into a streamed log sum.

    ``carry`` = (nearest (By,), relative log sums (H, By), weighted means (H, By)): the
    log sum is s nearest + rel (see :func:`_block_log_sums`); ``weights`` (Bx,) are
    the block's values for the weighted means.
    """
    nearest, rel, mean_w = carry
    block_nearest, block_rel, block_w = _block_log_sums(d2, scales, weights)
    new_nearest = jnp.minimum(nearest, block_nearest)
    old_part = rel + _rebase(nearest, new_nearest, scales)
    new_part = block_rel + _rebase(block_nearest, new_nearest, scales)
    new_rel = jnp.logaddexp(old_part, new_part)
    if weights is not None:
        mean_w = mean_w * _share(old_part, new_rel) + block_w * _share(new_part, new_rel)
    return new_nearest, new_rel, mean_w


PREPARED_BLOCK = 4096
"""Reference rows per block of :func:`prepare_reference_blocks` (default)."""


def prepare_reference_blocks(x, h, block: int | None = None, dtype=None) -> tuple:
    """A reference set (N, d) prepared once, on the host, for many calls of
    :func:`prepared_log_sums` inside a traced loop (a Monte Carlo chain): (rows
    (B, block, d), their centres (B, d), |rows - centre|^2 (B, block), -1/(2 h^2)
    (H,)), each block prepared as the engine's (:func:`prepare_block`); padding rows
    get |rows - centre|^2 = +inf, so they add exactly nothing whatever the queries.
    Its programs depend on the number of blocks, not of rows."""
    block = block or PREPARED_BLOCK
    x = np.asarray(x)
    dtype = x.dtype if dtype is None else np.dtype(dtype)
    far = far_beyond(float(np.abs(x).max()), np.asarray(h, np.float64).reshape(-1), np)
    n_blocks = -(-len(x) // block)
    rows = np.zeros((n_blocks, block, x.shape[1]), dtype)
    centres = np.zeros((n_blocks, x.shape[1]), dtype)
    sq = np.zeros((n_blocks, block), dtype)
    for b in range(n_blocks):
        part = np.zeros((block, x.shape[1]), dtype)
        valid = np.arange(block) < len(x) - b * block
        part[valid] = x[b * block : (b + 1) * block]
        rows[b], centres[b], sq[b], _ = prepare_block(part, valid, far)
        sq[b][~valid] = np.inf
    return (
        jnp.asarray(rows),
        jnp.asarray(centres),
        jnp.asarray(sq),
        jnp.asarray(scales_of(h, dtype, np).reshape(-1)),
    )


def prepared_log_sums(y, prepared: tuple):
    """log sum_j K(y_i, x_j) (M, H) of rows y (M, d) against a reference from
    :func:`prepare_reference_blocks`, in plain distances |y - c|^2 + |x - c|^2 -
    2 (y - c).(x - c) about each block's centre (one matmul per block; no split
    arithmetic, no gradient rule: ~3x faster than :func:`log_kernel_sums` where a
    chain only compares its scores), streamed over the blocks relative to each row's
    nearest reference row (:func:`log_sums_step`)."""
    rows, centres, sq, scales = prepared

    def step(carry, block):
        rows_j, centre_j, sq_j = block
        return log_sums_step(
            carry, block_sq_distances(y, rows_j, centre_j, sq_j, False), scales
        ), None

    init = log_sums_init(y.shape[0], scales.shape[0], y.dtype)
    (nearest, rel, _), _ = jax.lax.scan(step, init, (rows, centres, sq))
    return scales[None, :] * nearest[:, None] + rel.T


def _stream_log_sums(y, x, h, weights, y_mask, x_mask, block_size, wide):
    """Forward pass of :func:`log_kernel_sums` (see there)."""
    log_sum, mean_w, _ = _stream_log_parts(y, x, h, weights, y_mask, x_mask, block_size, wide)
    return log_sum if weights is None else (log_sum, mean_w)


def _stream_log_parts(y, x, h, weights, y_mask, x_mask, block_size, wide):
    """(log sums (M, H), weighted means (M, H) or None, (nearest (M,), relative log
    sums (M, H))): log sum_j K_ij = s m_i + rel_i with m_i = min_j |y_i - x_j|^2 and
    rel_i = log sum_j exp(s (|y_i - x_j|^2 - m_i)) in [0, log N]; the backward pass
    forms its softmax weights from the last two."""
    m = y.shape[0]
    by, bx = _block_for(m, block_size), _block_for(x.shape[0], block_size)
    scales = scales_of(h, y.dtype)
    n_h = scales.shape[0]
    far = _far_value([y, x], [y_mask, x_mask], h)
    ref = _ReferenceBlocks.build(x, x_mask, bx, far, h)
    wb = None
    if weights is not None:
        wb, _ = _blocks(jnp.asarray(weights, y.dtype), x_mask, bx, 0.0)
    yb, y_valid = _blocks(y, y_mask, by, far)

    def query_block(block):
        yq, yv = block

        def step(carry, j):
            d2 = ref.sq_distances(yq, j, wide, yv)
            return log_sums_step(carry, d2, scales, None if wb is None else wb[j]), None

        init = log_sums_init(by, n_h, y.dtype)
        (nearest, rel, mean_w), _ = jax.lax.scan(step, init, jnp.arange(ref.n_blocks))
        return nearest, rel, mean_w

    nearest, rel, mean_w = jax.lax.map(query_block, (yb, y_valid))  # (n_blocks, [H,] By)
    nearest = nearest.reshape(-1)[:m]
    rel = jnp.moveaxis(rel, 1, 2).reshape(-1, n_h)[:m]
    log_sum = scales[None, :] * nearest[:, None] + rel
    log_sum = jnp.where(y_valid.reshape(-1)[:m, None], log_sum, -jnp.inf)
    mean_w = None if weights is None else jnp.moveaxis(mean_w, 1, 2).reshape(-1, n_h)[:m]
    return log_sum, mean_w, (nearest, rel)


def _pull_rows(yc, xc, a):
    """sum_j a_ij (y_i - x_j): (By, d), for A (By, Bx) and rows centred on one point."""
    return yc * jnp.sum(a, axis=1)[:, None] - jnp.matmul(a, xc, precision=HIGHEST)


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6))
def _log_sums(y, x, h, y_mask, x_mask, block_size, wide):
    return _stream_log_sums(y, x, h, None, y_mask, x_mask, block_size, wide)


def _log_sums_fwd(y, x, h, y_mask, x_mask, block_size, wide):
    # symbolic zeros: ``perturbed`` says which inputs are being differentiated, so the
    # backward pass skips the reference side (one matmul in three) for fixed data
    out, _, parts = _stream_log_parts(
        y.value, x.value, h.value, None, _value(y_mask), _value(x_mask), block_size, wide
    )
    need_x = True if x.perturbed else None  # None: a static "no" inside the residuals
    return out, (y.value, x.value, h.value, _value(y_mask), _value(x_mask), parts, need_x)


def _value(a):
    return None if a is None else a.value


def _log_sums_bwd(block_size, wide, res, g):
    y, x, h, y_mask, x_mask, (nearest, rel), need_x = res
    if isinstance(g, jax.custom_derivatives.SymbolicZero):
        return jnp.zeros_like(y), jnp.zeros_like(x), jnp.zeros_like(h), None, None
    m, n = y.shape[0], x.shape[0]
    by, bx = _block_for(m, block_size), _block_for(n, block_size)
    scales = scales_of(h, y.dtype)
    n_h = scales.shape[0]
    far = _far_value([y, x], [y_mask, x_mask], h)
    ref = _ReferenceBlocks.build(x, x_mask, bx, far, h)
    yb, y_valid = _blocks(y, y_mask, by, far)
    # masked and padding query rows: log sum -inf; give them weight 0
    log_sum = scales[None, :] * nearest[:, None] + rel  # as in the forward pass
    live = y_valid.reshape(-1)[:m, None] & jnp.isfinite(log_sum)
    g = jnp.where(live, jnp.asarray(g, y.dtype), 0.0)
    rel = jnp.where(live, rel, 0.0)
    nearest = jnp.where(live.any(axis=1), nearest, 0.0)
    gb, _ = _blocks(g, None, by, 0.0)  # (n_yb, By, H)
    rb, _ = _blocks(rel, None, by, 0.0)
    nb, _ = _blocks(nearest, None, by, 0.0)

    def query_block(carry, i):
        grad_x, grad_scale = carry
        yq, gq, rq, nq = yb[i], gb[i], rb[i], nb[i]

        def step(inner, j):
            grad_y, grad_x, grad_scale = inner
            d2 = ref.sq_distances(yq, j, wide, y_valid[i])
            gap = jnp.maximum(d2 - nq[:, None], 0.0)
            a = jnp.zeros_like(d2)
            terms = []
            for b in range(n_h):
                # softmax weight K_ij / sum_j K_ij times the cotangent, from the
                # forward's nearest distance and relative log sum: an exponent <= 0
                # formed from distance differences (see _block_log_sums)
                w = gq[:, b, None] * jnp.exp(scales[b] * gap - rq[:, b, None])
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


def self_kernel_sums(
    x: Rows,
    h: Bandwidths,
    *,
    mask: RowMask = None,
    block_size: int | None = None,
    wide: bool = False,
):
    """sum_j K(x_i, x_j) over the (valid) rows of one set, self term included: (N, H).

    Each pair of blocks is visited once. Entries are >= 1 for valid rows (the self
    term, exactly 1), so plain sums are exact enough; masked rows get 0. ``wide``
    computes float32 distances in split arithmetic (for per-row accuracy). Differentiable
    in x and h with O(N d) memory (a streamed custom VJP).
    """
    return _self_sums(x, h, mask, block_size or default_block_size(), wide)


def _self_setup(x, h, mask, block_size):
    b = _block_for(x.shape[0], block_size)
    ref = _ReferenceBlocks.build(x, mask, b, _far_value([x], [mask], h), h)
    rows_i, cols_j = np.triu_indices(ref.n_blocks)
    return ref, (jnp.asarray(rows_i), jnp.asarray(cols_j))


def self_block_sums(d2, scales, diagonal):
    """Row and column sums (H, Bi), (H, Bj) of the kernel of one block pair of a self
    sum, from its squared distances d2 (Bi, Bj); on a ``diagonal`` pair (a block with
    itself) the self terms are exactly 1 and the columns (the same pairs) are 0."""
    rows, cols = [], []
    for scale in scales:  # bandwidths share the distances
        k = jnp.exp(scale * d2)  # 0 against far (masked) rows
        # the self term is exactly K = 1: replace the computed diagonal (cheaper
        # than masking the whole block, measured 15%)
        self_fix = jnp.where(diagonal, 1.0 - jnp.diagonal(k), 0.0)
        rows.append(jnp.sum(k, axis=1) + self_fix)
        cols.append(jnp.where(diagonal, 0.0, jnp.sum(k, axis=0)))
    return jnp.stack(rows), jnp.stack(cols)


def _self_sums_forward(x, h, mask, block_size, wide):
    n = x.shape[0]
    scales = scales_of(h, x.dtype)
    n_h = scales.shape[0]
    ref, pairs = _self_setup(x, h, mask, block_size)

    def step(sums, pair):
        i, j = pair
        d2 = ref.sq_distances(ref.rows[i], j, wide, ref.valid[i])
        rows, cols = self_block_sums(d2, scales, i == j)
        sums = sums.at[i].add(rows)
        sums = sums.at[j].add(cols)
        return sums, None

    init = jnp.zeros((ref.n_blocks, n_h, ref.rows.shape[1]), x.dtype)
    sums, _ = jax.lax.scan(step, init, pairs)
    sums = jnp.moveaxis(sums, 1, 2).reshape(-1, n_h)[:n]
    return jnp.where(ref.valid.reshape(-1)[:n, None], sums, 0.0)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _self_sums(x, h, mask, block_size, wide):
    return _self_sums_forward(x, h, mask, block_size, wide)


def _self_sums_fwd(x, h, mask, block_size, wide):
    return _self_sums_forward(x, h, mask, block_size, wide), (x, h, mask)


def _self_sums_bwd(block_size, wide, res, g):
    """d/dx_k sum_i g_i s_i = sum_j 2s K_kj (g_k + g_j) (x_k - x_j), and
    d/ds = sum_ij g_i K_ij d2_ij, one visit per pair of blocks."""
    x, h, mask = res
    n = x.shape[0]
    scales = scales_of(h, x.dtype)
    n_h = scales.shape[0]
    ref, pairs = _self_setup(x, h, mask, block_size)
    g = jnp.where(ref.valid.reshape(-1)[:n, None], jnp.asarray(g, x.dtype), 0.0)
    gb, _ = _blocks(g, None, ref.rows.shape[1], 0.0)  # (n_blocks, B, H)

    def step(carry, pair):
        grad, grad_scale = carry
        i, j = pair
        d2 = ref.sq_distances(ref.rows[i], j, wide, ref.valid[i])
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


def cross_kernel_sums(
    a: Float[AnyArray, "m d"],
    b: Float[AnyArray, "n d"],
    h: Bandwidths,
    *,
    a_mask: QueryMask = None,
    b_mask: RowMask = None,
    block_size: int | None = None,
):
    """Row and column sums of the kernel between two sets: sum_j K(a_i, b_j) (Na, H)
    and sum_i K(a_i, b_j) (Nb, H), from one pass over the block pairs.

    Plain (not log-space) sums, for use next to a self sum (entropy of a sharded set),
    where every total is >= 1; masked rows get 0 (an empty sum).
    """
    block_size = block_size or default_block_size()
    ba, bb = _block_for(a.shape[0], block_size), _block_for(b.shape[0], block_size)
    scales = scales_of(h, a.dtype)
    n_h = scales.shape[0]
    far = _far_value([a, b], [a_mask, b_mask], h)
    ref = _ReferenceBlocks.build(b, b_mask, bb, far, h)
    a_blocks, a_valid = _blocks(a, a_mask, ba, far)
    pairs_i, pairs_j = np.divmod(np.arange(a_blocks.shape[0] * ref.n_blocks), ref.n_blocks)

    def step(carry, pair):
        rows, cols = carry
        i, j = pair
        d2 = ref.sq_distances(a_blocks[i], j, False, a_valid[i])
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
    if a_mask is not None:  # masked rows: an empty sum (quests_jax._core.padding)
        rows = jnp.where(jnp.asarray(a_mask, bool)[:, None], rows, 0.0)
    if b_mask is not None:
        cols = jnp.where(jnp.asarray(b_mask, bool)[:, None], cols, 0.0)
    return rows, cols


def nearest_sq_distances(
    y: QueryRows, x: Rows, n: int, *, block_size: int | None = None, return_index: bool = False
):
    """The n smallest squared distances from each y to the rows of x, ascending: (M, n);
    with ``return_index``, also the (M, n) rows of x they belong to.

    A streamed top-n over blocks of x finds the n nearest rows with the fast matmul
    distances; their squared distances are then recomputed from explicit differences,
    so the values carry no cancellation error (only a near-tie at the n-th neighbour
    can pick a different, equally near row).
    """
    block_size = block_size or default_block_size()
    m = y.shape[0]
    by, bx = _block_for(m, block_size), _block_for(x.shape[0], block_size)
    far = _far_value([y, x], [None, None], jnp.zeros(()))
    # exact distances for rows far from a block's centre, as for kernels of h = 0.01:
    # enough to pick the right neighbours
    ref = _ReferenceBlocks.build(x, None, bx, far, jnp.asarray(0.01, x.dtype))
    yb, y_valid = _blocks(y, None, by, far)

    def query_block(block):
        yq, yv = block

        def step(best, j):
            best_d2, best_index = best
            # the carry's dtype: with x64 on, float32 distances may come back wider
            d2 = ref.sq_distances(yq, j, False, yv).astype(y.dtype)
            index = j.astype(jnp.int32) * bx + jnp.arange(bx, dtype=jnp.int32)
            merged = jnp.concatenate([best_d2, d2], axis=1)
            merged_index = jnp.concatenate([best_index, jnp.broadcast_to(index, d2.shape)], axis=1)
            neg, pick = jax.lax.top_k(-merged, n)
            return (-neg, jnp.take_along_axis(merged_index, pick, axis=1)), None

        init = (jnp.full((by, n), jnp.inf, y.dtype), jnp.zeros((by, n), jnp.int32))
        (_, index), _ = jax.lax.scan(step, init, jnp.arange(ref.n_blocks))
        nearest = ref.rows.reshape(-1, x.shape[1])[index]  # (By, n, d)
        exact = jnp.sum((yq[:, None, :] - nearest) ** 2, axis=2).astype(y.dtype)
        order = jnp.argsort(exact, axis=1)
        return jnp.take_along_axis(exact, order, 1), jnp.take_along_axis(index, order, 1)

    d2, index = jax.lax.map(query_block, (yb, y_valid))
    d2, index = d2.reshape(-1, n)[:m], index.reshape(-1, n)[:m]
    return (d2, index) if return_index else d2


def log_kernel_from_sq_distances(d2, h):
    """log sum over the last axis of exp(-d2 / (2 h^2)), per bandwidth: (..., H)."""
    scales = scales_of(h, d2.dtype)
    return jax.nn.logsumexp(d2[..., None] * scales, axis=-2)


def entropy_diversity_from_log_p(log_p: Float[Array, "n bandwidths"], valid: Bool[Array, " n"]):
    """Entropy and diversity (H,) from log p_i = log sum_j K(x_i, x_j) (N, H) of the
    rows where ``valid`` (N,) holds."""
    n = jnp.sum(valid).astype(log_p.dtype)
    mean_log_p = jnp.sum(jnp.where(valid[:, None], log_p, 0.0), axis=0) / n
    diversity = jax.nn.logsumexp(jnp.where(valid[:, None], -log_p, -jnp.inf), axis=0)
    return jnp.log(n) - mean_log_p, diversity
