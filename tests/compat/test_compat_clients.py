"""Client code written against `quests` runs through quests_jax.compat with the
reference's results: the way other people's scripts use it (frame filters ranking by
summed dH of float32 descriptors, `.cpu().numpy()` on quests.gpu results, analysis
scripts importing quests.cli), checked against the installed reference."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

import quests_jax
from quests_jax.compat import entropy as compat_entropy
from quests_jax.compat.descriptor import get_descriptors
from quests_jax.compat.gpu import entropy as compat_gpu

quests = pytest.importorskip("quests")
ref_entropy = pytest.importorskip("quests.entropy")
ref_descriptor = pytest.importorskip("quests.descriptor")
ref_matrix = pytest.importorskip("quests.matrix")

H = 0.015


def rattled_cu(n_frames: int, scales, seed: int):
    """Cubic fcc Cu, 32 atoms a frame, each frame rattled by its own scale (A)."""
    rng = np.random.default_rng(seed)
    frames = []
    for scale in np.broadcast_to(scales, (n_frames,)):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))
        atoms.positions += rng.normal(scale=scale, size=atoms.positions.shape)
        frames.append(atoms)
    return frames


def quiet(fn, *args, **kwargs):
    """fn's result without NumPy's divide-by-zero warning (both packages take -log 0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kwargs)


