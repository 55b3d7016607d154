"""Fuzz the public API: every callable of every module's ``__all__`` gets invalid and extreme inputs.

For each public callable (functions, classes, public methods of a baseline instance, classmethods)
a *baseline* call with valid arguments is built from :data:`VALID` (by parameter name, with
per-callable overrides in :data:`OVERRIDES`). Then every parameter in turn is replaced by each value
of :data:`BAD` (NaN, +-inf, negative, zero, huge, wrong type and shape, empty, complex) and the
outcome is classified:

* ``clear``: ``ValueError``/``TypeError`` whose message names a parameter of the callable;
* ``ok``: a result with no NaN anywhere (the value was acceptable, e.g. 0 or None where allowed);
* ``unclear``: ``ValueError``/``TypeError`` that names no parameter;
* ``untyped``: any other exception (``IndexError``, ``ZeroDivisionError``, ``LinAlgError``, ...);
* ``nan``: a silent NaN in the result (unless documented, :data:`DOCUMENTED_NAN`);
* ``hang``: the call did not return within :data:`CALL_TIMEOUT` seconds.

The test fails on anything but ``clear``/``ok``. A callable the harness cannot call (a required
parameter it has no valid value for, a baseline that fails, or one that would not be safe to
call: :data:`NEVER_CALL`) is *skipped with its reason*, not failed, so modules that arrive later
are walked as far as the tables allow. ``python tests/test_fuzz.py`` prints the counts.
Deterministic (fixed values, no randomness), time-boxed per call (SIGALRM).
"""
from __future__ import annotations

import collections
import dataclasses
import importlib
import inspect
import math
import pkgutil
import re
import signal
import sys
import time
import warnings

import numpy as np
import pytest

import nnlandscape

CALL_TIMEOUT = 5.0  # seconds per call with a bad value (5x the baseline's time for slow callables)
BASELINE_TIMEOUT = 20.0  # seconds for the valid baseline call (a loaded machine is slow)
SLOW_BASELINE = 0.5  # baselines slower than this get only a few bad values per parameter

NAN = float("nan")
BAD = {
    "nan": NAN,
    "inf": math.inf,
    "-inf": -math.inf,
    "-1": -1,
    "0": 0,
    "huge_int": 10**12,
    "huge_float": 1e300,
    "str": "x",
    "bool": True,
    "None": None,
    "empty": [],
    "nan_array": np.array([[NAN, 1.0]]),
    "complex": 1j,
    "object": object(),
}
FEW_BAD = ("nan", "-1", "huge_int", "str", "nan_array")

# Callables never called: side effects outside the process or the file system (a book build),
# interactive front ends, and private plumbing exported for the build.
NEVER_CALL = {
    "nnlandscape.book.build": "runs a full book build (minutes, writes _build/)",
    "nnlandscape.display.use_book_renderer": "changes the global plotly renderer",
    "nnlandscape.explore.LiveExplorer": "needs a live Jupyter front end",
    "nnlandscape.scale.main": "command line: parses sys.argv, writes a results folder (tested in test_scale)",
    "nnlandscape.scale.run": "writes a results folder named by `out` and connects to schedulers named by `client` "
                             "(its bad input is tested in test_scale)",
    "nnlandscape.scale.register": "changes the global experiment registry (tested in test_scale)",
}
# Skip whole modules: sphinx extension entry points (called by Sphinx only).
SKIP_MODULES = {"sphinx_ext": "Sphinx extension entry points, called by Sphinx only"}

# (callable, attribute path) whose NaN is documented (e.g. "NaN when undefined").
DOCUMENTED_NAN = {
    ("nnlandscape.landscape.logistic_fit", "r50"),  # "r50 ... (NaN when undefined)"
    ("nnlandscape.landscape.basin_experiment", "loss"),  # diverged trials are NaN (documented)
    ("nnlandscape.landscape.basin_experiment", "fit.r50"),
    ("nnlandscape.sphere_mc.metropolis_sphere", "swap_acceptance"),  # "NaN without exchanges"
    ("nnlandscape.optim.train", "loss"),  # "inf/NaN for diverged models" (flagged in .diverged)
    ("nnlandscape.optim.train", "history"),
    ("nnlandscape.landscape.train_models", "loss"),
    ("nnlandscape.landscape.train_models", "history"),
}

