"""Tests of nnlandscape.kac_rice: closed forms, exact special fields, Morse/GKF identities, depth asymptotics."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special

from nnlandscape import kac_rice as kr

by_index = kr.expected_critical_points_by_index
SETTINGS = settings(max_examples=15, deadline=None)


# ---------------------------------------------------------------- GOE machinery
def test_pfaffian_squared_is_determinant():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 8, 8)) + 1j * rng.normal(size=(6, 8, 8))
    A = X - np.swapaxes(X, 1, 2)
    np.testing.assert_allclose(kr._pfaffian(A) ** 2, np.linalg.det(A), rtol=1e-10)
    # Pf of the standard symplectic block matrix is 1
    J = np.kron(np.eye(3), np.array([[0.0, 1.0], [-1.0, 0.0]]))
    assert kr._pfaffian(J[None])[0] == pytest.approx(1.0)


@pytest.mark.parametrize("dim", [2, 3])
def test_goe_moments_match_monte_carlo(dim):
    """F_k(s) = E[|det(G+s)| 1{ind = k}] against 60k sampled GOE matrices, within 5 standard errors."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60_000, dim, dim))
    ev = np.linalg.eigvalsh((X + np.swapaxes(X, 1, 2)) / math.sqrt(2.0))  # Var G_ii = 2, G_ij = 1
    s = np.array([-1.0, 0.3, 1.5])
    F = kr.goe_det_moments(s, dim)
    for j, sj in enumerate(s):
        lam = ev + sj
        det = np.abs(lam.prod(axis=1))
        ind = (lam < 0).sum(axis=1)
        for k in range(dim + 1):
            x = det * (ind == k)
            se = x.std() / math.sqrt(len(x))
            assert abs(F[k, j] - x.mean()) < 5 * se + 1e-3, (dim, sj, k)


@SETTINGS
@given(st.integers(1, 8), st.floats(-30, 30))
def test_goe_alternating_sum_is_hermite(dim, s):
    """sum_k (-1)^k F_k(s) = E det(G + s) = He_d(s) (only involutions survive in the expansion)."""
    F = kr.goe_det_moments(s, dim)
    val = float(((-1.0) ** np.arange(dim + 1)) @ F)
    ref = special.eval_hermitenorm(dim, s)
    assert val == pytest.approx(ref, rel=1e-7, abs=1e-7 * (1 + abs(s)) ** dim)


# ---------------------------------------------------------------- exact special fields
@pytest.mark.parametrize("dim", range(1, 8))
def test_linear_field_has_one_min_one_max(dim):
    """K(t) = t: f = <a, x> has exactly its max and min at +-a/|a|."""
    c = by_index(1.0, 0.0, dim, method="goe")
    expect = np.zeros(dim + 1)
    expect[[0, dim]] = 1.0
    np.testing.assert_allclose(c, expect, atol=1e-9)


@pytest.mark.parametrize("dim", range(1, 8))
def test_quadratic_form_has_two_points_of_each_index(dim):
    """K(t) = t^2 (k1 = k2 = 2): f = x^T A x has critical points +-v_k at the eigenvectors, 2 of each index."""
    np.testing.assert_allclose(by_index(2.0, 2.0, dim, method="goe"), 2.0, rtol=1e-6)


def test_linear_field_thresholds_are_chi_tails():
    """K(t) = t on S^d: the max has height |a| ~ chi_{d+1}, so E N_d(u) = P(chi_{d+1} > u)."""
    from scipy import stats

    for dim in (1, 2, 3):
        for u in (-0.5, 0.7, 2.0):
            c = by_index(1.0, 0.0, dim, above=u, method="goe")
            assert c[dim] == pytest.approx(stats.chi.sf(u, dim + 1), abs=1e-8)
            assert c[0] == pytest.approx(stats.chi.cdf(-u, dim + 1), abs=1e-8)  # the min is -|a|


# ---------------------------------------------------------------- closed forms vs GOE evaluation
PAIRS = [(1.0, 0.0), (0.5, 0.3), (2.0, 2.0), (3.0, 10.0), (0.01, 0.2), (1.2, 40.0)]


@pytest.mark.parametrize("k1,k2", PAIRS)
def test_circle_rice_and_sphere_closed_forms_match_goe(k1, k2):
    for dim in (1, 2):
        a = by_index(k1, k2, dim, method="goe")
        b = by_index(k1, k2, dim, method="closed")
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)
        for u in (-1.0, 0.4, 2.5):
            a = by_index(k1, k2, dim, above=u, method="goe")
            b = by_index(k1, k2, dim, above=u, method="closed")
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_circle_total_is_rice_formula():
    """Rice: on S^1 the zeros of f' number 2 sqrt(lambda4/lambda2), lambda2 = k1, lambda4 = k1 + 3 k2."""
    assert kr.expected_critical_points(0.7, 1.1, 1) == pytest.approx(2 * math.sqrt((0.7 + 3.3) / 0.7))


