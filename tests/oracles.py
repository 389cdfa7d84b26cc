"""Exact queueing formulas that the theory tests hold tarsim to.

Each function is a closed form or an exact recursion from the textbooks cited in
its docstring, written independently of tarsim (nothing here imports it), so a
test that compares a simulation against these values checks the engine and its
statistics, not the code against itself. Time is in the caller's unit; rates
are per that unit.

References used throughout:
- [GSTH] Gross, Shortle, Thompson, Harris, *Fundamentals of Queueing Theory*,
  4th ed., Wiley 2008: M/M/c (§2.3), M/M/c/K (§2.5), machine repair (§2.7).
- [Kl] Kleinrock, *Queueing Systems, Vol. 1: Theory*, Wiley 1975 (§3.4, §3.6).
- [LZGS] Lazowska, Zahorjan, Graham, Sevcik, *Quantitative System Performance*,
  Prentice Hall 1984, ch. 20 (exact MVA with load-dependent centres).
- [RL] Reiser, Lavenberg, "Mean-value analysis of closed multichain queuing
  networks", J. ACM 27(2), 1980.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from scipy.optimize import brentq


# ---------------------------------------------------------------- Erlang B and C
def erlang_b(servers: int, load: float) -> float:
    """Erlang's loss formula B(c, a): the probability that an arrival finds all *servers*
    busy in an M/M/c/c loss system offered *load* = λ/μ erlangs.

    Computed by the stable recursion B(0) = 1, B(k) = a·B(k−1) / (k + a·B(k−1))
    ([GSTH] §2.6; [Kl] eq. 3.46), which avoids the factorials of the closed form.
    """
    if servers < 0 or load < 0:
        raise ValueError(f"need servers >= 0 and load >= 0, got {servers}, {load}")
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return b


@dataclass(frozen=True)
class MMc:
    """Steady-state M/M/c (FCFS, unbounded queue) measures."""

    arrival_rate: float
    service_rate: float
    servers: int
    utilization: float
    """ρ = λ/(cμ): the mean fraction of servers busy."""
    wait_probability: float
    """Erlang C: P(an arrival waits) = P(all c servers busy)."""
    mean_wait: float
    """Wq = C / (cμ − λ)."""
    mean_sojourn: float
    """W = Wq + 1/μ."""
    mean_queue: float
    """Lq = λ·Wq."""
    mean_in_system: float
    """L = λ·W."""


def mmc(arrival_rate: float, service_rate: float, servers: int) -> MMc:
    """The M/M/c queue by Erlang C ([GSTH] §2.3, eqs. 2.28-2.32; [Kl] eq. 3.40).

    C(c, a) = c·B / (c − a·(1 − B)) with a = λ/μ and B = B(c, a), the standard
    identity between Erlang C and Erlang B ([GSTH] problem 2.41); then
    Wq = C/(cμ − λ), W = Wq + 1/μ, Lq = λWq, L = λW. Requires ρ = a/c < 1.
    """
    lam, mu, c = arrival_rate, service_rate, servers
    if not (lam > 0 and mu > 0 and c >= 1):
        raise ValueError(f"need λ > 0, μ > 0, c >= 1, got {lam}, {mu}, {c}")
    a = lam / mu
    rho = a / c
    if rho >= 1:
        raise ValueError(f"unstable: ρ = λ/(cμ) = {rho} >= 1")
    b = erlang_b(c, a)
    wait_prob = c * b / (c - a * (1.0 - b))
    wq = wait_prob / (c * mu - lam)
    w = wq + 1.0 / mu
    return MMc(lam, mu, c, rho, wait_prob, wq, w, lam * wq, lam * w)


def mmc_sojourn_survival(t: float, arrival_rate: float, service_rate: float,
                         servers: int) -> float:
    """P(T > t) for the FCFS M/M/c sojourn time T = W + S ([GSTH] §2.3.1; [Kl] §3.6).

    W is 0 with probability 1 − C and exponential with rate θ = cμ − λ with
    probability C (P(W > x) = C·e^{−θx}); the service S ~ Exp(μ) is independent of W.
    Convolving: P(T > t) = (1 − C)·e^{−μt} + C·(θ·e^{−μt} − μ·e^{−θt}) / (θ − μ),
    whose limit at θ = μ is (1 − C)·e^{−μt} + C·(1 + μt)·e^{−μt}.
    """
    q = mmc(arrival_rate, service_rate, servers)
    mu = service_rate
    theta = servers * mu - arrival_rate
    c_prob = q.wait_probability
    if t <= 0:
        return 1.0
    if math.isclose(theta, mu, rel_tol=1e-9):
        hypo = (1.0 + mu * t) * math.exp(-mu * t)
    else:
        hypo = (theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)
    return (1.0 - c_prob) * math.exp(-mu * t) + c_prob * hypo


def mmc_sojourn_quantile(p: float, arrival_rate: float, service_rate: float,
                         servers: int) -> float:
    """The *p*-quantile of the M/M/c sojourn time: the t with P(T > t) = 1 − p,
    found by Brent's method on :func:`mmc_sojourn_survival` (strictly decreasing in t)."""
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    tail = 1.0 - p

    def gap(t: float) -> float:
        return mmc_sojourn_survival(t, arrival_rate, service_rate, servers) - tail

    hi = 1.0 / service_rate
    while gap(hi) > 0:  # P(T > t) <= e^{-min(μ, θ) t}·const: doubling ends quickly
        hi *= 2.0
    return brentq(gap, 0.0, hi, xtol=1e-12, rtol=1e-12)


