"""Exact event traces of the hosted-API call path: retries and backoff, retry-after,
connection pools, the circuit breaker, overload errors, and the runtime controls."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import simpy

from tarsim.components.curves import Curve
from tarsim.components.providers import (
    ContextCache,
    LLMClient,
    ProviderEndpoint,
)
from tarsim.components.recorder import Recorder
from tarsim.components.requests import Request
from tarsim.components.retry import RetryPolicy
from tarsim.components.roles import RoleRunner
from tarsim.components.routing import Controls
from tarsim.components.streams import Streams
from tarsim.config.model import LLM, Provider, Role
from tarsim.config.providers import Cache, Retry


def dead_letters(recorder: Recorder) -> list[tuple[object, ...]]:
    """The recorder's dead letters as row tuples, in the order they were recorded."""
    columns = recorder.dead_letter_columns()
    return list(zip(*(v.tolist() for v in columns.values()), strict=True))


def zero() -> float:
    return 0.0


def make(spec: dict[str, Any], retry: dict[str, Any] | None = None):
    env = simpy.Environment()
    recorder = Recorder()
    provider = ProviderEndpoint(env, "p", Provider.model_validate(spec), Streams(1, 0), ".",
                        None if retry is None else Retry.model_validate(retry), recorder)
    return env, provider, recorder


def caller(env: simpy.Environment, provider: ProviderEndpoint, log: list, name: str, at: float,
           first: float = 0.0, req: Request | None = None):
    """A process that sends one call at *at* and logs (name, end time, ok, cause)."""
    req = req or Request(len(log), 0, 0, at, math.inf)

    def run():
        if at > env.now:
            yield env.timeout(at - env.now)
        ok = yield from provider.call(req, "m", lambda: first, 0.0)
        log.append((name, env.now, ok, req.outcome))

    env.process(run())
    return req


def test_retry_backoff_follows_the_formula_exactly():
    """With constant times and jitter 0, a call that always fails makes `attempts`
    tries separated by min(initial * factor**n, max): 0.5, 1.0, then 1.5 (capped),
    and its request fails with api_error carrying that history as dead letters."""
    env, provider, recorder = make(
        {"network": 1.0, "errors": {"rate": 1.0}},
        {"attempts": 4, "backoff": {"initial": 0.5, "factor": 2, "max": 1.5, "jitter": 0}},
    )
    log: list = []
    req = caller(env, provider, log, "a", 0.0)
    env.run()
    assert log == [("a", 7.0, False, "api_error")]
    assert req.retries == 3
    assert dead_letters(recorder)[:3] == [
        (0, "m", "p", 1, 0.0, 1.0, "api_error", 0.0, 0.5),
        (0, "m", "p", 2, 1.5, 2.5, "api_error", 0.0, 1.0),
        (0, "m", "p", 3, 3.5, 4.5, "api_error", 0.0, 1.5),
    ]
    last = dead_letters(recorder)[3]
    assert last[:8] == (0, "m", "p", 4, 6.0, 7.0, "api_error", 0.0) and math.isnan(last[8])


def test_sdk_default_retry_makes_three_attempts():
    """The SDK defaults (attempts 3, 0.5 s doubling, jitter 0.25): a failing call
    waits 0.375-0.5 s, then 0.75-1.0 s, and gives up after the third attempt."""
    env, provider, recorder = make({"network": 1.0, "errors": {"rate": 1.0}}, {})
    log: list = []
    caller(env, provider, log, "a", 0.0)
    env.run()
    waits = [row[8] for row in dead_letters(recorder)]
    assert len(waits) == 3 and math.isnan(waits[2])
    assert 0.375 < waits[0] <= 0.5 and 0.75 < waits[1] <= 1.0
    assert log[0][1] == pytest.approx(3.0 + waits[0] + waits[1])


def test_jitter_scales_the_delay_uniformly_within_range():
    """Backoff n is min(initial * factor**n, max) * (1 - jitter*U), U ~ U[0,1): every
    delay lies in (0.75 d, d] for jitter 0.25, and the mean factor is 0.875 within
    its 99.9% CI (sd of the factor 0.25/sqrt(12))."""
    policy = RetryPolicy(Retry.model_validate({}), np.random.default_rng(7))
    n_draws = 20_000
    for n, nominal in enumerate([0.5, 1.0, 2.0, 4.0, 8.0, 8.0]):
        factors = np.array([policy.backoff(n) / nominal for _ in range(n_draws)])
        assert (factors > 0.75).all() and (factors <= 1.0).all()
        half = 3.29 * 0.25 / math.sqrt(12) / math.sqrt(n_draws)
        assert abs(factors.mean() - 0.875) < half


