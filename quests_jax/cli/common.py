"""What the commands share: option types and groups, reading inputs (structures or
saved descriptors), describing them, writing outputs atomically, one-line errors.
How the kernel sums run (sharded, in memory, streamed) is the library's choice
(quests_jax.information.execution); with several processes the command line asks for sharded."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from .._core.compilation import logger
from .._core.errors import InputError
from .._core.npy_files import FileChangedError, load_npy, read_rows

DEFAULT_CUTOFF = 5.0
DEFAULT_K = 32
PROG = "quests-jax"


class UserError(InputError):
    """A mistake in the command's input (an option, a file): reported in one line, no
    traceback, as are the library's own input errors (:mod:`quests_jax._core.errors`)."""


# --------------------------------------------------------------------------------------
# option types


def positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if not np.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def finite_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text}")
    return value


# --------------------------------------------------------------------------------------
# helpers


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (its type name if it has none)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def log(message: str) -> None:
    print(f"[{PROG}] {message}", file=sys.stderr, flush=True)


# Whether this command may replace existing outputs (--overwrite): set once by main.
_OVERWRITE = {"allowed": False}


class InputPath(str):
    """A file a command reads. An option declares it where it is defined
    (``add_argument(..., type=InputPath)``): the multi-process runs fingerprint it and
    no output may replace it. The value is the path itself (a ``str``)."""


class OutputPath(str):
    """A file a command writes (``type=OutputPath``): checked before any compute
    (usable, distinct from the other outputs and from the inputs, not replaced without
    --overwrite)."""


class ImagePath(OutputPath):
    """An image a command draws (``type=ImagePath``): an output whose extension names a
    format matplotlib writes."""


def _declared(args, kind: type) -> dict[str, str]:
    """{option: path} of the parsed options declared as ``kind`` (set ones only)."""
    return {
        "--" + dest.replace("_", "-"): str(value)
        for dest, value in vars(args).items()
        if isinstance(value, kind)
    }


def input_paths(args) -> list[str]:
    """The files this command reads (those that exist)."""
    return [p for p in _declared(args, InputPath).values() if os.path.exists(p)]


def jax_processes() -> int:
    return process()[1]


def check_all_outputs(args) -> None:
    """Before any compute: every output path of the command usable and distinct from
    the others and from the inputs (:func:`quests_jax._core.output_files.check_outputs`)."""
    from .._core.output_files import check_outputs

    overwrite = bool(getattr(args, "overwrite", False))
    _OVERWRITE["allowed"] = overwrite
    outputs = _declared(args, OutputPath)
    check_outputs(outputs, input_paths(args), overwrite)
    for option, image in _declared(args, ImagePath).items():
        _check_plot_format(option, image)


def _check_plot_format(option: str, path: str) -> None:
    supported = ("png", "pdf", "svg", "svgz", "eps", "ps", "jpg", "jpeg", "tif", "tiff", "webp")
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in supported:
        raise UserError(f"{option} {path}: give a file ending in one of .{', .'.join(supported)}")


def check_output(path: str | None, overwrite: bool) -> None:
    """One output path (also checked with the others by :func:`check_all_outputs`)."""
    from .._core.output_files import check_outputs

    check_outputs({"output": path}, (), overwrite)


def write_atomically(path: str, write) -> None:
    """Write through a unique temporary file beside ``path``, then publish it without
    replacing a file that appeared meanwhile unless --overwrite
    (:mod:`quests_jax._core.output_files`)."""
    from .._core.output_files import write_atomically as write_file

    write_file(path, write, overwrite=_OVERWRITE["allowed"])


def overwrite_allowed() -> bool:
    return _OVERWRITE["allowed"]


def write_json(path: str, results: dict, args=None) -> None:
    """Write results atomically; with ``args``, also the reference's ``jobs`` key."""
    if args is not None and hasattr(args, "jobs"):
        results = {**results, "jobs": args.jobs}

    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(results, f, indent=4)

    write_atomically(path, write)
    log(f"results written to {path}")


