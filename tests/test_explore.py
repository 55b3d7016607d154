"""The explorer layer: live controls recompute, the static grid maps controls to the right traces."""
import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnlandscape import explore as ex

X = np.linspace(0.0, 1.0, 40)


def traces(k, a, shift=0.0):
    return [
        dict(x=X, y=a * np.sin(k * X) + shift, name="sin", mode="lines"),
        dict(x=X, y=np.cos(k * X), name="cos"),
    ]


def controls():
    return [ex.slider("k", [1, 2, 3, 4], default=3), ex.dropdown("a", {"one": 1.0, "two": 2.0}),
            ex.slider("shift", [0.0, 0.5, 1.5], default=0.5)]


def test_live_explorer_recomputes_on_control_change():
    e = ex.explore(traces, controls(), mode="live")
    assert isinstance(e, ex.LiveExplorer)
    np.testing.assert_allclose(e.figure.data[0].y, np.sin(3 * X) + 0.5)
    e.controls["k"].value = 2
    np.testing.assert_allclose(e.figure.data[0].y, np.sin(2 * X) + 0.5)
    np.testing.assert_allclose(e.figure.data[1].y, np.cos(2 * X))
    e.controls["a"].value = 2.0
    e.controls["shift"].value = 1.5
    np.testing.assert_allclose(e.figure.data[0].y, 2 * np.sin(2 * X) + 1.5)
    assert e.params == {"k": 2, "a": 2.0, "shift": 1.5}


def test_live_widgets_match_spec():
    import ipywidgets as w

    e = ex.explore(traces, controls(), mode="live")
    assert isinstance(e.controls["k"], w.IntSlider) and e.controls["k"].value == 3
    assert isinstance(e.controls["a"], w.Dropdown) and e.controls["a"].label == "one"
    # 0.0, 0.5, 1.5 is not evenly spaced: a selection slider over exactly those values
    assert isinstance(e.controls["shift"], w.SelectionSlider)
    assert list(e.controls["shift"].options) == [("0", 0.0), ("0.5", 0.5), ("1.5", 1.5)]


def test_static_figure_holds_one_trace_per_curve():
    e = ex.explore(traces, controls(), mode="static")
    assert isinstance(e, ex.StaticExplorer)
    assert e.shape == (4, 2, 3) and e.ntraces == 2
    assert len(e.figure.data) == 2 and len(e.sets) == 4 * 2 * 3
    k0 = e.grid_index(k=3, a=1.0, shift=0.5)
    assert k0 == (2 * 2 + 0) * 3 + 1 == e.initial
    np.testing.assert_allclose(e.figure.data[0].y, np.sin(3 * X) + 0.5, rtol=1e-6, atol=1e-6)


def _decode(v):
    """A plotly base64 typed-array spec (or a plain list) as a numpy array."""
    import base64

    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype={"f4": np.float32, "f8": np.float64}[v["dtype"]])
    return np.asarray(v)


def _merge(a, b):
    out = dict(a)
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and "bdata" not in v and "bdata" not in out[k]:
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def test_page_data_rebuild_every_grid_point():
    """What the page's script merges (shared attributes + this grid point's) is the function there,
    and what is the same everywhere (names, styles, x spacing) is stored once."""
    e = STATIC
    spec = json.loads(re.search(r"var spec = (\{.*?\});\n", e.to_html()).group(1))
    assert len(spec["grid"]) == 24 and all(len(s) == 2 for s in spec["grid"])
    assert spec["base"][0]["name"] == "sin" and spec["base"][0]["mode"] == "lines" and spec["base"][1]["name"] == "cos"
    assert all("name" not in s[0] and "x0" not in s[0] for s in spec["grid"])  # stored once
    for k_i, k in enumerate([1, 2, 3, 4]):
        for a_i, a in enumerate([1.0, 2.0]):
            for s_i, shift in enumerate([0.0, 0.5, 1.5]):
                flat = (k_i * 2 + a_i) * 3 + s_i
                t0 = _merge(spec["base"][0], spec["grid"][flat][0])
                t1 = _merge(spec["base"][1], spec["grid"][flat][1])
                np.testing.assert_allclose(_decode(t0["y"]), a * np.sin(k * X) + shift, rtol=1e-6, atol=1e-6)
                np.testing.assert_allclose(_decode(t1["y"]), np.cos(k * X), rtol=1e-6, atol=1e-6)
                assert t0["x0"] == 0.0 and t0["dx"] == pytest.approx(X[1] - X[0])


