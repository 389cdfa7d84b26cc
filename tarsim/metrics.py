"""Metrics from records: one replication's summary, its per-second time series,
and the mean and t-based 95% confidence interval over replications.

Everything is measured after the warm-up. Requests are counted by *arrival*
in the window [warmup, duration) for latency, errors and cost (each such
request has answered, thanks to the drain); throughput counts successful
answers whose *end* falls in the window, as a load test measures it. Levels
(queue, busy slots, agents, memory) are time averages over the window.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from tarsim import demand, intervals, steady
from tarsim.components.recorder import FLOW_PHASES
from tarsim.levels import Level, host_levels
from tarsim.run import RunRecords
from tarsim.summary import (
    IDENTITY_KEYS,
    Agents,
    Api,
    Autoscale,
    Cache,
    Cost,
    Hosts,
    InSystem,
    Latency,
    Memory,
    ModeChange,
    Modes,
    Queue,
    RunSummary,
    Wait,
    flatten,
    unflatten,
)
from tarsim.vocabulary import ERROR_CAUSES, MODES, RANK, AgentEvent, Outcome

if TYPE_CHECKING:
    import pandas as pd

MB = 1e6


def _levels(rec: RunRecords) -> dict[str, Level]:
    req = rec.request_columns
    held = req["agent"] >= 0
    event = rec.agent_columns["event"]
    times = rec.agent_columns["t"].astype(float)
    ups = times[event == AgentEvent.UP]
    downs = times[(event == AgentEvent.DOWN) | (event == AgentEvent.CRASH)]
    agent_change = (np.concatenate([ups, downs]),
                    np.concatenate([np.ones(len(ups)), -np.ones(len(downs))]))
    levels = {
        "queue": Level.of_intervals(req["admitted"], req["dequeued"]),
        "busy": Level.of_intervals(req["dequeued"][held], req["released"][held]),
        "in_system": Level.of_intervals(req["arrival"], req["end"]),
        "agents": Level.combine(agent_change),
        "starting": Level.combine(starting_changes(rec.agent_columns)),
    }
    memory = rec.memory_columns
    if rec.model.memory is not None and len(memory.get("t", ())):
        # followed during the run (tarsim.components.memory): the exact level
        levels["memory"] = Level(memory["t"], np.diff(memory["bytes"], prepend=0.0))
    return levels


def starting_changes(agents: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """+1 when a cold start begins, -1 when it ends (up) or is called off; at one
    time, ends before beginnings (a start that ends as another begins is not in
    progress with it)."""
    begin, end, _up = cold_starts(agents)
    ended = end[~np.isnan(end)]
    times = np.concatenate([ended, begin])
    deltas = np.concatenate([-np.ones(len(ended)), np.ones(len(begin))])
    order = np.argsort(times, kind="stable")
    return times[order], deltas[order]


def cold_starts(agents: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each cold start in the agent log: when it began (``spawn``), when it ended
    (the agent's next ``up``, or ``cancel`` when it was called off; NaN while
    still starting at the end), and whether it ended up."""
    open_at: dict[int, int] = {}
    begin: list[float] = []
    end: list[float] = []
    up: list[bool] = []
    for t, agent, event in zip(agents["t"].tolist(), agents["agent"].tolist(),
                               agents["event"].tolist(), strict=True):
        if event == AgentEvent.SPAWN:
            open_at[agent] = len(begin)
            begin.append(t)
            end.append(math.nan)
            up.append(False)
        elif event in (AgentEvent.UP, AgentEvent.CANCEL) and agent in open_at:
            k = open_at.pop(agent)
            end[k] = t
            up[k] = event == AgentEvent.UP
    return (np.array(begin, dtype=float), np.array(end, dtype=float),
            np.array(up, dtype=bool))


def _mode_changes(rec: RunRecords) -> tuple[np.ndarray, np.ndarray]:
    """Times of mode changes and the rank of the mode entered (0 optimal .. 2 critical)."""
    modes = rec.mode_columns
    if not len(modes.get("t", ())):
        return np.array([]), np.array([], dtype=int)
    return modes["t"], np.array([RANK[m] for m in modes["mode"].tolist()], dtype=int)


