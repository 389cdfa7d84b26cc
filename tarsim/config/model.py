"""The model format, version 1: what a YAML model file may say, as frozen pydantic models.

Names here are a contract (see models/README.md): tests, notebooks, experiments and
users' files depend on them. Every section but ``workload``, ``agents`` and
``roles`` is optional, and an absent section means "off". Rules that span
sections (a class step naming a role, a role naming an llm) are checked by
:func:`tarsim.config.references.cross_check`, which reports every broken reference with its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from tarsim.config.base import (
    Bytes,
    Frozen,
    NonNegBytes,
    PosRate,
    PosSeconds,
    Probability,
)
from tarsim.config.deployment import Congestion, Deployment
from tarsim.config.distributions import DurationDist, NumberDist
from tarsim.config.providers import (
    Caches,
    CircuitBreaker,
    Limits,
    Mix,
    ProviderErrors,
    Retry,
    Routing,
    SlowdownPoint,
    ToolPrice,
    check_shares,
    increasing_loads,
)
from tarsim.config.scaling import Autoscale
from tarsim.config.workflow import is_plain
from tarsim.config.workload import Workload

MAX_AGENTS = 100_000
"""Agent processes of one tier."""
MAX_CONCURRENCY = 10_000
"""Requests one agent serves at once."""
MAX_SLOTS = 1_000_000
"""Agents x concurrency: the slots the pool keeps account of."""
MAX_CALLS = 1_000
"""LLM or tool calls of one step of a request."""


# ---------------------------------------------------------------- router and agents
class Shedding(Frozen):
    """Backpressure: while the queue is over a threshold (``depth`` requests
    waiting, or its oldest request waiting ``wait`` or longer), the router either
    rejects each arrival (``policy: reject``) or sheds the lowest-priority request
    among those waiting and the arrival (``policy: lowest``; the largest priority
    number, the latest among equals). Either way the loser fails with ``shed``."""

    depth: Annotated[int, Field(ge=1)] | None = None
    wait: PosSeconds | None = None
    policy: Literal["reject", "lowest"] = "reject"

    @model_validator(mode="after")
    def _some_threshold(self) -> Shedding:
        if self.depth is None and self.wait is None:
            raise ValueError("give depth, wait or both")
        return self


class Queue(Frozen):
    capacity: Annotated[int, Field(ge=0)] | None = None
    """Requests that may wait for an agent slot; one more fails with ``queue_full``.
    Absent: unbounded."""
    discipline: Literal["fifo", "priority"] = "fifo"
    shed: Shedding | None = None
    """Backpressure (absent: none): see :class:`Shedding`."""


class Router(Frozen):
    """The main agent: a routing delay per request, then the queue for agent slots."""

    work: DurationDist = 0.0  # type: ignore[assignment]
    queue: Queue = Queue()


class Agents(Frozen):
    count: Annotated[int, Field(ge=1, le=MAX_AGENTS)]
    """Agent processes: the tier's size (the upper bound when autoscaling)."""
    concurrency: Annotated[int, Field(ge=1, le=MAX_CONCURRENCY)] = 1
    """Requests one agent serves at once."""
    warm: Annotated[int, Field(ge=0)] | None = None
    """Agents running at t=0 (default: all of them, or ``autoscale.min`` when
    autoscaling); more spawn on demand up to count."""
    spawn: DurationDist = 0.0  # type: ignore[assignment]
    """Cold-start latency of one agent."""
    idle_timeout: PosSeconds | None = None
    """Agents beyond the warm count stop after idling this long (absent: never)."""
    max_spawning: Annotated[int, Field(ge=1)] | None = None
    """Cold starts in progress at once; more wait their turn (absent: no limit)."""
    price_per_hour: Annotated[float, Field(ge=0)] = 0.0
    """USD per agent-hour (from spawn to stop), added to the token cost."""
    autoscale: Autoscale | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Agents:
        if self.count * self.concurrency > MAX_SLOTS:
            raise ValueError(f"count x concurrency must be <= {MAX_SLOTS:,} slots, "
                             f"got {self.count} x {self.concurrency}")
        if self.warm is not None and self.warm > self.count:
            raise ValueError(f"warm must be <= count ({self.count}), got {self.warm}")
        scale = self.autoscale
        if scale is not None:
            if scale.min > self.count:
                raise ValueError(
                    f"autoscale.min must be <= count ({self.count}), got {scale.min}")
            if self.warm is not None and self.warm < scale.min:
                raise ValueError(
                    f"warm must be >= autoscale.min ({scale.min}) when autoscaling, "
                    f"got {self.warm}")
            if self.idle_timeout is not None:
                raise ValueError("idle_timeout cannot be combined with autoscale: "
                                 "the autoscaler decides when agents stop")
        return self

    @property
    def warm_agents(self) -> int:
        if self.warm is not None:
            return self.warm
        return self.autoscale.min if self.autoscale is not None else self.count


