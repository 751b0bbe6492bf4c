"""Geometry shared by the neighbour search and the descriptor.

Conventions (those of ASE): a cell is a (3, 3) array whose *rows* are the lattice
vectors, in Angstrom; positions are Cartesian, in Angstrom; ``pbc`` is a tuple of three
bools, one per lattice vector. An integer image shift ``S`` (..., 3) denotes the
Cartesian translation ``S @ cell``.

Functions that take an ``xp`` argument run with either ``numpy`` (host-side planning)
or ``jax.numpy`` (inside jitted code), so that both sides use one definition.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._core.array_types import Array, Float
from .._core.precision import HIGHEST

# Every matmul in this package states its precision: on NVIDIA GPUs the default lets
# XLA use TF32 (10-bit mantissa), which would put ~1e-3 relative errors into distances.

# Relative safety margin used when sizing static search structures on the host, so
# that float32 rounding on the device cannot push a frame past what was planned.
PLANNING_TOLERANCE = 1e-5


def matmul(a, b, xp=jnp):
    """a @ b at full precision with either numpy or jax.numpy."""
    if xp is np:
        return a @ b
    return jnp.matmul(a, b, precision=HIGHEST)


def images_to_cartesian(shift, cell):
    """Cartesian translation of integer image shifts: (..., 3) x (3, 3) -> (..., 3)."""
    return jnp.matmul(shift.astype(cell.dtype), cell, precision=HIGHEST)


def safe_sqrt(x):
    """sqrt(x) for x >= 0 with a zero (not infinite, hence not NaN) gradient at 0."""
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


def safe_norm(v: Float[Array, "... 3"]):
    """Euclidean norm over the last axis with a zero (not NaN) gradient at v = 0."""
    return safe_sqrt(jnp.sum(v * v, axis=-1))


def sqrt_weight(r, cutoff):
    """Square root of the QUESTS weight, 1 - (min(r, rc)/rc)^2, which is 0 for r >= rc.

    The weight itself is w(r) = sqrt_weight(r)^2. Working with its square root avoids
    the sqrt(w_j w_l) of the reference, whose gradient is NaN where a weight is 0.
    """
    z = jnp.minimum(r, cutoff) / cutoff
    return 1.0 - z * z


def _normalize(v, xp):
    return v / xp.linalg.norm(v)


def complement_directions(cell, pbc, xp=np):
    """Unit vectors spanning the non-periodic directions of a frame.

    For each axis d with ``pbc[d]`` False, returns a unit vector orthogonal to all
    periodic lattice vectors (and to each other), so that a non-periodic direction
    never mixes with a periodic one, whatever the user's cell holds there (zeros,
    vacuum padding, a tilted vector). Returns a dict {axis: unit vector}.
    """
    periodic = [d for d in range(3) if pbc[d]]
    free = [d for d in range(3) if not pbc[d]]
    if not free:
        return {}
    if len(periodic) == 2:
        normal = xp.cross(cell[periodic[0]], cell[periodic[1]])
        return {free[0]: _normalize(normal, xp)}
    if len(periodic) == 1:
        u = _normalize(cell[periodic[0]], xp)
        # the Cartesian axis least aligned with u is never parallel to it
        helper = xp.eye(3, dtype=u.dtype)[xp.argmin(xp.abs(u))]
        e1 = _normalize(xp.cross(u, helper), xp)
        e2 = xp.cross(u, e1)
        return {free[0]: e1, free[1]: e2}
    eye = xp.eye(3, dtype=cell.dtype)
    return {d: eye[d] for d in free}


def frame_basis(cell, pbc, xp=np):
    """(3, 3) basis whose periodic rows are the lattice vectors and whose other rows
    are the unit vectors of :func:`complement_directions`. Always invertible for a
    valid frame; its inverse gives fractional coordinates along periodic axes."""
    comp = complement_directions(cell, pbc, xp)
    rows = [cell[d] if pbc[d] else comp[d] for d in range(3)]
    return xp.stack(rows)


def recentred(positions, cell, pbc, atom_mask=None) -> np.ndarray:
    """Host float64 positions (N, 3) of the same structure near the origin: wrapped
    into the cell along periodic axes and shifted so the (real) atoms' bounding box
    starts at 0. Descriptors do not change; float32 after this keeps ~1e-6 A where
    frames far from the origin (unwrapped trajectories, molecules placed in large
    boxes) lost 1e-4 A or more."""
    positions = np.asarray(positions, np.float64)
    cell = np.asarray(cell, np.float64)
    if any(pbc):
        basis = frame_basis(cell, pbc)
        frac = positions @ np.linalg.inv(basis)
        frac = np.where(np.asarray(pbc), frac - np.floor(frac), frac)
        positions = frac @ basis
    real = positions if atom_mask is None else positions[np.asarray(atom_mask, bool)]
    return positions - real.min(axis=0)


def perpendicular_widths(basis, xp=np):
    """Distance between opposite faces of the parallelepiped spanned by ``basis``
    rows, one per axis: V / |a_e x a_f|. A sphere of radius r fits in the cell along
    axis d only if 2 r <= width[d]."""
    a, b, c = basis[0], basis[1], basis[2]
    volume = xp.abs(xp.dot(a, xp.cross(b, c)))
    areas = xp.stack(
        [
            xp.linalg.norm(xp.cross(b, c)),
            xp.linalg.norm(xp.cross(c, a)),
            xp.linalg.norm(xp.cross(a, b)),
        ]
    )
    return volume / areas


def free_extents(positions, basis, pbc, atom_mask=None, xp=np):
    """Lowest projection and extent of the (real) atoms along each non-periodic
    basis row; zeros for periodic axes. Returns (lo (3,), extent (3,))."""
    proj = matmul(positions, basis.T, xp)  # (N, 3); only non-periodic columns are used
    if atom_mask is None:
        lo = proj.min(axis=0)
        hi = proj.max(axis=0)
    else:
        m = atom_mask[:, None]
        lo = xp.where(m, proj, xp.inf).min(axis=0)
        hi = xp.where(m, proj, -xp.inf).max(axis=0)
    free = xp.asarray([not p for p in pbc])
    has_atoms = xp.isfinite(lo)  # False only for a frame made entirely of padding
    lo = xp.where(free & has_atoms, lo, 0.0)
    extent = xp.where(free & has_atoms, hi - lo, 0.0)
    return lo, extent
