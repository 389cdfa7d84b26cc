"""Agent costs in a sweep: agents are priced once, at the agent-seconds each run
measured (issue 15, bug 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import mmc_data

from tarsim import api
from tarsim.sweep.timing import SAMPLES_PER_RUN

HORIZON_S, WARMUP_S = 60.0, 10.0


def sweep_summary(tmp_path: Path, model: dict, agent_per_hour_usd: float):
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(model))
    exp = {"name": "costs", "model": "m.yaml", "horizon": f"{HORIZON_S:g}s",
           "warmup": f"{WARMUP_S:g}s", "seed": 3, "replications": 2,
           "slo": {"p99": "60s"}, "tiers": [{"name": "t", "rate": "1/s"}],
           "costs": {"agent_per_hour_usd": agent_per_hour_usd}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return api.summary_with_costs(api.sweep(path, executor="serial"))


def test_agent_price_in_model_and_experiment_is_counted_once(tmp_path):
    """Two agents up for the whole run at $1 per agent-hour, priced both in the
    model (``agents.price_per_hour``) and in the experiment
    (``costs.agent_per_hour_usd``), and no token costs: $2 per hour, not $4."""
    model = mmc_data(1.0, 1.0, 2)
    model["agents"] = {"count": 2, "concurrency": 2, "price_per_hour": 1.0}
    row = sweep_summary(tmp_path, model, 1.0).iloc[0]
    assert row["total_per_hour_usd"] == pytest.approx(2.0, rel=1e-9)


def test_autoscaled_agents_are_priced_at_measured_agent_seconds(tmp_path):
    """Autoscaled between 1 and 4 agents at a light load, at $1 per agent-hour
    (experiment price only): the agents' cost per hour is the agent-seconds the
    runs measured over the window, per hour of window - not 4 agents (the upper
    bound) per hour."""
    model = mmc_data(1.0, 1.0, 2)
    model["agents"] = {"count": 4, "concurrency": 2, "autoscale": {
        "metric": "utilization", "target": 0.9, "min": 1}}
    row = sweep_summary(tmp_path, model, 1.0).iloc[0]
    # the sweep lengthens a replication until its window holds SAMPLES_PER_RUN requests
    window_s = max(HORIZON_S, WARMUP_S + SAMPLES_PER_RUN / 1.0) - WARMUP_S
    agent_hours_per_hour = row["agents_agent_seconds"] / window_s
    assert agent_hours_per_hour < 4.0
    assert row["total_per_hour_usd"] == pytest.approx(agent_hours_per_hour * 1.0, rel=1e-9)
