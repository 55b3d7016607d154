"""Compiled full-batch Adam training of small logistic-output networks (ReLU, sigmoid, ESP units).

Private helper of :func:`nnlandscape.binary_tasks.run_protocol`. One call runs ``steps`` Adam
updates for every model of ``theta`` (M, P) on the mean logistic cross-entropy, with the parameter
layout of :class:`nnlandscape.nets.MLP` (``act=0`` ReLU, ``1`` sigmoid; linear read-out) or of
:class:`nnlandscape.nets.ESPMLP` (``act=2``: units :math:`h\\sigma(\\beta h)`, read-out
:math:`\\beta_{out} h`). The result equals the numpy path (``MLP._backward`` +
:class:`~nnlandscape.optim.Optimizer`) to round-off; tests check it.
"""
from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _sig(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def train_steps(theta, X, y, widths, offW, offb, offB, act, mask, mom, vel, tcount, lr0, gamma, t0, steps,
                record_every, b1, b2, eps, curve):
    """Run ``steps`` updates from global step ``t0``; ``curve[r, m]`` gets the loss at steps t0 + k with
    (t0 + k) % record_every == 0 (r counts those from 0). Returns the number of records written.

    Arrays are stored unit-major, ``(layer, unit, point)``, so that every inner loop runs over the
    data points (contiguous, vectorisable)."""
    M, P = theta.shape
    n, d = X.shape
    nl = widths.shape[0] - 1  # number of weight layers
    maxw = 0
    for l in range(nl + 1):
        if widths[l] > maxw:
            maxw = widths[l]
    H = np.zeros((nl, maxw, n))
    A = np.zeros((nl, maxw, n))  # A[l] = activation feeding layer l (A[0] = X^T)
    S = np.zeros((nl, maxw, n))  # sigma(beta h) (esp) or sigma(h) (sigmoid)
    for j in range(d):
        for i in range(n):
            A[0, j, i] = X[i, j]
    g = np.zeros(P)
    dcur = np.zeros((maxw, n))
    dnext = np.zeros((maxw, n))
    nrec = 0
    for k in range(steps):
        t = t0 + k
        rec = (t % record_every) == 0
        lr = lr0 * gamma**t
        for m in range(M):
            th = theta[m]
            # forward
            for l in range(nl):
                wi, wo = widths[l], widths[l + 1]
                for o in range(wo):
                    hrow = H[l, o]
                    bo = th[offb[l] + o]
                    for i in range(n):
                        hrow[i] = bo
                    base = offW[l] + o * wi
                    for q in range(wi):
                        w = th[base + q]
                        arow = A[l, q]
                        for i in range(n):
                            hrow[i] += w * arow[i]
                    if l < nl - 1:
                        anext = A[l + 1, o]
                        srow = S[l, o]
                        if act == 0:
                            for i in range(n):
                                anext[i] = hrow[i] if hrow[i] > 0 else 0.0
                        elif act == 1:
                            for i in range(n):
                                sg = 1.0 / (1.0 + math.exp(-hrow[i]))
                                srow[i] = sg
                                anext[i] = sg
                        else:
                            bq = th[offB[l] + o]
                            for i in range(n):
                                sg = 1.0 / (1.0 + math.exp(-bq * hrow[i]))
                                srow[i] = sg
                                anext[i] = hrow[i] * sg
            # loss and output error (one output)
            L = 0.0
            bo = th[offB[nl - 1]] if act == 2 else 1.0
            gbo = 0.0
            ho_row = H[nl - 1, 0]
            d0 = dcur[0]
            for i in range(n):
                ho = ho_row[i]
                f = bo * ho
                L += (max(f, 0.0) + math.log1p(math.exp(-abs(f)))) - y[i] * f
                e = (_sig(f) - y[i]) / n
                gbo += e * ho
                d0[i] = e * bo
            if rec:
                curve[nrec, m] = L / n
            for p in range(P):
                g[p] = 0.0
            if act == 2:
                g[offB[nl - 1]] = gbo
            # backward
            for l in range(nl - 1, -1, -1):
                wi, wo = widths[l], widths[l + 1]
                for o in range(wo):
                    drow = dcur[o]
                    sb = 0.0
                    for i in range(n):
                        sb += drow[i]
                    g[offb[l] + o] += sb
                    base = offW[l] + o * wi
                    for q in range(wi):
                        arow = A[l, q]
                        sw = 0.0
                        for i in range(n):
                            sw += drow[i] * arow[i]
                        g[base + q] += sw
                if l == 0:
                    break
                for q in range(wi):
                    erow = dnext[q]
                    for i in range(n):
                        erow[i] = 0.0
                    for o in range(wo):
                        w = th[offW[l] + o * wi + q]
                        drow = dcur[o]
                        for i in range(n):
                            erow[i] += w * drow[i]
                    hrow = H[l - 1, q]
                    srow = S[l - 1, q]
                    if act == 0:
                        for i in range(n):
                            if hrow[i] <= 0:
                                erow[i] = 0.0
                    elif act == 1:
                        for i in range(n):
                            erow[i] *= srow[i] * (1.0 - srow[i])
                    else:
                        bq = th[offB[l - 1] + q]
                        gb = 0.0
                        for i in range(n):
                            sg = srow[i]
                            ds = sg * (1.0 - sg)
                            hh = hrow[i]
                            gb += erow[i] * hh * hh * ds
                            erow[i] *= sg + bq * hh * ds
                        g[offB[l - 1] + q] += gb
                for q in range(wi):
                    dq, nq = dcur[q], dnext[q]
                    for i in range(n):
                        dq[i] = nq[i]
            # Adam
            tcount[m] += 1
            c1 = 1.0 - b1 ** tcount[m]
            c2 = 1.0 - b2 ** tcount[m]
            for p in range(P):
                gp = g[p] * mask[p]
                mom[m, p] = b1 * mom[m, p] + (1.0 - b1) * gp
                vel[m, p] = b2 * vel[m, p] + (1.0 - b2) * gp * gp
                th[p] -= lr * (mom[m, p] / c1) / (math.sqrt(vel[m, p] / c2) + eps)
        if rec:
            nrec += 1
    return nrec


def layout(net):
    """(widths, offW, offb, offB, act) arrays of ``net`` for :func:`train_steps`, or None if unsupported."""
    from .nets import ESPMLP

    if net.sizes[-1] != 1:
        return None
    if isinstance(net, ESPMLP):
        act = 2
        offB = np.array([s for s, _ in net._beta_slices.values()], dtype=np.int64)
    else:
        names = {a.name for a in net.activations}
        if not net.plain or len(names) != 1 or next(iter(names)) not in ("relu", "sigmoid"):
            return None
        act = 0 if "relu" in names else 1
        offB = np.zeros(len(net.layers), dtype=np.int64)
    offW = np.array([net._slices[l, "W"][0] for l in range(1, len(net.layers) + 1)], dtype=np.int64)
    offb = np.array([net._slices[l, "b"][0] for l in range(1, len(net.layers) + 1)], dtype=np.int64)
    return np.array(net.sizes, dtype=np.int64), offW, offb, offB, act
