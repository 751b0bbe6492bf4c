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
  another is still writing;
* repaired before use, under that lock: an entry cut short (a full disk, a process
  killed while writing) or stored under another program's key (the entry of key A
  holding the program recorded under key B: JAX would run the wrong program) is removed, with one
  :class:`CompilationCacheWarning`, and compiled and written again once. JAX itself
  never rewrites an entry it cannot read (it warns twice per program and compiles,
  on every run). Entries are recognised by the record ``quests_jax-entries.json``
  keeps of each one's size, time and digest (an entry is hashed once, when first
  seen; after that a ``stat`` suffices); a new entry must decompress;
* traced programs: those costly to trace (the Monte Carlo chain's) are also kept
  traced and lowered (:mod:`quests_jax._core.program_store`, subfolder ``programs``),
  so that a later process skips tracing and lowering them as well (JAX's cache is
  keyed by the lowered program: it skips only XLA's compile);
* never waited for: when another process has held the cache's lock for over
  :data:`LOCK_WAIT` seconds (stopped, or stuck on a network file system), the run
  compiles without the cache, with one warning, instead of waiting 10 s for every
  program.

:func:`track` counts the programs a block of code obtained from XLA (compiled, or
read from the persistent cache) and the seconds spent on them, from ``jax.monitoring``
events; the CLI's ``--debug`` reports it, and the tests use it to prove that a new
dataset compiles nothing new. The library logs its phases to the ``quests_jax``
logger at DEBUG level.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import json
import logging
import os
import warnings
import zlib

import jax

from . import program_store

logger = logging.getLogger("quests_jax")
"""The library's logger: phases and their seconds at DEBUG level (``--debug``)."""

CACHE_MAX_BYTES = 1 << 30
"""The persistent cache's size cap (bytes), unless one was set."""

LOCK_WAIT = 1.0
"""Seconds to wait for the cache's lock before a run goes on without the cache."""

ENTRY_RECORD = "quests_jax-entries.json"
"""The file, in the cache folder, that records each entry's size, time and digest."""

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class CompilationCacheWarning(UserWarning):
    """The persistent cache was repaired, or is locked and goes unused for this run."""


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


def enable_compilation_cache(
    path: str | os.PathLike[str] | None = None, *, traced_programs: bool = True
) -> str | None:
    """Turn on JAX's persistent compilation cache for this process (module docstring).

    Args:
        path: the cache folder; None: ``QUESTS_JAX_CACHE_DIR`` or
            ``~/.cache/quests_jax/xla``.
        traced_programs: also keep the programs that are costly to trace, traced and
            lowered, in its subfolder ``programs`` (:mod:`quests_jax._core.program_store`): a
            later process skips tracing them too.

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
    if not _checked(folder):
        return None
    jax.config.update("jax_compilation_cache_dir", folder)
    program_store.enable(os.path.join(folder, "programs") if traced_programs else None)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    if jax.config.jax_compilation_cache_max_size == -1:
        jax.config.update("jax_compilation_cache_max_size", CACHE_MAX_BYTES)
    # JAX sets its cache up at the first compile; if that happened already, the
    # folder takes effect only after a reset (public API, a no-op otherwise)
    from jax.experimental.compilation_cache import compilation_cache

    compilation_cache.reset_cache()
    return folder


def _checked(folder: str) -> bool:
    """Repair ``folder`` under the cache's lock (module docstring); False, with a
    warning, when another process holds the lock."""
    import filelock

    lock = filelock.FileLock(os.path.join(folder, ".lockfile"))  # the lock JAX takes
    try:
        lock.acquire(timeout=LOCK_WAIT)
    except filelock.Timeout:
        warnings.warn(
            f"the compilation cache {folder} is locked by another process (its .lockfile "
            f"held over {LOCK_WAIT:g} s): this run compiles without the cache",
            CompilationCacheWarning,
            stacklevel=3,
        )
        return False
    try:
        removed = _repair(folder)
    finally:
        lock.release()
    if removed:
        warnings.warn(
            f"removed {len(removed)} damaged entr{'y' if len(removed) == 1 else 'ies'} from "
            f"the compilation cache {folder} (cut short, or holding another program): "
            "compiled and written again",
            CompilationCacheWarning,
            stacklevel=3,
        )
    return True


def _repair(folder: str) -> list[str]:
    """Remove the entries of ``folder`` that are cut short or hold what was recorded
    under another name; record the others. Returns the names removed."""
    record_path = os.path.join(folder, ENTRY_RECORD)
    try:
        with open(record_path) as f:
            known = json.load(f)
        if not isinstance(known, dict):
            known = {}
    except (OSError, ValueError):
        known = {}
    # an entry whose content was recorded under another name holds that program (a
    # rewrite of one program, e.g. after eviction, may differ in its bytes: accepted)
    owners = {r[2]: name for name, r in known.items() if isinstance(r, list) and len(r) == 3}
    entries: dict[str, list] = {}
    removed = []
    for entry in os.scandir(folder):
        if not entry.name.endswith("-cache") or not entry.is_file():
            continue
        stat = entry.stat()
        record = known.get(entry.name)
        if isinstance(record, list) and record[:2] == [stat.st_size, stat.st_mtime_ns]:
            entries[entry.name] = record
            continue
        try:
            with open(entry.path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        if _intact(data) and owners.get(digest, entry.name) == entry.name:
            entries[entry.name] = [stat.st_size, stat.st_mtime_ns, digest]
            continue
        for path in (entry.path, entry.path[: -len("-cache")] + "-atime"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
        removed.append(entry.name)
    if entries != known:
        temporary = f"{record_path}.{os.getpid()}"
        try:
            with open(temporary, "w") as f:
                json.dump(entries, f)
            os.replace(temporary, record_path)
        except OSError:
            pass  # an unwritable record only costs hashing again next time
    return removed


def _intact(data: bytes) -> bool:
    """Whether an entry decompresses (JAX writes zstd frames when a zstd module is
    installed, zlib streams otherwise): an entry cut short does not."""
    try:
        if data[:4] == _ZSTD_MAGIC:
            try:  # Python 3.14's module, else the zstandard package (JAX's order)
                importlib.import_module("compression.zstd").decompress(data)
            except ImportError:
                try:
                    zstandard = importlib.import_module("zstandard")
                except ImportError:
                    return True  # JAX cannot read it either: it will warn
                zstandard.ZstdDecompressor().decompress(data)
        else:
            zlib.decompress(data)
    except Exception:  # noqa: BLE001 - any decompression error: damaged
        return False
    return True


@dataclasses.dataclass
class CompileStats:
    """Programs obtained from XLA, and the seconds spent obtaining them."""

    programs: int = 0  # compiled or read from the persistent cache
    seconds: float = 0.0
    cache_hits: int = 0
    cache_read_seconds: float = 0.0
    stored: int = 0  # of which traced programs were read from the store (not traced)

    @property
    def compiled(self) -> int:
        """Programs compiled here (not read from the persistent cache)."""
        return self.programs - self.cache_hits

    def __sub__(self, other: CompileStats) -> CompileStats:
        return CompileStats(*(a - b for a, b in zip(self._values(), other._values(), strict=True)))

    def _values(self):
        return dataclasses.astuple(self)

    def describe(self) -> str:
        stored = f"; {self.stored} traced programs read from the store" if self.stored else ""
        return (
            f"{self.programs} programs in {self.seconds:.2f} s ({self.compiled} compiled, "
            f"{self.cache_hits} read from the cache in {self.cache_read_seconds:.2f} s{stored})"
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
    return dataclasses.replace(_totals, stored=program_store.loaded())


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
