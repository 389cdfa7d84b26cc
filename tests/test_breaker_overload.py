"""The circuit breaker counts overload errors (529/503) as ``api_error`` failures,
as the request that gets one fails with ``api_error``."""

from __future__ import annotations

import math

import simpy

from tarsim.components.providers import ProviderEndpoint
from tarsim.components.recorder import Recorder
from tarsim.components.requests import Request
from tarsim.components.streams import Streams
from tarsim.config.model import Provider


def test_overload_errors_open_the_breaker():
    """Every attempt is overloaded (curve flat at 1); the breaker (2 calls, ratio
    0.5, counting api_error) opens at 2 after the 1-s failures at 0 and 1, so the
    call at 2 fails at once with circuit_open."""
    env = simpy.Environment()
    spec = Provider.model_validate({
        "network": 1.0, "errors": {"overload": [[0, 1.0]]},
        "circuit_breaker": {"failure_ratio": 0.5, "window": 10, "min_calls": 2,
                            "open_for": 5, "count": ["api_error"]}})
    provider = ProviderEndpoint(env, "p", spec, Streams(1, 0), ".", None, Recorder())
    log: list = []

    def script():
        for at in (0.0, 1.0, 2.0):
            yield env.timeout(at - env.now)
            req = Request(int(at), 0, 0, at, math.inf)
            ok = yield from provider.call(req, "m", lambda: 0.0, 0.0)
            log.append((at, env.now, ok, req.outcome))

    env.process(script())
    env.run()
    assert log == [(0.0, 1.0, False, "api_error"), (1.0, 2.0, False, "api_error"),
                   (2.0, 2.0, False, "circuit_open")]
    assert provider.breaker is not None
    assert provider.breaker.transitions == [(2.0, "open")]
