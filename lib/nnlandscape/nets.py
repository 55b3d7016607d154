r"""Many small multilayer perceptrons at once: the batched network engine.

A network with layer sizes :math:`(d_0, n_1, \dots, n_L, d_{\rm out})` maps
:math:`x = a_0 \in \mathbb{R}^{d_0}` to :math:`f(x;\theta) = h_{L+1}` by

.. math::

    h_\ell = W_\ell a_{\ell-1} + b_\ell, \qquad a_\ell = \phi_\ell(h_\ell)
    \quad (\ell = 1, \dots, L), \qquad h_{L+1} = W_{L+1} a_L + b_{L+1},

with :math:`W_\ell \in \mathbb{R}^{n_\ell \times n_{\ell-1}}`, no
:math:`1/\sqrt{n}` factor (these are ordinary trainable nets) and a linear
read-out. All trainable parameters form one vector :math:`\theta \in
\mathbb{R}^P`, packed layer by layer as ``[W_1.ravel(), b_1, W_2.ravel(), b_2, ...]``
(row-major :math:`W_\ell`), so that a 1-5x5-1 network has :math:`P = 136`.
Weight space is :math:`\mathbb{R}^P`: distances, interpolations, noise,
nudged-elastic-band images and HMC momenta are plain vector operations on a
batch ``theta`` of shape ``(M, P)`` -- one row per model. Every method below
accepts ``theta`` of shape ``(M, P)`` (or ``(P,)``, which drops the model axis
of the result) and a data set ``X`` of shape ``(n, d_0)`` shared by all models.

Losses (mean over the :math:`n` data points, one value per model):

* ``"mse"``: :math:`\mathcal{L} = \frac1n \sum_i \lVert f(x_i) - y_i \rVert^2`
  (sum over outputs, **no** factor 1/2; gradients are consistent with it);
* ``"cross_entropy"``: softmax cross-entropy
  :math:`\frac1n\sum_i [\log\sum_c e^{f_c(x_i)} - \sum_c y_{ic} f_c(x_i)]` with
  integer labels or one-hot/probability rows; for one output it is the logistic
  loss :math:`\frac1n\sum_i[\log(1+e^{f(x_i)}) - y_i f(x_i)]`, :math:`y_i\in\{0,1\}`;
* ``"hinge"``: :math:`\frac1n\sum_i \max(0, 1 - y_i f(x_i))`, :math:`y_i \in \{-1, +1\}`.

Gradients are hand-written back-propagation; Hessian-vector products use
Pearlmutter's :math:`\mathcal{R}`-operator (Pearlmutter 1994, *Neural Comput.*
6, 147), which gives exact Hessians for small :math:`P` by applying it to the
:math:`P` unit vectors, and the Gauss--Newton part
:math:`G = J^\top \nabla_f^2 \ell\, J` (Schraudolph 2002) by dropping the terms
with :math:`\phi''`, with the back-propagated error, and with :math:`\ell'`.

**Kinks.** For piecewise-linear activations (ReLU, leaky ReLU, shaped ReLU) the
registry's convention applies: :math:`\phi'(0) = s_-` and :math:`\phi'' \equiv 0`
(the Dirac mass at the kink is dropped). The gradient and Hessian returned are
therefore exact on the open, full-measure set of :math:`\theta` at which no
pre-activation :math:`h_\ell(x_i)` is exactly zero; there the ReLU network is
piecewise polynomial in :math:`\theta` and its Hessian is the Gauss--Newton
part plus the (non-zero!) cross terms between layers. At a kink they are one
one-sided derivative. The hinge loss is treated the same way
(:math:`\ell'' = 0`, :math:`\ell'(y f = 1) = 0`).

See also :func:`nnlandscape.optim.train` (batched optimizers, with a compiled
numba kernel for MSE training) and :mod:`nnlandscape.symmetries` (rescalings,
permutations, canonical forms).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import special

from ._checks import (
    MAX_BYTES, check_bool, check_budget, check_choice, check_finite_array, check_int, check_numeric_dtype, check_real, check_seed, check_sequence,
)
from .activations import Activation, get_activation

__all__ = ["MLP", "ESPMLP", "LOSSES", "INITS", "pack", "unpack"]

#: Loss names accepted by :meth:`MLP.loss` and :func:`nnlandscape.optim.train`.
LOSSES = ("mse", "cross_entropy", "hinge")
#: Weight initialisation schemes of :meth:`MLP.init`.
INITS = ("he", "glorot", "lecun")

_HESS_BLOCK_BYTES = 64 * 2**20  # memory budget of one R-operator block


# --------------------------------------------------------------------------- packing
def _layer_shapes(sizes):
    return [(sizes[l + 1], sizes[l]) for l in range(len(sizes) - 1)]


def pack(weights: Sequence, biases: Sequence) -> np.ndarray:
    r"""Concatenate per-layer :math:`(W_\ell, b_\ell)` into :math:`\theta`.

    ``weights[l]`` has shape ``(..., n_out, n_in)`` and ``biases[l]`` shape
    ``(..., n_out)``; the result is ``[W_1.ravel(), b_1, W_2.ravel(), b_2, ...]``
    along the last axis, with shape ``(..., P)``.
    """
    weights, biases = check_sequence("weights", weights), check_sequence("biases", biases)
    if len(weights) != len(biases) or len(weights) == 0:
        raise ValueError("weights and biases must be non-empty sequences of equal length")
    parts = []
    lead = None
    for l, (W, b) in enumerate(zip(weights, biases)):
        W = check_finite_array(f"weights[{l}]", W)
        b = check_finite_array(f"biases[{l}]", b)
        if W.ndim < 2 or b.shape != W.shape[:-1]:
            raise ValueError(
                f"weights[{l}] of shape {W.shape} and biases[{l}] of shape {b.shape} do not match: "
                "need W (..., n_out, n_in) and b (..., n_out)"
            )
        if lead is None:
            lead = W.shape[:-2]
        elif W.shape[:-2] != lead:
            raise ValueError(f"weights[{l}] has batch shape {W.shape[:-2]}, expected {lead}")
        parts += [W.reshape(lead + (-1,)), b]
    return np.concatenate(parts, axis=-1)


def unpack(theta, sizes: Sequence[int]):
    r"""Split :math:`\theta` of shape ``(P,)`` or ``(M, P)`` into lists ``(weights, biases)``.

    The arrays are views of ``theta``: ``weights[l]`` has shape ``(..., n_{l+1}, n_l)``
    and ``biases[l]`` shape ``(..., n_{l+1})``. Inverse of :func:`pack`.
    """
    sizes = _check_sizes(sizes)
    theta = np.asarray(theta)
    P = sum(o * i + o for o, i in _layer_shapes(sizes))
    if theta.ndim not in (1, 2) or theta.shape[-1] != P:
        raise ValueError(f"theta must have shape (P,) or (M, P) with P={P}, got {theta.shape}")
    lead = theta.shape[:-1]
    Ws, bs, k = [], [], 0
    for o, i in _layer_shapes(sizes):
        Ws.append(theta[..., k : k + o * i].reshape(lead + (o, i)))
        k += o * i
        bs.append(theta[..., k : k + o])
        k += o
    return Ws, bs


def _check_sizes(sizes):
    try:
        sizes = [check_int(f"sizes[{i}]", s, 1) for i, s in enumerate(sizes)]
    except TypeError:
        raise ValueError(f"sizes must be a sequence of positive integers, got {sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"sizes must have at least 2 entries (input and output), got {sizes!r}")
    return sizes


# --------------------------------------------------------------------------- losses
@dataclass(frozen=True)
class _Loss:
    r"""A per-point loss :math:`\ell(f, y)`; the total is :math:`\frac1n\sum_i \ell(f_i, y_i)`.

    ``value`` returns the total per model; ``d1`` returns :math:`\partial\mathcal{L}/\partial f_i`
    (with the :math:`1/n`); ``d2_apply`` returns :math:`\nabla^2_{f_i}\mathcal{L}\,r_i`.
    """

    name: str

    def value(self, f, y):
        n = f.shape[-2]
        if self.name == "mse":
            return np.square(f - y).sum(axis=(-1, -2)) / n
        if self.name == "hinge":
            return np.maximum(0.0, 1.0 - y * f).sum(axis=(-1, -2)) / n
        if f.shape[-1] == 1:  # logistic
            return (np.logaddexp(0.0, f) - y * f).sum(axis=(-1, -2)) / n
        lse = special.logsumexp(f, axis=-1)
        return (lse - (y * f).sum(-1)).sum(-1) / n

    def d1(self, f, y):
        n = f.shape[-2]
        if self.name == "mse":
            return (2.0 / n) * (f - y)
        if self.name == "hinge":
            return np.where(y * f < 1.0, -y, 0.0) / n
        if f.shape[-1] == 1:
            return (special.expit(f) - y) / n
        return (special.softmax(f, axis=-1) - y) / n

    def d2_apply(self, f, y, r):
        """:math:`\\nabla_f^2 \\mathcal{L}\\, r`; ``f`` (M, n, o), ``r`` (M, K, n, o)."""
        n = f.shape[-2]
        if self.name == "mse":
            return (2.0 / n) * r
        if self.name == "hinge":
            return np.zeros_like(r)
        f = f[:, None]
        if f.shape[-1] == 1:
            s = special.expit(f)
            return s * (1.0 - s) * r / n
        p = special.softmax(f, axis=-1)
        return (p * r - p * (p * r).sum(-1, keepdims=True)) / n


# --------------------------------------------------------------------------- the network
class MLP:
    r"""A fully connected network architecture acting on batches of parameter vectors.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths :math:`(d_0, n_1, \dots, n_L, d_{\rm out})`, e.g. ``[1, 5, 5, 5, 5, 5, 1]``.
    activation : str, Activation, or sequence of them
        Registry name (see :func:`nnlandscape.activations.get_activation`) used on every hidden
        layer, or one per hidden layer. The read-out is linear. ``"esp"`` returns an
        :class:`ESPMLP` (Swish units with one trainable inverse temperature per unit).
    bias : bool or sequence of bool
        Whether each layer :math:`\ell = 1..L+1` has a (trainable) bias; ``False`` means
        :math:`b_\ell = 0`.
    fixed : dict, optional
        ``{l: W}`` or ``{l: (W, b)}`` (1-based layer index :math:`\ell`) for layers held fixed,
        e.g. the second layer of a committee machine ``{2: np.ones((1, K))}``. Their parameters
        are not part of :math:`\theta`.
    **act_params
        Parameters of the activation (``alpha``, ``beta``, ``c``, ``depth``).

    Attributes
    ----------
    n_params : int
        :math:`P`, the number of trainable parameters (the length of :math:`\theta`).
    layers : list of (n_out, n_in)
        Shapes of :math:`W_1, \dots, W_{L+1}`.
    """

    def __new__(cls, sizes=None, activation="relu", *args, **kwargs):
        # ``MLP(sizes, "esp")`` builds the trainable-temperature network :class:`ESPMLP`
        if cls is MLP and isinstance(activation, str) and activation == "esp":
            cls = ESPMLP
        return super().__new__(cls)

    def __init__(self, sizes, activation="relu", *, bias=True, fixed=None, **act_params):
        self.sizes = _check_sizes(sizes)
        L = len(self.sizes) - 2
        if isinstance(activation, (str, Activation)):
            acts = [get_activation(activation, **act_params)] * L
        else:
            activation = check_sequence("activation", activation)
            if len(activation) != L:
                raise ValueError(f"activation list must have one entry per hidden layer ({L}), got {len(activation)}")
            acts = [get_activation(a, **act_params) for a in activation]
        self.activations = acts
        self.layers = _layer_shapes(self.sizes)
        nl = len(self.layers)
        if isinstance(bias, (bool, np.bool_)):
            bias = [bool(bias)] * nl
        bias = check_sequence("bias", bias)
        if not all(isinstance(b, (bool, np.bool_)) for b in bias):
            raise TypeError(f"bias must be a bool or a list of bools, got {bias!r}")
        if len(bias) != nl:
            raise ValueError(f"bias must be a bool or {nl} bools (one per layer), got {len(bias)}")
        self.bias = [bool(b) for b in bias]
        if fixed is not None and not isinstance(fixed, dict):
            raise TypeError(f"fixed must be None or a dict {{layer: W or (W, b)}}, got {type(fixed).__name__}")
        fixed = {} if fixed is None else dict(fixed)
        self.fixed = {}
        for l, val in fixed.items():
            l = check_int("fixed layer index", l, 1, nl)
            W, b = (val if isinstance(val, tuple) else (val, None))
            W = check_finite_array(f"fixed[{l}]", W)
            o, i = self.layers[l - 1]
            if W.shape != (o, i):
                raise ValueError(f"fixed[{l}] weight must have shape {(o, i)}, got {W.shape}")
            b = np.zeros(o) if b is None else check_finite_array(f"fixed[{l}] bias", b)
            if b.shape != (o,):
                raise ValueError(f"fixed[{l}] bias must have shape {(o,)}, got {b.shape}")
            self.fixed[l] = (W, b)
        # slices of theta: (l, "W"/"b") -> (start, stop)
        self._slices = {}
        k = 0
        for l, (o, i) in enumerate(self.layers, start=1):
            if l in self.fixed:
                continue
            self._slices[l, "W"] = (k, k + o * i)
            k += o * i
            if self.bias[l - 1]:
                self._slices[l, "b"] = (k, k + o)
                k += o
        if k == 0:
            raise ValueError("fixed leaves no trainable parameter (P = 0)")
        self.n_params = k

    # ..................................................................... helpers
    @property
    def plain(self) -> bool:
        """True when every layer is trainable with a bias (the :func:`pack` layout)."""
        return not self.fixed and all(self.bias)

    def __repr__(self):
        acts = sorted({a.name for a in self.activations})
        return f"MLP(sizes={self.sizes}, activation={'/'.join(acts)}, P={self.n_params})"

    def _theta(self, theta, name="theta"):
        theta = np.asarray(check_numeric_dtype(name, theta))
        if theta.ndim not in (1, 2) or theta.shape[-1] != self.n_params:
            raise ValueError(f"{name} must have shape (P,) or (M, P) with P={self.n_params}, got {theta.shape}")
        if not np.issubdtype(theta.dtype, np.floating):
            theta = theta.astype(float)
        if not np.all(np.isfinite(theta)):
            raise ValueError(f"{name} must contain only finite values")
        return (theta[None] if theta.ndim == 1 else theta), theta.ndim == 1

    def _X(self, X):
        X = check_finite_array("X", X)
        if X.ndim == 1 and self.sizes[0] == 1:
            X = X[:, None]
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise ValueError(f"X must have shape (n, {self.sizes[0]}), got {X.shape}")
        if X.shape[0] == 0:
            raise ValueError("X must contain at least one data point")
        return X

    def _y(self, y, n, loss):
        loss = check_choice("loss", loss, LOSSES)
        out = self.sizes[-1]
        y = check_finite_array("y", y)
        if loss == "cross_entropy" and out > 1 and y.ndim == 1:
            if not np.all((y == np.round(y)) & (y >= 0) & (y < out)):
                raise ValueError(f"y must hold integer class labels in [0, {out - 1}] for cross_entropy")
            y = np.eye(out)[y.astype(int)]
        if y.ndim == 1 and out == 1:
            y = y[:, None]
        if y.shape != (n, out):
            raise ValueError(f"y must have shape ({n}, {out}) (or ({n},) for one output), got {y.shape}")
        if loss == "hinge":
            if out != 1 or not np.all(np.abs(y) == 1):
                raise ValueError("y must hold labels -1/+1 and the net one output for the hinge loss")
        if loss == "cross_entropy" and out == 1 and not np.all((y == 0) | (y == 1)):
            raise ValueError("y must hold labels 0/1 for the logistic (one-output cross_entropy) loss")
        return y, _Loss(loss)

    def unpack(self, theta):
        """Per-layer ``(weights, biases)`` lists for ``theta`` (M, P), fixed layers included.

        Trainable entries are views of ``theta`` with a leading model axis; fixed layers and
        absent biases are shared arrays without it (they broadcast).
        """
        theta = np.asarray(theta)
        if theta.ndim == 0 or theta.shape[-1] != self.n_params:
            raise ValueError(f"theta must have shape (..., P) with P={self.n_params}, got {theta.shape}")
        lead = theta.shape[:-1]
        Ws, bs = [], []
        for l, (o, i) in enumerate(self.layers, start=1):
            if l in self.fixed:
                W, b = self.fixed[l]
                Ws.append(W.astype(theta.dtype, copy=False))
                bs.append(b.astype(theta.dtype, copy=False))
                continue
            s, e = self._slices[l, "W"]
            Ws.append(theta[..., s:e].reshape(lead + (o, i)))
            if self.bias[l - 1]:
                s, e = self._slices[l, "b"]
                bs.append(theta[..., s:e])
            else:
                bs.append(np.zeros(o, dtype=theta.dtype))
        return Ws, bs

    def pack(self, weights, biases):
        """Inverse of :meth:`unpack` for the trainable layers (fixed layers/absent biases skipped)."""
        weights = check_sequence("weights", weights, len(self.layers))
        biases = check_sequence("biases", biases, len(self.layers))
        parts = []
        for l in range(1, len(self.layers) + 1):
            if l in self.fixed:
                continue
            W = np.asarray(weights[l - 1])
            parts.append(W.reshape(W.shape[:-2] + (-1,)))
            if self.bias[l - 1]:
                parts.append(np.asarray(biases[l - 1]))
        lead = np.broadcast_shapes(*[p.shape[:-1] for p in parts])
        return np.concatenate([np.broadcast_to(p, lead + p.shape[-1:]) for p in parts], axis=-1)

    # ..................................................................... init
    def init(self, n_models: int = 1, seed=0, *, scheme: str = "he", bias_std: float = 0.0, dtype=np.float64):
        r"""Random parameters :math:`\theta`, shape ``(n_models, P)``.

        Weights of layer :math:`\ell` are :math:`\mathcal{N}(0, \sigma_\ell^2)` with
        :math:`\sigma_\ell^2 = 2/n_{\ell-1}` (``"he"``, He et al. 2015),
        :math:`2/(n_{\ell-1}+n_\ell)` (``"glorot"``, Glorot & Bengio 2010) or :math:`1/n_{\ell-1}`
        (``"lecun"``); biases are :math:`\mathcal{N}(0, \mathrm{bias\_std}^2)` (zero by default).
        One standard-normal block of shape ``(n_models, P)`` is drawn from
        ``np.random.default_rng(seed)``, so model ``k`` is the same for every ``n_models > k``.
        """
        n_models = check_int("n_models", n_models, 1)
        scheme = check_choice("scheme", scheme, INITS)
        bias_std = check_real("bias_std", bias_std, 0.0, 1e30)  # representable in float32 after the draw
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
        dtype = check_choice("dtype", dtype, (np.dtype(np.float32), np.dtype(np.float64)))
        std = np.empty(self.n_params)
        for (l, kind), (s, e) in self._slices.items():
            o, i = self.layers[l - 1]
            if kind == "b":
                std[s:e] = bias_std
            else:
                std[s:e] = np.sqrt({"he": 2.0 / i, "glorot": 2.0 / (i + o), "lecun": 1.0 / i}[scheme])
        check_budget("memory of the draw (3 arrays of n_models x n_params floats)", 24.0 * n_models * self.n_params, MAX_BYTES,
                     "nnlandscape._checks.MAX_BYTES", "bytes")
        z = np.random.default_rng(check_seed("seed", seed)).standard_normal((n_models, self.n_params))
        return (z * std).astype(dtype)

    # ..................................................................... forward
    def _forward(self, theta, X):
        """Forward pass keeping pre-activations ``hs`` and activations ``as_`` (a_0 = X)."""
        Ws, bs = self.unpack(theta)
        a = X
        hs, as_ = [], [X]
        for l, (W, b) in enumerate(zip(Ws, bs)):
            h = np.matmul(a, np.swapaxes(W, -1, -2)) + b[..., None, :]
            hs.append(h)
            if l < len(Ws) - 1:
                a = self.activations[l].f(h)
                as_.append(a)
        return hs, as_, Ws

    def forward(self, theta, X):
        r"""Network outputs :math:`f(x_i; \theta_m)`, shape ``(M, n, d_out)`` (``(n, d_out)`` for 1-D theta)."""
        theta, single = self._theta(theta)
        X = self._X(X)
        f = np.broadcast_to(self._forward(theta, X)[0][-1], (theta.shape[0], X.shape[0], self.sizes[-1]))
        return f[0] if single else np.ascontiguousarray(f)

    __call__ = forward

    def loss(self, theta, X, y, loss: str = "mse"):
        r"""The loss :math:`\mathcal{L}(\theta_m)` of each model, shape ``(M,)`` (see module doc for conventions)."""
        theta, single = self._theta(theta)
        X = self._X(X)
        y, lf = self._y(y, X.shape[0], loss)
        v = lf.value(self._forward(theta, X)[0][-1], y) * np.ones(theta.shape[0])
        return v[0] if single else v

    # ..................................................................... gradient
    def _backward(self, theta, X, y, lf):
        hs, as_, Ws = self._forward(theta, X)
        M = theta.shape[0]
        f = np.broadcast_to(hs[-1], (M,) + hs[-1].shape[-2:])
        delta = lf.d1(f, y)
        gW, gb = [None] * len(Ws), [None] * len(Ws)
        for l in range(len(Ws) - 1, -1, -1):
            gW[l] = np.matmul(np.swapaxes(delta, -1, -2), as_[l])
            gb[l] = delta.sum(-2)
            if l > 0:
                delta = np.matmul(delta, Ws[l]) * self.activations[l - 1].d1(hs[l - 1])
        return lf.value(f, y), self.pack(gW, gb)

    def gradient(self, theta, X, y, loss: str = "mse", *, return_loss: bool = False):
        r"""Gradient :math:`\nabla_\theta \mathcal{L}(\theta_m)` by back-propagation, shape ``(M, P)``.

        .. math:: \delta_{L+1,i} = \partial\mathcal L/\partial f_i,\quad
                  \delta_{\ell,i} = \phi'(h_{\ell,i}) \odot W_{\ell+1}^\top \delta_{\ell+1,i},\quad
                  \nabla_{W_\ell}\mathcal L = \sum_i \delta_{\ell,i} a_{\ell-1,i}^\top,\quad
                  \nabla_{b_\ell}\mathcal L = \sum_i \delta_{\ell,i}.

        With ``return_loss=True`` returns ``(loss, gradient)``.
        """
        return_loss = check_bool("return_loss", return_loss)
        theta, single = self._theta(theta)
        X = self._X(X)
        y, lf = self._y(y, X.shape[0], loss)
        val, g = self._backward(theta, X, y, lf)
        if single:
            val, g = val[0], g[0]
        return (val, g) if return_loss else g

    # ..................................................................... curvature
    def _rop(self, theta, X, y, lf, V, gauss_newton):
        r"""Pearlmutter's :math:`\mathcal R`-operator: :math:`H v` (or :math:`G v`) for V (M, K, P)."""
        hs, as_, Ws = self._forward(theta, X)
        M = theta.shape[0]
        nl = len(Ws)
        f = np.broadcast_to(hs[-1], (M,) + hs[-1].shape[-2:])
        VW, Vb = self.unpack(V)  # (M, K, o, i) / (M, K, o); fixed layers -> shared arrays
        VW = [np.zeros((1, 1) + W.shape) if l + 1 in self.fixed else VW[l] for l, W in enumerate(Ws)]
        Vb = [v if v.ndim == 3 else np.zeros((1, 1, v.shape[-1])) for v in Vb]
        Ws4 = [W[:, None] if W.ndim == 3 else W for W in Ws]
        hs4 = [h[:, None] if h.ndim == 3 else h for h in hs]
        as4 = [a[:, None] if a.ndim == 3 else a for a in as_]
        # forward R pass: Rh_l = W_l Ra_{l-1} + V_l a_{l-1} + c_l
        Rh, Ra = [], [None]
        for l in range(nl):
            r = np.matmul(as4[l], np.swapaxes(VW[l], -1, -2)) + Vb[l][..., None, :]
            if l > 0:
                r = r + np.matmul(Ra[l], np.swapaxes(Ws4[l], -1, -2))
            Rh.append(r)
            if l < nl - 1:
                Ra.append(self.activations[l].d1(hs4[l]) * r)
        # backward pass, primal deltas needed for the full Hessian
        Rdelta = lf.d2_apply(f, y, Rh[-1])
        delta = lf.d1(f, y)[:, None] if not gauss_newton else None
        RgW, Rgb = [None] * nl, [None] * nl
        for l in range(nl - 1, -1, -1):
            RgW[l] = np.matmul(np.swapaxes(Rdelta, -1, -2), as4[l])
            if not gauss_newton and l > 0:
                RgW[l] = RgW[l] + np.matmul(np.swapaxes(delta, -1, -2), Ra[l])
            Rgb[l] = Rdelta.sum(-2)
            if l == 0:
                break
            act = self.activations[l - 1]
            Rback = np.matmul(Rdelta, Ws4[l])
            if gauss_newton:
                Rdelta = act.d1(hs4[l - 1]) * Rback
            else:
                back = np.matmul(delta, Ws4[l])
                Rback = Rback + np.matmul(delta, VW[l])
                Rdelta = act.d1(hs4[l - 1]) * Rback
                if act.slopes is None:  # phi'' = 0 for piecewise-linear activations (kinks dropped)
                    Rdelta = Rdelta + act.d2(hs4[l - 1]) * Rh[l - 1] * back
                delta = act.d1(hs4[l - 1]) * back
        return self.pack(RgW, Rgb)

    def _rop_blocked(self, theta, X, y, lf, V, gauss_newton):
        M, K, P = V.shape
        n = X.shape[0]
        per = 8 * K * n * (sum(self.sizes) * 4 + 1)  # bytes of R-temporaries per model
        block = max(1, _HESS_BLOCK_BYTES // max(per, 1))
        if block >= M:
            return self._rop(theta, X, y, lf, V, gauss_newton)
        out = np.empty((M, K, P), dtype=np.result_type(theta, V))
        for s in range(0, M, block):
            out[s : s + block] = self._rop(theta[s : s + block], X, y, lf, V[s : s + block], gauss_newton)
        return out

    def _curv_args(self, theta, X, y, loss, v):
        theta, single = self._theta(theta)
        X = self._X(X)
        y, lf = self._y(y, X.shape[0], loss)
        v = check_finite_array("v", v)
        M = theta.shape[0]
        if v.ndim == 0 or v.shape[-1] != self.n_params or v.ndim > 3 or (v.ndim == 3 and v.shape[0] != M):
            raise ValueError(f"v must have shape (P,), (M, P) or (M, K, P) with P={self.n_params}, M={M}; got {v.shape}")
        if v.ndim == 1:  # one vector for every model
            vv = np.broadcast_to(v, (M, 1, v.shape[0]))
        elif v.ndim == 2 and single:  # 1-D theta: K vectors for the one model
            vv = v[None]
        elif v.ndim == 2 and v.shape[0] == M:  # one vector per model
            vv = v[:, None]
        elif v.ndim == 3:
            vv = v
        else:
            raise ValueError(f"v of shape {v.shape} does not match {M} models")
        return theta, single, X, y, lf, v, vv

    def hvp(self, theta, X, y, v, loss: str = "mse", *, gauss_newton: bool = False):
        r"""Hessian-vector product :math:`\nabla^2_\theta\mathcal L(\theta_m)\, v` (Pearlmutter's :math:`\mathcal R`-op).

        ``v`` has shape ``(P,)`` (same vector for every model), ``(M, P)`` (one per model) or
        ``(M, K, P)`` (K vectors per model); for a 1-D ``theta``, ``v`` may be ``(P,)`` or ``(K, P)``.
        The result has the shape of ``v`` (``(M, P)`` for ``v`` of shape ``(P,)`` and M models).
        Cost: about three gradient evaluations per vector, so it also serves large ``P``.
        ``gauss_newton=True`` gives :math:`G v` instead.
        """
        gauss_newton = check_bool("gauss_newton", gauss_newton)
        theta, single, X, y, lf, v, vv = self._curv_args(theta, X, y, loss, v)
        out = self._rop_blocked(theta, X, y, lf, vv, gauss_newton)
        if v.ndim == 3:
            return out
        if single:
            return out[0, 0] if v.ndim == 1 else out[0]
        return out[:, 0]

    def hessian(self, theta, X, y, loss: str = "mse", *, gauss_newton: bool = False):
        r"""Exact Hessian :math:`\nabla^2_\theta \mathcal L(\theta_m)`, shape ``(M, P, P)``.

        Computed as :math:`H e_k` for the :math:`P` unit vectors (see :meth:`hvp`) and
        symmetrised, :math:`(H + H^\top)/2`. ``gauss_newton=True`` returns the Gauss--Newton
        part :math:`G = \frac1n\sum_i J_i^\top \nabla_f^2\ell\, J_i` (positive semi-definite for
        convex losses). See the module doc for ReLU kinks.
        """
        gauss_newton = check_bool("gauss_newton", gauss_newton)
        theta, single = self._theta(theta)
        X = self._X(X)
        y, lf = self._y(y, X.shape[0], loss)
        M, P = theta.shape
        n = X.shape[0]
        check_budget("memory of the Hessian (M P^2 and the R-op temporaries of one model)",
                     8.0 * (3 * M * P * P + P * n * (sum(self.sizes) * 4 + 1)), MAX_BYTES,
                     "nnlandscape._checks.MAX_BYTES", "bytes")
        eye = np.broadcast_to(np.eye(P, dtype=theta.dtype), (M, P, P))
        H = self._rop_blocked(theta, X, y, lf, eye, gauss_newton)
        H = 0.5 * (H + np.swapaxes(H, -1, -2))
        return H[0] if single else H

    def gauss_newton(self, theta, X, y, loss: str = "mse"):
        """The Gauss--Newton matrix :math:`G = J^\\top \\nabla_f^2 \\mathcal L\\, J`, shape ``(M, P, P)``."""
        return self.hessian(theta, X, y, loss, gauss_newton=True)

    def hessian_eigh(self, theta, X, y, loss: str = "mse", *, gauss_newton: bool = False):
        """Eigenvalues (ascending, ``(M, P)``) and eigenvectors (columns, ``(M, P, P)``) of the Hessian."""
        return np.linalg.eigh(self.hessian(theta, X, y, loss, gauss_newton=gauss_newton))


# --------------------------------------------------------------------------- trainable temperatures
def _esp_parts(h, beta, second=True):
    r"""Pieces of :math:`\phi(h, \beta) = h\,\sigma(\beta h)` and its derivatives in ``h`` and ``beta``
    (second derivatives only with ``second=True``)."""
    s = special.expit(beta * h)
    ds = s * (1.0 - s)  # sigma'(beta h)
    hds = h * ds
    out = {"f": h * s, "h": s + beta * hds, "b": h * hds}  # phi, d phi/dh = g(h), d phi/d beta
    if second:
        k = 2.0 + beta * h * (1.0 - 2.0 * s)
        out.update(hh=beta * ds * k, hb=hds * k, bb=h * out["b"] * (1.0 - 2.0 * s))
    return out


class ESPMLP(MLP):
    r"""A network of expected-signal-propagation (ESP, Swish) units with trainable temperatures.

    Hidden unit :math:`i` of layer :math:`\ell` computes
    :math:`a_{\ell i} = h_{\ell i}\,\sigma(\beta_{\ell i} h_{\ell i})`, the mean transmitted signal
    :math:`\langle h s\rangle = \partial_\beta \log(1 + e^{\beta h})` of a maximum-entropy binary
    gate (Milletarì, Chotibut & Trevisanutto 2018, arXiv:1805.08786, eq. 5), with its own inverse
    temperature :math:`\beta_{\ell i}`. The read-out carries one too: the network output is the
    logit :math:`f = \beta_{L+1} \odot h_{L+1}`, so that with ``loss="cross_entropy"`` and one output
    :math:`P(y = 1) = \sigma(\beta_{L+1} h_{L+1})`, the authors' output unit.

    Build it as ``MLP(sizes, "esp")``. The parameter vector is the plain layout of :class:`MLP`
    followed by the temperatures, ``[W_1, b_1, ..., W_{L+1}, b_{L+1}, beta_1, ..., beta_{L+1}]``,
    so a 2-10-1 network has :math:`41 + 11 = 52` parameters and the first 41 entries read as
    the weights of an ordinary network. Forward pass, loss, gradient, Hessian-vector products,
    the exact Hessian (temperatures included) and :func:`nnlandscape.optim.train` work as for
    :class:`MLP`; :meth:`unpack_beta` returns the temperatures. The derivatives used are, with
    :math:`s = \sigma(\beta h)` and :math:`s' = s(1-s)`:
    :math:`\partial_h\phi = s + \beta h s'`, :math:`\partial_\beta\phi = h^2 s'`,
    :math:`\partial_h^2\phi = \beta s' k`, :math:`\partial_h\partial_\beta\phi = h s' k`,
    :math:`\partial_\beta^2\phi = h^3 s'(1 - 2s)`, :math:`k = 2 + \beta h(1 - 2s)`.
    """

    def __init__(self, sizes, activation="esp", *, bias=True, fixed=None, **act_params):
        if not (isinstance(activation, str) and activation == "esp"):
            raise ValueError(f"activation={activation!r} is not allowed for ESPMLP; choose 'esp'")
        if act_params:
            raise ValueError(f"the 'esp' network takes no activation parameters (its beta are trainable); got {sorted(act_params)}")
        has_fixed = fixed is not None and not (isinstance(fixed, (list, tuple, set, frozenset, dict)) and not fixed)
        all_bias = bias is True or (isinstance(bias, (list, tuple, np.ndarray))
                                    and all(isinstance(b, (bool, np.bool_)) and b for b in np.ravel(np.asarray(bias, dtype=object))))
        if has_fixed or not all_bias:
            raise ValueError("the 'esp' network needs bias=True and fixed=None (every layer trainable)")
        super().__init__(sizes, "swish", bias=True)
        self.n_plain = self.n_params
        self._beta_slices = {}
        k = self.n_plain
        for l, (o, _) in enumerate(self.layers, start=1):
            self._beta_slices[l] = (k, k + o)
            k += o
        self.n_params = k

    def __repr__(self):
        return f"MLP(sizes={self.sizes}, activation=esp, P={self.n_params})"

    @property
    def plain(self) -> bool:
        return False  # not the layout of :func:`pack` (temperatures are appended)

    def unpack_beta(self, theta):
        """List of the temperatures :math:`\\beta_\\ell`, shapes ``(..., n_\\ell)`` (views of ``theta``)."""
        theta = np.asarray(check_numeric_dtype("theta", theta))
        if theta.ndim == 0 or theta.shape[-1] != self.n_params:
            raise ValueError(f"theta must have shape (..., P) with P={self.n_params}, got {theta.shape}")
        return [theta[..., s:e] for s, e in self._beta_slices.values()]

    def pack(self, weights, biases, betas=None):
        """Inverse of :meth:`unpack` + :meth:`unpack_beta`; ``betas=None`` means all temperatures 1."""
        base = MLP.pack(self, weights, biases)
        if betas is None:
            betas = [np.ones(o) for o, _ in self.layers]
        if not isinstance(betas, (list, tuple)) and not (isinstance(betas, np.ndarray) and betas.ndim):
            raise ValueError(f"betas must be a list of {len(self.layers)} arrays (one per layer), got {betas!r}")
        if len(betas) != len(self.layers):
            raise ValueError(f"betas must hold {len(self.layers)} arrays (one per layer), got {len(betas)}")
        tail = [np.broadcast_to(np.asarray(b, dtype=base.dtype), base.shape[:-1] + (o,))
                for b, (o, _) in zip(betas, self.layers)]
        return np.concatenate([base] + tail, axis=-1)

    def init(self, n_models: int = 1, seed=0, *, scheme: str = "he", bias_std: float = 0.0,
             beta_mean: float = 0.0, beta_std: float = 0.004, dtype=np.float64):
        r"""Random :math:`\theta`, shape ``(n_models, P)``: weights and biases as :meth:`MLP.init`
        and temperatures :math:`\beta \sim \mathcal N(\beta_{\rm mean},
        \beta_{\rm std}^2)`. The defaults ``beta_mean=0, beta_std=0.004`` are the authors' choice
        (high temperature at the start). The temperatures come from an independent child stream of
        ``seed``, so model ``k`` is the same for every ``n_models > k``.
        """
        beta_mean = check_real("beta_mean", beta_mean)
        beta_std = check_real("beta_std", beta_std, 0.0)
        n_plain, self.n_params = self.n_params, self.n_plain
        try:
            base = MLP.init(self, n_models, seed, scheme=scheme, bias_std=bias_std, dtype=dtype)
        finally:
            self.n_params = n_plain
        ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(
            int(seed) if isinstance(seed, (int, np.integer)) else None)
        child = ss.spawn(1)[0]
        nb = self.n_params - self.n_plain
        z = np.random.default_rng(child).standard_normal((base.shape[0], nb))
        return np.concatenate([base, (beta_mean + beta_std * z).astype(base.dtype)], axis=-1)

    # ..................................................................... forward/backward
    def _esp_forward(self, theta, X, second=True):
        Ws, bs = self.unpack(theta)
        betas = [b[..., None, :] for b in self.unpack_beta(theta)]  # (M, 1, n)
        a = X
        hs, as_, parts = [], [X], []
        for l, (W, b) in enumerate(zip(Ws, bs)):
            h = np.matmul(a, np.swapaxes(W, -1, -2)) + b[..., None, :]
            hs.append(h)
            if l < len(Ws) - 1:
                p = _esp_parts(h, betas[l], second)
                parts.append(p)
                a = p["f"]
                as_.append(a)
        f = betas[-1] * hs[-1]
        return hs, as_, Ws, betas, parts, f

    def _forward(self, theta, X):
        hs, as_, Ws, _, _, f = self._esp_forward(theta, X, second=False)
        return hs[:-1] + [f], as_, Ws

    def _backward(self, theta, X, y, lf):
        hs, as_, Ws, betas, parts, f = self._esp_forward(theta, X, second=False)
        dfo = lf.d1(f, y)  # dL/df
        nl = len(Ws)
        gW, gb, gbeta = [None] * nl, [None] * nl, [None] * nl
        gbeta[-1] = (dfo * hs[-1]).sum(-2)
        delta = dfo * betas[-1]
        for l in range(nl - 1, -1, -1):
            gW[l] = np.matmul(np.swapaxes(delta, -1, -2), as_[l])
            gb[l] = delta.sum(-2)
            if l > 0:
                e = np.matmul(delta, Ws[l])  # dL/da_l
                p = parts[l - 1]
                gbeta[l - 1] = (e * p["b"]).sum(-2)
                delta = e * p["h"]
        return lf.value(f, y), np.concatenate([MLP.pack(self, gW, gb)] + gbeta, axis=-1)

    def _rop(self, theta, X, y, lf, V, gauss_newton):
        r"""Pearlmutter's :math:`\mathcal R`-operator with the temperatures as parameters."""
        hs, as_, Ws, betas, parts, f = self._esp_forward(theta, X)
        nl = len(Ws)
        VW, Vb = self.unpack(V)  # (M, K, o, i) / (M, K, o)
        Vbeta = [v[..., None, :] for v in self.unpack_beta(V)]  # (M, K, 1, o)
        W4 = [W[:, None] for W in Ws]
        h4 = [h[:, None] for h in hs]
        a4 = [as_[0]] + [a[:, None] for a in as_[1:]]
        B4 = [b[:, None] for b in betas]
        P4 = [{k: v[:, None] for k, v in p.items()} for p in parts]
        # forward R pass
        Rh, Ra = [], [None]
        for l in range(nl):
            r = np.matmul(a4[l], np.swapaxes(VW[l], -1, -2)) + Vb[l][..., None, :]
            if l > 0:
                r = r + np.matmul(Ra[l], np.swapaxes(W4[l], -1, -2))
            Rh.append(r)
            if l < nl - 1:
                Ra.append(P4[l]["h"] * r + P4[l]["b"] * Vbeta[l])
        Rf = B4[-1] * Rh[-1] + Vbeta[-1] * h4[-1]
        # backward R pass
        dfo = lf.d1(f, y)[:, None]
        Rdfo = lf.d2_apply(f, y, Rf)
        RgW, Rgb, Rgbeta = [None] * nl, [None] * nl, [None] * nl
        Rgbeta[-1] = (Rdfo * h4[-1]).sum(-2)
        Rdelta = Rdfo * B4[-1]
        if not gauss_newton:
            Rgbeta[-1] = Rgbeta[-1] + (dfo * Rh[-1]).sum(-2)
            Rdelta = Rdelta + dfo * Vbeta[-1]
            delta = dfo * B4[-1]
        for l in range(nl - 1, -1, -1):
            RgW[l] = np.matmul(np.swapaxes(Rdelta, -1, -2), a4[l])
            if not gauss_newton and l > 0:
                RgW[l] = RgW[l] + np.matmul(np.swapaxes(delta, -1, -2), Ra[l])
            Rgb[l] = Rdelta.sum(-2)
            if l == 0:
                break
            p = P4[l - 1]
            Re = np.matmul(Rdelta, W4[l])
            if gauss_newton:
                Rgbeta[l - 1] = (Re * p["b"]).sum(-2)
                Rdelta = Re * p["h"]
                continue
            e = np.matmul(delta, W4[l])
            Re = Re + np.matmul(delta, VW[l])
            r, rb = Rh[l - 1], Vbeta[l - 1]
            Rgbeta[l - 1] = (Re * p["b"] + e * (p["hb"] * r + p["bb"] * rb)).sum(-2)
            Rdelta = Re * p["h"] + e * (p["hh"] * r + p["hb"] * rb)
            delta = e * p["h"]
        return np.concatenate([MLP.pack(self, RgW, Rgb)] + Rgbeta, axis=-1)
