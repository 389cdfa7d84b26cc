"""tarsim against queueing theory: each test runs the engine on a model with a known
exact answer and asserts that the answer lies in the simulation's confidence interval.

How the intervals are built: every test uses R independent replications (seeds keyed
by replication) and a two-sided **99% Student-t interval over the per-replication
summaries** (``result.replications``), computed here with scipy, independently of
tarsim's own ``ci95`` code (which the coverage test checks). Each test also asserts
that its interval is narrow (a stated relative half-width), so that "inside the CI"
means something. Seeds are fixed, so the outcome is deterministic; an honest engine
passes each check with probability 0.99 per seed.

How the horizons are chosen:
- start-up bias: every run starts empty; the warm-up is at least ten relaxation
  times. For M/M/c the relaxation time is about τ = 1/(cμ(1 − √ρ)²) (Morse 1955;
  Kleinrock vol. 1 §2.5 for M/M/1), so deleting 10τ leaves a bias below e⁻¹⁰ of the
  initial deficit. Finite chains (M/M/c/K, the closed loop) relax within a few
  service times; their warm-ups are 100 or more service times.
- right-censoring: arrivals stop at the horizon and the engine drains until every
  request has answered; each test checks that no request is left ``unfinished``.
- precision: windows of 10⁴ to 3·10⁴ customers per replication and R = 20 give
  relative half-widths of 0.5-4% on means and utilizations, under 9% on mean waits
  and under 7% on p99s; each test states and asserts its bound.
Little's law is checked on every run's output: :func:`simulate` applies
:func:`assert_littles_law` to each result, and the TARS model gets its own test.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import MODELS, mmc_data
from oracles import (
    closed_loop_birth_death,
    closed_loop_mva,
    mmc,
    mmc_relaxation_time,
    mmc_sojourn_quantile,
    mmck,
)
from scipy import stats

from tarsim.api import RunResult, run
from tarsim.config import model_from_data

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- helpers
def simulate(data: dict[str, Any], *, duration: float, warmup: float, replications: int,
             seed: int = 20260213) -> RunResult:
    """Run the model *data* (no records kept), check that it was not right-censored
    (nothing ``unfinished``) and that its output obeys Little's law."""
    model = model_from_data(data, base_dir=ROOT)
    result = run(model, duration=duration, warmup=warmup, seed=seed,
                 replications=replications, keep_records=False)
    unfinished = [s["unfinished"] for s in result.replications]
    assert unfinished == [0] * replications, f"censored: unfinished requests {unfinished}"
    assert_littles_law(result.summary)
    return result


def metric(summary: dict[str, Any], path: str) -> float:
    """A metric of a summary by dotted path, e.g. ``latency.p99``."""
    node: Any = summary
    for part in path.split("."):
        node = node[part]
    return float(node)


def ci99(result: RunResult, path: str) -> tuple[float, float]:
    """Mean and half-width of the 99% t-interval over the replications' *path* values."""
    values = np.array([metric(s, path) for s in result.replications])
    n = len(values)
    half = stats.t.ppf(0.995, n - 1) * values.std(ddof=1) / math.sqrt(n)
    return float(values.mean()), float(half)


def assert_covers(result: RunResult, path: str, theory: float, max_rel_halfwidth: float) -> None:
    """*theory* lies in the 99% CI of *path*, and that CI is narrower than
    ±max_rel_halfwidth·theory (so that the check has teeth)."""
    mean, half = ci99(result, path)
    line = (f"{path}: theory {theory:.5g}, simulated {mean:.5g} ± {half:.3g} "
            f"(99% CI, R={len(result.replications)}, rel ±{half / abs(theory):.2%})")
    print(line)  # the measured values, for the record (pytest -s)
    assert abs(mean - theory) <= half, "theory outside the CI: " + line
    assert half <= max_rel_halfwidth * abs(theory), "CI too wide to be meaningful: " + line


