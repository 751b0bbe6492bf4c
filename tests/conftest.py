"""Shared structures for the tests. All are rattled: perfect crystals have exact
distance ties at the k-th neighbour, where which tied atom is chosen is arbitrary."""

from __future__ import annotations

import functools
import os
import tempfile

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc111, molecule
from ase.cluster import Icosahedron

import quests_jax

# Compiled programs go to a cache of this test session (shared by the command-line
# tests' processes, which read the variable), not to the user's ~/.cache.
os.environ.setdefault("QUESTS_JAX_CACHE_DIR", tempfile.mkdtemp(prefix="quests-jax-test-xla-"))
quests_jax.enable_compilation_cache()


def rattle(atoms: Atoms, scale: float, seed: int) -> Atoms:
    atoms = atoms.copy()
    rng = np.random.default_rng(seed)
    atoms.positions += rng.normal(scale=scale, size=atoms.positions.shape)
    return atoms


def cubic_cu(rep=3, seed=0) -> Atoms:
    """Rattled fcc Cu, cubic cell of 4 rep^3 atoms."""
    return rattle(bulk("Cu", "fcc", a=3.61, cubic=True).repeat((rep, rep, rep)), 0.1, seed)


def triclinic_cu(seed=1) -> Atoms:
    """Rattled fcc Cu in its primitive (60 degree) cell, 4 x 3 x 5 repeats."""
    return rattle(bulk("Cu", "fcc", a=3.61).repeat((4, 3, 5)), 0.1, seed)


def random_triclinic(n=40, seed=2) -> Atoms:
    """Random positions in a skewed triclinic cell at about metallic density."""
    rng = np.random.default_rng(seed)
    cell = np.array([[7.0, 0.0, 0.0], [2.9, 6.3, 0.0], [-1.7, 2.1, 6.6]])
    cell *= (n * 12.0 / abs(np.linalg.det(cell))) ** (1 / 3)
    return Atoms("Ar" * n, scaled_positions=rng.random((n, 3)), cell=cell, pbc=True)


def small_triclinic_cell(seed=3) -> Atoms:
    """Three atoms in a triclinic cell narrower than the cutoff along every axis."""
    rng = np.random.default_rng(seed)
    cell = np.array([[2.6, 0.0, 0.0], [0.9, 2.4, 0.0], [0.5, 0.7, 2.3]])
    return Atoms("Cu3", scaled_positions=rng.random((3, 3)), cell=cell, pbc=True)


def cu_cluster(seed=4) -> Atoms:
    """Rattled 55-atom Cu icosahedron, non-periodic."""
    atoms = Icosahedron("Cu", 3)
    atoms.pbc = False
    return rattle(atoms, 0.05, seed)


def molecules() -> list[Atoms]:
    """Molecules with fewer than k = 32 atoms, non-periodic, zero cell."""
    return [rattle(molecule(name), 0.02, s) for s, name in enumerate(["H2O", "CH4", "C6H6"])]


def cu_slab(seed=5) -> Atoms:
    """Rattled Cu(111) slab, periodic along x and y only."""
    slab = fcc111("Cu", size=(4, 4, 4), vacuum=6.0)
    slab.pbc = (True, True, False)
    return rattle(slab, 0.08, seed)


def nacl(seed=6) -> Atoms:
    return rattle(bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat((2, 2, 2)), 0.1, seed)


def replicate_free(atoms: Atoms, reps) -> tuple[Atoms, np.ndarray]:
    """Non-periodic replica of ``atoms`` (reps = odd repeats per axis) and the indices
    of the central copy in it."""
    big = atoms.repeat(reps)
    big.pbc = False
    n = len(atoms)
    # ASE's repeat loops over x (outermost), then y, then z, each copying all atoms
    index = ((reps[0] // 2) * reps[1] + reps[1] // 2) * reps[2] + reps[2] // 2
    return big, np.arange(index * n, (index + 1) * n)


@pytest.fixture(autouse=True, scope="module")
def release_compiled_programs():
    """Drop JAX's compiled programs after each test module. Every loaded executable
    holds memory mappings (test_collective alone adds ~19,000); the whole suite in one
    process would pass Linux's default vm.max_map_count (65,530), where LLVM's next
    allocation fails and the process segfaults inside an XLA compile."""
    yield
    import jax

    jax.clear_caches()


@functools.cache
def md_frames(temperatures=(300, 1200, 3000), steps=60, samples=4) -> dict:
    """Short EMT Langevin runs of 32 Cu atoms: {temperature: frames}. From 1200 K on
    the small cell loses its order within the run; 3000 K is a hot liquid."""
    from ase import units
    from ase.calculators.emt import EMT
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import thermalize_momenta

    out = {}
    for i, temperature in enumerate(temperatures):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
        atoms.calc = EMT()
        rng = np.random.default_rng(i)
        thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
        dyn = Langevin(
            atoms, 5 * units.fs, temperature_K=temperature, friction=0.05, fixcm=False, rng=rng
        )
        dyn.run(steps // 2)
        frames = []
        for _ in range(samples):
            dyn.run(steps // (2 * samples))
            frames.append(atoms.copy())
        out[temperature] = frames
    return out


@pytest.fixture(scope="session")
def reference():
    """The reference package's descriptor function (skips if not installed)."""
    quests_descriptor = pytest.importorskip("quests.descriptor")
    return quests_descriptor


def free_port() -> int:
    """A TCP port on 127.0.0.1 free now (for a jax.distributed coordinator)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_lammps_dump(path, frames) -> None:
    """A LAMMPS text dump of orthorhombic frames (ASE reads these but cannot write them)."""
    lines = []
    for step, atoms in enumerate(frames):
        lengths = atoms.cell.lengths()
        lines += ["ITEM: TIMESTEP", str(step), "ITEM: NUMBER OF ATOMS", str(len(atoms))]
        lines += ["ITEM: BOX BOUNDS pp pp pp"] + [f"0.0 {length:.10f}" for length in lengths]
        lines += ["ITEM: ATOMS id type x y z"]
        lines += [
            f"{i + 1} 1 {x:.10f} {y:.10f} {z:.10f}" for i, (x, y, z) in enumerate(atoms.positions)
        ]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
