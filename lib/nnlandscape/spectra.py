r"""Spectral statistics of Hessians: indices, null directions, localisation, densities.

For a symmetric Hessian :math:`H \in \mathbb R^{N\times N}` (one per model, a batch
``(M, N, N)`` at once) with eigenvalues :math:`\lambda_k` and unit eigenvectors :math:`v_k`:

* **index** :math:`\alpha`: the fraction of negative eigenvalues (Milletarì, Chotibut &
  Trevisanutto 2018, arXiv:1805.08786, Sec. 3; "the ratio of descent to ascent directions");
* **null fraction** :math:`\gamma`, in two definitions that need not agree:

  - *structural*: the fraction of parameters whose Hessian row and column vanish identically
    (:math:`H_{pq} = 0` for every :math:`q`). For a ReLU network these are the incoming and
    outgoing weights of units that never fire on the data; the corresponding eigenvalues are
    exactly zero and the eigenvectors are coordinate vectors. This is what the authors' code
    measures (``np.mean(eigvals(H) == 0)``: only exactly decoupled zeros are exactly zero);
  - *relative*: the fraction of :math:`|\lambda_k| \le \varepsilon \max_j|\lambda_j|`, the
    usual numerical notion of a flat direction; it contains the structural zeros.

* **inverse participation ratio** :math:`\mathrm{IPR}(v) = \sum_p v_p^4` of a unit vector: 1 for a
  coordinate vector, :math:`1/N` for a perfectly spread one, and on average :math:`3/(N+2)` for a
  uniformly random unit vector (:func:`ipr_null`);
* **spectral density**: a histogram of eigenvalues pooled over models (:func:`spectral_density`).

To make the exact zeros exact, :func:`hessian_indices` diagonalises only the block of
non-structural parameters and puts eigenvalue 0 with coordinate eigenvectors on the rest.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import check_bool, check_finite_array, check_int, check_numeric_dtype, check_real
from ._threads import single_threaded_blas

__all__ = ["HessianIndices", "hessian_indices", "structural_zeros", "ipr", "ipr_null", "spectral_density"]


@dataclass(frozen=True)
class HessianIndices:
    r"""Spectral indices of a batch of Hessians (one entry per model along the first axis).

    Attributes
    ----------
    eigenvalues : (M, N) ascending. eigenvectors : (M, N, N), columns are unit eigenvectors.
    negative : (M,) :math:`\alpha`, fraction of :math:`\lambda < -\varepsilon\max|\lambda|`.
    negative_strict : (M,) fraction of :math:`\lambda < 0` (the authors' count; structural zeros
        are exactly 0 and are not counted).
    positive : (M,) fraction of :math:`\lambda > \varepsilon\max|\lambda|`.
    null_relative : (M,) :math:`\gamma_{\rm rel}`, fraction of :math:`|\lambda|\le\varepsilon\max|\lambda|`
        (``negative + null_relative + positive == 1``).
    null_structural : (M,) :math:`\gamma_{\rm str}`, fraction of parameters with an identically zero
        Hessian row/column. structural : (M, N) bool mask of those parameters.
    ipr : (M, N) inverse participation ratio of each eigenvector. eps : the :math:`\varepsilon` used.
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    negative: np.ndarray
    negative_strict: np.ndarray
    positive: np.ndarray
    null_relative: np.ndarray
    null_structural: np.ndarray
    structural: np.ndarray
    ipr: np.ndarray
    eps: float


def _check_H(H):
    H = np.asarray(H)
    if H.dtype.kind not in "iuf":
        raise ValueError(f"H must be a real array, got dtype {H.dtype}")
    H = H.astype(float)
    if H.ndim not in (2, 3) or H.shape[-1] != H.shape[-2] or H.shape[-1] == 0:
        raise ValueError(f"H must have shape (N, N) or (M, N, N) with N >= 1, got {H.shape}")
    if not np.all(np.isfinite(H)):
        raise ValueError("H must contain only finite values")
    if not np.allclose(H, np.swapaxes(H, -1, -2), rtol=1e-8, atol=1e-12 * max(1.0, float(np.abs(H).max()))):
        raise ValueError("H must be symmetric")
    return (H[None] if H.ndim == 2 else H), H.ndim == 2


def structural_zeros(H):
    """Boolean mask ``(M, N)`` (or ``(N,)``) of parameters whose Hessian row and column are all exactly 0."""
    Hb, single = _check_H(H)
    mask = np.all(Hb == 0.0, axis=-1) & np.all(Hb == 0.0, axis=-2)
    return mask[0] if single else mask


def ipr(V, axis: int = -2):
    r"""Inverse participation ratio :math:`\sum_p v_p^4 / (\sum_p v_p^2)^2` of vectors along ``axis``.

    With the default ``axis=-2`` the columns of an eigenvector matrix ``V`` (as returned by
    ``numpy.linalg.eigh``) are the vectors; vectors need not be normalised. Zero vectors are rejected.
    """
    V = check_finite_array("V", V)
    if V.ndim == 0:
        raise ValueError(f"V must be an array of vectors (ndim >= 1), got shape {V.shape}")
    axis = check_int("axis", axis, -V.ndim, V.ndim - 1)
    n2 = np.square(V).sum(axis)
    if np.any(n2 == 0):
        raise ValueError("V must not contain zero vectors (their IPR is undefined)")
    return np.power(V, 4).sum(axis) / n2**2


