"""Tests of the finite random-network sampler (nnlandscape.random_nets), including the
Monte Carlo check of the infinite-width covariance recursion (theory vs simulation)."""
import math

import numpy as np
import pytest

import nnlandscape.random_nets as rn
from nnlandscape.activations import get_activation
from nnlandscape.kernels import covariance
from nnlandscape.random_nets import empirical_covariance, hidden_gram, sample_outputs, sphere_points


# --------------------------------------------------------------------------- sphere points
def test_sphere_points_exact_norms_and_overlaps():
    q = np.array([-1.0, -0.3, 0.0, 0.77, 1.0])
    x, y = sphere_points(50, q, seed=3)
    assert x.shape == y.shape == (5, 50)
    assert np.allclose((x * x).sum(-1), 50, rtol=1e-13)
    assert np.allclose((y * y).sum(-1), 50, rtol=1e-13)
    assert np.allclose((x * y).sum(-1) / 50, q, atol=1e-14)
    x0, y0 = sphere_points(7, 0.25, seed=1)
    assert x0.shape == (7,) and float(x0 @ y0) / 7 == pytest.approx(0.25, abs=1e-14)
    a, b = sphere_points(50, q, seed=3)
    assert np.array_equal(a, x) and np.array_equal(b, y)
    assert not np.allclose(sphere_points(50, q, seed=4)[0], x)


def test_sphere_points_bad_input():
    for N, q in [(1, 0.0), (0, 0.0), (2.5, 0.0), (5, 1.2), (5, [0.0, np.nan]), (True, 0.0)]:
        with pytest.raises(ValueError):
            sphere_points(N, q)


# --------------------------------------------------------------------------- sampler mechanics
def _inputs(k=4, N=6, seed=0):
    x, y = sphere_points(N, np.linspace(-0.5, 0.9, k - 1), seed=seed)
    return np.concatenate([x[:1], y])


def test_sample_outputs_shape_seed_prefix_and_chunking(monkeypatch):
    X = _inputs()
    for method in ("projected", "weights"):
        kw = dict(n_networks=6, sigma_w2=1.5, sigma_b2=0.2, seed=11, method=method)
        f = sample_outputs("tanh", 2, 16, X, **kw)
        assert f.shape == (6, 4) and f.dtype == np.float64
        assert np.array_equal(f, sample_outputs("tanh", 2, 16, X, **kw))
        assert not np.allclose(f, sample_outputs("tanh", 2, 16, X, **{**kw, "seed": 12}))
        # network i depends only on (seed, i): a smaller sample is a prefix, chunking is invisible
        assert np.array_equal(f[:3], sample_outputs("tanh", 2, 16, X, **{**kw, "n_networks": 3}))
        monkeypatch.setattr(rn, "_CHUNK_BYTES", 1)
        assert np.array_equal(f, sample_outputs("tanh", 2, 16, X, **kw))
        monkeypatch.undo()


def test_weights_method_matches_naive_loop():
    """The batched explicit-weight forward pass equals a per-network loop over the same streams."""
    X = _inputs(k=3, N=5)
    act = get_activation("leaky_relu", alpha=0.1)
    sw2, sb2, depth, width = 1.3, 0.4, 3, 7
    got = sample_outputs(act, depth, width, X, n_networks=4, sigma_w2=sw2, sigma_b2=sb2, seed=5, method="weights")
    sw, sb = math.sqrt(sw2), math.sqrt(sb2)
    for i, ss in enumerate(np.random.SeedSequence(5).spawn(4)):
        g = np.random.default_rng(ss)
        W, b = g.standard_normal((5, width)).T, g.standard_normal(width)
        h = np.array([sw * W @ x / math.sqrt(5) + sb * b for x in X])
        for _ in range(depth - 1):
            W, b = g.standard_normal((width, width)).T, g.standard_normal(width)
            h = np.array([sw * W @ act(hh) / math.sqrt(width) + sb * b for hh in h])
        w, b = g.standard_normal((width, 1))[:, 0], g.standard_normal(1)[0]
        f = np.array([sw * w @ act(hh) / math.sqrt(width) + sb * b for hh in h])
        assert np.allclose(got[i], f, rtol=1e-12, atol=1e-13)


