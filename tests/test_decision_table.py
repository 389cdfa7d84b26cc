"""The decision table a sweep prints: short labels, money per hour and per month,
the verdict with headroom or the missed SLO (by how much), the binding limit, what
the grid suggests, and warnings; all within 100 columns. Built on a hand-made
summary whose numbers give the expected text by arithmetic."""

from __future__ import annotations

import pandas as pd

from tarsim.report.decision import config_label, decide, money, percent, phrase
from tarsim.report.table import decision_table
from tarsim.sweep.recommend import recommend

LIMITS = {"latency.p99": 3.0, "error_rate": 0.01}
MIX = '{"haiku":0.85,"sonnet":0.1,"opus":0.05}'


def _row(point, tier, load, agents, hit, p99, err, cost, util, plan=None):
    row = {"point": point, "tier": tier, "load_kind": "rate", "load": load,
           "config": f"agents={agents}, hit={hit}, plan={plan}", "routing.mix": MIX,
           "cache.context.hit_rate": hit, "agents.count": agents,
           "providers.openai.limits.requests": plan or "None",
           "agents_count": agents, "slots": agents, "throughput": load,
           "latency_p50": p99 / 3, "latency_p99": p99, "latency_p99_ci95": 0.1,
           "error_rate": err, "error_rate_ci95": 0.0,
           "cost_per_hour_usd": cost, "cost_per_request_usd": cost / 3600 / load,
           "agents_utilization": util, "errors_api_error": err}
    return row


def _tables():
    rows = []
    # tier "small": every configuration meets p99 <= 3 s; the 60 % cache is cheaper
    for agents in (5, 10):
        for hit, cost in ((0.0, 900.0), (0.6, 700.0)):
            for load in (10.0, 50.0):
                rows.append(_row(len(rows), "small", load, agents, hit, 2.0 + hit, 0.0,
                                 cost * load / 50 + agents, 0.2))
    # tier "big": nothing meets p99 at 100 req/s; 50 agents bring it from 3.6 to 3.3 s
    for agents, p99 in ((10, 3.5), (50, 3.2)):
        for plan in ("10000/h", "10000/min"):
            rows.append(_row(len(rows), "big", 100.0, agents, 0.0, p99, 0.001,
                             2000.0 + agents, 0.3, plan))
    summary = pd.DataFrame(rows)
    recs = recommend(summary, LIMITS)
    recs["capacity"] = [63.75 if t == "small" else float("nan") for t in recs["tier"]]
    recs["capacity_failed_at"] = recs["capacity"] + 1
    from tarsim.sweep.recommend import total_costs
    return total_costs(summary, 0.0), recs


def test_labels_and_money_read_as_a_planner_writes_them():
    """A mix is named by its models and shares, a hit rate as a percentage, a count
    with its noun; money has separators, cents only below $100; a month is 730 h."""
    assert phrase("routing.mix", '{"haiku":1.0}') == "all Haiku"
    assert phrase("routing.mix", MIX) == "Haiku 85/Sonnet 10/Opus 5"
    assert phrase("cache.context.hit_rate", 0.6) == "cache 60 %"
    assert phrase("agents.count", 5) == "5 agents"
    assert phrase("tools.search.limits.requests", "500/s") == "search 500/s"
    assert config_label({"routing.mix": '{"haiku":1.0}', "cache.context.hit_rate": 0.6,
                         "agents.count": 5, "providers.openai.limits.requests": "10000/min"}
                        ) == ("all Haiku, cache 60 %, 5 agents", "OpenAI 10,000/min")
    assert money(1395.8) == "$1,396" and money(4.123) == "$4.12"
    assert percent(0.0002168) == "0.02 %" and percent(0.2213) == "22 %"
    assert percent(0.01) == "1 %"


def test_each_tier_says_verdict_headroom_or_miss_limit_and_fits_100_columns():
    """small: the cheapest is 5 agents with the 60 % cache (700 x 50/50 + 5 = $705/h,
    x 730 = $514,650/month); its capacity 63.75 req/s is 1.3x its top load of 50.
    big: the closest is 50 agents (p99 upper bound 3.2 + 0.1 = 3.3 s, 0.3 s or 10 %
    over 3 s); the grid's best single change is none better, and nothing meets it."""
    summary, recs = _tables()
    decisions = decide(summary, recs, LIMITS, calibrated_up_to=58.0)
    text = decision_table(decisions, LIMITS)
    assert max(len(line) for line in text.splitlines()) <= 100
    small, big = decisions
    assert small.meets and small.label == "Haiku 85/Sonnet 10/Opus 5, cache 60 %, 5 agents"
    assert small.cost_per_hour == 705.0 and "$514,650" in text
    assert "meets p99 <= 3 s and errors <= 1 % at 10 and 50 req/s" in small.verdict
    assert "capacity 63.8 req/s, 1.3x the top load" in small.verdict
    assert "edge of the grid: 5 agents is the fewest tried" in " | ".join(small.warnings)
    assert any(w.startswith("assumes cache 60 %, the highest tried (with cache 0 %: p99 "
                            "2.10 s, $905/h)")
               for w in small.warnings)
    assert not big.meets and big.label.endswith("50 agents")
    assert "misses p99 3.30 s vs 3 s (+0.30 s, +10 %) at 100 req/s" in big.verdict
    assert big.binding == ("p99 at 110 % of its limit; the calls' own response time, "
                           "not queueing (agents 30 % busy)")
    assert "nothing in the grid meets the SLOs at 100 req/s" in big.lift
    assert "extrapolated: 100 req/s is past the calibrated range (up to 58 req/s)" \
        in big.warnings
    assert "extrapolated: the capacity, 63.8 req/s, is past the calibrated range (up to " \
        "58 req/s)" in small.warnings
    assert "edge of the grid: 50 agents is the most tried" in big.warnings
    for d in decisions:
        assert f"{d.tier} " in text and d.verdict.split(";")[0][:60] in text.replace(
            "\n      ", " ")


def test_binding_limit_names_the_limit_that_refused():
    """Errors all rate_limited, and the search request limit gave 970 of 1,000 429s
    (OpenAI's the other 30): the binding limit says so, 97 %."""
    from tarsim.report.decision import binding_words

    rec = {"bottleneck": "errors: rate_limited (100% of errors)"}
    row = {"api_limits_tools_search_requests_refused": 970.0,
           "api_limits_providers_openai_requests_refused": 30.0,
           "api_limits_llms_haiku_input_tokens_refused": 0.0,
           "api_limits_tools_search_requests_refused_ci95": 5.0}
    assert binding_words(rec, row) == (
        "API rate limits refusing calls (429s past the retries): 100 % of errors; "
        "the search request limit gave 97 % of the 429s")
