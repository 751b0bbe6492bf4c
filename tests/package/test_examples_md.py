"""The entropy-forces examples run end to end (tiny settings) and their seed
statistics are what they say; the headline figures themselves are in docs/guide/forces.md."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

pytest.importorskip("jax_md")
pytest.importorskip("optax")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))
import biased_md
import entropy_metadynamics
import generate_structures


def test_first_escapes():
    away = np.array([[False, False, True, True], [False] * 4, [True, False, False, False]])
    np.testing.assert_array_equal(entropy_metadynamics.first_escapes(away, 1.5), [4.5, np.nan, 1.5])


@pytest.mark.slow
def test_metadynamics_runs_every_seed(capsys):
    results = entropy_metadynamics.main(
        ["--seeds", "2", "--snapshots", "2", "--deposits", "2", "--stride", "5"]
    )
    for kind in ("plain MD", "metadynamics"):
        r = results[kind]
        assert r["away"].shape == (2, 2) and r["entropy"].shape == (2, 2)
        assert np.isfinite(r["entropy"]).all()
        escaped = np.isfinite(r["first_escape_ps"])
        np.testing.assert_array_equal(escaped, r["away"].any(axis=1))
    # metadynamics deposits hills, so its entropy moves away from plain MD's
    assert not np.allclose(results["metadynamics"]["entropy"], results["plain MD"]["entropy"])
    assert "runs that left the icosahedral basin" in capsys.readouterr().out.splitlines()[-1]


@pytest.mark.slow
def test_biased_md_runs_every_seed(capsys):
    out = biased_md.main(["--steps", "40", "--seeds", "2"])
    assert len(out["runs"]) == 2
    for name in ("biased", "unbiased"):
        assert out["novel"][name].shape == (2,)
        assert ((0 <= out["novel"][name]) & (out["novel"][name] <= 1)).all()
    assert "2 seeds" in capsys.readouterr().out.splitlines()[-1]


@pytest.mark.slow
def test_generation_runs_every_seed(capsys):
    out = generate_structures.main(["--new", "1", "--steps", "5", "--seeds", "2"])
    assert out["generated"].shape == (2,) and out["md"].shape == (2,)
    # five Adam steps up the entropy already add more than another MD frame
    assert (out["generated"] > out["md"]).all()
    assert "(2 seeds)" in capsys.readouterr().out.splitlines()[-1]
