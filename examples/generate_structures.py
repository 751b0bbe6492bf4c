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
(ASE's EMT) against the 300 K frames'. The whole experiment (the MD that makes the
dataset, the starting frames and the extra MD frames) is repeated for ``--seeds``
seeds; the headline is over all of them.

    python examples/generate_structures.py        # about 1 minute on 2 CPU cores

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
from quests_jax.forces import optimize_structure


def md_frames(n: int, temperature: float = 300.0, seed: int = 0, repeat: int = 3):
    """``n`` frames of 4 repeat^3 Cu atoms (108 by default), 100 fs apart, after a
    500 fs EMT Langevin run."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((repeat, repeat, repeat))
    atoms.calc = EMT()
    rng = np.random.default_rng(seed)
    thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
    dyn = Langevin(
        atoms, 5 * units.fs, temperature_K=temperature, friction=0.05, fixcm=False, rng=rng
    )  # fixcm=False: ASE >= 3.28 deprecates fixcm=True (and warns)
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


def experiment(seed: int, new: int, steps: int, tau: float) -> dict:
    """One dataset (three 300 K frames of seed ``seed``) grown by ``new`` generated
    frames and, for comparison, by ``new`` more MD frames."""
    frames = md_frames(3 + 2 * new, seed=seed)
    dataset, starts, more_md = frames[:3], frames[3 : 3 + new], frames[3 + new :]
    # the guard: Morse copper (Girifalco-Weizer), minimum image in the 10.8 A cube
    displacement, _ = space.periodic(dataset[0].cell.array[0, 0])
    morse = energy.morse_pair(
        displacement, sigma=2.866, epsilon=0.3429, alpha=1.3588, r_onset=4.5, r_cutoff=5.2
    )

    def guard(positions, cell):
        return morse(positions) / tau

    x = qj.get_descriptors(dataset)
    h0 = float(qj.entropy(x))
    x_md, x_gen = x, x
    md_energy = np.mean([emt_energy(f) for f in dataset])
    gen_energy, shortest = [], []
    for begin, extra in zip(starts, more_md, strict=True):
        cv = qj.collective_variable(
            "entropy", begin.positions, begin.cell.array, True, reference=x_gen
        )
        result = optimize_structure(begin, cv, n_steps=steps, learning_rate=0.02, guard=guard)
        x_gen = np.concatenate([x_gen, qj.get_descriptors([result.atoms])])
        x_md = np.concatenate([x_md, qj.get_descriptors([extra])])
        gen_energy.append(emt_energy(result.atoms) - md_energy)
        shortest.append(result.min_distance)
    return {
        "H0": h0,
        "H_generated": float(qj.entropy(x_gen)),
        "H_md": float(qj.entropy(x_md)),
        "emt_above": gen_energy,
        "shortest": shortest,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new", type=int, default=3, help="frames to add")
    parser.add_argument("--steps", type=int, default=300, help="optimiser steps per frame")
    parser.add_argument("--tau", type=float, default=20.0, help="eV of Morse energy per nat")
    parser.add_argument("--seeds", type=int, default=5, help="independent experiments")
    parser.add_argument("--seed", type=int, default=0, help="the first seed")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    runs = []
    for seed in range(args.seed, args.seed + args.seeds):
        t = time.perf_counter()
        r = experiment(seed, args.new, args.steps, args.tau)
        runs.append(r)
        print(
            f"seed {seed}: dataset H {r['H0']:.3f} nats; + {args.new} generated frames "
            f"{r['H_generated']:.3f} ({r['H_generated'] - r['H0']:+.3f}), + {args.new} MD "
            f"frames {r['H_md']:.3f} ({r['H_md'] - r['H0']:+.3f}); generated frames: "
            f"shortest distance {min(r['shortest']):.2f} A, EMT "
            f"{min(r['emt_above']):+.3f} .. {max(r['emt_above']):+.3f} eV/atom above the "
            f"300 K frames ({time.perf_counter() - t:.0f} s)"
        )
    print(f"total {time.perf_counter() - start:.0f} s")
    gen = np.array([r["H_generated"] - r["H0"] for r in runs])
    md = np.array([r["H_md"] - r["H0"] for r in runs])
    print(
        f"entropy gained by the dataset with {args.new} more frames ({args.seeds} seeds): "
        f"generated {gen.mean():+.2f} +- {gen.std():.2f} nats (min {gen.min():+.2f}), "
        f"300 K MD {md.mean():+.2f} +- {md.std():.2f} (max {md.max():+.2f})"
    )
    return {"runs": runs, "generated": gen, "md": md}


if __name__ == "__main__":
    main()
