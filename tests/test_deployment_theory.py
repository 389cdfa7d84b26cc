"""Hosts, balancers and load-dependent stations against queueing theory.

Intervals are built as in ``test_theory.py``: R independent replications, a
two-sided 99% Student-t interval over the per-replication means (scipy, not
tarsim's own CI code), and a stated bound on the relative half-width so that
"inside the CI" has teeth. Every open model starts empty; warm-ups are at least
ten relaxation times 1/(cμ(1 − √ρ)²) of the M/M/c queue at the same load (a PS
queue's number present is the M/M/1's, so it relaxes as fast), and closed loops
relax within a few service times.

The stations' exactness (a job's remaining work stretched at every arrival and
departure) is also checked by a hand-computed event trace.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import simpy
from conftest import mmc_data
from oracles import closed_loop_birth_death, closed_loop_mva, mmc, mmc_relaxation_time
from test_theory import assert_covers, ci99, simulate

from tarsim.components.stations import Station, rate_function
from tarsim.config.deployment import Congestion

LAM, MU = 0.7, 1.0
"""The PS queue's load: ρ = 0.7, mean sojourn 1/(μ − λ) = 10/3 s."""


def ps_data(work: Any, cores: int = 1) -> dict[str, Any]:
    """A Poisson(λ) stream whose one step is *work* seconds of CPU on one host with
    *cores* cores shared by processor sharing (agent slots never bind)."""
    data = mmc_data(LAM, MU, 10_000, name="ps")
    data["roles"]["server"]["work"] = work
    data["deployment"] = {"hosts": 1, "cpu": {"cores": cores}}
    return data


# ---------------------------------------------------------------- the station itself
def test_station_reschedules_at_every_arrival_and_departure() -> None:
    """Processor sharing by hand: A (2 s of work) starts alone at t=0; B (0.5 s)
    arrives at t=1, when A has 1 s left; both then run at half speed, so B ends at
    t=2 (0.5 s of work in 1 s) with A at 0.5 s left, which A then serves alone:
    A ends at t=2.5. C (1 s) arrives at t=3 and is withdrawn at t=3.5; D (1 s),
    arriving at t=3.2, shares with C until then (0.15 s served), then runs alone
    and ends at 3.5 + 0.85 = 4.35."""
    env = simpy.Environment()
    station = Station(env, Congestion(cores=1))
    ends: dict[str, float] = {}

    def job(name: str, at: float, work: float, leave_at: float | None = None) -> Any:
        yield env.timeout(at)
        served = station.serve(work)
        if leave_at is None:
            yield served.done
            ends[name] = env.now
        else:
            yield env.timeout(leave_at - at)
            station.leave(served)

    for args in [("A", 0.0, 2.0), ("B", 1.0, 0.5), ("C", 3.0, 1.0, 3.5), ("D", 3.2, 1.0)]:
        env.process(job(*args))
    env.run()
    assert ends == pytest.approx({"A": 2.5, "B": 2.0, "D": 4.35})
    assert station.present == 0


def test_station_withdraws_a_job_at_its_deadline() -> None:
    """A job of 2 s of work with 1.5 s of patience, alone on one core, is withdrawn
    unserved at t=1.5 (its event says False); one of 1 s with the same patience
    starting at t=2 is served at t=3 (True)."""
    env = simpy.Environment()
    station = Station(env, Congestion(cores=1))
    log: list[tuple[float, bool]] = []

    def job(at: float, work: float) -> Any:
        yield env.timeout(at)
        served = yield station.serve(work, patience=1.5).done
        log.append((env.now, served))

    env.process(job(0.0, 2.0))
    env.process(job(2.0, 1.0))
    env.run()
    assert log == [(pytest.approx(1.5), False), (pytest.approx(3.0), True)]
    assert station.present == 0