def test_varying_style_and_missing_keys_are_per_grid_point():
    def f(k):
        t = dict(x=X, y=k * X, name=f"k={k}", line=dict(width=2, color="red" if k == 1 else "blue"))
        if k == 2:
            t["marker"] = dict(size=3)
        return [t]

    e = ex.explore(f, [ex.slider("k", [1, 2])], mode="static")
    assert e._base[0]["line"] == {"width": 2}
    assert e._grid[0][0]["line"] == {"color": "red"} and e._grid[1][0]["line"] == {"color": "blue"}
    assert "marker" not in e._grid[0][0] and e._grid[1][0]["marker"] == {"size": 3}
    assert e._grid[0][0]["name"] == "k=1"


def test_drop_downs_sit_side_by_side_above_the_layout():
    long = ex.dropdown("regime", {"a rather long option label number one": 1, "b": 2}, label="regime")
    e = ex.explore(lambda regime, u: [dict(x=X, y=X * regime)], [long, ex.dropdown("u", [0, 1])],
                   mode="static", layout=dict(margin=dict(t=60), legend=dict(orientation="h", y=1.2)))
    m0, m1 = e.figure.layout.updatemenus
    w0 = ex._menu_width_estimate(e.spec[0])
    # the second menu starts after the first one's estimated width (the page re-measures) ...
    assert m1.x * 640 >= w0 or m1.y < m0.y
    # ... and both sit above the author's own top margin (where the legend is)
    plot = 340
    assert all((m.y - 1) * plot >= 60 for m in (m0, m1))
    assert e.figure.layout.margin.t >= 60 + 34


def test_print_note_names_the_default_setting():
    h = STATIC.to_html()
    assert 'class="nnl-print-note"' in h and "k = 3" in h and "a = one" in h and "shift = 0.5" in h


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([1, 2, 3, 4]), st.sampled_from([1.0, 2.0]), st.sampled_from([0.0, 0.5, 1.5]))
def test_static_grid_holds_the_function_at_every_point(k, a, shift):
    e = STATIC
    t = e.visible_traces(k=k, a=a, shift=shift)
    np.testing.assert_allclose(t[0].y, a * np.sin(k * X) + shift, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(t[1].y, np.cos(k * X), rtol=1e-6, atol=1e-6)
    assert t[0].y.dtype == np.float32
    # x is uniform: stored as x0/dx, not as an array
    assert t[0].x is None and t[0].x0 == 0.0 and t[0].dx == pytest.approx(X[1] - X[0])


STATIC = ex.explore(traces, controls(), mode="static")


def test_static_control_mapping_in_post_script():
    e = STATIC
    html = e.to_html()
    spec = json.loads(re.search(r"var spec = (\{.*?\});\n", html).group(1))
    assert spec["order"] == [["s", 0], ["m", 0], ["s", 1]]
    assert spec["shape"] == [4, 2, 3] and spec["ntraces"] == 2 and len(spec["grid"]) == 24
    assert spec["initial"] == e.grid_index(k=3, a=1.0, shift=0.5)
    sliders, menus = e.figure.layout.sliders, e.figure.layout.updatemenus
    assert [s.name for s in sliders] == ["k", "shift"] and [m.name for m in menus] == ["a"]
    assert [st.label for st in sliders[0].steps] == ["1", "2", "3", "4"]
    assert all(st.method == "skip" for st in sliders[0].steps)
    assert sliders[0].active == 2 and sliders[1].active == 1 and menus[0].active == 0
    assert [b.label for b in menus[0].buttons] == ["a: one", "a: two"]
    # the same flat index the JavaScript computes: row-major over the controls in order
    for k in range(4):
        for a in range(2):
            for s in range(3):
                assert e.grid_index(k=k + 1, a=[1.0, 2.0][a], shift=[0.0, 0.5, 1.5][s]) == (k * 2 + a) * 3 + s
    assert "plotly.min.js" not in html and "cdn" not in html.lower()


def test_static_html_is_deterministic():
    a = ex.explore(traces, controls(), mode="static").to_html()
    b = ex.explore(traces, controls(), mode="static").to_html()
    strip = lambda h: re.sub(r"nnl-[0-9a-f]+-\d+", "ID", h)  # noqa: E731
    assert strip(a) == strip(b)
    assert re.search(r"nnl-([0-9a-f]+)-\d+", a).group(1) == re.search(r"nnl-([0-9a-f]+)-\d+", b).group(1)


def test_budget_is_enforced():
    with pytest.raises(ValueError, match="max_grid"):
        ex.explore(traces, controls(), mode="static", max_grid=10)
    with pytest.raises(ValueError, match="max_values"):
        ex.explore(traces, controls(), mode="static", max_values=1000)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(controls=[]), "controls"),
        (dict(controls=[ex.slider("k", [1, 2]), ex.slider("k", [3])]), "distinct"),
        (dict(mode="browser"), "mode"),
        (dict(func=3), "func"),
    ],
)
def test_bad_explorer_arguments(kwargs, match):
    args = dict(func=traces, controls=controls())
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ex.explore(args.pop("func"), args.pop("controls"), **args)


