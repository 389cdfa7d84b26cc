"""The run summary as a typed object: the ``tarsim run`` JSON contract (docs/sources.md §8)
in code.

:func:`tarsim.metrics.run_summary` measures one replication into a
:class:`RunSummary`; :meth:`RunSummary.tree` is the JSON object (keys in the
contract's order), and :meth:`RunSummary.flat` the metrics under their flat,
dotted names (``latency.p99``, ``errors.timeout``), the names that
:class:`tarsim.vocabulary.Metric` lists and that sweeps, scenarios and
calibration aggregate over replications. Times are seconds, money USD, memory MB.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

IDENTITY_KEYS = ("model", "seed", "duration_s", "warmup_s", "replications")
"""Fields that say which run this is, not what it measured."""


@dataclass(frozen=True, slots=True)
class Latency:
    """Successful requests' response times."""

    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float


@dataclass(frozen=True, slots=True)
class Cost:
    total_usd: float
    per_request_usd: float
    """Per successful request."""
    per_hour_usd: float
    tokens_usd: float
    infra_usd: float
    """Agents, from the start of each cold start until it stops, at ``agents.price_per_hour``,
    and hosts at ``deployment.price_per_hour`` (autoscaled: from each scale-up decision
    until the host goes)."""
    input_tokens: int
    output_tokens: int
    by_model: dict[str, float]
    by_tool: dict[str, float]


@dataclass(frozen=True, slots=True)
class Memory:
    peak_mb: float
    mean_mb: float


@dataclass(frozen=True, slots=True)
class Agents:
    mean: float
    max: float
    spawns: int
    crashes: int
    agent_seconds: float
    """Seconds agents were starting or up: what an agent-hour price is paid for."""
    utilization: float


@dataclass(frozen=True, slots=True)
class Autoscale:
    scale_ups: int
    scale_downs: int


@dataclass(frozen=True, slots=True)
class Hosts:
    """An autoscaled deployment's hosts (``deployment.autoscale``)."""

    mean: float
    """Hosts taking traffic, time-averaged over the window."""
    max: float
    host_seconds: float
    """Seconds hosts were starting, taking traffic or draining: what the host-hour
    price is paid for."""
    scale_ups: int
    scale_downs: int
    """Host autoscaler decisions in the window that added or removed hosts."""


@dataclass(frozen=True, slots=True)
class Modes:
    """Seconds in each degradation mode, and the number of mode changes."""

    optimal_s: float
    high_load_s: float
    critical_s: float
    changes: int


@dataclass(frozen=True, slots=True)
class ModeChange:
    t: float
    mode: str


@dataclass(frozen=True, slots=True)
class Queue:
    mean: float
    max: float


@dataclass(frozen=True, slots=True)
class Api:
    calls: int
    tool_calls: int
    rate_limited: int
    retries: int
    limits: dict[str, Any] = field(default_factory=dict)
    """Per rate limit (``tools`` > ``search`` > ``requests``): ``refused``, the 429s it
    gave for lack of room, and ``failed``, the calls that failed for good on them."""


@dataclass(frozen=True, slots=True)
class Cache:
    hit_rate: float
    lookups: int


@dataclass(frozen=True, slots=True)
class Wait:
    """Time in the router's queue, of the requests that entered it."""

    mean: float
    p99: float


@dataclass(frozen=True, slots=True)
class InSystem:
    mean: float
    sojourn_mean: float


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One replication's metrics, measured after the warm-up (docs/sources.md §8)."""

    model: str
    seed: int
    duration_s: float
    warmup_s: float
    replications: int
    arrived: int
    completed: int
    throughput: float
    """Successful completions per second."""
    latency: Latency
    error_rate: float
    errors: dict[str, int]
    """Failed requests by :class:`tarsim.vocabulary.Outcome`; every error cause present."""
    cost: Cost
    memory: Memory
    agents: Agents
    autoscale: Autoscale
    modes: Modes
    mode_changes: list[ModeChange]
    queue: Queue
    api: Api
    cache: Cache
    wait: Wait
    in_system: InSystem
    utilization: dict[str, float]
    """Agent slots (``agents``) and each rate limit's demand over the limit
    (``tool_search_requests``: :mod:`tarsim.demand`); above 1 a limit is demanded
    beyond what it admits."""
    unfinished: int
    events: int
    steady: dict[str, float]
    """Steady-state checks: the window's halves compared, MSER-5 (:mod:`tarsim.steady`)."""
    samples: dict[str, Any]
    """The latency sketch the pooled quantiles and their intervals are computed
    from (:func:`tarsim.intervals.sketch`); not part of the printed JSON."""
    workflow: dict[str, Any] | None = None
    """Only when a class runs a workflow: per workflow class, ``requests``,
    ``seconds`` by phase (agent-seconds per request: routing, queueing, spawning,
    llm, tools, work, join) and ``branches`` taken; and ``subagents`` in flight
    (``mean``, ``max``). Absent from the JSON otherwise."""
    hosts: Hosts | None = None
    """Only with ``deployment.autoscale``: the hosts over the window. Absent from
    the JSON otherwise."""

    def tree(self) -> dict[str, Any]:
        """The ``tarsim run`` JSON object."""
        tree = asdict(self)
        for optional in ("workflow", "hosts"):
            if tree[optional] is None:
                del tree[optional]
        return tree

    def flat(self) -> dict[str, Any]:
        """Every metric under its dotted name, without the identity fields, the
        mode-change log and the latency sketch's lists: what is averaged over
        replications."""
        tree = self.tree()
        for key in (*IDENTITY_KEYS, "mode_changes"):
            del tree[key]
        return {k: v for k, v in flatten(tree).items() if not isinstance(v, list)}


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings to one level, keys joined by dots."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`flatten`."""
    tree: dict[str, Any] = {}
    for path, value in flat.items():
        node = tree
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree
