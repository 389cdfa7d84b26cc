"""Fitting model parameters to a baseline by simulation, on common random numbers.

Each baseline row is simulated as the load test ran it: ``concurrency`` rows as
closed-loop users (``users = load``, the model's think time), ``rate`` rows as
Poisson arrivals, with ``agents.count = agents.warm =`` the row's agents. Every
evaluation uses the same seeds, so the simulated metrics move smoothly with the
parameters and finite differences see the parameters, not the noise. A row whose
p99 is of all requests (``p99_of: all``, Locust's) is compared with the simulated
p99 of every finished request, failures included.

The residual of a metric is its error in units of the regression tolerance:
throughput 5% and p99 10% (relative), error rate 1.5 points (absolute), memory
10% (relative, against the simulated time-averaged memory). A trial point the
model refuses (a value out of its bounds) gets ``MISSING_PENALTY`` on every
residual: the search moves away from it, nothing raises.

The search (parameters: :mod:`tarsim.calibrate.params`) works on log(theta):
first a coarse global stage, a Latin-hypercube scan of ``scan_points`` points in
the box start / 4 .. start x 4 (clipped to the bounds), then scipy's bounded least
squares (trf) within ``max_iterations`` evaluations from each of the ``starts`` best
points (the start itself competing), keeping the best end, then a pattern search
over each integer parameter between least-squares passes. ``max_iterations = 0``
moves nothing: the model is simulated as it is.

Parameter CIs (continuous ones): the sandwich covariance A^-1 J^T S J A^-1
(A = J^T J) of the linearised problem in log space, with J the finite-difference
Jacobian at the optimum and S the covariance of the residuals' noise, estimated
from independent replications at the optimum on seeds the fit did not use. S
counts the fit's simulation noise and, as an assumption, as much again for the
baseline's measurement noise; where a residual is larger than its noise explains,
its square replaces its variance (White's HC0). The quantile is two-sided
t(0.975) on the noise replications' degrees of freedom. A parameter whose factor-2
change moves the sum of squares by less than that noise allowance (s^2 t^2) is
**not identified**: the data cannot tell its value, and its interval is its whole
search range. An integer parameter's interval is the set of integers whose profile
sum of squares exceeds the best by at most the same allowance.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from pydantic import BaseModel

from tarsim import metrics
from tarsim.calibrate.baseline import Baseline, BaselineRow
from tarsim.calibrate.params import Parameter, default_fit, resolve, values
from tarsim.calibrate.search import (
    OPTIMISER_XTOL,
    continuous_ci,
    fit_warnings,
    integer_interval,
    integer_search,
)
from tarsim.config.errors import ConfigError, Problem
from tarsim.config.loader import with_overrides
from tarsim.config.model import Model
from tarsim.run import RunRecords, simulate
from tarsim.vocabulary import Outcome

__all__ = [
    "FitResult",
    "FitSettings",
    "Parameter",
    "default_fit",
    "fit",
    "predict",
    "relative_errors",
    "residuals",
    "resolve",
]

METRICS = ("throughput", "p99", "error_rate", "memory_mb")
SUMMARY_PATH = {"throughput": "throughput", "p99": "latency.p99", "error_rate": "error_rate",
                "memory_mb": "memory.mean_mb"}
TOLERANCE = {"throughput": 0.05, "p99": 0.10, "error_rate": 0.015, "memory_mb": 0.10}
RELATIVE = {"throughput": True, "p99": True, "error_rate": False, "memory_mb": True}
MISSING_PENALTY = 100.0
"""Residual of a metric the simulation could not produce (no successful request, or a
trial point the model refuses)."""
SCAN_HALF_WIDTH = math.log(4.0)
"""The global stage scans start / 4 .. start x 4 of every continuous parameter."""


@dataclass(frozen=True)
class FitSettings:
    duration_s: float = 60.0
    warmup_s: float = 10.0
    replications: int = 2
    seed: int = 1
    max_iterations: int = 20
    """Budget of the local stage, in least-squares evaluations (each costs about one
    simulation of every row per parameter); 0 moves nothing."""
    scan_points: int | None = None
    """Points of the global stage; None: 8 per continuous parameter, at most 64."""
    starts: int = 3
    """The local stage runs from this many of the best points of the global stage
    (the start among them) and keeps the best end."""
    noise_replications: int = 8
    """Independent replications at the optimum that estimate the noise behind the
    parameter CIs."""
    profile_iterations: int = 3
    """Budget of the refit of the continuous parameters at each integer value tried."""


# ---------------------------------------------------------------- simulating rows
def row_overrides(model: Model, row: BaselineRow) -> dict[str, Any]:
    arrivals = model.workload.arrivals
    overrides: dict[str, Any] = {}
    if row.load_kind == "concurrency":
        think = getattr(arrivals, "think_time", 0.0)
        think_data = think.model_dump(by_alias=True, exclude_none=True) \
            if isinstance(think, BaseModel) else think
        overrides["workload.arrivals"] = {"kind": "closed", "users": max(1, round(row.load)),
                                          "think_time": think_data}
    else:
        overrides["workload.arrivals"] = {"kind": "poisson", "rate": row.load}
    if row.agents is not None:
        overrides["agents.count"] = row.agents
        overrides["agents.warm"] = row.agents
    return overrides


def check_rows(model: Model, baseline: Baseline) -> None:
    """Every row as a run of *model* (its users, rate, agents within the model's own
    bounds), or a ConfigError naming the row: a trial point that fails later is then
    the parameters' fault, and is penalised rather than reported."""
    problems = []
    for i, row in enumerate(baseline.rows):
        try:
            with_overrides(model, row_overrides(model, row))
        except ConfigError as exc:
            problems += [Problem(f"baseline row {i + 1} (load {row.load:g})", str(p),
                                 has_value=False) for p in exc.problems]
    if problems:
        raise ConfigError(problems, baseline.source or None)