def test_sphere_closed_form_against_direct_double_integral():
    """S^2 maxima above u from a direct 2-D integral over the Hessian eigenvalues (m +- r) and f."""
    k1, k2, u = 0.8, 0.9, 0.6
    v = k1 + 2 * k2  # variance of M = (l1 + l2)/2; r is Rayleigh(sqrt(k2))
    tau = math.sqrt(1 - k1**2 / v)

    def integrand(r, m):
        p_f = special.ndtr(-(u + k1 * m / v) / tau)
        return (m * m - r * r) * p_f * math.exp(-m * m / (2 * v)) / math.sqrt(2 * math.pi * v) * (r / k2) * math.exp(
            -r * r / (2 * k2))

    val = integrate.dblquad(integrand, -12 * math.sqrt(v), 0.0, 0.0, lambda m: -m, epsabs=1e-11)[0]
    assert by_index(k1, k2, 2, above=u, method="goe")[2] == pytest.approx(2 / k1 * val, rel=1e-6)


@SETTINGS
@given(st.integers(1, 8), st.floats(0.05, 3.0), st.floats(0.0, 30.0))
def test_morse_relation(dim, k1, eta):
    """sum_k (-1)^k E N_k = chi(S^d) = 1 + (-1)^d for every admissible (k1, k2)."""
    k2 = max(eta * k1, k1 * k1 - k1)
    c = by_index(k1, k2, dim, method="goe")
    assert float(((-1.0) ** np.arange(dim + 1)) @ c) == pytest.approx(1 + (-1) ** dim, abs=1e-6 * (1 + c.sum()))
    assert np.all(c >= 0)


@SETTINGS
@given(st.integers(1, 4), st.floats(0.1, 2.0), st.floats(0.0, 10.0), st.floats(-3.0, 3.0))
def test_thresholded_euler_characteristic_is_kinematic_formula(dim, k1, eta, u):
    """sum_k (-1)^(d-k) E N_k(u) = E chi({f >= u}) (Gaussian kinematic formula, Adler-Taylor)."""
    k2 = max(eta * k1, k1 * k1 - k1)
    c = by_index(k1, k2, dim, above=u, method="goe")
    alt = float(((-1.0) ** (dim - np.arange(dim + 1))) @ c)
    assert alt == pytest.approx(kr.expected_euler_characteristic(k1, dim, u), abs=1e-6 * (1 + c.sum()))


def test_threshold_limits_and_monotonicity():
    tot = by_index(0.9, 1.7, 3)
    np.testing.assert_allclose(by_index(0.9, 1.7, 3, above=-40.0), tot, rtol=1e-9)
    np.testing.assert_allclose(by_index(0.9, 1.7, 3, above=40.0), 0.0, atol=1e-12)
    us = np.linspace(-3, 3, 7)
    vals = [kr.expected_critical_points(0.9, 1.7, 3, above=u) for u in us]
    assert np.all(np.diff(vals) < 0)


def test_gkf_sphere_two():
    """E chi(A_u) on S^2 = 2 Phibar(u) + 4 pi k1 (2 pi)^(-3/2) u e^(-u^2/2)."""
    k1, u = 1.3, 0.8
    ref = 2 * special.ndtr(-u) + 4 * math.pi * k1 * (2 * math.pi) ** -1.5 * u * math.exp(-u * u / 2)
    assert kr.expected_euler_characteristic(k1, 2, u) == pytest.approx(ref)


# ---------------------------------------------------------------- depth
def test_composed_derivatives_match_polynomial_composition():
    """kappa(t) = a t + (1 - a) t^2 composed L times with numpy polynomials."""
    from numpy.polynomial import Polynomial as P

    a = 0.3
    kappa = P([0.0, a, 1 - a])
    K = P([0.0, 1.0])
    for L in range(1, 5):
        K = kappa(K)
        k1, k2 = kr.composed_derivatives(kappa.deriv(1)(1.0), kappa.deriv(2)(1.0), L)
        assert k1 == pytest.approx(K.deriv(1)(1.0), rel=1e-12)
        assert k2 == pytest.approx(K.deriv(2)(1.0), rel=1e-12)
    k1, k2 = kr.composed_derivatives(1.0, 0.7, [1, 5, 9])
    np.testing.assert_allclose(k2, 0.7 * np.array([1, 5, 9]))


