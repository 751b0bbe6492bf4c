"""Out-of-core entropy and dH equal the in-memory results for any chunk size,
including memory-mapped inputs and queries far from the data."""

from __future__ import annotations

import numpy as np
import pytest

import quests_jax as qj
from quests_jax import streaming


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(203, 16)) * 0.05).astype(np.float32)
    y = (rng.normal(size=(77, 16)) * 0.06).astype(np.float32)
    y[:3] += 2.0  # every kernel underflows: the reference package gives +inf
    return x, y


@pytest.mark.parametrize("chunk", [8, 40, 1000])
def test_delta_entropy_any_chunk(data, tmp_path, chunk):
    x, y = data
    np.save(tmp_path / "x.npy", x)
    xm = np.load(tmp_path / "x.npy", mmap_mode="r")
    h = np.array([0.02, 0.05])
    got = streaming.delta_entropy(y, xm, h, chunk_rows=chunk)
    expected = np.asarray(qj.delta_entropy(y, x, h))
    assert got.shape == (77, 2) and np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("chunk", [16, 1000])
def test_entropy_and_diversity_any_chunk(data, chunk):
    x, _ = data
    ent, div = streaming.entropy_and_diversity(x, 0.05, chunk_rows=chunk)
    ref_ent, ref_div = qj.entropy_and_diversity(x, 0.05)
    assert float(ent) == pytest.approx(float(ref_ent), rel=1e-5)
    assert float(div) == pytest.approx(float(ref_div), rel=1e-5)


@pytest.mark.unchecked_types
def test_errors(data):
    x, y = data
    with pytest.raises(ValueError, match="widths"):
        streaming.delta_entropy(y[:, :5], x)
    with pytest.raises(ValueError, match="empty"):
        streaming.entropy_and_diversity(x[:0])
    with pytest.raises(ValueError, match="h must be > 0"):
        streaming.delta_entropy(y, x, -1.0)
    bad = x.copy()
    bad[150, 2] = np.inf
    with pytest.raises(ValueError, match="row 150"):
        streaming.delta_entropy(y, bad, chunk_rows=64)
