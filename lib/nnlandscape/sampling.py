r"""Hybrid (Hamiltonian) Monte Carlo and random-walk Metropolis, vectorised over chains.

Target: the Gibbs measure :math:`\pi_T(w) \propto e^{-U(w)/T}` of an energy :math:`U` on

* **Euclidean space** :math:`\mathbb R^N` (``sphere=False``), or
* a **sphere** :math:`|w|^2 = N` (``sphere=True, blocks=1``), or a **product of spheres**: the
  :math:`N` coordinates are cut into ``blocks`` equal consecutive blocks of :math:`n = N/B`
  numbers, each on its own sphere :math:`|w_k|^2 = n` (``sphere=True, blocks=B``). For the tree
  committee machine of :mod:`nnlandscape.committee` with ``blocks = K`` this is the per-unit
  normalisation :math:`|w_k|^2 = N/K`.

Every chain (a row of ``w``) is independent; all chains move at once, each with its own
temperature and step size.

**HMC** (Duane, Kennedy, Pendleton & Roweth 1987; Neal 2011). Momenta
:math:`p \sim \mathcal N(0, T\,I)` (unit mass), Hamiltonian :math:`H = U(w) + |p|^2/2`, and
``n_leapfrog`` velocity-Verlet steps of size :math:`\epsilon`

.. math:: p \leftarrow p - \tfrac\epsilon2\nabla U,\quad w \leftarrow w + \epsilon p,\quad
          p \leftarrow p - \tfrac\epsilon2\nabla U,

followed by the Metropolis test :math:`\min(1, e^{-\Delta H/T})`. This is the scheme of the
authors' code (``guidotiana/nnSampling``), where the temperature enters through the momenta.

**Geodesic HMC** on spheres (Byrne & Girolami 2013). Momenta live in the tangent space
(:math:`p_k\cdot w_k = 0` for every block); a kick is followed by the projection
:math:`p_k \leftarrow p_k - (p_k\cdot w_k) w_k/R^2` and the drift is the *exact* great-circle flow
of the free motion on the sphere of radius :math:`R = \sqrt n`, with :math:`a = |p_k|`,

.. math:: w_k(t) = w_k\cos\tfrac{at}{R} + \tfrac{R}{a}p_k\sin\tfrac{at}{R},\qquad
          p_k(t) = -\tfrac aR w_k\sin\tfrac{at}{R} + p_k\cos\tfrac{at}{R}.

Both maps are volume preserving and time reversible, so the Metropolis test makes the chain exact
for :math:`\pi_T` with respect to the uniform measure on the (product of) spheres. With
:math:`U \equiv 0` the flow is exact and every proposal is accepted.

**Partial momentum refreshment** (``refresh_angle``; Horowitz 1991): instead of fresh momenta before
every move, :math:`p \leftarrow p\cos\phi + \xi\sin\phi`, an accepted move keeping its final momenta
and a rejected one negating them; exact for the same target, and successive short trajectories
continue in one direction.

**Step size.** During the ``n_burn`` burn-in moves the step of each chain is multiplied by
:math:`e^{0.5(a - a^*)}` after every move (:math:`a` the acceptance probability of that move,
:math:`a^*` = ``target_accept``); afterwards it is frozen, so the recorded part is an exact Markov
chain.

**Random-walk Metropolis** (:func:`rwm`, the baseline): Gaussian proposals
:math:`w + \epsilon g`, on spheres retracted block by block,
:math:`w_k' = R(w_k + \epsilon g_k)/|w_k + \epsilon g_k|` (symmetric by rotation invariance).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._checks import (MAX_SIZE, MAX_STEPS, check_bool, check_budget, check_finite_array, check_instance, check_int,
                      check_numeric_dtype, check_real, check_seed)
from .progress import ProgressBar
from ._threads import single_threaded_blas

__all__ = [
    "Geometry",
    "SampleResult",
    "hmc",
    "rwm",
    "leapfrog",
    "effective_sample_size",
]


class Geometry:
    """Euclidean space or a product of ``blocks`` equal spheres :math:`|w_k|^2 = N/B`."""

    def __init__(self, N: int, sphere: bool = False, blocks: int = 1):
        self.N = check_int("N", N, 1)
        self.sphere = check_bool("sphere", sphere)
        self.blocks = check_int("blocks", blocks, 1, self.N)
        if self.N % self.blocks:
            raise ValueError(f"blocks={blocks} must divide N={N} (allowed: divisors of N)")
        self.n = self.N // self.blocks
        self.R = math.sqrt(self.n)

    def _b(self, x):
        return x.reshape(x.shape[:-1] + (self.blocks, self.n))

    # Public methods check their arrays (dtype, shape, finite: O(size), vectorised) and delegate to the
    # unchecked ``_`` kernels, which hmc/rwm/leapfrog call thousands of times per chain run.
    def _arr(self, name, x, ndim=None):
        x = np.asarray(check_numeric_dtype(name, x), dtype=float)
        if x.ndim < 1 or x.shape[-1] != self.N or (ndim is not None and x.ndim != ndim):
            want = f"(C, {self.N})" if ndim == 2 else f"(..., {self.N})"
            raise ValueError(f"{name} must have shape {want}; got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"{name} must contain only finite values")
        return x

    def _pair(self, wname, w, vname, v, ndim=None):
        w = self._arr(wname, w, ndim)
        v = self._arr(vname, v, ndim)
        if v.shape != w.shape:
            raise ValueError(f"{vname} must have the shape of {wname} {w.shape}; got shape {v.shape}")
        return w, v

    def project(self, w, v):
        """Tangent part of ``v`` at ``w`` (identity in Euclidean space); ``w``, ``v`` of shape ``(..., N)``."""
        return self._project(*self._pair("w", w, "v", v))

    def _project(self, w, v):
        if not self.sphere:
            return v
        wb, vb = self._b(w), self._b(v)
        return (vb - np.sum(vb * wb, -1, keepdims=True) * wb / self.n).reshape(v.shape)

    def normalise(self, w):
        """Put each block of ``w`` (shape ``(..., N)``) on its sphere (identity in Euclidean space)."""
        w = self._arr("w", w)
        if not self.sphere:
            return np.array(w, dtype=float)
        if np.any(np.linalg.norm(self._b(w), axis=-1) == 0):
            raise ValueError("w0 has a block of zero norm; it cannot be put on the sphere")
        return self._normalise(w)

    def _normalise(self, w):
        wb = self._b(w)
        return (wb * (self.R / np.linalg.norm(wb, axis=-1, keepdims=True))).reshape(w.shape)

    def drift(self, w, p, eps):
        """Free motion for time ``eps`` (per chain, shape ``(C,)``): straight line or great circle."""
        w, p = self._pair("w", w, "p", p, ndim=2)
        return self._drift(w, p, _per_chain("eps", eps, w.shape[0]))

    def _drift(self, w, p, eps):
        e = eps[:, None]
        if not self.sphere:
            return w + e * p, p
        wb, pb = self._b(w), self._b(p)
        a = np.linalg.norm(pb, axis=-1, keepdims=True)
        ang = a * e[..., None] / self.R
        c, s = np.cos(ang), np.sin(ang)
        safe = np.where(a > 0, a, 1.0)
        w1 = wb * c + (self.R / safe) * pb * s
        p1 = -(safe / self.R) * wb * s + pb * c
        w1 = np.where(a > 0, w1, wb)
        p1 = np.where(a > 0, p1, pb)
        # remove the round-off drift off the sphere (O(1e-16) per step)
        w1 *= self.R / np.linalg.norm(w1, axis=-1, keepdims=True)
        return w1.reshape(w.shape), p1.reshape(p.shape)

    def momenta(self, rng, w, T):
        """Momenta :math:`\\mathcal N(0, T)` in the tangent space at ``w`` (shape ``(C, N)``; ``T`` per chain)."""
        check_instance("rng", rng, np.random.Generator)
        w = self._arr("w", w, ndim=2)
        return self._momenta(rng, w, _per_chain("T", T, w.shape[0]))

    def _momenta(self, rng, w, T):
        p = rng.standard_normal(w.shape) * np.sqrt(T)[:, None]
        return self._project(w, p)

    def propose_rw(self, rng, w, eps):
        """Random-walk proposal (retracted to the spheres); ``w`` of shape ``(C, N)``, ``eps`` per chain."""
        check_instance("rng", rng, np.random.Generator)
        w = self._arr("w", w, ndim=2)
        return self._propose_rw(rng, w, _per_chain("eps", eps, w.shape[0]))

    def _propose_rw(self, rng, w, eps):
        w1 = w + eps[:, None] * rng.standard_normal(w.shape)
        return self._normalise(w1) if self.sphere else w1


def _per_chain(name, x, C):
    """``x`` as a writable float array ``(C,)``: a scalar or one value per chain, finite and ``> 0``."""
    x = np.asarray(check_numeric_dtype(name, x), dtype=float)
    if x.shape not in ((), (C,)):
        raise ValueError(f"{name} must be a scalar or have shape ({C},) (one per chain); got shape {x.shape}")
    if not np.isfinite(x).all() or np.any(x <= 0):
        raise ValueError(f"{name}={x!r} is out of range; allowed: finite values in (0, inf)")
    return np.broadcast_to(x, (C,)).copy()


def _check_w0(w0, name="w0"):
    w0 = np.asarray(check_numeric_dtype(name, w0), dtype=float)
    if w0.ndim != 2 or w0.shape[0] < 1 or w0.shape[1] < 1:
        raise ValueError(f"{name} must have shape (chains, N) with chains, N >= 1; got shape {w0.shape}")
    if not np.all(np.isfinite(w0)):
        raise ValueError(f"{name} must contain only finite values")
    return w0


def _evaluate(fun, w, move, with_grad=True):
    if not callable(fun):
        raise TypeError(f"fun must be callable, fun(w) -> (energy, gradient); got {type(fun).__name__}")
    out = fun(w)
    if with_grad:
        if not (isinstance(out, tuple) and len(out) == 2):
            raise ValueError("fun must return a pair (energy, gradient)")
        E, G = out
        E = np.asarray(E, dtype=float)
        G = np.asarray(G, dtype=float)
        if G.shape != w.shape:
            raise ValueError(f"fun returned a gradient of shape {G.shape}; expected {w.shape}")
    else:
        E = np.asarray(out[0] if isinstance(out, tuple) else out, dtype=float)
        G = None
    if E.shape != (w.shape[0],):
        raise ValueError(f"fun returned an energy of shape {E.shape}; expected ({w.shape[0]},)")
    bad = np.flatnonzero(np.isnan(E))
    if bad.size:
        raise ValueError(f"fun returned a NaN energy for chain {bad[0]} at move {move}")
    return E, G


def leapfrog(fun, w, p, step, n_leapfrog, geometry: Geometry, G=None, move=0):
    """``n_leapfrog`` velocity-Verlet (or geodesic) steps from ``(w, p)``.

    ``step`` has shape ``(C,)``; ``G`` is the gradient at ``w`` if already known.
    Returns ``(w, p, energy, gradient)`` at the end of the trajectory. Time reversible:
    starting from the end point with the momenta negated returns to ``(w, -p)``.
    """
    check_instance("geometry", geometry, Geometry)
    n_leapfrog = check_int("n_leapfrog", n_leapfrog, 1, MAX_STEPS)
    w, p = geometry._pair("w", w, "p", p, ndim=2)
    step = _per_chain("step", step, w.shape[0])
    if G is not None:
        G = geometry._arr("G", G, ndim=2)
        if G.shape != w.shape:
            raise ValueError(f"G must have the shape of w {w.shape}; got shape {G.shape}")
    return _leapfrog(fun, w, p, step, n_leapfrog, geometry, G, move)


def _leapfrog(fun, w, p, step, n_leapfrog, geometry, G=None, move=0):
    # the unchecked kernel of leapfrog (hmc and the solution-path samplers call it once per move)
    if G is None:
        _, G = _evaluate(fun, w, move)
    e = step[:, None]
    E = None
    for _ in range(n_leapfrog):
        p = geometry._project(w, p - 0.5 * e * G)
        w, p = geometry._drift(w, p, step)
        E, G = _evaluate(fun, w, move)
        p = geometry._project(w, p - 0.5 * e * G)
    return w, p, E, G


@dataclass(frozen=True)
class SampleResult:
    r"""Output of :func:`hmc` and :func:`rwm` (``C`` chains, ``S`` recorded moves, ``N`` weights).

    Attributes
    ----------
    final : ``(C, N)`` last states.
    samples : ``(S // thin, C, N)`` recorded states (every ``thin``-th move after burn-in).
    energies : ``(S, C)`` energy of the current state after every recorded move.
    acceptance : ``(C,)`` fraction of accepted proposals after burn-in.
    dH : ``(S, C)`` energy error :math:`\Delta H` of every recorded proposal (HMC: Hamiltonian
        error; RWM: :math:`\Delta U`); :math:`\langle e^{-\Delta H/T}\rangle = 1` for an exact
        volume-preserving, reversible integrator.
    step : ``(C,)`` the frozen step sizes.
    T : ``(C,)`` temperatures.
    """

    final: np.ndarray
    samples: np.ndarray
    energies: np.ndarray
    acceptance: np.ndarray
    dH: np.ndarray
    step: np.ndarray
    T: np.ndarray


def _setup(w0, T, step, n_moves, n_burn, thin, sphere, blocks, target_accept):
    w0 = _check_w0(w0)
    C, N = w0.shape
    T = _per_chain("T", T, C)
    step = _per_chain("step", step, C)
    n_moves = check_int("n_moves", n_moves, 1)
    n_burn = check_int("n_burn", n_burn, 0)
    thin = check_int("thin", thin, 1, n_moves)
    check_real("target_accept", target_accept, 0, 1, low_open=True, high_open=True)
    check_budget("n_burn + n_moves", n_burn + n_moves, MAX_STEPS, "nnlandscape._checks.MAX_STEPS", "moves")
    check_budget("size of the records (n_moves * chains * (N + 2))", n_moves * C * (N + 2), MAX_SIZE,
                 "nnlandscape._checks.MAX_SIZE", "floats")
    geo = Geometry(N, sphere, blocks)
    return geo.normalise(w0), T, step, n_moves, n_burn, thin, geo


@single_threaded_blas
def hmc(fun, w0, *, T, step, n_leapfrog, n_moves, sphere=False, blocks=1, n_burn=0, thin=1,
        target_accept=0.8, jitter=0.0, refresh_angle=None, seed=0, progress=False, desc="HMC") -> SampleResult:
    r"""Hybrid Monte Carlo for :math:`\pi_T \propto e^{-U/T}`, all chains at once.

    Parameters
    ----------
    fun : ``fun(w) -> (energy, gradient)`` for a batch ``w`` of shape ``(C, N)``: energies ``(C,)``,
        gradients ``(C, N)``.
    w0 : ``(C, N)`` initial states (put on the spheres when ``sphere``).
    T : temperature, scalar or one per chain (``> 0``).
    step : leapfrog step :math:`\epsilon` (``> 0``), scalar or per chain; adapted during burn-in only.
    n_leapfrog : leapfrog steps per move (``>= 1``); trajectory length ``step * n_leapfrog``.
    n_moves : recorded moves (after burn-in).
    sphere, blocks : geodesic HMC on a product of ``blocks`` spheres (see the module docstring).
    n_burn : burn-in moves with step adaptation towards ``target_accept``.
    thin : keep every ``thin``-th recorded state in ``samples``.
    jitter : in ``[0, 1)``; each move uses the step :math:`\epsilon(1 + j u)` with :math:`u` uniform
        in :math:`[-1, 1]`, drawn per chain and move independently of the state (exactness is kept).
        It randomises the trajectory length, which breaks the periodicity of trajectories on nearly
        harmonic targets (Neal 2011, sec. 5.4.2.2). ``0`` (default): fixed step.
    refresh_angle : ``None`` (default) draws fresh momenta before every move. An angle
        :math:`\phi \in (0, \pi/2]` (radians) keeps part of them instead: **partial momentum
        refreshment** (generalised HMC, Horowitz 1991; Neal 2011, sec. 5.5.3),
        :math:`p \leftarrow p\cos\phi + \xi\sin\phi` with :math:`\xi \sim \mathcal N(0, T)` in the
        tangent space, which leaves the momentum law invariant; an accepted move keeps its final
        momenta, a rejected one negates them. Each move (refresh, trajectory with Metropolis test,
        negation) leaves :math:`\pi_T(w)\,\mathcal N(p; 0, T)` invariant, so the chain stays exact
        while successive trajectories continue in the same direction (about :math:`1/(1 - \cos\phi)`
        moves when few are rejected), with short trajectories and the Metropolis test after each.
        The momenta start fresh at every call.
    seed : seed of the random generator (momenta and Metropolis tests).
    progress : show a progress bar.
    """
    w, T, step, n_moves, n_burn, thin, geo = _setup(w0, T, step, n_moves, n_burn, thin, sphere, blocks,
                                                    target_accept)
    n_leapfrog = check_int("n_leapfrog", n_leapfrog, 1)
    jitter = check_real("jitter", jitter, 0, 1, high_open=True)
    if refresh_angle is not None:
        refresh_angle = check_real("refresh_angle", refresh_angle, 0, math.pi / 2, low_open=True)
    check_budget("(n_burn + n_moves) * n_leapfrog", (n_burn + n_moves) * n_leapfrog, MAX_STEPS,
                 "nnlandscape._checks.MAX_STEPS", "leapfrog steps")
    check_bool("progress", progress)
    rng = np.random.default_rng(check_seed("seed", seed))
    E, G = _evaluate(fun, w, 0)
    # partial refreshment: the momenta carried from move to move (tangent at the current state)
    carried = {"p": None, "p1": None}

    def propose(m, w, E, G, step):
        p = geo._momenta(rng, w, T)
        if refresh_angle is not None and carried["p"] is not None:
            p = math.cos(refresh_angle) * carried["p"] + math.sin(refresh_angle) * p
        K0 = 0.5 * np.sum(p * p, axis=1)
        if jitter:  # drawn only when asked, so that jitter=0 keeps the random stream of earlier versions
            step = step * (1.0 + jitter * (2.0 * rng.random(step.size) - 1.0))
        w1, p1, E1, G1 = _leapfrog(fun, w, p, step, n_leapfrog, geo, G=G, move=m)
        carried["p"], carried["p1"] = p, p1
        return w1, E1, G1, E1 - E + 0.5 * np.sum(p1 * p1, axis=1) - K0

    def keep_momenta(ok):
        # accepted: the trajectory's final momenta; rejected: the refreshed momenta, negated
        carried["p"] = np.where(ok[:, None], carried["p1"], -carried["p"])

    return _metropolis_chain(propose, w, E, G, T=T, step=step, n_moves=n_moves, n_burn=n_burn, thin=thin,
                             target_accept=target_accept, rng=rng, progress=progress, desc=desc,
                             after=keep_momenta if refresh_angle is not None else None)


@single_threaded_blas
def rwm(fun, w0, *, T, step, n_moves, sphere=False, blocks=1, n_burn=0, thin=1, target_accept=0.25,
        seed=0, progress=False, desc="RWM") -> SampleResult:
    r"""Random-walk Metropolis for :math:`\pi_T \propto e^{-U/T}` (the baseline of :func:`hmc`).

    ``fun(w)`` returns the energies ``(C,)`` (or a pair whose first item they are); gradients are
    not used. Other parameters as in :func:`hmc`; ``step`` is the proposal's standard deviation per
    coordinate, adapted during burn-in towards ``target_accept``.
    """
    w, T, step, n_moves, n_burn, thin, geo = _setup(w0, T, step, n_moves, n_burn, thin, sphere, blocks,
                                                    target_accept)
    check_bool("progress", progress)
    rng = np.random.default_rng(check_seed("seed", seed))
    E, _ = _evaluate(fun, w, 0, with_grad=False)

    def propose(m, w, E, _, step):
        w1 = geo._propose_rw(rng, w, step)
        E1, _ = _evaluate(fun, w1, m, with_grad=False)
        return w1, E1, None, E1 - E

    return _metropolis_chain(propose, w, E, None, T=T, step=step, n_moves=n_moves, n_burn=n_burn, thin=thin,
                             target_accept=target_accept, rng=rng, progress=progress, desc=desc)


def _metropolis_chain(propose, w, E, G, *, T, step, n_moves, n_burn, thin, target_accept, rng, progress,
                      desc, after=None) -> SampleResult:
    r"""The Metropolis loop shared by :func:`hmc` and :func:`rwm`, vectorised over chains.

    ``propose(m, w, E, G, step)`` returns, from the current states, energies and gradients (``None``
    when not used), the proposals ``w1``, their energies ``E1``, their gradients ``G1`` and the energy
    error ``dH`` (:math:`\Delta U` plus, for HMC, the change of kinetic energy). Each chain accepts
    with probability :math:`\min(1, e^{-dH/T})` (a non-finite ``dH`` rejects); during the
    ``n_burn`` burn-in moves the step is adapted towards ``target_accept``. ``after(ok)``, if given,
    is called with the accepted chains (``(C,)`` booleans) after every move.
    """
    C = w.shape[0]
    energies = np.empty((n_moves, C))
    dHs = np.empty((n_moves, C))
    samples = np.empty((n_moves // thin, C, w.shape[1]))
    acc = np.zeros(C)
    with ProgressBar(n_burn + n_moves, enable=progress, desc=desc) as bar:
        for m in range(n_burn + n_moves):
            w1, E1, G1, dH = propose(m, w, E, G, step)
            with np.errstate(over="ignore", invalid="ignore"):
                a = np.where(np.isfinite(dH), np.exp(np.minimum(0.0, -dH / T)), 0.0)
            ok = rng.random(C) < a
            w = np.where(ok[:, None], w1, w)
            if G is not None:
                G = np.where(ok[:, None], G1, G)
            E = np.where(ok, E1, E)
            if after is not None:
                after(ok)
            if m < n_burn:
                step *= np.exp(0.5 * (a - target_accept))
            else:
                r = m - n_burn
                energies[r], dHs[r] = E, dH
                acc += ok
                if (r + 1) % thin == 0:
                    samples[(r + 1) // thin - 1] = w
            bar.update(1)
    return SampleResult(w, samples, energies, acc / n_moves, dHs, step, T)


def effective_sample_size(x):
    r"""Effective sample size of each column of ``x`` (shape ``(S, C)``: S steps of C chains).

    :math:`S/\tau` with the integrated autocorrelation time
    :math:`\tau = 1 + 2\sum_{t\ge1}\rho_t`, summed with Geyer's initial positive sequence
    (pairs :math:`\rho_{2m}+\rho_{2m+1}` while positive; Geyer 1992). Returns ``(C,)``.
    """
    x = check_finite_array("x", x)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"x must have shape (S,) or (S, C); got shape {x.shape}")
    S = x.shape[0]
    if S < 4:
        raise ValueError(f"x must have at least 4 rows (steps); got {S}")
    y = x - x.mean(0)
    f = np.fft.rfft(y, n=2 * S, axis=0)
    ac = np.fft.irfft(f * np.conj(f), axis=0)[:S]
    var = ac[0]
    out = np.empty(x.shape[1])
    for c in range(x.shape[1]):
        if var[c] <= 0:
            out[c] = float(S)
            continue
        rho = ac[:, c] / var[c]
        tau = -1.0
        for m in range(S // 2):
            pair = rho[2 * m] + rho[2 * m + 1]
            if pair <= 0:
                break
            tau += 2 * pair
        out[c] = S / max(tau, 1e-12)
    return out
