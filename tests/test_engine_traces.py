"""Exact event traces with constant distributions: the router, its queue, the agent
pool, on-demand spawning and the timeout paths, checked against hand-worked timelines."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import set_path

from tarsim.config import model_from_data
from tarsim.run import simulate


def build(data: dict[str, Any], base_dir: Path = Path(".")):
    return model_from_data(data, base_dir=base_dir)


def one_class(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "workload": {"arrivals": {"kind": "deterministic", "rate": 1},
                     "classes": [{"name": "job", "steps": ["server"]}]},
        "agents": {"count": 1, "concurrency": 1},
        "roles": {"server": {"work": 2.5}},
    }
    for path, value in extra.items():
        data = set_path(data, path.replace("__", "."), value)
    return data


def trace(frame: pd.DataFrame, *columns: str) -> list[tuple[Any, ...]]:
    rows = frame[list(columns)].itertuples(index=False, name=None)
    return [tuple(None if isinstance(v, float) and math.isnan(v) else v for v in row)
            for row in rows]


def test_router_work_then_fifo_queue_with_capacity() -> None:
    """Arrivals at 1, 2, 3, 4, 5 s; 0.5 s of router work; one slot busy 2.5 s per
    request; one waiting place. By hand: r0 served 1.5-4.0; r1 waits 2.5-4.0, served
    to 6.5; r2 finds the place taken at 3.5 (queue_full); r3 waits 4.5-6.5, served to
    9.0; r4 finds r3 waiting at 5.5 (queue_full)."""
    model = build(one_class(router__work=0.5, router__queue={"capacity": 1}))
    rec = simulate(model, duration=5.5, warmup=0, seed=1)
    assert trace(rec.requests, "arrival", "admitted", "dequeued", "end", "outcome") == [
        (1.0, 1.5, 1.5, 4.0, "ok"),
        (2.0, 2.5, 4.0, 6.5, "ok"),
        (3.0, 3.5, 3.5, 3.5, "queue_full"),
        (4.0, 4.5, 6.5, 9.0, "ok"),
        (5.0, 5.5, 5.5, 5.5, "queue_full"),
    ]


def test_priority_discipline_serves_lower_number_first(tmp_path: Path) -> None:
    """Four requests arrive while the one slot is busy for 1 s each: lows at 0.0, 0.1,
    0.3 and a high at 0.2. Priority order serves the high one second (at 1.0), then
    the lows in arrival order; FIFO serves in arrival order."""
    (tmp_path / "trace.csv").write_text("t,class\n0.0,low\n0.1,low\n0.2,high\n0.3,low\n")
    data = one_class()
    data["workload"] = {
        "arrivals": {"kind": "trace", "file": "trace.csv", "class_column": "class"},
        "classes": [{"name": "low", "priority": 2, "steps": ["server"]},
                    {"name": "high", "priority": 1, "steps": ["server"]}],
    }
    data["roles"]["server"]["work"] = 1.0
    starts = {}
    for discipline in ("fifo", "priority"):
        data["router"] = {"queue": {"discipline": discipline}}
        rec = simulate(build(data, tmp_path), duration=1.0, warmup=0, seed=1)
        starts[discipline] = trace(rec.requests, "arrival", "dequeued")
    assert starts["fifo"] == [(0.0, 0.0), (0.1, 1.0), (0.2, 2.0), (0.3, 3.0)]
    assert starts["priority"] == [(0.0, 0.0), (0.1, 2.0), (0.2, 1.0), (0.3, 3.0)]


def test_lazy_spawning_starts_agents_on_demand() -> None:
    """No warm agents, up to 2, spawn 2 s, work 1 s, arrivals at 1 and 2 s. r0 spawns
    agent 0 at 1 (up at 3, r0 served 3-4); r1 finds one agent already starting for one
    waiter, so spawns agent 1 at 2 (up at 4, r1 served 4-5)."""
    model = build(one_class(agents={"count": 2, "concurrency": 1, "warm": 0, "spawn": "2s"},
                            roles={"server": {"work": 1}}))
    rec = simulate(model, duration=2.5, warmup=0, seed=1)
    assert trace(rec.agents, "t", "agent", "event") == [
        (1.0, 0, "spawn"), (2.0, 1, "spawn"), (3.0, 0, "up"), (4.0, 1, "up"),
    ]
    assert trace(rec.requests, "arrival", "dequeued", "end", "agent") == [
        (1.0, 3.0, 4.0, 0), (2.0, 4.0, 5.0, 1),
    ]


def test_warm_pool_serves_at_once() -> None:
    """The same load with both agents warm: no spawns, each request served on arrival."""
    model = build(one_class(agents={"count": 2, "concurrency": 1, "spawn": "2s"},
                            roles={"server": {"work": 1}}))
    rec = simulate(model, duration=2.5, warmup=0, seed=1)
    assert trace(rec.agents, "t", "event") == [(0.0, "up"), (0.0, "up")]
    assert trace(rec.requests, "arrival", "dequeued", "end") == [(1.0, 1.0, 2.0),
                                                                  (2.0, 2.0, 3.0)]


def test_spawning_stops_at_count_and_serves_waiters_in_order() -> None:
    """One agent of 2 slots may be spawned (count 1, warm 0): four requests at 1..4 s
    with work 10 s. One spawn only (at 1, up at 3); r0, r1 start at 3; r2 and r3 wait
    for the first releases at 13."""
    model = build(one_class(agents={"count": 1, "concurrency": 2, "warm": 0, "spawn": 2},
                            roles={"server": {"work": 10}}))
    rec = simulate(model, duration=4.5, warmup=0, seed=1)
    assert trace(rec.agents, "t", "event") == [(1.0, "spawn"), (3.0, "up")]
    assert trace(rec.requests, "arrival", "dequeued", "end") == [
        (1.0, 3.0, 13.0), (2.0, 3.0, 13.0), (3.0, 13.0, 23.0), (4.0, 13.0, 23.0),
    ]


def test_timeout_in_service_and_in_queue() -> None:
    """Timeout 3 s, one slot, work 5 s, arrivals at 1 and 2. r0 is in service when its
    client gives up at 4 (timeout, end 4) but holds the slot to 6; r1 is still queued at
    its deadline 5, leaves the queue then (timeout, end 5) and never takes a slot."""
    model = build(one_class(workload__timeout="3s", roles={"server": {"work": 5}}))
    rec = simulate(model, duration=2.5, warmup=0, seed=1)
    assert trace(rec.requests, "arrival", "dequeued", "released", "end", "outcome",
                 "agent") == [
        (1.0, 1.0, 6.0, 4.0, "timeout", 0),
        (2.0, 5.0, None, 5.0, "timeout", -1),
    ]


def test_timeout_during_router_work() -> None:
    """Router work 4 s is longer than the 3 s timeout: the request never reaches the
    queue and ends, for its client, at its deadline."""
    model = build(one_class(workload__timeout="3s", router__work=4))
    rec = simulate(model, duration=1.5, warmup=0, seed=1)
    assert trace(rec.requests, "arrival", "admitted", "end", "outcome", "agent") == [
        (1.0, 5.0, 4.0, "timeout", -1),
    ]


def test_closed_loop_user_moves_on_at_its_timeout() -> None:
    """One user, no think time, timeout 3 s, work 5 s, horizon 7. r0 (t=0) times out at
    3 while served to 5; r1 (t=3) is served 5-10 and times out at 6; r2 (t=6) waits for
    the slot, leaves the queue at its deadline 9; the horizon has passed, the user stops."""
    data = one_class(workload__timeout="3s", roles={"server": {"work": 5}})
    data["workload"]["arrivals"] = {"kind": "closed", "users": 1}
    rec = simulate(build(data), duration=7, warmup=0, seed=1)
    assert trace(rec.requests, "arrival", "dequeued", "released", "end", "outcome") == [
        (0.0, 0.0, 5.0, 3.0, "timeout"),
        (3.0, 5.0, 10.0, 6.0, "timeout"),
        (6.0, 9.0, None, 9.0, "timeout"),
    ]


def test_closed_loop_think_time_paces_users() -> None:
    """Two users, think 1 s, two slots, work 2 s: each user sends at 0, 3, 6 before the
    horizon of 7 (response 2 s + think 1 s)."""
    data = one_class(agents={"count": 1, "concurrency": 2}, roles={"server": {"work": 2}})
    data["workload"]["arrivals"] = {"kind": "closed", "users": 2, "think_time": "1s"}
    rec = simulate(build(data), duration=7, warmup=0, seed=1)
    assert sorted(rec.requests["arrival"].tolist()) == [0.0, 0.0, 3.0, 3.0, 6.0, 6.0]
    assert (rec.requests["end"] - rec.requests["arrival"]).tolist() == [2.0] * 6


def llm_model(**provider: Any) -> dict[str, Any]:
    data = one_class(roles={"server": {"work": 0.5, "llm": "m", "calls": 2,
                                       "input_tokens": 1000, "output_tokens": 100}})
    data["llms"] = {"m": {"provider": "p", "first_token": "0.4s", "output_rate": "50/s",
                          "price": {"input_per_mtok": 3.0, "output_per_mtok": 15.0}}}
    data["providers"] = {"p": {"network": "0.1s", **provider}}
    return data


def test_llm_call_latency_and_cost() -> None:
    """Work 0.5 s then two calls of network 0.1 + first token 0.4 + 100 tokens at
    50/s (2 s) = 2.5 s each: 5.5 s per request. Cost per call 1000 x $3/M + 100 x
    $15/M = $0.0045, so $0.009 per request, 2,000 input and 200 output tokens."""
    rec = simulate(build(llm_model()), duration=1.5, warmup=0, seed=1)
    row = rec.requests.iloc[0]
    assert row["end"] - row["arrival"] == pytest.approx(5.5)
    assert row["cost_usd"] == pytest.approx(0.009)
    assert (row["input_tokens"], row["output_tokens"], row["api_calls"]) == (2000, 200, 2)


def test_api_error_fails_after_first_byte_and_is_not_billed() -> None:
    """Error probability 1: the first call fails after network + first token (0.5 s),
    i.e. at arrival + 0.5 work + 0.5; the second call is never made; nothing is billed."""
    rec = simulate(build(llm_model(errors={"rate": 1.0})), duration=1.5, warmup=0, seed=1)
    row = rec.requests.iloc[0]
    assert (row["outcome"], row["end"] - row["arrival"]) == ("api_error", pytest.approx(1.0))
    assert (row["cost_usd"], row["api_calls"]) == (0.0, 1)


def test_provider_timeout_cuts_a_long_call() -> None:
    """A provider timeout of 1 s cuts the 2.5 s call: the request fails with timeout
    1.5 s after arrival (0.5 s work + 1 s)."""
    rec = simulate(build(llm_model(timeout="1s")), duration=1.5, warmup=0, seed=1)
    row = rec.requests.iloc[0]
    assert (row["outcome"], row["end"] - row["arrival"]) == ("timeout", pytest.approx(1.5))


def test_tool_calls_follow_llm_calls() -> None:
    """A step with 0.5 s work, one 2.5 s LLM call and two 0.3 s tool calls through a
    provider with 0.1 s network lasts 0.5 + 2.5 + 2 x 0.4 = 3.8 s."""
    data = llm_model()
    data["roles"]["server"].update(calls=1, tools={"search": 2})
    data["tools"] = {"search": {"provider": "p", "work": "300ms"}}
    rec = simulate(build(data), duration=1.5, warmup=0, seed=1)
    row = rec.requests.iloc[0]
    assert row["end"] - row["arrival"] == pytest.approx(3.8)
    assert row["tool_calls"] == 2


def test_multi_step_class_holds_one_slot_for_all_steps() -> None:
    """Two steps of 1 s and 2 s in one slot: arrivals at 1 and 2 with one slot; r0 holds
    it 1-4, r1 waits until 4 and is done at 7."""
    data = one_class(roles={"a": {"work": 1}, "b": {"work": 2}})
    data["workload"]["classes"][0]["steps"] = ["a", "b"]
    rec = simulate(build(data), duration=2.5, warmup=0, seed=1)
    assert trace(rec.requests, "arrival", "dequeued", "released") == [(1.0, 1.0, 4.0),
                                                                       (2.0, 4.0, 7.0)]


def test_drain_records_unfinished_requests() -> None:
    """With no timeout and work far beyond the drain limit (60 s), the run stops at
    the limit and the request still in service is recorded as unfinished."""
    model = build(one_class(roles={"server": {"work": 1000}}))
    rec = simulate(model, duration=1.5, warmup=0, seed=1)
    assert rec.end_s == pytest.approx(61.5)
    assert trace(rec.requests, "arrival", "outcome", "end") == [(1.0, "unfinished", None)]


def test_max_tokens_caps_the_output() -> None:
    """A role drawing 500 output tokens with max_tokens 100 gets 100: the call lasts
    network 0.1 + first token 0.4 + 100/50 s = 2.5 s and bills 100 output tokens."""
    data = llm_model()
    data["roles"]["server"].update(calls=1, output_tokens=500, max_tokens=100)
    rec = simulate(build(data), duration=1.5, warmup=0, seed=1)
    row = rec.requests.iloc[0]
    assert row["end"] - row["arrival"] == pytest.approx(0.5 + 2.5)
    assert row["output_tokens"] == 100


def test_slowdown_stretches_attempts_by_calls_in_flight(tmp_path: Path) -> None:
    """Slowdown points [[1, 1], [2, 2]]: r0 (t=0) is alone at the provider, its 1 s call
    takes 1 s; r1 (t=0.5) finds r0 there, 2 in flight, so its call takes 2 s (to 2.5);
    r2 (t=3) is alone again: 1 s."""
    (tmp_path / "t.csv").write_text("t\n0\n0.5\n3\n")
    data = one_class(agents={"count": 1, "concurrency": 5},
                     roles={"server": {"llm": "m"}})
    data["workload"]["arrivals"] = {"kind": "trace", "file": "t.csv"}
    data["llms"] = {"m": {"provider": "p", "first_token": "1s"}}
    data["providers"] = {"p": {"slowdown": [[1, 1.0], [2, 2.0]]}}
    rec = simulate(build(data, tmp_path), duration=4, warmup=0, seed=1)
    assert trace(rec.requests, "arrival", "end") == [(0.0, 1.0), (0.5, 2.5), (3.0, 4.0)]