# Modules whose bad-input outcomes are reported but not failed (none at present: the explorer layer
# and the progress bars were brought to this standard). Add an entry only for a module in rewrite.
LENIENT_MODULES: dict[str, str] = {}

# Callables of the modules merged later whose bad-input handling is not yet at this standard
# (found by this walk; reported by ``python tests/test_fuzz.py``, not failed). Keys are qualified
# names or prefixes ending in "."; remove an entry once its callable is fixed.
PENDING = {
}


def _lenient(qualname):
    if any(qualname.startswith(m + ".") for m in LENIENT_MODULES):
        return True
    return any(qualname == k or (k.endswith(".") and qualname.startswith(k)) for k in PENDING)


# ------------------------------------------------------------------------------- valid values
def _valid_table():
    from nnlandscape.input_landscape import MLPBatch
    from nnlandscape.nets import MLP
    from nnlandscape.replica import Mixture

    net = MLP([2, 3, 1], "relu")
    smooth = MLP([2, 3, 1], "tanh")
    theta = net.init(1, seed=1)[0]
    X = np.array([[0.1, 0.2], [0.5, -0.3], [-0.4, 0.8], [0.9, 0.1]])
    batch = MLPBatch("tanh", 1, 4, 3, n_networks=2, seed=0)
    images = np.array([[0.0, 0.0], [0.5, 0.4], [1.0, 1.0]])
    return {
        "mixture": lambda: Mixture.from_coefficients([0, 0.5]),
        "T": lambda: 0.5, "activation": lambda: "tanh", "name": lambda: "tanh", "dim": lambda: 2,
        "depth": lambda: 2, "width": lambda: 6, "N": lambda: 3, "n_networks": lambda: 2,
        "net": lambda: net, "theta": lambda: theta.copy(), "theta_star": lambda: theta.copy(),
        "theta0": lambda: net.init(2, seed=2), "reference": lambda: theta.copy(),
        "X": lambda: X.copy(), "y": lambda: np.array([0.1, 0.4, -0.2, 0.3]),
        "q_atoms": lambda: [0.0, 0.5], "weights": lambda: [0.5, 0.5], "masses": lambda: [0.5, 0.5],
        "L": lambda: 1.0, "q": lambda: 0.5, "c": lambda: 0.3, "k": lambda: 1.0,
        "k1": lambda: 1.0, "k2": lambda: 0.5, "chi": lambda: 0.5, "kappa2": lambda: 0.1,
        "above": lambda: 0.0, "s": lambda: 0.5, "E": lambda: -0.5,
        "resolution": lambda: 200, "n": lambda: 200, "x": lambda: 0.3, "points": lambda: images.copy(),
        "images": lambda: images.copy(), "energies": lambda: np.array([0.0, 1.0, 0.5]),
        "gradients": lambda: np.zeros((3, 2)), "spring": lambda: 1.0, "start": lambda: [-0.5, 1.4],
        "end": lambda: [0.6, 0.0], "n_images": lambda: 5, "segments": lambda: [0],
        "fun": lambda: _quadratic, "x0": lambda: [1.0, 2.0], "dt": lambda: 0.1,
        "radii": lambda: [0.1, 0.2], "success": lambda: [False, False, True, True],
        "lr": lambda: 0.1, "steps": lambda: 3, "n_steps": lambda: 3, "n_models": lambda: 2,
        "layer": lambda: 1, "scales": lambda: [1.0, 2.0, 0.5], "perm": lambda: [2, 0, 1],
        "sizes": lambda: [2, 3, 1], "biases": lambda: [np.zeros(3), np.zeros(1)],
        "nets": lambda: batch, "batch": lambda: batch, "shape": lambda: (2,), "rng": lambda: np.random.default_rng(0),
        "theta_grid": lambda: np.linspace(0, 1, 5), "field": lambda: _circle_field,
        "fields": lambda: [_circle_field], "counts": lambda: np.array([[1.0, 2.0, 1.0], [1.0, 2.0, 1.0]]),
        "coefficients": lambda: [0.0, 1.0, 0.5], "rho": lambda: 0.5, "t": lambda: 1.0,
        "amplitude": lambda: 0.5, "n_tent_layers": lambda: 2, "n_knots": lambda: 3,
        "total": lambda: 3, "fig": lambda: _figure(), "values": lambda: [0.0, 1.0, 2.0],
        "options": lambda: ["a", "b"], "func": lambda: (lambda a: {"x": [0.0, a]}),
        "controls": lambda: [_slider()], "layout": lambda: None, "root": lambda: nnlandscape.book.ROOT,
        "success_": None, "smooth_net": lambda: smooth,
        # modules that arrived later (gate, perceptron, committee, spectra, sampling, ...)
        "h": lambda: 0.5, "beta": lambda: 1.0, "P": lambda: 5, "alpha": lambda: 0.5, "K": lambda: 2,
        "architecture": lambda: (3,), "gamma": lambda: 0.5, "eps": lambda: 0.1, "n_leapfrog": lambda: 2,
        "n_moves": lambda: 3, "step": lambda: 0.1, "w": lambda: np.ones((2, 3)), "p": lambda: np.ones((2, 3)),
        "v": lambda: np.full((2, 3), 0.5), "H": lambda: _sym_matrix(), "V": lambda: np.eye(3),
        "eigenvalues": lambda: np.array([-1.0, 0.0, 0.5, 2.0]),
    }


