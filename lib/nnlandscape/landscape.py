r"""Weight-space geometry of trained networks: symmetries, distances, bands, basins, flat modes.

The tools behind the chapter on Gamst & Walker (2017), *The energy landscape of a simple
neural network* (arXiv:1706.07101), for any piecewise-linear :class:`~nnlandscape.nets.MLP`
and its mean-squared-error loss :math:`\mathcal L(\theta) = \frac1n\sum_i (f(x_i;\theta)-y_i)^2`
(the convention of :mod:`nnlandscape.nets`: a mean, no factor 1/2).

* **De-symmetrisation** (:func:`minimal_norm`, :func:`desymmetrize`). A ReLU network is
  unchanged by the positive rescaling of a hidden node (incoming weights and bias times
  :math:`c>0`, outgoing weights divided by :math:`c`) and by permuting the nodes of a layer:
  a group :math:`\mathbb R_+^{KN}\rtimes S_N^K` for :math:`K` hidden layers of :math:`N` nodes.
  The paper picks one representative: the rescaling of minimal :math:`\lVert\theta\rVert_2`,
  then nodes sorted by norm. :func:`minimal_norm` makes the first step exact also for nodes
  with all-zero incoming or outgoing weights (for which :func:`~nnlandscape.symmetries.balance`
  leaves the infimum unattained): such a node contributes nothing, so its other side is set
  to zero, which attains the infimum and leaves the function unchanged.
* **Unit matching** (:func:`match_units`): the permutation of the hidden nodes of
  :math:`\theta` that minimises :math:`\lVert\theta_{\rm ref} - \pi(\theta)\rVert_2`, by exact
  layer-wise assignment (Hungarian algorithm) iterated over the layers, the *weight matching*
  of Ainsworth, Hayase & Srinivasa (2023). The distance never increases along the sweeps.
* **Mass training** (:func:`train_models`) with the optimiser settings :data:`OPTIMIZER_SETTINGS`.
* **Bands** between networks (:func:`network_band`): the nudged elastic band of
  :mod:`nnlandscape.neb` on :math:`\mathcal L`, with the straight line for comparison, optional
  image insertion where the band rises, and the turning angles of the path (:func:`turning_angles`).
* **Basin of a minimum** (:func:`basin_experiment`): jitter :math:`\theta^*` by Gaussian noise of
  norm :math:`r`, retrain, record the final loss; :func:`logistic_fit` of :math:`P(\text{return})`
  against :math:`r` and :func:`lowess` smoothing (Cleveland 1979).
* **Stability** of heavy-ball gradient descent at a minimum (:func:`heavy_ball_critical_curvature`):
  on a quadratic of curvature :math:`\lambda` the iteration
  :math:`\theta_{t+1} = \theta_t - \eta\lambda\theta_t + \mu(\theta_t - \theta_{t-1})` is stable iff
  :math:`0 < \eta\lambda < 2(1+\mu)`.
* **Is it critical?** (:func:`critical_point_check`): loss, gradient norm and Hessian index (number
  of negative eigenvalues) of a point, e.g. a band top or the end of training; :func:`polish` runs
  L-BFGS from there to see whether a minimum is near.
* **Flat modes** (:func:`flat_mode_census`): near-zero Hessian eigenvalues against the rescaling
  symmetries, the parameters of dead units, and the rank of the output Jacobian.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special

from . import neb as _neb
from . import optim, symmetries
from ._checks import (
    MAX_SIZE, MAX_STEPS, check_choice, check_finite_array, check_instance, check_int, check_real, check_seed,
)
from .nets import MLP

__all__ = [
    "OPTIMIZER_SETTINGS",
    "GLOBAL_TOL",
    "train_models",
    "prune_dead",
    "minimal_norm",
    "desymmetrize",
    "match_units",
    "distances",
    "noise_of_norm",
    "jitter",
    "logistic_fit",
    "LogisticFit",
    "lowess",
    "BasinResult",
    "basin_experiment",
    "heavy_ball_critical_curvature",
    "energy_function",
    "NetworkBand",
    "network_band",
    "double_band",
    "BandTop",
    "band_top",
    "turning_angles",
    "FlatModes",
    "flat_mode_census",
    "hessian_index",
    "CriticalPointCheck",
    "critical_point_check",
    "PolishResult",
    "polish",
]

#: Optimiser settings of the mass training. The paper does not state them; these are the
#: defaults of the originating papers / Keras at the time: heavy ball (Polyak 1964) with
#: :math:`\eta = 0.01, \mu = 0.9`; Adadelta (Zeiler 2012) with :math:`\eta = 1, \rho = 0.95,
#: \epsilon = 10^{-6}`; Adam (Kingma & Ba 2015) with :math:`\eta = 10^{-3}`.
OPTIMIZER_SETTINGS = {
    "momentum": {"lr": 0.01, "momentum": 0.9},
    "adadelta": {"lr": 1.0, "rho": 0.95, "eps": 1e-6},
    "adam": {"lr": 1e-3},
}

#: A model "reaches the global minimum" when its training MSE is below this value.
GLOBAL_TOL = 1e-3


# --------------------------------------------------------------------------- helpers
def _train_kwargs(optimizer: str, overrides: dict):
    """``(lr, settings, kw)``: :data:`OPTIMIZER_SETTINGS` [``optimizer``] updated by ``overrides``
    (``settings``), split into the step ``lr`` and the other keyword arguments ``kw`` of
    :func:`nnlandscape.optim.train`."""
    settings = {**OPTIMIZER_SETTINGS[optimizer], **overrides}
    kw = dict(settings)
    return kw.pop("lr"), settings, kw


def _returns(loss, diverged, tol: float):
    """``(loss, returned)``: final losses with NaN for diverged runs, and which runs ended below ``tol``
    (a basin trial *returns*)."""
    loss = np.where(diverged, np.nan, loss)
    return loss, np.nan_to_num(loss, nan=np.inf) < tol


def _relu_net(net):
    if not isinstance(net, MLP):
        raise ValueError(f"net must be an nnlandscape.nets.MLP, got {type(net).__name__}")
    if not net.plain:
        raise ValueError("net must be a plain MLP (every layer trainable, with biases)")
    for l, a in enumerate(net.activations, start=1):
        if a.slopes is None:
            raise ValueError(f"net: layer {l} uses {a.name!r}; these tools need piecewise-linear activations")
    return net


def _batch(net, theta, name="theta"):
    th, single = net._theta(theta, name)
    return np.array(th, dtype=np.float64), single


def _out(th, single):
    return th[0] if single else th


# --------------------------------------------------------------------------- training
def train_models(net: MLP, X, y, n_models: int, optimizer: str = "momentum", *, steps: int = 2000,
                 seed=0, scheme: str = "he", bias_std: float = 0.0, dtype=np.float32,
                 progress: bool = False, **overrides) -> optim.TrainResult:
    r"""Train ``n_models`` networks from random initialisation, full batch, on the MSE.

    Initialisation :meth:`MLP.init` (``scheme``, ``bias_std``, ``seed``); optimiser settings
    :data:`OPTIMIZER_SETTINGS` [``optimizer``] updated by ``overrides`` (e.g. ``lr=1e-3``).
    Training runs in ``dtype`` (float32 by default, twice as fast; the losses we compare are
    :math:`\gtrsim 10^{-4}`, far above its rounding). Returns :class:`nnlandscape.optim.TrainResult`.
    """
    check_instance("net", net, MLP)
    optimizer = check_choice("optimizer", optimizer, tuple(OPTIMIZER_SETTINGS))
    n_models = check_int("n_models", n_models, 1)
    lr, _, kw = _train_kwargs(optimizer, overrides)
    theta0 = net.init(n_models, seed=seed, scheme=scheme, bias_std=bias_std, dtype=dtype)
    return optim.train(net, theta0, X, y, optimizer=optimizer, lr=lr, steps=steps, progress=progress, **kw)


# --------------------------------------------------------------------------- symmetries
def prune_dead(net: MLP, theta):
    r"""Zero the weights that cannot matter: the far side of nodes with an all-zero side.

    A hidden node whose incoming weights and bias are all zero outputs
    :math:`\mathrm{relu}(0) = 0` for every input, so its outgoing weights are set to zero;
    a node whose outgoing weights are all zero is invisible, so its incoming weights and bias
    are set to zero. Repeated until nothing changes. The network function is unchanged
    *exactly* (for every input, not only on a data set).
    """
    _relu_net(net)
    th, single = _batch(net, theta)
    L = len(net.sizes) - 2
    while True:
        changed = False
        Ws, bs = net.unpack(th)
        for l in range(L):
            a = np.square(Ws[l]).sum(-1) + np.square(bs[l])  # (M, n_l) incoming
            c = np.square(Ws[l + 1]).sum(-2)  # (M, n_l) outgoing
            kill_out = (a == 0) & (c > 0)
            kill_in = (c == 0) & (a > 0)
            if kill_out.any():
                Ws[l + 1][...] = np.where(kill_out[:, None, :], 0.0, Ws[l + 1])
                changed = True
            if kill_in.any():
                Ws[l][...] = np.where(kill_in[:, :, None], 0.0, Ws[l])
                bs[l][...] = np.where(kill_in, 0.0, bs[l])
                changed = True
        if not changed:
            return _out(th, single)


def minimal_norm(net: MLP, theta, *, tol: float = 1e-13):
    r"""The function-preserving rescaling of minimal :math:`\lVert\theta\rVert_2` (dead nodes included).

    :func:`prune_dead` followed by :func:`nnlandscape.symmetries.balance`; at the result every
    hidden node has equal squared incoming (weights and bias) and outgoing norm, or both zero.
    """
    th = prune_dead(net, theta)
    return symmetries.balance(net, th, tol=tol)


def desymmetrize(net: MLP, theta):
    r"""The paper's representative: :func:`minimal_norm`, then each hidden layer's nodes sorted by norm.

    Layers are processed from the first to the last; in layer :math:`\ell` the nodes are sorted by
    increasing :math:`\lVert W_\ell[j,:]\rVert^2 + b_\ell[j]^2` (equal to the outgoing norm after
    balancing), ties broken by the incoming weights, lexicographically. Each step is a symmetry,
    so the function is unchanged up to one rounding per weight.
    """
    th = minimal_norm(net, theta)
    single = th.ndim == 1
    th = np.array(th[None] if single else th)
    L = len(net.sizes) - 2
    for l in range(1, L + 1):
        Ws, bs = net.unpack(th)
        norm = np.square(Ws[l - 1]).sum(-1) + np.square(bs[l - 1])
        keys = [bs[l - 1]] + [Ws[l - 1][..., k] for k in range(Ws[l - 1].shape[-1] - 1, -1, -1)] + [norm]
        order = np.lexsort(np.stack(keys), axis=-1)
        th = symmetries.permute_nodes(net, th, l, order)
    return _out(th, single)


def match_units(net: MLP, reference, theta, *, max_sweeps: int = 50):
    r"""Permute the hidden nodes of ``theta`` to bring it as close as possible to ``reference``.

    Minimises :math:`\lVert\theta_{\rm ref} - \pi(\theta)\rVert_2^2` over node permutations
    :math:`\pi = (\pi_1, \dots, \pi_K)` by block-coordinate descent: for layer :math:`\ell`, with the
    other permutations fixed, the objective is linear in :math:`\pi_\ell`,
    :math:`-2\sum_j C_{j\pi_\ell(j)}` with
    :math:`C = W^{\rm ref}_\ell W_\ell^\top + b^{\rm ref}_\ell b_\ell^\top + (W^{\rm ref}_{\ell+1})^\top W_{\ell+1}`,
    solved exactly by :func:`scipy.optimize.linear_sum_assignment`. Sweeps over the layers stop
    when no permutation changes (weight matching, Ainsworth et al. 2023). No rescaling is done
    here: call :func:`minimal_norm` on both first.

    ``reference`` (P,); ``theta`` (P,) or (M, P). Returns the permuted ``theta`` (same shape).
    """
    _relu_net(net)
    ref, _ = _batch(net, reference, "reference")
    if ref.shape[0] != 1:
        raise ValueError(f"reference must be one parameter vector (P,), got shape {np.shape(reference)}")
    th, single = _batch(net, theta)
    max_sweeps = check_int("max_sweeps", max_sweeps, 1)
    L = len(net.sizes) - 2
    Wr, br = net.unpack(ref[0])
    for m in range(th.shape[0]):
        row = th[m:m + 1]
        for _ in range(max_sweeps):
            moved = False
            for l in range(1, L + 1):
                Ws, bs = net.unpack(row[0])
                C = Wr[l - 1] @ Ws[l - 1].T + np.outer(br[l - 1], bs[l - 1]) + Wr[l].T @ Ws[l]
                _, perm = optimize.linear_sum_assignment(C, maximize=True)
                if np.any(perm != np.arange(perm.size)):
                    # the gain must be real, not a tie broken differently
                    if C[np.arange(perm.size), perm].sum() > np.trace(C) + 1e-12 * (1 + abs(np.trace(C))):
                        row = symmetries.permute_nodes(net, row, l, perm[None])
                        moved = True
            if not moved:
                break
        th[m] = row[0]
    return _out(th, single)


def distances(reference, theta) -> np.ndarray:
    r"""Euclidean distances :math:`\lVert\theta_m - \theta_{\rm ref}\rVert_2`, shape (M,) (scalar for (P,))."""
    ref = check_finite_array("reference", reference)
    th = check_finite_array("theta", theta)
    if ref.ndim != 1 or th.ndim == 0 or th.shape[-1] != ref.size or th.ndim > 2:
        raise ValueError(f"reference must be (P,) and theta (P,) or (M, P); got {ref.shape} and {th.shape}")
    return np.linalg.norm(th - ref, axis=-1)


# --------------------------------------------------------------------------- noise and basins
def noise_of_norm(dim: int, radii, seed=0) -> np.ndarray:
    r"""Isotropic Gaussian directions scaled to the given norms: rows :math:`r_m z_m/\lVert z_m\rVert`, shape (M, dim)."""
    dim = check_int("dim", dim, 1, MAX_SIZE)
    r = check_finite_array("radii", np.atleast_1d(radii)).ravel()
    if np.any(r < 0):
        raise ValueError(f"radii must be >= 0 (noise norms), got min {r.min():g}")
    z = np.random.default_rng(check_seed("seed", seed)).standard_normal((r.size, dim))
    return z * (r / np.linalg.norm(z, axis=1))[:, None]


def jitter(theta, radii, seed=0) -> np.ndarray:
    r""":math:`\theta + \xi_m` with :math:`\xi_m` Gaussian of norm exactly ``radii[m]``; shape (M, P)."""
    th = check_finite_array("theta", theta)
    if th.ndim != 1 or th.size == 0:
        raise ValueError(f"theta must be one non-empty parameter vector (P,), got shape {th.shape}")
    return th[None] + noise_of_norm(th.size, radii, seed)


@dataclass(frozen=True)
class LogisticFit:
    r""":math:`P(\text{success}\mid r) = 1/(1+e^{-(b_0 + b_1 r)})`; ``r50`` = :math:`-b_0/b_1` (NaN when undefined)."""

    b0: float
    b1: float
    r50: float
    n_success: int
    n: int

    def __call__(self, r):
        return special.expit(self.b0 + self.b1 * np.asarray(r, float))


def logistic_fit(x, success, *, ridge: float = 1e-6) -> LogisticFit:
    r"""Maximum-likelihood logistic regression of a 0/1 outcome on one covariate.

    Maximises :math:`\sum_m [s_m\eta_m - \log(1+e^{\eta_m})] - \tfrac{\rm ridge}{2}b_1^2`,
    :math:`\eta_m = b_0 + b_1 x_m`, with :func:`scipy.optimize.minimize` (BFGS, exact gradient) on
    standardised :math:`x`. The tiny ridge keeps :math:`b_1` finite under perfect separation.
    With no success (or no failure) the fit is the constant 0 (1) and ``r50`` is NaN.
    """
    x = check_finite_array("x", x).ravel()
    s = np.asarray(success).ravel()
    if s.shape != x.shape or x.size < 2:
        raise ValueError(f"x and success must have the same length >= 2, got {x.size} and {s.size}")
    if not np.all((s == 0) | (s == 1)):
        raise ValueError("success must hold 0/1 (or bool) values")
    s = s.astype(float)
    ridge = check_real("ridge", ridge, 0.0)
    k = int(s.sum())
    if k == 0 or k == s.size:
        return LogisticFit(-np.inf if k == 0 else np.inf, 0.0, float("nan"), k, s.size)
    mu, sd = x.mean(), x.std()
    sd = sd if sd > 0 else 1.0
    z = (x - mu) / sd

    def nll(b):
        eta = b[0] + b[1] * z
        p = special.expit(eta)  # no overflow for large |eta|
        val = np.sum(np.logaddexp(0.0, eta) - s * eta) + 0.5 * ridge * b[1] ** 2
        r = p - s
        return val, np.array([r.sum(), (r * z).sum() + ridge * b[1]])

    res = optimize.minimize(nll, np.zeros(2), jac=True, method="BFGS", options={"gtol": 1e-10})
    a0, a1 = res.x
    b1 = a1 / sd
    b0 = a0 - a1 * mu / sd
    return LogisticFit(float(b0), float(b1), float(-b0 / b1) if b1 != 0 else float("nan"), k, s.size)


def lowess(x, y, x_eval=None, *, frac: float = 0.3) -> np.ndarray:
    r"""Locally weighted linear regression (LOWESS without robustness iterations, Cleveland 1979).

    At each evaluation point :math:`x_0` a straight line is fitted by weighted least squares to the
    :math:`k = \lceil \mathrm{frac}\cdot n\rceil` nearest data points with tricube weights
    :math:`w_i = (1 - (|x_i - x_0|/d_k)^3)^3`, :math:`d_k` the distance to the :math:`k`-th nearest;
    the fitted value at :math:`x_0` is returned. Reproduces any straight line exactly.
    """
    x = check_finite_array("x", x).ravel()
    y = check_finite_array("y", y).ravel()
    if x.shape != y.shape or x.size < 3:
        raise ValueError(f"x and y must have the same length >= 3, got {x.size} and {y.size}")
    frac = check_real("frac", frac, 0.0, 1.0, low_open=True)
    x0 = x if x_eval is None else check_finite_array("x_eval", x_eval).ravel()
    k = max(3, int(np.ceil(frac * x.size)))
    d = np.abs(x[None, :] - x0[:, None])  # (E, n)
    dk = np.partition(d, k - 1, axis=1)[:, k - 1]
    dk = np.where(dk > 0, dk, 1.0) * (1 + 1e-12)
    w = np.clip(1 - (d / dk[:, None]) ** 3, 0.0, None) ** 3
    sw, swx, swy = w.sum(1), w @ x, w @ y
    xm, ym = swx / sw, swy / sw
    dx = x[None, :] - xm[:, None]
    sxx = (w * dx**2).sum(1)
    sxy = (w * dx * (y[None, :] - ym[:, None])).sum(1)
    slope = np.where(sxx > 0, sxy / np.where(sxx > 0, sxx, 1.0), 0.0)
    return ym + slope * (x0 - xm)


@dataclass
class BasinResult:
    """Outcome of :func:`basin_experiment`: one entry per trial.

    radii : (M,) noise norms; loss0 : (M,) loss right after jittering; loss : (M,) final loss
    (NaN for diverged runs); returned : (M,) final loss < ``tol``; fit : :class:`LogisticFit`;
    optimizer, settings, steps, tol : what was run.
    """

    radii: np.ndarray
    loss0: np.ndarray
    loss: np.ndarray
    returned: np.ndarray
    fit: LogisticFit
    optimizer: str
    settings: dict
    steps: int
    tol: float

    @property
    def r50(self) -> float:
        return self.fit.r50


def basin_experiment(net: MLP, theta_star, X, y, *, n_trials: int = 256, r_max: float = 2.0,
                     optimizer: str = "momentum", steps: int = 1000, tol: float = GLOBAL_TOL, seed=0,
                     dtype=np.float32, progress: bool = False, **overrides) -> BasinResult:
    r"""Jitter :math:`\theta^*` by Gaussian noise of norm :math:`r \sim U[0, r_{\max}]`, retrain, record the loss.

    Trial :math:`m` starts at :math:`\theta^* + \xi_m`, :math:`\lVert\xi_m\rVert = r_m` (:func:`jitter`),
    and is trained for ``steps`` full-batch steps with :data:`OPTIMIZER_SETTINGS` [``optimizer``]
    updated by ``overrides``. It *returns* when its final loss is below ``tol``;
    :func:`logistic_fit` of the returns against :math:`r` gives :math:`r_{50}`.
    """
    check_instance("net", net, MLP)
    theta_star = check_finite_array("theta_star", theta_star)
    if theta_star.ndim != 1 or theta_star.size == 0:
        raise ValueError(f"theta_star must be one non-empty parameter vector (P,), got shape {theta_star.shape}")
    try:
        dtype = check_choice("dtype", np.dtype(dtype), (np.dtype(np.float32), np.dtype(np.float64)))
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    n_trials = check_int("n_trials", n_trials, 2, MAX_SIZE)
    # a start farther than 1e6 (times the scale of theta*) is no longer a perturbation, and beyond
    # ~1e38 it is not representable in float32
    r_max = check_real("r_max", r_max, 0.0, 1e6 * (1.0 + float(np.abs(theta_star).max(initial=0.0))), low_open=True)
    tol = check_real("tol", tol, 0.0, low_open=True)
    optimizer = check_choice("optimizer", optimizer, tuple(OPTIMIZER_SETTINGS))
    rng = np.random.default_rng(check_seed("seed", seed))
    radii = rng.uniform(0.0, r_max, n_trials)
    theta0 = jitter(theta_star, radii, seed=rng)
    lr, settings, kw = _train_kwargs(optimizer, overrides)
    loss0 = net.loss(theta0, X, y)
    res = optim.train(net, theta0.astype(dtype), X, y, optimizer=optimizer, lr=lr, steps=steps,
                      progress=progress, **kw)
    loss, returned = _returns(res.loss, res.diverged, tol)
    return BasinResult(radii, loss0, loss, returned, logistic_fit(radii, returned), optimizer, settings,
                       int(steps), float(tol))


def heavy_ball_critical_curvature(lr, momentum=0.0) -> float:
    r"""The largest curvature at which heavy-ball GD is stable: :math:`\lambda_c = 2(1+\mu)/\eta`.

    On :math:`E = \tfrac12\lambda\theta^2` the iteration
    :math:`\theta_{t+1} = (1+\mu-\eta\lambda)\theta_t - \mu\theta_{t-1}` has characteristic polynomial
    :math:`z^2 - (1+\mu-\eta\lambda)z + \mu`; both roots lie inside the unit circle iff
    :math:`0 < \eta\lambda < 2(1+\mu)` (for :math:`0 \le \mu < 1`), the root :math:`z = -1` appearing
    at the upper end. A minimum whose Hessian has :math:`\lambda_{\max} > \lambda_c` repels the
    optimiser.
    """
    lr = check_real("lr", lr, 0.0, low_open=True)
    momentum = check_real("momentum", momentum, 0.0, 1.0, high_open=True)
    return 2.0 * (1.0 + momentum) / lr


# --------------------------------------------------------------------------- bands
def energy_function(net: MLP, X, y):
    r"""``fun(points (K, P)) -> (L (K,), grad (K, P))``: the MSE loss for :func:`nnlandscape.neb.nudged_elastic_band`."""
    check_instance("net", net, MLP)
    X = net._X(X)
    y = check_finite_array("y", y)

    def fun(points):
        return net.gradient(np.asarray(points, float), X, y, return_loss=True)

    return fun


def turning_angles(images) -> np.ndarray:
    r"""Angles (radians) between successive segments :math:`R_{i+1}-R_i` and :math:`R_{i+2}-R_{i+1}`, shape (N-2,)."""
    images = check_finite_array("images", images)
    if images.ndim != 2 or len(images) < 3:
        raise ValueError(f"images must have shape (N >= 3, D), got {images.shape}")
    d = np.diff(images, axis=0)
    n = np.linalg.norm(d, axis=1)
    c = np.einsum("id,id->i", d[:-1], d[1:]) / np.maximum(n[:-1] * n[1:], 1e-300)
    return np.arccos(np.clip(c, -1.0, 1.0))


@dataclass
class NetworkBand:
    """A relaxed band between two networks and the straight line between the same endpoints.

    band : :class:`nnlandscape.neb.NEBResult`; line_s, line_energy : arc length and loss along the
    straight segment (same endpoints); n_refine : image-insertion rounds done; stages : the bands
    before each refinement (``stages[0]`` the first relaxed band; empty without refinement).
    """

    band: _neb.NEBResult
    line_s: np.ndarray
    line_energy: np.ndarray
    n_refine: int
    stages: list = field(default_factory=list)

    @property
    def excess_barrier(self) -> float:
        """Highest loss on the band minus the higher endpoint loss (>= 0 up to rounding)."""
        e = self.band.energies
        return float(e.max() - max(e[0], e[-1]))

    @property
    def line_barrier(self) -> float:
        """Highest loss on the straight line minus the higher endpoint loss."""
        return float(self.line_energy.max() - max(self.line_energy[0], self.line_energy[-1]))


def network_band(net: MLP, X, y, start, end, n_images: int = 17, *, steps: int = 400, refine: int = 0,
                 n_new: int = 2, climb: bool = True, n_line: int = 101, **neb_kwargs) -> NetworkBand:
    r"""Relax a nudged elastic band on the MSE loss of ``net`` from ``start`` to ``end``.

    A fixed budget of ``steps`` FIRE steps is run (on a ReLU loss the max force does not fall to tight
    tolerances: kinks make FIRE oscillate), then ``refine`` times ``n_new`` images are inserted into
    the segment where the energy changes most (:func:`nnlandscape.neb.refine_band`) and the band is
    relaxed again for ``steps`` steps. The loss along the straight line is evaluated at ``n_line``
    points for comparison. Units are *not* matched here: pass endpoints prepared with
    :func:`desymmetrize` / :func:`match_units`.
    """
    n_images = check_int("n_images", n_images, 3)
    steps = check_int("steps", steps, 1, MAX_STEPS)
    refine = check_int("refine", refine, 0, 20)
    n_line = check_int("n_line", n_line, 2)
    fun = energy_function(net, X, y)
    kw = dict(max_steps=steps, fmax=1e-8, climb=climb, **neb_kwargs)
    band = _neb.nudged_elastic_band(fun, start, end, n_images, **kw)
    stages = []
    for _ in range(refine):
        stages.append(band)
        band = _neb.refine_band(fun, band, n_new=n_new, **kw)
    line = _neb.linear_path(start, end, n_line)
    e_line, _ = fun(line)
    s_line = np.linspace(0.0, float(np.linalg.norm(np.asarray(end, float) - np.asarray(start, float))), n_line)
    return NetworkBand(band, s_line, np.asarray(e_line), refine, stages)


def double_band(net: MLP, X, y, band: _neb.NEBResult, *, steps: int = 1000, climb: bool = True,
                **neb_kwargs) -> _neb.NEBResult:
    r"""Continue a relaxed band with twice the resolution: a midpoint is inserted into every segment
    (:func:`nnlandscape.neb.insert_images`, ``2N - 1`` images, the polygon unchanged) and the band is
    relaxed for ``steps`` more FIRE steps (climbing image on by default). Used to check whether a band
    top moves when images and steps are doubled.
    """
    steps = check_int("steps", steps, 1, MAX_STEPS)
    images = np.asarray(band.images, dtype=float)
    path = _neb.insert_images(images, np.arange(len(images) - 1), 1)
    fun = energy_function(net, X, y)
    kw = dict(max_steps=steps, fmax=1e-8, climb=climb, **neb_kwargs)
    return _neb.nudged_elastic_band(fun, path[0], path[-1], len(path), initial_path=path, **kw)


@dataclass(frozen=True)
class BandTop:
    """The top of a band (see :func:`band_top`): heights, and the climbing image checked as a critical point.

    image_max : highest image loss; dense_max : maximum of the dense profile (:func:`nnlandscape.neb.band_profile`);
    top : :class:`CriticalPointCheck` of the highest interior image (the climbing image);
    path_length, n_images, max_force : of the band.
    """

    image_max: float
    dense_max: float
    top: "CriticalPointCheck"
    path_length: float
    n_images: int
    max_force: float


def band_top(net: MLP, X, y, band: _neb.NEBResult, *, per_segment: int = 8) -> BandTop:
    r"""Loss of the band's top read densely, and gradient norm / Hessian index at its climbing image."""
    fun = energy_function(net, X, y)
    prof = _neb.band_profile(fun, band.images, per_segment)
    chk = critical_point_check(net, band.images[band.i_max], X, y)
    return BandTop(float(np.max(band.energies)), float(prof.e_max), chk, float(band.path_length()),
                   int(band.n_images), float(band.max_force))


