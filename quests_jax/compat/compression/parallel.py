"""``quests.compression.parallel``: the reference's ray-parallel chunked compression
(``segment_compress``, ``process_dataset``) is not provided: quests_jax's ``msc``
runs the whole selection as one device loop (:class:`~quests_jax.compat.compression.
DatasetCompressor`, :func:`quests_jax.tools.msc`). The module exists so that the
reference's module tree imports; its names raise one error saying so."""

from __future__ import annotations

_NOT_PROVIDED = ("segment_compress", "process_dataset")


def __getattr__(name: str):
    if name in _NOT_PROVIDED:
        raise ImportError(
            f"quests.compression.parallel.{name} (ray-parallel chunked compression) is not "
            "provided by quests_jax.compat: use compression.DatasetCompressor(...)"
            ".get_indices('msc', size) or quests_jax.tools.msc, which select on the device "
            "in one loop"
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
