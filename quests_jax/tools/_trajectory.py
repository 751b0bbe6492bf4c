"""Trajectory analysis, streamed in chunks of frames: each frame's own entropy and the
dH of its environments against the frame itself (the reference's ``dH_traj``), against
a fixed reference set and against the frames just before it. Only one chunk (at most
:data:`CHUNK_FRAMES` frames), the last ``window`` frames and the reference are held at
any time, so memory does not grow with the trajectory's length; each chunk is
described by one call and its sums are a few calls of programs that depend on the
frames' padded size only (``quests_jax.information.frames_self_metrics``).

Per frame (dicts, one per frame, JSON-ready):
``frame``, ``n_atoms``, ``entropy``, and for each comparison ``X`` in (``self``,
``reference``, ``previous``): ``dH_X_mean``, ``dH_X_max``, ``dH_X_fraction`` (the
fraction of environments with dH > threshold). The first frame has no previous
frames: its ``previous`` values are None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from .._core.array_types import Bandwidths, DType, Rows
from .._core.errors import InputValueError
from .._core.progress import Progress
from .._core.validation import check_rows
from ..describe import get_descriptors
from ..information import (
    DEFAULT_BANDWIDTH,
    ReferenceRows,
    frames_self_metrics,
    frames_window_delta_entropy,
)

CHUNK_FRAMES = 256
"""Frames read and described at once (one descriptor call, one kernel call per
quantity): far fewer, larger calls than frame by frame, memory still bounded."""

CHUNK_ROWS = 16384
"""A chunk also ends once it holds this many environments."""


def _chunks(frames: Iterable):
    """Lists of consecutive frames of at most CHUNK_FRAMES frames / ~CHUNK_ROWS atoms."""
    chunk: list = []
    rows = 0
    for atoms in frames:
        chunk.append(atoms)
        rows += len(atoms)
        if len(chunk) >= CHUNK_FRAMES or rows >= CHUNK_ROWS:
            yield chunk
            chunk, rows = [], 0
    if chunk:
        yield chunk


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
    """Entropy and dH of every frame of a trajectory, read and computed in chunks.

    Args:
        frames: any iterable of ase.Atoms (e.g. ``ase.io.iread``): read lazily.
        reference: optional (n_ref, d) descriptors; dH of each frame against them.
        window: compare each frame with the ``window`` frames before it (0: skip).
        threshold: dH above which an environment counts as novel.
        on_frame: called as ``on_frame(i, atoms, per_atom)`` with the per-atom dH
            arrays (``{"dH_self": (n,), "dH_reference": (n,), "dH_previous": (n,)}``,
            as available), e.g. to write them into the structures.
        total: number of frames, when known, for the progress bar's estimate.
        progress: a progress bar (default: on a terminal, for runs longer than ~2 s).

    Returns:
        one dict per frame (see the module docstring).
    """
    if window < 0:
        raise InputValueError(f"window must be >= 0, got {window}")
    train = None
    if reference is not None:
        reference = np.asarray(check_rows(reference, "reference"), dtype=dtype)
        # checked, ordered and on the device once for the whole trajectory
        train = ReferenceRows(reference, h, batch_size)
    context: list[np.ndarray] = []  # the last `window` frames' rows, before a chunk
    records: list[dict] = []
    with Progress(total or 0, "trajectory", enabled=progress) as bar:
        for chunk in _chunks(frames):
            sizes = [len(atoms) for atoms in chunk]
            bounds = np.cumsum([0, *sizes])  # each frame's rows in the chunk
            x = get_descriptors(chunk, k=k, cutoff=cutoff, dtype=dtype)
            if reference is not None and x.shape[1] != reference.shape[1]:
                raise InputValueError(
                    f"frame {len(records)} has descriptors of width {x.shape[1]}, the "
                    f"reference {reference.shape[1]}"
                )
            entropies, dh_self = frames_self_metrics(x, sizes, h, batch_size)
            entropies = np.asarray(entropies)
            per_atom = {"dH_self": np.asarray(dh_self)}
            if train is not None:
                per_atom["dH_reference"] = np.asarray(train.delta_entropy(x))
            if window:
                rows = np.concatenate([*context, x]) if context else x
                previous_sizes = [len(c) for c in context] + sizes
                per_atom["dH_previous"] = np.asarray(
                    frames_window_delta_entropy(
                        rows, previous_sizes, window, h, batch_size, skip=len(context)
                    )
                )
                context = (context + np.split(x, bounds[1:-1]))[-window:]
            for j, atoms in enumerate(chunk):
                i = len(records)
                rows_j = slice(bounds[j], bounds[j + 1])
                frame_values = {name: v[rows_j] for name, v in per_atom.items()}
                # the first frame has no previous frames: None values, no per-atom array
                no_previous = i == 0 and frame_values.pop("dH_previous", None) is not None
                record: dict[str, object] = {"frame": i, "n_atoms": len(atoms)}
                record["entropy"] = float(entropies[j])
                for name, dh in frame_values.items():
                    record.update(_stats(dh, threshold, name.removeprefix("dH_")))
                if no_previous:
                    record.update(dict.fromkeys(_stats(np.zeros(1), 0, "previous")))
                records.append(record)
                if on_frame is not None:
                    on_frame(i, atoms, frame_values)
                bar.update(1)
    if not records:
        raise InputValueError("the trajectory has no frames")
    return records
