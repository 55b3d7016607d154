"""Tests of nnlandscape.replica / nnlandscape.parisi against closed forms, literature values and
independent computations.

Literature: spherical SK (Kosterlitz, Thouless & Jones, PRL 36, 1217 (1976)); pure 3-spin
(Crisanti & Sommers, Z. Phys. B 87, 341 (1992); Cugliandolo & Kurchan, PRL 71, 173 (1993));
zero-temperature criterion (Chen & Sen, CMP 350, 129 (2017)); Talagrand, Ann. Math. 163, 221 (2006).
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import optimize

from nnlandscape import replica as R
from nnlandscape.parisi import ground_state_certificate, parisi_certificate
from nnlandscape.replica import Mixture

SK = Mixture.from_coefficients([0, 0.5])  # xi = q^2/2
P3 = Mixture.from_coefficients([0, 0, 0.5])  # xi = q^3/2 (Crisanti-Sommers normalisation)
H = 0.7
RF = Mixture.from_coefficients([H**2])  # pure random field
FRSB_MIX = Mixture.from_coefficients([0, 0.5, 0, 0.1])  # 2+4: xi''^{-1/2} concave near 0


# ---------------------------------------------------------------------------- RS closed forms
def test_sk_rs_closed_forms():
    T = np.array([0.05, 0.3, 0.7, 0.99, 1.0, 1.3, 4.0])
    s = R.rs_solution(SK, T)
    low = T < 1
    np.testing.assert_allclose(s.q, np.where(low, 1 - T, 0.0), atol=1e-13)
    np.testing.assert_allclose(s.energy, np.where(low, -1 + T / 2, -0.5 / T), rtol=1e-12)
    np.testing.assert_allclose(s.entropy, np.where(low, -0.25 + 0.5 * np.log(T), -0.25 / T**2), rtol=1e-11)
    # KTJ free energy: -beta f = beta - 3/4 + log(T)/2 below T_c
    np.testing.assert_allclose(s.free_entropy[low], 1 / T[low] - 0.75 + 0.5 * np.log(T[low]), rtol=1e-12)
    # replicon: marginal (0) below T_c, 1 - beta^2 above
    np.testing.assert_allclose(s.replicon, np.where(low, 0.0, 1 - 1 / T**2), atol=1e-12)


def test_random_field_closed_form():
    T = np.geomspace(0.01, 10, 9)
    b = 1 / T
    y = (-1 + np.sqrt(1 + 4 * b**2 * H**2)) / (2 * b**2 * H**2)  # beta^2 h^2 y^2 = 1 - y
    s = R.rs_solution(RF, T)
    np.testing.assert_allclose(s.y, y, rtol=1e-12)
    np.testing.assert_allclose(s.energy, -b * H**2 * y, rtol=1e-12)
    assert R.rs_breaking_temperature(RF) == 0.0
    assert R.rs_ground_state_energy(RF) == pytest.approx(-H, rel=1e-15)
    assert R.ground_state_energy(RF) == pytest.approx(-H, rel=1e-10)  # min of h g.x/sqrt(N) on the sphere
    assert R.t0_rs_criterion(RF).rs and R.at_most_1rsb(RF)


def test_scalar_and_array_shapes():
    s = R.rs_solution(SK, 0.5)
    assert isinstance(s.q, float) and s["energy"] == s.energy
    arr = R.rs_solution(SK, np.array([[0.25, 0.5, 2.0], [0.75, 1.5, 0.1]]))
    assert arr.q.shape == (2, 3)
    # values, not only shapes: spherical SK has q = max(1 - T, 0) (Crisanti-Sommers closed form)
    np.testing.assert_allclose(arr.q, [[0.75, 0.5, 0.0], [0.25, 0.0, 0.9]], atol=1e-12)


# ---------------------------------------------------------------------------- RS invariants
mixtures = st.lists(st.floats(0.0, 2.0), min_size=1, max_size=5).filter(lambda b: sum(b) > 0.05)


@settings(max_examples=25, deadline=None)
@given(b=mixtures, T=st.floats(0.03, 3.0))
def test_rs_is_global_minimiser_and_envelope(b, T):
    m = Mixture.from_coefficients(b)
    s = R.rs_solution(m, T)
    beta = 1 / T
    # saddle-point equation beta^2 xi'(q) (1-q)^2 = q, unless q = 0 (then xi'(0) = 0)
    assert beta**2 * m.dxi(s.q) * s.y**2 == pytest.approx(s.q, rel=1e-8, abs=1e-12)
    # global minimiser of phi_RS over a grid of q
    q = np.linspace(0, 1, 4001)[:-1]
    phi = 0.5 * beta**2 * (m.xi(1.0) - m.xi(q)) + 0.5 * (np.log1p(-q) + q / (1 - q))
    assert s.free_entropy <= phi.min() + 1e-10 * (1 + abs(phi.min()))
    # energy = -d phi / d beta (envelope theorem), checked by finite differences
    h = 1e-5 * beta
    fp, fm = R.rs_solution(m, 1 / (beta + h)).free_entropy, R.rs_solution(m, 1 / (beta - h)).free_entropy
    assert -(fp - fm) / (2 * h) == pytest.approx(s.energy, rel=1e-5, abs=1e-7)
    assert s.entropy == pytest.approx(s.free_entropy + beta * s.energy, rel=1e-10, abs=1e-10)
    # the Crisanti-Sommers functional with one atom is phi_RS
    assert R.parisi_functional(m, T, [s.q], [1.0]) == pytest.approx(s.free_entropy, rel=1e-11)
    # the RS energy lies above the RS ground state; where RS is the true solution its entropy is
    # the quenched entropy, which lies below the annealed bound (Jensen). Where RS is broken it
    # need not: xi = 2q^3 + q^4 at T = 1 has s_RS > s_annealed (the example below).
    assert s.energy >= R.rs_ground_state_energy(m) - 1e-12
    if R.rs_is_exact(m, T):
        assert s.entropy <= R.annealed_entropy(m, s.energy) + 1e-9


def test_broken_rs_can_exceed_the_annealed_entropy():
    m = Mixture.from_coefficients([0.0, 0.0, 2.0, 1.0])
    s = R.rs_solution(m, 1.0)
    assert not R.rs_is_exact(m, 1.0) and s.replicon < 0
    assert s.entropy > R.annealed_entropy(m, s.energy) + 1e-3


@settings(max_examples=15, deadline=None)
@given(b=mixtures, T=st.floats(0.05, 2.0), c=st.floats(0.2, 5.0))
def test_scaling_xi_by_c(b, T, c):
    """xi -> c xi is H -> sqrt(c) H: energies scale by sqrt(c) at temperature sqrt(c) T."""
    m1, mc = Mixture.from_coefficients(b), Mixture.from_coefficients(np.asarray(b) * c)
    s1, sc = R.rs_solution(m1, T), R.rs_solution(mc, math.sqrt(c) * T)
    assert sc.energy == pytest.approx(math.sqrt(c) * s1.energy, rel=1e-9, abs=1e-12)
    assert sc.q == pytest.approx(s1.q, rel=1e-9, abs=1e-12)
    assert R.rs_ground_state_energy(mc) == pytest.approx(math.sqrt(c) * R.rs_ground_state_energy(m1))


@settings(max_examples=15, deadline=None)
@given(b=mixtures, T=st.floats(0.05, 2.0))
def test_first_order_test_matches_certificate(b, T):
    """Two independent codes for the RS first-order condition: closed-form D(u) and the
    exact gradient of the discretised Crisanti-Sommers functional."""
    m = Mixture.from_coefficients(b)
    fo = R.first_order_rs_test(m, T)
    gap, _ = parisi_certificate(m, T, [fo.q], [1.0])
    assert gap == pytest.approx(fo.min_D / 2, rel=1e-3, abs=1e-9 * (1 + m.xi1 / T**2))
    if fo.replicon < -1e-6:
        assert not fo.exact  # the replicon is the local part of the exact test


# ---------------------------------------------------------------------------- SK and stability
def test_sk_rs_exact_everywhere():
    assert R.rs_breaking_temperature(SK) == 0.0
    assert R.replicon_temperature(SK) == 0.0
    assert all(R.first_order_rs_test(SK, T).exact for T in (0.1, 0.5, 0.95, 2.0))
    crit = R.t0_rs_criterion(SK)
    assert crit.rs and crit.ratio == 1.0  # marginal: xi''(1) = xi'(1)
    assert R.ground_state_energy(SK) == pytest.approx(-1.0, abs=1e-10)
    assert R.dynamic_temperature(SK) == pytest.approx(1.0, abs=1e-6)  # continuous transition: T_d = T_c
    sol = R.frsb_solution(SK, 0.4)
    assert sol.steps == 0 and sol.q_max == pytest.approx(0.6, abs=1e-10)


def test_sk_microcanonical_entropy():
    E = np.array([-0.999, -0.9, -0.6, -0.5, -0.3, -0.05, 0.0, 0.4])
    a = np.abs(E)
    exact = np.where(a <= 0.5, -(E**2), -0.25 + 0.5 * np.log(2 * (1 - a)))
    np.testing.assert_allclose(R.microcanonical_entropy(SK, E), exact, atol=1e-6)
    assert R.microcanonical_entropy(SK, -1.0) == -np.inf
    e, s = R.rs_entropy_curve(SK, np.array([0.3, 2.0]))
    np.testing.assert_allclose(s, R.microcanonical_entropy(SK, e), atol=1e-6)


# ---------------------------------------------------------------------------- pure 3-spin
def test_p3_transition_temperatures():
    Ts = R.rs_breaking_temperature(P3)
    assert Ts == pytest.approx(0.586, abs=1e-3)  # Crisanti & Sommers 1992
    assert Ts == pytest.approx(R.static_temperature(P3), rel=1e-7)
    assert R.dynamic_temperature(P3) == pytest.approx(math.sqrt(3 / 8), rel=1e-9)
    # the replicon of the RS solution misses the discontinuous transition
    assert R.replicon_temperature(P3) < Ts - 0.1
    assert R.first_order_rs_test(P3, 0.58).replicon > 0 and not R.first_order_rs_test(P3, 0.58).exact
    assert R.at_most_1rsb(P3)
    assert not R.t0_rs_criterion(P3).rs


def _p3_1rsb_closed(q1, m, beta):
    """1RSB Crisanti-Sommers functional with q0 = 0 for xi = q^3/2 (written out by hand)."""
    xi = lambda q: q**3 / 2  # noqa: E731
    return 0.5 * (beta**2 * (m * xi(q1) + xi(1) - xi(q1)) + np.log1p(m * q1 / (1 - q1)) / m + np.log1p(-q1))


@pytest.mark.parametrize("T", [0.3, 0.5])
def test_p3_one_step_rsb(T):
    beta = 1 / T
    k1 = R.krsb_solution(P3, T, 1)
    q0, q1 = k1.q_atoms
    m = k1.weights[0]
    assert q0 == pytest.approx(0.0, abs=1e-8)
    # independent minimisation of the closed-form 1RSB functional
    res = optimize.minimize(lambda p: _p3_1rsb_closed(p[0], p[1], beta), [q1 * 0.98, min(m * 1.1, 0.99)],
                            method="Nelder-Mead", options={"xatol": 1e-11, "fatol": 1e-15, "maxiter": 5000})
    assert k1.free_entropy == pytest.approx(res.fun, rel=1e-10)
    assert q1 == pytest.approx(res.x[0], abs=1e-6) and m == pytest.approx(res.x[1], abs=1e-6)
    # stationarity in q1: beta^2 xi'(q1) (1-q1) (1 - q1 + m q1) = q1
    assert beta**2 * 1.5 * q1**2 * (1 - q1) * (1 - q1 + m * q1) == pytest.approx(q1, rel=1e-6)
    assert k1.free_entropy < R.rs_solution(P3, T).free_entropy - 1e-3
    # the full Parisi problem finds the same 1RSB measure, certified optimal
    fr = R.frsb_solution(P3, T)
    assert fr.steps == 1 and fr.free_entropy == pytest.approx(k1.free_entropy, rel=1e-9)
    assert fr.certificate > -1e-8 * (1 + beta**2 * P3.xi1)


def test_p3_ground_and_threshold_energy():
    # 1RSB at T = 0 by hand: Q(L, mu) = [xi'(1) L + mu xi(1) + log(1 + mu/L)/mu]/2
    Q = lambda p: 0.5 * (1.5 * p[0] + 0.5 * p[1] + np.log1p(p[1] / p[0]) / p[1])  # noqa: E731
    res = optimize.minimize(Q, [0.5, 0.9], method="Nelder-Mead", options={"xatol": 1e-12, "fatol": 1e-16})
    g = R.frsb_ground_state(P3)
    assert g.energy == pytest.approx(-res.fun, abs=1e-9)
    # literature: E0 = -1.657 and E_th = -2 sqrt(2/3) for xi = q^3; divide by sqrt(2) for q^3/2
    assert g.energy == pytest.approx(-1.657 / math.sqrt(2), abs=2e-4)
    assert R.threshold_energy(P3) == pytest.approx(-2 * math.sqrt(2 / 3) / math.sqrt(2), rel=1e-12)
    assert R.rs_ground_state_energy(P3) < g.energy < R.threshold_energy(P3)
    # the solve ends with Newton on the first-order conditions: the gap is exact up to the rounding
    # of G(u), a cumulative sum of ~3000 O(1) cell terms (3000 * 2.2e-16 ~ 7e-13), on any BLAS path
    assert g.certificate > -1e-12
    assert R.krsb_ground_state(P3, 1).energy == pytest.approx(-res.fun, abs=1e-9)
    # finite T approaches the ground state: e(T) = E0 + O(T)
    assert R.frsb_solution(P3, 0.02).energy == pytest.approx(g.energy, abs=0.02)


def test_t0_rs_criterion_with_field():
    """h^2 q + q^3/2: RS at T = 0 iff xi''(1) = 3 <= xi'(1) = h^2 + 3/2."""
    strong, weak = Mixture.from_coefficients([2.0, 0, 0.5]), Mixture.from_coefficients([0.3, 0, 0.5])
    assert R.t0_rs_criterion(strong).rs and not R.t0_rs_criterion(weak).rs
    assert R.ground_state_energy(strong) == pytest.approx(R.rs_ground_state_energy(strong), abs=1e-10)
    g = R.frsb_ground_state(weak)
    assert g.energy > R.rs_ground_state_energy(weak) + 1e-3
    gap_rs, _ = ground_state_certificate(weak, 1 / math.sqrt(weak.dxi(1.0)), [0.0], [0.0])
    assert gap_rs < 0  # the T = 0 RS data fail their first-order condition


