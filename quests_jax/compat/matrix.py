"""``quests.matrix`` on NumPy and SciPy: the reference's numba array helpers, same
names and results (the distances exact, from differences, not |a|^2 + |b|^2 - 2 a.b).
quests_jax itself does not use them; they are here so that scripts importing them
keep running."""

from __future__ import annotations

import numpy as np
from scipy.spatial import distance
from scipy.special import logsumexp as _logsumexp


def sum_positive(X):
    """(M,) sum over each row of max(X, 0)."""
    return np.maximum(X, 0).sum(axis=1)


def sumexp(X):
    """(M,) sum over each row of exp(X)."""
    return np.exp(X).sum(axis=1)


def wsumexp(X, w):
    """(M,) sum over each row of w * exp(X)."""
    return (np.exp(X) * np.asarray(w)[None, :]).sum(axis=1)


def logsumexp(X):
    """(M,) log sum over each row of exp(X) (stable)."""
    return _logsumexp(X, axis=1)


def norm(A):
    """(N,) squared Euclidean norm of each row (the reference's name for it)."""
    A = np.asarray(A)
    return np.einsum("ij,ij->i", A, A)


def cdist(A, B, norm_A=None, norm_B=None):
    """(N, M) Euclidean distances between the rows of A and B (norms not needed)."""
    return distance.cdist(A, B, "euclidean")


def cdist_Linf(A, B):
    """(N, M) Chebyshev (L-infinity) distances between the rows of A and B."""
    return distance.cdist(A, B, "chebyshev")


def pdist(A):
    """(N, N) Euclidean distance matrix of the rows of A."""
    return distance.squareform(distance.pdist(A, "euclidean"))


def argsort(X, sort_max: int = -1):
    """Row-wise argsort of X (only the first ``sort_max`` rows when > 0)."""
    X = np.asarray(X)
    return np.argsort(X[:sort_max] if sort_max > 0 else X, axis=1, kind="stable")


def inverse_3d(matrix):
    """Inverse of a 3 x 3 matrix."""
    return np.linalg.inv(np.asarray(matrix, dtype=float))


def stack_xyz(arrays):
    """(n, 3) array of n 3-vectors."""
    return np.asarray([np.asarray(a, dtype=float)[:3] for a in arrays]).reshape(-1, 3)
