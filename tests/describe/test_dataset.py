"""Dataset entry points: parity, one compiled program for any frames, options."""

from __future__ import annotations

import io

import numpy as np
from ase import Atoms

import quests_jax as qj
import quests_jax.describe._dataset as ds
from conftest import cu_cluster, cu_slab, cubic_cu, molecules, small_triclinic_cell, triclinic_cu
from quests_jax._core.progress import Progress, quiet
from quests_jax.compilation import track


def mixed_dataset():
    return [
        cubic_cu(2),
        triclinic_cu(),
        cu_cluster(),
        small_triclinic_cell(),
        *molecules(),
        cubic_cu(3, seed=9),
    ]


def test_parity_on_mixed_dataset(reference):
    frames = mixed_dataset()
    ref = reference.get_descriptors(frames, dtype="float64")
    x64 = qj.get_descriptors(frames, dtype="float64")
    x32 = qj.get_descriptors(frames)
    assert x64.dtype == np.float64 and x32.dtype == np.float32
    assert x64.shape == ref.shape == (sum(len(a) for a in frames), 63)
    np.testing.assert_array_less(np.abs(x64 - ref).max(), 1e-10)
    np.testing.assert_array_less(np.abs(x32 - ref).max(), 1e-5)
    x1, x2 = qj.get_descriptors(frames, dtype="float64", concat=False)
    np.testing.assert_array_equal(np.concatenate([x1, x2], axis=1), x64)


def test_rows_follow_frame_order_with_slab():
    frames = [cu_slab(), cubic_cu(2)]
    x = qj.get_descriptors(frames, dtype="float64")
    single = [qj.get_descriptors([a], dtype="float64") for a in frames]
    np.testing.assert_allclose(x, np.concatenate(single), atol=1e-12)


def random_gas(rng, n_frames):
    frames = []
    for n in rng.integers(1, 70, size=n_frames):
        positions = rng.random((n, 3)) * (n * 12.0) ** (1 / 3)
        frames.append(Atoms("Ar" * n, positions=positions))
    return frames


def test_a_new_dataset_compiles_nothing_new():
    """One compiled program serves any frames: after a first dataset, a second one with
    other sizes, cells and periodicity obtains no program from XLA (not even one read
    from the persistent cache). The old size-bucketed engine compiled ~15 here."""
    first = [cubic_cu(2), *molecules()]
    qj.get_descriptors(first)
    second = [
        *random_gas(np.random.default_rng(0), 200),
        cu_slab(),
        triclinic_cu(),
        small_triclinic_cell(),
        cu_cluster(),
        cubic_cu(3, seed=4),
    ]
    with track() as stats:
        x = qj.get_descriptors(second)
    assert stats.programs == 0, stats
    assert x.shape == (sum(len(a) for a in second), 63)
    # and grouping frames does not change the numbers
    for i in (0, 17, 199, 200, 204):
        start = sum(len(a) for a in second[:i])
        single = qj.get_descriptors([second[i]])
        np.testing.assert_allclose(x[start : start + len(second[i])], single, atol=1e-6)


def test_groups_and_chunks_do_not_change_rows(monkeypatch):
    frames = random_gas(np.random.default_rng(1), 60)
    x = qj.get_descriptors(frames, dtype="float64")
    monkeypatch.setattr(ds, "GROUP_ATOMS", 50)  # many small groups, chunks padded
    np.testing.assert_array_equal(qj.get_descriptors(frames, dtype="float64"), x)


def test_float32_rows_do_not_depend_on_where_the_frame_sits():
    """Displacements are formed in float64 on the host: a frame translated by up to
    1e7 A keeps its float32 descriptors (the device search in float32 was off by
    8e-4 at 1e3 A and gave entropy 3.40 instead of 1.62 at 1e7 A)."""
    atoms = cubic_cu(3, seed=1)
    x = qj.get_descriptors([atoms], dtype="float64")
    for shift in (1e3, 1e5, 1e7):
        moved = atoms.copy()
        moved.positions += shift
        assert np.abs(qj.get_descriptors([moved]) - x).max() < 1e-6


def test_progress_bar_reports_to_stream():
    stream = io.StringIO()
    with Progress(3, "descriptors", enabled=True, stream=stream, interval=0, delay=0) as bar:
        for _ in range(3):
            bar.update()
    out = stream.getvalue()
    assert "descriptors" in out and "3/3" in out and "frames" in out
    assert Progress(3, "x", stream=io.StringIO()).enabled is False  # not a terminal
    # short work stays silent (delay), and nothing is drawn inside quiet()
    stream = io.StringIO()
    with Progress(3, "short", enabled=True, stream=stream) as bar:
        bar.update(3)
    assert stream.getvalue() == ""
    with quiet(), Progress(3, "x", enabled=True, stream=stream, delay=0) as bar:
        bar.update(3)
    assert stream.getvalue() == "" and not bar.enabled
