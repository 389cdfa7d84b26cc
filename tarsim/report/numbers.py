"""Numbers as the decision table and the report print them: money, shares, plain
quantities and loads, each ``-`` when unknown."""

from __future__ import annotations

import math


def money(usd: float) -> str:
    """``$1,396`` (cents below $100: ``$4.12``; ``-`` when unknown)."""
    if usd is None or not math.isfinite(usd):
        return "-"
    if usd == 0:
        return "$0"
    return f"${usd:,.2f}" if abs(usd) < 100 else f"${usd:,.0f}"


def percent(share: float) -> str:
    """A share as a percentage: ``0.02 %``, ``5.7 %``, ``22 %``."""
    if share is None or not math.isfinite(share):
        return "-"
    value = 100 * share
    if value == 0:
        return "0 %"
    if abs(value) < 1:
        return f"{value:.2f} %"
    text = f"{value:.1f}" if abs(value) < 10 else f"{value:.0f}"
    return f"{text.removesuffix('.0')} %"


def number(value: float) -> str:
    """A plain quantity with thousands separators and 3 significant digits."""
    if value is None or not math.isfinite(value):
        return "-"
    if value == int(value) and abs(value) >= 1:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def load_text(kind: str, load: float) -> str:
    """``100 req/s`` or ``150 users``."""
    if load is None or not math.isfinite(load):
        return "-"
    return f"{number(load)} users" if kind == "users" else f"{number(load)} req/s"
