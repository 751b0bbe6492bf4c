"""Structures that add information to a dataset.

Two routes:

* :func:`monte_carlo`: annealed Monte Carlo on atomic positions that drives a frame's
  dH against a reference set toward a target (the reference's
  ``quests.mcmc.augment_pbc``), as one jitted ``lax.scan``;
* :func:`optimize_structure`: gradient ascent (optax) on any
  :class:`~quests_jax.collective.CollectiveVariable` of the frame (the entropy a frame
  gives a dataset, its mean dH against it, ...), under a physical guard so that atoms
  do not collapse: a short-range repulsion by default, or any JAX energy.

Monte Carlo:

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

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .descriptors import descriptor_with_overflow, search_cutoff, search_k
from .geometry import safe_norm
from .information import DEFAULT_BANDWIDTH, DEFAULT_TARGET
from .jaxmd import ignore_jax_md_float64_warnings
from .kernels import log_kernel_sums
from .neighbors import map_neighbor_chunks, plan_neighbors
from .validation import check_frame, static_pbc

ignore_jax_md_float64_warnings()  # guards are often jax-md energies (quests_jax.jaxmd)


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

    atoms: object
    best_score: float
    scores: np.ndarray
    dh: np.ndarray
    acceptance: float
    rejected_overflow: int


def _annealing(step, n_steps, n_cycles=3, t_min=1e-3):
    """The reference's schedule: kT falls linearly from 1 to 0 in each of n_cycles."""
    period = max(n_steps // n_cycles, 1)
    phase = (step % period) / period
    return jnp.maximum(1.0 - phase, t_min)


@functools.partial(jax.jit, static_argnames=("pbc", "spec", "k", "cutoff", "n_steps", "block"))
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
    k,
    cutoff,
    n_steps,
    block,
):
    def score_of(r):
        x, overflow = descriptor_with_overflow(r, cell, pbc, spec, k=k, cutoff=cutoff)
        dh = -log_kernel_sums(x, ref, h[None], block_size=block)[:, 0]
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
    atoms,
    reference,
    *,
    n_steps: int = 1000,
    target: float = DEFAULT_TARGET,
    temperature: float = 1.0,
    step_size: float = 0.02,
    k: int = 32,
    cutoff: float = 5.0,
    h=DEFAULT_BANDWIDTH,
    batch_size=None,
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
    reference = np.asarray(reference)
    if reference.ndim != 2 or reference.shape[1] != 2 * k - 1 or reference.shape[0] == 0:
        raise ValueError(f"reference must be (n, {2 * k - 1}) descriptors, got {reference.shape}")
    pbc = static_pbc(atoms.pbc)
    positions, cell = np.asarray(atoms.positions), np.asarray(atoms.cell[:])
    check_frame(positions, cell, pbc, where="atoms: ")
    spec = plan_neighbors(
        positions, cell, pbc, cutoff=cutoff, capacity_multiplier=capacity_multiplier
    )
    dtype = reference.dtype if reference.dtype in (np.float32, np.float64) else np.float32
    best_r, best_s, best_dh, scores, accepted, overflows = _run(
        jax.random.PRNGKey(seed), jnp.asarray(positions, dtype), jnp.asarray(cell, dtype),
        jnp.asarray(reference, dtype), jnp.asarray(h, dtype), jnp.asarray(target, dtype),
        jnp.asarray(temperature, dtype), jnp.asarray(step_size, dtype),
        pbc=pbc, spec=spec, k=k, cutoff=cutoff, n_steps=n_steps, block=batch_size,
    )  # fmt: skip
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


# --------------------------------------------------------------------------------------
# gradient-based generation


@dataclasses.dataclass(frozen=True)
class OptimizationResult:
    """Outcome of :func:`optimize_structure`.

    Attributes:
        atoms: the optimised frame (ase.Atoms, a copy; positions wrapped if periodic).
        objective: (n_steps + 1,) the CV at the start and after each step (nats); with
            a target, mean_i |dH_i - target| instead (the reference's score).
        guard: (n_steps + 1,) the guard energy along the way.
        min_distance: shortest interatomic distance of the result (A).
        replans: times the neighbour search was resized on the way.
    """

    atoms: object
    objective: np.ndarray
    guard: np.ndarray
    min_distance: float
    replans: int


def repulsion(cv, positions, cell, r_min: float, strength: float):
    """Guard energy strength * sum over pairs closer than r_min of (1 - r/r_min)^3,
    from the CV's own k-nearest-neighbour search (each pair counted once)."""

    def rows(query, vectors, index, shift, valid):
        r = safe_norm(vectors)
        overlap = jnp.where(valid & (r < r_min), 1.0 - r / r_min, 0.0)
        return jnp.sum(overlap**3, axis=1)

    per_atom, _ = map_neighbor_chunks(
        rows, positions, cell, cv.pbc, cv.spec, k=search_k(cv.k, cv.smooth),
        cutoff=search_cutoff(cv.cutoff, cv.smooth),
    )  # fmt: skip
    return 0.5 * strength * jnp.sum(per_atom)


