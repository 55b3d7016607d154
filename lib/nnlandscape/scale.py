r"""Paper-scale runs: one long experiment split into fixed chunks, in-process or on a Dask cluster.

The book runs every experiment at a size that builds in minutes on two cores. The papers' own
scale is larger: Gamst & Walker trained 320 000 networks for 50 000 steps each,
:math:`1.6\times10^{10}` model-steps. That work is embarrassingly parallel over networks, so
:func:`run` splits the :math:`n` *items* of an experiment (networks, chains, ...) into chunks
:math:`[0, c), [c, 2c), \dots` of ``chunk_size`` :math:`c` items and runs each chunk with the
package's batched kernels (for ``"ch05"``: :func:`nnlandscape.optim.train` on the compiled
kernel of :mod:`nnlandscape._nets_numba`), either here (``client=None``, the default: no
cluster needed) or on the workers of a ``dask.distributed`` cluster.

**Same bits everywhere.** Item :math:`i` draws its randomness from its own stream,
``np.random.SeedSequence(seed, spawn_key=(i,))`` (the :math:`i`-th child of
``SeedSequence(seed).spawn``), and the training kernel treats the items of a batch
independently, so a ``"ch05"`` item's result (likewise ``"ch05-jitter"``'s, ``"ch05-neb"``'s and
``"grid"``'s) depends only on ``seed``, :math:`i` and the parameters: not on the chunk it lands
in, the number of workers, or the order in which chunks finish. Samplers that draw for a whole
batch from one generator (``"ch01"``, ``"ch04"``) use the
chunk's stream ``SeedSequence(seed, spawn_key=(start, stop))`` for that part: their results
depend on the chunk boundaries, which depend only on ``n_items`` and ``chunk_size`` (both in the
manifest), never on the workers. Tasks run
with single-threaded BLAS (:mod:`threadpoolctl`); on workers the training kernel runs its serial
driver, which calls the same compiled per-model function as the parallel one.

**Resumable.** With ``out`` (a folder) the run writes ``manifest.json`` (experiment, parameters,
seed, ``n_items``, ``chunk_size``, package version) and one ``chunk-KKKKKK.npz`` per finished
chunk, each written to a temporary file and moved into place with :func:`os.replace`, so a chunk
file is either complete or absent. A rerun with the same manifest skips the finished chunks; a
folder whose manifest differs is refused (:class:`ValueError`) before any work. :func:`load`
assembles the chunks present (a partial run is a valid, smaller sample: see ``"ch05"``).

**Checks before work.** Parameters (``n_items >= 1``, ...), the chunk size against the package's
budgets (:data:`nnlandscape._checks.MAX_FLOPS`, ``MAX_BYTES``) and against the smallest worker
memory limit reported by the scheduler, an unreachable scheduler (connect timeout
:data:`CONNECT_TIMEOUT`): each raises :class:`ValueError` naming the parameter before anything runs.

Command line (defaults are the paper's sizes)::

    python -m nnlandscape.scale ch05 --scheduler tcp://host:8786 --out results/ch05
    python -m nnlandscape.scale ch05 --networks 2048 --steps 1500 --chunk-size 256   # in-process
    python -m nnlandscape.scale ch01 --param activation='"relu"' --param sigma_w2=2 \
        --param temperatures='[0.04, 0.073, 0.13, 0.24, 0.44, 0.8]'
    python -m nnlandscape.scale ch05-jitter --param optimizers='["momentum", "momentum", "adadelta"]' \
        --param lr='[null, 0.001, null]' --out results/ch05-jitter
    python -m nnlandscape.scale grid --param function='"nnlandscape.kernels:covariance"' \
        --param controls='[["activation", ["relu", "tanh"]], ["depth", [1, 2, 3]]]' \
        --param fixed='{"q": [0.0, 0.5, 1.0]}' --out results/grid-covariance

Experiments are registered by name (:data:`EXPERIMENTS`, :func:`register`):

* ``"ch05"``: Gamst & Walker's mass training (320 000 networks x 50 000 steps, momentum and
  Adadelta alternating over the items), per-item seeds: an item's result does not depend on the
  chunk size either, and any prefix of a run is a smaller run;
* ``"ch04"``: chapter 4's thermodynamics of the tree committee machine at the paper's size
  (:math:`N = 1000`, :math:`K = 50`): 50 gradient-descent solutions x 6 temperatures = 300 HMC
  chains of 2000 recorded moves (the chapter: :math:`N = 200`, 8 x 6 chains of 160 moves; the
  number of chains and moves are our choice for "long chains"); per-item starts, per-chunk HMC
  streams;
* ``"ch01"``: Metropolis with replica exchange on the sphere over random depth-1 networks of width
  ``width_ratio * N`` (default :math:`N = 200`, :math:`n = 64N`, 256 networks: the size the
  chapter's finite-width test asks for; not a number from a paper). The networks are per item;
  the Monte Carlo noise draws from a per-chunk stream, so results are the same bits for any number
  of workers at a fixed ``chunk_size``;
* ``"ch05-jitter"``: chapter 5's basin trials (:func:`nnlandscape.landscape.basin_experiment`, one
  trial per item): :math:`W_f` jittered by noise of norm :math:`r \sim U[0, 2]`, retrained; the
  paper's 4096 trials of 20 000 steps, optimisers (and step sizes, ``lr``) alternating over the
  items; per-item streams;
* ``"ch05-neb"``: chapter 5's NEB batches: network :math:`i` is ``"ch05"``'s network :math:`i`
  (same seed and training: the same bits), and those that learnt the spline get a band from
  :math:`W_f` relaxed with the chapter's recipe (de-symmetrise, match units, FIRE with a climbing
  image, one refinement), read densely along its polygon. 1000 networks by default, our choice:
  the paper draws 100 bands to networks it does not identify; deterministic given the network;
* ``"grid"``: explorer-grid precomputation. ``params = {"function": "package.module:name",
  "controls": [[name, [values...]], ...], "fixed": {...}, "seed_arg": None}``: one item per grid
  point of the controls, in C order (the last control fastest, the order of
  :class:`nnlandscape.explore.StaticExplorer`); point :math:`i` calls ``function(**fixed,
  **controls at i)`` (plus ``seed_arg=seed`` when named: one seed for every point, the common
  random numbers an explorer wants) and stores the result as exact JSON text (numpy arrays tagged
  with dtype and shape, plotly traces as their dicts). ``n_items`` must be the number of grid
  points (the command line fills it in). The function must be importable by name (a module-level
  function: workers import it), and pure. :func:`grid_values` reads a run back, and
  :func:`grid_function` turns it into a function that :func:`nnlandscape.explore.explore` can draw
  a static explorer from without calling the original again.

:func:`scale_markdown` is what a chapter shows about its scale: one sentence when no results
folder is present (how to get the paper's scale), else which run is shown and the experiment's
summary table (``Experiment.report``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from ._checks import MAX_BYTES, MAX_FLOPS, MAX_SIZE, MAX_STEPS, check_bool, check_instance, check_int, check_real
from .progress import ProgressBar

__all__ = ["Experiment", "EXPERIMENTS", "register", "item_seed", "chunk_bounds", "ScaleResult", "run", "load",
           "results_dir", "load_results", "scale_markdown", "ch05_summary", "ch05_markdown", "grid_values",
           "grid_function", "main", "CONNECT_TIMEOUT", "GRID_POINT_CHARS"]

#: seconds to wait for a scheduler before calling it unreachable
CONNECT_TIMEOUT = 5.0
#: largest number of items of one run (chunk files hold the item range; beyond this, split the run)
MAX_ITEMS = 10**9
#: fraction of a worker's memory limit one chunk may plan to use (dask pauses a worker at 80 %)
WORKER_MEMORY_FRACTION = 0.5
_MANIFEST = "manifest.json"
_FORMAT = 1


# --------------------------------------------------------------------------- experiments
@dataclass(frozen=True)
class Experiment:
    r"""A long experiment over ``n_items`` independent items.

    name : registry key (``"ch05"``); description : one line; item : what an item is ("networks");
    paper_items, paper_chunk : the paper's ``n_items`` and a sensible chunk size at that scale;
    defaults : the paper-scale parameters (JSON values); check : ``params -> params`` (validated,
    defaults filled in); run_chunk : ``(params, start, stop, seed) -> dict of arrays`` whose first
    axis has ``stop - start`` entries, item :math:`i` drawn from :func:`item_seed`\ ``(seed, i)``
    (or, for what a batch draws at once, from ``SeedSequence(seed, spawn_key=(start, stop))``);
    it must be a module-level function of an importable module when it runs on a cluster;
    bytes_per_item, max_chunk, model_steps_per_item : ``params ->`` memory per item (bytes), the
    largest chunk the package's budgets allow, work per item (for rates and projections).
    n_items_of : ``None`` or ``params ->`` the only allowed ``n_items`` (``"grid"``: the number of grid
    points); report : ``None`` or ``result -> dict(head=, scale=, finding=, table=)``, what
    :func:`scale_markdown` says about a run of this experiment (``head``: what was run, e.g. "4 of 6
    networks of 60 steps"; ``scale``: how that compares with the paper's scale; ``finding``: a
    sentence, may be empty; ``table``: markdown, may be empty); default_scale : what the command's
    defaults are, in words (``"the paper's scale"`` unless the experiment has no paper size).
    """

    name: str
    description: str
    item: str
    paper_items: int
    paper_chunk: int
    defaults: dict
    check: Callable
    run_chunk: Callable
    bytes_per_item: Callable
    max_chunk: Callable
    model_steps_per_item: Callable
    n_items_of: Callable | None = None
    report: Callable | None = None
    default_scale: str = "the paper's scale"


#: registered experiments by name
EXPERIMENTS: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    """Add ``experiment`` to :data:`EXPERIMENTS` (a name already taken is refused)."""
    check_instance("experiment", experiment, Experiment)
    if experiment.name in EXPERIMENTS and EXPERIMENTS[experiment.name] is not experiment:
        raise ValueError(f"experiment name {experiment.name!r} is already registered")
    EXPERIMENTS[experiment.name] = experiment
    return experiment


def _experiment(experiment, pname="experiment") -> Experiment:
    if isinstance(experiment, Experiment):
        return experiment
    if not isinstance(experiment, str) or experiment not in EXPERIMENTS:
        raise ValueError(f"{pname}={experiment!r} is not a registered experiment; choose one of "
                         f"{', '.join(map(repr, EXPERIMENTS))}")
    return EXPERIMENTS[experiment]


def item_seed(seed: int, i: int) -> np.random.SeedSequence:
    """The random stream of item ``i``: ``SeedSequence(seed, spawn_key=(i,))``, i.e. the ``i``-th
    child of ``SeedSequence(seed).spawn(...)``, built without spawning the ``i`` before it."""
    seed = check_int("seed", seed, 0)
    i = check_int("i", i, 0)
    return np.random.SeedSequence(seed, spawn_key=(i,))


def chunk_bounds(n_items: int, chunk_size: int) -> list[tuple[int, int]]:
    """The chunks ``[(0, c), (c, 2c), ..., (.., n_items)]``: a function of ``n_items`` and
    ``chunk_size`` only (never of the number of workers)."""
    n_items = check_int("n_items", n_items, 1, MAX_ITEMS)
    chunk_size = check_int("chunk_size", chunk_size, 1, MAX_ITEMS)
    return [(a, min(a + chunk_size, n_items)) for a in range(0, n_items, chunk_size)]


# --------------------------------------------------------------------------- ch05: mass training
_CH05_DEFAULTS = {"steps": 50_000, "optimizers": ["momentum", "adadelta"], "amplitude": 0.5,
                  "n_tent_layers": 4, "points_between": 9}


def _with_defaults(name: str, params, defaults: dict) -> dict:
    """``params`` (a dict of known keys only) laid over the experiment's ``defaults``."""
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict, got {type(params).__name__}")
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(f"params: unknown keys {unknown}; {name} takes {sorted(defaults)}")
    return {**defaults, **params}


