"""``quests.cli.make_descriptors``: the reference's ``quests make_descriptors`` command, run by
quests-jax (see :mod:`quests_jax.compat.cli`)."""

from ..descriptor import DEFAULT_CUTOFF, DEFAULT_K  # noqa: F401  (as the reference's)
from ..entropy import DEFAULT_BANDWIDTH, DEFAULT_BATCH  # noqa: F401  (as the reference's)
from ._command import Command

# float64 descriptors, as the reference writes (quests-jax's own default is float32)
make_descriptors = Command("make_descriptors", defaults=("--dtype", "float64"))
