"""Offline plotly rendering for the book.

Inside a kernel plotly 7 emits only its JSON mimetype, which jupyter-book 1 cannot show.  The
renderer registered here returns ``text/html`` made by :func:`plotly.io.to_html` *without* plotly.js
(the book serves one shared ``plotly.min.js`` from its own assets) and without MathJax, so a page
needs no network.  Figure ``div`` ids are derived from the figure's content and a per-process
counter, so building the same chapter twice gives byte-identical HTML.
"""
from __future__ import annotations

import hashlib
import itertools
import json

import plotly.graph_objects as go
import plotly.io as pio
from plotly.io.base_renderers import MimetypeRenderer

__all__ = ["figure_html", "use_book_renderer", "BOOK_TEMPLATE", "RENDERER_NAME"]

RENDERER_NAME = "nnlandscape_html"
_counter = itertools.count()

#: A small template (the stock ones add ~7 KB to every figure).
BOOK_TEMPLATE = go.layout.Template(
    layout=dict(
        colorway=["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"],
        paper_bgcolor="white",
        plot_bgcolor="white",
        font=dict(family="Helvetica, Arial, sans-serif", size=13),
        # ticklabeloverflow "allow": plotly's default ("hide past div") measures every tick label once
        # per label drawn (a forced layout each), at every redraw of an explorer; the SVG clips
        # anything that leaves the figure anyway
        xaxis=dict(showgrid=True, gridcolor="#e5e5e5", zeroline=False, linecolor="#444", ticks="outside",
                   ticklabeloverflow="allow"),
        yaxis=dict(showgrid=True, gridcolor="#e5e5e5", zeroline=False, linecolor="#444", ticks="outside",
                   ticklabeloverflow="allow"),
        margin=dict(l=60, r=20, t=50, b=50),
        hovermode="closest",
    ),
    data=dict(heatmap=[go.Heatmap(colorbar=dict(ticklabeloverflow="allow"))],
              contour=[go.Contour(colorbar=dict(ticklabeloverflow="allow"))]),
)
pio.templates["nnlandscape"] = BOOK_TEMPLATE
pio.templates.default = "nnlandscape"

_CONFIG = {"displaylogo": False, "responsive": True}


def figure_html(fig, post_script: str | None = None) -> str:
    """Return the HTML ``div`` for ``fig`` (a figure or its dict), with no plotly.js and no MathJax.

    ``post_script`` is JavaScript run after the figure is drawn; ``{plot_id}`` in it is replaced by
    the figure's ``div`` id (see :func:`plotly.io.to_html`).
    """
    if isinstance(fig, dict):
        fig = go.Figure(fig)
    if not isinstance(fig, go.Figure):
        raise TypeError(f"fig must be a plotly Figure or its dict, got {type(fig).__name__}")
    if post_script is not None and not isinstance(post_script, str):
        raise TypeError(f"post_script must be a str of JavaScript or None, got {type(post_script).__name__}")
    digest = hashlib.sha1(
        json.dumps(fig.to_plotly_json(), sort_keys=True, default=str).encode()
    ).hexdigest()[:10]
    return pio.to_html(
        fig,
        include_plotlyjs=False,
        include_mathjax=False,
        full_html=False,
        div_id=f"nnl-{digest}-{next(_counter)}",
        post_script=post_script,
        config=_CONFIG,
    )


class _BookRenderer(MimetypeRenderer):
    """Renderer emitting ``text/html`` that relies on the page's own plotly.js."""

    def to_mimebundle(self, fig_dict):
        return {"text/html": figure_html(fig_dict)}


def use_book_renderer() -> None:
    """Make the book's offline HTML renderer plotly's default (idempotent)."""
    pio.renderers[RENDERER_NAME] = _BookRenderer()
    pio.renderers.default = RENDERER_NAME
