"""The capacity search's bookkeeping, on a stand-in simulator whose p99 is a known
function of the load: the bracket it reports is made of loads it actually tried,
with the right verdicts."""

from __future__ import annotations

import math

from conftest import mmc_data

from tarsim.config.loader import model_from_data
from tarsim.sweep.capacity import search
from tarsim.sweep.executors import SERIAL, RunTask, make_executor


def _p99_of_users(task: RunTask) -> dict[str, float]:
    """p99 = 0.1 s per user, +/- 1 ms between replications (so there is a CI)."""
    users = task.model.workload.arrivals.users  # type: ignore[union-attr]
    return {"latency.p99": 0.1 * users + 0.001 * (task.replication - 1)}


def test_closed_loop_capacity_is_the_last_sustained_and_first_failed_user_count(tmp_path):
    """With p99 = 0.1 s x users and the SLO p99 <= 1.15 s, 11 users pass (1.1 s, upper
    bound 1.1025 s) and 12 fail (1.2 s). Starting from 25 users the search halves to
    12.5 (run as 12 users) and 6.25 (run as 6): the answer must be 11 sustained,
    failing at 12 - loads it ran, not the fractions it aimed at (it used to say
    "11 users (fails at 11 users)" while its own probe at 12 had failed)."""
    data = mmc_data(1.0, 1.0, 4)
    data["workload"]["arrivals"] = {"kind": "closed", "users": 25}
    model = model_from_data(data, base_dir=tmp_path)
    result = search(model, {"latency.p99": 1.15}, duration=10.0, warmup=1.0,
                    replications=3, executor=make_executor(SERIAL, run=_p99_of_users))
    assert (result.load, result.failed_at) == (11.0, 12.0)
    assert result.probe_at(11.0).sustained and not result.probe_at(12.0).sustained
    assert all(p.load == math.floor(p.load) for p in result.probes)
    assert all(p.sustained == (p.load <= 11) for p in result.probes)