def same_with_infinities(ours, theirs, rtol=1e-4):
    """Equal dtype, the same +inf / nan / 0 entries, and the rest within rtol (and, for
    float32, 2e-3 absolute: the reference's float32 |x|^2 + |y|^2 - 2 x.y distances
    carry ~2 eps |x|^2 / 2h^2 ~ 1e-3 nats of rounding in the exponent of Cu rows)."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    for special in (np.isposinf, np.isnan, lambda a: a == 0):
        np.testing.assert_array_equal(special(ours), special(theirs))
    regular = np.isfinite(theirs) & (theirs != 0)
    atol = 2e-3 if theirs.dtype == np.float32 else 0.0
    np.testing.assert_allclose(ours[regular], theirs[regular], rtol=rtol, atol=atol)


def test_a_frame_filter_ranking_by_summed_dh_picks_the_references_frames():
    """An active-learning filter: float32 descriptors, dH of each candidate frame's
    environments against the training frames, frames ranked by summed dH. Strongly
    rattled frames hold environments whose kernel sums underflow in float32: the
    reference's dH is +inf there, and so is compat's."""
    train = rattled_cu(4, 0.02, seed=1)
    candidates = rattled_cu(12, np.linspace(0.02, 0.25, 12), seed=2)
    x_ref = ref_descriptor.get_descriptors(train, dtype="float32")
    y_ref = ref_descriptor.get_descriptors(candidates, dtype="float32")
    x = get_descriptors(train, dtype="float32")
    y = get_descriptors(candidates, dtype="float32")
    assert x.dtype == np.float32 and y.dtype == np.float32

    theirs = quiet(ref_entropy.delta_entropy, y_ref, x_ref, H)
    ours = quiet(compat_entropy.delta_entropy, y, x, H)
    same_with_infinities(ours, theirs)
    assert 0 < np.isinf(theirs).sum() < theirs.size / 2  # the case is the issue's

    per_frame = len(candidates[0])
    score_theirs = theirs.reshape(-1, per_frame).sum(axis=1)
    score_ours = ours.reshape(-1, per_frame).sum(axis=1)
    np.testing.assert_array_equal(np.isinf(score_ours), np.isinf(score_theirs))
    order_theirs = np.argsort(-score_theirs, kind="stable")
    np.testing.assert_array_equal(np.argsort(-score_ours, kind="stable"), order_theirs)

    # the native API stays finite there: log-space sums, exact
    native = np.asarray(quests_jax.delta_entropy(y, x, H))
    assert np.all(np.isfinite(native))
    far = np.isinf(ours)
    assert np.all(native[far] > 100.0)


@pytest.mark.parametrize(
    ("dtype", "distances"),
    [(np.float32, (0.18, 0.24)), (np.float64, (0.55, 0.62))],
    ids=["float32", "float64"],
)
def test_the_underflow_boundary_falls_where_the_references_does(dtype, distances):
    """Rows at distances sweeping across the dtype's underflow (float32: dH ~ 104
    nats; float64: ~745): every kernel-sum function gives the reference's +inf, 0 and
    nan entries, dtypes and values."""
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(300, 63)) * 0.05).astype(dtype)
    direction = rng.normal(size=63)
    direction /= np.linalg.norm(direction)
    s = np.linspace(*distances, 160)
    y = (x[0].astype(np.float64) + s[:, None] * direction).astype(dtype)
    w = np.linspace(0.0, 1.0, len(x)).astype(dtype)
    for h in (H, np.array([H, 0.5 * H])):
        theirs = quiet(ref_entropy.delta_entropy, y, x, h)
        same_with_infinities(quiet(compat_entropy.delta_entropy, y, x, h), theirs)
        assert 0 < np.isinf(theirs).sum() < theirs.size
    same_with_infinities(
        compat_entropy.kernel_sum(y, x, H), ref_entropy.kernel_sum(y, x, H), rtol=1e-3
    )
    hs = np.array([H, 2 * H])
    same_with_infinities(
        compat_entropy.kernel_sum_multi_bandwidth(y, x, hs),
        ref_entropy.kernel_sum_multi_bandwidth(y, x, hs),
        rtol=1e-3,
    )
    for ours, theirs in zip(
        quiet(compat_entropy.weighted_kernel_sum, y, x, w, H),
        quiet(ref_entropy.weighted_kernel_sum, y, x, w, H),
        strict=True,
    ):
        same_with_infinities(ours, theirs, rtol=1e-3)
    # approx_delta_entropy: the reference's arithmetic (quests.matrix.sumexp on float32
    # distances) on the exact 3 nearest rows (the reference's pynndescent search is
    # approximate: far rows may get farther neighbours; its dtypes are compared below)
    d = np.sort(np.sqrt(((y[:, None, :] - x[None]) ** 2).sum(-1)), axis=1)[:, :3]
    d = d.astype(np.float32)
    for h in (H, 1, np.array([H, 0.5 * H])):  # float32 for a number h
        ours = quiet(compat_entropy.approx_delta_entropy, y, x, h)
        if isinstance(h, np.ndarray):
            p = np.stack([ref_matrix.sumexp(-0.5 * (d / h_i) ** 2) for h_i in h]).astype(dtype)
        else:
            p = ref_matrix.sumexp(-0.5 * (d / h) ** 2)
        same_with_infinities(ours, quiet(np.negative, quiet(np.log, p)))


@pytest.mark.slow  # pynndescent compiles for 25 - 120 s (one test: it compiles once)
def test_approx_delta_entropy_has_the_references_dtypes():
    for dtype in (np.float32, np.float64):
        x = (np.random.default_rng(1).normal(size=(80, 63)) * 0.05).astype(dtype)
        for h in (H, 1, np.float64(H), np.array([H, 0.5 * H])):
            ours = quiet(compat_entropy.approx_delta_entropy, x[:9] + 0.01, x, h)
            theirs = quiet(ref_entropy.approx_delta_entropy, x[:9] + 0.01, x, h)
            assert (ours.dtype, ours.shape) == (theirs.dtype, theirs.shape), (dtype, h)


def test_gpu_diversity_is_the_references_sum_without_the_log():
    """quests.gpu.entropy.diversity returns sum_i 1 / p(x_i) (its CPU twin takes the
    log of it); compat returns the same number (torch is not needed to check it)."""
    x = get_descriptors(rattled_cu(2, 0.05, seed=3))
    expected = np.sum(1.0 / ref_entropy.kernel_sum(x, x, H))
    assert float(compat_gpu.diversity(x, H)) == pytest.approx(expected, rel=1e-5)


def test_gpu_results_are_numpy_without_torch(monkeypatch):
    monkeypatch.setattr(compat_gpu, "_torch", lambda: None)
    x = get_descriptors(rattled_cu(2, 0.05, seed=3))
    assert isinstance(compat_gpu.delta_entropy(x[:5], x), np.ndarray)
    assert isinstance(compat_gpu.entropy(x), np.floating)


def test_gpu_results_are_torch_tensors_as_the_references():
    """The client pattern: tensors in, `.cpu().numpy()` / `.item()` on the results."""
    torch = pytest.importorskip(
        "torch", reason="torch is not installed (optional; its wheel is ~4 GB of CUDA)"
    )
    ref_gpu = pytest.importorskip("quests.gpu.entropy")
    frames = rattled_cu(3, 0.05, seed=4)
    for dtype in ("float32", "float64"):
        x = torch.from_numpy(get_descriptors(frames, dtype=dtype))
        y = x[:16] + 0.01
        for name, args in [
            ("entropy", (x,)),
            ("diversity", (x,)),
            ("delta_entropy", (y, x)),
            ("kernel_sum", (y, x)),
        ]:
            theirs = getattr(ref_gpu, name)(*args, h=H)
            ours = getattr(compat_gpu, name)(*args, h=H)
            assert isinstance(ours, torch.Tensor)
            assert (ours.dtype, ours.shape, ours.device) == (
                theirs.dtype,
                theirs.shape,
                theirs.device,
            )
            # float32: the reference's distances carry ~1e-3 nats of rounding (see
            # same_with_infinities), that much relative in p and 1 / p
            rtol = 3e-3 if dtype == "float32" else 1e-4
            np.testing.assert_allclose(ours.cpu().numpy(), theirs.cpu().numpy(), rtol=rtol)
        assert isinstance(compat_gpu.entropy(x, h=H).item(), float)
        assert float(torch.mean(compat_gpu.delta_entropy(y, x, h=H) * 2)) > 0


def reference_modules() -> list[str]:
    return [i.name for i in pkgutil.walk_packages(quests.__path__, "quests.")]


def test_every_module_of_the_reference_imports_from_compat():
    for name in reference_modules():
        importlib.import_module(name.replace("quests", "quests_jax.compat", 1))


CLIENT_SCRIPT = """
import sys
from quests.cli.log import format_time, logger
from quests.cli.load_file import descriptors_from_file, descriptors_from_traj
from quests.cli.entropy_sampler import get_sampling_fn
from quests.entropy import entropy
import numpy as np

