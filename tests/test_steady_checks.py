"""Steady-state checks of one run (tarsim.steady): MSER-5 finds a start-up
transient, and the halves of a window tell a drifting run from a steady one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import mmc_data

from tarsim.api import run
from tarsim.config import model_from_data
from tarsim.steady import mser5, reason

ROOT = Path(__file__).resolve().parent.parent


def test_mser5_truncates_a_decaying_transient() -> None:
    """Unit noise around 0 plus a transient 30·e^(−t/10): the transient falls below
    a tenth of the noise's sd after 10·ln(300) = 57 s. MSER-5 deletes most of it and
    little else: its truncation lies between 20 s (the transient still 4 sd) and
    100 s (a third of the series)."""
    rng = np.random.default_rng(3)
    t = np.arange(300.0)
    series = rng.normal(0.0, 1.0, size=300) + 30.0 * np.exp(-t / 10.0)
    assert 20 <= mser5(series) <= 100
    assert mser5(rng.normal(0.0, 1.0, size=300)) <= 150  # never more than half


def test_an_overloaded_queue_is_not_steady_and_a_stable_one_is() -> None:
    """M/M/2 at ρ = 1.25 grows its queue without bound: the second half's p99 is far
    above the first's (about twice: the wait grows linearly with time), and the
    reason says so. The same queue at ρ = 0.5 with a warm-up of 50 mean services
    passes every check."""
    over = model_from_data(mmc_data(2.5, 1.0, 2), base_dir=ROOT)
    summary = run(over, duration=800.0, warmup=50.0, seed=2, keep_records=False).summary
    row = {f"steady_{k}": v for k, v in summary["steady"].items()}
    assert "p99 of the second half" in reason(row, 50.0)
    calm = model_from_data(mmc_data(1.0, 1.0, 2), base_dir=ROOT)
    summary = run(calm, duration=2050.0, warmup=50.0, seed=2, keep_records=False).summary
    row = {f"steady_{k}": v for k, v in summary["steady"].items()}
    assert reason(row, 50.0) == ""


def test_a_short_window_at_a_high_rate_shows_no_throughput_drift() -> None:
    """M/M/∞ in effect (λ = 500/s, mean service 1 s, 2,000 slots) measured over a
    10 s window after a 10 s warm-up, as an automatic sweep timing does: steady, so
    the halves' completion counts differ by Poisson noise only and |z| stays within
    4 in each of three replications. Counting only the completions of requests
    that arrived in the window would leave the first half short by λ·E[S] = 500 of
    about 2,500 (z ≈ +8): a drift that is not there."""
    model = model_from_data(mmc_data(500.0, 1.0, 2000), base_dir=ROOT)
    for replication in range(3):
        summary = run(model, duration=20.0, warmup=10.0, seed=4 + replication,
                      keep_records=False).summary
        assert abs(summary["steady"]["throughput_z"]) < 4.0, summary["steady"]
