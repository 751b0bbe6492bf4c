"""Structures that add information to a dataset by annealed Monte Carlo (the
reference's ``quests.mcmc.augment_pbc``; the gradient-based route is
:func:`quests_jax.forces.optimize_structure`).

Each step moves every atom by a Gaussian displacement, recomputes the frame's
descriptors and its dH against the reference (in log space: finite everywhere),
and accepts by Metropolis on the score mean_i |dH_i - target| (lower is better)
at a temperature that falls linearly to ~0 three times over the run. The best
frame seen is returned. A move whose neighbour search would overflow the frame's
static capacity (atoms crowding) is rejected and counted, never used.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from .._core.array_types import Float, Rows
from .._core.settings import DescriptorSettings
from .._core.validation import check_frame, check_rows, static_pbc
from ..describe import (
    descriptor_with_overflow,
    plan_neighbors,
)
from ..information import DEFAULT_BANDWIDTH, DEFAULT_TARGET, log_kernel_sums

if TYPE_CHECKING:
    from ase import Atoms


@dataclasses.dataclass(frozen=True)
class MonteCarloResult:
    """Outcome of :func:`monte_carlo`.

    Attributes:
        atoms: the best frame found (ase.Atoms, a copy).
        best_score: its score, mean |dH - target| (nats).
        scores: (n_steps,) score of each proposed frame.
        dh: (n_atoms,) dH of the best frame's environments against the reference.
        acceptance: fraction of accepted moves.
        rejected_overflow: moves rejected because the neighbour capacity ran out.
    """

    atoms: Atoms
    best_score: float
    scores: Float[np.ndarray, " steps"]
    dh: Float[np.ndarray, " atoms"]
    acceptance: float
    rejected_overflow: int


def _annealing(step, n_steps, n_cycles=3, t_min=1e-3):
    """The reference's schedule: kT falls linearly from 1 to 0 in each of n_cycles."""
    period = max(n_steps // n_cycles, 1)
    phase = (step % period) / period
    return jnp.maximum(1.0 - phase, t_min)


@functools.partial(jax.jit, static_argnames=("pbc", "spec", "settings", "n_steps", "block_size"))
def _run(
    key,
    positions,
    cell,
    ref,
    h,
    target,
    temperature,
    step_size,
    *,
    pbc,
    spec,
    settings: DescriptorSettings,
    n_steps,
    block_size,
):
    def score_of(r):
        x, overflow = descriptor_with_overflow(
            r, cell, pbc, spec, k=settings.k, cutoff=settings.cutoff
        )
        dh = -log_kernel_sums(x, ref, h[None], block_size=block_size)[:, 0]
        return jnp.mean(jnp.abs(dh - target)), dh, overflow

    s0, dh0, _ = score_of(positions)

    def step(carry, i):
        key, r, s, best_r, best_s, best_dh, accepted, overflows = carry
        key, k_move, k_acc = jax.random.split(key, 3)
        trial = r + step_size * jax.random.normal(k_move, r.shape, r.dtype)
        s_new, dh_new, overflow = score_of(trial)
        kt = temperature * _annealing(i, n_steps)
        p = jnp.exp(-(s_new - s) / kt)
        ok = (p > jax.random.uniform(k_acc, dtype=r.dtype)) & ~overflow & jnp.isfinite(s_new)
        r = jnp.where(ok, trial, r)
        s = jnp.where(ok, s_new, s)
        better = (s_new < best_s) & ~overflow
        best_r = jnp.where(better, trial, best_r)
        best_s = jnp.where(better, s_new, best_s)
        best_dh = jnp.where(better, dh_new, best_dh)
        carry = (key, r, s, best_r, best_s, best_dh, accepted + ok, overflows + overflow)
        return carry, jnp.where(overflow, jnp.nan, s_new)

    init = (key, positions, s0, positions, s0, dh0, 0, 0)
    (_, _, _, best_r, best_s, best_dh, accepted, overflows), scores = jax.lax.scan(
        step, init, jnp.arange(n_steps)
    )
    return best_r, best_s, best_dh, scores, accepted, overflows


def monte_carlo(
    atoms: Atoms,
    reference: Rows,
    *,
    n_steps: int = 1000,
    target: float = DEFAULT_TARGET,
    temperature: float = 1.0,
    step_size: float = 0.02,
    k: int = 32,
    cutoff: float = 5.0,
    h: float = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    capacity_multiplier: float = 1.5,
    seed: int = 0,
) -> MonteCarloResult:
    """Anneal the positions of ``atoms`` (cell fixed) so that the dH of its
    environments against ``reference`` (n_ref, d) approaches ``target`` nats.

    Args:
        atoms: starting frame (ase.Atoms, any periodicity).
        reference: (n_ref, 2k - 1) descriptors of the dataset to add to.
        step_size: standard deviation of each atom's trial displacement (A).
        capacity_multiplier: neighbour-search room for atoms that move together.
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    for name, value in (("temperature", temperature), ("step_size", step_size), ("h", h)):
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be > 0, got {value}")
    settings = DescriptorSettings(k, cutoff)
    reference = np.asarray(check_rows(reference, "reference", width=settings.width))
    pbc = static_pbc(atoms.pbc)
    positions, cell = np.asarray(atoms.positions), np.asarray(atoms.cell[:])
    check_frame(positions, cell, pbc, where="atoms: ")
    spec = plan_neighbors(
        positions, cell, pbc, cutoff=settings.cutoff, capacity_multiplier=capacity_multiplier
    )
    dtype = reference.dtype if reference.dtype in (np.float32, np.float64) else np.float32
    best_r, best_s, best_dh, scores, accepted, overflows = _run(
        jax.random.PRNGKey(seed),
        jnp.asarray(positions, dtype),
        jnp.asarray(cell, dtype),
        jnp.asarray(reference, dtype),
        jnp.asarray(h, dtype),
        jnp.asarray(target, dtype),
        jnp.asarray(temperature, dtype),
        jnp.asarray(step_size, dtype),
        pbc=pbc,
        spec=spec,
        settings=settings,
        n_steps=n_steps,
        block_size=batch_size,
    )
    best = atoms.copy()
    best.positions = np.asarray(best_r, dtype=np.float64)
    return MonteCarloResult(
        atoms=best,
        best_score=float(best_s),
        scores=np.asarray(scores),
        dh=np.asarray(best_dh),
        acceptance=float(accepted) / n_steps,
        rejected_overflow=int(overflows),
    )
