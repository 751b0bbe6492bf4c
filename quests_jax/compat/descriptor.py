"""``quests.descriptor`` on quests_jax (see :mod:`quests_jax.compat`)."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from .. import describe

DEFAULT_CUTOFF: float = 5.0
DEFAULT_K: int = 32
EPS: float = 1e-15  # accepted by the single-frame functions; quests_jax guards r = 0 itself


def _split(x: np.ndarray, k: int, concat: bool):
    return x if concat else (x[:, :k], x[:, k:])


def get_descriptors(
    dset,
    k: int = DEFAULT_K,
    cutoff: float = DEFAULT_CUTOFF,
    concat: bool = True,
    dtype: str = "float64",
):
    """(n_envs, 2k - 1) descriptors of a list of frames, or (x1, x2) with
    ``concat=False``; float64 by default, as the reference."""
    x = describe.get_descriptors(list(dset), k=k, cutoff=cutoff, dtype=dtype)
    return _split(np.asarray(x), k, concat)


def get_descriptors_multicomponent(
    dset,
    k: int = DEFAULT_K,
    cutoff: float = DEFAULT_CUTOFF,
    species=None,
    concat: bool = True,
    dtype: str = "float64",
):
    """The reference's multicomponent descriptors ((n_species + 1) blocks)."""
    x = describe.get_descriptors_multicomponent(
        list(dset), k=k, cutoff=cutoff, species=species, dtype=dtype
    )
    x = np.asarray(x)
    if concat:
        return x
    width = 2 * k - 1
    blocks = [x[:, i : i + width] for i in range(0, x.shape[1], width)]
    return np.hstack([b[:, :k] for b in blocks]), np.hstack([b[:, k:] for b in blocks])


def _frame(xyz, cell, pbc: bool) -> Atoms:
    xyz = np.asarray(xyz, dtype=float)
    return Atoms(numbers=np.ones(len(xyz), int), positions=xyz, cell=cell, pbc=pbc)


def descriptor_pbc(xyz, cell, k: int = DEFAULT_K, cutoff: float = DEFAULT_CUTOFF, eps: float = EPS):
    """(x1 (N, k), x2 (N, k - 1)) of one periodic frame (positions in A, cell rows)."""
    del eps
    return get_descriptors([_frame(xyz, np.asarray(cell), True)], k, cutoff, concat=False)


def descriptor_nopbc(xyz, k: int = DEFAULT_K, cutoff: float = DEFAULT_CUTOFF, eps: float = EPS):
    """(x1 (N, k), x2 (N, k - 1)) of one non-periodic frame (positions in A)."""
    del eps
    return get_descriptors([_frame(xyz, np.zeros((3, 3)), False)], k, cutoff, concat=False)
