"""How a dataset's entropy grows with its size: learning curves, the entropy of
random subsets, and the information gap.

* :func:`learning_curve`  entropy of random subsets holding given fractions of the
  environments (without replacement), several runs each: mean and spread.
* :func:`entropy_sampler` entropy of random subsets of a fixed number of environments
  (the reference's ``entropy_sampler``).
* :func:`information_gap` fit of H(n) = a - b exp(-c (ln n)^2) to entropies measured
  at sizes n; ``a`` is the entropy the data would reach with unlimited sampling of the
  same distribution, and ``a - H(n_max)`` the information still missing.

The reference samples with replacement (``np.random.randint``); repeated rows lower
the entropy of a sample, so here subsets are drawn without replacement.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import TYPE_CHECKING

import numpy as np

from .._core.array_types import AnyArray, Bandwidths, Float, Int, Rows
from .._core.errors import InputValueError
from .._core.progress import Progress
from .._core.validation import check_rows
from ..information import DEFAULT_BANDWIDTH, BandwidthWarning, entropy

if TYPE_CHECKING:
    from collections.abc import Sequence


DEFAULT_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
"""Fractions of the environments in a learning curve (the reference's)."""


def _check_x(x) -> np.ndarray:
    return np.asarray(check_rows(x, "x"))


def _subset_entropy(x: np.ndarray, rows: np.ndarray, h, batch_size) -> tuple[float, float]:
    """(entropy of x[rows], wall seconds it took); a new subset size compiles nothing
    (the block programs are keyed by settings, not by row counts)."""
    start = time.perf_counter()
    with warnings.catch_warnings():  # small subsets near log N are the curve's start
        warnings.simplefilter("ignore", BandwidthWarning)
        value = float(entropy(x[rows], h, batch_size))
    return value, time.perf_counter() - start


def learning_curve(
    x: Rows,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    num_runs: int = 3,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    seed: int = 0,
    progress: bool | None = None,
):
    """Entropy of random subsets of ``x`` at each fraction of its environments.

    Args:
        x: (N, d) descriptors.
        fractions: each in (0, 1]; a subset holds ceil(fraction * N) environments
            (at least 1), drawn without replacement.
        num_runs: subsets per fraction (a fraction of 1 is one run: all rows).

    Returns:
        dict: ``fractions``, ``sizes`` (F,), ``entropies`` (F, num_runs; NaN where a
        fraction of 1 has only one run), ``seconds`` (F, num_runs: wall time of each
        subset's entropy, NaN likewise), ``mean_entropy``, ``std_entropy`` (F,).
    """
    x = _check_x(x)
    fracs = np.asarray(fractions, dtype=float).reshape(-1)
    if fracs.size == 0:
        raise InputValueError("fractions is empty")
    bad = fracs[(fracs <= 0) | (fracs > 1) | ~np.isfinite(fracs)]
    if bad.size:
        raise InputValueError(f"fractions must lie in (0, 1], got {bad[0]:g}")
    if num_runs < 1:
        raise InputValueError(f"num_runs must be >= 1, got {num_runs}")
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    sizes = np.maximum(1, np.ceil(fracs * n - 1e-9).astype(int))
    values = np.full((fracs.size, num_runs), np.nan)
    seconds = np.full((fracs.size, num_runs), np.nan)
    with Progress(fracs.size * num_runs, "learning curve", unit="subsets", enabled=progress) as bar:
        for i, size in enumerate(sizes):
            runs = 1 if size == n else num_runs
            for r in range(runs):
                rows = np.sort(rng.choice(n, size, replace=False))
                values[i, r], seconds[i, r] = _subset_entropy(x, rows, h, batch_size)
            bar.update(num_runs)
    return {
        "fractions": fracs.tolist(),
        "sizes": sizes.tolist(),
        "entropies": values,
        "seconds": seconds,
        "mean_entropy": np.nanmean(values, axis=1),
        "std_entropy": np.nanstd(values, axis=1),
    }


def entropy_sampler(
    x: Rows,
    sample: int = 1000,
    num_runs: int = 20,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    seed: int = 0,
    return_times: bool = False,
):
    """Entropies (num_runs,) of random subsets of ``sample`` environments (without
    replacement); one run of all rows when the dataset is not larger than ``sample``.
    With ``return_times``, also the wall time of each run (s), as (entropies, seconds)."""
    x = _check_x(x)
    if sample < 1 or num_runs < 1:
        raise InputValueError(f"sample and num_runs must be >= 1, got {sample}, {num_runs}")
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    subsets = (
        [np.arange(n)]
        if n <= sample
        else [np.sort(rng.choice(n, sample, replace=False)) for _ in range(num_runs)]
    )
    values, seconds = np.array([_subset_entropy(x, rows, h, batch_size) for rows in subsets]).T
    return (values, seconds) if return_times else values


@dataclasses.dataclass(frozen=True)
class GapFit:
    """H(n) = a - b exp(-c (ln n)^2) fitted to measured entropies.

    Attributes:
        a: asymptotic entropy (nats).
        b, c: amplitude and rate of the approach.
        gap: a minus the largest measured entropy (nats still missing).
        rms: root-mean-square residual of the fit (nats).
    """

    a: float
    b: float
    c: float
    gap: float
    rms: float

    def __call__(self, n):
        ln = np.log(np.asarray(n, dtype=float))
        return self.a - self.b * np.exp(-self.c * ln**2)


def _linear_fit(ln2, y, c):
    """Least squares for (a, b) at fixed c; returns (a, b, sum of squared residuals)."""
    design = np.stack([np.ones_like(ln2), -np.exp(-c * ln2)], axis=1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    return coef[0], coef[1], float(resid @ resid)


def information_gap(n: Int[AnyArray, " sizes"], entropies: Float[AnyArray, " sizes"]) -> GapFit:
    """Fit H(n) = a - b exp(-c (ln n)^2) to entropies at sizes n (>= 3 distinct sizes).

    For fixed c the model is linear in (a, b), so c is found by a scan over
    10^-6 .. 10^2 and a golden-section refinement of the least-squares residual.
    """
    n = np.asarray(n, dtype=float).reshape(-1)
    y = np.asarray(entropies, dtype=float).reshape(-1)
    if n.shape != y.shape:
        raise InputValueError(f"n and entropies differ in length: {n.size} vs {y.size}")
    keep = np.isfinite(y) & np.isfinite(n)
    n, y = n[keep], y[keep]
    if (n < 1).any():
        raise InputValueError("sizes n must be >= 1")
    if np.unique(n).size < 3:
        raise InputValueError("the information gap needs entropies at 3 or more distinct sizes")
    ln2 = np.log(n) ** 2
    grid = np.logspace(-6, 2, 161)
    sse = [_linear_fit(ln2, y, c)[2] for c in grid]
    i = int(np.argmin(sse))
    lo, hi = np.log(grid[max(i - 1, 0)]), np.log(grid[min(i + 1, grid.size - 1)])
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(60):  # golden section on log c
        m1, m2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if _linear_fit(ln2, y, np.exp(m1))[2] < _linear_fit(ln2, y, np.exp(m2))[2]:
            hi = m2
        else:
            lo = m1
    c = float(np.exp((lo + hi) / 2))
    a, b, sse_best = _linear_fit(ln2, y, c)
    return GapFit(
        a=float(a),
        b=float(b),
        c=c,
        gap=float(a - y[n == n.max()].mean()),
        rms=float(np.sqrt(sse_best / y.size)),
    )
