"""A sweep survives its runs: a run that raises and a worker that dies become
failed runs recorded with their point; every other point's results and every
table are written; resuming retries failed runs only when asked, and gives the
tables of an uninterrupted sweep. Also the results store's key (issue 15, bug 5),
the capacity search's executor (issue 15, bug 6) and the output-folder lock."""

from __future__ import annotations

import functools
import os
import signal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from conftest import mmc_data

from tarsim import api, executors
from tarsim.cli import main
from tarsim.config import ConfigError
from tarsim.config.outputs import folder_lock
from tarsim.executors import Runner, RunTask, SerialExecutor, execute, make_executor
from tarsim.sweep.runner import run_sweep


def experiment_file(tmp_path: Path, **extra: Any) -> Path:
    (tmp_path / "mmc.yaml").write_text(yaml.safe_dump(mmc_data(2.0, 1.0, 3)))
    exp = {"name": "fail", "model": "mmc.yaml", "horizon": "60s", "warmup": "10s",
           "seed": 3, "replications": 2, "slo": {"p99": "20s"},
           "tiers": [{"name": "t", "rate": ["1/s", "2/s"]}],
           "grid": {"agents.concurrency": [3, 4]}, **extra}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


def raising(target: str, task: RunTask) -> dict[str, Any]:
    """Runs as usual, except every replication of the point *target* raises."""
    if task.key == target:
        raise ValueError("Probabilities contain NaN")
    return execute(task)


def killing(target: str, task: RunTask) -> dict[str, Any]:
    """Runs as usual, except replication 0 of *target* kills its own worker."""
    if task.key == target and task.replication == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    return execute(task)


def test_a_raising_run_fails_its_point_only(tmp_path):
    """One point's runs raise: the sweep finishes; that point's summary row has the
    error and no metrics; every other point's row equals an uninterrupted sweep's."""
    experiment = api.load_experiment(experiment_file(tmp_path))
    clean = run_sweep(experiment)
    bad = experiment.points[1]
    with make_executor("serial", run=functools.partial(raising, bad.key)) as runner:
        result = run_sweep(experiment, runner)
    assert [(f.point, f.replication) for f in result.failures] == [(1, 0), (1, 1)]
    assert "ValueError: Probabilities contain NaN" in result.failures[0].error
    row = result.summary.set_index("point").loc[1]
    assert "Probabilities contain NaN" in row["error"] and pd.isna(row["latency_p99"])
    good = result.summary[result.summary["point"] != 1].drop(columns="error")
    expected = clean.summary[clean.summary["point"] != 1]
    pd.testing.assert_frame_equal(good.reset_index(drop=True),
                                  expected[good.columns].reset_index(drop=True),
                                  check_exact=True, check_dtype=False)
    assert len(result.recommendations) == 1


def test_a_killed_worker_fails_its_run_only(tmp_path):
    """A worker killed by SIGKILL (as the OOM killer does) breaks the process pool:
    the run it held is the one reported failed, with every other run finished."""
    experiment = api.load_experiment(experiment_file(tmp_path))
    clean = run_sweep(experiment)
    bad = experiment.points[2]
    with make_executor("local", workers=2, run=functools.partial(killing, bad.key)) as runner:
        result = run_sweep(experiment, runner)
    assert [(f.point, f.replication) for f in result.failures] == [(2, 0)]
    assert "BrokenProcessPool" in result.failures[0].error
    good = result.runs[result.runs["point"] != 2].drop(columns="error")
    expected = clean.runs[clean.runs["point"] != 2]
    pd.testing.assert_frame_equal(good.reset_index(drop=True),
                                  expected[good.columns].reset_index(drop=True),
                                  check_exact=True, check_dtype=False)


def test_resume_retries_failed_runs_only_when_asked(tmp_path, monkeypatch):
    """A sweep with a failing point, resumed without --retry-failed, runs nothing and
    still reports the failure; with it, runs the failed runs (now fixed) and writes
    the same tables as an uninterrupted sweep."""
    path = experiment_file(tmp_path)
    experiment = api.load_experiment(path)
    clean = api.sweep(experiment, out=tmp_path / "clean", executor="serial",
                      write_report=False)
    out = tmp_path / "out"
    bad = experiment.points[3].key
    monkeypatch.setattr(executors, "execute", functools.partial(raising, bad))
    first = api.sweep(experiment, out=out, executor="serial", write_report=False)
    assert len(first.failures) == 2 and (out / "summary.csv").is_file()
    again = api.sweep(experiment, out=out, executor="serial", resume=True, write_report=False)
    assert again.executed == 0 and len(again.failures) == 2
    monkeypatch.setattr(executors, "execute", execute)
    fixed = api.sweep(experiment, out=out, executor="serial", resume=True, retry_failed=True,
                      write_report=False)
    assert fixed.executed == 2 and not fixed.failures
    for name in ("summary.csv", "runs.csv", "recommendations.csv"):
        assert (out / name).read_bytes() == (tmp_path / "clean" / name).read_bytes(), name
    pd.testing.assert_frame_equal(clean.summary, fixed.summary, check_exact=True)


