"""Collective variables: information entropy and dH as pure functions of positions.

Because the descriptor and the kernel sums are JAX, the entropy of a frame and the dH
of its environments against a dataset have exact gradients with respect to atomic
positions and the cell: forces, stresses, biases for molecular dynamics, and targets
for structure generation (:mod:`quests_jax.forces._mechanics`, :mod:`quests_jax.forces.jaxmd`,
:mod:`quests_jax.forces.metadynamics`, :func:`quests_jax.forces.optimize_structure`).

A :class:`CollectiveVariable` is an equinox module (a pytree): its configuration is
static, its reference descriptors are data. Calling it on (positions, cell) returns
one number, in nats. What it reduces is its ``kind``:

``"entropy"``
    H of the frame's own environments; with a reference, H of the union of the
    reference set and the frame's environments (the entropy the frame would give the
    dataset).
a dH reduction
    of dH_i = -log sum_j K(x_i, x_ref_j), each atom's dH against the reference: any
    pure callable ``(dh, mask) -> ()`` (:class:`Reduction`), or by name, with default
    parameters:

    ``"dH_mean"`` (:class:`MeanDH`)
        mean_i dH_i.
    ``"dH_max"`` (:class:`SmoothMaxDH`, ``beta``)
        smooth maximum (1/beta) log sum_i exp(beta dH_i), within log(N)/beta above
        max_i dH_i.
    ``"dH_sum_above"`` (:class:`SumAboveDH`, ``threshold``, ``width``)
        sum_i w softplus((dH_i - t)/w): the dH in excess of a threshold t summed over
        atoms, smoothed over a width w.
    ``"dH_count_above"`` (:class:`CountAboveDH`, ``threshold``, ``width``)
        sum_i sigmoid((dH_i - t)/w): a smooth count of atoms with dH_i > t.

Cost: descriptors through the static-size neighbour search (linear in the number of
atoms), dH through streamed kernel sums whose custom VJPs keep reverse mode at
O((N + N_ref) d) memory: no N x N matrix of atoms, no per-atom Jacobian. The frame
entropy is O(N^2) in time (every pair of the frame's environments), O(N d) in memory.
The reference set is fixed data (no gradient flows into it).

The hard k-nearest selection makes the descriptor jump when more than k atoms lie
within the cutoff and two swap at the k-th place; ``smooth`` (a width in Angstrom)
selects the continuous descriptor variant (:mod:`quests_jax.describe._descriptor`), which is
the one to use for forces in molecular dynamics (see the README for the measured
energy drift).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._core.array_types import Array, AtomMask, Bool, Cell, Float, Pbc, Positions, Rows
from .._core.errors import InputTypeError, InputValueError
from .._core.settings import DescriptorSettings, Features
from .._core.validation import (
    check_frame,
    check_hashable,
    check_positive,
    check_rows,
    static_pbc,
)
from ..describe import NeighborSpec, descriptor_with_overflow, plan_neighbors
from ..information import DEFAULT_BANDWIDTH, log_kernel_sums, self_kernel_sums


class Reduction(abc.ABC):
    """A dH collective variable's reduction of the per-atom dH of a frame to one
    number: ``reduction(dh, mask) -> ()``, pure JAX (differentiable).

    Any callable of that signature may be passed as ``kind`` to
    :func:`collective_variable`; subclass this (a frozen dataclass, so that equal
    settings compare equal and compile once) for one with parameters. ``dh`` is (N,)
    with the padding atoms' entries 0; ``mask`` (N,) bool is False there.
    """

    @abc.abstractmethod
    def __call__(self, dh: Float[Array, " atoms"], mask: Bool[Array, " atoms"]) -> Array: ...


@dataclasses.dataclass(frozen=True)
class MeanDH(Reduction):
    """``"dH_mean"``: mean_i dH_i."""

    def __call__(self, dh, mask):
        return jnp.sum(dh) / jnp.sum(mask)


@dataclasses.dataclass(frozen=True)
class SmoothMaxDH(Reduction):
    """``"dH_max"``: (1/beta) log sum_i exp(beta dH_i), within log(N)/beta above max_i
    dH_i; ``beta`` in 1/nats."""

    beta: float = 1.0

    def __post_init__(self) -> None:
        check_positive(self.beta, "beta")

    def __call__(self, dh, mask):
        return jax.nn.logsumexp(jnp.where(mask, self.beta * dh, -jnp.inf)) / self.beta


@dataclasses.dataclass(frozen=True)
class SumAboveDH(Reduction):
    """``"dH_sum_above"``: sum_i w softplus((dH_i - t)/w), the dH in excess of the
    threshold t summed over atoms, smoothed over the width w (both nats)."""

    threshold: float = 0.0
    width: float = 1.0

    def __post_init__(self) -> None:
        _check_threshold_width(self.threshold, self.width)

    def __call__(self, dh, mask):
        excess = self.width * jax.nn.softplus((dh - self.threshold) / self.width)
        return jnp.sum(jnp.where(mask, excess, 0.0))


@dataclasses.dataclass(frozen=True)
class CountAboveDH(Reduction):
    """``"dH_count_above"``: sum_i sigmoid((dH_i - t)/w), a smooth count of the atoms
    with dH_i > t (threshold t and width w in nats)."""

    threshold: float = 0.0
    width: float = 1.0

    def __post_init__(self) -> None:
        _check_threshold_width(self.threshold, self.width)

    def __call__(self, dh, mask):
        return jnp.sum(jnp.where(mask, jax.nn.sigmoid((dh - self.threshold) / self.width), 0.0))


def _check_threshold_width(threshold, width) -> None:
    if isinstance(threshold, bool) or not np.isfinite(threshold):
        raise InputValueError(f"threshold must be a finite number (nats), got {threshold!r}")
    check_positive(width, "width")


REDUCTIONS: dict[str, Reduction] = {
    "dH_mean": MeanDH(),
    "dH_max": SmoothMaxDH(),
    "dH_sum_above": SumAboveDH(),
    "dH_count_above": CountAboveDH(),
}
"""The named dH reductions, with their default parameters."""

KINDS = ("entropy", *REDUCTIONS)
"""The kinds :func:`collective_variable` builds by name (module docstring)."""


def reduce_delta_entropy(dh: Float[Array, " atoms"], reduction, mask: AtomMask = None):
    """Reduce per-atom dH (N,) to one number with ``reduction`` (a name of
    :data:`REDUCTIONS` or a callable ``(dh, mask) -> ()``); ``mask`` (N,) bool drops
    padding atoms (their dH takes part in no branch, nor in the gradient)."""
    reduction = _reduction(reduction)
    valid = jnp.ones(dh.shape, bool) if mask is None else jnp.asarray(mask, bool)
    return reduction(jnp.where(valid, dh, 0.0), valid)


def _reduction(kind) -> Callable:
    if isinstance(kind, str):
        if kind not in REDUCTIONS:
            raise InputValueError(
                f"kind must be 'entropy', one of {tuple(REDUCTIONS)} or a reduction "
                f"(a callable (dh, mask) -> scalar), got {kind!r}"
            )
        return REDUCTIONS[kind]
    if not callable(kind):
        raise InputTypeError(
            "kind must be 'entropy', a dH reduction's name or a callable (dh, mask) -> "
            f"scalar, got {type(kind).__name__}"
        )
    check_hashable(
        kind,
        f"the reduction {type(kind).__name__}",
        "a static value: make it a frozen dataclass or a function",
    )
    return kind


class CollectiveVariable(eqx.Module):
    """An entropy or dH collective variable of one frame; build it with
    :func:`collective_variable`, call it as ``cv(positions, cell)`` (a scalar, nats).

    Pure and jit/vmap/grad-safe: the neighbour search has the static sizes of
    ``spec``. When a frame outgrows them the value is NaN (never a wrong number);
    :meth:`overflow` says so and :meth:`replanned` sizes a new spec.
    """

    reference: Float[Array, "n d"] | None  # the reference descriptors, fixed
    reference_log_p: Float[Array, " n"] | None  # log sum_j K among the reference rows
    reduction: Callable | None = eqx.field(static=True)  # None: the entropy
    pbc: tuple[bool, bool, bool] = eqx.field(static=True)
    spec: NeighborSpec = eqx.field(static=True)
    h: float = eqx.field(static=True)
    settings: DescriptorSettings = eqx.field(static=True)
    block_size: int | None = eqx.field(static=True)

    @property
    def kind(self) -> str | Callable:
        """``"entropy"``, the name of a built-in reduction, or the reduction itself."""
        if self.reduction is None:
            return "entropy"
        names = [name for name, r in REDUCTIONS.items() if r == self.reduction]
        return names[0] if names else self.reduction

    @property
    def k(self) -> int:
        return self.settings.k

    @property
    def cutoff(self) -> float:
        return self.settings.cutoff

    @property
    def smooth(self) -> float | None:
        return self.settings.smooth

    def descriptors(self, positions, cell, atom_mask=None):
        """(descriptors (N, width), overflow) of a frame with this CV's settings
        (width: 2k - 1 for QUESTS, or that of its features)."""
        return descriptor_with_overflow(
            positions,
            cell,
            self.pbc,
            self.spec,
            k=self.k,
            cutoff=self.cutoff,
            atom_mask=atom_mask,
            smooth=self.smooth,
            features=self.settings.features,
        )

    def delta_entropy(self, positions, cell, atom_mask=None):
        """(N,) dH of each atom's environment against the reference (NaN on overflow)."""
        if self.reference is None:
            raise InputValueError("this collective variable has no reference set")
        x, overflow = self.descriptors(positions, cell, atom_mask)
        dh = self._dh(x, atom_mask)
        return jnp.where(overflow, jnp.nan, dh)

    def _dh(self, x, atom_mask):
        ref = jax.lax.stop_gradient(self.reference).astype(x.dtype)
        log_p = log_kernel_sums(
            x, ref, jnp.asarray([self.h], x.dtype), y_mask=atom_mask, block_size=self.block_size
        )[:, 0]
        if atom_mask is not None:
            log_p = jnp.where(atom_mask, log_p, 0.0)
        return -log_p

    def __call__(self, positions, cell, atom_mask=None):
        x, overflow = self.descriptors(positions, cell, atom_mask)
        return jnp.where(overflow, jnp.nan, self.value_from_descriptors(x, atom_mask))

    def value_from_descriptors(self, x, atom_mask=None):
        """The CV of a frame whose descriptors (N, width) are given."""
        if self.reduction is None:
            return self._entropy(x, atom_mask)
        return reduce_delta_entropy(self._dh(x, atom_mask), self.reduction, atom_mask)

    def _entropy(self, x, atom_mask):
        h = jnp.asarray([self.h], x.dtype)
        valid = jnp.ones(x.shape[0], bool) if atom_mask is None else jnp.asarray(atom_mask)
        sums = self_kernel_sums(x, h, mask=atom_mask, block_size=self.block_size)[:, 0]
        log_p = jnp.log(jnp.where(valid, sums, 1.0))  # padding: 0, and no 0 * inf in grad
        n = jnp.sum(valid).astype(x.dtype)
        if self.reference is None:
            return jnp.log(n) - jnp.sum(log_p) / n
        # the union of the reference and the frame: every sum gains the cross terms
        ref = jax.lax.stop_gradient(self.reference).astype(x.dtype)
        cross_frame = log_kernel_sums(x, ref, h, y_mask=atom_mask, block_size=self.block_size)
        cross_ref = log_kernel_sums(ref, x, h, x_mask=atom_mask, block_size=self.block_size)
        log_p_frame = jnp.where(valid, jnp.logaddexp(log_p, cross_frame[:, 0]), 0.0)
        log_p_ref = jnp.logaddexp(self.reference_log_p.astype(x.dtype), cross_ref[:, 0])
        total = n + ref.shape[0]
        return jnp.log(total) - (jnp.sum(log_p_frame) + jnp.sum(log_p_ref)) / total

    def overflow(self, positions, cell, atom_mask=None):
        """() bool: whether the frame outgrew the static neighbour-search sizes."""
        return self.descriptors(positions, cell, atom_mask)[1]

    def replanned(self, positions, cell, capacity_multiplier: float = 1.5):
        """This CV with a spec sized for the (concrete) frame given."""
        return self.with_spec(_plan(positions, cell, self.pbc, self.settings, capacity_multiplier))

    def with_spec(self, spec: NeighborSpec):
        """This CV with other static neighbour-search sizes (e.g. merged over frames
        with :func:`quests_jax.merge_specs`, planned with ``cutoff + smooth``)."""
        return dataclasses.replace(self, spec=spec)


