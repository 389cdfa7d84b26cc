"""Demand on every rate limit, read from a run's own records: what requests sent to
each model, tool and provider (calls, and the input and output tokens the limiters
count), per request and per second, over each limit the model sets.

One reading serves three uses: each run's ``utilization.limits`` (demand per
second over the limit), the screening of sweep points before they are simulated
(per-request demand from a zero-load run times the point's offered rate), and the
calibration's rate-limit check. The counts are what the simulator itself sent
(after role mixes, routing, caches and prompt caching), so they cannot drift from
it as a second, hand derivation would.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tarsim.vocabulary import Scope

if TYPE_CHECKING:
    from tarsim.config.model import Model
    from tarsim.run import RunRecords

KINDS = ("requests", "input_tokens", "output_tokens")
"""The quantities a limit may bound: calls, input tokens, output tokens."""
SECTIONS = (("provider", "providers"), ("llm", "llms"), ("tool", "tools"))


def scope_name(kind: str, name: str, limit: str) -> str:
    """The flat name of one limit: ``provider_openai_requests``, ``llm_haiku_input_tokens``."""
    return f"{kind}_{name}_{limit}"


def model_limits(model: Model) -> dict[tuple[str, str], dict[str, float]]:
    """Per-second limits the model sets, by (``provider``/``llm``/``tool``, name); a
    limit declared per host or per region counts once for each host or region (for
    autoscaled hosts, once for each of the most hosts: what the deployment can admit)."""
    limits: dict[tuple[str, str], dict[str, float]] = {}
    deployment = model.deployment
    hosts = (1 if deployment is None else deployment.host_count if deployment.autoscale is None
             else deployment.autoscale.max)
    copies = {Scope.ORGANISATION: 1,
              Scope.HOST: hosts,
              Scope.REGION: 1 if deployment is None or deployment.regions is None
              else len(deployment.regions)}
    for kind, section in SECTIONS:
        for name, spec in (getattr(model, section, None) or {}).items():
            given = getattr(spec, "limits", None)
            if given is None:
                continue
            for limit in KINDS:
                value = getattr(given, limit, None)
                if value is not None and value > 0:
                    limits.setdefault((kind, name), {})[limit] = float(value) * copies[
                        given.scope]
    return limits


def totals(rec: RunRecords) -> dict[tuple[str, str], dict[str, float]]:
    """Calls and tokens sent by the requests that arrived in the measured window, by
    (kind, name): each model and tool, and each provider (the sum over its models
    and tools)."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    cols = rec.demand_columns
    for scope, provider, calls, tin, tout in zip(
            cols.get("scope", []), cols.get("provider", []), cols.get("calls", []),
            cols.get("input_tokens", []), cols.get("output_tokens", []), strict=True):
        kind, _, name = str(scope).partition(":")
        for key in ((kind, name), ("provider", str(provider))):
            entry = out.setdefault(key, dict.fromkeys(KINDS, 0.0))
            entry["requests"] += float(calls)
            entry["input_tokens"] += float(tin)
            entry["output_tokens"] += float(tout)
    return out


def per_request(rec: RunRecords) -> dict[tuple[str, str], dict[str, float]]:
    """Mean calls and tokens one request sends to each model, tool and provider: the
    window's totals over the requests that arrived in it."""
    a, b = rec.warmup_s, rec.duration_s
    arrival = rec.request_columns["arrival"]
    arrived = int(((arrival >= a) & (arrival < b)).sum())
    if not arrived:
        return {}
    return {key: {k: v / arrived for k, v in entry.items()}
            for key, entry in totals(rec).items()}


def utilization(rec: RunRecords) -> dict[str, float]:
    """Each limit's demand per second in the window over the limit (1.0: demanded at
    exactly the limit; above 1 it cannot hold without 429s), by :func:`scope_name`."""
    window = rec.duration_s - rec.warmup_s
    sent = totals(rec)
    out = {}
    for (kind, name), limits in model_limits(rec.model).items():
        entry = sent.get((kind, name), dict.fromkeys(KINDS, 0.0))
        for limit, cap in limits.items():
            out[scope_name(kind, name, limit)] = entry[limit] / window / cap
    return out