def test_bad_controls():
    with pytest.raises(ValueError, match="slider 'k'"):
        ex.slider("k", [])
    with pytest.raises(ValueError, match="finite"):
        ex.slider("k", [1.0, float("nan")])
    with pytest.raises(ValueError, match="default"):
        ex.slider("k", [1, 2], default=5)
    with pytest.raises(ValueError, match="dropdown 'a'"):
        ex.dropdown("a", [])


def test_inconsistent_trace_count_is_an_error():
    def f(k):
        return [dict(x=X, y=X)] * k

    with pytest.raises(ValueError, match="same number of traces"):
        ex.explore(f, [ex.slider("k", [1, 2])], mode="static")


def test_mode_from_environment(monkeypatch):
    monkeypatch.setenv("NNLANDSCAPE_EXPLORE", "live")
    assert ex.explore_mode() == "live"
    monkeypatch.setenv("NNLANDSCAPE_EXPLORE", "static")
    assert ex.explore_mode() == "static"
    monkeypatch.setenv("NNLANDSCAPE_EXPLORE", "sometimes")
    with pytest.raises(ValueError, match="NNLANDSCAPE_EXPLORE"):
        ex.explore_mode()
    monkeypatch.delenv("NNLANDSCAPE_EXPLORE")
    assert ex.explore_mode() == "static"  # no kernel here


def test_check_real_array_rejects_and_accepts():
    from nnlandscape._checks import check_int, check_real_array

    np.testing.assert_array_equal(check_real_array("q", [0.5, -1, 1], -1, 1), [0.5, -1.0, 1.0])
    for bad, match in [([0.5, 1.2], "out of range"), ([np.nan], "non-finite"), ("a", "finite real"), (True, "finite real")]:
        with pytest.raises(ValueError, match=match):
            check_real_array("q", bad, -1, 1)
    with pytest.raises(ValueError, match=r"T is out of range.*\(0, inf\)"):
        check_real_array("T", [0.0, 1.0], 0, low_open=True)
    with pytest.raises(ValueError, match="integer"):
        check_int("depth", True, 1)
    assert check_int("depth", 3.0, 1) == 3


def test_controls_preview_only_on_static_pages():
    import ipywidgets as w

    box = ex.controls_preview(traces, controls(), mode="static")
    assert isinstance(box, w.VBox)
    caption, row = box.children
    assert "no Python kernel" in caption.value
    assert [c.disabled for c in row.children] == [True, True, True]
    assert [c.value for c in row.children] == [3, 1.0, 0.5]  # the defaults
    live = ex.controls_preview(traces, controls(), mode="live")
    assert not isinstance(live, w.Widget) and repr(live) == ""