def _mode_seconds(rec: RunRecords, a: float, b: float) -> dict[str, float]:
    """Seconds spent in each mode within [a, b)."""
    times, ranks = _mode_changes(rec)
    starts = np.concatenate([[0.0], times])
    ends = np.concatenate([times, [np.inf]])
    entered = np.concatenate([[0], ranks])
    spent = np.clip(np.minimum(ends, b) - np.maximum(starts, a), 0.0, None)
    return {f"{m}_s": float(spent[entered == i].sum()) for i, m in enumerate(MODES)}


# ---------------------------------------------------------------- one replication
def summarize(rec: RunRecords) -> dict[str, Any]:
    """The ``tarsim run`` metrics of one replication as the JSON object of the
    contract in docs/sources.md §8 (:meth:`RunSummary.tree` of :func:`run_summary`)."""
    return run_summary(rec).tree()


def run_summary(rec: RunRecords) -> RunSummary:
    """The ``tarsim run`` metrics of one replication (the JSON contract in docs/sources.md §8)."""
    a, b = rec.warmup_s, rec.duration_s
    window = b - a
    req = rec.request_columns
    arrival, end, outcome = req["arrival"], req["end"], req["outcome"]
    in_window = (arrival >= a) & (arrival < b)
    is_ok = outcome == Outcome.OK
    ok = in_window & is_ok
    failed = in_window & ~is_ok & (outcome != Outcome.UNFINISHED)
    latency = end[ok] - arrival[ok]
    completed = int((is_ok & (end >= a) & (end < b)).sum())
    arrived = int(in_window.sum())
    errors = {str(cause): 0 for cause in ERROR_CAUSES}
    causes, counts = np.unique(outcome[failed].astype(str), return_counts=True)
    errors.update({str(c): int(n) for c, n in zip(causes, counts, strict=True)})
    unfinished = int((in_window & (outcome == Outcome.UNFINISHED)).sum())
    tokens_usd = float(req["cost_usd"][in_window].sum())
    # the queue's customers: those that got a slot, and those that left it after
    # waiting (timeout, shed); not those turned away at the door
    queued = req["dequeued"] - req["admitted"]
    entered = in_window & ((req["agent"] >= 0) | (queued > 0))
    waits = queued[entered]
    sojourn = end[in_window] - arrival[in_window]
    n_ok = int(ok.sum())
    hits = int(req["cache_hits"][in_window].sum())
    lookups = int(req["cache_lookups"][in_window].sum())
    levels = _levels(rec)
    concurrency = rec.model.agents.concurrency
    agents_mean = levels["agents"].mean(a, b)
    busy_mean = levels["busy"].mean(a, b)
    agent_t, agent_event = rec.agent_columns["t"], rec.agent_columns["event"]
    spawn_t = agent_t[agent_event == AgentEvent.SPAWN]
    crash_t = agent_t[agent_event == AgentEvent.CRASH]
    # agents cost from the start of their cold start until they stop
    agent_seconds = (agents_mean + levels["starting"].mean(a, b)) * window
    infra_usd = agent_seconds / 3600.0 * rec.model.agents.price_per_hour
    deployment = rec.model.deployment
    hosts = None
    if deployment is not None and deployment.autoscale is not None:
        hosts = _hosts(rec)  # paid for from the decision to add each until it goes
        infra_usd += hosts.host_seconds * deployment.price_per_hour / 3600.0
    elif deployment is not None:  # hosts are paid for whether busy or not
        infra_usd += deployment.host_count * deployment.price_per_hour * window / 3600.0
    total_usd = tokens_usd + infra_usd
    scaling = rec.scaling_columns
    decided = (scaling["t"] >= a) & (scaling["t"] < b) if len(scaling.get("t", ())) else None
    mode_log = rec.mode_columns
    memory = levels.get("memory")
    return RunSummary(
        model=rec.model.name,
        seed=rec.seed,
        duration_s=rec.duration_s,
        warmup_s=rec.warmup_s,
        replications=1,
        arrived=arrived,
        completed=completed,
        throughput=completed / window,
        latency=_quantiles(latency),
        error_rate=int(failed.sum()) / arrived if arrived else 0.0,
        errors=errors,
        cost=Cost(
            total_usd=total_usd,
            per_request_usd=total_usd / n_ok if n_ok else math.nan,
            per_hour_usd=total_usd / window * 3600.0,
            tokens_usd=tokens_usd,
            infra_usd=infra_usd,
            input_tokens=int(req["input_tokens"][in_window].sum()),
            output_tokens=int(req["output_tokens"][in_window].sum()),
            **_cost_by_item(rec),
        ),
        memory=Memory(
            peak_mb=memory.max(a, b) / MB if memory is not None else math.nan,
            mean_mb=memory.mean(a, b) / MB if memory is not None else math.nan,
        ),
        agents=Agents(
            mean=agents_mean,
            max=levels["agents"].max(a, b),
            spawns=int(((spawn_t >= a) & (spawn_t < b)).sum()),
            crashes=int(((crash_t >= a) & (crash_t < b)).sum()),
            agent_seconds=agent_seconds,
            utilization=busy_mean / (agents_mean * concurrency) if agents_mean else 0.0,
        ),
        autoscale=Autoscale(
            scale_ups=0 if decided is None else
            int((decided & (scaling["desired"] > scaling["current"])).sum()),
            scale_downs=0 if decided is None else
            int((decided & (scaling["desired"] < scaling["current"])).sum()),
        ),
        modes=Modes(**_mode_seconds(rec, a, b), changes=len(mode_log.get("t", ()))),
        mode_changes=[ModeChange(float(t), str(m)) for t, m in
                      zip(mode_log.get("t", []), mode_log.get("mode", []), strict=True)],
        queue=Queue(mean=levels["queue"].mean(a, b), max=levels["queue"].max(a, b)),
        api=Api(
            calls=int(req["api_calls"][in_window].sum()),
            tool_calls=int(req["tool_calls"][in_window].sum()),
            rate_limited=int(req["rate_limited"][in_window].sum()),
            retries=int(req["retries"][in_window].sum()),
            limits=_by_limit(rec),
        ),
        cache=Cache(hit_rate=hits / lookups if lookups else math.nan, lookups=lookups),
        wait=Wait(
            mean=float(waits.mean()) if len(waits) else math.nan,
            p99=float(np.quantile(waits, 0.99)) if len(waits) else math.nan,
        ),
        in_system=InSystem(
            mean=levels["in_system"].mean(a, b),
            sojourn_mean=float(np.nanmean(sojourn)) if len(sojourn) else math.nan,
        ),
        utilization={"agents": busy_mean / (agents_mean * concurrency) if agents_mean
                     else 0.0, **demand.utilization(rec), **rec.pool_utilization},
        unfinished=unfinished,
        events=rec.events,
        samples=intervals.sketch(latency, arrival[ok]),
        steady=steady.halves(arrival, end, ok, failed, a, b,
                             levels["in_system"].bins(np.arange(0.0, b + 0.5, 1.0)),
                             succeeded=is_ok),
        workflow=(_workflow(rec, req["id"][in_window])
                  if len(rec.flow_columns.get("id", ())) else None),
        hosts=hosts,
    )


