"""Structures that add information to a dataset by annealed Monte Carlo (the
reference's ``quests.mcmc.augment_pbc``; the gradient-based route is
:func:`quests_jax.forces.optimize_structure`).

Each step moves every atom by a Gaussian displacement, recomputes the frame's
descriptors and its dH against the reference (in log space: finite everywhere),
and accepts by Metropolis on the score mean_i |dH_i - target| (lower is better)
at a temperature that falls linearly to ~0 three times over the run. The best
frame seen is returned, its dH and score recomputed exactly (the chain compares
scores from plain float32 distances against a reference prepared once, in blocks
(``information.prepare_reference_blocks`` / ``prepared_log_sums``: one matmul and
one exponential pass per block, ~3x faster than the streamed, per-row-exact sums;
its programs depend on the reference's number of blocks, not of rows). A move
whose neighbour search would overflow the frame's static capacity (atoms crowding) is
rejected and counted, never used.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from .._core.array_types import Float, Rows
from .._core.errors import InputValueError
from .._core.program_store import stored_jit
from .._core.progress import Progress
from .._core.settings import DescriptorSettings
from .._core.validation import check_frame, check_rows, static_pbc
from ..describe import (
    NeighborSpec,
    descriptor_with_overflow,
    get_descriptors,
    plan_neighbors,
)
from ..information import (
    DEFAULT_BANDWIDTH,
    DEFAULT_TARGET,
    delta_entropy,
    prepare_reference_blocks,
    prepared_log_sums,
)

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
    period = jnp.maximum(n_steps // n_cycles, 1)  # n_steps may be traced
    phase = (step % period) / period
    return jnp.maximum(1.0 - phase, t_min)


SEGMENT = 50
"""Monte Carlo steps per compiled call: the program does not depend on the number of
steps, and a progress bar advances between calls."""


@dataclasses.dataclass(frozen=True)
class _Chain:
    """The chain's static configuration: the frame's periodicity, its neighbour search,
    the descriptor's settings."""

    pbc: tuple[bool, bool, bool]
    spec: NeighborSpec
    settings: DescriptorSettings


def _score(r, cell, reference, target, chain: _Chain):
    settings = chain.settings
    x, overflow = descriptor_with_overflow(
        r, cell, chain.pbc, chain.spec, k=settings.k, cutoff=settings.cutoff
    )
    dh = -prepared_log_sums(x, reference)[:, 0]
    return jnp.mean(jnp.abs(dh - target)), dh, overflow


@stored_jit(static_argnames=("chain",))
def _start(key, positions, cell, reference, target, *, chain: _Chain):
    """The chain's first state: (key, r, s, best_r, best_s, best_dh, accepted, overflows)."""
    s0, dh0, _ = _score(positions, cell, reference, target, chain)
    return (key, positions, s0, positions, s0, dh0, 0, 0)


@stored_jit(static_argnames=("chain", "length"))
def _segment(
    carry, first, n_steps, cell, reference, target, temperature, step_size, *, chain: _Chain, length
):
    """Steps first .. first + length - 1 of the chain (those >= n_steps change nothing):
    (carry, scores (length,))."""

    def step(carry, i):
        key, r, s, best_r, best_s, best_dh, accepted, overflows = carry
        active = i < n_steps
        key, k_move, k_acc = jax.random.split(key, 3)
        trial = r + step_size * jax.random.normal(k_move, r.shape, r.dtype)
        s_new, dh_new, overflow = _score(trial, cell, reference, target, chain)
        kt = temperature * _annealing(i, n_steps)
        p = jnp.exp(-(s_new - s) / kt)
        ok = (p > jax.random.uniform(k_acc, dtype=r.dtype)) & ~overflow & jnp.isfinite(s_new)
        ok = ok & active
        r = jnp.where(ok, trial, r)
        s = jnp.where(ok, s_new, s)
        better = (s_new < best_s) & ~overflow & active
        best_r = jnp.where(better, trial, best_r)
        best_s = jnp.where(better, s_new, best_s)
        best_dh = jnp.where(better, dh_new, best_dh)
        overflows = overflows + (overflow & active)
        carry = (key, r, s, best_r, best_s, best_dh, accepted + ok, overflows)
        return carry, jnp.where(overflow, jnp.nan, s_new)

    return jax.lax.scan(step, carry, first + jnp.arange(length))


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
    progress: bool | None = None,
) -> MonteCarloResult:
    """Anneal the positions of ``atoms`` (cell fixed) so that the dH of its
    environments against ``reference`` (n_ref, d) approaches ``target`` nats.

    Args:
        atoms: starting frame (ase.Atoms, any periodicity).
        reference: (n_ref, 2k - 1) descriptors of the dataset to add to.
        step_size: standard deviation of each atom's trial displacement (A).
        batch_size: reference rows per block of the chain's kernel sums (default
            4,096: :func:`quests_jax.information.prepare_reference_blocks`).
        capacity_multiplier: neighbour-search room for atoms that move together.
        progress: a progress bar (default: on a terminal, for runs longer than ~2 s).
    """
    if n_steps < 1:
        raise InputValueError(f"n_steps must be >= 1, got {n_steps}")
    for name, value in (("temperature", temperature), ("step_size", step_size), ("h", h)):
        if not np.isfinite(value) or value <= 0:
            raise InputValueError(f"{name} must be > 0, got {value}")
    settings = DescriptorSettings(k, cutoff)
    reference = np.asarray(check_rows(reference, "reference", width=settings.width))
    pbc = static_pbc(atoms.pbc)
    positions, cell = np.asarray(atoms.positions), np.asarray(atoms.cell[:])
    check_frame(positions, cell, pbc, where="atoms: ")
    spec = plan_neighbors(
        positions, cell, pbc, cutoff=settings.cutoff, capacity_multiplier=capacity_multiplier
    )
    dtype = reference.dtype if reference.dtype in (np.float32, np.float64) else np.float32
    chain = _Chain(pbc, spec, settings)
    cell_, target_ = jnp.asarray(cell, dtype), jnp.asarray(target, dtype)
    prepared = prepare_reference_blocks(reference, h, batch_size, dtype)
    carry = _start(
        jax.random.PRNGKey(seed),
        jnp.asarray(positions, dtype),
        cell_,
        prepared,
        target_,
        chain=chain,
    )
    parts = []
    with Progress(n_steps, "Monte Carlo", unit="steps", enabled=progress) as bar:
        for first in range(0, n_steps, SEGMENT):
            carry, part = _segment(
                carry,
                first,
                n_steps,
                cell_,
                prepared,
                target_,
                jnp.asarray(temperature, dtype),
                jnp.asarray(step_size, dtype),
                chain=chain,
                length=SEGMENT,
            )
            parts.append(np.asarray(part))
            bar.update(min(SEGMENT, n_steps - first))
    _, _, _, best_r, _, _, accepted, overflows = carry
    scores = np.concatenate(parts)[:n_steps]
    best = atoms.copy()
    best.positions = np.asarray(best_r, dtype=np.float64)
    best_dh = np.asarray(
        delta_entropy(get_descriptors([best], k=k, cutoff=cutoff, dtype=dtype), reference, h)
    )
    return MonteCarloResult(
        atoms=best,
        best_score=float(np.mean(np.abs(best_dh - target))),
        scores=scores,
        dh=best_dh,
        acceptance=float(accepted) / n_steps,
        rejected_overflow=int(overflows),
    )
