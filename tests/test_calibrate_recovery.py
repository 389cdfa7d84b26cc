"""Synthetic recovery: a rate limit's rate, a first-token median and p99 and an error rate,
fitted from data the simulator generated, end inside their 95% intervals from three
different start points."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
from conftest import simulated_baseline

from tarsim.calibrate.baseline import Baseline
from tarsim.calibrate.fit import FitSettings, fit
from tarsim.calibrate.params import resolve
from tarsim.calibrate.simulator import calibration_runner
from tarsim.config.loader import model_from_data

LOADS = (1, 3, 6, 10)
"""Closed-loop users, one call each per about 0.35 s (think 0.1 s + the call): about 3
calls/s at 1 user (the limit of 6/s is far), 8.6 offered at 3 (it starts to bind), 17
and 29 at 6 and 10 (it binds hard)."""
TRUE = {"median": 0.2, "p99": 0.6, "error": 0.05, "rate": 6.0}


def service(median: float, p99: float, error: float, rate: float) -> dict[str, Any]:
    """One role making one LLM call through a provider with 5xx errors and a limit of
    *rate* calls/s (a bucket of 2); no retries, so a 429 or a 5xx fails the request."""
    return {
        "name": "recovery",
        "workload": {"arrivals": {"kind": "closed", "users": 2, "think_time": 0.1},
                     "classes": [{"name": "ask", "steps": ["agent"]}]},
        "agents": {"count": 1, "concurrency": 16},
        "roles": {"agent": {"llm": "m"}},
        "llms": {"m": {"provider": "p", "first_token": {"dist": "lognormal",
                                                        "median": median, "p99": p99}}},
        "providers": {"p": {"errors": {"rate": error},
                            "limits": {"requests": rate, "burst": 2}}},
    }


@functools.cache
def measured() -> Baseline:
    true = model_from_data(service(TRUE["median"], TRUE["p99"], TRUE["error"], TRUE["rate"]),
                           base_dir=Path("."))
    return simulated_baseline(true, [(n, None) for n in LOADS],
                              FitSettings(duration_s=400, warmup_s=20, replications=2,
                                          seed=4242))


@pytest.mark.slow
@pytest.mark.parametrize("start", [
    {"median": 0.4, "p99": 2.0, "error": 0.1, "rate": 12.0},
    {"median": 0.1, "p99": 0.15, "error": 0.02, "rate": 3.0},
    {"median": 0.3, "p99": 0.5, "error": 0.01, "rate": 9.0},
])
def test_rate_first_token_and_errors_recovered_from_three_starts(start: dict[str, float]):
    """From each start (all high; all low with a p99 only 1.5x the median; mixed) the
    fit of the first token (median and tail ratio), the error rate and the limit's
    rate ends with every true value inside its 95% CI, each parameter identified."""
    model = model_from_data(service(**start), base_dir=Path("."))
    params = resolve(model, ["llms.m.first_token", "providers.p.errors.rate",
                             "providers.p.limits.requests"])
    with calibration_runner("local", workers=2) as runner:  # same result as serially
        result = fit(model, measured(), params,
                     FitSettings(duration_s=80, warmup_s=5, replications=2, seed=5,
                                 max_iterations=15, noise_replications=6, scan_points=12,
                                 starts=2), runner=runner)
    truth = {"llms.m.first_token.median": TRUE["median"],
             "llms.m.first_token.tail": TRUE["p99"] / TRUE["median"],
             "providers.p.errors.rate": TRUE["error"],
             "providers.p.limits.requests": TRUE["rate"]}
    assert all(result.identified), result.warnings
    for param, value, (low, high) in zip(params, result.theta, result.ci95, strict=True):
        assert low <= truth[param.path] <= high, (param.path, value, low, high)
