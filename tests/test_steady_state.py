"""Steady state by construction in sweeps: limits demanded beyond their rate start
drained, so a short run is judged with the errors a long run shows; and screening
never removes a point that simulation finds meeting the SLOs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from conftest import mmc_data

from tarsim import api
from tarsim.config import model_from_data

ROOT = Path(__file__).resolve().parent.parent


def _draining(rate: float = 20.0) -> dict[str, Any]:
    """Poisson(*rate*) requests, each one call to tool t, limited to 840/min (14/s) in
    a one-minute token bucket: at 20/s the bucket of 840 empties after 840/(20 − 14)
    = 140 s, after which 6 of every 20 requests get a 429 (no retries)."""
    data = mmc_data(rate, 100.0, 50)
    data["roles"]["server"]["tools"] = {"t": 1}
    data["tools"] = {"t": {"work": 0.01, "limits": {"requests": "840/min"}}}
    return data


@pytest.mark.slow
def test_a_bucket_draining_after_two_minutes_is_judged_at_its_steady_state(tmp_path) -> None:
    """A sweep timed as the main job is (``horizon: auto``: here a 40 s window of 800
    requests after a 5 s warm-up, 3 replications) of a tier whose bucket drains after
    140 s reports the error rate a long run does once the bucket is empty (warm-up
    300 s, 600 s measured): the long run's rate lies in the sweep's 95% interval. By
    hand both are near 1 − 14/20 = 0.30. A plain run of the same length from a full
    bucket (840 calls of room and 14/s of refill, 1,470 in 45 s, for 900 arrivals)
    sees no error at all: the bias this removes."""
    data = _draining()
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(data))
    exp = {"name": "drain", "model": "m.yaml", "horizon": "auto", "seed": 5,
           "replications": 3, "slo": {"error_rate": 0.5, "p99": "5s"}}
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(exp))
    result = api.sweep(tmp_path / "e.yaml", executor="serial")
    row = result.summary.iloc[0]
    model = model_from_data(data, base_dir=ROOT)
    long = api.run(model, duration=900.0, warmup=300.0, seed=11,
                   keep_records=False).summary
    assert row["error_rate_lo"] <= long["error_rate"] <= row["error_rate_hi"], (
        row["error_rate_lo"], long["error_rate"], row["error_rate_hi"])
    assert long["error_rate"] == pytest.approx(0.30, abs=0.03)
    assert (row["horizon_s"], row["warmup_s"]) == (45.0, 5.0)
    fresh = api.run(model, duration=45.0, warmup=5.0, seed=5, keep_records=False).summary
    assert fresh["error_rate"] == 0.0
    assert row["utilization_tool_t_requests"] == pytest.approx(20 / 14, rel=0.1)


def _random_model(rng: np.random.Generator) -> tuple[dict[str, Any], float]:
    """A small random model: Poisson arrivals, c slots, exponential work, an LLM with
    a lognormal first token, sometimes a tool with a request limit (no retries)."""
    c = int(rng.integers(1, 5))
    work = float(rng.uniform(0.05, 0.5))
    rate = float(rng.uniform(0.3, 0.95)) * c / work
    data = mmc_data(rate, 1 / work, c)
    data["roles"]["server"]["llm"] = "m"
    median = float(rng.uniform(0.2, 1.5))
    data["llms"] = {"m": {"first_token": {"dist": "lognormal", "median": median,
                                          "p99": median * float(rng.uniform(1.5, 4))}}}
    if rng.random() < 0.5:
        data["roles"]["server"]["tools"] = {"t": 1}
        data["tools"] = {"t": {"work": 0.02,
                               "limits": {"requests": rate * float(rng.uniform(0.8, 1.2))}}}
    return data, rate


@pytest.mark.slow
def test_screening_never_removes_a_point_that_meets_the_slos(tmp_path) -> None:
    """On 60 random small models, each swept with screening and without (--no-screen):
    every point screened out is one the simulation finds not meeting the SLOs (p99 2 s,
    error rate 1 %), so screening changed no verdict of ``meets``. The rules are
    bounds (see tarsim.sweep.screen), so this must hold whatever the random models."""
    rng = np.random.default_rng(20261201)
    screened_total = 0
    for i in range(60):
        data, _ = _random_model(rng)
        folder = tmp_path / str(i)
        folder.mkdir()
        (folder / "m.yaml").write_text(yaml.safe_dump(data))
        exp = {"name": "s", "model": "m.yaml", "horizon": "120s", "warmup": "20s",
               "seed": i, "replications": 2, "slo": {"error_rate": 0.01, "p99": "2s"}}
        (folder / "e.yaml").write_text(yaml.safe_dump(exp))
        screened = api.sweep(folder / "e.yaml", executor="serial", write_report=False)
        row = screened.summary.iloc[0]
        if row["verdict"] != "screened":
            continue
        screened_total += 1
        full = api.sweep(folder / "e.yaml", executor="serial", write_report=False,
                         screen=False).summary.iloc[0]
        assert full["verdict"] != "meets", (i, row["screen_reason"], full["latency_p99"],
                                            full["error_rate"])
    assert screened_total >= 10  # the rules were exercised