def test_symbolic_derivation_agrees_with_numeric():
    sym = kr.symbolic_depth_derivatives()
    chi, kappa2, L = sym["chi"], sym["kappa2"], sym["L"]
    for c, k, depth in [(0.7, 0.4, 6), (1.4, 2.0, 5)]:
        k1, k2 = kr.composed_derivatives(c, k, depth)
        sub = {chi: c, kappa2: k, L: depth}
        assert float(sym["k1"].subs(sub)) == pytest.approx(k1)
        assert float(sym["k2"].subs(sub)) == pytest.approx(k2)
    assert float(sym["eta_limit_ordered"].subs({chi: 0.6, kappa2: 0.3})) == pytest.approx(0.3 / (0.6 * 0.4))
    assert float(sym["eta_leading_chaotic"].subs({chi: 1.5, kappa2: 0.3})) == pytest.approx(0.3 / (1.5 * 0.5))
    assert float(sym["k2_edge"].subs({kappa2: 0.3, L: 7})) == pytest.approx(2.1)


@pytest.mark.parametrize("chi,kappa2,regime", [(0.8, 0.5, "ordered"), (1.0, 0.5, "edge"), (1.3, 0.8, "chaotic")])
@pytest.mark.parametrize("dim", [1, 2, 3])
def test_depth_asymptotics_match_numerical_counts(chi, kappa2, regime, dim):
    asym = kr.depth_asymptotics(chi, kappa2, dim)
    assert asym.regime == regime
    ratios = []
    for L in (10, 40, 160):
        k1, k2 = kr.composed_derivatives(chi, kappa2, L)
        if not (k1 > 1e-250 and np.isfinite(k2) and k1 < 1e250):
            continue
        ratios.append(kr.expected_critical_points(k1, k2, dim) / asym.leading(L))
    err = np.abs(np.array(ratios) - 1)
    assert err[-1] < 0.02 and err[-1] <= err[0] + 1e-12


def test_depth_asymptotics_with_threshold_and_index():
    """At the edge the height decorrelates from the Hessian only like rho ~ (kappa2 L)^(-1/2): slow."""
    for chi, kappa2 in [(0.8, 0.5), (1.0, 0.5), (1.3, 0.8)]:
        asym = kr.depth_asymptotics(chi, kappa2, 2, index=2, above=0.5)
        L = 60 if chi != 1.0 else 40_000
        k1, k2 = kr.composed_derivatives(chi, kappa2, L)
        num = kr.expected_critical_points(k1, k2, 2, index=2, above=0.5)
        assert num / asym.leading(L) == pytest.approx(1.0, abs=0.02)


def test_large_eta_constants():
    """eta -> inf: E N ~ 2 sqrt(3) eta^(1/2) on S^1 and (8/sqrt 3) eta on S^2 (series of the closed forms)."""
    assert kr.depth_asymptotics(1.0, 1.0, 1).constant == pytest.approx(2 * math.sqrt(3), rel=1e-9)
    assert kr.depth_asymptotics(1.0, 1.0, 2).constant == pytest.approx(8 / math.sqrt(3), rel=1e-8)
    a = kr.depth_asymptotics(1.0, 1.0, 2, index=1)
    assert a.constant == pytest.approx(4 / math.sqrt(3), rel=1e-8)


# ---------------------------------------------------------------- networks
kernels = pytest.importorskip("nnlandscape.kernels")


@pytest.mark.parametrize("act", ["tanh", "erf", "sin", "swish"])
def test_network_derivatives_match_normalized_kernel(act):
    k1, k2 = kr.network_derivatives(act, [1, 4], sigma_w2=1.6, sigma_b2=0.2)
    for i, L in enumerate([1, 4]):
        ref1 = kernels.normalized_kernel(act, L, 1.0, sigma_w2=1.6, sigma_b2=0.2, derivative=1)
        ref2 = kernels.normalized_kernel(act, L, 1.0, sigma_w2=1.6, sigma_b2=0.2, derivative=2)
        assert k1[i] == pytest.approx(ref1, rel=1e-9)
        assert k2[i] == pytest.approx(ref2, rel=1e-9)


def test_linear_network_has_two_critical_points():
    np.testing.assert_allclose(kr.network_critical_points("linear", [1, 5, 20], 2, sigma_w2=0.8, sigma_b2=0.3), 2.0,
                               atol=1e-9)


def test_network_counts_follow_their_kernel():
    k1, k2 = kr.network_derivatives("erf", 3, sigma_w2=2.5, sigma_b2=0.1)
    got = kr.network_critical_points("erf", 3, 3, sigma_w2=2.5, sigma_b2=0.1, index=1)
    assert got == pytest.approx(kr.expected_critical_points(k1, k2, 3, index=1))


