r"""Numerical critical points of sampled fields on the circle :math:`S^1` and the sphere :math:`S^2`.

A *field* is any vectorised callable ``field(points) -> values`` taking unit
vectors ``points`` of shape ``(..., d+1)`` and returning ``points.shape[:-1]``
values (one realisation: a polynomial, a random network, ...).

* :math:`S^1` (:func:`critical_points_circle`): the angular derivative
  :math:`g(\theta) = \partial_\theta f(\cos\theta, \sin\theta)` (central
  differences) is sampled on ``resolution`` equispaced angles; each sign change
  brackets a critical point (:math:`+\to-` a maximum, :math:`-\to+` a minimum),
  refined by a vectorised Illinois (regula falsi) root-finder.
* :math:`S^2` (:func:`critical_points_sphere`): a Fibonacci point set of
  ``resolution`` vertices, triangulated by its convex hull. A vertex is a
  discrete critical point in the sense of Banchoff (1967): with :math:`c_v` the
  number of sign changes of :math:`f(w) - f(v)` around its cyclically ordered
  link, it is a maximum/minimum if :math:`c_v = 0` and a saddle of multiplicity
  :math:`c_v/2 - 1` if :math:`c_v \ge 4`. Banchoff's theorem gives
  :math:`\sum_v (1 - c_v/2) = \chi(S^2) = 2` for every field with distinct
  vertex values. Candidates are refined by Newton's method on the sphere
  (gradient and Hessian by central differences in the tangent plane, retraction
  :math:`x \mapsto (x + v)/|x + v|`, which agrees with the exponential map to
  second order so the difference Hessian is the Riemannian one), deduplicated
  and classified by the signs of the Hessian eigenvalues (index = number of
  negative eigenvalues: 0 minimum, 1 saddle, 2 maximum).

Without refinement (``refine=False``) the discrete counts are returned: this
is what makes sense for piecewise-smooth fields (ReLU networks), whose counts
grow with the resolution.

Test fields with known answers: :func:`polynomial_field` samples the
isotropic Gaussian field with :math:`K(t) = \sum_p a_p t^p` exactly (random
tensors: :math:`f(x) = \sum_p \sqrt{a_p}\,\langle J_p, x^{\otimes p}\rangle`,
:math:`J_p` iid :math:`\mathcal N(0,1)`), whose mean counts are given by
:func:`nnlandscape.kac_rice.expected_critical_points`;
:func:`network_field` wraps one random network of
:func:`nnlandscape.random_nets.sample_outputs`.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple

import numpy as np

from ._checks import (
    MAX_SIZE, check_bool, check_choice, check_finite_array, check_int, check_real, check_seed, check_sequence,
)
from ._threads import single_threaded_blas

__all__ = [
    "MIN_RESOLUTION",
    "CriticalPoints",
    "circle_points",
    "fibonacci_sphere",
    "sphere_mesh",
    "critical_points_circle",
    "critical_points_sphere",
    "find_critical_points",
    "count_critical_points",
    "mean_counts",
    "polynomial_field",
    "network_field",
    "network_counts",
]

#: Smallest accepted mesh size per sphere dimension.
MIN_RESOLUTION = {1: 16, 2: 100}
#: Largest mesh accepted (S^2: the convex hull of 1e6 points takes seconds and ~1 GB).
MAX_RESOLUTION = {1: 10**7, 2: 10**6}
_FD_STEP = 1e-4


class CriticalPoints(NamedTuple):
    """Critical points of one field: unit vectors, heights, indices (0 min ... d max)."""

    points: np.ndarray  #: (m, d+1)
    values: np.ndarray  #: (m,)
    index: np.ndarray  #: (m,) number of negative Hessian eigenvalues
    multiplicity: np.ndarray  #: (m,) 1, or m-1 for a discrete monkey saddle (refine=False)
    dim: int
    unrefined: int  #: candidates whose refinement failed (dropped)

    @property
    def counts(self) -> np.ndarray:
        """Numbers of critical points by index, ``(d+1,)`` (multiplicities included)."""
        return np.bincount(self.index, weights=self.multiplicity, minlength=self.dim + 1).astype(int)

    def above(self, u) -> "CriticalPoints":
        """The critical points with value > ``u``."""
        u = check_real("u", u)
        keep = self.values > u
        return self._replace(points=self.points[keep], values=self.values[keep], index=self.index[keep],
                             multiplicity=self.multiplicity[keep])


def _check_field(field):
    if not callable(field):
        raise ValueError(f"field must be a callable points -> values, got {field!r}")
    return field


def _evaluate(field, pts):
    vals = np.asarray(field(pts), dtype=float)
    if vals.shape != pts.shape[:-1]:
        raise ValueError(f"field returned shape {vals.shape} for points of shape {pts.shape}; "
                         f"expected {pts.shape[:-1]}")
    if not np.all(np.isfinite(vals)):
        raise ValueError("field returned non-finite values")
    return vals


def _check_resolution(resolution, dim):
    if isinstance(resolution, (bool, np.bool_)):
        raise ValueError(f"resolution must be an integer, got {resolution!r}")
    return check_int("resolution", resolution, MIN_RESOLUTION[dim], MAX_RESOLUTION[dim])


# ----------------------------------------------------------------------------
# S^1
# ----------------------------------------------------------------------------
def circle_points(theta):
    r"""Unit vectors :math:`(\cos\theta, \sin\theta)`, shape ``theta.shape + (2,)``."""
    theta = check_finite_array("theta", theta)
    return np.stack([np.cos(theta), np.sin(theta)], axis=-1)


def _dtheta(field, theta, h=_FD_STEP):
    """Central difference of f(cos t, sin t) in t (error O(h^2 f''')."""
    fp = _evaluate(field, circle_points(theta + h))
    fm = _evaluate(field, circle_points(theta - h))
    return (fp - fm) / (2.0 * h)


@single_threaded_blas
def critical_points_circle(field, resolution, *, refine=True, max_iter=60, tol=1e-13):
    r"""Critical points of ``field`` on :math:`S^1`.

    ``refine=True``: zeros of :math:`\partial_\theta f` bracketed on the grid
    :math:`\theta_j = 2\pi j/n` and refined by Illinois regula falsi until the
    bracket is below ``tol``; index from the direction of the sign change.
    ``refine=False``: the discrete local extrema of the samples
    (:math:`f_j > f_{j\pm1}` maxima, :math:`f_j < f_{j\pm1}` minima).
    """
    refine = check_bool("refine", refine)
    field = _check_field(field)
    n = _check_resolution(resolution, 1)
    max_iter = check_int("max_iter", max_iter, 1)
    theta = 2.0 * np.pi * np.arange(n) / n
    if not refine:
        f = _evaluate(field, circle_points(theta))
        fl, fr = np.roll(f, 1), np.roll(f, -1)
        is_max = (f > fl) & (f > fr)
        is_min = (f < fl) & (f < fr)
        sel = is_max | is_min
        th = theta[sel]
        return CriticalPoints(circle_points(th), f[sel], is_max[sel].astype(int), np.ones(sel.sum(), int), 1, 0)
    g = _dtheta(field, theta)
    g_next = np.roll(g, -1)
    j = np.nonzero(np.sign(g) * np.sign(g_next) < 0)[0]
    exact = np.nonzero(g == 0)[0]
    a = theta[j]
    b = a + 2.0 * np.pi / n
    ga, gb = g[j], g_next[j]
    is_max = ga > 0
    side = np.zeros(len(j), int)
    for _ in range(max_iter):
        if len(j) == 0 or np.all(b - a < tol):
            break
        c = (a * gb - b * ga) / (gb - ga)
        c = np.where((c <= a) | (c >= b) | ~np.isfinite(c), 0.5 * (a + b), c)
        gc = _dtheta(field, c)
        left = np.sign(gc) == np.sign(ga)  # root in [c, b]
        # Illinois: halve the retained end's value when the same end is kept twice
        b_keep = left
        gb = np.where(b_keep & (side == 1), 0.5 * gb, gb)
        ga = np.where(~b_keep & (side == -1), 0.5 * ga, ga)
        a, ga = np.where(left, c, a), np.where(left, gc, ga)
        b, gb = np.where(left, b, c), np.where(left, gb, gc)
        side = np.where(left, 1, -1)
        done = gc == 0
        a, b = np.where(done, c, a), np.where(done, c, b)
    th = np.concatenate([0.5 * (a + b), theta[exact]])
    idx = np.concatenate([is_max.astype(int), (_dtheta(field, theta[exact] + 1e-3) < 0).astype(int)])
    th = np.mod(th, 2.0 * np.pi)
    order = np.argsort(th)
    th, idx = th[order], idx[order]
    pts = circle_points(th)
    return CriticalPoints(pts, _evaluate(field, pts), idx, np.ones(len(th), int), 1, 0)


# ----------------------------------------------------------------------------
# S^2 mesh
# ----------------------------------------------------------------------------
def fibonacci_sphere(n):
    r"""``n`` near-uniform points on :math:`S^2` (golden-angle spiral, :math:`z_i = 1 - (2i+1)/n`)."""
    n = check_int("n", n, 4, MAX_SIZE)
    i = np.arange(n)
    z = 1.0 - (2.0 * i + 1.0) / n
    r = np.sqrt(1.0 - z * z)
    phi = i * math.pi * (3.0 - math.sqrt(5.0))
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


class SphereMesh(NamedTuple):
    """A triangulated point set on S^2 with cyclically ordered vertex links."""

    vertices: np.ndarray  #: (n, 3)
    links: np.ndarray  #: (n, max_degree) neighbour ids in angular order, padded by repeating the last
    spacing: float  #: typical edge length (radians)


@functools.lru_cache(maxsize=8)
def _mesh(n):
    from scipy.spatial import ConvexHull

    V = fibonacci_sphere(n)
    tri = ConvexHull(V).simplices
    edges = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    both = np.concatenate([edges, edges[:, ::-1]])
    both = both[np.lexsort((both[:, 1], both[:, 0]))]
    deg = np.bincount(both[:, 0], minlength=n)
    start = np.concatenate([[0], np.cumsum(deg)[:-1]])
    dmax = int(deg.max())
    slot = np.arange(len(both)) - start[both[:, 0]]
    links = np.zeros((n, dmax), int)
    links[both[:, 0], slot] = both[:, 1]
    pad = np.arange(dmax)[None, :] >= deg[:, None]
    # angular order in the tangent plane of each vertex
    e1 = np.cross(V, np.array([0.0, 0.0, 1.0]))
    small = np.linalg.norm(e1, axis=1) < 1e-8
    e1[small] = np.cross(V[small], np.array([1.0, 0.0, 0.0]))
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(V, e1)
    W = V[links] - V[:, None, :]
    ang = np.arctan2(np.einsum("nkd,nd->nk", W, e2), np.einsum("nkd,nd->nk", W, e1))
    ang[pad] = np.inf
    order = np.argsort(ang, axis=1)
    links = np.take_along_axis(links, order, axis=1)
    last = links[np.arange(n), deg - 1]
    links = np.where(pad, last[:, None], links)
    spacing = float(np.mean(np.arccos(np.clip(np.einsum("ij,ij->i", V[edges[:, 0]], V[edges[:, 1]]), -1, 1))))
    links.setflags(write=False)
    V.setflags(write=False)
    return SphereMesh(V, links, spacing)


def sphere_mesh(resolution) -> SphereMesh:
    """The cached Fibonacci/convex-hull mesh with ``resolution`` vertices (see module docstring)."""
    return _mesh(_check_resolution(resolution, 2))


def _discrete_sphere(f, mesh):
    """Banchoff classification of every vertex: (#sign changes around the link, all-lower, all-higher)."""
    diff = f[mesh.links] - f[:, None]
    sgn = diff > 0
    changes = np.sum(sgn != np.roll(sgn, -1, axis=1), axis=1)
    return changes, ~sgn.any(axis=1), sgn.all(axis=1)


def _tangent_frames(x):
    a = np.where(np.abs(x[:, :1]) < 0.9, np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, 1.0, 0.0]]))
    e1 = a - np.sum(a * x, axis=1, keepdims=True) * x
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(x, e1)
    return e1, e2


def _grad_hess(field, x, h=_FD_STEP):
    """Riemannian gradient (m,2) and Hessian (m,2,2) in a tangent frame, by a 9-point stencil."""
    e1, e2 = _tangent_frames(x)
    offs = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [1, -1], [-1, 1], [-1, -1]], float) * h
    P = x[:, None, :] + offs[None, :, :1] * e1[:, None, :] + offs[None, :, 1:] * e2[:, None, :]
    P /= np.linalg.norm(P, axis=2, keepdims=True)
    F = _evaluate(field, P)
    g = np.stack([(F[:, 1] - F[:, 2]) / (2 * h), (F[:, 3] - F[:, 4]) / (2 * h)], axis=1)
    h11 = (F[:, 1] - 2 * F[:, 0] + F[:, 2]) / h**2
    h22 = (F[:, 3] - 2 * F[:, 0] + F[:, 4]) / h**2
    h12 = (F[:, 5] - F[:, 6] - F[:, 7] + F[:, 8]) / (4 * h * h)
    H = np.stack([np.stack([h11, h12], -1), np.stack([h12, h22], -1)], -2)
    return g, H, e1, e2, F[:, 0]


@single_threaded_blas
def critical_points_sphere(field, resolution, *, refine=True, max_iter=40, gtol=1e-7):
    r"""Critical points of ``field`` on :math:`S^2` (mesh + Banchoff test + Newton; module docstring).

    Newton starts from the discrete critical vertices and from the vertices
    where :math:`|\nabla f|^2` (central differences) is a discrete local
    minimum; the latter recover critical points whose discrete signature is
    lost when a saddle and an extremum share a mesh cell. ``gtol`` is the
    convergence threshold on :math:`|\nabla f|` relative to the spread of
    ``field`` on the mesh; a Newton step is capped at the mesh spacing and
    converged points closer than :math:`10^{-5}` are merged. ``unrefined``
    counts discrete critical vertices whose Newton run did not converge. ``refine=False`` returns the discrete critical
    vertices (saddles with multiplicity).
    """
    refine = check_bool("refine", refine)
    field = _check_field(field)
    mesh = sphere_mesh(resolution)
    max_iter = check_int("max_iter", max_iter, 1)
    gtol = check_real("gtol", gtol, 0.0, low_open=True)
    V = np.asarray(mesh.vertices)
    f = _evaluate(field, V)
    changes, is_max, is_min = _discrete_sphere(f, mesh)
    extreme = is_max | is_min
    saddle = changes >= 4
    cand = np.nonzero(extreme | saddle)[0]
    if not refine:
        idx = np.where(is_max[cand], 2, np.where(is_min[cand], 0, 1))
        mult = np.where(saddle[cand], changes[cand] // 2 - 1, 1)
        return CriticalPoints(V[cand], f[cand], idx, mult, 2, 0)
    scale = max(float(np.ptp(f)), 1e-300)
    # extra starting points: vertices where |grad f|^2 is a discrete local minimum
    e1, e2 = _tangent_frames(V)
    h = _FD_STEP
    P = V[:, None, :] + h * np.stack([e1, -e1, e2, -e2], axis=1)
    P /= np.linalg.norm(P, axis=2, keepdims=True)
    Fp = _evaluate(field, P)
    g2 = ((Fp[:, 0] - Fp[:, 1]) ** 2 + (Fp[:, 2] - Fp[:, 3]) ** 2) / (4 * h * h)
    gmin = np.all(g2[:, None] <= g2[mesh.links], axis=1)
    start = np.union1d(cand, np.nonzero(gmin)[0])
    is_cand = np.isin(start, cand)
    # Newton with the Hessian made definite for discrete extrema (so the iteration ascends to a
    # maximum / descends to a minimum); plain Newton for saddles and |grad f| minima
    mode = np.zeros(len(start), int)
    mode[is_max[start] & is_cand] = 1
    mode[is_min[start] & is_cand] = -1
    x = V[start].copy()
    conv = np.zeros(len(x), bool)
    for _ in range(max_iter):
        act = ~conv
        if not act.any():
            break
        g, H, e1, e2, _ = _grad_hess(field, x[act])
        gn = np.linalg.norm(g, axis=1)
        ok = gn < gtol * scale
        lam, vec = np.linalg.eigh(H)
        m_act = mode[act][:, None]
        lam = np.where(m_act < 0, np.abs(lam), np.where(m_act > 0, -np.abs(lam), lam))
        floor = 1e-8 * scale
        lam = np.where(np.abs(lam) < floor, np.where(lam < 0, -floor, floor), lam)
        step = -np.einsum("mij,mj->mi", vec, np.einsum("mji,mj->mi", vec, g) / lam)
        nrm = np.linalg.norm(step, axis=1, keepdims=True)
        step *= np.minimum(1.0, mesh.spacing / np.maximum(nrm, 1e-300))
        step[ok] = 0.0
        xa = x[act] + step[:, :1] * e1 + step[:, 1:] * e2
        x[act] = xa / np.linalg.norm(xa, axis=1, keepdims=True)
        conv[np.nonzero(act)[0][ok]] = True
    good = conv
    x = x[good]
    # merge duplicates (several starting points converging to one critical point)
    if len(x) > 1:
        from scipy.spatial import cKDTree

        pairs = cKDTree(x).query_pairs(1e-5, output_type="ndarray")
        drop = np.zeros(len(x), bool)
        for i, j in pairs[np.argsort(pairs[:, 0])] if len(pairs) else []:
            if not drop[i]:
                drop[j] = True
        x = x[~drop]
    if len(x):
        g, H, _, _, vals = _grad_hess(field, x)
        idx = np.sum(np.linalg.eigvalsh(H) < 0, axis=1)
    else:
        vals, idx = np.zeros(0), np.zeros(0, int)
    return CriticalPoints(x, vals, idx, np.ones(len(x), int), 2, int((~good & is_cand).sum()))


def find_critical_points(field, dim, resolution, *, refine=True):
    """Dispatch to :func:`critical_points_circle` (``dim=1``) or :func:`critical_points_sphere` (``dim=2``)."""
    if isinstance(dim, (bool, np.bool_)):
        raise ValueError(f"dim must be 1 or 2, got {dim!r}")
    dim = check_choice("dim", dim, (1, 2))
    refine = check_bool("refine", refine)
    finder = critical_points_circle if dim == 1 else critical_points_sphere
    return finder(field, resolution, refine=refine)


def count_critical_points(fields, dim, resolution, *, refine=True, above=None):
    """Counts by index for a sequence of fields: integer array ``(n_fields, dim+1)``."""
    fields = check_sequence("fields", fields)
    for i, fld in enumerate(fields):
        if not callable(fld):
            raise TypeError(f"fields[{i}] must be a callable points -> values, got {type(fld).__name__}")
    above = None if above is None else check_real("above", above)
    if not fields:
        raise ValueError("fields must be a non-empty sequence of callables")
    out = []
    for fld in fields:
        cp = find_critical_points(fld, dim, resolution, refine=refine)
        if above is not None:
            cp = cp.above(above)
        out.append(cp.counts)
    return np.array(out)


def mean_counts(counts):
    r"""Sample mean and standard error :math:`s/\sqrt n` of counts (``(n, ...)`` array), along axis 0."""
    counts = check_finite_array("counts", counts)
    n = counts.shape[0] if counts.ndim else 0
    if n < 2:
        raise ValueError(f"counts must hold at least 2 samples along axis 0 for a standard error, got {n}")
    return counts.mean(axis=0), counts.std(axis=0, ddof=1) / math.sqrt(n)


# ----------------------------------------------------------------------------
# fields
# ----------------------------------------------------------------------------
def polynomial_field(coefficients, dim, seed=0) -> Callable:
    r"""One sample of the isotropic Gaussian field with :math:`K(t) = \sum_p a_p t^p` on :math:`S^d`.

    ``coefficients[p] = a_p \ge 0`` (:math:`p = 0, 1, \dots`, at most 8 terms),
    normalised to :math:`\sum_p a_p = 1` so :math:`K(1) = 1`,
    :math:`k_1 = \sum p a_p`, :math:`k_2 = \sum p(p-1)a_p`.
    :math:`f(x) = \sum_p \sqrt{a_p}\,\sum_{i_1..i_p} J^{(p)}_{i_1..i_p}x_{i_1}\cdots x_{i_p}`
    with iid standard normal :math:`J^{(p)}`, so
    :math:`\mathbb E f(x)f(y) = \sum_p a_p \langle x,y\rangle^p` exactly.
    """
    a = check_finite_array("coefficients", coefficients).ravel()
    if a.size == 0 or a.size > 9 or np.any(a < 0) or a.sum() <= 0:
        raise ValueError("coefficients must be 1 to 9 non-negative numbers a_0..a_p with a positive sum")
    dim = check_int("dim", dim, 1, 3)
    a = a / a.sum()
    D = dim + 1
    rng = np.random.default_rng(check_seed("seed", seed))
    tensors = [(p, math.sqrt(ap) * rng.standard_normal((D,) * p)) for p, ap in enumerate(a)]
    tensors = [(p, J) for p, J in tensors if a[p] > 0]

    def field(points):
        X = np.asarray(points, dtype=float)
        flat = X.reshape(-1, D)
        out = np.zeros(flat.shape[0])
        if flat.shape[0] == 0:
            return out.reshape(X.shape[:-1])
        for p, J in tensors:
            if p == 0:
                out += float(J)
                continue
            y = J.reshape(-1, D) @ flat.T  # (D^{p-1}, k)
            for _ in range(p - 1):
                y = np.einsum("ijk,kj->ik", y.reshape(-1, D, flat.shape[0]), flat)
            out += y.reshape(-1)
        return out.reshape(X.shape[:-1])

    return field


def network_field(activation, depth, width, dim, *, sigma_w2=1.0, sigma_b2=0.0, seed=0, index=0):
    r"""One random MLP (:func:`nnlandscape.random_nets.sample_network`) as a field on :math:`S^d`.

    Inputs are the unit vectors scaled to :math:`|x|^2 = N = d+1` (the book's
    convention, so :math:`q = \langle \hat x, \hat y\rangle`). The weights are
    drawn once, from the stream of network ``index`` of ``seed``, so every call
    (mesh, refinement steps) sees the same network, and the values equal those of
    :func:`nnlandscape.random_nets.sample_outputs` with ``method="weights"``.
    Different ``(seed, index)`` give independent networks. The returned callable
    carries the network as its ``net`` attribute.
    """
    from . import random_nets

    if isinstance(dim, (bool, np.bool_)):
        raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
    dim = check_int("dim", dim, 1)
    N = dim + 1
    net = random_nets.sample_network(activation, depth, width, N, sigma_w2=sigma_w2, sigma_b2=sigma_b2,
                                     seed=seed, index=index)
    root = math.sqrt(N)

    def field(points):
        P = np.asarray(points, dtype=float)
        if P.ndim < 1 or P.shape[-1] != N:
            raise ValueError(f"points must have shape (..., {N}); got shape {P.shape}")
        return net(root * P)

    field.net = net
    return field


def network_counts(activation, depth, width, dim, resolution, *, n_networks, sigma_w2=1.0, sigma_b2=0.0,
                   seed=0, refine=True, above=None):
    r"""Critical-point counts by index of ``n_networks`` independent random MLPs on :math:`S^d`.

    Network ``i`` is :func:`network_field` ``(..., seed=seed, index=i)``; its
    critical points are found by :func:`find_critical_points` at ``resolution``
    (``refine=False``: the discrete counts of the mesh). ``above = u`` keeps the
    critical points with :math:`f/\sqrt{C_L(1)} > u`, a threshold on the field
    normalised by its infinite-width variance :math:`C_L(1)` (the convention of
    :func:`nnlandscape.kac_rice.network_critical_points`). Returns an integer
    array ``(n_networks, dim + 1)``: column :math:`k` counts index :math:`k`
    (0 minima, ``dim`` maxima). Compare the mean (:func:`mean_counts`) with
    the Kac-Rice value, which is exact for infinite width.
    """
    from . import kernels

    if isinstance(dim, (bool, np.bool_)):
        raise ValueError(f"dim must be 1 or 2, got {dim!r}")
    dim = check_choice("dim", dim, (1, 2))
    resolution = _check_resolution(resolution, dim)
    n_networks = check_int("n_networks", n_networks, 1, MAX_SIZE)
    scale = 1.0
    if above is not None:
        above = check_real("above", above)
        scale = math.sqrt(float(kernels.covariance(activation, depth, 1.0, sigma_w2=sigma_w2, sigma_b2=sigma_b2)))
    out = np.empty((n_networks, dim + 1), dtype=int)
    for i in range(n_networks):
        fld = network_field(activation, depth, width, dim, sigma_w2=sigma_w2, sigma_b2=sigma_b2, seed=seed, index=i)
        cp = find_critical_points(fld, dim, resolution, refine=refine)
        if above is not None:
            cp = cp.above(above * scale)
        out[i] = cp.counts
    return out
