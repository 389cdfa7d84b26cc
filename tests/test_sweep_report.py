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
           "slo": {"p99": "6s", "error_rate": 0.01},
           "tiers": [{"name": tier, "rate": ["1/s", "2/s"],
                      "grid": {"agents.concurrency": [3, 4]}},
                     {"name": "large", "rate": "5/s", "grid": {"agents.concurrency": [6, 8]}}]}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    api.sweep(make_experiment(tmp_path, NASTY), out=out, executor="serial")
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


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at "
                    "/usr/bin/chromium (apt-get install chromium)")
def test_report_renders_in_headless_chromium(report_dir, tmp_path):
    """Chromium, offline, draws every chart as SVG, the page records all of them
    drawn, and neither the page nor the console reports an error."""
    proc = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=20000", "--dump-dom",
         (report_dir / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    dom = proc.stdout
    charts = re.findall(r'<div class="chart[^"]*" id="chart-([a-z_0-9]+)"[^>]*>(.{0,400})',
                        dom)
    names = [name for name, _ in charts]
    assert names == ["throughput", "p99", "errors", "cost_vs_p99", "agents", "bottleneck"]
    assert all("<svg" in inner for _, inner in charts)
    assert 'data-charts-drawn="6"' in dom
    assert re.search(r'<pre id="report-errors"></pre>', dom)
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert console == []


def test_report_can_be_rebuilt_from_the_folder(report_dir):
    """api.report regenerates the page and charts from the files a sweep left."""
    (report_dir / "report.html").unlink()
    written = api.report(report_dir)
    assert (report_dir / "report.html") in written
    assert len([p for p in written if p.suffix == ".png"]) == 6


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

