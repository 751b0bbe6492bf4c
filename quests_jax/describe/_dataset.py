"""Descriptors of datasets of ``ase.Atoms``: the reference package's entry points.

``get_descriptors`` and ``get_descriptors_multicomponent`` take the same arguments as
``quests.descriptor``'s functions and return the same (n_envs, width) NumPy array in
frame order, so that switching is an import change. Differences: the default dtype
is float32 (pass ``dtype="float64"`` for double precision, computed in float64
throughout) and periodicity is honoured per axis (the reference treats a frame that
is not periodic along all three axes as a cluster).

Compiled once, not once per dataset. The host finds each atom's k nearest neighbours
(:mod:`quests_jax.describe._neighbor_lists`, ragged NumPy) and the device turns fixed-size
chunks of their displacement vectors into descriptor rows: one compiled program,
keyed by (chunk size, k, cutoff, dtype), serves every dataset whatever its frames'
sizes, cells and periodicity, and is kept in the persistent compilation cache
(:mod:`quests_jax.compilation`) across runs.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence

import jax
import numpy as np

from .._core.array_types import DType
from .._core.compilation import logger
from .._core.errors import InputTypeError, InputValueError
from .._core.padding import pad_rows
from .._core.precision import x64_scope
from .._core.progress import Progress
from .._core.settings import DescriptorSettings, Features
from .._core.validation import check_frame, check_neighbour_budget
from ._features import rows_from_vectors
from ._neighbor_lists import Pairs, frame_pairs, k_nearest
from ._sorting import sort_leading_axis_unrolled
from ._ties import warn_ties

# Frames are gathered until their atoms reach this count; their neighbour selection
# runs as one NumPy pass (per-frame overhead would dominate small frames); smaller
# groups keep the host's arrays in cache and, on an accelerator, let the host prepare
# the next group while the device describes this one. Measured on 2 CPU cores (12,800
# Cu atoms in 256-atom frames): groups of 2,048 / 8,192 / 32,768 atoms took 0.125 /
# 0.131 / 0.141 s.
GROUP_ATOMS = 1 << 11


def chunk_atoms() -> int:
    """Atoms per call of the descriptor program: its one compiled shape. Measured on
    2 CPU cores (Si, k = 32): 256 / 1024 / 2048 / 4096 atoms gave 217k / 228k / 207k
    / 130k environments per second; larger on accelerators."""
    return 1024 if jax.default_backend() == "cpu" else 8192


def _check_dataset(dset, first_frame: int = 0) -> list:
    try:
        frames = list(dset)
    except TypeError:
        raise InputTypeError(
            f"dset must be a list of ase.Atoms, got {type(dset).__name__}"
        ) from None
    if not frames:
        raise InputValueError("dset is empty: nothing to describe")
    for i, atoms in enumerate(frames):
        if not all(hasattr(atoms, a) for a in ("positions", "cell", "pbc")):
            raise InputTypeError(
                f"dset[{first_frame + i}] is not an ase.Atoms (got {type(atoms).__name__})"
            )
    return frames


def _frame_arrays(frames, first_frame: int = 0) -> list[tuple[np.ndarray, np.ndarray, tuple]]:
    """(positions, cell, pbc) of every frame in float64, each checked (before any
    compute) with errors naming the frame (counted from ``first_frame``)."""
    out = []
    for i, atoms in enumerate(frames):
        positions = np.asarray(atoms.positions, dtype=np.float64)
        cell = np.asarray(
            atoms.cell.array if hasattr(atoms.cell, "array") else atoms.cell, dtype=np.float64
        )
        pbc = tuple(bool(p) for p in np.broadcast_to(atoms.pbc, (3,)))
        check_frame(positions, cell, pbc, where=f"dset[{first_frame + i}]: ")
        out.append((positions, cell, pbc))
    return out


def _check_budgets(arrays, cutoff: float, first_frame: int = 0) -> None:
    for i, (positions, cell, pbc) in enumerate(arrays):
        where = f"dset[{first_frame + i}]: "
        check_neighbour_budget(positions.shape[0], cell, pbc, cutoff, where)


@functools.partial(jax.jit, static_argnames=("settings",))
def _features(vectors, valid, *, settings: DescriptorSettings):
    """(C, k, 3), (C, k) -> (C, width): the one compiled descriptor program."""
    return rows_from_vectors(settings, vectors, valid, sort=sort_leading_axis_unrolled)


def _groups(arrays, cutoff):
    """Consecutive frames gathered into groups of about GROUP_ATOMS atoms:
    (first frame, number of frames, their pairs)."""
    first, parts, atoms = 0, [], 0
    for index, (positions, cell, pbc) in enumerate(arrays):
        parts.append(frame_pairs(positions, cell, pbc, cutoff))
        atoms += positions.shape[0]
        if atoms >= GROUP_ATOMS:
            yield first, len(parts), Pairs.concatenate(parts)
            first, parts, atoms = index + 1, [], 0
    if parts:
        yield first, len(parts), Pairs.concatenate(parts)


def _dispatch(vectors, valid, settings: DescriptorSettings):
    """Device calls over chunks of atoms (the last one padded with absent
    neighbours): a list of results, still on the device (on an accelerator they run
    while the host prepares the next group)."""
    chunk = chunk_atoms()
    results = []
    for start in range(0, vectors.shape[0], chunk):
        v = pad_rows(vectors[start : start + chunk], chunk, np)
        m = pad_rows(valid[start : start + chunk], chunk, np)
        results.append(_features(v, m, settings=settings))
    return results


def _compute(
    arrays, settings: DescriptorSettings, species, n_species, progress, label="descriptors"
):
    """Descriptor rows of every frame, in frame order: (n_envs, width) NumPy.

    ``species``: per frame (n,) int species index, or None for the plain descriptor.
    """
    k, cutoff, dtype = settings.k, settings.cutoff, settings.numpy_dtype
    n_blocks = n_species + 1 if n_species > 1 else 1
    width = settings.width * n_blocks
    total = sum(a[0].shape[0] for a in arrays)
    out = np.empty((total, width), dtype=dtype)
    starts = np.cumsum([0] + [a[0].shape[0] for a in arrays])
    x64 = x64_scope(dtype)
    seconds = {"host": 0.0, "device": 0.0}
    tied = np.zeros(total, bool)  # atoms whose k-th and (k+1)-th neighbours tie

    def collect(item):
        row, n, block, results = item
        t0 = time.perf_counter()
        x = np.concatenate([np.asarray(r) for r in results])[:n]
        seconds["device"] += time.perf_counter() - t0
        rows = slice(row, row + n)
        if n_blocks == 1:
            out[rows] = x
        else:  # every block's x1, then every block's x2 (the reference's layout)
            out[rows, block * k : (block + 1) * k] = x[:, :k]
            x2 = n_blocks * k + block * (k - 1)
            out[rows, x2 : x2 + k - 1] = x[:, k:]

    with x64, Progress(len(arrays), label, enabled=progress) as bar:
        pending = []  # dispatched work, collected one group behind
        t0 = time.perf_counter()
        for first, count, pairs in _groups(arrays, cutoff):
            keeps = [None]
            if n_blocks > 1:
                sp = np.concatenate(species[first : first + count])
                same = sp[pairs.first] == sp[pairs.second]
                keeps += [same & (sp[pairs.first] == s) for s in range(n_species)]
            atoms = slice(starts[first], starts[first] + pairs.n_atoms)
            for block, keep in enumerate(keeps):
                vectors, valid = k_nearest(pairs, k, cutoff, keep, dtype, tied[atoms])
                results = _dispatch(vectors, valid, settings)
                pending.append((starts[first], pairs.n_atoms, block, results))
            seconds["host"] += time.perf_counter() - t0
            while len(pending) > n_blocks:
                collect(pending.pop(0))
            bar.update(count)
            t0 = time.perf_counter()
        for item in pending:
            collect(item)
    tied_frames = np.unique(np.searchsorted(starts, np.flatnonzero(tied), side="right") - 1)
    warn_ties(tied_frames, len(arrays), k, stacklevel=4)
    logger.debug(
        "%s: %d frames, %d environments: neighbour lists %.3f s on the host, waiting "
        "for the device %.3f s",
        label,
        len(arrays),
        total,
        seconds["host"],
        seconds["device"],
    )
    return out


def get_descriptors(
    dset: Sequence,
    k: int = 32,
    cutoff: float = 5.0,
    concat: bool = True,
    dtype: DType = "float32",
    *,
    progress: bool | None = None,
    first_frame: int = 0,
    features: Features | None = None,
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
        first_frame: number of the first frame in error messages (for a chunk of a
            larger dataset: ``dset[first_frame + i]``).
        features: None (QUESTS) or another descriptor
            (:class:`~quests_jax.describe.Features`): rows of ``features.width(k)``.

    Returns:
        (n_envs, 2k - 1) NumPy array, rows in frame order (or (x1, x2)).
    """
    settings = DescriptorSettings(k, cutoff, dtype=dtype, features=features)
    if not concat and features is not None:
        raise InputValueError(
            "concat=False splits QUESTS rows into x1 and x2; with features=... leave concat=True"
        )
    arrays = _frame_arrays(_check_dataset(dset, first_frame), first_frame)
    _check_budgets(arrays, settings.cutoff, first_frame)
    x = _compute(arrays, settings, None, 1, progress)
    if concat:
        return x
    return x[:, : settings.k], x[:, settings.k :]


