r"""The infinite-width covariance recursion :math:`C_L(q)` of a random MLP.

Convention (the book's notation table). Inputs lie on the sphere
:math:`|x|^2 = N`; their overlap is :math:`q = x\cdot y / N \in [-1, 1]`.
A depth-:math:`L` network has :math:`L` hidden layers and a scalar read-out,

.. math::

    h^1 = \frac{W^1 x}{\sqrt N} + b^1,\qquad
    h^{l+1} = \frac{W^{l+1}\phi(h^l)}{\sqrt n} + b^{l+1},\qquad
    f = h^{L+1},

with weights iid :math:`\mathcal N(0, \sigma_w^2)` and biases iid
:math:`\mathcal N(0, \sigma_b^2)`. As the width :math:`n \to \infty` the
pre-activations are centred Gaussian processes (Neal 1996; Lee et al. 2018;
Matthews et al. 2018) with covariance

.. math::

    K^1(q) = \sigma_w^2 q + \sigma_b^2,\qquad
    K^{l+1}(q) = \sigma_w^2\, F\big(k_l, K^l(q)\big) + \sigma_b^2,\qquad
    F(k, c) = \mathbb E[\phi(u)\phi(v)],

where :math:`(u, v)` is centred Gaussian with :math:`\mathrm{Var}\,u =
\mathrm{Var}\,v = k` and :math:`\mathrm{Cov}(u, v) = c`, and the diagonal
:math:`k_l = K^l(1)` obeys the same map. The output covariance is
:math:`C_L(q) = \mathbb E[f(x) f(y)] = K^{L+1}(q)` (for linear :math:`\phi`
and :math:`\sigma_b^2 = 0`, :math:`C_L(q) = \sigma_w^{2(L+1)} q`).

Derivatives in :math:`q` follow by the chain rule through the layers, using
Price's theorem :math:`\partial_c F = \mathbb E[\phi'(u)\phi'(v)]`,
:math:`\partial_c^2 F = \mathbb E[\phi''(u)\phi''(v)]` (the diagonals do not
depend on :math:`q`):

.. math::

    \partial_q K^{l+1} = \sigma_w^2 F_c\, \partial_q K^l,\qquad
    \partial_q^2 K^{l+1} = \sigma_w^2\big[F_{cc}\,(\partial_q K^l)^2
    + F_c\, \partial_q^2 K^l\big].

How the one-layer map :math:`F` is evaluated
--------------------------------------------
* Two-slope piecewise-linear :math:`\phi = s_+\max(x,0) + s_-\min(x,0)`
  (``linear``, ``relu``, ``leaky_relu``, ``shaped_relu``): the generalised
  arc-cosine kernel (Cho & Saul 2009). With :math:`a = (s_++s_-)/2`,
  :math:`b = (s_+-s_-)/2`, :math:`\rho = c/k`,

  .. math::

      F = a^2 c + b^2\frac{2k}{\pi}\Big(\sqrt{1-\rho^2} + \rho\arcsin\rho\Big),\quad
      F_c = a^2 + b^2\frac{2}{\pi}\arcsin\rho,\quad
      F_{cc} = \frac{b^2}{k}\,\frac{2}{\pi}\frac{1}{\sqrt{1-\rho^2}}.

  :math:`F_{cc}` is :math:`(s_+-s_-)^2` times the Gaussian density at the
  origin (the Dirac masses of :math:`\phi''` are kept here), so for a cusp the
  second derivative at :math:`|\rho| = 1` is :math:`+\infty` (returned as
  ``inf``, never NaN).
* ``erf`` (Williams 1997): :math:`F = \frac{2}{\pi}\arcsin\frac{2c}{1+2k}`.
* ``sin``: :math:`F = e^{-k}\sinh c`, :math:`F_c = e^{-k}\cosh c`,
  :math:`F_{cc} = e^{-k}\sinh c`.
* Everything else (``tanh``, ``sigmoid``, ``swish``, ``softplus``, custom
  smooth :class:`~nnlandscape.activations.Activation` objects): the Mehler
  (Hermite) expansion of the Gaussian bivariate density,

  .. math::

      F(k, \rho k) = \sum_{n\ge 0} a_n^2 \rho^n,\qquad
      a_n = \mathbb E\big[\phi(\sqrt k\,z)\,\mathrm{He}_n(z)\big]/\sqrt{n!},

  (the "dual activation" of Daniely, Frostig & Singer 2016), so
  :math:`F_c = k^{-1}\sum n a_n^2\rho^{n-1}` and
  :math:`F_{cc} = k^{-2}\sum n(n-1) a_n^2\rho^{n-2}`. The coefficients come
  from an :math:`m`-point Gauss-Hermite rule; this is exactly 2-D
  Gauss-Hermite quadrature done once per layer and tabulated in the Hermite
  basis, after which every :math:`q` costs one short polynomial. The rule size
  :math:`m \in \{64, \dots, 2048\}` (with :math:`m/2` terms kept) is chosen
  per layer as the smallest (searching upward from one below the previous
  layer's choice) whose truncation tails, measured against
  independent 1-D quadratures by Parseval
  (:math:`\sum a_n^2 = \mathbb E\phi^2`,
  :math:`\sum n a_n^2 = k\,\mathbb E\phi'^2`,
  :math:`\sum n(n-1) a_n^2 = k^2\,\mathbb E\phi''^2`), are below
  :math:`10^{-10}` relative. Because :math:`|\rho| \le 1`, these tails bound
  the error of :math:`F, F_c, F_{cc}` uniformly in :math:`q` (the bound is
  attained only at :math:`|\rho| \to 1`; elsewhere the error is far smaller),
  so each layer map is accurate to :math:`\sim 10^{-10}` relative and
  :math:`C_L` to :math:`\sim 10^{-9}` for :math:`L \le 20` (checked
  against brute-force 2-D quadrature in the tests). The number of terms grows
  with the pre-activation variance :math:`k` (the Hermite coefficients of
  :math:`\phi(\sqrt k z)` decay like :math:`e^{-c\sqrt{n/k}}`): for ``tanh``,
  32 terms at :math:`k = 0.1`, 256 at :math:`k = 1`, 512 at :math:`k = 2.5`,
  1024 at :math:`k \approx 5`-:math:`10`. Beyond that (``tanh`` with
  :math:`k \gtrsim 10`, i.e. :math:`\sigma_w^2 \gtrsim 8`; ``swish`` or
  ``softplus`` with :math:`k \gtrsim 20`) even :math:`m = 2048` does not reach
  the tolerance; a :class:`RuntimeWarning` then reports the achieved tail,
  which still bounds the error. Cost: one matrix-vector product per layer plus
  an :math:`O(N_\text{terms}\,|q|)` polynomial evaluation.
"""
from __future__ import annotations