def _plan(positions, cell, pbc, settings: DescriptorSettings, capacity_multiplier) -> NeighborSpec:
    check_frame(positions, cell, pbc, where="positions/cell: ")
    return plan_neighbors(
        np.asarray(positions),
        np.asarray(cell),
        pbc,
        cutoff=settings.search_cutoff,
        capacity_multiplier=capacity_multiplier,
    )


def collective_variable(
    kind: str | Callable,
    positions: Positions,
    cell: Cell,
    pbc: Pbc,
    *,
    reference: Rows | None = None,
    h: float = DEFAULT_BANDWIDTH,
    k: int = 32,
    cutoff: float = 5.0,
    smooth: float | None = None,
    features: Features | None = None,
    capacity_multiplier: float = 1.5,
    block_size: int | None = None,
) -> CollectiveVariable:
    """Build a :class:`CollectiveVariable` for frames like (positions, cell, pbc).

    Args:
        kind: ``"entropy"``; a dH reduction by name, ``"dH_mean"``, ``"dH_max"``,
            ``"dH_sum_above"``, ``"dH_count_above"`` (module docstring; default
            parameters); or a reduction itself, any pure callable ``(dh, mask) -> ()``
            (e.g. ``SmoothMaxDH(beta=4.0)``, ``CountAboveDH(threshold=2.0)``, or your
            own: :class:`Reduction`).
        positions: (atoms, 3) positions (Angstrom) of a representative frame, used to
            size the static neighbour search.
        cell: (3, 3) its cell, lattice vectors as rows.
        pbc: its periodicity, one flag or three.
        reference: (n_ref, width) descriptors of the reference set (required for the
            dH kinds; for ``"entropy"``, the dataset the frame joins). Describe it with
            the same settings (``k``, ``cutoff``, ``smooth``, ``features``), e.g.
            ``quests_jax.descriptor(..., smooth=...)``.
        h: bandwidth (1/A).
        k, cutoff: the descriptor's neighbours and cutoff radius (Angstrom).
        smooth: None for the reference's descriptor, or the switch width (A) of the
            continuous variant (recommended for forces in MD).
        features: None (QUESTS) or another descriptor
            (:class:`~quests_jax.describe.Features`).
        capacity_multiplier: room in the neighbour search for atoms that move.
        block_size: rows per kernel block (static).
    """
    reduction = None if kind == "entropy" else _reduction(kind)
    settings = DescriptorSettings(k, cutoff, smooth, features=features)
    check_positive(h, "h", " (1/A)")
    pbc = static_pbc(pbc)
    ref, ref_log_p = None, None
    if reference is not None:
        ref = jnp.asarray(check_rows(reference, "reference", width=settings.width))
        if not bool(jnp.all(jnp.isfinite(ref))):
            raise InputValueError("reference has NaN or infinite entries")
        if reduction is None:
            h_arr = jnp.asarray([h], ref.dtype)
            ref_log_p = jnp.log(self_kernel_sums(ref, h_arr, block_size=block_size))[:, 0]
    elif reduction is not None:
        raise InputValueError(f"kind {kind!r} needs reference descriptors (reference=...)")
    spec = _plan(positions, cell, pbc, settings, capacity_multiplier)
    return CollectiveVariable(ref, ref_log_p, reduction, pbc, spec, float(h), settings, block_size)