MAX_TOKENS_PER_CALL = 10_000_000
"""Above any context window on offer (1M tokens in 2026): a larger mean is a typo."""


class Role(Frozen):
    """What one step of a request does inside its agent slot: *work* time, then
    *calls* sequential LLM calls, then the tool calls."""

    work: DurationDist = 0.0  # type: ignore[assignment]
    llm: str | None = None
    calls: Annotated[int, Field(ge=0, le=MAX_CALLS)] | None = None
    """LLM calls per step; default 1 when ``llm`` is set, else 0."""
    tools: dict[str, Annotated[int, Field(ge=0, le=MAX_CALLS)]] = {}
    input_tokens: NumberDist = 0.0  # type: ignore[assignment]
    output_tokens: NumberDist = 0.0  # type: ignore[assignment]
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    """The calls' ``max_tokens``: what an OTPM limit in ``max_tokens`` mode reserves
    (absent: the call's own output tokens, i.e. nothing is over-reserved)."""
    mix: Mix | None = None
    """This role's share of calls per model, overriding ``llm`` and ``routing.mix``."""

    @model_validator(mode="after")
    def _plausible_tokens(self) -> Role:
        for name in ("input_tokens", "output_tokens"):
            spec = getattr(self, name)
            if spec.dist == "empirical":
                continue  # its values are checked when the file is read
            if spec.mean() > MAX_TOKENS_PER_CALL:
                raise ValueError(f"{name} must average at most {MAX_TOKENS_PER_CALL:,} tokens "
                                 f"a call (no model takes more), got a mean of {spec.mean():.4g}")
        return self

    @model_validator(mode="after")
    def _calls_need_llm(self) -> Role:
        if self.llm is None and self.mix is None and self.calls:
            raise ValueError(f"calls is {self.calls} but no llm is named")
        return self

    _mix_sums = field_validator("mix")(check_shares)

    @property
    def llm_calls(self) -> int:
        if self.calls is not None:
            return self.calls
        return 1 if self.llm is not None or self.mix is not None else 0


# ---------------------------------------------------------------- llms, providers, tools
class Price(Frozen):
    input_per_mtok: Annotated[float, Field(ge=0)] = 0.0
    output_per_mtok: Annotated[float, Field(ge=0)] = 0.0
    cache_write: Annotated[float, Field(ge=0)] = 1.25
    """Prompt caching: a cache write costs this times the input price (Anthropic 5-min
    writes 1.25; OpenAI 1.0)."""
    cache_read: Annotated[float, Field(ge=0)] = 0.1
    """Prompt caching: a cache read costs this times the input price (Anthropic 0.1;
    OpenAI 0.1-0.5 by model)."""


class LLM(Frozen):
    """A hosted model: E2E = provider network + time to first token + output / rate."""

    provider: str | None = None
    price: Price = Price()
    first_token: DurationDist = 0.0  # type: ignore[assignment]
    output_rate: PosRate | None = None
    """Output tokens per second once streaming; absent: output takes no time."""
    limits: Limits | None = None
    """This model's own limits (Anthropic limits each model class separately), on top
    of its provider's."""


