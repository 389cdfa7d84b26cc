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

Where the search allows, runs are submitted together to one runner
(:mod:`tarsim.calibrate.simulator`): the rows of an evaluation, the scan's points, the
points of each finite-difference Jacobian (scipy's ``workers`` map) and the noise
replications; the least-squares steps and the integer search stay in order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tarsim.calibrate.baseline import Baseline, BaselineRow
from tarsim.calibrate.params import Parameter, default_fit, resolve, values
from tarsim.calibrate.search import (
    OPTIMISER_XTOL,
    continuous_ci,
    fit_warnings,
    integer_interval,
    integer_search,
)
from tarsim.calibrate.simulator import (
    METRICS,
    MISSING_PENALTY,
    FitSettings,
    RowResult,
    Simulator,
    calibration_runner,
    check_rows,
    evaluate,
    relative_errors,
    residuals,
    row_overrides,
    row_run,
)
from tarsim.config.model import Model
from tarsim.executors import Runner

__all__ = [
    "METRICS",
    "MISSING_PENALTY",
    "FitResult",
    "FitSettings",
    "Parameter",
    "RowResult",
    "Simulator",
    "calibration_runner",
    "check_rows",
    "default_fit",
    "fit",
    "predict",
    "relative_errors",
    "residuals",
    "resolve",
    "row_overrides",
    "row_run",
]

SCAN_HALF_WIDTH = math.log(4.0)
"""The global stage scans start / 4 .. start x 4 of every continuous parameter."""


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
        fixed_integers: bool = False, runner: Runner | None = None) -> FitResult:
    """Fit *params* of *model* to every row of *baseline* (see the module docstring),
    simulating on *runner* (made by :func:`calibration_runner`; None: serially)."""
    params = list(params)
    sim = Simulator(model, params, settings, runner=runner)
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

    def costs_at(points: Iterable[np.ndarray]) -> list[float]:
        """The cost at each point, all simulated together."""
        return [float(res @ res) for res in map(residuals, sim.rows(points, rows))]

    def cost_at(point: np.ndarray) -> float:
        return costs_at([point])[0]

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
        candidates, scanned = _scan(costs_at, params, cont, theta, settings, start_cost)
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
    final = sim.rows([theta], rows)[0]
    res = residuals(final)
    m, n = len(res), len(params)
    dof = m - n
    ci: list[tuple[float, float]] = [(math.nan, math.nan)] * n
    corr = np.full((n, n), math.nan)
    identified = [True] * n
    if with_ci and n and dof >= 1 and budget > 0:
        from scipy.stats import t as student_t

        noise = _noise_covariance(sim, theta, rows)
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
                         sim.invalid, budget, message, sim.errors)
    return FitResult(params, theta, ci, final, float(res @ res), dof, nfev,
                     sim.simulations, str(message), sim.model_at(theta), corr, identified,
                     warnings, start_cost)


def _scan(costs_at: Callable[[Iterable[np.ndarray]], list[float]], params: list[Parameter],
          cont: list[int], theta: np.ndarray, settings: FitSettings, start_cost: float
          ) -> tuple[list[np.ndarray], int]:
    """The global stage: a Latin-hypercube scan in log space; the ``starts`` best of
    it and the start, best first (the local stage runs from each). The points are
    simulated together."""
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
    trials = []
    for unit in qmc.LatinHypercube(len(cont), seed=settings.seed).random(count):
        trial = theta.copy()
        trial[cont] = np.exp(low + unit * (high - low))
        trials.append(trial)
    scored = [(start_cost, 0, theta)]
    scored += [(cost, n + 1, trial)
               for n, (cost, trial) in enumerate(zip(costs_at(trials), trials, strict=True))]
    scored.sort(key=lambda item: (item[0], item[1]))
    return [point for _, _, point in scored[:max(1, settings.starts)]], count


def _noise_covariance(fitting: Simulator, theta: np.ndarray,
                      rows: list[tuple[int, BaselineRow]]) -> np.ndarray:
    """Covariance of the residual vector's noise at *theta*: from
    ``noise_replications`` single replications on seeds the fit never used (one
    residual vector each, all rows of a replication sharing its streams, so the
    cross-row correlation common random numbers create is kept), divided by the
    fit's replications, and doubled on the assumption that the baseline is as
    noisy as the fit's own simulated average. All replications run together."""
    settings = fitting.settings
    single = replace(settings, replications=1)
    sims = [Simulator(fitting.model, fitting.params,
                      replace(single, seed=settings.seed + 1_000_003 * (k + 1)),
                      runner=fitting.runner) for k in range(settings.noise_replications)]
    stacked = np.array([residuals(found) for found in evaluate(sims, [theta], rows)])
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

    def at(u: np.ndarray) -> np.ndarray:
        point = theta.copy()
        point[cont] = np.exp(u)
        return point

    def objective(u: np.ndarray) -> np.ndarray:
        return residuals(sim.rows([at(u)], rows)[0])

    def together(function: Callable[[np.ndarray], Any], steps: Iterable[np.ndarray]
                 ) -> list[Any]:
        """scipy's map over the finite-difference points: all simulated at once
        first, then *function* (its own wrapper of the objective) at each, cached."""
        points = list(steps)
        sim.rows([at(u) for u in points], rows)
        return [function(u) for u in points]

    result = least_squares(objective, u0, bounds=(lower, upper), method="trf",
                           diff_step=0.05, max_nfev=budget, xtol=OPTIMISER_XTOL, ftol=1e-4,
                           workers=together)
    out = theta.copy()
    out[cont] = np.exp(result.x)
    return out, result.jac, str(result.message), int(result.nfev)


def predict(model: Model, baseline: Baseline, settings: FitSettings,
            runner: Runner | None = None) -> list[RowResult]:
    """Simulate every row of *baseline* with *model* as it is (on *runner*, made by
    :func:`calibration_runner`; None: serially), all rows together."""
    return Simulator(model, [], settings, runner=runner).rows([[]], list(
        enumerate(baseline.rows)))[0]
