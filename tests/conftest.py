"""Shared structures for the tests. All are rattled: perfect crystals have exact
distance ties at the k-th neighbour, where which tied atom is chosen is arbitrary."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc111, molecule
from ase.cluster import Icosahedron
from hypothesis import settings

import quests_jax

# the same examples on every run and machine (no example database): a failure is
# reproduced by running the test again
settings.register_profile("quests_jax", derandomize=True, database=None)
settings.load_profile("quests_jax")

TEST_CACHE_MAX_BYTES = 1 << 30
"""A test cache folder larger than this is emptied when a session starts."""


def pytest_configure(config):
    """Compiled programs go to a persistent cache of the test suite (kept between
    sessions in pytest's own cache folder, ``.pytest_cache``; ``--cache-clear``
    empties it), not to the user's ~/.cache: most of the suite's time is XLA compiling
    small programs, and a second run reads them back (test_kernels.py: 104 s cold,
    15 s warm). Each xdist worker has a folder of its own, and the command-line tests'
    processes (which read ``QUESTS_JAX_CACHE_DIR``) use their worker's: JAX's size cap
    takes a file lock around every read and write, polled every 50 ms, and scans the
    whole folder on every write, so two workers sharing one folder ran one after the
    other (two processes compiling 20 programs each: 21 s without a cache, 40 s
    sharing one). In the workers themselves the cache is uncapped (no lock, no scan:
    one process writes the folder at a time); the folder is emptied past
    TEST_CACHE_MAX_BYTES instead."""
    folder = os.environ.get("QUESTS_JAX_CACHE_DIR")  # the user's choice stands
    if folder is None or "QUESTS_JAX_TEST_CACHE" in os.environ:
        root = os.environ.get("QUESTS_JAX_TEST_CACHE")  # set by xdist's controller
        if root is None:
            cache = getattr(config, "cache", None)  # None with -p no:cacheprovider
            root = str(cache.mkdir("quests-jax-xla")) if cache else tempfile.mkdtemp()
            os.environ["QUESTS_JAX_TEST_CACHE"] = root
        folder = os.path.join(root, os.environ.get("PYTEST_XDIST_WORKER", "main"))
        if _folder_bytes(folder) > TEST_CACHE_MAX_BYTES:
            shutil.rmtree(folder, ignore_errors=True)
        os.environ["QUESTS_JAX_CACHE_DIR"] = folder
    if quests_jax.enable_compilation_cache() == folder:
        import jax
        from jax.experimental.compilation_cache import compilation_cache

        jax.config.update("jax_compilation_cache_max_size", -1)
        compilation_cache.reset_cache()


def _folder_bytes(folder: str) -> int:
    try:
        return sum(e.stat().st_size for e in os.scandir(folder) if e.is_file())
    except FileNotFoundError:
        return 0


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


PUBLIC_FACES = (
    "quests_jax",
    "quests_jax.describe",
    "quests_jax.information",
    "quests_jax.information.execution",
    "quests_jax.information.sharded",
    "quests_jax.forces",
    "quests_jax.forces.jaxmd",
    "quests_jax.forces.metadynamics",
    "quests_jax.tools",
)


def check_public_signatures() -> int:
    """Check, at every call, the arguments and results of the public functions
    against their annotations, array shapes included (jaxtyping with beartype: ``n d``
    of x and ``m d`` of y must agree in d). The functions of PUBLIC_FACES are replaced
    by checked ones before any test module imports them; calls inside the package are
    not checked. Returns the number of functions checked."""
    import importlib
    import inspect

    from beartype import BeartypeConf, beartype
    from jaxtyping import jaxtyped

    # an int where a float is annotated is accepted, as by mypy (PEP 484's tower)
    checker = beartype(conf=BeartypeConf(is_pep484_tower=True))

    checked: dict[int, object] = {}
    for name in PUBLIC_FACES:
        module = importlib.import_module(name)
        for member in module.__all__:
            function = getattr(module, member)
            if inspect.isfunction(function) and function.__module__.startswith("quests_jax."):
                if id(function) not in checked:
                    checked[id(function)] = jaxtyped(typechecker=checker)(function)
                setattr(module, member, checked[id(function)])
    return len(checked)


CHECKED_FUNCTIONS = check_public_signatures()


@pytest.fixture(autouse=True)
def public_signature_checks(request):
    """Tests marked ``unchecked_types`` pass arguments of wrong types on purpose, to
    test the library's own validation (the message a user without the checks gets):
    the checks are off for them."""
    if request.node.get_closest_marker("unchecked_types") is None:
        yield
        return
    from jaxtyping import config

    config.update("jaxtyping_disable", True)
    try:
        yield
    finally:
        config.update("jaxtyping_disable", False)
