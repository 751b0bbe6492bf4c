"""The reference package's API, on quests_jax: replace ``quests`` by
``quests_jax.compat`` in an import path and a script runs unchanged.

    from quests_jax.compat.descriptor import get_descriptors   # was quests.descriptor
    from quests_jax.compat.entropy import entropy, delta_entropy
    from quests_jax.compat.compression import DatasetCompressor
    from quests_jax.compat.gpu.entropy import entropy           # any JAX device
    from quests_jax.compat.cli.log import format_time, logger   # every quests.cli module

Same module tree, names, signatures, defaults, numbers and return types as the
reference (NumPy arrays, NumPy floats; torch tensors from ``gpu`` where torch is
installed; +inf where the reference's kernel sums underflow), each a thin layer over
the JAX library: no second implementation. Keywords that steer the reference's own
machinery are accepted and have no effect (``batch_size``: quests_jax chooses its
block size; ``device``: JAX places arrays itself; pynndescent's keywords: the
neighbour search here is exact).
``docs/migration.md`` lists every public name of the reference and where it lives.
The native API (``import quests_jax``) stays JAX-first: it returns JAX arrays.
"""
