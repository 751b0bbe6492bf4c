"""Descriptors of datasets of ``ase.Atoms``: the reference package's entry points.

``get_descriptors`` and ``get_descriptors_multicomponent`` take the same arguments as
``quests.descriptor``'s functions and return the same (n_envs, width) NumPy array in
frame order, so that switching is an import change. Differences: the default dtype
is float32 (pass ``dtype="float64"`` for double precision, computed in float64
throughout) and periodicity is honoured per axis (the reference treats a frame that
is not periodic along all three axes as a cluster).

Frames of any sizes are padded into a few size buckets and batched with ``vmap``, so
a dataset of thousands of frames compiles a handful of times, not once per frame.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import defaultdict
from collections.abc import Sequence
from contextlib import nullcontext

import jax
import numpy as np

from .descriptors import descriptor_with_overflow
from .multicomponent import descriptor_multicomponent_with_overflow, multicomponent_width
from .neighbors import NeighborSpec, merge_specs, plan_neighbors
from .progress import Progress
from .validation import check_k_cutoff

# Working memory a batch may use, in bytes (estimate; see _frame_bytes).
BATCH_MEMORY = 1 << 29
MAX_BATCH = 256


@dataclasses.dataclass
class _Frame:
    index: int  # position in the dataset
    offset: int  # first output row
    positions: np.ndarray  # (n, 3) float64
    cell: np.ndarray  # (3, 3) float64
    pbc: tuple[bool, bool, bool]
    spec: NeighborSpec
    species: np.ndarray | None = None  # (n,) int

    @property
    def n_atoms(self) -> int:
        return self.positions.shape[0]


def bucket_size(n: int) -> int:
    """Padded size for a frame of n atoms: the smallest of 8, 12, 16, 24, 32, 48, ...
    (powers of two and 1.5 times them) that holds n; wastes at most a third."""
    size = 8
    while size < n:
        size = size * 3 // 2 if size & (size - 1) == 0 else size * 4 // 3
    return size


def _resolve_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return dt


def _check_dataset(dset) -> list:
    try:
        frames = list(dset)
    except TypeError:
        raise TypeError(f"dset must be a list of ase.Atoms, got {type(dset).__name__}") from None
    if not frames:
        raise ValueError("dset is empty: nothing to describe")
    for i, atoms in enumerate(frames):
        if not all(hasattr(atoms, a) for a in ("positions", "cell", "pbc")):
            raise TypeError(f"dset[{i}] is not an ase.Atoms (got {type(atoms).__name__})")
    return frames


def _plan(frames, cutoff, species_of=None) -> list[_Frame]:
    """Validate every frame (before any compute) and size its neighbour search."""
    planned = []
    offset = 0
    for i, atoms in enumerate(frames):
        positions = np.asarray(atoms.positions, dtype=np.float64)
        cell = np.asarray(
            atoms.cell.array if hasattr(atoms.cell, "array") else atoms.cell, dtype=np.float64
        )
        pbc = tuple(bool(p) for p in np.broadcast_to(atoms.pbc, (3,)))
        try:  # plan_neighbors checks the frame
            spec = plan_neighbors(positions, cell, pbc, cutoff=cutoff)
        except ValueError as err:
            raise ValueError(f"dset[{i}]: {err}") from None
        species = None if species_of is None else species_of(atoms)
        planned.append(_Frame(i, offset, positions, cell, pbc, spec, species))
        offset += positions.shape[0]
    return planned


def _group_key(frame: _Frame):
    spec = frame.spec
    size = bucket_size(frame.n_atoms)
    if spec.method == "dense":
        return (frame.pbc, "dense", size, spec.images)
    return (frame.pbc, "cells", size)


def _group_spec(frames: list[_Frame], cutoff) -> NeighborSpec:
    """One spec for a group of frames padded to the same size."""
    size = bucket_size(frames[0].n_atoms)
    if frames[0].spec.method == "dense":
        return merge_specs([f.spec for f in frames]).chunked_for(size)
    grid = tuple(min(f.spec.grid[d] for f in frames) for d in range(3))
    specs = [
        plan_neighbors(f.positions, f.cell, f.pbc, cutoff=cutoff, method="cells", grid=grid)
        for f in frames
    ]
    return merge_specs(specs).chunked_for(size)


def _frame_bytes(n_padded: int, spec: NeighborSpec, k: int, itemsize: int) -> int:
    """Rough peak working memory of one frame in a batch."""
    rows = spec.chunk_size or n_padded
    candidates = spec.candidates_per_atom(n_padded)
    return rows * (candidates * 4 + 3 * k * k) * max(itemsize, 4) * 2


def _batch_size(n_frames: int, frame_bytes: int) -> int:
    """Frames per vmapped call: as many as memory allows (a power of two), but no more
    than the group needs, rounded up to a multiple of 8 to limit distinct shapes."""
    batch = max(1, min(MAX_BATCH, BATCH_MEMORY // frame_bytes))
    batch = 1 << (batch.bit_length() - 1)
    if n_frames < batch:
        batch = min(batch, -(-n_frames // 8) * 8) if n_frames > 8 else n_frames
    return batch


def _batches(frames: list[_Frame], batch: int):
    for start in range(0, len(frames), batch):
        yield frames[start : start + batch]


@functools.partial(jax.jit, static_argnames=("pbc", "spec", "k", "cutoff", "n_species"))
def _batched(positions, cell, mask, species, *, pbc, spec, k, cutoff, n_species):
    """(B, n, 3), (B, 3, 3), (B, n), (B, n) -> ((B, n, width), (B,) overflow)."""

    def fn(r, c, m, s):
        if n_species is None:
            return descriptor_with_overflow(r, c, pbc, spec, k=k, cutoff=cutoff, atom_mask=m)
        return descriptor_multicomponent_with_overflow(
            r, c, pbc, s, n_species, spec, k=k, cutoff=cutoff, atom_mask=m
        )

    return jax.vmap(fn)(positions, cell, mask, species)


def _pack(frames: list[_Frame], n_padded: int, batch: int, dtype):
    """Padded arrays for a batch; missing frames are copies of the first (discarded)."""
    b = max(batch, len(frames))
    positions = np.zeros((b, n_padded, 3), dtype)
    cell = np.zeros((b, 3, 3), dtype)
    mask = np.zeros((b, n_padded), bool)
    species = np.full((b, n_padded), -1, np.int32)
    for slot in range(b):
        f = frames[slot] if slot < len(frames) else frames[0]
        n = f.n_atoms
        positions[slot, :n] = f.positions
        cell[slot] = f.cell
        mask[slot, :n] = True
        if f.species is not None:
            species[slot, :n] = f.species
    return positions, cell, mask, species


def _compute(
    planned: list[_Frame], width: int, k: int, cutoff: float, dtype, n_species, progress, label
):
    total = planned[-1].offset + planned[-1].n_atoms
    out = np.empty((total, width), dtype=dtype)
    groups = defaultdict(list)
    for f in planned:
        groups[_group_key(f)].append(f)

    x64 = jax.enable_x64(True) if dtype == np.float64 else nullcontext()
    with x64, Progress(len(planned), label, enabled=progress) as bar:
        pending = []  # dispatched batches, collected one step behind to overlap work

        def collect(item):
            batch_frames, x_dev, overflow_dev, spec = item
            x = np.asarray(x_dev)
            overflow = np.asarray(overflow_dev)
            for slot, f in enumerate(batch_frames):
                rows = x[slot, : f.n_atoms]
                if overflow[slot]:
                    rows = _recompute(f, spec, k, cutoff, dtype, n_species)
                out[f.offset : f.offset + f.n_atoms] = rows
            bar.update(len(batch_frames))

        for frames in groups.values():
            pbc = frames[0].pbc
            n_padded = bucket_size(frames[0].n_atoms)
            spec = _group_spec(frames, cutoff)
            n_blocks = n_species + 1 if n_species and n_species > 1 else 1
            per_frame = n_blocks * _frame_bytes(n_padded, spec, k, dtype.itemsize)
            batch = _batch_size(len(frames), per_frame)
            for batch_frames in _batches(frames, batch):
                arrays = _pack(batch_frames, n_padded, batch, dtype)
                x_dev, overflow_dev = _batched(
                    *arrays, pbc=pbc, spec=spec, k=k, cutoff=cutoff, n_species=n_species
                )
                pending.append((batch_frames, x_dev, overflow_dev, spec))
                if len(pending) > 1:
                    collect(pending.pop(0))
        for item in pending:
            collect(item)
    return out


def _recompute(frame: _Frame, spec: NeighborSpec, k, cutoff, dtype, n_species):
    """Recover a frame whose batch spec overflowed: enlarge and run it alone."""
    for _ in range(6):
        spec = spec.enlarged()
        arrays = _pack([frame], frame.n_atoms, 1, dtype)
        x, overflow = _batched(
            *arrays, pbc=frame.pbc, spec=spec, k=k, cutoff=cutoff, n_species=n_species
        )
        if not bool(np.asarray(overflow)[0]):
            return np.asarray(x)[0]
    raise RuntimeError(f"dset[{frame.index}]: neighbour search keeps overflowing ({spec})")


def get_descriptors(
    dset: Sequence,
    k: int = 32,
    cutoff: float = 5.0,
    concat: bool = True,
    dtype: str = "float32",
    *,
    progress: bool | None = None,
):
    """QUESTS descriptors of every atom of a dataset, frame by frame.

    Args:
        dset: list of ``ase.Atoms`` (any sizes, any periodicity, per axis).
        k: number of nearest neighbours.
        cutoff: cutoff radius, Angstrom.
        concat: return one (n_envs, 2k - 1) array; if False, the tuple
            (x1 (n_envs, k), x2 (n_envs, k - 1)).
        dtype: "float32" (default) or "float64" (computed in float64).
        progress: show a progress bar (default: when stderr is a terminal).

    Returns:
        (n_envs, 2k - 1) NumPy array, rows in frame order (or (x1, x2)).
    """
    k, cutoff = check_k_cutoff(k, cutoff)
    dt = _resolve_dtype(dtype)
    planned = _plan(_check_dataset(dset), cutoff)
    x = _compute(planned, 2 * k - 1, k, cutoff, dt, None, progress, "descriptors")
    if concat:
        return x
    return x[:, :k], x[:, k:]


def get_descriptors_multicomponent(
    dset: Sequence,
    k: int = 32,
    cutoff: float = 5.0,
    species: Sequence[str] | None = None,
    concat: bool = True,
    dtype: str = "float32",
    *,
    progress: bool | None = None,
):
    """Multicomponent QUESTS descriptors (see :mod:`quests_jax.multicomponent`).

    Args:
        species: chemical symbols defining the species blocks (sorted); default: every
            symbol in ``dset``. Atoms of other symbols count only in the full block.
        (others as in :func:`get_descriptors`)

    Returns:
        (n_envs, (n_species + 1)(2k - 1)) array (2k - 1 columns for a single species):
        every block's x1 followed by every block's x2, as the reference emits them.
        With ``concat=False``, the tuple (x1 blocks, x2 blocks).
    """
    k, cutoff = check_k_cutoff(k, cutoff)
    dt = _resolve_dtype(dtype)
    frames = _check_dataset(dset)
    if species is None:
        species = set()
        for atoms in frames:
            species.update(atoms.get_chemical_symbols())
    species = sorted(species)
    if not species:
        raise ValueError("species is empty: give at least one chemical symbol")
    lookup = {sym: i for i, sym in enumerate(species)}

    def species_of(atoms):
        return np.array([lookup.get(s, -1) for s in atoms.get_chemical_symbols()], np.int32)

    n_species = len(species)
    planned = _plan(frames, cutoff, species_of)
    width = multicomponent_width(k, n_species)
    x = _compute(planned, width, k, cutoff, dt, n_species, progress, "descriptors")
    if concat:
        return x
    n_blocks = n_species + 1 if n_species > 1 else 1
    return x[:, : k * n_blocks], x[:, k * n_blocks :]
