"""Thread control shared by the solvers.

Several solvers (critical-point finders, Parisi minimisations) make many tiny BLAS calls; a
multi-threaded BLAS then spends its time waking threads, one to two orders of magnitude slower on a
busy two-core machine. :func:`single_threaded_blas` runs a function with BLAS limited to one thread
(threadpoolctl) and restores the previous setting afterwards.
"""
from __future__ import annotations

import functools

from threadpoolctl import threadpool_limits

__all__ = ["single_threaded_blas"]


def single_threaded_blas(fn):
    """Decorator: run ``fn`` with a single-threaded BLAS."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper
