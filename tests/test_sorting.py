"""The bitonic sorting network against numpy.sort."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from quests_jax.sorting import sort_leading_axis


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 31, 32, 33, 64])
def test_sorts_any_length_like_numpy(n):
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 7, 3))
    x[rng.random(x.shape) < 0.2] = 0.0  # ties, as in the descriptor's zero entries
    with jax.enable_x64(True):
        got = np.asarray(sort_leading_axis(jnp.asarray(x)))
    np.testing.assert_array_equal(got, np.sort(x, axis=0))


def test_gradient_is_a_permutation_and_finite_with_ties():
    x = jnp.asarray([[3.0], [0.0], [0.0], [1.0], [2.0]])
    w = jnp.arange(1.0, 6.0)[:, None]
    grad = jax.grad(lambda v: jnp.sum(sort_leading_axis(v) * w))(x)
    assert np.isfinite(grad).all()
    # sorted order is [0, 0, 1, 2, 3]: each input gets the weight of its rank
    # (tied zeros share the weights of ranks 1 and 2)
    np.testing.assert_allclose(np.asarray(grad).ravel(), [5.0, 1.5, 1.5, 3.0, 4.0])