@dataclass
class RowResult:
    measured: dict[str, float]
    simulated: dict[str, float]
    ci95: dict[str, float]


def _p99_all(rec: RunRecords) -> float:
    """p99 of every request that arrived in the window and finished, failed or not."""
    req = rec.request_columns
    arrival, end, outcome = req["arrival"], req["end"], req["outcome"]
    done = (arrival >= rec.warmup_s) & (arrival < rec.duration_s) & (outcome != Outcome.UNFINISHED)
    latency = end[done] - arrival[done]
    return float(np.quantile(latency, 0.99)) if len(latency) else math.nan


class Simulator:
    """Simulates baseline rows for parameter values, on fixed seeds, keeping the
    latest runs so that a parameter vector seen again is not simulated twice."""

    def __init__(self, model: Model, params: Sequence[Parameter], settings: FitSettings,
                 cache_size: int = 48) -> None:
        self.model = model
        self.params = list(params)
        self.settings = settings
        self.runs: OrderedDict[Any, dict[str, Any] | None] = OrderedDict()
        self.cache_size = cache_size
        self.simulations = 0
        self.invalid = 0
        """Trial points the model refused (penalised)."""

    def model_at(self, theta: Sequence[float] | np.ndarray) -> Model:
        given = values(self.params, theta)
        return with_overrides(self.model, given) if given else self.model

    def row(self, theta: Sequence[float] | np.ndarray, index: int, row: BaselineRow) -> RowResult:
        summary = self._summary(np.asarray(theta, dtype=float), index, row)
        if summary is None:
            nan = dict.fromkeys(METRICS, math.nan)
            return RowResult(row.metrics(), nan, dict(nan))
        simulated = {name: _get(summary, SUMMARY_PATH[name]) for name in METRICS}
        half = {name: summary.get("ci95", {}).get(SUMMARY_PATH[name], math.nan)
                for name in METRICS}
        if row.p99_of == "all":
            simulated["p99"] = summary["p99_all"]
            half["p99"] = math.nan
        return RowResult(row.metrics(), simulated, half)

    def _summary(self, theta: np.ndarray, index: int, row: BaselineRow) -> dict[str, Any] | None:
        key = (index, tuple(round(float(t), 12) for t in theta))
        if key in self.runs:
            self.runs.move_to_end(key)
            return self.runs[key]
        summary: dict[str, Any] | None
        try:
            model = self.model_at(theta)
            row_model = with_overrides(model, row_overrides(model, row))
        except (ConfigError, ValueError):
            self.invalid += 1
            summary = None
        else:
            s = self.settings
            records = [simulate(row_model, duration=s.duration_s, warmup=s.warmup_s,
                                seed=s.seed, replication=r) for r in range(s.replications)]
            self.simulations += len(records)
            summary = metrics.aggregate([metrics.summarize(rec) for rec in records])
            summary["p99_all"] = float(np.nanmean([_p99_all(rec) for rec in records]))
        self.runs[key] = summary
        if len(self.runs) > self.cache_size:
            self.runs.popitem(last=False)
        return summary


def _get(summary: dict[str, Any], path: str) -> float:
    node: Any = summary
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return float(node) if isinstance(node, int | float) else math.nan


def residuals(results: Sequence[RowResult]) -> np.ndarray:
    out = []
    for res in results:
        for name, measured in res.measured.items():
            sim = res.simulated[name]
            scale = TOLERANCE[name] * (abs(measured) if RELATIVE[name] else 1.0)
            scale = scale if scale > 0 else TOLERANCE[name]
            out.append(MISSING_PENALTY if math.isnan(sim) else (sim - measured) / scale)
    return np.array(out, dtype=float)


