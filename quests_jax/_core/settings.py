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

import abc
import dataclasses
import numbers
from typing import Any

import numpy as np

from .array_types import DType
from .errors import InputTypeError, InputValueError
from .precision import resolve_dtype
from .validation import check_hashable, check_k_cutoff, check_smooth

DEFAULT_K = 32
DEFAULT_CUTOFF = 5.0  # Angstrom
# Extra neighbours the smooth variant searches beyond k, so that its soft (k+1)-th
# distance and the switched weights stay continuous as neighbours enter and leave.
SMOOTH_EXTRA = 8


class Features(abc.ABC):
    """Another descriptor: numbers per environment from its k nearest neighbours.

    Subclass it (a frozen dataclass: the object is a static, hashable value of the
    compiled programs) and pass an instance as ``features=`` to
    :func:`quests_jax.get_descriptors`, :func:`quests_jax.descriptor` and
    :func:`quests_jax.collective_variable`: the dataset path, the traced per-frame
    path, collective variables and the JAX-MD bias (own search or JAX-MD neighbour
    list) then all compute these rows. ``None`` there means the QUESTS descriptor.
    """

    @abc.abstractmethod
    def width(self, k: int) -> int:
        """Numbers per row for k neighbours."""

    @abc.abstractmethod
    def __call__(self, vectors: Any, valid: Any, cutoff: float) -> Any:
        """Rows from neighbour displacements: pure JAX, differentiable.

        Args:
            vectors: (Q, k, 3) displacements (Angstrom) to each environment's k nearest
                neighbours, nearest first; absent neighbours (fewer than k within the
                cutoff, or padding) hold zeros.
            valid: (Q, k) bool, False for absent neighbours.
            cutoff: the cutoff radius, Angstrom.

        Returns:
            (Q, width(k)) rows, in the dtype of ``vectors``.
        """


@dataclasses.dataclass(frozen=True)
class DescriptorSettings:
    """k, cutoff (Angstrom), smooth (None, or a switch width in Angstrom), dtype
    ("float32" or "float64") and features (None: the QUESTS descriptor, or a
    :class:`Features`), checked when made.

    ``dtype`` is that of rows built from host frames (``get_descriptors``,
    ``write_descriptors``, trajectories); the traced per-frame descriptor computes in
    the dtype of the positions it is given.
    """

    k: int = DEFAULT_K
    cutoff: float = DEFAULT_CUTOFF
    smooth: float | None = None
    dtype: DType = "float32"  # stored as its name, "float32" or "float64"
    features: Features | None = None

    def __post_init__(self) -> None:
        k, cutoff = check_k_cutoff(self.k, self.cutoff)
        object.__setattr__(self, "k", k)
        object.__setattr__(self, "cutoff", cutoff)
        object.__setattr__(self, "smooth", check_smooth(self.smooth))
        object.__setattr__(self, "dtype", resolve_dtype(self.dtype).name)
        _check_features(self.features, k, self.smooth)

    @property
    def width(self) -> int:
        """Numbers per descriptor row: for QUESTS, k for x1 and k - 1 for x2."""
        if self.features is not None:
            return int(self.features.width(self.k))
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


def _check_features(features, k: int, smooth: float | None) -> None:
    if features is None:
        return
    if not isinstance(features, Features):
        raise InputTypeError(
            "features must be None (the QUESTS descriptor) or a quests_jax.describe.Features, "
            f"got {type(features).__name__}"
        )
    check_hashable(features, f"features ({type(features).__name__})", "make it a frozen dataclass")
    width = features.width(k)
    if isinstance(width, bool) or not isinstance(width, numbers.Integral) or width < 1:
        raise InputValueError(
            f"features.width({k}) must be an integer >= 1, got {width!r} "
            f"({type(features).__name__})"
        )
    if smooth is not None:
        raise InputValueError(
            "smooth is a variant of the QUESTS descriptor; with features=... leave smooth "
            "None (the features decide their own smoothness)"
        )


__all__ = ["DEFAULT_CUTOFF", "DEFAULT_K", "SMOOTH_EXTRA", "DescriptorSettings", "Features"]
