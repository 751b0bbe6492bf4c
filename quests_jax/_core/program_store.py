"""Traced programs on disk: a process that finds its program there skips tracing and
lowering it; JAX's persistent cache then supplies the compiled code.

JAX's persistent cache (:mod:`quests_jax._core.compilation`) is keyed by the lowered
program, so every process still traces and lowers each function before it can look
the program up. For most of the library's programs that costs 0.03 - 0.15 s; the
Monte Carlo chain's start and segment (a traced neighbour search, the descriptor and
the kernel sums, in a scan) cost ~0.4 s each. :func:`stored_jit` is ``jax.jit`` plus
a store of the lowered programs, serialised by ``jax.export`` (the public, versioned
format of StableHLO), keyed by everything the traced program depends on:

* the function (module and qualified name) and a digest of the package's source
  (any edit of quests_jax is a new key);
* the versions of jax and jaxlib, the platform, its version and device kind;
* JAX's configuration at the call (every ``jax.config`` value in force: x64, matmul
  precision, promotion rules, debug flags, ...);
* the values of the static arguments and the tree, shapes, dtypes and weak types of
  the others.

Where it is used. The first call of an exported program in a process costs ~0.2 s
on CPU whatever the program (``jax.export`` initialises LAPACK's handlers, which
imports SciPy), so only programs whose tracing costs more are stored: the Monte
Carlo programs (warm ``mcmc`` of a 63-atom frame: 4.1 -> 3.4 s). Stored everywhere,
``dH`` was 0.06 s slower and ``compress msc`` 0.15 s faster (measured).

It is used only where it cannot be wrong: a single process with one device, every
argument concrete (inside ``jit``, ``grad`` or ``vmap`` the function is traced as
usual), and static arguments built from plain values and quests_jax's own frozen
dataclasses (a user's own class, whose code the key cannot see, takes the plain
path). An entry carries its key and ends with a digest of its bytes: one cut short,
damaged or filed under another key is removed and traced again, as is one whose
first call fails. Entries are written whole and renamed into place, so concurrent
runs never read half an entry; the store keeps the most recently used entries within
:data:`STORE_MAX_BYTES`. XLA compiles the exported module as it compiles the traced
one, but may fuse it differently: values agree to float32 rounding (a 200-step
Monte Carlo chain of Si: atoms within 1e-6 A of the plain path's), and every run with
the store gives the same bits.

Not the compiled executables themselves (``jax.experimental.serialize_executable``,
no tracing, lowering or cache lookup at all): tried first, the Monte Carlo start
crashed the next process on CPU (a segmentation fault), and an executable serialised
after JAX's cache had read it ran "Function ... not found"; JAX's cache deserialises
with the compile options, that API without.

:func:`quests_jax.enable_compilation_cache` turns the store on (a subfolder
``programs`` of the cache folder); importing the package does not.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import inspect
import logging
import os
import struct
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

from .output_files import write_atomically

logger = logging.getLogger("quests_jax")

STORE_MAX_BYTES = 256 << 20
"""The store's size cap: past it, the least recently used entries are removed."""

_MAGIC = b"quests_jax exported program 1\n"
_DIGEST = 16
_PACKAGE = Path(__file__).resolve().parents[1]

_folder: str | None = None
_loaded_count = 0


def enable(folder: str | os.PathLike[str] | None) -> None:
    """Keep traced programs in ``folder`` (None: off) for the rest of the process."""
    global _folder
    _folder = None
    if folder is not None:
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError:
            return  # an unwritable store only costs tracing
        _folder = os.fspath(folder)


def folder() -> str | None:
    """Where traced programs are kept now (None: the store is off)."""
    return _folder


def loaded() -> int:
    """Programs read from the store in this process."""
    return _loaded_count


