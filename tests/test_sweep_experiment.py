"""The experiment format: every rule has a failing input whose error names the
path (with its line), the rule and the value, like the model format's errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import mmc_data

from tarsim.config import ConfigError
from tarsim.sweep.loader import load_experiment


def write_experiment(tmp_path: Path, experiment: dict[str, Any] | str,
                     model: dict[str, Any] | None = None) -> Path:
    (tmp_path / "mmc.yaml").write_text(yaml.safe_dump(model or mmc_data(2.0, 1.0, 3)))
    path = tmp_path / "exp.yaml"
    text = experiment if isinstance(experiment, str) else yaml.safe_dump(experiment,
                                                                         sort_keys=False)
    path.write_text(text)
    return path


BASE: dict[str, Any] = {"model": "mmc.yaml", "horizon": "100s", "replications": 2,
                        "slo": {"wait_mean": 0.5}}


def problems(tmp_path: Path, experiment: dict[str, Any] | str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_experiment(write_experiment(tmp_path, experiment))
    return [str(p) for p in info.value.problems]


def test_valid_experiment_expands_tiers_axes_and_loads(tmp_path):
    """Points are tiers x (grid crossed, zips together) x loads, each a model with
    the axis values and the tier's rate applied."""
    exp = {**BASE, "grid": {"agents.concurrency": [3, 4]},
           "zip": [{"router.work": [0.0, 0.01], "agents.spawn": [0.0, 1.0]}],
           "tiers": [{"name": "small", "rate": ["1/s", "2/s"]},
                     {"name": "big", "rate": "3/s", "grid": {"agents.count": [1, 2]}}]}
    experiment = load_experiment(write_experiment(tmp_path, exp))
    points = experiment.points
    assert len(points) == 2 * 2 * 2 + 2 * 2 * 2 * 1
    first = points[0]
    assert first.tier == "small" and first.load == 1.0
    assert first.model.workload.arrivals.rate == 1.0
    assert dict(first.params) == {"agents.concurrency": 3, "router.work": 0.0,
                                  "agents.spawn": 0.0}
    big = [p for p in points if p.tier == "big"]
    assert {p.model.agents.count for p in big} == {1, 2}
    assert all(p.model.workload.arrivals.rate == 3.0 for p in big)
    assert len({p.key for p in points}) == len(points)


def test_unknown_key_has_did_you_mean_and_line(tmp_path):
    """A misspelt top-level key is reported with its line and a suggestion."""
    text = "model: mmc.yaml\nhorizn: 100s\nslo: {p99: 1s}\n"
    assert problems(tmp_path, text) == [
        "horizn (line 2): unknown key; did you mean 'horizon'?"]


def test_axis_with_a_wrong_path_names_the_axis(tmp_path):
    """An axis over a path the model does not have is a problem at that axis."""
    found = problems(tmp_path, {**BASE, "grid": {"agents.cont": [2]}})
    assert len(found) == 1
    assert found[0].startswith("grid.agents.cont[0] (line ")
    assert "unknown key; did you mean 'count'?" in found[0]


def test_axis_with_a_bad_value_names_the_axis_value_and_rule(tmp_path):
    """A value the model rejects is reported at its index with the model's rule."""
    found = problems(tmp_path, {**BASE, "grid": {"agents.count": [2, 0]}})
    assert len(found) == 1
    assert found[0].startswith("grid.agents.count[1] (line ")
    assert found[0].endswith("must be >= 1, got 0")


def test_zipped_axes_need_equal_lengths(tmp_path):
    found = problems(tmp_path, {**BASE, "zip": [{"agents.count": [1, 2],
                                                 "agents.concurrency": [1]}]})
    assert len(found) == 1 and "zipped axes must have the same number of values" in found[0]


@pytest.mark.parametrize("tier, rule", [
    ({"name": "t"}, "give exactly one of rate (open loop) or users (closed loop)"),
    ({"name": "t", "rate": 1, "users": 2}, "give exactly one of rate"),
    ({"name": "t", "rate": [1, 0]}, "rates must be > 0"),
    ({"name": "t", "users": 0}, "must be >= 1"),
    ({"name": "t", "rate": 1, "think_time": "1s"}, "think_time applies to users"),
    ({"name": "", "rate": 1}, "must not be empty"),
])
def test_tier_rules(tmp_path, tier, rule):
    """Each tier rule rejects its failing input, at the tier's path."""
    found = problems(tmp_path, {**BASE, "tiers": [tier]})
    assert any(p.startswith("tiers[0]") and rule in p for p in found), found


def test_duplicate_tier_names(tmp_path):
    found = problems(tmp_path, {**BASE, "tiers": [{"name": "a", "rate": 1},
                                                  {"name": "a", "rate": 2}]})
    assert any("tier names must be unique, got duplicates ['a']" in p for p in found)


def test_tier_axes_must_not_repeat_the_grid(tmp_path):
    found = problems(tmp_path, {**BASE, "grid": {"agents.count": [1]},
                                "tiers": [{"name": "a", "rate": 1,
                                           "grid": {"agents.count": [2]}}]})
    assert len(found) == 1 and found[0].startswith("tiers[0] (line ")
    assert found[0].endswith("varies axes the experiment's grid already varies, "
                             "got ['agents.count']")


def test_load_axis_is_refused_when_tiers_set_the_load(tmp_path):
    found = problems(tmp_path, {**BASE, "grid": {"workload.arrivals.rate": [1]},
                                "tiers": [{"name": "a", "rate": 1}]})
    assert any(p.startswith("grid.workload.arrivals.rate") and "set by the tiers" in p
               for p in found)