def assert_littles_law(summary: dict[str, Any]) -> None:
    """Little's law L = λW on a ``tarsim run`` summary averaged over R >= 2 replications,
    for the whole system and for the router's queue.

    In the system: ``in_system.mean`` (time-average number present) against
    λ·``in_system.sojourn_mean`` with λ = arrived/(duration − warmup): both count every
    request from its arrival to its answer. In the queue: ``queue.mean`` against
    λ_q·``wait.mean``, λ_q = (arrived − queue_full)/window, because ``wait.mean``
    averages the requests that got a slot and a blocked request never waits; it is
    skipped when requests timed out (one that left the queue at its deadline spent
    time in the queue but has no wait).

    On one sample path the two sides differ only by edge terms (requests present at
    the window's ends), of relative order W/T, far below the sampling noise; so they
    must agree within the 95% CI half-widths (``ci95``) of the two estimates: h(L)
    plus, by the first-order error of a product, λW·(h(arrived)/arrived + h(W)/W),
    a bound valid whatever the correlation between λ and W. A bookkeeping error
    (wrong window, lost requests, unit slips) larger than the noise fails it.
    """
    assert summary["replications"] >= 2, "needs an aggregate of >= 2 replications (ci95)"
    assert summary["unfinished"] == 0, f"censored run: unfinished = {summary['unfinished']}"
    ci = summary["ci95"]
    window = summary["duration_s"] - summary["warmup_s"]
    arrived, h_arrived = summary["arrived"], ci["arrived"]
    checks = [("in_system.mean", arrived, h_arrived, "in_system.sojourn_mean")]
    if summary["errors"]["timeout"] == 0:
        served = arrived - summary["errors"]["queue_full"]
        checks.append(("queue.mean", served, h_arrived + ci["errors.queue_full"], "wait.mean"))
    for level, count, h_count, mean_time in checks:
        big_l, h_l = metric(summary, level), ci[level]
        w, h_w = metric(summary, mean_time), ci[mean_time]
        lam_w = count / window * w
        tolerance = h_l + (lam_w * (h_count / count + h_w / w) if lam_w > 0 else 0.0)
        assert abs(big_l - lam_w) <= tolerance, (
            f"Little's law: {level} = {big_l:.6g} but λ·{mean_time} = {lam_w:.6g} "
            f"(λ = {count / window:.6g}/s), tolerance {tolerance:.3g}")


def closed_data(users: int, think: float, servers: int, service_rate: float) -> dict[str, Any]:
    """N users with exponential think time Z in front of c exponential slots."""
    data = mmc_data(1.0, service_rate, servers, name=f"closed{users}")
    data["workload"]["arrivals"] = {
        "kind": "closed", "users": users, "think_time": {"dist": "exponential", "mean": think},
    }
    return data


# ---------------------------------------------------------------- M/M/1
MM1 = {"lam": 0.8, "mu": 1.0}


@pytest.fixture(scope="module")
def mm1() -> RunResult:
    """M/M/1 at ρ = 0.8: τ ≈ 1/(1 − √0.8)² = 90 s, so a 1000 s (11τ) warm-up; a
    40000 s window (≈ 32000 customers) per replication, 20 replications."""
    assert 10 * mmc_relaxation_time(MM1["lam"], MM1["mu"], 1) <= 1000.0
    return simulate(mmc_data(MM1["lam"], MM1["mu"], 1), duration=41000.0, warmup=1000.0,
                    replications=20)


def test_mm1_mean_sojourn(mm1: RunResult) -> None:
    """M/M/1, ρ = 0.8: mean sojourn W = 1/(μ − λ) = 5 s and mean wait Wq = ρ/(μ − λ) = 4 s
    lie in the 99% CIs (relative half-width under 5%); with no errors, latency.mean is
    the mean sojourn of every arrival."""
    q = mmc(MM1["lam"], MM1["mu"], 1)
    assert mm1.summary["error_rate"] == 0
    assert mm1.summary["latency"]["mean"] == pytest.approx(
        mm1.summary["in_system"]["sojourn_mean"], rel=1e-12)
    assert_covers(mm1, "latency.mean", q.mean_sojourn, 0.05)
    assert_covers(mm1, "wait.mean", q.mean_wait, 0.05)
    assert_covers(mm1, "in_system.mean", q.mean_in_system, 0.05)
    assert_covers(mm1, "queue.mean", q.mean_queue, 0.06)


