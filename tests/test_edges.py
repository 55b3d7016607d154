"""Numerics at the edges of the valid input range, each against an independent reference.

Every test here pins an answer that used to be silently wrong (a NaN, an inf, a 0, an
OverflowError or a plausible but wrong number) at a valid input.
"""
from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from scipy import integrate

from nnlandscape import kac_rice as kr
from nnlandscape import kernels, neb, replica, sawtooth

# ------------------------------------------------------------------ wide pre-activations


def _gauss(fn, q, half_width=50.0):
    """E[fn(u)], u ~ N(0, q), for fn concentrated on |u| < half_width (quad on that window only)."""
    dens = lambda u: math.exp(-0.5 * u * u / q) / math.sqrt(2 * math.pi * q)  # noqa: E731
    return integrate.quad(lambda u: fn(u) * dens(u), -half_width, half_width, points=[0.0],
                          epsabs=0.0, epsrel=1e-13, limit=400)[0]


def _tanh_fixed_point(sw, sb):
    """q* of q -> sw E[tanh^2] + sb with E[tanh^2] = 1 - E[sech^2] (sech^2 lives on |u| < 50)."""
    sech2 = lambda u: 1.0 / math.cosh(u) ** 2  # noqa: E731
    q = sw + sb
    for _ in range(200):
        q_new = sw * (1.0 - _gauss(sech2, q)) + sb
        if abs(q_new - q) <= 1e-15 * q:
            break
        q = q_new
    return q


@pytest.mark.parametrize("sw", [1e4, 1e6])
def test_chi_1_at_huge_weight_variance(sw):
    # chi_1 = sw E[sech^4(u)], u ~ N(0, q*): a narrow peak of a wide Gaussian (Gauss-Hermite in z
    # misses it: it returned 0.008 and 0.0 here). Reference: quad on the peak's window.
    q = _tanh_fixed_point(sw, 0.1)
    ref = sw * _gauss(lambda u: 1.0 / math.cosh(u) ** 4, q)
    assert ref == pytest.approx(53.4 if sw == 1e4 else 532.1, rel=2e-3)  # the values quoted for it
    assert kernels.chi_1("tanh", sigma_w2=sw, sigma_b2=0.1) == pytest.approx(ref, rel=1e-9)
    # regime() takes the same quantity from the layer map at rho = 1: it must agree
    assert kr.regime("tanh", sigma_w2=sw, sigma_b2=0.1).chi == pytest.approx(ref, rel=1e-9)
    assert kernels.fixed_point_variance("tanh", sigma_w2=sw, sigma_b2=0.1) == pytest.approx(q, rel=1e-10)


def test_fixed_point_variance_of_a_bounded_activation_is_finite():
    # tanh is bounded: q* <= sw + sb always (it returned inf for sw = 1e8)
    q = kernels.fixed_point_variance("tanh", sigma_w2=1e8, sigma_b2=0.1)
    assert q == pytest.approx(_tanh_fixed_point(1e8, 0.1), rel=1e-10)
    assert 0.999 * 1e8 < q < 1e8 + 0.1
    # an unbounded one still diverges: softplus grows like relu, sigma_w2 > 2 explodes
    assert kernels.fixed_point_variance("softplus", sigma_w2=3.0) == math.inf


# ------------------------------------------------------------------ deep kernels
def _arccos_map(rho):
    """Normalised ReLU layer map (Cho & Saul 2009): J(rho) = (sqrt(1-rho^2) + (pi - arccos rho) rho)/pi."""
    return (math.sqrt(max(1.0 - rho * rho, 0.0)) + (math.pi - math.acos(rho)) * rho) / math.pi


def _relu_deep(q, depth):
    rho = q
    for _ in range(depth):
        rho = _arccos_map(rho)
    return rho


def test_normalized_relu_kernel_when_the_variance_underflows():
    # sigma_w2 = 1 halves the variance per layer: 2^-1080 underflows (it returned 0/0 = NaN)
    for depth in (10, 1080, 3000):
        assert kernels.normalized_kernel("relu", depth, 0.5) == pytest.approx(_relu_deep(0.5, depth), rel=1e-11)
    # the unnormalised value is an honest 0 there, not NaN
    assert kernels.covariance("relu", 1080, 0.5) == 0.0


