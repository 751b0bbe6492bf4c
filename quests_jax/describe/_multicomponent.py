"""Multicomponent QUESTS descriptor: the full descriptor plus one per species.

For species s, the block is the descriptor of the frame restricted to the atoms of
species s (its sub-lattice), zero for atoms of other species. Blocks are ordered
[full, species 0, species 1, ...] (species sorted by symbol in the ASE interface).
Following the reference package, the columns are arranged as every block's x1, then
every block's x2; with a single species only the full descriptor is returned (what
the reference intends; its own concatenation fails in that case).
Unlike the reference, periodicity follows ``pbc`` (the reference always treats frames
as periodic).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from .._core.array_types import AtomMask, Cell, Pbc, Positions, Species
from .._core.settings import DescriptorSettings
from .._core.validation import static_pbc
from ._descriptor import _descriptor_jit
from ._neighbors import NeighborSpec


def multicomponent_width(k: int, n_species: int) -> int:
    """Number of columns of the multicomponent descriptor."""
    return DescriptorSettings(k=k).width * (n_species + 1 if n_species > 1 else 1)


def descriptor_multicomponent_with_overflow(
    positions: Positions,
    cell: Cell,
    pbc: Pbc,
    species: Species,
    n_species: int,
    spec: NeighborSpec,
    *,
    k: int = 32,
    cutoff: float = 5.0,
    atom_mask: AtomMask = None,
):
    """Multicomponent descriptors of one frame; pure (jit/vmap/grad like
    :func:`quests_jax.descriptor_with_overflow`).

    Args:
        species: (N,) int species index in [0, n_species); any other value marks an
            atom that belongs to no species block (it still counts in the full block).
        n_species: number of species (static).

    The other arguments are those of :func:`quests_jax.descriptor_with_overflow`.

    Returns:
        (descriptors (N, multicomponent_width(k, n_species)), overflow () bool)
    """
    return _multicomponent_jit(
        positions,
        cell,
        species,
        atom_mask,
        pbc=static_pbc(pbc),
        n_species=int(n_species),
        spec=spec,
        settings=DescriptorSettings(k, cutoff),
    )


@functools.partial(jax.jit, static_argnames=("pbc", "n_species", "spec", "settings"))
def _multicomponent_jit(positions, cell, species, atom_mask, *, pbc, n_species, spec, settings):
    n = positions.shape[0]
    base = jnp.ones(n, dtype=bool) if atom_mask is None else jnp.asarray(atom_mask, dtype=bool)
    if n_species <= 1:
        return _descriptor_jit(positions, cell, base, pbc=pbc, spec=spec, settings=settings)
    species = jnp.asarray(species)
    masks = jnp.stack([base] + [base & (species == s) for s in range(n_species)])

    def block(mask):
        return _descriptor_jit(positions, cell, mask, pbc=pbc, spec=spec, settings=settings)

    x, overflow = jax.vmap(block)(masks)  # (n_species + 1, N, 2k - 1)
    k = settings.k
    x1 = jnp.concatenate([x[b, :, :k] for b in range(n_species + 1)], axis=1)
    x2 = jnp.concatenate([x[b, :, k:] for b in range(n_species + 1)], axis=1)
    return jnp.concatenate([x1, x2], axis=1), jnp.any(overflow)
