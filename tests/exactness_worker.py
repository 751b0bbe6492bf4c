"""Run by tests/test_exactness.py in a fresh interpreter with 4 CPU devices and x64:
entropy, diversity and dH of hostile data (tests/hostile_data.py) on meshes of 1 to 4
devices, saved to OUT.npz.

    python exactness_worker.py OUT.npz
"""

from __future__ import annotations

import sys

import jax
import numpy as np

from hostile_data import hostile_rows

H = np.array([0.015, 0.05])


def main() -> None:
    from quests_jax import sharded

    x = hostile_rows(5, 301, far_share=0.4, duplicate_share=0.2)
    y = np.concatenate([hostile_rows(6, 97, far_share=0.3, duplicate_share=0.1), x[:40]])
    out = {}
    for n in range(1, 5):
        mesh = sharded.device_mesh(jax.devices()[:n])
        xs = sharded.shard_rows(x, mesh, name="x")
        ys = sharded.shard_rows(y, mesh, name="y")
        for block in (8, 64):
            ent, div = sharded.entropy_and_diversity(xs, H, block, mesh=mesh)
            dh = sharded.all_values(sharded.delta_entropy(ys, xs, H, block, mesh=mesh), ys)
            out[f"{n}_{block}"] = np.concatenate([np.asarray(ent), np.asarray(div), dh.ravel()])
    np.savez(sys.argv[1], **out)


if __name__ == "__main__":
    main()