def _sym_matrix():
    return np.array([[2.0, 0.5, 0.0, 0.0], [0.5, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1e-9]])


def _quadratic(x):
    x = np.asarray(x, float)
    return float(x @ x), 2.0 * x


def _circle_field(P):
    P = np.asarray(P, float)
    return P[..., 0] + 0.5 * P[..., 1] ** 2


def _figure():
    import plotly.graph_objects as go

    return go.Figure(go.Scatter(x=[0, 1], y=[0, 1]))


def _slider():
    from nnlandscape.explore import slider

    return slider("a", [0.0, 1.0, 2.0])


# Per-callable overrides of the valid arguments (keys: qualified names).
def _overrides():
    from nnlandscape.input_landscape import MLPBatch
    from nnlandscape.nets import MLP

    b = MLPBatch("tanh", 1, 4, 3, n_networks=2, seed=0)
    Xb = np.ones((2, 2, 3))
    smooth = MLP([2, 3, 1], "tanh")
    th_s = smooth.init(1, seed=1)[0]
    relu = MLP([2, 3, 1], "relu")
    th_r, th_r2 = relu.init(2, seed=1)
    from nnlandscape import sphere_fields
    from nnlandscape.binary_tasks import make_task
    from nnlandscape.committee import TreeCommittee, committee_data
    from nnlandscape.nets import ESPMLP
    from nnlandscape.sampling import Geometry

    Xc, yc = committee_data(8, 2, 1.0, seed=0)
    cm = TreeCommittee(Xc, yc, 2)
    w8 = np.cos(np.arange(16.0)).reshape(2, 8) * 1.5
    chains = {"fun": cm, "w0": w8, "T": 0.5, "step": 0.1, "n_leapfrog": 2, "n_moves": 3}
    esp = ESPMLP([2, 3, 1])
    th_e = esp.init(1, seed=1)[0]
    mesh = sphere_fields.sphere_mesh(100)
    pl = sphere_fields.network_field("leaky_relu", 1, 3, 2, sigma_w2=2.0, sigma_b2=0.5, seed=0)
    esp_over = {f"nnlandscape.nets.ESPMLP.{m}": {"theta": th_e}
                for m in ("forward", "gauss_newton", "gradient", "hessian", "hessian_eigh", "loss", "unpack",
                          "unpack_beta")}
    esp_over["nnlandscape.nets.ESPMLP.hvp"] = {"theta": th_e, "v": np.ones(esp.n_params)}
    esp_over["nnlandscape.nets.ESPMLP.pack"] = dict(zip(("weights", "biases"), esp.unpack(th_e[None])))
    cm_over = {f"nnlandscape.committee.TreeCommittee.{m}": {"w": w8}
               for m in ("__call__", "energy", "energy_grad", "fields", "margins", "output", "project_units",
                         "train_error")}
    cm_over["nnlandscape.committee.TreeCommittee.descend"] = {"w0": w8, "n_steps": 3}
    geo = {"w": w8[:, :3].copy(), "p": np.full((2, 3), 0.1), "eps": np.full(2, 0.1), "T": np.full(2, 0.5)}
    geo_over = {f"nnlandscape.sampling.Geometry.{m}": geo for m in ("drift", "momenta", "propose_rw")}
    return esp_over | cm_over | geo_over | {
        "nnlandscape.binary_tasks.make_net": {"activation": "relu"},
        "nnlandscape.binary_tasks.make_task": {"name": "linear", "n": 40},
        "nnlandscape.binary_tasks.run_protocol": {"task": make_task("linear", n=40), "net": MLP([2, 3, 1], "relu"),
                                                  "seeds": 1, "checkpoints": (0, 5), "hessian": False},
        "nnlandscape.committee.committee_data": {"N": 8, "K": 2, "alpha": 1.0},
        "nnlandscape.committee.hidden_manifold_data": {"P": 5, "N": 8, "latent_dim": 2},
        "nnlandscape.committee.gd_threshold_scan": {"N": 8, "K": 2, "alphas": [0.5, 1.0], "n_runs": 2, "n_steps": 3},
        "nnlandscape.committee.thermo_scan": {"N": 8, "K": 2, "alpha": 1.0, "temps": [0.5, 1.0], "n_chains": 3,
                                              "n_moves": 4, "thin": 1, "lag": 1, "n_leapfrog": 2, "gd_steps": 3,
                                              "euclid_moves": 2},
        "nnlandscape.committee.jackknife": {"stat": lambda keep: float(np.mean(keep)), "n": 3},
        "nnlandscape.committee.TreeCommittee.local_energy": {"w": w8, "thetas": [0.0, 0.2], "n_dirs": 2},
        "nnlandscape.committee.TreeCommittee": {"X": Xc, "y": yc, "K": 2},
        "nnlandscape.sampling.hmc": dict(chains),
        "nnlandscape.sampling.rwm": {k: v for k, v in chains.items() if k != "n_leapfrog"},
        "nnlandscape.sampling.leapfrog": {"fun": cm, "w": w8, "p": np.full((2, 8), 0.1), "step": np.full(2, 0.1),
                                          "n_leapfrog": 2, "geometry": Geometry(8)},
        "nnlandscape.sampling.effective_sample_size": {"x": np.sin(0.7 * np.arange(200.0)).reshape(100, 2)},
        "nnlandscape.solution_paths.geodesic": {"wa": w8, "wb": -w8, "n_points": 5},
        "nnlandscape.solution_paths.double_ratchet": {"fun": cm, "wa": w8, "wb": -w8, "T": 0.5, "k": 1.0,
                                                      "step": 0.1, "n_leapfrog": 2, "n_moves": 3},
        "nnlandscape.solution_paths.replica_energy_grad": {"fun": cm, "W": np.stack([w8, -w8, w8[::-1]], 1),
                                                           "gamma": 0.5},
        "nnlandscape.solution_paths.coupled_replicas": {"fun": cm, "W0": np.stack([w8, -w8, w8[::-1]], 1),
                                                        "gamma": 0.5, "T": 0.5, "step": 0.1, "n_leapfrog": 2,
                                                        "n_moves": 3},
        "nnlandscape.sphere_fields.persistence_pairs": {"values": mesh.vertices[:, 0] + 0.3 * mesh.vertices[:, 1] ** 2,
                                                        "mesh": mesh},
        "nnlandscape.sphere_fields.pl_critical_points": {"weights": [[0.0, 0.0, 1.0]], "biases": [0.0],
                                                         "out": [-1.0], "slopes": (1.0, -1.0),
                                                         "linear": [0.3, 0.0, 0.0]},
        "nnlandscape.sphere_fields.network_pl_critical_points": {"field": pl},
        "nnlandscape.input_landscape.MLPBatch.__call__": {"X": Xb},
        "nnlandscape.input_landscape.MLPBatch.hidden": {"X": Xb},
        "nnlandscape.input_landscape.MLPBatch.value_and_grad": {"X": Xb},
        "nnlandscape.input_landscape.uniform_sphere": {"shape": (2,), "N": 3, "rng": np.random.default_rng(0)},
        "nnlandscape.random_nets.RandomMLP.__call__": {"x": np.ones((2, 3)), "X": np.ones((2, 3))},
        "nnlandscape.random_nets.RandomMLP.hidden": {"X": np.ones((2, 3))},
        "nnlandscape.random_nets.sample_outputs": {"X": np.ones((2, 3))},
        "nnlandscape.random_nets.hidden_gram": {"X": np.ones((2, 3))},
        "nnlandscape.sawtooth.tent_power": {"k": 3},
        "nnlandscape.sawtooth.relu_forward": {"weights": [np.ones((3, 1)), np.ones((1, 3))],
                                              "biases": [np.zeros(3), np.zeros(1)], "x": [0.1, 0.5]},
        "nnlandscape.sawtooth.pack_parameters": {"weights": [np.ones((3, 1)), np.ones((1, 3))],
                                                 "biases": [np.zeros(3), np.zeros(1)]},
        "nnlandscape.sawtooth.unpack_parameters": {"theta": np.zeros(10), "sizes": (1, 3, 1)},
        "nnlandscape.nets.pack": {"weights": [np.ones((3, 2)), np.ones((1, 3))], "biases": [np.zeros(3), np.zeros(1)]},
        "nnlandscape.nets.unpack": {"theta": np.zeros(13), "sizes": [2, 3, 1]},
        "nnlandscape.landscape.flat_mode_census": {"net": smooth, "theta": th_s},
        "nnlandscape.landscape.logistic_fit": {"x": [0.1, 0.2, 0.3, 0.4]},
        "nnlandscape.landscape.lowess": {"x": [0.1, 0.2, 0.3, 0.4, 0.5], "y": [1.0, 2.0, 1.5, 3.0, 2.0]},
        "nnlandscape.landscape.noise_of_norm": {"dim": 3},
        "nnlandscape.landscape.heavy_ball_critical_curvature": {"lr": 0.1},
        "nnlandscape.landscape.distances": {"theta": np.zeros((2, 13)), "reference": np.zeros(13)},
        "nnlandscape.nets.MLP": {"sizes": [2, 3, 1]},
        "nnlandscape.sphere_fields.fibonacci_sphere": {"n": 50},
        "nnlandscape.sphere_fields.critical_points_sphere": {"field": _sphere_field},
        "nnlandscape.sphere_fields.find_critical_points": {"field": _circle_field, "dim": 1},
        "nnlandscape.sphere_fields.count_critical_points": {"fields": [_circle_field], "dim": 1},
        "nnlandscape.sphere_fields.network_counts": {"dim": 1, "resolution": 64},
        "nnlandscape.sphere_fields.circle_points": {"theta": np.linspace(0, 1, 5)},
        "nnlandscape.shaped_limit.shaped_relu_correlation_limit": {"c": 1.0},
        "nnlandscape.shaped_limit.shaped_relu_drift": {"c": 1.0},
        "nnlandscape.sphere_mc.pair_overlaps": {"X": np.ones((2, 3, 4, 5))},
        "nnlandscape.surfaces.arc_double_well": {"points": np.array([[0.5, 0.5]])},
        "nnlandscape.replica.annealed_entropy": {"E": -0.5},
        "nnlandscape.replica.microcanonical_entropy": {"E": -0.5},
        "nnlandscape.progress.ProgressBar": {"total": 3, "enable": False},
        "nnlandscape.landscape.basin_experiment": {"n_trials": 4, "steps": 5},
        "nnlandscape.landscape.network_band": {"start": th_r, "end": th_r2, "steps": 3, "n_images": 5, "n_line": 11},
        "nnlandscape.landscape.flat_mode_census": {"net": relu, "theta": th_r},
        "nnlandscape.neb.nudged_elastic_band": {"fun": _mb, "n_images": 5, "max_steps": 5},
        "nnlandscape.neb.FIRE.step": {"x": np.ones((3, 2)), "forces": np.ones((3, 2))},
        "nnlandscape.nets.MLP.hvp": {"v": np.ones(13)},
        "nnlandscape.optim.Optimizer.step": {"theta": np.ones((2, 13)), "grad": np.ones((2, 13)), "lr": 0.1},
        "nnlandscape.random_nets.RandomMLP": {"batch": MLPBatch("tanh", 1, 4, 3, n_networks=1, seed=0)},
        "nnlandscape.replica.Mixture.from_callables": {"xi": lambda q: q * q / 2, "dxi": lambda q: q,
                                                       "d2xi": lambda q: 1.0 + 0.0 * q},
        "nnlandscape.landscape.train_models": {"steps": 5},
        "nnlandscape.sphere_mc.metropolis_sphere": {"n_steps": 4, "n_burn": 2},
        "nnlandscape.sphere_mc.sphere_descent": {"n_steps": 4},
        "nnlandscape.scale.chunk_bounds": {"n_items": 10, "chunk_size": 3},
        "nnlandscape.scale.item_seed": {"seed": 1, "i": 2},
        "nnlandscape.scale.results_dir": {"name": "ch05"},
        "nnlandscape.scale.load_results": {"name": "ch05"},
        "nnlandscape.scale.scale_markdown": {"name": "ch05", "result": None, "book": "512 networks"},
    }


