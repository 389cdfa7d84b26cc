"""Memory followed during the run: exact traces of what requests, tokens, leaks,
the garbage collector and cache entries add and take away, and the long
memory-profile runs: a leak grows memory at leak x throughput, no leak keeps it
stationary."""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy
from conftest import mmc_data, traced_model

from tarsim.components.recorder import Recorder
from tarsim.components.streams import Streams
from tarsim.components.system import System
from tarsim.config import model_from_data
from tarsim.metrics import summarize, timeseries
from tarsim.run import simulate


def memory_rows(rec):
    return [(float(t), float(b)) for t, b in rec.memory.itertuples(index=False)]


@pytest.mark.parametrize(("reclaim", "expected"), [
    (1.0, [(0.0, 1000.0), (0.0, 1500.0), (1.0, 1600.0), (3.0, 1610.0), (5.0, 1510.0),
           (8.0, 1610.0), (10.0, 1620.0)]),
    (0.5, [(0.0, 1000.0), (0.0, 1500.0), (1.0, 1600.0), (3.0, 1610.0), (5.0, 1560.0),
           (8.0, 1660.0), (10.0, 1635.0), (10.0, 1645.0)]),
])
def test_garbage_collection_and_leak_trace(tmp_path, reclaim, expected):
    """Base 1000 B, the agent 500 B, 100 B per request, a 10 B leak, a collector
    every 5 s. The request 1-3 holds 100 B; at release its 100 B become garbage
    and 10 B leak (1610); the collector at 5 returns *reclaim* of the garbage.
    The request 8-10 ends just after the collector's look at 10 (whose timer was
    set first); the leak is never returned."""
    model = traced_model(tmp_path, [1.0, 8.0], roles={"server": {"work": 2.0}},
                         memory={"base": 1000, "per_agent": 500, "per_request": 100,
                                 "leak_per_request": 10,
                                 "gc": {"interval": 5, "reclaim": reclaim}})
    rec = simulate(model, duration=9.0, warmup=0.0, seed=1)
    assert memory_rows(rec) == expected


@pytest.mark.parametrize(("streaming", "held"), [(False, 1500.0), (True, 1000.0)])
def test_tokens_buffering_and_streaming(tmp_path, streaming, held):
    """10 B per token: after its step (one 1 s call of 100 input and 50 output
    tokens) a buffering agent holds 150 tokens (1500 B) on top of the request's
    100 B; a streaming one only the input's 100 (1000 B). All is freed at release.
    The peak in the summary is the same number, in MB."""
    model = traced_model(
        tmp_path, [1.0],
        roles={"server": {"llm": "m", "input_tokens": 100, "output_tokens": 50}},
        llms={"m": {"first_token": 1.0}},
        memory={"per_request": 100, "per_token": 10, "streaming": streaming})
    rec = simulate(model, duration=2.5, warmup=0.0, seed=1)
    assert memory_rows(rec) == [(0.0, 0.0), (0.0, 0.0), (1.0, 100.0), (2.0, 100.0 + held),
                                (2.0, 0.0)]
    assert summarize(rec)["memory"]["peak_mb"] == pytest.approx((100.0 + held) / 1e6)


def test_cache_entries_count_and_can_crash(tmp_path):
    """The cache's entries (read through ``MemoryTracker.cache_entries``) add
    per_cache_entry each to the process; past the process limit the agent
    holding most memory crashes (here the only one)."""
    model = traced_model(tmp_path, [100.0], agents={"count": 1, "spawn": 1.0},
                         memory={"base": 100, "per_agent": 50, "per_cache_entry": 20,
                                 "limit": 250})
    env = simpy.Environment()
    recorder = Recorder()
    system = System(env, model, Streams(1, 0), recorder, horizon=200.0)
    assert system.memory is not None
    system.memory.cache_entries(3)
    assert system.memory.total == 100 + 50 + 60
    system.memory.cache_entries(3)  # 270 > 250: the agent crashes, its 50 B go
    assert system.memory.total == 100 + 120
    assert recorder.agent_columns()["event"].tolist() == ["up", "crash", "spawn"]


