"""QUESTS on real data: a DFT (PBE) silicon training set, from crystal to liquid.

The mlearn silicon data (``examples/data/mlearn_si``: 214 training and 25 test
frames of 12 - 96 atoms; AIMD at 300 - 3374 K, vacancies, strained cells, slabs;
DFT energies and forces; BSD-3, see its README) analysed the way the QUESTS paper
analyses datasets:

1. **Entropy and temperature.** The information entropy of the AIMD frames at each
   temperature, with the bandwidth rule's h (from the volume per atom) and with the
   default h = 0.015; the largest rise between neighbouring temperatures is where the
   crystal melts.
2. **What the training set lacks.** dH of every test environment against the
   training set, per ``config_type`` and per frame: environments with dH > 0 lie
   outside the training data.
3. **Compression.** ``msc``, ``fps``, ``k_means`` and ``random`` (mean of 3 seeds)
   keep 5 - 90% of the training frames: the entropy they keep, the coverage (the
   fraction of all training environments with dH < 1e-3 against the kept frames:
   ``compression.summary``'s overlap) and the smallest fraction that covers >= 99%.
   A learning curve of the training environments gives the information gap.
4. **Model-free UQ, measured.** A cheap model (Gaussian kernel ridge regression of
   each atom's force magnitude on its descriptor) is trained on the frames
   ``msc`` keeps at 20%; does dH against those frames rank the test atoms and frames
   the way the model's error does? (Spearman rank correlation; positive or not.)

Prints a table per part and draws ``silicon_dft.png`` (in ``--out``, default
``quests_jax_figures/`` in the current folder, which git ignores here; the
documentation's copy is made with ``--out docs/images``). The last line is the headline
in numbers.

    python examples/silicon_dft.py          # about 40 s on 2 CPU cores
    python examples/silicon_dft.py --fast   # fewer fractions (the test's mode)
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

import ase.io
import numpy as np

import quests_jax as qj
from quests_jax import tools as compression
from quests_jax.tools import FrameSet, information_gap, learning_curve

DATA = Path(__file__).resolve().parent / "data" / "mlearn_si"
METHODS = ("msc", "fps", "k_means", "random")
FRACTIONS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
FAST_FRACTIONS = (0.1, 0.3)
RANDOM_SEEDS = 3
COVERAGE_GOAL = 0.99
UQ_FRACTION = 0.2  # the msc-kept frames the cheap model learns from
H = qj.DEFAULT_BANDWIDTH  # 0.015 1/A


def temperature(atoms) -> int | None:
    """The AIMD temperature (K) from a frame's ``description``, or None."""
    match = re.search(r"(\d+)\s*K\b", atoms.info.get("description", ""))
    return int(match.group(1)) if match else None


def load(data_dir=DATA) -> tuple[list, list]:
    """(train, test) lists of ``ase.Atoms`` with DFT forces."""
    data_dir = Path(data_dir)
    return (
        ase.io.read(data_dir / "train.xyz", ":"),
        ase.io.read(data_dir / "test.xyz", ":"),
    )


def row_slices(frames) -> list[slice]:
    """Rows of each frame in the flat descriptor array."""
    ends = np.cumsum([len(a) for a in frames])
    return [slice(int(e - len(a)), int(e)) for a, e in zip(frames, ends, strict=True)]


def entropy_by_temperature(frames) -> dict:
    """Entropy of the ``AIMD-NVT`` frames at each temperature, at two bandwidths."""
    aimd = [a for a in frames if a.info.get("config_type") == "AIMD-NVT"]
    volume = qj.volume_per_atom(aimd)
    h_rule = float(qj.get_bandwidth(volume))
    temps = sorted({temperature(a) for a in aimd})
    rows = {
        "volume": volume,
        "h_rule": h_rule,
        "temperature": temps,
        "frames": [],
        "envs": [],
        "H_rule": [],
        "H_default": [],
    }
    for t in temps:
        group = [a for a in aimd if temperature(a) == t]
        x = qj.get_descriptors(group)
        h_rule_t, h_default = np.asarray(qj.entropy(x, h=[h_rule, H]), float)
        rows["frames"].append(len(group))
        rows["envs"].append(len(x))
        rows["H_rule"].append(float(h_rule_t))
        rows["H_default"].append(float(h_default))
    jump = int(np.argmax(np.diff(rows["H_rule"])))
    rows["melt_between"] = (temps[jump], temps[jump + 1])
    return rows