def test_projected_repeated_inputs_give_equal_outputs():
    X = _inputs(k=3, N=6)
    X = np.concatenate([X, X[:1]])  # x appears twice
    f = sample_outputs("erf", 3, 32, X, n_networks=5, sigma_w2=2.0, sigma_b2=0.1)
    assert np.allclose(f[:, 0], f[:, 3], rtol=1e-12, atol=1e-13)


def test_hidden_gram_is_conditional_expectation_of_outputs():
    # same streams: hidden layers equal; the read-out averaged out -> E[f f^T | h^L]
    X = _inputs(k=3)
    G = hidden_gram("tanh", 2, 64, X, n_networks=3, sigma_w2=1.5, sigma_b2=0.2, seed=2)
    assert G.shape == (3, 3, 3)
    assert np.allclose(G, np.swapaxes(G, 1, 2))
    assert np.all(np.linalg.eigvalsh(G) > 0)


def test_projected_and_weights_have_same_law():
    """Different draws, same distribution: compare E[f(x)f(y)] at a small width, where the
    finite-width law differs visibly from infinite width (both methods must show the same bias)."""
    q = np.array([0.0, 0.6, 1.0])
    kw = dict(n_networks=1500, sigma_w2=2.5, sigma_b2=0.1, estimator="conditional")
    m1, s1 = empirical_covariance("tanh", 3, 8, q, method="projected", seed=1, **kw)
    m2, s2 = empirical_covariance("tanh", 3, 8, q, method="weights", seed=2, **kw)
    assert np.all(np.abs(m1 - m2) <= 4 * np.hypot(s1, s2))


# --------------------------------------------------------------------------- theory vs simulation
MC_CASES = [("relu", 1), ("relu", 2), ("relu", 3), ("tanh", 1), ("tanh", 2), ("tanh", 3), ("erf", 1), ("erf", 3)]
Q = np.array([-0.8, -0.2, 0.3, 0.7, 0.95, 1.0])


def _tolerance(se, depth, width, c1):
    """4 standard errors plus a finite-width allowance 2 (L-1) C_L(1)/n (zero at L = 1, where
    h^1 is exactly Gaussian and the estimator is unbiased at any width)."""
    return 4 * se + 2.0 * (depth - 1) / width * c1


@pytest.mark.parametrize("name,depth", MC_CASES)
def test_monte_carlo_outputs_match_covariance(name, depth):
    """Plain estimator: mean of f(x) f(y) over 2000 networks of width 512 (relative SE ~ 3%)."""
    kw = dict(sigma_w2=1.8, sigma_b2=0.1)
    width = 512
    mean, se = empirical_covariance(name, depth, width, Q, n_networks=2000, seed=7, **kw)
    theory = covariance(name, depth, Q, **kw)
    c1 = covariance(name, depth, 1.0, **kw)
    assert np.all(np.abs(mean - theory) <= _tolerance(se, depth, width, c1)), (mean - theory) / se


@pytest.mark.parametrize("name,depth", MC_CASES)
def test_monte_carlo_conditional_match_covariance(name, depth):
    """Rao-Blackwellised estimator (read-out integrated out): relative SE ~ 0.3-1%, a sharp check."""
    kw = dict(sigma_w2=1.8, sigma_b2=0.1)
    width = 1000
    mean, se = empirical_covariance(name, depth, width, Q, n_networks=300, seed=3,
                                    estimator="conditional", **kw)
    theory = covariance(name, depth, Q, **kw)
    c1 = covariance(name, depth, 1.0, **kw)
    assert np.all(se < 0.02 * c1)  # the check is actually sharp
    assert np.all(np.abs(mean - theory) <= _tolerance(se, depth, width, c1)), (mean - theory) / se


def test_monte_carlo_detects_wrong_depth():
    """Guard against an off-by-one in the layer count: theory at depth L +- 1 is rejected."""
    kw = dict(sigma_w2=1.0, sigma_b2=0.0)
    mean, se = empirical_covariance("relu", 2, 1000, Q, n_networks=300, seed=4, estimator="conditional", **kw)
    for wrong in (1, 3):
        theory = covariance("relu", wrong, Q, **kw)
        assert np.any(np.abs(mean - theory) > 10 * se)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs",
    [dict(activation="foo"), dict(depth=0), dict(depth=1.5), dict(width=0), dict(n_networks=0),
     dict(sigma_w2=0.0), dict(sigma_b2=-1.0), dict(X=np.ones(4)), dict(X=[[np.nan, 1.0]]), dict(method="exact")],
)
def test_sample_outputs_bad_input(kwargs):
    args = dict(activation="tanh", depth=2, width=8, X=_inputs(), n_networks=2, sigma_w2=1.0, sigma_b2=0.0,
                method="projected")
    args.update(kwargs)
    with pytest.raises(ValueError):
        sample_outputs(args.pop("activation"), args.pop("depth"), args.pop("width"), args.pop("X"), **args)