def require_file(path: str) -> None:
    if os.path.isdir(path):
        raise UserError(f"{path} is a directory; give a file")
    if not os.path.isfile(path):
        raise UserError(f"{path}: no such file")


def unreadable(path: str, fmt: str | None, err: Exception) -> UserError:
    how = f" as format {fmt!r}" if fmt else ""
    return UserError(f"{path}: ASE cannot read it{how}: {first_line(err)}")


def read_frames(path: str, index: str, fmt: str | None, types: dict | None = None):
    from ase import Atoms
    from ase.io import read

    require_file(path)
    t0 = time.perf_counter()
    try:
        frames = read(path, index=index, format=fmt)
    except (StopIteration, IndexError):
        raise UserError(f"{path}: no frame at --index {index}") from None
    except Exception as err:  # noqa: BLE001 (ASE raises many kinds for unreadable files)
        raise unreadable(path, fmt, err) from None
    logger.debug("%s: read in %.3f s", path, time.perf_counter() - t0)
    if isinstance(frames, Atoms):
        frames = [frames]
    frames = [apply_types(atoms, types, path, f" frame {i}") for i, atoms in enumerate(frames)]
    if not frames:
        raise UserError(f"{path}: no frames selected (--index {index})")
    return frames


class Described:
    """Descriptors of one input file, with what made them."""

    def __init__(self, x, frames=None, k=None, cutoff=None, seconds=0.0, sizes=None, species=None):
        self.x = x
        self.frames = frames
        self.k = k
        self.cutoff = cutoff
        self.species = species  # multicomponent blocks' symbols, where recorded
        self.seconds = seconds
        self.sizes = sizes  # environments per frame, where known

    def frame_set(self, path: str):
        """The descriptors frame by frame (needs frames or saved frame sizes)."""
        from ..tools import FrameSet

        if self.sizes is None:
            raise UserError(
                f"{path}: no frame sizes in it; give structures or a .npz from "
                "`quests-jax descriptors`"
            )
        return FrameSet(self.x, self.sizes)


def load(path: str, args, reference: bool = False) -> Described:
    """Read an input: structures (not yet described) or saved descriptors. Every
    input is loaded before any is described, so that a bad second file fails fast.
    ``reference``: the command's second input, read with --reference-index,
    --reference-format and --reference-types (--index and the others describe the
    first input only)."""
    if not path.endswith((".npz", ".npy")):
        if reference:
            index, fmt, types = args.reference_index, args.reference_format, args.reference_types
            return Described(None, read_frames(path, index, fmt, types))
        return Described(None, read_frames(path, args.index, args.format, args.types))
    require_file(path)
    t0 = time.perf_counter()
    try:
        x, k, cutoff, sizes, species = _read_numpy(path)
    except (UserError, FileChangedError):
        raise
    except Exception as err:  # noqa: BLE001 (a corrupt or truncated file: zip, pickle, header)
        raise UserError(f"{path}: not a readable NumPy file: {first_line(err)}") from None
    if x.ndim != 2:
        raise UserError(f"{path}: descriptors must be a 2-D array, got shape {x.shape}")
    if x.shape[0] == 0:
        raise UserError(f"{path}: holds no environments")
    if not np.issubdtype(x.dtype, np.floating) or x.dtype.itemsize < 4:
        raise UserError(f"{path}: descriptors must be float32 or float64, got {x.dtype}")
    _check_width(path, x.shape[1], k if k is not None else getattr(args, "nbrs", DEFAULT_K))
    for start in range(0, x.shape[0], 1 << 16):
        bad = ~np.isfinite(read_rows(x, start, start + (1 << 16))).all(axis=1)
        if bad.any():
            row = start + int(np.argmax(bad))
            raise UserError(f"{path}: descriptors hold NaN or infinite entries (row {row})")
    if process()[1] > 1:
        x, sizes = x[share(x.shape[0])], None  # a memory map stays one: rows read when used
    return Described(x, None, k, cutoff, time.perf_counter() - t0, sizes, species)


