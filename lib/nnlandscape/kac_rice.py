r"""Kac-Rice counts of critical points of isotropic Gaussian fields on the sphere :math:`S^d`.

A random MLP on the sphere at infinite width is a centred isotropic Gaussian
field :math:`f` on :math:`S^d \subset \mathbb R^{d+1}` with covariance
:math:`\mathbb E[f(x)f(y)] = K(\langle x, y\rangle)`; we normalise
:math:`K(1) = 1` and write :math:`k_1 = K'(1)`, :math:`k_2 = K''(1)`.

Hessian at a point (Cheng & Schwartzman 2018, Lemma 3.2). In an orthonormal
frame of the tangent space (normal coordinates), with :math:`\nabla f` the
spherical gradient and :math:`\nabla^2 f` the covariant Hessian,

.. math::

    \mathbb E[f_i f_j] = k_1\delta_{ij},\quad
    \mathbb E[f\,f_{ij}] = -k_1\delta_{ij},\quad
    \mathbb E[f_{ij}f_{kl}] = k_2(\delta_{ik}\delta_{jl} + \delta_{il}\delta_{jk})
    + (k_1 + k_2)\delta_{ij}\delta_{kl},

and :math:`\nabla f` is independent of :math:`(f, \nabla^2 f)`. Hence
:math:`\nabla^2 f \overset{d}{=} \sqrt{k_2}\,G + \xi I` with :math:`G` a GOE
matrix (:math:`\mathrm{Var}\,G_{ii} = 2`, :math:`\mathrm{Var}\,G_{ij} = 1`)
and :math:`\xi \sim \mathcal N(0, k_1 + k_2)` independent of :math:`G`,
:math:`\mathrm{Cov}(f, \xi) = -k_1`.

Kac-Rice (Adler & Taylor 2007, Thm 11.2.1; Auffinger, Ben Arous & Černý 2013)
for the number :math:`N_k(u)` of critical points of index :math:`k`
(:math:`k` negative Hessian eigenvalues: 0 = minimum, :math:`d` = maximum)
with :math:`f > u`:

.. math::

    \mathbb E N_k(u) = \frac{|S^d|}{(2\pi k_1)^{d/2}}\,
    \mathbb E\big[|\det(\sqrt{k_2}G + \xi I)|\,
    \mathbf 1\{\mathrm{ind} = k\}\,\mathbf 1\{f > u\}\big],
    \qquad |S^d| = \frac{2\pi^{(d+1)/2}}{\Gamma(\frac{d+1}{2})}.

Conditioning on :math:`\xi` leaves a one-dimensional integral,

.. math::

    \mathbb E N_k(u) = \frac{|S^d|}{(2\pi k_1)^{d/2}}\int
    k_2^{d/2} F_k\!\big(\xi/\sqrt{k_2}\big)\,
    \bar\Phi\!\Big(\frac{u + k_1\xi/(k_1+k_2)}{\tau}\Big)\,
    \varphi_{k_1+k_2}(\xi)\,d\xi,\quad
    \tau^2 = 1 - \frac{k_1^2}{k_1+k_2},

with the GOE function :math:`F_k(s) = \mathbb E[|\det(G + s)|\,\mathbf 1\{\mathrm{ind}(G+s) = k\}]`.
:math:`F_k` is evaluated exactly (to quadrature precision) from de Bruijn's
Pfaffian formula for :math:`\beta = 1` ensembles (de Bruijn 1955; Mehta 2004,
ch. 5): the generating function :math:`\sum_k z^k F_k(s) = \mathbb E\prod_i
|\lambda_i + s|\,z^{\mathbf 1\{\lambda_i < -s\}}` is a ratio of Pfaffians of
:math:`d\times d` moment matrices; the coefficients are read off at the
:math:`(d+1)`-th roots of unity. It is tabulated once per :math:`d` and
interpolated (Chebyshev); outside the table :math:`F_0(s) = \mathrm{He}_d(s)`
for :math:`s \gg 1` exactly (:math:`\mathbb E\det(G+s) = \mathrm{He}_d(s)`).

Fields below :math:`k_1 + k_2 = k_1^2`. The GOE split above is a valid joint law of
:math:`(f, \xi)` only when :math:`\tau^2 \ge 0`, i.e. :math:`k_1 + k_2 \ge k_1^2`, while a covariance
on :math:`S^d` only needs :math:`k_1 + k_2 + 2k_2/d \ge k_1^2` (single harmonics sit on that line).
Splitting instead into the traceless part :math:`M_0` of a GOE and the trace,
:math:`\nabla^2 f = \sqrt{k_2}M_0 + xI`, :math:`x \sim \mathcal N(0, k_1 + k_2 + 2k_2/d)`,
:math:`\mathrm{Cov}(f, x) = -k_1`, gives the same one-dimensional integral with that variance and the
traceless function :math:`T_k(y) = \mathbb E[|\det(M_0 + y)|\mathbf 1\{\mathrm{ind} = k\}]` for
:math:`F_k`; :math:`T_k` is the GOE Pfaffian with the constraint :math:`\mathrm{tr}\,G = 0` written as
a Fourier integral (:func:`_traceless_F`). ``method="auto"`` uses it for thresholded counts on
:math:`S^{d\ge3}` below the line.

Closed forms. On :math:`S^1` Rice's formula (Cramér & Leadbetter 1967) with
:math:`\lambda_2 = k_1`, :math:`\lambda_4 = k_1 + 3k_2` gives
:math:`\mathbb E N = 2\sqrt{1 + 3\eta}`, :math:`\eta = k_2/k_1`. On :math:`S^2`
(Cheng & Schwartzman 2018, Sec. 4, specialised to :math:`N = 2`)

.. math::

    \mathbb E N_0 = \mathbb E N_2 = 1 + \frac{2\eta^{3/2}}{\sqrt{1 + 3\eta}},\qquad
    \mathbb E N_1 = \frac{4\eta^{3/2}}{\sqrt{1 + 3\eta}}.

Checks: :math:`K(t) = t` (a linear field) has exactly 2 critical points and
:math:`K(t) = t^2` (a random quadratic form) exactly 2 of each index on every
:math:`S^d`; :math:`\sum_k (-1)^k \mathbb E N_k = 1 + (-1)^d` (Morse), and the
level-:math:`u` version equals the Gaussian kinematic formula
(:func:`expected_euler_characteristic`).

Depth. With a normalised kernel map :math:`\kappa` (:math:`\kappa(1) = 1`,
:math:`\chi = \kappa'(1)`, :math:`\kappa_2 = \kappa''(1)`) and
:math:`K_L = \kappa^{\circ L}`,

.. math::

    K_L'(1) = \chi^L,\qquad
    K_L''(1) = \kappa_2\,\chi^{L-1}\,\frac{\chi^L - 1}{\chi - 1}
    \;(= \kappa_2 L \text{ at } \chi = 1),

so :math:`\eta_L = K_L''/K_L'` converges (:math:`\chi < 1`, ordered), grows
linearly (:math:`\chi = 1`, edge of chaos) or exponentially (:math:`\chi > 1`,
chaotic) and the counts, :math:`\sim c_{d,k}\,\eta_L^{d/2}`, converge, grow
like :math:`L^{d/2}` or like :math:`\chi^{Ld/2}` (:func:`depth_asymptotics`).

Regularity. Kac-Rice needs a :math:`C^2` field with a finite Hessian variance,
i.e. :math:`K''(1) < \infty`. Piecewise-linear activations with
:math:`s_+ \ne s_-` (ReLU, leaky ReLU) give an arc-cosine kernel with a cusp at
:math:`q = 1` (:math:`K''(1) = \infty`): the functions here raise
:class:`ValueError` instead of returning a number.

References: D. Cheng, A. Schwartzman, *Expected number and height distribution
of critical points of smooth isotropic Gaussian random fields*, Bernoulli 24
(2018), arXiv:1511.06835. A. Auffinger, G. Ben Arous, J. Černý, *Random
matrices and complexity of spin glasses*, CPAM 66 (2013). R. Adler, J. Taylor,
*Random Fields and Geometry* (2007). N. G. de Bruijn, *On some multiple
integrals involving determinants*, J. Indian Math. Soc. 19 (1955).
"""
from __future__ import annotations

import functools
import math
import warnings
from typing import NamedTuple

import numpy as np
from numpy.polynomial import chebyshev as _cheb
from scipy import integrate, special

from ._checks import check_choice, check_finite_array, check_int, check_real

__all__ = [
    "MAX_DIM",
    "sphere_volume",
    "goe_det_moments",
    "expected_critical_points",
    "expected_critical_points_by_index",
    "expected_euler_characteristic",
    "composed_derivatives",
    "network_derivatives",
    "network_critical_points",
    "network_critical_points_by_index",
    "edge_of_chaos",
    "Regime",
    "regime",
    "DepthAsymptotics",
    "depth_asymptotics",
    "network_prefactor",
    "network_depth_asymptotics",
    "symbolic_depth_derivatives",
]

