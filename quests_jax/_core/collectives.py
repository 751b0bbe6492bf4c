"""The host-level collectives of multi-process runs, each announced before it starts.

Every step at which the processes of a ``jax.distributed`` run must meet (an
all-gather of row counts or results, a sharded sum) runs inside
:func:`collective`. It numbers the steps (the same sequence in every process) and,
when a guard is installed (:func:`guarded`), asks the guard first: the command
line's guard waits, bounded by ``--timeout``, until every process has announced the
same step, and ends the run with one line when a peer announced another step (the
processes took different paths) or none in time. Without it a process would wait
inside the collective itself, in native code, for ever (jax.distributed has no
timeout there, and SIGTERM cannot interrupt it).

Without a guard (single-process runs, library users) :func:`collective` only counts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

type Guard = Callable[[int, str], None]
"""Called with (step number, step name) before the step; raises to stop the run."""

_guard: Guard | None = None
_step = 0


@contextlib.contextmanager
def collective(name: str) -> Iterator[None]:
    """Announce the collective step ``name`` to the installed guard, then run the block."""
    global _step
    _step += 1
    if _guard is not None:
        _guard(_step, name)
    yield


@contextlib.contextmanager
def guarded(guard: Guard) -> Iterator[None]:
    """Within the block, every :func:`collective` step asks ``guard`` first."""
    global _guard
    previous, _guard = _guard, guard
    try:
        yield
    finally:
        _guard = previous


__all__ = ["Guard", "collective", "guarded"]
