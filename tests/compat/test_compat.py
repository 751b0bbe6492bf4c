"""quests_jax.compat runs the reference's documented code with only the import path
changed: the reference README's code blocks (read from the installed distribution)
run on both packages and agree; results are NumPy; signatures and shapes match."""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import re

import jax
import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from conftest import rattle
from reference_quickstart import QUICKSTART_BLOCKS

ref_entropy = pytest.importorskip("quests.entropy")


def readme_blocks() -> list[str]:
    text = importlib.metadata.metadata("quests").get_payload()
    return re.findall(r"```python\n(.*?)```", text, re.S)


def alloy(n_frames: int, seed: int, rep=(2, 2, 2)):
    frames = []
    rng = np.random.default_rng(seed)
    for i in range(n_frames):
        atoms = bulk("Ag", "fcc", a=4.09, cubic=True).repeat(rep)
        symbols = np.array(atoms.get_chemical_symbols())
        symbols[rng.random(len(atoms)) < 0.5] = "Au"
        atoms.set_chemical_symbols(symbols.tolist())
        frames.append(rattle(atoms, 0.05 + 0.05 * i, seed + i))
    return frames


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("readme")
    write(root / "dataset.xyz", alloy(6, 0))
    write(root / "reference.xyz", alloy(4, 10))
    write(root / "test.xyz", alloy(3, 20))
    write(root / "ref.xyz", alloy(4, 30))
    write(root / "new_data.xyz", alloy(5, 40))
    return root


def custom_descriptor(atoms, **kwargs):
    """The README's ``your_custom_function``: the 8 shortest distances per atom."""
    return np.sort(atoms.get_all_distances(mic=True), axis=1)[:, 1:9]


# what the README leaves to the reader in its custom-descriptor example
PLACEHOLDERS = {
    "your_custom_function": custom_descriptor,
    "kwargs": {},
    "your_custom_bandwidth": 0.1,
}


def run_block(code: str, where) -> dict:
    namespace: dict = dict(PLACEHOLDERS)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(where)
        exec(compile(code, "<readme block>", "exec"), namespace)
    return {k: v for k, v in namespace.items() if not k.startswith("__")}


def compat_code(code: str) -> str:
    code = code.replace("from quests.", "from quests_jax.compat.")
    # the PyTorch lines of the GPU example: its functions take NumPy or JAX arrays
    lines = [line for line in code.splitlines() if "torch" not in line]
    return "\n".join(lines)


def assert_same(name, ours, theirs):
    if isinstance(theirs, bool | str) or theirs is None:
        assert ours == theirs, name
    elif isinstance(theirs, float | np.floating | np.ndarray) and not isinstance(theirs, bool):
        assert isinstance(ours, float | np.ndarray), (name, type(ours))  # NumPy, not JAX
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6, err_msg=name)
    elif isinstance(theirs, list) and theirs and isinstance(theirs[0], int | np.integer):
        assert [int(i) for i in ours] == [int(i) for i in theirs], name  # identical frames
    elif isinstance(theirs, dict):
        assert ours.keys() == theirs.keys(), name
        for key in theirs:
            assert_same(f"{name}[{key!r}]", ours[key], theirs[key])


@pytest.mark.parametrize("index", range(len(readme_blocks())))
def test_reference_readme_block(index, workdir, capsys):
    code = readme_blocks()[index]
    if "quests.gpu" in code:  # the reference needs torch; compare with its CPU entropy
        ours = run_block(compat_code(code), workdir)
        expected = ref_entropy.entropy(ours["x"], h=ours["h"])
        assert isinstance(ours["H"], float)
        np.testing.assert_allclose(ours["H"], expected, rtol=1e-4)
        return
    if "approx_delta_entropy" in code:
        check_approx_block(run_block(compat_code(code), workdir))
        return
    theirs = run_block(code, workdir)
    ours = run_block(compat_code(code), workdir)
    compared = 0
    for name, value in theirs.items():
        if callable(value) or inspect.ismodule(value) or name not in ours or name in PLACEHOLDERS:
            continue
        assert_same(name, ours[name], value)
        compared += 1
    assert compared > 0
    capsys.readouterr()


def check_approx_block(ours: dict) -> None:
    """The approximate-dH examples (n = 5 nearest references). The reference finds
    them approximately with pynndescent (whose numba compilation alone takes ~80 s in
    a fresh environment), quests_jax exactly: checked against a float64 brute force
    of the exact n-term bound instead of the reference's approximate values."""
    x, y, dh = ours["x"], ours["y"], ours["dH"]
    assert isinstance(dh, np.ndarray)
    d2 = np.sort(((y[:, None, :] - x[None, :, :]) ** 2).sum(-1), axis=1)[:, :5]
    expected = -np.log(np.exp(-d2 / (2 * 0.015**2)).sum(axis=1))
    np.testing.assert_allclose(dh, expected, rtol=1e-4, atol=1e-4)


