"""Shared fixtures: the built book (built once per session, only when missing or stale)."""
from __future__ import annotations

import os

import pytest
from hypothesis import settings

from nnlandscape import book

# Property tests draw the same examples on every run (CI must not depend on luck); a failing
# example is printed so that it can be pinned with @example. NNLANDSCAPE_HYPOTHESIS=explore draws
# fresh random examples instead: run it now and then to look for new counterexamples.
settings.register_profile("book", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("NNLANDSCAPE_HYPOTHESIS", "book"))


@pytest.fixture(scope="session")
def built_book():
    """Path of ``_build/html``, built from the present sources (``-W``: any warning fails)."""
    if not book.is_current():
        book.build()
    assert book.is_current(), "the book build did not stamp _build/html/.source-hash"
    return book.ROOT / "_build" / "html"
