"""Perfect crystals: the k-th nearest neighbour ties with the next ones, and which of
the equidistant neighbours are kept decides x2. quests_jax keeps them by one
geometric rule (describe/_ties.py) on every path, for any atom order and translation,
and warns once per call naming the frames concerned."""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pytest
from ase.build import bulk

import brute_force
import quests_jax
from quests_jax.describe import (
    DescriptorTieWarning,
    NeighborSpec,
    descriptor,
    descriptor_with_overflow,
    plan_neighbors,
)


def lattices():
    """Perfect crystals whose 32nd neighbour lies inside a shell (within 5 A)."""
    return {
        "fcc": bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2)),  # 12+6+24
        "bcc": bulk("Fe", "bcc", a=2.87, cubic=True).repeat((3, 3, 3)),  # 8+6+12+24
        "hcp": bulk("Ti", "hcp", a=2.95, c=2.95 * np.sqrt(8 / 3)).repeat((3, 3, 2)),
        "diamond": bulk("C", "diamond", a=3.567, cubic=True).repeat((2, 2, 2)),
    }


def moved(atoms, seed: int):
    """The same crystal, atoms shuffled and translated: (frame, inverse permutation)."""
    perm = np.random.default_rng(seed).permutation(len(atoms))
    other = atoms[perm]
    other.positions += np.array([12.3, -7.1, 3.3])
    return other, np.argsort(perm)


def silent(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DescriptorTieWarning)
        return fn(*args, **kwargs)


@pytest.mark.parametrize("name", ["fcc", "bcc", "hcp", "diamond"])
def test_a_perfect_lattice_keeps_the_rules_neighbours_for_any_order_and_translation(name):
    atoms = lattices()[name]
    x = silent(quests_jax.get_descriptors, [atoms], dtype="float64")
    # the rule, by an independent float64 implementation
    expected = brute_force.descriptor(atoms.positions, atoms.cell[:], (True,) * 3)
    np.testing.assert_allclose(x, expected, atol=1e-12)
    other, back = moved(atoms, seed=1)
    y = silent(quests_jax.get_descriptors, [other], dtype="float64")[back]
    np.testing.assert_allclose(y, x, atol=1e-12)
    # the traced search, concrete and under jit, float64 and float32
    for dtype, atol in (("float64", 1e-12), ("float32", 1e-5)):
        with jax.enable_x64(dtype == "float64"):
            for frame, order in ((atoms, slice(None)), (other, back)):
                pos = np.asarray(frame.positions, dtype)
                cell = np.asarray(frame.cell[:], dtype)
                np.testing.assert_allclose(
                    np.asarray(descriptor(pos, cell, True))[order], x, atol=atol
                )
                spec = plan_neighbors(pos, cell, (True,) * 3, cutoff=5.0)
                jitted = jax.jit(lambda p, c, spec=spec: descriptor(p, c, True, spec=spec))
                np.testing.assert_allclose(np.asarray(jitted(pos, cell))[order], x, atol=atol)
            # vmapped over the frame and a copy translated by a lattice vector's half
            pos = np.asarray(atoms.positions, dtype)
            cell = np.asarray(atoms.cell[:], dtype)
            both = np.stack([pos, pos + 0.5 * cell[0]])
            spec = plan_neighbors(pos, cell, (True,) * 3, cutoff=5.0)
            rows = jax.vmap(lambda p, c=cell, s=spec: descriptor(p, c, True, spec=s))(both)
            for frame_rows in np.asarray(rows):
                np.testing.assert_allclose(frame_rows, x, atol=atol)


def test_one_warning_names_the_frames_whose_kth_neighbours_tie():
    crystals = lattices()
    rattled = crystals["fcc"].copy()
    rattled.positions += np.random.default_rng(0).normal(scale=0.05, size=(len(rattled), 3))
    frames = [rattled, crystals["fcc"], rattled, crystals["bcc"]]
    with pytest.warns(DescriptorTieWarning) as caught:
        quests_jax.get_descriptors(frames)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "2 of 4 frames (frames 1, 3)" in message and "32-th and 33-th" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error", DescriptorTieWarning)
        quests_jax.get_descriptors([rattled])
        quests_jax.get_descriptors([crystals["fcc"]], k=18)  # a shell closure: 12 + 6


def test_x1_is_the_references_and_x2_differs_only_by_the_choice():
    reference = pytest.importorskip("quests.descriptor")
    atoms = lattices()["fcc"]
    ours = silent(quests_jax.get_descriptors, [atoms], dtype="float64")
    theirs = reference.get_descriptors([atoms])
    np.testing.assert_allclose(ours[:, :32], theirs[:, :32], atol=1e-10)
    assert np.abs(ours[:, 32:] - theirs[:, 32:]).max() < 1e-2
    # rattled by 1e-4 A there is no choice left: the two agree
    atoms.positions += np.random.default_rng(2).normal(scale=1e-4, size=(len(atoms), 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DescriptorTieWarning)
        ours = quests_jax.get_descriptors([atoms], dtype="float64")
    np.testing.assert_allclose(ours, reference.get_descriptors([atoms]), atol=1e-10)


def test_a_tied_shell_wider_than_the_spec_is_an_overflow_not_a_choice():
    atoms = lattices()["bcc"]  # 18 tied atoms beyond the 32nd
    pos, cell = atoms.positions, np.asarray(atoms.cell[:])
    narrow = NeighborSpec("dense", tie_extra=4)
    x, _ = descriptor_with_overflow(pos, cell, True, narrow)
    assert np.isnan(np.asarray(x)).all()  # every atom's shell was cut: NaN rows
    neighbours = quests_jax.describe.find_neighbors(pos, cell, True, narrow)
    assert bool(neighbours.overflow)
    # the concrete call enlarges the search and returns the rule's rows
    full = silent(quests_jax.get_descriptors, [atoms])
    np.testing.assert_allclose(
        np.asarray(descriptor(pos, cell, True, spec=narrow)), full, atol=1e-5
    )
