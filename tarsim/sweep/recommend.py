"""Recommendations: for each tier, the cheapest configuration whose CI upper bounds
meet the SLOs at every load of the tier, its predicted metrics at the tier's
highest load, what binds it, and the runner-up.

Cheapest means the lowest cost per hour at the tier's highest load (tokens and
tools, plus the agent-seconds each run measured at the price per agent-hour),
then the fewest agent slots, then the experiment's order. What binds a
configuration is the SLO closest to its limit: for a latency SLO, the most
utilised resource (a ``*.utilization`` metric); for the error-rate SLO, the
dominant cause of error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from tarsim.sweep.stats import (
    ERROR_COLUMNS,
    FAILS,
    MEETS,
    SCREENED,
    SKIPPED,
    UNCERTAIN,
    column,
    lower_bound,
    meets,
    slo_ratios,
    upper_bound,
)
from tarsim.vocabulary import Metric

UTILIZATION = "_utilization"
UTILIZATION_PREFIX = "utilization_"
CI = "_ci95"


def total_costs(summary: pd.DataFrame, agent_per_hour_usd: float) -> pd.DataFrame:
    """*summary* with ``total_per_hour_usd`` and ``total_per_request_usd``: token and
    tool costs plus the agents' own cost.

    The agents are already in the runs' costs: each run charges the agent-seconds it
    measured (from each cold start to each stop) at ``agents.price_per_hour``, which
    the sweep sets to the experiment's *agent_per_hour_usd* when that is given
    (:func:`tarsim.sweep.points.expand`). Adding ``agents.count`` times the price
    here would count them twice, and price an autoscaled tier at its upper bound."""
    del agent_per_hour_usd  # priced in the runs (see above); kept for the callers
    frame = summary.copy()
    for name in (Metric.COST_PER_HOUR_USD, Metric.COST_PER_REQUEST_USD, Metric.THROUGHPUT,
                 Metric.LATENCY_P50, Metric.LATENCY_P99, Metric.ERROR_RATE):
        if column(name) not in frame:  # every point screened: nothing was simulated
            frame[column(name)] = math.nan
    frame["total_per_hour_usd"] = frame[column(Metric.COST_PER_HOUR_USD)].fillna(0.0)
    if "verdict" in frame:  # nothing was simulated there: no cost to show
        unsimulated = frame["verdict"].isin([SCREENED, SKIPPED])
        frame.loc[unsimulated, "total_per_hour_usd"] = math.nan
    frame["total_per_request_usd"] = frame[column(Metric.COST_PER_REQUEST_USD)]
    return frame


def bottleneck(row: Mapping[str, Any], limits: Mapping[str, float]) -> tuple[str, str]:
    """(binding SLO, the resource or error cause behind it) for one point's row.

    A rate limit demanded beyond itself (``utilization_*`` above 1) is the
    bottleneck whatever else happens: the run's errors and waits follow from it.
    Otherwise the binding SLO decides: for the error rate, its dominant cause; for
    latency, the most utilised resource when it queues, else the service time or
    the 429s being retried."""
    ratios = slo_ratios(row, limits)
    busiest, level = _busiest(row)
    if level > 1.0:
        binding = max(ratios, key=lambda k: ratios[k]) if ratios else ""
        return binding, busiest
    if not ratios:
        return "", busiest
    binding = max(ratios, key=lambda k: ratios[k])
    if binding == Metric.ERROR_RATE:
        counts = {cause: row.get(name) for cause, name in ERROR_COLUMNS.items()}
        causes = {cause: float(v) for cause, v in counts.items()
                  if isinstance(v, int | float) and v > 0}
        if causes:
            cause = max(causes, key=lambda k: causes[k])
            share = causes[cause] / sum(causes.values())
            return binding, f"errors: {cause} ({share:.0%} of errors)"
    if binding in LATENCY_METRICS and level < QUEUEING_UTILIZATION:
        # a latency SLO missed with resources this idle: the time is in the calls
        # themselves, or in backing off from 429s, not in waiting for a slot
        calls = _count(row, Metric.API_CALLS) + _count(row, Metric.API_TOOL_CALLS)
        limited = _count(row, Metric.API_RATE_LIMITED)
        if calls > 0 and limited / calls > RETRY_SHARE:
            return binding, f"rate limits: 429s on {limited / calls:.0%} of calls, retried"
        return binding, f"service time, not queueing ({busiest})"
    return binding, busiest


LATENCY_METRICS = frozenset({Metric.LATENCY_MEAN, Metric.LATENCY_P50, Metric.LATENCY_P90,
                             Metric.LATENCY_P95, Metric.LATENCY_P99, Metric.LATENCY_MAX})


def _count(row: Mapping[str, Any], metric: Metric) -> float:
    return float(row.get(column(metric), 0.0) or 0.0)


RETRY_SHARE = 0.01
"""Above this share of calls answered 429, backing off sets the latency."""
QUEUEING_UTILIZATION = 0.8
"""Below this, waiting for a resource is not what sets a missed latency SLO."""


def utilizations(row: Mapping[str, Any]) -> dict[str, float]:
    """Every limited resource's utilisation in *row*: agent slots and each rate limit
    (demand over limit, ``utilization_*`` columns), by readable name."""
    levels = {}
    for key, value in row.items():
        if not isinstance(value, int | float) or not math.isfinite(value):
            continue
        if key.startswith(UTILIZATION_PREFIX) and not key.endswith(CI):
            levels[key[len(UTILIZATION_PREFIX):].replace("_", " ")] = float(value)
        elif key.endswith(UTILIZATION) and not key.startswith(UTILIZATION_PREFIX):
            levels[key[: -len(UTILIZATION)].replace("_", " ")] = float(value)
    return levels


def _busiest(row: Mapping[str, Any]) -> tuple[str, float]:
    levels = utilizations(row)
    if not levels:
        return "none measured", math.nan
    name = max(levels, key=lambda k: levels[k])
    if name.startswith(("provider ", "llm ", "tool ")) and not name.endswith(" connections"):
        return f"{name} (demand {levels[name]:.0%} of limit)", levels[name]
    return f"{name} (utilization {levels[name]:.2f})", levels[name]


SCREENED_RANK = 1e9
"""Added to a screened point's excess, so that any simulated configuration ranks as
closer to the SLOs than a screened one."""


def screened_excess(row: Mapping[str, Any], limits: Mapping[str, float]) -> float:
    """How far screening put a point beyond what it could carry: the largest of its
    zero-load p99 over the p99 SLO and each limit's demand over the limit."""
    levels = [float(v) for k, v in row.items() if str(k).startswith("demand_")
              and isinstance(v, int | float) and math.isfinite(v)]
    floor, p99 = row.get("floor_p99"), limits.get(Metric.LATENCY_P99)
    if isinstance(floor, int | float) and math.isfinite(floor) and p99:
        levels.append(float(floor) / p99)
    return max(levels, default=0.0)


