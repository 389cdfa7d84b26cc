"""Consistency findings on the seed's baseline, checked against hand calculations,
and the USL fit against data generated from known parameters."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from tarsim.calibrate.baseline import Baseline, BaselineRow
from tarsim.calibrate.checks import (
    check_baseline,
    memory_trend_findings,
    rate_limit_findings,
    reading_findings,
)
from tarsim.calibrate.sources import read_baseline
from tarsim.calibrate.usl import fit_usl, usl_throughput
from tarsim.config import load_model

ROOT = Path(__file__).resolve().parents[1]
SEED = read_baseline(ROOT / "models" / "baselines" / "load_test_results.csv")
TARS = load_model(ROOT / "models" / "tars.yaml")


def _by(findings: list, kind: str) -> list:
    return [f for f in findings if f.kind == kind]


def test_seed_rows_read_as_concurrency_not_as_open_rate() -> None:
    """Each seed row is impossible as an open rate (row 1: 10 offered, 7.5 answered,
    0 errors) and consistent as users: R = N (1 - e) / X (hand values) <= p99."""
    rows = _by(reading_findings(SEED), "reading")
    hand_r = [10 / 7.5, 25 * 0.97 / 16.5, 50 * 0.96 / 28.3, 100 * 0.95 / 47.5,
              150 * 0.94 / 58.2]
    for finding, r in zip(rows, hand_r, strict=True):
        assert finding.data["closed"]["feasible"]
        assert finding.data["closed"]["mean_response_s"] == pytest.approx(r)
        assert not finding.data["open"]["feasible"]
    first = rows[0]
    assert first.data["open"]["answered_per_s"] == pytest.approx(7.5)
    assert "impossible" in first.message
    verdict = _by(reading_findings(SEED), "load_kind")[0]
    assert verdict.data["feasible"] == ["concurrency"] and verdict.severity == "info"


def test_declaring_the_wrong_load_kind_is_a_problem() -> None:
    """The seed's numbers declared as open rates: the verdict says the file is wrong."""
    as_rate = Baseline(rows=tuple(BaselineRow(**{**r.__dict__, "load_kind": "rate"})
                                  for r in SEED.rows))
    verdict = _by(reading_findings(as_rate), "load_kind")[0]
    assert verdict.severity == "problem" and "declares load_kind rate" in verdict.message


def test_an_open_loop_row_that_balances_is_feasible_as_a_rate() -> None:
    """20/s offered, 19/s answered ok with 5% errors: flow balance holds for a rate."""
    row = BaselineRow(load=20, load_kind="rate", throughput=19.0, p99=0.5, error_rate=0.05)
    finding = _by(reading_findings(Baseline(rows=(row,))), "reading")[0]
    assert finding.data["open"]["feasible"]
    assert finding.data["open"]["answered_per_s"] == pytest.approx(20.0)


def test_calls_per_request_follow_the_class_mix() -> None:
    """TARS by hand, from the class weights in models/tars.yaml: openai serves only the
    validator's embed call, in the 'code' class; anthropic one call per step; search
    is called once per researcher step (classes quick and analysis) unless the tool
    cache (hit rate 0.3) answers. Measured on 20,000 zero-load requests: each rate
    within 4 binomial standard errors (a rate p per request has sd √(p(1−p)/n);
    anthropic's per-step count is a sum of such rates, bounded by 4·√(2/n))."""
    from tarsim.demand import zero_load

    n = 20_000
    weights = {c.name: c.weight for c in TARS.workload.classes}
    demand = zero_load(TARS, requests=n).per_request
    openai = weights["code"]
    assert demand[("provider", "openai")]["requests"] == pytest.approx(
        openai, abs=4 * math.sqrt(openai * (1 - openai) / n))
    search = (weights["quick"] + weights["analysis"]) * (1 - 0.3)
    assert demand[("tool", "search")]["requests"] == pytest.approx(
        search, abs=4 * math.sqrt(search * (1 - search) / n))
    steps = weights["quick"] + 2 * weights["analysis"] + 2 * weights["code"] + weights["report"]
    assert demand[("provider", "anthropic")]["requests"] == pytest.approx(
        steps, abs=4 * math.sqrt(2 / n))


def test_the_search_limit_is_checked_on_tars() -> None:
    """Issue 15 bug 4: on models/tars.yaml the check covers the search tool's own limit
    (50/s), which the hand derivation never read (tool limits were skipped). By hand:
    0.88 × 0.7 = 0.616 searches per request, so the busiest seed row (58.2/0.94 = 61.9
    answered/s) needs about 38/s of the 50/s: an info finding at about 76 %, and the
    limit binds near 50/0.616 = 81 req/s (the README's 85)."""
    findings = [f for f in rate_limit_findings(SEED, TARS) if f.data.get("key") == "tool:search"]
    assert [f.severity for f in findings] == ["info"]
    assert findings[0].data["limit_per_s"] == pytest.approx(50.0)
    assert findings[0].data["per_request"] == pytest.approx(0.616, abs=4 * math.sqrt(
        0.616 * 0.384 / 20_000))


