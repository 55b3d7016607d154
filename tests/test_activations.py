"""Tests of the activation registry: derivatives against sympy, argument checks, invariants."""
import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

from nnlandscape.activations import ACTIVATIONS, get_activation

x = sp.Symbol("x", real=True)


def _pl(s_pos, s_neg):
    return sp.Piecewise((s_pos * x, x > 0), (s_neg * x, True))


# (name, params, sympy expression of phi)
CASES = [
    ("linear", {}, x),
    ("relu", {}, _pl(1, 0)),
    ("leaky_relu", {}, _pl(1, sp.Rational(1, 100))),
    ("leaky_relu", {"alpha": -0.3}, _pl(1, -0.3)),
    ("shaped_relu", {"c": 1.0, "depth": 4}, _pl(1 + 1.0 / 2, 1 - 1.0 / 2)),
    ("shaped_relu", {"c": -0.7, "depth": 9}, _pl(1 - 0.7 / 3, 1 + 0.7 / 3)),
    ("tanh", {}, sp.tanh(x)),
    ("sin", {}, sp.sin(x)),
    ("erf", {}, sp.erf(x)),
    ("sigmoid", {}, 1 / (1 + sp.exp(-x))),
    ("swish", {}, x / (1 + sp.exp(-x))),
    ("swish", {"beta": 2.5}, x / (1 + sp.exp(-2.5 * x))),
    ("silu", {}, x / (1 + sp.exp(-x))),
    ("gelu", {}, x * (1 + sp.erf(x / sp.sqrt(2))) / 2),
    ("softplus", {}, sp.log(1 + sp.exp(x))),
    ("softplus", {"beta": 3.0}, sp.log(1 + sp.exp(3.0 * x)) / 3.0),
]


def test_cases_cover_registry():
    assert {c[0] for c in CASES} == set(ACTIVATIONS)


@pytest.mark.parametrize("name,params,expr", CASES, ids=[f"{c[0]}{c[1]}" for c in CASES])
def test_derivatives_match_sympy(name, params, expr):
    act = get_activation(name, **params)
    rng = np.random.default_rng(0)
    pts = rng.uniform(-4, 4, 200)
    pts = pts[np.abs(pts) > 1e-3]  # away from the kink of the piecewise-linear ones
    for order, fn in enumerate((act.f, act.d1, act.d2)):
        ref = sp.lambdify(x, sp.diff(expr, x, order), modules=["numpy", "scipy"])
        expect = np.broadcast_to(np.asarray(ref(pts), dtype=float), pts.shape)
        assert np.allclose(fn(pts), expect, rtol=1e-12, atol=1e-14), (name, order)
    assert np.allclose(act(pts), act.f(pts))
    assert act.smooth == (act.slopes is None or act.slopes[0] == act.slopes[1])


def test_kink_convention_and_slopes():
    relu = get_activation("relu")
    assert relu.slopes == (1.0, 0.0) and not relu.smooth
    assert float(relu.d1(0.0)) == 0.0 and float(relu.d2(0.0)) == 0.0
    assert get_activation("leaky_relu", alpha=0.2).slopes == (1.0, 0.2)
    assert get_activation("shaped_relu", c=1.0, depth=4).slopes == (1.5, 0.5)
    assert get_activation("linear").slopes == (1.0, 1.0) and get_activation("linear").smooth
    assert get_activation("tanh").slopes is None
    assert get_activation("swish", beta=2.0).params == {"beta": 2.0}


def test_activation_object_passthrough():
    act = get_activation("tanh")
    assert get_activation(act) is act
    with pytest.raises(ValueError):
        get_activation(act, beta=1.0)


@pytest.mark.parametrize(
    "name,params",
    [
        ("nope", {}),
        ("tanh", {"beta": 1.0}),
        ("relu", {"alpha": 0.1}),
        ("leaky_relu", {"alpha": 1.5}),
        ("leaky_relu", {"alpha": float("nan")}),
        ("swish", {"beta": -1.0}),
        ("softplus", {"beta": 0.0}),
        ("softplus", {"beta": "1"}),
        ("shaped_relu", {"c": 2.0, "depth": 4}),    # s_- = 1 - c/sqrt(L) = 0: slope flips/vanishes
        ("shaped_relu", {"c": -3.5, "depth": 9}),   # s_+ < 0
        ("shaped_relu", {"c": 0.5, "depth": 0}),
        ("shaped_relu", {"c": 0.5, "depth": 2.5}),
    ],
)
def test_bad_names_and_params_raise(name, params):
    with pytest.raises(ValueError):
        get_activation(name, **params)


def test_shaped_relu_flip_message_names_c():
    with pytest.raises(ValueError, match="c="):
        get_activation("shaped_relu", c=3.0, depth=4)


def test_derivative_order_check():
    act = get_activation("sin")
    assert float(act.derivative(0.3, 2)) == pytest.approx(-math.sin(0.3))
    with pytest.raises(ValueError):
        act.derivative(0.3, 3)


PL = [get_activation("relu"), get_activation("leaky_relu", alpha=-0.4),
      get_activation("shaped_relu", c=0.8, depth=3), get_activation("linear")]


@settings(max_examples=60, deadline=None)
@given(i=st.integers(0, len(PL) - 1), t=st.floats(-50, 50), lam=st.floats(1e-3, 1e3))
def test_piecewise_linear_positive_homogeneity(i, t, lam):
    act = PL[i]
    assert float(act(lam * t)) == pytest.approx(lam * float(act(t)), rel=1e-12, abs=1e-300)
    sp_, sn = act.slopes
    assert float(act(t)) == pytest.approx(sp_ * max(t, 0.0) + sn * min(t, 0.0), rel=1e-14, abs=1e-300)


@settings(max_examples=60, deadline=None)
@given(t=st.floats(-30, 30), beta=st.floats(0.1, 5.0))
def test_symmetries(t, beta):
    for name in ("tanh", "sin", "erf"):  # odd
        act = get_activation(name)
        assert float(act(-t)) == pytest.approx(-float(act(t)), abs=1e-15)
    sig = get_activation("sigmoid")
    assert float(sig(t) + sig(-t)) == pytest.approx(1.0, abs=1e-15)
    sp_ = get_activation("softplus", beta=beta)
    assert float(sp_(t) - sp_(-t)) == pytest.approx(t, abs=1e-12)  # softplus(x) - softplus(-x) = x
    sw = get_activation("swish", beta=beta)
    assert float(sw(t) - sw(-t)) == pytest.approx(t, abs=1e-12)      # swish(x) - swish(-x) = x
