"""Consistency checks of a baseline, before any fit: what the numbers themselves say.

Each check returns :class:`Finding`s (data, not text on a screen):

- ``reading``: the load column read both ways. As closed-loop concurrency N with
  think time Z, the interactive response time law X = N / (R + Z) gives the mean
  response time R = N / X_all - Z, where X_all = X / (1 - error rate) counts every
  answer; the reading is feasible when 0 < R <= p99. As an open arrival rate
  lambda, a steady state answers what arrives: X_all = lambda (within
  ``OPEN_TOLERANCE``); answering fewer with a bounded p99 means a backlog growing
  without bound, which a steady-state row cannot show.
- ``load_kind``: which reading holds for every row, against the file's load_kind.
- ``rate_limit``: throughput x calls (and tokens) per request against every limit
  the model gives a provider or an LLM. Limits are read defensively (``limits`` with
  ``requests``, ``input_tokens``, ``output_tokens`` in per-second units), so models
  without the section simply have none.
- ``error_trend`` / ``memory_trend``: least-squares trends with two-sided 95% CIs.
- ``usl``: the Universal Scalability Law fitted to throughput against concurrency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tarsim.calibrate.baseline import Baseline
from tarsim.calibrate.usl import fit_usl

OPEN_TOLERANCE = 0.05
"""Relative gap between offered and answered rate that an open-loop steady state
may show over a finite test window."""
LINEAR_MEMORY_TOLERANCE = 0.10
LIMIT_NAMES = ("requests", "input_tokens", "output_tokens")


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: str
    """``info`` (consistent), ``warning`` (suspicious, or a model cannot fit it as
    is), ``problem`` (impossible as stated)."""
    message: str
    rows: tuple[int, ...] = ()
    """0-based baseline rows the finding is about."""
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "severity": self.severity, "message": self.message,
                "rows": list(self.rows), "data": self.data}


def check_baseline(baseline: Baseline, model: Any = None, think_time_s: float = 0.0
                   ) -> list[Finding]:
    """Every consistency finding for *baseline* (and *model*'s limits, if given)."""
    findings = reading_findings(baseline, think_time_s)
    if model is not None:
        findings += rate_limit_findings(baseline, model)
    findings += error_trend_findings(baseline)
    findings += memory_trend_findings(baseline)
    findings += usl_findings(baseline)
    return findings


# ---------------------------------------------------------------- the two readings
def _answered(row: Any) -> float:
    error = row.error_rate or 0.0
    return row.throughput / (1.0 - error) if error < 1 else math.inf


def reading_findings(baseline: Baseline, think_time_s: float = 0.0) -> list[Finding]:
    found = []
    closed_ok, open_ok = [], []
    for i, row in enumerate(baseline.rows):
        answered = _answered(row)
        mean_r = row.load / answered - think_time_s if answered > 0 else math.inf
        closed = 0 < mean_r <= row.p99
        gap = (answered - row.load) / row.load
        is_open = abs(gap) <= OPEN_TOLERANCE
        closed_ok.append(closed)
        open_ok.append(is_open)
        parts = [f"row {i + 1} (load {row.load:g}):"]
        if closed:
            parts.append(f"as {row.load:g} users, X = N/(R+Z) gives mean response "
                         f"{mean_r:.3g} s <= p99 {row.p99:g} s (consistent);")
        elif mean_r <= 0:
            parts.append(f"as {row.load:g} users with think time {think_time_s:g} s, "
                         f"X = N/(R+Z) leaves no time to respond (R = {mean_r:.3g} s);")
        else:
            parts.append(f"as {row.load:g} users, the mean response {mean_r:.3g} s would "
                         f"exceed the p99 {row.p99:g} s (suspicious);")
        if is_open:
            parts.append(f"as an open rate, {answered:.3g}/s answered of {row.load:g}/s "
                         "offered (consistent)")
        elif gap < 0:
            parts.append(f"as an open rate, {row.load:g}/s offered but only {answered:.3g}/s "
                         f"answered ({row.throughput:g} ok, {100 * (row.error_rate or 0):g}% "
                         f"errors): the backlog would grow by {row.load - answered:.3g}/s, "
                         f"impossible with a bounded p99 of {row.p99:g} s")
        else:
            parts.append(f"as an open rate, {answered:.3g}/s answered exceeds the "
                         f"{row.load:g}/s offered: impossible")
        severity = "info" if closed and is_open else (
            "warning" if closed or is_open else "problem")
        found.append(Finding("reading", severity, " ".join(parts), (i,), {
            "closed": {"users": row.load, "mean_response_s": mean_r, "feasible": closed},
            "open": {"offered_per_s": row.load, "answered_per_s": answered,
                     "relative_gap": gap, "feasible": is_open},
        }))
    n = len(baseline.rows)
    all_closed, all_open = all(closed_ok), all(open_ok)
    declared = sorted({r.load_kind for r in baseline.rows})
    feasible = [k for k, ok in (("concurrency", all_closed), ("rate", all_open)) if ok]
    if feasible == ["concurrency"]:
        message = (f"the load column reads as closed-loop concurrency: all {n} rows are "
                   f"consistent as users, {n - sum(open_ok)} of {n} impossible as an open rate")
    elif feasible == ["rate"]:
        message = (f"the load column reads as an open arrival rate: all {n} rows are "
                   f"consistent as a rate, {n - sum(closed_ok)} of {n} not as users")
    elif feasible:
        message = "both readings of the load column are consistent with every row"
    else:
        message = (f"neither reading fits every row ({sum(closed_ok)} of {n} as users, "
                   f"{sum(open_ok)} of {n} as a rate)")
    mismatch = [k for k in declared if feasible and k not in feasible]
    severity = "info"
    if mismatch:
        severity = "problem"
        message += f"; but the file declares load_kind {', '.join(mismatch)}"
    elif not feasible:
        severity = "warning"
    found.append(Finding("load_kind", severity, message, tuple(range(n)),
                         {"feasible": feasible, "declared": declared}))
    return found


# ---------------------------------------------------------------- rate limits
DEMAND_SAMPLE = 20_000
"""Requests in the zero-load run that measures the demand per request (relative
standard error of a 10 %-of-requests call rate: 2 %)."""


BIND_SHARE = 0.8
"""A limit binds at a row whose admitted demand reaches this share of it."""
SECTION = {"provider": "providers", "llm": "llms", "tool": "tools"}


def rate_limit_findings(baseline: Baseline, model: Any) -> list[Finding]:
    """Each limit of *model* (provider, model and tool limits) against the calls the
    baseline's successful requests must have had admitted: successful throughput x
    calls per request, the calls per request as the simulator sends them (a zero-load
    run of the model: class weights, role mixes, workflows, routing and caches all
    applied; :mod:`tarsim.demand`). A failed request may have been refused before some
    of its calls, so failures count nothing (the admitted demand is at least this). A
    limit below it cannot apply as modelled; one reaching ``BIND_SHARE`` of it binds,
    and a calibration fits its rate."""
    from tarsim import demand as demand_of

    limits = demand_of.model_limits(model)
    if not limits:
        return [Finding("rate_limit", "info", "the model sets no rate limits: nothing to check")]
    demand = demand_of.zero_load(model, requests=DEMAND_SAMPLE).per_request
    found = []
    for (kind, name), given in sorted(limits.items()):
        key = f"{kind}:{name}"
        per_request = demand.get((kind, name), dict.fromkeys(LIMIT_NAMES, 0.0))
        for limit, cap in given.items():
            need = per_request[limit]
            admitted = [r.throughput * need for r in baseline.rows]
            over = [(i, rate) for i, rate in enumerate(admitted) if rate > cap]
            binds = [i for i, rate in enumerate(admitted) if rate >= BIND_SHARE * cap]
            unit = "calls" if limit == "requests" else limit.replace("_", " ")
            data = {"key": key, "limit": limit, "limit_per_s": cap, "per_request": need,
                    "max_needed_per_s": max(admitted, default=0.0), "binds": bool(binds),
                    "path": f"{SECTION[kind]}.{name}.limits.{limit}"}
            if over:
                worst, rate = max(over, key=lambda pair: pair[1])
                found.append(Finding(
                    "rate_limit", "problem",
                    f"{key} {limit} limit {cap:.4g}/s ({cap * 3600:.4g}/h): {len(over)} rows "
                    f"need more — row {worst + 1}'s successful "
                    f"{baseline.rows[worst].throughput:.3g} req/s x {need:.3g} {unit} per "
                    f"request = {rate:.4g}/s, "
                    f"{rate / cap:.3g}x the limit: the limit cannot apply as modelled "
                    "(on the calls the model sends: mixes and caches applied); its rate "
                    "is fitted",
                    tuple(i for i, _ in over), data))
            elif binds:
                peak = max(admitted)
                found.append(Finding(
                    "rate_limit", "info",
                    f"{key} {limit} limit {cap:.4g}/s binds: successful requests needed "
                    f"{peak:.4g}/s ({peak / cap:.0%} of it) in rows "
                    f"{', '.join(str(i + 1) for i in binds)}; its rate is fitted",
                    tuple(binds), data))
            else:
                peak = max(admitted, default=0.0)
                found.append(Finding(
                    "rate_limit", "info",
                    f"{key} {limit} limit {cap:.4g}/s: the busiest row's successful requests "
                    f"needed {peak:.4g}/s ({peak / cap:.0%} of it): it does not bind", (), data))
    return found


def binding_limits(findings: list[Finding]) -> list[str]:
    """Model paths of the limits the rate-limit findings say bind (or cannot apply)."""
    return [f.data["path"] for f in findings if f.kind == "rate_limit"
            and (f.data.get("binds") or f.severity == "problem")]


# ---------------------------------------------------------------- trends
def linear_fit(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Least squares with an intercept on the columns of *x*: coefficients, their
    two-sided 95% t intervals (NaN when df < 1) and the residuals."""
    from scipy.stats import t as student_t

    design = np.column_stack([np.ones(len(y)), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    df = len(y) - design.shape[1]
    if df >= 1:
        s2 = float(resid @ resid) / df
        cov = s2 * np.linalg.pinv(design.T @ design)
        half = student_t.ppf(0.975, df) * np.sqrt(np.clip(np.diag(cov), 0, None))
    else:
        half = np.full(len(coef), math.nan)
    return {"coef": coef, "half": half, "resid": resid, "df": df}


def error_trend_findings(baseline: Baseline) -> list[Finding]:
    rows = [(i, r) for i, r in enumerate(baseline.rows) if r.error_rate is not None]
    if len(rows) < 3:
        return []
    load = np.array([r.load for _, r in rows])
    error = np.array([r.error_rate for _, r in rows], dtype=float)
    fit = linear_fit(load, error)
    slope, half = float(fit["coef"][1]), float(fit["half"][1])
    rising = slope - half > 0
    if rising:
        message = (f"the error rate rises with load: {100 * slope * 100:.3g} points per 100 "
                   f"load units (95% CI {100 * (slope - half) * 100:.3g} to "
                   f"{100 * (slope + half) * 100:.3g}), from {100 * error.min():g}% to "
                   f"{100 * error.max():g}%; a constant per-call error probability cannot "
                   "produce that: load-dependent failures (rate limits, timeouts, "
                   "degradation) are needed")
    else:
        message = (f"no error trend with load that the data can show (slope "
                   f"{100 * slope * 100:.3g} points per 100, 95% CI ± {100 * half * 100:.3g})")
    return [Finding("error_trend", "warning" if rising else "info", message,
                    tuple(i for i, _ in rows),
                    {"slope_per_load": slope, "ci95_half": half, "rising": bool(rising)})]


def memory_trend_findings(baseline: Baseline) -> list[Finding]:
    rows = [(i, r) for i, r in enumerate(baseline.rows)
            if r.memory_mb is not None and r.agents is not None]
    if len(rows) < 3:
        return []
    agents = np.array([r.agents for _, r in rows], dtype=float)
    load = np.array([r.load for _, r in rows], dtype=float)
    memory = np.array([r.memory_mb for _, r in rows], dtype=float)
    columns = [agents, load] if np.ptp(load) > 0 and len(rows) >= 4 else [agents]
    fit = linear_fit(np.column_stack(columns), memory)
    rel = np.abs(fit["resid"]) / memory
    worst = int(np.argmax(rel))
    names = ["base_mb", "per_agent_mb", "per_load_mb"][: 1 + len(columns)]
    coef = {n: float(c) for n, c in zip(names, fit["coef"], strict=True)}
    half = {n: float(h) for n, h in zip(names, fit["half"], strict=True)}
    linear = bool(rel.max() <= LINEAR_MEMORY_TOLERANCE)
    shown = ", ".join(f"{n} {coef[n]:.3g} ± {half[n]:.2g}" for n in names)
    if linear:
        message = (f"memory is linear in agents and load within {LINEAR_MEMORY_TOLERANCE:.0%}: "
                   f"{shown}")
    else:
        message = (f"memory is not linear in agents and load: the best line ({shown}) misses "
                   f"row {rows[worst][0] + 1} by {rel[worst]:.0%}; a model with memory = base + "
                   "per_agent x agents + per_request x in-flight cannot fit every row within "
                   f"{LINEAR_MEMORY_TOLERANCE:.0%}")
    increments = np.diff(memory) / np.where(np.diff(agents) == 0, np.nan, np.diff(agents))
    return [Finding("memory_trend", "info" if linear else "warning", message,
                    tuple(i for i, _ in rows),
                    {"coef": coef, "ci95_half": half, "max_relative_residual": float(rel.max()),
                     "mb_per_added_agent": [None if math.isnan(v) else float(v)
                                            for v in increments]})]


def usl_findings(baseline: Baseline) -> list[Finding]:
    rows = [(i, r) for i, r in enumerate(baseline.rows) if r.load_kind == "concurrency"]
    if len(rows) < 3:
        return [Finding("usl", "info", f"the USL needs 3 concurrency rows, the baseline has "
                        f"{len(rows)}")]
    fit = fit_usl([r.load for _, r in rows], [r.throughput for _, r in rows])
    ci = fit.ci95
    parts = [f"USL fit of throughput vs concurrency: sigma {fit.sigma:.3g} "
             f"(95% CI {ci['sigma'][0]:.3g} to {ci['sigma'][1]:.3g}), kappa {fit.kappa:.3g} "
             f"({ci['kappa'][0]:.3g} to {ci['kappa'][1]:.3g}), gamma {fit.gamma:.3g} req/s "
             f"per user, peak at N* = {fit.peak_n:.3g} users "
             f"({ci['peak_n'][0]:.3g} to {ci['peak_n'][1]:.3g})"]
    agents = {r.agents for _, r in rows}
    if len(agents) > 1:
        parts.append("the rows also change the agent count, so the curve mixes added capacity "
                     "with added load")
    parts += list(fit.warnings)
    return [Finding("usl", "warning" if fit.warnings else "info", "; ".join(parts),
                    tuple(i for i, _ in rows), fit.as_dict())]
