r"""Two-dimensional binary classification tasks and the training protocol of Milletarì et al. (2018).

The tasks are of the kind used in arXiv:1805.08786, Sec. 3: points in the positive quadrant
(inputs **not centred**, as in the paper), labelled by a straight line (``"linear"``) or by a
closed wiggly curve (``"wiggly"``, inside = 1). :func:`make_task` draws them with a seed and
splits 75/25 into train and test sets, as the authors' script does; ``standardise=True`` centres
and scales the inputs with the training-set mean and standard deviation.

:func:`run_protocol` trains several seeds of one architecture at once with the authors'
protocol (their ``TF/esp_tf_utils.py``): logistic output with binary cross-entropy, Glorot
weights, zero biases, full-batch Adam with learning rate :math:`\eta_t = 0.01\cdot 0.9^{t/500}`,
and at checkpoints records accuracy, residuals :math:`e^\mu = \sigma(f(x^\mu)) - y^\mu` and the
exact Hessian's spectrum (:func:`nnlandscape.spectra.hessian_indices`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import special

from ._checks import check_choice, check_int, check_real, check_real_array, check_seed, check_bool, check_sequence
from .nets import MLP, ESPMLP
from .optim import Optimizer
from . import _logistic_numba
from ._threads import single_threaded_blas
from .spectra import hessian_indices

__all__ = ["TASKS", "ARCHITECTURES", "Task", "make_task", "make_net", "run_protocol", "ProtocolRun"]

#: task names of :func:`make_task`
TASKS = ("linear", "wiggly")
#: the paper's architectures (hidden widths)
ARCHITECTURES = {"2-10-1": (10,), "2-8-2-1": (8, 2), "2-10-2-1": (10, 2), "2-8-5-1": (8, 5)}


@dataclass(frozen=True)
class Task:
    """A seeded 2-D binary task: training and test inputs ``(n, 2)`` and labels in {0, 1}."""

    name: str
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    standardised: bool = False


def _wiggly_inside(X):
    d = X - 0.5
    r = np.hypot(d[:, 0], d[:, 1])
    phi = np.arctan2(d[:, 1], d[:, 0])
    return r < 0.3 + 0.07 * np.sin(5 * phi)


def make_task(name: str, n: int = 400, seed: int = 0, *, standardise: bool = False) -> Task:
    r"""Draw task ``name`` (``"linear"`` or ``"wiggly"``) with ``n`` points uniform in :math:`[0, 1]^2`.

    ``"linear"``: :math:`y = 1` iff :math:`x_2 > 0.2 + 0.6\,x_1`. ``"wiggly"``: :math:`y = 1` inside
    the curve :math:`r(\varphi) = 0.3 + 0.07\sin 5\varphi` around :math:`(1/2, 1/2)`. The first 75 %
    of the points are the training set. ``standardise`` centres and scales both sets with the
    training set's mean and standard deviation.
    """
    name = check_choice("name (the task)", name, TASKS)
    n = check_int("n", n, 8, 100_000)
    X = np.random.default_rng(check_seed("seed", seed)).uniform(0.0, 1.0, size=(n, 2))
    y = (X[:, 1] > 0.2 + 0.6 * X[:, 0]) if name == "linear" else _wiggly_inside(X)
    y = y.astype(float)
    k = (3 * n) // 4
    Xtr, Xte = X[:k], X[k:]
    if check_bool("standardise", standardise):
        mu, sd = Xtr.mean(0), Xtr.std(0)
        Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
    return Task(name, Xtr, y[:k], Xte, y[k:], bool(standardise))


def make_net(architecture, activation: str, beta: float | None = None) -> MLP:
    r"""The network of one of :data:`ARCHITECTURES` (name or hidden widths) with ``activation``.

    ``activation`` is ``"relu"``, ``"sigmoid"``, ``"swish"`` (fixed ``beta > 0``, default 1) or
    ``"esp"`` (trainable temperatures, :class:`~nnlandscape.nets.ESPMLP`).
    """
    if isinstance(architecture, str):
        architecture = check_choice("architecture", architecture, tuple(ARCHITECTURES))
        hidden = ARCHITECTURES[architecture]
    else:
        hidden = tuple(check_int("architecture width", w, 1, 1000)
                       for w in check_sequence("architecture (a name or a list of hidden widths)", architecture))
        if not hidden:
            raise ValueError("architecture must have at least one hidden layer")
    activation = check_choice("activation", activation, ("relu", "sigmoid", "swish", "esp"))
    sizes = [2, *hidden, 1]
    if activation == "swish":
        beta = 1.0 if beta is None else check_real("beta", beta, 0.0, low_open=True)
        return MLP(sizes, "swish", beta=beta)
    if beta is not None:
        raise ValueError(f"beta is a parameter of 'swish' only (the 'esp' temperatures are trained); got beta={beta!r} for {activation!r}")
    return MLP(sizes, activation)


@dataclass
class ProtocolRun:
    """Outcome of :func:`run_protocol` for ``M`` seeds (axis 1 of the per-checkpoint arrays).

    epochs : (C,) checkpoint epochs. loss, acc_train, acc_test : (C, M). residuals : (C, M, n)
    :math:`\\sigma(f) - y` on the training set. hessian_epochs : (K,) the epochs with Hessian
    statistics: eigenvalues (K, M, P); negative, negative_strict, null_structural,
    null_relative (K, M); ipr (K, M, P); eigenvectors (M, P, P) at the last of them. loss_curve : (R, M) loss every ``record_every`` epochs at ``curve_epochs`` (R,).
    theta : (M, P) final parameters.
    """

    net: MLP
    epochs: np.ndarray
    hessian_epochs: np.ndarray
    loss: np.ndarray
    acc_train: np.ndarray
    acc_test: np.ndarray
    residuals: np.ndarray
    eigenvalues: np.ndarray
    negative: np.ndarray
    negative_strict: np.ndarray
    null_structural: np.ndarray
    null_relative: np.ndarray
    ipr: np.ndarray
    eigenvectors: np.ndarray
    curve_epochs: np.ndarray
    loss_curve: np.ndarray
    theta: np.ndarray
    info: dict = field(default_factory=dict)


@single_threaded_blas
def run_protocol(task: Task, net: MLP, *, seeds=5, checkpoints=(0, 100, 500, 1000), lr: float = 0.01,
                 decay_steps: int = 500, decay_rate: float = 0.9, eps: float = 1e-6, hessian: bool = True,
                 record_every: int = 10, beta_std: float = 0.004, fixed_beta=None, hessian_at=None,
                 backend: str = "auto") -> ProtocolRun:
    r"""Train ``seeds`` models of ``net`` on ``task`` at once and record the checkpoint statistics.

    ``seeds`` is a count (seeds ``0..seeds-1``) or a sequence of integer seeds; model ``m`` starts
    from Glorot weights drawn with its seed (``net.init(scheme="glorot")``), zero biases, and for
    ESP networks temperatures :math:`\mathcal N(0, \mathrm{beta\_std}^2)`. Training is full-batch
    Adam on the logistic cross-entropy with :math:`\eta_t = \mathrm{lr}\cdot
    \mathrm{decay\_rate}^{t/\mathrm{decay\_steps}}` up to the last checkpoint (epochs = steps).
    ``eps`` is the relative null threshold of :func:`~nnlandscape.spectra.hessian_indices`.
    Accuracy, loss and residuals are recorded at every checkpoint, the Hessian statistics at the
    checkpoints listed in ``hessian_at`` (default: all; each must be a checkpoint).

    ``fixed_beta`` (a sequence of positive values, ESP networks only) trains Swish networks with a
    **fixed** hidden temperature instead: for every value and seed one model (value-major order),
    hidden :math:`\beta` set to the value, output :math:`\beta = 1`, and the temperatures'
    gradient masked out. Such a model is exactly ``MLP(sizes, "swish", beta=value)``; its Hessian
    is the weights-and-biases block (:math:`P` = ``net.n_plain``), so the statistics are those of
    the Swish network. Batching them in one ESP engine lets every temperature train at once.

    ``backend="auto"`` trains with a compiled kernel for ReLU, sigmoid and ESP networks with one
    output (the same arithmetic as the numpy path, which ``backend="numpy"`` forces).
    """
    backend = check_choice("backend", backend, ("auto", "numpy"))
    if not isinstance(task, Task):
        raise TypeError(f"task must be a Task (from make_task), got {type(task).__name__}")
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an MLP (from make_net), got {type(net).__name__}")
    if isinstance(seeds, (int, np.integer)):
        seeds = list(range(check_int("seeds", seeds, 1, 1000)))
    seeds = [check_int("seeds[i]", s, 0) for s in check_sequence("seeds (a count or a list of seeds)", seeds)]
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    cps = sorted({check_int("checkpoints[i]", c, 0) for c in check_sequence("checkpoints", checkpoints)})
    if not cps:
        raise ValueError("checkpoints must hold at least one epoch (integers >= 0)")
    hat = cps if hessian_at is None else sorted({check_int("hessian_at[i]", c, 0)
                                                 for c in check_sequence("hessian_at", hessian_at)})
    if not set(hat) <= set(cps):
        raise ValueError(f"hessian_at must be a subset of checkpoints, got {sorted(set(hat) - set(cps))} outside")
    hessian = check_bool("hessian", hessian)
    if not hessian:
        hat = []
    lr = check_real("lr", lr, 0.0, low_open=True)
    decay_steps = check_int("decay_steps", decay_steps, 1)
    decay_rate = check_real("decay_rate", decay_rate, 0.0, 1.0, low_open=True)
    eps = check_real("eps", eps, 0.0, 1.0, low_open=True, high_open=True)
    record_every = check_int("record_every", record_every, 1)
    X = net._X(task.X)
    y, lf = net._y(task.y, X.shape[0], "cross_entropy")
    esp = isinstance(net, ESPMLP)
    theta = np.concatenate([net.init(1, seed=s, scheme="glorot", **({"beta_std": beta_std} if esp else {}))
                            for s in seeds])
    mask = None
    P_h = net.n_params
    if fixed_beta is not None:
        if not esp:
            raise ValueError("fixed_beta needs an 'esp' network (MLP(sizes, 'esp'))")
        fb = check_real_array("fixed_beta", fixed_beta, 0.0, low_open=True).ravel()
        if fb.size == 0:
            raise ValueError("fixed_beta must hold at least one value")
        theta = np.tile(theta, (fb.size, 1))
        theta[:, net.n_plain:] = 1.0
        hid = np.repeat(fb, len(seeds))
        for s, e in list(net._beta_slices.values())[:-1]:
            theta[:, s:e] = hid[:, None]
        mask = np.zeros(net.n_params)
        mask[: net.n_plain] = 1.0
        P_h = net.n_plain
    theta = np.ascontiguousarray(theta)
    M = theta.shape[0]
    gamma = decay_rate ** (1.0 / decay_steps)
    opt = Optimizer("adam")
    idx = np.arange(M, dtype=np.int64)
    rec = {k: [] for k in ("loss", "acc_train", "acc_test", "residuals", "eigenvalues", "negative",
                           "negative_strict", "null_structural", "null_relative", "ipr")}
    curve, curve_t = [], []
    eigvecs = None
    t = 0
    lay = _logistic_numba.layout(net) if backend != "numpy" else None
    if lay is not None:
        mom, vel, tcount = np.zeros_like(theta), np.zeros_like(theta), np.zeros(M, np.int64)
        maskv = np.ones(net.n_params) if mask is None else mask
        yv = np.ascontiguousarray(y[:, 0])
    with np.errstate(over="ignore", under="ignore"):
        for c in cps:
            if lay is not None and c > t:
                buf = np.zeros(((c - t) // record_every + 2, M))
                nrec = _logistic_numba.train_steps(theta, X, yv, *lay, maskv, mom, vel, tcount, lr, gamma, t, c - t,
                                                   record_every, 0.9, 0.999, 1e-8, buf)
                curve.extend(buf[:nrec])
                curve_t.extend(r for r in range(t, c) if r % record_every == 0)
                t = c
            while t < c:
                val, g = net._backward(theta, X, y, lf)
                if t % record_every == 0:
                    curve.append(val)
                    curve_t.append(t)
                if mask is not None:
                    g *= mask
                opt._update(theta, np.ascontiguousarray(g), idx, np.full(M, lr * gamma**t))
                t += 1
            if not np.isfinite(theta).all():
                raise ValueError(f"training diverged (non-finite weights by epoch {c}): lr={lr:g} is too large; "
                                 "use a smaller lr")
            f = net.forward(theta, X)[..., 0]
            rec["loss"].append(net.loss(theta, X, y, "cross_entropy"))
            rec["acc_train"].append(((f > 0) == (y[:, 0] > 0.5)).mean(-1))
            rec["acc_test"].append(((net.forward(theta, task.X_test)[..., 0] > 0) == (task.y_test > 0.5)).mean(-1))
            rec["residuals"].append(special.expit(f) - y[:, 0])
            if c in hat:
                H = net.hessian(theta, X, y, "cross_entropy")[:, :P_h, :P_h]
                hi = hessian_indices(H, eps=eps)
                for k in ("eigenvalues", "negative", "negative_strict", "null_structural", "null_relative", "ipr"):
                    rec[k].append(getattr(hi, k))
                eigvecs = hi.eigenvectors
    curve.append(rec["loss"][-1])
    curve_t.append(t)
    arr = {k: (np.array(v) if v else np.zeros((0, M, 0))) for k, v in rec.items()}
    info = {"seeds": seeds, "eps": eps, "fixed_beta": None if fixed_beta is None else fb}
    return ProtocolRun(net=net, epochs=np.array(cps), hessian_epochs=np.array(hat, dtype=int), eigenvectors=eigvecs, curve_epochs=np.array(curve_t),
                       loss_curve=np.array(curve), theta=theta, info=info, **arr)
