"""Graceful degradation: every mode transition of the controller's rule and its
hysteresis against hand-worked readings, and one exact event trace in which a
degraded mode sheds, lowers concurrency, caps output tokens and downgrades the
model, then recovers."""

from __future__ import annotations

import math

import pytest
import simpy
from conftest import request_log, traced_model

from tarsim.components.degradation import DegradationController, Reading, next_mode
from tarsim.components.providers import ProviderEndpoint
from tarsim.components.recorder import Recorder
from tarsim.components.requests import Request
from tarsim.components.streams import Streams
from tarsim.components.system import System
from tarsim.config.model import Degradation, Provider
from tarsim.config.providers import Retry
from tarsim.metrics import summarize, timeseries
from tarsim.run import simulate

BOTH = Degradation.model_validate({
    "interval": 1,
    "high_load": {"enter": {"queue": 10, "memory": 0.8, "success_rate": 0.95},
                  "exit": {"queue": 5, "memory": 0.6, "success_rate": 0.98}},
    "critical": {"enter": {"queue": 50, "memory": 0.9, "success_rate": 0.8},
                 "exit": {"queue": 20, "memory": 0.85, "success_rate": 0.9}},
})
CRITICAL_ONLY = Degradation.model_validate({
    "interval": 1, "critical": {"enter": {"queue": 50}, "exit": {"queue": 20}}})
NO_HYSTERESIS = Degradation.model_validate({"interval": 1, "high_load": {"enter": {"queue": 10}}})


def look(queue=0.0, memory=0.0, success_rate=None):
    return Reading(queue, memory, success_rate)


@pytest.mark.parametrize(("spec", "current", "reading", "expected"), [
    # entering: any condition strictly past its threshold
    (BOTH, "optimal", look(queue=10), "optimal"),
    (BOTH, "optimal", look(queue=11), "high_load"),
    (BOTH, "optimal", look(memory=0.81), "high_load"),
    (BOTH, "optimal", look(success_rate=0.94), "high_load"),
    (BOTH, "optimal", look(success_rate=None), "optimal"),
    # escalating straight to the most severe mode whose condition passes
    (BOTH, "optimal", look(queue=51), "critical"),
    (BOTH, "optimal", look(queue=0, success_rate=0.79), "critical"),
    (BOTH, "high_load", look(memory=0.95), "critical"),
    # hysteresis: between exit and enter thresholds the mode holds
    (BOTH, "high_load", look(queue=8), "high_load"),
    (BOTH, "high_load", look(queue=4, memory=0.7), "high_load"),
    (BOTH, "high_load", look(queue=4, success_rate=0.97), "high_load"),
    (BOTH, "critical", look(queue=30), "critical"),
    # leaving: every condition back on the safe side of its exit threshold
    (BOTH, "high_load", look(queue=5, memory=0.6, success_rate=0.98), "optimal"),
    (BOTH, "high_load", look(queue=0, success_rate=None), "optimal"),
    # one mode down at a time, even when the lower mode's conditions are also clear
    (BOTH, "critical", look(queue=0, memory=0.1, success_rate=1.0), "high_load"),
    (BOTH, "critical", look(queue=20), "high_load"),
    # a missing mode is skipped
    (CRITICAL_ONLY, "optimal", look(queue=51), "critical"),
    (CRITICAL_ONLY, "critical", look(queue=21), "critical"),
    (CRITICAL_ONLY, "critical", look(queue=20), "optimal"),
    # without exit thresholds, leaving happens as soon as entering would not
    (NO_HYSTERESIS, "high_load", look(queue=10), "optimal"),
    (NO_HYSTERESIS, "high_load", look(queue=11), "high_load"),
])
def test_transitions(spec, current, reading, expected):
    """next_mode escalates to the most severe mode whose enter condition passes,
    else steps down one mode when all exit conditions hold, else stays."""
    assert next_mode(spec, current, reading) == expected


