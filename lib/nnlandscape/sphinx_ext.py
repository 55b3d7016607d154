"""A small Sphinx extension for the book: a ``.ipynb`` download for every chapter.

sphinx-book-theme offers a chapter's notebook in its download menu only when a launch service
(Binder, JupyterHub, ...) is configured.  The book runs offline, so this extension writes each MyST
markdown chapter as a clean notebook (no outputs, via jupytext) next to the page sources and sets
the theme's ``ipynb_source`` context key before the theme builds its header buttons.

It also drops repeated ``<script>`` entries: with Sphinx 7 jupyter-book 1 reads the sources in
two passes and sphinx-thebe / sphinx-togglebutton add their inline scripts each time, so a page
declared ``const THEBE_JS_URL`` twice (a JavaScript error on every page).
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


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    files = context.get("script_files")
    if not files:
        return
    seen, unique = set(), []
    for js in files:
        attrs = getattr(js, "attributes", {})
        key = (getattr(js, "filename", str(js)) or "", attrs.get("body", ""), attrs.get("src", ""))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _add_ipynb_download, priority=400)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
