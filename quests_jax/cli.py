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


def _read_frames(path: str, index: str, fmt: str | None):
    from ase import Atoms
    from ase.io import read

    if not os.path.isfile(path):
        raise UserError(f"{path}: no such file")
    try:
        frames = read(path, index=index, format=fmt)
    except Exception as err:  # ASE raises many kinds for unreadable files
        how = f" as format {fmt!r}" if fmt else ""
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{path}: ASE cannot read it{how}: {reason}") from None
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
    if not os.path.isfile(path):
        raise UserError(f"{path}: no such file")
    t0 = time.perf_counter()
    try:
        data = np.load(path)
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
    return Described(x.astype(np.dtype(args.dtype)), None, k, cutoff, time.perf_counter() - t0)


def _describe(path: str, loaded: Described, args) -> Described:
    """Descriptors of loaded structures (saved descriptors pass through)."""
    from .dataset import get_descriptors

    if loaded.x is not None:
        return loaded
    t0 = time.perf_counter()
    x = get_descriptors(loaded.frames, k=args.nbrs, cutoff=args.cutoff, dtype=args.dtype)
    seconds = time.perf_counter() - t0
    n_frames = len(loaded.frames)
    _log(f"{path}: {n_frames} frames, {x.shape[0]:,} environments described in {seconds:.2f} s")
    return Described(x, loaded.frames, args.nbrs, args.cutoff, seconds)


def _bandwidth_value(args):
    h = args.bandwidth
    return h[0] if len(h) == 1 else np.asarray(h)


def _jsonable(value):
    value = np.asarray(value)
    return value.item() if value.ndim == 0 else value.tolist()


def _chunked_delta_entropy(y, x, h, batch_size, chunk: int = 16384):
    """dH of y against x, a chunk of queries at a time (one compiled shape), with a
    progress bar on long runs."""
    import jax.numpy as jnp

    from .information import delta_entropy
    from .progress import Progress

    m = y.shape[0]
    if m <= chunk:
        return np.asarray(delta_entropy(y, x, h, batch_size))
    x = jnp.asarray(x)
    out = []
    with Progress(m, "dH", unit="environments") as bar:
        for start in range(0, m, chunk):
            part = y[start : start + chunk]
            n = part.shape[0]
            mask = None
            if n < chunk:  # pad the last chunk to the common shape
                part = np.concatenate([part, np.repeat(part[:1], chunk - n, axis=0)])
                mask = np.arange(chunk) < n
            dh = delta_entropy(part, x, h, batch_size, y_mask=mask)
            out.append(np.asarray(dh)[:n])
            bar.update(n)
    return np.concatenate(out)


# --------------------------------------------------------------------------------------
# commands


def cmd_entropy(args) -> None:
    from .information import entropy_and_diversity

    _check_output(args.output, args.overwrite)
    data = _describe(args.file, _load(args.file, args), args)
    h = _bandwidth_value(args)
    t0 = time.perf_counter()
    ent, div = entropy_and_diversity(data.x, h, args.batch_size)
    ent, div = np.asarray(ent), np.asarray(div)
    seconds = time.perf_counter() - t0
    n = data.x.shape[0]
    print(f"environments: {n}")
    print(f"bandwidth:    {_jsonable(h)}")
    print(f"entropy:      {np.array2string(ent, precision=4)} nats (max log N = {np.log(n):.4f})")
    print(f"diversity:    {np.array2string(div, precision=4)}")
    _log(f"entropy computed in {seconds:.2f} s")
    if args.output:
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
    test, ref = _two_sets(args)
    h = _bandwidth_value(args)
    t0 = time.perf_counter()
    dh = _chunked_delta_entropy(test.x, ref.x, h, args.batch_size)
    seconds = time.perf_counter() - t0
    first = dh if dh.ndim == 1 else dh[:, 0]
    print(f"test environments:      {dh.shape[0]}")
    print(f"reference environments: {ref.x.shape[0]}")
    print(f"dH mean / max:          {first.mean():.4f} / {first.max():.4f}")
    print(f"fraction dH > 0:        {(first > 0).mean():.4f}")
    _log(f"dH computed in {seconds:.2f} s")
    if not args.output:
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
            "ref_envs": int(ref.x.shape[0]),
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
    dh = _chunked_delta_entropy(test.x, ref.x, h, args.batch_size)
    value = (dh < args.eps).mean(axis=0)
    seconds = time.perf_counter() - t0
    print(f"overlap of {args.test} on {args.reference}: {np.array2string(value, precision=4)}")
    _log(f"overlap computed in {seconds:.2f} s")
    if args.output:
        _write_json(
            args.output,
            {
                "test_file": args.test,
                "reference_file": args.reference,
                "test_envs": int(test.x.shape[0]),
                "reference_envs": int(ref.x.shape[0]),
                "k": test.k,
                "cutoff": test.cutoff,
                "bandwidth": _jsonable(h),
                "eps": args.eps,
                "overlap": _jsonable(value),
                "computation_time": seconds,
            },
        )


def cmd_descriptors(args) -> None:
    _check_output(args.output, args.overwrite)
    if args.file.endswith((".npz", ".npy")):
        raise UserError(f"{args.file} already holds descriptors")
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
        p.set_defaults(run=func)

    p = sub.add_parser(
        "descriptors", aliases=["make_descriptors"], help="compute and save descriptors (.npz)"
    )
    p.add_argument("file", help="structures (any ASE format)")
    _add_descriptor_options(p)
    p.add_argument("-o", "--output", required=True, help="output .npz file")
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