import functools
import math
import warnings

import numpy as np
from scipy import special

from ._checks import check_choice, check_finite_array, check_int, check_real, check_real_array
from .activations import Activation, get_activation

__all__ = [
    "covariance",
    "layer_kernels",
    "normalized_kernel",
    "fixed_point_variance",
    "chi_1",
    "one_layer_map",
]

_LEVELS = (64, 128, 256, 512, 1024, 2048)
_TAIL_RTOL = 1e-10


# ----------------------------------------------------------------------------
# one-layer maps ("duals"): F(k, c) and its c-derivatives at fixed diagonal k
# ----------------------------------------------------------------------------
def _safe_mul(a, b):
    """Product with the convention 0 * inf = 0 (a vanishing factor wins)."""
    with np.errstate(invalid="ignore"):
        return np.where((a == 0) | (b == 0), 0.0, a * b)


class _PiecewiseLinearDual:
    r"""Generalised arc-cosine kernel of :math:`s_+\max(x,0) + s_-\min(x,0)`."""

    def __init__(self, s_pos, s_neg):
        self.a2 = (0.5 * (s_pos + s_neg)) ** 2
        self.b2 = (0.5 * (s_pos - s_neg)) ** 2

    def diag(self, k):
        return (self.a2 + self.b2) * k

    def ddiag(self, k):
        return self.a2 + self.b2

    def dphi2(self, k):
        return self.a2 + self.b2

    def maps(self, k, c, order):
        rho = np.clip(c / k, -1.0, 1.0)
        out = [self.a2 * c + self.b2 * (2.0 * k / np.pi) * (np.sqrt(1.0 - rho * rho) + rho * np.arcsin(rho))]
        if order >= 1:
            out.append(self.a2 + self.b2 * (2.0 / np.pi) * np.arcsin(rho))
        if order >= 2:
            if self.b2 == 0.0:
                out.append(np.zeros_like(rho))
            else:
                s = np.sqrt(1.0 - rho * rho)
                with np.errstate(divide="ignore"):
                    out.append(np.where(s > 0, self.b2 * (2.0 / np.pi) / (k * np.where(s > 0, s, 1.0)), np.inf))
        return out