def degraded_model(tmp_path, cache_only=False):
    """One agent with two slots; role calls to ``big`` stream 100 tokens at
    10/s (10 s, $2 a token); ``small`` costs $1 a token. high_load is entered
    when more than 2 requests wait and left when none does."""
    return traced_model(
        tmp_path, [0.1, 0.2, 0.3, 0.4, 0.5, 1.5, 12.0],
        classes=["gold", "gold", "bronze", "gold", "bronze", "bronze", "gold"],
        workload={"arrivals": {"kind": "trace", "file": "arrivals.csv", "class_column": "cls"},
                  "classes": [{"name": "gold", "priority": 1, "steps": ["server"]},
                              {"name": "bronze", "priority": 2, "steps": ["server"]}]},
        agents={"count": 1, "concurrency": 2},
        router={"queue": {"discipline": "priority"}},
        roles={"server": {"llm": "big", "output_tokens": 100}},
        llms={"big": {"output_rate": 10, "price": {"output_per_mtok": 2e6}},
              "small": {"output_rate": 10, "price": {"output_per_mtok": 1e6}}},
        degradation={"interval": 1, "high_load": {
            "enter": {"queue": 2}, "exit": {"queue": 0},
            "actions": {"downgrade": {"big": "small"}, "max_output_tokens": 10,
                        "shed_priority_above": 1, "concurrency": 1,
                        **({"cache_only": True} if cache_only else {})}}})


def test_degraded_mode_trace(tmp_path):
    """Gold A and B (t=0.1, 0.2) take both slots until 10.1 and 10.2. At t=1 three
    requests wait (> 2): high_load. Its actions: the waiting bronzes C and E are
    shed at 1, the bronze F arriving at 1.5 is shed on arrival; concurrency 1, so
    A's slot is dropped at 10.1 and gold D starts only when B's frees (10.2); D
    runs on ``small`` capped at 10 tokens (1 s, $10). The queue holds D (1 > 0:
    hysteresis) until 10.2, so the mode holds until the look at t=11. Gold G at 12
    runs normally again: 100 tokens on ``big``, $200."""
    rec = simulate(degraded_model(tmp_path), duration=13.0, warmup=0.0, seed=1)
    assert [(float(t), m) for t, m in rec.modes.itertuples(index=False)] == [
        (1.0, "high_load"), (11.0, "optimal")]
    assert request_log(rec, "arrival", "outcome", "dequeued", "end", "output_tokens",
                       "cost_usd") == [
        (0.1, "ok", 0.1, 10.1, 100, 200.0), (0.2, "ok", 0.2, 10.2, 100, 200.0),
        (0.3, "shed", 1.0, 1.0, 0, 0.0), (0.4, "ok", 10.2, 11.2, 10, 10.0),
        (0.5, "shed", 1.0, 1.0, 0, 0.0), (1.5, "shed", 1.5, 1.5, 0, 0.0),
        (12.0, "ok", 12.0, 22.0, 100, 200.0)]


def test_mode_time_in_summary_and_timeseries(tmp_path):
    """The summary gives 10 s in high_load (1 to 11) and the rest of the 13 s
    window in optimal, two changes; the time series marks seconds 1..10 high_load."""
    rec = simulate(degraded_model(tmp_path), duration=13.0, warmup=0.0, seed=1)
    summary = summarize(rec)
    assert summary["modes"] == {"optimal_s": 3.0, "high_load_s": 10.0, "critical_s": 0.0,
                                "changes": 2}
    assert summary["mode_changes"] == [{"t": 1.0, "mode": "high_load"},
                                       {"t": 11.0, "mode": "optimal"}]
    modes = timeseries(rec)["mode"].tolist()
    # the bin [0, 1) ends as the mode changes at 1; [11, 12) starts optimal
    assert modes == ["optimal"] + ["high_load"] * 10 + ["optimal"] * 2


