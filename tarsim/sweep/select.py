"""One question, one answer: a single point of an experiment (its ``set:`` applied,
its tier's load and axis values), run as the sweep runs it - same horizon,
warm-up, seed and replications - so that ``tarsim run --experiment``, the
notebooks and the sweep agree; an experiment narrowed to some tiers or with
changed top-level keys; and variants of one model side by side on common random
numbers with paired differences.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tarsim.config import ConfigError, Model, Problem, load_data, with_overrides
from tarsim.metrics import t_halfwidth
from tarsim.sweep.experiment import AdaptiveReplications
from tarsim.sweep.loader import Experiment, experiment_from_data
from tarsim.sweep.points import RATE, Point, load_overrides, model_load


def narrowed(path: str | Path, *, tiers: Sequence[str] | None = None,
             changes: Mapping[str, Any] | None = None) -> Experiment:
    """The experiment file at *path* with only the named *tiers* (in the file's
    order) and top-level keys replaced by *changes* (``{"horizon": "40s"}``);
    everything else - the ``set:`` block above all - as the file says."""
    path = Path(path)
    data, lines = load_data(path)
    if not isinstance(data, dict):
        return experiment_from_data(data, path.parent, str(path), lines)
    data = dict(data)
    if tiers is not None:
        known = [t.get("name") for t in data.get("tiers", []) if isinstance(t, dict)]
        unknown = [t for t in tiers if t not in known]
        if unknown:
            raise ConfigError([Problem("tiers", f"no such tier (the file has {known})",
                                       unknown)], str(path))
        data["tiers"] = [t for t in data.get("tiers", []) if t.get("name") in tiers]
    data.update(changes or {})
    return experiment_from_data(data, path.parent, str(path), lines)


def replications_of(experiment: Experiment) -> int:
    """The replications each point gets in a sweep (an adaptive rule: its minimum)."""
    reps = experiment.spec.replications
    return reps.min if isinstance(reps, AdaptiveReplications) else int(reps)


def find_point(experiment: Experiment, tier: str | None = None,
               point: int | None = None) -> Point:
    """Point number *point* (as the sweep's tables and ``--dry-run`` number them),
    which must be in *tier* when both are given; with only *tier*, its first
    configuration at its highest load."""
    names = list(dict.fromkeys(p.tier for p in experiment.points))
    if tier is not None and tier not in names:
        raise ConfigError([Problem("--tier", f"no such tier (known: {', '.join(names)})",
                                   tier)], experiment.source)
    if point is not None:
        if not 0 <= point < len(experiment.points):
            raise ConfigError([Problem("--point", f"must be 0 to {len(experiment.points) - 1}",
                                       point)], experiment.source)
        chosen = experiment.points[point]
        if tier is not None and chosen.tier != tier:
            raise ConfigError([Problem("--point", f"is in tier {chosen.tier!r}, not {tier!r}",
                                       point)], experiment.source)
        return chosen
    mine = [p for p in experiment.points if tier is None or p.tier == tier]
    first = mine[0].params
    same = [p for p in mine if p.params == first]
    return max(same, key=lambda p: -math.inf if math.isnan(p.load) else p.load)


def adjusted(model: Model, *, rate: float | None = None, agents: int | None = None,
             overrides: Mapping[str, Any] | None = None) -> Model:
    """*model* with ``--set`` *overrides*, then the ``--rate`` and ``--agents``
    shortcuts (an open-loop rate; the agent count)."""
    changes: dict[str, Any] = dict(overrides or {})
    if rate is not None:
        if not (math.isfinite(rate) and rate > 0):
            raise ConfigError([Problem("--rate", "must be > 0 (requests a second)", rate)])
        changes.update(load_overrides(model, RATE, rate))
    if agents is not None:
        if agents < 1:
            raise ConfigError([Problem("--agents", "must be >= 1", agents)])
        changes["agents.count"] = agents
    return with_overrides(model, changes) if changes else model


def load_of(model: Model) -> tuple[str, float]:
    """The load a model is under, as the sweep names it."""
    return model_load(model)


# ---------------------------------------------------------------- compare
COMPARED = ("throughput", "latency.p50", "latency.p99", "error_rate", "wait.mean",
            "agents.utilization", "cost.per_hour_usd", "cost.per_request_usd")
"""The metrics ``tarsim compare`` shows, as flat summary paths."""


def paired(per_replication: Mapping[str, Sequence[Mapping[str, Any]]],
           names: Sequence[str] = COMPARED) -> dict[str, Any]:
    """Each variant's mean per metric and, against the first variant, the mean of
    the paired differences (replication r of one minus replication r of the other:
    the same random numbers) with its 95 % CI half-width."""
    variants = list(per_replication)
    base = variants[0]
    out: dict[str, Any] = {"variants": variants, "metrics": {}}
    for name in names:
        rows: dict[str, Any] = {}
        first = _values(per_replication[base], name)
        for variant in variants:
            values = _values(per_replication[variant], name)
            entry = {"mean": float(np.nanmean(values)) if np.isfinite(values).any()
                     else math.nan}
            if variant != base:
                diff = values - first
                diff[np.abs(diff) < 1e-9 * np.maximum(1.0, np.abs(first))] = 0.0  # rounding
                entry["diff"] = float(np.nanmean(diff)) if np.isfinite(diff).any() \
                    else math.nan
                entry["diff_ci95"] = t_halfwidth(diff) if len(diff) > 1 else math.nan
            rows[variant] = entry
        out["metrics"][name] = rows
    return out


def _values(summaries: Sequence[Mapping[str, Any]], name: str) -> np.ndarray:
    values = []
    for summary in summaries:
        node: Any = summary
        for part in name.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        values.append(math.nan if node is None else float(node))
    return np.array(values, dtype=float)
