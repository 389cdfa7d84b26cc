"""The oracles of tests/oracles.py against published or hand-derived values, and
against each other, so that the theory tests rest on formulas that are themselves
checked."""

from __future__ import annotations

import math

import pytest
from oracles import (
    closed_loop_birth_death,
    closed_loop_mva,
    erlang_b,
    mmc,
    mmc_relaxation_time,
    mmc_sojourn_quantile,
    mmc_sojourn_survival,
    mmck,
)
from scipy.integrate import quad


def test_erlang_c_textbook_example() -> None:
    """λ = 2.4, μ = 1, c = 3 (a = 2.4 erlangs): Σ_{k<3} a^k/k! = 6.28 and
    a³/3!·c/(c − a) = 11.52, so C = 11.52/17.8 = 288/445 and Wq = C/(cμ − λ) = 96/89
    = 1.0787, the value quoted for this example; W = Wq + 1 = 185/89."""
    q = mmc(2.4, 1.0, 3)
    assert q.wait_probability == pytest.approx(288 / 445, rel=1e-12)
    assert q.mean_wait == pytest.approx(96 / 89, rel=1e-12)
    assert round(q.mean_wait, 4) == 1.0787
    assert q.mean_sojourn == pytest.approx(185 / 89, rel=1e-12)
    assert q.mean_queue == pytest.approx(2.4 * 96 / 89, rel=1e-12)


@pytest.mark.parametrize("lam, mu", [(0.8, 1.0), (0.5, 2.0), (9.0, 10.0)])
def test_mm1_textbook(lam: float, mu: float) -> None:
    """M/M/1 ([Kl] §3.2): C = ρ, Wq = ρ/(μ − λ), W = 1/(μ − λ), L = ρ/(1 − ρ), and
    the sojourn is exponential with rate μ − λ, so its p99 is ln(100)/(μ − λ)."""
    rho = lam / mu
    q = mmc(lam, mu, 1)
    assert q.wait_probability == pytest.approx(rho, rel=1e-12)
    assert q.mean_wait == pytest.approx(rho / (mu - lam), rel=1e-12)
    assert q.mean_sojourn == pytest.approx(1 / (mu - lam), rel=1e-12)
    assert q.mean_in_system == pytest.approx(rho / (1 - rho), rel=1e-12)
    assert mmc_sojourn_quantile(0.99, lam, mu, 1) == pytest.approx(math.log(100) / (mu - lam),
                                                                   rel=1e-9)


def test_erlang_b_table_values() -> None:
    """Erlang B: B(3, 2) = (2³/3!)/(1 + 2 + 2 + 4/3) = 4/19 by hand; B(10, 10) = 0.2146
    and B(1, a) = a/(1 + a), as in Erlang B tables."""
    assert erlang_b(3, 2.0) == pytest.approx(4 / 19, rel=1e-12)
    assert round(erlang_b(10, 10.0), 4) == 0.2146
    assert erlang_b(1, 0.7) == pytest.approx(0.7 / 1.7, rel=1e-12)
    assert erlang_b(0, 3.0) == 1.0


@pytest.mark.parametrize("lam, mu, c", [(0.8, 1.0, 1), (2.4, 1.0, 3), (7.0, 1.0, 8),
                                        (1.0, 1.0, 2), (0.3, 0.5, 2)])
def test_sojourn_distribution_integrates_to_the_mean(lam: float, mu: float, c: int) -> None:
    """∫₀^∞ P(T > t) dt = E[T]: the sojourn-time distribution agrees with Erlang C's
    mean W (this includes θ = cμ − λ = μ, the (1, 1, 2) case)."""
    mean, _err = quad(mmc_sojourn_survival, 0, math.inf, args=(lam, mu, c), limit=200)
    assert mean == pytest.approx(mmc(lam, mu, c).mean_sojourn, rel=1e-8)


def test_sojourn_survival_by_numerical_convolution() -> None:
    """P(T > t) = P(W + S > t) computed as P(S > t) + ∫₀^t f_S(s)·P(W > t − s) ds by
    quadrature, with P(W > x) = C e^{−θx}: equals the closed form."""
    lam, mu, c = 3.2, 1.0, 4
    wait_prob = mmc(lam, mu, c).wait_probability
    theta = c * mu - lam
    for t in (0.5, 2.0, 7.0):
        conv, _err = quad(lambda s, t=t: mu * math.exp(-mu * s) * wait_prob
                          * math.exp(-theta * (t - s)), 0, t)
        assert mmc_sojourn_survival(t, lam, mu, c) == pytest.approx(
            math.exp(-mu * t) + conv, rel=1e-9)


def test_sojourn_quantile_continuous_at_theta_equal_mu() -> None:
    """The θ = μ branch is the limit of the general one: the p99 just either side of
    λ = cμ − μ matches the p99 at it."""
    at = mmc_sojourn_quantile(0.99, 1.0, 1.0, 2)
    assert mmc_sojourn_quantile(0.99, 1.0 - 1e-6, 1.0, 2) == pytest.approx(at, rel=1e-5)
    assert mmc_sojourn_quantile(0.99, 1.0 + 1e-6, 1.0, 2) == pytest.approx(at, rel=1e-5)
    assert mmc_sojourn_survival(at, 1.0, 1.0, 2) == pytest.approx(0.01, rel=1e-9)


