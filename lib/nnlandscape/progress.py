"""A tiny, notebook-friendly progress bar (there is no tqdm in the book's environment).

In a Jupyter kernel with ipywidgets it shows an ``IntProgress`` bar plus a text
label; elsewhere it rewrites one line of ``stderr`` with ``\\r``. Updates are
throttled (at most one redraw every ``min_interval`` seconds), and a disabled
bar (``enable=False``, the default of every trainer in tests) does nothing at all.

>>> with ProgressBar(100, enable=False) as bar:
...     for _ in range(100):
...         bar.update(1)
"""
from __future__ import annotations

import sys
import time

from ._checks import check_int, check_real

__all__ = ["ProgressBar", "in_notebook"]


def in_notebook() -> bool:
    """True when running inside a Jupyter (ZMQ) kernel."""
    ip = sys.modules.get("IPython")
    if ip is None:
        return False
    try:
        shell = ip.get_ipython()
    except Exception:  # pragma: no cover
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class ProgressBar:
    """Progress over ``total`` steps; use as a context manager and call :meth:`update`.

    Parameters
    ----------
    total : number of steps.
    enable : draw anything at all (``False``: silent no-op).
    desc : text shown before the bar.
    min_interval : seconds between redraws.
    stream : where the text bar goes (default ``sys.stderr``).
    """

    def __init__(self, total: int, *, enable: bool = True, desc: str = "", min_interval: float = 0.2, stream=None):
        self.total = check_int("total", total, 0)
        self.enable = bool(enable)
        self.desc = str(desc)
        self.min_interval = check_real("min_interval", min_interval, 0.0)
        self.stream = stream
        self.n = 0
        self.postfix = ""
        self._t0 = time.perf_counter()
        self._last = -float("inf")
        self._widget = None
        if self.enable and stream is None and in_notebook():
            try:
                import ipywidgets as widgets
                from IPython.display import display

                self._bar = widgets.IntProgress(min=0, max=max(self.total, 1), description=self.desc[:20])
                self._label = widgets.Label()
                self._widget = widgets.HBox([self._bar, self._label])
                display(self._widget)
            except Exception:  # pragma: no cover - fall back to text
                self._widget = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def update(self, k: int = 1, postfix: str | None = None):
        """Advance by ``k`` steps; ``postfix`` is a short status text (e.g. the best loss)."""
        if not self.enable:
            return
        self.n += k
        if postfix is not None:
            self.postfix = postfix
        now = time.perf_counter()
        if now - self._last >= self.min_interval or self.n >= self.total:
            self._last = now
            self._draw(now)

    def _text(self, now):
        el = now - self._t0
        rate = self.n / el if el > 0 else 0.0
        frac = self.n / self.total if self.total else 1.0
        fill = int(round(20 * frac))
        return (f"{self.desc} |{'#' * fill}{'.' * (20 - fill)}| {self.n}/{self.total} "
                f"[{el:.1f}s, {rate:.3g} it/s] {self.postfix}")

    def _draw(self, now):
        if self._widget is not None:
            self._bar.value = min(self.n, self.total)
            self._label.value = self._text(now).split("| ", 1)[-1]
            return
        stream = self.stream or sys.stderr
        stream.write("\r" + self._text(now))
        stream.flush()

    def close(self):
        """Final redraw and newline (text mode)."""
        if not self.enable:
            return
        self._draw(time.perf_counter())
        if self._widget is None:
            (self.stream or sys.stderr).write("\n")
        self.enable = False