def test_cache_only_switch_follows_the_mode(tmp_path):
    """``System.controls.cache_only`` (what every call reads) is True exactly
    while the mode with ``cache_only`` lasts: False at 0.5, True at 5, False at 11.5;
    with no cache to answer from, gold D (started at 10.2, in high_load) is shed, while
    G at 12 runs normally."""
    env = simpy.Environment()
    recorder = Recorder()
    model = degraded_model(tmp_path, cache_only=True)
    system = System(env, model, Streams(1, 0), recorder, horizon=13.0)
    system.start()
    seen = []
    for t in (0.5, 5.0, 11.5):
        env.run(until=t)
        seen.append(system.controls.cache_only)
    assert seen == [False, True, False]
    rec = simulate(model, duration=13.0, warmup=0.0, seed=1)
    outcomes = dict(zip(rec.requests["arrival"], rec.requests["outcome"], strict=True))
    assert (outcomes[0.4], outcomes[12.0]) == ("shed", "ok")



LONG_LOOK = Degradation.model_validate({"interval": 100, "high_load": {"enter": {"queue": 10}}})
"""A controller that does not look (and reset its counts) within the tests below."""


def success_rate_after(calls: list[tuple[Provider, Retry | None]]) -> tuple[list[str], float]:
    """Each call made in turn by its own request, through a provider of its spec
    (one provider per distinct spec); the requests' outcomes and the controller's
    API success rate once they are all observed."""
    env = simpy.Environment()
    recorder = Recorder()
    providers: dict[int, ProviderEndpoint] = {}
    controller = DegradationController(env, LONG_LOOK, queue=lambda: 0.0, memory=None,
                                       apply=lambda actions: None, recorder=recorder)
    outcomes: list[str] = []

    def script():
        for i, (spec, retry) in enumerate(calls):
            provider = providers.setdefault(id(spec), ProviderEndpoint(
                env, f"p{len(providers)}", spec, Streams(1, 0), ".", retry, recorder))
            req = Request(i, 0, 0, env.now, math.inf)
            req.api_calls = 1
            yield from provider.call(req, "m", lambda: 0.0, 0.0)
            controller.observe(req)
            outcomes.append(str(req.outcome))

    env.process(script())
    env.run(until=50.0)
    rate = controller.reading().success_rate
    assert rate is not None
    return outcomes, rate


OVERLOADED = Provider.model_validate({"network": 1.0, "errors": {"overload": [[0, 1.0]]}})
HEALTHY = Provider.model_validate({"network": 1.0})


def test_api_success_rate_counts_breaker_and_timeout_failures():
    """The controller's API success rate is failed attempts over attempts, with
    every failed attempt status. A provider whose breaker (2 calls, ratio 0.5)
    opens after two 1-s overload failures turns the third call away with
    ``circuit_open``; a fourth call, to a provider that answers after 1 s with a
    0.5-s timeout, times out. Four attempts, all failed: the rate is 0 (counting
    only requests failed by ``api_error`` or ``rate_limited`` says 1 - 2/4)."""
    breaking = Provider.model_validate({
        "network": 1.0, "errors": {"overload": [[0, 1.0]]},
        "circuit_breaker": {"failure_ratio": 0.5, "window": 10, "min_calls": 2,
                            "open_for": 5, "count": ["api_error"]}})
    slow = Provider.model_validate({"network": 1.0, "timeout": 0.5})
    outcomes, rate = success_rate_after([(breaking, None)] * 3 + [(slow, None)])
    assert outcomes == ["api_error", "api_error", "circuit_open", "timeout"]
    assert rate == 0.0


def test_api_success_rate_counts_retried_attempts():
    """A call whose three attempts all get 529 is three failed attempts; with one
    more call that succeeds at its first attempt, 1 attempt of 4 succeeded: the
    rate is 1/4 (a rate over calls would say 1 - 1/2)."""
    retry = Retry.model_validate({"attempts": 3, "on": ["api_error"],
                                  "backoff": {"initial": 0.1, "max": 0.1, "jitter": 0}})
    outcomes, rate = success_rate_after([(OVERLOADED, retry), (HEALTHY, None)])
    assert outcomes == ["api_error", "ok"]
    assert rate == 0.25
