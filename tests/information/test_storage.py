"""Chunked descriptor files: same rows as in memory, header rewritten, nothing left
behind on failure, no silent overwrite."""

from __future__ import annotations

import numpy as np
import pytest

import quests_jax as qj
from conftest import cubic_cu


def _frames(n=5):
    frames = []
    for i in range(n):
        atoms = cubic_cu(2, seed=i)
        frames.append(atoms.repeat((1, 1, 1 + i % 2)))  # 32 and 64 atoms
    return frames


def test_chunks_equal_in_memory(tmp_path, monkeypatch):
    from quests_jax._core import npy_files

    frames = _frames()
    path = tmp_path / "d.npy"
    sizes = qj.write_descriptors(iter(frames), str(path), chunk_atoms=50)  # several chunks
    assert sizes.tolist() == [len(a) for a in frames]
    x = qj.open_descriptors(str(path))  # read: under 1 GiB
    assert not isinstance(x, np.memmap)
    assert x.shape == (sum(sizes), 63) and x.dtype == np.float32
    np.testing.assert_allclose(x, qj.get_descriptors(frames), atol=1e-6)
    assert np.load(path).shape == x.shape  # a plain .npy too
    monkeypatch.setattr(npy_files, "MAP_ABOVE_BYTES", 0)  # as over 1 GiB: mapped
    mapped = qj.open_descriptors(str(path))
    assert isinstance(mapped, np.memmap)
    np.testing.assert_array_equal(mapped, x)


def test_float64_and_refusals(tmp_path):
    frames = _frames(2)
    path = tmp_path / "d.npy"
    qj.write_descriptors(frames, str(path), dtype="float64", k=8)
    x = qj.open_descriptors(str(path))
    assert x.dtype == np.float64 and x.shape == (96, 15)
    np.testing.assert_allclose(x, qj.get_descriptors(frames, k=8, dtype="float64"), atol=1e-12)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        qj.write_descriptors(frames, str(path))
    with pytest.raises(ValueError, match="empty"):
        qj.write_descriptors([], str(path), overwrite=True)
    bad = _frames(2)
    bad[1].positions[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        qj.write_descriptors(bad, str(path), overwrite=True, chunk_atoms=1)
    assert path.read_bytes() == before  # failed runs leave the old file alone
    assert not (tmp_path / "d.npy.partial").exists()
    with pytest.raises(ValueError, match=".npy"):
        qj.write_descriptors(frames, str(tmp_path / "d.npz"))
