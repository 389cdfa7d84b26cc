"""The typed run summary is the ``tarsim run`` JSON contract (docs/sources.md §8), and its
flat view names every metric of the shared vocabulary."""

from __future__ import annotations

import json

from conftest import traced_model

from tarsim.metrics import run_summary, summarize
from tarsim.run import simulate
from tarsim.summary import IDENTITY_KEYS, flatten
from tarsim.vocabulary import ERROR_CAUSES, Metric, error_metric

CONTRACT = {
    "model": None, "seed": None, "duration_s": None, "warmup_s": None, "replications": None,
    "arrived": None, "completed": None, "throughput": None,
    "latency": ("mean", "p50", "p90", "p95", "p99", "max"),
    "error_rate": None,
    "errors": ("timeout", "queue_full", "rate_limited", "api_error", "oom", "shed"),
    "cost": ("total_usd", "per_request_usd", "per_hour_usd", "input_tokens", "output_tokens"),
    "memory": ("peak_mb", "mean_mb"),
    "agents": ("mean", "max", "spawns", "utilization"),
    "queue": ("mean", "max"),
    "api": ("calls", "rate_limited", "retries"),
    "cache": ("hit_rate",),
}
"""The JSON object of the ``tarsim run`` contract (docs/sources.md §8), typed out from it."""


def records(tmp_path):
    model = traced_model(tmp_path, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    return simulate(model, duration=5.0, warmup=0.5, seed=3)


def test_tree_holds_the_design_contract(tmp_path):
    """Every key and sub-key the contract promises is in the JSON object, which
    serialises as plain JSON (vocabulary members as their strings)."""
    tree = json.loads(json.dumps(summarize(records(tmp_path)), allow_nan=True))
    for key, sub in CONTRACT.items():
        assert key in tree, key
        for name in sub or ():
            assert name in tree[key], f"{key}.{name}"
    assert set(tree["errors"]) >= {str(c) for c in ERROR_CAUSES}


def test_flat_names_every_metric_of_the_vocabulary(tmp_path):
    """``flat()`` is the tree flattened to dotted names without the identity fields
    and the mode-change log, and every ``Metric`` and error-cause name is one of them."""
    summary = run_summary(records(tmp_path))
    flat = summary.flat()
    expected = {k: v for k, v in flatten(summary.tree()).items()
                if k not in IDENTITY_KEYS and not isinstance(v, list)}
    assert flat == expected
    missing = [m for m in Metric if m not in flat]
    missing += [error_metric(c) for c in ERROR_CAUSES if error_metric(c) not in flat]
    assert not missing