def profile_model(leak: float):
    """Poisson 10 req/s, 0.5 s of work, 20 slots (no queueing: ~5 busy), 1000 B
    per request in a slot and *leak* B left behind by each."""
    return model_from_data({
        "workload": {"arrivals": {"kind": "poisson", "rate": 10},
                     "classes": [{"name": "job", "steps": ["server"]}]},
        "agents": {"count": 1, "concurrency": 20},
        "roles": {"server": {"work": 0.5}},
        "memory": {"base": 4e6, "per_agent": 1e6, "per_request": 1000,
                   "leak_per_request": leak},
    }, base_dir=".")


def fitted_slope(rec) -> float:
    """The least-squares slope of per-second memory (bytes per second)."""
    series = timeseries(rec)
    return float(np.polyfit(series["t"] + 0.5, series["memory_mb"] * 1e6, 1)[0])


LAM, T, LEAK = 10.0, 600.0, 100.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_leak_grows_memory_linearly(seed):
    """Memory grows at leak x throughput = 100 B x 10/s = 1000 B/s. The fitted
    slope of a Poisson counting process over [0, T] has variance 6 lambda / (5 T)
    (0.02 here, sd 1.4 % of lambda), so 5 % is 3.5 sd; the stationary in-slot part
    adds far less."""
    slope = fitted_slope(simulate(profile_model(LEAK), duration=T, warmup=0.0, seed=seed))
    assert slope == pytest.approx(LEAK * LAM, rel=0.05)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_leak_is_stationary(seed):
    """Without a leak memory is base + agent + 1000 B x busy slots, a stationary
    M/D/inf level (variance 5 x 1000^2 B^2, correlated over 0.5 s): its fitted
    slope over 600 s has sd sqrt(12 x 5e6 x 0.5 / 600^3) = 0.37 B/s, so the
    fitted drift over the whole run stays below one request's 1000 B (4.5 sd)."""
    rec = simulate(profile_model(0.0), duration=T, warmup=0.0, seed=seed)
    assert abs(fitted_slope(rec)) * T < 1000.0
    # and its mean is the theory's: 5 MB + 1000 B x lambda x 0.5 s
    mean = summarize(rec)["memory"]["mean_mb"] * 1e6
    assert mean == pytest.approx(5e6 + 1000 * LAM * 0.5, abs=4 * 1000 * math.sqrt(5 * 1.0 / T))


def test_lru_cache_entries_take_memory():
    """An LRU context cache of capacity 5 over 100 keys fills within the first few
    lookups and stays full; with 1 kB an entry, one agent of 1 MB and a 10 MB base,
    memory after the warm-up is exactly 10 MB + 1 MB + 5 x 1 kB (requests hold none)."""
    from pathlib import Path

    from tarsim.metrics import summarize
    from tarsim.run import simulate

    data = mmc_data(2.0, 4.0, 2)
    data["roles"]["server"] = {"work": 0.1, "llm": "m", "output_tokens": 10}
    data["llms"] = {"m": {"output_rate": 100}}
    data["cache"] = {"context": {"lru": {"capacity": 5}, "keys": {"count": 100, "zipf": 0.8}}}
    data["memory"] = {"base": "10MB", "per_agent": "1MB", "per_cache_entry": "1KB"}
    rec = simulate(model_from_data(data, base_dir=Path(".")), duration=60, warmup=10, seed=2)
    memory = summarize(rec)["memory"]
    assert memory["peak_mb"] == pytest.approx(11.005)
    assert memory["mean_mb"] == pytest.approx(11.005)


@pytest.mark.parametrize(("base", "reserved", "reads"), [("1MB", "5MB", 5.0),
                                                          ("6MB", "5MB", 6.5)])
def test_reserved_memory_is_a_floor(base, reserved, reads):
    """Memory reported is max(reserved, base + per_agent x agents + ...): one agent of
    0.5 MB over a 1 MB base reads as the 5 MB reserved; over a 6 MB base, 6.5 MB."""
    from pathlib import Path

    from tarsim.metrics import summarize
    from tarsim.run import simulate

    data = mmc_data(1.0, 4.0, 2)
    data["memory"] = {"base": base, "per_agent": "0.5MB", "reserved": reserved}
    rec = simulate(model_from_data(data, base_dir=Path(".")), duration=30, warmup=5, seed=1)
    memory = summarize(rec)["memory"]
    assert (memory["peak_mb"], memory["mean_mb"]) == (pytest.approx(reads),
                                                      pytest.approx(reads))
