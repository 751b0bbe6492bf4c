"""The sorting networks (bitonic, unrolled odd-even merge) against numpy.sort."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from quests_jax.describe._sorting import (
    odd_even_merge_network,
    sort_leading_axis,
    sort_leading_axis_unrolled,
)


@pytest.mark.parametrize("n", range(2, 17))
def test_network_sorts_every_zero_one_input(n):
    """The 0-1 principle: a comparator network that sorts all 2^n sequences of 0s and
    1s sorts every input. Checked exhaustively for each cut-down length up to 16."""
    x = np.array(list(itertools.product([0, 1], repeat=n)), dtype=np.int8).T  # (n, 2^n)
    for layer in odd_even_merge_network(n):
        used = [i for pair in layer for i in pair]
        assert len(used) == len(set(used)), "comparators of a layer must be disjoint"
        for i, j in layer:
            assert i < j < n
            x[i], x[j] = np.minimum(x[i], x[j]), np.maximum(x[i], x[j])
    assert (np.diff(x.astype(int), axis=0) >= 0).all()


def test_network_sizes():
    # Batcher's odd-even merge sort: 191 comparators in 15 layers for 32 entries
    layers = odd_even_merge_network(32)
    assert (len(layers), sum(len(layer) for layer in layers)) == (15, 191)


SORTS = [sort_leading_axis, sort_leading_axis_unrolled]


@pytest.mark.parametrize("sort", SORTS, ids=["bitonic", "unrolled"])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 31, 32, 33, 64])
def test_sorts_any_length_like_numpy(n, sort):
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 7, 3))
    x[rng.random(x.shape) < 0.2] = 0.0  # ties, as in the descriptor's zero entries
    with jax.enable_x64(True):
        got = np.asarray(sort(jnp.asarray(x)))
    np.testing.assert_array_equal(got, np.sort(x, axis=0))


@pytest.mark.parametrize("sort", SORTS, ids=["bitonic", "unrolled"])
def test_sorts_under_jit_and_vmap_with_infinities(sort):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 32, 5)).astype(np.float32)
    x[0, 3] = np.inf
    x[1, :, 2] = -np.inf
    got = jax.jit(jax.vmap(sort))(jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(got), np.sort(x, axis=1))


@pytest.mark.parametrize("sort", SORTS, ids=["bitonic", "unrolled"])
def test_gradient_is_a_permutation_and_finite_with_ties(sort):
    x = jnp.asarray([[3.0], [0.0], [0.0], [1.0], [2.0]])
    w = jnp.arange(1.0, 6.0)[:, None]
    grad = jax.grad(lambda v: jnp.sum(sort(v) * w))(x)
    assert np.isfinite(grad).all()
    # sorted order is [0, 0, 1, 2, 3]: each input gets the weight of its rank
    # (tied zeros share the weights of ranks 1 and 2)
    np.testing.assert_allclose(np.asarray(grad).ravel(), [5.0, 1.5, 1.5, 3.0, 4.0])
