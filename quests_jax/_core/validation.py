"""Input checks, run on the host before any computation.

Each check raises ``ValueError`` (``TypeError`` for wrong types) with a message that
names the offending argument, and the frame where a dataset is involved.
"""

from __future__ import annotations

import numbers
import os

import jax
import numpy as np

from .errors import InputTypeError, InputValueError

# A periodic cell is degenerate when its (periodic) lattice vectors span less than
# this fraction of the volume/area of the box of their lengths.
DEGENERACY_TOLERANCE = 1e-8


def concrete_or_none(x):
    """NumPy value of ``x`` if it is known now (also under ``jax.grad``), else None
    (inside ``jit``/``vmap``, where values are abstract and cannot be checked)."""
    if x is None:
        return None
    try:
        return np.asarray(jax.lax.stop_gradient(x))
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        return None


def check_finite_rows(a: np.ndarray, name: str, first_row: int = 0) -> None:
    """Raise naming ``name`` and the first row (counted from ``first_row``) of a host
    array that holds NaN or inf."""
    finite = np.isfinite(a).all(axis=1)
    if not finite.all():
        bad = first_row + int(np.argmin(finite))
        raise InputValueError(f"{name} has NaN or infinite entries (first in row {bad})")


def check_scale(reach: float, h, width: int, dtype, name: str = "x") -> None:
    """Raise unless kernel sums of rows whose entries are at most ``reach`` in size, at
    bandwidths ``h``, stay representable in ``dtype``: -1/(2h^2) finite and non-zero,
    and squared distances (padding rows included, see :mod:`quests_jax.information._kernels`)
    below the dtype's maximum."""
    info = np.finfo(dtype)
    h = np.asarray(h, np.float64).reshape(-1)
    h_min, h_max = float(h.min()), float(h.max())
    dtype_name = np.dtype(dtype).name
    if 2 * h_min * h_min < float(info.tiny) or 2 * h_max * h_max > float(info.max) / 8:
        limits = (np.sqrt(float(info.tiny)), np.sqrt(float(info.max) / 16))
        raise InputValueError(
            f"h = {h_min if 2 * h_min * h_min < float(info.tiny) else h_max:g} is outside "
            f"what {dtype_name} kernels can represent ({limits[0]:.1g} to {limits[1]:.1g}); "
            f"{_wider(dtype_name)}"
        )
    from .padding import far_beyond

    far = float(far_beyond(reach, h, np))
    if width * (2 * far) ** 2 > float(info.max) / 8:
        raise InputValueError(
            f"{name} has entries up to {reach:.3g}: their squared distances overflow "
            f"{dtype_name}; {_wider(dtype_name)}"
        )


def check_finite_dh(values, name: str, dtype) -> None:
    """After a log-space sum of finite inputs: an infinite dH means the exponent
    |y - x|^2 / 2h^2 itself overflowed the dtype."""
    if not np.isfinite(values).all():
        dtype_name = np.dtype(dtype).name
        raise InputValueError(
            f"{name}: the kernel exponents |y - x|^2 / 2h^2 overflow {dtype_name} (rows "
            f"very far from the others at this bandwidth); {_wider(dtype_name)}"
        )


def _wider(dtype_name: str) -> str:
    return "use float64 (jax_enable_x64)" if dtype_name != "float64" else "rescale the data"


# A frame's neighbour pairs (40 bytes each on the host) may use at most this share of
# the machine's memory.
PAIR_MEMORY_SHARE = 0.5
PAIR_BYTES = 40


def estimated_pairs(n_atoms: int, cell, pbc, cutoff: float) -> float:
    """About how many ordered atom pairs lie within ``cutoff`` in a frame: each atom
    sees the frame's density (atoms per periodic volume, area or length) over the
    cutoff's sphere, disc or segment; all atoms of a non-periodic frame at most."""
    cell = np.asarray(cell, dtype=np.float64)
    axes = [d for d in range(3) if pbc[d]]
    if not axes:
        return float(n_atoms) * n_atoms
    vectors = cell[axes]
    measure = np.sqrt(max(np.linalg.det(vectors @ vectors.T), 0.0))
    reach = {1: 2 * cutoff, 2: np.pi * cutoff**2, 3: 4 / 3 * np.pi * cutoff**3}[len(axes)]
    per_atom = n_atoms * reach / max(measure, np.finfo(float).tiny)
    return float(n_atoms) * max(per_atom, 1.0)