MIX_10 = [{"name": "quick", "weight": 0.55, "steps": ["researcher"]},
          {"name": "analysis", "weight": 0.25, "steps": ["researcher", "analyst"]},
          {"name": "code", "weight": 0.10, "steps": ["engineer", "validator"]},
          {"name": "report", "weight": 0.10, "steps": ["writer"]}]
"""A class mix in which 10% of requests (the code class) reach OpenAI."""


def _with_limits(limits: dict[str, dict[str, float]]) -> object:
    """TARS's roles with the MIX_10 classes, with these provider ``limits`` and no
    other limit (and no tool cache in the way of the embed call)."""
    from tarsim.config import with_overrides

    sets: dict[str, object] = {"workload.classes": MIX_10, "llms.haiku.limits": None,
                               "llms.sonnet.limits": None, "tools.search.limits": None}
    for name in TARS.providers:
        sets[f"providers.{name}.limits"] = limits.get(name)
    return with_overrides(TARS, sets)


def test_the_seed_openai_limit_cannot_apply_to_what_was_measured() -> None:
    """10,000 requests/hour = 2.78/s at 0.10 calls per request: rows whose successful
    requests alone exceed 27.8 req/s (rows 3-5, X = 28.3, 47.5, 58.2) break it, rows 1-2
    do not."""
    findings = rate_limit_findings(SEED, _with_limits({"openai": {"requests": 10000 / 3600}}))
    problem = next(f for f in findings if f.severity == "problem")
    assert problem.data["key"] == "provider:openai"
    assert problem.rows == (2, 3, 4)
    # 0.10 calls per request measured on 20,000 requests: within 4 standard errors
    assert problem.data["max_needed_per_s"] == pytest.approx(
        58.2 * 0.10, rel=4 * math.sqrt(0.9 / 0.1 / 20_000))
    assert problem.data["path"] == "providers.openai.limits.requests"


def test_rejected_requests_do_not_count_as_calls_made(synthetic) -> None:
    """The true model of a limited service: 3 calls/s allowed, one call per request;
    measured 2.5 successful req/s with 50 % errors (5 answered/s, the rest refused by
    the limit). Counting the refused requests' calls (5/s) would call the limit
    impossible; only successes must have been admitted (2.5/s <= 3/s), so the finding
    is no problem, and it says the limit binds (2.5 >= 0.8 x 3) and names its path."""
    from tarsim.calibrate.checks import binding_limits
    from tarsim.config import model_from_data

    data = synthetic()
    data["providers"]["p"]["limits"] = {"requests": 3}
    model = model_from_data(data, base_dir=ROOT)
    rows = (BaselineRow(load=8, load_kind="concurrency", throughput=2.5, p99=1.0,
                        error_rate=0.5),)
    findings = rate_limit_findings(Baseline(rows=rows), model)
    assert [f.severity for f in findings] == ["info"]
    assert findings[0].data["binds"] is True
    assert binding_limits(findings) == ["providers.p.limits.requests"]


def test_a_generous_limit_passes() -> None:
    """4000 requests/min (66.7/s) against at most 61.9 x 0.10 = 6.2/s: no problem."""
    findings = rate_limit_findings(SEED, _with_limits({"openai": {"requests": 4000 / 60}}))
    assert all(f.severity == "info" for f in findings)


def test_a_model_without_limits_has_nothing_to_check() -> None:
    """A model with no limits: the check says so (one note) instead of failing."""
    from conftest import mmc_data

    from tarsim.config import model_from_data

    plain = model_from_data(mmc_data(2.0, 1.0, 3), base_dir=ROOT)
    assert [f.severity for f in rate_limit_findings(SEED, plain)] == ["info"]


def test_an_openai_limit_for_every_request_is_flagged() -> None:
    """If every request called OpenAI (limited to 10,000/h = 2.78/s), the seed's busier
    rows (16-58 req/s answered) would need 6-21x the limit: flagged as a problem, as
    a calibrator must find by itself (docs/sources.md §7.1)."""
    from tarsim.config import with_overrides

    everyone = with_overrides(TARS, {"roles.researcher.tools": {"search": 1, "embed": 1}})
    findings = [f for f in rate_limit_findings(SEED, everyone) if "openai" in f.message]
    assert [f.severity for f in findings] == ["problem"]
    assert "2.778/s" in findings[0].message


def test_seed_error_rate_rises_with_load() -> None:
    """0, 3, 4, 5, 6 % against load 10..150: the least-squares slope (hand: Sxy/Sxx)
    is positive with a CI that excludes zero."""
    finding = _by(check_baseline(SEED), "error_trend")[0]
    load = np.array([10, 25, 50, 100, 150.0])
    err = np.array([0, 3, 4, 5, 6.0]) / 100
    slope = np.sum((load - load.mean()) * (err - err.mean())) / np.sum((load - load.mean())**2)
    assert finding.data["slope_per_load"] == pytest.approx(slope)
    assert finding.data["rising"] and finding.severity == "warning"


