"""The baseline table: the seed's results as a CSV, its reader's errors, and the
importers of real Locust and k6 output (tests/data, recorded by record_fixtures.sh)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tarsim.calibrate.baseline import format_baseline, parse_baseline
from tarsim.calibrate.sources import read_baseline
from tarsim.config.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "models" / "baselines" / "load_test_results.csv"
DATA = ROOT / "tests" / "data"

# The seed's LOAD_TEST_RESULTS table (LOAD_TESTING_IMPLEMENTATION_SUMMARY.md, section 3).
SEED_TABLE = [  # load, agents, throughput req/s, p99 s, errors %, memory MB
    (10, 1, 7.5, 2.5, 0, 5), (25, 1, 16.5, 2.5, 3, 5), (50, 5, 28.3, 3.1, 4, 6.5),
    (100, 10, 47.5, 3.8, 5, 12.4), (150, 15, 58.2, 4.5, 6, 18.5),
]


def test_seed_baseline_holds_the_seed_table() -> None:
    """models/baselines/load_test_results.csv has the seed's five rows, in base units,
    read as concurrency, with a provenance note."""
    baseline = read_baseline(SEED)
    assert len(baseline.rows) == len(SEED_TABLE)
    for row, (load, agents, x, p99, err, mem) in zip(baseline.rows, SEED_TABLE, strict=True):
        assert (row.load, row.agents, row.load_kind) == (load, agents, "concurrency")
        assert row.throughput == pytest.approx(x)
        assert row.p99 == pytest.approx(p99)
        assert row.error_rate == pytest.approx(err / 100)
        assert row.memory_mb == pytest.approx(mem)
    assert any("LOAD_TEST_RESULTS" in note for note in baseline.notes)


def test_units_are_parsed_and_written_back() -> None:
    """Cells with units convert to base units; writing and reading again is lossless."""
    text = ("load,load_kind,agents,throughput,p99,error_rate,memory_mb\n"
            "120/min,rate,2,90/min,2500ms,0.02,512KB\n")
    row = parse_baseline(text).rows[0]
    assert (row.load, row.throughput, row.p99, row.error_rate) == pytest.approx(
        (2.0, 1.5, 2.5, 0.02))
    assert row.memory_mb == pytest.approx(0.512)
    again = parse_baseline(format_baseline(parse_baseline(text)))
    assert again.rows == parse_baseline(text).rows


@pytest.mark.parametrize(("text", "expected"), [
    ("load,load_kind,p99\n10,concurrency,2s\n", "missing required column(s) throughput"),
    ("load,load_kind,throughput,p99,colour\n10,concurrency,1,2,red\n", "unknown column(s) colour"),
    ("load,load_kind,throughput,p99\n10,concurrency,7/fortnight,2s\n",
     "rows[0].throughput (line 2): must be a rate"),
    ("load,load_kind,throughput,p99\n10,concurrency,7,2 parsecs\n",
     "rows[0].p99 (line 2): must be a duration"),
    ("load,load_kind,throughput,p99,error_rate\n10,concurrency,7,2,120%\n",
     "rows[0].error_rate (line 2): must be between 0 and 1"),
    ("load,load_kind,throughput,p99,memory_mb\n10,concurrency,7,2,5 parsecs\n",
     "rows[0].memory_mb (line 2): must be a size"),
    ("load,load_kind,throughput,p99\n10,closed,7,2\n", "rows[0].load_kind (line 2): must be one"),
    ("load,load_kind,throughput,p99\n0,concurrency,7,2\n", "rows[0].load (line 2): must be > 0"),
    ("load,load_kind,throughput,p99\ninf,concurrency,7,2\n",
     "rows[0].load (line 2): must be > 0 and finite"),
    ("load,load_kind,throughput,p99,agents\n10,concurrency,7,2,1.5\n",
     "rows[0].agents (line 2): must be a whole number"),
    ("load,load_kind,throughput,p99\n10,concurrency,7\n", "must have 4 cells"),
    ("load,load_kind,throughput,p99\n", "has no data rows"),
])
def test_bad_baselines_are_explained(text: str, expected: str) -> None:
    """Each broken rule of the baseline CSV is a ConfigError naming row, column, line
    and value."""
    with pytest.raises(ConfigError) as caught:
        parse_baseline(text, "b.csv")
    assert expected in str(caught.value)


def test_every_bad_cell_is_reported_at_once() -> None:
    """Two bad cells in two rows give two problems in one error."""
    text = "load,load_kind,throughput,p99\n10,concurrency,x,2\n20,concurrency,5,y\n"
    with pytest.raises(ConfigError) as caught:
        parse_baseline(text)
    assert len(caught.value.problems) == 2


def _aggregated(path: Path) -> dict[str, str]:
    with path.open() as handle:
        return next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")


def test_locust_stats_import() -> None:
    """A real Locust *_stats.csv: successful throughput = Requests/s x (1 - failures /
    requests), p99 = the 99% column in seconds, load as given (the file has none)."""
    row_data = _aggregated(DATA / "locust_u5_stats.csv")
    count, failures = float(row_data["Request Count"]), float(row_data["Failure Count"])
    row = read_baseline(DATA / "locust_u5_stats.csv", load=5, agents=1).rows[0]
    assert row.load == 5 and row.agents == 1 and row.load_kind == "concurrency"
    assert row.error_rate == pytest.approx(failures / count)
    assert row.throughput == pytest.approx(float(row_data["Requests/s"]) * (1 - failures / count))
    assert row.p99 == pytest.approx(float(row_data["99%"]) / 1000)


def test_locust_stats_import_needs_the_user_count(tmp_path: Path) -> None:
    """A stats file without its history does not record users: without --load the
    import says so; beside its history, the history's User Count (5) labels it."""
    alone = tmp_path / "run_stats.csv"
    alone.write_text((DATA / "locust_u5_stats.csv").read_text())
    with pytest.raises(ConfigError, match="load: is required"):
        read_baseline(alone)
    assert read_baseline(DATA / "locust_u5_stats.csv").rows[0].load == 5


