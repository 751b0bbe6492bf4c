"""Collective variables: information entropy and dH as pure functions of positions.

Because the descriptor and the kernel sums are JAX, the entropy of a frame and the dH
of its environments against a dataset have exact gradients with respect to atomic
positions and the cell: forces, stresses, biases for molecular dynamics, and targets
for structure generation (:mod:`quests_jax.forces._mechanics`, :mod:`quests_jax.forces.jaxmd`,
:mod:`quests_jax.forces.metadynamics`, :func:`quests_jax.forces.optimize_structure`).

A :class:`CollectiveVariable` is an equinox module (a pytree): its configuration is
static, its reference descriptors are data. Calling it on (positions, cell) returns
one number, in nats:

``"entropy"``
    H of the frame's own environments; with a reference, H of the union of the
    reference set and the frame's environments (the entropy the frame would give the
    dataset).
``"dH_mean"``
    mean_i dH_i, dH_i = -log sum_j K(x_i, x_ref_j) of each atom against the reference.
``"dH_max"``
    smooth maximum (1/beta) log sum_i exp(beta dH_i), within log(N)/beta above max_i dH_i.
``"dH_sum_above"``
    sum_i w softplus((dH_i - t)/w): the dH in excess of a threshold t summed over
    atoms, smoothed over a width w.
``"dH_count_above"``
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

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._core.array_types import Array, AtomMask, Cell, Float, Pbc, Positions, Rows
from .._core.settings import DescriptorSettings
from .._core.validation import check_frame, check_rows, static_pbc
from ..describe import NeighborSpec, descriptor_with_overflow, plan_neighbors
from ..information import DEFAULT_BANDWIDTH, log_kernel_sums, self_kernel_sums

KINDS = ("entropy", "dH_mean", "dH_max", "dH_sum_above", "dH_count_above")
"""The collective variables :func:`collective_variable` builds (module docstring)."""


def reduce_delta_entropy(
    dh: Float[Array, " atoms"],
    kind: str,
    *,
    beta: float = 1.0,
    threshold: float = 0.0,
    width: float = 1.0,
    mask: AtomMask = None,
):
    """Reduce per-atom dH (N,) to one number (see the module docstring for ``kind``).

    ``mask`` (N,) bool drops padding atoms from every reduction.
    """
    valid = jnp.ones(dh.shape, bool) if mask is None else jnp.asarray(mask, bool)
    dh = jnp.where(valid, dh, 0.0)  # keep padding out of every branch (and its gradient)
    if kind == "dH_mean":
        return jnp.sum(dh) / jnp.sum(valid)
    if kind == "dH_max":
        return jax.nn.logsumexp(jnp.where(valid, beta * dh, -jnp.inf)) / beta
    if kind == "dH_sum_above":
        return jnp.sum(jnp.where(valid, width * jax.nn.softplus((dh - threshold) / width), 0.0))
    if kind == "dH_count_above":
        return jnp.sum(jnp.where(valid, jax.nn.sigmoid((dh - threshold) / width), 0.0))
    raise ValueError(f"kind must be one of {KINDS[1:]} for a dH reduction, got {kind!r}")


class CollectiveVariable(eqx.Module):
    """An entropy or dH collective variable of one frame; build it with
    :func:`collective_variable`, call it as ``cv(positions, cell)`` (a scalar, nats).

    Pure and jit/vmap/grad-safe: the neighbour search has the static sizes of
    ``spec``. When a frame outgrows them the value is NaN (never a wrong number);
    :meth:`overflow` says so and :meth:`replanned` sizes a new spec.
    """

    reference: Float[Array, "n d"] | None  # the reference descriptors, fixed
    reference_log_p: Float[Array, " n"] | None  # log sum_j K among the reference rows
    kind: str = eqx.field(static=True)
    pbc: tuple[bool, bool, bool] = eqx.field(static=True)
    spec: NeighborSpec = eqx.field(static=True)
    h: float = eqx.field(static=True)
    settings: DescriptorSettings = eqx.field(static=True)
    beta: float = eqx.field(static=True)
    threshold: float = eqx.field(static=True)
    width: float = eqx.field(static=True)
    block_size: int | None = eqx.field(static=True)

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
        """(descriptors (N, 2k - 1), overflow) of a frame with this CV's settings."""
        return descriptor_with_overflow(
            positions,
            cell,
            self.pbc,
            self.spec,
            k=self.k,
            cutoff=self.cutoff,
            atom_mask=atom_mask,
            smooth=self.smooth,
        )

    def delta_entropy(self, positions, cell, atom_mask=None):
        """(N,) dH of each atom's environment against the reference (NaN on overflow)."""
        if self.reference is None:
            raise ValueError("this collective variable has no reference set")
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
        """The CV of a frame whose descriptors (N, 2k - 1) are given."""
        if self.kind == "entropy":
            return self._entropy(x, atom_mask)
        return reduce_delta_entropy(
            self._dh(x, atom_mask),
            self.kind,
            beta=self.beta,
            threshold=self.threshold,
            width=self.width,
            mask=atom_mask,
        )

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
    kind: str,
    positions: Positions,
    cell: Cell,
    pbc: Pbc,
    *,
    reference: Rows | None = None,
    h: float = DEFAULT_BANDWIDTH,
    k: int = 32,
    cutoff: float = 5.0,
    smooth: float | None = None,
    beta: float = 1.0,
    threshold: float = 0.0,
    width: float = 1.0,
    capacity_multiplier: float = 1.5,
    block_size: int | None = None,
) -> CollectiveVariable:
    """Build a :class:`CollectiveVariable` for frames like (positions, cell, pbc).

    Args:
        kind: one of ``"entropy"``, ``"dH_mean"``, ``"dH_max"``, ``"dH_sum_above"``,
            ``"dH_count_above"`` (module docstring).
        positions: (atoms, 3) positions (Angstrom) of a representative frame, used to
            size the static neighbour search.
        cell: (3, 3) its cell, lattice vectors as rows.
        pbc: its periodicity, one flag or three.
        reference: (n_ref, 2k - 1) descriptors of the reference set (required for the
            dH kinds; for ``"entropy"``, the dataset the frame joins). Describe it with
            the same ``smooth`` setting, e.g. ``quests_jax.descriptor(..., smooth=...)``.
        h: bandwidth (1/A).
        smooth: None for the reference's descriptor, or the switch width (A) of the
            continuous variant (recommended for forces in MD).
        beta: sharpness of ``"dH_max"`` (1/nats).
        threshold: t of ``"dH_sum_above"`` / ``"dH_count_above"`` (nats).
        width: w of ``"dH_sum_above"`` / ``"dH_count_above"`` (nats).
        capacity_multiplier: room in the neighbour search for atoms that move.
        block_size: rows per kernel block (static).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    settings = DescriptorSettings(k, cutoff, smooth)
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"h must be a finite number > 0 (1/A), got {h}")
    for name, value in (("beta", beta), ("width", width)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value}")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    pbc = static_pbc(pbc)
    ref, ref_log_p = None, None
    if reference is not None:
        ref = jnp.asarray(check_rows(reference, "reference", width=settings.width))
        if not bool(jnp.all(jnp.isfinite(ref))):
            raise ValueError("reference has NaN or infinite entries")
        if kind == "entropy":
            h_arr = jnp.asarray([h], ref.dtype)
            ref_log_p = jnp.log(self_kernel_sums(ref, h_arr, block_size=block_size))[:, 0]
    elif kind != "entropy":
        raise ValueError(f"kind {kind!r} needs reference descriptors (reference=...)")
    spec = _plan(positions, cell, pbc, settings, capacity_multiplier)
    return CollectiveVariable(
        ref,
        ref_log_p,
        kind,
        pbc,
        spec,
        float(h),
        settings,
        float(beta),
        float(threshold),
        float(width),
        block_size,
    )