def _ch05_check(params: dict) -> dict:
    p = _with_defaults("ch05", params, _CH05_DEFAULTS)
    p["steps"] = check_int("steps", p["steps"], 1, MAX_STEPS)
    p["optimizers"] = _check_optimizers(p["optimizers"])
    return _check_problem(p)


def _check_optimizers(opts, repeat=False) -> list:
    from . import landscape

    if isinstance(opts, str) or not isinstance(opts, (list, tuple)) or not opts:
        raise ValueError(f"optimizers must be a non-empty list of names in {list(landscape.OPTIMIZER_SETTINGS)}, "
                         f"got {opts!r}")
    for o in opts:
        if not isinstance(o, str) or o not in landscape.OPTIMIZER_SETTINGS:
            raise ValueError(f"optimizers: {o!r} is not allowed; choose from {list(landscape.OPTIMIZER_SETTINGS)}")
    if not repeat and len(set(opts)) != len(opts):
        raise ValueError(f"optimizers must not repeat a name, got {opts!r}")
    return list(opts)


def _check_problem(p: dict) -> dict:
    """The sawtooth problem's parameters (shared by the chapter-5 experiments)."""
    p["amplitude"] = check_real("amplitude", p["amplitude"])
    p["n_tent_layers"] = check_int("n_tent_layers", p["n_tent_layers"], 1, 5)
    p["points_between"] = check_int("points_between", p["points_between"], 0, 10_000)
    _ch05_problem(p["amplitude"], p["n_tent_layers"], p["points_between"])  # builds W_f: its own checks
    return p


@lru_cache(maxsize=8)
def _ch05_problem(amplitude, n_tent_layers, points_between):
    from . import sawtooth
    from .nets import MLP

    W = sawtooth.build_network(amplitude, n_tent_layers)
    X, Y = W.training_set(points_between=points_between)
    return W, MLP(W.sizes, "relu"), X, Y


def _ch05_sizes(p):
    W, net, X, Y = _ch05_problem(p["amplitude"], p["n_tent_layers"], p["points_between"])
    return net.n_params, X.shape[0], sum(net.sizes[1:])


def _ch05_bytes(p) -> float:
    P, n, units = _ch05_sizes(p)
    # optim.train's own estimate (float32: parameters, gradient, 3 optimiser buffers, activations),
    # plus the initial and stored parameters and the per-item results
    return 4.0 * (6.0 * P + 3.0 * n * units) + 4.0 * 2 * P + 64.0


def _ch05_max_chunk(p) -> int:
    P, n, units = _ch05_sizes(p)
    k = len(p["optimizers"])
    # optim.train refuses a call beyond MAX_FLOPS / MAX_BYTES; a chunk of c items makes one call per
    # optimiser of at most ceil(c / k) models (items alternate between the optimisers)
    per_call = min(MAX_FLOPS / (6.0 * p["steps"] * n * P), MAX_BYTES / (4.0 * (6.0 * P + 3.0 * n * units)))
    return max(0, int(per_call)) * k


def _ch05_model_steps(p) -> float:
    return float(p["steps"])


def _ch05_chunk(params: dict, start: int, stop: int, seed: int) -> dict:
    r"""Train items ``start..stop-1``: item :math:`i` uses optimiser ``optimizers[i % k]`` and starts
    from ``net.init(1, seed=item_seed(seed, i))`` (He-normal weights, zero biases, float32), as
    :func:`nnlandscape.landscape.train_models` with :data:`~nnlandscape.landscape.OPTIMIZER_SETTINGS`."""
    W, net, X, Y = _ch05_problem(params["amplitude"], params["n_tent_layers"], params["points_between"])
    opts = params["optimizers"]
    idx = np.arange(start, stop)
    theta0 = np.stack([net.init(1, seed=item_seed(seed, int(i)))[0] for i in idx])
    dead0 = net.forward(theta0, X)[:, :, 0].std(1) < 1e-12  # output constant before the first step
    theta0 = theta0.astype(np.float32)
    res = {"item": idx.astype(np.int64), "optimizer": (idx % len(opts)).astype(np.int8), "dead0": dead0}
    res.update(_train_items(net, X, Y, theta0, idx, opts, None, params["steps"]))
    return res


def _train_items(net, X, Y, theta0, idx, opts, lrs, steps) -> dict:
    """Train the float32 starts ``theta0`` of items ``idx``: item :math:`i` with ``opts[i % k]`` and
    :data:`~nnlandscape.landscape.OPTIMIZER_SETTINGS` (its ``lr`` replaced by ``lrs[i % k]`` unless that
    is ``None``); one :func:`~nnlandscape.optim.train` call per optimiser (models are independent)."""
    from . import landscape, optim

    m = len(idx)
    res = {"loss": np.empty(m), "diverged": np.zeros(m, bool), "converged": np.zeros(m, bool),
           "theta": np.empty_like(theta0)}
    for k, name in enumerate(opts):
        sel = np.flatnonzero(idx % len(opts) == k)
        if sel.size == 0:
            continue
        lr, _, kw = landscape._train_kwargs(name, {} if lrs is None or lrs[k] is None else {"lr": lrs[k]})
        r = optim.train(net, theta0[sel], X, Y, optimizer=name, lr=lr, steps=steps, record_every=steps, **kw)
        res["loss"][sel] = r.loss
        res["diverged"][sel] = r.diverged
        res["converged"][sel] = r.converged
        res["theta"][sel] = r.theta
    return res


register(Experiment(
    name="ch05", description="Gamst & Walker mass training: 5x5 ReLU nets on sawtooth + spline",
    item="networks", paper_items=320_000, paper_chunk=1000, defaults=_CH05_DEFAULTS, check=_ch05_check,
    run_chunk=_ch05_chunk, bytes_per_item=_ch05_bytes, max_chunk=_ch05_max_chunk,
    model_steps_per_item=_ch05_model_steps, report=lambda r: _ch05_report(r)))


# --------------------------------------------------------------------------- ch05: jitter trials
@lru_cache(maxsize=8)
def _ch05_wf(amplitude, n_tent_layers, points_between):
    """The de-symmetrised construction :math:`W_f` (chapter 5's representative, ``ls.desymmetrize``)."""
    from . import landscape

    W, net, X, Y = _ch05_problem(amplitude, n_tent_layers, points_between)
    wf = landscape.desymmetrize(net, W.theta)
    wf.setflags(write=False)
    return wf


_JITTER_DEFAULTS = {"steps": 20_000, "optimizers": ["momentum", "adadelta"], "lr": None, "r_max": 2.0, "tol": 1e-3,
                    "amplitude": 0.5, "n_tent_layers": 4, "points_between": 9}


def _jitter_check(params: dict) -> dict:
    p = _with_defaults("ch05-jitter", params, _JITTER_DEFAULTS)
    p["steps"] = check_int("steps", p["steps"], 1, MAX_STEPS)
    # a name may repeat here, with another step size (the chapter runs the heavy ball at two)
    p["optimizers"] = _check_optimizers(p["optimizers"], repeat=True)
    lr = p["lr"]
    if lr is not None:
        if isinstance(lr, str) or not isinstance(lr, (list, tuple)) or len(lr) != len(p["optimizers"]):
            raise ValueError(f"lr must be None or a list of {len(p['optimizers'])} step sizes (None: the optimiser's "
                             f"default), one per entry of optimizers, got {lr!r}")
        p["lr"] = [None if v is None else check_real("lr", v, 0.0, 1e6, low_open=True) for v in lr]
    pairs = [(o, None if p["lr"] is None else p["lr"][k]) for k, o in enumerate(p["optimizers"])]
    if len(set(pairs)) != len(pairs):
        raise ValueError(f"optimizers and lr must not repeat a setting, got {pairs!r}")
    p["r_max"] = check_real("r_max", p["r_max"], 0.0, 1e6, low_open=True)
    p["tol"] = check_real("tol", p["tol"], 0.0, low_open=True)
    return _check_problem(p)


