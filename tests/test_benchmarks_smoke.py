"""The benchmark script still runs (at toy sizes; it asserts nothing about speed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_mmc_smoke() -> None:
    """`benchmarks/bench_mmc.py --smoke` runs every contender and prints the ratios."""
    out = subprocess.run([sys.executable, "benchmarks/bench_mmc.py", "--smoke"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "ratio tarsim/ciw" in out and "ratio tarsim/simpy" in out
    assert "simulated requests per wall second" in out


def test_bench_workflow_smoke() -> None:
    """`benchmarks/bench_workflow.py --smoke` runs both models and prints the ratio."""
    out = subprocess.run([sys.executable, "benchmarks/bench_workflow.py", "--smoke"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "ratio workflow/plain" in out
