r"""Samples of finite-width random MLPs on the sphere, in the book's convention.

A depth-:math:`L` network of width :math:`n` maps :math:`x \in \mathbb R^N`
(:math:`|x|^2 = N`) to the scalar

.. math::

    h^1 = \frac{W^1 x}{\sqrt N} + b^1,\quad
    h^{l+1} = \frac{W^{l+1}\phi(h^l)}{\sqrt n} + b^{l+1}\ (l < L),\quad
    f = \frac{W^{L+1}\phi(h^L)}{\sqrt n} + b^{L+1},

with all weights iid :math:`\mathcal N(0,\sigma_w^2)` and biases iid
:math:`\mathcal N(0,\sigma_b^2)`. As :math:`n \to \infty`,
:math:`\mathbb E[f(x)f(y)] \to C_L(x\cdot y/N)` of
:func:`nnlandscape.kernels.covariance`; for :math:`L = 1` the equality holds at
every width (:math:`h^1` is exactly Gaussian), for :math:`L \ge 2` the
finite-width correction is :math:`O(1/n)`.

Randomness: network :math:`i` draws its parameters from its own stream
``np.random.SeedSequence(seed).spawn(n_networks)[i]``, so the numbers depend
only on ``seed`` and the network index -- not on the chunking, and the first
:math:`m` networks of a larger sample are the same as a sample of :math:`m`.
"""
from __future__ import annotations

import math

import numpy as np

from ._checks import (
    MAX_BYTES, MAX_FLOPS, MAX_SIZE, check_budget, check_choice, check_finite_array, check_instance, check_int, check_real, check_real_array, check_seed,
)
from .activations import Activation, get_activation
from .input_landscape import MAX_INDEX, MLPBatch

__all__ = ["sphere_points", "sample_outputs", "hidden_gram", "empirical_covariance", "RandomMLP", "sample_network"]

_CHUNK_BYTES = 200 * 2**20




def _check_overlaps(q):
    return check_real_array("q", q, -1.0, 1.0)


def sphere_points(N, q, seed=0):
    r"""Two inputs :math:`x, y \in \mathbb R^N` on the sphere :math:`|x|^2 = |y|^2 = N` with :math:`x\cdot y/N = q`.

    Draws a uniformly random orthonormal pair :math:`e_1, e_2` (Gram-Schmidt of
    two Gaussian vectors) and returns :math:`x = \sqrt N e_1`,
    :math:`y = \sqrt N\,(q\,e_1 + \sqrt{1-q^2}\,e_2)`. For an array ``q`` every
    pair shares the same :math:`x` and the :math:`y`'s lie on one great circle
    through it (the network law is rotation invariant, so this loses nothing
    and lets one evaluation serve all pairs).

    Parameters
    ----------
    N : int, input dimension (>= 2).
    q : float or array_like in [-1, 1].
    seed : int, seed of ``np.random.default_rng``.

    Returns
    -------
    x, y : arrays of shape ``q.shape + (N,)`` (``x`` repeated along the ``q`` axes).
    """
    N = check_int("N", N, 2, MAX_SIZE)
    q = _check_overlaps(q)
    rng = np.random.default_rng(check_seed("seed", seed))
    g = rng.standard_normal((2, N))
    e1 = g[0] / np.linalg.norm(g[0])
    e2 = g[1] - (g[1] @ e1) * e1
    e2 /= np.linalg.norm(e2)
    s = np.sqrt(np.clip(1.0 - q * q, 0.0, None))
    root = math.sqrt(N)
    y = root * (q[..., None] * e1 + s[..., None] * e2)
    x = np.broadcast_to(root * e1, y.shape).copy()
    return x, y


def _draw_chunk(gens, shape):
    return np.stack([g.standard_normal(shape) for g in gens])


def _r_factor(A):
    r"""Batched R of :math:`A^T = QR`, so that :math:`R^T R = A A^T` (shape ``(..., min(n, k), k)``)."""
    return np.linalg.qr(np.swapaxes(A, -1, -2), mode="r")


