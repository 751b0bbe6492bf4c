"""Energy conservation of NVE molecular dynamics with an entropy bias (JAX-MD).

Morse copper (Girifalco-Weizer, 108 atoms, cubic box) equilibrated at ~700 K, then
NVE with: no bias; the bias -s * mean dH against five equilibrated frames with the
reference's descriptor (hard k-nearest selection, which jumps when the 32nd and 33rd
neighbours swap: fcc Cu has 42 atoms within 5 A); the same with the continuous
variant (smooth = 0.5 A). Same starting state and time step for the three; several
time steps, float64. Prints the spread (std) and drift (linear fit over the run) of
the total energy, per atom.

    python benchmarks/bench_bias_nve.py            # ~10 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import platform
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from ase.build import bulk  # noqa: E402
from jax_md import energy, quantity, simulate, space  # noqa: E402

import quests_jax as qj  # noqa: E402
from quests_jax.forces import collective_variable  # noqa: E402
from quests_jax.forces.jaxmd import bias_energy_fn  # noqa: E402

MASS = 63.546  # amu; with eV and A the time unit is 10.18 fs
KT = 0.06  # eV


def equilibrate(morse, shift, frac, key):
    init, apply = simulate.nvt_langevin(morse, shift, 0.2, KT, gamma=0.1)
    state = init(key, frac, mass=MASS)
    block = jax.jit(lambda s: jax.lax.fori_loop(0, 100, lambda i, s: apply(s), s))
    frames = []
    for _ in range(10):
        state = block(state)
        frames.append(np.asarray(state.position))
    return state, frames[-5:]


def nve_run(total, shift, state, key, dt, duration):
    init, apply = simulate.nve(total, shift, dt)
    s = init(key, state.position, mass=MASS, kT=KT).set(momentum=state.momentum)

    def body(s, _):
        s = apply(s)
        e = total(s.position) + quantity.kinetic_energy(momentum=s.momentum, mass=MASS)
        return s, e

    n = int(round(duration / dt))
    run = jax.jit(lambda s: jax.lax.scan(body, s, None, n)[1])
    run(s).block_until_ready()  # compile
    start = time.perf_counter()
    e = np.asarray(run(s))
    return e, (time.perf_counter() - start) / n


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strength", type=float, default=0.5, help="eV per nat of mean dH")
    parser.add_argument("--duration", type=float, default=50.0, help="time units (10.18 fs)")
    parser.add_argument("--dt", type=float, nargs="+", default=[0.1, 0.05, 0.025])
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    print(
        f"# {platform.processor() or platform.machine()}, jax {jax.__version__}, "
        f"{jax.devices()[0].platform}; float64; strength {args.strength} eV/nat"
    )
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((3, 3, 3))
    n = len(atoms)
    cell = atoms.cell.array
    box = jnp.asarray(cell.T)
    displacement, shift = space.periodic_general(box, fractional_coordinates=True)
    morse = energy.morse_pair(
        displacement, sigma=2.866, epsilon=0.3429, alpha=1.3588, r_onset=4.5, r_cutoff=5.2
    )
    rows = []
    for seed in range(args.seeds):
        key = jax.random.PRNGKey(seed)
        state, frames = equilibrate(morse, shift, jnp.asarray(atoms.get_scaled_positions()), key)
        for dt in args.dt:
            for name, smooth, strength in [
                ("unbiased", None, 0.0),
                ("plain", None, -args.strength),
                ("smooth", 0.5, -args.strength),
            ]:
                ref = np.concatenate(
                    [qj.descriptor(f @ cell, cell, True, smooth=smooth) for f in frames]
                )
                cv = collective_variable(
                    "dH_mean",
                    np.asarray(state.position) @ cell,
                    cell,
                    True,
                    reference=ref,
                    smooth=smooth,
                )
                bias = bias_energy_fn(cv, strength, box, fractional_coordinates=True)

                def total(r, bias=bias, **kw):
                    return morse(r, **kw) + bias(r, **kw)

                e, per_step = nve_run(total, shift, state, key, dt, args.duration)
                drift = np.polyfit(np.arange(e.size) * dt, e, 1)[0] * args.duration
                rows.append((seed, dt, name, e.std() / n, drift / n, per_step))
                print(
                    f"seed {seed}  dt {dt:5.3f} ({dt * 10.18:4.2f} fs)  {name:8s}  "
                    f"std {e.std() / n:.2e} eV/atom  drift {drift / n:+.2e} eV/atom per "
                    f"{args.duration * 10.18 / 1000:.1f} ps  {per_step * 1e3:.1f} ms/step",
                    flush=True,
                )
    print("\n| time step | std: unbiased | plain | smooth | drift: unbiased | plain | smooth |")
    print("|---|---|---|---|---|---|---|")
    for dt in args.dt:

        def mean(name, col, dt=dt):
            return np.mean([abs(r[col]) for r in rows if r[1] == dt and r[2] == name])

        cells = [mean(name, col) for col in (3, 4) for name in ("unbiased", "plain", "smooth")]
        print(f"| {dt * 10.18:.2f} fs | " + " | ".join(f"{c:.1e}" for c in cells) + " |")


if __name__ == "__main__":
    main()
