"""Dataset tools: compress, learning_curve, dH_traj, uq, mcmc (generate),
active_learning. Each command reads, calls one library function, reports."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, TextIO

import numpy as np

from .._core.output_files import publish, temporary_beside
from .analysis import two_sets
from .common import (
    STRUCTURE_SUFFIXES,
    Described,
    UserError,
    bandwidth_value,
    check_output,
    check_plot,
    check_same_settings,
    compute_dtype,
    describe,
    file_frame_numbers,
    file_name,
    iread_frames,
    load,
    log,
    overwrite_allowed,
    process,
    read_frames,
    require_file,
    write_atomically,
    write_json,
    write_per_atom,
)

if TYPE_CHECKING:
    from ase import Atoms


def _single_process(name: str) -> None:
    if process()[1] > 1:
        raise UserError(f"{name} runs in a single process")


def _single_bandwidth(args) -> float:
    h = bandwidth_value(args)
    if np.ndim(h):
        raise UserError("this command takes one bandwidth (-b H)")
    return float(h)


def _is_json(path: str | None) -> bool:
    return path is not None and path.lower().endswith(".json")


def _write_structures(path: str, frames, fmt: str | None) -> None:
    """Write frames with ASE (format from the name unless given), atomically."""
    from ase.io import write

    def run(tmp):
        write(tmp, frames, format=_ase_format(path, fmt))

    write_atomically(path, run)
    log(f"{len(frames)} structures written to {path}")


def _ase_format(path: str, fmt: str | None = None) -> str:
    """The ASE format that writes ``path`` (``fmt``, or guessed from the name)."""
    from ase.io.formats import filetype, ioformats

    if fmt is None:
        try:
            fmt = filetype(path, read=False)
        except Exception as err:  # noqa: BLE001 (ASE's guess raises many kinds)
            raise UserError(f"{path}: ASE cannot tell the format from the name: {err}") from None
    if fmt not in ioformats or not ioformats[fmt].can_write:
        raise UserError(f"{path}: ASE cannot write format {fmt!r}; give --output-format or .xyz")
    return fmt


def _check_structure_output(path: str | None, fmt: str | None) -> None:
    if path is not None and not _is_json(path):
        _ase_format(path, fmt)


# --------------------------------------------------------------------------------------
# compress


def cmd_compress(args) -> None:
    from .. import tools as compression

    check_output(args.output, args.overwrite)
    _check_structure_output(args.output, args.output_format)
    _single_process("compress")
    if args.method not in compression.METHODS:
        raise UserError(f"unknown method {args.method!r}; choose one of {compression.METHODS}")
    if args.reference is not None:
        args.method = "msc_conditional"
        log("reference given: method msc_conditional")
    if args.method == "msc_conditional" and args.reference is None:
        raise UserError("method msc_conditional needs a reference set (-r/--reference)")
    h = _single_bandwidth(args)
    loaded = load(args.file, args)
    if args.output and not _is_json(args.output) and loaded.frames is None:
        raise UserError("writing the compressed structures needs a structure file as input")
    ref_loaded = load(args.reference, args, reference=True) if args.reference else None
    if ref_loaded is not None:
        check_same_settings(args, (args.file, loaded), (args.reference, ref_loaded))
    data = describe(args.file, loaded, args).frame_set(args.file)
    size = compression.size_from(args.size, data.n_frames)
    reference = None
    if ref_loaded is not None:
        reference = describe(args.reference, ref_loaded, args).x
        if reference.shape[1] != data.x.shape[1]:
            raise UserError(
                f"descriptor widths differ: {args.file} has {data.x.shape[1]} columns, "
                f"{args.reference} has {reference.shape[1]}"
            )
    t0 = time.perf_counter()
    selected = compression.compress(
        data, size, args.method, h, args.batch_size, reference=reference, seed=args.seed
    )
    compress_time = time.perf_counter() - t0
    t0 = time.perf_counter()
    summary = compression.summary(data, selected, h, args.batch_size)
    metrics_time = time.perf_counter() - t0
    print(
        f"kept {summary['compressed_size']} of {summary['original_size']} frames "
        f"({summary['compressed_envs']} of {summary['original_envs']} environments) by "
        f"{args.method}\n"
        f"entropy {summary['entropy']:.4f} nats, diversity {summary['diversity']:.4f}, "
        f"overlap of the full set on it {100 * summary['overlap']:.1f}%"
    )
    log(f"compressed in {compress_time:.2f} s, metrics in {metrics_time:.2f} s")
    if not args.output:
        return
    if not _is_json(args.output):
        _write_structures(args.output, [loaded.frames[i] for i in selected], args.output_format)
        return
    write_json(
        args.output,
        {
            "file": args.file,
            "reference": args.reference,
            "method": args.method,
            "k": args.nbrs,
            "cutoff": args.cutoff,
            "bandwidth": h,
            "seed": args.seed,
            "compress_time": compress_time,
            "metrics_time": metrics_time,
            "orig_n_structs": summary["original_size"],
            "orig_n_envs": summary["original_envs"],
            "comp_H": summary["entropy"],
            "comp_D": summary["diversity"],
            "comp_n_structs": summary["compressed_size"],
            "comp_n_envs": summary["compressed_envs"],
            "overlap": summary["overlap"],
            "selected": [int(i) for i in selected],
        },
        args,
    )


# --------------------------------------------------------------------------------------
# learning curve


def _fractions(text: str) -> list[float]:
    try:
        values = [float(f) for f in text.split(",") if f.strip()]
    except ValueError:
        raise UserError(f"--fractions must be numbers separated by commas, got {text!r}") from None
    if not values:
        raise UserError("--fractions is empty")
    for f in values:
        if not 0 < f <= 1:
            raise UserError(f"--fractions must lie in (0, 1], got {f:g}")
    return values


def cmd_learning_curve(args) -> None:
    from .. import tools as learning
    from ..tools import plots

    check_output(args.output, args.overwrite)
    check_plot(args)
    _single_process("learning_curve")
    fractions = _fractions(args.fractions)
    h = _single_bandwidth(args)
    data = describe(args.file, load(args.file, args), args)
    t0 = time.perf_counter()
    curve = learning.learning_curve(
        np.asarray(data.x, compute_dtype()),
        fractions,
        args.num_runs,
        h,
        args.batch_size,
        seed=args.seed,
    )
    seconds = time.perf_counter() - t0
    fit = None
    if len(set(curve["sizes"])) >= 3:
        fit = learning.information_gap(
            np.repeat(curve["sizes"], curve["entropies"].shape[1]), curve["entropies"].reshape(-1)
        )
    for f, n, m, s in zip(
        fractions, curve["sizes"], curve["mean_entropy"], curve["std_entropy"], strict=True
    ):
        print(f"fraction {f:<5g} n = {n:<8d} H = {m:.4f} +- {s:.4f} nats")
    if fit is not None:
        print(
            f"information gap: asymptote {fit.a:.4f} nats, gap {fit.gap:.4f} nats "
            f"(fit H = a - b exp(-c ln(n)^2), b = {fit.b:.4f}, c = {fit.c:.4g}, rms {fit.rms:.3g})"
        )
    log(f"learning curve computed in {seconds:.2f} s")
    if args.plot:
        plots.learning_curve(
            curve,
            args.plot,
            fit=fit,
            title=f"Learning curve: {file_name(args.file)}",
            overwrite=overwrite_allowed(),
        )
        log(f"plot written to {args.plot}")
    if args.output:
        write_json(
            args.output,
            {
                "file": args.file,
                "n_envs": int(data.x.shape[0]),
                "k": data.k,
                "cutoff": data.cutoff,
                "bandwidth": h,
                "fractions": fractions,
                "num_runs": args.num_runs,
                "seed": args.seed,
                "descriptor_time": data.seconds,
                "learning_curve": [
                    {
                        "fraction": f,
                        "n_envs": int(n),
                        "entropies": [float(v) for v in row if np.isfinite(v)],
                        "entropies_times": [float(t) for t in times if np.isfinite(t)],
                        "mean_entropy": float(m),
                        "std_entropy": float(s),
                    }
                    for f, n, row, times, m, s in zip(
                        fractions,
                        curve["sizes"],
                        curve["entropies"],
                        curve["seconds"],
                        curve["mean_entropy"],
                        curve["std_entropy"],
                        strict=True,
                    )
                ],
                "information_gap": None
                if fit is None
                else {"a": fit.a, "b": fit.b, "c": fit.c, "gap": fit.gap, "rms": fit.rms},
                "time": seconds,
            },
            args,
        )


# --------------------------------------------------------------------------------------
# trajectory


def _count_frames(path: str, index: str, fmt: str | None) -> int | None:
    """Frames in a file without holding them (None when unknown): for the progress bar."""
    if index != ":":
        return None
    n = 0
    for _ in iread_frames(path, index, fmt):
        n += 1
    return n


def _check_trajectory_arguments(args) -> None:
    """dH_traj's arguments, before any work."""
    check_output(args.output, args.overwrite)
    check_plot(args)
    _single_process("dH_traj")
    require_file(args.trajectory)
    if args.window < 0:
        raise UserError(f"--window must be >= 0, got {args.window}")
    if args.trajectory.endswith((".npz", ".npy")):
        raise UserError("dH_traj needs a trajectory of structures, not saved descriptors")


