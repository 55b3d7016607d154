"""Tests for nnlandscape.sawtooth: the hand-built 5x5 ReLU network W_f (Gamst & Walker 2017)."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from nnlandscape.sawtooth import (
    CARRY_OFFSET,
    SIZES,
    build_network,
    default_spline,
    pack_parameters,
    tent_power,
    unpack_parameters,
)


def forward_from_theta(theta, x):
    """An independent forward pass: slice theta by hand (row-major W_l (out, in), then b_l)."""
    a = np.asarray(x, float).reshape(-1, 1)
    k = 0
    for l, (i, o) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        W = theta[k:k + o * i].reshape(o, i)
        k += o * i
        b = theta[k:k + o]
        k += o
        a = np.einsum("oi,ni->no", W, a) + b
        if l < len(SIZES) - 2:
            a = np.where(a > 0, a, 0.0)
    assert k == theta.size
    return a[:, 0]


def preactivations(net, x):
    a, out = np.asarray(x, float).reshape(-1, 1), []
    for W, b in zip(net.weights[:-1], net.biases[:-1]):
        h = a @ W.T + b
        out.append(h)
        a = np.maximum(h, 0)
    return out


DENSE = np.linspace(0.0, 1.0, 40_001)


def test_parameter_count_and_packing():
    net = build_network()
    assert net.theta.shape == (136,) and net.n_params == 136
    # packing layout: W_1 (5x1) first, then b_1, ..., last entry the output bias
    th = net.theta
    np.testing.assert_array_equal(th[:5], net.weights[0].ravel())
    np.testing.assert_array_equal(th[5:10], net.biases[0])
    assert th[-1] == net.biases[-1][0]
    W, B = unpack_parameters(th)
    np.testing.assert_array_equal(pack_parameters(W, B), th)


def test_default_network_equals_f_on_dense_grid_and_knots():
    net = build_network()
    y_net = forward_from_theta(net.theta, DENSE)
    assert np.max(np.abs(y_net - net.f(DENSE))) < 1e-12
    assert np.max(np.abs(forward_from_theta(net.theta, net.knots) - net.f(net.knots))) < 1e-12
    assert np.max(np.abs(net.forward(DENSE) - y_net)) < 1e-13


@pytest.mark.parametrize("k", range(6))
@pytest.mark.parametrize("m", [0, 3, 7])
def test_knot_count_matches_construction(k, m):
    net = build_network(amplitude=0.5, n_tent_layers=k, spline=default_spline(m))
    assert len(net.knots) == (2**k - 1) + m
    # every knot is a genuine kink of the *network*: one-sided slopes differ by the predicted jump
    h = 1e-7
    x = net.knots
    left = (forward_from_theta(net.theta, x) - forward_from_theta(net.theta, x - h)) / h
    right = (forward_from_theta(net.theta, x + h) - forward_from_theta(net.theta, x)) / h
    xs, ys = net.spline
    s = np.diff(ys) / np.diff(xs)
    spline_jump = np.zeros_like(x)
    for j, c in enumerate(xs[1:-1]):
        spline_jump[np.isclose(x, c, atol=0)] = s[j + 1] - s[j]
    is_tent = np.isclose((x * 2**k) % 1, 0) if k else np.zeros(x.size, bool)
    # T^k has slopes +-2^k: the kink at a peak is -2^(k+1) A, at a valley +2^(k+1) A
    peak = np.round(x * 2**k) % 2 == 1
    tent_jump = np.where(is_tent, np.where(peak, -1.0, 1.0) * 2.0 ** (k + 1) * 0.5, 0.0)
    np.testing.assert_allclose(right - left, spline_jump + tent_jump, atol=1e-5 * 2**k)


def test_sawtooth_alone_is_tent_power_and_spline_alone_is_interp():
    flat = (np.array([0.0, 1.0]), np.array([0.0, 0.0]))
    for k in range(1, 6):
        net = build_network(amplitude=1.5, n_tent_layers=k, spline=flat)
        np.testing.assert_allclose(net.forward(DENSE), 1.5 * tent_power(DENSE, k), atol=1e-12)
        # closed form at dyadic points: T^k(j/2^k) = j mod 2
        j = np.arange(2**k + 1)
        np.testing.assert_array_equal(tent_power(j / 2**k, k), j % 2)
    xs, ys = default_spline(5)
    net = build_network(amplitude=0.0, n_tent_layers=4, spline=(xs, ys))
    np.testing.assert_allclose(net.forward(DENSE), np.interp(DENSE, xs, ys), atol=1e-12)
    assert len(net.knots) == 5  # amplitude 0: the sawtooth kinks disappear


def test_carriers_strictly_active_only_knot_nodes_touch_zero():
    """At W_f no carrier or running-sum node sits at a ReLU kink anywhere on [0, 1]."""
    net = build_network(n_tent_layers=3, spline=default_spline(7))
    for l, h in enumerate(preactivations(net, DENSE)):
        for i, role in enumerate(net.roles[l]):
            if role.startswith("carry") or role == "spline running sum" or "relu(t+δ)" in role:
                assert h[:, i].min() >= CARRY_OFFSET - 1e-12, (l, i, role)
            if role == "dead":
                assert np.all(h[:, i] == 0)


def test_training_set():
    net = build_network(n_tent_layers=4, spline=default_spline(3))
    X, y = net.training_set(points_between=9)
    n_pieces = len(net.knots) + 1
    assert X.shape == (n_pieces * 10 + 1, 1) and y.shape == (n_pieces * 10 + 1,)
    assert X.shape[0] == 191
    assert np.all(np.isin(net.knots, X[:, 0])) and X[0, 0] == 0.0 and X[-1, 0] == 1.0
    assert np.all(np.diff(X[:, 0]) > 0)
    np.testing.assert_allclose(y, forward_from_theta(net.theta, X[:, 0]), atol=1e-12)
    # 9 equally spaced points inside each piece
    b = np.concatenate([[0.0], net.knots, [1.0]])
    inside = X[1:10, 0]
    np.testing.assert_allclose(inside, b[0] + (b[1] - b[0]) * np.arange(1, 10) / 10)


def test_low_frequency_floor_tends_to_triangle_wave_variance():
    """Var(A T^k(U)) = A^2/12 for U uniform; with only tent knots the training grid is uniform.

    (With spline knots it is not: every piece gets the same number of points.) On the grid
    of n+1 equally spaced values per tooth side the exact variance is (1 + 2/n) A^2/12.
    """
    A, k, p = 0.7, 3, 99
    net = build_network(amplitude=A, n_tent_layers=k, spline=([0.0, 0.3, 1.0], [1.0, -2.0, 0.5]))
    flat = build_network(amplitude=A, n_tent_layers=k, spline=([0.0, 1.0], [0.0, 0.0]))
    X, _ = flat.training_set(points_between=p)
    np.testing.assert_allclose(np.diff(X[:, 0]), 1 / (2**k * (p + 1)), rtol=1e-9)
    floor = flat.low_frequency_floor(points_between=p)
    n = p + 1
    # values j/n, j = 0..n, each interior value hit 2^k times, the ends 0 and 1 ~2^(k-1) times
    vals = np.concatenate([np.repeat(np.arange(1, n) / n, 2**k), np.zeros(2 ** (k - 1) + 1), np.ones(2 ** (k - 1))])
    assert floor == pytest.approx(A**2 * np.var(vals), rel=1e-12)
    assert abs(floor - A**2 / 12) < 0.03 * A**2 / 12
    assert net.low_frequency_floor(p) != pytest.approx(floor, rel=1e-3)  # spline knots reweight the grid
    X, y = net.training_set()
    assert net.low_frequency_floor() <= np.mean((y - net.low_frequency(X[:, 0])) ** 2)


def test_diagram_lists_every_node_and_nonzero_weight():
    net = build_network()
    d = net.diagram()
    assert len(d["nodes"]) == 1 + 25 + 1
    assert len(d["edges"]) == sum(int(np.count_nonzero(W)) for W in net.weights)
    for e in d["edges"]:
        (l0, j), (l1, i) = e["source"], e["target"]
        assert l1 == l0 + 1 and net.weights[l0][i, j] == e["weight"] != 0


@settings(max_examples=25, deadline=None)
@given(
    amplitude=st.floats(-3, 3),
    k=st.integers(0, 5),
    knots=st.lists(st.floats(0.01, 0.99), min_size=0, max_size=7, unique=True),
    values=st.lists(st.floats(-5, 5), min_size=9, max_size=9),
)
def test_network_equals_f_for_any_parameters(amplitude, k, knots, values):
    xs = np.concatenate([[0.0], np.sort(knots), [1.0]])
    assume(np.all(np.diff(xs) >= 1e-3))
    ys = np.array(values[: xs.size])
    net = build_network(amplitude=amplitude, n_tent_layers=k, spline=(xs, ys))
    grid = np.concatenate([DENSE[::8], net.knots, xs])
    # round-off grows with the steepest spline piece (knots 1e-3 apart, values 10 apart: slope 1e4);
    # up to slope 1000 the tolerance is the plain 1e-12
    slope = np.max(np.abs(np.diff(ys) / np.diff(xs)))
    atol = 1e-12 * max(1.0, slope / 1000.0)
    np.testing.assert_allclose(forward_from_theta(net.theta, grid), net.f(grid), atol=atol, rtol=0)
    np.testing.assert_allclose(net.f(grid), net.sawtooth(grid) + net.low_frequency(grid), atol=1e-12)
    assert len(net.knots) <= (2**k - 1) + (xs.size - 2)


def test_agrees_with_batched_engine():
    nets = pytest.importorskip("nnlandscape.nets")
    try:
        mlp = nets.MLP(SIZES, "relu")
    except Exception as exc:  # the engine is being written concurrently
        pytest.skip(f"nnlandscape.nets.MLP unavailable: {exc}")
    net = build_network()
    X, y = net.training_set()
    out = np.asarray(mlp.forward(net.theta[None], X))
    assert out.shape == (1, X.shape[0], 1)
    np.testing.assert_allclose(out[0, :, 0], y, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"sizes": (1, 10, 10, 10, 10, 10, 1)}, "sizes"),
        ({"sizes": (1, 5, 5, 5, 5, 1)}, "sizes"),
        ({"n_tent_layers": 6}, "n_tent_layers"),
        ({"n_tent_layers": -1}, "n_tent_layers"),
        ({"n_tent_layers": 2.5}, "n_tent_layers"),
        ({"amplitude": np.nan}, "amplitude"),
        ({"amplitude": "big"}, "amplitude"),
        ({"spline": default_spline(7)[0]}, "spline"),
        ({"spline": (np.linspace(0, 1, 10), np.zeros(10))}, "spline"),
        ({"spline": ([0.1, 1.0], [0.0, 1.0])}, "spline"),
        ({"spline": ([0.0, 0.6, 0.4, 1.0], [0, 1, 2, 3])}, "spline"),
        ({"spline": ([0.0, 1.0], [0.0, np.inf])}, "spline"),
    ],
)
def test_bad_parameters_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        build_network(**kwargs)


def test_bad_inputs_raise():
    net = build_network()
    with pytest.raises(ValueError, match="x"):
        net.f([1.5])
    with pytest.raises(ValueError, match="x"):
        net.forward([np.nan])
    with pytest.raises(ValueError, match="points_between"):
        net.training_set(points_between=-1)
    with pytest.raises(ValueError, match="n_knots"):
        default_spline(8)
    with pytest.raises(ValueError, match="theta"):
        unpack_parameters(np.zeros(135))
