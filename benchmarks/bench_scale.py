"""Paper-scale runs (:mod:`nnlandscape.scale`): in-process against a Dask ``LocalCluster``, and what
the Gamst & Walker run would cost.

Measures, in one run, on the ``"ch05"`` experiment (5x5 ReLU networks, 191 training points, momentum
and Adadelta alternating, results written to a chunked folder as a real run does):

* model-steps/s in-process (the engine's parallel driver, all cores) and on a ``LocalCluster`` with
  1 and 2 single-threaded worker processes (same items, same seed; the results are checked to be
  the same bits);
* the overhead per chunk: many chunks of one network and one step, in-process and on 2 workers;
* the projected wall time of the paper's run, 320 000 networks x 50 000 steps = 1.6e10 model-steps,
  on 2, 64 and 512 cores, from the measured per-core rate (1 worker) and overhead per chunk:
  ``ceil(n_chunks / cores)`` waves of ``chunk_size * steps / rate + overhead`` (chunks of 1000, the
  command line's default, and chunks sized to 4 per core);
* the paper's jitter trials projected from the same per-core rate, and one NEB band of chapter 5's
  recipe timed in-process (``"ch05-neb"``), projected to the paper's 100 bands;
* whether a local cluster speeds up an explorer's static grid (``--grid``): the 360-point
  covariance grid of ``bench_explore.py`` run as the ``"grid"`` experiment, in-process against 2
  workers (cluster start-up counted separately), and a heavy grid by ``client.map``.

Usage: ``python benchmarks/bench_scale.py [--quick] [--grid]``. Prints; asserts nothing. The machine
may be shared: timings are the best of a few repeats, and still noisy.
"""
from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time

import numpy as np

from nnlandscape import scale

PAPER_ITEMS, PAPER_STEPS = 320_000, 50_000


def timed(fn, repeats=1):
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def one_run(client, n_items, chunk_size, steps, seed=1):
    d = tempfile.mkdtemp(prefix="bench-scale-")
    try:
        return scale.run("ch05", n_items=n_items, chunk_size=chunk_size, seed=seed, params={"steps": steps},
                         out=d, client=client, progress=False)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def same_bits(a, b):
    return all(a.data[k].tobytes() == b.data[k].tobytes() for k in a.data)


def projection(rate_core, overhead, cores, chunk_size):
    n_chunks = math.ceil(PAPER_ITEMS / chunk_size)
    waves = math.ceil(n_chunks / cores)
    return waves * (chunk_size * PAPER_STEPS / rate_core + overhead)


def fmt_time(s):
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.1f} min" if s >= 60 else f"{s:.1f} s"