class Provider(Frozen):
    network: DurationDist = 0.0  # type: ignore[assignment]
    errors: ProviderErrors = ProviderErrors()
    timeout: PosSeconds | None = None
    """An attempt still running after this long fails with ``timeout``."""
    limits: Limits | None = None
    """Limits on all of this provider's calls."""
    connections: Annotated[int, Field(ge=1)] | None = None
    """Connection pool size: attempts wait for a free connection. Absent: unbounded."""
    circuit_breaker: CircuitBreaker | None = None
    congestion: Congestion | None = None
    """A load-dependent station every attempt is served at (processor sharing; see
    tarsim.config.deployment), one for the provider or one per model (``scope``)."""
    slowdown: Annotated[list[SlowdownPoint], Field(min_length=1)] | None = None
    """Congestion: each attempt's duration (network, first token, streaming) times a
    factor that depends on this provider's attempts in flight, as points
    ``[in_flight, factor]``, linear between them, flat beyond the ends."""

    @model_validator(mode="after")
    def _increasing(self) -> Provider:
        increasing_loads(self.slowdown, "slowdown")
        return self


class Tool(Frozen):
    """A tool call (web search, browser): *work* time, through a provider if named."""

    provider: str | None = None
    work: DurationDist = 0.0  # type: ignore[assignment]
    limits: Limits | None = None
    """This tool's own limits, on top of its provider's."""
    price: ToolPrice = ToolPrice()


# ---------------------------------------------------------------- memory, degradation, slo
class GarbageCollection(Frozen):
    """Memory a finished request frees is garbage until the collector runs: every
    ``interval`` it returns ``reclaim`` of the garbage (the rest survives, as in a
    generational collector, until a later run)."""

    interval: PosSeconds
    reclaim: Annotated[float, Field(gt=0, le=1)] = 1.0


class Memory(Frozen):
    """Process memory = base + per_agent x live agents + what requests in agents
    hold + cache entries + leaks, less what the collector reclaims.

    A request in an agent slot holds ``per_request`` plus ``per_token`` for each
    token of its context: its input tokens, and its output tokens unless
    ``streaming`` passes them on as they arrive (a buffering agent keeps the whole
    answer). Tokens are counted as each step ends. On release it leaves
    ``leak_per_request`` behind for good (until its agent stops or crashes).
    Past ``limit`` (per process, or per agent with ``limit_scope: agent``) the
    agent that allocated crashes: its requests fail with ``oom`` and it restarts
    after its spawn latency."""

    base: NonNegBytes = 0.0
    per_agent: NonNegBytes = 0.0
    per_request: NonNegBytes = 0.0
    per_token: NonNegBytes = 0.0
    streaming: bool = False
    per_cache_entry: NonNegBytes = 0.0
    leak_per_request: NonNegBytes = 0.0
    gc: GarbageCollection | None = None
    """Absent: freed memory returns at once."""
    limit: Annotated[Bytes, Field(gt=0)] | None = None
    limit_scope: Literal["process", "agent"] = "process"
    reserved: NonNegBytes = 0.0
    """The process never reports less than this (a runtime's reserved heap): the
    memory reported is max(reserved, the sum above). Limits act on the sum."""

    @model_validator(mode="after")
    def _limit_above_fixed(self) -> Memory:
        if self.limit is None:
            return self
        floor = self.base + self.per_agent if self.limit_scope == "process" else self.per_agent
        if self.limit <= floor:
            what = "base + per_agent" if self.limit_scope == "process" else "per_agent"
            raise ValueError(f"limit must be > {what} ({floor:g} bytes), or no agent can "
                             f"ever run; got {self.limit:g}")
        return self


class Thresholds(Frozen):
    """Conditions on what the degradation controller sees: requests waiting,
    memory as a share of its limit, and the API success rate of the last interval."""

    queue: Annotated[int, Field(ge=0)] | None = None
    memory: Annotated[float, Field(gt=0, le=1)] | None = None
    success_rate: Probability | None = None

    def given(self) -> list[str]:
        return [name for name in ("queue", "memory", "success_rate")
                if getattr(self, name) is not None]


class Actions(Frozen):
    """What a degraded mode does while it lasts; anything not listed is normal."""

    downgrade: dict[str, str] = Field(default_factory=dict)
    """Role calls to one llm go to another instead: ``{sonnet: haiku}``."""
    max_output_tokens: Annotated[int, Field(ge=1)] | None = None
    cache_only: bool = False
    """Answer only from the cache (read by the cache component)."""
    shed_priority_above: int | None = None
    """Shed requests whose priority number is above this (less urgent), waiting or new."""
    concurrency: Annotated[int, Field(ge=1)] | None = None
    """Requests one agent serves at once, lowered."""


