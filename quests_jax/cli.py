"""The ``quests-jax`` command line: a thin layer over the library.

Commands and options follow the reference ``quests`` CLI where it has them
(``-c/--cutoff``, ``-k/--nbrs``, ``-b/--bandwidth``, ``--batch_size``, ``-o``,
``--overwrite``) and its JSON keys. Inputs are any file ASE reads (``--format``,
``--index``) or descriptors saved by ``quests-jax descriptors`` (.npz) or NumPy (.npy).
User mistakes end with one ``quests-jax: error: ...`` line and exit status 1 (2 for
malformed options); compiled code is cached on disk so later runs start fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

DEFAULT_CUTOFF = 5.0
DEFAULT_K = 32
PROG = "quests-jax"
STREAM_ABOVE_BYTES = 1 << 30  # .npy descriptors larger than this are streamed, not loaded


class UserError(Exception):
    """A mistake in the command's input: reported in one line, no traceback."""


# --------------------------------------------------------------------------------------
# option types


def _positive(kind):
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


def _finite_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text}")
    return value


# --------------------------------------------------------------------------------------
# helpers


def _first_line(err: BaseException) -> str:
    """The first line of an exception's message (its type name if it has none)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _log(message: str) -> None:
    print(f"[{PROG}] {message}", file=sys.stderr, flush=True)


def _enable_compilation_cache() -> None:
    """Persist compiled XLA programs across runs (QUESTS_JAX_CACHE_DIR; empty: off)."""
    import jax

    default = os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "quests_jax", "xla"
    )
    path = os.environ.get("QUESTS_JAX_CACHE_DIR", default)
    if not path:
        return
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return  # an unwritable cache only costs compile time
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _check_output(path: str | None, overwrite: bool) -> None:
    if path is None:
        return
    if os.path.exists(path) and not overwrite:
        raise UserError(f"output {path} exists; pass --overwrite to replace it")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UserError(f"output directory {parent} does not exist")


def _write_atomically(path: str, write) -> None:
    """Write through a temporary file in the same directory, then rename: an
    interrupted run never leaves a truncated output (or destroys an old one)."""
    directory = os.path.dirname(os.path.abspath(path))
    suffix = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".quests-jax-", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _write_json(path: str, results: dict) -> None:
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(results, f, indent=4)

    _write_atomically(path, write)
    _log(f"results written to {path}")


def _require_file(path: str) -> None:
    if not os.path.isfile(path):
        raise UserError(f"{path}: no such file")


def _unreadable(path: str, fmt: str | None, err: Exception) -> UserError:
    how = f" as format {fmt!r}" if fmt else ""
    return UserError(f"{path}: ASE cannot read it{how}: {_first_line(err)}")


def _read_frames(path: str, index: str, fmt: str | None):
    from ase import Atoms
    from ase.io import read

    _require_file(path)
    try:
        frames = read(path, index=index, format=fmt)
    except Exception as err:  # ASE raises many kinds for unreadable files
        raise _unreadable(path, fmt, err) from None
    if isinstance(frames, Atoms):
        frames = [frames]
    frames = list(frames)
    if not frames:
        raise UserError(f"{path}: no frames selected (--index {index})")
    return frames


class Described:
    """Descriptors of one input file, with what made them."""

    def __init__(self, x, frames=None, k=None, cutoff=None, seconds=0.0):
        self.x = x
        self.frames = frames
        self.k = k
        self.cutoff = cutoff
        self.seconds = seconds


def _load(path: str, args) -> Described:
    """Read an input: structures (not yet described) or saved descriptors. Every
    input is loaded before any is described, so that a bad second file fails fast."""
    if not path.endswith((".npz", ".npy")):
        return Described(None, _read_frames(path, args.index, args.format))
    _require_file(path)
    t0 = time.perf_counter()
    try:
        data = np.load(path, mmap_mode="r" if path.endswith(".npy") else None)
    except Exception as err:
        raise UserError(f"{path}: not a readable NumPy file: {err}") from None
    k = cutoff = None
    if isinstance(data, np.lib.npyio.NpzFile):
        if "descriptors" not in data:
            raise UserError(f"{path}: no 'descriptors' array in it")
        x = data["descriptors"]
        k = int(data["k"]) if "k" in data else None
        cutoff = float(data["cutoff"]) if "cutoff" in data else None
    else:
        x = data
    if x.ndim != 2:
        raise UserError(f"{path}: descriptors must be a 2-D array, got shape {x.shape}")
    if x.shape[0] == 0:
        raise UserError(f"{path}: holds no environments")
    x = x[_share(x.shape[0])]  # a memory map stays one: rows are read when used
    return Described(x, None, k, cutoff, time.perf_counter() - t0)


def _describe(path: str, loaded: Described, args) -> Described:
    """Descriptors of loaded structures (saved descriptors pass through)."""
    from .dataset import get_descriptors

    if loaded.x is not None:
        return loaded
    frames = loaded.frames[_share(len(loaded.frames))]
    if not frames:
        raise UserError(f"{path}: fewer frames than processes; this process has none")
    t0 = time.perf_counter()
    x = get_descriptors(frames, k=args.nbrs, cutoff=args.cutoff, dtype=args.dtype)
    seconds = time.perf_counter() - t0
    mine = f" (process {_process()[0]})" if _process()[1] > 1 else ""
    what = f"{len(frames)} frames, {x.shape[0]:,} environments"
    _log(f"{path}: {what} described in {seconds:.2f} s{mine}")
    return Described(x, frames, args.nbrs, args.cutoff, seconds)


def _bandwidth_value(args):
    h = args.bandwidth
    return h[0] if len(h) == 1 else np.asarray(h)


def _jsonable(value):
    value = np.asarray(value)
    return value.item() if value.ndim == 0 else value.tolist()


def _process() -> tuple[int, int]:
    """(this process's index, number of processes); (0, 1) without jax.distributed."""
    import jax

    return jax.process_index(), jax.process_count()


def _share(n: int) -> slice:
    """This process's contiguous share of n frames or rows (all of them for one)."""
    pid, n_proc = _process()
    return slice(pid * n // n_proc, (pid + 1) * n // n_proc)


def _sharded() -> bool:
    """Spread the kernel sums over devices: more than one is visible."""
    import jax

    return jax.device_count() > 1


def _say(*lines: str) -> None:
    """Print results once (process 0)."""
    if _process()[0] == 0:
        for line in lines:
            print(line)


def _entropy_and_diversity(x, h, batch_size):
    """(H, D, n_envs) on the best path: sharded over devices, in memory, or streamed
    from a memory map too large to load."""
    from . import sharded, streaming
    from .information import entropy_and_diversity

    if _sharded():
        xs = sharded.shard_rows(x, name="descriptors")
        ent, div = sharded.entropy_and_diversity(xs, h, batch_size)
        return np.asarray(ent), np.asarray(div), xs.n_rows
    if isinstance(x, np.memmap) and x.nbytes > STREAM_ABOVE_BYTES:
        ent, div = streaming.entropy_and_diversity(x, h, batch_size)
    else:
        ent, div = entropy_and_diversity(np.asarray(x, np.dtype(_dtype())), h, batch_size)
    return np.asarray(ent), np.asarray(div), x.shape[0]


def _delta_entropy(y, x, h, batch_size):
    """dH of every test row (all processes' rows, in order) against the reference."""
    from . import sharded, streaming

    if _sharded():
        ys = sharded.shard_rows(y, name="test descriptors")
        xs = sharded.shard_rows(x, ys.mesh, name="reference descriptors")
        dh = sharded.delta_entropy(ys, xs, h, batch_size)
        return sharded.all_values(dh, ys), xs.n_rows
    return streaming.delta_entropy(y, x, h, batch_size), x.shape[0]


def _dtype() -> str:
    import jax

    return "float64" if jax.config.jax_enable_x64 else "float32"


# --------------------------------------------------------------------------------------
# commands


def _devices_note() -> str:
    import jax

    n_dev, (_, n_proc) = jax.device_count(), _process()
    return f" on {n_dev} devices in {n_proc} processes" if n_dev > 1 else ""


def cmd_entropy(args) -> None:
    _check_output(args.output, args.overwrite)
    data = _describe(args.file, _load(args.file, args), args)
    h = _bandwidth_value(args)
    t0 = time.perf_counter()
    ent, div, n = _entropy_and_diversity(data.x, h, args.batch_size)
    seconds = time.perf_counter() - t0
    _say(
        f"environments: {n}",
        f"bandwidth:    {_jsonable(h)}",
        f"entropy:      {np.array2string(ent, precision=4)} nats (max log N = {np.log(n):.4f})",
        f"diversity:    {np.array2string(div, precision=4)}",
    )
    _log(f"entropy computed in {seconds:.2f} s{_devices_note()}")
    if args.output and _process()[0] == 0:
        _write_json(
            args.output,
            {
                "file": args.file,
                "n_envs": n,
                "k": data.k,
                "cutoff": data.cutoff,
                "bandwidth": _jsonable(h),
                "dtype": args.dtype,
                "entropy": _jsonable(ent),
                "diversity": _jsonable(div),
                "descriptor_time": data.seconds,
                "entropy_time": seconds,
            },
        )


def _two_sets(args):
    test_input, ref_input = _load(args.test, args), _load(args.reference, args)
    test = _describe(args.test, test_input, args)
    ref = _describe(args.reference, ref_input, args)
    if test.x.shape[1] != ref.x.shape[1]:
        raise UserError(
            f"descriptor widths differ: {args.test} has {test.x.shape[1]} columns, "
            f"{args.reference} has {ref.x.shape[1]}"
        )
    return test, ref


def cmd_dh(args) -> None:
    _check_output(args.output, args.overwrite)
    if args.output and args.output.endswith(".xyz") and args.test.endswith((".npz", ".npy")):
        raise UserError("writing dH into structures (.xyz output) needs a structure file as TEST")
    if args.output and args.output.endswith(".xyz") and _process()[1] > 1:
        raise UserError("writing dH into structures (.xyz output) needs a single process")
    test, ref = _two_sets(args)
    h = _bandwidth_value(args)
    t0 = time.perf_counter()
    dh, n_ref = _delta_entropy(test.x, ref.x, h, args.batch_size)
    seconds = time.perf_counter() - t0
    first = dh if dh.ndim == 1 else dh[:, 0]
    _say(
        f"test environments:      {dh.shape[0]}",
        f"reference environments: {n_ref}",
        f"dH mean / max:          {first.mean():.4f} / {first.max():.4f}",
        f"fraction dH > 0:        {(first > 0).mean():.4f}",
    )
    _log(f"dH computed in {seconds:.2f} s{_devices_note()}")
    if not args.output or _process()[0] != 0:
        return
    if args.output.endswith(".xyz"):
        from ase.io import write

        start = 0
        for atoms in test.frames:
            atoms.set_array("dH", first[start : start + len(atoms)])
            start += len(atoms)
        _write_atomically(args.output, lambda tmp: write(tmp, test.frames, format="extxyz"))
        _log(f"structures with per-atom dH written to {args.output}")
        return
    _write_json(
        args.output,
        {
            "reference_file": args.reference,
            "test_file": args.test,
            "test_envs": int(dh.shape[0]),
            "ref_envs": int(n_ref),
            "k": test.k,
            "cutoff": test.cutoff,
            "bandwidth": _jsonable(h),
            "dtype": args.dtype,
            "delta_entropy": dh.astype(float).tolist(),
            "descriptor_time": test.seconds + ref.seconds,
            "dH_time": seconds,
        },
    )


def cmd_overlap(args) -> None:
    _check_output(args.output, args.overwrite)
    test, ref = _two_sets(args)
    h = _bandwidth_value(args)
    t0 = time.perf_counter()
    dh, n_ref = _delta_entropy(test.x, ref.x, h, args.batch_size)
    value = (dh < args.eps).mean(axis=0)
    seconds = time.perf_counter() - t0
    _say(f"overlap of {args.test} on {args.reference}: {np.array2string(value, precision=4)}")
    _log(f"overlap computed in {seconds:.2f} s{_devices_note()}")
    if args.output and _process()[0] == 0:
        _write_json(
            args.output,
            {
                "test_file": args.test,
                "reference_file": args.reference,
                "test_envs": int(dh.shape[0]),
                "reference_envs": int(n_ref),
                "k": test.k,
                "cutoff": test.cutoff,
                "bandwidth": _jsonable(h),
                "eps": args.eps,
                "overlap": _jsonable(value),
                "computation_time": seconds,
            },
        )


def _iread_frames(path: str, index: str, fmt: str | None):
    """Frames one at a time (ase.io.iread): a trajectory never sits in memory."""
    from ase.io import iread

    _require_file(path)
    try:
        yield from iread(path, index=index, format=fmt)
    except Exception as err:  # ASE raises many kinds for unreadable files
        raise _unreadable(path, fmt, err) from None


def cmd_descriptors(args) -> None:
    from .storage import write_descriptors

    _check_output(args.output, args.overwrite)
    if args.file.endswith((".npz", ".npy")):
        raise UserError(f"{args.file} already holds descriptors")
    if args.output.endswith(".npy"):  # streamed: bounded memory for any file size
        t0 = time.perf_counter()
        frames = _iread_frames(args.file, args.index, args.format)
        try:
            sizes = write_descriptors(
                frames, args.output, k=args.nbrs, cutoff=args.cutoff, dtype=args.dtype,
                overwrite=args.overwrite,
            )  # fmt: skip
        except ValueError as err:
            raise UserError(f"{args.file}: {err}") from None
        width = 2 * args.nbrs - 1
        print(f"descriptors: ({sizes.sum()}, {width}) ({args.dtype}) from {len(sizes)} frames")
        _log(f"descriptors written to {args.output} in {time.perf_counter() - t0:.2f} s")
        return
    data = _describe(args.file, _load(args.file, args), args)
    sizes = np.array([len(a) for a in data.frames])
    print(f"descriptors: {data.x.shape} ({data.x.dtype}) from {len(sizes)} frames")

    def write(tmp):
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz"
            np.savez(f, descriptors=data.x, frame_sizes=sizes, k=args.nbrs, cutoff=args.cutoff)

    _write_atomically(args.output, write)
    _log(f"descriptors written to {args.output}")


def cmd_bandwidth(args) -> None:
    from .bandwidth import get_bandwidth, volume_per_atom

    method = "cutoff" if args.cutoff_fit else "gaussian"
    try:
        volume = float(args.source)
        source = "volume given"
    except ValueError:
        frames = _read_frames(args.source, args.index, args.format)
        volume = volume_per_atom(frames)
        source = f"{len(frames)} frames of {args.source}"
    h = float(get_bandwidth(volume, method))
    print(f"V = {volume:.3f} A^3/atom ({source}) -> h = {h:.5f} 1/A ({method} fit)")
    if args.output:
        _check_output(args.output, args.overwrite)
        _write_json(args.output, {"volume_per_atom": volume, "bandwidth": h, "method": method})


# --------------------------------------------------------------------------------------
# parser


def _add_input_options(p) -> None:
    p.add_argument("--index", default=":", help="frames to read, ASE syntax (default: ':')")
    p.add_argument("--format", default=None, help="ASE file format (default: from the name)")


def _add_descriptor_options(p) -> None:
    _add_input_options(p)
    p.add_argument(
        "-c", "--cutoff", type=_positive(float), default=DEFAULT_CUTOFF,
        help=f"cutoff radius in A (default: {DEFAULT_CUTOFF})",
    )  # fmt: skip
    p.add_argument(
        "-k", "--nbrs", type=_positive(int), default=DEFAULT_K,
        help=f"number of nearest neighbours (default: {DEFAULT_K})",
    )  # fmt: skip
    p.add_argument(
        "--dtype", choices=["float32", "float64"], default="float32",
        help="precision of descriptors and kernel sums (default: float32)",
    )  # fmt: skip


def _add_kernel_options(p) -> None:
    from .information import DEFAULT_BANDWIDTH

    p.add_argument(
        "-b", "--bandwidth", type=_positive(float), nargs="+", default=[DEFAULT_BANDWIDTH],
        help=f"kernel bandwidth(s) in 1/A (default: {DEFAULT_BANDWIDTH})",
    )  # fmt: skip
    p.add_argument(
        "--batch-size", "--batch_size", dest="batch_size", type=_positive(int), default=None,
        help="rows per block of the kernel sums (memory ~ its square; default: per device)",
    )  # fmt: skip


def _add_parallel_options(p) -> None:
    g = p.add_argument_group(
        "several processes (jax.distributed; each process describes its share of the frames)"
    )
    g.add_argument(
        "--distributed", action="store_true",
        help="join a multi-process run, detected from SLURM / Open MPI / the TPU runtime",
    )  # fmt: skip
    g.add_argument("--coordinator", default=None, help="coordinator address HOST:PORT")
    g.add_argument("--num-processes", type=_positive(int), default=None, help="processes in all")
    g.add_argument("--process-id", type=int, default=None, help="this process, 0 .. N-1")


def _init_distributed(args) -> None:
    """Start jax.distributed when asked, before anything touches a device."""
    explicit = [args.coordinator, args.num_processes, args.process_id]
    if not args.distributed and all(v is None for v in explicit):
        return
    if not args.distributed and any(v is None for v in explicit):
        raise UserError("--coordinator, --num-processes and --process-id go together")
    if args.process_id is not None and not 0 <= args.process_id < args.num_processes:
        raise UserError(
            f"--process-id must be in 0 .. {args.num_processes - 1}, got {args.process_id}"
        )
    import jax

    try:
        jax.distributed.initialize(
            coordinator_address=args.coordinator,
            num_processes=args.num_processes,
            process_id=args.process_id,
        )
    except (RuntimeError, ValueError) as err:
        reason = _first_line(err)
        raise UserError(f"cannot start jax.distributed: {reason}") from None
    _log(
        f"process {jax.process_index()} of {jax.process_count()}, "
        f"{jax.local_device_count()} local of {jax.device_count()} devices"
    )


def _add_output_options(p, what: str) -> None:
    p.add_argument("-o", "--output", default=None, help=what)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="QUESTS descriptors and information entropy of atomistic data (JAX).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("entropy", help="entropy and diversity of a dataset")
    p.add_argument("file", help="structures (any ASE format) or descriptors (.npz/.npy)")
    _add_descriptor_options(p)
    _add_kernel_options(p)
    _add_output_options(p, "JSON file for the results")
    _add_parallel_options(p)
    p.set_defaults(run=cmd_entropy)

    for name, func, about in (
        ("dH", cmd_dh, "differential entropy dH of each test environment against a reference"),
        ("overlap", cmd_overlap, "fraction of test environments with dH < eps"),
    ):
        p = sub.add_parser(name, help=about)
        p.add_argument("test", help="test structures or descriptors")
        p.add_argument("reference", help="reference structures or descriptors")
        _add_descriptor_options(p)
        _add_kernel_options(p)
        if name == "overlap":
            p.add_argument(
                "-e", "--eps", type=_finite_float, default=1e-5,
                help="dH threshold for overlapping environments (default: 1e-5)",
            )  # fmt: skip
            _add_output_options(p, "JSON file for the results")
        else:
            _add_output_options(p, "JSON file, or .xyz to write the test frames with dH per atom")
        _add_parallel_options(p)
        p.set_defaults(run=func)

    p = sub.add_parser(
        "descriptors", aliases=["make_descriptors"], help="compute and save descriptors (.npz/.npy)"
    )
    p.add_argument("file", help="structures (any ASE format)")
    _add_descriptor_options(p)
    p.add_argument(
        "-o", "--output", required=True,
        help="output .npz (with frame sizes, k, cutoff) or .npy (streamed, memory-mappable)",
    )  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(run=cmd_descriptors)

    p = sub.add_parser("bandwidth", help="bandwidth from the volume per atom")
    p.add_argument("source", help="periodic structures, or a volume per atom in A^3")
    _add_input_options(p)
    p.add_argument(
        "--cutoff-fit", action="store_true",
        help="use the reference's cutoff-function fit instead of the Gaussian one",
    )  # fmt: skip
    _add_output_options(p, "JSON file for the results")
    p.set_defaults(run=cmd_bandwidth)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "dtype", None) == "float64":
        import jax

        jax.config.update("jax_enable_x64", True)
    _enable_compilation_cache()
    try:
        if hasattr(args, "distributed"):
            _init_distributed(args)
        args.run(args)
    except (UserError, ValueError, TypeError, OSError) as err:
        if args.debug:
            raise
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
