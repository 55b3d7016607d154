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
independently, so a ``"ch05"`` item's result depends only on ``seed``, :math:`i` and the
parameters: not on the chunk it lands in, the number of workers, or the order in which chunks
finish. Samplers that draw for a whole batch from one generator (``"ch01"``, ``"ch04"``) use the
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
  of workers at a fixed ``chunk_size``.
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
           "results_dir", "load_results", "ch05_summary", "ch05_markdown", "main", "CONNECT_TIMEOUT"]

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
    from . import landscape

    p = _with_defaults("ch05", params, _CH05_DEFAULTS)
    p["steps"] = check_int("steps", p["steps"], 1, MAX_STEPS)
    opts = p["optimizers"]
    if isinstance(opts, str) or not isinstance(opts, (list, tuple)) or not opts:
        raise ValueError(f"optimizers must be a non-empty list of names in {list(landscape.OPTIMIZER_SETTINGS)}, "
                         f"got {opts!r}")
    for o in opts:
        if o not in landscape.OPTIMIZER_SETTINGS:
            raise ValueError(f"optimizers: {o!r} is not allowed; choose from {list(landscape.OPTIMIZER_SETTINGS)}")
    if len(set(opts)) != len(opts):
        raise ValueError(f"optimizers must not repeat a name, got {opts!r}")
    p["optimizers"] = list(opts)
    p["amplitude"] = float(p["amplitude"])
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
    from . import landscape, optim

    W, net, X, Y = _ch05_problem(params["amplitude"], params["n_tent_layers"], params["points_between"])
    opts = params["optimizers"]
    idx = np.arange(start, stop)
    theta0 = np.stack([net.init(1, seed=np.random.SeedSequence(seed, spawn_key=(int(i),)))[0] for i in idx])
    dead0 = net.forward(theta0, X)[:, :, 0].std(1) < 1e-12  # output constant before the first step
    theta0 = theta0.astype(np.float32)
    m = len(idx)
    res = {"item": idx.astype(np.int64), "optimizer": (idx % len(opts)).astype(np.int8),
           "loss": np.empty(m), "diverged": np.zeros(m, bool), "converged": np.zeros(m, bool),
           "dead0": dead0, "theta": np.empty_like(theta0)}
    for k, name in enumerate(opts):
        sel = np.flatnonzero(idx % len(opts) == k)
        if sel.size == 0:
            continue
        settings = dict(landscape.OPTIMIZER_SETTINGS[name])
        lr = settings.pop("lr")
        r = optim.train(net, theta0[sel], X, Y, optimizer=name, lr=lr, steps=params["steps"],
                        record_every=params["steps"], **settings)
        res["loss"][sel] = r.loss
        res["diverged"][sel] = r.diverged
        res["converged"][sel] = r.converged
        res["theta"][sel] = r.theta
    return res


register(Experiment(
    name="ch05", description="Gamst & Walker mass training: 5x5 ReLU nets on sawtooth + spline",
    item="networks", paper_items=320_000, paper_chunk=1000, defaults=_CH05_DEFAULTS, check=_ch05_check,
    run_chunk=_ch05_chunk, bytes_per_item=_ch05_bytes, max_chunk=_ch05_max_chunk,
    model_steps_per_item=_ch05_model_steps))


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
    model_steps_per_item=lambda p: float((p["n_burn"] + p["n_steps"]) * len(p["temperatures"]) * p["n_chains"])))


# --------------------------------------------------------------------------- ch04: HMC chains
_CH04_DEFAULTS = {"N": 1000, "K": 50, "alpha": 0.3, "kind": "random", "data_seed": 1, "zeta": 5.0, "lam": 1e-7,
                  "temperatures": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1], "gd_lr": 0.5, "gd_steps": 1500,
                  "step": 0.03, "n_leapfrog": 30, "n_moves": 2000, "n_burn": 200}


def _ch04_check(params: dict) -> dict:
    from .committee import _check_arch

    p = _with_defaults("ch04", params, _CH04_DEFAULTS)
    p["N"], p["K"] = (int(v) for v in _check_arch(p["N"], p["K"]))
    p["alpha"] = check_real("alpha", p["alpha"], 0.0, 100.0, low_open=True)
    if p["kind"] not in ("random", "teacher"):
        raise ValueError(f"kind={p['kind']!r} is not allowed; choose 'random' or 'teacher'")
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
def _ch04_model(N, K, alpha, kind, data_seed, zeta, lam):
    from .committee import TreeCommittee, committee_data

    X, y = committee_data(N, K, alpha, kind=kind, seed=data_seed)
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
    mm = _ch04_model(p["N"], p["K"], p["alpha"], p["kind"], p["data_seed"], p["zeta"], p["lam"])
    nT = len(p["temperatures"])
    idx = np.arange(start, stop)
    starts = idx // nT
    w0 = np.stack([np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(int(s),))).standard_normal(p["N"])
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
    model_steps_per_item=lambda p: float(p["gd_steps"] + (p["n_burn"] + p["n_moves"]) * p["n_leapfrog"])))


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


def ch05_markdown(result, *, book_networks: int, book_steps: int) -> str:
    r"""What chapter 5 says about its scale: the book's own (``result is None``) or a table of the
    paper-scale run in ``result`` (per optimiser: networks, best loss, % below the floor, % dead,
    and the networks below :data:`~nnlandscape.landscape.GLOBAL_TOL` with the upper end of the
    two-sided 95 % Clopper-Pearson interval of that fraction)."""
    from scipy import stats

    from . import landscape

    book_networks = check_int("book_networks", book_networks, 1)
    book_steps = check_int("book_steps", book_steps, 1)
    if result is None:
        return (f"**Scale shown: the book's own**, {book_networks:,} networks of {book_steps:,} steps each. No "
                "paper-scale results are present (a folder `results/ch05` at the top of the book's sources, or "
                "`$NNLANDSCAPE_RESULTS/ch05`, written by `python -m nnlandscape.scale ch05`).")
    s = ch05_summary(result)
    part = "" if result.complete else f" (a partial run: {len(result.chunks_done)} of {result.n_chunks} chunks present)"
    rows = []
    for name, v in s["per_optimizer"].items():
        rows.append(f"| {name} | {v['n']:,} | {v['best']:.3g} | {v['below_floor_pct']:.2f} | {v['dead_pct']:.2f} | "
                    f"{v['diverged']:,} |")
    n, k = s["n"], s["n_global"]
    upper = float(stats.beta.ppf(0.975, k + 1, n - k)) if n > k else 1.0
    exp = EXPERIMENTS["ch05"]
    scale_word = ("the paper's scale" if s["n_items"] >= exp.paper_items and s["steps"] >= exp.defaults["steps"]
                  else f"smaller than the paper's {exp.paper_items:,} networks of {exp.defaults['steps']:,} steps")
    return (f"**Scale shown: a separate run**{part}, {n:,} of {s['n_items']:,} networks of {s['steps']:,} steps "
            f"(seed {result.seed}; {scale_word}); the figures above stay at the book's scale ({book_networks:,} "
            f"networks of {book_steps:,} steps). Of these {n:,} networks, **{k:,} reached the global minimum** (loss below "
            f"{landscape.GLOBAL_TOL:g}; 95 % upper bound on the rate {100 * upper:.2g} %).\n\n"
            "| optimiser | networks | best loss | below the floor (%) | died (%) | diverged |\n"
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
