"""Symmetries of the descriptor, as hypothesis properties (float64)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from ase import Atoms
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

import quests_jax as qj
from brute_force import neighbor_vectors

N_ATOMS = 12
SETTINGS = settings(max_examples=15, deadline=None)


@st.composite
def frames(draw):
    """Random triclinic frames of N_ATOMS atoms at metallic density with random pbc."""
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    cell = np.diag(rng.uniform(4.0, 8.0, 3)) + np.triu(rng.uniform(-2.0, 2.0, (3, 3)), 1)
    pbc = tuple(draw(st.lists(st.booleans(), min_size=3, max_size=3)))
    atoms = Atoms("Ar" * N_ATOMS, scaled_positions=rng.random((N_ATOMS, 3)), cell=cell, pbc=pbc)
    return atoms


def k_th_neighbour_is_unique(atoms, k=32, cutoff=5.0, gap=1e-6):
    """False where the k-th and (k+1)-th neighbours of an atom are equally far (e.g.
    the +a and -a images of the atom itself): which one is chosen is arbitrary, in
    the reference too, and changes x2, so symmetries cannot hold exactly there."""
    for vectors in neighbor_vectors(atoms.positions, atoms.cell.array, atoms.pbc, k + 1, cutoff):
        r = np.linalg.norm(vectors, axis=1)
        if len(r) > k and r[k] - r[k - 1] < gap:
            return False
    return True


def describe(positions, cell, pbc):
    assume(
        k_th_neighbour_is_unique(
            Atoms("Ar" * len(positions), positions=positions, cell=cell, pbc=pbc)
        )
    )
    with jax.enable_x64(True):
        return np.asarray(qj.descriptor(np.asarray(positions, float), np.asarray(cell, float), pbc))


def assert_same(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.slow
@SETTINGS
@given(frames(), st.integers(0, 2**31 - 1))
def test_rotation(atoms, seed):
    rot = Rotation.random(random_state=seed).as_matrix()
    x = describe(atoms.positions, atoms.cell.array, atoms.pbc)
    y = describe(atoms.positions @ rot.T, atoms.cell.array @ rot.T, atoms.pbc)
    assert_same(x, y)


@SETTINGS
@given(frames(), st.lists(st.floats(-20, 20), min_size=3, max_size=3))
def test_translation(atoms, shift):
    x = describe(atoms.positions, atoms.cell.array, atoms.pbc)
    y = describe(atoms.positions + np.asarray(shift), atoms.cell.array, atoms.pbc)
    assert_same(x, y)


@SETTINGS
@given(frames(), st.permutations(list(range(N_ATOMS))))
def test_permutation(atoms, perm):
    perm = np.asarray(perm)
    x = describe(atoms.positions, atoms.cell.array, atoms.pbc)
    y = describe(atoms.positions[perm], atoms.cell.array, atoms.pbc)
    assert_same(x[perm], y)


@SETTINGS
@given(frames(), st.integers(0, 2**31 - 1))
def test_wrapping_into_cell(atoms, seed):
    """Moving atoms by whole lattice vectors along periodic axes changes nothing."""
    rng = np.random.default_rng(seed)
    shifts = rng.integers(-3, 4, size=(N_ATOMS, 3)) * np.asarray(atoms.pbc)
    moved = atoms.positions + shifts @ atoms.cell.array
    x = describe(atoms.positions, atoms.cell.array, atoms.pbc)
    y = describe(moved, atoms.cell.array, atoms.pbc)
    assert_same(x, y)


@pytest.mark.slow
@SETTINGS
@given(frames(), st.integers(0, 2))
def test_supercell_replication(atoms, axis):
    """Replicating along a periodic axis repeats each atom's descriptor."""
    pbc = list(atoms.pbc)
    pbc[axis] = True
    atoms.pbc = pbc
    reps = [1, 1, 1]
    reps[axis] = 2
    x = describe(atoms.positions, atoms.cell.array, atoms.pbc)
    big = atoms.repeat(reps)
    y = describe(big.positions, big.cell.array, big.pbc)
    assert_same(np.concatenate([x, x]), y)
