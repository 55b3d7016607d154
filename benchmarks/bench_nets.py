"""Benchmark of the batched network engine (:mod:`nnlandscape.nets` / :func:`nnlandscape.optim.train`).

Measures, side by side in one run, model-steps per second of full-batch gradient-descent
training of 1-5x5-1 ReLU networks (5 hidden layers of width 5, P = 136) on 361 points of
a sawtooth, for M in {1, 64, 1024, 16384} models:

* ``engine f32`` / ``engine f64``: :func:`nnlandscape.optim.train` (compiled kernel, all cores);
* ``numpy loop``: a lean per-model numpy implementation (forward, backprop, GD step), one model
  after the other -- its rate does not depend on M, so it is measured on min(M, a few) models;
* ``np batched``: the engine's numpy fallback (``backend="numpy"``, float64, batched matmuls), for reference;
* ``torch loop``: the same per-model loop in PyTorch (CPU, one thread, autograd + ``torch.optim.SGD``), when
  torch is importable here or ``--torch-python`` points at an interpreter that has it (torch is
  an optional benchmark dependency, never a test one);

and the machine's dense-matmul FLOP rate (numpy ``@`` on 2048x2048, float32 and float64), so the
engine's achieved rate can be read as a fraction of it. FLOPs per model-step are counted as
2 x multiply-adds of forward (110 per point), weight gradients (110) and back-propagated
errors (105): 650 per point, 234,650 per step on 361 points.

Usage: ``python benchmarks/bench_nets.py [--quick] [--torch-python /tmp/torchvenv/bin/python]``.
The machine may be shared: timings are the best of a few repeats, and still noisy.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

SIZES = [1, 5, 5, 5, 5, 5, 1]
N_POINTS = 361
MS = (1, 64, 1024, 16384)


def flops_per_step(sizes=SIZES, n=N_POINTS):
    macs = sum(a * b for a, b in zip(sizes[1:], sizes[:-1]))  # forward
    back = sum(a * b for a, b in zip(sizes[2:], sizes[1:-1]))  # delta propagation (not into x)
    return 2 * (2 * macs + back) * n


def data():
    x = np.linspace(-1.0, 1.0, N_POINTS)
    return x, np.abs((3 * x) % 2 - 1)  # sawtooth


def best_time(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def matmul_rate(dtype, n=2048, repeats=3):
    rng = np.random.default_rng(0)
    a = rng.random((n, n)).astype(dtype)
    b = rng.random((n, n)).astype(dtype)
    a @ b
    return 2 * n**3 / best_time(lambda: a @ b, repeats)


def engine_rate(M, dtype, budget, repeats, backend="auto"):
    from nnlandscape.nets import MLP
    from nnlandscape.optim import train

    net = MLP(SIZES, "relu")
    x, y = data()
    th = net.init(M, seed=0, bias_std=0.1, dtype=dtype)
    if backend != "numpy":
        train(net, th, x, y, optimizer="gd", lr=1e-3, steps=1, backend=backend)  # compile / warm up
    steps = max(2, int(min(budget / M, budget / 50)))
    t = best_time(lambda: train(net, th, x, y, optimizer="gd", lr=1e-3, steps=steps, record_every=steps,
                                backend=backend), repeats)
    return M * steps / t


def numpy_loop_rate(M, budget, repeats):
    """Per-model loop: lean numpy forward/backward/GD step for one model after the other."""
    from nnlandscape.nets import MLP

    net = MLP(SIZES, "relu")
    x, y = data()
    X, Y = x[:, None], y[:, None]
    n = len(x)
    m_used = min(M, 8)
    steps = max(3, int(budget / m_used))
    models = []
    for th in net.init(m_used, seed=0, bias_std=0.1):
        Ws, bs = net.unpack(th.copy())
        models.append(([W.copy() for W in Ws], [b.copy() for b in bs]))

    def run():
        for Ws, bs in models:
            for _ in range(steps):
                a, acts, hs = X, [X], []
                for W, b in zip(Ws[:-1], bs[:-1]):
                    h = a @ W.T + b
                    a = np.maximum(h, 0.0)
                    hs.append(h)
                    acts.append(a)
                f = a @ Ws[-1].T + bs[-1]
                d = (2.0 / n) * (f - Y)
                for l in range(len(Ws) - 1, -1, -1):
                    gW, gb = d.T @ acts[l], d.sum(0)
                    if l > 0:
                        d = (d @ Ws[l]) * (hs[l - 1] > 0)
                    Ws[l] -= 1e-3 * gW
                    bs[l] -= 1e-3 * gb

    return m_used * steps / best_time(run, repeats)


def torch_loop_rate(M, budget, repeats):
    import torch

    torch.set_num_threads(1)  # tiny ops: intra-op threads only add synchronisation
    x, y = data()
    X = torch.tensor(x[:, None], dtype=torch.float32)
    Y = torch.tensor(y[:, None], dtype=torch.float32)
    m_used = min(M, 4)
    steps = max(3, int(budget / m_used))
    nets = []
    torch.manual_seed(0)
    for _ in range(m_used):
        layers = []
        for a, b in zip(SIZES[:-1], SIZES[1:]):
            layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
        net = torch.nn.Sequential(*layers[:-1])
        nets.append((net, torch.optim.SGD(net.parameters(), lr=1e-3)))

    def run():
        for net, opt in nets:
            for _ in range(steps):
                opt.zero_grad()
                loss = ((net(X) - Y) ** 2).sum(1).mean()
                loss.backward()
                opt.step()

    return m_used * steps / best_time(run, repeats)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small budget (~20 s)")
    ap.add_argument("--torch-python", default=None, help="interpreter with torch installed (for the torch column)")
    ap.add_argument("--torch-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    budget, loop_budget, repeats = (3e4, 300, 2) if args.quick else (4e5, 2000, 3)
    max_np = 1024 if args.quick else 16384  # largest M for the (slow) numpy-batched column

    if args.torch_only:  # child process: print the torch rates as JSON
        print(json.dumps({M: torch_loop_rate(M, loop_budget / 4, 2) for M in MS}))
        return

    try:
        import torch  # noqa: F401

        torch_rates = {M: torch_loop_rate(M, loop_budget / 4, 2) for M in MS}
        torch_note = f"torch {torch.__version__}, 1 thread"
    except ImportError:
        torch_rates, torch_note = None, "torch not installed (use --torch-python)"
        if args.torch_python:
            out = subprocess.run([args.torch_python, __file__, "--torch-only"] + (["--quick"] if args.quick else []),
                                 capture_output=True, text=True, check=True)
            torch_rates = {int(k): v for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}
            ver = subprocess.run([args.torch_python, "-c", "import torch;print(torch.__version__)"],
                                 capture_output=True, text=True).stdout.strip()
            torch_note = f"torch {ver} via {args.torch_python}, 1 thread"

    import numba

    flop = flops_per_step()
    # the machine may be shared: re-measure the matmul rate before every row and use the best seen
    # (the largest rate is the most conservative denominator)
    peak32, peak64 = matmul_rate(np.float32), matmul_rate(np.float64)
    print(f"# machine: {os.cpu_count()} CPUs, numba {numba.__version__} with {numba.get_num_threads()} threads "
          f"({numba.threading_layer() if hasattr(numba, 'threading_layer') else '?'}), {torch_note}")
    print(f"# dense matmul (numpy @, 2048^2) at start: float32 {peak32 / 1e9:.1f} GFLOP/s, float64 {peak64 / 1e9:.1f} GFLOP/s")
    print(f"# 1-5x5-1 ReLU (P=136), {N_POINTS} points, full-batch GD; {flop} FLOP per model-step")
    print("# rates in model-steps/s (wall clock, best of repeats); 'x loop' = engine / per-model numpy loop;"
          " '% peak' = achieved FLOP rate / best matmul rate of the same dtype seen during the run")
    rows = []
    for M in MS:
        peak32, peak64 = max(peak32, matmul_rate(np.float32, repeats=2)), max(peak64, matmul_rate(np.float64, repeats=2))
        loop = numpy_loop_rate(M, loop_budget, repeats)
        e32 = engine_rate(M, np.float32, budget, repeats)
        e64 = engine_rate(M, np.float64, budget, repeats)
        npb = engine_rate(M, np.float64, budget / 20, 1, backend="numpy") if M <= max_np else None
        rows.append((M, e32, e64, loop, npb))
        print(f"# measured M={M}", file=sys.stderr, flush=True)
    peak32, peak64 = max(peak32, matmul_rate(np.float32, repeats=2)), max(peak64, matmul_rate(np.float64, repeats=2))
    hdr = (f"{'M':>6} | {'engine f32':>11} {'x loop':>7} {'% peak':>7} | {'engine f64':>11} {'x loop':>7} {'% peak':>7} |"
           f" {'numpy loop':>10} | {'torch loop':>10} | {'np batched':>10}")
    print(hdr)
    print("-" * len(hdr))
    for M, e32, e64, loop, npb in rows:
        tr = f"{torch_rates[M]:10.0f}" if torch_rates else f"{'-':>10}"
        nb = f"{npb:10.0f}" if npb else f"{'-':>10}"
        print(f"{M:6d} | {e32:11.0f} {e32 / loop:7.1f} {100 * e32 * flop / peak32:6.1f}% | "
              f"{e64:11.0f} {e64 / loop:7.1f} {100 * e64 * flop / peak64:6.1f}% | {loop:10.0f} | {tr} | {nb}")
    print(f"# dense matmul, best seen during the run: float32 {peak32 / 1e9:.1f} GFLOP/s, float64 {peak64 / 1e9:.1f} GFLOP/s")
    M, e32, e64, loop, _ = rows[-1]
    print(f"# goal at M={M}: batched >= 20x the numpy loop -> {e32 / loop:.0f}x (f32), {e64 / loop:.0f}x (f64); "
          f">= 30% of matmul rate -> {100 * e32 * flop / peak32:.0f}% (f32), {100 * e64 * flop / peak64:.0f}% (f64)")


if __name__ == "__main__":
    main()