def _jitter_chunk(params: dict, start: int, stop: int, seed: int) -> dict:
    r"""Jitter trials ``start..stop-1`` of chapter 5's basin experiment
    (:func:`nnlandscape.landscape.basin_experiment`, one trial per item): trial :math:`i` draws its noise
    norm :math:`r_i \sim U[0, r_{\max}]` and then its direction from one generator on
    :func:`item_seed`\ ``(seed, i)``, starts at :math:`W_f + \xi_i` (:func:`~nnlandscape.landscape.jitter`,
    :math:`\lVert\xi_i\rVert = r_i`, :math:`W_f` de-symmetrised) and trains ``steps`` full-batch steps in
    float32 with ``optimizers[i % k]`` (step ``lr[i % k]``, default the optimiser's own). It *returns*
    when its final loss is below ``tol``. Per-item streams and independent models: an item's result
    does not depend on the chunk."""
    W, net, X, Y = _ch05_problem(params["amplitude"], params["n_tent_layers"], params["points_between"])
    wf = _ch05_wf(params["amplitude"], params["n_tent_layers"], params["points_between"])
    from .landscape import _returns, jitter

    idx = np.arange(start, stop)
    radii = np.empty(len(idx))
    theta0 = np.empty((len(idx), wf.size))
    for j, i in enumerate(idx):
        rng = np.random.default_rng(item_seed(seed, int(i)))
        radii[j] = rng.uniform(0.0, params["r_max"])
        theta0[j] = jitter(wf, radii[j:j + 1], seed=rng)[0]
    loss0 = np.array([net.loss(theta0[j], X, Y) for j in range(len(idx))], dtype=float)  # one model at a time
    res = {"item": idx.astype(np.int64), "optimizer": (idx % len(params["optimizers"])).astype(np.int8),
           "radius": radii, "loss0": loss0}
    res.update(_train_items(net, X, Y, theta0.astype(np.float32), idx, params["optimizers"], params["lr"],
                            params["steps"]))
    res["loss"], res["returned"] = _returns(res["loss"], res["diverged"], params["tol"])
    del res["converged"]
    return res


def _jitter_report(result):
    p, d = result.params, result.data
    rows = []
    for k, name in enumerate(p["optimizers"]):
        s = d["optimizer"] == k if result.n_present else np.zeros(0, bool)
        lr = None if p["lr"] is None else p["lr"][k]
        r = d["radius"][s] if s.any() else np.zeros(0)
        ret = d["returned"][s] if s.any() else np.zeros(0, bool)
        small = r < p["r_max"] / 4
        pct = (lambda b: f"{100.0 * float(np.mean(b)):.1f}" if b.size else "–")  # noqa: E731
        rows.append(f"| {name}{'' if lr is None else f', η = {lr:g}'} | {int(s.sum()):,} | {pct(ret)} | "
                    f"{pct(ret[small])} | {int(d['diverged'][s].sum()) if s.any() else 0:,} |")
    table = (f"| optimiser | trials | returned (%) | returned, r < {p['r_max'] / 4:g} (%) | diverged |\n"
             "|---|---|---|---|---|\n" + "\n".join(rows))
    head = (f"{result.n_present:,} of {result.n_items:,} jitter trials of {p['steps']:,} steps, noise norms uniform "
            f"in [0, {p['r_max']:g}]")
    scale = ("the paper's scale" if result.n_items >= 4096 and p["steps"] >= 20_000
             else "smaller than the paper's 4,096 trials of 20,000 steps")
    return dict(head=head, scale=scale, finding=f"A trial returns when its final loss is below {p['tol']:g}.",
                table=table)


register(Experiment(
    name="ch05-jitter", description="Gamst & Walker basin trials: jitter W_f by noise of norm r ~ U[0, 2], retrain",
    item="trials", paper_items=4096, paper_chunk=256, defaults=_JITTER_DEFAULTS, check=_jitter_check,
    run_chunk=_jitter_chunk, bytes_per_item=_ch05_bytes, max_chunk=_ch05_max_chunk,
    model_steps_per_item=_ch05_model_steps, report=_jitter_report))


# --------------------------------------------------------------------------- ch05: NEB batches
_NEB_DEFAULTS = {**_CH05_DEFAULTS, "endpoints": "spline", "n_images": 17, "neb_steps": 1000, "refine": 1,
                 "n_new": 4, "per_segment": 8}
_NEB_ENDPOINTS = ("spline", "alive", "all")


def _neb_check(params: dict) -> dict:
    p = _with_defaults("ch05-neb", params, _NEB_DEFAULTS)
    p.update(_ch05_check({k: p[k] for k in _CH05_DEFAULTS}))
    if p["endpoints"] not in _NEB_ENDPOINTS:
        raise ValueError(f"endpoints={p['endpoints']!r} is not allowed; choose one of "
                         f"{', '.join(map(repr, _NEB_ENDPOINTS))}")
    p["n_images"] = check_int("n_images", p["n_images"], 3, 1000)
    p["neb_steps"] = check_int("neb_steps", p["neb_steps"], 1, MAX_STEPS)
    p["refine"] = check_int("refine", p["refine"], 0, 20)
    p["n_new"] = check_int("n_new", p["n_new"], 1, 100)
    p["per_segment"] = check_int("per_segment", p["per_segment"], 1, 1000)
    return p


def _neb_images(p) -> int:
    return p["n_images"] + p["refine"] * p["n_new"]


def _neb_bytes(p) -> float:
    P, n, units = _ch05_sizes(p)
    m = _neb_images(p)
    # training as ch05; the band: images, gradients, tangents, forces, FIRE velocities (float64), the
    # stored images (float32), and the activations of all images on the training set
    return _ch05_bytes(p) + 8.0 * 6 * m * P + 4.0 * m * P + 8.0 * 3 * m * n * units


def _neb_max_chunk(p) -> int:
    P, n, units = _ch05_sizes(p)
    per_item = 6.0 * n * P * _neb_images(p) * (p["refine"] + 1) * p["neb_steps"]
    return max(0, min(_ch05_max_chunk(p), int(MAX_FLOPS / (6.0 * p["steps"] * n * P + per_item)),
                      int(MAX_BYTES / _neb_bytes(p))))


def _neb_chunk(params: dict, start: int, stop: int, seed: int) -> dict:
    r"""Bands from :math:`W_f` to the networks ``start..stop-1`` of the ``"ch05"`` run with the same seed
    and training parameters (network :math:`i` is bit for bit ``"ch05"``'s item :math:`i`), as chapter
    5 relaxes them: the trained network de-symmetrised (:func:`~nnlandscape.landscape.desymmetrize`),
    its units matched to :math:`W_f` (:func:`~nnlandscape.landscape.match_units`), a band of
    ``n_images`` relaxed ``neb_steps`` FIRE steps with a climbing image, then ``refine`` rounds of
    ``n_new`` images inserted where it changes most, relaxed again
    (:func:`~nnlandscape.landscape.network_band`); its loss read ``per_segment`` times per segment
    (:func:`~nnlandscape.neb.band_profile`). Which networks get a band (``selected``): ``"spline"``,
    those that learnt the spline (loss below the floor :math:`\mathcal L_g`, the chapter's choice);
    ``"alive"``, loss below :math:`0.9\,\mathrm{Var}\,y`; ``"all"``, every network that did not diverge.
    The others have NaN entries. Deterministic given the network: same bits on any worker."""
    from . import landscape, neb

    base = _ch05_chunk({k: params[k] for k in _CH05_DEFAULTS}, start, stop, seed)
    W, net, X, Y = _ch05_problem(params["amplitude"], params["n_tent_layers"], params["points_between"])
    wf = _ch05_wf(params["amplitude"], params["n_tent_layers"], params["points_between"])
    loss = np.where(base["diverged"], np.nan, base["loss"])
    floor, var_y = W.low_frequency_floor(params["points_between"]), float(np.var(Y))
    sel = {"spline": loss < floor, "alive": loss < 0.9 * var_y, "all": np.isfinite(loss)}[params["endpoints"]]
    m, n_img = len(loss), _neb_images(params)
    nan = np.full(m, np.nan)
    res = {"item": base["item"], "optimizer": base["optimizer"], "train_loss": loss, "selected": sel,
           "distance": nan.copy(), "image_max": nan.copy(), "dense_max": nan.copy(), "excess_barrier": nan.copy(),
           "line_barrier": nan.copy(), "path_length": nan.copy(), "max_force": nan.copy(),
           "images": np.full((m, n_img, wf.size), np.nan, np.float32)}
    fun = landscape.energy_function(net, X, Y)
    for j in np.flatnonzero(sel):
        matched = landscape.match_units(net, wf, landscape.desymmetrize(net, base["theta"][j].astype(float)))
        nb = landscape.network_band(net, X, Y, wf, matched, params["n_images"], steps=params["neb_steps"],
                                    refine=params["refine"], n_new=params["n_new"])
        band = nb.band
        prof = neb.band_profile(fun, band.images, params["per_segment"])
        res["distance"][j] = float(np.linalg.norm(matched - wf))
        res["image_max"][j] = float(band.energies.max())
        res["dense_max"][j] = float(prof.e_max)
        res["excess_barrier"][j] = float(prof.e_max - max(band.energies[0], band.energies[-1]))
        res["line_barrier"][j] = nb.line_barrier
        res["path_length"][j] = float(band.path_length())
        res["max_force"][j] = float(band.max_force)
        res["images"][j] = band.images
    return res


