"""Collective variables: values against the information functions and float64 NumPy
reductions, forces and stresses against finite differences, jit/vmap with padding,
overflow, bounded memory, bad input."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import expit, logsumexp

import quests_jax as qj
from conftest import cu_cluster, cubic_cu, rattle
from quests_jax.forces import CountAboveDH, SmoothMaxDH, SumAboveDH
from quests_jax.forces._collective import KINDS, collective_variable
from quests_jax.forces._mechanics import energy_forces_stress

THRESHOLD, WIDTH, BETA = 3.0, 0.7, 0.5


def _frames(expanded=False):
    """A rattled Cu frame and two reference frames. ``expanded`` (a = 4.3 A) leaves
    fewer than k = 32 atoms within the cutoff: the plain descriptor is then smooth
    except at ties, which finite differences of the plain descriptor need."""
    scale = 4.3 / 3.61 if expanded else 1.0
    frames = [cubic_cu(2, seed=s) for s in (11, 12, 13)]
    for a in frames:
        a.set_cell(a.cell * scale, scale_atoms=True)
    return frames[0], frames[1:]


def _reference_descriptors(frames, smooth=None):
    return np.concatenate(
        [qj.descriptor(a.positions, a.cell.array, a.pbc, smooth=smooth) for a in frames]
    )


def _expected(kind, x, ref):
    """The CV from the descriptors, with the information functions and NumPy."""
    if kind == "entropy":
        joint = x if ref is None else np.concatenate([ref, x])
        return float(qj.entropy(joint, 0.015))
    dh = np.asarray(qj.delta_entropy(x, ref, 0.015), dtype=np.float64)
    if kind == "dH_mean":
        return dh.mean()
    if kind == "dH_max":
        return logsumexp(BETA * dh) / BETA
    if kind == "dH_sum_above":
        return np.sum(WIDTH * np.logaddexp(0.0, (dh - THRESHOLD) / WIDTH))
    return np.sum(expit((dh - THRESHOLD) / WIDTH))


# the named kinds, with this file's parameters
REDUCTIONS = {
    "dH_max": SmoothMaxDH(beta=BETA),
    "dH_sum_above": SumAboveDH(threshold=THRESHOLD, width=WIDTH),
    "dH_count_above": CountAboveDH(threshold=THRESHOLD, width=WIDTH),
}


def _cv(kind, atoms, ref, smooth=None, **kw):
    return collective_variable(
        REDUCTIONS.get(kind, kind),
        atoms.positions,
        atoms.cell.array,
        atoms.pbc,
        reference=ref,
        smooth=smooth,
        **kw,
    )


@pytest.mark.slow
@pytest.mark.parametrize("smooth", [None, 0.5])
@pytest.mark.parametrize("kind", KINDS)
def test_values_match_the_information_functions(kind, smooth):
    atoms, reference = _frames()
    with jax.enable_x64(True):
        ref = _reference_descriptors(reference, smooth)
        x = np.asarray(qj.descriptor(atoms.positions, atoms.cell.array, True, smooth=smooth))
        cv = _cv(kind, atoms, ref, smooth)
        got = float(cv(jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)))
        np.testing.assert_allclose(got, _expected(kind, x, ref), rtol=1e-10)
        if kind == "entropy":  # without a reference: the frame's own entropy
            cv = _cv(kind, atoms, None, smooth)
            got = float(cv(jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)))
            np.testing.assert_allclose(got, _expected(kind, x, None), rtol=1e-10)
        else:
            np.testing.assert_allclose(
                cv.delta_entropy(atoms.positions, atoms.cell.array),
                qj.delta_entropy(x, ref, 0.015),
                rtol=1e-10,
            )


def _derivative(f, step):
    """d/dt f(t step) at 0 by the fourth-order central difference (the kernels vary on
    the scale of h = 0.015, so a second-order one needs steps too small for rounding)."""
    return (8 * (f(step) - f(-step)) - (f(2 * step) - f(-2 * step))) / 12


def _finite_difference_checks(cv, atoms):
    r, c = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)
    energy, forces, stress = jax.jit(lambda r, c: energy_forces_stress(cv, r, c))(r, c)
    eps = 1e-5
    for i, a in [(0, 0), (5, 1), (len(atoms) - 1, 2)]:
        d = jnp.zeros_like(r).at[i, a].set(eps)
        fd = -_derivative(lambda d: cv(r + d, c), d) / eps
        np.testing.assert_allclose(forces[i, a], fd, rtol=1e-6, atol=1e-8)
    # A strain moves every atom: the sorted neighbour distances cross somewhere within
    # strains of ~1e-5 (kinks of the descriptor), so the stress takes small steps and
    # a looser tolerance (a wrong formula is off by O(1)); mechanics has a tight test.
    volume = abs(np.linalg.det(atoms.cell.array))
    eps = 1e-6
    for a, b in [(0, 0), (1, 2), (2, 1)]:
        e = np.zeros((3, 3))
        e[a, b] = e[b, a] = eps / 2 if a != b else eps

        def strained(e):
            return cv(r @ (np.eye(3) + e), c @ (np.eye(3) + e))

        fd = (strained(e) - strained(-e)) / (2 * eps) / volume
        np.testing.assert_allclose(stress[a, b], fd, rtol=1e-4, atol=1e-9)
    return energy, forces


@pytest.mark.slow
@pytest.mark.parametrize("smooth", [None, 0.5])
@pytest.mark.parametrize("kind", KINDS)
def test_forces_and_stress_match_finite_differences(kind, smooth):
    atoms, reference = _frames(expanded=smooth is None)
    with jax.enable_x64(True):
        ref = _reference_descriptors(reference, smooth)
        _finite_difference_checks(_cv(kind, atoms, ref, smooth), atoms)


@pytest.mark.slow
def test_cluster_forces_sum_to_zero_and_match_finite_differences():
    """A free cluster: translation invariance makes the forces sum to zero."""
    atoms = cu_cluster()
    reference = [rattle(cu_cluster(), 0.1, s) for s in (1, 2)]
    with jax.enable_x64(True):
        ref = _reference_descriptors(reference, 0.5)
        cv = _cv("dH_mean", atoms, ref, 0.5)
        r, c = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)
        forces = -jax.grad(cv)(r, c)
        np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=1e-10)
        eps = 1e-5
        d = jnp.zeros_like(r).at[7, 1].set(eps)
        np.testing.assert_allclose(
            forces[7, 1], -(cv(r + d, c) - cv(r - d, c)) / (2 * eps), rtol=1e-5
        )


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["entropy", "dH_mean", "dH_max"])
def test_float32_follows_float64(kind):
    atoms, reference = _frames()
    values, forces = {}, {}
    for dtype in (np.float32, np.float64):
        with jax.enable_x64(dtype == np.float64):
            ref = _reference_descriptors(reference, 0.5).astype(dtype)
            cv = _cv(kind, atoms, ref, 0.5)
            r, c = jnp.asarray(atoms.positions, dtype), jnp.asarray(atoms.cell.array, dtype)
            value, grad = jax.value_and_grad(cv)(r, c)
            assert value.dtype == dtype and grad.dtype == dtype
            values[dtype], forces[dtype] = float(value), np.asarray(grad, np.float64)
    np.testing.assert_allclose(values[np.float32], values[np.float64], rtol=1e-5, atol=1e-5)
    scale = np.abs(forces[np.float64]).max()
    np.testing.assert_allclose(forces[np.float32], forces[np.float64], atol=1e-3 * scale)


@pytest.mark.slow
@pytest.mark.parametrize("smooth, dtype", [(None, np.float32), (0.5, np.float64)])
def test_vmap_over_padded_frames_equals_each_frame(smooth, dtype):
    """A batch of frames of different sizes, padded with a mask, in one vmap (float32
    with the plain descriptor; the smooth one's sorts amplify float32 rounding by
    1/softness, so it is compared in float64)."""
    frames = [cubic_cu(2, seed=s) for s in (21, 22, 23)]
    frames[1] = frames[1][:25]
    f64 = dtype == np.float64
    tolerance = 1e-9 if f64 else 1e-4
    with jax.enable_x64(f64):
        reference = _reference_descriptors([cubic_cu(2, seed=24)], smooth).astype(dtype)
        spec = qj.merge_specs(
            [qj.plan_neighbors(a.positions, a.cell.array, True, cutoff=5.5) for a in frames]
        )
        n = max(len(a) for a in frames)
        r = np.zeros((3, n, 3), dtype)
        m = np.zeros((3, n), bool)
        for i, a in enumerate(frames):
            r[i, : len(a)], m[i, : len(a)] = a.positions, True
        c = np.stack([a.cell.array for a in frames]).astype(dtype)
        for kind in ("entropy", "dH_mean", "dH_count_above"):
            cv = _cv(kind, frames[0], reference if kind != "entropy" else None, smooth)
            cv = cv.with_spec(spec)
            batched = jax.jit(jax.vmap(jax.value_and_grad(cv), in_axes=(0, 0, 0)))(r, c, m)
            for i, a in enumerate(frames):
                value, grad = jax.value_and_grad(cv)(
                    jnp.asarray(a.positions, dtype), jnp.asarray(a.cell.array, dtype)
                )
                np.testing.assert_allclose(batched[0][i], value, rtol=tolerance / 5, atol=1e-5)
                np.testing.assert_allclose(
                    batched[1][i, : len(a)], grad, atol=tolerance * np.abs(grad).max()
                )
                assert not np.asarray(batched[1][i, len(a) :]).any()


@pytest.mark.slow
@pytest.mark.parametrize("smooth", [None, 0.5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_coincident_atoms_give_finite_values_and_forces(smooth, dtype):
    """Two atoms on top of each other: descriptor entries of 1e16 (as the reference's),
    dH ~1e35 for them and ~1e30 for their neighbours; every CV and its gradient with
    respect to positions and cell stays finite (they were +-inf and NaN)."""
    atoms, reference = _frames()
    atoms.positions[5] = atoms.positions[4]
    with jax.enable_x64(dtype == np.float64):
        ref = _reference_descriptors(reference, smooth).astype(dtype)
        r, c = jnp.asarray(atoms.positions, dtype), jnp.asarray(atoms.cell.array, dtype)
        for kind in KINDS:
            cv = _cv(kind, atoms, ref if kind != "entropy" else None, smooth)
            value, (g_r, g_c) = jax.value_and_grad(cv, argnums=(0, 1))(r, c)
            assert np.isfinite(value), kind
            assert np.isfinite(g_r).all() and np.isfinite(g_c).all(), kind
            if kind == "dH_max":
                assert value > 1e34  # the coincident pair's environments


def test_overflow_gives_nan_and_replanning_recovers():
    atoms, reference = _frames()
    cv = _cv("dH_mean", atoms, _reference_descriptors(reference))
    dense_cell = atoms.cell.array * 0.4  # narrower than the spec's images allow
    f = jax.jit(lambda r, c: cv(r, c))
    assert np.isfinite(f(atoms.positions, atoms.cell.array))
    assert bool(cv.overflow(atoms.positions * 0.4, dense_cell))
    assert np.isnan(f(atoms.positions * 0.4, dense_cell))
    again = cv.replanned(atoms.positions * 0.4, dense_cell)
    assert np.isfinite(eqx.filter_jit(again)(atoms.positions * 0.4, dense_cell))


@pytest.mark.slow
def test_gradient_memory_does_not_grow_with_atoms_or_reference():
    """Forces of dH_mean: from 2,048 atoms x 20,000 references to 6,912 x 80,000, the
    compiled gradient's temporaries grow by less than two copies of the added reference
    rows (O(N_ref d): the padded reference blocks are held once, for the exact
    distances of rows far from a block's centre): no atoms x reference matrix, no
    per-atom Jacobian."""

    def temp(rep, n_ref):
        atoms = cubic_cu(rep, seed=31)
        cv = _cv("dH_mean", atoms, np.zeros((1, 63), np.float32), 0.5)

        def grad(r, c, ref_rows):
            return jax.grad(eqx.tree_at(lambda v: v.reference, cv, ref_rows))(r, c)

        shapes = [((len(atoms), 3), jnp.float32), ((3, 3), jnp.float32), ((n_ref, 63), jnp.float32)]
        args = [jax.ShapeDtypeStruct(*s) for s in shapes]
        compiled = jax.jit(grad).lower(*args).compile()
        return compiled.memory_analysis().temp_size_in_bytes, len(atoms) * n_ref * 4

    small, _ = temp(8, 20_000)
    large, large_matrix = temp(12, 80_000)
    assert large < large_matrix / 20, large
    assert large - small < 2 * (80_000 - 20_000) * 63 * 4, (small, large)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kind": "entropie"}, "kind must be 'entropy', one of"),
        ({"kind": 3}, "a callable"),
        ({"kind": "dH_mean", "reference": None}, "needs reference descriptors"),
        ({"reference": np.zeros((5, 30))}, r"reference must be \(n, 63\)"),
        ({"reference": np.full((5, 63), np.nan)}, "reference has NaN"),
        ({"h": 0.0}, "h must be"),
        ({"smooth": 0.0}, "smooth must be"),
    ],
)
def test_bad_input_is_named(kwargs, match):
    atoms, _ = _frames()
    args = {"kind": "dH_mean", "reference": np.zeros((5, 63)), **kwargs}
    kind = args.pop("kind")
    error = TypeError if kind == 3 else ValueError
    with pytest.raises(error, match=match):
        collective_variable(kind, atoms.positions, atoms.cell.array, True, **args)
    bad = atoms.positions.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        collective_variable("entropy", bad, atoms.cell.array, True)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: SmoothMaxDH(beta=0.0), "beta must be"),
        (lambda: SumAboveDH(width=-1.0), "width must be"),
        (lambda: CountAboveDH(threshold=np.nan), "threshold must be"),
    ],
)
def test_bad_reduction_parameters_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_a_reduction_is_any_pure_function_of_dh():
    """A new kind is a function passed in: here the mean of dH^2, checked against the
    information functions and NumPy; the CV's kind is the function itself."""

    def mean_square(dh, mask):
        return jnp.sum(jnp.where(mask, dh * dh, 0.0)) / jnp.sum(mask)

    atoms, reference = _frames()
    with jax.enable_x64(True):
        ref = _reference_descriptors(reference)
        cv = _cv(mean_square, atoms, ref)
        x = np.asarray(qj.descriptor(atoms.positions, atoms.cell.array, True))
        dh = np.asarray(qj.delta_entropy(x, ref, 0.015), np.float64)
        got = float(cv(jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)))
        np.testing.assert_allclose(got, np.mean(dh**2), rtol=1e-10)
    assert cv.kind is mean_square
    assert _cv("dH_max", atoms, ref).kind == SmoothMaxDH(beta=BETA)
    assert _cv("dH_mean", atoms, ref).kind == "dH_mean"


def test_an_unhashable_reduction_is_refused_by_name():
    atoms, _ = _frames()

    class Unhashable:
        __hash__ = None

        def __call__(self, dh, mask):
            return jnp.sum(dh)

    with pytest.raises(TypeError, match="the reduction Unhashable must be hashable"):
        collective_variable(
            Unhashable(), atoms.positions, atoms.cell.array, True, reference=np.zeros((4, 63))
        )
