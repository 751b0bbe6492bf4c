"""Draw the theory page's figure: entropy against bandwidth on the DFT silicon set.

    python docs/make_figures.py [--out docs/images]

H(h) of the silicon training set (examples/data/mlearn_si, 13,233 environments) and of
its 300 K and 3374 K AIMD frames, for h from 0.002 to 0.5 1/A, with the ceiling log N,
the default h = 0.015 and the bandwidth rule's h for the set's volume per atom.
"""

from __future__ import annotations

import argparse
import os
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from ase.io import read

import quests_jax as qj

DATA = os.path.join(os.path.dirname(__file__), "..", "examples", "data", "mlearn_si")


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "images"))
    args = parser.parse_args(argv)
    frames = read(os.path.join(DATA, "train.xyz"), ":")
    groups = {"all training frames": frames}
    for temperature in ("300 K", "3374 K"):
        aimd = [a for a in frames if a.info.get("config_type") == "AIMD-NVT"]
        groups[f"AIMD {temperature}"] = [
            a for a in aimd if a.info.get("description", "").endswith(f" at {temperature}")
        ]
    bandwidths = np.geomspace(0.002, 0.5, 40)
    rule = qj.get_bandwidth(qj.volume_per_atom(frames))
    fig, ax = plt.subplots(figsize=(6.2, 4.0))
    for (label, group), colour in zip(
        groups.items(), ("#4c72b0", "#55a868", "#c44e52"), strict=True
    ):
        x = qj.get_descriptors(group)
        with warnings.catch_warnings():  # the curve visits both ends on purpose
            warnings.simplefilter("ignore", qj.information.BandwidthWarning)
            h_values = np.asarray(qj.entropy(x, bandwidths))
        ax.plot(bandwidths, h_values, color=colour, label=f"{label} (N = {len(x):,})")
        ax.axhline(np.log(len(x)), color=colour, ls=":", lw=1)
    ax.axvline(0.015, color="k", ls="--", lw=1)
    ax.axvline(rule, color="0.5", ls="-.", lw=1)
    top = ax.get_ylim()[1]
    ax.text(0.015, top * 0.97, " default 0.015", va="top", fontsize=8)
    ax.text(rule, top * 0.87, f" rule {rule:.3f}", va="top", fontsize=8, color="0.4")
    ax.set_xscale("log")
    ax.set_xlabel("bandwidth h (1/Å)")
    ax.set_ylabel("entropy H (nats)")
    ax.set_title("DFT silicon: H(h) runs from log N (dotted) to 0", fontsize=10)
    ax.legend(frameon=False, fontsize=8, loc="upper right", bbox_to_anchor=(1.0, 0.9))
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "bandwidth.png")
    fig.savefig(path, dpi=130)
    print(path, f"rule h = {rule:.4f}")
    return path


if __name__ == "__main__":
    main()
