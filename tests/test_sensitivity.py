"""Sensitivity studies: the study file's validation, the designs, and the methods
against queueing theory on M/M/c models (Erlang C, tests/oracles.py).

How the statistical checks are sized: every design point of a study runs on the
same seeds (common random numbers), so the points' noise is correlated and mostly
cancels in the differences Sobol and Morris estimators take. Each check states its
claim and derives its tolerance from a confidence interval: SALib's bootstrap CIs
for indices, the Wilson interval for an ensemble's probability. Seeds are fixed,
so outcomes are deterministic.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from conftest import mmc_data
from oracles import mmc
from scipy import stats

from tarsim.cli import main
from tarsim.config import ConfigError
from tarsim.executors import make_executor
from tarsim.sensitivity.design import make_design
from tarsim.sensitivity.execute import run_study
from tarsim.sensitivity.loader import study_from_data

LAM = (0.3, 0.6)
SERVICE = (0.5, 1.0)
SERVERS = (1, 3)
"""The M/M/c design space: ρ = λ·s/c <= 0.6 at its worst corner, so every point is
stable and relaxes within a few hundred seconds."""


@pytest.fixture
def mmc_dir(tmp_path: Path) -> Path:
    data = mmc_data(0.5, 1.0, 2)
    data["roles"]["server"]["work"]["mean"] = 0.75  # inside its range, for the tornado
    data["slo"] = {"p99": 30.0}
    (tmp_path / "mmc.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return tmp_path


def mmc_study(**extra: Any) -> dict[str, Any]:
    study: dict[str, Any] = {
        "name": "mmc", "model": "mmc.yaml", "horizon": "4000s", "warmup": "400s",
        "method": "sobol", "samples": 16,
        "parameters": {
            "workload.arrivals.rate": {"low": LAM[0], "high": LAM[1]},
            "roles.server.work.mean": {"low": SERVICE[0], "high": SERVICE[1]},
            "agents.concurrency": {"low": SERVERS[0], "high": SERVERS[1]},
        },
        "outputs": ["wait_mean", "throughput"],
    }
    study.update(extra)
    return study


def problems_of(data: dict[str, Any], base: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        study_from_data(data, base)
    return [str(p) for p in info.value.problems]


# ---------------------------------------------------------------- validation
def test_unknown_key_gets_did_you_mean(mmc_dir: Path) -> None:
    """A misspelt top-level key is named, with the key it resembles."""
    data = mmc_study()
    data["paramters"] = data.pop("parameters")
    found = problems_of(data, mmc_dir)
    assert any("paramters" in p and "did you mean 'parameters'" in p for p in found), found


def test_unknown_output_gets_did_you_mean(mmc_dir: Path) -> None:
    """An output name tarsim does not know is named with its index and a suggestion."""
    found = problems_of(mmc_study(outputs=["thruput", "p99"]), mmc_dir)
    assert any(p.startswith("outputs[0]") and "did you mean 'throughput'" in p
               for p in found), found


def test_parameter_path_the_model_lacks_is_named(mmc_dir: Path) -> None:
    """A parameter whose path or value the model refuses is reported under
    ``parameters.<path>``, like a sweep's axis."""
    data = mmc_study()
    data["parameters"]["agents.concurrency"] = {"low": 0, "high": 3}
    found = problems_of(data, mmc_dir)
    assert any(p.startswith("parameters.agents.concurrency.low") and ">= 1" in p
               for p in found), found


def test_range_rules(mmc_dir: Path) -> None:
    """low must be below high; normal needs mean and sd; Sobol's N is a power of two;
    every problem is reported at once."""
    data = mmc_study(samples=12)
    data["parameters"]["workload.arrivals.rate"] = {"low": 0.6, "high": 0.3}
    data["parameters"]["roles.server.work.mean"] = {"distribution": "normal", "mean": 1.0}
    found = problems_of(data, mmc_dir)
    text = "\n".join(found)
    assert "low must be < high" in text and "normal needs mean and sd" in text, text
    data = mmc_study(samples=12)
    assert any("power of two" in p for p in problems_of(data, mmc_dir))


