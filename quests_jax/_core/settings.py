"""The descriptor's settings: one static, hashable value instead of loose scalars.

What the QUESTS descriptor of an environment depends on: the number of neighbours k,
the cutoff radius, the switch width of the continuous variant (``smooth``) and the
dtype of the rows the library builds from host frames. Public functions keep the
reference's keywords (``k=32, cutoff=5.0``) and make one of these at their door;
inside, it travels as one value (a static argument of the compiled programs, a static
field of a collective variable), and the quantities derived from it (the row width,
what the neighbour search must cover) are computed here only.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .array_types import DType
from .precision import resolve_dtype
from .validation import check_k_cutoff, check_smooth

DEFAULT_K = 32
DEFAULT_CUTOFF = 5.0  # Angstrom
# Extra neighbours the smooth variant searches beyond k, so that its soft (k+1)-th
# distance and the switched weights stay continuous as neighbours enter and leave.
SMOOTH_EXTRA = 8


@dataclasses.dataclass(frozen=True)
class DescriptorSettings:
    """k, cutoff (Angstrom), smooth (None, or a switch width in Angstrom) and dtype
    ("float32" or "float64"), checked when made.

    ``dtype`` is that of rows built from host frames (``get_descriptors``,
    ``write_descriptors``, trajectories); the traced per-frame descriptor computes in
    the dtype of the positions it is given.
    """

    k: int = DEFAULT_K
    cutoff: float = DEFAULT_CUTOFF
    smooth: float | None = None
    dtype: DType = "float32"  # stored as its name, "float32" or "float64"

    def __post_init__(self) -> None:
        k, cutoff = check_k_cutoff(self.k, self.cutoff)
        object.__setattr__(self, "k", k)
        object.__setattr__(self, "cutoff", cutoff)
        object.__setattr__(self, "smooth", check_smooth(self.smooth))
        object.__setattr__(self, "dtype", resolve_dtype(self.dtype).name)

    @property
    def width(self) -> int:
        """Numbers per descriptor row: k for x1 and k - 1 for x2."""
        return 2 * self.k - 1

    @property
    def search_k(self) -> int:
        """Neighbours the search must return (k, plus SMOOTH_EXTRA when smooth)."""
        return self.k if self.smooth is None else self.k + SMOOTH_EXTRA

    @property
    def search_cutoff(self) -> float:
        """Radius the neighbour search must cover (cutoff, plus smooth when smooth)."""
        return self.cutoff if self.smooth is None else self.cutoff + self.smooth

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)


__all__ = ["DEFAULT_CUTOFF", "DEFAULT_K", "SMOOTH_EXTRA", "DescriptorSettings"]
