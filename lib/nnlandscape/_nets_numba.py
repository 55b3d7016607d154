r"""Compiled (numba) kernel: full-batch MSE loss and gradient of many MLPs at once.

This is the fast path behind :func:`nnlandscape.optim.train` for the common case
of a plain :class:`~nnlandscape.nets.MLP` (all layers trainable, with biases)
whose hidden activations are piecewise linear (``linear``, ``relu``,
``leaky_relu``, ``shaped_relu``) or ``tanh``, trained on the mean squared error
:math:`\mathcal L = \frac1n\sum_i\lVert f(x_i)-y_i\rVert^2`.

Design (why it is fast on a small CPU):

* **one model per task, data points in SIMD lanes**: ``one_model`` loops over
  the data points; the parameters of the model are scalars (registers or
  broadcast operands) and the gradient is a set of :math:`P` scalar reductions,
  which LLVM vectorises over points (``fastmath={"reassoc", "contract"}``:
  reductions may be reordered and products fused into FMAs). The data are
  transposed to ``(d, n)`` and padded to a multiple of :data:`PAD` points with
  weight 0, so no scalar tail loop runs;
* **fused forward/backward per point**: the forward pass, the
  back-propagation and the accumulation of :math:`\nabla_\theta\ell_i` happen
  while the activations of point :math:`x_i` are still in registers; there is
  no ``(M, n, width)`` temporary and no memory traffic besides reading ``X``;
* **code generated for the architecture**: the loops over units are unrolled
  into straight-line code; the source (:func:`kernel_source`) is written once
  per architecture to a cache directory (``$NNLANDSCAPE_CACHE`` or
  ``~/.cache/nnlandscape``) and compiled by numba with ``cache=True``;
* **all cores**: a ``prange`` over models (used from :data:`PARALLEL_MIN_MODELS`
  models on; below that a serial driver avoids the thread start-up). Both
  drivers call the same compiled ``one_model``, so a model's numbers do not
  depend on the batch it is in;
* ``theta`` keeps its natural ``(M, P)`` layout (no transposition per step);
  float32 or float64 (numba compiles the source for the dtype it is given).

(A "models last" layout, ``(P, M)`` with the SIMD loop over models, was tried
first: LLVM does not vectorise it, since it cannot rule out aliasing between the
:math:`P` gradient stores and parameter loads, and it ran at ~1 GFLOP/s.)

The numbers agree with :meth:`nnlandscape.nets.MLP.gradient` up to rounding
(summation order and FMAs differ).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile

import numpy as np

__all__ = ["available", "supports", "mse_loss_grad", "prepare_data", "kernel_source", "MAX_PARAMS"]

#: largest P handled by the generated straight-line kernel (compile time grows with P; wide nets
#: are matmul-bound and the numpy path serves them well)
MAX_PARAMS = 600

try:  # numba is a hard dependency of the book, but keep the numpy path usable without it
    import numba  # noqa: F401

    _HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    _HAVE_NUMBA = False

_PIECEWISE = ("linear", "relu", "leaky_relu", "shaped_relu")
_KERNELS: dict[str, object] = {}


def available() -> bool:
    """True when numba can be imported."""
    return _HAVE_NUMBA


def supports(net) -> bool:
    """True when :func:`mse_loss_grad` can handle ``net`` (plain layout, supported activations, small P)."""
    return _HAVE_NUMBA and net.plain and net.n_params <= MAX_PARAMS and all(a.slopes is not None or a.name == "tanh" for a in net.activations)


def _lit(x: float, dt: str) -> str:
    return f"np.{dt}({float(x)!r})"


def kernel_source(sizes, activations, dtype: str) -> str:
    """Python source of the kernel for ``sizes``/``activations`` (one entry per hidden layer)."""
    nl = len(sizes) - 1
    consts, body, load, store = [], [], [], []
    offW, offb, k = [], [], 0  # offsets of W_l and b_l in theta
    for l in range(nl):
        o, i = sizes[l + 1], sizes[l]
        offW.append(k)
        k += o * i
        offb.append(k)
        k += o
    P = k
    acts = []
    for l, a in enumerate(activations):
        if a.name == "tanh":
            acts.append(("tanh",))
        else:
            sp, sn = a.slopes
            consts.append(f"    sp{l + 1} = {_lit(sp, dtype)}")
            consts.append(f"    sn{l + 1} = {_lit(sn, dtype)}")
            acts.append(("pl", sp, sn))
    consts.append(f"    zero = {_lit(0.0, dtype)}")
    consts.append(f"    one = {_lit(1.0, dtype)}")
    ind = " " * 8
    for p in range(P):
        load.append(f"    w{p} = T[m, {p}]")
        load.append(f"    g{p} = zero")
        store.append(f"    G[m, {p}] = g{p} * two_n")
    for q in range(sizes[0]):
        body.append(f"{ind}x{q} = X[{q}, i]")
    out = sizes[-1]
    # forward pass: h_l = W_l a_{l-1} + b_l, a_l = phi(h_l)
    for l in range(1, nl + 1):
        o, i = sizes[l], sizes[l - 1]
        prev = "x" if l == 1 else f"a{l - 1}_"
        for j in range(o):
            terms = [f"w{offb[l - 1] + j}"] + [f"w{offW[l - 1] + j * i + q} * {prev}{q}" for q in range(i)]
            body.append(f"{ind}h{l}_{j} = " + " + ".join(terms))
            if l < nl:
                kind = acts[l - 1]
                if kind[0] == "tanh":
                    body.append(f"{ind}a{l}_{j} = math.tanh(h{l}_{j})")
                elif kind[1:] == (1.0, 1.0):
                    body.append(f"{ind}a{l}_{j} = h{l}_{j}")
                elif kind[1:] == (1.0, 0.0):
                    body.append(f"{ind}a{l}_{j} = h{l}_{j} if h{l}_{j} > zero else zero")
                else:
                    body.append(f"{ind}a{l}_{j} = h{l}_{j} * (sp{l} if h{l}_{j} > zero else sn{l})")
    # output error e = (f - y) * mask (mask = 0 on padding points)
    for j in range(out):
        body.append(f"{ind}d{nl}_{j} = (h{nl}_{j} - Y[{j}, i]) * Wt[i]")
    body.append(f"{ind}loss += " + " + ".join(f"d{nl}_{j} * d{nl}_{j}" for j in range(out)))
    # backward pass: accumulate delta_l a_{l-1}^T, then delta_{l-1} = phi'(h_{l-1}) W_l^T delta_l
    for l in range(nl, 0, -1):
        o, i = sizes[l], sizes[l - 1]
        prev = "x" if l == 1 else f"a{l - 1}_"
        for j in range(o):
            body.append(f"{ind}g{offb[l - 1] + j} += d{l}_{j}")
            for q in range(i):
                body.append(f"{ind}g{offW[l - 1] + j * i + q} += d{l}_{j} * {prev}{q}")
        if l == 1:
            break
        kind = acts[l - 2]
        for q in range(i):
            back = " + ".join(f"w{offW[l - 1] + j * i + q} * d{l}_{j}" for j in range(o))
            if kind[0] == "tanh":
                body.append(f"{ind}d{l - 1}_{q} = ({back}) * (one - a{l - 1}_{q} * a{l - 1}_{q})")
            elif kind[1:] == (1.0, 1.0):
                body.append(f"{ind}d{l - 1}_{q} = {back}")
            elif kind[1:] == (1.0, 0.0):
                body.append(f"{ind}d{l - 1}_{q} = ({back}) if h{l - 1}_{q} > zero else zero")
            else:
                body.append(f"{ind}d{l - 1}_{q} = ({back}) * (sp{l - 1} if h{l - 1}_{q} > zero else sn{l - 1})")
    nl_ = chr(10)
    head = f"""# generated by nnlandscape._nets_numba.kernel_source -- do not edit
