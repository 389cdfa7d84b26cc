"""Calibration by simulation: a synthetic baseline made from a model with known
parameters is fitted from a perturbed copy, and the known values fall in the fit's
95% intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import Synthetic, simulated_baseline

from tarsim.calibrate.fit import FitSettings, fit, resolve
from tarsim.calibrate.params import values
from tarsim.calibrate.simulator import calibration_runner
from tarsim.config.loader import model_from_data

LEVELS = [(2, 1), (6, 1), (8, 2), (16, 2), (24, 3), (30, 3)]
"""(users, agents): with 4 slots per agent, rows 1 and 3 have a free slot for every
user and the others queue, so both the service time and the slots per agent show."""


@pytest.mark.slow
def test_known_parameters_are_recovered_within_their_intervals(synthetic: Synthetic) -> None:
    """The baseline is simulated from the true model on seeds the fit never uses;
    the fit starts from every parameter perturbed (work x1.5, error rate x2,
    concurrency 6 instead of 4, memory off by 50%) and must end with each true
    value inside its 95% CI, and with the integer concurrency exactly right."""
    true = model_from_data(synthetic(), base_dir=Path("."))
    baseline = simulated_baseline(true, LEVELS, FitSettings(duration_s=300, warmup_s=30,
                                                            replications=2, seed=777),
                                  memory=True)
    start = model_from_data(synthetic(work=0.3, error=0.06, concurrency=6, base=3e6,
                                      per_agent=0.5e6, per_request=1e5), base_dir=Path("."))
    paths = ["roles.worker.work", "providers.p.errors.rate", "agents.concurrency",
             "memory.base", "memory.per_agent", "memory.per_request"]
    params = resolve(start, paths)
    # on two processes: the same result as serially (tests/test_calibrate_executors.py),
    # in about half the time on two cores
    with calibration_runner("local", workers=2) as runner:
        result = fit(start, baseline, params,
                     FitSettings(duration_s=200, warmup_s=20, replications=2, seed=1,
                                 max_iterations=10), runner=runner)
    truth = {"roles.worker.work": 0.2 / 0.3,  # a scale factor on the perturbed mean
             "providers.p.errors.rate": 0.03, "agents.concurrency": 4,
             "memory.base": 2e6, "memory.per_agent": 1e6, "memory.per_request": 5e4}
    for param, value, (low, high) in zip(params, result.theta, result.ci95, strict=True):
        assert low <= truth[param.path] <= high, (param.path, value, low, high)
        assert np.isfinite(low) and np.isfinite(high), param.path
    assert result.fitted()["agents.concurrency"] == 4
    assert result.fitted()["roles.worker.work.mean"] == pytest.approx(0.2, rel=0.15)


def test_paths_resolve_to_values_scales_and_integers(synthetic: Synthetic) -> None:
    """A number is fitted as itself (bounds from its field: a probability stays in
    (0, 1], with a positive floor 1000x below its start for the log-space search;
    concurrency is an integer >= 1); an exponential is one scale factor on its mean; one
    lognormal given by median and p99 is two parameters, its median and its tail ratio
    p99 / median (>= 1.01, so a trial p99 is never below its median); a path naming
    nothing is a ConfigError."""
    from tarsim.config.errors import ConfigError

    model = model_from_data(synthetic(), base_dir=Path("."))
    rate, conc, work, median, tail = resolve(
        model, ["providers.p.errors.rate", "agents.concurrency", "roles.worker.work",
                "llms.*.first_token"])
    assert (rate.scale, rate.lower, rate.upper, rate.integer) == (
        False, pytest.approx(3e-5), 1.0, False)
    assert (conc.integer, conc.lower) == (True, 1.0)
    assert work.scale
    assert values([work], [2.0]) == {"roles.worker.work.mean": pytest.approx(0.4)}
    assert (median.kind, median.start, tail.kind, tail.start, tail.lower) == (
        "median", 0.3, "tail", pytest.approx(4.0), 1.01)
    assert values([median, tail], [0.15, 4.0]) == {
        "llms.m.first_token.median": pytest.approx(0.15),
        "llms.m.first_token.p99": pytest.approx(0.6)}
    assert values([tail], [0.5]) == {"llms.m.first_token.p99": pytest.approx(0.15)}
    with pytest.raises(ConfigError, match="names no number"):
        resolve(model, ["agents.colour"])


def test_a_rows_simulated_metrics_are_the_means_of_its_replications(synthetic: Synthetic
                                                                     ) -> None:
    """The fit compares a row's p99 and error rate as the mean of its replications'
    own values, the estimator whose noise the fit's allowance takes as one
    replication's variance over the replications (not the replications pooled, which
    is a different estimator of a p99: the quantile of the mixture). Each replication
    is simulated here on its own with the fit's seed and summarised alone."""
    from tarsim import metrics
    from tarsim.calibrate.baseline import BaselineRow
    from tarsim.calibrate.simulator import Simulator, row_overrides
    from tarsim.config.loader import with_overrides
    from tarsim.run import simulate

    model = model_from_data(synthetic(error=0.1), base_dir=Path("."))
    settings = FitSettings(duration_s=60, warmup_s=5, replications=3, seed=11)
    row = BaselineRow(load=6, load_kind="concurrency", throughput=1, p99=1, error_rate=0.1)
    result = Simulator(model, [], settings).row([], 0, row)
    row_model = with_overrides(model, row_overrides(model, row))
    runs = [metrics.summarize(simulate(row_model, duration=60, warmup=5, seed=11,
                                       replication=r)) for r in range(3)]
    p99s = [run["latency"]["p99"] for run in runs]
    errors = [run["error_rate"] for run in runs]
    assert len(set(p99s)) == 3  # replications that differ: a mean is not a pooled value
    assert result.simulated["p99"] == pytest.approx(float(np.mean(p99s)), rel=1e-12)
    assert result.simulated["error_rate"] == pytest.approx(float(np.mean(errors)), rel=1e-12)
