"""The workflows compile once: a second dataset of other sizes (frames, environments,
selected frames; frames in the same power-of-two size) compiles no new program in
compress, learning_curve, entropy_sampler and metrics (dH_traj:
tests/tools/test_trajectory.py). Blocks of 64 rows keep the sets small; every call here is
one the command line makes."""

from __future__ import annotations

import numpy as np

from hostile_data import hostile_rows
from quests_jax.compilation import track
from quests_jax.information import get_all_metrics
from quests_jax.tools import FrameSet, compress, entropy_sampler, learning_curve, summary

BLOCK = 64


def _frame_set(seed: int, sizes) -> FrameSet:
    x = hostile_rows(seed, int(sum(sizes)), 0.0, 0.02).astype(np.float32)
    return FrameSet(x, np.asarray(sizes))


def _workflows(data: FrameSet) -> None:
    for method in ("msc", "fps"):
        kept = compress(data, 0.3, method, 0.04, BLOCK, progress=False)
        summary(data, kept, 0.04, BLOCK)
    learning_curve(data.x, (0.2, 0.5, 1.0), 2, 0.04, BLOCK, progress=False)
    entropy_sampler(data.x, 100, 3, 0.04, BLOCK)
    get_all_metrics(data.x, 0.04, BLOCK)


def test_a_second_dataset_of_other_sizes_compiles_nothing():
    rng = np.random.default_rng(0)
    # frames of 65 - 128 atoms: one padded frame size (128), so what is compared is the
    # dataset's size: 14 frames (~1,300 rows) and then 23 (~2,200 rows)
    first = _frame_set(1, rng.integers(65, 129, 14))
    second = _frame_set(2, rng.integers(65, 129, 23))
    _workflows(first)
    with track() as stats:
        _workflows(second)
    assert stats.programs == 0, stats
