"""Caches and cost: the LRU+TTL cache against Che's approximation, the given-hit-rate
cache, prompt caching and tool prices against hand calculations, and the model mix."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from conftest import ROOT
from scipy.optimize import brentq

from tarsim.api import run
from tarsim.components.cache import LRUCache, zipf_keys, zipf_probabilities
from tarsim.config import model_from_data


def che_hit_rate(p: np.ndarray, rate: float, capacity: int, ttl: float = math.inf) -> float:
    """Che's approximation for an LRU cache under the independent reference model:
    the characteristic time T solves sum_i (1 - exp(-rate p_i T)) = capacity, and key
    i hits with probability 1 - exp(-rate p_i T). With a TTL refreshed on every use an
    entry also leaves after ttl idle seconds, so the effective time is min(T, ttl)
    (the TTL-cache approximation of Fofack et al.)."""
    def filled(t: float) -> float:
        return float(np.sum(1.0 - np.exp(-rate * p * t))) - capacity

    t_c = brentq(filled, 1e-12, 1e12)
    t_eff = min(t_c, ttl)
    return float(np.sum(p * (1.0 - np.exp(-rate * p * t_eff))))


def simulated_hit_rate(count: int, zipf: float, capacity: int, ttl: float | None,
                       rate: float, n: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    cache = LRUCache(capacity, ttl, zipf_keys(count, zipf, rng))
    times = np.cumsum(rng.exponential(1.0 / rate, n))
    warm = n // 10
    hits = [cache.lookup(t) for t in times]
    return float(np.mean(hits[warm:]))


@pytest.mark.parametrize("capacity, ttl", [(100, None), (300, 2.0), (100, 30.0)])
def test_lru_ttl_hit_rate_matches_ches_approximation(capacity: int, ttl: float | None):
    """Zipf(0.8) over 1,000 keys at 100 lookups/s: the simulated LRU(+TTL) hit rate is
    within 0.01 of Che's approximation (its error at this size is well below 0.01;
    the sampling error of 180,000 lookups is about 0.002): capacity-bound (100, no
    TTL), TTL-bound (300 entries, 2 s) and capacity-bound with a long TTL."""
    p = zipf_probabilities(1000, 0.8)
    expected = che_hit_rate(p, 100.0, capacity, math.inf if ttl is None else ttl)
    measured = simulated_hit_rate(1000, 0.8, capacity, ttl, 100.0, 200_000, seed=5)
    assert abs(measured - expected) < 0.01, (measured, expected)


def cost_model(cache: dict[str, Any] | None, **extra: Any):
    """One request per second (deterministic); each makes 2 LLM calls of 1,000 input
    and 200 output tokens at $3/$15 per MTok, then one $5-per-1,000 search."""
    data: dict[str, Any] = {
        "name": "cost",
        "workload": {"arrivals": {"kind": "deterministic", "rate": 1.0},
                     "classes": [{"name": "job", "steps": ["writer"]}]},
        "agents": {"count": 1, "concurrency": 100},
        "roles": {"writer": {"llm": "sonnet", "calls": 2, "input_tokens": 1000,
                             "output_tokens": 200, "tools": {"search": 1}}},
        "llms": {"sonnet": {"price": {"input_per_mtok": 3.0, "output_per_mtok": 15.0,
                                      "cache_write": 1.25, "cache_read": 0.1}},
                 "haiku": {"price": {"input_per_mtok": 1.0, "output_per_mtok": 5.0}}},
        "tools": {"search": {"price": {"per_1000_calls": 5.0}}},
        **extra,
    }
    if cache is not None:
        data["cache"] = cache
    return model_from_data(data, base_dir=ROOT)


# (cache section, USD per LLM call by hand)
COST_CASES = {
    "no cache": (None, 1000 * 3e-6 + 200 * 15e-6),  # 0.006
    "prompt hit": ({"context": {"mode": "prompt", "hit_rate": 1.0, "prefix": 0.5}},
                   500 * 3e-6 + 500 * 0.3e-6 + 200 * 15e-6),  # 0.00465
    "prompt miss": ({"context": {"mode": "prompt", "hit_rate": 0.0, "prefix": 0.5}},
                    500 * 3e-6 + 500 * 3.75e-6 + 200 * 15e-6),  # 0.006375
    "response hit": ({"context": {"hit_rate": 1.0}}, 0.0),
}


@pytest.mark.parametrize("case", list(COST_CASES))
def test_cost_matches_a_hand_calculation(case: str):
    """Cost per request = 2 x (LLM call cost) + $0.005 for the search; cached prompt
    prefixes are billed at 0.1x input on a hit and 1.25x on a miss, a response-cache
    hit costs nothing; by_model and by_tool split the same total; per hour = total /
    window x 3600."""
    cache, per_call = COST_CASES[case]
    summary = run(cost_model(cache), duration=100.0, warmup=10.0, seed=1).summary
    n = summary["arrived"]
    assert n == 90
    cost = summary["cost"]
    assert cost["by_model"]["sonnet"] == pytest.approx(n * 2 * per_call)
    assert cost["by_model"]["haiku"] == 0.0
    assert cost["by_tool"]["search"] == pytest.approx(n * 0.005)
    assert cost["total_usd"] == pytest.approx(n * (2 * per_call + 0.005))
    assert cost["per_request_usd"] == pytest.approx(2 * per_call + 0.005)
    assert cost["per_hour_usd"] == pytest.approx(n * (2 * per_call + 0.005) / 90 * 3600)


def test_response_cache_hit_rate_and_skipped_calls():
    """A context cache with hit rate 0.3: the measured hit rate is 0.3 within a 99.9%
    binomial CI, and only the misses reach the API (api.calls = lookups - hits)."""
    summary = run(cost_model({"context": {"hit_rate": 0.3, "latency": "5ms"}}),
                  duration=2000.0, warmup=10.0, seed=2).summary
    lookups = summary["cache"]["lookups"]
    assert lookups == 2 * summary["arrived"]
    hit = summary["cache"]["hit_rate"]
    assert abs(hit - 0.3) < 3.29 * math.sqrt(0.21 / lookups)
    assert summary["api"]["calls"] == round(lookups * (1 - hit))


def test_model_mix_sends_each_share_of_calls_to_its_model():
    """routing.mix {sonnet: 0.85, haiku: 0.15} overrides the role's llm: the share of
    cost going to haiku equals its call share times its relative price, i.e. haiku's
    share of calls is 0.15 within a 99.9% binomial CI."""
    model = cost_model(None, routing={"mix": {"sonnet": 0.85, "haiku": 0.15}})
    summary = run(model, duration=2000.0, warmup=10.0, seed=4).summary
    by_model = summary["cost"]["by_model"]
    haiku_calls = by_model["haiku"] / (1000 * 1e-6 + 200 * 5e-6)
    sonnet_calls = by_model["sonnet"] / (1000 * 3e-6 + 200 * 15e-6)
    total = haiku_calls + sonnet_calls
    assert total == pytest.approx(summary["api"]["calls"])
    assert abs(haiku_calls / total - 0.15) < 3.29 * math.sqrt(0.15 * 0.85 / total)


def test_role_mix_overrides_the_routing_mix():
    """A role's own mix {haiku: 1} wins over routing.mix {sonnet: 1}."""
    model = cost_model(None, routing={"mix": {"sonnet": 1.0}})
    data = model.model_dump(by_alias=True, exclude_none=True)
    data["roles"]["writer"]["mix"] = {"haiku": 1.0}
    summary = run(model_from_data(data, base_dir=ROOT), duration=50.0, warmup=5.0).summary
    assert summary["cost"]["by_model"]["sonnet"] == 0.0
    assert summary["cost"]["by_model"]["haiku"] > 0.0
