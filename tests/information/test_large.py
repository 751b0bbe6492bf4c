"""Large frames: the cell-list path runs in bounded memory and stays exact."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import quests_jax as qj
from brute_force import descriptor as brute_descriptor
from conftest import cubic_cu

pytestmark = pytest.mark.slow


@pytest.mark.slow
def test_100k_atom_periodic_frame_completes_and_is_right():
    atoms = cubic_cu(30)  # 108,000 atoms, 108 A cubic cell
    spec = qj.plan_neighbors(atoms.positions, atoms.cell.array, True)
    assert spec.method == "cells" and spec.chunk_size is not None  # chunked: bounded memory
    x = np.asarray(qj.descriptor(atoms.positions.astype(np.float32), atoms.cell.array, True))
    assert x.shape == (108_000, 63) and np.isfinite(x).all()
    # spot-check atoms near the centre against the float64 brute force on a
    # non-periodic ball cut out around them: an atom's descriptor depends only on
    # the atoms within the cutoff, all of which the ball contains
    rng = np.random.default_rng(0)
    centre = np.diag(atoms.cell.array) / 2
    near = np.linalg.norm(atoms.positions - centre, axis=1)
    inner = np.flatnonzero(near < 4.0)  # atoms whose cutoff sphere lies in the ball
    ball = np.flatnonzero(near < 4.0 + 5.0 + 0.5)
    sample = rng.choice(inner, size=min(20, len(inner)), replace=False)
    local = brute_descriptor(atoms.positions[ball], np.zeros((3, 3)), (False,) * 3)
    rows = {a: i for i, a in enumerate(ball)}
    expected = local[[rows[a] for a in sample]]
    np.testing.assert_allclose(x[sample], expected, atol=1e-5)


def _temp_bytes(fn, *args):
    return jax.jit(fn).lower(*args).compile().memory_analysis().temp_size_in_bytes


@pytest.mark.slow
@pytest.mark.parametrize("grad", [False, True])
def test_chunking_bounds_working_memory(grad):
    """With chunks, temporary buffers stay far below the unchunked (N, k, k) and
    (N, candidates) ones, for the descriptor and for its gradient."""
    atoms = cubic_cu(10)  # 4,000 atoms
    spec = qj.plan_neighbors(atoms.positions, atoms.cell.array, True, method="cells")
    r = jnp.asarray(atoms.positions, jnp.float32)
    c = jnp.asarray(atoms.cell.array, jnp.float32)

    def make(chunk):
        s = dataclasses.replace(spec, chunk_size=chunk)

        def f(r, c):
            return jnp.sum(qj.descriptor_with_overflow(r, c, True, s)[0] ** 2)

        return jax.grad(f, argnums=(0, 1)) if grad else f

    whole = _temp_bytes(make(None), r, c)
    chunked = _temp_bytes(make(256), r, c)
    assert whole > len(atoms) * 32 * 32 * 4  # the unchunked pair matrices
    assert chunked < whole / 8, (chunked, whole)
