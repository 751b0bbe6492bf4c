"""Trajectory analysis, streamed frame by frame: each frame's own entropy and the dH
of its environments against the frame itself (the reference's ``dH_traj``), against
a fixed reference set and against the frames just before it. Only one frame, the
last ``window`` frames and the reference are held at any time, so memory does not
grow with the trajectory's length.

Per frame (dicts, one per frame, JSON-ready):
``frame``, ``n_atoms``, ``entropy``, and for each comparison ``X`` in (``self``,
``reference``, ``previous``): ``dH_X_mean``, ``dH_X_max``, ``dH_X_fraction`` (the
fraction of environments with dH > threshold). The first frame has no previous
frames: its ``previous`` values are None.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable

import numpy as np

from .._core.array_types import Bandwidths, DType, Rows
from .._core.progress import Progress
from .._core.validation import check_rows
from ..describe import get_descriptors
from ..information import DEFAULT_BANDWIDTH, ReferenceRows, delta_entropy, get_all_metrics


def _stats(dh: np.ndarray, threshold: float, name: str) -> dict:
    return {
        f"dH_{name}_mean": float(dh.mean()),
        f"dH_{name}_max": float(dh.max()),
        f"dH_{name}_fraction": float((dh > threshold).mean()),
    }


def analyse_trajectory(
    frames: Iterable,
    *,
    reference: Rows | None = None,
    window: int = 1,
    k: int = 32,
    cutoff: float = 5.0,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    threshold: float = 0.0,
    dtype: DType = "float32",
    on_frame: Callable | None = None,
    total: int | None = None,
    progress: bool | None = None,
) -> list[dict]:
    """Entropy and dH of every frame of a trajectory, one frame at a time.

    Args:
        frames: any iterable of ase.Atoms (e.g. ``ase.io.iread``): read lazily.
        reference: optional (n_ref, d) descriptors; dH of each frame against them.
        window: compare each frame with the ``window`` frames before it (0: skip).
        threshold: dH above which an environment counts as novel.
        on_frame: called as ``on_frame(i, atoms, per_atom)`` with the per-atom dH
            arrays (``{"dH_self": (n,), "dH_reference": (n,), "dH_previous": (n,)}``,
            as available), e.g. to write them into the structures.
        total: number of frames, when known, for the progress bar.

    Returns:
        one dict per frame (see the module docstring).
    """
    if window < 0:
        raise ValueError(f"window must be >= 0, got {window}")
    train = None
    if reference is not None:
        reference = np.asarray(check_rows(reference, "reference"), dtype=dtype)
        # checked, ordered and on the device once for the whole trajectory
        train = ReferenceRows(reference, h, batch_size)
    recent: collections.deque = collections.deque(maxlen=max(window, 1))
    records = []
    with Progress(total or 0, "trajectory", enabled=progress if total else False) as bar:
        for i, atoms in enumerate(frames):
            x = get_descriptors([atoms], k=k, cutoff=cutoff, dtype=dtype)
            if reference is not None and x.shape[1] != reference.shape[1]:
                raise ValueError(
                    f"frame {i} has descriptors of width {x.shape[1]}, the reference "
                    f"{reference.shape[1]}"
                )
            # (no padding: the block programs are keyed by settings, not by row counts)
            record: dict[str, object] = {"frame": i, "n_atoms": len(atoms)}
            ent, _, dh_self = get_all_metrics(x, h, batch_size)
            record["entropy"] = float(ent)
            dh_self = np.asarray(dh_self)
            record.update(_stats(dh_self, threshold, "self"))
            per_atom = {"dH_self": dh_self}
            if train is not None:
                dh = np.asarray(train.delta_entropy(x))
                record.update(_stats(dh, threshold, "reference"))
                per_atom["dH_reference"] = dh
            if window:
                if recent:
                    dh = np.asarray(delta_entropy(x, np.concatenate(recent), h, batch_size))
                    record.update(_stats(dh, threshold, "previous"))
                    per_atom["dH_previous"] = dh
                else:
                    record.update(dict.fromkeys(_stats(np.zeros(1), 0, "previous")))
                recent.append(x)
            records.append(record)
            if on_frame is not None:
                on_frame(i, atoms, per_atom)
            bar.update(1)
    if not records:
        raise ValueError("the trajectory has no frames")
    return records
