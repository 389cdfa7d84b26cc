"""A calibration on any executor: the same fit, run for run, whatever runs it, and a
run that fails is a penalised trial, never a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from conftest import Synthetic, simulated_baseline

from tarsim.calibrate.baseline import Baseline, BaselineRow
from tarsim.calibrate.calibration import calibrate
from tarsim.calibrate.fit import (
    MISSING_PENALTY,
    FitSettings,
    Simulator,
    calibration_runner,
    fit,
    residuals,
    row_run,
)
from tarsim.calibrate.params import resolve
from tarsim.config.loader import model_from_data
from tarsim.executors import Runner, RunTask, SerialExecutor
from tarsim.metrics import json_safe

TINY = FitSettings(duration_s=20, warmup_s=2, replications=3, seed=3, max_iterations=2,
                   noise_replications=3, scan_points=2)
FAILS_ABOVE = 0.25
"""Mean work above which the failing run function below raises."""


def baseline_of(model: Any, loads: tuple[int, ...] = (2, 6)) -> Baseline:
    """Rows simulated from *model* on another seed (a baseline it fits)."""
    return simulated_baseline(model, [(n, None) for n in loads],
                              FitSettings(duration_s=30, warmup_s=3, replications=1, seed=99))


def test_a_two_process_pool_calibrates_exactly_as_serial(synthetic: Synthetic) -> None:
    """Each replication draws from the streams of (seed, replication), and the runs of
    an evaluation are gathered in replication order however they finish: the whole
    calibration (scan, least squares with its finite differences, noise replications
    for the intervals, leave-one-out refits) on a pool of 2 processes reports exactly
    what the serial one reports - parameters, intervals, costs, simulation count."""
    model = model_from_data(synthetic(work=0.3), base_dir=Path("."))
    baseline = baseline_of(model_from_data(synthetic(), base_dir=Path(".")))
    out = []
    for kind, workers in (("serial", None), ("local", 2)):
        with calibration_runner(kind, workers=workers) as runner:
            result = calibrate(model, baseline, ["roles.worker.work"], settings=TINY,
                               runner=runner)
        out.append(json.dumps(json_safe(result.as_dict()), sort_keys=True))
    assert out[0] == out[1]
    data = json.loads(out[0])
    assert data["fit"]["simulations"] > 0 and data["holdout"]["kind"] == "leave-one-out"


def _fails_when_slow(task: RunTask) -> dict[str, Any]:
    """The calibration's run function, raising when the mean work exceeds FAILS_ABOVE."""
    if task.model.roles["worker"].work.mean() > FAILS_ABOVE:
        raise RuntimeError("simulated crash")
    return row_run(task)


def test_a_failed_run_is_a_penalised_trial(synthetic: Synthetic) -> None:
    """A run that raises makes its trial invalid: every residual of that row gets the
    penalty, the trial is counted and its error kept; a fit started where every run
    fails does not raise, ends where the runs succeed, and says how many failed."""
    model = model_from_data(synthetic(work=0.3), base_dir=Path("."))
    params = resolve(model, ["roles.worker.work"])
    runner = Runner(SerialExecutor(), 1, run=_fails_when_slow)
    sim = Simulator(model, params, TINY, runner=runner)
    row = BaselineRow(load=2, load_kind="concurrency", throughput=3, p99=1, error_rate=0.0)
    # the parameter scales the mean work: 1.0 is 0.3 s (fails), 0.6 is 0.18 s
    assert list(residuals([sim.row([1.0], 0, row)])) == [MISSING_PENALTY] * 3
    assert sim.invalid == 1 and sim.errors[0].startswith("RuntimeError: simulated crash")
    assert np.all(np.abs(residuals([sim.row([0.6], 0, row)])) < MISSING_PENALTY)

    baseline = baseline_of(model_from_data(synthetic(), base_dir=Path(".")))
    result = fit(model, baseline, params, TINY, with_ci=False, runner=runner)
    assert result.fitted()["roles.worker.work.mean"] <= FAILS_ABOVE
    assert np.all(np.abs(residuals(result.rows)) < MISSING_PENALTY)
    assert any("trial simulations failed" in w and "simulated crash" in w
               for w in result.warnings)
