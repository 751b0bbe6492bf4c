"""``quests.cli.entropy``: the reference's ``quests entropy`` command, run by
quests-jax (see :mod:`quests_jax.compat.cli`)."""

from ..descriptor import DEFAULT_CUTOFF, DEFAULT_K  # noqa: F401  (as the reference's)
from ..entropy import DEFAULT_BANDWIDTH, DEFAULT_BATCH  # noqa: F401  (as the reference's)
from ._command import Command

entropy = Command("entropy")
