"""The maximum-entropy gate of :mod:`nnlandscape.gate`: sympy derivations against numerics."""
import numpy as np
import pytest
import sympy as sp
from scipy import optimize, special

from nnlandscape import gate
from nnlandscape.activations import get_activation


@pytest.fixture(scope="module")
def D():
    return gate.derivations()


def _num(expr, D):
    return sp.lambdify((D["h"], D["beta"]), expr, "numpy")


H = np.linspace(-6, 6, 41)
BETAS = [0.3, 1.0, 4.0]


@pytest.mark.parametrize("beta", BETAS)
def test_moments_from_log_partition_function(D, beta):
    s = special.expit(beta * H)
    np.testing.assert_allclose(_num(D["mean_s"], D)(H, beta), s, rtol=1e-12)
    np.testing.assert_allclose(_num(D["var_s"], D)(H, beta), s * (1 - s), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(_num(D["mean_j"], D)(H, beta), H * s, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(_num(D["mean_j_direct"], D)(H, beta), H * s, rtol=1e-12, atol=1e-15)
    # Var j = <j^2> - <j>^2 with j = h s, s in {0, 1}: h^2 s - h^2 s^2
    np.testing.assert_allclose(_num(D["var_j"], D)(H, beta), H**2 * s * (1 - s), rtol=1e-10, atol=1e-14)


def test_limits_and_series(D):
    hp = sp.Symbol("hp", positive=True)
    assert D["relu_limit"] == (hp, 0)
    # small-beta series against the function at beta = 1e-2 (error O(beta^5 h^6))
    b = 1e-2
    approx = _num(D["small_beta"], D)(H, b)
    np.testing.assert_allclose(approx, H * special.expit(b * H), atol=1e-9)
    assert D["g_limits"] == {"h->+oo": 1, "h->-oo": 0, "beta->0": sp.Rational(1, 2),
                             "beta->oo, h>0": 1, "beta->oo, h<0": 0}


@pytest.mark.parametrize("beta", BETAS)
def test_backprop_factor_matches_paper_and_registry(D, beta):
    g = _num(D["g"], D)(H, beta)
    np.testing.assert_allclose(g, _num(D["g_paper"], D)(H, beta), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g, get_activation("swish", beta=beta).d1(H), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g, gate.g_factor(H, beta), rtol=1e-12, atol=1e-12)
    # the sigmoid's slope carries a factor beta
    s = special.expit(beta * H)
    np.testing.assert_allclose(_num(D["sigmoid_slope"], D)(H, beta), beta * s * special.expit(-beta * H), rtol=1e-10)


def test_sup_distance_closed_form(D):
    w = float(special.lambertw(np.exp(-1)).real)
    assert gate.OMEGA == pytest.approx(w, rel=1e-15)
    assert float(D["sup_distance"].subs(D["beta"], 1)) == pytest.approx(w, rel=1e-12)
    # beta * sup |swish - relu| is the same for every beta (dense grid in u = beta h)
    for beta in [0.05, 1.0, 20.0]:
        h = np.linspace(-40, 40, 400_001) / beta
        d = np.abs(gate.swish(h, beta) - np.maximum(h, 0)).max()
        assert beta * d == pytest.approx(w, abs=1e-8)
        assert gate.sup_distance_to_relu(beta) * beta == pytest.approx(w, rel=1e-12)


@pytest.mark.parametrize("beta", BETAS)
def test_swish_minimum_and_sign(D, beta):
    res = optimize.minimize_scalar(lambda h: float(gate.swish(h, beta)), bracket=(-5 / beta, -1 / beta, 0.0),
                                   tol=1e-12)
    hmin, vmin = gate.swish_minimum(beta)
    assert res.x == pytest.approx(hmin, rel=1e-6)
    assert res.fun == pytest.approx(vmin, rel=1e-10)
    assert float(D["h_min"].subs(D["beta"], beta)) == pytest.approx(hmin, rel=1e-12)
    assert float(D["swish_min"].subs(D["beta"], beta)) == pytest.approx(vmin, rel=1e-12)
    # negative for every h < 0, not only near the minimum
    h = -np.logspace(-6, 2, 200) / beta  # (beyond |beta h| ~ 700 the float underflows to -0)
    assert np.all(gate.swish(h, beta) < 0)


def test_cross_entropy_constant_is_label_entropy():
    C = gate.cross_entropy_saddle()
    y, yb, q, qb = C["y"], C["ybar"], C["q"], C["qbar"]
    f = sp.lambdify((yb,), C["constant"], "numpy")
    for yv in [0.1, 0.5, 0.93]:
        assert f(1 - yv) == pytest.approx(-(yv * np.log(yv) + (1 - yv) * np.log(1 - yv)), rel=1e-12)
    # the saddle does stationarise S, and S* + CE does not depend on q
    dS = sp.diff(C["S"], C["t"]).subs(C["t"], C["t_star"]).subs(y, 1 - yb)
    assert abs(float(dS.subs({yb: 0.3, q: 0.2, qb: 0.8}))) < 1e-12
    assert sp.diff(C["constant"], q) == 0 and sp.diff(C["constant"], qb) == 0


@pytest.mark.parametrize("fn", [gate.sup_distance_to_relu, gate.swish_minimum])
def test_bad_beta(fn):
    for bad in (0.0, -1.0, np.nan):
        with pytest.raises(ValueError, match="beta"):
            fn(bad)
    with pytest.raises(ValueError, match="beta"):
        gate.swish(1.0, 0.0)