def test_units_in_ranges(mmc_dir: Path) -> None:
    """Ranges take the model's units: ``500ms`` is 0.5 s and ``18/min`` 0.3 per second."""
    data = mmc_study(method="oat")
    data["parameters"]["roles.server.work.mean"] = {"low": "500ms", "high": "1s"}
    data["parameters"]["workload.arrivals.rate"] = {"low": "18/min", "high": "36/min"}
    study = study_from_data(data, mmc_dir)
    by_path = {p.path: p for p in study.parameters}
    assert by_path["roles.server.work.mean"].ends() == (0.5, 1.0)
    assert by_path["workload.arrivals.rate"].ends() == pytest.approx((0.3, 0.6))


def test_cli_bad_study_exits_2(mmc_dir: Path) -> None:
    """The CLI prints the problems and exits 2, without a traceback."""
    (mmc_dir / "bad.yaml").write_text(yaml.safe_dump(mmc_study(method="sobel")))
    result = CliRunner().invoke(main, ["sensitivity", str(mmc_dir / "bad.yaml")])
    assert result.exit_code == 2, result.output
    assert "method" in result.output and "Traceback" not in result.output


def test_default_folder_of_a_study_stays_under_results(mmc_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A study named ``../../x`` run without --out writes into results/ of the working
    folder (its name made safe, as a sweep's is), never two folders above it."""
    work = mmc_dir / "a" / "b"
    work.mkdir(parents=True)
    (mmc_dir / "s.yaml").write_text(yaml.safe_dump(mmc_study(
        name="../../x", method="oat", model=str(mmc_dir / "mmc.yaml"), horizon="200s",
        warmup="20s")))
    monkeypatch.chdir(work)
    result = CliRunner().invoke(main, ["sensitivity", str(mmc_dir / "s.yaml"),
                                       "--executor", "serial"])
    assert result.exit_code == 0, result.output
    assert not (mmc_dir / "x").exists()
    assert [p.name for p in (work / "results").iterdir()] == ["_.._x"]


# ---------------------------------------------------------------- designs
def test_oat_design_moves_one_parameter_at_a_time(mmc_dir: Path) -> None:
    """The one-at-a-time design is the base point, then each parameter at its low and
    high end with every other at its base (the model's own value)."""
    study = study_from_data(mmc_study(method="oat"), mmc_dir)
    design = make_design(study)
    base = design.values[0]
    assert list(base) == [0.5, 0.75, 2.0]  # the model's own values
    assert len(design) == 1 + 2 * 3
    for k, role in enumerate(design.roles[1:], start=1):
        changed = np.flatnonzero(design.values[k] != base)
        assert len(changed) == 1, role
        p = study.parameters[changed[0]]
        end = 0 if role.endswith(":low") else 1
        assert design.values[k][changed[0]] == p.ends()[end]


def test_integer_parameter_is_uniform_over_its_values(mmc_dir: Path) -> None:
    """An integer parameter (c, an int in the model) takes each whole value in
    low..high with equal probability: on a Sobol design of 256 x 5 points, each of
    1, 2, 3 appears within a 99.9% binomial bound of a third."""
    study = study_from_data(mmc_study(samples=256), mmc_dir)
    c = make_design(study).values[:, 2]
    assert set(np.unique(c)) == {1.0, 2.0, 3.0}
    n = len(c)
    for value in (1.0, 2.0, 3.0):
        share = float((c == value).mean())
        assert abs(share - 1 / 3) < 3.3 * math.sqrt(2 / 9 / n), (value, share)


# ---------------------------------------------------------------- methods on M/M/c
def test_morris_sees_that_throughput_is_the_arrival_rate(mmc_dir: Path) -> None:
    """In a stable M/M/c the throughput is λ, whatever s and c: Morris's mu* of
    throughput per unit of range is λ's range (0.3) for the arrival rate, within its
    CI and 10% (throughput over a 3600 s window of ~1,600 arrivals has ~2.5% noise),
    and under a tenth of that for the mean service time and c."""
    data = mmc_study(method="morris", samples=6, horizon="4000s")
    study = study_from_data(data, mmc_dir)
    result = run_study(study)
    frame = result.analysis["morris"]
    part = frame[frame["output"] == "throughput"].set_index("parameter")
    lam = part.loc["workload.arrivals.rate"]
    span = LAM[1] - LAM[0]
    assert abs(lam["mu_star"] - span) <= max(lam["mu_star_conf"], 0.1 * span), lam
    for other in ("roles.server.work.mean", "agents.concurrency"):
        assert part.loc[other, "mu_star"] < 0.1 * span, part


def test_tornado_on_mmc_matches_erlang_c(mmc_dir: Path) -> None:
    """Each bar of the tornado of the mean wait (others at λ=0.5, s=0.75, c=2) ends
    where Erlang C puts it, within 25% (4,000 s runs of 2,000 customers at ρ <= 0.5:
    the mean wait's relative error is under 10% at these loads), and the bars rank
    as Erlang C ranks them."""
    study = study_from_data(mmc_study(method="oat", outputs=["wait_mean"]), mmc_dir)
    result = run_study(study)
    tor = result.analysis["tornado"]
    exact = {}
    base = {"workload.arrivals.rate": 0.5, "roles.server.work.mean": 0.75,
            "agents.concurrency": 2}
    for _, row in tor.iterrows():
        ends = []
        for value in (row["low_value"], row["high_value"]):
            point = {**base, row["parameter"]: value}
            ends.append(mmc(point["workload.arrivals.rate"],
                            1 / point["roles.server.work.mean"],
                            int(point["agents.concurrency"])).mean_wait)
        exact[row["parameter"]] = abs(ends[1] - ends[0])
        for sim, theory in zip((row["at_low"], row["at_high"]), ends, strict=True):
            assert sim == pytest.approx(theory, rel=0.25), (row["parameter"], sim, theory)
    assert list(tor["parameter"]) == sorted(exact, key=lambda k: -exact[k])


@pytest.mark.slow
def test_sobol_indices_of_mmc_wait_agree_with_erlang_c(mmc_dir: Path) -> None:
    """Sobol indices of the M/M/c mean wait for (λ, s, c), estimated through
    simulation, agree with the indices SALib computes on the same design from
    Erlang C.

    Two checks, both by confidence interval: (1) each simulated index's 95% CI
    (SALib's bootstrap) covers the Erlang C index; (2) stricter, the paired
    difference (simulated - Erlang C, the same bootstrap resamples applied to both
    outputs, so the design's own sampling error cancels and what remains is the
    simulation's noise) lies within its 99% bootstrap interval. N = 64 (320 runs of
    4,000 s, ~1,600-2,400 customers each)."""
    from SALib.analyze import sobol as sobol_analyze

    study = study_from_data(mmc_study(samples=64, outputs=["wait_mean"]), mmc_dir)
    result = run_study(study)
    x = result.design.values
    simulated = result.table["wait_mean"].to_numpy(dtype=float)
    exact = np.array([mmc(lam, 1 / s, int(c)).mean_wait for lam, s, c in x])
    kw = {"calc_second_order": False, "num_resamples": 200, "seed": 7,
          "keep_resamples": True}
    sim = sobol_analyze.analyze(result.design.problem, simulated, **kw)
    erl = sobol_analyze.analyze(result.design.problem, exact, **kw)
    for index in ("S1", "ST"):
        covered = np.abs(sim[index] - erl[index]) <= sim[f"{index}_conf"]
        assert covered.all(), (index, sim[index], sim[f"{index}_conf"], erl[index])
        diffs = sim[f"{index}_conf_all"] - erl[f"{index}_conf_all"]  # resamples x params
        half = stats.norm.ppf(0.995) * diffs.std(axis=0, ddof=1)
        assert (np.abs(sim[index] - erl[index]) <= half).all(), (index, sim[index],
                                                                 erl[index], half)
    # the check has teeth: c decides the wait (ST > 0.5) and the CIs are narrower
    # than the indices' spread
    assert erl["ST"][2] > 0.5 and sim["ST_conf"][2] < erl["ST"][2]


def test_ensemble_bands_follow_erlang_c(mmc_dir: Path) -> None:
    """An ensemble over an uncertain mean service time s ~ Normal(0.8 s, 0.1 s) on an
    M/M/2 at λ = 1: the mean wait rises with s, so its 2.5% and 97.5% quantiles over
    the members are Erlang C's at s's (0.604 s and 0.996 s), within 30% (40 members
    of 4,000 s: quantiles of 40 draws sit within about ±0.5 sd of s's, which moves
    the wait by under 25%)."""
    data = {"name": "ens", "model": "mmc.yaml", "horizon": "4000s", "warmup": "400s",
            "method": "ensemble", "samples": 40, "set": {"workload.arrivals.rate": 1.0},
            "parameters": {"roles.server.work.mean": {"distribution": "normal", "mean": 0.8,
                                                      "sd": 0.1, "low": 0.3}},
            "slo": {"wait_mean": 0.187}, "outputs": ["wait_mean", "slo"]}
    result = run_study(study_from_data(data, mmc_dir))
    band = result.analysis["bands"].set_index("output").loc["wait_mean"]
    exact = [mmc(1.0, 1 / s, 2).mean_wait for s in (0.8 + 0.1 * stats.norm.ppf(q)
                                                     for q in (0.025, 0.975))]
    assert band["p2_5"] == pytest.approx(exact[0], rel=0.3)
    assert band["p97_5"] == pytest.approx(exact[1], rel=0.3)
    assert result.analysis["slo"].iloc[0]["members"] == 40


@pytest.mark.slow
def test_tier_slo_probability_from_an_ensemble_follows_erlang_c(tmp_path: Path) -> None:
    """A tier's probability of meeting its SLO under parameter uncertainty.

    An M/M/c tier at λ = 0.5 and 1.0 per second with c in {2, 3} and the SLO mean
    wait <= 0.187 s; the sweep, at the nominal mean service time 0.8 s (Erlang C:
    0.152 s at c = 2, λ = 1), recommends c = 2, the fewest slots. The mean service
    time is uncertain, s ~ Normal(0.8 s, 0.1 s). Erlang C's wait rises with s and λ,
    so the recommendation meets the SLO at both loads exactly when s <= s*, where
    the wait at λ = 1 equals 0.187 s: P = Φ((s* - 0.8) / 0.1). The ensemble's share
    (60 members, 6,000 s runs) has a Wilson 95% CI that covers it."""
    from scipy.optimize import brentq

    from tarsim.api import sensitivity

    limit = 0.187
    s_star = brentq(lambda s: mmc(1.0, 1 / s, 2).mean_wait - limit, 0.3, 1.5)
    expected = float(stats.norm.cdf((s_star - 0.8) / 0.1))
    model = mmc_data(1.0, 1.0, 2)
    model["roles"]["server"]["work"]["mean"] = 0.8
    (tmp_path / "mmc.yaml").write_text(yaml.safe_dump(model, sort_keys=False))
    experiment = {"name": "tier", "model": "mmc.yaml", "horizon": "6000s",
                  "warmup": "300s", "replications": 4, "slo": {"wait_mean": limit},
                  "tiers": [{"name": "t", "rate": [0.5, 1.0],
                             "grid": {"agents.concurrency": [2, 3]}}]}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(experiment, sort_keys=False))
    data = {"name": "ens", "experiment": "exp.yaml", "method": "ensemble", "samples": 60,
            "parameters": {"roles.server.work.mean": {"distribution": "normal", "mean": 0.8,
                                                      "sd": 0.1, "low": 0.3}},
            "outputs": ["wait_mean", "slo"]}
    study = study_from_data(data, tmp_path)
    result = sensitivity(study, executor="serial")
    row = result.analysis["tiers"].iloc[0]
    assert row["config"] == "agents.concurrency=2" and row["sweep_status"] == "ok"
    assert row["ci95_low"] <= expected <= row["ci95_high"], (row.to_dict(), expected)
    assert row["ci95_high"] - row["ci95_low"] < 0.3  # narrow enough to tell 0.5 from 0.85


# ---------------------------------------------------------------- running
def test_resume_reuses_the_store_and_local_pool_equals_serial(mmc_dir: Path,
                                                              tmp_path: Path) -> None:
    """A study run again on the same folder with resume simulates nothing and gives
    the same table; the local pool gives the same table as serial (same seeds)."""
    data = mmc_study(method="oat", horizon="500s", warmup="50s")
    study = study_from_data(data, mmc_dir)
    out = tmp_path / "out"
    first = run_study(study, out=out)
    again = run_study(study, out=out, resume=True)
    assert first.executed == 7 and again.executed == 0 and again.reused == 7
    assert first.table.equals(again.table)
    with make_executor("local", workers=2) as pool:
        pooled = run_study(study, pool)
    assert pooled.table.equals(first.table)
    with pytest.raises(ConfigError, match="--resume"):
        run_study(study, out=out)


def test_cli_writes_tables_report_and_charts(mmc_dir: Path, tmp_path: Path) -> None:
    """``tarsim sensitivity`` prints the indices and writes the design, the Sobol
    table, the "what decides" table, the manifest, report.html and PNG charts."""
    data = mmc_study(samples=4, horizon="300s", warmup="30s",
                     outputs=["p99", "throughput"])
    (mmc_dir / "study.yaml").write_text(yaml.safe_dump(data))
    out = tmp_path / "res"
    result = CliRunner().invoke(main, ["sensitivity", str(mmc_dir / "study.yaml"),
                                       "--out", str(out), "--executor", "serial"])
    assert result.exit_code == 0, result.output
    assert "what decides this answer" in result.output
    for name in ("design.csv", "sobol.csv", "decides.csv", "manifest.json", "report.html",
                 "charts/sobol_p99.png", "charts/sobol_throughput.png"):
        assert (out / name).is_file(), name
    assert (out / "charts/sobol_p99.png").read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------- hypotheses
def test_hypotheses_name_the_telling_measurement(tmp_path: Path) -> None:
    """Two models of one server pool: M/M/1 at μ = 2 and M/M/2 at μ = 1 (the same
    capacity). Erlang C: mean sojourn 0.56 vs 1.01 s at λ = 0.2, 2.0 vs 2.29 s at
    λ = 1.5. With the SLO mean <= 0.8 s the light tier's recommendation differs
    (only M/M/1 meets it), the heavy tier's agrees (neither does); and the most
    telling measurement is a latency at the light load, where the gap is largest and
    the CIs narrowest."""
    from tarsim.sensitivity.hypotheses import compare

    a = mmc_data(0.5, 2.0, 1)
    b = mmc_data(0.5, 1.0, 2)
    for name, data in (("mm1.yaml", a), ("mm2.yaml", b)):
        (tmp_path / name).write_text(yaml.safe_dump(data, sort_keys=False))
    experiment = {"name": "pools", "model": "mm1.yaml", "horizon": "1500s",
                  "warmup": "150s", "replications": 4, "slo": {"mean": 0.8},
                  "tiers": [{"name": "light", "rate": 0.2}, {"name": "heavy", "rate": 1.5}]}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(experiment, sort_keys=False))
    h = compare(tmp_path / "exp.yaml", [tmp_path / "mm1.yaml", tmp_path / "mm2.yaml"])
    differs = h.recommendations.set_index("tier")["differs"]
    assert bool(differs["light"]) and not bool(differs["heavy"])
    best = h.measurement()
    assert best["load"] == 0.2 and best["metric"].startswith("latency"), best
    assert best["distance"] > 3
    cli = CliRunner().invoke(main, ["hypotheses", str(tmp_path / "exp.yaml"),
                                    str(tmp_path / "mm1.yaml"), str(tmp_path / "mm2.yaml"),
                                    "--executor", "serial", "--out", str(tmp_path / "c.csv")])
    assert cli.exit_code == 0, cli.output
    assert "[DIFFER] light" in cli.output and "tells them apart" in cli.output
    assert (tmp_path / "c.csv").is_file()
    one = CliRunner().invoke(main, ["hypotheses", str(tmp_path / "exp.yaml"),
                                    str(tmp_path / "mm1.yaml")])
    assert one.exit_code == 2 and "at least two models" in one.output


