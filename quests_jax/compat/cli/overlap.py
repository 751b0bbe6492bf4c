"""``quests.cli.overlap``: the reference's ``quests overlap`` command, run by
quests-jax (see :mod:`quests_jax.compat.cli`)."""

from ..descriptor import DEFAULT_CUTOFF, DEFAULT_K  # noqa: F401  (as the reference's)
from ..entropy import DEFAULT_BANDWIDTH, DEFAULT_BATCH  # noqa: F401  (as the reference's)
from ._command import Command

overlap = Command("overlap")
