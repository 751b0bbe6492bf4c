"""Biased molecular dynamics: an entropy bias drives a crystal toward novel environments.

108 copper atoms (Morse potential, Girifalco-Weizer parameters) in a periodic cubic
box, JAX-MD Langevin dynamics at ~580 K, fractional coordinates. After an
equilibration, the current structure is "the starting structure", and its 108
environments are the reference. Two runs continue from it with the same noise, same
steps:

* unbiased: the Morse potential alone;
* biased: Morse + strength x (smooth count of atoms whose dH against the starting
  structure exceeds 0), a quests_jax JAX-MD energy (``quests_jax.jaxmd``) with
  exact forces. strength < 0 lowers the energy of novel environments; the count is
  bounded (0 to 108), so the bias cannot run away the way a bias linear in dH would
  (dH grows without bound as atoms crowd).

Every 20 steps a frame is taken; a frame is novel if the mean dH of its environments
against the starting structure is above 0 (plain QUESTS descriptors, h = 0.015, as in
any QUESTS analysis). The bias uses the smooth descriptor variant (smooth = 0.5 A),
the one for forces.

    python examples/biased_md.py          # about 2 minutes on 2 CPU cores

The last line is the headline: fraction of novel frames, both runs.
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
from quests_jax.jaxmd import bias_energy_fn

MASS = 63.546  # amu; with eV and A, JAX-MD's time unit is 10.18 fs
DT = 0.1  # ~1 fs
KT = 0.05  # eV, ~580 K


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--strength", type=float, default=-0.3, help="eV per novel atom")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()

    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((3, 3, 3))
    cell = atoms.cell.array
    box = jnp.asarray(cell.T, jnp.float32)  # JAX-MD: lattice vectors as columns
    displacement, shift = space.periodic_general(box, fractional_coordinates=True)
    morse = energy.morse_pair(
        displacement, sigma=2.866, epsilon=0.3429, alpha=1.3588, r_onset=4.5, r_cutoff=5.2
    )
    key = jax.random.PRNGKey(args.seed)
    init, apply = simulate.nvt_langevin(morse, shift, DT, KT, gamma=0.2)
    state = init(key, jnp.asarray(atoms.get_scaled_positions(), jnp.float32), mass=MASS)
    state = jax.jit(lambda s: jax.lax.fori_loop(0, 1000, lambda i, s: apply(s), s))(state)
    first = np.asarray(state.position) @ cell  # the starting structure, Angstrom

    reference = qj.descriptor(first, cell, True)  # for the analysis
    cv = qj.collective_variable(
        "dH_count_above", first, cell, True, threshold=0.0, width=1.0, smooth=0.5,
        reference=qj.descriptor(first, cell, True, smooth=0.5),
    )  # fmt: skip
    bias = bias_energy_fn(cv, args.strength, box, fractional_coordinates=True)

    def biased(r, **kwargs):
        return morse(r, **kwargs) + bias(r, **kwargs)

    frames_every = 20
    n_frames = args.steps // frames_every

    def trajectory(energy_fn):
        init, apply = simulate.nvt_langevin(energy_fn, shift, DT, KT, gamma=0.2)
        s = init(jax.random.PRNGKey(args.seed + 1), state.position, mass=MASS)

        def block(s, _):
            s = jax.lax.fori_loop(0, frames_every, lambda i, s: apply(s), s)
            return s, s.position

        return np.asarray(jax.jit(lambda s: jax.lax.scan(block, s, None, n_frames)[1])(s))

    spec = qj.plan_neighbors(first, cell, True, capacity_multiplier=1.5)
    describe = jax.jit(lambda r: qj.descriptor(r, cell, True, spec=spec))
    fractions = {}
    for name, fn in [("unbiased", morse), ("biased", biased)]:
        t = time.perf_counter()
        frames = trajectory(fn)
        elapsed = time.perf_counter() - t
        mean_dh = np.array(
            [float(jnp.mean(qj.delta_entropy(describe(f @ cell), reference))) for f in frames]
        )
        e_morse = float(morse(jnp.asarray(frames[-1]))) / len(atoms)
        fractions[name] = (mean_dh > 0).mean()
        print(f"{name:9s} {elapsed:5.1f} s  mean dH per frame {mean_dh.min():+.2f} .. "
              f"{mean_dh.max():+.2f} nats  novel frames {fractions[name]:.0%}  "
              f"final Morse energy {e_morse:.3f} eV/atom")  # fmt: skip
    print(f"total {time.perf_counter() - start:.0f} s")
    print(
        f"frames with mean dH > 0 against the starting structure ({n_frames} per run, "
        f"{args.steps} steps): biased {fractions['biased']:.0%}, "
        f"unbiased {fractions['unbiased']:.0%}"
    )


if __name__ == "__main__":
    main()