def test_ensemble_from_a_calibration_keeps_its_intervals_and_correlation(
        mmc_dir: Path) -> None:
    """A calibration's fitted values and 95% intervals become the ensemble's normals
    (sd = half-width / 1.96), a scale factor multiplies every value it scales, and
    the file's correlation is kept: over 2,000 members the sample means, sds and
    correlation are within 99.9% sampling bounds of the stated ones."""
    import json

    calibration = {"parameters": [
        {"path": "workload.arrivals.rate", "kind": "value", "value": 0.5,
         "ci95": [0.4, 0.6], "leaves": ["workload.arrivals.rate"]},
        {"path": "roles.*.work", "kind": "scale", "value": 1.2, "ci95": [1.0, 1.4],
         "leaves": ["roles.server.work.mean"]},
    ], "correlation": [[1.0, 0.8], [0.8, 1.0]]}
    (mmc_dir / "cal.json").write_text(json.dumps(calibration))
    data = {"name": "cal", "model": "mmc.yaml", "method": "ensemble", "samples": 2000,
            "ensemble": {"calibration": "cal.json"}, "outputs": ["wait_mean"]}
    study = study_from_data(data, mmc_dir)
    design = make_design(study)
    rate, factor = design.values[:, 0], design.values[:, 1]
    n = len(rate)
    sd_rate, sd_factor = 0.1 / 1.96, (0.2 / 1.96) / 1.2
    z = 3.3
    assert abs(rate.mean() - 0.5) < z * sd_rate / math.sqrt(n)
    assert abs(factor.mean() - 1.0) < z * sd_factor / math.sqrt(n)
    assert abs(rate.std(ddof=1) / sd_rate - 1) < z / math.sqrt(2 * n)
    assert abs(np.corrcoef(rate, factor)[0, 1] - 0.8) < z * (1 - 0.8**2) / math.sqrt(n)
    scale = study.parameters[1]
    assert scale.overrides(1.1) == {"roles.server.work.mean": pytest.approx(0.75 * 1.1)}


