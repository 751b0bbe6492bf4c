"""Structure generation toward a dH target: the reference's Monte Carlo
(``quests.mcmc.augment_pbc``), quests_jax's jitted Monte Carlo (the same algorithm)
and quests_jax's gradient descent (optax Adam on mean_i (dH_i - target)^2), same run.

Data: 32-atom Cu frames from EMT Langevin dynamics at 300 K (ASE). The dataset is
three frames; every method starts from a fourth and moves its atoms (cell fixed) so
that each environment's dH against the dataset approaches the reference's default
target, 30 nats. Score = mean_i |dH_i - 30| (the reference's), evaluated for every
result with the same quests_jax float32 dH. Each method is called once to compile
(numba or XLA), then timed. "dH/s" is the rise of the mean dH per second.

    python benchmarks/bench_generation.py          # ~1 minute
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import jax
import numpy as np

import quests_jax as qj
from quests_jax.forces import optimize_structure
from quests_jax.tools import monte_carlo

# the EMT frames of the generation example
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
from generate_structures import md_frames

TARGET = 30.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mc-steps", type=int, default=1000)
    parser.add_argument("--grad-steps", type=int, nargs="+", default=[50, 100, 300])
    args = parser.parse_args()
    from importlib.metadata import version

    from quests.mcmc import augment_pbc

    print(
        f"# {platform.processor() or platform.machine()}, {jax.devices()[0].platform}, "
        f"jax {jax.__version__}, quests {version('quests')}; float32"
    )
    frames = md_frames(4, repeat=2)  # 32-atom frames at 300 K
    dataset, start = frames[:3], frames[3]
    x = qj.get_descriptors(dataset)

    def score(atoms):
        dh = np.asarray(qj.delta_entropy(qj.get_descriptors([atoms]), x))
        return float(np.abs(dh - TARGET).mean()), float(dh.mean())

    s0, m0 = score(start)
    print(f"start: score {s0:.2f} nats, mean dH {m0:.2f} nats\n")
    print("| method | steps | time (s) | score mean abs(dH - 30) | mean dH | dH/s |")
    print("|---|---|---|---|---|---|")

    def report(name, steps, seconds, atoms):
        s, m = score(atoms)
        print(
            f"| {name} | {steps} | {seconds:.2f} | {s:.2f} | {m:.2f} | {(m - m0) / seconds:.0f} |"
        )

    np.random.seed(0)  # the reference draws from NumPy's global generator
    augment_pbc(start, dataset, n_steps=10)  # numba compiles (and caches)
    t = time.perf_counter()
    best, _ = augment_pbc(start, dataset, n_steps=args.mc_steps)
    report("reference quests.mcmc.augment_pbc", args.mc_steps, time.perf_counter() - t, best)

    monte_carlo(start, x, n_steps=args.mc_steps)  # compile
    t = time.perf_counter()
    result = monte_carlo(start, x, n_steps=args.mc_steps, seed=1)
    report("quests_jax monte_carlo", args.mc_steps, time.perf_counter() - t, result.atoms)

    cv = qj.collective_variable("dH_mean", start.positions, start.cell.array, True, reference=x)
    for steps in args.grad_steps:
        optimize_structure(start, cv, n_steps=steps, learning_rate=0.02, target=TARGET)
        t = time.perf_counter()
        result = optimize_structure(start, cv, n_steps=steps, learning_rate=0.02, target=TARGET)
        report("quests_jax optimize_structure (Adam)", steps, time.perf_counter() - t, result.atoms)


if __name__ == "__main__":
    main()