def test_rate_function_forms() -> None:
    """mu(n): min(n, cores) over the USL denominator 1 + σ(n−1) + κn(n−1); a rate
    table is linear between its points and flat beyond them."""
    usl = rate_function(Congestion(cores=4, contention=0.1, coherence=0.01))
    assert usl(1) == pytest.approx(1.0)
    assert usl(6) == pytest.approx(4 / (1 + 0.5 + 0.3))
    table = rate_function(Congestion(rates=[(1, 1.0), (3, 2.0)]))
    assert [table(n) for n in (1, 2, 3, 9)] == pytest.approx([1.0, 1.5, 2.0, 2.0])


# ---------------------------------------------------------------- M/M/1-PS and M/G/1-PS
def test_mm1_ps_mean_sojourn() -> None:
    """M/M/1-PS: mean sojourn 1/(μ − λ) (Kleinrock vol. 2 §4.4). 12 replications of
    8000 s (≈ 5600 jobs) after 400 s (10τ ≈ 375 s); half-width within 10%."""
    assert 10 * mmc_relaxation_time(LAM, MU, 1) <= 400.0
    result = simulate(ps_data({"dist": "exponential", "mean": 1.0 / MU}),
                      duration=8400.0, warmup=400.0, replications=12)
    assert_covers(result, "latency.mean", 1.0 / (MU - LAM), 0.10)


@pytest.mark.parametrize("work, fifo_sojourn", [
    (1.0, 1.0 + LAM / (2 * (1 - LAM))),
    ({"dist": "lognormal", "mean": 1.0, "cv": 1.5}, 1.0 + LAM * (1 + 1.5**2) / (2 * (1 - LAM))),
], ids=["deterministic", "lognormal-cv1.5"])
def test_mg1_ps_insensitivity(work: Any, fifo_sojourn: float) -> None:
    """M/G/1-PS: the mean sojourn is 1/(μ − λ) whatever the work's distribution, given
    its mean (insensitivity; Kleinrock vol. 2 §4.4). The exponential case is the
    test above. A FIFO server would give Pollaczek-Khinchine's 1 + ρ(1 + cv²)/(2(1 − ρ))
    (2.17 s deterministic, 4.79 s at cv 1.5): outside the interval, so the station
    is not a FIFO server in disguise. 12 replications; half-widths within 12% (cv 1.5
    is noisier)."""
    result = simulate(ps_data(work), duration=8400.0, warmup=400.0, replications=12)
    theory = 1.0 / (MU - LAM)
    assert_covers(result, "latency.mean", theory, 0.12)
    mean, half = ci99(result, "latency.mean")
    assert abs(mean - fifo_sojourn) > half


# ---------------------------------------------------------------- load-dependent station
RATE_CASES = {
    "table": {"rates": [[1, 1.0], [2, 1.6], [4, 2.0], [8, 2.2]]},
    "usl": {"cores": 3, "contention": 0.05, "coherence": 0.01},
}


@pytest.mark.parametrize("name", sorted(RATE_CASES))
def test_load_dependent_station_against_exact_solution(name: str) -> None:
    """A closed loop of N = 8 users (exponential think Z = 2 s) in front of a
    load-dependent station (exponential work, mean 1 s, total rate mu(j) with j
    present) is a product-form network: exact MVA with a load-dependent centre
    ([LZGS] ch. 20) gives its throughput and response time, and the birth-death
    chain with death rate mu(j) gives the same (checked here first). Throughput and
    mean response time in the 99% CI, half-widths within 3% and 6%."""
    spec = RATE_CASES[name]
    rates = rate_function(Congestion.model_validate(spec))
    users, think = 8, 2.0
    exact = closed_loop_mva(users, think, 1, MU, rates=rates)
    chain = closed_loop_birth_death(users, think, 1, MU, rates=rates)
    assert exact.throughput == pytest.approx(chain.throughput, rel=1e-9)
    assert exact.response_time == pytest.approx(chain.response_time, rel=1e-9)
    data = mmc_data(1.0, MU, 10_000, name=f"ld-{name}")
    data["workload"]["arrivals"] = {"kind": "closed", "users": users,
                                    "think_time": {"dist": "exponential", "mean": think}}
    data["deployment"] = {"hosts": 1, "cpu": spec}
    result = simulate(data, duration=3100.0, warmup=100.0, replications=8)
    assert_covers(result, "throughput", exact.throughput, 0.03)
    assert_covers(result, "latency.mean", exact.response_time, 0.06)