class _ErfDual:
    r"""Williams (1997): :math:`\mathbb E[\mathrm{erf}\,u\,\mathrm{erf}\,v] = \frac2\pi\arcsin\frac{2c}{1+2k}`."""

    def diag(self, k):
        return (2.0 / np.pi) * np.arcsin(2.0 * k / (1.0 + 2.0 * k))

    def ddiag(self, k):
        return (4.0 / np.pi) / ((1.0 + 2.0 * k) * np.sqrt(1.0 + 4.0 * k))

    def dphi2(self, k):
        return (4.0 / np.pi) / np.sqrt(1.0 + 4.0 * k)

    def maps(self, k, c, order):
        g = 2.0 / (1.0 + 2.0 * k)
        z = g * c  # |z| <= 2k/(1+2k) < 1
        out = [(2.0 / np.pi) * np.arcsin(z)]
        if order >= 1:
            out.append((2.0 / np.pi) * g / np.sqrt(1.0 - z * z))
        if order >= 2:
            out.append((2.0 / np.pi) * g * g * z / (1.0 - z * z) ** 1.5)
        return out


class _SinDual:
    r""":math:`\mathbb E[\sin u \sin v] = e^{-k}\sinh c`, :math:`\mathbb E[\cos u\cos v] = e^{-k}\cosh c`."""

    def diag(self, k):
        return -0.5 * np.expm1(-2.0 * k)

    def ddiag(self, k):
        return np.exp(-2.0 * k)

    def dphi2(self, k):
        return 0.5 * (1.0 + np.exp(-2.0 * k))

    def maps(self, k, c, order):
        e = np.exp(-k)
        out = [e * np.sinh(c)]
        if order >= 1:
            out.append(e * np.cosh(c))
        if order >= 2:
            out.append(e * np.sinh(c))
        return out


@functools.lru_cache(maxsize=None)
def _hermite_basis(m):
    r"""Nodes :math:`z_j`, probability weights :math:`w_j` of the m-point rule for
    :math:`\mathcal N(0,1)`, and :math:`P_{nj} = w_j\,\mathrm{He}_n(z_j)/\sqrt{n!}`
    for :math:`n < m/2`, computed through the bounded Hermite functions
    :math:`\mathrm{He}_n(z)e^{-z^2/4}/\sqrt{n!}` to avoid overflow."""
    z, w = special.roots_hermitenorm(m)
    w = w / math.sqrt(2.0 * math.pi)
    nterms = m // 2
    # omega_j = w_j e^{z_j^2/4}; zero where w_j underflowed (those nodes carry < 1e-300)
    with np.errstate(over="ignore"):
        omega = np.where(w > 0, w * np.exp(np.minimum(z * z / 4.0, 700.0)), 0.0)
    psi = np.empty((nterms, m))
    psi[0] = np.exp(-z * z / 4.0)
    psi[1] = z * psi[0]
    for n in range(1, nterms - 1):
        psi[n + 1] = (z * psi[n] - math.sqrt(n) * psi[n - 1]) / math.sqrt(n + 1)
    P = psi * omega
    P.setflags(write=False)
    z.setflags(write=False)
    w.setflags(write=False)
    return z, w, P


