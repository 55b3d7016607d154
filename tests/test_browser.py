"""Open every page of the built book in headless Chromium (Playwright), offline.

Asserts, page by page: every plotly figure drew, math is typeset and no ``$`` or ``\\`` is left in
the rendered text, embedded widgets render, moving a static explorer's control redraws it with the
data of the grid point the controls select, drop-downs overlap neither each other nor the legend,
no request left 127.0.0.1, and no JavaScript error was raised.

Printed, not asserted (the report at the end of the module): each page's weight (every byte the
page loaded) and each explorer's click-to-redraw time, for slider clicks and drop-down picks apart:
the round trip (from just before Playwright sends the click until the frame after the redraw; it
includes Playwright's own messaging) and, where the page records it, the time inside the page from
the control's change event to the end of the redraw (``data-redraw-ms``, ``performance.now()``).
A drop-down entry is clicked at its coordinates, as a slider's rail is: a locator's click would
add Playwright's actionability waits (two animation frames and more) to the time.
``python tests/test_browser.py DIR`` prints the same report for any built book (e.g. an older
build, for a before/after comparison).
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

#: page -> bytes loaded; (page, figure id) -> (kind, round trip ms, in-page ms or None) per change
WEIGHTS: dict[str, int] = {}
CLICKS: dict[tuple[str, str], list[tuple[str, float, float | None]]] = {}

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


def _summary(records) -> str:
    """``median rt (in page) ms`` of ``records`` (kind, round trip, in-page time)."""
    rt = statistics.median(r[1] for r in records)
    js = [r[2] for r in records if r[2] is not None]
    return f"{rt:.0f}" + (f" ({statistics.median(js):.0f})" if js else "")


def report_lines() -> list[str]:
    lines = ["", "page weight (every byte a page loads) and click-to-redraw of static explorers: median round "
             "trip (in the page: change event to redrawn) in ms, slider clicks / drop-down picks:"]
    for page, size in WEIGHTS.items():
        recs = [r for (p, _), rs in CLICKS.items() if p == page for r in rs]
        clicks = ""
        if recs:
            parts = [f"{what} {_summary(rs)}" for what, kind in (("sliders", "slider"), ("drop-downs", "menu"))
                     if (rs := [r for r in recs if r[0] == kind])]
            clicks = (f"; {len({f for (p, f) in CLICKS if p == page})} explorers, " + ", ".join(parts)
                      + f", max {max(r[1] for r in recs):.0f}")
        lines.append(f"  {page:40s} {size / 2**20:6.2f} MB{clicks}")
    for (page, fig), rs in CLICKS.items():
        per = [f"{kind}s " + " ".join(f"{r[1]:.0f}" + (f"({r[2]:.0f})" if r[2] is not None else "") for r in rs if r[0] == kind)
               for kind in ("slider", "menu") if any(r[0] == kind for r in rs)]
        lines.append(f"    {page} {fig}: " + "; ".join(per) + " ms")
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


def open_page(browser, server, page_path, width=None):
    """Load a page (``width`` px wide, Playwright's default if ``None``) with every non-local request
    aborted and recorded; return (page, external, errors)."""
    page = browser.new_page() if width is None else browser.new_page(viewport={"width": width, "height": 800})
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


VISIBLE = """id => { const gd = document.getElementById(id), spec = gd._nnlSpec;
  return { index: gd.getAttribute('data-grid-index'), drawn: gd.getAttribute('data-drawn-index'),
           order: spec ? spec.order : null, shape: spec ? spec.shape : null,
           active_sliders: (gd.layout.sliders || []).map(s => s.active),
           active_menus: (gd.layout.updatemenus || []).map(m => m.active),
           buttons: (gd.layout.updatemenus || []).map(m => m.buttons.length),
           ntraces: gd.data.filter(t => t.visible !== false).length }; }"""

MENUS = """id => { const gd = document.getElementById(id), box = e => { const r = e.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom]; };
  const legend = gd.querySelector('.legend');
  return { menus: Array.from(gd.querySelectorAll('.updatemenu-header-group')).map(box),
           legend: legend && legend.getBoundingClientRect().height > 0 ? box(legend) : null }; }"""

# the grid index moved and the figure was redrawn for it (an older build has no data-drawn-index)
REDRAWN = """([id, before]) => { const g = document.getElementById(id), k = g.getAttribute('data-grid-index'),
  d = g.getAttribute('data-drawn-index'); return k !== before && (d === null || d === k); }"""
ELAPSED = """id => new Promise(r => requestAnimationFrame(() => r([performance.now() - window.__nnlT0,
  document.getElementById(id).getAttribute('data-redraw-ms')])))"""

# What the figure shows after a change, compared with the page's precomputed grid point: every
# attribute stored for trace j (shared ones and this grid point's, base64 float arrays decoded here,
# independently of the page's script) must be what plotly holds in gd.data[j].
GRID_POINT = """([id, flat]) => { const gd = document.getElementById(id), spec = gd._nnlSpec;
  if (!spec) { return null; }
  const types = {f4: Float32Array, f8: Float64Array, i1: Int8Array, u1: Uint8Array, u1c: Uint8ClampedArray,
                 i2: Int16Array, u2: Uint16Array, i4: Int32Array, u4: Uint32Array};
  const flatten = v => (Array.isArray(v) && v.some(x => ArrayBuffer.isView(x) || Array.isArray(x)))
      ? v.reduce((a, x) => a.concat(Array.from(x)), []) : (ArrayBuffer.isView(v) ? Array.from(v) : v);
  const decode = v => { const bin = atob(v.bdata), u = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) { u[i] = bin.charCodeAt(i); }
      return Array.from(new types[v.dtype](u.buffer)); };
  const text = v => JSON.stringify(v, (k, x) => ArrayBuffer.isView(x) ? Array.from(x)
                                              : (typeof x === 'number' && isNaN(x)) ? 'NaN' : x);
  const same = (a, b) => text(a) === text(b);
  const bad = [];
  const check = (want, got, path) => { for (const k in want) { const w = want[k], g = got == null ? undefined : got[k];
      if (w && typeof w === 'object' && !Array.isArray(w) && 'bdata' in w) {
        if (!same(decode(w), flatten(g))) { bad.push(path + k); } }
      else if (w && typeof w === 'object' && !Array.isArray(w)) { check(w, g, path + k + '.'); }
      else if (!(k === 'visible' && g === 'legendonly') && !same(w, g)) { bad.push(path + k); } } };
  if (gd.data.length !== spec.base.length) { return ['number of traces ' + gd.data.length]; }
  spec.base.forEach((b, j) => { check(b, gd.data[j], j + ':'); check(spec.grid[flat][j], gd.data[j], j + ':'); });
  return bad.slice(0, 5); }"""


def _overlap(a, b) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _timed(page, gid, before, act) -> tuple[float, float | None]:
    """Run ``act`` (a click); return ms from just before it until the frame after the redraw, and the
    page's own time from the change event to the end of the redraw (``None`` on an older build)."""
    page.evaluate("window.__nnlT0 = performance.now()")
    act()
    page.wait_for_function(REDRAWN, arg=[gid, before["index"]], timeout=15000)
    rt, inside = page.evaluate(ELAPSED, gid)
    return rt, None if inside is None else float(inside)