# ---------------------------------------------------------------- hosts and balancers
def test_random_balancing_is_independent_mmc_queues() -> None:
    """k = 3 hosts, each one agent with c = 2 slots, behind a random balancer: a
    Poisson stream split at random is k independent Poisson streams (λ/k each), so
    each host is an M/M/2 queue at λ/k and the mean sojourn and wait are its Erlang C
    values. λ = 4.2, μ = 1: ρ = 0.7 per host; 8 replications of 3000 s.
    Half-widths within 5% and 12%."""
    lam, hosts, c = 4.2, 3, 2
    per_host = mmc(lam / hosts, MU, c)
    assert 10 * mmc_relaxation_time(lam / hosts, MU, c) <= 200.0
    data = mmc_data(lam, MU, c, name="random3")
    data["deployment"] = {"hosts": hosts, "balancer": "random"}
    result = simulate(data, duration=3200.0, warmup=200.0, replications=8)
    assert_covers(result, "latency.mean", per_host.mean_sojourn, 0.05)
    assert_covers(result, "wait.mean", per_host.mean_wait, 0.12)


@pytest.fixture(scope="module")
def balanced() -> dict[str, Any]:
    """Four one-slot hosts at ρ = 0.8 under each policy, on common random numbers:
    8 replications of 2500 s after 900 s (10τ ≈ 897 s for M/M/1 at ρ = 0.8, the
    slowest of the three)."""
    lam, hosts = 3.2, 4
    assert 10 * mmc_relaxation_time(lam / hosts, MU, 1) <= 900.0
    out = {}
    for policy in ("random", "power_of_two", "least_connections"):
        data = mmc_data(lam, MU, 1, name=policy)
        data["deployment"] = {"hosts": hosts, "balancer": policy}
        out[policy] = simulate(data, duration=3400.0, warmup=900.0, replications=8)
    return out


def test_balancers_ordered_as_theory_says(balanced: dict[str, Any]) -> None:
    """Mean waits: random splitting makes each host M/M/1 (wait ρ/(μ − λ/k) = 4 s);
    the power of two choices waits far less (Mitzenmacher 2001: the queue-length tail
    falls doubly exponentially) and joining the shortest queue least of all (it is
    optimal for identical exponential servers, Winston 1977). The 99% intervals of
    the three must be ordered and disjoint: least connections < power of two <
    random, and random's covers the M/M/1 value (half-width within 20%)."""
    lam, hosts = 3.2, 4
    mm1 = mmc(lam / hosts, MU, 1)
    assert_covers(balanced["random"], "wait.mean", mm1.mean_wait, 0.20)
    waits = {p: ci99(r, "wait.mean") for p, r in balanced.items()}
    print({p: (round(m, 3), round(h, 3)) for p, (m, h) in waits.items()})
    (lc, h_lc), (p2, h_p2), (rnd, h_rnd) = (
        waits["least_connections"], waits["power_of_two"], waits["random"])
    assert lc + h_lc < p2 - h_p2
    assert p2 + h_p2 < rnd - h_rnd


def test_one_host_deployment_is_the_model_without_one() -> None:
    """``deployment: {hosts: 1}`` with no CPU, call station or connection pool is the
    same system as no deployment section: the same seed gives identical requests."""
    base = mmc_data(0.9, MU, 2, name="same")
    with_host = dict(base, deployment={"hosts": 1, "balancer": "random"})
    a = simulate(base, duration=600.0, warmup=50.0, replications=2)
    b = simulate(with_host, duration=600.0, warmup=50.0, replications=2)
    for key in ("arrived", "completed", "throughput", "latency"):
        assert a.summary[key] == b.summary[key]
    assert np.isfinite(a.summary["latency"]["mean"])