# ---------------------------------------------------------------------------- full RSB
def test_full_rsb_continuous_part():
    """xi = q^2/2 + q^4/10 at T = 0.6: xi''^{-1/2} is concave on [0, 0.65); the Parisi x(q) is
    continuous there and equals xi'''/(2 beta xi''^{3/2})."""
    T, beta = 0.6, 1 / 0.6
    assert not R.at_most_1rsb(FRSB_MIX)
    fr = R.frsb_solution(FRSB_MIX, T)
    assert fr.steps == -1
    assert fr.free_entropy < R.krsb_solution(FRSB_MIX, T, 1).free_entropy - 1e-6
    assert fr.free_entropy < R.rs_solution(FRSB_MIX, T).free_entropy - 1e-4
    q, x = fr.q, fr.x
    sel = (q > 0.1) & (q < 0.4)
    theory = 2.4 * q[sel] / (2 * beta * (1 + 1.2 * q[sel] ** 2) ** 1.5)
    assert np.mean(np.abs(x[sel] - theory)) < 0.02


# ---------------------------------------------------------------------------- networks
def test_from_network():
    kernels = pytest.importorskip("nnlandscape.kernels")
    lin = Mixture.from_network("linear", 2, sigma_w2=1.5)  # xi = sigma_w^{2(L+1)} q: a random field
    q = np.linspace(0, 1, 7)
    np.testing.assert_allclose(lin.xi(q), 1.5**3 * q, rtol=1e-12)
    assert R.ground_state_energy(lin) == pytest.approx(-(1.5**1.5), rel=1e-9)
    assert R.rs_breaking_temperature(lin) == 0.0
    relu = Mixture.from_network("relu", 1, sigma_w2=2.0, sigma_b2=0.1)
    np.testing.assert_allclose(
        relu.xi(q), kernels.covariance("relu", 1, q, sigma_w2=2.0, sigma_b2=0.1)
        - kernels.covariance("relu", 1, 0.0, sigma_w2=2.0, sigma_b2=0.1), rtol=1e-12)
    crit = R.t0_rs_criterion(relu)
    assert not crit.rs and crit.ratio == math.inf  # cusp: xi''(1) = inf
    lam = R.replicon(relu, np.geomspace(1e-4, 1.0, 20))
    assert np.all(np.isfinite(lam) | (lam == -np.inf)) and not np.any(np.isnan(lam))
    Tb = R.rs_breaking_temperature(relu)
    assert 0 < Tb and not R.rs_is_exact(relu, 0.5 * Tb) and R.rs_is_exact(relu, 2 * Tb)
    assert not R.at_most_1rsb(relu)
    sh = Mixture.from_network("shaped_relu", 4, c=0.5)
    assert sh.xi1 > 0