def test_reference_quickstart_blocks_in_sequence(workdir, capsys):
    """The docs' quickstart, read top to bottom (later blocks use earlier results);
    blocks that fail on the reference itself (a syntax slip, an undefined name) are
    skipped on both."""
    theirs_ns, ours_ns = dict(PLACEHOLDERS), dict(PLACEHOLDERS)
    ran = 0
    for code in QUICKSTART_BLOCKS:
        if "quests.gpu" in code:
            with pytest.MonkeyPatch.context() as mp:
                mp.chdir(workdir)
                exec(compile_code(compat_code(code)), ours_ns)
            expected = ref_entropy.entropy(ours_ns["x"], h=ours_ns["h"])
            np.testing.assert_allclose(ours_ns["H"], expected, rtol=1e-4)
            ran += 1
            continue
        if "approx_delta_entropy" in code:
            with pytest.MonkeyPatch.context() as mp:
                mp.chdir(workdir)
                exec(compile_code(compat_code(code)), ours_ns)
            check_approx_block(ours_ns)
            ran += 1
            continue
        try:
            with pytest.MonkeyPatch.context() as mp:
                mp.chdir(workdir)
                exec(compile_code(code), theirs_ns)
        except (SyntaxError, NameError):
            continue
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(workdir)
            exec(compile_code(compat_code(code)), ours_ns)
        ran += 1
        for name in ("x", "y", "H", "D", "dH"):
            if name in theirs_ns and name not in PLACEHOLDERS:
                assert_same(name, ours_ns[name], theirs_ns[name])
    assert ran == 5  # of 7: one block has a syntax slip, one uses an undefined name
    capsys.readouterr()


def compile_code(code: str):
    return compile(code, "<quickstart block>", "exec")


def test_results_are_numpy_and_keywords_mean_what_they_mean():
    from quests_jax.compat import entropy as compat

    rng = np.random.default_rng(0)
    x = rng.random((40, 63)) * 0.01  # kernels well inside float32's range
    y = rng.random((7, 63)) * 0.01
    w = rng.random(40)
    assert isinstance(compat.entropy(x), float)
    for fn, kwargs in [
        ("kernel_sum", {"x": y, "y": x}),
        ("delta_entropy", {"y": y, "x": x}),
        ("weighted_kernel_sum", {"x": y, "y": x, "w": w}),
    ]:
        ours, theirs = getattr(compat, fn)(**kwargs), getattr(ref_entropy, fn)(**kwargs)
        np.testing.assert_allclose(ours, theirs, rtol=1e-4)
    h = np.array([0.01, 0.02])
    multi = compat.kernel_sum_multi_bandwidth(y, x, h)
    assert isinstance(multi, np.ndarray) and multi.shape == (7, 2)
    np.testing.assert_allclose(multi, ref_entropy.kernel_sum_multi_bandwidth(y, x, h), rtol=1e-4)
    np.testing.assert_allclose(compat.entropy(x, h), ref_entropy.entropy(x, h), rtol=1e-4)
    approx = compat.approx_delta_entropy(y, x, h, n=3)
    assert approx.shape == (2, 7)  # (H, M) as the reference
    dh = compat.delta_entropy(y, x)
    dh[0] = 0.0  # a writable NumPy array
    jax.config.update("jax_enable_x64", False)


def test_signatures_match_the_reference():
    import importlib

    modules = (
        "descriptor",
        "entropy",
        "geometry",
        "matrix",
        "mcmc",
        "compression.fps",
        "compression.compress",
        "compression.baseline",
        "compression.metrics",
        "tools.environment",
        "tools.example",
        "tools.pbc",
        "tools.time",
    )
    checked = 0
    for module in modules:
        theirs = importlib.import_module(f"quests.{module}")
        ours = importlib.import_module(f"quests_jax.compat.{module}")
        for name, fn in vars(theirs).items():
            fn = getattr(fn, "py_func", fn)  # numba's dispatchers wrap the function
            if name.startswith("_") or not inspect.isfunction(fn):
                continue
            if fn.__module__ != theirs.__name__ or not hasattr(ours, name):
                continue  # imported there, or listed in docs/migration.md as not provided
            params = list(inspect.signature(fn).parameters)
            got = list(inspect.signature(getattr(ours, name)).parameters)
            assert got[: len(params)] == params, f"{module}.{name}: {got} vs {params}"
            checked += 1
    assert checked >= 40, checked