# --------------------------------------------------------------------------- flat modes
@dataclass
class FlatModes:
    r"""Census of the flat directions of the loss at :math:`\theta` (see :func:`flat_mode_census`).

    eigenvalues : (P,) Hessian eigenvalues, ascending; n_near_zero : :math:`|\lambda| \le`
    ``rel_tol`` :math:`\lambda_{\max}`; n_rescaling : hidden nodes that are alive on the data (one
    rescaling symmetry each); n_dead_units : hidden nodes inactive on every data point;
    n_dead_params : parameters touching a dead node (incoming, bias, outgoing) -- exactly flat;
    jacobian_rank : rank of :math:`J = \partial f(x_i)/\partial\theta` (n, P); P - rank J is the
    null dimension of the Gauss--Newton matrix, equal to that of the Hessian at a zero-loss minimum.
    """

    eigenvalues: np.ndarray
    n_near_zero: int
    n_rescaling: int
    n_dead_units: int
    n_dead_params: int
    jacobian_rank: int
    n_params: int

    @property
    def lambda_max(self) -> float:
        return float(self.eigenvalues[-1])

    @property
    def jacobian_null(self) -> int:
        return self.n_params - self.jacobian_rank


def flat_mode_census(net: MLP, theta, X, y, *, rel_tol: float = 1e-9) -> FlatModes:
    r"""Hessian spectrum at ``theta`` (P,) and the counts that explain its near-zero modes.

    Near-zero: :math:`|\lambda_k| \le` ``rel_tol`` :math:`\cdot\lambda_{\max}`. The rank of the
    output Jacobian uses :func:`numpy.linalg.matrix_rank` with tolerance
    :math:`\sqrt{\texttt{rel\_tol}}\,\sigma_{\max}` (singular values are square roots of Gauss--Newton
    eigenvalues).
    """
    _relu_net(net)
    th = check_finite_array("theta", theta)
    if th.ndim != 1:
        raise ValueError(f"theta must be one parameter vector (P,), got shape {th.shape}")
    rel_tol = check_real("rel_tol", rel_tol, 0.0, 1.0, low_open=True)
    X = net._X(X)
    H = net.hessian(th, X, y)
    ev = np.linalg.eigvalsh(H)
    near = int(np.sum(np.abs(ev) <= rel_tol * ev[-1]))
    # Jacobian of the outputs: gradient of f(x_i) = gradient of the loss with y = f - 1/2 ... use
    # linearity: d/dtheta of (n/2) * L(y = f + e_i) per point is J_i; cheaper: one backward per point
    f = net.forward(th, X)[:, 0]
    n = X.shape[0]
    Jrows = np.empty((n, th.size))
    for i in range(n):  # grad of (f(x_i) - t)^2 at t = f(x_i) - 1/2 is J_i
        Jrows[i] = net.gradient(th, X[i:i + 1], np.array([f[i] - 0.5]))
    sv = np.linalg.svd(Jrows, compute_uv=False)
    rank = int(np.sum(sv > np.sqrt(rel_tol) * sv[0]))
    hs, _, _ = net._forward(th[None], X)
    dead_params = np.zeros(th.size, dtype=bool)
    n_alive = n_dead = 0
    for l in range(1, len(net.sizes) - 1):
        h = hs[l - 1][0]
        dead = np.all(h <= 0, axis=0)
        n_dead += int(dead.sum())
        n_alive += int((~dead).sum())
        sW, eW = net._slices[l, "W"]
        sb, eb = net._slices[l, "b"]
        o, i = net.layers[l - 1]
        dead_params[sW:eW] |= np.repeat(dead, i)
        dead_params[sb:eb] |= dead
        sW2, eW2 = net._slices[l + 1, "W"]
        o2, i2 = net.layers[l]
        dead_params[sW2:eW2] |= np.tile(dead, o2)
    return FlatModes(ev, near, n_alive, n_dead, int(dead_params.sum()), rank, th.size)


