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

Without refinement (``refine=False``) the discrete counts are returned. For
piecewise-linear fields (ReLU networks) the raw discrete count is wrong: along
a crease the mesh interpolant zig-zags into spurious minimum-saddle and
saddle-maximum pairs, and on a flat region every vertex reads as a maximum, so
it grows with the resolution even for a function with 4 critical points. With
``persistence="auto"`` the pairs whose persistence is below the measured
interpolation error are cancelled (:func:`persistence_pairs`), which is exact
on such controls and converges from below. :func:`pl_critical_points` counts
the critical points of a one-hidden-layer piecewise-linear network exactly, on
its linear pieces.

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
    "persistence_pairs",
    "pl_critical_points",
    "network_pl_critical_points",
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
    threshold: float = 0.0  #: persistence below which discrete pairs were cancelled (``persistence=``)

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


def _union_find_pairs(order, links):
    """0-dimensional persistence of the lower-star filtration (elder rule), by union-find.

    ``order``: vertices sorted by increasing value (ties broken by the sort, i.e. a total order).
    Returns ``death`` with ``death[b]`` the vertex at which the component born at ``b`` merged into
    an older one, ``-1`` for the component that never dies (the global minimum) and ``b`` itself
    for a vertex that is not a local minimum (born and merged at once).
    """
    n = order.shape[0]
    rank = np.empty(n, np.int64)
    for i in range(n):
        rank[order[i]] = i
    parent = np.arange(n)
    birth = np.arange(n)
    death = np.full(n, -1, np.int64)
    for i in range(n):
        v = order[i]
        for k in range(links.shape[1]):
            w = links[v, k]
            if rank[w] > i:
                continue
            rv = v
            while parent[rv] != rv:
                parent[rv] = parent[parent[rv]]
                rv = parent[rv]
            rw = w
            while parent[rw] != rw:
                parent[rw] = parent[parent[rw]]
                rw = parent[rw]
            if rv == rw:
                continue
            if rank[birth[rv]] < rank[birth[rw]]:
                old, young = rv, rw
            else:
                old, young = rw, rv
            death[birth[young]] = v
            parent[young] = old
    return death


try:  # numba is a hard dependency of the book; the plain-Python loop gives the same pairs, slower
    import numba as _numba

    _union_find_pairs = _numba.njit(cache=True)(_union_find_pairs)
except ImportError:  # pragma: no cover
    pass


def persistence_pairs(values, mesh):
    r"""Persistence pairs of a vertex function on a sphere mesh (lower-star filtration, elder rule).

    ``values`` (``(n,)``) on the vertices of ``mesh`` (:func:`sphere_mesh`). Returns
    ``(minima, maxima)``, each an integer array ``(m, 2)`` of ``(birth, death)`` vertices: for the
    sublevel sets, a local minimum and the saddle at which its component merges into an older one
    (persistence ``f[death] - f[birth]``); for the superlevel sets, a local maximum and its saddle.
    The global minimum and maximum never die and are not listed. Ties are broken by vertex index
    (simulation of simplicity), so a flat region holds one extremum with zero-persistence pairs. On
    :math:`S^2` every discrete saddle is the death of exactly one such pair (sublevel components
    merge, or a loop is closed, which is a superlevel merge), so the counts after cancelling all
    pairs of persistence :math:`\le \varepsilon` are :math:`N_0 = 1 + \#\text{minima}`,
    :math:`N_2 = 1 + \#\text{maxima}`, :math:`N_1 = N_0 + N_2 - 2`; with :math:`\varepsilon = 0`
    and distinct values they are Banchoff's counts.
    """
    if not isinstance(mesh, SphereMesh):
        raise TypeError(f"mesh must be a SphereMesh (from sphere_mesh), got {type(mesh).__name__}")
    f = check_finite_array("values", values)
    if f.shape != (mesh.vertices.shape[0],):
        raise ValueError(f"values must have shape ({mesh.vertices.shape[0]},), got {f.shape}")
    links = np.ascontiguousarray(mesh.links, dtype=np.int64)
    out = []
    for g in (f, -f):
        order = np.argsort(g, kind="stable").astype(np.int64)
        death = _union_find_pairs(order, links)
        b = np.nonzero((death >= 0) & (death != np.arange(len(f))))[0]
        out.append(np.stack([b, death[b]], axis=1))
    return out[0], out[1]


