"""One calibration: findings, the fit, the per-row comparison and the hold-out error,
as data (``as_dict`` is the ``tarsim calibrate --format json`` contract)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tarsim.calibrate.baseline import Baseline
from tarsim.calibrate.checks import Finding, binding_limits, check_baseline
from tarsim.calibrate.fit import FitResult, FitSettings, fit, relative_errors
from tarsim.calibrate.holdout import Holdout, holdout
from tarsim.calibrate.params import Parameter, default_fit, resolve
from tarsim.config.errors import ConfigError, Problem
from tarsim.config.model import Model
from tarsim.executors import Runner


@dataclass
class Calibration:
    baseline: Baseline
    findings: list[Finding]
    result: FitResult
    holdout: Holdout | None
    settings: FitSettings
    fit_set: list[tuple[str, str]]
    """(path, why it is fitted or fixed): the default set's reasons, or the user's."""

    def as_dict(self) -> dict[str, Any]:
        r = self.result
        ci = r.fitted_ci95()
        rows = []
        for row, res in zip(self.baseline.rows, r.rows, strict=True):
            rows.append({
                "load": row.load, "load_kind": row.load_kind, "agents": row.agents,
                "p99_of": row.p99_of,
                "measured": res.measured,
                "simulated": {k: res.simulated[k] for k in res.measured},
                "ci95": {k: res.ci95[k] for k in res.measured},
                "error": relative_errors(res),
            })
        out: dict[str, Any] = {
            "findings": [f.as_dict() for f in self.findings],
            "fitted": r.fitted(),
            "fitted_ci95": {k: list(v) for k, v in ci.items()},
            "parameters": [
                {"path": p.path, "kind": p.kind, "value": float(t), "start": p.start,
                 "ci95": list(c), "identified": ok,
                 "leaves": [leaf for leaf, _ in p.leaves[:1 if p.kind == "tail" else None]]}
                for p, t, c, ok in zip(r.params, r.theta, r.ci95,
                                       r.identified or [True] * len(r.params), strict=True)],
            "fit_set": [{"path": path, "why": why} for path, why in self.fit_set],
            "warnings": list(r.warnings),
            "rows": rows,
            "fit": {"cost": r.cost, "dof": r.dof, "iterations": r.iterations,
                    "simulations": r.simulations, "message": r.message,
                    "start_cost": r.start_cost,
                    "duration_s": self.settings.duration_s, "warmup_s": self.settings.warmup_s,
                    "replications": self.settings.replications, "seed": self.settings.seed},
            "holdout": None,
        }
        if self.holdout is not None:
            h = self.holdout
            out["holdout"] = {
                "kind": h.kind,
                "rows": [{"row": i + 1, "measured": p.measured,
                          "predicted": {k: p.simulated[k] for k in p.measured},
                          "error": e, "refitted": fitted}
                         for i, p, e, fitted in zip(h.rows, h.predictions, h.errors,
                                                    h.refitted, strict=True)],
                "mean_abs_error": h.mean_abs(),
            }
        return out


def parse_holdout(rows: Sequence[int], count: int) -> list[int]:
    """1-based row numbers to 0-based indices, each checked."""
    problems = [Problem("--holdout", f"must be a row number from 1 to {count}", n)
                for n in rows if not 1 <= n <= count]
    if not problems and len(set(rows)) >= count:
        problems.append(Problem("--holdout", "must leave at least one row to fit", list(rows)))
    if problems:
        raise ConfigError(problems)
    return sorted({n - 1 for n in rows})


def calibrate(model: Model, baseline: Baseline, paths: Sequence[str] | None = None,
              holdout_rows: Sequence[int] | None = None, loo: bool = True,
              settings: FitSettings | None = None,
              progress: Callable[[str], None] | None = None,
              runner: Runner | None = None) -> Calibration:
    """Check *baseline*, fit *paths* of *model* to it and measure the prediction
    error on held-out rows (1-based *holdout_rows*, or leave-one-out if *loo*).
    Every simulation runs on *runner* (made by
    :func:`~tarsim.calibrate.fit.calibration_runner`, left open; None: serially)."""
    settings = settings or FitSettings()
    findings = check_baseline(baseline, model, _think_time(model))
    if paths:
        chosen, fit_set = list(paths), [(p, "fitted: given with --fit") for p in paths]
    else:
        binding = binding_limits(findings)
        quiet = [f.data["path"] for f in findings if f.kind == "rate_limit"
                 and "path" in f.data and f.data["path"] not in binding]
        chosen, fit_set = default_fit(model, baseline, binding, quiet)
    params = [_from_the_data(p, findings) for p in resolve(model, chosen)]
    held = parse_holdout(holdout_rows, len(baseline.rows)) if holdout_rows else None
    result = fit(model, baseline, params, settings, runner=runner)
    if progress is not None:
        progress(f"fit done: {result.simulations} simulations, cost {result.cost:.4g}")
    hold = None
    if held is not None:
        hold = holdout(model, baseline, params, settings, held, progress, runner)
    elif loo and len(baseline.rows) >= 2:
        hold = holdout(model, baseline, params, settings, None, progress, runner)
    return Calibration(baseline, findings, result, hold, settings, fit_set)


LIMIT_HEADROOM = 1.05
"""A limit the baseline's successes exceeded starts this much above what they needed."""


def _from_the_data(param: Parameter, findings: list[Finding]) -> Parameter:
    """A limit's rate that the rate-limit finding shows too low for what the successful
    requests needed starts above that need (the data's lower bound on the limit)."""
    for f in findings:
        if f.kind == "rate_limit" and f.severity == "problem" and \
                f.data.get("path") == param.path and param.kind == "value":
            start = min(f.data["max_needed_per_s"] * LIMIT_HEADROOM, param.upper)
            return replace(param, start=max(param.start, start))
    return param


def _think_time(model: Model) -> float:
    think = getattr(model.workload.arrivals, "think_time", 0.0)
    if isinstance(think, int | float):
        return float(think)
    try:
        return float(think.mean())
    except (AttributeError, ValueError):
        return math.nan if think is not None else 0.0
