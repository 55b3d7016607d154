r"""Replica theory of a random MLP viewed as a Hamiltonian over its inputs.

The model (Winer & Hanin, *Deep Neural Nets as Hamiltonians*, arXiv:2503.23982).
Inputs lie on the sphere :math:`|x|^2 = N`; :math:`H(x) = \sqrt N f(x)` for a
random MLP :math:`f`. At infinite width :math:`f` is a centred Gaussian field with
covariance :math:`C_L(q)` (:mod:`nnlandscape.kernels`), so after removing the
random constant :math:`\sqrt N\,\bar f` (variance :math:`N C_L(0)`), :math:`H` is a
spherical mixed p-spin model,

.. math::

    \mathbb E[H(x)H(y)] = N\,\xi(q),\qquad \xi(q) = C_L(q) - C_L(0) = \sum_{p\ge1} b_p q^p,
    \qquad b_p \ge 0,

(non-negative coefficients by Schoenberg's theorem; :math:`b_1 q` is a Gaussian
random field :math:`\sqrt{b_1}\,g\cdot x`). Everything below holds for a general
:math:`\xi` and is expressed per site.

Replica-symmetric theory (derived in the chapter). With :math:`Q_{ab}` the
overlap matrix, :math:`\frac1N\log\mathbb E Z^n = \mathrm{extr}_Q[\frac{\beta^2}2
\sum_{ab}\xi(Q_{ab}) + \frac12\log\det Q]`; the RS ansatz :math:`Q_{a\ne b} = q`
and :math:`n\to0` give the free entropy (log of the Gibbs mass relative to the
uniform measure on the sphere)

.. math::

    \varphi_{RS}(q) = \frac{\beta^2}2\big(\xi(1) - \xi(q)\big)
    + \frac12\Big(\log(1-q) + \frac q{1-q}\Big),\qquad
    \beta^2\xi'(q)(1-q)^2 = q,

with :math:`\varphi = \min_q \varphi_{RS}` (the Parisi formula is an infimum), energy
:math:`e = -\beta(\xi(1) - \xi(q))`, entropy :math:`s = \varphi + \beta e`. At low
:math:`T` everything is written in :math:`y = 1 - q` (:meth:`Mixture.gap` gives
:math:`\xi(1) - \xi(1 - y)` without cancellation). As :math:`T\to0`,
:math:`y \simeq T/\sqrt{\xi'(1)}` and :math:`E_0^{RS} = -\sqrt{\xi'(1)}`.

Stability. The replicon (de Almeida & Thouless 1978; for spherical models
Crisanti & Sommers 1992) is :math:`\lambda_R = 1 - \beta^2\xi''(q)(1-q)^2`. It only
sees small deformations; the exact test uses convexity of the Parisi functional
(:mod:`nnlandscape.parisi`): RS is the true solution iff

.. math::

    D(u) = \int_u^q g(s)\,ds \ge 0\ \ (u<q),\qquad D(u) = -\int_q^u g(s)\,ds \ge 0\ \ (u>q),
    \qquad g(s) = \beta^2\xi'(s) - \int_0^s\frac{dr}{d_{RS}(r)^2},

explicitly :math:`D(u) = \beta^2(\xi(q)-\xi(u)) - \frac{q^2-u^2}{2(1-q)^2}` for
:math:`u<q` and :math:`D(u) = -\beta^2(\xi(u)-\xi(q)) + \frac{(u-q)(2q-1)}{(1-q)^2}
+ \log\frac{1-q}{1-u}` for :math:`u>q`. Near :math:`u = q`,
:math:`D \simeq \lambda_R (u-q)^2/(2(1-q)^2)`, so the replicon is the local part of this
test; a discontinuous (1RSB, random-first-order) transition shows up only in
:math:`D`. For the paramagnet :math:`q = 0` this is
:math:`\beta^2\xi(u) + u + \log(1-u) \le 0`, giving the static temperature
:math:`T_s^2 = \max_u \xi(u)/(-u - \log(1-u))`.

Criteria. Talagrand (2006, Ann. Math. 163, Prop. 2.2): if :math:`\xi''(q)^{-1/2}` is
convex on :math:`(0, 1]` the Parisi measure has at most two atoms (RS or 1RSB) at
every temperature; where it is concave a continuous part (full RSB) is possible, with
:math:`x(q) = \xi'''(q)/(2\beta\,\xi''(q)^{3/2})` on it. At :math:`T = 0` RS is
exact iff :math:`\xi''(1) \le \xi'(1)` (Chen & Sen 2017, CMP 350, 129; the T = 0
replicon, which for non-negative coefficients is also the global condition,
:math:`\xi(1)-\xi(u) \ge \xi'(1)(1-u^2)/2`). Kernels with a cusp at :math:`q = 1`
(ReLU) have :math:`\xi''(1) = +\infty`: RS always breaks at low enough :math:`T`.

Validation (tests/test_replica.py): spherical SK :math:`\xi = q^2/2` (Kosterlitz,
Thouless & Jones 1976: :math:`T_c = 1`, :math:`q = 1 - T`, :math:`E_0 = -1`,
RS exact at every T, replicon marginal below :math:`T_c`); the random-field
(1-spin) model; pure 3-spin :math:`\xi = q^3/2` (Crisanti & Sommers 1992:
:math:`T_s \approx 0.586`, :math:`T_d = \sqrt{3/8}`; Cugliandolo & Kurchan 1993:
:math:`E_{th} = -2/\sqrt3`; :math:`E_0 = -1.1717`, i.e. the often quoted
:math:`-1.657` and :math:`-2\sqrt{2/3}` are for :math:`\xi = q^3`, larger by
:math:`\sqrt2`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import optimize

from ._checks import check_finite_array, check_int, check_real, check_real_array
from .parisi import (  # noqa: F401  (re-exported)
    GroundStateSolution,
    ParisiSolution,
    frsb_ground_state,
    frsb_solution,
    ground_state_energy,
    krsb_ground_state,
    krsb_solution,
    parisi_functional,
    parisi_functional_t0,
)

__all__ = [
    "Mixture",
    "RSSolution",
    "rs_solution",
    "replicon",
    "FirstOrderTest",
    "first_order_rs_test",
    "rs_is_exact",
    "rs_breaking_temperature",
    "replicon_temperature",
    "static_temperature",
    "dynamic_temperature",
    "threshold_energy",
    "rs_ground_state_energy",
    "ground_state_energy",
    "T0Criterion",
    "t0_rs_criterion",
    "at_most_1rsb",
    "rs_entropy_curve",
    "annealed_entropy",
    "microcanonical_entropy",
    "ParisiEntropyCurve",
    "parisi_entropy_curve",
    "rs_phase_boundaries",
    "PhaseBoundaries",
    "parisi_functional",
    "parisi_functional_t0",
    "ParisiSolution",
    "GroundStateSolution",
    "krsb_solution",
    "frsb_solution",
    "frsb_ground_state",
    "krsb_ground_state",
]


# ----------------------------------------------------------------------------
# the mixture xi
# ----------------------------------------------------------------------------
def _as_callable(name, f):
    if not callable(f):
        raise ValueError(f"{name} must be callable")
    return f


@dataclass(frozen=True)
class Mixture:
    r"""A covariance function :math:`\xi(q) = \sum_{p\ge1} b_p q^p`, :math:`b_p\ge0`, with derivatives.

    Attributes
    ----------
    xi, dxi, d2xi : vectorised callables :math:`\xi, \xi', \xi''` on :math:`[0, 1]`
        (``d2xi(1.0)`` may be ``inf`` for a kernel with a cusp).
    coefficients : :math:`(b_1, b_2, \dots)` when built from coefficients, else ``None``.
    label : a short description.

    Build with :meth:`from_coefficients`, :meth:`from_network` or :meth:`from_callables`.
    """

    xi: Callable = field(repr=False)
    dxi: Callable = field(repr=False)
    d2xi: Callable = field(repr=False)
    coefficients: tuple | None = None
    label: str = ""
    _gap: Callable | None = field(default=None, repr=False)

    def gap(self, y):
        r""":math:`\xi(1) - \xi(1 - y)` for :math:`y = 1 - q \in [0, 1]` (no cancellation for polynomials)."""
        y = np.asarray(y, dtype=float)
        if self._gap is not None:
            return self._gap(y)
        return self.xi(1.0) - self.xi(1.0 - y)

    @property
    def xi1(self) -> float:
        r""":math:`\xi(1)`: the variance of :math:`H/\sqrt N`."""
        return float(self.xi(1.0))

    @classmethod
    def from_coefficients(cls, coefficients, label=None):
        r""":math:`\xi(q) = \sum_{p\ge1} b_p q^p` from ``coefficients = [b_1, b_2, ...]``.

        Examples: ``[0, 0.5]`` is spherical SK (:math:`\xi = q^2/2`), ``[0, 0, 0.5]`` the
        pure 3-spin model, ``[h**2]`` a pure random field.
        """
        try:
            b = check_finite_array("coefficients", coefficients)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"coefficients must be a finite 1-d sequence of reals ({exc})") from None
        b = np.atleast_1d(b).astype(float)
        if b.ndim != 1 or b.size == 0:
            raise ValueError("coefficients must be a non-empty 1-d sequence [b_1, b_2, ...]")
        if np.any(b < 0):
            p = int(np.argmax(b < 0)) + 1
            raise ValueError(
                f"coefficients must be >= 0 (a covariance on every sphere, Schoenberg); got b_{p} = {b[p - 1]:g}"
            )
        if not np.any(b > 0):
            raise ValueError("coefficients must not all vanish (xi = 0 is no Hamiltonian)")
        c0 = np.concatenate(([0.0], b))
        c1 = np.polynomial.polynomial.polyder(c0)
        c2 = np.polynomial.polynomial.polyder(c1)
        pv = np.polynomial.polynomial.polyval
        powers = np.arange(1, b.size + 1)

        def xi(q):
            return pv(np.asarray(q, dtype=float), c0)

        def dxi(q):
            return pv(np.asarray(q, dtype=float), c1)

        def d2xi(q):
            return pv(np.asarray(q, dtype=float), c2) if c2.size else np.zeros_like(np.asarray(q, float))

        def gap(y):
            y = np.asarray(y, dtype=float)
            with np.errstate(divide="ignore"):
                t = np.log1p(-np.minimum(y, 1.0))[..., None] * powers
            return -np.sum(b * np.expm1(t), axis=-1)

        if label is not None and not isinstance(label, str):
            raise TypeError(f"label must be a str or None, got {type(label).__name__}")
        if label is None:
            label = " + ".join(f"{v:g} q^{p}" for p, v in zip(powers, b) if v > 0)
        return cls(xi, dxi, d2xi, tuple(float(v) for v in b), label, gap)

    @classmethod
    def from_callables(cls, xi, dxi, d2xi, label="custom", *, check=True):
        r"""A general :math:`\xi` from callables (checked on a grid: :math:`\xi(0) = 0`,
        :math:`\xi', \xi'' \ge 0` and :math:`\xi''` non-decreasing, as non-negative
        coefficients imply)."""
        xi, dxi, d2xi = (_as_callable(n, f) for n, f in (("xi", xi), ("dxi", dxi), ("d2xi", d2xi)))
        if not isinstance(label, str):
            raise TypeError(f"label must be a str, got {type(label).__name__}")
        m = cls(xi, dxi, d2xi, None, str(label))
        if not isinstance(check, (bool, np.bool_)):
            raise TypeError(f"check must be True or False, got {check!r}")
        if check:
            _check_mixture_values(m, "xi")
            _check_derivative_pair(m.xi, m.dxi, "dxi", "xi")
            _check_derivative_pair(m.dxi, m.d2xi, "d2xi", "dxi")
        return m

    def tabulated(self, n=2001):
        r"""The same :math:`\xi` as cubic Hermite splines on ``n`` points of :math:`[0, 1]` (fast to evaluate).

        :math:`\xi` is interpolated with the exact slopes :math:`\xi'`, and :math:`\xi'` with
        :math:`\xi''`; :math:`\xi''` is a cubic spline. Meant for smooth (analytic) kernels whose
        exact evaluation is slow (e.g. tanh by quadrature), inside solvers that evaluate
        :math:`\xi` many times: the error is :math:`O(n^{-4})` for :math:`\xi` and
        :math:`\xi'`. Not for kernels with a cusp at :math:`q = 1` (``d2xi(1) = inf``).
        """
        from scipy.interpolate import CubicHermiteSpline, CubicSpline

        n = check_int("n", n, 16, 10**6)
        q = np.linspace(0.0, 1.0, n)
        v0, v1, v2 = (np.asarray(f(q), dtype=float) for f in (self.xi, self.dxi, self.d2xi))
        if not np.all(np.isfinite(v2)):
            raise ValueError("tabulated needs a finite xi'' on [0, 1] (a cusp at q = 1 cannot be tabulated)")
        s0, s1, s2 = CubicHermiteSpline(q, v0, v1), CubicHermiteSpline(q, v1, v2), CubicSpline(q, v2)
        x1 = float(v0[-1])

        def wrap(f):
            return lambda x: f(np.asarray(x, dtype=float))

        def gap(y):
            return x1 - s0(1.0 - np.asarray(y, dtype=float))

        return Mixture(wrap(s0), wrap(s1), wrap(s2), None, f"{self.label} (tabulated, n={n})", gap)

    @classmethod
    def from_network(cls, activation, depth, *, sigma_w2=1.0, sigma_b2=0.0, **activation_params):
        r""":math:`\xi(q) = C_L(q) - C_L(0)` of an infinitely wide random MLP (:func:`nnlandscape.kernels.covariance`).

        ``activation`` is a registry name or an Activation; ``activation_params`` go to
        :func:`~nnlandscape.activations.get_activation` (for ``shaped_relu`` the
        shaping depth defaults to ``depth``). The Taylor coefficients are checked to
        be non-negative numerically (:math:`\xi', \xi''\ge0`, :math:`\xi''` non-decreasing
        on :math:`[0, 1)`, and :math:`|\xi(-q)| \le \xi(q)`).
        """
        from . import kernels
        from .activations import get_activation

        depth = _check_depth(depth)
        sigma_w2 = check_real("sigma_w2", sigma_w2, 0.0, low_open=True)
        sigma_b2 = check_real("sigma_b2", sigma_b2, 0.0)
        if isinstance(activation, str) and activation == "shaped_relu":
            activation_params.setdefault("depth", depth)
        if isinstance(activation, str):
            act = get_activation(activation, **activation_params)
        else:
            act = get_activation(activation, **activation_params)
        kw = dict(sigma_w2=sigma_w2, sigma_b2=sigma_b2)
        c0 = float(kernels.covariance(act, depth, 0.0, **kw))

        def xi(q):
            return kernels.covariance(act, depth, np.asarray(q, float), **kw) - c0

        def dxi(q):
            return kernels.covariance(act, depth, np.asarray(q, float), derivative=1, **kw)

        def d2xi(q):
            return kernels.covariance(act, depth, np.asarray(q, float), derivative=2, **kw)

        extra = "".join(f", {k}={v:g}" for k, v in act.params.items() if k != "depth")
        label = f"{act.name}{extra}, L={depth}, sw2={sigma_w2:g}, sb2={sigma_b2:g}"
        m = cls(xi, dxi, d2xi, None, label)
        if not float(dxi(1.0)) > 0:
            raise ValueError(f"activation={act.name!r} gives a constant network (xi = 0); nothing to study")
        _check_mixture_values(m, "activation", odd=lambda q: kernels.covariance(act, depth, -q, **kw) - c0)
        return m


def _check_depth(depth):
    if isinstance(depth, (bool, np.bool_)):
        raise ValueError(f"depth must be an integer >= 1, got {depth!r}")
    return check_int("depth", depth, 1)


def _check_mixture_values(m, name, odd=None):
    q = np.linspace(0.0, 1.0, 201)[:-1]
    try:
        v0, v1, v2 = (np.asarray(f(q), dtype=float) for f in (m.xi, m.dxi, m.d2xi))
        x1, d1 = float(m.xi(1.0)), float(m.dxi(1.0))
    except Exception as exc:  # a broken callable
        raise ValueError(f"{name}: evaluating xi failed ({exc})") from None
    if v0.shape != q.shape or not (np.all(np.isfinite(v0)) and np.all(np.isfinite(v1)) and np.all(np.isfinite(v2))):
        raise ValueError(f"{name}: xi, xi', xi'' must be finite, vectorised arrays on [0, 1)")
    if not (math.isfinite(x1) and math.isfinite(d1)):
        raise ValueError(f"{name}: xi(1) and xi'(1) must be finite")
    scale = max(abs(x1), abs(d1), 1e-300)
    tol = 1e-9 * scale
    if abs(v0[0]) > tol:
        raise ValueError(f"{name}: xi(0) must be 0 (got {v0[0]:g})")
    if v1.min() < -tol or v2.min() < -tol or np.any(np.diff(v2) < -1e-7 * (np.abs(v2[1:]) + scale)):
        raise ValueError(
            f"{name}: xi has a negative Taylor coefficient (xi', xi'' >= 0 and xi'' non-decreasing fail on [0, 1])"
        )
    if odd is not None:
        vm = np.asarray(odd(q), dtype=float)
        if np.any(np.abs(vm) > v0 + 1e-8 * scale):
            raise ValueError(f"{name}: |xi(-q)| > xi(q): a negative Taylor coefficient")


def _check_derivative_pair(F, f, name, of):
    r"""Check numerically that ``f`` is the derivative of ``F``: :math:`F(b) - F(a) = \int_a^b f` on
    200 cells of :math:`[0, 0.995]` (8-point Gauss-Legendre, error far below the tolerance
    :math:`10^{-7}` times the scale of the values for any smooth :math:`\xi`)."""
    edges = np.linspace(0.0, 0.995, 201)
    t, w = np.polynomial.legendre.leggauss(8)
    h = 0.5 * np.diff(edges)
    nodes = (edges[:-1] + h)[:, None] + h[:, None] * t
    try:
        Fe = np.asarray(F(edges), dtype=float)
        fn = np.broadcast_to(np.asarray(f(nodes.ravel()), dtype=float), nodes.size).reshape(nodes.shape)
    except Exception as exc:  # a broken callable
        raise ValueError(f"{name}: evaluating it on an array of overlaps failed ({exc})") from None
    integral = (fn * w) @ np.ones(8) * h
    scale = max(float(np.abs(Fe).max()), float(np.abs(fn).max()), 1e-300)
    err = np.abs(np.diff(Fe) - integral)
    if not np.all(np.isfinite(err)) or err.max() > 1e-7 * scale:
        j = int(np.nanargmax(err)) if np.any(np.isfinite(err)) else 0
        raise ValueError(
            f"{name} is not the derivative of {of}: on [{edges[j]:.3f}, {edges[j + 1]:.3f}] the increment of "
            f"{of} and the integral of {name} differ by {err[j]:.3g} (allowed: 1e-7 of the scale {scale:.3g})"
        )


def _check_mixture(mixture):
    if not isinstance(mixture, Mixture):
        raise ValueError(f"mixture must be a Mixture (from_coefficients / from_network), got {type(mixture).__name__}")
    return mixture


def _check_T_array(T):
    arr = check_real_array("T", T, 0.0, low_open=True)
    if arr.size == 0:
        raise ValueError("T must hold at least one temperature in (0, inf)")
    return arr


def _out(a, scalar):
    a = np.asarray(a)
    return float(a) if scalar else a


# ----------------------------------------------------------------------------
# replica-symmetric solution
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class RSSolution:
    r"""Replica-symmetric solution :math:`\beta^2\xi'(q)(1-q)^2 = q` (global minimiser of :math:`\varphi_{RS}`).

    Attributes (floats for scalar T, arrays of T's shape otherwise): ``T``, ``q``,
    ``y = 1 - q``, ``free_entropy`` :math:`\varphi`, ``free_energy`` :math:`-\varphi/\beta`,
    ``energy`` :math:`e`, ``entropy`` :math:`s` (log fraction of the sphere's volume),
    ``replicon`` :math:`\lambda_R = 1 - \beta^2\xi''(q)(1-q)^2` (RS locally stable iff >= 0).
    """

    T: np.ndarray
    q: np.ndarray
    y: np.ndarray
    free_entropy: np.ndarray
    free_energy: np.ndarray
    energy: np.ndarray
    entropy: np.ndarray
    replicon: np.ndarray

    def __getitem__(self, key):  # dict-like access
        return getattr(self, key)


def _y_grid(y_min):
    return np.unique(np.concatenate((np.geomspace(y_min, 1.0, 400), np.linspace(0.0, 1.0, 201)[1:])))


def _phi_rs(mix, beta, y):
    return 0.5 * beta * (beta * mix.gap(y)) + 0.5 * (np.log(y) + (1.0 - y) / y)


def _rs_core(mix, beta):
    """Vectorised RS global minimiser; returns y (= 1 - q) for each beta (1-d)."""
    d1 = float(mix.dxi(1.0))
    y_min = min(1e-3, 1e-3 / (beta.max() * math.sqrt(max(d1, 1e-300))))
    Y = _y_grid(max(y_min, 1e-300))
    dY = np.asarray(mix.dxi(1.0 - Y), dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):  # (beta y)^2, not beta^2 y^2: T down to ~1e-290
        G = np.square(beta[:, None] * Y) * dY - (1.0 - Y)
    pos = G > 0
    # at y = 1 (q = 0) use the sign of G for q -> 0+: G ~ q (beta^2 xi''(0) - 1) without a field
    if float(mix.dxi(0.0)) == 0.0:
        with np.errstate(over="ignore", invalid="ignore"):
            pos[:, -1] = beta * (beta * float(mix.d2xi(0.0))) > 1.0
    # phi_RS'(q) = -G / (2 y^2): a local minimum in q is a root where G turns from + (smaller q,
    # larger y) to - (larger q, smaller y); keep only those brackets (maxima are never the answer).
    ti, ji = np.nonzero(~pos[:, :-1] & pos[:, 1:])
    lo, hi = np.log(Y[ji]), np.log(Y[ji + 1])
    glo = G[ti, ji]
    for _ in range(52):
        mid = 0.5 * (lo + hi)
        ym = np.exp(mid)
        with np.errstate(over="ignore"):
            gm = np.square(beta[ti] * ym) * np.asarray(mix.dxi(1.0 - ym), dtype=float) - (1.0 - ym)
        same = (gm > 0) == (glo > 0)
        lo = np.where(same, mid, lo)
        glo = np.where(same, gm, glo)
        hi = np.where(same, hi, mid)
    roots = np.exp(0.5 * (lo + hi))
    n = len(beta)
    best_y = np.ones(n)
    with np.errstate(over="ignore"):
        best_phi = 0.5 * beta * (beta * float(mix.gap(1.0)))
    # q = 0 is a solution only without a field, and a local minimum only if beta^2 xi''(0) <= 1
    if float(mix.dxi(0.0)) > 0:
        best_phi = np.full(n, np.inf)
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            best_phi = np.where(beta * (beta * float(mix.d2xi(0.0))) <= 1.0, best_phi, np.inf)
    if roots.size:
        ph = _phi_rs(mix, beta[ti], roots)
        order = np.lexsort((ph, ti))  # per T, smallest phi first
        first = np.ones(order.size, bool)
        first[1:] = ti[order][1:] != ti[order][:-1]
        sel = order[first]
        t_sel = ti[sel]
        better = ph[sel] < best_phi[t_sel]
        best_y[t_sel[better]] = roots[sel][better]
        best_phi[t_sel[better]] = ph[sel][better]
    return best_y


def _entropy_small_y(mix, y, s_direct):
    r"""RS entropy at a root with small :math:`y = 1 - q`, free of the cancellation of two :math:`O(1/y)` terms.

    At a root :math:`\beta^2 = q/(\xi'(q)y^2)`, so :math:`s = \tfrac12[\log y + q/y - \beta^2(\xi(1)-\xi(q))]
    = \tfrac12[\log y - \frac{q}{\xi'(q)}\int_0^1 t\,\xi''(1-yt)\,dt]` (Taylor with integral remainder;
    16-point Gauss-Legendre). Entries with :math:`y \ge 10^{-4}` keep ``s_direct``.
    """
    y = np.asarray(y, dtype=float)
    small = y < 1e-4
    if not np.any(small):
        return s_direct
    ys = np.where(small, y, 1e-4)
    t, w = np.polynomial.legendre.leggauss(16)
    t, w = 0.5 * (t + 1.0), 0.5 * w
    d2 = np.asarray(mix.d2xi(1.0 - ys[..., None] * t), dtype=float)
    R = (d2 * t) @ w
    q = 1.0 - ys
    d1 = np.asarray(mix.dxi(q), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        s_small = 0.5 * (np.log(ys) - q * R / d1)
    return np.where(small & np.isfinite(s_small), s_small, s_direct)


def rs_solution(mixture, T) -> RSSolution:
    r"""Replica-symmetric solution at temperature(s) ``T`` (vectorised).

    Solves :math:`\beta^2\xi'(q)(1-q)^2 = q` for all roots (sign changes on a grid in
    :math:`\log(1-q)`, then bisection to machine precision) and keeps the global
    minimiser of :math:`\varphi_{RS}(q) = \frac{\beta^2}2(\xi(1)-\xi(q)) +
    \frac12(\log(1-q) + \frac q{1-q})`. Returns :class:`RSSolution` with
    :math:`e = -\beta(\xi(1)-\xi(q))`, :math:`s = \varphi + \beta e`, :math:`f = -T\varphi`.

    Examples
    --------
    >>> m = Mixture.from_coefficients([0, 0.5])      # spherical SK: q = 1 - T below T_c = 1
    >>> sol = rs_solution(m, 0.25)
    >>> round(sol.q, 12), round(sol.energy, 12)      # e = -1 + T/2
    (0.75, -0.875)
    """
    mix = _check_mixture(mixture)
    Ta = _check_T_array(T)
    scalar = Ta.ndim == 0
    Tf = np.atleast_1d(Ta).ravel()
    beta = 1.0 / Tf
    y = _rs_core(mix, beta)
    gap = np.asarray(mix.gap(y), dtype=float)
    phi = 0.5 * beta * (beta * gap) + 0.5 * (np.log(y) + (1.0 - y) / y)
    e = -beta * gap
    s = -0.5 * beta * (beta * gap) + 0.5 * (np.log(y) + (1.0 - y) / y)
    s = np.where(y < 1e-4, _entropy_small_y(mix, y, s), s)
    lam = _replicon(mix, beta, y)
    shape = Ta.shape
    f = lambda a: _out(np.reshape(a, shape), scalar)  # noqa: E731
    return RSSolution(f(Tf), f(1.0 - y), f(y), f(phi), f(-phi / beta), f(e), f(s), f(lam))


def _replicon(mix, beta, y):
    y = np.asarray(y, dtype=float)
    d2 = np.asarray(mix.d2xi(1.0 - y), dtype=float)
    with np.errstate(invalid="ignore"):
        val = np.square(beta * y) * d2
    val = np.where(y == 0, np.where(np.isinf(d2), np.inf, 0.0), val)
    return 1.0 - val


def replicon(mixture, T, q=None):
    r"""Replicon eigenvalue :math:`\lambda_R = 1 - \beta^2\xi''(q)(1-q)^2` (RS locally stable iff :math:`\lambda_R\ge0`).

    ``q`` defaults to the RS overlap at ``T``. The de Almeida–Thouless line is
    :math:`\lambda_R = 0`. Equal to :math:`(1-q)^2` times the Hessian eigenvalue of
    :math:`2\varphi` in the replicon sector.
    """
    mix = _check_mixture(mixture)
    Ta = _check_T_array(T)
    if q is None:
        return rs_solution(mix, T).replicon
    qa = check_finite_array("q", q)
    if np.any(qa < 0) or np.any(qa > 1):
        raise ValueError("q is out of range; allowed: [0, 1]")
    qa, Ta = np.broadcast_arrays(qa, Ta)
    out = _replicon(mix, 1.0 / Ta, 1.0 - qa)
    return _out(out, out.ndim == 0)


# ----------------------------------------------------------------------------
# exact first-order test of RS
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class FirstOrderTest:
    r"""Result of :func:`first_order_rs_test`.

    ``min_D`` is :math:`\min_u D(u)` (twice the rate of change of the Parisi functional
    when Parisi mass is moved from :math:`q` to :math:`u^*`), ``u_star`` the minimiser,
    ``replicon`` :math:`\lambda_R`; ``exact`` is ``True`` iff RS is the global minimiser of
    the (convex) Parisi functional, up to ``tol``.
    """

    T: float
    q: float
    min_D: float
    u_star: float
    replicon: float
    exact: bool
    tol: float


def _u_grid(y_min):
    return np.unique(np.concatenate((np.linspace(0.0, 1.0, 801)[:-1], 1.0 - np.geomspace(y_min, 1.0, 500)[:-1])))


def _D(mix, beta, y, v, gy=None):
    """D(u) for u = 1 - v; vectorised over matching shapes."""
    gy = mix.gap(y) if gy is None else gy
    gv = mix.gap(v)
    below = beta**2 * (gv - gy) - (v - y) * (2.0 - v - y) / (2.0 * y**2)
    with np.errstate(divide="ignore"):
        above = beta**2 * (gv - gy) + (y - v) * (1.0 - 2.0 * y) / y**2 + np.log(y / v)
    return np.where(v >= y, below, above)


def _first_order_many(mix, beta, y):
    """Grid minimum of D over u for each (beta, y): returns (min_D, u_star, tol)."""
    V = 1.0 - _u_grid(max(min(1e-4, 1e-3 * y.min()), 1e-300))
    gV = np.asarray(mix.gap(V), float)
    gy = np.asarray(mix.gap(y), float)
    b = beta[:, None]
    yy = y[:, None]
    below = b**2 * (gV - gy[:, None]) - (V - yy) * (2.0 - V - yy) / (2.0 * yy**2)
    with np.errstate(divide="ignore"):
        above = b**2 * (gV - gy[:, None]) + (yy - V) * (1.0 - 2.0 * yy) / yy**2 + np.log(yy / V)
    D = np.where(V >= yy, below, above)
    j = np.argmin(D, axis=1)
    tol = 1e-9 * (1.0 + beta**2 * mix.xi1 + 1.0 / y)
    return D[np.arange(len(beta)), j], 1.0 - V[j], tol, V


def first_order_rs_test(mixture, T) -> FirstOrderTest:
    r"""Exact test that RS is the Parisi solution at temperature T (convexity + first-order condition).

    Computes :math:`\min_{u\in[0,1)} D(u)` (module docstring) on a grid uniform in
    :math:`u` and geometric in :math:`1-u`, polished by a bounded scalar minimisation.
    RS is exact iff :math:`\min D \ge 0` (and hence :math:`\lambda_R \ge 0`).
    """
    mix = _check_mixture(mixture)
    T = check_real("T", T, 0.0, low_open=True)
    beta = 1.0 / T
    sol = rs_solution(mix, T)
    y = np.array([sol.y])
    mD, u_star, tol, V = _first_order_many(mix, np.array([beta]), y)
    mD, u_star, tol = float(mD[0]), float(u_star[0]), float(tol[0])
    # polish around the grid minimum
    v0 = 1.0 - u_star
    k = int(np.argmin(np.abs(V - v0)))
    lo, hi = V[max(k - 1, 0)], V[min(k + 1, len(V) - 1)]
    lo, hi = min(lo, hi), max(lo, hi)
    if hi > lo:
        r = optimize.minimize_scalar(lambda v: float(_D(mix, beta, y[0], np.asarray(v))), bounds=(lo, hi),
                                     method="bounded", options={"xatol": 1e-14 * max(hi, 1e-300)})
        if r.fun < mD:
            mD, u_star = float(r.fun), 1.0 - float(r.x)
    lam = float(sol.replicon)
    exact = bool(mD >= -tol and lam >= -1e-9)
    return FirstOrderTest(T, float(sol.q), mD, u_star, lam, exact, tol)


def _exact_flags(mix, T):
    T = np.atleast_1d(np.asarray(T, float))
    sol = rs_solution(mix, T)
    y = np.atleast_1d(sol.y)
    mD, _, tol, _ = _first_order_many(mix, 1.0 / T, y)
    lam = np.atleast_1d(sol.replicon)
    return (mD >= -tol) & (lam >= -1e-9), lam >= -1e-9


def rs_is_exact(mixture, T):
    """``True`` where RS is the exact Parisi solution (vectorised grid version of :func:`first_order_rs_test`)."""
    mix = _check_mixture(mixture)
    Ta = _check_T_array(T)
    ex, _ = _exact_flags(mix, np.atleast_1d(Ta).ravel())
    ex = ex.reshape(Ta.shape)
    return bool(ex) if Ta.ndim == 0 else ex


def _breaking_temperature(mix, which, T_min_rel=1e-6):
    idx = 0 if which == "exact" else 1
    d1 = float(mix.dxi(1.0))
    T_hi = 2.0 * math.sqrt(max(d1, float(mix.d2xi(0.5)), 1e-300))
    for _ in range(40):
        if _exact_flags(mix, [T_hi])[idx][0]:
            break
        T_hi *= 2.0
    Ts = np.geomspace(T_hi, T_hi * T_min_rel, 120)
    flags = _exact_flags(mix, Ts)[idx]
    bad = np.nonzero(~flags)[0]
    if bad.size == 0:
        return 0.0
    k = bad[0]
    if k == 0:
        return float(T_hi)
    a, b = Ts[k], Ts[k - 1]  # a fails, b exact
    for _ in range(50):
        m = math.sqrt(a * b)
        if _exact_flags(mix, [m])[idx][0]:
            b = m
        else:
            a = m
        if b / a - 1 < 1e-11:
            break
    return float(math.sqrt(a * b))


def rs_breaking_temperature(mixture) -> float:
    r"""Highest temperature below which RS is not the exact Parisi solution (0 if RS is exact at every T).

    Scans :math:`T` downwards with :func:`rs_is_exact` (replicon and first-order test) and
    bisects the first failure. For the pure 3-spin model this is the static (Kauzmann)
    temperature :math:`T_s\approx0.586`, where the replicon is still positive; for spherical
    SK it is 0 (RS exact, the replicon marginal below :math:`T_c`).
    Temperatures below :math:`10^{-6}` times the scan start are not resolved.
    """
    return _breaking_temperature(_check_mixture(mixture), "exact")


def replicon_temperature(mixture) -> float:
    r"""Highest temperature below which the replicon :math:`\lambda_R` of the RS solution is negative (AT line; 0 if never)."""
    return _breaking_temperature(_check_mixture(mixture), "replicon")


def static_temperature(mixture) -> float:
    r"""Static (Kauzmann) temperature of the paramagnet: :math:`T_s^2 = \max_u \xi(u)/(-u-\log(1-u))`.

    Below :math:`T_s` moving Parisi mass from 0 to :math:`u^*` lowers the functional (a
    1RSB state with :math:`m\to1` takes over). Defined for :math:`\xi'(0) = 0` (no field).
    """
    mix = _check_mixture(mixture)
    if float(mix.dxi(0.0)) > 0:
        raise ValueError("mixture has a random-field (q^1) term; the paramagnet q = 0 is not a solution")
    u = 1.0 - np.geomspace(1e-12, 1.0, 4000)[:-1]
    u = np.unique(np.concatenate((u, np.linspace(0, 1, 2001)[1:-1])))
    r = np.asarray(mix.xi(u), float) / (-u - np.log1p(-u))
    k = int(np.argmax(r))
    lo, hi = u[max(k - 1, 0)], u[min(k + 1, len(u) - 1)]
    res = optimize.minimize_scalar(lambda v: -float(mix.xi(v)) / (-v - math.log1p(-v)), bounds=(lo, hi),
                                   method="bounded", options={"xatol": 1e-13})
    return float(math.sqrt(max(r[k], -res.fun)))


def dynamic_temperature(mixture) -> float:
    r"""Dynamical (mode-coupling) temperature: :math:`T_d^2 = \max_{q\in(0,1)}\xi'(q)(1-q)/q`.

    Highest T at which the 1RSB equation with :math:`m = 1`,
    :math:`\beta^2\xi'(q)(1-q) = q`, has a solution :math:`q>0` (the plateau of the
    Crisanti–Horner–Sommers / Cugliandolo–Kurchan dynamics). :math:`\sqrt{3/8}` for
    :math:`\xi = q^3/2`; equals :math:`T_c` for a continuous transition. Requires
    :math:`\xi'(0) = 0`.
    """
    mix = _check_mixture(mixture)
    if float(mix.dxi(0.0)) > 0:
        raise ValueError("mixture has a random-field (q^1) term; T_d is defined here for xi'(0) = 0")
    q = np.unique(np.concatenate((np.geomspace(1e-9, 1.0, 2000)[:-1], np.linspace(0, 1, 2001)[1:-1])))
    r = np.asarray(mix.dxi(q), float) * (1.0 - q) / q
    k = int(np.argmax(r))
    lo, hi = q[max(k - 1, 0)], q[min(k + 1, len(q) - 1)]
    res = optimize.minimize_scalar(lambda v: -float(mix.dxi(v)) * (1 - v) / v, bounds=(lo, hi),
                                   method="bounded", options={"xatol": 1e-13})
    return float(math.sqrt(max(r[k], -res.fun)))


# ----------------------------------------------------------------------------
# zero temperature
# ----------------------------------------------------------------------------
def rs_ground_state_energy(mixture) -> float:
    r"""RS ground-state energy :math:`E_0^{RS} = -\sqrt{\xi'(1)}` (:math:`T\to0` of the RS solution,
    :math:`\beta(1-q)\to\xi'(1)^{-1/2}`). A lower bound on the true :math:`E_0`."""
    mix = _check_mixture(mixture)
    return -math.sqrt(float(mix.dxi(1.0)))


@dataclass(frozen=True)
class T0Criterion:
    r"""Zero-temperature RS criterion: ``rs`` is ``True`` iff :math:`\xi''(1)\le\xi'(1)`.

    ``dxi1`` :math:`=\xi'(1)`, ``d2xi1`` :math:`=\xi''(1)` (``inf`` for a cusp), ``ratio``
    :math:`=\xi''(1)/\xi'(1)`; the T = 0 replicon is :math:`1 - \text{ratio}`.
    """

    rs: bool
    dxi1: float
    d2xi1: float
    ratio: float

    def __bool__(self):
        return self.rs


def t0_rs_criterion(mixture) -> T0Criterion:
    r"""Is the ground state replica symmetric? :math:`\xi''(1)\le\xi'(1)` (Chen & Sen 2017).

    Derivation: at :math:`T = 0` the RS Parisi data are :math:`\gamma = 0`,
    :math:`L = \xi'(1)^{-1/2}`; the first-order condition of the convex T = 0 functional is
    :math:`F(u) = \xi(1) - \xi(u) - \xi'(1)(1-u^2)/2 \ge 0` for all :math:`u`; with
    :math:`F(1) = F'(1) = 0` and :math:`F'' = \xi'(1) - \xi''(u)` decreasing, this holds iff
    :math:`\xi''(1)\le\xi'(1)`. ReLU-type cusps (:math:`\xi''(1) = \infty`) always fail.
    """
    mix = _check_mixture(mixture)
    d1, d2 = float(mix.dxi(1.0)), float(mix.d2xi(1.0))
    ratio = math.inf if math.isinf(d2) else d2 / d1
    return T0Criterion(bool(d2 <= d1 * (1 + 1e-12)), d1, d2, ratio)


def at_most_1rsb(mixture, *, return_profile=False):
    r"""Talagrand's criterion: ``True`` if :math:`\xi''(q)^{-1/2}` is convex on :math:`(0, 1]`.

    Then the Parisi measure has at most two atoms (RS or 1RSB) at every temperature
    (Talagrand 2006, Ann. Math. 163, 221, Prop. 2.2). ``False`` means full RSB is
    *possible* (not certain). Checked with second divided differences on a grid
    (uniform plus geometric towards both ends). A pure random field
    (:math:`\xi''\equiv0`) is RS: ``True``. With ``return_profile`` also returns
    ``(q, xi''(q)^{-1/2}, convex_flags)``.
    """
    if not isinstance(return_profile, (bool, np.bool_)):
        raise TypeError(f"return_profile must be True or False, got {return_profile!r}")
    mix = _check_mixture(mixture)
    q = np.unique(np.concatenate((np.geomspace(1e-6, 1.0, 600), 1.0 - np.geomspace(1e-7, 1.0, 600)[:-1],
                                  np.linspace(0, 1, 601)[1:])))
    d2 = np.asarray(mix.d2xi(q), float)
    if np.all(d2 <= 0):
        return (True, (q, np.full_like(q, np.inf), np.ones(len(q) - 2, bool))) if return_profile else True
    q = q[d2 > 0]
    d2 = d2[d2 > 0]
    with np.errstate(divide="ignore"):
        h = 1.0 / np.sqrt(d2)
    h = np.where(np.isinf(d2), 0.0, h)
    dq1 = q[1:-1] - q[:-2]
    dq2 = q[2:] - q[1:-1]
    s1 = (h[1:-1] - h[:-2]) / dq1
    s2 = (h[2:] - h[1:-1]) / dq2
    dd = (s2 - s1) / (0.5 * (dq1 + dq2))
    scale = (np.abs(s1) + np.abs(s2)) / (0.5 * (dq1 + dq2)) + np.abs(h[1:-1]) / (0.5 * (dq1 + dq2)) ** 2 * 1e-12
    ok = dd >= -1e-6 * scale - 1e-9
    res = bool(np.all(ok))
    return (res, (q, h, ok)) if return_profile else res


def threshold_energy(mixture) -> float:
    r"""Threshold energy of the marginal 1RSB states at T = 0 (no field).

    Marginality :math:`\xi''(1)L^2 = 1` with stationarity in :math:`L` gives
    :math:`\mu = \sqrt{\xi''(1)}/\xi'(1) - L` and
    :math:`E_{th} = -\frac{\xi'(1)^2 + \xi(1)(\xi''(1)-\xi'(1))}{\xi'(1)\sqrt{\xi''(1)}}`,
    which for :math:`\xi(1) = 1` is the Auffinger–Ben Arous–Černý (2013) threshold
    :math:`-E_\infty`; :math:`-2/\sqrt3` for :math:`\xi = q^3/2` (Cugliandolo & Kurchan
    1993). If :math:`\xi''(1)\le\xi'(1)` the landscape has no marginal band and the RS
    ground state is returned; ``-inf`` for a cusp.
    """
    mix = _check_mixture(mixture)
    if float(mix.dxi(0.0)) > 0:
        raise ValueError("mixture has a random-field (q^1) term; the threshold formula here assumes xi'(0) = 0")
    x1, d1, d2 = mix.xi1, float(mix.dxi(1.0)), float(mix.d2xi(1.0))
    if math.isinf(d2):
        return -math.inf
    if d2 <= d1:
        return -math.sqrt(d1)
    return -(d1**2 + x1 * (d2 - d1)) / (d1 * math.sqrt(d2))


# ----------------------------------------------------------------------------
# entropy at given energy
# ----------------------------------------------------------------------------
def rs_entropy_curve(mixture, T):
    r"""The RS curve :math:`(e(T), s(T))` as arrays (parametric form of the RS :math:`s(E)`)."""
    sol = rs_solution(mixture, T)
    return np.asarray(sol.energy), np.asarray(sol.entropy)


def annealed_entropy(mixture, E):
    r"""Annealed bound :math:`s(E)\le -E^2/(2\xi(1))` (log of :math:`\mathbb E` of the volume fraction)."""
    mix = _check_mixture(mixture)
    Ea = check_finite_array("E", E)
    out = -(Ea**2) / (2.0 * mix.xi1)
    return _out(out, out.ndim == 0)


def microcanonical_entropy(mixture, E, *, n_beta=2000):
    r"""RS microcanonical entropy :math:`s(E)` per site: log of the fraction of the sphere with :math:`H/N \approx E`.

    Legendre–Fenchel transform :math:`s(E) = \inf_{\beta>0}[\varphi_{RS}(\beta) + \beta E]` for
    :math:`E<0` (so a first-order jump of the RS branch gives a straight segment), taken on a
    log-spaced :math:`\beta` grid and polished by a parabola through the three best points;
    :math:`s(-E) = s(E)` (the field is centred), :math:`s(0) = 0`, and
    :math:`s = -\infty` for :math:`|E| \ge \sqrt{\xi'(1)} = -E_0^{RS}`. Exact where RS is
    exact (e.g. :math:`s = -E^2` for :math:`|E|\le1/2`,
    :math:`s = -\frac14 + \frac12\log(2(1+E))` below, for :math:`\xi = q^2/2`); below the
    true :math:`E_0` the RS value is meaningless (the true :math:`s` is :math:`-\infty`).
    """
    mix = _check_mixture(mixture)
    n_beta = check_int("n_beta", n_beta, 50, 100000)
    Ea = check_finite_array("E", E)
    scalar = Ea.ndim == 0
    Ef = -np.abs(np.atleast_1d(Ea).ravel())
    e0 = rs_ground_state_energy(mix)
    scale = math.sqrt(mix.xi1)
    betas = np.geomspace(1e-4 / scale, 1e8 / scale, n_beta)
    sol = rs_solution(mix, 1.0 / betas)
    phi, en = np.asarray(sol.free_entropy), np.asarray(sol.energy)
    out = np.full(Ef.shape, -np.inf)
    ok = Ef > e0
    zero = Ef == 0
    out[zero] = 0.0
    idx = np.nonzero(ok & ~zero)[0]
    if idx.size:
        F = phi[None, :] + betas[None, :] * Ef[idx, None]
        k = np.argmin(F, axis=1)
        val = F[np.arange(idx.size), k]
        inner = (k > 0) & (k < n_beta - 1)
        kk = k[inner]
        lb = np.log(betas)
        x0, x1 = lb[kk - 1], lb[kk]
        r = np.arange(idx.size)[inner]
        f0, f1, f2 = F[r, kk - 1], F[r, kk], F[r, kk + 1]
        den = (f0 - 2 * f1 + f2)
        with np.errstate(divide="ignore", invalid="ignore"):
            # vertex of the parabola in log beta (equal spacing h)
            hstep = x1 - x0
            shift = np.where(den > 0, 0.5 * hstep * (f0 - f2) / den, 0.0)
            vmin = f1 - 0.25 * (f0 - f2) * shift / hstep
        vmin = np.where(np.isfinite(vmin) & (vmin <= f1), vmin, f1)
        val[inner] = vmin
        # beyond the grid's largest beta: s ~ s_k + 1/2 log((E - E0)/(e_k - E0))
        last = k == n_beta - 1
        if np.any(last):
            ek = en[-1]
            sk = phi[-1] + betas[-1] * ek
            val[last] = sk + 0.5 * np.log((Ef[idx][last] - e0) / (ek - e0))
        out[idx] = val
    out = out.reshape(Ea.shape)
    return _out(out, scalar)


@dataclass(frozen=True)
class ParisiEntropyCurve:
    r"""Result of :func:`parisi_entropy_curve`: the true (Parisi) :math:`s(E)` of a mixture.

    Attributes
    ----------
    E, s : the curve on a grid of energies from just above ``E0`` to 0 (:math:`s(E_0^+) = -\infty`
        is not stored; the last point is ``tail_rel`` of the way from ``E0``).
    T, energy, entropy : the solved points :math:`(e(T), s(T))` of the Parisi solution at the
        temperatures ``T`` below ``T_rsb`` (descending; empty when RS is exact everywhere).
    steps, certificate : :attr:`ParisiSolution.steps` and ``certificate`` of each solved point.
    T_rsb : the temperature below which RS is not exact (0: RS at every T > 0).
    E0, E0_rs : the true ground-state energy (zero-temperature Parisi problem) and :math:`-\sqrt{\xi'(1)}`.
    ground_state : the :class:`GroundStateSolution` behind ``E0`` (``None`` when RS is exact at T = 0).
    """

    E: np.ndarray
    s: np.ndarray
    T: np.ndarray
    energy: np.ndarray
    entropy: np.ndarray
    steps: np.ndarray
    certificate: np.ndarray
    T_rsb: float
    E0: float
    E0_rs: float
    ground_state: object = None


def parisi_entropy_curve(mixture, *, fractions=(0.7, 0.45, 0.25, 0.12, 0.05, 0.02), T_rsb=None,
                         ground_state=None, n_grid=24, refinements=0, max_steps=1, n_E=120,
                         tail_rel=1e-4) -> ParisiEntropyCurve:
    r"""The microcanonical entropy :math:`s(E)` from the Parisi solution, down to the true :math:`E_0`.

    Above :math:`T_{RSB}` (``T_rsb``, default :func:`rs_phase_boundaries`) RS is exact and
    :math:`s(E)` is :func:`microcanonical_entropy`. Below it the Parisi problem is solved
    (:func:`frsb_solution` with ``n_grid``, ``refinements``, ``max_steps``) at
    :math:`T = f\,T_{RSB}` for ``f`` in ``fractions``, which gives points
    :math:`(e(T), s(T))` of the curve with slope :math:`ds/dE = \beta` (envelope theorem); the
    curve between them is the cubic Hermite interpolant with these slopes. Below the coldest
    point :math:`(e_k, s_k)` it continues as :math:`s_k + a\log\frac{E - E_0}{e_k - E_0}`
    with :math:`a = \beta_k(e_k - E_0)` (same slope at :math:`e_k`), so that
    :math:`s \to -\infty` at the true ground state :math:`E_0` of
    :func:`frsb_ground_state` (``ground_state`` may pass a precomputed one). Where RS is
    exact at every temperature, including :math:`T = 0` (:func:`t0_rs_criterion`), the curve
    is the RS one and :math:`E_0 = E_0^{RS}`.

    The points are as accurate as the Parisi solves (their ``certificate``); that the curve
    ends at :math:`E_0` is checked independently in the tests: the energies :math:`e(T)` of the
    finite-temperature solver extrapolate to the :math:`E_0` of the zero-temperature one.
    """
    from scipy.interpolate import CubicHermiteSpline

    mix = _check_mixture(mixture)
    fr = check_real_array("fractions", fractions, 0.0, 1.0, low_open=True, high_open=True)
    fr = np.sort(np.atleast_1d(fr))[::-1]
    n_E = check_int("n_E", n_E, 10, 100000)
    tail_rel = check_real("tail_rel", tail_rel, 0.0, 0.5, low_open=True)
    e0_rs = rs_ground_state_energy(mix)
    crit = t0_rs_criterion(mix)
    scale = math.sqrt(float(mix.dxi(1.0)))
    if T_rsb is None:
        T_rsb = rs_phase_boundaries(mix, T_min=1e-4 * scale).T_exact
    T_rsb = check_real("T_rsb", T_rsb, 0.0)
    empty = np.zeros(0)
    if T_rsb == 0.0 and crit.rs:
        E = np.linspace(e0_rs, 0.0, n_E + 1)[1:]
        return ParisiEntropyCurve(E, np.asarray(microcanonical_entropy(mix, E)), empty, empty, empty,
                                  empty.astype(int), empty, 0.0, e0_rs, e0_rs, None)
    if ground_state is None:
        ground_state = frsb_ground_state(mix, n_grid=max(n_grid, 24), refinements=refinements, max_steps=max_steps)
    E0 = float(ground_state.energy)
    if T_rsb == 0.0:  # RS breaks only below the scan: a single cold point near T = 0
        T_rsb = 1e-4 * scale
    Ts = fr * T_rsb
    sols = [frsb_solution(mix, float(t), n_grid=n_grid, refinements=refinements, max_steps=max_steps) for t in Ts]
    en = np.array([p.energy for p in sols])
    sn = np.array([p.entropy for p in sols])
    rs_top = rs_solution(mix, T_rsb)
    e_top, s_top = float(rs_top.energy), float(rs_top.entropy)
    # the curve's knots, from the top (T_rsb, where Parisi = RS) down to the coldest point
    ek = np.concatenate(([e_top], en))
    sk = np.concatenate(([s_top], sn))
    bk = np.concatenate(([1.0 / T_rsb], 1.0 / Ts))
    order = np.argsort(ek)
    ek, sk, bk = ek[order], sk[order], bk[order]
    keep = np.concatenate(([True], np.diff(ek) > 1e-12 * scale))
    ek, sk, bk = ek[keep], sk[keep], bk[keep]
    lo = max(E0 + tail_rel * (e_top - E0), min(e0_rs, E0))
    E = np.linspace(lo, 0.0, n_E)
    s = np.full(E.shape, -np.inf)
    above = E >= e_top
    s[above] = microcanonical_entropy(mix, E[above])
    mid = (E < e_top) & (E >= ek[0])
    if np.any(mid) and ek.size >= 2:
        s[mid] = CubicHermiteSpline(ek, sk, bk)(E[mid])
    low = (E < ek[0]) & (E > E0)
    if np.any(low):
        gap_k = max(ek[0] - E0, 1e-300)
        a = bk[0] * gap_k
        s[low] = sk[0] + a * np.log((E[low] - E0) / gap_k)
    return ParisiEntropyCurve(E, s, Ts, en, sn, np.array([p.steps for p in sols]),
                              np.array([p.certificate for p in sols]), float(T_rsb), E0, e0_rs, ground_state)


# ----------------------------------------------------------------------------
# phase boundaries on a grid (fast, for phase diagrams)
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class PhaseBoundaries:
    r"""Result of :func:`rs_phase_boundaries`.

    ``T`` the scan grid (descending); ``exact`` / ``stable`` flags of :func:`rs_is_exact` and
    :math:`\lambda_R \ge 0` on it; ``T_exact`` the highest temperature below which RS is not
    the Parisi solution, ``T_replicon`` the highest below which :math:`\lambda_R < 0`
    (0 when the flag never fails on the grid; ``T[0]`` when it already fails at the top).
    """

    T: np.ndarray
    exact: np.ndarray
    stable: np.ndarray
    T_exact: float
    T_replicon: float


def rs_phase_boundaries(mixture, T_min=1e-3, T_max=None, *, n=48, refine=2, n_refine=12) -> PhaseBoundaries:
    r"""RS-breaking and replicon (AT) temperatures from a vectorised scan, refined by multisection.

    The same criteria as :func:`rs_breaking_temperature` and :func:`replicon_temperature`
    (exact first-order test and :math:`\lambda_R = 1 - \beta^2\xi''(q)(1-q)^2`), but found on a
    log-spaced grid of ``n`` temperatures from ``T_max`` (default
    :math:`2\sqrt{\max(\xi'(1), \xi''(1/2))}`, doubled until RS is exact there) down to
    ``T_min``, then refined ``refine`` times by evaluating ``n_refine`` points inside the
    bracketing grid cell at once: relative accuracy
    :math:`(T_{max}/T_{min})^{1/(n-1)}` to the power :math:`(n_{refine}+1)^{-refine}`,
    about :math:`10^{-3}` with the defaults. A few vectorised calls instead of a long
    bisection: meant for phase diagrams over many mixtures. Breaking below ``T_min`` is not
    seen (reported as 0).
    """
    mix = _check_mixture(mixture)
    T_min = check_real("T_min", T_min, 0.0, low_open=True)
    n = check_int("n", n, 3, 10000)
    refine = check_int("refine", refine, 0, 20)
    n_refine = check_int("n_refine", n_refine, 1, 1000)
    if T_max is None:
        T_max = 2.0 * math.sqrt(max(float(mix.dxi(1.0)), float(mix.d2xi(0.5)), 1e-300))
        for _ in range(40):
            if _exact_flags(mix, [T_max])[0][0]:
                break
            T_max *= 2.0
    T_max = check_real("T_max", T_max, T_min, low_open=True)
    Ts = np.geomspace(T_max, T_min, n)
    ex, st = _exact_flags(mix, Ts)

    def boundary(flags, idx):
        bad = np.nonzero(~flags)[0]
        if bad.size == 0:
            return 0.0
        k = bad[0]
        if k == 0:
            return float(Ts[0])
        a, b = Ts[k], Ts[k - 1]  # a fails, b holds
        for _ in range(refine):
            mid = np.geomspace(b, a, n_refine + 2)[1:-1]
            f = _exact_flags(mix, mid)[idx]
            j = np.nonzero(~f)[0]
            if j.size == 0:
                b = mid[-1]
            else:
                a = mid[j[0]]
                b = mid[j[0] - 1] if j[0] > 0 else b
        return float(math.sqrt(a * b))

    return PhaseBoundaries(Ts, ex, st, boundary(ex, 0), boundary(st, 1))