#: Largest sphere dimension accepted by the GOE evaluation.
MAX_DIM = 10
_GL_X, _GL_W = np.polynomial.legendre.leggauss(16)


# ----------------------------------------------------------------------------
# argument checks
# ----------------------------------------------------------------------------
def _check_dim(dim):
    if isinstance(dim, (bool, np.bool_)):
        raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
    return check_int("dim", dim, 1, MAX_DIM)


def _check_index(index, dim):
    if index is None:
        return None
    if isinstance(index, (bool, np.bool_)):
        raise ValueError(f"index must be None or an integer in [0, {dim}], got {index!r}")
    return check_int("index", index, 0, dim)


def _check_k(k1, k2, dim=None):
    k1 = check_real("k1", k1, 0.0, low_open=True)
    if isinstance(k2, (int, float, np.floating, np.integer)) and not isinstance(k2, bool) and math.isinf(k2):
        raise ValueError(
            "k2 = K''(1) is infinite: the kernel has a cusp at 1 (e.g. ReLU), the field is not C^2 "
            "and the Kac-Rice formula does not apply"
        )
    k2 = check_real("k2", k2, 0.0)
    # Var(k1 f + tr(Hessian)/d) = k1 + k2 + 2 k2/d - k1^2 >= 0 on S^d (equality: one Gegenbauer harmonic)
    bound = k1 + k2 + (2.0 * k2 / dim if dim else 0.0)
    if bound < k1 * k1 * (1.0 - 1e-12):
        where = f"on S^{dim}" if dim else "on every sphere"
        rule = f"k1 + k2 + 2*k2/{dim} >= k1**2" if dim else "k1 + k2 >= k1**2"
        raise ValueError(
            f"(k1, k2) = ({k1:g}, {k2:g}) is not the derivative pair of a covariance {where}; "
            f"allowed: k1 > 0, k2 >= 0 with {rule} (the variance of k1*f + tr(Hessian)/d is >= 0)"
        )
    return k1, k2


def _check_above(above):
    if above is None:
        return None
    return check_real("above", above)


def sphere_volume(dim) -> float:
    r"""Surface area :math:`|S^d| = 2\pi^{(d+1)/2}/\Gamma(\frac{d+1}{2})` of the unit sphere :math:`S^d`."""
    dim = check_int("dim", dim, 0)
    # in logs (lgamma): Gamma((d+1)/2) overflows from d = 342 while the area is ~1e-224 there
    return math.exp(math.log(2.0) + 0.5 * (dim + 1) * math.log(math.pi) - math.lgamma(0.5 * (dim + 1)))


# ----------------------------------------------------------------------------
# GOE machinery: F_k(s) = E[|det(G + s)| 1{ind(G + s) = k}] by de Bruijn's Pfaffians
# ----------------------------------------------------------------------------
def _pfaffian(A):
    """Pfaffians of a batch ``(B, m, m)`` of antisymmetric matrices (m even).

    Parlett-Reid tridiagonalisation with partial pivoting (Wimmer 2012, pfapack).
    """
    A = np.array(A, dtype=complex)
    nb, m, _ = A.shape
    pf = np.ones(nb, dtype=complex)
    rows = np.arange(nb)
    for k in range(0, m - 1, 2):
        kp = k + 1 + np.argmax(np.abs(A[:, k + 1 :, k]), axis=1)
        sw = kp != k + 1
        if sw.any():
            b, p = rows[sw], kp[sw]
            tmp = A[b, k + 1, :].copy()
            A[b, k + 1, :] = A[b, p, :]
            A[b, p, :] = tmp
            tmp = A[b, :, k + 1].copy()
            A[b, :, k + 1] = A[b, :, p]
            A[b, :, p] = tmp
            pf[sw] *= -1.0
        piv = A[:, k, k + 1]
        zero = piv == 0
        pf *= piv
        if k + 2 < m:
            tau = A[:, k, k + 2 :] / np.where(zero, 1.0, piv)[:, None]
            col = A[:, k + 2 :, k + 1]
            A[:, k + 2 :, k + 2 :] += tau[:, :, None] * col[:, None, :] - col[:, :, None] * tau[:, None, :]
    return pf


@functools.lru_cache(maxsize=None)
def _cheb_integration(n_nodes):
    """Chebyshev-Lobatto nodes on [-1, 1] and the matrix of the indefinite integral from -1."""
    N = n_nodes - 1
    x = -np.cos(np.pi * np.arange(n_nodes) / N)
    V = _cheb.chebvander(x, N)
    Vinv = np.linalg.inv(V)
    C = _cheb.chebint(np.eye(n_nodes), lbnd=-1.0, axis=0)  # (N+2, N+1)
    Q = _cheb.chebvander(x, N + 1) @ C @ Vinv
    return x, Q


def _hermite_basis(x, n):
    r"""Orthonormal-scaled Hermite polynomials :math:`\mathrm{He}_i(x/\sqrt2)/\sqrt{i!}`, shape ``(n,) + x.shape``."""
    y = x / math.sqrt(2.0)
    out = np.empty((n,) + x.shape)
    out[0] = 1.0
    if n > 1:
        out[1] = y
    for i in range(1, n - 1):
        out[i + 1] = (y * out[i] - math.sqrt(i) * out[i - 1]) / math.sqrt(i + 1)
    return out


def _side_moments(a, b, t, n, n_nodes, absval=True, omega=0.0):
    r"""Moments of :math:`\phi_i(x) = p_i(x)\,|x - t|\,e^{-x^2/4}\,e^{i\omega x}` on intervals ``[a_j, b_j]``.

    Returns ``(A, B)`` with :math:`B_i = \int_a^b \phi_i` and the antisymmetric
    :math:`A_{ij} = \int\!\!\int_{[a,b]^2} \mathrm{sgn}(y-x)\phi_i(x)\phi_j(y)`,
    computed by Chebyshev (spectral) indefinite integration, batched over j.
    """
    xs, Q = _cheb_integration(n_nodes)
    half = 0.5 * (b - a)  # (T,)
    x = 0.5 * (a + b)[:, None] + half[:, None] * xs[None, :]  # (T, m)
    g = np.abs(x - t[:, None]) if absval else np.ones_like(x)
    g = g * np.exp(-0.25 * x * x)
    if omega:
        g = g * np.exp(1j * omega * x)
    phi = _hermite_basis(x, n) * g[None]  # (n, T, m)
    phi = np.moveaxis(phi, 0, 1)  # (T, n, m)
    Phi = np.einsum("tim,lm->til", phi, Q) * half[:, None, None]  # indefinite integrals
    B = Phi[:, :, -1]
    cw = Q[-1]
    J = np.einsum("tim,m,tjm->tij", Phi, cw, phi) * half[:, None, None]  # J_ij = int phi_j Phi_i
    return J - np.swapaxes(J, 1, 2), B


def _assemble(Am, Ap, bm, bp, z):
    r"""Moment matrix :math:`A(z) = z^2A^{-} + A^{+} + z(b^-b^{+T} - b^+b^{-T})`, bordered when n is odd."""
    zz = z[None, :, None, None]
    cross = bm[:, :, None] * bp[:, None, :] - bp[:, :, None] * bm[:, None, :]
    A = zz**2 * Am[:, None] + Ap[:, None] + zz * cross[:, None]  # (T, Z, n, n)
    n = Am.shape[-1]
    if n % 2:
        c = z[None, :, None] * bm[:, None, :] + bp[:, None, :]  # (T, Z, n)
        T_, Z_ = A.shape[:2]
        big = np.zeros((T_, Z_, n + 1, n + 1), dtype=complex)
        big[..., :n, :n] = A
        big[..., :n, n] = c
        big[..., n, :n] = -c
        A = big
    return A


def _goe_parameters(dim):
    cut = 2.0 * math.sqrt(dim) + 13.0  # |t| beyond which the GOE_d weight is negligible
    n_nodes = 72 + 8 * dim  # Chebyshev nodes per side integral
    n_table = 120 + 16 * dim  # Chebyshev-Lobatto nodes of the s-table on [-cut, cut]
    return cut, n_nodes, n_table


