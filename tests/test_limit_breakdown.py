"""Which limit refused: 429s and ``rate_limited`` failures are split by the limit that
lacked room (scope and kind), in the run summary, and they add up to the totals."""

from __future__ import annotations

from conftest import ROOT

from tarsim.api import run
from tarsim.config import model_from_data
from tarsim.report.table import run_table

DURATION, WARMUP = 300.0, 100.0


def _model():
    """Poisson 20/s requests, one 0.1 s LLM call each, no retries (a 429 fails the
    request). The provider allows 600 requests/min (10/s); the model's own limit
    allows 6,000 input tokens/min at 20 tokens a call (5 calls/s) - the tighter one;
    a loose output-token limit never binds."""
    data = {
        "name": "two_limits",
        "workload": {"arrivals": {"kind": "poisson", "rate": 20.0},
                     "classes": [{"name": "job", "steps": ["caller"]}]},
        "agents": {"count": 1, "concurrency": 10_000},
        "roles": {"caller": {"llm": "m", "input_tokens": 20, "output_tokens": 1}},
        "llms": {"m": {"provider": "api", "first_token": 0.1,
                       "limits": {"input_tokens": "6000/min", "output_tokens": "1e9/min"}}},
        "providers": {"api": {"limits": {"requests": "600/min"}}},
    }
    return model_from_data(data, base_dir=ROOT)


def test_refusals_are_charged_to_the_limit_that_lacked_room():
    """Past the 60 s burst, the input-token limit admits 5 calls/s of the 20 offered,
    so it refuses ~15/s; the provider's 10/s request bucket, never drained by 5
    admitted calls a second, refuses nothing, nor does the loose output limit. Every
    429 fails its request (no retries), so: input-token refusals = all 429s = failures
    = rate_limited errors; the refused share of calls is 1 - 5/20 = 75 % within 2 %."""
    summary = run(_model(), duration=DURATION, warmup=WARMUP, seed=2,
                  keep_records=False).summary
    limits = summary["api"]["limits"]
    tokens = limits["llms"]["m"]["input_tokens"]
    assert limits["providers"]["api"]["requests"] == {"refused": 0, "failed": 0}
    assert limits["llms"]["m"]["output_tokens"] == {"refused": 0, "failed": 0}
    assert "requests" not in limits["llms"]["m"]  # only the limits the model sets
    assert tokens["refused"] == summary["api"]["rate_limited"] == tokens["failed"]
    assert tokens["failed"] == summary["errors"]["rate_limited"]
    share = tokens["refused"] / summary["arrived"]
    assert abs(share - 0.75) <= 0.02
    text = run_table(summary)
    assert f"llms.m input tokens: {tokens['refused']:,} 429s, {tokens['failed']:,} failed" \
        in text