def test_retry_after_is_honoured_instead_of_backoff():
    """A 1-request bucket refilling at 1/s: the second of two calls sent at t=0 gets
    a 429 whose retry-after is the 1.0 s until the bucket has room; the client waits
    exactly that (not its 0.1 s backoff) and succeeds at 1.0 + 0.2."""
    env, provider, _ = make(
        {"limits": {"requests": 1.0, "burst": 1.0, "rejected_after": 0}},
        {"attempts": 3, "backoff": {"initial": 0.1, "jitter": 0}, "honor_retry_after": 60},
    )
    log: list = []
    caller(env, provider, log, "a", 0.0, first=0.2)
    b = caller(env, provider, log, "b", 0.0, first=0.2)
    env.run()
    assert log == [("a", 0.2, True, "ok"), ("b", pytest.approx(1.2), True, "ok")]
    assert (b.rate_limited, b.retries) == (1, 1)


def test_retry_after_above_the_honour_limit_falls_back_to_backoff():
    """With honor_retry_after 0.5 s, retry-afters of 1.0, 0.9 and 0.7 s are ignored:
    the client retries after its backoff (0.1, 0.2 s), hits 429 each time, and after
    3 attempts the request fails with rate_limited."""
    env, provider, recorder = make(
        {"limits": {"requests": 1.0, "burst": 1.0, "rejected_after": 0}},
        {"attempts": 3, "backoff": {"initial": 0.1, "jitter": 0}, "honor_retry_after": 0.5},
    )
    log: list = []
    caller(env, provider, log, "a", 0.0, first=5.0)
    b = caller(env, provider, log, "b", 0.0)
    env.run()
    assert log[0] == ("b", pytest.approx(0.3), False, "rate_limited")
    assert b.rate_limited == 3
    history = [(r[3], r[4], r[6], r[7], r[8]) for r in dead_letters(recorder)]
    assert history[0] == (1, 0.0, "rate_limited", 1.0, 0.1)
    assert history[1] == pytest.approx((2, 0.1, "rate_limited", 0.9, 0.2))
    assert history[2][:4] == pytest.approx((3, 0.3, "rate_limited", 0.7))


def test_connection_pool_makes_calls_wait_for_a_connection():
    """One connection, three 1-second calls sent at t=0: they end at 1, 2 and 3."""
    env, provider, _ = make({"connections": 1})
    log: list = []
    for name in "abc":
        caller(env, provider, log, name, 0.0, first=1.0)
    env.run()
    assert [(n, t) for n, t, *_ in log] == [("a", 1.0), ("b", 2.0), ("c", 3.0)]


def test_circuit_breaker_passes_through_closed_open_half_open():
    """Breaker: 2 calls in 10 s, ratio 0.5, open 5 s, 1 probe. Failing 1-s calls at
    t=0 and 1 open it at 2; calls at 2 and 3 fail fast (circuit_open, no time);
    at 7 it is half-open, the failing probe re-opens it at 8; at 13 half-open again,
    the provider has recovered, and the probe's success closes it at 14."""
    env, provider, _ = make({"network": 1.0, "errors": {"rate": 1.0},
                             "circuit_breaker": {"failure_ratio": 0.5, "window": 10,
                                                 "min_calls": 2, "open_for": 5, "probes": 1}})
    log: list = []

    def script():
        for at in (0.0, 1.0, 2.0, 3.0, 7.0):
            yield env.timeout(at - env.now)
            req = Request(int(at), 0, 0, at, math.inf)
            ok = yield from provider.call(req, "m", zero, 0.0)
            log.append((at, env.now, ok, req.outcome))
        yield env.timeout(13.0 - env.now)
        provider.error_rate = 0.0
        req = Request(13, 0, 0, 13.0, math.inf)
        ok = yield from provider.call(req, "m", zero, 0.0)
        log.append((13.0, env.now, ok, req.outcome))

    env.process(script())
    env.run()
    assert log == [
        (0.0, 1.0, False, "api_error"), (1.0, 2.0, False, "api_error"),
        (2.0, 2.0, False, "circuit_open"), (3.0, 3.0, False, "circuit_open"),
        (7.0, 8.0, False, "api_error"), (13.0, 14.0, True, "ok"),
    ]
    assert provider.breaker is not None
    assert provider.breaker.transitions == [
        (2.0, "open"), (7.0, "half_open"), (8.0, "open"), (13.0, "half_open"), (14.0, "closed"),
    ]


