"""Information entropy of copper at several temperatures, from data made on the spot.

Runs short Langevin molecular dynamics of fcc Cu with ASE's EMT potential (no
downloads) at a few temperatures, from a warm crystal to a melt, describes every
atomic environment of the sampled frames with quests_jax, and reports for each
temperature:

* H: the information entropy of all its environments (nats), and the mean entropy
  of single frames (one vmapped call over the frames);
* dH against the coldest run (median over environments, and the fraction with
  dH > 0): how novel the environments are (dH > 0: outside what
  the cold run has seen), the model-free extrapolation signal of QUESTS;
* the distance of the environments from the perfect crystal's, in descriptor space.

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

    t0 = time.perf_counter()
    sizes = [len(f) for f in all_frames]
    per_frame = np.asarray(quests_jax.frame_entropies(x, sizes))
    blocks, row, frame = {}, 0, 0  # per temperature: its rows and its frames
    for temperature, frames in trajectories.items():
        n = sum(len(f) for f in frames)
        blocks[temperature] = (x[row : row + n], per_frame[frame : frame + len(frames)])
        row += n
        frame += len(frames)
    cold, _ = blocks[min(blocks)]
    print(
        f"\n{'T (K)':>7} {'envs':>6} {'H (nats)':>9} {'H/frame':>8} "
        f"{'median dH':>11} {'dH > 0':>7} {'|x - x_fcc|':>12}"
    )
    headline = None
    for temperature, (block, frame_h) in blocks.items():
        h_all = float(quests_jax.entropy(block))
        h_frame = frame_h.mean()
        dh = np.asarray(quests_jax.delta_entropy(block, cold))
        novel = (dh > 0).mean()
        distance = np.linalg.norm(block - reference_env, axis=1).mean()
        print(
            f"{temperature:7.0f} {len(block):6d} {h_all:9.3f} {h_frame:8.3f} "
            f"{np.median(dh):11.2f} {novel:7.1%} {distance:12.4f}"
        )
        headline = (temperature, h_all, novel)
    analysis = time.perf_counter() - t0
    print(
        f"\ndescriptors {x.shape} of {len(all_frames)} frames: {x.shape[0] / warm:,.0f} "
        f"environments/s ({warm:.2f} s; first call with compilation {first:.1f} s); "
        f"entropies and dH in {analysis:.1f} s"
    )
    hottest, h_hot, novel_hot = headline
    h_cold = float(quests_jax.entropy(cold))
    print(
        f"entropy rises from {h_cold:.2f} nats at {min(blocks):.0f} K to {h_hot:.2f} nats at "
        f"{hottest:.0f} K, where {novel_hot:.0%} of environments are novel (dH > 0)"
    )


if __name__ == "__main__":
    main()