def test_mm1_p99_sojourn(mm1: RunResult) -> None:
    """M/M/1, ρ = 0.8: the sojourn is exponential with rate μ − λ, so p99 = ln(100)/0.2
    = 23.03 s; the mean of the replicate-level p99s has it in its 99% CI (±8%)."""
    assert_covers(mm1, "latency.p99", mmc_sojourn_quantile(0.99, MM1["lam"], MM1["mu"], 1),
                  0.08)


def test_mm1_utilization(mm1: RunResult) -> None:
    """M/M/1: the server is busy a fraction ρ = λ/μ = 0.8 of the time."""
    assert_covers(mm1, "agents.utilization", MM1["lam"] / MM1["mu"], 0.02)


# ---------------------------------------------------------------- M/M/c
MMC_CASES = [
    # (λ, μ, c, warm-up, window): warm-up >= 10τ with τ = 1/(cμ(1 − √ρ)²)
    (3.2, 1.0, 4, 500.0, 5000.0),    # ρ = 0.8, τ ≈ 22 s
    (5.0, 0.5, 12, 250.0, 6000.0),   # ρ = 0.83, 12 slots of mean 2 s, τ ≈ 22 s
]


@pytest.fixture(scope="module", params=MMC_CASES, ids=lambda p: f"lam{p[0]}-mu{p[1]}-c{p[2]}")
def mmc_run(request: pytest.FixtureRequest) -> tuple[tuple[float, float, int], RunResult]:
    """M/M/c runs of 1.6·10⁴ to 3·10⁴ customers per replication, 20 replications,
    after a warm-up of at least 10 relaxation times."""
    lam, mu, c, warmup, window = request.param
    assert warmup >= 10 * mmc_relaxation_time(lam, mu, c)
    result = simulate(mmc_data(lam, mu, c), duration=warmup + window, warmup=warmup,
                      replications=20)
    return (lam, mu, c), result


def test_mmc_mean_sojourn_and_wait(mmc_run: tuple[tuple[float, float, int], RunResult]) -> None:
    """M/M/c: Erlang C's mean sojourn W, mean wait Wq and mean number L lie in the
    99% CIs (relative half-width under 4% for W, 10% for Wq)."""
    (lam, mu, c), result = mmc_run
    q = mmc(lam, mu, c)
    assert result.summary["error_rate"] == 0
    assert_covers(result, "latency.mean", q.mean_sojourn, 0.04)
    assert_covers(result, "in_system.sojourn_mean", q.mean_sojourn, 0.04)
    assert_covers(result, "wait.mean", q.mean_wait, 0.10)
    assert_covers(result, "in_system.mean", q.mean_in_system, 0.04)


def test_mmc_p99_sojourn(mmc_run: tuple[tuple[float, float, int], RunResult]) -> None:
    """M/M/c: the p99 of T = W + S (P(T > t) = (1 − C)e^{−μt} + C(θe^{−μt} − μe^{−θt})/(θ − μ),
    θ = cμ − λ) lies in the 99% CI of the replicate-level p99s (±8%)."""
    (lam, mu, c), result = mmc_run
    assert_covers(result, "latency.p99", mmc_sojourn_quantile(0.99, lam, mu, c), 0.08)


def test_mmc_utilization(mmc_run: tuple[tuple[float, float, int], RunResult]) -> None:
    """M/M/c: the slots are busy a fraction ρ = λ/(cμ) of the time."""
    (lam, mu, c), result = mmc_run
    assert_covers(result, "agents.utilization", lam / (c * mu), 0.02)


# ---------------------------------------------------------------- M/M/c/K
MMCK_CASES = [
    # (λ, μ, c, K): the router queue holds K − c
    (2.0, 1.0, 2, 6),     # offered ρ = 1: P_K = 2/13
    (4.5, 1.0, 4, 7),     # ρ = 1.125, a waiting room of 3
    (0.7, 1.0, 1, 3),     # M/M/1/3, ρ = 0.7
]