def _read_numpy(path: str):
    """(descriptors, k, cutoff, frame sizes) of a .npy (memory-mapped over 1 GiB) or .npz file
    (:mod:`quests_jax.describe._files`: ours, the reference's, or the older format)."""
    from ..describe import NoDescriptorsError, read_descriptor_file

    if path.endswith(".npy"):  # read, or memory-mapped when over 1 GiB
        return load_npy(path), None, None, None, None
    try:
        found = read_descriptor_file(path)
    except NoDescriptorsError as err:
        raise UserError(f"{path}: {err}") from None
    return found.x, found.k, found.cutoff, found.frame_sizes, found.species


def _check_width(path: str, width: int, k: int) -> None:
    """Rows of QUESTS descriptors have 2k - 1 entries (a multiple of it for
    multicomponent ones): anything else is some other array."""
    from ..describe import DescriptorSettings

    expected = DescriptorSettings(k=k).width
    if width % expected != 0:
        raise UserError(
            f"{path}: rows of width {width} are not descriptors of k = {k} neighbours "
            f"(width {expected}, or a multiple for multicomponent ones); give -k if they "
            "were made with another k"
        )


def check_same_settings(args, *inputs: tuple[str, Described]) -> None:
    """Inputs compared with each other must be described alike: a descriptor file's
    recorded k, cutoff and multicomponent species against the other files' and against
    the command's (which describes the structure inputs, plain). Rows made at cutoff 3
    against rows made at 5 gave a mean dH of 1143 instead of ~8, without a word. The
    dtype is not compared: every input is computed at the command's --dtype (a float64
    file in a float32 run is rounded, as the reference's float64 files are)."""
    made = []
    for path, loaded in inputs:
        if loaded.frames is not None:  # plain descriptors, made here
            made.append((path, args.nbrs, args.cutoff, None, "described here with -k/-c"))
        else:
            made.append((path, loaded.k, loaded.cutoff, loaded.species, "recorded in the file"))
    for name, index in (("k", 1), ("cutoff", 2), ("species", 3)):
        known = [m for m in made if m[index] is not None]
        for other in known[1:]:
            first = known[0]
            if other[index] != first[index]:
                raise UserError(
                    f"descriptors made with other settings: {first[0]} has {name} "
                    f"{_setting(first[index])} ({first[4]}), {other[0]} has {name} "
                    f"{_setting(other[index])} ({other[4]}); describe every input with the "
                    "same -k, -c (and species)"
                )


def _setting(value) -> str:
    return " ".join(value) if isinstance(value, tuple) else str(value)


def describe(path: str, loaded: Described, args) -> Described:
    """Descriptors of loaded structures (saved descriptors pass through)."""
    from ..describe import get_descriptors

    if loaded.x is not None:
        return loaded
    mine = share(len(loaded.frames))
    frames = loaded.frames[mine]
    if not frames:
        raise UserError(f"{path}: fewer frames than processes; this process has none")
    t0 = time.perf_counter()
    try:
        x = get_descriptors(
            frames, k=args.nbrs, cutoff=args.cutoff, dtype=args.dtype, first_frame=mine.start
        )
    except InputError as err:
        raise UserError(f"{path}: {first_line(err)}") from None
    seconds = time.perf_counter() - t0
    which = f" (process {process()[0]})" if process()[1] > 1 else ""
    what = f"{len(frames)} frames, {x.shape[0]:,} environments"
    log(f"{path}: {what} described in {seconds:.2f} s{which}")
    sizes = np.array([len(atoms) for atoms in frames])
    return Described(x, frames, args.nbrs, args.cutoff, seconds, sizes)


def bandwidth_value(args):
    h = args.bandwidth
    return h[0] if len(h) == 1 else np.asarray(h)


def jsonable(value):
    value = np.asarray(value)
    return value.item() if value.ndim == 0 else value.tolist()


def process() -> tuple[int, int]:
    """(this process's index, number of processes); (0, 1) without jax.distributed."""
    import jax

    return jax.process_index(), jax.process_count()


