"""Quantities of many frames at once: each frame's entropy, its rows' dH against the
frame itself (the reference's ``dH_traj``) and against the frames just before it (a
trajectory's window).

Frames are padded to a *capacity*, the step of :data:`CAPACITY_LADDER` (32 to 512 rows,
powers of two) that holds them (for the window: the largest frame), and evaluated in groups
of a fixed number of frames (:data:`GROUP_ROWS` / capacity) by one vmapped program, the
last group padded with empty frames. The programs depend on the capacity (and the
settings) only, never on the number of frames or rows: a trajectory of thousands of
50-atom frames is a few calls of one program, not thousands of calls of small ones,
and a second dataset whose frames fall in the same capacities compiles nothing.

Each padded frame is one block of the kernels' arithmetic
(:mod:`quests_jax.information._kernels`): centred on its robust centre, float32
per-row results in split arithmetic, the self term exactly 1, sums against other
frames in log space relative to the nearest row; a group holding a row beyond the
limit where matmul distances are trusted (coincident atoms, outliers; in per-row float32
sums also frames of several phases) is computed again with those rows' distances from
explicit differences (a program compiled only when such data appear, in smaller
groups); frames larger than :data:`MAX_CAPACITY` go frame by frame through the
block-streamed sums of the other quantities.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._core.array_types import Bandwidths, FrameSizes, Rows
from .._core.errors import InputValueError
from .._core.validation import check_block_size
from ._arguments import DEFAULT_BANDWIDTH, as_bandwidths, shape_out
from ._kernels import (
    _block_log_sums,
    _far_rows,
    _matmul_sq_distances,
    entropy_diversity_from_log_p,
    exact_block_sq_distances,
    exact_limit,
    robust_centres,
    scales_of,
)
from ._quantities import _as_descriptors, _log_p, _self_quantities

MIN_CAPACITY = 16
"""The smallest padded frame (rows): tiny frames share one program."""

MAX_CAPACITY = 512
"""Larger frames are computed one by one (block-streamed): a padded frame is one
block, (C, C) per frame in memory."""

GROUP_ROWS = 8192
"""Padded rows per call: groups of GROUP_ROWS / capacity frames."""


def frame_capacity(n_max: int) -> int:
    """Padded rows per frame for frames of at most ``n_max`` rows: a power of two."""
    return max(MIN_CAPACITY, 1 << max(int(n_max) - 1, 0).bit_length())


CAPACITY_LADDER = (32, 64, 128, 256, 512)
"""Padded sizes of frames: few steps, so a dataset of frames of many sizes traces few
programs (~0.13 s each in every process); powers of two, so that padding at most
doubles a frame (a coarser 32/128/512 ladder made a trajectory of 48-atom frames
0.4 s slower)."""


def ladder_capacity(n: int) -> int:
    """The smallest CAPACITY_LADDER step that holds n rows (beyond it: a power of two)."""
    for step in CAPACITY_LADDER:
        if n <= step:
            return step
    return frame_capacity(n)


MERGE_PAIRS = 2.4e7
"""Frames of a small capacity join the next larger one when the padding adds at most
this many kernel entries (~0.15 s on a 2-core CPU: what tracing one more program costs
in every process)."""


def merged_capacities(capacities: np.ndarray) -> np.ndarray:
    """Per-frame capacities with small groups moved up to the next step where that costs
    less than tracing their own program (a dataset of many sizes: one or two programs)."""
    capacities = np.array(capacities)
    steps = sorted(set(capacities.tolist()))
    for small, big in zip(steps, steps[1:], strict=False):
        moved = capacities == small
        if np.count_nonzero(moved) * (big * big - small * small) <= MERGE_PAIRS:
            capacities[moved] = big
    return capacities


def group_frames(capacity: int) -> int:
    """Frames per call for a capacity (a fixed number: no program per dataset)."""
    return max(1, GROUP_ROWS // capacity)


def check_frame_sizes(frame_sizes, n_rows: int) -> np.ndarray:
    """Frame sizes as an int array, checked against the rows they split."""
    sizes = np.asarray(frame_sizes, dtype=np.int64).reshape(-1)
    if sizes.size == 0 or (sizes < 1).any():
        raise InputValueError("frame_sizes must be a non-empty list of positive atom counts")
    if sizes.sum() != n_rows:
        raise InputValueError(f"frame_sizes sum to {sizes.sum()}, but x has {n_rows} rows")
    return sizes


EXACT_GROUP_FLOATS = 1 << 25
"""Groups holding rows beyond the trusted limit are computed again with explicit
differences, (G, C, R, d) floats at once: in groups of at most this many (128 MiB)."""


def _centred_sq_distances(y, y_valid, x, x_valid, h, *, wide: bool, exact: bool):
    """|y_i - x_j|^2 (C, R) of rows y (C, d) against rows x (R, d), centred on x's
    robust centre, with the valid rows of each beyond the limit where matmul distances
    are trusted, (C,) and (R,) (``exact``: those rows' distances from explicit
    differences, :func:`exact_block_sq_distances`, and no row flagged)."""
    centre = robust_centres(x[None], x_valid[None])[0]
    # padding rows sit at the centre: they leave the split's grid alone
    x = jnp.where(x_valid[:, None], x, centre)
    y = jnp.where(y_valid[:, None], y, centre)
    xc = x - centre
    sq = jnp.sum(xc * xc, axis=1)
    limit = exact_limit(h, x.dtype, wide)
    if exact:
        d2 = exact_block_sq_distances(y, x, centre, sq, wide, limit, y_valid, x_valid)
        return d2, jnp.zeros_like(y_valid), jnp.zeros_like(x_valid)
    d2 = _matmul_sq_distances(y, x, centre, sq, wide, limit)
    return d2, *_far_rows(y, centre, sq, limit, y_valid, x_valid)


def _frame_sq_distances(y, y_valid, x, x_valid, h, *, wide: bool, exact: bool):
    """:func:`_centred_sq_distances` of one padded frame, and whether any valid row is
    beyond the trusted limit (the caller then runs the group again ``exact``)."""
    d2, y_far, x_far = _centred_sq_distances(y, y_valid, x, x_valid, h, wide=wide, exact=exact)
    # (rows against no rows at all have nothing to be exact about)
    return d2, (jnp.any(y_far) & jnp.any(x_valid)) | jnp.any(x_far)


def _log_sums_to_nearest(d2, valid, scales):
    """log sum_j K (C, H) over the ``valid`` (R,) columns of d2 (C, R), relative to each
    row's nearest (:func:`_block_log_sums`); -inf for a row with no valid column."""
    nearest, rel, _ = _block_log_sums(jnp.where(valid[None, :], d2, jnp.inf), scales)
    return (scales[:, None] * nearest[None, :] + rel).T


