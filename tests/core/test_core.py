"""The shared core: descriptor settings, the enlarge-and-retry loop, dtype policy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import quests_jax as qj
from quests_jax._core.precision import default_dtype, resolve_dtype, x64_scope
from quests_jax._core.retry import MAX_RESIZES, until_it_fits
from quests_jax._core.settings import SMOOTH_EXTRA, DescriptorSettings


def test_settings_are_checked_once_and_derive_the_search():
    s = DescriptorSettings()
    assert (s.k, s.cutoff, s.smooth, s.dtype) == (32, 5.0, None, "float32")
    assert (s.width, s.search_k, s.search_cutoff) == (63, 32, 5.0)
    smooth = DescriptorSettings(k=8, cutoff=4, smooth=0.5, dtype=np.float64)
    assert (smooth.width, smooth.search_k, smooth.search_cutoff) == (15, 8 + SMOOTH_EXTRA, 4.5)
    assert smooth.dtype == "float64" and isinstance(smooth.cutoff, float)
    for bad, error in [
        (dict(k=0), "k must be >= 1"),
        (dict(cutoff=-1.0), "cutoff must be a finite number > 0"),
        (dict(smooth=0.0), "smooth must be None or a switch width > 0"),
        (dict(dtype="int8"), "dtype must be 'float32' or 'float64'"),
    ]:
        with pytest.raises(ValueError, match=error):
            DescriptorSettings(**bad)


def test_settings_are_one_static_value():
    """Equal settings hash equal, so a compiled program keyed by them is reused."""
    assert DescriptorSettings(32, 5) == DescriptorSettings(32, 5.0)
    assert hash(DescriptorSettings(32, 5)) == hash(DescriptorSettings(32, 5.0))
    traced = jax.jit(lambda x, s: x * s.width, static_argnums=1)
    assert float(traced(jnp.ones(()), DescriptorSettings(k=4))) == 7.0
    cv_like = qj.forces.collective_variable(
        "entropy", np.zeros((1, 3)), np.eye(3) * 10, False, k=4, cutoff=3.0
    )
    assert cv_like.settings == DescriptorSettings(4, 3.0) and cv_like.k == 4


def test_until_it_fits_enlarges_until_the_work_fits():
    calls = []

    def attempt(capacity):
        calls.append(capacity)
        return f"result at {capacity}", capacity < 5

    assert until_it_fits(attempt, 1, lambda c: c * 2, what="x") == ("result at 8", 8)
    assert calls == [1, 2, 4, 8]


def test_until_it_fits_gives_up_after_the_limit_and_says_what():
    calls = []

    def attempt(capacity):
        calls.append(capacity)
        return None, True

    with pytest.raises(RuntimeError, match=f"the search still overflows after {MAX_RESIZES}"):
        until_it_fits(attempt, 0, lambda c: c + 1, what="the search")
    assert calls == list(range(MAX_RESIZES + 1))


def test_dtype_policy():
    assert resolve_dtype("float64") == np.float64 and resolve_dtype(np.float32) == np.float32
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        resolve_dtype("float16")
    assert default_dtype() == (np.float64 if jax.config.jax_enable_x64 else np.float32)
    with x64_scope("float64"):
        assert jnp.zeros(1, jnp.float64).dtype == jnp.float64


def test_deferred_package_init_runs_on_first_use_of_a_name(tmp_path, monkeypatch):
    import sys

    from quests_jax._core.lazy import defer_package_init

    package = tmp_path / "deferpkg"
    package.mkdir()
    (package / "__init__.py").write_text("import deferpkg.heavy\nNAME = 'from init'\n")
    (package / "heavy.py").write_text("LOADED = True\n")
    (package / "light.py").write_text("VALUE = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("deferpkg", "deferpkg.heavy", "deferpkg.light"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert defer_package_init("deferpkg")
    assert not defer_package_init("deferpkg")  # already there
    assert not defer_package_init("no_such_package_here")
    from deferpkg.light import VALUE

    assert VALUE == 3
    assert "deferpkg.heavy" not in sys.modules  # __init__ not run by a submodule import
    from deferpkg import NAME

    assert NAME == "from init"
    assert "deferpkg.heavy" in sys.modules
