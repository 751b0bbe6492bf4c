"""``quests.gpu`` on quests_jax: the same JAX functions on whatever device JAX has
(GPU, TPU or CPU); no PyTorch needed (see :mod:`quests_jax.compat`)."""
