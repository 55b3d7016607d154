r"""The hand-built 5x5 ReLU network :math:`W_f` of Gamst & Walker (2017): sawtooth plus spline.

Gamst & Walker build (but do not publish) a network with one input, five hidden ReLU
layers of five nodes and a linear output (:math:`P = 136` parameters) whose output
:math:`f` is a high-frequency sawtooth plus a low-frequency linear spline; networks of
the same architecture trained on :math:`f` never find it. This module builds one such
:math:`W_f` on the domain :math:`x \in [0, 1]` and, independently of the network, the
piecewise-linear :math:`f` it computes.

Construction (node order in every hidden layer: two sawtooth nodes, then three spline
nodes; :math:`\delta` = :data:`CARRY_OFFSET` keeps every carrier strictly active).

*Sawtooth* (nodes 0, 1). The tent map :math:`T(t) = 2t` on :math:`[0,\tfrac12]`,
:math:`2 - 2t` on :math:`[\tfrac12, 1]` equals :math:`2\,\mathrm{relu}(t+\delta) -
4\,\mathrm{relu}(t-\tfrac12) - 2\delta` on :math:`[0,1]`. A *tent layer* :math:`l` has
:math:`u_l = \mathrm{relu}(t_{l-1} + \delta)`, :math:`v_l = \mathrm{relu}(t_{l-1} - \tfrac12)`
with :math:`t_0 = x`, :math:`t_l = 2u_l - 4v_l - 2\delta = T(t_{l-1})`; after ``k`` tent
layers :math:`t_k = T^k(x)`, the triangle wave with :math:`2^{k-1}` teeth and kinks at
:math:`j/2^k`, :math:`j = 1..2^k-1` (each tent layer doubles the teeth). Layers after the
last tent layer carry :math:`u_l = \mathrm{relu}(t_{l-1} + \delta) = t_{l-1} + \delta`
(and :math:`v_l = 0`). The output adds :math:`A\,t_5`. Two nodes per layer suffice for
a tent in *every* hidden layer, so up to :data:`MAX_TENT_LAYERS` = 5 tent layers fit.

*Spline* (nodes 2, 3, 4). Write the spline through :math:`(x_i, y_i)`,
:math:`0 = x_0 < \dots < x_{m+1} = 1`, as
:math:`g(x) = y_0 + s_0 x + \sum_{j=1}^m a_j\,\mathrm{relu}(x - c_j)` (:math:`c_j = x_j`,
:math:`s_0` the first slope, :math:`a_j` the slope changes). Layer 1 holds the carrier
:math:`p_1 = \mathrm{relu}(x + \delta)` (carried on only as far as later knot nodes
need it) and knot nodes :math:`\mathrm{relu}(x - c_1)`,
:math:`\mathrm{relu}(x - c_2)`. Layers 2--4 hold the carrier :math:`p_l`, a running sum
:math:`S_l = \mathrm{relu}(G_l(x) + \beta_l)` and one new knot node
:math:`\mathrm{relu}(p_{l-1} - \delta - c_{l+1})`, where :math:`G_l` is the partial sum of
the terms already built and :math:`\beta_l = \delta - \min_{[0,1]} G_l` keeps
:math:`S_l \ge \delta`; layer 5 holds two knot nodes and :math:`S_5`. The output adds
:math:`S_5 - \beta_5 + y_0` and the last two knot terms. This gives up to
:data:`MAX_SPLINE_KNOTS` = 7 interior spline knots; unused slots are dead nodes
(all-zero weights), like the non-bold lines in the paper's Figure 1.

Hence :math:`f = A\,T^k(x) + g(x)` exactly on :math:`[0,1]`, with
:math:`(2^k - 1) + m` knots when no spline knot is a dyadic :math:`j/2^k` (and
:math:`A \ne 0`).

Packing convention (shared with :mod:`nnlandscape.nets`): :math:`\theta` is the
concatenation over layers :math:`l = 1..6` of ``[W_l.ravel(), b_l]`` with ``W_l`` of shape
(out, in) in row-major order; the layer map is :math:`h = W a + b`, ReLU on hidden layers,
linear output.

Reference: A. Gamst, A. Walker, *The energy landscape of a simple neural network*,
arXiv:1706.07101 (2017).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._checks import check_finite_array, check_int, check_real, check_real_array, check_sequence

__all__ = [
    "SIZES",
    "DOMAIN",
    "MAX_TENT_LAYERS",
    "MAX_SPLINE_KNOTS",
    "CARRY_OFFSET",
    "SawtoothNetwork",
    "build_network",
    "default_spline",
    "tent_power",
    "pack_parameters",
    "unpack_parameters",
    "relu_forward",
]

SIZES = (1, 5, 5, 5, 5, 5, 1)
DOMAIN = (0.0, 1.0)
MAX_TENT_LAYERS = 5
MAX_TENT_POWER = 40
MAX_SPLINE_KNOTS = 7
CARRY_OFFSET = 0.5
_SLOT_LAYER = (1, 1, 2, 3, 4, 5, 5)  # hidden layer that holds spline knot slot j
_SLOT_NODE = (3, 4, 4, 4, 4, 2, 4)  # node index of that knot node


# --------------------------------------------------------------------------- helpers
def pack_parameters(weights, biases) -> np.ndarray:
    """Concatenate ``[W_1.ravel(), b_1, ..., W_L.ravel(), b_L]`` (W_l of shape (out, in), row-major)."""
    weights, biases = check_sequence("weights", weights), check_sequence("biases", biases)
    if len(weights) != len(biases):
        raise ValueError(f"weights and biases must have the same length, got {len(weights)} and {len(biases)}")
    parts = []
    for i, (w, b) in enumerate(zip(weights, biases)):
        w, b = check_finite_array(f"weights[{i}]", w), check_finite_array(f"biases[{i}]", b)
        if w.ndim != 2 or b.shape != (w.shape[0],):
            raise ValueError(f"layer {i + 1}: weights must be (out, in) and biases (out,), got {w.shape}, {b.shape}")
        parts += [w.ravel(), b]
    return np.concatenate(parts)


def unpack_parameters(theta, sizes=SIZES):
    """Inverse of :func:`pack_parameters` for layer widths ``sizes``; returns ``(weights, biases)``."""
    theta = check_finite_array("theta", theta).ravel()
    sizes = tuple(check_int("sizes", s, 1) for s in check_sequence("sizes", sizes))
    if len(sizes) < 2:
        raise ValueError("sizes must list at least an input and an output width")
    n = sum(o * i + o for i, o in zip(sizes[:-1], sizes[1:]))
    if theta.size != n:
        raise ValueError(f"theta has {theta.size} entries but sizes={sizes} needs {n}")
    weights, biases, k = [], [], 0
    for i, o in zip(sizes[:-1], sizes[1:]):
        weights.append(theta[k:k + o * i].reshape(o, i))
        k += o * i
        biases.append(theta[k:k + o].copy())
        k += o
    return weights, biases


def relu_forward(weights, biases, x) -> np.ndarray:
    r"""Output of the ReLU MLP: :math:`a_0 = x`, :math:`a_l = \mathrm{relu}(W_l a_{l-1} + b_l)`, linear last layer.

    ``x`` of shape (n,) or (n, 1); returns shape (n,) for one output unit, else (n, out).
    """
    weights, biases = check_sequence("weights", weights), check_sequence("biases", biases, len(weights))
    a = check_finite_array("x", x)
    a = a.reshape(-1, 1) if a.ndim <= 1 else a
    for layer, (w, b) in enumerate(zip(weights, biases)):
        w, b = check_finite_array(f"weights[{layer}]", w), check_finite_array(f"biases[{layer}]", b)
        if w.ndim != 2 or b.shape != (w.shape[0],) or w.shape[1] != a.shape[1]:
            raise ValueError(f"weights[{layer}] {w.shape} and biases[{layer}] {b.shape} do not fit the "
                             f"layer input of width {a.shape[1]}: need (out, in) and (out,)")
        a = a @ w.T + b
        if layer < len(weights) - 1:
            a = np.maximum(a, 0.0)
    return a[:, 0] if a.shape[1] == 1 else a


def tent_power(x, k) -> np.ndarray:
    r"""The ``k``-fold tent map :math:`T^k(x) = 1 - |(2^k x \bmod 2) - 1|` on :math:`[0, 1]` (``k = 0``: :math:`x`).

    Closed form, independent of any network: exact at dyadic points (every float is one:
    the formula computes :math:`T^k` of the binary value of ``x`` without rounding). Since
    :math:`T^k` stretches by :math:`2^k`, the rounding of a float input (up to
    :math:`2^{-53}`) moves the result by up to :math:`2^{k-53}`; ``k`` is therefore limited to
    ``MAX_TENT_POWER`` = 40 (an uncertainty below :math:`1.2\times10^{-4}`), beyond which the
    result would say nothing about the real number the float stands for (``tent_power(1/3, 56)``
    would be 0, not :math:`T^{56}(1/3) = 2/3`).
    """
    k = check_int("k", k, 0, MAX_TENT_POWER)
    x = check_real_array("x", x)
    if k == 0:
        return x.copy()
    y = np.mod(2.0**k * x, 2.0)  # exact for x >= 0 (a power of two times a float, then fmod)
    return np.where(y <= 1.0, y, 2.0 - y)  # = 1 - |y - 1|, exactly (2 - y is exact on [1, 2])


def default_spline(n_knots=3, amplitude=1.0):
    r"""A low-frequency spline with ``n_knots`` interior knots: :math:`y = A\sin(2\pi x) + x/2` at the knots.

    Knots :math:`c_j = j/(m+1) + 1/192`, ``j = 1..m``: the shift keeps them off every
    dyadic :math:`i/32` (a tent kink for up to 5 tent layers), so no spline knot merges
    with a sawtooth knot. Returns ``(xs, ys)`` including the domain ends 0 and 1.
    """
    n_knots = check_int("n_knots", n_knots, 0, MAX_SPLINE_KNOTS)
    amplitude = check_real("amplitude", amplitude)
    inner = np.arange(1, n_knots + 1) / (n_knots + 1) + 1.0 / 192.0
    xs = np.concatenate([[0.0], inner, [1.0]])
    return xs, amplitude * np.sin(2 * np.pi * xs) + 0.5 * xs


def _check_spline(spline):
    try:
        xs, ys = spline
    except (TypeError, ValueError):
        raise ValueError("spline must be a pair (xs, ys) of knot positions and values") from None
    xs = check_finite_array("spline", xs).ravel()
    ys = check_finite_array("spline", ys).ravel()
    if xs.shape != ys.shape or xs.size < 2:
        raise ValueError(f"spline xs and ys must have the same length >= 2, got {xs.size} and {ys.size}")
    if xs[0] != DOMAIN[0] or xs[-1] != DOMAIN[1] or np.any(np.diff(xs) <= 0):
        raise ValueError("spline xs must increase strictly from 0 to 1 (the domain ends included)")
    if xs.size - 2 > MAX_SPLINE_KNOTS:
        raise ValueError(
            f"spline has {xs.size - 2} interior knots; allowed: at most {MAX_SPLINE_KNOTS} with 3 nodes per layer"
        )
    return xs, ys


# --------------------------------------------------------------------------- the network
@dataclass(frozen=True)
class SawtoothNetwork:
    r"""The constructed :math:`W_f` and the function it computes.

    Attributes
    ----------
    weights, biases : lists of 6 arrays, ``W_l`` of shape (out, in), ``b_l`` of shape (out,).
    amplitude : :math:`A`.  n_tent_layers : :math:`k`.  spline : ``(xs, ys)`` of :math:`g`.
    breakpoints : 0, every knot, 1 (sorted).  values : :math:`f` at the breakpoints.
    knots : interior x where :math:`f` has a kink (its slope changes), sorted.
    roles : ``roles[l][i]``, a short description of hidden node ``i`` of layer ``l+1``.
    """

    weights: list = field(repr=False)
    biases: list = field(repr=False)
    amplitude: float
    n_tent_layers: int
    spline: tuple = field(repr=False)
    breakpoints: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)
    knots: np.ndarray = field(repr=False)
    roles: tuple = field(repr=False)

    sizes = SIZES
    domain = DOMAIN

    @property
    def theta(self) -> np.ndarray:
        """Packed parameters (136,), see :func:`pack_parameters`."""
        return pack_parameters(self.weights, self.biases)

    @property
    def n_params(self) -> int:
        return int(self.theta.size)

    def _x(self, x):
        x = check_finite_array("x", x)
        if np.any(x < DOMAIN[0]) or np.any(x > DOMAIN[1]):
            raise ValueError(f"x must lie in the domain [{DOMAIN[0]:g}, {DOMAIN[1]:g}]")
        return x

    def f(self, x) -> np.ndarray:
        """The target :math:`f(x)`, piecewise linear through ``(breakpoints, values)`` (``np.interp``)."""
        return np.interp(self._x(x), self.breakpoints, self.values)

    __call__ = f

    def low_frequency(self, x) -> np.ndarray:
        """The spline part :math:`g(x)` alone."""
        xs, ys = self.spline
        return np.interp(self._x(x), xs, ys)

    def sawtooth(self, x) -> np.ndarray:
        r"""The high-frequency part :math:`A\,T^k(x)` (zero when ``n_tent_layers == 0``)."""
        x = self._x(x)
        if self.n_tent_layers == 0:
            return np.zeros_like(x)
        return self.amplitude * tent_power(x, self.n_tent_layers)

    def forward(self, x) -> np.ndarray:
        """The network's output at ``x`` (shape (n,) or (n, 1)), computed layer by layer."""
        return relu_forward(self.weights, self.biases, self._x(x))

    def training_set(self, points_between=9):
        r"""The paper's training data: :math:`f` at 0, every knot and 1, plus ``points_between``
        equally spaced points inside each of the ``len(knots) + 1`` pieces.

        The loss convention used throughout the chapter is the *mean* squared error over
        these ``n = (len(knots) + 1)(points_between + 1) + 1`` points.
        Returns ``(X (n, 1), y (n,))``.
        """
        p = check_int("points_between", points_between, 0)
        b = np.concatenate([[DOMAIN[0]], self.knots, [DOMAIN[1]]])
        t = np.arange(p + 1) / (p + 1)
        x = np.concatenate([(b[:-1, None] + np.diff(b)[:, None] * t).ravel(), [b[-1]]])  # t=0: knots exactly
        return x[:, None], self.f(x)

    def low_frequency_floor(self, points_between=9) -> float:
        r"""Training MSE of the best "spline + constant" fit :math:`g + c`: :math:`\mathrm{Var}(f - g)` on the training set."""
        X, y = self.training_set(points_between)
        r = y - self.low_frequency(X[:, 0])
        return float(np.mean((r - r.mean()) ** 2))

    def diagram(self) -> dict:
        """Nodes and nonzero edges for a network diagram (no plotting here).

        Returns ``{"nodes": [...], "edges": [...]}``; a node is
        ``{"layer", "index", "x", "y", "role", "bias", "group"}`` (layer 0 input, 6 output;
        group ``"sawtooth"``, ``"spline"``, ``"dead"``, ``"input"`` or ``"output"``), an edge
        ``{"source": (layer, index), "target": (layer, index), "weight"}``.
        """
        nodes = [{"layer": 0, "index": 0, "x": 0.0, "y": 0.0, "role": "input x", "bias": 0.0, "group": "input"}]
        for l, (b, roles) in enumerate(zip(self.biases[:-1], self.roles), start=1):
            for i, role in enumerate(roles):
                group = "dead" if role == "dead" else ("sawtooth" if i < 2 else "spline")
                nodes.append({"layer": l, "index": i, "x": float(l), "y": 2.0 - i, "role": role,
                              "bias": float(b[i]), "group": group})
        nodes.append({"layer": 6, "index": 0, "x": 6.0, "y": 0.0, "role": "output f(x)",
                      "bias": float(self.biases[-1][0]), "group": "output"})
        edges = []
        for l, w in enumerate(self.weights, start=1):
            for i, j in zip(*np.nonzero(w)):
                edges.append({"source": (l - 1, int(j)), "target": (l, int(i)), "weight": float(w[i, j])})
        return {"nodes": nodes, "edges": edges}


