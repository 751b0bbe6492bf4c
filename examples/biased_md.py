"""Biased molecular dynamics: an entropy bias drives a crystal toward novel environments.

108 copper atoms (Morse potential, Girifalco-Weizer parameters) in a periodic cubic
box, JAX-MD Langevin dynamics at ~580 K, fractional coordinates. After an
equilibration, the current structure is "the starting structure", and its 108
environments are the reference. Two runs continue from it with the same noise, same
steps:

* unbiased: the Morse potential alone;
* biased: Morse + strength x (smooth count of atoms whose dH against the starting
  structure exceeds 0), a quests_jax JAX-MD energy (``quests_jax.forces.jaxmd``) with
  exact forces. strength < 0 lowers the energy of novel environments; the count is
  bounded (0 to 108), so the bias cannot run away the way a bias linear in dH would
  (dH grows without bound as atoms crowd).

Every 20 steps a frame is taken; a frame is novel if the mean dH of its environments
against the starting structure is above 0 (plain QUESTS descriptors, h = 0.015, as in
any QUESTS analysis). MD is chaotic, so the whole experiment (equilibration, starting
structure, both runs) is repeated for ``--seeds`` seeds and the headline is over all
of them. The bias uses the plain descriptor: under the Langevin thermostat its force
jumps act as a little extra noise, and it costs a twentieth of the smooth variant
(``--smooth 0.5``, the one for energy-conserving NVE: 9 s against about 190 s per
biased run here), which pays for the seeds.

    python examples/biased_md.py          # about 1 minute on 2 CPU cores

The last line is the headline: fraction of novel frames, both runs, over the seeds.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from ase.build import bulk
from jax_md import energy, simulate, space

import quests_jax as qj
from quests_jax.forces import CountAboveDH
from quests_jax.forces.jaxmd import bias_energy_fn, jax_md_float64_warnings_ignored

MASS = 63.546  # amu; with eV and A, JAX-MD's time unit is 10.18 fs
DT = 0.1  # ~1 fs
KT = 0.05  # eV, ~580 K


def experiment(seed: int, steps: int, strength: float, smooth) -> dict:
    """Equilibrate, then run unbiased and biased from the same structure and noise."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((3, 3, 3))
    cell = atoms.cell.array
    box = jnp.asarray(cell.T, jnp.float32)  # JAX-MD: lattice vectors as columns
    displacement, shift = space.periodic_general(box, fractional_coordinates=True)
    morse = energy.morse_pair(
        displacement, sigma=2.866, epsilon=0.3429, alpha=1.3588, r_onset=4.5, r_cutoff=5.2
    )
    key = jax.random.PRNGKey(seed)
    init, apply = simulate.nvt_langevin(morse, shift, DT, KT, gamma=0.2)
    state = init(key, jnp.asarray(atoms.get_scaled_positions(), jnp.float32), mass=MASS)
    state = jax.jit(lambda s: jax.lax.fori_loop(0, 1000, lambda i, s: apply(s), s))(state)
    first = np.asarray(state.position) @ cell  # the starting structure, Angstrom

    reference = qj.descriptor(first, cell, True)  # for the analysis
    cv = qj.collective_variable(
        CountAboveDH(threshold=0.0, width=1.0),
        first,
        cell,
        True,
        smooth=smooth,
        reference=qj.descriptor(first, cell, True, smooth=smooth),
    )
    bias = bias_energy_fn(cv, strength, box, fractional_coordinates=True)

    def biased(r, **kwargs):
        return morse(r, **kwargs) + bias(r, **kwargs)

    frames_every = 20
    n_frames = steps // frames_every

    def trajectory(energy_fn):
        init, apply = simulate.nvt_langevin(energy_fn, shift, DT, KT, gamma=0.2)
        s = init(jax.random.PRNGKey(seed + 10_000), state.position, mass=MASS)

        def block(s, _):
            s = jax.lax.fori_loop(0, frames_every, lambda i, s: apply(s), s)
            return s, s.position

        return np.asarray(jax.jit(lambda s: jax.lax.scan(block, s, None, n_frames)[1])(s))

    spec = qj.plan_neighbors(first, cell, True, capacity_multiplier=1.5)
    describe = jax.jit(lambda r: qj.descriptor(r, cell, True, spec=spec))
    out = {"frames": n_frames}
    for name, fn in [("unbiased", morse), ("biased", biased)]:
        t = time.perf_counter()
        frames = trajectory(fn)
        mean_dh = np.array(
            [float(jnp.mean(qj.delta_entropy(describe(f @ cell), reference))) for f in frames]
        )
        novel = mean_dh > 0
        out[name] = {
            "novel": float(novel.mean()),
            "first_novel_step": int((np.argmax(novel) + 1) * frames_every) if novel.any() else None,
            "mean_dH": mean_dh,
            "morse_eV_per_atom": float(morse(jnp.asarray(frames[-1]))) / len(atoms),
            "seconds": time.perf_counter() - t,
        }
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--strength", type=float, default=-0.3, help="eV per novel atom")
    parser.add_argument("--smooth", type=float, default=0.0, help="0: plain descriptor")
    parser.add_argument("--seeds", type=int, default=5, help="independent experiments")
    parser.add_argument("--seed", type=int, default=0, help="the first seed")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    runs = []
    for seed in range(args.seed, args.seed + args.seeds):
        r = experiment(seed, args.steps, args.strength, args.smooth or None)
        runs.append(r)
        print(
            f"seed {seed}: "
            + "; ".join(
                f"{name} {r[name]['seconds']:4.1f} s, novel frames {r[name]['novel']:4.0%}, "
                f"mean dH "
                f"{r[name]['mean_dH'].min():+.2f} .. {r[name]['mean_dH'].max():+.2f} nats, final "
                f"Morse {r[name]['morse_eV_per_atom']:.3f} eV/atom"
                for name in ("unbiased", "biased")
            )
        )
    print(f"total {time.perf_counter() - start:.0f} s")
    summary = {}
    for name in ("unbiased", "biased"):
        fractions = np.array([r[name]["novel"] for r in runs])
        firsts = [r[name]["first_novel_step"] for r in runs if r[name]["first_novel_step"]]
        summary[name] = fractions
        print(
            f"{name:9s} novel frames {fractions.mean():.0%} +- {fractions.std():.0%} (range "
            f"{fractions.min():.0%} - {fractions.max():.0%})"
            + (
                f"; first novel frame after {int(np.median(firsts))} steps (median)"
                if firsts
                else ""
            )
        )
    print(
        f"frames with mean dH > 0 against the starting structure ({runs[0]['frames']} per run, "
        f"{args.steps} steps, {args.seeds} seeds): biased {summary['biased'].mean():.0%} "
        f"(min {summary['biased'].min():.0%}), unbiased {summary['unbiased'].mean():.0%} "
        f"(max {summary['unbiased'].max():.0%})"
    )
    return {"runs": runs, "novel": summary}


if __name__ == "__main__":
    # jax-md sums its pair energies with dtype=float64, which JAX truncates to float32
    # (x64 off) with a warning at every trace: jax-md's ordinary float32 behaviour
    with jax_md_float64_warnings_ignored():
        main()