# --------------------------------------------------------------------------- is it critical?
def hessian_index(eigenvalues, rel_tol: float = 1e-9) -> int:
    r"""Number of eigenvalues below :math:`-\texttt{rel\_tol}\cdot\max(|\lambda_{\max}|, |\lambda_{\min}|)`.

    The index of a critical point: 0 at a minimum, 1 at a first-order saddle (the point a climbing
    image converges to on a smooth landscape), :math:`k` at a saddle with :math:`k` descending
    directions. ``eigenvalues`` (P,) or (M, P); returns an int or an int array (M,).
    """
    ev = check_finite_array("eigenvalues", eigenvalues)
    if ev.ndim not in (1, 2) or ev.shape[-1] == 0:
        raise ValueError(f"eigenvalues must have shape (P,) or (M, P) with P >= 1, got {ev.shape}")
    rel_tol = check_real("rel_tol", rel_tol, 0.0, 1.0)
    scale = np.max(np.abs(ev), axis=-1, keepdims=True)
    n = np.sum(ev < -rel_tol * scale, axis=-1)
    return int(n) if ev.ndim == 1 else n.astype(int)


@dataclass(frozen=True)
class CriticalPointCheck:
    r"""Loss, gradient norm and Hessian spectrum at one point (see :func:`critical_point_check`).

    A minimum has ``grad_norm`` :math:`\approx 0` and ``index`` 0, a first-order saddle
    ``grad_norm`` :math:`\approx 0` and ``index`` 1.
    """

    loss: float
    grad_norm: float
    index: int
    lambda_min: float
    lambda_max: float
    eigenvalues: np.ndarray = field(repr=False)