def test_regime_map():
    gh_x, gh_w = np.polynomial.hermite_e.hermegauss(120)
    gh_w = gh_w / gh_w.sum()
    # erf with bias: iterate q* by Gauss-Hermite (independent of kernels' closed form)
    sw, sb = 3.0, 0.5
    q = 1.0
    for _ in range(2000):
        q = sw * gh_w @ special.erf(math.sqrt(q) * gh_x) ** 2 + sb
    d1 = 2 / math.sqrt(math.pi) * np.exp(-q * gh_x**2)
    d2 = -2 * math.sqrt(q) * gh_x * d1
    r = kr.regime("erf", sigma_w2=sw, sigma_b2=sb)
    assert r.q_star == pytest.approx(q, rel=1e-8)
    assert r.chi == pytest.approx(sw * gh_w @ d1**2, rel=1e-8)
    assert r.kappa2 == pytest.approx(sw * q * gh_w @ d2**2, rel=1e-6)
    assert r.name == ("chaotic" if r.chi > 1 else "ordered")
    assert kr.regime("tanh", sigma_w2=0.5).name == "ordered"
    assert kr.regime("tanh", sigma_w2=0.5).chi == pytest.approx(0.5)
    assert kr.regime("tanh", sigma_w2=3.0).name == "chaotic"
    assert kr.regime("relu", sigma_w2=2.0) == kr.Regime("edge", 1.0, math.inf, 2.0, False)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call",
    [
        lambda: kr.expected_critical_points(1.0, 0.5, 0),
        lambda: kr.expected_critical_points(1.0, 0.5, kr.MAX_DIM + 1),
        lambda: kr.expected_critical_points(1.0, 0.5, 2, index=3),
        lambda: kr.expected_critical_points(1.0, math.inf, 2),
        lambda: kr.expected_critical_points(0.0, 0.5, 2),
        lambda: kr.expected_critical_points(2.0, 0.5, 2),  # k1 + k2 < k1^2: no such covariance
        lambda: kr.expected_critical_points(1.0, 0.5, 2, above=math.nan),
        lambda: kr.expected_critical_points(1.0, 0.5, 2, method="mc"),
        lambda: kr.expected_critical_points(1.0, 0.5, 3, method="closed"),
        lambda: kr.network_critical_points("relu", 3, 2, sigma_w2=2.0),
        lambda: kr.network_critical_points("leaky_relu", 3, 2),
        lambda: kr.network_critical_points("tanh", 0, 2),
        lambda: kr.network_critical_points("tanh", 2, 0),
        lambda: kr.network_critical_points("nope", 2, 2),
        lambda: kr.composed_derivatives(1.2, 0.3, 0),
        lambda: kr.depth_asymptotics(1.2, 0.0, 2),
        lambda: kr.regime("softplus", sigma_w2=50.0, sigma_b2=1.0),
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_relu_error_names_the_cusp():
    with pytest.raises(ValueError, match="cusp"):
        kr.network_critical_points("relu", 2, 1)


# ---------------------------------------------------------------- by index, edge of chaos (chapter 05)
def test_network_counts_by_index_agree_with_single_index_calls():
    depths = [1, 3, 8]
    for dim, above in [(1, None), (2, None), (2, 0.7), (3, -0.2)]:
        rows = kr.network_critical_points_by_index("erf", depths, dim, sigma_w2=1.8, sigma_b2=0.1, above=above)
        assert rows.shape == (3, dim + 1)
        tot = kr.network_critical_points("erf", depths, dim, sigma_w2=1.8, sigma_b2=0.1, above=above)
        np.testing.assert_allclose(rows.sum(axis=1), tot, rtol=1e-12)
        for k in range(dim + 1):
            np.testing.assert_allclose(
                rows[:, k], kr.network_critical_points("erf", depths, dim, sigma_w2=1.8, sigma_b2=0.1, index=k,
                                                       above=above), rtol=1e-12)
        if above is None:  # minima and maxima are exchanged by f -> -f
            np.testing.assert_allclose(rows[:, 0], rows[:, -1], rtol=1e-9)
    assert kr.network_critical_points_by_index("sin", 2, 1).shape == (2,)


def _chi_by_quad(name, sw, sb):
    from scipy import integrate

    from nnlandscape.activations import get_activation

    act = get_activation(name)

    def expect(fn, q):
        g = lambda z: float(fn(np.sqrt(q) * z)) * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)  # noqa: E731
        return integrate.quad(g, -40, 40, points=[0.0], epsabs=1e-14, epsrel=1e-12, limit=200)[0]

    q = sw + sb
    for _ in range(2000):
        q_new = sw * expect(lambda u: act.f(u) ** 2, q) + sb
        if abs(q_new - q) < 1e-15:
            break
        q = q_new
    return sw * expect(lambda u: act.d1(u) ** 2, q)


def test_edge_of_chaos_closed_forms():
    # sigma_b2 = 0: q* = 0 and chi = sigma_w2 phi'(0)^2; erf'(0) = 2/sqrt(pi), tanh'(0) = sin'(0) = 1
    assert kr.edge_of_chaos("erf") == pytest.approx(math.pi / 4, rel=1e-7)
    assert kr.edge_of_chaos("tanh") == pytest.approx(1.0, rel=1e-6)
    assert kr.edge_of_chaos("sin") == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("act", ["tanh", "erf", "sin"])
