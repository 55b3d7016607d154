r"""Function-preserving symmetries of an MLP, as maps on batches of parameter vectors.

Two families of maps :math:`\theta \mapsto \theta'` leave the network function
:math:`f(\cdot;\theta)` unchanged (see e.g. Dinh et al. 2017, "Sharp minima can
generalize for deep nets", and Entezari et al. 2022 for permutations):

* **node permutations** of a hidden layer :math:`\ell` by :math:`\pi`:
  :math:`W_\ell \to P_\pi W_\ell`, :math:`b_\ell \to P_\pi b_\ell`,
  :math:`W_{\ell+1} \to W_{\ell+1} P_\pi^\top` (any activation);
* **positive per-node rescaling** of a hidden layer by :math:`c \in (0,\infty)^{n_\ell}`:
  :math:`W_\ell \to \mathrm{diag}(c) W_\ell`, :math:`b_\ell \to c \odot b_\ell`,
  :math:`W_{\ell+1} \to W_{\ell+1}\mathrm{diag}(c)^{-1}`, valid when
  :math:`\phi(c h) = c\,\phi(h)` for :math:`c > 0`, i.e. for the piecewise-linear
  activations (``relu``, ``leaky_relu``, ``shaped_relu``, ``linear``).

:func:`canonicalize` removes both: it first applies the **minimal-norm rescaling**
(:func:`balance`), the unique (for nets without dead nodes) rescaling minimising
:math:`\lVert\theta\rVert^2`, then sorts the nodes of each hidden layer, from
the first layer to the last, lexicographically by their incoming weights
:math:`(W_\ell[j,0], W_\ell[j,1], \dots, b_\ell[j])`. Each step is one of the two
maps above, so the network function is unchanged by construction (up to the
rounding of one multiplication per weight).
"""
from __future__ import annotations

import numpy as np

from ._checks import check_finite_array, check_instance, check_int, check_real
from .nets import MLP

__all__ = ["rescale_nodes", "permute_nodes", "balance", "canonicalize", "node_norms"]


def _hidden(net: MLP, layer):
    check_instance("net", net, MLP)
    L = len(net.sizes) - 2
    if L < 1:
        raise ValueError("the network has no hidden layer")
    layer = check_int("layer", layer, 1, L)
    if layer in net.fixed or layer + 1 in net.fixed:
        raise ValueError(f"layer={layer}: layers {layer} and {layer + 1} must both be trainable")
    return layer


def _batch(net, theta):
    check_instance("net", net, MLP)
    th, single = net._theta(theta)
    return np.array(th, dtype=float if th.dtype not in (np.float32, np.float64) else th.dtype), single


def _per_node(name, values, M, w):
    v = check_finite_array(name, values)
    if v.shape == (w,):
        v = np.broadcast_to(v, (M, w))
    if v.shape != (M, w):
        raise ValueError(f"{name} must have shape ({w},) or ({M}, {w}), got {v.shape}")
    return v


def rescale_nodes(net: MLP, theta, layer: int, scales):
    r"""Rescale the nodes of hidden layer ``layer`` (1-based) by positive ``scales`` (shape (n,) or (M, n)).

    Implements :math:`W_\ell \to \mathrm{diag}(c)W_\ell,\ b_\ell \to c\odot b_\ell,\
    W_{\ell+1}\to W_{\ell+1}\mathrm{diag}(c)^{-1}`; needs a positively homogeneous activation.
    Returns a new array of the shape of ``theta``.
    """
    layer = _hidden(net, layer)
    if net.activations[layer - 1].slopes is None:
        raise ValueError(
            f"rescaling needs a positively homogeneous activation (piecewise linear); layer {layer} "
            f"uses {net.activations[layer - 1].name!r}"
        )
    th, single = _batch(net, theta)
    M, w = th.shape[0], net.sizes[layer]
    c = _per_node("scales", scales, M, w)
    if not np.all(c > 0):
        raise ValueError("scales must be > 0 (negative factors do not commute with the activation)")
    _apply_scales(net, th, layer, c)
    return th[0] if single else th


def _apply_scales(net, th, layer, c):
    Ws, bs = net.unpack(th)
    Ws[layer - 1] *= c[:, :, None]
    if net.bias[layer - 1]:
        bs[layer - 1] *= c
    Ws[layer] /= c[:, None, :]


def permute_nodes(net: MLP, theta, layer: int, perm):
    r"""Permute the nodes of hidden layer ``layer``: node ``j`` of the result is node ``perm[j]``.

    ``perm`` has shape (n,) or (M, n). Implements :math:`W_\ell\to P_\pi W_\ell`,
    :math:`b_\ell \to P_\pi b_\ell`, :math:`W_{\ell+1}\to W_{\ell+1}P_\pi^\top`.
    """
    layer = _hidden(net, layer)
    th, single = _batch(net, theta)
    M, w = th.shape[0], net.sizes[layer]
    p = np.asarray(perm)
    if p.shape == (w,):
        p = np.broadcast_to(p, (M, w))
    if p.shape != (M, w) or not np.issubdtype(p.dtype, np.integer) or not np.all(np.sort(p, -1) == np.arange(w)):
        raise ValueError(f"perm must be a permutation of range({w}) (shape ({w},) or ({M}, {w})), got {np.asarray(perm)!r}")
    _apply_perm(net, th, layer, p)
    return th[0] if single else th


