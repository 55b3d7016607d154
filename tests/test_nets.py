"""Tests of the batched network engine :mod:`nnlandscape.nets` (and its numba kernel)."""
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st
from scipy import special

from nnlandscape import _nets_numba
from nnlandscape.nets import MLP, pack, unpack

SAW = [1, 5, 5, 5, 5, 5, 1]


def _data(n=23, d=1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, size=(n, d))


def _fd_grad(net, th, X, y, loss, eps=1e-6):
    P = net.n_params
    E = np.eye(P) * eps
    return np.stack([(net.loss(th + E[k], X, y, loss) - net.loss(th - E[k], X, y, loss)) / (2 * eps)
                     for k in range(P)], axis=-1)


def _fd_hess(net, th, X, y, loss, eps=1e-5):
    P = net.n_params
    E = np.eye(P) * eps
    return np.stack([(net.gradient(th + E[k], X, y, loss) - net.gradient(th - E[k], X, y, loss)) / (2 * eps)
                     for k in range(P)], axis=-2)


def _kink_margin(net, th, X):
    """Smallest |pre-activation| over hidden layers, data and models."""
    hs, _, _ = net._forward(net._theta(th)[0], X)
    return min(np.abs(h).min() for h in hs[:-1])


# ------------------------------------------------------------------ packing
def test_pack_layout_and_P():
    net = MLP(SAW)
    assert net.n_params == 136
    th = np.arange(136.0)
    Ws, bs = unpack(th, SAW)
    assert [W.shape for W in Ws] == [(5, 1), (5, 5), (5, 5), (5, 5), (5, 5), (1, 5)]
    # [W1.ravel(), b1, W2.ravel(), b2, ...], row-major W
    np.testing.assert_array_equal(Ws[0][:, 0], np.arange(5.0))
    np.testing.assert_array_equal(bs[0], np.arange(5.0, 10.0))
    assert Ws[1][0, 1] == 11.0 and Ws[1][1, 0] == 15.0
    assert bs[-1][0] == 135.0
    np.testing.assert_array_equal(pack(Ws, bs), th)
    th2 = np.stack([th, -th])
    W2, b2 = unpack(th2, SAW)
    np.testing.assert_array_equal(pack(W2, b2), th2)
    np.testing.assert_array_equal(net.pack(*net.unpack(th2)), th2)


