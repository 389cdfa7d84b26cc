"""Designs: the points in parameter space each method needs, drawn by SALib.

Every method draws in the unit cube (SALib's samplers with bounds [0, 1]), and
each parameter maps a unit draw to its value through its own quantile function
(:meth:`Parameter.value`), so a distribution means the same thing to every
method. The one-at-a-time design is each parameter at its low and high end with
the others at their base; an ensemble draws its members independently (or, with
a correlation, through a Gaussian copula).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from tarsim.sensitivity.loader import Parameter, Study
from tarsim.sensitivity.study import ENSEMBLE, MORRIS, OAT, SOBOL


@dataclass(frozen=True)
class Design:
    """The points of a study: values (rows x parameters) and, for Morris and Sobol,
    the unit draws SALib analyses them by."""

    method: str
    values: np.ndarray
    unit: np.ndarray
    problem: dict[str, Any]
    roles: list[str]
    """One-at-a-time: ``base``, or ``<path>:low`` / ``<path>:high``; else empty."""

    def __len__(self) -> int:
        return int(self.values.shape[0])


def unit_problem(parameters: list[Parameter]) -> dict[str, Any]:
    """SALib's problem over the unit cube, one dimension per parameter."""
    return {"num_vars": len(parameters), "names": [p.path for p in parameters],
            "bounds": [[0.0, 1.0]] * len(parameters)}


def to_values(parameters: list[Parameter], unit: np.ndarray) -> np.ndarray:
    return np.array([[p.value(u) for p, u in zip(parameters, row, strict=True)]
                     for row in unit], dtype=float).reshape(len(unit), len(parameters))


def make_design(study: Study) -> Design:
    """The design of *study*'s method."""
    params = study.parameters
    spec = study.spec
    problem = unit_problem(params)
    if spec.method == OAT:
        base = np.array([p.base for p in params], dtype=float)
        rows, roles = [base.copy()], ["base"]
        for i, p in enumerate(params):
            for end, value in zip(("low", "high"), p.ends(), strict=True):
                row = base.copy()
                row[i] = value
                rows.append(row)
                roles.append(f"{p.path}:{end}")
        values = np.array(rows)
        return Design(OAT, values, np.full_like(values, np.nan), problem, roles)
    if spec.method == SOBOL:
        from SALib.sample import sobol as sobol_sample

        unit = sobol_sample.sample(problem, spec.samples, calc_second_order=False,
                                   seed=spec.seed)
    elif spec.method == MORRIS:
        from SALib.sample import morris as morris_sample

        unit = morris_sample.sample(problem, spec.samples, num_levels=spec.levels,
                                    seed=spec.seed)
    else:
        assert spec.method == ENSEMBLE
        unit = ensemble_draws(len(params), spec.samples, spec.seed, study.correlation)
    return Design(spec.method, to_values(params, unit), unit, problem, [])


def ensemble_draws(dims: int, members: int, seed: int,
                   correlation: np.ndarray | None = None) -> np.ndarray:
    """*members* unit draws in *dims* dimensions: independent, or with the normal
    copula of *correlation*."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 13]))
    if correlation is None:
        return rng.random((members, dims))
    z = rng.multivariate_normal(np.zeros(dims), correlation, size=members,
                                method="eigh")
    return np.asarray(stats.norm.cdf(z))
