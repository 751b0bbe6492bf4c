"""Streamed trajectory analysis against direct (whole-array) computations."""

from __future__ import annotations

import numpy as np
import pytest

import quests_jax as qj
from conftest import md_frames
from quests_jax.compilation import track
from quests_jax.tools import _trajectory
from quests_jax.tools._trajectory import analyse_trajectory


@pytest.mark.parametrize("chunk", [256, 3])
def test_records_equal_direct_computation(chunk, monkeypatch):
    """Frame by frame against the whole-array functions; with chunks of 3 frames the
    window's context crosses chunk boundaries."""
    monkeypatch.setattr(_trajectory, "CHUNK_FRAMES", chunk)
    frames = [f for fs in md_frames(temperatures=(300, 3000), samples=4).values() for f in fs]
    ref = qj.get_descriptors(frames[:2])
    seen = []
    records = analyse_trajectory(
        iter(frames),
        reference=ref,
        window=2,
        threshold=0.5,
        on_frame=lambda i, atoms, per_atom: seen.append((i, per_atom)),
    )
    assert len(records) == len(frames) == len(seen)
    xs = [qj.get_descriptors([f]) for f in frames]
    for i, (rec, x) in enumerate(zip(records, xs, strict=True)):
        assert rec["frame"] == i and rec["n_atoms"] == len(frames[i])
        assert rec["entropy"] == pytest.approx(float(qj.entropy(x)), rel=1e-5)
        dh = np.asarray(qj.delta_entropy(x, x))
        assert rec["dH_self_mean"] == pytest.approx(dh.mean(), rel=1e-5, abs=1e-5)
        np.testing.assert_allclose(seen[i][1]["dH_self"], dh, rtol=1e-5, atol=1e-5)
        dh = np.asarray(qj.delta_entropy(x, ref))
        assert rec["dH_reference_mean"] == pytest.approx(dh.mean(), rel=1e-5, abs=1e-5)
        assert rec["dH_reference_max"] == pytest.approx(dh.max(), rel=1e-5, abs=1e-5)
        assert rec["dH_reference_fraction"] == pytest.approx((dh > 0.5).mean())
        np.testing.assert_allclose(seen[i][1]["dH_reference"], dh, rtol=1e-5, atol=1e-5)
        if i == 0:
            assert rec["dH_previous_mean"] is None and "dH_previous" not in seen[0][1]
            continue
        prev = np.concatenate(xs[max(0, i - 2) : i])
        dh = np.asarray(qj.delta_entropy(x, prev))
        assert rec["dH_previous_max"] == pytest.approx(dh.max(), rel=1e-5, abs=1e-5)
        np.testing.assert_allclose(seen[i][1]["dH_previous"], dh, rtol=1e-5, atol=1e-5)


def test_a_second_trajectory_of_other_lengths_compiles_nothing():
    """Frames are described and summed in chunks by programs keyed by the padded frame
    size and the engine's power-of-two blocks, not by the number of frames or atoms: a
    trajectory of another length and other frame sizes (in the same powers of two)
    compiles nothing."""
    md = md_frames(temperatures=(300, 1500), samples=4)
    first = md[300][:3]  # 3 frames of 32 atoms (96 environments)
    second = md[1500][:1] + [a[:-3] for a in md[300][1:]]  # 4 frames, 32 + 3 x 29 atoms
    ref = qj.get_descriptors(first)
    analyse_trajectory(iter(first), reference=ref, window=2)
    with track() as stats:
        records = analyse_trajectory(iter(second), reference=ref, window=2)
    assert [r["n_atoms"] for r in records] == [32, 29, 29, 29]
    assert stats.programs == 0, stats


def test_trajectory_errors():
    frames = md_frames(temperatures=(300,), samples=2)[300]
    with pytest.raises(ValueError, match="window"):
        analyse_trajectory(frames, window=-1)
    with pytest.raises(ValueError, match="no frames"):
        analyse_trajectory(iter([]))
    with pytest.raises(ValueError, match="width"):
        analyse_trajectory(frames, reference=np.zeros((5, 7), np.float32))


def test_the_reference_is_checked_and_placed_once(monkeypatch):
    """The training set is prepared once for the whole trajectory (it was copied to the
    device and re-checked at every frame), with the same numbers."""
    from quests_jax.information import _engine, _quantities

    frames = [f for fs in md_frames(temperatures=(300, 1500), samples=3).values() for f in fs]
    ref = qj.get_descriptors(frames[:3] + frames[:2])  # a size no frame has
    checked = []
    as_descriptors = _quantities._as_descriptors

    def counting(a, name):
        checked.append(a.shape[0])
        return as_descriptors(a, name)

    monkeypatch.setattr(_quantities, "_as_descriptors", counting)
    built = []
    init = _engine.References.__init__

    def counting_refs(self, x, *args, **kwargs):
        built.append(x.shape[0])
        init(self, x, *args, **kwargs)

    monkeypatch.setattr(_engine.References, "__init__", counting_refs)
    records = analyse_trajectory(iter(frames), reference=ref, window=0)
    assert checked.count(ref.shape[0]) == 1 and built.count(ref.shape[0]) == 1
    for rec, frame in zip(records, frames, strict=True):
        dh = np.asarray(qj.delta_entropy(qj.get_descriptors([frame]), ref))
        assert rec["dH_reference_mean"] == pytest.approx(dh.mean(), rel=1e-5, abs=1e-5)
