"""Out-of-core entropy and dH: descriptor sets on the host (NumPy arrays or memory
maps of ``.npy`` files, see :func:`quests_jax.information.write_descriptors`), sent to
the device block by block.

These are the information functions with ``execution="streamed"``
(:mod:`quests_jax.information.execution`): the block engine (:mod:`._engine`) reads each
reference block from the host at every use instead of keeping it on the device, so
device memory is O(block * d) whatever the data size, and results equal the
in-memory functions to rounding. The same compiled block programs serve every size.
"""

from __future__ import annotations

import numpy as np

from .._core.array_types import Bandwidths, QueryRows, Rows
from .._core.errors import InputValueError
from . import _quantities as information
from ._quantities import DEFAULT_BANDWIDTH

DEFAULT_CHUNK_ROWS = 1 << 16
"""Rows read from the host per step of a streamed sum."""


def _check_chunk(chunk_rows) -> None:
    if chunk_rows is not None and chunk_rows < 8:
        raise InputValueError(f"chunk_rows must be >= 8, got {chunk_rows}")


def delta_entropy(
    y: QueryRows,
    x: Rows,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    chunk_rows: int | None = None,
    progress: bool | None = None,
):
    """dH(y | X) for host-resident (e.g. memory-mapped) y (M, d) and x (N, d).

    ``chunk_rows`` is accepted for compatibility: the engine reads the host set block
    by block (``batch_size`` rows), so it has no effect. A progress bar appears on a
    terminal for runs longer than a few seconds (``progress=False``: never).
    Returns a NumPy (M,) or (M, H) array in the working dtype (float32 unless x64).
    """
    _check_chunk(chunk_rows)
    with _progress(progress):
        dh = information.delta_entropy(y, x, h, batch_size, execution="streamed")
    return np.asarray(dh)


def entropy_and_diversity(
    x: Rows,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    chunk_rows: int | None = None,
    progress: bool | None = None,
):
    """Entropy and diversity of host-resident (e.g. memory-mapped) x (N, d): (H, D)."""
    _check_chunk(chunk_rows)
    with _progress(progress):
        ent, div = information.entropy_and_diversity(x, h, batch_size, execution="streamed")
    return np.asarray(ent), np.asarray(div)


class _progress:
    """Sets the block engine's progress-bar choice for one call."""

    def __init__(self, enabled):
        self.enabled = enabled

    def __enter__(self):
        from . import _engine as engine

        self.saved, engine.SHOW_PROGRESS = engine.SHOW_PROGRESS, self.enabled

    def __exit__(self, *exc):
        from . import _engine as engine

        engine.SHOW_PROGRESS = self.saved
        return False


__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "delta_entropy",
    "entropy_and_diversity",
]