def test_edge_of_chaos_is_chi_one_and_grows_with_bias(act):
    edges = [kr.edge_of_chaos(act, sigma_b2=sb) for sb in (0.02, 0.1, 0.4)]
    assert edges[0] < edges[1] < edges[2]  # more bias needs more weight variance to be chaotic
    for sb, sw in zip((0.02, 0.1, 0.4), edges):
        # independent of regime(): q* by plain iteration of the variance map and chi_1, both by
        # adaptive quadrature of the activation itself (quad to 1e-12; the map contracts, so q*
        # carries that error; d chi/d sigma_w2 = O(1), so chi = 1 to ~1e-9)
        assert _chi_by_quad(act, sw, sb) == pytest.approx(1.0, abs=1e-8)
        assert kr.regime(act, sigma_w2=0.95 * sw, sigma_b2=sb).name == "ordered"
        assert kr.regime(act, sigma_w2=1.05 * sw, sigma_b2=sb).name == "chaotic"


@pytest.mark.parametrize("call", [
    lambda: kr.edge_of_chaos("relu"),  # homogeneous: chi = 1 everywhere
    lambda: kr.edge_of_chaos("sigmoid", sigma_b2=0.1),  # chi < 1 on the whole range
    lambda: kr.edge_of_chaos("tanh", sigma_b2=-1.0),
    lambda: kr.network_critical_points_by_index("relu", 2, 2),
    lambda: kr.network_critical_points_by_index("tanh", 0, 2),
    lambda: kr.network_critical_points_by_index("tanh", 2, 0),
])
def test_chapter05_bad_input(call):
    with pytest.raises(ValueError):
        call()


# ---------------------------------------------------------------- single harmonics: the boundary of the valid pairs
@pytest.mark.parametrize("l", [2, 3, 4, 7])
def test_trigonometric_polynomial_on_circle(l):
    """K = T_l (f = A cos(l t) + B sin(l t)): exactly 2l critical points, by both paths."""
    T = special.chebyt(l)
    k1, k2 = T.deriv(1)(1.0), T.deriv(2)(1.0)
    assert k1 + k2 < k1 * k1  # the old d -> infinity rule refused it
    for method in ("closed", "goe"):
        assert by_index(k1, k2, 1, method=method) == pytest.approx([l, l], rel=1e-9)


@pytest.mark.parametrize("dim", [1, 2, 3, 4, 6])
def test_degree_two_harmonic_has_two_points_of_each_index(dim):
    """A traceless quadratic form on S^d (Gegenbauer degree 2): its critical points are the 2(d+1)
    eigenvectors, exactly 2 of each index."""
    k = 2.0 * (dim + 1) / dim  # K(t) = ((d+1) t^2 - 1)/d
    assert by_index(k, k, dim, method="goe") == pytest.approx(np.full(dim + 1, 2.0), abs=1e-8)


@pytest.mark.parametrize("l", [2, 3, 5, 8])
def test_spherical_harmonics_closed_form_equals_goe(l):
    """K = P_l on S^2: Cheng-Schwartzman and the Pfaffian path agree, also with a threshold; N = 6 at l = 2."""
    P = special.legendre(l)
    k1, k2 = P.deriv(1)(1.0), P.deriv(2)(1.0)
    closed = by_index(k1, k2, 2, method="closed")
    np.testing.assert_allclose(by_index(k1, k2, 2, method="goe"), closed, rtol=1e-7)
    eta = (l - 1) * (l + 2) / 4
    assert closed.sum() == pytest.approx(2 + 8 * eta**1.5 / math.sqrt(1 + 3 * eta), rel=1e-12)
    if l == 2:
        assert closed == pytest.approx([2, 2, 2])
    # with a threshold the closed path holds; the Euler characteristic of the excursion set is the GKF
    for u in (-0.5, 0.7):
        c = by_index(k1, k2, 2, above=u)
        assert c @ [1, -1, 1] == pytest.approx(kr.expected_euler_characteristic(k1, 2, u), abs=1e-7)


@pytest.mark.parametrize("l", [2, 3, 4])
def test_gegenbauer_harmonics_on_s3(l):
    """K = U_l/(l+1) on S^3 (a single harmonic): accepted; Morse sum 0; l = 2 gives 2 of each index."""
    U = special.chebyu(l)
    k1, k2 = U.deriv(1)(1.0) / U(1.0), U.deriv(2)(1.0) / U(1.0)
    c = by_index(k1, k2, 3)
    assert c @ [1, -1, 1, -1] == pytest.approx(0.0, abs=1e-8)
    if l == 2:
        assert c == pytest.approx([2, 2, 2, 2], abs=1e-8)
    # with a threshold the GOE split cannot carry the height (k1 + k2 < k1^2): only method="goe" refuses
    with pytest.raises(ValueError, match="k1 \\+ k2 >= k1\\*\\*2"):
        by_index(k1, k2, 3, above=0.5, method="goe")
    for u in (-0.8, 0.5):  # the traceless path: the Euler characteristic of {f >= u} is the GKF
        cu = by_index(k1, k2, 3, above=u)
        assert np.all(cu >= 0) and np.all(cu <= c + 1e-9)
        assert cu @ [-1, 1, -1, 1] == pytest.approx(kr.expected_euler_characteristic(k1, 3, u), abs=1e-7)