def _quad_expect(fn, k):
    r""":math:`\mathbb E[fn(\sqrt k z)]`, :math:`z\sim\mathcal N(0,1)`, by composite Gauss-Legendre in :math:`u = \sqrt k z`.

    For activations whose structure sits at :math:`|u| = O(1)` (every registry one): panels with
    edges :math:`0, \pm2^{-2}, \pm2^{-1}, \dots` up to :math:`\pm40\sqrt k` (beyond, the Gaussian
    weight is below :math:`e^{-800}`), 32 nodes each, so a narrow peak of a wide Gaussian (e.g.
    :math:`\mathrm{sech}^4` at :math:`k = 10^6`) and the Gaussian's own scale are both resolved,
    where a fixed Gauss-Hermite rule in :math:`z` misses the peak. Checked against adaptive
    quadrature (``scipy.integrate.quad``) in the tests.
    """
    lim = 40.0 * math.sqrt(k)
    top = max(math.ceil(math.log2(lim)), -2)
    inner = 2.0 ** np.arange(-2, top + 1)
    edges = np.unique(np.concatenate(([0.0], inner[inner < lim], [lim])))
    edges = np.concatenate((-edges[:0:-1], edges))
    t, w = _GL_NODES
    half = 0.5 * np.diff(edges)
    u = ((edges[:-1] + half)[:, None] + half[:, None] * t).ravel()
    wu = (half[:, None] * w).ravel()
    with np.errstate(over="ignore", under="ignore"):
        dens = np.exp(-0.5 * u * u / k) / math.sqrt(2.0 * math.pi * k)
        vals = np.asarray(fn(u), dtype=float) * dens
    return float(np.dot(wu, np.where(dens > 0, vals, 0.0)))


_GL_NODES = np.polynomial.legendre.leggauss(32)


class _HermiteDual:
    r"""Mehler-series one-layer map for a generic smooth activation (see module docstring).

    Where the Hermite tails do not reach the tolerance (large pre-activation variance), the
    one-dimensional expectations (the diagonal map, its derivative, :math:`\mathbb E\phi'^2`
    and the map at :math:`\rho = \pm1`) come from adaptive quadrature (:func:`_quad_expect`)
    instead, so :func:`chi_1`, :func:`fixed_point_variance` and the kernel on the diagonal
    stay accurate; the off-diagonal map keeps the series (with its warning).
    """

    def __init__(self, act):
        self.act = act
        self._cache = {}
        self._start = 0  # index into _LEVELS: layers of one recursion need similar rules
        self._k_bad = math.inf  # smallest variance seen whose series was unresolved (larger ones are too)
        self._worst = {}

    def _layer(self, k, order):
        key = float(k)
        hit = self._cache.get(key)
        if hit is not None and hit[0] >= order:
            return hit[1]
        sk = math.sqrt(k)
        n = None
        resolved = True
        for i in range(self._start, len(_LEVELS)):
            m = _LEVELS[i]
            z, w, P = _hermite_basis(m)
            u = sk * z
            phi = self.act.f(u)
            coef = P @ phi
            a2 = coef * coef
            n = np.arange(a2.size, dtype=float)
            e0 = float(w @ (phi * phi))
            tails = [(e0 - a2.sum(), e0)]
            if order >= 1:
                e1 = k * float(w @ np.square(self.act.d1(u)))
                tails.append((e1 - (n * a2).sum(), e1))
            if order >= 2:
                e2 = k * k * float(w @ np.square(self.act.d2(u)))
                tails.append((e2 - (n * (n - 1) * a2).sum(), e2))
            worst = max(abs(t) / max(s, 1e-300) for t, s in tails)
            if worst <= _TAIL_RTOL:
                self._start = max(i - 1, 0)
                break
        else:
            resolved = False
            self._k_bad = min(self._k_bad, key)
            self._worst[key] = worst  # warned about in maps(), where the series is used off the diagonal
        rec = (a2, n, e0, w, u, resolved)
        if len(self._cache) > 256:
            self._cache.clear()
        self._cache[key] = (order, rec)
        return rec

    def _edge(self, k, sign, order):
        r""":math:`\mathbb E[\phi^{(d)}(u)\phi^{(d)}(\pm u)]`, d = 0..order, by adaptive quadrature."""
        fs = (self.act.f, self.act.d1, self.act.d2)
        return [_quad_expect(lambda u, f=f: f(u) * f(sign * u), k) for f in fs[: order + 1]]

    def diag(self, k):
        if k >= self._k_bad:
            return self._edge(k, 1.0, 0)[0]
        rec = self._layer(k, 0)
        return rec[2] if rec[5] else self._edge(k, 1.0, 0)[0]

    def ddiag(self, k):
        # d/dk E[phi(sqrt(k) z)^2] = E[phi'^2 + phi phi''] (heat equation / Price)
        if k >= self._k_bad:
            return _quad_expect(lambda v: np.square(self.act.d1(v)) + self.act.f(v) * self.act.d2(v), k)
        _, _, _, w, u, resolved = self._layer(k, 0)
        if not resolved:
            return _quad_expect(lambda v: np.square(self.act.d1(v)) + self.act.f(v) * self.act.d2(v), k)
        return float(w @ (np.square(self.act.d1(u)) + self.act.f(u) * self.act.d2(u)))

    def dphi2(self, k):
        if k >= self._k_bad:
            return _quad_expect(lambda v: np.square(self.act.d1(v)), k)
        _, _, _, w, u, resolved = self._layer(k, 0)
        if not resolved:
            return _quad_expect(lambda v: np.square(self.act.d1(v)), k)
        return float(w @ np.square(self.act.d1(u)))

    def maps(self, k, c, order):
        a2, n, _, _, _, resolved = self._layer(k, order)
        rho = np.clip(c / k, -1.0, 1.0)
        if not resolved:  # the series is inaccurate: exact 1-D quadrature at rho = +-1
            if np.any(np.abs(rho) < 1.0):
                warnings.warn(
                    f"{self.act.name}: Hermite series for pre-activation variance k={k:.4g} only reaches "
                    f"relative tail {self._worst.get(float(k), math.nan):.2g} with m={_LEVELS[-1]} nodes; "
                    "kernel accuracy is reduced off the diagonal (|q| < 1)",
                    RuntimeWarning,
                    stacklevel=4,
                )
            out = self._maps_series(a2, n, k, rho, order)
            for sign in (1.0, -1.0):
                at = rho == sign
                if np.any(at):
                    vals = self._edge(k, sign, order)
                    for d in range(order + 1):
                        out[d] = np.where(at, vals[d], out[d])
            return out
        return self._maps_series(a2, n, k, rho, order)

    @staticmethod
    def _maps_series(a2, n, k, rho, order):
        # Vandermonde rho^j, j < len(a2); |rho| <= 1 so it is well conditioned
        V = np.cumprod(np.broadcast_to(rho[..., None], rho.shape + (a2.size,)), axis=-1)
        V = np.concatenate([np.ones(rho.shape + (1,)), V[..., :-1]], axis=-1)
        out = [V @ a2]
        if order >= 1:
            out.append((V[..., :-1] @ (n[1:] * a2[1:])) / k)
        if order >= 2:
            out.append((V[..., :-2] @ (n[2:] * (n[2:] - 1) * a2[2:])) / (k * k))
        return out


