"""Descriptors of datasets larger than memory, written to disk chunk by chunk.

:func:`write_descriptors` describes frames a chunk at a time and appends the rows to a
``.npy`` file, so neither the structures nor the descriptors need fit in memory at
once; :func:`open_descriptors` memory-maps it, and every quantity streams a large
memory map from the host (``execution="streamed"``, chosen by default above
:data:`quests_jax.information.execution.STREAM_ABOVE_BYTES`). The number of rows
need not be known in advance: the file gets a fixed-size header that is rewritten
with the final shape at the end. It
is written under a unique temporary name and published when complete
(:mod:`quests_jax._core.output_files`), so an interrupted run never leaves a truncated file
under the requested name and two runs never mix their rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sized

import numpy as np

from .._core.errors import InputValueError
from .._core.npy_files import load_npy
from .._core.output_files import OutputExistsError, publish, temporary_beside
from .._core.progress import Progress
from .._core.validation import check_rows

_HEADER_BYTES = 128  # .npy v1.0 header, padded; a multiple of 64 as NumPy writes


def _npy_header(shape, dtype) -> bytes:
    fields = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
        "fortran_order": False,
        "shape": tuple(int(s) for s in shape),
    }
    text = repr(fields).encode("latin1")
    room = _HEADER_BYTES - 10 - len(text) - 1
    if room < 0:
        raise InputValueError(f"shape {shape} too long for the .npy header")
    body = text + b" " * room + b"\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body


def write_descriptors(
    frames: Iterable,
    path: str,
    *,
    k: int = 32,
    cutoff: float = 5.0,
    dtype: str = "float32",
    chunk_atoms: int = 1 << 18,
    overwrite: bool = False,
    progress: bool | None = None,
    total_frames: int | None = None,
) -> np.ndarray:
    """Describe ``frames`` (any iterable of ``ase.Atoms``, e.g. ``ase.io.iread``) into
    the ``.npy`` file ``path``, about ``chunk_atoms`` atoms per device call.

    Returns the (F,) number of atoms of each frame (rows are in frame order). Refuses
    to replace an existing file unless ``overwrite``.
    """
    from ..describe import get_descriptors

    if not str(path).endswith(".npy"):
        raise InputValueError(f"path must end in .npy, got {path!r}")
    if os.path.exists(path) and not overwrite:
        raise OutputExistsError(f"{path} exists; pass overwrite=True to replace it")
    if chunk_atoms < 1:
        raise InputValueError(f"chunk_atoms must be >= 1, got {chunk_atoms}")
    if total_frames is None and isinstance(frames, Sized):
        total_frames = len(frames)
    tmp = temporary_beside(path)  # unique: two runs never share it
    sizes: list[int] = []
    rows, width = 0, None
    try:
        with (
            open(tmp, "wb") as f,
            Progress(total_frames or 0, "descriptors", enabled=progress) as bar,
        ):
            f.write(_npy_header((0, 0), dtype))

            def flush(batch):
                nonlocal rows, width
                first = len(sizes) - len(batch)  # frame numbers of the whole stream
                x = get_descriptors(batch, k=k, cutoff=cutoff, dtype=dtype, first_frame=first)
                x = np.ascontiguousarray(x)
                width = x.shape[1]
                f.write(x.tobytes())
                rows += x.shape[0]
                bar.update(len(batch))

            batch, atoms_in_batch = [], 0
            for atoms in frames:
                batch.append(atoms)
                sizes.append(len(atoms))
                atoms_in_batch += len(atoms)
                if atoms_in_batch >= chunk_atoms:
                    flush(batch)
                    batch, atoms_in_batch = [], 0
            if batch:
                flush(batch)
            if rows == 0:
                raise InputValueError("frames is empty: nothing to describe")
            f.seek(0)
            f.write(_npy_header((rows, width), dtype))
        publish(tmp, path, overwrite)  # never replaces a file that appeared meanwhile
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return np.asarray(sizes)


def open_descriptors(path: str) -> np.ndarray:
    """Open a ``.npy`` descriptor file: read into memory up to 1 GiB, memory-mapped
    (read-only, streamed by the information functions) above; a file that shrinks
    while it is read raises an OSError naming it (a map would die of SIGBUS)."""
    return check_rows(load_npy(path), str(path), allow_empty=True)
