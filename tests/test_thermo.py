"""The thermodynamics scan of the tree committee machine (``committee.thermo_scan``) and its jackknife."""
from __future__ import annotations

import math

import numpy as np
import pytest

from nnlandscape.committee import jackknife, thermo_scan

SMALL = dict(N=60, K=6, alpha=0.4, n_chains=6, n_moves=60, n_burn=10, n_leapfrog=5, thin=3, lag=5, gd_steps=200)


def test_jackknife_of_a_mean_is_the_standard_error():
    x = np.random.default_rng(0).standard_normal((9, 3))
    est, err = jackknife(lambda keep: x[keep].mean(0), 9)
    assert np.allclose(est, x.mean(0), atol=1e-14)
    assert np.allclose(err, x.std(0, ddof=1) / 3.0, rtol=1e-12)


def test_jackknife_of_a_pair_mean_is_larger_than_the_naive_error():
    # pair statistic q_ab = u_a + u_b with independent unit effects u: the mean over pairs is 2 mean(u),
    # whose standard error is 2 sd(u)/sqrt(n); the naive error over the n(n-1)/2 pairs is too small
    n = 12
    u = np.random.default_rng(1).standard_normal(n)
    q = u[:, None] + u[None, :]

    def pair_mean(keep):
        sub = q[np.ix_(keep, keep)]
        return (sub.sum() - np.trace(sub)) / (len(keep) * (len(keep) - 1))

    est, err = jackknife(pair_mean, n)
    assert est == pytest.approx(2 * u.mean(), abs=1e-12)
    # for this linear statistic the jackknife is exact: 2 * std(u, ddof=1) / sqrt(n)
    assert err == pytest.approx(2 * u.std(ddof=1) / math.sqrt(n), rel=1e-10)
    i, j = np.triu_indices(n, 1)
    assert err > 2 * q[i, j].std(ddof=1) / math.sqrt(i.size)


def test_jackknife_bad_input():
    with pytest.raises(ValueError, match="n"):
        jackknife(lambda keep: 0.0, 1)
    with pytest.raises(TypeError, match="stat"):
        jackknife(3.0, 4)


@pytest.fixture(scope="module")
def hot():
    # T = 1e4 >> |U|: the spherical measure is uniform on the product of spheres; the Euclidean
    # measure is then the Gaussian e^{-lam |w|^2 / (2T)}, of variance T/lam = 0.25 per weight
    return thermo_scan(temps=[1e-3, 1e4], lam=4e4, euclid_moves=30, euclid_burn=20, **SMALL)


def test_uniform_measure_training_error_and_overlaps(hot):
    K = SMALL["K"]
    # uniform w: the K fields of a pattern are i.i.d. symmetric, so Delta = 0 (all units dead, an error)
    # with probability 2^-K and is otherwise symmetric: error (1 + 2^-K)/2
    m, e = hot.summary("error")
    assert abs(m[1] - (1 + 2.0**-K) / 2) < 4 * e[1] + 0.01
    for name in ("q_inter", "q_intra"):
        m, e = hot.summary(name)
        assert abs(m[1]) < 4 * e[1] + 0.02, name
    # at T = 1e-3 the chains sit near their gradient-descent starts: few errors, high self-overlap
    assert hot.summary("error")[0][0] < 0.5 * hot.summary("error")[0][1]
    assert hot.q_intra[0].min() > 0.5
    assert np.all(hot.energy[0] < hot.energy[1])


def test_euclidean_norm_follows_the_gaussian(hot):
    m, e = hot.summary("norm2")
    assert abs(m[1] - 0.25) < 4 * e[1] + 0.02
    assert np.all(np.isfinite(hot.norm2))


def test_overlaps_match_a_direct_computation(hot):
    r, C, N = hot.result, SMALL["n_chains"], SMALL["N"]
    n_rec = r.samples.shape[0]
    S = r.samples[n_rec // 2:] / math.sqrt(N)
    kept = S.shape[0]
    for t in range(2):
        for c in range(C):
            x = S[:, t * C + c]
            vals = [x[s] @ x[u] for s in range(kept) for u in range(s + SMALL["lag"], kept)]
            assert hot.q_intra[t, c] == pytest.approx(np.mean(vals), abs=1e-12)
        # every ordered pair of distinct chains, at every record
        pairs = [S[s, t * C + a] @ S[s, t * C + b] for s in range(kept) for a in range(C) for b in range(C) if a != b]
        assert hot.summary("q_inter")[0][t] == pytest.approx(np.mean(pairs), abs=1e-12)
    g, q = hot.summary("gap")[0], hot.summary("q_intra")[0] - hot.summary("q_inter")[0]
    assert np.allclose(g, q, atol=1e-12)
    u = hot.w_gd / np.linalg.norm(hot.w_gd, axis=1, keepdims=True)
    assert np.allclose(np.sort(hot.q_gd), np.sort((u @ u.T)[np.triu_indices(C, 1)]))
    assert np.allclose(hot.gd_error, hot.model.train_error(hot.w_gd))


def test_same_seeds_same_scan():
    a = thermo_scan(temps=[1e-2], **(SMALL | dict(n_moves=12, thin=2, lag=1)))
    b = thermo_scan(temps=[1e-2], **(SMALL | dict(n_moves=12, thin=2, lag=1)))
    assert np.array_equal(a.q_pair, b.q_pair) and np.array_equal(a.energy, b.energy)
    assert a.norm2 is None
    with pytest.raises(ValueError, match="norm2"):
        a.summary("norm2")
    with pytest.raises(ValueError, match="name"):
        a.summary("entropy")


@pytest.mark.parametrize("kw, match", [
    (dict(temps=[0.0]), "temps"), (dict(temps=[]), "temps"), (dict(temps=[np.nan]), "temps"),
    (dict(n_chains=2), "n_chains"), (dict(K=3), "K"), (dict(alpha=0.0), "alpha"), (dict(lag=10), "lag"),
    (dict(kind="mnist"), "kind"), (dict(step=-1.0), "step"), (dict(euclid_moves=-1), "euclid_moves"),
    (dict(thin=100), "thin"), (dict(zeta=0.0), "zeta"),
])
def test_thermo_scan_bad_input(kw, match):
    args = dict(SMALL, temps=[1e-2])
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        thermo_scan(**args)
