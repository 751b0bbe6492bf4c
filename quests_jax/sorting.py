"""Sorting along the leading axis with a bitonic sorting network.

The descriptor sorts k x k matrices row by row for every atom (409,600 rows of 32 for
12,800 atoms). XLA's generic sort calls a comparator per element and is several times
slower on CPU than a network of elementwise min/max stages, which also vectorises on
GPU and differentiates like any other elementwise code (min/max split ties evenly, so
no NaN). The sorted axis is the *leading* one so that every stage moves contiguous
blocks of memory; see ``benchmarks/README.md`` for the measurements behind this.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _next_power_of_two(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def sort_leading_axis(x):
    """Sort ``x`` ascending along axis 0. Any length; differentiable; jit/vmap safe.

    The axis is padded with +inf to a power of two, sorted by a bitonic network
    (log2(n)(log2(n)+1)/2 stages of min/max) and cut back.
    """
    n = x.shape[0]
    if n <= 1:
        return x
    size_pow2 = _next_power_of_two(n)
    rest = x.shape[1:]
    if size_pow2 != n:
        pad = jnp.full((size_pow2 - n,) + rest, jnp.inf, dtype=x.dtype)
        x = jnp.concatenate([x, pad], axis=0)
    full_shape = x.shape
    block = 2
    while block <= size_pow2:
        # first stage of a merge: compare element i with its mirror in the block
        y = x.reshape((size_pow2 // block, 2, block // 2) + rest)
        low, high = y[:, 0], y[:, 1, ::-1]
        x = jnp.stack([jnp.minimum(low, high), jnp.maximum(low, high)[:, ::-1]], axis=1).reshape(
            full_shape
        )
        # remaining stages: half-cleaners of decreasing stride
        stride = block // 4
        while stride >= 1:
            y = x.reshape((size_pow2 // (2 * stride), 2, stride) + rest)
            low, high = y[:, 0], y[:, 1]
            x = jnp.stack([jnp.minimum(low, high), jnp.maximum(low, high)], axis=1).reshape(
                full_shape
            )
            stride //= 2
        block *= 2
    return x[:n]


def smooth_sort_last_axis(a, softness: float, newton_steps: int = 8):
    """A smooth (infinitely differentiable), permutation-invariant ``jnp.sort(a, -1)``.

    The sum of the p smallest entries is T_p = max_t [p t - sum_i relu(t - a_i)] (the
    dual of choosing p entries); replacing relu by softness * softplus(./softness)
    makes T_p smooth, and the sorted values are o_p = T_(p+1) - T_p. The maximiser t_p
    solves sum_i sigmoid((t - a_i)/softness) = p ("p entries lie below t"), found by
    safeguarded Newton steps from the hard sort (8 reach float64 rounding); by the
    envelope theorem the gradient of T_p is sigmoid((t_p - a_i)/softness), so t_p
    needs no derivative of its own.

    Entries further apart than a few ``softness`` come out as sorted (to
    ~exp(-gap/softness)); near-ties are blended smoothly, and ties of any size keep
    their places. Relabelling the entries changes nothing (a network of smooth
    min/max would change by ~softness). O(n^2 newton_steps) per row.
    """
    n = a.shape[-1]
    if n <= 1:
        return a
    fixed = jax.lax.stop_gradient(a)
    hard = jnp.moveaxis(sort_leading_axis(jnp.moveaxis(fixed, -1, 0)), 0, -1)
    lo, hi = hard[..., :-1] - 30.0 * softness, hard[..., 1:] + 30.0 * softness
    places = jnp.arange(1, n, dtype=a.dtype)  # p = 1 .. n-1 (T_0 = 0, T_n = sum a)

    def newton(t, _):
        sig = jax.nn.sigmoid((t[..., :, None] - fixed[..., None, :]) / softness)
        excess = jnp.sum(sig, axis=-1) - places
        slope = jnp.sum(sig * (1.0 - sig), axis=-1) / softness
        t = t - excess / jnp.maximum(slope, jnp.finfo(a.dtype).tiny)
        return jnp.clip(t, lo, hi), None

    t, _ = jax.lax.scan(newton, 0.5 * (lo + hi), None, length=newton_steps)
    t = jax.lax.stop_gradient(t)
    relu = softness * jax.nn.softplus((t[..., :, None] - a[..., None, :]) / softness)
    partial_sums = places * t - jnp.sum(relu, axis=-1)  # (..., n - 1)
    zero = jnp.zeros(a.shape[:-1] + (1,), a.dtype)
    total = jnp.sum(a, axis=-1, keepdims=True)
    return jnp.diff(jnp.concatenate([zero, partial_sums, total], axis=-1), axis=-1)
