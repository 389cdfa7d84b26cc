"""Analyses of the model at one load: a baseline, a load point against measured
values, agent scaling, and the degradation point of a ramp."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field

from tarsim.config.base import Bytes, Frozen, PerSecond, Probability, Seconds
from tarsim.metrics import MB
from tarsim.scenarios.analyses.common import (
    ONLY,
    ci,
    estimate_json,
    metric,
    model_of,
    num,
    only_run,
    pct,
)
from tarsim.scenarios.registry import ANALYSES, Analysis, Finding, Runs
from tarsim.scenarios.stats import (
    Estimate,
    across,
)


# ---------------------------------------------------------------- one load
@ANALYSES.register("baseline")
class Baseline(Analysis):
    """The model at one load, described: latency, throughput, cost and calls per request."""

    kind: Literal["baseline"]

    def analyse(self, runs: Mapping[str, Runs]) -> Finding:
        summary = only_run(runs).summary
        completed = max(summary["completed"], 1)
        values = {path: estimate_json(metric(summary, path)) for path in (
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
        summary = only_run(runs).summary
        paths = ("throughput", "latency.p99", "error_rate", "memory.peak_mb")
        values: dict[str, Any] = {path: estimate_json(metric(summary, path)) for path in paths}
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
        agents = model_of(given).agents.count
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
            "agents": agents, "compare": self.compare, "speedup": estimate_json(speedup),
            "efficiency": estimate_json(efficiency),
            "throughput": {"compare": estimate_json(metric(base.summary, "throughput")),
                           "given": estimate_json(metric(given.summary, "throughput"))},
        })


