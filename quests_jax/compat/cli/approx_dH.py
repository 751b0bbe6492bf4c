"""``quests.cli.approx_dH``: the reference's ``quests approx_dH`` command, run by
quests-jax (see :mod:`quests_jax.compat.cli`)."""

from ..descriptor import DEFAULT_CUTOFF, DEFAULT_K  # noqa: F401  (as the reference's)
from ..entropy import DEFAULT_BANDWIDTH, DEFAULT_BATCH, DEFAULT_GRAPH_NBRS, DEFAULT_UQ_NBRS  # noqa: F401  (as the reference's)
from ._command import Command

approx_dH = Command("approx_dH")