def test_cli_sweep_with_a_failed_point_exits_1_with_one_line(tmp_path, monkeypatch):
    """The CLI writes the tables, then ends with one line naming the failed point
    and its error, and exit status 1 (not a traceback)."""
    path = experiment_file(tmp_path)
    bad = api.load_experiment(path).points[0].key
    monkeypatch.setattr(executors, "execute", functools.partial(raising, bad))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["sweep", str(path), "--out", str(out),
                                       "--executor", "serial"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "point 0" in lines[0] and "Probabilities" in lines[0]
    assert (out / "summary.csv").is_file() and (out / "report.html").is_file()


def test_store_key_follows_data_contents_and_version(tmp_path, monkeypatch):
    """Issue 15 bug 5: a point's key changes when a data file it reads changes
    (same name, new contents) and when the tarsim version changes, so --resume
    never reuses runs made from other data or by other code."""
    import tarsim
    from tarsim.config import model_from_data
    from tarsim.sweep.points import point_key

    (tmp_path / "work.csv").write_text("s\n1.0\n2.0\n")
    data = mmc_data(1.0, 1.0, 2)
    data["roles"]["server"]["work"] = {"dist": "empirical", "file": "work.csv", "column": "s"}
    model = model_from_data(data, base_dir=tmp_path)
    before = point_key(model, 60.0, 0.0, 1)
    assert point_key(model, 60.0, 0.0, 1) == before
    (tmp_path / "work.csv").write_text("s\n5.0\n7.0\n")
    changed = point_key(model, 60.0, 0.0, 1)
    assert changed != before
    monkeypatch.setattr(tarsim, "__version__", "0.0.0-other")
    assert point_key(model, 60.0, 0.0, 1) != changed


class SpyRunner(Runner):
    """A serial runner that counts submissions and closes."""

    def __init__(self) -> None:
        super().__init__(SerialExecutor(), 1)
        self.submitted = 0
        self.closed = 0

    def submit(self, task: RunTask) -> None:
        self.submitted += 1
        super().submit(task)

    def close(self) -> None:
        self.closed += 1
        super().close()


def test_capacity_inside_a_sweep_uses_the_sweeps_executor(tmp_path):
    """Issue 15 bug 6: the capacity search of a sweep submits its probes to the
    executor the sweep was given, and neither closes it (its owner does)."""
    experiment = api.load_experiment(experiment_file(tmp_path, capacity=True))
    spy = SpyRunner()
    result = run_sweep(experiment, spy)
    sweep_runs = len(result.runs)
    assert result.recommendations["capacity"].notna().all()
    assert spy.submitted > sweep_runs  # the probes went through it too
    assert spy.closed == 0
    spy.close()


def test_second_sweep_on_a_locked_folder_is_refused(tmp_path):
    """While one sweep holds an output folder, a second is refused (exit 2 in the
    CLI) rather than running everything again into the same store."""
    path = experiment_file(tmp_path)
    out = tmp_path / "out"
    with folder_lock(out), pytest.raises(ConfigError, match="in use by another tarsim sweep"):
        api.sweep(path, out=out, executor="serial", resume=True)
    api.sweep(path, out=out, executor="serial", resume=True, write_report=False)


def test_run_replications_on_a_pool_equal_serial(tmp_path):
    """``api.run`` goes through the same executors: its replications on a local
    pool of 2 give the summary of the serial run, to the last bit."""
    from tarsim.config import model_from_data

    model = model_from_data(mmc_data(2.0, 1.0, 3), base_dir=tmp_path)
    serial = api.run(model, duration=60.0, replications=3, keep_records=False)
    pooled = api.run(model, duration=60.0, replications=3, keep_records=False,
                     executor="local", workers=2)
    assert serial.summary == pooled.summary
    assert serial.replications[0] != serial.replications[1]  # replications differ


def test_a_store_that_is_not_a_database_is_a_message(tmp_path):
    """A runs.sqlite that is not a database (damaged, or a user's file of that name)
    is refused with a message naming --out, not a sqlite3 traceback."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "runs.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match="cannot hold the results store"):
        api.sweep(experiment_file(tmp_path), out=out, executor="serial", resume=True)


def test_scenarios_on_a_pool_equal_serial(tmp_path):
    """Scenarios go through the same executors: a latency curve of 3 variants x 2
    replications on a local pool of 2 gives the serial result, to the last bit."""
    from scenario_helpers import scenario, write_scenarios

    model = mmc_data(2.0, 1.0, 3)
    path = write_scenarios(tmp_path, model, [scenario(
        {"kind": "latency_curve", "path": "agents.concurrency", "values": [3, 4, 5]},
        run={"duration": 60, "warmup": 5, "replications": 2})])
    serial = api.scenarios(path)
    pooled = api.scenarios(path, executor="local", workers=2)
    assert serial == pooled
    assert serial[0].requests > 0
