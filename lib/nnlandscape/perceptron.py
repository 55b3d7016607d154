r"""Reference theory of the spherical perceptron: Gardner's capacity, Cover's count, the RS overlap.

The spherical perceptron stores :math:`P = \alpha N` patterns :math:`\xi^\mu` with labels
:math:`y^\mu` if some :math:`w`, :math:`|w|^2 = N`, has all stabilities
:math:`y^\mu w\cdot\xi^\mu/\sqrt N \ge \kappa`.

* **Cover (1965).** Of the :math:`2^P` labellings of :math:`P` points in general position in
  :math:`\mathbb R^N`, exactly :math:`C(P, N) = 2\sum_{k=0}^{N-1}\binom{P-1}{k}` are linearly
  separable through the origin (:func:`cover_count`, :func:`cover_fraction`); the fraction is
  :math:`1/2` at :math:`P = 2N`.
* **Gardner (1988).** The replica-symmetric volume of solutions vanishes at
  :math:`\alpha_c(\kappa) = \left[\int_{-\kappa}^\infty Dt\,(t+\kappa)^2\right]^{-1}`, with
  :math:`Dt` the standard Gaussian measure; :math:`\alpha_c(0) = 2` (:func:`gardner_capacity`).
* **Typical overlap** (Gardner 1988; Engel & Van den Broeck 2001, ch. 6). Two solutions drawn
  uniformly from the solution space have overlap :math:`q = w_a\cdot w_b/N` given by the stationary
  point of the RS entropy

  .. math:: s(q) = \tfrac12\ln(1-q) + \frac{q}{2(1-q)}
            + \alpha\int Dz\,\ln H\!\left(\frac{\kappa + \sqrt q\, z}{\sqrt{1-q}}\right),
            \qquad H(x) = \int_x^\infty Dt,

  (:func:`rs_overlap`); :math:`q \to 1` as :math:`\alpha \to \alpha_c(\kappa)`. For
  :math:`\kappa \ge 0` the solution space is convex and RS is exact.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import integrate, optimize, special

from ._checks import check_int, check_real

__all__ = ["gardner_capacity", "cover_count", "cover_fraction", "rs_overlap", "rs_entropy_slope"]


def gardner_capacity(kappa=0.0):
    r"""Gardner's capacity :math:`\alpha_c(\kappa)` of the spherical perceptron."""
    kappa = check_real("kappa", kappa)
    if kappa >= 0:  # closed form, all terms positive: (1 + kappa^2) Phi(kappa) + kappa phi(kappa)
        # -> alpha_c ~ 1/kappa^2 -> 0 for kappa -> inf (exactly 0.0 once kappa^2 overflows)
        val = (1.0 + kappa * kappa) * special.ndtr(kappa) + kappa * math.exp(-0.5 * kappa * kappa) / math.sqrt(2 * math.pi)
        return 1.0 / val
    # kappa < 0: t = s - kappa gives phi(kappa) * int_0^inf s^2 exp(kappa s - s^2/2) ds (no cancellation)
    f = lambda s: s * s * math.exp(kappa * s - 0.5 * s * s)
    inner, _ = integrate.quad(f, 0.0, np.inf, epsabs=0.0, epsrel=1e-12)
    log_ac = 0.5 * kappa * kappa + 0.5 * math.log(2 * math.pi) - math.log(inner)
    if log_ac > 700.0:
        raise ValueError(f"kappa={kappa!r} is out of range: alpha_c(kappa) = exp({log_ac:.4g}) overflows a float; "
                         "allowed: kappa > about -37")
    return math.exp(log_ac)


def cover_count(P, N):
    r"""Cover's number :math:`C(P, N)` of linearly separable labellings (exact integer)."""
    P = check_int("P", P, 1)
    N = check_int("N", N, 1)
    return 2 * sum(math.comb(P - 1, k) for k in range(min(N, P)))  # C(P-1, k) = 0 for k >= P


def cover_fraction(P, N):
    r"""Fraction :math:`C(P, N)/2^P` of separable labellings."""
    P = check_int("P", P, 1)
    N = check_int("N", N, 1)
    # C(P, N)/2^P = Prob(Binomial(P-1, 1/2) <= N-1): no overflow of 2^P or of the count for large P
    return 1.0 if N >= P else float(special.betainc(P - N, N, 0.5))  # = bdtr(N-1, P-1, 1/2), any P


_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(201)
_GH_W = _GH_W / _GH_W.sum()


def rs_entropy_slope(q, alpha, kappa=0.0):
    r""":math:`ds/dq` of the RS entropy (module docstring), by Gauss-Hermite quadrature.

    ``kappa`` is limited to ``|kappa| <= 1e6``: the quadrature squares :math:`(\kappa+\sqrt q z)/\sqrt{1-q}`,
    which overflows to NaN for ``|kappa|`` near 1e150, and margins that large have no use here.
    """
    q = check_real("q", q, 0, 1, low_open=True, high_open=True)
    alpha = check_real("alpha", alpha, 0)
    kappa = check_real("kappa", kappa, -1e6, 1e6)
    z = _GH_X
    sq, r = math.sqrt(q), math.sqrt(1 - q)
    u = (kappa + sq * z) / r
    du = z / (2 * sq * r) + (kappa + sq * z) / (2 * r**3)
    # d ln H(u)/du = -G(u)/H(u), computed in logs
    ratio = np.exp(-0.5 * u * u - 0.5 * math.log(2 * math.pi) - special.log_ndtr(-u))
    return q / (2 * (1 - q) ** 2) - alpha * np.sum(_GH_W * ratio * du)


def rs_overlap(alpha, kappa=0.0):
    r"""Typical overlap :math:`q^*(\alpha, \kappa)` of two solutions (root of :math:`ds/dq`)."""
    alpha = check_real("alpha", alpha, 0, low_open=True)
    kappa = check_real("kappa", kappa)
    ac = gardner_capacity(kappa)
    if alpha >= ac:
        raise ValueError(f"alpha={alpha} is out of range; allowed: (0, alpha_c(kappa)) = (0, {ac:.6g})")
    lo, hi = 1e-10, 1 - 1e-10
    if rs_entropy_slope(lo, alpha, kappa) * rs_entropy_slope(hi, alpha, kappa) > 0:
        raise ValueError(f"no RS overlap in (0, 1) for alpha={alpha}, kappa={kappa}")
    return optimize.brentq(rs_entropy_slope, lo, hi, args=(alpha, kappa), xtol=1e-13)
