"""A long trajectory through ``quests-jax dH_traj``: time and peak memory at 1,000 and
10,000 frames of 1,000 atoms (memory must not grow with length), and the reference's
``quests dH_traj`` on the shorter one (it reads the whole file first).

    python benchmarks/bench_trajectory.py [--frames 10000] [--atoms-rep 5] [--keep DIR]

The trajectory (fcc Cu heated from 0.05 to 0.3 A rattle, extended XYZ written with
NumPy) is generated in a temporary directory; the reference set is its first frame.
Each run is a separate process under /usr/bin/time (its "maximum resident set size").
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, "benchmarks")
from bench_descriptors import machine


def write_trajectory(path: str, n_frames: int, rep: int, seed=0) -> int:
    from ase.build import bulk

    base = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((rep, rep, 2 * rep))
    n = len(base)
    cell = base.cell[:]
    lattice = " ".join(f"{v:.6f}" for v in cell.reshape(-1))
    header = f'{n}\nLattice="{lattice}" Properties=species:S:1:pos:R:3 pbc="T T T"\n'
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        for i in range(n_frames):
            amp = 0.05 + 0.25 * i / max(n_frames - 1, 1)
            pos = base.positions + rng.normal(scale=amp, size=base.positions.shape)
            f.write(header)
            np.savetxt(f, pos, fmt="Cu %.6f %.6f %.6f")
    return n


def timed_process(argv) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stderr) of one command."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-v", *argv], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed:\n{proc.stderr[-2000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    return seconds, int(rss.group(1)) / 1024, proc.stderr


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--short", type=int, default=1_000)
    parser.add_argument("--atoms-rep", type=int, default=5, help="5: 1,000 atoms per frame")
    parser.add_argument("--keep", default=None, help="directory to keep the files in")
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()
    print(machine())
    root = args.keep or tempfile.mkdtemp(prefix="bench_traj_")
    os.makedirs(root, exist_ok=True)
    exe = os.path.dirname(sys.executable)
    results = {}
    for frames in (args.short, args.frames):
        path = os.path.join(root, f"traj_{frames}.xyz")
        t0 = time.perf_counter()
        n = write_trajectory(path, frames, args.atoms_rep)
        ref = os.path.join(root, "first.xyz")
        write_trajectory(ref, 1, args.atoms_rep)
        size_mb = os.path.getsize(path) / 2**20
        print(
            f"\n{frames:,} frames of {n:,} atoms: {size_mb:,.0f} MB extxyz "
            f"(written in {time.perf_counter() - t0:.0f} s)"
        )
        out = os.path.join(root, f"out_{frames}.json")
        seconds, rss, _ = timed_process(
            [
                os.path.join(exe, "quests-jax"),
                "dH_traj",
                path,
                "-r",
                ref,
                "-w",
                "1",
                "-o",
                out,
                "--overwrite",
            ]
        )
        records = json.load(open(out))["frames"]
        last = records[-1]
        print(
            f"quests_jax dH_traj: {seconds:.1f} s ({frames / seconds:.1f} frames/s), "
            f"peak RSS {rss:,.0f} MB; last frame entropy {last['entropy']:.3f}, "
            f"dH vs first frame mean {last['dH_reference_mean']:.2f}"
        )
        results[frames] = (seconds, rss)
        if frames == args.short and not args.skip_reference:
            ref_out = out + ".ref.json"
            if os.path.exists(ref_out):  # the reference quietly stops if its output exists
                os.remove(ref_out)
            seconds, rss, _ = timed_process(
                [os.path.join(exe, "quests"), "dH_traj", path, "-o", ref_out]
            )
            print(
                f"reference quests dH_traj (dH of each frame against itself): {seconds:.1f} s, "
                f"peak RSS {rss:,.0f} MB"
            )
            results["reference"] = (seconds, rss)
    (t1, m1), (t2, m2) = results[args.short], results[args.frames]
    print(
        f"\n{args.frames // args.short}x the frames: {t2 / t1:.1f}x the time, "
        f"{m2 / m1:.2f}x the peak memory"
    )


if __name__ == "__main__":
    main()
