"""Build the HTML book and tell whether a build is current.

``python -m nnlandscape.book build`` runs ``jupyter-book build --all -W --keep-going .`` (every chapter
executed, any warning an error) with ``NNLANDSCAPE_EXPLORE=static`` and, on success, stamps
``_build/html/.source-hash`` with a hash of every file the book is made from (chapters, pages,
configuration, bibliography, assets and the ``nnlandscape`` sources).  ``python -m nnlandscape.book
status`` says whether that stamp matches the sources; the test-suite rebuilds only when it does not,
so CI builds the book once.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["ROOT", "source_files", "source_hash", "is_current", "build", "page_sizes"]

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


def _main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "build"
    if cmd == "status":
        current = is_current()
        print("current" if current else "stale")
        return 0 if current else 1
    if cmd != "build":
        print("usage: python -m nnlandscape.book [build|status]", file=sys.stderr)
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