def share(n: int) -> slice:
    """This process's contiguous share of n frames or rows (all of them for one)."""
    pid, n_proc = process()
    return slice(pid * n // n_proc, (pid + 1) * n // n_proc)


def execution() -> str:
    """The library's choice (quests_jax.information.execution), except that with several processes
    each one holds its own share of the rows: sharded across them."""
    return "sharded" if process()[1] > 1 else "auto"


def global_rows(n_local: int) -> int:
    """Rows of all processes together."""
    if process()[1] == 1:
        return n_local
    from jax.experimental import multihost_utils

    from .._core.collectives import collective

    with collective("count rows"):
        return int(np.sum(multihost_utils.process_allgather(np.array([n_local]))))


def say(*lines: str) -> None:
    """Print results once (process 0)."""
    if process()[0] == 0:
        for line in lines:
            print(line)


STRUCTURE_SUFFIXES = (".xyz", ".extxyz")


def structure_output(path: str | None, command: str) -> bool:
    """Whether ``-o path`` asks for structures with per-atom values (extended XYZ:
    ``.xyz`` / ``.extxyz``) rather than JSON. A name ASE would take for another
    structure format is refused (it would hold JSON or extended XYZ, not what its name
    says); any other name is JSON, as the reference writes."""
    if path is None:
        return False
    lower = path.lower()
    if lower.endswith(STRUCTURE_SUFFIXES):
        return True
    if lower.endswith(".json") or os.path.splitext(lower)[1] in ("", ".txt", ".out", ".log"):
        return False
    from ase.io.formats import filetype

    try:
        kind = filetype(path, read=False)
    except Exception:  # noqa: BLE001 - not a structure format: JSON
        return False
    raise UserError(
        f"-o {path}: {command} writes JSON (.json) or structures with per-atom values as "
        f"extended XYZ (.xyz / .extxyz), not {kind}"
    )


def write_per_atom(path: str, frames: list, values: np.ndarray, name: str, h) -> None:
    """The frames with per-atom ``values`` (n_atoms,) or (n_atoms, H) as the array
    ``name`` (one column per bandwidth, listed in each frame's ``{name}_bandwidth``),
    written atomically as extended XYZ. The frames keep every array and their
    calculator's results (DFT energies, forces, stress), as the reference does."""
    from ase.io import write

    bandwidths = np.atleast_1d(np.asarray(h, dtype=float))
    start = 0
    for atoms in frames:
        atoms.set_array(name, np.asarray(values[start : start + len(atoms)], dtype=float))
        if bandwidths.size > 1:
            atoms.info[f"{name}_bandwidth"] = bandwidths
        start += len(atoms)
    write_atomically(path, lambda tmp: write(tmp, frames, format="extxyz"))


def file_name(path: str) -> str:
    """A file's name without its folders, for plot titles."""
    return os.path.basename(os.path.normpath(path)) or path


def compute_entropy_and_diversity(x, h, batch_size):
    """(H, D, n_envs): the library picks sharded, in-memory or streamed execution."""
    from ..information import entropy_and_diversity

    ent, div = entropy_and_diversity(x, h, batch_size, execution=execution())
    return np.asarray(ent), np.asarray(div), global_rows(x.shape[0])


def compute_delta_entropy(y, x, h, batch_size):
    """dH of every test row (all processes' rows, in order) against the reference."""
    from ..information import delta_entropy

    dh = delta_entropy(y, x, h, batch_size, execution=execution())
    return np.asarray(dh), global_rows(x.shape[0])


def compute_dtype() -> str:
    import jax

    return "float64" if jax.config.jax_enable_x64 else "float32"


def devices_note() -> str:
    import jax

    n_dev, (_, n_proc) = jax.device_count(), process()
    return f" on {n_dev} devices in {n_proc} processes" if n_dev > 1 else ""


def iread_frames(path: str, index: str, fmt: str | None, types: dict | None = None, number=None):
    """Frames one at a time (ase.io.iread): a trajectory never sits in memory.
    ``number``: the :func:`file_frame_numbers` of this selection, when the caller has
    it already (it may read the whole file once)."""
    from ase.io import iread

    require_file(path)
    number = number or file_frame_numbers(path, index, fmt)
    frames = iread(path, index=index, format=fmt)
    i = 0
    while True:
        try:
            atoms = next(frames)
        except StopIteration:
            return
        except Exception as err:  # noqa: BLE001 (ASE raises many kinds for unreadable files)
            raise unreadable(path, fmt, err) from None
        yield apply_types(atoms, types, path, f" frame {number(i)}")
        i += 1


def file_frame_numbers(path: str, index: str | None, fmt: str | None):
    """``number(i)``: the file's number (from 0) of the i-th frame that ``--index``
    selects, so that messages and results count frames from the start of the file.
    The file is counted only for selections from its end (a negative start)."""
    from ase.io import iread
    from ase.io.formats import string2index

    selection = string2index(index) if index not in (None, ":") else slice(None)
    if isinstance(selection, int) and selection >= 0:
        return lambda i: selection + i
    if isinstance(selection, slice):
        step = 1 if selection.step is None else selection.step
        start = selection.start
        if step > 0 and (start is None or start >= 0):
            first = start or 0
            return lambda i: first + i * step
    if not isinstance(selection, int | slice):  # a format's own index: as it counts
        return lambda i: i
    total = sum(1 for _ in iread(path, index=":", format=fmt))
    if isinstance(selection, int):
        return lambda i: total + selection + i
    chosen = range(*selection.indices(total))
    return lambda i: chosen[i]


# --------------------------------------------------------------------------------------
# parser


def add_input_options(p, index: bool = True, first: str | None = None) -> None:
    """--index, --format, --types; with ``first`` (a command of two inputs, e.g.
    "TEST"), they describe that input only, and --reference-index, --reference-format,
    --reference-types describe the reference (an --index of a trajectory applied to
    the training file too, which was silently cut to one frame)."""
    of = f" of {first} only" if first else ""
    if index:
        p.add_argument(
            "--index", default=":", help=f"frames to read{of}, ASE syntax (default: ':')"
        )
    p.add_argument("--format", default=None, help=f"ASE file format{of} (default: from the name)")
    p.add_argument(
        "--types",
        type=element_types,
        default=None,
        metavar="1:C,2:H",
        help=f"elements of numbered atom types{of} (LAMMPS dumps, which ASE reads as H, He, ...)",
    )
    if first:
        p.add_argument(
            "--reference-index",
            default=":",
            help="frames to read of the reference, ASE syntax (default: ':')",
        )
        p.add_argument(
            "--reference-format",
            default=None,
            help="ASE file format of the reference (default: from the name)",
        )
        p.add_argument(
            "--reference-types",
            type=element_types,
            default=None,
            metavar="1:C,2:H",
            help="elements of the reference's numbered atom types",
        )


def element_types(text: str) -> dict:
    """'1:C,2:H' -> {1: 6, 2: 1}: atom type -> atomic number."""
    from ase.data import atomic_numbers

    mapping = {}
    for item in text.split(","):
        kind, sep, symbol = item.strip().partition(":")
        if not sep or not kind.strip().isdigit() or symbol.strip() not in atomic_numbers:
            raise argparse.ArgumentTypeError(
                f"expected TYPE:ELEMENT pairs such as 1:C,2:H, got {item.strip()!r}"
            )
        if int(kind) in mapping:
            raise argparse.ArgumentTypeError(f"type {int(kind)} given twice")
        mapping[int(kind)] = atomic_numbers[symbol.strip()]
    return mapping


def apply_types(atoms, types: dict | None, path: str, where: str = ""):
    """``atoms`` with the numbered types (read as atomic numbers) given elements."""
    if types is None:
        return atoms
    numbers = atoms.numbers
    missing = sorted(set(np.unique(numbers).tolist()) - set(types))
    if missing:
        raise UserError(f"{path}{where}: atom type(s) {missing} have no element in --types")
    atoms.numbers = np.array([types[int(t)] for t in numbers], dtype=int)
    return atoms


def add_descriptor_options(p, index: bool = True, first: str | None = None) -> None:
    add_input_options(p, index, first)
    p.add_argument(
        "-c",
        "--cutoff",
        type=positive(float),
        default=DEFAULT_CUTOFF,
        help=f"cutoff radius in A (default: {DEFAULT_CUTOFF})",
    )
    p.add_argument(
        "-k",
        "--nbrs",
        type=positive(int),
        default=DEFAULT_K,
        help=f"number of nearest neighbours (default: {DEFAULT_K})",
    )
    p.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float32",
        help="precision of descriptors and kernel sums (default: float32)",
    )