def relative_errors(res: RowResult) -> dict[str, float]:
    """Throughput, p99, memory: (simulated - measured) / measured; error rate: the
    difference in points (percentage points)."""
    out = {}
    for name, measured in res.measured.items():
        sim = res.simulated[name]
        if RELATIVE[name]:
            out[name] = (sim - measured) / measured if measured else math.nan
        else:
            out[name] = 100.0 * (sim - measured)
    return out


# ---------------------------------------------------------------- fitting
@dataclass
class FitResult:
    params: list[Parameter]
    theta: np.ndarray
    ci95: list[tuple[float, float]]
    rows: list[RowResult]
    cost: float
    """Sum of squared residuals, in tolerance units."""
    dof: int
    iterations: int
    simulations: int
    message: str
    model: Model
    correlation: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    identified: list[bool] = field(default_factory=list)
    """False: the data cannot move this parameter (flat profile); its CI is its range."""
    warnings: list[str] = field(default_factory=list)
    start_cost: float = math.nan

    def fitted(self) -> dict[str, float]:
        return values(self.params, self.theta)

    def fitted_ci95(self) -> dict[str, tuple[float, float]]:
        out: dict[str, tuple[float, float]] = {}
        for k, (p, (lo, hi)) in enumerate(zip(self.params, self.ci95, strict=True)):
            low, high = self.theta.copy(), self.theta.copy()
            low[k], high[k] = lo, hi
            low_values, high_values = values(self.params, low), values(self.params, high)
            for leaf, _ in p.leaves[:1] if p.kind == "tail" else p.leaves:
                out[leaf] = (low_values[leaf], high_values[leaf])
        return out


Objective = Callable[[np.ndarray], np.ndarray]