def test_forward_matches_explicit_loop():
    net = MLP([3, 4, 2, 2], "tanh")
    th = net.init(3, seed=5, bias_std=0.3)
    X = _data(7, 3)
    f = net.forward(th, X)
    for m in range(3):
        Ws, bs = unpack(th[m], net.sizes)
        for i in range(7):
            a = X[i]
            for l in range(3):
                h = Ws[l] @ a + bs[l]
                a = np.tanh(h) if l < 2 else h
            np.testing.assert_allclose(f[m, i], a, rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(net.forward(th[1], X), f[1])


def test_loss_conventions_closed_form():
    X = _data(11, 2)
    y = np.random.default_rng(1).normal(size=(11, 3))
    net = MLP([2, 4, 3], "relu")
    zero = np.zeros(net.n_params)
    # MSE without the 1/2: L = (1/n) sum_i |f - y|^2
    assert net.loss(zero, X, y) == pytest.approx(np.mean(np.sum(y**2, axis=1)), rel=1e-14)
    labels = np.arange(11) % 3
    assert net.loss(zero, X, labels, "cross_entropy") == pytest.approx(np.log(3), rel=1e-14)
    net1 = MLP([2, 4, 1], "relu")
    z1 = np.zeros(net1.n_params)
    assert net1.loss(z1, X, labels % 2, "cross_entropy") == pytest.approx(np.log(2), rel=1e-14)
    assert net1.loss(z1, X, 2.0 * (labels % 2) - 1, "hinge") == pytest.approx(1.0, rel=1e-14)
    # hinge: margin > 1 everywhere -> zero loss
    th = z1.copy()
    th[-1] = 3.0  # output bias
    assert net1.loss(th, X, np.ones(11), "hinge") == 0.0


def test_batched_equals_per_model_exactly():
    net = MLP(SAW, "relu")
    X = _data(40)
    y = np.sin(3 * X[:, 0])
    th = net.init(6, seed=3, bias_std=0.1)
    np.testing.assert_array_equal(net.init(2, seed=3, bias_std=0.1), th[:2])  # prefix property
    f, L, g = net.forward(th, X), net.loss(th, X, y), net.gradient(th, X, y)
    for m in range(6):
        np.testing.assert_array_equal(net.forward(th[m], X), f[m])
        assert net.loss(th[m], X, y) == L[m]
        np.testing.assert_array_equal(net.gradient(th[m : m + 1], X, y)[0], g[m])


def test_init_variance_he_and_glorot():
    net = MLP([5, 5, 5, 1])
    th = net.init(4000, seed=0)
    Ws, bs = net.unpack(th)
    # He: Var W_2 = 2 / fan_in = 0.4; standard error of the variance of N=1e5 normals: 0.4*sqrt(2/N)
    v = Ws[1].var()
    assert abs(v - 0.4) < 5 * 0.4 * np.sqrt(2 / Ws[1].size)
    assert np.all(bs[1] == 0)
    thg = net.init(4000, seed=0, scheme="glorot", bias_std=0.5)
    Wg, bg = net.unpack(thg)
    assert abs(Wg[2].var() - 2 / 6) < 5 * (2 / 6) * np.sqrt(2 / Wg[2].size)
    assert abs(bg[0].std() - 0.5) < 0.02
    assert not np.array_equal(net.init(1, seed=1), net.init(1, seed=2))


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize("act", ["relu", "tanh", "swish", "leaky_relu", "erf"])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy", "hinge"])
def test_gradient_vs_finite_differences(act, loss):
    net = MLP([2, 4, 3, 1], act)
    X = _data(17, 2, seed=4)
    th = net.init(3, seed=7, bias_std=0.2)
    y = {"mse": np.cos(X.sum(1)), "cross_entropy": (X[:, 0] > 0) * 1.0, "hinge": np.sign(X[:, 0])}[loss]
    if net.activations[0].slopes is not None:  # away from kinks (FD step 1e-6 cannot cross one)
        assert _kink_margin(net, th, X) > 1e-4
    if loss == "hinge":
        assert np.abs(1 - y * net.forward(th, X)[..., 0]).min() > 1e-4
    g = net.gradient(th, X, y, loss)
    np.testing.assert_allclose(g, _fd_grad(net, th, X, y, loss), rtol=1e-6, atol=1e-8)


def test_gradient_multiclass_and_fixed_layers():
    net = MLP([3, 6, 4], "sigmoid")
    X = _data(20, 3, seed=2)
    labels = np.arange(20) % 4
    th = net.init(2, seed=1, bias_std=0.5)
    g = net.gradient(th, X, labels, "cross_entropy")
    np.testing.assert_allclose(g, _fd_grad(net, th, X, labels, "cross_entropy"), rtol=1e-6, atol=1e-9)
    # committee machine: no biases, second layer fixed to 1/K
    cm = MLP([3, 4, 1], "erf", bias=False, fixed={2: np.full((1, 4), 0.25)})
    assert cm.n_params == 12
    th = cm.init(2, seed=0)
    y = X[:, 0] - X[:, 1]
    f = cm.forward(th, X)
    W1 = th[0].reshape(4, 3)
    np.testing.assert_allclose(f[0, :, 0], 0.25 * np.sum(special.erf(X @ W1.T), axis=1))
    np.testing.assert_allclose(cm.gradient(th, X, y), _fd_grad(cm, th, X, y, "mse"), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(cm.hessian(th, X, y), _fd_hess(cm, th, X, y, "mse"), rtol=1e-5, atol=1e-8)


# ------------------------------------------------------------------ Hessians
@pytest.mark.parametrize("act,loss", [("relu", "mse"), ("tanh", "mse"), ("tanh", "cross_entropy"),
                                      ("leaky_relu", "cross_entropy"), ("softplus", "mse")])
def test_hessian_vs_fd_of_gradient(act, loss):
    net = MLP([2, 3, 3, 1], act)
    X = _data(13, 2, seed=8)
    th = net.init(2, seed=11, bias_std=0.3)
    y = np.sin(2 * X[:, 0]) if loss == "mse" else (X[:, 1] > 0) * 1.0
    if net.activations[0].slopes is not None:
        assert _kink_margin(net, th, X) > 1e-4  # FD step 1e-5 moves h by < 1e-4
    H = net.hessian(th, X, y, loss)
    assert H.shape == (2, net.n_params, net.n_params)
    np.testing.assert_allclose(H, _fd_hess(net, th, X, y, loss), rtol=1e-5, atol=1e-7)


def test_relu_hessian_has_cross_terms_and_equals_gn_at_zero_residual():
    net = MLP([1, 4, 4, 1], "relu")
    X = _data(15, 1, seed=3)
    th = net.init(1, seed=2, bias_std=0.2)[0]
    y = np.cos(4 * X[:, 0])
    H = net.hessian(th, X, y)
    G = net.gauss_newton(th, X, y)
    assert np.abs(H - G).max() > 1e-3  # phi'' = 0, but the residual term is not zero
    assert np.linalg.eigvalsh(G).min() > -1e-12  # GN is PSD for MSE
    # at zero residual (targets = outputs) the full Hessian is the Gauss-Newton matrix
    y0 = net.forward(th, X)[:, 0]
    np.testing.assert_allclose(net.hessian(th, X, y0), net.gauss_newton(th, X, y0), atol=1e-13)
    # GN = (2/n) sum_i J_i^T J_i with J from FD of the outputs
    eps = 1e-6
    J = np.stack([(net.forward(th + eps * e, X) - net.forward(th - eps * e, X))[:, 0] / (2 * eps)
                  for e in np.eye(net.n_params)], axis=-1)
    np.testing.assert_allclose(G, 2 / 15 * J.T @ J, rtol=1e-6, atol=1e-9)


def _sympy_hessians(theta, X, y, loss):
    """Loss Hessian and GN matrix of a 2-2-1 tanh net, symbolically (independent of the engine)."""
    s = sp.symbols("t0:9")
    W1 = sp.Matrix(2, 2, s[0:4])
    b1 = sp.Matrix(s[4:6])
    W2 = sp.Matrix(1, 2, s[6:8])
    b2 = s[8]
    total, fs = 0, []
    for x, t in zip(X, y):
        h = W1 * sp.Matrix(x) + b1
        f = (W2 * h.applyfunc(sp.tanh))[0] + b2
        fs.append(f)
        total += (f - t) ** 2 if loss == "mse" else sp.log(1 + sp.exp(f)) - t * f
    total /= len(X)
    sub = dict(zip(s, theta))
    H = np.array(sp.hessian(total, s).subs(sub).evalf(), dtype=float)
    return H


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_hessian_vs_sympy_for_smooth_net(loss):
    net = MLP([2, 2, 1], "tanh")
    X = np.array([[0.3, -0.7], [1.1, 0.2], [-0.4, 0.5]])
    y = np.array([0.0, 1.0, 1.0])
    th = net.init(1, seed=4, bias_std=0.5)[0]
    np.testing.assert_allclose(net.hessian(th, X, y, loss), _sympy_hessians(th, X, y, loss), rtol=1e-11, atol=1e-12)


def test_hvp_shapes_and_consistency():
    net = MLP([2, 3, 2], "tanh")
    X = _data(9, 2, seed=1)
    y = _data(9, 2, seed=2)
    th = net.init(3, seed=0, bias_std=0.1)
    H = net.hessian(th, X, y)
    rng = np.random.default_rng(0)
    v1 = rng.normal(size=net.n_params)
    v2 = rng.normal(size=(3, net.n_params))
    v3 = rng.normal(size=(3, 4, net.n_params))
    np.testing.assert_allclose(net.hvp(th, X, y, v1), H @ v1, atol=1e-12)
    np.testing.assert_allclose(net.hvp(th, X, y, v2), np.einsum("mpq,mq->mp", H, v2), atol=1e-12)
    np.testing.assert_allclose(net.hvp(th, X, y, v3), np.einsum("mpq,mkq->mkp", H, v3), atol=1e-12)
    np.testing.assert_allclose(net.hvp(th[0], X, y, v1), H[0] @ v1, atol=1e-12)
    np.testing.assert_allclose(net.hvp(th[0], X, y, v2), v2 @ H[0], atol=1e-12)
    np.testing.assert_allclose(net.hvp(th, X, y, v2, gauss_newton=True),
                               np.einsum("mpq,mq->mp", net.gauss_newton(th, X, y), v2), atol=1e-12)
    w, V = net.hessian_eigh(th, X, y)
    np.testing.assert_allclose(V @ (w[..., None] * np.swapaxes(V, -1, -2)), H, atol=1e-12)


# ------------------------------------------------------------------ the compiled kernel
@pytest.mark.parametrize("sizes,act", [([1, 3, 3, 1], "relu"), ([2, 4, 2], "tanh"),
                                       ([2, 3, 3, 2], ("leaky_relu", "linear"))])
def test_numba_kernel_matches_numpy(sizes, act):
    net = MLP(sizes, act) if isinstance(act, str) else MLP(sizes, list(act))
    assert _nets_numba.supports(net)
    X = _data(45, sizes[0], seed=6)
    y = np.cos(X @ np.arange(1, sizes[0] + 1.0))[:, None] * np.ones(sizes[-1])
    M = 300 if sizes[0] == 1 else 40  # one architecture through the parallel driver (>= 256 models)
    th = net.init(M, seed=9, bias_std=0.2)
    L0, g0 = net.gradient(th, X, y, return_loss=True)
    data = _nets_numba.prepare_data(X, y, np.float64)
    L1, g1 = _nets_numba.mse_loss_grad(net, th, data)
    np.testing.assert_allclose(L1, L0, rtol=1e-12)
    np.testing.assert_allclose(g1, g0, rtol=1e-11, atol=1e-13 * np.abs(g0).max())
    # same numbers model by model (serial kernel, one model) and for a subset of rows
    for m in (0, 17, M - 1):
        Lm, gm = _nets_numba.mse_loss_grad(net, np.ascontiguousarray(th[m : m + 1]), data)
        assert Lm[0] == L1[m]
        np.testing.assert_array_equal(gm[0], g1[m])
    G = np.full_like(th, 7.0)
    Lb = np.full(M, 7.0)
    _nets_numba.mse_loss_grad(net, th, data, np.array([5, 8]), G, Lb)
    np.testing.assert_array_equal(G[[5, 8]], g1[[5, 8]])
    assert np.all(G[0] == 7.0) and Lb[0] == 7.0
    # float32 agrees with float64 to single precision
    L32, g32 = _nets_numba.mse_loss_grad(net, th.astype(np.float32), _nets_numba.prepare_data(X, y, np.float32))
    assert L32.dtype == np.float32
    np.testing.assert_allclose(L32, L0, rtol=1e-5)
    np.testing.assert_allclose(g32, g0, rtol=1e-3, atol=1e-5 * np.abs(g0).max())


def test_numba_support_flags():
    assert not _nets_numba.supports(MLP([1, 3, 1], "swish"))
    assert not _nets_numba.supports(MLP([1, 3, 1], "relu", bias=False))
    assert _nets_numba.supports(MLP([1, 3, 1], "shaped_relu", c=0.5, depth=4))


# ------------------------------------------------------------------ invariants (hypothesis)
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), widths=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       d_in=st.integers(1, 3), d_out=st.integers(1, 2), act=st.sampled_from(["tanh", "sigmoid", "sin", "softplus"]))
def test_random_architectures_gradient_and_hvp(seed, widths, d_in, d_out, act):
    """Random smooth nets: gradient = FD of the loss, hvp = FD of the gradient along v."""
    net = MLP([d_in, *widths, d_out], act)
    th = net.init(2, seed=seed, bias_std=0.5)
    X = _data(6, d_in, seed=seed % 5)
    y = np.cos(X.sum(1))[:, None] * np.ones(d_out)
    g = net.gradient(th, X, y)
    np.testing.assert_allclose(g, _fd_grad(net, th, X, y, "mse"), rtol=1e-5, atol=1e-8)
    v = np.random.default_rng(seed).normal(size=(2, net.n_params))
    eps = 1e-5
    fd = (net.gradient(th + eps * v, X, y) - net.gradient(th - eps * v, X, y)) / (2 * eps)
    np.testing.assert_allclose(net.hvp(th, X, y, v), fd, rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------ bad input
def test_bad_input_raises_value_error_naming_argument():
    net = MLP([1, 3, 1])
    X = _data(5)
    y = np.zeros(5)
    th = net.init(2)
    with pytest.raises(ValueError, match="activation"):
        MLP([1, 3, 1], "nope")
    with pytest.raises(ValueError, match="sizes"):
        MLP([1, 0, 1])
    with pytest.raises(ValueError, match="sizes"):
        MLP([3])
    with pytest.raises(ValueError, match="theta"):
        net.forward(np.zeros((2, 5)), X)
    bad = th.copy()
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="theta"):
        net.loss(bad, X, y)
    with pytest.raises(ValueError, match="X"):
        net.forward(th, np.zeros((5, 2)))
    with pytest.raises(ValueError, match="y"):
        net.loss(th, X, np.zeros(4))
    with pytest.raises(ValueError, match="loss"):
        net.loss(th, X, y, "l1")
    with pytest.raises(ValueError, match="y"):
        net.loss(th, X, y + 0.5, "hinge")
    with pytest.raises(ValueError, match="y"):
        MLP([1, 3, 3]).loss(MLP([1, 3, 3]).init(), X, np.full(5, 3), "cross_entropy")
    with pytest.raises(ValueError, match="v"):
        net.hvp(th, X, y, np.zeros(3))
    with pytest.raises(ValueError, match="n_models"):
        net.init(0)
    with pytest.raises(ValueError, match="scheme"):
        net.init(1, scheme="xavier")
    with pytest.raises(ValueError, match="fixed"):
        MLP([1, 3, 1], fixed={2: np.ones((3, 1))})