def _mb(points):
    from nnlandscape.surfaces import muller_brown

    return muller_brown(points)


def _sphere_field(P):
    P = np.asarray(P, float)
    return P[..., 0] + 0.5 * P[..., 1] ** 2 + 0.2 * P[..., 2]


# ------------------------------------------------------------------------------- the walk
class _Timeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Timeout()


def _call_boxed(fn, args, kwargs, timeout=CALL_TIMEOUT):
    """Call with a wall-clock limit (SIGALRM); returns ('ret', value) / ('exc', exception) / ('hang', None)."""
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return "ret", fn(*args, **kwargs)
    except _Timeout:
        return "hang", None
    except Exception as exc:  # classified by the caller
        return "exc", exc
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _nan_paths(obj, path="", depth=0, seen=None):
    """Attribute paths of NaN values inside a result (arrays, numbers, records, containers)."""
    seen = set() if seen is None else seen
    if depth > 4 or id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, (float, np.floating)):
        return [path] if math.isnan(obj) else []
    if isinstance(obj, complex):
        return [path] if (math.isnan(obj.real) or math.isnan(obj.imag)) else []
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "fc" and obj.size and np.isnan(obj).any():
            return [path]
        return []
    out = []
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            out += _nan_paths(getattr(obj, f.name), f"{path}.{f.name}".lstrip("."), depth + 1, seen)
    elif isinstance(obj, tuple) and hasattr(obj, "_fields"):
        for name in obj._fields:
            out += _nan_paths(getattr(obj, name), f"{path}.{name}".lstrip("."), depth + 1, seen)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj[:50]):
            out += _nan_paths(v, f"{path}[{i}]", depth + 1, seen)
    elif isinstance(obj, dict):
        for k, v in list(obj.items())[:50]:
            out += _nan_paths(v, f"{path}[{k!r}]", depth + 1, seen)
    return out


