"""Replica autoscaling (``deployment.autoscale``): hosts scaled by the HPA's rule.

Behaviour against hand calculations: the HPA's fixed point after a step in load,
the pod start time before a host takes traffic, scale-down after the
stabilisation window, drained hosts going with their last request, and
host-seconds priced as the integral of the hosts paid for. Then one failing
input per validation rule.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import mmc_data, reported_problems
from test_validation import load

from tarsim.api import run
from tarsim.cli import main
from tarsim.components.hosts import AGENT_ID_STRIDE
from tarsim.config import ConfigError, model_from_data
from tarsim.metrics import json_safe, run_summary, timeseries
from tarsim.run import RunRecords, simulate
from tarsim.vocabulary import HostEvent

ROOT = Path(__file__).resolve().parent.parent
PRICE = 3.6
"""USD per host-hour: a host-second costs a tenth of a cent."""


def step_model() -> dict[str, Any]:
    """Hosts of two cores, each request 20 ms of CPU work; Poisson arrivals at 40/s,
    170/s from 60 s, 40/s again from 300 s; the ``cpu`` metric with target 0.5, so
    each host is wanted for one core of load; a 10 s start time and a 60 s
    stabilisation window."""
    return {
        "name": "step",
        "workload": {"arrivals": {"kind": "steps", "steps": [
            {"at": 0, "rate": 40}, {"at": 60, "rate": 170}, {"at": 300, "rate": 40}]},
            "classes": [{"name": "job", "steps": ["server"]}]},
        "agents": {"count": 1, "concurrency": 1000},
        "roles": {"server": {"work": 0.02}},
        "deployment": {"hosts": 1, "cpu": {"cores": 2}, "price_per_hour": PRICE,
                       "autoscale": {"metric": "cpu", "target": 0.5, "max": 10, "start": "10s",
                                     "stabilization": "60s"}},
    }


@pytest.fixture(scope="module")
def step_run() -> RunRecords:
    return simulate(model_from_data(step_model(), base_dir=ROOT), duration=420.0, warmup=0.0,
                    seed=1)


def host_log(rec: RunRecords) -> dict[int, dict[str, float]]:
    """Each host's event times by event name."""
    hosts: dict[int, dict[str, float]] = {}
    columns = rec.host_columns
    for t, host, event in zip(columns["t"].tolist(), columns["host"].tolist(),
                              columns["event"].tolist(), strict=True):
        hosts.setdefault(host, {})[event] = t
    return hosts


def serving_at(rec: RunRecords, t: float) -> int:
    """Hosts taking traffic at time *t* (up at or before it, not drained by then)."""
    return sum(1 for h in host_log(rec).values()
               if h.get(HostEvent.UP, math.inf) <= t < h.get(HostEvent.DRAIN, math.inf))


def test_step_in_load_settles_at_the_hpa_fixed_point(step_run: RunRecords) -> None:
    """The HPA's fixed point is desired = ceil(load x work / (cores x target)): 0.8
    cores of load before the step gives ceil(0.8) = 1 host, 3.4 after it gives
    ceil(3.4) = 4 (3.4 / 4 = 0.85 is outside the 0.1 tolerance, so the formula
    applies; 3.4 / 3 = 1.13 is too). Noise: a period's CPU busy is 20 ms times a
    Poisson count of 15 s x 170 arrivals, a standard deviation of 0.067 cores, so
    leaving 4 needs the load seen above 4 (+9 sd) or a whole minute of it at 3 or
    below (-6 sd). The count settles by 190 s: the step at 60, four periods of
    scaling up (while the backlog of the saturated first minute clears), the 10 s
    start and the 60 s stabilisation; it is checked from 200 s to the next step."""
    assert all(serving_at(step_run, t) == 1 for t in np.arange(0.0, 75.0, 1.0))
    assert all(serving_at(step_run, t) == 4 for t in np.arange(200.0, 300.0, 1.0))
    summary = run_summary(step_run)
    assert summary.hosts is not None and summary.hosts.max >= 4


def test_scale_down_waits_out_the_stabilisation_window(step_run: RunRecords) -> None:
    """The load falls to 0.8 cores at 300 s, a multiple of the 15 s period. The
    decision at 300 s still averages the high load (recommending 4); every later one
    recommends ceil(0.8) = 1. Scale-down takes the highest recommendation of the
    last 60 s, so the three surplus hosts are drained at exactly 300 + 60 = 360 s,
    and none before."""
    drains = sorted(h[HostEvent.DRAIN] for h in host_log(step_run).values()
                    if h.get(HostEvent.DRAIN, 0.0) > 300.0)
    assert drains == [360.0, 360.0, 360.0]
    assert serving_at(step_run, 359.0) == 4 and serving_at(step_run, 360.0) == 1


