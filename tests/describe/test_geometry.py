"""Cell geometry helpers against direct constructions."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from quests_jax.describe._geometry import (
    complement_directions,
    frame_basis,
    perpendicular_widths,
    safe_norm,
    sqrt_weight,
)

CELL = np.array([[5.0, 0.0, 0.0], [1.5, 4.0, 0.0], [-0.7, 1.1, 3.0]])


def test_perpendicular_widths_are_distances_between_faces():
    widths = perpendicular_widths(CELL)
    for d in range(3):
        e, f = [a for a in range(3) if a != d]
        normal = np.cross(CELL[e], CELL[f])
        normal /= np.linalg.norm(normal)
        assert widths[d] == pytest.approx(abs(CELL[d] @ normal))


@pytest.mark.parametrize("pbc", list(itertools.product([True, False], repeat=3)))
def test_complement_is_orthonormal_and_orthogonal_to_periodic_vectors(pbc):
    comp = complement_directions(CELL, pbc)
    assert sorted(comp) == [d for d in range(3) if not pbc[d]]
    vectors = list(comp.values())
    for u in vectors:
        assert np.linalg.norm(u) == pytest.approx(1.0)
        for d in range(3):
            if pbc[d]:
                assert abs(u @ CELL[d]) < 1e-12
    for u, v in itertools.combinations(vectors, 2):
        assert abs(u @ v) < 1e-12
    basis = frame_basis(CELL, pbc)
    assert abs(np.linalg.det(basis)) > 1e-6
    # numpy and jax.numpy give the same basis
    np.testing.assert_allclose(
        np.asarray(frame_basis(jnp.asarray(CELL), pbc, jnp)), basis, atol=1e-6
    )


def test_complement_ignores_zero_or_tilted_free_vectors():
    tilted = CELL.copy()
    tilted[2] = [0.0, 0.0, 0.0]
    np.testing.assert_allclose(
        frame_basis(tilted, (True, True, False)), frame_basis(CELL, (True, True, False))
    )


def test_safe_norm_and_weight():
    v = jnp.zeros((2, 3)).at[1].set(jnp.asarray([3.0, 4.0, 0.0]))
    np.testing.assert_allclose(safe_norm(v), [0.0, 5.0])
    grad = jax.grad(lambda v: safe_norm(v).sum())(v)
    assert np.isfinite(grad).all() and not np.any(grad[0])
    r = jnp.asarray([0.0, 2.5, 5.0, 7.0])
    np.testing.assert_allclose(sqrt_weight(r, 5.0) ** 2, (1 - (np.minimum(r, 5.0) / 5.0) ** 2) ** 2)
