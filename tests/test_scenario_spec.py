"""The scenario file: every rule it is checked against, with the path, line, rule
and value in the error; the analysis registry; and `tarsim scenarios` on the
command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from conftest import ROOT
from scenario_helpers import scenario, simple, write_scenarios

from tarsim import api
from tarsim.cli import main
from tarsim.config import ConfigError
from tarsim.scenarios.registry import Analysis, Registry
from tarsim.scenarios.spec import load_plan

MODEL = simple(0.5, users=4, concurrency=4)
BASELINE = {"kind": "baseline"}


def line_of(tmp_path: Path, text: str) -> int:
    """The 1-based line of the scenario file where *text* first appears."""
    lines = (tmp_path / "scenarios.yaml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def problems(tmp_path: Path, scenarios: list[dict[str, Any]], **kwargs: Any) -> list[str]:
    path = write_scenarios(tmp_path, kwargs.pop("model", MODEL), scenarios, **kwargs)
    with pytest.raises(ConfigError) as caught:
        load_plan(path)
    return [str(p) for p in caught.value.problems]


def test_a_good_file_plans_every_variant(tmp_path: Path) -> None:
    """A valid file loads into one planned scenario per entry, with run settings
    falling back to the defaults and one model per analysis variant."""
    path = write_scenarios(tmp_path, MODEL, [
        scenario(BASELINE, name="one", run={"duration": 50}),
        scenario({"kind": "latency_curve", "path": "workload.arrivals.users",
                  "values": [1, 2, 3]}, name="two"),
    ], defaults={"duration": 30, "replications": 2, "seed": 7})
    plan = load_plan(path)
    one, two = plan.scenarios
    assert (one.settings.duration, one.settings.warmup, one.settings.replications,
            one.settings.seed) == (50.0, 5.0, 2, 7)
    assert list(two.models) == ["1", "2", "3"]
    assert [m.workload.arrivals.users for m in two.models.values()] == [1, 2, 3]


def test_unknown_analysis_kind(tmp_path: Path) -> None:
    """An analysis kind not in the registry names the kinds and the closest one."""
    found = problems(tmp_path, [scenario({"kind": "baselin"})])
    assert len(found) == 1
    assert found[0].startswith("scenarios[0].analysis.kind (line")
    assert "must be one of baseline, load_point" in found[0]
    assert "got 'baselin'; did you mean 'baseline'?" in found[0]


def test_analysis_needs_a_kind(tmp_path: Path) -> None:
    """An analysis without kind says it needs one."""
    found = problems(tmp_path, [scenario({"window": 3})])
    assert found[0].startswith("scenarios[0].analysis (line") and "needs 'kind'" in found[0]


def test_unknown_keys_get_did_you_mean(tmp_path: Path) -> None:
    """Unknown keys in a scenario, its run settings or its analysis are named, with
    the closest known key."""
    entry = scenario({"kind": "memory_leak", "windw": 3}, run={"replicatons": 2})
    entry["purpos"] = "x"
    found = problems(tmp_path, [entry])
    assert any(f.startswith("scenarios[0].purpos (line") and "did you mean 'purpose'" in f
               for f in found)
    assert any("scenarios[0].run.replicatons" in f and "'replications'" in f for f in found)
    assert any("scenarios[0].analysis.windw" in f and "'window'" in f for f in found)


@pytest.mark.parametrize(("field", "value", "rule"), [
    ("name", "a b", "must be letters, digits, '_', '-' or '.'"),
    ("type", "", "must not be empty"),
    ("purpose", "", "must not be empty"),
])
def test_scenario_fields(tmp_path: Path, field: str, value: str, rule: str) -> None:
    """Names are plain words; type and purpose are not empty."""
    entry = scenario(BASELINE)
    entry[field] = value
    found = problems(tmp_path, [entry])
    assert any(f.startswith(f"scenarios[0].{field}") and rule in f for f in found)


@pytest.mark.parametrize(("run", "path", "rule"), [
    ({"duration": 0}, "run.duration", "must be > 0"),
    ({"warmup": -1}, "run.warmup", "must be >= 0"),
    ({"replications": 0}, "run.replications", "must be >= 1"),
    ({"seed": -1}, "run.seed", "must be >= 0"),
    ({"duration": "2 parsecs"}, "run.duration", "must be a duration"),
])
def test_run_settings(tmp_path: Path, run: dict[str, Any], path: str, rule: str) -> None:
    """Each run setting is checked with its unit and bound."""
    found = problems(tmp_path, [scenario(BASELINE, run=run)])
    assert any(f.startswith(f"scenarios[0].{path}") and rule in f for f in found), found


def test_warmup_shorter_than_duration(tmp_path: Path) -> None:
    """A warm-up as long as the run (after defaults apply) leaves nothing to measure."""
    found = problems(tmp_path, [scenario(BASELINE, run={"warmup": 20})],
                     defaults={"duration": 10})
    line = line_of(tmp_path, "warmup: 20")
    assert found == [f"scenarios[0].run.warmup (line {line}): must be < the duration (10s), "
                     "got 20.0"]


def test_names_are_unique(tmp_path: Path) -> None:
    """Two scenarios with one name are refused."""
    found = problems(tmp_path, [scenario(BASELINE, name="x"), scenario(BASELINE, name="x")])
    assert any("scenario names must be unique, got ['x']" in f for f in found)


def test_file_needs_scenarios_and_model(tmp_path: Path) -> None:
    """model and scenarios are required; an empty list is refused."""
    path = tmp_path / "s.yaml"
    path.write_text("scenarios: []\n")
    with pytest.raises(ConfigError) as caught:
        load_plan(path)
    text = str(caught.value)
    assert "model: is required" in text
    assert "scenarios (line 1): must have at least 1" in text


def test_model_file_missing(tmp_path: Path) -> None:
    """A model path that names no file is reported at the model key, resolved
    relative to the scenario file."""
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"model": "nope.yaml", "scenarios": [scenario(BASELINE)]}))
    with pytest.raises(ConfigError) as caught:
        load_plan(path)
    assert str(caught.value.problems[0]).startswith(
        f"model (line 1): names no file (looked for {tmp_path / 'nope.yaml'})")


def test_bad_model_is_reported_against_its_own_file(tmp_path: Path) -> None:
    """A model with problems of its own is reported with the model file as source."""
    bad = dict(MODEL, agents={"count": 0})
    path = write_scenarios(tmp_path, bad, [scenario(BASELINE)])
    with pytest.raises(ConfigError) as caught:
        load_plan(path)
    assert caught.value.source == str(tmp_path / "model.yaml")
    assert "agents.count (line" in str(caught.value)


def test_overrides_are_checked_against_the_model(tmp_path: Path) -> None:
    """An override that breaks the model is reported at the override, every one at once."""
    found = problems(tmp_path, [scenario(BASELINE, overrides={
        "agents.count": 0, "workload.arrivals.users": -1, "nowhere.at.all": 1})])
    line = line_of(tmp_path, "agents.count: 0")
    assert f"scenarios[0].overrides[agents.count] (line {line}): must be >= 1, got 0" in found
    assert any(f.startswith("scenarios[0].overrides[workload.arrivals.users]") for f in found)
    assert any("nowhere" in f and "unknown key" in f for f in found)


def test_sweep_values_are_checked(tmp_path: Path) -> None:
    """Each value of a sweep makes a model that must be valid."""
    found = problems(tmp_path, [scenario({"kind": "latency_curve",
                                          "path": "workload.arrivals.users", "values": [1, 0]})])
    line = line_of(tmp_path, "analysis:")
    assert found == [f"scenarios[0].analysis (line {line}): variant '0' makes "
                     "workload.arrivals.users invalid: must be >= 1, got 0"]


@pytest.mark.parametrize(("analysis", "rule"), [
    ({"kind": "latency_curve", "path": "x", "values": [1]}, "must have at least 2 item(s)"),
    ({"kind": "latency_curve", "path": "x", "values": [1, 1]},
     "values must be distinct, got ['1'] more than once"),
    ({"kind": "latency_curve", "path": "", "values": [1, 2]}, "must not be empty"),
    ({"kind": "latency_curve", "path": "x", "values": [1, 2], "knee_factor": 1},
     "must be > 1"),
    ({"kind": "degradation_point"}, "give p99, p99_factor or error_rate"),
    ({"kind": "degradation_point", "p99_factor": 1}, "must be > 1"),
    ({"kind": "degradation_point", "error_rate": 2}, "must be <= 1"),
    ({"kind": "degradation_point", "p99": 0}, "must be > 0"),
    ({"kind": "error_threshold", "path": "x", "values": [1, 2], "thresholds": []},
     "must have at least 1 item(s)"),
    ({"kind": "error_threshold", "path": "x", "values": [1, 2], "thresholds": [1.5]},
     "must be <= 1"),
    ({"kind": "queue_limit", "path": "x", "values": [1, 2], "threshold": -0.1}, "must be >= 0"),
    ({"kind": "agent_scaling", "compare": 0}, "must be >= 1"),
    ({"kind": "stability", "tolerance": 0}, "must be > 0"),
    ({"kind": "memory_leak", "window": "0s"}, "must be > 0"),
    ({"kind": "load_point", "measured": {"p99": "fast"}}, "must be a duration"),
])
def test_analysis_parameters(tmp_path: Path, analysis: dict[str, Any], rule: str) -> None:
    """Every analysis parameter rule is enforced with its path."""
    found = problems(tmp_path, [scenario(analysis)])
    assert any(f.startswith("scenarios[0].analysis") and rule in f for f in found), found


@pytest.mark.parametrize(("analysis", "need"), [
    ({"kind": "memory_leak"}, "needs a memory section"),
    ({"kind": "degradation_modes"}, "needs a degradation section"),
    ({"kind": "cache_speedup"}, "needs a cache section"),
    ({"kind": "rate_limits"}, "needs a rate limit"),
    ({"kind": "spawn_latency"}, "needs agents that spawn"),
    ({"kind": "queue_limit", "path": "workload.arrivals.users", "values": [1, 2]},
     "needs router.queue.capacity"),
])
def test_analysis_requirements(tmp_path: Path, analysis: dict[str, Any], need: str) -> None:
    """An analysis whose model lacks what it measures is refused before anything runs."""
    found = problems(tmp_path, [scenario(analysis)])
    assert len(found) == 1 and found[0].startswith("scenarios[0].analysis.kind")
    assert need in found[0]


def test_only_unknown_name(tmp_path: Path) -> None:
    """--only with a name not in the file is refused with the closest name."""
    plan = load_plan(write_scenarios(tmp_path, MODEL, [scenario(BASELINE, name="ramp_up")]))
    with pytest.raises(ConfigError) as caught:
        plan.only(["ramp_upp"])
    assert "--only: names no scenario in the file, got 'ramp_upp'; did you mean 'ramp_up'?" \
        in str(caught.value)


def test_registry_refuses_duplicates() -> None:
    """A name registered twice is an error, and an unknown name lists the known ones."""
    registry = Registry()
    registry.register("a")(Analysis)
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("a")(Analysis)
    with pytest.raises(KeyError, match="known: a"):
        registry["b"]


# ---------------------------------------------------------------- the command line
def two_scenarios(tmp_path: Path) -> Path:
    return write_scenarios(tmp_path, MODEL, [
        scenario(BASELINE, name="first", run={"duration": 30, "warmup": 5}),
        scenario({"kind": "latency_curve", "path": "workload.arrivals.users",
                  "values": [1, 4]}, name="second", run={"duration": 30, "warmup": 5}),
    ])


def test_cli_table(tmp_path: Path) -> None:
    """`tarsim scenarios FILE` prints a Markdown table, a row per scenario in file order."""
    result = CliRunner().invoke(main, ["scenarios", str(two_scenarios(tmp_path))])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "| Scenario | Type | Purpose | Key result |"
    assert len(lines) == 4
    assert lines[2].startswith("| first | test | a test | latency mean 0.500 s")
    assert lines[3].startswith("| second | test | a test | p99 0.500/0.500 s")


def test_cli_json_and_only(tmp_path: Path) -> None:
    """--format json prints a list of results; --only runs the named scenarios only."""
    result = CliRunner().invoke(main, ["scenarios", str(two_scenarios(tmp_path)),
                                       "--format", "json", "--only", "second"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [r["name"] for r in data] == ["second"]
    assert data[0]["analysis"] == "latency_curve"
    assert [p["load"] for p in data[0]["values"]["points"]] == [1, 4]


def test_cli_bad_file_exits_2_without_traceback(tmp_path: Path) -> None:
    """A bad scenario file prints its problems and exits 2, with no traceback."""
    path = write_scenarios(tmp_path, MODEL, [scenario({"kind": "nope"})])
    result = CliRunner().invoke(main, ["scenarios", str(path)])
    assert result.exit_code == 2
    assert "scenarios[0].analysis.kind" in result.output
    assert "Traceback" not in result.output
    missing = CliRunner().invoke(main, ["scenarios", str(tmp_path / "absent.yaml")])
    assert missing.exit_code == 2 and "no such file" in missing.output


@pytest.mark.slow
def test_the_seeds_scenarios(tmp_path: Path) -> None:
    """experiments/scenarios.yaml runs whole and every scenario reports its result:
    a key result line, and for each analysis the number its purpose asks for; the
    long memory profile finds the leak its overrides set, at the slope leak x
    throughput predicts, and the short one (no leak) finds none."""
    results = {r.name: r for r in api.scenarios(ROOT / "experiments" / "scenarios.yaml")}
    assert len(results) == 18
    for result in results.values():
        assert result.key and result.purpose and result.type, result.name
        assert result.requests > 0
    assert results["ramp_up"].values["offered"] is not None
    assert results["memory_short"].values["leak"] is False
    long = results["memory_long"].values
    assert long["leak"] is True
    assert long["slope_mb_per_min"]["value"] == pytest.approx(
        long["expected_mb_per_min"], abs=2 * long["slope_mb_per_min"]["ci95"])
    assert results["queue_overflow"].values["limit"] is not None
    assert results["queue_overflow"].values["deepest"] == 1000
    assert results["error_rate_analysis"].values["crossings"]["0.05"] is not None
    assert results["concurrent_agent_spawning"].values["spawns"] == 50
    spawn = results["concurrent_agent_spawning"].values
    assert spawn["min"] >= 2.0 and spawn["max"] <= 3.0  # the seed's 2-3 s
    assert results["cache_efficiency"].values["speedup"]["value"] > 1
    assert results["api_rate_limiting"].values["responses_429"] > 0
    assert "critical" in results["graceful_degradation"].values["entered"]
    assert results["stress_120s"].values["verdict"] in ("stable", "drifting", "inconclusive")
    for name in ("multi_agent_5", "multi_agent_10"):
        assert results[name].values["speedup"]["value"] > 1
