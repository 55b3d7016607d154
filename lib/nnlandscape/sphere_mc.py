r"""Monte Carlo and gradient descent on the sphere for random-MLP Hamiltonians.

Target: the Gibbs measure :math:`\mu_\beta(dx) \propto e^{-\beta H(x)}\,\sigma(dx)` on
:math:`|x|^2 = N`, with :math:`H(x) = \sqrt N (f(x) - \bar f)` for each network of an
:class:`~nnlandscape.input_landscape.MLPBatch` (energy per site :math:`e = H/N`).

Sampler (:func:`metropolis_sphere`). Random-walk Metropolis with the proposal
:math:`x' = \sqrt N\,(x + \epsilon g)/|x + \epsilon g|`, :math:`g\sim\mathcal N(0, I_N)`. Its
density with respect to :math:`\sigma` depends only on :math:`x\cdot x'` (rotation
invariance about :math:`x`), so it is symmetric and the acceptance
:math:`\min(1, e^{-\beta N (e' - e)})` gives detailed balance for :math:`\mu_\beta`
(Metropolis et al. 1953; Hastings 1970). Every network is simulated at ``K`` temperatures,
``C`` independent chains each (all vectorised). Optional replica exchange (parallel
tempering; Swendsen & Wang 1986, Hukushima & Nemoto 1996) swaps the configurations of
chain ``c`` at neighbouring temperatures with probability
:math:`\min(1, e^{(\beta_k - \beta_{k+1}) N (e_k - e_{k+1})})`, which also preserves the
product of Gibbs measures. The ``C`` ladders never exchange, so two chains at the same
temperature are independent replicas and their overlap :math:`q_{ab} = x_a\cdot x_b/N`
samples :math:`P(q)`. The step sizes :math:`\epsilon_{bk}` are tuned during burn-in only
(towards ``target_accept``) and then frozen, so the recorded part is an exact Markov chain.

Descent (:func:`sphere_descent`). Riemannian gradient descent with retraction,
:math:`u \leftarrow (u - \eta\,P_u\nabla_u e)/|\cdot|` on the unit sphere :math:`x = \sqrt N u`,
where :math:`\nabla_u e = \nabla_x f` and :math:`P_u = I - uu^\top`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._checks import (
    MAX_FLOPS, check_bool, check_budget, check_finite_array, check_int, check_real, check_seed,
)
from ._threads import single_threaded_blas
from .input_landscape import MLPBatch, uniform_sphere
from .progress import ProgressBar

__all__ = ["MCResult", "metropolis_sphere", "DescentResult", "sphere_descent", "pair_overlaps"]


def _check_batch(nets):
    if not isinstance(nets, MLPBatch):
        raise ValueError(f"nets must be an MLPBatch, got {type(nets).__name__}")
    return nets


def _check_offset(nets, offset):
    if offset is None:
        return np.zeros(nets.n_networks)
    off = check_finite_array("offset", offset)
    if off.shape not in ((), (nets.n_networks,)):
        raise ValueError(f"offset must be a scalar or have shape ({nets.n_networks},); got {off.shape}")
    return np.broadcast_to(off, (nets.n_networks,)).astype(float)


def pair_overlaps(X):
    r"""Overlaps :math:`q_{ab} = x_a\cdot x_b/N` of all pairs :math:`a<b` along the second-to-last axis.

    ``X`` has shape ``(..., C, N)``; returns ``(..., C(C-1)/2)``.
    """
    X = check_finite_array("X", X)
    if X.ndim < 2 or X.shape[-1] < 1:
        raise ValueError(f"X must have shape (..., C, N) with N >= 1, got {X.shape}")
    C, N = X.shape[-2], X.shape[-1]
    G = X @ np.swapaxes(X, -1, -2) / N
    i, j = np.triu_indices(C, 1)
    return G[..., i, j]


@dataclass(frozen=True)
class MCResult:
    r"""Output of :func:`metropolis_sphere` (``B`` networks, ``K`` temperatures, ``C`` chains, ``S`` records).

    Attributes
    ----------
    T : ``(K,)`` temperatures.
    energies : ``(S, B, K, C)`` energies per site :math:`e = H/N` at the recorded sweeps.
    overlaps : ``(S, B, K, C(C-1)/2)`` replica overlaps :math:`q_{ab}` of chains at the same temperature.
    acceptance : ``(B, K)`` Metropolis acceptance rate during recording.
    swap_acceptance : ``(B, K-1)`` replica-exchange acceptance (NaN without exchanges).
    step : ``(B, K)`` frozen proposal sizes :math:`\epsilon`.
    X : ``(B, K, C, N)`` final configurations.
    n_burn, n_steps, record_every : the schedule.
    trace : ``((n_burn + n_steps) // record_every, B, K)`` chain-averaged energy every ``record_every``
        steps from the start, burn-in included (to show equilibration: energy against sweeps).
    """

    T: np.ndarray
    energies: np.ndarray
    overlaps: np.ndarray
    acceptance: np.ndarray
    swap_acceptance: np.ndarray
    step: np.ndarray
    X: np.ndarray
    n_burn: int
    n_steps: int
    record_every: int
    trace: np.ndarray | None = None

    def energy_by_network(self):
        r""":math:`\langle e\rangle` per network and temperature (time and chain average): ``(B, K)``."""
        return self.energies.mean(axis=(0, 3))

    def mean_energy(self):
        r"""``(mean, stderr)`` of :math:`\langle e\rangle` over networks, per temperature (``(K,)`` each).

        The standard error is the spread across networks over :math:`\sqrt B` (networks are
        independent; needs ``B >= 2``)."""
        return _mean_se(self.energy_by_network())

    def overlap_by_network(self):
        r""":math:`\langle q_{ab}\rangle` per network and temperature: ``(B, K)``."""
        return self.overlaps.mean(axis=(0, 3))

    def mean_overlap(self, absolute=False):
        r"""``(mean, stderr)`` over networks of :math:`\langle q_{ab}\rangle` (or :math:`\langle|q_{ab}|\rangle`)."""
        q = np.abs(self.overlaps) if absolute else self.overlaps
        return _mean_se(q.mean(axis=(0, 3)))

    def drift(self):
        r"""Equilibration diagnostic: (second half - first half) of the recorded :math:`\langle e\rangle`,
        in units of its standard error over networks: ``(K,)``. Large negative values mean the
        chains were still going down in energy (not equilibrated)."""
        S = self.energies.shape[0]
        if S < 4:
            raise ValueError("drift needs at least 4 records")
        a = self.energies[: S // 2].mean(axis=(0, 3))
        b = self.energies[S // 2:].mean(axis=(0, 3))
        d = b - a
        m, se = _mean_se(d)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(se > 0, m / se, 0.0)


def _mean_se(a):
    B = a.shape[0]
    m = a.mean(axis=0)
    se = a.std(axis=0, ddof=1) / math.sqrt(B) if B > 1 else np.full(m.shape, np.nan)
    return m, se


def _check_temperatures(T):
    try:
        T = check_finite_array("T", T)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"T must be finite temperatures > 0 ({exc})") from None
    T = np.atleast_1d(T).astype(float)
    if T.ndim != 1 or T.size == 0 or np.any(T <= 0):
        raise ValueError("T is out of range; allowed: a non-empty 1-d array of values in (0, inf)")
    return T


@single_threaded_blas  # many small matmuls: BLAS threads only add wake-up overhead
def metropolis_sphere(nets, T, *, n_chains=4, n_steps=2000, n_burn=1000, record_every=10, offset=None,
                      swap_every=10, target_accept=0.4, step0=None, seed=0, X0=None, progress=False):
    r"""Random-walk Metropolis on :math:`|x|^2 = N` for every network of ``nets`` at temperatures ``T``.

    Parameters
    ----------
    nets : MLPBatch
        ``B`` networks; :math:`H_b(x) = \sqrt N (f_b(x) - \text{offset}_b)`.
    T : array_like, shape ``(K,)``
        Temperatures :math:`> 0` (sorted ascending is best for replica exchange).
    n_chains : int
        Independent chains ``C >= 2`` per network and temperature (replicas for overlaps).
    n_steps, n_burn : int
        Recorded steps after ``n_burn`` burn-in steps (one step = one proposal for every chain).
    record_every : int
        Record energies and overlaps every this many steps.
    offset : array_like, shape ``(B,)``, optional
        :math:`\bar f_b` to subtract (e.g. :meth:`MLPBatch.sphere_mean`); only shifts energies.
    swap_every : int
        Replica-exchange attempt between neighbouring temperatures every this many steps
        (0: none).
    target_accept : float in (0, 1)
        Acceptance aimed at by the burn-in tuning of :math:`\epsilon`.
    step0 : float, optional
        Initial :math:`\epsilon` (default :math:`\min(0.5, T/\sqrt N)`).
    seed : int
        Seed of the proposals and the uniform initial configurations.
    X0 : array_like, shape ``(B, K, C, N)``, optional
        Initial configurations (projected onto the sphere); default uniform random.
    progress : bool
        Show a progress bar (live use only).

    Returns
    -------
    MCResult
    """
    nets = _check_batch(nets)
    T = _check_temperatures(T)
    C = check_int("n_chains", n_chains, 2)
    n_steps = check_int("n_steps", n_steps, 1)
    n_burn = check_int("n_burn", n_burn, 0)
    record_every = check_int("record_every", record_every, 1)
    swap_every = check_int("swap_every", swap_every, 0)
    target_accept = check_real("target_accept", target_accept, 0.0, 1.0, low_open=True, high_open=True)
    off = _check_offset(nets, offset)
    B, K, N = nets.n_networks, T.size, nets.N
    check_budget("work of the run ((n_burn + n_steps) * temperatures * chains * evaluations)",
                 3.0 * (n_burn + n_steps) * K * C * nets.flops_per_point, MAX_FLOPS,
                 "nnlandscape._checks.MAX_FLOPS", "flops")
    rng = np.random.default_rng(check_seed("seed", seed))
    progress = check_bool("progress", progress)
    rootN = math.sqrt(N)
    if X0 is None:
        X = uniform_sphere((B, K, C), N, rng)
    else:
        X = check_finite_array("X0", X0)
        if X.shape != (B, K, C, N):
            raise ValueError(f"X0 must have shape {(B, K, C, N)}; got {X.shape}")
        X = X * (rootN / np.linalg.norm(X, axis=-1, keepdims=True))
    if step0 is None:
        eps = np.broadcast_to(np.minimum(0.5, T / rootN), (B, K)).copy()
    else:
        eps = np.full((B, K), check_real("step0", step0, 0.0, low_open=True))
    beta = 1.0 / T

    def energy(Y):
        return (nets(Y.reshape(B, K * C, N)).reshape(B, K, C) - off[:, None, None]) / rootN

    e = energy(X)
    n_rec = n_steps // record_every
    E_rec = np.empty((n_rec, B, K, C))
    Q_rec = np.empty((n_rec, B, K, C * (C - 1) // 2))
    trace = np.empty(((n_burn + n_steps) // record_every, B, K))
    acc_win = np.zeros((B, K))
    acc_rec = np.zeros((B, K))
    sw_try = np.zeros((B, max(K - 1, 0)))
    sw_acc = np.zeros((B, max(K - 1, 0)))
    total = n_burn + n_steps
    adapt_every = 25
    with ProgressBar(total, enable=progress, desc="Metropolis") as bar:
        for t in range(total):
            G = rng.standard_normal(X.shape)
            Y = X + eps[:, :, None, None] * G
            Y *= rootN / np.linalg.norm(Y, axis=-1, keepdims=True)
            e_new = energy(Y)
            log_a = -beta[None, :, None] * N * (e_new - e)
            acc = np.log(rng.random(e.shape)) < log_a
            X = np.where(acc[..., None], Y, X)
            e = np.where(acc, e_new, e)
            frac = acc.mean(axis=2)
            if t < n_burn:
                acc_win += frac
                if (t + 1) % adapt_every == 0:
                    rate = acc_win / adapt_every
                    eps = np.clip(eps * np.exp(1.5 * (rate - target_accept)), 1e-6, 2.0)
                    acc_win[:] = 0.0
            else:
                acc_rec += frac
            if swap_every and K > 1 and (t + 1) % swap_every == 0:
                # alternate even / odd neighbour pairs so each swap is a valid MH move
                parity = ((t + 1) // swap_every) % 2
                for k in range(parity, K - 1, 2):
                    la = (beta[k] - beta[k + 1]) * N * (e[:, k] - e[:, k + 1])
                    ok = np.log(rng.random(la.shape)) < la
                    Xk, Xk1 = X[:, k].copy(), X[:, k + 1].copy()
                    X[:, k] = np.where(ok[..., None], Xk1, Xk)
                    X[:, k + 1] = np.where(ok[..., None], Xk, Xk1)
                    ek, ek1 = e[:, k].copy(), e[:, k + 1].copy()
                    e[:, k] = np.where(ok, ek1, ek)
                    e[:, k + 1] = np.where(ok, ek, ek1)
                    if t >= n_burn:
                        sw_try[:, k] += ok.shape[-1]
                        sw_acc[:, k] += ok.sum(axis=-1)
            if (t + 1) % record_every == 0 and (t + 1) // record_every <= trace.shape[0]:
                trace[(t + 1) // record_every - 1] = e.mean(axis=2)
            if t >= n_burn and (t - n_burn + 1) % record_every == 0:
                r = (t - n_burn + 1) // record_every - 1
                if r < n_rec:
                    E_rec[r] = e
                    Q_rec[r] = pair_overlaps(X)
            bar.update(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        swap_rate = np.where(sw_try > 0, sw_acc / np.maximum(sw_try, 1), np.nan)
    return MCResult(T=T, energies=E_rec, overlaps=Q_rec, acceptance=acc_rec / n_steps, swap_acceptance=swap_rate,
                    step=eps, X=X, n_burn=n_burn, n_steps=n_steps, record_every=record_every, trace=trace)


@dataclass(frozen=True)
class DescentResult:
    r"""Output of :func:`sphere_descent`.

    Attributes
    ----------
    energies : ``(B, S)`` final energies per site :math:`e = H/N` of the ``S`` starts.
    X : ``(B, S, N)`` end points.
    history : ``(n_record, B, S)`` energies along the descent (every ``record_every`` steps).
    grad_norm : ``(B, S)`` final Riemannian gradient norm :math:`|P_u\nabla_u e|`.
    """

    energies: np.ndarray
    X: np.ndarray
    history: np.ndarray
    grad_norm: np.ndarray

    def endpoint_overlaps(self):
        r"""Overlaps :math:`q_{ab}` of all pairs of end points of the same network: ``(B, S(S-1)/2)``."""
        return pair_overlaps(self.X)


@single_threaded_blas
def sphere_descent(nets, *, n_starts=16, n_steps=500, lr=0.1, offset=None, seed=0, record_every=10,
                   progress=False):
    r"""Riemannian gradient descent of :math:`e(x) = (f(x) - \text{offset})/\sqrt N` on the sphere, from random starts.

    :math:`u_{t+1} = (u_t - \eta\,P_{u_t}\nabla_x f(\sqrt N u_t))/|\cdot|` with
    :math:`x = \sqrt N u`; ``n_starts`` uniform starts per network, all networks and starts
    vectorised. ``lr`` :math:`= \eta > 0` (the Riemannian Hessian of :math:`e` in :math:`u` is
    of order :math:`\sqrt{\xi''(1)}`, so :math:`\eta \lesssim 0.2` is stable for
    smooth activations).
    """
    nets = _check_batch(nets)
    S = check_int("n_starts", n_starts, 1)
    n_steps = check_int("n_steps", n_steps, 1)
    lr = check_real("lr", lr, 0.0, low_open=True)
    record_every = check_int("record_every", record_every, 1)
    off = _check_offset(nets, offset)
    B, N = nets.n_networks, nets.N
    check_budget("work of the descent (n_steps * n_starts * value-and-gradient evaluations)",
                 3.0 * n_steps * S * nets.flops_per_point, MAX_FLOPS, "nnlandscape._checks.MAX_FLOPS", "flops")
    rootN = math.sqrt(N)
    rng = np.random.default_rng(check_seed("seed", seed))
    progress = check_bool("progress", progress)
    U = uniform_sphere((B, S), N, rng) / rootN
    hist = []
    with ProgressBar(n_steps, enable=progress, desc="descent") as bar:
        for t in range(n_steps + 1):
            f, g = nets.value_and_grad(rootN * U)
            g = g - np.sum(g * U, axis=-1, keepdims=True) * U
            if t % record_every == 0 or t == n_steps:
                hist.append((f - off[:, None]) / rootN)
            if t == n_steps:
                break
            U = U - lr * g
            U /= np.linalg.norm(U, axis=-1, keepdims=True)
            bar.update(1)
    e = (f - off[:, None]) / rootN
    return DescentResult(energies=e, X=rootN * U, history=np.stack(hist), grad_norm=np.linalg.norm(g, axis=-1))
