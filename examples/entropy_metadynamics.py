"""Entropy metadynamics: a cluster leaves its starting basin where plain MD does not.

A 13-atom copper cluster (Morse potential, Girifalco-Weizer parameters) starts as the
icosahedron, its global minimum. Two Langevin runs at the same temperature (~350 K),
same length, same noise, in JAX-MD:

* plain MD;
* well-tempered metadynamics on the information entropy of the cluster's own 13
  environments (quests_jax's collective variable, with its exact forces): a hill in
  entropy space every 50 steps.

Every few picoseconds the current structure is quenched (FIRE) to its local minimum,
which names its basin. The icosahedron's environments are as alike as 13 can be
(one centre, twelve equivalent surface atoms): low entropy. Pushing the entropy up
pushes the cluster out of that basin into other isomers.

The CV uses k = 12 (all other atoms) and bandwidth h = 0.1 rather than the default
0.015: with 13 environments and thermal noise, h = 0.015 already finds every
environment distinct at 350 K (the entropy saturates near log 13 in plain MD), so it
cannot tell isomers apart; h = 0.1 sees the structure through the noise. The
descriptor is the smooth variant (smooth = 0.5 A), the one for forces.

    python examples/entropy_metadynamics.py          # about 1 minute on 2 CPU cores

The last line is the headline: quenched snapshots outside the icosahedral basin.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from ase.cluster import Icosahedron
from jax_md import energy, minimize, simulate, space

import quests_jax as qj
from quests_jax import metadynamics as md
from quests_jax.jaxmd import bias_energy_fn

MASS = 63.546  # amu; with eV and A, JAX-MD's time unit is 10.18 fs
DT = 0.1  # ~1 fs


def morse_copper(displacement):
    return energy.morse_pair(
        displacement, sigma=2.866, epsilon=0.3429, alpha=1.3588, r_onset=4.5, r_cutoff=5.2
    )


def quench(energy_fn, shift, positions):
    """Energy of the local minimum reached by FIRE from ``positions`` (eV)."""
    init, apply = minimize.fire_descent(energy_fn, shift, dt_start=0.05, dt_max=0.2)
    state = jax.lax.fori_loop(0, 3000, lambda i, s: apply(s), init(positions, mass=MASS))
    return energy_fn(state.position)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kT", type=float, default=0.03, help="eV (0.03: ~350 K)")
    parser.add_argument("--snapshots", type=int, default=30, help="quenched snapshots per run")
    parser.add_argument("--deposits", type=int, default=20, help="hills between snapshots")
    parser.add_argument("--stride", type=int, default=50, help="steps between hills")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    start = time.perf_counter()

    cluster = Icosahedron("Cu", 2)  # 13 atoms
    cluster.center()
    r0 = jnp.asarray(cluster.positions, jnp.float32)
    displacement, shift = space.free()
    morse = morse_copper(displacement)
    quenched = jax.jit(lambda r: quench(morse, shift, r))
    e_ico = float(quenched(r0))

    # the CV: entropy of the cluster's own environments (no cell: a free cluster)
    # k = 12: every other atom of the 13 (a larger k only adds zero columns, and the
    # smooth variant's sorts cost k^3 per atom)
    cv = qj.collective_variable("entropy", cluster.positions, np.zeros((3, 3)), False,
                                h=0.1, k=12, smooth=0.5)  # fmt: skip
    entropy = bias_energy_fn(cv, 1.0)  # strength 1: the CV itself, as a JAX-MD function
    params = md.WellTempered(height=1.0, sigma=0.05, bias_factor=20.0, kT=args.kT,
                             stride=args.stride)  # fmt: skip
    biased = md.biased_energy_fn(morse, entropy, params)

    def snapshots(energy_fn, metadynamics: bool):
        init, apply = simulate.nvt_langevin(energy_fn, shift, DT, args.kT, gamma=0.2)
        hills = md.Hills.empty(args.snapshots * args.deposits)
        key = jax.random.PRNGKey(args.seed)
        state = init(key, r0, mass=MASS, hills=hills) if metadynamics else init(key, r0, mass=MASS)

        @jax.jit
        def chunk(state, hills):
            if metadynamics:
                cv_of = lambda s: entropy(s.position)  # noqa: E731
                return md.run(apply, state, hills, cv_of, params, args.deposits)
            state = jax.lax.fori_loop(0, args.deposits * args.stride, lambda i, s: apply(s), state)
            return state, hills, entropy(state.position)[None, None]

        energies, entropies = [], []
        for _ in range(args.snapshots):
            state, hills, trace = chunk(state, hills)
            energies.append(float(quenched(state.position)))
            entropies.append(float(np.asarray(trace)[-1, 0]))
        return np.array(energies), np.array(entropies), hills

    ps = args.snapshots * args.deposits * args.stride * DT * 10.18e-3
    print(f"icosahedron: E = {e_ico:.3f} eV, entropy (h = 0.1) = {float(entropy(r0)):.2f} nats")
    print(f"each run: {args.snapshots} snapshots over {ps:.0f} ps at kT = {args.kT} eV")
    results = {}
    for name, fn, metadynamics in [("plain MD", morse, False), ("metadynamics", biased, True)]:
        t = time.perf_counter()
        e, h, hills = snapshots(fn, metadynamics)
        away = np.abs(e - e_ico) > 1e-3
        results[name] = away
        minima = ", ".join(f"{b:+.2f}" for b in np.unique(np.round(e[away] - e_ico, 2)))
        print(f"{name:13s} {time.perf_counter() - t:5.1f} s  entropy {h.min():.2f} - {h.max():.2f} "
              f"nats  outside the icosahedral basin: {away.sum()} / {away.size} snapshots"
              + (f" (minima {minima} eV above it)" if away.any() else ""))  # fmt: skip
        if metadynamics:
            print(f"{'':13s} hills deposited: {int(hills.count)}, refused: {int(hills.dropped)}")
    print(f"total {time.perf_counter() - start:.0f} s")
    print(
        f"outside the starting basin: metadynamics {results['metadynamics'].sum()}/"
        f"{results['metadynamics'].size} snapshots, plain MD {results['plain MD'].sum()}/"
        f"{results['plain MD'].size}"
    )


if __name__ == "__main__":
    main()