def novelty(test, x_test, x_train) -> dict:
    """dH of every test environment against the training set, per frame and group."""
    dh = np.asarray(qj.delta_entropy(x_test, x_train, h=H), float)
    frames = []
    for i, (atoms, rows) in enumerate(zip(test, row_slices(test), strict=True)):
        d = dh[rows]
        frames.append(
            {
                "frame": i,
                "config_type": atoms.info.get("config_type", "?"),
                "temperature": temperature(atoms),
                "atoms": len(atoms),
                "novel": int((d > 0).sum()),
                "dH_max": float(d.max()),
            }
        )
    groups = {}
    for f in frames:
        g = groups.setdefault(
            f["config_type"],
            {"frames": 0, "envs": 0, "novel": 0, "frames_with_novel": 0, "dH_max": -np.inf},
        )
        g["frames"] += 1
        g["envs"] += f["atoms"]
        g["novel"] += f["novel"]
        g["frames_with_novel"] += f["novel"] > 0
        g["dH_max"] = max(g["dH_max"], f["dH_max"])
    return {"dH": dh, "frames": frames, "groups": groups}


def compression_study(data: FrameSet, fractions, *, curve_points=10) -> dict:
    """Entropy and coverage kept by each method at each fraction, and the information
    gap of the full training set from a learning curve."""
    kept = {m: {"entropy": [], "coverage": [], "frames": []} for m in METHODS}
    for method in METHODS:
        for fraction in fractions:
            seeds = range(RANDOM_SEEDS) if method == "random" else [0]
            stats = []
            for seed in seeds:
                keep = compression.compress(data, float(fraction), method, h=H, seed=seed)
                stats.append(compression.summary(data, keep, h=H))
            kept[method]["entropy"].append(float(np.mean([s["entropy"] for s in stats])))
            kept[method]["coverage"].append(float(np.mean([s["overlap"] for s in stats])))
            kept[method]["frames"].append(stats[0]["compressed_size"])
    for k in kept.values():
        enough = [f for f, c in zip(fractions, k["coverage"], strict=True) if c >= COVERAGE_GOAL]
        k["smallest_covering"] = min(enough) if enough else None
    curve = learning_curve(data.x, np.linspace(0.05, 1.0, curve_points), num_runs=2, h=H)
    fit = information_gap(np.repeat(curve["sizes"], 2), curve["entropies"].reshape(-1))
    return {
        "fractions": list(fractions),
        "kept": kept,
        "H_full": float(qj.entropy(data.x, H)),
        "curve": curve,
        "fit": fit,
    }


def kernel_ridge(x_train, y_train, x_test, *, ridge=0.1) -> np.ndarray:
    """Gaussian kernel ridge regression (float64), its length scale set by the median
    squared distance between training rows (a fixed rule, not tuned on the test set)."""
    from scipy.spatial.distance import cdist  # scipy comes with ASE

    x_train = np.asarray(x_train, np.float64)
    d2 = cdist(x_train, x_train, "sqeuclidean")
    two_s2 = 2.0 * np.median(d2)
    mean = y_train.mean()
    alpha = np.linalg.solve(np.exp(-d2 / two_s2) + ridge * np.eye(len(d2)), y_train - mean)
    k_test = np.exp(-cdist(np.asarray(x_test, np.float64), x_train, "sqeuclidean") / two_s2)
    return k_test @ alpha + mean


