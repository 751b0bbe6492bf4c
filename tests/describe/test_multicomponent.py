"""Multicomponent descriptor: parity with the reference and block structure."""

from __future__ import annotations

import jax
import numpy as np

import quests_jax as qj
from brute_force import descriptor as brute_descriptor
from conftest import cubic_cu, nacl, random_triclinic


def test_parity_with_reference(reference):
    frames = [nacl(seed=s) for s in range(2)]
    for dtype, tol in (("float64", 1e-10), ("float32", 1e-5)):
        x = qj.get_descriptors_multicomponent(frames, dtype=dtype)
        ref = reference.get_descriptors_multicomponent(frames, dtype="float64")
        assert x.shape == ref.shape == (128, 3 * 63)
        assert x.dtype == np.dtype(dtype)
        np.testing.assert_array_less(np.abs(x - ref).max(), tol)


def test_single_species_is_the_plain_descriptor():
    # (the reference means this too, but its concatenation fails for one species)
    frames = [cubic_cu(2)]
    x = qj.get_descriptors_multicomponent(frames, dtype="float64")
    np.testing.assert_allclose(x, qj.get_descriptors(frames, dtype="float64"), atol=1e-12)


def test_blocks_are_sublattice_descriptors():
    """Each species block is the descriptor of that species' atoms alone."""
    atoms = random_triclinic(40, seed=11)
    symbols = np.array(["Ar", "Kr"])[np.arange(40) % 2]
    atoms.set_chemical_symbols(symbols)
    k = 32
    x1, x2 = qj.get_descriptors_multicomponent([atoms], dtype="float64", concat=False)
    assert x1.shape == (40, 3 * k) and x2.shape == (40, 3 * (k - 1))
    full = brute_descriptor(atoms.positions, atoms.cell.array, atoms.pbc)
    blocks = [full]
    for sym in ("Ar", "Kr"):
        sel = symbols == sym
        block = np.zeros_like(full)
        block[sel] = brute_descriptor(atoms.positions[sel], atoms.cell.array, atoms.pbc)
        blocks.append(block)
    for b, block in enumerate(blocks):
        np.testing.assert_allclose(x1[:, b * k : (b + 1) * k], block[:, :k], atol=1e-12)
        np.testing.assert_allclose(x2[:, b * (k - 1) : (b + 1) * (k - 1)], block[:, k:], atol=1e-12)


def test_explicit_species_list_and_pure_function():
    atoms = nacl()
    x = qj.get_descriptors_multicomponent([atoms], species=["Na", "Cl", "K"], dtype="float64")
    assert x.shape == (len(atoms), 4 * 63)
    # the (empty) K block is zero; blocks follow sorted symbols: Cl, K, Na
    k = 32
    assert not np.any(x[:, 2 * k : 3 * k])
    species = np.array([{"Cl": 0, "K": 1, "Na": 2}[s] for s in atoms.get_chemical_symbols()])
    with jax.enable_x64(True):
        spec = qj.plan_neighbors(atoms.positions, atoms.cell.array, True)
        y, overflow = jax.jit(qj.descriptor_multicomponent_with_overflow, static_argnums=(2, 4, 5))(
            atoms.positions, atoms.cell.array, (True,) * 3, species, 3, spec
        )
    assert not bool(overflow)
    np.testing.assert_allclose(y, x, atol=1e-12)
    assert qj.multicomponent_width(32, 3) == y.shape[1]
