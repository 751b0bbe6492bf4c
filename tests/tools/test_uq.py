"""The uncertainty report against a direct computation of dH."""

from __future__ import annotations

import numpy as np
import pytest

import quests_jax as qj
from conftest import md_frames
from quests_jax.tools._frame_sets import FrameSet
from quests_jax.tools._uq import uq_report


def test_report_matches_direct_dh():
    runs = md_frames(temperatures=(300, 1200), samples=3)
    train = qj.get_descriptors(runs[300])
    test_frames = runs[1200] + runs[300][:1]
    xs = [qj.get_descriptors([f]) for f in test_frames]
    test = FrameSet.from_list(xs)
    report, dh = uq_report(test, train, threshold=1.0, top=4)
    direct = np.asarray(qj.delta_entropy(test.x, train))
    np.testing.assert_allclose(dh, direct, rtol=1e-6, atol=1e-6)
    assert report["n_above"] == int((direct > 1.0).sum())
    assert report["fraction_above"] == pytest.approx((direct > 1.0).mean())
    assert report["dH_max"] == pytest.approx(direct.max(), rel=1e-6)
    for f, x in enumerate(xs):
        frame = report["frames"][f]
        d = np.asarray(qj.delta_entropy(x, train))
        assert frame["dH_max"] == pytest.approx(d.max(), rel=1e-5, abs=1e-5)
        assert frame["fraction_above"] == pytest.approx((d > 1.0).mean())
    worst = report["worst_atoms"]
    assert [w["dH"] for w in worst] == sorted((w["dH"] for w in worst), reverse=True)
    for w in worst:  # (frame, atom) point at the right environment
        assert dh[test.starts[w["frame"]] + w["atom"]] == pytest.approx(w["dH"])
    assert worst[0]["dH"] == pytest.approx(direct.max(), rel=1e-6)
    assert [w["dH_max"] for w in report["worst_frames"]] == sorted(
        (f["dH_max"] for f in report["frames"]), reverse=True
    )[:4]
    # the training frame itself is the least novel
    assert report["frames"][-1]["dH_max"] < min(f["dH_max"] for f in report["frames"][:-1])


def test_report_errors():
    test = FrameSet.from_list([np.zeros((3, 63), np.float32)])
    with pytest.raises(ValueError, match="train must be"):
        uq_report(test, np.zeros((4, 5)))
    with pytest.raises(ValueError, match="threshold"):
        uq_report(test, np.zeros((4, 63)), threshold=np.nan)
