"""Descriptor files: what quests_jax writes the reference reads (np.load gives the
array), and quests_jax reads its own metadata, the reference's files and its older
archives."""

from __future__ import annotations

import numpy as np
import pytest

from quests_jax._core.output_files import OutputExistsError
from quests_jax.describe._files import read_descriptor_file, save_descriptor_file


@pytest.fixture
def x():
    return np.random.default_rng(0).random((10, 7)).astype(np.float32)


def test_the_array_comes_first_and_the_metadata_survives(x, tmp_path):
    path = tmp_path / "d.npz"
    assert save_descriptor_file(path, x, [4, 6], k=4, cutoff=5.0) == (10, 7)
    with open(path, "rb") as f:  # what the reference's load_file does
        np.testing.assert_array_equal(np.load(f), x)
    np.testing.assert_array_equal(np.load(path, mmap_mode="r"), x)
    found = read_descriptor_file(path)
    np.testing.assert_array_equal(found.x, x)
    assert (found.k, found.cutoff, found.frame_sizes.tolist()) == (4, 5.0, [4, 6])


def test_reshape_only_when_every_frame_has_the_same_size(x, tmp_path):
    assert save_descriptor_file(tmp_path / "a.npz", x, [5, 5], k=4, cutoff=5.0, reshape=True) == (
        2,
        5,
        7,
    )
    assert np.load(tmp_path / "a.npz").shape == (2, 5, 7)
    found = read_descriptor_file(tmp_path / "a.npz")
    np.testing.assert_array_equal(found.x, x)
    assert found.frame_sizes.tolist() == [5, 5]
    assert save_descriptor_file(tmp_path / "b.npz", x, [4, 6], k=4, cutoff=5.0, reshape=True) == (
        10,
        7,
    )


def test_reads_the_reference_files_and_the_older_archives(x, tmp_path):
    with open(tmp_path / "ref.npz", "wb") as f:  # quests make_descriptors: np.save
        np.save(f, x.reshape(2, 5, 7))
    found = read_descriptor_file(tmp_path / "ref.npz")
    assert found.x.shape == (10, 7) and found.frame_sizes.tolist() == [5, 5]
    assert found.k is None and found.cutoff is None
    with open(tmp_path / "old.npz", "wb") as f:
        np.savez(f, descriptors=x, frame_sizes=[3, 7], k=4, cutoff=4.5)
    found = read_descriptor_file(tmp_path / "old.npz")
    assert (found.k, found.cutoff, found.frame_sizes.tolist()) == (4, 4.5, [3, 7])
    with open(tmp_path / "other.npz", "wb") as f:
        np.savez(f, something=x)
    with pytest.raises(ValueError, match="no 'descriptors'"):
        read_descriptor_file(tmp_path / "other.npz")


def test_never_overwrites_unless_asked(x, tmp_path):
    path = tmp_path / "d.npz"
    save_descriptor_file(path, x, k=4, cutoff=5.0)
    with pytest.raises(OutputExistsError):
        save_descriptor_file(path, x, k=4, cutoff=5.0)
    save_descriptor_file(path, 2 * x, k=4, cutoff=5.0, overwrite=True)
    np.testing.assert_array_equal(np.load(path), 2 * x)
    with pytest.raises(ValueError, match="sum to"):
        save_descriptor_file(tmp_path / "e.npz", x, [1, 2], k=4, cutoff=5.0)