def _linear_layer(A, n_out, gens, sw, sb, method):
    r"""One random affine layer :math:`A W \sigma_w/\sqrt{n_{in}} + \sigma_b b` for each network.

    ``A`` has shape ``(B, k, n_in)`` or ``(k, n_in)`` (shared inputs). ``weights``
    draws :math:`W` (``n_in x n_out``) explicitly. ``projected`` uses
    :math:`A = R^T Q^T` and that :math:`Q^T W` has iid :math:`\mathcal N(0,1)`
    entries (rotation invariance), drawing only ``min(n_in, k) x n_out`` numbers:
    the same joint law of the outputs at these inputs, at cost
    :math:`O(k n)` instead of :math:`O(n^2)`.
    """
    n_in = A.shape[-1]
    if method == "weights":
        W = _draw_chunk(gens, (n_in, n_out))
        h = A @ W
    else:
        R = _r_factor(A)
        Z = _draw_chunk(gens, (R.shape[-2], n_out))
        h = np.swapaxes(R, -1, -2) @ Z
    b = _draw_chunk(gens, (n_out,))
    return h * (sw / math.sqrt(n_in)) + sb * b[:, None, :]


def _hidden(act, depth, width, X, gens, sw, sb, method):
    """phi(h^L) for each network of the chunk, shape (B, k, width)."""
    h = _linear_layer(X, width, gens, sw, sb, method)
    for _ in range(depth - 1):
        h = _linear_layer(act.f(h), width, gens, sw, sb, method)
    return act.f(h)


def _check_net_args(activation, depth, width, X, n_networks, sigma_w2, sigma_b2, method):
    act = activation if isinstance(activation, Activation) else get_activation(activation)
    depth = check_int("depth", depth, 1)
    width = check_int("width", width, 1)
    n_networks = check_int("n_networks", n_networks, 1)
    sigma_w2 = check_real("sigma_w2", sigma_w2, 0.0, low_open=True)
    sigma_b2 = check_real("sigma_b2", sigma_b2, 0.0)
    check_choice("method", method, ("projected", "weights"))
    X = check_finite_array("X", X)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must have shape (k, N) with k, N >= 1; got shape {X.shape}")
    k, N = X.shape
    per_layer = k * width * (k + N) if method == "projected" else width * (width + N) * (k + 1)
    check_budget("work of the sample (n_networks * depth * per-layer flops)", 2.0 * n_networks * depth * per_layer,
                 MAX_FLOPS, "nnlandscape._checks.MAX_FLOPS", "flops")
    check_budget("memory of the result (n_networks * k * k)", 8.0 * n_networks * k * k, MAX_BYTES,
                 "nnlandscape._checks.MAX_BYTES", "bytes")
    return act, depth, width, X, n_networks, sigma_w2, sigma_b2


