"""Descriptor sets that break naive kernel sums, and a float64 brute force for them.

Rows of clustered "physical" descriptors mixed with far rows (a few entries at 1e3
to 1e16, as coincident atoms give: 1e16 at several scales), duplicated rows (far ones
too) and duplicated frames. Shared by tests/test_exactness.py and its multi-device
worker.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

WIDTH = 63


def hostile_rows(seed: int, n: int, far_share: float, duplicate_share: float) -> np.ndarray:
    """(n, 63) float64 rows: clusters of spread 0.01-0.05 around 3 centres ~0.7 apart, a share of
    them with 1-3 entries replaced by +-10^3..10^16, a share duplicated."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=0.06, size=(3, WIDTH)) + 0.5  # ~0.7 apart, as phases
    x = centres[rng.integers(0, 3, n)] + rng.normal(size=(n, WIDTH)) * rng.uniform(0.01, 0.05)
    for i in np.flatnonzero(rng.random(n) < far_share):
        cols = rng.choice(WIDTH, size=rng.integers(1, 4), replace=False)
        x[i, cols] = rng.choice([-1, 1], cols.size) * 10.0 ** rng.integers(3, 17, cols.size)
    copies = np.flatnonzero(rng.random(n) < duplicate_share)
    x[copies] = x[rng.integers(0, n, copies.size)]
    return x


def sq_distances(y, x):
    """|y_i - x_j|^2 from explicit differences (no cancellation)."""
    return ((y[:, None, :] - x[None, :, :]) ** 2).sum(-1)


def brute_log_sums(y, x, h):
    """(M, H) log sum_j K(y_i, x_j) in float64 log space."""
    d2 = sq_distances(y, x)
    h = np.atleast_1d(h)
    return np.stack([logsumexp(-d2 / (2 * b * b), axis=1) for b in h], axis=1)


def brute_entropy_diversity(x, h):
    log_p = brute_log_sums(x, x, h)  # self term included (d = 0)
    n = x.shape[0]
    return np.log(n) - log_p.mean(0), logsumexp(-log_p, axis=0)


def brute_dh(y, x, h):
    return -brute_log_sums(y, x, h)
