"""Fault injection for multi-process command-line runs (jax.distributed on
127.0.0.1): a peer that never starts, dies mid-run, stops on a user error, was given
other arguments, or shares a process id. Every process ends within its --timeout,
with a non-zero exit and exactly one error line (no stack dump, no hang)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase.io import write

from conftest import cubic_cu, free_port

TIMEOUT = 8  # --timeout of every process (s)
PEER = Path(__file__).parents[1] / "fault_peer.py"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("faults")
    frames = [cubic_cu(2, seed=s) for s in range(4)]
    write(d / "good.xyz", frames)
    frames[3].positions[0] = np.nan  # only the second process's share is bad
    write(d / "bad.xyz", frames)
    return d


def _cli(args, port, pid, n=2, cwd=None, peer=None, **env_vars):
    """``quests-jax ARGS`` as process ``pid`` of ``n``; with ``peer`` (a mode of
    fault_peer.py) a worker that stalls instead."""
    start = [str(PEER), peer] if peer else ["-m", "quests_jax.cli"]
    cmd = [
        sys.executable,
        *start,
        *args,
        "--coordinator",
        f"127.0.0.1:{port}",
        "--num-processes",
        str(n),
        "--process-id",
        str(pid),
        "--timeout",
        str(TIMEOUT),
    ]
    env = {k: v for k, v in os.environ.items() if k != "QUESTS_JAX_WORKER"}
    env.update(env_vars)
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd
    )


def _finish(proc, started):
    out, err = proc.communicate(timeout=TIMEOUT * 6)
    return proc.returncode, err, time.monotonic() - started


def _one_error_line(rc, err, seconds):
    assert rc != 0
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("quests-jax: error:")]
    assert len(errors) == 1, err
    noise = [line for line in lines if not line.startswith(("quests-jax", "[quests-jax"))]
    assert not noise, err  # no traceback, no C++ log or stack dump
    assert seconds < 3 * TIMEOUT + 30, seconds
    return errors[0]


@pytest.mark.slow
def test_peer_never_starts(files):
    started = time.monotonic()
    line = _one_error_line(
        *_finish(_cli(["entropy", str(files / "good.xyz")], free_port(), 0), started)
    )
    assert "could not join" in line


@pytest.mark.slow
def test_peer_dies_mid_run(files):
    port, started = free_port(), time.monotonic()
    main = _cli(["entropy", str(files / "good.xyz")], port, 0)
    peer = subprocess.Popen(
        [sys.executable, str(PEER), "die", f"127.0.0.1:{port}", "2", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _one_error_line(*_finish(main, started))
    peer.wait(timeout=60)


def test_peer_stops_on_a_user_error(files):
    port, started = free_port(), time.monotonic()
    procs = [_cli(["entropy", str(files / "bad.xyz")], port, pid) for pid in (0, 1)]
    lines = [_one_error_line(*_finish(p, started)) for p in procs]
    assert all("NaN" in line and "dset[3]" in line for line in lines), lines


def test_mismatched_arguments(files):
    port, started = free_port(), time.monotonic()
    good = str(files / "good.xyz")
    procs = [_cli(["entropy", good], port, 0), _cli(["entropy", good, "-b", "0.02"], port, 1)]
    lines = [_one_error_line(*_finish(p, started)) for p in procs]
    assert all("other arguments" in line for line in lines), lines


@pytest.mark.slow
def test_duplicated_process_id(files):
    port, started = free_port(), time.monotonic()
    good = str(files / "good.xyz")
    procs = [_cli(["entropy", good], port, pid, n=3) for pid in (0, 1, 1)]
    for p in procs:
        _one_error_line(*_finish(p, started))


@pytest.mark.slow
def test_peer_that_never_reaches_a_collective(files):
    """Issue 27: a live peer that never reaches a collective (stuck in its own work)
    left the other process waiting inside the all-gather for ever: heartbeats went on,
    so nothing ended it. Every collective step is announced now, and waited for at
    most --timeout seconds."""
    port, started = free_port(), time.monotonic()
    good = str(files / "good.xyz")
    main = _cli(["entropy", good], port, 0)
    peer = _cli(["entropy", good], port, 1, peer="late")
    try:
        line = _one_error_line(*_finish(main, started))
        assert f"process 1 did not reach step 1 (gather row counts) within {TIMEOUT} s" in line
        assert peer.wait(timeout=TIMEOUT * 3) != 0  # told by process 0: ends at once
    finally:
        peer.kill()
        peer.communicate()


@pytest.mark.slow
def test_sigterm_ends_a_process_stuck_in_a_collective(files, tmp_path):
    """Issue 27: a process waiting inside a collective (native code: its Python
    SIGTERM handler never runs) could not be ended by SIGTERM; the supervisor passed
    the signal on and waited for ever. It now kills a child that has not stopped
    within STOP_GRACE seconds, with one line."""
    from quests_jax.cli.supervisor import STOP_GRACE

    port = free_port()
    good = str(files / "good.xyz")
    mark = tmp_path / "stuck"
    main = _cli(["entropy", good], port, 0)
    peer = _cli(["entropy", good], port, 1, peer="stuck", FAULT_PEER_MARK=str(mark))
    try:
        deadline = time.monotonic() + 120
        while not mark.exists():  # the peer stalls once both announced the all-gather
            assert time.monotonic() < deadline and main.poll() is None
            time.sleep(0.2)
        time.sleep(1.0)  # process 0 is inside it
        assert main.poll() is None
        started = time.monotonic()
        main.send_signal(signal.SIGTERM)
        out, err = main.communicate(timeout=STOP_GRACE * 4)
        assert time.monotonic() - started < STOP_GRACE * 3
        assert main.returncode == 128 + signal.SIGTERM
        lines = [line for line in err.splitlines() if line.strip()]
        assert all(line.startswith(("quests-jax", "[quests-jax]")) for line in lines), err
        assert [line for line in lines if line.startswith("quests-jax:")] == [
            f"quests-jax: terminated (SIGTERM): process 0 did not stop within {STOP_GRACE:g} s "
            "and was killed"
        ], err
    finally:
        for p in (main, peer):
            p.kill()
            p.communicate()


@pytest.mark.slow
def test_runs_on_warm_and_mixed_caches_never_hang(files, tmp_path):
    """Issue 27: the second two-process run on one compilation cache hung in a
    collective (8 of 8 warm runs; a process reading its programs from the cache while
    its peer compiles them), beyond --timeout and SIGTERM. Multi-process runs now
    compile in every process: three runs on one warm cache, then caches in different
    states (one warm, one empty; a cache configured through JAX) all finish, with the
    same entropy as a single process."""
    good = str(files / "good.xyz")
    warm = str(tmp_path / "warm")
    single = subprocess.run(
        [sys.executable, "-m", "quests_jax.cli", "entropy", good],
        env=dict(os.environ, QUESTS_JAX_CACHE_DIR=warm),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert single.returncode == 0 and any(os.scandir(warm)), single.stderr
    expected = [line for line in single.stdout.splitlines() if line.startswith("entropy:")]
    states = [
        [{"QUESTS_JAX_CACHE_DIR": warm}] * 2,
        [{"QUESTS_JAX_CACHE_DIR": warm}] * 2,
        [{"QUESTS_JAX_CACHE_DIR": warm}] * 2,
        [{"QUESTS_JAX_CACHE_DIR": warm}, {"QUESTS_JAX_CACHE_DIR": str(tmp_path / "empty")}],
        [{"JAX_COMPILATION_CACHE_DIR": warm}] * 2,
    ]
    for run, envs in enumerate(states):
        port = free_port()
        procs = [_cli(["entropy", good], port, pid, **env) for pid, env in enumerate(envs)]
        try:
            outs = [p.communicate(timeout=TIMEOUT * 8) for p in procs]
        finally:
            for p in procs:
                p.kill()
        for p, (_, err) in zip(procs, outs, strict=True):
            assert p.returncode == 0, (run, err)
        lines = [line for line in outs[0][0].splitlines() if line.startswith("entropy:")]
        assert lines == expected, (run, outs[0][0])


def test_input_files_that_differ_after_their_first_mib_are_refused(tmp_path):
    """Issue 27: processes compared their input files by size and a checksum of the
    first MiB, so same-named files of one size that differ further on (one per node)
    were combined into a wrong entropy. The whole content is compared now."""
    frames = [cubic_cu(3, seed=s) for s in range(240)]  # ~1.4 MB of extxyz
    first, second = tmp_path / "node0", tmp_path / "node1"
    first.mkdir()
    second.mkdir()
    write(first / "data.xyz", frames)
    text = (first / "data.xyz").read_text()
    assert len(text) > 1.2 * (1 << 20)
    cut = text.rindex("Cu ") + 5  # a digit of the last atom's x, past the first MiB
    digit = "1" if text[cut] != "1" else "2"
    (second / "data.xyz").write_text(text[:cut] + digit + text[cut + 1 :])
    assert (second / "data.xyz").stat().st_size == (first / "data.xyz").stat().st_size
    port, started = free_port(), time.monotonic()
    procs = [
        _cli(["entropy", "data.xyz"], port, pid, cwd=d) for pid, d in enumerate((first, second))
    ]
    lines = [_one_error_line(*_finish(p, started)) for p in procs]
    assert any("differs between process 1 and process 0" in line for line in lines), lines


LIBRARY_RUN = """
import sys, jax, numpy as np
jax.distributed.initialize(sys.argv[1], 2, int(sys.argv[2]), initialization_timeout=60)
from quests_jax import sharded
x = np.random.default_rng(0).normal(size=(50, 63)).astype(np.float32)
try:
    sharded.entropy(x, float(sys.argv[3]))
except ValueError as err:
    print(err)
    sys.exit(3)
"""


def test_library_processes_given_other_bandwidths_refuse(tmp_path):
    """sharded.entropy with -b 0.015 in one process and 0.02 in the other gave a wrong
    entropy without an error."""
    port = free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", LIBRARY_RUN, f"127.0.0.1:{port}", str(pid), h],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for pid, h in ((0, "0.015"), (1, "0.02"))
    ]
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 3 and "differ between processes" in out, out
