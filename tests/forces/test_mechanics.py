"""Forces and stress from an energy of (positions, cell): a smooth pair energy over
explicit periodic images, against fourth-order finite differences."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from conftest import triclinic_cu
from quests_jax.forces._mechanics import energy_forces_stress, voigt

SHIFTS = np.array(list(itertools.product(range(-2, 3), repeat=3)), dtype=float)


def pair_energy(positions, cell):
    """sum over pairs and images of exp(-r^2 / 4): smooth, periodic, no cutoff kinks."""
    images = SHIFTS @ cell  # (S, 3)
    v = positions[None, :, None, :] - positions[:, None, None, :] + images[None, None]
    r2 = jnp.sum(v * v, axis=-1)
    self_term = (
        np.all(SHIFTS == 0, axis=1)[None, None, :] & np.eye(len(positions), dtype=bool)[..., None]
    )
    return 0.5 * jnp.sum(jnp.where(self_term, 0.0, jnp.exp(-r2 / 4.0)))


def _derivative(f, step):
    return (8 * (f(step) - f(-step)) - (f(2 * step) - f(-2 * step))) / 12


def test_forces_and_stress_match_finite_differences():
    atoms = triclinic_cu()[:12]
    with jax.enable_x64(True):
        r, c = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)
        energy, forces, stress = energy_forces_stress(pair_energy, r, c)
        np.testing.assert_allclose(energy, pair_energy(r, c))
        eps = 1e-4
        for i in range(len(atoms)):
            for a in range(3):
                d = jnp.zeros_like(r).at[i, a].set(eps)
                fd = -_derivative(lambda d: pair_energy(r + d, c), d) / eps
                np.testing.assert_allclose(forces[i, a], fd, rtol=1e-8, atol=1e-10)
        volume = abs(np.linalg.det(atoms.cell.array))
        for a in range(3):
            for b in range(3):
                e = np.zeros((3, 3))
                e[a, b] += eps / 2
                e[b, a] += eps / 2

                def strained(e):
                    return pair_energy(r @ (np.eye(3) + e), c @ (np.eye(3) + e))

                fd = _derivative(strained, e) / eps / volume
                np.testing.assert_allclose(stress[a, b], fd, rtol=1e-8, atol=1e-12)
        assert np.abs(stress).max() > 1e-4  # not a test of zeros
        np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=1e-10)
        v = voigt(stress)
        np.testing.assert_allclose(
            v, [stress[0, 0], stress[1, 1], stress[2, 2], stress[1, 2], stress[0, 2], stress[0, 1]]
        )
