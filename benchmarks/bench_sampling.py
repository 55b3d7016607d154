"""Effective samples per second: HMC against random-walk Metropolis on the same target, one run.

Run: ``python benchmarks/bench_sampling.py``. The target is the chapter's near-threshold spherical
tree committee machine (product of per-unit spheres, zeta = 5) at T = 1e-2, at the book's size
(N = 200, K = 10, alpha = 0.9) and at the paper's (N = 1000, K = 50). The observable is the slower
of the energy and the projection of w on a fixed random direction; the ESS uses Geyer's initial
positive sequence. Only the ratio is meaningful: both samplers run in this process, back to back.
"""
import math
import time

import numpy as np

from nnlandscape import sampling
from nnlandscape.committee import TreeCommittee, committee_data


def ess_per_second(res, seconds, u):
    e1 = sampling.effective_sample_size(res.energies)
    e2 = sampling.effective_sample_size(res.samples @ u)
    return float(np.minimum(e1, e2).mean() / seconds)


def one(N, K, alpha=0.9, T=1e-2, chains=4):
    X, y = committee_data(N, K, alpha, seed=1)
    m = TreeCommittee(X, y, K, zeta=5.0)
    w0 = m.descend(np.random.default_rng(0).standard_normal((chains, N)), lr=0.5, n_steps=1000, sphere=True)
    u = np.random.default_rng(1).standard_normal(N)
    u /= np.linalg.norm(u)
    # burn-in with step adaptation, not timed
    h0 = sampling.hmc(m, w0, T=T, step=0.05, n_leapfrog=10, n_moves=1, n_burn=40, sphere=True, blocks=K, seed=0)
    r0 = sampling.rwm(m.energy, w0, T=T, step=0.02, n_moves=1, n_burn=600, sphere=True, blocks=K, seed=0)
    t = time.perf_counter()
    h = sampling.hmc(m, h0.final, T=T, step=h0.step, n_leapfrog=10, n_moves=300, sphere=True, blocks=K, seed=1)
    th = time.perf_counter() - t
    t = time.perf_counter()
    r = sampling.rwm(m.energy, r0.final, T=T, step=r0.step, n_moves=3000, sphere=True, blocks=K, seed=1)
    tr = time.perf_counter() - t
    eh, er = ess_per_second(h, th, u), ess_per_second(r, tr, u)
    print(f"N={N:5d} K={K:3d} P={m.P:5d} | HMC acc {h.acceptance.mean():.2f} {eh:8.2f} ESS/s | "
          f"RWM acc {r.acceptance.mean():.2f} {er:8.2f} ESS/s | ratio HMC/RWM {eh / er:6.2f}")
    return eh / er


def main():
    print("HMC (10 leapfrog steps) vs random-walk Metropolis, same target, same run")
    for N, K in [(200, 10), (1000, 50)]:
        one(N, K)


if __name__ == "__main__":
    main()
