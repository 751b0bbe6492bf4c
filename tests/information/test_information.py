"""Entropy, diversity, dH and friends: parity with the reference package (same
descriptors as input), a float64 log-space brute force where the reference
overflows, jit/vmap, and input checks."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk
from scipy.special import logsumexp

import quests_jax as qj
from conftest import cu_cluster, cubic_cu, md_frames, molecules, rattle, triclinic_cu

H_VECTOR = np.array([0.01, 0.015, 0.03])


@functools.cache
def datasets() -> dict:
    """float64 descriptors of several kinds of data."""
    frames = {f"md_{t}K": f for t, f in md_frames().items()}
    frames["crystals"] = [cubic_cu(3, seed=s) for s in range(2)] + [triclinic_cu()]
    frames["clusters"] = [cu_cluster(seed=s) for s in range(3)]
    frames["molecules"] = molecules()
    # rattled 256-atom cells at a spread of amplitudes, like the benchmark data: hot
    # queries sit far from the centres of the warm reference blocks, where float32
    # matmul distances alone would miss 1e-5 (see quests_jax.information._kernels)
    rng = np.random.default_rng(42)
    for name, amplitudes, count in (("warm", (0.05, 0.15), 16), ("hot", (0.15, 0.3), 6)):
        frames[name] = [
            rattle(
                bulk("Cu", "fcc", a=3.61, cubic=True).repeat((4, 4, 4)), rng.uniform(*amplitudes), s
            )
            for s in range(count)
        ]
    return {name: qj.get_descriptors(f, dtype="float64") for name, f in frames.items()}


NAMES = ["md_300K", "md_1200K", "md_3000K", "crystals", "clusters", "molecules"]


def brute_dh(y, x, h):
    d2 = ((y[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    return -logsumexp(-d2 / (2 * h**2), axis=1)


@pytest.mark.parametrize("name", NAMES)
def test_entropy_and_diversity_match_reference(name, reference):
    ref = pytest.importorskip("quests.entropy")
    x = datasets()[name]
    for h in (0.015, H_VECTOR):
        expected_h = ref.entropy(x, h)
        expected_d = ref.diversity(x, h)
        with jax.enable_x64(True):
            np.testing.assert_allclose(qj.entropy(x, h), expected_h, rtol=1e-9)
            np.testing.assert_allclose(qj.diversity(x, h), expected_d, rtol=1e-9)
            both = qj.entropy_and_diversity(x, h)
            np.testing.assert_allclose(both, [expected_h, expected_d], rtol=1e-9)
        x32 = x.astype(np.float32)
        np.testing.assert_allclose(qj.entropy(x32, h), expected_h, rtol=1e-5)
        np.testing.assert_allclose(qj.diversity(x32, h), expected_d, rtol=1e-5)


@pytest.mark.parametrize(
    "name, reference_set",
    [
        ("md_1200K", "md_300K"),
        ("md_3000K", "md_300K"),
        ("clusters", "md_300K"),
        ("crystals", "md_300K"),
        ("molecules", "md_300K"),
        ("hot", "warm"),
    ],
)
def test_delta_entropy_matches_reference_and_stays_finite(name, reference_set, reference):
    ref = pytest.importorskip("quests.entropy")
    x = datasets()[reference_set]
    y = datasets()[name]
    with np.errstate(divide="ignore"):
        expected = ref.delta_entropy(y, x, 0.015)
    # the reference sums exp() in linear space: +inf once every kernel underflows, and
    # already imprecise where the sum is subnormal (dH > -log(tiny) = 708.4)
    finite = expected < -np.log(np.finfo(np.float64).tiny)
    scale = np.maximum(np.abs(expected[finite]), 1.0)
    with jax.enable_x64(True):
        got64 = np.asarray(qj.delta_entropy(y, x, 0.015))
    got32 = np.asarray(qj.delta_entropy(y.astype(np.float32), x.astype(np.float32), 0.015))
    assert np.all(np.abs(got64[finite] - expected[finite]) / scale < 1e-9)
    assert np.all(np.abs(got32[finite] - expected[finite]) / scale < 1e-5)
    # where the reference underflows, we give the (finite) log-space value
    assert np.isfinite(got64).all() and np.isfinite(got32).all()
    if (~finite).any():
        exact = brute_dh(y[~finite], x, 0.015)
        np.testing.assert_allclose(got64[~finite], exact, rtol=1e-12)
        np.testing.assert_allclose(got32[~finite], exact, rtol=1e-5)


def test_infinite_reference_case_is_exercised(reference):
    """The molecules are far from bulk copper: the reference overflows to +inf."""
    ref = pytest.importorskip("quests.entropy")
    with np.errstate(divide="ignore"):
        values = ref.delta_entropy(datasets()["molecules"], datasets()["md_300K"], 0.015)
    assert np.isinf(values).any()


def test_multi_bandwidth_delta_entropy_and_all_metrics(reference):
    ref = pytest.importorskip("quests.entropy")
    x, y = datasets()["md_300K"], datasets()["md_1200K"]
    with jax.enable_x64(True):
        dh = np.asarray(qj.delta_entropy(y, x, H_VECTOR))
        ent, div, self_dh = qj.get_all_metrics(x, 0.015)
    assert dh.shape == (len(y), 3)
    np.testing.assert_allclose(dh, ref.delta_entropy(y, x, H_VECTOR), rtol=1e-9)
    r_ent, r_div, r_dh = ref.get_all_metrics(x, 0.015)
    np.testing.assert_allclose([ent, div], [r_ent, r_div], rtol=1e-9)
    np.testing.assert_allclose(self_dh, r_dh, rtol=1e-9, atol=1e-12)


def test_overlap_kernel_sum_weighted(reference):
    ref = pytest.importorskip("quests.entropy")
    x = datasets()["md_300K"]
    y = np.concatenate([x[:40], datasets()["md_3000K"][:40]])
    with jax.enable_x64(True):
        # x[:40] lie in x: dH = -log(1 + ...) < 0; the liquid ones do not
        assert float(qj.overlap(y, x, 0.015)) == pytest.approx(
            (ref.delta_entropy(y, x, 0.015) < 1e-5).mean()
        )
        np.testing.assert_allclose(
            qj.kernel_sum(y, x, 0.015), ref.kernel_sum(y, x, 0.015), rtol=1e-9
        )
        w = np.linspace(0.0, 1.0, len(x))
        q, p = qj.weighted_kernel_sum(y, x, w, 0.015)
        rq, rp = ref.weighted_kernel_sum(y, x, w, 0.015)
        np.testing.assert_allclose(q, rq, rtol=1e-9)
        np.testing.assert_allclose(p, rp, rtol=1e-9)
        # keyword calls mean what they mean in the reference (x: queries, y: references)
        for fn, args in [("kernel_sum", {}), ("weighted_kernel_sum", {"w": w})]:
            ours = getattr(qj, fn)(x=y, y=x, h=0.015, **args)
            theirs = getattr(ref, fn)(x=y, y=x, h=0.015, **args)
            np.testing.assert_allclose(ours, theirs, rtol=1e-9)
        np.testing.assert_allclose(
            qj.log_kernel_sum(x=y, y=x, h=0.015), np.log(ref.kernel_sum(y, x, 0.015)), rtol=1e-9
        )


def test_approx_delta_entropy_float32_with_x64_and_reference_keywords():
    """Crashed with x64 on and float32 inputs (the scan carry's dtype); refused the
    reference's pynndescent keywords."""
    x, y = datasets()["md_300K"], datasets()["md_1200K"][:20]
    with jax.enable_x64(True):
        exact = np.asarray(qj.approx_delta_entropy(y, x, 0.015, n=3))
        single = qj.approx_delta_entropy(
            y.astype(np.float32),
            x.astype(np.float32),
            0.015,
            n=3,
            graph_neighbors=10,
            random_state=0,
            n_jobs=1,
        )
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, exact, rtol=1e-4)


