"""Rate limits bind where they should: above a limit completed calls run at the
limit (judged by confidence intervals over replications), below it nothing is
rejected; and the limiters' own arithmetic in exact traces."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ROOT

from tarsim.api import run
from tarsim.components.rate_limits import FixedWindow, TokenBucket
from tarsim.config import model_from_data

DURATION, WARMUP, REPS = 420.0, 120.0, 5
"""Arrivals at twice a limit drain a full 60-second bucket in 60 s; the 120 s
warm-up leaves only the steady state, whose rate is the refill rate."""


def limited_model(rate: float, limits: dict[str, Any], *, input_tokens: float = 0,
                  output_tokens: float = 0, max_tokens: int | None = None):
    """Poisson(rate) requests, each one 0.1-second LLM call through a provider with
    *limits*; ample agent slots, no retries (a 429 fails the request)."""
    role: dict[str, Any] = {"llm": "m", "input_tokens": input_tokens,
                            "output_tokens": output_tokens}
    if max_tokens is not None:
        role["max_tokens"] = max_tokens
    data = {
        "name": "limited",
        "workload": {"arrivals": {"kind": "poisson", "rate": rate},
                     "classes": [{"name": "job", "steps": ["caller"]}]},
        "agents": {"count": 1, "concurrency": 10_000},
        "roles": {"caller": role},
        "llms": {"m": {"provider": "api", "first_token": 0.1}},
        "providers": {"api": {"limits": limits}},
    }
    return model_from_data(data, base_dir=ROOT)


def measure(model) -> dict[str, Any]:
    return run(model, duration=DURATION, warmup=WARMUP, seed=3, replications=REPS,
               keep_records=False).summary


def at_limit(value: float, half: float, limit: float) -> None:
    """*value* (a mean over replications) equals *limit* within its 95% CI half-width
    *half* plus 1%: the bucket's level at the window's two ends can differ by a few
    calls."""
    assert abs(value - limit) <= half + 0.01 * limit, (value, limit, half)


CASES = {
    # name: (offered rate, limits, role tokens, the metric, its limit)
    "requests": (20.0, {"requests": "600/min"}, {}, "throughput", 10.0),
    "input_tokens": (10.0, {"input_tokens": "6000/min"}, {"input_tokens": 20},
                     "input_tokens", 100.0),
    "output_tokens_max_tokens": (
        20.0, {"output_tokens": "6000/min", "output_debit": "max_tokens"},
        {"output_tokens": 10, "max_tokens": 20}, "output_tokens", 100.0),
    "output_tokens_generated": (
        20.0, {"output_tokens": "6000/min", "output_debit": "generated"},
        {"output_tokens": 10}, "output_tokens", 100.0),
    "requests_fixed_window": (20.0, {"requests": "600/min", "kind": "fixed_window"}, {},
                              "throughput", 10.0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_offered_load_above_a_limit_completes_at_the_limit(case: str):
    """Offered twice (or more) a request, input-token or output-token limit, the
    completed calls carry exactly the limit's rate: 10 calls/s for 600 RPM, 100
    tokens/s for 6,000 ITPM or OTPM (both OTPM accountings, since unused max_tokens
    reservations are refunded), and 10/s for a fixed window of 600 per minute."""
    rate, limits, tokens, metric, limit = CASES[case]
    summary = measure(limited_model(rate, limits, **tokens))
    window = DURATION - WARMUP
    if metric == "throughput":
        at_limit(summary["throughput"], summary["ci95"]["throughput"], limit)
    else:
        at_limit(summary["cost"][metric] / window, summary["ci95"][f"cost.{metric}"] / window,
                 limit)
    assert summary["errors"]["rate_limited"] > 0.3 * rate * window


def test_below_every_limit_nothing_is_rejected():
    """At half of each of the three limits (Poisson 5/s against 600 RPM, 6,000 ITPM
    and 6,000 OTPM with 20 tokens each way), no call gets a 429: a full one-minute
    bucket absorbs Poisson bursts far larger than any in these runs."""
    summary = measure(limited_model(
        5.0, {"requests": "600/min", "input_tokens": "6000/min", "output_tokens": "6000/min"},
        input_tokens=10, output_tokens=10))
    assert summary["api"]["rate_limited"] == 0
    assert summary["errors"]["rate_limited"] == 0
    assert summary["completed"] > 0


def test_token_bucket_refills_continuously_and_caps_at_capacity():
    """A bucket of 10 refilling at 2/s: emptied at t=0, it holds 4 at t=2 (an amount
    of 5 waits 0.5 s), and never more than 10 however long it rests."""
    bucket = TokenBucket(2.0, 10.0)
    assert bucket.wait(0.0, 10.0) == 0.0
    bucket.take(0.0, 10.0)
    assert bucket.wait(2.0, 5.0) == pytest.approx(0.5)
    assert bucket.wait(100.0, 11.0) == 0.0  # above capacity waits only for a full bucket
    bucket.take(100.0, 10.0)
    bucket.give(100.0, 30.0)
    assert bucket.level == 10.0


def test_fixed_window_resets_at_window_boundaries():
    """600 per 60-s window: the 601st call in [0, 60) waits until t=60, when the
    count starts again from zero."""
    window = FixedWindow(600.0, 60.0)
    for _ in range(600):
        assert window.wait(10.0, 1.0) == 0.0
        window.take(10.0, 1.0)
    assert window.wait(45.0, 1.0) == pytest.approx(15.0)
    assert window.wait(60.0, 1.0) == 0.0
