"""Each scenario analysis on a small model whose answer is known by hand or by
queueing theory (Erlang B, M/M/1, M/M/1/K, token buckets, exact traces)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from conftest import mmc_data
from scenario_helpers import erlang_b, mm1k_blocking, run_one, simple


def _covers(estimate: dict[str, float], truth: float, widen: float = 2.0) -> bool:
    """The truth lies within *widen* CI half-widths of the estimate (2: the CI is
    itself estimated from few replications, and quantiles are biased at finite n)."""
    return abs(estimate["value"] - truth) <= widen * estimate["ci95"]


def test_baseline_constant_service(tmp_path: Path) -> None:
    """4 closed-loop users, 4 slots, 0.5 s of constant work: every latency is 0.5 s
    and 8 answers end per second (180 per user in [10, 100))."""
    result = run_one(tmp_path, simple(0.5, users=4, concurrency=4), {"kind": "baseline"},
                     run={"duration": 100, "warmup": 10})
    assert result.values["latency.mean"]["value"] == pytest.approx(0.5)
    assert result.values["latency.p99"]["value"] == pytest.approx(0.5)
    assert result.values["throughput"]["value"] == pytest.approx(8.0)


def test_load_point_shows_measured_beside_simulated(tmp_path: Path) -> None:
    """A load point reports the simulated throughput (N/S = 8/s by the response time
    law with no waiting) next to the measured values it was given."""
    result = run_one(tmp_path, simple(0.5, users=4, concurrency=4),
                     {"kind": "load_point", "measured": {"throughput": "7.5/s", "p99": "2.5s"}},
                     run={"duration": 100, "warmup": 10})
    assert result.values["throughput"]["value"] == pytest.approx(8.0)
    assert result.values["measured"] == {"throughput": 7.5, "p99": 2.5}
    assert "seed measured: 7.50 req/s, p99 2.50 s" in result.key


def test_agent_scaling_saturated_closed_loop(tmp_path: Path) -> None:
    """20 users against agents of 2 slots with 1 s constant work: 1 agent serves
    2/s, 5 agents 10/s, so the speed-up is exactly 5 and the efficiency 1."""
    result = run_one(tmp_path, simple(1.0, users=20, count=5, concurrency=2),
                     {"kind": "agent_scaling", "compare": 1},
                     run={"duration": 100, "warmup": 10, "replications": 2})
    assert result.values["throughput"]["compare"]["value"] == pytest.approx(2.0)
    assert result.values["throughput"]["given"]["value"] == pytest.approx(10.0)
    assert result.values["speedup"]["value"] == pytest.approx(5.0)
    assert result.values["efficiency"]["value"] == pytest.approx(1.0)


def _steps(rates: list[float], hold: float) -> dict[str, object]:
    return {"kind": "steps", "steps": [{"at": i * hold, "rate": r} for i, r in enumerate(rates)]}


def test_degradation_point_at_erlang_b_threshold(tmp_path: Path) -> None:
    """M/M/5/5 (no waiting room) with the load stepping 1, 2, 3, 4 Erlang: blocking is
    Erlang B, 3.7% at 2 and 11.0% at 3, so a 5% error threshold is first crossed in
    the third step, and the last good step offered about 2 req/s."""
    assert erlang_b(5, 2) < 0.05 < erlang_b(5, 3)
    hold = 2000.0
    model = mmc_data(1.0, 1.0, 5)
    model["workload"]["arrivals"] = _steps([1, 2, 3, 4], hold)
    model["router"] = {"queue": {"capacity": 0}}
    result = run_one(tmp_path, model, {"kind": "degradation_point", "window": hold,
                                       "error_rate": 0.05},
                     run={"duration": 4 * hold, "warmup": 0})
    assert result.values["t_s"] == pytest.approx(2 * hold)
    # Poisson counts: 6,000 arrivals in the window, sd 77, i.e. 0.04 req/s
    assert result.values["offered"] == pytest.approx(3.0, abs=0.15)
    assert result.values["last_good"] == pytest.approx(2.0, abs=0.1)
    # and the error rate of each step is Erlang B's (binomial sd < 0.007 at these counts)
    errors = result.values["windows"]["error_rate"]
    for a, measured in zip([1, 2, 3, 4], errors, strict=True):
        assert measured == pytest.approx(erlang_b(5, a), abs=0.02)


def test_degradation_point_on_mm1_p99(tmp_path: Path) -> None:
    """M/M/1 with mu = 1: the p99 of the time in system is ln(100)/(1 - rho), 6.6 s,
    9.2 s and 15.4 s at rho = 0.3, 0.5, 0.7; a 12 s threshold is first passed in the
    third step."""
    hold = 4000.0
    model = mmc_data(1.0, 1.0, 1)
    model["workload"]["arrivals"] = _steps([0.3, 0.5, 0.7], hold)
    result = run_one(tmp_path, model, {"kind": "degradation_point", "window": hold, "p99": 12},
                     run={"duration": 3 * hold, "warmup": 0})
    assert result.values["t_s"] == pytest.approx(2 * hold)
    p99 = result.values["windows"]["p99"]
    for rho, measured in zip([0.3, 0.5, 0.7], p99, strict=True):
        assert measured == pytest.approx(math.log(100) / (1 - rho), rel=0.15)


def test_memory_leak_slope_is_leak_times_rate(tmp_path: Path) -> None:
    """Deterministic arrivals at 2/s, each leaving 1,000 bytes behind on release: memory
    rises 2,000 B/s = 0.12 MB/min, and the leak is detected."""
    model = simple(0.1, rate=2.0)
    model["workload"]["arrivals"]["kind"] = "deterministic"
    model["memory"] = {"base": "1MB", "per_agent": "1MB", "leak_per_request": 1000}
    result = run_one(tmp_path, model, {"kind": "memory_leak", "window": 10},
                     run={"duration": 300, "warmup": 20})
    assert result.values["slope_mb_per_min"]["value"] == pytest.approx(0.12, rel=1e-3)
    assert result.values["expected_mb_per_min"] == pytest.approx(0.12, rel=1e-3)
    assert result.values["leak"] is True


def test_memory_without_leak_is_flat(tmp_path: Path) -> None:
    """Without a leak, memory (requests' 20 KB each, M/M/4 at rho = 0.5) is
    stationary: the slope is within two 95% CI half-widths of 0 (one half-width
    covers 0 in 95% of seeds; 18 of seeds 1-20 here), and no leak is reported."""
    model = simple({"dist": "exponential", "mean": 1.0}, rate=2.0, concurrency=4)
    model["memory"] = {"base": "1MB", "per_request": "20KB"}
    result = run_one(tmp_path, model, {"kind": "memory_leak", "window": 20},
                     run={"duration": 1000, "warmup": 100, "replications": 5})
    assert _covers(result.values["slope_mb_per_min"], 0.0)
    assert result.values["leak"] is False


def test_latency_curve_matches_mm1_p99(tmp_path: Path) -> None:
    """M/M/1 (mu = 1): p99 of the time in system is ln(100)/(1 - rho): 9.2 s at 0.5,
    23.0 s at 0.8; the second exceeds twice the first, so the knee is at 0.8."""
    result = run_one(tmp_path, mmc_data(0.5, 1.0, 1),
                     {"kind": "latency_curve", "path": "workload.arrivals.rate",
                      "values": [0.5, 0.8]},
                     run={"duration": 20000, "warmup": 1000, "replications": 5})
    for rho, point in zip([0.5, 0.8], result.values["points"], strict=True):
        assert point["load"] == rho
        assert _covers(point["p99"], math.log(100) / (1 - rho))
    assert result.values["knee"] == 0.8


def test_error_threshold_at_erlang_b_crossing(tmp_path: Path) -> None:
    """M/M/5/5 at 1..4 Erlang: the error rate at each load is Erlang B's, and the 5%
    crossing, read linearly between loads, is where the line through Erlang B at 2
    and 3 crosses 5% (within what the CIs of the two points allow)."""
    model = mmc_data(1.0, 1.0, 5)
    model["router"] = {"queue": {"capacity": 0}}
    result = run_one(tmp_path, model, {"kind": "error_threshold",
                                       "path": "workload.arrivals.rate",
                                       "values": [1, 2, 3, 4], "thresholds": [0.05]},
                     run={"duration": 5000, "warmup": 100, "replications": 4})
    points = result.values["points"]
    for a, point in zip([1, 2, 3, 4], points, strict=True):
        assert _covers(point["error_rate"], erlang_b(5, a), widen=3)
    b2, b3 = erlang_b(5, 2), erlang_b(5, 3)
    truth = 2 + (0.05 - b2) / (b3 - b2)
    slack = 2 * (points[1]["error_rate"]["ci95"] + points[2]["error_rate"]["ci95"]) / (b3 - b2)
    assert result.values["crossings"]["0.05"] == pytest.approx(truth, abs=slack)


def test_queue_limit_on_mm1k(tmp_path: Path) -> None:
    """M/M/1/K with 4 waiting places (K = 5): the share turned away with queue_full is
    (1 - rho) rho^K / (1 - rho^(K+1)) at each load; the 5% crossing lies where the
    line through the formula at 0.6 and 0.8 crosses it; the queue never holds more
    than its 4 places."""
    model = mmc_data(0.4, 1.0, 1)
    model["router"] = {"queue": {"capacity": 4}}
    result = run_one(tmp_path, model, {"kind": "queue_limit", "path": "workload.arrivals.rate",
                                       "values": [0.4, 0.6, 0.8, 1.0], "threshold": 0.05},
                     run={"duration": 20000, "warmup": 500, "replications": 3})
    shares = [p["queue_full_share"] for p in result.values["points"]]
    for rho, share in zip([0.4, 0.6, 0.8, 1.0], shares, strict=True):
        # 8,000-20,000 arrivals per replication: a binomial sd under 0.004
        assert share == pytest.approx(mm1k_blocking(rho, 5), abs=0.012)
    b6, b8 = mm1k_blocking(0.6, 5), mm1k_blocking(0.8, 5)
    assert result.values["limit"] == pytest.approx(0.6 + 0.2 * (0.05 - b6) / (b8 - b6), abs=0.06)
    assert result.values["deepest"] == 4
    assert result.values["capacity"] == 4


def test_rate_limits_admit_the_refill_rate(tmp_path: Path) -> None:
    """Calls offered at 10/s to a provider limited to 5/s (a token bucket holding 1 s),
    with no retries: in the long run the bucket admits its refill rate, so about 5
    requests/s succeed and half fail with rate_limited, each after one 429."""
    model = simple(0.0, rate=10.0, concurrency=100)
    model["roles"]["server"] = {"tools": {"api": 1}}
    model["tools"] = {"api": {"provider": "p", "work": 0.01}}
    model["providers"] = {"p": {"limits": {"requests": 5, "window": 1}}}
    result = run_one(tmp_path, model, {"kind": "rate_limits"},
                     run={"duration": 2000, "warmup": 100, "replications": 2})
    values = result.values
    window = 1900 * 2
    assert values["error_rate"] == pytest.approx(0.5, abs=0.02)
    assert values["failed_rate_limited"] == values["responses_429"]
    assert values["no_429"]["requests"] / window == pytest.approx(5.0, rel=0.02)
    assert values["limits"] == ["provider p 18,000/h"]


def test_degradation_modes_exact_trace(tmp_path: Path) -> None:
    """20 requests arrive at t = 10.05 to one slot of 1 s work: 19 wait, one fewer
    each second from 11.05. Looking every second, the controller sees 19 at t = 11
    (> 15: critical), 12 at t = 18 (<= 12: down to high_load) and 5 at t = 25
    (<= 5: optimal): 7 s critical, 7 s high_load, 26 s optimal of 40."""
    (tmp_path / "burst.csv").write_text("t\n" + "10.05\n" * 20)
    model = simple(1.0, rate=1.0)
    model["workload"]["arrivals"] = {"kind": "trace", "file": "burst.csv"}
    model["degradation"] = {
        "interval": 1,
        "high_load": {"enter": {"queue": 10}, "exit": {"queue": 5}},
        "critical": {"enter": {"queue": 15}, "exit": {"queue": 12}},
    }
    result = run_one(tmp_path, model, {"kind": "degradation_modes"},
                     run={"duration": 40, "warmup": 0})
    assert result.values["seconds"] == pytest.approx(
        {"optimal": 26.0, "high_load": 7.0, "critical": 7.0})
    assert result.values["entered"] == ["high_load", "critical"]
    assert result.values["changes"] == 3
    assert result.values["shed"] == 0


def test_spawn_latency_constant(tmp_path: Path) -> None:
    """Three users against three cold agents of one slot with a 2 s constant spawn:
    three cold starts, all begun at once, each of exactly 2 s."""
    model = simple(1.0, users=3, count=3)
    model["agents"].update({"warm": 0, "spawn": 2.0})
    result = run_one(tmp_path, model, {"kind": "spawn_latency"},
                     run={"duration": 20, "warmup": 0})
    values = result.values
    assert values["spawns"] == 3
    assert (values["min"], values["max"], values["mean"]["value"]) == (2.0, 2.0, 2.0)
    assert values["most_at_once"] == 3


def test_spawn_latency_uniform(tmp_path: Path) -> None:
    """Spawn latency uniform on [2, 3] s, 200 cold starts: all within [2, 3], the
    mean's CI covers 2.5 and the median is near 2.5 (its sd is 1/(2 sqrt 200) = 0.035)."""
    model = simple(1.0, users=50, count=50)
    model["agents"].update({"warm": 0, "spawn": {"dist": "uniform", "low": 2, "high": 3}})
    result = run_one(tmp_path, model, {"kind": "spawn_latency"},
                     run={"duration": 10, "warmup": 0, "replications": 4})
    values = result.values
    assert values["spawns"] == 200
    assert values["min"] >= 2.0 and values["max"] <= 3.0
    assert _covers(values["mean"], 2.5, widen=1)
    assert values["p50"] == pytest.approx(2.5, abs=0.11)


def test_cache_speedup_constant_latency(tmp_path: Path) -> None:
    """0.1 s of work and one 1 s LLM call of 1,000 input tokens at $1/MTok, no
    queueing: with a 30% response cache (0 s hits) the mean latency is 0.1 + 0.7 x 1
    = 0.8 s against 1.1 s, a speed-up of 1.375, and the cost per request falls by the
    hit rate, 30%."""
    model = simple(0.1, rate=1.0, concurrency=100)
    model["roles"]["server"] = {"work": 0.1, "llm": "m", "input_tokens": 1000}
    model["llms"] = {"m": {"first_token": 1.0, "price": {"input_per_mtok": 1.0}}}
    model["cache"] = {"context": {"hit_rate": 0.3}}
    result = run_one(tmp_path, model, {"kind": "cache_speedup"},
                     run={"duration": 3000, "warmup": 100, "replications": 4})
    values = result.values
    assert values["without"]["latency.mean"]["value"] == pytest.approx(1.1)
    assert _covers(values["with"]["latency.mean"], 0.8)
    assert _covers(values["speedup"], 1.1 / 0.8)
    assert _covers(values["cost_saving"], 0.3)


def test_stability_sees_a_known_drift(tmp_path: Path) -> None:
    """Poisson arrivals ramping 2 -> 6 /s over 1,000 s, served at once: throughput
    rises 0.004 /s per s, i.e. 6 %/min of its mean of 4/s; with a 1 %/min tolerance
    that is drifting."""
    model = simple(0.1, rate=1.0, concurrency=100)
    model["workload"]["arrivals"] = {"kind": "ramp", "from": 2, "to": 6, "over": 1000}
    result = run_one(tmp_path, model, {"kind": "stability", "window": 50, "tolerance": 1},
                     run={"duration": 1000, "warmup": 0, "replications": 4})
    drift = result.values["throughput"]["drift_pct_per_min"]
    assert _covers(drift, 6.0)
    assert result.values["verdict"] == "drifting"


def test_stability_of_a_stationary_queue(tmp_path: Path) -> None:
    """M/M/2 at rho = 0.5 is stationary after its warm-up: the 95% CI of every drift
    (throughput, p50, p99) covers 0."""
    result = run_one(tmp_path, mmc_data(1.0, 1.0, 2), {"kind": "stability", "window": 100},
                     run={"duration": 3000, "warmup": 200, "replications": 5})
    for series in ("throughput", "p50", "p99"):
        drift = result.values[series]["drift_pct_per_min"]
        assert abs(drift["value"]) <= drift["ci95"], series