def check_neighbour_budget(n_atoms: int, cell, pbc, cutoff: float, where: str = "") -> None:
    """Raise before a search whose pairs would not fit in memory (a cutoff of 1e3 A,
    a periodic cell 1e-6 A thick)."""
    pairs = estimated_pairs(n_atoms, cell, pbc, cutoff)
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        memory = 16 << 30
    if pairs * PAIR_BYTES > PAIR_MEMORY_SHARE * memory:
        raise InputValueError(
            f"{where}cutoff {cutoff:g} A reaches ~{pairs:.2g} atom pairs "
            f"(~{pairs * PAIR_BYTES / 2**30:.3g} GiB, more than this machine's memory allows); "
            "the descriptor needs only the k nearest neighbours: use a cutoff of a few A, "
            "and check the cell (a periodic axis thinner than an atom?)"
        )


def check_block_size(batch_size, name: str = "batch_size"):
    """None (the default per backend) or an integer >= 1 of rows per block."""
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise InputTypeError(
            f"{name} must be an integer number of rows or None, got {batch_size!r}"
        )
    if batch_size < 1:
        raise InputValueError(f"{name} must be >= 1, got {batch_size}")
    return int(batch_size)


def check_positive(value, name: str, unit: str = "") -> None:
    """Raise naming ``name`` unless ``value`` is a finite number > 0 (a bool is not one);
    ``unit``, e.g. " (1/A)", follows "> 0" in the message."""
    if isinstance(value, bool) or not (np.isfinite(value) and value > 0):
        raise InputValueError(f"{name} must be a finite number > 0{unit}, got {value}")


def check_hashable(value, what: str, advice: str) -> None:
    """Raise unless ``value`` can be a static value of compiled programs (hashable):
    "{what} must be hashable: {advice}"."""
    try:
        hash(value)
    except TypeError:
        raise InputTypeError(f"{what} must be hashable: {advice}") from None


