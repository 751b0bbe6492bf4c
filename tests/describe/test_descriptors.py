"""The frame-level descriptor: parity with the reference package and an independent
brute force, periodicity edge cases, jit/vmap/grad, overflow recovery."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import quests_jax as qj
from brute_force import descriptor as brute_descriptor
from brute_force import smooth_descriptor as brute_smooth_descriptor
from brute_force import smooth_sorted as brute_smooth_sorted
from conftest import (
    cu_cluster,
    cu_slab,
    cubic_cu,
    molecules,
    random_triclinic,
    replicate_free,
    small_triclinic_cell,
    triclinic_cu,
)
from quests_jax.describe._descriptor import DISTANCE_SOFTNESS, SMOOTH_EXTRA, SORT_SOFTNESS
from quests_jax.describe._sorting import smooth_sort_last_axis

PARITY_FRAMES = {
    "cubic": lambda: cubic_cu(3),
    "triclinic": triclinic_cu,
    "random_triclinic": random_triclinic,
    "cluster": cu_cluster,
    "small_cell": small_triclinic_cell,
    **{f"molecule_{m.get_chemical_formula()}": (lambda m=m: m) for m in molecules()},
}


def _jax_descriptor(atoms, dtype, **kw):
    positions = np.asarray(atoms.positions, dtype)
    cell = np.asarray(atoms.cell.array, dtype)
    return np.asarray(qj.descriptor(positions, cell, atoms.pbc, **kw))


@pytest.mark.parametrize("name", sorted(PARITY_FRAMES))
def test_parity_with_reference_float64(name, reference):
    atoms = PARITY_FRAMES[name]()
    with jax.enable_x64(True):
        x = _jax_descriptor(atoms, np.float64)
    assert x.dtype == np.float64
    ref = reference.get_descriptors([atoms], dtype="float64")
    assert x.shape == ref.shape == (len(atoms), 63)
    np.testing.assert_array_less(np.abs(x - ref).max(), 1e-10)


@pytest.mark.parametrize("name", sorted(PARITY_FRAMES))
def test_parity_with_reference_float32(name, reference):
    atoms = PARITY_FRAMES[name]()
    x = _jax_descriptor(atoms, np.float32)
    assert x.dtype == np.float32
    ref = reference.get_descriptors([atoms], dtype="float64")
    np.testing.assert_array_less(np.abs(x - ref).max(), 1e-5)


@pytest.mark.parametrize("method", ["dense", "cells"])
@pytest.mark.parametrize("name", ["cubic", "triclinic", "small_cell", "cluster"])
def test_both_search_methods_match_brute_force(name, method):
    atoms = PARITY_FRAMES[name]()
    with jax.enable_x64(True):
        spec = qj.plan_neighbors(atoms.positions, atoms.cell.array, atoms.pbc, method=method)
        x = _jax_descriptor(atoms, np.float64, spec=spec)
    expected = brute_descriptor(atoms.positions, atoms.cell.array, atoms.pbc)
    np.testing.assert_allclose(x, expected, rtol=0, atol=1e-12)


def test_small_cell_equals_its_nonperiodic_replica():
    """A 3-atom cell narrower than the cutoff: the periodic result must equal the
    central copy of a large non-periodic replica."""
    atoms = small_triclinic_cell()
    big, centre = replicate_free(atoms, (9, 9, 9))
    with jax.enable_x64(True):
        periodic = _jax_descriptor(atoms, np.float64)
        replica = _jax_descriptor(big, np.float64)[centre]
    np.testing.assert_allclose(periodic, replica, rtol=0, atol=1e-10)
    assert np.count_nonzero(periodic[:, :32]) == 3 * 32  # many images are neighbours


def test_slab_equals_central_copy_of_lateral_replica():
    slab = cu_slab()
    assert tuple(slab.pbc) == (True, True, False)
    big, centre = replicate_free(slab, (3, 3, 1))
    with jax.enable_x64(True):
        periodic = _jax_descriptor(slab, np.float64)
        replica = _jax_descriptor(big, np.float64)[centre]
    np.testing.assert_allclose(periodic, replica, rtol=0, atol=1e-10)


@pytest.mark.parametrize("pbc", [(True, False, False), (False, True, True), (True, False, True)])
def test_mixed_periodicity_matches_brute_force(pbc):
    atoms = random_triclinic(30, seed=7)
    atoms.pbc = pbc
    with jax.enable_x64(True):
        x = _jax_descriptor(atoms, np.float64)
    expected = brute_descriptor(atoms.positions, atoms.cell.array, pbc)
    np.testing.assert_allclose(x, expected, rtol=0, atol=1e-12)


def test_single_atom_and_tiny_k():
    with jax.enable_x64(True):
        lone = qj.descriptor(np.zeros((1, 3)), np.zeros((3, 3)), False)
        assert lone.shape == (1, 63) and not np.any(lone)
        atoms = cubic_cu(2)
        x = _jax_descriptor(atoms, np.float64, k=1, cutoff=4.0)
        expected = brute_descriptor(atoms.positions, atoms.cell.array, atoms.pbc, k=1, cutoff=4.0)
        np.testing.assert_allclose(x, expected, atol=1e-12)
        x = _jax_descriptor(atoms, np.float64, k=5, cutoff=3.0)
        expected = brute_descriptor(atoms.positions, atoms.cell.array, atoms.pbc, k=5, cutoff=3.0)
        np.testing.assert_allclose(x, expected, atol=1e-12)


def test_jit_with_spec():
    atoms = triclinic_cu()
    spec = qj.plan_neighbors(atoms.positions, atoms.cell.array, atoms.pbc)
    f = jax.jit(lambda r, c: qj.descriptor(r, c, (True, True, True), spec=spec))
    r = jnp.asarray(atoms.positions, jnp.float32)
    c = jnp.asarray(atoms.cell.array, jnp.float32)
    np.testing.assert_allclose(f(r, c), qj.descriptor(r, c, atoms.pbc), atol=1e-6)


def test_traced_inputs_without_spec_raise_clear_error():
    atoms = cubic_cu(2)
    f = jax.jit(lambda r: qj.descriptor(r, atoms.cell.array, True))
    with pytest.raises(TypeError, match="spec"):
        f(atoms.positions)


def _padded_batch(frames, n_pad, dtype):
    r = np.zeros((len(frames), n_pad, 3), dtype)
    c = np.zeros((len(frames), 3, 3), dtype)
    m = np.zeros((len(frames), n_pad), bool)
    for b, a in enumerate(frames):
        r[b, : len(a)] = a.positions
        c[b] = a.cell.array
        m[b, : len(a)] = True
    return r, c, m


def test_vmap_over_padded_frames_with_mask():
    frames = [cubic_cu(2, seed=s) for s in range(3)] + [triclinic_cu()[:50]]
    frames[1] = frames[1][:29]  # a different size
    specs = [qj.plan_neighbors(a.positions, a.cell.array, a.pbc, method="dense") for a in frames]
    spec = qj.merge_specs(specs)
    r, c, m = _padded_batch(frames, 64, np.float64)
    r[~m] = np.nan  # padding content must not matter
    with jax.enable_x64(True):
        f = jax.vmap(
            lambda r, c, m: qj.descriptor_with_overflow(r, c, (True,) * 3, spec, atom_mask=m)
        )
        x, overflow = jax.jit(f)(r, c, m)
        assert not np.any(overflow)
        for b, a in enumerate(frames):
            single = _jax_descriptor(a, np.float64)
            np.testing.assert_allclose(x[b, : len(a)], single, atol=1e-12)
            assert not np.any(x[b, len(a) :])


def _loss(weights, spec=None, pbc=(True, True, True), mask=None):
    def f(positions, cell):
        x = qj.descriptor(positions, cell, pbc, spec=spec, atom_mask=mask)
        return jnp.sum(x * weights[: x.shape[0]])

    return f


@pytest.mark.parametrize("frame", [triclinic_cu, small_triclinic_cell, cu_slab])
def test_gradients_match_finite_differences(frame):
    atoms = frame()
    rng = np.random.default_rng(0)
    weights = jnp.asarray(rng.normal(size=(len(atoms), 63)))
    with jax.enable_x64(True):
        positions = jnp.asarray(atoms.positions)
        cell = jnp.asarray(atoms.cell.array)
        f = _loss(weights, pbc=tuple(atoms.pbc))
        grad_r, grad_c = jax.grad(f, argnums=(0, 1))(positions, cell)
        h = 1e-6
        for i, c in [(0, 0), (1, 2), (len(atoms) - 1, 1)]:
            d = jnp.zeros_like(positions).at[i, c].set(h)
            fd = (f(positions + d, cell) - f(positions - d, cell)) / (2 * h)
            np.testing.assert_allclose(grad_r[i, c], fd, rtol=1e-6, atol=1e-8)
        for i in range(3):
            for c in range(3):
                if not atoms.pbc[i]:
                    assert grad_c[i, c] == 0  # non-periodic axes do not use the cell
                    continue
                d = jnp.zeros_like(cell).at[i, c].set(h)
                fd = (f(positions, cell + d) - f(positions, cell - d)) / (2 * h)
                np.testing.assert_allclose(grad_c[i, c], fd, rtol=1e-6, atol=1e-8)


@pytest.mark.slow
def test_gradient_has_no_nan_on_padded_batches_or_coincident_atoms():
    frames = [cubic_cu(2, seed=s) for s in range(3)]
    frames[1] = frames[1][:20]
    frames[2].positions[5] = frames[2].positions[4]  # two coincident atoms
    specs = [qj.plan_neighbors(a.positions, a.cell.array, True, method="dense") for a in frames]
    spec = qj.merge_specs(specs)

    def loss(r, c, m):
        x, _ = qj.descriptor_with_overflow(r, c, True, spec, atom_mask=m)
        return jnp.sum(x**2)

    batch_grad = jax.jit(jax.vmap(jax.grad(loss, argnums=(0, 1))))
    for dtype in (np.float32, np.float64):
        r, c, m = _padded_batch(frames, 40, dtype)
        r[~m] = np.nan  # padding may hold anything
        with jax.enable_x64(dtype == np.float64):
            g_r, g_c = batch_grad(r, c, m)
        assert np.isfinite(g_r).all() and np.isfinite(g_c).all(), dtype
        assert not np.any(g_r[~m])
        assert np.any(g_r[m])


def test_overflow_is_detected_and_recovered():
    atoms = cubic_cu(3)
    good = qj.plan_neighbors(atoms.positions, atoms.cell.array, True, method="cells")
    tight = qj.NeighborSpec("cells", grid=good.grid, stencil=good.stencil, bin_capacity=3)
    x, overflow = qj.descriptor_with_overflow(atoms.positions, atoms.cell.array, True, tight)
    assert bool(overflow)
    # the eager API recovers by enlarging the spec
    recovered = qj.descriptor(atoms.positions, atoms.cell.array, True, spec=tight)
    np.testing.assert_allclose(
        recovered, qj.descriptor(atoms.positions, atoms.cell.array, True), atol=1e-6
    )
    # under jit, an overflowing frame is NaN, never silently wrong
    jitted = jax.jit(lambda r, c: qj.descriptor(r, c, True, spec=tight))(
        atoms.positions, atoms.cell.array
    )
    assert np.isnan(jitted).all()


def test_shrinking_cell_overflows_stencil_and_images():
    atoms = cubic_cu(3)
    for method in ("dense", "cells"):
        spec = qj.plan_neighbors(atoms.positions, atoms.cell.array, True, method=method)
        _, ok = qj.descriptor_with_overflow(atoms.positions, atoms.cell.array, True, spec)
        shrunk = atoms.cell.array * 0.45  # now narrower than 2 cutoffs / one cutoff per bin
        _, overflow = qj.descriptor_with_overflow(atoms.positions * 0.45, shrunk, True, spec)
        assert not bool(ok) and bool(overflow), method


@pytest.mark.slow
@pytest.mark.parametrize(
    "make", [lambda: cubic_cu(2, seed=3), lambda: molecules()[2], small_triclinic_cell]
)
def test_smooth_variant_matches_its_definition(make):
    """Against an independent float64 NumPy version (explicit images, bisection for
    the smooth sort); it differs from the plain descriptor, most where fcc Cu has more
    than k atoms within the cutoff."""
    atoms = make()
    with jax.enable_x64(True):
        smooth = _jax_descriptor(atoms, np.float64, smooth=0.5)
    expected = brute_smooth_descriptor(
        atoms.positions,
        atoms.cell.array,
        atoms.pbc,
        32,
        5.0,
        0.5,
        SMOOTH_EXTRA,
        SORT_SOFTNESS,
        DISTANCE_SOFTNESS,
    )
    np.testing.assert_allclose(smooth, expected, atol=2e-7)
    assert np.abs(smooth - _jax_descriptor(atoms, np.float64)).max() > 1e-3


@pytest.mark.slow
def test_smooth_sort_is_a_sort_away_from_ties_and_ignores_input_order():
    rng = np.random.default_rng(0)
    a = np.sort(rng.random((4, 32)), axis=1)
    a += np.arange(32) * 0.05  # gaps of >= 0.05 = 50 softness
    a = rng.permuted(a, axis=1)
    with jax.enable_x64(True):
        got = np.asarray(smooth_sort_last_axis(jnp.asarray(a), 1e-3))
        np.testing.assert_allclose(got, np.sort(a, axis=1), atol=1e-12)
        ties = np.array([[0.0] * 10 + [0.3, 0.30001, 0.5, 0.7]])
        perm = rng.permutation(ties.shape[1])
        s1 = np.asarray(smooth_sort_last_axis(jnp.asarray(ties), 1e-3))
        s2 = np.asarray(smooth_sort_last_axis(jnp.asarray(ties[:, perm]), 1e-3))
    np.testing.assert_allclose(s1, s2, atol=1e-14)
    np.testing.assert_allclose(s1, brute_smooth_sorted(ties[0], 1e-3)[None], atol=1e-9)
    assert np.all(np.diff(s1) >= -1e-12) and s1.sum() == pytest.approx(ties.sum())


def _largest_jump(atoms, smooth, steps=1500):
    """Largest change of any descriptor entry between consecutive points of a path
    that drags atom 0 by 1 A, relative to the median change."""
    positions = atoms.positions.copy()
    direction = np.array([1.0, 0.7, 0.3]) / np.linalg.norm([1.0, 0.7, 0.3])
    spec = qj.plan_neighbors(
        positions, atoms.cell.array, True, cutoff=5.0 + (smooth or 0), capacity_multiplier=2
    )
    path = (
        positions[None]
        + np.linspace(0, 1, steps)[:, None, None] * np.eye(len(atoms))[:, :1] * direction
    )
    with jax.enable_x64(True):
        f = jax.jit(
            jax.vmap(lambda r: qj.descriptor(r, atoms.cell.array, True, spec=spec, smooth=smooth))
        )
        x = np.asarray(f(path))
    change = np.abs(np.diff(x, axis=0)).max(axis=(1, 2))
    return change.max() / np.median(change)


@pytest.mark.slow
def test_smooth_variant_is_continuous_where_the_plain_descriptor_jumps():
    atoms = cubic_cu(2, seed=3)
    assert _largest_jump(atoms, None) > 4  # x2 jumps when the 32nd and 33rd atoms swap
    # a continuous path's largest step over its median does not depend on the number
    # of steps (1.3 at 500 steps), a jump's grows with it (1.8 at 500, > 4 at 1,500):
    # the costly smooth variant takes fewer
    assert _largest_jump(atoms, 0.5, steps=500) < 2


def _work_mismatch(smooth, steps):
    """Along a straight path, |f(b) - f(a) - (f'(a) + f'(b)) . (b - a) / 2| summed over
    ``steps`` segments (the trapezoid error of a weighted sum of descriptors): it falls
    as steps^-2 for a twice differentiable f, only as steps^0 where kinks lie densely."""
    atoms = cubic_cu(2, seed=4)
    rng = np.random.default_rng(5)
    direction = rng.normal(scale=0.05, size=atoms.positions.shape)  # all atoms move
    weights = jnp.asarray(rng.normal(size=(len(atoms), 63)))
    spec = qj.plan_neighbors(
        atoms.positions, atoms.cell.array, True, cutoff=5.0 + (smooth or 0), capacity_multiplier=2
    )
    with jax.enable_x64(True):
        cell = jnp.asarray(atoms.cell.array)

        def f(t):
            r = jnp.asarray(atoms.positions) + t * direction
            return jnp.sum(weights * qj.descriptor(r, cell, True, spec=spec, smooth=smooth))

        values, slopes = jax.jit(jax.vmap(jax.value_and_grad(f)))(jnp.linspace(0.0, 1.0, steps + 1))
    dt = 1.0 / steps
    return float(np.sum(np.abs(np.diff(values) - 0.5 * (slopes[1:] + slopes[:-1]) * dt)))


@pytest.mark.slow
def test_smooth_variant_is_twice_differentiable_where_the_plain_one_has_kinks():
    plain = [_work_mismatch(None, n) for n in (50, 200)]
    smooth = [_work_mismatch(0.5, n) for n in (50, 200)]
    assert smooth[0] / smooth[1] > 10  # ~16 for a smooth function (16.1 measured)
    assert plain[0] / plain[1] < 3  # kinks (and jumps) do not average away


@pytest.mark.slow
def test_smooth_variant_gradients_match_finite_differences():
    atoms = triclinic_cu()
    weights = jnp.asarray(np.random.default_rng(1).normal(size=(len(atoms), 63)))
    with jax.enable_x64(True):
        positions, cell = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)

        def f(r, c):
            return jnp.sum(qj.descriptor(r, c, True, smooth=0.4) * weights)

        grad_r, grad_c = jax.grad(f, argnums=(0, 1))(positions, cell)
        h = 1e-6
        for i, c in [(0, 0), (7, 2)]:
            d = jnp.zeros_like(positions).at[i, c].set(h)
            fd = (f(positions + d, cell) - f(positions - d, cell)) / (2 * h)
            np.testing.assert_allclose(grad_r[i, c], fd, rtol=1e-6, atol=1e-8)
        d = jnp.zeros_like(cell).at[1, 0].set(h)
        fd = (f(positions, cell + d) - f(positions, cell - d)) / (2 * h)
        np.testing.assert_allclose(grad_c[1, 0], fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("bad", [0.0, -0.1, np.nan, True])
def test_bad_smooth_width_is_named(bad):
    atoms = cubic_cu(2)
    with pytest.raises(ValueError, match="smooth must be"):
        qj.descriptor(atoms.positions, atoms.cell.array, True, smooth=bad)
