"""The command line, through click's CliRunner: every command, good input and bad."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import MODELS, ROOT, mmc_data

from tarsim.cli import main


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_run_prints_a_table(runner: CliRunner, write_model) -> None:
    """`tarsim run MODEL` prints the metrics table and exits 0."""
    path = write_model(mmc_data(2.0, 1.0, 3))
    result = runner.invoke(main, ["run", str(path), "--duration", "200s"])
    assert result.exit_code == 0, result.output
    assert "throughput" in result.output and "latency p99" in result.output


def test_run_json_follows_the_contract(runner: CliRunner, write_model) -> None:
    """`--format json` prints one JSON object with every key of the contract
    (docs/sources.md §8), and CIs under ci95 when replications > 1 (p99's needs at least
    5 answers beyond it in each replication: about 1160 arrivals each here). No error
    happens, yet the error rate's interval has width."""
    path = write_model(mmc_data(2.0, 1.0, 3))
    result = runner.invoke(main, ["run", str(path), "--duration", "600s", "--warmup", "20s",
                                  "-r", "3", "--seed", "7", "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    for key in ("model", "seed", "duration_s", "warmup_s", "replications", "arrived",
                "completed", "throughput", "latency", "error_rate", "errors", "cost",
                "memory", "agents", "queue", "api", "cache", "ci95"):
        assert key in out
    assert set(out["latency"]) == {"mean", "p50", "p90", "p95", "p99", "max"}
    assert {"timeout", "queue_full", "rate_limited", "api_error", "oom", "shed"} <= set(
        out["errors"])
    assert set(out["cost"]) >= {"total_usd", "per_request_usd", "per_hour_usd", "input_tokens",
                                "output_tokens"}
    assert (out["seed"], out["replications"], out["warmup_s"]) == (7, 3, 20.0)
    assert out["ci95"]["latency.p99"] > 0
    low, high = out["bounds"]["error_rate"]
    assert low == 0 and 0 < high < 0.01  # no error, yet not a zero-width interval


def test_run_with_overrides(runner: CliRunner, write_model) -> None:
    """--set replaces values and whole subtrees: a deterministic arrival at 1/s gives
    exactly 1 arrival per second of the measured window."""
    path = write_model(mmc_data(2.0, 1.0, 3))
    result = runner.invoke(main, ["run", str(path), "--duration", "100s", "--warmup", "10s",
                                  "--set", "workload.arrivals={kind: deterministic, rate: 1/s}",
                                  "--set", "agents.concurrency=5", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["arrived"] == 90


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "agents.count=0"], "agents.count"),
    (["--set", "agents.count"], "PATH=VALUE"),
    (["--set", "agents.colour=3"], "unknown key"),
    (["--duration", "ten"], "duration"),
    (["--warmup", "500s", "--duration", "100s"], "warmup"),
    (["--replications", "0"], "replications"),
])
def test_run_bad_arguments_exit_2(runner: CliRunner, write_model, args: list[str],
                                  message: str) -> None:
    """Bad overrides and options give exit status 2, a message naming the problem, no
    traceback."""
    path = write_model(mmc_data(2.0, 1.0, 3))
    result = runner.invoke(main, ["run", str(path), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_run_missing_file(runner: CliRunner, tmp_path: Path) -> None:
    """A missing model file: exit 2, the path named."""
    result = runner.invoke(main, ["run", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml" in result.output and "no such file" in result.output


def test_run_bad_model_lists_problems(runner: CliRunner, write_model) -> None:
    """A model with several mistakes: exit 2 and every problem listed."""
    path = write_model("workload: {arrivals: {kind: poisson, rate: x}, classes: []}\n"
                       "agents: {count: -1}\nroles: {}\n")
    result = runner.invoke(main, ["run", str(path)])
    assert result.exit_code == 2
    assert "4 problems" in result.output
    assert "Traceback" not in result.output


def test_check_good_and_bad(runner: CliRunner, write_model) -> None:
    """`tarsim check` says ok for a valid model and explains a broken one (exit 2)."""
    result = runner.invoke(main, ["check", str(MODELS / "tars.yaml")])
    assert result.exit_code == 0 and "ok" in result.output
    bad = write_model("workload: {arrivals: {kind: poisson, rate: 1}, classes: "
                      "[{name: a, steps: [x]}]}\nagents: {count: 1}\nroles: {y: {}}\n")
    result = runner.invoke(main, ["check", str(bad)])
    assert result.exit_code == 2
    assert "workload.classes[0].steps[0]" in result.output and "(line 1)" in result.output


@pytest.mark.parametrize(("name", "kind"), [
    ("models/tars.yaml", "model"), ("experiments/tiers.yaml", "experiment"),
    ("experiments/scenarios.yaml", "scenario file")])
def test_check_accepts_every_kind_of_file_of_the_project(runner: CliRunner, name: str,
                                                         kind: str) -> None:
    """`tarsim check` tells a model, an experiment and a scenario file apart by
    their top-level keys, and accepts the project's own file of each kind."""
    result = runner.invoke(main, ["check", str(ROOT / name)])
    assert result.exit_code == 0, result.output
    assert f"ok — {kind}" in result.output


@pytest.mark.parametrize(("text", "says"), [
    ("name: x\n", "could be a model or an experiment"),
    ("model: m.yaml\nseed: 1\nscenarios: []\n", "could be an experiment or a scenario file"),
    ("- 1\n- 2\n", "must hold a mapping"),
])
def test_check_says_when_the_kind_cannot_be_told(runner: CliRunner, write_model, text: str,
                                                 says: str) -> None:
    """A file whose top-level keys fit more than one kind (or that is no mapping)
    gets exit 2 and a message naming the kinds it could be, not a guess."""
    result = runner.invoke(main, ["check", str(write_model(text))])
    assert result.exit_code == 2
    assert says in result.output and "Traceback" not in result.output


def test_check_malformed_yaml(runner: CliRunner, write_model) -> None:
    """Malformed YAML: exit 2 with the line, no traceback."""
    bad = write_model("agents: {count: 1\nroles: [\n")
    result = runner.invoke(main, ["check", str(bad)])
    assert result.exit_code == 2 and "not valid YAML" in result.output
    assert "Traceback" not in result.output


def test_schema_describes_the_model_format(runner: CliRunner) -> None:
    """`tarsim schema` prints a JSON Schema naming the top-level sections."""
    result = runner.invoke(main, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert {"workload", "agents", "roles", "llms", "providers"} <= set(schema["properties"])
    assert set(schema["required"]) == {"workload", "agents", "roles"}


def test_tars_model_runs_from_the_cli(runner: CliRunner) -> None:
    """The shipped TARS model runs with its defaults and prints a table."""
    result = runner.invoke(main, ["run", str(MODELS / "tars.yaml"), "--duration", "60s"])
    assert result.exit_code == 0, result.output
    assert "model tars" in result.output


def test_schema_accepts_the_shipped_models_and_rejects_mistakes(runner: CliRunner) -> None:
    """Editors checking files with `tarsim schema` accept every model in models/ (bare
    values for distributions included) and flag a wrong type."""
    import jsonschema

    from tarsim.config import load_data

    schema = json.loads(runner.invoke(main, ["schema"]).output)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted(MODELS.glob("*.yaml")):
        data, _lines = load_data(path)
        assert not list(validator.iter_errors(data)), path
        data["agents"]["count"] = "many"
        assert list(validator.iter_errors(data)), path
