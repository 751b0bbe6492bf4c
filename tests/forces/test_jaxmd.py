"""The JAX-MD bias energy: JAX-MD's spaces, coordinates and gradient conventions, its
neighbour lists, stress and simulators (NVT, NPT), overflow, bad input."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk

import quests_jax as qj
from conftest import cu_cluster, cubic_cu, rattle
from quests_jax.forces._collective import collective_variable
from quests_jax.forces._mechanics import energy_forces_stress
from quests_jax.forces.jaxmd import bias_energy_fn

jax_md = pytest.importorskip("jax_md")
space, energy, partition, quantity, simulate = (
    jax_md.space,
    jax_md.energy,
    jax_md.partition,
    jax_md.quantity,
    jax_md.simulate,
)

STRENGTH = -0.3


def _bulk(smooth=0.5, kind="dH_mean"):
    atoms = cubic_cu(3, seed=41)  # 108 atoms, box 10.83 A
    ref_frame = cubic_cu(3, seed=42)
    ref = qj.descriptor(ref_frame.positions, ref_frame.cell.array, True, smooth=smooth)
    cv = collective_variable(
        kind, atoms.positions, atoms.cell.array, True, reference=ref, smooth=smooth
    )
    return atoms, cv


@pytest.mark.slow
def test_periodic_general_fractional_energy_forces_stress():
    with jax.enable_x64(True):
        atoms, cv = _bulk()
        cell = jnp.asarray(atoms.cell.array)
        box = cell.T  # JAX-MD: lattice vectors as columns
        displacement, _ = space.periodic_general(box, fractional_coordinates=True)
        bias = bias_energy_fn(cv, STRENGTH, box, fractional_coordinates=True)
        frac = jnp.asarray(atoms.get_scaled_positions(wrap=False))
        positions = jnp.asarray(atoms.positions)
        e, f, s = energy_forces_stress(lambda r, c: STRENGTH * cv(r, c), positions, cell)
        np.testing.assert_allclose(bias(frac), e, rtol=1e-12)
        # JAX-MD's rule: grad with respect to fractional positions is the real-space one
        np.testing.assert_allclose(quantity.force(bias)(frac), f, rtol=1e-9, atol=1e-12)
        # JAX-MD's stress strains through `perturbation`; its sign is minus ASE's
        np.testing.assert_allclose(-quantity.stress(bias, frac, box), s, rtol=1e-8, atol=1e-14)
        # the box given to the call (NPT) replaces the default one
        np.testing.assert_allclose(
            bias(frac, box=box * 1.01), STRENGTH * cv(positions * 1.01, cell * 1.01), rtol=1e-12
        )


@pytest.mark.slow
def test_periodic_real_coordinates_and_free_space():
    with jax.enable_x64(True):
        atoms, cv = _bulk()
        side = atoms.cell.array[0, 0]
        bias = bias_energy_fn(cv, STRENGTH, side)
        r = jnp.asarray(atoms.positions)
        np.testing.assert_allclose(
            bias(r), STRENGTH * cv(r, jnp.asarray(atoms.cell.array)), rtol=1e-12
        )
        cluster = cu_cluster()
        ref = qj.descriptor(rattle(cluster, 0.1, 3).positions, np.zeros((3, 3)), False)
        cv_free = collective_variable(
            "dH_max", cluster.positions, np.zeros((3, 3)), False, reference=ref
        )
        bias = bias_energy_fn(cv_free, STRENGTH)
        r = jnp.asarray(cluster.positions)
        np.testing.assert_allclose(bias(r), STRENGTH * cv_free(r, jnp.zeros((3, 3))), rtol=1e-12)
        np.testing.assert_allclose(quantity.force(bias)(r).sum(axis=0), 0.0, atol=1e-10)


def _listed_bias(atoms, cv, cutoff, dtype=None):
    """(bias, Dense JAX-MD neighbour_fn of ``cutoff``, fractional positions, box) for a
    periodic frame: the bias wired for ``neighbor=`` lists."""
    box = jnp.asarray(atoms.cell.array.T, dtype)
    displacement, _ = space.periodic_general(box, fractional_coordinates=True)
    bias = bias_energy_fn(
        cv, STRENGTH, box, fractional_coordinates=True, displacement_fn=displacement
    )
    neighbor_fn = partition.neighbor_list(
        displacement, box, cutoff, fractional_coordinates=True, format=partition.Dense
    )
    return bias, neighbor_fn, jnp.asarray(atoms.get_scaled_positions(), dtype), box


@pytest.mark.slow
@pytest.mark.parametrize("smooth", [None, 0.5])
def test_jax_md_neighbour_list_gives_the_same_energy_and_forces(smooth):
    with jax.enable_x64(True):
        atoms, cv = _bulk(smooth)
        bias, neighbor_fn, frac, box = _listed_bias(atoms, cv, 5.0 + (smooth or 0.0))
        nbrs = neighbor_fn.allocate(frac)
        assert not nbrs.did_buffer_overflow
        np.testing.assert_allclose(bias(frac, neighbor=nbrs), bias(frac), rtol=1e-10)
        np.testing.assert_allclose(
            jax.grad(lambda r: bias(r, neighbor=nbrs))(frac), jax.grad(bias)(frac), atol=1e-10
        )
        np.testing.assert_allclose(
            quantity.stress(lambda r, **kw: bias(r, neighbor=nbrs, **kw), frac, box),
            quantity.stress(bias, frac, box),
            rtol=1e-8,
            atol=1e-14,
        )


def _morse(displacement):
    # Girifalco-Weizer Morse copper (eV, A)
    return energy.morse_pair(
        displacement, sigma=2.866, epsilon=0.3429, alpha=1.3588, r_onset=4.5, r_cutoff=5.2
    )


@pytest.mark.slow
def test_nvt_and_npt_simulations_run_with_the_bias():
    atoms, cv = _bulk()
    box = jnp.asarray(atoms.cell.array.T, jnp.float32)
    displacement, shift = space.periodic_general(box, fractional_coordinates=True)
    morse = _morse(displacement)
    bias = bias_energy_fn(cv, STRENGTH, box, fractional_coordinates=True)

    def total(r, **kwargs):
        return morse(r, **kwargs) + bias(r, **kwargs)

    frac = jnp.asarray(atoms.get_scaled_positions(), jnp.float32)
    key = jax.random.PRNGKey(0)
    init, apply = simulate.nvt_langevin(total, shift, 0.2, 0.05)
    state = init(key, frac, mass=63.546)
    state = jax.jit(lambda s: jax.lax.fori_loop(0, 20, lambda i, s: apply(s), s))(state)
    assert np.isfinite(state.position).all() and np.isfinite(total(state.position))
    # a biased run differs from an unbiased one with the same noise
    init0, apply0 = simulate.nvt_langevin(morse, shift, 0.2, 0.05)
    plain = jax.jit(lambda s: jax.lax.fori_loop(0, 20, lambda i, s: apply0(s), s))(
        init0(key, frac, mass=63.546)
    )
    assert np.abs(plain.position - state.position).max() > 1e-6

    init, apply = simulate.npt_nose_hoover(total, shift, 0.1, pressure=0.0, kT=0.05)
    state = init(key, frac, box, mass=63.546)
    state = jax.jit(lambda s: jax.lax.fori_loop(0, 20, lambda i, s: apply(s), s))(state)
    new_box = simulate.npt_box(state)
    assert np.isfinite(state.position).all() and np.isfinite(new_box).all()
    assert np.abs(new_box - box).max() > 0  # the box moved, and the bias followed it
    assert np.isfinite(bias(state.position, box=new_box))


@pytest.mark.slow
def test_nvt_of_a_thousand_atoms_with_jax_md_lists_jitted_end_to_end():
    # 1,000 Cu atoms, Morse + bias, both on JAX-MD neighbour lists updated inside one
    # jitted fori_loop; the forces the integrator carries equal the forces of the total
    # energy recomputed outside the run from fresh lists
    atoms = rattle(bulk("Cu", "fcc", a=3.61, cubic=True).repeat((5, 5, 10)), 0.1, 7)
    assert len(atoms) == 1000
    ref_frame = cubic_cu(3, seed=8)
    ref = qj.descriptor(ref_frame.positions, ref_frame.cell.array, True)
    cv = collective_variable("dH_mean", atoms.positions, atoms.cell.array, True, reference=ref)
    box = jnp.asarray(atoms.cell.array.T, jnp.float32)
    displacement, shift = space.periodic_general(box, fractional_coordinates=True)
    bias = bias_energy_fn(
        cv, STRENGTH, box, fractional_coordinates=True, displacement_fn=displacement
    )
    morse_fn, morse = energy.morse_neighbor_list(
        displacement,
        box,
        sigma=2.866,
        epsilon=0.3429,
        alpha=1.3588,
        r_onset=4.5,
        r_cutoff=5.2,
        fractional_coordinates=True,
    )
    dense_fn = partition.neighbor_list(
        displacement, box, 5.2, fractional_coordinates=True, format=partition.Dense
    )

    def total(r, neighbor, **kwargs):
        return morse(r, neighbor=neighbor[0], **kwargs) + bias(r, neighbor=neighbor[1], **kwargs)

    frac = jnp.asarray(atoms.get_scaled_positions(), jnp.float32)
    lists = (morse_fn.allocate(frac), dense_fn.allocate(frac))
    init, apply = simulate.nvt_langevin(total, shift, 0.1, 0.05, gamma=0.2)

    @jax.jit
    def run(state, lists):
        def step(_, carry):
            state, lists = carry
            lists = tuple(nbrs.update(state.position) for nbrs in lists)
            return apply(state, neighbor=lists), lists

        return jax.lax.fori_loop(0, 5, step, (state, lists))

    state, lists = run(init(jax.random.PRNGKey(0), frac, mass=63.546, neighbor=lists), lists)
    assert not any(bool(nbrs.did_buffer_overflow) for nbrs in lists)
    assert np.isfinite(state.position).all() and np.abs(state.position - frac).max() > 0
    fresh = (morse_fn.allocate(state.position), dense_fn.allocate(state.position))
    expected = quantity.force(total)(state.position, neighbor=fresh)
    np.testing.assert_allclose(state.force, expected, rtol=1e-4, atol=1e-4)
    bias_only = quantity.force(bias)(state.position)  # the CV's own search
    assert np.abs(bias_only).max() > 100 * 1e-4  # the checks above see the bias
    np.testing.assert_allclose(
        quantity.force(lambda r: bias(r, neighbor=fresh[1]))(state.position),
        bias_only,
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.slow
@pytest.mark.parametrize("smooth", [None, 0.5])
def test_neighbour_list_forces_work_in_chunks_of_atoms(smooth):
    """Forces through a JAX-MD list: the compiled temporaries grow with the atoms only
    by per-atom arrays (positions, rows, forces: a few hundred bytes an atom), never by
    per-atom pair matrices (k x k floats, 4 kB an atom at k = 32; unchunked, the
    temporaries grew ~100 kB an atom, to 1.6 GB and more at 16,384 atoms). Measured
    4,000 -> 16,384 atoms: +284 B/atom plain, +500 B/atom smooth (jax 0.12.1; a ratio
    bound of 1.5x failed there for the smooth variant, whose fixed part is only 12 MB)."""

    def temp(rep):
        atoms = cubic_cu(rep, seed=5)
        ref = qj.descriptor(atoms.positions[:108], atoms.cell.array, True, smooth=smooth)
        cv = collective_variable(
            "dH_mean", atoms.positions, atoms.cell.array, True, reference=ref, smooth=smooth
        )
        bias, neighbor_fn, frac, _ = _listed_bias(atoms, cv, 5.0 + (smooth or 0.0), jnp.float32)
        forces = jax.jit(lambda b, r, n: quantity.force(b)(r, neighbor=n))
        compiled = forces.lower(bias, frac, neighbor_fn.allocate(frac)).compile()
        return compiled.memory_analysis().temp_size_in_bytes, len(atoms)

    (small, n_small), (large, n_large) = temp(10), temp(16)
    per_atom = (large - small) / (n_large - n_small)
    assert per_atom < 2048, (small, large, per_atom)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_coincident_atoms_through_a_jax_md_list_give_finite_forces(dtype):
    atoms = cubic_cu(3, seed=1)
    atoms.positions[5] = atoms.positions[4]
    with jax.enable_x64(dtype == np.float64):
        ref_frame = cubic_cu(3, seed=2)
        ref = qj.descriptor(ref_frame.positions, ref_frame.cell.array, True, smooth=0.5)
        cv = collective_variable(
            "dH_mean", atoms.positions, atoms.cell.array, True, reference=ref, smooth=0.5
        )
        bias, neighbor_fn, frac, _ = _listed_bias(atoms, cv, 5.5, dtype)
        nbrs = neighbor_fn.allocate(frac)
        forces = quantity.force(lambda r: bias(r, neighbor=nbrs))(frac)
        assert np.isfinite(forces).all() and np.isfinite(bias(frac, neighbor=nbrs))


def test_overflow_is_flagged_and_replanning_recovers():
    atoms, cv = _bulk(None)
    box = jnp.asarray(atoms.cell.array.T)
    bias = bias_energy_fn(cv, STRENGTH, box, fractional_coordinates=True)
    frac = jnp.asarray(atoms.get_scaled_positions())
    small = box * 0.42  # the nearest image no longer covers the cutoff
    assert not bias.overflow(frac) and bool(bias.overflow(frac, small))
    assert np.isnan(jax.jit(lambda r, b: bias(r, box=b))(frac, small))
    again = bias.replanned(frac, small)
    assert np.isfinite(again(frac, box=small))


def test_bad_input_is_named():
    atoms, cv = _bulk()
    box = jnp.asarray(atoms.cell.array.T)
    with pytest.raises(ValueError, match="does not match the box"):
        bias_energy_fn(cv, STRENGTH)  # a periodic CV in free space
    with pytest.raises(ValueError, match="fractional_coordinates needs a box"):
        cluster = cu_cluster()
        ref = qj.descriptor(cluster.positions, np.zeros((3, 3)), False)
        free_cv = collective_variable(
            "dH_mean", cluster.positions, np.zeros((3, 3)), False, reference=ref
        )
        bias_energy_fn(free_cv, STRENGTH, fractional_coordinates=True)
    with pytest.raises(ValueError, match="strength must be"):
        bias_energy_fn(cv, np.nan, box)
    with pytest.raises(TypeError, match="CollectiveVariable"):
        bias_energy_fn(lambda r: r, STRENGTH, box)
    bias = bias_energy_fn(cv, STRENGTH, box, fractional_coordinates=True)
    with pytest.raises(ValueError, match="displacement function"):
        bias(jnp.zeros((108, 3)), neighbor=object())


@pytest.mark.slow
def test_jax_md_float64_sums_do_not_warn_in_float32():
    """jax-md's pair energies request float64 sums; with x64 off JAX warns at every
    trace (the examples printed it). Inside jax_md_float64_warnings_ignored() exactly
    that warning is hidden, while a user's own float64 request still warns; importing
    quests_jax.forces installs no filter (outside the block jax-md still warns)."""
    import subprocess
    import sys

    code = """
import warnings, jax, jax.numpy as jnp
from jax_md import energy, space
from quests_jax.forces.jaxmd import jax_md_float64_warnings_ignored
disp, _ = space.free()
morse = energy.morse_pair(disp)
r = jnp.ones((4, 3)) * jnp.arange(4.0)[:, None]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    with jax_md_float64_warnings_ignored():
        jax.jit(morse)(r)
        jnp.zeros(3, dtype=jnp.float64)  # not from jax-md: still warns
messages = [str(w.message)[:60] for w in caught]
assert len(messages) == 1 and "requested in zeros" in messages[0], messages
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    jax.jit(morse)(jnp.ones((5, 3)) * jnp.arange(5.0)[:, None])  # new shape: traced again
assert any("requested in sum" in str(w.message) for w in caught), caught
"""
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