def test_relu_covariance_in_logs_and_honest_inf():
    # sigma_w2 = 2.5: C_L(q) = sigma_w2 (sigma_w2/2)^L J^L(q) with sigma_b2 = 0, checked in logs
    L = 1700  # 1.25^1700 ~ 1e164: the variance passes 1e150 (rescaled) but the value is finite
    got = kernels.covariance("relu", L, 0.5, sigma_w2=2.5)
    log_ref = math.log(2.5) + L * math.log(1.25) + math.log(_relu_deep(0.5, L))
    assert math.log(got) == pytest.approx(log_ref, rel=1e-12)
    # beyond 1e308 the answer is +inf (it was NaN = inf/inf), its derivative too
    assert kernels.covariance("relu", 2000, 0.5, sigma_w2=3.0) == math.inf
    assert kernels.covariance("relu", 2000, 0.5, sigma_w2=3.0, derivative=1) == math.inf
    assert kernels.normalized_kernel("relu", 2000, 0.5, sigma_w2=3.0) == pytest.approx(_relu_deep(0.5, 2000), rel=1e-11)


def test_normalized_tanh_kernel_when_the_variance_underflows():
    # tanh at sigma_w2 = 0.5: the variance decays like 2^-L and the map tends to the identity
    # (tanh is linear to relative O(k) at variance k), so the normalised kernel converges: after
    # depth 400 (k < 1e-120, no rescaling yet) nothing changes beyond rounding. It was NaN at 1075.
    ref = kernels.normalized_kernel("tanh", 400, 0.5, sigma_w2=0.5)
    for depth in (1075, 2000):
        assert kernels.normalized_kernel("tanh", depth, 0.5, sigma_w2=0.5) == pytest.approx(ref, rel=1e-12)


# ------------------------------------------------------------------ replica theory
def test_rs_solution_at_tiny_temperature():
    # spherical SK, xi = q^2/2: q = 1 - T, e = -1 + T/2, f = -1 + 3T/4 - (T/2) log T, s = log(T)/2 - 1/4
    sk = replica.Mixture.from_coefficients([0, 0.5])
    for T in (1e-8, 1e-160, 1e-280):
        s = replica.rs_solution(sk, T)
        assert s.q == pytest.approx(1 - T, abs=1e-15)
        assert s.energy == pytest.approx(-1 + T / 2, rel=1e-12)
        assert s.free_energy == pytest.approx(-1 + 0.75 * T - 0.5 * T * math.log(T), rel=1e-12)
        assert s.entropy == pytest.approx(0.5 * math.log(T) - 0.25, rel=1e-10)


def test_from_callables_rejects_an_inconsistent_derivative():
    # dxi = 2q is not (q^2/2)': the ground state came out wrong instead of an error
    with pytest.raises(ValueError, match="dxi is not the derivative of xi"):
        replica.Mixture.from_callables(lambda q: q * q / 2, lambda q: 2 * q, lambda q: 2 + 0 * q)
    with pytest.raises(ValueError, match="d2xi is not the derivative of dxi"):
        replica.Mixture.from_callables(lambda q: q * q / 2, lambda q: q, lambda q: 3 + 0 * q)
    ok = replica.Mixture.from_callables(lambda q: q * q / 2, lambda q: q, lambda q: 1 + 0 * q)
    assert replica.ground_state_energy(ok) == pytest.approx(-1.0, abs=1e-9)  # SK: -sqrt(xi'(1))


# ------------------------------------------------------------------ sawtooth
def _tent_exact(x: Fraction, k: int) -> Fraction:
    for _ in range(k):
        x = 2 * x if x <= Fraction(1, 2) else 2 - 2 * x
    return x