def _click_centre(page, locator):
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    return lambda: page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def move_controls(page, page_path, gid, f, clicks=3, picks=2) -> list:
    """Click the first slider's rail ``clicks`` times (alternating ends) and pick the next entry of
    the first drop-down ``picks`` times; record click-to-redraw times; return the states after each
    change."""
    states = []
    before = page.evaluate(VISIBLE, gid)
    for i in range(clicks if f["sliders"] else 0):
        rail = page.locator(f"#{gid} .slider-rail-rect").first
        rail.scroll_into_view_if_needed()  # a tall figure's sliders may sit below the fold
        box = rail.bounding_box()
        x = box["x"] + box["width"] - 2 if before["active_sliders"][0] == 0 else box["x"] + 2
        rt, inside = _timed(page, gid, before, lambda: page.mouse.click(x, box["y"] + box["height"] / 2))
        CLICKS.setdefault((page_path, gid), []).append(("slider", rt, inside))
        after = _state(page, gid)
        states.append(("slider", before, after))
        before = after
    for i in range(picks if f["menus"] else 0):
        header = page.locator(f"#{gid} .updatemenu-header-group").first
        header.scroll_into_view_if_needed()
        header.click()
        page.wait_for_timeout(200)
        target = (before["active_menus"][0] + 1) % before["buttons"][0]
        button = page.locator(f"#{gid} .updatemenu-dropdown-button-group .updatemenu-dropdown-button").nth(target)
        rt, inside = _timed(page, gid, before, _click_centre(page, button))
        CLICKS.setdefault((page_path, gid), []).append(("menu", rt, inside))
        after = _state(page, gid)
        states.append(("menu", before, after))
        before = after
    return states


