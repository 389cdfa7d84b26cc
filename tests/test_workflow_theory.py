"""Workflows against theory and hand calculation.

Statistical claims are checked with 99.9 % confidence intervals from the
simulated samples themselves (independent requests where nothing queues; batch
means where a queue correlates them); exact claims use constant distributions.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest

from tarsim import api
from tarsim.config import model_from_data
from tarsim.config.model import Model
from tarsim.run import RunRecords, simulate

Z = 3.29
"""Two-sided 99.9 % normal quantile: a correct engine fails one check in 1,000."""

BASE: dict[str, Any] = {
    "name": "flow",
    "workload": {"arrivals": {"kind": "poisson", "rate": 1.0},
                 "classes": [{"name": "job", "steps": ["server"]}]},
    "agents": {"count": 1, "concurrency": 1000},
    "roles": {"server": {"work": {"dist": "exponential", "mean": 1.0}}},
}


def _model(steps: list[Any], **sections: Any) -> Model:
    data = copy.deepcopy(BASE)
    data["workload"]["classes"][0]["steps"] = steps
    for key, value in sections.items():
        if key == "arrivals":
            data["workload"]["arrivals"] = value
        else:
            data[key] = value
    return model_from_data(data, base_dir=".")


def _ok_latencies(rec: RunRecords) -> np.ndarray:
    req = rec.request_columns
    keep = (req["outcome"] == "ok") & (req["arrival"] >= rec.warmup_s)
    return (req["end"] - req["arrival"])[keep]


def _mean_ci(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean()), Z * float(values.std(ddof=1)) / math.sqrt(len(values))


def _batch_ci(values: np.ndarray, batches: int = 30) -> tuple[float, float]:
    """Mean and 99.9 % half-width by non-overlapping batch means (t quantile, 29 df)."""
    usable = len(values) - len(values) % batches
    means = values[:usable].reshape(batches, -1).mean(axis=1)
    return float(values.mean()), 3.66 * float(means.std(ddof=1)) / math.sqrt(batches)


def test_k_parallel_exponentials_take_the_harmonic_number_over_mu() -> None:
    """k = 4 parallel steps with Exp(mu) work, in the caller's slot (nothing queues):
    the request takes the max of 4 exponentials, mean H_4 / mu = 2.0833 / mu."""
    mu = 2.0
    model = _model([{"parallel": ["server"] * 4, "agent": "same"}],
                   roles={"server": {"work": {"dist": "exponential", "mean": 1 / mu}}})
    latency = _ok_latencies(simulate(model, duration=3000, warmup=10, seed=3))
    mean, half = _mean_ci(latency)
    expected = sum(1 / i for i in range(1, 5)) / mu
    assert abs(mean - expected) <= half, (mean, half, expected)


def test_k_parallel_in_pool_slots_with_room_to_spare_is_the_same_max() -> None:
    """The same 3-way fork with each step taking its own slot from a pool far larger
    than the load: still no queueing, so the mean is H_3 / mu = 1.8333 / mu."""
    model = _model([{"parallel": ["server"] * 3}])
    latency = _ok_latencies(simulate(model, duration=3000, warmup=10, seed=4))
    mean, half = _mean_ci(latency)
    assert abs(mean - (1 + 1 / 2 + 1 / 3)) <= half, (mean, half)


@pytest.mark.slow
def test_two_way_fork_join_of_mm1_queues_matches_nelson_tantawi() -> None:
    """Two branches, each a tool call queueing for its own single-connection provider
    (an M/M/1 queue, FIFO), joined when both finish: the mean response time is
    (12 - rho) / 8 x 1 / (mu - lambda) (Nelson and Tantawi 1985, exact for two)."""
    lam, mu = 0.4, 1.0
    rho = lam / mu
    model = _model(
        [{"parallel": ["left", "right"], "agent": "same"}],
        arrivals={"kind": "poisson", "rate": lam},
        roles={"left": {"tools": {"a": 1}}, "right": {"tools": {"b": 1}}},
        tools={"a": {"provider": "pa", "work": {"dist": "exponential", "mean": 1 / mu}},
               "b": {"provider": "pb", "work": {"dist": "exponential", "mean": 1 / mu}}},
        providers={"pa": {"connections": 1}, "pb": {"connections": 1}},
    )
    latency = _ok_latencies(simulate(model, duration=60_000, warmup=500, seed=5))
    mean, half = _batch_ci(latency)
    expected = (12 - rho) / 8 / (mu - lam)
    assert abs(mean - expected) <= half, (mean, half, expected)


def test_geometric_loop_obeys_walds_identity_for_latency_and_tokens() -> None:
    """A loop that stops with probability p after each round runs N ~ Geometric(p)
    rounds, independent of the rounds' durations: E[latency] = E[N] E[round] =
    (1/p) x first-token mean, and E[input tokens] = E[N] x 100 (Wald's identity)."""
    p = 0.25
    model = _model(
        [{"repeat": ["thinker"], "stop": p}],
        roles={"thinker": {"llm": "m", "input_tokens": 100, "output_tokens": 10}},
        llms={"m": {"first_token": {"dist": "exponential", "mean": 0.5}}},
    )
    rec = simulate(model, duration=3000, warmup=10, seed=6)
    latency = _ok_latencies(rec)
    mean, half = _mean_ci(latency)
    assert abs(mean - 0.5 / p) <= half, (mean, half)
    req = rec.request_columns
    tokens = req["input_tokens"][req["outcome"] == "ok"].astype(float)
    mean, half = _mean_ci(tokens)
    assert abs(mean - 100 / p) <= half, (mean, half)
    assert set(np.unique(tokens % 100)) == {0.0}  # whole rounds only


def test_branch_probabilities_show_in_class_counts_within_binomial_cis() -> None:
    """Each alternative of a 0.2 / 0.5 / 0.3 branch is taken by a Binomial(n, p)
    share of the class's requests."""
    probs = {"a": 0.2, "b": 0.5, "c": 0.3}
    model = _model([{"branch": [{"p": p, "name": k, "steps": ["server"]}
                                for k, p in probs.items()]}],
                   roles={"server": {"work": 0.1}})
    summary = api.run(model, duration=3000, warmup=0, seed=7, keep_records=False).summary
    entry = summary["workflow"]["classes"]["job"]
    n = entry["requests"]
    assert n == summary["arrived"]
    for name, p in probs.items():
        half = Z * math.sqrt(n * p * (1 - p))
        assert abs(entry["branches"][name] - n * p) <= half, (name, entry["branches"])


def test_growing_context_token_totals_are_the_arithmetic_series() -> None:
    """Five rounds of one call (100 in, 10 out) and one tool call, with the context
    growing by 50 a round and carrying all output and 20 tokens per tool result:
    round r sends 100 + (50 + 10 + 20) r tokens, so a request sends
    5 x 100 + 80 x (0+1+2+3+4) = 1,300 input tokens and 50 output tokens; at $1 and
    $5 per MTok it costs 1,300e-6 + 250e-6 USD."""
    model = _model(
        [{"repeat": ["thinker"], "times": 5,
          "context": {"grow": 50, "carry": 1.0, "tool_tokens": 20}}],
        roles={"thinker": {"llm": "m", "input_tokens": 100, "output_tokens": 10,
                           "tools": {"look": 1}}},
        llms={"m": {"first_token": 0.1, "price": {"input_per_mtok": 1, "output_per_mtok": 5}}},
        tools={"look": {"work": 0.05}},
    )
    req = simulate(model, duration=50, warmup=0, seed=8).request_columns
    assert len(req["id"]) > 20
    assert set(req["input_tokens"].tolist()) == {1300}
    assert set(req["output_tokens"].tolist()) == {50}
    assert np.allclose(req["cost_usd"], 1300e-6 + 250e-6)


def test_prompt_caching_bills_the_carried_prefix_as_cache_reads() -> None:
    """With prompt caching on (every lookup a miss, no cached share of the role's own
    prompt), the tokens a loop carries are read from the cache: 3 rounds with
    100 fresh tokens and 40 carried per earlier round bill 300 fresh tokens at
    $1/MTok and 40 x (0+1+2) = 120 at the 0.1 cache-read factor."""
    model = _model(
        [{"repeat": ["thinker"], "times": 3, "context": {"grow": 40}}],
        roles={"thinker": {"llm": "m", "input_tokens": 100}},
        llms={"m": {"first_token": 0.1, "price": {"input_per_mtok": 1, "cache_read": 0.1}}},
        cache={"context": {"mode": "prompt", "hit_rate": 0.0, "prefix": 0.0}},
    )
    req = simulate(model, duration=20, warmup=0, seed=9).request_columns
    assert set(req["input_tokens"].tolist()) == {420}
    assert np.allclose(req["cost_usd"], 300e-6 + 120 * 0.1e-6)


def test_join_first_k_and_spawned_sub_agents_by_hand() -> None:
    """Constant times: three spawned sub-agents (2 s cold start) doing 1, 2 and 3 s
    of work, joined at the first 2: each request takes 2 + 2 = 4 s; its phases hold
    3 x 2 s of spawning and 4 s held at the join; a sub-agent's span says spawn."""
    model = _model(
        [{"parallel": ["one", "two", "three"], "join": 2, "agent": "spawn", "spawn": 2}],
        arrivals={"kind": "deterministic", "rate": 0.1},
        roles={"one": {"work": 1}, "two": {"work": 2}, "three": {"work": 3}},
    )
    rec = simulate(model, duration=100, warmup=0, seed=1)
    latency = _ok_latencies(rec)
    assert np.allclose(latency, 4.0)
    flows = rec.flow_columns
    assert np.allclose(flows["spawning"], 6.0)
    assert np.allclose(flows["join"], 4.0)
    assert set(rec.span_columns["kind"].tolist()) == {"spawn"}
    assert rec.subagent_columns["in_flight"].max() == 3
    # the first request arrives at 10 s: three sub-agents until 13 s (2 s cold start
    # + 1 s), two until 14 s, one until 15 s
    from tarsim.metrics import timeseries

    per_second = timeseries(rec).set_index("t")["subagents"]
    assert per_second.loc[9.0:15.0].tolist() == pytest.approx([0, 3, 3, 3, 2, 1, 0])


def test_spans_from_the_api_show_each_step_its_agent_and_branch() -> None:
    """Constant times, one request every 10 s: a main step (1 s) in the request's
    slot, two pooled steps at once (2 s each, in other slots), then a branch whose
    alternative 'fix' (p 1) runs a 1 s step: spans at 0-1, 1-3 (twice), 3-4."""
    model = _model(
        ["server", {"parallel": ["slow", "slow"]},
         {"branch": [{"p": 1.0, "name": "fix", "steps": ["server"]}, {"p": 0.0}]}],
        arrivals={"kind": "deterministic", "rate": 0.1},
        roles={"server": {"work": 1}, "slow": {"work": 2}},
    )
    result = api.run(model, duration=30, warmup=0, seed=1)
    spans = result.spans()
    first = spans[spans["id"] == spans["id"].min()].sort_values(["start", "role"])
    start = first["start"].min()
    assert (first["start"] - start).tolist() == pytest.approx([0, 1, 1, 3])
    assert (first["end"] - start).tolist() == pytest.approx([1, 3, 3, 4])
    assert first["kind"].tolist() == ["main", "pool", "pool", "main"]
    assert first["branch"].tolist() == ["", "", "", "fix"]
    assert set(first["class"]) == {"job"}
    assert result.subagents()["in_flight"].max() == 2


@pytest.mark.parametrize(("join", "outcome", "calls", "latency"),
                         [("first_success", "ok", 2, 0.5), ("all", "api_error", 1, 0.1)])
def test_a_failing_branch_fails_the_request_only_when_the_join_says_so(
        join: str, outcome: str, calls: int, latency: float) -> None:
    """One branch's call fails after 0.1 s (its provider always errors), the other's
    succeeds after 0.5 s. Joined at the first success, the request is ok at 0.5 s,
    with both calls counted; joined when all finish, it fails at once, at 0.1 s, with
    the branch's api_error and only the call made by then counted."""
    model = _model(
        [{"parallel": ["good", "bad"], "join": join}],
        arrivals={"kind": "deterministic", "rate": 1.0},
        roles={"good": {"llm": "fine", "input_tokens": 10}, "bad": {"llm": "broken"}},
        llms={"fine": {"provider": "up", "first_token": 0.5},
              "broken": {"provider": "down", "first_token": 0.1}},
        providers={"up": {}, "down": {"errors": {"rate": 1.0}}},
    )
    req = simulate(model, duration=20, warmup=0, seed=1).request_columns
    assert set(req["outcome"].tolist()) == {outcome}
    assert set(req["api_calls"].tolist()) == {calls}
    assert np.allclose(req["end"] - req["arrival"], latency)


def test_each_spawned_sub_agent_holds_its_memory_while_it_lives() -> None:
    """Two sub-agents spawned per request (1 s cold start, 2 s of work), one request
    at a time: memory is base + per_agent x agents, plus per_agent for each live
    sub-agent: 10 + 1 x 1 MB, and 13 MB while a pair lives."""
    model = _model(
        [{"parallel": ["server", "server"], "agent": "spawn", "spawn": 1}],
        arrivals={"kind": "deterministic", "rate": 0.1},
        roles={"server": {"work": 2}},
        memory={"base": "10MB", "per_agent": "1MB"},
    )
    summary = api.run(model, duration=100, warmup=0, seed=1, keep_records=False).summary
    assert summary["memory"]["peak_mb"] == pytest.approx(13.0)
    # requests arrive at 10, 20, ..., 90 s (one every 1/rate, the first after one
    # gap): 9 pairs of sub-agents living 3 s each, 54 MB-s over 100 s
    assert summary["memory"]["mean_mb"] == pytest.approx(11 + 9 * 2 * 3 / 100)


class _Sent:
    """A provider stand-in that records the input tokens each call puts to its
    rate limiters, and answers at once."""

    def __init__(self) -> None:
        self.recorder = None
        self.limited: list[float] = []

    def call(self, req: Any, target: str, first: Any, streaming: float,
             input_tokens: float = 0.0, *_: Any) -> Any:
        self.limited.append(input_tokens)
        return True
        yield  # a generator, as Provider.call is


@pytest.mark.parametrize(("prompt_cache", "limited"), [(None, 1000), ({"prefix": 0.0}, 400)])
def test_carried_context_counts_toward_input_limits_unless_prompt_cached(
        prompt_cache: dict[str, float] | None, limited: int) -> None:
    """A call of 1,000 input tokens of which 600 are a loop's carried context puts all
    1,000 to the input-token limiters without prompt caching, and only the 400 fresh
    ones with it (cache reads do not count toward ITPM)."""
    import simpy

    from tarsim.components.providers import LLMClient
    from tarsim.components.recorder import Recorder
    from tarsim.components.requests import Request
    from tarsim.components.streams import Streams
    from tarsim.config.model import LLM
    from tarsim.config.providers import Cache

    env = simpy.Environment()
    sent = _Sent()
    cache = None if prompt_cache is None else Cache.model_validate(
        {"mode": "prompt", "hit_rate": 0.0, **prompt_cache})
    client = LLMClient(env, "m", LLM.model_validate({}), sent,  # type: ignore[arg-type]
                       Streams(1, 0), ".", Recorder(), cache)
    req = Request(0, 0, 0, 0.0, math.inf)
    env.process(client.call(req, 1000, 10, None, None if cache is None else False, 600))
    env.run()
    assert sent.limited == [limited]
    assert req.input_tokens == 1000


def test_a_sequence_form_runs_exactly_as_the_plain_role_list() -> None:
    """`[{steps: [researcher, analyst]}]` runs the same roles in the same slot with the
    same random draws as `[researcher, analyst]`: the same events, latencies and
    cost (only the workflow records are added)."""
    from pathlib import Path

    tars = api.load_model(Path(__file__).resolve().parent.parent / "models" / "tars.yaml")
    wrapped = api.with_overrides(
        tars, {"workload.classes[1].steps": [{"steps": ["researcher", "analyst"]}]})
    plain = api.run(tars, duration=60, warmup=10, seed=2, keep_records=False).summary
    flow = api.run(wrapped, duration=60, warmup=10, seed=2, keep_records=False).summary
    assert "workflow" not in plain
    assert flow.pop("workflow")["classes"]["analysis"]["requests"] > 0
    assert flow == plain