class Mode(Frozen):
    """A degraded mode: entered when *any* ``enter`` condition passes (queue or
    memory above, success rate below its threshold); left, one mode down, when
    *every* condition is back on the safe side of its ``exit`` threshold (which
    defaults to the enter threshold: no hysteresis)."""

    enter: Thresholds
    exit: Thresholds = Thresholds()
    actions: Actions = Actions()

    @model_validator(mode="after")
    def _hysteresis(self) -> Mode:
        entered = self.enter.given()
        if not entered:
            raise ValueError("enter needs at least one of queue, memory, success_rate")
        extra = [name for name in self.exit.given() if name not in entered]
        if extra:
            raise ValueError(f"exit names {extra} but enter does not")
        for name in ("queue", "memory"):
            on, off = getattr(self.enter, name), getattr(self.exit, name)
            if on is not None and off is not None and off > on:
                raise ValueError(f"exit.{name} must be <= enter.{name} ({on}), got {off}")
        on, off = self.enter.success_rate, self.exit.success_rate
        if on is not None and off is not None and off < on:
            raise ValueError(f"exit.success_rate must be >= enter.success_rate ({on}), got {off}")
        return self

    def exit_threshold(self, name: str) -> float | None:
        value = getattr(self.exit, name)
        return getattr(self.enter, name) if value is None else value


class Degradation(Frozen):
    """Graceful degradation: every ``interval`` a controller picks the mode,
    optimal -> high_load -> critical (a mode may be left out)."""

    interval: PosSeconds
    high_load: Mode | None = None
    critical: Mode | None = None

    @model_validator(mode="after")
    def _modes(self) -> Degradation:
        if self.high_load is None and self.critical is None:
            raise ValueError("give high_load, critical or both")
        if self.high_load is not None and self.critical is not None:
            high, crit = self.high_load.enter, self.critical.enter
            for name in ("queue", "memory"):
                a, b = getattr(high, name), getattr(crit, name)
                if a is not None and b is not None and b < a:
                    raise ValueError(f"critical.enter.{name} must be >= high_load.enter.{name} "
                                     f"({a}), got {b}")
            a, b = high.success_rate, crit.success_rate
            if a is not None and b is not None and b > a:
                raise ValueError(f"critical.enter.success_rate must be <= "
                                 f"high_load.enter.success_rate ({a}), got {b}")
        return self


class SLO(Frozen):
    p99: PosSeconds | None = None
    error_rate: Probability | None = None


class Model(Frozen):
    """A whole model file."""

    name: str = "model"
    description: str | None = None
    workload: Workload
    router: Router = Router()
    agents: Agents
    roles: Annotated[dict[str, Role], Field(min_length=1)]
    llms: dict[str, LLM] = {}
    providers: dict[str, Provider] = {}
    tools: dict[str, Tool] = {}
    routing: Routing | None = None
    retry: Retry | None = None
    cache: Caches | None = None
    memory: Memory | None = None
    degradation: Degradation | None = None
    slo: SLO | None = None
    deployment: Deployment | None = None

    @model_validator(mode="after")
    def _deployment_rules(self) -> Model:
        deployment = self.deployment
        if deployment is None:
            return self
        if deployment.autoscale is not None:
            parts = ["degradation"] if self.degradation is not None else []
            parts += [f"workflow class {c.name}" for c in self.workload.classes
                      if not is_plain(c.steps)]
            if parts:
                raise ValueError(f"deployment.autoscale cannot be combined with "
                                 f"{', '.join(parts)} (hosts are scaled without them): "
                                 "remove one or the other")
        if self.degradation is not None and deployment.host_count > 1:
            raise ValueError("degradation is modelled for one host: give deployment.hosts 1 "
                             "or remove degradation")
        flows = [c.name for c in self.workload.classes if not is_plain(c.steps)]
        if flows and deployment.host_count > 1:
            raise ValueError("workflows are modelled for one host: give deployment.hosts 1, "
                             f"or plain steps to classes {flows}")
        congested = [name for name, p in self.providers.items() if p.congestion is not None]
        if deployment.congestion is not None and congested:
            raise ValueError("congestion lives in one place: deployment.congestion (per host) "
                             f"or providers' congestion, not both (providers {congested})")
        return self

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @property
    def base_dir(self) -> Path:
        """The folder that relative data-file paths (traces, empirical CSVs) start from."""
        return self._base_dir