def test_run_and_sweep_take_an_ensemble(tmp_path: Path) -> None:
    """``tarsim run MODEL --ensemble STUDY`` prints prediction bands and P(meets the
    SLOs); ``tarsim sweep EXPERIMENT --ensemble STUDY`` prints, per tier, the
    recommendation and its probability. On an M/M/1 whose mean service time s is
    Normal(0.5 s, 0.05 s) truncated to 0.3-0.6 s, the mean sojourn is s/(1 - λs):
    at λ = 1.5 at least 0.55 s, so no member meets a 0.3 s SLO (P = 0); at λ = 0.2
    at most 0.68 s, so every member meets a 2 s SLO (P = 1). Far from the limits,
    the short runs' noise cannot flip a verdict."""
    model = mmc_data(1.5, 2.0, 1)
    (tmp_path / "mm1.yaml").write_text(yaml.safe_dump(model, sort_keys=False))
    experiment = {"name": "pools", "model": "mm1.yaml", "horizon": "600s", "warmup": "60s",
                  "replications": 2, "slo": {"mean": 2.0},
                  "tiers": [{"name": "light", "rate": 0.2}]}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(experiment, sort_keys=False))
    study = {"name": "ens", "model": "mm1.yaml", "samples": 10, "outputs": ["latency_mean",
                                                                            "slo"],
             "slo": {"mean": 0.3},
             "parameters": {"roles.server.work.mean": {"distribution": "normal",
                                                       "mean": 0.5, "sd": 0.05, "low": 0.3,
                                                       "high": 0.6}}}
    (tmp_path / "ens.yaml").write_text(yaml.safe_dump(study, sort_keys=False))
    runner = CliRunner()
    ran = runner.invoke(main, ["run", str(tmp_path / "mm1.yaml"), "--ensemble",
                               str(tmp_path / "ens.yaml"), "--duration", "600s",
                               "--set", "workload.arrivals.rate=1.5"])
    assert ran.exit_code == 0, ran.output
    assert "P(meets the SLOs) = 0.00" in ran.output and "latency_mean" in ran.output
    study["slo"] = {"mean": 2.0}
    (tmp_path / "ens.yaml").write_text(yaml.safe_dump(study, sort_keys=False))
    swept = runner.invoke(main, ["sweep", str(tmp_path / "exp.yaml"), "--ensemble",
                                 str(tmp_path / "ens.yaml"), "--executor", "serial",
                                 "--out", str(tmp_path / "out")])
    assert swept.exit_code == 0, swept.output
    assert "light: (the model as it is)  P = 1.00" in swept.output
    assert (tmp_path / "out" / "tiers.csv").is_file()
    checked = runner.invoke(main, ["check", str(tmp_path / "ens.yaml")])
    assert checked.exit_code == 0 and "study 'ens'" in checked.output


