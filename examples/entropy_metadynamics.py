"""Entropy metadynamics: a cluster leaves its starting basin where plain MD does not.

A 13-atom copper cluster (Morse potential, Girifalco-Weizer parameters) starts as the
icosahedron, its global minimum. Two sets of Langevin runs at the same temperature
(~350 K), same length, same noise, in JAX-MD, each over several seeds at once
(``jax.vmap`` over the runs):

* plain MD;
* well-tempered metadynamics on the information entropy of the cluster's own 13
  environments (quests_jax's collective variable, with its exact forces): a hill in
  entropy space every 50 steps.

Every 1 ps the current structure of each run is quenched (FIRE) to its local minimum,
which names its basin. The icosahedron's environments are as alike as 13 can be
(one centre, twelve equivalent surface atoms): low entropy. Pushing the entropy up
pushes the cluster out of that basin into other isomers.

The CV uses k = 12 (all other atoms) and bandwidth h = 0.1 rather than the default
0.015: with 13 environments and thermal noise, h = 0.015 already finds every
environment distinct at 350 K (the entropy saturates near log 13 in plain MD), so it
cannot tell isomers apart; h = 0.1 sees the structure through the noise.

Chaotic MD turns rounding differences between machines into different trajectories,
so one run proves little: the headline is the fraction of runs that escape, over
``--seeds`` runs. Settings chosen over 8 - 16 seeds per candidate (hill height 1 -
2 eV, width 0.05 - 0.1 nats, bias factor 20 - 200, kT 0.03 - 0.035 eV, stride 20 - 50):
with the earlier bias factor of 20, half the runs escaped within 31 ps; with 200
(``--bias-factor``), all did. The CV uses the plain QUESTS descriptor: under the
Langevin thermostat its force jumps (where sorted entries cross) act as a little
extra noise, and it costs a sixth of the smooth variant's (``--smooth 0.5``), which
pays for the seeds.

    python examples/entropy_metadynamics.py          # about 1 minute on 2 CPU cores

The last line is the headline: runs that left the icosahedral basin, both ways.
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
from quests_jax.forces import metadynamics as md
from quests_jax.forces.jaxmd import bias_energy_fn, jax_md_float64_warnings_ignored

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


def first_escapes(away: np.ndarray, ps_per_snapshot: float) -> np.ndarray:
    """(runs,) time (ps) of each run's first snapshot outside the basin; NaN if none."""
    first = np.argmax(away, axis=1) + 1.0
    return np.where(away.any(axis=1), first * ps_per_snapshot, np.nan)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kT", type=float, default=0.03, help="eV (0.03: ~350 K)")
    parser.add_argument("--snapshots", type=int, default=30, help="quenched snapshots per run")
    parser.add_argument("--deposits", type=int, default=20, help="hills between snapshots")
    parser.add_argument("--stride", type=int, default=50, help="steps between hills")
    parser.add_argument("--height", type=float, default=1.0, help="initial hill height (eV)")
    parser.add_argument("--sigma", type=float, default=0.05, help="hill width (nats)")
    parser.add_argument("--bias-factor", type=float, default=200.0, help="well-tempered gamma")
    parser.add_argument("--smooth", type=float, default=0.0, help="0: plain descriptor")
    parser.add_argument("--seeds", type=int, default=8, help="runs of each kind")
    parser.add_argument("--seed", type=int, default=1, help="the runs' keys come from this")
    args = parser.parse_args(argv)
    start = time.perf_counter()

    cluster = Icosahedron("Cu", 2)  # 13 atoms
    cluster.center()
    r0 = jnp.asarray(cluster.positions, jnp.float32)
    displacement, shift = space.free()
    morse = morse_copper(displacement)
    quenched = jax.jit(jax.vmap(lambda r: quench(morse, shift, r)))
    e_ico = float(quenched(r0[None])[0])

    # the CV: entropy of the cluster's own environments (no cell: a free cluster)
    # k = 12: every other atom of the 13 (a larger k only adds zero columns)
    cv = qj.collective_variable(
        "entropy",
        cluster.positions,
        np.zeros((3, 3)),
        False,
        h=0.1,
        k=12,
        smooth=args.smooth or None,
    )
    entropy = bias_energy_fn(cv, 1.0)  # strength 1: the CV itself, as a JAX-MD function
    params = md.WellTempered(
        height=args.height,
        sigma=args.sigma,
        bias_factor=args.bias_factor,
        kT=args.kT,
        stride=args.stride,
    )
    biased = md.biased_energy_fn(morse, entropy, params)
    keys = jax.random.split(jax.random.PRNGKey(args.seed), args.seeds)

    def runs(energy_fn, metadynamics: bool):
        """Quenched energies (seeds, snapshots), CV at each snapshot, the hills."""
        init, apply = simulate.nvt_langevin(energy_fn, shift, DT, args.kT, gamma=0.2)
        hills = jax.vmap(lambda _: md.Hills.empty(args.snapshots * args.deposits))(keys)
        if metadynamics:
            state = jax.vmap(lambda key, h: init(key, r0, mass=MASS, hills=h))(keys, hills)
        else:
            state = jax.vmap(lambda key: init(key, r0, mass=MASS))(keys)

        @jax.jit
        @jax.vmap
        def chunk(state, hills):
            if metadynamics:
                cv_of = lambda s: entropy(s.position)  # noqa: E731
                state, hills, _ = md.run(apply, state, hills, cv_of, params, args.deposits)
            else:
                steps = args.deposits * args.stride
                state = jax.lax.fori_loop(0, steps, lambda i, s: apply(s), state)
            return state, hills, entropy(state.position)

        energies, entropies = [], []
        for _ in range(args.snapshots):
            state, hills, s = chunk(state, hills)
            energies.append(np.asarray(quenched(state.position)))
            entropies.append(np.asarray(s))
        return np.stack(energies, axis=1), np.stack(entropies, axis=1), hills

    ps = args.deposits * args.stride * DT * 10.18e-3  # between snapshots
    print(f"icosahedron: E = {e_ico:.3f} eV, entropy (h = 0.1) = {float(entropy(r0)):.2f} nats")
    print(
        f"{args.seeds} runs of each kind, {args.snapshots} snapshots over "
        f"{args.snapshots * ps:.0f} ps at kT = {args.kT} eV; bias factor {args.bias_factor:g}, "
        f"hills {args.height:g} eV x {args.sigma:g} nats every {args.stride} steps"
    )
    results = {}
    for name, fn, metadynamics in [("plain MD", morse, False), ("metadynamics", biased, True)]:
        t = time.perf_counter()
        e, h, hills = runs(fn, metadynamics)
        away = np.abs(e - e_ico) > 1e-3
        first = first_escapes(away, ps)
        results[name] = {"away": away, "first_escape_ps": first, "entropy": h}
        escaped = np.isfinite(first)
        minima = ", ".join(f"{b:+.2f}" for b in np.unique(np.round(e[away] - e_ico, 2))[:6])
        print(
            f"{name:13s} {time.perf_counter() - t:5.1f} s  entropy {h.min():.2f} - {h.max():.2f} "
            f"nats; runs that escaped: {escaped.sum()}/{args.seeds}; snapshots outside the "
            f"basin per run {away.sum(1).mean():.1f} +- {away.sum(1).std():.1f}"
            + (
                f"; first escape after {np.median(first[escaped]):.0f} ps (median, range "
                f"{np.min(first[escaped]):.0f} - {np.max(first[escaped]):.0f})"
                if escaped.any()
                else ""
            )
        )
        if away.any():
            print(f"{'':13s} minima found (eV above the icosahedron): {minima}")
        if metadynamics:
            print(
                f"{'':13s} hills deposited per run: {int(hills.count[0])}, refused: "
                f"{int(hills.dropped.sum())}"
            )
    print(f"total {time.perf_counter() - start:.0f} s")
    meta, plain = results["metadynamics"], results["plain MD"]
    escaped = np.isfinite(meta["first_escape_ps"])
    print(
        f"runs that left the icosahedral basin within {args.snapshots * ps:.0f} ps: "
        f"metadynamics {escaped.sum()}/{args.seeds}"
        + (
            f" (first escape after {np.median(meta['first_escape_ps'][escaped]):.0f} ps, median)"
            if escaped.any()
            else ""
        )
        + f", plain MD {np.isfinite(plain['first_escape_ps']).sum()}/{args.seeds}"
    )
    return results


if __name__ == "__main__":
    # jax-md sums its pair energies with dtype=float64, which JAX truncates to float32
    # (x64 off) with a warning at every trace: jax-md's ordinary float32 behaviour
    with jax_md_float64_warnings_ignored():
        main()
