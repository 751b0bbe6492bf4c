"""Well-tempered metadynamics in pure JAX, for any JAX-MD integrator.

The bias is a sum of Gaussian hills in collective-variable space,

    V(s) = sum_k w_k exp(-sum_d (s_d - c_kd)^2 / (2 sigma_d^2)),

with a hill deposited every ``stride`` steps at the current s, of height
w = w0 exp(-V(s) / ((gamma - 1) kT)) (well-tempered: hills shrink where bias has piled
up, and V converges to -(1 - 1/gamma) F(s)). Hills live in a fixed-size buffer
(:class:`Hills`, a pytree), so a whole run is one ``lax.scan``; deposits beyond the
capacity are refused and counted in ``Hills.dropped``, never silently lost.

Use with JAX-MD (the integrator passes keyword arguments on to the energy)::

    energy_fn = biased_energy_fn(base_energy, cv_fn, params)   # energy(R, hills=..., **kw)
    init, apply = simulate.nvt_langevin(energy_fn, shift, dt, kT)
    hills = Hills.empty(capacity=n_deposits)
    state = init(key, R, hills=hills)
    cv_of_state = lambda st: cv_fn(st.position)
    state, hills, trace = run(apply, state, hills, cv_of_state, params, n_deposits)

``cv_fn`` is any differentiable function of positions returning a scalar or (n_cv,):
an entropy or dH :class:`~quests_jax.forces.CollectiveVariable` (via
:func:`quests_jax.forces.jaxmd.bias_energy_fn`'s frame conventions), a distance, ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._core.array_types import AnyArray, Array, Float, Int
from .._core.errors import InputValueError
from .._core.validation import check_positive

if TYPE_CHECKING:
    from typing import Any


class WellTempered(eqx.Module):
    """Parameters of well-tempered metadynamics (static).

    Attributes:
        height: initial hill height w0 (energy units).
        sigma: hill widths, one per CV component (CV units).
        bias_factor: gamma > 1; the CV samples at an effective temperature gamma T.
        kT: thermal energy of the simulation (energy units).
        stride: integration steps between deposits.
    """

    height: float = eqx.field(static=True)
    sigma: tuple[float, ...] = eqx.field(static=True)
    bias_factor: float = eqx.field(static=True)
    kT: float = eqx.field(static=True)
    stride: int = eqx.field(static=True)

    def __init__(self, height, sigma, bias_factor, kT, stride):
        sigma = tuple(float(s) for s in np.atleast_1d(sigma))
        check_positive(height, "height")
        check_positive(kT, "kT")
        if not all(np.isfinite(s) and s > 0 for s in sigma):
            raise InputValueError(f"sigma must be > 0 in every component, got {sigma}")
        if not (np.isfinite(bias_factor) and bias_factor > 1):
            raise InputValueError(f"bias_factor must be > 1 (well-tempered), got {bias_factor}")
        if isinstance(stride, bool) or int(stride) != stride or stride < 1:
            raise InputValueError(f"stride must be a positive integer, got {stride}")
        self.height = float(height)
        self.sigma = sigma
        self.bias_factor = float(bias_factor)
        self.kT = float(kT)
        self.stride = int(stride)


class Hills(eqx.Module):
    """Deposited hills in a fixed-size buffer.

    Attributes:
        centers: (capacity, n_cv) CV values where hills were deposited.
        heights: (capacity,) their heights; 0 for empty slots.
        count: () number of hills deposited.
        dropped: () deposits refused because the buffer was full.
    """

    centers: Float[Array, "capacity cvs"]
    heights: Float[Array, " capacity"]
    count: Int[Array, ""]
    dropped: Int[Array, ""]

    @classmethod
    def empty(cls, capacity: int, n_cv: int = 1, dtype=None) -> Hills:
        if int(capacity) < 1:
            raise InputValueError(f"capacity must be >= 1, got {capacity}")
        dtype = dtype or jnp.result_type(float)
        return cls(
            jnp.zeros((int(capacity), int(n_cv)), dtype),
            jnp.zeros((int(capacity),), dtype),
            jnp.zeros((), jnp.int32),
            jnp.zeros((), jnp.int32),
        )


def _as_cv_vector(s, n_cv):
    s = jnp.atleast_1d(s)
    if s.shape != (n_cv,):
        raise InputValueError(f"the CV has shape {s.shape}, the hills expect ({n_cv},)")
    return s


def bias_potential(
    hills: Hills, s: Float[AnyArray, " cvs"] | Float[AnyArray, ""] | float, params: WellTempered
):
    """V(s): the sum of the hills at CV value ``s`` (scalar or (n_cv,))."""
    s_vec = _as_cv_vector(s, hills.centers.shape[1])
    sigma = jnp.asarray(params.sigma, hills.centers.dtype)
    z = (s_vec[None, :] - hills.centers) / sigma
    return jnp.sum(hills.heights * jnp.exp(-0.5 * jnp.sum(z * z, axis=1)))


def deposit(
    hills: Hills, s: Float[AnyArray, " cvs"] | Float[AnyArray, ""] | float, params: WellTempered
) -> Hills:
    """``hills`` plus one at ``s``, of well-tempered height; refused (and counted in
    ``dropped``) when the buffer is full."""
    s = jax.lax.stop_gradient(_as_cv_vector(s, hills.centers.shape[1]))
    v = bias_potential(hills, s, params)
    height = params.height * jnp.exp(-v / ((params.bias_factor - 1.0) * params.kT))
    room = hills.count < hills.heights.shape[0]
    slot = jnp.minimum(hills.count, hills.heights.shape[0] - 1)
    centers = hills.centers.at[slot].set(jnp.where(room, s, hills.centers[slot]))
    heights = hills.heights.at[slot].set(jnp.where(room, height, hills.heights[slot]))
    return Hills(centers, heights, hills.count + room, hills.dropped + (~room))


def free_energy(
    hills: Hills,
    grid: Float[AnyArray, "points cvs"] | Float[AnyArray, " points"],
    params: WellTempered,
):
    """Estimate F(s) = -gamma / (gamma - 1) V(s) on ``grid`` (G,) or (G, n_cv),
    shifted to a minimum of 0."""
    grid = jnp.asarray(grid)
    grid = grid[:, None] if grid.ndim == 1 else grid
    v = jax.vmap(lambda s: bias_potential(hills, s, params))(grid)
    f = -params.bias_factor / (params.bias_factor - 1.0) * v
    return f - jnp.min(f)


def biased_energy_fn(energy_fn: Callable, cv_fn: Callable, params: WellTempered) -> Callable:
    """``energy(R, hills=..., **kwargs) = energy_fn(R, **kwargs) + V(cv_fn(R, **kwargs))``.

    JAX-MD integrators pass keyword arguments of ``apply_fn(state, **kwargs)`` on to the
    energy, so ``hills`` travels with each step and the bias stays a pure function.
    """

    def energy(R, hills: Hills, **kwargs):
        return energy_fn(R, **kwargs) + bias_potential(hills, cv_fn(R, **kwargs), params)

    return energy


def run(
    apply_fn: Callable,
    state: Any,
    hills: Hills,
    cv_of_state: Callable,
    params: WellTempered,
    n_deposits: int,
    **kwargs,
):
    """``n_deposits * params.stride`` steps of ``apply_fn(state, hills=hills, **kwargs)``,
    depositing a hill at ``cv_of_state(state)`` after every ``stride`` steps.

    One ``lax.scan``: jit the call (or a function around it) to compile it once.
    Returns (state, hills, trace) with trace (n_deposits, n_cv) the CV at each deposit.
    """
    if int(n_deposits) < 1:
        raise InputValueError(f"n_deposits must be >= 1, got {n_deposits}")

    def block(carry, _):
        state, hills = carry
        state = jax.lax.fori_loop(
            0, params.stride, lambda i, st: apply_fn(st, hills=hills, **kwargs), state
        )
        s = jnp.atleast_1d(cv_of_state(state))
        return (state, deposit(hills, s, params)), s

    (state, hills), trace = jax.lax.scan(block, (state, hills), None, length=int(n_deposits))
    return state, hills, trace


__all__ = [
    "Hills",
    "WellTempered",
    "bias_potential",
    "biased_energy_fn",
    "deposit",
    "free_energy",
    "run",
]
