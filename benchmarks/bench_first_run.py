"""A user's first run on their own data: ``quests-jax entropy`` and ``quests-jax dH``
against the reference CLI (``quests entropy``, ``quests dH``), each a fresh process.

    python benchmarks/bench_first_run.py [--repeats 3]

Datasets: the real DFT silicon set (``examples/data/mlearn_si``, vendored: train.xyz, 214
frames of 12 - 96 atoms; test.xyz for dH) and a heterogeneous set written here (bulk
Cu, Si, NaCl and Mo, strained, with vacancies, slabs, clusters and molecules: 5 - 250
atoms, several elements, cells and periodicities). Scenarios for quests-jax:

* cold: an empty compilation cache (a first run on a new machine);
* new data: a cache warm from the *other* dataset (a first run on one's own data);
* second: the same command again (cache warm from itself).

The reference runs with numba's cache warm (a first run is timed once, then the
median of the later ones); its ratio is the one reported. quests-jax's breakdown
(reading, describing, compiling, summing) comes from ``--debug``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_descriptors import machine

SI_DATA = os.path.join(os.path.dirname(__file__), "..", "examples", "data", "mlearn_si")


def heterogeneous(seed: int):
    """Bulk, strained, vacancy, slab, cluster and molecule frames of several elements."""
    from ase.build import bulk, fcc111, molecule
    from ase.cluster import Icosahedron

    rng = np.random.default_rng(seed)

    def rattle(atoms, s=0.05):
        atoms = atoms.copy()
        atoms.positions += rng.normal(scale=s, size=atoms.positions.shape)
        return atoms

    frames = []
    for reps in ((2, 2, 2), (3, 3, 3), (2, 3, 4)):
        frames.append(rattle(bulk("Cu", "fcc", 3.61, cubic=True).repeat(reps)))
        frames.append(rattle(bulk("Si", "diamond", 5.43, cubic=True).repeat(reps)))
        frames.append(rattle(bulk("NaCl", "rocksalt", 5.64, cubic=True).repeat(reps)))
    for strain in (-0.04, 0.03):
        atoms = bulk("Mo", "bcc", 3.15).repeat((4, 4, 4))
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + strain * rng.random((3, 3))), True)
        frames.append(rattle(atoms))
    vacancy = bulk("Cu", "fcc", 3.61, cubic=True).repeat((3, 3, 3))
    del vacancy[[0, 13]]
    frames.append(rattle(vacancy))
    frames.append(rattle(fcc111("Cu", (3, 3, 4), vacuum=6.0)))
    frames.append(rattle(fcc111("Cu", (4, 4, 3), vacuum=8.0), 0.08))
    ico = Icosahedron("Cu", 4)
    ico.pbc = False
    frames.append(rattle(ico))
    frames += [rattle(molecule(m), 0.02) for m in ("H2O", "CH4", "C6H6", "C60")]
    order = rng.permutation(len(frames))
    return [frames[i] for i in order]


def run(argv, env) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()[-800:]}")
    return elapsed, done.stderr


def breakdown(stderr: str) -> str:
    """Seconds per phase from quests-jax --debug output."""
    read = sum(float(s) for s in re.findall(r"read in ([\d.]+) s", stderr))
    described = sum(float(s) for s in re.findall(r"described in ([\d.]+) s", stderr))
    computed = sum(float(s) for s in re.findall(r"computed in ([\d.]+) s", stderr))
    xla = re.search(r"XLA: (\d+) programs in ([\d.]+) s \((\d+) compiled", stderr)
    programs = f"{xla.group(1)} programs ({xla.group(3)} compiled) {xla.group(2)} s" if xla else ""
    return f"read {read:.2f} / describe {described:.2f} / sums {computed:.2f} s; XLA {programs}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from ase.io import write

    bindir = os.path.dirname(sys.executable)
    ours, ref = os.path.join(bindir, "quests-jax"), os.path.join(bindir, "quests")
    print("machine:", machine())
    tmp = tempfile.mkdtemp()
    try:
        write(os.path.join(tmp, "mixed.xyz"), heterogeneous(0))
        write(os.path.join(tmp, "mixed_test.xyz"), heterogeneous(1)[:6])
        si = os.path.abspath(SI_DATA)
        datasets = {
            "si": (os.path.join(si, "train.xyz"), os.path.join(si, "test.xyz")),
            "mixed": (os.path.join(tmp, "mixed.xyz"), os.path.join(tmp, "mixed_test.xyz")),
        }
        other = {"si": "mixed", "mixed": "si"}
        env = dict(os.environ)
        env["NUMBA_CACHE_DIR"] = os.path.join(tmp, "numba")
        rows = []
        for name, (train, test) in datasets.items():
            for command in ("entropy", "dH"):
                files = [train] if command == "entropy" else [test, train]
                # reference, numba cache warm: one warm-up, then the median
                run([ref, command, *files], env)
                ref_t = statistics.median(
                    run([ref, command, *files], env)[0] for _ in range(args.repeats)
                )
                times = {"cold": [], "new data": [], "second": []}
                debug = ""
                for _ in range(args.repeats):
                    cache = os.path.join(tmp, "xla")
                    shutil.rmtree(cache, ignore_errors=True)
                    ours_env = dict(env, QUESTS_JAX_CACHE_DIR=cache)
                    t, _ = run([ours, command, *files], ours_env)
                    times["cold"].append(t)
                    t, debug = run([ours, "--debug", command, *files], ours_env)
                    times["second"].append(t)
                    shutil.rmtree(cache, ignore_errors=True)
                    o_train, o_test = datasets[other[name]]
                    o_files = [o_train] if command == "entropy" else [o_test, o_train]
                    run([ours, command, *o_files], ours_env)  # warm from the other data
                    t, _ = run([ours, command, *files], ours_env)
                    times["new data"].append(t)
                medians = {k: statistics.median(v) for k, v in times.items()}
                rows.append((name, command, ref_t, medians, breakdown(debug)))
                print(f"\n{name} {command}: reference {ref_t:.2f} s (numba warm, median)")
                for scenario, t in medians.items():
                    print(f"  quests-jax {scenario:9s} {t:6.2f} s  = {t / ref_t:.2f}x reference")
                print(f"  second run: {breakdown(debug)}")
        print("\n| data | command | reference (s) | cold | new data | second run |")
        print("|---|---|---|---|---|---|")
        for name, command, ref_t, med, _ in rows:
            cells = " | ".join(
                f"{med[k]:.2f} s ({med[k] / ref_t:.2f}x)" for k in ("cold", "new data", "second")
            )
            print(f"| {name} | {command} | {ref_t:.2f} | {cells} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
