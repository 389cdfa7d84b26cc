"""The agent lifecycle as exact event traces with constant distributions: lazy
spawning against a warm pool, idle stops, the limit on cold starts in progress,
and out-of-memory crashes with their restarts."""

from __future__ import annotations

import pytest
from conftest import agent_log, request_log, traced_model

from tarsim.run import simulate


def run(model, duration):
    return simulate(model, duration=duration, warmup=0.0, seed=1)


# A model option that only switches on the managed pool, without changing what
# happens in these traces: the same claims must hold for both pools.
POOLS = {"plain": {}, "managed": {"idle_timeout": 1000.0}}


@pytest.mark.parametrize("pool", POOLS)
def test_warm_pool_serves_at_once(tmp_path, pool):
    """With one warm agent, requests at t=1, 2, 3 each start on arrival and end
    0.5 s later; the only agent event is the warm agent up at t=0."""
    model = traced_model(tmp_path, [1.0, 2.0, 3.0], roles={"server": {"work": 0.5}},
                         agents={"count": 1, "warm": 1, "spawn": 2.0, **POOLS[pool]})
    rec = run(model, 3.5)
    assert agent_log(rec) == [(0.0, 0, "up")]
    assert request_log(rec, "arrival", "dequeued", "end") == [
        (1.0, 1.0, 1.5), (2.0, 2.0, 2.5), (3.0, 3.0, 3.5)]


@pytest.mark.parametrize("pool", POOLS)
def test_lazy_spawning_pays_the_cold_start(tmp_path, pool):
    """With no warm agent, the first request spawns one (2 s cold start): it is
    up at t=3 and serves the queue in order, 0.5 s each: 3-3.5, 3.5-4, 4-4.5.
    The request at t=2 does not spawn a second agent: count is 1."""
    model = traced_model(tmp_path, [1.0, 2.0, 3.0], roles={"server": {"work": 0.5}},
                         agents={"count": 1, "warm": 0, "spawn": 2.0, **POOLS[pool]})
    rec = run(model, 3.5)
    assert agent_log(rec) == [(1.0, 0, "spawn"), (3.0, 0, "up")]
    assert request_log(rec, "arrival", "dequeued", "end") == [
        (1.0, 3.0, 3.5), (2.0, 3.5, 4.0), (3.0, 4.0, 4.5)]


def test_idle_agents_beyond_warm_stop(tmp_path):
    """Two requests at 0.5 and 0.75 spawn two agents (up at 2.5 and 2.75, 2 s
    cold start); each serves 1 s, idles from 3.5 and 3.75 and stops 5 s later
    (8.5, 8.75). A request at 20 spawns a new agent (id 2, up at 22)."""
    model = traced_model(tmp_path, [0.5, 0.75, 20.0],
                         agents={"count": 2, "warm": 0, "spawn": 2.0, "idle_timeout": 5.0})
    rec = run(model, 21.0)
    assert agent_log(rec) == [
        (0.5, 0, "spawn"), (0.75, 1, "spawn"), (2.5, 0, "up"), (2.75, 1, "up"),
        (8.5, 0, "down"), (8.75, 1, "down"), (20.0, 2, "spawn"), (22.0, 2, "up")]
    assert request_log(rec, "dequeued", "end") == [(2.5, 3.5), (2.75, 3.75), (22.0, 23.0)]


def test_idle_stops_keep_the_warm_count(tmp_path):
    """One warm agent, two spawnable: the request at 0.75 queues and spawns agent
    1 (up at 2.75), but agent 0 frees first (1.5) and serves it until 2.5. Agent 0
    idles from 2.5 and stops at 7.5 (two agents live, one is warm); agent 1, idle
    since 2.75, is then the last one and does not stop at 7.75."""
    model = traced_model(tmp_path, [0.5, 0.75, 9.0],
                         agents={"count": 2, "warm": 1, "spawn": 2.0, "idle_timeout": 5.0})
    rec = run(model, 9.5)
    assert agent_log(rec) == [(0.0, 0, "up"), (0.75, 1, "spawn"), (2.75, 1, "up"),
                              (7.5, 0, "down")]
    assert request_log(rec, "dequeued", "end", "agent") == [
        (0.5, 1.5, 0), (1.5, 2.5, 0), (9.0, 10.0, 1)]