def recommend(summary: pd.DataFrame, limits: Mapping[str, float],
              agent_per_hour_usd: float = 0.0) -> pd.DataFrame:
    """One row per tier (see the module docstring). A tier where no configuration
    meets the SLOs gets status ``no configuration meets the SLOs`` and, in place of
    a recommendation, the configuration closest to meeting them."""
    frame = total_costs(summary, agent_per_hour_usd)
    rows = []
    for tier, group in frame.groupby("tier", sort=False):
        candidates = []
        for config, points in group.groupby("config", sort=False):
            verdicts = points["verdict"].tolist() if "verdict" in points else [
                MEETS if meets(row, limits) else FAILS for _, row in points.iterrows()]
            feasible = all(v == MEETS for v in verdicts)
            design = points.loc[points["load"].fillna(0).idxmax()] if points["load"].notna().any() \
                else points.iloc[0]
            # a skipped load (below a failing one) says nothing of how close it came
            worst = max((max(slo_ratios(row, limits).values(), default=0.0)
                         if v != SCREENED else SCREENED_RANK + screened_excess(row, limits)
                         for v, (_, row) in zip(verdicts, points.iterrows(), strict=True)
                         if v != SKIPPED),
                        default=0.0)
            cost = design["total_per_hour_usd"]
            undecided = sum(v == UNCERTAIN for v in verdicts)
            candidates.append({
                "config": config, "feasible": feasible, "design": design, "worst": worst,
                "verdict": (MEETS if feasible else SCREENED if SCREENED in verdicts
                            else UNCERTAIN if undecided and FAILS not in verdicts else FAILS),
                "order": (cost if math.isfinite(cost) else math.inf, design["slots"],
                          int(design["point"])),
            })
        qualifying = sorted((c for c in candidates if c["feasible"]),
                            key=lambda c: c["order"])
        uncertain = sum(c["verdict"] == UNCERTAIN for c in candidates)
        if qualifying:
            status = "ok"
            best = qualifying[0]
            runner = qualifying[1] if len(qualifying) > 1 else None
        elif uncertain:
            status = (f"uncertain: no configuration shown to meet the SLOs; {uncertain} "
                      "undecided at the maximum replications")
            ranked = sorted(candidates, key=lambda c: (c["verdict"] != UNCERTAIN, c["worst"],
                                                       c["order"]))
            best, runner = ranked[0], (ranked[1] if len(ranked) > 1 else None)
        else:
            status = "no configuration meets the SLOs"
            ranked = sorted(candidates, key=lambda c: (c["worst"], c["order"]))
            best, runner = ranked[0], (ranked[1] if len(ranked) > 1 else None)
        row = _row(str(tier), status, len(qualifying), len(candidates), best, runner, limits)
        row["uncertain"] = uncertain
        row["screened"] = sum(c["verdict"] == SCREENED for c in candidates)
        rows.append(row)
    return pd.DataFrame(rows)


