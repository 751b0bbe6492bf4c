"""The ASE bias calculator: values against the CV, forces and stress against ASE's
numerical derivatives, sums with EMT, MD, re-planning, bad input."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from ase import units
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.emt import EMT
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from ase.md.verlet import VelocityVerlet

import quests_jax as qj
from conftest import cu_cluster, cubic_cu
from quests_jax.forces import CountAboveDH
from quests_jax.forces._calculator import EntropyBiasCalculator, with_bias
from quests_jax.forces._collective import collective_variable


def _reference(smooth=0.5):
    frames = [cubic_cu(2, seed=s) for s in (51, 52)]
    return np.concatenate(
        [qj.descriptor(a.positions, a.cell.array, True, smooth=smooth) for a in frames]
    )


@pytest.mark.slow
def test_energy_forces_stress_match_the_cv_and_ase_numerics():
    with jax.enable_x64(True):
        ref = _reference()
        atoms = cubic_cu(2, seed=53)
        calc = EntropyBiasCalculator(ref, kind="dH_mean", strength=-0.4, dtype="float64")
        atoms.calc = calc
        cv = collective_variable(
            "dH_mean", atoms.positions, atoms.cell.array, True, reference=ref, smooth=0.5
        )
        assert atoms.get_potential_energy() == pytest.approx(
            -0.4 * float(cv(atoms.positions, atoms.cell.array)), rel=1e-12
        )
        forces = atoms.get_forces()
        numeric = calculate_numerical_forces(atoms, eps=1e-5)
        np.testing.assert_allclose(forces, numeric, atol=2e-4 * np.abs(forces).max())
        stress = atoms.get_stress()
        numeric = calculate_numerical_stress(atoms, eps=1e-6)
        np.testing.assert_allclose(stress, numeric, atol=1e-3 * np.abs(stress).max())
        assert np.abs(stress).max() > 0


@pytest.mark.slow
def test_sum_with_emt_and_molecular_dynamics():
    ref = _reference()
    atoms = cubic_cu(2, seed=54)
    bias = EntropyBiasCalculator(ref, kind=CountAboveDH(threshold=2.0), strength=-0.2)
    atoms.calc = with_bias(EMT(), bias)
    e_total = atoms.get_potential_energy()
    plain = atoms.copy()
    plain.calc = EMT()
    alone = atoms.copy()
    alone.calc = EntropyBiasCalculator(ref, kind=CountAboveDH(threshold=2.0), strength=-0.2)
    assert e_total == pytest.approx(
        plain.get_potential_energy() + alone.get_potential_energy(), rel=1e-6
    )
    np.testing.assert_allclose(
        atoms.get_forces(), plain.get_forces() + alone.get_forces(), atol=1e-5
    )
    dyn = VelocityVerlet(atoms, 2 * units.fs)
    dyn.run(10)
    assert np.isfinite(atoms.get_potential_energy()) and np.isfinite(atoms.get_forces()).all()


@pytest.mark.slow
def test_clusters_have_no_stress_and_frames_may_change():
    cluster = cu_cluster()
    ref = qj.descriptor(cluster.positions, np.zeros((3, 3)), False, smooth=0.5)
    calc = EntropyBiasCalculator(ref, kind="dH_max", strength=-0.1)
    cluster.calc = calc
    assert np.isfinite(cluster.get_forces()).all()
    with pytest.raises(PropertyNotImplementedError, match="stress"):
        cluster.get_stress()
    # a different frame (size, periodicity) gets its own neighbour search
    bulk = cubic_cu(2, seed=55)
    bulk.calc = calc
    assert np.isfinite(bulk.get_potential_energy())
    # a frame squeezed beyond the planned search is re-planned, not wrong
    squeezed = bulk.copy()
    squeezed.set_cell(bulk.cell * 0.4, scale_atoms=True)
    squeezed.calc = calc
    direct = collective_variable(
        "dH_max", squeezed.positions, squeezed.cell.array, True, reference=ref, smooth=0.5
    )
    assert squeezed.get_potential_energy() == pytest.approx(
        -0.1 * float(direct(squeezed.positions, squeezed.cell.array)), rel=1e-5
    )


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="needs reference descriptors"):
        EntropyBiasCalculator(None, kind="dH_mean")
    with pytest.raises(ValueError, match="strength must be"):
        EntropyBiasCalculator(_reference(), strength=np.inf)
    with pytest.raises(ValueError, match="dtype must be"):
        EntropyBiasCalculator(_reference(), dtype="float16")
    with pytest.raises(TypeError, match="EntropyBiasCalculator"):
        with_bias(EMT(), EMT())