@functools.lru_cache(maxsize=8)
def _mesh_edges(n):
    links = _mesh(n).links
    v = np.repeat(np.arange(n), links.shape[1])
    e = np.stack([v, links.ravel()], axis=1)
    e = e[e[:, 0] < e[:, 1]]
    return np.unique(e, axis=0)


def _interpolation_error(field, f, mesh):
    """Per vertex: the largest deviation of ``field`` at the (normalised) midpoints of the edges within
    two edges of the vertex from the mean of the edge's two end values (the mesh interpolant)."""
    e = _mesh_edges(mesh.vertices.shape[0])
    mid = mesh.vertices[e[:, 0]] + mesh.vertices[e[:, 1]]
    mid /= np.linalg.norm(mid, axis=1, keepdims=True)
    dev = np.abs(_evaluate(field, mid) - 0.5 * (f[e[:, 0]] + f[e[:, 1]]))
    loc = np.zeros(len(f))
    np.maximum.at(loc, e[:, 0], dev)
    np.maximum.at(loc, e[:, 1], dev)
    return np.maximum(loc, loc[mesh.links].max(axis=1))


def _persistent_critical_points(field, f, mesh, persistence):
    """Critical vertices that survive the cancellation of pairs with persistence <= threshold."""
    mins, maxs = persistence_pairs(f, mesh)
    if isinstance(persistence, str):
        check_choice("persistence", persistence, ("auto",))
        err = 2.0 * _interpolation_error(field, f, mesh)
        eps_min = np.maximum(err[mins[:, 0]], err[mins[:, 1]])
        eps_max = np.maximum(err[maxs[:, 0]], err[maxs[:, 1]])
        eps = float(err.max())
    else:
        eps = eps_min = eps_max = check_real("persistence", persistence, 0.0)
    mins = mins[f[mins[:, 1]] - f[mins[:, 0]] > eps_min]
    maxs = maxs[f[maxs[:, 0]] - f[maxs[:, 1]] > eps_max]
    gmin = int(np.argsort(f, kind="stable")[0])
    gmax = int(np.argsort(-f, kind="stable")[0])
    sad, mult = np.unique(np.concatenate([mins[:, 1], maxs[:, 1]]), return_counts=True)
    verts = np.concatenate([[gmin], mins[:, 0], sad, [gmax], maxs[:, 0]]).astype(int)
    idx = np.concatenate([np.zeros(1 + len(mins), int), np.ones(len(sad), int), np.full(1 + len(maxs), 2)])
    mult = np.concatenate([np.ones(1 + len(mins), int), mult, np.ones(1 + len(maxs), int)])
    V = np.asarray(mesh.vertices)
    return CriticalPoints(V[verts], f[verts], idx, mult, 2, 0, float(eps))


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
def critical_points_sphere(field, resolution, *, refine=True, max_iter=40, gtol=1e-7, persistence=None):
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

    ``persistence`` (only with ``refine=False``): cancel the discrete minimum-saddle and
    saddle-maximum pairs whose persistence is at most a threshold (:func:`persistence_pairs`), a
    float or ``"auto"``. The stability of persistence diagrams (Cohen-Steiner, Edelsbrunner &
    Harer 2007) says that the pairs of the mesh interpolant with persistence above twice its sup
    distance :math:`\delta` to the field are pairs of the field. Along the creases of a
    piecewise-linear field (ReLU) the raw discrete count adds spurious pairs whose persistence is of
    the order of the interpolation error there (:math:`O(h)` times the jump of the gradient, for a
    mesh spacing :math:`h`). ``"auto"`` measures that error where it arises: a pair is cancelled
    when its persistence is at most twice the largest deviation of the field at an edge midpoint
    from the mesh interpolant, over the edges within two edges of either of its vertices (a local
    version of the stability bound: a heuristic, checked against exact counts on the controls of
    the tests). The threshold shrinks with :math:`h`, so the count converges from below to the
    number of critical points, in the sense of Morse theory for piecewise-linear functions (a flat
    region counts once; pairs of persistence below the local error are not yet resolved). The
    largest threshold used is returned as ``threshold``.
    """
    refine = check_bool("refine", refine)
    field = _check_field(field)
    mesh = sphere_mesh(resolution)
    max_iter = check_int("max_iter", max_iter, 1)
    gtol = check_real("gtol", gtol, 0.0, low_open=True)
    V = np.asarray(mesh.vertices)
    f = _evaluate(field, V)
    if persistence is not None:
        if refine:
            raise ValueError("persistence applies to the discrete count only: use refine=False with persistence")
        return _persistent_critical_points(field, f, mesh, persistence)
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


def find_critical_points(field, dim, resolution, *, refine=True, persistence=None):
    """Dispatch to :func:`critical_points_circle` (``dim=1``) or :func:`critical_points_sphere` (``dim=2``).

    ``persistence`` (``dim=2``, ``refine=False`` only): see :func:`critical_points_sphere`.
    """
    if isinstance(dim, (bool, np.bool_)):
        raise ValueError(f"dim must be 1 or 2, got {dim!r}")
    dim = check_choice("dim", dim, (1, 2))
    refine = check_bool("refine", refine)
    if dim == 1:
        if persistence is not None:
            raise ValueError("persistence is implemented on S^2 (dim=2) only; on S^1 use the discrete extrema")
        return critical_points_circle(field, resolution, refine=refine)
    return critical_points_sphere(field, resolution, refine=refine, persistence=persistence)


def count_critical_points(fields, dim, resolution, *, refine=True, above=None, persistence=None):
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
        cp = find_critical_points(fld, dim, resolution, refine=refine, persistence=persistence)
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
# exact critical points of a one-hidden-layer piecewise-linear network on S^2
# ----------------------------------------------------------------------------
def _unit(v):
    return v / np.linalg.norm(v)


def pl_critical_points(weights, biases, out, *, slopes=(1.0, 0.0), linear=None, offset=0.0, tol=1e-9):
    r"""Critical points of :math:`f(x) = c + v\cdot x + \sum_i a_i\,\phi(w_i\cdot x + b_i)` on :math:`S^2`, exactly.

    :math:`\phi(z) = s_+z` for :math:`z > 0` and :math:`s_-z` for :math:`z < 0` (ReLU
    :math:`(1, 0)`, leaky ReLU :math:`(1, \alpha)`, :math:`|z|` is :math:`(1, -1)`);
    ``weights`` :math:`(n, 3)`, ``biases`` and ``out`` :math:`(n,)`, ``linear`` :math:`v`,
    ``offset`` :math:`c`. The sphere is cut by the circles :math:`w_i\cdot x + b_i = 0` into
    pieces on which :math:`f` is the restriction of an affine map :math:`g\cdot x + c'`. A point is
    critical when the sign of :math:`f(y) - f(x)` changes other than twice around it (Morse theory
    for piecewise-linear functions, as in Banchoff's test); the candidates are, on the exact
    pieces and with no mesh,

    * inside a piece: :math:`\pm g/|g|` (a maximum and a minimum of :math:`g\cdot x`) when it lies
      in that piece;
    * on a crease circle, between crossings: the two extrema of the affine map along the circle; such
      a point is critical when both sides fall away from the crease (a ridge: a maximum along the
      crease is a maximum, a minimum a saddle) or both rise (a valley);
    * where two circles cross: the first-order change :math:`D(u)` in the tangent direction
      :math:`u` is linear on each of the four sectors, and its sign changes :math:`c` decide
      (:math:`c = 0` extremum, :math:`c \ge 4` saddle of multiplicity :math:`c/2 - 1`).

    Generic position is assumed (no three circles through a point, no candidate within ``tol`` of a
    circle it does not lie on); the cost grows like :math:`2^n`, so :math:`n \le 12`. The Euler
    characteristic :math:`N_0 - N_1 + N_2 = 2` is a check. Returns :class:`CriticalPoints`.
    """
    W = check_finite_array("weights", weights)
    if W.ndim != 2 or W.shape[1] != 3:
        raise ValueError(f"weights must have shape (n, 3), got {W.shape}")
    n = W.shape[0]
    if not 1 <= n <= 12:
        raise ValueError(f"the number of units must be in [1, 12] (cost 2^n), got {n}")
    b = check_finite_array("biases", biases).ravel()
    a = check_finite_array("out", out).ravel()
    if b.shape != (n,) or a.shape != (n,):
        raise ValueError(f"biases and out must have shape ({n},), got {b.shape} and {a.shape}")
    sl = check_finite_array("slopes", slopes).ravel()
    if sl.shape != (2,):
        raise ValueError(f"slopes must be a pair (slope for z > 0, slope for z < 0), got shape {sl.shape}")
    sp_, sm_ = float(sl[0]), float(sl[1])
    tol = check_real("tol", tol, 0, 1, low_open=True, high_open=True)
    v = np.zeros(3) if linear is None else check_finite_array("linear", linear).ravel()
    if v.shape != (3,):
        raise ValueError(f"linear must have shape (3,), got {v.shape}")
    c0 = check_real("offset", offset)

    def phi(z):
        return np.where(z > 0, sp_ * z, sm_ * z)

    def f(x):
        return c0 + x @ v + phi(x @ W.T + b) @ a

    def slope_of(sign):
        return np.where(sign > 0, sp_, sm_)

    pts, idx, mult = [], [], []

    def pattern(x, skip=()):
        z = W @ x + b
        keep = np.ones(n, bool)
        keep[list(skip)] = False
        if np.any(np.abs(z[keep]) < tol):
            return None
        return np.where(z > 0, 1, -1)

    signs = np.array(np.meshgrid(*[[1, -1]] * n, indexing="ij")).reshape(n, -1).T  # all 2^n patterns

    def accept(X, S, skip=None):
        """Rows of X (m, 3) whose pattern (units other than ``skip``) is S (m, n), away from the circles."""
        Z = X @ W.T + b
        keep = np.ones(n, bool)
        if skip is not None:
            keep[skip] = False
        return np.all(np.abs(Z[:, keep]) >= tol, axis=1) & np.all(np.sign(Z[:, keep]) == S[:, keep], axis=1)

    # inside a piece (a flat piece, g = 0, is degenerate and not counted)
    G = v + (slope_of(signs) * a) @ W
    gn = np.linalg.norm(G, axis=1)
    ok = gn >= tol
    for sgn, k in ((1.0, 2), (-1.0, 0)):
        X = sgn * G[ok] / gn[ok, None]
        hit = accept(X, signs[ok])
        pts.extend(X[hit]), idx.extend([k] * int(hit.sum())), mult.extend([1] * int(hit.sum()))
    # on a crease, between crossings
    for i in range(n):
        wn = np.linalg.norm(W[i])
        if abs(b[i]) >= wn * (1 - tol):
            continue
        nrm = W[i] / wn
        centre = -b[i] / wn * nrm
        r = math.sqrt(1.0 - (b[i] / wn) ** 2)
        e1 = _unit(np.cross(nrm, [1.0, 0, 0]) if abs(nrm[0]) < 0.9 else np.cross(nrm, [0, 1.0, 0]))
        e2 = np.cross(nrm, e1)
        S = signs[signs[:, i] == 1]
        others = np.arange(n) != i
        G = v + (slope_of(S[:, others]) * a[others]) @ W[others]
        g1, g2 = G @ e1, G @ e2
        ok = np.hypot(g1, g2) >= tol
        S, G, th = S[ok], G[ok], np.arctan2(g2[ok], g1[ok])
        for dth, along_max in ((0.0, True), (math.pi, False)):
            X = centre + r * (np.cos(th + dth)[:, None] * e1 + np.sin(th + dth)[:, None] * e2)
            hit = accept(X, S, skip=i)
            X, Gh = X[hit], G[hit]
            T = W[i] - (X @ W[i])[:, None] * X  # tangent normal pointing into the + side
            T /= np.linalg.norm(T, axis=1, keepdims=True)
            up_plus = np.einsum("mj,mj->m", Gh + a[i] * sp_ * W[i], T)
            up_minus = -np.einsum("mj,mj->m", Gh + a[i] * sm_ * W[i], T)
            ridge = (up_plus < 0) & (up_minus < 0)
            valley = (up_plus > 0) & (up_minus > 0)
            k = np.where(ridge, 2 if along_max else 1, 1 if along_max else 0)
            sel = ridge | valley
            pts.extend(X[sel]), idx.extend(k[sel].tolist()), mult.extend([1] * int(sel.sum()))
    # crossings
    for i in range(n):
        for j in range(i + 1, n):
            A = W[[i, j]]
            d = np.cross(A[0], A[1])
            if np.linalg.norm(d) < tol:
                continue
            p0 = A.T @ np.linalg.solve(A @ A.T, -b[[i, j]])
            h2 = 1.0 - p0 @ p0
            if h2 <= 0:
                continue
            for sgn in (1.0, -1.0):
                x = p0 + sgn * math.sqrt(h2) * _unit(d)
                pat = pattern(x, skip=(i, j))
                if pat is None:
                    continue
                rest = np.ones(n, bool)
                rest[[i, j]] = False
                g = v + (a * slope_of(pat))[rest] @ W[rest]
                e1, e2 = _tangent_frames(x[None])
                e1, e2 = e1[0], e2[0]
                dirs = [np.cross(x, W[k]) for k in (i, j)]
                angs = np.sort(np.mod(np.concatenate([[math.atan2(q @ e2, q @ e1), math.atan2(q @ e2, q @ e1) + math.pi]
                                                      for q in dirs]), 2 * math.pi))
                fine = np.concatenate([np.linspace(lo, hi, 33)[:-1] for lo, hi in zip(angs, np.append(angs[1:], angs[0] + 2 * math.pi))])
                U = np.cos(fine)[:, None] * e1 + np.sin(fine)[:, None] * e2
                D = U @ g + phi(U @ A.T) @ a[[i, j]]
                sg = np.sign(D)
                sg = sg[sg != 0]
                c = int(np.sum(sg != np.roll(sg, -1)))
                if c == 0:
                    pts.append(x), idx.append(2 if sg[0] < 0 else 0), mult.append(1)
                elif c >= 4:
                    pts.append(x), idx.append(1), mult.append(c // 2 - 1)
    P = np.array(pts).reshape(-1, 3)
    return CriticalPoints(P, f(P) if len(P) else np.zeros(0), np.array(idx, int), np.array(mult, int), 2, 0)


def network_pl_critical_points(field):
    r"""Exact critical points (:func:`pl_critical_points`) of a depth-1 piecewise-linear :func:`network_field` on :math:`S^2`.

    The network's held weights give :math:`w_i = \sqrt 3\,W^1_{:,i}` (inputs :math:`\sqrt N\hat x`),
    :math:`b_i = b^1_i`, :math:`a_i = W^2_{i}`, :math:`c = b^2`; width at most 12.
    """
    net = getattr(field, "net", None)
    if net is None or net.depth != 1 or net.input_dim != 3 or net.activation.slopes is None:
        raise ValueError("field must be a network_field of depth 1 on S^2 with a piecewise-linear activation")
    W1, W2 = net.weights
    b1, b2 = net.biases
    return pl_critical_points(math.sqrt(3.0) * np.asarray(W1).T, b1, np.asarray(W2)[:, 0],
                              slopes=net.activation.slopes, offset=float(np.ravel(b2)[0]))


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
                   seed=0, refine=True, above=None, persistence=None):
    r"""Critical-point counts by index of ``n_networks`` independent random MLPs on :math:`S^d`.

    Network ``i`` is :func:`network_field` ``(..., seed=seed, index=i)``; its
    critical points are found by :func:`find_critical_points` at ``resolution``
    (``refine=False``: the discrete counts of the mesh; with ``persistence``, after cancelling
    the pairs below that persistence, see :func:`critical_points_sphere`). ``above = u`` keeps the
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
        cp = find_critical_points(fld, dim, resolution, refine=refine, persistence=persistence)
        if above is not None:
            cp = cp.above(above * scale)
        out[i] = cp.counts
    return out