def grid_point_of(state) -> int | None:
    """The flat grid index the controls' state selects (row-major over the controls in page order),
    computed here from the active slider steps and drop-down entries; ``None`` on an older build."""
    if state["order"] is None:
        return None
    flat = 0
    for (kind, k), n in zip(state["order"], state["shape"]):
        active = (state["active_sliders"] if kind == "s" else state["active_menus"])[k]
        flat = flat * n + (active or 0)
    return flat


def _state(page, gid) -> dict:
    """The explorer's state (:data:`VISIBLE`) and, under ``"differs"``, what its figure holds unlike the
    grid point its controls select (:data:`GRID_POINT`; ``None`` on an older build)."""
    state = page.evaluate(VISIBLE, gid)
    flat = grid_point_of(state)
    state["differs"] = None if flat is None else page.evaluate(GRID_POINT, [gid, flat])
    return state


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
                flat = grid_point_of(after)
                assert flat is not None and int(after["index"]) == flat, (gid, "grid index", flat, after)
                assert after["differs"] == [], (gid, "the figure differs from its precomputed grid point", after)
                checked += 1
        assert checked >= len(explorers)
    finally:
        page.close()
    assert not external and not errors, (external, errors)


def menu_overlaps(page, gid) -> list:
    """Overlaps (px²) of an explorer's drop-downs with each other and with its legend, once laid out."""
    page.locator(f"#{gid}").scroll_into_view_if_needed()
    page.wait_for_selector(f"#{gid}[data-menus-laid-out]", timeout=10000)
    boxes = page.evaluate(MENUS, gid)
    menus = boxes["menus"]
    found = [("drop-downs", i, j, _overlap(menus[i], menus[j])) for i in range(len(menus)) for j in range(i)]
    if boxes["legend"]:
        found += [("legend", i, None, _overlap(m, boxes["legend"])) for i, m in enumerate(menus)]
    return [f for f in found if f[3] >= 1]


@pytest.mark.parametrize("page_path", CHAPTERS)
def test_drop_downs_apart_on_a_phone(browser, server, page_path):
    """At 400 px (a phone) drop-downs that do not fit side by side wrap into rows that overlap
    neither each other nor the legend."""
    page, external, errors = open_page(browser, server, page_path, width=400)
    try:
        figs = [f for f in page.evaluate(PAGE_STATE)["figures"] if f["explorer"] and f["menus"]]
        bad = {f["id"]: o for f in figs if (o := menu_overlaps(page, f["id"]))}
    finally:
        page.close()
    assert not bad, f"overlapping drop-downs at 400 px: {bad}"
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
                    move_controls(page, page_path, f["id"], f, clicks=5, picks=5)
                page.close()
            b.close()
    finally:
        httpd.shutdown()
    print("\n".join(report_lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
