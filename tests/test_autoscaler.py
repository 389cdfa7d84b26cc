"""The autoscaler against hand-computed replica counts: the HPA and KEDA rules,
tolerance, scale-down stabilisation, the scale-up limit and the bounds; then an
exact event trace with constant distributions, and the 10 -> 150 -> 10 req/s
spike scaling up after the spawn latency and down after the stabilisation window."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import agent_log

from tarsim.components.autoscaler import ScalingPolicy, recommend
from tarsim.config import model_from_data
from tarsim.config.model import Autoscale
from tarsim.metrics import summarize
from tarsim.run import simulate


@pytest.mark.parametrize(("metric", "kwargs", "expected"), [
    # utilisation 12/40 = 0.3, target 0.5: ratio 0.6 -> ceil(0.6 x 4) = 3
    ("utilization", {"current": 4, "ready": 4, "unready": 0, "usage": 12, "capacity": 40}, 3),
    # utilisation 0.54: ratio 1.08, within the 10 % tolerance -> unchanged
    ("utilization", {"current": 4, "ready": 4, "unready": 0, "usage": 21.6, "capacity": 40}, 4),
    # utilisation 0.56: ratio 1.12 -> ceil(4.48) = 5
    ("utilization", {"current": 4, "ready": 4, "unready": 0, "usage": 22.4, "capacity": 40}, 5),
    # 2 ready at 90 %, 2 starting counted at 0 %: 0.9 x 2/4 / 0.5 = 0.9 < 1 reverses -> unchanged
    ("utilization", {"current": 4, "ready": 2, "unready": 2, "usage": 18, "capacity": 20}, 4),
    # 2 ready at 100 %, 1 starting: 1.0 x 2/3 / 0.5 = 4/3 -> ceil(4/3 x 3) = 4
    ("utilization", {"current": 3, "ready": 2, "unready": 1, "usage": 20, "capacity": 20}, 4),
    # no ready agent reported: no change
    ("utilization", {"current": 2, "ready": 0, "unready": 2, "usage": 0, "capacity": 0}, 2),
    # queue (Value target 10): 25 waiting, ratio 2.5 x 3 ready -> ceil(7.5) = 8
    ("queue", {"current": 3, "ready": 3, "unready": 0, "usage": 25}, 8),
    # queue 10.5: ratio 1.05, within tolerance -> unchanged
    ("queue", {"current": 3, "ready": 3, "unready": 0, "usage": 10.5}, 3),
    # KEDA queue per agent (target 10): 45 -> ratio 45/30 = 1.5 -> ceil(4.5) = 5
    ("queue_per_agent", {"current": 3, "ready": 3, "unready": 0, "usage": 45}, 5),
    # 31/30 = 1.033: within tolerance -> unchanged
    ("queue_per_agent", {"current": 3, "ready": 3, "unready": 0, "usage": 31}, 3),
    # 4 in the system: ceil(4/10) = 1
    ("queue_per_agent", {"current": 3, "ready": 3, "unready": 0, "usage": 4}, 1),
])
def test_recommendation(metric, kwargs, expected):
    """The raw HPA/KEDA recommendation equals the hand-computed replica count."""
    target = 0.5 if metric == "utilization" else 10.0
    assert recommend(metric, target=target, tolerance=0.1, **kwargs) == expected


def policy(**spec):
    return ScalingPolicy(Autoscale.model_validate({"metric": "utilization", "target": 0.5,
                                                    **spec}), maximum=30)


def test_scale_down_waits_for_the_stabilisation_window():
    """From 5 agents, recommendations of 2 every 15 s are held at 5 until the
    recommendation of 5 (t=0) leaves the 300 s window: scale-down at t=300.
    A recommendation of 4 at t=105 then holds 4 until t=405, then 2."""
    p = policy(min=1)
    seen = []
    current = 5
    for t in range(0, 451, 15):
        rec = 5 if t == 0 else (4 if t == 105 else 2)
        current = p.decide(float(t), current, rec)
        seen.append((t, current))
    assert [t for t, c in seen if c == 5] == list(range(0, 300, 15))
    assert [t for t, c in seen if c == 4] == list(range(300, 405, 15))
    assert [t for t, c in seen if c == 2] == [405, 420, 435, 450]


def test_scale_up_limit_per_period():
    """Recommending 20 from 1 agent: each 15 s period allows max(+100 %, +4):
    1 -> 5 -> 10 -> 20."""
    p = policy()
    current, seen = 1, []
    for t in (0.0, 15.0, 30.0, 45.0):
        current = p.decide(t, current, 20)
        seen.append(current)
    assert seen == [5, 10, 20, 20]


def test_scale_up_limit_counts_from_the_period_start():
    """With a 60 s policy period and 15 s looks, the count 60 s ago (1) bounds
    every look of the period: 5 at t=0, still 5 at 15, 30, 45; at t=60 the
    period starts from 5 again: 10."""
    p = policy(scale_up={"period": 60})
    current, seen = 1, []
    for t in (0.0, 15.0, 30.0, 45.0, 60.0):
        current = p.decide(t, current, 20)
        seen.append(current)
    assert seen == [5, 5, 5, 5, 10]


def test_bounds():
    """A recommendation of 0 is raised to min (2); one of 50 is capped at the
    maximum (agents.count, 8) when the scale-up limit allows it."""
    p = ScalingPolicy(Autoscale.model_validate({"metric": "queue", "target": 1, "min": 2,
                                                "stabilization": 0}), maximum=8)
    assert p.decide(0.0, 3, 0) == 2
    assert p.decide(15.0, 6, 50) == 8


def steady_model(**autoscale):
    """Deterministic arrivals 8/s (gaps of 0.125 s) of 1 s of work: 8 busy slots
    from t=1 on; agents of 10 slots, one warm, 5 s cold start."""
    return model_from_data({
        "workload": {"arrivals": {"kind": "deterministic", "rate": 8},
                     "classes": [{"name": "job", "steps": ["server"]}]},
        "agents": {"count": 6, "concurrency": 10, "spawn": 5.0,
                   "autoscale": {"metric": "utilization", "target": 0.4, **autoscale}},
        "roles": {"server": {"work": 1.0}},
    }, base_dir=".")


def test_utilization_trace():
    """Hand trace, target 0.4, 60 s stabilisation. t=15: busy integral
    0.125 x (1+..+7) + 14 x 8 = 115.5 over capacity 150: 0.77, ratio 1.925 ->
    2. t=30: 120 over 10 x 5 + 20 x 10 = 250: 0.48, ratio 1.2 -> ceil(2.4) = 3.
    t=45: 120 / (20 x 5 + 30 x 10) = 0.3, ratio 0.75 -> ceil(2.25) = 3.
    t=60..: 8/30, ratio 2/3 -> 2, held by the 3 of t=45 until t=105. After the
    scale-down, 8/20 = 0.4: on target, 2 stays."""
    rec = simulate(steady_model(stabilization=60), duration=135.0, warmup=0.0, seed=1)
    decisions = [(float(t), int(c), int(r), int(d))
                 for t, _, c, r, d in rec.scaling.itertuples(index=False)]
    assert decisions == [
        (15.0, 1, 2, 2), (30.0, 2, 3, 3), (45.0, 3, 3, 3), (60.0, 3, 2, 3), (75.0, 3, 2, 3),
        (90.0, 3, 2, 3), (105.0, 3, 2, 2), (120.0, 2, 2, 2), (135.0, 2, 2, 2)]
    assert rec.scaling["metric"].tolist()[:3] == pytest.approx([0.77, 0.48, 0.3])
    log = agent_log(rec)
    assert log[:5] == [(0.0, 0, "up"), (15.0, 1, "spawn"), (20.0, 1, "up"),
                       (30.0, 2, "spawn"), (35.0, 2, "up")]
    downs = [(t, e) for t, _, e in log[5:]]
    # the stopped agent finishes its requests (1 s of work at most) and goes down
    assert len(downs) == 1 and downs[0][1] == "down" and 105.0 <= downs[0][0] <= 106.0


def spike_model(steps=((0, 10), (60, 150), (180, 10))):
    """Poisson arrivals stepping 10 -> 150 -> 10 req/s at t=60 and t=180; 0.2 s
    of work; agents of 50 slots with a 2 s cold start; HPA on utilisation with
    target 0.25 (12.5 busy slots per agent), defaults otherwise (15 s period,
    10 % tolerance, 300 s scale-down stabilisation)."""
    return model_from_data({
        "workload": {"arrivals": {"kind": "steps",
                                  "steps": [{"at": a, "rate": r} for a, r in steps]},
                     "classes": [{"name": "job", "steps": ["server"]}]},
        "agents": {"count": 10, "concurrency": 50, "spawn": 2.0, "price_per_hour": 0.36,
                   "autoscale": {"metric": "utilization", "target": 0.25}},
        "roles": {"server": {"work": 0.2}},
    }, base_dir=".")


def test_spike_scales_up_after_spawn_latency_and_down_after_stabilisation():
    """Hand calculation: at 10 req/s, 2 busy slots of 50 (ratio 0.16): 1 agent.
    The look at t=75 sees 150 req/s x 0.2 s = 30 busy slots on one agent: 0.6,
    ratio 2.4 -> 3 agents (within the +4 limit); they start at 75 and are up at
    77 (the 2 s spawn latency). With 3 agents the ratio is 0.8 (ceil(2.4) = 3)
    or, at t=90, 30 x 15 / (50 x 2 + 150 x 13) = 0.88: 3 stays. After the drop
    at 180 the recommendation is 1, but the 3 recommended at t=180 holds for the
    300 s window: scale-down at the look at t=480, the two agents stopping within
    one request's 0.2 s. Poisson noise (15 s counts of 2250 +- 47 at 150/s) moves
    each ratio by about 2 %, far from any rounding boundary used here."""
    rec = simulate(spike_model(), duration=600.0, warmup=0.0, seed=3)
    scaling = rec.scaling
    changes = scaling[scaling["desired"] != scaling["current"]]
    assert [(float(t), int(c), int(d)) for t, c, d in
            changes[["t", "current", "desired"]].itertuples(index=False)] == [
        (75.0, 1, 3), (480.0, 3, 1)]
    log = agent_log(rec)
    assert [(t, e) for t, _, e in log if e in ("spawn", "up") and t > 0] == [
        (75.0, "spawn"), (75.0, "spawn"), (77.0, "up"), (77.0, "up")]
    downs = [t for t, _, e in log if e == "down"]
    assert len(downs) == 2 and all(480.0 <= t <= 480.2 for t in downs)
    summary = summarize(rec)
    # agent-seconds in [0, 600): 1 agent throughout, 2 more from 75 (starting) to ~480
    assert summary["agents"]["agent_seconds"] == pytest.approx(600 + 2 * 405, abs=0.5)
    assert summary["cost"]["infra_usd"] == pytest.approx(
        summary["agents"]["agent_seconds"] / 3600 * 0.36)
    assert summary["autoscale"] == {"scale_ups": 1, "scale_downs": 1}


def test_spike_agents_in_the_timeline():
    """The per-second time series shows 1 agent before 77 s, 3 from 77 s to 480 s,
    and 1 after 481 s."""
    from tarsim.metrics import timeseries

    series = timeseries(simulate(spike_model(), duration=600.0, warmup=0.0, seed=3))
    agents = series.set_index("t")["agents"]
    assert np.allclose(agents.loc[:76.0], 1.0)
    assert np.allclose(agents.loc[77.0:479.0], 3.0)
    assert np.allclose(agents.loc[481.0:], 1.0)
