"""Connection pools report their utilisation: a pool of K connections that each call
holds for an exponential time with mean 1/μ, fed by Poisson(λ) calls, is an M/M/K
queue whose connections are busy λ/(Kμ) of the time (Little's law on the servers),
whether the pool is a provider's or the hosts' (``deployment.connections``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import mmc_data

from tarsim import api
from tarsim.config import model_from_data

ROOT = Path(__file__).resolve().parent.parent


def _pooled(lam: float, **deployment: object) -> dict:
    """Poisson(*lam*) requests, each one LLM call whose first token takes Exp(1);
    agents are plentiful, so only the pool queues."""
    data = mmc_data(lam, 1000.0, 50)
    data["roles"]["server"]["llm"] = "m"
    data["llms"] = {"m": {"provider": "p",
                          "first_token": {"dist": "exponential", "mean": 1.0}}}
    data["providers"] = {"p": {} if deployment else {"connections": 4}}
    if deployment:
        data["deployment"] = deployment
    return data


@pytest.mark.parametrize(("deployment", "name"), [
    ({}, "provider_p_connections"),
    ({"hosts": 2, "balancer": "random", "connections": 2}, "host_connections"),
])
def test_pool_utilization_is_lambda_over_k_mu(deployment: dict, name: str) -> None:
    """λ = 3, μ = 1, K = 4 connections (one provider pool, or two hosts of 2 behind a
    random balancer): the summary's utilisation of the pool is λ/(Kμ) = 0.75 within
    its 95 % interval over three replications, and the agents' own is far lower."""
    model = model_from_data(_pooled(3.0, **deployment), base_dir=ROOT)
    result = api.run(model, duration=1400.0, warmup=200.0, seed=3, replications=3,
                     keep_records=False)
    measured = result.summary["utilization"][name]
    half = result.summary["ci95"][f"utilization.{name}"]
    assert abs(measured - 0.75) <= half, (measured, half)
    assert result.summary["utilization"]["agents"] < 0.2
