"""Compression: the greedy msc / msc_conditional / fps choose the same frames as the
reference package, summaries agree with its DatasetCompressor; baselines checked
against independent computations."""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest
from ase.build import bulk

import quests_jax as qj
from conftest import cu_cluster, md_frames, rattle
from quests_jax import tools as compression
from quests_jax.tools._frame_sets import FrameSet


@functools.cache
def datasets() -> dict:
    """Lists of frames of several kinds (float64 descriptors, reference layout)."""
    md = [
        f for fs in md_frames(temperatures=(300, 800, 1500, 3000), samples=5).values() for f in fs
    ]
    rng = np.random.default_rng(0)
    cell = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    rattled = [rattle(cell, rng.uniform(0.02, 0.3), s) for s in range(14)]
    mixed = md[::2] + [cu_cluster(seed=s) for s in range(4)] + rattled[:6]
    return {"md": md, "rattled": rattled, "mixed": mixed}


def descriptors(name):
    return [qj.get_descriptors([f], dtype="float64") for f in datasets()[name]]


def frame_entropies_ref(desc):
    from quests.entropy import entropy

    return np.array([entropy(x) for x in desc])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["md", "rattled", "mixed"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_msc_and_fps_choose_the_reference_frames(name, dtype):
    ref = pytest.importorskip("quests.compression.fps")
    desc = descriptors(name)
    ent = frame_entropies_ref(desc)
    size = len(desc) - 3
    expected_msc = [int(i) for i in ref.msc(desc, ent, size)]
    expected_fps = [int(i) for i in ref.fps(desc, ent, size)]
    with jax.enable_x64(dtype == "float64"):
        data = FrameSet.from_list([d.astype(dtype) for d in desc])
        assert compression.msc(data, size).tolist() == expected_msc
        assert compression.fps(data, size).tolist() == expected_fps


@pytest.mark.parametrize("name", ["md", "mixed"])
def test_msc_conditional_matches_reference(name):
    ref = pytest.importorskip("quests.compression.fps")
    desc = descriptors(name)
    known, candidates = desc[:4], desc[4:]
    ent = frame_entropies_ref(candidates)
    expected = [int(i) for i in ref.msc_conditional(candidates, ent, 6, known)]
    with jax.enable_x64(True):
        got = compression.msc_conditional(FrameSet.from_list(candidates), 6, np.concatenate(known))
    assert got.tolist() == expected
    # no reference: plain msc
    with jax.enable_x64(True):
        data = FrameSet.from_list(candidates)
        np.testing.assert_array_equal(
            compression.msc_conditional(data, 5, None), compression.msc(data, 5)
        )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_summary_matches_reference_compressor(dtype):
    pytest.importorskip("quests.compression.compress")
    from quests.compression.compress import DatasetCompressor

    frames = datasets()["mixed"]
    comp = DatasetCompressor(frames)
    selected = [int(i) for i in comp.get_indices("msc", 6)]
    expected = comp.get_summary(selected)
    with jax.enable_x64(dtype == "float64"):
        data = FrameSet.from_list([d.astype(dtype) for d in descriptors("mixed")])
        got = compression.summary(data, selected)
    for key in ("original_size", "compressed_size", "original_envs", "compressed_envs"):
        assert got[key] == expected[key]
    for key in ("entropy", "diversity"):
        assert got[key] == pytest.approx(expected[key], rel=1e-5)
    assert got["overlap"] == pytest.approx(expected["overlap"], abs=2 / data.n_envs)


def test_mean_fps_matches_reference_from_the_same_start():
    from quests.compression.baseline import mean_fps

    desc = descriptors("mixed")
    np.random.seed(7)
    start = np.random.randint(0, len(desc))
    np.random.seed(7)
    expected = [int(i) for i in mean_fps(desc, None, 8)]
    with jax.enable_x64(True):
        got = compression.mean_fps(FrameSet.from_list(desc), 8, start=start)
    assert got.tolist() == expected


def test_k_means_finds_separated_clusters():
    """Four tight, far-apart groups of frames: k = 4 picks one frame from each, and
    the one nearest its group's mean (computed here by brute force)."""
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(4, 5)) * 10
    groups = rng.integers(0, 4, size=40)
    frames = [centres[g] + 0.1 * rng.normal(size=(rng.integers(2, 6), 5)) for g in groups]
    data = FrameSet.from_list(frames)
    got = compression.k_means(data, 4, seed=1)
    assert sorted(groups[got].tolist()) == [0, 1, 2, 3]
    means = data.frame_means()
    for i in got:
        members = np.flatnonzero(groups == groups[i])
        centre = means[members].mean(0)
        nearest = members[np.argmin(((means[members] - centre) ** 2).sum(1))]
        assert i == nearest


