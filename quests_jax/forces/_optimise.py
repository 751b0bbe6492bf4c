"""Structures that add information to a dataset by gradient ascent (optax) on any
:class:`~quests_jax.forces.CollectiveVariable` of the frame (the entropy a frame gives a
dataset, its mean dH against it, ...), under a physical guard so that atoms do not
collapse: a short-range repulsion by default, or any JAX energy. (The Monte Carlo
route is :func:`quests_jax.tools.monte_carlo`.)
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._core.array_types import Array, Cell, Float, Positions
from .._core.errors import InputValueError
from .._core.retry import until_it_fits
from .._core.validation import check_frame, check_positive, static_pbc
from ..describe import (
    map_neighbor_chunks,
    safe_norm,
)
from .jaxmd import jax_md_float64_warnings_ignored

if TYPE_CHECKING:
    from collections.abc import Callable

    import optax
    from ase import Atoms

    from ._collective import CollectiveVariable


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

    atoms: Atoms
    objective: Float[np.ndarray, " steps_plus_1"]
    guard: Float[np.ndarray, " steps_plus_1"]
    min_distance: float
    replans: int


def repulsion(
    cv: CollectiveVariable, positions: Positions, cell: Cell, r_min: float, strength: float
):
    """Guard energy strength * sum over pairs closer than r_min of (1 - r/r_min)^3,
    from the CV's own k-nearest-neighbour search (each pair counted once)."""

    def rows(query, vectors, index, shift, valid):
        r = safe_norm(vectors)
        overlap = jnp.where(valid & (r < r_min), 1.0 - r / r_min, 0.0)
        return jnp.sum(overlap**3, axis=1)

    per_atom, _ = map_neighbor_chunks(
        rows,
        positions,
        cell,
        cv.pbc,
        cv.spec,
        k=cv.settings.search_k,
        cutoff=cv.settings.search_cutoff,
    )
    return 0.5 * strength * jnp.sum(per_atom)


@jax_md_float64_warnings_ignored()  # guards are often jax-md energies (forces.jaxmd)
def optimize_structure(
    atoms: Atoms,
    cv: CollectiveVariable,
    *,
    n_steps: int = 300,
    learning_rate: float = 0.01,
    guard: Callable[[Array, Array], Array] | None = None,
    r_min: float = 2.0,
    guard_strength: float = 10.0,
    target: float | None = None,
    chunk: int = 50,
    optimizer: optax.GradientTransformation | None = None,
) -> OptimizationResult:
    """Move the atoms of ``atoms`` (cell fixed) to maximise ``cv(positions, cell)``, or
    to bring every environment's dH to ``target``.

    The loss is -cv + guard (or mean_i (dH_i - target)^2 + guard), minimised by Adam
    (optax) in jitted chunks of ``chunk`` steps; between chunks, a frame that outgrew
    the CV's neighbour search gets a larger one and the chunk is redone from its
    start (never a silently wrong step).

    Args:
        atoms: starting frame (ase.Atoms; its periodicity must match the CV's).
        cv: a :class:`~quests_jax.forces.CollectiveVariable`, e.g.
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
    _check_optimisation(cv, n_steps, learning_rate, r_min, target)
    pbc = static_pbc(atoms.pbc)
    if pbc != cv.pbc:
        raise InputValueError(f"atoms.pbc {pbc} differs from the CV's pbc {cv.pbc}")
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

        def attempt(cv, r=r, opt_state=opt_state, length=length):
            out = _optimization_steps(
                cv, guard, optimizer, target is not None, length, r, c, opt_state, settings
            )
            return out, bool(out[5]) or not np.isfinite(np.asarray(out[2])).all()

        def replan(cv, r=r):  # redo this chunk with a search sized for where it starts
            nonlocal replans
            replans += 1
            return cv.replanned(np.asarray(r), cell)

        (new_r, new_state, v, g, last, _), cv = until_it_fits(
            attempt, cv, replan, what="the neighbour search (atoms collapsing?)"
        )
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


def _check_optimisation(cv, n_steps, learning_rate, r_min, target) -> None:
    """optimize_structure's arguments (and optax), before any work."""
    try:
        import optax  # noqa: F401  (needed by the steps; fail here, with a hint)
    except ImportError as err:
        raise ImportError(
            "optimize_structure uses optax: pip install 'quests_jax[generate]' (or optax)"
        ) from err
    if isinstance(n_steps, bool) or int(n_steps) != n_steps or n_steps < 1:
        raise InputValueError(f"n_steps must be a positive integer, got {n_steps}")
    check_positive(learning_rate, "learning_rate")
    check_positive(r_min, "r_min")
    if target is not None:
        if not np.isfinite(target):
            raise InputValueError(f"target must be a finite number (nats) or None, got {target}")
        if cv.reference is None:
            raise InputValueError("a dH target needs a CV with a reference set")


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
