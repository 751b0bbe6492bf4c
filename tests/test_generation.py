"""Annealed Monte Carlo toward a target dH."""

from __future__ import annotations

import numpy as np
import pytest

import quests_jax as qj
from conftest import cu_cluster, cubic_cu
from quests_jax.generation import monte_carlo


@pytest.mark.parametrize("make", [lambda: cubic_cu(2, seed=5), lambda: cu_cluster(seed=2)])
def test_best_frame_and_its_reported_dh_agree(make):
    atoms = make()
    data = [cubic_cu(2, seed=s) for s in range(3)]
    ref = qj.get_descriptors(data)
    target = 4.0
    start = np.asarray(qj.delta_entropy(qj.get_descriptors([atoms]), ref))
    result = monte_carlo(atoms, ref, n_steps=150, target=target, seed=3)
    dh = np.asarray(qj.delta_entropy(qj.get_descriptors([result.atoms]), ref))
    np.testing.assert_allclose(result.dh, dh, rtol=1e-4, atol=1e-4)
    assert result.best_score == pytest.approx(np.abs(dh - target).mean(), rel=1e-4, abs=1e-4)
    assert result.best_score <= np.abs(start - target).mean() + 1e-6
    assert result.scores.shape == (150,) and 0 <= result.acceptance <= 1
    assert result.atoms is not atoms and np.all(result.atoms.cell == atoms.cell)
    # same seed, same run
    again = monte_carlo(atoms, ref, n_steps=150, target=target, seed=3)
    np.testing.assert_array_equal(again.atoms.positions, result.atoms.positions)


def test_monte_carlo_errors():
    atoms = cubic_cu(2)
    ref = qj.get_descriptors([atoms])
    with pytest.raises(ValueError, match="n_steps"):
        monte_carlo(atoms, ref, n_steps=0)
    with pytest.raises(ValueError, match="step_size"):
        monte_carlo(atoms, ref, step_size=-1.0)
    with pytest.raises(ValueError, match="reference must be"):
        monte_carlo(atoms, ref[:, :10])
    bad = atoms.copy()
    bad.positions[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN|finite"):
        monte_carlo(bad, ref)
