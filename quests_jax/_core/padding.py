"""Static capacities: padding rows up to a fixed size; the masked-row policy.

Compiled programs depend on settings, not on the size of a user's data: rows are cut
into fixed-size blocks or chunks, the last one padded (with a mask saying which rows
are real), so that one program serves every size (the block engine's sizes:
``quests_jax.information._engine.block_for``; the descriptor program's chunk:
``quests_jax.describe._dataset.chunk_atoms``). Padded rows of descriptors are
moved far beyond the data (:func:`far_beyond`), where their kernels underflow to 0.

Masked rows, one policy. A row whose mask is False (padding, or a row the caller
leaves out) takes part in no sum and counts in no N. Where a result has one entry
per input row, a masked row's entry is the value of an empty sum: kernel sums 0, log
kernel sums -inf, dH = -log(0) = +inf, kernel-weighted means NaN (0/0); descriptor
rows of masked (padding) atoms are 0. Results never depend on what a masked row
holds.
"""

from __future__ import annotations

import jax.numpy as jnp


def pad_rows(a, rows: int, xp=jnp):
    """``a`` with zero rows appended up to ``rows`` (``xp=np``: on the host)."""
    pad = rows - a.shape[0]
    if pad == 0:
        return a
    return xp.concatenate([a, xp.zeros((pad,) + a.shape[1:], a.dtype)], axis=0)


def far_beyond(reach, h, xp=jnp):
    """A coordinate so far beyond rows whose entries are at most ``reach`` in size that
    exp(-d^2 / 2h^2) underflows to 0 for every bandwidth (d > 10^3 (1 + h))."""
    return reach + 1e3 * (1.0 + xp.max(h))
