"""Argument checks shared by every public function of :mod:`nnlandscape`.

Each check raises :class:`ValueError` whose message names the offending
parameter and the allowed values, so bad input fails at the call site with a
readable message instead of as a NaN plot or a traceback deep inside numpy.
"""
from __future__ import annotations

import math
import numbers
from typing import Iterable

__all__ = ["check_choice", "check_int", "check_real", "check_finite_array", "check_real_array", "check_numeric_dtype",
           "check_seed", "check_budget"]


def check_choice(name: str, value, choices: Iterable):
    """Return ``value`` if it is one of ``choices``; else raise ``ValueError``."""
    choices = tuple(choices)
    try:
        ok = bool(value in choices)
    except (TypeError, ValueError):  # arrays and other values that do not compare to a bool
        ok = False
    if not ok:
        raise ValueError(
            f"{name}={value!r} is not allowed; choose one of {', '.join(map(repr, choices))}"
        )
    return value


def check_int(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as ``int`` if it is an integer in ``[low, high]``."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if high is None and value > 2**62:  # beyond any array size or numpy integer: refuse, do not overflow later
        high = 2**62
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else str(low)
        hi = "inf" if high is None else str(high)
        raise ValueError(f"{name}={value} is out of range; allowed: integers in [{lo}, {hi}]")
    return value


def check_real(
    name: str,
    value,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as ``float`` if it is a finite real in the given interval.

    ``low_open``/``high_open`` make the corresponding end exclusive, so
    ``check_real("T", T, 0, low_open=True)`` accepts exactly ``T > 0``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    bad = not math.isfinite(value)
    if low is not None:
        bad |= value <= low if low_open else value < low
    if high is not None:
        bad |= value >= high if high_open else value > high
    if bad:
        allowed = _interval(low, high, low_open, high_open)
        raise ValueError(f"{name}={value!r} is out of range; allowed: finite values in {allowed}")
    return value


def _interval(low, high, low_open, high_open) -> str:
    """The interval ``[low, high]`` in words, e.g. ``(0, inf)``."""
    lb = "(" if low_open or low is None else "["
    rb = ")" if high_open or high is None else "]"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"{lb}{lo}, {hi}{rb}"


def check_finite_array(name: str, value, dtype=float):
    """Return ``value`` as a numpy array if every entry is finite."""
    import numpy as np

    check_numeric_dtype(name, value)
    arr = np.asarray(value, dtype=dtype)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values")
    return arr


def check_numeric_dtype(name: str, value):
    """Raise ``TypeError`` unless ``value`` is (an array of) real numbers: integer or floating dtype.

    Booleans, strings, complex numbers and Python objects are refused instead of being cast
    (a cast would turn ``"1"`` into 1.0, ``True`` into 1.0 and drop imaginary parts silently).
    """
    import numpy as np

    kind = np.asarray(value).dtype.kind
    if kind not in "iuf":
        what = {"b": "booleans", "c": "complex numbers", "U": "strings", "S": "bytes", "O": "Python objects"}
        raise TypeError(f"{name} must hold real numbers (an int or float array), got {what.get(kind, kind)}")
    return value


def check_real_array(
    name: str,
    value,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
):
    """Return ``value`` as a float array if every entry is a finite real in the given interval.

    Booleans and non-numeric input are rejected (``True`` is not the number 1 here).
    """
    import numpy as np

    allowed = f"finite real numbers in {_interval(low, high, low_open, high_open)}"
    raw = np.asarray(value)
    if raw.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    arr = raw.astype(float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be {allowed}; got non-finite values")
    if arr.size:
        bad = np.zeros(arr.shape, bool)
        if low is not None:
            bad |= arr <= low if low_open else arr < low
        if high is not None:
            bad |= arr >= high if high_open else arr > high
        if bad.any():
            raise ValueError(f"{name} is out of range (got values in [{arr.min():g}, {arr.max():g}]); allowed: {allowed}")
    return arr


def check_seed(name: str, seed):
    """Return ``seed`` if numpy accepts it as a seed: ``None``, an integer >= 0, a sequence of
    them, a ``SeedSequence`` or a ``Generator``; else raise ``ValueError`` naming ``name``."""
    import numpy as np

    if seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence, np.random.BitGenerator)):
        return seed
    if isinstance(seed, (bool, np.bool_)):
        raise ValueError(f"{name} must be a non-negative integer (or None), got {seed!r}")
    if isinstance(seed, numbers.Integral):
        if seed < 0:
            raise ValueError(f"{name}={seed} is out of range; allowed: integers >= 0 (or None)")
        return int(seed)
    try:
        arr = np.asarray(seed)
    except Exception:  # pragma: no cover - exotic objects
        arr = np.asarray(None, dtype=object)
    if arr.ndim == 1 and arr.size and arr.dtype.kind in "iu" and np.all(arr >= 0):
        return seed
    raise ValueError(f"{name} must be a non-negative integer (or None, a sequence of them, a numpy Generator), "
                     f"got {seed!r}")


#: Largest number of iterations an iterative method accepts (its cost per step is the caller's).
MAX_STEPS = 10**7
#: Largest count of points, images, samples or dimensions a call accepts (arrays of ~1 GB of floats).
MAX_SIZE = 10**8
#: Memory any single call may plan to allocate (bytes); calls estimated beyond it are refused.
MAX_BYTES = 2**31
#: Floating-point operations any single call may plan (~10 minutes on one core); beyond, refused.
MAX_FLOPS = 1e13


def check_budget(what: str, cost: float, limit: float, limit_name: str, unit: str = ""):
    """Refuse up front work whose estimated ``cost`` exceeds ``limit``.

    The message names the estimate, the limit and where the limit lives (``limit_name``), e.g.
    ``check_budget("n_models * n_params", 3e9, 1e8, "optim.MAX_PARAMETERS")``.
    """
    if cost > limit:
        u = f" {unit}" if unit else ""
        raise ValueError(f"{what} = {cost:.3g}{u} exceeds the limit {limit:.3g}{u} ({limit_name}): "
                         "this would not finish in reasonable time or memory; reduce it")


def check_instance(name: str, value, cls):
    """Return ``value`` if it is an instance of ``cls`` (a class or tuple); else raise ``TypeError`` naming ``name``."""
    if not isinstance(value, cls):
        want = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
        raise TypeError(f"{name} must be a {want}, got {type(value).__name__}")
    return value


def check_sequence(name: str, value, length: int | None = None):
    """Return ``list(value)`` if ``value`` is a finite iterable (list, tuple, generator, array with
    ndim >= 1; not a string or a dict) with the given length."""
    from collections.abc import Iterable, Mapping

    import numpy as np

    if (isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable)
            or (isinstance(value, np.ndarray) and value.ndim == 0)):
        raise TypeError(f"{name} must be a list or tuple, got {type(value).__name__}")
    value = list(value)
    if length is not None and len(value) != length:
        raise ValueError(f"{name} must have {length} entries, got {len(value)}")
    return value


def check_bool(name: str, value) -> bool:
    """Return ``value`` as ``bool`` if it is ``True``/``False`` (numpy booleans too); else raise ``TypeError``."""
    import numpy as np

    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)
