"""Did a run reach steady state? Its measured window's first and second halves
compared on throughput, error rate and p99, and MSER-5 (White 1997) on the
per-second number of requests in the system, to see whether the warm-up removed
the start-up transient.

Each run gets numbers (``steady.*`` in its summary); :func:`reason` turns the
means over a point's replications into a verdict with its reason, which the sweep
reports beside each point's SLO verdict instead of silently deciding on a run
that was still drifting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

THROUGHPUT_Z = 4.0
"""|z| of the halves' completion counts (Poisson: z = (c2 − c1)/√(c1 + c2)) above
which throughput drifts."""
ERROR_Z = 6.0
"""|z| of the halves' error proportions above which the error rate drifts: higher
than for throughput, as errors come in bursts (overdispersed)."""
ERROR_GAP = 0.005
"""... and the halves' error rates must differ by at least this much."""
P99_RATIO = 1.5
"""p99 of one half over the other's above this (or below its inverse): p99 drifts."""
MIN_HALF = 500
"""Successful requests each half needs before its p99 is compared."""
BATCH_S = 5.0
"""MSER-5: batches of five one-second means."""


def mser5(series: np.ndarray) -> int:
    """The MSER-5 truncation point of *series* (one value per second), in seconds:
    the d (a multiple of 5, at most half the series) minimising the variance of the
    remaining batch means over the square of their count."""
    batches = len(series) // 5
    if batches < 4:
        return 0
    means = series[: batches * 5].reshape(batches, 5).mean(axis=1)
    best, best_d = math.inf, 0
    for d in range(batches // 2 + 1):
        rest = means[d:]
        score = float(((rest - rest.mean()) ** 2).sum()) / len(rest) ** 2
        if score < best:
            best, best_d = score, d
    return int(best_d * 5)


def halves(arrival: np.ndarray, end: np.ndarray, ok: np.ndarray, failed: np.ndarray,
           a: float, b: float, in_system: np.ndarray,
           succeeded: np.ndarray | None = None) -> dict[str, float]:
    """The steady-state numbers of one run with window [a, b): *ok* and *failed* are
    masks of requests arriving in it, *in_system* the per-second level from 0, and
    *succeeded* the mask of every successful request whatever its arrival (default
    *ok*): throughput counts the completions in each half, as a server's log would.
    Counting only those that arrived in the window would leave the first half short
    of the λ·E[R] requests that arrived before it, a drift that is not there."""
    mid = (a + b) / 2
    first, second = arrival < mid, arrival >= mid
    done = ok if succeeded is None else succeeded
    c1 = int((done & (end >= a) & (end < mid)).sum())
    c2 = int((done & (end >= mid) & (end < b)).sum())
    throughput_z = (c2 - c1) / math.sqrt(c1 + c2) if c1 + c2 else 0.0
    n1, n2 = int(((ok | failed) & first).sum()), int(((ok | failed) & second).sum())
    e1 = float((failed & first).sum()) / n1 if n1 else 0.0
    e2 = float((failed & second).sum()) / n2 if n2 else 0.0
    pooled = (e1 * n1 + e2 * n2) / (n1 + n2) if n1 + n2 else 0.0
    spread = math.sqrt(pooled * (1 - pooled) * (1 / max(n1, 1) + 1 / max(n2, 1)))
    error_z = (e2 - e1) / spread if spread > 0 else 0.0
    l1 = (end - arrival)[ok & first]
    l2 = (end - arrival)[ok & second]
    ratio = (float(np.quantile(l2, 0.99) / np.quantile(l1, 0.99))
             if len(l1) >= MIN_HALF and len(l2) >= MIN_HALF and np.quantile(l1, 0.99) > 0
             else 1.0)
    return {"throughput_z": throughput_z, "error_z": error_z, "error_gap": e2 - e1,
            "p99_ratio": ratio, "mser5_s": float(mser5(in_system))}


def reason(row: Mapping[str, Any], warmup_s: float, prefix: str = "steady_") -> str:
    """Why a point (its replications' mean ``steady_*`` columns) did not reach steady
    state, or ``""`` when it did."""
    def get(name: str) -> float:
        value = row.get(prefix + name, math.nan)
        return float(value) if isinstance(value, int | float) else math.nan

    found = []
    if abs(get("throughput_z")) > THROUGHPUT_Z:
        found.append(f"throughput drifts between the window's halves (z = "
                     f"{get('throughput_z'):.1f})")
    if abs(get("error_z")) > ERROR_Z and abs(get("error_gap")) > ERROR_GAP:
        found.append(f"error rate drifts by {get('error_gap'):+.1%} between the halves")
    ratio = get("p99_ratio")
    if math.isfinite(ratio) and not 1 / P99_RATIO <= ratio <= P99_RATIO:
        found.append(f"p99 of the second half is {ratio:.2f}x the first's")
    if get("mser5_s") > warmup_s + BATCH_S:
        found.append(f"MSER-5 truncates at {get('mser5_s'):.0f} s, after the "
                     f"{warmup_s:g} s warm-up")
    return "; ".join(found)