def test_a_study_of_several_tiers_studies_each_recommendation(mmc_dir: Path) -> None:
    """A study of two tiers runs the sweep, then its design on each tier's
    recommended configuration at the tier's highest load: each tier's tornado of the
    mean wait ends where Erlang C puts it (λ = 0.2 and 1.0, s in 0.5-1 s, c in 2-3;
    4,000 s runs, within 25% or 0.01 s), and the per-tier table names each tier."""
    experiment = {"name": "two", "model": "mmc.yaml", "horizon": "4000s", "warmup": "400s",
                  "replications": 2, "slo": {"p99": 30.0},
                  "tiers": [{"name": "light", "rate": 0.2}, {"name": "heavy", "rate": 1.0}]}
    (mmc_dir / "exp.yaml").write_text(yaml.safe_dump(experiment, sort_keys=False))
    data = {"name": "tiers", "experiment": "exp.yaml", "tier": ["light", "heavy"],
            "method": "oat", "outputs": ["wait_mean"],
            "parameters": {"roles.server.work.mean": {"low": 0.5, "high": 1.0},
                           "agents.concurrency": {"low": 2, "high": 3}}}
    result = run_study(study_from_data(data, mmc_dir))
    tor = result.analysis["tornado"]
    assert list(dict.fromkeys(tor["tier"])) == ["light", "heavy"]
    for _, row in tor.iterrows():
        lam = {"light": 0.2, "heavy": 1.0}[row["tier"]]
        for end in ("low", "high"):
            point = {"roles.server.work.mean": 0.75, "agents.concurrency": 2,
                     row["parameter"]: row[f"{end}_value"]}
            theory = mmc(lam, 1 / point["roles.server.work.mean"],
                         int(point["agents.concurrency"])).mean_wait
            sim = row[f"at_{end}"]
            assert abs(sim - theory) <= max(0.25 * theory, 0.01), (row.to_dict(), theory)


