r"""Paths between solutions and flat regions: geodesics, the double ratchet, coupled replicas.

After Zambon, Malatesta, Tiana & Zecchina (arXiv:2503.08266) and the authors' code
(``guidotiana/nnSampling``); the vectorised formulation over pairs/systems is ours.

**Geodesic interpolation** (:func:`geodesic`). Between :math:`w_a` and :math:`w_b`, block by block
(one block: the whole vector; ``blocks = K``: each hidden unit), the great circle of the directions
with the norm interpolated linearly,

.. math:: w(t) = \big[(1-t)|w_a| + t|w_b|\big]\,
          \frac{\sin((1-t)\phi)\,\hat w_a + \sin(t\phi)\,\hat w_b}{\sin\phi},
          \qquad \cos\phi = \hat w_a\cdot\hat w_b .

On a (product of) spheres this is the shortest path; with matched norms it is the path along which
the homogeneous committee's training error is compared.

**Double ratchet** (:func:`double_ratchet`). Two configurations :math:`w_a, w_b` each feel their
own energy plus a pawl on their distance :math:`d = |w_a - w_b|`,

.. math:: U_{\rm end}(w) + \frac k2\,\max(0,\ d - d_{\min})^2 ,

where :math:`d_{\min}` is the smallest distance reached so far (updated inside every leapfrog
trajectory, as in the authors' code, and restored when the move is rejected). The ends take HMC
moves in turn; :math:`d` can grow only against the spring, so the ends drift together at the
temperature :math:`T` while staying at low energy. The path from :math:`w_a` to :math:`w_b` is the
trajectory of end a followed by the reversed trajectory of end b. The ratchet is *not* a sampler:
:math:`d_{\min}` makes the dynamics history dependent (see the chapter's exercise).

**Coupled replicas** (:func:`coupled_replicas`, a robust-ensemble / local-entropy measure;
Baldassi et al. 2016). :math:`y` replicas with energy

.. math:: E(w_1..w_y) = \sum_b U(w_b) + \frac\gamma y\sum_b |w_b - c|,\qquad
          c = \frac{\bar m}{|S|}\,S,\ \ S = \sum_b w_b,\ \ \bar m = \frac1y\sum_b |w_b| ,

block by block (the centre is rescaled to the replicas' mean norm, as in the authors' code). The
gradient includes the centre's dependence on every replica:
:math:`\partial_{w_a}\sum_b|w_b - c| = u_a - J_a^\top v`, :math:`u_b = (w_b-c)/|w_b-c|`,
:math:`v = \sum_b u_b`, :math:`J_a^\top v = \hat w_a(\hat s\cdot v)/y + (\bar m/|S|)(v - \hat s(\hat s\cdot v))`.
All replicas move together in one HMC on the product space (the authors move one replica at a
time; both leave the same measure invariant).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import (MAX_SIZE, MAX_STEPS, check_bool, check_budget, check_finite_array, check_int,
                      check_numeric_dtype, check_seed)
from .progress import ProgressBar
from ._threads import single_threaded_blas
from .sampling import Geometry, _check_w0, _evaluate, _leapfrog, _per_chain, hmc

__all__ = ["geodesic", "RatchetResult", "double_ratchet", "replica_energy_grad", "ReplicaResult",
           "coupled_replicas"]


def _blocks(w, blocks):
    return w.reshape(w.shape[:-1] + (blocks, w.shape[-1] // blocks))


def geodesic(wa, wb, n_points=41, *, blocks=1):
    r"""Points of the geodesic from ``wa`` to ``wb`` (shapes ``(C, N)``), returns ``(n_points, C, N)``."""
    wa = _check_w0(wa, "wa")
    wb = _check_w0(wb, "wb")
    if wa.shape != wb.shape:
        raise ValueError(f"wa and wb must have the same shape; got {wa.shape} and {wb.shape}")
    n_points = check_int("n_points", n_points, 2)
    check_budget("n_points * chains * N", n_points * wa.size, MAX_SIZE, "nnlandscape._checks.MAX_SIZE", "floats")
    blocks = check_int("blocks", blocks, 1, wa.shape[1])
    if wa.shape[1] % blocks:
        raise ValueError(f"blocks={blocks} must divide N={wa.shape[1]}")
    A, B = _blocks(wa, blocks), _blocks(wb, blocks)
    na = np.linalg.norm(A, axis=-1, keepdims=True)
    nb = np.linalg.norm(B, axis=-1, keepdims=True)
    ua, ub = A / na, B / nb
    cos = np.clip(np.sum(ua * ub, -1, keepdims=True), -1.0, 1.0)
    phi = np.arccos(cos)
    t = np.linspace(0.0, 1.0, n_points)[:, None, None, None]
    small = phi < 1e-8
    s = np.where(small, 1.0, np.sin(phi))
    ca = np.where(small, 1 - t, np.sin((1 - t) * phi) / s)
    cb = np.where(small, t, np.sin(t * phi) / s)
    u = ca * ua + cb * ub
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    out = ((1 - t) * na + t * nb) * u
    return out.reshape(n_points, *wa.shape)


@dataclass(frozen=True)
class RatchetResult:
    r"""Output of :func:`double_ratchet` (``C`` pairs, ``S`` recorded moves).

    Attributes
    ----------
    path : ``(2 S + 2, C, N)`` the path from end a's start to end b's start (a's trajectory, then
        b's reversed).
    distance : ``(S + 1, C)`` distance :math:`|w_a - w_b|` after every move (first: at the start).
    overlap : ``(S + 1, C)`` normalised overlap :math:`\hat w_a\cdot\hat w_b` after every move.
    energy_a, energy_b : ``(S + 1, C)`` the ends' own energies.
    acceptance : ``(C,)`` fraction of accepted moves (both ends).
    final_a, final_b : ``(C, N)`` the ends at the end.
    """

    path: np.ndarray
    distance: np.ndarray
    overlap: np.ndarray
    energy_a: np.ndarray
    energy_b: np.ndarray
    acceptance: np.ndarray
    final_a: np.ndarray
    final_b: np.ndarray


@single_threaded_blas
def double_ratchet(fun, wa, wb, *, T, k, step, n_leapfrog, n_moves, sphere=False, blocks=1, seed=0,
                   progress=False, desc="ratchet") -> RatchetResult:
    r"""Double-ratchet HMC between the rows of ``wa`` and ``wb`` (see the module docstring).

    ``fun(w) -> (U, grad U)`` is the ends' own energy; ``k > 0`` the ratchet stiffness (scalar or one
    per pair); the other
    parameters as in :func:`nnlandscape.sampling.hmc` (no step adaptation).
    """
    wa, wb = _check_w0(wa, "wa"), _check_w0(wb, "wb")
    if wa.shape != wb.shape:
        raise ValueError(f"wa and wb must have the same shape; got {wa.shape} and {wb.shape}")
    C, N = wa.shape
    T = _per_chain("T", T, C)
    k = np.asarray(check_numeric_dtype("k", k), dtype=float)
    if k.shape not in ((), (C,)) or not np.all(np.isfinite(k)) or np.any(k <= 0):
        raise ValueError(f"k={k!r} is out of range; allowed: finite stiffness in (0, inf), scalar or one per pair")
    k = np.broadcast_to(k, (C,))
    step = _per_chain("step", step, C)
    n_leapfrog = check_int("n_leapfrog", n_leapfrog, 1)
    n_moves = check_int("n_moves", n_moves, 1)
    check_budget("n_moves * n_leapfrog", n_moves * n_leapfrog, MAX_STEPS, "nnlandscape._checks.MAX_STEPS",
                 "leapfrog steps")
    check_budget("size of the path (2 n_moves * pairs * N)", 2 * n_moves * wa.size, MAX_SIZE,
                 "nnlandscape._checks.MAX_SIZE", "floats")
    check_bool("progress", progress)
    geo = Geometry(N, sphere, blocks)
    ends = [geo.normalise(wa), geo.normalise(wb)]
    rng = np.random.default_rng(check_seed("seed", seed))
    state = {"dmin": np.linalg.norm(ends[0] - ends[1], axis=1)}

    def make(i):
        other = ends[1 - i]

        def f(w):
            U, G = fun(w)
            U, G = np.asarray(U, float), np.asarray(G, float)
            diff = w - other
            d = np.linalg.norm(diff, axis=1)
            state["dmin"] = np.minimum(state["dmin"], d)
            ex = d - state["dmin"]
            safe = np.where(d > 0, d, 1.0)
            return U + 0.5 * k * ex**2, G + (k * ex / safe)[:, None] * diff

        return f

    def own(w):
        return _evaluate(fun, w, 0)[0]

    def ov(a, b):
        return np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)

    traj = [[ends[0].copy()], [ends[1].copy()]]
    dist = [np.linalg.norm(ends[0] - ends[1], axis=1)]
    q = [ov(*ends)]
    ea, eb = [own(ends[0])], [own(ends[1])]
    acc = np.zeros(C)
    with ProgressBar(n_moves, enable=progress, desc=desc) as bar:
        for m in range(n_moves):
            for i in (0, 1):
                f = make(i)
                dmin0 = state["dmin"].copy()
                E, G = _evaluate(f, ends[i], m)
                p = geo._momenta(rng, ends[i], T)
                K0 = 0.5 * np.sum(p * p, 1)
                w1, p1, E1, _ = _leapfrog(f, ends[i], p, step, n_leapfrog, geo, G=G, move=m)
                dH = E1 - E + 0.5 * np.sum(p1 * p1, 1) - K0
                with np.errstate(over="ignore", invalid="ignore"):
                    a = np.where(np.isfinite(dH), np.exp(np.minimum(0.0, -dH / T)), 0.0)
                ok = rng.random(C) < a
                ends[i] = np.where(ok[:, None], w1, ends[i])
                d_now = np.linalg.norm(ends[0] - ends[1], axis=1)
                state["dmin"] = np.where(ok, state["dmin"], np.minimum(dmin0, d_now))
                acc += ok
                traj[i].append(ends[i].copy())
            dist.append(np.linalg.norm(ends[0] - ends[1], axis=1))
            q.append(ov(*ends))
            ea.append(own(ends[0]))
            eb.append(own(ends[1]))
            bar.update(1)
    path = np.concatenate([np.array(traj[0]), np.array(traj[1])[::-1]], axis=0)
    return RatchetResult(path, np.array(dist), np.array(q), np.array(ea), np.array(eb),
                         acc / (2 * n_moves), ends[0], ends[1])


def _check_gamma(gamma, C):
    g = np.asarray(check_numeric_dtype("gamma", gamma), dtype=float)
    if g.shape not in ((), (C,)) or not np.all(np.isfinite(g)) or np.any(g < 0):
        raise ValueError(f"gamma={gamma!r} is out of range; allowed: finite couplings in [0, inf), "
                         f"scalar or one per system ({C})")
    return np.broadcast_to(g, (C,)).astype(float)


def replica_energy_grad(fun, W, gamma, *, blocks=1):
    r"""Energy and gradient of ``y`` coupled replicas (module docstring).

    ``W`` has shape ``(C, y, N)`` (``C`` independent systems of ``y`` replicas); ``gamma`` is a
    scalar or one coupling per system. Returns
    ``(E, grad, centre)`` with shapes ``(C,)``, ``(C, y, N)``, ``(C, N)``.
    """
    W = check_finite_array("W", W)
    if W.ndim != 3:
        raise ValueError(f"W must have shape (C, y, N); got shape {W.shape}")
    C, y, N = W.shape
    if not callable(fun):
        raise TypeError(f"fun must be callable, fun(w) -> (energy, gradient); got {type(fun).__name__}")
    blocks = check_int("blocks", blocks, 1, N)
    if N % blocks:
        raise ValueError(f"blocks={blocks} must divide N={N}")
    gamma = _check_gamma(gamma, C)
    U, G = fun(W.reshape(C * y, N))
    U = np.asarray(U, float).reshape(C, y)
    G = np.asarray(G, float).reshape(C, y, N)
    Wb = W.reshape(C, y, blocks, N // blocks)
    norms = np.linalg.norm(Wb, axis=-1, keepdims=True)  # (C, y, B, 1)
    S = Wb.sum(1, keepdims=True)  # (C, 1, B, n)
    Sn = np.linalg.norm(S, axis=-1, keepdims=True)
    sh = S / Sn
    mbar = norms.mean(1, keepdims=True)
    c = mbar * sh  # (C, 1, B, n)
    diff = Wb - c
    # distance over the whole vector (all blocks), as in the authors' code
    d = np.sqrt(np.sum(diff**2, axis=(-1, -2)))  # (C, y)
    safe = np.where(d > 0, d, 1.0)
    u = diff / safe[..., None, None]
    v = u.sum(1, keepdims=True)
    sv = np.sum(sh * v, -1, keepdims=True)
    Jv = (Wb / norms) * sv / y + (mbar / Sn) * (v - sh * sv)
    g_coup = (gamma / y)[:, None, None, None] * (u - Jv)
    E = U.sum(1) + (gamma / y) * d.sum(1)
    return E, G + g_coup.reshape(C, y, N), c.reshape(C, N)


@dataclass(frozen=True)
class ReplicaResult:
    r"""Output of :func:`coupled_replicas` (``C`` systems of ``y`` replicas, ``S`` recorded moves).

    Attributes
    ----------
    final : ``(C, y, N)`` replicas at the end; centre : ``(C, N)`` their centre.
    samples : ``(S // thin, C, y, N)`` recorded replicas; centres : ``(S // thin, C, N)`` their centres.
    replica_energies : ``(S // thin, C, y)`` the replicas' own energies :math:`U(w_b)`.
    distance : ``(S // thin, C)`` mean replica-centre distance; acceptance : ``(C,)``.
    """

    final: np.ndarray
    centre: np.ndarray
    samples: np.ndarray
    centres: np.ndarray
    replica_energies: np.ndarray
    distance: np.ndarray
    acceptance: np.ndarray


@single_threaded_blas
def coupled_replicas(fun, W0, *, gamma, T, step, n_leapfrog, n_moves, sphere=False, blocks=1,
                     n_burn=0, thin=1, seed=0, progress=False, desc="replicas") -> ReplicaResult:
    r"""HMC of ``y`` coupled replicas; ``W0`` has shape ``(C, y, N)``; ``gamma >= 0`` the coupling
    (scalar or one per system)."""
    W0 = check_finite_array("W0", W0)
    if W0.ndim != 3 or W0.shape[1] < 2:
        raise ValueError(f"W0 must have shape (systems, y, N) with y >= 2 replicas; got {W0.shape}")
    C, y, N = W0.shape
    gamma = _check_gamma(gamma, C)
    geo = Geometry(N, sphere, blocks)
    cblocks = blocks if sphere else 1

    def joint(flat):
        if not np.all(np.isfinite(flat)):
            raise ValueError(f"the leapfrog trajectory overflowed to non-finite weights: step={step!r} is too "
                             "large for this energy; use a smaller step (a trajectory step * n_leapfrog of "
                             "order 1 or less)")
        E, G, _ = replica_energy_grad(fun, flat.reshape(-1, y, N), gamma, blocks=cblocks)
        return E, G.reshape(flat.shape)

    # product of y copies of the (product of) spheres = y*blocks spheres of the same radius
    res = hmc(joint, W0.reshape(C, y * N), T=T, step=step, n_leapfrog=n_leapfrog, n_moves=n_moves,
              sphere=sphere, blocks=blocks * y, n_burn=n_burn, thin=thin, seed=seed, progress=progress,
              desc=desc)
    Wf = res.final.reshape(C, y, N)
    _, _, centre = replica_energy_grad(fun, Wf, gamma, blocks=cblocks)
    cs = np.array([replica_energy_grad(fun, s.reshape(C, y, N), gamma, blocks=cblocks)[2]
                   for s in res.samples])
    own = np.asarray(fun(res.samples.reshape(-1, N))[0]).reshape(-1, C, y) if len(res.samples) else np.empty((0, C, y))
    dist = (np.linalg.norm(res.samples.reshape(-1, C, y, N) - cs[:, :, None], axis=-1).mean(-1)
            if len(res.samples) else np.empty((0, C)))
    return ReplicaResult(Wf, centre, res.samples.reshape(-1, C, y, N), cs, own, dist, res.acceptance)
