"""Demand on every limit, read from a run's own records (tarsim.demand): each
run's utilisation of its rate limits, and the bottleneck chosen from it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from conftest import mmc_data

from tarsim.api import run
from tarsim.config import model_from_data

ROOT = Path(__file__).resolve().parent.parent


def _limited(rate: float) -> dict:
    """Poisson(*rate*) requests, each one call to model m (100 input tokens, 10 output)
    and one call to tool t, behind limits the test reads against."""
    data = mmc_data(rate, 10.0, 50)
    data["roles"]["server"].update(llm="m", tools={"t": 1}, input_tokens=100,
                                   output_tokens=10)
    data["llms"] = {"m": {"provider": "p", "first_token": 0.01,
                          "limits": {"requests": 40, "input_tokens": 4000}}}
    data["providers"] = {"p": {"limits": {"output_tokens": 1000}}}
    data["tools"] = {"t": {"work": 0.01, "limits": {"requests": 10}}}
    return data


def test_each_limit_reports_its_demand_over_the_limit() -> None:
    """20 req/s, each sending one call of 100 input / 10 output tokens to m and one
    call to t: by hand m's request limit is demanded at 20/40 = 0.5, its input-token
    limit at 2000/4000 = 0.5, the provider's output-token limit at 200/1000 = 0.2, and
    t's limit at 20/10 = 2.0 (demand counts first attempts, including those the limit
    refuses). The arrivals in 100 s are Poisson (sd √2000 = 2.2 %): each ratio within
    4 sd."""
    model = model_from_data(_limited(20.0), base_dir=ROOT)
    summary = run(model, duration=110.0, warmup=10.0, seed=3, keep_records=False).summary
    used = summary["utilization"]
    tolerance = 4 / math.sqrt(2000)
    assert used["llm_m_requests"] == pytest.approx(0.5, rel=tolerance)
    assert used["llm_m_input_tokens"] == pytest.approx(0.5, rel=tolerance)
    assert used["provider_p_output_tokens"] == pytest.approx(0.2, rel=tolerance)
    assert used["tool_t_requests"] == pytest.approx(2.0, rel=tolerance)
    assert summary["errors"]["rate_limited"] > 0  # the tool's limit refuses about half
    assert 0 < used["agents"] < 1


def test_a_limit_demanded_beyond_itself_is_the_bottleneck() -> None:
    """The issue's case: agents 42 % busy and an input-token bucket demanded at 231 %
    of its limit: the bottleneck is the bucket, not the agents, whichever SLO binds."""
    from tarsim.sweep.recommend import bottleneck

    limits = {"latency.p99": 3.0, "error_rate": 0.01}
    row = {"latency_p99": 2.0, "latency_p99_hi": 2.2, "error_rate": 0.15,
           "error_rate_hi": 0.17, "errors_rate_limited": 0.15, "agents_utilization": 0.42,
           "utilization_agents": 0.42, "utilization_llm_haiku_input_tokens": 2.31}
    assert bottleneck(row, limits) == ("error_rate",
                                       "llm haiku input tokens (demand 231% of limit)")


def test_zero_load_floor_is_the_request_path_without_queueing() -> None:
    """A deterministic 0.5 s step plus an exponential LLM first token (mean 0.25 s):
    with no queueing the latency is 0.5 + Exp(4), whose p99 is 0.5 + ln(100)/4 =
    1.651 s. The zero-load Monte Carlo ignores the limits and the single agent of the
    model (which would queue at 20 req/s). 2000 samples: the empirical p99 has sd
    about √(0.0099/2000)/f(q) with f(q) = 4·0.01, i.e. 0.056 s; within 4 sd."""
    from tarsim.demand import zero_load

    data = _limited(20.0)
    data["agents"] = {"count": 1, "concurrency": 1}
    data["roles"]["server"]["work"] = 0.5
    data["roles"]["server"]["tools"] = {}
    data["llms"]["m"]["first_token"] = {"dist": "exponential", "mean": 0.25}
    model = model_from_data(data, base_dir=ROOT)
    found = zero_load(model, requests=2000)
    per_request = found.per_request
    assert found.quantile(0.99) == pytest.approx(0.5 + math.log(100) / 4, abs=4 * 0.056)
    assert per_request[("llm", "m")]["requests"] == pytest.approx(1.0)
    assert per_request[("llm", "m")]["input_tokens"] == pytest.approx(100.0)


def test_runner_up_is_compared_paired_on_common_random_numbers() -> None:
    """Replications 0-2 of the recommended point give p99 1.0, 2.0, 3.0 s and the
    runner-up's 1.1, 2.2, 3.3 s (same random numbers: they move together). Paired, the
    differences 0.1, 0.2, 0.3 have mean 0.2 and t-interval half-width
    t(0.975, 2)·0.1/√3 = 4.303·0.0577 = 0.248 by hand; unpaired, the two points' own
    intervals (half-width about 2.5 each) would overlap entirely."""
    import pandas as pd

    from tarsim.sweep.recommend import paired

    recommendations = pd.DataFrame({"tier": ["t"], "point": [0], "runner_up_point": [1]})
    runs = pd.DataFrame({"point": [0, 0, 0, 1, 1, 1], "replication": [0, 1, 2, 0, 1, 2],
                         "latency_p99": [1.0, 2.0, 3.0, 1.1, 2.2, 3.3],
                         "error_rate": [0.0] * 6})
    out = paired(recommendations, runs).iloc[0]
    assert out["paired_latency_p99_diff"] == pytest.approx(0.2)
    assert out["paired_latency_p99_ci95"] == pytest.approx(4.302653 * 0.1 / math.sqrt(3))