def spearman(a, b) -> float:
    """Spearman rank correlation (ties share their mean rank)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def uq_study(train, data: FrameSet, test, x_test) -> dict:
    """Kernel ridge model of |force| on the msc-kept frames; dH vs its error."""
    keep = np.sort(compression.compress(data, UQ_FRACTION, "msc", h=H))
    x_kept = data.rows(keep)
    f_kept = np.concatenate([np.linalg.norm(train[i].get_forces(), axis=1) for i in keep])
    f_test = np.concatenate([np.linalg.norm(a.get_forces(), axis=1) for a in test])
    error = np.abs(kernel_ridge(x_kept, f_kept, x_test) - f_test)
    dh = np.asarray(qj.delta_entropy(x_test, x_kept, h=H), float)
    slices = row_slices(test)
    frame_dh = np.array([dh[s].max() for s in slices])
    frame_err = np.array([np.sqrt(np.mean(error[s] ** 2)) for s in slices])
    novel = dh > 0
    return {
        "kept_frames": int(keep.size),
        "dH": dh,
        "error": error,
        "frame_dH_max": frame_dh,
        "frame_rmse": frame_err,
        "mae": float(error.mean()),
        "force_mean": float(f_test.mean()),
        "mae_novel": float(error[novel].mean()) if novel.any() else float("nan"),
        "mae_known": float(error[~novel].mean()) if (~novel).any() else float("nan"),
        "novel": int(novel.sum()),
        "rho_atoms": spearman(dh, error),
        "rho_frames": spearman(frame_dh, frame_err),
        "config_types": [a.info.get("config_type", "?") for a in test],
    }


def figure(path, temps: dict, novel: dict, comp: dict, uq: dict, test) -> None:
    from quests_jax.tools.plots import _pyplot, _save

    plt = _pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(14, 8))
    colors = {"msc": "#c44e52", "fps": "#4c72b0", "k_means": "#55a868", "random": "#8c8c8c"}
    kinds = sorted(novel["groups"])
    marker_of = dict(zip(kinds, "osD^v<>", strict=False))

    ax = axes[0, 0]
    ax.plot(temps["temperature"], temps["H_rule"], "o-", label=f"h = {temps['h_rule']:.4f} (rule)")
    ax.plot(temps["temperature"], temps["H_default"], "s-", label=f"h = {H}")
    lo, hi = temps["melt_between"]
    ax.axvspan(lo, hi, color="#f2c14e", alpha=0.3, label="melts in between")
    ax.set(
        xlabel="AIMD temperature (K)",
        ylabel="entropy H (nats)",
        title="(a) entropy of the AIMD frames",
    )
    ax.legend(frameon=False, fontsize=8)

    ax = axes[0, 1]
    rng = np.random.default_rng(0)
    for j, kind in enumerate(kinds):
        rows = np.concatenate(
            [
                np.arange(s.start, s.stop)
                for s, a in zip(row_slices(test), test, strict=True)
                if a.info.get("config_type") == kind
            ]
        )
        d = novel["dH"][rows]
        ax.scatter(
            j + 0.25 * rng.standard_normal(d.size),
            d,
            s=4,
            alpha=0.5,
            c=np.where(d > 0, "#dd8452", "#4c72b0"),
        )
    ax.axhline(0, color="k", lw=1, ls="--")
    ax.set_xticks(range(len(kinds)), kinds)
    ax.set(
        ylabel="dH against the training set (nats)", title="(b) test environments: dH > 0 is new"
    )

    for ax, key, label in [
        (axes[0, 2], "coverage", "coverage of the training set"),
        (axes[1, 0], "entropy", "entropy of the kept frames (nats)"),
    ]:
        for method in METHODS:
            ax.plot(
                comp["fractions"],
                comp["kept"][method][key],
                "o-",
                color=colors[method],
                label=method,
            )
        ax.set(xlabel="fraction of training frames kept", ylabel=label)
        ax.legend(frameon=False, fontsize=8)
    axes[0, 2].axhline(COVERAGE_GOAL, color="k", lw=1, ls="--")
    axes[0, 2].set_title("(c) compression: coverage")
    axes[1, 0].axhline(comp["H_full"], color="k", lw=1, ls="--", label="full set")
    axes[1, 0].axhline(comp["fit"].a, color="k", lw=1, ls=":", label="asymptote")
    axes[1, 0].set_title("(d) compression: entropy kept")
    axes[1, 0].legend(frameon=False, fontsize=8)

    ax = axes[1, 1]
    novel_atoms = uq["dH"] > 0
    ax.scatter(uq["dH"][~novel_atoms], uq["error"][~novel_atoms], s=4, alpha=0.4, c="#4c72b0")
    ax.scatter(uq["dH"][novel_atoms], uq["error"][novel_atoms], s=4, alpha=0.4, c="#dd8452")
    ax.axvline(0, color="k", lw=1, ls="--")
    ax.set_yscale("log")
    ax.set(
        xlabel="dH against the model's training frames (nats)",
        ylabel="|force| error of the model (eV/A)",
        title=f"(e) test atoms: Spearman {uq['rho_atoms']:.2f}",
    )

    ax = axes[1, 2]
    for kind in kinds:
        sel = np.array([c == kind for c in uq["config_types"]])
        ax.scatter(
            uq["frame_dH_max"][sel], uq["frame_rmse"][sel], marker=marker_of[kind], label=kind
        )
    ax.axvline(0, color="k", lw=1, ls="--")
    ax.set(
        xlabel="max dH of the frame (nats)",
        ylabel="force-magnitude RMSE (eV/A)",
        title=f"(f) test frames: Spearman {uq['rho_frames']:.2f}",
    )
    ax.legend(frameon=False, fontsize=8)
    fig.suptitle("QUESTS on DFT silicon (mlearn, PBE): 214 training, 25 test frames")
    _save(fig, path)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA), help="folder with train.xyz, test.xyz")
    parser.add_argument("--out", default="quests_jax_figures", help="folder for silicon_dft.png")
    parser.add_argument("--fast", action="store_true", help="fewer fractions, shorter curve")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    train, test = load(args.data)
    x_train, x_test = qj.get_descriptors(train), qj.get_descriptors(test)
    data = FrameSet(x_train, [len(a) for a in train])
    print(
        f"mlearn Si: {len(train)} training frames ({len(x_train):,} environments), "
        f"{len(test)} test frames ({len(x_test):,})"
    )

    temps = entropy_by_temperature(train + test)
    print(
        f"\n1. Entropy of the AIMD frames (train + test), nats; bandwidth rule h = "
        f"{temps['h_rule']:.4f} (volume per atom {temps['volume']:.2f} A^3)"
    )
    print(f"{'T (K)':>6} {'frames':>6} {'envs':>6} {'H rule':>7} {'H 0.015':>8}")
    columns = ("temperature", "frames", "envs", "H_rule", "H_default")
    for row in zip(*(temps[k] for k in columns), strict=True):
        print(f"{row[0]:6d} {row[1]:6d} {row[2]:6d} {row[3]:7.2f} {row[4]:8.2f}")
    lo, hi = temps["melt_between"]
    print(f"largest rise: {lo} -> {hi} K (the melt)")

    novel = novelty(test, x_test, x_train)
    print(f"\n2. dH of the test environments against the training set (h = {H})")
    print(
        f"{'config_type':>12} {'frames':>6} {'envs':>5} {'dH > 0':>6} {'frames w/':>9} "
        f"{'max dH':>7}"
    )
    for kind, g in sorted(novel["groups"].items()):
        print(
            f"{kind:>12} {g['frames']:6d} {g['envs']:5d} {g['novel']:6d} "
            f"{g['frames_with_novel']:9d} {g['dH_max']:7.2f}"
        )
    flagged = [f for f in novel["frames"] if f["novel"] > 0]
    where = [
        f["config_type"] + ("" if f["temperature"] is None else f" {f['temperature']} K")
        for f in flagged
    ]
    print(
        "frames with new environments (new/atoms): "
        + ", ".join(
            f"{f['frame']} ({w}: {f['novel']}/{f['atoms']})"
            for f, w in zip(flagged, where, strict=True)
        )
    )

    fractions = FAST_FRACTIONS if args.fast else FRACTIONS
    comp = compression_study(data, fractions, curve_points=5 if args.fast else 10)
    print(
        f"\n3. Compression of the training set (H of all {data.n_frames} frames "
        f"{comp['H_full']:.2f} nats)"
    )
    print(f"{'fraction':>8} " + " ".join(f"{m + ' H':>9} {'cov':>6}" for m in METHODS))
    for i, fraction in enumerate(fractions):
        print(
            f"{fraction:8.2f} "
            + " ".join(
                f"{comp['kept'][m]['entropy'][i]:9.2f} {100 * comp['kept'][m]['coverage'][i]:5.1f}%"
                for m in METHODS
            )
        )
    for m in METHODS:
        s = comp["kept"][m]["smallest_covering"]
        print(
            f"{m:>8}: smallest fraction covering >= {COVERAGE_GOAL:.0%}: "
            + (f"not reached at <= {max(fractions):.0%}" if s is None else f"{s:.0%}")
        )
    fit = comp["fit"]
    print(
        f"learning curve: H({data.n_envs:,}) = {comp['curve']['mean_entropy'][-1]:.2f} nats, "
        f"asymptote {fit.a:.2f}, information gap {fit.gap:.2f} nats"
    )

    uq = uq_study(train, data, test, x_test)
    print(
        f"\n4. Model-free UQ: kernel ridge model of |force| trained on the "
        f"{uq['kept_frames']} frames msc keeps at {UQ_FRACTION:.0%}"
    )
    print(
        f"MAE {uq['mae']:.3f} eV/A (mean |force| {uq['force_mean']:.3f}); test atoms with "
        f"dH > 0: {uq['novel']} of {len(x_test)}, MAE {uq['mae_novel']:.3f} vs "
        f"{uq['mae_known']:.3f} for dH <= 0"
    )
    print(
        f"Spearman(dH, |error|): atoms {uq['rho_atoms']:.2f}, frames (max dH vs RMSE) "
        f"{uq['rho_frames']:.2f}"
    )

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "silicon_dft.png")
    figure(path, temps, novel, comp, uq, test)
    print(f"\nfigure: {path}; total {time.perf_counter() - start:.0f} s")
    n_novel = int((novel["dH"] > 0).sum())
    msc = comp["kept"]["msc"]["smallest_covering"]
    rnd = comp["kept"]["random"]["smallest_covering"]
    beyond = f"> {max(fractions):.0%}"
    print(
        f"Si DFT: H {temps['H_default'][0]:.2f} -> {temps['H_default'][-1]:.2f} nats from "
        f"{temps['temperature'][0]} to {temps['temperature'][-1]} K (melts between {lo} and "
        f"{hi} K); "
        f"{n_novel}/{len(x_test)} test environments new to the training set; >= 99% coverage: "
        f"msc {beyond if msc is None else f'{msc:.0%}'} of the frames, random "
        f"{beyond if rnd is None else f'{rnd:.0%}'}; UQ Spearman "
        f"{uq['rho_atoms']:.2f} (atoms), {uq['rho_frames']:.2f} (frames)"
    )
    return {
        "temperatures": temps,
        "novelty": novel,
        "compression": comp,
        "uq": uq,
        "x_train": x_train,
        "x_test": x_test,
        "figure": path,
    }


if __name__ == "__main__":
    main()