def test_no_host_takes_a_request_before_its_start_time(step_run: RunRecords) -> None:
    """A host decided at time s takes traffic at s + 10 s (the constant start time):
    every request served on it arrived at or after that, and before it was drained."""
    hosts = host_log(step_run)
    added = {i: h for i, h in hosts.items() if h[HostEvent.START] > 0}
    assert len(added) >= 3
    req = step_run.request_columns
    on_host = req["agent"] // AGENT_ID_STRIDE
    for index, h in added.items():
        assert h[HostEvent.UP] == pytest.approx(h[HostEvent.START] + 10.0)
        arrivals = req["arrival"][on_host == index]
        assert len(arrivals) > 0
        assert arrivals.min() >= h[HostEvent.UP]
        assert arrivals.max() < h.get(HostEvent.DRAIN, math.inf)


def test_host_seconds_priced_are_the_integral_of_hosts_paid(step_run: RunRecords) -> None:
    """Each host is paid from the decision to add it (its start time included) until
    it goes: summed by hand from the host log over the window, that is the summary's
    host-seconds, and the infrastructure cost is host-seconds x $3.60 / 3600 (agents
    are free); the hosts taking traffic average what the timeline shows."""
    a, b = step_run.warmup_s, step_run.duration_s
    paid = sum(min(h.get(HostEvent.DOWN, b), b) - max(h[HostEvent.START], a)
               for h in host_log(step_run).values())
    serving = sum(min(h.get(HostEvent.DRAIN, b), b) - max(h[HostEvent.UP], a)
                  for h in host_log(step_run).values())
    summary = run_summary(step_run)
    assert summary.hosts is not None
    assert summary.hosts.host_seconds == pytest.approx(paid)
    assert summary.hosts.mean == pytest.approx(serving / (b - a))
    assert paid > serving  # start times are paid for
    assert summary.cost.infra_usd == pytest.approx(paid * PRICE / 3600.0)
    assert summary.cost.per_hour_usd == pytest.approx(paid * PRICE / (b - a))
    frame = timeseries(step_run)
    assert frame["hosts"].mean() == pytest.approx(summary.hosts.mean)


def test_fixed_bounds_price_as_a_fixed_deployment() -> None:
    """Autoscaling with min = max = 3 keeps three hosts all the time: $0.50 a
    host-hour costs $1.50 an hour, as three hosts without autoscaling do."""
    data = mmc_data(1.0, 2.0, 1)
    data["deployment"] = {"price_per_hour": 0.5, "autoscale": {
        "metric": "utilization", "target": 0.5, "min": 3, "max": 3, "start": "30s"}}
    summary = run(model_from_data(data, base_dir=ROOT), duration=200, warmup=20, seed=1).summary
    assert summary["hosts"]["mean"] == summary["hosts"]["max"] == 3
    assert summary["cost"]["per_hour_usd"] == pytest.approx(1.5)


def test_keda_rule_on_requests_per_host_with_a_random_start() -> None:
    """KEDA's rule, desired = ceil(requests in flight / target): 70 requests a second
    of 0.1 s (a pure delay) keep 7 in flight (Little), so a target of 2 per host
    wants ceil(3.5) = 4 hosts (7 / 8 and 7 / 6 are outside the tolerance). Over a
    30 s period the mean in flight has a standard deviation of about
    sqrt(70 x 0.1^2 / 30) = 0.15, so leaving 4 (above 8 or at most 6) is 6 sd
    away. Starts drawn from 5 to 15 s each take that long before the host serves."""
    data = mmc_data(70.0, 10.0, 1000)
    data["roles"]["server"]["work"] = 0.1
    data["deployment"] = {"hosts": 1, "autoscale": {
        "metric": "queue_per_host", "target": 2, "max": 8, "period": "30s",
        "start": {"dist": "uniform", "low": "5s", "high": "15s"}}}
    rec = simulate(model_from_data(data, base_dir=ROOT), duration=300.0, warmup=0.0, seed=2)
    assert all(serving_at(rec, t) == 4 for t in np.arange(60.0, 300.0, 1.0))
    waits = [h[HostEvent.UP] - h[HostEvent.START] for h in host_log(rec).values()
             if h[HostEvent.START] > 0]
    assert len(waits) == 3 and all(5.0 <= w <= 15.0 for w in waits)
    assert len(set(waits)) == 3


