"""Dataset tools against the reference package, same data, same run: compression of
1,000 frames (msc, fps, mean_fps) and a learning curve.

    python benchmarks/bench_compression.py [--frames 1000] [--size 100] [--lc-envs 10000]

Both packages get the same float64 descriptors; the greedy methods' choices are
compared (they must be equal). Times are one call after a warm-up on a smaller
problem (compiles quests_jax's steps, warms numba's caches).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

sys.path.insert(0, "benchmarks")
from bench_descriptors import machine


def dataset(n_frames: int, seed=0):
    """Frames of 32 Cu atoms: rattled, strained, some far from the rest (float64
    descriptors, reference layout)."""
    import jax
    from ase.build import bulk

    import quests_jax as qj

    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_frames):
        a = bulk("Cu", "fcc", a=3.61 * rng.uniform(0.97, 1.05), cubic=True).repeat((2, 2, 2))
        a.rattle(rng.uniform(0.02, 0.35), seed=i)
        frames.append(a)
    with jax.enable_x64(True):
        x = qj.get_descriptors(frames, dtype="float64")
    return [x[32 * i : 32 * (i + 1)] for i in range(n_frames)]


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def row(name, dtype, t_ref, t_ours, same):
    print(f"{name:<10} {dtype:<8} {t_ref:12.3f} {t_ours:13.3f} {t_ref / t_ours:7.1f} {same}")


def bench_compression(n_frames: int, size: int):
    import jax
    from quests.compression import baseline, fps
    from quests.entropy import entropy

    from quests_jax import tools as compression
    from quests_jax.tools import FrameSet

    desc = dataset(n_frames)
    t_ent_ref, ent = timed(lambda: np.array([entropy(x) for x in desc]))
    print(f"\n{n_frames} frames of 32 atoms ({32 * n_frames:,} environments), keep {size}")
    print(f"reference per-frame entropies: {t_ent_ref:.2f} s (given to both below)")
    print(f"{'method':<10} {'dtype':<8} {'reference s':>12} {'quests_jax s':>13} {'ratio':>7} same")
    small = desc[: max(size, 50)]
    rows = []
    for dtype in ("float64", "float32"):
        with jax.enable_x64(dtype == "float64"):
            data = FrameSet.from_list([d.astype(dtype) for d in desc])
            warm = FrameSet.from_list([d.astype(dtype) for d in small])
            for name, ref_fn, ours in (
                ("msc", fps.msc, lambda d, s, e: compression.msc(d, s, entropies=e)),
                ("fps", fps.fps, lambda d, s, e: compression.fps(d, s, entropies=e)),
            ):
                if dtype == "float64":
                    ref_fn(small, ent[: len(small)], 5)
                    t_ref, expected = timed(lambda f=ref_fn: f(desc, ent, size))
                    rows.append((name, t_ref, [int(i) for i in expected]))
                else:
                    t_ref, expected = next((r[1], r[2]) for r in rows if r[0] == name)
                ours(warm, 5, ent[: len(small)])
                ours(data, size, ent)  # compiles the full-size step
                t_ours, got = timed(lambda o=ours, d=data: o(d, size, ent))
                row(name, dtype, t_ref, t_ours, got.tolist() == list(expected))
    with jax.enable_x64(True):
        data = FrameSet.from_list(desc)
        np.random.seed(0)
        start = np.random.randint(0, n_frames)
        np.random.seed(0)
        t_ref, expected = timed(lambda: baseline.mean_fps(desc, ent, size))
        compression.mean_fps(data, size, start=start)
        t_ours, got = timed(lambda: compression.mean_fps(data, size, start=start))
        row("mean_fps", "float64", t_ref, t_ours, got.tolist() == [int(i) for i in expected])


def bench_learning_curve(n_envs: int, runs: int = 3):
    from bench_entropy import descriptors
    from quests.entropy import perfect_entropy

    from quests_jax.tools import learning_curve

    x = descriptors(n_envs, seed=3)
    fractions = np.round(np.arange(0.1, 1.0, 0.1), 1)
    print(f"\nlearning curve: {n_envs:,} environments, fractions 0.1..0.9, {runs} runs each")
    perfect_entropy(x[:500])
    learning_curve(x[:2000], [0.5], 1)

    def reference():  # the reference CLI's loop (quests/cli/learning_curve.py)
        out = []
        for f in fractions:
            for _ in range(runs):
                idx = np.random.randint(0, len(x), int(len(x) * f))
                out.append(perfect_entropy(x[idx]))
        return out

    t_ref, _ = timed(reference)
    t_cold, _ = timed(lambda: learning_curve(x, fractions, runs, seed=1))
    t_ours, _ = timed(lambda: learning_curve(x, fractions, runs, seed=2))
    print(
        f"reference {t_ref:.1f} s, quests_jax {t_ours:.2f} s (first call, compiling: "
        f"{t_cold:.2f} s); ratio {t_ref / t_ours:.1f} (first call {t_ref / t_cold:.1f})"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--lc-envs", type=int, default=10_000)
    args = parser.parse_args()
    print(machine())
    bench_compression(args.frames, args.size)
    bench_learning_curve(args.lc_envs)


if __name__ == "__main__":
    main()
