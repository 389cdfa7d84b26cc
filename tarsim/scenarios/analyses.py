"""The analyses a scenario can ask for, each answering what its scenario's purpose
asks: a baseline, a load point, agent scaling, the degradation point of a ramp, a
memory leak's slope, a latency curve, error and queue thresholds, rate-limit
behaviour, degradation modes, spawn latency, the cache's speed-up and long-run
stability.

Each is registered by name in :data:`tarsim.scenarios.registry.ANALYSES`. An
analysis reads only records and summaries (it never simulates); which models are
simulated is its :meth:`~tarsim.scenarios.registry.Analysis.variants`, and what a
model must have for the analysis to mean anything is its ``requires``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from tarsim.config.base import Bytes, Frozen, PerSecond, PosSeconds, Probability, Seconds
from tarsim.config.model import Model
from tarsim.config.units import parse_rate
from tarsim.metrics import MB, Level, cold_starts, starting_changes, t_halfwidth
from tarsim.run import RunRecords
from tarsim.scenarios.registry import ANALYSES, Analysis, Finding, Runs
from tarsim.scenarios.stats import (
    Estimate,
    across,
    crossing,
    slope,
    window_edges,
    windows,
)
from tarsim.vocabulary import MODES, Outcome

ONLY = ""
"""The label of the one variant of an analysis that simulates the scenario's model as is."""


# ---------------------------------------------------------------- formatting
def num(value: float | None, digits: int = 3) -> str:
    """A number for a table cell: about *digits* significant figures, no exponents
    for everyday magnitudes."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    magnitude = abs(value)
    if float(value).is_integer():
        return f"{value:,.0f}"
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(magnitude)))
    return f"{value:.{decimals}f}"


def pct(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{100 * value:.1f}%" if value >= 0.001 or value == 0 else f"{100 * value:.2f}%"


def ci(estimate: Estimate, digits: int = 3) -> str:
    text = num(estimate.value, digits)
    return text if math.isnan(estimate.ci95) else f"{text} ± {num(estimate.ci95, 2)}"


def metric(summary: Mapping[str, Any], path: str) -> Estimate:
    """A metric of an aggregated summary and its CI half-width (NaN with one replication)."""
    node: Any = summary
    for part in path.split("."):
        node = node.get(part, math.nan) if isinstance(node, Mapping) else math.nan
    half = summary.get("ci95", {}).get(path, math.nan)
    return Estimate(float(node), float(half) if half is not None else math.nan)


def _json(estimate: Estimate) -> dict[str, float]:
    return asdict(estimate)


def _only(runs: Mapping[str, Runs]) -> Runs:
    return runs[ONLY]


def _model(runs: Runs) -> Model:
    return runs.records[0].model


def _offered(summary: Mapping[str, Any]) -> float:
    window = summary["duration_s"] - summary["warmup_s"]
    return float(summary["arrived"]) / window if window > 0 else math.nan


def _latencies(records: Sequence[RunRecords], pick: Any = None) -> np.ndarray:
    """Latencies of successful requests arriving after the warm-up, pooled over
    replications; *pick(columns)* narrows the requests further."""
    parts = []
    for rec in records:
        req = rec.request_columns
        keep = ((req["outcome"] == Outcome.OK) & (req["arrival"] >= rec.warmup_s)
                & (req["arrival"] < rec.duration_s))
        if pick is not None:
            keep &= pick(rec)
        parts.append(req["end"][keep] - req["arrival"][keep])
    return np.concatenate(parts) if parts else np.array([])


def _quantile(values: np.ndarray, q: float) -> float:
    return float(np.quantile(values, q)) if len(values) else math.nan


# ---------------------------------------------------------------- one load
@ANALYSES.register("baseline")
class Baseline(Analysis):
    """The model at one load, described: latency, throughput, cost and calls per request."""

    kind: Literal["baseline"]

    def analyse(self, runs: Mapping[str, Runs]) -> Finding:
        summary = _only(runs).summary
        completed = max(summary["completed"], 1)
        values = {path: _json(metric(summary, path)) for path in (
            "throughput", "latency.mean", "latency.p50", "latency.p99", "error_rate",
            "cost.per_request_usd")}
        calls = summary["api"]["calls"] / completed
        tools = summary["api"]["tool_calls"] / completed
        values.update({"llm_calls_per_request": calls, "tool_calls_per_request": tools})
        key = (f"latency mean {ci(metric(summary, 'latency.mean'))} s, "
               f"p50 {num(summary['latency']['p50'])} s, p99 {num(summary['latency']['p99'])} s; "
               f"{num(summary['throughput'])} req/s; "
               f"${num(summary['cost']['per_request_usd'], 2)}/request; "
               f"{num(calls)} LLM + {num(tools)} tool calls/request")
        return Finding(key, values)


class Measured(Frozen):
    """What the seed's load test measured at this load, shown next to the simulation."""

    throughput: PerSecond | None = None
    p99: Seconds | None = None
    error_rate: Probability | None = None
    memory: Bytes | None = None


