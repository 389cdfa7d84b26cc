"""Failing input for each validation rule of the lifecycle, memory, backpressure,
degradation and autoscaling sections: each is a ConfigError naming the path,
the rule and the value."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import mmc_data, set_path

from tarsim.config import ConfigError, model_from_data

DEGRADE = {"interval": 5, "high_load": {"enter": {"queue": 10}}}


def base() -> dict[str, Any]:
    data = mmc_data(1.0, 2.0, 2)
    data["agents"] = {"count": 4, "concurrency": 2}
    data["llms"] = {"haiku": {}, "sonnet": {}}
    return data




CASES = [
    # agents
    ("agents.idle_timeout", 0, "agents.idle_timeout", "must be > 0"),
    ("agents.max_spawning", 0, "agents.max_spawning", "must be >= 1"),
    ("agents.price_per_hour", -1, "agents.price_per_hour", "must be >= 0"),
    # autoscale
    ("agents.autoscale", {"metric": "cpu", "target": 1}, "agents.autoscale.metric",
     "'utilization', 'queue' or 'queue_per_agent'"),
    ("agents.autoscale", {"metric": "queue", "target": 0}, "agents.autoscale.target",
     "must be > 0"),
    ("agents.autoscale", {"metric": "queue", "target": 5, "min": 0}, "agents.autoscale.min",
     "must be >= 1"),
    ("agents.autoscale", {"metric": "utilization", "target": 70}, "agents.autoscale",
     "a utilization target must be <= 1"),
    ("agents.autoscale", {"metric": "queue", "target": 5, "tolerance": 1},
     "agents.autoscale.tolerance", "must be < 1"),
    ("agents.autoscale", {"metric": "queue", "target": 5, "period": 0},
     "agents.autoscale.period", "must be > 0"),
    ("agents.autoscale", {"metric": "queue", "target": 5, "stabilization": -1},
     "agents.autoscale.stabilization", "must be >= 0"),
    ("agents.autoscale", {"metric": "queue", "target": 5, "scale_up": {"percent": 0, "pods": 0}},
     "agents.autoscale.scale_up", "cannot both be 0"),
    ("agents.autoscale", {"metric": "queue", "target": 5, "min": 5}, "agents",
     "autoscale.min must be <= count (4)"),
    # memory
    ("memory", {"base": 100, "per_agent": 50, "limit": 150}, "memory",
     "limit must be > base + per_agent"),
    ("memory", {"per_agent": 50, "limit": 50, "limit_scope": "agent"}, "memory",
     "limit must be > per_agent"),
    ("memory", {"limit": 0}, "memory.limit", "must be > 0"),
    ("memory", {"limit_scope": "node"}, "memory.limit_scope", "'process' or 'agent'"),
    ("memory", {"per_token": -1}, "memory.per_token", "must be >= 0"),
    ("memory", {"leak_per_request": "-1KB"}, "memory.leak_per_request", "must be >= 0"),
    ("memory", {"gc": {"interval": 0}}, "memory.gc.interval", "must be > 0"),
    ("memory", {"gc": {"interval": 5, "reclaim": 0}}, "memory.gc.reclaim", "must be > 0"),
    ("memory", {"gc": {"interval": 5, "reclaim": 1.5}}, "memory.gc.reclaim", "must be <= 1"),
    # backpressure
    ("router.queue.shed", {"policy": "reject"}, "router.queue.shed", "give depth, wait or both"),
    ("router.queue.shed", {"depth": 0}, "router.queue.shed.depth", "must be >= 1"),
    ("router.queue.shed", {"wait": 0}, "router.queue.shed.wait", "must be > 0"),
    ("router.queue.shed", {"depth": 5, "policy": "random"}, "router.queue.shed.policy",
     "'reject' or 'lowest'"),
    # degradation
    ("degradation", {"interval": 0, "high_load": {"enter": {"queue": 1}}},
     "degradation.interval", "must be > 0"),
    ("degradation", {"interval": 5}, "degradation", "give high_load, critical or both"),
    ("degradation", {"interval": 5, "high_load": {"enter": {}}}, "degradation.high_load",
     "enter needs at least one of queue, memory, success_rate"),
    ("degradation", {"interval": 5, "high_load": {"enter": {"queue": 10},
                                                  "exit": {"success_rate": 0.9}}},
     "degradation.high_load", "exit names ['success_rate'] but enter does not"),
    ("degradation", {"interval": 5, "high_load": {"enter": {"queue": 10}, "exit": {"queue": 20}}},
     "degradation.high_load", "exit.queue must be <= enter.queue (10)"),
    ("degradation", {"interval": 5, "high_load": {"enter": {"success_rate": 0.9},
                                                  "exit": {"success_rate": 0.8}}},
     "degradation.high_load", "exit.success_rate must be >= enter.success_rate (0.9)"),
    ("degradation", {"interval": 5, "high_load": {"enter": {"queue": 10}},
                     "critical": {"enter": {"queue": 5}}},
     "degradation", "critical.enter.queue must be >= high_load.enter.queue (10)"),
    ("degradation", {"interval": 5, "high_load": {"enter": {"success_rate": 0.9}},
                     "critical": {"enter": {"success_rate": 0.95}}},
     "degradation", "critical.enter.success_rate must be <= high_load.enter.success_rate"),
    ("degradation", {"interval": 5, "high_load": {"enter": {"queue": -1}}},
     "degradation.high_load.enter.queue", "must be >= 0"),
    ("degradation", {"interval": 5, "high_load": {"enter": {"queue": 1},
                                                  "actions": {"max_output_tokens": 0}}},
     "degradation.high_load.actions.max_output_tokens", "must be >= 1"),
    ("degradation", {"interval": 5, "high_load": {"enter": {"queue": 1},
                                                  "actions": {"concurrency": 0}}},
     "degradation.high_load.actions.concurrency", "must be >= 1"),
    ("degradation", {"interval": 5, "high_load": {"enter": {"queue": 1},
                                                  "actions": {"panic": True}}},
     "degradation.high_load.actions.panic", "unknown key"),
]


@pytest.mark.parametrize(("where", "value", "path", "rule"), CASES,
                         ids=[f"{c[2]}:{c[3][:30]}" for c in CASES])
def test_rule(where, value, path, rule):
    """The bad value is refused with its path and the rule it breaks."""
    with pytest.raises(ConfigError) as caught:
        model_from_data(set_path(base(), where, value), base_dir=".")
    problems = [(p.path, str(p)) for p in caught.value.problems]
    assert any(p == path and rule in text for p, text in problems), problems


def test_memory_threshold_must_be_a_share():
    """A memory threshold is a share of the limit: 1.5 is refused."""
    data = set_path(base(), "memory", {"limit": "100MB"})
    data = set_path(data, "degradation", {"interval": 5, "high_load": {"enter": {"memory": 1.5}}})
    with pytest.raises(ConfigError, match=r"degradation.high_load.enter.memory: must be <= 1"):
        model_from_data(data, base_dir=".")


def test_memory_condition_needs_a_limit():
    """A degradation condition on memory needs memory.limit."""
    data = set_path(base(), "degradation", {"interval": 5, "high_load": {"enter": {"memory": 0.8}}})
    with pytest.raises(ConfigError, match=r"degradation.high_load.enter.memory: needs "
                                          r"memory.limit \(a share of the limit\), got 0.8"):
        model_from_data(data, base_dir=".")


@pytest.mark.parametrize("side", ["from", "to"])
def test_downgrade_names_llms(side):
    """Both sides of a downgrade must name an llm, with a "did you mean"."""
    pair = {"sonet": "haiku"} if side == "from" else {"sonnet": "haiku3"}
    data = set_path(base(), "degradation", {"interval": 5, "high_load": {
        "enter": {"queue": 1}, "actions": {"downgrade": pair}}})
    with pytest.raises(ConfigError) as caught:
        model_from_data(data, base_dir=".")
    text = caught.value.describe()
    assert "degradation.high_load.actions.downgrade." in text
    assert "must name one of llms" in text and "did you mean" in text


def test_lowered_concurrency_must_be_lower():
    """A mode's concurrency above agents.concurrency (2) is refused."""
    data = set_path(base(), "degradation", {"interval": 5, "critical": {
        "enter": {"queue": 1}, "actions": {"concurrency": 3}}})
    with pytest.raises(ConfigError, match=r"degradation.critical.actions.concurrency: must be "
                                          r"<= agents.concurrency \(2\), got 3"):
        model_from_data(data, base_dir=".")


@pytest.mark.parametrize(("agents", "rule"), [
    ({"count": 4, "warm": 1, "autoscale": {"metric": "queue", "target": 5, "min": 2}},
     "warm must be >= autoscale.min (2) when autoscaling, got 1"),
    ({"count": 4, "idle_timeout": 30, "autoscale": {"metric": "queue", "target": 5}},
     "idle_timeout cannot be combined with autoscale"),
])
def test_agents_rules_with_autoscale(agents, rule):
    """Autoscaling rules that span agents' fields are refused at ``agents``."""
    with pytest.raises(ConfigError, match=re.escape(f"agents: {rule}")):
        model_from_data(set_path(base(), "agents", agents), base_dir=".")


def test_autoscale_starts_at_min():
    """Without ``warm``, an autoscaled pool starts with ``min`` agents, not ``count``."""
    model = model_from_data(set_path(base(), "agents", {
        "count": 4, "autoscale": {"metric": "queue", "target": 5, "min": 2}}), base_dir=".")
    assert model.agents.warm_agents == 2
