"""How fast an analytic explorer answers a slider, and what a static grid costs.

Run: ``python benchmarks/bench_explore.py``. Prints times and ratios measured in this run; asserts
nothing. The baseline for the kernel is a plain 2-D Gauss-Hermite quadrature of every layer map
(60 x 60 nodes per q point), i.e. what one would write without the library's closed forms and
Mehler series.

With Playwright and Chromium installed it also times a static explorer's redraw in the browser:
a control change handled by the page's own script (change event to the frame after the redraw,
``performance.now()`` in the page), against ``Plotly.newPlot`` of the whole figure with the same
grid point's data (rebuilding the figure, the baseline), for a heat map with markers and for a
figure of many curves.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

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


def _map_traces(phase, depth, width, resolution):
    """A heat map (zsmooth "fast") with three marker traces, as the sampled-landscape explorer draws."""
    lon, lat = np.linspace(-180, 180, 61), np.linspace(-90, 90, 31)
    z = np.sin(np.radians(lon)[None, :] * depth + phase) * np.cos(np.radians(lat)[:, None] * width / 50)
    rng = np.random.default_rng(depth * 1000 + width + resolution)
    out = [dict(type="heatmap", x=lon, y=lat, z=z, colorscale="Greys", zsmooth="fast", zmin=-1, zmax=1, name="field")]
    for k in range(3):
        n = int(rng.integers(5, 15)) * resolution // 500
        out.append(dict(x=rng.uniform(-180, 180, n), y=rng.uniform(-90, 90, n), mode="markers", name=f"{k}: {n}"))
    return out


def _curve_traces(k, a):
    x = np.linspace(0, 1, 200)
    return [dict(x=x, y=a * np.sin((k + j) * x * 3) + j, name=f"curve {j}", mode="lines") for j in range(12)]


_PAGE_JS = """async ([k, n]) => {
  // alternately: a change handled by the page's script, and the figure rebuilt by Plotly.newPlot
  // (the baseline draws into a second div of the same size: newPlot would drop the page script's listeners)
  const gd = document.querySelectorAll('.plotly-graph-div')[k], frame = () => new Promise(r => requestAnimationFrame(() => r()));
  const ours = [], rebuilt = [], steps = gd.layout.sliders[0].steps.length, copy = document.createElement('div');
  copy.style.width = gd.offsetWidth + 'px'; copy.style.height = gd.offsetHeight + 'px';
  gd.parentElement.parentElement.appendChild(copy);
  for (let i = 0; i < n; i++) {
    const before = gd.getAttribute('data-drawn-index');
    let t0 = performance.now();
    gd.layout.sliders[0].active = (gd.layout.sliders[0].active + 1) % steps;
    gd.emit('plotly_sliderchange', {});
    while (gd.getAttribute('data-drawn-index') === before) { await new Promise(r => setTimeout(r, 0)); }
    await frame();
    ours.push(performance.now() - t0);
    const data = JSON.parse(JSON.stringify(gd.data, (key, v) => ArrayBuffer.isView(v) ? Array.from(v) : v));
    t0 = performance.now();
    await Plotly.newPlot(copy, data, JSON.parse(JSON.stringify(gd.layout)));
    await frame();
    rebuilt.push(performance.now() - t0);
  }
  Plotly.purge(copy); copy.remove();
  return [ours, rebuilt]; }"""


def browser_redraw(n=15):
    """Median in-page redraw time of a control change: the page's script vs a full ``Plotly.newPlot``."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("\nBrowser redraw: skipped (playwright is not installed)")
        return
    chromium = os.environ.get("NNLANDSCAPE_CHROMIUM", "/usr/bin/chromium")
    plotly_js = Path(__file__).resolve().parents[1] / "_assets" / "vendor" / "plotly.min.js"
    if not Path(chromium).exists() or not plotly_js.exists():
        print(f"\nBrowser redraw: skipped (no Chromium at {chromium} or no {plotly_js})")
        return
    explorers = {
        "heat map + 3 marker traces, 24 grid points": explore(
            _map_traces, [dropdown("phase", [0.0, 1.0, 2.0]), slider("depth", [1, 3]), slider("width", [50, 200]),
                          slider("resolution", [500, 4000])], mode="static", layout=dict(height=420)),
        "12 curves x 200 points, 60 grid points": explore(
            _curve_traces, [slider("k", range(10)), slider("a", [0.5, 1.0, 1.5, 2.0, 2.5, 3.0])], mode="static"),
    }
    body = "".join(f'<div style="width:760px">{e.to_html()}</div>' for e in explorers.values())
    with tempfile.TemporaryDirectory() as tmp:
        page_file = Path(tmp) / "bench.html"
        page_file.write_text(f'<!doctype html><html><head><meta charset="utf-8"><script src="{plotly_js.as_uri()}">'
                             f"</script></head><body>{body}</body></html>")
        args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--allow-file-access-from-files"]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=args)
            page = browser.new_page()
            page.goto(page_file.as_uri(), wait_until="load")
            page.wait_for_function("document.querySelectorAll('.plotly-graph-div[data-explorer]').length === 2")
            page.wait_for_timeout(500)
            print("\nBrowser redraw of a static explorer (in-page median, change event to the next frame; "
                  "the machine's load counts):")
            print(f"  {'figure':45s} {'page script':>12s} {'Plotly.newPlot':>15s} {'speed-up':>9s}")
            for k, name in enumerate(explorers):
                ours, rebuilt = page.evaluate(_PAGE_JS, [k, n])
                a, b = statistics.median(ours), statistics.median(rebuilt)
                print(f"  {name:45s} {a:9.1f} ms {b:12.1f} ms {b / a:8.2f}x")
            browser.close()


if __name__ == "__main__":
    main()
    browser_redraw()
