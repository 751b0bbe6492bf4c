"""Runs every public float32 entry point once, in a fresh process, with JAX's IR dumps
on, so that ``test_float32_path.py`` can read every program it lowered.

    python float32_worker.py DUMP_DIR   (JAX_NUM_CPU_DEVICES=2 for the sharded part)
"""

from __future__ import annotations

import sys

import jax

jax.config.update("jax_dump_ir_to", sys.argv[1])
jax.config.update("jax_dump_ir_modes", "stablehlo")

import tempfile  # noqa: E402

import jax.numpy as jnp  # noqa: E402

import quests_jax as qj  # noqa: E402
from conftest import cu_cluster, cubic_cu, molecules, triclinic_cu  # noqa: E402
from quests_jax import information as storage  # noqa: E402
from quests_jax import sharded  # noqa: E402
from quests_jax.forces._collective import KINDS, collective_variable  # noqa: E402

assert not jax.config.jax_enable_x64
frames = [cubic_cu(2, seed=1), triclinic_cu(), cu_cluster(), *molecules()[:2]]
x = qj.get_descriptors(frames)
qj.get_descriptors_multicomponent(frames)
atoms = frames[0]
qj.descriptor(atoms.positions, atoms.cell.array, atoms.pbc)
qj.descriptor(atoms.positions, atoms.cell.array, atoms.pbc, smooth=0.5)
y, ref = x[:60], x[60:]
h = 0.015
for run in (lambda f, *a: f(*a), lambda f, *a: jax.jit(f)(*a)):  # engine, traced scans
    run(lambda a: qj.entropy(a, h), x)
    run(lambda a: qj.diversity(a, h), x)
    run(lambda a: qj.entropy_and_diversity(a, jnp.asarray([0.015, 0.05])), x)
    run(lambda a, b: qj.delta_entropy(a, b, h), y, ref)
    run(lambda a, b: qj.overlap(a, b, h), y, ref)
    run(lambda a, b: qj.log_kernel_sum(a, b, h), y, ref)
    run(lambda a, b: qj.kernel_sum(a, b, h), y, ref)
    run(lambda a, b: qj.weighted_kernel_sum(a, b, jnp.ones(b.shape[0]), h), y, ref)
qj.get_all_metrics(x, h)
qj.approx_delta_entropy(y, ref, h, n=3)
qj.frame_entropies(x, [len(a) for a in frames], h)
qj.information.frames_self_metrics(x, [len(a) for a in frames], h)
qj.information.frames_window_delta_entropy(x, [len(a) for a in frames], 1, h)
with tempfile.TemporaryDirectory() as tmp:  # streamed from a memory map
    storage.write_descriptors(frames, f"{tmp}/x.npy")
    mapped = storage.open_descriptors(f"{tmp}/x.npy")
    qj.delta_entropy(y, mapped, h, execution="streamed")
    qj.entropy(mapped, h, execution="streamed")
mesh = sharded.device_mesh()
sharded.entropy(x, h, mesh=mesh)
sharded.delta_entropy(y, ref, h, mesh=mesh)
sharded.overlap(y, ref, h, mesh=mesh)
small = cubic_cu(2, seed=5)
for kind in KINDS:
    cv = collective_variable(
        kind,
        small.positions,
        small.cell.array,
        small.pbc,
        reference=None if kind == "entropy" else ref,
    )
    pos = jnp.asarray(small.positions, jnp.float32)
    cell = jnp.asarray(small.cell.array, jnp.float32)
    jax.jit(jax.value_and_grad(cv, argnums=(0, 1)))(pos, cell)
print("ran", jax.device_count(), "devices")
