"""Learning curves, the entropy sampler and the information-gap fit."""

from __future__ import annotations

import numpy as np
import pytest

import quests_jax as qj
from quests_jax.tools._learning import entropy_sampler, information_gap, learning_curve


def test_information_gap_recovers_the_model():
    n = np.array([50, 100, 200, 400, 800, 1600, 3200, 6400.0])
    for a, b, c in ((7.0, 6.0, 0.05), (4.5, 2.0, 0.2), (9.0, 8.5, 0.01)):
        fit = information_gap(n, a - b * np.exp(-c * np.log(n) ** 2))
        assert (fit.a, fit.b, fit.c) == pytest.approx((a, b, c), rel=1e-6)
        assert fit.gap == pytest.approx(b * np.exp(-c * np.log(n[-1]) ** 2), rel=1e-6)
        np.testing.assert_allclose(fit(n), a - b * np.exp(-c * np.log(n) ** 2), rtol=1e-8)


def test_information_gap_with_noise_and_repeated_sizes():
    rng = np.random.default_rng(0)
    n = np.repeat([100, 300, 1000, 3000, 10000.0], 4)
    h = 6.0 - 5.0 * np.exp(-0.04 * np.log(n) ** 2) + rng.normal(0, 0.01, n.size)
    fit = information_gap(n, h)
    assert fit.a == pytest.approx(6.0, abs=0.15)
    assert fit.rms < 0.02


def test_information_gap_errors():
    with pytest.raises(ValueError, match="3 or more distinct sizes"):
        information_gap([10, 10, 20], [1.0, 1.1, 1.5])
    with pytest.raises(ValueError, match="differ in length"):
        information_gap([10, 20, 30], [1.0])


def test_learning_curve_subsets_are_draws_without_replacement():
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(300, 8)) * 0.02).astype(np.float32)
    curve = learning_curve(x, [0.1, 0.5, 1.0], num_runs=3, seed=4)
    assert curve["sizes"] == [30, 150, 300]
    ent = curve["entropies"]
    # the full set is one run and equals the entropy of x
    assert ent[2, 0] == pytest.approx(float(qj.entropy(x)), rel=1e-6)
    assert np.isnan(ent[2, 1:]).all()
    # each subset's entropy equals that of the rows the same generator draws
    draw = np.random.default_rng(4)
    for i, size in enumerate([30, 150]):
        for r in range(3):
            rows = np.sort(draw.choice(300, size, replace=False))
            assert ent[i, r] == pytest.approx(float(qj.entropy(x[rows])), rel=1e-5)
    assert (ent[:2] <= np.log(np.array([30, 150]))[:, None] + 1e-6).all()
    np.testing.assert_allclose(curve["mean_entropy"], np.nanmean(ent, 1))


def test_learning_curve_and_sampler_errors():
    x = np.zeros((10, 3))
    for bad in ([0.0], [1.5], [], [np.nan]):
        with pytest.raises(ValueError):
            learning_curve(x, bad)
    with pytest.raises(ValueError, match="num_runs"):
        learning_curve(x, [0.5], num_runs=0)
    with pytest.raises(ValueError, match="non-empty"):
        entropy_sampler(np.zeros((0, 3)))


def test_entropy_sampler():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 6)) * 0.02
    small = entropy_sampler(x, sample=500)
    assert small.shape == (1,) and small[0] == pytest.approx(float(qj.entropy(x)), rel=1e-6)
    values = entropy_sampler(x, sample=50, num_runs=4, seed=3)
    draw = np.random.default_rng(3)
    for v in values:
        rows = np.sort(draw.choice(200, 50, replace=False))
        assert v == pytest.approx(float(qj.entropy(x[rows])), rel=1e-5)