def _trajectory_reference(args) -> np.ndarray | None:
    """dH_traj's reference descriptors (None without one), described with -k / -c."""
    if not args.reference:
        return None
    ref_loaded = load(args.reference, args, reference=True)
    trajectory = Described(None, [])  # structures, described here with -k / -c
    check_same_settings(args, (args.trajectory, trajectory), (args.reference, ref_loaded))
    return describe(args.reference, ref_loaded, args).x


@contextlib.contextmanager
def _structures_output(args) -> Iterator[TextIO | None]:
    """The extended-XYZ stream of dH_traj's -o (None for a JSON output or none): written
    beside the target, published when the block ends without error, removed if not."""
    if not args.output or _is_json(args.output):
        yield None
        return
    if not args.output.lower().endswith(STRUCTURE_SUFFIXES):
        raise UserError("structures with per-atom dH are written as extended XYZ (.xyz)")
    tmp = temporary_beside(args.output)
    try:
        with open(tmp, "w") as stream:
            yield stream
        publish(tmp, args.output, overwrite_allowed())
        log(f"frames with per-atom dH written to {args.output}")
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def cmd_dh_traj(args) -> None:
    from ..tools import analyse_trajectory, plots

    _check_trajectory_arguments(args)
    h = _single_bandwidth(args)
    reference = _trajectory_reference(args)
    per_atom_lists: dict[str, list[np.ndarray]] = {
        "dH_self": [],
        "dH_reference": [],
        "dH_previous": [],
    }
    total = _count_frames(args.trajectory, args.index, args.format) if args.progress else None
    number = file_frame_numbers(args.trajectory, args.index, args.format)
    t0 = time.perf_counter()
    with _structures_output(args) as stream:

        def on_frame(i, atoms, per_atom):
            if args.per_atom:
                for name, values in per_atom_lists.items():
                    values.append(
                        per_atom[name].astype(float).tolist() if name in per_atom else None
                    )
            if stream is not None:
                from ase.io import write

                for name, values in per_atom.items():  # the frame keeps energy and forces
                    atoms.set_array(name, values)
                write(stream, atoms, format="extxyz")

        records = analyse_trajectory(
            iread_frames(args.trajectory, args.index, args.format, args.types, number),
            reference=reference,
            window=args.window,
            k=args.nbrs,
            cutoff=args.cutoff,
            h=h,
            batch_size=args.batch_size,
            threshold=args.threshold,
            dtype=args.dtype,
            on_frame=on_frame,
            total=total,
        )
    seconds = time.perf_counter() - t0
    for record in records:  # frames count from the start of the file, as messages do
        record["frame"] = number(record["frame"])
    _print_trajectory_summary(records, args.threshold)
    log(f"trajectory analysed in {seconds:.2f} s ({len(records) / seconds:.1f} frames/s)")
    if args.plot:
        plots.trajectory(
            records,
            args.plot,
            title=f"Trajectory: {file_name(args.trajectory)}",
            overwrite=overwrite_allowed(),
        )
        log(f"plot written to {args.plot}")
    if _is_json(args.output):
        _write_trajectory_json(args, records, per_atom_lists, reference is not None, h, seconds)


