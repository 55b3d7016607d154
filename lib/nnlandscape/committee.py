r"""The ReLU tree committee machine of Zambon, Malatesta, Tiana & Zecchina (arXiv:2503.08266).

Architecture (as in the authors' code, ``guidotiana/nnSampling``). The :math:`N` inputs are cut
into :math:`K` disjoint receptive fields of :math:`n = N/K` inputs; hidden unit :math:`k` sees only
its field,

.. math:: h_k = \frac{w_k\cdot x_k}{\sqrt n}, \qquad
          \Delta(x) = \frac{1}{\sqrt K}\sum_{k=1}^K c_k\,\mathrm{relu}(h_k),

with a **fixed** second layer :math:`c_k = +1` for the first :math:`K/2` units and :math:`-1` for
the rest (:math:`K` even). Only :math:`w = (w_1, \dots, w_K) \in \mathbb R^N` is trained.

Data: :math:`P = \alpha N` inputs :math:`x^\mu` with i.i.d. :math:`\mathcal N(0,1)` entries and
labels :math:`y^\mu = \pm1`, either random (``kind="random"``) or given by a random teacher of the
same architecture (``kind="teacher"``, a structured variant: the solution space then contains the
teacher, and the problem is satisfiable at every :math:`\alpha`), or inputs on a **hidden manifold**
(``kind="hidden_manifold"``, :func:`hidden_manifold_data`: Goldt, Mézard, Krzakala & Zdeborová 2020)
with labels from a teacher acting on the latent variables.

Energy (the authors' convention: a **sum** over patterns, full batch)

.. math:: U(w) = \sum_{\mu=1}^P \ell(y^\mu\Delta^\mu) + \frac\lambda2|w|^2,\qquad
          \ell(z) = \frac1\zeta\log\!\left(1 + e^{-\zeta z}\right),

the cross-entropy with sharpness :math:`\zeta` (:math:`\zeta\to\infty`: the perceptron loss
:math:`\max(0, -z)`, whose zero set is the space of solutions). The training error is the fraction
of patterns with :math:`y^\mu\Delta^\mu \le 0`. Its gradient is

.. math:: \frac{\partial U}{\partial w_k} = \sum_\mu \ell'(y^\mu\Delta^\mu)\, y^\mu
          \frac{c_k}{\sqrt{Kn}}\,\Theta(h_k^\mu)\, x_k^\mu + \lambda w_k,
          \qquad \ell'(z) = -\frac{1}{1+e^{\zeta z}}.

The network is positively homogeneous, :math:`\Delta(sw) = s\Delta(w)` for :math:`s>0`, so the
training error depends only on the direction of :math:`w`. Everything is vectorised over a batch of
weight vectors of shape ``(C, N)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._checks import MAX_SIZE, MAX_STEPS, check_budget, check_choice, check_bool, check_finite_array, check_int, check_numeric_dtype, check_real, check_seed
from . import _committee_numba
from ._threads import single_threaded_blas

__all__ = ["TreeCommittee", "committee_data", "hidden_manifold_data", "HiddenManifold", "gd_threshold_scan",
           "GDScan", "thermo_scan", "ThermoScan", "jackknife"]


def _check_arch(N, K):
    K = check_int("K", K, 2)
    if K % 2:
        raise ValueError(f"K={K} must be even (allowed: K = 2, 4, 6, ...): half the units have c_k = +1")
    N = check_int("N", N, 1)
    if N < K:
        raise ValueError(f"N={N} must be at least K={K} (allowed: N = K * n)")
    if N % K:
        raise ValueError(f"N={N} must be divisible by K={K} (allowed: N = K * n)")
    return N, K


# E[tanh(z)^2] for z ~ N(0, 1) (Gauss-Hermite, 80 nodes: exact to 1e-15): tanh inputs are divided by
# its square root so that every data set has inputs of unit variance
_z, _wq = np.polynomial.hermite_e.hermegauss(80)
_TANH_RMS = math.sqrt(float(np.sum(_wq * np.tanh(_z) ** 2) / np.sum(_wq)))
del _z, _wq


@dataclass(frozen=True)
class HiddenManifold:
    r"""A hidden-manifold data set (see :func:`hidden_manifold_data`).

    X : ``(P, N)`` inputs; y : ``(P,)`` labels; F : ``(D, N)`` feature matrix; C : ``(P, D)`` latent
    variables; v : ``(D,)`` the teacher's weights on the latent space.
    """

    X: np.ndarray
    y: np.ndarray
    F: np.ndarray
    C: np.ndarray
    v: np.ndarray


def hidden_manifold_data(P, N, latent_dim, *, nonlinearity="sign", seed=0) -> HiddenManifold:
    r"""Inputs on a :math:`D`-dimensional hidden manifold in :math:`\mathbb R^N`, labels from a latent teacher.

    The hidden manifold model (Goldt, Mézard, Krzakala & Zdeborová, Phys. Rev. X 10, 041044
    (2020)): latent variables :math:`c^\mu \in \mathbb R^D` with i.i.d. :math:`\mathcal N(0,1)`
    entries, a fixed feature matrix :math:`F \in \mathbb R^{D\times N}` with i.i.d.
    :math:`\mathcal N(0,1)` entries, and

    .. math:: x^\mu = f\!\left(\frac{F^\top c^\mu}{\sqrt D}\right),\qquad
              y^\mu = \mathrm{sign}\!\left(\frac{v\cdot c^\mu}{\sqrt D}\right),

    with :math:`f` = ``sign`` or ``tanh`` elementwise and a teacher :math:`v \in \mathbb R^D` with
    i.i.d. :math:`\mathcal N(0,1)` entries acting on the
    latent variables only (ties, of probability zero, get +1). Our choices: every column of
    :math:`F` is rescaled to norm :math:`\sqrt D` (Gaussian direction, fixed length; equivalent to
    Goldt et al.'s Gaussian :math:`F` for large :math:`D`), so that every pre-activation is exactly
    :math:`\mathcal N(0, 1)`, and ``tanh`` is divided by :math:`\sqrt{E[\tanh^2 z]}`: every input then
    has unit variance, like the Gaussian and the ``sign`` inputs. The inputs span all of
    :math:`\mathbb R^N` but their structure is :math:`D`-dimensional: for ``sign``,
    :math:`E[x_i x_j \mid F] = \frac2\pi\arcsin\rho_{ij}` with :math:`\rho_{ij}` the cosine of the
    angle between columns :math:`i` and :math:`j` of :math:`F`.

    Parameters
    ----------
    P : patterns (``>= 1``); N : input dimension (``>= 1``); latent_dim : :math:`D`, ``1 <= D <= N``.
    nonlinearity : ``"sign"`` or ``"tanh"``.
    seed : seed of the random generator (``F``, ``C`` and ``v`` all come from it).
    """
    P = check_int("P", P, 1)
    N = check_int("N", N, 1)
    D = check_int("latent_dim", latent_dim, 1, N)
    nonlinearity = check_choice("nonlinearity", nonlinearity, ("sign", "tanh"))
    check_budget("P * N (size of X)", P * N, MAX_SIZE, "nnlandscape._checks.MAX_SIZE", "floats")
    rng = np.random.default_rng(check_seed("seed", seed))
    F = rng.standard_normal((D, N))
    F *= math.sqrt(D) / np.linalg.norm(F, axis=0)
    C = rng.standard_normal((P, D))
    v = rng.standard_normal(D)
    pre = C @ F / math.sqrt(D)
    X = np.where(pre >= 0, 1.0, -1.0) if nonlinearity == "sign" else np.tanh(pre) / _TANH_RMS
    y = np.where(C @ v >= 0, 1.0, -1.0)
    return HiddenManifold(X, y, F, C, v)


def committee_data(N, K, alpha, *, kind="random", seed=0, latent_dim=None, nonlinearity="sign"):
    r"""Inputs ``X`` ``(P, N)`` and labels ``y`` ``(P,)`` with :math:`P = \mathrm{round}(\alpha N)`.

    ``kind="random"``: Gaussian inputs, i.i.d. :math:`\pm1` labels; ``kind="teacher"``: Gaussian
    inputs, labels :math:`\mathrm{sign}\,\Delta_{\rm teacher}(x)` of a committee with Gaussian
    weights (ties, of probability zero, get +1); ``kind="hidden_manifold"``: inputs on a hidden
    manifold of dimension ``latent_dim`` (default :math:`\max(1, N/20)`) with the nonlinearity
    ``nonlinearity``, labels from a teacher on the latent variables (:func:`hidden_manifold_data`).
    ``latent_dim`` and ``nonlinearity`` are used only by ``kind="hidden_manifold"``.
    """
    N, K = _check_arch(N, K)
    alpha = check_real("alpha", alpha, 0, low_open=True)
    kind = check_choice("kind", kind, ("random", "teacher", "hidden_manifold"))
    check_budget("alpha * N * N (size of X)", alpha * N * N, MAX_SIZE, "nnlandscape._checks.MAX_SIZE", "floats")
    P = max(1, int(round(alpha * N)))
    if kind == "hidden_manifold":
        D = max(1, N // 20) if latent_dim is None else latent_dim
        hm = hidden_manifold_data(P, N, D, nonlinearity=nonlinearity, seed=seed)
        return hm.X, hm.y
    rng = np.random.default_rng(check_seed("seed", seed))
    X = rng.standard_normal((P, N))
    if kind == "random":
        y = rng.choice([-1.0, 1.0], size=P)
    else:
        teacher = TreeCommittee(X, np.ones(P), K)
        wt = rng.standard_normal((1, N))
        y = np.where(teacher.output(wt)[0] >= 0, 1.0, -1.0)
    return X, y


@dataclass(frozen=True)
class GDScan:
    r"""Output of :func:`gd_threshold_scan`.

    alphas : ``(A,)``; errors : ``(A, R)`` final training errors of ``R`` runs per :math:`\alpha`;
    solved : ``(A,)`` fraction of runs with training error 0; alpha_near : the largest
    :math:`\alpha` of the grid where at least half the runs reach error 0 (``None`` if none does);
    dead : ``(A, R)`` fraction of patterns on which every hidden unit is inactive (all
    :math:`h_k^\mu \le 0`) at the end: there :math:`\Delta^\mu = 0`, the pattern counts as an error and
    its gradient vanishes, so gradient descent cannot repair it.
    """

    alphas: np.ndarray
    errors: np.ndarray
    solved: np.ndarray
    alpha_near: float | None
    dead: np.ndarray


@single_threaded_blas
def gd_threshold_scan(N, K, alphas, *, kind="random", n_runs=8, n_steps=1500, lr=0.5, zeta=5.0, lam=1e-7,
                      data_seed=1, seed=10, latent_dim=None, nonlinearity="sign") -> GDScan:
    r"""Training error of heavy-ball gradient descent on the product of spheres against :math:`\alpha`.

    For each :math:`\alpha` of ``alphas`` (increasing, ``> 0``): a data set
    ``committee_data(N, K, alpha, kind=kind, seed=data_seed, ...)``, ``n_runs`` descents of
    :math:`U/P` (:meth:`TreeCommittee.descend` with ``sphere=True``) from Gaussian starts drawn with
    seed ``seed + i`` for the ``i``-th :math:`\alpha`, and the final training errors. All runs of
    one :math:`\alpha` go in one batch. The interpolation threshold of gradient descent at this size
    lies where the fraction of runs reaching zero error drops.
    """
    N, K = _check_arch(N, K)
    a = np.atleast_1d(np.asarray(check_numeric_dtype("alphas", alphas), dtype=float))
    if a.ndim != 1 or a.size < 1 or not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"alphas must be a non-empty 1-d sequence of finite values > 0; got {alphas!r}")
    if a.size > 1 and np.any(np.diff(a) <= 0):
        raise ValueError("alphas must be strictly increasing")
    n_runs = check_int("n_runs", n_runs, 1, 10_000)
    n_steps = check_int("n_steps", n_steps, 1, MAX_STEPS)
    check_budget("sum(alphas) * N * N * n_runs * n_steps (work)", float(a.sum()) * N * N * n_runs * n_steps,
                 1e14, "gd_threshold_scan", "flops")
    seed = check_int("seed", seed, 0)
    data_seed = check_seed("data_seed", data_seed)
    kind = check_choice("kind", kind, ("random", "teacher", "hidden_manifold"))
    errors = np.empty((a.size, n_runs))
    dead = np.empty((a.size, n_runs))
    for i, alpha in enumerate(a):
        X, y = committee_data(N, K, alpha, kind=kind, seed=data_seed, latent_dim=latent_dim,
                              nonlinearity=nonlinearity)
        m = TreeCommittee(X, y, K, zeta=zeta, lam=lam)
        w = m.descend(np.random.default_rng(seed + i).standard_normal((n_runs, N)), lr=lr, n_steps=n_steps,
                      sphere=True)
        errors[i] = m.train_error(w)
        dead[i] = np.all(m.fields(w) <= 0, axis=0).mean(0)
    solved = (errors == 0).mean(1)
    ok = np.flatnonzero(solved >= 0.5)
    return GDScan(a, errors, solved, float(a[ok.max()]) if ok.size else None, dead)


def jackknife(stat, n):
    r"""Leave-one-out jackknife over ``n`` independent units (chains): ``(estimate, standard error)``.

    ``stat(keep)`` returns the statistic (a float or an array) computed from the units whose indices
    are in the integer array ``keep``. The estimate is ``stat`` on all units; the standard error is
    :math:`\sqrt{\frac{n-1}{n}\sum_i(\theta_{-i} - \bar\theta_{-\cdot})^2}` (Efron 1982). For a mean over
    units it equals the usual ``std(ddof=1) / sqrt(n)``; for a mean over *pairs* of units (the
    overlap between chains) it accounts for every unit appearing in ``n - 1`` pairs.
    """
    if not callable(stat):
        raise TypeError(f"stat must be callable, stat(keep) -> statistic; got {type(stat).__name__}")
    n = check_int("n", n, 2, 10**6)
    full = np.asarray(stat(np.arange(n)), dtype=float)
    loo = np.array([np.asarray(stat(np.delete(np.arange(n), i)), dtype=float) for i in range(n)])
    return full, np.sqrt((n - 1) / n * np.sum((loo - loo.mean(0)) ** 2, axis=0))


@dataclass(frozen=True)
class ThermoScan:
    r"""Output of :func:`thermo_scan` (``T`` temperatures, ``C`` chains per temperature).

    temps : ``(T,)``. Per chain, averaged over the second half of the recorded moves of the
    spherical run: energy : ``(T, C)`` energy per pattern :math:`U/P`; error : ``(T, C)`` training
    error; accept : ``(T, C)`` acceptance; q_intra : ``(T, C)`` mean overlap of a chain with itself
    ``lag`` or more records later; q_pair : ``(T, C, C)`` overlap of chains :math:`a, b` at the same
    record, averaged over records (diagonal 1). q_gd : ``(C (C-1)/2,)`` overlaps between the
    gradient-descent solutions; gd_error : ``(C,)`` their training errors. norm2 : ``(T, C)``
    :math:`|w|^2/N` at the end of the Euclidean run (``None`` without one; 1 at its start).
    model, w_gd : the :class:`TreeCommittee` and the ``(C, N)`` starts; result : the spherical
    run's :class:`nnlandscape.sampling.SampleResult` (chain ``t * C + c`` has temperature ``temps[t]``).
    """

    temps: np.ndarray
    energy: np.ndarray
    error: np.ndarray
    accept: np.ndarray
    q_intra: np.ndarray
    q_pair: np.ndarray
    q_gd: np.ndarray
    gd_error: np.ndarray
    norm2: np.ndarray | None
    model: "TreeCommittee"
    w_gd: np.ndarray
    result: object

    @property
    def q_inter(self):
        """``(T, C)``: mean overlap of each chain with the other chains at its temperature."""
        C = self.q_pair.shape[-1]
        return (self.q_pair.sum(-1) - np.einsum("tcc->tc", self.q_pair)) / (C - 1)

    def summary(self, name):
        r"""``(mean, sem)``, each ``(T,)``, of ``name`` over chains, by :func:`jackknife` over chains.

        ``name``: ``"energy"``, ``"error"``, ``"accept"``, ``"norm2"``, ``"q_intra"``, ``"q_inter"``
        (mean over pairs of distinct chains) or ``"gap"`` (``q_intra - q_inter``).
        """
        name = check_choice("name", name, ("energy", "error", "accept", "norm2", "q_intra", "q_inter", "gap"))
        if name == "norm2" and self.norm2 is None:
            raise ValueError("name='norm2' needs a Euclidean run (thermo_scan with euclid_moves >= 1)")
        C = self.q_pair.shape[-1]

        def inter(keep):
            sub = self.q_pair[:, keep][:, :, keep]
            m = len(keep)
            return (sub.sum((1, 2)) - np.einsum("tcc->t", sub)) / (m * (m - 1))

        if name == "q_inter":
            return jackknife(inter, C)
        if name == "gap":
            return jackknife(lambda keep: self.q_intra[:, keep].mean(1) - inter(keep), C)
        x = getattr(self, name)
        return jackknife(lambda keep: x[:, keep].mean(1), C)


@single_threaded_blas
def thermo_scan(N, K, alpha, temps, *, kind="random", n_chains=8, n_moves=160, n_burn=40, n_leapfrog=30,
                step=0.03, thin=8, lag=5, euclid_moves=0, euclid_burn=10, gd_steps=1500, lr=0.5, zeta=5.0,
                lam=1e-7, data_seed=1, gd_seed=100, seed=7, latent_dim=None, nonlinearity="sign",
                progress=False) -> ThermoScan:
    r"""Thermodynamics of the tree committee machine against temperature: one vectorised HMC batch.

    The data set is ``committee_data(N, K, alpha, kind=kind, seed=data_seed, ...)``, the model a
    :class:`TreeCommittee` with sharpness ``zeta`` and L2 coefficient ``lam``. ``n_chains``
    gradient-descent solutions (:meth:`TreeCommittee.descend` on the product of spheres, ``gd_steps``
    steps of rate ``lr`` from Gaussian starts of seed ``gd_seed``) each start one chain at every
    temperature of ``temps``: all ``len(temps) * n_chains`` chains run in **one** geodesic-HMC batch
    on the product of the :math:`K` spheres :math:`|w_k|^2 = N/K`
    (:func:`nnlandscape.sampling.hmc`: ``n_burn`` burn-in moves with step adaptation, ``n_moves``
    recorded moves of ``n_leapfrog`` leapfrog steps, every ``thin``-th state kept, seed ``seed``,
    an integer). Allowed: ``0 < step <= 1``, ``0 < lr <= 10``, ``0 <= lam <= 1e6``.
    Observables use the second half of the recorded moves. The overlap of two configurations is
    :math:`q = w_a\cdot w_b/N` (both have :math:`|w|^2 = N`): within a chain between records at
    least ``lag`` records apart, between chains at the same record.

    With ``euclid_moves >= 1`` a second batch from the same starts runs Euclidean HMC (no
    constraint: the norm is free, see the drift of positively homogeneous networks) for
    ``euclid_burn + euclid_moves`` moves, and :attr:`ThermoScan.norm2` holds :math:`|w|^2/N` at
    its end.

    The defaults are chapter 4's protocol (:math:`N = 200`: 8 chains per temperature, 40 + 160
    moves of 30 leapfrog steps). Returns a :class:`ThermoScan`; :meth:`ThermoScan.summary` gives
    means and jackknife errors over chains.
    """
    from . import sampling

    N, K = _check_arch(N, K)
    alpha = check_real("alpha", alpha, 0, low_open=True)
    T = np.atleast_1d(np.asarray(check_numeric_dtype("temps", temps), dtype=float))
    if T.ndim != 1 or T.size < 1 or T.size > 1000 or not np.all(np.isfinite(T)) or np.any(T <= 0):
        raise ValueError(f"temps must be a 1-d sequence of 1 to 1000 finite temperatures > 0; got {temps!r}")
    n_chains = check_int("n_chains", n_chains, 3, 10_000)   # >= 3: the jackknife of pair overlaps leaves >= 2
    n_moves = check_int("n_moves", n_moves, 2, MAX_STEPS)
    n_burn = check_int("n_burn", n_burn, 0, MAX_STEPS)
    n_leapfrog = check_int("n_leapfrog", n_leapfrog, 1, MAX_STEPS)
    step = check_real("step", step, 0, 1, low_open=True)
    thin = check_int("thin", thin, 1, n_moves)
    n_rec = n_moves // thin
    kept = n_rec - n_rec // 2
    lag = check_int("lag", lag, 1)
    if lag >= kept:
        raise ValueError(f"lag={lag} must be smaller than the {kept} records of the second half "
                         f"(n_moves // thin = {n_rec} records); lower lag or thin, or raise n_moves")
    euclid_moves = check_int("euclid_moves", euclid_moves, 0, MAX_STEPS)
    euclid_burn = check_int("euclid_burn", euclid_burn, 0, MAX_STEPS)
    gd_steps = check_int("gd_steps", gd_steps, 1, MAX_STEPS)
    lr = check_real("lr", lr, 0, 10, low_open=True)
    lam = check_real("lam", lam, 0, 1e6)
    gd_seed = check_seed("gd_seed", gd_seed)
    data_seed = check_seed("data_seed", data_seed)
    seed = check_int("seed", seed, 0, 2**62)                        # the Euclidean batch uses seed + 1
    check_bool("progress", progress)
    C = T.size * n_chains
    P = max(1, int(round(alpha * N)))
    check_budget("P * N * chains * (n_burn + n_moves + euclid_burn + euclid_moves) * n_leapfrog (work)",
                 float(P) * N * C * (n_burn + n_moves + euclid_burn + euclid_moves) * n_leapfrog, 1e14,
                 "thermo_scan", "flops")
    X, y = committee_data(N, K, alpha, kind=kind, seed=data_seed, latent_dim=latent_dim, nonlinearity=nonlinearity)
    m = TreeCommittee(X, y, K, zeta=zeta, lam=lam)
    w_gd = m.descend(np.random.default_rng(gd_seed).standard_normal((n_chains, N)), lr=lr, n_steps=gd_steps,
                     sphere=True)
    if not np.all(np.isfinite(w_gd)) or np.any(np.linalg.norm(w_gd.reshape(n_chains, K, -1), axis=-1) == 0):
        raise ValueError(f"gradient descent left no usable start (lr={lr:g}, lam={lam:g}): lower lr or lam")
    starts = np.tile(w_gd, (T.size, 1))
    temp = np.repeat(T, n_chains)
    r = sampling.hmc(m, starts, T=temp, step=step, n_leapfrog=n_leapfrog, n_moves=n_moves, n_burn=n_burn,
                     thin=thin, sphere=True, blocks=K, seed=seed, progress=progress, desc=f"HMC K={K} α={alpha:g}")
    S = r.samples[n_rec // 2:] / math.sqrt(N)                       # (kept, C, N), unit norm
    S = S.reshape(kept, T.size, n_chains, N)
    g = np.einsum("stcn,utcn->tcsu", S, S)                        # within a chain, record s against u
    i, j = np.triu_indices(kept, lag)
    q_intra = g[..., i, j].mean(-1)
    q_pair = np.einsum("stcn,stdn->tcd", S, S) / kept
    half = r.energies[r.energies.shape[0] // 2:]                    # (moves/2, C)
    energy = (half.mean(0) / m.P).reshape(T.size, n_chains)
    err = m.train_error(r.samples[n_rec // 2:].reshape(-1, N)).reshape(kept, C).mean(0).reshape(T.size, n_chains)
    u = w_gd / np.linalg.norm(w_gd, axis=1, keepdims=True)
    a, b = np.triu_indices(n_chains, 1)
    norm2 = None
    if euclid_moves:
        re = sampling.hmc(m, starts, T=temp, step=step, n_leapfrog=n_leapfrog, n_moves=euclid_moves,
                          n_burn=euclid_burn, thin=euclid_moves, seed=seed + 1, progress=progress,
                          desc=f"Euclidean HMC K={K} α={alpha:g}")
        norm2 = (np.sum(re.final**2, axis=1) / N).reshape(T.size, n_chains)
    return ThermoScan(T, energy, err, r.acceptance.reshape(T.size, n_chains), q_intra, q_pair, (u @ u.T)[a, b],
                      m.train_error(w_gd), norm2, m, w_gd, r)


class TreeCommittee:
    r"""Energy, gradient and training error of the tree committee machine on a data set.

    Parameters
    ----------
    X : ``(P, N)`` inputs; y : ``(P,)`` labels :math:`\pm1`.
    K : hidden units (even, dividing :math:`N`).
    zeta : sharpness :math:`\zeta > 0` of the cross-entropy.
    lam : L2 coefficient :math:`\lambda \ge 0` (the paper: :math:`10^{-7}`).
    """

    def __init__(self, X, y, K, *, zeta=1.0, lam=1e-7):
        X = check_finite_array("X", X)
        y = check_finite_array("y", y)
        if X.ndim != 2:
            raise ValueError(f"X must have shape (P, N); got shape {X.shape}")
        if y.shape != (X.shape[0],) or not np.all(np.abs(y) == 1):
            raise ValueError(f"y must have shape ({X.shape[0]},) with entries +1 or -1")
        self.N, self.K = _check_arch(X.shape[1], K)
        self.P = X.shape[0]
        self.n = self.N // self.K
        self.zeta = check_real("zeta", zeta, 0, low_open=True)
        self.lam = check_real("lam", lam, 0)
        self.alpha = self.P / self.N
        self.X, self.y = X, y
        # (K, P, n): unit k's receptive field of every pattern
        self.Xk = np.ascontiguousarray(X.reshape(self.P, self.K, self.n).transpose(1, 0, 2))
        self._XkT = np.ascontiguousarray(self.Xk.transpose(0, 2, 1))  # (K, n, P) for the backward product
        self.c = np.concatenate([np.ones(self.K // 2), -np.ones(self.K // 2)])

    def _w(self, w, name="w"):
        # cheap checks (dtype, shape); the callers' work is O(P N C)
        check_numeric_dtype(name, w)
        w = np.asarray(w, dtype=float)
        if w.ndim == 1:
            w = w[None]
        if w.ndim != 2 or w.shape[1] != self.N:
            raise ValueError(f"{name} must have shape (C, {self.N}) or ({self.N},); got shape {w.shape}")
        # no finite check: samplers pass diverged proposals here and reject them on a non-finite energy
        return w

    def fields(self, w):
        r"""Pre-activations :math:`h_k^\mu`, shape ``(K, P, C)``."""
        w = self._w(w)
        Wk = w.reshape(-1, self.K, self.n).transpose(1, 2, 0)  # (K, n, C)
        return np.matmul(self.Xk, Wk) / math.sqrt(self.n)

    def output(self, w, h=None):
        r"""Outputs :math:`\Delta^\mu`, shape ``(C, P)``."""
        if h is None:
            h = self.fields(w)
        else:
            check_numeric_dtype("h", h)
            h = np.asarray(h, dtype=float)
            if h.ndim != 3 or h.shape[:2] != (self.K, self.P):
                raise ValueError(f"h must have shape (K, P, C) = ({self.K}, {self.P}, C) as from fields(w); "
                                 f"got shape {h.shape}")
        return np.einsum("k,kpc->cp", self.c, np.maximum(h, 0.0)) / math.sqrt(self.K)

    def margins(self, w):
        r"""Stabilities :math:`y^\mu\Delta^\mu`, shape ``(C, P)``."""
        return self.output(w) * self.y

    def train_error(self, w):
        """Fraction of misclassified patterns (:math:`y\\Delta \\le 0`), shape ``(C,)``."""
        return np.mean(self.margins(w) <= 0, axis=1)

    def loss(self, z):
        r""":math:`\ell(z) = \log(1 + e^{-\zeta z})/\zeta`, elementwise."""
        return np.logaddexp(0.0, -self.zeta * z) / self.zeta

    def energy(self, w):
        """Energy :math:`U(w)`, shape ``(C,)``.

        One product :math:`X_k w_k` per unit (BLAS) and a compiled loss head
        (:mod:`nnlandscape._committee_numba`); equal to the formula of the module docstring up to
        rounding (summation order)."""
        w = self._w(w)
        return _committee_numba.evaluate(self.Xk, self._XkT, self.y, self.c, w, self.zeta, self.lam, False)[0]

    def energy_grad(self, w):
        """``(U(w), grad U(w))`` with shapes ``(C,)`` and ``(C, N)``.

        The forward product, a compiled loss head that turns the fields into the back-propagated
        coefficients in place, and the backward product :math:`X_k^\top A_k`
        (:mod:`nnlandscape._committee_numba`): about two energies' work where the products dominate."""
        w = self._w(w)
        return _committee_numba.evaluate(self.Xk, self._XkT, self.y, self.c, w, self.zeta, self.lam, True)

    __call__ = energy_grad

    @single_threaded_blas
    def descend(self, w0, *, lr=0.05, n_steps=2000, momentum=0.9, sphere=False):
        r"""Heavy-ball gradient descent on :math:`U/P`, all rows of ``w0`` at once.

        With ``sphere=True`` every unit is projected back on :math:`|w_k|^2 = n` after each step
        (projected gradient descent on the product of spheres). Returns the final ``(C, N)``.
        """
        lr = check_real("lr", lr, 0, low_open=True)
        n_steps = check_int("n_steps", n_steps, 1, MAX_STEPS)
        momentum = check_real("momentum", momentum, 0, 1, high_open=True)
        sphere = check_bool("sphere", sphere)
        w = self._w(w0, "w0").copy()
        if sphere:
            w = self.project_units(w)
        v = np.zeros_like(w)
        for t in range(n_steps):
            _, G = self.energy_grad(w)
            v = momentum * v - lr * G / self.P
            w = w + v
            if not np.isfinite(w).all():
                raise ValueError(f"descent diverged (non-finite weights after {t + 1} steps): lr={lr:g} is too "
                                 "large; use a smaller lr")
            if sphere:
                w = self.project_units(w)
        return w

    def project_units(self, w):
        r"""Put every unit on its sphere :math:`|w_k|^2 = n`."""
        w = self._w(w)
        wb = w.reshape(-1, self.K, self.n)
        return (wb * (math.sqrt(self.n) / np.linalg.norm(wb, axis=-1, keepdims=True))).reshape(w.shape)

    @single_threaded_blas
    def local_energy(self, w, thetas, *, n_dirs=20, seed=0):
        r"""Local energy: mean training error after rotating **every unit** by the angle :math:`\theta`.

        Unit :math:`k` goes to :math:`w_k\cos\theta + |w_k|\,\hat\xi_k\sin\theta` with
        :math:`\hat\xi_k` a random unit vector orthogonal to :math:`w_k` (norms preserved), averaged
        over ``n_dirs`` random directions. Returns ``(C, len(thetas))``.
        """
        w = self._w(w)
        thetas = np.atleast_1d(np.asarray(check_numeric_dtype("thetas", thetas), dtype=float))
        if thetas.ndim != 1 or thetas.size < 1 or not np.all(np.isfinite(thetas)):
            raise ValueError(f"thetas must be a non-empty 1-d sequence of finite angles; got {thetas!r}")
        n_dirs = check_int("n_dirs", n_dirs, 1)
        check_budget("chains * n_dirs * N (rotated copies)", w.shape[0] * n_dirs * self.N, MAX_SIZE,
                     "nnlandscape._checks.MAX_SIZE", "floats")
        rng = np.random.default_rng(check_seed("seed", seed))
        C = w.shape[0]
        wb = w.reshape(C, 1, self.K, self.n)
        nrm = np.linalg.norm(wb, axis=-1, keepdims=True)
        xi = rng.standard_normal((C, n_dirs, self.K, self.n))
        xi -= np.sum(xi * wb, -1, keepdims=True) * wb / nrm**2
        xi *= nrm / np.linalg.norm(xi, axis=-1, keepdims=True)
        out = np.empty((C, thetas.size))
        for i, t in enumerate(thetas):
            wr = (wb * math.cos(t) + xi * math.sin(t)).reshape(C * n_dirs, self.N)
            out[:, i] = self.train_error(wr).reshape(C, n_dirs).mean(1)
        return out
