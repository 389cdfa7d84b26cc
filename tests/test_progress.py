"""The sweep's time left comes from measured run times, each run weighted by the
requests it simulates: cheap runs finishing first do not make the estimate fall
and then rise."""

from __future__ import annotations

import yaml
from conftest import mmc_data

from tarsim import api
from tarsim.report.progress import STARTUP_REQUESTS, TimeLeft, clock_text, run_weights


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_time_left_weighs_runs_by_their_work():
    """Runs of weights 1, 1, 10, 10: two cheap runs done in 2 s make 1 unit a second,
    so the 20 units left take 20 s (counting runs would say 2 s); after the first dear
    run (12 units in 12 s) 10 units are left: 10 s."""
    clock = Clock()
    left = TimeLeft([1.0, 1.0, 10.0, 10.0], clock)
    assert left.update(0, 4) is None
    clock.now += 2.0
    assert left.update(2, 4) == 20.0
    clock.now += 10.0
    assert left.update(3, 4) == 10.0
    assert clock_text(3725.0) == "time left ~1:02:05 (from measured run times)"


def test_a_resumed_sweep_counts_its_tail_and_weights_follow_the_load(tmp_path):
    """A resumed sweep with 2 runs left has the last two runs of the order to do;
    each run of an experiment weighs its rate x horizon requests plus the start-up,
    the horizon lengthened as the sweep lengthens it to hold 800 requests after the
    10 s warm-up: 1/s x 810 s and 4/s x 210 s."""
    clock = Clock()
    left = TimeLeft([5.0, 5.0, 1.0, 3.0], clock)
    clock.now += 1.0
    assert left.update(1, 2) == 3.0  # 1 unit in 1 s, 3 units left
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(mmc_data(1.0, 1.0, 2)))
    exp = {"name": "w", "model": "m.yaml", "horizon": "100s", "replications": 2,
           "slo": {"wait_mean": 1.0},
           "tiers": [{"name": "t", "rate": [1.0, 4.0], "grid": {"agents.count": [1]}}]}
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(exp))
    weights = run_weights(api.load_experiment(tmp_path / "e.yaml"))
    assert weights == [810 + STARTUP_REQUESTS] * 2 + [840 + STARTUP_REQUESTS] * 2
