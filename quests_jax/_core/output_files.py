"""Output files that are never lost, truncated or silently replaced.

* :func:`check_outputs` runs before any compute: every output path is a file name in
  an existing, writable directory, absent unless ``overwrite``, and distinct from
  the other outputs and from the inputs (a command never overwrites its own input
  or another of its outputs).
* :func:`write_atomically` writes through a temporary file created exclusively
  (unique name) beside the target, then publishes it in one step. Without
  ``overwrite`` publishing is a hard link, which fails if the target appeared
  meanwhile: of two runs writing the same output, exactly one succeeds and the file
  holds its result; the other gets :class:`OutputExistsError`. With ``overwrite`` it
  is an atomic rename.
* The temporary file is removed whatever happens, also on SIGTERM and SIGHUP once
  :func:`exit_on_signals` is installed (the command line does).
* Outputs get the mode ``open()`` would give them (0666 less the umask).
* A FIFO or a character device (``/dev/null``, ``/dev/stdout``, a terminal) is written
  into, never replaced, as the reference does; no ``--overwrite`` is needed, since
  nothing stored there is lost. Block devices and sockets are refused.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import stat
import tempfile

from .errors import InputValueError


class OutputExistsError(FileExistsError):
    """The output file exists (or appeared while the result was being computed)."""


def check_outputs(outputs: dict, inputs=(), overwrite: bool = False) -> None:
    """Raise (``ValueError`` / :class:`OutputExistsError`) naming the first unusable
    output. ``outputs``: {option name: path or None}; ``inputs``: paths read."""
    seen: dict[str, str] = {}
    real_inputs = {os.path.realpath(p): p for p in inputs if p}
    for option, path in outputs.items():
        if not path:
            continue
        real = os.path.realpath(path)
        if real in seen:
            raise InputValueError(f"{option} {path} is also {seen[real]}: give distinct outputs")
        if real in real_inputs:
            raise InputValueError(
                f"{option} {path} is an input of this command: it would be replaced"
            )
        seen[real] = f"{option} {path}"
        if os.path.isdir(path):
            raise InputValueError(f"{option} {path} is a directory; give a file name")
        kind = _kind(path)
        if kind in ("block device", "socket"):
            raise InputValueError(f"{option} {path} is a {kind}; give a file name")
        if kind == "stream":
            continue  # written into (module docstring)
        if os.path.lexists(path) and not overwrite:
            raise OutputExistsError(f"output {path} exists; pass --overwrite to replace it")
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise InputValueError(f"output directory {parent} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise PermissionError(f"output directory {parent} is not writable")


def _kind(path: str | os.PathLike[str]) -> str | None:
    """ "stream" for a FIFO or a character device, "block device" or "socket", else
    None (a regular file, a directory, or nothing yet)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        return "stream"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return None


def write_atomically(path: str | os.PathLike[str], write, overwrite: bool = False) -> None:
    """Call ``write(tmp)`` on a fresh temporary file beside ``path``, then publish it
    as ``path`` (module docstring). The temporary keeps ``path``'s extension, so
    writers that infer the format from the name (ASE, matplotlib) see it."""
    tmp = temporary_beside(path)
    try:
        write(tmp)
        publish(tmp, path, overwrite)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def temporary_beside(path: str | os.PathLike[str]) -> str:
    """A new, empty file of a unique name in ``path``'s directory (created
    exclusively; the caller removes it), ending in ``path``'s extension."""
    directory = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    suffix = os.path.splitext(name)[1]
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=f".partial{suffix}")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it open()'s mode
    return tmp


def publish(tmp: str, path: str | os.PathLike[str], overwrite: bool = False) -> None:
    """Make the complete file ``tmp`` appear as ``path`` in one step; without
    ``overwrite``, never replace a file that exists by then. A FIFO or a character
    device is written into (module docstring)."""
    if _kind(path) == "stream":
        with open(tmp, "rb") as source, open(path, "wb") as target:
            shutil.copyfileobj(source, target)
        os.remove(tmp)
        return
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic, and fails if path exists
    except FileExistsError:
        raise OutputExistsError(
            f"output {path} appeared while this result was computed (another run?); "
            "not replaced: pass --overwrite to replace it"
        ) from None
    except OSError as err:  # a file system without hard links: reserve the name first
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            raise OutputExistsError(
                f"output {path} appeared while this result was computed (another run?); "
                "not replaced: pass --overwrite to replace it"
            ) from None
        os.replace(tmp, path)
        return
    os.remove(tmp)


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM / SIGHUP, so that ``finally`` blocks
    (temporary files) run as on Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def exit_on_signals():
    """Within the block, SIGTERM and SIGHUP raise :class:`Terminated` (main thread
    only; elsewhere nothing changes); the previous handlers come back after it."""

    def handler(signum, frame):
        raise Terminated(signum)

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):  # not the main thread
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