def test_unknown_tier_is_named_with_did_you_mean(mmc_dir: Path) -> None:
    """A tier the experiment lacks is named by its place in the list, with the
    experiment's tiers and the closest one."""
    experiment = {"name": "two", "model": "mmc.yaml", "slo": {"p99": 30.0},
                  "tiers": [{"name": "light", "rate": 0.2}, {"name": "heavy", "rate": 1.0}]}
    (mmc_dir / "exp.yaml").write_text(yaml.safe_dump(experiment, sort_keys=False))
    data = mmc_study(method="oat")
    del data["model"]
    data.update({"experiment": "exp.yaml", "tier": ["light", "heavvy"]})
    found = problems_of(data, mmc_dir)
    assert any(p.startswith("tier[1]") and "did you mean 'heavy'" in p for p in found), found
    data["tier"] = None
    assert any("experiment needs tier" in p for p in problems_of(data, mmc_dir))


def test_hypotheses_refuse_an_output_they_cannot_write(tmp_path: Path) -> None:
    """``tarsim hypotheses --out`` into a folder that does not exist is refused
    before any simulation, naming the option (exit 2)."""
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(mmc_data(0.5, 2.0, 1)))
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump({"model": "m.yaml",
                                                       "slo": {"mean": 1.0}}))
    result = CliRunner().invoke(main, ["hypotheses", str(tmp_path / "exp.yaml"),
                                       str(tmp_path / "m.yaml"), str(tmp_path / "m.yaml"),
                                       "--out", str(tmp_path / "no" / "such" / "c.csv")])
    assert result.exit_code == 2 and "--out" in result.output, result.output