@functools.partial(jax.jit, static_argnames=("wide", "exact"))
def _padded_self_metrics(frames, mask, h, *, wide, exact):
    """(entropy (G, H), -log p (G, C, H), any far row ()) of G padded frames (G, C, d):
    log p_i = log sum_j K(x_i, x_j) over the frame, the self term exactly 1; ``wide``:
    per-row accuracy in float32."""
    scales = scales_of(h, frames.dtype)
    off_diagonal = ~jnp.eye(frames.shape[1], dtype=bool)

    def one(x, m):
        d2, far = _frame_sq_distances(x, m, x, m, h, wide=wide, exact=exact)
        pairs = m[:, None] & m[None, :] & off_diagonal
        log_p = jnp.stack(
            [jnp.log1p(jnp.sum(jnp.where(pairs, jnp.exp(s * d2), 0.0), axis=1)) for s in scales],
            axis=-1,
        )
        entropy, _ = entropy_diversity_from_log_p(log_p, m)
        return entropy, jnp.where(m[:, None], -log_p, jnp.inf), far

    entropy, dh, far = jax.vmap(one)(frames, mask)
    return entropy, dh, jnp.any(far)


@functools.partial(jax.jit, static_argnames=("exact",))
def _padded_window_dh(frames, mask, previous, previous_mask, h, *, exact):
    """dH = -log sum_j K(y_i, x_j) (G, C, H) of each padded frame (G, C, d) against its
    own padded previous rows (G, W C, d), in log space relative to the nearest row;
    +inf where a frame has none; and whether any row was far (_frame_sq_distances)."""
    scales = scales_of(h, frames.dtype)

    def one(y, ym, x, xm):
        d2, far = _frame_sq_distances(y, ym, x, xm, h, wide=True, exact=exact)
        return -_log_sums_to_nearest(d2, xm, scales), far

    dh, far = jax.vmap(one)(frames, mask, previous, previous_mask)
    return dh, jnp.any(far)


