"""Every validation rule of the hosted-API sections rejects a bad value with its path:
limits, errors, circuit breaker, retry, routing mix, caches, prices."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ROOT, mmc_data, set_path

from tarsim.config import ConfigError, model_from_data


def base() -> dict[str, Any]:
    data = mmc_data(1.0, 2.0, 1)
    data["roles"]["server"].update({"llm": "haiku"})
    data["llms"] = {"haiku": {"provider": "anthropic"}, "sonnet": {"provider": "anthropic"}}
    data["providers"] = {"anthropic": {}}
    data["tools"] = {"search": {}}
    return data




BAD = [
    # (path set, value, path reported, words in the rule)
    ("providers.anthropic.limits", {}, "providers.anthropic.limits", "at least one"),
    ("providers.anthropic.limits", {"requests": 0}, "providers.anthropic.limits.requests",
     "> 0"),
    ("providers.anthropic.limits", {"requests": "10/s", "kind": "fixed_window", "burst": "1s"},
     "providers.anthropic.limits", "burst"),
    ("providers.anthropic.limits", {"requests": "10/s", "kind": "sliding"},
     "providers.anthropic.limits.kind", "token_bucket"),
    ("providers.anthropic.limits", {"output_tokens": 5, "output_debit": "later"},
     "providers.anthropic.limits.output_debit", "max_tokens"),
    ("providers.anthropic.limits", {"requests": 1, "window": 0},
     "providers.anthropic.limits.window", "> 0"),
    ("llms.haiku.limits", {"requests": -1}, "llms.haiku.limits.requests", "> 0"),
    ("tools.search.limits", {}, "tools.search.limits", "at least one"),
    ("providers.anthropic.connections", 0, "providers.anthropic.connections", ">= 1"),
    ("providers.anthropic.errors", {"overload": [[10, 0.1], [5, 0.2]]},
     "providers.anthropic.errors", "increasing"),
    ("providers.anthropic.errors", {"overload": [[10, 1.5]]},
     "providers.anthropic.errors.overload[0][1]", "<= 1"),
    ("providers.anthropic.errors", {"overload": []}, "providers.anthropic.errors.overload",
     "at least 1"),
    ("providers.anthropic.circuit_breaker", {"failure_ratio": 0},
     "providers.anthropic.circuit_breaker.failure_ratio", "> 0"),
    ("providers.anthropic.circuit_breaker", {"probes": 0},
     "providers.anthropic.circuit_breaker.probes", ">= 1"),
    ("providers.anthropic.circuit_breaker", {"min_calls": 0},
     "providers.anthropic.circuit_breaker.min_calls", ">= 1"),
    ("providers.anthropic.circuit_breaker", {"count": ["slow"]},
     "providers.anthropic.circuit_breaker.count[0]", "api_error"),
    ("retry", {"attempts": 0}, "retry.attempts", ">= 1"),
    ("retry", {"backoff": {"initial": 2, "max": 1}}, "retry.backoff", "max must be >= initial"),
    ("retry", {"backoff": {"factor": 0.5}}, "retry.backoff.factor", ">= 1"),
    ("retry", {"backoff": {"jitter": 1.5}}, "retry.backoff.jitter", "<= 1"),
    ("retry", {"honor_retry_after": -1}, "retry.honor_retry_after", ">= 0"),
    ("retry", {"on": ["circuit_open"]}, "retry.on[0]", "rate_limited"),
    ("routing", {"mix": {"haiku": 0.8, "sonnet": 0.1}}, "routing.mix", "sum to 1"),
    ("routing", {"mix": {"haiku": 1.2, "sonnet": -0.2}}, "routing.mix.haiku", "<= 1"),
    ("routing", {"mix": {"haiku": 0.5, "sonet": 0.5}}, "routing.mix.sonet", "did you mean"),
    ("roles.server.mix", {"haiku": 0.5}, "roles.server.mix", "sum to 1"),
    ("roles.server.mix", {"opus": 1.0}, "roles.server.mix.opus", "must name one of llms"),
    ("roles.server.max_tokens", 0, "roles.server.max_tokens", ">= 1"),
    ("cache", {"context": {}}, "cache.context", "either hit_rate"),
    ("cache", {"context": {"hit_rate": 0.3, "lru": {"capacity": 5}, "keys": {"count": 9}}},
     "cache.context", "either hit_rate"),
    ("cache", {"context": {"lru": {"capacity": 5}}}, "cache.context", "lru and keys"),
    ("cache", {"context": {"hit_rate": 1.1}}, "cache.context.hit_rate", "<= 1"),
    ("cache", {"context": {"hit_rate": 0.5, "prefix": 0.5}}, "cache.context",
     "mode: prompt only"),
    ("cache", {"context": {"lru": {"capacity": 0}, "keys": {"count": 9}}},
     "cache.context.lru.capacity", ">= 1"),
    ("cache", {"context": {"lru": {"capacity": 5}, "keys": {"count": 9, "zipf": -1}}},
     "cache.context.keys.zipf", ">= 0"),
    ("cache", {"context": {"lru": {"capacity": 5, "ttl": 0}, "keys": {"count": 9}}},
     "cache.context.lru.ttl", "> 0"),
    ("cache", {"tools": {"serch": {"hit_rate": 0.5}}}, "cache.tools.serch", "did you mean"),
    ("cache", {"tools": {"search": {"hit_rate": 0.5, "mode": "prompt"}}}, "cache.tools",
     "mode: response"),
    ("cache", {"context": {"hit_rate": 0.5, "mode": "prompt", "first_token": 2}},
     "cache.context.first_token", "<= 1"),
    ("cache", {"context": {"hit_rate": 0.5, "mode": "prompt", "latency": "5ms"}},
     "cache.context", "mode: response only"),
    ("llms.haiku.price", {"cache_read": -0.1}, "llms.haiku.price.cache_read", ">= 0"),
    ("llms.haiku.price", {"cache_write": -1}, "llms.haiku.price.cache_write", ">= 0"),
    ("tools.search.price", {"per_1000_calls": -5}, "tools.search.price.per_1000_calls", ">= 0"),
]


@pytest.mark.parametrize("path, value, reported, words", BAD, ids=[f"{b[2]}:{b[3]}" for b in BAD])
def test_bad_hosted_api_config_is_rejected_with_its_path(path, value, reported, words):
    """Each rule: the bad value raises ConfigError naming the path and the rule."""
    with pytest.raises(ConfigError) as info:
        model_from_data(set_path(base(), path, value), base_dir=ROOT)
    found = [(p.path, str(p)) for p in info.value.problems]
    assert any(p == reported and words in text for p, text in found), found


def test_the_base_of_these_cases_is_valid():
    """The model every failing case starts from validates (so each case fails for its
    own reason), and so does a model using every hosted-API section."""
    model_from_data(base(), base_dir=ROOT)
    full = base()
    full["providers"]["anthropic"] = {
        "limits": {"requests": "4000/min", "input_tokens": "400000/min",
                   "output_tokens": "80000/min", "burst": "10s"},
        "connections": 50, "errors": {"rate": 0.01, "overload": [[0, 0], [100, 0.1]]},
        "circuit_breaker": {"failure_ratio": 0.5}, "timeout": "60s"}
    full["retry"] = {"attempts": 3, "backoff": {"initial": "0.5s", "factor": 2, "max": "8s",
                                                "jitter": 0.25}, "honor_retry_after": "60s"}
    full["routing"] = {"mix": {"haiku": 0.85, "sonnet": 0.15}}
    full["cache"] = {"context": {"lru": {"capacity": 1000, "ttl": "30min"},
                                 "keys": {"count": 100000, "zipf": 0.9}, "latency": "5ms"},
                     "tools": {"search": {"hit_rate": 0.4}}}
    model = model_from_data(full, base_dir=ROOT)
    assert model.providers["anthropic"].limits.capacity_s == 10.0
