"""A good citizen: importing quests_jax, or any of its public modules, into someone
else's program changes nothing global (JAX options, warning filters, import hooks,
logging, NumPy's random state); what a user opts into is explicit."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

SILICON_TEST = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..",
    "..",
    "examples",
    "data",
    "mlearn_si",
    "test.xyz",
)

# Runs in a fresh interpreter. The user's program imports JAX and SciPy first (JAX's
# import draws from NumPy's generator, SciPy's special and sparse add warning filters: theirs,
# not ours), then every public module of quests_jax one by one; after each, everything
# global is compared with before.
IMPORT_EVERYTHING = r"""
import json, logging, pkgutil, sys, warnings, importlib
import numpy as np
import jax, scipy.special, scipy.spatial
np.random.seed(1234)

def state():
    rs = np.random.get_state()
    return {
        "jax config": {k: repr(v) for k, v in jax.config.values.items()},
        "warning filters": [repr(f) for f in warnings.filters],
        "sys.meta_path": [type(f).__name__ for f in sys.meta_path],
        "sys.path_hooks": [repr(h) for h in sys.path_hooks],
        "numpy random state": [rs[0], rs[1].tolist(), rs[2], rs[3], rs[4]],
        "logging": [repr(h) for h in logging.getLogger().handlers]
        + [repr(h) for h in logging.getLogger("quests_jax").handlers]
        + [logging.getLogger().level, logging.getLogger("quests_jax").level],
        "excepthook": repr(sys.excepthook),
    }

before = state()
import quests_jax
names = ["quests_jax"] + sorted(
    m.name for m in pkgutil.walk_packages(quests_jax.__path__, "quests_jax.")
    if not any(p.startswith("_") for p in m.name.split("."))
)
changed = {}
for name in names:
    importlib.import_module(name)
    after = state()
    diff = [k for k in before if before[k] != after[k]]
    if diff:
        changed[name] = diff
        before = after
print(json.dumps({"modules": names, "changed": changed}))
"""


def _fresh(code: str, **env) -> str:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_COMP", "QUESTS"))}
    environ.update(env)
    out = subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_importing_any_public_module_changes_nothing_global(tmp_path):
    result = json.loads(_fresh(IMPORT_EVERYTHING, XDG_CACHE_HOME=str(tmp_path)))
    modules = result["modules"]
    assert len(modules) > 30 and "quests_jax.compat.entropy" in modules, modules
    assert {"quests_jax.forces.jaxmd", "quests_jax.cli", "quests_jax.tools.plots"} <= set(modules)
    assert result["changed"] == {}
    assert not (tmp_path / "quests_jax").exists()  # no cache folder made either


def test_importing_quests_jax_first_keeps_numpys_random_state():
    """A script that seeds before its imports draws what it drew with the reference
    (JAX's import advances NumPy's global generator: 0.6459 instead of 0.5488)."""
    code = (
        "import numpy as np; np.random.seed(0)\n"
        "import quests_jax.compat\n"
        "print(repr(np.random.rand()))"
    )
    assert float(_fresh(code)) == np.random.RandomState(0).rand()


def test_the_compilation_cache_is_opt_in(tmp_path):
    code = (
        "import jax, quests_jax as qj\n"
        "from quests_jax._core import program_store\n"
        "before = jax.config.jax_compilation_cache_dir, program_store.folder()\n"
        "print(*before, qj.enable_compilation_cache(), jax.config.jax_compilation_cache_dir,\n"
        "      jax.config.jax_persistent_cache_min_compile_time_secs, program_store.folder())"
    )
    before, store_before, returned, after, min_time, store = _fresh(
        code, XDG_CACHE_HOME=str(tmp_path)
    ).split()
    ours = str(tmp_path / "quests_jax" / "xla")
    assert (before, store_before, returned, after) == ("None", "None", ours, ours)
    assert (float(min_time), store) == (0.0, os.path.join(ours, "programs"))
    path = str(tmp_path / "mine")
    code = f"import quests_jax as qj; print(qj.enable_compilation_cache({path!r}))"
    assert _fresh(code) == path


def test_jax_md_warning_filter_is_scoped():
    import warnings

    from quests_jax.forces.jaxmd import jax_md_float64_warnings_ignored

    before = list(warnings.filters)
    message = "Explicitly requested dtype float64 requested in sum is not available"
    with jax_md_float64_warnings_ignored(), warnings.catch_warnings(record=True) as seen:
        warnings.warn(message, UserWarning, stacklevel=1)
    assert not seen
    assert warnings.filters == before


def test_no_private_jax_api_but_the_key_value_store():
    """JAX's private modules change without notice; the package uses one private name,
    the distributed key-value store of multi-process commands (no public handle)."""
    import pathlib

    import quests_jax

    users = []
    for path in pathlib.Path(quests_jax.__file__).parent.rglob("*.py"):
        for line in path.read_text().splitlines():
            if "jax._src" in line.split("#", 1)[0]:
                users.append(f"{path.name}: {line.strip()}")
    assert users == ["supervisor.py: from jax._src import distributed"], users


def test_the_command_line_reads_structures_without_scipy(tmp_path):
    """ase.io imports submodules of ase.dft and ase.spacegroup, whose __init__ files
    import scipy (~0.4 s of every start); the command line defers them, transparently."""
    script = (
        "import sys\n"
        "from quests_jax.cli import main\n"
        f"main(['entropy', {SILICON_TEST!r}])\n"
        "assert 'scipy.integrate' not in sys.modules, 'scipy imported'\n"
        "assert 'scipy.spatial' not in sys.modules, 'scipy imported'\n"
        "from ase.dft import DOS, monkhorst_pack\n"
        "from ase.spacegroup import Spacegroup, crystal\n"
        "print('ok', DOS.__name__, Spacegroup.__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ok DOS Spacegroup" in done.stdout