@ANALYSES.register("load_point")
class LoadPoint(Analysis):
    """Throughput, p99, error rate and memory at one load, optionally beside what
    the seed measured there."""

    kind: Literal["load_point"]
    measured: Measured | None = None

    def analyse(self, runs: Mapping[str, Runs]) -> Finding:
        summary = _only(runs).summary
        paths = ("throughput", "latency.p99", "error_rate", "memory.peak_mb")
        values: dict[str, Any] = {path: _json(metric(summary, path)) for path in paths}
        key = (f"{ci(metric(summary, 'throughput'))} req/s, "
               f"p99 {ci(metric(summary, 'latency.p99'))} s, "
               f"errors {pct(summary['error_rate'])}, "
               f"memory peak {num(summary['memory']['peak_mb'])} MB")
        seen = self.measured
        if seen is not None:
            values["measured"] = seen.model_dump(exclude_none=True)
            parts = []
            if seen.throughput is not None:
                parts.append(f"{num(seen.throughput)} req/s")
            if seen.p99 is not None:
                parts.append(f"p99 {num(seen.p99)} s")
            if seen.error_rate is not None:
                parts.append(f"errors {pct(seen.error_rate)}")
            if seen.memory is not None:
                parts.append(f"{num(seen.memory / MB)} MB")
            key += f" (seed measured: {', '.join(parts)})"
        return Finding(key, values)


@ANALYSES.register("agent_scaling")
class AgentScaling(Analysis):
    """Throughput with the scenario's agents against ``compare`` agents under the
    same load: speed-up and scaling efficiency, paired by replication (common
    random numbers)."""

    kind: Literal["agent_scaling"]
    compare: Annotated[int, Field(ge=1)] = 1

    def variants(self) -> dict[str, dict[str, Any]]:
        return {"compare": {"agents.count": self.compare}, ONLY: {}}

    def analyse(self, runs: Mapping[str, Runs]) -> Finding:
        base, given = runs["compare"], runs[ONLY]
        agents = _model(given).agents.count
        ratios = [g["throughput"] / b["throughput"] if b["throughput"] else math.nan
                  for g, b in zip(given.summaries, base.summaries, strict=True)]
        speedup = across(ratios)
        ideal = agents / self.compare
        efficiency = Estimate(speedup.value / ideal, speedup.ci95 / ideal)
        key = (f"{num(base.summary['throughput'])} req/s with {self.compare} agent(s) -> "
               f"{num(given.summary['throughput'])} req/s with {agents}: "
               f"speed-up {ci(speedup)}x (ideal {num(ideal)}x, efficiency "
               f"{pct(efficiency.value)}); p99 {num(base.summary['latency']['p99'])} -> "
               f"{num(given.summary['latency']['p99'])} s, errors "
               f"{pct(base.summary['error_rate'])} -> {pct(given.summary['error_rate'])}")
        return Finding(key, {
            "agents": agents, "compare": self.compare, "speedup": _json(speedup),
            "efficiency": _json(efficiency),
            "throughput": {"compare": _json(metric(base.summary, "throughput")),
                           "given": _json(metric(given.summary, "throughput"))},
        })


