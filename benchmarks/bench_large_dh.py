"""dH of a 1,000,000-atom periodic frame against 100,000 reference environments on one
machine: descriptors, then streamed log-space kernel sums.

    python benchmarks/bench_large_dh.py [--atoms 1000000] [--reference 100000]
                                        [--dtype float32]

The test frame is hot fcc Cu (rattled 0.2 A), the reference colder frames (0.05 A),
so most test environments lie outside the reference. Prints the time of each stage
and the process's peak memory (VmHWM). The reference package is not run: its dH
would take the same O(M N d) work on this CPU (see bench_entropy.py for the ratio at
10,000 x 50,000).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_descriptors import machine, peak_rss_mb


def cu_frame(n_atoms: int, rattle: float, seed: int):
    from ase.build import bulk

    rep = round((n_atoms / 4) ** (1 / 3))
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((rep, rep, rep))
    atoms.positions += np.random.default_rng(seed).normal(scale=rattle, size=atoms.positions.shape)
    return atoms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atoms", type=int, default=1_000_000)
    parser.add_argument("--reference", type=int, default=100_000)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args()
    import jax

    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    import quests_jax as qj

    print(f"machine: {machine()}")
    test = cu_frame(args.atoms, 0.2, seed=1)
    t0 = time.perf_counter()
    y = np.asarray(qj.get_descriptors([test], dtype=args.dtype))
    t_y = time.perf_counter() - t0
    del test
    ref_frames, n_ref = [], 0
    while n_ref < args.reference:
        frame = cu_frame(min(args.reference - n_ref, 32_000), 0.05, seed=10 + len(ref_frames))
        ref_frames.append(frame)
        n_ref += len(frame)
    t0 = time.perf_counter()
    x = np.asarray(qj.get_descriptors(ref_frames, dtype=args.dtype))[: args.reference]
    t_x = time.perf_counter() - t0
    print(f"test:      {y.shape[0]:,} environments described in {t_y:.1f} s")
    print(f"reference: {x.shape[0]:,} environments described in {t_x:.1f} s")
    t0 = time.perf_counter()
    dh = np.asarray(qj.delta_entropy(y, x, execution="streamed"))
    t_dh = time.perf_counter() - t0
    pairs = y.shape[0] * x.shape[0]
    print(f"dH ({args.dtype}): {t_dh:.1f} s, {pairs / t_dh / 1e9:.2f} G pairs/s")
    print(
        f"dH finite: {np.isfinite(dh).all()}, mean {dh.mean():.3f}, max {dh.max():.3f}, "
        f"fraction > 0: {(dh > 0).mean():.4f}"
    )
    print(f"peak memory (VmHWM): {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
