r"""Finite random MLPs as Hamiltonians over their inputs: a batch of networks with input gradients.

Winer & Hanin (*Deep Neural Nets as Hamiltonians*, arXiv:2503.23982) view a random MLP
:math:`f` with its weights held fixed as an energy over its inputs on the sphere
:math:`|x|^2 = N`,

.. math::

    H(x) = \sqrt N\,\big(f(x) - \bar f\big),\qquad \bar f = \int_{S^{N-1}(\sqrt N)} f\,d\sigma ,

(the book's network, notation table of the introduction; :math:`\bar f` is the random constant
of variance :math:`\approx C_L(0)`, removed so that :math:`\mathbb E[H(x)H(y)] \to N\xi(q)`,
:math:`\xi = C_L - C_L(0)`, :mod:`nnlandscape.replica`). The energy per site is
:math:`e(x) = H(x)/N = (f(x) - \bar f)/\sqrt N`.

:class:`MLPBatch` holds ``B`` independent networks (one seeded stream each, drawn in the order of
:func:`nnlandscape.random_nets.sample_network`, so network ``i`` of ``seed`` is the same network
there) and evaluates all of them at once on inputs of shape ``(B, M, N)`` (``M`` inputs per
network, e.g. Monte Carlo chains), with the gradient :math:`\nabla_x f` by back-propagation:

.. math::

    \nabla_x f = \frac{\sigma_w}{\sqrt N} W^{1\top}\Big(\phi'(h^1)\odot \frac{\sigma_w}{\sqrt n}W^{2\top}
    \big(\cdots \phi'(h^L)\odot\tfrac{\sigma_w}{\sqrt n}W^{L+1\top}\big)\Big).

For piecewise-linear activations :math:`\phi'(0) = s_-` (the registry's convention); the set
of inputs with a pre-activation exactly at a kink has measure zero.

The samplers and the descent live in :mod:`nnlandscape.sphere_mc`.
"""
from __future__ import annotations

import math

import numpy as np

from ._checks import (
    MAX_BYTES, MAX_FLOPS, check_budget, check_finite_array, check_instance, check_int, check_real, check_seed, check_sequence,
)
from .activations import Activation, get_activation

__all__ = ["MLPBatch", "uniform_sphere"]




def uniform_sphere(shape, N, rng):
    r"""Points uniform on the sphere :math:`|x|^2 = N`: array of shape ``shape + (N,)``."""
    check_instance("rng", rng, np.random.Generator)
    N = check_int("N", N, 1)
    shape = tuple(check_int(f"shape[{i}]", s, 0) for i, s in enumerate(check_sequence("shape", shape)))
    check_budget("memory of the points (prod(shape) * N doubles)", 8.0 * N * math.prod(shape), MAX_BYTES,
                 "nnlandscape._checks.MAX_BYTES", "bytes")
    g = rng.standard_normal(tuple(shape) + (N,))
    return g * (math.sqrt(N) / np.linalg.norm(g, axis=-1, keepdims=True))


#: Largest network index in a seed's family (spawning the streams costs time linear in it).
MAX_INDEX = 10**6