def _dual(act: Activation):
    if act.slopes is not None:
        return _PiecewiseLinearDual(*act.slopes)
    if act.name == "erf":
        return _ErfDual()
    if act.name == "sin":
        return _SinDual()
    return _HermiteDual(act)


# ----------------------------------------------------------------------------
# argument handling
# ----------------------------------------------------------------------------
def _resolve(activation):
    if isinstance(activation, Activation):
        return activation
    if not isinstance(activation, str):
        raise ValueError(f"activation must be a registry name or an Activation, got {activation!r}")
    return get_activation(activation)


def _check_common(activation, depth, sigma_w2, sigma_b2):
    act = _resolve(activation)
    depth = check_int("depth", depth, 1)
    sigma_w2 = check_real("sigma_w2", sigma_w2, 0.0, low_open=True)
    sigma_b2 = check_real("sigma_b2", sigma_b2, 0.0)
    return act, depth, sigma_w2, sigma_b2


def _check_q(q):
    return check_real_array("q", q, -1.0, 1.0)


#: Largest depth * len(q) the recursion accepts (~10 s of work on one core; far beyond any
#: network in the book: the kernel has converged to its fixed point long before).
MAX_WORK = 10**8
MAX_DEPTH = 10**5


def _check_cost(depth, n_q, keep=False):
    """Refuse up front a recursion that cannot finish in reasonable time or memory."""
    if depth > MAX_DEPTH:
        raise ValueError(f"depth={depth} is out of range; allowed: integers in [1, {MAX_DEPTH}] "
                         "(the cost grows linearly with depth)")
    if depth * max(n_q, 1) > MAX_WORK:
        raise ValueError(f"depth * len(q) = {depth * n_q:.3g} exceeds the limit {MAX_WORK:.0e} "
                         "(kernels.MAX_WORK); evaluate fewer overlaps or a smaller depth")


# ----------------------------------------------------------------------------
# the recursion
# ----------------------------------------------------------------------------
def _unscale(x, log_s):
    """``x * exp(log_s)`` without 0 * inf: overflows to +-inf and underflows to 0 honestly."""
    x = np.asarray(x, dtype=float)
    if log_s == 0.0:
        return x
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        ax = np.abs(x)
        out = np.sign(x) * np.exp(np.log(np.where(ax > 0, ax, 1.0)) + log_s)
        return np.where(ax > 0, np.where(np.isinf(ax), x, out), 0.0)


