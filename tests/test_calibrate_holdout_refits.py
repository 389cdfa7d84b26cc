"""Leave-one-out refits every parameter of the fit set, the curves' included (issue 11:
"a hold-out refits every parameter, curves included"): each row's refit sets the same
leaves as the main fit, moves a congestion curve's parameter from its start towards the
value that generated the data, and is a fit of its own rows, not the main fit reused.
A list item of the model (a request class's weight) is a fittable path too."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from conftest import Synthetic, simulated_baseline

from tarsim.calibrate.baseline import Baseline
from tarsim.calibrate.calibration import calibrate
from tarsim.calibrate.fit import FitSettings
from tarsim.calibrate.params import resolve
from tarsim.config.loader import model_from_data

TINY = FitSettings(duration_s=20, warmup_s=2, replications=1, seed=3, max_iterations=3,
                   noise_replications=4, scan_points=2)
TRUE_CONTENTION = 0.1
START_CONTENTION = 0.01


def congested(synthetic: Synthetic, contention: float) -> Any:
    """The synthetic model with every LLM call served at a host station whose rate per
    call falls as 1 / (1 + contention (n - 1)) with n calls present."""
    data = synthetic()
    data["agents"]["concurrency"] = 16
    data["deployment"] = {"hosts": 1, "congestion": {"contention": contention, "coherence": 1e-6}}
    return model_from_data(data, base_dir=Path("."))


def test_leave_one_out_refits_the_whole_fit_set_curves_included(synthetic: Synthetic) -> None:
    """Rows simulated at 2, 6 and 12 users with contention 0.1; the fit starts from 0.01.
    At 12 users the start's calls are ~(1 + 0.1 x 11) / (1 + 0.01 x 11) = 1.9 times
    faster than the data's, and at 6 users still (1 + 0.5) / (1 + 0.05) = 1.4 times,
    far beyond the noise of a 20 s run, so any fit that sees two of the rows must raise
    the contention well above its start (here: at least 3x). Every
    leave-one-out refit must do so on its own two rows, set exactly the main fit's
    leaves, and differ from the main fit (it saw other data)."""
    truth = congested(synthetic, TRUE_CONTENTION)
    start = congested(synthetic, START_CONTENTION)
    baseline: Baseline = simulated_baseline(
        truth, [(2, None), (6, None), (12, None)],
        FitSettings(duration_s=40, warmup_s=4, replications=1, seed=99))
    paths = ["roles.worker.work", "deployment.congestion.contention"]
    cal = calibrate(start, baseline, paths, None, loo=True, settings=TINY)
    main = cal.result.fitted()
    hold = cal.holdout
    assert hold is not None and hold.kind == "leave-one-out" and hold.rows == [0, 1, 2]
    for refit in hold.refitted:
        assert set(refit) == set(main)
        assert refit["deployment.congestion.contention"] >= 3 * START_CONTENTION, refit
        assert refit != main
    assert main["deployment.congestion.contention"] >= 3 * START_CONTENTION


def test_a_request_class_weight_is_a_fittable_value(synthetic: Synthetic) -> None:
    """workload.classes.0.weight names the first class's weight: one value parameter
    starting at the model's weight, bounded below by 0 (a weight must be positive)."""
    data = synthetic()
    data["workload"]["classes"] = [{"name": "job", "steps": ["worker"], "weight": 0.8},
                                   {"name": "other", "steps": ["worker"], "weight": 0.2}]
    model = model_from_data(data, base_dir=Path("."))
    [param] = resolve(model, ["workload.classes.0.weight"])
    assert (param.kind, param.start, param.leaves) == (
        "value", 0.8, (("workload.classes.0.weight", 0.8),))
    assert 0 < param.lower < 0.8 < param.upper and not param.integer
    assert math.isclose(param.lower, 0.8 / 1e3)
