"""A small Sphinx extension for the book.

* **Notebook downloads.** sphinx-book-theme offers a chapter's notebook in its download menu only
  when a launch service (Binder, JupyterHub, ...) is configured.  The book runs offline, so each MyST
  markdown chapter is written as a clean notebook (no outputs, via jupytext) next to the page sources
  and the theme's ``ipynb_source`` context key is set before the theme builds its header buttons.
* **Repeated scripts dropped.** With Sphinx 7 jupyter-book 1 reads the sources in two passes and
  sphinx-thebe / sphinx-togglebutton add their inline scripts each time (a page declared
  ``const THEBE_JS_URL`` twice: a JavaScript error on every page).
* **plotly.js only where a page draws.** ``plotly.min.js`` (4.8 MB) is listed in ``html_js_files``
  and removed again from every page whose body holds no plotly figure.
* **Chapter numbers a reader can cite.** Sphinx numbers chapters from 1; ``nnl_first_chapter``
  (default 1) shifts every section, figure, equation and exercise number of the numbered chapters,
  so that with ``nnl_first_chapter = 0`` the foundations chapter is chapter 0 and "eq. (1.4)" and
  "Exercise 3.2" name the chapters the sidebar shows as 1 and 3.
* **"exercise Exercise 3".** A reference whose text already starts with "Exercise" swallows an
  "exercise" written just before it in the sentence.
* **Bibliography labels from plain names.** The alpha labels of pybtex keep the letters of LaTeX
  accent commands (``{\\v{C}}ern{\\'y}`` gave "vCerny", a label [ABAvCerny13]); the ``nnl`` style
  decodes names to Unicode and drops the accents first ([ABC13], [HJ00]).
"""
from __future__ import annotations

import codecs
import re
import unicodedata
from pathlib import Path

from docutils import nodes


def _add_ipynb_download(app, pagename, templatename, context, doctree):
    if doctree is None or not pagename.startswith("chapters/"):
        return
    src = Path(app.env.doc2path(pagename))
    if src.suffix != ".md":
        return
    import jupytext

    dest = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    dest.parent.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(src, fmt="md:myst")
    jupytext.write(nb, dest, fmt="ipynb")
    context["ipynb_source"] = f"{pagename}.ipynb"


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    files = context.get("script_files")
    if not files:
        return
    draws = "Plotly.newPlot" in (context.get("body") or "")
    seen, unique = set(), []
    for js in files:
        attrs = getattr(js, "attributes", {})
        name = getattr(js, "filename", str(js)) or ""
        if not draws and str(name).endswith("plotly.min.js"):
            continue
        key = (name, attrs.get("body", ""), attrs.get("src", ""))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


# --- chapter numbers ------------------------------------------------------------------------------

def _shift(number, by):
    return type(number)([number[0] + by, *number[1:]]) if number else number


def _shift_chapter_numbers(app, env):
    """Run after Sphinx assigned section/figure numbers (every build): shift the chapter number."""
    by = int(app.config.nnl_first_chapter) - 1
    if by == 0:
        return []
    numbered = set()
    for doc, secnums in env.toc_secnumbers.items():
        env.toc_secnumbers[doc] = {a: _shift(n, by) for a, n in secnums.items()}
        if any(secnums.values()):
            numbered.add(doc)
    for doc in numbered:
        for figtype, numbers in env.toc_fignumbers.get(doc, {}).items():
            env.toc_fignumbers[doc][figtype] = {i: _shift(n, by) if len(n) > 1 else n for i, n in numbers.items()}
    # the numbers the sidebar and the next/previous links show live on the toc nodes
    for tree in [*env.tocs.values(), *env.titles.values()]:
        for node in tree.findall(lambda n: isinstance(n, nodes.Element) and n.get("secnumber")):
            node["secnumber"] = _shift(node["secnumber"], by)
    return []


# --- "exercise Exercise 3" ------------------------------------------------------------------------

_LEAD_WORD = re.compile(r"(?i)\b(exercises?|exercise)\s+$")


def _drop_doubled_word(app, doctree, docname):
    for ref in list(doctree.findall(nodes.reference)):
        if not re.match(r"Exercise\s", ref.astext()):
            continue
        parent = ref.parent
        i = parent.index(ref) - 1
        # a soft line break between the word and the reference is a Text node of its own
        while i >= 0 and isinstance(parent[i], nodes.Text) and not str(parent[i]).strip():
            i -= 1
        if i < 0 or not isinstance(parent[i], nodes.Text):
            continue
        text = str(parent[i]) + " "
        m = _LEAD_WORD.search(text)
        if m:
            parent[i] = nodes.Text(text[: m.start()])


# --- bibliography labels --------------------------------------------------------------------------

def _plain(name: str) -> str:
    import latexcodec  # noqa: F401  (registers the "ulatex" codec; a dependency of pybtex)

    try:
        name = codecs.decode(name, "ulatex")
    except Exception:  # pragma: no cover - leave what latexcodec cannot read
        pass
    name = unicodedata.normalize("NFKD", name.replace("{", "").replace("}", ""))
    return "".join(ch for ch in name if not unicodedata.combining(ch))


def _register_bib_style():
    from pybtex.database import Entry, Person
    from pybtex.plugin import register_plugin
    from pybtex.style.formatting.alpha import Style as AlphaStyle
    from pybtex.style.labels.alpha import LabelStyle as Alpha

    class PlainNameLabels(Alpha):
        def format_label(self, entry):
            persons = {role: [Person(_plain(str(p))) for p in people] for role, people in entry.persons.items()}
            clone = Entry(entry.type, fields=entry.fields, persons=persons)
            return super().format_label(clone)

    class Style(AlphaStyle):
        default_label_style = "nnl"

    register_plugin("pybtex.style.labels", "nnl", PlainNameLabels, force=True)
    register_plugin("pybtex.style.formatting", "nnl", Style, force=True)


def setup(app):
    _register_bib_style()
    app.add_config_value("nnl_first_chapter", 1, "env")
    app.connect("html-page-context", _add_ipynb_download, priority=400)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("env-get-updated", _shift_chapter_numbers, priority=900)
    app.connect("doctree-resolved", _drop_doubled_word)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