def test_drained_host_goes_with_its_last_request() -> None:
    """Hosts drained with requests in progress: after the drain the balancer sends
    them nothing, and each goes (with its agents) exactly when its last request
    ends, or at once if it had none. Requests of 30 s arriving 2 a second, then 1
    from 150 s, swing the requests in flight between about 60 and 30, so hosts (12
    in flight each wanted) are drained with requests in progress. Each host holds
    10 MB from the moment it takes traffic until it goes, so the memory's time
    average is 10 MB times the host-seconds from up to down over the window."""
    data = {
        "name": "drain",
        "workload": {"arrivals": {"kind": "steps", "steps": [{"at": 0, "rate": 2},
                                                             {"at": 150, "rate": 1}]},
                     "classes": [{"name": "job", "steps": ["server"]}]},
        "agents": {"count": 1, "concurrency": 1000},
        "roles": {"server": {"work": 30.0}},
        "memory": {"base": "10MB"},
        "deployment": {"hosts": 5, "autoscale": {
            "metric": "queue_per_host", "target": 12, "max": 8, "start": "5s",
            "stabilization": "30s"}},
    }
    rec = simulate(model_from_data(data, base_dir=ROOT), duration=300.0, warmup=0.0, seed=3)
    req = rec.request_columns
    on_host = req["agent"] // AGENT_ID_STRIDE
    agents = rec.agent_columns
    drained = {i: h for i, h in host_log(rec).items() if HostEvent.DRAIN in h}
    waited = 0
    for index, h in drained.items():
        mine = on_host == index
        assert not (req["arrival"][mine] >= h[HostEvent.DRAIN]).any()
        gone = max([h[HostEvent.DRAIN], *req["end"][mine].tolist()])
        assert h[HostEvent.DOWN] == gone
        waited += gone > h[HostEvent.DRAIN]
        downs = agents["t"][(agents["agent"] // AGENT_ID_STRIDE == index)
                            & (agents["event"] == "down")]
        assert list(downs) == [gone]
    assert waited >= 2
    up_seconds = sum(min(h.get(HostEvent.DOWN, 300.0), 300.0) - h[HostEvent.UP]
                     for h in host_log(rec).values() if HostEvent.UP in h)
    summary = run_summary(rec)
    assert summary.memory.mean_mb == pytest.approx(10.0 * up_seconds / 300.0)


# ---------------------------------------------------------------- validation
RULE = {"metric": "queue_per_host", "target": 5, "max": 4, "start": "30s"}

CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("min above max", {"deployment": {"autoscale": {**RULE, "min": 3, "max": 2}}},
     "deployment.autoscale", "min (3) must be <= max (2)"),
    ("negative start", {"deployment": {"autoscale": {**RULE, "start": "-5s"}}},
     "deployment.autoscale.start", "must be >= 0, got '-5s'"),
    ("no start", {"deployment": {"autoscale": {k: v for k, v in RULE.items() if k != "start"}}},
     "deployment.autoscale.start", "is required"),
    ("no max", {"deployment": {"autoscale": {k: v for k, v in RULE.items() if k != "max"}}},
     "deployment.autoscale.max", "is required"),
    ("with regions", {"deployment": {"autoscale": RULE, "regions": [{"name": "a", "hosts": 1}]}},
     "deployment", "autoscale cannot be combined with regions"),
    ("hosts above max", {"deployment": {"hosts": 5, "autoscale": RULE}}, "deployment",
     "between autoscale.min (1) and autoscale.max (4), got 5"),
    ("cpu without cores", {"deployment": {"autoscale": {**RULE, "metric": "cpu", "target": 0.5}}},
     "deployment", "give cpu.cores"),
    ("cpu target above one", {"deployment": {"cpu": {"cores": 2}, "autoscale": {
        **RULE, "metric": "cpu", "target": 2}}}, "deployment.autoscale",
     "a cpu target must be <= 1, got 2"),
    ("unknown metric", {"deployment": {"autoscale": {**RULE, "metric": "rps"}}},
     "deployment.autoscale.metric", "'queue_per_host'"),
    ("tolerance of one", {"deployment": {"autoscale": {**RULE, "tolerance": 1}}},
     "deployment.autoscale.tolerance", "must be < 1"),
]


