"""Well-tempered metadynamics: hills against NumPy, the buffer's bookkeeping, the
biased energy's gradient, and a double well that only the biased run crosses."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from quests_jax.forces.metadynamics import (
    Hills,
    WellTempered,
    bias_potential,
    biased_energy_fn,
    deposit,
    free_energy,
    run,
)

PARAMS = WellTempered(height=0.2, sigma=[0.1, 0.3], bias_factor=5.0, kT=0.1, stride=10)


def test_hills_and_well_tempered_heights_match_numpy():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(6, 2))
    with jax.enable_x64(True):
        hills = Hills.empty(10, n_cv=2)
        expected_heights = []
        for p in points:
            v = sum(
                h * np.exp(-0.5 * np.sum(((p - c) / np.array([0.1, 0.3])) ** 2))
                for h, c in zip(expected_heights, points, strict=False)
            )
            expected_heights.append(0.2 * np.exp(-v / ((5.0 - 1.0) * 0.1)))
            hills = deposit(hills, jnp.asarray(p), PARAMS)
        assert int(hills.count) == 6 and int(hills.dropped) == 0
        np.testing.assert_allclose(hills.heights[:6], expected_heights, rtol=1e-12)
        assert expected_heights[-1] < 0.2  # later hills shrink where bias has piled up
        s = np.array([0.05, -0.2])
        v = sum(
            h * np.exp(-0.5 * np.sum(((s - c) / np.array([0.1, 0.3])) ** 2))
            for h, c in zip(expected_heights, points, strict=True)
        )
        np.testing.assert_allclose(bias_potential(hills, jnp.asarray(s), PARAMS), v, rtol=1e-12)


def test_full_buffer_refuses_and_counts():
    params = WellTempered(height=1.0, sigma=0.1, bias_factor=10.0, kT=1.0, stride=1)
    hills = Hills.empty(3)
    for s in [0.0, 1.0, 2.0, 3.0, 4.0]:
        hills = deposit(hills, s, params)
    assert int(hills.count) == 3 and int(hills.dropped) == 2
    np.testing.assert_allclose(hills.centers[:, 0], [0.0, 1.0, 2.0])


def test_biased_energy_adds_the_gradient_of_the_bias():
    params = WellTempered(height=0.5, sigma=0.2, bias_factor=4.0, kT=0.5, stride=1)
    hills = deposit(deposit(Hills.empty(4), 0.1, params), 0.4, params)

    def base(r):
        return jnp.sum(r**2)

    def cv(r):
        return r[0, 0] - r[1, 0]

    total = biased_energy_fn(base, cv, params)
    r = jnp.asarray([[0.3, 0.0, 0.0], [0.1, 0.2, 0.0]])
    grad = jax.grad(total)(r, hills=hills)
    expected = jax.grad(base)(r) + jax.grad(lambda r: bias_potential(hills, cv(r), params))(r)
    np.testing.assert_allclose(grad, expected, rtol=1e-6)
    assert np.abs(grad - jax.grad(base)(r)).max() > 1e-3


def _double_well_run(biased: bool):
    """A particle in V(x) = 2 (x^2 - 1)^2 (barrier 2) at kT = 0.2, Langevin dynamics."""
    simulate = pytest.importorskip("jax_md.simulate")
    space = pytest.importorskip("jax_md.space")
    params = WellTempered(height=0.2, sigma=0.15, bias_factor=10.0, kT=0.2, stride=25)
    _, shift = space.free()

    def well(r, **kwargs):
        x = r[0, 0]
        return 2.0 * (x * x - 1.0) ** 2 + 0.5 * jnp.sum(r[0, 1:] ** 2)

    def cv(r, **kwargs):
        return r[0, 0]

    energy_fn = biased_energy_fn(well, cv, params) if biased else (lambda r, hills: well(r))
    init, apply = simulate.nvt_langevin(energy_fn, shift, 0.01, 0.2, gamma=1.0)
    hills = Hills.empty(400)
    state = init(jax.random.PRNGKey(3), jnp.asarray([[-1.0, 0.0, 0.0]]), hills=hills)
    step = jax.jit(lambda st, hl: run(apply, st, hl, lambda s: s.position[0, 0], params, 400))
    _, hills, trace = step(state, hills)
    return hills, np.asarray(trace)[:, 0], params


def test_metadynamics_crosses_a_barrier_that_plain_dynamics_does_not():
    _, plain, _ = _double_well_run(False)
    hills, biased, params = _double_well_run(True)
    assert plain.max() < 0.0  # 10,000 steps: never over a barrier of 10 kT
    assert biased.max() > 0.5  # the hills fill the well and push the particle over
    assert int(hills.count) == 400 and int(hills.dropped) == 0
    # the estimated free energy rises toward the barrier from the starting well
    grid = np.linspace(-1.2, -0.2, 6)
    f = np.asarray(free_energy(hills, grid, params))
    assert f[0] < f[-1]


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="bias_factor must be > 1"):
        WellTempered(height=1.0, sigma=0.1, bias_factor=1.0, kT=1.0, stride=1)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        WellTempered(height=1.0, sigma=[0.1, 0.0], bias_factor=2.0, kT=1.0, stride=1)
    with pytest.raises(ValueError, match="stride must be"):
        WellTempered(height=1.0, sigma=0.1, bias_factor=2.0, kT=1.0, stride=0)
    with pytest.raises(ValueError, match="height must be"):
        WellTempered(height=-1.0, sigma=0.1, bias_factor=2.0, kT=1.0, stride=1)
    with pytest.raises(ValueError, match="the hills expect"):
        bias_potential(Hills.empty(2, n_cv=2), jnp.zeros(3), PARAMS)
