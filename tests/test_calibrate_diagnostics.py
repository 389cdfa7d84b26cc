"""Honest fits: `--iterations 0` moves nothing, an invalid trial point is penalised (never
a crash), a parameter the data cannot move is "not identified" with its whole range as
interval, a fit that cannot leave its start warns, hold-out refits start from the user's
start values, and the default fit set follows the findings."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import Synthetic, simulated_baseline

from tarsim.calibrate.baseline import Baseline, BaselineRow
from tarsim.calibrate.calibration import calibrate
from tarsim.calibrate.fit import MISSING_PENALTY, FitSettings, Simulator, fit, predict, residuals
from tarsim.calibrate.holdout import holdout
from tarsim.calibrate.params import resolve
from tarsim.config.loader import model_from_data

TINY = FitSettings(duration_s=20, warmup_s=2, replications=1, seed=3, max_iterations=2,
                   noise_replications=4, scan_points=2)


def model_of(data: dict[str, Any]):
    return model_from_data(data, base_dir=Path("."))


def baseline_from(model, loads=(2, 6)) -> Baseline:
    """Rows simulated from *model* itself on other seeds (a baseline it fits)."""
    return simulated_baseline(model, [(n, None) for n in loads],
                              FitSettings(duration_s=40, warmup_s=4, replications=1, seed=99))


def test_zero_iterations_moves_nothing(synthetic: Synthetic) -> None:
    """With a budget of 0, every parameter (the integer concurrency too) stays at its
    start, the calibrated model is the model, and the fit says it did not fit."""
    model = model_of(synthetic(work=0.3, concurrency=6))
    params = resolve(model, ["roles.worker.work", "agents.concurrency",
                             "providers.p.errors.rate"])
    result = fit(model, baseline_from(model_of(synthetic())), params, TINY, iterations=0)
    assert list(result.theta) == [p.start for p in params]
    assert result.fitted() == {"roles.worker.work.mean": 0.3, "agents.concurrency": 6.0,
                               "providers.p.errors.rate": 0.03}
    assert result.model.agents.concurrency == 6
    assert any("no fit" in w for w in result.warnings)


def test_an_invalid_trial_is_penalised_not_raised(synthetic: Synthetic) -> None:
    """Fitting a lognormal's p99 on its own can propose a p99 below the median, which
    the model refuses: that trial gets the penalty on every residual and is counted;
    nothing raises."""
    model = model_of(synthetic())
    params = resolve(model, ["llms.m.first_token.p99"])
    sim = Simulator(model, params, TINY)
    row = BaselineRow(load=2, load_kind="concurrency", throughput=3, p99=1, error_rate=0.0)
    res = residuals([sim.row([0.1], 0, row)])  # median is 0.3
    assert list(res) == [MISSING_PENALTY] * 3
    assert sim.invalid == 1
    ok = residuals([sim.row([1.2], 0, row)])
    assert np.all(np.abs(ok) < MISSING_PENALTY)


def test_a_median_and_tail_fit_never_proposes_an_invalid_lognormal(synthetic: Synthetic) -> None:
    """Fitted as median and tail ratio (>= 1.01), the first-token lognormal has no
    invalid trial in a whole fit started far from the truth."""
    true = model_of(synthetic())
    start = model_of({**synthetic(), "llms": {"m": {"provider": "p", "first_token": {
        "dist": "lognormal", "median": 0.9, "p99": 0.95}}}})
    params = resolve(start, ["llms.m.first_token"])
    assert [p.kind for p in params] == ["median", "tail"]
    result = fit(start, baseline_from(true), params, TINY, with_ci=False)
    assert not any("refuses" in w for w in result.warnings)
    fitted = result.fitted()
    assert fitted["llms.m.first_token.p99"] > fitted["llms.m.first_token.median"]


def test_a_parameter_without_influence_is_not_identified(synthetic: Synthetic) -> None:
    """A 100 s provider timeout that no 0.3 s call reaches cannot be told from the data:
    its sum-of-squares profile is flat, so it is reported not identified with its whole
    search range as interval, and the fit warns that it stopped at its start."""
    data = synthetic()
    data["providers"]["p"]["timeout"] = 100
    model = model_of(data)
    params = resolve(model, ["providers.p.timeout"])
    result = fit(model, baseline_from(model), params, TINY)
    assert result.identified == [False]
    assert result.ci95[0] == (params[0].lower, params[0].upper)
    assert any("start values" in w for w in result.warnings)
    assert any("flat" in w for w in result.warnings)


def test_holdout_refits_start_from_the_users_start(synthetic: Synthetic) -> None:
    """A hold-out refit is the main fit again on the other rows, from the parameters'
    start values with the same budget: its prediction of the held-out row equals that
    of a fresh fit on the other rows (same seeds, so exactly)."""
    true = model_of(synthetic())
    start = model_of(synthetic(work=0.35))
    baseline = baseline_from(true, loads=(2, 4, 8))
    params = resolve(start, ["roles.worker.work"])
    held = holdout(start, baseline, params, TINY, [2])
    fresh = fit(start, baseline.without([2]), params, TINY, with_ci=False)
    again = predict(fresh.model, Baseline(rows=(baseline.rows[2],)), TINY)[0]
    assert held.predictions[0].simulated == again.simulated


def test_default_fit_set_follows_the_findings(synthetic: Synthetic) -> None:
    """A limit that binds (2.5 successful req/s x 1 call against 3/s) gets its rate
    fitted, one that does not (1 req/s) stays fixed; agents.concurrency stays fixed as
    known structure; memory stays fixed when the baseline measures none; each choice
    comes with its reason."""
    data = synthetic()
    data["providers"]["p"]["limits"] = {"requests": 3, "burst": 3}
    model = model_of(data)
    rows = (BaselineRow(load=2, load_kind="concurrency", throughput=2.5, p99=1.0,
                        error_rate=0.2),
            BaselineRow(load=4, load_kind="concurrency", throughput=2.6, p99=1.5,
                        error_rate=0.4))
    cal = calibrate(model, Baseline(rows=rows), None, None, loo=False,
                    settings=FitSettings(duration_s=10, warmup_s=1, replications=1,
                                         max_iterations=0))
    why = dict(cal.fit_set)
    assert why["providers.p.limits.requests"].startswith("fitted")
    assert why["agents.concurrency"].startswith("fixed: known structure")
    assert why["memory.base"].startswith("fixed")
    paths = [p.path for p in cal.result.params]
    assert "providers.p.limits.requests" in paths and "agents.concurrency" not in paths
    assert not any(p.startswith("memory") for p in paths)
    assert math.isfinite(cal.result.cost)
    light = Baseline(rows=(BaselineRow(load=1, load_kind="concurrency", throughput=1.0,
                                       p99=1.0, error_rate=0.0),))
    quiet = calibrate(model, light, None, None, loo=False,
                      settings=FitSettings(duration_s=10, warmup_s=1, replications=1,
                                           max_iterations=0))
    assert dict(quiet.fit_set)["providers.p.limits.requests"].startswith(
        "fixed: this limit does not bind")


def test_a_row_the_model_cannot_run_is_reported_not_penalised(synthetic: Synthetic) -> None:
    """A baseline row of 0.4 agents cannot be simulated with any parameter values: the
    fit names that row (a ConfigError) instead of treating every trial as invalid."""
    from tarsim.config.errors import ConfigError

    model = model_of(synthetic())
    rows = (BaselineRow(load=2, load_kind="concurrency", throughput=3, p99=1),
            BaselineRow(load=4, load_kind="concurrency", throughput=3, p99=1, agents=0))
    with pytest.raises(ConfigError, match=r"baseline row 2 \(load 4\)"):
        fit(model, Baseline(rows=rows), resolve(model, ["roles.worker.work"]), TINY)


def test_a_locust_row_is_compared_with_the_p99_of_all_requests(synthetic: Synthetic) -> None:
    """First token uniform on [0.1, 1.0] s under a 0.55 s timeout, no retries: successes
    last 0.1-0.55 s, the other ~50 % fail at exactly 0.55 s. A row whose p99 is of all
    requests (Locust's) is compared with the simulated p99 of every finished request,
    0.55 s exactly; a row of successes only with theirs, 0.1 + 0.99 x 0.45 = 0.5455 s
    within sampling error (sd of the p99 of ~n uniform draws, 4 sigma)."""
    data = synthetic(work=1e-6, error=0.0)
    data["llms"]["m"]["first_token"] = {"dist": "uniform", "low": 0.1, "high": 1.0}
    data["providers"]["p"]["timeout"] = 0.55
    model = model_of(data)
    sim = Simulator(model, [], FitSettings(duration_s=300, warmup_s=5, replications=1))
    row = {"load": 4, "load_kind": "concurrency", "throughput": 1.0, "p99": 1.0}
    every = sim.row([], 0, BaselineRow(**row, p99_of="all"))
    ok = sim.row([], 0, BaselineRow(**row))
    assert every.simulated["p99"] == pytest.approx(0.55, abs=1e-4)  # + a 1 us mean work
    n = every.simulated["throughput"] * 295
    half = 4 * 0.45 * math.sqrt(0.99 * 0.01 / n)
    assert abs(ok.simulated["p99"] - 0.5455) < half