def _padded(x: np.ndarray, starts, sizes, frames, capacity: int, group: int):
    """Rows of ``frames`` (indices, at most ``group``) padded to (group, capacity, d),
    with their (group, capacity) validity; negative indices are empty frames."""
    frames = np.asarray(frames, dtype=np.int64)
    n = np.where(frames >= 0, sizes[np.maximum(frames, 0)], 0)
    mask = np.zeros((group, capacity), bool)
    mask[: len(frames)] = np.arange(capacity)[None, :] < n[:, None]
    index = np.zeros((group, capacity), np.int64)
    index[: len(frames)] = starts[np.maximum(frames, 0)][:, None] + np.arange(capacity)
    index = np.where(mask, index, 0)
    return np.where(mask[..., None], x[index], 0).astype(x.dtype), mask


def _in_groups(frames: np.ndarray, group: int):
    for start in range(0, len(frames), group):
        yield frames[start : start + group]


def _run_padded(frames: np.ndarray, group: int, exact_group: int, build, program, **static):
    """``program`` over ``frames`` (indices) in padded groups of ``group`` frames; a group
    holding a row beyond the trusted limit again ``exact`` in groups of ``exact_group``.
    ``build(frames, group)`` gives the program's arguments and the (group, C) validity
    of the frames' rows. Yields (frames, results trimmed to them, their validity)."""
    for part in _in_groups(frames, group):
        args, mask = build(part, group)
        *results, far = program(*args, exact=False, **static)
        if not bool(far):
            yield part, [np.asarray(r)[: len(part)] for r in results], mask[: len(part)]
            continue
        for sub in _in_groups(part, exact_group):
            args, mask = build(sub, exact_group)
            *results, _ = program(*args, exact=True, **static)
            yield sub, [np.asarray(r)[: len(sub)] for r in results], mask[: len(sub)]


def _frames_arguments(x, frame_sizes, h, batch_size):
    """Checked arguments of the per-frame quantities: (rows on the host (N, d),
    bandwidths (H,), whether h was a vector, frame sizes (F,), first rows (F,))."""
    x = _as_descriptors(x, "x")
    h, vector = as_bandwidths(h, x.dtype)
    check_block_size(batch_size)  # accepted for the common signature; frames are one block
    sizes = check_frame_sizes(frame_sizes, x.shape[0])
    return np.asarray(x), h, vector, sizes, np.concatenate([[0], np.cumsum(sizes)[:-1]])


def _rows(host: np.ndarray, starts, sizes, f: int) -> np.ndarray:
    return host[starts[f] : starts[f] + sizes[f]]


def _window_log_p(host, starts, sizes, f: int, window: int, h, batch_size) -> np.ndarray:
    """log sum_j K over frames f - window .. f - 1 of frame f's rows (-inf: none)."""
    y = _rows(host, starts, sizes, f)
    first = max(0, f - window)
    if first == f:
        return np.full((len(y), h.shape[0]), -np.inf, y.dtype)
    x = host[starts[first] : starts[f]]
    return np.asarray(_log_p(y, x, h, batch_size)[0])