def test_k_means_entropy_picks_each_clusters_highest_entropy_frame():
    """The reference's k_means_entropy: the same clusters, the frame of highest given
    entropy in each (checked against the groups, by brute force)."""
    rng = np.random.default_rng(4)
    centres = rng.normal(size=(3, 5)) * 10
    groups = rng.integers(0, 3, size=30)
    frames = [centres[g] + 0.1 * rng.normal(size=(3, 5)) for g in groups]
    entropies = rng.random(30)
    data = FrameSet.from_list(frames)
    got = compression.k_means(data, 3, seed=0, pick="entropy", entropies=entropies)
    assert sorted(groups[got].tolist()) == [0, 1, 2]
    for i in got:
        members = np.flatnonzero(groups == groups[i])
        assert i == members[np.argmax(entropies[members])]
    from quests_jax.compat.compression.baseline import k_means_entropy

    assert sorted(k_means_entropy(frames, entropies, 3)) == sorted(got.tolist())
    with pytest.raises(ValueError, match="pick"):
        compression.k_means(data, 3, pick="median")


def test_random_and_every_method_return_distinct_valid_indices():
    data = FrameSet.from_list(descriptors("rattled"))
    for method in ("msc", "fps", "mean_fps", "k_means", "random"):
        got = compression.compress(data, 5, method)
        assert len(got) == 5 and len(set(got.tolist())) == 5, method
        assert got.min() >= 0 and got.max() < data.n_frames
    a = compression.random_sample(data, 5, seed=1)
    np.testing.assert_array_equal(a, compression.random_sample(data, 5, seed=1))
    # a fraction rounds like the reference CLI
    assert len(compression.compress(data, 0.5, "random")) == round(0.5 * data.n_frames)


def test_log_space_msc_separates_frames_the_reference_ties():
    """Far from everything chosen, every kernel underflows in float64 and the
    reference's scores are all +inf (ties broken by index); the log-space
    accumulator still ranks the frames by their true novelty."""
    base = np.zeros((3, 4))
    frames = [base, base + 5.0, base + 1.0, base + 9.0]  # frame 3 is the farthest
    data = FrameSet.from_list(frames)
    ent = np.zeros(4)
    with jax.enable_x64(True):
        got = compression.msc(data, 2, entropies=ent)
    assert got.tolist() == [0, 3]


@pytest.mark.parametrize(
    "size, message",
    [(0, "size"), (-0.5, "size"), (99, "larger than the dataset"), (2.5, "whole number")],
)
def test_bad_sizes_are_named(size, message):
    data = FrameSet.from_list(descriptors("rattled"))
    with pytest.raises(ValueError, match=message):
        compression.compress(data, size, "random")


def test_bad_method_and_reference_width():
    data = FrameSet.from_list(descriptors("rattled"))
    with pytest.raises(ValueError, match="unknown compression method"):
        compression.compress(data, 2, "best")
    with pytest.raises(ValueError, match="reference must be"):
        compression.msc_conditional(data, 2, np.zeros((3, 5)))


def test_frame_set_checks_its_input():
    with pytest.raises(ValueError, match="empty"):
        FrameSet.from_list([])
    with pytest.raises(ValueError, match="sum to"):
        FrameSet(np.zeros((4, 3)), [2, 3])
    with pytest.raises(ValueError, match="no environments"):
        FrameSet(np.zeros((4, 3)), [4, 0])
    with pytest.raises(ValueError, match="NaN"):
        FrameSet(np.full((2, 3), np.nan), [2])
    with pytest.raises(ValueError, match="one width"):
        FrameSet.from_list([np.zeros((2, 3)), np.zeros((2, 4))])


def test_the_greedy_methods_take_their_arguments_in_one_order():
    """msc, msc_conditional (after its reference) and fps: (data, size, h, batch_size);
    fps took batch_size before h, so fps(data, 3, 0.05) read 0.05 as a block size."""
    import inspect

    def params(fn, skip=()):
        names = [p for p in inspect.signature(fn).parameters if p not in skip]
        return names[:4]

    assert params(compression.msc) == ["data", "size", "h", "batch_size"]
    assert params(compression.fps) == ["data", "size", "h", "batch_size"]
    assert params(compression.msc_conditional, ("reference",)) == params(compression.msc)
    frames = [f for fs in md_frames(temperatures=(300, 1500), samples=3).values() for f in fs]
    data = FrameSet(qj.get_descriptors(frames), [len(a) for a in frames])
    by_position = compression.fps(data, 3, 0.05)
    np.testing.assert_array_equal(by_position, compression.fps(data, 3, h=0.05))
