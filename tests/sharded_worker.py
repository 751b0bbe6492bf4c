"""Run by tests/test_sharded.py in a fresh interpreter (device count and x64 must be
set before JAX starts):

    python sharded_worker.py OUT.npz [--meshes 1,2,4,8] [--process-id I --num-processes N --port P]

Makes deterministic descriptor-like data whose sizes do not divide the device
count, lets each process take a contiguous, uneven share of the rows, computes the
sharded quantities on each mesh (``--meshes``: sub-meshes of the first 1, 2, ...
devices, so one interpreter covers every device count; default: every device), and
(process 0) saves them, keyed by the mesh's size, with the single-device results of
quests_jax's in-memory functions on the same data.
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

N_X, N_Y, WIDTH = 1001, 333, 63
BANDWIDTHS = np.array([0.05, 0.08])


def data(dtype):
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(5, WIDTH)) * 0.2
    x = centres[rng.integers(0, 5, N_X)] + rng.normal(size=(N_X, WIDTH)) * 0.03
    y = centres[rng.integers(0, 5, N_Y)] + rng.normal(size=(N_Y, WIDTH)) * 0.04
    y[:5] += 1.0  # far from x: the reference package's dH would be +inf there
    return x.astype(dtype), y.astype(dtype)


def share(n: int, process: int, n_processes: int) -> slice:
    """Uneven contiguous shares: process 0 takes 60%."""
    if n_processes == 1:
        return slice(0, n)
    cut = int(0.6 * n)
    return slice(0, cut) if process == 0 else slice(cut, n)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--process-id", type=int, default=0)
    parser.add_argument("--num-processes", type=int, default=1)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--meshes", default="", help="sizes of the sub-meshes to test")
    args = parser.parse_args()
    if args.num_processes > 1:
        jax.distributed.initialize(
            coordinator_address=f"127.0.0.1:{args.port}",
            num_processes=args.num_processes,
            process_id=args.process_id,
            initialization_timeout=120,
        )
    import quests_jax as qj
    from quests_jax import sharded

    dtype = np.float64 if jax.config.jax_enable_x64 else np.float32
    x, y = data(dtype)
    pid, n_proc = jax.process_index(), jax.process_count()
    with jax.default_device(jax.local_devices()[0]):  # single-device results
        ref_ent, ref_div = qj.entropy_and_diversity(x, BANDWIDTHS)
        ref_dh = np.asarray(qj.delta_entropy(y, x, BANDWIDTHS))
        mid = np.sort(ref_dh[:, 1])[N_Y // 2 - 1 : N_Y // 2 + 1]
        eps = float(mid.mean())  # half the rows overlap, none near the threshold
        ref_over = qj.overlap(y, x, BANDWIDTHS[1], eps=eps)
    sizes = [int(n) for n in args.meshes.split(",")] if args.meshes else [jax.device_count()]
    results = {}
    for size in sizes:
        mesh = sharded.device_mesh(jax.devices()[:size])
        xs = sharded.shard_rows(x[share(N_X, pid, n_proc)], mesh, name="x")
        ys = sharded.shard_rows(y[share(N_Y, pid, n_proc)], mesh, name="y")
        ent, div = sharded.entropy_and_diversity(xs, BANDWIDTHS)
        dh = sharded.delta_entropy(ys, xs, BANDWIDTHS)
        over = sharded.overlap(ys, xs, BANDWIDTHS[1], eps=eps)
        results.update(
            {
                f"devices_{size}": mesh.devices.size,
                f"entropy_{size}": np.asarray(ent),
                f"diversity_{size}": np.asarray(div),
                f"dh_local_{size}": sharded.local_values(dh, ys),
                f"dh_all_{size}": sharded.all_values(dh, ys),
                f"overlap_{size}": np.asarray(over),
            }
        )
    if pid == 0:
        np.savez(
            args.out,
            sizes=np.array(sizes),
            processes=n_proc,
            ref_entropy=np.asarray(ref_ent),
            ref_diversity=np.asarray(ref_div),
            ref_dh=np.asarray(ref_dh),
            ref_overlap=np.asarray(ref_over),
            local_rows=np.arange(N_Y)[share(N_Y, pid, n_proc)],
            **results,
        )
    if n_proc > 1:
        jax.distributed.shutdown()


if __name__ == "__main__":
    main()
