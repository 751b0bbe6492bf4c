"""Every command a user runs, ``quests-jax`` against the reference ``quests``, as whole
fresh processes on three datasets.

    python benchmarks/bench_workflows.py [--data si,mixed,traj] [--commands compress,...]
                                         [--repeats 2] [--no-cold] [--keep DIR]

Datasets:

* ``si``: the real DFT silicon set (``examples/data/mlearn_si``: train.xyz, 214 frames
  of 12 - 96 atoms, 13,233 environments; test.xyz for dH, overlap, uq);
* ``mixed``: a heterogeneous set written here (bulk Cu, Si, NaCl, Mo, strained, with
  vacancies, slabs, clusters and molecules; several elements, cells and periodicities),
  eight draws of ``bench_first_run.heterogeneous``, ~13,000 environments;
* ``traj``: a 501-frame trajectory of 48 Cu atoms (a random walk of a rattled fcc
  cell), the reference set its first 50 frames, for ``dH_traj``.

Each command runs as its own process. The reference runs with numba's cache warm (one
warm-up run, then the median of ``--repeats``). quests-jax runs *warm* (its compilation
cache warmed by the other dataset, so a new dataset's sizes must compile nothing: the
median of ``--repeats``) and *cold* (an empty cache: a machine that never ran it; one
run). The targets of issue #26: warm within max(0.33x the reference, 1.5 s), cold within
max(1.0x, 2.5 s). Results of both tools land in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_descriptors import machine
from bench_first_run import heterogeneous
from bench_first_run import run as timed_process

SI_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "data")
SI_DATA = os.path.join(SI_DATA, "mlearn_si")

WARM_TARGET, WARM_FLOOR = 0.33, 1.5
COLD_TARGET, COLD_FLOOR = 1.0, 2.5


def write_mixed(path: str, test_path: str) -> None:
    from ase.io import write

    frames = [a for seed in range(8) for a in heterogeneous(seed)]
    write(path, frames)
    write(test_path, heterogeneous(100)[:8])


def write_trajectory(path: str, reference: str, n_frames=501, seed=0) -> None:
    """A random walk of a rattled 48-atom fcc Cu cell (small frames, like an MD run)."""
    from ase.build import bulk
    from ase.io import write

    rng = np.random.default_rng(seed)
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 3))
    base = atoms.positions.copy()
    walk = np.zeros_like(base)
    frames = []
    for _ in range(n_frames):
        walk += rng.normal(scale=0.01, size=walk.shape)
        walk *= 0.98  # bounded around the lattice, like a thermostat
        frame = atoms.copy()
        frame.positions = base + walk
        frames.append(frame)
    write(path, frames)
    write(reference, frames[:50])


def commands(data: dict, out: str) -> dict[str, tuple[list, list]]:
    """Command name -> (reference argv tail, quests-jax argv tail)."""
    train, test = data["train"], data["test"]

    def o(name, ext=".json"):
        return os.path.join(out, name + ext)

    both = {
        "entropy": [train],
        "dH": [test, train],
        "overlap": [test, train],
        "metrics": [train],
        "compress msc": [train, "-m", "msc", "-s", "0.2"],
        "compress fps": [train, "-m", "fps", "-s", "0.2"],
        "learning_curve": [train],
        "entropy_sampler": [train, "-s", "2000"],
        "approx_dH": [test, train],
        "mcmc": [train, "-i", "0", "-n", "200"],
        "active_learning": [train, "-s", "2", "-g", "2", "-n", "100"],
    }
    result = {}
    for name, tail in both.items():
        word = name.split()[0]
        result[name] = (
            [word, *tail, "--overwrite", "-o", o("ref_" + name.replace(" ", "_"))],
            [word, *tail, "--overwrite", "-o", o("jax_" + name.replace(" ", "_"))],
        )
    # mcmc / active_learning write structures: give them their own names per run
    for name in ("mcmc", "active_learning"):
        ref, ours = result[name]
        result[name] = (
            ref[:-1] + [o("ref_" + name, ".xyz")],
            ours[:-1] + [o("jax_" + name, ".xyz")],
        )
    # the reference's metrics cannot write its JSON (ndarray values): it prints only
    result["metrics"] = (result["metrics"][0][:-3], result["metrics"][1])
    result["uq"] = (None, ["uq", test, train, "--overwrite", "-o", o("jax_uq")])
    # dH_traj: the trajectory, or a training set read as one (warms the other's cache)
    traj = data.get("traj", train)
    result["dH_traj"] = (
        ["dH_traj", traj, "--overwrite", "-o", o("ref_dH_traj")],
        ["dH_traj", traj, "--overwrite", "-o", o("jax_dH_traj")],
    )
    if "traj" in data:
        result = {"dH_traj": result["dH_traj"], "entropy": result["entropy"]}
    return result


def run(argv: list, env: dict) -> float:
    """Seconds of one whole process (bench_first_run's runner; raises if it fails)."""
    return timed_process(argv, env)[0]


def target(ratio_target: float, floor: float, ref: float | None) -> float:
    return floor if ref is None else max(ratio_target * ref, floor)


def time_reference(argv: list, env: dict, repeats: int, name: str, command: str):
    """Median seconds of the reference's command after a numba warm-up; None if it
    fails (its active_learning on molecules)."""
    try:
        run(argv, env)  # numba warm-up
        return statistics.median(run(argv, env) for _ in range(repeats))
    except RuntimeError as err:
        print(f"{name:6s} {command:16s} reference failed: {str(err)[-200:]}")
        return None


def time_cold(argv: list, env: dict, tmp: str) -> float:
    """Seconds of our command on an empty compilation cache."""
    cache = os.path.join(tmp, "xla_cold")
    shutil.rmtree(cache, ignore_errors=True)
    try:
        return run(argv, dict(env, QUESTS_JAX_CACHE_DIR=cache))
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def time_warm(argv: list, warm_first: list | None, env: dict, cache: str, repeats: int) -> float:
    """Median seconds of our command on a cache warmed by ``warm_first`` (the same
    command on the other dataset)."""
    shutil.rmtree(cache, ignore_errors=True)
    warm_env = dict(env, QUESTS_JAX_CACHE_DIR=cache)
    try:
        if warm_first is not None:
            run(warm_first, warm_env)
        return statistics.median(run(argv, warm_env) for _ in range(repeats))
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def report_line(name: str, command: str, ref_t, warm: float, cold) -> str:
    line = f"{name:6s} {command:16s} reference " + (
        f"{ref_t:6.2f} s" if ref_t is not None else "     -  "
    )
    line += f"  quests-jax warm {warm:6.2f} s"
    if ref_t:
        line += f" ({warm / ref_t:.2f}x)"
    if cold is not None:
        line += f"  cold {cold:6.2f} s" + (f" ({cold / ref_t:.2f}x)" if ref_t else "")
    ok = warm <= target(WARM_TARGET, WARM_FLOOR, ref_t)
    ok &= cold is None or cold <= target(COLD_TARGET, COLD_FLOOR, ref_t)
    return line + ("  ok" if ok else "  MISSED")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="si,mixed,traj")
    parser.add_argument("--commands", default="", help="comma-separated names (default: all)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-cache runs")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--keep", help="write the datasets and results here and keep them")
    args = parser.parse_args()
    bindir = os.path.dirname(sys.executable)
    ours, ref = os.path.join(bindir, "quests-jax"), os.path.join(bindir, "quests")
    tmp = args.keep or tempfile.mkdtemp()
    os.makedirs(tmp, exist_ok=True)
    si = os.path.abspath(SI_DATA)
    datasets = {
        "si": {"train": os.path.join(si, "train.xyz"), "test": os.path.join(si, "test.xyz")},
        "mixed": {"train": os.path.join(tmp, "mixed.xyz"), "test": os.path.join(tmp, "mt.xyz")},
        "traj": {
            "train": os.path.join(tmp, "traj.xyz"),
            "test": os.path.join(tmp, "traj_ref.xyz"),
            "traj": os.path.join(tmp, "traj.xyz"),
            "traj_ref": os.path.join(tmp, "traj_ref.xyz"),
        },
    }
    if not os.path.exists(datasets["mixed"]["train"]):
        write_mixed(datasets["mixed"]["train"], datasets["mixed"]["test"])
    if not os.path.exists(datasets["traj"]["traj"]):
        write_trajectory(datasets["traj"]["traj"], datasets["traj"]["traj_ref"])
    other = {"si": "mixed", "mixed": "si", "traj": "si"}
    wanted = [c for c in args.commands.split(",") if c]
    env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(tmp, "numba"))
    print("machine:", machine())
    rows = []
    try:
        for name in args.data.split(","):
            out = os.path.join(tmp, "out_" + name)
            shutil.rmtree(out, ignore_errors=True)
            os.makedirs(out)
            warm_from = commands(datasets[other[name]], out)
            for command, (ref_tail, our_tail) in commands(datasets[name], out).items():
                if wanted and command not in wanted:
                    continue
                ref_t = None
                if ref_tail is not None and not args.no_reference:
                    ref_t = time_reference([ref, *ref_tail], env, args.repeats, name, command)
                cold = None if args.no_cold else time_cold([ours, *our_tail], env, tmp)
                other_tail = warm_from.get(command, (None, None))[1]
                warm_first = None if other_tail is None else [ours, *other_tail]
                cache = os.path.join(tmp, "xla_warm_" + name)
                warm = time_warm([ours, *our_tail], warm_first, env, cache, args.repeats)
                rows.append((name, command, ref_t, warm, cold))
                print(report_line(name, command, ref_t, warm, cold), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\n| data | command | reference (s) | quests-jax warm (s) | cold (s) | target met |")
    print("|---|---|---|---|---|---|")
    for name, command, ref_t, warm, cold in rows:
        r = f"{ref_t:.2f}" if ref_t is not None else "-"
        w = f"{warm:.2f}" + (f" ({warm / ref_t:.2f}x)" if ref_t else "")
        c = "-" if cold is None else f"{cold:.2f}" + (f" ({cold / ref_t:.2f}x)" if ref_t else "")
        ok = warm <= target(WARM_TARGET, WARM_FLOOR, ref_t)
        ok &= cold is None or cold <= target(COLD_TARGET, COLD_FLOOR, ref_t)
        print(f"| {name} | {command} | {r} | {w} | {c} | {'yes' if ok else 'no'} |")


if __name__ == "__main__":
    main()
