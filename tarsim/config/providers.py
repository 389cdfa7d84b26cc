"""The hosted-API sections of the model format: rate limits, retries, circuit
breakers, overload errors, model mix, caches and prices.

Everything here is optional, and an absent section means "off" (no limit, one
attempt, no breaker, no cache), so models without them simulate exactly as
before. Names follow what the APIs and SDKs call things (RPM/ITPM/OTPM,
``retry-after``, ``max_tokens``); see ``docs/sources.md`` sections 1-3 for the
behaviour they model, with its sources.
"""

from __future__ import annotations

import itertools
import math
import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from tarsim.config.base import Frozen, NonNegSeconds, PosRate, PosSeconds, Probability
from tarsim.config.distributions import DurationDist, is_zero
from tarsim.config.units import parse_duration

REJECT_SERVER_S = 0.005
"""Server time to answer a 429 when ``rejected_after`` is not given: the limiter
answers before any generation, so a rejection costs about the network's way back
plus this."""
SHARE_TOLERANCE = 1e-6
"""How far the shares of a mix may sum from 1 (YAML decimals are not exact)."""


# ---------------------------------------------------------------- rate limits
def _burst(value: object) -> float | str:
    """A bucket's size as written: a count of requests (a bare number) or a duration
    with its unit (a string); anything else is refused here, with one message."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be a count of requests (a bare number such as 20) or a "
                         "duration of refill such as '2s'")
    if isinstance(value, str):
        try:
            seconds = parse_duration(value)
        except ValueError:
            raise ValueError("must be a count of requests (a bare number such as 20) or a "
                             "duration of refill such as '2s'") from None
        if re.fullmatch(r"\s*[0-9.eE+-]+\s*", value):
            raise ValueError("as a string must be a duration with its unit such as '2s'; a "
                             "bare number (no quotes) counts requests")
        if not seconds > 0:
            raise ValueError("must be > 0")
        return value
    if not (math.isfinite(value) and value > 0):
        raise ValueError("must be a finite count of requests > 0")
    return float(value)


Burst = Annotated[float | str, BeforeValidator(_burst)]


class Limits(Frozen):
    """Rate limits on one provider, model or tool: one limiter per quantity.

    ``token_bucket`` (Anthropic's documented algorithm): each bucket refills
    continuously at its rate and holds ``burst``: a bare number is a count of
    requests (the buckets hold that many requests' worth of refill, so it needs a
    ``requests`` limit), a duration (``"2s"``) is seconds of refill (default: one
    ``window``). ``fixed_window``: counts reset at every multiple of ``window``,
    as some gateways count. A call is admitted only if every limiter has room;
    otherwise it gets a 429 whose retry-after is the time until all have room.
    """

    requests: PosRate | None = None
    """RPM/RPH: calls per unit time (``4000/min``, ``10000/h``)."""
    input_tokens: PosRate | None = None
    """ITPM: uncached input tokens (prompt-cache reads do not count)."""
    output_tokens: PosRate | None = None
    """OTPM: output tokens."""
    kind: Literal["token_bucket", "fixed_window"] = "token_bucket"
    window: PosSeconds = 60.0
    """The period a limit is stated over (a bucket's default size, a fixed window's length)."""
    burst: Burst | None = None
    """Token buckets only. A bare number: how many requests a full bucket lets through
    at once (``20``); a duration: seconds of refill a bucket holds (``"1s"`` enforces
    60 RPM as 1 per second); default one window."""
    rejected_after: NonNegSeconds | None = None
    """How long a rejected attempt (429) takes from being sent to its answer; default
    half the provider's network draw (the answer's way back) plus
    ``REJECT_SERVER_S``. When several scopes reject one attempt, the first in the
    order provider, model or tool that sets it decides."""
    output_debit: Literal["max_tokens", "generated"] = "max_tokens"
    """OTPM accounting: ``max_tokens`` reserves the call's max_tokens at admission and
    refunds the unused part at the end (Anthropic until late 2025, OpenAI);
    ``generated`` debits the tokens actually produced, when they are produced
    (Anthropic 2026), and admits a call while the bucket has room for one token
    (it may then go into debt, which later calls wait out)."""
    start: Literal["full", "empty"] = "full"
    """How the limiters start: ``full`` (a fresh key: a whole bucket or window of
    room) or ``empty`` (the fluid steady state of a limit demanded beyond its rate:
    the bucket drained, the first window used up). Sweeps set ``empty`` themselves
    for a point that demands more than the limit."""
    scope: Literal["organisation", "region", "host"] = "organisation"
    """Who shares the buckets: the whole organisation (every host, the default, as API
    keys are limited), each region, or each host (see ``deployment``)."""

    @model_validator(mode="after")
    def _consistent(self) -> Limits:
        if self.requests is None and self.input_tokens is None and self.output_tokens is None:
            raise ValueError("give at least one of requests, input_tokens, output_tokens")
        if self.kind == "fixed_window" and self.burst is not None:
            raise ValueError(f"burst applies to token_bucket limits only, got {self.burst}")
        if self.burst is not None and not isinstance(self.burst, str) \
                and self.requests is None:
            raise ValueError(f"burst {self.burst:g} counts requests but this scope has no "
                             "requests limit: give burst as a duration such as '2s'")
        return self

    @property
    def capacity_s(self) -> float:
        """Seconds of refill one bucket holds."""
        if self.burst is None:
            return self.window
        if isinstance(self.burst, str):
            return parse_duration(self.burst)
        return self.burst / self.requests  # type: ignore[operator]


# ---------------------------------------------------------------- errors, breaker
SlowdownPoint = Annotated[
    tuple[Annotated[float, Field(ge=0)], Annotated[float, Field(gt=0)]],
    Field(description="[calls in flight at the provider, factor on an attempt's duration]"),
]


def increasing_loads(points: list[tuple[float, float]] | None, name: str) -> None:
    """Points of a load curve must have strictly increasing loads."""
    if points is not None:
        xs = [x for x, _ in points]
        if any(b <= a for a, b in itertools.pairwise(xs)):
            raise ValueError(f"{name} points must have strictly increasing loads, got {xs}")


OverloadPoint = Annotated[
    tuple[Annotated[float, Field(ge=0)], Probability],
    Field(description="[calls in flight at the provider, probability of a 529/503]"),
]


class CircuitBreaker(Frozen):
    """Closed -> open when, over the last ``window``, at least ``min_calls`` attempts
    were seen and ``failure_ratio`` of them failed; open -> half-open after
    ``open_for``; half-open lets ``probes`` attempts through and closes when all
    succeed, re-opens on the first failure. While open (and for calls beyond the
    probes while half-open) attempts fail at once with ``circuit_open``."""

    failure_ratio: Annotated[float, Field(gt=0, le=1)] = 0.5
    window: PosSeconds = 10.0
    min_calls: Annotated[int, Field(ge=1)] = 10
    open_for: PosSeconds = 30.0
    probes: Annotated[int, Field(ge=1)] = 1
    count: Annotated[
        tuple[Literal["api_error", "timeout", "rate_limited"], ...], Field(min_length=1)
    ] = ("api_error", "timeout")
    """Which failed attempts count as failures (``api_error`` includes overload errors;
    429s do not count by default: they are the client's own pacing, not the
    provider's health)."""


class ProviderErrors(Frozen):
    rate: Probability = 0.0
    """Probability that one attempt fails with a 5xx (``api_error``)."""
    overload: Annotated[list[OverloadPoint], Field(min_length=1)] | None = None
    """Overload errors (529/503) rising with the provider's load: points
    ``[in_flight, probability]``, linear between them, flat beyond the ends.
    In flight counts this provider's attempts that hold a connection."""

    @model_validator(mode="after")
    def _increasing(self) -> ProviderErrors:
        increasing_loads(self.overload, "overload")
        return self


# ---------------------------------------------------------------- retries
class Backoff(Frozen):
    """Delay before retry n (n = 0, 1, ...): min(initial * factor**n, max), times a
    random factor in (1 - jitter, 1], as the official SDKs do (sources §1.3)."""

    initial: NonNegSeconds = 0.5
    factor: Annotated[float, Field(ge=1)] = 2.0
    max: NonNegSeconds = 8.0
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.25

    @model_validator(mode="after")
    def _max_covers_initial(self) -> Backoff:
        if self.max < self.initial:
            raise ValueError(f"max must be >= initial ({self.initial}), got {self.max}")
        return self


class Retry(Frozen):
    """The client's retries, as in the Anthropic and OpenAI SDKs: ``attempts`` counts
    every try including the first (SDK default 3), a server's retry-after is used
    as-is when 0 < retry-after <= ``honor_retry_after``, else the backoff."""

    attempts: Annotated[int, Field(ge=1)] = 3
    backoff: Backoff = Backoff()
    honor_retry_after: NonNegSeconds = 60.0
    """0 never honours retry-after."""
    on: Annotated[
        tuple[Literal["rate_limited", "api_error", "timeout"], ...], Field(min_length=1)
    ] = ("rate_limited", "api_error", "timeout")
    """Failures that are retried (the SDKs retry 429, 5xx, 529 and timeouts)."""


# ---------------------------------------------------------------- routing
def check_shares(mix: dict[str, float] | None) -> dict[str, float] | None:
    if mix is None:
        return None
    total = math.fsum(mix.values())
    if abs(total - 1.0) > SHARE_TOLERANCE:
        raise ValueError(f"shares must sum to 1, got {total:g}")
    return mix


Share = Annotated[float, Field(ge=0, le=1)]
Mix = Annotated[dict[str, Share], Field(min_length=1)]


class Routing(Frozen):
    """Which model serves each LLM call."""

    mix: Mix | None = None
    """Share of LLM calls per model, overriding every role's ``llm`` (a role's own
    ``mix`` overrides this one)."""

    _sums = field_validator("mix")(check_shares)


# ---------------------------------------------------------------- caches
class LRU(Frozen):
    """An LRU cache of ``capacity`` entries whose entries expire ``ttl`` after their
    last use (Anthropic refreshes a prompt cache's TTL on each hit)."""

    capacity: Annotated[int, Field(ge=1)]
    ttl: PosSeconds | None = None


class Keys(Frozen):
    """What calls ask for: one of ``count`` keys, key k (1-based) with probability
    proportional to k ** -zipf (independent reference model)."""

    count: Annotated[int, Field(ge=1)]
    zipf: Annotated[float, Field(ge=0)] = 1.0


class Cache(Frozen):
    """A cache in front of calls: a given ``hit_rate``, or one that emerges from an
    ``lru`` over ``keys``.

    ``mode: response`` (default): a hit answers after ``latency`` and skips the
    call and its cost. ``mode: prompt`` (LLM calls only; prompt caching): every
    call is made; on a hit the ``prefix`` share of its input tokens is billed at
    the cache-read price and the time to first token is multiplied by
    ``first_token``; on a miss the prefix is billed at the cache-write price.
    """

    hit_rate: Probability | None = None
    lru: LRU | None = None
    keys: Keys | None = None
    latency: DurationDist = 0.0  # type: ignore[assignment]
    mode: Literal["response", "prompt"] = "response"
    prefix: Probability = 1.0
    first_token: Annotated[float, Field(ge=0, le=1)] = 1.0

    @model_validator(mode="after")
    def _one_source(self) -> Cache:
        if (self.hit_rate is None) == (self.lru is None):
            raise ValueError("give either hit_rate, or lru and keys")
        if (self.lru is None) != (self.keys is None):
            raise ValueError("lru and keys go together")
        if self.mode == "response" and (self.prefix != 1.0 or self.first_token != 1.0):
            raise ValueError("prefix and first_token apply to mode: prompt only")
        if self.mode == "prompt" and not is_zero(self.latency):
            # a prompt-cache hit still makes the call: its time is the call's own
            raise ValueError("latency applies to mode: response only")
        return self


class Caches(Frozen):
    context: Cache | None = None
    """In front of every LLM call."""
    tools: dict[str, Cache] = {}
    """In front of one tool's calls (a search-result cache), by tool name."""

    @field_validator("tools")
    @classmethod
    def _tools_cannot_prompt_cache(cls, tools: dict[str, Cache]) -> dict[str, Cache]:
        prompt = sorted(name for name, spec in tools.items() if spec.mode == "prompt")
        if prompt:
            raise ValueError(f"tool caches must use mode: response, got prompt for {prompt}")
        return tools


# ---------------------------------------------------------------- prices
class ToolPrice(Frozen):
    per_1000_calls: Annotated[float, Field(ge=0)] = 0.0
    """USD per 1,000 successful calls (Brave $5, Anthropic web search $10)."""