def test_seed_memory_is_not_linear_in_agents_and_load() -> None:
    """No plane base + a x agents + b x load fits the seed's memory within 10%."""
    finding = _by(check_baseline(SEED), "memory_trend")[0]
    assert finding.severity == "warning"
    assert finding.data["max_relative_residual"] > 0.10


def test_linear_memory_is_recognised() -> None:
    """Memory made as 4 + 1.2 x agents + 0.05 x load MB is linear and its
    coefficients come back."""
    rows = tuple(BaselineRow(load=n, load_kind="concurrency", throughput=1, p99=1, agents=a,
                             memory_mb=4 + 1.2 * a + 0.05 * n)
                 for n, a in [(10, 1), (25, 2), (50, 5), (100, 10), (150, 12)])
    finding = memory_trend_findings(Baseline(rows=rows))[0]
    assert finding.severity == "info"
    coef = finding.data["coef"]
    assert (coef["base_mb"], coef["per_agent_mb"], coef["per_load_mb"]) == pytest.approx(
        (4, 1.2, 0.05))


# ---------------------------------------------------------------- USL
def test_usl_recovers_exact_parameters() -> None:
    """Noise-free points from sigma 0.05, kappa 0.002, gamma 2 give those values back,
    and the peak N* = sqrt((1 - sigma) / kappa) = 21.79."""
    n = np.array([1, 2, 4, 8, 16, 32, 64.0])
    fit = fit_usl(n, usl_throughput(n, 2.0, 0.05, 0.002))
    assert (fit.gamma, fit.sigma, fit.kappa) == pytest.approx((2.0, 0.05, 0.002), rel=1e-6)
    assert fit.peak_n == pytest.approx(math.sqrt(0.95 / 0.002), rel=1e-6)
    assert not fit.warnings


def test_usl_intervals_are_two_sided_t_on_n_minus_3() -> None:
    """The CI half-width is t(0.975, n - 3) x SE, with SE from an independent
    analytic Jacobian J: SE = sqrt(diag(s^2 (J^T J)^-1)), s^2 = SSR / (n - 3)
    (the one-sided qt(0.95, n - 1) of R's usl would be 1.89 / 2.57 = 26% narrower)."""
    rng = np.random.default_rng(5)
    n = np.array([1, 2, 4, 8, 16, 24, 32, 48.0])
    x = usl_throughput(n, 3.0, 0.04, 0.001) * (1 + 0.03 * rng.standard_normal(len(n)))
    fit = fit_usl(n, x)
    g, s, k = fit.gamma, fit.sigma, fit.kappa
    d = 1 + s * (n - 1) + k * n * (n - 1)
    jac = np.column_stack([n / d, -g * n * (n - 1) / d**2, -g * n * n * (n - 1) / d**2])
    resid = usl_throughput(n, g, s, k) - x
    s2 = resid @ resid / (len(n) - 3)
    se = np.sqrt(np.diag(s2 * np.linalg.inv(jac.T @ jac)))
    q = stats.t.ppf(0.975, len(n) - 3)
    for name, value, err in zip(("gamma", "sigma", "kappa"), (g, s, k), se, strict=True):
        low, high = fit.ci95[name]
        assert (high - value) == pytest.approx(q * err, rel=1e-3)
        assert (value - low) == pytest.approx(q * err, rel=1e-3)


@pytest.mark.slow
def test_usl_interval_coverage_is_95_percent() -> None:
    """Over 400 noisy data sets from known parameters, the sigma and kappa CIs cover
    the truth 95% of the time: the count lies in the binomial 99.9% range."""
    rng = np.random.default_rng(11)
    n = np.array([1, 2, 4, 8, 12, 16, 24, 32, 48, 64.0])
    truth = (2.0, 0.03, 0.0008)
    trials, hits = 400, {"sigma": 0, "kappa": 0}
    for _ in range(trials):
        x = usl_throughput(n, *truth) + 0.4 * rng.standard_normal(len(n))
        fit = fit_usl(n, x)
        for name, value in zip(("sigma", "kappa"), truth[1:], strict=True):
            low, high = fit.ci95[name]
            hits[name] += low <= value <= high
    low, high = stats.binom.ppf([0.0005, 0.9995], trials, 0.95)
    for name, count in hits.items():
        assert low <= count <= high, (name, count)


def test_usl_warns_below_six_points() -> None:
    """Five points fit, with a warning (as R's usl gives)."""
    n = np.array([1, 2, 4, 8, 16.0])
    fit = fit_usl(n, usl_throughput(n, 1.0, 0.1, 0.01))
    assert any("at least 6" in w for w in fit.warnings)


def test_seed_usl_finding_warns_and_reports_the_peak() -> None:
    """The seed has 5 concurrency rows whose agents change: the USL finding warns on
    both counts and gives N* with an interval."""
    finding = _by(check_baseline(SEED), "usl")[0]
    assert finding.severity == "warning"
    assert "at least 6" in finding.message and "agent count" in finding.message
    assert math.isfinite(finding.data["peak_n"])
    low, high = finding.data["ci95"]["peak_n"]
    assert low < finding.data["peak_n"] < high
