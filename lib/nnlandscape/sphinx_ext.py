"""A small Sphinx extension for the book: a ``.ipynb`` download for every chapter.

sphinx-book-theme offers a chapter's notebook in its download menu only when a launch service
(Binder, JupyterHub, ...) is configured.  The book runs offline, so this extension writes each MyST
markdown chapter as a clean notebook (no outputs, via jupytext) next to the page sources and sets
the theme's ``ipynb_source`` context key before the theme builds its header buttons.
"""
from __future__ import annotations

from pathlib import Path


def _add_ipynb_download(app, pagename, templatename, context, doctree):
    if doctree is None or not pagename.startswith("chapters/"):
        return
    src = Path(app.env.doc2path(pagename))
    if src.suffix != ".md":
        return
    import jupytext

    dest = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    dest.parent.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(src)
    jupytext.write(nb, dest, fmt="ipynb")
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app):
    app.connect("html-page-context", _add_ipynb_download, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
