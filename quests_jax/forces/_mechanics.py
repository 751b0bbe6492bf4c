"""Forces and stress from any JAX energy of (positions, cell).

Conventions are ASE's: positions (N, 3) and cell rows in Angstrom, energy in eV (or
nats times a strength, for a bias), forces F = -dE/dR, and the stress
sigma = (1/V) dE/d(epsilon) for a homogeneous strain that maps every position and
lattice vector r -> r (I + epsilon) (tensile positive; eV/A^3). Both come from one
reverse-mode pass: dE/d(epsilon) = R^T dE/dR + C^T dE/dC.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from .._core.array_types import AnyArray, Array, Cell, Float, Positions

if TYPE_CHECKING:
    from collections.abc import Callable


def energy_forces(
    energy_fn: Callable[[Array, Array], Array], positions: Positions, cell: Cell, *args, **kwargs
):
    """(E, F (N, 3)) of ``energy_fn(positions, cell, *args, **kwargs)``."""
    energy, grad = jax.value_and_grad(energy_fn)(positions, cell, *args, **kwargs)
    return energy, -grad


def energy_forces_stress(
    energy_fn: Callable[[Array, Array], Array], positions: Positions, cell: Cell, *args, **kwargs
):
    """(E, F (N, 3), stress (3, 3)) of ``energy_fn(positions, cell, *args, **kwargs)``.

    The stress needs a cell that spans a volume (periodic along all three axes);
    it is symmetrised (the energy of a rotated frame is the same).
    """
    energy, (grad_r, grad_c) = jax.value_and_grad(energy_fn, argnums=(0, 1))(
        positions, cell, *args, **kwargs
    )
    strain_derivative = positions.T @ grad_r + cell.T @ grad_c  # dE/d(epsilon)
    volume = jnp.abs(jnp.linalg.det(cell))
    stress = 0.5 * (strain_derivative + strain_derivative.T) / volume
    return energy, -grad_r, stress


def voigt(stress: Float[AnyArray, "3 3"]):
    """(6,) Voigt vector xx, yy, zz, yz, xz, xy of a (3, 3) stress (ASE's order)."""
    return jnp.stack(
        [stress[0, 0], stress[1, 1], stress[2, 2], stress[1, 2], stress[0, 2], stress[0, 1]]
    )
