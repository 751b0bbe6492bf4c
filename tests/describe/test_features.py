"""Another descriptor in one place: a toy ``Features`` (each environment's k nearest
distances over the cutoff) defined here only, and every path computing with it:
datasets, one frame, entropy and dH, a collective variable and the JAX-MD bias (its
own search and a JAX-MD neighbour list), checked against a float64 brute force."""

from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.io import read
from scipy.special import logsumexp

import brute_force
import quests_jax as qj
from conftest import cubic_cu
from quests_jax.forces.jaxmd import bias_energy_fn

HERE = os.path.dirname(os.path.abspath(__file__))
SI_TEST = os.path.join(HERE, "..", "..", "examples", "data", "mlearn_si", "test.xyz")
K, CUTOFF, H = 8, 5.0, 0.05


@dataclasses.dataclass(frozen=True)
class NearestDistances(qj.Features):
    """The toy descriptor: r_j / cutoff of the k nearest neighbours, nearest first;
    1 where a neighbour is absent."""

    def width(self, k: int) -> int:
        return k

    def __call__(self, vectors, valid, cutoff):
        r2 = jnp.sum(vectors * vectors, axis=-1)
        r = jnp.sqrt(jnp.where(valid, r2, 1.0))  # no sqrt(0) in the gradient
        return jnp.where(valid, r / cutoff, 1.0)


TOY = NearestDistances()


def _brute_rows(atoms) -> np.ndarray:
    """The toy's rows in float64 NumPy, from the brute-force neighbours."""
    rows = np.ones((len(atoms), K))
    vectors = brute_force.neighbor_vectors(atoms.positions, atoms.cell.array, atoms.pbc, K, CUTOFF)
    for i, v in enumerate(vectors):
        rows[i, : len(v)] = np.linalg.norm(v, axis=1) / CUTOFF
    return rows


def _log_sums(y, x, h):
    d2 = np.sum((y[:, None, :] - x[None, :, :]) ** 2, axis=-1)
    return logsumexp(-d2 / (2 * h * h), axis=1)


def _frames():
    frames = read(SI_TEST, ":")
    return frames[5:8], frames[8:10]  # bulk, a slab, a smaller cell


# the toy's rows do not depend on which equidistant neighbours are kept
@pytest.mark.filterwarnings("ignore::quests_jax.describe.DescriptorTieWarning")
def test_a_new_descriptor_reaches_every_path_of_datasets_and_information():
    data, reference = _frames()
    expected = np.concatenate([_brute_rows(a) for a in data])
    expected_ref = np.concatenate([_brute_rows(a) for a in reference])
    with jax.enable_x64(True):
        x = qj.get_descriptors(data, k=K, cutoff=CUTOFF, dtype="float64", features=TOY)
        x_ref = qj.get_descriptors(reference, k=K, cutoff=CUTOFF, dtype="float64", features=TOY)
        one = np.concatenate(
            [qj.descriptor(a.positions, a.cell.array, a.pbc, k=K, features=TOY) for a in data]
        )
        assert x.shape == (sum(map(len, data)), K)
        np.testing.assert_allclose(x, expected, rtol=1e-12)
        np.testing.assert_allclose(x_ref, expected_ref, rtol=1e-12)
        np.testing.assert_allclose(one, expected, rtol=1e-12)
        # the quantities take rows of any width: entropy and dH of the toy's rows
        h_expected = np.log(len(x)) - np.mean(_log_sums(expected, expected, H))
        np.testing.assert_allclose(float(qj.entropy(x, H)), h_expected, rtol=1e-10)
        np.testing.assert_allclose(
            qj.delta_entropy(x, x_ref, H), -_log_sums(expected, expected_ref, H), rtol=1e-10
        )
    x32 = qj.get_descriptors(data, k=K, cutoff=CUTOFF, features=TOY)
    assert x32.dtype == np.float32
    np.testing.assert_allclose(x32, expected, rtol=1e-6)


def _bias_setup():
    atoms = cubic_cu(3, seed=71)  # 108 atoms, box 10.83 A: wider than twice the cutoff
    reference = cubic_cu(3, seed=72)
    ref_rows = _brute_rows(reference)
    cv = qj.collective_variable(
        "dH_mean", atoms.positions, atoms.cell.array, True, reference=ref_rows, h=H, k=K,
        features=TOY,
    )  # fmt: skip
    return atoms, ref_rows, cv


@pytest.mark.slow
def test_a_new_descriptor_gives_a_collective_variable_and_a_jax_md_bias_force():
    jax_md = pytest.importorskip("jax_md")
    strength = -0.3
    with jax.enable_x64(True):
        atoms, ref_rows, cv = _bias_setup()
        r, c = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)
        dh = -_log_sums(_brute_rows(atoms), ref_rows, H)
        np.testing.assert_allclose(float(cv(r, c)), dh.mean(), rtol=1e-10)

        box = c.T
        displacement, _ = jax_md.space.periodic_general(box, fractional_coordinates=False)
        bias = bias_energy_fn(cv, strength, box, displacement_fn=displacement)
        forces = -jax.grad(bias)(r)
        # central finite differences of the brute-force CV, for a few coordinates
        step = 1e-5
        for atom, axis in ((0, 0), (17, 1), (63, 2)):
            moved = []
            for sign in (1, -1):
                shifted = atoms.copy()
                shifted.positions[atom, axis] += sign * step
                moved.append(-_log_sums(_brute_rows(shifted), ref_rows, H).mean())
            fd = -strength * (moved[0] - moved[1]) / (2 * step)
            np.testing.assert_allclose(forces[atom, axis], fd, rtol=1e-5, atol=1e-9)

        # the same rows through a JAX-MD neighbour list
        neighbor_fn = jax_md.partition.neighbor_list(
            displacement, box, CUTOFF, format=jax_md.partition.Dense
        )
        nbrs = neighbor_fn.allocate(r)
        assert not nbrs.did_buffer_overflow
        listed = bias.descriptors_from_neighbor_list(r, nbrs)
        np.testing.assert_allclose(listed, _brute_rows(atoms), rtol=1e-12)
        np.testing.assert_allclose(bias(r, neighbor=nbrs), bias(r), rtol=1e-12)
        np.testing.assert_allclose(
            jax.grad(lambda x: bias(x, neighbor=nbrs))(r), -forces, atol=1e-12
        )


def test_bad_features_are_named():
    atoms = cubic_cu(2, seed=73)
    frames = [atoms]

    class NotFeatures:
        def width(self, k):
            return k

    @dataclasses.dataclass(frozen=True)
    class NoWidth(NearestDistances):
        def width(self, k):
            return 0

    with pytest.raises(TypeError, match="features must be None"):  # (the runtime type
        qj.DescriptorSettings(features=NotFeatures())  # checker of tests is first at doors)
    with pytest.raises(ValueError, match=r"features.width\(32\) must be an integer >= 1"):
        qj.get_descriptors(frames, features=NoWidth())
    with pytest.raises(ValueError, match="smooth is a variant of the QUESTS descriptor"):
        qj.descriptor(atoms.positions, atoms.cell.array, True, smooth=0.5, features=TOY)
    with pytest.raises(ValueError, match="concat=False"):
        qj.get_descriptors(frames, features=TOY, concat=False)
    # a reference of the QUESTS width does not fit a CV of the toy's
    with pytest.raises(ValueError, match=r"reference must be \(n, 8\)"):
        qj.collective_variable(
            "dH_mean", atoms.positions, atoms.cell.array, True, reference=np.zeros((4, 2 * K - 1)),
            k=K, features=TOY,
        )  # fmt: skip
