"""Timings of the replica / Parisi solvers (prints a table; no assertions).

Run: ``python benchmarks/bench_replica.py``. Numbers depend on the machine and its load.
"""
import time

import numpy as np

from nnlandscape import replica as R
from nnlandscape.replica import Mixture


def timed(label, fn, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    print(f"{label:<58s} {1e3 * best:9.2f} ms")
    return out


def main():
    sk = Mixture.from_coefficients([0, 0.5])
    p3 = Mixture.from_coefficients([0, 0, 0.5])
    m24 = Mixture.from_coefficients([0, 0.5, 0, 0.1])
    Ts = np.geomspace(0.01, 3.0, 100)
    print("solver (best of 3)".ljust(58), "time")
    timed("rs_solution, 100 temperatures, xi = q^3/2", lambda: R.rs_solution(p3, Ts))
    timed("microcanonical_entropy, 200 energies", lambda: R.microcanonical_entropy(p3, np.linspace(-1.2, 0, 200)))
    timed("first_order_rs_test, one T", lambda: R.first_order_rs_test(p3, 0.5))
    timed("rs_is_exact, 100 temperatures", lambda: R.rs_is_exact(p3, Ts))
    timed("rs_breaking_temperature (pure 3-spin, T_s)", lambda: R.rs_breaking_temperature(p3))
    timed("krsb_solution k=1, pure 3-spin, T=0.5", lambda: R.krsb_solution(p3, 0.5, 1), 1)
    timed("frsb_solution, SK, T=0.5 (RS)", lambda: R.frsb_solution(sk, 0.5), 1)
    timed("frsb_solution, pure 3-spin, T=0.5 (1RSB)", lambda: R.frsb_solution(p3, 0.5), 1)
    timed("frsb_solution, 2+4 spin, T=0.6 (full RSB)", lambda: R.frsb_solution(m24, 0.6), 1)
    timed("ground_state_energy, pure 3-spin", lambda: R.ground_state_energy(p3), 1)
    try:
        for act, kw in [("relu", dict(sigma_w2=2.0)), ("tanh", {}), ("sin", dict(sigma_w2=3.0))]:
            m = timed(f"Mixture.from_network({act!r}, 2)", lambda: Mixture.from_network(act, 2, **kw))
            timed(f"  rs_solution, 100 temperatures ({act})", lambda: R.rs_solution(m, Ts))
            timed(f"  rs_breaking_temperature ({act})", lambda: R.rs_breaking_temperature(m), 1)
            timed(f"  ground_state_energy ({act})", lambda: R.ground_state_energy(m), 1)
    except ImportError:
        print("nnlandscape.kernels not available: network timings skipped")
    # chapter 04 (random MLP as a Hamiltonian): fast phase boundaries, lean T = 0 solve, simulations
    relu2 = Mixture.from_network("relu", 2, sigma_w2=2.0)
    timed("rs_phase_boundaries (relu, L=2)", lambda: R.rs_phase_boundaries(relu2))
    timed("rs_breaking_temperature + replicon_temperature (relu, L=2)",
          lambda: (R.rs_breaking_temperature(relu2), R.replicon_temperature(relu2)), 1)
    timed("frsb_ground_state lean (n_grid=24, no refinement), relu L=2",
          lambda: R.frsb_ground_state(relu2, n_grid=24, refinements=0, max_steps=1), 1)
    try:
        from nnlandscape.input_landscape import MLPBatch
        from nnlandscape.sphere_mc import metropolis_sphere, sphere_descent

        nets = MLPBatch("tanh", 1, 1024, 64, n_networks=4, seed=0)
        timed("metropolis_sphere: 4 nets x 8 T x 4 chains, N=64, n=1024, 1000 steps",
              lambda: metropolis_sphere(nets, np.geomspace(0.1, 1.5, 8), n_chains=4, n_steps=500, n_burn=500), 1)
        timed("sphere_descent: 4 nets x 12 starts, 300 steps", lambda: sphere_descent(nets, n_starts=12, n_steps=300), 1)
    except ImportError:
        print("sphere_mc not available: simulation timings skipped")


if __name__ == "__main__":
    main()