@pytest.mark.parametrize("change, expected", [
    ({"warmup": "100s"}, "warmup must be < the horizon (100s), got 100s"),
    ({"horizon": 0}, "horizon (line 2): must be > 0, got 0"),
    ({"horizon": "automatic"}, "horizon (line 2): must be 'auto', got 'automatic'"),
    ({"seed": -1}, "seed (line 6): must be >= 0, got -1"),
    ({"replications": 0}, "must be >= 1"),
    ({"replications": {"target": 0.1, "min": 5, "max": 3}}, "max must be >= min (5), got 3"),
    ({"replications": {"target": 1.5}}, "must be < 1"),
    ({"replications": {"target": 0.1, "min": 1}}, "must be >= 2"),
    ({"slo": {"p99": "-1s"}}, "slo.p99 (line 5): must be > 0"),
    ({"slo": {"eror_rate": 0.1}}, "did you mean 'error_rate'?"),
    ({"costs": {"agent_per_hour_usd": -1}}, "must be >= 0"),
])
def test_top_level_rules(tmp_path, change, expected):
    """Each top-level rule rejects its failing input with path, rule and value."""
    exp = {**BASE, **change}
    if "seed" in change:
        exp = {"model": "mmc.yaml", "horizon": "100s", "replications": 2,
               "slo": {"wait_mean": 0.5}, "seed": -1}
    found = problems(tmp_path, exp)
    assert any(expected in p for p in found), found


def test_missing_model_file(tmp_path):
    found = problems(tmp_path, {**BASE, "model": "nope.yaml"})
    assert len(found) == 1 and found[0].startswith("model (line 1): no such file")


def test_slo_is_required_without_a_model_slo(tmp_path):
    exp = {k: v for k, v in BASE.items() if k != "slo"}
    assert problems(tmp_path, exp) == [
        "slo: is required when the model has no slo section"]


def test_slo_falls_back_to_the_models(tmp_path):
    """Without its own slo the experiment judges by the model's slo section."""
    exp = {k: v for k, v in BASE.items() if k != "slo"}
    model = mmc_data(2.0, 1.0, 3, slo={"p99": "3s", "error_rate": 0.01})
    experiment = load_experiment(write_experiment(tmp_path, exp, model))
    assert experiment.slo.limits() == {"latency.p99": 3.0, "error_rate": 0.01}


def test_set_overrides_apply_and_are_checked(tmp_path):
    """``set`` changes the base model; a bad path there names the set entry."""
    experiment = load_experiment(write_experiment(
        tmp_path, {**BASE, "set": {"agents.concurrency": 7}}))
    assert all(p.model.agents.concurrency == 7 for p in experiment.points)
    found = problems(tmp_path, {**BASE, "set": {"agents.concurrency": 0}})
    assert len(found) == 1 and found[0].startswith("set.agents.concurrency (line ")


def test_points_that_break_a_cross_field_rule_are_reported(tmp_path):
    """A combination of valid axis values can still break a model rule (warm agents
    above the count): the point is named."""
    model = mmc_data(2.0, 1.0, 3)
    model["agents"].update(count=3, warm=1)
    path = write_experiment(tmp_path, {**BASE, "grid": {"agents.warm": [2],
                                                        "agents.count": [1, 3]}}, model)
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    text = str(info.value)
    assert "agents.warm=2, agents.count=1" in text and "warm must be <= count (1)" in text


def test_a_missed_latency_slo_with_idle_agents_is_blamed_on_service_time() -> None:
    """p99 3.4 s against a 3 s SLO: with agents 30% busy the time is in the calls, not
    in waiting for a slot; with agents 95% busy, the agents are the bottleneck."""
    from tarsim.sweep.recommend import bottleneck

    limits = {"latency.p99": 3.0, "error_rate": 0.01}
    row = {"latency_p99": 3.4, "latency_p99_ci95": 0.1, "error_rate": 0.0,
           "error_rate_ci95": 0.0, "agents_utilization": 0.30}
    assert bottleneck(row, limits) == (
        "latency.p99", "service time, not queueing (agents (utilization 0.30))")
    assert bottleneck({**row, "agents_utilization": 0.95}, limits) == (
        "latency.p99", "agents (utilization 0.95)")
    assert bottleneck({**row, "api_calls": 1000, "api_rate_limited": 150}, limits) == (
        "latency.p99", "rate limits: 429s on 15% of calls, retried")


def test_sweep_model_option_swaps_the_model(tmp_path):
    """``tarsim sweep EXP --model OTHER`` sweeps OTHER with the experiment's grid and
    tiers: every point's model is the other one (3 servers, not the file's 2), and a
    missing file is a problem naming MODEL (exit 2)."""
    from click.testing import CliRunner

    from tarsim import api
    from tarsim.cli import main

    (tmp_path / "m.yaml").write_text(yaml.safe_dump(mmc_data(1.0, 1.0, 2)))
    (tmp_path / "other.yaml").write_text(yaml.safe_dump({**mmc_data(1.0, 1.0, 3),
                                                         "name": "other"}))
    exp = {"name": "e", "model": "m.yaml", "horizon": "auto", "slo": {"p99": "9s"},
           "tiers": [{"name": "t", "rate": ["1/s"]}]}
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(exp))
    swapped = api.load_experiment(tmp_path / "e.yaml", tmp_path / "other.yaml")
    assert [p.model.name for p in swapped.points] == ["other"]
    assert swapped.points[0].model.agents.concurrency == 3
    result = CliRunner().invoke(main, ["sweep", str(tmp_path / "e.yaml"), "--model",
                                       str(tmp_path / "nope.yaml"), "--dry-run"])
    assert result.exit_code == 2 and "MODEL" in result.output
