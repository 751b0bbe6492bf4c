"""The whole-program store (quests_jax._core.program_store): a later process loads the
library's compiled programs instead of tracing them, gets the same numbers, and is
never given a wrong or broken program."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from quests_jax._core import program_store
from quests_jax._core.program_store import stored_jit

SILICON = Path(__file__).parents[2] / "examples" / "data" / "mlearn_si" / "test.xyz"

# real Si frames (bulk, slab, small cells): descriptors, entropy, dH, per-frame sums
WORK = f"""
import hashlib, numpy as np, quests_jax as qj
from ase.io import read
from quests_jax.compilation import track
qj.enable_compilation_cache()
frames = read({str(SILICON)!r}, ":8")
with track() as stats:
    x = qj.get_descriptors(frames)
    h = qj.entropy(x)
    dh = qj.delta_entropy(x[:40], x[40:])
    per_frame = qj.frame_entropies(x, [len(a) for a in frames])
digest = hashlib.sha256(b"".join(np.asarray(a).tobytes() for a in (x, h, dh, per_frame)))
print(stats.programs, stats.compiled, stats.stored, digest.hexdigest())
"""


def _run(cache: str) -> tuple[int, int, int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUESTS_JAX", "JAX_COMP"))}
    env["QUESTS_JAX_CACHE_DIR"] = cache
    out = subprocess.run(
        [sys.executable, "-c", WORK], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    programs, compiled, stored, digest = out.stdout.split()
    return int(programs), int(compiled), int(stored), digest


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "programs").glob("*.program"))


def test_a_second_process_loads_every_program_whole_and_gets_the_same_numbers(tmp_path):
    """Before, every process traced and lowered each program again (~0.1 - 0.15 s each)
    before JAX's cache could find it."""
    cache = tmp_path / "cache"
    programs, compiled, stored, digest = _run(str(cache))
    assert programs >= 3 and compiled == programs and stored == 0
    assert len(_entries(cache)) == programs
    assert _run(str(cache)) == (programs, 0, programs, digest)
    # the store's compile options change no code: the same bits as without any cache
    assert _run("")[3] == digest


def test_damaged_and_misplaced_entries_are_compiled_again(tmp_path):
    cache = tmp_path / "cache"
    programs, _, _, digest = _run(str(cache))
    first, second, *_ = _entries(cache)
    data = first.read_bytes()
    first.write_bytes(data[: len(data) // 2])  # cut short (a kill, a full disk)
    second.write_bytes(data)  # another key's program under this name
    assert _run(str(cache)) == (programs, 2, programs - 2, digest)
    assert _run(str(cache)) == (programs, 0, programs, digest)  # both written again, whole


@pytest.fixture
def store(tmp_path):
    """The store on, in a folder of this test's own (the worker's restored after)."""
    before = program_store.folder()
    program_store.enable(tmp_path / "programs")
    yield tmp_path / "programs"
    program_store.enable(before)


@stored_jit(static_argnames=("power",))
def _toy(x, scale, *, power):
    return jnp.sum(scale * x**power), jnp.zeros((), x.dtype)


@dataclasses.dataclass(frozen=True)
class _UsersSetting:  # a user's class: its code is not in the key
    power: int = 2


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.program"))


def test_every_argument_that_changes_the_program_changes_the_key(store):
    x = np.arange(6, dtype=np.float32)
    calls = [
        (x, 2.0, 2),
        (x, 2.0, 2),  # the same program: no new entry
        (x, 2.0, 3),  # another static value
        (x[:4], 2.0, 2),  # another shape
        (x, np.float32(2.0), 2),  # not weakly typed
        (x.astype(np.int32), 2.0, 2),  # another dtype
    ]
    for i, (a, s, p) in enumerate(calls):
        total, zero = _toy(a, s, power=p)
        assert float(total) == float(np.sum(s * a.astype(np.float64) ** p)), i
    assert len(_names(store)) == 5
    with jax.enable_x64(True):  # the configuration in force is part of the key
        total, zero = _toy(np.arange(6, dtype=np.float64), 2.0, power=2)
        assert zero.dtype == np.float64 and float(total) == 110.0
    assert len(_names(store)) == 6


def test_traced_calls_and_unknown_statics_take_the_plain_path(store):
    x = np.arange(6, dtype=np.float32)
    assert float(jax.jit(lambda a: _toy(a, 2.0, power=2)[0])(x)) == 110.0
    grad = jax.grad(lambda a: _toy(a, 1.0, power=2)[0])(x)
    np.testing.assert_array_equal(grad, 2 * x)
    values = jax.vmap(lambda a: _toy(a, 1.0, power=2)[0])(np.stack([x, x]))
    np.testing.assert_array_equal(values, [55.0, 55.0])
    assert _names(store) == []


def _power_of(x, scale, *, power):
    p = power.power if isinstance(power, _UsersSetting) else power
    return jnp.sum(scale * x**p)


_toy_users = stored_jit(_power_of, static_argnames=("power",))


def test_a_users_class_as_a_static_argument_is_not_stored(store):
    x = np.arange(3, dtype=np.float32)
    assert float(_toy_users(x, 1.0, power=_UsersSetting(2))) == 5.0
    assert _names(store) == []
    assert float(_toy_users(x, 1.0, power=2)) == 5.0
    assert len(_names(store)) == 1


def test_a_stored_program_that_fails_to_run_is_compiled_again(store, monkeypatch):
    """What a broken executable does (seen: one serialised after JAX's cache had read
    it, "Function ... not found" in the next process): its first run is waited for."""
    x = np.arange(4, dtype=np.float32)
    stored_jit(_toy.__wrapped__, static_argnames=("power",))(x, 1.0, power=2)
    (entry,) = store.glob("*.program")
    fresh = stored_jit(_toy.__wrapped__, static_argnames=("power",))  # another process's

    def broken(data, key):
        def run(*args, **kwargs):
            raise jax.errors.JaxRuntimeError("NOT_FOUND: Function fusion not found")

        return run

    monkeypatch.setattr(program_store, "_unpack", broken)
    total, _ = fresh(x, 1.0, power=2)
    assert float(total) == 14.0
    assert entry.exists()  # written again, whole: the next process runs it
    monkeypatch.undo()
    again = stored_jit(_toy.__wrapped__, static_argnames=("power",))
    assert float(again(x, 1.0, power=2)[0]) == 14.0


def test_a_program_read_from_jaxs_cache_is_not_stored(store, monkeypatch):
    """An executable read from JAX's persistent cache serialises without its code on
    CPU: storing it gave every later process a program that cannot run."""
    reads = iter(range(100))
    monkeypatch.setattr(program_store, "_cache_reads", lambda: next(reads))
    fresh = stored_jit(_toy.__wrapped__, static_argnames=("power",))
    assert float(fresh(np.arange(5, dtype=np.float32), 1.0, power=2)[0]) == 30.0
    assert _names(store) == []
