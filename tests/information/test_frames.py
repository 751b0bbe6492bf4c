"""Quantities of many frames at once (quests_jax.information._frames) against a float64
brute force frame by frame: padded groups, far rows, large frames, and programs that
do not depend on the number of frames."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import quests_jax as qj
from conftest import md_frames
from hostile_data import brute_dh, brute_entropy_diversity, hostile_rows
from quests_jax.compilation import track
from quests_jax.information import _frames, frames_self_metrics, frames_window_delta_entropy

H = np.array([0.015, 0.04])


def _frame_rows(seed: int, sizes, far_share=0.0) -> np.ndarray:
    return hostile_rows(seed, int(sum(sizes)), far_share, 0.05)


def _split(x, sizes):
    return np.split(x, np.cumsum(sizes)[:-1])


def _brute_self(x, sizes, h):
    parts = _split(x, sizes)
    ent = np.stack([brute_entropy_diversity(p, h)[0] for p in parts])
    dh = np.concatenate([brute_dh(p, p, h) for p in parts])
    return ent, dh


def _brute_window(x, sizes, window, h, skip=0):
    parts = _split(x, sizes)
    out = []
    for f in range(skip, len(parts)):
        prev = parts[max(0, f - window) : f]
        if not prev:
            out.append(np.full((len(parts[f]), np.size(h)), np.inf))
        else:
            out.append(brute_dh(parts[f], np.concatenate(prev), h))
    return np.concatenate(out)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_self_metrics_of_frames_of_many_sizes_equal_a_brute_force(dtype):
    sizes = [1, 5, 17, 40, 3, 64, 33]
    x = _frame_rows(0, sizes)
    with jax.enable_x64(dtype == "float64"):
        ent, dh = frames_self_metrics(x.astype(dtype), sizes, H)
    ent_ref, dh_ref = _brute_self(x, sizes, H)
    tol = 1e-10 if dtype == "float64" else 2e-5
    np.testing.assert_allclose(ent, ent_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(dh, dh_ref, rtol=tol, atol=tol)
    assert ent.dtype == np.dtype(dtype) and dh.shape == (sum(sizes), 2)


@pytest.mark.parametrize("window", [1, 2])
def test_window_dh_equals_a_brute_force(window):
    sizes = [12, 20, 7, 31, 16, 9]
    x = _frame_rows(1, sizes)
    dh = frames_window_delta_entropy(x.astype(np.float32), sizes, window, H)
    expected = _brute_window(x, sizes, window, H)
    assert np.isinf(dh[:12]).all() and np.isfinite(dh[12:]).all()
    np.testing.assert_allclose(dh[12:], expected[12:], rtol=2e-5, atol=2e-5)
    # context frames: results only for the frames after them
    tail = frames_window_delta_entropy(x.astype(np.float32), sizes, window, H, skip=2)
    np.testing.assert_allclose(tail, dh[32:], rtol=1e-6)


def test_far_rows_and_large_frames_take_the_exact_frame_by_frame_path(monkeypatch):
    """Rows with entries at 1e3..1e16 (coincident atoms) are beyond the padded
    programs' trusted limit: the group is computed frame by frame, exactly; so are
    frames larger than MAX_CAPACITY."""
    sizes = [10, 25, 14, 30]
    x = _frame_rows(2, sizes, far_share=0.1)
    ent_ref, dh_ref = _brute_self(x, sizes, H)
    prev_ref = _brute_window(x, sizes, 1, H)
    for capacity in (_frames.MAX_CAPACITY, 16):  # 16: the 25- and 30-row frames are large
        monkeypatch.setattr(_frames, "MAX_CAPACITY", capacity)
        with jax.enable_x64(True):
            ent, dh = frames_self_metrics(x, sizes, H)
            prev = frames_window_delta_entropy(x, sizes, 1, H)
        np.testing.assert_allclose(ent, ent_ref, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(dh, dh_ref, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(prev[10:], prev_ref[10:], rtol=1e-10, atol=1e-12)


def test_a_new_number_of_frames_compiles_nothing():
    """The programs depend on the padded frame size (a power of two) only: a second
    set of frames of other sizes and count in the same capacity compiles nothing."""
    first, second = [30, 41, 12, 64] * 3, [50, 33, 7, 60, 19]
    x1, x2 = _frame_rows(3, first), _frame_rows(4, second)
    frames_self_metrics(x1.astype(np.float32), first)
    frames_window_delta_entropy(x1.astype(np.float32), first, 1)
    with track() as stats:
        ent, _ = frames_self_metrics(x2.astype(np.float32), second)
        frames_window_delta_entropy(x2.astype(np.float32), second, 1)
    assert stats.programs == 0, stats
    assert ent.shape == (5,)


def test_frame_entropies_of_md_frames_equal_each_frames_entropy():
    frames = [f for fs in md_frames(temperatures=(300, 3000), samples=3).values() for f in fs]
    x = qj.get_descriptors(frames)
    ent = qj.frame_entropies(x, [len(f) for f in frames])
    for e, f in zip(ent, frames, strict=True):
        assert e == pytest.approx(float(qj.entropy(qj.get_descriptors([f]))), rel=1e-5)


def test_frame_sizes_are_checked():
    x = np.zeros((10, 63), np.float32)
    with pytest.raises(ValueError, match="sum to 9"):
        frames_self_metrics(x, [4, 5])
    with pytest.raises(ValueError, match="positive"):
        frames_self_metrics(x, [10, 0])
    with pytest.raises(ValueError, match="window"):
        frames_window_delta_entropy(x, [10], 0)


def test_resident_rows_log_sums_equal_a_brute_force():
    """A dataset kept on the device against small sets in turn (compression's steps):
    compact sets in one program per size, dataset rows of other phases (far from the
    set) to a relative 1e-6; a set with an outlying row (1e3..1e16 entries) takes the
    exact path."""
    from hostile_data import brute_log_sums

    x = hostile_rows(5, 3000, 0.0, 0.0)  # three phases ~0.7 apart
    resident = _frames.ResidentRows(x.astype(np.float32))
    one_phase = x[np.argsort(np.linalg.norm(x - x[0], axis=1))[:40]]
    got = resident.log_sums(one_phase.astype(np.float32), H)
    expected = brute_log_sums(x, one_phase, H)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=2e-5)
    outlier = one_phase.copy()
    outlier[3, 5] = 1e12
    got = resident.log_sums(outlier.astype(np.float32), H)
    np.testing.assert_allclose(got, brute_log_sums(x, outlier, H), rtol=1e-6, atol=2e-5)
    with track() as stats:  # another dataset, another set of the same power of two
        again = _frames.ResidentRows(hostile_rows(6, 1000, 0.0, 0.0).astype(np.float32))
        again.log_sums(one_phase[:35].astype(np.float32), H)
    assert stats.programs == 0, stats


def test_small_groups_of_frames_join_a_larger_capacity_only_when_cheap():
    few_small = np.array([32] * 5 + [64] * 3 + [256] * 2)
    assert set(_frames.merged_capacities(few_small)) == {256}
    many_small = np.array([32] * 10_000 + [512])
    assert list(_frames.merged_capacities(many_small)) == list(many_small)