def _goe_F(s, dim, n_nodes=None, cut=None, omega=0.0):
    r""":math:`F_k(s)` for ``k = 0..dim`` at points ``s`` (array), shape ``(dim+1, len(s))``.

    With ``omega`` :math:`\ne 0`: the complex :math:`\mathbb E[|\det(G+s)|\,\mathbf 1\{\mathrm{ind} = k\}
    \,e^{i\omega\,\mathrm{tr}\,G}]` (each eigenvalue's weight times :math:`e^{i\omega\lambda}`)."""
    n = dim
    c0, nn0, _ = _goe_parameters(dim)
    cut = c0 if cut is None else cut
    n_nodes = nn0 if n_nodes is None else n_nodes
    s = np.atleast_1d(np.asarray(s, dtype=float))
    t = -s
    tc = np.clip(t, -cut, cut)
    lo = np.full_like(t, -cut)
    hi = np.full_like(t, cut)
    Am, bm = _side_moments(lo, tc, t, n, n_nodes, omega=omega)
    Ap, bp = _side_moments(tc, hi, t, n, n_nodes, omega=omega)
    z = np.exp(2j * np.pi * np.arange(n + 1) / (n + 1))
    A = _assemble(Am, Ap, bm, bp, z)
    pf = _pfaffian(A.reshape(-1, *A.shape[2:])).reshape(len(s), n + 1)
    # normalisation: the same Pfaffian with g = 1 (GOE_n partition function)
    zero = np.zeros(1)
    Nm, nbm = _side_moments(np.array([-cut]), zero, zero, n, n_nodes, absval=False)
    Np, nbp = _side_moments(zero, np.array([cut]), zero, n, n_nodes, absval=False)
    A1 = _assemble(Nm, Np, nbm, nbp, np.ones(1))
    Z = _pfaffian(A1.reshape(-1, *A1.shape[2:]))[0]
    coef = np.fft.fft(pf / Z, axis=1)  # coefficient of z^k  ->  F_k
    return ((coef if omega else coef.real) / (n + 1)).T


def _cheb_piece(fn, dim, n_nodes, a, b, n, cut):
    """Values of ``fn`` at ``n`` Chebyshev-Lobatto nodes on ``[a, b]``, scaled by ``(1+s^2/cut^2)^{-d/2}``, and barycentric weights."""
    j = np.arange(n)
    s = 0.5 * (a + b) - 0.5 * (b - a) * np.cos(np.pi * j / (n - 1))
    vals = np.hstack([fn(s[i : i + 64], dim, n_nodes) for i in range(0, n, 64)])
    vals = vals / (1.0 + (s / cut) ** 2) ** (dim / 2)
    w = (-1.0) ** j
    w[0] *= 0.5
    w[-1] *= 0.5
    return s, vals, w


@functools.lru_cache(maxsize=None)
def _goe_table(dim, traceless=False):
    """Chebyshev table of :math:`F_k(s)/(1+s^2/c^2)^{d/2}` on ``[-cut, cut]`` (cached per dimension).

    Returns ``(cut, pieces)``, each piece ``(a, b, nodes, vals, weights)``. ``traceless=True``
    tabulates the traceless-GOE function :math:`T_k` (:func:`_traceless_F`) on two pieces split at 0,
    where :math:`T_k` is not analytic (the traceless spectrum always straddles 0)."""
    cut, n_nodes, n_table = _goe_parameters(dim)
    if not traceless:
        return cut, ((-cut, cut) + _cheb_piece(_goe_F, dim, n_nodes, -cut, cut, n_table, cut),)
    half = n_table // 2 + 1
    return cut, tuple((a, b) + _cheb_piece(_traceless_F, dim, n_nodes, a, b, half, cut)
                      for a, b in ((-cut, 0.0), (0.0, cut)))


#: Gauss-Legendre nodes of the Fourier integral over omega in :func:`_traceless_F`
_TRACELESS_OMEGA_NODES = 64


def _traceless_F(y, dim, n_nodes=None):
    r"""Traceless-GOE moments :math:`T_k(y) = \mathbb E[|\det(M_0 + y)|\,\mathbf 1\{\mathrm{ind}(M_0+y) = k\}]`.

    :math:`M_0 = G - (\mathrm{tr}\,G/d)I` is the traceless part of the GOE :math:`G`, independent of
    :math:`\mathrm{tr}\,G \sim \mathcal N(0, 2d)`, so :math:`T_k(y) = \mathbb E[g(G)\mid\mathrm{tr}\,G = 0]` with
    :math:`g(G) = |\det(G+y)|\mathbf 1\{\cdot\}`, and with :math:`\delta(\tau) = \frac1{2\pi}\int e^{i\omega\tau}d\omega`,

    .. math::

        T_k(y) = \frac{\sqrt{4\pi d}}{\pi}\int_0^\infty
        \mathrm{Re}\,\mathbb E\big[g(G)\,e^{i\omega\,\mathrm{tr}\,G}\big]\,d\omega .

    The inner expectation is de Bruijn's Pfaffian with each eigenvalue weighted by
    :math:`e^{i\omega\lambda}` (:func:`_goe_F`). It is :math:`\int e^{i\omega\tau}T_k(y+\tau/d)p(\tau)d\tau`:
    Gaussian decay :math:`e^{-d\omega^2}` except for the part from :math:`y + \tau/d = 0`, where
    :math:`T_0` and :math:`T_d` vanish to order :math:`(d-1) + d(d-1)/2 + d` (4 at :math:`d = 2`, 8 at
    :math:`d = 3`), which decays algebraically. Gauss-Legendre (64 nodes) on
    :math:`[0, 10/\sqrt d]`, with enough Chebyshev nodes per eigenvalue integral to resolve
    :math:`e^{i\omega\lambda}`: absolute error about 1e-8 at :math:`d = 3` (against a polar double
    quadrature and the exact zeros of :math:`T_0` below 0), 1e-5 at :math:`d = 2` (exact formula),
    smaller for larger :math:`d` (the order of contact grows). Shape ``(dim+1, len(y))``.
    """
    W = 10.0 / math.sqrt(dim)
    cut = _goe_parameters(dim)[0]
    n_nodes = max(n_nodes or 0, _goe_parameters(dim)[1], int(1.2 * W * cut) + 40)
    x, w = np.polynomial.legendre.leggauss(_TRACELESS_OMEGA_NODES)
    om, wo = 0.5 * W * (x + 1.0), 0.5 * W * w
    y = np.atleast_1d(np.asarray(y, dtype=float))
    out = np.zeros((dim + 1, y.size))
    for o, ww in zip(om, wo):
        out += ww * _goe_F(y, dim, n_nodes, omega=float(o)).real
    return out * math.sqrt(4.0 * math.pi * dim) / math.pi