def test_tent_power_is_exact_on_floats_and_bounded_in_k():
    rng = np.random.default_rng(0)
    xs = np.concatenate([rng.uniform(0, 1, 40), [1 / 3, 0.1, 0.7, 1.0, 0.0]])
    for k in (1, 7, 25, 40):
        got = sawtooth.tent_power(xs, k)
        ref = np.array([float(_tent_exact(Fraction(float(x)), k)) for x in xs])
        np.testing.assert_array_equal(got, ref)  # exact arithmetic on the float's binary value
    # the real 1/3 is 2/3 after any k >= 1; its float is within 2^(k-53) of that
    for k in (1, 20, 40):
        assert abs(sawtooth.tent_power(1 / 3, k) - 2 / 3) <= 2.0 ** (k - 53)
    with pytest.raises(ValueError, match="k=56 is out of range"):
        sawtooth.tent_power(1 / 3, 56)  # returned 0.0 (rounding decides it there)


# ------------------------------------------------------------------ NEB
def test_neb_forces_by_hand_and_shapes():
    images = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    energies = np.array([0.0, 1.0, 2.0])  # rising: tangent = tau_+ = (1, 0)
    grads = np.array([[0.0, 0.0], [0.5, 2.0], [0.0, 0.0]])
    forces, tau = neb.neb_forces(images, energies, grads, 3.0)
    np.testing.assert_allclose(tau, [[1.0, 0.0]])
    # perpendicular true force (0, -2) plus spring k (|tau_+| - |tau_-|) tau = 3 (2 - 1) (1, 0)
    np.testing.assert_allclose(forces, [[3.0, -2.0]], atol=1e-15)
    with pytest.raises(ValueError, match="gradients"):
        neb.neb_forces(images, energies, grads[:1], 3.0)  # was broadcast: forces off by 116
    with pytest.raises(ValueError, match="spring"):
        neb.neb_forces(images, energies, grads, -1.0)
    with pytest.raises(ValueError, match="climb_index"):
        neb.neb_forces(images, energies, grads, 1.0, climb_index=2)


# ------------------------------------------------------------------ Kac-Rice in logs
def test_sphere_volume_against_the_recursion():
    # |S^d| = 2 pi/(d - 1) |S^{d-2}|, |S^0| = 2, |S^1| = 2 pi, accumulated in logs
    logs = {0: math.log(2.0), 1: math.log(2 * math.pi)}
    for d in range(2, 401):
        logs[d] = logs[d - 2] + math.log(2 * math.pi / (d - 1))
    assert kr.sphere_volume(2) == pytest.approx(4 * math.pi, rel=1e-15)
    assert kr.sphere_volume(3) == pytest.approx(2 * math.pi**2, rel=1e-15)
    for d in (100, 341, 344, 400):  # Gamma((d+1)/2) overflowed from d = 342
        assert math.log(kr.sphere_volume(d)) == pytest.approx(logs[d], rel=1e-13)


def test_deep_chaotic_network_count_against_its_asymptotic_form():
    # E N = |S^d| (k2/(2 pi k1))^{d/2} E[F(xi)...] tends to c_d(rho^2) eta^{d/2} (1 + O(1/eta)) as
    # eta = k2/k1 grows: an independent evaluation (the s-integral of the eta -> inf limit)
    for depth in (1000, 5000):
        k1, k2 = kr.network_derivatives("erf", depth)
        eta, rho2 = k2 / k1, k1 * k1 / (k1 + k2)
        log_ref = math.log(kr._leading_constants(10, None, rho2).sum()) + 5 * math.log(eta)
        got = kr.network_critical_points("erf", depth, 10)
        # O(1/eta) from the limit, plus the ~1e-9 relative accuracy of the panel quadrature
        assert math.log(got) == pytest.approx(log_ref, abs=10 / eta + 1e-8)


def test_depth_asymptotics_with_a_huge_limit():
    # ordered with chi = 1e-300: eta_inf = kappa2/(chi (1 - chi)) = 1e300 and, on S^2 (Cheng &
    # Schwartzman), E N = 2 + 8 eta^{3/2}/sqrt(1 + 3 eta); mpmath has the range for it
    eta = mpmath.mpf(1.0) / (mpmath.mpf(1e-300) * (1 - mpmath.mpf(1e-300)))
    ref = 2 + 8 * eta**1.5 / mpmath.sqrt(1 + 3 * eta)
    got = kr.depth_asymptotics(1e-300, 1.0, 2).constant
    assert got == pytest.approx(float(ref), rel=1e-11)
    assert kr.depth_asymptotics(1e-300, 1.0, 10).constant == math.inf  # ~eta^5: beyond 1e308


