"""``quests.compression.metrics`` on quests_jax: metrics of a growing selection."""

from __future__ import annotations

import numpy as np

from ... import information as _info
from ..entropy import DEFAULT_BANDWIDTH, DEFAULT_BATCH


def _prefixes(descriptors, selected):
    for i in range(len(selected)):
        yield np.concatenate([np.asarray(descriptors[n]) for n in selected[: i + 1]])


def sequential_px(
    descriptors, selected, h: float = DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH
):
    """For each prefix of ``selected``: p(x) = sum_j K(x_i, x_j) of its environments."""
    del batch_size
    return [
        np.asarray(_info.kernel_sum(x, x, h), x.dtype) for x in _prefixes(descriptors, selected)
    ]


def sequential_metrics(
    descriptors, selected, h: float = DEFAULT_BANDWIDTH, batch_size: int = DEFAULT_BATCH
):
    """For each prefix of ``selected``: n_envs, n_structs, entropy, diversity."""
    del batch_size
    results = []
    for i, x in enumerate(_prefixes(descriptors, selected)):
        ent, div = _info.entropy_and_diversity(x, h)
        results.append(
            {"n_envs": len(x), "n_structs": i + 1, "entropy": float(ent), "diversity": float(div)}
        )
    return results
