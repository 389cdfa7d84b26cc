"""Backpressure in the router's queue, as exact event traces: each shedding rule
(depth or wait threshold; reject the arrival, or shed the lowest priority) turns
away exactly the requests a hand trace says, with the error ``shed``."""

from __future__ import annotations

from conftest import request_log, traced_model

from tarsim.run import simulate

CLASSES = [
    {"name": "gold", "priority": 1, "steps": ["server"]},
    {"name": "bronze", "priority": 2, "steps": ["server"]},
]


def shed_model(tmp_path, times, shed, classes=None, discipline="priority"):
    return traced_model(
        tmp_path, times, classes=classes,
        workload={"arrivals": {"kind": "trace", "file": "arrivals.csv", "class_column": "cls"},
                  "classes": CLASSES if classes else [{"name": "job", "steps": ["server"]}]},
        roles={"server": {"work": 10.0}},
        agents={"count": 1},
        router={"queue": {"discipline": discipline, "shed": shed}})


def outcomes(rec):
    return request_log(rec, "arrival", "outcome", "end")


def test_depth_reject(tmp_path):
    """Depth 2, reject: the request at t=1 is served (1-11), those at 2 and 3
    wait, and those at 4 and 5 find two waiting and are shed on arrival."""
    model = shed_model(tmp_path, [1.0, 2.0, 3.0, 4.0, 5.0], {"depth": 2})
    rec = simulate(model, duration=6.0, warmup=0.0, seed=1)
    assert outcomes(rec) == [(1.0, "ok", 11.0), (2.0, "ok", 21.0), (3.0, "ok", 31.0),
                             (4.0, "shed", 4.0), (5.0, "shed", 5.0)]


def test_depth_sheds_lowest_priority(tmp_path):
    """Depth 2, lowest: the queue holds gold (t=2) and bronze (t=3); a gold at
    t=4 displaces the bronze (shed at 4); a bronze at t=5 is itself the lowest
    and is shed; the gold requests are served in order."""
    model = shed_model(tmp_path, [1.0, 2.0, 3.0, 4.0, 5.0], {"depth": 2, "policy": "lowest"},
                       classes=["gold", "gold", "bronze", "gold", "bronze"])
    rec = simulate(model, duration=6.0, warmup=0.0, seed=1)
    assert outcomes(rec) == [(1.0, "ok", 11.0), (2.0, "ok", 21.0), (3.0, "shed", 4.0),
                             (4.0, "ok", 31.0), (5.0, "shed", 5.0)]


def test_depth_lowest_in_fifo_queue_takes_latest_of_lowest(tmp_path):
    """In a FIFO queue the rule is the same: with two bronzes waiting (t=2, 3), a
    gold at t=4 sheds the later bronze (t=3), and the queue stays FIFO."""
    model = shed_model(tmp_path, [1.0, 2.0, 3.0, 4.0], {"depth": 2, "policy": "lowest"},
                       classes=["gold", "bronze", "bronze", "gold"], discipline="fifo")
    rec = simulate(model, duration=5.0, warmup=0.0, seed=1)
    assert outcomes(rec) == [(1.0, "ok", 11.0), (2.0, "ok", 21.0), (3.0, "shed", 4.0),
                             (4.0, "ok", 31.0)]


def test_wait_reject(tmp_path):
    """Wait 2.5 s, reject: the oldest waiting request arrived at 2; at t=4 it has
    waited 2 s (the arrival queues), at t=4.5 it has waited 2.5 s and the arrival
    is shed; once it is served (t=11) the oldest waiter is from t=4."""
    model = shed_model(tmp_path, [1.0, 2.0, 4.0, 4.5, 12.0], {"wait": 2.5})
    rec = simulate(model, duration=13.0, warmup=0.0, seed=1)
    # at 12 the oldest waiter (t=4) has waited 8 s, so that arrival is shed too
    assert outcomes(rec) == [(1.0, "ok", 11.0), (2.0, "ok", 21.0), (4.0, "ok", 31.0),
                             (4.5, "shed", 4.5), (12.0, "shed", 12.0)]


def test_wait_sheds_lowest_priority(tmp_path):
    """Wait 2 s, lowest: at t=5 the oldest waiter (bronze, t=2) has waited 3 s;
    the arrival (gold) displaces the lowest waiting request, the bronze from
    t=3 (the latest of the lowest), and queues; the bronze from t=2 stays."""
    model = shed_model(tmp_path, [1.0, 2.0, 3.0, 5.0], {"wait": 2.0, "policy": "lowest"},
                       classes=["gold", "bronze", "bronze", "gold"])
    rec = simulate(model, duration=6.0, warmup=0.0, seed=1)
    assert outcomes(rec) == [(1.0, "ok", 11.0), (2.0, "ok", 31.0), (3.0, "shed", 5.0),
                             (5.0, "ok", 21.0)]


def test_shed_counted_in_summary(tmp_path):
    """The summary's ``errors.shed`` counts the two shed requests."""
    from tarsim.metrics import summarize

    model = shed_model(tmp_path, [1.0, 2.0, 3.0, 4.0, 5.0], {"depth": 2})
    summary = summarize(simulate(model, duration=6.0, warmup=0.0, seed=1))
    assert summary["errors"]["shed"] == 2
