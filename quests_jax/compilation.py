"""Compiled programs: the persistent compilation cache (opt-in) and counting what a
run compiles.

Scripts and notebooks that describe or sum many datasets, on one machine or on many
sharing a home folder, compile each program once with::

    import quests_jax as qj

    qj.enable_compilation_cache()  # ~/.cache/quests_jax/xla, or a folder of your own

Programs that are costly to trace (the Monte Carlo chain's) are kept traced as well
(``jax.export``, in the subfolder ``programs``): a later process loads them without
tracing them again (``traced_programs=False``: JAX's cache alone). Importing
quests_jax does not do this by itself; the ``quests-jax`` command does. A cache
configured through JAX (``jax_compilation_cache_dir``) is left as it is. The
cache repairs itself: damaged entries are removed and written again, with one
:class:`CompilationCacheWarning`, and a cache locked by a stuck process is skipped.
:func:`track` counts the programs a block of code obtained from XLA.
"""

from ._core.compilation import (
    CACHE_MAX_BYTES,
    ENTRY_RECORD,
    LOCK_WAIT,
    CompilationCacheWarning,
    CompileStats,
    cache_dir,
    enable_compilation_cache,
    logger,
    totals,
    track,
)

__all__ = [
    "CACHE_MAX_BYTES",
    "ENTRY_RECORD",
    "LOCK_WAIT",
    "CompilationCacheWarning",
    "CompileStats",
    "cache_dir",
    "enable_compilation_cache",
    "logger",
    "totals",
    "track",
]
