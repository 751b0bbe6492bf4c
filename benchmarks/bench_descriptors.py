"""Descriptor throughput: quests_jax vs the reference ``quests`` package, same data,
same run.

    python benchmarks/bench_descriptors.py [--repeats 5] [--large 108000] [--reference-large]

1. 50 rattled fcc Cu frames of 256 atoms (12,800 environments), float32 and float64:
   environments per second of both packages after their first (compiling) call, the
   ratio, and quests_jax's compilation time separately.
2. One large periodic frame (default 108,000 atoms) described by quests_jax, in a
   subprocess so that its peak memory (RSS) is its own; optionally the reference too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np


def machine() -> str:
    import jax

    from quests_jax.benchmark import cpu_name

    cpu = cpu_name()
    dev = jax.devices()[0]
    devices = f"{dev.platform} ({dev.device_kind}, {jax.device_count()} device(s))"
    return (
        f"{cpu}, {os.cpu_count()} cores; python {platform.python_version()}, "
        f"jax {jax.__version__} on {devices}"
    )


def copper_frames(n_frames=50, rep=4, seed=0):
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n_frames):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((rep, rep, rep))
        atoms.positions += rng.normal(scale=0.1, size=atoms.positions.shape)
        frames.append(atoms)
    return frames


def timed(fn, repeats):
    """(first call time, best of ``repeats`` later calls, last result)."""
    t0 = time.perf_counter()
    result = fn()
    first = time.perf_counter() - t0
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return first, best, result


def bench_small(repeats: int):
    from quests.descriptor import get_descriptors as reference

    import quests_jax

    frames = copper_frames()
    n_env = sum(len(a) for a in frames)
    rows = []
    for dtype in ("float32", "float64"):
        ref_first, ref_best, ref_x = timed(lambda d=dtype: reference(frames, dtype=d), repeats)
        jax_first, jax_best, jax_x = timed(
            lambda d=dtype: quests_jax.get_descriptors(frames, dtype=d), repeats
        )
        err = float(np.abs(jax_x.astype(np.float64) - ref_x.astype(np.float64)).max())
        rows.append((dtype, ref_first, ref_best, jax_first, jax_best, err))
    print(
        f"\n{n_env:,} environments in {len(frames)} periodic frames of 256 atoms (rattled fcc Cu)"
    )
    print(
        f"{'dtype':8} {'reference env/s':>16} {'quests_jax env/s':>17} {'ratio':>6} "
        f"{'jax compile (s)':>16} {'ref 1st call (s)':>17} {'max |diff|':>11}"
    )
    for dtype, ref_first, ref_best, jax_first, jax_best, err in rows:
        print(
            f"{dtype:8} {n_env / ref_best:16,.0f} {n_env / jax_best:17,.0f} "
            f"{ref_best / jax_best:6.2f} {jax_first - jax_best:16.2f} {ref_first:17.2f} {err:11.1e}"
        )


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM). Not getrusage's ru_maxrss: on
    Linux that survives fork + exec, so a child would report its parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _large_child(n_atoms: int, which: str):
    """Runs in a subprocess: describe one frame, print JSON with time and peak RSS."""
    from ase.build import bulk

    rep = max(1, round((n_atoms / 4) ** (1 / 3)))
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((rep, rep, rep))
    atoms.positions += np.random.default_rng(0).normal(scale=0.1, size=atoms.positions.shape)
    if which == "jax":
        import quests_jax

        first, best, x = timed(lambda: quests_jax.get_descriptors([atoms]), 1)
    else:
        from quests.descriptor import get_descriptors

        first, best, x = timed(lambda: get_descriptors([atoms], dtype="float32"), 1)
    rss_mb = peak_rss_mb()
    print(
        json.dumps(
            dict(
                n=len(atoms),
                first=first,
                best=best,
                rss_mb=rss_mb,
                finite=bool(np.isfinite(x).all()),
            )
        )
    )


def bench_large(n_atoms: int, with_reference: bool):
    print(f"\none periodic fcc Cu frame of ~{n_atoms:,} atoms (float32), separate processes")
    print(
        f"{'package':11} {'atoms':>10} {'env/s':>10} {'time (s)':>9} "
        f"{'1st call (s)':>13} {'peak RSS (MB)':>14}"
    )
    for which in ["jax", "reference"] if with_reference else ["jax"]:
        out = subprocess.run(
            [sys.executable, __file__, "--_child", str(n_atoms), which],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        name = "quests_jax" if which == "jax" else "reference"
        print(
            f"{name:11} {r['n']:10,} {r['n'] / r['best']:10,.0f} {r['best']:9.2f} "
            f"{r['first']:13.2f} {r['rss_mb']:14,.0f}"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--large", type=int, default=108_000, help="atoms in the large frame (0: skip)"
    )
    parser.add_argument(
        "--reference-large", action="store_true", help="also time the reference on it"
    )
    parser.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        _large_child(int(args._child[0]), args._child[1])
        return
    print("machine:", machine())
    bench_small(args.repeats)
    if args.large:
        bench_large(args.large, args.reference_large)


if __name__ == "__main__":
    main()
