r"""Depth-continuum (ODE) limit of the shaped-ReLU kernel.

The shaped ReLU of depth :math:`L` has slopes :math:`s_\pm = 1 \pm c/\sqrt L`
(:func:`nnlandscape.activations.get_activation`). With :math:`\sigma_b^2 = 0` its layer map
(arc-cosine kernel, Cho & Saul 2009, with :math:`a = (s_++s_-)/2 = 1`,
:math:`b = (s_+-s_-)/2 = c/\sqrt L`) sends the correlation :math:`\rho = K^l(q)/K^l(1)` to

.. math::

    \rho' = \frac{\rho + \frac{c^2}{L}J(\rho)}{1 + \frac{c^2}{L}},\qquad
    J(\rho) = \frac2\pi\Big(\sqrt{1-\rho^2} + \rho\arcsin\rho\Big),

so :math:`\rho' - \rho = \frac{c^2}{L}(J(\rho) - \rho) + O(L^{-2})`. After the :math:`L`
layer maps of a depth-:math:`L` network (:math:`t = l/L \in [0, 1]`), the correlation solves

.. math::

    \frac{d\rho}{dt} = c^2\big(J(\rho) - \rho\big)
    = \frac{2c^2}{\pi}\Big(\sqrt{1-\rho^2} - \rho\arccos\rho\Big),\qquad \rho(0) = q,

the drift of the shaped-network limit of Li, Nica & Roy (2022) (there with a width-to-depth
ratio; here at infinite width the correlation is deterministic). The diagonal grows as
:math:`\sigma_w^2(\sigma_w^2(1 + c^2/L))^L \to \sigma_w^{2(L+1)}e^{c^2}`, so at
:math:`\sigma_w^2 = 1`, :math:`C_L(q) \to e^{c^2}\rho(1; q)`. The error at depth :math:`L`
is :math:`O(c^4/L)`.
"""
from __future__ import annotations

import numpy as np
from scipy import integrate

from ._checks import check_finite_array, check_real

__all__ = ["shaped_relu_correlation_limit", "shaped_relu_drift"]


def shaped_relu_drift(rho, c):
    r"""Drift :math:`\nu(\rho) = \frac{2c^2}{\pi}(\sqrt{1-\rho^2} - \rho\arccos\rho)` (vectorised, :math:`|\rho|\le1`)."""
    c = check_real("c", c)
    rho = np.clip(check_finite_array("rho", rho), -1.0, 1.0)
    return (2.0 * c * c / np.pi) * (np.sqrt(1.0 - rho * rho) - rho * np.arccos(rho))


def shaped_relu_correlation_limit(q, c, t=1.0):
    r"""Solution :math:`\rho(t; q)` of the shaped-ReLU correlation ODE (module docstring).

    :math:`\lim_{L\to\infty} C_L(q)/C_L(1)` of a depth-:math:`L` shaped-ReLU network with
    :math:`\sigma_b^2 = 0` (any :math:`\sigma_w^2`) at ``t = 1``. Vectorised over ``q``
    (one ``solve_ivp`` call with ``rtol = 1e-10``).

    Parameters
    ----------
    q : array_like in [-1, 1]
    c : float, the shaping constant.
    t : float >= 0, depth fraction.
    """
    # |c| <= 20: the limit covariance e^{c^2} rho overflows from |c| ~ 26 and the ODE turns stiff
    c = check_real("c", c, -20.0, 20.0)
    t = check_real("t", t, 0.0, 1e6)
    q = check_finite_array("q", q)
    if q.size and (q.min() < -1.0 or q.max() > 1.0):
        raise ValueError(f"q is out of range (got values in [{q.min():g}, {q.max():g}]); allowed: [-1, 1]")
    flat = q.ravel().astype(float)
    if t == 0.0 or c == 0.0 or flat.size == 0:
        return flat.reshape(q.shape)[()]

    def rhs(_, r):
        return shaped_relu_drift(r, c)

    sol = integrate.solve_ivp(rhs, (0.0, t), flat, method="DOP853", rtol=1e-10, atol=1e-12)
    return np.clip(sol.y[:, -1], -1.0, 1.0).reshape(q.shape)[()]