def critical_point_check(net: MLP, theta, X, y, *, rel_tol: float = 1e-9) -> CriticalPointCheck:
    r"""Loss, :math:`\lVert\nabla\mathcal L\rVert_2` and :func:`hessian_index` of the MSE loss at ``theta`` (P,).

    The Hessian is the exact one of :meth:`nnlandscape.nets.MLP.hessian` (float64), symmetric,
    diagonalised with :func:`numpy.linalg.eigvalsh`. On a ReLU loss the Hessian is that of the
    smooth piece containing ``theta`` (no unit switching exactly at a data point).
    """
    _relu_net(net)
    th = check_finite_array("theta", theta)
    if th.ndim != 1:
        raise ValueError(f"theta must be one parameter vector (P,), got shape {th.shape}")
    X = net._X(X)
    loss, g = net.gradient(th, X, y, return_loss=True)
    ev = np.linalg.eigvalsh(net.hessian(th, X, y))
    return CriticalPointCheck(float(loss), float(np.linalg.norm(g)), hessian_index(ev, rel_tol),
                              float(ev[0]), float(ev[-1]), ev)


@dataclass(frozen=True)
class PolishResult:
    """Outcome of :func:`polish`: the final point, its loss and gradient norm, iterations, scipy's message."""

    theta: np.ndarray = field(repr=False)
    loss: float
    grad_norm: float
    n_iter: int
    message: str


