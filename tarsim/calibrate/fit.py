"""Fitting model parameters to a baseline by simulation, on common random numbers.

Each baseline row is simulated as the load test ran it: ``concurrency`` rows as
closed-loop users (``users = load``, the model's think time), ``rate`` rows as
Poisson arrivals, with ``agents.count = agents.warm =`` the row's agents. Every
evaluation uses the same seeds, so the simulated metrics move smoothly with the
parameters and finite differences see the parameters, not the noise.

The residual of a metric is its error in units of the regression tolerance:
throughput 5% and p99 10% (relative), error rate 1.5 points (absolute), memory
10% (relative, against the simulated time-averaged memory). scipy's bounded
least squares (trf) minimises their sum of squares within an evaluation budget.

Parameters (``--fit PATH``): a path to a number fits that number (an integer
one, such as ``agents.concurrency``, by a pattern search over the integers between
least-squares passes over the others); a path to a distribution, or a path with
``*``, fits one scale factor applied to every time (or size) of every match, shape (cv) unchanged.

Parameter CIs (continuous ones): the sandwich covariance
A^-1 J^T S J A^-1 (A = J^T J) of the linearised problem, with J the
finite-difference Jacobian at the optimum and S the covariance of the residuals'
noise, estimated from independent replications at the optimum on seeds the fit
did not use (rows of one replication share streams, so the cross-row correlation
common random numbers create is in S). S counts the fit's simulation noise and,
as an assumption, as much again for the baseline's measurement noise; where a
residual is larger than its noise explains (the model cannot fit that point), its
square replaces its variance (White's HC0), so a poor fit gets wide intervals. The
quantile is two-sided t(0.975) on the noise replications' degrees of freedom.
An integer parameter's interval is the set of integers whose profile sum of
squares (the continuous parameters refitted) exceeds the best by at most the
noise variance x t^2.
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
from tarsim.config.errors import ConfigError, Problem
from tarsim.config.loader import with_overrides
from tarsim.config.model import Model
from tarsim.run import RunRecords, simulate

METRICS = ("throughput", "p99", "error_rate", "memory_mb")
SUMMARY_PATH = {"throughput": "throughput", "p99": "latency.p99", "error_rate": "error_rate",
                "memory_mb": "memory.mean_mb"}
TOLERANCE = {"throughput": 0.05, "p99": 0.10, "error_rate": 0.015, "memory_mb": 0.10}
RELATIVE = {"throughput": True, "p99": True, "error_rate": False, "memory_mb": True}
DEFAULT_FIT = ("roles.*.work", "llms.*.first_token", "llms.*.output_rate", "agents.concurrency",
               "providers.*.errors.rate", "memory.base", "memory.per_agent", "memory.per_request",
               *(f"{station}.{name}" for station in (
                   "deployment.cpu", "deployment.congestion", "providers.*.congestion")
                 for name in ("cores", "contention", "coherence", "overload.max",
                              "overload.half", "overload.onset")))
"""TARS's usual unknowns, and the congestion curves wherever they live (a host's CPU,
a host's call station, a provider's); paths the model does not have are left out."""
SCALED_FIELDS = {"constant": ("value",), "exponential": ("mean",), "uniform": ("low", "high"),
                 "lognormal": ("median", "p99", "mean"), "gamma": ("mean",),
                 "empirical": ("scale",)}
OPTIMISER_XTOL = 1e-3
"""Relative step below which the least-squares search stops; also the floor of a
parameter's relative CI half-width (before the t quantile)."""
MISSING_PENALTY = 100.0
"""Residual of a metric the simulation could not produce (no successful request)."""


@dataclass(frozen=True)
class FitSettings:
    duration_s: float = 60.0
    warmup_s: float = 10.0
    replications: int = 2
    seed: int = 1
    max_iterations: int = 8
    """Budget of the main fit, in least-squares iterations (each costs about one
    simulation of every row per parameter)."""
    noise_replications: int = 8
    """Independent replications at the optimum that estimate the noise behind the
    parameter CIs."""
    profile_iterations: int = 3
    """Budget of the refit of the continuous parameters at each integer value tried."""
    holdout_iterations: int = 3
    """Budget of each hold-out refit, which starts from the main fit and keeps its
    integer parameters."""


