"""Scaling of the sharded kernel sums: time and per-device memory vs N on 1, 2, 4 and
8 devices, a log-log fit of time ~ N^p, and a PNG of the curves.

    python benchmarks/bench_scaling.py [--devices 1 2 4 8] [--entropy-max 100000]
                                       [--dh-max 1000000] [--reference 10000]
                                       [--png benchmarks/scaling.png]

* entropy of N environments (all pairs: O(N^2)), N = 10^3 .. --entropy-max;
* dH of N query environments against a fixed reference of --reference environments
  (O(N)), N = 10^3 .. --dh-max.

Each device count runs in its own interpreter (JAX_NUM_CPU_DEVICES is read when JAX
starts). Times are one call after an ahead-of-time compile (two calls, the better,
below 1 s); memory is the compiled program's per-device arguments + temporaries
(``memory_analysis``), and the process's peak resident memory (VmHWM) at the end.
Data: random 63-wide descriptors in clusters (timings do not depend on the values).
On a CPU the "devices" share the same cores: the curves show the overhead of the
ring, not a speed-up; on a multi-GPU node each device adds its own compute.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])


def sizes(lo: int, hi: int) -> list[int]:
    """Half-decade steps: 1000, 3162, 10000, ... up to hi."""
    exponents = np.arange(np.log10(lo), np.log10(hi) + 1e-3, 0.5)
    return [int(round(10**e)) for e in exponents]


def data(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, 63)) * 0.3
    return (centres[rng.integers(0, 20, n)] + rng.normal(size=(n, 63)) * 0.02).astype(np.float32)


def child(args) -> None:
    """One device count: print one JSON line per measurement."""
    import jax
    from bench_descriptors import peak_rss_mb

    from quests_jax.information import sharded

    mesh = sharded.device_mesh()
    h = jax.numpy.asarray([0.015], jax.numpy.float32)

    def measure(kind, n, compiled, call):
        mem = compiled.memory_analysis()
        t0 = time.perf_counter()
        jax.block_until_ready(call())
        best = time.perf_counter() - t0
        if best < 1.0:
            t0 = time.perf_counter()
            jax.block_until_ready(call())
            best = min(best, time.perf_counter() - t0)
        row = {
            "kind": kind,
            "n": n,
            "devices": jax.device_count(),
            "seconds": best,
            "device_mb": (mem.argument_size_in_bytes + mem.temp_size_in_bytes) / 2**20,
            "rss_mb": peak_rss_mb(),
        }
        print(json.dumps(row), flush=True)

    for n in sizes(args.entropy_min, args.entropy_max):
        xs = sharded.shard_rows(data(n, 0), mesh)
        fn = sharded._sharded_self_metrics
        compiled = fn.lower(xs.rows, xs.mask, h, mesh=mesh, block_size=None).compile()
        measure("entropy", n, compiled, lambda c=compiled, xs=xs: c(xs.rows, xs.mask, h))
    ref = sharded.shard_rows(data(args.reference, 1), mesh)
    for n in sizes(args.dh_min, args.dh_max):
        ys = sharded.shard_rows(data(n, 2), mesh)
        fn = sharded._sharded_delta
        compiled = fn.lower(ys.rows, ys.mask, ref.rows, ref.mask, h, mesh=mesh, block_size=None)
        compiled = compiled.compile()
        measure(
            "dH",
            n,
            compiled,
            lambda c=compiled, ys=ys: c(ys.rows, ys.mask, ref.rows, ref.mask, h),
        )


def fit_exponent(rows) -> float:
    """Slope of log time vs log N over the points above 0.05 s."""
    pts = [(r["n"], r["seconds"]) for r in rows if r["seconds"] > 0.05]
    if len(pts) < 2:
        return float("nan")
    n, t = np.log(np.array(pts)).T
    return float(np.polyfit(n, t, 1)[0])


def plot(results, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, kind, title in (
        (axes[0], "entropy", "entropy (all pairs)"),
        (axes[1], "dH", "dH vs a fixed reference"),
    ):
        for devices in sorted({r["devices"] for r in results}):
            rows = [r for r in results if r["kind"] == kind and r["devices"] == devices]
            if not rows:
                continue
            p = fit_exponent(rows)
            ax.loglog(
                [r["n"] for r in rows],
                [r["seconds"] for r in rows],
                "o-",
                label=f"{devices} device(s), t ~ N^{p:.2f}",
            )
        ax.set_xlabel("N environments")
        ax.set_ylabel("time (s)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("quests_jax sharded kernel sums (float32, h = 0.015)")
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--entropy-min", type=int, default=1000)
    parser.add_argument("--entropy-max", type=int, default=100_000)
    parser.add_argument("--dh-min", type=int, default=1000)
    parser.add_argument("--dh-max", type=int, default=1_000_000)
    parser.add_argument("--reference", type=int, default=10_000)
    parser.add_argument("--png", default=os.path.join(os.path.dirname(__file__), "scaling.png"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    from bench_descriptors import machine

    print(f"machine: {machine()}")
    results = []
    for devices in args.devices:
        env = dict(os.environ, JAX_NUM_CPU_DEVICES=str(devices))
        cmd = [sys.executable, __file__, "--child", "--reference", str(args.reference)]
        for name in ("entropy_min", "entropy_max", "dh_min", "dh_max"):
            cmd += ["--" + name.replace("_", "-"), str(getattr(args, name))]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        results += [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    print(
        f"\n{'kind':8} {'N':>10} "
        + " ".join(f"{f'{d} dev (s)':>11}" for d in args.devices)
        + " "
        + " ".join(f"{f'{d} dev MB':>10}" for d in args.devices)
    )
    for kind in ("entropy", "dH"):
        for n in sorted({r["n"] for r in results if r["kind"] == kind}):
            row = {r["devices"]: r for r in results if r["kind"] == kind and r["n"] == n}
            times = " ".join(f"{row[d]['seconds']:11.3f}" for d in args.devices)
            mems = " ".join(f"{row[d]['device_mb']:10.1f}" for d in args.devices)
            print(f"{kind:8} {n:10,} {times} {mems}")
        for d in args.devices:
            rows = [r for r in results if r["kind"] == kind and r["devices"] == d]
            print(
                f"{kind} on {d} device(s): time ~ N^{fit_exponent(rows):.2f}, "
                f"peak RSS {max(r['rss_mb'] for r in rows):.0f} MB"
            )
    plot(results, args.png)
    print(f"plot written to {args.png}")


if __name__ == "__main__":
    main()
