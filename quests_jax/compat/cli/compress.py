"""``quests.cli.compress``: the reference's ``quests compress`` command, run by
quests-jax (see :mod:`quests_jax.compat.cli`)."""

from ..descriptor import DEFAULT_CUTOFF, DEFAULT_K  # noqa: F401  (as the reference's)
from ..entropy import DEFAULT_BANDWIDTH, DEFAULT_BATCH  # noqa: F401  (as the reference's)
from ._command import Command

compress = Command("compress")