class MLPBatch:
    r"""``n_networks`` independent random MLPs with fixed weights, evaluated together.

    Parameters
    ----------
    activation : str or Activation
        Registry name (``shaped_relu`` gets ``depth`` as its shaping depth unless given in
        ``activation_params``).
    depth : int
        Number of hidden layers :math:`L \ge 1`.
    width : int
        Hidden width :math:`n \ge 1`.
    N : int
        Input dimension (inputs on :math:`|x|^2 = N`), :math:`N \ge 2`.
    n_networks : int
        Number of networks ``B``.
    sigma_w2, sigma_b2 : float
        Weight variance :math:`> 0`, bias variance :math:`\ge 0`.
    seed : int
        Network ``i`` uses ``np.random.SeedSequence(seed).spawn(first_index + n_networks)[first_index + i]``
        and draws :math:`W^1, b^1, W^2, b^2, \dots` (standard normal, then scaled), exactly as
        :func:`nnlandscape.random_nets.sample_network` with ``index=first_index + i``.
    first_index : int
        Index of the first network in the family of ``seed`` (default 0).
    **activation_params
        Passed to :func:`~nnlandscape.activations.get_activation`.

    Notes
    -----
    Memory: :math:`B\,(Nn + (L-1)n^2 + 2n)` doubles (8 MB per network and hidden
    :math:`n\times n` layer at :math:`n = 1024`). Cost of one evaluation at ``M`` inputs per
    network: :math:`O(B M (Nn + (L-1)n^2))`, batched ``matmul``.
    """

    def __init__(self, activation, depth, width, N, *, n_networks, sigma_w2=1.0, sigma_b2=0.0, seed=0,
                 first_index=0, **activation_params):
        depth = check_int("depth", depth, 1)
        width = check_int("width", width, 1)
        N = check_int("N", N, 1)
        first_index = check_int("first_index", first_index, 0, MAX_INDEX)
        n_networks = check_int("n_networks", n_networks, 1)
        sigma_w2 = check_real("sigma_w2", sigma_w2, 0.0, low_open=True)
        sigma_b2 = check_real("sigma_b2", sigma_b2, 0.0)
        if isinstance(activation, Activation):
            act = activation
        elif not isinstance(activation, str):
            raise TypeError(f"activation must be a registry name (str) or an Activation, got {type(activation).__name__}")
        else:
            if activation == "shaped_relu":
                activation_params.setdefault("depth", depth)
            act = get_activation(activation, **activation_params)
        self.activation, self.depth, self.width, self.N = act, depth, width, N
        self.n_networks, self.sigma_w2, self.sigma_b2, self.seed = n_networks, sigma_w2, sigma_b2, seed
        check_budget("memory of the weights (n_networks * (N n + (L-1) n^2 + 2n) doubles)",
                     8.0 * n_networks * (N * width + (depth - 1) * width * width + 2 * width), MAX_BYTES,
                     "nnlandscape._checks.MAX_BYTES", "bytes")
        sw, sb = math.sqrt(sigma_w2), math.sqrt(sigma_b2)
        shapes = [(N, width)] + [(width, width)] * (depth - 1) + [(width, 1)]
        W = [np.empty((n_networks,) + s) for s in shapes]
        b = [np.empty((n_networks, 1, s[1])) for s in shapes]
        streams = np.random.SeedSequence(check_seed("seed", seed)).spawn(first_index + n_networks)[first_index:]
        for i, ss in enumerate(streams):
            rng = np.random.default_rng(ss)
            for l, s in enumerate(shapes):  # same order as random_nets.sample_network
                W[l][i] = rng.standard_normal(s) * (sw / math.sqrt(s[0]))
                b[l][i, 0] = rng.standard_normal(s[1]) * sb
        self._W, self._b = W, b

    @property
    def flops_per_point(self):
        """Multiply-adds of one forward pass of every network at one input each (for cost estimates)."""
        return 2.0 * self.n_networks * (self.N * self.width + (self.depth - 1) * self.width**2 + self.width)

    def __repr__(self):
        return (f"MLPBatch({self.activation.name!r}, depth={self.depth}, width={self.width}, N={self.N}, "
                f"n_networks={self.n_networks}, sigma_w2={self.sigma_w2:g}, sigma_b2={self.sigma_b2:g})")

    def _check_X(self, X):
        X = check_finite_array("X", X)
        if X.ndim != 3 or X.shape[0] != self.n_networks or X.shape[2] != self.N:
            raise ValueError(f"X must have shape (n_networks={self.n_networks}, M, N={self.N}); got {X.shape}")
        return X

    @property
    def weights(self):
        r"""The effective weights :math:`\sigma_w W^{l}/\sqrt{n_{l-1}}`, each of shape ``(B, n_in, n_out)``."""
        return self._W

    @property
    def biases(self):
        r"""The effective biases :math:`\sigma_b b^{l}`, each of shape ``(B, 1, n_out)``."""
        return self._b

    def __call__(self, X):
        r""":math:`f_b(x_{bm})` for ``X`` of shape ``(B, M, N)``: array ``(B, M)``."""
        return self._forward(self._check_X(X), keep=False)[0]

    def hidden(self, X):
        r""":math:`\phi(h^L(x_{bm}))` for ``X`` of shape ``(B, M, N)``: array ``(B, M, n)``."""
        return self.activation.f(self._pre_activations(self._check_X(X), keep=False)[-1])

    def _pre_activations(self, X, keep):
        act = self.activation
        h = X @ self._W[0] + self._b[0]
        hs = [h]
        for W, b in zip(self._W[1:-1], self._b[1:-1]):
            h = act.f(h) @ W + b
            hs = hs + [h] if keep else [h]
        return hs

    def _forward(self, X, keep):
        hs = self._pre_activations(X, keep)
        out = (self.activation.f(hs[-1]) @ self._W[-1] + self._b[-1])[..., 0]
        return out, hs

    def value_and_grad(self, X):
        r"""``(f, grad)``: :math:`f_b(x_{bm})` of shape ``(B, M)`` and :math:`\nabla_x f_b(x_{bm})` of shape ``(B, M, N)``."""
        X = self._check_X(X)
        f, hs = self._forward(X, keep=True)
        act = self.activation
        g = np.swapaxes(self._W[-1], 1, 2) * act.d1(hs[-1])  # (B, M, n)
        for l in range(len(hs) - 1, 0, -1):
            g = (g @ np.swapaxes(self._W[l], 1, 2)) * act.d1(hs[l - 1])
        return f, g @ np.swapaxes(self._W[0], 1, 2)

    def sphere_mean(self, n_points=4096, seed=0):
        r"""Monte Carlo estimate of :math:`\bar f_b = \int f_b\,d\sigma` and its standard error, per network.

        Antithetic pairs :math:`(x, -x)` of uniform points (the odd part of :math:`f`
        averages out exactly in each pair): ``n_points`` evaluations per network. Returns
        ``(mean, stderr)``, arrays of shape ``(B,)``.
        """
        n_points = check_int("n_points", n_points, 4)
        check_budget("work of the estimate (n_points * evaluations of every network)",
                     2.0 * n_points * self.flops_per_point, MAX_FLOPS, "nnlandscape._checks.MAX_FLOPS", "flops")
        rng = np.random.default_rng(check_seed("seed", seed))
        half = n_points // 2
        # running mean and sum of squared deviations, chunks merged by Chan et al.'s (1979) update:
        # no cancellation between sum(v^2)/n and mean^2 (exact zero variance stays ~0, not ~1e-9)
        mean, m2 = np.zeros(self.n_networks), np.zeros(self.n_networks)
        chunk = max(1, min(half, 2**22 // (self.width * self.n_networks)))
        done = 0
        while done < half:
            m = min(chunk, half - done)
            U = uniform_sphere((self.n_networks, m), self.N, rng)
            v = 0.5 * (self(U) + self(-U))
            mc = v.mean(axis=1)
            m2c = np.square(v - mc[:, None]).sum(axis=1)
            delta = mc - mean
            tot = done + m
            mean = mean + delta * (m / tot)
            m2 = m2 + m2c + delta * delta * (done * m / tot)
            done = tot
        count = half
        var = m2 / max(count - 1, 1)
        return mean, np.sqrt(var / count)
