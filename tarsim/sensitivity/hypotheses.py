"""Competing hypotheses side by side: one experiment swept over several model files
that all fit the baseline (say, congestion at the provider or on the host), the
tiers whose recommendations differ, and the measurement that would tell the
models apart: the point (tier, configuration, load) and metric where their
predictions differ most relative to their confidence intervals.

The distance between two models' predictions of a metric at a point is
|mean_a - mean_b| / sqrt(se_a^2 + se_b^2), the standard errors taken from the
sweep's 95% CI half-widths (half-width / t, t of the replications); above about
2, a load test of that point with as many replications as the sweep would
separate them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from scipy import stats

from tarsim.config import ConfigError, Problem
from tarsim.executors import SERIAL, make_executor
from tarsim.sweep.loader import experiment_with_model
from tarsim.sweep.runner import SweepResult, run_sweep
from tarsim.sweep.stats import column
from tarsim.vocabulary import Metric

METRICS = tuple(column(m) for m in (Metric.THROUGHPUT, Metric.LATENCY_P99, Metric.LATENCY_MEAN,
                                    Metric.ERROR_RATE, Metric.COST_PER_REQUEST_USD))
"""The metrics compared (summary columns)."""
KEY = ["tier", "config", "load_kind", "load"]


@dataclass
class Hypotheses:
    """Each model's sweep, where the recommendations differ, and where the
    predictions differ most relative to their CIs."""

    names: list[str]
    sweeps: list[SweepResult]
    recommendations: pd.DataFrame
    """One row per tier: each model's recommended configuration, and ``differs``."""
    separation: pd.DataFrame
    """One row per point, metric and pair of models: both means, their CIs and the
    distance in standard errors, largest first."""

    def measurement(self) -> dict[str, Any]:
        """The single most telling measurement (the first row of ``separation``)."""
        if self.separation.empty:
            return {}
        return dict(self.separation.iloc[0])


def compare(experiment_file: str | Path, model_files: Sequence[str | Path],
            executor_factory: Any = None) -> Hypotheses:
    """Sweep *experiment_file* once per model of *model_files* (on one runner from
    *executor_factory*, serial when None) and compare."""
    if len(model_files) < 2:
        raise ConfigError([Problem("MODEL", "give at least two models to compare",
                                   [str(m) for m in model_files])])
    names = [Path(m).stem for m in model_files]
    if len(set(names)) < len(names):
        names = [str(m) for m in model_files]
    experiments = [experiment_with_model(experiment_file, m) for m in model_files]
    sweeps = []
    with (executor_factory() if executor_factory else make_executor(SERIAL)) as runner:
        for experiment in experiments:
            sweeps.append(run_sweep(experiment, runner))
    return Hypotheses(names, sweeps, _recommendations(names, sweeps),
                      _separation(names, sweeps))


def _recommendations(names: list[str], sweeps: list[SweepResult]) -> pd.DataFrame:
    rows: dict[str, dict[str, Any]] = {}
    for name, sweep in zip(names, sweeps, strict=True):
        for _, rec in sweep.recommendations.iterrows():
            row = rows.setdefault(str(rec["tier"]), {"tier": rec["tier"]})
            label = rec["config"] if rec["status"] == "ok" else f"none meets ({rec['config']})"
            row[name] = label
            row[f"{name}_p99"] = rec[column(Metric.LATENCY_P99)]
            row[f"{name}_cost_per_hour_usd"] = rec["cost_per_hour_usd"]
    frame = pd.DataFrame(list(rows.values()))
    frame["differs"] = frame[names].nunique(axis=1) > 1
    return frame


def _standard_error(half: float, replications: float) -> float:
    if not (math.isfinite(half) and replications > 1):
        return math.nan
    return half / float(stats.t.ppf(0.975, replications - 1))


def _separation(names: list[str], sweeps: list[SweepResult]) -> pd.DataFrame:
    rows = []
    for (na, a), (nb, b) in itertools.combinations(zip(names, sweeps, strict=True), 2):
        joined = a.summary.merge(b.summary, on=KEY, suffixes=("_a", "_b"))
        for _, r in joined.iterrows():
            for metric in METRICS:
                if f"{metric}_a" not in r or f"{metric}_b" not in r:
                    continue
                ma, mb = float(r[f"{metric}_a"]), float(r[f"{metric}_b"])
                se_a = _standard_error(float(r.get(f"{metric}_ci95_a", math.nan)),
                                       float(r["replications_a"]))
                se_b = _standard_error(float(r.get(f"{metric}_ci95_b", math.nan)),
                                       float(r["replications_b"]))
                se = math.hypot(se_a, se_b)
                if not (math.isfinite(ma) and math.isfinite(mb) and math.isfinite(se)):
                    continue
                gap = abs(ma - mb)
                distance = gap / se if se > 0 else (math.inf if gap > 0 else 0.0)
                rows.append({"tier": r["tier"], "config": r["config"],
                             "load_kind": r["load_kind"], "load": r["load"],
                             "metric": metric, "model_a": na, "model_b": nb,
                             "mean_a": ma, "mean_b": mb, "se_a": se_a, "se_b": se_b,
                             "distance": distance})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values("distance", ascending=False, kind="stable").reset_index(drop=True)


def describe(h: Hypotheses) -> str:
    """A few lines for the terminal."""
    lines = ["recommendations per tier:"]
    for _, row in h.recommendations.iterrows():
        mark = "DIFFER" if row["differs"] else "agree "
        lines.append(f"  [{mark}] {row['tier']}: " + "; ".join(
            f"{n}: {row[n]}" for n in h.names))
    best = h.measurement()
    if best:
        lines.append(
            f"the measurement that tells them apart: {best['metric']} of "
            f"[{best['tier']}] {best['config']} at load {best['load']:g} "
            f"({best['model_a']} {best['mean_a']:.4g} vs {best['model_b']} "
            f"{best['mean_b']:.4g}; {best['distance']:.1f} standard errors apart)")
    return "\n".join(lines)