@pytest.mark.parametrize(
    "call, word",
    [
        (lambda: Mixture.from_coefficients([0.5, -0.1]), "coefficients"),
        (lambda: Mixture.from_coefficients([0.0, 0.0]), "coefficients"),
        (lambda: R.rs_solution(SK, 0.0), "T"),
        (lambda: R.rs_solution(SK, [-1.0, 1.0]), "T"),
        (lambda: R.frsb_solution(SK, -0.1), "T"),
        (lambda: R.krsb_solution(SK, 0.5, k=-1), "k"),
        (lambda: R.rs_solution("sk", 0.5), "mixture"),
        (lambda: R.microcanonical_entropy(SK, np.nan), "E"),
        (lambda: R.parisi_functional(SK, 0.5, [0.5], [0.7]), "weights"),
        (lambda: R.static_temperature(RF), "field"),
        (lambda: Mixture.from_callables(lambda q: q - q**2, lambda q: 1 - 2 * q, lambda q: -2 + 0 * q), "xi"),
    ],
)
def test_bad_input(call, word):
    with pytest.raises(ValueError, match=word):
        call()


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(activation="relu", depth=0), "depth"),
        (dict(activation="nope", depth=1), "activation"),
        (dict(activation="tanh", depth=1, sigma_w2=0.0), "sigma_w2"),
        (dict(activation="tanh", depth=1, sigma_b2=-0.1), "sigma_b2"),
        (dict(activation="shaped_relu", depth=4, c=3.0), "c="),
    ],
)
def test_bad_network_input(kwargs, word):
    pytest.importorskip("nnlandscape.kernels")
    act = kwargs.pop("activation")
    depth = kwargs.pop("depth")
    with pytest.raises(ValueError, match=word):
        Mixture.from_network(act, depth, **kwargs)