def _neb_report(result):
    p, d = result.params, result.data
    n_sel = int(d["selected"].sum()) if result.n_present else 0
    rows = []
    for k, name in enumerate(p["optimizers"]):
        s = (d["optimizer"] == k) & d["selected"] if result.n_present else np.zeros(0, bool)
        q = (lambda x: f"{np.median(x):.3g}" if x.size else "–")  # noqa: E731
        rows.append(f"| {name} | {int(s.sum()):,} | {q(d['excess_barrier'][s]) if s.any() else '–'} | "
                    f"{q(d['line_barrier'][s]) if s.any() else '–'} | {q(d['distance'][s]) if s.any() else '–'} | "
                    f"{q(d['max_force'][s]) if s.any() else '–'} |")
    table = ("| optimiser | bands | median excess barrier (dense) | median straight-line barrier | median distance "
             "to W_f | median final max force |\n|---|---|---|---|---|---|\n" + "\n".join(rows))
    head = (f"{n_sel:,} bands to the networks ({p['endpoints']!r} endpoints) among {result.n_present:,} of "
            f"{result.n_items:,} trained for {p['steps']:,} steps; {_neb_images(p)} images, {p['neb_steps']:,} FIRE "
            "steps per relaxation")
    scale = ("the paper's scale" if n_sel >= 100 and p["steps"] >= 50_000
             else "smaller than the paper's 100 bands to networks trained for 50,000 steps")
    return dict(head=head, scale=scale, finding="", table=table)


register(Experiment(
    name="ch05-neb", description="Gamst & Walker NEB batches: bands from W_f to trained networks (chapter 5's recipe)",
    item="networks", paper_items=1000, paper_chunk=8, defaults=_NEB_DEFAULTS, check=_neb_check,
    run_chunk=_neb_chunk, bytes_per_item=_neb_bytes, max_chunk=_neb_max_chunk,
    model_steps_per_item=lambda p: float(p["steps"] + _neb_images(p) * (p["refine"] + 1) * p["neb_steps"]),
    report=_neb_report))


# --------------------------------------------------------------------------- ch01: Monte Carlo over networks
_CH01_DEFAULTS = {"activation": "tanh", "sigma_w2": 1.0, "N": 200, "width_ratio": 64,
                  "temperatures": [float(t) for t in np.geomspace(0.12, 1.5, 6)], "n_chains": 2,
                  "n_steps": 1600, "n_burn": 400, "record_every": 10, "swap_every": 5, "offset_points": 4096}


def _ch01_check(params: dict) -> dict:
    from .activations import get_activation
    from .sphere_mc import _check_temperatures

    p = _with_defaults("ch01", params, _CH01_DEFAULTS)
    if not isinstance(p["activation"], str):
        raise ValueError(f"activation must be a registry name (str), got {p['activation']!r}")
    get_activation(p["activation"])
    p["sigma_w2"] = float(check_real("sigma_w2", p["sigma_w2"], 0.0, low_open=True))
    p["N"] = check_int("N", p["N"], 2, 10**5)
    p["width_ratio"] = check_int("width_ratio", p["width_ratio"], 1, 10**4)
    p["temperatures"] = [float(t) for t in _check_temperatures(p["temperatures"])]
    p["n_chains"] = check_int("n_chains", p["n_chains"], 2, 64)
    p["n_steps"] = check_int("n_steps", p["n_steps"], 4, MAX_STEPS)
    p["n_burn"] = check_int("n_burn", p["n_burn"], 0, MAX_STEPS)
    p["record_every"] = check_int("record_every", p["record_every"], 1, p["n_steps"])
    p["swap_every"] = check_int("swap_every", p["swap_every"], 0, MAX_STEPS)
    p["offset_points"] = check_int("offset_points", p["offset_points"], 4, 10**7)
    return p


def _ch01_flops(p) -> tuple:
    n = p["N"] * p["width_ratio"]
    fpp = 2.0 * (p["N"] * n + n)  # one forward pass of one network (MLPBatch.flops_per_point)
    chains = len(p["temperatures"]) * p["n_chains"]
    return 3.0 * (p["n_burn"] + p["n_steps"]) * chains * fpp, 2.0 * p["offset_points"] * fpp


def _ch01_bytes(p) -> float:
    n = p["N"] * p["width_ratio"]
    chains = len(p["temperatures"]) * p["n_chains"]
    return 8.0 * (p["N"] * n + 2 * n) + 8.0 * chains * (p["N"] + 4 * n)


def _ch01_max_chunk(p) -> int:
    mc, mean = _ch01_flops(p)
    n = p["N"] * p["width_ratio"]
    return max(0, int(min(MAX_FLOPS / mc, MAX_FLOPS / mean, MAX_BYTES / (8.0 * (p["N"] * n + 2 * n)),
                          MAX_BYTES / _ch01_bytes(p))))