def get_descriptors_multicomponent(
    dset: Sequence,
    k: int = 32,
    cutoff: float = 5.0,
    species: Sequence[str] | None = None,
    concat: bool = True,
    dtype: DType = "float32",
    *,
    progress: bool | None = None,
):
    """Multicomponent QUESTS descriptors (see :mod:`quests_jax.describe._multicomponent`).

    Args:
        species: chemical symbols defining the species blocks (sorted); default: every
            symbol in ``dset``. Atoms of other symbols count only in the full block.

    The other arguments are those of :func:`get_descriptors`.

    Returns:
        (n_envs, (n_species + 1)(2k - 1)) array (2k - 1 columns for a single species):
        every block's x1 followed by every block's x2, as the reference emits them.
        With ``concat=False``, the tuple (x1 blocks, x2 blocks).
    """
    settings = DescriptorSettings(k, cutoff, dtype=dtype)
    frames = _check_dataset(dset)
    if species is None:
        species = sorted({s for atoms in frames for s in atoms.get_chemical_symbols()})
    species = sorted(species)
    if not species:
        raise InputValueError("species is empty: give at least one chemical symbol")
    lookup = {sym: i for i, sym in enumerate(species)}

    def species_of(atoms):
        return np.array([lookup.get(s, -1) for s in atoms.get_chemical_symbols()], np.int32)

    n_species = len(species)
    arrays = _frame_arrays(frames)
    _check_budgets(arrays, settings.cutoff)
    x = _compute(arrays, settings, [species_of(a) for a in frames], n_species, progress)
    if concat:
        return x
    n_blocks = n_species + 1 if n_species > 1 else 1
    return x[:, : settings.k * n_blocks], x[:, settings.k * n_blocks :]