_TINY, _HUGE = 1e-150, 1e150  # the recursion rescales (exactly) when the variance leaves this range


def _recursion(act, depth, q, sigma_w2, sigma_b2, order, keep=False, scaled=False):
    """Run K^1 -> K^{L+1}; return the final (K, dK, d2K), diagonals, and optionally all layers.

    Deep networks drive the variance to 0 or infinity (ReLU at sigma_w2 = 1 halves it per layer).
    For a positively homogeneous map (piecewise-linear phi) F(s k, s c) = s F(k, c), so k, c and
    the q-derivatives are carried divided by a common scale e^{log_s} (sigma_b2 enters as
    sigma_b2 e^{-log_s}) whenever k leaves [1e-150, 1e150]: exact up to one rounding per
    rescale. A smooth phi with phi(0) = 0 whose variance falls below 1e-150 at sigma_b2 = 0 is
    linear to relative accuracy 1e-150 there and continues as the linear map of slope phi'(0).
    With ``scaled=True`` the result is returned scaled together with ``log_s`` (for ratios).
    """
    dual = _dual(act)
    homog = isinstance(dual, _PiecewiseLinearDual)
    log_s = 0.0
    k = sigma_w2 + sigma_b2
    c = sigma_w2 * q + sigma_b2
    dc = np.full_like(q, sigma_w2)
    d2c = np.zeros_like(q)
    diags = [k]
    layers = [c]

    def rescale(k, c, dc, d2c, log_s):
        # (dc, d2c are only tracked, hence only scaled, up to the requested order)
        return 1.0, c / k, dc / k if order >= 1 else dc, d2c / k if order >= 2 else d2c, log_s + math.log(k)

    for _ in range(depth):
        if not homog and sigma_b2 == 0.0 and 0.0 < k < _TINY and float(act.f(0.0)) == 0.0:
            slope = float(act.d1(0.0))
            dual, homog = _PiecewiseLinearDual(slope, slope), True
        if homog and (k < _TINY or k > _HUGE) and 0.0 < k < math.inf:
            k, c, dc, d2c, log_s = rescale(k, c, dc, d2c, log_s)
        b2 = math.exp(math.log(sigma_b2) - log_s) if (log_s and sigma_b2 > 0) else sigma_b2
        maps = dual.maps(k, c, order)
        c_new = sigma_w2 * maps[0] + b2
        if order >= 2:
            d2c = sigma_w2 * (_safe_mul(maps[2], dc * dc) + _safe_mul(maps[1], d2c))
        if order >= 1:
            dc = sigma_w2 * _safe_mul(maps[1], dc)
        c = c_new
        k = sigma_w2 * float(dual.diag(k)) + b2
        diags.append(float(_unscale(k, log_s)))
        if keep:
            layers.append(_unscale(c, log_s))
    if order >= 2:
        d2c = np.where(np.isnan(d2c), np.inf, d2c)  # unreachable for registry activations
    out = (c, dc, d2c)[order]
    if scaled:
        return out, log_s
    return _unscale(out, log_s), np.array(diags), layers


