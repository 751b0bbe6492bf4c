"""Commands on descriptors and information quantities: entropy, dH, approx_dH,
overlap, metrics, entropy_sampler, descriptors, bandwidth."""

from __future__ import annotations

import time

import numpy as np

from .common import (
    UserError,
    bandwidth_value,
    check_output,
    check_plot,
    check_same_settings,
    compute_delta_entropy,
    compute_dtype,
    compute_entropy_and_diversity,
    describe,
    devices_note,
    file_name,
    iread_frames,
    jsonable,
    load,
    log,
    overwrite_allowed,
    process,
    read_frames,
    say,
    structure_output,
    write_json,
    write_per_atom,
)


def cmd_entropy(args) -> None:
    check_output(args.output, args.overwrite)
    data = describe(args.file, load(args.file, args), args)
    h = bandwidth_value(args)
    t0 = time.perf_counter()
    ent, div, n = compute_entropy_and_diversity(data.x, h, args.batch_size)
    seconds = time.perf_counter() - t0
    say(
        f"environments: {n}",
        f"bandwidth:    {jsonable(h)}",
        f"entropy:      {np.array2string(ent, precision=4)} nats (max log N = {np.log(n):.4f})",
        f"diversity:    {np.array2string(div, precision=4)}",
    )
    log(f"entropy computed in {seconds:.2f} s{devices_note()}")
    if args.output and process()[0] == 0:
        write_json(
            args.output,
            {
                "file": args.file,
                "n_envs": n,
                "k": data.k,
                "cutoff": data.cutoff,
                "bandwidth": jsonable(h),
                "dtype": args.dtype,
                "entropy": jsonable(ent),
                "diversity": jsonable(div),
                "descriptor_time": data.seconds,
                "entropy_time": seconds,
            },
            args,
        )


def two_sets(args):
    test_input, ref_input = load(args.test, args), load(args.reference, args, reference=True)
    check_same_settings(args, (args.test, test_input), (args.reference, ref_input))
    test = describe(args.test, test_input, args)
    ref = describe(args.reference, ref_input, args)
    if test.x.shape[1] != ref.x.shape[1]:
        raise UserError(
            f"descriptor widths differ: {args.test} has {test.x.shape[1]} columns, "
            f"{args.reference} has {ref.x.shape[1]}"
        )
    return test, ref


def cmd_dh(args) -> None:
    check_output(args.output, args.overwrite)
    check_plot(args)
    structures = structure_output(args.output, "dH")
    if structures and args.test.endswith((".npz", ".npy")):
        raise UserError("writing dH into structures (.xyz output) needs a structure file as TEST")
    if structures and process()[1] > 1:
        raise UserError("writing dH into structures (.xyz output) needs a single process")
    test, ref = two_sets(args)
    h = bandwidth_value(args)
    t0 = time.perf_counter()
    dh, n_ref = compute_delta_entropy(test.x, ref.x, h, args.batch_size)
    seconds = time.perf_counter() - t0
    first = dh if dh.ndim == 1 else dh[:, 0]
    say(
        f"test environments:      {dh.shape[0]}",
        f"reference environments: {n_ref}",
        f"dH mean / max:          {first.mean():.4f} / {first.max():.4f}",
        f"fraction dH > 0:        {(first > 0).mean():.4f}",
    )
    log(f"dH computed in {seconds:.2f} s{devices_note()}")
    if process()[0] != 0:
        return
    if args.plot:
        from ..tools.plots import dh_histogram

        dh_histogram(
            first,
            args.plot,
            title=f"dH of {file_name(args.test)} against {file_name(args.reference)}",
            overwrite=overwrite_allowed(),
        )
        log(f"plot written to {args.plot}")
    if not args.output:
        return
    if structures:
        write_per_atom(args.output, test.frames, dh, "dH", h)  # every bandwidth's column
        log(f"structures with per-atom dH written to {args.output}")
        return
    write_json(
        args.output,
        {
            "reference_file": args.reference,
            "test_file": args.test,
            "test_envs": int(dh.shape[0]),
            "ref_envs": int(n_ref),
            "k": test.k,
            "cutoff": test.cutoff,
            "bandwidth": jsonable(h),
            "dtype": args.dtype,
            "delta_entropy": dh.astype(float).tolist(),
            "descriptor_time": test.seconds + ref.seconds,
            "dH_time": seconds,
        },
        args,
    )


