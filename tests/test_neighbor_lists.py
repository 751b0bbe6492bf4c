"""Host neighbour lists (vesin): the same pairs as ASE's neighbour list on the cells that
are hard to get right, and the k nearest as a brute-force sort picks them."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list

from conftest import cu_cluster, cu_slab, cubic_cu, molecules, small_triclinic_cell, triclinic_cu
from quests_jax.neighbor_lists import Pairs, frame_pairs, k_nearest


def slab_with_zero_vector():
    atoms = cu_slab()
    cell = atoms.cell.array.copy()
    cell[2] = 0.0
    atoms.cell = cell
    return atoms


def mixed_periodicity():
    atoms = triclinic_cu()
    atoms.pbc = (True, False, True)
    return atoms


CASES = {
    "cubic": cubic_cu(2),
    "triclinic": triclinic_cu(),
    "cell smaller than the cutoff": small_triclinic_cell(),
    "slab": cu_slab(),
    "slab, zero third vector": slab_with_zero_vector(),
    "cluster, zero cell": cu_cluster(),
    "molecule": molecules()[2],
    "mixed periodicity": mixed_periodicity(),
    "one atom in a 1 A cell": Atoms("H", positions=[[0, 0, 0]], cell=np.eye(3), pbc=True),
}


@pytest.mark.parametrize("name", list(CASES))
def test_pairs_equal_ase(name):
    atoms = CASES[name]
    i, j, shifts, d = neighbor_list("ijSd", atoms, 5.0)
    pairs = frame_pairs(atoms.positions, atoms.cell.array, atoms.pbc, 5.0)
    expected = sorted(zip(i.tolist(), j.tolist(), d.round(9).tolist(), strict=True))
    got = np.linalg.norm(pairs.vectors, axis=1).round(9)
    assert sorted(zip(pairs.center.tolist(), pairs.neighbor.tolist(), got.tolist(),
                      strict=True)) == expected  # fmt: skip
    assert len(shifts) == pairs.center.shape[0]


def test_k_nearest_is_a_sorted_selection():
    frames = [small_triclinic_cell(), cubic_cu(2), molecules()[0]]
    pairs = Pairs.concatenate([frame_pairs(a.positions, a.cell.array, a.pbc, 5.0) for a in frames])
    k = 12
    vectors, valid = k_nearest(pairs, k, 5.0, dtype=np.float64)
    assert vectors.shape == (pairs.n_atoms, k, 3)
    for atom in range(pairs.n_atoms):
        mine = np.sort(np.linalg.norm(pairs.vectors[pairs.center == atom], axis=1))[:k]
        got = np.linalg.norm(vectors[atom][valid[atom]], axis=1)
        np.testing.assert_allclose(got, mine, atol=1e-12)  # nearest first, none missing
        assert not vectors[atom][~valid[atom]].any()


def test_species_filter_keeps_only_chosen_pairs():
    atoms = cubic_cu(2)
    pairs = frame_pairs(atoms.positions, atoms.cell.array, atoms.pbc, 5.0)
    keep = (pairs.center % 2 == 0) & (pairs.neighbor % 2 == 0)
    vectors, valid = k_nearest(pairs, 32, 5.0, keep)
    assert not valid[1::2].any() and valid[::2].any()