def test_compressor_methods_choose_the_reference_frames(workdir):
    from ase.io import read
    from quests.compression import DatasetCompressor as Theirs

    from quests_jax.compat.compression import DatasetCompressor as Ours

    dset = read(workdir / "dataset.xyz", ":") + read(workdir / "new_data.xyz", ":")
    ours, theirs = Ours(dset), Theirs(dset)
    np.testing.assert_allclose(ours._entropies, theirs._entropies, rtol=1e-4)
    for method in ("msc", "fps"):
        assert ours.get_indices(method, 5) == [int(i) for i in theirs.get_indices(method, 5)]
    kept = ours.fixed_compression("msc", 0.5)
    assert len(kept) == 6 and all(any(a is b for b in dset) for a in kept)


@pytest.mark.slow
def test_the_other_modules_agree_with_the_reference():
    import quests.compression.metrics as ref_metrics
    import quests.geometry as ref_geometry
    import quests.matrix as ref_matrix
    import quests.mcmc as ref_mcmc

    from quests_jax.compat import geometry, matrix, mcmc
    from quests_jax.compat.compression import metrics

    rng = np.random.default_rng(1)
    a, b, w = rng.random((6, 4)), rng.random((3, 4)), rng.random(4)
    for name, args in [
        ("sum_positive", (a - 0.5,)),
        ("sumexp", (a,)),
        ("wsumexp", (a, w)),
        ("logsumexp", (a,)),
        ("norm", (a,)),
        ("cdist", (a, b)),
        ("cdist_Linf", (a, b)),
        ("pdist", (a,)),
        ("argsort", (a,)),
        ("inverse_3d", (a[:3, :3] + np.eye(3),)),
        ("stack_xyz", ([a[0, :3], a[1, :3]],)),
    ]:
        np.testing.assert_allclose(
            getattr(matrix, name)(*args),
            getattr(ref_matrix, name)(*args),
            rtol=1e-12,
            err_msg=name,
        )
    assert geometry.cutoff_fn(2.0, 5.0) == pytest.approx(ref_geometry.cutoff_fn(2.0, 5.0))
    assert geometry.cutoff_fn(6.0, 5.0) == 0.0
    for step in (0, 10, 33, 40, 99):
        assert mcmc.annealing(step, 100) == pytest.approx(ref_mcmc.annealing(step, 100))
        assert mcmc.temperature_ramp(step, 100) == pytest.approx(
            ref_mcmc.temperature_ramp(step, 100)
        )
    frames = [rng.random((5, 63)) * 0.01 for _ in range(4)]
    ours, theirs = (
        metrics.sequential_metrics(frames, [2, 0, 3]),
        ref_metrics.sequential_metrics(frames, [2, 0, 3]),
    )
    for o, t in zip(ours, theirs, strict=True):
        assert o["n_envs"] == t["n_envs"] and o["n_structs"] == t["n_structs"]
        assert o["entropy"] == pytest.approx(t["entropy"], rel=1e-5)
        assert o["diversity"] == pytest.approx(t["diversity"], rel=1e-5)
    y = np.concatenate(frames[:2])
    ref = np.concatenate(frames[2:])
    for method in ("target", "greedy", "average"):
        assert mcmc.compute_score(y, ref, method) == pytest.approx(
            ref_mcmc.compute_score(y, ref, method), rel=1e-4
        )


def test_augment_pbc_moves_toward_the_target():
    from quests_jax.compat import mcmc

    atoms = rattle(bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2)), 0.05, 3)
    best, scores = mcmc.augment_pbc(atoms, [atoms], n_steps=60, target_dH=5.0)
    assert scores.shape == (60,) and scores.dtype == np.float64
    assert len(best) == len(atoms) and best is not atoms
    assert scores.min() < scores[0]


