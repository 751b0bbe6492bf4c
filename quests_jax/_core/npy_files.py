"""``.npy`` files read defensively: into memory up to :data:`MAP_ABOVE_BYTES`,
memory-mapped above, and the rows of a memory map read with ordinary file reads.

Reading through a memory map turns a file that shrinks meanwhile (another process
rewrote or truncated it) into SIGBUS: the process dies (exit 135) without a word. So
:func:`load_npy` reads files that fit comfortably with ``os.preadv`` (a short read is
a :class:`FileChangedError` naming the file) and maps only larger ones, whose rows
the streamed code reads in chunks through :func:`read_rows`, again with ``preadv``
at the map's offset, never through the map.
"""

from __future__ import annotations

import mmap
import os

import numpy as np

MAP_ABOVE_BYTES = 1 << 30
"""``.npy`` arrays larger than this (bytes) are memory-mapped and streamed; smaller
ones are read into memory."""


class FileChangedError(OSError):
    """A file holds fewer bytes than its header promised: it shrank while it was read."""


def load_npy(path: str | os.PathLike[str]) -> np.ndarray:
    """The array of a ``.npy`` file: read (a NumPy array) up to
    :data:`MAP_ABOVE_BYTES`, a read-only ``np.memmap`` above. ValueError for a file
    shorter than its header says (NumPy's check), :class:`FileChangedError` when it
    shrinks while read."""
    mapped = np.load(path, mmap_mode="r")  # the header, and the size check; no data read
    if not isinstance(mapped, np.memmap) or mapped.nbytes > MAP_ABOVE_BYTES:
        return mapped
    fortran = mapped.flags.f_contiguous and not mapped.flags.c_contiguous
    out = np.empty(mapped.shape, mapped.dtype, order="F" if fortran else "C")
    _read_into(str(mapped.filename), mapped.offset, out)
    return out


def read_rows(a, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of ``a`` as a NumPy array: for a memory map made by
    ``np.load`` / ``np.memmap``, or a C-ordered slice of one, read from its file with
    ``os.preadv`` (:class:`FileChangedError` if the file shrank); else ``a[start:stop]``."""
    at = _file_offset(a)
    if at is None:
        return np.asarray(a[start:stop])
    start, stop, _ = slice(start, stop).indices(a.shape[0])
    row_bytes = a.itemsize * int(np.prod(a.shape[1:], dtype=np.int64))
    out = np.empty((max(stop - start, 0), *a.shape[1:]), a.dtype)
    _read_into(str(a.filename), at + start * row_bytes, out)
    return out


def _file_offset(a) -> int | None:
    """Where ``a``'s first byte lies in its file, for a C-ordered memory map or slice
    of one; None for anything else."""
    if not isinstance(a, np.memmap) or a.filename is None or not a.flags.c_contiguous:
        return None
    root: object = a
    while isinstance(root, np.memmap) and not isinstance(root.base, mmap.mmap):
        root = root.base
    if not isinstance(root, np.memmap):
        return None
    # the map's own offset (np.memmap keeps it in .offset, also for its slices) plus
    # the slice's distance from the map's first element
    return root.offset + (a.ctypes.data - root.ctypes.data)


def _read_into(path: str, offset: int, out: np.ndarray) -> None:
    view = memoryview(out.reshape(-1, order="A").view(np.uint8))
    want, done = view.nbytes, 0
    with open(path, "rb") as f:
        while done < want:
            got = os.preadv(f.fileno(), [view[done:]], offset + done)
            if got == 0:
                raise FileChangedError(
                    f"{path}: the file shrank while it was read ({offset + done} of "
                    f"{offset + want} bytes there): was it rewritten meanwhile?"
                )
            done += got


__all__ = ["MAP_ABOVE_BYTES", "FileChangedError", "load_npy", "read_rows"]