def _print_trajectory_summary(records: list[dict], threshold: float) -> None:
    """Print dH_traj's summary lines."""
    n_atoms = sum(r["n_atoms"] for r in records)
    print(f"frames: {len(records)}, environments: {n_atoms}")
    for name in ("self", "reference", "previous"):
        values = [
            r[f"dH_{name}_fraction"] for r in records if r.get(f"dH_{name}_fraction") is not None
        ]
        if values:
            worst = max(
                (r for r in records if r.get(f"dH_{name}_max") is not None),
                key=lambda r: r[f"dH_{name}_max"],
            )
            print(
                f"dH vs {name}: mean fraction above {threshold:g}: {np.mean(values):.4f}; "
                f"highest in frame {worst['frame']} ({worst[f'dH_{name}_max']:.3f} nats)"
            )
    entropies = [r["entropy"] for r in records]
    print(f"frame entropy: {min(entropies):.4f} .. {max(entropies):.4f} nats")


def _write_trajectory_json(args, records, per_atom_lists, with_reference, h, seconds) -> None:
    """dH_traj's JSON result, with the reference's keys."""
    n_atoms = sum(r["n_atoms"] for r in records)
    per_atom = {}
    if args.per_atom:  # the reference's key: each frame's dH against itself
        per_atom = {"delta_entropy": per_atom_lists["dH_self"]}
        if with_reference:
            per_atom["dH_reference"] = per_atom_lists["dH_reference"]
        if args.window:
            per_atom["dH_previous"] = per_atom_lists["dH_previous"]
    write_json(
        args.output,
        {
            "file": args.trajectory,
            "reference": args.reference,
            "num_frames": len(records),
            "n_envs": n_atoms,
            # the reference's key: environments of the first frame (one per atom)
            "num_envs": records[0]["n_atoms"] if records else 0,
            "k": args.nbrs,
            "cutoff": args.cutoff,
            "bandwidth": h,
            "window": args.window,
            "threshold": args.threshold,
            "frames": records,
            **per_atom,
            "time": seconds,
        },
        args,
    )


