r"""The maximum-entropy binary gate and the activations it leaves behind (symbolic and numeric).

Milletarì, Chotibut & Trevisanutto (2018, arXiv:1805.08786, Sec. 2.3) model a unit as a gate
:math:`s \in \{0, 1\}` driven by its pre-activation :math:`h`, with the maximum-entropy law
:math:`P(s\mid h) = e^{\beta s h}/Z`, :math:`Z = 1 + e^{\beta h}` (eq. 2). Then

* :math:`\langle s\rangle = \beta^{-1}\partial_h \log Z = \sigma(\beta h)` (eq. 4, the sigmoid);
* :math:`\langle j\rangle = \langle h s\rangle = \partial_\beta \log Z = h\,\sigma(\beta h)` (eq. 5,
  Swish/ESP), :math:`\mathrm{Var}\, j = \partial_\beta^2 \log Z`;
* :math:`\beta \to \infty` gives ReLU (eq. 6), :math:`\beta \to 0` the linear unit :math:`h/2`;
* the back-propagated factor :math:`g(h) = \partial_h\langle j\rangle = \sigma(\beta h)[1 + \beta h\,\sigma(-\beta h)]` (eq. 7).

:func:`derivations` returns these as sympy expressions, derived (not typed): each entry is computed
from :math:`Z` by sympy. The closed forms that follow from them are available numerically:
:func:`sup_distance_to_relu` (:math:`\sup_h |h\sigma(\beta h) - \mathrm{ReLU}(h)| = W(1/e)/\beta`,
:math:`W` the Lambert function) and :func:`swish_minimum` (at :math:`h^* = -(1 + W(1/e))/\beta`,
value :math:`-W(1/e)/\beta`). :func:`cross_entropy_saddle` does Appendix A's steepest descent.
"""
from __future__ import annotations

import numpy as np
from scipy import special

from ._checks import check_real_array

__all__ = ["derivations", "cross_entropy_saddle", "OMEGA", "sup_distance_to_relu", "swish_minimum", "swish", "g_factor"]

#: :math:`W(1/e) \approx 0.2785`, the Lambert-W number behind both closed forms below.
OMEGA = float(special.lambertw(np.exp(-1.0)).real)


def derivations():
    """Sympy derivations of the gate (a dict of expressions; symbols ``h`` real, ``beta`` positive).

    Keys: ``Z``, ``mean_s``, ``var_s``, ``mean_j``, ``var_j``, ``mean_j_direct`` (the sum over the
    two gate states), ``relu_limit`` (:math:`\\beta\\to\\infty` for :math:`h>0` and :math:`h<0`),
    ``small_beta`` (series to :math:`O(\\beta^4)`), ``g`` (derivative of :math:`\\langle j\\rangle`),
    ``g_paper`` (the paper's form), ``g_limits``, ``distance`` (for :math:`h > 0`, :math:`u = \\beta h`),
    ``u_star``, ``sup_distance``, ``h_min``, ``swish_min``, ``sigmoid_slope`` (:math:`\\partial_h \\sigma(\\beta h)`),
    and the symbols ``h``, ``beta``, ``u``.
    """
    import sympy as sp

    h = sp.Symbol("h", real=True)
    beta = sp.Symbol("beta", positive=True)
    u = sp.Symbol("u", positive=True)
    s = sp.Symbol("s")
    sig = lambda x: 1 / (1 + sp.exp(-x))  # noqa: E731
    Z = sp.summation(sp.exp(beta * s * h), (s, 0, 1))
    logZ = sp.log(Z)
    out = {"h": h, "beta": beta, "u": u, "Z": Z}
    out["mean_s"] = sp.simplify(sp.diff(logZ, h) / beta)
    out["var_s"] = sp.simplify(sp.diff(logZ, h, 2) / beta**2)
    out["mean_j"] = sp.simplify(sp.diff(logZ, beta))
    out["var_j"] = sp.simplify(sp.diff(logZ, beta, 2))
    out["mean_j_direct"] = sp.simplify(sum(h * st * sp.exp(beta * st * h) for st in (0, 1)) / Z)
    hp = sp.Symbol("hp", positive=True)
    out["relu_limit"] = (sp.limit(out["mean_j"].subs(h, hp), beta, sp.oo), sp.limit(out["mean_j"].subs(h, -hp), beta, sp.oo))
    out["small_beta"] = sp.series(out["mean_j"], beta, 0, 4).removeO()
    out["g"] = sp.simplify(sp.diff(out["mean_j"], h))
    out["g_paper"] = sig(beta * h) * (1 + beta * h * sig(-beta * h))
    out["g_limits"] = {
        "h->+oo": sp.limit(out["g"], h, sp.oo),
        "h->-oo": sp.limit(out["g"], h, -sp.oo),
        "beta->0": sp.limit(out["g"], beta, 0),
        "beta->oo, h>0": sp.limit(out["g"].subs(h, hp), beta, sp.oo),
        "beta->oo, h<0": sp.limit(out["g"].subs(h, -hp), beta, sp.oo),
    }
    # uniform distance to ReLU: for h > 0, h - h sigma(beta h) = h sigma(-beta h); in u = beta h
    # it is u sigma(-u)/beta, and the same expression holds for h < 0 with u = beta |h|.
    dist = u * sig(-u)
    out["distance"] = dist / beta
    crit = sp.solve(sp.Eq(sp.diff(dist, u), 0), u)
    out["u_star"] = sp.simplify(crit[0])
    W = sp.LambertW(sp.exp(-1))
    w = sp.Symbol("w", positive=True)  # w = W(1/e), so exp(1 + w) = 1/w

    def _lambert(expr):
        expr = sp.simplify(expr).xreplace({W: w}).subs(sp.exp(w + 1), 1 / w)
        return sp.cancel(sp.together(expr)).xreplace({w: W})

    out["sup_distance"] = _lambert(dist.subs(u, out["u_star"]) / beta)
    # minimum of Swish: d/dh [h sigma(beta h)] = 0 at h < 0
    v = sp.Symbol("v", positive=True)  # v = -beta h
    sw = -v * sig(-v) / beta  # Swish at h = -v/beta
    vstar = sp.solve(sp.Eq(sp.diff(sw, v), 0), v)
    out["h_min"] = sp.simplify(-vstar[0] / beta)
    out["swish_min"] = _lambert(sw.subs(v, vstar[0]))
    out["sigmoid_slope"] = sp.simplify(sp.diff(sig(beta * h), h))
    return out


