"""The streamed path (``execution="streamed"``: rows read from the host block by
block) equals the in-memory results for any block size, including memory-mapped
inputs and queries far from the data."""

from __future__ import annotations

import numpy as np
import pytest

import quests_jax as qj


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(203, 16)) * 0.05).astype(np.float32)
    y = (rng.normal(size=(77, 16)) * 0.06).astype(np.float32)
    y[:3] += 2.0  # every kernel underflows: the reference package gives +inf
    return x, y


@pytest.mark.parametrize("block", [8, 40, 1000])
def test_delta_entropy_any_block(data, tmp_path, block):
    x, y = data
    np.save(tmp_path / "x.npy", x)
    xm = np.load(tmp_path / "x.npy", mmap_mode="r")
    h = np.array([0.02, 0.05])
    got = np.asarray(qj.delta_entropy(y, xm, h, block, execution="streamed"))
    expected = np.asarray(qj.delta_entropy(y, x, h))
    assert got.shape == (77, 2) and np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("block", [16, 1000])
def test_entropy_and_diversity_any_block(data, block):
    x, _ = data
    ent, div = qj.entropy_and_diversity(x, 0.05, block, execution="streamed")
    ref_ent, ref_div = qj.entropy_and_diversity(x, 0.05)
    assert float(ent) == pytest.approx(float(ref_ent), rel=1e-5)
    assert float(div) == pytest.approx(float(ref_div), rel=1e-5)


@pytest.mark.unchecked_types
def test_errors(data):
    x, y = data
    streamed = {"execution": "streamed"}
    with pytest.raises(ValueError, match="widths"):
        qj.delta_entropy(y[:, :5], x, **streamed)
    with pytest.raises(ValueError, match="empty"):
        qj.entropy_and_diversity(x[:0], **streamed)
    with pytest.raises(ValueError, match="h must be > 0"):
        qj.delta_entropy(y, x, -1.0, **streamed)
    bad = x.copy()
    bad[150, 2] = np.inf
    with pytest.raises(ValueError, match="row 150"):
        qj.delta_entropy(y, bad, batch_size=64, **streamed)