# --------------------------------------------------------------------------------------
# uncertainty report


def cmd_uq(args) -> None:
    from ..tools import plots, uq_report

    check_output(args.output, args.overwrite)
    check_output(args.structures, args.overwrite)
    check_plot(args)
    _single_process("uq")
    if args.top < 0:
        raise UserError(f"--top must be >= 0, got {args.top}")
    if args.structures and not args.structures.lower().endswith(STRUCTURE_SUFFIXES):
        raise UserError("--structures are written as extended XYZ (.xyz)")
    h = _single_bandwidth(args)
    test, train = two_sets(args)
    if args.structures and test.frames is None:
        raise UserError("--structures needs a structure file as TEST")
    t0 = time.perf_counter()
    dtype = compute_dtype()
    report, dh = uq_report(
        _with_dtype(test.frame_set(args.test), dtype),
        np.asarray(train.x, dtype),
        h,
        args.batch_size,
        threshold=args.threshold,
        top=args.top,
    )
    seconds = time.perf_counter() - t0
    print(
        f"{report['n_above']} of {report['n_envs']} environments "
        f"({100 * report['fraction_above']:.2f}%) have dH > {args.threshold:g} "
        f"against {report['n_train_envs']} training environments"
    )
    print(f"dH mean {report['dH_mean']:.4f}, max {report['dH_max']:.4f} nats")
    for w in report["worst_frames"][: min(args.top, 5)]:
        print(
            f"  frame {w['frame']}: max dH {w['dH_max']:.3f}, "
            f"{100 * w['fraction_above']:.1f}% above"
        )
    log(f"report computed in {seconds:.2f} s")
    report.update({"test_file": args.test, "train_file": args.reference, "time": seconds})
    if args.plot:
        plots.dh_histogram(
            dh,
            args.plot,
            threshold=args.threshold,
            title=f"dH of {file_name(args.test)}",
            overwrite=overwrite_allowed(),
        )
        log(f"plot written to {args.plot}")
    if args.structures:  # the frames keep their energies and forces
        write_per_atom(args.structures, test.frames, dh, "dH", h)
        log(f"structures with per-atom dH written to {args.structures}")
    if args.output:
        write_json(args.output, report, args)


def _with_dtype(data, dtype):
    from ..tools import FrameSet

    return FrameSet(np.asarray(data.x, dtype), data.sizes)


