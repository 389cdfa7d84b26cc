"""Analyses of one feature of the model: rate limits, degradation modes, the
agents' spawn latency and the cache's speed-up."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from pydantic import Field

from tarsim.config.model import Model
from tarsim.metrics import Level, cold_starts, starting_changes, t_halfwidth
from tarsim.run import RunRecords
from tarsim.scenarios.analyses.common import (
    ONLY,
    ci,
    estimate_json,
    metric,
    model_of,
    num,
    ok_latencies,
    only_run,
    pct,
    quantile_or_nan,
)
from tarsim.scenarios.registry import ANALYSES, Analysis, Finding, Runs
from tarsim.scenarios.stats import (
    Estimate,
    across,
)
from tarsim.vocabulary import MODES, Outcome


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
        run = only_run(runs)
        s = run.summary
        window = s["duration_s"] - s["warmup_s"]
        met = ok_latencies(run.records, lambda rec: rec.request_columns["rate_limited"] > 0)
        clear = ok_latencies(run.records, lambda rec: rec.request_columns["rate_limited"] == 0)
        failed = s["errors"].get(Outcome.RATE_LIMITED, 0)
        key = (f"429s {num(s['api']['rate_limited'])} ({num(s['api']['rate_limited'] / window)}/s)"
               f", retries {num(s['api']['retries'])}, failed rate_limited {num(failed)} "
               f"({pct(failed / s['arrived'] if s['arrived'] else math.nan)}); "
               f"p50 {num(quantile_or_nan(met, 0.5))} s for requests that met a 429 vs "
               f"{num(quantile_or_nan(clear, 0.5))} s; {num(s['throughput'])} req/s; limits: "
               + ", ".join(_limits(model_of(run))))
        return Finding(key, {
            "responses_429": s["api"]["rate_limited"], "retries": s["api"]["retries"],
            "failed_rate_limited": failed, "error_rate": s["error_rate"],
            "met_429": {"requests": len(met), "p50": quantile_or_nan(met, 0.5),
                        "p99": quantile_or_nan(met, 0.99)},
            "no_429": {"requests": len(clear), "p50": quantile_or_nan(clear, 0.5),
                       "p99": quantile_or_nan(clear, 0.99)},
            "limits": _limits(model_of(run))})


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
        run = only_run(runs)
        s = run.summary
        seconds = {mode: float(s["modes"][f"{mode}_s"]) for mode in MODES}
        entered = sorted({str(m) for rec in run.records for m in rec.mode_columns.get("mode", [])
                          if m != MODES[0]}, key=MODES.index)
        p99 = {}
        for mode in MODES:
            lat = ok_latencies(run.records, lambda rec, m=mode: _mode_at_arrival(rec) == m)
            p99[mode] = quantile_or_nan(lat, 0.99)
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
        run = only_run(runs)
        latencies, overlaps = [], []
        for rec in run.records:
            lat, most = spawn_latencies(rec)
            latencies.append(lat)
            overlaps.append(most)
        pooled = np.concatenate(latencies) if latencies else np.array([])
        if not len(pooled):
            return Finding("no agent was spawned", {"spawns": 0})
        mean = Estimate(float(pooled.mean()), t_halfwidth(pooled))
        q = {name: quantile_or_nan(pooled, p) for name, p in
             (("p50", 0.5), ("p95", 0.95), ("min", 0.0), ("max", 1.0))}
        wait = run.summary["wait"]
        key = (f"{len(pooled)} cold starts: mean {ci(mean)} s, p50 {num(q['p50'])} s, "
               f"p95 {num(q['p95'])} s, range {num(q['min'])}-{num(q['max'])} s; up to "
               f"{max(overlaps)} at once; request queue wait mean {num(wait['mean'])} s, "
               f"p99 {num(wait['p99'])} s")
        return Finding(key, {"spawns": len(pooled), "mean": estimate_json(mean), **q,
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
            "hit_rate": sc["cache"]["hit_rate"], "speedup": estimate_json(speedup),
            "cost_saving": estimate_json(saving),
            "with": {p: estimate_json(metric(sc, p)) for p in _CACHE_PATHS},
            "without": {p: estimate_json(metric(sp, p)) for p in _CACHE_PATHS}})


_CACHE_PATHS = ("latency.mean", "latency.p99", "cost.per_request_usd", "throughput")
