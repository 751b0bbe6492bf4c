"""Array types with their shapes, for signatures (jaxtyping: read by type checkers, and
checked at run time in the test suite, tests/conftest.py).

Dimension names used throughout:

* ``n``: environments (rows) of a descriptor set; ``m``: rows of a query set;
* ``d``: descriptor width, 2k - 1 (times the number of blocks for multicomponent rows);
* ``bandwidths``: values of h when several are given at once;
* ``atoms``: atoms of one frame; ``frames``: frames of a dataset; ``cvs``: collective
  variables.

Inputs are ``AnyArray``: NumPy or JAX arrays (memory maps of ``.npy`` files for the
streamed paths), never bare scalars; outputs say whether they are NumPy (host) or JAX
arrays.
"""

# ruff: noqa: UP040 (the runtime checks see through assignments, not `type` statements)
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Literal, TypeAlias

import numpy as np
from jaxtyping import Array, Bool, Float, Int

AnyArray: TypeAlias = Array | np.ndarray

Rows: TypeAlias = Float[AnyArray, "n d"]
"""Descriptor rows: one environment per row."""
QueryRows: TypeAlias = Float[AnyArray, "m d"]
"""Descriptor rows asked about (dH of y against x, kernel sums at x)."""
Bandwidths: TypeAlias = (
    float | Sequence[float] | Float[AnyArray, ""] | Float[AnyArray, " bandwidths"]
)
"""Kernel bandwidth h (1/A): one number (a 0-d array under ``jit``), or several
evaluated in one pass."""
RowMask: TypeAlias = Bool[AnyArray, " n"] | None
"""Which rows are real (False: padding, ignored)."""
QueryMask: TypeAlias = Bool[AnyArray, " m"] | None
FrameSizes: TypeAlias = Int[AnyArray, " frames"] | Sequence[int]
"""Environments (atoms) of each frame, in order; they sum to n."""
PerRow: TypeAlias = Float[AnyArray, " n"]
"""One number per row (dH values, weights)."""

Positions: TypeAlias = Float[AnyArray, "atoms 3"]
"""Cartesian positions, Angstrom."""
Cell: TypeAlias = Float[AnyArray, "3 3"]
"""Lattice vectors as rows, Angstrom (ASE's ``atoms.cell``)."""
AtomMask: TypeAlias = Bool[AnyArray, " atoms"] | None
"""Which atoms are real (False: padding atoms, nobody's neighbour, zero rows)."""
Species: TypeAlias = Int[AnyArray, " atoms"]
Pbc: TypeAlias = bool | np.bool_ | Sequence[bool | np.bool_] | np.ndarray
"""Periodicity: one bool, or one per lattice vector (static)."""

Execution: TypeAlias = Literal["auto", "memory", "streamed", "sharded"]
"""Where kernel sums run (:mod:`quests_jax.information.execution`)."""
PathLike: TypeAlias = str | os.PathLike[str]
DType: TypeAlias = str | type | np.dtype | None

__all__ = [
    "Array",
    "AnyArray",
    "AtomMask",
    "Bandwidths",
    "Bool",
    "Cell",
    "DType",
    "Execution",
    "Float",
    "FrameSizes",
    "Int",
    "PathLike",
    "Pbc",
    "PerRow",
    "Positions",
    "QueryMask",
    "QueryRows",
    "RowMask",
    "Rows",
    "Species",
]
