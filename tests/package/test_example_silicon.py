"""examples/silicon_dft.py in its fast mode: every number it prints comes from the
library's own calls on the vendored DFT data (recomputed here independently)."""

from __future__ import annotations

import os
import re
import sys

import ase.io
import numpy as np
import pytest
from scipy.stats import spearmanr

import quests_jax as qj
from quests_jax import tools as compression
from quests_jax.tools._frame_sets import FrameSet

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
sys.path.insert(0, EXAMPLES)
import silicon_dft  # noqa: E402

DATA = os.path.join(EXAMPLES, "data", "mlearn_si")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    return silicon_dft.main(["--fast", "--out", str(out)])


@pytest.fixture(scope="module")
def frames():
    return ase.io.read(os.path.join(DATA, "train.xyz"), ":"), ase.io.read(
        os.path.join(DATA, "test.xyz"), ":"
    )


def test_data_is_vendored_with_its_licence():
    for name in ("train.xyz", "test.xyz", "LICENSE", "README.md"):
        assert os.path.getsize(os.path.join(DATA, name)) > 0
    with open(os.path.join(DATA, "LICENSE")) as f:
        assert "BSD" in f.read()


@pytest.mark.slow
def test_entropy_by_temperature_matches_direct_calls(run, frames):
    train, test = frames
    temps = run["temperatures"]
    aimd = [a for a in train + test if a.info["config_type"] == "AIMD-NVT"]
    volume = sum(a.get_volume() for a in aimd) / sum(len(a) for a in aimd)
    assert temps["h_rule"] == pytest.approx(float(qj.get_bandwidth(volume)), rel=1e-12)
    assert temps["temperature"] == [300, 843, 1518, 2530, 3374]
    for t, h_rule, h_default in zip(
        temps["temperature"], temps["H_rule"], temps["H_default"], strict=True
    ):
        group = [a for a in aimd if re.search(rf"\b{t} K", a.info["description"])]
        x = qj.get_descriptors(group)
        assert h_rule == pytest.approx(float(qj.entropy(x, temps["h_rule"])), rel=1e-5)
        assert h_default == pytest.approx(float(qj.entropy(x, 0.015)), rel=1e-5)
    # the crystal melts between the 1518 K and 2530 K runs: the largest entropy rise
    assert temps["melt_between"] == (1518, 2530)
    assert np.all(np.diff(temps["H_default"]) > 0)


def test_novelty_counts_match_delta_entropy(run, frames):
    train, test = frames
    dh = np.asarray(qj.delta_entropy(qj.get_descriptors(test), qj.get_descriptors(train)))
    np.testing.assert_allclose(run["novelty"]["dH"], dh, rtol=1e-6, atol=1e-6)
    start = 0
    per_type = {}
    for atoms, row in zip(test, run["novelty"]["frames"], strict=True):
        d = dh[start : start + len(atoms)]
        start += len(atoms)
        assert row["novel"] == int((d > 0).sum())
        assert row["dH_max"] == pytest.approx(float(d.max()), abs=1e-5)
        per_type.setdefault(atoms.info["config_type"], 0)
        per_type[atoms.info["config_type"]] += int((d > 0).sum())
    assert {k: g["novel"] for k, g in run["novelty"]["groups"].items()} == per_type
    # strained cells inside the training set's range: nothing new
    assert run["novelty"]["groups"]["Elastic"]["novel"] == 0


@pytest.mark.slow
def test_compression_numbers_match_summary(run, frames):
    train, _ = frames
    comp = run["compression"]
    data = FrameSet(run["x_train"], [len(a) for a in train])
    assert comp["fractions"] == list(silicon_dft.FAST_FRACTIONS)
    for method in ("msc", "k_means"):
        keep = compression.compress(data, comp["fractions"][0], method, seed=0)
        s = compression.summary(data, keep)
        assert comp["kept"][method]["entropy"][0] == pytest.approx(s["entropy"], rel=1e-6)
        assert comp["kept"][method]["coverage"][0] == pytest.approx(s["overlap"], abs=1e-12)
    random = [
        compression.summary(data, compression.compress(data, 0.3, "random", seed=s))["overlap"]
        for s in range(silicon_dft.RANDOM_SEEDS)
    ]
    assert comp["kept"]["random"]["coverage"][1] == pytest.approx(np.mean(random), abs=1e-12)
    for k in comp["kept"].values():
        covered = [f for f, c in zip(comp["fractions"], k["coverage"], strict=True) if c >= 0.99]
        assert k["smallest_covering"] == (min(covered) if covered else None)
    assert comp["H_full"] == pytest.approx(float(qj.entropy(data.x)), rel=1e-6)
    assert comp["fit"].gap == pytest.approx(comp["fit"].a - np.nanmax(comp["curve"]["entropies"]))


def test_uq_numbers_match_direct_calls(run, frames):
    train, test = frames
    uq = run["uq"]
    data = FrameSet(run["x_train"], [len(a) for a in train])
    keep = np.sort(compression.compress(data, silicon_dft.UQ_FRACTION, "msc"))
    assert uq["kept_frames"] == keep.size
    dh = np.asarray(qj.delta_entropy(run["x_test"], data.rows(keep)))
    np.testing.assert_allclose(uq["dH"], dh, rtol=1e-6, atol=1e-6)
    ends = np.cumsum([len(a) for a in test])
    per_frame = np.split(np.arange(ends[-1]), ends[:-1])
    np.testing.assert_allclose(uq["frame_dH_max"], [dh[r].max() for r in per_frame], atol=1e-5)
    rmse = [np.sqrt(np.mean(uq["error"][r] ** 2)) for r in per_frame]
    np.testing.assert_allclose(uq["frame_rmse"], rmse, rtol=1e-12)
    assert uq["rho_atoms"] == pytest.approx(spearmanr(uq["dH"], uq["error"]).statistic)
    assert uq["novel"] == int((dh > 0).sum())


def test_kernel_ridge_interpolates_its_training_points():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4))
    y = np.sin(x[:, 0]) + x[:, 1] ** 2
    np.testing.assert_allclose(silicon_dft.kernel_ridge(x, y, x, ridge=1e-10), y, atol=1e-5)


def test_figure_is_written(run):
    with open(run["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