def test_approx_delta_entropy_is_the_exact_n_term_bound():
    x, y = datasets()["md_300K"], datasets()["md_1200K"]
    with jax.enable_x64(True):
        approx = np.asarray(qj.approx_delta_entropy(y, x, 0.015, n=3))
        exact = np.asarray(qj.delta_entropy(y, x, 0.015))
        multi = np.asarray(qj.approx_delta_entropy(y, x, H_VECTOR, n=3))
    d2 = np.sort(((y[:, None] - x[None]) ** 2).sum(-1), axis=1)[:, :3]
    np.testing.assert_allclose(approx, -logsumexp(-d2 / (2 * 0.015**2), axis=1), rtol=1e-10)
    assert np.all(approx >= exact - 1e-12)  # fewer terms: an upper bound
    assert multi.shape == (len(y), 3)
    np.testing.assert_allclose(multi[:, 1], approx, rtol=1e-12)


@pytest.mark.slow
def test_jit_and_vmap_over_frames():
    x = datasets()["md_300K"].astype(np.float32)
    jitted = jax.jit(qj.entropy)
    np.testing.assert_allclose(jitted(x, 0.015), qj.entropy(x, 0.015), rtol=1e-6)
    # per-frame entropies of padded frames: one vmapped call equals the loop
    sizes = [32, 20, 32, 9]
    frames = np.zeros((4, 32, 63), np.float32)
    mask = np.zeros((4, 32), bool)
    start = 0
    for f, n in enumerate(sizes):
        frames[f, :n] = x[start : start + n]
        mask[f, :n] = True
        start += n
    batched = jax.jit(jax.vmap(lambda xf, m: qj.entropy(xf, H_VECTOR, mask=m)))(frames, mask)
    for f, n in enumerate(sizes):
        np.testing.assert_allclose(batched[f], qj.entropy(frames[f, :n], H_VECTOR), rtol=1e-5)
    # the same through the convenience API, from concatenated frames
    concatenated = np.concatenate([frames[f, :n] for f, n in enumerate(sizes)])
    np.testing.assert_allclose(
        qj.frame_entropies(concatenated, sizes, H_VECTOR), batched, rtol=1e-5
    )
    with pytest.raises(ValueError, match="sum to"):
        qj.frame_entropies(concatenated, [32, 20])
    dh = jax.jit(qj.delta_entropy)(x[:10], x, 0.015)
    np.testing.assert_allclose(dh, qj.delta_entropy(x[:10], x, 0.015), rtol=1e-6)


