"""The persistent compilation cache (one call for library users, on for the command
line, one variable to move or disable it, shared safely by processes) and the --debug
report."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

PROBE = (
    "import jax, quests_jax; quests_jax.enable_compilation_cache(); "
    "print(jax.config.jax_compilation_cache_dir)"
)


def python(code, env, **kw):
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, **kw
    )


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUESTS_JAX", "JAX_COMP"))}
    env.update(extra)
    return env


def test_cache_default_folder_movable_and_off(tmp_path):
    out = python(PROBE, clean_env(XDG_CACHE_HOME=str(tmp_path / "xdg")))
    assert out.stdout.strip() == str(tmp_path / "xdg" / "quests_jax" / "xla")
    out = python(PROBE, clean_env(QUESTS_JAX_CACHE_DIR=str(tmp_path / "mine")))
    assert out.stdout.strip() == str(tmp_path / "mine")
    out = python(PROBE, clean_env(QUESTS_JAX_CACHE_DIR=""))
    assert out.stdout.strip() == "None"


def test_users_own_cache_is_left_alone(tmp_path):
    code = "import jax; jax.config.update('jax_compilation_cache_dir', '/tmp/users-own');" + PROBE
    out = python(code, clean_env(QUESTS_JAX_CACHE_DIR=str(tmp_path / "ours")))
    assert out.stdout.strip() == "/tmp/users-own"
    assert not (tmp_path / "ours").exists()
    env = clean_env(QUESTS_JAX_CACHE_DIR=str(tmp_path / "ours"), JAX_COMPILATION_CACHE_DIR="/tmp/x")
    assert python(PROBE, env).stdout.strip() == "/tmp/x"


def test_the_command_line_enables_the_cache(tmp_path):
    from ase.build import bulk
    from ase.io import write

    write(tmp_path / "cu.xyz", bulk("Cu", "fcc", 3.61, cubic=True).repeat(2))
    env = clean_env(QUESTS_JAX_CACHE_DIR=str(tmp_path / "xla"))
    cli = [sys.executable, "-m", "quests_jax.cli", "entropy", str(tmp_path / "cu.xyz")]
    out = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert any((tmp_path / "xla").iterdir())


WORK = """
import numpy as np, quests_jax as qj
from quests_jax.compilation import track
qj.enable_compilation_cache(traced_programs=False)  # JAX's cache alone (test_program_store)
x = np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32) * 0.05
with track() as stats:
    qj.entropy(x, 0.03); qj.delta_entropy(x[:10], x, 0.03)