x, seconds = descriptors_from_file(sys.argv[1], 32, 5.0)
logger(f"descriptors: {x.shape} {x.dtype} in {format_time(0.25)} / {format_time(2.5)}")
per_frame, frames, _ = descriptors_from_traj(sys.argv[1], 32, 5.0)
logger(f"frames: {len(frames)} {[len(p) for p in per_frame]}")
assert np.allclose(np.concatenate(per_frame), x)
np.random.seed(0)
sample = get_sampling_fn(x, 20)()
logger(f"sampled {sample.shape}; H = {entropy(x):.4f}")
"""


def run_client(tmp_path, package: str, data: str) -> str:
    script = tmp_path / f"client_{package.replace('.', '_')}.py"
    script.write_text(CLIENT_SCRIPT.replace("from quests.", f"from {package}."))
    done = subprocess.run(
        [sys.executable, str(script), data], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_an_analysis_script_importing_quests_cli_prints_the_same(tmp_path):
    """The reference author's analysis scripts start with `from quests.cli.log import
    format_time, logger` and load data with quests.cli.load_file."""
    data = str(tmp_path / "cu.xyz")
    write(data, rattled_cu(3, 0.05, seed=5))
    assert run_client(tmp_path, "quests_jax.compat", data) == run_client(tmp_path, "quests", data)


def test_a_reference_command_object_runs_the_quests_jax_command(tmp_path, capfd):
    from quests_jax.compat.cli.bandwidth import bandwidth
    from quests_jax.compat.cli.quests import quests as group

    assert bandwidth(["11.8"], standalone_mode=False) == 0
    assert "h = 0.06" in capfd.readouterr().out
    with pytest.raises(SystemExit) as stop:
        group(["bandwidth", "-c", "11.8"])
    assert stop.value.code == 0
    assert group(["no_such_command"], standalone_mode=False) != 0
    assert os.listdir(tmp_path) == []  # nothing written


def test_the_make_descriptors_command_writes_the_references_float64_file(tmp_path):
    """quests-jax writes float32 descriptors by default; the compat command (and the
    group) write float64, as `quests make_descriptors` does."""
    from quests_jax.compat.cli.make_descriptors import make_descriptors
    from quests_jax.compat.cli.quests import quests as group

    data = str(tmp_path / "cu.xyz")
    write(data, rattled_cu(2, 0.05, seed=6))
    expected = ref_descriptor.get_descriptors(rattled_cu(2, 0.05, seed=6))
    for run, name in (
        (make_descriptors, "a.npy"),
        (lambda a, **kw: group(["make_descriptors", *a], **kw), "b.npy"),
    ):
        assert run([data, "-o", str(tmp_path / name)], standalone_mode=False) == 0
        written = np.load(tmp_path / name)
        assert written.dtype == np.float64
        np.testing.assert_allclose(written, expected, atol=1e-10)


def test_a_perfect_lattice_through_compat_warns_and_keeps_the_references_x1():
    """The paper's descriptor notebook describes perfect fcc / bcc / hcp crystals: the
    cut at k = 32 falls inside a shell, so x2 depends on which equidistant neighbours
    are kept (the reference's choice follows its rounding): compat warns; x1 is the
    reference's."""
    from quests_jax.describe import DescriptorTieWarning

    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    with pytest.warns(DescriptorTieWarning, match="frames 0"):
        ours = get_descriptors([atoms])
    theirs = ref_descriptor.get_descriptors([atoms])
    assert ours.dtype == theirs.dtype == np.float64
    np.testing.assert_allclose(ours[:, :32], theirs[:, :32], atol=1e-10)
