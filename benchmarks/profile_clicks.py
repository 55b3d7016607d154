"""Where a static explorer's click goes: Chromium's performance trace of the browser test's clicks.

Run: ``python benchmarks/profile_clicks.py [DIR] [PAGE ...]`` (``DIR`` a built book, default
``_build/html``; ``PAGE`` e.g. ``chapters/03_critical_points``, default every chapter).  For every
static explorer of every page it clicks as ``tests/test_browser.py`` does (slider rail, drop-down
entries) under Chromium's tracing and prints the median round trip and, summed over the clicks and
divided by their number, the main thread's self time per kind of work (script per source file,
style, layout, paint, compositing, ...).  Prints, asserts nothing; the machine's load counts.
"""
from __future__ import annotations

import collections
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import test_browser as tb  # noqa: E402

CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "v8.execute", "blink", "cc",
              "toplevel", "blink.user_timing"]


def _self_times(events, t0, t1):
    """Self time (ms) per label of the main thread's complete events starting in [t0, t1] (µs)."""
    evs = sorted((e for e in events if e.get("ph") == "X" and "dur" in e and t0 <= e["ts"] <= t1),
                 key=lambda e: (e["ts"], -e["dur"]))
    out, stack = collections.Counter(), []
    for e in evs:
        while stack and stack[-1][0]["ts"] + stack[-1][0]["dur"] <= e["ts"]:
            stack.pop()
        name = e["name"]
        if name in ("FunctionCall", "EvaluateScript", "v8.callFunction", "TimerFire", "FireAnimationFrame",
                    "EventDispatch", "v8.run"):
            url = (e.get("args", {}).get("data", {}) or {}).get("url") or ""
            label = f"script {url.rsplit('/', 1)[-1][:30] or '?'}"
            if stack and stack[-1][1].startswith("script"):
                label = stack[-1][1]  # nested script work counts for its outermost source
        else:
            label = name
        if stack:
            out[stack[-1][1]] -= e["dur"]
        out[label] += e["dur"]
        stack.append((e, label))
    return out


def _marked(timed):
    """``tests/test_browser._timed`` with performance marks around each click (the trace's windows)."""
    def run(page, gid, before, act):
        page.evaluate("performance.mark('nnl-click-start')")
        out = timed(page, gid, before, act)
        page.evaluate("performance.mark('nnl-click-end')")
        return out
    return run


tb._timed = _marked(tb._timed)


def _windows(events):
    marks = sorted((e["ts"], e["name"]) for e in events if e.get("name") in ("nnl-click-start", "nnl-click-end"))
    starts = [t for t, n in marks if n == "nnl-click-start"]
    return [(s, min((t for t, n in marks if n == "nnl-click-end" and t > s), default=s)) for s in starts]


def profile(browser, url, page_path, clicks=5, picks=5):
    page, _, _ = tb.open_page(browser, url, page_path)
    rows = []
    try:
        for f in [f for f in page.evaluate(tb.PAGE_STATE)["figures"] if f["explorer"]]:
            gid = f["id"]
            page.locator(f"#{gid}").scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
                browser.start_tracing(page=page, path=tmp.name, categories=CATEGORIES)
                tb.CLICKS.pop((page_path, gid), None)
                tb.move_controls(page, page_path, gid, f, clicks=clicks, picks=picks)
                browser.stop_tracing()
                trace = json.loads(Path(tmp.name).read_text())
            events = trace["traceEvents"] if isinstance(trace, dict) else trace
            mains = {(e["pid"], e["tid"]) for e in events
                     if e.get("ph") == "M" and e.get("name") == "thread_name" and e["args"]["name"] == "CrRendererMain"}
            main = [e for e in events if (e.get("pid"), e.get("tid")) in mains]
            st = collections.Counter()
            for w0, w1 in _windows(events):
                st.update(_self_times(main, w0, w1))
            recs = tb.CLICKS.get((page_path, gid), [])
            n = max(len(recs), 1)
            rt = statistics.median(r[1] for r in recs) if recs else float("nan")
            inside = [r[2] for r in recs if r[2] is not None]
            top = sorted(st.items(), key=lambda kv: -kv[1])[:9]
            rows.append((gid, rt, statistics.median(inside) if inside else None,
                         sum(st.values()) / n / 1e3, [(k, v / n / 1e3) for k, v in top]))
    finally:
        page.close()
    return rows


def main(argv):
    from playwright.sync_api import sync_playwright

    html = Path(argv[1] if len(argv) > 1 else "_build/html").resolve()
    pages = argv[2:] or [p for p in tb.toc_pages() if p.startswith("chapters/")]
    httpd, url = tb.serve(html)
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=tb.CHROMIUM, args=tb.ARGS)
            for page_path in pages:
                for gid, rt, inside, busy, top in profile(b, url, page_path):
                    print(f"{page_path} {gid}: median round trip {rt:.0f} ms (in page "
                          f"{'-' if inside is None else f'{inside:.0f}'}), main thread {busy:.0f} ms per click")
                    print("    " + ", ".join(f"{k} {v:.1f}" for k, v in top))
            b.close()
    finally:
        httpd.shutdown()


if __name__ == "__main__":
    main(sys.argv)
