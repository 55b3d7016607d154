r"""Nudged elastic band (NEB): minimum-energy paths between two points of a landscape.

A band of images :math:`R_0, \dots, R_{N-1}` (endpoints fixed) relaxes under the NEB force

.. math::
    F_i = -\nabla E(R_i) + \big(\nabla E(R_i)\cdot\hat\tau_i\big)\hat\tau_i
          + k\big(|R_{i+1}-R_i| - |R_i - R_{i-1}|\big)\hat\tau_i ,

i.e. the true force perpendicular to the path plus a distance-based spring force along
it (Jónsson, Mills & Jacobsen 1998). The tangent :math:`\hat\tau_i` is the *improved
tangent* of Henkelman & Jónsson (2000): the segment towards the higher neighbour, and an
energy-weighted mix of both segments at extrema of the band. With the *climbing image*
(Henkelman, Uberuaga & Jónsson 2000) the highest image feels no spring and the
tangential force reversed, :math:`F = -\nabla E + 2(\nabla E\cdot\hat\tau)\hat\tau`, so it
converges onto the saddle point itself; it is switched on after ``climb_after`` steps of
the plain band. The band is relaxed with FIRE (Bitzek et al. 2006), a force-only
optimiser (the NEB force is not the gradient of any function); :class:`FIRE` and
:func:`fire_minimize` can be used on their own.

Everything is vectorised over images: ``fun`` maps a batch ``(K, D)`` to
``(energies (K,), gradients (K, D))`` and is called once per step on the moving images.

Flat regions. Where the energies of neighbours are exactly equal (dead ReLU regions of a
network loss) the improved tangent degenerates to zero; we then fall back to the
bisector :math:`\hat\tau_+ + \hat\tau_-`. For paths that rise steeply in one place,
:func:`insert_images` / :func:`refine_band` add images there and re-run from the old band
(``initial_path=``).

References: H. Jónsson, G. Mills, K. W. Jacobsen (1998), in *Classical and Quantum
Dynamics in Condensed Phase Simulations*, ch. 16; G. Henkelman, H. Jónsson, J. Chem.
Phys. 113, 9978 (2000); G. Henkelman, B. P. Uberuaga, H. Jónsson, J. Chem. Phys. 113,
9901 (2000); E. Bitzek, P. Koskinen, F. Gähler, M. Moseler, P. Gumbsch, Phys. Rev. Lett.
97, 170201 (2006).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy.interpolate import CubicHermiteSpline

from ._checks import MAX_SIZE, MAX_STEPS, check_choice, check_finite_array, check_int, check_real, check_seed

__all__ = [
    "NEBResult",
    "nudged_elastic_band",
    "refine_band",
    "insert_images",
    "linear_path",
    "resample_path",
    "band_profile",
    "BandProfile",
    "neb_forces",
    "improved_tangents",
    "FIRE",
    "fire_minimize",
    "FireResult",
]


# --------------------------------------------------------------------------- FIRE
class FIRE:
    r"""Fast Inertial Relaxation Engine (Bitzek et al. 2006), one step at a time.

    Semi-implicit Euler MD with unit mass plus the FIRE velocity mixing
    :math:`v \leftarrow (1-\alpha) v + \alpha |v| \hat F`; while the power
    :math:`P = F\cdot v > 0` for more than ``n_min`` steps the time step grows by
    ``f_inc`` (up to ``dt_max``) and :math:`\alpha` shrinks by ``f_alpha``; when
    :math:`P \le 0` the velocity is zeroed, :math:`\Delta t` is multiplied by ``f_dec`` and
    :math:`\alpha` reset. Displacements are capped at ``max_step`` per row of ``x``
    (per image for a band). Defaults are Bitzek et al.'s.
    """

    def __init__(self, dt, dt_max=None, max_step=np.inf, *, n_min=5, f_inc=1.1, f_dec=0.5,
                 alpha_start=0.1, f_alpha=0.99):
        self.dt = check_real("dt", dt, 0.0, 1e100, low_open=True)  # dt^2 * force stays finite
        self.dt_max = 10.0 * self.dt if dt_max is None else check_real("dt_max", dt_max, 0.0, 1e101, low_open=True)
        if isinstance(max_step, (bool, np.bool_)) or not isinstance(max_step, (int, float, np.integer, np.floating)):
            raise TypeError(f"max_step must be a positive real number (inf: no cap), got {max_step!r}")
        self.max_step = float(max_step)
        if not self.max_step > 0:
            raise ValueError(f"max_step={max_step!r} is out of range; allowed: > 0")
        if self.dt_max < self.dt:
            raise ValueError(f"dt_max={self.dt_max!r} is out of range; allowed: dt_max >= dt = {self.dt!r}")
        self.n_min = check_int("n_min", n_min, 0)
        self.f_inc = check_real("f_inc", f_inc, 1.0)
        self.f_dec = check_real("f_dec", f_dec, 0.0, 1.0, low_open=True, high_open=True)
        self.alpha_start = check_real("alpha_start", alpha_start, 0.0, 1.0)
        self.f_alpha = check_real("f_alpha", f_alpha, 0.0, 1.0, low_open=True)
        self.alpha = self.alpha_start
        self.v = None
        self._n_pos = 0

    def step(self, x, forces):
        """Return the new positions given positions ``x`` and forces ``forces`` (same shape)."""
        x = check_finite_array("x", x)
        f = check_finite_array("forces", forces)
        if x.ndim == 0 or f.shape != x.shape or (self.v is not None and self.v.shape != x.shape):
            raise ValueError(f"x and forces must have the same shape (that of the first step), got {x.shape} "
                             f"and {f.shape}")
        if self.v is None:
            self.v = np.zeros_like(x)
        else:
            power = float(np.vdot(f, self.v))
            if power > 0:
                fnorm = np.linalg.norm(f)
                if fnorm > 0:
                    self.v = (1 - self.alpha) * self.v + self.alpha * np.linalg.norm(self.v) * f / fnorm
                if self._n_pos > self.n_min:
                    self.dt = min(self.dt * self.f_inc, self.dt_max)
                    self.alpha *= self.f_alpha
                self._n_pos += 1
            else:
                self.v[...] = 0.0
                self.alpha = self.alpha_start
                self.dt *= self.f_dec
                self._n_pos = 0
        self.v = self.v + self.dt * f
        dx = self.dt * self.v
        if np.isfinite(self.max_step):
            rows = dx.reshape(dx.shape[0], -1) if dx.ndim > 1 else dx[None, :]
            norms = np.linalg.norm(rows, axis=1)
            scale = np.minimum(1.0, self.max_step / np.maximum(norms, 1e-300))
            dx = (rows * scale[:, None]).reshape(dx.shape)
        return x + dx


@dataclass
class FireResult:
    """Outcome of :func:`fire_minimize`: final point, gradient, step count, convergence."""

    x: np.ndarray
    energy: float
    gradient: np.ndarray
    n_steps: int
    converged: bool


def fire_minimize(fun, x0, *, fmax=1e-6, max_steps=10_000, dt=None, dt_max=None, max_step=0.1):
    r"""Minimise ``fun`` (point ``(D,)`` -> ``(energy, gradient (D,))``) with :class:`FIRE`.

    Stops when :math:`|\nabla E| <` ``fmax``. ``dt=None`` picks
    :math:`dt = \sqrt{0.1\,\mathrm{max\_step}/|\nabla E(x_0)|}` so the first step moves by
    a tenth of ``max_step``; ``dt_max`` defaults to ``10 dt``.
    """
    if not callable(fun):
        raise TypeError(f"fun must be a callable x -> (energy, gradient), got {type(fun).__name__}")
    x = check_finite_array("x0", x0).astype(float).ravel()
    fmax = check_real("fmax", fmax, 0.0, low_open=True)
    max_steps = check_int("max_steps", max_steps, 0)
    max_step = check_real("max_step", max_step, 0.0, low_open=True)

    def call(x):
        out = fun(x)
        try:
            e, g = out
            e, g = float(e), np.asarray(g, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("fun must return (energy, gradient) with a real energy and a (D,) gradient") from None
        if g.shape != x.shape:
            raise ValueError(f"fun returned a gradient of shape {g.shape}; allowed: the shape of x0 {x.shape}")
        if not (math.isfinite(e) and np.all(np.isfinite(g))):
            raise ValueError(f"fun returned a non-finite energy or gradient (energy={e!r}) at a point with "
                             f"|x|={np.linalg.norm(x):.3g}: the function must be finite where FIRE walks")
        return e, g

    e, g = call(x)
    if dt is None:
        dt = np.sqrt(0.1 * max_step / max(np.linalg.norm(g), 1e-12))
    opt = FIRE(dt, dt_max, max_step)
    n = 0
    while np.linalg.norm(g) >= fmax and n < max_steps:
        x = opt.step(x[None, :], -g[None, :])[0]
        e, g = call(x)
        n += 1
    return FireResult(x, float(e), g, n, bool(np.linalg.norm(g) < fmax))


# --------------------------------------------------------------------------- band helpers
def linear_path(start, end, n_images):
    r"""Images :math:`R_i = R_0 + \tfrac{i}{N-1}(R_{N-1} - R_0)`, shape ``(n_images, D)``."""
    start, end = _endpoints(start, end)
    n_images = check_int("n_images", n_images, 2, MAX_SIZE)
    t = np.linspace(0.0, 1.0, n_images)[:, None]
    return (1 - t) * start + t * end


def _arc(images):
    seg = np.linalg.norm(np.diff(images, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(seg)])


def resample_path(images, n_images):
    """Redistribute ``n_images`` images at equal arc length along the piecewise-linear path."""
    images = check_finite_array("images", images)
    if images.ndim != 2 or len(images) < 2:
        raise ValueError(f"images must have shape (N >= 2, D), got {images.shape}")
    n_images = check_int("n_images", n_images, 2, MAX_SIZE)
    s = _arc(images)
    if s[-1] == 0:
        raise ValueError("images must not all coincide")
    t = np.linspace(0.0, s[-1], n_images)
    out = np.stack([np.interp(t, s, images[:, d]) for d in range(images.shape[1])], axis=1)
    out[0], out[-1] = images[0], images[-1]
    return out


def insert_images(images, segments, n_new=1):
    r"""Insert ``n_new`` equally spaced images into each segment :math:`[R_j, R_{j+1}]`, ``j`` in ``segments``.

    Returns the new path (``N + n_new * len(segments)`` images); existing images are kept
    exactly, so a relaxed band can be refined where its energy rises and re-run with
    ``nudged_elastic_band(..., initial_path=new_path)``.
    """
    images = check_finite_array("images", images)
    if images.ndim != 2 or len(images) < 2:
        raise ValueError(f"images must have shape (N >= 2, D), got {images.shape}")
    n_new = check_int("n_new", n_new, 1, MAX_SIZE)
    segs = sorted({check_int("segments", j, 0, len(images) - 2) for j in np.atleast_1d(segments).tolist()})
    pieces = []
    for j in range(len(images) - 1):
        pieces.append(images[j][None])
        if j in segs:
            t = (np.arange(1, n_new + 1) / (n_new + 1))[:, None]
            pieces.append((1 - t) * images[j] + t * images[j + 1])
    pieces.append(images[-1][None])
    return np.concatenate(pieces, axis=0)


def improved_tangents(images, energies):
    r"""Unit tangents :math:`\hat\tau_i` of the interior images (Henkelman & Jónsson 2000, eqs. 8--11).

    With :math:`\tau_\pm` the segments towards the next/previous image:
    :math:`\tau = \tau_+` if :math:`E_{i+1} > E_i > E_{i-1}`; :math:`\tau_-` if
    :math:`E_{i+1} < E_i < E_{i-1}`; otherwise
    :math:`\tau_+\Delta E^{\max} + \tau_-\Delta E^{\min}` when :math:`E_{i+1} > E_{i-1}` and
    :math:`\tau_+\Delta E^{\min} + \tau_-\Delta E^{\max}` when not, with
    :math:`\Delta E^{\max/\min} = \max/\min(|E_{i+1}-E_i|, |E_{i-1}-E_i|)`. Where that is zero
    (exactly flat energies) the bisector :math:`\hat\tau_+ + \hat\tau_-` is used.

    Returns ``(tangents (N-2, D), |tau_+| (N-2,), |tau_-| (N-2,))``.
    """
    images = check_finite_array("images", images)
    energies = check_finite_array("energies", energies)
    if images.ndim != 2 or images.shape[0] < 3 or energies.shape != images.shape[:1]:
        raise ValueError(f"images must be (N, D) with N >= 3 and energies (N,), got {images.shape} and {energies.shape}")
    tp = images[2:] - images[1:-1]
    tm = images[1:-1] - images[:-2]
    ep, e0, em = energies[2:], energies[1:-1], energies[:-2]
    up = (ep > e0) & (e0 > em)
    down = (ep < e0) & (e0 < em)
    dp, dm = np.abs(ep - e0), np.abs(em - e0)
    dmax, dmin = np.maximum(dp, dm)[:, None], np.minimum(dp, dm)[:, None]
    mixed = np.where((ep > em)[:, None], tp * dmax + tm * dmin, tp * dmin + tm * dmax)
    tau = np.where(up[:, None], tp, np.where(down[:, None], tm, mixed))
    np_, nm = np.linalg.norm(tp, axis=1), np.linalg.norm(tm, axis=1)
    norm = np.linalg.norm(tau, axis=1)
    flat = norm <= 1e-300
    if np.any(flat):
        bis = tp[flat] / np.maximum(np_[flat], 1e-300)[:, None] + tm[flat] / np.maximum(nm[flat], 1e-300)[:, None]
        tau[flat] = bis
        norm[flat] = np.linalg.norm(bis, axis=1)
    return tau / np.maximum(norm, 1e-300)[:, None], np_, nm


def neb_forces(images, energies, gradients, spring, climb_index=None):
    r"""NEB forces on the interior images, shape ``(N-2, D)`` (see the module docstring).

    ``climb_index`` (an index into ``images``, 1..N-2) selects the climbing image, which
    gets :math:`-\nabla E + 2(\nabla E\cdot\hat\tau)\hat\tau` and no spring.
    Returns ``(forces, tangents)``.
    """
    images = check_finite_array("images", images)
    if images.ndim != 2 or images.shape[0] < 3:
        raise ValueError(f"images must have shape (N, D) with N >= 3, got {images.shape}")
    energies = check_finite_array("energies", energies)
    if energies.shape != images.shape[:1]:
        raise ValueError(f"energies must have shape ({images.shape[0]},) (one per image), got {energies.shape}")
    gradients = check_finite_array("gradients", gradients)
    if gradients.shape != images.shape:
        raise ValueError(f"gradients must have the shape of images {images.shape}, got {gradients.shape}")
    spring = check_real("spring", spring, 0.0)
    if climb_index is not None:
        climb_index = check_int("climb_index", climb_index, 1, images.shape[0] - 2)
    tau, np_, nm = improved_tangents(images, energies)
    g = gradients[1:-1]
    gpar = np.einsum("id,id->i", g, tau)
    forces = -g + gpar[:, None] * tau + (spring * (np_ - nm))[:, None] * tau
    if climb_index is not None:
        c = climb_index - 1
        forces[c] = -g[c] + 2.0 * gpar[c] * tau[c]
    return forces, tau


# --------------------------------------------------------------------------- result
@dataclass
class NEBResult:
    r"""A relaxed band.

    Attributes
    ----------
    images : (N, D) -- the band, endpoints included (the endpoints are the inputs, unmoved).
    energies : (N,), gradients : (N, D) -- :math:`E(R_i)`, :math:`\nabla E(R_i)`.
    tangents : (N, D) -- improved tangents (endpoints: direction of their segment).
    converged : whether max_force < fmax (with the climbing image active when ``climb``).
    n_steps : optimiser steps taken.  max_force : final :math:`\max_i |F_i|`.
    i_max : index of the highest interior image.  climb : climbing image used.
    spring : the spring constant used (the automatic one when ``spring=None``).
    force_history : max force after each step.
    """

    images: np.ndarray
    energies: np.ndarray
    gradients: np.ndarray
    tangents: np.ndarray
    converged: bool
    n_steps: int
    max_force: float
    i_max: int
    climb: bool
    spring: float
    force_history: np.ndarray = field(repr=False)

    @property
    def n_images(self) -> int:
        return len(self.images)

    @property
    def saddle(self) -> np.ndarray:
        """Position of the highest image (the saddle estimate when ``climb``)."""
        return self.images[self.i_max]

    @property
    def barrier(self) -> float:
        r""":math:`E_{\max} - E(R_0)`, the forward barrier along the band."""
        return float(self.energies[self.i_max] - self.energies[0])

    def arc_length(self) -> np.ndarray:
        r"""Cumulative distance :math:`s_i = \sum_{j<i} |R_{j+1}-R_j|`, shape (N,)."""
        return _arc(self.images)

    def path_length(self) -> float:
        """Total length of the piecewise-linear band."""
        return float(self.arc_length()[-1])

    def profile(self, n_points=200):
        r"""Energy along the band, interpolated by cubic Hermite splines in arc length.

        Uses :math:`E_i` and the slopes :math:`dE/ds = \nabla E(R_i)\cdot\hat\tau_i`
        (the interpolation of Henkelman & Jónsson 2000). Returns ``(s (n,), E (n,))``.
        """
        n_points = check_int("n_points", n_points, 2)
        s = self.arc_length()
        keep = np.concatenate([[True], np.diff(s) > 0])
        slopes = np.einsum("id,id->i", self.gradients, self.tangents)
        spline = CubicHermiteSpline(s[keep], self.energies[keep], slopes[keep])
        t = np.linspace(0.0, s[-1], n_points)
        return t, spline(t)

    def rising_segments(self, top=1):
        """Indices ``j`` of the ``top`` segments :math:`[R_j, R_{j+1}]` with the largest :math:`|E_{j+1}-E_j|`."""
        top = check_int("top", top, 1, self.n_images - 1)
        d = np.abs(np.diff(self.energies))
        return np.sort(np.argsort(-d, kind="stable")[:top])


# --------------------------------------------------------------------------- driver
def _endpoints(start, end):
    start = check_finite_array("start", start).astype(float)
    end = check_finite_array("end", end).astype(float)
    if start.ndim != 1 or start.size == 0:
        raise ValueError(f"start must be a 1-D point, got shape {start.shape}")
    if end.shape != start.shape:
        raise ValueError(f"end has shape {end.shape} but start has shape {start.shape}; they must match")
    return start, end


def _evaluate(fun, points):
    e, g = fun(points)
    e = np.asarray(e, dtype=float)
    g = np.asarray(g, dtype=float)
    if e.shape != (len(points),) or g.shape != points.shape:
        raise ValueError(
            f"fun must return energies of shape {(len(points),)} and gradients of shape {points.shape}; "
            f"got {e.shape} and {g.shape}"
        )
    if not (np.all(np.isfinite(e)) and np.all(np.isfinite(g))):
        raise ValueError("fun returned a non-finite energy or gradient on the band")
    return e, g


def nudged_elastic_band(
    fun: Callable,
    start,
    end,
    n_images: int | None = None,
    climb: bool = True,
    *,
    spring: float | None = None,
    max_steps: int = 5000,
    fmax: float = 1e-3,
    optimizer: str = "fire",
    seed=None,
    callback: Callable | None = None,
    initial_path=None,
    perturb: float = 0.0,
    climb_after: int = 20,
    dt: float | None = None,
    dt_max: float | None = None,
    max_step: float | None = None,
) -> NEBResult:
    r"""Relax a nudged elastic band from ``start`` to ``end`` on the landscape ``fun``.

    Parameters
    ----------
    fun : callable
        ``fun(points (K, D)) -> (energies (K,), gradients (K, D))``.
    start, end : array_like (D,)
        Fixed endpoints (usually minima); they never move.
    n_images : int >= 3
        Number of images including both endpoints. May be omitted when ``initial_path``
        is given (it must then equal ``len(initial_path)``).
    climb : bool
        Turn the highest image into a climbing image after ``climb_after`` steps.
    spring : float > 0, optional
        :math:`k` of the distance-based spring force
        :math:`k(|R_{i+1}-R_i| - |R_i-R_{i-1}|)\hat\tau_i` (energy / length\ :sup:`2`).
        The springs act along the path only, so :math:`k` does not change the converged
        path (equal spacing) but sets how fast the spacing relaxes. ``None`` picks the
        scale-free :math:`k = \max_i|\nabla E(R_i)| / \bar\ell` of the initial band
        (:math:`\bar\ell` its mean segment length), i.e. a spring about as stiff as the
        landscape looks on the scale of one segment; 1 if the band is exactly flat.
    max_steps : int, fmax : float > 0
        Stop when :math:`\max_i |F_i| <` ``fmax`` (norm per image; with ``climb`` only
        once the climbing image is active) or after ``max_steps`` steps.
    optimizer : ``"fire"`` or ``"steepest"``
        :class:`FIRE`, or plain steepest descent :math:`R \leftarrow R + dt\,F` capped at
        ``max_step``, :math:`dt` halved whenever the max force grows (for teaching: it
        shows why FIRE is used).
    seed, perturb : Gaussian jitter of standard deviation ``perturb`` added to the interior
        of the initial path with ``np.random.default_rng(seed)`` (``perturb=0``: none).
    callback : ``callback(step, images, energies, max_force)``; returning ``True`` stops.
    initial_path : array_like (N, D), optional
        Start from this band (its first and last rows must equal ``start`` and ``end``)
        instead of the straight line.
    dt, dt_max, max_step : optimiser scales. Defaults: ``max_step`` = half the initial mean
        segment length; ``dt`` such that the first FIRE step moves the fastest image by a
        tenth of ``max_step`` (steepest descent: :math:`\min(\text{max\_step}/|F|, 1/(4k))`);
        ``dt_max = 10 dt``.

    Returns
    -------
    NEBResult
    """
    if not callable(fun):
        raise TypeError(f"fun must be a callable points (K, D) -> (energies (K,), gradients (K, D)), got {type(fun).__name__}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be None or a callable, got {type(callback).__name__}")
    start, end = _endpoints(start, end)
    if initial_path is not None:
        path = check_finite_array("initial_path", initial_path).astype(float)
        if path.ndim != 2 or path.shape[1] != start.size:
            raise ValueError(f"initial_path must have shape (N, {start.size}), got {path.shape}")
        if n_images is None:
            n_images = len(path)
        if len(path) != n_images:
            raise ValueError(f"n_images={n_images} does not match len(initial_path)={len(path)}")
        if not (np.array_equal(path[0], start) and np.array_equal(path[-1], end)):
            raise ValueError("initial_path must start at start and end at end")
    if n_images is None:
        raise ValueError("n_images is required (an integer >= 3) unless initial_path is given")
    n_images = check_int("n_images", n_images, 3)
    if spring is not None:
        spring = check_real("spring", spring, 0.0, low_open=True)
    max_steps = check_int("max_steps", max_steps, 0, MAX_STEPS)
    fmax = check_real("fmax", fmax, 0.0, low_open=True)
    optimizer = check_choice("optimizer", optimizer, ("fire", "steepest"))
    perturb = check_real("perturb", perturb, 0.0)
    climb_after = check_int("climb_after", climb_after, 0)
    if not isinstance(climb, (bool, np.bool_)):
        raise ValueError(f"climb must be True or False, got {climb!r}")
    if np.array_equal(start, end):
        raise ValueError("start and end must differ")
    if initial_path is None:
        path = linear_path(start, end, n_images)
    path = path.copy()
    if perturb > 0:
        rng = np.random.default_rng(check_seed("seed", seed))
        path[1:-1] += perturb * rng.standard_normal(path[1:-1].shape)

    e_end, g_end = _evaluate(fun, np.stack([start, end]))
    energies = np.empty(n_images)
    grads = np.empty_like(path)
    energies[[0, -1]], grads[[0, -1]] = e_end, g_end
    energies[1:-1], grads[1:-1] = _evaluate(fun, path[1:-1])

    seg0 = float(np.mean(np.linalg.norm(np.diff(path, axis=0), axis=1)))
    if max_step is None:
        max_step = 0.5 * seg0
    if spring is None:
        gmax = float(np.max(np.linalg.norm(grads[1:-1], axis=1)))
        spring = gmax / seg0 if gmax > 0 else 1.0
    max_step = check_real("max_step", max_step, 0.0, low_open=True)

    def climb_index(step):
        if climb and step >= climb_after:
            return 1 + int(np.argmax(energies[1:-1]))
        return None

    ci = climb_index(0)
    forces, tau = neb_forces(path, energies, grads, spring, ci)
    fnorm = float(np.max(np.linalg.norm(forces, axis=1)))
    if dt is None:  # FIRE: first step dt^2 F moves by max_step/10; steepest: dt F by max_step
        dt = (np.sqrt(0.1 * max_step / max(fnorm, 1e-300)) if optimizer == "fire"
              else min(max_step / max(fnorm, 1e-300), 0.25 / spring))
    dt = check_real("dt", dt, 0.0, 1e100, low_open=True)
    opt = FIRE(dt, dt_max, max_step) if optimizer == "fire" else None
    history = []
    step = 0

    def done():
        return fnorm < fmax and (not climb or ci is not None)

    while not done() and step < max_steps:
        if opt is not None:
            path[1:-1] = opt.step(path[1:-1], forces)
        else:
            dx = dt * forces
            nrm = np.linalg.norm(dx, axis=1)
            path[1:-1] += dx * np.minimum(1.0, max_step / np.maximum(nrm, 1e-300))[:, None]
            f_prev = fnorm
        energies[1:-1], grads[1:-1] = _evaluate(fun, path[1:-1])
        step += 1
        ci = climb_index(step)
        forces, tau = neb_forces(path, energies, grads, spring, ci)
        fnorm = float(np.max(np.linalg.norm(forces, axis=1)))
        if opt is None and fnorm > f_prev:  # steepest descent: halve the step when the force grows
            dt *= 0.5
        history.append(fnorm)
        if callback is not None and callback(step, path.copy(), energies.copy(), fnorm):
            break

    tangents = np.empty_like(path)
    tangents[1:-1] = tau
    d0, d1 = path[1] - path[0], path[-1] - path[-2]
    tangents[0] = d0 / max(np.linalg.norm(d0), 1e-300)
    tangents[-1] = d1 / max(np.linalg.norm(d1), 1e-300)
    return NEBResult(
        images=path,
        energies=energies,
        gradients=grads,
        tangents=tangents,
        converged=bool(done()),
        n_steps=step,
        max_force=fnorm,
        i_max=1 + int(np.argmax(energies[1:-1])),
        climb=bool(climb),
        spring=float(spring),
        force_history=np.asarray(history),
    )


def refine_band(fun, result: NEBResult, *, n_new=1, segments=None, top=1, **kwargs) -> NEBResult:
    """Insert ``n_new`` images into the steepest ``top`` segments (or the given ``segments``) and re-run.

    The relaxed band of ``result`` is the initial path of the new run; ``kwargs`` go to
    :func:`nudged_elastic_band` (e.g. ``climb``, ``fmax``, ``spring``).
    """
    if segments is None:
        segments = result.rising_segments(top)
    path = insert_images(result.images, segments, n_new)
    kwargs.setdefault("climb", result.climb)
    return nudged_elastic_band(fun, path[0], path[-1], len(path), initial_path=path, **kwargs)


# --------------------------------------------------------------------------- dense profile
@dataclass
class BandProfile:
    r"""The energy along the piecewise-linear band, sampled densely (see :func:`band_profile`).

    s : (K,) arc length; energies : (K,); points : (K, D) the sampled points; segment : (K,) index
    ``j`` of the segment :math:`[R_j, R_{j+1}]` each point lies on (the last point: ``N-2``);
    at_image : (K,) bool, the point is an image.
    """

    s: np.ndarray
    energies: np.ndarray
    points: np.ndarray
    segment: np.ndarray
    at_image: np.ndarray

    @property
    def i_max(self) -> int:
        """Index of the highest sampled point."""
        return int(np.argmax(self.energies))

    @property
    def e_max(self) -> float:
        """Highest energy sampled on the band (images and the points between them)."""
        return float(self.energies.max())

    @property
    def s_max(self) -> float:
        """Arc length of the highest sampled point."""
        return float(self.s[self.i_max])

    def first_reaching(self, level) -> float:
        """Arc length of the first sampled point with energy >= ``level`` (NaN if none)."""
        hit = np.flatnonzero(self.energies >= level)
        return float(self.s[hit[0]]) if hit.size else float("nan")


def band_profile(fun, images, per_segment=8, *, chunk=4096) -> BandProfile:
    r"""The energy along the band *between* its images: the path is piecewise linear.

    A relaxed band is a chain of images; the path it stands for is the polygon through them,
    :math:`R(t) = (1-t)R_j + tR_{j+1}` on segment ``j``. Its energy is evaluated at ``per_segment``
    equally spaced points of each segment (:math:`t = 0, 1/m, \dots, (m-1)/m`) plus the last image,
    ``(N-1)*per_segment + 1`` points, the images among them exactly. The maximum of this profile is
    the height of a continuous path (up to the sampling), hence an upper bound on the barrier of
    the best path between the endpoints; the maximum over the images alone is not, when the
    landscape rises between them. ``fun`` maps ``(K, D) -> (energies (K,), gradients (K, D))``
    as in :func:`nudged_elastic_band` (only the energies are used; called in chunks of ``chunk``).
    """
    images = check_finite_array("images", images)
    if images.ndim != 2 or len(images) < 2:
        raise ValueError(f"images must have shape (N >= 2, D), got {images.shape}")
    per_segment = check_int("per_segment", per_segment, 1)
    chunk = check_int("chunk", chunk, 1)
    n_seg = len(images) - 1
    t = np.arange(per_segment) / per_segment
    pts = (images[:-1, None, :] * (1.0 - t)[None, :, None] + images[1:, None, :] * t[None, :, None])
    pts = np.concatenate([pts.reshape(n_seg * per_segment, -1), images[-1:]], axis=0)
    seg = np.concatenate([np.repeat(np.arange(n_seg), per_segment), [n_seg - 1]])
    at_image = np.zeros(len(pts), dtype=bool)
    at_image[::per_segment] = True
    pts[at_image] = images  # exactly the images (no rounding from the blend)
    seg_len = np.linalg.norm(np.diff(images, axis=0), axis=1)
    s0 = np.concatenate([[0.0], np.cumsum(seg_len)])
    s = np.concatenate([(s0[:-1, None] + t[None, :] * seg_len[:, None]).ravel(), [s0[-1]]])
    e = np.concatenate([_evaluate(fun, pts[i:i + chunk])[0] for i in range(0, len(pts), chunk)])
    return BandProfile(s, e, pts, seg, at_image)