# ---------------------------------------------------------------- over time
@ANALYSES.register("degradation_point")
class DegradationPoint(Analysis):
    """Where a rising load degrades the system: the first time window whose p99
    (of requests arriving in it) exceeds ``p99``, or ``p99_factor`` times the first
    window's, or whose error rate exceeds ``error_rate``; reported as the offered
    load in that window and in the last window before it."""

    kind: Literal["degradation_point"]
    window: PosSeconds = 10.0
    p99: PosSeconds | None = None
    p99_factor: Annotated[float, Field(gt=1)] | None = None
    reference: PosSeconds | None = None
    """The first span after the warm-up whose p99 ``p99_factor`` multiplies
    (default: the first window); a longer one gives a steadier reference."""
    error_rate: Probability | None = None

    @model_validator(mode="after")
    def _some_threshold(self) -> DegradationPoint:
        if self.p99 is None and self.p99_factor is None and self.error_rate is None:
            raise ValueError("give p99, p99_factor or error_rate (or several)")
        return self

    def analyse(self, runs: Mapping[str, Runs]) -> Finding:
        records = _only(runs).records
        first = records[0]
        w = windows(records, window_edges(first.warmup_s, first.duration_s, self.window))
        reference = math.nan
        if self.p99_factor is not None:
            span = first.warmup_s + (self.window if self.reference is None else self.reference)
            early = _latencies(records, lambda rec: rec.request_columns["arrival"] < span)
            reference = _quantile(early, 0.99)
        limits = [x for x in (self.p99, self.p99_factor and self.p99_factor * reference)
                  if x is not None and not math.isnan(x)]
        p99_limit = min(limits) if limits else math.inf
        error_limit = math.inf if self.error_rate is None else self.error_rate
        table = {"start_s": w.start.tolist(), "offered": w.offered.tolist(),
                 "p99": w.p99.tolist(), "error_rate": w.error_rate.tolist()}
        values: dict[str, Any] = {"p99_limit": p99_limit, "reference_p99": reference,
                                  "windows": table}
        for i in range(len(w.start)):
            why = []
            if w.p99[i] > p99_limit:
                why.append(f"p99 {num(w.p99[i])} s > {num(p99_limit)} s")
            if w.error_rate[i] > error_limit:
                why.append(f"errors {pct(w.error_rate[i])} > {pct(error_limit)}")
            if why:
                before = w.offered[i - 1] if i > 0 else math.nan
                values.update({"offered": float(w.offered[i]), "last_good": float(before),
                               "t_s": float(w.start[i])})
                key = (f"degrades at {num(w.offered[i])} req/s offered "
                       f"(t = {num(w.start[i])}-{num(w.end[i])} s: {', '.join(why)})")
                key += ("; already at the first window" if i == 0 else
                        f"; last good window {num(before)} req/s")
                return Finding(key, values)
        values.update({"offered": None, "last_good": float(w.offered[-1]), "t_s": None})
        return Finding(f"no degradation up to {num(w.offered[-1])} req/s offered "
                       f"(p99 within {num(p99_limit)} s, errors within {pct(error_limit)})",
                       values)


def _per_replication_slopes(records: Sequence[RunRecords], window: float,
                            series: str) -> tuple[Estimate, list[float], float]:
    """The slope per second of a windowed series against time: over replications
    (t-based CI) when there are several, else ordinary least squares; and the
    series' overall mean."""
    slopes, means = [], []
    single: Estimate | None = None
    for rec in records:
        w = windows([rec], window_edges(rec.warmup_s, rec.duration_s, window))
        y = getattr(w, series)
        single = slope(w.middle, y)
        slopes.append(single.value)
        means.append(float(np.nanmean(y)) if np.isfinite(y).any() else math.nan)
    estimate = across(slopes) if len(records) > 1 else (single or Estimate(math.nan, math.nan))
    return estimate, slopes, float(np.nanmean(means)) if means else math.nan


@ANALYSES.register("memory_leak")
class MemoryLeak(Analysis):
    """The memory leak's slope: the regression of memory (time-averaged per window)
    on time after the warm-up, in MB per minute with its 95% CI (over replications
    when there are several, else from least squares). A leak is reported when the
    whole CI is above zero; with ``leak_per_request`` set, the slope expected from
    it (leak x successful answers per second) is shown beside."""

    kind: Literal["memory_leak"]
    window: PosSeconds = 10.0

    def requires(self, model: Model) -> list[str]:
        return [] if model.memory is not None else ["needs a memory section in the model"]

    def analyse(self, runs: Mapping[str, Runs]) -> Finding:
        run = _only(runs)
        per_s, _, mean_mb = _per_replication_slopes(run.records, self.window, "memory_mb")
        per_min = Estimate(per_s.value * 60, per_s.ci95 * 60)
        model = _model(run)
        assert model.memory is not None
        leak = model.memory.leak_per_request
        expected = leak * run.summary["throughput"] * 60 / MB
        leaking = not math.isnan(per_min.ci95) and per_min.low > 0
        verdict = "leak" if leaking else (
            "no leak detected (the CI covers 0)" if per_min.covers(0)
            else "no leak (memory falls)" if per_min.high < 0 else "inconclusive")
        key = f"memory slope {ci(per_min)} MB/min: {verdict}"
        if leak:
            key += f" (leak_per_request x throughput predicts {num(expected)} MB/min)"
        key += (f"; mean {num(mean_mb)} MB, peak {num(run.summary['memory']['peak_mb'])} MB "
                f"over {num(run.records[0].duration_s - run.records[0].warmup_s)} s")
        return Finding(key, {"slope_mb_per_min": _json(per_min), "leak": leaking,
                             "expected_mb_per_min": expected, "mean_mb": mean_mb})