def frames_self_metrics(
    x: Rows,
    frame_sizes: FrameSizes,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    per_row: bool = True,
):
    """Entropy of each frame and each row's dH against its own frame (self term
    included), for consecutive frames of rows (as ``get_descriptors`` returns them).

    ``per_row=False`` skips the split arithmetic that per-row float32 accuracy needs
    (entropies only; the dH returned is then plain float32).

    Returns:
        (entropies (F,) or (F, H), dH (N,) or (N, H)).
    """
    host, h, vector, sizes, starts = _frames_arguments(x, frame_sizes, h, batch_size)
    n_h = np.shape(h)[0]
    entropies = np.empty((len(sizes), n_h), host.dtype)
    per_frame: list[np.ndarray | None] = [None] * len(sizes)
    capacities = merged_capacities(np.array([ladder_capacity(n) for n in sizes]))
    # frames padded to their own ladder step: a few programs shared by every dataset
    for capacity in np.unique(capacities):
        frames = np.flatnonzero(capacities == capacity)
        if capacity > MAX_CAPACITY:  # frame by frame, block-streamed
            for f in frames:
                rows = _rows(host, starts, sizes, int(f))
                ent, _, dh = _self_quantities(rows, h, None, batch_size, "auto", True)
                entropies[f], per_frame[f] = np.asarray(ent), np.asarray(dh)
            continue

        def build(part, group, capacity=int(capacity)):
            padded, mask = _padded(host, starts, sizes, part, capacity, group)
            return (padded, mask, h), mask

        exact_group = max(1, EXACT_GROUP_FLOATS // (int(capacity) ** 2 * host.shape[1]))
        group = group_frames(int(capacity))
        for part, (ent, dh), mask in _run_padded(
            frames, group, exact_group, build, _padded_self_metrics, wide=per_row
        ):
            entropies[part] = ent
            for j, f in enumerate(part):
                per_frame[f] = dh[j][mask[j]]
    rows = np.concatenate(per_frame)  # type: ignore[arg-type]
    return shape_out(entropies, vector), shape_out(rows, vector)


def frames_window_delta_entropy(
    x: Rows,
    frame_sizes: FrameSizes,
    window: int,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
    *,
    skip: int = 0,
):
    """dH of each row of frame f against the rows of frames f - window .. f - 1 (those
    that exist; +inf for the first frame), for consecutive frames of rows.

    ``skip``: the first ``skip`` frames are context only (no result for their rows):
    a stream passes the frames before a chunk this way.

    Returns:
        (N',) or (N', H) for the rows of frames ``skip`` onwards.
    """
    if window < 1:
        raise InputValueError(f"window must be >= 1, got {window}")
    host, h, vector, sizes, starts = _frames_arguments(x, frame_sizes, h, batch_size)
    capacity = ladder_capacity(int(sizes.max()))
    frames = np.arange(skip, len(sizes))
    if capacity > MAX_CAPACITY:  # frame by frame, block-streamed
        log_p = [_window_log_p(host, starts, sizes, int(f), window, h, batch_size) for f in frames]
        empty = np.zeros((0, np.shape(h)[0]), host.dtype)
        return shape_out(-np.concatenate(log_p) if log_p else empty, vector)

    def build(part, group):
        padded, mask = _padded(host, starts, sizes, part, capacity, group)
        # previous frames, nearest first, as (group, window * capacity)
        prev = (part[:, None] - 1 - np.arange(window)[None, :]).reshape(-1)
        previous, previous_mask = _padded(host, starts, sizes, prev, capacity, group * window)
        previous = previous.reshape(group, window * capacity, -1)
        previous_mask = previous_mask.reshape(group, window * capacity)
        return (padded, mask, previous, previous_mask, h), mask

    rows = [np.zeros((0, np.shape(h)[0]), host.dtype)]
    exact_group = max(1, EXACT_GROUP_FLOATS // (capacity * window * capacity * host.shape[1]))
    group = group_frames(capacity * (window + 1))
    for _, (dh,), mask in _run_padded(frames, group, exact_group, build, _padded_window_dh):
        rows.append(dh[mask])
    return shape_out(np.concatenate(rows), vector)


def frame_entropies(
    x: Rows,
    frame_sizes: FrameSizes,
    h: Bandwidths = DEFAULT_BANDWIDTH,
    batch_size: int | None = None,
):
    """Entropy of each frame's own environments, e.g. along an MD trajectory.

    The frames are padded and evaluated in groups by one vmapped program (module
    docstring), not a Python loop over frames.

    Args:
        x: (n_envs, d) descriptors of consecutive frames (as ``get_descriptors``).
        frame_sizes: atoms per frame, summing to n_envs.

    Returns:
        (F,) or (F, H) entropies.
    """
    return frames_self_metrics(x, frame_sizes, h, batch_size, per_row=False)[0]


# --------------------------------------------------------------------------------------
# a dataset on the device against many small sets (compression's greedy steps)

DATASET_GROUP = 8192
"""Dataset rows per call of :meth:`ResidentRows.log_sums`."""


@jax.jit
def _group_log_sums(y, rows, valid, h):
    """log sum_j K(y_i, rows_j) (R, H) of dataset rows y (R, d) against one small set
    ``rows`` (C, d) (valid (C,)), in split arithmetic centred on the set's robust
    centre, relative to the nearest row; and whether a valid row of the set lies beyond
    the trusted limit (then the caller takes the exact path)."""
    d2, _, far = _centred_sq_distances(
        y, jnp.ones(y.shape[0], bool), rows, valid, h, wide=True, exact=False
    )
    return _log_sums_to_nearest(d2, valid, scales_of(h, y.dtype)), jnp.any(far)


class ResidentRows:
    """A dataset's rows (N, d) kept on the device in fixed groups of DATASET_GROUP rows,
    for kernel sums against many small sets in turn (the greedy steps of compression):
    each call is a few calls of one program keyed by the small set's ladder step
    (:data:`CAPACITY_LADDER`).

    Accuracy: distances in split arithmetic centred on the small set, whose rows are
    compact (a set with a row beyond the trusted limit goes through the exact
    block-streamed sums instead); dataset rows far from it (other phases) get their
    log sums with a relative error ~1e-8 (the error of |y - x|^2 grows with |y - c|^2,
    as the value does), not the 1e-6 nats absolute of the other per-row sums.
    """

    def __init__(self, x: Rows, batch_size: int | None = None):
        self.x = np.asarray(_as_descriptors(x, "x"))
        self.batch_size = check_block_size(batch_size)
        n, d = self.x.shape
        padded = np.zeros((-(-n // DATASET_GROUP) * DATASET_GROUP, d), self.x.dtype)
        padded[:n] = self.x
        self.groups = [jnp.asarray(g) for g in padded.reshape(-1, DATASET_GROUP, d)]

    def log_sums(self, rows: np.ndarray, h: Bandwidths = DEFAULT_BANDWIDTH) -> np.ndarray:
        """log sum_j K(x_i, rows_j) (N,) or (N, H) for every dataset row."""
        rows = np.asarray(rows, self.x.dtype)
        hv, vector = as_bandwidths(h, self.x.dtype)
        capacity = ladder_capacity(len(rows))
        if capacity <= MAX_CAPACITY:
            padded = np.zeros((capacity, rows.shape[1]), rows.dtype)
            padded[: len(rows)] = rows
            valid = np.arange(capacity) < len(rows)
            parts = [_group_log_sums(g, padded, valid, hv) for g in self.groups]
            if not any(bool(far) for _, far in parts):
                out = np.concatenate([np.asarray(p) for p, _ in parts])[: len(self.x)]
                return shape_out(out, vector)
        # a large set, or one with outlying rows: the exact block-streamed sums
        return shape_out(_log_p(self.x, rows, hv, self.batch_size)[0], vector)
