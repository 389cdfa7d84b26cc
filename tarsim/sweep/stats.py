"""Statistics over replications: each metric's mean and t-based 95% CI half-width
per point, the adaptive replication rule, and the SLO test on CI upper bounds.

Metric names in tables are the run summary's flat paths with ``_`` for ``.``
(``latency_p99``, ``errors_timeout``), so they are plain column names; a mean's
half-width is the column with ``_ci95`` appended.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tarsim.intervals import SKETCH, pooled_bounds
from tarsim.metrics import t_halfwidth
from tarsim.sweep.experiment import AdaptiveReplications
from tarsim.vocabulary import ERROR_CAUSES, Metric, error_metric

CI = "_ci95"
LOW, HIGH = "_lo", "_hi"
"""Suffixes of a metric's 95% bounds, for the metrics with their own intervals
(latency quantiles and the error rate, :mod:`tarsim.intervals`)."""
NOT_AVERAGED = ("events",)


def column(path: str) -> str:
    """``latency.p99`` -> ``latency_p99``."""
    return path.replace(".", "_")


P99 = column(Metric.LATENCY_P99)
ERROR_COLUMNS = {str(cause): column(error_metric(cause)) for cause in ERROR_CAUSES}
"""The column of each cause of error's count (``timeout`` -> ``errors_timeout``)."""
ERROR_NAMES = frozenset(ERROR_COLUMNS.values())


def flat_row(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """A run's metrics under column names, in name order (so that a row read back
    from the store and one fresh from a worker are alike). The latency sketch
    (``samples.*``) keeps its dotted names and lists."""
    return {k if k.startswith(SKETCH + ".") else column(k):
            metrics[k] if k.startswith(SKETCH + ".") else _number(metrics[k])
            for k in sorted(metrics)}


def _number(value: Any) -> float:
    if value is None:
        return math.nan
    return float(value)


def aggregate(runs: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Mean and 95% CI half-width of every metric over *runs* (flat rows).

    A cause of error missing from a run did not happen in it: it counts as 0."""
    names = sorted({k for run in runs for k in run
                    if k not in NOT_AVERAGED and not k.startswith(SKETCH + ".")})
    out: dict[str, float] = {}
    for name in names:
        fill = 0.0 if name in ERROR_NAMES else math.nan
        values = np.array([_number(run.get(name, fill)) for run in runs], dtype=float)
        finite = values[~np.isnan(values)]
        out[name] = float(finite.mean()) if len(finite) else math.nan
        out[name + CI] = t_halfwidth(values) if len(runs) > 1 else math.nan
    for path, (estimate, low, high) in pooled_bounds(runs).items():
        name = column(path)
        out[name], out[name + LOW], out[name + HIGH] = estimate, low, high
        out[name + CI] = max(estimate - low, high - estimate)
    return out


# ---------------------------------------------------------------- replications
def stages(replications: int | AdaptiveReplications) -> list[int]:
    """The replication counts at which a point may stop: ``[n]`` when fixed; for
    adaptive, ``min``, ``min + step``, ... up to ``max``."""
    if isinstance(replications, int):
        return [replications]
    sizes = list(range(replications.min, replications.max, replications.step))
    return [*sizes, replications.max]


def relative_halfwidth(runs: Sequence[Mapping[str, Any]], name: str = P99) -> float:
    values = np.array([_number(run.get(name)) for run in runs], dtype=float)
    mean = float(np.nanmean(values)) if not np.isnan(values).all() else math.nan
    half = t_halfwidth(values)
    if not math.isfinite(mean) or not math.isfinite(half) or mean == 0:
        return math.inf
    return half / abs(mean)


def replications_needed(runs: Mapping[int, Mapping[str, Any]],
                        replications: int | AdaptiveReplications,
                        limits: Mapping[str, float] | None = None) -> tuple[int, bool]:
    """How many replications a point needs, given the *runs* done so far
    (replication index -> flat row), and whether that number is final.

    Adaptive: a point stops at the first stage where its SLO verdict against
    *limits* is decided (every upper bound within its limit, or one lower bound
    above it), or, with a ``target``, where p99's relative half-width is below it;
    else at ``max`` (its verdict then stays ``uncertain``). The decision at each
    stage uses exactly the first n replications, so it is the same whichever runs
    happen to be done already (after a resume, say)."""
    sizes = stages(replications)
    for n in sizes:
        if any(r not in runs for r in range(n)):
            return n, False
        if n == sizes[-1]:
            return n, True
        assert isinstance(replications, AdaptiveReplications)
        first = [runs[r] for r in range(n)]
        if limits and verdict(aggregate(first), limits) != UNCERTAIN:
            return n, True
        if replications.target is not None and relative_halfwidth(first) < replications.target:
            return n, True
    return sizes[-1], True  # not reached: the last stage returns above


# ---------------------------------------------------------------- SLOs
def upper_bound(row: Mapping[str, Any], name: str) -> float:
    """The upper end of a metric's 95% CI: its own bound where it has one (latency
    quantiles, error rate), else mean + t half-width (the mean itself with one
    replication)."""
    if name + HIGH in row:
        return _number(row.get(name + HIGH))
    mean = _number(row.get(name))
    half = _number(row.get(name + CI))
    return mean + (half if math.isfinite(half) else 0.0)


def slo_ratios(row: Mapping[str, Any], limits: Mapping[str, float]) -> dict[str, float]:
    """Each SLO's CI upper bound over its limit (<= 1 meets it; NaN counts as failing:
    no successful request gives no latency)."""
    ratios = {}
    for path, limit in limits.items():
        bound = upper_bound(row, column(path))
        if math.isnan(bound):
            ratios[path] = math.inf
        elif limit == 0:
            ratios[path] = 0.0 if bound <= 0 else math.inf
        else:
            ratios[path] = bound / limit
    return ratios


MEETS, FAILS, UNCERTAIN, SCREENED = "meets", "fails", "uncertain", "screened"
"""A point's verdict: every SLO's upper bound within its limit; one SLO's lower
bound above its limit; neither (more replications could decide it); or not
simulated, since screening showed it cannot meet the SLOs."""
SKIPPED = "skipped"
"""Not simulated: its configuration is screened or fails at a higher load of the
tier (:mod:`tarsim.sweep.ladders`)."""


def lower_bound(row: Mapping[str, Any], name: str) -> float:
    """The lower end of a metric's 95% CI (see :func:`upper_bound`)."""
    if name + LOW in row:
        return _number(row.get(name + LOW))
    mean = _number(row.get(name))
    half = _number(row.get(name + CI))
    return mean - (half if math.isfinite(half) else 0.0)


def verdict(row: Mapping[str, Any], limits: Mapping[str, float]) -> str:
    """``meets``, ``fails`` or ``uncertain`` (see ``MEETS``)."""
    if any(lower_bound(row, column(path)) > limit for path, limit in limits.items()):
        return FAILS
    return MEETS if meets(row, limits) else UNCERTAIN


def meets(row: Mapping[str, Any], limits: Mapping[str, float]) -> bool:
    """Whether every SLO's CI upper bound is within its limit."""
    return all(ratio <= 1.0 for ratio in slo_ratios(row, limits).values())