def test_valid_pairs_depend_on_dimension():
    k1, k2 = 3.0, 3.0  # P_2 on S^2: valid on S^1 and S^2, not on S^3 (1 + 2/3 < 3)
    assert kr.expected_critical_points(k1, k2, 2) == pytest.approx(6.0)
    with pytest.raises(ValueError, match="S\\^3"):
        kr.expected_critical_points(k1, k2, 3)


# ---------------------------------------------------------------- SiLU and GELU: unstable variance fixed points
def _gh_regime(phi, dphi, d2phi, sw, sb):
    """Independent: the positive root of V(q) = q by bisection, chi and kappa2 there, by Gauss-Hermite."""
    x, w = np.polynomial.hermite_e.hermegauss(160)
    w = w / w.sum()

    def gap(q):
        return sw * w @ phi(math.sqrt(q) * x) ** 2 + sb - q

    lo, hi = 1e-3, 1e3
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if gap(mid) * gap(lo) > 0:
            lo = mid
        else:
            hi = mid
    q = math.sqrt(lo * hi)
    z = math.sqrt(q) * x
    return q, sw * w @ dphi(z) ** 2, sw * q * w @ d2phi(z) ** 2


def _silu(z):
    return z / (1 + np.exp(-z))


def _gelu(z):
    return z * special.ndtr(z)


@pytest.mark.parametrize("name,sw", [("silu", 3.0), ("silu", 2.5), ("gelu", 3.0), ("gelu", 2.2)])
def test_silu_gelu_regime_at_the_unstable_fixed_point(name, sw):
    f = _silu if name == "silu" else _gelu
    h = 1e-4
    d1 = lambda z: (f(z + h) - f(z - h)) / (2 * h)  # noqa: E731
    d2 = lambda z: (f(z + h) - 2 * f(z) + f(z - h)) / h**2  # noqa: E731
    q, chi, k2 = _gh_regime(f, d1, d2, sw, 0.0)
    r = kr.regime(name, sigma_w2=sw)
    assert not r.stable
    assert r.q_star == pytest.approx(q, rel=1e-8)
    assert r.chi == pytest.approx(chi, rel=1e-6)
    assert r.kappa2 == pytest.approx(k2, rel=1e-5)
    assert r.name == ("chaotic" if chi > 1 else "ordered")
    # the network count exists at finite depth and follows its own kernel
    k1n, k2n = kr.network_derivatives(name, 3, sigma_w2=sw)
    assert kr.network_critical_points(name, 3, 2, sigma_w2=sw) == pytest.approx(kr.expected_critical_points(k1n, k2n, 2))


def test_silu_is_swish_one_and_stable_cases_stay_stable():
    r1, r2 = kr.regime("silu", sigma_w2=1.5, sigma_b2=0.1), kr.regime("swish", sigma_w2=1.5, sigma_b2=0.1)
    assert r1.stable and r1.name == "ordered"
    assert r1.chi == pytest.approx(r2.chi, rel=1e-12) and r1.q_star == pytest.approx(r2.q_star, rel=1e-12)
    with pytest.raises(ValueError, match="diverges"):  # V(q)/q > 1 everywhere: no fixed point at all
        kr.regime("gelu", sigma_w2=5.0)


# ---------------------------------------------------------------- depth asymptotics of the real network
@pytest.mark.parametrize("sw", [1.2, None, 3.0])
def test_network_depth_asymptotics_include_the_first_layers(sw):
    sw = kr.edge_of_chaos("tanh", sigma_b2=0.05) if sw is None else sw
    asy = kr.network_depth_asymptotics("tanh", 2, sigma_w2=sw, sigma_b2=0.05)
    k1, _ = kr.network_derivatives("tanh", 300, sigma_w2=sw, sigma_b2=0.05)
    assert asy.prefactor == pytest.approx(k1 / asy.chi**300, rel=1e-8)
    L = np.array([100, 200, 400])
    ratio = kr.network_critical_points("tanh", L, 2, sigma_w2=sw, sigma_b2=0.05) / asy.leading(L)
    if asy.regime == "edge":  # relative correction O(1/L): halves when L doubles
        dev = np.abs(ratio - 1)
        assert dev[-1] < 0.02 and dev[2] / dev[1] == pytest.approx(0.5, rel=0.1)
    else:
        assert ratio == pytest.approx(1.0, rel=1e-6)
    assert asy.prefactor != pytest.approx(1.0, rel=0.05)  # the idealised map misses it


