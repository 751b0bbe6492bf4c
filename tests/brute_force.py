"""Independent float64 NumPy implementation of the QUESTS descriptor, for tests.

It shares no code with quests_jax: periodic images are enumerated explicitly (as
many as the cutoff can reach along each periodic axis, from Gram determinants), all
neighbours are sorted with NumPy, and x1/x2 follow the definitions literally. It
honours ``pbc`` per axis, which the reference package does not.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def _reach(cell, pbc, cutoff):
    """Images needed along each periodic axis: ceil(cutoff / h_d) + 1, where h_d is the
    distance of lattice vector d from the span of the other periodic vectors."""
    axes = [d for d in range(3) if pbc[d]]
    reach = [0, 0, 0]
    for d in axes:
        others = [e for e in axes if e != d]
        a = cell[d]
        if others:
            basis = cell[others]
            coeff, *_ = np.linalg.lstsq(basis.T, a, rcond=None)
            h = np.linalg.norm(a - basis.T @ coeff)
        else:
            h = np.linalg.norm(a)
        reach[d] = math.ceil(cutoff / h) + 1
    return reach


def weight(r, cutoff):
    z = np.minimum(r, cutoff) / cutoff
    return (1 - z**2) ** 2


# the tie rule (quests_jax.describe._ties), spelled out again: where the k-th nearest
# ties with the next ones (relative distance 1e-10), the tied are kept in the order of
# their displacement's projection on this direction
TIE_DIRECTION = np.array([1.0, math.sqrt(2.0) - 1.0, math.pi - 3.0])
TIE_DIRECTION = TIE_DIRECTION / np.linalg.norm(TIE_DIRECTION)


def _k_nearest(flat_v, flat_d, k):
    """Indices of the k nearest (by the tie rule where the k-th ties)."""
    order = np.argsort(flat_d, kind="stable")
    if np.sum(np.isfinite(flat_d)) <= k:
        return order[:k]
    d_k = flat_d[order[k - 1]]
    closer = order[flat_d[order] < d_k * (1 - 1e-10)]
    tied = np.flatnonzero(np.abs(flat_d - d_k) <= 1e-10 * d_k)
    tied = tied[np.argsort(flat_v[tied] @ TIE_DIRECTION)]
    return np.concatenate([closer, tied])[:k]


def neighbor_vectors(positions, cell, pbc, k, cutoff):
    """For each atom, the displacements (k, 3) to its k nearest neighbours within the
    cutoff (nearest first; the tied by the tie rule) and how many there are."""
    positions = np.asarray(positions, float)
    cell = np.asarray(cell, float)
    reach = _reach(cell, pbc, cutoff)
    shifts = np.array(list(itertools.product(*[range(-r, r + 1) for r in reach])), float)
    translations = shifts @ cell  # (S, 3)
    zero = np.flatnonzero(np.all(shifts == 0, axis=1))[0]
    out = []
    for i, ri in enumerate(positions):
        v = positions[None, :, :] + translations[:, None, :] - ri  # (S, N, 3)
        d = np.linalg.norm(v, axis=-1)
        d[zero, i] = np.inf  # the atom itself
        flat_v = v.reshape(-1, 3)
        flat_d = d.reshape(-1)
        order = _k_nearest(flat_v, np.where(flat_d < cutoff, flat_d, np.inf), k)
        order = order[flat_d[order] < cutoff]
        out.append(flat_v[order])
    return out


def descriptor(positions, cell, pbc, k=32, cutoff=5.0):
    """(N, 2k - 1) float64 descriptors by the definitions."""
    rows = []
    for vecs in neighbor_vectors(positions, cell, pbc, k, cutoff):
        n = len(vecs)
        r = np.linalg.norm(vecs, axis=1)
        w = weight(r, cutoff)
        x1 = np.zeros(k)
        x1[:n] = w / r
        m = np.zeros((k, k))
        for j in range(n):
            for l in range(n):
                if j != l:
                    m[j, l] = np.sqrt(w[j] * w[l]) / np.linalg.norm(vecs[j] - vecs[l])
        col_means = np.sort(m, axis=1).mean(axis=0)
        x2 = col_means[1:][::-1]
        rows.append(np.concatenate([x1, x2]))
    return np.array(rows)


def smooth_sorted(a, softness):
    """The smooth sort of quests_jax's continuous variant, by its definition: o_p =
    T_(p+1) - T_p with T_p = max_t [p t - sum_i softness softplus((t - a_i)/softness)],
    the maximiser found by bisection (no Newton steps, no hard sort)."""
    a = np.asarray(a, float)
    n = a.size

    def softplus(z):
        return np.logaddexp(0.0, z)

    def sigmoid(z):
        return 0.5 * (1.0 + np.tanh(0.5 * z))

    partial = [0.0]
    for p in range(1, n):
        lo, hi = a.min() - 50 * softness, a.max() + 50 * softness
        for _ in range(200):  # sum_i sigmoid((t - a_i)/softness) = p, increasing in t
            mid = 0.5 * (lo + hi)
            if sigmoid((mid - a) / softness).sum() < p:
                lo = mid
            else:
                hi = mid
        t = 0.5 * (lo + hi)
        partial.append(p * t - softness * softplus((t - a) / softness).sum())
    partial.append(a.sum())
    return np.diff(partial)


def smootherstep(t):
    t = np.clip(t, 0.0, 1.0)
    return t**3 * (t * (6 * t - 15) + 10)


def smooth_descriptor(positions, cell, pbc, k, cutoff, delta, extra, softness, r_softness):
    """(N, 2k - 1) float64 descriptors of the continuous variant, by its definition."""
    rows = []
    for vecs in neighbor_vectors(positions, cell, pbc, k + extra, cutoff + delta):
        r_all = np.full(k + extra, cutoff + delta)
        r_all[: len(vecs)] = np.linalg.norm(vecs, axis=1)
        boundary = min(smooth_sorted(r_all, r_softness)[k], cutoff + delta)
        vecs = vecs[:k]
        n = len(vecs)
        r = r_all[:n]
        s = np.zeros(k)
        s[:n] = (
            (1 - (np.minimum(r, cutoff) / cutoff) ** 2)
            * smootherstep((boundary - r) / delta)
            * smootherstep((cutoff - r) / delta)
        )
        x1 = np.zeros(k)
        x1[:n] = s[:n] ** 2 / r
        m = np.zeros((k, k))
        for j in range(n):
            for l in range(n):
                if j != l:
                    m[j, l] = s[j] * s[l] / np.linalg.norm(vecs[j] - vecs[l])
        col_means = np.mean([smooth_sorted(row, softness) for row in m], axis=0)
        rows.append(np.concatenate([smooth_sorted(x1, softness)[::-1], col_means[1:][::-1]]))
    return np.array(rows)
