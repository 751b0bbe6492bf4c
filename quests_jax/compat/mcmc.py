"""``quests.mcmc`` on quests_jax: the reference's annealed random-translation Monte
Carlo, run as one jitted loop (:func:`quests_jax.tools.monte_carlo`).

Differences: ``augment_pbc`` honours ``target_dH`` (the reference scores against its
default target whatever is passed) and draws from JAX's seeded generator (``seed``
keyword, default 0) instead of NumPy's global one. ``get_index`` returns an exact
nearest-neighbour index with pynndescent's ``query``, so ``compute_approx_score`` is
the n-nearest score without approximation; ``augment_pbc_approx`` runs
``augment_pbc``'s Monte Carlo on the index's data (exact dH against all of it, which
the n-nearest score approximates).
"""

from __future__ import annotations

import random

import numpy as np

from .. import information as _info
from .. import tools as _tools
from .._core.errors import InputValueError
from .descriptor import DEFAULT_CUTOFF, DEFAULT_K, EPS, get_descriptors
from .entropy import (
    DEFAULT_BANDWIDTH,
    DEFAULT_BATCH,
    DEFAULT_GRAPH_NBRS,
    DEFAULT_UQ_NBRS,
    nearest_rows,
)

DEFAULT_TARGET = 30

__all__ = [
    "DEFAULT_K",
    "DEFAULT_CUTOFF",
    "EPS",
    "DEFAULT_BANDWIDTH",
    "DEFAULT_BATCH",
    "DEFAULT_GRAPH_NBRS",
    "DEFAULT_UQ_NBRS",
    "DEFAULT_TARGET",
    "random_translation",
    "accept",
    "temperature_ramp",
    "annealing",
    "compute_score",
    "augment_pbc",
    "get_index",
    "compute_approx_score",
    "augment_pbc_approx",
]


def random_translation(points: np.ndarray, std: float) -> np.ndarray:
    """``points`` plus Gaussian noise of standard deviation ``std`` (NumPy's generator)."""
    return points + std * np.random.randn(*np.shape(points))


def accept(new_score, old_score, kT=1):
    """Metropolis acceptance of a move from ``old_score`` to ``new_score``."""
    return bool(np.exp(-(new_score - old_score) / kT) > random.random())


def temperature_ramp(step: int, n_steps: int, cutoff: float = 0.9, tmin: float = 1e-3) -> float:
    """A linear ramp from 1 to ``tmin``, reached at ``cutoff`` of the steps."""
    return max(1 - step / (n_steps * cutoff), tmin)


def annealing(
    step: int, n_steps: int, n_cycles: int = 3, cutoff: float = 0.9, tmin: float = 1e-3
) -> float:
    """The saw-tooth schedule of ``augment_pbc``: ``n_cycles`` ramps from 1 down."""
    period = n_steps // n_cycles
    return max(1 - (step % period) / period, tmin)


def compute_score(
    y,
    ref,
    method: str = "target",
    h: float = DEFAULT_BANDWIDTH,
    batch_size: int = DEFAULT_BATCH,
    target_dH: float = DEFAULT_TARGET,
) -> float:
    """Score of descriptors ``y`` against ``ref`` (lower is better): ``"target"``
    mean |dH - target_dH|, ``"greedy"`` -max dH, ``"average"`` -mean dH."""
    del batch_size
    return _score(
        np.asarray(_info.delta_entropy(np.asarray(y), np.asarray(ref), h)), method, target_dH
    )


def _score(dh, method: str, target_dH: float) -> float:
    method = method.lower()
    if method == "greedy":
        return float(-dh.max())
    if method == "average":
        return float(-dh.mean())
    if method == "target":
        return float(np.abs(dh - target_dH).mean())
    raise InputValueError(f"Method {method} does not exist")


class ExactIndex:
    """What the reference's ``get_index`` returns (a pynndescent index), exact:
    ``query(y, k)`` gives (indices (M, k), distances (M, k)) of the k nearest rows."""

    def __init__(self, x):
        self.data = np.asarray(x)

    def prepare(self):
        return None

    def query(self, y, k: int = 10):
        return nearest_rows(y, self.data, k)


def get_index(x, graph_neighbors: int = DEFAULT_GRAPH_NBRS, **kwargs) -> ExactIndex:
    """An exact nearest-neighbour index of the rows of x (pynndescent's keywords are
    accepted and have no effect)."""
    del graph_neighbors, kwargs
    return ExactIndex(x)


def compute_approx_score(
    y,
    index,
    method: str = "target",
    h: float = DEFAULT_BANDWIDTH,
    batch_size: int = DEFAULT_BATCH,
    target_dH: float = DEFAULT_TARGET,
    n: int = DEFAULT_UQ_NBRS,
) -> float:
    """:func:`compute_score` from the n nearest rows of the index only."""
    del batch_size
    _, d = index.query(np.asarray(y), k=n)
    dh = -np.log(np.exp(-0.5 * (d / h) ** 2).sum(axis=1))
    return _score(dh, method, target_dH)


def augment_pbc_approx(
    atoms,
    index,
    n_steps: int = 100,
    temperature: float = 1,
    translation_std: float = 0.02,
    target_dH: float = DEFAULT_TARGET,
    k: int = DEFAULT_K,
    cutoff: float = DEFAULT_CUTOFF,
    seed: int = 0,
):
    """:func:`augment_pbc` against the data of ``index`` (from :func:`get_index`)."""
    result = _tools.monte_carlo(
        atoms,
        np.asarray(index.data, np.float32),
        n_steps=n_steps,
        target=target_dH,
        temperature=temperature,
        step_size=translation_std,
        k=k,
        cutoff=cutoff,
        seed=seed,
    )
    return result.atoms, np.asarray(result.scores, dtype=np.float64)


def augment_pbc(
    atoms,
    dset,
    n_steps: int = 1000,
    temperature: float = 1,
    translation_std: float = 0.02,
    target_dH: float = DEFAULT_TARGET,
    k: int = DEFAULT_K,
    cutoff: float = DEFAULT_CUTOFF,
    seed: int = 0,
):
    """(the frame of best score, (n_steps,) the score at each step): annealed Monte
    Carlo that drives the dH of ``atoms``' environments against ``dset`` toward
    ``target_dH``."""
    reference = get_descriptors(dset, k=k, cutoff=cutoff, dtype="float32")
    result = _tools.monte_carlo(
        atoms,
        reference,
        n_steps=n_steps,
        target=target_dH,
        temperature=temperature,
        step_size=translation_std,
        k=k,
        cutoff=cutoff,
        seed=seed,
    )
    return result.atoms, np.asarray(result.scores, dtype=np.float64)