@functools.cache
def _package_digest() -> str:
    """A digest of the package's source files (their paths and bytes)."""
    h = hashlib.blake2b(digest_size=16)
    for path in sorted(_PACKAGE.rglob("*.py")):
        h.update(str(path.relative_to(_PACKAGE)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@functools.cache
def _machine() -> str:
    """JAX's versions, the platform, its version and device kind, the source's digest."""
    import jaxlib

    device = jax.devices()[0]
    return repr(
        (jax.__version__, jaxlib.__version__, device.platform, device.client.platform_version)
        + (device.device_kind, _package_digest())
    )


_config_texts: dict[tuple, str] = {}


def _config() -> str:
    """JAX's configuration now (``jax.config.values``: the values in force, context
    managers such as ``jax.enable_x64`` included), as text; memoised per value."""
    values = tuple(jax.config.values.items())
    try:
        return _config_texts[values]
    except TypeError:  # an unhashable value
        return repr(sorted(values, key=lambda item: item[0]))
    except KeyError:
        text = repr(sorted(values, key=lambda item: item[0]))
        if len(_config_texts) < 64:
            _config_texts[values] = text
        return text


def _static_token(value) -> str | None:
    """Text that determines a static argument (None: it is not known to)."""
    if isinstance(value, np.generic):  # np.bool_ etc.: compared as their Python values
        value = value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return repr(value)
    if isinstance(value, np.dtype):
        return f"dtype:{value}"
    if isinstance(value, tuple | list):
        parts = [_static_token(v) for v in value]
        return None if None in parts else f"{type(value).__name__}({','.join(parts)})"  # type: ignore[arg-type]
    kind = type(value)
    if (
        dataclasses.is_dataclass(value)
        and kind.__module__.startswith("quests_jax.")
        and kind.__dataclass_params__.frozen
    ):
        fields = [_static_token(getattr(value, f.name)) for f in dataclasses.fields(value)]
        if None in fields:
            return None
        return f"{kind.__module__}.{kind.__qualname__}({','.join(fields)})"  # type: ignore[arg-type]
    return None


def _leaf_token(leaf) -> str | None:
    if isinstance(leaf, jax.core.Tracer):
        return None
    if isinstance(leaf, np.ndarray | np.generic | jax.Array | bool | int | float):
        return str(jax.typeof(leaf))
    return None


class StoredFunction:
    """``jax.jit(fun, static_argnames=...)`` whose traced programs are kept on disk
    while the store is on (module docstring). Attributes of the jitted function
    (``lower``, ``trace``, ...) are reached through it."""

    def __init__(self, fun, static_argnames: tuple[str, ...] = ()):
        self.jitted = jax.jit(fun, static_argnames=static_argnames)
        self.static_argnames = frozenset(static_argnames)
        self.name = f"{fun.__module__}.{fun.__qualname__}"
        # static arguments must come by name (their values are the key's, not traced)
        parameters = list(inspect.signature(fun).parameters)
        self._positional = min(
            [parameters.index(n) for n in static_argnames if n in parameters] or [len(parameters)]
        )
        self._programs: dict[str, Callable] = {}
        functools.update_wrapper(self, fun)

    def __getattr__(self, name):
        if name == "jitted":  # not made yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.jitted, name)

    def __call__(self, *args, **kwargs):
        if _folder is None:
            return self.jitted(*args, **kwargs)
        dynamic = {k: v for k, v in kwargs.items() if k not in self.static_argnames}
        static = {k: v for k, v in kwargs.items() if k in self.static_argnames}
        key = self._key(args, dynamic, static)
        if key is None:
            return self.jitted(*args, **kwargs)
        program = self._programs.get(key)
        if program is not None:
            return program(*args, **dynamic)
        program = self._load(key)
        if program is not None:
            try:  # its first call, waited for: an entry that cannot run is replaced
                out = jax.block_until_ready(program(*args, **dynamic))
            except Exception as error:  # noqa: BLE001 - any failure: traced again
                logger.debug("program store: %s failed to run (%s): traced again", key, error)
                _remove(self._path(key))
            else:
                global _loaded_count
                _loaded_count += 1
                self._programs[key] = program
                return out
        program = self._programs[key] = self._trace(key, args, kwargs)
        return program(*args, **dynamic)

    def _key(self, args, dynamic, static) -> str | None:
        if len(args) > self._positional or jax.process_count() != 1 or jax.device_count() != 1:
            return None
        leaves, tree = jax.tree_util.tree_flatten((args, dynamic))
        tokens = [_leaf_token(leaf) for leaf in leaves]
        statics = [_static_token(value) for _, value in sorted(static.items())]
        config = _config()
        if None in tokens or None in statics or " at 0x" in config:
            return None
        names = ",".join(sorted(static))
        text = "|".join([self.name, _machine(), config, str(tree), names, *tokens, *statics])  # type: ignore[list-item]
        digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        return f"{self.name.rsplit('.', 1)[-1].lstrip('_')}-{digest}"

    def _path(self, key: str) -> str:
        return os.path.join(_folder or "", key + ".program")

    def _load(self, key: str):
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return None
        try:
            program = _unpack(data, key)
        except Exception as error:  # noqa: BLE001 - any failure: trace it again
            logger.debug("program store: %s unreadable (%s): traced again", path, error)
            _remove(path)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used
        return program

    def _trace(self, key: str, args, kwargs):
        from jax import export

        try:
            exported = export.export(self.jitted)(*args, **kwargs)
            data = _pack(exported.serialize(), key)
        except Exception as error:  # noqa: BLE001 - not exportable: the plain path
            logger.debug("program store: %s not stored (%s)", key, error)
            return functools.partial(
                self.jitted, **{k: kwargs[k] for k in kwargs if k in self.static_argnames}
            )
        _write(self._path(key), data)
        return _runner(exported)


def _runner(exported) -> Callable:
    """Calls of an exported program, its arrays committed to the one device first (the
    exported call's jit is keyed by their placement, the plain jit's not: a mix of
    NumPy and device arrays compiled it twice)."""
    call = jax.jit(exported.call)
    device = jax.devices()[0]

    def place(leaf):
        return jax.device_put(leaf, device) if isinstance(leaf, np.ndarray | jax.Array) else leaf

    def run(*args, **kwargs):
        return call(*jax.tree_util.tree_map(place, args), **jax.tree_util.tree_map(place, kwargs))

    return run


def _pack(serialized: bytes | bytearray, key: str) -> bytes:
    """An entry: magic, key, the serialised program, a digest of all before it."""
    body = _MAGIC + struct.pack("<Q", len(key)) + key.encode() + bytes(serialized)
    return body + blake(body)


def _unpack(data: bytes, key: str) -> Callable:
    """The program of an entry written by :func:`_pack` under ``key``, ready to call;
    ValueError when it is cut short, damaged, or holds another key's program."""
    from jax import export

    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    if not body.startswith(_MAGIC) or blake(body) != digest:
        raise ValueError("damaged or cut short")
    (size,) = struct.unpack_from("<Q", body, len(_MAGIC))
    start = len(_MAGIC) + 8
    if body[start : start + size] != key.encode():
        raise ValueError(f"holds the program of {body[start : start + size][:80]!r}")
    return _runner(export.deserialize(bytearray(body[start + size :])))


def blake(data: bytes) -> bytes:
    """The digest that ends an entry."""
    return hashlib.blake2b(data, digest_size=_DIGEST).digest()


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def _write(path: str, data: bytes) -> None:
    """Write ``data`` whole and rename it into place (``write_atomically``); then keep
    the store in its cap. A failure (a full disk, a read-only folder) only costs
    tracing next time."""
    try:
        write_atomically(path, lambda tmp: Path(tmp).write_bytes(data), overwrite=True)
    except OSError as error:
        logger.debug("program store: %s not written (%s)", path, error)
        return
    _evict(os.path.dirname(path))


def _evict(folder: str) -> None:
    """Remove the least recently used entries while the store exceeds its cap."""
    try:
        entries = [  # (not another run's temporary, ".name.XXXX.partial.program")
            e for e in os.scandir(folder) if e.name.endswith(".program") and e.name[0] != "."
        ]
        stats = [(e.stat().st_mtime_ns, e.stat().st_size, e.path) for e in entries]
    except OSError:
        return
    total = sum(size for _, size, _ in stats)
    for _, size, path in sorted(stats):
        if total <= STORE_MAX_BYTES:
            break
        _remove(path)
        total -= size


def stored_jit(fun=None, *, static_argnames: tuple[str, ...] = ()):
    """``jax.jit`` with the store of traced programs: ``@stored_jit`` or
    ``@stored_jit(static_argnames=(...))``."""
    if fun is None:
        return functools.partial(stored_jit, static_argnames=static_argnames)
    return StoredFunction(fun, tuple(static_argnames))
