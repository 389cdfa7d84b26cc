"""The sweep report: a self-contained page (no network) that headless Chromium
renders with every chart drawn and no console error; names from YAML escaped;
and the CLI commands around sweeps."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import mmc_data

from tarsim import api
from tarsim.cli import main

CHROMIUM = Path("/usr/bin/chromium")
NASTY = '<script>alert("x")</script> & </div>'


def make_experiment(tmp_path: Path, tier: str = "small") -> Path:
    (tmp_path / "mmc.yaml").write_text(yaml.safe_dump(mmc_data(2.0, 1.0, 3)))
    exp = {"name": "report", "model": "mmc.yaml", "horizon": "200s", "replications": 3,
           "slo": {"p99": "6s", "error_rate": 0.01}, "capacity": True,
           "tiers": [{"name": tier, "rate": ["1/s", "2/s"],
                      "grid": {"agents.concurrency": [3, 4]}},
                     {"name": "large", "rate": "5/s", "grid": {"agents.concurrency": [6, 8]}}]}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One sweep (with capacity searches) for every test of the report."""
    folder = tmp_path_factory.mktemp("report")
    out = folder / "out"
    api.sweep(make_experiment(folder, NASTY), out=out, executor="serial")
    return out


def test_report_is_self_contained_and_escapes_names(report_dir):
    """No external script or stylesheet; the tier name from YAML appears only
    escaped, never as markup."""
    page = (report_dir / "report.html").read_text()
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=", page)
    assert "cdn.jsdelivr" not in page and "unpkg.com" not in page
    assert NASTY not in page
    assert '<script>alert("x")' not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;/div&gt;" in page


def _chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--no-first-run", "--hide-scrollbars",
         f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=20000", *args, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)


CHARTS = ["p99", "throughput", "errors", "cost_vs_p99", "agents", "utilisation", "capacity"]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at "
                    "/usr/bin/chromium (apt-get install chromium)")
def test_report_renders_in_headless_chromium(report_dir, tmp_path):
    """Chromium, offline, in a 1000-pixel window: every chart drawn as SVG, the page
    records all of them drawn, nothing in the summary (paragraphs and table) nor the
    page is wider than the window, and neither the page nor the console reports an
    error. Screenshots at 1000 and 1400 px are written for a person to look at."""
    proc = _chromium(report_dir / "report.html", tmp_path / "profile",
                     "--window-size=1000,1000", "--dump-dom")
    dom = proc.stdout
    charts = re.findall(r'<div class="chart[^"]*" id="chart-([a-z_0-9]+)"[^>]*>(.{0,400})',
                        dom)
    names = [name for name, _ in charts]
    assert names == CHARTS
    assert all("<svg" in inner for _, inner in charts)
    assert f'data-charts-drawn="{len(CHARTS)}"' in dom
    assert 'data-overflow=""' in dom
    assert re.search(r'<pre id="report-errors"></pre>', dom)
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert console == []
    for width in (1000, 1400):
        shot = tmp_path / f"report_{width}.png"
        _chromium(report_dir / "report.html", tmp_path / "profile",
                  f"--window-size={width},1400", f"--screenshot={shot}")
        assert shot.stat().st_size > 10_000  # a page, not a blank


def test_report_summary_says_each_tiers_verdict(report_dir):
    """The report opens with a paragraph per tier (its verdict and binding limit) and
    the decision table, before any chart."""
    page = (report_dir / "report.html").read_text()
    summary = page[page.index('<div id="summary">'):page.index("<h2>Charts</h2>")]
    assert summary.count("<p class=") == 2
    assert "Binding:" in summary and "<table>" in summary


def test_report_can_be_rebuilt_from_the_folder(report_dir):
    """api.report regenerates the page and charts from the files a sweep left."""
    (report_dir / "report.html").unlink()
    written = api.report(report_dir)
    assert (report_dir / "report.html") in written
    assert len([p for p in written if p.suffix == ".png"]) == len(CHARTS)


def test_cli_sweep_prints_the_recommendation_table(tmp_path):
    """`tarsim sweep` prints the decision table: one row per tier within 100 columns,
    each followed by its verdict and its binding limit."""
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["sweep", str(make_experiment(tmp_path)), "--out",
                                       str(out), "--executor", "serial"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.split("\n\n* ")[0].splitlines()  # the table, before its notes
    assert max(len(line) for line in lines) <= 100
    head = next(i for i, line in enumerate(lines) if line.startswith("tier "))
    assert lines[head].split()[:4] == ["tier", "load", "SLOs", "configuration"]
    for tier in ("small", "large"):
        row = next(i for i, line in enumerate(lines) if line.startswith(tier + " "))
        assert lines[row].split()[2] in ("ok", "MISS")
        assert lines[row + 1].lstrip().startswith(("meets ", "misses "))
        assert lines[row + 2].lstrip().startswith("limit: ")
    assert (out / "recommendations.csv").is_file()


def test_cli_sweep_dry_run_lists_points(tmp_path):
    result = CliRunner().invoke(main, ["sweep", str(make_experiment(tmp_path)), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "6 points, 18 runs; estimated" in result.output
    assert "[small] agents.concurrency=3  load 1  x3" in result.output


def test_cli_sweep_bad_experiment_exits_2_without_traceback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no --out: anything written goes under tmp_path/results
    path = make_experiment(tmp_path)
    path.write_text(path.read_text().replace("agents.concurrency:", "agents.concurency:", 1))
    result = CliRunner().invoke(main, ["sweep", str(path), "--executor", "serial"])
    assert result.exit_code == 2
    assert "tiers[0].grid.agents.concurency[0]" in result.output
    assert "did you mean 'concurrency'?" in result.output
    assert "Traceback" not in result.output


def test_cli_capacity(tmp_path):
    """`tarsim capacity` prints the capacity it found, and rejects an unknown SLO."""
    path = tmp_path / "mmc.yaml"
    path.write_text(yaml.safe_dump(mmc_data(1.0, 1.0, 2)))
    runner = CliRunner()
    result = runner.invoke(main, ["capacity", str(path), "--slo", "wait_mean=0.5",
                                  "--duration", "300s", "-r", "3", "--tolerance", "0.1",
                                  "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert re.search(r"capacity: [0-9.]+ req/s \(fails at [0-9.]+ req/s\)", result.output)
    bad = runner.invoke(main, ["capacity", str(path), "--slo", "p98=1s"])
    assert bad.exit_code == 2 and "p98" in bad.output and "unknown key" in bad.output

