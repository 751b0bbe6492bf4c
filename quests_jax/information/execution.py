"""How a dataset-level computation runs: the one rule, in one place.

The information functions (:mod:`quests_jax.information._quantities`: entropy, diversity, dH,
overlap, ...) take ``execution=``; with the default ``"auto"`` this module decides:

1. ``"traced"``: an input is abstract (inside ``jit``, ``vmap`` or ``grad``). The pure
   scans of :mod:`quests_jax.information._kernels` run, compiled for the traced shapes as part of
   the caller's program. This is the only choice there.
2. ``"sharded"``: one process sees several devices. Rows are split over a device mesh
   (:mod:`quests_jax.information.sharded`). With several processes (``jax.distributed``) the
   library cannot know whether an array is this process's share or everything, so
   sharding across processes is never automatic: pass ``execution="sharded"`` and
   give each process its own rows (the command line does).
3. ``"streamed"``: an input is a memory map larger than :data:`STREAM_ABOVE_BYTES`.
   The block engine (:mod:`quests_jax.information._engine`) reads reference blocks from the host
   at every use instead of keeping them on the device.
4. ``"memory"``: otherwise. The block engine keeps the blocks on the device.

"memory" and "streamed" run the same compiled block programs, keyed by block size,
width, dtype and number of bandwidths, never by the number of rows. Quantities with
no sharded variant (every row's dH in ``get_all_metrics``, weighted kernel sums) run
in memory when "sharded" is chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import numpy as np

from .._core.errors import InputValueError
from .._core.npy_files import MAP_ABOVE_BYTES

if TYPE_CHECKING:
    from collections.abc import Sequence


EXECUTIONS = ("auto", "memory", "streamed", "sharded")
"""The values ``execution=`` takes."""

STREAM_ABOVE_BYTES = MAP_ABOVE_BYTES
"""Memory-mapped descriptor sets larger than this (bytes) are streamed from the host
(the size above which ``.npy`` files are mapped rather than read)."""


def is_traced(a: object) -> bool:
    """Whether ``a`` is an abstract value (inside ``jit``, ``vmap`` or ``grad``)."""
    return isinstance(a, jax.core.Tracer)


def choose(arrays: Sequence[object], execution: str = "auto") -> str:
    """ "traced", "memory", "streamed" or "sharded" for these inputs (module docstring).

    Raises ValueError for an unknown ``execution``, or for one other than "auto" when
    an input is traced.
    """
    if execution not in EXECUTIONS:
        raise InputValueError(f"execution must be one of {EXECUTIONS}, got {execution!r}")
    arrays = [a for a in arrays if a is not None]
    if any(is_traced(a) for a in arrays):
        if execution != "auto":
            raise InputValueError(
                f'execution="{execution}" needs concrete arrays; inside jit / vmap / grad '
                "only the traced path runs (leave execution='auto')"
            )
        return "traced"
    if execution != "auto":
        return execution
    if jax.process_count() == 1 and jax.local_device_count() > 1:
        return "sharded"
    if any(isinstance(a, np.memmap) and a.nbytes > STREAM_ABOVE_BYTES for a in arrays):
        return "streamed"
    return "memory"


__all__ = [
    "EXECUTIONS",
    "STREAM_ABOVE_BYTES",
    "choose",
    "is_traced",
]