@pytest.mark.parametrize("lam, mu, c, k", MMCK_CASES)
def test_mmck_blocking_and_admitted_sojourn(lam: float, mu: float, c: int, k: int) -> None:
    """M/M/c/K with ``router.queue.capacity = K − c``: the fraction of arrivals failed
    with ``queue_full`` is P_K, and the mean sojourn of the admitted ones (latency.mean,
    successes only) is L/(λ(1 − P_K)); both in their 99% CIs, as are Wq, Lq and the
    utilization λ(1 − P_K)/(cμ). The chain is finite and
    relaxes in a few service times: warm-up 200 s, window 4000 s (≥ 2800 arrivals),
    20 replications."""
    q = mmck(lam, mu, c, k)
    data = mmc_data(lam, mu, c, router={"queue": {"capacity": k - c}})
    result = simulate(data, duration=4200.0, warmup=200.0, replications=20)
    for s in result.replications:  # the only error is a full queue
        assert s["errors"]["queue_full"] == round(s["error_rate"] * s["arrived"])
    assert_covers(result, "error_rate", q.blocking, 0.08)
    assert_covers(result, "latency.mean", q.mean_sojourn, 0.03)
    assert_covers(result, "wait.mean", q.mean_wait, 0.06)
    assert_covers(result, "queue.mean", q.mean_queue, 0.06)
    assert_covers(result, "agents.utilization", q.utilization, 0.02)


# ---------------------------------------------------------------- closed loop
CLOSED_CASES = [
    # (N, Z, c, μ)
    (16, 4.0, 3, 1.0),    # at the knee: slots 91% busy
    (20, 2.0, 4, 1.0),    # saturated: X ≈ cμ
    (10, 5.0, 2, 1.0),    # light: 76% busy
]


@pytest.mark.parametrize("users, think, c, mu", CLOSED_CASES)
def test_closed_loop_against_mva(users: int, think: float, c: int, mu: float) -> None:
    """N users, exponential think time Z, c exponential slots: throughput X and mean
    response time R (latency.mean) match exact MVA (itself equal to the birth-death
    solution) within the 99% CIs. All users send at t = 0; the chain relaxes within a
    few response times, so a 200 s warm-up; 4000 s windows (≥ 6000 requests),
    20 replications."""
    exact = closed_loop_mva(users, think, c, mu)
    assert exact.throughput == pytest.approx(
        closed_loop_birth_death(users, think, c, mu).throughput, rel=1e-9)
    result = simulate(closed_data(users, think, c, mu), duration=4200.0, warmup=200.0,
                      replications=20)
    assert result.summary["error_rate"] == 0
    assert_covers(result, "throughput", exact.throughput, 0.02)
    assert_covers(result, "latency.mean", exact.response_time, 0.03)
    assert_covers(result, "in_system.mean", exact.mean_at_station, 0.03)
    assert_covers(result, "agents.utilization", exact.utilization, 0.02)


# ---------------------------------------------------------------- the TARS model
def test_littles_law_on_tars_model() -> None:
    """Little's law holds on the full TARS model (50 closed-loop users, lognormal
    router work, LLM and tool calls, API errors), 5 replications of 300 s after a
    60 s warm-up, with nothing left unfinished."""
    result = run(MODELS / "tars.yaml", duration=360.0, warmup=60.0, seed=1, replications=5,
                 keep_records=False)
    assert result.replications[0]["arrived"] > 1000
    assert_littles_law(result.summary)


def test_littles_law_helper_rejects_a_broken_summary(mm1: RunResult) -> None:
    """The Little's-law check can fail: halving the recorded mean number in the system,
    or dropping a tenth of the arrivals, breaks it."""
    broken = dict(mm1.summary, in_system=dict(mm1.summary["in_system"]))
    broken["in_system"]["mean"] /= 2
    with pytest.raises(AssertionError, match=r"Little's law: in_system\.mean"):
        assert_littles_law(broken)
    fewer = dict(mm1.summary, arrived=mm1.summary["arrived"] * 0.9)
    with pytest.raises(AssertionError, match="Little's law"):
        assert_littles_law(fewer)
