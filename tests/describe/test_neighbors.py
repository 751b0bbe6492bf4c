"""The k-nearest-neighbour search against explicit image enumeration."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import quests_jax as qj
from brute_force import neighbor_vectors
from conftest import cu_cluster, cu_slab, cubic_cu, random_triclinic, small_triclinic_cell


def _rows_sorted(vectors):
    rounded = vectors.round(6)
    return vectors[np.lexsort(rounded.T[::-1])]


def _vectors(atoms, nb):
    idx = np.asarray(nb.index)
    shift = np.asarray(nb.shift)
    return atoms.positions[idx] - atoms.positions[:, None, :] + shift @ atoms.cell.array


@pytest.mark.parametrize("method", ["dense", "cells"])
@pytest.mark.parametrize(
    "frame", [lambda: cubic_cu(3), random_triclinic, small_triclinic_cell, cu_cluster, cu_slab]
)
def test_neighbors_match_image_enumeration(frame, method):
    atoms = frame()
    k, cutoff = 20, 4.5
    with jax.enable_x64(True):
        spec = qj.plan_neighbors(
            atoms.positions, atoms.cell.array, atoms.pbc, method=method, cutoff=cutoff
        )
        nb = qj.find_neighbors(
            atoms.positions, atoms.cell.array, atoms.pbc, spec, k=k, cutoff=cutoff
        )
    assert not bool(nb.overflow)
    got = _vectors(atoms, nb)
    valid = np.asarray(nb.valid)
    expected = neighbor_vectors(atoms.positions, atoms.cell.array, atoms.pbc, k, cutoff)
    for i, exp in enumerate(expected):
        assert valid[i].sum() == len(exp)
        np.testing.assert_allclose(
            np.linalg.norm(got[i][valid[i]], axis=1), np.linalg.norm(exp, axis=1), atol=1e-12
        )
        # the same displacement vectors (as sets: order only matters up to ties)
        np.testing.assert_allclose(_rows_sorted(got[i][valid[i]]), _rows_sorted(exp), atol=1e-9)


def test_invalid_slots_point_at_self_and_padding_is_nobodys_neighbour():
    atoms = cu_cluster()
    mask = np.ones(len(atoms), bool)
    mask[:10] = False
    spec = qj.plan_neighbors(atoms.positions, atoms.cell.array, False, atom_mask=mask)
    nb = qj.find_neighbors(atoms.positions, atoms.cell.array, False, spec, k=32, atom_mask=mask)
    index, valid = np.asarray(nb.index), np.asarray(nb.valid)
    assert not valid[~mask].any()
    assert not np.isin(index[valid], np.flatnonzero(~mask)).any()
    rows = np.broadcast_to(np.arange(len(atoms))[:, None], index.shape)
    np.testing.assert_array_equal(index[~valid], rows[~valid])
    assert not np.asarray(nb.shift)[~valid].any()


def test_plan_picks_dense_for_small_and_cells_for_large_frames():
    small = cubic_cu(2)
    large = cubic_cu(10)
    assert qj.plan_neighbors(small.positions, small.cell.array, True).method == "dense"
    spec = qj.plan_neighbors(large.positions, large.cell.array, True)
    assert spec.method == "cells"
    assert spec.grid == (7, 7, 7) and spec.stencil == (1, 1, 1)
    tiny = small_triclinic_cell()
    assert qj.plan_neighbors(tiny.positions, tiny.cell.array, True).images == (2, 2, 2)


def test_merge_specs_covers_every_frame():
    a = qj.NeighborSpec("dense", images=(0, 1, 0))
    b = qj.NeighborSpec("dense", images=(2, 0, 0), chunk_size=64)
    merged = qj.merge_specs([a, b])
    assert merged.images == (2, 1, 0) and merged.chunk_size == 64
    with pytest.raises(ValueError, match="different methods"):
        qj.merge_specs([a, qj.NeighborSpec("cells", grid=(2, 2, 2), bin_capacity=4)])


def test_spec_rejects_nonsense():
    with pytest.raises(ValueError, match="method"):
        qj.NeighborSpec("octree")
    with pytest.raises(ValueError, match="images"):
        qj.NeighborSpec("dense", images=(1, -1, 0))
    with pytest.raises(ValueError, match="bin_capacity"):
        qj.NeighborSpec("cells", grid=(2, 2, 2), bin_capacity=0)


def test_chunked_search_equals_unchunked():
    atoms = cubic_cu(4)
    spec = qj.plan_neighbors(atoms.positions, atoms.cell.array, True, method="cells")
    chunked = qj.NeighborSpec(
        "cells", grid=spec.grid, stencil=spec.stencil, bin_capacity=spec.bin_capacity, chunk_size=32
    )
    with jax.enable_x64(True):
        a = qj.find_neighbors(atoms.positions, atoms.cell.array, True, spec)
        b = qj.find_neighbors(atoms.positions, atoms.cell.array, True, chunked)
    np.testing.assert_array_equal(a.index, b.index)
    np.testing.assert_array_equal(a.shift, b.shift)


def test_a_frame_the_dense_search_takes_plans_no_cell_list(monkeypatch):
    """A small frame (the dense search examines <= 2,048 candidates per atom) is
    planned without binning its atoms for a cell list it will not use; larger frames
    still compare both, and a forced grid is still checked."""
    from quests_jax.describe import _neighbors

    atoms = cubic_cu(2)
    frame = (atoms.positions, atoms.cell.array, True)
    expected = qj.plan_neighbors(*frame, cutoff=5.0)
    binned = []
    real = _neighbors._bin_counts
    monkeypatch.setattr(_neighbors, "_bin_counts", lambda *a: binned.append(1) or real(*a))
    assert qj.plan_neighbors(*frame, cutoff=5.0) == expected and expected.method == "dense"
    assert qj.plan_neighbors(*frame, cutoff=5.0, method="dense") == expected
    assert not binned
    big = cubic_cu(10)
    assert qj.plan_neighbors(big.positions, big.cell.array, True).method == "cells" and binned