def covariance(activation, depth, q, *, sigma_w2=1.0, sigma_b2=0.0, derivative=0):
    r"""Output covariance :math:`C_L(q) = \mathbb E[f(x)f(y)]` of an infinitely wide random MLP.

    Computes :math:`C_L(q) = K^{L+1}(q)` (module docstring) or its first or
    second derivative in the overlap :math:`q`, by the chain rule and Price's
    theorem through the :math:`L+1` layer maps. Closed forms for
    piecewise-linear (Cho & Saul 2009), ``erf`` (Williams 1997) and ``sin``;
    Mehler/Gauss-Hermite series otherwise, accurate to :math:`\sim10^{-10}`
    relative for typical parameters (module docstring).

    Parameters
    ----------
    activation : str or Activation
        Registry name (``"relu"``, ``"tanh"``, ...) or an object from
        :func:`~nnlandscape.activations.get_activation`.
    depth : int
        Number of hidden layers :math:`L \ge 1`.
    q : float or array_like
        Overlaps :math:`q = x\cdot y/N \in [-1, 1]`; vectorised.
    sigma_w2, sigma_b2 : float
        Weight variance :math:`\sigma_w^2 > 0` and bias variance :math:`\sigma_b^2 \ge 0`.
    derivative : {0, 1, 2}
        Return :math:`C_L`, :math:`C_L'` or :math:`C_L''`.

    Returns
    -------
    ndarray or numpy scalar with the shape of ``q``. For a cusp
    (:math:`s_+ \ne s_-`) the second derivative at :math:`q = \pm1` is ``inf``.

    Examples
    --------
    >>> float(covariance("linear", 2, 0.5, sigma_w2=2.0))   # sigma_w^{2(L+1)} q
    4.0
    >>> float(covariance("relu", 1, 1.0, sigma_w2=2.0))     # ReLU at sigma_w^2 = 2 preserves the norm
    2.0
    """
    act, depth, sigma_w2, sigma_b2 = _check_common(activation, depth, sigma_w2, sigma_b2)
    derivative = check_choice("derivative", derivative, (0, 1, 2))
    q = _check_q(q)
    _check_cost(depth, q.size)
    out, _, _ = _recursion(act, depth, q, sigma_w2, sigma_b2, derivative)
    return out[()]


def layer_kernels(activation, depth, q, *, sigma_w2=1.0, sigma_b2=0.0):
    r"""All layer covariances :math:`K^1(q), \dots, K^{L+1}(q)` and the diagonals :math:`k_l = K^l(1)`.

    Returns
    -------
    K : ndarray, shape ``(L+1,) + q.shape``
        ``K[l-1] = K^l(q)``; ``K[L] = C_L(q)`` is the read-out covariance.
    diag : ndarray, shape ``(L+1,)``
        The diagonal recursion :math:`k_1 = \sigma_w^2 + \sigma_b^2`,
        :math:`k_{l+1} = \sigma_w^2\,\mathbb E[\phi(\sqrt{k_l}z)^2] + \sigma_b^2`.
    """
    act, depth, sigma_w2, sigma_b2 = _check_common(activation, depth, sigma_w2, sigma_b2)
    q = _check_q(q)
    _check_cost(depth, q.size, keep=True)
    _, diags, layers = _recursion(act, depth, q, sigma_w2, sigma_b2, 0, keep=True)
    return np.stack(layers), diags


def normalized_kernel(activation, depth, q, *, sigma_w2=1.0, sigma_b2=0.0, derivative=0):
    r"""Normalised covariance :math:`\mathcal K(q) = C_L(q)/C_L(1)` and its q-derivatives.

    :math:`\mathcal K(1) = 1` exactly (same recursion evaluated at :math:`q=1`);
    :math:`\mathcal K'(1)` and :math:`\mathcal K''(1)` are the inputs to the
    Kac-Rice complexity of isotropic random fields on the sphere.
    """
    act, depth, sigma_w2, sigma_b2 = _check_common(activation, depth, sigma_w2, sigma_b2)
    derivative = check_choice("derivative", derivative, (0, 1, 2))
    q = _check_q(q)
    _check_cost(depth, q.size + 1)
    flat = np.concatenate([q.ravel(), [1.0]])
    # both recursions carry the same scale (it depends on the diagonal only): the ratio is exact
    val, log_s = _recursion(act, depth, flat, sigma_w2, sigma_b2, 0, scaled=True)
    c1 = val[-1]
    if derivative:
        val, log_d = _recursion(act, depth, flat, sigma_w2, sigma_b2, derivative, scaled=True)
        assert log_d == log_s
    return (val[:-1] / c1).reshape(q.shape)[()]


def one_layer_map(activation, k, c, *, derivative=0):
    r""":math:`\partial_c^d\,\mathbb E[\phi(u)\phi(v)]` for :math:`\mathrm{Var}\,u = \mathrm{Var}\,v = k`, :math:`\mathrm{Cov} = c`.

    The bare Gaussian expectation (no :math:`\sigma_w^2, \sigma_b^2`), vectorised
    over ``c`` with :math:`|c| \le k`; ``derivative`` = 1, 2 give
    :math:`\mathbb E[\phi'\phi']`, :math:`\mathbb E[\phi''\phi'']` (Price).
    """
    act = _resolve(activation)
    k = check_real("k", k, 0.0, low_open=True)
    derivative = check_choice("derivative", derivative, (0, 1, 2))
    c = check_finite_array("c", c)
    if c.size and np.abs(c).max() > k:
        raise ValueError(f"c is out of range; allowed: |c| <= k = {k:g}")
    return _dual(act).maps(k, c, derivative)[derivative][()]


