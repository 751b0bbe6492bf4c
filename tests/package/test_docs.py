"""The documentation site builds with warnings as errors, holds the API reference of
every exported name, the theory page with its formulas and figure, and the pages the
README points to."""

from __future__ import annotations

import importlib
import inspect
import os
import pathlib
import re
import subprocess
import sys

import pytest
from test_layout import FACES

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return out


def _ids(site: pathlib.Path) -> set[str]:
    ids: set[str] = set()
    for page in (site / "api").rglob("*.html"):
        ids |= set(re.findall(r'id="([^"]+)"', page.read_text()))
    return ids


def test_api_reference_documents_every_exported_name(site):
    ids = _ids(site)
    missing = []
    for face in FACES:
        module = importlib.import_module(face)
        for name in module.__all__:
            obj = getattr(module, name)
            anchor = obj.__name__ if inspect.ismodule(obj) else f"{face}.{name}"
            if anchor not in ids:  # a module is documented under its own name
                missing.append(f"{face}.{name}")
    assert not missing, missing
    assert f"{FACES[0]}.entropy" in ids and "quests_jax.information.BandwidthWarning" in ids
    for page in (site / "api").rglob("*.html"):  # Sphinx roles rendered as code, not raw
        assert not re.search(r":(func|mod|class|meth):", page.read_text()), page


def test_theory_page_has_the_definitions_and_the_figure(site):
    page = (site / "theory" / "index.html").read_text()
    for term in ("Information entropy H", "Diversity D", "Differential entropy dH", "Overlap"):
        assert term in page, term
    assert page.count('class="arithmatex"') >= 6  # the formulas
    assert 'src="../images/bandwidth.png"' in page
    assert (site / "images" / "bandwidth.png").stat().st_size > 10_000


def test_the_guide_pages_exist(site):
    for page in (
        "guide/install",
        "guide/main-job",
        "guide/cli",
        "guide/api-by-task",
        "migration",
        "guide/accelerators",
        "guide/reliability",
        "examples",
        "changelog",
    ):
        assert (site / page / "index.html").is_file(), page
    changelog = (site / "changelog" / "index.html").read_text()
    assert "0.1.0" in changelog  # included from CHANGELOG.md, not a copy


def test_readme_is_for_newcomers_and_points_to_the_docs():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 200
    assert "mkdocs" in readme and "docs/" in readme
    for stale in ("paths of 0.1", "2026-1", "A/B"):
        assert stale not in readme, stale
