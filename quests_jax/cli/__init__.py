"""The ``quests-jax`` command line: a thin layer over the library.

Commands and options follow the reference ``quests`` CLI where it has them
(``-c/--cutoff``, ``-k/--nbrs``, ``-b/--bandwidth``, ``--batch_size``, ``-o``,
``--overwrite``) and its JSON keys. Inputs are any file ASE reads (``--format``,
``--index``) or descriptors saved by ``quests-jax descriptors`` (.npz) or NumPy (.npy).
User mistakes end with one ``quests-jax: error: ...`` line and exit status 1 (2 for
malformed options); compiled code is cached on disk so later runs start fast.

Modules: :mod:`.common` (shared pieces), :mod:`.analysis` (entropy, dH, approx_dH,
overlap, metrics, entropy_sampler, descriptors, bandwidth), :mod:`.tools` (compress,
learning_curve, dH_traj, uq, mcmc, active_learning), :mod:`.bench` (the benchmark
suite).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import traceback
import warnings

from .._core.collectives import guarded
from .._core.compilation import enable_compilation_cache, logger, track
from .._core.errors import InputError
from .._core.lazy import defer_package_init
from .._core.output_files import Terminated, exit_on_signals
from .._core.progress import quiet
from . import supervisor
from .analysis import (
    cmd_approx_dh,
    cmd_bandwidth,
    cmd_descriptors,
    cmd_dh,
    cmd_entropy,
    cmd_entropy_sampler,
    cmd_metrics,
    cmd_overlap,
)
from .bench import add_bench_command
from .common import (
    PROG,
    InputPath,
    OutputPath,
    add_descriptor_options,
    add_input_options,
    add_jobs_option,
    add_kernel_options,
    add_output_options,
    add_parallel_options,
    add_plot_option,
    check_all_outputs,
    finite_float,
    first_line,
    init_distributed,
    input_paths,
    jax_processes,
    positive,
)
from .tools import (
    cmd_active_learning,
    cmd_compress,
    cmd_dh_traj,
    cmd_learning_curve,
    cmd_mcmc,
    cmd_uq,
)


class _Parser(argparse.ArgumentParser):
    """Option errors end with one line, as every other error (not the usage block)."""

    def error(self, message: str):
        command = self.prog.removeprefix(PROG).strip()
        hint = f"{PROG} {command} --help" if command else f"{PROG} --help"
        self.exit(2, f"{PROG}: error: {message} (see {hint})\n")


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings of a command as ``quests-jax: warning: ...`` lines on stderr."""
    print(f"{PROG}: warning: {message}", file=sys.stderr if file is None else file)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(
        prog=PROG,
        description="QUESTS descriptors and information entropy of atomistic data (JAX).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show tracebacks of errors, and where the seconds go (reading, describing, "
        "compiling, summing)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bars (shown on a terminal for work longer than ~2 s)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("entropy", help="entropy and diversity of a dataset")
    p.add_argument(
        "file", type=InputPath, help="structures (any ASE format) or descriptors (.npz/.npy)"
    )
    add_descriptor_options(p)
    add_kernel_options(p)
    add_output_options(p, "JSON file for the results")
    add_parallel_options(p)
    p.set_defaults(run=cmd_entropy)

    for name, func, about in (
        ("dH", cmd_dh, "differential entropy dH of each test environment against a reference"),
        ("overlap", cmd_overlap, "fraction of test environments with dH < eps"),
    ):
        p = sub.add_parser(name, help=about)
        p.add_argument("test", type=InputPath, help="test structures or descriptors")
        p.add_argument("reference", type=InputPath, help="reference structures or descriptors")
        add_descriptor_options(p, first="TEST")
        add_kernel_options(p)
        if name == "overlap":
            p.add_argument(
                "-e",
                "--eps",
                type=finite_float,
                default=1e-5,
                help="dH threshold for overlapping environments (default: 1e-5)",
            )
            add_output_options(p, "JSON file for the results")
        else:
            add_output_options(p, "JSON file, or .xyz to write the test frames with dH per atom")
            add_plot_option(p, "a histogram of dH")
        add_parallel_options(p)
        p.set_defaults(run=func)

    p = sub.add_parser(
        "descriptors", aliases=["make_descriptors"], help="compute and save descriptors (.npz/.npy)"
    )
    p.add_argument("file", type=InputPath, help="structures (any ASE format)")
    add_descriptor_options(p)
    p.add_argument(
        "-o",
        "--output",
        type=OutputPath,
        default=None,
        help="output .npz (the reference reads it; with frame sizes, k, cutoff) or .npy "
        "(streamed, memory-mappable); without it, only the shape is printed",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument(
        "-r",
        "--reshape",
        action="store_true",
        help="as the reference: store (frames, atoms, width) when every frame has the same "
        "number of atoms (otherwise the flat array, with a note)",
    )
    p.set_defaults(run=cmd_descriptors)

    p = sub.add_parser("bandwidth", help="bandwidth from the volume per atom")
    p.add_argument(
        "source", type=InputPath, help="periodic structures, or a volume per atom in A^3"
    )
    add_input_options(p)
    p.add_argument(
        "-c",
        "--cutoff",
        "--cutoff-fit",
        dest="cutoff_fit",
        action="store_true",
        help="use the reference's cutoff-function fit instead of the Gaussian one "
        "(-c/--cutoff: the reference's names for this flag)",
    )
    add_output_options(p, "JSON file for the results")
    p.set_defaults(run=cmd_bandwidth)

    _add_analysis_commands(sub)
    _add_dataset_commands(sub)
    _add_generation_commands(sub)
    add_bench_command(sub)
    for command in {id(p): p for p in sub.choices.values()}.values():  # aliases share one
        if command.prog.split()[-1] != "bandwidth":  # the reference's has no -j either
            add_jobs_option(command)
    return parser


def _single_input(sub, name, about, run, first: str | None = None):
    p = sub.add_parser(name, help=about, description=about)
    p.add_argument(
        "file", type=InputPath, help="structures (any ASE format) or descriptors (.npz/.npy)"
    )
    add_descriptor_options(p, first=first)
    add_kernel_options(p)
    p.set_defaults(run=run)
    return p


def _add_analysis_commands(sub) -> None:
    p = _single_input(
        sub, "metrics", "entropy, diversity and every environment's dH in one pass", cmd_metrics
    )
    add_output_options(p, "JSON file for the results")

    p = sub.add_parser(
        "approx_dH", help="dH from the n nearest reference environments (an upper bound)"
    )
    p.add_argument("test", type=InputPath, help="test structures or descriptors")
    p.add_argument("reference", type=InputPath, help="reference structures or descriptors")
    add_descriptor_options(p, first="TEST")
    add_kernel_options(p)
    p.add_argument(
        "-n",
        "--uq_nbrs",
        "--uq-nbrs",
        dest="uq_nbrs",
        type=positive(int),
        default=3,
        help="reference neighbours summed per test environment (default: 3)",
    )
    p.add_argument(
        "-g",
        "--graph_nbrs",
        "--graph-nbrs",
        dest="graph_nbrs",
        type=positive(int),
        default=10,
        help="the reference's pynndescent graph size; accepted, no effect (the search here "
        "is exact)",
    )
    add_output_options(p, "JSON file for the results")
    p.set_defaults(run=cmd_approx_dh)

    p = _single_input(
        sub,
        "entropy_sampler",
        "entropy of random subsets of the environments",
        cmd_entropy_sampler,
    )
    p.add_argument(
        "-s",
        "--sample",
        type=positive(int),
        default=1000,
        help="environments per subset, drawn without replacement (default: 1000)",
    )
    p.add_argument(
        "-n",
        "--num_runs",
        "--num-runs",
        dest="num_runs",
        type=positive(int),
        default=20,
        help="subsets (default: 20; one when the dataset is not larger than --sample)",
    )
    p.add_argument(
        "--estimate_bw",
        "--estimate-bw",
        dest="estimate_bw",
        action="store_true",
        help="bandwidth from the structures' volume per atom instead of -b",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    add_output_options(p, "JSON file for the results")


def _add_dataset_commands(sub) -> None:
    from ..tools import DEFAULT_FRACTIONS, METHODS

    p = _single_input(
        sub,
        "compress",
        "keep the frames that carry most of a dataset's information",
        cmd_compress,
        first="FILE",
    )
    p.add_argument(
        "-s",
        "--size",
        type=positive(float),
        default=0.5,
        help="frames to keep: a fraction in (0, 1) or a count (default: 0.5)",
    )
    p.add_argument(
        "-m",
        "--method",
        default="msc",
        metavar="METHOD",
        help=f"one of {', '.join(METHODS)} (default: msc)",
    )
    p.add_argument(
        "-r",
        "--reference",
        default=None,
        help="data already in the training set: choose what complements it (msc_conditional)",
    )
    p.add_argument("--seed", type=int, default=0, help="for random, mean_fps, k_means")
    add_output_options(
        p, "JSON file (indices and summary), or a structure file for the kept frames"
    )
    p.add_argument(
        "--output-format", default=None, help="ASE format of a structure output (default: by name)"
    )

    p = _single_input(
        sub,
        "learning_curve",
        "entropy at fractions of the dataset, and the information gap",
        cmd_learning_curve,
    )
    p.add_argument(
        "-f",
        "--fractions",
        default=",".join(f"{f:g}" for f in DEFAULT_FRACTIONS),
        help="comma-separated fractions in (0, 1] (default: 0.1 to 0.9 every 0.1, as the "
        "library and the reference)",
    )
    p.add_argument(
        "-n",
        "--num_runs",
        "--num-runs",
        dest="num_runs",
        type=positive(int),
        default=3,
        help="random subsets per fraction (default: 3)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    add_output_options(p, "JSON file for the results")
    add_plot_option(p, "the learning curve with the information-gap fit")

    about = "per-frame entropy and dH of a trajectory, streamed frame by frame"
    p = sub.add_parser("dH_traj", help=about, description=about)
    p.add_argument(
        "trajectory", type=InputPath, help="trajectory (extxyz, LAMMPS dump, ... any ASE format)"
    )
    add_descriptor_options(p, first="TRAJECTORY")
    add_kernel_options(p)
    p.add_argument("-r", "--reference", default=None, help="reference structures or descriptors")
    p.add_argument(
        "-w",
        "--window",
        type=int,
        default=1,
        help="compare each frame with this many frames before it (0: none; default: 1)",
    )
    p.add_argument(
        "-t",
        "--threshold",
        type=finite_float,
        default=0.0,
        help="dH above which an environment is novel (default: 0)",
    )
    p.add_argument(
        "--progress",
        action="store_true",
        help="count the frames first, for an estimate of the time left in the progress bar",
    )
    p.add_argument(
        "--per-atom",
        "--per_atom",
        dest="per_atom",
        action="store_true",
        help="put per-atom dH lists in the JSON ('delta_entropy': each frame against itself, "
        "as the reference's dH_traj)",
    )
    add_output_options(p, "JSON file (per-frame values), or .xyz (frames with per-atom dH)")
    add_plot_option(p, "entropy and dH along the trajectory")
    p.set_defaults(run=cmd_dh_traj)

    about = "uncertainty report: dH of a test set against training data, worst atoms and frames"
    p = sub.add_parser("uq", help=about, description=about)
    p.add_argument(
        "test", type=InputPath, help="test structures (or .npz descriptors with frame sizes)"
    )
    p.add_argument("reference", type=InputPath, help="training structures or descriptors")
    add_descriptor_options(p, first="TEST")
    add_kernel_options(p)
    p.add_argument(
        "-t",
        "--threshold",
        type=finite_float,
        default=0.0,
        help="dH above which an environment is flagged (default: 0)",
    )
    p.add_argument("--top", type=int, default=10, help="worst atoms and frames listed (10)")
    add_output_options(p, "JSON file for the report")
    p.add_argument(
        "--structures",
        type=OutputPath,
        default=None,
        help="write the test frames with per-atom dH (.xyz)",
    )
    add_plot_option(p, "a histogram of dH with the threshold")
    p.set_defaults(run=cmd_uq)


def _add_mc_options(p) -> None:
    from ..information import DEFAULT_TARGET

    add_descriptor_options(p, index=False)
    add_kernel_options(p)
    p.add_argument(
        "-n",
        "--n_steps",
        "--n-steps",
        dest="n_steps",
        type=positive(int),
        default=1000,
        help="Monte Carlo steps per structure (default: 1000)",
    )
    p.add_argument(
        "-t",
        "--target",
        type=finite_float,
        default=DEFAULT_TARGET,
        help=f"target dH in nats (default: {DEFAULT_TARGET:g})",
    )
    p.add_argument(
        "--temperature", type=positive(float), default=1.0, help="initial kT of the score (1)"
    )
    p.add_argument(
        "--step-size", type=positive(float), default=0.02, help="trial displacement in A (0.02)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def _add_generation_commands(sub) -> None:
    about = "anneal one frame's positions toward a target dH against the dataset"
    p = sub.add_parser("mcmc", aliases=["generate"], help=about, description=about)
    p.add_argument("reference", type=InputPath, help="dataset (structures) to add to")
    p.add_argument(
        "-i", "--index", type=int, default=None, help="frame to start from (default: random)"
    )
    _add_mc_options(p)
    add_output_options(p, "structure file for the new frame, or JSON for scores and dH")
    p.add_argument(
        "--compare", action="store_true", help="write the starting frame before the new one"
    )
    p.set_defaults(run=cmd_mcmc)

    about = "generations of Monte Carlo structures, each against the data so far"
    p = sub.add_parser("active_learning", help=about, description=about)
    p.add_argument("reference", type=InputPath, help="dataset (structures) to add to")
    p.add_argument(
        "-s",
        "--structures",
        type=positive(int),
        default=None,
        help="structures generated per generation (default: 1)",
    )
    p.add_argument(
        "-g", "--generations", type=positive(int), default=10, help="generations (default: 10)"
    )
    _add_mc_options(p)
    add_output_options(p, "structure file for the new frames")
    p.add_argument("--full", action="store_true", help="write the dataset and the new frames")
    p.set_defaults(run=cmd_active_learning)


@contextlib.contextmanager
def _debug_logging():
    """Within the block, the library's DEBUG records (phases and their seconds) on
    stderr; the logger is as it was after (``main`` may run many times in a process)."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"[{PROG} debug] %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def main(argv=None) -> int:
    for package in ("ase.dft", "ase.spacegroup"):  # scipy, ~0.4 s, unused by readers
        defer_package_init(package)
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    if supervisor.wants_supervisor(args):
        return supervisor.supervise(argv, args.process_id, args.timeout, args.debug)
    if getattr(args, "dtype", None) == "float64":
        import jax

        jax.config.update("jax_enable_x64", True)
    debug = _debug_logging() if args.debug else contextlib.nullcontext()
    shown = warnings.showwarning
    warnings.showwarning = _one_line_warning  # one line each, while the command runs
    try:
        with exit_on_signals(), debug:  # SIGTERM / SIGHUP clean up like Ctrl-C
            return _run(args, argv)
    finally:
        warnings.showwarning = shown


def _use_compilation_cache(multi_process: bool) -> None:
    """A command opts in to the persistent cache for its process (importing the library
    does not). Not in multi-process runs: a process that reads a program from the cache
    while its peer compiles it hangs the next collective (jax.distributed on CPU, every
    warm run after the first; SIGTERM cannot end it), so every process compiles, as in
    a cold run, and a cache configured through JAX is switched off for the run too."""
    if not multi_process:
        enable_compilation_cache()
        return
    import jax

    jax.config.update("jax_enable_compilation_cache", False)
    logger.debug("persistent compilation cache off: a multi-process run compiles")


def _out_of_memory(err: Exception, args) -> str | None:
    """One line for a run that ran out of memory (the host's MemoryError, or the
    device's RESOURCE_EXHAUSTED / "Out of memory" from XLA: a 34-line traceback
    before), naming the option to lower; None for any other error."""
    text = first_line(err)
    if not (
        isinstance(err, MemoryError) or "RESOURCE_EXHAUSTED" in text or "Out of memory" in text
    ):
        return None
    if getattr(args, "batch_size", None) is not None:
        advice = (
            f"lower --batch-size (now {args.batch_size}; memory grows with its square, "
            "and without it a size that fits the device is chosen)"
        )
    elif hasattr(args, "batch_size"):
        advice = "lower --batch-size (memory grows with its square), or use fewer rows"
    else:
        advice = "use smaller inputs, or a device with more memory"
    found = re.search(r"allocating (\d+) bytes", text)
    size = f" (allocating {int(found.group(1)) / 1e9:.1f} GB)" if found else ""
    return f"out of memory{size}: {advice}"


# the exit status of a fault in quests-jax itself (sysexits' EX_SOFTWARE); bad input: 1
INTERNAL_ERROR = 70


def _internal_error(err: Exception) -> str:
    """One line for an exception that is no input error: a bug, said as one."""
    return (
        f"internal error ({type(err).__name__}: {first_line(err)}). This is a fault in "
        f"quests-jax, not in your input: please report it, with the output of the same "
        f"command run with --debug (which shows where it happened)"
    )


def _failed(err: Exception, args, watch) -> int:
    """Report a command's exception in one line and return its exit status (1 for bad
    input: options, files, peers, memory; INTERNAL_ERROR for anything else, a bug).
    With --debug the exception propagates (its traceback). A process of a multi-process
    run tells its peers and leaves at once, without waiting for them."""
    memory = _out_of_memory(err, args)
    if isinstance(err, (InputError, OSError, supervisor.PeerError)):
        message, code = first_line(err), 1
    elif memory is not None:
        message, code = memory, 1
    else:
        message, code = _internal_error(err), INTERNAL_ERROR
    if args.debug:
        if watch is None:
            raise err
        traceback.print_exc()
    if watch is not None:
        supervisor.report_error(message)
        supervisor.exit_now(message, code)
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def _run(args, argv) -> int:
    watch = None
    try:
        multi_process = False
        if hasattr(args, "distributed"):
            # a single-process run does not start the backend here to ask
            multi_process = init_distributed(args) and jax_processes() > 1
            if supervisor.is_worker() and multi_process:
                watch = supervisor.PeerWatch(args.timeout).start()
                supervisor.agree(argv, input_paths(args), args.timeout)
        _use_compilation_cache(multi_process)
        check_all_outputs(args)
        guard: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if watch is not None:
            guard = guarded(supervisor.guard_collectives(args.timeout, watch.me, watch.n))
        bars = quiet() if args.quiet else contextlib.nullcontext()
        with track() as compiled, guard, bars:
            args.run(args)
        logger.debug("XLA: %s", compiled.describe())
    except Exception as err:  # noqa: BLE001 (every failure is reported: _failed)
        return _failed(err, args, watch)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Terminated as sig:
        print(f"{PROG}: terminated ({sig})", file=sys.stderr)
        return 128 + sig.signum
    if watch is not None:
        watch.stop()
    return 0
