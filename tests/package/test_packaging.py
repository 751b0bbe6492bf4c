"""Release files: the sdist and the wheel build without warnings, carry the licences
(MIT, and the reference's BSD-3 for the copied helpers), the citation and py.typed, have
one version, and the wheel installs into a clean virtual environment and imports."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile

import pytest

import quests_jax

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_release_files_exist():
    for name in ("LICENSE", "LICENSES/quests-BSD-3-Clause.txt", "CITATION.cff", "CHANGELOG.md"):
        assert (ROOT / name).is_file(), name
    assert (pathlib.Path(quests_jax.__file__).parent / "py.typed").is_file()
    # every copied file names the licence it carries
    for path in (ROOT / "quests_jax" / "compat").rglob("*.py"):
        if "Copied from the reference" in path.read_text():
            assert "BSD 3-Clause License" in path.read_text(), path


def test_one_version():
    """Written in quests_jax/_version.py only: pyproject reads it, the changelog's
    newest release names it."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"]
    assert pyproject["project"]["dynamic"] == ["version"]
    dynamic = pyproject["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "quests_jax._version.__version__"}
    changelog = (ROOT / "CHANGELOG.md").read_text()
    releases = re.findall(r"(?m)^## \[?(\d+\.\d+\.\d+)", changelog)
    assert releases and releases[0] == quests_jax.__version__


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    run = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "-o", str(out), str(ROOT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return out, run.stdout + run.stderr


@pytest.mark.slow
def test_sdist_and_wheel_build_without_warnings(dist):
    out, log = dist
    warnings = [line for line in log.splitlines() if "warn" in line.lower()]
    assert not warnings, "\n".join(warnings)
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    version = quests_jax.__version__
    assert wheel.name == f"quests_jax-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = z.read(f"quests_jax-{version}.dist-info/METADATA").decode()
    assert "quests_jax/py.typed" in names
    assert f"quests_jax-{version}.dist-info/licenses/LICENSE" in names
    assert f"quests_jax-{version}.dist-info/licenses/LICENSES/quests-BSD-3-Clause.txt" in names
    assert not any(n.startswith("tests/") for n in names)
    assert "License-Expression: MIT AND BSD-3-Clause" in metadata
    with tarfile.open(sdist) as t:
        members = [m.split("/", 1)[1] for m in t.getnames() if "/" in m]
    for name in ("LICENSE", "LICENSES/quests-BSD-3-Clause.txt", "CITATION.cff", "CHANGELOG.md"):
        assert name in members, name
    assert "quests_jax/py.typed" in members
    # the tests need the repository (examples/data, the reference as a test extra):
    # not shipped, rather than shipped without what they need
    assert not any(m.startswith("tests/") for m in members)


@pytest.mark.slow
def test_wheel_installs_in_a_clean_venv_and_imports(dist, tmp_path):
    out, _ = dist
    (wheel,) = out.glob("*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stderr
    code = (
        "import importlib.metadata as m, pathlib, quests_jax as qj, numpy as np\n"
        "x = np.random.default_rng(0).normal(size=(50, 63)).astype('float32')\n"
        "print(qj.__version__, m.version('quests_jax'), float(qj.entropy(x, 0.5)) > 0,\n"
        f"      pathlib.Path(qj.__file__).is_relative_to(pathlib.Path(r'{venv}')))\n"
    )
    run = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        cwd=tmp_path,  # not the repository: the installed copy is imported
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    version = quests_jax.__version__
    assert run.stdout.split() == [version, version, "True", "True"]
    cli = subprocess.run(
        [str(venv / "bin" / "quests-jax"), "--version"], capture_output=True, text=True
    )
    assert cli.stdout.strip() == f"quests-jax {version}"