# ---------------------------------------------------------------- M/M/c/K
@dataclass(frozen=True)
class MMcK:
    """Steady-state M/M/c/K measures: at most K in the system (c in service, K − c waiting)."""

    blocking: float
    """P_K: the fraction of arrivals turned away (PASTA: = the time fraction with K present)."""
    mean_in_system: float
    """L = Σ n·p_n."""
    mean_queue: float
    """Lq = Σ (n − c)·p_n over n > c."""
    admitted_rate: float
    """λ(1 − P_K)."""
    mean_sojourn: float
    """W = L / (λ(1 − P_K)): the mean time in system of admitted customers (Little)."""
    mean_wait: float
    """Wq = Lq / (λ(1 − P_K))."""
    utilization: float
    """Mean busy servers / c = λ(1 − P_K)/(cμ)."""


def mmck(arrival_rate: float, service_rate: float, servers: int, capacity: int) -> MMcK:
    """The M/M/c/K queue ([GSTH] §2.5, eqs. 2.50-2.54; [Kl] §3.4).

    Birth-death with birth rate λ below K and death rate min(n, c)·μ:
    p_n = p_0·a^n/n! for n <= c and p_0·a^n/(c!·c^{n−c}) for c < n <= K, a = λ/μ.
    Any λ > 0 is allowed (the system is finite). *capacity* is K, the most
    customers in the system, so the waiting room holds K − c.
    """
    lam, mu, c, k = arrival_rate, service_rate, servers, capacity
    if not (lam > 0 and mu > 0 and c >= 1 and k >= c):
        raise ValueError(f"need λ > 0, μ > 0, c >= 1, K >= c, got {lam}, {mu}, {c}, {k}")
    a = lam / mu
    weights = [1.0]
    for n in range(1, k + 1):
        weights.append(weights[-1] * a / min(n, c))
    total = sum(weights)
    p = [w / total for w in weights]
    blocking = p[k]
    l_sys = sum(n * pn for n, pn in enumerate(p))
    l_q = sum((n - c) * pn for n, pn in enumerate(p) if n > c)
    admitted = lam * (1.0 - blocking)
    return MMcK(blocking, l_sys, l_q, admitted, l_sys / admitted, l_q / admitted,
                admitted / (c * mu))


# ---------------------------------------------------------------- closed loop
@dataclass(frozen=True)
class ClosedLoop:
    """N users alternating an exponential think time (mean Z) and a request served
    at a station of c exponential servers (rate μ each, FCFS)."""

    throughput: float
    """X: requests completed per unit time."""
    response_time: float
    """R: mean time from sending a request to its answer (queueing + service)."""
    mean_at_station: float
    """Mean requests at the station (waiting or served) = X·R."""
    utilization: float
    """Mean busy servers / c = X/(cμ)."""