# ---------------------------------------------------------------- thresholds below k1 + k2 = k1^2: the traceless split
def _traceless_polar_d3(y):
    """Independent T_k(y) for the 3x3 traceless GOE: polar coordinates on the plane sum(mu) = 0,
    density ~ r^4 e^{-r^2/4} |V(theta)| (Vandermonde), nested scipy quad split at the kinks."""
    e1 = np.array([1.0, -1.0, 0.0]) / math.sqrt(2.0)
    e2 = np.array([1.0, 1.0, -2.0]) / math.sqrt(6.0)
    opts = dict(epsabs=1e-12, epsrel=1e-10, limit=200)

    def radial(th, k):
        c = math.cos(th) * e1 + math.sin(th) * e2
        V = abs((c[0] - c[1]) * (c[0] - c[2]) * (c[1] - c[2]))
        kinks = sorted(-y / ci for ci in c if ci != 0 and -y / ci > 0)
        edges = [0.0] + kinks + [40.0]

        def f(r):
            if k is None:
                return r**4 * math.exp(-r * r / 4)
            mu = r * c + y
            return float(np.prod(np.abs(mu))) * r**4 * math.exp(-r * r / 4) if np.sum(mu < 0) == k else 0.0

        return V * sum(integrate.quad(f, a, b, **opts)[0] for a, b in zip(edges[:-1], edges[1:]))

    ths = np.arange(13) * math.pi / 6  # kinks of |V(theta)| at collisions
    Z = sum(integrate.quad(radial, a, b, args=(None,), **opts)[0] for a, b in zip(ths[:-1], ths[1:]))
    return np.array([sum(integrate.quad(radial, a, b, args=(k,), **opts)[0] for a, b in zip(ths[:-1], ths[1:])) / Z
                     for k in range(4)])


@pytest.mark.slow
def test_traceless_goe_moments_against_polar_quadrature():
    ys = np.array([-1.3, 0.5, 2.2])
    ref = np.array([_traceless_polar_d3(y) for y in ys]).T
    got = kr._F_scaled(ys, 3, 1.0, traceless=True)
    np.testing.assert_allclose(got, ref, atol=1e-7)  # quadratures at 1e-10; the Fourier path at ~1e-8