def test_spawns_in_progress_are_limited(tmp_path):
    """With max_spawning 1, three queued requests want three agents, but each
    cold start (2 s) begins only when the previous one ends: 0.25-2.25,
    2.25-4.25, 4.25-6.25."""
    model = traced_model(tmp_path, [0.25, 0.5, 0.75], roles={"server": {"work": 10.0}},
                         agents={"count": 3, "warm": 0, "spawn": 2.0, "max_spawning": 1})
    rec = run(model, 1.0)
    assert agent_log(rec) == [
        (0.25, 0, "spawn"), (2.25, 1, "spawn"), (2.25, 0, "up"),
        (4.25, 2, "spawn"), (4.25, 1, "up"), (6.25, 2, "up")]
    assert request_log(rec, "dequeued") == [(2.25,), (4.25,), (6.25,)]


def test_oom_crash_fails_in_flight_requests_and_restarts(tmp_path):
    """Process limit 250 B, 100 B per request in a slot: the third concurrent
    request (t=3) takes memory to 300 B, the agent crashes, and all three of its
    requests fail with ``oom`` at t=3. It restarts after its 1 s spawn latency
    (up at 4) and serves the request at t=5 normally. Memory falls to the agent's
    own 50 B at the crash and is back at 50 B after the last request."""
    model = traced_model(
        tmp_path, [1.0, 2.0, 3.0, 5.0], roles={"server": {"work": 10.0}},
        agents={"count": 1, "concurrency": 3, "spawn": 1.0},
        memory={"base": 1000, "per_agent": 50, "per_request": 100, "limit": 1250})
    rec = run(model, 6.0)
    assert agent_log(rec) == [(0.0, 0, "up"), (3.0, 0, "crash"), (3.0, 0, "spawn"),
                              (4.0, 0, "up")]
    assert request_log(rec, "arrival", "outcome", "released", "end") == [
        (1.0, "oom", 3.0, 3.0), (2.0, "oom", 3.0, 3.0), (3.0, "oom", 3.0, 3.0),
        (5.0, "ok", 15.0, 15.0)]
    memory = [(float(t), float(b)) for t, b in rec.memory.itertuples(index=False)]
    assert memory == [(0.0, 1000.0), (0.0, 1050.0), (1.0, 1150.0), (2.0, 1250.0),
                      (3.0, 1350.0), (3.0, 1000.0), (4.0, 1050.0), (5.0, 1150.0),
                      (15.0, 1050.0)]


def test_per_agent_limit_crashes_only_that_agent(tmp_path):
    """Per-agent limit 150 B, 100 B per request: the second request on agent 1
    (taken first: free slots are a stack) crashes it at t=2, failing both of its
    requests; agent 0 is untouched and serves the request at t=3; agent 1 is
    back at 3.5 (1.5 s spawn latency)."""
    model = traced_model(
        tmp_path, [1.0, 2.0, 3.0], roles={"server": {"work": 10.0}},
        agents={"count": 2, "concurrency": 2, "spawn": 1.5},
        memory={"per_request": 100, "limit": 150, "limit_scope": "agent"})
    rec = run(model, 4.0)
    assert agent_log(rec) == [(0.0, 0, "up"), (0.0, 1, "up"), (2.0, 1, "crash"),
                              (2.0, 1, "spawn"), (3.5, 1, "up")]
    assert request_log(rec, "outcome", "end", "agent") == [
        ("oom", 2.0, 1), ("oom", 2.0, 1), ("ok", 13.0, 0)]


def test_crash_summary_counts(tmp_path):
    """The run summary counts the crash and the three ``oom`` errors."""
    from tarsim.metrics import summarize

    model = traced_model(
        tmp_path, [1.0, 2.0, 3.0], roles={"server": {"work": 10.0}},
        agents={"count": 1, "concurrency": 3, "spawn": 1.0},
        memory={"per_request": 100, "limit": 250})
    summary = summarize(run(model, 6.0))
    assert summary["errors"]["oom"] == 3
    assert summary["agents"]["crashes"] == 1
