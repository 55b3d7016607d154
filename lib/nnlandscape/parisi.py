r"""The Crisanti–Sommers (Parisi) functional of spherical mixed p-spin models and its minimisers.

A centred Gaussian field :math:`H` on the sphere :math:`|\sigma|^2 = N` with
:math:`\mathbb E[H(\sigma)H(\sigma')] = N\xi(\sigma\cdot\sigma'/N)` has free
entropy (relative to the uniform probability measure on the sphere)

.. math::

    \varphi(\beta) = \lim_{N\to\infty}\frac1N\,\mathbb E\log\int e^{-\beta H(\sigma)}\,d\sigma
    = \inf_{x}\,\mathcal P_\beta(x),

    \mathcal P_\beta(x) = \frac12\Big[\beta^2\!\int_0^1 x(q)\,\xi'(q)\,dq
    + \int_0^1\Big(\frac1{d(q)} - \frac1{1-q}\Big)dq\Big],\qquad
    d(q) = \int_q^1 x(s)\,ds ,

the infimum running over distribution functions :math:`x(q) = \mu([0, q])` of
probability measures :math:`\mu` on :math:`[0, 1)` (Crisanti & Sommers 1992,
Z. Phys. B 87, 341; proved by Talagrand 2006, Ann. Math. 163, 221, and Chen
2013, EJP 18, 94). The term :math:`\int(1/d - 1/(1-q))` equals
:math:`\int_0^{\hat q} dq/d + \log(1-\hat q)` for :math:`x = 1` on
:math:`[\hat q, 1]`. :math:`\mathcal P_\beta` is **convex** in :math:`x`
(:math:`d` is linear in :math:`x` and :math:`1/d` convex), so a first-order
condition certifies a global minimum: with

.. math::

    g(s) = \beta^2\xi'(s) - \int_0^s\frac{dq}{d(q)^2},

moving mass :math:`\varepsilon` of :math:`\mu` to a point :math:`u` changes
:math:`\mathcal P` at rate :math:`\tfrac12\int x_\delta g`, and :math:`\mu` is
optimal iff :math:`\Gamma(u) = \int_u^1 g` is minimal on the support of
:math:`\mu`.

Energy, free energy and entropy per site follow from the envelope theorem:
:math:`e = -\partial_\beta\varphi = -\beta\int_0^1 x\,\xi'\,dq`,
:math:`f = -\varphi/\beta`, :math:`s = \varphi + \beta e` (log of the fraction
of the sphere's volume).

Zero temperature (Chen & Sen 2017, CMP 350, 129; Jagannath & Tobasco 2017):
with :math:`\beta x(q) \to \gamma(q)` and :math:`\beta(1-\hat q) \to L`,

.. math::

    E_0 = \lim\frac{\min H}{N} = -\inf_{L>0,\ \gamma\uparrow}\ \frac12\Big[\xi'(1)L
    + \int_0^1\gamma(q)\xi'(q)\,dq + \int_0^1\frac{dq}{L + \int_q^1\gamma(s)\,ds}\Big],

over non-decreasing :math:`\gamma\ge0` on :math:`[0, 1)` (a finite measure, not a
probability). Also convex, with no constraint but positivity: solved here on a
grid by L-BFGS-B.

Discretisation. :math:`\mu` is a sum of atoms at grid points; :math:`x` is then
piecewise constant, :math:`d` piecewise linear and every integral is exact
(:math:`\int dq/d` over a cell is :math:`\Delta\log(d_a/d_b)/(d_a-d_b)`). A
k-step RSB ansatz is the same expression with :math:`k+1` free atoms. The full-RSB
solver minimises over the weights of atoms on a fixed grid (convex), then refines
the grid around the support and re-solves.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from ._checks import check_finite_array, check_int, check_real, check_sequence
from ._threads import single_threaded_blas

__all__ = [
    "parisi_functional",
    "parisi_functional_t0",
    "ParisiSolution",
    "parisi_certificate",
    "GroundStateSolution",
    "krsb_solution",
    "frsb_solution",
    "frsb_ground_state",
    "ground_state_energy",
    "krsb_ground_state",
    "ground_state_certificate",
]


# ----------------------------------------------------------------------------
# exact integrals over a piecewise-linear d
# ----------------------------------------------------------------------------
def _h(z):
    """:math:`h(z) = \\log(1+z)/z` and :math:`h'(z)`, stable at small z."""
    z = np.asarray(z, dtype=float)
    small = np.abs(z) < 1e-4
    zs = np.where(small, 1.0, z)
    h = np.where(small, 1.0 - z / 2 + z * z / 3 - z**3 / 4, np.log1p(zs) / zs)
    dh = np.where(
        small,
        -0.5 + 2 * z / 3 - 0.75 * z * z + 0.8 * z**3,
        (zs / (1.0 + zs) - np.log1p(zs)) / (zs * zs),
    )
    return h, dh


def _chain(slopes, widths, d_end):
    r"""Integral of :math:`1/d` over consecutive cells and its gradient.

    ``d`` is continuous, piecewise linear, :math:`d_n = d_{end}` at the right
    end and :math:`d_i = d_{i+1} + s_i\Delta_i`. Returns
    :math:`I = \sum_i\int_{cell\,i} dq/d`, :math:`\partial I/\partial s_i`,
    :math:`\partial I/\partial d_{end}` and the node values :math:`d_0..d_n`.
    """
    inc = slopes * widths
    d = np.empty(len(slopes) + 1)
    d[-1] = d_end
    d[:-1] = d_end + np.cumsum(inc[::-1])[::-1]
    b = d[1:]
    z = inc / b
    h, dh = _h(z)
    I = np.sum(widths * h / b)
    dI_ds_direct = widths**2 / b**2 * dh
    dI_db = -widths / (b * d[:-1])  # d/d(d_{i+1}) of the cell-i term
    # d_{i+1} depends on s_j for j >= i+1, and on d_end with unit weight
    csum = np.concatenate(([0.0], np.cumsum(dI_db)[:-1]))  # sum over i < j
    dI_ds = dI_ds_direct + widths * csum
    return I, dI_ds, np.sum(dI_db), d


def _check_mixture(mixture):
    for name in ("xi", "dxi", "d2xi", "gap"):
        if not callable(getattr(mixture, name, None)):
            raise ValueError(f"mixture must be a nnlandscape.replica.Mixture, got {type(mixture).__name__}")
    return mixture


def _check_T(T):
    return check_real("T", T, 0.0, low_open=True)


def _check_measure(q_atoms, weights, total=1.0):
    wname = "weights" if total is not None else "masses"
    q = np.atleast_1d(check_finite_array("q_atoms", q_atoms))
    w = np.atleast_1d(check_finite_array(wname, weights))
    if q.ndim != 1 or q.shape != w.shape or q.size == 0:
        raise ValueError("q_atoms and weights must be 1-d arrays of the same non-zero length")
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(w))):
        raise ValueError("q_atoms and weights must be finite")
    if q.min() < 0 or q.max() >= 1:
        raise ValueError("q_atoms must lie in [0, 1)")
    if w.min() < 0:
        raise ValueError("weights must be non-negative")
    if total is not None and abs(w.sum() - total) > 1e-9:
        raise ValueError(f"weights must sum to {total} (got {w.sum():.12g})")
    order = np.argsort(q, kind="stable")
    return q[order], w[order]


def _grid_cells(q):
    """Breakpoints ``[0, q_0, ..., q_k]`` (0 prepended when absent) and their cell widths."""
    nodes = q if q[0] == 0.0 else np.concatenate(([0.0], q))
    return nodes, np.diff(nodes)


def _P_from_cells(mix, beta, nodes, x_cells):
    r""":math:`\mathcal P_\beta` for x = x_cells on [nodes_i, nodes_{i+1}) and x = 1 on [nodes_{-1}, 1]."""
    widths = np.diff(nodes)
    top = nodes[-1]
    y_top = 1.0 - top
    dxi = mix.gap(1.0 - nodes[:-1]) - mix.gap(1.0 - nodes[1:])  # xi(q_{i+1}) - xi(q_i)
    lin = np.sum(x_cells * dxi) + mix.gap(y_top)
    if len(widths):
        I, gI, _, _ = _chain(x_cells, widths, y_top)
    else:
        I, gI = 0.0, np.zeros(0)
    P = 0.5 * (beta**2 * lin + I + np.log(y_top))
    grad = 0.5 * (beta**2 * dxi + gI)
    return float(P), grad, float(lin)


def parisi_functional(mixture, T, q_atoms, weights):
    r"""Crisanti–Sommers functional :math:`\mathcal P_\beta(x)` for :math:`\mu = \sum_j w_j\delta_{q_j}`.

    Parameters
    ----------
    mixture : Mixture
    T : float
        Temperature :math:`T = 1/\beta > 0`.
    q_atoms, weights : array_like
        Atoms :math:`q_j \in [0, 1)` and weights :math:`w_j \ge 0`, :math:`\sum w_j = 1`.
        RS is one atom at :math:`q`; 1RSB (with :math:`q_0 = 0`) is
        ``q_atoms=[0, q1], weights=[m, 1 - m]``.

    Returns
    -------
    float
        :math:`\mathcal P_\beta(x)`; its infimum over :math:`\mu` is the free entropy
        :math:`\varphi(\beta)`.

    Examples
    --------
    >>> from nnlandscape.replica import Mixture
    >>> m = Mixture.from_coefficients([0, 0.5])          # spherical SK, T_c = 1
    >>> round(parisi_functional(m, 2.0, [0.0], [1.0]), 12)  # annealed: beta^2 xi(1) / 2
    0.0625
    """
    mix = _check_mixture(mixture)
    beta = 1.0 / _check_T(T)
    q, w = _check_measure(q_atoms, weights)
    nodes, _ = _grid_cells(q)
    x_nodes = np.cumsum(w) if q[0] == 0.0 else np.concatenate(([0.0], np.cumsum(w)))
    return _P_from_cells(mix, beta, nodes, x_nodes[:-1])[0]


def _Q0_from_cells(mix, L, nodes, g_cells):
    r"""Zero-temperature functional for gamma = g_cells on [nodes_i, nodes_{i+1}), nodes ending at 1."""
    widths = np.diff(nodes)
    dxi = mix.gap(1.0 - nodes[:-1]) - mix.gap(1.0 - nodes[1:])
    I, gI, gL, _ = _chain(g_cells, widths, L)
    Q = 0.5 * (mix.dxi(1.0) * L + np.sum(g_cells * dxi) + I)
    return float(Q), 0.5 * (dxi + gI), float(0.5 * (mix.dxi(1.0) + gL))


def parisi_functional_t0(mixture, L, q_atoms, masses):
    r"""Zero-temperature Parisi functional :math:`\mathcal Q(L, \gamma)` (Chen & Sen 2017).

    :math:`\gamma(q) = \sum_{q_j\le q} c_j` with atoms ``q_atoms`` in :math:`[0, 1)` and
    masses :math:`c_j \ge 0` (any total); :math:`L > 0`. Returns
    :math:`\mathcal Q = \frac12[\xi'(1)L + \int\gamma\xi' + \int dq/(L + \int_q^1\gamma)]`;
    :math:`E_0 = -\inf\mathcal Q`. RS is :math:`\gamma = 0`, minimised at
    :math:`L = \xi'(1)^{-1/2}`, giving :math:`E_0^{RS} = -\sqrt{\xi'(1)}`.
    """
    mix = _check_mixture(mixture)
    L = check_real("L", L, 0.0, low_open=True)
    q, c = _check_measure(q_atoms, masses, total=None)
    nodes = np.concatenate((_grid_cells(q)[0], [1.0]))
    g_nodes = np.cumsum(c) if q[0] == 0.0 else np.concatenate(([0.0], np.cumsum(c)))
    return _Q0_from_cells(mix, L, nodes, g_nodes)[0]


# ----------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ParisiSolution:
    r"""A minimiser of :math:`\mathcal P_\beta` within an ansatz.

    Attributes
    ----------
    T : temperature.
    q_atoms, weights : the Parisi measure :math:`\mu = \sum w_j\delta_{q_j}`
        (atoms with weight below ``1e-10`` dropped).
    q, x : the order parameter as a step function: :math:`x(q) = \mu([0, q])`
        on the grid ``q`` (right-continuous).
    free_entropy : :math:`\varphi = \mathcal P_\beta(x)`.
    free_energy, energy, entropy : :math:`-\varphi/\beta`, :math:`-\beta\int x\xi'`,
        :math:`\varphi + \beta e`, per site.
    q_max : the top of the support (:math:`q_{EA}`).
    steps : number of atoms minus one (0 for RS, 1 for 1RSB); ``-1`` marks a
        grid (full-RSB) solution.
    converged : optimiser status.
    certificate : :math:`\min_u \Gamma(u) - \int\Gamma\,d\mu` on a fine grid
        (:func:`parisi_certificate`); :math:`\ge 0` (up to rounding) certifies the global
        minimum of the convex functional.
    """

    T: float
    q_atoms: np.ndarray
    weights: np.ndarray
    free_entropy: float
    energy: float
    entropy: float
    free_energy: float
    steps: int
    converged: bool = True
    q: np.ndarray = field(default=None, repr=False)
    x: np.ndarray = field(default=None, repr=False)
    certificate: float | None = None

    @property
    def q_max(self) -> float:
        return float(self.q_atoms[-1])


@dataclass(frozen=True)
class GroundStateSolution:
    r"""A minimiser of the zero-temperature functional.

    Attributes
    ----------
    energy : :math:`E_0 = -\mathcal Q_{\min}` per site.
    L : :math:`\lim\beta(1-q_{EA})`.
    q_atoms, masses : :math:`\gamma(q) = \sum_{q_j\le q} c_j` (the T = 0 limit of :math:`\beta x(q)`).
    q, gamma : :math:`\gamma` from the grid solve, as a step function.
    certificate : :func:`ground_state_certificate` gap of the returned data (>= 0 certifies).
    steps : number of atoms of :math:`\gamma` (0 = RS, 1 = 1RSB), ``-1`` for the grid solution.
    """

    energy: float
    L: float
    q_atoms: np.ndarray
    masses: np.ndarray
    converged: bool = True
    q: np.ndarray = field(default=None, repr=False)
    gamma: np.ndarray = field(default=None, repr=False)
    certificate: float | None = None
    steps: int = -1


def _finish(mix, beta, q_atoms, w, steps, converged):
    keep = w > 1e-10
    q_atoms, w = q_atoms[keep], w[keep] / w[keep].sum()
    nodes, _ = _grid_cells(q_atoms)
    x_nodes = np.cumsum(w) if q_atoms[0] == 0.0 else np.concatenate(([0.0], np.cumsum(w)))
    P, _, lin = _P_from_cells(mix, beta, nodes, x_nodes[:-1])
    e = -beta * lin
    return ParisiSolution(
        T=1.0 / beta, q_atoms=q_atoms, weights=w, free_entropy=P, energy=e, entropy=P + beta * e,
        free_energy=-P / beta, steps=steps, converged=bool(converged),
        q=np.concatenate((nodes, [1.0])), x=np.concatenate((x_nodes, [1.0])),
    )


def _masses_on(grid, q_atoms, w):
    out = np.zeros_like(grid)
    idx = np.searchsorted(grid, q_atoms)
    np.add.at(out, np.clip(idx, 0, len(grid) - 1), w)
    return out


# ----------------------------------------------------------------------------
# full RSB on a grid (convex)
# ----------------------------------------------------------------------------
def _default_grid(n, y_min):
    """Atoms grid on [0, 1): uniform in q plus geometric in 1 - q down to ``y_min``."""
    a = np.linspace(0.0, 1.0, n + 1)[:-1]
    b = 1.0 - np.geomspace(y_min, 1.0, n)
    return np.unique(np.concatenate((a, b[b < 1.0], [0.0])))


def _solve_grid_T(mix, beta, grid, w0, maxiter=3000):
    """Minimise P over weights of atoms at ``grid`` (w = u / sum u, u >= 0, L-BFGS-B)."""
    nodes = grid  # grid[0] == 0
    K = len(grid)

    def fun(u):
        S = max(u.sum(), 1e-300)
        w = u / S
        x = np.cumsum(w)  # x on cells [grid_i, grid_{i+1}); last cell (top) has x = 1
        P, gx, _ = _P_from_cells(mix, beta, nodes, x[:-1])
        gx_full = np.concatenate((gx, [0.0]))
        # dP/du_k = (1/S) [ sum_{i >= k} gx_i - sum_i x_i gx_i ]
        rc = np.cumsum(gx_full[::-1])[::-1]
        g = (rc - np.dot(x, gx_full)) / S
        return P, g

    u0 = np.maximum(w0, 0.0) + 1e-6 / K
    u0 = u0 / u0.sum()
    res = optimize.minimize(
        fun, u0, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * K,
        options={"maxiter": maxiter, "ftol": 1e-15, "gtol": 1e-11, "maxcor": 30},
    )
    w = res.x / max(res.x.sum(), 1e-300)
    return w, res


def _refine(grid, w, n_local=12, tol=1e-8):
    """Add points around every atom with weight > tol (between its grid neighbours)."""
    idx = np.nonzero(w > tol)[0]
    new = [grid]
    ext = np.concatenate((grid, [1.0]))
    for i in idx:
        lo = ext[max(i - 1, 0)]
        hi = ext[i + 1]
        if hi >= 1.0:
            hi = grid[i] + 0.5 * (1.0 - grid[i])
        new.append(np.linspace(lo, hi, n_local + 2)[1:-1])
    g = np.unique(np.concatenate(new))
    return g[g < 1.0]


def _fine_grid(y_min, n=1500):
    return np.unique(np.concatenate((np.linspace(0.0, 1.0, n + 1)[:-1], 1.0 - np.geomspace(y_min, 1.0, n)[:-1])))


def _mass_gradient_T(mix, beta, q_atoms, w, u_grid):
    """dP/d(mass at u) (up to a common constant) for every u in the union of u_grid and the atoms."""
    nodes = np.unique(np.concatenate(([0.0], u_grid, q_atoms)))
    nodes = nodes[nodes < 1.0]
    wn = _masses_on(nodes, q_atoms, w)
    x = np.minimum(np.cumsum(wn), 1.0)
    _, gx, _ = _P_from_cells(mix, beta, nodes, x[:-1])
    G = np.concatenate((np.cumsum(gx[::-1])[::-1], [0.0]))
    return nodes, G, wn


def parisi_certificate(mixture, T, q_atoms, weights, *, n=1500):
    r"""Optimality certificate of a Parisi measure :math:`\mu` at temperature T.

    Returns ``(gap, u_star)`` with :math:`\text{gap} = \min_u\Gamma(u) - \int\Gamma\,d\mu`,
    :math:`\Gamma(u) = \partial\mathcal P/\partial\mu(\{u\})` evaluated exactly on a fine grid
    (uniform in q plus geometric in 1 - q). Since :math:`\mathcal P` is convex, ``gap >= 0``
    (to rounding) means :math:`\mu` is the global minimiser (up to the grid); a negative gap
    is the first-order gain from moving mass to ``u_star``. For RS it equals
    :math:`\min_u D(u)/2` of :func:`nnlandscape.replica.first_order_rs_test`.
    """
    mix = _check_mixture(mixture)
    beta = 1.0 / _check_T(T)
    n = check_int("n", n, 2, 10**6)
    q, w = _check_measure(q_atoms, weights)
    y_min = max(min(1e-4, 1e-3 * (1.0 - q[-1])), 1e-15)
    nodes, G, wn = _mass_gradient_T(mix, beta, q, w, _fine_grid(y_min, n))
    avg = float(np.dot(wn, G))
    j = int(np.argmin(G))
    return float(G[j] - avg), float(nodes[j])


def _polish_atoms(mix, beta, q_i, w_i):
    """Free-atom L-BFGS-B polish of a measure with len(q_i) atoms; returns (q, w, P, success)."""
    k = len(q_i) - 1
    lmin = np.log(1e-15)
    bounds = [(lmin, 0.0)] * (k + 1) + ([(0.0, 1.0)] * k)
    q_i = np.clip(np.sort(np.asarray(q_i, float)), 0.0, 1 - 1e-14)
    q_i = np.maximum.accumulate(q_i)
    q_i[1:] = np.maximum(q_i[1:], q_i[:-1] + 1e-12 * (1 - q_i[:-1]))
    w_i = np.clip(np.asarray(w_i, float), 1e-9, None)
    w_i = w_i / w_i.sum()
    p0 = np.clip(_pack_k(q_i, w_i), [b[0] for b in bounds], [b[1] for b in bounds])

    def fun(p):
        q, w = _unpack_k(p, k)
        return _P_atoms(mix, beta, q, w)

    res = optimize.minimize(fun, p0, method="L-BFGS-B", bounds=bounds, jac="3-point",
                            options={"maxiter": 3000, "ftol": 1e-15, "gtol": 1e-12})
    q, w = _unpack_k(res.x, k)
    qs, ws = [q[0]], [w[0]]
    for qq, ww in zip(q[1:], w[1:]):
        if qq - qs[-1] <= 1e-9 * (1 - qs[-1]) + 1e-12:
            ws[-1] += ww
        else:
            qs.append(qq)
            ws.append(ww)
    qs, ws = np.array(qs), np.array(ws)
    keep = ws > 1e-12
    qs, ws = qs[keep], ws[keep] / ws[keep].sum()
    return qs, ws, float(res.fun), bool(res.success or "ABNORMAL" in str(res.message))


def _grid_solution(mix, T, n_grid, refinements, q_grid=None):
    beta = 1.0 / T
    if q_grid is None:
        grid = _default_grid(n_grid, min(1e-3, 1e-3 * T / np.sqrt(max(float(mix.dxi(1.0)), 1e-300))))
    else:
        grid = np.unique(np.concatenate(([0.0], check_finite(q_grid))))
        if grid.max() >= 1.0 or grid.min() < 0.0:
            raise ValueError("q_grid must lie in [0, 1)")
    from .replica import rs_solution  # local import: replica imports this module

    q_rs = float(rs_solution(mix, T).q)
    w0 = np.zeros(len(grid))
    w0[np.argmin(np.abs(grid - q_rs))] = 1.0
    ok = True
    for it in range(refinements + 1):
        w, res = _solve_grid_T(mix, beta, grid, w0)
        ok = ok and (res.success or "ABNORMAL" in str(res.message))
        if it < refinements:
            new = _refine(grid, w)
            w0 = _masses_on(new, grid, w)
            grid = new
    return grid, w, ok


@single_threaded_blas
def frsb_solution(mixture, T, *, n_grid=80, refinements=1, max_steps=2, q_grid=None, tol=1e-8):
    r"""Parisi measure at temperature T: the minimiser of :math:`\mathcal P_\beta` over all :math:`x(q)`.

    1. The measure is put on a grid of atoms in :math:`[0, 1)` (uniform in :math:`q` plus
       geometric in :math:`1 - q` down to :math:`\sim10^{-3}T`) and the convex problem
       over the weights is solved by L-BFGS-B (weights :math:`u/\sum u`), refining the
       grid around the support ``refinements`` times.
    2. The grid measure is clustered into :math:`k+1 = 1, \dots,` ``max_steps + 1``
       atoms and each is polished with free atom positions (k-RSB).
    3. The first finite-step candidate that is as good as the grid and passes
       :func:`parisi_certificate` (gap :math:`\ge -` ``tol`` times the scale
       :math:`1 + \beta^2\xi(1)`) is returned with ``steps = k``: the solution *is* k-RSB.
       Otherwise the grid solution is returned with ``steps = -1``: a continuous part
       (full RSB), resolved to the grid spacing; where :math:`x` is continuous it follows
       :math:`x(q) = \xi'''(q)/(2\beta\,\xi''(q)^{3/2})`.

    Returns
    -------
    ParisiSolution (``q``/``x`` give :math:`x(q)` as a step function, ``certificate`` the gap).
    """
    mix = _check_mixture(mixture)
    T = _check_T(T)
    n_grid = check_int("n_grid", n_grid, 8, 5000)
    refinements = check_int("refinements", refinements, 0, 10)
    max_steps = check_int("max_steps", max_steps, 0, 8)
    tol = check_real("tol", tol, 0.0)
    beta = 1.0 / T
    grid, w, ok = _grid_solution(mix, T, n_grid, refinements, q_grid)
    P_grid = _P_atoms(mix, beta, grid, w)
    scale = 1.0 + beta**2 * float(mix.gap(1.0))
    cands = []
    from .replica import rs_solution

    for k1 in range(1, max_steps + 2):
        if k1 == 1:  # RS: the exact root
            rs = rs_solution(mix, T)
            qs, ws, s_ok = np.array([float(rs.q)]), np.ones(1), True
            P = float(rs.free_entropy)
        else:
            c, m = _kmeans_1d(grid, w, k1)
            qs, ws, P, s_ok = _polish_atoms(mix, beta, c, m / m.sum())
        cands.append((P, qs, ws, s_ok))
        if P <= P_grid + 1e-9 * scale:
            gap, _ = parisi_certificate(mix, T, qs, ws)
            if gap >= -tol * scale:
                sol = _finish(mix, beta, qs, ws, len(qs) - 1, s_ok)
                return ParisiSolution(**{**sol.__dict__, "certificate": gap})
    keep = w > 1e-10
    gap, _ = parisi_certificate(mix, T, grid[keep], w[keep] / w[keep].sum())
    best = min(cands, key=lambda c: c[0])
    if best[0] < P_grid:  # a finite-step measure beats the grid one (not certified)
        gap_b, _ = parisi_certificate(mix, T, best[1], best[2])
        if gap_b > gap:
            sol = _finish(mix, beta, best[1], best[2], len(best[1]) - 1, best[3])
            return ParisiSolution(**{**sol.__dict__, "certificate": gap_b})
    sol = _finish(mix, beta, grid, w, -1, ok)
    return ParisiSolution(**{**sol.__dict__, "q": grid.copy(), "x": np.cumsum(w), "certificate": gap})


def check_finite(a):
    a = np.atleast_1d(check_finite_array("q_grid", a))
    if not np.all(np.isfinite(a)):
        raise ValueError("q_grid must be finite")
    return a


# ----------------------------------------------------------------------------
# k-step RSB (free atoms)
# ----------------------------------------------------------------------------
def _unpack_k(p, k):
    """Box parameters -> atoms (increasing) and weights.

    p = [l_0..l_k, m_k, tau_1..tau_{k-1}]: 1 - q_0 = e^{l_0}, (1-q_j)/(1-q_{j-1}) = e^{l_j};
    m_k in [0,1], m_j = m_{j+1} tau_j.
    """
    l = p[: k + 1]
    y = np.exp(np.cumsum(l))
    q = 1.0 - y
    if k == 0:
        return q, np.ones(1)
    m = np.empty(k)
    m[-1] = p[k + 1]
    for j in range(k - 2, -1, -1):
        m[j] = m[j + 1] * p[k + 2 + j]
    mm = np.concatenate(([0.0], m, [1.0]))
    return q, np.diff(mm)


def _pack_k(q, w):
    y = 1.0 - q
    l = np.log(np.concatenate(([y[0]], y[1:] / y[:-1])))
    k = len(q) - 1
    m = np.cumsum(w)[:-1]
    tau = [m[j] / m[j + 1] if m[j + 1] > 0 else 1.0 for j in range(k - 1)]
    return np.concatenate((l, [m[-1]] if k else [], tau))


def _P_atoms(mix, beta, q, w):
    q = np.maximum.accumulate(np.clip(q, 0.0, 1.0 - 1e-300))
    nodes, _ = _grid_cells(q)
    x_nodes = np.cumsum(w) if q[0] == 0.0 else np.concatenate(([0.0], np.cumsum(w)))
    # merge coincident nodes
    return _P_from_cells(mix, beta, nodes, x_nodes[:-1])[0]


def _kmeans_1d(q, w, k1):
    """Weighted 1-d Lloyd clustering of a measure into k1 atoms (initial guess)."""
    cdf = np.cumsum(w)
    centres = np.interp((np.arange(k1) + 0.5) / k1, cdf, q)
    for _ in range(50):
        lab = np.argmin(np.abs(q[:, None] - centres[None, :]), axis=1)
        new = np.array([np.average(q[lab == j], weights=w[lab == j]) if w[lab == j].sum() > 0 else centres[j]
                        for j in range(k1)])
        if np.allclose(new, centres):
            break
        centres = new
    lab = np.argmin(np.abs(q[:, None] - centres[None, :]), axis=1)
    mass = np.array([w[lab == j].sum() for j in range(k1)])
    o = np.argsort(centres)
    return centres[o], mass[o]


@single_threaded_blas
def krsb_solution(mixture, T, k=1, *, starts=None):
    r"""k-step RSB minimiser of :math:`\mathcal P_\beta` (Parisi measure with k + 1 free atoms).

    :math:`x(q) = 0` on :math:`[0, q_0)`, :math:`m_j` on :math:`[q_{j-1}, q_j)`, 1 on
    :math:`[q_k, 1]` (:math:`0\le q_0\le\dots\le q_k<1`, :math:`0\le m_1\le\dots\le m_k\le1`).
    For 1RSB with :math:`q_0 = 0`,

    .. math::

        \mathcal P = \tfrac12\Big[\beta^2\big(m\xi(q_1) + \xi(1) - \xi(q_1)\big)
        + \tfrac1m\log\Big(1 + \frac{m q_1}{1 - q_1}\Big) + \log(1-q_1)\Big].

    Minimised by L-BFGS-B in box coordinates (log-ratios of :math:`1-q_j`, ratios of
    :math:`m_j`) from several starts: RS, the full-RSB grid solution clustered into
    k + 1 atoms, and (k = 1) a coarse scan of :math:`(q_1, m)`. A k-RSB value is an upper
    bound on :math:`\varphi`; it is exact when the full-RSB solution has k + 1 atoms.

    Returns
    -------
    ParisiSolution (``steps = k``). ``q_atoms``/``weights`` give :math:`\mu`; atoms that
    merge or carry no weight are dropped, so fewer than k + 1 may remain.
    """
    mix = _check_mixture(mixture)
    T = _check_T(T)
    k = check_int("k", k, 0, 8)
    beta = 1.0 / T
    from .replica import rs_solution

    q_rs = float(rs_solution(mix, T).q)
    inits = []
    # RS with split atoms
    y_rs = max(1.0 - q_rs, 1e-12)
    inits.append((1.0 - y_rs * np.geomspace(1.0, 0.5, k + 1) if k else np.array([q_rs]),
                  np.full(k + 1, 1.0 / (k + 1))))
    if k >= 2:
        g_, w_, _ = _grid_solution(mix, T, 60, 1)
        c, m = _kmeans_1d(g_, w_, k + 1)
        inits.append((c, m / m.sum()))
    if k == 1:  # coarse scan of (q1, m) with q0 in {0, q1/2}
        best = None
        for y1 in np.geomspace(1e-3 * T, 1.0, 25)[:-1]:
            for mm in np.linspace(0.05, 0.95, 10):
                for q0 in (0.0, 0.5 * (1 - y1)):
                    v = _P_atoms(mix, beta, np.array([q0, 1 - y1]), np.array([mm, 1 - mm]))
                    if best is None or v < best[0]:
                        best = (v, np.array([q0, 1 - y1]), np.array([mm, 1 - mm]))
        inits.append((best[1], best[2]))
    if starts is not None:
        starts = check_sequence("starts", starts)
        for i, pair in enumerate(starts):
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                raise TypeError(f"starts[{i}] must be a pair (q_atoms, weights), got {pair!r}")
            _check_measure(*pair)
    if starts:
        inits.extend((np.asarray(a, float), np.asarray(b, float)) for a, b in starts)

    best = None
    for q_i, w_i in inits:
        out = _polish_atoms(mix, beta, q_i, w_i)
        if best is None or out[2] < best[2]:
            best = out
    qs, ws, P, ok = best
    sol = _finish(mix, beta, qs, ws, k, ok)
    gap, _ = parisi_certificate(mix, T, qs, ws)
    return ParisiSolution(**{**sol.__dict__, "certificate": gap})


# ----------------------------------------------------------------------------
# zero temperature
# ----------------------------------------------------------------------------
def _solve_grid_T0(mix, nodes, c0, L0, maxiter=5000):
    K = len(nodes) - 1  # cells; atoms at nodes[:-1]

    def fun(p):
        L, c = p[0], p[1:]
        g = np.cumsum(c)
        Q, gg, gL = _Q0_from_cells(mix, L, nodes, g)
        gc = np.cumsum(gg[::-1])[::-1]
        return Q, np.concatenate(([gL], gc))

    p0 = np.concatenate(([L0], c0))
    res = optimize.minimize(fun, p0, jac=True, method="L-BFGS-B",
                            bounds=[(1e-12, None)] + [(0.0, None)] * K,
                            options={"maxiter": maxiter, "ftol": 1e-15, "gtol": 1e-11, "maxcor": 30})
    return res


def _polish_t0(mix, L0, q_i, c_i):
    """Free-atom polish of the T = 0 functional: (L, positions, masses); returns (L, q, c, Q, ok)."""
    k = len(q_i)
    lmin = np.log(1e-14)
    q_i = np.clip(np.sort(np.asarray(q_i, float)), 0.0, 1 - 1e-13)
    q_i = np.maximum.accumulate(q_i)
    q_i[1:] = np.maximum(q_i[1:], q_i[:-1] + 1e-12 * (1 - q_i[:-1]))
    y = 1.0 - q_i
    l0 = np.log(np.concatenate(([y[0]], y[1:] / y[:-1])))

    def unpack(p):
        return p[0], 1.0 - np.exp(np.cumsum(p[1 : k + 1])), p[k + 1 :]

    def fun(p):
        L, q, c = unpack(p)
        q = np.maximum.accumulate(q)
        nodes = np.concatenate((_grid_cells(q)[0], [1.0]))
        g = np.cumsum(c) if q[0] == 0.0 else np.concatenate(([0.0], np.cumsum(c)))
        return _Q0_from_cells(mix, L, nodes, g)[0]

    bounds = [(1e-12, None)] + [(lmin, 0.0)] * k + [(0.0, None)] * k
    p0 = np.concatenate(([L0], np.clip(l0, lmin, 0.0), np.maximum(c_i, 0.0)))
    res = optimize.minimize(fun, p0, method="L-BFGS-B", bounds=bounds, jac="3-point",
                            options={"maxiter": 3000, "ftol": 1e-15, "gtol": 1e-12})
    L, q, c = unpack(res.x)
    keep = c > 1e-12
    return float(L), q[keep], c[keep], float(res.fun), bool(res.success or "ABNORMAL" in str(res.message))


def _t0_grad(mix, L, q, c):
    """Q and its gradient in (L, c) at fixed atoms ``q`` (sorted, in [0, 1))."""
    nodes = np.concatenate((_grid_cells(q)[0], [1.0]))
    lead = 0 if q[0] == 0.0 else 1
    g = np.concatenate((np.zeros(lead), np.cumsum(c)))
    Q, gg, gL = _Q0_from_cells(mix, L, nodes, g)
    G = np.cumsum(gg[::-1])[::-1]
    return Q, np.concatenate(([gL], G[lead:]))


def _newton_t0_fixed(mix, L, q, c, iters=8):
    """Newton's method on the stationarity of Q in (L, masses) at fixed atom positions.

    The free-atom polish stops on a relative decrease of Q (L-BFGS-B ``ftol``), which leaves
    first-order residuals ~1e-8 in the masses and L: the certificate (a first-order quantity)
    then depends on the last digits of the BLAS path. Q is convex in (L, c), so Newton steps
    on the analytic gradient (Hessian by central differences of it) drive the residual to
    rounding. A step is kept only if it lowers the gradient, keeps L > 0, c >= 0 and does not
    raise Q beyond rounding.
    """
    p = np.concatenate(([L], c)).astype(float)
    Q, g = _t0_grad(mix, p[0], q, p[1:])
    for _ in range(iters):
        gn = float(np.abs(g).max())
        if gn <= 1e-15 * (1.0 + abs(Q)):
            break
        n = p.size
        H = np.empty((n, n))
        for i in range(n):
            h = 1e-5 * max(abs(p[i]), 1e-3)
            e = np.zeros(n)
            e[i] = h
            H[:, i] = (_t0_grad(mix, p[0] + e[0], q, p[1:] + e[1:])[1]
                       - _t0_grad(mix, p[0] - e[0], q, p[1:] - e[1:])[1]) / (2 * h)
        H = 0.5 * (H + H.T)
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        t, ok = 1.0, False
        for _ in range(6):
            pn = p - t * step
            if pn[0] > 0 and np.all(pn[1:] >= 0):
                Qn, gnew = _t0_grad(mix, pn[0], q, pn[1:])
                if np.abs(gnew).max() < gn and Qn <= Q + 1e-14 * (1.0 + abs(Q)):
                    ok = True
                    break
            t *= 0.5
        if not ok:
            break
        p, Q, g = pn, Qn, gnew
    return float(p[0]), p[1:], float(Q)


def _polish_t0_final(mix, L, q, c):
    """Newton-polish a few-atom T = 0 solution; an atom within 1e-6 of q = 0 is also tried at 0.

    Returns ``(L, q, c, Q)`` of the better (lower Q) variant.
    """
    q = np.asarray(q, float)
    c = np.asarray(c, float)
    if q.size == 0 or q.size > 9 or not np.all(c > 0):
        return None
    variants = [q]
    if 0.0 < q[0] < 1e-6:
        variants.append(np.concatenate(([0.0], q[1:])))
    best = None
    for qv in variants[::-1]:  # the snapped variant first: it wins ties
        Lp, cp, Qp = _newton_t0_fixed(mix, L, qv, c)
        if best is None or Qp < best[3] - 1e-15 * (1.0 + abs(Qp)):
            best = (Lp, qv, cp, Qp)
    return best


def ground_state_certificate(mixture, L, q_atoms, masses, *, n=1500):
    r"""Optimality certificate of zero-temperature Parisi data :math:`(L, \gamma)`.

    Returns ``(gap, dQ_dL)``: :math:`\text{gap} = \min_u \partial\mathcal Q/\partial\gamma(\{u\})`
    on a fine grid (must be :math:`\ge 0`, with equality on the support) and
    :math:`\partial\mathcal Q/\partial L` (must vanish). For :math:`\gamma = 0` the first
    is :math:`\min_u [\xi(1) - \xi(u) - \xi'(1)(1-u^2)/2]/2` (the T = 0 RS test).
    """
    mix = _check_mixture(mixture)
    L = check_real("L", L, 0.0, low_open=True)
    n = check_int("n", n, 2, 10**6)
    q = np.atleast_1d(check_finite_array("q_atoms", q_atoms))
    c = np.atleast_1d(check_finite_array("masses", masses))
    if q.size == 0:
        q, c = np.zeros(1), np.zeros(1)
    q, c = _check_measure(q, c, total=None)
    nodes = np.unique(np.concatenate(([0.0], _fine_grid(1e-9, n), q)))
    nodes = nodes[nodes < 1.0]
    g = np.cumsum(_masses_on(nodes, q, c))
    _, gg, gL = _Q0_from_cells(mix, L, np.concatenate((nodes, [1.0])), g)
    G = np.cumsum(gg[::-1])[::-1]
    return float(G.min()), float(gL)


@single_threaded_blas
def frsb_ground_state(mixture, *, n_grid=100, refinements=1, max_steps=2, y_min=1e-8):
    r"""Minimise the zero-temperature Parisi functional over :math:`(L, \gamma)`.

    Candidates: RS (:math:`\gamma = 0`, :math:`L = \xi'(1)^{-1/2}`), the grid solution
    (atoms of :math:`\gamma` on a grid uniform in q plus geometric in 1 - q down to
    ``y_min``, L-BFGS-B, refined around the support) and its clusterings into
    1..``max_steps`` free atoms (polished). The smallest :math:`\mathcal Q` wins;
    ``certificate`` is the :func:`ground_state_certificate` gap of the winner.
    :math:`E_0 = -\mathcal Q_{\min}` (Chen & Sen 2017; Jagannath & Tobasco 2017).
    """
    mix = _check_mixture(mixture)
    n_grid = check_int("n_grid", n_grid, 8, 5000)
    refinements = check_int("refinements", refinements, 0, 10)
    max_steps = check_int("max_steps", max_steps, 0, 8)
    y_min = check_real("y_min", y_min, 0.0, 0.5, low_open=True)
    atoms = _default_grid(n_grid, y_min)
    L0 = 1.0 / np.sqrt(max(float(mix.dxi(1.0)), 1e-300))
    c0 = np.zeros(len(atoms))
    ok = True
    for it in range(refinements + 1):
        nodes = np.concatenate((atoms, [1.0]))
        res = _solve_grid_T0(mix, nodes, c0, L0)
        ok = ok and (res.success or "ABNORMAL" in str(res.message))
        L0, c = res.x[0], res.x[1:]
        if it < refinements:
            new = _refine(atoms, c / max(c.sum(), 1e-300), tol=1e-6)
            c0 = _masses_on(new, atoms, c)
            atoms = new
    L_rs = 1.0 / np.sqrt(float(mix.dxi(1.0)))
    cands = [(float(np.sqrt(float(mix.dxi(1.0)))), L_rs, np.zeros(1), np.zeros(1), True, 0)]
    keep = c > 1e-12 * max(c.sum(), 1.0)
    cands.append((float(res.fun), float(L0), atoms[keep], c[keep], ok, -1))
    if c.sum() > 0:
        for k in range(1, max_steps + 1):
            cen, mass = _kmeans_1d(atoms, c / c.sum(), k)
            Lp, qp, cp, Qp, okp = _polish_t0(mix, L0, cen, mass * c.sum())
            if qp.size:
                cands.append((Qp, Lp, qp, cp, okp, len(qp)))
    # the smallest Q; among candidates within rounding of it, the one with fewest atoms
    Qmin = min(t[0] for t in cands)
    near = [t for t in cands if t[0] <= Qmin + 1e-12 * (1.0 + abs(Qmin))]
    Q, L, qa, ca, okb, steps = min(near, key=lambda t: (t[5] if t[5] >= 0 else np.inf, t[0]))
    if steps > 0:  # end with Newton on the first-order conditions: the certificate is then exact
        pol = _polish_t0_final(mix, L, qa, ca)
        if pol is not None and pol[3] <= Q + 1e-14 * (1.0 + abs(Q)):
            L, qa, ca, Q = pol
    gap, _ = ground_state_certificate(mix, L, qa if qa.size else [0.0], ca if ca.size else [0.0])
    return GroundStateSolution(
        energy=-float(Q), L=float(L), q_atoms=qa, masses=ca, converged=bool(okb),
        q=atoms.copy(), gamma=np.cumsum(c), certificate=gap, steps=steps,
    )


def ground_state_energy(mixture, **kwargs) -> float:
    r"""True ground-state energy per site :math:`E_0` from the zero-temperature Parisi problem.

    Normalisation :math:`\mathbb E[H(x)H(y)] = N\xi(q)`; e.g. :math:`E_0 = -1` for
    :math:`\xi = q^2/2` and :math:`E_0 \approx -1.1717 = -1.657/\sqrt2` for :math:`\xi = q^3/2`.
    Always :math:`E_0 \ge E_0^{RS} = -\sqrt{\xi'(1)}` (the RS value is an upper bound of
    :math:`-E_0`... i.e. RS overestimates the depth).
    """
    return frsb_ground_state(mixture, **kwargs).energy


@single_threaded_blas
def krsb_ground_state(mixture, k=1):
    r"""k-step RSB at T = 0: :math:`\gamma` with k free atoms and :math:`L > 0` (L-BFGS-B, several starts).

    For 1RSB with the atom at 0 (pure p-spin): :math:`\mathcal Q = \frac12[\xi'(1)L + \mu\xi(1)
    + \mu^{-1}\log(1 + \mu/L)]`, :math:`E_0 = -\min\mathcal Q`.
    """
    mix = _check_mixture(mixture)
    k = check_int("k", k, 1, 8)
    L0 = 1.0 / np.sqrt(float(mix.dxi(1.0)))
    best = None
    for y0 in (1.0, 0.5, 0.1, 0.01):
        for c0 in (0.1, 1.0, 3.0):
            q0 = 1.0 - y0 * np.geomspace(1.0, 0.1, k) if k > 1 else np.array([1.0 - y0])
            out = _polish_t0(mix, L0, q0, np.full(k, c0))
            if best is None or out[3] < best[3]:
                best = out
    L, q, c, Q, ok = best
    pol = _polish_t0_final(mix, L, q, c)
    if pol is not None and pol[3] <= Q + 1e-14 * (1.0 + abs(Q)):
        L, q, c, Q = pol
    gap, _ = ground_state_certificate(mix, L, q if q.size else [0.0], c if c.size else [0.0])
    return GroundStateSolution(energy=-Q, L=L, q_atoms=q, masses=c, converged=ok, certificate=gap,
                               steps=len(q))
