"""The parts of a fit that read its cost surface: the pattern search over an integer
parameter, parameter intervals (sandwich in log space; integer profiles), whether a
parameter is identified, and the warnings a fit ends with (see :mod:`tarsim.calibrate.fit`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from tarsim.calibrate.params import Parameter

OPTIMISER_XTOL = 1e-3
"""Step in log(theta) below which the least-squares search stops; also the floor of a
parameter's CI half-width in log space (before the t quantile)."""
IDENTIFY_STEP = math.log(2.0)
"""A parameter is identified if a factor-2 change moves the fit beyond its noise."""


def continuous_ci(jac: np.ndarray, noise: np.ndarray, q: float, allowance: float,
                   theta: np.ndarray, params: list[Parameter], cont: list[int],
                   ci: list[tuple[float, float]], corr: np.ndarray,
                   identified: list[bool]) -> None:
    """Sandwich CIs in log space (filled into *ci*, *corr*, *identified*)."""
    bread = np.linalg.pinv(jac.T @ jac)
    cov = bread @ jac.T @ noise @ jac @ bread
    sd = np.sqrt(np.clip(np.diag(cov), 0, None) + OPTIMISER_XTOL**2)
    for j, k in enumerate(cont):
        p = params[k]
        if float(np.sum((jac[:, j] * IDENTIFY_STEP) ** 2)) <= allowance:
            identified[k] = False
            ci[k] = (p.lower, p.upper)
            continue
        u = math.log(theta[k])
        ci[k] = (max(math.exp(u - q * sd[j]), p.lower), min(math.exp(u + q * sd[j]), p.upper))
    with np.errstate(invalid="ignore", divide="ignore"):
        sub = cov / np.outer(sd, sd)
    for a, ka in enumerate(cont):
        for b, kb in enumerate(cont):
            corr[ka, kb] = sub[a, b]


def fit_warnings(params: list[Parameter], first: np.ndarray, theta: np.ndarray,
              start_cost: float, cost: float, identified: list[bool], invalid: int,
              budget: int, message: str, errors: Sequence[str] = ()) -> list[str]:
    out = []
    if budget <= 0:
        return ["no fit (0 evaluations): the parameters are the model's own"]
    if params and np.all(np.abs(np.log(theta / first)) <= OPTIMISER_XTOL):
        out.append(f"the fit stopped at its start values ({message}); sum of squares "
                   f"{cost:.4g}: the objective may be flat there - try other start values")
    elif not cost < start_cost:
        out.append(f"the fit did not improve on its start (sum of squares {start_cost:.4g} "
                   f"-> {cost:.4g})")
    flat = [p.path for p, ok in zip(params, identified, strict=True) if not ok]
    if flat and len(flat) == len(params):
        out.append("the objective is flat in every parameter: the data cannot tell their "
                   "values (not identified)")
    elif flat:
        out.append("not identified (a factor-2 change moves the fit less than its noise): "
                   + ", ".join(flat))
    if invalid > len(errors):
        out.append(f"{invalid - len(errors)} trial simulations had parameter values the "
                   "model refuses; they were penalised")
    if errors:
        out.append(f"{len(errors)} trial simulations failed (first: {errors[0]}); they were "
                   "penalised")
    return out


Profile = Callable[[np.ndarray], tuple[float, np.ndarray]]


def integer_search(profile: Profile, theta: np.ndarray, k: int,
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


def integer_interval(profile: Profile, theta: np.ndarray, k: int, param: Parameter,
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