def test_traceless_moments_exact_on_s2_and_convolve_to_goe():
    """d = 2: M0 has eigenvalues +-r, r ~ Rayleigh(1), so T_1(y) = E[(r^2 - y^2) 1{r > |y|}] and
    T_0(y) = E[(y^2 - r^2) 1{r < y}] in closed form; d = 3, 4: T convolved with N(0, 2/d) is the GOE F."""
    ys = np.linspace(-5.0, 5.0, 23)
    Y = ys * ys / 2
    t0 = ys**2 * (1 - np.exp(-Y)) - 2 * (1 - np.exp(-Y) - Y * np.exp(-Y))
    exact = np.array([np.where(ys > 0, t0, 0.0), (2 - ys**2 + 2 * Y) * np.exp(-Y), np.where(ys < 0, t0, 0.0)])
    np.testing.assert_allclose(kr._F_scaled(ys, 2, 1.0, traceless=True), exact, atol=5e-5)
    z, wz = np.polynomial.hermite_e.hermegauss(80)
    wz = wz / wz.sum()
    s = np.array([-2.0, -0.4, 0.9, 3.0])
    for d in (3, 4):
        conv = np.array([kr._F_scaled(si + math.sqrt(2.0 / d) * z, d, 1.0, traceless=True) @ wz for si in s]).T
        np.testing.assert_allclose(conv, kr.goe_det_moments(s, d), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("dim", [2, 3, 4])
def test_traceless_path_equals_goe_path_where_both_hold(dim):
    for k1, k2, u in [(1.0, 0.7, 0.3), (2.0, 3.5, -0.4), (0.5, 0.2, 1.1)]:
        assert k1 + k2 >= k1 * k1
        goe = by_index(k1, k2, dim, above=u, method="goe")
        tl = by_index(k1, k2, dim, above=u, method="traceless")
        np.testing.assert_allclose(tl, goe, rtol=1e-6, atol=1e-7 * goe.sum())


@pytest.mark.parametrize("l", [2, 3, 5])
def test_traceless_path_equals_closed_forms_on_s2(l):
    """P_l on S^2 lies below k1 + k2 = k1^2: the Cheng-Schwartzman closed form and the traceless split agree."""
    P = special.legendre(l)
    k1, k2 = P.deriv(1)(1.0), P.deriv(2)(1.0)
    for u in (-0.5, 0.7):
        np.testing.assert_allclose(by_index(k1, k2, 2, above=u, method="traceless"),
                                   by_index(k1, k2, 2, above=u, method="closed"), rtol=1e-5, atol=1e-6)


def _conditional_hessian_mc(k1, k2, d, u, n, seed):
    """Kac-Rice by brute force: (f, H) drawn from their joint Gaussian law (Cheng-Schwartzman's covariances,
    no split), E[|det H| 1{ind = k} 1{f > u}] |S^d| / (2 pi k1)^{d/2}; returns (mean, standard error) by index."""
    rng = np.random.default_rng(seed)
    iu = np.array(np.triu_indices(d))
    m = iu.shape[1]
    C = np.zeros((m + 1, m + 1))
    C[0, 0] = 1.0
    for a, (i, j) in enumerate(zip(*iu.tolist())):  # python ints: numpy bools would add as "or"
        C[0, a + 1] = C[a + 1, 0] = -k1 * (i == j)
        for b, (k, l) in enumerate(zip(*iu.tolist())):
            C[a + 1, b + 1] = k2 * ((i == k) * (j == l) + (i == l) * (j == k)) + (k1 + k2) * (i == j) * (k == l)
    w, V = np.linalg.eigh(C)
    assert w.min() > -1e-9  # a valid joint law on S^d
    X = rng.standard_normal((n, m + 1)) @ (V * np.sqrt(np.clip(w, 0, None))).T
    H = np.zeros((n, d, d))
    H[:, iu[0], iu[1]] = X[:, 1:]
    H = H + np.triu(H, 1).transpose(0, 2, 1)
    ev = np.linalg.eigvalsh(H)
    val = np.abs(np.prod(ev, axis=1)) * (X[:, 0] > u)
    ind = (ev < 0).sum(axis=1)
    pref = kr.sphere_volume(d) / (2 * math.pi * k1) ** (d / 2)
    per = np.array([val * (ind == k) for k in range(d + 1)]) * pref
    return per.mean(axis=1), per.std(axis=1) / math.sqrt(n)


@pytest.mark.parametrize("k1, k2, dim", [(3.0, 5.0, 3), (4.0, 9.0, 4)])
def test_traceless_path_against_conditional_hessian_monte_carlo(k1, k2, dim):
    assert k1 + k2 < k1 * k1 <= k1 + k2 + 2 * k2 / dim  # valid on S^d, refused by the GOE split
    for u in (-0.3, 0.8):
        mean, se = _conditional_hessian_mc(k1, k2, dim, u, 200_000, seed=11)
        got = by_index(k1, k2, dim, above=u)
        # 5 s.e., plus 1e-3 absolute: a count of 1e-5 (minima high up) is one or no hit in 2e5 draws
        assert np.all(np.abs(got - mean) <= 5 * se + 1e-3), (got, mean, se)


def test_degree_two_gegenbauer_field_on_s3_matches_its_own_monte_carlo():
    """f(x) = x^T A x / c on S^3 with A a traceless GOE matrix: K(t) = (4t^2 - 1)/3 = U_2(t)/3. Its critical
    points are the eigenvectors +-v_j, with value lambda_j/c and index = number of eigenvalues below lambda_j,
    so E N_k(u) = 2 P(lambda_(k+1)/c > u) exactly per sample."""
    rng = np.random.default_rng(3)
    n = 200_000
    G = rng.standard_normal((n, 4, 4))
    A = (G + G.transpose(0, 2, 1)) / 2
    A = A - np.trace(A, axis1=1, axis2=2)[:, None, None] / 4 * np.eye(4)
    lam = np.linalg.eigvalsh(A)  # ascending
    c = np.sqrt(np.mean(np.einsum("bij,i,j->b", A, *(np.eye(4)[0],) * 2) ** 2))  # sd of f at a point
    k1 = k2 = 8.0 / 3.0
    for u in (-0.6, 0.0, 0.9):
        hits = 2.0 * (lam / c > u)
        got = by_index(k1, k2, 3, above=u)
        se = hits.std(axis=0) / math.sqrt(n)
        assert np.all(np.abs(got - hits.mean(axis=0)) <= 5 * se + 1e-9), (got, hits.mean(axis=0), se)


@pytest.mark.parametrize("dim", [3, 5])
def test_traceless_thresholds_tend_to_totals_and_sum_over_index(dim):
    k1 = 3.0
    k2 = k1 * (k1 - 1) / (1 + 2 / dim) + 0.3  # between the two conditions
    assert k1 + k2 < k1 * k1 <= k1 + k2 + 2 * k2 / dim
    total = by_index(k1, k2, dim)
    np.testing.assert_allclose(by_index(k1, k2, dim, above=-40.0), total, rtol=1e-7)
    assert np.allclose(by_index(k1, k2, dim, above=40.0), 0.0, atol=1e-12)
    prev = total
    for u in (-1.0, 0.0, 1.0):
        c = by_index(k1, k2, dim, above=u)
        assert kr.expected_critical_points(k1, k2, dim, above=u) == pytest.approx(c.sum(), rel=1e-12)
        assert np.all(c <= prev + 1e-9)  # fewer points above a higher level, index by index
        sign = (-1.0) ** (dim - np.arange(dim + 1))
        assert c @ sign == pytest.approx(kr.expected_euler_characteristic(k1, dim, u), abs=1e-6)
        prev = c