def _ch01_chunk(params: dict, start: int, stop: int, seed: int) -> dict:
    r"""Metropolis on the sphere (with replica exchange) for networks ``start..stop-1`` of the depth-1
    family :class:`~nnlandscape.input_landscape.MLPBatch`\ ``(seed, first_index=start)`` (network
    :math:`i` from :func:`item_seed`\ ``(seed, i)``, whatever the chunk). The proposals and the
    sphere-mean estimate draw from the chunk's stream ``SeedSequence(seed, spawn_key=(start, stop))``,
    so they depend on the chunk boundaries (``n_items``, ``chunk_size``; never the workers)."""
    from .input_landscape import MLPBatch
    from .sphere_mc import metropolis_sphere

    p = params
    nets = MLPBatch(p["activation"], 1, p["width_ratio"] * p["N"], p["N"], n_networks=stop - start,
                    sigma_w2=p["sigma_w2"], seed=seed, first_index=start)
    mean_ss, mc_ss = np.random.SeedSequence(seed, spawn_key=(start, stop)).spawn(2)
    offset, _ = nets.sphere_mean(p["offset_points"], seed=mean_ss)
    r = metropolis_sphere(nets, p["temperatures"], n_chains=p["n_chains"], n_steps=p["n_steps"], n_burn=p["n_burn"],
                          record_every=p["record_every"], offset=offset, swap_every=p["swap_every"], seed=mc_ss)
    S = r.energies.shape[0]
    e = r.energies
    return {"item": np.arange(start, stop, dtype=np.int64), "offset": offset,
            "energy": r.energy_by_network(), "overlap": r.overlap_by_network(),
            "abs_overlap": np.abs(r.overlaps).mean(axis=(0, 3)), "acceptance": r.acceptance,
            "drift": e[S // 2:].mean(axis=(0, 3)) - e[: S // 2].mean(axis=(0, 3))}


register(Experiment(
    name="ch01", description="Metropolis on the sphere over random depth-1 networks of width n = ratio * N",
    item="networks", paper_items=256, paper_chunk=8, defaults=_CH01_DEFAULTS, check=_ch01_check,
    run_chunk=_ch01_chunk, bytes_per_item=_ch01_bytes, max_chunk=_ch01_max_chunk,
    model_steps_per_item=lambda p: float((p["n_burn"] + p["n_steps"]) * len(p["temperatures"]) * p["n_chains"]),
    report=lambda r: _ch01_report(r), default_scale="a larger scale (by default N = 200, n = 64N, 256 networks)"))


# --------------------------------------------------------------------------- ch04: HMC chains
_CH04_DEFAULTS = {"N": 1000, "K": 50, "alpha": 0.3, "kind": "random", "latent_dim": None, "data_seed": 1,
                  "zeta": 5.0, "lam": 1e-7,
                  "temperatures": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1], "gd_lr": 0.5, "gd_steps": 1500,
                  "step": 0.03, "n_leapfrog": 30, "n_moves": 2000, "n_burn": 200}


def _ch04_check(params: dict) -> dict:
    from .committee import _check_arch

    p = _with_defaults("ch04", params, _CH04_DEFAULTS)
    p["N"], p["K"] = (int(v) for v in _check_arch(p["N"], p["K"]))
    p["alpha"] = check_real("alpha", p["alpha"], 0.0, 100.0, low_open=True)
    if p["kind"] not in ("random", "teacher", "hidden_manifold"):
        raise ValueError(f"kind={p['kind']!r} is not allowed; choose 'random', 'teacher' or 'hidden_manifold'")
    if p["kind"] == "hidden_manifold":
        # committee_data's default latent dimension, D = max(1, N // 20), written out so the manifest says it
        D = max(1, p["N"] // 20) if p["latent_dim"] is None else p["latent_dim"]
        p["latent_dim"] = check_int("latent_dim", D, 1, p["N"])
    elif p["latent_dim"] is not None:
        raise ValueError(f"latent_dim={p['latent_dim']!r} applies only to kind='hidden_manifold' (got kind="
                         f"{p['kind']!r}); leave it None")
    p["data_seed"] = check_int("data_seed", p["data_seed"], 0, 2**63 - 1)
    p["zeta"] = check_real("zeta", p["zeta"], 0.0, low_open=True)
    p["lam"] = check_real("lam", p["lam"], 0.0)
    T = p["temperatures"]
    if isinstance(T, str) or not isinstance(T, (list, tuple)) or not T:
        raise ValueError(f"temperatures must be a non-empty list of positive numbers, got {T!r}")
    p["temperatures"] = [check_real("temperatures", t, 0.0, low_open=True) for t in T]
    p["gd_lr"] = check_real("gd_lr", p["gd_lr"], 0.0, low_open=True)
    p["gd_steps"] = check_int("gd_steps", p["gd_steps"], 1, MAX_STEPS)
    p["step"] = check_real("step", p["step"], 0.0, low_open=True)
    p["n_leapfrog"] = check_int("n_leapfrog", p["n_leapfrog"], 1, 10**4)
    p["n_moves"] = check_int("n_moves", p["n_moves"], 2, MAX_STEPS)
    p["n_burn"] = check_int("n_burn", p["n_burn"], 0, MAX_STEPS)
    return p


@lru_cache(maxsize=4)
def _ch04_model(N, K, alpha, kind, data_seed, zeta, lam, latent_dim=None):
    from .committee import TreeCommittee, committee_data

    X, y = committee_data(N, K, alpha, kind=kind, seed=data_seed, latent_dim=latent_dim)
    return TreeCommittee(X, y, K, zeta=zeta, lam=lam)


def _ch04_cost(p):
    P = max(1, round(p["alpha"] * p["N"]))
    grad = 6.0 * P * p["N"]  # energy and gradient of one chain
    return p["gd_steps"] * grad + (p["n_burn"] + p["n_moves"]) * p["n_leapfrog"] * grad


def _ch04_bytes(p) -> float:
    P = max(1, round(p["alpha"] * p["N"]))
    # records (energies and dH per move, one kept sample), state, momenta, gradients, per-pattern temporaries
    return 8.0 * (2 * p["n_moves"] + 10 * p["N"] + 4 * P)


def _ch04_max_chunk(p) -> int:
    # sampling.hmc refuses records beyond MAX_SIZE floats (n_moves * chains * (N + 2)), thinned or not
    return max(0, int(min(MAX_FLOPS / _ch04_cost(p), MAX_BYTES / _ch04_bytes(p), MAX_SIZE / (p["n_moves"] * (p["N"] + 2)))))


def _ch04_chunk(params: dict, start: int, stop: int, seed: int) -> dict:
    r"""Chains ``start..stop-1`` of chapter 4's thermodynamics on the tree committee machine. Chain
    :math:`i` runs at ``temperatures[i % n_T]`` from the gradient-descent solution number
    :math:`s = \lfloor i / n_T\rfloor`, whose random start is drawn from :func:`item_seed`\ ``(seed, s)``
    (so the chains at the temperatures of one start share it, as in the chapter). Geodesic HMC on
    the product of ``K`` spheres; its momenta and tests draw from the chunk's stream
    ``SeedSequence(seed, spawn_key=(start, stop))`` (same bits for any number of workers at a fixed
    ``chunk_size``)."""
    p = params
    mm = _ch04_model(p["N"], p["K"], p["alpha"], p["kind"], p["data_seed"], p["zeta"], p["lam"], p["latent_dim"])
    nT = len(p["temperatures"])
    idx = np.arange(start, stop)
    starts = idx // nT
    w0 = np.stack([np.random.default_rng(item_seed(seed, int(s))).standard_normal(p["N"])
                   for s in starts])
    w_gd = np.concatenate([mm.descend(w0[j:j + 1], lr=p["gd_lr"], n_steps=p["gd_steps"], sphere=True)
                           for j in range(len(idx))])  # one row at a time: each start's bits do not depend on the chunk
    T = np.asarray(p["temperatures"])[idx % nT]
    from .sampling import hmc

    r = hmc(mm, w_gd, T=T, step=p["step"], n_leapfrog=p["n_leapfrog"], n_moves=p["n_moves"], n_burn=p["n_burn"],
            thin=p["n_moves"], sphere=True, blocks=p["K"], seed=np.random.SeedSequence(seed, spawn_key=(start, stop)))
    half = r.energies.shape[0] // 2
    return {"item": idx.astype(np.int64), "start": starts.astype(np.int64), "T": T,
            "gd_train_error": mm.train_error(w_gd), "train_error": mm.train_error(r.final),
            "energy": r.energies[half:].mean(0), "acceptance": r.acceptance, "step": r.step,
            "q_gd": np.einsum("ci,ci->c", r.final, w_gd) / p["N"], "final": r.final.astype(np.float32)}


register(Experiment(
    name="ch04", description="HMC chains on the tree committee machine (N = 1000, K = 50) from GD solutions",
    item="chains", paper_items=50 * 6, paper_chunk=12, defaults=_CH04_DEFAULTS, check=_ch04_check,
    run_chunk=_ch04_chunk, bytes_per_item=_ch04_bytes, max_chunk=_ch04_max_chunk,
    model_steps_per_item=lambda p: float(p["gd_steps"] + (p["n_burn"] + p["n_moves"]) * p["n_leapfrog"]),
    report=lambda r: _ch04_report(r)))


# --------------------------------------------------------------------------- explorer grids
#: largest encoded result of one grid point, in characters of JSON (about the text of
#: :data:`nnlandscape.explore.MAX_VALUES` numbers, the most a static explorer holds in all)
GRID_POINT_CHARS = 24 * 600_000
_GRID_DEFAULTS = {"function": None, "controls": None, "fixed": {}, "seed_arg": None, "max_point_chars": 10**6}


def _grid_import(spec: str):
    import importlib

    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise ValueError(f"function={spec!r} must name an importable function as 'package.module:name' "
                         "(e.g. 'nnlandscape.kernels:covariance')")
    mod, _, qual = spec.partition(":")
    try:
        obj = importlib.import_module(mod)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"function={spec!r} cannot be imported ({type(exc).__name__}: {exc})") from None
    if not callable(obj):
        raise ValueError(f"function={spec!r} is not callable")
    return obj


def _grid_check(params: dict) -> dict:
    p = _with_defaults("grid", params, _GRID_DEFAULTS)
    _grid_import(p["function"])
    c = p["controls"]
    if isinstance(c, (str, dict)) or not isinstance(c, (list, tuple)) or not c:
        raise ValueError("controls must be a non-empty list of [name, [value, ...]] pairs (a list, not a dict: the "
                         f"order of the controls is the order of the grid), got {c!r}")
    controls = []
    for pair in c:
        if isinstance(pair, str) or not isinstance(pair, (list, tuple)) or len(pair) != 2 \
                or not isinstance(pair[0], str) or not pair[0]:
            raise ValueError(f"controls: each entry must be a pair [name, [value, ...]], got {pair!r}")
        name, values = pair
        if isinstance(values, np.ndarray) and values.ndim == 1:
            values = values.tolist()
        if isinstance(values, (str, dict)) or not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"controls: the values of {name!r} must be a non-empty list, got {values!r}")
        controls.append([name, [v.item() if isinstance(v, np.generic) else v for v in values]])
    names = [n for n, _ in controls]
    if len(set(names)) != len(names):
        raise ValueError(f"controls: names must be distinct, got {names}")
    fixed = p["fixed"]
    if not isinstance(fixed, dict) or not all(isinstance(k, str) for k in fixed):
        raise ValueError(f"fixed must be a dict of keyword arguments (str keys), got {fixed!r}")
    clash = sorted(set(fixed) & set(names))
    if clash:
        raise ValueError(f"fixed: {clash} are also controls; name each argument once")
    if p["seed_arg"] is not None and (not isinstance(p["seed_arg"], str) or p["seed_arg"] in set(names) | set(fixed)):
        raise ValueError(f"seed_arg must be None or the name of one more keyword argument (not a control or a fixed "
                         f"argument), got {p['seed_arg']!r}")
    n = 1
    for _, values in controls:
        n *= len(values)
    if n > MAX_ITEMS:
        raise ValueError(f"controls: a grid of {n} points exceeds MAX_ITEMS={MAX_ITEMS}")
    p["max_point_chars"] = check_int("max_point_chars", p["max_point_chars"], 16, GRID_POINT_CHARS)
    p["controls"], p["fixed"] = controls, dict(fixed)
    try:  # the manifest stores the parameters as JSON: they must survive the round trip unchanged
        same = json.loads(json.dumps(p)) == p
    except (TypeError, ValueError):
        same = False
    if not same:
        raise ValueError("controls and fixed must hold JSON values only (numbers, strings, booleans, None, lists, "
                         "dicts with str keys): they are written to the manifest")
    return p


def _grid_shape(p) -> tuple:
    return tuple(len(values) for _, values in p["controls"])


