"""Analyses that sweep one value of the model: the latency curve, the error
threshold and the queue limit."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from tarsim.config.base import Probability, repeated
from tarsim.config.model import Model
from tarsim.config.units import parse_rate
from tarsim.scenarios.analyses.common import (
    estimate_json,
    metric,
    model_of,
    num,
    offered_rate,
    pct,
)
from tarsim.scenarios.registry import ANALYSES, Analysis, Finding, Runs
from tarsim.scenarios.stats import (
    crossing,
)
from tarsim.vocabulary import Outcome


# ---------------------------------------------------------------- sweeps
class Sweep(Analysis):
    """An analysis over several values of one model path (``workload.arrivals.users``),
    simulated with common random numbers. The load axis is each value read as a
    number or rate when it is one, else the offered arrival rate measured."""

    path: Annotated[str, Field(min_length=1)]
    values: Annotated[list[Any], Field(min_length=2)]
    unit: str = ""
    """Shown after the load values in the table (``users``, ``req/s``)."""

    @model_validator(mode="after")
    def _distinct(self) -> Sweep:
        twice = repeated([_label(v) for v in self.values])
        if twice:
            raise ValueError(f"values must be distinct, got {twice} more than once")
        return self

    def variants(self) -> dict[str, dict[str, Any]]:
        return {_label(v): {self.path: v} for v in self.values}

    def points(self, runs: Mapping[str, Runs]) -> list[tuple[float, Runs]]:
        """(load, runs) per value, in the file's order."""
        out = []
        for value in self.values:
            point = runs[_label(value)]
            try:
                load = parse_rate(value)
            except ValueError:
                load = offered_rate(point.summary)
            out.append((load, point))
        return out

    def loads(self, runs: Mapping[str, Runs]) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return "/".join(num(x) for x, _ in self.points(runs)) + unit


def _label(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_label(v)}" for k, v in value.items()) + "}"
    return str(value)


@ANALYSES.register("latency_curve")
class LatencyCurve(Sweep):
    """The latency curve: p50, p95 and p99 at each load, and the knee, the first
    load whose p99 exceeds ``knee_factor`` times the p99 at the first load."""

    kind: Literal["latency_curve"]
    knee_factor: Annotated[float, Field(gt=1)] = 2.0

    def analyse(self, runs: Mapping[str, Runs]) -> Finding:
        points = self.points(runs)
        rows = [{"load": x, **{q: estimate_json(metric(r.summary, f"latency.{q}"))
                               for q in ("p50", "p95", "p99")},
                 "throughput": estimate_json(metric(r.summary, "throughput"))} for x, r in points]
        p99 = [r.summary["latency"]["p99"] for _, r in points]
        knee = next((x for (x, _), y in zip(points, p99, strict=True)
                     if y > self.knee_factor * p99[0]), None)
        unit = f" {self.unit}" if self.unit else ""
        key = (f"p99 {'/'.join(num(y) for y in p99)} s, p50 "
               f"{'/'.join(num(r.summary['latency']['p50']) for _, r in points)} s "
               f"at {self.loads(runs)}; ")
        key += (f"knee (p99 > {num(self.knee_factor)}x the first) at {num(knee)}{unit}"
                if knee is not None else f"no knee (p99 within {num(self.knee_factor)}x)")
        return Finding(key, {"points": rows, "knee": knee})


@ANALYSES.register("error_threshold")
class ErrorThreshold(Sweep):
    """Failure thresholds: the error rate (by cause) at each load, and where it
    crosses each of ``thresholds``, read linearly between loads."""

    kind: Literal["error_threshold"]
    thresholds: Annotated[list[Probability], Field(min_length=1)] = [0.01, 0.05]

    def analyse(self, runs: Mapping[str, Runs]) -> Finding:
        points = self.points(runs)
        xs = [x for x, _ in points]
        rates = [r.summary["error_rate"] for _, r in points]
        causes: dict[str, int] = {}
        for _, r in points:
            for cause, count in r.summary["errors"].items():
                if count:
                    causes[cause] = causes.get(cause, 0) + round(count)
        crossings = {str(t): crossing(xs, rates, t) for t in self.thresholds}
        unit = f" {self.unit}" if self.unit else ""
        said = [f"{pct(t)} at {num(c)}{unit}" if c is not None else f"never {pct(t)}"
                for t, c in zip(self.thresholds, crossings.values(), strict=True)]
        by_cause = ", ".join(f"{c} {n:,}" for c, n in sorted(causes.items(),
                                                               key=lambda kv: -kv[1]))
        key = (f"errors {'/'.join(pct(r) for r in rates)} at {self.loads(runs)}; crosses "
               + ", ".join(said) + (f" (causes: {by_cause})" if by_cause else ""))
        return Finding(key, {
            "points": [{"load": x, "error_rate": estimate_json(metric(r.summary, "error_rate")),
                        "errors": r.summary["errors"]} for x, r in points],
            "crossings": crossings})


@ANALYSES.register("queue_limit")
class QueueLimit(Sweep):
    """Where the router's queue overflows: the share of requests failing with
    ``queue_full`` at each load, the load where it first exceeds ``threshold``
    (read linearly between loads), and the deepest queue seen."""

    kind: Literal["queue_limit"]
    threshold: Probability = 0.001

    def requires(self, model: Model) -> list[str]:
        if model.router.queue.capacity is None:
            return ["needs router.queue.capacity (an unbounded queue never overflows)"]
        return []

    def analyse(self, runs: Mapping[str, Runs]) -> Finding:
        points = self.points(runs)
        xs = [x for x, _ in points]
        shares = [_share(r.summary, Outcome.QUEUE_FULL) for _, r in points]
        limit = crossing(xs, shares, self.threshold)
        capacity = model_of(points[0][1]).router.queue.capacity
        deepest = max(r.summary["queue"]["max"] for _, r in points)
        unit = f" {self.unit}" if self.unit else ""
        key = (f"queue_full {'/'.join(pct(s) for s in shares)} at {self.loads(runs)}; ")
        first = next((i for i, share in enumerate(shares) if share > self.threshold), None)
        if first is None:
            key += f"never above {pct(self.threshold)}"
        else:
            key += f"above {pct(self.threshold)} from {num(xs[first])}{unit}"
            if first > 0:
                key += f" (none worth counting at {num(xs[first - 1])}; linear: {num(limit)})"
        key += f"; deepest queue {num(deepest)} of capacity {capacity}"
        return Finding(key, {"points": [{"load": x, "queue_full_share": s,
                                         "queue_max": r.summary["queue"]["max"]}
                                        for (x, r), s in zip(points, shares, strict=True)],
                             "limit": limit, "capacity": capacity, "deepest": deepest})


def _share(summary: Mapping[str, Any], cause: str) -> float:
    arrived = summary["arrived"]
    return summary["errors"].get(cause, 0) / arrived if arrived else math.nan


