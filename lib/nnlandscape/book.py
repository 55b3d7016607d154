"""Build the HTML book and tell whether a build is current.

``python -m nnlandscape.book build`` runs ``jupyter-book build --all -W --keep-going .`` (every chapter
executed, any warning an error) with ``NNLANDSCAPE_EXPLORE=static`` and, on success, stamps
``_build/html/.source-hash`` with a hash of every file the book is made from (chapters, pages,
configuration, bibliography, assets and the ``nnlandscape`` sources).  ``python -m nnlandscape.book
status`` says whether that stamp matches the sources; the test-suite rebuilds only when it does not,
so CI builds the book once.

``python -m nnlandscape.book pdf [--solutions]`` prints the whole book (every page of the table of
contents, in order) to ``_build/pdf/book.pdf`` from the built HTML, building it first only if it is
stale: the pages' articles are put into one HTML document under ``_build/html/_print/``, which the
same headless Chromium as the browser tests renders (plotly figures drawn, MathJax typeset) and
prints.  Explorers appear at their default setting with a note that says so; folded code cells stay
folded; solutions are left out unless ``--solutions``.  ``_build/pdf/book.json`` records what went
in (pages, their titles, PDF pages, any TeX left untypeset) for the tests.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["ROOT", "source_files", "source_hash", "is_current", "build", "page_sizes", "toc_pages", "pdf"]

ROOT = Path(__file__).resolve().parents[2]
STAMP = Path("_build") / "html" / ".source-hash"
_PATTERNS = ("*.md", "*.yml", "*.bib", "chapters/**/*.md", "lib/nnlandscape/**/*.py", "_assets/*.css", "_assets/*.js")


def _check_root(root) -> Path:
    if not isinstance(root, (str, Path)):
        raise TypeError(f"root must be a path (str or pathlib.Path), got {type(root).__name__}")
    root = Path(root)
    if not (root / "_config.yml").is_file():
        raise ValueError(f"root={str(root)!r} is not a book root; allowed: a folder holding _config.yml")
    return root


def source_files(root: Path = ROOT) -> list[Path]:
    """Every file the built book depends on, sorted.

    ``root`` must be a book root (a folder holding ``_config.yml``): a wrong folder would
    otherwise give an empty or foreign list and a meaningless hash.
    """
    root = _check_root(root)
    files = set()
    for pattern in _PATTERNS:
        files.update(p for p in root.glob(pattern) if p.is_file())
    return sorted(files)


def source_hash(root: Path = ROOT) -> str:
    """SHA-256 over the relative paths and contents of :func:`source_files`."""
    h = hashlib.sha256()
    for p in source_files(root):
        h.update(str(p.relative_to(root)).encode())
        h.update(b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()


def is_current(root: Path = ROOT) -> bool:
    """``True`` when ``_build/html`` was built successfully from the present sources."""
    root = _check_root(root)
    stamp = root / STAMP
    return stamp.is_file() and stamp.read_text().strip() == source_hash(root)


def page_sizes(root: Path = ROOT) -> dict[str, int]:
    """Size in bytes of every built HTML page (relative path -> bytes)."""
    root = _check_root(root)
    html = root / "_build" / "html"
    return {
        str(p.relative_to(html)): p.stat().st_size
        for p in sorted(html.rglob("*.html"))
        if not p.relative_to(html).parts[0].startswith("_")
    }


def build(root: Path = ROOT) -> float:
    """Build every page, executing every chapter; return the seconds taken.

    The stamp records the sources as they were when the build started, so an edit made during the
    build leaves the book stale. Raises ``RuntimeError`` on failure.
    """
    import shutil

    stamp = root / STAMP
    if stamp.exists():
        stamp.unlink()
    shutil.rmtree(root / "_build" / "html" / "reports", ignore_errors=True)  # stale failure logs
    sources = source_hash(root)
    env = dict(os.environ, NNLANDSCAPE_EXPLORE="static", PYDEVD_DISABLE_FILE_VALIDATION="1")
    jb = Path(sys.executable).with_name("jupyter-book")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(jb), "build", "--all", "-W", "--keep-going", "."], cwd=root, env=env
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed (exit {proc.returncode}); see the log above "
                           "and _build/html/reports/")
    stamp.write_text(sources + "\n")
    return elapsed


def toc_pages(root: Path = ROOT) -> list[str]:
    """The pages of ``_toc.yml`` in reading order (root first)."""
    import yaml

    root = _check_root(root)
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [c["file"] for c in part["chapters"]]
    return pages


CHROMIUM = os.environ.get("NNLANDSCAPE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

_PRINT_CSS = """
@page { size: A4; margin: 16mm 14mm 16mm 14mm; }
/* the theme lays pages out with flex boxes, which Chromium does not split across printed pages */
html, body, main, .bd-main, .bd-content, .nnl-print-page { display: block !important; height: auto !important;
    overflow: visible !important; }
