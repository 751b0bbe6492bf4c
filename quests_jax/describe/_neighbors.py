"""k-nearest-neighbour search with periodic images, as pure JAX with static shapes.

Why our own search rather than a library:

* jax-md's neighbour lists use the minimum-image convention (one image per atom), so
  they miss the several images of an atom that a cell smaller than 2 x cutoff puts
  inside the cutoff, and they have no mixed periodicity (a slab periodic in x and y).
* vesin (and ASE, matscipy) build neighbour lists on the host: fast, but not
  traceable, so no ``jit``/``vmap`` of the whole descriptor and no use inside a
  jitted MD step.

QUESTS needs the k nearest neighbours of every atom, each as an (atom, image shift)
pair, for any cell. Two strategies share one interface:

``"dense"`` (small frames)
    every atom is a candidate for every other, at the nearest image along each
    periodic axis plus ``images`` further images on each side. Exact for any cell:
    an image within the cutoff differs from the nearest one by at most
    floor(cutoff / width + 1/2) cells along an axis of perpendicular width ``width``.

``"cells"`` (large frames)
    a cell list: atoms are binned on a grid of bins at least one cutoff wide (along
    non-periodic axes the grid spans the atoms' extent), and each atom looks at the
    ``stencil`` bins on each side of its own. Cost and memory are linear in the number
    of atoms; atoms are processed in chunks so memory stays bounded.

Both are sized by a :class:`NeighborSpec` of static integers. :func:`plan_neighbors`
computes one from concrete data on the host. Inside jitted code the search checks that
the data still fits the spec and returns an ``overflow`` flag; nothing is silently
truncated (see :func:`quests_jax.descriptor`, which recovers by enlarging the spec).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from typing import TYPE_CHECKING, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._core.array_types import Array, AtomMask, Bool, Cell, Float, Int, Pbc, Positions
from .._core.errors import InputValueError
from .._core.validation import check_frame, check_k_cutoff, check_neighbour_budget, static_pbc
from ._geometry import (
    PLANNING_TOLERANCE,
    frame_basis,
    free_extents,
    images_to_cartesian,
    matmul,
    perpendicular_widths,
)
from ._ties import TIE_DIRECTION, TIE_EXTRA, tie_rtol, tie_rule_keys

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable


Method = Literal["dense", "cells"]

# Candidate (query x candidate) entries processed at once; bounds temporary memory
# to roughly this many x 16 bytes per chunk.
CHUNK_ENTRIES = 1 << 21


def _triple(values: Iterable[int]) -> tuple[int, int, int]:
    """Three integers, one per lattice vector."""
    a, b, c = values
    return int(a), int(b), int(c)


@dataclasses.dataclass(frozen=True)
class NeighborSpec:
    """Static sizes of the neighbour search; hashable, so usable as a jit static arg.

    Attributes:
        method: "dense" or "cells" (see module docstring).
        images: dense only; extra periodic images searched on each side of the
            nearest image, per axis (0 for non-periodic axes).
        grid: cells only; number of bins per axis.
        stencil: cells only; bins searched on each side of an atom's own bin.
        bin_capacity: cells only; maximum atoms per bin.
        chunk_size: atoms processed at once (bounds memory); None for all at once.
        tie_extra: candidates beyond the k-th examined for neighbours equidistant
            with it (:mod:`quests_jax.describe._ties`); a tied shell reaching further
            is an overflow.
    """

    method: Method
    images: tuple[int, int, int] = (0, 0, 0)
    grid: tuple[int, int, int] = (1, 1, 1)
    stencil: tuple[int, int, int] = (0, 0, 0)
    bin_capacity: int = 0
    chunk_size: int | None = None
    tie_extra: int = TIE_EXTRA

    def __post_init__(self):
        if self.method not in ("dense", "cells"):
            raise InputValueError(
                f"NeighborSpec.method must be 'dense' or 'cells', got {self.method!r}"
            )
        for name in ("images", "grid", "stencil"):
            value = getattr(self, name)
            if len(value) != 3 or any(int(v) != v or v < 0 for v in value):
                raise InputValueError(
                    f"NeighborSpec.{name} must be three non-negative ints, got {value!r}"
                )
        if self.method == "cells" and (min(self.grid) < 1 or self.bin_capacity < 1):
            raise InputValueError("a 'cells' NeighborSpec needs grid >= 1 and bin_capacity >= 1")
        if int(self.tie_extra) != self.tie_extra or self.tie_extra < 1:
            raise InputValueError(
                f"NeighborSpec.tie_extra must be an int >= 1, got {self.tie_extra!r}"
            )

    def candidates_per_atom(self, n_atoms: int) -> int:
        """Candidate neighbours examined for each atom of an n_atoms frame."""
        if self.method == "dense":
            return n_atoms * math.prod(2 * i + 1 for i in self.images)
        return math.prod(2 * s + 1 for s in self.stencil) * self.bin_capacity

    def chunked_for(self, n_atoms: int) -> NeighborSpec:
        """This spec with the chunk size that bounds memory for n_atoms atoms."""
        chunk = chunk_size_for(self.candidates_per_atom(n_atoms), n_atoms)
        return dataclasses.replace(self, chunk_size=chunk)

    def enlarged(self) -> NeighborSpec:
        """A spec one step larger in every dimension that can overflow."""
        tie_extra = 2 * self.tie_extra
        if self.method == "dense":
            return dataclasses.replace(
                self, images=_triple(i + 1 for i in self.images), tie_extra=tie_extra
            )
        return dataclasses.replace(
            self,
            stencil=_triple(s + 1 for s in self.stencil),
            bin_capacity=int(math.ceil(self.bin_capacity * 1.5)) + 1,
            tie_extra=tie_extra,
        )


class Neighbors(eqx.Module):
    """k nearest neighbours of each atom, nearest first.

    The displacement from atom i to its m-th neighbour is
    ``positions[index[i, m]] - positions[i] + shift[i, m] @ cell``.

    Attributes:
        index: (N, k) int32 neighbour atom indices.
        shift: (N, k, 3) int32 periodic image shifts.
        valid: (N, k) bool; False where an atom has fewer than k neighbours within the
            cutoff (such slots point at the atom itself with zero shift).
        overflow: () bool; True if the frame did not fit the spec (results invalid).
    """

    index: Int[Array, "atoms k"]
    shift: Int[Array, "atoms k 3"]
    valid: Bool[Array, "atoms k"]
    overflow: Bool[Array, ""]


# --------------------------------------------------------------------------------------
# host-side planning


def _bin_coordinates(frac, grid, pbc, xp):
    """Integer bin coordinates (N, 3) of fractional coordinates."""
    grid_arr = xp.asarray(grid)
    periodic = xp.asarray(pbc)
    wrapped = xp.where(periodic, frac - xp.floor(frac), frac)
    coords = xp.floor(wrapped * grid_arr).astype(xp.int32)
    return xp.clip(coords, 0, grid_arr - 1)


def _free_lengths(extent, grid, cutoff, xp):
    """Length of the binned span along non-periodic axes: the atoms' extent, but at
    least one cutoff per bin, and slightly enlarged so the last atom is inside."""
    grid_arr = xp.asarray(grid, dtype=extent.dtype)
    return xp.maximum(extent, grid_arr * cutoff) * (1 + 1e-6) + 1e-6


def plan_neighbors(
    positions: Positions,
    cell: Cell,
    pbc: Pbc,
    *,
    cutoff: float = 5.0,
    atom_mask: AtomMask = None,
    method: Method | Literal["auto"] = "auto",
    capacity_multiplier: float = 1.0,
    grid: tuple[int, int, int] | None = None,
) -> NeighborSpec:
    """Size a :class:`NeighborSpec` for one frame (or, via :func:`merge_specs`, many).

    Runs on the host with NumPy in float64. ``capacity_multiplier`` > 1 leaves room for
    atoms to move (e.g. reuse of one spec along an MD trajectory); the search reports
    an overflow when the room runs out. ``grid`` imposes a coarser cell-list grid than
    the frame allows (to share one compiled shape among frames of different cells).
    Raises ValueError for invalid frames (see :func:`quests_jax._core.validation.check_frame`).
    """
    if method not in ("auto", "dense", "cells"):
        raise InputValueError(f"method must be 'auto', 'dense' or 'cells', got {method!r}")
    if not capacity_multiplier >= 1:
        raise InputValueError(f"capacity_multiplier must be >= 1, got {capacity_multiplier}")
    _, cutoff = check_k_cutoff(1, cutoff)
    pbc = static_pbc(pbc)
    check_frame(positions, cell, pbc, atom_mask)
    check_neighbour_budget(len(positions), cell, pbc, cutoff)
    positions = np.asarray(positions, dtype=np.float64)
    cell = np.asarray(cell, dtype=np.float64)
    mask = None if atom_mask is None else np.asarray(atom_mask, dtype=bool)
    n_atoms = int(positions.shape[0] if mask is None else mask.sum())
    rc = cutoff * (1 + PLANNING_TOLERANCE)

    basis = frame_basis(cell, pbc, np)
    widths = perpendicular_widths(basis, np)
    lo, extent = free_extents(positions, basis, pbc, mask, np)

    # dense: images needed beyond the nearest one
    images = _triple(int(math.floor(rc / widths[d] + 0.5)) if pbc[d] else 0 for d in range(3))
    dense = NeighborSpec("dense", images=images)
    # the dense search is simpler and faster per candidate: it is chosen whenever it
    # examines at most 2,048 candidates per atom, or as many as the cell list
    dense_count = dense.candidates_per_atom(n_atoms)
    if grid is None and (method == "dense" or (method == "auto" and dense_count <= 2048)):
        return dense.chunked_for(positions.shape[0])  # (no cell list to plan)

    # cells: bins at least one cutoff wide; no more bins than ~atoms
    sizes: list[int] = []
    for d in range(3):
        span = widths[d] if pbc[d] else extent[d]
        sizes.append(max(1, int(math.floor(span / rc))))
    max_bins = max(27, 2 * n_atoms)
    while math.prod(sizes) > max_bins:
        d = int(np.argmax(sizes))
        sizes[d] = (sizes[d] + 1) // 2
    if grid is not None:
        if any(f > g for f, g in zip(grid, sizes, strict=True)):
            raise InputValueError(f"grid {grid} is finer than this frame allows ({tuple(sizes)})")
        sizes = list(grid)
    reach: list[int] = []
    for d in range(3):
        if pbc[d]:
            reach.append(max(1, int(math.ceil(rc * sizes[d] / widths[d]))))
        else:
            reach.append(1 if sizes[d] > 1 else 0)
    grid, stencil = _triple(sizes), _triple(reach)
    counts = _bin_counts(positions, mask, basis, lo, extent, grid, pbc, cutoff)
    # a little slack (float32 on the device may bin a boundary atom differently),
    # rounded up so that similar frames share one compiled shape
    capacity = -(-(int(math.ceil(counts.max() * capacity_multiplier)) + 2) // 4) * 4
    cells = NeighborSpec("cells", grid=grid, stencil=stencil, bin_capacity=capacity)

    if method == "auto":
        small = dense_count <= cells.candidates_per_atom(n_atoms)
        method = "dense" if small else "cells"
    chosen = dense if method == "dense" else cells
    return chosen.chunked_for(positions.shape[0])


def chunk_size_for(candidates_per_atom: int, n_atoms: int) -> int | None:
    """Atoms per chunk so a chunk examines about CHUNK_ENTRIES candidates (a power of
    two), or None when the whole frame fits in one chunk."""
    chunk = max(8, CHUNK_ENTRIES // max(1, candidates_per_atom))
    if chunk >= n_atoms:
        return None
    return 1 << (chunk.bit_length() - 1)  # power of two


def _bin_counts(positions, mask, basis, lo, extent, grid, pbc, cutoff):
    if mask is not None:
        positions = positions[mask]
    lengths = _free_lengths(extent, grid, cutoff, np)
    frac = _fractional(positions, basis, lo, lengths, pbc, np)
    coords = _bin_coordinates(frac, grid, pbc, np)
    flat = coords[:, 0] + grid[0] * (coords[:, 1] + grid[1] * coords[:, 2])
    return np.bincount(flat, minlength=math.prod(grid))


def _fractional(positions, basis, lo, lengths, pbc, xp):
    """Fractional coordinates: along periodic axes in units of the lattice vectors,
    along non-periodic axes as (projection - lo) / length, in [0, 1)."""
    frac_periodic = matmul(positions, xp.linalg.inv(basis), xp)
    proj = matmul(positions, basis.T, xp)
    safe_lengths = xp.where(xp.asarray(pbc), 1.0, lengths)
    frac_free = (proj - lo) / safe_lengths
    return xp.where(xp.asarray(pbc), frac_periodic, frac_free)


def merge_specs(specs: Iterable[NeighborSpec]) -> NeighborSpec:
    """One spec that fits every frame any of ``specs`` fits.

    The specs must share their method and, for cell lists, their grid (a coarser
    grid changes bin occupancy: plan each frame with ``plan_neighbors(...,
    grid=common_grid)`` first, where ``common_grid`` is the elementwise minimum).
    """
    specs = list(specs)
    methods = {s.method for s in specs}
    if len(methods) != 1:
        raise InputValueError(f"cannot merge specs of different methods: {sorted(methods)}")
    first = specs[0]
    chunks = [s.chunk_size for s in specs if s.chunk_size is not None]
    chunk = min(chunks) if chunks else None
    tie_extra = max(s.tie_extra for s in specs)
    if first.method == "dense":
        images = _triple(max(s.images[d] for s in specs) for d in range(3))
        return NeighborSpec("dense", images=images, chunk_size=chunk, tie_extra=tie_extra)
    grids = {s.grid for s in specs}
    if len(grids) != 1:
        raise InputValueError(
            f"cannot merge cell-list specs of different grids {sorted(grids)}: plan each "
            "frame with plan_neighbors(..., grid=common_grid) first"
        )
    grid = first.grid
    stencil = _triple(max(s.stencil[d] for s in specs) for d in range(3))
    capacity = max(s.bin_capacity for s in specs)
    return NeighborSpec(
        "cells",
        grid=grid,
        stencil=stencil,
        bin_capacity=capacity,
        chunk_size=chunk,
        tie_extra=tie_extra,
    )


# --------------------------------------------------------------------------------------
# device-side search


class _Frame(eqx.Module):
    """Per-frame quantities shared by every query chunk."""

    positions: jax.Array  # (N, 3)
    cell: jax.Array  # (3, 3)
    mask: jax.Array  # (N,) bool
    frac: jax.Array  # (N, 3) fractional coordinates (periodic axes meaningful)
    overflow: jax.Array  # () bool
    # cells only (None for dense)
    bins: jax.Array | None = None  # (N, 3) int bin coordinates of each atom
    table: jax.Array | None = None  # (n_bins, capacity) atom index, N where empty
    table_pos: jax.Array | None = None  # (n_bins, capacity, 3) wrapped positions
    wraps: jax.Array | None = None  # (N, 3) int lattice shifts that wrap each atom
    wrapped_pos: jax.Array | None = None  # (N, 3) positions - wraps @ cell


def _prepare(positions, cell, pbc, spec: NeighborSpec, cutoff, mask) -> _Frame:
    n = positions.shape[0]
    dtype = positions.dtype
    pbc_arr = jnp.asarray(pbc)
    # the search structure is piecewise constant in the coordinates: no gradients
    pos = jax.lax.stop_gradient(positions)
    cel = jax.lax.stop_gradient(cell)
    basis = frame_basis(cel, pbc, jnp)
    widths = perpendicular_widths(basis, jnp)
    lo, extent = free_extents(pos, basis, pbc, mask, jnp)
    lengths = _free_lengths(extent, spec.grid, cutoff, jnp)
    frac = _fractional(pos, basis, lo, lengths, pbc, jnp)

    if spec.method == "dense":
        needed = jnp.floor(cutoff / widths + 0.5)
        images = jnp.asarray(spec.images, dtype=dtype)
        overflow = jnp.any(pbc_arr & (needed > images))
        return _Frame(positions, cell, mask, frac, overflow)

    grid = spec.grid
    n_bins = math.prod(grid)
    capacity = spec.bin_capacity
    stencil = jnp.asarray(spec.stencil, dtype=dtype)
    grid_f = jnp.asarray(grid, dtype=dtype)
    # every atom within the cutoff must lie within `stencil` bins
    overflow = jnp.any(pbc_arr & (cutoff * grid_f / widths > stencil))

    bins = _bin_coordinates(frac, grid, pbc, jnp)
    wraps = jnp.where(pbc_arr, jnp.floor(frac), 0.0).astype(jnp.int32)
    flat = bins[:, 0] + grid[0] * (bins[:, 1] + grid[1] * bins[:, 2])
    flat = jnp.where(mask, flat, n_bins)  # padding atoms go to a dummy bin
    order = jnp.argsort(flat, stable=True)
    counts = jnp.zeros(n_bins + 1, jnp.int32).at[flat].add(1)
    overflow = overflow | (jnp.max(counts[:n_bins]) > capacity)
    starts = jnp.cumsum(counts) - counts
    slot = jnp.arange(capacity)
    src = starts[:n_bins, None] + slot[None, :]
    filled = slot[None, :] < counts[:n_bins, None]
    table = jnp.where(filled, order[jnp.clip(src, 0, n - 1)], n)
    wrapped_pos = pos - images_to_cartesian(wraps, cel)
    table_pos = jnp.where(filled[..., None], wrapped_pos[jnp.clip(table, 0, n - 1)], 0.0)
    return _Frame(positions, cell, mask, frac, overflow, bins, table, table_pos, wraps, wrapped_pos)


def _image_grid(extent_per_axis):
    """All integer shifts with |s_d| <= extent_per_axis[d]: (n, 3) int32, with
    the zero shift first."""
    ranges = [range(-e, e + 1) for e in extent_per_axis]
    shifts = sorted(itertools.product(*ranges), key=lambda s: (s != (0, 0, 0), s))
    return np.asarray(shifts, dtype=np.int32).reshape(-1, 3)


def k_smallest(
    d2: Float[Array, "atoms candidates"], k: int, tiebreak=None, tie_extra: int = TIE_EXTRA
):
    """(values, indices) of the k smallest entries of each row, smallest first.

    With ``tiebreak`` (atoms, candidates), the projections of the candidates'
    displacements on TIE_DIRECTION (:func:`tiebreak_keys`), entries tied with the
    k-th within the tolerance of :mod:`quests_jax.describe._ties` are kept in the
    order of their tiebreak (the rule of every path), not in index order; the kept
    ones closer than the k-th come first, nearest first, then the tied ones. The
    k + ``tie_extra`` nearest are examined (:func:`k_smallest_with_ties` says when a
    tied shell reaches further).
    """
    values, indices, _ = k_smallest_with_ties(d2, k, tiebreak, tie_extra)
    return values, indices


def k_smallest_with_ties(d2, k: int, tiebreak, tie_extra: int):
    """:func:`k_smallest` and, per row, whether the shell tied with the k-th may
    reach past the k + tie_extra nearest (then the cut in it is in index order)."""
    n_cand = d2.shape[-1]
    if n_cand < k:
        pad = jnp.full(d2.shape[:-1] + (k - n_cand,), jnp.inf, d2.dtype)
        d2 = jnp.concatenate([d2, pad], axis=-1)
        if tiebreak is not None:
            tiebreak = jnp.concatenate([tiebreak, jnp.zeros_like(pad)], axis=-1)
    no_cut = jnp.zeros(d2.shape[:-1], bool)
    if tiebreak is None or d2.shape[-1] == k:
        neg, sel = jax.lax.top_k(-d2, k)
        return -neg, sel, no_cut
    # the k + tie_extra nearest, then a top_k on a key that orders those closer than
    # the k-th (by distance) before those tied with it (by tiebreak) before the rest
    m = min(k + tie_extra, d2.shape[-1])
    neg, wide = jax.lax.top_k(-d2, m)
    near = -neg
    d2_k = near[..., k - 1 : k]
    key, tied = tie_rule_keys(
        near, d2_k, jnp.take_along_axis(tiebreak, wide, -1), tie_rtol(d2.dtype), jnp
    )
    finite = jnp.isfinite(d2_k)
    key = jnp.where(finite, key, near)  # fewer than k candidates: no tie
    _, pick = jax.lax.top_k(-key, k)
    cut = (tied[..., -1] & finite[..., 0]) if m < d2.shape[-1] else no_cut
    return jnp.take_along_axis(near, pick, -1), jnp.take_along_axis(wide, pick, -1), cut


def tiebreak_keys(vectors):
    """(..., ) projections of displacements (..., 3) on TIE_DIRECTION (see ``_ties``)."""
    return _on_tie_direction([vectors[..., c] for c in range(3)])


def _on_tie_direction(components):
    """The projection on TIE_DIRECTION of displacements given as their three
    components (arrays of one shape: no (..., 3) stack needed)."""
    u = jnp.asarray(TIE_DIRECTION, components[0].dtype)
    return components[0] * u[0] + components[1] * u[1] + components[2] * u[2]


def _query_dense(frame: _Frame, query, pbc, spec, k, cutoff):
    """k nearest (atom, shift, valid) of atoms ``query`` (Q,), dense strategy; entries
    are meaningful only where valid."""
    n = frame.positions.shape[0]
    pos = jax.lax.stop_gradient(frame.positions)
    cell = jax.lax.stop_gradient(frame.cell)
    image_shifts = _image_grid(spec.images)  # (n_img, 3), zero first
    n_img = image_shifts.shape[0]

    # coordinates as separate planes (Q, N) so XLA fuses the distance loop
    nearest = []  # per axis: (Q, N) int shift to the nearest periodic image
    for d in range(3):
        if pbc[d]:
            dfrac = frame.frac[None, :, d] - frame.frac[query][:, None, d]
            nearest.append(-jnp.round(dfrac).astype(jnp.int32))
        else:
            nearest.append(jnp.zeros((query.shape[0], n), jnp.int32))
    v0 = []
    for c in range(3):
        plane = pos[None, :, c] - pos[query][:, None, c]
        for d in range(3):
            if pbc[d]:
                plane = plane + nearest[d].astype(pos.dtype) * cell[d, c]
        v0.append(plane)
    image_vectors = images_to_cartesian(jnp.asarray(image_shifts), cell)  # (n_img, 3)
    d2 = sum(
        (v0[c][:, :, None] + image_vectors[None, None, :, c]) ** 2 for c in range(3)
    )  # (Q, N, n_img)
    is_self = (jnp.arange(n)[None, :] == query[:, None])[:, :, None] & (jnp.arange(n_img) == 0)
    excluded = is_self | ~frame.mask[None, :, None]
    d2 = jnp.where(excluded, jnp.inf, d2).reshape(query.shape[0], n * n_img)
    nearest_shift = jnp.stack(nearest, axis=-1)  # (Q, N, 3)
    tiebreak = _on_tie_direction(
        [v0[c][:, :, None] + image_vectors[None, None, :, c] for c in range(3)]
    ).reshape(query.shape[0], n * n_img)

    d2_sel, sel, cut = k_smallest_with_ties(d2, k, tiebreak, spec.tie_extra)
    valid = d2_sel < cutoff * cutoff
    sel = jnp.where(valid, sel, 0)
    atom = sel // n_img
    shift = (
        jnp.take_along_axis(nearest_shift, atom[..., None], axis=1)
        + jnp.asarray(image_shifts)[sel % n_img]
    )
    return atom, shift, valid, cut


def _query_cells(frame: _Frame, query, pbc, spec, k, cutoff):
    """k nearest (atom, shift, valid) of atoms ``query`` (Q,), cell-list strategy;
    entries are meaningful only where valid."""
    bins, table, table_pos = frame.bins, frame.table, frame.table_pos
    wraps, wrapped_pos = frame.wraps, frame.wrapped_pos
    assert bins is not None and table is not None and table_pos is not None
    assert wraps is not None and wrapped_pos is not None  # (a cell-list frame)
    n = frame.positions.shape[0]
    cell = jax.lax.stop_gradient(frame.cell)
    grid = jnp.asarray(spec.grid, dtype=jnp.int32)
    pbc_arr = jnp.asarray(pbc)
    offsets = jnp.asarray(_image_grid(spec.stencil))  # (S, 3)
    n_st = offsets.shape[0]
    capacity = spec.bin_capacity

    nb = bins[query][:, None, :] + offsets[None, :, :]  # (Q, S, 3)
    image = jnp.where(pbc_arr, jnp.floor_divide(nb, grid), 0)
    nb_wrapped = nb - image * grid
    in_range = jnp.all(pbc_arr | ((nb >= 0) & (nb < grid)), axis=-1)  # (Q, S)
    nb_wrapped = jnp.clip(nb_wrapped, 0, grid - 1)
    bin_id = nb_wrapped[..., 0] + spec.grid[0] * (
        nb_wrapped[..., 1] + spec.grid[1] * nb_wrapped[..., 2]
    )
    cand = table[bin_id]  # (Q, S, C)
    cand_pos = table_pos[bin_id] + images_to_cartesian(image, cell)[:, :, None, :]
    v = cand_pos - wrapped_pos[query][:, None, None, :]
    d2 = jnp.sum(v * v, axis=-1)  # (Q, S, C)
    is_self = (cand == query[:, None, None]) & jnp.all(image == 0, axis=-1)[:, :, None]
    excluded = (cand == n) | ~in_range[:, :, None] | is_self
    d2 = jnp.where(excluded, jnp.inf, d2).reshape(query.shape[0], n_st * capacity)
    tiebreak = tiebreak_keys(v).reshape(query.shape[0], n_st * capacity)

    d2_sel, sel, cut = k_smallest_with_ties(d2, k, tiebreak, spec.tie_extra)
    valid = d2_sel < cutoff * cutoff
    sel = jnp.where(valid, sel, 0)
    st = sel // capacity
    atom = jnp.take_along_axis(cand.reshape(query.shape[0], -1), sel, axis=1)
    img = jnp.take_along_axis(image, st[..., None], axis=1)  # (Q, k, 3)
    shift = img - wraps[jnp.clip(atom, 0, n - 1)] + wraps[query][:, None, :]
    return atom, shift, valid, cut


def neighbor_vectors(positions, cell, query, index, shift):
    """Displacements (Q, k, 3) from atoms ``query`` to their neighbours; differentiable
    in positions and cell (index and shift are integers)."""
    return positions[index] - positions[query][:, None, :] + images_to_cartesian(shift, cell)


def _nan_rows(a, rows):
    """``a`` (Q, ...) with NaN in the ``rows`` (Q,) if it is floating point."""
    if not jnp.issubdtype(a.dtype, jnp.floating):
        return a
    return jnp.where(rows.reshape((-1,) + (1,) * (a.ndim - 1)), jnp.nan, a)


def map_neighbor_chunks(
    fn: Callable,
    positions: Positions,
    cell: Cell,
    pbc: Pbc,
    spec: NeighborSpec,
    *,
    k: int,
    cutoff: float,
    atom_mask: AtomMask = None,
    report_ties: bool = False,
):
    """Run ``fn(query, vectors, index, shift, valid)`` over chunks of query atoms.

    ``fn`` gets query atom indices (Q,), the displacements (Q, k, 3) to their k
    nearest neighbours (differentiable in positions and cell; zero where not
    ``valid``), the neighbours' indices and shifts (Q, k) / (Q, k, 3) and ``valid``
    (Q, k). It returns a pytree of arrays with leading axis Q, concatenated to
    leading axis N. Returns ``(result, overflow)``. An atom whose shell of
    neighbours equidistant with its k-th reaches past ``spec.tie_extra`` gets NaN in
    its floating-point results; with ``report_ties`` (static) that also sets
    ``overflow``.

    This is the memory-bounded core of the descriptor: with ``spec.chunk_size`` set,
    the (N, k) neighbour list and the (N, k, k) pair matrices are never materialised.
    """
    positions = jnp.asarray(positions)
    if not jnp.issubdtype(positions.dtype, jnp.floating):
        positions = positions.astype(jnp.result_type(float))
    cell = jnp.asarray(cell, dtype=positions.dtype)
    n = positions.shape[0]
    mask = jnp.ones(n, dtype=bool) if atom_mask is None else jnp.asarray(atom_mask, dtype=bool)
    # padding atoms may hold anything (even NaN): park them at the origin, so that
    # nothing non-finite reaches the forward pass or, through it, the gradients
    positions = jnp.where(mask[:, None], positions, 0.0)
    frame = _prepare(positions, cell, pbc, spec, cutoff, mask)
    query_fn = _query_dense if spec.method == "dense" else _query_cells

    def run(query):
        atom, shift, valid, cut = query_fn(frame, query, pbc, spec, k, cutoff)
        valid = valid & frame.mask[query][:, None]
        cut = cut & frame.mask[query]
        # absent neighbours point at the atom itself with no shift: a zero vector
        index = jnp.where(valid, atom, query[:, None])
        shift = jnp.where(valid[..., None], shift, 0)
        vectors = neighbor_vectors(positions, cell, query, index, shift)
        out = fn(query, vectors, index, shift, valid)
        # an atom whose tied shell reaches past spec.tie_extra gets NaN in every
        # floating-point result (never a choice that depends on the atoms' order)
        out = jax.tree.map(lambda a: _nan_rows(a, cut), out)
        return (out, cut) if report_ties else out

    if not report_ties:
        # (not folded into the overflow flag: a flag computed from the chunks' search
        # would make jax.grad run the forward pass once more)
        return map_atom_chunks(run, n, spec.chunk_size), frame.overflow
    result, cut = map_atom_chunks(run, n, spec.chunk_size)
    return result, frame.overflow | jnp.any(cut)


def map_atom_chunks(fn: Callable, n: int, chunk: int | None):
    """``fn(query)`` over the atoms ``0 .. n - 1``, ``chunk`` atoms at a time.

    ``fn`` takes query indices (Q,) and returns a pytree of arrays with leading axis
    Q; the results are concatenated to leading axis ``n``. ``chunk`` None (or >= n):
    one call on all atoms. Each chunk is recomputed in the backward pass instead of
    storing its intermediates (e.g. the (chunk, k, k) pair matrices), so gradient
    memory stays bounded like the forward pass.
    """
    if chunk is None or chunk >= n:
        return fn(jnp.arange(n))
    n_chunks = -(-n // chunk)
    queries = jnp.minimum(jnp.arange(n_chunks * chunk), n - 1).reshape(n_chunks, chunk)
    out = jax.lax.map(jax.checkpoint(fn), queries)
    return jax.tree.map(lambda a: a.reshape((n_chunks * chunk,) + a.shape[2:])[:n], out)


def find_neighbors(
    positions: Positions,
    cell: Cell,
    pbc: Pbc,
    spec: NeighborSpec,
    *,
    k: int = 32,
    cutoff: float = 5.0,
    atom_mask: AtomMask = None,
) -> Neighbors:
    """The k nearest neighbours (within ``cutoff``) of every atom. Pure; jit/vmap-safe
    with ``pbc``, ``spec``, ``k`` and ``cutoff`` static.

    Args:
        positions: (N, 3) Cartesian positions, Angstrom.
        cell: (3, 3) lattice vectors as rows, Angstrom (ignored along non-periodic axes).
        pbc: three bools.
        spec: static sizes, e.g. from :func:`plan_neighbors`.
        atom_mask: (N,) bool; False marks padding atoms, which are nobody's neighbour
            and have no valid neighbours.
    """
    k, cutoff = check_k_cutoff(k, cutoff)
    return _find_neighbors_jit(
        positions, cell, atom_mask, pbc=static_pbc(pbc), spec=spec, k=k, cutoff=cutoff
    )


@functools.partial(jax.jit, static_argnames=("pbc", "spec", "k", "cutoff"))
def _find_neighbors_jit(positions, cell, atom_mask, *, pbc, spec, k, cutoff):
    (index, shift, valid), overflow = map_neighbor_chunks(
        lambda query, vectors, index, shift, valid: (index, shift, valid),
        positions,
        cell,
        pbc,
        spec,
        k=k,
        cutoff=cutoff,
        atom_mask=atom_mask,
        report_ties=True,
    )
    return Neighbors(index.astype(jnp.int32), shift.astype(jnp.int32), valid, overflow)