def cmd_overlap(args) -> None:
    check_output(args.output, args.overwrite)
    test, ref = two_sets(args)
    h = bandwidth_value(args)
    t0 = time.perf_counter()
    dh, n_ref = compute_delta_entropy(test.x, ref.x, h, args.batch_size)
    value = (dh < args.eps).mean(axis=0)
    seconds = time.perf_counter() - t0
    say(f"overlap of {args.test} on {args.reference}: {np.array2string(value, precision=4)}")
    log(f"overlap computed in {seconds:.2f} s{devices_note()}")
    if args.output and process()[0] == 0:
        write_json(
            args.output,
            {
                "test_file": args.test,
                "reference_file": args.reference,
                "test_envs": int(dh.shape[0]),
                "reference_envs": int(n_ref),
                "k": test.k,
                "cutoff": test.cutoff,
                "bandwidth": jsonable(h),
                "eps": args.eps,
                "overlap": jsonable(value),
                "computation_time": seconds,
            },
            args,
        )


def cmd_descriptors(args) -> None:
    from ..information import write_descriptors

    check_output(args.output, args.overwrite)
    if args.output is not None and not args.output.endswith((".npz", ".npy")):
        raise UserError(f"-o {args.output}: descriptors are written as .npz or .npy")
    if args.file.endswith((".npz", ".npy")):
        raise UserError(f"{args.file} already holds descriptors")
    if args.output is not None and args.output.endswith(".npy"):  # streamed, bounded memory
        if args.reshape:
            raise UserError("-r/--reshape applies to .npz outputs (a .npy is streamed flat)")
        t0 = time.perf_counter()
        frames = iread_frames(args.file, args.index, args.format, args.types)
        try:
            sizes = write_descriptors(
                frames,
                args.output,
                k=args.nbrs,
                cutoff=args.cutoff,
                dtype=args.dtype,
                overwrite=args.overwrite,
            )
        except ValueError as err:
            raise UserError(f"{args.file}: {err}") from None
        width = 2 * args.nbrs - 1
        print(f"descriptors: ({sizes.sum()}, {width}) ({args.dtype}) from {len(sizes)} frames")
        log(f"descriptors written to {args.output} in {time.perf_counter() - t0:.2f} s")
        return
    from ..describe import save_descriptor_file

    data = describe(args.file, load(args.file, args), args)
    sizes = np.array([len(a) for a in data.frames])
    if args.output is None:  # as the reference: describe, report the shape
        print(f"descriptors: {data.x.shape} ({data.x.dtype}) from {len(sizes)} frames")
        return
    shape = save_descriptor_file(
        args.output,
        data.x,
        sizes,
        k=args.nbrs,
        cutoff=args.cutoff,
        reshape=args.reshape,
        overwrite=overwrite_allowed(),
    )
    print(f"descriptors: {shape} ({data.x.dtype}) from {len(sizes)} frames")
    if args.reshape and len(shape) == 2:
        print("(not reshaped: the frames have different numbers of atoms)")
    log(f"descriptors written to {args.output}")


def cmd_bandwidth(args) -> None:
    from ..information import get_bandwidth, volume_per_atom

    method = "cutoff" if args.cutoff_fit else "gaussian"
    try:
        volume = float(args.source)
        source = "volume given"
    except ValueError:
        frames = read_frames(args.source, args.index, args.format, args.types)
        volume = volume_per_atom(frames)
        source = f"{len(frames)} frames of {args.source}"
    h = float(get_bandwidth(volume, method))
    print(f"V = {volume:.3f} A^3/atom ({source}) -> h = {h:.5f} 1/A ({method} fit)")
    if args.output:
        check_output(args.output, args.overwrite)
        write_json(args.output, {"volume_per_atom": volume, "bandwidth": h, "method": method})