.nnl-print-page { break-before: page; }
.nnl-print-page:first-of-type { break-before: auto; }
.nnl-print-note { display: block !important; font-size: 0.85em; font-style: italic; color: #555;
                  border-left: 3px solid #999; padding-left: 0.6em; margin: 0.4em 0; }
.tag_hide-input > .cell_input, .tag_hide-input details.above-input, .tag_remove-input > .cell_input,
.headerlink, .toggle-button, .modebar-container, .copybtn { display: none !important; }
.cell_output .plotly-graph-div { break-inside: avoid; }
pre { white-space: pre-wrap !important; overflow-wrap: anywhere; }
mjx-container[display="true"] { overflow: visible !important; }
%s
"""

# the rendered text of the printed document: any $ or backslash left outside code and figures is TeX
# that was not typeset (the browser tests check each page the same way)
_RAW_TEX = """() => {
  const copy = document.body.cloneNode(true);
  copy.querySelectorAll('pre, code, script, style, .cell_input, mjx-container, .plotly-graph-div')
      .forEach(e => e.remove());
  const text = copy.textContent, hits = [], re = /[$\\\\]/g;
  let m;
  while ((m = re.exec(text)) !== null && hits.length < 10) {
    hits.push(text.slice(Math.max(0, m.index - 40), m.index + 40).replace(/\\s+/g, ' ')); }
  return hits; }"""


def _rebase(html: str) -> str:
    """Relative ``src``/``href`` of a top-level page, made relative to a folder one level down."""
    return re.sub(r'((?:src|href)=")(?!(?:[a-z]+:|#|/|\.\./))', r"\1../", html)


def _print_document(html_dir: Path, pages: list[str], solutions: bool) -> str:
    heads = {}
    parts = []
    for page in pages:
        text = (html_dir / f"{page}.html").read_text()
        article = re.search(r'<article class="bd-article">(.*?)</article>', text, re.S)
        if article is None:
            raise RuntimeError(f"{page}.html has no <article class=\"bd-article\">")
        body = article.group(1)
        if "/" not in page:
            body = _rebase(body)
        parts.append(f'<section class="nnl-print-page" data-page="{page}">{body}</section>')
        if "/" in page:
            heads[page] = text[: text.index("</head>")]
    # the head of a chapter page that draws (plotly.js, MathJax, widget manager, the book's CSS)
    drawing = [p for p, h in heads.items() if "plotly.min.js" in h] or list(heads)
    if not drawing:
        raise RuntimeError("the table of contents has no chapter page to take the page head from")
    head = heads[drawing[0]]
    hide = "" if solutions else ".solution { display: none !important; }"
    head += f"<style>{_PRINT_CSS % hide}</style>"
    return (f"{head}</head><body data-nnl-print=\"1\"><main class=\"bd-main\"><div class=\"bd-content\">"
            + "\n".join(parts) + "</div></main></body></html>")


def pdf(root: Path = ROOT, out: Path | None = None, solutions: bool = False, timeout_s: float = 300) -> dict:
    """Print the built book to one PDF (see the module docstring); return the record written beside it.

    Raises ``RuntimeError`` when the book is not built or a page cannot be rendered.
    """
    import functools
    import http.server
    import threading

    from playwright.sync_api import sync_playwright

    from ._checks import check_bool, check_real

    root = _check_root(root)
    solutions = check_bool("solutions", solutions)
    timeout_s = check_real("timeout_s", timeout_s, 0.0, low_open=True)
    html_dir = root / "_build" / "html"
    if not (html_dir / "index.html").is_file():
        raise RuntimeError("no built book in _build/html: run python -m nnlandscape.book build")
    out = Path(out) if out is not None else root / "_build" / "pdf" / "book.pdf"
    out.parent.mkdir(parents=True, exist_ok=True)
    pages = toc_pages(root)
    doc = html_dir / "_print" / "book.html"
    doc.parent.mkdir(exist_ok=True)
    doc.write_text(_print_document(html_dir, pages, solutions))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(html_dir)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    t0 = time.perf_counter()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            # 794 px is A4 at 96 dpi; minus margins and padding the text column is ~640 px: lay plots out narrower
            page = browser.new_page(viewport={"width": 600, "height": 1000})
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(
                (f"http://127.0.0.1:{httpd.server_address[1]}/", "data:", "blob:")) else r.abort())
            page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/_print/book.html", wait_until="load",
                      timeout=timeout_s * 1000)
            page.wait_for_function(
                "Array.from(document.querySelectorAll('.plotly-graph-div')).every(gd => gd.querySelector('.main-svg'))",
                timeout=timeout_s * 1000)
            if page.evaluate("document.querySelectorAll('.math').length"):
                page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=timeout_s * 1000)
                page.evaluate("MathJax.startup.promise")
            page.wait_for_timeout(1000)
            info = page.evaluate("""() => ({
                pages: Array.from(document.querySelectorAll('.nnl-print-page')).map(s => ({
                    page: s.dataset.page, title: (s.querySelector('h1') || {}).textContent || '' })),
                figures: document.querySelectorAll('.plotly-graph-div').length,
                explorers: document.querySelectorAll('[data-explorer]').length,
                notes: document.querySelectorAll('.nnl-print-note').length,
                typeset: document.querySelectorAll('mjx-container').length })""")
            info["raw_tex"] = page.evaluate(_RAW_TEX)
            page.pdf(path=str(out), format="A4", print_background=True, outline=True, tagged=True,
                     display_header_footer=True, header_template="<span></span>",
                     footer_template='<div style="font-size:8px;width:100%;text-align:center">'
                                     '<span class="pageNumber"></span> / <span class="totalPages"></span></div>',
                     margin=dict(top="16mm", bottom="18mm", left="14mm", right="14mm"))
            browser.close()
    finally:
        httpd.shutdown()
    data = out.read_bytes()
    info.update(pdf=str(out), bytes=len(data), pdf_pages=len(re.findall(rb"/Type\s*/Page\b", data)),
                seconds=round(time.perf_counter() - t0, 1), solutions=solutions)
    for entry in info["pages"]:
        entry["title"] = re.sub(r"\s+", " ", entry["title"]).replace("#", "").strip()
    out.with_suffix(".json").write_text(json.dumps(info, indent=1, ensure_ascii=False))
    return info


def _main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "build"
    if cmd == "pdf":
        if not is_current():
            try:
                build()
            except RuntimeError as err:
                print(err, file=sys.stderr)
                return 1
        info = pdf(solutions="--solutions" in argv)
        print(f"[pdf] {info['pdf']}: {info['pdf_pages']} pages, {info['bytes'] / 2**20:.1f} MB, "
              f"{len(info['pages'])} parts, {info['explorers']} explorers at their default setting, "
              f"{info['seconds']:.0f} s")
        if info["raw_tex"]:
            print(f"[pdf] TeX left untypeset: {info['raw_tex'][:3]}", file=sys.stderr)
            return 1
        return 0
    if cmd == "status":
        current = is_current()
        print("current" if current else "stale")
        return 0 if current else 1
    if cmd != "build":
        print("usage: python -m nnlandscape.book [build|status|pdf [--solutions]]", file=sys.stderr)
        return 2
    try:
        elapsed = build()
    except RuntimeError as err:
        print(err, file=sys.stderr)
        return 1
    print(f"[build] {elapsed:.0f} s; page sizes:")
    for page, size in page_sizes().items():
        print(f"  {page:50s} {size / 1024:8.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
