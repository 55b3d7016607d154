"""Tests of the samplers, the committee machine, the paths and the perceptron theory (chapter 04)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

from nnlandscape import sampling as S
from nnlandscape.committee import TreeCommittee, committee_data
from nnlandscape.perceptron import (cover_count, cover_fraction, gardner_capacity, rs_entropy_slope,
                                    rs_overlap)
from nnlandscape.solution_paths import (coupled_replicas, double_ratchet, geodesic,
                                        replica_energy_grad)


def small_model(N=40, K=4, alpha=1.0, zeta=2.0, seed=1, kind="random"):
    X, y = committee_data(N, K, alpha, kind=kind, seed=seed)
    return TreeCommittee(X, y, K, zeta=zeta, lam=1e-3)


# --- the sphere sampler is exact -------------------------------------------------------------

def vmf_target(u, kappa):
    """U(w) = -kappa * t, t = u.w/sqrt(N) on |w|^2 = N: density of t is ~ e^{kappa t}(1-t^2)^{(N-3)/2}."""
    N = u.size

    def fun(w):
        t = w @ u / math.sqrt(N)
        return -kappa * t, -kappa * np.broadcast_to(u / math.sqrt(N), w.shape).copy()

    return fun


def vmf_cdf(N, kappa):
    logf = lambda t: kappa * t + 0.5 * (N - 3) * math.log1p(-t * t)
    Z, _ = integrate.quad(lambda t: math.exp(logf(t) - kappa), -1, 1, epsabs=1e-13)
    return lambda x: integrate.quad(lambda t: math.exp(logf(t) - kappa), -1, x, epsabs=1e-13)[0] / Z


def assert_vmf_law(t, n, kappa):
    """The overlaps ``t`` (one per independent chain) follow the law of :func:`vmf_cdf` in dimension
    ``n``: KS test, and the mean within 3 s.e.m. of the closed form I_{n/2}(kappa)/I_{n/2-1}(kappa)."""
    assert stats.kstest(t, np.vectorize(vmf_cdf(n, kappa))).pvalue > 1e-3
    mean = special.iv(n / 2, kappa) / special.iv(n / 2 - 1, kappa)
    assert abs(t.mean() - mean) < 3 * t.std() / math.sqrt(t.size)


@pytest.mark.parametrize("blocks", [1, 2])
def test_geodesic_hmc_samples_the_closed_form_marginal(blocks):
    N, kappa, C = 12, 3.0, 2000
    # with blocks=2 the target acts on block 0 only (radius sqrt(N/2)); its marginal is the same
    # law in dimension N/2
    n = N // blocks
    u = np.zeros(N)
    u[:n] = np.random.default_rng(5).standard_normal(n)
    u /= np.linalg.norm(u)
    fun0 = vmf_target(u, kappa)

    def fun(w):
        E, G = fun0(w)
        return E * math.sqrt(N / n), G * math.sqrt(N / n)  # t = u.w_0/sqrt(n)

    w0 = np.random.default_rng(0).standard_normal((C, N))
    res = S.hmc(fun, w0, T=1.0, step=0.3, n_leapfrog=5, n_moves=40, n_burn=20, sphere=True,
                blocks=blocks, seed=1)
    assert_vmf_law(res.final @ u / math.sqrt(n), n, kappa)
    assert np.allclose(np.linalg.norm(res.final.reshape(C, blocks, n), axis=-1), math.sqrt(n), atol=1e-10)


def test_zero_energy_on_the_sphere_accepts_everything():
    zero = lambda w: (np.zeros(len(w)), np.zeros_like(w))
    w0 = np.random.default_rng(0).standard_normal((50, 30))
    res = S.hmc(zero, w0, T=0.7, step=2.0, n_leapfrog=7, n_moves=30, sphere=True, blocks=3, seed=2)
    assert np.all(res.acceptance == 1.0)
    assert np.max(np.abs(res.dH)) < 1e-10


def test_euclidean_hmc_gaussian_variance():
    # U = |w|^2/2 at temperature T: every coordinate has variance T (a control with a known answer)
    T, C = 0.5, 1000
    fun = lambda w: (0.5 * np.sum(w * w, 1), w.copy())
    res = S.hmc(fun, np.zeros((C, 3)), T=T, step=0.5, n_leapfrog=3, n_moves=30, seed=3)
    v = res.final.var(0)
    # var of the sample variance ~ 2 T^2 / C
    assert np.all(np.abs(v - T) < 4 * T * math.sqrt(2 / C))


# --- energy errors on the real loss ---------------------------------------------------------

@pytest.mark.parametrize("sphere", [False, True])
def test_exp_minus_dH_has_mean_one(sphere):
    m = small_model()
    T = 0.05
    w0 = np.random.default_rng(0).standard_normal((400, m.N))
    res = S.hmc(m, w0, T=T, step=0.05, n_leapfrog=10, n_moves=20, n_burn=10, sphere=sphere,
                blocks=m.K if sphere else 1, seed=4)
    x = np.exp(-res.dH[5:] / T).ravel()
    # x has mean one for a volume-preserving reversible integrator (Jarzynski-like identity);
    # the chains are independent, consecutive moves nearly so: allow 4 s.e.m. of per-chain means
    per_chain = np.exp(-res.dH[5:] / T).mean(0)
    assert abs(per_chain.mean() - 1) < 4 * per_chain.std() / math.sqrt(per_chain.size)
    assert np.isfinite(x).all()


def _rms_dH(m, geo, eps, tau=0.4, C=200):
    rng = np.random.default_rng(0)
    w0 = geo.normalise(rng.standard_normal((C, m.N)))
    p0 = geo.project(w0, rng.standard_normal(w0.shape))
    E0, _ = m(w0)
    w1, p1, E1, _ = S.leapfrog(m, w0, p0, np.full(C, eps), int(round(tau / eps)), geo)
    dH = E1 - E0 + 0.5 * np.sum(p1**2, 1) - 0.5 * np.sum(p0**2, 1)
    return math.sqrt(np.mean(dH**2))


def test_dH_scales_as_step_squared_on_a_smooth_target():
    fun = lambda w: (0.25 * np.sum(w**4, 1), w**3)
    geo = S.Geometry(10)

    class F:
        N = 10
        __call__ = staticmethod(fun)

    r = _rms_dH(F(), geo, 0.02) / _rms_dH(F(), geo, 0.01)
    assert 3.6 < r < 4.4  # second-order integrator: ratio 4


@pytest.mark.parametrize("sphere", [False, True])
def test_dH_is_first_order_on_the_relu_loss(sphere):
    # the ReLU kinks (gradient jumps on the hyperplanes h_k = 0) make the leapfrog error O(step),
    # not O(step^2): halving the step halves rms dH (a property of the target, not a bug)
    m = small_model()
    geo = S.Geometry(m.N, sphere, m.K if sphere else 1)
    r = _rms_dH(m, geo, 0.02) / _rms_dH(m, geo, 0.01)
    assert 1.6 < r < 2.6


@pytest.mark.parametrize("sphere", [False, True])
def test_leapfrog_is_reversible(sphere):
    m = small_model()
    geo = S.Geometry(m.N, sphere, m.K if sphere else 1)
    rng = np.random.default_rng(1)
    w0 = geo.normalise(rng.standard_normal((20, m.N)))
    p0 = geo.project(w0, rng.standard_normal(w0.shape))
    step = np.full(20, 0.05)
    w1, p1, _, _ = S.leapfrog(m, w0, p0, step, 15, geo)
    w2, p2, _, _ = S.leapfrog(m, w1, -p1, step, 15, geo)
    assert np.max(np.abs(w2 - w0)) < 1e-9
    assert np.max(np.abs(p2 + p0)) < 1e-9


# --- gradients --------------------------------------------------------------------------------

def _fd(fun, w, h=1e-6):
    g = np.empty_like(w)
    for i in range(w.shape[-1]):
        e = np.zeros_like(w)
        e[..., i] = h
        g[..., i] = (fun(w + e) - fun(w - e)) / (2 * h)
    return g


@pytest.mark.parametrize("kind", ["random", "teacher"])
def test_committee_gradient_matches_finite_differences(kind):
    m = small_model(N=24, K=4, kind=kind)
    w = np.random.default_rng(2).standard_normal((3, m.N))
    _, G = m.energy_grad(w)
    assert np.allclose(G, _fd(m.energy, w), atol=1e-6, rtol=1e-5)


def _numpy_energy_grad(m, w):
    """The formulas of committee.py written with numpy (the implementation before the compiled head)."""
    h = m.fields(w)                                            # (K, P, C)
    z = m.output(w, h) * m.y
    U = m.loss(z).sum(1) + 0.5 * m.lam * np.sum(w * w, 1)
    g = -special.expit(-m.zeta * z) * m.y
    A = (h > 0) * (m.c[:, None, None] / math.sqrt(m.K * m.n)) * g.T[None]
    G = np.matmul(m.Xk.transpose(0, 2, 1), A).transpose(2, 0, 1).reshape(w.shape[0], m.N) + m.lam * w
    # scales for the round-off bound: sums of absolute values of the terms
    Uabs = np.abs(m.loss(z)).sum(1) + 0.5 * m.lam * np.sum(w * w, 1)
    Gabs = np.matmul(np.abs(m.Xk.transpose(0, 2, 1)), np.abs(A)).transpose(2, 0, 1).reshape(w.shape[0], m.N)
    return U, G, Uabs, Gabs


@pytest.mark.parametrize("N,K,alpha,zeta", [(24, 4, 1.0, 2.0), (200, 10, 0.9, 5.0), (120, 2, 2.0, 50.0)])
def test_committee_compiled_head_matches_numpy_formulas(N, K, alpha, zeta):
    # the compiled path reorders sums (K terms per output, P per gradient entry, fused multiply-adds):
    # the difference is bounded by ~(K + P + n) eps times the sums of absolute values; 1e3 eps is ample
    X, y = committee_data(N, K, alpha, seed=4)
    m = TreeCommittee(X, y, K, zeta=zeta, lam=1e-3)
    w = np.random.default_rng(5).standard_normal((5, N)) * np.array([0.01, 0.3, 1, 3, 30])[:, None]
    U, G = m.energy_grad(w)
    U0, G0, Uabs, Gabs = _numpy_energy_grad(m, w)
    eps = np.finfo(float).eps
    assert np.all(np.abs(U - U0) <= 1e3 * eps * Uabs)
    assert np.all(np.abs(G - G0) <= 1e3 * eps * (Gabs + m.lam * np.abs(w)))
    assert np.array_equal(m.energy(w), U)                      # the same head with and without gradient
    # a non-finite weight gives a non-finite energy (the samplers reject such proposals)
    w[1, 3] = np.nan
    assert np.isnan(m.energy(w)[1]) and np.isnan(m.energy_grad(w)[0][1])
    assert np.all(np.isfinite(m.energy(w)[[0, 2, 3, 4]]))


def test_replica_gradient_matches_finite_differences():
    m = small_model(N=24, K=4)
    W = np.random.default_rng(3).standard_normal((2, 3, m.N))
    for blocks in (1, 4):
        E, G, _ = replica_energy_grad(m, W, 0.7, blocks=blocks)
        fd = np.empty_like(W)
        for idx in np.ndindex(W.shape):
            e = np.zeros_like(W)
            e[idx] = 1e-6
            fd[idx] = (replica_energy_grad(m, W + e, 0.7, blocks=blocks)[0][idx[0]]
                       - replica_energy_grad(m, W - e, 0.7, blocks=blocks)[0][idx[0]]) / 2e-6
        assert np.allclose(G, fd, atol=1e-6, rtol=1e-5)


def test_committee_output_by_hand():
    X, y = committee_data(8, 2, 1.0, seed=0)
    m = TreeCommittee(X, y, 2)
    w = np.random.default_rng(0).standard_normal(8)
    h1 = X[:, :4] @ w[:4] / 2
    h2 = X[:, 4:] @ w[4:] / 2
    assert np.allclose(m.output(w)[0], (np.maximum(h1, 0) - np.maximum(h2, 0)) / math.sqrt(2))
    # positive homogeneity: the training error depends on the direction only
    assert np.allclose(m.train_error(3.7 * w), m.train_error(w))


# --- paths --------------------------------------------------------------------------------------

def test_geodesic_ends_norms_and_per_unit_spheres():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 20))
    g = geodesic(a, b, 11, blocks=4)
    assert np.allclose(g[0], a) and np.allclose(g[-1], b)
    nb = np.linalg.norm(g.reshape(11, 3, 4, 5), axis=-1)
    na, nbb = np.linalg.norm(a.reshape(3, 4, 5), axis=-1), np.linalg.norm(b.reshape(3, 4, 5), axis=-1)
    t = np.linspace(0, 1, 11)[:, None, None]
    assert np.allclose(nb, (1 - t) * na + t * nbb)
    # constant angular speed: equal angles between consecutive points
    u = g.reshape(11, 3, 4, 5) / nb[..., None]
    ang = np.arccos(np.clip(np.sum(u[1:] * u[:-1], -1), -1, 1))
    assert np.allclose(ang, ang[0:1], atol=1e-7)


def test_double_ratchet_brings_the_ends_together_and_path_connects_them():
    m = small_model(N=20, K=2, alpha=0.3)
    rng = np.random.default_rng(0)
    wa, wb = rng.standard_normal((2, 4, m.N)) * 2
    res = double_ratchet(m, wa, wb, T=1e-3, k=50.0, step=0.05, n_leapfrog=10, n_moves=40, seed=1)
    assert np.all(res.distance[-1] < res.distance[0])
    assert np.allclose(res.path[0], wa) and np.allclose(res.path[-1], wb)
    assert res.path.shape == (2 * 40 + 2, 4, m.N)


def test_coupled_replicas_run_on_product_of_spheres():
    m = small_model(N=20, K=2, alpha=0.3)
    W0 = np.random.default_rng(0).standard_normal((2, 3, m.N))
    res = coupled_replicas(m, W0, gamma=1.0, T=0.05, step=0.05, n_leapfrog=5, n_moves=4, sphere=True,
                           blocks=2)
    assert np.allclose(np.linalg.norm(res.final.reshape(2, 3, 2, 10), axis=-1), math.sqrt(10))
    assert np.allclose(np.linalg.norm(res.centre.reshape(2, 2, 10), axis=-1), math.sqrt(10))


# --- perceptron theory ------------------------------------------------------------------------

def test_gardner_capacity():
    assert gardner_capacity(0.0) == pytest.approx(2.0, abs=1e-10)
    # alpha_c decreases with kappa, alpha_c(kappa) -> 1/kappa^2 for large kappa
    assert gardner_capacity(1.0) < gardner_capacity(0.5) < 2
    assert gardner_capacity(8.0) * 64 == pytest.approx(1, rel=0.05)


def test_rs_overlap_limits():
    # small alpha: q ~ 2 alpha / pi; the slope vanishes at the root; q -> 1 near alpha_c
    assert rs_overlap(1e-3) == pytest.approx(2e-3 / math.pi, rel=5e-3)
    q = rs_overlap(1.0)
    assert abs(rs_entropy_slope(q, 1.0)) < 1e-8
    assert rs_overlap(1.99) > 0.99
    with pytest.raises(ValueError, match="alpha"):
        rs_overlap(2.5)


def test_cover_against_lp_feasibility():
    N, trials = 5, 200
    rng = np.random.default_rng(0)
    assert cover_fraction(2 * N, N) == pytest.approx(0.5)
    assert cover_count(N, N) == 2**N
    for P in (7, 10, 13):
        hits = 0
        for _ in range(trials):
            X = rng.standard_normal((P, N))
            y = rng.choice([-1.0, 1.0], P)
            # separable through the origin iff some w has y_mu w.x_mu >= 1 for all mu
            r = optimize.linprog(np.zeros(N), A_ub=-(y[:, None] * X), b_ub=-np.ones(P),
                                 bounds=[(None, None)] * N, method="highs")
            hits += r.status == 0
        f = cover_fraction(P, N)
        assert abs(hits / trials - f) < 3.5 * math.sqrt(f * (1 - f) / trials) + 1e-9


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, match", [
    (dict(T=0.0), "T"), (dict(T=-1.0), "T"), (dict(step=0.0), "step"), (dict(n_leapfrog=0), "n_leapfrog"),
    (dict(blocks=3), "blocks"),
])
def test_hmc_bad_input(kw, match):
    m = small_model(N=20, K=2)
    args = dict(T=1.0, step=0.1, n_leapfrog=2, n_moves=2)
    args.update(kw)
    sphere = "blocks" in kw
    with pytest.raises(ValueError, match=match):
        S.hmc(m, np.ones((2, 20)), sphere=sphere, **args)


def test_nan_energy_names_chain_and_move():
    def fun(w):
        E = np.zeros(len(w))
        if np.any(np.abs(w[:, 0]) > 2.5):
            E[1] = np.nan
        return E, np.zeros_like(w)

    w0 = np.zeros((3, 4))
    w0[1, 0] = 3.0
    with pytest.raises(ValueError, match="chain 1 at move 0"):
        S.hmc(fun, w0, T=1.0, step=0.1, n_leapfrog=1, n_moves=2)


@pytest.mark.parametrize("args, match", [
    ((20, 2, 0.0), "alpha"), ((20, 3, 1.0), "K"), ((21, 2, 1.0), "N"), ((20, 0, 1.0), "K"),
])
def test_data_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        committee_data(*args)


def test_model_and_paths_bad_input():
    X, y = committee_data(20, 2, 1.0)
    with pytest.raises(ValueError, match="zeta"):
        TreeCommittee(X, y, 2, zeta=0.0)
    m = TreeCommittee(X, y, 2)
    with pytest.raises(ValueError, match="gamma"):
        coupled_replicas(m, np.ones((1, 2, 20)), gamma=-1.0, T=1.0, step=0.1, n_leapfrog=1, n_moves=1)
    with pytest.raises(ValueError, match="k"):
        double_ratchet(m, np.ones((1, 20)), -np.ones((1, 20)), T=1.0, k=0.0, step=0.1, n_leapfrog=1,
                       n_moves=1)
    with pytest.raises(ValueError, match="step"):
        S.rwm(m.energy, np.ones((1, 20)), T=1.0, step=-0.1, n_moves=1)


def test_effective_sample_size_of_ar1():
    # AR(1) with coefficient r: tau = (1 + r)/(1 - r)
    rng = np.random.default_rng(0)
    r, S_, C = 0.8, 20000, 4
    x = np.zeros((S_, C))
    e = rng.standard_normal((S_, C))
    for t in range(1, S_):
        x[t] = r * x[t - 1] + e[t]
    ess = S.effective_sample_size(x)
    assert np.all(np.abs(ess / (S_ * (1 - r) / (1 + r)) - 1) < 0.25)


@pytest.mark.parametrize("sphere", [False, True])
def test_geometry_public_methods_match_kernels_and_check_inputs(sphere):
    geo = S.Geometry(6, sphere, 2)
    rng = np.random.default_rng(3)
    w = geo.normalise(rng.standard_normal((4, 6)))
    p = geo.project(w, rng.standard_normal((4, 6)))
    eps = np.full(4, 0.3)
    np.testing.assert_array_equal(geo.project(w, p), geo._project(w, p))
    for a, b in zip(geo.drift(w, p, eps), geo._drift(w, p, eps)):
        np.testing.assert_array_equal(a, b)
    bad = w.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="w must contain only finite"):
        geo.drift(bad, p, eps)
    with pytest.raises(ValueError, match=r"p must have shape \(C, 6\)"):
        geo.drift(w, p[:, :3], eps)
    with pytest.raises(ValueError, match="p must have the shape of w"):
        geo.drift(w, p[:2], eps)
    with pytest.raises(ValueError, match="eps"):
        geo.propose_rw(rng, w, -1.0)
    with pytest.raises(TypeError, match="rng"):
        geo.momenta(0, w, 1.0)
    with pytest.raises(ValueError, match="step"):
        S.leapfrog(lambda x: (0.5 * np.sum(x * x, 1), x), w, p, np.full(4, np.inf), 2, geo)


def test_committee_descend_divergence_names_lr():
    X, y = committee_data(8, 2, 1.0, seed=0)
    tc = TreeCommittee(X, y, 2)
    w0 = np.random.default_rng(0).standard_normal((2, 8))
    with pytest.raises(ValueError, match="lr"):
        tc.descend(w0, lr=1e300, n_steps=50)
    with pytest.raises(ValueError, match="h must have shape"):
        tc.output(w0, h=np.zeros(3))


# --- jittered HMC, hidden-manifold data, the gradient-descent threshold scan -------------------

def test_jittered_hmc_samples_the_closed_form_marginal():
    # a random step per chain and move (independent of the state) keeps the chain exact
    N, kappa, C = 12, 3.0, 2000
    u = np.random.default_rng(5).standard_normal(N)
    u /= np.linalg.norm(u)
    w0 = np.random.default_rng(0).standard_normal((C, N))
    res = S.hmc(vmf_target(u, kappa), w0, T=1.0, step=0.3, n_leapfrog=5, n_moves=40, n_burn=20, sphere=True,
                jitter=0.5, seed=1)
    assert_vmf_law(res.final @ u / math.sqrt(N), N, kappa)


def test_jitter_zero_is_the_plain_chain_and_bad_jitter_is_named():
    m = small_model(N=20, K=2)
    w0 = np.random.default_rng(0).standard_normal((3, 20))
    a = S.hmc(m, w0, T=0.5, step=0.05, n_leapfrog=3, n_moves=5, seed=4)
    b = S.hmc(m, w0, T=0.5, step=0.05, n_leapfrog=3, n_moves=5, jitter=0.0, seed=4)
    c = S.hmc(m, w0, T=0.5, step=0.05, n_leapfrog=3, n_moves=5, jitter=0.3, seed=4)
    assert np.array_equal(a.final, b.final) and not np.array_equal(a.final, c.final)
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="jitter"):
            S.hmc(m, w0, T=0.5, step=0.05, n_leapfrog=3, n_moves=5, jitter=bad)


def test_hidden_manifold_shapes_seeds_and_labels():
    from nnlandscape.committee import hidden_manifold_data

    hm = hidden_manifold_data(300, 40, 4, seed=3)
    assert hm.X.shape == (300, 40) and hm.y.shape == (300,) and hm.F.shape == (4, 40) and hm.C.shape == (300, 4)
    assert set(np.unique(hm.X)) == {-1.0, 1.0} and set(np.unique(hm.y)) <= {-1.0, 1.0}
    # labels come from the latent teacher only
    assert np.all(hm.y * (hm.C @ hm.v) >= 0)
    again = hidden_manifold_data(300, 40, 4, seed=3)
    other = hidden_manifold_data(300, 40, 4, seed=4)
    assert np.array_equal(hm.X, again.X) and np.array_equal(hm.y, again.y)
    assert not np.array_equal(hm.X, other.X)
    # committee_data's hidden-manifold kind is the same generator (P = alpha N, D = latent_dim)
    X, y = committee_data(40, 4, 7.5, kind="hidden_manifold", latent_dim=4, seed=3)
    assert np.array_equal(X, hm.X) and np.array_equal(y, hm.y)


def test_hidden_manifold_sign_inputs_follow_the_arcsine_law():
    # E[x_i x_j | F] = (2/pi) arcsin(rho_ij), rho_ij the cosine between columns i, j of F; each
    # empirical correlation has standard error <= 1/sqrt(P)
    from nnlandscape.committee import hidden_manifold_data

    P = 20000
    hm = hidden_manifold_data(P, 12, 3, seed=1)
    Fn = hm.F / np.linalg.norm(hm.F, axis=0)
    theory = 2 / np.pi * np.arcsin(np.clip(Fn.T @ Fn, -1, 1))
    emp = hm.X.T @ hm.X / P
    assert np.max(np.abs(emp - theory)) < 5 / math.sqrt(P)
    # D = 3 << N = 12: the correlations are far from those of independent inputs
    assert np.max(np.abs(theory - np.eye(12))) > 0.3


def test_hidden_manifold_tanh_inputs_have_unit_variance():
    from nnlandscape.committee import hidden_manifold_data

    hm = hidden_manifold_data(20000, 10, 5, nonlinearity="tanh", seed=2)
    assert np.all(np.abs(hm.X) < 1 / 0.62)
    assert np.allclose(np.linalg.norm(hm.F, axis=0), math.sqrt(5))
    # each column's second moment is 1 up to sampling error (x^2 <= 2.6, so s.e. <= 1.3/sqrt(P))
    assert np.all(np.abs((hm.X ** 2).mean(0) - 1.0) < 5 * 1.3 / math.sqrt(20000))


@pytest.mark.parametrize("kw, match", [
    (dict(latent_dim=0), "latent_dim"), (dict(latent_dim=41), "latent_dim"),
    (dict(nonlinearity="relu"), "nonlinearity"), (dict(seed=-1), "seed"),
])
def test_hidden_manifold_bad_input(kw, match):
    from nnlandscape.committee import hidden_manifold_data

    args = dict(latent_dim=4, seed=0)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        hidden_manifold_data(10, 40, **args)
    with pytest.raises(ValueError, match=match):
        committee_data(40, 4, 0.5, kind="hidden_manifold", **args)


def test_gd_threshold_scan_data_of_the_K_explorer():
    from nnlandscape.committee import gd_threshold_scan

    s = gd_threshold_scan(40, 2, [0.1, 0.5, 1.5], n_runs=3, n_steps=150, seed=2)
    assert s.errors.shape == s.dead.shape == (3, 3)
    assert np.array_equal(s.solved, (s.errors == 0).mean(1))
    # a dead pattern (all fields <= 0) has output 0 and is always an error
    assert np.all(s.dead <= s.errors + 1e-12)
    ok = np.flatnonzero(s.solved >= 0.5)
    assert s.alpha_near == (float(s.alphas[ok.max()]) if ok.size else None)
    # the same seeds give the same scan; the K = 2 net has far more dead patterns than K = 20 at random init
    assert np.array_equal(s.errors, gd_threshold_scan(40, 2, [0.1, 0.5, 1.5], n_runs=3, n_steps=150, seed=2).errors)
    X, y = committee_data(40, 2, 1.0, seed=0)
    w = np.random.default_rng(0).standard_normal((50, 40))
    for K, expected in ((2, 0.25), (20, 2.0 ** -20)):
        m = TreeCommittee(*committee_data(40, K, 1.0, seed=0), K)
        dead = np.all(m.fields(w) <= 0, axis=0).mean()
        assert abs(dead - expected) < 5 * math.sqrt(0.25 / (50 * 40)) + 1e-12


@pytest.mark.parametrize("kw, match", [
    (dict(alphas=[0.5, 0.2]), "alphas"), (dict(alphas=[0.0, 0.5]), "alphas"), (dict(alphas=[]), "alphas"),
    (dict(n_runs=0), "n_runs"), (dict(K=3), "K"), (dict(kind="mnist"), "kind"), (dict(n_steps=0), "n_steps"),
])
def test_gd_threshold_scan_bad_input(kw, match):
    from nnlandscape.committee import gd_threshold_scan

    args = dict(N=20, K=2, alphas=[0.5], n_runs=2, n_steps=5)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        gd_threshold_scan(**args)


# --- partial momentum refreshment (generalised HMC) ---------------------------------------------

@pytest.mark.parametrize("sphere", [True, False])
def test_partial_refreshment_samples_the_closed_form_law(sphere):
    # big steps, so that a quarter to a half of the moves are rejected and the negation of the momenta on
    # rejection matters: without it the chain is not exact
    C, kappa = 2000, 3.0
    if sphere:
        N = 12
        u = np.random.default_rng(5).standard_normal(N)
        u /= np.linalg.norm(u)
        fun, step = vmf_target(u, kappa), 3.0
    else:
        N = 4
        s2 = np.array([0.25, 0.5, 1.0, 2.0])
        fun, step = (lambda w: (0.5 * np.sum(w * w / s2, 1), w / s2)), 0.75
    w0 = np.random.default_rng(0).standard_normal((C, N))
    res = S.hmc(fun, w0, T=1.0, step=step, n_leapfrog=3, n_moves=150, n_burn=0, sphere=sphere, refresh_angle=0.3,
                seed=1)
    assert 0.4 < res.acceptance.mean() < 0.85
    if sphere:
        assert_vmf_law(res.final @ u / math.sqrt(N), N, kappa)
    else:
        for i in range(N):
            assert stats.kstest(res.final[:, i] / math.sqrt(s2[i]), "norm").pvalue > 1e-3
        # the sample variance has a standard error ~ sqrt(2/C) times the variance
        assert np.all(np.abs(res.final.var(0) / s2 - 1) < 4 * math.sqrt(2 / C))


def test_partial_refreshment_carries_the_momenta():
    # U = 0 in R^N, every move accepted: the momenta of successive moves are correlated with
    # coefficient c = cos(phi), so the displacement after m moves of length tau = L eps has
    # E|w_m - w_0|^2 = N T tau^2 (m + 2 sum_k (m - k) c^k)  (full refreshment: c = 0)
    N, C, T, L, eps, m, phi = 5, 4000, 0.5, 2, 0.1, 30, 0.2
    zero = lambda w: (np.zeros(len(w)), np.zeros_like(w))
    w0 = np.zeros((C, N))
    for angle, c in ((phi, math.cos(phi)), (None, 0.0)):
        res = S.hmc(zero, w0, T=T, step=eps, n_leapfrog=L, n_moves=m, refresh_angle=angle, seed=2)
        assert np.all(res.acceptance == 1.0)
        msd = np.sum(res.final ** 2, 1)
        k = np.arange(1, m)
        want = N * T * (L * eps) ** 2 * (m + 2 * np.sum((m - k) * c ** k))
        # |w_m|^2 / (want / N) is chi-square with N degrees of freedom: s.d. of the mean sqrt(2 N / C)
        assert abs(msd.mean() / want - 1) < 4 * math.sqrt(2 / (N * C))


def test_refresh_angle_limits_and_bad_values():
    m = small_model(N=20, K=2)
    w0 = np.random.default_rng(0).standard_normal((3, 20))
    kw = dict(T=0.5, step=0.05, n_leapfrog=3, n_moves=6, seed=4)
    a = S.hmc(m, w0, **kw)
    b = S.hmc(m, w0, refresh_angle=math.pi / 2, **kw)       # full refreshment (cos = 6e-17)
    c = S.hmc(m, w0, refresh_angle=0.3, **kw)
    assert np.allclose(a.final, b.final, rtol=0, atol=1e-9) and not np.allclose(a.final, c.final)
    for bad in (0.0, -0.1, 1.6, float("nan")):
        with pytest.raises(ValueError, match="refresh_angle"):
            S.hmc(m, w0, refresh_angle=bad, **kw)
