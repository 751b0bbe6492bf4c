"""``quests.compression.fps`` on quests_jax: the greedy selections with the
reference's signatures (per-frame descriptor lists, their entropies, a frame count).
Returns lists of frame indices, in the order chosen, as the reference."""

from __future__ import annotations

import numpy as np

from ... import tools as _tools
from ..._core.errors import InputValueError
from ...tools import FrameSet
from .._results import frame_count
from ..entropy import DEFAULT_BANDWIDTH, DEFAULT_BATCH


def _frames(descriptors) -> FrameSet:
    return FrameSet.from_list(descriptors)


def fps(descriptors, entropies, size: int, method: str = "fps", **kwargs):
    """Farthest point sampling of frames by the mean distance between their
    environments, from the frame of highest entropy. Only ``method="fps"`` (the
    reference's default) is provided."""
    if method != "fps":
        raise InputValueError(
            f"method {method!r}: quests_jax.compat provides fps with method='fps' only "
            "(use msc for entropy-based selection)"
        )
    del kwargs
    data = _frames(descriptors)
    chosen = _tools.fps(data, frame_count(size, data.n_frames), entropies=entropies)
    return [int(i) for i in chosen]


def msc(
    descriptors, entropies, size: int, h: float = DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH
):
    """Greedy maximum-novelty compression (the frames' entropies given)."""
    del batch_size
    data = _frames(descriptors)
    n = frame_count(size, data.n_frames)
    return [int(i) for i in _tools.msc(data, n, h, entropies=np.asarray(entropies))]


def msc_conditional(
    descriptors,
    entropies,
    size: int,
    reference,
    h: float = DEFAULT_BANDWIDTH,
    batch_size: int = DEFAULT_BATCH,
):
    """:func:`msc` given the ``reference`` frames' descriptors (a list) already chosen."""
    del batch_size
    if len(descriptors) == 0 or size <= 0:
        return []  # as the reference (msc itself always keeps its first frame)
    data = _frames(descriptors)
    ref = np.concatenate([np.asarray(r) for r in reference]) if len(reference) else None
    chosen = _tools.msc_conditional(
        data, frame_count(size, data.n_frames), ref, h, entropies=np.asarray(entropies)
    )
    return [int(i) for i in chosen]
