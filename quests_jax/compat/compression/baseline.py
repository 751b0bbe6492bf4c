"""``quests.compression.baseline`` on quests_jax. The reference draws with Python's
``random`` and scikit-learn's k-means, unseeded; these draw with quests_jax's seeded
versions (``seed`` keyword, default 0), so the frames differ from the reference's."""

from __future__ import annotations

from ... import tools as _tools
from .fps import _frames


def _count(size, n_frames: int) -> int:
    return int(min(n_frames, size))


def random_sample(descriptors, entropies, size: int, seed: int = 0):
    """``size`` frames drawn uniformly without replacement."""
    data = _frames(descriptors)
    chosen = _tools.random_sample(data, _count(size, data.n_frames), seed=seed)
    return [int(i) for i in chosen]


def mean_fps(descriptors, entropies, size: int, seed: int = 0):
    """Farthest point sampling of the frames' mean descriptors, from a random frame."""
    data = _frames(descriptors)
    return [int(i) for i in _tools.mean_fps(data, _count(size, data.n_frames), seed=seed)]


def k_means(descriptors, entropies, size: int, seed: int = 0):
    """k-means of the frames' mean descriptors; the frame nearest each centre."""
    data = _frames(descriptors)
    return [int(i) for i in _tools.k_means(data, _count(size, data.n_frames), seed=seed)]


def k_means_entropy(descriptors, entropies, size: int, seed: int = 0):
    """k-means of the frames' mean descriptors; the frame of highest entropy in each
    cluster."""
    data = _frames(descriptors)
    chosen = _tools.k_means(
        data, _count(size, data.n_frames), seed=seed, pick="entropy", entropies=entropies
    )
    return [int(i) for i in chosen]