@ANALYSES.register("stability")
class Stability(Analysis):
    """Long-run stability: throughput, p50 and p99 per window regressed on time,
    as drift in % of their mean per minute with 95% CIs. Stable when every drift's
    CI lies within ±``tolerance`` %/min; drifting when one lies wholly outside;
    inconclusive otherwise. Memory drift is shown in MB/min when modelled."""

    kind: Literal["stability"]
    window: PosSeconds = 10.0
    tolerance: Annotated[float, Field(gt=0)] = 5.0

    def analyse(self, runs: Mapping[str, Runs]) -> Finding:
        run = _only(runs)
        parts: list[str] = []
        values: dict[str, Any] = {}
        verdicts: list[str] = []
        for series, label in (("throughput", "throughput"), ("p50", "p50"), ("p99", "p99")):
            per_s, _, mean = _per_replication_slopes(run.records, self.window, series)
            drift = Estimate(100 * 60 * per_s.value / mean, 100 * 60 * per_s.ci95 / mean)
            values[series] = {"mean": mean, "drift_pct_per_min": _json(drift)}
            unit = " req/s" if series == "throughput" else " s"
            parts.append(f"{label} {num(mean)}{unit} drift {ci(drift, 2)} %/min")
            if math.isnan(drift.ci95):
                verdicts.append("inconclusive")
            elif -self.tolerance <= drift.low and drift.high <= self.tolerance:
                verdicts.append("stable")
            elif drift.low > self.tolerance or drift.high < -self.tolerance:
                verdicts.append("drifting")
            else:
                verdicts.append("inconclusive")
        if _model(run).memory is not None:
            per_s, _, _ = _per_replication_slopes(run.records, self.window, "memory_mb")
            memory = Estimate(60 * per_s.value, 60 * per_s.ci95)
            values["memory_mb_per_min"] = _json(memory)
            parts.append(f"memory {ci(memory, 2)} MB/min")
        verdict = ("drifting" if "drifting" in verdicts else
                   "inconclusive" if "inconclusive" in verdicts else "stable")
        values["verdict"] = verdict
        window = run.records[0].duration_s - run.records[0].warmup_s
        key = (f"{verdict} over {num(window)} s (drift within ±{num(self.tolerance)} %/min): "
               + "; ".join(parts) + f"; errors {pct(run.summary['error_rate'])}")
        return Finding(key, values)


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
        labels = [_label(v) for v in self.values]
        repeated = sorted({x for x in labels if labels.count(x) > 1})
        if repeated:
            raise ValueError(f"values must be distinct, got {repeated} more than once")
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
                load = _offered(point.summary)
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
        rows = [{"load": x, **{q: _json(metric(r.summary, f"latency.{q}"))
                               for q in ("p50", "p95", "p99")},
                 "throughput": _json(metric(r.summary, "throughput"))} for x, r in points]
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
            "points": [{"load": x, "error_rate": _json(metric(r.summary, "error_rate")),
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
        capacity = _model(points[0][1]).router.queue.capacity
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


# ---------------------------------------------------------------- features
def _limits(model: Model) -> list[str]:
    """Every request limit in the model, as ``where rate``."""
    found = []
    for kind, items in (("provider", model.providers), ("llm", model.llms),
                        ("tool", model.tools)):
        for name, spec in items.items():
            limits = spec.limits
            if limits is not None and limits.requests is not None:
                found.append(f"{kind} {name} {num(limits.requests * 3600)}/h")
    return found


@ANALYSES.register("rate_limits")
class RateLimits(Analysis):
    """Behaviour under API rate limits: 429 responses and their rate, retries,
    requests failed with ``rate_limited``, and the latency of requests that met a
    429 (and waited out retries) against those that did not."""

    kind: Literal["rate_limits"]

    def requires(self, model: Model) -> list[str]:
        return [] if _limits(model) or _any_token_limits(model) else [
            "needs a rate limit in the model (providers/llms/tools.<name>.limits)"]

    def analyse(self, runs: Mapping[str, Runs]) -> Finding:
        run = _only(runs)
        s = run.summary
        window = s["duration_s"] - s["warmup_s"]
        met = _latencies(run.records, lambda rec: rec.request_columns["rate_limited"] > 0)
        clear = _latencies(run.records, lambda rec: rec.request_columns["rate_limited"] == 0)
        failed = s["errors"].get(Outcome.RATE_LIMITED, 0)
        key = (f"429s {num(s['api']['rate_limited'])} ({num(s['api']['rate_limited'] / window)}/s)"
               f", retries {num(s['api']['retries'])}, failed rate_limited {num(failed)} "
               f"({pct(failed / s['arrived'] if s['arrived'] else math.nan)}); "
               f"p50 {num(_quantile(met, 0.5))} s for requests that met a 429 vs "
               f"{num(_quantile(clear, 0.5))} s; {num(s['throughput'])} req/s; limits: "
               + ", ".join(_limits(_model(run))))
        return Finding(key, {
            "responses_429": s["api"]["rate_limited"], "retries": s["api"]["retries"],
            "failed_rate_limited": failed, "error_rate": s["error_rate"],
            "met_429": {"requests": len(met), "p50": _quantile(met, 0.5),
                        "p99": _quantile(met, 0.99)},
            "no_429": {"requests": len(clear), "p50": _quantile(clear, 0.5),
                       "p99": _quantile(clear, 0.99)},
            "limits": _limits(_model(run))})


def _any_token_limits(model: Model) -> bool:
    specs: list[Any] = [*model.providers.values(), *model.llms.values(), *model.tools.values()]
    return any(spec.limits is not None for spec in specs)


@ANALYSES.register("degradation_modes")
class DegradationModes(Analysis):
    """Graceful degradation under overload: the modes entered, seconds in each,
    requests shed, and the p99 of requests by the mode in force when they arrived."""

    kind: Literal["degradation_modes"]

    def requires(self, model: Model) -> list[str]:
        return [] if model.degradation is not None else [
            "needs a degradation section in the model"]

    def analyse(self, runs: Mapping[str, Runs]) -> Finding:
        run = _only(runs)
        s = run.summary
        seconds = {mode: float(s["modes"][f"{mode}_s"]) for mode in MODES}
        entered = sorted({str(m) for rec in run.records for m in rec.mode_columns.get("mode", [])
                          if m != MODES[0]}, key=MODES.index)
        p99 = {}
        for mode in MODES:
            lat = _latencies(run.records, lambda rec, m=mode: _mode_at_arrival(rec) == m)
            p99[mode] = _quantile(lat, 0.99)
        shed = s["errors"].get(Outcome.SHED, 0)
        key = ("entered " + (", ".join(entered) if entered else "no degraded mode") + "; "
               + ", ".join(f"{m} {num(seconds[m])} s" for m in MODES)
               + f" ({num(s['modes']['changes'])} changes); shed {num(shed)}, errors "
               + f"{pct(s['error_rate'])}; p99 by mode "
               + "/".join(num(p99[m]) for m in MODES) + " s")
        return Finding(key, {"entered": entered, "seconds": seconds, "p99": p99,
                             "changes": s["modes"]["changes"], "shed": shed,
                             "error_rate": s["error_rate"]})


def _mode_at_arrival(rec: RunRecords) -> np.ndarray:
    """The degradation mode in force when each request arrived."""
    modes = rec.mode_columns
    arrival = rec.request_columns["arrival"]
    if not len(modes.get("t", ())):
        return np.full(len(arrival), MODES[0], dtype=object)
    names = np.concatenate([[MODES[0]], modes["mode"].astype(object)])
    return names[np.searchsorted(modes["t"], arrival, side="right")]


@ANALYSES.register("spawn_latency")
class SpawnLatency(Analysis):
    """The agents' cold starts, from their ``spawn`` and ``up`` events: how many,
    the latency distribution, the most in progress at once, and the queue wait
    requests saw meanwhile."""

    kind: Literal["spawn_latency"]

    def requires(self, model: Model) -> list[str]:
        agents = model.agents
        can_spawn = (agents.warm_agents < agents.count or agents.autoscale is not None
                     or (model.memory is not None and model.memory.limit is not None))
        return [] if can_spawn else [
            "needs agents that spawn: agents.warm below agents.count, autoscaling, "
            "or a memory limit that crashes agents"]

    def analyse(self, runs: Mapping[str, Runs]) -> Finding:
        run = _only(runs)
        latencies, overlaps = [], []
        for rec in run.records:
            lat, most = spawn_latencies(rec)
            latencies.append(lat)
            overlaps.append(most)
        pooled = np.concatenate(latencies) if latencies else np.array([])
        if not len(pooled):
            return Finding("no agent was spawned", {"spawns": 0})
        mean = Estimate(float(pooled.mean()), t_halfwidth(pooled))
        q = {name: _quantile(pooled, p) for name, p in
             (("p50", 0.5), ("p95", 0.95), ("min", 0.0), ("max", 1.0))}
        wait = run.summary["wait"]
        key = (f"{len(pooled)} cold starts: mean {ci(mean)} s, p50 {num(q['p50'])} s, "
               f"p95 {num(q['p95'])} s, range {num(q['min'])}-{num(q['max'])} s; up to "
               f"{max(overlaps)} at once; request queue wait mean {num(wait['mean'])} s, "
               f"p99 {num(wait['p99'])} s")
        return Finding(key, {"spawns": len(pooled), "mean": _json(mean), **q,
                             "most_at_once": max(overlaps), "wait": wait})


def spawn_latencies(rec: RunRecords) -> tuple[np.ndarray, int]:
    """Each cold start's latency (a ``spawn`` to the same agent's next ``up``; a
    start called off is left out) and the most cold starts in progress at once."""
    begin, end, up = cold_starts(rec.agent_columns)
    level = Level.combine(starting_changes(rec.agent_columns))
    most = int(level.levels.max()) if len(level.levels) else 0
    return end[up] - begin[up], most


@ANALYSES.register("cache_speedup")
class CacheSpeedup(Analysis):
    """The cache's effect: the model with its cache against the same model with
    ``without`` applied (default: no cache section), on common random numbers.
    Speed-up is mean latency without over with, paired by replication; the
    saving is the share of the cost per request the cache removes."""

    kind: Literal["cache_speedup"]
    without: dict[str, Any] = Field(default_factory=lambda: {"cache": None})

    def requires(self, model: Model) -> list[str]:
        return [] if model.cache is not None else ["needs a cache section in the model"]

    def variants(self) -> dict[str, dict[str, Any]]:
        return {ONLY: {}, "without": dict(self.without)}

    def analyse(self, runs: Mapping[str, Runs]) -> Finding:
        cached, plain = runs[ONLY], runs["without"]
        pairs = list(zip(cached.summaries, plain.summaries, strict=True))
        speedup = across([p["latency"]["mean"] / c["latency"]["mean"] for c, p in pairs])
        saving = across([1 - c["cost"]["per_request_usd"] / p["cost"]["per_request_usd"]
                         for c, p in pairs])
        sc, sp = cached.summary, plain.summary
        key = (f"hit rate {pct(sc['cache']['hit_rate'])}: mean latency "
               f"{num(sp['latency']['mean'])} -> {num(sc['latency']['mean'])} s "
               f"({ci(speedup)}x faster), p99 {num(sp['latency']['p99'])} -> "
               f"{num(sc['latency']['p99'])} s; ${num(sp['cost']['per_request_usd'], 2)} -> "
               f"${num(sc['cost']['per_request_usd'], 2)}/request (saves "
               f"{pct(saving.value)} ± {pct(saving.ci95)}); {num(sp['throughput'])} -> "
               f"{num(sc['throughput'])} req/s")
        return Finding(key, {
            "hit_rate": sc["cache"]["hit_rate"], "speedup": _json(speedup),
            "cost_saving": _json(saving),
            "with": {p: _json(metric(sc, p)) for p in _CACHE_PATHS},
            "without": {p: _json(metric(sp, p)) for p in _CACHE_PATHS}})


_CACHE_PATHS = ("latency.mean", "latency.p99", "cost.per_request_usd", "throughput")
