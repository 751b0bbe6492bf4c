"""``quests.cli.entropy_sampler``: the reference's ``quests entropy_sampler`` command, run by
quests-jax (see :mod:`quests_jax.compat.cli`)."""

import numpy as np

from ..descriptor import DEFAULT_CUTOFF, DEFAULT_K  # noqa: F401  (as the reference's)
from ..entropy import DEFAULT_BANDWIDTH, DEFAULT_BATCH  # noqa: F401  (as the reference's)
from ._command import Command
from ._sampling import sample_indices

entropy_sampler = Command("entropy_sampler")


def get_sampling_fn(x: np.ndarray, sample):
    """A function drawing `sample` rows of x (the reference's helper)."""

    def sample_items():
        indices = sample_indices(len(x), sample)
        return x[indices]

    return sample_items
