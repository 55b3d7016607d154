"""The built HTML book: every chapter executed without error or warning, offline, small, reproducible."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nnlandscape import book

pytestmark = pytest.mark.book

#: Largest HTML page we accept (explorers embed their whole grid).
PAGE_BUDGET = 4 * 1024 * 1024


def toc_pages() -> list[str]:
    return book.toc_pages()


def known_defect(page: str) -> str | None:
    """A defect of a chapter's source that the rendered-text checks are expected to catch, if present.

    A line of prose that starts with "+ " inside inline math is read as a list item, which splits the
    math and leaves its TeX raw on the page."""
    src = book.ROOT / f"{page}.md"
    if not src.is_file():
        return None
    text = re.sub(r"```.*?```", "", src.read_text(), flags=re.S)
    bad = [line for line in text.splitlines() if re.match(r"^[+*-] .*\$", line) and line.count("$") % 2]
    return f"{page}: a line starting with a list marker splits inline math: {bad[0]!r}" if bad else None


def test_no_prose_line_splits_inline_math():
    """The source-level cause of raw TeX on a page, named per line (the browser test sees the effect)."""
    defects = [d for d in map(known_defect, toc_pages()) if d]
    assert not defects, defects


def test_every_toc_page_is_built(built_book: Path):
    for page in toc_pages():
        assert (built_book / f"{page}.html").is_file(), page
    reports = built_book / "reports"
    assert not reports.exists() or not any(reports.iterdir()), "a chapter failed: see _build/html/reports"


def test_page_sizes_within_budget(built_book: Path):
    sizes = book.page_sizes()
    print("\n".join(f"{p}: {s / 1024:.0f} KiB" for p, s in sizes.items()))
    too_big = {p: s for p, s in sizes.items() if s > PAGE_BUDGET}
    assert not too_big, f"pages over {PAGE_BUDGET} bytes: {too_big}"


def test_no_external_resources(built_book: Path):
    pattern = re.compile(r'<(script|link|img|iframe)[^>]+(src|href)="((https?:)?//[^"]+)"')
    for page in built_book.rglob("*.html"):
        refs = [m.group(3) for m in pattern.finditer(page.read_text()) if "rel=\"canonical\"" not in m.group(0)]
        assert not refs, f"{page.relative_to(built_book)} loads {refs[:3]}"


def test_vendored_assets_are_served(built_book: Path):
    static = built_book / "_static"
    for rel in ["vendor/plotly.min.js", "vendor/require.js", "vendor/html-manager/embed-amd.js", "mathjax/tex-chtml.js"]:
        assert (static / rel).is_file(), rel


def test_every_chapter_downloads_as_notebook(built_book: Path):
    for page in toc_pages():
        if not page.startswith("chapters/"):
            continue
        nb = json.loads((built_book / "_sources" / f"{page}.ipynb").read_text())
        assert nb["nbformat"] == 4 and any(c["cell_type"] == "code" for c in nb["cells"])
        assert f"{Path(page).name}.ipynb" in (built_book / f"{page}.html").read_text()


def _figure_data(html: str) -> list[str]:
    """The JSON data arrays of every plotly figure in a page and the grid data of every static
    explorer, ids removed."""
    figures = re.findall(r'Plotly\.newPlot\(\s*"[^"]+",\s*(\[.*?\]),\s*\{', html, re.S)
    grids = re.findall(r"var spec = (\{.*?\});\n", html)
    return [re.sub(r"nnl-[0-9a-f]+-\d+", "ID", m) for m in figures + grids]


def _execute_chapter(name: str, mode: str, nb=None):
    """Execute ``chapters/<name>.md`` (or the notebook ``nb`` made from it) in a fresh kernel with
    ``NNLANDSCAPE_EXPLORE=mode``; return the notebook."""
    import os

    import jupytext
    from nbclient import NotebookClient

    src = book.ROOT / "chapters" / f"{name}.md"
    nb = jupytext.read(src) if nb is None else nb
    before = os.environ.get("NNLANDSCAPE_EXPLORE")
    os.environ["NNLANDSCAPE_EXPLORE"] = mode
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(src.parent)}}).execute()
    finally:
        if before is None:
            os.environ.pop("NNLANDSCAPE_EXPLORE")
        else:
            os.environ["NNLANDSCAPE_EXPLORE"] = before
    return nb


def _outputs(nb, mime):
    return [out["data"][mime] for cell in nb.cells for out in cell.get("outputs", []) if mime in out.get("data", {})]


@pytest.mark.slow
def test_gaussian_field_chapter_is_reproducible(built_book: Path):
    """Executing the chapter again gives exactly the numbers of the built page (seeded randomness)."""
    nb = _execute_chapter("00_gaussian_fields", "static")
    fresh = []
    for html in _outputs(nb, "text/html"):
        fresh += _figure_data(html if isinstance(html, str) else "".join(html))
    built = _figure_data((built_book / "chapters" / "00_gaussian_fields.html").read_text())
    assert len(fresh) >= 3
    assert len(built) == len(fresh)
    for a, b in zip(sorted(built), sorted(fresh)):
        assert json.loads(a) == json.loads(b)


@pytest.mark.slow
def test_gaussian_field_chapter_runs_live_as_a_notebook(tmp_path):
    """The chapter converted to a notebook (what JupyterLab opens) runs in a kernel with
    NNLANDSCAPE_EXPLORE=live: every explorer is ipywidgets, no static grid, and no second, disabled
    set of controls."""
    import jupytext
    import nbformat

    ipynb = tmp_path / "00_gaussian_fields.ipynb"
    jupytext.write(jupytext.read(book.ROOT / "chapters" / "00_gaussian_fields.md"), ipynb, fmt="ipynb")
    nb = _execute_chapter("00_gaussian_fields", "live", nbformat.read(ipynb, as_version=4))
    widgets = _outputs(nb, "application/vnd.jupyter.widget-view+json")
    static = [h for h in _outputs(nb, "text/html") if "data-explorer" in (h if isinstance(h, str) else "".join(h))]
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    n_explorers = source.count("explore(") - source.count("def explore(")
    assert not static
    assert len(widgets) >= n_explorers >= 3
    states = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    disabled = [m["state"].get("description") for m in states.values()
                if m["model_name"].endswith(("SliderModel", "DropdownModel")) and m["state"].get("disabled")]
    assert not disabled, f"disabled controls in the live chapter: {disabled}"


def test_computed_tables_render_as_tables(built_book: Path):
    """Markdown tables printed by code cells (IPython Markdown) must become HTML tables, not raw pipes."""
    for page in toc_pages():
        html = (built_book / f"{page}.html").read_text()
        prose = re.sub(r"<pre.*?</pre>", "", html, flags=re.S)
        assert "|---|" not in prose and "| --- |" not in prose, f"{page}: a markdown table was not rendered"


@pytest.mark.browser
@pytest.mark.slow
def test_pdf_has_every_page_and_no_raw_tex(built_book: Path, tmp_path):
    """``python -m nnlandscape.book pdf`` (here into a temporary file): a PDF of every page of the
    table of contents in order, each part on a new page, explorers at their default setting with a
    note, and no TeX left untypeset in what was printed."""
    info = book.pdf(out=tmp_path / "book.pdf")
    data = (tmp_path / "book.pdf").read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert [p["page"] for p in info["pages"]] == toc_pages()
    assert all(p["title"] for p in info["pages"]), info["pages"]
    assert info["pdf_pages"] >= len(info["pages"])  # every part starts a page
    assert info["explorers"] >= 3 and info["notes"] == info["explorers"]
    assert json.loads((tmp_path / "book.json").read_text())["pages"] == info["pages"]
    assert not info["raw_tex"], info["raw_tex"]
