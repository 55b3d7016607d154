"""Trainable-temperature (ESP) networks in the batched engine, and the binary-task protocol."""
import numpy as np
import pytest

from nnlandscape import binary_tasks as bt
from nnlandscape.nets import ESPMLP, MLP


def _fd_grad(net, th, X, y, loss, eps=1e-6):
    E = np.eye(net.n_params) * eps
    return np.stack([(net.loss(th + e, X, y, loss) - net.loss(th - e, X, y, loss)) / (2 * eps) for e in E], -1)


def _fd_hess(net, th, X, y, loss, eps=1e-5):
    E = np.eye(net.n_params) * eps
    return np.stack([(net.gradient(th + e, X, y, loss) - net.gradient(th - e, X, y, loss)) / (2 * eps) for e in E], -2)


def _data(n=15, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (n, 2))
    return X, (X[:, 1] > 0.3 + 0.4 * X[:, 0]).astype(float)


def test_esp_parameter_count_and_layout():
    net = MLP([2, 10, 1], "esp")
    assert isinstance(net, ESPMLP) and net.n_params == 52 and net.n_plain == 41
    assert MLP([2, 10, 1], "relu").n_params == 41
    assert MLP([2, 8, 5, 1], "esp").n_params == 75 + 14
    th = net.init(4, seed=3, beta_std=0.5)
    assert th.shape == (4, 52)
    betas = net.unpack_beta(th)
    assert [b.shape for b in betas] == [(4, 10), (4, 1)]
    Ws, bs = net.unpack(th)
    np.testing.assert_array_equal(net.pack(Ws, bs, betas), th)
    # model k does not depend on how many models are drawn
    np.testing.assert_array_equal(net.init(2, seed=3, beta_std=0.5), th[:2])


@pytest.mark.parametrize("act", ["relu", "sigmoid", "swish", "esp"])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_gradient_and_hessian_against_finite_differences(act, loss):
    net = MLP([2, 4, 3, 1], act)
    X, y = _data()
    kw = {"beta_mean": 1.0, "beta_std": 0.7} if act == "esp" else {}
    th = net.init(2, seed=5, scheme="glorot", bias_std=0.3, **kw)
    if act == "relu":  # finite differences need the pre-activations away from the kinks
        hs, _, _ = net._forward(th, X)
        assert min(np.abs(h).min() for h in hs[:-1]) > 1e-4
    g = net.gradient(th, X, y, loss)
    np.testing.assert_allclose(g, _fd_grad(net, th, X, y, loss), atol=1e-7 * max(1, np.abs(g).max()))
    H = net.hessian(th, X, y, loss)
    np.testing.assert_allclose(H, np.swapaxes(H, -1, -2), atol=0)
    Hfd = _fd_hess(net, th, X, y, loss)
    np.testing.assert_allclose(H, Hfd, atol=1e-6 * max(1, np.abs(H).max()))


def test_esp_rop_is_symmetric_before_symmetrising_and_gauss_newton_is_psd():
    net = MLP([2, 5, 2, 1], "esp")
    X, y = _data(20, 1)
    th = net.init(3, seed=2, beta_mean=0.8, beta_std=0.5)
    thb, _ = net._theta(th)
    yy, lf = net._y(y, X.shape[0], "cross_entropy")
    Hraw = net._rop(thb, X, yy, lf, np.broadcast_to(np.eye(net.n_params), (3, net.n_params, net.n_params)), False)
    assert np.abs(Hraw - np.swapaxes(Hraw, -1, -2)).max() < 1e-12 * np.abs(Hraw).max()
    G = net.gauss_newton(th, X, y, "cross_entropy")
    assert np.linalg.eigvalsh(G).min() > -1e-12 * np.abs(G).max()
    # hvp agrees with the Hessian
    v = np.random.default_rng(0).standard_normal((3, net.n_params))
    np.testing.assert_allclose(net.hvp(th, X, y, v, "cross_entropy"),
                               np.einsum("mpq,mq->mp", net.hessian(th, X, y, "cross_entropy"), v), atol=1e-12)