_NODE_HARNESS = r"""
const handlers = {}, attrs = {}, reacts = [];
const gd = {
  layout: LAYOUT, data: [], on(ev, f) { handlers[ev] = f; }, querySelectorAll() { return []; },
  setAttribute(k, v) { attrs[k] = String(v); }, getAttribute(k) { return k in attrs ? attrs[k] : null; },
};
globalThis.document = { getElementById: () => gd };
globalThis.Plotly = {
  react(g, data, layout) {
    if (layout !== g.layout) { throw new Error('the layout object must be passed back unchanged'); }
    g.data = data; reacts.push(data); return Promise.resolve(g);
  },
  relayout() { throw new Error('no relayout expected without drop-downs on the page'); },
};
SCRIPT
const plain = (k, v) => (ArrayBuffer.isView(v) ? Array.from(v, x => (Number.isNaN(x) ? null : x)) : v);
const tick = () => new Promise(r => setTimeout(r, 5));
(async () => {
  const out = [];
  for (const state of STATES) {  // one change at a time: each is drawn
    state.sliders.forEach((a, i) => { gd.layout.sliders[i].active = a; });
    state.menus.forEach((a, i) => { gd.layout.updatemenus[i].active = a; });
    handlers[state.event]();
    while (attrs['data-drawn-index'] !== attrs['data-grid-index'] || reacts.length < out.length + 1) { await tick(); }
    out.push({index: +attrs['data-drawn-index'], ms: +attrs['data-redraw-ms'], data: JSON.parse(JSON.stringify(gd.data, plain))});
  }
  // three changes in a row while a redraw runs: drawn once more, at the last state
  const before = reacts.length;
  for (const a of [0, 1, 2]) { gd.layout.sliders[0].active = a; handlers.plotly_sliderchange(); }
  await tick(); await tick();
  process.stdout.write(JSON.stringify({out, burst: reacts.length - before, last: +attrs['data-drawn-index']}));
})();
"""


def test_page_script_draws_every_grid_point(tmp_path):
    """The page's script itself, run by Node with a stand-in for plotly: after each control change
    it passes plotly the traces the trace function returned at the selected grid point (decoded from
    the page's base64 data, float32) with the layout object unchanged; a burst of changes during a
    redraw is drawn once, at the last state."""
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed (the browser test runs the same script in Chromium)")
    e = STATIC
    layout = dict(sliders=[dict(active=s.active) for s in e.figure.layout.sliders],
                  updatemenus=[dict(active=m.active) for m in e.figure.layout.updatemenus])
    states, expect = [], []
    for k_i, a_i, s_i in [(0, 0, 0), (3, 1, 2), (1, 1, 0), (1, 0, 1), (2, 0, 2)]:
        states.append(dict(sliders=[k_i, s_i], menus=[a_i],
                           event="plotly_buttonclicked" if len(states) % 2 else "plotly_sliderchange"))
        expect.append(e.grid_index(k=[1, 2, 3, 4][k_i], a=[1.0, 2.0][a_i], shift=[0.0, 0.5, 1.5][s_i]))
    script = e.post_script.replace("{plot_id}", "fig")
    js = (_NODE_HARNESS.replace("LAYOUT", json.dumps(layout)).replace("STATES", json.dumps(states))
          .replace("SCRIPT", script))
    (tmp_path / "run.js").write_text(js)
    res = json.loads(subprocess.run([node, str(tmp_path / "run.js")], capture_output=True, text=True, check=True,
                                    timeout=60).stdout)
    assert [r["index"] for r in res["out"]] == expect
    for r, flat in zip(res["out"], expect):
        assert r["ms"] >= 0
        for got, want in zip(r["data"], e.sets[flat]):
            assert got["name"] == want.name and got.get("mode") == want.mode
            assert got["x0"] == want.x0 and got["dx"] == pytest.approx(want.dx)
            np.testing.assert_array_equal(np.asarray(got["y"], dtype=np.float32), np.asarray(want.y, dtype=np.float32))
    assert res["burst"] == 1 and res["last"] == e.grid_index(k=3, a=[1.0, 2.0][states[-1]["menus"][0]],
                                                             shift=[0.0, 0.5, 1.5][states[-1]["sliders"][1]])


def test_sliders_jump_to_the_clicked_step():
    """plotly's sliders glide 150 ms by default (every frame redrawn while the figure is); ours jump."""
    assert all(s.transition.duration == 0 for s in STATIC.figure.layout.sliders)
    assert len(STATIC.figure.layout.sliders) == 2