@pytest.mark.parametrize(("overrides", "path", "rule"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(tmp_path: Path, overrides: dict[str, Any], path: str, rule: str) -> None:
    """The broken rule is reported at its path, with words that explain it."""
    found = reported_problems(lambda: load(tmp_path, overrides))
    assert any(p == path and rule in text for p, text in found), found


def test_degradation_is_not_scaled_with_hosts(tmp_path: Path) -> None:
    """Degraded modes are modelled for one host's queue and memory, not for hosts
    coming and going: the model is refused, naming both."""
    with pytest.raises(ConfigError) as info:
        load(tmp_path, {"deployment": {"autoscale": RULE},
                        "degradation": {"interval": "1s", "high_load": {"enter": {"queue": 5}}}})
    assert "deployment.autoscale cannot be combined with degradation" in str(info.value)


def test_misspelt_key_gets_did_you_mean(tmp_path: Path) -> None:
    """A misspelt key under deployment.autoscale is answered with the closest known one."""
    with pytest.raises(ConfigError) as info:
        load(tmp_path, {"deployment": {"autoscale": {**RULE, "stabilisation": "60s"}}})
    assert "did you mean 'stabilization'?" in str(info.value)


def test_cli_exits_2_on_a_bad_autoscale(write_model: Any) -> None:
    """`tarsim check` and `tarsim run` on min > max exit 2 and name the field, no traceback."""
    data = mmc_data(1.0, 2.0, 1)
    data["deployment"] = {"autoscale": {**RULE, "min": 3, "max": 2}}
    path = str(write_model(data))
    for command in (["check", path], ["run", path, "--duration", "10s"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2
        assert "deployment.autoscale" in result.output and "Traceback" not in result.output


def test_a_host_goes_with_its_agent_autoscaler() -> None:
    """Hosts and agents both autoscaled: once a host has gone, its agent autoscaler
    decides nothing more, so none of its agents starts or runs after it (every
    agent event of a gone host is at or before its ``down``), and the run is
    reproducible from its seed."""
    data = {
        "name": "both",
        "workload": {"arrivals": {"kind": "steps", "steps": [
            {"at": 0, "rate": 5}, {"at": 100, "rate": 40}, {"at": 400, "rate": 5}]},
            "classes": [{"name": "job", "steps": ["server"]}]},
        "agents": {"count": 10, "concurrency": 4, "spawn": "3s", "autoscale": {
            "metric": "utilization", "target": 0.6}},
        "roles": {"server": {"work": {"dist": "exponential", "mean": 0.5}}},
        "deployment": {"hosts": 1, "balancer": "least_connections", "autoscale": {
            "metric": "utilization", "target": 0.6, "max": 6, "start": "20s",
            "stabilization": "60s"}},
    }
    model = model_from_data(data, base_dir=ROOT)
    rec = simulate(model, duration=700.0, warmup=0.0, seed=4)
    gone = {i: h[HostEvent.DOWN] for i, h in host_log(rec).items() if HostEvent.DOWN in h}
    assert gone
    agents = rec.agent_columns
    host_of = agents["agent"] // AGENT_ID_STRIDE
    for index, down in gone.items():
        assert agents["t"][host_of == index].max() == down
    again = simulate(model, duration=700.0, warmup=0.0, seed=4)
    assert json.dumps(json_safe(run_summary(again).tree())) == json.dumps(
        json_safe(run_summary(rec).tree()))


def test_per_host_limits_count_for_the_most_hosts() -> None:
    """What a deployment can admit under a limit declared per host: 1/s on each of at
    most 4 autoscaled hosts is 4/s (screening must not refuse a load that the
    scaled-up hosts admit); an organisation-wide limit stays as given."""
    from tarsim.demand import model_limits

    data = mmc_data(1.0, 2.0, 1)
    data["roles"]["server"]["llm"] = "m"
    data["llms"] = {"m": {"provider": "p", "limits": {"requests": "2/s"}}}
    data["providers"] = {"p": {"limits": {"requests": "1/s", "scope": "host"}}}
    data["deployment"] = {"hosts": 2, "autoscale": {**RULE, "min": 1, "max": 4}}
    limits = model_limits(model_from_data(data, base_dir=ROOT))
    assert limits[("provider", "p")]["requests"] == pytest.approx(4.0)
    assert limits[("llm", "m")]["requests"] == pytest.approx(2.0)
