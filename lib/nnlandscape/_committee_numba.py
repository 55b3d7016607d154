r"""Compiled (numba) loss head of the tree committee machine: energy and back-propagated coefficients.

Private helper of :meth:`nnlandscape.committee.TreeCommittee.energy` and
:meth:`~nnlandscape.committee.TreeCommittee.energy_grad` (see there for the model and formulas).
The two dense products stay with BLAS (single threaded, as in the samplers):

1. forward, :math:`H_k = X_k W_k/\sqrt n` of shape ``(K, P, C)`` (``H[k, mu, ch]`` = the field
   :math:`h_k^\mu` of chain ``ch``);
2. :func:`loss_head` (this module): in two passes over ``H`` in memory order, the outputs
   :math:`\Delta^\mu = \sum_k c_k\,\mathrm{relu}(H_k^\mu)/\sqrt{K}`, the summed losses and, for
   the gradient, ``H`` overwritten **in place** by
   :math:`A_k^\mu = \ell'(y^\mu\Delta^\mu)\,y^\mu c_k\,\Theta(H_k^\mu)/\sqrt{K}`;
3. backward (gradient only), :math:`\partial U/\partial w_k = X_k^\top A_k/\sqrt n` (a second product
   of the forward's size).

The numpy path this replaces formed four ``(K, P, C)`` temporaries (``maximum``, an ``einsum`` over
units, the mask and the product with the coefficients), which cost several times the two products.
What remains is set by the arithmetic: the energy needs one product, the gradient a second one of
the same size, so an energy with gradient costs about two energies once the products dominate
(large :math:`N`), a little less where the per-call overhead does. (A fully fused numba loop per
pattern, forward and backward while :math:`x^\mu` is in cache and skipping inactive units, was
tried first: its short dot products over a receptive field of ``n = 20`` ran 5-8 times slower than
BLAS's forward product.)

``fastmath={"reassoc", "contract"}``: sums may be reordered and products fused; NaN and infinities
keep their IEEE meaning (a non-finite weight gives a non-finite energy, as the samplers expect).
The loop over units sums :math:`K` terms in a different order than numpy's ``einsum``, so
:math:`\Delta` differs from the numpy formula by a few :math:`K\epsilon_{\rm mach}` relative to
:math:`\sum_k|c_k\,\mathrm{relu}(H_k)|/\sqrt{K}`.
"""
from __future__ import annotations

import math

import numba
import numpy as np

_FM = {"reassoc", "contract"}


@numba.njit(cache=True, nogil=True, fastmath=_FM, error_model="numpy")
def loss_head(H, y, c, zeta, grad, U):
    """Fill ``U`` ``(C,)`` with :math:`\\sum_\\mu \\ell(y^\\mu\\Delta^\\mu)`; if ``grad``, overwrite
    ``H`` ``(K, P, C)`` (C-contiguous fields) with the coefficients ``A`` (module docstring)."""
    K, P, C = H.shape
    inv = 1.0 / math.sqrt(K)  # H holds the fields h (the caller folds 1/sqrt(n) into the weights)
    D = np.zeros((P, C))
    for k in range(K):
        ck = c[k]
        Hk = H[k]
        for mu in range(P):
            for ch in range(C):
                v = Hk[mu, ch]
                D[mu, ch] += ck * (v * (v > 0.0))   # relu, branch-free (vectorised); NaN stays NaN
    for ch in range(C):
        U[ch] = 0.0
    for mu in range(P):
        ym = y[mu]
        for ch in range(C):
            t = -zeta * (ym * D[mu, ch] * inv)          # loss = log(1 + e^t) / zeta
            if t > 0.0:
                U[ch] += (t + math.log1p(math.exp(-t))) / zeta
            else:
                U[ch] += math.log1p(math.exp(t)) / zeta
            if grad:
                if t >= 0.0:                             # expit(t), stable both ways
                    sig = 1.0 / (1.0 + math.exp(-t))
                else:
                    e = math.exp(t)
                    sig = e / (1.0 + e)
                D[mu, ch] = -sig * ym * inv              # dl/dz * y / sqrt(K) (times c_k Theta below)
    if grad:
        for k in range(K):
            ck = c[k]
            Hk = H[k]
            for mu in range(P):
                for ch in range(C):
                    Hk[mu, ch] = (Hk[mu, ch] > 0.0) * (ck * D[mu, ch])   # Theta(h), branch-free


def evaluate(Xk, XkT, y, c, w, zeta, lam, grad):
    """``(U, G)`` for ``w`` ``(C, N)``: ``Xk`` ``(K, P, n)`` and ``XkT`` ``(K, n, P)`` C-contiguous
    receptive fields, ``G`` ``(C, N)`` or ``None`` without ``grad``. Call under single-threaded BLAS."""
    K, P, n = Xk.shape
    C = w.shape[0]
    # 1/sqrt(n) folded into the weights: H = X_k (w_k / sqrt(n)) = h, so the head divides by sqrt(K)
    Wk = np.ascontiguousarray((w * (1.0 / math.sqrt(n))).reshape(C, K, n).transpose(1, 2, 0))  # (K, n, C)
    H = np.matmul(Xk, Wk)                                            # (K, P, C) fields h
    U = np.empty(C)
    loss_head(H, y, c, float(zeta), bool(grad), U)
    U += 0.5 * lam * np.einsum("cj,cj->c", w, w)
    if not grad:
        return U, None
    G = np.matmul(XkT, H)                                            # (K, n, C)
    G = G.transpose(2, 0, 1).reshape(C, K * n) * (1.0 / math.sqrt(n)) + lam * w
    return U, G
