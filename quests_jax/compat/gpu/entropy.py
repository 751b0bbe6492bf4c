"""``quests.gpu.entropy`` on quests_jax. The reference's PyTorch functions take
tensors and a ``device``; these take NumPy or JAX arrays (anything array-like) and
run on JAX's default device, so ``device`` is accepted and has no effect. Results
are NumPy, as those of :mod:`quests_jax.compat.entropy`.

Note the reference's argument order here: ``delta_entropy(x, y)`` is dH of the rows
of ``x`` given ``y`` (its CPU ``delta_entropy(y, x)`` names them the other way)."""

from __future__ import annotations

import numpy as np

from .. import entropy as _cpu
from ..entropy import DEFAULT_BANDWIDTH, DEFAULT_BATCH, DEFAULT_GRAPH_NBRS, DEFAULT_UQ_NBRS

__all__ = [
    "DEFAULT_BANDWIDTH",
    "DEFAULT_BATCH",
    "DEFAULT_GRAPH_NBRS",
    "DEFAULT_UQ_NBRS",
    "perfect_entropy",
    "entropy",
    "delta_entropy",
    "diversity",
    "kernel_sum",
]


def _array(a) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor, should one be passed
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def perfect_entropy(x, h=DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH, device="cpu"):
    return _cpu.entropy(_array(x), h, batch_size)


def entropy(x, h=DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH, device="cpu"):
    """Information entropy H of the rows of x (nats)."""
    return _cpu.entropy(_array(x), h, batch_size)


def delta_entropy(x, y, h=DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH, device="cpu"):
    """dH of each row of ``x`` given the rows of ``y`` (the reference's GPU order)."""
    return _cpu.delta_entropy(_array(x), _array(y), h, batch_size)


def diversity(x, h=DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH, device="cpu"):
    return _cpu.diversity(_array(x), h, batch_size)


def kernel_sum(x, y, h=DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH, device="cpu"):
    return _cpu.kernel_sum(_array(x), _array(y), h, batch_size)
