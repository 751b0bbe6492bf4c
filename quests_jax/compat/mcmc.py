"""``quests.mcmc`` on quests_jax: the reference's annealed random-translation Monte
Carlo, run as one jitted loop (:func:`quests_jax.generation.monte_carlo`).

Differences: ``augment_pbc`` honours ``target_dH`` (the reference scores against its
default target whatever is passed) and draws from JAX's seeded generator (``seed``
keyword, default 0) instead of NumPy's global one. The approximate variants
(``get_index``, ``compute_approx_score``, ``augment_pbc_approx``) need a pynndescent
index and are not provided: ``augment_pbc``'s exact dH costs less here.
"""

from __future__ import annotations

import random

import numpy as np

from .. import generation as _generation
from .. import information as _info
from .descriptor import DEFAULT_CUTOFF, DEFAULT_K, EPS, get_descriptors
from .entropy import DEFAULT_BANDWIDTH, DEFAULT_BATCH, DEFAULT_GRAPH_NBRS, DEFAULT_UQ_NBRS

DEFAULT_TARGET = 30

__all__ = [
    "DEFAULT_K", "DEFAULT_CUTOFF", "EPS", "DEFAULT_BANDWIDTH", "DEFAULT_BATCH",
    "DEFAULT_GRAPH_NBRS", "DEFAULT_UQ_NBRS", "DEFAULT_TARGET", "random_translation", "accept",
    "temperature_ramp", "annealing", "compute_score", "augment_pbc",
]  # fmt: skip


def random_translation(points: np.ndarray, std: float) -> np.ndarray:
    """``points`` plus Gaussian noise of standard deviation ``std`` (NumPy's generator)."""
    return points + std * np.random.randn(*np.shape(points))


def accept(new_score, old_score, kT=1):
    """Metropolis acceptance of a move from ``old_score`` to ``new_score``."""
    return bool(np.exp(-(new_score - old_score) / kT) > random.random())


def temperature_ramp(step: int, n_steps: int, cutoff: float = 0.9, tmin: float = 1e-3) -> float:
    """A linear ramp from 1 to ``tmin``, reached at ``cutoff`` of the steps."""
    return max(1 - step / (n_steps * cutoff), tmin)


def annealing(step: int, n_steps: int, n_cycles: int = 3, cutoff: float = 0.9,
              tmin: float = 1e-3) -> float:  # fmt: skip
    """The saw-tooth schedule of ``augment_pbc``: ``n_cycles`` ramps from 1 down."""
    period = n_steps // n_cycles
    return max(1 - (step % period) / period, tmin)


def compute_score(y, ref, method: str = "target", h: float = DEFAULT_BANDWIDTH,
                  batch_size: int = DEFAULT_BATCH,
                  target_dH: float = DEFAULT_TARGET) -> float:  # fmt: skip
    """Score of descriptors ``y`` against ``ref`` (lower is better): ``"target"``
    mean |dH - target_dH|, ``"greedy"`` -max dH, ``"average"`` -mean dH."""
    del batch_size
    dh = np.asarray(_info.delta_entropy(np.asarray(y), np.asarray(ref), h))
    method = method.lower()
    if method == "greedy":
        return float(-dh.max())
    if method == "average":
        return float(-dh.mean())
    if method == "target":
        return float(np.abs(dh - target_dH).mean())
    raise ValueError(f"Method {method} does not exist")


def augment_pbc(atoms, dset, n_steps: int = 1000, temperature: float = 1,
                translation_std: float = 0.02, target_dH: float = DEFAULT_TARGET,
                k: int = DEFAULT_K, cutoff: float = DEFAULT_CUTOFF, seed: int = 0):  # fmt: skip
    """(the frame of best score, (n_steps,) the score at each step): annealed Monte
    Carlo that drives the dH of ``atoms``' environments against ``dset`` toward
    ``target_dH``."""
    reference = get_descriptors(dset, k=k, cutoff=cutoff, dtype="float32")
    result = _generation.monte_carlo(
        atoms, reference, n_steps=n_steps, target=target_dH, temperature=temperature,
        step_size=translation_std, k=k, cutoff=cutoff, seed=seed,
    )  # fmt: skip
    return result.atoms, np.asarray(result.scores, dtype=np.float64)