def fit(model: Model, baseline: Baseline, params: Sequence[Parameter],
        settings: FitSettings, start: Sequence[float] | np.ndarray | None = None,
        iterations: int | None = None, with_ci: bool = True,
        fixed_integers: bool = False) -> FitResult:
    """Fit *params* of *model* to every row of *baseline* (see the module docstring)."""
    params = list(params)
    sim = Simulator(model, params, settings)
    rows = list(enumerate(baseline.rows))
    check_rows(model, baseline)
    theta = np.array(start if start is not None else [p.start for p in params], dtype=float)
    for k, p in enumerate(params):
        theta[k] = min(max(theta[k], p.lower), p.upper)
        if p.integer:
            theta[k] = float(round(theta[k]))
    first = theta.copy()
    budget = settings.max_iterations if iterations is None else iterations
    cont = [k for k, p in enumerate(params) if not p.integer]
    ints = [] if fixed_integers or budget <= 0 else [k for k, p in enumerate(params)
                                                     if p.integer]

    def cost_at(point: np.ndarray) -> float:
        res = residuals([sim.row(point, i, r) for i, r in rows])
        return float(res @ res)

    def profile(point: np.ndarray) -> tuple[float, np.ndarray]:
        """The best cost with the integer parameters as in *point*: the continuous
        ones refitted (within a small budget) from there."""
        refit, *_ = _least_squares(sim, rows, params, cont, point,
                                   settings.profile_iterations)
        return cost_at(refit), refit

    start_cost = cost_at(theta)
    nfev = 1
    jac = np.zeros((0, len(cont)))
    message = "no fit: the budget is 0 evaluations, the model is simulated as it is"
    if budget > 0:
        candidates, scanned = _scan(cost_at, params, cont, theta, settings, start_cost)
        nfev += scanned
        best_cost = math.inf
        for candidate in candidates:
            end, end_jac, end_message, more = _least_squares(sim, rows, params, cont,
                                                             candidate, budget)
            nfev += more
            end_cost = cost_at(end)
            if end_cost < best_cost:
                theta, jac, message, best_cost = end, end_jac, end_message, end_cost
        moved = False
        for k in ints:
            theta, changed = integer_search(profile, theta, k, params[k])
            moved = moved or changed
        if moved:
            theta, jac, message, more = _least_squares(sim, rows, params, cont, theta,
                                                        max(1, budget // 2))
            nfev += more
    final = [sim.row(theta, i, r) for i, r in rows]
    res = residuals(final)
    m, n = len(res), len(params)
    dof = m - n
    ci: list[tuple[float, float]] = [(math.nan, math.nan)] * n
    corr = np.full((n, n), math.nan)
    identified = [True] * n
    if with_ci and n and dof >= 1 and budget > 0:
        from scipy.stats import t as student_t

        noise = _noise_covariance(model, params, settings, theta, rows)
        # lack of fit: a residual larger than its noise explains counts as variance
        # of that residual (heteroscedasticity-consistent, as White's HC0)
        noise = noise + np.diag(np.clip(res**2 - np.diag(noise), 0.0, None))
        q = float(student_t.ppf(0.975, settings.noise_replications - 1))
        allowance = float(np.trace(noise)) / m * q * q
        if cont and jac.shape == (m, len(cont)):
            continuous_ci(jac, noise, q, allowance, theta, params, cont, ci, corr, identified)
        for k in (k for k, p in enumerate(params) if p.integer):
            ci[k] = integer_interval(profile, theta, k, params[k], float(res @ res),
                                      allowance)
    warnings = fit_warnings(params, first, theta, start_cost, float(res @ res), identified,
                         sim.invalid, budget, message)
    return FitResult(params, theta, ci, final, float(res @ res), dof, nfev,
                     sim.simulations, str(message), sim.model_at(theta), corr, identified,
                     warnings, start_cost)


def _scan(cost_at: Callable[[np.ndarray], float], params: list[Parameter], cont: list[int],
          theta: np.ndarray, settings: FitSettings, start_cost: float
          ) -> tuple[list[np.ndarray], int]:
    """The global stage: a Latin-hypercube scan in log space; the ``starts`` best of
    it and the start, best first (the local stage runs from each)."""
    if not cont:
        return [theta], 0
    from scipy.stats import qmc

    count = settings.scan_points if settings.scan_points is not None \
        else min(64, 8 * len(cont))
    if count <= 0:
        return [theta], 0
    u0 = np.log(theta[cont])
    low = np.maximum(u0 - SCAN_HALF_WIDTH, np.log([params[k].lower for k in cont]))
    high = np.minimum(u0 + SCAN_HALF_WIDTH, np.log([params[k].upper for k in cont]))
    scored = [(start_cost, 0, theta)]
    for n, unit in enumerate(qmc.LatinHypercube(len(cont), seed=settings.seed).random(count)):
        trial = theta.copy()
        trial[cont] = np.exp(low + unit * (high - low))
        scored.append((cost_at(trial), n + 1, trial))
    scored.sort(key=lambda item: (item[0], item[1]))
    return [point for _, _, point in scored[:max(1, settings.starts)]], count


def _noise_covariance(model: Model, params: list[Parameter], settings: FitSettings,
                      theta: np.ndarray, rows: list[tuple[int, BaselineRow]]) -> np.ndarray:
    """Covariance of the residual vector's noise at *theta*: from
    ``noise_replications`` single replications on seeds the fit never used (one
    residual vector each, all rows of a replication sharing its streams, so the
    cross-row correlation common random numbers create is kept), divided by the
    fit's replications, and doubled on the assumption that the baseline is as
    noisy as the fit's own simulated average."""
    single = replace(settings, replications=1)
    vectors = []
    for k in range(settings.noise_replications):
        sim = Simulator(model, params, replace(single, seed=settings.seed + 1_000_003 * (k + 1)))
        vectors.append(residuals([sim.row(theta, i, r) for i, r in rows]))
    stacked = np.array(vectors)
    return 2.0 * np.cov(stacked, rowvar=False) / settings.replications


def _least_squares(sim: Simulator, rows: list[tuple[int, BaselineRow]],
                   params: list[Parameter], cont: list[int], theta: np.ndarray,
                   budget: int) -> tuple[np.ndarray, np.ndarray, str, int]:
    """Bounded least squares over log(theta) of the parameters *cont*, the others held
    at *theta*; the Jacobian returned is d residual / d log(theta)."""
    from scipy.optimize import least_squares

    if not cont or budget <= 0:
        return theta, np.zeros((0, len(cont))), "nothing to fit", 0
    lower = np.log([params[k].lower for k in cont])
    upper = np.log([params[k].upper for k in cont])
    u0 = np.clip(np.log(theta[cont]), lower, upper)

    def objective(u: np.ndarray) -> np.ndarray:
        point = theta.copy()
        point[cont] = np.exp(u)
        return residuals([sim.row(point, i, r) for i, r in rows])

    result = least_squares(objective, u0, bounds=(lower, upper), method="trf",
                           diff_step=0.05, max_nfev=budget, xtol=OPTIMISER_XTOL, ftol=1e-4)
    out = theta.copy()
    out[cont] = np.exp(result.x)
    return out, result.jac, str(result.message), int(result.nfev)


def predict(model: Model, baseline: Baseline, settings: FitSettings) -> list[RowResult]:
    """Simulate every row of *baseline* with *model* as it is."""
    sim = Simulator(model, [], settings)
    return [sim.row([], i, r) for i, r in enumerate(baseline.rows)]