def _chunks(n_networks, seed, per_net_bytes):
    chunk = max(1, min(n_networks, _CHUNK_BYTES // max(per_net_bytes, 1)))
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(check_seed("seed", seed)).spawn(n_networks)]
    for start in range(0, n_networks, chunk):
        yield start, streams[start:start + chunk]


def _per_net_bytes(k, N, width, depth, method):
    if method == "weights":
        return 8 * (max(N, width) * width + 4 * k * width)
    return 8 * (6 * k * width + k * k)


def sample_outputs(activation, depth, width, X, *, n_networks, sigma_w2=1.0, sigma_b2=0.0, seed=0,
                   method="projected"):
    r"""Outputs :math:`f_i(x_a)` of ``n_networks`` independent random MLPs at the inputs ``X``.

    Parameters
    ----------
    activation : str or Activation
    depth : int, number of hidden layers :math:`L \ge 1`.
    width : int, hidden width :math:`n \ge 1`.
    X : array_like, shape ``(k, N)``; the inputs (rows). The convention assumes
        :math:`|x|^2 = N` (see :func:`sphere_points`) but any finite rows are accepted.
    n_networks : int >= 1.
    sigma_w2, sigma_b2 : weight variance (> 0) and bias variance (>= 0).
    seed : int; one independent stream per network (module docstring).
    method : ``"projected"`` (default) or ``"weights"``.
        ``"weights"`` draws every weight matrix (:math:`O(L n^2)` numbers per
        network). ``"projected"`` draws, per layer, only the projection of the
        weights onto the span of the current layer's :math:`k` activation
        vectors (QR of :math:`\phi(h^l)^T`); by rotation invariance of iid
        Gaussian weights the joint law of :math:`(f(x_1), \dots, f(x_k))` is
        exactly the same, at cost :math:`O(L k n)` (use it whenever
        :math:`k \ll n`). The two methods give different numbers for the same seed.

    Returns
    -------
    ndarray, shape ``(n_networks, k)``, float64.

    Notes
    -----
    Vectorised over networks with batched ``matmul``/``qr``, in chunks of
    networks whose arrays fit in about 200 MB.
    """
    act, depth, width, X, n_networks, sigma_w2, sigma_b2 = _check_net_args(
        activation, depth, width, X, n_networks, sigma_w2, sigma_b2, method)
    k, N = X.shape
    sw, sb = math.sqrt(sigma_w2), math.sqrt(sigma_b2)
    out = np.empty((n_networks, k))
    for start, gens in _chunks(n_networks, seed, _per_net_bytes(k, N, width, depth, method)):
        A = _hidden(act, depth, width, X, gens, sw, sb, method)
        out[start:start + len(gens)] = _linear_layer(A, 1, gens, sw, sb, method)[..., 0]
    return out


def hidden_gram(activation, depth, width, X, *, n_networks, sigma_w2=1.0, sigma_b2=0.0, seed=0,
                method="projected"):
    r"""Conditional output covariance :math:`\sigma_w^2\,\phi(h^L(x_a))\cdot\phi(h^L(x_b))/n + \sigma_b^2`.

    This is :math:`\mathbb E[f(x_a) f(x_b) \mid h^L]`, the read-out layer
    integrated out exactly, for each network: shape ``(n_networks, k, k)``.
    Averaging it over networks estimates :math:`\mathbb E[f(x_a)f(x_b)]` with
    variance :math:`O(1/(n\,n_\text{networks}))` instead of
    :math:`O(1/n_\text{networks})` (Rao-Blackwellisation). Same streams as
    :func:`sample_outputs` (its hidden layers are identical for the same seed).
    """
    act, depth, width, X, n_networks, sigma_w2, sigma_b2 = _check_net_args(
        activation, depth, width, X, n_networks, sigma_w2, sigma_b2, method)
    k, N = X.shape
    out = np.empty((n_networks, k, k))
    sw, sb = math.sqrt(sigma_w2), math.sqrt(sigma_b2)
    for start, gens in _chunks(n_networks, seed, _per_net_bytes(k, N, width, depth, method)):
        A = _hidden(act, depth, width, X, gens, sw, sb, method)
        out[start:start + len(gens)] = sigma_w2 * (A @ np.swapaxes(A, -1, -2)) / width + sigma_b2
    return out


def empirical_covariance(activation, depth, width, q, *, n_networks, N=8, sigma_w2=1.0, sigma_b2=0.0, seed=0,
                         estimator="outputs", method="projected"):
    r"""Monte Carlo estimate of :math:`\mathbb E[f(x)f(y)]` at overlaps ``q``, with its standard error.

    Builds pairs with :func:`sphere_points` (one shared :math:`x`) and averages
    over ``n_networks`` random networks either the product :math:`f(x)f(y)` of
    :func:`sample_outputs` (``estimator="outputs"``) or the read-out-integrated
    :math:`\sigma_w^2\phi(h^L(x))\cdot\phi(h^L(y))/n + \sigma_b^2` of
    :func:`hidden_gram` (``estimator="conditional"``, same mean, far smaller
    variance). The standard error is :math:`\hat s/\sqrt{n_\text{networks}}`.
    Compare with :func:`nnlandscape.kernels.covariance`: equal in expectation
    for ``depth=1`` at any width (:math:`h^1` is exactly Gaussian), with an
    :math:`O(1/\text{width})` bias otherwise. ``N`` does not matter in law (only
    :math:`|x|^2/N` and :math:`q` enter) and is kept small.

    Returns
    -------
    mean, stderr : arrays of the shape of ``q``.
    """
    q = _check_overlaps(q)
    N = check_int("N", N, 2, MAX_SIZE)
    n_networks = check_int("n_networks", n_networks, 2)
    check_choice("estimator", estimator, ("outputs", "conditional"))
    if q.size == 0:
        raise ValueError("q must contain at least one overlap")
    x, y = sphere_points(N, q.ravel(), seed=seed)
    X = np.concatenate([x[:1], y], axis=0)
    kw = dict(n_networks=n_networks, sigma_w2=sigma_w2, sigma_b2=sigma_b2, seed=seed, method=method)
    if estimator == "outputs":
        f = sample_outputs(activation, depth, width, X, **kw)
        samples = f[:, :1] * f[:, 1:]
    else:
        samples = hidden_gram(activation, depth, width, X, **kw)[:, 0, 1:]
    mean = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / math.sqrt(n_networks)
    return mean.reshape(q.shape)[()], se.reshape(q.shape)[()]


class RandomMLP:
    r"""One random MLP with its weights held, evaluable at any inputs (the notation table's network).

    .. math::

        h^1 = \frac{\sigma_w W^1 x}{\sqrt N} + \sigma_b b^1,\quad
        h^{l+1} = \frac{\sigma_w W^{l+1}\phi(h^l)}{\sqrt n} + \sigma_b b^{l+1},\quad
        f(x) = \frac{\sigma_w W^{L+1}\phi(h^L)}{\sqrt n} + \sigma_b b^{L+1},

    with :math:`W^l, b^l` iid standard normal. Built by :func:`sample_network`; a view of a
    one-network :class:`nnlandscape.input_landscape.MLPBatch` (the one implementation of held random
    networks) that accepts inputs of any leading shape. The weights are drawn in the order of
    :func:`sample_outputs` with ``method="weights"``, so ``sample_network(..., seed=s, index=i)(X)``
    equals row ``i`` of ``sample_outputs(..., X, n_networks=m, seed=s, method="weights")`` for any
    ``m > i`` (up to BLAS rounding). Calling it is a forward pass only (:math:`O(k L n^2)` for
    :math:`k` inputs, no weight draws).

    Attributes
    ----------
    weights : list of the effective weight matrices :math:`\sigma_w W^l/\sqrt{n_{l-1}}`, shape ``(n_in, n_out)``.
    biases : list of the effective biases :math:`\sigma_b b^l`, shape ``(n_out,)``.
    activation, depth, width, input_dim, sigma_w2, sigma_b2.
    """

    def __init__(self, batch: MLPBatch):
        check_instance("batch", batch, MLPBatch)
        if batch.n_networks != 1:
            raise ValueError(f"batch must hold exactly one network, got n_networks={batch.n_networks}")
        self._batch = batch
        self.activation, self.depth, self.width = batch.activation, batch.depth, batch.width
        self.input_dim, self.sigma_w2, self.sigma_b2 = batch.N, batch.sigma_w2, batch.sigma_b2
        self.weights = [w[0] for w in batch.weights]
        self.biases = [b[0, 0] for b in batch.biases]

    def _as_batch(self, X):
        X = check_finite_array("X", X)
        if X.ndim < 1 or X.shape[-1] != self.input_dim:
            raise ValueError(f"X must have shape (..., {self.input_dim}); got shape {X.shape}")
        return X.reshape(1, -1, self.input_dim), X.shape[:-1]

    def hidden(self, X):
        r""":math:`\phi(h^L(x))` for inputs ``X`` of shape ``(..., N)``: shape ``(..., n)``."""
        Xb, lead = self._as_batch(X)
        return self._batch.hidden(Xb).reshape(lead + (self.width,))

    def __call__(self, X):
        r"""Outputs :math:`f(x)` for inputs ``X`` of shape ``(..., N)``: shape ``X.shape[:-1]``."""
        Xb, lead = self._as_batch(X)
        return self._batch(Xb).reshape(lead)

    def __repr__(self):
        return (f"RandomMLP({self.activation.name!r}, depth={self.depth}, width={self.width}, "
                f"N={self.input_dim}, sigma_w2={self.sigma_w2:g}, sigma_b2={self.sigma_b2:g})")


def sample_network(activation, depth, width, N, *, sigma_w2=1.0, sigma_b2=0.0, seed=0, index=0):
    r"""Draw one random MLP (:class:`RandomMLP`) of depth :math:`L`, width :math:`n`, input dimension :math:`N`.

    The network is number ``index`` of the family of ``seed``: it uses the
    stream ``np.random.SeedSequence(seed).spawn(index + 1)[index]``, exactly as
    :func:`sample_outputs` does for its network ``index`` (``method="weights"``),
    so the two agree. Different ``(seed, index)`` give independent networks.
    """
    index = check_int("index", index, 0, MAX_INDEX)
    batch = MLPBatch(activation, depth, width, N, n_networks=1, first_index=index,
                     sigma_w2=sigma_w2, sigma_b2=sigma_b2, seed=seed)
    return RandomMLP(batch)