def _hosts(rec: RunRecords) -> Hosts:
    """An autoscaled deployment's hosts over the window: taking traffic (mean, max),
    paid for (host-seconds), and the host autoscaler's decisions."""
    a, b = rec.warmup_s, rec.duration_s
    serving, paid = host_levels(rec.host_columns)
    decisions = rec.host_scaling_columns
    decided = (decisions["t"] >= a) & (decisions["t"] < b)
    return Hosts(mean=serving.mean(a, b), max=serving.max(a, b),
                 host_seconds=paid.mean(a, b) * (b - a),
                 scale_ups=int((decided & (decisions["desired"] > decisions["current"])).sum()),
                 scale_downs=int((decided & (decisions["desired"] < decisions["current"])
                                  ).sum()))


def _workflow(rec: RunRecords, window_ids: np.ndarray) -> dict[str, Any]:
    """Workflow classes: mean seconds per request by phase (agent-seconds, over the
    requests arriving in the window that got to run their workflow), branch
    alternatives taken, and sub-agents in flight (time average and peak)."""
    a, b = rec.warmup_s, rec.duration_s
    names = [c.name for c in rec.model.workload.classes]
    flows, branches = rec.flow_columns, rec.branch_columns
    counted = np.isin(flows["id"], window_ids)
    took = np.isin(branches["id"], window_ids) if len(branches.get("id", ())) else None
    classes: dict[str, Any] = {}
    for cls in np.unique(flows["cls"]):
        rows = counted & (flows["cls"] == cls)
        entry: dict[str, Any] = {"requests": int(rows.sum())}
        entry["seconds"] = {phase: float(flows[phase][rows].mean()) if rows.any() else math.nan
                            for phase in FLOW_PHASES}
        if took is not None:
            mine = took & (branches["cls"] == cls)
            labels, counts = np.unique(branches["branch"][mine].astype(str), return_counts=True)
            entry["branches"] = {str(k): int(n) for k, n in zip(labels, counts, strict=True)}
        classes[names[int(cls)]] = entry
    series = rec.subagent_columns
    times = series.get("t", np.empty(0))
    level = Level(times, np.diff(series.get("in_flight", np.empty(0)), prepend=0))
    return {"classes": classes,
            "subagents": {"mean": level.mean(a, b), "max": level.max(a, b)}}


