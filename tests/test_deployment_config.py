"""The deployment section: one failing input per validation rule (path, rule, value),
and hand-checkable behaviour of hosts, regions, scoped limits and host prices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import mmc_data, reported_problems, traced_model
from test_validation import load

from tarsim.api import run
from tarsim.cli import main
from tarsim.config import ConfigError, model_from_data

DEPLOY = "deployment"
ROOT = Path(__file__).resolve().parent.parent

CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("no hosts", {DEPLOY: {"hosts": 0}}, "deployment.hosts", "must be >= 1"),
    ("neither hosts nor regions", {DEPLOY: {"balancer": "random"}}, "deployment",
     "give hosts or regions"),
    ("hosts differ from regions", {DEPLOY: {"hosts": 3, "regions": [{"name": "a", "hosts": 1}]}},
     "deployment", "must equal the regions' hosts (1)"),
    ("duplicate region", {DEPLOY: {"regions": [{"name": "a", "hosts": 1},
                                               {"name": "a", "hosts": 2}]}},
     "deployment", "region names must be unique"),
    ("unknown balancer", {DEPLOY: {"hosts": 2, "balancer": "fastest"}}, "deployment.balancer",
     "least_connections"),
    ("region network names no provider",
     {DEPLOY: {"regions": [{"name": "eu", "hosts": 1, "network": {"q": "1s"}}]}},
     "deployment.regions[0].network.q", "must name one of providers"),
    ("rates and a USL form", {DEPLOY: {"hosts": 1, "cpu": {"cores": 2, "rates": [[1, 1.0]]}}},
     "deployment.cpu", "give rates, or cores/contention/coherence, not both"),
    ("rates not increasing", {DEPLOY: {"hosts": 1, "cpu": {"rates": [[2, 1.0], [1, 2.0]]}}},
     "deployment.cpu", "strictly increasing"),
    ("negative contention", {DEPLOY: {"hosts": 1, "congestion": {"contention": -0.1}}},
     "deployment.congestion.contention", "must be >= 0"),
    ("overload above one", {DEPLOY: {"hosts": 1, "congestion": {"overload": {"max": 1.5,
                                                                             "half": 3}}}},
     "deployment.congestion.overload.max", "must be <= 1"),
    ("cpu scoped to a provider", {DEPLOY: {"hosts": 1, "cpu": {"scope": "provider"}}},
     "deployment", "cpu is per host"),
    ("congestion in two places", {DEPLOY: {"hosts": 1, "congestion": {"contention": 0.1}},
                                  "providers.p.congestion": {"contention": 0.1}},
     "(top level)", "congestion lives in one place"),
    ("degradation on many hosts",
     {DEPLOY: {"hosts": 2}, "degradation": {"interval": "1s",
                                            "high_load": {"enter": {"queue": 5}}}},
     "(top level)", "degradation is modelled for one host"),
    ("bad limit scope", {"providers.p.limits": {"requests": "10/s", "scope": "pod"}},
     "providers.p.limits.scope", "'organisation', 'region' or 'host'"),
    ("workflows on many hosts",
     {DEPLOY: {"hosts": 2}, "workload.classes[0].steps": [{"parallel": ["r", "r"]}]},
     "(top level)", "workflows are modelled for one host"),
    ("negative host price", {DEPLOY: {"hosts": 1, "price_per_hour": -1}},
     "deployment.price_per_hour", "must be >= 0"),
]


@pytest.mark.parametrize(("overrides", "path", "rule"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(tmp_path: Path, overrides: dict[str, Any], path: str, rule: str) -> None:
    """The broken rule is reported at its path, with words that explain it."""
    found = reported_problems(lambda: load(tmp_path, overrides))
    assert any(p == path and rule in text for p, text in found), found


def test_unknown_deployment_key_gets_did_you_mean(tmp_path: Path) -> None:
    """A misspelt key under deployment is answered with the closest known one."""
    with pytest.raises(ConfigError) as info:
        load(tmp_path, {DEPLOY: {"hosts": 2, "balancr": "random"}})
    assert "did you mean 'balancer'?" in str(info.value)


def test_cli_exits_2_on_a_bad_deployment(tmp_path: Path, write_model: Any) -> None:
    """`tarsim check` on a bad deployment exits 2 and prints the path, no traceback."""
    data = mmc_data(1.0, 2.0, 1)
    data[DEPLOY] = {"hosts": 2, "balancer": "fastest"}
    result = CliRunner().invoke(main, ["check", str(write_model(data))])
    assert result.exit_code == 2
    assert "deployment.balancer" in result.output and "Traceback" not in result.output


# ---------------------------------------------------------------- behaviour
def llm_data(network_s: float = 0.0) -> dict[str, Any]:
    """One deterministic LLM call of 0.5 s (no output time) per request, behind a
    provider whose own network takes *network_s*; 10 requests a second."""
    return {
        "name": "calls",
        "workload": {"arrivals": {"kind": "deterministic", "rate": 10},
                     "classes": [{"name": "a", "steps": ["r"]}]},
        "agents": {"count": 1, "concurrency": 1000},
        "roles": {"r": {"llm": "m"}},
        "llms": {"m": {"provider": "p", "first_token": 0.5}},
        "providers": {"p": {"network": network_s}},
    }


def test_region_network_replaces_the_providers() -> None:
    """Two regions of one host each under round robin: requests alternate, and those in
    the region whose network to the provider takes 1 s (instead of the provider's 0)
    last 1.5 s, the others 0.5 s - a mean of exactly 1 s."""
    data = llm_data(0.0)
    data[DEPLOY] = {"balancer": "round_robin",
                    "regions": [{"name": "near", "hosts": 1},
                                {"name": "far", "hosts": 1, "network": {"p": 1.0}}]}
    summary = run(model_from_data(data, base_dir=ROOT), duration=100, warmup=10, seed=1).summary
    assert summary["latency"]["mean"] == pytest.approx(1.0, abs=0.01)
    assert summary["latency"]["max"] == pytest.approx(1.5)


@pytest.mark.parametrize(("scope", "served_per_s"), [("organisation", 1.0), ("host", 2.0)])
def test_rate_limits_are_shared_unless_scoped(scope: str, served_per_s: float) -> None:
    """Two hosts, 10 requests a second, a token bucket of 1 request/s holding one
    second's worth, no retries: shared by the organisation it lets 1 request a second
    through in all; scoped per host, each host's bucket lets 1 a second through, 2 in
    all (each bucket starts with one token: at most 2 extra over the 400 s window)."""
    data = llm_data()
    data["providers"]["p"]["limits"] = {"requests": "1/s", "burst": "1s", "scope": scope}
    data[DEPLOY] = {"hosts": 2, "balancer": "round_robin"}
    summary = run(model_from_data(data, base_dir=ROOT), duration=410, warmup=10, seed=1).summary
    assert summary["throughput"] == pytest.approx(served_per_s, abs=2 * 2 / 400)


def test_host_price_is_in_the_hourly_cost() -> None:
    """Three hosts at $0.50 an hour and nothing else billed cost $1.50 an hour."""
    data = mmc_data(1.0, 2.0, 1)
    data[DEPLOY] = {"hosts": 3, "price_per_hour": 0.5}
    summary = run(model_from_data(data, base_dir=ROOT), duration=200, warmup=20, seed=1).summary
    assert summary["cost"]["per_hour_usd"] == pytest.approx(1.5)


def test_host_connection_pool_serialises_its_calls() -> None:
    """One host with one connection and 0.5 s calls arriving 10 a second: the calls
    go one at a time, so at most 2 a second are served, and the queue for the
    connection grows; with 100 connections all 10 a second are served."""
    data = llm_data()
    data[DEPLOY] = {"hosts": 1, "connections": 1}
    narrow = run(model_from_data(data, base_dir=ROOT), duration=60, warmup=10, seed=1).summary
    data[DEPLOY] = {"hosts": 1, "connections": 100}
    wide = run(model_from_data(data, base_dir=ROOT), duration=60, warmup=10, seed=1).summary
    assert narrow["latency"]["mean"] > 10.0
    assert wide["throughput"] == pytest.approx(10.0, rel=0.02)
    assert wide["latency"]["mean"] == pytest.approx(0.5)


@pytest.mark.parametrize(("scope", "latency_s"), [("provider", 2.0), ("model", 1.0)])
def test_congestion_scope_per_provider_or_per_model(tmp_path: Path, scope: str,
                                                    latency_s: float) -> None:
    """Two requests arrive at t=0, one calling model a and one model b (1 s each, same
    provider, a one-core station): shared by the provider, the two calls split the core
    and both end at 2 s; with one station per model, each runs alone and ends at 1 s."""
    model = traced_model(
        tmp_path, [0.0, 0.0], classes=["a", "b"],
        workload={"arrivals": {"kind": "trace", "file": "arrivals.csv", "class_column": "cls"},
                  "classes": [{"name": "a", "steps": ["ra"]}, {"name": "b", "steps": ["rb"]}]},
        agents={"count": 1, "concurrency": 10},
        roles={"ra": {"llm": "a"}, "rb": {"llm": "b"}},
        llms={"a": {"provider": "p", "first_token": 1.0},
              "b": {"provider": "p", "first_token": 1.0}},
        providers={"p": {"congestion": {"scope": scope, "cores": 1}}})
    req = run(model, duration=1.0, warmup=0.0, seed=1).records[0].requests
    assert sorted(req["cls"]) == [0, 1]
    assert list(req["end"] - req["arrival"]) == pytest.approx([latency_s, latency_s])


@pytest.mark.parametrize(("hosts", "latency_s"), [(1, 2.0), (2, 1.0)])
def test_host_call_station_is_per_host(tmp_path: Path, hosts: int, latency_s: float) -> None:
    """Two requests at t=0, each one 1 s call, behind round robin, with a one-core call
    station on each host: on one host the two calls share it (2 s each); on two hosts
    each has its own (1 s each)."""
    model = traced_model(
        tmp_path, [0.0, 0.0],
        roles={"server": {"llm": "m"}},
        agents={"count": 1, "concurrency": 10},
        llms={"m": {"provider": "p", "first_token": 1.0}},
        providers={"p": {}},
        deployment={"hosts": hosts, "congestion": {"cores": 1}})
    req = run(model, duration=1.0, warmup=0.0, seed=1).records[0].requests
    assert list(req["end"] - req["arrival"]) == pytest.approx([latency_s, latency_s])


def test_scoped_limits_count_once_per_host_or_region() -> None:
    """The demand check's limits (what screening and utilisation compare demand
    with): 1/s per host on 3 hosts is 3/s in all; 2/s per region over 2 regions is
    4/s; an organisation-wide limit stays as given."""
    from tarsim.demand import model_limits

    data = llm_data()
    data["providers"]["p"]["limits"] = {"requests": "1/s", "scope": "host"}
    data["llms"]["m"]["limits"] = {"requests": "2/s", "scope": "region"}
    data["tools"] = {"t": {"provider": "p", "limits": {"requests": "5/s"}}}
    data[DEPLOY] = {"regions": [{"name": "a", "hosts": 2}, {"name": "b", "hosts": 1}]}
    limits = model_limits(model_from_data(data, base_dir=ROOT))
    assert limits[("provider", "p")]["requests"] == pytest.approx(3.0)
    assert limits[("llm", "m")]["requests"] == pytest.approx(4.0)
    assert limits[("tool", "t")]["requests"] == pytest.approx(5.0)