def _jsonable(v, where):
    """``v`` as JSON values; numpy arrays tagged ``{"__ndarray__": [...], "dtype": ..., "shape": ...}``."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        if v.dtype.kind not in "biuf":
            raise ValueError(f"{where}: arrays of dtype {v.dtype} cannot be stored (numbers and booleans only)")
        return {"__ndarray__": v.ravel().tolist(), "dtype": v.dtype.str, "shape": list(v.shape)}
    if isinstance(v, dict):
        if not all(isinstance(k, str) for k in v):
            raise ValueError(f"{where}: dicts must have str keys")
        return {k: _jsonable(x, where) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x, where) for x in v]
    if hasattr(v, "to_plotly_json"):  # a plotly trace: its dict, with its type
        d = dict(v.to_plotly_json())
        return _jsonable(d, where)
    raise ValueError(f"{where}: a {type(v).__name__} cannot be stored; return numbers, strings, lists, dicts, numpy "
                     "arrays or plotly traces")


def _unjson(v):
    if isinstance(v, dict):
        if "__ndarray__" in v and set(v) == {"__ndarray__", "dtype", "shape"}:
            return np.array(v["__ndarray__"], dtype=np.dtype(v["dtype"])).reshape(v["shape"])
        return {k: _unjson(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_unjson(x) for x in v]
    return v


def _grid_chunk(params: dict, start: int, stop: int, seed: int) -> dict:
    r"""Grid points ``start..stop-1``: point :math:`i` is the multi-index ``np.unravel_index(i, shape)``
    over the controls (C order: the last control fastest, as :class:`nnlandscape.explore.StaticExplorer`
    numbers its grid); it calls ``function(**fixed, **{control: value}, [seed_arg: seed])`` and stores the
    result as JSON text (floats written exactly: ``repr`` round-trips)."""
    fn = _grid_import(params["function"])
    shape = _grid_shape(params)
    idx = np.arange(start, stop)
    multi = np.stack(np.unravel_index(idx, shape), axis=1).astype(np.int64)
    texts = []
    for row in multi:
        kw = dict(params["fixed"])
        kw.update({name: values[int(j)] for (name, values), j in zip(params["controls"], row)})
        if params["seed_arg"] is not None:
            kw[params["seed_arg"]] = seed
        where = f"{params['function']} at {kw}"
        text = json.dumps(_jsonable(fn(**kw), where), allow_nan=True, separators=(",", ":"))
        if len(text) > params["max_point_chars"]:
            raise ValueError(f"{where}: the result is {len(text):,} characters of JSON, beyond max_point_chars="
                             f"{params['max_point_chars']:,} (at most GRID_POINT_CHARS={GRID_POINT_CHARS:,}); raise "
                             "it (a smaller chunk_size then fits the budget) or coarsen the result")
        texts.append(text)
    return {"item": idx.astype(np.int64), "index": multi, "value": np.array(texts, dtype=str)}


def grid_values(result: "ScaleResult") -> dict:
    """The results of a ``"grid"`` run as ``{(value_1, ..., value_k): result}`` over the grid points present,
    keyed by the control values in the order of ``controls``; numpy arrays come back as numpy arrays
    (same dtype, same values), everything else as JSON values (tuples as lists)."""
    check_instance("result", result, ScaleResult)
    if result.experiment != "grid":
        raise ValueError(f"result must be a grid result, got experiment {result.experiment!r}")
    controls = result.params["controls"]
    out = {}
    for row, text in zip(result.data.get("index", np.zeros((0, len(controls)), np.int64)),
                         result.data.get("value", [])):
        key = tuple(values[int(j)] for (_, values), j in zip(controls, row))
        out[key] = _unjson(json.loads(str(text)))
    return out


def grid_function(result: "ScaleResult"):
    """A function ``f(**controls) -> result`` that looks the precomputed results of a ``"grid"`` run up
    (values matched as :func:`nnlandscape.explore.slider` matches a default: equal, or ``math.isclose``
    for numbers), so that ``explore(grid_function(r), [slider(...), ...])`` draws a static explorer from
    a results folder without calling the function again. A grid point that is absent (a partial run)
    or a value off the grid is a ``ValueError``."""
    from .explore import _index_of

    table = grid_values(result)
    controls = [(name, tuple(values)) for name, values in result.params["controls"]]
    names = [n for n, _ in controls]

    def lookup(**params):
        if set(params) != set(names):
            raise ValueError(f"params must name every control exactly: expected {sorted(names)}, got {sorted(params)}")
        key = tuple(values[_index_of(name, values, params[name])] for name, values in controls)
        if key not in table:
            raise ValueError(f"the grid point {dict(zip(names, key))} is not among the {len(table)} present in the "
                             "results (a partial run?)")
        return table[key]

    lookup.__name__ = f"grid_function[{result.params['function']}]"
    return lookup


register(Experiment(
    name="grid", description="an explorer's function evaluated over the grid of its controls (one item a point)",
    item="grid points", paper_items=1, paper_chunk=16, defaults=_GRID_DEFAULTS, check=_grid_check,
    run_chunk=_grid_chunk, bytes_per_item=lambda p: 8.0 * p["max_point_chars"],  # str + numpy's 4-byte characters
    max_chunk=lambda p: int(MAX_BYTES // (8.0 * p["max_point_chars"])), model_steps_per_item=lambda p: 1.0,
    n_items_of=lambda p: int(np.prod(_grid_shape(p))), default_scale="the grid its parameters name"))


def ch05_summary(result: "ScaleResult") -> dict:
    r"""Per optimiser: networks present, best loss, percentages below the spline floor
    :math:`\mathcal L_g`, below :data:`~nnlandscape.landscape.GLOBAL_TOL`, dead (loss
    :math:`\ge 0.9\,\mathrm{Var}\,y`), dead at initialisation, and the diverged count; plus totals."""
    from . import landscape

    check_instance("result", result, ScaleResult)
    if result.experiment != "ch05":
        raise ValueError(f"result must be a ch05 result, got experiment {result.experiment!r}")
    p = result.params
    W, net, X, Y = _ch05_problem(p["amplitude"], p["n_tent_layers"], p["points_between"])
    floor, var_y = W.low_frequency_floor(p["points_between"]), float(np.var(Y))
    d = result.data
    out = {"n": int(result.n_present), "n_items": result.n_items, "steps": p["steps"],
           "n_global": int(np.sum(d["loss"] < landscape.GLOBAL_TOL)) if result.n_present else 0, "per_optimizer": {}}
    for k, name in enumerate(p["optimizers"]):
        s = d["optimizer"] == k if result.n_present else np.zeros(0, bool)
        loss = np.where(d["diverged"][s], np.nan, d["loss"][s]) if s.any() else np.zeros(0)
        pct = (lambda b: 100.0 * float(np.mean(b)) if b.size else float("nan"))  # noqa: E731
        out["per_optimizer"][name] = {
            "n": int(s.sum()), "best": float(np.nanmin(loss)) if np.isfinite(loss).any() else float("nan"),
            "below_floor_pct": pct(loss < floor), "global_pct": pct(loss < landscape.GLOBAL_TOL),
            "dead_pct": pct(~(loss < 0.9 * var_y)), "dead0_pct": pct(d["dead0"][s]) if s.any() else float("nan"),
            "diverged": int(d["diverged"][s].sum()) if s.any() else 0}
    return out


def _ch05_report(result) -> dict:
    from scipy import stats

    from . import landscape

    s = ch05_summary(result)
    rows = []
    for name, v in s["per_optimizer"].items():
        rows.append(f"| {name} | {v['n']:,} | {v['best']:.3g} | {v['below_floor_pct']:.2f} | {v['dead_pct']:.2f} | "
                    f"{v['diverged']:,} |")
    n, k = s["n"], s["n_global"]
    upper = float(stats.beta.ppf(0.975, k + 1, n - k)) if n > k else 1.0
    exp = EXPERIMENTS["ch05"]
    scale = ("the paper's scale" if s["n_items"] >= exp.paper_items and s["steps"] >= exp.defaults["steps"]
             else f"smaller than the paper's {exp.paper_items:,} networks of {exp.defaults['steps']:,} steps")
    return dict(head=f"{n:,} of {s['n_items']:,} networks of {s['steps']:,} steps", scale=scale,
                finding=f"Of these {n:,} networks, **{k:,} reached the global minimum** (loss below "
                        f"{landscape.GLOBAL_TOL:g}; 95 % upper bound on the rate {100 * upper:.2g} %).",
                table="| optimiser | networks | best loss | below the floor (%) | died (%) | diverged |\n"
                      "|---|---|---|---|---|---|\n" + "\n".join(rows))


def scale_markdown(name: str, result, *, book: str) -> str:
    r"""What a chapter says about the scale it shows, for experiment ``name``.

    ``result is None`` (no results folder): one sentence, the book's own scale ``book`` (e.g. "512
    networks of 1,500 steps") and how to get the paper's (``python -m nnlandscape.scale NAME``, read
    from :func:`results_dir`; ``Experiment.default_scale`` says what the command's defaults are).
    Otherwise: which run is shown (partial or complete, items present,
    seed, against the paper's scale), that the figures stay at the book's scale, and the experiment's
    own summary (``Experiment.report``: a sentence and a markdown table).
    """
    exp = _experiment(name, "name")
    if not isinstance(book, str) or not book.strip():
        raise ValueError(f"book must be a non-empty description of the book's own scale, got {book!r}")
    if result is None:
        return (f"**Scale shown: the book's own** ({book}); `python -m nnlandscape.scale {exp.name}` runs it at "
                f"{exp.default_scale}, and this page reads its results folder (`results/{exp.name}` at the top of the "
                f"book's sources, or `$NNLANDSCAPE_RESULTS/{exp.name}`) when present.")
    check_instance("result", result, ScaleResult)
    if result.experiment != exp.name:
        raise ValueError(f"result must be a {exp.name} result, got experiment {result.experiment!r}")
    part = "" if result.complete else f" (a partial run: {len(result.chunks_done)} of {result.n_chunks} chunks present)"
    rep = (exp.report(result) if exp.report is not None else
           dict(head=f"{result.n_present:,} of {result.n_items:,} {exp.item}", scale="", finding="", table=""))
    scale = f"; {rep['scale']}" if rep["scale"] else ""
    text = (f"**Scale shown: a separate run**{part}, {rep['head']} (seed {result.seed}{scale}); the figures above "
            f"stay at the book's scale ({book}).")
    if rep["finding"]:
        text += " " + rep["finding"]
    if rep["table"]:
        text += "\n\n" + rep["table"]
    return text


def ch05_markdown(result, *, book_networks: int, book_steps: int) -> str:
    r"""What chapter 5 says about its scale (:func:`scale_markdown` of ``"ch05"``): the book's own
    (``result is None``) or a table of the paper-scale run in ``result`` (per optimiser: networks,
    best loss, % below the floor, % dead, and the networks below
    :data:`~nnlandscape.landscape.GLOBAL_TOL` with the upper end of the two-sided 95 %
    Clopper-Pearson interval of that fraction)."""
    book_networks = check_int("book_networks", book_networks, 1)
    book_steps = check_int("book_steps", book_steps, 1)
    return scale_markdown("ch05", result, book=f"{book_networks:,} networks of {book_steps:,} steps")


def _ch01_report(result) -> dict:
    r"""Per temperature over the networks present: energy and mean overlap (mean ± s.e.), the
    infinite-width replica-symmetric energy (:func:`nnlandscape.replica.rs_solution`; exact above
    :math:`T_{RSB}`), acceptance, and the mean drift between the halves of the recording in s.e."""
    from . import replica
    from .replica import Mixture

    p, d, n = result.params, result.data, result.n_present
    T = np.asarray(p["temperatures"], float)
    mix = Mixture.from_network(p["activation"], 1, sigma_w2=p["sigma_w2"])
    e_rs = np.asarray(replica.rs_solution(mix, T).energy, float)
    Tb = float(replica.rs_breaking_temperature(mix))

    def ms(x):
        if n == 0:
            return np.full(T.size, np.nan), np.full(T.size, np.nan)
        return x.mean(0), (x.std(0, ddof=1) / np.sqrt(n) if n > 1 else np.full(T.size, np.nan))

    (em, es), (qm, qs), (dm, ds) = ms(d.get("energy")), ms(d.get("overlap")), ms(d.get("drift"))
    acc = d["acceptance"].mean(0) if n else np.full(T.size, np.nan)
    acc = acc if acc.ndim == 1 and acc.size == T.size else np.full(T.size, np.nan)
    rows = [f"| {t:.3g} | {a:+.4f} ± {b:.4f} | {r:+.4f}{'' if t > Tb else ' (below T_RSB)'} | {c:.4f} ± {e:.4f} | "
            f"{g:.2f} | {(h / k if k > 0 else float('nan')):+.1f} |"
            for t, a, b, r, c, e, g, h, k in zip(T, em, es, e_rs, qm, qs, acc, dm, ds)]
    n_nets = p["width_ratio"] * p["N"]
    exp = EXPERIMENTS["ch01"]
    big = (result.n_items >= exp.paper_items and p["N"] >= exp.defaults["N"]
           and p["width_ratio"] >= exp.defaults["width_ratio"])
    return dict(head=f"{n:,} of {result.n_items:,} {p['activation']} networks (σ_w² = {p['sigma_w2']:g}) with N = {p['N']} "
                     f"inputs and width n = {n_nets:,} = {p['width_ratio']}N, {p['n_steps']:,} recorded steps",
                scale=("the size the command runs by default" if big else
                       f"smaller than the command's default {exp.paper_items} networks at N = {exp.defaults['N']}, "
                       f"n = {exp.defaults['width_ratio']}N"),
                finding="Error bars are one standard error over networks; " + (
                    f"the RS energy is exact above T_RSB = {Tb:.4g} for this network." if Tb > 0 else
                    "the RS energy is exact at every temperature for this network."),
                table="| T | energy | RS energy (n → ∞) | mean overlap | acceptance | drift (s.e.) |\n"
                      "|---|---|---|---|---|---|\n" + "\n".join(rows))


def _ch04_report(result) -> dict:
    r"""Per temperature over the chains present: final training error and energy (mean ± s.e.),
    acceptance, and the overlap of the final sample with the chain's gradient-descent start."""
    p, d, n = result.params, result.data, result.n_present
    rows = []
    for t in p["temperatures"]:
        s = np.isclose(d["T"], t) if n else np.zeros(0, bool)
        k = int(s.sum())

        def ms(x):
            if k == 0:
                return "–"
            se = x[s].std(ddof=1) / np.sqrt(k) if k > 1 else float("nan")
            return f"{x[s].mean():.4g} ± {se:.2g}"

        rows.append(f"| {t:.3g} | {k:,} | {ms(d['train_error']) if k else '–'} | {ms(d['energy']) if k else '–'} | "
                    f"{d['acceptance'][s].mean() if k else float('nan'):.2f} | {ms(d['q_gd']) if k else '–'} |")
    n_starts = len(np.unique(d["start"])) if n else 0
    solved = float(np.mean(d["gd_train_error"] == 0)) if n else float("nan")
    exp = EXPERIMENTS["ch04"]
    big = result.n_items >= exp.paper_items and p["N"] >= 1000 and p["K"] >= 50
    data = {"random": "random labels", "teacher": "teacher labels",
            "hidden_manifold": f"hidden-manifold data, D = {p['latent_dim']}"}[p["kind"]]
    return dict(head=f"{n:,} of {result.n_items:,} chains of {p['n_moves']:,} moves from {n_starts:,} gradient-descent "
                     f"solutions, N = {p['N']}, K = {p['K']}, α = {p['alpha']:g} ({data})",
                scale=("the paper's network size" if big else "smaller than the paper's N = 1000, K = 50"),
                finding=f"{100 * solved:.0f} % of the chains start from a descent with training error 0.",
                table="| T | chains | final training error | energy (2nd half) | acceptance | overlap with the start |\n"
                      "|---|---|---|---|---|---|\n" + "\n".join(rows))


# --------------------------------------------------------------------------- results
@dataclass
class ScaleResult:
    """The chunks of a run that are present, assembled in item order.

    ``data[name]`` has one entry per item present (``items`` lists them); ``chunks_done`` of
    ``n_chunks`` chunks are present; ``complete`` when all are. ``manifest`` is the run's.
    """

    experiment: str
    params: dict
    seed: int
    n_items: int
    chunk_size: int
    n_chunks: int
    chunks_done: list
    items: np.ndarray
    data: dict = field(repr=False)
    manifest: dict = field(repr=False)

    @property
    def n_present(self) -> int:
        return int(self.items.size)

    @property
    def complete(self) -> bool:
        return len(self.chunks_done) == self.n_chunks

    def describe(self) -> str:
        """One line: how many chunks and items of how many are present."""
        item = EXPERIMENTS[self.experiment].item if self.experiment in EXPERIMENTS else "items"
        return (f"{self.experiment}: {len(self.chunks_done)} of {self.n_chunks} chunks, {self.n_present:,} of "
                f"{self.n_items:,} {item} (seed {self.seed}, chunk size {self.chunk_size})")


def _assemble(manifest: dict, parts: dict) -> ScaleResult:
    done = sorted(parts)
    data = {}
    if done:
        for key in parts[done[0]]:
            data[key] = np.concatenate([np.asarray(parts[k][key]) for k in done])
    bounds = chunk_bounds(manifest["n_items"], manifest["chunk_size"])
    items = (np.concatenate([np.arange(*bounds[k]) for k in done]) if done else np.zeros(0, np.int64))
    return ScaleResult(experiment=manifest["experiment"], params=manifest["params"], seed=manifest["seed"],
                       n_items=manifest["n_items"], chunk_size=manifest["chunk_size"], n_chunks=len(bounds),
                       chunks_done=done, items=items, data=data, manifest=manifest)


class _Store:
    """A results folder: ``manifest.json`` and one ``chunk-KKKKKK.npz`` per finished chunk."""

    def __init__(self, out, manifest=None):
        if not isinstance(out, (str, os.PathLike)):
            raise TypeError(f"out must be None or a folder path (str or os.PathLike), got {type(out).__name__}")
        self.path = Path(out)
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"out={str(out)!r} exists and is not a folder")
        self.manifest = manifest
        existing = self.read_manifest()
        if manifest is not None and existing is not None:
            diff = sorted(k for k in set(existing) | set(manifest) if k != "created" and existing.get(k) != manifest.get(k))
            if diff:
                show = "; ".join(f"{k}: folder has {existing.get(k)!r}, this run {manifest.get(k)!r}" for k in diff)
                raise ValueError(f"out={str(out)!r} holds a different run ({show}); use another folder "
                                 "or the folder's own settings to resume it")
        elif manifest is None and existing is None:
            raise ValueError(f"out={str(out)!r} holds no {_MANIFEST}: not a results folder of nnlandscape.scale")
        if manifest is None:
            self.manifest = existing
        elif existing is not None:
            self.manifest = existing  # keep its creation time

    def read_manifest(self):
        f = self.path / _MANIFEST
        if not f.exists():
            return None
        try:
            return json.loads(f.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"out: {f} is not a readable manifest ({exc})") from None

    def create(self):
        self.path.mkdir(parents=True, exist_ok=True)
        if not (self.path / _MANIFEST).exists():
            self._atomic(_MANIFEST, lambda fh: fh.write(json.dumps(self.manifest, indent=1, sort_keys=True).encode()))

    def _atomic(self, name, write):
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path / name)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @staticmethod
    def chunk_name(k):
        return f"chunk-{k:06d}.npz"

    def done(self):
        n = self.manifest["n_chunks"]
        out = []
        for f in self.path.glob("chunk-*.npz"):
            try:
                k = int(f.stem.split("-")[1])
            except ValueError:
                continue
            if 0 <= k < n:
                out.append(k)
        return sorted(out)

    def save(self, k, start, stop, arrays):
        self._atomic(self.chunk_name(k), lambda fh: np.savez(fh, _start=start, _stop=stop, **arrays))

    def read(self, k, fields=None):
        with np.load(self.path / self.chunk_name(k)) as z:
            return {key: z[key] for key in z.files if not key.startswith("_") and (fields is None or key in fields)}


