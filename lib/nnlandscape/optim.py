r"""Batched first-order optimizers and the training loop for :class:`~nnlandscape.nets.MLP`.

All :math:`M` models of a batch ``theta`` (shape ``(M, P)``) are updated at once,
each with its own state and its own learning rate :math:`\eta_m`, and each stops
on its own criterion. With :math:`g_t = \nabla\mathcal L(\theta_t)` and
:math:`\eta_t = \eta\, s(t)` (``s`` a learning-rate schedule):

* ``"gd"``: :math:`\theta_{t+1} = \theta_t - \eta_t g_t`;
* ``"momentum"`` (heavy ball, Polyak 1964): :math:`v_{t+1} = \mu v_t - \eta_t g_t`,
  :math:`\theta_{t+1} = \theta_t + v_{t+1}`, :math:`v_0 = 0`;
* ``"adadelta"`` (Zeiler 2012, arXiv:1212.5701):
  :math:`E_g \leftarrow \rho E_g + (1-\rho) g^2`,
  :math:`\Delta = -\sqrt{E_\Delta+\epsilon}/\sqrt{E_g+\epsilon}\, g`,
  :math:`E_\Delta \leftarrow \rho E_\Delta + (1-\rho)\Delta^2`,
  :math:`\theta \leftarrow \theta + \eta_t \Delta` (the paper's rule is :math:`\eta = 1`);
* ``"adam"`` (Kingma & Ba 2015, arXiv:1412.6980):
  :math:`m \leftarrow \beta_1 m + (1-\beta_1) g`, :math:`v \leftarrow \beta_2 v + (1-\beta_2) g^2`,
  :math:`\theta \leftarrow \theta - \eta_t\, \hat m/(\sqrt{\hat v}+\epsilon)` with
  :math:`\hat m = m/(1-\beta_1^{t})`, :math:`\hat v = v/(1-\beta_2^{t})`, :math:`t` the
  model's own update count (starting at 1).

The updates are elementwise numba loops over the rows being updated (in place,
no temporaries). :func:`train` evaluates loss and gradient with the compiled
kernel of :mod:`nnlandscape._nets_numba` when it applies (plain MLP, MSE,
piecewise-linear or tanh hidden layers) and with :meth:`MLP.gradient` otherwise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numba
import numpy as np

from . import _nets_numba
from ._checks import (
    MAX_BYTES, MAX_FLOPS, check_bool, check_budget, check_choice, check_instance, check_int, check_real,
)
from .nets import MLP
from .progress import ProgressBar

__all__ = ["OPTIMIZERS", "SCHEDULES", "Optimizer", "make_schedule", "train", "TrainResult"]

#: optimizer names and their hyper-parameters with defaults
OPTIMIZERS = {
    "gd": {},
    "momentum": {"momentum": 0.9},
    "adadelta": {"rho": 0.9, "eps": 1e-6},
    "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
}
#: learning-rate schedule names, see :func:`make_schedule`
SCHEDULES = ("constant", "step", "exponential", "inverse_time", "cosine")


# --------------------------------------------------------------------------- schedules
def make_schedule(name: str = "constant", **params) -> Callable[[int], float]:
    r"""Learning-rate factor :math:`s(t)` (with :math:`s(0) = 1`) of step :math:`t = 0, 1, \dots`.

    * ``"constant"``: :math:`s = 1`;
    * ``"step"`` (``step_size``, ``gamma=0.1``): :math:`s = \gamma^{\lfloor t/\mathrm{step\_size}\rfloor}`;
    * ``"exponential"`` (``gamma``): :math:`s = \gamma^t`;
    * ``"inverse_time"`` (``decay``): :math:`s = 1/(1 + \mathrm{decay}\; t)`;
    * ``"cosine"`` (``total``, ``floor=0``): :math:`s = f + (1-f)\frac12(1+\cos(\pi\min(t,T)/T))`.
    """
    name = check_choice("schedule name", name, SCHEDULES)
    allowed = {"constant": set(), "step": {"step_size", "gamma"}, "exponential": {"gamma"},
               "inverse_time": {"decay"}, "cosine": {"total", "floor"}}[name]
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"schedule {name!r} takes parameters {sorted(allowed)}; got unknown {unknown}")
    if name == "constant":
        return lambda t: 1.0
    if name == "step":
        size = check_int("step_size", params.get("step_size", 1000), 1)
        gamma = check_real("gamma", params.get("gamma", 0.1), 0.0, low_open=True)
        return lambda t: gamma ** (t // size)
    if name == "exponential":
        gamma = check_real("gamma", params.get("gamma", 0.999), 0.0, 1.0, low_open=True)
        return lambda t: gamma**t
    if name == "inverse_time":
        decay = check_real("decay", params.get("decay", 1e-3), 0.0)
        return lambda t: 1.0 / (1.0 + decay * t)
    total = check_int("total", params.get("total", 1000), 1)
    floor = check_real("floor", params.get("floor", 0.0), 0.0, 1.0)
    return lambda t: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(t, total) / total))


# --------------------------------------------------------------------------- update kernels
@numba.njit(cache=True, nogil=True)
def _gd_step(theta, grad, idx, lr):
    for r in range(idx.shape[0]):
        m = idx[r]
        for p in range(theta.shape[1]):
            theta[m, p] -= lr[m] * grad[m, p]


@numba.njit(cache=True, nogil=True)
def _momentum_step(theta, grad, idx, lr, v, mu):
    for r in range(idx.shape[0]):
        m = idx[r]
        for p in range(theta.shape[1]):
            v[m, p] = mu * v[m, p] - lr[m] * grad[m, p]
            theta[m, p] += v[m, p]


@numba.njit(cache=True, nogil=True)
def _adadelta_step(theta, grad, idx, lr, eg, edx, rho, eps):
    for r in range(idx.shape[0]):
        m = idx[r]
        for p in range(theta.shape[1]):
            g = grad[m, p]
            eg[m, p] = rho * eg[m, p] + (1.0 - rho) * g * g
            dx = -math.sqrt(edx[m, p] + eps) / math.sqrt(eg[m, p] + eps) * g
            edx[m, p] = rho * edx[m, p] + (1.0 - rho) * dx * dx
            theta[m, p] += lr[m] * dx


@numba.njit(cache=True, nogil=True)
def _adam_step(theta, grad, idx, lr, mom, vel, t, b1, b2, eps):
    for r in range(idx.shape[0]):
        m = idx[r]
        t[m] += 1
        c1 = 1.0 - b1 ** t[m]
        c2 = 1.0 - b2 ** t[m]
        for p in range(theta.shape[1]):
            g = grad[m, p]
            mom[m, p] = b1 * mom[m, p] + (1.0 - b1) * g
            vel[m, p] = b2 * vel[m, p] + (1.0 - b2) * g * g
            theta[m, p] -= lr[m] * (mom[m, p] / c1) / (math.sqrt(vel[m, p] / c2) + eps)


class Optimizer:
    """A batched optimizer: ``opt.step(theta, grad, lr)`` updates ``theta`` (M, P) in place.

    The state (momenta, running averages, per-model step counts) is created on the first
    step for the shape of ``theta``. ``idx`` restricts an update to some rows (models); the
    others, and their state, are left untouched.
    """

    def __init__(self, name: str = "adam", **params):
        self.name = check_choice("optimizer name", name, tuple(OPTIMIZERS))
        unknown = sorted(set(params) - set(OPTIMIZERS[name]))
        if unknown:
            raise ValueError(f"optimizer {name!r} takes parameters {sorted(OPTIMIZERS[name])}; got unknown {unknown}")
        p = {**OPTIMIZERS[name], **params}
        if "momentum" in p:
            p["momentum"] = check_real("momentum", p["momentum"], 0.0, 1.0, high_open=True)
        for k in ("rho", "beta1", "beta2"):
            if k in p:
                p[k] = check_real(k, p[k], 0.0, 1.0, high_open=True)
        if "eps" in p:
            p["eps"] = check_real("eps", p["eps"], 0.0, low_open=True)
        self.params = p
        self.state = None

    def __repr__(self):
        return f"Optimizer({self.name!r}, {self.params})"

    def _init_state(self, theta):
        z = lambda: np.zeros_like(theta)  # noqa: E731
        self.state = {"gd": {}, "momentum": {"v": z()}, "adadelta": {"eg": z(), "edx": z()},
                      "adam": {"m": z(), "v": z(), "t": np.zeros(theta.shape[0], np.int64)}}[self.name]
        self._shape = theta.shape

    def step(self, theta, grad, lr, idx=None):
        r"""One update of the rows ``idx`` (default: all) with learning rates ``lr`` (scalar or (M,))."""
        if not (isinstance(theta, np.ndarray) and isinstance(grad, np.ndarray)):
            raise TypeError(f"theta and grad must be numpy arrays (M, P), got {type(theta).__name__} and "
                            f"{type(grad).__name__}")
        if idx is not None:
            idx = np.asarray(idx)
            if idx.dtype.kind not in "iu" or idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= len(theta))):
                raise ValueError(f"idx must be None or a 1-d array of row indices in [0, {len(theta) - 1}], got {idx!r}")
        if theta.ndim != 2 or grad.shape != theta.shape:
            raise ValueError(f"theta and grad must have the same (M, P) shape, got {theta.shape} and {grad.shape}")
        if not theta.flags.c_contiguous or not theta.flags.writeable:
            raise ValueError("theta must be a writeable C-contiguous array (it is updated in place)")
        M = theta.shape[0]
        lr = _check_lr(lr, M)
        idx = np.arange(M, dtype=np.int64) if idx is None else np.asarray(idx, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= M):
            raise ValueError(f"idx must hold row indices in [0, {M - 1}]")
        self._update(theta, np.ascontiguousarray(grad, dtype=theta.dtype), idx, lr)
        return theta

    def _update(self, theta, grad, idx, lr):
        """:meth:`step` without argument checks (``idx`` int64, ``lr`` float (M,), same dtypes)."""
        if self.state is None or self._shape != theta.shape:
            self._init_state(theta)
        p, s = self.params, self.state
        if self.name == "gd":
            _gd_step(theta, grad, idx, lr)
        elif self.name == "momentum":
            _momentum_step(theta, grad, idx, lr, s["v"], p["momentum"])
        elif self.name == "adadelta":
            _adadelta_step(theta, grad, idx, lr, s["eg"], s["edx"], p["rho"], p["eps"])
        else:
            _adam_step(theta, grad, idx, lr, s["m"], s["v"], s["t"], p["beta1"], p["beta2"], p["eps"])


def _check_lr(lr, M):
    if np.ndim(lr) == 0:
        lr = check_real("lr", lr, 0.0, low_open=True)
        return np.full(M, lr)
    lr = np.asarray(lr, dtype=float)
    if lr.shape != (M,) or not np.all(np.isfinite(lr) & (lr > 0)):
        raise ValueError(f"lr must be a positive finite scalar or an array of {M} of them")
    return lr


# --------------------------------------------------------------------------- training loop
@dataclass
class TrainResult:
    """Outcome of :func:`train` (one entry per model along the first axis).

    theta : (M, P) final parameters; loss : (M,) final loss (inf/NaN for diverged models);
    history : (R, M) loss at the recorded steps ``history_steps`` (R,), models that stopped keep
    their last value; n_steps : (M,) updates applied; converged : (M,) reached ``loss_tol`` or
    ``grad_tol``; diverged : (M,) loss or gradient became non-finite (the model then stops).
    """

    theta: np.ndarray
    loss: np.ndarray
    history: np.ndarray
    history_steps: np.ndarray
    n_steps: np.ndarray
    converged: np.ndarray
    diverged: np.ndarray


def train(net: MLP, theta0, X, y, *, loss: str = "mse", optimizer="adam", lr=1e-3, steps: int = 1000,
          schedule=None, loss_tol=None, grad_tol=None, record_every=None, backend: str = "auto",
          progress: bool = False, **opt_params) -> TrainResult:
    r"""Full-batch training of all models of ``theta0`` (M, P) on a shared data set.

    Each step evaluates :math:`\mathcal L(\theta_m)` and :math:`\nabla\mathcal L(\theta_m)` for the
    active models, then stops model :math:`m` if :math:`\mathcal L \le` ``loss_tol`` or
    :math:`\lVert\nabla\mathcal L\rVert_2 \le` ``grad_tol`` (converged) or if either is non-finite
    (diverged), and applies one optimizer update (see module doc) to the others, with learning
    rate ``lr * schedule(t)``. ``lr`` may be one value per model.

    Parameters
    ----------
    optimizer : name in :data:`OPTIMIZERS` (its hyper-parameters as keywords) or an :class:`Optimizer`.
    schedule : ``None``, a name in :data:`SCHEDULES`, ``(name, params)`` or a callable ``t -> factor``.
    record_every : keep the losses of every ``record_every``-th step in ``history`` (default: every
        step up to 1000 steps, then about 1000 records in all).
    backend : ``"auto"`` (compiled kernel when it applies), ``"numba"`` or ``"numpy"``.
    progress : show a progress bar (stderr, or a widget in a notebook).

    The working precision is that of ``theta0`` (float32 or float64); the result is
    deterministic, and model ``m`` follows the same trajectory whatever the other models are.
    """
    check_instance("net", net, MLP)
    theta, _ = net._theta(theta0, "theta0")
    theta = np.array(theta, dtype=theta.dtype if theta.dtype in (np.float32, np.float64) else np.float64, order="C")
    X = net._X(X)
    yy, lf = net._y(y, X.shape[0], loss)
    steps = check_int("steps", steps, 0)
    record_every = max(1, -(-steps // 1000)) if record_every is None else check_int("record_every", record_every, 1)
    M, P = theta.shape
    check_budget("work of training (steps * models * data points * parameters)",
                 6.0 * max(steps, 1) * M * X.shape[0] * P, MAX_FLOPS, "nnlandscape._checks.MAX_FLOPS", "flops")
    # parameters, gradient and up to 3 optimiser buffers, plus forward/backward activations
    check_budget("memory of training (models x (parameters + activations))",
                 theta.itemsize * M * (6.0 * P + 3.0 * X.shape[0] * sum(net.sizes[1:])), MAX_BYTES,
                 "nnlandscape._checks.MAX_BYTES", "bytes")
    lrs = _check_lr(lr, M)
    if isinstance(optimizer, Optimizer):
        if opt_params:
            raise ValueError("optimizer parameters must be empty when optimizer is an Optimizer object")
        opt = optimizer
    else:
        opt = Optimizer(optimizer, **opt_params)
    sched = _schedule(schedule)
    if loss_tol is not None:
        loss_tol = check_real("loss_tol", loss_tol)
    if grad_tol is not None:
        grad_tol = check_real("grad_tol", grad_tol, 0.0)
    backend = check_choice("backend", backend, ("auto", "numba", "numpy"))
    fast = _nets_numba.supports(net) and loss == "mse"
    if backend == "numba" and not fast:
        raise ValueError("backend='numba' needs a plain MLP (no fixed layers, all biases), hidden activations "
                         f"in {_nets_numba._PIECEWISE + ('tanh',)}, P <= {_nets_numba.MAX_PARAMS} and loss='mse'")
    use_numba = fast and backend != "numpy"

    G = np.zeros_like(theta)
    Lv = np.zeros(M, dtype=theta.dtype)
    if use_numba:
        data = _nets_numba.prepare_data(X, yy, theta.dtype)

        def evaluate(idx):
            _nets_numba.mse_loss_grad(net, theta, data, idx, G, Lv)
    else:
        Xd, yd = X.astype(theta.dtype), yy.astype(theta.dtype)

        def evaluate(idx):
            val, g = net._backward(theta[idx], Xd, yd, lf)
            Lv[idx] = val
            G[idx] = g

    active = np.ones(M, dtype=bool)
    converged = np.zeros(M, dtype=bool)
    diverged = np.zeros(M, dtype=bool)
    n_steps = np.zeros(M, dtype=np.int64)
    hist, hist_steps = [], []
    progress = check_bool("progress", progress)
    with np.errstate(all="ignore"), ProgressBar(steps, enable=progress, desc=f"{opt.name}") as bar:
        for t in range(steps + 1):
            idx = np.flatnonzero(active)
            if idx.size == 0:
                break
            evaluate(idx)
            Lact = Lv[idx]
            bad = ~np.isfinite(Lact)
            if grad_tol is not None or not np.all(~bad):
                gnorm = np.sqrt(np.einsum("ij,ij->i", G[idx], G[idx]))
                bad |= ~np.isfinite(gnorm)
            done = np.zeros(idx.size, dtype=bool)
            if loss_tol is not None:
                done |= Lact <= loss_tol
            if grad_tol is not None:
                done |= gnorm <= grad_tol
            done &= ~bad
            diverged[idx[bad]] = True
            converged[idx[done]] = True
            active[idx[bad | done]] = False
            if t % record_every == 0:
                hist.append(Lv.astype(np.float64))
                hist_steps.append(t)
            if t == steps:
                break
            idx = idx[~(bad | done)]
            if idx.size:
                opt._update(theta, G, idx, lrs * sched(t))
                n_steps[idx] += 1
            if progress:
                bar.update(1, postfix=f"active {idx.size}/{M}, best loss {np.nanmin(Lv):.3g}")
    # Lv now holds, for every model, the loss at its final theta (evaluated at step t of the
    # last loop pass, or when the model stopped)
    return TrainResult(theta=theta, loss=Lv.astype(np.float64), history=np.array(hist).reshape(-1, M),
                       history_steps=np.array(hist_steps), n_steps=n_steps, converged=converged, diverged=diverged)


def _schedule(schedule):
    if schedule is None:
        return make_schedule("constant")
    if callable(schedule):
        return schedule
    if isinstance(schedule, str):
        return make_schedule(schedule)
    if isinstance(schedule, tuple) and len(schedule) == 2:
        return make_schedule(schedule[0], **dict(schedule[1]))
    raise ValueError(f"schedule must be None, a name in {SCHEDULES}, (name, params) or a callable; got {schedule!r}")