def demand_over_limits(per_req: Mapping[tuple[str, str], Mapping[str, float]], rate: float,
                       model: Model) -> dict[str, float]:
    """Each limit of *model* demanded by *rate* requests per second, each sending
    *per_req* (from :func:`per_request`), over the limit."""
    out = {}
    for (kind, name), limits in model_limits(model).items():
        entry = per_req.get((kind, name), {})
        for limit, cap in limits.items():
            out[scope_name(kind, name, limit)] = rate * entry.get(limit, 0.0) / cap
    return out


# ---------------------------------------------------------------- zero load
ZERO_LOAD_USERS = 8
"""Requests in flight at once in a zero-load run: each has its own agent, and no
limit, pool or congestion curve is left to make them wait for each other."""


def zero_load_model(model: Model) -> Model:
    """*model* with nothing to queue for: every limit, connection pool, congestion
    curve, autoscaler, memory model and degradation controller removed; closed-loop
    users without think time, one agent each, every agent warm; the request path
    (roles, mixes, caches, latencies, errors, retries, timeouts) as it is."""
    from tarsim.config import with_overrides

    sets: dict[str, Any] = {
        "workload.arrivals": {"kind": "closed", "users": ZERO_LOAD_USERS, "think_time": 0.0},
        "agents.count": ZERO_LOAD_USERS, "agents.warm": None, "agents.concurrency": 1,
    }
    data = model.model_dump(by_alias=True, exclude_none=True)
    for key in ("memory", "degradation"):
        if key in data:
            sets[key] = None
    for key in ("autoscale", "idle_timeout", "max_spawning"):
        if key in data["agents"]:
            sets[f"agents.{key}"] = None
    for _, section in SECTIONS:
        for name, spec in (data.get(section) or {}).items():
            for key in ("limits", "connections", "slowdown"):
                if key in spec:
                    sets[f"{section}.{name}.{key}"] = None
            if "overload" in (spec.get("errors") or {}):
                sets[f"{section}.{name}.errors.overload"] = None
    return with_overrides(model, sets)


@dataclass(frozen=True)
class ZeroLoad:
    """What a zero-load run of a model measured."""

    latency: np.ndarray
    """Latencies of the successful requests."""
    per_request: dict[tuple[str, str], dict[str, float]]
    """Mean calls and tokens one request sends to each model, tool and provider."""
    most: dict[str, float]
    """The most one request sent of each quantity to all scopes together (calls,
    input tokens, output tokens): a bound on what it sends to any one."""
    requests: int
    """Requests measured."""

    def quantile(self, q: float) -> float:
        """The *q*-quantile of zero-load latencies (inf when no request succeeded)."""
        return float(np.quantile(self.latency, q)) if len(self.latency) else math.inf


def zero_load(model: Model, *, requests: int = 2000, seed: int = 1) -> ZeroLoad:
    """A quick Monte Carlo of *model*'s request path with no queueing (see
    :func:`zero_load_model`): about *requests* requests, their latencies and the
    demand each sends to each model, tool and provider."""
    from tarsim.run import simulate

    quiet = zero_load_model(model)
    duration = 60.0
    for _ in range(4):
        rec = simulate(quiet, duration=duration, warmup=0.0, seed=seed)
        req = rec.request_columns
        arrived = req["arrival"] < duration
        done = int(arrived.sum())
        if done >= requests or (done == 0 and duration > 1e5):
            break
        duration *= min(100.0, max(1.5, 1.2 * requests / max(done, 1)))
    ok = (req["outcome"] == "ok") & arrived
    most = {"requests": float((req["api_calls"] + req["tool_calls"]).max(initial=0)),
            "input_tokens": float(req["input_tokens"].max(initial=0)),
            "output_tokens": float(req["output_tokens"].max(initial=0))}
    return ZeroLoad((req["end"] - req["arrival"])[ok], per_request(rec), most, done)