def check_k_cutoff(k, cutoff) -> tuple[int, float]:
    """Validate the descriptor's static configuration; returns (int k, float cutoff)."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise InputTypeError(f"k must be an integer number of neighbours, got {k!r}")
    if k < 1:
        raise InputValueError(f"k must be >= 1, got {k}")
    if isinstance(cutoff, bool) or not isinstance(cutoff, numbers.Real):
        raise InputTypeError(f"cutoff must be a number (Angstrom), got {cutoff!r}")
    cutoff = float(cutoff)
    if not np.isfinite(cutoff) or cutoff <= 0:
        raise InputValueError(f"cutoff must be a finite number > 0 (Angstrom), got {cutoff}")
    return int(k), cutoff


def check_smooth(smooth: float | None) -> float | None:
    """Validate the switch width of the continuous variant (None, or > 0 Angstrom)."""
    if smooth is None:
        return None
    if isinstance(smooth, bool) or not np.isfinite(smooth) or smooth <= 0:
        raise InputValueError(
            f"smooth must be None or a switch width > 0 (Angstrom), got {smooth!r}"
        )
    return float(smooth)


def native_byte_order(a: np.ndarray) -> np.ndarray:
    """``a`` in the machine's byte order: itself when it is (a memory map stays one),
    else a converted copy. JAX reads an array's bytes as native, so big-endian rows
    (``x.astype(">f4")``, a ``.npy`` written on such a machine) gave silently wrong
    sums; every door for rows passes them through here."""
    if a.dtype.isnative:
        return a
    return a.astype(a.dtype.newbyteorder("="))


def check_rows(a, name: str, *, width: int | None = None, allow_empty: bool = False):
    """Descriptor rows (n, d) given by a user, as a host array: 2-D, with rows (unless
    ``allow_empty``) and ``width`` columns when given. The one check of this kind;
    finiteness is checked where the rows are read for compute.

    Returns the array (NumPy; a memory map stays one)."""
    a = native_byte_order(a if isinstance(a, np.memmap) else np.asarray(a))
    columns = "d" if width is None else str(width)
    if a.ndim != 2 or (width is not None and a.shape[1] != width):
        raise InputValueError(
            f"{name} must be (n, {columns}) descriptors (a 2-D array), got shape {a.shape}"
        )
    if a.shape[0] == 0 and not allow_empty:
        raise InputValueError(
            f"{name} is empty: descriptors must be non-empty (one environment or more)"
        )
    return a


def check_frame(positions, cell, pbc, atom_mask=None, where: str = "") -> None:
    """Check one frame given as concrete arrays. ``where`` prefixes messages, e.g.
    "frame 12: "."""
    positions = np.asarray(positions)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise InputValueError(f"{where}positions must have shape (N, 3), got {positions.shape}")
    if positions.shape[0] == 0:
        raise InputValueError(f"{where}positions is empty: a frame needs at least one atom")
    if atom_mask is not None:
        atom_mask = np.asarray(atom_mask)
        if atom_mask.shape != positions.shape[:1]:
            raise InputValueError(
                f"{where}atom_mask must have shape ({positions.shape[0]},) like positions, "
                f"got {atom_mask.shape}"
            )
        atom_mask = atom_mask.astype(bool)
        if not atom_mask.any():
            raise InputValueError(
                f"{where}atom_mask selects no atom: a frame needs at least one atom"
            )
    real = positions if atom_mask is None else positions[atom_mask]
    bad = ~np.isfinite(real).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InputValueError(
            f"{where}positions has {int(bad.sum())} atom(s) with NaN or infinite "
            f"coordinates (first: atom {first})"
        )
    cell = np.asarray(cell)
    if cell.shape != (3, 3):
        raise InputValueError(
            f"{where}cell must have shape (3, 3) (lattice vectors as rows), got {cell.shape}"
        )
    if not np.isfinite(cell).all():
        raise InputValueError(f"{where}cell has NaN or infinite entries")
    check_periodic_cell(cell, pbc, where)


def check_periodic_cell(cell, pbc, where: str = "") -> None:
    """Lattice vectors of periodic axes must be non-zero and linearly independent."""
    cell = np.asarray(cell, dtype=np.float64)
    axes = [d for d in range(3) if pbc[d]]
    if not axes:
        return
    vectors = cell[axes]
    lengths = np.linalg.norm(vectors, axis=1)
    if (lengths == 0).any():
        d = axes[int(np.flatnonzero(lengths == 0)[0])]
        raise InputValueError(
            f"{where}cell vector {d} is zero but pbc[{d}] is True: a periodic axis needs "
            "a lattice vector (or set pbc False along it)"
        )
    # volume (3 axes), area (2) or length (1) spanned, relative to the lengths' product
    measure = np.sqrt(max(np.linalg.det(vectors @ vectors.T), 0.0))
    if measure <= DEGENERACY_TOLERANCE * np.prod(lengths):
        what = {3: "zero volume", 2: "zero area"}[len(axes)]
        raise InputValueError(
            f"{where}cell is degenerate: its periodic lattice vectors {axes} span {what}"
        )


def static_pbc(pbc) -> tuple[bool, bool, bool]:
    """pbc as a hashable tuple of three Python bools (it fixes shapes, so it must be
    concrete)."""
    if isinstance(pbc, jax.core.Tracer):
        raise InputTypeError(
            "pbc must be concrete (a bool or three bools), not a traced array: it "
            "decides which axes wrap, which fixes shapes; mark it static under jit"
        )
    values = np.asarray(pbc)
    if values.dtype.kind not in "biu" or (
        values.dtype.kind in "iu" and not np.isin(values, (0, 1)).all()
    ):
        raise InputTypeError(f"pbc must be a bool or three bools, got {pbc!r}")
    arr = values.astype(bool)
    if arr.shape == ():
        arr = np.repeat(arr, 3)
    if arr.shape != (3,):
        raise InputValueError(f"pbc must be a bool or three bools, got shape {arr.shape}")
    return bool(arr[0]), bool(arr[1]), bool(arr[2])