# A parameter that selects a registry entry may be named by what it selects.
ALIASES = {"name": ("activation", "optimizer", "schedule")}


def _names_parameter(msg, names):
    names = set(names) | {a for n in names for a in ALIASES.get(n, ())}
    return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_])", msg) for n in names)


Case = collections.namedtuple("Case", "qualname param bad outcome detail")


def _signature_params(fn):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    return [p for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _baseline(qualname, fn, valid, overrides):
    """Valid kwargs for ``fn`` or a skip reason."""
    params = _signature_params(fn)
    if params is None:
        return None, "no inspectable signature"
    over = overrides.get(qualname, {})
    kwargs = {}
    for p in params:
        if p.name in ("self", "cls"):
            continue
        if p.name in over:
            kwargs[p.name] = over[p.name]
        elif p.default is p.empty:
            maker = valid.get(p.name)
            if maker is None:
                return None, f"no valid value known for required parameter {p.name!r}"
            kwargs[p.name] = maker()
    return (params, kwargs), None


def _walk_callable(qualname, fn, valid, overrides, cases, skips, extra_names=()):
    if qualname in NEVER_CALL:
        skips[qualname] = NEVER_CALL[qualname]
        return None
    base, why = _baseline(qualname, fn, valid, overrides)
    if base is None:
        skips[qualname] = why
        return None
    params, kwargs = base
    t0 = time.perf_counter()
    kind, value = _call_boxed(fn, (), kwargs, BASELINE_TIMEOUT)
    dt = time.perf_counter() - t0
    timeout = max(CALL_TIMEOUT, 5 * dt)
    if kind != "ret":
        skips[qualname] = f"baseline call failed: {kind} {type(value).__name__}: {value}"[:200]
        return None
    baseline_value = value
    names = {p.name for p in params} | set(extra_names)
    bad_items = [(k, BAD[k]) for k in (FEW_BAD if dt > SLOW_BASELINE else BAD)]
    for p in params:
        if p.name in ("self", "cls"):
            continue
        for label, bad in bad_items:
            kw = dict(kwargs)
            kw[p.name] = bad
            kind, value = _call_boxed(fn, (), kw, timeout)
            if kind == "hang":
                cases.append(Case(qualname, p.name, label, "hang", f">{timeout:.1f}s"))
            elif kind == "exc":
                if isinstance(value, (ValueError, TypeError)):
                    msg = str(value)
                    # a refused cost estimate names its limit (the budget check): clear as well
                    ok = _names_parameter(msg, names) or "exceeds the limit" in msg
                    cases.append(Case(qualname, p.name, label, "clear" if ok else "unclear", msg[:160]))
                else:
                    cases.append(Case(qualname, p.name, label, "untyped", f"{type(value).__name__}: {value}"[:160]))
            else:
                nan = [path for path in _nan_paths(value) if (qualname, path) not in DOCUMENTED_NAN]
                cases.append(Case(qualname, p.name, label, "nan" if nan else "ok", ",".join(nan)[:160]))
    return baseline_value


def _own(obj) -> bool:
    """``True`` for a class or function defined in nnlandscape (not a third-party one it re-exports)."""
    return str(getattr(obj, "__module__", "") or "").startswith("nnlandscape")


def _defined_by_nnlandscape(cls, name) -> bool:
    """``True`` if the class in ``cls``'s MRO that defines ``name`` is one of nnlandscape's."""
    for klass in inspect.getmro(cls):
        if name in klass.__dict__:
            return _own(klass)
    return False


def _public_methods(cls):
    """Public methods (and ``__call__``) that nnlandscape itself defines: methods inherited from a
    third-party base class (tqdm's, for :class:`~nnlandscape.progress.ProgressBar`) are not ours to fuzz."""
    out = []
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") and name != "__call__":
            continue
        if not _defined_by_nnlandscape(cls, name):
            continue
        raw = inspect.getattr_static(cls, name, None)
        if isinstance(raw, (property,)) or not callable(member):
            continue
        if name == "__call__" and "__call__" not in cls.__dict__:
            continue
        out.append((name, member, isinstance(raw, (classmethod, staticmethod))))
    return out


def run_fuzz():
    """Walk the API; returns (cases, skips)."""
    valid, overrides = _valid_table(), _overrides()
    cases, skips = [], {}
    for m in sorted(pkgutil.iter_modules(nnlandscape.__path__), key=lambda m: m.name):
        if m.name.startswith("_"):
            continue
        modname = f"nnlandscape.{m.name}"
        if m.name in SKIP_MODULES:
            skips[modname] = SKIP_MODULES[m.name]
            continue
        try:
            mod = importlib.import_module(modname)
        except Exception as exc:  # a module that does not import is a failure elsewhere
            skips[modname] = f"import failed: {exc}"
            continue
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name, None)
            if not callable(obj):
                continue
            qual = f"{modname}.{name}"
            if not _own(obj):
                skips[qual] = f"defined outside nnlandscape ({getattr(obj, '__module__', '?')})"
                continue
            is_record = inspect.isclass(obj) and (dataclasses.is_dataclass(obj) or issubclass(obj, tuple))
            if is_record:
                skips[qual] = "result record (a container of fields)"
                instance = None
            else:
                instance = _walk_callable(qual, obj, valid, overrides, cases, skips)
            if inspect.isclass(obj):
                init_names = [p.name for p in (_signature_params(obj) or [])]
                for mname, member, static in _public_methods(obj):
                    mqual = f"{qual}.{mname}"
                    if static:
                        _walk_callable(mqual, member, valid, overrides, cases, skips, init_names)
                    elif instance is not None:
                        _walk_callable(mqual, getattr(instance, mname), valid, overrides, cases, skips, init_names)
    return cases, skips