def cmd_metrics(args) -> None:
    from ..information import get_all_metrics

    check_output(args.output, args.overwrite)
    if process()[1] > 1:
        raise UserError("metrics runs in a single process (per-environment dH of the whole set)")
    data = describe(args.file, load(args.file, args), args)
    h = bandwidth_value(args)
    t0 = time.perf_counter()
    ent, div, dh = get_all_metrics(np.asarray(data.x, compute_dtype()), h, args.batch_size)
    ent, div, dh = np.asarray(ent), np.asarray(div), np.asarray(dh)
    seconds = time.perf_counter() - t0
    n = data.x.shape[0]
    say(
        f"environments: {n}",
        f"entropy:      {np.array2string(ent, precision=4)} nats (max log N = {np.log(n):.4f})",
        f"diversity:    {np.array2string(div, precision=4)}",
        f"dH mean:      {np.array2string(dh.mean(axis=0), precision=4)}",
    )
    log(f"metrics computed in {seconds:.2f} s")
    if args.output:
        write_json(
            args.output,
            {
                "file": args.file,
                "n_envs": n,
                "k": data.k,
                "cutoff": data.cutoff,
                "bandwidth": jsonable(h),
                "dtype": args.dtype,
                "entropy": jsonable(ent),
                "diversity": jsonable(div),
                "dH": dh.astype(float).tolist(),
                "descriptor_time": data.seconds,
                "entropy_time": seconds,
            },
            args,
        )


def cmd_approx_dh(args) -> None:
    from ..information import approx_delta_entropy

    check_output(args.output, args.overwrite)
    if process()[1] > 1:
        raise UserError("approx_dH runs in a single process")
    test, ref = two_sets(args)
    h = bandwidth_value(args)
    if args.uq_nbrs > ref.x.shape[0]:
        raise UserError(
            f"--uq_nbrs {args.uq_nbrs} is more than the {ref.x.shape[0]} reference environments"
        )
    t0 = time.perf_counter()
    dtype = compute_dtype()
    dh = approx_delta_entropy(
        np.asarray(test.x, dtype),
        np.asarray(ref.x, dtype),
        h,
        n=args.uq_nbrs,
        batch_size=args.batch_size,
    )
    dh = np.asarray(dh)
    seconds = time.perf_counter() - t0
    # dh: (M,) for one bandwidth, (M, H) for several: summarise each bandwidth
    say(
        f"test environments:      {dh.shape[0]}",
        f"reference environments: {ref.x.shape[0]} ({args.uq_nbrs} nearest used)",
        f"approx dH mean:         {np.array2string(dh.mean(axis=0), precision=4)}",
        f"approx dH max:          {np.array2string(dh.max(axis=0), precision=4)}",
    )
    log(f"approximate dH computed in {seconds:.2f} s")
    if args.output:
        write_json(
            args.output,
            {
                "reference_file": args.reference,
                "test_file": args.test,
                "test_envs": int(test.x.shape[0]),
                "ref_envs": int(ref.x.shape[0]),
                "k": test.k,
                "n": args.uq_nbrs,
                "cutoff": test.cutoff,
                "bandwidth": jsonable(h),
                "delta_entropy": dh.astype(float).tolist(),
                "time": seconds,
            },
            args,
        )


def cmd_entropy_sampler(args) -> None:
    from ..information import get_bandwidth, volume_per_atom
    from ..tools import entropy_sampler

    check_output(args.output, args.overwrite)
    if process()[1] > 1:
        raise UserError("entropy_sampler runs in a single process")
    data = describe(args.file, load(args.file, args), args)
    h = bandwidth_value(args)
    if args.estimate_bw:
        if data.frames is None:
            raise UserError("--estimate_bw needs structures, not saved descriptors")
        h = float(get_bandwidth(volume_per_atom(data.frames)))
    t0 = time.perf_counter()
    values, run_seconds = entropy_sampler(
        np.asarray(data.x, compute_dtype()),
        args.sample,
        args.num_runs,
        h,
        args.batch_size,
        seed=args.seed,
        return_times=True,
    )
    seconds = time.perf_counter() - t0
    n = data.x.shape[0]
    size = min(args.sample, n)
    say(
        f"entropy: {values.mean():.4f} +- {values.std():.4f} nats "
        f"({values.size} samples of {size} of {n} environments)",
        f"max theoretical entropy: {np.log(size):.4f} nats",
    )
    log(f"entropies computed in {seconds:.2f} s")
    if args.output:
        write_json(
            args.output,
            {
                "file": args.file,
                "n_envs": n,
                "k": data.k,
                "cutoff": data.cutoff,
                "bandwidth": jsonable(h),
                "sample": args.sample,
                "num_runs": int(values.size),
                "seed": args.seed,
                "entropies": values.tolist(),
                "descriptor_time": data.seconds,
                "entropies_times": run_seconds.tolist(),
                "time": seconds,
            },
            args,
        )