# ---------------------------------------------------------------------------- fast phase boundaries
def test_rs_phase_boundaries_agree_with_bisection():
    pb = R.rs_phase_boundaries(P3)
    assert pb.T_exact == pytest.approx(R.rs_breaking_temperature(P3), rel=2e-3)  # T_s = 0.5860540
    assert pb.T_replicon == pytest.approx(R.replicon_temperature(P3), rel=2e-3)  # 0.455 < T_s: first order
    assert pb.T_replicon < pb.T_exact - 0.1
    assert R.rs_phase_boundaries(SK).T_exact == 0.0 and R.rs_phase_boundaries(RF).T_replicon == 0.0
    m = Mixture.from_network("relu", 2, sigma_w2=2.0)  # cusp: continuous breaking, both lines equal
    pb = R.rs_phase_boundaries(m)
    assert pb.T_exact == pytest.approx(R.rs_breaking_temperature(m), rel=2e-3)
    assert pb.T_exact == pytest.approx(pb.T_replicon, rel=1e-12)
    assert np.all(pb.exact <= pb.stable)  # exact implies locally stable


# ---------------------------------------------------------------------------- Parisi s(E) and its end point
@pytest.mark.parametrize(
    "mix",
    [P3, Mixture.from_network("sin", 1, sigma_w2=4.0)],
    ids=["pure 3-spin", "sin L=1 sw2=4"],
)
def test_parisi_entropy_curve_ends_at_true_ground_state(mix):
    """The finite-T Parisi energies e(T) extrapolate to the E0 of the independent T = 0 solver.

    Below T_RSB these models are 1RSB (Talagrand), so e(T) = E0 + c T + O(T^2): Richardson
    extrapolation from T and T/2 leaves an O(T^2) error (T ~ 0.01 here) plus the solvers' own
    tolerances (~1e-6)."""
    c = R.parisi_entropy_curve(mix, fractions=(0.04, 0.02, 0.01), n_grid=40)
    gs = R.frsb_ground_state(mix, n_grid=60)
    assert c.E0 == pytest.approx(gs.energy, abs=1e-9)
    # 1RSB, certified to the solver's tolerance (1e-8 of the functional's scale 1 + beta^2 xi(1))
    assert np.all(c.steps == 1) and np.all(c.certificate > -1e-8 * (1 + mix.xi1 / c.T**2))
    T, e = c.T, c.energy
    assert np.all(np.diff(e) < 0) and np.all(e > gs.energy)  # descending T: energies go down, stay above E0
    e_extra = 2 * e[-1] - e[-2]  # T[-1] = T[-2] / 2
    assert e_extra == pytest.approx(gs.energy, abs=5 * (e[-2] - e[-1]) ** 2 / T[-1] + 1e-5)
    # the RS curve goes deeper than the truth: E0^RS < E0
    assert c.E0_rs < c.E0 - 1e-3