def _cost_by_item(rec: RunRecords) -> dict[str, dict[str, float]]:
    """USD by model and by tool, for the requests arriving after the warm-up; every
    model and tool of the model appears (0 when unused), so replications aggregate
    key by key."""
    by_model = dict.fromkeys(rec.model.llms, 0.0)
    by_tool = dict.fromkeys(rec.model.tools, 0.0)
    costs = rec.cost_columns
    for item, usd in zip(costs.get("item", []), costs.get("usd", []), strict=True):
        target = by_model if item in by_model else by_tool
        target[str(item)] = float(usd)
    return {"by_model": by_model, "by_tool": by_tool}


def _by_limit(rec: RunRecords) -> dict[str, Any]:
    """Per rate limit, as the model writes it (``tools`` > ``search`` > ``requests``):
    429s it gave for lack of room (``refused``; one 429 counts for every limit that
    lacked room) and calls that failed for good on its 429 (``failed``), for requests
    after the warm-up."""
    cols = rec.limit_columns
    tree: dict[str, Any] = {}
    for label, kind, refused, failed in zip(cols.get("limit", []), cols.get("kind", []),
                                            cols.get("refused", []), cols.get("failed", []),
                                            strict=True):
        scope, _, name = str(label).partition(".")
        # a limit declared per host or region has one row per host or region: summed
        counts = tree.setdefault(scope, {}).setdefault(name, {}).setdefault(
            str(kind), {"refused": 0, "failed": 0})
        counts["refused"] += int(refused)
        counts["failed"] += int(failed)
    return tree


def _quantiles(values: np.ndarray) -> Latency:
    if not len(values):
        return Latency(*[math.nan] * 6)
    p50, p90, p95, p99 = np.quantile(values, [0.5, 0.9, 0.95, 0.99])
    return Latency(mean=float(values.mean()), p50=float(p50), p90=float(p90),
                   p95=float(p95), p99=float(p99), max=float(values.max()))


# ---------------------------------------------------------------- time series
TIMESERIES_COLUMNS = ["t", "arrivals", "completions", "errors", "queue", "busy", "agents",
                      "in_system", "memory_mb", "mode"]


