"""Sweeps: the same summary from serial, local-pool and Dask executors; a sweep
killed with SIGKILL and resumed ends with exactly the uninterrupted results; a
damaged stored run is detected and run again, never trusted."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, mmc_data

from tarsim import api
from tarsim.config import ConfigError
from tarsim.sweep.store import RUNS_FILE, RunStore


def experiment_file(tmp_path: Path, horizon: str = "300s", replications: object = 3) -> Path:
    (tmp_path / "mmc.yaml").write_text(yaml.safe_dump(mmc_data(2.0, 1.0, 3)))
    exp = {"name": "det", "model": "mmc.yaml", "horizon": horizon, "warmup": "30s",
           "seed": 7, "replications": replications, "slo": {"wait_mean": 0.3, "p99": "8s"},
           "tiers": [{"name": "low", "rate": ["1/s", "2/s"]},
                     {"name": "high", "rate": "3/s"}],
           "grid": {"agents.concurrency": [4, 5, 6]}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


def test_points_share_random_numbers(tmp_path):
    """Common random numbers: a point's replication r draws the same arrivals
    whatever its configuration, so two configurations at one load see equal
    arrival counts in every replication."""
    result = api.sweep(experiment_file(tmp_path), executor="serial")
    runs = result.runs[result.runs["load"] == 2.0]
    arrived = runs.pivot(index="replication", columns="config", values="arrived")
    assert (arrived.nunique(axis=1) == 1).all()
    assert arrived.iloc[:, 0].nunique() == len(arrived)  # replications do differ


def test_serial_local_and_dask_give_identical_summaries(tmp_path):
    """Same experiment, same seed: identical summary (to the last bit) from a serial
    run, a 2-process local pool and a Dask LocalCluster of worker processes."""
    from distributed import LocalCluster

    path = experiment_file(tmp_path)
    serial = api.sweep(path, executor="serial").summary
    local = api.sweep(path, executor="local", workers=2).summary
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        dask = api.sweep(path, executor="dask", scheduler=cluster.scheduler_address).summary
    pd.testing.assert_frame_equal(serial, local, check_exact=True)
    pd.testing.assert_frame_equal(serial, dask, check_exact=True)


def test_adaptive_replications_stop_at_the_target(tmp_path):
    """Adaptive: each point stops at the first stage (3, 5, 7, ...) where its SLO
    verdict is decided or the p99's relative CI half-width is below the target, or at
    the maximum (undecided, it is then ``uncertain``)."""
    from tarsim.sweep.stats import relative_halfwidth

    result = api.sweep(experiment_file(tmp_path, replications={"target": 0.05, "min": 3,
                                                               "max": 9, "step": 2}),
                       executor="serial")
    for _, row in result.summary.iterrows():
        n = int(row["replications"])
        assert n in (3, 5, 7, 9)
        runs = result.runs[result.runs["point"] == row["point"]].sort_values("replication")
        rows = runs.to_dict("records")
        if n < 9:
            assert relative_halfwidth(rows) < 0.05 or row["verdict"] in ("meets", "fails")
        else:
            assert row["verdict"] in ("meets", "fails", "uncertain")
        for earlier in range(3, n, 2):
            assert relative_halfwidth(rows[:earlier]) >= 0.05


def sweep_command(path: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tarsim", "sweep", str(path), "--out", str(out),
            "--workers", "2", *extra]


def stored_runs(out: Path) -> int:
    """Rows in a results store (0 while it does not exist yet)."""
    if not (out / RUNS_FILE).exists():
        return 0
    try:
        with sqlite3.connect(out / RUNS_FILE, timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM runs").fetchone()[0])
    except sqlite3.Error:
        return 0


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_sigkill_then_resume_gives_the_uninterrupted_results(tmp_path):
    """A sweep killed with SIGKILL (its whole process group) after a random number of
    runs, then re-run with --resume, does only the missing runs and writes a
    summary identical to an uninterrupted sweep's."""
    path = experiment_file(tmp_path, horizon="2000s", replications=4)
    whole = tmp_path / "whole"
    subprocess.run(sweep_command(path, whole), check=True, env=env(), capture_output=True)
    total = stored_runs(whole)
    rng = random.Random()
    stop_after = rng.randint(1, total - 2)
    out = tmp_path / "killed"
    proc = subprocess.Popen(sweep_command(path, out), env=env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None:
        if stored_runs(out) >= stop_after:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"finished before the kill ({stop_after} runs)"
    kept = stored_runs(out)
    assert kept < total
    resumed = subprocess.run(sweep_command(path, out, "--resume"), check=True, env=env(),
                             capture_output=True, text=True)
    assert f"{total:,} runs: {total - kept:,} simulated, {kept:,} reused" in resumed.stdout
    pd.testing.assert_frame_equal(pd.read_parquet(whole / "summary.parquet"),
                                  pd.read_parquet(out / "summary.parquet"), check_exact=True)
    assert (whole / "summary.csv").read_text() == (out / "summary.csv").read_text()


def test_damaged_run_is_dropped_and_rerun(tmp_path):
    """A stored run whose metrics are not JSON (edited by hand) is dropped when the
    store is opened and its run done again: the resumed summary equals the clean one."""
    path = experiment_file(tmp_path)
    out = tmp_path / "out"
    clean = api.sweep(path, out=out, executor="serial", write_report=False)
    with sqlite3.connect(out / RUNS_FILE) as db:
        key, r = db.execute("SELECT key, replication FROM runs LIMIT 1").fetchone()
        db.execute("UPDATE runs SET metrics = 'not json' WHERE key = ? AND replication = ?",
                   (key, r))
    store = RunStore.open(out, fresh=False)
    assert store.repaired == 1 and not store.has(key, r)
    store.close()
    resumed = api.sweep(path, out=out, executor="serial", resume=True, write_report=False)
    assert resumed.executed == 1
    pd.testing.assert_frame_equal(clean.summary, resumed.summary, check_exact=True)


def test_resume_reuses_every_stored_run(tmp_path):
    """Resuming a complete sweep simulates nothing."""
    path = experiment_file(tmp_path)
    out = tmp_path / "out"
    first = api.sweep(path, out=out, executor="serial", write_report=False)
    again = api.sweep(path, out=out, executor="serial", resume=True, write_report=False)
    assert again.executed == 0 and again.reused == len(first.runs)


def test_existing_results_are_not_overwritten_without_resume(tmp_path):
    path = experiment_file(tmp_path)
    out = tmp_path / "out"
    api.sweep(path, out=out, executor="serial", write_report=False)
    with pytest.raises(ConfigError, match="add --resume"):
        api.sweep(path, out=out, executor="serial")


def test_outputs_are_written(tmp_path):
    """--out holds the run and summary tables (Parquet and CSV), recommendations,
    the manifest, the report and the charts."""
    import json

    out = tmp_path / "out"
    result = api.sweep(experiment_file(tmp_path), out=out, executor="serial",
                       command=["tarsim", "sweep", "exp.yaml"])
    for name in ("runs.parquet", "runs.csv", "summary.parquet", "summary.csv",
                 "recommendations.csv", "manifest.json", "report.html"):
        assert (out / name).is_file(), name
    charts = sorted(p.name for p in (out / "charts").glob("*.png"))
    assert charts == sorted(["throughput.png", "p99.png", "errors.png", "cost_vs_p99.png",
                             "agents.png", "utilisation.png"])
    assert all((out / "charts" / c).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for c in charts)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["command"] == ["tarsim", "sweep", "exp.yaml"]
    assert manifest["versions"]["simpy"] and len(manifest["model_hash"]) == 20
    assert len(pd.read_parquet(out / "runs.parquet")) == 9 * 3 == len(result.runs)
    summary = pd.read_csv(out / "summary.csv")
    assert {"latency_p99", "latency_p99_ci95", "error_rate_ci95"} <= set(summary.columns)
    recs = pd.read_csv(out / "recommendations.csv")
    assert list(recs["tier"]) == ["low", "high"]
