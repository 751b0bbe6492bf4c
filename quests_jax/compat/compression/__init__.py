"""``quests.compression`` on quests_jax (see :mod:`quests_jax.compat`)."""

from .compress import DatasetCompressor as DatasetCompressor