_GUARD_HARNESS = r"""
// a page in miniature: window, document, <html>, a toggle holding a figure, a toggle outside it
class Node_ {
  constructor(cls, attrs, parent) { this.nodeType = 1; this.cls = cls; this.attrs = attrs; this.parentNode = parent;
    this.l = {true: [], false: []}; if (parent && parent.kids) { parent.kids.push(this); } this.kids = []; }
  matches(sel) { if (sel === '((bad') { throw new Error('SyntaxError'); }
    return sel[0] === '.' ? this.cls === sel.slice(1) : sel.slice(1, -1) in this.attrs; }
  closest(sel) { for (let n = this; n && n.nodeType === 1; n = n.parentNode) { if (n.matches(sel)) { return n; } } return null; }
  addEventListener(type, f, capture) { this.l[!!capture].push(f); }
}
let nativeCalls = 0;
class Doc { querySelectorAll(sel) { nativeCalls += 1; const out = [];
  const walk = n => { if (n.matches(sel)) { out.push(n); } n.kids.forEach(walk); }; walk(this.documentElement); return out; } }
const doc = new Doc(); doc.nodeType = 9; doc.l = {true: [], false: []};
doc.addEventListener = (type, f, capture) => doc.l[!!capture].push(f);
const html = new Node_('html', {}, doc); doc.documentElement = html;
const toggle = new Node_('box', {'data-t': 1}, html);
const fig = new Node_('plotly-graph-div', {}, toggle), rect = new Node_('rect', {}, fig);
const button = new Node_('button', {'data-t': 1}, html);
const win = {l: {true: [], false: []}, addEventListener(type, f, capture) { this.l[!!capture].push(f); }};
globalThis.window = win; globalThis.document = doc;
// bootstrap's delegated handler: all matches in the page, then the first one on the click's path
const hits = [];
doc.addEventListener('click', e => { const o = document.querySelectorAll('[data-t]');
  for (let r = e.target; r && r !== doc; r = r.parentNode) { for (const a of o) { if (a === r) { hits.push(r.cls); return; } } } }, true);
doc.addEventListener('click', e => { try { document.querySelectorAll('((bad'); } catch (err) { hits.push('error'); } }, true);
let later = null;
fig.addEventListener('click', () => { later = document.querySelectorAll('[data-t]').length; }, false);
function dispatch(target) {
  const path = []; for (let n = target; n && n.nodeType === 1; n = n.parentNode) { path.unshift(n); }
  const e = {target};
  win.l[true].forEach(f => f(e)); doc.l[true].forEach(f => f(e));
  path.forEach(n => n.l[true].forEach(f => f(e)));
  path.slice().reverse().forEach(n => n.l[false].forEach(f => f(e)));
  doc.l[false].forEach(f => f(e)); win.l[false].forEach(f => f(e));
}
GUARD
GUARD
const res = {};
dispatch(rect); res.inside = {hits: hits.splice(0), native: nativeCalls, later, own: Object.prototype.hasOwnProperty.call(doc, 'querySelectorAll')};
nativeCalls = 0; dispatch(button); res.outside = {hits: hits.splice(0), native: nativeCalls};
res.listeners = win.l[true].length;
process.stdout.write(JSON.stringify(res));
"""


def test_click_guard_keeps_the_themes_answer_without_searching_the_page(tmp_path):
    """Run by Node on a page in miniature: for a click inside a figure, bootstrap's delegated handler
    still finds the toggle on the click's path (and not the one elsewhere) but the page is not
    searched; after the click, and for a click outside any figure, the browser's own method answers;
    a selector the guard cannot match falls back to it; the guard installs itself once."""
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed (the browser test clicks the real page)")
    (tmp_path / "guard.js").write_text(_GUARD_HARNESS.replace("GUARD", ex._CLICK_GUARD))
    res = json.loads(subprocess.run([node, str(tmp_path / "guard.js")], capture_output=True, text=True, check=True,
                                    timeout=60).stdout)
    assert res["inside"]["hits"] == ["box", "error"]
    assert res["inside"]["native"] == 2  # the bad selector's fallback and the figure's own later query only
    assert res["inside"]["later"] == 2 and res["inside"]["own"] is False
    assert res["outside"] == {"hits": ["button", "error"], "native": 2}
    assert res["listeners"] == 1


def test_book_template_lets_tick_labels_be():
    """The book's template asks plotly not to measure every tick label at each redraw (its default
    "hide past div" does, once per label drawn); explorers get it like every other figure."""
    from nnlandscape import display

    tpl = STATIC.figure.layout.template
    assert tpl.layout.xaxis.ticklabeloverflow == tpl.layout.yaxis.ticklabeloverflow == "allow"
    assert tpl.data.heatmap[0].colorbar.ticklabeloverflow == "allow"
    assert tpl == display.BOOK_TEMPLATE
