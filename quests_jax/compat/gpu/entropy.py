"""``quests.gpu.entropy`` on quests_jax. The reference's PyTorch functions take
tensors and a ``device``; these take tensors, NumPy or JAX arrays (anything
array-like) and run on JAX's default device, so ``device`` is accepted and has no
effect on where the work runs.

Results are what the reference returns: where torch is installed, CPU torch tensors
of the inputs' dtype (0-d for entropy and diversity), so ``.cpu()``, ``.numpy()``,
``.item()`` and torch arithmetic work as on the reference's; the reference moves each
block's sums to the CPU, and so are its results, whatever ``device`` was. The
tensors share memory with NumPy arrays (no copy). Where torch is not installed,
the same values as NumPy arrays and NumPy floats.

The numbers are the reference's, including two things that differ from its CPU
module: ``delta_entropy(x, y)`` is dH of the rows of ``x`` given ``y`` (the CPU
``delta_entropy(y, x)`` names them the other way), and ``diversity`` is
sum_i 1 / p(x_i), without the log that the CPU ``diversity`` takes."""

from __future__ import annotations

import functools
import importlib.util

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
    """A NumPy view of a CPU tensor (no copy), a host copy of a device tensor, or
    ``np.asarray`` of anything else."""
    if hasattr(a, "detach") and hasattr(a, "cpu"):  # a torch tensor
        a = a.detach().cpu().numpy()
    return np.asarray(a)


@functools.cache
def _torch():
    """The torch module where it is installed, else None (imported on first use)."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    return torch


def _result(value):
    """``value`` (a NumPy array or float) as the reference returns it: a CPU tensor
    sharing its memory where torch is installed, else ``value``."""
    torch = _torch()
    if torch is None:
        return value
    array = np.asarray(value)
    return torch.from_numpy(array if array.flags.c_contiguous else array.copy())


def perfect_entropy(x, h=DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH, device="cpu"):
    """Entropy H (nats), as :func:`entropy` (the reference's alias)."""
    return entropy(x, h, batch_size, device)


def entropy(x, h=DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH, device="cpu"):
    """Information entropy H of the rows of x (nats): a 0-d tensor."""
    return _result(_cpu.entropy(_array(x), h, batch_size))


def delta_entropy(x, y, h=DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH, device="cpu"):
    """dH (M,) of each row of ``x`` given the rows of ``y`` (the reference's GPU
    order); +inf where the reference's kernel sum underflows."""
    return _result(_cpu.delta_entropy(_array(x), _array(y), h, batch_size))


def diversity(x, h=DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH, device="cpu"):
    """sum_i 1 / p(x_i), as the reference's GPU ``diversity`` (no log: its CPU
    ``diversity`` is the log of this): a 0-d tensor."""
    rows = _array(x)  # one host copy of a device tensor
    p = _cpu.kernel_sum(rows, rows, h, batch_size)
    return _result(np.sum(1 / p))


def kernel_sum(x, y, h=DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH, device="cpu"):
    """p (M,) = sum_j K(x_i, y_j), in the rows' dtype (0 where it underflows)."""
    return _result(_cpu.kernel_sum(_array(x), _array(y), h, batch_size))