def build_network(amplitude=0.5, n_tent_layers=4, spline=None, *, sizes=SIZES) -> SawtoothNetwork:
    r"""Build :math:`W_f` computing :math:`f(x) = A\,T^k(x) + g(x)` on :math:`[0, 1]` (see the module docstring).

    Parameters
    ----------
    amplitude : float
        Sawtooth amplitude :math:`A` (teeth go from 0 to :math:`A`).
    n_tent_layers : int in [0, 5]
        Number of tent maps composed, :math:`k`: :math:`2^{k-1}` teeth, :math:`2^k - 1` kinks.
    spline : (xs, ys), optional
        The low-frequency spline :math:`g` through :math:`(x_i, y_i)`, ``xs`` increasing from
        0 to 1 with at most 7 interior knots. Default :func:`default_spline` ``(3)``.
    sizes : must be ``(1, 5, 5, 5, 5, 5, 1)``; the construction is specific to the 5x5 net.

    Returns
    -------
    SawtoothNetwork
    """
    try:
        ok = tuple(int(s) for s in sizes) == SIZES and all(float(s).is_integer() for s in sizes)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"sizes={sizes!r} is not allowed; W_f is built only for the 5x5 architecture sizes={SIZES}")
    A = check_real("amplitude", amplitude)
    k = check_int("n_tent_layers", n_tent_layers, 0, MAX_TENT_LAYERS)
    xs, ys = _check_spline(default_spline(3) if spline is None else spline)
    d = CARRY_OFFSET
    W = [np.zeros((o, i)) for i, o in zip(SIZES[:-1], SIZES[1:])]
    B = [np.zeros(o) for o in SIZES[1:]]
    roles = [["dead"] * 5 for _ in range(5)]

    # ---- sawtooth: nodes 0 (u) and 1 (v); t_{l-1} as (coefficients on previous layer, constant)
    # W[l] maps layer l (0 = input) to layer l+1.
    if k > 0:
        for l in range(5):  # hidden layer l+1
            if l == 0:
                t_w, t_c = {0: 1.0}, 0.0  # t_0 = x
            elif l <= k:  # previous layer was a tent layer: t = 2u - 4v - 2d
                t_w, t_c = {0: 2.0, 1: -4.0}, -2 * d
            else:  # previous layer was a carrier: t = u - d
                t_w, t_c = {0: 1.0}, -d
            for j, c in t_w.items():
                W[l][0, j] = c
            B[l][0] = t_c + d
            if l < k:
                for j, c in t_w.items():
                    W[l][1, j] = c
                B[l][1] = t_c - 0.5
                roles[l][0], roles[l][1] = f"tent {l + 1}: relu(t+δ)", f"tent {l + 1}: relu(t-1/2)"
            else:
                roles[l][0] = "carry sawtooth"
        if k == 5:
            W[5][0, 0], W[5][0, 1], B[5][0] = 2 * A, -4 * A, -2 * d * A
        else:
            W[5][0, 0], B[5][0] = A, -d * A

    # ---- spline: g(x) = y0 + s0 x + sum_j a_j relu(x - c_j)
    slopes = np.diff(ys) / np.diff(xs)
    s0, a = slopes[0], np.diff(slopes)
    c = xs[1:-1]
    m = c.size
    in_layer = {L: [j for j in range(m) if _SLOT_LAYER[j] == L] for L in range(1, 6)}

    def gmin(coef_lin, js):  # min over [0,1] of s0-part + sum_{j in js} a_j relu(x - c_j)
        grid = np.concatenate([[0.0, 1.0], c])
        vals = coef_lin * grid + sum((a[j] * np.maximum(grid - c[j], 0.0) for j in js), np.zeros_like(grid))
        return float(vals.min())

    # knot nodes and x carriers (node 2 is the carrier p_l in layers 1..4)
    for L in range(1, 6):
        for j in in_layer[L]:
            n = _SLOT_NODE[j]
            if L == 1:
                W[0][n, 0], B[0][n] = 1.0, -c[j]
            else:
                W[L - 1][n, 2], B[L - 1][n] = 1.0, -d - c[j]
            roles[L - 1][n] = f"knot relu(x-{c[j]:.3g})"
    for L in range(1, 5):  # p_L feeds S_2 (L = 1) and the knot nodes of later layers
        if L > 1 and not any(_SLOT_LAYER[j] > L for j in range(m)):
            continue
        if L == 1:
            W[0][2, 0], B[0][2] = 1.0, d
        else:
            W[L - 1][2, 2], B[L - 1][2] = 1.0, 0.0
        roles[L - 1][2] = "carry x+δ"
    # running sums S_L = relu(G_L(x) + beta_L), node 3 of layers 2..5, where G_L holds the
    # linear term and the knots built in layers 1..L-1, and beta_L = delta - min G_L
    built, beta_prev = [], 0.0
    for L in range(2, 6):
        built += in_layer[L - 1]
        beta = d - gmin(s0, built)
        w = W[L - 1]
        if L == 2:  # s0 * x = s0 * (p_1 - delta)
            w[3, 2], B[1][3] = s0, beta - s0 * d
        else:  # S_{L-1} - beta_{L-1} + beta_L
            w[3, 3], B[L - 1][3] = 1.0, beta - beta_prev
        for j in in_layer[L - 1]:
            w[3, _SLOT_NODE[j]] = a[j]
        roles[L - 1][3] = "spline running sum"
        beta_prev = beta
    W[5][0, 3] = 1.0
    B[5][0] += ys[0] - beta_prev
    for j in in_layer[5]:
        W[5][0, _SLOT_NODE[j]] = a[j]

    # ---- the exact target, independent of the weights
    tent_x = np.arange(1, 2**k) / 2.0**k if (k > 0 and A != 0) else np.empty(0)
    bp = np.union1d(np.union1d(tent_x, xs), [0.0, 1.0])
    saw = A * tent_power(bp, k) if k > 0 else np.zeros_like(bp)
    vals = saw + np.interp(bp, xs, ys)
    sl = np.diff(vals) / np.diff(bp)
    jump = np.abs(np.diff(sl))
    tol = 1e-9 * max(1.0, float(np.max(np.abs(sl))))
    knots = bp[1:-1][jump > tol]
    return SawtoothNetwork(
        weights=W, biases=B, amplitude=A, n_tent_layers=k, spline=(xs.copy(), ys.copy()),
        breakpoints=bp, values=vals, knots=knots, roles=tuple(tuple(r) for r in roles),
    )