# ----------------------------------------------------------------------------
# order-to-chaos quantities (Poole et al. 2016; Schoenholz et al. 2017)
# ----------------------------------------------------------------------------
def fixed_point_variance(activation, *, sigma_w2=1.0, sigma_b2=0.0, max_iter=500):
    r"""Fixed point :math:`q^*` of the diagonal map :math:`V(q) = \sigma_w^2\mathbb E[\phi(\sqrt q z)^2] + \sigma_b^2`.

    Iterates :math:`V` from the first-layer variance :math:`q_0 = \sigma_w^2 +
    \sigma_b^2` (the value a network actually starts from), switching to Newton
    steps on :math:`V(q) - q` (with :math:`V' = \sigma_w^2\mathbb E[\phi'^2 +
    \phi\phi'']`) wherever :math:`V' < 1`, until the step is below
    :math:`10^{-14}(1+q)`. Returns ``inf`` when the variance diverges (e.g.
    ReLU with :math:`\sigma_w^2 > 2`). Piecewise-linear: closed form
    :math:`q^* = \sigma_b^2 / (1 - \sigma_w^2(s_+^2+s_-^2)/2)`; when
    :math:`\sigma_w^2(s_+^2+s_-^2)/2 = 1` and :math:`\sigma_b^2 = 0` every
    :math:`q` is fixed and :math:`q_0` is returned.
    """
    act = _resolve(activation)
    sigma_w2 = check_real("sigma_w2", sigma_w2, 0.0, low_open=True)
    sigma_b2 = check_real("sigma_b2", sigma_b2, 0.0)
    max_iter = check_int("max_iter", max_iter, 1)
    dual = _dual(act)
    q0 = sigma_w2 + sigma_b2
    if act.slopes is not None:
        gain = sigma_w2 * dual.diag(1.0)
        if gain < 1.0:
            return sigma_b2 / (1.0 - gain)
        if gain == 1.0 and sigma_b2 == 0.0:
            return q0
        return math.inf
    q = q0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(max_iter):
            if q > 1e8 * (1.0 + q0):  # grew far beyond its start: no fixed point
                return math.inf
            if q == 0.0:
                return 0.0
            vq = sigma_w2 * dual.diag(q) + sigma_b2
            gp = sigma_w2 * dual.ddiag(q) - 1.0
            q_new = q - (vq - q) / gp if gp < 0.0 else vq
            if q_new < 0.0:
                q_new = vq
            if abs(q_new - q) <= 1e-14 * (1.0 + q):
                return float(q_new)
            q = q_new
    return float(q)


def chi_1(activation, *, sigma_w2=1.0, sigma_b2=0.0):
    r"""Order-to-chaos parameter :math:`\chi_1 = \sigma_w^2\,\mathbb E[\phi'(\sqrt{q^*}z)^2]`.

    The slope of the correlation map at :math:`\rho = 1` on the fixed point
    :math:`q^*` (:func:`fixed_point_variance`): :math:`\chi_1 < 1` ordered,
    :math:`= 1` edge of chaos, :math:`> 1` chaotic (Poole et al. 2016;
    Schoenholz et al. 2017). For piecewise-linear :math:`\phi` it is
    :math:`\sigma_w^2(s_+^2+s_-^2)/2` at any :math:`q`; when :math:`q^* = \infty`
    the large-:math:`q` limit is returned.
    """
    act = _resolve(activation)
    sigma_w2 = check_real("sigma_w2", sigma_w2, 0.0, low_open=True)
    sigma_b2 = check_real("sigma_b2", sigma_b2, 0.0)
    dual = _dual(act)
    if act.slopes is not None:
        return sigma_w2 * dual.dphi2(1.0)
    qs = fixed_point_variance(act, sigma_w2=sigma_w2, sigma_b2=sigma_b2)
    if qs == 0.0:
        return sigma_w2 * float(act.d1(0.0)) ** 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return sigma_w2 * float(dual.dphi2(qs if math.isfinite(qs) else 1e8 * (1.0 + sigma_w2 + sigma_b2)))