def bench_runs(quick):
    from distributed import Client, LocalCluster

    n_items, chunk, steps = (128, 64, 300) if quick else (512, 128, 600)
    n_tiny = 40 if quick else 120
    work = n_items * steps
    print(f"ch05 mass training: {n_items} networks x {steps} steps = {work:.3g} model-steps, chunks of {chunk}")
    one_run(None, 4, 2, 5)  # compile / load the kernel here
    t_in, ref = timed(lambda: one_run(None, n_items, chunk, steps), 2)
    t_tiny_in, _ = timed(lambda: one_run(None, n_tiny, 1, 1), 2)
    rows = [("in-process (all cores)", t_in, None)]
    tiny = {"in-process": t_tiny_in / n_tiny}
    per_core = None
    for n_workers in (1, 2):
        t0 = time.perf_counter()
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0") as lc, \
                Client(lc) as c:
            start = time.perf_counter() - t0
            one_run(c, 2 * n_workers, 1, 5)  # workers import the package and load the kernel
            t, res = timed(lambda: one_run(c, n_items, chunk, steps), 2)
            if n_workers == 1:  # the per-core rate at the command line's chunk size (1000 networks)
                t_core, _ = timed(lambda: one_run(c, 1000, 1000, 100 if quick else 300))
                per_core = 1000 * (100 if quick else 300) / t_core
            if n_workers == 2:
                t_tiny, _ = timed(lambda: one_run(c, n_tiny, 1, 1), 2)
                tiny["LocalCluster 2 workers"] = t_tiny / n_tiny
        rows.append((f"LocalCluster {n_workers} worker{'s' * (n_workers > 1)}", t, (start, same_bits(ref, res))))
    print(f"  {'':26s} {'time':>8s} {'model-steps/s':>14s} {'vs in-process':>14s}  notes")
    for name, t, extra in rows:
        note = "" if extra is None else f"cluster start {extra[0]:.1f} s; same bits as in-process: {extra[1]}"
        print(f"  {name:26s} {t:7.2f}s {work / t:14.3g} {t_in / t:13.2f}x  {note}")
    print("\nOverhead per chunk (chunks of 1 network x 1 step, results written to the folder):")
    for name, t in tiny.items():
        print(f"  {name:26s} {1e3 * t:7.1f} ms")
    overhead = tiny["LocalCluster 2 workers"] * 2  # per chunk on one of the two workers
    print(f"\nPaper scale (Gamst & Walker): {PAPER_ITEMS:,} networks x {PAPER_STEPS:,} steps = "
          f"{PAPER_ITEMS * PAPER_STEPS:.2g} model-steps")
    print(f"  per-core rate (1 worker, one chunk of 1000 networks): {per_core:.3g} model-steps/s; "
          f"overhead per chunk {1e3 * overhead:.0f} ms")
    print(f"  {'cores':>6s} {'chunks of 1000':>16s} {'chunks sized for the cores':>30s} {'no overhead':>12s}")
    largest = scale.EXPERIMENTS["ch05"].max_chunk(scale.EXPERIMENTS["ch05"].check({}))
    for cores in (2, 64, 512):
        c4 = min(largest, max(1, math.ceil(PAPER_ITEMS / (4 * cores))))  # ~4 chunks per core, within the budget
        t1000 = projection(per_core, overhead, cores, 1000)
        t4 = projection(per_core, overhead, cores, c4)
        ideal = PAPER_ITEMS * PAPER_STEPS / (per_core * cores)
        print(f"  {cores:6d} {fmt_time(t1000):>16s} {fmt_time(t4):>19s} (size {c4:4d}) {fmt_time(ideal):>12s}")
    print("  (smaller chunks train fewer models per call and run somewhat below the per-core rate used here)")
    jit = scale.EXPERIMENTS["ch05-jitter"]
    jw = jit.paper_items * jit.model_steps_per_item(jit.check({}))
    print(f"Paper-scale jitter trials ('ch05-jitter', same kernel): {jit.paper_items:,} trials x "
          f"{jit.defaults['steps']:,} steps = {jw:.2g} model-steps: "
          + ", ".join(f"{fmt_time(jw / (per_core * cores))} on {cores} cores" for cores in (2, 64, 512))
          + " (no overhead)")


def bench_neb(quick):
    """One NEB band with chapter 5's recipe (17 images, 1000 FIRE steps, one refinement), in-process,
    to project the paper's 100 bands (their endpoints' training is the ch05 rate, above)."""
    neb_steps = 200 if quick else 1000
    params = {"steps": 20, "endpoints": "all", "neb_steps": neb_steps}
    scale.run("ch05-neb", n_items=1, chunk_size=1, seed=1, params={**params, "neb_steps": 2}, progress=False)
    t, _ = timed(lambda: scale.run("ch05-neb", n_items=2, chunk_size=1, seed=1, params=params, progress=False))
    per_band = t / 2 * (1000 / neb_steps)
    print(f"\nNEB batches ('ch05-neb'): {1e3 * t / 2:.0f} ms per band of {neb_steps} FIRE steps per relaxation "
          f"(in-process, one core's BLAS); at 1000 steps about {per_band:.1f} s per band; the paper's 100 bands: "
          + ", ".join(f"{fmt_time(math.ceil(100 / cores) * per_band)} on {cores} cores" for cores in (2, 64))
          + " (plus their endpoints' training)")


