"""Load-test input as users have it: several files and globs, a Locust run's files read
together, the raw per-request CSV with exact success-only quantiles, mismatched labels
refused, and every importer validating its cells like the model loader (file, line,
column)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tarsim.calibrate.sources import read_baseline, read_baselines
from tarsim.cli import main
from tarsim.config.errors import ConfigError

DATA = Path(__file__).resolve().parent / "data"
STATS_HEAD = ("Type,Name,Request Count,Failure Count,Median Response Time,Average Response "
              "Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,"
              "Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%")


def stats_file(tmp_path: Path, aggregated: str, head: str = STATS_HEAD,
               name: str = "run_stats.csv") -> Path:
    path = tmp_path / name
    path.write_text(f"{head}\n,Aggregated,{aggregated}\n")
    return path


GOOD = "100,5,84,88,31,215,3,20.0,1.0,84,92,100,100,120,140,150,160,220,220,220"


def raw_file(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """200 requests, one every 0.05 s from t=1000 (10 s): successful latencies 1..100 ms
    in a shuffled order on even rows, failures of 9 s on odd rows."""
    rng = np.random.default_rng(3)
    ok_latencies = rng.permutation(np.arange(1, 101) / 1000.0)
    lines = ["timestamp,latency,ok,name"]
    for k in range(200):
        ok = k % 2 == 0
        latency = ok_latencies[k // 2] if ok else 9.0
        lines.append(f"{1000 + 0.05 * k:.3f},{latency:.3f},{int(ok)},/x")
    path = tmp_path / "raw.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, ok_latencies


def test_several_files_and_globs_make_one_baseline_in_load_order() -> None:
    """A glob of two Locust runs' files plus a k6 summary: one row per run (5 users from
    the u5 run's history, 2 and 6 from the two-plateau history, 4 from the k6 VUs),
    each run read once although its stats and history files both match the glob."""
    baseline = read_baselines([str(DATA / "locust_*_stats*.csv"), DATA / "k6_summary.json"])
    assert [r.load for r in baseline.rows] == [2, 4, 5, 6]
    assert len(baseline.notes) == 3


def test_the_cli_takes_baseline_repeated(tmp_path: Path) -> None:
    """`--baseline A --baseline B`: both files' rows are used (not the last one only):
    the JSON output has the rows of both."""
    model = tmp_path / "m.yaml"
    model.write_text("workload: {arrivals: {kind: closed, users: 2},\n"
                     "  classes: [{name: a, steps: [w]}]}\n"
                     "agents: {count: 1, concurrency: 8}\n"
                     "roles: {w: {work: 40ms}}\n")
    result = CliRunner().invoke(main, [
        "calibrate", str(model), "--baseline", str(DATA / "locust_u5_stats.csv"),
        "--baseline", str(DATA / "k6_summary.json"), "--fit", "roles.w.work",
        "--iterations", "0", "--no-holdout", "--duration", "5s", "--warmup", "1s",
        "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["rows"]
    assert [r["load"] for r in rows] == [4, 5]


def test_a_mismatched_load_label_is_refused() -> None:
    """`--load 8` on a run whose history records 5 users is an error naming both."""
    with pytest.raises(ConfigError) as info:
        read_baseline(DATA / "locust_u5_stats.csv", load=8)
    assert "load" in str(info.value) and "5 users" in str(info.value)
    assert read_baseline(DATA / "locust_u5_stats.csv", load=5).rows[0].load == 5


def test_one_load_for_several_runs_is_refused() -> None:
    """A single --load cannot label two runs."""
    with pytest.raises(ConfigError, match="labels one run"):
        read_baselines([DATA / "locust_u5_stats.csv", DATA / "k6_summary.json"], load=5)


def test_a_glob_matching_nothing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="matches no file"):
        read_baselines([str(tmp_path / "*.csv")])


def test_raw_per_request_csv_gives_the_exact_success_only_p99(tmp_path: Path) -> None:
    """Raw file alone, 5 users given: requests starting in [t0 + 1 s, t_end - 1 s) count;
    p99 is numpy's exact quantile of the successful latencies in that window (the 9 s
    failures are not in it), the error rate is the failed share of the window's
    requests, the throughput its successes per second of window."""
    path, _ = raw_file(tmp_path)
    row = read_baseline(path, load=5).rows[0]
    starts = 1000 + 0.05 * np.arange(200)
    lines = path.read_text().splitlines()[1:]
    latencies = np.array([float(line.split(",")[1]) for line in lines])
    t0, t1 = starts.min() + 1.0, (starts + latencies).max() - 1.0
    inside = (starts >= t0) & (starts < t1)
    ok = inside & (np.arange(200) % 2 == 0)
    assert row.p99_of == "successes"
    assert row.p99 == pytest.approx(np.quantile(latencies[ok], 0.99))
    assert row.error_rate == pytest.approx(1 - ok.sum() / inside.sum())
    assert row.throughput == pytest.approx(ok.sum() / (t1 - t0))
    assert row.p99 < 0.101


def test_raw_csv_without_a_load_is_refused(tmp_path: Path) -> None:
    path, _ = raw_file(tmp_path)
    with pytest.raises(ConfigError, match="load: is required"):
        read_baseline(path)


def test_locust_rows_say_their_p99_is_of_all_requests() -> None:
    """Locust's percentiles mix failures in: its rows carry p99_of = all; k6's
    expected_response sub-metric is of successes."""
    assert read_baseline(DATA / "locust_u5_stats.csv").rows[0].p99_of == "all"
    assert read_baseline(DATA / "k6_summary.json").rows[0].p99_of == "successes"


@pytest.mark.parametrize(("aggregated", "head", "column"), [
    (GOOD.replace("20.0", "nan", 1), STATS_HEAD, "Requests/s"),
    (GOOD.replace("20.0", "fast", 1), STATS_HEAD, "Requests/s"),
    ("100,150" + GOOD[5:], STATS_HEAD, "Failure Count"),
    ("100,-1" + GOOD[5:], STATS_HEAD, "Failure Count"),
    (GOOD, STATS_HEAD.replace(",Requests/s", ",Rate"), "Requests/s"),
    (GOOD, STATS_HEAD.replace(",99%", ",99.9%"), "99%"),
    (GOOD, STATS_HEAD.replace("Failures/s", "Requests/s"), "Requests/s"),
])
def test_locust_stats_cells_are_validated(tmp_path: Path, aggregated: str, head: str,
                                          column: str) -> None:
    """NaN and words in a number cell, failures above requests, a negative count, a
    missing column (Requests/s, 99%) and a repeated column: each a ConfigError naming
    the file and the column (and the line for a cell)."""
    path = stats_file(tmp_path, aggregated, head)
    with pytest.raises(ConfigError) as info:
        read_baseline(path, load=3)
    text = str(info.value)
    assert str(path) in text and column in text
    if head == STATS_HEAD:
        assert "(line 2)" in text


def test_locust_history_failures_above_requests_are_refused(tmp_path: Path) -> None:
    """A history sample with more failures than requests names its line."""
    lines = (DATA / "locust_u5_stats_history.csv").read_text().splitlines()
    cells = lines[3].split(",")
    cells[-6] = str(int(cells[-7]) + 1)  # Total Failure Count above Total Request Count
    lines[3] = ",".join(cells)
    path = tmp_path / "x_stats_history.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=r"Total Failure Count \(line 4\)"):
        read_baseline(path)


def test_raw_csv_cells_are_validated(tmp_path: Path) -> None:
    """A latency that is not a number and an ok that is not 0/1: both reported with
    their lines."""
    path = tmp_path / "raw.csv"
    path.write_text("timestamp,latency,ok,name\n1,0.1,1,a\n2,NaN,1,a\n3,0.2,maybe,a\n")
    with pytest.raises(ConfigError) as info:
        read_baseline(path, load=1)
    text = str(info.value)
    assert "request.latency (line 3)" in text and "request.ok (line 4)" in text


@pytest.mark.parametrize(("path", "value"), [
    (("http_reqs", "values", "rate"), "fast"),
    (("http_reqs", "values", "rate"), None),
    (("http_req_failed", "values", "rate"), 1.5),
    (("vus_max", "values", "max"), "four"),
])
def test_k6_values_that_are_not_numbers_are_config_errors(tmp_path: Path,
                                                         path: tuple[str, ...],
                                                         value: object) -> None:
    """k6 values that are not finite numbers (a word, null, an error rate above 1) are
    ConfigErrors naming the metric, not ValueErrors."""
    data = json.loads((DATA / "k6_summary.json").read_text())
    data["metrics"][path[0]][path[1]][path[2]] = value
    file = tmp_path / "k6.json"
    file.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=f"metrics.{path[0]}"):
        read_baseline(file)


def test_k6_nan_p99_is_refused(tmp_path: Path) -> None:
    """`p(99): NaN` (valid to Python's json) is refused, naming the metric."""
    text = (DATA / "k6_summary.json").read_text()
    data = json.loads(text)
    name = next(n for n in data["metrics"] if n.startswith("http_req_duration{"))
    data["metrics"][name]["values"]["p(99)"] = float("nan")
    file = tmp_path / "k6.json"
    file.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"p\(99\)"):
        read_baseline(file)


def test_failures_file_of_another_run_is_refused(tmp_path: Path) -> None:
    """A *_failures.csv whose occurrences do not add up to the stats file's failures is
    from another run: refused; a failures file alone has nothing to fit."""
    stats = stats_file(tmp_path, GOOD)
    (tmp_path / "run_failures.csv").write_text(
        "Method,Name,Error,Occurrences\nGET,/x,HTTPError(500),3\n")
    with pytest.raises(ConfigError, match="add up"):
        read_baseline(stats, load=3)
    (tmp_path / "run_failures.csv").write_text(
        "Method,Name,Error,Occurrences\nGET,/x,HTTPError(500),5\n")
    baseline = read_baseline(stats, load=3)
    assert "5 x HTTPError(500)" in baseline.notes[0]
    other = tmp_path / "alone"
    other.mkdir()
    shutil.copy(tmp_path / "run_failures.csv", other / "b_failures.csv")
    with pytest.raises(ConfigError, match="no stats"):
        read_baseline(other / "b_failures.csv")
