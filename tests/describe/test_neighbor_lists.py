"""Host neighbour lists (vesin): the same pairs as ASE's neighbour list on the cells that
are hard to get right, and the k nearest as a brute-force sort picks them."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list

import quests_jax.describe._neighbor_lists as nl
from conftest import cu_cluster, cu_slab, cubic_cu, molecules, small_triclinic_cell, triclinic_cu
from quests_jax.describe._neighbor_lists import Pairs, frame_pairs, k_nearest


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


def directed(pairs):
    """(centre, neighbour, distance) of every directed pair."""
    d = np.linalg.norm(pairs.vectors, axis=1).round(9).tolist()
    forward = zip(pairs.first.tolist(), pairs.second.tolist(), d, strict=True)
    backward = zip(pairs.second.tolist(), pairs.first.tolist(), d, strict=True)
    return sorted([*forward, *backward])


@pytest.mark.parametrize("name", list(CASES))
def test_pairs_equal_ase(name):
    atoms = CASES[name]
    i, j, d = neighbor_list("ijd", atoms, 5.0)
    expected = sorted(zip(i.tolist(), j.tolist(), d.round(9).tolist(), strict=True))
    assert directed(frame_pairs(atoms.positions, atoms.cell.array, atoms.pbc, 5.0)) == expected


def group(frames):
    return Pairs.concatenate([frame_pairs(a.positions, a.cell.array, a.pbc, 5.0) for a in frames])


@pytest.mark.parametrize("max_pairs", [None, 500])
def test_k_nearest_is_a_sorted_selection(monkeypatch, max_pairs):
    """The k nearest of each atom, nearest first, none missing, with the exact
    displacement (sign included); also when atoms are taken in pieces."""
    if max_pairs:
        monkeypatch.setattr(nl, "MAX_PAIRS", max_pairs)
    frames = [small_triclinic_cell(), cubic_cu(2), molecules()[0], cu_slab()]
    pairs = group(frames)
    k = 12
    vectors, valid = k_nearest(pairs, k, 5.0, dtype=np.float64)
    assert vectors.shape == (pairs.n_atoms, k, 3)
    all_vectors = np.concatenate([pairs.vectors, -pairs.vectors])
    centres = np.concatenate([pairs.first, pairs.second])
    for atom in range(pairs.n_atoms):
        mine = np.sort(np.linalg.norm(all_vectors[centres == atom], axis=1))[:k]
        got = np.linalg.norm(vectors[atom][valid[atom]], axis=1)
        np.testing.assert_allclose(got, mine, atol=1e-12)  # nearest first, none missing
        assert not vectors[atom][~valid[atom]].any()
        # each displacement is one of this atom's own (not its mirror image)
        own = all_vectors[centres == atom]
        for v in vectors[atom][valid[atom]]:
            assert np.abs(own - v).sum(axis=1).min() < 1e-12


def test_species_filter_keeps_only_chosen_pairs():
    pairs = group([cubic_cu(2)])
    keep = (pairs.first % 2 == 0) & (pairs.second % 2 == 0)
    vectors, valid = k_nearest(pairs, 32, 5.0, keep)
    assert not valid[1::2].any() and valid[::2].any()