print(stats.programs, stats.compiled, stats.cache_hits)
"""


def test_processes_share_the_cache(tmp_path):
    """Two processes fill an empty cache at once (both succeed, no cache warning); a
    third then compiles nothing."""
    env = clean_env(QUESTS_JAX_CACHE_DIR=str(tmp_path / "xla"))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORK],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert "persistent compilation cache" not in err, err
    programs, compiled, hits = map(int, python(WORK, env).stdout.split())
    assert programs > 0 and compiled == 0 and hits == programs


def _work(env):
    """(programs, compiled, cache hits) of WORK, and its cache warnings."""
    out = python(WORK, env)
    assert out.returncode == 0, out.stderr
    warned = [line for line in out.stderr.splitlines() if "Warning: " in line]
    return tuple(map(int, out.stdout.split())), warned


def _entries(folder):
    return sorted(folder.glob("*-cache"))


def test_a_damaged_cache_entry_is_removed_and_written_again_once(tmp_path):
    """Issue 27: an entry cut short (a full disk, a kill mid-write) was never rewritten:
    JAX warned on every later run and compiled again. Now one warning, one compile,
    and the next run reads everything from the cache."""
    env = clean_env(QUESTS_JAX_CACHE_DIR=str(tmp_path / "xla"))
    (programs, _, _), warned = _work(env)
    assert not warned
    entry = _entries(tmp_path / "xla")[0]
    data = entry.read_bytes()
    entry.write_bytes(data[: len(data) // 2])
    (_, compiled, hits), warned = _work(env)
    assert len(warned) == 1 and "CompilationCacheWarning: removed 1 damaged entry" in warned[0]
    assert (compiled, hits) == (1, programs - 1)
    assert entry.stat().st_size > len(data) // 2  # written again, whole (bytes may differ)
    assert _work(env) == ((programs, 0, programs), [])


@pytest.mark.slow
def test_cache_entries_swapped_between_programs_are_removed(tmp_path):
    """Issue 27: the entries of two programs swapped (each key holding the other's
    program) made every run fail (JAX ran the wrong program). Entries are recorded
    by size, time and digest, so the swap is seen and both are compiled again."""
    env = clean_env(QUESTS_JAX_CACHE_DIR=str(tmp_path / "xla"))
    (programs, _, _), _ = _work(env)
    assert _work(env) == ((programs, 0, programs), [])  # this run records the entries
    first, second = _entries(tmp_path / "xla")[:2]
    a, b = first.read_bytes(), second.read_bytes()
    first.write_bytes(b)
    second.write_bytes(a)
    (_, compiled, _), warned = _work(env)
    assert len(warned) == 1 and "removed 2 damaged entries" in warned[0]
    assert compiled == 2
    assert _work(env) == ((programs, 0, programs), [])


HOLD_LOCK = """
import sys, time, filelock
lock = filelock.FileLock(sys.argv[1]); lock.acquire(); print("held", flush=True)
time.sleep(300)
"""


@pytest.mark.slow
def test_a_held_cache_lock_costs_a_moment(tmp_path):
    """Issue 27: a process holding the cache's lock (stopped, stuck) cost every other
    run 10 s per program read and again per program written, with JAX's warnings.
    Now the run waits LOCK_WAIT seconds once and compiles without the cache, with one
    warning."""
    env = clean_env(QUESTS_JAX_CACHE_DIR=str(tmp_path / "xla"))
    (programs, _, _), _ = _work(env)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path / "xla" / ".lockfile")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        (_, compiled, hits), warned = _work(env)
        assert (compiled, hits) == (programs, 0)
        assert len(warned) == 1 and "is locked by another process" in warned[0], warned
    finally:
        holder.kill()
        holder.communicate()
    assert _work(env) == ((programs, 0, programs), [])


def test_debug_reports_phases_and_programs(tmp_path):
    from ase.build import bulk
    from ase.io import write

    frames = [bulk("Cu", "fcc", 3.61, cubic=True).repeat((2, 2, 2)) for _ in range(2)]
    for i, atoms in enumerate(frames):
        atoms.positions += np.random.default_rng(i).normal(scale=0.05, size=(32, 3))
    write(tmp_path / "cu.xyz", frames)
    env = clean_env(QUESTS_JAX_CACHE_DIR=str(tmp_path / "xla"))
    cli = [sys.executable, "-m", "quests_jax.cli", "--debug", "entropy", str(tmp_path / "cu.xyz")]
    out = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "read in" in out.stderr and "neighbour lists" in out.stderr
    assert "XLA:" in out.stderr and "programs in" in out.stderr


def test_analysis_commands_load_no_force_or_md_code(tmp_path):
    """Cold start: building the CLI's parser and describing + summing a dataset load
    neither the entropy-force code (equinox, generation, jax-md) nor plotting; each
    costs ~0.1 s of import in every process. (The parser imported generation for a
    default value before: checked, this test failed there.)"""
    code = (
        "import sys\n"
        "from ase.build import bulk\n"
        "from quests_jax.cli import build_parser\n"
        "import quests_jax\n"
        "build_parser()\n"
        "x = quests_jax.get_descriptors([bulk('Cu', 'fcc', 3.61, cubic=True)])\n"
        "quests_jax.entropy(x, 0.015); quests_jax.delta_entropy(x, x, 0.015)\n"
        "heavy = ('equinox', 'jax_md', 'matplotlib', 'quests_jax.forces',\n"
        "         'quests_jax.tools._monte_carlo')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = python(code, clean_env(QUESTS_JAX_CACHE_DIR=str(tmp_path / "xla")))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