@pytest.fixture(scope="module")
def fuzz():
    return run_fuzz()


def test_walk_reaches_most_of_the_api(fuzz):
    cases, skips = fuzz
    called = {c.qualname for c in cases}
    assert len(called) >= 100, f"only {len(called)} callables were fuzzed; skipped: {skips}"


@pytest.mark.parametrize("outcome", ["untyped", "nan", "hang", "unclear"])
def test_no_bad_outcomes(fuzz, outcome):
    cases, _ = fuzz
    bad = [c for c in cases if c.outcome == outcome and not _lenient(c.qualname)]
    lines = "\n".join(f"{c.qualname}({c.param}={c.bad}): {c.detail}" for c in bad[:40])
    assert not bad, f"{len(bad)} calls gave {outcome!r}:\n{lines}"


def summarise(cases, skips, file=sys.stdout):
    counts = collections.Counter(c.outcome for c in cases)
    print(f"callables fuzzed: {len({c.qualname for c in cases})}, skipped: {len(skips)}, calls: {len(cases)}",
          file=file)
    print("outcomes:", dict(sorted(counts.items())), file=file)
    strict = collections.Counter(c.outcome for c in cases if not _lenient(c.qualname))
    print("outcomes outside the lenient/pending lists:", dict(sorted(strict.items())), file=file)
    for outcome in ("untyped", "nan", "hang", "unclear"):
        for c in cases:
            if c.outcome == outcome:
                print(f"  {outcome}: {c.qualname}({c.param}={c.bad}): {c.detail}", file=file)
    for k, v in sorted(skips.items()):
        print(f"  skipped {k}: {v}", file=file)


if __name__ == "__main__":
    t0 = time.time()
    cs, sk = run_fuzz()
    summarise(cs, sk)
    print(f"{time.time() - t0:.1f} s")