def test_circuit_open_is_not_retried():
    """A call refused by an open breaker fails at once, whatever the retry policy."""
    env, provider, _ = make({"network": 1.0, "errors": {"rate": 1.0},
                             "circuit_breaker": {"min_calls": 1, "open_for": 100}},
                            {"attempts": 5, "backoff": {"initial": 0.5, "jitter": 0}})
    log: list = []
    req = caller(env, provider, log, "a", 0.0)
    env.run()
    # attempt 1 fails at 1.0 and opens the breaker; retry at 1.5 is refused at once
    assert log == [("a", 1.5, False, "circuit_open")]
    assert req.retries == 1


def test_overload_curve_interpolates_and_is_flat_beyond_its_ends():
    """The overload curve is linear between its points and flat outside them."""
    curve = Curve([(10.0, 0.0), (20.0, 0.5), (40.0, 0.9)])
    assert [curve(x) for x in (0, 10, 15, 20, 30, 40, 100)] == pytest.approx(
        [0.0, 0.0, 0.25, 0.5, 0.7, 0.9, 0.9])


def test_overload_errors_rise_with_calls_in_flight():
    """k calls sent at once see k-th in-flight loads 1..k: with the curve p(x) = x/10
    (0..10) and k = 8, the share of overloaded (api_error) attempts is the mean of
    p(1..8) = 0.45, within a 99.9% binomial CI over 4,000 rounds."""
    env, provider, _ = make({"network": 1.0, "errors": {"overload": [[0, 0.0], [10, 1.0]]}})
    failures = 0
    rounds, k = 4000, 8

    def round_():
        nonlocal failures
        reqs = [Request(i, 0, 0, env.now, math.inf) for i in range(k)]
        procs = [env.process(provider.call(r, "m", zero, 0.0)) for r in reqs]
        yield env.all_of(procs)
        failures += sum(r.outcome == "api_error" for r in reqs)

    def rounds_():
        for _ in range(rounds):
            yield env.process(round_())

    env.process(rounds_())
    env.run()
    p = np.mean([x / 10 for x in range(1, k + 1)])
    n = rounds * k
    assert abs(failures / n - p) < 3.29 * math.sqrt(p * (1 - p) / n)


def _runner(controls: Controls, context: dict[str, Any] | None = None):
    env = simpy.Environment()
    recorder = Recorder()
    streams = Streams(1, 0)
    provider = ProviderEndpoint(env, "p", None, streams, ".", None, recorder)
    clients = {
        name: LLMClient(env, name, LLM.model_validate({"price": {"input_per_mtok": 1}}),
                        provider, streams, ".", recorder)
        for name in ("haiku", "sonnet")
    }
    cache = None if context is None else ContextCache(Cache.model_validate(context), streams, ".")
    runner = RoleRunner(env, "writer", Role.model_validate({"llm": "sonnet", "input_tokens": 10}),
                        clients["sonnet"], [], streams, ".", clients=clients, context=cache,
                        controls=controls)
    return env, runner, recorder


def test_downgrade_control_switches_models_from_the_next_call():
    """Setting controls.downgrade = {sonnet: haiku} before the second call sends the
    second and third calls to haiku; clearing it sends the fourth back to sonnet."""
    controls = Controls()
    env, runner, _ = _runner(controls)
    served: list[str] = []

    def script():
        for i in range(4):
            if i == 1:
                controls.downgrade = {"sonnet": "haiku"}
            if i == 3:
                controls.downgrade = {}
            before = {name: c.billed_usd for name, c in runner.clients.items()}
            yield from runner.run(Request(i, 0, 0, env.now, math.inf))
            served.extend(name for name, c in runner.clients.items() if c.billed_usd > before[name])

    env.process(script())
    env.run()
    assert served == ["sonnet", "haiku", "haiku", "sonnet"]


def test_cache_only_control_sheds_misses_and_serves_hits():
    """With controls.cache_only on, an LLM call that misses the context cache fails
    with shed (no API call); a hit is answered from the cache after its latency."""
    for hit_rate, outcome, end in ((0.0, "shed", 0.0), (1.0, "ok", 0.005)):
        controls = Controls(cache_only=True)
        env, runner, _ = _runner(controls, {"hit_rate": hit_rate, "latency": 0.005})
        req = Request(0, 0, 0, 0.0, math.inf)
        env.process(runner.run(req))
        env.run()
        billed = sum(c.billed_usd for c in runner.clients.values())
        assert (req.outcome, env.now, req.api_calls, billed) == (outcome, end, 0, 0.0)
