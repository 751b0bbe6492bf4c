"""Descriptor files that both quests_jax and the reference package read.

The reference's ``quests make_descriptors`` writes a plain NumPy array with
``np.save`` (whatever the file's name), and its commands read a ``.npz`` input with
``np.load``, expecting an array. quests_jax also needs the frame sizes, k and cutoff.
A descriptor file written here holds both, one after the other:

1. the descriptors as a ``.npy`` array: (n_envs, width), or (frames, atoms, width)
   when reshaped like the reference's ``--reshape``. ``np.load`` (and so the
   reference) reads this and stops there; ``np.load(..., mmap_mode="r")`` maps it
   (here: read, or mapped when over 1 GiB, :mod:`quests_jax._core.npy_files`);
2. a small zip archive (``np.savez``) with ``frame_sizes``, ``k`` and ``cutoff``.
   Zip readers find an archive from its end, so :func:`read_descriptor_file` finds it
   after the array.

:func:`read_descriptor_file` also reads the reference's files (the array alone) and
the older quests_jax format (a ``np.savez`` archive with a ``descriptors`` member).
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
from typing import TYPE_CHECKING

import numpy as np

from .._core.array_types import AnyArray, Float, FrameSizes, PathLike
from .._core.errors import InputValueError
from .._core.npy_files import load_npy
from .._core.output_files import write_atomically
from .._core.validation import check_rows

if TYPE_CHECKING:
    from collections.abc import Sequence


class NoDescriptorsError(ValueError):
    """A NumPy archive without a ``descriptors`` member: some other data."""


@dataclasses.dataclass(frozen=True)
class DescriptorFile:
    """What a descriptor file holds.

    Attributes:
        x: (n_envs, width) descriptors (a memory map where the file allows one).
        k, cutoff: the settings that made them; None when the file does not say.
        frame_sizes: (F,) environments per frame, or None when unknown.
        species: the chemical symbols of a multicomponent descriptor's blocks, in
            order; None for the plain descriptor or when the file does not say.
    """

    x: np.ndarray
    k: int | None
    cutoff: float | None
    frame_sizes: np.ndarray | None
    species: tuple[str, ...] | None = None


def save_descriptor_file(
    path: PathLike,
    x: Float[AnyArray, "n d"] | Float[AnyArray, "frames atoms d"],
    frame_sizes: FrameSizes | None = None,
    *,
    k: int,
    cutoff: float,
    reshape: bool = False,
    overwrite: bool = False,
    species: Sequence[str] | None = None,
) -> tuple[int, ...]:
    """Write descriptors (n_envs, width) and their metadata atomically; returns the
    stored array's shape. ``reshape``: store (frames, atoms, width) when every frame
    has the same number of atoms (the reference's ``make_descriptors --reshape``);
    otherwise the flat array. ``species``: the symbols of multicomponent descriptors'
    blocks (as ``get_multicomponent_descriptors`` was given them), recorded so that
    files of other species are never compared."""
    x = check_rows(x, "x", allow_empty=True)
    sizes = None if frame_sizes is None else np.asarray(frame_sizes, np.int64).reshape(-1)
    if sizes is not None and sizes.sum() != x.shape[0]:
        raise InputValueError(f"frame sizes sum to {sizes.sum()}, but x has {x.shape[0]} rows")
    stored = x
    if reshape and sizes is not None and np.unique(sizes).size == 1:
        stored = x.reshape(sizes.size, int(sizes[0]), x.shape[1])
    meta: dict[str, np.ndarray | np.number] = {"k": np.int64(k), "cutoff": np.float64(cutoff)}
    if sizes is not None:
        meta["frame_sizes"] = sizes
    if species is not None:
        meta["species"] = np.array([str(s) for s in species], dtype=str)

    def write(tmp):
        archive = io.BytesIO()
        np.savez(archive, **meta)
        with open(tmp, "wb") as f:
            np.save(f, stored)
            f.write(archive.getvalue())

    write_atomically(path, write, overwrite=overwrite)
    return stored.shape


def _metadata(path) -> dict:
    """Members of a zip archive appended after the array; {} when there is none."""
    try:
        if not zipfile.is_zipfile(path):
            return {}
        with zipfile.ZipFile(path) as archive:
            return {
                name.removesuffix(".npy"): np.load(io.BytesIO(archive.read(name)))
                for name in archive.namelist()
            }
    except (zipfile.BadZipFile, ValueError, OSError):
        return {}  # an array whose last bytes look like a zip record: no metadata


def read_descriptor_file(path: PathLike) -> DescriptorFile:
    """Descriptors and what is known about them, from any of the formats above."""
    loaded = np.load(path, mmap_mode="r")
    if isinstance(loaded, np.lib.npyio.NpzFile):  # the older quests_jax archive
        with loaded as data:
            if "descriptors" not in data:
                raise NoDescriptorsError("no 'descriptors' array in it")
            x = data["descriptors"]
            meta = {name: data[name] for name in ("k", "cutoff", "frame_sizes") if name in data}
    else:
        x, meta = load_npy(path), _metadata(path)  # read, or mapped when over 1 GiB
    sizes = np.asarray(meta["frame_sizes"]) if "frame_sizes" in meta else None
    if x.ndim == 3:  # (frames, atoms, width), as the reference's --reshape writes
        sizes = np.full(x.shape[0], x.shape[1], np.int64) if sizes is None else sizes
        x = x.reshape(-1, x.shape[2])
    species = tuple(str(s) for s in meta["species"]) if "species" in meta else None
    return DescriptorFile(
        x,
        int(meta["k"]) if "k" in meta else None,
        float(meta["cutoff"]) if "cutoff" in meta else None,
        sizes,
        species,
    )
