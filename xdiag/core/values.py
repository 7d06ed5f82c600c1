"""Numbers from users (query strings and JSON bodies): finite, bounded, or a clear 400.

Every number a request carries goes through `to_int`, so `inf`, `1e400`, `nan`, `true`
and `"12abc"` all get the same kind of answer instead of an OverflowError deep in numpy
(a 500). Integers are kept within int64 with room to spare, so no later arithmetic on
them overflows.
"""

from __future__ import annotations

import math
from typing import Any

from xdiag.core.errors import InvalidValue

INT_MAX = 1 << 62  # |value| bound when the caller gives none: int64 arithmetic stays safe
_MAX_TEXT = 40  # longer number texts are junk (and int() on 10^6 digits is slow)


def _shown(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "…"


def _range(lo: float | None, hi: float | None) -> str:
    if lo is None and hi is None:
        return ""
    def fmt(v: float | None, inf: str) -> str:
        return inf if v is None else str(v) if isinstance(v, int) else f"{v:g}"

    return f" within {fmt(lo, '-∞')}..{fmt(hi, '∞')}"


def _parse(raw: Any) -> float | int | None:
    """The number in `raw`, or None: JSON numbers as they are, texts parsed; never bools."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return raw
    if isinstance(raw, str) and len(raw) <= _MAX_TEXT and raw.isascii():
        text = raw.strip()  # int() and float() take fullwidth digits and "1_000" too
        if "_" in text:
            return None
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return None
    return None


def to_int(raw: Any, name: str, *, lo: int | None = None, hi: int | None = None) -> int:
    """`raw` (a query-string text or a JSON value) as an int within [lo, hi].

    Accepts integers and finite decimals ("1.5e9" -> 1500000000, truncated toward zero);
    refuses booleans, non-finite and out-of-range values with InvalidValue (HTTP 400)."""
    number = _parse(raw)
    if isinstance(number, float):
        number = int(number) if math.isfinite(number) else None
    if number is None:
        raise InvalidValue(f"{name} must be a finite number{_range(lo, hi)}, got {_shown(raw)}")
    if not -INT_MAX <= number <= INT_MAX or (lo is not None and number < lo) or \
            (hi is not None and number > hi):
        shown = str(number) if abs(number) < 10**30 else "a number of that size"
        raise InvalidValue(f"{name} must be{_range(lo, hi) or ' within ±2^62'}, got {shown}")
    return number


def to_float(raw: Any, name: str, *, lo: float, hi: float) -> float:
    """`raw` as a finite float within [lo, hi] (agents' measured peaks)."""
    number = _parse(raw)
    try:
        value = math.nan if number is None else float(number)
    except OverflowError:  # an int past float range
        value = math.nan
    if not (math.isfinite(value) and lo <= value <= hi):
        raise InvalidValue(f"{name} must be a finite number{_range(lo, hi)}, got {_shown(raw)}")
    return value
