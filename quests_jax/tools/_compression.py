"""Dataset compression: choose the frames of a dataset that keep most of its
information (the reference's ``quests.compression``).

Methods (all return frame indices in the order chosen):

* ``msc``   greedy: start from the frame of highest entropy, then repeatedly add the
  frame whose least-covered environment is most novel against everything chosen so
  far, plus its own entropy: argmax_f [H_f - min_{i in f} log sum_{j chosen} K(x_i, x_j)].
  The kernel sums against the chosen set live in one log accumulator, so each step
  costs one kernel sum between the dataset and the newly chosen frame (block programs
  that depend on the settings only: a new dataset compiles nothing).
* ``msc_conditional``  the same, starting from the kernel sums against a given
  reference set (choose what complements data one already has).
* ``fps``   farthest point sampling of frames by the mean Euclidean distance between
  their environments, starting from the frame of highest entropy.
* ``mean_fps``  farthest point sampling of the frames' mean descriptors.
* ``k_means``   k-means of the frames' mean descriptors; from each cluster the frame
  nearest its centre.
* ``random``    a uniform sample without replacement.

Differences from the reference: ``msc`` accumulates in log space, so where every
kernel between a frame and the chosen set underflows (the reference's -log(0) = +inf
ties, broken by the lowest index) the truly most novel frame is chosen; ``k_means``
returns exactly ``size`` frames (the reference drops its last cluster and picks a
random member of each); random choices take a ``seed``.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from .._core.array_types import AnyArray, Bandwidths, Float, Int, Rows
from .._core.errors import InputValueError
from .._core.precision import HIGHEST, default_dtype
from .._core.progress import Progress
from .._core.validation import check_rows
from ..information import (
    DEFAULT_BANDWIDTH,
    DEFAULT_EPS,
    BandwidthWarning,
    ResidentRows,
    delta_entropy,
    entropy_and_diversity,
    frame_entropies,
    ladder_capacity,
)
from ._frame_sets import FrameSet

if TYPE_CHECKING:
    from typing import Literal


METHODS = ("msc", "msc_conditional", "fps", "mean_fps", "k_means", "random")
"""The compression methods :func:`compress` takes (module docstring)."""


# --------------------------------------------------------------------------------------
# argument handling


def size_from(size: float, n_frames: int) -> int:
    """Frames to keep: a fraction in (0, 1) of the dataset or a count >= 1 (as the
    reference CLI's ``--size``); a count above the dataset's size is an error."""
    size = float(size)
    if not np.isfinite(size) or size <= 0:
        raise InputValueError(f"size must be a fraction in (0, 1) or a count >= 1, got {size:g}")
    if size < 1:
        return max(1, int(np.round(n_frames * size)))
    if size != int(size):
        raise InputValueError(f"size above 1 must be a whole number of frames, got {size:g}")
    if size > n_frames:
        raise InputValueError(f"size {int(size)} is larger than the dataset ({n_frames} frames)")
    return int(size)


def _check_size(size: int, n_frames: int) -> int:
    if not isinstance(size, int | np.integer) or size < 1:
        raise InputValueError(f"size must be a positive number of frames, got {size!r}")
    if size > n_frames:
        raise InputValueError(f"size {size} is larger than the dataset ({n_frames} frames)")
    return int(size)


def _check_h(h) -> float:
    h = float(h)
    if not np.isfinite(h) or h <= 0:
        raise InputValueError(f"h must be a positive bandwidth, got {h}")
    return h


def _msc_loop(data, ent, size, h, batch_size, log_acc, first, label, progress):
    """The greedy loop of msc: each step one kernel sum between the dataset (kept on the
    device) and the frame just chosen (a program keyed by the frame's padded size, one
    of five, never by the dataset: a new dataset compiles nothing), folded into the log
    accumulator on the host, where the next frame is picked."""
    dtype = default_dtype()
    x = np.asarray(data.x, dtype)
    ent = np.asarray(ent, np.float64)
    log_acc = np.asarray(log_acc, np.float64)
    starts = data.starts
    chosen = np.zeros(data.n_frames, bool)

    def pick() -> int:
        least = np.minimum.reduceat(log_acc, starts)
        return int(np.argmax(np.where(chosen, -np.inf, ent - least)))

    order = [pick() if first is None else int(first)]
    resident = ResidentRows(x, batch_size)
    with Progress(size, label, enabled=progress) as bar:
        bar.update(1)
        while len(order) < size:
            new = order[-1]
            chosen[new] = True
            log_k = np.asarray(resident.log_sums(data.frame(new), h))
            log_acc = np.logaddexp(log_acc, log_k.astype(np.float64))
            order.append(pick())
            bar.update(1)
    return np.array(order, dtype=np.int64)


def msc(
    data: FrameSet,
    size: int,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    entropies: Float[AnyArray, " frames"] | None = None,
    progress: bool | None = None,
):
    """Greedy maximum-novelty compression (the reference's ``msc``): (size,) indices.

    ``entropies`` are the frames' own entropies (computed when not given).
    """
    size, h = _check_size(size, data.n_frames), _check_h(h)
    ent = _frame_entropies(data, h, batch_size) if entropies is None else np.asarray(entropies)
    log_acc = np.full(data.n_envs, -np.inf)
    first = int(np.argmax(ent))
    return _msc_loop(data, ent, size, h, batch_size, log_acc, first, "msc", progress)


def msc_conditional(
    data: FrameSet,
    size: int,
    reference: Rows | None,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    entropies: Float[AnyArray, " frames"] | None = None,
    progress: bool | None = None,
):
    """``msc`` given that the ``reference`` descriptors (n_ref, d) are already in the
    training set: the first frame too is the most novel one against them (None or
    empty: plain ``msc``)."""
    size, h = _check_size(size, data.n_frames), _check_h(h)
    if reference is None or len(reference) == 0:
        return msc(data, size, h, batch_size, entropies=entropies, progress=progress)
    reference = np.asarray(check_rows(reference, "reference", width=data.x.shape[1]))
    ent = _frame_entropies(data, h, batch_size) if entropies is None else np.asarray(entropies)
    log_acc = -delta_entropy(
        data.x.astype(default_dtype()), reference.astype(default_dtype()), h, batch_size
    )
    return _msc_loop(data, ent, size, h, batch_size, log_acc, None, "msc", progress)


def _frame_entropies(data: FrameSet, h, batch_size):
    return np.asarray(frame_entropies(data.x.astype(default_dtype()), data.sizes, h, batch_size))


# --------------------------------------------------------------------------------------
# fps


FPS_BLOCK = 8192
"""Dataset rows per call of the fps distance program."""

FPS_CHUNK = 512
"""Rows of the chosen frame per call (larger frames take several calls)."""


@jax.jit
def _distance_row_sums(y, rows, valid):
    """sum_j |y_i - rows_j| over the valid rows (C,) of one chunk of the chosen frame,
    for one block of dataset rows y (B, d): (B,)."""
    centre = jnp.sum(jnp.where(valid[:, None], rows, 0), 0) / jnp.maximum(jnp.sum(valid), 1)
    r = rows - centre
    yq = y - centre
    d2 = jnp.sum(yq * yq, 1)[:, None] + jnp.sum(r * r, axis=1)[None, :]
    d2 = d2 - 2 * jnp.matmul(yq, r.T, precision=HIGHEST)
    return jnp.sum(jnp.where(valid[None, :], jnp.sqrt(jnp.maximum(d2, 0)), 0), axis=1)


def _frame_distance_sums(blocks: list, n: int, rows: np.ndarray) -> np.ndarray:
    """sum_j |x_i - rows_j| (n,) for the dataset in device ``blocks`` of FPS_BLOCK rows:
    programs keyed by the chunk's padded size (32 .. FPS_CHUNK rows, powers of two) only."""
    total = np.zeros(n, np.float64)
    for start in range(0, len(rows), FPS_CHUNK):
        chunk = rows[start : start + FPS_CHUNK]
        capacity = ladder_capacity(len(chunk))
        padded = np.zeros((capacity, rows.shape[1]), rows.dtype)
        padded[: len(chunk)] = chunk
        valid = np.arange(capacity) < len(chunk)
        sums = [_distance_row_sums(block, padded, valid) for block in blocks]
        total += np.concatenate([np.asarray(s) for s in sums])[:n]
    return total


def fps(
    data: FrameSet,
    size: int,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    entropies: Float[AnyArray, " frames"] | None = None,
    progress: bool | None = None,
):
    """Farthest point sampling of frames (the reference's ``fps``): (size,) indices.

    Distance between frames = mean Euclidean distance between their environments;
    the first frame is the one of highest entropy (bandwidth ``h``).
    """
    size = _check_size(size, data.n_frames)
    ent = _frame_entropies(data, _check_h(h), batch_size) if entropies is None else entropies
    x = np.asarray(data.x, default_dtype())
    padded = np.zeros((-(-len(x) // FPS_BLOCK) * FPS_BLOCK, x.shape[1]), x.dtype)
    padded[: len(x)] = x
    blocks = [jnp.asarray(b) for b in padded.reshape(-1, FPS_BLOCK, x.shape[1])]
    d_min = np.full(data.n_frames, np.inf)
    chosen = np.zeros(data.n_frames, bool)
    order = [int(np.argmax(ent))]
    with Progress(size, "fps", enabled=progress) as bar:
        bar.update(1)
        while len(order) < size:
            new = order[-1]
            chosen[new] = True
            sums = _frame_distance_sums(blocks, len(x), data.frame(new).astype(x.dtype))
            mean = np.add.reduceat(sums, data.starts) / (data.sizes * data.sizes[new])
            d_min = np.minimum(d_min, mean)
            order.append(int(np.argmax(np.where(chosen, -np.inf, d_min))))
            bar.update(1)
    return np.array(order, dtype=np.int64)


# --------------------------------------------------------------------------------------
# baselines on mean descriptors


@functools.partial(jax.jit, static_argnames=("size",))
def _mean_fps(means, start, *, size):
    def step(carry, _):
        d_min, last = carry
        d = jnp.sqrt(jnp.sum((means - means[last]) ** 2, axis=1))
        d_min = jnp.minimum(d_min, d).at[last].set(-jnp.inf)
        nxt = jnp.argmax(d_min)
        return (d_min, nxt), nxt

    init = (jnp.full(means.shape[0], jnp.inf, means.dtype).at[start].set(-jnp.inf), start)
    _, rest = jax.lax.scan(step, init, None, length=size - 1)
    return jnp.concatenate([jnp.atleast_1d(start), rest])


def mean_fps(data: FrameSet, size: int, *, start: int | None = None, seed: int = 0):
    """Farthest point sampling of the frames' mean descriptors (the reference's
    ``mean_fps``), from frame ``start`` (random with ``seed`` when None)."""
    size = _check_size(size, data.n_frames)
    if start is None:
        start = int(np.random.default_rng(seed).integers(data.n_frames))
    if not 0 <= start < data.n_frames:
        raise InputValueError(
            f"start must be a frame index in 0 .. {data.n_frames - 1}, got {start}"
        )
    means = jnp.asarray(data.frame_means().astype(default_dtype()))
    return np.asarray(_mean_fps(means, jnp.asarray(start), size=size)).astype(np.int64)


@functools.partial(jax.jit, static_argnames=("iterations",))
def _lloyd(points, centres, *, iterations):
    """Lloyd iterations of k-means until the assignment is stable: (centres, labels)."""

    centre = jnp.mean(points, axis=0)
    p = points - centre  # centred: less cancellation in |p|^2 + |c|^2 - 2 p.c
    p_sq = jnp.sum(p * p, axis=1)

    def assign(c):  # (F, k) distances by one matmul, never an (F, k, d) array
        c = c - centre
        d2 = p_sq[:, None] + jnp.sum(c * c, axis=1)[None, :]
        d2 = d2 - 2 * jnp.matmul(p, c.T, precision=HIGHEST)
        return jnp.argmin(d2, axis=1)

    def update(labels, c):
        k = c.shape[0]
        sums = jax.ops.segment_sum(points, labels, num_segments=k)
        counts = jax.ops.segment_sum(jnp.ones(points.shape[0]), labels, num_segments=k)
        return jnp.where(counts[:, None] > 0, sums / jnp.maximum(counts, 1)[:, None], c)

    def cond(state):
        i, _, labels, old = state
        return (i < iterations) & jnp.any(labels != old)

    def body(state):
        i, c, labels, _ = state
        c = update(labels, c)
        return i + 1, c, assign(c), labels

    labels = assign(centres)
    _, centres, labels, _ = jax.lax.while_loop(cond, body, (0, centres, labels, labels - 1))
    return centres, labels


def _kmeans_pp(points: np.ndarray, k: int, rng) -> np.ndarray:
    """k-means++ seeding: (k,) indices of initial centres."""
    chosen = [int(rng.integers(len(points)))]
    d2 = np.sum((points - points[chosen[0]]) ** 2, axis=1)
    for _ in range(k - 1):
        total = d2.sum()
        nxt = int(rng.choice(len(points), p=d2 / total)) if total > 0 else int(np.argmax(d2))
        chosen.append(nxt)
        d2 = np.minimum(d2, np.sum((points - points[nxt]) ** 2, axis=1))
    return np.array(chosen)


def k_means(
    data: FrameSet,
    size: int,
    *,
    seed: int = 0,
    iterations: int = 300,
    pick: Literal["centre", "entropy"] = "centre",
    entropies: Float[AnyArray, " frames"] | None = None,
    h: Bandwidths = DEFAULT_BANDWIDTH,
):
    """k-means (k = size) of the frames' mean descriptors, then one frame per cluster:
    the one nearest its centre (``pick="centre"``) or the one of highest entropy
    (``pick="entropy"``, the reference's ``k_means_entropy``; ``entropies`` per frame,
    computed at bandwidth ``h`` when not given). Returns (size,) distinct indices."""
    if pick not in ("centre", "entropy"):
        raise InputValueError(f"pick must be 'centre' or 'entropy', got {pick!r}")
    size = _check_size(size, data.n_frames)
    rng = np.random.default_rng(seed)
    means = data.frame_means()
    centres, labels = _lloyd(
        jnp.asarray(means), jnp.asarray(means[_kmeans_pp(means, size, rng)]), iterations=iterations
    )
    centres, labels = np.asarray(centres), np.asarray(labels)
    if pick == "centre":
        score = -np.sum((means - centres[labels]) ** 2, axis=1)
    elif entropies is None:
        score = _frame_entropies(data, _check_h(h), None)
    else:
        score = np.asarray(entropies, dtype=float).reshape(-1)
    picked = []
    for c in range(size):
        members = np.flatnonzero(labels == c)
        if members.size:
            picked.append(int(members[np.argmax(score[members])]))
    # clusters emptied by Lloyd's steps (rare): fill with the farthest remaining frames
    while len(picked) < size:
        rest = np.setdiff1d(np.arange(data.n_frames), picked)
        gap = np.min(np.sum((means[rest, None] - means[None, picked]) ** 2, -1), axis=1)
        picked.append(int(rest[np.argmax(gap)]))
    return np.array(picked, dtype=np.int64)


def random_sample(data: FrameSet, size: int, *, seed: int = 0):
    """Uniform sample of frames without replacement: (size,) indices."""
    size = _check_size(size, data.n_frames)
    return np.random.default_rng(seed).choice(data.n_frames, size, replace=False).astype(np.int64)


# --------------------------------------------------------------------------------------
# one entry point and the summary


def compress(
    data: FrameSet,
    size: float,
    method: str = "msc",
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    reference: Rows | None = None,
    seed: int = 0,
    progress: bool | None = None,
):
    """Indices of the frames to keep.

    Args:
        data: the dataset's descriptors, frame by frame.
        size: frames to keep, a count >= 1 or a fraction in (0, 1).
        method: one of :data:`METHODS`.
        h: bandwidth (1/A) of the entropy-based methods.
        reference: (n_ref, d) descriptors already in the training set (msc_conditional).
        seed: for ``random``, ``mean_fps`` (start) and ``k_means`` (seeding).
    """
    if method not in METHODS:
        raise InputValueError(f"unknown compression method {method!r}; choose one of {METHODS}")
    size = size_from(size, data.n_frames) if isinstance(size, float) else size
    if method == "msc":
        return msc(data, size, h, batch_size, progress=progress)
    if method == "msc_conditional":
        return msc_conditional(data, size, reference, h, batch_size, progress=progress)
    if method == "fps":
        return fps(data, size, h, batch_size, progress=progress)
    if method == "mean_fps":
        return mean_fps(data, size, seed=seed)
    if method == "k_means":
        return k_means(data, size, seed=seed)
    return random_sample(data, size, seed=seed)


def summary(
    data: FrameSet,
    selected: Int[AnyArray, " chosen"] | Sequence[int],
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    eps: float = DEFAULT_EPS,
):
    """What a compression keeps (the reference's ``DatasetCompressor.get_summary``):
    entropy and diversity of the chosen frames, the overlap of the full dataset on them
    (fraction of all environments with dH < eps), frame and environment counts."""
    selected = np.asarray(selected, dtype=np.int64).reshape(-1)
    if selected.size == 0:
        raise InputValueError("selected is empty")
    if selected.min() < 0 or selected.max() >= data.n_frames:
        raise InputValueError(f"selected holds indices outside 0 .. {data.n_frames - 1}")
    dtype = default_dtype()
    kept = data.rows(selected).astype(dtype)
    with warnings.catch_warnings():  # the kept frames are a subset: what h fits is the set's
        warnings.simplefilter("ignore", BandwidthWarning)
        ent, div = entropy_and_diversity(kept, h, batch_size)
    dh = delta_entropy(data.x.astype(dtype), kept, h, batch_size)
    return {
        "entropy": float(ent),
        "diversity": float(div),
        "overlap": float(np.mean(np.asarray(dh) < eps)),
        "original_size": data.n_frames,
        "compressed_size": int(selected.size),
        "original_envs": data.n_envs,
        "compressed_envs": int(data.sizes[selected].sum()),
    }
