"""Entropy forces: time and memory of the dH_mean bias (value + forces) against the
number of atoms, for a fixed reference set, with the reference package's dH (value
only, no forces: it has none) on the same frames in the same run.

Frames: rattled fcc Cu (0.1 A), periodic, 4 n^3 atoms; reference: 10,000
environments of other rattled frames. quests_jax: one jitted call of
``energy_forces`` of ``collective_variable("dH_mean", ...)`` (descriptors, streamed
kernel sums, custom VJPs), plain descriptor and the smooth variant; the reference:
``quests.descriptor.get_descriptors`` + ``quests.entropy.delta_entropy``. Best of 3
calls after one that compiles. Peak temporaries from XLA's memory analysis.

    python benchmarks/bench_bias_forces.py           # ~3 minutes
"""

from __future__ import annotations

import argparse
import platform
import time
from importlib.metadata import version

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from ase.build import bulk

import quests_jax as qj
from quests_jax.forces import energy_forces


def rattled(rep: int, seed: int):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((rep, rep, rep))
    atoms.positions += np.random.default_rng(seed).normal(scale=0.1, size=atoms.positions.shape)
    return atoms


forces = eqx.filter_jit(energy_forces)


def best_of(fn, repeats=3):
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, nargs="+", default=[4, 8, 12, 16])
    parser.add_argument("--n-ref", type=int, default=10_000)
    args = parser.parse_args()
    from quests.descriptor import get_descriptors
    from quests.entropy import delta_entropy

    print(
        f"# {platform.processor() or platform.machine()}, {jax.devices()[0].platform}, "
        f"jax {jax.__version__}, quests {version('quests')}; float32, h = 0.015"
    )
    pool = rattled(14, 99)  # 10,976 atoms
    ref_plain = np.asarray(qj.descriptor(pool.positions, pool.cell.array, True))[: args.n_ref]
    ref_smooth = np.asarray(qj.descriptor(pool.positions, pool.cell.array, True, smooth=0.5))
    ref_smooth = ref_smooth[: args.n_ref]
    print(
        "| atoms | quests_jax value+forces, plain (s) | smooth (s) | temp MB (plain) | "
        "reference dH value only (s) |"
    )
    print("|---|---|---|---|---|")
    for rep in args.reps:
        atoms = rattled(rep, rep)
        r = jnp.asarray(atoms.positions, jnp.float32)
        c = jnp.asarray(atoms.cell.array, jnp.float32)
        row = [f"{len(atoms):,}"]
        for smooth, ref in ((None, ref_plain), (0.5, ref_smooth)):
            cv = qj.collective_variable(
                "dH_mean", atoms.positions, atoms.cell.array, True, reference=ref, smooth=smooth
            )
            # the CV is an argument (a pytree), not a closed-over constant: XLA would
            # otherwise constant-fold the 10,000 x 63 reference at compile time
            row.append(f"{best_of(lambda cv=cv, r=r, c=c: forces(cv, r, c)):.3f}")
            if smooth is None:
                lowered = jax.jit(energy_forces).lower(cv, r, c)
                memory = lowered.compile().memory_analysis().temp_size_in_bytes
        row.append(f"{memory / 1e6:.0f}")
        ref_x = ref_plain.astype(np.float64)

        def reference_dh(atoms=atoms, ref_x=ref_x):
            return delta_entropy(get_descriptors([atoms]), ref_x, h=0.015)

        reference_dh()
        t = time.perf_counter()
        reference_dh()
        row.append(f"{time.perf_counter() - t:.3f}")
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
