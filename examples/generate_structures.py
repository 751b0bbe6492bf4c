"""Entropy-maximising structure generation: new frames that fill a dataset's gaps.

A small dataset: three frames of 108 copper atoms from EMT Langevin dynamics at 300 K
(ASE, no downloads). Three new frames are made, one after another, each starting
from another 300 K frame and moved by gradient ascent (optax Adam, through
quests_jax's exact gradients) on

    H(dataset + frame) - E_Morse(frame) / tau,

the entropy the frame gives the dataset, guarded by a real potential (a JAX-MD Morse
copper, tau = 20 eV per nat) so that the new frames stay physical copper rather than
anything with far-apart descriptors. Each new frame joins the dataset before the
next is made. For comparison, the same dataset grows by three more 300 K frames.

Reported: the dataset's entropy at each step both ways, and for the generated frames
their shortest interatomic distance and their energy with a different potential
(ASE's EMT) against the 300 K frames'.

    python examples/generate_structures.py        # under a minute on 2 CPU cores

The last line is the headline: the entropy gained by generation vs more MD.
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
from jax_md import energy, space

import quests_jax as qj
from quests_jax.generation import optimize_structure


def md_frames(n: int, temperature: float = 300.0, seed: int = 0, repeat: int = 3):
    """``n`` frames of 4 repeat^3 Cu atoms (108 by default), 100 fs apart, after a
    500 fs EMT Langevin run."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((repeat, repeat, repeat))
    atoms.calc = EMT()
    rng = np.random.default_rng(seed)
    thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
    dyn = Langevin(atoms, 5 * units.fs, temperature_K=temperature, friction=0.05, rng=rng)
    dyn.run(100)
    frames = []
    for _ in range(n):
        dyn.run(20)
        frame = atoms.copy()
        frame.calc = None
        frames.append(frame)
    return frames


def emt_energy(atoms) -> float:
    atoms = atoms.copy()
    atoms.calc = EMT()
    return atoms.get_potential_energy() / len(atoms)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new", type=int, default=3, help="frames to add")
    parser.add_argument("--steps", type=int, default=300, help="optimiser steps per frame")
    parser.add_argument("--tau", type=float, default=20.0, help="eV of Morse energy per nat")
    args = parser.parse_args()
    start = time.perf_counter()

    frames = md_frames(3 + 2 * args.new)
    dataset, starts, more_md = frames[:3], frames[3 : 3 + args.new], frames[3 + args.new :]
    # the guard: Morse copper (Girifalco-Weizer), minimum image in the 10.8 A cube
    displacement, _ = space.periodic(dataset[0].cell.array[0, 0])
    morse = energy.morse_pair(
        displacement, sigma=2.866, epsilon=0.3429, alpha=1.3588, r_onset=4.5, r_cutoff=5.2
    )

    def guard(positions, cell):
        return morse(positions) / args.tau

    x = qj.get_descriptors(dataset)
    h0 = float(qj.entropy(x))
    print(f"dataset: {len(dataset)} frames at 300 K, H = {h0:.3f} nats")

    x_md, x_gen = x, x
    md_energy = np.mean([emt_energy(f) for f in dataset])
    for i, (begin, extra) in enumerate(zip(starts, more_md, strict=True)):
        t = time.perf_counter()
        cv = qj.collective_variable(
            "entropy", begin.positions, begin.cell.array, True, reference=x_gen
        )
        result = optimize_structure(begin, cv, n_steps=args.steps, learning_rate=0.02, guard=guard)
        x_gen = np.concatenate([x_gen, qj.get_descriptors([result.atoms])])
        x_md = np.concatenate([x_md, qj.get_descriptors([extra])])
        h_gen, h_md = float(qj.entropy(x_gen)), float(qj.entropy(x_md))
        print(
            f"+ frame {i + 1}: generated H = {h_gen:.3f} (CV {result.objective[0]:.3f} -> "
            f"{result.objective[-1]:.3f}, {time.perf_counter() - t:.1f} s), "
            f"with an MD frame instead H = {h_md:.3f}; generated frame: shortest distance "
            f"{result.min_distance:.2f} A, EMT {emt_energy(result.atoms) - md_energy:+.3f} "
            f"eV/atom above the 300 K frames"
        )
    print(f"total {time.perf_counter() - start:.0f} s")
    print(
        f"entropy of the dataset + {args.new} frames: generated {h_gen:.3f} nats, "
        f"300 K MD {h_md:.3f} nats (start {h0:.3f}): generation gains "
        f"{h_gen - h0:+.3f} nats, MD {h_md - h0:+.3f}"
    )


if __name__ == "__main__":
    main()
