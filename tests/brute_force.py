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


def neighbor_vectors(positions, cell, pbc, k, cutoff):
    """For each atom, the displacements (k, 3) to its k nearest neighbours within the
    cutoff (nearest first) and how many there are."""
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
        order = np.argsort(flat_d, kind="stable")[:k]
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
