"""One question, one answer: a point of an experiment gives the same metrics from the
sweep, from the notebooks' path (``api.narrowed_experiment`` + ``api.run_point``) and
from ``tarsim run --experiment EXP --tier NAME --point N`` - the experiment's
``set:`` applied everywhere, on the same seeds."""

from __future__ import annotations

import json
import math

import yaml
from click.testing import CliRunner
from conftest import mmc_data

from tarsim import api
from tarsim.cli import main


def _experiment(tmp_path):
    (tmp_path / "mmc.yaml").write_text(yaml.safe_dump(mmc_data(2.0, 1.0, 8)))
    exp = {"name": "same", "model": "mmc.yaml", "horizon": "150s", "warmup": "15s",
           "seed": 7, "replications": 3,
           # the set: block changes the answer (8 slots would hardly queue at all)
           "set": {"agents.concurrency": 3},
           "slo": {"wait_mean": 1.0},
           "tiers": [{"name": "low", "rate": [1.0], "grid": {"agents.count": [1]}},
                     {"name": "high", "rate": [2.0, 2.5], "grid": {"agents.count": [1, 2]}}]}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


METRICS = [("throughput", "throughput"), ("latency.p99", "latency_p99"),
           ("wait.mean", "wait_mean"), ("error_rate", "error_rate")]


def _at(summary, path):
    node = summary
    for part in path.split("."):
        node = node[part]
    return node


def test_sweep_notebook_and_cli_agree_on_a_point(tmp_path):
    """Point 2 (tier high, 1 agent, 2.5/s): the sweep's summary row, api.run_point on
    the experiment narrowed to that tier (as the notebooks do) and `tarsim run
    --experiment --tier --point` give the same means (the same replications of the
    same model on the same seeds); the `set:` block applied (3 slots, not 8, so the
    mean wait at rho = 2.5/3 is far from the 8-slot model's)."""
    path = _experiment(tmp_path)
    swept = api.sweep(path, executor="serial").summary.set_index("point").loc[2]
    narrowed = api.narrowed_experiment(path, tiers=["high"])
    point = next(p for p in narrowed.points if p.params == (("agents.count", 1),)
                 and p.load == 2.5)
    notebook = api.run_point(narrowed, "high", point.index).summary
    result = CliRunner().invoke(main, ["run", "--experiment", str(path), "--tier", "high",
                                       "--point", "2", "--format", "json"])
    assert result.exit_code == 0, result.output
    cli = json.loads(result.stdout)
    assert cli["replications"] == 3 and cli["seed"] == 7
    for path_name, col in METRICS:
        assert math.isclose(_at(notebook, path_name), swept[col], rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(_at(cli, path_name), swept[col], rel_tol=1e-9, abs_tol=1e-12)
    eight = api.run(api.load_model(tmp_path / "mmc.yaml", {"workload.arrivals.rate": 2.5}),
                    duration=150.0, warmup=15.0, seed=7, replications=3).summary
    assert eight["wait"]["mean"] < 0.5 * swept["wait_mean"]


def test_run_shortcuts_and_tier_default(tmp_path):
    """--rate and --agents change the point's load and agent count; with --tier alone
    the tier's first configuration runs at the tier's highest load (2.5/s, 1 agent),
    and --point outside the tier is refused with exit code 2."""
    path = _experiment(tmp_path)
    chosen = api.point(api.load_experiment(path), "high")
    assert (chosen.load, dict(chosen.params)) == (2.5, {"agents.count": 1})
    runner = CliRunner()
    result = runner.invoke(main, ["run", "--experiment", str(path), "--tier", "high",
                                  "--rate", "1.5", "--agents", "2", "-r", "1",
                                  "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # 1.5/s offered over 135 measured seconds: throughput within 5 sigma of Poisson noise
    assert abs(data["throughput"] - 1.5) <= 5 * math.sqrt(1.5 / 135)
    assert data["agents"]["mean"] == 2
    bad = runner.invoke(main, ["run", "--experiment", str(path), "--tier", "low",
                               "--point", "2"])
    assert bad.exit_code == 2 and "is in tier 'high'" in bad.output


def _erlang_wait(c: int, lam: float, mu: float) -> float:
    """Erlang C mean wait in M/M/c: C(c, a) / (c mu - lam), a = lam / mu."""
    a = lam / mu
    terms = sum(a**k / math.factorial(k) for k in range(c))
    last = a**c / math.factorial(c) / (1 - a / c)
    return last / (terms + last) / (c * mu - lam)


def test_compare_pairs_variants_on_common_random_numbers(tmp_path):
    """M/M/c at lambda = 1.5, mu = 1: a variant identical to the reference differs by
    exactly 0 (same seeds, same numbers); 2 slots against 3 differ in mean wait by
    Erlang C's W(3) - W(2) = 0.158 - 1.286 = -1.128 s, inside the paired 95 % CI (x2
    for the CI's own error); `tarsim compare` prints both variants."""
    path = tmp_path / "mmc.yaml"
    path.write_text(yaml.safe_dump(mmc_data(1.5, 1.0, 2)))
    result = api.compare(path, {"two": {}, "same": {}, "three": {"agents.concurrency": 3}},
                         duration=4000.0, warmup=400.0, seed=3, replications=5)
    same = result["metrics"]["wait.mean"]["same"]
    assert same["diff"] == 0.0 and same["diff_ci95"] == 0.0
    three = result["metrics"]["wait.mean"]["three"]
    expected = _erlang_wait(3, 1.5, 1.0) - _erlang_wait(2, 1.5, 1.0)
    assert abs(three["diff"] - expected) <= 2 * three["diff_ci95"]
    assert three["diff_ci95"] < 0.5 * abs(expected)
    printed = CliRunner().invoke(main, ["compare", str(path), "--variant", "two:",
                                        "--variant", "three:agents.concurrency=3",
                                        "--duration", "300s", "-r", "2"])
    assert printed.exit_code == 0, printed.output
    assert "three (vs two)" in printed.stdout and "wait for an agent" in printed.stdout