def timeseries(rec: RunRecords, step: float = 1.0) -> pd.DataFrame:
    """Per-*step* seconds from 0 to the horizon: counts of arrivals, successful
    completions and errors (by the time they happened), and time-averaged levels
    (with ``hosts`` taking traffic under ``deployment.autoscale``, and ``subagents``
    in flight when a workflow ran parallel steps)."""
    import pandas as pd

    edges = np.arange(0.0, rec.duration_s + step / 2, step)
    if edges[-1] < rec.duration_s:
        edges = np.append(edges, rec.duration_s)
    req = rec.request_columns
    ends, outcome = req["end"], req["outcome"]
    is_ok = outcome == Outcome.OK
    is_err = (~is_ok) & (outcome != Outcome.UNFINISHED)
    levels = _levels(rec)
    frame = pd.DataFrame({
        "t": edges[:-1],
        "arrivals": np.histogram(req["arrival"], edges)[0],
        "completions": np.histogram(ends[is_ok], edges)[0],
        "errors": np.histogram(ends[is_err], edges)[0],
        "queue": levels["queue"].bins(edges),
        "busy": levels["busy"].bins(edges),
        "agents": levels["agents"].bins(edges),
        "in_system": levels["in_system"].bins(edges),
        "memory_mb": levels["memory"].bins(edges) / MB if "memory" in levels else np.nan,
        "mode": _mode_bins(rec, edges),
    })
    if len(rec.host_columns.get("t", ())):  # an autoscaled deployment: hosts taking traffic
        frame["hosts"] = host_levels(rec.host_columns)[0].bins(edges)
    series = rec.subagent_columns
    if len(series.get("t", ())):  # a workflow ran parallel steps: sub-agents in flight
        in_flight = series["in_flight"]
        frame["subagents"] = Level(series["t"], np.diff(in_flight, prepend=0)).bins(edges)
    return frame


def _mode_bins(rec: RunRecords, edges: np.ndarray) -> np.ndarray:
    """The most severe mode in force at any time in each bin."""
    times, ranks = _mode_changes(rec)
    starts = edges[:-1]
    # the mode in force at each bin's start, then any entered within the bin
    k = np.searchsorted(times, starts, side="right") - 1
    worst = np.where(k >= 0, ranks[np.maximum(k, 0)] if len(ranks) else 0, 0)
    bins = np.searchsorted(edges, times, side="right") - 1
    for b, r in zip(bins, ranks, strict=True):
        if 0 <= b < len(worst):
            worst[b] = max(worst[b], r)
    return np.array([str(m) for m in MODES], dtype=object)[worst]


# ---------------------------------------------------------------- replications
NOT_AVERAGED = ("events",)


def t_halfwidth(values: np.ndarray, level: float = 0.95) -> float:
    """Half-width of the two-sided Student-t confidence interval of the mean."""
    values = values[~np.isnan(values)]
    n = len(values)
    if n < 2:
        return math.nan
    from scipy.stats import t  # imported here: scipy.stats is slow to import

    return float(t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / math.sqrt(n))


def aggregate(summaries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean over replications of every metric, with its 95% CI half-width under
    ``ci95`` (flat metric paths) when there is more than one replication.

    Latency quantiles and the error rate are the replications pooled instead, with
    the intervals of :mod:`tarsim.intervals` under ``bounds`` ([lower, upper]); their
    ``ci95`` is the larger distance from the estimate to a bound."""
    runs = list(summaries)
    first = runs[0]
    if len(runs) == 1:
        return {k: v for k, v in first.items() if k != intervals.SKETCH}
    flats = [flatten(s) for s in runs]
    keys = [k for k in flats[0] if k not in IDENTITY_KEYS and k not in NOT_AVERAGED
            and not k.startswith(intervals.SKETCH + ".")
            and not isinstance(flats[0][k], list)]  # logs, such as mode_changes
    means: dict[str, Any] = {}
    ci95: dict[str, float] = {}
    for key in keys:
        values = np.array([f.get(key, math.nan) for f in flats], dtype=float)
        means[key] = float(np.nanmean(values)) if not np.isnan(values).all() else math.nan
        ci95[key] = t_halfwidth(values)
    bounds = intervals.pooled_bounds(flats)
    for key, (estimate, low, high) in bounds.items():
        means[key] = estimate
        ci95[key] = max(estimate - low, high - estimate)
    result: dict[str, Any] = {k: first[k] for k in IDENTITY_KEYS}
    result["replications"] = len(runs)
    result.update(unflatten(means))
    result["events"] = int(sum(s.get("events", 0) for s in runs))
    result["ci95"] = ci95
    result["bounds"] = {k: [low, high] for k, (_, low, high) in bounds.items()}
    return result


def json_safe(value: Any) -> Any:
    """NaN and infinities become null, so that output is valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
