"""Entropy bias in JAX-MD at 1,000, 10,000 and 100,000 atoms: one bias force call
against one call of the pair potential it is added to, and biased NVT runs jitted
end to end.

System: fcc Cu (a = 3.61 A) rattled by 0.1 A, periodic, JAX-MD
``space.periodic_general`` in fractional coordinates; pair potential: Morse
(Girifalco-Weizer, cutoff 5.2 A) with JAX-MD's neighbour list (its default
``OrderedSparse`` format, the fastest for pair sums). Bias: -0.05 eV x ``dH_mean``
of every atom against 10,000 reference environments (other rattled frames), h =
0.015, float32, through ``quests_jax.forces.jaxmd.bias_energy_fn``:

* "own search": the CV's static-size neighbour search (no JAX-MD list);
* "JAX-MD list": a ``Dense`` JAX-MD neighbour list (cutoff 5.2 A) passed as
  ``neighbor=``;
* the smooth descriptor variant (smooth = 0.5 A), own search.

Each force call (``jax_md.quantity.force``) is one jitted call, best of ``--repeats``
after one that compiles. Then NVT (Langevin, ~1 fs steps, 580 K): Morse alone and
Morse + bias, the neighbour lists updated inside one jitted ``lax.fori_loop`` over
the steps, overflow checked after the run.

    python benchmarks/bench_bias_md.py             # ~6 minutes on 2 cores
    python benchmarks/bench_bias_md.py --sizes 1000 --nvt-steps 100
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import warnings
from importlib.metadata import version

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from ase.build import bulk
from jax_md import energy, partition, quantity, simulate, space

import quests_jax as qj
from quests_jax.forces.jaxmd import bias_energy_fn

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_bias_forces import best_of

MASS = 63.546  # amu
DT = 0.1  # JAX-MD time unit with eV, A, amu is 10.18 fs: ~1 fs
KT = 0.05  # eV, ~580 K
STRENGTH = -0.05  # eV per nat of mean dH
MORSE = dict(sigma=2.866, epsilon=0.3429, alpha=1.3588, r_onset=4.5, r_cutoff=5.2)
# (5, 5, 10) conventional cells = 1,000 atoms, and so on
# jax-md's pair sums ask for float64 accumulation, which float32 JAX truncates
warnings.filterwarnings("ignore", "Explicitly requested dtype float64", UserWarning)
REPEATS = {1_000: (5, 5, 10), 10_000: (10, 10, 25), 100_000: (25, 25, 40)}


def rattled(repeat, seed):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeat)
    atoms.positions += np.random.default_rng(seed).normal(scale=0.1, size=atoms.positions.shape)
    atoms.wrap()
    return atoms


def nvt_seconds_per_step(energy_fn, shift, frac, neighbor_fns, steps):
    """Seconds per NVT step (compile excluded) and whether any neighbour list overflowed."""
    init, apply = simulate.nvt_langevin(energy_fn, shift, DT, KT, gamma=0.2)
    lists = tuple(fn.allocate(frac) for fn in neighbor_fns)

    @jax.jit
    def run(state, lists):
        def step(_, carry):
            state, lists = carry
            lists = tuple(nbrs.update(state.position) for nbrs in lists)
            return apply(state, neighbor=lists), lists

        return jax.lax.fori_loop(0, steps, step, (state, lists))

    state = init(jax.random.PRNGKey(0), frac, mass=MASS, neighbor=lists)
    jax.block_until_ready(run(state, lists))  # compile
    t = time.perf_counter()
    state, lists = jax.block_until_ready(run(state, lists))
    elapsed = (time.perf_counter() - t) / steps
    overflow = any(bool(nbrs.did_buffer_overflow) for nbrs in lists)
    return elapsed, overflow, bool(jnp.isfinite(state.position).all())


def one_size(size, steps, ref_plain, ref_smooth, repeats):
    """The force-call row and (steps > 0) the NVT row of the table for one size."""
    atoms = rattled(REPEATS[size], size)
    cell = atoms.cell.array
    box = jnp.asarray(cell.T, jnp.float32)
    frac = jnp.asarray(atoms.get_scaled_positions(), jnp.float32)
    displacement, shift = space.periodic_general(box, fractional_coordinates=True)
    morse_neighbors, morse = energy.morse_neighbor_list(
        displacement, box, fractional_coordinates=True, **MORSE
    )
    dense_neighbors = partition.neighbor_list(
        displacement,
        box,
        MORSE["r_cutoff"],
        dr_threshold=0.5,
        fractional_coordinates=True,
        format=partition.Dense,
    )

    def bias_fn(smooth, ref):
        cv = qj.collective_variable(
            "dH_mean", atoms.positions, cell, True, reference=ref, smooth=smooth
        )
        return bias_energy_fn(
            cv, STRENGTH, box, fractional_coordinates=True, displacement_fn=displacement
        )

    plain, smooth = bias_fn(None, ref_plain), bias_fn(0.5, ref_smooth)
    morse_list = morse_neighbors.allocate(frac)
    dense_list = dense_neighbors.allocate(frac)

    # every energy is an argument of the jitted force (a pytree): closed over, XLA
    # would constant-fold the 10,000 x 63 reference at compile time
    @eqx.filter_jit
    def force(energy_fn, r, nbrs):
        return quantity.force(energy_fn)(r, neighbor=nbrs)

    pair = best_of(lambda: force(morse, frac, morse_list), 10 * repeats)
    own = best_of(lambda: force(plain, frac, None), repeats)
    listed = best_of(lambda: force(plain, frac, dense_list), repeats)
    smooth_t = best_of(lambda: force(smooth, frac, None), repeats)
    lowered = jax.jit(lambda b, r: quantity.force(b)(r)).lower(plain, frac)
    memory = lowered.compile().memory_analysis().temp_size_in_bytes
    forces_row = (
        f"| {size:,} | {pair * 1e3:.1f} | {own * 1e3:.0f} | {listed * 1e3:.0f} | "
        f"{smooth_t * 1e3:.0f} | {own / pair:.0f}x | {memory / 1e6:.0f} |"
    )
    print(forces_row, flush=True)
    if not steps:
        return forces_row, None

    def biased(r, neighbor=None, **kwargs):
        morse_nbrs, dense_nbrs = neighbor
        return morse(r, neighbor=morse_nbrs, **kwargs) + plain(r, neighbor=dense_nbrs, **kwargs)

    def unbiased(r, neighbor=None, **kwargs):
        return morse(r, neighbor=neighbor[0], **kwargs)

    t0, o0, f0 = nvt_seconds_per_step(unbiased, shift, frac, [morse_neighbors], steps)
    t1, o1, f1 = nvt_seconds_per_step(
        biased, shift, frac, [morse_neighbors, dense_neighbors], steps
    )
    nvt_row = (
        f"| {size:,} | {steps} | {t0 * 1e3:.1f} | {t1 * 1e3:.0f} | {t1 / t0:.0f}x | "
        f"{'no' if not (o0 or o1) else 'YES'} | {'yes' if f0 and f1 else 'NO'} |"
    )
    print(nvt_row, flush=True)
    return forces_row, nvt_row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(REPEATS), choices=REPEATS)
    parser.add_argument("--n-ref", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--nvt-steps",
        type=int,
        nargs="+",
        default=[100, 10, 2],
        help="NVT steps at each size (0 skips)",
    )
    args = parser.parse_args()
    print(
        f"# {platform.processor() or platform.machine()}, {jax.devices()[0].platform}, "
        f"jax {jax.__version__}, jax-md {version('jax-md')}; float32, h = 0.015, "
        f"{args.n_ref:,} reference environments"
    )
    pool = rattled((14, 14, 14), 99)  # 10,976 atoms
    ref_plain = np.asarray(qj.descriptor(pool.positions, pool.cell.array, True))[: args.n_ref]
    ref_smooth = np.asarray(qj.descriptor(pool.positions, pool.cell.array, True, smooth=0.5))
    ref_smooth = ref_smooth[: args.n_ref]

    forces_rows, nvt_rows = [], []
    for size, steps in zip(args.sizes, args.nvt_steps + [0] * len(args.sizes), strict=False):
        forces_row, nvt_row = one_size(size, steps, ref_plain, ref_smooth, args.repeats)
        forces_rows.append(forces_row)
        nvt_rows += [nvt_row] if nvt_row else []

    print(
        "\n| atoms | Morse forces (ms) | bias forces, own search (ms) | bias forces, "
        "JAX-MD Dense list (ms) | smooth bias forces (ms) | bias / Morse | "
        "bias temporaries (MB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(forces_rows))
    if nvt_rows:
        print(
            "\n| atoms | NVT steps | Morse (ms/step) | Morse + bias (ms/step) | ratio | "
            "list overflow | finite |"
        )
        print("|---:|---:|---:|---:|---:|---|---|")
        print("\n".join(nvt_rows))


if __name__ == "__main__":
    main()