def test_parisi_entropy_curve_shape_and_rs_bound():
    """s(E) is increasing and concave on E < 0, equals RS where RS is exact, is never above RS
    (the Parisi free entropy is an infimum), and falls to -inf at E0."""
    mix = Mixture.from_network("sin", 2, sigma_w2=3.0)
    c = R.parisi_entropy_curve(mix)
    s_rs = np.asarray(R.microcanonical_entropy(mix, c.E))
    fin = np.isfinite(s_rs)
    assert np.all(c.s[fin] <= s_rs[fin] + 1e-6)
    high = c.E >= R.rs_solution(mix, c.T_rsb).energy
    np.testing.assert_allclose(c.s[high], s_rs[high], atol=1e-9)
    assert np.all(np.diff(c.s) > 0) and np.all(np.diff(c.s, 2) < 1e-6)
    assert c.s[0] < c.s[1] - 1.0  # the logarithmic fall at E0
    assert c.E[0] > c.E0


def test_parisi_entropy_curve_is_rs_where_rs_is_exact():
    c = R.parisi_entropy_curve(SK)
    assert c.T.size == 0 and c.E0 == pytest.approx(-1.0, abs=1e-12)
    E = c.E[c.E > -0.5]
    np.testing.assert_allclose(c.s[c.E > -0.5], -(E**2), atol=1e-6)  # s = -E^2 for |E| <= 1/2


