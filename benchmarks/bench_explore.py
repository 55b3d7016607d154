"""How fast an analytic explorer answers a slider, and what a static grid costs.

Run: ``python benchmarks/bench_explore.py``. Prints times and ratios measured in this run; asserts
nothing. The baseline for the kernel is a plain 2-D Gauss-Hermite quadrature of every layer map
(60 x 60 nodes per q point), i.e. what one would write without the library's closed forms and
Mehler series.
"""
from __future__ import annotations

import time

import numpy as np

from nnlandscape import kernels
from nnlandscape.activations import get_activation
from nnlandscape.explore import dropdown, explore, slider

Q = np.linspace(-1.0, 1.0, 81)


def best_of(fn, repeat=5):
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def brute_covariance(activation, depth, q, sigma_w2=1.0, sigma_b2=0.0, nodes=60):
    """C_L(q) by 2-D Gauss-Hermite quadrature of E[phi(u)phi(v)] at every layer (the baseline)."""
    phi = get_activation(activation)
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    k = sigma_w2 + sigma_b2
    c = sigma_w2 * q + sigma_b2
    for _ in range(depth):
        rho = np.clip(c / k, -1, 1)[:, None, None]
        u = np.sqrt(k) * z[None, :, None]
        v = np.sqrt(k) * (rho * z[None, :, None] + np.sqrt(1 - rho**2) * z[None, None, :])
        c = sigma_w2 * np.einsum("i,j,qij->q", w, w, phi(u) * phi(v)) + sigma_b2
        k = sigma_w2 * np.sum(w * phi(np.sqrt(k) * z) ** 2) + sigma_b2
    return c


def main():
    print("One slider move of the Gaussian-field chapter's kernel explorer (81 q points):")
    print(f"  {'activation':10s} {'depth':>5s} {'library':>10s} {'2-D GH baseline':>16s} {'speed-up':>9s}")
    for act in ["linear", "relu", "erf", "sin", "tanh", "swish"]:
        for depth in (3, 12):
            t_lib = best_of(lambda: kernels.covariance(act, depth, Q, sigma_w2=2.0))
            t_ref = best_of(lambda: brute_covariance(act, depth, Q, sigma_w2=2.0), repeat=2)
            err = np.max(np.abs(kernels.covariance(act, depth, Q, sigma_w2=2.0) - brute_covariance(act, depth, Q, sigma_w2=2.0)))
            print(f"  {act:10s} {depth:5d} {1e3 * t_lib:8.2f} ms {1e3 * t_ref:13.1f} ms {t_ref / t_lib:8.0f}x"
                  f"   (|diff| {err:.1e})")

    def traces(activation, depth, sigma_w2):
        c = kernels.covariance(activation, depth, Q, sigma_w2=sigma_w2)
        return [dict(x=Q, y=c / c[-1], name="C_L"), dict(x=Q, y=Q, name="identity")]

    controls = [dropdown("activation", ["linear", "relu", "tanh", "erf", "sin"]), slider("depth", range(1, 13)),
                slider("sigma_w2", [0.5, 1.0, 1.5, 2.0, 3.0, 4.0])]
    live = explore(traces, controls, mode="live")
    w = live.controls["depth"]
    t = best_of(lambda: setattr(w, "value", 12 if w.value != 12 else 11), repeat=10)
    print(f"\nLive explorer: one control change (recompute + figure update), tanh grid: {1e3 * t:.1f} ms")
    t0 = time.perf_counter()
    static = explore(traces, controls, mode="static")
    html = static.to_html()
    print(f"Static explorer: {static.ntraces} traces (data of {len(static.sets)} grid points swapped in) over a {static.shape} grid built in "
          f"{time.perf_counter() - t0:.2f} s, {len(html) / 1024:.0f} KiB of HTML")


if __name__ == "__main__":
    main()