def test_the_tars_study_varies_at_least_eight_assumptions() -> None:
    """experiments/tars_small.study.yaml is a valid study (``tarsim check``) of one
    tier, and at least eight of its parameters are numbers models/tars.yaml marks
    ``[assumption]`` on the line that sets them."""
    from tarsim.config import load_data
    from tarsim.config.loader import split_path

    root = Path(__file__).resolve().parent.parent
    study_file = root / "experiments" / "tars_small.study.yaml"
    checked = CliRunner().invoke(main, ["check", str(study_file)])
    assert checked.exit_code == 0, checked.output
    spec, _ = load_data(study_file)
    assert isinstance(spec["tier"], str)
    _, lines = load_data(root / "models" / "tars.yaml")
    text = (root / "models" / "tars.yaml").read_text(encoding="utf-8").splitlines()
    marked = []
    for path in spec["parameters"]:
        keys = split_path(path)
        line = next(lines[keys[:n]] for n in range(len(keys), 0, -1) if keys[:n] in lines)
        if "[assumption" in text[line - 1]:
            marked.append(path)
    assert len(marked) >= 8, marked


def test_failed_runs_are_noted_kept_and_retried(mmc_dir: Path, tmp_path: Path) -> None:
    """A run that raises is stored as failed: its design point has no outputs and
    the study says so; ``--resume`` keeps it failed, ``--retry-failed`` runs it
    again."""
    from tarsim.executors import SERIAL, execute
    from tarsim.sensitivity.execute import run_and_store

    def broken(task: Any) -> Any:
        if task.model.agents.concurrency == 3:
            raise RuntimeError("simulated crash")
        return execute(task)

    study = study_from_data(mmc_study(method="oat", horizon="300s", warmup="30s"), mmc_dir)
    out = tmp_path / "out"
    first = run_and_store(study, lambda: make_executor(SERIAL, run=broken), out=out)
    assert first.failed == 1
    assert any("failed" in note and "simulated crash" in note for note in first.notes)
    crashed = first.table["agents.concurrency"] == 3
    assert crashed.sum() == 1 and first.table.loc[crashed, "wait_mean"].isna().all()
    kept = run_and_store(study, lambda: make_executor(SERIAL), out=out, resume=True)
    assert kept.executed == 0 and kept.table.loc[crashed, "wait_mean"].isna().all()
    retried = run_and_store(study, lambda: make_executor(SERIAL), out=out, resume=True,
                            retry_failed=True)
    assert retried.executed == 1 and retried.table["wait_mean"].notna().all()
    assert retried.failed == 0
