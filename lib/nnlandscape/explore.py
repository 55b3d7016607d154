r"""Explorers: one declarative spec, two renderings.

A chapter author writes ::

    explore(
        traces_fn,                                    # params -> list of traces
        [slider("depth", range(1, 11)), dropdown("activation", ["relu", "tanh"])],
        layout=dict(xaxis_title="q", yaxis_title="C_L(q)"),
    )

where ``traces_fn(depth=..., activation=...)`` is a *pure* function returning a list of traces,
each a dict with array entries ``x``, ``y`` (or ``z`` for heatmaps), a ``name`` and plotly style keys
(``mode``, ``line``, ``marker``, ``type`` = ``"scatter"`` (default), ``"bar"`` or ``"heatmap"``, ...).
Every call must return the same number of traces.

* **live** (a Jupyter kernel with a widget front end): ipywidgets controls; moving one recomputes
  ``traces_fn`` and updates the plotly figure in place (:class:`LiveExplorer`).
* **static** (the HTML book, no kernel): ``traces_fn`` is evaluated over the whole parameter grid at
  build time; the page holds one plotly figure with the traces of the default setting and, beside
  it, what differs between grid points (float32 data as base64).  plotly's sliders and drop-downs are
  one-dimensional, so their steps do nothing themselves (``method="skip"``) and a short post-script
  maps the combined control state to a grid point and swaps its data into the same traces
  (``Plotly.react``): a click redraws a few curves, however large the grid (:class:`StaticExplorer`).
  Drop-downs are laid out side by side from their measured widths.

  What a click costs in the browser (measured with Chromium's profiler on the book's pages): plotly
  answers any change of a data array, by ``Plotly.restyle`` as by ``Plotly.react``, with a full
  redraw of the figure (axes, legend, sliders, drop-downs, every trace), so swapping only the
  changed arrays saves nothing there.  The script therefore avoids the work around that redraw: it
  decodes each grid point's base64 data once and reuses the typed arrays, passes plotly its own
  layout object back, lays the drop-downs out again only when they overlap, leave the figure or need
  another band (before, a legend whose width changed with the data caused a second full redraw per
  click), and draws changes that arrive during a redraw once, at their latest state.  The page
  records the time from a control's change event to the end of the redraw in ``data-redraw-ms``.
  Two costs outside plotly are cut as well: a slider's grip jumps to the clicked step (plotly's
  150 ms glide re-rendered the figure in every frame of the redraw), and a click inside a figure no
  longer makes the theme's bootstrap.js search the whole page once per kind of toggle (see
  ``_CLICK_GUARD``).

The mode is chosen for the author: the environment variable ``NNLANDSCAPE_EXPLORE`` (``static`` or
``live``; the book build sets ``static``), else ``live`` inside an IPython kernel and ``static``
elsewhere.  The chapter source is the same in both.
"""
from __future__ import annotations

import html
import json
import math
import numbers
import os
from dataclasses import dataclass
from itertools import product
from typing import Any, Callable, Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from . import display
from ._checks import check_choice, check_instance, check_int, check_sequence

__all__ = [
    "slider",
    "dropdown",
    "explore",
    "explore_mode",
    "controls_preview",
    "StaticExplorer",
    "LiveExplorer",
    "MAX_GRID_POINTS",
    "MAX_VALUES",
]

#: Largest parameter grid a static explorer accepts (number of grid points).
MAX_GRID_POINTS = 2000
#: Largest number of stored numbers (all traces, all grid points) a static explorer accepts:
#: 600 000 float32 values are ~3.2 MB of base64 in the page.
MAX_VALUES = 600_000

_TRACE_TYPES = {"scatter": go.Scatter, "bar": go.Bar, "heatmap": go.Heatmap}
_ARRAY_KEYS = ("x", "y", "z")


@dataclass(frozen=True)
class Control:
    """One explorer parameter: a slider over numeric ``values`` or a drop-down over ``options``."""

    kind: str  # "slider" or "dropdown"
    name: str
    values: tuple
    labels: tuple[str, ...]
    default_index: int
    label: str

    @property
    def default(self):
        return self.values[self.default_index]


