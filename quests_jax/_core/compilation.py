"""Compiled programs: the persistent cache, and counting what a run compiles.

The library's programs are keyed by settings (chunk and block sizes, k, cutoff, dtype,
number of bandwidths), not by the size of a dataset (see :mod:`quests_jax.describe._dataset`
and :mod:`quests_jax.information._engine`), so a machine compiles each of them once.
:func:`enable_compilation_cache` turns on JAX's persistent compilation cache, so that
"once" holds across processes too. Importing quests_jax does not call it (importing a
library changes no JAX option); the ``quests-jax`` command does, and a script or a
notebook opts in with one call:

* in the folder given, else ``QUESTS_JAX_CACHE_DIR``, else
  ``$XDG_CACHE_HOME/quests_jax/xla`` (``~/.cache/quests_jax/xla``);
  ``QUESTS_JAX_CACHE_DIR=""`` turns it off;
* only when the user has not configured a cache of their own
  (``jax_compilation_cache_dir``, or ``JAX_COMPILATION_CACHE_DIR``), which is then
  left alone, with JAX's own settings;
* every program is cached, however fast it compiled (JAX's default keeps only
  programs that took over a second), and the cache is capped at 1 GiB (least
  recently used entries go first) unless a cap was set;
* safe for processes sharing it: with a size cap JAX takes a file lock (the
  ``filelock`` package) around every read and write, so no process reads an entry
  another is still writing.

:func:`track` counts the programs a block of code obtained from XLA (compiled, or
read from the persistent cache) and the seconds spent on them, from ``jax.monitoring``
events; the CLI's ``--debug`` reports it, and the tests use it to prove that a new
dataset compiles nothing new. The library logs its phases to the ``quests_jax``
logger at DEBUG level.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os

import jax

logger = logging.getLogger("quests_jax")
"""The library's logger: phases and their seconds at DEBUG level (``--debug``)."""

CACHE_MAX_BYTES = 1 << 30
"""The persistent cache's size cap (bytes), unless one was set."""

# jax.monitoring events (jax._src.dispatch.BACKEND_COMPILE_EVENT and the cache's)
_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"
_CACHE_READ_EVENT = "/jax/compilation_cache/cache_retrieval_time_sec"


def cache_dir() -> str | None:
    """The default cache folder, or None when ``QUESTS_JAX_CACHE_DIR`` is empty."""
    default = os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "quests_jax", "xla"
    )
    path = os.environ.get("QUESTS_JAX_CACHE_DIR", default)
    return path or None


def enable_compilation_cache(path: str | os.PathLike[str] | None = None) -> str | None:
    """Turn on JAX's persistent compilation cache for this process (module docstring).

    Args:
        path: the cache folder; None: ``QUESTS_JAX_CACHE_DIR`` or
            ``~/.cache/quests_jax/xla``.

    Returns:
        The folder JAX now caches programs in: the user's own if one was configured
        (left as it was), else ours; None when the cache stays off (an empty
        ``QUESTS_JAX_CACHE_DIR``, or a folder that cannot be written: an unwritable
        cache only costs compile time).
    """
    own = jax.config.jax_compilation_cache_dir
    if own:
        return own  # the user's choice stands, with JAX's own settings
    folder = cache_dir() if path is None else os.fspath(path)
    if not folder:
        return None
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    if not os.access(folder, os.W_OK):
        return None
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    if jax.config.jax_compilation_cache_max_size == -1:
        jax.config.update("jax_compilation_cache_max_size", CACHE_MAX_BYTES)
    # JAX sets its cache up at the first compile; if that happened already, the
    # folder takes effect only after a reset (public API, a no-op otherwise)
    from jax.experimental.compilation_cache import compilation_cache

    compilation_cache.reset_cache()
    return folder


@dataclasses.dataclass
class CompileStats:
    """Programs obtained from XLA, and the seconds spent obtaining them."""

    programs: int = 0  # compiled or read from the persistent cache
    seconds: float = 0.0
    cache_hits: int = 0
    cache_read_seconds: float = 0.0

    @property
    def compiled(self) -> int:
        """Programs compiled here (not read from the persistent cache)."""
        return self.programs - self.cache_hits

    def __sub__(self, other: CompileStats) -> CompileStats:
        return CompileStats(*(a - b for a, b in zip(self._values(), other._values(), strict=True)))

    def _values(self):
        return dataclasses.astuple(self)

    def describe(self) -> str:
        return (
            f"{self.programs} programs in {self.seconds:.2f} s ({self.compiled} compiled, "
            f"{self.cache_hits} read from the cache in {self.cache_read_seconds:.2f} s)"
        )


_totals = CompileStats()
_listening = False


def _on_duration(event: str, duration_secs: float, **_: str | int) -> None:
    if event == _COMPILE_EVENT:
        _totals.programs += 1
        _totals.seconds += duration_secs
    elif event == _CACHE_READ_EVENT:
        _totals.cache_read_seconds += duration_secs


def _on_event(event: str, **_) -> None:
    if event == _CACHE_HIT_EVENT:
        _totals.cache_hits += 1


def _listen() -> None:
    global _listening
    if not _listening:
        jax.monitoring.register_event_duration_secs_listener(_on_duration)
        jax.monitoring.register_event_listener(_on_event)
        _listening = True


def totals() -> CompileStats:
    """Everything counted since the first :func:`track` (a copy)."""
    _listen()
    return dataclasses.replace(_totals)


@contextlib.contextmanager
def track():
    """``with track() as stats:`` fills ``stats`` (a :class:`CompileStats`) with what
    the block obtained from XLA."""
    start = totals()
    stats = CompileStats()
    try:
        yield stats
    finally:
        delta = totals() - start
        for field in dataclasses.fields(CompileStats):
            setattr(stats, field.name, getattr(delta, field.name))


__all__ = [
    "CACHE_MAX_BYTES",
    "CompileStats",
    "cache_dir",
    "enable_compilation_cache",
    "logger",
    "totals",
    "track",
]
