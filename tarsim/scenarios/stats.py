"""Statistics the analyses share: metrics per time window, a regression slope
with its confidence interval, replicated means, and where a curve crosses a
threshold.

Windows follow the conventions of :mod:`tarsim.metrics`: latency and errors
belong to the window a request *arrived* in, throughput to the window a
successful answer *ended* in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tarsim.metrics import MB, Level, t_halfwidth
from tarsim.run import RunRecords
from tarsim.vocabulary import Outcome


@dataclass(frozen=True)
class Windows:
    """Per-window metrics, pooled over replications (arrays, one entry per window)."""

    start: np.ndarray
    end: np.ndarray
    offered: np.ndarray
    """Arrivals per second."""
    throughput: np.ndarray
    """Successful answers ending in the window, per second."""
    p50: np.ndarray
    p99: np.ndarray
    """Latency quantiles of the successful requests that arrived in the window."""
    error_rate: np.ndarray
    """Failed over answered, of the requests that arrived in the window."""
    memory_mb: np.ndarray
    """Time-averaged process memory (NaN when memory is not modelled)."""

    @property
    def middle(self) -> np.ndarray:
        return (self.start + self.end) / 2


def window_edges(start: float, end: float, width: float) -> np.ndarray:
    """Edges of whole windows of *width* from *start*; a last partial window is dropped."""
    count = max(1, math.floor((end - start) / width + 1e-9))
    return start + width * np.arange(count + 1)


def windows(records: Sequence[RunRecords], edges: np.ndarray) -> Windows:
    """Metrics per window [edges[i], edges[i+1]), pooling the replications' requests."""
    n = len(edges) - 1
    widths = np.diff(edges) * len(records)
    arrivals = np.zeros(n)
    completions = np.zeros(n)
    failed = np.zeros(n)
    answered = np.zeros(n)
    memory = np.zeros(n)
    latencies: list[list[np.ndarray]] = [[] for _ in range(n)]
    has_memory = True
    for rec in records:
        req = rec.request_columns
        arrival, end, outcome = req["arrival"], req["end"], req["outcome"]
        ok = outcome == Outcome.OK
        done = outcome != Outcome.UNFINISHED
        slot = np.searchsorted(edges, arrival, side="right") - 1
        inside = (slot >= 0) & (slot < n)
        arrivals += np.bincount(slot[inside], minlength=n)
        answered += np.bincount(slot[inside & done], minlength=n)
        failed += np.bincount(slot[inside & done & ~ok], minlength=n)
        completions += np.histogram(end[ok], edges)[0]
        for i in np.unique(slot[inside & ok]):
            pick = inside & ok & (slot == i)
            latencies[i].append(end[pick] - arrival[pick])
        memory_log = rec.memory_columns
        if rec.model.memory is not None and len(memory_log.get("t", ())):
            level = Level(memory_log["t"], np.diff(memory_log["bytes"], prepend=0.0))
            memory += level.bins(edges) / MB
        else:
            has_memory = False
    pooled = [np.concatenate(parts) if parts else np.array([]) for parts in latencies]
    p50 = np.array([np.quantile(x, 0.5) if len(x) else math.nan for x in pooled])
    p99 = np.array([np.quantile(x, 0.99) if len(x) else math.nan for x in pooled])
    with np.errstate(invalid="ignore", divide="ignore"):
        error_rate = np.where(answered > 0, failed / np.maximum(answered, 1), math.nan)
    return Windows(
        start=edges[:-1], end=edges[1:], offered=arrivals / widths,
        throughput=completions / widths, p50=p50, p99=p99, error_rate=error_rate,
        memory_mb=memory / len(records) if has_memory else np.full(n, math.nan),
    )


@dataclass(frozen=True)
class Estimate:
    """A value and the half-width of its 95% confidence interval (NaN: unknown)."""

    value: float
    ci95: float

    def covers(self, x: float) -> bool:
        return abs(self.value - x) <= self.ci95

    @property
    def low(self) -> float:
        return self.value - self.ci95

    @property
    def high(self) -> float:
        return self.value + self.ci95


def slope(x: np.ndarray, y: np.ndarray) -> Estimate:
    """The least-squares slope of y on x, with the t-based 95% CI of ordinary least
    squares (NaN points are dropped; fewer than three points: CI unknown)."""
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if len(x) < 2 or np.ptp(x) == 0:
        return Estimate(math.nan, math.nan)
    from scipy import stats

    fit = stats.linregress(x, y)
    if len(x) < 3:
        return Estimate(float(fit.slope), math.nan)
    half = float(stats.t.ppf(0.975, len(x) - 2) * fit.stderr)
    return Estimate(float(fit.slope), half)


def across(values: Sequence[float]) -> Estimate:
    """The mean of per-replication values and its t-based 95% CI half-width."""
    array = np.asarray(values, dtype=float)
    return Estimate(float(np.nanmean(array)) if len(array) else math.nan, t_halfwidth(array))


def crossing(xs: Sequence[float], ys: Sequence[float], threshold: float) -> float | None:
    """The x where the curve (xs, ys), read as linear between points, first rises
    above *threshold*; the first x if it starts above; None if it never does."""
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if not math.isnan(y) and y > threshold:
            if i == 0:
                return float(x)
            x0, y0 = xs[i - 1], ys[i - 1]
            if math.isnan(y0):
                return float(x)
            return float(x0 + (x - x0) * (threshold - y0) / (y - y0))
    return None
