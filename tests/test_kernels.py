"""Tests of the infinite-width covariance recursion (nnlandscape.kernels).

Independent references used here:
* brute-force 2-D Gauss-Hermite quadrature (tensor grid, Cholesky form), written below;
* for piecewise-linear activations, a 1-D scipy ``quad`` over z1 of the exact Gaussian
  conditional expectation E[phi(v) | z1] (no arc-cosine formula involved);
* the Cho & Saul (2009) arccos form of the ReLU kernel;
* central finite differences in q.
The Monte Carlo check against finite random networks is in test_random_nets.py.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import integrate, special, stats

from nnlandscape.activations import ACTIVATIONS, get_activation
from nnlandscape.kernels import (
    chi_1,
    covariance,
    fixed_point_variance,
    layer_kernels,
    normalized_kernel,
    one_layer_map,
)

SMOOTH = ["tanh", "sin", "erf", "sigmoid", "swish", "softplus"]
KC = [(1.0, 0.3), (0.5, -0.45), (2.0, 1.9), (3.0, -1.0), (0.7, 0.0)]


def gh2(f, g, k, c, n=400):
    """E[f(u) g(v)], Var = k, Cov = c, by an n x n Gauss-Hermite tensor grid."""
    z, w = special.roots_hermitenorm(n)
    w = w / math.sqrt(2 * math.pi)
    rho = c / k
    z1, z2 = np.meshgrid(z, z, indexing="ij")
    u = math.sqrt(k) * z1
    v = math.sqrt(k) * (rho * z1 + math.sqrt(1 - rho * rho) * z2)
    return float(np.einsum("i,j,ij->", w, w, f(u) * g(v)))


def pl_conditional(s_pos, s_neg, k, c, derivative):
    """E[phi^(d)(u) phi^(d)(v)] for phi = s+ max(x,0) + s- min(x,0), d in {0, 1}, via 1-D quad."""
    rho = c / k
    sd = math.sqrt(k * (1 - rho * rho))

    def inner(z1):
        m = math.sqrt(k) * rho * z1
        cdf, pdf = stats.norm.cdf(m / sd), stats.norm.pdf(m / sd)
        if derivative == 0:
            emax = m * cdf + sd * pdf
            return s_pos * emax + s_neg * (m - emax)
        return s_pos * cdf + s_neg * (1 - cdf)

    def outer(z1):
        u = math.sqrt(k) * z1
        phi_u = (s_pos if u > 0 else s_neg) * (u if derivative == 0 else 1.0)
        return stats.norm.pdf(z1) * phi_u * inner(z1)

    lo, _ = integrate.quad(outer, -14, 0, epsabs=1e-13, epsrel=1e-12, limit=200)
    hi, _ = integrate.quad(outer, 0, 14, epsabs=1e-13, epsrel=1e-12, limit=200)
    return lo + hi


# --------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize(
    "act",
    [get_activation("relu"), get_activation("leaky_relu", alpha=0.2), get_activation("leaky_relu", alpha=-0.5),
     get_activation("shaped_relu", c=1.0, depth=4), get_activation("linear")],
    ids=lambda a: f"{a.name}{a.params}",
)
@pytest.mark.parametrize("k,c", [kc for kc in KC if abs(kc[1]) < kc[0]])
def test_piecewise_linear_closed_form_vs_quad(act, k, c):
    sp, sn = act.slopes
    for d in (0, 1):
        ref = pl_conditional(sp, sn, k, c, d)
        assert one_layer_map(act, k, c, derivative=d) == pytest.approx(ref, rel=1e-8, abs=1e-10)
    # second derivative = (s+ - s-)^2 * bivariate density at the origin (Dirac masses of phi'')
    dens = 1.0 / (2 * math.pi * math.sqrt(k * k - c * c))
    assert one_layer_map(act, k, c, derivative=2) == pytest.approx((sp - sn) ** 2 * dens, rel=1e-12)


@pytest.mark.parametrize("name", ["erf", "sin", "tanh", "sigmoid", "softplus"])
@pytest.mark.parametrize("k,c", KC)
def test_one_layer_map_vs_bruteforce_gh(name, k, c):
    act = get_activation(name)
    for d, g in enumerate((act.f, act.d1, act.d2)):
        ref = gh2(g, g, k, c)
        assert one_layer_map(act, k, c, derivative=d) == pytest.approx(ref, rel=1e-9, abs=1e-11), d


def test_swish_beta_map_vs_bruteforce_gh():
    act = get_activation("swish", beta=2.0)
    for k, c in [(1.5, 0.4), (4.0, -3.0), (2.0, 2.0)]:
        for d, g in enumerate((act.f, act.d1, act.d2)):
            ref = gh2(g, g, k, c, n=500)
            assert one_layer_map(act, k, c, derivative=d) == pytest.approx(ref, rel=1e-8, abs=1e-10)


def test_erf_and_sin_closed_forms():
    # Williams (1997) and E[sin u sin v] = e^{-k} sinh c, written out independently
    k, c = 0.8, 0.35
    assert one_layer_map("erf", k, c) == pytest.approx(2 / math.pi * math.asin(2 * c / (1 + 2 * k)), rel=1e-14)
    assert one_layer_map("sin", k, c) == pytest.approx(math.exp(-k) * math.sinh(c), rel=1e-14)


# --------------------------------------------------------------------------- full recursion
def test_linear_closed_form():
    q = np.linspace(-1, 1, 7)
    for L in (1, 2, 5):
        assert np.allclose(covariance("linear", L, q, sigma_w2=1.3), 1.3 ** (L + 1) * q, rtol=1e-13)
        with_bias = 1.3 ** (L + 1) * q + 0.2 * sum(1.3**j for j in range(L + 1))
        assert np.allclose(covariance("linear", L, q, sigma_w2=1.3, sigma_b2=0.2), with_bias, rtol=1e-13)
        assert np.allclose(covariance("linear", L, q, sigma_w2=1.3, derivative=1), 1.3 ** (L + 1))
        assert np.all(covariance("linear", L, q, derivative=2) == 0)


def test_relu_matches_cho_saul_arccos_iteration():
    # sigma_w2 = 2: the diagonal stays 2 and rho -> (sin t + (pi - t) cos t)/pi, t = arccos rho
    q = np.linspace(-1, 1, 11)
    rho = q.copy()
    for L in range(1, 6):
        t = np.arccos(rho)
        rho = (np.sin(t) + (np.pi - t) * np.cos(t)) / np.pi
        assert np.allclose(covariance("relu", L, q, sigma_w2=2.0), 2.0 * rho, rtol=1e-13, atol=1e-15)


CASES = [
    ("relu", {}, 1.7, 0.1),
    ("leaky_relu", {"alpha": 0.1}, 1.5, 0.0),
    ("shaped_relu", {"c": 1.0, "depth": 9}, 1.0, 0.0),
    ("tanh", {}, 1.8, 0.05),
    ("tanh", {}, 0.8, 0.3),
    ("erf", {}, 2.0, 0.0),
    ("sin", {}, 1.2, 0.1),
    ("sigmoid", {}, 3.0, 0.2),
    ("swish", {"beta": 2.0}, 2.2, 0.1),
    ("softplus", {"beta": 1.0}, 1.5, 0.05),
]


@pytest.mark.parametrize("name,params,sw,sb", CASES)
def test_derivatives_vs_finite_differences(name, params, sw, sb):
    act = get_activation(name, **params)
    q = np.linspace(-0.9, 0.9, 9)
    h = 1e-4
    kw = dict(sigma_w2=sw, sigma_b2=sb)
    c_p, c_m = covariance(act, 3, q + h, **kw), covariance(act, 3, q - h, **kw)
    d1 = covariance(act, 3, q, derivative=1, **kw)
    scale = np.abs(d1).max()
    assert np.allclose(d1, (c_p - c_m) / (2 * h), rtol=1e-6, atol=1e-7 * scale)
    g_p, g_m = covariance(act, 3, q + h, derivative=1, **kw), covariance(act, 3, q - h, derivative=1, **kw)
    d2 = covariance(act, 3, q, derivative=2, **kw)
    assert np.allclose(d2, (g_p - g_m) / (2 * h), rtol=1e-5, atol=1e-6 * np.abs(d2).max())


@pytest.mark.parametrize("name,params,sw,sb", CASES)
def test_diagonal_is_c_at_one(name, params, sw, sb):
    act = get_activation(name, **params)
    K, diag = layer_kernels(act, 4, np.array([1.0, 0.2]), sigma_w2=sw, sigma_b2=sb)
    assert K.shape == (5, 2) and diag.shape == (5,)
    assert np.allclose(K[:, 0], diag, rtol=1e-10)
    assert K[0, 1] == pytest.approx(0.2 * sw + sb)
    assert K[-1, 1] == pytest.approx(covariance(act, 4, 0.2, sigma_w2=sw, sigma_b2=sb), rel=1e-14)


def test_known_diagonals():
    # one layer: relu halves, erf/sin closed forms
    _, d = layer_kernels("relu", 1, 0.0, sigma_w2=1.0)
    assert d == pytest.approx([1.0, 0.5])
    _, d = layer_kernels("sin", 1, 0.0, sigma_w2=2.0, sigma_b2=0.5)
    assert d[1] == pytest.approx(2.0 * (1 - math.exp(-2 * 2.5)) / 2 + 0.5)
    _, d = layer_kernels("erf", 1, 0.0, sigma_w2=1.0)
    assert d[1] == pytest.approx(2 / math.pi * math.asin(2 / 3))


# every registry activation, with valid parameters (shaped_relu's defaults c=1, depth=1 flip a slope)
ALL_ACTS = [get_activation(n, **({"c": 1.0, "depth": 4} if n == "shaped_relu" else {})) for n in ACTIVATIONS]


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(ALL_ACTS),
    depth=st.integers(1, 6),
    sw=st.floats(0.2, 3.0),
    sb=st.floats(0.0, 1.0),
    q=st.floats(-1.0, 1.0),
)
def test_cauchy_schwarz_bound(name, depth, sw, sb, q):
    c = covariance(name, depth, q, sigma_w2=sw, sigma_b2=sb)
    c1 = covariance(name, depth, 1.0, sigma_w2=sw, sigma_b2=sb)
    assert abs(c) <= c1 * (1 + 1e-10) + 1e-300
    assert normalized_kernel(name, depth, 1.0, sigma_w2=sw, sigma_b2=sb) == 1.0


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(["tanh", "sin", "erf", "relu", "linear"]), depth=st.integers(1, 5), q=st.floats(-1, 1))
def test_odd_kernel_and_relu_homogeneity(name, depth, q):
    a, b = covariance(name, depth, q), covariance(name, depth, -q)
    if name == "relu":  # not odd, but positive homogeneous: C_L(q) scales as sigma_w2^(L+1)
        assert covariance(name, depth, q, sigma_w2=3.0) == pytest.approx(3.0 ** (depth + 1) * a, rel=1e-12)
    else:
        assert a == pytest.approx(-b, rel=1e-10, abs=1e-14)


def test_cusp_second_derivative_inf_smooth_finite():
    q = np.linspace(-1, 1, 41)
    for act in [get_activation("relu"), get_activation("leaky_relu", alpha=0.3),
                get_activation("shaped_relu", c=0.5, depth=2)]:
        for L in (1, 3):
            d2 = covariance(act, L, q, derivative=2, sigma_w2=1.7, sigma_b2=0.1)
            assert not np.any(np.isnan(d2))
            assert d2[-1] == np.inf
            assert np.all(np.isfinite(d2[1:-1]))
            d1 = covariance(act, L, q, derivative=1, sigma_w2=1.7, sigma_b2=0.1)
            assert np.all(np.isfinite(d1))
    for name in SMOOTH:
        for d in (0, 1, 2):
            out = covariance(name, 3, q, derivative=d, sigma_w2=1.5, sigma_b2=0.1)
            assert np.all(np.isfinite(out))
    assert covariance("linear", 2, 1.0, derivative=2) == 0.0


def test_normalized_kernel():
    q = np.linspace(-1, 1, 5)
    for name in ("tanh", "relu", "erf"):
        c1 = covariance(name, 3, 1.0, sigma_w2=1.5, sigma_b2=0.2)
        for d in (0, 1, 2):
            expect = covariance(name, 3, q, derivative=d, sigma_w2=1.5, sigma_b2=0.2) / c1
            got = normalized_kernel(name, 3, q, derivative=d, sigma_w2=1.5, sigma_b2=0.2)
            assert np.allclose(got, expect, rtol=1e-12)
    assert normalized_kernel("tanh", 2, 1.0) == 1.0


def test_scalar_and_shape():
    out = covariance("tanh", 2, 0.3)
    assert np.ndim(out) == 0
    grid = covariance("tanh", 2, np.zeros((3, 4)))
    assert grid.shape == (3, 4)
    # values, not only shapes: tanh is odd, so at q = 0 and sigma_b2 = 0 the two inputs of every layer
    # are independent centred Gaussians and C(0) = 0; linear: sigma_w^{2(L+1)} q (module doc)
    np.testing.assert_allclose(grid, 0.0, rtol=0, atol=1e-15)  # (E tanh)^2 of the quadrature: rounding
    q = np.linspace(-1, 1, 12).reshape(3, 4)
    np.testing.assert_allclose(covariance("linear", 2, q, sigma_w2=1.5), 1.5**3 * q, rtol=1e-15)


def test_fixed_point_and_chi1():
    # relu at sigma_w2 = 2 is the edge of chaos; leaky: sigma_w2 (1 + a^2)/2
    assert chi_1("relu", sigma_w2=2.0) == pytest.approx(1.0)
    assert chi_1(get_activation("leaky_relu", alpha=0.5), sigma_w2=1.0) == pytest.approx(0.625)
    assert fixed_point_variance("relu", sigma_w2=1.0, sigma_b2=0.3) == pytest.approx(0.6)
    assert fixed_point_variance("relu", sigma_w2=2.5) == math.inf
    # odd phi, no bias: q* = 0 and chi_1 = sigma_w2 phi'(0)^2
    assert fixed_point_variance("tanh", sigma_w2=0.9) == pytest.approx(0.0, abs=1e-12)
    assert chi_1("tanh", sigma_w2=0.9) == pytest.approx(0.9)
    assert chi_1("tanh", sigma_w2=1.0) == pytest.approx(1.0, abs=1e-9)  # slow algebraic approach handled
    # a nontrivial fixed point agrees with a long plain iteration of the diagonal map
    for name, sw, sb in [("tanh", 2.0, 0.1), ("sigmoid", 2.0, 0.1), ("erf", 3.0, 0.05), ("sin", 1.5, 0.2)]:
        qs = fixed_point_variance(name, sigma_w2=sw, sigma_b2=sb)
        _, diag = layer_kernels(name, 400, 0.0, sigma_w2=sw, sigma_b2=sb)
        assert qs == pytest.approx(diag[-1], rel=1e-10)
        # chi_1 is the slope of the correlation map at rho = 1 on the fixed point
        assert chi_1(name, sigma_w2=sw, sigma_b2=sb) == pytest.approx(
            sw * one_layer_map(name, qs, qs, derivative=1), rel=1e-10)
    # erf closed form E[phi'^2] = (4/pi)/sqrt(1 + 4q)
    qs = fixed_point_variance("erf", sigma_w2=3.0, sigma_b2=0.05)
    assert chi_1("erf", sigma_w2=3.0, sigma_b2=0.05) == pytest.approx(3.0 * 4 / math.pi / math.sqrt(1 + 4 * qs))
    # ordered / chaotic sides for tanh with bias
    assert chi_1("tanh", sigma_w2=0.5, sigma_b2=0.05) < 1 < chi_1("tanh", sigma_w2=4.0, sigma_b2=0.05)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(activation="nope"),
        dict(activation=3),
        dict(depth=0),
        dict(depth=2.5),
        dict(depth=True),
        dict(sigma_w2=0.0),
        dict(sigma_w2=-1.0),
        dict(sigma_b2=-0.1),
        dict(sigma_w2=float("nan")),
        dict(q=1.0001),
        dict(q=[0.0, -1.5]),
        dict(q=float("nan")),
        dict(q=[0.1, float("inf")]),
        dict(q="abc"),
        dict(derivative=3),
        dict(derivative=-1),
    ],
)
def test_bad_input_raises_valueerror(kwargs):
    args = dict(activation="tanh", depth=2, q=0.3, sigma_w2=1.0, sigma_b2=0.0, derivative=0)
    args.update(kwargs)
    for fn in (covariance, normalized_kernel):
        with pytest.raises(ValueError):
            fn(args["activation"], args["depth"], args["q"], sigma_w2=args["sigma_w2"],
               sigma_b2=args["sigma_b2"], derivative=args["derivative"])
    if "derivative" not in kwargs:
        with pytest.raises(ValueError):
            layer_kernels(args["activation"], args["depth"], args["q"], sigma_w2=args["sigma_w2"],
                          sigma_b2=args["sigma_b2"])


def test_error_messages_name_parameter():
    with pytest.raises(ValueError, match="depth"):
        covariance("tanh", 0, 0.1)
    with pytest.raises(ValueError, match="sigma_w2"):
        covariance("tanh", 1, 0.1, sigma_w2=0)
    with pytest.raises(ValueError, match=r"q .*\[-1, 1\]"):
        covariance("tanh", 1, 2.0)
    with pytest.raises(ValueError, match="activation"):
        covariance("foo", 1, 0.1)
    with pytest.raises(ValueError, match=r"\|c\| <= k"):
        one_layer_map("tanh", 1.0, 1.5)


@pytest.mark.parametrize("sw2", [0.3, 1.0, 1.5, 2.0])
def test_relu_diagonal_constant_on_the_line_sw2_plus_sb2_equal_2(sw2):
    """K^{l+1}(1) = sw2 K^l(1)/2 + sb2 with K^1(1) = sw2 + sb2: constant in l iff sw2 + sb2 = 2."""
    for L in (1, 2, 5):
        assert float(covariance("relu", L, 1.0, sigma_w2=sw2, sigma_b2=2.0 - sw2)) == pytest.approx(2.0, rel=1e-12)
    off = [float(covariance("relu", L, 1.0, sigma_w2=sw2, sigma_b2=2.1 - sw2)) for L in (1, 2, 5)]
    assert len(set(np.round(off, 12))) == 3  # off the line the diagonal moves with depth


def test_tanh_without_bias_keeps_orthogonal_inputs_uncorrelated():
    """tanh is odd: at sigma_b^2 = 0, C_L(0) = 0 at every depth and sigma_w^2 (chapter 00's claim)."""
    for sw2 in (0.5, 1.0, 3.0):
        for L in (1, 4, 12):
            assert abs(float(covariance("tanh", L, 0.0, sigma_w2=sw2))) < 1e-12
    # with a bias, small sigma_w^2 drives the correlation towards 1 (ordered phase)
    rho = [float(normalized_kernel(get_activation("tanh"), L, 0.0, sigma_w2=0.5, sigma_b2=0.1)) for L in (1, 4, 16)]
    assert rho[0] < rho[1] < rho[2] and rho[2] > 0.9
