"""The dataset tools on copper made on the spot: compress a training set, draw its
learning curve with the information gap, watch a heating trajectory, and report
where a hot test set leaves the training data.

Runs EMT Langevin MD of 108 Cu atoms (ASE, no downloads) at 300, 600 and 900 K as a
"training set" and at 1500 and 3000 K as "test" data, then:

* compresses the training frames to a third with ``msc`` and reports what is kept;
* a learning curve of the training environments and the fitted information gap;
* per-frame entropy and dH (against the 300 K frames and the previous frame) along
  the frames in order of temperature, streamed frame by frame;
* a UQ report of the test frames against the training set.

Figures go to ``--out`` (default ``quests_jax_figures/`` in the current folder, which
git ignores here; the documentation's copies are made with ``--out docs/images``):
``learning_curve.png``, ``trajectory.png``, ``dh_histogram.png``.

    python examples/dataset_tools.py [--steps 200] [--samples 10] [--out FOLDER]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from copper_md import run_md

import quests_jax as qj
from quests_jax import tools as compression
from quests_jax.tools import (
    FrameSet,
    analyse_trajectory,
    information_gap,
    learning_curve,
    plots,
    uq_report,
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="MD steps of 5 fs per run")
    parser.add_argument("--samples", type=int, default=10, help="frames kept per run")
    parser.add_argument("--out", default="quests_jax_figures", help="directory for the figures")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    t0 = time.perf_counter()
    runs = {
        t: run_md(t, args.steps, args.samples, seed=i)
        for i, t in enumerate([300, 600, 900, 1500, 3000])
    }
    train = runs[300] + runs[600] + runs[900]
    test = runs[1500] + runs[3000]
    print(
        f"MD: {len(train)} training and {len(test)} test frames of 108 atoms "
        f"({time.perf_counter() - t0:.0f} s)"
    )

    data = FrameSet(qj.get_descriptors(train), [len(a) for a in train])
    keep = compression.msc(data, len(train) // 3)
    summary = compression.summary(data, keep)
    full_h = float(qj.entropy(data.x))
    print(
        f"msc keeps {len(keep)} of {len(train)} frames: H {summary['entropy']:.3f} of "
        f"{full_h:.3f} nats, overlap of the full set on it {100 * summary['overlap']:.0f}%"
    )

    curve = learning_curve(data.x, np.linspace(0.05, 1.0, 12), num_runs=3)
    fit = information_gap(np.repeat(curve["sizes"], 3), curve["entropies"].reshape(-1))
    plots.learning_curve(
        curve,
        os.path.join(args.out, "learning_curve.png"),
        fit=fit,
        title="Learning curve: Cu 300-900 K (EMT)",
    )
    print(
        f"learning curve: H({data.n_envs}) = {curve['mean_entropy'][-1]:.3f} nats, "
        f"asymptote {fit.a:.3f}, information gap {fit.gap:.3f} nats"
    )

    cold = qj.get_descriptors(runs[300])
    records = analyse_trajectory(train + test, reference=cold, window=1)
    plots.trajectory(
        records,
        os.path.join(args.out, "trajectory.png"),
        title="Cu heated 300 -> 3000 K: frames in order of temperature",
    )
    first_hot = len(train)
    print(
        f"trajectory: dH > 0 vs 300 K in {100 * records[0]['dH_reference_fraction']:.0f}% "
        f"of the first frame's environments, {100 * records[-1]['dH_reference_fraction']:.0f}% "
        f"of the last's; frame entropy {records[0]['entropy']:.2f} -> "
        f"{records[-1]['entropy']:.2f} nats (test data from frame {first_hot})"
    )

    test_set = FrameSet(qj.get_descriptors(test), [len(a) for a in test])
    report, dh = uq_report(test_set, data.x)
    plots.dh_histogram(
        dh,
        os.path.join(args.out, "dh_histogram.png"),
        title="dH of 1500 K and 3000 K Cu against 300-900 K",
    )
    worst = report["worst_frames"][0]
    print(
        f"UQ: {100 * report['fraction_above']:.1f}% of test environments have dH > 0; "
        f"worst frame {worst['frame']} (max dH {worst['dH_max']:.1f} nats)"
    )
    print(f"figures in {args.out}/")


if __name__ == "__main__":
    main()
