"""``quests.cli.learning_curve``: the reference's ``quests learning_curve`` command, run by
quests-jax (see :mod:`quests_jax.compat.cli`)."""

import numpy as np

from ..descriptor import DEFAULT_CUTOFF, DEFAULT_K  # noqa: F401  (as the reference's)
from ..entropy import DEFAULT_BANDWIDTH, DEFAULT_BATCH  # noqa: F401  (as the reference's)
from ._command import Command
from ._sampling import sample_indices

learning_curve = Command("learning_curve")


def get_sampling_fn(x: np.ndarray, fraction):
    """A function drawing a `fraction` of the rows of x (the reference's helper)."""

    def sample_items():
        indices = sample_indices(len(x), int(len(x) * fraction))
        return x[indices]

    return sample_items