def _hermite_he(dim, xi, k2):
    r""":math:`k_2^{d/2}\mathrm{He}_d(\xi/\sqrt{k_2}) = \sum_m (-1)^m \frac{d!}{m!(d-2m)!2^m} k_2^m \xi^{d-2m}` (finite at k2 = 0)."""
    out = np.zeros_like(xi)
    for m in range(dim // 2 + 1):
        c = (-1) ** m * math.factorial(dim) / (math.factorial(m) * math.factorial(dim - 2 * m) * 2**m)
        out = out + c * k2**m * xi ** (dim - 2 * m)
    return out


def goe_det_moments(s, dim):
    r"""GOE determinant moments :math:`F_k(s) = \mathbb E\big[|\det(G + sI)|\,\mathbf 1\{\mathrm{ind}(G+sI) = k\}\big]`.

    :math:`G` is a :math:`d\times d` GOE matrix with :math:`\mathrm{Var}\,G_{ii} = 2`,
    :math:`\mathrm{Var}\,G_{ij} = 1` (density :math:`\propto e^{-\mathrm{tr}\,G^2/4}`)
    and :math:`\mathrm{ind}` counts negative eigenvalues. Exact Pfaffian
    evaluation (module docstring), interpolated from a cached table; for large
    :math:`|s|`, :math:`\sum_k (-1)^k F_k(s) = \mathbb E\det(G+s) = \mathrm{He}_d(s)`.

    Returns an array of shape ``(dim + 1,) + np.shape(s)``.
    """
    dim = _check_dim(dim)
    s = check_finite_array("s", s)
    flat = s.ravel()
    return _F_scaled(flat, dim, 1.0).reshape((dim + 1,) + s.shape)


def _F_scaled(xi, dim, k2, unit=False, traceless=False):
    r""":math:`k_2^{d/2} F_k(\xi/\sqrt{k_2})` for all k, shape ``(dim+1, len(xi))``; exact polynomial tails.

    ``unit=True`` (needs :math:`k_2 > 0`) leaves out the factor :math:`k_2^{d/2}`, which the caller
    then combines with other powers in logs (it overflows for deep chaotic networks).
    ``traceless=True``: the traceless-GOE :math:`T_k` instead of :math:`F_k`; its tails are
    :math:`\mathbb E\det(M_0 + y) = c^d\mathrm{He}_d(y/c)`, :math:`c^2 = 1 + 2/d` (since
    :math:`F = T * \mathcal N(0, 2/d)` and :math:`\mathrm{He}_d(s) = \mathbb E(s + iZ)^d`)."""
    kp = 1.0 if unit else k2 ** (dim / 2)
    c2 = 1.0 + 2.0 / dim if traceless else 1.0
    cut, pieces = _goe_table(dim, traceless)
    out = np.zeros((dim + 1, xi.size))
    sk = math.sqrt(k2)
    inside = np.abs(xi) < cut * sk
    for a, b, nodes, vals, w in pieces:
        sel = inside & (xi >= a * sk) & ((xi < b * sk) if b < cut else True)
        if not sel.any():
            continue
        s = xi[sel] / sk
        diff = s[:, None] - nodes[None, :]
        exact = diff == 0
        diff[exact] = 1.0
        ker = w[None, :] / diff
        num = ker @ vals.T
        den = ker.sum(axis=1)
        val = num / den[:, None]
        hit = exact.any(axis=1)
        if hit.any():
            val[hit] = vals[:, np.argmax(exact[hit], axis=1)].T
        out[:, sel] = (val * ((1.0 + (s / cut) ** 2) ** (dim / 2))[:, None]).T * kp
    if traceless:  # the traceless spectrum straddles 0: no minimum below 0, no maximum above
        out[0, xi < 0] = 0.0
        out[dim, xi > 0] = 0.0
    pos = (~inside) & (xi > 0)
    neg = (~inside) & (xi <= 0)
    xs, ks = (xi / sk, c2) if unit else (xi, k2 * c2)
    if pos.any():
        out[0, pos] = _hermite_he(dim, xs[pos], ks)
    if neg.any():
        out[dim, neg] = (-1) ** dim * _hermite_he(dim, xs[neg], ks)
    return np.maximum(out, 0.0)


def _panels(breaks, lo, hi, h):
    """Gauss-Legendre nodes/weights on [lo, hi] split at ``breaks`` and into pieces of length <= h."""
    pts = np.unique(np.clip(np.concatenate([[lo, hi], breaks]), lo, hi))
    xs, ws = [], []
    for a, b in zip(pts[:-1], pts[1:]):
        if b <= a:
            continue
        m = max(1, int(math.ceil((b - a) / h((a + b) / 2))))
        edges = np.linspace(a, b, m + 1)
        half = 0.5 * np.diff(edges)
        mid = 0.5 * (edges[1:] + edges[:-1])
        xs.append((mid[:, None] + half[:, None] * _GL_X[None, :]).ravel())
        ws.append((half[:, None] * _GL_W[None, :]).ravel())
    return np.concatenate(xs), np.concatenate(ws)


def _counts_goe(k1, k2, dim, above, traceless=False):
    r"""Kac-Rice counts by index, ``(dim+1,)``, by the one-dimensional xi-integral (module docstring).

    ``traceless=True``: the split :math:`\nabla^2 f = \sqrt{k_2}M_0 + xI` with :math:`M_0` the
    traceless part of a GOE, :math:`x = \mathrm{tr}\,\nabla^2 f/d \sim \mathcal N(0, k_1 + k_2 + 2k_2/d)`
    independent of :math:`M_0` and :math:`\mathrm{Cov}(f, x) = -k_1`: the same integral with the
    traceless function :math:`T_k` for :math:`F_k` and this variance; valid for every pair valid on :math:`S^d`."""
    var = k1 + k2 + (2.0 * k2 / dim if traceless else 0.0)
    sd = math.sqrt(var)
    cut = _goe_table(dim)[0]
    R = 12.0 * sd
    edge = cut * math.sqrt(k2)
    breaks = [-edge, edge, 0.0]
    tau2 = max(1.0 - k1 * k1 / var, 0.0)
    tau = math.sqrt(tau2)
    if above is not None:
        xs_star = -above * var / k1  # where the threshold factor switches
        width = tau * var / k1
        breaks += [xs_star + sgn * c * width for sgn in (-1, 1) for c in (1.0, 3.0, 8.0)] + [xs_star]
    sk2 = math.sqrt(k2)

    def h(x):
        return 2.0 * sk2 if (abs(x) < edge and sk2 > 0) else sd

    xi, wq = _panels(np.array(breaks), -R, R, h)
    dens = np.exp(-0.5 * xi * xi / var) / math.sqrt(2.0 * math.pi * var)
    if above is not None:
        arg = above + k1 * xi / var
        if tau > 0:
            dens = dens * special.ndtr(-arg / tau)
        else:
            dens = dens * (arg < 0)
    if k2 > 0:  # |S^d| (k2 / (2 pi k1))^{d/2} in logs: finite (or an honest inf) however deep the network
        F = _F_scaled(xi, dim, k2, unit=True, traceless=traceless)
        log_pref = math.log(sphere_volume(dim)) + 0.5 * dim * (math.log(k2) - math.log(2.0 * math.pi * k1))
        with np.errstate(over="ignore"):
            return np.exp(log_pref) * (F @ (wq * dens))
    F = _F_scaled(xi, dim, k2, traceless=traceless)
    pref = sphere_volume(dim) / (2.0 * math.pi * k1) ** (dim / 2)
    return pref * (F @ (wq * dens))


def _counts_closed(k1, k2, dim, above):
    """Closed forms: Rice on S^1 (with threshold), Cheng-Schwartzman on S^2 (threshold by 1-D quadrature)."""
    eta = k2 / k1
    if dim == 1:
        lam4 = k1 + 3.0 * k2
        if above is None:
            n = math.sqrt(1.0 + 3.0 * eta)
            return np.array([n, n])
        u = above
        s = math.sqrt(max(lam4 - k1 * k1, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            a = k1 * u / s if s > 0 else math.copysign(math.inf, u) if u != 0 else 0.0
            b = u * math.sqrt(lam4) / s if s > 0 else math.copysign(math.inf, u) if u != 0 else 0.0
        phi = math.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)
        base = math.sqrt(lam4 / k1) * special.ndtr(-b)
        amp = math.sqrt(2 * math.pi * k1) * phi
        return np.array([base - amp * special.ndtr(-a), base + amp * special.ndtr(a)])
    if dim == 2:
        if above is None:
            e = 2.0 * eta / math.sqrt(3.0 + 1.0 / eta) if eta > 0 else 0.0  # = 2 eta^1.5/sqrt(1+3 eta)
            return np.array([1.0 + e, 2.0 * e, 1.0 + e])
        v = k1 + 2.0 * k2  # variance of M = (lambda_1 + lambda_2)/2
        tau = math.sqrt(max(1.0 - k1 * k1 / v, 0.0))

        def tail(m):
            return 2.0 * k2 * math.exp(-m * m / (2.0 * k2)) if k2 > 0 else 0.0

        def weight(m):
            arg = above + k1 * m / v
            p = special.ndtr(-arg / tau) if tau > 0 else float(arg < 0)
            return math.exp(-0.5 * m * m / v) / math.sqrt(2 * math.pi * v) * p

        lim = 12.0 * math.sqrt(v)
        pts = [-above * v / k1] if -lim < -above * v / k1 < lim else None
        opts = dict(limit=200, epsabs=1e-13, epsrel=1e-11)
        mn = integrate.quad(lambda m: (m * m - 2 * k2 + tail(m)) * weight(m), 0.0, lim, points=pts if pts and pts[0] > 0 else None, **opts)[0]
        mx = integrate.quad(lambda m: (m * m - 2 * k2 + tail(m)) * weight(m), -lim, 0.0, points=pts if pts and pts[0] < 0 else None, **opts)[0]
        sd = integrate.quad(lambda m: tail(m) * weight(m), -lim, lim, points=pts, **opts)[0]
        return (2.0 / k1) * np.array([mn, sd, mx])
    raise ValueError(f"dim={dim}: closed forms exist for dim 1 and 2 only; use method='goe'")


def expected_critical_points(k1, k2, dim, index=None, above=None, *, method="auto"):
    r"""Expected number of critical points of an isotropic Gaussian field on :math:`S^d`.

    The field has covariance :math:`K(\langle x,y\rangle)` with :math:`K(1) = 1`,
    :math:`K'(1) = k_1`, :math:`K''(1) = k_2`; the count is the Kac-Rice
    integral of the module docstring.

    Parameters
    ----------
    k1, k2 : float
        :math:`k_1 > 0`, :math:`0 \le k_2 < \infty` with :math:`k_1 + k_2 + 2k_2/d \ge k_1^2`
        (the variance of :math:`k_1 f + \mathrm{tr}\,\nabla^2 f/d` is :math:`\ge 0`; equality for a
        single harmonic of degree :math:`l`, e.g. :math:`K = T_l` on :math:`S^1`, :math:`P_l` on
        :math:`S^2`). ``k2 = inf`` (a cusp) raises. With ``above``, ``method="goe"`` needs
        :math:`k_1 + k_2 \ge k_1^2` (true for every kernel valid on all spheres, e.g. networks);
        below that line ``"auto"`` takes the traceless path.
    dim : int
        Sphere dimension :math:`1 \le d \le` :data:`MAX_DIM`.
    index : int or None
        Number :math:`k` of negative Hessian eigenvalues (0 minima, ``dim``
        maxima); ``None`` counts all critical points.
    above : float or None
        Count only critical points with :math:`f > u` (``above = u``).
    method : {"auto", "goe", "traceless", "closed"}
        ``"closed"``: Rice on :math:`S^1`, Cheng-Schwartzman on :math:`S^2`
        (with ``above``: a 1-D quadrature); ``"goe"``: the Pfaffian GOE
        evaluation for any :math:`d`; ``"traceless"``: the Hessian split into
        a traceless GOE and its trace (:func:`_traceless_F`, any :math:`d`, every
        valid pair; a slower first call per :math:`d`, about 1e-8 absolute on
        :math:`T_k`); ``"auto"``: closed when available, else GOE, else traceless.

    Returns
    -------
    float

    Examples
    --------
    >>> round(expected_critical_points(1.0, 0.0, 3), 10)   # K(t) = t: a max and a min
    2.0
    >>> round(expected_critical_points(2.0, 2.0, 2, index=1), 10)   # K(t) = t^2: 2 saddles
    2.0
    """
    dim = _check_dim(dim)
    k1, k2 = _check_k(k1, k2, dim)
    index = _check_index(index, dim)
    above = _check_above(above)
    method = check_choice("method", method, ("auto", "goe", "traceless", "closed"))
    counts = _counts(k1, k2, dim, above, method)
    return float(counts.sum() if index is None else counts[index])


def expected_critical_points_by_index(k1, k2, dim, above=None, *, method="auto"):
    """All index counts at once: array ``[E N_0, ..., E N_dim]`` (see :func:`expected_critical_points`)."""
    dim = _check_dim(dim)
    k1, k2 = _check_k(k1, k2, dim)
    above = _check_above(above)
    method = check_choice("method", method, ("auto", "goe", "traceless", "closed"))
    return _counts(k1, k2, dim, above, method)


def _counts(k1, k2, dim, above, method):
    r"""Pick the evaluation path that holds for a valid pair on :math:`S^d` (see :func:`expected_critical_points`).

    The GOE split :math:`\nabla^2 f = \sqrt{k_2}G + \xi I` with :math:`\xi` independent of
    :math:`G` always holds for the Hessian alone (:math:`\mathrm{Var}\,\xi = k_1 + k_2`), but
    joining it with the height needs :math:`\mathrm{Corr}(f, \xi)^2 = k_1^2/(k_1 + k_2) \le 1`,
    stronger than the condition :math:`k_1 + k_2 + 2k_2/d \ge k_1^2` of a covariance on
    :math:`S^d`. The traceless split (:func:`_counts_goe` with ``traceless=True``) and the closed
    forms on :math:`S^1` and :math:`S^2` split the Hessian into its trace and traceless parts
    instead and hold for every valid pair; ``"auto"`` uses them where the GOE split cannot carry
    the height.
    """
    goe_ok = above is None or k1 + k2 >= k1 * k1 * (1.0 - 1e-12)
    if method == "closed" or (method == "auto" and (dim == 1 or (dim == 2 and (above is None or not goe_ok)))):
        return _counts_closed(k1, k2, dim, above)
    if method == "traceless" or (method == "auto" and not goe_ok):
        return _counts_goe(k1, k2, dim, above, traceless=True)
    if not goe_ok:
        raise ValueError(
            f"(k1, k2) = ({k1:g}, {k2:g}) with a threshold: method='goe' needs k1 + k2 >= k1**2 "
            f"(a field dominated by high harmonics breaks it); use method='auto' or 'traceless'"
        )
    return _counts_goe(k1, k2, dim, above)


def expected_euler_characteristic(k1, dim, above) -> float:
    r"""Gaussian kinematic formula :math:`\mathbb E\chi(\{f \ge u\})` on :math:`S^d` (Adler & Taylor 2007, Thm 13.4.1).

    .. math::

        \mathbb E\chi(A_u) = \sum_{j=0}^{d} k_1^{j/2}\mathcal L_j(S^d)\,\rho_j(u),\quad
        \mathcal L_j(S^d) = 2\binom{d+1}{j}\frac{\omega_{d+1}}{\omega_{d+1-j}}\ (d-j \text{ even}),

    :math:`\omega_n = \pi^{n/2}/\Gamma(n/2+1)`, :math:`\rho_0 = \bar\Phi(u)`,
    :math:`\rho_j = (2\pi)^{-(j+1)/2}\mathrm{He}_{j-1}(u)e^{-u^2/2}`. By Morse
    theory it equals :math:`\sum_k (-1)^{d-k}\,\mathbb E N_k(u)`.
    """
    k1 = check_real("k1", k1, 0.0, low_open=True)
    dim = _check_dim(dim)
    u = check_real("above", above)

    def omega(n):
        return math.pi ** (n / 2) / math.gamma(n / 2 + 1)

    total = 0.0
    for j in range(dim + 1):
        if (dim - j) % 2:
            continue
        L = 2.0 * math.comb(dim + 1, j) * omega(dim + 1) / omega(dim + 1 - j)
        if j == 0:
            rho = special.ndtr(-u)
        else:
            he = special.eval_hermitenorm(j - 1, u)
            rho = (2 * math.pi) ** (-(j + 1) / 2) * he * math.exp(-0.5 * u * u)
        total += k1 ** (j / 2) * L * rho
    return float(total)


# ----------------------------------------------------------------------------
# depth: composed kernels, the network kernel, regimes and asymptotics
# ----------------------------------------------------------------------------
def _check_depths(depth):
    scalar = np.ndim(depth) == 0
    arr = np.atleast_1d(np.asarray(depth, dtype=object))
    for d in arr.ravel():
        if isinstance(d, (bool, np.bool_)):
            raise ValueError(f"depth must be an integer >= 1, got {d!r}")
    out = np.array([check_int("depth", d, 1) for d in arr.ravel()], dtype=int)
    if out.size == 0:
        raise ValueError("depth must be a non-empty integer or list of integers >= 1")
    return out, scalar


def composed_derivatives(chi, kappa2, depth):
    r""":math:`(K_L'(1), K_L''(1))` of the composition :math:`K_L = \kappa^{\circ L}` of a normalised map.

    With :math:`\kappa(1) = 1`, :math:`\chi = \kappa'(1)`, :math:`\kappa_2 = \kappa''(1)`
    the chain rule gives :math:`K_L'' = \kappa_2 (K_{L-1}')^2 + \chi K_{L-1}''`, solved by

    .. math::

        K_L'(1) = \chi^L,\qquad K_L''(1) = \kappa_2\chi^{L-1}\frac{\chi^L - 1}{\chi - 1}
        \quad(\kappa_2 L \text{ at } \chi = 1)

    (:func:`symbolic_depth_derivatives` derives it with sympy). Vectorised over ``depth``.
    """
    chi = check_real("chi", chi, 0.0, low_open=True)
    kappa2 = check_real("kappa2", kappa2, 0.0)
    L, scalar = _check_depths(depth)
    L = L.astype(float)
    with np.errstate(over="ignore"):  # overflow to inf for very deep chaotic networks is the answer
        k1 = chi**L
        if abs(chi - 1.0) < 1e-12:
            k2 = kappa2 * L
        else:
            k2 = kappa2 * chi ** (L - 1) * np.expm1(L * math.log(chi)) / (chi - 1.0)
    return (float(k1[0]), float(k2[0])) if scalar else (k1, k2)


def symbolic_depth_derivatives():
    r"""Sympy derivation of :math:`K_L'(1), K_L''(1)` and of :math:`\eta_L = K_L''/K_L'` in the three regimes.

    Solves the recursions :math:`a_L = \chi a_{L-1}`, :math:`b_L = \kappa_2 a_{L-1}^2 + \chi b_{L-1}`
    (:math:`a_0 = 1, b_0 = 0`) with :func:`sympy.rsolve`. Returns a dict of sympy
    expressions: ``k1``, ``k2`` (for :math:`\chi \ne 1`), ``k2_edge`` (:math:`\chi = 1`),
    ``eta``, ``eta_limit_ordered`` (:math:`L\to\infty`, :math:`\chi<1`),
    ``eta_leading_chaotic`` (the :math:`\chi^{L}` coefficient for :math:`\chi > 1`)
    and the symbols ``chi``, ``kappa2``, ``L``.
    """
    import sympy as sp

    chi, kappa2 = sp.symbols("chi kappa2", positive=True)
    L = sp.symbols("L", integer=True, nonnegative=True)
    a, b = sp.Function("a"), sp.Function("b")
    k1 = sp.rsolve(a(L) - chi * a(L - 1), a(L), {a(0): 1})
    k2 = sp.rsolve(b(L) - chi * b(L - 1) - kappa2 * k1.subs(L, L - 1) ** 2, b(L), {b(0): 0})
    k2 = sp.simplify(k2)
    k2_edge = sp.rsolve(b(L) - b(L - 1) - kappa2, b(L), {b(0): 0})
    eta = sp.simplify(k2 / k1)
    chi_o = sp.symbols("chi_o", positive=True)  # stands for chi < 1 in the limit
    eta_lim = sp.limit(eta.subs(chi, chi_o / (1 + chi_o)), L, sp.oo)
    eta_lim = sp.simplify(eta_lim.subs(chi_o, chi / (1 - chi)))
    eta_chaotic = sp.simplify(sp.limit((eta / chi**L).subs(chi, 1 + chi_o), L, sp.oo).subs(chi_o, chi - 1))
    return {
        "k1": k1,
        "k2": k2,
        "k2_edge": k2_edge,
        "eta": eta,
        "eta_limit_ordered": eta_lim,
        "eta_leading_chaotic": eta_chaotic,
        "chi": chi,
        "kappa2": kappa2,
        "L": L,
    }


def _resolve_activation(activation):
    from .activations import Activation, get_activation

    if isinstance(activation, Activation):
        return activation
    if not isinstance(activation, str):
        raise ValueError(f"activation must be a registry name or an Activation, got {activation!r}")
    return get_activation(activation)


def _regularity_error(act):
    return ValueError(
        f"activation {act.name!r} is not C^2 (slopes {act.slopes}): its kernel has a cusp at q = 1 "
        "(K''(1) = inf), the network field is not twice differentiable and the Kac-Rice formula does "
        "not apply (numerically the count grows with the resolution; see sphere_fields)"
    )


def network_derivatives(activation, depth, *, sigma_w2=1.0, sigma_b2=0.0):
    r"""Normalised network kernel derivatives :math:`(k_1, k_2) = (C_L'(1), C_L''(1))/C_L(1)`.

    :math:`C_L` is the infinite-width output covariance of :mod:`nnlandscape.kernels`
    (inputs :math:`|x|^2 = N`, :math:`q = x\cdot y/N = \langle \hat x, \hat y\rangle`,
    so the field on the unit sphere has :math:`K = C_L/C_L(1)`). All depths up
    to ``max(depth)`` come from one pass of the chain rule at :math:`q = 1`
    (where every layer sits on its diagonal :math:`c = k_l`):
    :math:`C' \leftarrow \sigma_w^2 F_c C'`,
    :math:`C'' \leftarrow \sigma_w^2(F_{cc}C'^2 + F_c C'')`. ``k2`` is ``inf`` for a cusp.
    """
    from . import kernels

    act = _resolve_activation(activation)
    sigma_w2 = check_real("sigma_w2", sigma_w2, 0.0, low_open=True)
    sigma_b2 = check_real("sigma_b2", sigma_b2, 0.0)
    L, scalar = _check_depths(depth)
    Lmax = int(L.max())
    _, diags = kernels.layer_kernels(act, Lmax, 1.0, sigma_w2=sigma_w2, sigma_b2=sigma_b2)
    dc, d2c = sigma_w2, 0.0
    k1 = np.empty(Lmax)
    k2 = np.empty(Lmax)
    for l in range(Lmax):
        k = float(diags[l])
        fc = float(kernels.one_layer_map(act, k, k, derivative=1))
        fcc = float(kernels.one_layer_map(act, k, k, derivative=2))
        d2c = sigma_w2 * ((fcc * dc * dc if dc else 0.0) + (fc * d2c if d2c else 0.0))
        dc = sigma_w2 * fc * dc
        k1[l] = dc / diags[l + 1]
        k2[l] = d2c / diags[l + 1]
    k1, k2 = k1[L - 1], k2[L - 1]
    return (float(k1[0]), float(k2[0])) if scalar else (k1, k2)


def _network_pairs(activation, depth, dim, sigma_w2, sigma_b2, above):
    """The per-depth ``(K'(1), K''(1))`` of a network's normalised kernel, checked for Kac-Rice.

    Returns ``(pairs, scalar, above)``: ``scalar`` tells whether ``depth`` was one integer. A cusp
    (non-smooth activation or infinite ``K''(1)``) is a regularity error; a vanishing slope means a
    numerically constant field. ``K''(1)`` is lifted to ``K'(1)^2 - K'(1)`` where round-off put it
    just below: a valid kernel has ``k1 + k2 >= k1**2``.
    """
    act = _resolve_activation(activation)
    above = _check_above(above)
    if not act.smooth:
        raise _regularity_error(act)
    k1, k2 = network_derivatives(act, depth, sigma_w2=sigma_w2, sigma_b2=sigma_b2)
    scalar = np.ndim(k1) == 0
    pairs = []
    for L, a, b in zip(np.atleast_1d(depth), np.atleast_1d(k1), np.atleast_1d(k2)):
        if not (math.isfinite(a) and math.isfinite(b)):
            raise ValueError(
                f"depth={int(L)}: the normalised kernel derivatives K'(1), K''(1) overflow (they grow like "
                "chi^L in the chaotic regime); allowed: depths where they stay below 1e308"
            )
        if not a > 0:
            raise ValueError(
                f"the normalised kernel slope K'(1) = {a:g} vanished (deep ordered network: the field is "
                "numerically constant); use a smaller depth"
            )
        pairs.append((a, max(b, a * a - a, 0.0)))
    return pairs, scalar, above


def network_critical_points(activation, depth, dim, *, sigma_w2=1.0, sigma_b2=0.0, index=None, above=None):
    r"""Kac-Rice count for an infinitely wide random MLP restricted to :math:`S^d`.

    Normalises the network kernel (:func:`network_derivatives`) and calls
    :func:`expected_critical_points` with :math:`(k_1, k_2)`. ``depth`` may be
    an integer (returns a float) or a sequence (returns an array, one pass of
    the kernel recursion). ``above`` is a threshold on the *normalised* field
    :math:`f/\sqrt{C_L(1)}`. Raises :class:`ValueError` for activations whose
    kernel has a cusp (ReLU, leaky ReLU: the regularity condition fails) and
    when the field degenerates (:math:`k_1` underflows to 0).
    """
    dim = _check_dim(dim)
    index = _check_index(index, dim)
    pairs, scalar, above = _network_pairs(activation, depth, dim, sigma_w2, sigma_b2, above)
    out = np.array([expected_critical_points(a, b, dim, index=index, above=above) for a, b in pairs])
    return float(out[0]) if scalar else out


def network_critical_points_by_index(activation, depth, dim, *, sigma_w2=1.0, sigma_b2=0.0, above=None):
    r"""All index counts :math:`[\mathbb E N_0, \dots, \mathbb E N_d]` of the network field, for each depth.

    Same conventions and errors as :func:`network_critical_points` (one kernel
    pass, one Kac-Rice evaluation per depth for all indices at once). Returns an
    array ``(dim + 1,)`` for an integer ``depth`` and ``(len(depth), dim + 1)``
    for a sequence.
    """
    dim = _check_dim(dim)
    pairs, scalar, above = _network_pairs(activation, depth, dim, sigma_w2, sigma_b2, above)
    out = np.array([expected_critical_points_by_index(a, b, dim, above=above) for a, b in pairs])
    return out[0] if scalar else out


def edge_of_chaos(activation, *, sigma_b2=0.0, sigma_w2_max=20.0):
    r"""The weight variance :math:`\sigma_w^2` on the edge of chaos, :math:`\chi(\sigma_w^2, \sigma_b^2) = 1`.

    :math:`\chi = \kappa'(1)` is the slope of the normalised layer map at the
    variance fixed point (:func:`regime`). Solved by Brent's method
    (:func:`scipy.optimize.brentq`) on :math:`\log\chi` over
    :math:`(0, \sigma_w^2_{\max}]`, bracketed by a log-spaced scan. Raises
    :class:`ValueError` when :math:`\chi < 1` on the whole range or the variance
    diverges before :math:`\chi` reaches 1 (e.g. swish, softplus at large
    :math:`\sigma_w^2`), and for positively homogeneous activations at
    :math:`\sigma_b^2 = 0` (linear, ReLU: :math:`\chi = 1` for every :math:`\sigma_w^2`).
    """
    from scipy import optimize

    act = _resolve_activation(activation)
    sigma_b2 = check_real("sigma_b2", sigma_b2, 0.0, 1e4)  # beyond, chi < 1 for any sigma_w2 <= sigma_w2_max
    sigma_w2_max = check_real("sigma_w2_max", sigma_w2_max, 0.0, 1e4, low_open=True)  # chi >> 1 long before
    if act.slopes is not None and sigma_b2 == 0.0:
        raise ValueError(f"{act.name} with sigma_b2 = 0 is positively homogeneous: the normalised map has "
                         "chi = 1 at every sigma_w2, there is no single edge of chaos")

    def log_chi(sw2):
        with warnings.catch_warnings():  # q* -> 0 near the edge at sigma_b2 = 0: the quadrature warns, chi is exact
            warnings.simplefilter("ignore", RuntimeWarning)
            return math.log(regime(act, sigma_w2=sw2, sigma_b2=sigma_b2).chi)

    grid = np.geomspace(sigma_w2_max / 200.0, sigma_w2_max, 60)
    prev = None
    for sw2 in grid:
        try:
            val = log_chi(float(sw2))
        except ValueError:
            break
        if val == 0.0:
            return float(sw2)
        if prev is not None and prev[1] < 0.0 < val:
            return float(optimize.brentq(log_chi, prev[0], float(sw2), xtol=1e-12, rtol=1e-12))
        prev = (float(sw2), val)
    raise ValueError(f"no edge of chaos for {act.name} at sigma_b2={sigma_b2:g} with sigma_w2 in "
                     f"(0, {sigma_w2_max:g}]: chi stays below 1 (or the variance diverges first)")


class Regime(NamedTuple):
    """Depth regime of a network: ``name`` in {"ordered", "edge", "chaotic"} and its parameters."""

    name: str
    chi: float  #: kappa'(1) = sigma_w^2 E[phi'(sqrt(q*) z)^2]
    kappa2: float  #: kappa''(1) = sigma_w^2 q* E[phi''(sqrt(q*) z)^2] (inf for a cusp)
    q_star: float  #: fixed point of the variance map
    smooth: bool  #: Kac-Rice applies (C^2 activation)
    stable: bool = True  #: q* attracts the variance (False: an unstable fixed point, e.g. SiLU, GELU)


def regime(activation, *, sigma_w2=1.0, sigma_b2=0.0, tol=1e-9):
    r"""Map :math:`(\phi, \sigma_w^2, \sigma_b^2)` to the depth regime of the critical-point count.

    At the variance fixed point :math:`q^*` the normalised layer map is
    :math:`\kappa(\rho) = [\sigma_b^2 + \sigma_w^2\mathbb E\phi(u)\phi(v)]/q^*`,
    :math:`\mathrm{Cov}(u,v) = \rho q^*`, so (Price's theorem)
    :math:`\chi = \kappa'(1) = \sigma_w^2\mathbb E[\phi'(\sqrt{q^*}z)^2]` (Poole et al. 2016's
    :math:`\chi_1`) and :math:`\kappa_2 = \kappa''(1) = \sigma_w^2 q^*\,\mathbb E[\phi''(\sqrt{q^*}z)^2]`.
    ``"ordered"`` if :math:`\chi < 1 - tol`, ``"chaotic"`` if :math:`\chi > 1 + tol`,
    else ``"edge"``. For :math:`\sigma_b = 0` and a positively homogeneous
    :math:`\phi` (linear, ReLU) the normalised map does not depend on the
    variance and :math:`\chi = 1` exactly.

    When the variance map iterated from the first layer diverges or collapses to 0 but has a
    positive fixed point (SiLU and GELU: :math:`V(q)/q` rises from :math:`\sigma_w^2/4` to
    :math:`\sigma_w^2/2`, so for :math:`2 < \sigma_w^2 < 4` and :math:`\sigma_b = 0` the only
    positive fixed point is unstable), the regime is that of the normalised map at this fixed
    point, with ``stable=False``: a network whose layers are held at :math:`q^*` (inputs scaled so
    that the first layer has variance :math:`q^*`) composes exactly this map, but any other start
    drifts away from it. Raises when the variance has no positive fixed point at all.
    """
    from . import kernels

    act = _resolve_activation(activation)
    sigma_w2 = check_real("sigma_w2", sigma_w2, 0.0, low_open=True)
    sigma_b2 = check_real("sigma_b2", sigma_b2, 0.0)
    tol = check_real("tol", tol, 0.0)
    q = kernels.fixed_point_variance(act, sigma_w2=sigma_w2, sigma_b2=sigma_b2)
    homogeneous = act.slopes is not None and sigma_b2 == 0.0
    stable = True
    if not homogeneous and act.slopes is None and (not math.isfinite(q) or q < 1e-12):
        q_u = _unstable_fixed_point(act, sigma_w2, sigma_b2)
        if q_u is not None:
            q, stable = q_u, False
    if homogeneous:
        s_pos, s_neg = act.slopes
        chi = 1.0
        kappa2 = 0.0 if s_pos == s_neg else math.inf
        q = float(sigma_w2 + sigma_b2) if not math.isfinite(q) else q
    elif not math.isfinite(q):
        raise ValueError(
            f"the pre-activation variance diverges for {act.name} at sigma_w2={sigma_w2:g}, "
            f"sigma_b2={sigma_b2:g}: no fixed point q*, no depth regime"
        )
    elif q == 0.0:
        chi = sigma_w2 * float(act.d1(0.0)) ** 2
        kappa2 = 0.0
    else:
        chi = sigma_w2 * float(kernels.one_layer_map(act, q, q, derivative=1))
        kappa2 = sigma_w2 * q * float(kernels.one_layer_map(act, q, q, derivative=2))
    name = "ordered" if chi < 1.0 - tol else ("chaotic" if chi > 1.0 + tol else "edge")
    return Regime(name, float(chi), float(kappa2), float(q), bool(act.smooth), stable)


def _unstable_fixed_point(act, sigma_w2, sigma_b2):
    """The largest positive root of V(q) = q on [1e-6, 1e6] (Brent on a log-spaced bracket), or None."""
    from scipy import optimize

    from . import kernels

    def gap(logq):
        q = math.exp(logq)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return sigma_w2 * float(kernels.one_layer_map(act, q, q)) + sigma_b2 - q

    grid = np.linspace(math.log(1e-6), math.log(1e6), 61)
    vals = [gap(x) for x in grid]
    for i in range(len(grid) - 1, 0, -1):
        if vals[i] == 0.0:
            return math.exp(grid[i])
        if vals[i - 1] * vals[i] < 0:
            return math.exp(optimize.brentq(gap, grid[i - 1], grid[i], xtol=1e-14, rtol=1e-13))
    return None


def _leading_constants(dim, above, rho2):
    r""":math:`c_{d,k}(u;\rho) = |S^d|(2\pi)^{-d/2}\int F_k(s)\varphi(s)\bar\Phi\big((u+\sqrt{\rho^2}s)/\sqrt{1-\rho^2}\big)ds`."""
    breaks = [0.0]
    tau = math.sqrt(max(1.0 - rho2, 0.0))
    if above is not None and rho2 > 0:
        s_star = -above / math.sqrt(rho2)
        w = tau / math.sqrt(rho2)
        breaks += [s_star + c * w for c in (-8, -3, -1, 0, 1, 3, 8)]
    s, wq = _panels(np.array(breaks), -12.0, 12.0, lambda x: 1.0)
    dens = np.exp(-0.5 * s * s) / math.sqrt(2 * math.pi)
    if above is not None:
        arg = above + math.sqrt(rho2) * s
        dens = dens * (special.ndtr(-arg / tau) if tau > 0 else (arg < 0))
    F = _F_scaled(s, dim, 1.0)
    return sphere_volume(dim) * (2 * math.pi) ** (-dim / 2) * (F @ (wq * dens))


class DepthAsymptotics(NamedTuple):
    r"""Large-depth behaviour :math:`\mathbb E N(L) \sim` ``leading(L)`` of a composed kernel."""

    regime: str  #: "ordered", "edge" or "chaotic"
    growth: str  #: "converges", "polynomial" or "exponential"
    rate: float  #: the limit (ordered), the power d/2 of L (edge), d/2 log(chi) per layer (chaotic)
    constant: float  #: the limit (ordered) or c with leading(L) = c * eta_L^{d/2}
    formula: str  #: the leading term (LaTeX)
    chi: float
    kappa2: float
    dim: int
    prefactor: float = 1.0  #: A = lim K_L'(1)/chi^L (1 for the idealised map kappa^L)

    def leading(self, depth):
        r"""The leading term at ``depth``: the limit, :math:`c(A\kappa_2L)^{d/2}` or :math:`c(A\kappa_2\chi^{L-1}/(\chi-1))^{d/2}`."""
        L = np.asarray(depth, dtype=float)
        if self.regime == "ordered":
            return np.full_like(L, self.constant)[()]
        if self.regime == "edge":
            return (self.constant * (self.prefactor * self.kappa2 * L) ** (self.dim / 2))[()]
        return (self.constant * (self.prefactor * self.kappa2 * self.chi ** (L - 1) / (self.chi - 1.0))
                ** (self.dim / 2))[()]


def depth_asymptotics(chi, kappa2, dim, *, index=None, above=None, tol=1e-9, prefactor=1.0, eta_limit=None):
    r"""Leading large-:math:`L` behaviour of :math:`\mathbb E N_k(u)` for :math:`K_L = \kappa^{\circ L}`.

    The count depends on :math:`(k_1, k_2)` only through :math:`\eta = k_2/k_1`
    and :math:`\rho^2 = k_1^2/(k_1+k_2) = \mathrm{Corr}(f, \xi)^2`
    (the squared correlation of the height with the Hessian shift :math:`\xi`). With
    :func:`composed_derivatives`:

    * ordered, :math:`\chi < 1`: :math:`\eta_L \to \eta_\infty = \kappa_2/(\chi(1-\chi))`,
      :math:`\rho^2 \to 0`, so :math:`\mathbb E N_k(u) \to \mathbb E N_k(\eta_\infty)\,\bar\Phi(u)`
      (exponentially fast, like :math:`\chi^L`);
    * edge, :math:`\chi = 1`: :math:`\eta_L = \kappa_2 L`, :math:`\rho^2 \to 0`,
      :math:`\mathbb E N_k(u) \sim c_{d,k}(u; 0)\,(\kappa_2 L)^{d/2}` (polynomial);
    * chaotic, :math:`\chi > 1`: :math:`\eta_L \sim \kappa_2\chi^{L-1}/(\chi-1)`,
      :math:`\rho^2 \to \rho_\infty^2 = \chi(\chi-1)/\kappa_2`,
      :math:`\mathbb E N_k(u) \sim c_{d,k}(u;\rho_\infty)\,\eta_L^{d/2}` (exponential, rate
      :math:`\tfrac d2\log\chi` per layer),

    with :math:`c_{d,k}(u;\rho) = |S^d|(2\pi)^{-d/2}\,\mathbb E_{s\sim\mathcal N(0,1)}
    [F_k(s)\,\bar\Phi((u + \rho s)/\sqrt{1-\rho^2})]` (the :math:`\eta\to\infty`
    limit of the Kac-Rice integral, where :math:`\xi/\sqrt{k_2} \to \mathcal N(0,1)`).
    Without threshold :math:`c_{1} = 2\sqrt3` and :math:`c_{2} = 8/\sqrt3` (sympy series of
    the closed forms). Requires :math:`\kappa_2 > 0` outside the ordered regime.

    A real network does not start at the variance fixed point, so :math:`K_L'(1)/\chi^L \to A \ne 1`
    (``prefactor``; :func:`network_depth_asymptotics` computes it): then :math:`\eta_L \sim A\kappa_2 L`
    at the edge and :math:`A\kappa_2\chi^{L-1}/(\chi-1)` in the chaotic regime (the transient adds
    only lower orders), while the ordered limit :math:`\eta_\infty` depends on every transient layer
    (``eta_limit`` replaces :math:`\kappa_2/(\chi(1-\chi))`).
    """
    chi = check_real("chi", chi, 0.0, low_open=True)
    kappa2 = check_real("kappa2", kappa2, 0.0)
    dim = _check_dim(dim)
    index = _check_index(index, dim)
    above = _check_above(above)
    tol = check_real("tol", tol, 0.0, 0.5)
    prefactor = check_real("prefactor", prefactor, 0.0, low_open=True)
    pick = (lambda c: float(c.sum())) if index is None else (lambda c: float(c[index]))
    if chi < 1.0 - tol:
        eta_inf = kappa2 / (chi * (1.0 - chi)) if eta_limit is None else check_real("eta_limit", eta_limit, 0.0)
        tail = 1.0 if above is None else float(special.ndtr(-above))
        if eta_inf > 1e12:  # E N = c_d eta^{d/2} (1 + O(1/eta)): in logs, an honest inf beyond 1e308
            c = pick(_leading_constants(dim, None, 0.0))
            with np.errstate(over="ignore"):
                limit = float(np.exp(math.log(c) + 0.5 * dim * math.log(eta_inf))) * tail if c > 0 else 0.0
        else:
            limit = expected_critical_points(1.0, max(eta_inf, 0.0), dim, index=index) * tail
        out = ("ordered", "converges", limit, limit,
                    r"E N \to E N(\eta_\infty)\,\bar\Phi(u),\ \eta_\infty = \kappa_2/(\chi(1-\chi))")
    else:
        if kappa2 <= 0:
            raise ValueError("kappa2 must be > 0 at the edge of chaos or in the chaotic regime "
                             "(kappa2 = 0: a linear kernel, exactly 2 critical points at every depth)")
        if chi <= 1.0 + tol:
            c = pick(_leading_constants(dim, above, 0.0))
            out = ("edge", "polynomial", dim / 2, c, r"E N \sim c_{d,k}(u;0)\,(\kappa_2 L)^{d/2}")
        else:
            rho2 = min(chi * (chi - 1.0) / kappa2, 1.0)
            c = pick(_leading_constants(dim, above, rho2))
            out = ("chaotic", "exponential", dim / 2 * math.log(chi), c,
                        r"E N \sim c_{d,k}(u;\rho_\infty)\,(\kappa_2\chi^{L-1}/(\chi-1))^{d/2}")
    return DepthAsymptotics(*out, chi, kappa2, dim, prefactor)


MAX_PREFACTOR_DEPTH = 2**15  # a few seconds of network_derivatives; beyond it a call would seem to hang


def network_prefactor(activation, *, sigma_w2=1.0, sigma_b2=0.0, rtol=1e-10, max_depth=4000):
    r"""The real network's first-layer prefactor :math:`A = \lim_L K_L'(1)/\chi^L` and, when ordered,
    :math:`\eta_\infty = \lim_L K_L''(1)/K_L'(1)` (``None`` otherwise).

    The first layer has variance :math:`\sigma_w^2 + \sigma_b^2`, not :math:`q^*`, so
    :math:`K_L'(1) = \prod_l \chi_l` along the variance trajectory. Both limits are read off
    :func:`network_derivatives` at doubling depths from 16 until they change by less than ``rtol``
    (or the slope under/overflows, or ``max_depth`` is reached; at most :data:`MAX_PREFACTOR_DEPTH`,
    since each depth costs a pass of :func:`network_derivatives`). Returns ``(A, eta_inf, regime)``.
    """
    reg = regime(activation, sigma_w2=sigma_w2, sigma_b2=sigma_b2)
    if not reg.smooth or not math.isfinite(reg.kappa2):
        raise _regularity_error(_resolve_activation(activation))
    rtol = check_real("rtol", rtol, 0.0, low_open=True)
    max_depth = check_int("max_depth", max_depth, 2, MAX_PREFACTOR_DEPTH)
    ordered = reg.name == "ordered"
    prev, L = None, 16
    while True:
        k1, k2 = network_derivatives(activation, L, sigma_w2=sigma_w2, sigma_b2=sigma_b2)
        scaled = k1 / reg.chi**L if reg.chi**L > 0 else math.inf
        if not (k1 > 0 and math.isfinite(scaled)):
            break  # under/overflow: keep the last converged value
        val = (scaled, k2 / k1 if ordered else 0.0)
        if prev is not None and all(abs(x - y) <= rtol * abs(y) for x, y in zip(val, prev)):
            prev = val
            break
        prev = val
        if 2 * L > max_depth:
            break
        L *= 2
    if prev is None:
        raise ValueError(f"the kernel slope under- or overflowed before depth 16 at sigma_w2={sigma_w2!r}, "
                         f"sigma_b2={sigma_b2!r}: no depth asymptotics")
    return prev[0], (prev[1] if ordered else None), reg


def network_depth_asymptotics(activation, dim, *, sigma_w2=1.0, sigma_b2=0.0, index=None, above=None):
    r""":func:`depth_asymptotics` for the real network, its first layers included.

    Uses :func:`network_prefactor` (:math:`A`, and the ordered limit :math:`\eta_\infty` of the real
    network), so that ``leading(L)`` is the large-depth term of :func:`network_critical_points`:
    :math:`c\,(A\kappa_2 L)^{d/2}` at the edge, :math:`c\,(A\kappa_2\chi^{L-1}/(\chi-1))^{d/2}` when
    chaotic, :math:`\mathbb E N(\eta_\infty)\bar\Phi(u)` when ordered.
    """
    A, eta_inf, reg = network_prefactor(activation, sigma_w2=sigma_w2, sigma_b2=sigma_b2)
    return depth_asymptotics(reg.chi, reg.kappa2, dim, index=index, above=above, prefactor=A, eta_limit=eta_inf)
