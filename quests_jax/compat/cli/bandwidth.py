"""``quests.cli.bandwidth``: the reference's ``quests bandwidth`` command, run by
quests-jax (see :mod:`quests_jax.compat.cli`)."""

from ._command import Command

bandwidth = Command("bandwidth")