def cross_entropy_saddle():
    r"""Appendix A by steepest descent, for one example with soft label :math:`y \in (0, 1)`.

    The exponent per example is :math:`S(\lambda) = i\lambda y + \log[q e^{-i\lambda} + 1 - q]`.
    Symbols ``qbar`` :math:`= 1 - q` and ``ybar`` :math:`= 1 - y` keep the logarithms real.
    Returns a dict with the saddle ``t_star`` :math:`= e^{-i\lambda_c}`, the value ``S_star``,
    ``cross_entropy`` :math:`= -[y\log q + (1-y)\log(1-q)]`, ``constant`` :math:`= S^* + \mathrm{CE}`
    (the "additive constant", a function of :math:`y` only) and the symbols ``y``, ``q``, ``t``.
    """
    import sympy as sp

    y = sp.Symbol("y", positive=True)
    q = sp.Symbol("q", positive=True)
    yb = sp.Symbol("ybar", positive=True)  # 1 - y
    qb = sp.Symbol("qbar", positive=True)  # 1 - q
    t = sp.Symbol("t", positive=True)  # t = exp(-i lambda)
    S = -y * sp.log(t) + sp.log(q * t + qb)
    t_star = sp.simplify(sp.solve(sp.Eq(sp.diff(S, t), 0), t)[0].subs(y, 1 - yb))
    S_star = sp.expand_log(sp.simplify(S.subs(t, t_star).subs(y, 1 - yb)), force=True)
    ce = -((1 - yb) * sp.log(q) + yb * sp.log(qb))
    const = sp.simplify(sp.expand(S_star + ce))
    return {"y": y, "q": q, "ybar": yb, "qbar": qb, "t": t, "S": S, "t_star": t_star, "S_star": S_star,
            "cross_entropy": ce, "constant": const}


def swish(h, beta):
    r""":math:`h\,\sigma(\beta h)` for arrays ``h`` and ``beta > 0`` (broadcast)."""
    beta = check_real_array("beta", beta, 0.0, low_open=True)
    h = check_real_array("h", h)
    return h * special.expit(beta * h)


def g_factor(h, beta):
    r"""The back-propagated factor :math:`g(h) = \sigma(\beta h)[1 + \beta h\,\sigma(-\beta h)]`."""
    beta = check_real_array("beta", beta, 0.0, low_open=True)
    h = check_real_array("h", h)
    return special.expit(beta * h) * (1.0 + beta * h * special.expit(-beta * h))


def sup_distance_to_relu(beta):
    r""":math:`\sup_h |h\sigma(\beta h) - \max(h, 0)| = W(1/e)/\beta`, attained at :math:`|h| = (1 + W(1/e))/\beta`."""
    beta = check_real_array("beta", beta, 0.0, low_open=True)
    return OMEGA / beta


def swish_minimum(beta):
    r"""``(h_min, value)`` of :math:`h\sigma(\beta h)`: :math:`h^* = -(1 + W(1/e))/\beta`, value :math:`-W(1/e)/\beta`."""
    beta = check_real_array("beta", beta, 0.0, low_open=True)
    return -(1.0 + OMEGA) / beta, -OMEGA / beta