@pytest.mark.parametrize("beta", [0.3, 2.0])
def test_esp_with_fixed_temperatures_is_swish(beta):
    esp = MLP([2, 4, 3, 1], "esp")
    sw = MLP([2, 4, 3, 1], "swish", beta=beta)
    X, y = _data(12, 2)
    th0 = sw.init(2, seed=1, bias_std=0.2)
    th = esp.pack(*sw.unpack(th0), [np.full(4, beta), np.full(3, beta), np.ones(1)])
    np.testing.assert_allclose(esp.forward(th, X), sw.forward(th0, X), rtol=1e-14)
    np.testing.assert_allclose(esp.gradient(th, X, y, "cross_entropy")[:, : esp.n_plain],
                               sw.gradient(th0, X, y, "cross_entropy"), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(esp.hessian(th, X, y, "cross_entropy")[:, : esp.n_plain, : esp.n_plain],
                               sw.hessian(th0, X, y, "cross_entropy"), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("act", ["relu", "sigmoid", "esp"])
def test_compiled_training_equals_numpy_path(act):
    task = bt.make_task("wiggly", n=60, seed=3)
    net = bt.make_net([4, 3], act)
    kw = dict(seeds=[0, 7], checkpoints=[0, 40], hessian=False, record_every=3)
    a = bt.run_protocol(task, net, **kw)
    b = bt.run_protocol(task, net, backend="numpy", **kw)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(a.loss_curve, b.loss_curve, rtol=1e-10)
    np.testing.assert_array_equal(a.curve_epochs, b.curve_epochs)


def test_fixed_beta_protocol_keeps_temperatures_and_matches_swish_hessian():
    task = bt.make_task("linear", n=40, seed=0)
    net = bt.make_net("2-8-2-1", "esp")
    r = bt.run_protocol(task, net, seeds=2, checkpoints=[0, 20], fixed_beta=[0.5, 3.0])
    betas = net.unpack_beta(r.theta)
    np.testing.assert_array_equal(betas[0], np.repeat([0.5, 3.0], 2)[:, None] * np.ones(8))
    np.testing.assert_array_equal(betas[-1], 1.0)
    assert r.eigenvalues.shape == (2, 4, net.n_plain)
    sw = MLP(net.sizes, "swish", beta=3.0)
    H = sw.hessian(r.theta[2:, : net.n_plain], task.X, task.y, "cross_entropy")
    np.testing.assert_allclose(r.eigenvalues[-1, 2:], np.linalg.eigvalsh(H), atol=1e-10)


def test_protocol_relu_structural_zeros_and_learning():
    task = bt.make_task("linear", n=120, seed=1)
    r = bt.run_protocol(task, bt.make_net("2-10-1", "relu"), seeds=3, checkpoints=[0, 300])
    assert r.acc_train[-1].min() > r.acc_train[0].max() or r.acc_train[-1].min() > 0.9
    assert np.all(r.null_relative >= r.null_structural)
    # eigenvalue counts: structural zeros are exact zeros of the spectrum
    assert np.all((r.eigenvalues == 0).mean(-1) >= r.null_structural)


def test_make_task_and_standardise():
    t = bt.make_task("wiggly", n=200, seed=4)
    assert t.X.shape == (150, 2) and t.X_test.shape == (50, 2)
    assert t.X.min() >= 0 and set(np.unique(t.y)) == {0.0, 1.0}
    s = bt.make_task("wiggly", n=200, seed=4, standardise=True)
    np.testing.assert_allclose(s.X.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(s.X.std(0), 1, rtol=1e-12)
    np.testing.assert_array_equal(s.y, t.y)


def test_bad_input():
    with pytest.raises(ValueError, match="activation"):
        bt.make_net("2-10-1", "tanhh")
    with pytest.raises(ValueError, match="architecture"):
        bt.make_net("2-3-1", "relu")
    with pytest.raises(ValueError, match="beta"):
        bt.make_net("2-10-1", "swish", beta=0.0)
    with pytest.raises(ValueError, match="beta"):
        bt.make_net("2-10-1", "swish", beta=-1.0)
    with pytest.raises(ValueError, match="beta"):
        bt.make_net("2-10-1", "esp", beta=1.0)
    with pytest.raises(ValueError, match="task"):
        bt.make_task("spiral")
    task = bt.make_task("linear", n=40)
    with pytest.raises(ValueError, match="fixed_beta"):
        bt.run_protocol(task, bt.make_net("2-10-1", "esp"), fixed_beta=[1.0, 0.0], checkpoints=[0])
    with pytest.raises(ValueError, match="fixed_beta"):
        bt.run_protocol(task, bt.make_net("2-10-1", "relu"), fixed_beta=[1.0], checkpoints=[0])
    with pytest.raises(ValueError, match="eps"):
        bt.run_protocol(task, bt.make_net("2-10-1", "relu"), eps=1.5, checkpoints=[0])
    bad = bt.Task("linear", task.X, task.y * 2 - 1, task.X_test, task.y_test)
    with pytest.raises(ValueError, match="0/1"):
        bt.run_protocol(bad, bt.make_net("2-10-1", "relu"), checkpoints=[0])
    with pytest.raises(ValueError, match="bias"):
        MLP([2, 3, 1], "esp", bias=False)
    with pytest.raises(ValueError, match="activation parameters"):
        MLP([2, 3, 1], "esp", beta=2.0)


def test_optim_train_runs_esp_networks_like_the_protocol():
    from nnlandscape.optim import train

    task = bt.make_task("wiggly", n=48, seed=2)
    net = bt.make_net("2-8-2-1", "esp")
    th0 = np.concatenate([net.init(1, seed=s, scheme="glorot", beta_std=0.004) for s in (0, 1)])
    res = train(net, th0, task.X, task.y, loss="cross_entropy", optimizer="adam", lr=0.01, steps=30,
                schedule=("exponential", {"gamma": 0.9 ** (1 / 500)}))
    r = bt.run_protocol(task, net, seeds=[0, 1], checkpoints=[0, 30], hessian=False)
    np.testing.assert_allclose(res.theta, r.theta, rtol=1e-9, atol=1e-12)
    assert np.all(res.loss < net.loss(th0, task.X, task.y, "cross_entropy"))


def test_protocol_checkpoint_arguments():
    task = bt.make_task("linear", n=40)
    net = bt.make_net("2-10-1", "relu")
    with pytest.raises(ValueError, match="hessian_at"):
        bt.run_protocol(task, net, checkpoints=[0, 10], hessian_at=[5])
    r = bt.run_protocol(task, net, seeds=2, checkpoints=[0, 5, 10], hessian_at=[10])
    assert r.epochs.tolist() == [0, 5, 10] and r.hessian_epochs.tolist() == [10]
    assert r.eigenvalues.shape == (1, 2, net.n_params) and r.acc_train.shape == (3, 2)