def _index_of(name: str, values: tuple, default) -> int:
    if default is None:
        return 0
    if isinstance(default, np.generic):
        default = default.item()
    for i, v in enumerate(values):
        try:
            same = bool(v == default)
        except (TypeError, ValueError):  # an array or another value that does not compare to a bool
            same = False
        if same or (
            isinstance(v, numbers.Real) and isinstance(default, numbers.Real) and math.isclose(v, default)
        ):
            return i
    raise ValueError(f"default={default!r} of {name!r} is not one of its values {list(values)}")


def _check_name(what: str, value) -> str:
    """``value`` if it is a non-empty str; else a ``TypeError``/``ValueError`` naming ``what``."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a non-empty str, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} must be a non-empty str, got ''")
    return value


def _check_label(value) -> str | None:
    return None if value is None else _check_name("label", value)


def _check_values(what: str, values) -> tuple:
    """``values`` as a non-empty tuple (numpy scalars as Python scalars); ``what`` names the parameter."""
    if isinstance(values, np.ndarray) and values.ndim != 1:
        raise ValueError(f"{what} must be a one-dimensional sequence, got an array of shape {values.shape}")
    return tuple(v.item() if isinstance(v, np.generic) else v for v in check_sequence(what, values))


def _check_layout(layout) -> dict:
    if layout is None:
        return {}
    if isinstance(layout, go.Layout):
        return layout.to_plotly_json()
    return dict(check_instance("layout", layout, dict))


def _check_func(func):
    if not callable(func):
        raise ValueError(f"func must be callable, got {type(func).__name__}")
    return func


def _check_mode(mode) -> str:
    if mode is None:
        return explore_mode()
    if not isinstance(mode, str):
        raise TypeError(f"mode must be None, 'static' or 'live', got {type(mode).__name__}")
    return check_choice("mode", mode, ("static", "live"))


def slider(name: str, values: Sequence[float], default=None, *, label: str | None = None, fmt: str = "{:g}") -> Control:
    """A numeric slider over the grid ``values`` (e.g. ``range(1, 11)`` or ``np.geomspace(...)``).

    ``name`` (a non-empty str) is the keyword the trace function receives, ``values`` a non-empty
    sequence of finite numbers, ``default`` one of them (the first if ``None``), ``label`` the text
    shown (``name`` if ``None``), ``fmt`` a format string for one value (``"{:g}"``).
    The static book precomputes every value; live, the same values are offered.
    """
    name = _check_name("name", name)
    label = _check_label(label)
    if not isinstance(fmt, str):
        raise TypeError(f"fmt must be a format str such as '{{:g}}', got {type(fmt).__name__}")
    vals = _check_values("values", values)
    if len(vals) == 0:
        raise ValueError(f"values of slider {name!r} must be a non-empty sequence of numbers")
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ValueError(f"values of slider {name!r} must be finite numbers, got {v!r}")
    try:
        labels = tuple(fmt.format(v) for v in vals)
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        raise ValueError(f"fmt={fmt!r} cannot format the values of slider {name!r} ({exc}); "
                         "use a format str with one field, such as '{:g}'") from None
    return Control("slider", name, vals, labels, _index_of(name, vals, default), label or name)


def dropdown(name: str, options, default=None, *, label: str | None = None) -> Control:
    """A drop-down over ``options``: a non-empty sequence of values, or a mapping ``{label: value}``.

    ``name`` (a non-empty str) is the keyword the trace function receives, ``default`` one of the
    values (the first if ``None``), ``label`` the text shown (``name`` if ``None``).  Numeric
    options must be finite.
    """
    name = _check_name("name", name)
    label = _check_label(label)
    if isinstance(options, dict):
        labels, vals = tuple(map(str, options)), tuple(options.values())
    else:
        vals = _check_values("options", options)
        labels = tuple(str(v) for v in vals)
    if len(vals) == 0:
        raise ValueError(f"options of dropdown {name!r} must be non-empty")
    for v in vals:
        if isinstance(v, numbers.Complex) and not isinstance(v, bool) and not (
                isinstance(v, numbers.Real) and math.isfinite(v)):
            raise ValueError(f"options of dropdown {name!r} must be finite numbers or other values, got {v!r}")
    return Control("dropdown", name, vals, labels, _index_of(name, vals, default), label or name)


def _in_kernel() -> bool:
    """``True`` inside a Jupyter kernel (where widgets can have a front end)."""
    try:
        from IPython import get_ipython

        ip = get_ipython()
    except ImportError:  # pragma: no cover - IPython is a dependency of ipywidgets
        ip = None
    return ip is not None and hasattr(ip, "kernel")


def explore_mode() -> str:
    """Return ``"static"`` or ``"live"`` (see the module docstring)."""
    mode = os.environ.get("NNLANDSCAPE_EXPLORE")
    if mode:
        return check_choice("NNLANDSCAPE_EXPLORE", mode, ("static", "live"))
    return "live" if _in_kernel() else "static"


def _check_controls(controls) -> tuple[Control, ...]:
    if isinstance(controls, Control):
        raise TypeError("controls must be a list of controls (made by slider() or dropdown()), got a single "
                        "control: wrap it in a list")
    controls = tuple(check_sequence("controls", controls))
    if not controls:
        raise ValueError("controls must hold at least one slider or dropdown")
    for c in controls:
        if not isinstance(c, Control):
            raise ValueError(f"controls must be made by slider() or dropdown(), got {type(c).__name__}")
    names = [c.name for c in controls]
    if len(set(names)) != len(names):
        raise ValueError(f"control names must be distinct, got {names}")
    return controls


def _normalise_traces(traces, where: str) -> list[dict]:
    if isinstance(traces, dict):
        traces = [traces]
    out = []
    for t in traces:
        if not isinstance(t, (dict, go.Scatter, go.Bar, go.Heatmap)):
            raise ValueError(f"{where}: each trace must be a dict (x, y, name, style) or a plotly trace, got {type(t).__name__}")
        t = dict(t.to_plotly_json()) if not isinstance(t, dict) else dict(t)
        check_choice("trace type", t.setdefault("type", "scatter"), tuple(_TRACE_TYPES))
        out.append(t)
    if not out:
        raise ValueError(f"{where}: the trace function returned no traces")
    return out


def _make_trace(t: dict, float32: bool):
    t = dict(t)
    kind = t.pop("type")
    for key in _ARRAY_KEYS:
        if key in t and t[key] is not None and not isinstance(t[key], (str, bytes)):
            arr = np.asarray(t[key])
            if arr.dtype.kind in "fiu":
                arr = arr.astype(np.float32 if float32 else np.float64)
                # a uniformly spaced x needs two numbers, not an array
                if key == "x" and kind != "heatmap" and arr.ndim == 1 and arr.size > 2:
                    d = np.diff(arr.astype(np.float64))
                    if np.allclose(d, d[0], rtol=1e-5, atol=0) and d[0] != 0:
                        t["x0"], t["dx"] = float(arr[0]), float(d[0])
                        del t[key]
                        continue
            t[key] = arr
    return _TRACE_TYPES[kind](**t)


def _n_values(traces: list[dict]) -> int:
    n = 0
    for t in traces:
        for key in _ARRAY_KEYS:
            if key in t and t[key] is not None and not isinstance(t[key], (str, bytes)):
                n += int(np.size(t[key]))
    return n


class LiveExplorer:
    """ipywidgets controls driving a plotly figure; ``figure`` is updated in place on every change.

    Attributes: ``controls`` (name -> widget), ``figure`` (:class:`plotly.graph_objects.Figure`),
    ``output`` (the :class:`ipywidgets.Output` showing it), ``widget`` (the whole box).
    """

    def __init__(self, func, controls, layout, continuous_update=True):
        import ipywidgets as widgets

        self.func = func
        self.spec = controls
        self.controls = {c.name: self._widget(c, continuous_update) for c in controls}
        self.figure = go.Figure(layout=layout)
        self.output = widgets.Output()
        self.widget = widgets.VBox([widgets.HBox(list(self.controls.values()), layout=widgets.Layout(flex_flow="row wrap")), self.output])
        for w in self.controls.values():
            w.observe(self._on_change, names="value")
        self.update()

    @staticmethod
    def _widget(c: Control, continuous_update):
        import ipywidgets as widgets

        style = {"description_width": "initial"}
        if c.kind == "dropdown":
            return widgets.Dropdown(options=list(zip(c.labels, c.values)), value=c.default, description=c.label, style=style)
        v = np.asarray(c.values, dtype=float)
        if len(v) > 1 and np.allclose(np.diff(v), v[1] - v[0]) and v[1] > v[0]:
            cls = widgets.IntSlider if all(isinstance(x, numbers.Integral) for x in c.values) else widgets.FloatSlider
            return cls(min=c.values[0], max=c.values[-1], step=c.values[1] - c.values[0], value=c.default,
                       description=c.label, continuous_update=continuous_update, style=style)
        return widgets.SelectionSlider(options=list(zip(c.labels, c.values)), value=c.default, description=c.label,
                                       continuous_update=continuous_update, style=style)

    @property
    def params(self) -> dict:
        return {name: w.value for name, w in self.controls.items()}

    def _on_change(self, _change):
        self.update()

    def update(self):
        """Recompute the traces for the current control values and redraw."""
        traces = [_make_trace(t, float32=False) for t in _normalise_traces(self.func(**self.params), "live explorer")]
        if len(traces) == len(self.figure.data) and all(a.type == b.type for a, b in zip(traces, self.figure.data)):
            with self.figure.batch_update():
                for old, new in zip(self.figure.data, traces):
                    old.update(new.to_plotly_json(), overwrite=True)
        else:
            self.figure.data = []
            self.figure.add_traces(traces)
        if _in_kernel():  # outside a kernel there is no front end to draw into
            from IPython.display import display as ipy_display

            self.output.clear_output(wait=True)
            with self.output:
                ipy_display(self.figure)

    def _ipython_display_(self):
        from IPython.display import display as ipy_display

        ipy_display(self.widget)


# Installed once per page by the first explorer's script.  The theme's bootstrap.js listens to every
# click on the page (capture phase, on ``document``) for its delegated toggles: per click and per
# toggle kind it runs ``document.querySelectorAll(selector)`` over the whole page (tens of thousands
# of nodes with the typeset math and the figures' SVG; 6-24 ms a click measured) and then only asks
# whether an element on the click's path (target to document) is among the matches.  For a click
# inside a plotly figure, while ``document``'s own capture listeners run (installed on ``window``,
# removed on ``<html>``; a bubbling listener on ``window`` removes it too), ``document.querySelectorAll``
# answers with the elements on that path that match: the same answer to that question, at the cost of
# the path's length.  Every other click and every later query sees the browser's own method.
_CLICK_GUARD = """
(function () {
  if (typeof window === 'undefined' || typeof document === 'undefined' || window.__nnlClickGuard) { return; }
  window.__nnlClickGuard = true;
  function restore() { if (Object.prototype.hasOwnProperty.call(document, 'querySelectorAll')) { delete document.querySelectorAll; } }
  window.addEventListener('click', function (e) {
    var t = e.target;
    if (!t || t.nodeType !== 1 || !t.closest('.plotly-graph-div')) { return; }
    var path = [];
    for (var n = t; n && n.nodeType === 1; n = n.parentNode) { path.push(n); }
    var own = Object.getPrototypeOf(document).querySelectorAll;
    document.querySelectorAll = function (sel) {
      try { return path.filter(function (el) { return el.matches(sel); }); }
      catch (err) { restore(); return own.call(document, sel); }
    };
  }, true);
  document.documentElement.addEventListener('click', restore, true);
  window.addEventListener('click', restore, false);
})();
"""

_POST_SCRIPT = _CLICK_GUARD.replace("%", "%%") + """
(function () {
  var gd = document.getElementById('{plot_id}');
  var spec = %s;
  var ROW = %d, GAP = %d;
  gd._nnlSpec = spec;  // read by the browser test, which decodes the grid itself
  var TYPES = {f4: Float32Array, f8: Float64Array, i1: Int8Array, u1: Uint8Array, u1c: Uint8ClampedArray,
               i2: Int16Array, u2: Uint16Array, i4: Int32Array, u4: Uint32Array};
  function isSpec(v) { return v && typeof v === 'object' && !Array.isArray(v) && 'bdata' in v && v.dtype in TYPES; }
  // a plotly base64 typed-array spec as a typed array (rows of one for a 2-D shape), decoded once
  function decodeArray(v) {
    var bin = atob(v.bdata), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
    var a = new TYPES[v.dtype](bytes.buffer), shape = String(v.shape || a.length).split(',').map(Number);
    if (shape.length < 2) { return a; }
    var rows = [];
    for (var r = 0; r < shape[0]; r++) { rows.push(a.subarray(r * shape[1], (r + 1) * shape[1])); }
    return rows;
  }
  function decode(o) {
    if (isSpec(o)) { return decodeArray(o); }
    if (Array.isArray(o)) { return o.map(decode); }
    if (!o || typeof o !== 'object') { return o; }
    var out = {};
    for (var k in o) { out[k] = decode(o[k]); }
    return out;
  }
  function isLeaf(v) { return !v || typeof v !== 'object' || Array.isArray(v) || ArrayBuffer.isView(v); }
  function merge(a, b) {
    var o = {}, k;
    for (k in a) { o[k] = a[k]; }
    for (k in b) {
      var v = b[k], w = o[k];
      o[k] = (!isLeaf(v) && !isLeaf(w)) ? merge(w, v) : v;
    }
    return o;
  }
  var base = decode(spec.base), sets = {};
  function gridPoint(flat) {
    if (!(flat in sets)) { sets[flat] = decode(spec.grid[flat]); }
    return sets[flat];
  }
  function flatIndex() {
    var L = gd.layout, flat = 0;
    for (var i = 0; i < spec.order.length; i++) {
      var c = spec.order[i], a;
      if (c[0] === 's') { a = L.sliders[c[1]].active; } else { a = L.updatemenus[c[1]].active; }
      flat = flat * spec.shape[i] + (a || 0);
    }
    return flat;
  }
  // one trace per curve: a change swaps the traces' data for those of the selected grid point
  // (decoded arrays are reused, the layout object is passed back unchanged)
  function update(t0) {
    var flat = flatIndex(), set = gridPoint(flat), data = [];
    for (var j = 0; j < base.length; j++) {
      var t = merge(base[j], set[j]), old = gd.data[j];
      if (old && old.visible === 'legendonly' && !('visible' in set[j])) { t.visible = 'legendonly'; }
      data.push(t);
    }
    gd.setAttribute('data-grid-index', flat);
    return Plotly.react(gd, data, gd.layout).then(function () {
      gd.setAttribute('data-redraw-ms', (performance.now() - t0).toFixed(1));
      gd.setAttribute('data-drawn-index', flat);
    });
  }
  // changes that arrive while a redraw runs (a dragged slider) are drawn once, at their latest state;
  // data-redraw-ms: from the control's change event to the end of the redraw
  var busy = false, again = false;
  function schedule() {
    var t0 = performance.now();
    if (busy) { again = true; return; }
    busy = true;
    setTimeout(function () {
      var flat = flatIndex();
      var done = function () { busy = false; if (again) { again = false; if (flatIndex() !== flat) { schedule(); } } };
      update(t0).then(done, done);
    }, 0);
  }
  // drop-downs side by side from their measured widths, wrapping into rows above the plot; laid out
  // again only when they overlap, leave the figure or need another band height (not on every redraw)
  var laying = false;
  function overlap(a, b) {
    return Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5 &&
           Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5;
  }
  function layoutMenus() {
    var heads = gd.querySelectorAll('.updatemenu-header-group'), fl = gd._fullLayout;
    if (laying || !heads.length || !fl || !fl._size) { return; }
    var avail = fl.width - fl._size.l - 8, x = 0, row = 0, xs = [], rows = [], boxes = [];
    for (var i = 0; i < heads.length; i++) {
      boxes.push(heads[i].getBoundingClientRect());
      var w = boxes[i].width;
      if (x > 0 && x + w > avail) { row += 1; x = 0; }
      xs.push(x); rows.push(row); x += w + GAP;
    }
    // what the layout itself puts above the plot (a legend, a title) keeps its place: menus go above it
    var g = gd.getBoundingClientRect(), plotTop = g.top + fl._size.t, used = spec.top0, above = [];
    gd.querySelectorAll('.legend, .gtitle, .annotation').forEach(function (el) {
      var r = el.getBoundingClientRect();
      if (r.height > 0 && r.top < plotTop) { used = Math.max(used, plotTop - r.top + 4); above.push(r); }
    });
    var top = Math.ceil(used + (row + 1) * ROW + 8);
    var ok = Math.abs(top - fl.margin.t) <= 0.5;
    for (var m = 0; ok && m < boxes.length; m++) {
      var b = boxes[m];
      ok = b.left >= g.left - 0.5 && b.right <= g.left + fl.width + 0.5 && b.top >= g.top - 0.5 && b.bottom <= plotTop + 0.5;
      for (var n = 0; ok && n < m; n++) { ok = !overlap(b, boxes[n]); }
      for (n = 0; ok && n < above.length; n++) { ok = !overlap(b, above[n]); }
    }
    // rows ROW pixels apart in the plot's own height (legends or colour bars below it may shrink it)
    var upd = {'margin.t': top, height: spec.plotH + top + fl.margin.b}, changed = !ok && Math.abs(top - fl.margin.t) > 0.5;
    for (m = 0; m < heads.length; m++) {
      var mx = xs[m] / fl._size.w, my = 1 + (top - 4 - rows[m] * ROW) / fl._size.h;
      if (Math.abs(mx - fl.updatemenus[m].x) > 1e-3 || Math.abs(my - fl.updatemenus[m].y) > 1e-3) { changed = true; }
      upd['updatemenus[' + m + '].x'] = mx; upd['updatemenus[' + m + '].y'] = my;
    }
    if (ok || !changed) { gd.setAttribute('data-menus-laid-out', '1'); return; }
    laying = true;
    Plotly.relayout(gd, upd).then(function () { laying = false; gd.setAttribute('data-menus-laid-out', '1'); });
  }
  gd.on('plotly_sliderchange', schedule);
  gd.on('plotly_buttonclicked', schedule);
  gd.on('plotly_afterplot', function () { if (!laying) { setTimeout(layoutMenus, 0); } });
  gd.setAttribute('data-explorer', 'static');
  gd.setAttribute('data-grid-index', spec.initial);
  gd.setAttribute('data-drawn-index', spec.initial);
  layoutMenus();
})();
"""
_MENU_ROW_PX = 34  # height of one row of drop-downs
_MENU_GAP_PX = 12  # horizontal gap between drop-downs
_PRINT_NOTE = ('<p class="nnl-print-note">Interactive figure, shown at its default setting: {what}. '
               'In the HTML book or in Jupyter its controls recompute it.</p>')


def _leaves(d: dict, prefix=()):
    """Flatten a plotly trace dict into ``(path, value)`` leaves (arrays and typed-array specs are leaves)."""
    for k, v in d.items():
        if isinstance(v, dict) and v and "bdata" not in v:
            yield from _leaves(v, prefix + (k,))
        else:
            yield prefix + (k,), v


def _nest(leaves) -> dict:
    out: dict = {}
    for path, v in leaves:
        d = out
        for k in path[:-1]:
            d = d.setdefault(k, {})
        d[path[-1]] = v
    return out


def _split_static(sets_json: list[list[dict]]):
    """Per trace position: the attributes equal at every grid point (``base``) and, per grid point,
    the ones that differ (``grid[k][j]``)."""
    ntraces = len(sets_json[0])
    base, varying = [], [[None] * ntraces for _ in sets_json]
    for j in range(ntraces):
        per_point = [dict((p, json.dumps(v, sort_keys=True)) for p, v in _leaves(s[j])) for s in sets_json]
        raw = [dict(_leaves(s[j])) for s in sets_json]
        common = set(per_point[0])
        for pp in per_point[1:]:
            common &= set(pp)
        same = {p for p in common if all(pp[p] == per_point[0][p] for pp in per_point)}
        same.discard(("type",))
        base.append(_nest([(p, raw[0][p]) for p in sorted(same)] + [(("type",), raw[0][("type",)])]))
        for k, r in enumerate(raw):
            varying[k][j] = _nest([(p, v) for p, v in r.items() if p not in same and p != ("type",)])
    return base, varying


def _menu_width_estimate(c: Control) -> float:
    """Pixels of a plotly drop-down header (the page measures the real width and lays out again)."""
    return 7.5 * max(len(f"{c.label}: {lab}") for lab in c.labels) + 40


class StaticExplorer:
    """The whole parameter grid precomputed for one plotly figure (see the module docstring).

    The figure holds one trace per curve (those of the default grid point); the data of every grid
    point are stored beside it, and a control change swaps them in (``Plotly.react``), so a click
    costs the redraw of a few curves however large the grid.  The page script keeps the stored
    data on the figure's ``div`` (``_nnlSpec``), where the browser test reads it to check that the
    figure after a click holds exactly the grid point its controls select.  Grid point ``(i_1, ..., i_k)``
    (``i_j`` the index of control ``j``'s value) has flat index ``((i_1 * n_2 + i_2) * n_3 + ...)``.
    ``sets[flat]`` are its traces (plotly objects, float32 data).
    """

    def __init__(self, func, controls, layout, max_grid=MAX_GRID_POINTS, max_values=MAX_VALUES):
        func = _check_func(func)
        controls = _check_controls(controls)
        layout = _check_layout(layout)
        max_grid = check_int("max_grid", max_grid, 1)
        max_values = check_int("max_values", max_values, 1)
        self.spec = controls
        self.shape = tuple(len(c.values) for c in controls)
        n_grid = math.prod(self.shape)
        if n_grid > max_grid:
            raise ValueError(
                f"parameter grid of {n_grid} points ({' x '.join(map(str, self.shape))}) exceeds "
                f"max_grid={max_grid}; coarsen a slider or raise max_grid"
            )
        sets, n_values = [], 0
        for idx in product(*(range(n) for n in self.shape)):
            params = {c.name: c.values[i] for c, i in zip(controls, idx)}
            traces = _normalise_traces(func(**params), f"static explorer at {params}")
            if sets and len(traces) != len(sets[0]):
                raise ValueError(
                    f"the trace function must return the same number of traces everywhere: "
                    f"{len(sets[0])} at the first grid point, {len(traces)} at {params}"
                )
            n_values += _n_values(traces)
            if n_values > max_values:
                raise ValueError(
                    f"static explorer data exceed max_values={max_values} numbers (grid of {n_grid} points); "
                    "coarsen a slider, shorten the curves or raise max_values"
                )
            sets.append(traces)
        self.ntraces = len(sets[0])
        self.n_values = n_values
        self.initial = int(np.ravel_multi_index([c.default_index for c in controls], self.shape))
        self.sets = [[_make_trace(t, float32=True) for t in traces] for traces in sets]
        # plotly's own JSON encoding (float32 arrays as base64 typed-array specs), one pass for all
        flat = [t for traces in self.sets for t in traces]
        data = json.loads(pio.to_json(go.Figure(data=flat), validate=False))["data"]
        sets_json = [data[k * self.ntraces:(k + 1) * self.ntraces] for k in range(n_grid)]
        self._base, self._grid = _split_static(sets_json)
        self.figure = go.Figure(data=list(self.sets[self.initial]), layout=layout)
        self._add_controls()

    def _add_controls(self):
        """Sliders stacked under the plot (first on top), drop-downs in a band above everything the
        layout puts above the plot; the page lays the drop-downs out again from their measured widths."""
        fig = self.figure
        n_sl = sum(c.kind == "slider" for c in self.spec)
        menus_spec = [c for c in self.spec if c.kind == "dropdown"]
        top0 = fig.layout.margin.t if fig.layout.margin.t is not None else (30 if menus_spec else 50)
        rows, x, xs, rws = 0, 0.0, [], []
        for c in menus_spec:  # first guess for a 640 px wide plot
            w = _menu_width_estimate(c)
            if x > 0 and x + w > 640:
                rows, x = rows + 1, 0.0
            xs.append(x)
            rws.append(rows)
            x += w + _MENU_GAP_PX
        top = top0 + (rows + 1) * _MENU_ROW_PX + 8 if menus_spec else top0
        bottom = 70 + 95 * n_sl
        plot_px = fig.layout.height or 340  # height of the plotting area itself
        self._top0, self._plot_px = top0, plot_px
        sliders, menus, order = [], [], []
        for c in self.spec:
            if c.kind == "slider":
                k = len(sliders)
                order.append(["s", k])
                sliders.append(dict(
                    active=c.default_index,
                    currentvalue=dict(prefix=f"{c.label} = ", font=dict(size=13)),
                    pad=dict(t=0, b=0), len=1.0, x=0.0, xanchor="left",
                    # the grip jumps to the clicked step: plotly's default 150 ms glide redraws the
                    # slider in every frame while the figure itself is redrawn
                    transition=dict(duration=0),
                    y=-(75 + 95 * k) / plot_px, yanchor="top",
                    steps=[dict(method="skip", label=lab, args=[None]) for lab in c.labels],
                    name=c.name,
                ))
            else:
                k = len(menus)
                order.append(["m", k])
                menus.append(dict(
                    type="dropdown", active=c.default_index, x=xs[k] / 640, xanchor="left",
                    y=1.0 + (top - 4 - rws[k] * _MENU_ROW_PX) / plot_px, yanchor="top", showactive=True,
                    name=c.name, pad=dict(t=0, b=0, l=0, r=0),
                    buttons=[dict(method="skip", label=f"{c.label}: {lab}", args=[None]) for lab in c.labels],
                ))
        self._order = order
        fig.update_layout(sliders=sliders, updatemenus=menus, height=plot_px + top + bottom,
                          margin=dict(t=top, b=bottom))

    @property
    def post_script(self) -> str:
        spec = dict(order=self._order, shape=list(self.shape), ntraces=self.ntraces, initial=self.initial,
                    base=self._base, grid=self._grid, top0=self._top0, plotH=self._plot_px)
        blob = json.dumps(spec, separators=(",", ":")).replace("</", "<\\/")  # safe inside <script>
        return _POST_SCRIPT % (blob, _MENU_ROW_PX, _MENU_GAP_PX)

    def grid_index(self, **params) -> int:
        """Flat grid index of ``params`` (every control named)."""
        names = [c.name for c in self.spec]
        if set(params) != set(names):
            raise ValueError(f"params must name every control exactly: expected {sorted(names)}, got {sorted(params)}")
        idx = [_index_of(c.name, c.values, params[c.name]) for c in self.spec]
        return int(np.ravel_multi_index(idx, self.shape))

    def visible_traces(self, **params) -> list:
        """The traces shown at ``params`` (what the page shows after the controls are set there)."""
        return list(self.sets[self.grid_index(**params)])

    def to_html(self) -> str:
        what = ", ".join(f"{c.label} = {c.labels[c.default_index]}" for c in self.spec)
        return _PRINT_NOTE.format(what=html.escape(what)) + display.figure_html(self.figure, post_script=self.post_script)

    def _repr_html_(self):
        return self.to_html()

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": self.to_html()}


def explore(
    func: Callable[..., Any],
    controls: Sequence[Control],
    *,
    layout: dict | None = None,
    mode: str | None = None,
    max_grid: int = MAX_GRID_POINTS,
    max_values: int = MAX_VALUES,
    continuous_update: bool = True,
):
    """Build an explorer of ``func`` over ``controls`` (see the module docstring).

    Parameters
    ----------
    func : callable ``func(**params) -> list of traces``; pure (same input, same output).
    controls : sliders and drop-downs from :func:`slider` / :func:`dropdown`.
    layout : plotly layout (dict) shared by every parameter value.
    mode : ``"live"``, ``"static"`` or ``None`` (decided by :func:`explore_mode`).
    max_grid, max_values : budget of the static grid (points, stored numbers); over it is a
        ``ValueError``.
    continuous_update : live sliders recompute while dragged (set ``False`` for slow functions).
    """
    func = _check_func(func)
    controls = _check_controls(controls)
    mode = _check_mode(mode)
    max_grid = check_int("max_grid", max_grid, 1)
    max_values = check_int("max_values", max_values, 1)
    layout = _check_layout(layout)
    if not isinstance(continuous_update, (bool, np.bool_)):
        raise TypeError(f"continuous_update must be True or False, got {continuous_update!r}")
    if mode == "live":
        return LiveExplorer(func, controls, layout, continuous_update)
    return StaticExplorer(func, controls, layout, max_grid, max_values)


class _NoOutput:
    """Displays nothing (not even an empty output)."""

    def _ipython_display_(self):
        pass

    def __repr__(self):
        return ""


def controls_preview(func, controls: Sequence[Control], *, caption: str | None = None, mode: str | None = None):
    """The live explorer's ipywidgets controls, disabled, for a static page to show what a kernel offers.

    In the static book (``mode`` ``"static"``) this returns a widget: ``caption`` (default: a sentence
    saying that a static page has no Python kernel) above the disabled controls of
    ``explore(func, controls, mode="live")``.  Run live, the explorer itself is on the page, so this
    returns an object that displays nothing: a reader in Jupyter never sees a second, dead set of
    controls.
    """
    func = _check_func(func)
    controls = _check_controls(controls)
    if caption is not None and not isinstance(caption, str):
        raise TypeError(f"caption must be None or a str, got {type(caption).__name__}")
    mode = _check_mode(mode)
    if mode == "live":
        return _NoOutput()
    import ipywidgets as widgets

    live = LiveExplorer(func, controls, {}, continuous_update=False)
    box = live.widget.children[0]
    for control in box.children:
        control.disabled = True
    text = caption if caption is not None else (
        "The controls of the live explorer, disabled here: a static page has no Python kernel behind it.")
    return widgets.VBox([widgets.HTML(f"<em>{html.escape(text)}</em>"), box])


if explore_mode() == "static":  # the book build: every plain figure renders offline, too
    display.use_book_renderer()