# ------------------------------------------------------------------ bad input named (issue list)
def _bad_input_cases():
    from nnlandscape import book, landscape, optim, parisi, random_nets, sphere_fields
    from nnlandscape.input_landscape import MLPBatch
    from nnlandscape.nets import MLP

    net = MLP([2, 3, 1])
    th = net.init(1)[0]
    X2 = np.ones((2, 2))
    batch = MLPBatch("tanh", 1, 4, 3, n_networks=1)
    p3 = replica.Mixture.from_coefficients([0, 0, 0.5])
    return [
        (lambda: random_nets.sample_outputs("tanh", 1, 4, np.full((3, 4), "a"), n_networks=1), TypeError, "X"),
        (lambda: random_nets.hidden_gram("tanh", 1, 4, np.ones((3, 4), bool), n_networks=1), TypeError, "X"),
        (lambda: net.forward(th, X2 + 1j), TypeError, "X"),
        (lambda: net.forward(th + 0j, X2), TypeError, "theta"),
        (lambda: batch(np.ones((1, 2, 3), dtype=object)), TypeError, "X"),
        (lambda: optim.train(net, net.init(2) + 0j, X2, np.ones(2), steps=1), TypeError, "theta0"),
        (lambda: neb.FIRE(0.1, f_dec=2), ValueError, "f_dec"),
        (lambda: neb.FIRE(0.1, f_inc=0.5), ValueError, "f_inc"),
        (lambda: neb.FIRE(0.1, alpha_start=2), ValueError, "alpha_start"),
        (lambda: neb.FIRE(0.1, f_alpha=2), ValueError, "f_alpha"),
        (lambda: neb.FIRE(0.1, n_min=-1), ValueError, "n_min"),
        (lambda: neb.FIRE(0.1, dt_max=0.01), ValueError, "dt_max"),
        (lambda: parisi.frsb_ground_state(p3, y_min=-1), ValueError, "y_min"),
        (lambda: parisi.frsb_ground_state(p3, y_min=NAN), ValueError, "y_min"),
        (lambda: parisi.frsb_ground_state(p3, y_min=2), ValueError, "y_min"),
        (lambda: parisi.frsb_ground_state(p3, y_min=0), ValueError, "y_min"),
        (lambda: parisi.frsb_solution(p3, 0.5, tol=NAN), ValueError, "tol"),
        (lambda: parisi.parisi_certificate(p3, 0.5, [0.5], [1.0], n=0), ValueError, "n=0"),
        (lambda: neb.fire_minimize(lambda x: (NAN, x * NAN), [1.0, 2.0]), ValueError, "fun returned a non-finite"),
        (lambda: landscape.basin_experiment(net, th, X2, np.ones(2), r_max=1e300, n_trials=2, steps=1), ValueError, "r_max"),
        (lambda: net.init(2, seed=-1), ValueError, "seed"),
        (lambda: book.source_files("/tmp"), ValueError, "root"),
        (lambda: book.source_files("/nonexistent/folder"), ValueError, "root"),
        (lambda: kernels.covariance("tanh", 10**9, 0.5), ValueError, "depth"),
        (lambda: kernels.normalized_kernel("tanh", 10**9, 0.5), ValueError, "depth"),
        (lambda: sphere_fields.sphere_mesh(10**8), ValueError, "resolution"),
        (lambda: MLP([2, 3000, 1]).hessian(MLP([2, 3000, 1]).init(1)[0], X2, np.ones(2)), ValueError, "MAX_BYTES"),
        (lambda: landscape.train_models(net, X2, np.ones(2), 10**7, steps=1), ValueError, "MAX_BYTES"),
        (lambda: batch.sphere_mean(10**12), ValueError, "MAX_FLOPS"),
    ]


NAN = float("nan")


@pytest.mark.parametrize("case", range(29))
def test_bad_input_gets_a_clear_error(case):
    call, exc, match = _bad_input_cases()[case]
    with pytest.raises(exc, match=match):
        call()
