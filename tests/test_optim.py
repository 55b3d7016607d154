"""Tests of the batched optimizers, schedules, training loop and progress bar."""
import io
import math

import numpy as np
import pytest

from nnlandscape.nets import MLP
from nnlandscape.optim import Optimizer, make_schedule, train
from nnlandscape.progress import ProgressBar


def _quadratic(M=3, P=4, seed=0):
    rng = np.random.default_rng(seed)
    B = rng.normal(size=(P, P))
    A = B @ B.T / P + 0.5 * np.eye(P)  # SPD, L(theta) = theta^T A theta / 2, grad = A theta
    return A, rng.normal(size=(M, P))


def test_gd_on_quadratic_matches_closed_form():
    A, th0 = _quadratic()
    eta = 0.1
    th = th0.copy()
    opt = Optimizer("gd")
    for _ in range(25):
        opt.step(th, th @ A, eta)
    closed = th0 @ np.linalg.matrix_power(np.eye(4) - eta * A, 25)  # (I - eta A)^t theta_0 (A symmetric)
    np.testing.assert_allclose(th, closed, rtol=1e-12, atol=1e-14)


def test_heavy_ball_on_1d_quadratic_matches_characteristic_roots():
    # theta_{t+1} = theta_t + mu (theta_t - theta_{t-1}) - eta a theta_t, theta_{-1} = theta_0:
    # theta_t = c+ r+^t + c- r-^t with r^2 - (1 + mu - eta a) r + mu = 0
    a, eta, mu, t = 2.0, 0.1, 0.6, 40
    r = np.roots([1.0, -(1 + mu - eta * a), mu]).astype(complex)
    theta0, theta1 = 1.0, 1.0 - eta * a
    c = np.linalg.solve(np.array([[1, 1], r]), [theta0, theta1])
    closed = (c * r**t).sum().real
    th = np.array([[theta0]])
    opt = Optimizer("momentum", momentum=mu)
    for _ in range(t):
        opt.step(th, a * th, eta)
    assert th[0, 0] == pytest.approx(closed, rel=1e-10, abs=1e-14)


def test_adam_with_constant_gradient_closed_form():
    # with g constant the bias corrections are exact: m_hat = g, v_hat = g^2, so
    # theta_t = theta_0 - t eta g / (|g| + eps)
    g = np.array([[0.3, -2.0, 1e-3], [5.0, -0.1, 0.0]])
    th = np.zeros_like(g)
    opt = Optimizer("adam", eps=1e-8)
    for _ in range(7):
        opt.step(th, g, 0.01)
    np.testing.assert_allclose(th, -7 * 0.01 * g / (np.abs(g) + 1e-8), rtol=1e-12, atol=1e-15)


def test_adadelta_first_two_steps_closed_form():
    rho, eps, g = 0.9, 1e-6, 0.5
    th = np.array([[1.0]])
    opt = Optimizer("adadelta", rho=rho, eps=eps)
    opt.step(th, np.array([[g]]), 1.0)
    eg = (1 - rho) * g**2
    d1 = -math.sqrt(eps) / math.sqrt(eg + eps) * g
    assert th[0, 0] == pytest.approx(1.0 + d1, rel=1e-14)
    opt.step(th, np.array([[g]]), 1.0)
    eg = rho * eg + (1 - rho) * g**2
    edx = (1 - rho) * d1**2
    d2 = -math.sqrt(edx + eps) / math.sqrt(eg + eps) * g
    assert th[0, 0] == pytest.approx(1.0 + d1 + d2, rel=1e-14)


def test_optimizer_idx_leaves_other_models_alone():
    A, th0 = _quadratic(M=4)
    th = th0.copy()
    opt = Optimizer("adam")
    opt.step(th, th @ A, 0.1, idx=[1, 3])
    np.testing.assert_array_equal(th[[0, 2]], th0[[0, 2]])
    assert np.all(th[[1, 3]] != th0[[1, 3]])
    assert list(opt.state["t"]) == [0, 1, 0, 1]


def test_schedules_closed_forms():
    assert make_schedule("constant")(123) == 1.0
    s = make_schedule("step", step_size=10, gamma=0.5)
    assert (s(0), s(9), s(10), s(25)) == (1.0, 1.0, 0.5, 0.25)
    assert make_schedule("exponential", gamma=0.9)(3) == pytest.approx(0.729)
    assert make_schedule("inverse_time", decay=0.5)(4) == pytest.approx(1 / 3)
    c = make_schedule("cosine", total=100, floor=0.1)
    assert (c(0), c(50), c(100), c(200)) == pytest.approx((1.0, 0.55, 0.1, 0.1))
    with pytest.raises(ValueError, match="schedule"):
        make_schedule("linear")
    with pytest.raises(ValueError, match="gamma"):
        make_schedule("step", gamma=-1.0)


# ------------------------------------------------------------------ training loop
def _saw(n=61):
    x = np.linspace(-1, 1, n)
    return x, np.abs((2 * x) % 2 - 1)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adadelta", "adam"])
