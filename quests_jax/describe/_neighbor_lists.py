"""The k nearest neighbours of every atom of a dataset, found on the host.

Dataset-level descriptors (:mod:`quests_jax.describe._dataset`) split the work in two:

* here, on the host, every frame's pairs within the cutoff come from vesin (a C++
  cell list), and each atom's k nearest are picked with NumPy; the result is k
  displacement vectors per atom, whatever the frame's size, cell and periodicity;
* on the device, one compiled program turns fixed-size chunks of those vectors into
  descriptor rows (:func:`quests_jax.describe.features_from_vectors`).

So the device never sees a frame's shape: any list of frames, of any sizes, cells and
periodicities, runs through the same compiled program, and there is no capacity to
overflow (the host selection is exact and ragged). The pure per-frame search of
:mod:`quests_jax.describe._neighbors` stays for what must be traced (``jit``, ``grad``, MD).

Why vesin. Measured on the mlearn Si training set (214 frames, 13,233 atoms, 5 A):
vesin 0.06 s, matscipy 0.065 s, ASE's ``neighbor_list`` 1.09 s; 108,000 Cu atoms:
vesin 0.57 s, matscipy 0.66 s. vesin and ASE give identical pair sets on triclinic
cells smaller than the cutoff, slabs (with a zero third vector too), clusters with a
zero cell and mixed periodicity (``tests/describe/test_neighbor_lists.py``); vesin is a small
wheel with no dependencies beyond NumPy.

Displacements are formed in float64 from float64 positions before any cast to
float32, so float32 descriptors do not lose accuracy for frames far from the origin.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ._ties import break_ties_host, tie_rtol, tied_at_k

# Directed pairs handled at once when picking the k nearest: bounds the temporaries of
# the sort for large frames (a million atoms hold ~5e7 directed pairs within 5 A).
MAX_PAIRS = 1 << 22


@dataclasses.dataclass
class Pairs:
    """Every pair of atoms (periodic images included) closer than the cutoff, each
    once, for a group of frames whose atoms are numbered consecutively. Each pair
    stands for two directed ones: first -> second (``vectors``) and second -> first
    (``-vectors``).

    Attributes:
        first: (P,) int64 atom i.
        second: (P,) int64 atom j.
        vectors: (P, 3) float64 displacement from i to the image of j, Angstrom.
        n_atoms: atoms in the group.
    """

    first: np.ndarray
    second: np.ndarray
    vectors: np.ndarray
    n_atoms: int
    owner: object = None  # what holds the arrays' memory (vesin's buffers), kept alive

    @classmethod
    def concatenate(cls, parts: list[Pairs]) -> Pairs:
        if len(parts) == 1:
            return parts[0]
        offsets = np.cumsum([0] + [p.n_atoms for p in parts[:-1]])
        return cls(
            np.concatenate([p.first + o for p, o in zip(parts, offsets, strict=True)]),
            np.concatenate([p.second + o for p, o in zip(parts, offsets, strict=True)]),
            np.concatenate([p.vectors for p in parts]),
            int(sum(p.n_atoms for p in parts)),
        )


def frame_pairs(positions, cell, pbc, cutoff: float) -> Pairs:
    """All pairs closer than ``cutoff`` in one frame (positions (N, 3), cell (3, 3)
    rows = lattice vectors, pbc three bools), Angstrom, float64."""
    from vesin import NeighborList

    positions = np.ascontiguousarray(positions, dtype=np.float64)
    cell = np.ascontiguousarray(cell, dtype=np.float64)
    # a half list (each pair once): vesin's search takes ~30% less time than a full one
    search = NeighborList(cutoff=float(cutoff), full_list=False)
    # views into vesin's buffers (no copy: a million atoms hold ~1 GB of pairs), valid
    # while ``search`` lives, which the Pairs keep
    i, j, vectors = search.compute(positions, cell, list(pbc), "ijD", copy=False)
    # uint64 indices below 2**63: read as int64, no copy
    return Pairs(i.view(np.int64), j.view(np.int64), vectors, positions.shape[0], search)


def k_nearest(pairs: Pairs, k: int, cutoff: float, keep=None, dtype=np.float32, ties=None):
    """Displacements to the k nearest neighbours of each atom, nearest first; where
    the k-th ties with the next, the tied ones kept by the rule of
    :mod:`quests_jax.describe._ties`.

    Args:
        pairs: the group's pairs within the cutoff.
        k: neighbours per atom.
        cutoff: the cutoff of ``pairs`` (Angstrom).
        keep: optional (P,) bool; only these pairs count (a species' sub-lattice).
        dtype: dtype of the returned vectors.
        ties: optional (n_atoms,) bool array, set True for atoms whose k-th and
            (k+1)-th neighbours tie.

    Returns:
        vectors (n_atoms, k, 3) and valid (n_atoms, k) bool; atoms with fewer than k
        neighbours have zero vectors in the missing slots.
    """
    n = pairs.n_atoms
    d2 = np.einsum("ij,ij->i", pairs.vectors, pairs.vectors)
    kept = None if keep is None else np.flatnonzero(keep)
    n_directed = 2 * (d2.shape[0] if kept is None else kept.shape[0])
    out = np.zeros((n, k, 3), dtype)
    valid = np.zeros((n, k), bool)
    n_pieces = max(1, -(-n_directed // MAX_PAIRS))
    bounds = np.linspace(0, n, n_pieces + 1).astype(np.int64)
    tied = np.zeros(n, bool) if ties is None else ties
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        _k_nearest_of(pairs, d2, kept, lo, hi, k, cutoff, out[lo:hi], valid[lo:hi], tied[lo:hi])
    return out, valid


def _k_nearest_of(pairs, d2, kept, lo, hi, k, cutoff, out, valid, tied):
    """Fill out / valid (hi - lo, k, ...) for the atoms lo .. hi - 1."""
    sides = []  # (pair ids, their centre atoms) from each side of the pairs
    whole = lo == 0 and hi == pairs.n_atoms
    for centres in (pairs.first, pairs.second):
        c = centres if kept is None else centres[kept]
        if whole:
            ids = np.arange(pairs.first.shape[0]) if kept is None else kept
        else:
            inside = np.flatnonzero((c >= lo) & (c < hi))
            ids, c = (inside if kept is None else kept[inside]), c[inside]
        sides.append((ids, c - lo))
    n_first = sides[0][0].shape[0]  # directed pairs [0, n_first) point first -> second
    ids = np.concatenate([sides[0][0], sides[1][0]])
    centre = np.concatenate([sides[0][1], sides[1][1]])
    # one sort by (atom, distance): the distance is scaled into [0, 1) and added to the
    # atom index (resolution ~1e-9 A at a million atoms: closer ties are ties)
    order = np.argsort(centre + d2[ids] / (cutoff * cutoff * (1.0 + 1e-9)))
    counts = np.bincount(centre, minlength=hi - lo)
    starts = np.cumsum(counts) - counts
    # atom a's m-th nearest is the (starts[a] + m)-th directed pair in that order
    valid[:] = np.arange(k)[None, :] < counts[:, None]
    if not ids.size:
        return
    directed = order[np.where(valid, starts[:, None] + np.arange(k)[None, :], 0)]
    _break_ties(pairs, d2, ids, order, starts, counts, n_first, k, directed, tied)
    # +1 first -> second, -1 second -> first, 0 for absent neighbours; one gather (np.take:
    # 4x faster than fancy indexing here) and one multiply, cast to the output dtype
    sign = np.where(directed < n_first, 1.0, -1.0)
    sign *= valid
    np.multiply(np.take(pairs.vectors, ids[directed], axis=0), sign[:, :, None], out=out)


def _break_ties(pairs, d2, ids, order, starts, counts, n_first, k, directed, tied):
    """Where an atom's k-th and (k+1)-th neighbours tie, replace its row of
    ``directed`` by the tie rule's choice and mark it in ``tied``."""
    more = np.flatnonzero(counts > k)
    if not more.size:
        return
    d2_k = d2[ids[order[starts[more] + k - 1]]]
    d2_next = d2[ids[order[starts[more] + k]]]
    rtol = tie_rtol(np.float64)  # the displacements are float64
    for atom in more[tied_at_k(d2_k, d2_next, rtol)]:
        mine = order[starts[atom] : starts[atom] + counts[atom]]
        mine = mine[np.argsort(d2[ids[mine]], kind="stable")]  # exact order
        sign = np.where(mine < n_first, 1.0, -1.0)
        vectors = pairs.vectors[ids[mine]] * sign[:, None]
        directed[atom] = mine[break_ties_host(d2[ids[mine]], vectors, k, rtol)]
        tied[atom] = True