def bench_grid():
    from distributed import Client, LocalCluster

    from nnlandscape import kernels

    Q = np.linspace(-1.0, 1.0, 81)
    params = {"function": "nnlandscape.kernels:covariance", "fixed": {"q": Q.tolist()},
              "controls": [["activation", ["linear", "relu", "tanh", "erf", "sin"]], ["depth", list(range(1, 13))],
                           ["sigma_w2", [0.5, 1.0, 1.5, 2.0, 3.0, 4.0]]]}
    n_grid = 5 * 12 * 6
    kw = dict(n_items=n_grid, chunk_size=30, seed=0, params=params, progress=False)

    print(f"\nExplorer grid: kernels.covariance over {n_grid} grid points (bench_explore's grid), "
          f"scale.run('grid', ...) in chunks of {kw['chunk_size']}")
    t_direct, _ = timed(lambda: [kernels.covariance(a, d, Q, sigma_w2=s) for a in params["controls"][0][1]
                                 for d in params["controls"][1][1] for s in params["controls"][2][1]], 3)
    t_in, ref = timed(lambda: scale.run("grid", **kw), 3)
    t0 = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as lc, \
            Client(lc) as c:
        start = time.perf_counter() - t0
        scale.run("grid", **{**kw, "n_items": 5, "params": {**params, "controls": [["activation", ["linear", "relu", "tanh",
                  "erf", "sin"]]], "fixed": {"q": Q.tolist(), "depth": 1}}}, client=c)  # warm the workers (imports)
        t_cl, res = timed(lambda: scale.run("grid", client=c, **kw), 3)
    print(f"  direct calls: {t_direct:.2f} s; scale.run in-process: {t_in:.2f} s; LocalCluster 2 workers: {t_cl:.2f} s "
          f"(+ {start:.1f} s start-up); ratio {t_in / t_cl:.2f}x without start-up, {t_in / (t_cl + start):.2f}x with "
          f"it; same bits: {same_bits(ref, res)}")

    # a heavy grid: chapter 05's dead-network control, 6 settings x 96 networks x 1500 steps
    from nnlandscape import landscape as ls

    W, net, X, Y = scale._ch05_problem(0.5, 4, 9)
    settings = [(c, b, k) for c in (False, True) for b in (0.0, 0.1) for k in ("momentum", "adadelta")
                if c or b]

    def train_point(args):
        centred, bstd, k = args
        return ls.train_models(net, 2 * X - 1 if centred else X, Y, 96, k, steps=1500, seed=2037, bias_std=bstd).loss

    print(f"Heavy grid: chapter 05's dead-network control, {len(settings)} settings x 96 networks x 1500 steps")
    train_point(settings[0])  # compile here
    t_in, ref = timed(lambda: [train_point(g) for g in settings])
    t0 = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as lc, \
            Client(lc) as c:
        start = time.perf_counter() - t0
        warm = time.perf_counter()
        c.gather(c.map(train_point, settings[:2], pure=False))  # workers import and load the kernel
        warm = time.perf_counter() - warm
        t_cl, res = timed(lambda: c.gather(c.map(train_point, settings, pure=False)))
    same = all(np.array_equal(a, b) for a, b in zip(ref, res))
    print(f"  in-process: {t_in:.2f} s; LocalCluster 2 workers: {t_cl:.2f} s (+ {start:.1f} s start-up, {warm:.1f} s "
          f"first calls); ratio {t_in / t_cl:.2f}x without start-up, {t_in / (t_cl + start + warm):.2f}x with it; "
          f"same values: {same}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller runs")
    ap.add_argument("--grid", action="store_true", help="also measure an explorer grid on a local cluster")
    a = ap.parse_args()
    bench_runs(a.quick)
    bench_neb(a.quick)
    if a.grid:
        bench_grid()


if __name__ == "__main__":
    main()
