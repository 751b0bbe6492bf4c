"""Array types with their shapes, for signatures (jaxtyping; documentation for readers
and type checkers, not checked at run time).

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

from __future__ import annotations

import os
from typing import Literal

import numpy as np
from jaxtyping import Array, Bool, Float, Int

type AnyArray = Array | np.ndarray

type Rows = Float[AnyArray, "n d"]
"""Descriptor rows: one environment per row."""
type QueryRows = Float[AnyArray, "m d"]
"""Descriptor rows asked about (dH of y against x, kernel sums at x)."""
type Bandwidths = float | Float[AnyArray, " bandwidths"]
"""Kernel bandwidth h (1/A): one number, or several evaluated in one pass."""
type RowMask = Bool[AnyArray, " n"] | None
"""Which rows are real (False: padding, ignored)."""
type QueryMask = Bool[AnyArray, " m"] | None
type FrameSizes = Int[AnyArray, " frames"]
"""Environments (atoms) of each frame, in order; they sum to n."""
type PerRow = Float[AnyArray, " n"]
"""One number per row (dH values, weights)."""

type Positions = Float[AnyArray, "atoms 3"]
"""Cartesian positions, Angstrom."""
type Cell = Float[AnyArray, "3 3"]
"""Lattice vectors as rows, Angstrom (ASE's ``atoms.cell``)."""
type AtomMask = Bool[AnyArray, " atoms"] | None
"""Which atoms are real (False: padding atoms, nobody's neighbour, zero rows)."""
type Species = Int[AnyArray, " atoms"]
type Pbc = bool | tuple[bool, bool, bool] | list[bool] | np.ndarray
"""Periodicity: one bool, or one per lattice vector (static)."""

type Execution = Literal["auto", "memory", "streamed", "sharded"]
"""Where kernel sums run (:mod:`quests_jax.information.execution`)."""
type PathLike = str | os.PathLike[str]
type DType = str | type | np.dtype | None

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