def test_batched_training_equals_per_model(backend, optimizer):
    net = MLP([1, 4, 4, 1], "relu")
    x, y = _saw()
    th = net.init(3, seed=5, bias_std=0.1)
    lr = 1.0 if optimizer == "adadelta" else 0.01
    res = train(net, th, x, y, optimizer=optimizer, lr=lr, steps=40, backend=backend)
    for m in range(3):
        one = train(net, th[m : m + 1], x, y, optimizer=optimizer, lr=lr, steps=40, backend=backend)
        np.testing.assert_array_equal(one.theta[0], res.theta[m])
        assert one.loss[0] == res.loss[m]
    assert np.all(res.history[-1] < res.history[0])  # it trains


def test_numba_and_numpy_backends_agree():
    net = MLP([1, 4, 4, 1], "tanh")
    x, y = _saw()
    th = net.init(4, seed=1, bias_std=0.1)
    a = train(net, th, x, y, steps=60, lr=0.01, backend="numba")
    b = train(net, th, x, y, steps=60, lr=0.01, backend="numpy")
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.history, b.history, rtol=1e-10)


def test_gd_on_linear_model_reaches_least_squares():
    net = MLP([1, 1], "linear")  # f(x) = w x + b
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 30)
    y = 2 * x + 1 + 0.1 * rng.normal(size=30)
    wb = np.polyfit(x, y, 1)
    res = train(net, np.zeros((1, 2)), x, y, optimizer="gd", lr=0.3, steps=2000, grad_tol=1e-13)
    assert res.converged[0] and res.n_steps[0] < 2000
    np.testing.assert_allclose(res.theta[0], wb, atol=1e-12)
    assert res.loss[0] == pytest.approx(np.mean((np.polyval(wb, x) - y) ** 2), rel=1e-12)


def test_each_model_stops_on_its_own_criterion():
    net = MLP([1, 4, 4, 1], "relu")
    x, y = _saw()
    th = net.init(8, seed=2, bias_std=0.1)
    tol = 0.02
    res = train(net, th, x, y, lr=0.01, steps=400, loss_tol=tol)
    assert 0 < res.converged.sum() < 8
    for m in range(8):
        k = res.n_steps[m]
        if res.converged[m]:
            assert res.history[k, m] <= tol < res.history[k - 1, m]
            assert np.all(res.history[k:, m] == res.history[k, m])  # frozen afterwards
            assert res.loss[m] == res.history[k, m]
        else:
            assert k == 400 and res.loss[m] > tol


def test_divergence_is_flagged_without_stopping_others():
    net = MLP([1, 4, 4, 1], "relu")
    x, y = _saw()
    th = net.init(3, seed=0, bias_std=0.1)
    for backend in ("numba", "numpy"):
        res = train(net, th, x, y, optimizer="gd", lr=[0.05, 1e4, 0.05], steps=200, backend=backend)
        assert list(res.diverged) == [False, True, False]
        assert not np.isfinite(res.loss[1]) and res.n_steps[1] < 200
        assert np.all(np.isfinite(res.loss[[0, 2]])) and list(res.n_steps[[0, 2]]) == [200, 200]
        assert np.all(res.loss[[0, 2]] < res.history[0, [0, 2]])


def test_float32_training_tracks_float64():
    net = MLP([1, 4, 4, 1], "relu")
    x, y = _saw()
    th = net.init(16, seed=3, bias_std=0.1)
    a = train(net, th, x, y, steps=100, lr=0.005)
    b = train(net, th.astype(np.float32), x, y, steps=100, lr=0.005)
    assert b.theta.dtype == np.float32
    np.testing.assert_allclose(b.loss, a.loss, rtol=2e-3)


def test_other_losses_train_with_numpy_path():
    net = MLP([2, 6, 1], "tanh")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    lab = (X[:, 0] * X[:, 1] > 0) * 1.0
    res = train(net, net.init(2, seed=0), X, lab, loss="cross_entropy", steps=300, lr=0.05, schedule=("cosine", {"total": 300}))
    assert np.all(res.loss < 0.8 * np.log(2))


def test_train_bad_input():
    net = MLP([1, 3, 1])
    x, y = _saw()
    th = net.init(2)
    with pytest.raises(ValueError, match="lr"):
        train(net, th, x, y, lr=0.0)
    with pytest.raises(ValueError, match="lr"):
        train(net, th, x, y, lr=[0.1, -1.0])
    with pytest.raises(ValueError, match="optimizer"):
        train(net, th, x, y, optimizer="lbfgs")
    with pytest.raises(ValueError, match="theta0"):
        train(net, np.full((2, net.n_params), np.inf), x, y)
    with pytest.raises(ValueError, match="backend"):
        train(MLP([1, 3, 1], "swish"), th, x, y, backend="numba")
    with pytest.raises(ValueError, match="steps"):
        train(net, th, x, y, steps=-1)
    with pytest.raises(ValueError, match="momentum"):
        Optimizer("momentum", momentum=1.5)
    with pytest.raises(ValueError, match="optimizer"):
        Optimizer("adam", rho=0.9)


def test_progress_bar_silent_when_disabled(capsys):
    net = MLP([1, 4, 4, 1])
    x, y = _saw()
    train(net, net.init(2), x, y, steps=5, progress=False)
    assert capsys.readouterr().err == ""
    buf = io.StringIO()
    with ProgressBar(3, stream=buf, min_interval=0.0, desc="fit") as bar:
        for _ in range(3):
            bar.update(1, postfix="ok")
    assert "3/3" in buf.getvalue() and buf.getvalue().startswith("\rfit") and buf.getvalue().endswith("\n")
