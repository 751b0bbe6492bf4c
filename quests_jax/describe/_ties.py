"""Which neighbours are kept when the k-th nearest ties with the next ones.

In a perfect crystal the cut at k neighbours often falls inside a shell of
equidistant atoms (fcc at k = 32: shells of 12 + 6 + 24, the cut 14 atoms into the
third). x1 is the same whichever of them are kept, but x2 (the pair terms between
the kept neighbours) is not: up to 3e-3 1/A, 9% of an entry, for fcc Cu at k = 32.
The reference keeps whichever its rounding puts first; index order would make the
descriptor depend on the order of the atoms.

The rule here, the same on every path (the dataset's host search, the traced
``descriptor``, the JAX-MD bias): let d_k be the k-th smallest distance. Neighbours
closer than d_k (beyond the tolerance) are kept; those within the tolerance of d_k
form the tied shell, ordered by the projection of their displacement on the fixed
direction TIE_DIRECTION (irrational components: two distinct displacements of a
lattice project differently), and the first ones fill the remaining places. The
choice depends only on the frame's geometry: the same for any order of the atoms
and any translation (not rotation: a rotated crystal may keep other atoms of the
shell, as the descriptor then depends on a choice anyway).

Tolerance: distances within a relative ``tie_rtol`` of d_k tie: 1e-10 in float64
(the host search forms its displacements in float64), 2e-6 in float32 (float32
distances of atoms ~100 A from the origin carry ~1e-6 relative rounding).

The host search sees every neighbour within the cutoff. The traced searches look
at the k + ``NeighborSpec.tie_extra`` nearest (TIE_EXTRA = 24 by default: enough for
fcc, bcc, hcp and diamond at k = 32, whose tied shells reach 10, 18, 6 and 2 atoms
beyond the 32nd); an atom whose tied shell reaches further gets NaN rows (an
overflow: ``descriptor`` then enlarges the spec and recomputes; ``find_neighbors``
sets its flag), never a choice that depends on the atoms' order. Cost, measured on
the CPU for 2,048 rattled Cu atoms (float32, dense search): the traced descriptor
42 ms instead of 33 ms, its gradient 101 ms instead of 91 ms (a wider top_k).
"""

from __future__ import annotations

import warnings

import numpy as np

# (1, sqrt(2) - 1, pi - 3), normalised: no two distinct lattice displacements of a
# rational lattice project onto it equally
TIE_DIRECTION = np.array([1.0, np.sqrt(2.0) - 1.0, np.pi - 3.0]) / np.linalg.norm(
    [1.0, np.sqrt(2.0) - 1.0, np.pi - 3.0]
)
TIE_EXTRA = 24  # NeighborSpec.tie_extra's default


def tie_rtol(dtype) -> float:
    """Relative distance below which two neighbour distances tie, for ``dtype``."""
    return 1e-10 if np.dtype(dtype) == np.float64 else 2e-6


class DescriptorTieWarning(UserWarning):
    """Some atoms' k-th and (k+1)-th neighbours are equidistant (a perfect crystal):
    the second half of their descriptors depends on which of the tied neighbours
    are kept (see :mod:`quests_jax.describe._ties`)."""


def warn_ties(frames: np.ndarray, n_frames: int, k: int, stacklevel: int = 3) -> None:
    """One warning naming the frames (indices) whose atoms have tied k-th neighbours."""
    if frames.size == 0:
        return
    shown = ", ".join(str(int(f)) for f in frames[:10])
    more = f" and {frames.size - 10} more" if frames.size > 10 else ""
    warnings.warn(
        f"{frames.size} of {n_frames} frames (frames {shown}{more}) have atoms whose "
        f"{k}-th and {k + 1}-th nearest neighbours are equidistant (within a relative "
        f"{tie_rtol(np.float64):g}), as in a perfect crystal: the second half of their "
        "descriptors (x2) depends on which of the equidistant neighbours are kept. "
        "quests_jax keeps them in a fixed geometric order (the same for any atom order "
        "and translation); the reference package keeps whichever its rounding puts "
        "first, so its x2 may differ there (by up to ~3e-3). Rattling the atoms by "
        "1e-4 A, or a k at a shell closure, removes the choice.",
        DescriptorTieWarning,
        stacklevel=stacklevel,
    )


def tie_rule_keys(d2, d2_k, tiebreak, rtol: float, xp=np):
    """Sort keys of the rule, one per candidate: ascending keys put the candidates
    closer than the k-th first (by distance), then those tied with it (by
    ``tiebreak``, their projection on TIE_DIRECTION), then the rest (by distance).

    Args:
        d2: (..., m) squared distances of the candidates.
        d2_k: (..., 1) the k-th smallest of them.
        tiebreak: (..., m) the candidates' projections on TIE_DIRECTION.
        rtol: relative distance tolerance (:func:`tie_rtol`).
        xp: ``numpy`` or ``jax.numpy``.

    Returns:
        (keys (..., m), tied (..., m) bool).
    """
    tol2 = 2.0 * rtol * d2_k
    tied = d2 <= d2_k + tol2
    margin = 2.0 * xp.sqrt(d2_k) + 1.0  # > |tiebreak| of the tied (<= their distance)
    keys = xp.where(d2 < d2_k - tol2, d2 - d2_k - margin, xp.where(tied, tiebreak, d2 + margin))
    return keys, tied


def break_ties_host(d2, vectors, k: int, rtol: float):
    """Order of the first k of an atom's neighbours under the tie rule.

    Args:
        d2: (m,) squared distances of its neighbours, ascending, m > k (float64).
        vectors: (m, 3) their displacements from the atom.
        k: neighbours kept.
        rtol: relative distance tolerance (:func:`tie_rtol`).

    Returns:
        (k,) indices into the m neighbours.
    """
    keys, _ = tie_rule_keys(d2, d2[k - 1], vectors @ TIE_DIRECTION, rtol)
    return np.argsort(keys, kind="stable")[:k]


def tied_at_k(d2_k, d2_next, rtol: float):
    """Whether the k-th and (k+1)-th squared distances tie (arrays, any backend)."""
    return d2_next - d2_k <= 2.0 * rtol * d2_k