def test_locust_history_import_finds_each_plateau() -> None:
    """The two-plateau recording (2 then 6 users) gives one row per plateau, each
    obeying the interactive response time law N = X_all x R within 30% (Locust's own
    per-request overhead makes N a little larger than X R)."""
    baseline = read_baseline(DATA / "locust_steps_stats_history.csv")
    assert [r.load for r in baseline.rows] == [2, 6]
    with (DATA / "locust_steps_stats_history.csv").open() as handle:
        history = [r for r in csv.DictReader(handle) if r["Name"] == "Aggregated"]
    for row in baseline.rows:
        samples = [h for h in history if float(h["User Count"]) == row.load]
        mean_r = float(samples[-1]["Total Average Response Time"]) / 1000
        answered = row.throughput / (1 - row.error_rate)
        assert answered * mean_r == pytest.approx(row.load, rel=0.3)
    assert baseline.rows[1].throughput > 2 * baseline.rows[0].throughput


@pytest.mark.parametrize("name", ["k6_summary.json", "k6_summary_export.json"])
def test_k6_summary_import(name: str) -> None:
    """A real k6 summary (handleSummary, and the legacy --summary-export): load = VUs,
    throughput = http_reqs rate x (1 - http_req_failed), p99 from p(99) in seconds,
    and the 4 VUs obey N = X_all x R within 30%."""
    data = json.loads((DATA / name).read_text())
    metrics = data["metrics"]

    def values(name: str) -> dict[str, float]:
        return metrics[name].get("values", metrics[name])

    row = read_baseline(DATA / name).rows[0]
    failed = values("http_req_failed")
    error = failed.get("rate", failed.get("value"))
    assert row.load == 4
    assert row.error_rate == pytest.approx(error)
    assert row.throughput == pytest.approx(values("http_reqs")["rate"] * (1 - error))
    mean_r = values("http_req_duration")["avg"] / 1000
    assert values("http_reqs")["rate"] * mean_r == pytest.approx(row.load, rel=0.3)
    assert 0 < row.p99 < values("http_req_duration")["max"] / 1000 + 1e-9


def test_k6_summary_without_p99_is_explained(tmp_path: Path) -> None:
    """k6 leaves p(99) out of its default summary: the import asks for it."""
    data = json.loads((DATA / "k6_summary.json").read_text())
    for name, metric in data["metrics"].items():
        if name.startswith("http_req_duration"):
            metric["values"].pop("p(99)")
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"summaryTrendStats"):
        read_baseline(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A baseline that is not there is a ConfigError, not a traceback."""
    with pytest.raises(ConfigError, match="no such file"):
        read_baseline(tmp_path / "nope.csv")