def optimize_structure(
    atoms,
    cv,
    *,
    n_steps: int = 300,
    learning_rate: float = 0.01,
    guard=None,
    r_min: float = 2.0,
    guard_strength: float = 10.0,
    target: float | None = None,
    chunk: int = 50,
    optimizer=None,
) -> OptimizationResult:
    """Move the atoms of ``atoms`` (cell fixed) to maximise ``cv(positions, cell)``, or
    to bring every environment's dH to ``target``.

    The loss is -cv + guard (or mean_i (dH_i - target)^2 + guard), minimised by Adam
    (optax) in jitted chunks of ``chunk`` steps; between chunks, a frame that outgrew
    the CV's neighbour search gets a larger one and the chunk is redone from its
    start (never a silently wrong step).

    Args:
        atoms: starting frame (ase.Atoms; its periodicity must match the CV's).
        cv: a :class:`~quests_jax.collective.CollectiveVariable`, e.g.
            ``collective_variable("entropy", ..., reference=x_dataset)`` (the entropy
            the frame gives the dataset) or ``"dH_mean"`` against it.
        learning_rate: Adam step (A).
        guard: None for :func:`repulsion` (``guard_strength`` nats x (1 - r/r_min)^3
            per pair closer than ``r_min`` A), or any JAX function
            ``guard(positions, cell)`` in nats, e.g. a scaled interatomic potential.
        target: None to maximise the CV; or a dH (nats) that every environment should
            reach against the CV's reference (the score of the reference package's
            Monte Carlo, squared). dH grows without bound as atoms crowd (descriptor
            entries grow as 1/r), so maximising a dH CV needs a strong guard; the
            entropy a frame gives a dataset is bounded and can be maximised.
        optimizer: an optax ``GradientTransformation`` replacing Adam.
    """
    try:
        import optax  # noqa: F401  (needed by the steps; fail here, with a hint)
    except ImportError as err:
        raise ImportError(
            "optimize_structure uses optax: pip install 'quests_jax[md]' (or optax)"
        ) from err
    if isinstance(n_steps, bool) or int(n_steps) != n_steps or n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps}")
    for name, value in (("learning_rate", learning_rate), ("r_min", r_min)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value}")
    if target is not None:
        if not np.isfinite(target):
            raise ValueError(f"target must be a finite number (nats) or None, got {target}")
        if cv.reference is None:
            raise ValueError("a dH target needs a CV with a reference set")
    pbc = static_pbc(atoms.pbc)
    if pbc != cv.pbc:
        raise ValueError(f"atoms.pbc {pbc} differs from the CV's pbc {cv.pbc}")
    positions, cell = np.asarray(atoms.positions), np.asarray(atoms.cell[:])
    check_frame(positions, cell, pbc, where="atoms: ")
    dtype = cv.reference.dtype if cv.reference is not None else jnp.result_type(float)
    optimizer = optimizer or _adam(float(learning_rate))

    r = jnp.asarray(positions, dtype)
    c = jnp.asarray(cell, dtype)
    opt_state = optimizer.init(r)
    settings = (
        jnp.asarray(r_min, dtype),
        jnp.asarray(guard_strength, dtype),
        jnp.asarray(0.0 if target is None else target, dtype),
    )
    values, guards, replans, done = [], [], 0, 0
    while done < n_steps:
        length = min(int(chunk), int(n_steps) - done)
        new_r, new_state, v, g, last, overflow = _optimization_steps(
            cv, guard, optimizer, target is not None, length, r, c, opt_state, settings
        )
        if bool(overflow) or not np.isfinite(np.asarray(v)).all():
            if replans >= 10:
                raise RuntimeError("the neighbour search kept overflowing (atoms collapsing?)")
            cv = cv.replanned(np.asarray(r), cell)  # redo this chunk with more room
            replans += 1
            continue
        r, opt_state, done = new_r, new_state, done + length
        values.append(np.asarray(v))
        guards.append(np.asarray(g))
    values.append(np.atleast_1d(np.asarray(last[0])))
    guards.append(np.atleast_1d(np.asarray(last[1])))
    result = atoms.copy()
    result.positions = np.asarray(r, dtype=np.float64)
    if any(pbc):
        result.wrap()
    return OptimizationResult(
        atoms=result,
        objective=np.concatenate(values),
        guard=np.concatenate(guards),
        min_distance=_min_distance(result),
        replans=replans,
    )


@functools.lru_cache(maxsize=32)
def _adam(learning_rate: float):
    """One Adam per learning rate, so that repeated calls reuse the compiled steps."""
    import optax

    return optax.adam(learning_rate)


@eqx.filter_jit
def _optimization_steps(cv, guard, optimizer, has_target, length, r, c, opt_state, settings):
    """``length`` optimiser steps (one compiled scan per CV configuration, guard,
    optimiser and length; the CV's reference and the settings are traced)."""
    import optax

    r_min, guard_strength, target = settings

    def loss(r):
        g = repulsion(cv, r, c, r_min, guard_strength) if guard is None else guard(r, c)
        if not has_target:
            value = cv(r, c)
            return -value + g, (value, g)
        dh = cv.delta_entropy(r, c)
        return jnp.mean((dh - target) ** 2) + g, (jnp.mean(jnp.abs(dh - target)), g)

    def one(carry, _):
        r, opt_state = carry
        (_, aux), grad = jax.value_and_grad(loss, has_aux=True)(r)
        updates, opt_state = optimizer.update(grad, opt_state, r)
        return (optax.apply_updates(r, updates), opt_state), aux

    (r, opt_state), (values, guards) = jax.lax.scan(one, (r, opt_state), None, length)
    return r, opt_state, values, guards, loss(r)[1], cv.overflow(r, c)


def _min_distance(atoms) -> float:
    """Shortest interatomic distance (A), periodic images included (ASE)."""
    from ase.neighborlist import neighbor_list

    if len(atoms) < 2 and not any(atoms.pbc):
        return float("inf")
    for radius in (3.0, 6.0, 12.0):
        d = neighbor_list("d", atoms, radius)
        if d.size:
            return float(d.min())
    return float("inf")
