"""The words tarsim's records and outputs are made of, each named once.

Request outcomes, attempt statuses, agent events and states, degradation modes,
breaker states and the run summary's metric names are string enums
(:class:`enum.StrEnum`): a member *is* its string, so records, JSON and CSV carry
the same plain values as before (``Outcome.OK == "ok"``, ``json.dumps`` writes
``"ok"``), while code refers to one definition. Every layer may import this
module; it imports nothing of tarsim.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """How a request ended, as its client saw it."""

    OK = "ok"
    TIMEOUT = "timeout"
    """The client's deadline passed first."""
    QUEUE_FULL = "queue_full"
    """No agent slot and no room in the router's queue."""
    RATE_LIMITED = "rate_limited"
    """A provider's rate limit answered 429 on every attempt."""
    API_ERROR = "api_error"
    """A provider failed every attempt (5xx, or overloaded: 529/503)."""
    CIRCUIT_OPEN = "circuit_open"
    """The provider's circuit breaker was open: the call failed fast."""
    OOM = "oom"
    """The request's agent ran out of memory and crashed."""
    SHED = "shed"
    """Backpressure or a degraded mode turned the request away."""
    UNFINISHED = "unfinished"
    """Still in the system when the run stopped (no answer to count)."""


ERROR_CAUSES: tuple[Outcome, ...] = tuple(
    o for o in Outcome if o not in (Outcome.OK, Outcome.UNFINISHED))
"""The outcomes that are errors, in the order of the run summary's ``errors``."""


class AttemptStatus(StrEnum):
    """How one attempt of one API call ended."""

    OK = "ok"
    RATE_LIMITED = "rate_limited"
    API_ERROR = "api_error"
    OVERLOADED = "overloaded"
    """529/503: the request fails as ``api_error`` when no attempt succeeds."""
    TIMEOUT = "timeout"
    CIRCUIT_OPEN = "circuit_open"


ATTEMPT_FAILURES: frozenset[AttemptStatus] = frozenset(
    s for s in AttemptStatus if s is not AttemptStatus.OK)
"""Every status of a failed attempt."""

CAUSE: dict[AttemptStatus, Outcome] = {
    AttemptStatus.RATE_LIMITED: Outcome.RATE_LIMITED,
    AttemptStatus.API_ERROR: Outcome.API_ERROR,
    AttemptStatus.OVERLOADED: Outcome.API_ERROR,
    AttemptStatus.TIMEOUT: Outcome.TIMEOUT,
    AttemptStatus.CIRCUIT_OPEN: Outcome.CIRCUIT_OPEN,
}
"""The request's failure cause for each failed attempt's status."""


class AgentEvent(StrEnum):
    """What the recorder logs about an agent."""

    SPAWN = "spawn"
    """A cold start begins."""
    UP = "up"
    """Serving."""
    DOWN = "down"
    """Stopped."""
    CRASH = "crash"
    """Out of memory: down at once, a restart follows."""
    CANCEL = "cancel"
    """A cold start called off by the autoscaler."""


class HostEvent(StrEnum):
    """What the recorder logs about a host of an autoscaled deployment."""

    START = "start"
    """The autoscaler decided to add it: its pod starts (paid from here)."""
    UP = "up"
    """Taking traffic from the balancer."""
    DRAIN = "drain"
    """Scaled down: no new requests; it goes when its last one ends."""
    DOWN = "down"
    """Gone (no longer paid)."""
    CANCEL = "cancel"
    """A start called off by the autoscaler before the host took traffic."""


class AgentState(StrEnum):
    """Where a managed agent is in its life."""

    STARTING = "starting"
    UP = "up"
    DRAINING = "draining"
    DOWN = "down"
    CRASHED = "crashed"
    CANCELLED = "cancelled"


class DegradationMode(StrEnum):
    """Degradation modes, least severe first (their order is their rank)."""

    OPTIMAL = "optimal"
    HIGH_LOAD = "high_load"
    CRITICAL = "critical"


MODES: tuple[DegradationMode, ...] = tuple(DegradationMode)
RANK: dict[DegradationMode, int] = {mode: rank for rank, mode in enumerate(MODES)}


class BreakerState(StrEnum):
    """A circuit breaker's state."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Metric(StrEnum):
    """Flat names (dotted paths) of the run summary's metrics that code refers to
    by name; :meth:`tarsim.summary.RunSummary.flat` produces every one of them. A
    sweep table's column is the same path with ``_`` for ``.`` (``column()``)."""

    ARRIVED = "arrived"
    COMPLETED = "completed"
    THROUGHPUT = "throughput"
    LATENCY_MEAN = "latency.mean"
    LATENCY_P50 = "latency.p50"
    LATENCY_P90 = "latency.p90"
    LATENCY_P95 = "latency.p95"
    LATENCY_P99 = "latency.p99"
    LATENCY_MAX = "latency.max"
    ERROR_RATE = "error_rate"
    COST_TOTAL_USD = "cost.total_usd"
    COST_PER_REQUEST_USD = "cost.per_request_usd"
    COST_PER_HOUR_USD = "cost.per_hour_usd"
    COST_TOKENS_USD = "cost.tokens_usd"
    COST_INFRA_USD = "cost.infra_usd"
    MEMORY_PEAK_MB = "memory.peak_mb"
    MEMORY_MEAN_MB = "memory.mean_mb"
    AGENTS_MEAN = "agents.mean"
    AGENTS_MAX = "agents.max"
    AGENTS_SPAWNS = "agents.spawns"
    AGENTS_CRASHES = "agents.crashes"
    AGENT_SECONDS = "agents.agent_seconds"
    AGENTS_UTILIZATION = "agents.utilization"
    QUEUE_MEAN = "queue.mean"
    QUEUE_MAX = "queue.max"
    API_CALLS = "api.calls"
    API_TOOL_CALLS = "api.tool_calls"
    API_RATE_LIMITED = "api.rate_limited"
    API_RETRIES = "api.retries"
    CACHE_HIT_RATE = "cache.hit_rate"
    WAIT_MEAN = "wait.mean"
    WAIT_P99 = "wait.p99"
    IN_SYSTEM_MEAN = "in_system.mean"
    SOJOURN_MEAN = "in_system.sojourn_mean"
    UNFINISHED = "unfinished"
    EVENTS = "events"


def error_metric(cause: Outcome | str) -> str:
    """The flat name of the count of errors of *cause*: ``errors.timeout``."""
    return f"errors.{cause}"


class Balancer(StrEnum):
    """How a deployment's load balancer picks a host for each request."""

    ROUND_ROBIN = "round_robin"
    RANDOM = "random"
    LEAST_CONNECTIONS = "least_connections"
    POWER_OF_TWO = "power_of_two"


class Scope(StrEnum):
    """Who shares a rate limit's buckets or a congestion station."""

    ORGANISATION = "organisation"
    REGION = "region"
    HOST = "host"
    PROVIDER = "provider"
    MODEL = "model"
