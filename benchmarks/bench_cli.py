"""End-to-end command line: ``quests-jax entropy FILE`` vs ``quests entropy FILE``.

    python benchmarks/bench_cli.py [--repeats 3]

Writes a 1,000-environment extended-XYZ file (8 rattled Cu frames of 125 atoms), then
times each command as a whole process: the first run with empty compilation caches
(quests_jax: its XLA cache directory; quests: numba's cache, via NUMBA_CACHE_DIR)
and the best of later runs, which reuse the caches.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_descriptors import machine


def write_dataset(path: str) -> int:
    from ase.build import bulk
    from ase.io import write

    rng = np.random.default_rng(0)
    frames = []
    for _ in range(8):
        atoms = bulk("Cu", "fcc", a=3.61).repeat((5, 5, 5))
        atoms.positions += rng.normal(scale=0.1, size=atoms.positions.shape)
        frames.append(atoms)
    write(path, frames)
    return sum(len(a) for a in frames)


def timed_run(argv, env) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {done.stderr.strip()[-500:]}")
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    bindir = os.path.dirname(sys.executable)
    print("machine:", machine())
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "cu.xyz")
        n = write_dataset(data)
        print(f"\n`<tool> entropy {os.path.basename(data)}`: {n:,} environments, whole process")
        print(f"{'command':12} {'first run (s)':>14} {'later runs (s)':>15}")
        tools = {
            "quests-jax": (
                [os.path.join(bindir, "quests-jax"), "entropy", data],
                {"QUESTS_JAX_CACHE_DIR": os.path.join(tmp, "xla")},
            ),
            "quests": (
                [os.path.join(bindir, "quests"), "entropy", data],
                {"NUMBA_CACHE_DIR": os.path.join(tmp, "numba")},
            ),
        }
        results = {}
        for name, (argv, extra) in tools.items():
            env = dict(os.environ, **extra)
            first = timed_run(argv, env)
            later = min(timed_run(argv, env) for _ in range(args.repeats))
            results[name] = later
            print(f"{name:12} {first:14.2f} {later:15.2f}")
        print(f"ratio (later runs): {results['quests'] / results['quests-jax']:.2f}")


if __name__ == "__main__":
    main()