def _apply_perm(net, th, layer, p):
    Ws, bs = net.unpack(th)
    Ws[layer - 1][...] = np.take_along_axis(Ws[layer - 1], p[:, :, None], axis=1)
    if net.bias[layer - 1]:
        bs[layer - 1][...] = np.take_along_axis(bs[layer - 1], p, axis=1)
    Ws[layer][...] = np.take_along_axis(Ws[layer], p[:, None, :], axis=2)


def node_norms(net: MLP, theta, layer: int):
    r"""Squared incoming and outgoing norms of the nodes of hidden layer ``layer``, each (M, n).

    :math:`a_j = \lVert W_\ell[j,:]\rVert^2 + b_\ell[j]^2` and :math:`c_j = \lVert W_{\ell+1}[:,j]\rVert^2`.
    """
    layer = _hidden(net, layer)
    th, single = _batch(net, theta)
    a, c = _norms(net, th, layer)
    return (a[0], c[0]) if single else (a, c)


def _norms(net, th, layer):
    Ws, bs = net.unpack(th)
    a = np.square(Ws[layer - 1]).sum(-1)
    if net.bias[layer - 1]:
        a = a + np.square(bs[layer - 1])
    c = np.square(Ws[layer]).sum(-2)
    return a, c


def balance(net: MLP, theta, *, tol: float = 1e-14, max_sweeps: int = 100_000):
    r"""The minimal-norm positive rescaling of every hidden node (function unchanged).

    Minimises :math:`\lVert\theta'\rVert^2` over all node rescalings, a convex problem in the log
    scales :math:`u` (:math:`\lVert\theta'\rVert^2 = \sum W^2 e^{2(u_{\rm out}-u_{\rm in})} + \sum b^2
    e^{2u}`), by exact block-coordinate descent: within a layer the nodes decouple and node
    :math:`j` is optimally rescaled by :math:`c_j = (\mathrm{out}_j/\mathrm{in}_j)^{1/4}`, after which
    its squared incoming norm (weights and bias) equals its squared outgoing norm. Sweeps over
    the layers repeat until :math:`\max|\log c| <` ``tol``. Nodes with zero incoming or outgoing
    weights (dead nodes; the infimum is then not attained) are left as they are.
    """
    check_instance("net", net, MLP)
    tol = check_real("tol", tol, 0.0, low_open=True)
    max_sweeps = check_int("max_sweeps", max_sweeps, 1)
    L = len(net.sizes) - 2
    for l in range(1, L + 1):
        _hidden(net, l)
        if net.activations[l - 1].slopes is None:
            raise ValueError(f"balance needs piecewise-linear activations; layer {l} uses {net.activations[l - 1].name!r}")
    th, single = _batch(net, theta)
    for _ in range(max_sweeps):
        worst = 0.0
        for l in range(1, L + 1):
            a, c = _norms(net, th, l)
            ok = (a > 0) & (c > 0)
            s = np.ones_like(a)
            s[ok] = np.sqrt(np.sqrt(c[ok] / a[ok]))
            worst = max(worst, float(np.abs(np.log(s)).max(initial=0.0)))
            _apply_scales(net, th, l, s)
        if worst < tol:
            break
    return th[0] if single else th


def canonicalize(net: MLP, theta, *, rescale: bool | None = None):
    r"""De-symmetrised representative of :math:`\theta`: :func:`balance`, then a canonical node order.

    Nodes of hidden layer :math:`\ell = 1, \dots, L` (in this order, so that the columns of
    :math:`W_\ell` are already canonical) are sorted by their incoming weights
    :math:`(W_\ell[j,0], W_\ell[j,1], \dots, b_\ell[j])`, lexicographically. The rescaling is
    applied when every hidden activation is piecewise linear (``rescale=None``), or as requested.
    Two parameter vectors related by any composition of node permutations and positive
    rescalings have the same canonical form (up to rounding), and the network function of the
    result equals that of ``theta``.
    """
    check_instance("net", net, MLP)
    if rescale is not None and not isinstance(rescale, (bool, np.bool_)):
        raise TypeError(f"rescale must be True, False or None, got {rescale!r}")
    L = len(net.sizes) - 2
    if rescale is None:
        rescale = all(a.slopes is not None for a in net.activations)
    th, single = _batch(net, theta)
    if rescale:
        th = balance(net, th)
    for l in range(1, L + 1):
        _hidden(net, l)
        Ws, bs = net.unpack(th)
        keys = [bs[l - 1]] if net.bias[l - 1] else []
        keys += [Ws[l - 1][..., k] for k in range(Ws[l - 1].shape[-1] - 1, -1, -1)]
        order = np.lexsort(np.stack(keys), axis=-1)  # last key is the primary one
        _apply_perm(net, th, l, order)
    return th[0] if single else th
