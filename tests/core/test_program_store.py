"""The store of traced programs (quests_jax._core.program_store): a later process loads
the stored programs instead of tracing them, gets the same numbers, and is never given
a wrong or broken program."""

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

# A Monte Carlo chain on a real Si frame against real Si rows: the programs stored (their
# trace costs ~0.4 s each; the start's executable, serialised by serialize_executable,
# crashed the next process with a segmentation fault).
WORK = f"""
import hashlib, numpy as np, quests_jax as qj
from ase.io import read
from quests_jax.compilation import track
from quests_jax.tools import monte_carlo
qj.enable_compilation_cache()
frames = read({str(SILICON)!r}, ":8")
x = qj.get_descriptors(frames)
with track() as stats:
    mc = monte_carlo(frames[0], x, n_steps=60, progress=False)
print(stats.programs, stats.compiled, stats.stored, repr(mc.best_score))
np.save("positions.npy", mc.atoms.positions)
"""


def _run(cache: str, folder: Path) -> tuple[int, int, int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUESTS_JAX", "JAX_COMP"))}
    env["QUESTS_JAX_CACHE_DIR"] = cache
    folder.mkdir(exist_ok=True)
    out = subprocess.run(
        [sys.executable, "-c", WORK],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=folder,
    )
    assert out.returncode == 0, out.stderr
    programs, compiled, stored, score = out.stdout.split()
    return int(programs), int(compiled), int(stored), score


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "programs").glob("*.program"))


def test_a_second_process_loads_the_chain_untraced_with_the_same_numbers(tmp_path):
    """Before, every process traced and lowered the chain's programs again (~0.4 s
    each) before JAX's cache could find them."""
    cache = tmp_path / "cache"
    programs, compiled, stored, score = _run(str(cache), tmp_path / "a")
    assert compiled == programs and stored == 0
    assert [p.name.split("-")[0] for p in _entries(cache)] == ["segment", "start"]
    assert _run(str(cache), tmp_path / "b") == (programs, 0, 2, score)
    positions = np.load(tmp_path / "a" / "positions.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "b" / "positions.npy"), positions)
    # without the store: the same chain to float32 rounding (XLA may fuse differently)
    _, _, stored, plain = _run("", tmp_path / "c")
    assert stored == 0 and float(plain) == pytest.approx(float(score), rel=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "c" / "positions.npy"), positions, atol=1e-4)


def test_damaged_and_misplaced_entries_are_traced_again(tmp_path):
    cache = tmp_path / "cache"
    programs, _, _, score = _run(str(cache), tmp_path / "a")
    first, second = _entries(cache)
    data = first.read_bytes()
    first.write_bytes(data[: len(data) // 2])  # cut short (a kill, a full disk)
    second.write_bytes(data)  # another key's program under this name
    assert _run(str(cache), tmp_path / "b") == (programs, 0, 0, score)  # JAX's cache has them
    assert _run(str(cache), tmp_path / "c") == (programs, 0, 2, score)  # written again


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


def test_a_stored_program_that_fails_to_run_is_traced_again(store, monkeypatch):
    """An entry that loads but cannot run (a JAX upgrade the key missed, a program
    JAX cannot compile from its serialised form): its first call is waited for."""
    x = np.arange(4, dtype=np.float32)
    stored_jit(_toy.__wrapped__, static_argnames=("power",))(x, 1.0, power=2)
    (entry,) = store.glob("*.program")
    fresh = stored_jit(_toy.__wrapped__, static_argnames=("power",))  # another process's

    def broken(data, key):
        def run(*args, **kwargs):
            raise jax.errors.JaxRuntimeError("INTERNAL: cannot run")

        return run

    monkeypatch.setattr(program_store, "_unpack", broken)
    total, _ = fresh(x, 1.0, power=2)
    assert float(total) == 14.0
    assert entry.exists()  # written again, whole: the next process runs it
    monkeypatch.undo()
    again = stored_jit(_toy.__wrapped__, static_argnames=("power",))
    assert float(again(x, 1.0, power=2)[0]) == 14.0


def test_the_store_keeps_the_most_recently_used_within_its_cap(store, monkeypatch):
    fresh = stored_jit(_toy.__wrapped__, static_argnames=("power",))
    x = np.arange(3, dtype=np.float32)
    fresh(x, 1.0, power=1)
    (first,) = _names(store)
    size = (store / first).stat().st_size
    monkeypatch.setattr(program_store, "STORE_MAX_BYTES", int(2.5 * size))
    os.utime(store / first, ns=(1, 1))  # long unused
    fresh(x, 1.0, power=2)
    fresh(x, 1.0, power=3)  # a third entry: past the cap, the least recently used goes
    names = _names(store)
    assert len(names) == 2 and first not in names