# --------------------------------------------------------------------------- running
def _connect(client):
    """``(client, owned)``: None, a ``distributed.Client``, or a scheduler address (connected here)."""
    if client is None:
        return None, False
    from distributed import Client

    if isinstance(client, Client):
        if client.status not in ("running", "connecting", "newly-created"):
            raise ValueError(f"client is not connected (status {client.status!r})")
        return client, False
    if not isinstance(client, str):
        raise TypeError(f"client must be None, a distributed.Client or a scheduler address (str), got "
                        f"{type(client).__name__}")
    try:
        c = Client(client, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ValueError(f"client: the scheduler at {client!r} is unreachable (no answer within "
                         f"{CONNECT_TIMEOUT:g} s: {type(exc).__name__}); start one with `dask scheduler` "
                         "and workers with `dask worker ADDRESS --nthreads 1`") from None
    return c, True


def _check_workers(client, exp, params, chunk_size):
    info = client.scheduler_info()
    workers = info.get("workers", {})
    if not workers:
        raise ValueError("client: the scheduler has no workers; start some with `dask worker ADDRESS --nthreads 1`")
    limits = [w.get("memory_limit") or 0 for w in workers.values()]
    limits = [lim for lim in limits if lim > 0]
    if limits:
        per_item = exp.bytes_per_item(params)
        largest = int(WORKER_MEMORY_FRACTION * min(limits) // per_item)
        if chunk_size > largest:
            raise ValueError(f"chunk_size={chunk_size} would need about {chunk_size * per_item / 2**20:.0f} MiB per "
                             f"task; the smallest worker memory limit is {min(limits) / 2**20:.0f} MiB, so the "
                             f"largest allowed chunk_size is {largest}")


def _run_chunk(run_chunk, params, seed, start, stop):
    with threadpool_limits(limits=1, user_api="blas"):
        return run_chunk(params, start, stop, seed)


def _worker_chunk(run_chunk, params, seed, start, stop):
    """A chunk on a Dask worker: single-threaded BLAS and the serial training driver (one thread per
    task; the worker's threads are the parallelism). Same compiled per-model code, same bits."""
    from . import _nets_numba

    _nets_numba.PARALLEL_MIN_MODELS = sys.maxsize
    return _run_chunk(run_chunk, params, seed, start, stop)


def run(experiment, *, n_items: int, chunk_size: int, seed: int, params: dict | None = None, out=None,
        client=None, progress: bool = True, on_chunk=None) -> ScaleResult:
    r"""Run ``experiment`` over ``n_items`` items in chunks of ``chunk_size``; return the assembled result.

    Parameters
    ----------
    experiment : a name in :data:`EXPERIMENTS` (``"ch05"``) or an :class:`Experiment`.
    n_items : number of items (``"ch05"``: networks; the paper's is ``paper_items``).
    chunk_size : items per task; at most the package budgets allow (``Experiment.max_chunk``) and,
        on a cluster, :data:`WORKER_MEMORY_FRACTION` of the smallest worker memory limit.
    seed : integer >= 0; item :math:`i` uses :func:`item_seed`\ ``(seed, i)``.
    params : the experiment's parameters (defaults: ``Experiment.defaults``, the paper's).
    out : ``None`` (keep results in memory) or a folder: manifest + one file per finished chunk;
        a rerun resumes, a folder of another run is refused.
    client : ``None`` (in-process, the default), a ``distributed.Client`` or a scheduler address.
    progress : a progress bar over chunks.
    on_chunk : optional callable ``(k, start, stop)`` called after chunk ``k`` is stored.

    Everything is checked before any chunk runs. The result's ``chunks_done`` lists the chunks
    present; the arrays hold the items of those chunks in item order.
    """
    exp = _experiment(experiment)
    n_items = check_int("n_items", n_items, 1, MAX_ITEMS)
    chunk_size = check_int("chunk_size", chunk_size, 1, MAX_ITEMS)
    seed = check_int("seed", seed, 0, 2**63 - 1)
    params = exp.check({} if params is None else params)
    progress = check_bool("progress", progress)
    if on_chunk is not None and not callable(on_chunk):
        raise TypeError(f"on_chunk must be None or a callable (k, start, stop), got {type(on_chunk).__name__}")
    if exp.n_items_of is not None and n_items != exp.n_items_of(params):
        raise ValueError(f"n_items={n_items} does not match the experiment: {exp.name} with these parameters has "
                         f"exactly {exp.n_items_of(params)} {exp.item}")
    largest = exp.max_chunk(params)
    if chunk_size > largest:
        raise ValueError(f"chunk_size={chunk_size} exceeds what one task may plan (nnlandscape._checks.MAX_FLOPS "
                         f"/ MAX_BYTES) for these parameters; the largest allowed chunk_size is {largest}")
    from . import __version__

    bounds = chunk_bounds(n_items, chunk_size)
    manifest = {"format": _FORMAT, "experiment": exp.name, "params": params, "seed": seed, "n_items": n_items,
                "chunk_size": chunk_size, "n_chunks": len(bounds), "package_version": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    manifest = json.loads(json.dumps(manifest))  # the form it has on disk (lists, not tuples)
    store = None if out is None else _Store(out, manifest)
    cl, owned = _connect(client)
    try:
        if cl is not None:
            _check_workers(cl, exp, params, chunk_size)
        parts = {}
        if store is not None:
            store.create()
            done = set(store.done())
        else:
            done = set()
        todo = [k for k in range(len(bounds)) if k not in done]

        def keep(k, arrays):
            a, b = bounds[k]
            if store is not None:
                store.save(k, a, b, arrays)
            else:
                parts[k] = arrays
            if on_chunk is not None:
                on_chunk(k, a, b)

        with ProgressBar(len(bounds), enable=progress, desc=f"{exp.name} chunks") as bar:
            bar.update(len(bounds) - len(todo))
            if cl is None:
                for k in todo:
                    keep(k, _run_chunk(exp.run_chunk, params, seed, *bounds[k]))
                    bar.update(1)
            else:
                from distributed import as_completed

                tag = f"{exp.name}-{seed}-{abs(hash(json.dumps(params, sort_keys=True))) % 10**8}"
                futures = {cl.submit(_worker_chunk, exp.run_chunk, params, seed, *bounds[k], pure=False,
                                     key=f"{tag}-chunk-{k}-{time.time_ns()}"): k for k in todo}
                try:
                    for fut, arrays in as_completed(futures, loop=cl.loop, with_results=True):
                        keep(futures[fut], arrays)
                        fut.release()
                        bar.update(1)
                finally:
                    for fut in futures:
                        if not fut.done():
                            fut.cancel()
    finally:
        if owned:
            cl.close()
    if store is not None:
        return load(store.path)
    return _assemble(manifest, parts)


def load(out, fields=None) -> ScaleResult:
    """The finished chunks of the results folder ``out``, assembled (see :meth:`ScaleResult.describe`);
    ``fields`` (names) reads only those arrays (default: all)."""
    store = _Store(out)
    if fields is not None:
        if isinstance(fields, str) or not all(isinstance(f, str) for f in fields):
            raise TypeError(f"fields must be None or a list of array names, got {fields!r}")
        fields = set(fields)
    return _assemble(store.manifest, {k: store.read(k, fields) for k in store.done()})


def results_dir(name: str) -> Path:
    """Where a chapter looks for the results of experiment ``name``: ``$NNLANDSCAPE_RESULTS/<name>``
    or ``results/<name>`` at the repository root."""
    _experiment(name, "name")
    root = os.environ.get("NNLANDSCAPE_RESULTS")
    if root:
        return Path(root) / name
    from .book import ROOT

    return Path(ROOT) / "results" / name


def load_results(name: str, fields=None):
    """:func:`load` of :func:`results_dir`\\ ``(name)`` (``fields`` as there) when it holds a manifest,
    else ``None``."""
    d = results_dir(name)
    return load(d, fields) if (d / _MANIFEST).exists() else None


# --------------------------------------------------------------------------- command line
def main(argv=None) -> int:
    """``python -m nnlandscape.scale EXPERIMENT [--scheduler ADDR] [--out DIR] ...`` (paper sizes by default)."""
    parser = argparse.ArgumentParser(prog="python -m nnlandscape.scale",
                                     description="Run a chapter's experiment at the paper's scale, chunked and "
                                                 "resumable, in-process or on a Dask cluster.")
    parser.add_argument("experiment", choices=sorted(EXPERIMENTS))
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address (default: run in-process)")
    parser.add_argument("--out", default=None, help="results folder (default: results/EXPERIMENT)")
    parser.add_argument("--networks", "--items", dest="n_items", type=int, default=None,
                        help="number of items (default: the paper's)")
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps (ch05) or recorded Monte Carlo steps (ch01); default: the paper's")
    parser.add_argument("--optimizers", default=None, help="comma-separated optimisers (ch05)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="any parameter of the experiment (VALUE read as JSON, else as a string); repeatable")
    parser.add_argument("--chunk-size", type=int, default=None, help="items per task")
    parser.add_argument("--seed", type=int, default=2017)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="check and print the plan, run nothing")
    parser.add_argument("--status", action="store_true", help="say how much of the folder's run is done, run nothing")
    a = parser.parse_args(argv)
    exp = EXPERIMENTS[a.experiment]
    if a.status:
        try:
            print(load(a.out or os.path.join("results", exp.name), fields=[]).describe())
        except (ValueError, TypeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    params = {}
    for kv in a.param:
        key, sep, value = kv.partition("=")
        if not sep or not key:
            parser.error(f"--param needs KEY=VALUE, got {kv!r}")
        try:
            params[key.strip()] = json.loads(value)
        except ValueError:
            params[key.strip()] = value
    if a.steps is not None:
        params["steps" if "steps" in exp.defaults else "n_steps"] = a.steps
    if a.optimizers is not None:
        params["optimizers"] = [s.strip() for s in a.optimizers.split(",") if s.strip()]
    n_items = exp.paper_items if a.n_items is None else a.n_items
    chunk = exp.paper_chunk if a.chunk_size is None else a.chunk_size
    out = a.out or os.path.join("results", exp.name)
    try:
        p = exp.check(params)
        if exp.n_items_of is not None and a.n_items is None:
            n_items = exp.n_items_of(p)
        n_chunks = len(chunk_bounds(n_items, chunk))
        work = n_items * exp.model_steps_per_item(p)
        print(f"{exp.name}: {n_items:,} {exp.item}, {n_chunks} chunks of {chunk}, {work:.3g} model-steps, "
              f"seed {a.seed}, out {out}, {'scheduler ' + a.scheduler if a.scheduler else 'in-process'}")
        if a.dry_run:
            return 0
        t0 = time.perf_counter()
        r = run(exp, n_items=n_items, chunk_size=chunk, seed=a.seed, params=params, out=out, client=a.scheduler,
                progress=not a.no_progress)
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{r.describe()}; {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":  # run the package's module (not a copy named __main__), so workers can import it
    from nnlandscape.scale import main as _main

    sys.exit(_main())
