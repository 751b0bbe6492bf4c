"""``quests.gpu.matrix`` on quests_jax: the array helpers of
:mod:`quests_jax.compat.matrix` (NumPy / SciPy), which take NumPy or JAX arrays
instead of PyTorch tensors."""

from __future__ import annotations

from ..matrix import (  # noqa: F401
    argsort,
    cdist,
    cdist_Linf,
    inverse_3d,
    logsumexp,
    norm,
    pdist,
    stack_xyz,
    sum_positive,
    sumexp,
    wsumexp,
)
