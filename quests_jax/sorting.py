"""Sorting along the leading axis with a bitonic sorting network.

The descriptor sorts k x k matrices row by row for every atom (409,600 rows of 32 for
12,800 atoms). XLA's generic sort calls a comparator per element and is several times
slower on CPU than a network of elementwise min/max stages, which also vectorises on
GPU and differentiates like any other elementwise code (min/max split ties evenly, so
no NaN). The sorted axis is the *leading* one so that every stage moves contiguous
blocks of memory; see ``benchmarks/README.md`` for the measurements behind this.
"""

from __future__ import annotations

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