def test_results_independent_of_block_size():
    x = datasets()["crystals"]
    y = datasets()["md_3000K"]
    with jax.enable_x64(True):
        ref_h = qj.entropy(x, H_VECTOR)
        ref_dh = qj.delta_entropy(y, x, 0.015)
        for block in (8, 64, 200):
            np.testing.assert_allclose(qj.entropy(x, H_VECTOR, block), ref_h, rtol=1e-12)
            np.testing.assert_allclose(qj.delta_entropy(y, x, 0.015, block), ref_dh, rtol=1e-12)


def test_entropy_bounds_and_gradient():
    x = datasets()["md_1200K"]
    with jax.enable_x64(True):
        h = float(qj.entropy(x, 0.015))
        assert 0.0 <= h <= np.log(len(x))
        assert float(qj.entropy(np.repeat(x[:1], 50, axis=0), 0.015)) == pytest.approx(
            0.0, abs=1e-12
        )
        # entropy is differentiable in the descriptors (entropy forces build on this)
        g = jax.grad(lambda v: qj.entropy(v, 0.015))(jnp.asarray(x))
        assert np.isfinite(g).all() and np.any(g)


@pytest.mark.unchecked_types
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda x: qj.entropy(x, 0.0), "h must be > 0"),
        (lambda x: qj.entropy(x, -0.1), "h must be > 0"),
        (lambda x: qj.entropy(x, [0.01, np.nan]), "h must be > 0"),
        (lambda x: qj.entropy(x[:0]), "x is empty"),
        (lambda x: qj.entropy(x[0]), "x must be a 2-D"),
        (lambda x: qj.entropy(np.where(np.arange(63) == 5, np.nan, x)), "x has NaN"),
        (lambda x: qj.delta_entropy(x[:, :30], x), "mismatched descriptor widths"),
        (lambda x: qj.entropy(x, mask=np.ones(3, bool)), "mask must have shape"),
        (lambda x: qj.approx_delta_entropy(x, x, n=0), "n must be a positive integer"),
        (lambda x: qj.approx_delta_entropy(x, x[:2], n=3), "exceeds the 2 reference"),
        (lambda x: qj.weighted_kernel_sum(x, x, np.ones(3)), "w must have shape"),
        (lambda x: qj.overlap(x, x, eps=np.nan), "eps must be a finite"),
        (lambda x: qj.get_bandwidth(-1.0), "volume must be > 0"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call(datasets()["md_300K"][:20])


def test_bandwidth_rule(reference):
    ref = pytest.importorskip("quests.entropy")
    for v in (8.0, 11.8, 20.0):
        assert qj.get_bandwidth(v) == pytest.approx(ref.get_bandwidth(v), rel=1e-12)
        assert qj.get_bandwidth(v, "cutoff") == pytest.approx(
            ref.get_bandwidth(v, "cutoff"), rel=1e-12
        )
    atoms = cubic_cu(2)
    assert qj.volume_per_atom([atoms]) == pytest.approx(3.61**3 / 4)
    with pytest.raises(ValueError, match="not periodic"):
        qj.volume_per_atom([cu_cluster()])


def _water_box(n_molecules: int, seed: int):
    """Liquid-like water: randomly placed and oriented molecules at 1 g/cm^3."""
    from ase import Atoms
    from ase.build import molecule

    rng = np.random.default_rng(seed)
    side = (n_molecules * 18.015 / 6.022e23 * 1e24) ** (1 / 3)
    h2o = molecule("H2O")
    h2o.positions -= h2o.positions[0]
    atoms, centres = Atoms(cell=[side] * 3, pbc=True), []
    while len(centres) < n_molecules:
        c = rng.random(3) * side
        d = np.array(centres).reshape(-1, 3) - c
        d -= side * np.round(d / side)
        if centres and np.min(np.linalg.norm(d, axis=1)) < 2.6:
            continue
        rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        one = h2o.copy()
        one.positions = one.positions @ rotation.T + c
        atoms += one
        centres.append(c)
    atoms.wrap()
    return atoms


def test_saturated_entropy_warns_on_water_like_data():
    """At the default h = 0.015 every environment of liquid water is alone within the
    bandwidth: H sits at its ceiling log N (6.6417 of 6.6438 nats here) and says nothing
    of the data, so the user is told, and pointed to the bandwidth rule (0.071 here),
    at which H is well below the ceiling and nothing is said."""
    import warnings

    frames = [_water_box(64, seed) for seed in range(4)]
    x = qj.get_descriptors(frames)
    ceiling = np.log(len(x))
    with pytest.warns(qj.information.BandwidthWarning, match="within 1% of its ceiling") as seen:
        # the function itself: the suite's type-checking wrapper would be the caller
        value = float(qj.entropy.__wrapped__(x, 0.015))
    assert value >= 0.99 * ceiling and "quests-jax bandwidth" in str(seen[0].message)
    assert seen[0].filename == __file__  # points at the caller's line
    h = qj.get_bandwidth(qj.volume_per_atom(frames))
    with warnings.catch_warnings():
        warnings.simplefilter("error", qj.information.BandwidthWarning)
        assert float(qj.entropy(x, h)) < 0.9 * ceiling
        qj.entropy_and_diversity(x, [h, 0.1])
    with pytest.warns(qj.information.BandwidthWarning, match="h = 0.015"):  # one of several
        qj.entropy_and_diversity(x, [h, 0.015])
    with pytest.warns(qj.information.BandwidthWarning, match="within 1%"):
        qj.get_all_metrics(x, 0.015)


def test_entropy_near_zero_warns_and_traced_calls_stay_silent():
    import warnings

    x = qj.get_descriptors([bulk("Cu", "fcc", 3.61, cubic=True).repeat(3)])  # all alike
    with pytest.warns(qj.information.BandwidthWarning, match="near 0"):
        qj.entropy(x, 0.015)
    with warnings.catch_warnings():
        warnings.simplefilter("error", qj.information.BandwidthWarning)
        jax.jit(lambda a: qj.entropy(a, 0.015))(x)  # under tracing: nothing to check
        qj.entropy(x[:1], 0.015)  # one row: log N = 0