def ipr_null(N) -> float:
    r"""Mean IPR of a uniformly random unit vector in :math:`\mathbb R^N`: :math:`3/(N+2)`.

    (:math:`v = z/\lVert z\rVert`, :math:`z` standard normal; :math:`E\,v_p^4 = 3/(N(N+2))`.)
    """
    N = check_int("N", N, 1)
    return 3.0 / (N + 2)


@single_threaded_blas
def hessian_indices(H, eps: float = 1e-6) -> HessianIndices:
    r"""Index, null fractions (structural and relative) and eigenvector IPRs of Hessians ``H``.

    ``H`` has shape ``(N, N)`` or ``(M, N, N)`` and must be symmetric; ``eps`` in (0, 1) is the
    relative threshold of :math:`\gamma_{\rm rel}`. Returns a :class:`HessianIndices` (its arrays
    drop the model axis for a 2-D ``H``).
    """
    eps = check_real("eps", eps, 0.0, 1.0, low_open=True, high_open=True)
    Hb, single = _check_H(H)
    M, N, _ = Hb.shape
    struct = np.all(Hb == 0.0, axis=-1) & np.all(Hb == 0.0, axis=-2)
    lam = np.zeros((M, N))
    vec = np.zeros((M, N, N))
    plain = ~struct.any(-1)
    if plain.any():  # no structural zero: one batched call
        lam[plain], vec[plain] = np.linalg.eigh(Hb[plain])
    for m in np.flatnonzero(~plain):
        keep = np.flatnonzero(~struct[m])
        zero = np.flatnonzero(struct[m])
        w, v = (np.linalg.eigh(Hb[m][np.ix_(keep, keep)]) if keep.size else (np.zeros(0), np.zeros((0, 0))))
        lam_m = np.concatenate([w, np.zeros(zero.size)])
        vec_m = np.zeros((N, N))
        vec_m[np.ix_(keep, np.arange(keep.size))] = v
        vec_m[zero, keep.size + np.arange(zero.size)] = 1.0
        order = np.argsort(lam_m, kind="stable")
        lam[m], vec[m] = lam_m[order], vec_m[:, order]
    from .landscape import hessian_index  # the one count of eigenvalues below -eps max|lambda| (lazy: light import)

    scale = np.abs(lam).max(axis=-1, keepdims=True)
    tol = eps * scale
    neg = hessian_index(lam, eps) / N
    pos = (lam > tol).mean(-1)
    nul = (np.abs(lam) <= tol).mean(-1)
    out = HessianIndices(
        eigenvalues=lam, eigenvectors=vec, negative=neg, negative_strict=(lam < 0).mean(-1), positive=pos,
        null_relative=nul, null_structural=struct.mean(-1), structural=struct, ipr=ipr(vec), eps=eps,
    )
    if single:
        out = HessianIndices(**{k: (v[0] if isinstance(v, np.ndarray) else v) for k, v in out.__dict__.items()})
    return out


def spectral_density(eigenvalues, bins: int = 40, range=None, *, density: bool = True):
    r"""Histogram of eigenvalues pooled over all models: returns ``(centres, heights, edges)``.

    ``eigenvalues`` is any array of real eigenvalues (e.g. ``(M, N)``); ``range`` defaults to
    their min/max. With ``density=True`` the heights integrate to 1 (an estimate of
    :math:`\rho(\lambda)`); otherwise they are counts divided by the number of models, i.e. the
    expected number of eigenvalues per bin for one network.
    """
    lam = np.asarray(check_numeric_dtype("eigenvalues", eigenvalues), dtype=float)
    if lam.size == 0 or not np.all(np.isfinite(lam)):
        raise ValueError("eigenvalues must be a non-empty array of finite values")
    bins = check_int("bins", bins, 1, 10_000)
    density = check_bool("density", density)
    if range is None:
        lo, hi = float(lam.min()), float(lam.max())
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
    else:
        if isinstance(range, (str, bytes)) or np.ndim(range) != 1 or len(range) != 2:
            raise ValueError(f"range must be None or a pair (low, high), got {range!r}")
        lo = check_real("range[0]", range[0])
        hi = check_real("range[1]", range[1])
        if not hi > lo:
            raise ValueError(f"range must satisfy range[0] < range[1], got {range!r}")
    counts, edges = np.histogram(lam.ravel(), bins=bins, range=(lo, hi))
    n_models = lam.shape[0] if lam.ndim > 1 else 1
    if density:
        total = counts.sum()
        heights = counts / (total * np.diff(edges)) if total else np.zeros(bins)
    else:
        heights = counts / n_models
    return 0.5 * (edges[1:] + edges[:-1]), heights, edges
