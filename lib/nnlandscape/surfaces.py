r"""Two-dimensional test surfaces whose stationary points are known exactly.

Every surface maps a batch of points ``(K, 2)`` to ``(energies (K,), gradients (K, 2))``,
the calling convention of :func:`nnlandscape.neb.nudged_elastic_band`, so a
minimum-energy-path method can be checked on them before it is trusted on a
136-dimensional loss.

* :func:`muller_brown` -- the Müller--Brown potential (Müller & Brown 1979),

  .. math::
      V(x, y) = \sum_{k=1}^{4} A_k \exp\!\big(a_k (x - x_k)^2 + b_k (x - x_k)(y - y_k)
                 + c_k (y - y_k)^2\big),

  with three minima (A, B, C) and two first-order saddles (S1 between A and C,
  S2 between C and B). :func:`muller_brown_stationary_points` refines the
  literature positions with :func:`scipy.optimize.root` on :math:`\nabla V = 0`
  (analytic Jacobian) to machine precision.
* :func:`arc_double_well` -- a double well whose minimum-energy path is the unit
  circle, known in closed form (see its docstring); :func:`arc_double_well_mep`
  returns that path.

Reference: K. Müller and L. D. Brown, *Location of saddle points and minimum energy
paths by a constrained simplex optimization procedure*, Theor. Chim. Acta 53, 75 (1979).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import optimize

from ._checks import MAX_SIZE, check_finite_array, check_int, check_real

__all__ = [
    "muller_brown",
    "muller_brown_hessian",
    "muller_brown_stationary_points",
    "StationaryPoint",
    "arc_double_well",
    "arc_double_well_mep",
]

# Müller & Brown (1979), Table 1.
_MB_A = np.array([-200.0, -100.0, -170.0, 15.0])
_MB_a = np.array([-1.0, -1.0, -6.5, 0.7])
_MB_b = np.array([0.0, 0.0, 11.0, 0.6])
_MB_c = np.array([-10.0, -10.0, -6.5, 0.7])
_MB_x0 = np.array([1.0, 0.0, -0.5, -1.0])
_MB_y0 = np.array([0.0, 0.5, 1.5, 1.0])

# Literature positions (Müller & Brown 1979; e.g. Henkelman & Jónsson 2000), refined below.
_MB_GUESSES = {
    "A": ("minimum", (-0.558, 1.442)),
    "B": ("minimum", (0.623, 0.028)),
    "C": ("minimum", (-0.050, 0.467)),
    "S1": ("saddle", (-0.822, 0.624)),
    "S2": ("saddle", (0.212, 0.293)),
}


def _points(points, name="points"):
    arr = check_finite_array(name, points)
    if arr.ndim == 1 and arr.shape == (2,):
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name} must have shape (K, 2), got {arr.shape}")
    return arr


def _mb_terms(p):
    dx = p[:, 0:1] - _MB_x0  # (K, 4)
    dy = p[:, 1:2] - _MB_y0
    q = _MB_a * dx**2 + _MB_b * dx * dy + _MB_c * dy**2
    e = _MB_A * np.exp(q)  # (K, 4)
    qx = 2 * _MB_a * dx + _MB_b * dy
    qy = _MB_b * dx + 2 * _MB_c * dy
    return e, qx, qy


def muller_brown(points):
    r"""Müller--Brown energy :math:`V` and gradient :math:`\nabla V` at a batch of points.

    Parameters
    ----------
    points : array_like, shape (K, 2) (a single point of shape (2,) is accepted)

    Returns
    -------
    energies : ndarray (K,)
    gradients : ndarray (K, 2)
        :math:`\partial_x V = \sum_k A_k e^{Q_k}(2a_k\Delta x_k + b_k \Delta y_k)`,
        :math:`\partial_y V = \sum_k A_k e^{Q_k}(b_k\Delta x_k + 2c_k \Delta y_k)`.
    """
    p = _points(points)
    e, qx, qy = _mb_terms(p)
    grad = np.stack([(e * qx).sum(1), (e * qy).sum(1)], axis=1)
    return e.sum(1), grad


def muller_brown_hessian(points):
    r"""Hessian :math:`\nabla^2 V`, shape (K, 2, 2), of the Müller--Brown potential.

    For each Gaussian term :math:`A e^{Q}`:
    :math:`\nabla^2 = A e^{Q}\,(\nabla Q \nabla Q^\top + \nabla^2 Q)` with
    :math:`\nabla^2 Q = \begin{pmatrix} 2a & b \\ b & 2c \end{pmatrix}`.
    """
    p = _points(points)
    e, qx, qy = _mb_terms(p)
    hxx = (e * (qx * qx + 2 * _MB_a)).sum(1)
    hxy = (e * (qx * qy + _MB_b)).sum(1)
    hyy = (e * (qy * qy + 2 * _MB_c)).sum(1)
    return np.stack([np.stack([hxx, hxy], -1), np.stack([hxy, hyy], -1)], -2)


@dataclass(frozen=True)
class StationaryPoint:
    """A stationary point of a 2-D surface: ``kind`` is ``"minimum"`` or ``"saddle"``."""

    name: str
    kind: str
    position: tuple  # (x, y)
    energy: float
    hessian_eigenvalues: tuple  # ascending

    @property
    def xy(self) -> np.ndarray:
        return np.array(self.position)


@lru_cache(maxsize=1)
def _mb_stationary():
    out = {}
    for name, (kind, guess) in _MB_GUESSES.items():
        sol = optimize.root(
            lambda z: muller_brown(z)[1][0],
            np.array(guess),
            jac=lambda z: muller_brown_hessian(z)[0],
            method="hybr",
            tol=1e-13,
        )  # success is judged by the gradient norm below (hybr may stop at round-off)
        z = sol.x
        grad_norm = float(np.linalg.norm(muller_brown(z)[1]))
        eig = np.linalg.eigvalsh(muller_brown_hessian(z)[0])
        n_neg = int((eig < 0).sum())
        if grad_norm > 1e-8 or n_neg != (0 if kind == "minimum" else 1):
            raise RuntimeError(f"refinement of Müller-Brown point {name} failed")  # pragma: no cover
        out[name] = StationaryPoint(
            name, kind, (float(z[0]), float(z[1])), float(muller_brown(z)[0][0]), tuple(map(float, eig))
        )
    return out


def muller_brown_stationary_points() -> dict:
    r"""The five stationary points of the Müller--Brown surface, refined to :math:`|\nabla V| < 10^{-8}`.

    Returns
    -------
    dict name -> :class:`StationaryPoint`
        minima ``"A"`` (-0.558, 1.442; V = -146.70), ``"B"`` (0.623, 0.028; -108.17),
        ``"C"`` (-0.050, 0.467; -80.77); saddles ``"S1"`` (-0.822, 0.624; -40.66, between A
        and C) and ``"S2"`` (0.212, 0.293; -72.25, between C and B). Each is checked to
        have the right Hessian signature (0 or 1 negative eigenvalue).
    """
    return dict(_mb_stationary())


def _arc_params(theta0, height, stiffness):
    theta0 = check_real("theta0", theta0, 0.0, np.pi, low_open=True, high_open=True)
    height = check_real("height", height, 0.0, low_open=True)
    stiffness = check_real("stiffness", stiffness, 0.0, low_open=True)
    return theta0, height, stiffness


def arc_double_well(points, *, theta0=np.pi / 3, height=1.0, stiffness=10.0):
    r"""A double well whose minimum-energy path (MEP) is an arc of the unit circle.

    In polar coordinates :math:`(r, \theta)`,

    .. math::
        V = \kappa (r - 1)^2 + h\,\frac{(\cos\theta - \cos\theta_0)^2}{(1 - \cos\theta_0)^2},
        \qquad \cos\theta = x / r .

    The minima sit at :math:`r = 1, \theta = \pm\theta_0` (V = 0) and the saddle between
    them at :math:`(1, 0)` with :math:`V = h`. On :math:`r = 1` the radial derivative
    vanishes, so :math:`\nabla V` is tangent to the circle: the arc
    :math:`\theta \in [-\theta_0, \theta_0]` is exactly the MEP, with energy
    :math:`h(\cos\theta - \cos\theta_0)^2/(1-\cos\theta_0)^2` at arc length
    :math:`s = \theta + \theta_0`. A straight-line initial band (the chord) has to bend
    onto it. The surface is smooth except at the origin.

    Returns ``(energies (K,), gradients (K, 2))``.
    """
    theta0, height, stiffness = _arc_params(theta0, height, stiffness)
    p = _points(points)
    x, y = p[:, 0], p[:, 1]
    r = np.hypot(x, y)
    if np.any(r == 0):
        raise ValueError("points must avoid the origin, where arc_double_well is singular")
    c0 = np.cos(theta0)
    scale = height / (1.0 - c0) ** 2
    u = x / r - c0
    energy = stiffness * (r - 1.0) ** 2 + scale * u**2
    dr = 2 * stiffness * (r - 1.0)
    du = 2 * scale * u
    r3 = r**3
    gx = dr * x / r + du * y * y / r3
    gy = dr * y / r - du * x * y / r3
    return energy, np.stack([gx, gy], axis=1)


def arc_double_well_mep(n_points=101, *, theta0=np.pi / 3, height=1.0):
    r"""The exact MEP of :func:`arc_double_well`: points on the unit circle from :math:`-\theta_0` to :math:`\theta_0`.

    Returns
    -------
    points : ndarray (n_points, 2)
    energies : ndarray (n_points,) -- :math:`h(\cos\theta-\cos\theta_0)^2/(1-\cos\theta_0)^2`
    arc_length : ndarray (n_points,) -- :math:`s = \theta + \theta_0`
    """
    n_points = check_int("n_points", n_points, 2, MAX_SIZE)
    theta0, height, _ = _arc_params(theta0, height, 1.0)
    th = np.linspace(-theta0, theta0, n_points)
    c0 = np.cos(theta0)
    energies = height * (np.cos(th) - c0) ** 2 / (1 - c0) ** 2
    return np.stack([np.cos(th), np.sin(th)], axis=1), energies, th + theta0
