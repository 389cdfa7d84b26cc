"""The seed's agent scenarios run on models/tars_workflow.yaml
(experiments/scenarios_workflow.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tarsim import api

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_agent_scenarios_run_on_the_workflow_model() -> None:
    """Multi-Agent 5 and 10 speed up over one agent; Concurrent Agent Spawning sees
    the 10 agents of each replication cold-start in the seed's 2-3 s; spawning a
    sub-agent per fan-out branch instead of taking pooled slots costs memory: the
    pooled model holds memory.base + 5 agents x memory.per_agent (0.46 + 5 x 1.20 =
    6.47 MB with the calibrated values), and each live sub-agent adds one more
    memory.per_agent, so the peak is at least base + 6 x per_agent (7.67 MB)."""
    results = {r.name: r for r in api.scenarios(ROOT / "experiments" / "scenarios_workflow.yaml")}
    assert set(results) == {"multi_agent_5", "multi_agent_10", "concurrent_agent_spawning",
                            "subagents_spawned_per_request"}
    for name in ("multi_agent_5", "multi_agent_10"):
        assert results[name].values["speedup"]["value"] > 1
    spawn = results["concurrent_agent_spawning"].values
    assert spawn["spawns"] == 50
    assert spawn["min"] >= 2.0 and spawn["max"] <= 3.0
    peak = results["subagents_spawned_per_request"].values["memory.peak_mb"]["value"]
    memory = api.load_model(ROOT / "models" / "tars_workflow.yaml").memory
    assert peak >= (memory.base + 6 * memory.per_agent) / 1e6 - 1e-9
