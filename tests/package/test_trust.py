"""Hostile input, as careful users and cluster jobs give it: no silent wrong number,
no lost or clobbered output, one error line before any compute (the multi-process
faults are in test_multiprocess_faults.py, the kernel sums' exactness in
test_exactness.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import jax
import numpy as np
import pytest
from ase.build import bulk
from ase.io import read, write

import quests_jax as qj
from conftest import cubic_cu, write_lammps_dump
from quests_jax import sharded
from quests_jax._core.output_files import OutputExistsError
from quests_jax.cli import main
from quests_jax.information._storage import write_descriptors


@pytest.fixture(autouse=True)
def reset_x64():
    yield
    jax.config.update("jax_enable_x64", False)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    d = tmp_path_factory.mktemp("trust")
    frames = [cubic_cu(2, seed=s) for s in range(3)]
    write(d / "a.xyz", frames)
    np.save(d / "raw.npy", np.random.default_rng(0).random((80, 576)))
    (d / "corrupt.npz").write_bytes(b"PK\x03\x04 not a zip archive")
    nan = np.asarray(qj.get_descriptors(frames))
    nan[5, 3] = np.nan
    np.save(d / "nan.npy", nan)
    return d


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err, *fragments):
    assert code == 1, err
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("quests-jax: error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


# --------------------------------------------------------------------------------------
# silent wrong numbers


X = np.random.default_rng(3).normal(scale=0.05, size=(40, 63)) + 0.4


@pytest.mark.parametrize("h", [1e-30, 1e30])
def test_bandwidths_beyond_float32_are_refused_and_float64_gives_the_limits(h):
    """-b 1e-30 / 1e30 gave nan; the exact limits are log N (distinct rows) and 0."""
    with pytest.raises(ValueError, match="outside what float32"):
        qj.entropy(X.astype(np.float32), h)
    with pytest.raises(ValueError, match="outside what float32"):
        sharded.entropy(X.astype(np.float32), h)
    with jax.enable_x64(True):
        expected = np.log(len(X)) if h < 1 else 0.0
        np.testing.assert_allclose(float(qj.entropy(X, h)), expected, atol=1e-12)
        np.testing.assert_allclose(float(sharded.entropy(X, h)), expected, atol=1e-12)


def test_huge_rows_give_finite_dh_or_one_error():
    """Rows scaled by 1e20 gave dH = +inf: float32 cannot hold their squared distances
    (an error names it), float64 gives the finite value."""
    with pytest.raises(ValueError, match="x has entries up to .* overflow float32"):
        qj.delta_entropy(X[:3].astype(np.float32), (X * 1e20).astype(np.float32))
    with jax.enable_x64(True):
        y, x = X[:3] * 1e20 + 1e19, X * 1e20
        dh = np.asarray(qj.delta_entropy(y, x))
        assert np.isfinite(dh).all() and (dh > 1e40).all()


def test_cli_bandwidth_limit_is_one_line(root, capsys):
    one_line_error(*run(capsys, "entropy", root / "a.xyz", "-b", "1e-30")[::2], "h = 1e-30")


def test_raw_arrays_are_not_taken_for_descriptors(root, capsys):
    code, _, err = run(capsys, "entropy", root / "raw.npy")
    one_line_error(code, err, "raw.npy", "width 576", "k = 32")


def test_lammps_types_map_to_elements(root, capsys, tmp_path):
    frames = [bulk("C", "diamond", a=3.57, cubic=True).repeat((2, 2, 2)) for _ in range(2)]
    for i, atoms in enumerate(frames):
        atoms.rattle(0.05, seed=i)
    dump = tmp_path / "c.lammpstrj"
    write_lammps_dump(dump, frames)
    out = tmp_path / "c.xyz"
    code, _, err = run(
        capsys,
        "compress",
        dump,
        "--format",
        "lammps-dump-text",
        "-s",
        "1",
        "--types",
        "1:C",
        "-o",
        out,
    )
    assert code == 0, err
    assert set(read(out, ":")[0].get_chemical_symbols()) == {"C"}  # ASE alone: H
    code, _, err = run(capsys, "entropy", dump, "--format", "lammps-dump-text", "--types", "2:C")
    one_line_error(code, err, "type(s) [1]", "--types")
    with pytest.raises(SystemExit):
        main(["entropy", str(dump), "--types", "1=C"])


@pytest.mark.unchecked_types
def test_library_rejects_ambiguous_arguments():
    x = X.astype(np.float32)
    for bad in (0, -4):
        with pytest.raises(ValueError, match="batch_size must be >= 1"):
            qj.entropy(x, 0.015, bad)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        qj.delta_entropy(x, x, 0.015, 3.5)
    with pytest.raises(TypeError, match="h must be a number"):
        qj.entropy(x, True)
    with pytest.raises(TypeError, match="complex"):
        qj.entropy(x.astype(np.complex64))
    with pytest.raises(TypeError, match="numeric"):
        qj.entropy(np.array([["a"] * 63] * 3, dtype=object))
    half = float(qj.entropy(x.astype(np.float16)))  # computed in float32, not float16
    np.testing.assert_allclose(half, float(qj.entropy(x.astype(np.float16).astype(np.float32))))
    atoms = cubic_cu(2)
    with pytest.raises(TypeError, match="pbc must be a bool"):
        qj.descriptor(atoms.positions, atoms.cell.array, "FFF")


# --------------------------------------------------------------------------------------
# outputs


def test_same_path_twice_and_input_as_output(root, capsys, tmp_path):
    a = root / "a.xyz"
    png = tmp_path / "p.png"
    one_line_error(*run(capsys, "dH", a, a, "-o", png, "--plot", png)[::2], "distinct")
    s = tmp_path / "s.xyz"
    one_line_error(*run(capsys, "uq", a, a, "-o", s, "--structures", s)[::2], "distinct")
    one_line_error(*run(capsys, "entropy", a, "-o", a, "--overwrite")[::2], "is an input")
    assert len(read(a, ":")) == 3


def test_output_problems_found_before_compute(root, capsys, tmp_path):
    a = root / "a.xyz"
    one_line_error(*run(capsys, "entropy", a, "-o", tmp_path)[::2], "is a directory")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):  # (root may write anywhere)
            one_line_error(*run(capsys, "entropy", a, "-o", locked / "e.json")[::2], "writable")
    finally:
        locked.chmod(0o700)
    t0 = time.perf_counter()
    code, out, err = run(capsys, "compress", a, "-o", tmp_path / "k.weird")
    one_line_error(code, err, "k.weird", "cannot write")
    assert "kept" not in out  # refused before compressing
    one_line_error(*run(capsys, "descriptors", a, "-o", tmp_path / "x.txt")[::2], ".npz or .npy")
    one_line_error(*run(capsys, "dH", a, a, "--plot", tmp_path / "p.weird")[::2], "--plot")
    assert time.perf_counter() - t0 < 60
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporaries


def test_concurrent_writers_one_wins_and_the_file_holds_its_result(root, tmp_path):
    """Two runs writing the same -o: both printed "written" before; now exactly one
    succeeds and the file holds its result."""
    target = tmp_path / "e.json"
    cmd = [
        sys.executable,
        "-m",
        "quests_jax.cli",
        "entropy",
        str(root / "a.xyz"),
        "-o",
        str(target),
    ]
    procs = [
        subprocess.Popen([*cmd, "-b", b], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for b in ("0.015", "0.03")
    ]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    winners = [i for i, (rc, _, _) in enumerate(results) if rc == 0]
    assert len(winners) <= 1, results
    for rc, _, err in results:
        if rc != 0:
            assert "exists" in err or "appeared" in err, err
    if winners:
        written = json.loads(target.read_text())
        assert written["bandwidth"] == (0.015, 0.03)[winners[0]]


def test_concurrent_descriptor_files_never_mix(root, tmp_path):
    """Two write_descriptors of the same .npy shared one temporary file: the second
    reported success with the first run's rows."""
    frames = read(root / "a.xyz", ":")
    target = tmp_path / "x.npy"
    outcomes = {}

    def one(name, k):
        try:
            write_descriptors(frames, str(target), k=k, progress=False)
            outcomes[name] = k
        except OutputExistsError:
            outcomes[name] = None

    threads = [threading.Thread(target=one, args=(n, k)) for n, k in (("a", 8), ("b", 16))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [k for k in outcomes.values() if k is not None]
    assert len(won) == 1, outcomes
    assert np.load(target).shape[1] == 2 * won[0] - 1
    assert sorted(os.listdir(tmp_path)) == ["x.npy"]


STALLED_PUBLISH = """
import os, sys, time
from quests_jax._core import output_files
from quests_jax.information import _storage

def stalled(*args, **kwargs):  # the result is written; hold before it is published
    open(os.environ["STALL_MARK"], "w").close()
    time.sleep(600)

output_files.publish = _storage.publish = stalled
from quests_jax.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_removes_temporary_files(tmp_path):
    """SIGTERM while the output is still a temporary file: the file goes, one line
    says why. The run is held just before it publishes its result, so the signal
    always lands in time (a race with a fast run skipped the test before)."""
    work = tmp_path / "work"
    work.mkdir()
    write(work / "few.xyz", [cubic_cu(2, seed=s) for s in range(3)])
    mark = tmp_path / "stalled"
    proc = subprocess.Popen(
        [sys.executable, "-c", STALLED_PUBLISH, "descriptors", str(work / "few.xyz"), "-o"]
        + [str(work / "x.npy")],
        env=dict(os.environ, STALL_MARK=str(mark)),
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not mark.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.02)
    assert any(".partial" in p for p in os.listdir(work))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "terminated" in err
    assert sorted(os.listdir(work)) == ["few.xyz"]


# --------------------------------------------------------------------------------------
# messages


def test_messages_name_the_right_file_frame_and_index(root, capsys, tmp_path):
    one_line_error(*run(capsys, "entropy", root / "corrupt.npz")[::2], "corrupt.npz")
    one_line_error(*run(capsys, "entropy", root / "nan.npy")[::2], "nan.npy", "row 5")
    one_line_error(*run(capsys, "entropy", tmp_path)[::2], "is a directory")
    one_line_error(*run(capsys, "entropy", root / "a.xyz", "--index", "99")[::2], "--index 99")
    frames = [cubic_cu(2, seed=s) for s in range(6)]
    frames[4].positions[1] = np.nan
    write(tmp_path / "bad.xyz", frames)
    out = tmp_path / "d.npy"
    code, _, err = run(capsys, "descriptors", tmp_path / "bad.xyz", "-o", out)
    one_line_error(code, err, "dset[4]")
    with pytest.raises(ValueError, match=r"dset\[4\]"):
        write_descriptors(frames, str(tmp_path / "e.npy"), chunk_atoms=40, progress=False)
    with pytest.raises(SystemExit):
        main(["active_learning", str(root / "a.xyz"), "-s", "0"])


@pytest.mark.parametrize("shift", [1e3, 1e5, 1e7])
def test_float32_frames_far_from_the_origin(shift):
    """Host float64 positions far from the origin (unwrapped trajectories, molecules
    in large boxes) described in float32: off by 8e-4 at 1e3 A before, 0.4 at 1e7."""
    from brute_force import descriptor as brute

    atoms = cubic_cu(2, seed=1)
    expected = brute(atoms.positions, atoms.cell.array, atoms.pbc)
    x = np.asarray(qj.descriptor(atoms.positions + shift, atoms.cell.array, atoms.pbc))
    np.testing.assert_allclose(x, expected, atol=1e-6)
    unwrapped = atoms.positions.copy()
    unwrapped[3] += 923 * atoms.cell.array[0]
    x = np.asarray(qj.descriptor(unwrapped, atoms.cell.array, atoms.pbc))
    np.testing.assert_allclose(x, expected, atol=1e-6)
    cluster = np.asarray(qj.descriptor(atoms.positions + shift, np.zeros((3, 3)), False))
    np.testing.assert_allclose(
        cluster, brute(atoms.positions, np.zeros((3, 3)), (False,) * 3), atol=1e-6
    )


def test_searches_beyond_memory_are_refused_before_compute(root, capsys):
    """-c 1e3 ended in an allocation error, -c 1e6 in an out-of-memory kill, a
    periodic cell 1e-6 A thick asked for 41 GB: now one error, at once."""
    from ase import Atoms

    for cutoff in ("1e3", "1e6"):
        t0 = time.perf_counter()
        one_line_error(*run(capsys, "entropy", root / "a.xyz", "-c", cutoff)[::2], "atom pairs")
        assert time.perf_counter() - t0 < 30
    rng = np.random.default_rng(0)
    cell = np.diag([10.0, 10.0, 1e-6])
    thin = Atoms("Cu64", positions=rng.random((64, 3)) @ cell, cell=cell, pbc=True)
    with pytest.raises(ValueError, match="atom pairs"):
        qj.get_descriptors([thin])
    with pytest.raises(ValueError, match="atom pairs"):
        qj.descriptor(thin.positions, thin.cell.array, True)


def test_big_endian_rows_give_the_same_numbers(tmp_path, capsys):
    """Issue 27: after one ordinary call, delta_entropy(y, x.astype(">f4")) returned
    -4.86 for every row (true values ~3e4 here) and overlap 1.0 (true 0), library and
    compat alike; a big-endian .npy gave an internal JAX error in the CLI. Byte order
    is normalised at every door for rows."""
    from quests_jax.compat import entropy as compat

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(200, 63)) * 0.1).astype(np.float32)
    y = x[:5] + 0.5
    h = 0.1
    expected = np.asarray(qj.delta_entropy(y, x, h))  # the ordinary call first
    assert expected.min() > 1.0
    # compat mirrors the reference: +inf where float32 kernel sums underflow (dH > ~104,
    # as for y), so its byte-order check takes rows closer to x
    near = x[:5] + 0.05
    expected_near = np.asarray(qj.delta_entropy(near, x, h))
    assert 1.0 < expected_near.max() < 50.0
    for xb, yb, nb in (
        (x.astype(">f4"), y, near),
        (x, y.astype(">f4"), near.astype(">f4")),
        (x.astype(">f8"), y, near),
    ):
        np.testing.assert_allclose(qj.delta_entropy(yb, xb, h), expected, rtol=1e-6)
        assert float(qj.overlap(yb, xb, h)) == 0.0
        np.testing.assert_allclose(compat.delta_entropy(nb, xb, h), expected_near, rtol=1e-5)
        with np.errstate(divide="ignore"):
            assert np.isposinf(compat.delta_entropy(yb, xb, h)).all()
    assert float(qj.entropy(x.astype(">f4"), h)) == pytest.approx(float(qj.entropy(x, h)))
    np.save(tmp_path / "x.npy", x.astype(">f4"))
    np.save(tmp_path / "y.npy", y.astype(">f4"))
    out = tmp_path / "dh.json"
    assert (
        main(["dH", str(tmp_path / "y.npy"), str(tmp_path / "x.npy"), "-b", str(h), "-o", str(out)])
        == 0
    )
    np.testing.assert_allclose(json.loads(out.read_text())["delta_entropy"], expected, rtol=1e-5)


def test_outputs_get_open_modes_and_special_files_are_written_into(root, tmp_path, capsys):
    """Issue 27: `.npy` outputs were private (0600); `-o` onto a FIFO or /dev/null with
    --overwrite replaced it with a regular file (a FIFO's reader waited forever; as root
    /dev/null was destroyed). Outputs get open()'s mode; FIFOs and character devices are
    written into, as the reference does."""
    import stat

    old = os.umask(0o022)
    try:
        for name in ("x.npy", "h.json"):
            target = tmp_path / name
            command = "descriptors" if name.endswith(".npy") else "entropy"
            assert main([command, str(root / "a.xyz"), "-o", str(target)]) == 0
            assert stat.S_IMODE(target.stat().st_mode) == 0o644, name
    finally:
        os.umask(old)
    fifo = tmp_path / "results.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    assert main(["entropy", str(root / "a.xyz"), "-o", str(fifo)]) == 0
    reader.join(timeout=60)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert "entropy" in json.loads(received[0])
    assert main(["entropy", str(root / "a.xyz"), "-o", "/dev/null", "--overwrite"]) == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    capsys.readouterr()


def test_out_of_memory_is_one_line_naming_the_option(tmp_path, capsys, monkeypatch):
    """Issue 27: `--batch-size 40000` beyond memory printed a 34-line RESOURCE_EXHAUSTED
    traceback. A real run under a 6 GB address-space limit (XLA: "Out of memory
    allocating 6420160000 bytes"), then the device's and the host's messages."""
    rows = tmp_path / "rows.npy"
    np.save(rows, (np.random.default_rng(0).normal(size=(45_000, 63)) * 0.05).astype(np.float32))
    # the limit is set by the child itself (a preexec_fn would fork this threaded process)
    limited = (
        "import resource, runpy, sys; "
        "resource.setrlimit(resource.RLIMIT_AS, (6 * 10**9, 6 * 10**9)); "
        "sys.argv = ['quests-jax'] + sys.argv[1:]; "
        "runpy.run_module('quests_jax.cli', run_name='__main__')"
    )
    cli = [sys.executable, "-c", limited, "entropy", str(rows), "--batch-size", "40000"]
    out = subprocess.run(cli, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("quests-jax: error: out of memory"), lines
    assert "lower --batch-size (now 40000" in lines[0]

    from quests_jax.cli import analysis

    for err in (
        jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate"),
        MemoryError("Unable to allocate 12.0 GiB"),
    ):

        def fail(*args, err=err):
            raise err

        monkeypatch.setattr(analysis, "compute_entropy_and_diversity", fail)
        small = tmp_path / "small.npy"
        np.save(small, np.asarray(qj.get_descriptors([cubic_cu(2)])))
        assert main(["entropy", str(small)]) == 1
        err_text = capsys.readouterr().err
        assert err_text.count("\n") == 1 and "out of memory: lower --batch-size" in err_text


SHRINK_ON_OPEN = """
import os, sys, runpy, numpy as np
load = np.load
def load_then_shrink(path, *args, **kwargs):  # another process truncates the file
    out = load(path, *args, **kwargs)
    if str(path).endswith(".npy"):
        os.truncate(path, os.path.getsize(path) // 2)
    return out
np.load = load_then_shrink
if sys.argv[1] == "--map-all":  # every .npy mapped, as files over 1 GiB are
    import quests_jax._core.npy_files as npy_files
    npy_files.MAP_ABOVE_BYTES = 0
    del sys.argv[1]
sys.argv = ["quests-jax"] + sys.argv[1:]
runpy.run_module("quests_jax.cli", run_name="__main__")
"""


@pytest.mark.parametrize("how", ["read", "--map-all"])
def test_a_npy_input_that_shrinks_while_read_is_one_line(tmp_path, how):
    """Issue 27: every .npy input was memory-mapped, and a file truncated while it was
    read killed the run with SIGBUS (exit 135, no message). Files up to 1 GiB are read
    now, larger ones mapped but read in chunks with preadv: one error line either way.
    (The first case fails on the code before; the second needs the new module.)"""
    rows = tmp_path / "rows.npy"
    np.save(rows, (np.random.default_rng(0).normal(size=(3000, 63)) * 0.05).astype(np.float32))
    extra = [how] if how != "read" else []
    cli = [sys.executable, "-c", SHRINK_ON_OPEN, *extra, "entropy", str(rows)]
    out = subprocess.run(cli, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, (out.returncode, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "the file shrank while it was read" in lines[0], lines
    assert lines[0].startswith(f"quests-jax: error: {rows}")


LIBRARY_SHRINK = """
import os, sys, numpy as np, quests_jax as qj
x = np.load(sys.argv[1], mmap_mode="r")
os.truncate(sys.argv[1], os.path.getsize(sys.argv[1]) // 2)
try:
    qj.entropy(x, execution="streamed")
except OSError as err:
    print(type(err).__name__, err)
"""


def test_a_mapped_descriptor_file_that_shrinks_raises_in_the_library(tmp_path):
    """The library's streamed path reads memory maps with preadv: an OSError naming
    the file, where reading through the map died of SIGBUS (in a child process: a
    regression must not take the test run with it)."""
    rows = tmp_path / "rows.npy"
    np.save(rows, (np.random.default_rng(0).normal(size=(3000, 63)) * 0.05).astype(np.float32))
    out = subprocess.run(
        [sys.executable, "-c", LIBRARY_SHRINK, str(rows)], capture_output=True, text=True
    )
    assert out.returncode == 0, (out.returncode, out.stderr)
    assert out.stdout.startswith(f"FileChangedError {rows}: the file shrank"), out.stdout
