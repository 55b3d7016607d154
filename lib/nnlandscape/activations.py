r"""One registry of activation functions, each with its first two derivatives.

Every chapter refers to an activation by name; :func:`get_activation` turns
the name (plus its parameters, e.g. Swish's :math:`\beta`) into an
:class:`Activation` holding vectorised callables :math:`\phi, \phi', \phi''`.

Piecewise-linear activations (``relu``, ``leaky_relu``, ``shaped_relu``) are
written as :math:`\phi(x) = s_+ \max(x, 0) + s_- \min(x, 0)`; their slopes are
exposed as :attr:`Activation.slopes`. At the kink :math:`x = 0` we use the
right-continuous convention :math:`\phi'(0) = s_-` (for ReLU:
:math:`\phi'(0) = 0`) and :math:`\phi'' \equiv 0`: the Dirac mass of the true
second derivative is dropped, which is exact almost everywhere and is what
back-propagation uses. :attr:`Activation.smooth` is ``False`` for them.

>>> act = get_activation("swish", beta=2.0)
>>> float(act(0.0)), float(act.d1(0.0))
(0.0, 0.5)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import special

from ._checks import check_choice, check_real

__all__ = ["Activation", "get_activation", "ACTIVATIONS"]


@dataclass(frozen=True)
class Activation:
    r"""An activation :math:`\phi` with derivatives :math:`\phi'` and :math:`\phi''`.

    Attributes
    ----------
    name : registry name (``"relu"``, ``"swish"``, ...).
    params : the parameters it was built with (e.g. ``{"beta": 1.0}``).
    f, d1, d2 : vectorised callables :math:`\phi, \phi', \phi''` (numpy in, numpy out).
    smooth : ``True`` when :math:`\phi` is twice continuously differentiable.
    slopes : ``(s_+, s_-)`` for piecewise-linear activations, else ``None``.
    label : a short LaTeX-free label for figure legends.
    """

    name: str
    params: dict
    f: Callable = field(repr=False)
    d1: Callable = field(repr=False)
    d2: Callable = field(repr=False)
    smooth: bool = True
    slopes: tuple[float, float] | None = None
    label: str = ""

    def __call__(self, x):
        return self.f(x)

    def derivative(self, x, order: int = 1):
        """Return :math:`\\phi^{(order)}(x)` for ``order`` in 0, 1, 2."""
        order = check_choice("order", order, (0, 1, 2))
        return (self.f, self.d1, self.d2)[order](x)


def _piecewise_linear(name, s_pos, s_neg, params, label):
    s_pos, s_neg = float(s_pos), float(s_neg)

    def f(x):
        x = np.asarray(x)
        return np.where(x > 0, s_pos * x, s_neg * x)

    def d1(x):
        x = np.asarray(x)
        return np.where(x > 0, s_pos, s_neg).astype(np.result_type(x, np.float32))

    def d2(x):
        x = np.asarray(x)
        return np.zeros_like(x, dtype=np.result_type(x, np.float32))

    return Activation(name, params, f, d1, d2, smooth=(s_pos == s_neg), slopes=(s_pos, s_neg), label=label)


def _sigmoid(x):
    return special.expit(x)


def _linear(**_):
    return _piecewise_linear("linear", 1.0, 1.0, {}, "linear")


def _relu(**_):
    return _piecewise_linear("relu", 1.0, 0.0, {}, "ReLU")


def _leaky_relu(alpha=0.01):
    alpha = check_real("alpha", alpha, -1.0, 1.0)
    return _piecewise_linear("leaky_relu", 1.0, alpha, {"alpha": alpha}, f"leaky ReLU (α={alpha:g})")


def _shaped_relu(c=0.5, depth=1):
    r"""Shaped ReLU of depth ``L``: slopes :math:`s_\pm = 1 \pm c/\sqrt{L}`.

    As :math:`L \to \infty` at fixed :math:`c` it tends to the identity, and the
    depth-:math:`L` kernel converges to a depth-continuum ODE limit (the
    shaped-network limit of Li, Nica & Roy 2022).
    """
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ValueError(f"depth={depth!r} is out of range; allowed: integers >= 1")
    c = check_real("c", c)
    root = math.sqrt(depth)
    if abs(c) >= root:
        raise ValueError(
            f"c={c:g} flips the sign of a slope at depth={depth}; allowed: |c| < sqrt(depth) = {root:.4g}"
        )
    act = _piecewise_linear(
        "shaped_relu", 1.0 + c / root, 1.0 - c / root, {"c": c, "depth": int(depth)}, f"shaped ReLU (c={c:g})"
    )
    return act


def _tanh(**_):
    def d1(x):
        return 1.0 - np.tanh(x) ** 2

    def d2(x):
        t = np.tanh(x)
        return -2.0 * t * (1.0 - t**2)

    return Activation("tanh", {}, np.tanh, d1, d2, label="tanh")


def _sin(**_):
    return Activation("sin", {}, np.sin, np.cos, lambda x: -np.sin(x), label="sin")


def _erf(**_):
    c = 2.0 / math.sqrt(math.pi)

    def d1(x):
        return c * np.exp(-np.square(x))

    def d2(x):
        return -2.0 * np.asarray(x) * c * np.exp(-np.square(x))

    return Activation("erf", {}, special.erf, d1, d2, label="erf")


def _sigmoid_act(**_):
    def d1(x):
        s = _sigmoid(x)
        return s * (1.0 - s)

    def d2(x):
        s = _sigmoid(x)
        return s * (1.0 - s) * (1.0 - 2.0 * s)

    return Activation("sigmoid", {}, _sigmoid, d1, d2, label="sigmoid")


def _swish(beta=1.0):
    r""":math:`\phi(x) = x\,\sigma(\beta x)` (Swish / SiLU at :math:`\beta = 1`)."""
    beta = check_real("beta", beta, 0.0)

    def f(x):
        return np.asarray(x) * _sigmoid(beta * np.asarray(x))

    def d1(x):
        x = np.asarray(x)
        s = _sigmoid(beta * x)
        return s + beta * x * s * (1.0 - s)

    def d2(x):
        x = np.asarray(x)
        s = _sigmoid(beta * x)
        ds = s * (1.0 - s)
        return beta * ds * (2.0 + beta * x * (1.0 - 2.0 * s))

    return Activation("swish", {"beta": beta}, f, d1, d2, label=f"Swish (β={beta:g})")


def _silu(**_):
    r"""SiLU :math:`\phi(x) = x\,\sigma(x)`: Swish at :math:`\beta = 1`, under its own name."""
    sw = _swish(1.0)
    return Activation("silu", {}, sw.f, sw.d1, sw.d2, label="SiLU")


def _gelu(**_):
    r"""GELU :math:`\phi(x) = x\,\Phi(x)` (exact, with the normal CDF :math:`\Phi`).

    :math:`\phi' = \Phi(x) + x\varphi(x)`, :math:`\phi'' = (2 - x^2)\varphi(x)`.
    """
    def pdf(x):
        return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)

    def f(x):
        x = np.asarray(x)
        return x * special.ndtr(x)

    def d1(x):
        x = np.asarray(x)
        return special.ndtr(x) + x * pdf(x)

    def d2(x):
        x = np.asarray(x)
        return (2.0 - x * x) * pdf(x)

    return Activation("gelu", {}, f, d1, d2, label="GELU")


def _softplus(beta=1.0):
    r""":math:`\phi(x) = \log(1 + e^{\beta x})/\beta`."""
    beta = check_real("beta", beta, 0.0, low_open=True)

    def f(x):
        return np.logaddexp(0.0, beta * np.asarray(x)) / beta

    def d1(x):
        return _sigmoid(beta * np.asarray(x))

    def d2(x):
        s = _sigmoid(beta * np.asarray(x))
        return beta * s * (1.0 - s)

    return Activation("softplus", {"beta": beta}, f, d1, d2, label=f"softplus (β={beta:g})")


_REGISTRY: dict[str, Callable[..., Activation]] = {
    "linear": _linear,
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "shaped_relu": _shaped_relu,
    "tanh": _tanh,
    "sin": _sin,
    "erf": _erf,
    "sigmoid": _sigmoid_act,
    "swish": _swish,
    "silu": _silu,
    "gelu": _gelu,
    "softplus": _softplus,
}
_PARAMS = {
    "leaky_relu": ("alpha",),
    "shaped_relu": ("c", "depth"),
    "swish": ("beta",),
    "softplus": ("beta",),
}

#: Names accepted by :func:`get_activation`.
ACTIVATIONS: tuple[str, ...] = tuple(_REGISTRY)


def get_activation(name, **params) -> Activation:
    """Return the :class:`Activation` registered as ``name``.

    ``name`` may also be an :class:`Activation`, returned unchanged (``params`` must then be empty).
    Parameters: ``leaky_relu(alpha=0.01)``, ``shaped_relu(c=0.5, depth=1)``,
    ``swish(beta=1.0)``, ``softplus(beta=1.0)``; the others take none.
    """
    if isinstance(name, Activation):
        if params:
            raise ValueError("params must be empty when activation is already an Activation object")
        return name
    check_choice("activation", name, ACTIVATIONS)
    allowed = _PARAMS.get(name, ())
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(
            f"activation {name!r} takes parameters {list(allowed)}; got unknown {unknown}"
        )
    return _REGISTRY[name](**params)
