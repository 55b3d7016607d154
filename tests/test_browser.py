"""Open every page of the built book in headless Chromium (Playwright), offline.

Asserts, page by page: every plotly figure drew, math is typeset and no ``$`` or ``\\`` is left in
the rendered text, embedded widgets render, moving a static explorer's control redraws it with the
data of the grid point the controls select, drop-downs overlap neither each other nor the legend,
no request left 127.0.0.1, and no JavaScript error was raised.

Printed, not asserted (the report at the end of the module): each page's weight (every byte the
page loaded) and each explorer's click-to-redraw time.  ``python tests/test_browser.py DIR`` prints
the same report for any built book (e.g. an older build, for a before/after comparison).
"""
from __future__ import annotations

import functools
import http.server
import os
import statistics
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_book import toc_pages  # noqa: E402

pytestmark = [pytest.mark.book, pytest.mark.browser]

#: page -> bytes loaded; (page, figure id) -> click-to-redraw times in ms (the report)
WEIGHTS: dict[str, int] = {}
CLICKS: dict[tuple[str, str], list[float]] = {}

CHROMIUM = os.environ.get("NNLANDSCAPE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(directory):
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


@pytest.fixture(scope="module")
def server(built_book: Path, request):
    httpd, url = serve(built_book)
    yield url
    httpd.shutdown()
    # printed past pytest's output capture (shown without -s); never asserted
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            print("\n".join(report_lines()))
    else:
        print("\n".join(report_lines()))


def report_lines() -> list[str]:
    lines = ["", "page weight (every byte a page loads) and click-to-redraw of static explorers:"]
    for page, size in WEIGHTS.items():
        times = [t for (p, _), ts in CLICKS.items() if p == page for t in ts]
        clicks = (f"; {len({f for (p, f) in CLICKS if p == page})} explorers, click-to-redraw median "
                  f"{statistics.median(times):.0f} ms, max {max(times):.0f} ms") if times else ""
        lines.append(f"  {page:40s} {size / 2**20:6.2f} MB{clicks}")
    for (page, fig), ts in CLICKS.items():
        lines.append(f"    {page} {fig}: " + " ".join(f"{t:.0f}" for t in ts) + " ms")
    return lines


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run scripts/install.sh (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def open_page(browser, server, page_path):
    """Load a page with every non-local request aborted and recorded; return (page, external, errors)."""
    page = browser.new_page()
    external, errors = [], []

    def route(r):
        host = urlparse(r.request.url).hostname
        if r.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{server}/{page_path}.html", wait_until="load")
    # every plotly figure drawn (plotly adds .main-svg), then a moment for late scripts
    page.wait_for_function(
        "Array.from(document.querySelectorAll('.plotly-graph-div')).every(gd => gd.querySelector('.main-svg'))",
        timeout=30000,
    )
    page.wait_for_timeout(500)
    WEIGHTS[page_path] = page.evaluate(WEIGHT)
    return page, external, errors


WEIGHT = """() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
   .reduce((n, e) => n + (e.decodedBodySize || e.transferSize || 0), 0)"""


PAGE_STATE = """() => ({
  figures: Array.from(document.querySelectorAll('.plotly-graph-div')).map(gd => ({
     id: gd.id, drawn: !!(gd._fullLayout && gd.querySelector('.main-svg')),
     explorer: gd.getAttribute('data-explorer') === 'static',
     sliders: ((gd.layout || {}).sliders || []).length, menus: ((gd.layout || {}).updatemenus || []).length })),
  rawMath: (() => {  // any $ or \\ left in the rendered text: TeX that was not typeset
     // (code, printed output and figures may show TeX source legitimately)
     const body = document.querySelector('main') || document.body;
     const copy = body.cloneNode(true);
     copy.querySelectorAll('pre, code, script, style, .cell_input, mjx-container, .plotly-graph-div')
         .forEach(e => e.remove());
     const text = copy.textContent, hits = [];
     const re = /[$\\\\]/g;
     let m;
     while ((m = re.exec(text)) !== null && hits.length < 5) {
       hits.push(text.slice(Math.max(0, m.index - 40), m.index + 40).replace(/\\s+/g, ' ')); }
     return hits; })(),
  typeset: document.querySelectorAll('mjx-container').length,
  mathNodes: document.querySelectorAll('.math').length,
  widgetState: document.querySelectorAll('script[type="application/vnd.jupyter.widget-state+json"]').length,
  widgetViews: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
  widgetsRendered: document.querySelectorAll('.jupyter-widgets').length,
})"""


@pytest.mark.parametrize("page_path", toc_pages())
def test_page_renders_offline(browser, server, page_path):
    page, external, errors = open_page(browser, server, page_path)
    try:
        if page.evaluate("document.querySelectorAll('.math').length") > 0:
            page.wait_for_function("document.querySelectorAll('mjx-container').length > 0", timeout=20000)
        state = page.evaluate(PAGE_STATE)
        if state["widgetViews"]:
            page.wait_for_function("document.querySelectorAll('.jupyter-widgets').length > 0", timeout=20000)
            state = page.evaluate(PAGE_STATE)
    finally:
        page.close()
    assert not external, f"requests left 127.0.0.1: {external[:5]}"
    assert not errors, f"JavaScript errors: {errors[:5]}"
    assert all(f["drawn"] for f in state["figures"]), state["figures"]
    if state["mathNodes"]:
        assert state["typeset"] > 0, state
    if state["widgetViews"]:
        assert state["widgetState"] == 1 and state["widgetsRendered"] >= state["widgetViews"], state
    assert not state["rawMath"], f"TeX left in the rendered text: {state['rawMath']}"


VISIBLE = """id => { const gd = document.getElementById(id);
  return { index: gd.getAttribute('data-grid-index'), drawn: gd.getAttribute('data-drawn-index'),
           active_sliders: (gd.layout.sliders || []).map(s => s.active),
           active_menus: (gd.layout.updatemenus || []).map(m => m.active),
           ntraces: gd.data.filter(t => t.visible !== false).length }; }"""

MENUS = """id => { const gd = document.getElementById(id), box = e => { const r = e.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom]; };
  const legend = gd.querySelector('.legend');
  return { menus: Array.from(gd.querySelectorAll('.updatemenu-header-group')).map(box),
           legend: legend && legend.getBoundingClientRect().height > 0 ? box(legend) : null }; }"""

# the grid index moved and the figure was redrawn for it (an older build has no data-drawn-index)
REDRAWN = """([id, before]) => { const g = document.getElementById(id), k = g.getAttribute('data-grid-index'),
  d = g.getAttribute('data-drawn-index'); return k !== before && (d === null || d === k); }"""
ELAPSED = "new Promise(r => requestAnimationFrame(() => r(performance.now() - window.__nnlT0)))"


def _overlap(a, b) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _timed(page, gid, before, act) -> float:
    """Run ``act`` (a click); return ms from just before it until the redrawn figure is painted."""
    page.evaluate("window.__nnlT0 = performance.now()")
    act()
    page.wait_for_function(REDRAWN, arg=[gid, before["index"]], timeout=15000)
    return page.evaluate(ELAPSED)


def move_controls(page, page_path, gid, f, clicks=3) -> list:
    """Click the first slider's rail ``clicks`` times (alternating ends) and pick another entry of
    the first drop-down; record click-to-redraw times; return the states after each change."""
    states = []
    before = page.evaluate(VISIBLE, gid)
    for i in range(clicks if f["sliders"] else 0):
        rail = page.locator(f"#{gid} .slider-rail-rect").first
        rail.scroll_into_view_if_needed()  # a tall figure's sliders may sit below the fold
        box = rail.bounding_box()
        x = box["x"] + box["width"] - 2 if before["active_sliders"][0] == 0 else box["x"] + 2
        ms = _timed(page, gid, before, lambda: page.mouse.click(x, box["y"] + box["height"] / 2))
        CLICKS.setdefault((page_path, gid), []).append(ms)
        after = page.evaluate(VISIBLE, gid)
        states.append(("slider", before, after))
        before = after
    if f["menus"]:
        header = page.locator(f"#{gid} .updatemenu-header-group").first
        header.scroll_into_view_if_needed()
        header.click()
        page.wait_for_timeout(200)
        target = 0 if before["active_menus"][0] != 0 else 1
        button = page.locator(f"#{gid} .updatemenu-dropdown-button-group .updatemenu-dropdown-button").nth(target)
        ms = _timed(page, gid, before, button.click)
        CLICKS.setdefault((page_path, gid), []).append(ms)
        states.append(("menu", before, page.evaluate(VISIBLE, gid)))
    return states


CHAPTERS = [p for p in toc_pages() if p.startswith("chapters/")]


@pytest.mark.parametrize("page_path", CHAPTERS)
def test_static_explorer_controls_move_the_figure(browser, server, page_path):
    """In every explorer of every chapter: the drop-downs overlap neither each other nor the legend;
    clicking a slider's rail and picking another drop-down entry selects another grid point, and the
    figure is redrawn with that grid point's traces (same number of curves)."""
    page, external, errors = open_page(browser, server, page_path)
    try:
        figs = page.evaluate(PAGE_STATE)["figures"]
        explorers = [f for f in figs if f["explorer"]]
        if page_path.endswith("00_gaussian_fields"):
            assert len(explorers) >= 3, "the Gaussian-field chapter has three static explorers"
        checked = 0
        for f in explorers:
            gid = f["id"]
            page.locator(f"#{gid}").scroll_into_view_if_needed()
            if f["menus"]:
                page.wait_for_selector(f"#{gid}[data-menus-laid-out]", timeout=10000)
                boxes = page.evaluate(MENUS, gid)
                menus = boxes["menus"]
                for i in range(len(menus)):
                    for j in range(i):
                        assert _overlap(menus[i], menus[j]) < 1, (gid, "drop-downs overlap", menus)
                    if boxes["legend"]:
                        assert _overlap(menus[i], boxes["legend"]) < 1, (gid, "a drop-down hides the legend", boxes)
            for kind, before, after in move_controls(page, page_path, gid, f):
                if kind == "slider":
                    assert after["active_sliders"][0] != before["active_sliders"][0], (gid, before, after)
                else:
                    assert after["active_menus"][0] != before["active_menus"][0], (gid, before, after)
                assert after["index"] != before["index"] and after["drawn"] == after["index"], (gid, before, after)
                assert after["ntraces"] == before["ntraces"] > 0, (gid, before, after)
                checked += 1
        assert checked >= len(explorers)
    finally:
        page.close()
    assert not external and not errors, (external, errors)


def main(argv: list[str]) -> int:
    """``python tests/test_browser.py DIR``: print the weight/click report for the book in DIR."""
    from playwright.sync_api import sync_playwright

    html = Path(argv[1] if len(argv) > 1 else "_build/html").resolve()
    pages = [p for p in toc_pages() if (html / f"{p}.html").is_file()]
    httpd, url = serve(html)
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for page_path in pages:
                page, _, _ = open_page(b, url, page_path)
                for f in [f for f in page.evaluate(PAGE_STATE)["figures"] if f["explorer"]]:
                    page.locator(f"#{f['id']}").scroll_into_view_if_needed()
                    move_controls(page, page_path, f["id"], f, clicks=5)
                page.close()
            b.close()
    finally:
        httpd.shutdown()
    print("\n".join(report_lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