def _row(tier: str, status: str, feasible: int, total: int, best: dict[str, Any],
         runner: dict[str, Any] | None, limits: Mapping[str, float]) -> dict[str, Any]:
    design = best["design"]
    binding, cause = bottleneck(design, limits)
    if best.get("verdict") == SCREENED:
        cause = f"screened: {design.get('screen_reason', '')}"
    row: dict[str, Any] = {
        "tier": tier, "status": status, "feasible": feasible, "configurations": total,
        "load_kind": design["load_kind"], "load": design["load"],
        "config": best["config"], "point": int(design["point"]),
        "hosts": int(design.get("hosts", 1)),
        "agents_count": int(design["agents_count"]), "slots": int(design["slots"]),
        "throughput": design["throughput"],
        "latency_p50": design["latency_p50"], "latency_p99": design["latency_p99"],
        "latency_p99_ub": upper_bound(design, "latency_p99"),
        "error_rate": design["error_rate"],
        "error_rate_ub": upper_bound(design, "error_rate"),
        "cost_per_request_usd": design["total_per_request_usd"],
        "cost_per_hour_usd": design["total_per_hour_usd"],
        "memory_peak_mb": design.get("memory_peak_mb", math.nan),
        "binding_slo": binding, "bottleneck": cause,
        "bottleneck_resource": cause.split(" (")[0],
        "verdict": best["verdict"], "replications": design.get("replications", math.nan),
        "latency_p99_lo": lower_bound(design, "latency_p99"),
        "error_rate_lo": lower_bound(design, "error_rate"),
        "screen_reason": design.get("screen_reason", ""),
        "steady": design.get("steady", True),
        "steady_reason": design.get("steady_reason", ""),
        **{k: design[k] for k in design.index if k.startswith("utilization_")
           and not k.endswith("_ci95")},
    }
    for path in limits:
        name = column(path)
        if name not in ("latency_p99", "error_rate"):
            row[name] = design.get(name, math.nan)
            row[name + "_ub"] = upper_bound(design, name)
    if runner is not None:
        other = runner["design"]
        row.update({
            "runner_up": runner["config"], "runner_up_point": int(other["point"]),
            "runner_up_latency_p99": other["latency_p99"],
            "runner_up_error_rate": other["error_rate"],
            "runner_up_cost_per_hour_usd": other["total_per_hour_usd"],
        })
    else:
        row.update({"runner_up": "", "runner_up_point": -1,
                    "runner_up_latency_p99": math.nan, "runner_up_error_rate": math.nan,
                    "runner_up_cost_per_hour_usd": math.nan})
    return row


def paired(recommendations: pd.DataFrame, runs: pd.DataFrame,
           names: tuple[str, ...] = ("latency_p99", "error_rate")) -> pd.DataFrame:
    """*recommendations* with each tier's recommendation compared with its runner-up
    paired on common random numbers: replication r of both points saw the same
    arrivals and draws, so the mean of the per-replication differences (runner-up
    minus recommended, ``paired_<metric>_diff``) has a t-interval
    (``paired_<metric>_ci95``) far narrower than two separate intervals give."""
    import numpy as np

    from tarsim.metrics import t_halfwidth

    out = recommendations.copy()
    for name in names:
        diffs, halves = [], []
        for _, rec in recommendations.iterrows():
            other = int(rec.get("runner_up_point", -1))
            if other < 0 or name not in runs:
                diffs.append(math.nan)
                halves.append(math.nan)
                continue
            mine = runs[runs["point"] == int(rec["point"])].set_index("replication")[name]
            theirs = runs[runs["point"] == other].set_index("replication")[name]
            common = mine.index.intersection(theirs.index)
            delta = np.asarray(theirs[common] - mine[common], dtype=float)
            diffs.append(float(np.nanmean(delta)) if len(delta) else math.nan)
            halves.append(t_halfwidth(delta) if len(delta) > 1 else math.nan)
        out[f"paired_{name}_diff"] = diffs
        out[f"paired_{name}_ci95"] = halves
    return out
