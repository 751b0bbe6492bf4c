"""Model-free uncertainty report: how far a test set (or a trajectory) strays from
the training set, environment by environment.

dH(y | train) > 0 means an environment lies where the training data has (kernel)
density below one environment's worth: an ML potential trained on that data is
extrapolating there. The report gives the fraction of such environments, the
frames and atoms that stray most, and summary statistics.
"""

from __future__ import annotations

import numpy as np

from .._core.array_types import Rows
from .._core.errors import InputValueError
from .._core.validation import check_rows
from ..information import DEFAULT_BANDWIDTH, delta_entropy
from ._frame_sets import FrameSet


def uq_report(
    test: FrameSet,
    train: Rows,
    h: float = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    threshold: float = 0.0,
    top: int = 10,
) -> tuple[dict, np.ndarray]:
    """dH of every test environment against ``train`` and a JSON-ready summary.

    Args:
        test: test descriptors, frame by frame.
        train: (n_train, d) training descriptors.
        threshold: dH above which an environment is flagged (default 0).
        top: how many of the worst atoms and frames to list.

    Returns:
        (report, dh): ``dh`` (n_test,) per environment; ``report`` with ``n_envs``,
        ``n_frames``, ``threshold``, ``fraction_above``, ``n_above``, ``dH_mean``,
        ``dH_max``, ``dH_quantiles`` (5, 50, 95, 99 %), ``frames`` (per frame
        ``frame``, ``n_atoms``, ``dH_mean``, ``dH_max``, ``fraction_above``),
        ``worst_frames`` (frames by decreasing dH_max) and ``worst_atoms``
        (``frame``, ``atom``, ``dH``, by decreasing dH).
    """
    train = np.asarray(check_rows(train, "train", width=test.x.shape[1]))
    if not np.isfinite(threshold):
        raise InputValueError(f"threshold must be finite, got {threshold}")
    if top < 0:
        raise InputValueError(f"top must be >= 0, got {top}")
    dh = np.asarray(delta_entropy(test.x, train.astype(test.x.dtype), h, batch_size), np.float64)
    above = dh > threshold
    starts = test.starts
    frame_max = np.maximum.reduceat(dh, starts)
    frame_mean = np.add.reduceat(dh, starts) / test.sizes
    frame_frac = np.add.reduceat(above.astype(float), starts) / test.sizes
    frames = [
        {
            "frame": f,
            "n_atoms": int(test.sizes[f]),
            "dH_mean": float(frame_mean[f]),
            "dH_max": float(frame_max[f]),
            "fraction_above": float(frame_frac[f]),
        }
        for f in range(test.n_frames)
    ]
    worst = np.argsort(-dh, kind="stable")[:top]
    frame_of = test.frame_of_row
    report = {
        "n_envs": test.n_envs,
        "n_frames": test.n_frames,
        "n_train_envs": int(train.shape[0]),
        "bandwidth": float(h),
        "threshold": float(threshold),
        "n_above": int(above.sum()),
        "fraction_above": float(above.mean()),
        "dH_mean": float(dh.mean()),
        "dH_max": float(dh.max()),
        "dH_quantiles": {
            str(q): float(v)
            for q, v in zip((5, 50, 95, 99), np.percentile(dh, [5, 50, 95, 99]), strict=True)
        },
        "frames": frames,
        "worst_frames": [frames[f] for f in np.argsort(-frame_max, kind="stable")[:top]],
        "worst_atoms": [
            {
                "frame": int(frame_of[i]),
                "atom": int(i - starts[frame_of[i]]),
                "dH": float(dh[i]),
            }
            for i in worst
        ],
    }
    return report, dh