def test_tabulated_mixture_matches_exact_kernel():
    """Cubic Hermite tabulation of a smooth kernel: O(n^-4) errors, same RS and breaking temperature."""
    mix = Mixture.from_network("tanh", 2, sigma_w2=3.0)
    tab = mix.tabulated(2001)
    q = np.linspace(0.0, 1.0, 997)
    for f, g, tol in ((mix.xi, tab.xi, 1e-10), (mix.dxi, tab.dxi, 1e-9), (mix.d2xi, tab.d2xi, 1e-7)):
        np.testing.assert_allclose(g(q), f(q), atol=tol * max(1.0, float(np.max(np.abs(f(q))))))
    np.testing.assert_allclose(tab.gap(np.array([1e-8, 1e-4, 0.5])), mix.gap(np.array([1e-8, 1e-4, 0.5])), rtol=1e-6)
    T = np.array([0.05, 0.2, 0.8])
    np.testing.assert_allclose(R.rs_solution(tab, T).energy, R.rs_solution(mix, T).energy, rtol=1e-8)
    np.testing.assert_allclose(R.replicon(tab, T), R.replicon(mix, T), atol=1e-6)
    with pytest.raises(ValueError, match="cusp"):
        Mixture.from_network("relu", 1, sigma_w2=2.0).tabulated()


# ---------------------------------------------------------------------------- network temperatures
def test_relu_breaking_is_continuous_at_the_at_line():
    """ReLU L=1: RS breaks continuously, so the exact breaking temperature is the replicon (AT) one."""
    m = Mixture.from_network("relu", 1, sigma_w2=2.0)
    T_ex, T_at = R.rs_breaking_temperature(m), R.replicon_temperature(m)
    assert T_ex == pytest.approx(T_at, rel=1e-6)
    assert 0.07 < T_ex < 0.09


@pytest.mark.parametrize("name", ["relu", "shaped_relu"])
def test_homogeneous_activation_temperatures_scale_with_energy_unit(name):
    """phi(ax) = a phi(x): sigma_w^2 multiplies xi by (sigma_w^2)^(L+1), so T_RSB / sqrt(xi'(1)) and
    E0 / sqrt(xi'(1)) do not depend on sigma_w^2."""
    vals = []
    for sw2 in (1.0, 2.0, 4.0):
        m = Mixture.from_network(name, 2, sigma_w2=sw2)
        u = math.sqrt(float(m.dxi(1.0)))
        vals.append((R.rs_breaking_temperature(m) / u, R.rs_ground_state_energy(m) / u))
        assert float(m.xi(0.6)) == pytest.approx(sw2**3 * float(Mixture.from_network(name, 2, sigma_w2=1.0).xi(0.6)), rel=1e-10)
    np.testing.assert_allclose(np.array(vals), np.array(vals[:1] * 3), rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, word",
    [(dict(fractions=[0.5, 1.5]), "fractions"), (dict(T_rsb=-0.1), "T_rsb"), (dict(n_E=3), "n_E")],
)
def test_parisi_entropy_curve_bad_input(kwargs, word):
    with pytest.raises(ValueError, match=word):
        R.parisi_entropy_curve(P3, **kwargs)
