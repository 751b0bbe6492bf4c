"""Figures for the dataset tools (matplotlib; ``pip install "quests_jax[plot]"``).

Each function draws one figure, saves it to ``path`` (any format matplotlib knows
from the suffix) and returns the path.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import numpy as np

from .._core.array_types import AnyArray, Float, PathLike

if TYPE_CHECKING:
    from ._learning import GapFit


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            'plots need matplotlib: pip install "quests_jax[plot]" (or matplotlib)'
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path, overwrite: bool = True):
    """Save atomically (:mod:`quests_jax._core.output_files`); ``overwrite`` False refuses
    to replace an existing file."""
    from .._core.output_files import write_atomically

    fig.tight_layout()
    try:
        write_atomically(path, lambda tmp: fig.savefig(tmp, dpi=150), overwrite=overwrite)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path


def _title(*lines: str | None, width: int = 52) -> str:
    """The lines given (None left out), each wrapped to fit the figure's width (a long
    path breaks over lines instead of running past the edge)."""
    return "\n".join(textwrap.fill(line, width, break_on_hyphens=False) for line in lines if line)


def dh_histogram(
    dh: Float[AnyArray, " n"],
    path: PathLike,
    *,
    threshold: float = 0.0,
    title: str | None = "dH against the training set",
    overwrite: bool = True,
):
    """Histogram of per-environment dH with the threshold marked and the fraction above."""
    plt = _pyplot()
    dh = np.asarray(dh, dtype=float).reshape(-1)
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    lo, hi = min(float(dh.min()), threshold), max(float(dh.max()), threshold)
    width = (hi - lo) / 60 if hi > lo else 1.0
    # the threshold is a bin edge, so no bar straddles it
    first, last = np.floor((lo - threshold) / width), np.ceil((hi - threshold) / width)
    bins = threshold + width * np.arange(first, last + 1)
    ax.hist(dh[dh <= threshold], bins=bins, color="#4c72b0", label="dH <= threshold")
    ax.hist(dh[dh > threshold], bins=bins, color="#dd8452", label="dH > threshold")
    ax.axvline(threshold, color="k", ls="--", lw=1)
    frac = float((dh > threshold).mean())
    ax.set_yscale("log")
    ax.set_xlabel("dH (nats)")
    ax.set_ylabel("environments")
    ax.set_title(
        _title(title, f"{100 * frac:.1f}% of {dh.size:,} environments above {threshold:g}")
    )
    ax.legend(frameon=False, fontsize=8)
    return _save(fig, path, overwrite)


def learning_curve(
    curve: dict,
    path: PathLike,
    *,
    fit: GapFit | None = None,
    title: str | None = "Learning curve",
    overwrite: bool = True,
):
    """Entropy against the number of environments (mean and spread over runs), with the
    information-gap fit and its asymptote when ``fit`` (a GapFit) is given."""
    plt = _pyplot()
    sizes = np.asarray(curve["sizes"], dtype=float)
    mean, std = np.asarray(curve["mean_entropy"]), np.asarray(curve["std_entropy"])
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.errorbar(sizes, mean, yerr=std, fmt="o", color="#4c72b0", capsize=3, label="entropy")
    if fit is not None:
        n = np.logspace(np.log10(sizes.min()), np.log10(sizes.max()) + 1, 200)
        ax.plot(n, fit(n), color="#dd8452", label="a - b exp(-c (ln n)^2)")
        ax.axhline(fit.a, color="#dd8452", ls="--", lw=1, label=f"asymptote a = {fit.a:.2f}")
        title = _title(title, f"information gap {fit.gap:.2f} nats")
    ax.set_xscale("log")
    ax.set_xlabel("environments n")
    ax.set_ylabel("entropy H (nats)")
    ax.set_title(_title(title))
    ax.legend(frameon=False, fontsize=8)
    return _save(fig, path, overwrite)


def trajectory(
    records: list[dict], path: PathLike, *, title: str | None = "Trajectory", overwrite: bool = True
):
    """Entropy (top) and dH mean / max against the reference and the previous frames
    (bottom) along a trajectory."""
    plt = _pyplot()
    frames = [r["frame"] for r in records]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 5), sharex=True)
    top.plot(frames, [r["entropy"] for r in records], color="#4c72b0")
    top.set_ylabel("frame entropy (nats)")
    top.set_title(_title(title, width=58))
    for name, colour in (("reference", "#dd8452"), ("previous", "#55a868")):
        key = f"dH_{name}_mean"
        if not any(r.get(key) is not None for r in records):
            continue
        sel = [r for r in records if r.get(key) is not None]
        x = [r["frame"] for r in sel]
        bottom.plot(x, [r[key] for r in sel], color=colour, label=f"mean dH vs {name}")
        bottom.plot(
            x, [r[f"dH_{name}_max"] for r in sel], color=colour, ls=":", label=f"max dH vs {name}"
        )
    bottom.axhline(0, color="k", lw=0.5)
    bottom.set_xlabel("frame")
    from matplotlib.ticker import MaxNLocator

    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.set_ylabel("dH (nats)")
    bottom.legend(frameon=False, fontsize=8)
    return _save(fig, path, overwrite)


__all__ = [
    "dh_histogram",
    "learning_curve",
    "trajectory",
]