def add_kernel_options(p) -> None:
    from ..information import DEFAULT_BANDWIDTH

    p.add_argument(
        "-b",
        "--bandwidth",
        type=positive(float),
        nargs="+",
        default=[DEFAULT_BANDWIDTH],
        help=f"kernel bandwidth(s) in 1/A (default: {DEFAULT_BANDWIDTH})",
    )
    p.add_argument(
        "--batch-size",
        "--batch_size",
        dest="batch_size",
        type=positive(int),
        default=None,
        help="rows per block of the kernel sums (memory ~ its square; default: per device)",
    )


def add_jobs_option(p) -> None:
    """The reference's ``-j/--jobs`` (numba threads): accepted so that its command
    lines run unchanged, written to the JSON as it does, and otherwise without effect
    (XLA chooses its own threads; set XLA_FLAGS to change them)."""
    p.add_argument(
        "-j",
        "--jobs",
        type=positive(int),
        default=None,
        help="accepted for compatibility with the reference (numba threads there); no effect",
    )


def add_parallel_options(p) -> None:
    g = p.add_argument_group(
        "several processes (jax.distributed; each process describes its share of the frames)"
    )
    g.add_argument(
        "--distributed",
        action="store_true",
        help="join a multi-process run, detected from SLURM / Open MPI / the TPU runtime",
    )
    g.add_argument("--coordinator", default=None, help="coordinator address HOST:PORT")
    g.add_argument("--num-processes", type=positive(int), default=None, help="processes in all")
    g.add_argument("--process-id", type=int, default=None, help="this process, 0 .. N-1")
    g.add_argument(
        "--timeout",
        type=positive(float),
        default=120.0,
        help="seconds to wait for every process to join, for a silent peer, and for every "
        "peer to reach each collective step, before giving up with an error (default: 120)",
    )