def test_empirical_covariance_bad_input():
    with pytest.raises(ValueError, match="estimator"):
        empirical_covariance("tanh", 1, 8, 0.3, n_networks=4, estimator="mean")
    with pytest.raises(ValueError):
        empirical_covariance("tanh", 1, 8, 1.5, n_networks=4)
    with pytest.raises(ValueError):
        empirical_covariance("tanh", 1, 8, 0.3, n_networks=1)


# --------------------------------------------------------------------------- one held network
def test_sample_network_is_network_i_of_sample_outputs():
    from scipy.special import erf

    X = _inputs(k=5, N=4, seed=2)
    kw = dict(sigma_w2=1.7, sigma_b2=0.3, seed=21)
    F = sample_outputs("erf", 3, 12, X, n_networks=4, method="weights", **kw)
    for i in range(4):
        net = rn.sample_network("erf", 3, 12, 4, index=i, **kw)
        # independent reference: the documented convention written out by hand -- stream
        # SeedSequence(seed).spawn(n)[i], draws W^1 (N x n), b^1, W^2, b^2, ... standard normal,
        # h^{l+1} = sigma_w W^T phi(h^l)/sqrt(n_l) + sigma_b b
        rng = np.random.default_rng(np.random.SeedSequence(21).spawn(4)[i])
        a, n_in = X, 4
        for layer in range(4):
            n_out = 1 if layer == 3 else 12
            W, b = rng.standard_normal((n_in, n_out)), rng.standard_normal(n_out)
            h = a @ W * math.sqrt(1.7 / n_in) + math.sqrt(0.3) * b
            a, n_in = erf(h), n_out
        np.testing.assert_allclose(net(X), h[:, 0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(F[i], h[:, 0], rtol=1e-12, atol=1e-14)
    assert (net.depth, net.width, net.input_dim) == (3, 12, 4)


def test_sample_network_vectorises_over_leading_axes():
    net = rn.sample_network("tanh", 2, 9, 3, sigma_w2=2.0, seed=4)
    P = np.random.default_rng(0).normal(size=(4, 5, 3))
    out = net(P)
    assert out.shape == (4, 5)
    np.testing.assert_allclose(out.reshape(-1), net(P.reshape(-1, 3)), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(out[2, 3], net(P[2, 3]), rtol=1e-12, atol=1e-14)
    assert not np.allclose(out, rn.sample_network("tanh", 2, 9, 3, sigma_w2=2.0, seed=5)(P))


def test_sample_network_linear_closed_form():
    """A linear network is the product of its scaled weight matrices: f(x) = x . w_eff + b_eff."""
    net = rn.sample_network("linear", 2, 6, 3, sigma_w2=1.3, sigma_b2=0.2, seed=9)
    W, b = net.weights, net.biases  # effective: sigma_w W / sqrt(n_in), sigma_b b
    assert [w.shape for w in W] == [(3, 6), (6, 6), (6, 1)]
    # the effective weights are scaled standard normals: sample variance ~ sigma_w2 / n_in
    assert 0.5 < np.var(W[1]) * 6 / 1.3 < 2.0
    weff = W[0] @ W[1] @ W[2]
    beff = b[0] @ W[1] @ W[2] + b[1] @ W[2] + b[2]
    X = np.random.default_rng(3).normal(size=(7, 3))
    np.testing.assert_allclose(net(X), (X @ weff + beff)[:, 0], rtol=1e-12)


@pytest.mark.parametrize("kwargs", [dict(depth=0), dict(width=0), dict(N=0), dict(index=-1), dict(sigma_w2=0.0),
                                    dict(sigma_b2=-0.1), dict(depth=True)])
def test_sample_network_bad_input(kwargs):
    args = dict(activation="tanh", depth=2, width=5, N=3) | kwargs
    with pytest.raises(ValueError):
        rn.sample_network(**args)
    net = rn.sample_network("tanh", 2, 5, 3)
    for X in (np.ones((4, 2)), np.array([[np.nan, 0.0, 1.0]])):
        with pytest.raises(ValueError):
            net(X)
