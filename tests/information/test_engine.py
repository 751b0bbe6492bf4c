"""The block engine and the execution rule: the same numbers as the traced scans, and
programs keyed by settings, not by the number of rows."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import quests_jax as qj
from hostile_data import brute_dh, brute_entropy_diversity, sq_distances
from quests_jax import execution
from quests_jax.compilation import track
from quests_jax.information import _engine as engine


def sets(seed=0, n=(300, 120), d=12):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n[0], d)) * 0.05).astype(np.float32)
    y = (rng.normal(size=(n[1], d)) * 0.06).astype(np.float32)
    y[:4] += 3.0  # far rows: every kernel underflows
    return x, y


def traced(fn, *args):
    """The traced (pure scan) path of fn: called inside jit."""
    return np.asarray(jax.jit(fn)(*args))


@pytest.mark.slow
@pytest.mark.parametrize("block_size", [8, 40, None])
def test_engine_equals_traced_path(block_size):
    x, y = sets()
    h = np.array([0.02, 0.05], np.float32)
    np.testing.assert_allclose(
        np.asarray(qj.entropy(x, h, block_size)),
        traced(lambda a: qj.entropy(a, h, block_size), x),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        np.asarray(qj.delta_entropy(y, x, h, block_size)),
        traced(lambda a, b: qj.delta_entropy(a, b, h, block_size), y, x),
        rtol=1e-5,
        atol=1e-5,
    )
    q, p = qj.weighted_kernel_sum(y, x, np.arange(300.0), h, block_size)
    q_t, p_t = jax.jit(lambda a, b: qj.weighted_kernel_sum(a, b, np.arange(300.0), h, block_size))(
        y, x
    )
    np.testing.assert_allclose(np.asarray(q), np.asarray(q_t), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(p), np.asarray(p_t), rtol=1e-4, atol=1e-30)


def test_float64_engine_against_brute_force():
    x, y = sets(1, (90, 33))
    with jax.enable_x64(True):
        x64, y64 = x.astype(np.float64), y.astype(np.float64)
        h = 0.03
        d2 = ((y64[:, None, :] - x64[None, :, :]) ** 2).sum(-1)
        s = -d2 / (2 * h * h)
        top = s.max(axis=1)
        expected = -(top + np.log(np.exp(s - top[:, None]).sum(axis=1)))
        np.testing.assert_allclose(
            np.asarray(qj.delta_entropy(y64, x64, h, 16)), expected, rtol=1e-10
        )
        d2 = ((x64[:, None, :] - x64[None, :, :]) ** 2).sum(-1)
        p = np.exp(-d2 / (2 * h * h)).sum(axis=1)
        assert float(qj.entropy(x64, h, 16)) == pytest.approx(
            np.log(90) - np.log(p).mean(), rel=1e-12
        )


def test_a_new_number_of_rows_compiles_nothing_new():
    """Entropy, diversity, dH, overlap and weighted sums on new row counts (one block
    or more, with a partial last block) obtain no program from XLA once one call of
    each has run. The size-keyed scans compiled every one of them again."""
    x, y = sets(2, (700, 300))
    h = 0.04
    # the warm-up's queries span two blocks: one with the far rows (the block program's
    # exact-distance variant), one without (the plain one)
    qj.entropy_and_diversity(x[:200], h, 64)
    qj.delta_entropy(y[:100], x[:200], h, 64)
    qj.overlap(y[:100], x[:200], h, batch_size=64)
    qj.weighted_kernel_sum(y[:100], x[:200], np.ones(200), h, 64)
    qj.get_all_metrics(x[:200], h, 64)
    with track() as stats:
        for n_x, n_y in ((700, 300), (333, 97), (65, 129)):
            qj.entropy(x[:n_x], h, 64)
            qj.diversity(x[:n_x], h, 64)
            qj.delta_entropy(y[:n_y], x[:n_x], h, 64)
            qj.overlap(y[:n_y], x[:n_x], h, batch_size=64)
            qj.weighted_kernel_sum(y[:n_y], x[:n_x], np.ones(n_x), h, 64)
            qj.get_all_metrics(x[:n_x], h, 64)
    assert stats.programs == 0, stats


def test_blocks_are_prepared_on_the_host():
    """A first run at a new block size obtains from XLA only the sum programs (the
    diagonal and off-diagonal self sums for entropy, one log step for dH): each
    block's centre and norms are prepared on the host, which compiles nothing (a
    program per block size cost ~0.16 s of every cold run). Prepared on the host,
    they still agree with a float64 brute force."""
    x, y = sets(4, (200, 90))
    h = 0.04
    with track() as stats:
        entropy = float(qj.entropy(x, h, 56))
    assert stats.programs == 2, stats
    with track() as stats:
        dh = np.asarray(qj.delta_entropy(y[4:], x, h, 56))
    assert stats.programs == 1, stats
    x64, y64 = x.astype(np.float64), y[4:].astype(np.float64)
    np.testing.assert_allclose(dh, brute_dh(y64, x64, h)[:, 0], rtol=1e-5, atol=1e-5)
    assert entropy == pytest.approx(float(brute_entropy_diversity(x64, h)[0][0]), rel=1e-5)


def test_masks_on_the_engine_path():
    x, y = sets(3)
    mask = np.arange(300) % 3 != 0
    y_mask = np.arange(120) % 2 == 0
    np.testing.assert_allclose(
        float(qj.entropy(x, 0.05, mask=mask)), float(qj.entropy(x[mask], 0.05)), rtol=1e-6
    )
    dh = np.asarray(qj.delta_entropy(y, x, 0.05, y_mask=y_mask, x_mask=mask))
    np.testing.assert_allclose(
        dh[y_mask], np.asarray(qj.delta_entropy(y[y_mask], x[mask], 0.05)), rtol=1e-6
    )
    assert np.isposinf(dh[~y_mask]).all()
    # the masked-row policy (quests_jax._core.padding): the value of an empty sum
    _, _, per_row = qj.get_all_metrics(x, 0.05, mask=mask)
    assert np.isposinf(np.asarray(per_row)[~mask]).all()
    _, _, traced = jax.jit(lambda a, m: qj.get_all_metrics(a, 0.05, mask=m))(x, mask)
    assert np.isposinf(np.asarray(traced)[~mask]).all()


def test_streamed_equals_memory(tmp_path):
    x, y = sets(4)
    np.save(tmp_path / "x.npy", x)
    xm = np.load(tmp_path / "x.npy", mmap_mode="r")
    for fn in (
        lambda e: qj.entropy(xm, 0.05, 32, execution=e),
        lambda e: qj.delta_entropy(y, xm, 0.05, 32, execution=e),
    ):
        np.testing.assert_allclose(np.asarray(fn("streamed")), np.asarray(fn("memory")), rtol=1e-6)


@pytest.mark.unchecked_types
def test_the_execution_rule(monkeypatch, tmp_path):
    x, _ = sets()
    assert execution.choose([x]) == "memory"
    assert execution.choose([x], "streamed") == "streamed"
    np.save(tmp_path / "x.npy", x)
    xm = np.load(tmp_path / "x.npy", mmap_mode="r")
    monkeypatch.setattr(execution, "STREAM_ABOVE_BYTES", 1000)
    assert execution.choose([xm]) == "streamed"
    assert execution.choose([x]) == "memory"  # in memory already
    with pytest.raises(ValueError, match="execution must be one of"):
        qj.entropy(x, 0.05, execution="gpu")
    with pytest.raises(ValueError, match="needs concrete arrays"):
        jax.jit(lambda a: qj.entropy(a, 0.05, execution="memory"))(x)
    seen = []
    jax.jit(lambda a: seen.append(execution.choose([a])) or a)(x)
    assert seen == ["traced"]


def test_block_programs_are_keyed_by_settings():
    x, _ = sets()
    h = np.array([0.05], np.float32)
    engine.self_sums(x[:100], h, block_size=64)
    with track() as stats:
        engine.self_sums(x, h, block_size=64)  # 5 blocks instead of 2: same programs
    assert stats.programs == 0
    with track() as stats:
        engine.self_sums(x, np.array([0.05, 0.1], np.float32), block_size=64)  # two bandwidths
    assert stats.programs > 0


def spread_rows(n, seed, d=12, length=6.0):
    """Rows along a line 6 long (a family of environments, e.g. a strain path) with
    0.01 of noise, shuffled: in file order every block spans the whole line."""
    rng = np.random.default_rng(seed)
    direction = np.random.default_rng(99).normal(size=d)
    direction /= np.linalg.norm(direction)
    t = rng.uniform(0.0, length, size=n)
    rows = t[:, None] * direction + rng.normal(scale=0.01, size=(n, d))
    return rows.astype(np.float32)


def test_compact_order_gathers_nearby_rows_into_blocks():
    x = spread_rows(640, seed=1)
    order = engine.compact_order(x, 32)
    np.testing.assert_array_equal(np.sort(order), np.arange(640))
    radii = [engine.mean_extent(x[order][s : s + 32])[1] for s in range(0, 640, 32)]
    assert engine.widest_radius(x, 32) > 2.0 and np.median(radii) < 0.3
    # which sets get ordered (limit 0.25: radius 0.5): wide ones of several blocks;
    # compact ones keep their order, and so do the references of one wide query block
    wide, compact = x, np.sort(x, axis=0)[:32]
    assert [o is None for o in engine._orders(wide, wide, 32, 32, 0.25)] == [False, False]
    assert [o is None for o in engine._orders(compact, wide, 32, 32, 0.25)] == [True, False]
    assert [o is None for o in engine._orders(wide[:32], wide, 32, 32, 0.25)] == [True, True]
    assert [o is None for o in engine._orders(wide, compact, 32, 32, 0.25)] == [False, True]


def test_heterogeneous_sets_run_few_block_pairs_exactly(monkeypatch):
    """dH and kernel-weighted sums of widely spread rows: the same numbers as a float64
    brute force, in the caller's row order, with most block pairs on the split
    arithmetic (in file order every pair ran the exact-distance program: checked,
    this test failed there)."""
    x, y = spread_rows(1024, seed=2), spread_rows(256, seed=3)
    h = 0.05
    calls = {True: 0, False: 0}
    log_step = engine._log_step

    def counting(*args, **kw):
        calls[kw["exact"]] += 1
        return log_step(*args, **kw)

    monkeypatch.setattr(engine, "_log_step", counting)
    dh = np.asarray(qj.delta_entropy(y, x, h, 32))
    assert calls[True] + calls[False] == 8 * 32
    assert calls[True] < 0.6 * (8 * 32), calls

    y64, x64 = y.astype(np.float64), x.astype(np.float64)
    exact_dh = brute_dh(y64, x64, h)[:, 0]
    err = np.abs(dh - exact_dh) / np.maximum(np.abs(exact_dh), 1.0)
    assert err.max() < 5e-5

    w = np.random.default_rng(4).random(x.shape[0])
    q, p = qj.weighted_kernel_sum(y, x, w.astype(np.float32), h, 32)
    k = np.exp(-sq_distances(y64, x64) / (2 * h * h) + exact_dh[:, None])  # K / sum K
    np.testing.assert_allclose(np.asarray(q), k @ w, rtol=1e-4)
    np.testing.assert_allclose(np.log(np.asarray(p, np.float64)), -exact_dh, rtol=0, atol=1e-4)


def test_reference_rows_prepared_once_equal_delta_entropy(monkeypatch):
    """ReferenceRows: the reference set is checked, ordered and put on the device once
    (its blocks prepared once for three query sets), and every dH equals a float64
    brute force, in the caller's order, with masks, several bandwidths, and a query
    set reaching farther than the reference (its padding is then moved farther)."""
    x = spread_rows(640, seed=5)  # wide: put in compact order once
    queries = [spread_rows(96, seed=6), spread_rows(40, seed=7), spread_rows(200, seed=8)]
    queries[2][:3] += 9.0  # farther than any reference row
    h = np.array([0.05, 0.08], np.float32)
    prepared = []
    blocks_init = engine.Blocks.__init__

    def counting(self, *args, **kwargs):
        prepared.append(args[0].shape[0])
        blocks_init(self, *args, **kwargs)

    train = qj.information.ReferenceRows(x, h, 32)
    assert train._refs.order is not None
    monkeypatch.setattr(engine.Blocks, "__init__", counting)
    made = []  # reference blocks made by each call of train.delta_entropy
    for i, y in enumerate(queries):
        mask = np.arange(y.shape[0]) % 5 != 1
        before = len(prepared)
        dh = np.asarray(train.delta_entropy(y, y_mask=mask))
        made.append(prepared[before:].count(x.shape[0]))
        exact = brute_dh(y[mask].astype(np.float64), x.astype(np.float64), h)
        err = np.abs(dh[mask] - exact) / np.maximum(np.abs(exact), 1.0)
        assert err.max() < 5e-5, (i, err.max())
        assert np.isposinf(dh[~mask]).all()
        np.testing.assert_allclose(
            dh[mask], np.asarray(qj.delta_entropy(y[mask], x, h, 32)), rtol=1e-5
        )
    # reference blocks made for the first query set, and again for the far one only
    assert made == [1, 0, 1]
    with pytest.raises(ValueError, match="mismatched descriptor widths"):
        train.delta_entropy(np.zeros((3, 5), np.float32))