def polish(net: MLP, theta, X, y, *, max_iter: int = 3000, gtol: float = 1e-10) -> PolishResult:
    r"""Run L-BFGS (:func:`scipy.optimize.minimize`, ``L-BFGS-B`` without bounds) on the MSE from ``theta``.

    float64, exact gradients; stops after ``max_iter`` iterations, when the projected gradient is
    below ``gtol``, or when the line search fails (typical at a kink of a ReLU loss, where the
    gradient jumps). The loss never increases. Use :func:`critical_point_check` on the result to see
    what was reached.
    """
    _relu_net(net)
    th = check_finite_array("theta", theta)
    if th.ndim != 1:
        raise ValueError(f"theta must be one parameter vector (P,), got shape {th.shape}")
    max_iter = check_int("max_iter", max_iter, 1)
    gtol = check_real("gtol", gtol, 0.0)
    X = net._X(X)

    def fg(t):
        val, g = net.gradient(t, X, y, return_loss=True)
        return float(val), np.asarray(g, dtype=float)

    res = optimize.minimize(fg, th.astype(float), jac=True, method="L-BFGS-B",
                            options=dict(maxiter=max_iter, gtol=gtol, ftol=0.0, maxcor=30))
    val, g = fg(res.x)
    return PolishResult(res.x, val, float(np.linalg.norm(g)), int(res.nit), str(res.message))
