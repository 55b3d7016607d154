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
    (t0 + k) % record_every == 0 (r counts those from 0). Returns the number of records written."""
    M, P = theta.shape
    n, d = X.shape
    nl = widths.shape[0] - 1  # number of weight layers
    maxw = 0
    for l in range(nl + 1):
        if widths[l] > maxw:
            maxw = widths[l]
    H = np.zeros((nl, n, maxw))
    A = np.zeros((nl, n, maxw))  # A[l] = activation feeding layer l (A[0] = X)
    S = np.zeros((nl, n, maxw))  # sigma(beta h) for esp units
    g = np.zeros(P)
    dcur = np.zeros((n, maxw))
    dnext = np.zeros((n, maxw))
    nrec = 0
    for k in range(steps):
        t = t0 + k
        rec = (t % record_every) == 0
        lr = lr0 * gamma**t
        for m in range(M):
            th = theta[m]
            for i in range(n):
                for j in range(d):
                    A[0, i, j] = X[i, j]
            # forward
            for l in range(nl):
                wi, wo = widths[l], widths[l + 1]
                for i in range(n):
                    for o in range(wo):
                        s = th[offb[l] + o]
                        base = offW[l] + o * wi
                        for q in range(wi):
                            s += th[base + q] * A[l, i, q]
                        H[l, i, o] = s
                        if l < nl - 1:
                            if act == 0:
                                A[l + 1, i, o] = s if s > 0 else 0.0
                            elif act == 1:
                                A[l + 1, i, o] = _sig(s)
                            else:
                                sg = _sig(th[offB[l] + o] * s)
                                S[l, i, o] = sg
                                A[l + 1, i, o] = s * sg
            # loss and output error (one output)
            L = 0.0
            bo = th[offB[nl - 1]] if act == 2 else 1.0
            gbo = 0.0
            for i in range(n):
                ho = H[nl - 1, i, 0]
                f = bo * ho
                L += (max(f, 0.0) + math.log1p(math.exp(-abs(f)))) - y[i] * f
                e = (_sig(f) - y[i]) / n
                gbo += e * ho
                dcur[i, 0] = e * bo
            if rec:
                curve[nrec, m] = L / n
            for p in range(P):
                g[p] = 0.0
            if act == 2:
                g[offB[nl - 1]] = gbo
            # backward
            for l in range(nl - 1, -1, -1):
                wi, wo = widths[l], widths[l + 1]
                for i in range(n):
                    for o in range(wo):
                        dl = dcur[i, o]
                        g[offb[l] + o] += dl
                        base = offW[l] + o * wi
                        for q in range(wi):
                            g[base + q] += dl * A[l, i, q]
                if l == 0:
                    break
                for i in range(n):
                    for q in range(wi):
                        e = 0.0
                        for o in range(wo):
                            e += dcur[i, o] * th[offW[l] + o * wi + q]
                        h = H[l - 1, i, q]
                        if act == 0:
                            dnext[i, q] = e if h > 0 else 0.0
                        elif act == 1:
                            sg = _sig(h)
                            dnext[i, q] = e * sg * (1.0 - sg)
                        else:
                            bq = th[offB[l - 1] + q]
                            sg = S[l - 1, i, q]
                            ds = sg * (1.0 - sg)
                            dnext[i, q] = e * (sg + bq * h * ds)
                            g[offB[l - 1] + q] += e * h * h * ds
                for i in range(n):
                    for q in range(wi):
                        dcur[i, q] = dnext[i, q]
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
