"""Timing of Kac-Rice depth curves (target: depths 1..50 in < 100 ms) and of the critical-point finders.

Run: ``python benchmarks/bench_kac_rice.py``. Prints wall times; asserts nothing.
"""
from __future__ import annotations

import time

import numpy as np

from nnlandscape import kac_rice as kr
from nnlandscape import sphere_fields as sf


def best_of(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    depths = np.arange(1, 51)
    for dim in (1, 2, 3):
        kr._goe_table(dim)  # one-off table build per dimension (cached), timed below separately
    for dim in (1, 2, 3):
        kr._goe_table.cache_clear()
        t = time.perf_counter()
        kr._goe_table(dim)
        print(f"GOE table build, d={dim}: {1e3 * (time.perf_counter() - t):7.1f} ms (once per process)")
    print("\nKac-Rice curve, depths 1..50 (network kernel + counts):")
    for act, sw, sb in [("tanh", 1.5, 0.1), ("erf", 2.0, 0.05), ("sin", 1.0, 0.0), ("swish", 2.0, 0.1)]:
        for dim, kw in [(1, {}), (2, {}), (2, {"above": 0.5}), (3, {}), (3, {"index": 1, "above": 0.0})]:
            dt = best_of(lambda: kr.network_critical_points(act, depths, dim, sigma_w2=sw, sigma_b2=sb, **kw))
            print(f"  {act:6s} d={dim} {str(kw):28s} {1e3 * dt:7.1f} ms")
    print("\nAll indices at once (network_critical_points_by_index), depths 1..50:")
    for dim, kw in [(2, {}), (3, {"above": 1.0})]:
        dt = best_of(lambda: kr.network_critical_points_by_index("tanh", depths, dim, sigma_w2=2.0, sigma_b2=0.05, **kw))
        print(f"  tanh d={dim} {str(kw):16s} {1e3 * dt:7.1f} ms")
    print("\nComposed-kernel curve (chi, kappa2) = (1.1, 0.6), depths 1..50, d=2, by index:")
    k1, k2 = kr.composed_derivatives(1.1, 0.6, depths)
    dt = best_of(lambda: [kr.expected_critical_points_by_index(a, b, 2, above=0.3) for a, b in zip(k1, k2)])
    print(f"  {1e3 * dt:7.1f} ms")
    print("\nCritical-point finders (one polynomial field, K = (t + t^3)/2):")
    f1 = sf.polynomial_field([0, 0.5, 0, 0.5], 1, seed=0)
    f2 = sf.polynomial_field([0, 0.5, 0, 0.5], 2, seed=0)
    for res in (256, 4096):
        print(f"  S^1 res={res:6d}: {1e3 * best_of(lambda: sf.critical_points_circle(f1, res)):7.1f} ms")
    for res in (2000, 20000):
        sf.sphere_mesh(res)
        print(f"  S^2 res={res:6d}: {1e3 * best_of(lambda: sf.critical_points_sphere(f2, res), 3):7.1f} ms"
              " (mesh cached)")
    print("\nReal networks (held weights: sample_network), tanh width 200, sigma_w2 = 3:")
    for dim, depth, res in [(1, 2, 512), (1, 8, 512), (2, 2, 2000)]:
        dt = best_of(lambda: sf.network_counts("tanh", depth, 200, dim, res, n_networks=4, sigma_w2=3.0,
                                               sigma_b2=0.05), 2) / 4
        print(f"  S^{dim} depth {depth} res {res:5d}: {1e3 * dt:7.1f} ms per network")
    print("  (set OPENBLAS_NUM_THREADS=1 on a busy machine: the finders do many tiny matrix products)")


if __name__ == "__main__":
    main()