# sizes={list(sizes)} activations={[a.name for a in activations]} dtype={dtype}
import math
import numba
import numpy as np
"""
    func = """

@numba.njit(cache=True, nogil=True, fastmath={{"reassoc", "contract"}})
def one_model(T, X, Y, Wt, n, m, G, L):
{consts}
    npad = X.shape[1]
    inv_n = one / n
    two_n = (one + one) / n
{load}
    loss = zero
    for i in range(npad):
{body}
    L[m] = loss * inv_n
{store}


# both drivers call the same compiled one_model, so a model's numbers do not depend on the batch
@numba.njit(parallel=True, cache=True, nogil=True)
def kernel_parallel(T, X, Y, Wt, n, idx, G, L):
    for r in numba.prange(idx.shape[0]):
        one_model(T, X, Y, Wt, n, idx[r], G, L)


@numba.njit(cache=True, nogil=True)
def kernel_serial(T, X, Y, Wt, n, idx, G, L):
    for r in range(idx.shape[0]):
        one_model(T, X, Y, Wt, n, idx[r], G, L)
"""
    return head + func.format(consts=nl_.join(consts), load=nl_.join(load), body=nl_.join(body),
                              store=nl_.join(store))


def _cache_dir() -> str:
    d = os.environ.get("NNLANDSCAPE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "nnlandscape")
    os.makedirs(d, exist_ok=True)
    return d


def _get_kernel(net, dtype: str):
    spec_key = (tuple(net.sizes), tuple((a.name, a.slopes) for a in net.activations), dtype)
    if spec_key in _KERNELS:
        return _KERNELS[spec_key]
    src = kernel_source(net.sizes, net.activations, dtype)
    key = hashlib.sha1(src.encode()).hexdigest()[:20]
    path = os.path.join(_cache_dir(), f"nnl_kernel_{key}.py")
    if not os.path.exists(path):
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(src)
        os.replace(tmp, path)
    name = f"nnl_kernel_{key}"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # numba's on-disk cache re-imports the module by name
    spec.loader.exec_module(mod)
    _KERNELS[spec_key] = mod
    return mod


PAD = 32  #: data points are padded (with zero weight) to a multiple of this, so no scalar tail loop runs


def prepare_data(X, Y, dtype):
    """Transpose and pad the data for :func:`mse_loss_grad`: returns ``(Xt, Yt, mask, n)``."""
    X = np.asarray(X)
    Y = np.asarray(Y)
    n = X.shape[0]
    npad = -(-n // PAD) * PAD
    Xt = np.zeros((X.shape[1], npad), dtype=dtype)
    Yt = np.zeros((Y.shape[1], npad), dtype=dtype)
    mask = np.zeros(npad, dtype=dtype)
    Xt[:, :n] = X.T
    Yt[:, :n] = Y.T
    mask[:n] = 1
    return Xt, Yt, mask, n


#: below this many models the serial kernel is used (thread start-up would dominate)
PARALLEL_MIN_MODELS = 256


def mse_loss_grad(net, theta, data, idx=None, G=None, L=None):
    r"""MSE loss and gradient of all models.

    Parameters
    ----------
    net : MLP with ``supports(net)``.
    theta : array (M, P), float32 or float64, C-contiguous.
    data : ``prepare_data(X, Y, theta.dtype)``.
    idx : optional int64 array of the models (rows) to evaluate; the other rows of ``G``/``L``
        are left untouched.
    G, L : optional output buffers of shapes (M, P) and (M,).

    Returns
    -------
    L : (M,) losses :math:`\frac1n\sum_i\lVert f(x_i)-y_i\rVert^2`;
    G : (M, P) gradients :math:`\nabla_\theta\mathcal L`.
    """
    dt = theta.dtype
    if dt not in (np.float32, np.float64) or theta.ndim != 2 or not theta.flags.c_contiguous:
        raise ValueError("theta must be a C-contiguous (M, P) float32 or float64 array")
    Xt, Yt, mask, n = data
    if Xt.dtype != dt:
        raise ValueError(f"data must be prepared for dtype {dt} (got {Xt.dtype})")
    if G is None:
        G = np.empty_like(theta)
    if L is None:
        L = np.empty(theta.shape[0], dtype=dt)
    idx = np.arange(theta.shape[0], dtype=np.int64) if idx is None else np.asarray(idx, dtype=np.int64)
    mod = _get_kernel(net, dt.name)
    kern = mod.kernel_parallel if len(idx) >= PARALLEL_MIN_MODELS else mod.kernel_serial
    kern(theta, Xt, Yt, mask, n, idx, G, L)
    return L, G