def init_distributed(args) -> bool:
    """Start jax.distributed when asked, before anything touches a device; whether it
    was started."""
    explicit = [args.coordinator, args.num_processes, args.process_id]
    if not args.distributed and all(v is None for v in explicit):
        return False
    if not args.distributed and any(v is None for v in explicit):
        raise UserError("--coordinator, --num-processes and --process-id go together")
    if args.process_id is not None and not 0 <= args.process_id < args.num_processes:
        raise UserError(
            f"--process-id must be in 0 .. {args.num_processes - 1}, got {args.process_id}"
        )
    import jax

    timeout = max(1, int(round(args.timeout)))
    try:
        jax.distributed.initialize(
            coordinator_address=args.coordinator,
            num_processes=args.num_processes,
            process_id=args.process_id,
            initialization_timeout=timeout,
            heartbeat_timeout_seconds=timeout,
            shutdown_timeout_seconds=timeout,
        )
    except (RuntimeError, ValueError) as err:
        reason = first_line(err)
        raise UserError(f"cannot start jax.distributed: {reason}") from None
    log(
        f"process {jax.process_index()} of {jax.process_count()}, "
        f"{jax.local_device_count()} local of {jax.device_count()} devices"
    )
    return True


def check_plot(args) -> None:
    """A --plot target is checked (and matplotlib found) before any work starts."""
    path = getattr(args, "plot", None)
    if path is None:
        return
    check_output(path, args.overwrite)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UserError('--plot needs matplotlib: pip install "quests_jax[plot]"') from None


def add_plot_option(p, what: str) -> None:
    p.add_argument(
        "--plot",
        type=ImagePath,
        default=None,
        metavar="PNG",
        help=f"draw {what} to this image file",
    )


def add_output_options(p, what: str) -> None:
    p.add_argument("-o", "--output", type=OutputPath, default=None, help=what)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
