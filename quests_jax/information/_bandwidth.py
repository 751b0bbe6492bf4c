"""Bandwidth from the volume per atom (the reference's fits to entropy vs density)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._core.array_types import AnyArray, Float
from .._core.errors import InputValueError


def get_bandwidth(volume: float | Float[AnyArray, " frames"], method: str = "gaussian"):
    """Kernel bandwidth h (1/A) for a volume per atom (A^3/atom).

    ``"gaussian"``: h = 0.0897141 exp(-(V / 10.896)^2 / 2) + 0.0119417;
    ``"cutoff"``: the reference's alternative fit. Works on numbers and arrays.
    """
    volume = np.asarray(volume, dtype=float)
    if not (np.isfinite(volume).all() and (volume > 0).all()):
        raise InputValueError(f"volume must be > 0 (A^3/atom), got {volume}")
    if method == "gaussian":
        z = volume / 10.896
        return 0.0897141 * np.exp(-0.5 * z**2) + 0.0119417
    if method == "cutoff":
        z = np.minimum(np.log(volume) ** 2, 11.61172) / 11.61172
        return 0.086164 * (1 - z**2) ** 2 + 0.016
    raise InputValueError(f"method must be 'gaussian' or 'cutoff', got {method!r}")


def volume_per_atom(frames: Sequence) -> float:
    """Total cell volume over total atoms of periodic ``ase.Atoms`` frames (A^3/atom)."""
    volume = 0.0
    atoms_count = 0
    for i, atoms in enumerate(frames):
        if not np.all(atoms.pbc):
            raise InputValueError(
                f"frame {i} is not periodic along all axes: the volume per atom is undefined"
            )
        volume += abs(atoms.get_volume())
        atoms_count += len(atoms)
    if atoms_count == 0:
        raise InputValueError("no atoms: the volume per atom is undefined")
    return volume / atoms_count
