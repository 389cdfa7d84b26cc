"""Automatic timing of a sweep's points (``horizon: auto``, tarsim.sweep.timing):
the warm-up is at least the queue's relaxation time, the window holds enough
requests, and the p99 intervals the short runs give still cover the exact value as
often as a 95 % interval should; and each configuration's loads taken from the
highest down (tarsim.sweep.ladders) recommend what simulating every point does."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import mmc_data
from oracles import mmc_relaxation_time, mmc_sojourn_quantile

from tarsim import api
from tarsim.config import model_from_data
from tarsim.sweep.screen import Screener
from tarsim.sweep.stats import FAILS, SCREENED, SKIPPED
from tarsim.sweep.timing import MIN_WINDOW_S, SAMPLES_PER_RUN, Timing, point_timing, timing_for

ROOT = Path(__file__).resolve().parent.parent
SLO = {"latency.p99": 1e9, "error_rate": 0.5}


def _auto(lam: float, c: int) -> tuple[Timing, object]:
    model = model_from_data(mmc_data(lam, 1.0, c), base_dir=ROOT)
    found = Screener(SLO).screen(model)
    return timing_for("auto", None, found.floor_p99, found.rate, model, found.floor_mean), model


@pytest.mark.parametrize(("c", "rho"), [(1, 0.5), (1, 0.85), (4, 0.8), (8, 0.3)])
def test_auto_warmup_covers_the_relaxation_time(c: int, rho: float) -> None:
    """The automatic warm-up of an M/M/c point is at least its relaxation time
    1/(cμ(1 − √ρ)²) (Morse; oracles.mmc_relaxation_time): the start-up deficit has
    decayed by at least e⁻¹ before measuring starts (the coverage test below shows
    it is enough for p99)."""
    timing, _ = _auto(rho * c, c)
    assert timing.warmup >= mmc_relaxation_time(rho * c, 1.0, c)


@pytest.mark.parametrize("lam", [0.5, 5.0, 500.0])
def test_auto_window_holds_enough_requests(lam: float) -> None:
    """The window holds at least SAMPLES_PER_RUN arrivals on average and lasts at
    least MIN_WINDOW_S, and no more than that where one of them suffices."""
    timing, _ = _auto(lam, max(1, int(lam * 2)))
    assert timing.window * lam >= SAMPLES_PER_RUN - 1e-9
    assert timing.window >= MIN_WINDOW_S - 1e-9
    assert timing.window == pytest.approx(max(MIN_WINDOW_S, SAMPLES_PER_RUN / lam))


def test_a_fixed_horizon_is_kept_and_only_lengthened() -> None:
    """With a fixed horizon the point runs it (warm-up 10 % by default), lengthened
    only where the rate leaves fewer than SAMPLES_PER_RUN requests: 60 s at 100/s;
    20 + 800/1 = 820 s at 1/s."""
    model = model_from_data(mmc_data(1.0, 2.0, 1), base_dir=ROOT)
    assert timing_for(60.0, None, 1.0, 100.0, model) == Timing(60.0, 6.0)
    assert timing_for(60.0, 20.0, 1.0, 1.0, model) == Timing(820.0, 20.0)


@pytest.mark.slow
def test_auto_timed_p99_intervals_cover_the_erlang_c_quantile() -> None:
    """Over 120 random M/M/c queues (c uniform in 1..8, ρ uniform in [0.3, 0.85],
    μ = 1), three replications of the automatic timing (a window of 800 requests
    and at least 10 s, a fifth of what tests/test_coverage_tails.py gives each) have
    95 % p99 intervals that contain the exact 0.99-quantile of the sojourn time in
    90 % to 99 % of instances. Band: Binomial(120, 0.95) has sd 2 points, so a true
    95 % falls outside with probability about 0.01."""
    rng = np.random.default_rng(20261202)
    count, covered, misses = 120, 0, []
    for i in range(count):
        c, rho = int(rng.integers(1, 9)), float(rng.uniform(0.3, 0.85))
        timing, model = _auto(rho * c, c)
        result = api.run(model, duration=timing.horizon, warmup=timing.warmup,
                         seed=7000 + i, replications=3, keep_records=False)
        low, high = result.summary["bounds"]["latency.p99"]
        exact = mmc_sojourn_quantile(0.99, rho * c, 1.0, c)
        if low <= exact <= high:
            covered += 1
        else:
            misses.append(f"c={c} ρ={rho:.2f}: {exact:.3f} not in [{low:.3f}, {high:.3f}]")
    assert 0.90 <= covered / count <= 0.99, (covered, misses)


def _ladder_experiment(tmp_path: Path, **extra: object) -> Path:
    """An M/M/c tier at 1, 2 and 3 req/s (μ = 1) on 1..4 servers, SLO p99 <= 8 s.
    Exact p99 (oracles.mmc_sojourn_quantile): 1 server is unstable at every load,
    2 and 3 servers at 3/s; 4 servers give 4.62, 4.76 and 6.01 s. So only 4 meet
    the SLO at every load."""
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(mmc_data(1.0, 1.0, 1)))
    exp = {"name": "ladder", "model": "m.yaml", "horizon": "auto", "seed": 4,
           "replications": {"min": 3, "max": 5, "step": 2}, "slo": {"p99": "8s"},
           "tiers": [{"name": "t", "rate": ["1/s", "2/s", "3/s"]}],
           "grid": {"agents.concurrency": [1, 2, 3, 4]}, **extra}
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


def test_loads_from_the_highest_down_recommend_what_every_point_does(tmp_path: Path) -> None:
    """Skipping the lower loads of configurations that fail at a higher one changes
    no recommendation: the sweep recommends the configuration (and its numbers) that
    simulating every point (--no-screen) recommends, and every skipped point lies
    below a load where its configuration fails or is screened."""
    experiment = api.load_experiment(_ladder_experiment(tmp_path))
    pruned = api.sweep(experiment, executor="serial", write_report=False)
    everything = api.sweep(experiment, executor="serial", write_report=False, screen=False)
    keep = ["tier", "status", "config", "point", "latency_p99", "latency_p99_ub"]
    assert pruned.recommendations[keep].to_dict("records") == \
        everything.recommendations[keep].to_dict("records")
    assert pruned.recommendations["config"].iloc[0] == "agents.concurrency=4"
    summary = pruned.summary
    skipped = summary[summary["verdict"] == SKIPPED]
    assert len(skipped) > 0  # the rule did skip something here
    for _, row in skipped.iterrows():
        higher = summary[(summary["config"] == row["config"]) & (summary["load"] > row["load"])]
        assert higher["verdict"].isin([FAILS, SCREENED]).any(), row["config"]
    assert pruned.executed < everything.executed


def test_point_timing_reads_the_experiment(tmp_path: Path) -> None:
    """point_timing gives an experiment's fixed horizon and warm-up as they are (the
    rate leaving enough requests)."""
    experiment = api.load_experiment(_ladder_experiment(tmp_path, horizon="900s",
                                                        warmup="30s"))
    point = experiment.points[0]
    found = Screener(experiment.slo.limits()).screen(point.model)
    assert point_timing(experiment.spec, found, point.model) == Timing(900.0, 30.0)


def test_a_tier_screened_at_its_top_load_names_the_limit(tmp_path: Path) -> None:
    """One configuration whose tool limit (2/s) is demanded at 150 % at the top load
    (3/s, no retries: at least a third of requests must fail) is screened there, and
    its lower load (1/s) is not simulated: the decision says where it was screened
    and what was skipped, names the limit, and shows no cost."""
    from tarsim.report.decision import decide

    data = mmc_data(1.0, 10.0, 4)
    data["roles"]["server"]["tools"] = {"t": 1}
    data["tools"] = {"t": {"work": 0.01, "limits": {"requests": "2/s"}}}
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(data))
    exp = {"name": "s", "model": "m.yaml", "horizon": "auto",
           "slo": {"p99": "5s", "error_rate": 0.01},
           "tiers": [{"name": "t", "rate": ["1/s", "3/s"]}]}
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(exp))
    experiment = api.load_experiment(tmp_path / "e.yaml")
    result = api.sweep(experiment, executor="serial", write_report=False)
    assert result.summary["verdict"].tolist() == [SKIPPED, SCREENED]
    assert result.executed == 0
    (decision,) = decide(result.summary, result.recommendations, experiment.slo.limits())
    assert not decision.meets
    assert "screened at 3 req/s (so not simulated at 1 req/s)" in decision.verdict
    assert "tool t requests: demand 150%" in decision.binding
    assert not math.isfinite(decision.cost_per_hour)
