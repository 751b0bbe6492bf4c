"""Entropy bias potentials in JAX-MD's conventions.

:func:`bias_energy_fn` turns a :class:`~quests_jax.forces.CollectiveVariable`
into an energy function ``energy(R, neighbor=None, box=None, perturbation=None,
**kwargs)`` that can be added to any JAX-MD potential and passed to its simulators
(``nve``, ``nvt_langevin``, ``nvt_nose_hoover``, ``npt_nose_hoover``, ...)::

    from jax_md import energy, simulate, space
    import quests_jax as qj
    from quests_jax.forces.jaxmd import bias_energy_fn

    displacement, shift = space.periodic_general(box)            # fractional coordinates
    cv = qj.collective_variable("dH_mean", positions, cell, True, reference=x_ref, smooth=0.5)
    bias = bias_energy_fn(cv, strength=-0.05, box=box, fractional_coordinates=True)
    base = energy.morse_pair(displacement, ...)
    total = lambda R, **kw: base(R, **kw) + bias(R, **kw)
    init, apply = simulate.nvt_langevin(total, shift, dt, kT)

The bias energy is ``strength * CV`` (energy units per nat): a negative strength
lowers the energy of novel environments, so the dynamics drifts toward them.

Boxes follow JAX-MD: ``None`` (``space.free``), a side length or three
(``space.periodic``), or a (3, 3) matrix whose *columns* are the lattice vectors
(``space.periodic_general``; the cell of ASE is its transpose). With
``fractional_coordinates=True`` positions are fractional. ``box`` given to the call
(NPT) overrides the one given to :func:`bias_energy_fn`, and ``perturbation`` (how
JAX-MD's ``quantity.stress`` and its NPT simulators strain the system) deforms
positions and cell alike, so JAX-MD's stress and pressure include the bias.

Neighbours: by default the CV's own search, with the static sizes planned from the
starting frame (``capacity_multiplier`` leaves room); a frame that outgrows them gives
a NaN energy, never a wrong one: check :meth:`EntropyBias.overflow` between chunks of
steps and rebuild with :meth:`EntropyBias.replanned`. Alternatively pass a JAX-MD
``Dense`` neighbour list as ``neighbor=`` (built with this function's
``displacement_fn`` and a cutoff of at least the CV's ``cutoff + smooth``), and JAX-MD's
``did_buffer_overflow`` handles overflow; its lists use the minimum-image convention,
so the box must be wider than twice the cutoff (the CV's own search has no such limit).

jax-md's pair energies sum with ``dtype=float64`` (``jax_md.util.high_precision_sum``)
whether or not ``jax_enable_x64`` is on; with it off JAX sums in float32 and warns
"Explicitly requested dtype float64 requested in sum is not available" at every trace.
That is jax-md's ordinary float32 behaviour; importing this module changes no warning
filter, and ``with jax_md_float64_warnings_ignored():`` around a simulation's first
steps hides exactly that message (for ``sum`` and ``convert_element_type``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import warnings
from collections.abc import Callable, Iterator

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._core.array_types import AnyArray, Array, DType, Float
from .._core.errors import InputTypeError, InputValueError
from ..describe import (
    chunk_size_for,
    k_smallest_with_ties,
    map_atom_chunks,
    rows_from_vectors,
    tiebreak_keys,
)
from ._collective import CollectiveVariable


@contextlib.contextmanager
def jax_md_float64_warnings_ignored() -> Iterator[None]:
    """Within the block, ignore JAX's "float64 requested ... not available" warning for
    the two operations of ``jax_md.util.high_precision_sum`` (``sum``,
    ``convert_element_type``); the filters are restored on leaving it."""
    with warnings.catch_warnings():
        for op in ("sum", "convert_element_type"):
            warnings.filterwarnings(
                "ignore",
                message=f"Explicitly requested dtype float64 requested in {op} is not available",
                category=UserWarning,
            )
        yield


def box_to_cell(box: Float[AnyArray, ...], dtype: DType = None):
    """ASE-style cell (3, 3), lattice vectors as rows, of a JAX-MD box (None: zeros)."""
    if box is None:
        return jnp.zeros((3, 3), dtype or jnp.result_type(float))
    box = jnp.asarray(box, dtype)
    if box.ndim == 0:
        return jnp.eye(3, dtype=box.dtype) * box
    if box.shape == (3,):
        return jnp.diag(box)
    if box.shape == (3, 3):
        return box.T
    raise InputValueError(f"box must be None, a number, (3,) or (3, 3); got shape {box.shape}")


class EntropyBias(eqx.Module):
    """``strength * cv`` as a JAX-MD energy function (see the module docstring)."""

    cv: CollectiveVariable
    strength: Float[Array, ""]
    box: Float[Array, ...] | None
    fractional_coordinates: bool = eqx.field(static=True)
    displacement_fn: Callable | None = eqx.field(static=True)

    def frame(self, R, box=None, perturbation=None):
        """(positions, cell) in Angstrom (ASE conventions) of JAX-MD positions."""
        box = self.box if box is None else box
        cell = box_to_cell(box, R.dtype)
        positions = R
        if self.fractional_coordinates:
            # JAX-MD's transform: its derivative passes real-space gradients through, so
            # grad with respect to fractional R gives real-space forces (JAX-MD's rule)
            from jax_md import space

            positions = space.transform(jnp.asarray(box, R.dtype), R)
        if perturbation is not None:
            p = jnp.asarray(perturbation, R.dtype)
            p = p * jnp.eye(3, dtype=R.dtype) if p.ndim == 0 else p
            positions, cell = positions @ p.T, cell @ p.T
        return positions, cell

    def __call__(self, R, neighbor=None, box=None, perturbation=None, **kwargs):
        del kwargs  # other potentials' arguments (kT, species, ...) pass through
        if neighbor is None:
            positions, cell = self.frame(R, box, perturbation)
            return self.strength * self.cv(positions, cell)
        x = self.descriptors_from_neighbor_list(R, neighbor, box, perturbation)
        return self.strength * self.cv.value_from_descriptors(x)

    def descriptors_from_neighbor_list(self, R, neighbor, box=None, perturbation=None):
        """(N, width) descriptors (the CV's features) from a JAX-MD ``Dense`` neighbour
        list."""
        if self.displacement_fn is None:
            raise InputValueError(
                "a JAX-MD neighbour list needs the displacement function it was built with: "
                "bias_energy_fn(..., displacement_fn=displacement)"
            )
        idx = neighbor.idx
        if idx.ndim != 2 or idx.shape[0] != R.shape[0]:
            raise InputValueError(
                f"neighbor must be a Dense JAX-MD neighbour list of shape (N, max_neighbors), "
                f"got idx of shape {idx.shape}"
            )
        n, max_neighbors = idx.shape
        kw = {} if box is None else {"box": box}
        if perturbation is not None:
            kw["perturbation"] = perturbation
        one = functools.partial(self.displacement_fn, **kw)
        displacement = jax.vmap(jax.vmap(one, (0, None)), (0, 0))
        cv = self.cv
        k = cv.settings.search_k

        def rows(query):
            candidates = idx[query]
            pad = candidates >= n  # JAX-MD pads with N
            others = R[jnp.where(pad, 0, candidates)]
            vectors = displacement(others, R[query])  # from each atom to its candidates
            d2 = jnp.where(pad, jnp.inf, jnp.sum(vectors * vectors, axis=-1))
            # equidistant neighbours at the k-th (perfect crystals): the rule of every
            # path; a tied shell of more than 2k atoms beyond it gives NaN rows
            d2_sel, sel, cut = k_smallest_with_ties(d2, k, tiebreak_keys(vectors), 2 * k)
            valid = d2_sel < cv.settings.search_cutoff**2
            chosen = jnp.minimum(sel, max_neighbors - 1)[..., None]
            chosen = jnp.where(valid[..., None], jnp.take_along_axis(vectors, chosen, 1), 0.0)
            rows = rows_from_vectors(cv.settings, chosen, valid)
            return jnp.where(cut[:, None], jnp.nan, rows)

        # chunks of atoms, as in the CV's own search: the (N, k, k) pair matrices (and
        # the smooth variant's ~k^3 sort arrays per atom) are never all in memory
        per_atom = cv.k**3 if cv.smooth is not None else max(max_neighbors, k * k)
        return map_atom_chunks(rows, n, chunk_size_for(per_atom, n))

    def overflow(self, R, box=None):
        """() bool: whether the frame outgrew the CV's static neighbour search."""
        positions, cell = self.frame(R, box)
        return self.cv.overflow(positions, cell)

    def replanned(self, R, box=None, capacity_multiplier: float = 1.5):
        """This bias with the CV's neighbour search sized for the (concrete) frame."""
        positions, cell = self.frame(jnp.asarray(R), box)
        cv = self.cv.replanned(np.asarray(positions), np.asarray(cell), capacity_multiplier)
        return dataclasses.replace(self, cv=cv)


def bias_energy_fn(
    cv: CollectiveVariable,
    strength: float,
    box: Float[AnyArray, ...] | None = None,
    *,
    fractional_coordinates: bool = False,
    displacement_fn: Callable | None = None,
) -> EntropyBias:
    """A JAX-MD energy function ``strength * cv`` (see the module docstring).

    Args:
        cv: from :func:`quests_jax.collective_variable`, built on a representative
            frame in Angstrom and ASE conventions (its ``pbc`` must match the space:
            all False for ``space.free``, all True for periodic spaces).
        strength: energy per nat of the CV; negative rewards high entropy / dH.
        box: JAX-MD box (None for free space).
        fractional_coordinates: whether positions are fractional (JAX-MD's default
            for ``space.periodic_general``).
        displacement_fn: JAX-MD displacement function, needed only to use JAX-MD
            neighbour lists (``neighbor=``).
    """
    if not isinstance(cv, CollectiveVariable):
        raise InputTypeError(f"cv must be a quests_jax CollectiveVariable, got {type(cv).__name__}")
    if not np.isfinite(strength):
        raise InputValueError(f"strength must be a finite number, got {strength}")
    periodic = box is not None
    if any(cv.pbc) != periodic or (periodic and not all(cv.pbc)):
        space = "periodic" if periodic else "free space"
        raise InputValueError(
            f"the CV's pbc {cv.pbc} does not match the box ({space}): "
            "build the CV with pbc=True for a periodic box and pbc=False for box=None"
        )
    if fractional_coordinates:
        if box is None:
            raise InputValueError("fractional_coordinates needs a box")
        try:
            import jax_md  # noqa: F401
        except ImportError as err:
            raise ImportError(
                "fractional coordinates follow JAX-MD's conventions: pip install "
                "'quests_jax[md]' (or jax-md)"
            ) from err
    box = None if box is None else jnp.asarray(box)
    return EntropyBias(
        cv, jnp.asarray(strength), box, bool(fractional_coordinates), displacement_fn
    )


__all__ = [
    "EntropyBias",
    "bias_energy_fn",
    "box_to_cell",
    "jax_md_float64_warnings_ignored",
]
