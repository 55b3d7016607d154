"""Shared fixtures: the built book (built once per session, only when missing or stale)."""
from __future__ import annotations

import pytest

from nnlandscape import book


@pytest.fixture(scope="session")
def built_book():
    """Path of ``_build/html``, built from the present sources (``-W``: any warning fails)."""
    if not book.is_current():
        book.build()
    assert book.is_current(), "the book build did not stamp _build/html/.source-hash"
    return book.ROOT / "_build" / "html"
