"""``quests.geometry`` on quests_jax (see :mod:`quests_jax.compat`)."""

from __future__ import annotations

import numpy as np


def cutoff_fn(r: float, cutoff: float):
    """The QUESTS weight (1 - (min(r, rc) / rc)^2)^2, 0 at and beyond the cutoff: the
    square of :func:`quests_jax.describe._geometry.sqrt_weight`, in float64 on the host."""
    z = np.minimum(r, cutoff) / cutoff
    return np.float64((1.0 - z * z) ** 2)
