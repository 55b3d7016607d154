"""Tests of the function-preserving symmetries and the de-symmetrisation."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nnlandscape import symmetries as S
from nnlandscape.nets import MLP

NET = MLP([2, 5, 4, 3, 1], "relu")
X = np.random.default_rng(0).normal(size=(40, 2))


def _random_symmetry(net, th, rng, rescale=True):
    out = th
    for l in range(1, len(net.sizes) - 1):
        w = net.sizes[l]
        if rescale:
            out = S.rescale_nodes(net, out, l, np.exp(rng.uniform(-2, 2, size=(th.shape[0], w))))
        out = S.permute_nodes(net, out, l, np.array([rng.permutation(w) for _ in range(th.shape[0])]))
    return out


def _rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), M=st.integers(1, 3),
       act=st.sampled_from(["relu", "leaky_relu", "linear", "shaped_relu"]))
def test_symmetries_preserve_function_and_canonical_form(seed, M, act):
    net = MLP([2, 5, 4, 3, 1], act)
    rng = np.random.default_rng(seed)
    th = net.init(M, seed=seed, bias_std=0.3)
    th2 = _random_symmetry(net, th, rng)
    f = net.forward(th, X)
    assert not np.allclose(th2, th)
    assert _rel(net.forward(th2, X), f) < 1e-12
    c1, c2 = S.canonicalize(net, th), S.canonicalize(net, th2)
    assert _rel(net.forward(c1, X), f) < 1e-12
    np.testing.assert_allclose(c2, c1, atol=1e-9 * np.abs(c1).max())


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), act=st.sampled_from(["tanh", "sin", "swish"]))
def test_permutations_for_any_activation(seed, act):
    net = MLP([2, 4, 4, 2], act)
    th = net.init(2, seed=seed, bias_std=0.3)
    th2 = _random_symmetry(net, th, np.random.default_rng(seed), rescale=False)
    assert _rel(net.forward(th2, X), net.forward(th, X)) < 1e-12
    np.testing.assert_allclose(S.canonicalize(net, th2), S.canonicalize(net, th), atol=1e-14)


def test_balance_is_the_minimal_norm_rescaling():
    th = NET.init(3, seed=4, bias_std=0.3)
    b = S.balance(NET, th)
    # stationarity: every hidden node has equal squared incoming and outgoing norms
    for l in (1, 2, 3):
        a, c = S.node_norms(NET, b, l)
        np.testing.assert_allclose(a, c, rtol=1e-10)
    nb = np.square(b).sum(1)
    assert np.all(nb < np.square(th).sum(1))
    # minimality: no other rescaling of the balanced point has a smaller norm
    rng = np.random.default_rng(0)
    for _ in range(20):
        other = b
        for l in (1, 2, 3):
            other = S.rescale_nodes(NET, other, l, np.exp(rng.normal(scale=0.3, size=(3, NET.sizes[l]))))
        assert np.all(np.square(other).sum(1) > nb)


def test_rescaling_one_node_by_hand():
    net = MLP([1, 2, 1], "relu")
    th = np.array([1.0, -2.0, 0.5, 0.25, 3.0, 4.0, 0.1])  # W1=[1,-2]^T, b1=[.5,.25], W2=[3,4], b2=.1
    out = S.rescale_nodes(net, th, 1, [2.0, 1.0])
    np.testing.assert_allclose(out, [2.0, -2.0, 1.0, 0.25, 1.5, 4.0, 0.1])
    out = S.permute_nodes(net, th, 1, [1, 0])
    np.testing.assert_array_equal(out, [-2.0, 1.0, 0.25, 0.5, 4.0, 3.0, 0.1])
    # 1-D balance of node 1: in^2 = 1 + .25, out^2 = 9 -> both become sqrt(1.25 * 9)
    b = S.balance(net, th)
    a, c = S.node_norms(net, b, 1)
    assert a[0] == pytest.approx(np.sqrt(1.25 * 9)) and c[0] == pytest.approx(np.sqrt(1.25 * 9))


def test_symmetry_bad_input():
    th = NET.init(2)
    with pytest.raises(ValueError, match="layer"):
        S.rescale_nodes(NET, th, 4, np.ones(1))
    with pytest.raises(ValueError, match="scales"):
        S.rescale_nodes(NET, th, 1, -np.ones(5))
    with pytest.raises(ValueError, match="scales"):
        S.rescale_nodes(NET, th, 1, np.ones(4))
    with pytest.raises(ValueError, match="perm"):
        S.permute_nodes(NET, th, 1, [0, 0, 1, 2, 3])
    with pytest.raises(ValueError, match="homogeneous"):
        S.rescale_nodes(MLP([1, 3, 1], "tanh"), MLP([1, 3, 1], "tanh").init(), 1, np.ones(3))
    with pytest.raises(ValueError, match="theta"):
        S.canonicalize(NET, np.zeros(3))
