"""Descriptor rows from neighbour displacement vectors: the arithmetic of the QUESTS
descriptor (see :mod:`quests_jax.describe._descriptor` for its definition and the smooth
variant) and the one door from vectors to rows (:func:`rows_from_vectors`: QUESTS, or
the settings' :class:`~quests_jax.describe.Features`), shared by both ways of finding
the neighbours: the traced per-frame search (:mod:`quests_jax.describe._neighbors`, for
jit / grad / MD) and the host neighbour lists of whole datasets
(:mod:`quests_jax.describe._neighbor_lists`, one compiled program for any frames).
Imports no neighbour search, so the dataset path loads only what it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from .._core.array_types import Array, Bool, Float
from .._core.settings import SMOOTH_EXTRA, DescriptorSettings
from ._geometry import safe_norm, safe_sqrt, sqrt_weight
from ._sorting import smooth_sort_last_axis, sort_leading_axis

if TYPE_CHECKING:
    from collections.abc import Callable


# Regularisers of the reference package (r + eps in denominators); they only matter
# for coincident atoms, where they keep values finite.
EPS_X1 = 1e-16
EPS_X2 = 1e-15

# The continuous variant (smooth=delta) searches SMOOTH_EXTRA neighbours beyond the
# k selected (for a soft (k+1)-th distance: quests_jax._core.settings); the softness
# of its sorting: descriptor entries (1/A) and distances (A) closer than about this
# are blended rather than ordered.
SORT_SOFTNESS = 1e-3
DISTANCE_SOFTNESS = 1e-2


def rows_from_vectors(
    settings: DescriptorSettings,
    vectors: Float[Array, "atoms k 3"],
    valid: Bool[Array, "atoms k"],
    *,
    sort: Callable[[Array], Array] = sort_leading_axis,
):
    """(Q, settings.width) descriptor rows of the environments whose nearest
    neighbours are ``vectors`` (Q, settings.search_k, 3) / ``valid``: the settings'
    features, or QUESTS (:func:`features_from_vectors`, ``sort`` its sorting
    network). Every path that turns neighbours into rows calls this."""
    if settings.features is not None:
        return settings.features(vectors, valid, settings.cutoff)
    return features_from_vectors(vectors, valid, settings.cutoff, settings.smooth, sort=sort)


def smoothstep(t):
    """C2 switch: 0 for t <= 0, 1 for t >= 1, 6t^5 - 15t^4 + 10t^3 between."""
    t = jnp.clip(t, 0.0, 1.0)
    return t * t * t * (t * (6.0 * t - 15.0) + 10.0)


def features_from_vectors(
    vectors: Float[Array, "atoms k 3"],
    valid: Bool[Array, "atoms k"],
    cutoff: float,
    smooth: float | None = None,
    *,
    sort: Callable[[Array], Array] = sort_leading_axis,
):
    """Descriptor rows from neighbour displacements.

    Args:
        vectors: (Q, k, 3) displacements to the k nearest neighbours, nearest first;
            with ``smooth``, (Q, k + SMOOTH_EXTRA, 3) (see :func:`smooth_features`).
        valid: (Q, k) or (Q, k + SMOOTH_EXTRA) bool; False slots are absent neighbours.
        cutoff: cutoff radius rc, Angstrom.
        smooth: switch width delta (Angstrom) of the continuous variant (module
            docstring), or None for the reference's descriptor.
        sort: the network sorting the pair matrices' rows along the leading axis (a
            function of :mod:`quests_jax.describe._sorting`; the dataset program, compiled once
            per machine, takes the unrolled one: faster to run, slower to compile).

    Returns:
        (Q, 2k - 1) descriptors [x1, x2].
    """
    if smooth is not None:
        return smooth_features(vectors, valid, cutoff, smooth)
    k = vectors.shape[1]
    r = safe_norm(vectors)  # (Q, k)
    s = jnp.where(valid, sqrt_weight(r, cutoff), 0.0)  # sqrt of the weight
    x1 = s * s / (r + EPS_X1)
    if k == 1:
        return x1

    # x2 from M[j, q, l]; M is symmetric in (j, l), so sorting along j for each l
    # sorts row l: the sorted axis comes first, which is what the network wants.
    # Coordinates are handled as separate planes so that XLA fuses the pair
    # distances into one loop without a minor axis of length 3.
    planes = jnp.moveaxis(vectors, -1, 0)  # (3, Q, k)
    d2 = sum(
        (jnp.swapaxes(planes[c], 0, 1)[:, :, None] - planes[c][None, :, :]) ** 2 for c in range(3)
    )  # (k, Q, k)
    r_jl = safe_sqrt(d2)
    pair = (
        jnp.swapaxes(valid, 0, 1)[:, :, None]
        & valid[None, :, :]
        & ~jnp.eye(k, dtype=bool)[:, None, :]
    )
    s_t = jnp.swapaxes(s, 0, 1)
    m = jnp.where(pair, s_t[:, :, None] * s[None, :, :] / (r_jl + EPS_X2), 0.0)
    # Materialise M once: without the barrier XLA fuses M into every sorting stage
    # and recomputes it there (measured 2.3x slower on CPU).
    m = jax.lax.optimization_barrier(m)
    m_sorted = sort(m.reshape(k, -1)).reshape(m.shape)
    column_means = jnp.mean(m_sorted, axis=2)  # (k, Q): rank -> mean over rows
    x2 = jnp.swapaxes(column_means[1:][::-1], 0, 1)  # drop rank 0, largest first
    return jnp.concatenate([x1, x2], axis=1)


def smooth_features(vectors, valid, cutoff: float, smooth: float):
    """The continuous variant (module docstring) from the k + SMOOTH_EXTRA nearest
    neighbours within cutoff + smooth: (Q, 2k - 1)."""
    k = vectors.shape[1] - SMOOTH_EXTRA
    r_all = jnp.where(valid, safe_norm(vectors), cutoff + smooth)  # absent: at the edge
    # the boundary b: the (k+1)-th smallest distance, smoothly
    boundary = smooth_sort_last_axis(r_all, DISTANCE_SOFTNESS)[:, k]
    boundary = jnp.minimum(boundary, cutoff + smooth)
    vectors, valid, r = vectors[:, :k], valid[:, :k], r_all[:, :k]
    switch = smoothstep((boundary[:, None] - r) / smooth) * smoothstep((cutoff - r) / smooth)
    s = jnp.where(valid, sqrt_weight(r, cutoff) * switch, 0.0)
    x1 = smooth_sort_last_axis(s * s / (r + EPS_X1), SORT_SOFTNESS)[:, ::-1]
    if k == 1:
        return x1
    d2 = jnp.sum((vectors[:, :, None, :] - vectors[:, None, :, :]) ** 2, axis=-1)  # (Q, k, k)
    pair = valid[:, :, None] & valid[:, None, :] & ~jnp.eye(k, dtype=bool)
    m = jnp.where(pair, s[:, :, None] * s[:, None, :] / (safe_sqrt(d2) + EPS_X2), 0.0)
    column_means = jnp.mean(smooth_sort_last_axis(m, SORT_SOFTNESS), axis=1)  # (Q, k)
    return jnp.concatenate([x1, column_means[:, 1:][:, ::-1]], axis=1)
