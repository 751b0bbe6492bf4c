"""Sorting along the leading axis with sorting networks.

The descriptor sorts k x k matrices row by row for every atom (409,600 rows of 32 for
12,800 atoms). XLA's generic sort calls a comparator per element and is several times
slower on CPU than a network of elementwise min/max operations, which also vectorises
on GPU and differentiates like any other elementwise code (min/max split ties evenly,
so no NaN). The sorted axis is the *leading* one so that every comparator works on
contiguous blocks of memory. Two forms, measured on 2 CPU cores (12,800 Cu atoms,
k = 32, the dataset descriptor program; 864 atoms for the traced one):

* :func:`sort_leading_axis`, a bitonic network written as log2(n)(log2(n)+1)/2 stages
  of reshapes and min/max: few operations, so cheap to compile and to differentiate.
  Used by the traced per-frame descriptor (jit / grad / MD): its value and gradient
  compile in 1.0 s and run in 31 ms.
* :func:`sort_leading_axis_unrolled`, Batcher's odd-even merge network (191
  comparators for 32 entries against the bitonic 240) on the axis' rows as separate
  arrays, with an optimisation barrier every ``LAYERS_PER_FUSION`` layers (XLA then
  materialises the rows there; without barriers it fuses the whole network and
  recomputes shared stages in every output). Used by the dataset descriptor program,
  which a machine compiles once (:mod:`quests_jax.describe._dataset`): 34 ms against the bitonic
  46 ms, for 0.45 s of compilation instead of 0.24 s. Barriers every 1 / 2 / 3 / 5 /
  15 layers: 40 / 34 / 34 / 44 / 82 ms, compiled in 0.31 / 0.41 / 0.55 / 0.75 / 1.16 s.
  Under ``grad`` it compiles 2.6x longer than the bitonic network, hence not used there.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

LAYERS_PER_FUSION = 2


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


@functools.cache
def odd_even_merge_network(n: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Batcher's odd-even merge sort for ``n`` entries, as layers of disjoint
    comparators (i, j), i < j: after the comparator, entry i holds the smaller value.

    Built for the next power of two and cut down: comparators touching an entry >= n
    are dropped. That is exact: feed +inf there, and a comparator (i, j) with j >= n
    never moves it (the +inf is already in the upper place), so the +inf entries
    never change and the comparators touching them do nothing.
    """
    size = _next_power_of_two(n)
    layers = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            layer = []
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    a, b = i + j, i + j + k
                    if a // (2 * p) == b // (2 * p) and b < n:
                        layer.append((a, b))
            if layer:
                layers.append(tuple(layer))
            k //= 2
        p *= 2
    return tuple(layers)


def sort_leading_axis_unrolled(x):
    """Sort ``x`` ascending along axis 0 with the unrolled odd-even merge network (module
    docstring). Any length; jit/vmap safe; differentiable, but slow to compile so."""
    n = x.shape[0]
    if n <= 1:
        return x
    rows = [x[i] for i in range(n)]
    for index, layer in enumerate(odd_even_merge_network(n)):
        for i, j in layer:
            rows[i], rows[j] = jnp.minimum(rows[i], rows[j]), jnp.maximum(rows[i], rows[j])
        if (index + 1) % LAYERS_PER_FUSION == 0:
            rows = list(jax.lax.optimization_barrier(tuple(rows)))
    return jnp.stack(rows)


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
