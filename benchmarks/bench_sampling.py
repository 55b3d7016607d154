r"""Effective samples: HMC against random-walk Metropolis on the same targets, measured in one run.

Run: ``python benchmarks/bench_sampling.py`` (``--quick`` for a smaller run). Only ratios measured
in this process are meaningful; rates in samples per second depend on the machine and its load.

What is measured, for each target and each size N:

* **Tuning, fair to both.** Random-walk Metropolis (RWM) is adapted during burn-in to the optimal-
  scaling acceptance 0.234 (Roberts, Gelman & Gilks 1997); HMC's step to acceptance 0.7, with the
  step jittered by +-20% per move (which randomises the trajectory length and breaks periodic
  orbits), for several numbers of leapfrog steps L (the trajectory-length scan). Adaptation happens
  during burn-in only; the recorded chains are exact.
* **Equal budgets.** Both samplers get the same number of *evaluations* (RWM: energies; HMC:
  energies with gradients, L per move); the cost ratio of the two kinds of evaluation is measured.
* **Several observables.** The energy, the projections of w on three fixed random unit vectors and
  the overlap of w with the chain's own start (the slow, "trapped" direction). The effective sample
  size (Geyer's initial positive sequence) is taken per chain and observable; we report the
  **minimum over observables** (mean over chains), per second and per evaluation. RWM's states are
  recorded every L moves (as many records as HMC), its ESS is counted in moves.
* **Targets.** ``committee``: the chapter's near-threshold spherical tree committee (K = N/20,
  receptive fields of 20, alpha = 0.9, zeta = 5, T = 1e-2, chains started at gradient-descent
  solutions). Two smooth controls where theory says HMC must win by a large factor:
  ``perceptron``: a logistic perceptron on the sphere |w|^2 = N (the same loss, no ReLU kinks;
  alpha = 0.5, zeta = 1, T = 1) and ``gaussian``: an anisotropic Gaussian in R^N (scales 0.5..1, T = 1).
* **Why.** The rms energy error of one leapfrog trajectory at steps eps and eps/2: second order
  (ratio 4) on a smooth target, first order (ratio 2) where the trajectory crosses the ReLU kinks.
  And the tuned steps against N: RWM ~ N^{-1/2} everywhere; HMC ~ N^{-1/4} on smooth targets
  (Beskos et al. 2013), while kinks make HMC's energy error first order in the step.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

from nnlandscape import sampling
from nnlandscape.committee import TreeCommittee, committee_data

RWM_ACCEPT, HMC_ACCEPT, JITTER = 0.234, 0.7, 0.2


class Target:
    """An energy with gradient, its geometry, temperature and starting states."""

    def __init__(self, name, N, fun, energy, w0, T, sphere, blocks):
        self.name, self.N, self.fun, self.energy, self.w0, self.T = name, N, fun, energy, w0, T
        self.sphere, self.blocks = sphere, blocks
        rng = np.random.default_rng(123)
        U = rng.standard_normal((3, N))
        self.dirs = U / np.linalg.norm(U, axis=1, keepdims=True)

    def observables(self, samples, energies):
        """Dict name -> (S, C) series."""
        u0 = self.w0 / np.linalg.norm(self.w0, axis=1, keepdims=True)
        nrm = np.linalg.norm(samples, axis=2)
        obs = {"energy": energies}                       # every move (the states: every thin-th)
        for i, d in enumerate(self.dirs):
            obs[f"projection {i}"] = samples @ d / nrm
        obs["overlap with start"] = np.einsum("scn,cn->sc", samples, u0) / nrm
        return obs


def committee_target(N, chains, alpha=0.9, T=1e-2, name="committee"):
    K = N // 20
    K += K % 2
    X, y = committee_data(N, K, alpha, seed=1)
    m = TreeCommittee(X, y, K, zeta=5.0)
    w0 = m.descend(np.random.default_rng(0).standard_normal((chains, N)), lr=0.5, n_steps=1000, sphere=True)
    # equilibrate from the gradient-descent solutions (not timed; both samplers start here)
    w0 = sampling.hmc(m.energy_grad, w0, T=T, step=0.05, n_leapfrog=20, n_moves=1, n_burn=300, sphere=True,
                      blocks=K, seed=9).final
    return Target(name, N, m.energy_grad, m.energy, w0, T, True, K)


def flat_committee_target(N, chains):
    """The same network over-parameterised (alpha = 0.3): flat, no trapping (a diagnostic)."""
    return committee_target(N, chains, alpha=0.3, name="committee α=0.3")


def perceptron_target(N, chains, alpha=0.5, zeta=1.0, T=1.0):
    rng = np.random.default_rng(2)
    P = int(alpha * N)
    X = rng.standard_normal((P, N)) / math.sqrt(N)
    y = rng.choice([-1.0, 1.0], P)
    A = y[:, None] * X                               # margins z = A w

    def fun(w):
        z = w @ A.T
        U = np.logaddexp(0.0, -zeta * z).sum(1) / zeta
        return U, -(1.0 / (1.0 + np.exp(np.clip(zeta * z, -700, 700)))) @ A

    w0 = rng.standard_normal((chains, N))
    return Target("perceptron", N, fun, lambda w: fun(w)[0], w0, T, True, 1)


def gaussian_target(N, chains):
    s2 = np.linspace(0.5, 1.0, N) ** 2

    def fun(w):
        return 0.5 * np.sum(w * w / s2, 1), w / s2

    w0 = np.random.default_rng(3).standard_normal((chains, N)) * np.sqrt(s2)
    return Target("gaussian", N, fun, lambda w: fun(w)[0], w0, 1.0, False, 1)


def eval_costs(t, reps=30):
    """Seconds per call of energy and of energy+gradient on the batch of chains (median of reps)."""
    out = []
    for f in (t.energy, t.fun):
        f(t.w0)
        ts = []
        for _ in range(reps):
            s = time.perf_counter()
            f(t.w0)
            ts.append(time.perf_counter() - s)
        out.append(float(np.median(ts)))
    return out


def min_ess(t, res):
    """Min over observables of the ESS in moves (mean over chains), the slowest observable, and the
    largest autocorrelation time in moves (it must exceed ``thin`` for a thinned ESS to be honest)."""
    # a thinned series has (nearly) the ESS of the full one when thin << tau: no factor thin
    per = {k: sampling.effective_sample_size(v) for k, v in t.observables(res.samples, res.energies).items()}
    stacked = np.stack(list(per.values()))                   # (observables, chains)
    slowest = list(per)[int(np.argmin(stacked.mean(1)))]
    mean = {k: float(v.mean()) for k, v in per.items()}
    return float(stacked.min(0).mean()), slowest, float(res.energies.shape[0] / stacked.min()), mean


def _common(step):
    return np.full_like(step, math.exp(np.mean(np.log(step))))


def tune(sampler, t, w, step, n_burn, seed, **kw):
    """Two adaptation rounds during burn-in; after each, every chain gets the geometric mean step
    (the chains sample the same target; one step for all removes the adaptation's noise)."""
    for k in range(2):
        b = sampler(t.fun if sampler is sampling.hmc else t.energy, w, T=t.T, step=step, n_moves=1,
                    n_burn=n_burn, sphere=t.sphere, blocks=t.blocks, seed=seed + 10 * k, **kw)
        w, step = b.final, _common(b.step)
    return w, step


def run_rwm(t, budget, seed=1):
    thin = max(1, budget // min(4000, int(4e6 / t.w0.size)))
    w, step = tune(sampling.rwm, t, t.w0, 0.02, max(1000, budget // 8), seed, target_accept=RWM_ACCEPT)
    s = time.perf_counter()
    r = sampling.rwm(t.energy, w, T=t.T, step=step, n_moves=budget, thin=thin, sphere=t.sphere,
                     blocks=t.blocks, seed=seed + 1)
    sec = time.perf_counter() - s
    ess, slowest, tau, per = min_ess(t, r)
    return dict(ess=ess, sec=sec, evals=budget, acc=float(r.acceptance.mean()), step=float(step[0]),
                slowest=slowest, tau=tau, per=per)


def run_hmc(t, budget, L, seed=1):
    w, step = tune(sampling.hmc, t, t.w0, 0.05, 60, seed, n_leapfrog=L, target_accept=HMC_ACCEPT, jitter=JITTER)
    n = max(8, budget // L)
    s = time.perf_counter()
    r = sampling.hmc(t.fun, w, T=t.T, step=step, n_leapfrog=L, n_moves=n, jitter=JITTER,
                     sphere=t.sphere, blocks=t.blocks, seed=seed + 1)
    sec = time.perf_counter() - s
    ess, slowest, tau, per = min_ess(t, r)
    return dict(ess=ess, sec=sec, evals=n * L, acc=float(r.acceptance.mean()), step=float(step[0]),
                slowest=slowest, L=L, moves=n, tau=tau, per=per)


def energy_error_order(t, step, L=10, reps=4, seed=5):
    """rms dH/T of one trajectory at step and step/2 (same momenta): ~4 if second order, ~2 if first."""
    geo = sampling.Geometry(t.N, t.sphere, t.blocks)
    w = geo.normalise(t.w0)
    C = w.shape[0]
    out = []
    for eps in (step, step / 2):
        errs = []
        r2 = np.random.default_rng(seed)
        for _ in range(reps):
            p = geo.momenta(r2, w, np.full(C, t.T))
            E0, _ = t.fun(w)
            # the same total time: twice the steps at half the step
            n = L if eps == step else 2 * L
            w1, p1, E1, _ = sampling.leapfrog(t.fun, w, p, np.full(C, eps), n, geo)
            errs.append((E1 - E0 + 0.5 * np.sum(p1 * p1, 1) - 0.5 * np.sum(p * p, 1)) / t.T)
        out.append(float(np.sqrt(np.mean(np.square(errs)))))
    return out[0] / max(out[1], 1e-300), out


def compare(t, budget, Ls, seed=1):
    """Print the scan; return the HMC / RWM ratios (per second, per evaluation) at the L that is best per
    evaluation, and the runs."""
    cE, cG = eval_costs(t)
    r = run_rwm(t, budget, seed=seed)
    runs = [run_hmc(t, budget, L, seed=seed) for L in Ls]
    r_s, r_e = r["ess"] / r["sec"], r["ess"] / r["evals"]
    print(f"  {t.name:10s} N={t.N:5d}  cost(grad)/cost(energy) = {cG / cE:4.2f}   "
          f"RWM: acc {r['acc']:.2f} step {r['step']:.3g}, tau <= {r['tau']:.0f} moves, min-ESS {r['ess']:7.1f} ({r['slowest']}), "
          f"{r_s:8.1f}/s, {1e3 * r_e:7.3f}/1000 evals")
    best = None
    for h in runs:
        h_s, h_e = h["ess"] / h["sec"], h["ess"] / h["evals"]
        print(f"      HMC L={h['L']:3d}: acc {h['acc']:.2f} step {h['step']:.3g} moves {h['moves']:5d}, "
              f"tau <= {h['tau']:.1f}, min-ESS {h['ess']:7.1f} ({h['slowest']}), ratio HMC/RWM per second {h_s / r_s:6.2f}, "
              f"per evaluation {h_e / r_e:6.2f}")
        if best is None or h_e / r_e > best[1]:       # per evaluation: independent of the machine's load
            best = (h_s / r_s, h_e / r_e, h["L"])
            hb = h
    print(f"      per observable at L = {hb['L']} (ESS per evaluation, HMC/RWM): " + ", ".join(
        f"{k} {hb['per'][k] / hb['evals'] / (r['per'][k] / r['evals']):.1f}" for k in r["per"]))
    return best, r, runs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller budgets and sizes")
    args = ap.parse_args(argv)
    chains = 8
    budget = 8000 if args.quick else 40000
    sizes = (120, 200, 400) if args.quick else (120, 200, 400, 1000)
    # budget: evaluations per chain for the near-threshold committee at N = 200; half for the others
    Ls = (2, 5, 10, 20, 40)
    print("HMC (jittered step, acceptance 0.7) vs RWM (acceptance 0.234): min-ESS over observables, same run")
    print(f"budget: {budget} evaluations per sampler and chain, {chains} chains; ratios > 1 favour HMC\n")

    print("1. energy error of one leapfrog trajectory: rms(dH/T) at step / at step/2 (2 = first order, 4 = second)")
    for make in (committee_target, perceptron_target):
        t = make(200, chains)
        ratio, rms = energy_error_order(t, 0.02 if t.name == "committee" else 0.05)
        print(f"  {t.name:10s} N=200: rms dH/T = {rms[0]:.3g} -> {rms[1]:.3g}, ratio {ratio:.2f}")

    print("\n2. trajectory-length scan, N = 200")
    best, scan = {}, {}
    for make, b in ((committee_target, budget), (flat_committee_target, budget // 2),
                    (perceptron_target, budget // 2), (gaussian_target, budget // 2)):
        t = make(200, chains)
        best[t.name], r, runs = compare(t, b, Ls)
        scan[t.name] = (r, runs)

    print("\n3. scaling with N at L = 10 and 40 (tuned steps; N = 200 from the scan above)")
    steps = {}
    for make in (committee_target, perceptron_target):
        for N in sizes:
            if N == 200:
                name = "committee" if make is committee_target else "perceptron"
                r, runs = scan[name]
                runs = [h for h in runs if h["L"] in (10, 40)]
            else:
                t = make(N, chains)
                _, r, runs = compare(t, budget // 2 if N <= 400 else budget // 8, (10, 40))
                name = t.name
            s = steps.setdefault(name, ([], [], []))
            s[0].append(N)
            s[1].append(r["step"])
            s[2].append(runs[0]["step"])
    print("\n   log-log slopes of the tuned step against N (theory: RWM -1/2; HMC -1/4 smooth)")
    for name, (Ns, rs, hs) in steps.items():
        sr = np.polyfit(np.log(Ns), np.log(rs), 1)[0]
        sh = np.polyfit(np.log(Ns), np.log(hs), 1)[0]
        print(f"  {name:10s}: N = {Ns}: RWM step ~ N^{sr:+.2f}, HMC step (L = 10) ~ N^{sh:+.2f}")
    print("\nsummary (best L per target at N = 200): HMC/RWM min-ESS ratio per second, per evaluation")
    for name, (rs, re, L) in best.items():
        print(f"  {name:16s}: {rs:6.2f} per second, {re:6.2f} per evaluation (L = {L})")


if __name__ == "__main__":
    main()
