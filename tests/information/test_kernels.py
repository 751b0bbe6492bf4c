"""Blockwise kernel sums against float64 brute force over the full distance matrix."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

from quests_jax.information._kernels import (
    cross_kernel_sums,
    log_kernel_sums,
    nearest_sq_distances,
    self_kernel_sums,
)

H = np.array([0.01, 0.015, 0.05])


def brute_log_sums(y, x, h):
    """(M, H) log sum_j exp(-|y - x_j|^2 / 2h^2), float64, from explicit differences."""
    d2 = ((y[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    return np.stack([logsumexp(-d2 / (2 * hh**2), axis=1) for hh in h], axis=1)


def clustered(n, d=12, seed=0, offset=0.0, spread=0.03):
    """Points in a few tight clusters (like environments of a few phases)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=0.1, size=(4, d)) + offset
    return centres[rng.integers(0, 4, n)] + rng.normal(scale=spread, size=(n, d))


@pytest.mark.parametrize("block", [8, 24, 1000])
def test_log_sums_match_brute_force_and_ignore_block_size(block):
    y, x = clustered(37, seed=1), clustered(53, seed=2)
    with jax.enable_x64(True):
        got = np.asarray(
            log_kernel_sums(jnp.asarray(y), jnp.asarray(x), jnp.asarray(H), block_size=block)
        )
    np.testing.assert_allclose(got, brute_log_sums(y, x, H), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("block", [8, 16, 1000])
def test_self_sums_match_brute_force(block):
    x = clustered(45, seed=3)
    with jax.enable_x64(True):
        got = np.asarray(self_kernel_sums(jnp.asarray(x), jnp.asarray(H), block_size=block))
    np.testing.assert_allclose(np.log(got), brute_log_sums(x, x, H), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("block", [8, 16, 1000])
def test_cross_sums_rows_and_columns(block):
    a = clustered(29, seed=4)
    b = clustered(41, seed=4) + np.random.default_rng(5).normal(scale=0.01, size=(41, 12))
    a_mask = np.arange(29) % 5 != 0
    b_mask = np.arange(41) % 7 != 3
    with jax.enable_x64(True):
        rows, cols = cross_kernel_sums(
            jnp.asarray(a),
            jnp.asarray(b),
            jnp.asarray(H),
            a_mask=jnp.asarray(a_mask),
            b_mask=jnp.asarray(b_mask),
            block_size=block,
        )
    rows, cols = np.asarray(rows)[a_mask], np.asarray(cols)[b_mask]
    # plain sums (they may underflow between distant clusters, unlike log sums)
    expected_rows = np.exp(brute_log_sums(a[a_mask], b[b_mask], H))
    expected_cols = np.exp(brute_log_sums(b[b_mask], a[a_mask], H))
    assert (expected_rows > 1e-3).mean() > 0.3  # not a test of zeros
    np.testing.assert_allclose(rows, expected_rows, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(cols, expected_cols, rtol=1e-12, atol=1e-300)


def test_masks_drop_rows():
    y, x = clustered(30, seed=4), clustered(40, seed=5)
    ym = np.arange(30) % 3 != 0
    xm = np.arange(40) % 4 != 0
    with jax.enable_x64(True):
        got = np.asarray(
            log_kernel_sums(
                jnp.asarray(y), jnp.asarray(x), jnp.asarray(H), y_mask=ym, x_mask=xm, block_size=16
            )
        )
        self_got = np.asarray(
            self_kernel_sums(jnp.asarray(x), jnp.asarray(H), mask=xm, block_size=16)
        )
    np.testing.assert_allclose(got[ym], brute_log_sums(y[ym], x[xm], H), rtol=1e-12)
    assert np.all(got[~ym] == -np.inf)
    np.testing.assert_allclose(
        np.log(self_got[xm]), brute_log_sums(x[xm], x[xm], H), rtol=1e-12, atol=1e-12
    )
    assert not self_got[~xm].any()


def test_weighted_means():
    y, x = clustered(20, seed=6), clustered(50, seed=7)
    w = np.random.default_rng(8).normal(size=50)
    with jax.enable_x64(True):
        _, mean = log_kernel_sums(
            jnp.asarray(y), jnp.asarray(x), jnp.asarray(H), weights=w, block_size=16
        )
    d2 = ((y[:, None] - x[None]) ** 2).sum(-1)
    for b, hh in enumerate(H):
        k = np.exp(-(d2 - d2.min(1, keepdims=True)) / (2 * hh**2))
        np.testing.assert_allclose(mean[:, b], (k * w).sum(1) / k.sum(1), rtol=1e-10)


def test_far_queries_stay_finite_and_exact():
    """Every kernel underflows (even in float64) far from x; log space does not."""
    x = clustered(40, seed=9)
    y = x[:5] + 5.0  # |y - x| ~ 17: exp(-|y - x|^2 / 2h^2) = exp(-6e5)
    with jax.enable_x64(True):
        got = np.asarray(
            log_kernel_sums(jnp.asarray(y), jnp.asarray(x), jnp.asarray(H), block_size=16)
        )
    expected = brute_log_sums(y, x, H)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # float32 keeps ~1e-7 relative accuracy there too
    got32 = np.asarray(
        log_kernel_sums(jnp.asarray(y, jnp.float32), jnp.asarray(x, jnp.float32), jnp.asarray(H))
    )
    np.testing.assert_allclose(got32, expected, rtol=1e-6)


def test_float32_centring_defeats_cancellation():
    """Data far from the origin (|x|^2 ~ 400) with a spread like that of one phase:
    uncentred float32 |y|^2 + |x|^2 - 2 y.x would be off by ~1e-4 in d^2, ~0.2 in
    the exponent; centred on each block's mean the error is ~1e-9 in d^2."""
    rng = np.random.default_rng(10)
    x = 2.5 + rng.normal(scale=0.01, size=(300, 63))
    expected = brute_log_sums(x, x, [0.015])[:, 0]
    got = np.log(np.asarray(self_kernel_sums(jnp.asarray(x, jnp.float32), jnp.asarray([0.015]))))[
        :, 0
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_nearest_sq_distances():
    y, x = clustered(33, seed=11), clustered(70, seed=12)
    with jax.enable_x64(True):
        got = np.asarray(nearest_sq_distances(jnp.asarray(y), jnp.asarray(x), 4, block_size=16))
    got32 = np.asarray(
        nearest_sq_distances(jnp.asarray(y, jnp.float32), jnp.asarray(x, jnp.float32), 4)
    )
    d2 = np.sort(((y[:, None] - x[None]) ** 2).sum(-1), axis=1)[:, :4]
    np.testing.assert_allclose(got, d2, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(got32, d2, rtol=1e-5)
    with jax.enable_x64(True):
        d2_i, index = nearest_sq_distances(
            jnp.asarray(y), jnp.asarray(x), 4, block_size=16, return_index=True
        )
    np.testing.assert_array_equal(
        np.asarray(index), np.argsort(((y[:, None] - x[None]) ** 2).sum(-1), axis=1)[:, :4]
    )
    np.testing.assert_allclose(d2_i, d2, rtol=1e-10, atol=1e-14)


# a large M x N call, as shapes only: compiled, never run
MEMORY_M, MEMORY_N, MEMORY_BLOCK = 20_000, 30_000, 512
MEMORY_SHAPES = {
    "y": jax.ShapeDtypeStruct((MEMORY_M, 63), jnp.float32),
    "x": jax.ShapeDtypeStruct((MEMORY_N, 63), jnp.float32),
    "h": jax.ShapeDtypeStruct((1,), jnp.float32),
}
FULL_MATRIX_BYTES = MEMORY_M * MEMORY_N * 4


def _temp_bytes(fn, *names):
    """Temporary buffers of ``fn`` compiled for the MEMORY_SHAPES arguments ``names``."""
    args = [MEMORY_SHAPES[n] for n in names]
    return jax.jit(fn).lower(*args).compile().memory_analysis().temp_size_in_bytes


def test_memory_stays_bounded():
    """The compiled kernel sums allocate far less than the M x N matrix."""
    cross = _temp_bytes(
        lambda y, x, h: log_kernel_sums(y, x, h, block_size=MEMORY_BLOCK), "y", "x", "h"
    )
    self_ = _temp_bytes(lambda x, h: self_kernel_sums(x, h, block_size=MEMORY_BLOCK), "x", "h")
    assert cross < FULL_MATRIX_BYTES / 100, cross
    assert self_ < FULL_MATRIX_BYTES / 100, self_


def test_float32_queries_far_from_block_centres_keep_accuracy():
    """A widely spread reference set (|x - block mean|^2 ~ 6) and queries just next to
    some of its rows: float32 matmul distances would be off by ~4e-7 in d^2 (~1e-3 in
    the exponent at h = 0.015); the float64-accumulated ("wide") ones are not."""
    rng = np.random.default_rng(13)
    x = rng.normal(scale=0.3, size=(600, 63))
    y = x[:50] + rng.normal(scale=0.005, size=(50, 63))
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    expected = brute_log_sums(y32.astype(float), x32.astype(float), [0.015])
    got = np.asarray(log_kernel_sums(jnp.asarray(y32), jnp.asarray(x32), jnp.asarray([0.015])))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def brute_log_sums_jax(y, x, h):
    """Differentiable float64 brute force over the full matrix (explicit differences)."""
    d2 = jnp.sum((y[:, None, :] - x[None, :, :]) ** 2, axis=-1)
    return jax.nn.logsumexp(-d2[..., None] / (2 * h**2), axis=1)


@pytest.mark.parametrize("block", [8, 1000])
def test_log_sum_gradients_match_brute_force(block):
    """The streamed custom VJP (y, x and h) equals reverse mode through the full
    matrix, with masks and a query far from every reference row."""
    y, x = clustered(37, seed=20), clustered(53, seed=21)
    y[0] += 0.5  # every kernel of this row underflows to ~exp(-1000)
    ym, xm = np.arange(37) % 4 != 0, np.arange(53) % 5 != 0
    w = np.random.default_rng(22).normal(size=(37, 3))
    with jax.enable_x64(True):
        args = (jnp.asarray(y), jnp.asarray(x), jnp.asarray(H))

        def streamed(y, x, h):
            log_p = log_kernel_sums(y, x, h, y_mask=ym, x_mask=xm, block_size=block)
            return jnp.sum(jnp.where(ym[:, None], w * log_p, 0.0))

        def brute(y, x, h):
            return jnp.sum(w[ym] * brute_log_sums_jax(y[ym], x[xm], h))

        got = jax.grad(streamed, argnums=(0, 1, 2))(*args)
        expected = jax.grad(brute, argnums=(0, 1, 2))(*args)
        for g, e, name in zip(got, expected, "yxh", strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-9 * np.abs(e).max(), err_msg=name)
        assert not np.asarray(got[0])[~ym].any() and not np.asarray(got[1])[~xm].any()
        # a fixed reference (no gradient into x) takes the cheaper path: same y gradient
        np.testing.assert_allclose(jax.grad(streamed)(*args), expected[0], rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("block", [8, 16, 1000])
def test_self_sum_gradients_match_brute_force(block):
    x = clustered(45, seed=23)
    mask = np.arange(45) % 3 != 0
    w = np.random.default_rng(24).normal(size=(45, 3))
    with jax.enable_x64(True):

        def streamed(x, h):
            sums = self_kernel_sums(x, h, mask=mask, block_size=block)
            return jnp.sum(
                jnp.where(mask[:, None], w * jnp.log(jnp.where(mask[:, None], sums, 1)), 0)
            )

        def brute(x, h):
            return jnp.sum(w[mask] * brute_log_sums_jax(x[mask], x[mask], h))

        args = (jnp.asarray(x), jnp.asarray(H))
        got = jax.grad(streamed, argnums=(0, 1))(*args)
        expected = jax.grad(brute, argnums=(0, 1))(*args)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-9 * np.abs(e).max())
    assert not np.asarray(got[0])[~mask].any()


@pytest.mark.slow
def test_float32_gradients_follow_float64():
    y, x = clustered(60, seed=25), clustered(80, seed=26)
    h = jnp.asarray([0.015])

    def f(y, x):
        return jnp.sum(log_kernel_sums(y, x, h.astype(y.dtype), block_size=16)) + jnp.sum(
            jnp.log(self_kernel_sums(x, h.astype(y.dtype), block_size=16))
        )

    g32 = jax.grad(f, argnums=(0, 1))(jnp.asarray(y, jnp.float32), jnp.asarray(x, jnp.float32))
    with jax.enable_x64(True):
        g64 = jax.grad(f, argnums=(0, 1))(jnp.asarray(y), jnp.asarray(x))
    for a, b in zip(g32, g64, strict=True):
        assert a.dtype == jnp.float32
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-4 * np.abs(b).max())


def test_gradient_memory_stays_bounded():
    """Reverse mode through the custom VJPs allocates far less than M x N."""

    def cross(y, x, h):
        return jnp.sum(log_kernel_sums(y, x, h, block_size=MEMORY_BLOCK))

    def self_(x, h):
        return jnp.sum(jnp.log(self_kernel_sums(x, h, block_size=MEMORY_BLOCK)))

    assert _temp_bytes(jax.grad(cross, argnums=(0, 1)), "y", "x", "h") < FULL_MATRIX_BYTES / 50
    assert _temp_bytes(jax.grad(self_), "x", "h") < FULL_MATRIX_BYTES / 50


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_astronomically_far_rows_stay_finite_and_leave_the_others_alone(dtype):
    """Coincident atoms give descriptor entries of 1e16 (1 / EPS): their log sums
    (~ -1e35) equal a float64 brute force instead of +-inf (XLA's fused multiply-adds
    once put the product's rounding error, ~1e28, into the exponent), rows next to
    them in a block keep their values, and the gradient is finite."""
    x = clustered(40, seed=41)
    y = clustered(20, seed=42)
    y_far, x_far = y.copy(), x.copy()
    # one query row and one reference row out at 1 / EPS (along different axes: two
    # rows both that far from the centre are compared to within eps 1e32, module doc)
    y_far[3, 0] = 1e16
    x_far[5, 2] = 1e16
    y_far[7, 1] = 3e13  # and one nearly as far
    with jax.enable_x64(dtype == np.float64):
        h = jnp.asarray([0.015], dtype)
        got = np.asarray(log_kernel_sums(jnp.asarray(y_far, dtype), jnp.asarray(x_far, dtype), h))
        clean = np.asarray(log_kernel_sums(jnp.asarray(y, dtype), jnp.asarray(x, dtype), h))
        grad = jax.grad(lambda a: jnp.sum(log_kernel_sums(a, jnp.asarray(x_far, dtype), h)))(
            jnp.asarray(y_far, dtype)
        )
    expected = brute_log_sums(
        y_far.astype(dtype).astype(float), x_far.astype(dtype).astype(float), [0.015]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-4)
    assert got[3, 0] < -1e34 and got[7, 0] < -1e28
    others = [i for i in range(len(y)) if i not in (3, 7)]
    # the reference row at 1e16 adds nothing to the others; they match the clean sums
    np.testing.assert_allclose(got[others], clean[others], rtol=1e-6, atol=1e-5)
    assert np.isfinite(np.asarray(grad)).all()


@pytest.mark.slow
def test_wide_float32_distances_work_under_vmap_of_scans():
    """vmap of a float32 dH batch (wide distances inside scans: split arithmetic, a
    per-pair scale of the block) equals each call, and its gradient runs."""
    ys = np.stack([clustered(30, seed=s) for s in (30, 31, 32)]).astype(np.float32)
    x = jnp.asarray(clustered(50, seed=33), jnp.float32)
    h = jnp.asarray([0.015], jnp.float32)
    batched = jax.jit(jax.vmap(lambda y: log_kernel_sums(y, x, h, block_size=16)))(ys)
    # equal to rounding: XLA may fuse s m + rel into one multiply-add in one program
    # and not in the other (1 ulp)
    for b, y in enumerate(ys):
        np.testing.assert_allclose(
            batched[b], log_kernel_sums(jnp.asarray(y), x, h, block_size=16), rtol=3e-7
        )
    xs = jnp.stack([x, x + 0.01])  # a batched reference too
    both = jax.vmap(lambda y, x: log_kernel_sums(y, x, h, block_size=16))(ys[:2], xs)
    np.testing.assert_allclose(
        both[1], log_kernel_sums(jnp.asarray(ys[1]), xs[1], h, block_size=16), rtol=3e-7
    )
    grads = jax.vmap(jax.grad(lambda y: jnp.sum(log_kernel_sums(y, x, h, block_size=16))))(ys)
    assert grads.dtype == jnp.float32 and np.isfinite(grads).all()


@pytest.mark.slow
def test_masked_rows_get_the_value_of_an_empty_sum():
    """One policy for masked rows (quests_jax._core.padding): kernel sums 0, log sums
    -inf, weighted means NaN; the other rows as if the masked ones were absent."""
    from quests_jax.information import cross_kernel_sums, log_kernel_sums, self_kernel_sums

    rng = np.random.default_rng(3)
    x = (rng.normal(size=(40, 5)) * 0.05).astype(np.float32)
    y = x[:10] + np.float32(0.01)
    x_mask = np.arange(40) % 3 != 0
    y_mask = np.arange(10) != 1
    h = jnp.asarray([0.05], jnp.float32)
    rows, cols = cross_kernel_sums(y, x, h, a_mask=y_mask, b_mask=x_mask)
    assert np.all(np.asarray(rows)[~y_mask] == 0) and np.all(np.asarray(cols)[~x_mask] == 0)
    want_rows, want_cols = cross_kernel_sums(y[y_mask], x[x_mask], h)
    np.testing.assert_allclose(np.asarray(rows)[y_mask], want_rows, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(cols)[x_mask], want_cols, rtol=1e-5)
    assert np.all(np.asarray(self_kernel_sums(x, h, mask=x_mask))[~x_mask] == 0)
    log_p, means = log_kernel_sums(
        y, x, h, weights=jnp.arange(40.0, dtype=jnp.float32), y_mask=y_mask, x_mask=x_mask
    )
    assert np.isneginf(np.asarray(log_p)[~y_mask]).all()
    assert np.isnan(np.asarray(means)[~y_mask]).all() and np.isfinite(means[y_mask]).all()