def test_migration_guide_is_generated_and_covers_every_name():
    import subprocess
    import sys

    script = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "make_migration.py")
    result = subprocess.run([sys.executable, script, "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_tools_are_the_reference_helpers():
    import quests.tools.environment as ref_env
    import quests.tools.example as ref_example

    from quests_jax.compat.tools import environment, example, pbc, time

    for ours, theirs in zip(
        example.get_reference_structures(supercell=2),
        ref_example.get_reference_structures(supercell=2),
        strict=True,
    ):
        np.testing.assert_allclose(ours.positions, theirs.positions)
    atoms = example.get_reference_structures()[0].repeat(3)
    env, ref = (
        environment.extract_environment(atoms, 0, 5.0, 12),
        ref_env.extract_environment(atoms, 0, 5.0, 12),
    )
    np.testing.assert_allclose(env.positions, ref.positions)
    molecule = atoms.copy()
    molecule.pbc = False
    molecule.cell = np.zeros((3, 3))
    assert np.linalg.det(pbc.add_box(molecule).cell) > 0
    with time.Timer() as timer:
        pass
    assert timer.time >= 0


@pytest.mark.slow
def test_find_equal_and_the_exact_index_agree_with_the_reference():
    import quests.mcmc as ref_mcmc

    from quests_jax.compat import entropy as compat
    from quests_jax.compat import mcmc

    rng = np.random.default_rng(5)
    x = rng.random((60, 63)) * 0.01
    y = np.concatenate([x[[4, 9, 4]], rng.random((3, 63)) * 0.01 + 1.0])
    np.testing.assert_array_equal(compat.find_equal(x, y), ref_entropy.find_equal(x, y))
    index = mcmc.get_index(x, graph_neighbors=10, random_state=0)
    near, distances = index.query(y[:3] + 1e-4, k=3)
    brute = np.sqrt(((y[:3, None] + 1e-4 - x[None]) ** 2).sum(-1))
    np.testing.assert_array_equal(near, np.argsort(brute, axis=1)[:, :3])
    np.testing.assert_allclose(distances, np.sort(brute, axis=1)[:, :3], rtol=1e-5)
    for method in ("target", "greedy", "average"):  # the reference's scoring on our index
        assert mcmc.compute_approx_score(y[:3] + 1e-4, index, method) == pytest.approx(
            ref_mcmc.compute_approx_score(y[:3] + 1e-4, index, method), rel=1e-4
        )
    atoms = rattle(bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2)), 0.05, 4)
    data = mcmc.get_index(np.asarray(qj_descriptors([atoms])))
    best, scores = mcmc.augment_pbc_approx(atoms, data, n_steps=20, target_dH=5.0)
    assert scores.shape == (20,) and len(best) == len(atoms)


def qj_descriptors(frames):
    from quests_jax import get_descriptors

    return get_descriptors(frames)


def test_results_take_the_references_dtypes_whatever_the_input():
    """Issue 27, item 7: compat cast results to the input's dtype (integer descriptors
    gave dH [0 0 0] and kernel sums 0; float16 kernel sums 0), and
    msc_conditional(size=0) selected one frame where the reference selects none.
    float32 inputs give float32 results, scalars included, as the reference's; ints
    (which the reference refuses) float64; float16 float32."""
    from quests.compression.fps import msc_conditional as ref_msc_conditional
    from quests.entropy import delta_entropy as ref_delta_entropy
    from quests.entropy import entropy as ref_entropy

    from quests_jax.compat.compression.fps import msc_conditional
    from quests_jax.compat.entropy import delta_entropy, entropy, get_all_metrics, kernel_sum

    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 63)) * 5
    y = x[:3] + 0.1
    h = 0.5
    exact = ref_delta_entropy(y, x, h)
    for dtype, result in ((np.int64, np.float64), (np.int32, np.float64), (np.float16, np.float32)):
        xi, yi = x.astype(dtype), y.astype(dtype)
        expected = ref_delta_entropy(yi.astype(result), xi.astype(result), h)
        dh = delta_entropy(yi, xi, h)
        assert dh.dtype == result and np.abs(dh - expected).max() < 1e-3 * np.abs(expected).max()
        sums = kernel_sum(yi, xi, h)
        assert sums.dtype == result and (sums > 0).all()
    for dtype in (np.float32, np.float64):
        xd = x.astype(dtype)
        value, reference = entropy(xd, h), ref_entropy(xd, h)
        assert type(value) is type(reference)  # the value: float32 cancellation there
        assert value == pytest.approx(ref_entropy(x, h), rel=1e-5)
        assert all(np.asarray(v).dtype == dtype for v in get_all_metrics(xd, h))
    assert np.abs(delta_entropy(y, x, h) - exact).max() < 1e-4 * np.abs(exact).max()
    frames = [x[:10], x[10:20], x[20:30]]
    entropies = [1.0, 2.0, 3.0]
    assert msc_conditional(frames, entropies, 0, [x[30:]]) == []
    assert ref_msc_conditional(frames, entropies, 0, [x[30:]]) == []
