"""The recommendation rule and the capacity search on M/M/c, where Erlang C gives
the answers: the smallest c meeting a mean-wait SLO at a load, and the highest
load c slots sustain within it.

Erlang C is written out here (the shared theory oracles are kept elsewhere):
P(wait) = C(c, a) with a = lambda / mu, and the mean wait W_q = C / (c mu - lambda).
"""

from __future__ import annotations

import math

import pytest
import yaml
from conftest import mmc_data
from scipy.optimize import brentq

from tarsim import api


def erlang_c(c: int, lam: float, mu: float) -> float:
    """Probability that an arrival waits in M/M/c."""
    a = lam / mu
    rho = a / c
    if rho >= 1:
        return 1.0
    terms = sum(a**k / math.factorial(k) for k in range(c))
    last = a**c / math.factorial(c) / (1 - rho)
    return last / (terms + last)


def mean_wait(c: int, lam: float, mu: float) -> float:
    if lam >= c * mu:
        return math.inf
    return erlang_c(c, lam, mu) / (c * mu - lam)


LAM, MU = 4.0, 1.0


@pytest.mark.slow
def test_recommendation_is_the_smallest_c_erlang_c_allows(tmp_path):
    """At lambda = 4, mu = 1, with the SLO halfway (geometrically) between the mean
    waits of c*-1 and c* slots, the recommended configuration is c*: the smallest
    c whose Erlang C mean wait meets the SLO."""
    cs = list(range(5, 10))
    waits = {c: mean_wait(c, LAM, MU) for c in cs}
    target = 6  # chosen so the SLO falls between two configurations
    slo = math.sqrt(waits[target - 1] * waits[target])
    expected = min(c for c in cs if waits[c] <= slo)
    assert expected == target
    (tmp_path / "mmc.yaml").write_text(yaml.safe_dump(mmc_data(LAM, MU, 5)))
    exp = {"name": "mmc", "model": "mmc.yaml", "horizon": "3000s", "warmup": "300s",
           "seed": 3, "replications": 5, "slo": {"wait_mean": slo}, "capacity": True,
           "tiers": [{"name": "one", "rate": LAM, "grid": {"agents.concurrency": cs}}]}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(exp, sort_keys=False))
    result = api.sweep(tmp_path / "exp.yaml", executor="local", workers=2)
    rec = result.recommendations.iloc[0]
    assert rec["status"] == "ok"
    assert rec["slots"] == expected
    assert rec["config"] == f"agents.concurrency={expected}"
    assert rec["runner_up"] == f"agents.concurrency={expected + 1}"
    assert rec["binding_slo"] == "wait.mean"
    assert rec["bottleneck"].startswith("agents (utilization")
    # The estimate the decision used agrees with Erlang C within its CI (x2 for slack).
    row = result.summary.set_index("point").loc[int(rec["point"])]
    assert abs(row["wait_mean"] - waits[expected]) <= 2 * row["wait_mean_ci95"]
    # capacity: true adds the capacity of the recommended c* slots: the highest rate
    # whose Erlang C mean wait meets the SLO lies near the bracket the search found
    # (within 10%: the search decides on CI upper bounds, which err on the safe side)
    lam_star = brentq(lambda lam: mean_wait(expected, lam, MU) - slo, 1e-6,
                      expected * MU - 1e-9)
    assert rec["capacity"] < rec["capacity_failed_at"]
    assert 0.9 * lam_star <= rec["capacity"] <= lam_star <= 1.1 * rec["capacity_failed_at"]


@pytest.mark.slow
def test_capacity_search_brackets_the_erlang_c_capacity(tmp_path):
    """With c = 5 slots and the SLO mean wait <= 0.3 s, Erlang C gives the highest
    sustainable rate lambda*. The search ends with a bracket [capacity, failed_at]
    narrower than the tolerance, and lambda* lies inside it once each end is
    widened by what the CIs at the two ends allow (the true mean wait within two
    half-widths of each estimate)."""
    c, slo, tolerance = 5, 0.3, 0.02

    def rate_for(wait: float) -> float:
        return brentq(lambda lam: mean_wait(c, lam, MU) - wait, 1e-6, c * MU - 1e-9)

    path = tmp_path / "mmc.yaml"
    path.write_text(yaml.safe_dump(mmc_data(2.0, MU, c)))
    result = api.capacity(path, {"wait_mean": slo}, duration=3000.0, warmup=300.0,
                          seed=5, replications=5, tolerance=tolerance, workers=2)
    assert result.found
    assert result.failed_at - result.load <= tolerance * result.failed_at
    ok, bad = result.probe_at(result.load), result.probe_at(result.failed_at)
    assert ok.sustained and not bad.sustained
    ok_half = ok.upper["wait_mean"] - ok.metrics["wait_mean"]
    bad_half = bad.upper["wait_mean"] - bad.metrics["wait_mean"]
    lowest = rate_for(max(1e-6, slo - 2 * bad_half))
    highest = rate_for(slo + 2 * ok_half)
    assert lowest <= result.failed_at
    assert result.load <= highest
    # and the answer is close to Erlang C's, not merely consistent with it
    assert abs(result.load - rate_for(slo)) <= 0.1 * rate_for(slo)


def test_capacity_search_sees_a_rate_limit_a_short_probe_cannot_drain() -> None:
    """One call to a tool limited to 10/s, no retries, SLO errors <= 1 %: past 10/s
    the share (λ − 10)/λ of requests must fail, so the capacity is at most 10/0.99 =
    10.1/s (5 % search tolerance on top). Probes of 5 s warm-up and a 320 s window
    start each limit they demand past its rate drained, as a sweep does; from a full
    bucket, which holds more than the excess a probe sends, a probe at 11.6/s passed
    (capacity 11.56/s before the fix), the flaw this guards against."""
    from pathlib import Path

    from tarsim.config import model_from_data
    from tarsim.sweep.capacity import search

    data = mmc_data(5.0, 10.0, 50)
    data["roles"]["server"]["tools"] = {"t": 1}
    data["tools"] = {"t": {"work": 0.01, "limits": {"requests": 10}}}
    model = model_from_data(data, base_dir=Path("."))
    found = search(model, {"error_rate": 0.01}, duration=325.0, warmup=5.0, seed=1,
                   replications=3, tolerance=0.05, start=5.0)
    assert found.load <= 10.0 / 0.99 * 1.05, found.probes
    assert found.load >= 8.0, found.probes