# ---------------------------------------------------------------- parameters
@dataclass(frozen=True)
class Parameter:
    path: str
    """As the user wrote it."""
    leaves: tuple[tuple[str, float], ...]
    """Concrete dotted paths it sets, with their starting values."""
    scale: bool
    """True: theta multiplies every leaf; False: theta is the one leaf's value."""
    integer: bool
    lower: float
    upper: float
    start: float

    def values(self, theta: float) -> dict[str, float]:
        if self.scale:
            return {leaf: value * theta for leaf, value in self.leaves}
        value = round(theta) if self.integer else theta
        return {self.leaves[0][0]: value}


def _dump(model: Model) -> dict[str, Any]:
    return model.model_dump(by_alias=True, exclude_none=True)


def _expand(node: Any, parts: list[str], prefix: str) -> list[tuple[str, Any]]:
    if not parts:
        return [(prefix, node)]
    head, rest = parts[0], parts[1:]
    if not isinstance(node, dict):
        return []
    keys = list(node) if head == "*" else [head] if head in node else []
    found = []
    for key in keys:
        found += _expand(node[key], rest, f"{prefix}.{key}" if prefix else str(key))
    return found


def _field_bounds(model: Model, leaf: str) -> tuple[float, float, bool]:
    """Lower and upper bound and integer-ness of a leaf, from its pydantic field."""
    node: Any = model
    parts = leaf.split(".")
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else getattr(node, part, None)
    lower, upper, integer = 0.0, math.inf, False
    if isinstance(node, BaseModel):
        fields = type(node).model_fields
        name = next((n for n, f in fields.items() if parts[-1] in (n, f.alias)), None)
        if name is not None:
            info = fields[name]
            integer = info.annotation is int or "int" in str(info.annotation).split("|")[0]
            for meta in info.metadata:
                lower = max(lower, float(getattr(meta, "ge", getattr(meta, "gt", lower))))
                upper = min(upper, float(getattr(meta, "le", getattr(meta, "lt", upper))))
    return lower, upper, integer


def resolve(model: Model, paths: Sequence[str]) -> list[Parameter]:
    """The parameters *paths* name in *model*; a ConfigError lists every path that
    names nothing fittable."""
    data = _dump(model)
    params, problems = [], []
    for path in paths:
        matches = _expand(data, path.split("."), "")
        leaves: list[tuple[str, float]] = []
        for where, node in matches:
            if isinstance(node, dict) and "dist" in node:
                for name in SCALED_FIELDS.get(node["dist"], ()):
                    if isinstance(node.get(name), int | float):
                        leaves.append((f"{where}.{name}", float(node[name])))
            elif isinstance(node, int | float) and not isinstance(node, bool):
                leaves.append((where, float(node)))
        if not leaves:
            problems.append(Problem(f"--fit {path}", "names no number or distribution in the "
                                    "model", path, has_value=False))
            continue
        single = len(matches) == 1 and "*" not in path and not (
            isinstance(matches[0][1], dict))
        if single:
            leaf, value = leaves[0]
            lower, upper, integer = _field_bounds(model, leaf)
            lower = max(lower, 1.0) if integer else lower
            start = value if value > 0 else (0.01 if upper <= 1 else 1.0)
            params.append(Parameter(path, tuple(leaves), False, integer, lower, upper,
                                    min(max(start, lower), upper)))
        else:
            params.append(Parameter(path, tuple(leaves), True, False, 1e-3, 1e3, 1.0))
    if problems:
        raise ConfigError(problems)
    return params


