"""Annealed Monte Carlo toward a target dH."""

from __future__ import annotations

import numpy as np
import pytest

import quests_jax as qj
from conftest import cu_cluster, cubic_cu
from quests_jax.forces import optimize_structure
from quests_jax.tools import monte_carlo


@pytest.mark.slow
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


@pytest.mark.slow
def test_the_chain_does_not_depend_on_its_segments(monkeypatch):
    """The chain runs in compiled segments of SEGMENT steps (a progress bar between
    them; no program per number of steps): segments of 4 and one of 50 give the same
    chain, step for step, and a second length compiles nothing."""
    from quests_jax.compilation import track
    from quests_jax.tools import _monte_carlo

    atoms = cubic_cu(2, seed=5)
    ref = qj.get_descriptors([cubic_cu(2, seed=s) for s in range(2)])
    whole = monte_carlo(atoms, ref, n_steps=10, seed=1)
    monkeypatch.setattr(_monte_carlo, "SEGMENT", 4)
    parts = monte_carlo(atoms, ref, n_steps=10, seed=1)
    np.testing.assert_array_equal(parts.scores, whole.scores)
    np.testing.assert_array_equal(parts.atoms.positions, whole.atoms.positions)
    assert parts.acceptance == whole.acceptance and parts.scores.shape == (10,)
    with track() as stats:
        monte_carlo(atoms, ref, n_steps=7, seed=2)
    assert stats.programs == 0, stats


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


def _dataset():
    data = [cubic_cu(2, seed=s) for s in range(3)]
    return qj.get_descriptors(data)


@pytest.mark.slow
def test_gradient_generation_raises_the_entropy_a_frame_gives_a_dataset():
    x = _dataset()
    start = cubic_cu(2, seed=7)
    cv = qj.collective_variable("entropy", start.positions, start.cell.array, True, reference=x)
    result = optimize_structure(start, cv, n_steps=120, learning_rate=0.02)
    gained = qj.entropy(np.concatenate([x, qj.get_descriptors([result.atoms])]))
    before = qj.entropy(np.concatenate([x, qj.get_descriptors([start])]))
    assert float(gained) > float(before) + 0.3
    # the reported objective is the entropy of the union, start and end
    np.testing.assert_allclose(result.objective[[0, -1]], [before, gained], rtol=1e-4)
    assert result.objective.shape == (121,) and result.guard.shape == (121,)
    assert result.min_distance > 1.8  # the repulsive guard (r_min = 2 A) held
    assert result.atoms is not start and np.all(result.atoms.cell == start.cell)


@pytest.mark.slow
def test_gradient_generation_reaches_a_dh_target_per_environment():
    x = _dataset()
    start = cubic_cu(2, seed=8)
    cv = qj.collective_variable("dH_mean", start.positions, start.cell.array, True, reference=x)
    result = optimize_structure(start, cv, n_steps=200, learning_rate=0.02, target=10.0)
    dh = np.asarray(qj.delta_entropy(qj.get_descriptors([result.atoms]), x))
    assert np.abs(dh - 10.0).mean() < 0.5  # every environment near the target
    np.testing.assert_allclose(result.objective[-1], np.abs(dh - 10.0).mean(), rtol=1e-3, atol=1e-3)


def test_gradient_generation_errors():
    x = _dataset()
    atoms = cubic_cu(2)
    cv = qj.collective_variable("dH_mean", atoms.positions, atoms.cell.array, True, reference=x)
    with pytest.raises(ValueError, match="n_steps"):
        optimize_structure(atoms, cv, n_steps=0)
    with pytest.raises(ValueError, match="learning_rate"):
        optimize_structure(atoms, cv, learning_rate=-1.0)
    with pytest.raises(ValueError, match="target must be"):
        optimize_structure(atoms, cv, target=np.nan)
    cluster = cu_cluster()
    with pytest.raises(ValueError, match="differs from the CV's pbc"):
        optimize_structure(cluster, cv)
    own = qj.collective_variable("entropy", atoms.positions, atoms.cell.array, True)
    with pytest.raises(ValueError, match="needs a CV with a reference"):
        optimize_structure(atoms, own, target=3.0)


@pytest.mark.parametrize("block", [None, 1000])
def test_the_chains_scores_follow_a_float64_brute_force(block):
    """The chain scores each move against a reference prepared once (centred, in padded
    blocks; ~3x faster than the streamed per-row sums): on real Si (a frame of the
    test set against the 13,233 rows of the training set, in 4 and 14 blocks) its dH
    equals a float64 log-sum-exp to 1e-3 nats (plain float32 distances)."""
    from pathlib import Path

    from ase.io import read

    from quests_jax.information import prepare_reference_blocks, prepared_log_sums

    data = Path(__file__).parents[2] / "examples" / "data" / "mlearn_si"
    ref = qj.get_descriptors(read(data / "train.xyz", ":"))
    x = qj.get_descriptors(read(data / "test.xyz", "3:5"))
    h = 0.015
    prepared = prepare_reference_blocks(ref, h, block)
    assert prepared[0].shape[0] == (4 if block is None else 14)
    dh = -np.asarray(prepared_log_sums(x, prepared))[:, 0]
    d2 = np.sum((x.astype(np.float64)[:, None] - ref.astype(np.float64)[None]) ** 2, axis=-1)
    scaled = -d2 / (2 * h * h)
    top = scaled.max(axis=1)
    exact = -(top + np.log(np.exp(scaled - top[:, None]).sum(axis=1)))
    assert np.ptp(exact) > 1.0  # environments near and far from the training set
    np.testing.assert_allclose(dh, exact, atol=1e-3, rtol=0)


def test_batch_size_sets_the_chains_reference_blocks(monkeypatch):
    """batch_size was documented as the chain's block rows but ignored (found in review)."""
    from quests_jax.tools import _monte_carlo

    seen = []
    prepare = _monte_carlo.prepare_reference_blocks

    def spy(reference, h, block=None, dtype=None):
        seen.append(block)
        return prepare(reference, h, block, dtype)

    monkeypatch.setattr(_monte_carlo, "prepare_reference_blocks", spy)
    atoms = cubic_cu(2, seed=5)
    ref = qj.get_descriptors([cubic_cu(2, seed=s) for s in range(2)])
    monte_carlo(atoms, ref, n_steps=2, batch_size=24, progress=False)
    assert seen == [24]
