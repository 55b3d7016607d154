"""Progress bars: tqdm's (``tqdm.auto``: a widget in a Jupyter kernel, text on a terminal).

:class:`ProgressBar` is :class:`tqdm.auto.tqdm` with the library's argument names, so that a
trainer can say ``ProgressBar(steps, enable=progress, desc="adam")`` and
``bar.update(1, postfix="best loss 0.01")``; everything else is tqdm's.  A disabled bar
(``enable=False``, the default of every trainer in tests) draws nothing.

>>> with ProgressBar(100, enable=False) as bar:
...     for _ in range(100):
...         bar.update(1)
"""
from __future__ import annotations

from tqdm.auto import tqdm

from ._checks import check_bool, check_int, check_real

__all__ = ["ProgressBar"]


class ProgressBar(tqdm):
    """``tqdm(total=total, disable=not enable, desc=desc, mininterval=min_interval, file=stream)``.

    ``update(k, postfix=...)`` also sets the short status text shown after the bar.
    """

    def __init__(self, total: int, *, enable: bool = True, desc: str = "", min_interval: float = 0.2, stream=None):
        total = check_int("total", total, 0)
        enable = check_bool("enable", enable)
        if not isinstance(desc, str):
            raise TypeError(f"desc must be a str, got {type(desc).__name__}")
        min_interval = check_real("min_interval", min_interval, 0.0)
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise TypeError(f"stream must be None or a writable text stream (with .write), got {type(stream).__name__}")
        super().__init__(total=total, disable=not enable, desc=desc, mininterval=min_interval, file=stream)

    def update(self, n: int = 1, postfix: str | None = None):
        """Advance the bar by ``n`` steps (an integer >= 0); ``postfix`` (a str) is the status text."""
        n = check_int("n", n, 0)
        if postfix is not None and not isinstance(postfix, str):
            raise TypeError(f"postfix must be None or a str, got {type(postfix).__name__}")
        if postfix is not None and not self.disable:
            self.set_postfix_str(postfix, refresh=False)
        return super().update(n)
