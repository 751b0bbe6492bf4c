"""The accelerator benchmark suite behind ``quests-jax bench``: standard workloads on
whatever device JAX sees (CPU, GPU, TPU), each timed apart from its compilation and
checked against float64 on a subset.

Workloads (``quick`` sizes in brackets; the quick suite takes <= 3 minutes on two CPU
cores):

=====================  =====================================================  ==========
name                   what                                                   value
=====================  =====================================================  ==========
descriptors_N          :func:`quests_jax.get_descriptors` of one periodic     env / s
                       rattled fcc Cu frame of N atoms: 1e4, 1e5, 1e6 [1e4]
entropy_N              entropy of N environments (rattled Cu at a spread of   s
                       temperatures): 1e5, 1e6 [5e4]
dH_M_vs_N              dH of M hotter environments against N: 1e6 vs 1e5      s
                       [1e4 vs 5e4]
cv_dH_N                value and forces of a dH_mean collective variable of   s
                       an N-atom frame vs 1e4 rows [5e3]: 1e4, 1e5 [1e3]
md_step_N              one NVT step (JAX-MD, Langevin) of Morse + dH bias,    ms
                       N atoms: 1e4 [1e3] (needs the ``md`` extra)
sharded_entropy_N      entropy with rows sharded over all local devices:      x
                       speed-up over one device: 2e5 [2e4]
reference_gpu_N        the reference's ``quests.gpu.entropy`` (PyTorch) on    s
                       the same rows, where PyTorch sees a GPU: 1e5, 1e6
=====================  =====================================================  ==========

Every result: ``compile_s`` (seconds XLA spent compiling or reading the persistent
cache during the first call), ``run_s`` (best of the timed calls after it),
``error_vs_float64`` (the same quantity in float64 on a subset: relative for
entropies, of max(|dH|, 1) for dH, absolute for descriptors; None where float64 is
not available, e.g. on TPUs), logical ``pairs_per_s`` (M N or N^2 kernel pairs per
second), achieved ``gflops`` (the distance matmuls' flops actually executed per
second: entropy visits each pair once, dH's split arithmetic does 3 d-wide products
per pair) and ``peak_fraction`` (of the device's float32 peak: a table of common
devices, else a measured matmul), ``peak_memory_bytes`` (the device's peak so far, or
the process's peak resident memory on a CPU).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import platform
import resource
import socket
import time
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._core.compilation import track
from ._core.errors import InputValueError
from ._core.precision import HIGHEST

# Dense float32 peak (TFLOP/s, no TF32 / reduced precision) by device kind substring.
# TPUs have no float32 units: HIGHEST-precision float32 matmuls run as 6 bfloat16
# passes, so their float32 figure is the bfloat16 peak / 6.
PEAK_TFLOPS = {
    "H200": 67.0,
    "H100": 67.0,
    "A100": 19.5,
    "A10G": 31.2,
    "L40S": 91.6,
    "L4": 30.3,
    "V100": 15.7,
    "T4": 8.1,
    "RTX 4090": 82.6,
    "RTX 3090": 35.6,
    "TPU v4": 275.0 / 6,
    "TPU v5 lite": 197.0 / 6,
    "TPU v5e": 197.0 / 6,
    "TPU v5p": 459.0 / 6,
    "TPU v6": 918.0 / 6,
}
WIDTH = 63  # descriptor width (k = 32)
H = 0.015

QUICK: dict[str, list[Any]] = {
    "descriptors": [10_000],
    "entropy": [50_000],
    "dH": [(10_000, 50_000)],
    "cv_dH": [1_000],
    "md_step": [1_000],
    "sharded_entropy": [20_000],
    "reference_gpu": [],
}
FULL: dict[str, list[Any]] = {
    "descriptors": [10_000, 100_000, 1_000_000],
    "entropy": [100_000, 1_000_000],
    "dH": [(1_000_000, 100_000)],
    "cv_dH": [10_000, 100_000],
    "md_step": [10_000],
    "sharded_entropy": [200_000],
    "reference_gpu": [100_000, 1_000_000],
}
CV_REFERENCE_ROWS = {True: 5_000, False: 10_000}  # quick, full
CHECK_ROWS = 4_000  # rows of the float64 checks of entropy and dH


@dataclasses.dataclass
class Result:
    name: str
    value: float | None
    unit: str
    error_vs_float64: float | None
    sizes: dict
    compile_s: float | None = None
    run_s: float | None = None
    pairs_per_s: float | None = None
    gflops: float | None = None
    peak_fraction: float | None = None
    peak_memory_bytes: int | None = None
    details: dict = dataclasses.field(default_factory=dict)
    note: str = ""


# --------------------------------------------------------------------------------------
# the device


def device_info() -> dict:
    dev = jax.devices()[0]
    return {
        "platform": dev.platform,
        "kind": dev.device_kind,
        "count": jax.device_count(),
        "local_count": jax.local_device_count(),
        "host": socket.gethostname(),
        "cpu": cpu_name(),
        "cpu_cores": os.cpu_count(),
    }


def cpu_name() -> str:
    """The CPU's model name (Linux), else what ``platform`` says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_gflops(kind: str) -> tuple[float, str]:
    """(float32 peak GFLOP/s, where it comes from) of the first device."""
    for name, tflops in PEAK_TFLOPS.items():
        if name.lower() in kind.lower():
            return tflops * 1e3, f"table ({name})"
    return measured_matmul_gflops(), "measured float32 matmul"


def measured_matmul_gflops(n: int | None = None) -> float:
    """GFLOP/s of an n x n float32 matmul at HIGHEST precision (best of 5)."""
    n = n or (1024 if jax.default_backend() == "cpu" else 8192)
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    mm = jax.jit(lambda a: jnp.matmul(a, a, precision=HIGHEST))
    seconds = _best(lambda: mm(a), 5)
    return 2 * n**3 / seconds / 1e9


def peak_memory() -> int | None:
    """The device's peak bytes in use so far; on a CPU the process's peak RSS."""
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        return int(stats["peak_bytes_in_use"])
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


# --------------------------------------------------------------------------------------
# timing


def _block(out):
    return jax.block_until_ready(out)


def _best(fn: Callable, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        _block(fn())
        best = min(best, time.perf_counter() - t0)
    return best


def timed(fn: Callable, repeats: int = 3):
    """(first call's compile seconds, best run seconds, result): one call that
    compiles, then ``repeats`` timed calls; a first call over 10 s is the only one
    (its run time: the call less its compile seconds)."""
    with track() as stats:
        t0 = time.perf_counter()
        out = _block(fn())
        first = time.perf_counter() - t0
    compile_s = stats.seconds + stats.cache_read_seconds
    if first > 10:
        return compile_s, first - compile_s, out
    return compile_s, min(_best(fn, repeats), first), out


@contextlib.contextmanager
def _x64():
    with jax.enable_x64(True):
        yield


def float64_available() -> bool:
    return jax.default_backend() != "tpu"


# --------------------------------------------------------------------------------------
# data


def copper(n_atoms: int, seed: int, rattle: float = 0.1):
    """One periodic rattled fcc Cu frame of about n_atoms (cubic repeats)."""
    from ase.build import bulk

    reps = max(1, round((n_atoms / 4) ** (1 / 3)))
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((reps, reps, reps))
    rng = np.random.default_rng(seed)
    atoms.positions += rng.normal(scale=rattle, size=atoms.positions.shape)
    atoms.wrap()
    return atoms


def environments(n: int, seed: int, rattle=(0.05, 0.25)) -> np.ndarray:
    """(n, 63) float32 descriptors of 4,000-atom rattled Cu frames, rattle amplitudes
    spread in ``rattle`` (A) to mimic a range of temperatures."""
    from .describe import get_descriptors

    rng = np.random.default_rng(seed)
    frames = [copper(4_000, seed + i, rng.uniform(*rattle)) for i in range(-(-n // 4_000))]
    return get_descriptors(frames)[:n]


# --------------------------------------------------------------------------------------
# workloads


def bench_descriptors(n_atoms: int) -> Result:
    from .describe import get_descriptors

    atoms = copper(n_atoms, seed=1)
    compile_s, run_s, _ = timed(lambda: get_descriptors([atoms]), 2)
    error = None
    if float64_available():
        small = copper(2_000, seed=1)
        got = get_descriptors([small])
        exact = get_descriptors([small], dtype="float64")
        error = float(np.abs(got - exact).max())
    return Result(
        f"descriptors_{len(atoms)}",
        len(atoms) / run_s,
        "env/s",
        error,
        {"atoms": len(atoms)},
        compile_s,
        run_s,
    )


def _kernel_rates(result: Result, pairs: float, matmul_flops: float, peak: float) -> Result:
    assert result.run_s is not None  # (a timed result)
    result.pairs_per_s = pairs / result.run_s
    result.gflops = matmul_flops / result.run_s / 1e9
    result.peak_fraction = result.gflops / peak
    return result


def bench_entropy(n: int, x: np.ndarray, peak: float) -> Result:
    from .information import entropy

    rows = x[:n]
    compile_s, run_s, value = timed(lambda: entropy(rows, H), 3)
    error = None
    if float64_available():
        sub = rows[:CHECK_ROWS]
        with _x64():
            exact = float(entropy(sub.astype(np.float64), H))
        error = abs(float(entropy(sub, H)) - exact) / abs(exact)
    result = Result(f"entropy_{n}", run_s, "s", error, {"rows": n}, compile_s, run_s)
    result.note = f"H = {float(value):.4f} nats"
    return _kernel_rates(result, float(n) * n, n * n / 2 * 2 * WIDTH, peak)


def bench_dh(m: int, n: int, x: np.ndarray, y: np.ndarray, peak: float) -> Result:
    from .information import delta_entropy

    queries, refs = y[:m], x[:n]
    compile_s, run_s, _ = timed(lambda: delta_entropy(queries, refs, H), 2)
    error = None
    if float64_available():
        sub = queries[:CHECK_ROWS]
        got = np.asarray(delta_entropy(sub, refs, H), np.float64)
        with _x64():
            exact = np.asarray(delta_entropy(sub.astype(np.float64), refs.astype(np.float64), H))
        error = float((np.abs(got - exact) / np.maximum(np.abs(exact), 1.0)).max())
    result = Result(
        f"dH_{m}_vs_{n}", run_s, "s", error, {"queries": m, "references": n}, compile_s, run_s
    )
    # split arithmetic: a d-wide and a (2d + 2)-wide product per pair
    return _kernel_rates(result, float(m) * n, float(m) * n * 2 * (3 * WIDTH + 2), peak)


def bench_cv(n_atoms: int, ref: np.ndarray) -> Result:
    from .forces import collective_variable

    atoms = copper(n_atoms, seed=7)
    cv = collective_variable("dH_mean", atoms.positions, atoms.cell.array, True, reference=ref)
    value_and_forces = jax.jit(jax.value_and_grad(lambda p, c: cv(p, c)))
    pos = jnp.asarray(atoms.positions, jnp.float32)
    cell = jnp.asarray(atoms.cell.array, jnp.float32)
    compile_s, run_s, (value, grad) = timed(lambda: value_and_forces(pos, cell), 3)
    error = None
    if float64_available():
        with _x64():
            cv64 = collective_variable(
                "dH_mean", atoms.positions, atoms.cell.array, True, reference=ref.astype(np.float64)
            )
            v64, g64 = jax.jit(jax.value_and_grad(lambda p, c: cv64(p, c)))(
                jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)
            )
            v64, g64 = float(v64), np.asarray(g64)
        error = abs(float(value) - v64) / max(abs(v64), 1.0)
        per_atom = np.abs(np.asarray(grad) - g64).max(axis=1) / np.abs(g64).max()
    result = Result(
        f"cv_dH_{len(atoms)}",
        run_s,
        "s",
        error,
        {"atoms": len(atoms), "references": len(ref)},
        compile_s,
        run_s,
    )
    if error is not None:
        # A few atoms (~0.2%) sit near a tie of the descriptor's sorts, where its
        # derivative jumps and float32 and float64 may take either side: the check
        # reads the 99th percentile; the largest is reported
        result.details["forces_error_vs_float64"] = float(np.quantile(per_atom, 0.99))
        result.details["forces_error_max"] = float(per_atom.max())
        result.details["atoms_beyond_1e-3"] = int((per_atom > 1e-3).sum())
    result.note = (
        "value and forces; error: the value's, of max(|v|, 1); forces: 99th percentile "
        "over atoms, of the largest force"
    )
    return result


MORSE = dict(sigma=2.866, epsilon=0.3429, alpha=1.3588, r_onset=4.5, r_cutoff=5.2)


def bench_md_step(n_atoms: int, ref: np.ndarray) -> Result:
    from .forces.jaxmd import jax_md_float64_warnings_ignored

    with warnings.catch_warnings(), jax_md_float64_warnings_ignored():
        # jax-md 0.2's neighbour-list scatter (int64 -> int32)
        warnings.filterwarnings("ignore", "scatter inputs have incompatible types", FutureWarning)
        return _md_step(n_atoms, ref)


def _md_step(n_atoms: int, ref: np.ndarray) -> Result:
    import equinox as eqx
    from jax_md import energy, simulate, space

    from .forces import collective_variable
    from .forces.jaxmd import bias_energy_fn

    atoms = copper(n_atoms, seed=9)
    name = f"md_step_{len(atoms)}"

    def build(dtype):
        """(step, state, neighbour list, bias, energy) in ``dtype``; the bias (and its
        reference rows) is an argument of the jitted step, not a constant in it."""
        box = jnp.asarray(atoms.cell.array.T, dtype)
        frac = jnp.asarray(atoms.get_scaled_positions(), dtype)
        displacement, shift = space.periodic_general(box, fractional_coordinates=True)
        neighbors, morse = energy.morse_neighbor_list(
            displacement, box, fractional_coordinates=True, **MORSE
        )
        cv = collective_variable(
            "dH_mean", atoms.positions, atoms.cell.array, True, reference=ref.astype(dtype)
        )
        bias = bias_energy_fn(cv, -0.05, box, fractional_coordinates=True)

        def total_energy(bias, r, neighbor, **kw):
            return morse(r, neighbor=neighbor, **kw) + bias(r, **kw)

        def integrator(bias):
            energy_fn = functools.partial(total_energy, bias)
            return simulate.nvt_langevin(energy_fn, shift, 0.1, 0.05, gamma=0.2)

        @eqx.filter_jit
        def step(state, nbrs, bias):
            nbrs = nbrs.update(state.position)
            return integrator(bias)[1](state, neighbor=nbrs), nbrs

        nbrs = neighbors.allocate(frac)
        state = integrator(bias)[0](jax.random.PRNGKey(0), frac, mass=63.546, neighbor=nbrs)
        return step, state, nbrs, bias, eqx.filter_jit(total_energy)

    step, state, nbrs, bias, total = build(jnp.float32)
    compile_s, run_s, (new_state, new_nbrs) = timed(lambda: step(state, nbrs, bias), 5)
    if bool(new_nbrs.did_buffer_overflow):
        raise RuntimeError(f"{name}: the JAX-MD neighbour list overflowed")
    error = None
    if float64_available():
        e32 = float(total(bias, state.position, neighbor=nbrs))
        with _x64():
            _, state64, nbrs64, bias64, total64 = build(jnp.float64)
            e64 = float(total64(bias64, state64.position, neighbor=nbrs64))
        error = abs(e32 - e64) / max(abs(e64), 1.0)
    result = Result(
        name,
        run_s * 1e3,
        "ms",
        error,
        {"atoms": len(atoms), "references": len(ref)},
        compile_s,
        run_s,
    )
    result.note = "Morse + dH_mean bias, Langevin NVT; error: the biased energy (relative)"
    return result


def bench_sharded(n: int, x: np.ndarray) -> Result:
    from .information import entropy, sharded

    rows = x[:n]
    single = jax.jit(lambda a: entropy(a, H))  # one device, the traced scans
    _, t_single, h_single = timed(lambda: single(rows), 2)
    mesh = sharded.device_mesh()
    compile_s, run_s, h_sharded = timed(lambda: sharded.entropy(rows, H, mesh=mesh), 2)
    error = abs(float(h_sharded) - float(h_single)) / abs(float(h_single))
    result = Result(
        f"sharded_entropy_{n}",
        t_single / run_s,
        "x",
        error,
        {"rows": n, "devices": jax.local_device_count()},
        compile_s,
        run_s,
    )
    result.note = "speed-up over one device; error: sharded vs one device (float32 both)"
    return result


def bench_reference_gpu(n: int, x: np.ndarray) -> Result | None:
    """The reference's PyTorch entropy beside ours, where PyTorch sees a GPU."""
    try:
        import quests.gpu.entropy as gpu_ref
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    rows = torch.tensor(x[:n], device="cuda")

    def run():
        value = float(gpu_ref.entropy(rows, H, device="cuda"))
        torch.cuda.synchronize()
        return value

    t0 = time.perf_counter()
    value = run()
    first = time.perf_counter() - t0
    run_s = _best(run, 1 if first > 10 else 3)
    result = Result(f"reference_gpu_entropy_{n}", run_s, "s", None, {"rows": n}, None, run_s)
    result.note = f"quests.gpu.entropy (PyTorch): H = {value:.4f} nats"
    return result


# --------------------------------------------------------------------------------------
# the suite


def _have_jax_md() -> bool:
    try:
        import jax_md  # noqa: F401
    except ImportError:
        return False
    return True


def _run_workload(kind: str, size, rows, peak: float) -> tuple[Result | None, str | None]:
    """One workload of the suite: its result, or None and why it was skipped.
    ``rows(which)`` gives the shared data sets ("x", "y", "ref")."""
    if kind == "descriptors":
        return bench_descriptors(size), None
    if kind == "entropy":
        return bench_entropy(size, rows("x"), peak), None
    if kind == "dH":
        m, n = size
        return bench_dh(m, n, rows("x"), rows("y"), peak), None
    if kind == "cv_dH":
        return bench_cv(size, rows("ref")), None
    if kind == "md_step":
        if not _have_jax_md():
            return None, f"md_step_{size}: jax-md is not installed (extra 'md')"
        return bench_md_step(size, rows("ref")), None
    if kind == "sharded_entropy":
        return bench_sharded(size, rows("x")), None
    result = bench_reference_gpu(size, rows("x"))  # reference_gpu
    return result, None if result is not None else f"reference_gpu_{size}: needs PyTorch with a GPU"


def run_suite(quick: bool = True, only: list[str] | None = None, log=print) -> dict:
    """Run the suite (``only``: workload kinds, e.g. ["entropy", "dH"]) and return the
    report (a JSON-ready dict; module docstring)."""
    sizes = QUICK if quick else FULL
    kinds = only or list(sizes)
    unknown = sorted(set(kinds) - set(sizes))
    if unknown:
        raise InputValueError(f"unknown workloads {unknown}; choose from {sorted(sizes)}")
    info = device_info()
    peak, peak_source = peak_gflops(info["kind"])
    log(
        f"device: {info['platform']} {info['kind']} x {info['count']} ({info['host']}); "
        f"float32 peak {peak:,.0f} GFLOP/s ({peak_source})"
    )
    results: list[Result] = []
    skipped: list[str] = []
    data: dict = {}  # made when a workload first needs it (after the descriptors' timing)
    dh_sizes = sizes["dH"] if "dH" in kinds else []

    def rows(which: str) -> np.ndarray:
        if which not in data:
            if which == "x":  # entropy, sharded, references of dH
                wanted = [k for k in ("entropy", "sharded_entropy", "reference_gpu") if k in kinds]
                n = max([s for k in wanted for s in sizes[k]] + [n for _, n in dh_sizes])
                data[which] = environments(n, seed=0)
            elif which == "y":  # queries of dH: hotter
                n = max(m for m, _ in dh_sizes)
                data[which] = environments(n, seed=10_000, rattle=(0.15, 0.3))
            else:  # references of the CV and the MD bias
                data[which] = environments(CV_REFERENCE_ROWS[quick], seed=20_000)
        return data[which]

    def add(result):
        if result is None:
            return
        result.peak_memory_bytes = peak_memory()
        results.append(result)
        log(format_result(result))

    for kind in kinds:
        for size in sizes[kind]:
            result, why = _run_workload(kind, size, rows, peak)
            if why:
                skipped.append(why)
            add(result)
    for line in skipped:
        log(f"skipped {line}")
    from . import __version__

    return {
        "device": info,
        "jax_version": jax.__version__,
        "quests_jax_version": __version__,
        "mode": "quick" if quick else "full",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "float32_peak_gflops": peak,
        "float32_peak_source": peak_source,
        "results": [dataclasses.asdict(r) for r in results],
        "skipped": skipped,
    }


def _fmt(value, digits=3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and (abs(value) >= 1e5 or 0 < abs(value) < 1e-2):
        return f"{value:.{digits - 1}e}"
    return f"{value:,.{digits}g}" if isinstance(value, float) else str(value)


def format_result(r: Result) -> str:
    extra = ""
    if r.pairs_per_s is not None:
        extra = (
            f"  {r.pairs_per_s / 1e9:.2f} G pairs/s, {r.gflops:,.0f} GFLOP/s "
            f"({r.peak_fraction:.0%} of peak)"
        )
    return (
        f"{r.name:28} {_fmt(r.value):>10} {r.unit:6} compile {_fmt(r.compile_s)} s  "
        f"float64 error {_fmt(r.error_vs_float64)}{extra}"
    )


# --------------------------------------------------------------------------------------
# checks and comparisons

# Bounds a device must meet (--check): float32 against float64 on a subset.
BOUNDS = {
    "descriptors": 1e-5,  # absolute, per entry
    "entropy": 1e-6,  # relative
    "dH": 5e-5,  # of max(|dH|, 1)
    "cv_dH": 5e-5,  # value, of max(|v|, 1)
    "cv_dH forces": 1e-3,  # 99th percentile over atoms, of the largest force
    "md_step": 1e-4,  # biased energy, relative
    "sharded_entropy": 1e-5,  # sharded vs one device
}


def check(report: dict) -> list[str]:
    """What fails the device check: a result off its float64 bound, a NaN, a missing
    float64 check where float64 exists."""
    failures = []
    checked = 0
    for r in report["results"]:
        kind = next(
            (k for k in sorted(BOUNDS, key=len, reverse=True) if r["name"].startswith(k + "_")),
            None,
        )
        if kind is None:
            continue
        checked += 1
        value, error = r["value"], r["error_vs_float64"]
        if value is None or not np.isfinite(value):
            failures.append(f"{r['name']}: value {value}")
        if error is None:
            if report["device"]["platform"] != "tpu":
                failures.append(f"{r['name']}: no float64 check")
        elif not error <= BOUNDS[kind]:
            failures.append(f"{r['name']}: float64 error {error:.2e} > {BOUNDS[kind]:.0e}")
        forces = r.get("details", {}).get("forces_error_vs_float64")
        if forces is not None and not forces <= BOUNDS["cv_dH forces"]:
            failures.append(f"{r['name']}: forces' float64 error {forces:.2e} > 1e-3")
    if not checked:  # e.g. --only reference_gpu: a PASS would say nothing
        names = ", ".join(r["name"] for r in report["results"]) or "none"
        failures.append(f"no workload with a float64 bound ran (ran: {names})")
    return failures


def compare(a: dict, b: dict) -> str:
    """Two reports side by side: each result's value in both, and b / a."""

    def label(report):
        d = report["device"]
        return f"{d['platform']} {d['kind']} x{d['count']}"

    rows = {r["name"]: r for r in a["results"]}
    others = {r["name"]: r for r in b["results"]}
    names = list(rows) + [n for n in others if n not in rows]
    la, lb = label(a), label(b)
    lines = [f"{'workload':28} {'unit':6} {la[:22]:>22} {lb[:22]:>22} {'b / a':>8}"]
    for name in names:
        ra, rb = rows.get(name), others.get(name)
        va = ra["value"] if ra else None
        vb = rb["value"] if rb else None
        unit = (ra or rb or {})["unit"]
        ratio = f"{vb / va:8.2f}" if va and vb else f"{'-':>8}"
        lines.append(f"{name:28} {unit:6} {_fmt(va):>22} {_fmt(vb):>22} {ratio}")
    lines.append(f"jax {a['jax_version']} vs {b['jax_version']}; modes {a['mode']} vs {b['mode']}")
    return "\n".join(lines)


REPORT_FIELDS = {
    "": ("device", "results", "jax_version", "mode"),
    "device": ("platform", "kind", "count"),
    "results[]": ("name", "value", "unit"),
}


def load_report(path: str) -> dict:
    """A report written by ``quests-jax bench -o``; ValueError naming the file and the
    first field it lacks (a hand-edited or foreign JSON gave a KeyError traceback)."""
    try:
        with open(path) as f:
            report = json.load(f)
    except json.JSONDecodeError as err:
        raise InputValueError(f"{path}: not a quests-jax bench report (not JSON: {err})") from None
    if not isinstance(report, dict):
        raise InputValueError(f"{path}: not a quests-jax bench report (not a JSON object)")
    results = report.get("results")
    parts: dict[str, list] = {"": [report], "device": [report.get("device")]}
    parts["results[]"] = results if isinstance(results, list) else []
    for where, fields in REPORT_FIELDS.items():
        for part in parts[where]:
            missing = [k for k in fields if not isinstance(part, dict) or k not in part]
            if missing:
                field = f"{where}.{missing[0]}" if where else missing[0]
                raise InputValueError(f"{path}: not a quests-jax bench report (no {field!r})")
    return report