# --------------------------------------------------------------------------------------
# generation


def _mc_options(args) -> dict:
    return {
        "n_steps": args.n_steps,
        "target": args.target,
        "temperature": args.temperature,
        "step_size": args.step_size,
        "k": args.nbrs,
        "cutoff": args.cutoff,
        "h": _single_bandwidth(args),
        "batch_size": args.batch_size,
    }


def cmd_mcmc(args) -> None:
    from ..describe import get_descriptors
    from ..tools import monte_carlo

    check_output(args.output, args.overwrite)
    _check_structure_output(args.output, None)
    _single_process("mcmc")
    frames = read_frames(args.reference, ":", args.format, args.types)
    if args.index is None:
        index = int(np.random.default_rng(args.seed).integers(len(frames)))
    elif not 0 <= args.index < len(frames):
        raise UserError(f"--index must be in 0 .. {len(frames) - 1}, got {args.index}")
    else:
        index = args.index
    options = _mc_options(args)
    t0 = time.perf_counter()
    ref = get_descriptors(frames, k=args.nbrs, cutoff=args.cutoff, dtype=args.dtype)
    result = monte_carlo(frames[index], ref, seed=args.seed, **options)
    seconds = time.perf_counter() - t0
    print(
        f"frame {index}: best score mean|dH - {args.target:g}| = {result.best_score:.4f} nats, "
        f"dH mean {result.dh.mean():.3f}, max {result.dh.max():.3f}; "
        f"acceptance {100 * result.acceptance:.1f}%"
    )
    if result.rejected_overflow:
        log(f"{result.rejected_overflow} moves rejected: neighbour capacity ran out")
    log(f"{args.n_steps} Monte Carlo steps in {seconds:.2f} s")
    if not args.output:
        return
    if _is_json(args.output):
        write_json(
            args.output,
            {
                "reference_file": args.reference,
                "index": index,
                **options,
                "seed": args.seed,
                "best_score": result.best_score,
                "dH": result.dh.astype(float).tolist(),
                "scores": np.nan_to_num(result.scores.astype(float), nan=-1.0).tolist(),
                "acceptance": result.acceptance,
                "rejected_overflow": result.rejected_overflow,
                "time": seconds,
            },
            args,
        )
        return
    best = result.atoms
    best.info["dH_target"] = args.target
    best.info["score"] = result.best_score
    _write_structures(args.output, [frames[index], best] if args.compare else [best], None)


def cmd_active_learning(args) -> None:
    from ..describe import get_descriptors
    from ..tools import monte_carlo

    check_output(args.output, args.overwrite)
    _check_structure_output(args.output, None)
    _single_process("active_learning")
    if args.generations < 1:
        raise UserError(f"--generations must be >= 1, got {args.generations}")
    dset = read_frames(args.reference, ":", args.format, args.types)
    per_gen = args.structures or 1
    if per_gen < 1:
        raise UserError(f"--structures must be >= 1, got {per_gen}")
    options = _mc_options(args)
    rng = np.random.default_rng(args.seed)
    new: list[Atoms] = []
    t0 = time.perf_counter()

    def describe(frames):
        return get_descriptors(frames, k=args.nbrs, cutoff=args.cutoff, dtype=args.dtype)

    ref = describe(dset)  # the pool's rows, in pool order; each generation adds its own
    for gen in range(args.generations):
        pool = dset + new
        starts = rng.choice(len(pool), size=min(per_gen, len(pool)), replace=False)
        scores, made = [], []
        for i in starts:
            seed = int(rng.integers(2**31))
            result = monte_carlo(pool[i], ref, seed=seed, **options)
            best = result.atoms
            best.info["gen"] = gen + 1
            best.info["score"] = result.best_score
            made.append(best)
            scores.append(result.best_score)
        new += made
        if gen + 1 < args.generations:
            ref = np.concatenate([ref, describe(made)])
        log(f"generation {gen + 1}: mean best score {np.mean(scores):.4f} nats")
    seconds = time.perf_counter() - t0
    print(f"{len(new)} new structures in {args.generations} generations ({seconds:.1f} s)")
    if args.output:
        out = dset + new if args.full else new
        _write_structures(args.output, out, None)
