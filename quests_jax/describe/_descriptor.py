"""The QUESTS descriptor of one frame, as pure JAX.

For atom i with neighbours j = 1..k (nearest first, periodic images included) at
distances r_ij, and the weight w(r) = (1 - (min(r, rc)/rc)^2)^2:

* x1 (k numbers): x1_j = w(r_ij) / r_ij;
* x2 (k - 1 numbers): with M_jl = sqrt(w(r_ij) w(r_il)) / r_jl (M_jj = 0), sort each
  row of the k x k matrix M ascending, drop column 0, average each column over the k
  rows and store the largest first.

Missing neighbours (fewer than k atoms within the cutoff) count as zeros, exactly as
in the reference package. Output: (N, 2k - 1) = [x1, x2], in 1/Angstrom.

Smoothness. The descriptor is continuous but not smooth: x1 and the rows of M are
sorted, and whenever two entries cross, the derivative of a sorted slot switches from
one atom to another (a kink: forces jump); with more than k atoms inside the cutoff,
the k-nearest selection switches neighbours and x2 jumps outright (the pair terms of
the neighbour that leaves are replaced by those of the one that enters); and
sqrt(w) has a kink at the cutoff. In a crystal or liquid such events happen at
almost every MD step, so a bias built on this descriptor does not conserve energy in
NVE however small the time step (``benchmarks/bench_bias_nve.py``).

``smooth=delta`` (Angstrom) selects a twice continuously differentiable variant for
forces:

* each selected neighbour's sqrt-weight is multiplied by
  S((b - r_j)/delta) S((rc - r_j)/delta), with S the C2 smoothstep (0 at 0, 1 from 1
  on) and b a smooth (k+1)-th smallest distance among the k + SMOOTH_EXTRA nearest
  within rc + delta: the neighbour at the selection boundary, and any neighbour at
  the cutoff, carries zero weight with zero slope;
* the sorts (x1, by value; the rows of M) are smooth, permutation-invariant sorts
  (:func:`quests_jax.describe._sorting.smooth_sort_last_axis`): entries further apart than a
  few SORT_SOFTNESS come out sorted, near-ties blend smoothly.

It is a different descriptor (describe the reference set with the same setting);
value and forces cost 5 - 12x the plain one's (a smooth sort is O(k^2) per row).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._core.array_types import AtomMask, Cell, Pbc, Positions
from .._core.errors import InputTypeError
from .._core.retry import until_it_fits
from .._core.settings import DescriptorSettings, Features
from .._core.validation import check_frame, concrete_or_none, static_pbc
from ._features import (  # noqa: F401  (re-exported: the descriptor's arithmetic)
    DISTANCE_SOFTNESS,
    EPS_X1,
    EPS_X2,
    SMOOTH_EXTRA,
    SORT_SOFTNESS,
    features_from_vectors,
    rows_from_vectors,
    smooth_features,
    smoothstep,
)
from ._geometry import recentred
from ._neighbors import NeighborSpec, chunk_size_for, map_neighbor_chunks, plan_neighbors


def descriptor_with_overflow(
    positions: Positions,
    cell: Cell,
    pbc: Pbc,
    spec: NeighborSpec,
    *,
    k: int = 32,
    cutoff: float = 5.0,
    atom_mask: AtomMask = None,
    smooth: float | None = None,
    features: Features | None = None,
):
    """QUESTS descriptors of one frame and whether the neighbour search overflowed.

    Pure: works under ``jit`` (with ``pbc``, ``spec``, ``k``, ``cutoff`` static),
    ``vmap`` (over positions, cell and atom_mask of padded frames) and ``grad``
    (positions and cell). When ``overflow`` is True the frame did not fit ``spec``
    and the descriptors are not valid: enlarge the spec (``spec.enlarged()``) and
    recompute. An atom whose neighbours equidistant with its k-th (a perfect
    crystal) reach past ``spec.tie_extra`` gets a NaN row (not flagged here, so that
    ``jax.grad`` does not run the search twice): enlarge the spec likewise.

    Args:
        positions: (N, 3) Cartesian positions, Angstrom; float32 or float64 (the
            output has the same dtype).
        cell: (3, 3) lattice vectors as rows, Angstrom.
        pbc: three bools (static).
        spec: static neighbour-search sizes, from :func:`quests_jax.plan_neighbors`.
        k: number of nearest neighbours (static).
        cutoff: cutoff radius, Angstrom (static).
        atom_mask: optional (N,) bool; False rows are padding: they are nobody's
            neighbour and their descriptor rows are zero.
        smooth: switch width (Angstrom) of the continuous variant (module
            docstring); plan ``spec`` with ``cutoff + smooth``.
        features: None (QUESTS) or another descriptor
            (:class:`~quests_jax.describe.Features`, static).

    Returns:
        (descriptors (N, width), overflow () bool); width is 2k - 1 for QUESTS
    """
    settings = DescriptorSettings(k, cutoff, smooth, features=features)
    return _descriptor_jit(
        positions, cell, atom_mask, pbc=static_pbc(pbc), spec=spec, settings=settings
    )


def _computes_in(positions, dtype) -> bool:
    """Whether JAX computes with ``positions`` in ``dtype`` (float64 only with x64)."""
    return jax.dtypes.canonicalize_dtype(positions.dtype) == dtype


def smooth_chunks(spec: NeighborSpec, n_atoms: int, k: int) -> NeighborSpec:
    """``spec`` with chunks small enough for the smooth variant's (k, k - 1, k) sort
    arrays per atom (about CHUNK_ENTRIES numbers per chunk)."""
    chunk = chunk_size_for(k**3, n_atoms)
    if chunk is None or (spec.chunk_size is not None and spec.chunk_size <= chunk):
        return spec
    return dataclasses.replace(spec, chunk_size=chunk)


@functools.partial(jax.jit, static_argnames=("pbc", "spec", "settings"))
def _descriptor_jit(positions, cell, atom_mask, *, pbc, spec, settings: DescriptorSettings):
    def rows(query, vectors, index, shift, valid):
        return rows_from_vectors(settings, vectors, valid)

    if settings.smooth is not None:  # its sorts hold ~k^3 numbers per atom: smaller chunks
        spec = smooth_chunks(spec, positions.shape[0], settings.k)
    x, overflow = map_neighbor_chunks(
        rows,
        positions,
        cell,
        pbc,
        spec,
        k=settings.search_k,
        cutoff=settings.search_cutoff,
        atom_mask=atom_mask,
    )
    if atom_mask is not None:
        x = jnp.where(jnp.asarray(atom_mask, dtype=bool)[:, None], x, 0.0)
    return x, overflow


def descriptor(
    positions: Positions,
    cell: Cell,
    pbc: Pbc,
    *,
    k: int = 32,
    cutoff: float = 5.0,
    atom_mask: AtomMask = None,
    spec: NeighborSpec | None = None,
    smooth: float | None = None,
    features: Features | None = None,
):
    """QUESTS descriptors (N, 2k - 1) of one frame.

    ``pbc`` may differ per axis (a slab is ``(True, True, False)``); cells of any
    shape and size are handled exactly, including cells smaller than the cutoff.
    The dtype of the result follows ``positions`` (float64 needs
    ``jax.config.update("jax_enable_x64", True)`` or ``with jax.enable_x64(True)``).

    * With concrete inputs (also under ``jax.grad``), the inputs are checked, the
      neighbour search is sized from the data and any overflow is recovered by
      enlarging it.
    * Under ``jit``/``vmap`` the inputs are abstract: pass ``spec`` (from
      :func:`quests_jax.plan_neighbors` on representative concrete data). A frame
      that overflows the spec then yields NaN rows, never silently wrong numbers; use
      :func:`descriptor_with_overflow` to get the flag itself.

    Args:
        positions: (N, 3) Cartesian positions, Angstrom.
        cell: (3, 3) lattice vectors as rows, Angstrom (ASE's ``atoms.cell``).
        pbc: bool or three bools.
        k: number of nearest neighbours.
        cutoff: cutoff radius, Angstrom.
        atom_mask: optional (N,) bool; False marks padding atoms (zero rows).
        spec: optional static neighbour-search sizes (for ``smooth``, planned with
            ``cutoff + smooth``).
        smooth: None (the reference's descriptor) or a switch width in Angstrom for
            the continuous variant used for forces (see the module docstring).
        features: None (QUESTS) or another descriptor
            (:class:`~quests_jax.describe.Features`): rows of ``features.width(k)``.
    """
    settings = DescriptorSettings(k, cutoff, smooth, features=features)
    pbc = static_pbc(pbc)
    pos_now = concrete_or_none(positions)
    cell_now = concrete_or_none(cell)
    mask_now = concrete_or_none(atom_mask)
    concrete = (
        pos_now is not None and cell_now is not None and (atom_mask is None or mask_now is not None)
    )
    if not concrete and spec is None:
        raise InputTypeError(
            "descriptor() got abstract (traced) inputs and no `spec`: the neighbour "
            "search has static sizes that must come from concrete data. Compute "
            "spec = quests_jax.plan_neighbors(positions, cell, pbc, cutoff=...) outside "
            "jit/vmap and pass spec=spec."
        )
    if concrete and isinstance(positions, np.ndarray) and not _computes_in(positions, np.float64):
        # a host array computed in float32: recentre it first, in float64 (exact)
        check_frame(pos_now, cell_now, pbc, mask_now)
        host = recentred(np.asarray(positions, np.float64), np.asarray(cell), pbc, mask_now)
        positions = pos_now = host.astype(np.float32)
    if spec is None:  # plan_neighbors checks the frame
        spec = plan_neighbors(
            pos_now, cell_now, pbc, cutoff=settings.search_cutoff, atom_mask=mask_now
        )
    elif concrete:
        check_frame(pos_now, cell_now, pbc, mask_now)

    def attempt(spec: NeighborSpec):
        x, overflow = _descriptor_jit(
            positions, cell, atom_mask, pbc=pbc, spec=spec, settings=settings
        )
        overflow_now = concrete_or_none(overflow)
        if overflow_now is None:  # traced: cannot retry here; never return wrong rows
            return jnp.where(overflow, jnp.nan, x), False
        if not overflow_now:  # NaN rows: a tied shell wider than spec.tie_extra (_ties)
            x_now = concrete_or_none(x)
            if x_now is None:  # rows traced (vmap over positions): they stay NaN
                return x, False
            overflow_now = bool(np.isnan(x_now).any())
        return x, bool(overflow_now)

    x, _ = until_it_fits(attempt, spec, NeighborSpec.enlarged, what="the neighbour search")
    return x