def test_mmck_hand_values() -> None:
    """M/M/2/6 with a = λ/μ = 2: p_n ∝ 1, 2, 2, 2, 2, 2, 2, so P_K = 2/13, L = 42/13 and,
    admitted at λ(1 − P_K) = 22/13, W = L/λ_eff = 21/11."""
    q = mmck(2.0, 1.0, 2, 6)
    assert q.blocking == pytest.approx(2 / 13, rel=1e-12)
    assert q.mean_in_system == pytest.approx(42 / 13, rel=1e-12)
    assert q.mean_sojourn == pytest.approx(21 / 11, rel=1e-12)
    assert q.mean_sojourn - q.mean_wait == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("rho, k", [(0.5, 3), (0.9, 10), (1.5, 4)])
def test_mm1k_closed_form(rho: float, k: int) -> None:
    """M/M/1/K ([Kl] eq. 3.44): P_K = (1 − ρ)ρ^K / (1 − ρ^{K+1}) and
    L = ρ/(1 − ρ) − (K + 1)ρ^{K+1}/(1 − ρ^{K+1})."""
    q = mmck(rho, 1.0, 1, k)
    assert q.blocking == pytest.approx((1 - rho) * rho**k / (1 - rho ** (k + 1)), rel=1e-12)
    assert q.mean_in_system == pytest.approx(
        rho / (1 - rho) - (k + 1) * rho ** (k + 1) / (1 - rho ** (k + 1)), rel=1e-12)


def test_mmck_limits() -> None:
    """K = c is Erlang's loss system (P_K = B(c, a)); a large K tends to M/M/c."""
    assert mmck(5.0, 1.0, 6, 6).blocking == pytest.approx(erlang_b(6, 5.0), rel=1e-12)
    big = mmck(3.2, 1.0, 4, 2000)
    assert big.mean_sojourn == pytest.approx(mmc(3.2, 1.0, 4).mean_sojourn, rel=1e-9)
    assert big.blocking < 1e-100


@pytest.mark.parametrize("users, think, c, mu", [(20, 2.0, 4, 1.0), (20, 10.0, 4, 1.0),
                                                 (30, 5.0, 8, 0.5), (7, 1.0, 3, 2.0),
                                                 (15, 4.0, 1, 1.0)])
def test_mva_equals_birth_death(users: int, think: float, c: int, mu: float) -> None:
    """Exact MVA and the machine-repairman birth-death chain are two solutions of one
    Markov chain: their X and R agree to rounding, and both obey X = N/(Z + R)."""
    mva = closed_loop_mva(users, think, c, mu)
    bd = closed_loop_birth_death(users, think, c, mu)
    assert mva.throughput == pytest.approx(bd.throughput, rel=1e-9)
    assert mva.response_time == pytest.approx(bd.response_time, rel=1e-9)
    assert bd.throughput == pytest.approx(users / (think + bd.response_time), rel=1e-12)


@pytest.mark.parametrize("users, think", [(5, 3.0), (15, 4.0), (40, 20.0)])
def test_machine_repairman_single_server_is_erlang_b(users: int, think: float) -> None:
    """With one server the repairman's idle probability is Erlang B with N servers and
    load μZ ([GSTH] §2.7), so X = μ(1 − B(N, μZ))."""
    mu = 1.5
    x = mu * (1 - erlang_b(users, mu * think))
    assert closed_loop_mva(users, think, 1, mu).throughput == pytest.approx(x, rel=1e-9)


def test_mva_limits() -> None:
    """With at least as many servers as users nobody queues (R = 1/μ, X = N/(Z + 1/μ));
    with many users the station saturates (X → cμ) and R → N/(cμ) − Z."""
    light = closed_loop_mva(6, 2.0, 8, 0.5)
    assert light.response_time == pytest.approx(2.0, rel=1e-12)
    assert light.throughput == pytest.approx(6 / 4.0, rel=1e-12)
    heavy = closed_loop_mva(200, 1.0, 4, 1.0)
    assert heavy.throughput == pytest.approx(4.0, rel=1e-9)
    assert heavy.response_time == pytest.approx(200 / 4.0 - 1.0, rel=1e-9)


def test_relaxation_time_scale() -> None:
    """Morse's M/M/1 relaxation time 1/(μ(1 − √ρ)²): 1/(1 − √0.81)² = 100 at ρ = 0.81;
    c servers act as one of rate cμ; light load is floored at one service time."""
    assert mmc_relaxation_time(0.81, 1.0, 1) == pytest.approx(100.0, rel=1e-12)
    assert mmc_relaxation_time(0.81 * 4, 1.0, 4) == pytest.approx(25.0, rel=1e-12)
    assert mmc_relaxation_time(0.3, 1.0, 8) == 1.0