def default_paths(model: Model) -> list[str]:
    data = _dump(model)
    return [p for p in DEFAULT_FIT if any(
        isinstance(n, int | float | dict) for _, n in _expand(data, p.split("."), ""))]


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


@dataclass
class RowResult:
    measured: dict[str, float]
    simulated: dict[str, float]
    ci95: dict[str, float]


class Simulator:
    """Simulates baseline rows for parameter values, on fixed seeds, keeping the
    latest runs so that a parameter vector seen again is not simulated twice."""

    def __init__(self, model: Model, params: Sequence[Parameter], settings: FitSettings,
                 cache_size: int = 48) -> None:
        self.model = model
        self.params = list(params)
        self.settings = settings
        self.runs: OrderedDict[Any, list[RunRecords]] = OrderedDict()
        self.cache_size = cache_size
        self.simulations = 0
        # Memory is followed during the run (tarsim.components.memory), so every
        # parameter, memory's included, needs its own simulations.

    def model_at(self, theta: Sequence[float] | np.ndarray) -> Model:
        values: dict[str, float] = {}
        for p, t in zip(self.params, theta, strict=True):
            values.update(p.values(t))
        return with_overrides(self.model, values) if values else self.model

    def row(self, theta: Sequence[float] | np.ndarray, index: int, row: BaselineRow) -> RowResult:
        summary = self._summary(np.asarray(theta, dtype=float), index, row)
        simulated = {name: _get(summary, SUMMARY_PATH[name]) for name in METRICS}
        half = {name: summary.get("ci95", {}).get(SUMMARY_PATH[name], math.nan)
                for name in METRICS}
        return RowResult(row.metrics(), simulated, half)

    def _summary(self, theta: np.ndarray, index: int, row: BaselineRow) -> dict[str, Any]:
        dynamic = tuple(round(float(t), 12) for t in theta)
        model = self.model_at(theta)
        row_model = with_overrides(model, row_overrides(model, row))
        key = (index, dynamic)
        records = self.runs.get(key)
        if records is None:
            s = self.settings
            records = [simulate(row_model, duration=s.duration_s, warmup=s.warmup_s,
                                seed=s.seed, replication=r) for r in range(s.replications)]
            self.simulations += len(records)
            self.runs[key] = records
            if len(self.runs) > self.cache_size:
                self.runs.popitem(last=False)
        else:
            self.runs.move_to_end(key)
            records = [replace(rec, model=row_model) for rec in records]
        return metrics.aggregate([metrics.summarize(rec) for rec in records])


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

    def fitted(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for p, t in zip(self.params, self.theta, strict=True):
            out.update(p.values(t))
        return out

    def fitted_ci95(self) -> dict[str, tuple[float, float]]:
        out: dict[str, tuple[float, float]] = {}
        for p, (lo, hi) in zip(self.params, self.ci95, strict=True):
            low_values, high_values = p.values(lo) if p.scale else {p.leaves[0][0]: lo}, \
                p.values(hi) if p.scale else {p.leaves[0][0]: hi}
            for leaf in low_values:
                out[leaf] = (low_values[leaf], high_values[leaf])
        return out


def fit(model: Model, baseline: Baseline, params: Sequence[Parameter],
        settings: FitSettings, start: Sequence[float] | np.ndarray | None = None,
        iterations: int | None = None, with_ci: bool = True,
        fixed_integers: bool = False) -> FitResult:
    """Fit *params* of *model* to every row of *baseline*: least squares over the
    continuous parameters, then a pattern search over each integer one (others
    fixed), then least squares again if an integer moved."""
    params = list(params)
    sim = Simulator(model, params, settings)
    rows = list(enumerate(baseline.rows))
    theta = np.array(start if start is not None else [p.start for p in params], dtype=float)
    for k, p in enumerate(params):
        theta[k] = min(max(theta[k], p.lower), p.upper)
        if p.integer:
            theta[k] = float(round(theta[k]))
    budget = settings.max_iterations if iterations is None else iterations
    cont = [k for k, p in enumerate(params) if not p.integer]
    ints = [] if fixed_integers else [k for k, p in enumerate(params) if p.integer]

    def profile(point: np.ndarray) -> tuple[float, np.ndarray]:
        """The best cost with the integer parameters as in *point*: the continuous
        ones refitted (within a small budget) from there."""
        refit, *_ = _least_squares(sim, rows, params, cont, point,
                                   settings.profile_iterations)
        res = residuals([sim.row(refit, i, r) for i, r in rows])
        return float(res @ res), refit

    theta, jac, message, nfev = _least_squares(sim, rows, params, cont, theta, budget)
    moved = False
    for k in ints:
        theta, changed = _integer_search(profile, theta, k, params[k])
        moved = moved or changed
    if moved and budget > 0:
        theta, jac, message, more = _least_squares(sim, rows, params, cont, theta,
                                                    max(1, budget // 2))
        nfev += more
    final = [sim.row(theta, i, r) for i, r in rows]
    res = residuals(final)
    m, n = len(res), len(params)
    dof = m - n
    ci: list[tuple[float, float]] = [(math.nan, math.nan)] * n
    corr = np.full((n, n), math.nan)
    if with_ci and n and dof >= 1:
        from scipy.stats import t as student_t

        noise = _noise_covariance(model, params, settings, theta, rows)
        # lack of fit: a residual larger than its noise explains counts as variance
        # of that residual (heteroscedasticity-consistent, as White's HC0)
        noise = noise + np.diag(np.clip(res**2 - np.diag(noise), 0.0, None))
        q = float(student_t.ppf(0.975, settings.noise_replications - 1))
        if cont and jac.shape == (m, len(cont)):
            scale = np.array([max(abs(theta[k]), 1e-12) for k in cont])
            bread = np.linalg.pinv(jac.T @ jac)  # jac is in units of theta / scale
            cov = bread @ jac.T @ noise @ jac @ bread
            # the optimiser stops within OPTIMISER_XTOL of the optimum: never less
            sd = np.sqrt(np.clip(np.diag(cov), 0, None) + OPTIMISER_XTOL**2)
            for j, k in enumerate(cont):
                # clipped to the parameter's bounds: no value outside them is possible
                ci[k] = (max(theta[k] - q * sd[j] * scale[j], params[k].lower),
                         min(theta[k] + q * sd[j] * scale[j], params[k].upper))
            with np.errstate(invalid="ignore", divide="ignore"):
                sub = cov / np.outer(sd, sd)
            for a, ka in enumerate(cont):
                for b, kb in enumerate(cont):
                    corr[ka, kb] = sub[a, b]
        noise_level = float(np.trace(noise)) / m
        for k in (k for k, p in enumerate(params) if p.integer):
            ci[k] = _integer_interval(profile, theta, k, params[k], float(res @ res),
                                      noise_level * q * q)
    return FitResult(params, theta, ci, final, float(res @ res), dof, nfev,
                     sim.simulations, str(message), sim.model_at(theta), corr)


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
    """Bounded least squares over the parameters *cont*, the others held at *theta*;
    works on theta / start so that every parameter is of order 1."""
    from scipy.optimize import least_squares

    if not cont or budget <= 0:
        return theta, np.zeros((0, len(cont))), "nothing to fit", 0
    scale = np.array([max(abs(theta[k]), 1e-12) for k in cont])
    lower = np.array([params[k].lower for k in cont]) / scale
    upper = np.array([params[k].upper for k in cont]) / scale
    u0 = np.clip(theta[cont] / scale, lower, upper)

    def objective(u: np.ndarray) -> np.ndarray:
        point = theta.copy()
        point[cont] = u * scale
        return residuals([sim.row(point, i, r) for i, r in rows])

    result = least_squares(objective, u0, bounds=(lower, upper), method="trf",
                           diff_step=0.05, max_nfev=budget, xtol=OPTIMISER_XTOL, ftol=1e-4)
    out = theta.copy()
    out[cont] = result.x * scale
    # the Jacobian is d residual / d(theta / scale) at the start scale; rescale to the
    # parameters' final values so that the CI code can use one convention
    final_scale = np.array([max(abs(out[k]), 1e-12) for k in cont])
    jac = result.jac * (final_scale / scale)
    return out, jac, str(result.message), int(result.nfev)


Profile = Callable[[np.ndarray], tuple[float, np.ndarray]]


def _integer_search(profile: Profile, theta: np.ndarray, k: int,
                    param: Parameter) -> tuple[np.ndarray, bool]:
    """Pattern search on one integer parameter over its profile cost: steps of a
    quarter of its value, halved after a failure, down to 1."""
    best_cost, best = profile(theta)
    step = max(1, round(abs(best[k]) / 4))
    moved = False
    while step >= 1:
        improved = False
        for direction in (1, -1):
            trial = best.copy()
            trial[k] = best[k] + direction * step
            if not param.lower <= trial[k] <= param.upper:
                continue
            trial_cost, refit = profile(trial)
            if trial_cost < best_cost:
                best, best_cost, improved, moved = refit, trial_cost, True, True
                break
        if not improved:
            step //= 2
    return best, moved


def _integer_interval(profile: Profile, theta: np.ndarray, k: int, param: Parameter,
                      best: float, allowance: float, reach: int = 6) -> tuple[float, float]:
    """The integers whose profile cost exceeds the best by at most s^2 t^2 (the
    one-parameter F-test), searched up to *reach* steps away (infinite beyond)."""
    ends = []
    for direction in (-1, 1):
        edge = theta[k]
        for step in range(1, reach + 1):
            trial = theta.copy()
            trial[k] = theta[k] + direction * step
            if not param.lower <= trial[k] <= param.upper:
                break
            if profile(trial)[0] - best > allowance:
                break
            edge = trial[k]
        else:
            edge = math.inf * direction
        ends.append(edge)
    return ends[0], ends[1]


def predict(model: Model, baseline: Baseline, settings: FitSettings) -> list[RowResult]:
    """Simulate every row of *baseline* with *model* as it is."""
    sim = Simulator(model, [], settings)
    return [sim.row([], i, r) for i, r in enumerate(baseline.rows)]


@dataclass
class Holdout:
    """Prediction error on rows the fit did not see."""

    kind: str
    """``leave-one-out`` or ``holdout``."""
    rows: list[int]
    predictions: list[RowResult]
    errors: list[dict[str, float]]

    def mean_abs(self) -> dict[str, float]:
        out = {}
        for name in METRICS:
            values = [abs(e[name]) for e in self.errors if name in e and not math.isnan(e[name])]
            if values:
                out[name] = float(np.mean(values))
        return out


def holdout(model: Model, baseline: Baseline, params: Sequence[Parameter],
            settings: FitSettings, start: Sequence[float] | np.ndarray, rows: Sequence[int] | None,
            progress: Callable[[str], None] | None = None) -> Holdout:
    """Refit without some rows (each row in turn when *rows* is None) from *start*,
    and predict the rows left out."""
    groups = [[i] for i in range(len(baseline.rows))] if rows is None else [list(rows)]
    kind = "leave-one-out" if rows is None else "holdout"
    seen, predictions, errors = [], [], []
    for group in groups:
        rest = baseline.without(group)
        if not rest.rows:
            continue
        refit = fit(model, rest, params, settings, start=start,
                    iterations=settings.holdout_iterations, with_ci=False,
                    fixed_integers=True)
        held = Baseline(rows=tuple(baseline.rows[i] for i in group))
        for i, res in zip(group, predict(refit.model, held, settings), strict=True):
            seen.append(i)
            predictions.append(res)
            errors.append(relative_errors(res))
        if progress is not None:
            progress(f"hold-out rows {[g + 1 for g in group]} done")
    return Holdout(kind, seen, predictions, errors)
