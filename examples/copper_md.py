"""QUESTS descriptors of copper at several temperatures, from data made on the spot.

Runs short Langevin molecular dynamics of fcc Cu with ASE's EMT potential (no
downloads) at a few temperatures, from a warm crystal to a melt, and describes every
atomic environment of the sampled frames with quests_jax. For each temperature it
reports how far the environments have moved, in descriptor space, from the perfect
crystal's, and how spread out they are (RMS distance from their mean).

    python examples/copper_md.py [--temperatures 300 900 1500 3000] [--steps 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta

import quests_jax


def run_md(temperature: float, steps: int, samples: int, seed: int):
    """Frames sampled evenly from the second half of an NVT run of 108 Cu atoms."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((3, 3, 3))
    atoms.calc = EMT()
    rng = np.random.default_rng(seed)
    thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
    dyn = Langevin(
        atoms, 5 * units.fs, temperature_K=temperature, friction=0.05, fixcm=False, rng=rng
    )
    dyn.run(steps // 2)  # equilibrate
    frames = []
    every = max(1, (steps - steps // 2) // samples)
    for _ in range(samples):
        dyn.run(every)
        frames.append(atoms.copy())
    return frames


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--temperatures", type=float, nargs="+", default=[300, 900, 1500, 3000])
    parser.add_argument("--steps", type=int, default=200, help="MD steps of 5 fs per temperature")
    parser.add_argument("--samples", type=int, default=10, help="frames kept per temperature")
    args = parser.parse_args(argv)

    crystal = bulk("Cu", "fcc", a=3.61, cubic=True)
    reference_env = quests_jax.get_descriptors([crystal])[0]  # every fcc site is alike

    print(f"EMT copper, 108 atoms, {args.steps} MD steps of 5 fs per temperature")
    trajectories = {}
    t0 = time.perf_counter()
    for i, temperature in enumerate(args.temperatures):
        trajectories[temperature] = run_md(temperature, args.steps, args.samples, seed=i)
    print(f"molecular dynamics: {time.perf_counter() - t0:.1f} s")

    all_frames = [f for frames in trajectories.values() for f in frames]
    t0 = time.perf_counter()
    quests_jax.get_descriptors(all_frames)  # first call compiles
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    x = quests_jax.get_descriptors(all_frames)
    warm = time.perf_counter() - t0

    print(f"\n{'T (K)':>7} {'environments':>13} {'|x - x_fcc| (1/A)':>19} {'spread (1/A)':>13}")
    start = 0
    for temperature, frames in trajectories.items():
        n = sum(len(f) for f in frames)
        block = x[start : start + n]
        start += n
        distance = np.linalg.norm(block - reference_env, axis=1).mean()
        spread = np.sqrt(((block - block.mean(axis=0)) ** 2).sum(axis=1).mean())
        print(f"{temperature:7.0f} {n:13d} {distance:19.4f} {spread:13.4f}")
    print(
        f"\ndescriptors {x.shape} of {len(all_frames)} frames: {x.shape[0] / warm:,.0f} "
        f"environments/s ({warm:.2f} s; first call with compilation {first:.1f} s)"
    )


if __name__ == "__main__":
    main()
