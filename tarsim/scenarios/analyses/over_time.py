"""Analyses of a run over time: a memory leak's slope and long-run stability."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from tarsim.config.base import PosSeconds, Probability
from tarsim.config.model import Model
from tarsim.metrics import MB
from tarsim.run import RunRecords
from tarsim.scenarios.analyses.common import (
    ci,
    estimate_json,
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
    slope,
    window_edges,
    windows,
)


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
        records = only_run(runs).records
        first = records[0]
        w = windows(records, window_edges(first.warmup_s, first.duration_s, self.window))
        reference = math.nan
        if self.p99_factor is not None:
            span = first.warmup_s + (self.window if self.reference is None else self.reference)
            early = ok_latencies(records, lambda rec: rec.request_columns["arrival"] < span)
            reference = quantile_or_nan(early, 0.99)
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
        run = only_run(runs)
        per_s, _, mean_mb = _per_replication_slopes(run.records, self.window, "memory_mb")
        per_min = Estimate(per_s.value * 60, per_s.ci95 * 60)
        model = model_of(run)
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
        return Finding(key, {"slope_mb_per_min": estimate_json(per_min), "leak": leaking,
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
        run = only_run(runs)
        parts: list[str] = []
        values: dict[str, Any] = {}
        verdicts: list[str] = []
        for series, label in (("throughput", "throughput"), ("p50", "p50"), ("p99", "p99")):
            per_s, _, mean = _per_replication_slopes(run.records, self.window, series)
            drift = Estimate(100 * 60 * per_s.value / mean, 100 * 60 * per_s.ci95 / mean)
            values[series] = {"mean": mean, "drift_pct_per_min": estimate_json(drift)}
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
        if model_of(run).memory is not None:
            per_s, _, _ = _per_replication_slopes(run.records, self.window, "memory_mb")
            memory = Estimate(60 * per_s.value, 60 * per_s.ci95)
            values["memory_mb_per_min"] = estimate_json(memory)
            parts.append(f"memory {ci(memory, 2)} MB/min")
        verdict = ("drifting" if "drifting" in verdicts else
                   "inconclusive" if "inconclusive" in verdicts else "stable")
        values["verdict"] = verdict
        window = run.records[0].duration_s - run.records[0].warmup_s
        key = (f"{verdict} over {num(window)} s (drift within ±{num(self.tolerance)} %/min): "
               + "; ".join(parts) + f"; errors {pct(run.summary['error_rate'])}")
        return Finding(key, values)


