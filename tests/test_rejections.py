"""Exact event traces of a rejected attempt's duration (429) and the two meanings of a
token bucket's ``burst``: a count of requests or seconds of refill."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import simpy

from tarsim.components.providers import ProviderEndpoint
from tarsim.components.rate_limits import RateLimiter
from tarsim.components.recorder import Recorder
from tarsim.components.requests import Request
from tarsim.components.streams import Streams
from tarsim.config.errors import ConfigError
from tarsim.config.loader import model_from_data
from tarsim.config.model import Provider as ProviderSpec
from tarsim.config.providers import REJECT_SERVER_S, Limits


def run_calls(spec: dict[str, Any], sends: list[float], first: float,
              own: dict[str, Any] | None = None) -> list[tuple[int, float, bool, str]]:
    """Send one call per entry of *sends* (its send time) through a provider built from
    *spec* with one attempt (no retries); *own* are the model's or tool's own limits.
    Returns (index, end time, ok, outcome) in the order calls end."""
    env = simpy.Environment()
    provider = ProviderEndpoint(env, "p", ProviderSpec.model_validate(spec), Streams(1, 0), ".",
                        None, Recorder())
    limits = () if own is None else (RateLimiter(Limits.model_validate(own)),)
    log: list[tuple[int, float, bool, str]] = []

    def one(i: int, at: float):
        req = Request(i, 0, 0, at, math.inf)
        if at > env.now:
            yield env.timeout(at - env.now)
        ok = yield from provider.call(req, "m", lambda: first, 0.0, limits=limits)
        log.append((i, env.now, ok, req.outcome))

    for i, at in enumerate(sends):
        env.process(one(i, at))
    env.run()
    return log


def test_default_rejection_takes_half_the_network_plus_the_server_time():
    """Network 0.2 s (constant), 1 request per second, a bucket of 1 request, first
    token 0.1 s. Of two calls sent at t=0 the first ends at 0.2 + 0.1; the second is
    refused and its 429 arrives after the way back (0.1 s) plus the server's 5 ms,
    not after a full round trip and never after the first token."""
    log = run_calls({"network": 0.2, "limits": {"requests": 1.0, "burst": 1}},
                    [0.0, 0.0], first=0.1)
    assert log == [(1, pytest.approx(0.1 + REJECT_SERVER_S), False, "rate_limited"),
                   (0, pytest.approx(0.3), True, "ok")]


def test_rejected_after_set_on_the_provider():
    """``rejected_after: 50ms`` on the provider's limits: the refused call ends at 0.05."""
    log = run_calls({"network": 0.2,
                     "limits": {"requests": 1.0, "burst": 1, "rejected_after": "50ms"}},
                    [0.0, 0.0], first=0.1)
    assert log[0] == (1, pytest.approx(0.05), False, "rate_limited")


def test_rejected_after_of_a_model_or_tool_scope():
    """The model's (or tool's) own limits refuse the call and set 30 ms: the refused
    call ends at 0.03; the provider has no limits."""
    log = run_calls({"network": 0.2}, [0.0, 0.0], first=0.1,
                    own={"requests": 1.0, "burst": 1, "rejected_after": "30ms"})
    assert log[0] == (1, pytest.approx(0.03), False, "rate_limited")


def test_the_first_refusing_scope_decides():
    """Provider limit 10/s with room, the model's 1/s full: only the model refuses, so
    its 30 ms applies, not the provider's 70 ms. With both full (provider bucket of 1)
    the provider's, first in the order, applies."""
    log = run_calls({"network": 0.2, "limits": {"requests": 10.0, "burst": 10,
                                                 "rejected_after": "70ms"}},
                    [0.0, 0.0], first=0.1,
                    own={"requests": 1.0, "burst": 1, "rejected_after": "30ms"})
    assert log[0] == (1, pytest.approx(0.03), False, "rate_limited")
    log = run_calls({"network": 0.2, "limits": {"requests": 1.0, "burst": 1,
                                                 "rejected_after": "70ms"}},
                    [0.0, 0.0], first=0.1,
                    own={"requests": 1.0, "burst": 1, "rejected_after": "30ms"})
    assert log[0] == (1, pytest.approx(0.07), False, "rate_limited")


@pytest.mark.parametrize("burst", [20, 20.0, "2s", "2000ms"])
def test_burst_as_a_count_or_as_refill_time(burst: Any):
    """10 requests/s: ``burst: 20`` (requests) and ``burst: 2s`` (2 s of refill) both
    make a bucket of 20 requests, so of 25 calls sent at t=0 exactly 20 are admitted
    and 5 refused."""
    log = run_calls({"limits": {"requests": "600/min", "burst": burst,
                                "rejected_after": 0}}, [0.0] * 25, first=1.0)
    assert sum(ok for _, _, ok, _ in log) == 20
    assert Limits.model_validate({"requests": 10, "burst": burst}).capacity_s == 2.0


def test_burst_count_with_token_limits_holds_that_many_requests_of_refill():
    """``burst: 20`` at 10 requests/s is 2 s of refill for every limiter of the scope:
    an input-token bucket at 1000 tokens/s holds 2000 tokens."""
    spec = Limits.model_validate({"requests": 10, "input_tokens": 1000, "burst": 20})
    limiter = RateLimiter(spec)
    assert limiter.input.capacity == pytest.approx(2000.0)


@pytest.mark.parametrize(("burst", "extra", "words"), [
    (20, {"input_tokens": 1000}, "no requests limit"),
    ("20", {"requests": 10}, "with its unit"),
    ("0s", {"requests": 10}, "> 0"),
    ("soon", {"requests": 10}, "count of requests"),
    (-3, {"requests": 10}, "count of requests > 0"),
])
def test_bad_bursts_are_refused_with_the_field(burst: Any, extra: dict[str, Any], words: str):
    """A count without a requests limit, a quoted number (ambiguous), a zero, a word
    and a negative count are ConfigErrors naming providers.p.limits(.burst)."""
    data = {"providers": {"p": {"limits": {**extra, "burst": burst}}}}
    with pytest.raises(ConfigError) as info:
        model_from_data(data, base_dir=Path("."))
    text = str(info.value)
    assert "providers.p.limits" in text and words in text
