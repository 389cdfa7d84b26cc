"""Prediction error on rows a fit did not see: leave-one-out, or chosen rows held out.

Each refit is the main fit again on the other rows: from the user's start values,
with the same budget and global stage, integers included, so that its error is
what a user who had measured only those rows would get, not the main fit's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tarsim.calibrate.baseline import Baseline
from tarsim.calibrate.fit import METRICS, FitSettings, RowResult, fit, predict, relative_errors
from tarsim.calibrate.params import Parameter
from tarsim.config.model import Model
from tarsim.executors import Runner


@dataclass
class Holdout:
    """Prediction error on rows the fit did not see."""

    kind: str
    """``leave-one-out`` or ``holdout``."""
    rows: list[int]
    predictions: list[RowResult]
    errors: list[dict[str, float]]
    refitted: list[dict[str, float]]
    """The values each row's refit gave every fitted leaf (the fit set refitted whole)."""

    def mean_abs(self) -> dict[str, float]:
        out = {}
        for name in METRICS:
            values = [abs(e[name]) for e in self.errors if name in e and not math.isnan(e[name])]
            if values:
                out[name] = float(np.mean(values))
        return out


def holdout(model: Model, baseline: Baseline, params: Sequence[Parameter],
            settings: FitSettings, rows: Sequence[int] | None,
            progress: Callable[[str], None] | None = None,
            runner: Runner | None = None) -> Holdout:
    """Refit without some rows (each row in turn when *rows* is None) from the
    parameters' start values, and predict the rows left out (simulating on *runner*,
    as :func:`~tarsim.calibrate.fit.fit`)."""
    groups = [[i] for i in range(len(baseline.rows))] if rows is None else [list(rows)]
    kind = "leave-one-out" if rows is None else "holdout"
    seen, predictions, errors, refitted = [], [], [], []
    for group in groups:
        rest = baseline.without(group)
        if not rest.rows:
            continue
        refit = fit(model, rest, params, settings, with_ci=False, runner=runner)
        held = Baseline(rows=tuple(baseline.rows[i] for i in group))
        for i, res in zip(group, predict(refit.model, held, settings, runner), strict=True):
            seen.append(i)
            predictions.append(res)
            errors.append(relative_errors(res))
            refitted.append(refit.fitted())
        if progress is not None:
            progress(f"hold-out rows {[g + 1 for g in group]} done")
    return Holdout(kind, seen, predictions, errors, refitted)
