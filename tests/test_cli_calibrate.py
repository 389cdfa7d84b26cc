"""`tarsim calibrate` from the command line: output formats, the calibrated model it
writes, and exit status 2 with a clear message for every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import Synthetic

from tarsim.cli import main
from tarsim.config import load_model

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--duration", "20s", "--iterations", "1", "-r", "2"]
BASELINE = ("# made up for the CLI tests\n"
            "load,load_kind,agents,throughput,p99,error_rate,memory_mb\n"
            "2,concurrency,1,3.4/s,1.6s,3%,3.1\n"
            "8,concurrency,2,13.9/s,1.6s,3%,4.4\n"
            "16,concurrency,2,13.9/s,2.2s,3%,4.8\n")


@pytest.fixture
def files(tmp_path: Path, synthetic: Synthetic) -> tuple[Path, Path]:
    model = tmp_path / "model.yaml"
    model.write_text(yaml.safe_dump(synthetic(), sort_keys=False))
    baseline = tmp_path / "baseline.csv"
    baseline.write_text(BASELINE)
    return model, baseline


def _run(*args: str) -> object:
    return CliRunner().invoke(main, ["calibrate", *args])


def test_json_output_has_the_contract_keys(files: tuple[Path, Path]) -> None:
    """--format json prints findings, fitted {path: value}, one row per baseline row
    with measured, simulated and ci95, and the hold-out section."""
    model, baseline = files
    result = _run(str(model), "--baseline", str(baseline), "--fit", "roles.worker.work",
                  "--fit", "memory.base", "--holdout", "3", "--format", "json", *FAST)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"findings", "fitted", "rows", "holdout"} <= set(data)
    assert set(data["fitted"]) == {"roles.worker.work.mean", "memory.base"}
    assert len(data["rows"]) == 3
    for row in data["rows"]:
        assert set(row["measured"]) == {"throughput", "p99", "error_rate", "memory_mb"}
        assert set(row["simulated"]) == set(row["measured"]) == set(row["ci95"])
    assert data["holdout"]["kind"] == "holdout"
    assert [r["row"] for r in data["holdout"]["rows"]] == [3]
    assert any(f["kind"] == "load_kind" for f in data["findings"])


def test_table_output_and_written_model(files: tuple[Path, Path], tmp_path: Path) -> None:
    """The table shows findings, parameters and rows; --write leaves a valid model whose
    fitted value is the one reported, with a provenance comment on its line."""
    model, baseline = files
    out = tmp_path / "calibrated.yaml"
    result = _run(str(model), "--baseline", str(baseline), "--fit", "memory.per_agent",
                  "--no-holdout", "--write", str(out), *FAST)
    assert result.exit_code == 0, result.output
    for text in ("Findings", "Fitted parameters", "Measured vs simulated", "memory.per_agent"):
        assert text in result.output
    written = load_model(out)
    json_result = _run(str(model), "--baseline", str(baseline), "--fit", "memory.per_agent",
                       "--no-holdout", "--format", "json", *FAST)
    fitted = json.loads(json_result.output)["fitted"]["memory.per_agent"]
    assert written.memory.per_agent == pytest.approx(fitted, rel=1e-5)
    text = out.read_text()
    assert "calibrated per_agent" in text and "Calibrated by `tarsim calibrate`" in text


def test_an_imported_k6_summary_is_a_baseline(files: tuple[Path, Path]) -> None:
    """The recorded k6 summary can be given directly as --baseline (with --agents)."""
    model, _ = files
    result = _run(str(model), "--baseline", str(ROOT / "tests" / "data" / "k6_summary.json"),
                  "--agents", "1", "--fit", "roles.worker.work", "--no-holdout",
                  "--format", "json", *FAST)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows"][0]["measured"]["throughput"] > 0


@pytest.mark.parametrize(("content", "extra", "message"), [
    (None, [], "no such file"),
    ("load,load_kind,p99\n10,concurrency,2s\n", [], "missing required column(s) throughput"),
    ("load,load_kind,throughput,p99\n10,concurrency,7/s,2 parsecs\n", [],
     "rows[0].p99 (line 2): must be a duration"),
    ("load,load_kind,throughput,p99,error_rate\n10,concurrency,7/s,2s,5 pct\n", [],
     "rows[0].error_rate (line 2): must be a fraction"),
    (BASELINE, ["--holdout", "9"], "--holdout: must be a row number from 1 to 3, got 9"),
    (BASELINE, ["--fit", "agents.colour"], "--fit agents.colour: names no number"),
])
def test_bad_input_exits_2_with_a_message(files: tuple[Path, Path], tmp_path: Path,
                                          content: str | None, extra: list[str],
                                          message: str) -> None:
    """Missing files, missing columns, bad units, bad hold-out rows and unknown fit
    paths: exit status 2, the problem on stderr, no traceback."""
    model, _ = files
    baseline = tmp_path / "bad.csv"
    if content is not None:
        baseline.write_text(content)
    result = _run(str(model), "--baseline", str(baseline), *extra, *FAST)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_workers_run_the_same_calibration(files: tuple[Path, Path]) -> None:
    """`--workers 2` runs the calibration on a pool of 2 processes and prints exactly the
    JSON the serial default prints (the runs draw from (seed, replication) streams)."""
    model, baseline = files
    args = [str(model), "--baseline", str(baseline), "--fit", "roles.worker.work",
            "--no-holdout", "--format", "json", "--duration", "10s", "--iterations", "1",
            "-r", "2"]
    serial, pooled = _run(*args), _run(*args, "--workers", "2")
    assert serial.exit_code == 0 and pooled.exit_code == 0, pooled.output
    assert json.loads(pooled.output) == json.loads(serial.output)


def test_dask_without_a_scheduler_exits_2(files: tuple[Path, Path]) -> None:
    """`--executor dask` needs `--scheduler`: exit status 2 naming the option, no
    traceback (the options are the sweep's own)."""
    model, baseline = files
    result = _run(str(model), "--baseline", str(baseline), "--executor", "dask", *FAST)
    assert result.exit_code == 2, result.output
    assert "--scheduler" in result.output and "Traceback" not in result.output
