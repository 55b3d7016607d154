"""Open every page of the built book in headless Chromium (Playwright), offline.

Asserts, page by page: every plotly figure drew, math is typeset, embedded widgets render, moving a
static explorer's control changes the visible trace set, no request left 127.0.0.1, and no
JavaScript error was raised.
"""
from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

from test_book import toc_pages

pytestmark = [pytest.mark.book, pytest.mark.browser]

CHROMIUM = os.environ.get("NNLANDSCAPE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(built_book: Path):
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


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
    return page, external, errors


PAGE_STATE = """() => ({
  figures: Array.from(document.querySelectorAll('.plotly-graph-div')).map(gd => ({
     id: gd.id, drawn: !!(gd._fullLayout && gd.querySelector('.main-svg')),
     explorer: gd.getAttribute('data-explorer') === 'static',
     sliders: ((gd.layout || {}).sliders || []).length, menus: ((gd.layout || {}).updatemenus || []).length })),
  rawMath: (() => {  // TeX left untypeset in prose (code cells may show TeX source legitimately)
     const body = document.querySelector('main') || document.body;
     const copy = body.cloneNode(true);
     copy.querySelectorAll('pre, code, script, .cell_input, mjx-container').forEach(e => e.remove());
     return (copy.textContent.match(/\\\\(begin|frac|mathcal)\b/g) || []).length; })(),
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
        assert state["typeset"] > 0 and state["rawMath"] == 0, state
    if state["widgetViews"]:
        assert state["widgetState"] == 1 and state["widgetsRendered"] >= state["widgetViews"], state


VISIBLE = """id => { const gd = document.getElementById(id);
  return { index: +gd.getAttribute('data-grid-index'),
           active_sliders: (gd.layout.sliders || []).map(s => s.active),
           active_menus: (gd.layout.updatemenus || []).map(m => m.active),
           visible: gd.data.map((t, i) => t.visible === true ? i : -1).filter(i => i >= 0) }; }"""


CHAPTERS = [p for p in toc_pages() if p.startswith("chapters/")]


@pytest.mark.parametrize("page_path", CHAPTERS)
def test_static_explorer_controls_move_the_figure(browser, server, page_path):
    """In every explorer of every chapter: click a slider's rail and pick another drop-down entry;
    the visible traces must follow the grid index the controls select."""
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
            before = page.evaluate(VISIBLE, gid)
            if f["sliders"]:
                # click near an end of the first slider's rail (the far end from the active step)
                rail = page.locator(f"#{gid} .slider-rail-rect").first
                rail.scroll_into_view_if_needed()  # a tall figure's sliders may sit below the fold
                box = rail.bounding_box()
                x = box["x"] + box["width"] - 2 if before["active_sliders"][0] == 0 else box["x"] + 2
                page.mouse.click(x, box["y"] + box["height"] / 2)
                page.wait_for_timeout(300)
                after = page.evaluate(VISIBLE, gid)
                assert after["active_sliders"][0] != before["active_sliders"][0], (gid, before, after)
                assert after["index"] != before["index"], (gid, before, after)
                assert after["visible"] and all(i // len(after["visible"]) == after["index"] for i in after["visible"]), after
                before = after
                checked += 1
            if f["menus"]:
                page.locator(f"#{gid} .updatemenu-header-group").first.scroll_into_view_if_needed()
                page.locator(f"#{gid} .updatemenu-header-group").first.click()
                page.wait_for_timeout(200)
                target = 0 if before["active_menus"][0] != 0 else 1
                page.locator(f"#{gid} .updatemenu-dropdown-button-group .updatemenu-dropdown-button").nth(target).click()
                page.wait_for_timeout(300)
                after = page.evaluate(VISIBLE, gid)
                assert after["active_menus"][0] == target
                assert after["index"] != before["index"], (gid, before, after)
                assert after["visible"] and all(i // len(after["visible"]) == after["index"] for i in after["visible"]), after
                checked += 1
        assert checked >= len(explorers)
    finally:
        page.close()
    assert not external and not errors, (external, errors)