def closed_loop_mva(users: int, think_time: float, servers: int,
                    service_rate: float,
                    rates: Callable[[int], float] | None = None) -> ClosedLoop:
    """Exact mean value analysis of the closed loop, the station load-dependent
    (rate μ(j) = min(j, c)·μ with j present) and the think stage a delay centre
    ([LZGS] §20.2, Algorithm 20.1; [RL] 1980).

    For n = 1..N, with p(j | n) the probability of j at the station when n users exist:
        R(n) = Σ_{j=1}^{n} j/μ(j) · p(j−1 | n−1)            (arrival theorem)
        X(n) = n / (Z + R(n))                                  (response time law)
        p(j | n) = X(n)/μ(j) · p(j−1 | n−1)   for j >= 1.
    Start: p(0 | 0) = 1. The textbook closes with p(0 | n) = 1 − Σ_{j>=1} p(j | n),
    which cancels catastrophically once the station saturates (it returns a
    negative throughput at N = 200, c = 4); here p(0 | n) comes from the product
    form instead: p(0 | n) = (Z^n/n!)/G(n) and X(n) = G(n−1)/G(n) give
    p(0 | n) = Z·X(n)/n · p(0 | n−1), a recursion of positive terms.
    *rates*, when given, makes the station general load-dependent: μ(j) = rates(j)·μ
    (rates(j) = min(j, c) is the c-server station); utilization is then X/(c·μ)
    with the c given.
    """
    n_users, z, c, mu = users, think_time, servers, service_rate
    if not (n_users >= 1 and z >= 0 and c >= 1 and mu > 0):
        raise ValueError(f"need N >= 1, Z >= 0, c >= 1, μ > 0, got {n_users}, {z}, {c}, {mu}")
    p = [1.0]
    x = r = 0.0
    for n in range(1, n_users + 1):
        rate = [0.0] + [(min(j, c) if rates is None else rates(j)) * mu
                        for j in range(1, n + 1)]
        r = sum(j / rate[j] * p[j - 1] for j in range(1, n + 1))
        x = n / (z + r)
        p = [z * x / n * p[0]] + [x / rate[j] * p[j - 1] for j in range(1, n + 1)]
    return ClosedLoop(x, r, x * r, x / (c * mu))


def closed_loop_birth_death(users: int, think_time: float, servers: int,
                            service_rate: float,
                            rates: Callable[[int], float] | None = None) -> ClosedLoop:
    """The same closed loop solved as the machine-repairman birth-death chain
    ([GSTH] §2.7; [Kl] §3.8): with k requests at the station, a new one arrives
    at rate (N − k)/Z and one completes at rate min(k, c)·μ, so
    π_k ∝ Π_{i<k} ((N − i)/Z) / (min(i+1, c)·μ). Then X = Σ π_k·min(k, c)·μ,
    L = Σ k·π_k and R = L/X (Little). Needs Z > 0 (with Z = 0 all N users are
    always at the station and X = min(N, c)·μ). *rates* as in :func:`closed_loop_mva`.
    """
    if rates is not None:
        def served(k: int) -> float:
            return rates(k) * service_rate
    else:
        def served(k: int) -> float:
            return min(k, servers) * service_rate
    n_users, z, c, mu = users, think_time, servers, service_rate
    if z <= 0:
        x = served(n_users)
        return ClosedLoop(x, n_users / x, float(n_users), x / (c * mu))
    weights = [1.0]
    for k in range(1, n_users + 1):
        weights.append(weights[-1] * ((n_users - k + 1) / z) / served(k))
    total = sum(weights)
    pi = [w / total for w in weights]
    x = sum(pk * served(k) for k, pk in enumerate(pi) if k > 0)
    at_station = sum(k * pk for k, pk in enumerate(pi))
    return ClosedLoop(x, at_station / x, at_station, x / (c * mu))


# ---------------------------------------------------------------- run-length planning
def mmc_relaxation_time(arrival_rate: float, service_rate: float, servers: int) -> float:
    """How long an M/M/c queue takes to forget its start: τ ≈ 1/(cμ(1 − √ρ)²), and at
    least one mean service time.

    For M/M/1 the distance to steady state decays like e^{−t/τ} with
    τ = 1/(μ(1 − √ρ)²) (Morse 1955, "Stochastic properties of waiting lines",
    Oper. Res. 3(3); [Kl] §2.5); with c busy servers the queue behaves like an M/M/1
    of rate cμ. Not an exact measure, but the scale on which warm-ups are chosen:
    deleting 10τ leaves a start-up bias of order e⁻¹⁰ of the initial deficit.
    """
    rho = arrival_rate / (servers * service_rate)
    if not 0 < rho < 1:
        raise ValueError(f"need 0 < ρ < 1, got {rho}")
    return max(1.0 / service_rate,
               1.0 / (servers * service_rate * (1.0 - math.sqrt(rho)) ** 2))
