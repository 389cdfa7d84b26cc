"""Units parsed once, at the boundary: durations, rates and sizes.

Inside tarsim time is float seconds, rates are per second and sizes are bytes.
Plain numbers already are in those units; strings carry their unit
(``"800ms"``, ``"50/s"``, ``"10000/h"``, ``"5MB"``). Each parser raises
``ValueError`` with a message that names the accepted forms.
"""

from __future__ import annotations

import math
import re

_NUMBER = r"([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"

DURATION_UNITS: dict[str, float] = {
    "us": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0,
    "h": 3600.0, "hour": 3600.0, "d": 86400.0, "day": 86400.0,
}
RATE_UNITS: dict[str, float] = {
    "s": 1.0, "sec": 1.0, "second": 1.0, "m": 1 / 60, "min": 1 / 60, "minute": 1 / 60,
    "h": 1 / 3600, "hour": 1 / 3600, "d": 1 / 86400, "day": 1 / 86400,
}
SIZE_UNITS: dict[str, float] = {
    "b": 1.0, "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 1024.0, "mib": 1024.0**2, "gib": 1024.0**3,
}

_DURATION_RE = re.compile(rf"^\s*{_NUMBER}\s*([a-zA-Z]*)\s*$")
_RATE_RE = re.compile(rf"^\s*{_NUMBER}\s*(?:/\s*([a-zA-Z]+))?\s*$")


def _finite(number: float, what: str, text: object) -> float:
    if not math.isfinite(number):
        raise ValueError(f"must be a finite {what}")
    return number


def _plain_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def parse_duration(value: object) -> float:
    """Seconds from ``2``, ``2.5``, ``"800ms"``, ``"2s"``, ``"30min"``, ``"1h"``."""
    number = _plain_number(value)
    if number is not None:
        return _finite(number, "duration", value)
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match:
            unit = match.group(2).lower() or "s"
            if unit in DURATION_UNITS:
                return _finite(float(match.group(1)) * DURATION_UNITS[unit], "duration", value)
    raise ValueError(
        "must be a duration such as 2 (seconds), '800ms', '2s', '30min' or '1h'"
    )


def parse_rate(value: object) -> float:
    """Events per second from ``50``, ``"50/s"``, ``"4000/min"``, ``"10000/h"``."""
    number = _plain_number(value)
    if number is not None:
        return _finite(number, "rate", value)
    if isinstance(value, str):
        match = _RATE_RE.match(value)
        if match:
            unit = (match.group(2) or "s").lower()
            if unit in RATE_UNITS:
                return _finite(float(match.group(1)) * RATE_UNITS[unit], "rate", value)
    raise ValueError("must be a rate such as 50 (per second), '50/s', '4000/min' or '10000/h'")


def parse_size(value: object) -> float:
    """Bytes from ``1024``, ``"50KB"``, ``"5MB"``, ``"1.5GiB"`` (KB = 1000 B, KiB = 1024 B)."""
    number = _plain_number(value)
    if number is not None:
        return _finite(number, "size", value)
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match:
            unit = match.group(2).lower() or "b"
            if unit in SIZE_UNITS:
                return _finite(float(match.group(1)) * SIZE_UNITS[unit], "size", value)
    raise ValueError("must be a size such as 1024 (bytes), '50KB', '5MB' or '1GiB'")


def parse_count(value: object) -> float:
    """A plain number (token counts, multipliers); strings of digits are accepted."""
    number = _plain_number(value)
    if number is not None:
        return _finite(number, "number", value)
    if isinstance(value, str):
        try:
            return _finite(float(value.strip()), "number", value)
        except ValueError:
            pass
    raise ValueError("must be a number")
