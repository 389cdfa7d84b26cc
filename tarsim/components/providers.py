"""Hosted APIs and tools as the requests see them: the call path of one LLM or tool call.

An LLM call lasts network latency + time to first token + output tokens /
output rate; a tool call lasts network latency + the tool's work. An attempt
fails with ``api_error`` with the provider's error probability (plus, when an
overload curve is given, an ``overloaded`` 529 whose probability rises with the
provider's calls in flight); the error arrives after the network round trip and
the time to first token, when no output has streamed. It fails with
``timeout`` when it would outlast the provider's timeout. Failed calls are not
billed.

Every call goes through :meth:`ProviderEndpoint.call`, a SimPy generator the role
``yield from``s. When the provider has no limits, connection pool, circuit
breaker, overload curve or retries, the call takes the plain path: one attempt,
no bookkeeping. Otherwise each attempt asks the circuit breaker, waits for a
connection, passes the rate limiters (provider, then model or tool) when it is
sent, and failed attempts are retried by the client's policy; a call that fails
for good fails its request with the cause and leaves its attempt history in the
recorder's dead letters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

import simpy

from tarsim.components.cache import Lookup, build_cache
from tarsim.components.circuit_breaker import Breaker
from tarsim.components.curves import Curve
from tarsim.components.pools import MeteredPool
from tarsim.components.rate_limits import RateLimiter, scoped_limits
from tarsim.components.recorder import Recorder
from tarsim.components.requests import Request
from tarsim.components.retry import RetryPolicy
from tarsim.components.sampling import Draw, batched, draw_of, zero
from tarsim.components.stations import Station
from tarsim.components.streams import Streams
from tarsim.config.model import LLM, Provider, Tool
from tarsim.config.providers import REJECT_SERVER_S, Cache, Retry
from tarsim.vocabulary import CAUSE, AttemptStatus, Scope

CallGen = Generator[simpy.Event, Any, bool]
Refusers = tuple[tuple[RateLimiter, tuple[int, ...]], ...]
AttemptGen = Generator[simpy.Event, Any, tuple[AttemptStatus, float, Refusers]]
NO_LIMITS: tuple[RateLimiter, ...] = ()
NO_REFUSERS: Refusers = ()
ATTEMPT_OK = AttemptStatus.OK
"""Bound once: the per-attempt path reads a module global several times faster
than an enum member (about 20 ns against 150 ns on CPython 3.11)."""


class ProviderEndpoint:
    """One hosted API (Anthropic, OpenAI, a search API) and its failure modes."""

    def __init__(self, env: simpy.Environment, name: str, spec: Provider | None,
                 streams: Streams, base_dir: Any, retry: Retry | None = None,
                 recorder: Recorder | None = None, deployed: bool = False) -> None:
        self.env = env
        self.name = name
        spec = spec or Provider()
        self.recorder = recorder if recorder is not None else Recorder()
        self.network: Draw = draw_of(spec.network, streams, f"provider.{name}.network",
                                     base_dir)
        self.error_rate = spec.errors.rate
        self.overload = None if spec.errors.overload is None else Curve(spec.errors.overload)
        self.slowdown = None if spec.slowdown is None else Curve(spec.slowdown)
        self.uniform: Draw = (
            batched(streams(f"provider.{name}.errors").random)
            if self.error_rate > 0 or self.overload is not None or deployed
            or spec.congestion is not None else zero
        )
        self.timeout = math.inf if spec.timeout is None else spec.timeout
        self.limits = (NO_LIMITS if spec.limits is None
                       else (RateLimiter(spec.limits, f"providers.{name}"),))
        self.scoped = scoped_limits(spec.limits, f"providers.{name}")
        if self.scoped is not None:
            self.limits = NO_LIMITS
        self.measure_from = 0.0
        """Refusals are counted for requests arriving from here on (the warm-up's end)."""
        self.pool = (None if spec.connections is None
                     else MeteredPool(env, spec.connections, 0.0, math.inf))
        congestion = spec.congestion
        self.station = (None if congestion is None or congestion.scope == Scope.MODEL
                        else Station(env, congestion, f"provider.{name}"))
        self.model_stations: dict[str, Station] | None = (
            {} if congestion is not None and congestion.scope == Scope.MODEL else None)
        self.congestion = congestion
        self.deployed = deployed
        """True: calls read their host (connection pool, call station, region network),
        as when the deployment gives hosts any of these."""
        self.breaker = (
            None if spec.circuit_breaker is None else Breaker(spec.circuit_breaker)
        )
        self.retry = (
            None if retry is None or retry.attempts == 1
            else RetryPolicy(retry, streams(f"provider.{name}.retry"))
        )
        self.managed = bool(self.limits or self.pool is not None or self.breaker is not None
                            or self.overload is not None or self.retry is not None
                            or self.slowdown is not None or congestion is not None
                            or self.scoped is not None or deployed)
        """False: every call takes the plain path (no per-attempt bookkeeping)."""
        self.in_flight = 0
        """Attempts holding a connection: the load the overload curve reads."""

    def call(self, req: Request, target: str, first: Draw, streaming: float,
             input_tokens: float = 0.0, output_tokens: float = 0.0, reserve: float = 0.0,
             limits: tuple[RateLimiter, ...] = NO_LIMITS) -> CallGen:
        """Wait out one call to *target* (a model or tool name); return True on
        success, else mark *req* failed. *first* draws the time to first byte
        beyond the network, *streaming* is the time output streams; the token
        counts feed the rate limiters (*reserve*: what a ``max_tokens`` OTPM
        limiter reserves), and *limits* are the model's or tool's own."""
        if self.managed or limits:
            own = self.limits if self.scoped is None else (self.scoped(req.host),)
            ok = yield from self._managed_call(req, target, first, streaming, input_tokens,
                                               output_tokens, reserve, own + limits)
            return ok
        env = self.env
        start = env.now
        head = self.network() + first()
        if self.error_rate > 0 and self.uniform() < self.error_rate:
            if head >= self.timeout:
                yield env.timeout(self.timeout)
                status = AttemptStatus.TIMEOUT
            else:
                yield env.timeout(head)
                status = AttemptStatus.API_ERROR
        else:
            total = head + streaming
            if total <= self.timeout:
                yield env.timeout(total)
                return True
            yield env.timeout(self.timeout)
            status = AttemptStatus.TIMEOUT
        req.failed_attempts += 1
        req.fail(CAUSE[status])
        self.recorder.dead_letter(req.id, target, self.name,
                                  [(1, start, env.now, status, 0.0, math.nan)])
        return False

    # ------------------------------------------------------------ managed path
    def _managed_call(self, req: Request, target: str, first: Draw, streaming: float,
                      input_tokens: float, output_tokens: float, reserve: float,
                      limits: tuple[RateLimiter, ...]) -> CallGen:
        env = self.env
        retry = self.retry
        attempts = 1 if retry is None else retry.attempts
        history: list[tuple[int, float, float, str, float, float]] = []
        n = 0
        while True:
            start = env.now
            status, retry_after, refusers = yield from self._attempt(
                req, target, first, streaming, input_tokens, output_tokens, reserve, limits)
            if status is ATTEMPT_OK:
                return True
            n += 1
            req.failed_attempts += 1
            if retry is None or n >= attempts or status not in retry.retried:
                history.append((n, start, env.now, status, retry_after, math.nan))
                if refusers and req.arrival >= self.measure_from:
                    for limiter, kinds in refusers:
                        for kind in kinds:
                            limiter.failed[kind] += 1
                req.fail(CAUSE[status])
                self.recorder.dead_letter(req.id, target, self.name, history)
                return False
            wait = retry.wait(n - 1, retry_after)
            history.append((n, start, env.now, status, retry_after, wait))
            req.retries += 1
            if wait > 0:
                yield env.timeout(wait)

    def _attempt(self, req: Request, target: str, first: Draw, streaming: float,
                 input_tokens: float, output_tokens: float, reserve: float,
                 limits: tuple[RateLimiter, ...]) -> AttemptGen:
        """One try: (status, retry-after in seconds (0 when none), and after a 429 the
        limiters that refused it with the kinds that lacked room)."""
        env = self.env
        host = req.host if self.deployed else None
        breaker = self.breaker
        ticket = 0
        if breaker is not None:
            admitted = breaker.admit(env.now)
            if admitted is None:
                return AttemptStatus.CIRCUIT_OPEN, 0.0, NO_REFUSERS
            ticket = admitted
        host_pool = None if host is None else host.connections
        host_connection = None
        if host_pool is not None:
            host_connection = host_pool.request()
            yield host_connection
        pool = self.pool
        connection = None
        if pool is not None:
            connection = pool.request()
            yield connection
        network = (self.network if host is None else host.network.get(self.name, self.network))()
        retry_after = 0.0
        refusers = NO_REFUSERS
        if limits:
            now = env.now
            wait = 0.0
            for limiter in limits:
                wait = max(wait, limiter.wait(now, input_tokens, reserve))
            if wait > 0:
                req.rate_limited += 1
                refusers = tuple((limiter, kinds) for limiter in limits
                                 if (kinds := limiter.lacking(now, input_tokens, reserve)))
                if req.arrival >= self.measure_from:
                    for limiter, kinds in refusers:
                        for kind in kinds:
                            limiter.refused[kind] += 1
                yield env.timeout(self._rejection(now, limits, network, input_tokens,
                                                  reserve))
                status, retry_after = AttemptStatus.RATE_LIMITED, wait
            else:
                for limiter in limits:
                    limiter.admit(now, input_tokens, reserve)
        if retry_after == 0.0:
            station = self.station
            if host is not None and host.calls is not None:
                station = host.calls
            elif self.model_stations is not None:
                station = self._model_station(target)
            status = yield from self._timed(network + first(), streaming, station)
            if limits:
                now = env.now
                produced = output_tokens if status is ATTEMPT_OK else 0.0
                for limiter in limits:
                    limiter.settle(now, reserve, produced)
        if connection is not None:
            pool.release(connection)  # type: ignore[union-attr]
        if host_connection is not None:
            host_pool.release(host_connection)  # type: ignore[union-attr]
        if breaker is not None:
            breaker.record(env.now, ticket, status)
        return status, retry_after, refusers

    def _model_station(self, target: str) -> Station:
        """The station of one model or tool (congestion scoped per model)."""
        stations = self.model_stations
        assert stations is not None and self.congestion is not None
        station = stations.get(target)
        if station is None:
            station = stations[target] = Station(self.env, self.congestion,
                                                 f"model.{target}")
        return station

    @staticmethod
    def _rejection(now: float, limits: tuple[RateLimiter, ...], network: float,
                   input_tokens: float, reserve: float) -> float:
        """How long a 429 takes: the first rejecting scope's ``rejected_after``, else
        the network's way back (half the round trip) plus the server's answer time."""
        for limiter in limits:
            if limiter.rejected_after is not None and limiter.wait(now, input_tokens, reserve):
                return limiter.rejected_after
        return 0.5 * network + REJECT_SERVER_S

    def _timed(self, head: float, streaming: float, station: Station | None = None
               ) -> Generator[simpy.Event, Any, AttemptStatus]:
        """The timed part of an admitted attempt; its status."""
        env = self.env
        self.in_flight += 1
        if self.slowdown is not None:  # congestion stretches the whole attempt
            factor = self.slowdown(self.in_flight)
            head *= factor
            streaming *= factor
        fail = self.error_rate
        if self.overload is not None:
            fail += self.overload(self.in_flight)
        if station is not None:
            fail += station.overload_probability(station.present + 1)
        status = ATTEMPT_OK
        if fail > 0:
            u = self.uniform()
            if u < fail:
                status = (AttemptStatus.API_ERROR if u < self.error_rate
                          else AttemptStatus.OVERLOADED)
        if station is not None:
            status = yield from self._served(station, head + streaming if status is ATTEMPT_OK
                                             else head, status)
        elif status is not ATTEMPT_OK:
            if head >= self.timeout:
                yield env.timeout(self.timeout)
                status = AttemptStatus.TIMEOUT
            else:
                yield env.timeout(head)
        elif head + streaming > self.timeout:
            yield env.timeout(self.timeout)
            status = AttemptStatus.TIMEOUT
        else:
            yield env.timeout(head + streaming)
        self.in_flight -= 1
        return status

    def _served(self, station: Station, work: float,
                status: AttemptStatus) -> Generator[simpy.Event, Any, AttemptStatus]:
        """An attempt's *work* served at a load-dependent station, cut off at the
        provider's timeout; its status."""
        served = yield station.serve(work, self.timeout).done
        return status if served else AttemptStatus.TIMEOUT


NO_PROVIDER = "(none)"


class LLMClient:
    """Calls to one model: its latency, its prices, its own limits, and its
    provider's call path."""

    def __init__(self, env: simpy.Environment, name: str, spec: LLM, provider: ProviderEndpoint,
                 streams: Streams, base_dir: Any, recorder: Recorder | None = None,
                 prompt_cache: Cache | None = None) -> None:
        self.name = name
        self.provider = provider
        self.recorder = recorder if recorder is not None else provider.recorder
        self.first_token: Draw = draw_of(spec.first_token, streams, f"llm.{name}.first_token",
                                         base_dir)
        self.seconds_per_token = 0.0 if spec.output_rate is None else 1.0 / spec.output_rate
        self.input_usd = spec.price.input_per_mtok / 1e6
        self.output_usd = spec.price.output_per_mtok / 1e6
        self.cache_read_usd = self.input_usd * spec.price.cache_read
        self.cache_write_usd = self.input_usd * spec.price.cache_write
        self.limits = (NO_LIMITS if spec.limits is None
                       else (RateLimiter(spec.limits, f"llms.{name}"),))
        self.scoped = scoped_limits(spec.limits, f"llms.{name}")
        self.measure_from = 0.0
        self.billed_usd = 0.0
        """USD billed for requests arriving from *measure_from* on (the warm-up's end):
        a running total rather than a row per call, to keep calls cheap."""
        self.demand = [0.0, 0.0, 0.0]
        """Calls, input tokens (as the limiters count them) and output tokens that
        requests arriving from *measure_from* on sent here, first attempts only:
        the demand on this model's and its provider's limits."""
        self.prefix = 0.0 if prompt_cache is None else prompt_cache.prefix
        self.caches_prompts = prompt_cache is not None
        self.cached_first_token: Draw = self.first_token
        if prompt_cache is not None:
            factor, draw = prompt_cache.first_token, self.first_token
            self.cached_first_token = lambda: factor * draw()

    def call(self, req: Request, input_tokens: int, output_tokens: int,
             reserve: float | None = None, prompt_hit: bool | None = None,
             carried: int = 0) -> CallGen:
        """One call; *prompt_hit* is None without prompt caching, else whether the
        prompt's cached prefix was found. *carried* of the input tokens are a
        loop's earlier rounds: with prompt caching they are read from the cache
        (billed as cache reads, not counted toward input-token limits)."""
        req.api_calls += 1
        first = self.first_token
        fresh = input_tokens
        read_usd = 0.0
        if carried and self.caches_prompts:
            fresh = input_tokens - carried
            read_usd = carried * self.cache_read_usd
        limited_in = fresh
        billed_in = fresh * self.input_usd + read_usd
        if prompt_hit is not None:
            cached = round(self.prefix * fresh)
            if prompt_hit:
                first = self.cached_first_token
                limited_in = fresh - cached  # cache reads do not count toward ITPM
                billed_in = limited_in * self.input_usd + cached * self.cache_read_usd + read_usd
            else:
                billed_in = ((fresh - cached) * self.input_usd + cached * self.cache_write_usd
                             + read_usd)
        if req.arrival >= self.measure_from:
            demand = self.demand
            demand[0] += 1.0
            demand[1] += limited_in
            demand[2] += output_tokens
        ok = yield from self.provider.call(
            req, self.name, first, output_tokens * self.seconds_per_token, limited_in,
            output_tokens, output_tokens if reserve is None else reserve,
            self.limits if self.scoped is None else (self.scoped(req.host),),
        )
        if ok:
            usd = billed_in + output_tokens * self.output_usd
            req.input_tokens += input_tokens
            req.output_tokens += output_tokens
            req.cost_usd += usd
            if req.arrival >= self.measure_from:
                self.billed_usd += usd
        return ok


class ToolClient:
    """Calls to one tool (web search, browser) through its provider, behind its
    cache if it has one."""

    def __init__(self, env: simpy.Environment, name: str, spec: Tool, provider: ProviderEndpoint,
                 streams: Streams, base_dir: Any, recorder: Recorder | None = None,
                 cache: Cache | None = None,
                 on_cache_change: Callable[[int], None] | None = None) -> None:
        self.env = env
        self.name = name
        self.provider = provider
        self.recorder = recorder if recorder is not None else provider.recorder
        self.work: Draw = draw_of(spec.work, streams, f"tool.{name}.work", base_dir)
        self.limits = (NO_LIMITS if spec.limits is None
                       else (RateLimiter(spec.limits, f"tools.{name}"),))
        self.scoped = scoped_limits(spec.limits, f"tools.{name}")
        self.usd = spec.price.per_1000_calls / 1000.0
        self.measure_from = 0.0
        self.billed_usd = 0.0
        """As :attr:`LLMClient.billed_usd`."""
        self.demand = [0.0, 0.0, 0.0]
        """As :attr:`LLMClient.demand` (calls past the cache; no tokens)."""
        self.cache: Lookup | None = None
        self.cache_latency: Draw = zero
        if cache is not None:
            self.cache = build_cache(cache, streams(f"cache.tools.{name}"), on_cache_change)
            self.cache_latency = draw_of(cache.latency, streams, f"cache.tools.{name}.latency",
                                         base_dir)

    def call(self, req: Request) -> CallGen:
        cache = self.cache
        if cache is not None:
            req.cache_lookups += 1
            if cache.lookup(self.env.now):
                req.cache_hits += 1
                latency = self.cache_latency()
                if latency > 0:
                    yield self.env.timeout(latency)
                return True
        req.tool_calls += 1
        if req.arrival >= self.measure_from:
            self.demand[0] += 1.0
        limits = self.limits if self.scoped is None else (self.scoped(req.host),)
        ok = yield from self.provider.call(req, self.name, self.work, 0.0, limits=limits)
        if ok and self.usd > 0:
            req.cost_usd += self.usd
            if req.arrival >= self.measure_from:
                self.billed_usd += self.usd
        return ok


class ContextCache:
    """The cache in front of LLM calls: a response cache (a hit skips the call) or
    prompt caching (a hit makes the call cheaper and faster)."""

    def __init__(self, spec: Cache, streams: Streams, base_dir: Any,
                 on_change: Callable[[int], None] | None = None) -> None:
        self.lookup = build_cache(spec, streams("cache.context"), on_change).lookup
        self.respond = spec.mode == "response"
        self.latency: Draw = draw_of(spec.latency, streams, "cache.context.latency", base_dir)
