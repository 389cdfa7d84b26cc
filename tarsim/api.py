"""The Python API: what the CLI and the notebooks call.

Plain values and pandas frames in and out; nothing here prints or exits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tarsim import metrics
from tarsim.calibrate.baseline import Baseline
from tarsim.calibrate.baseline import read_baseline as _read_baseline
from tarsim.calibrate.calibration import Calibration
from tarsim.calibrate.calibration import calibrate as _calibrate
from tarsim.calibrate.fit import FitSettings
from tarsim.config import ConfigError, Model, Problem
from tarsim.config import load_model as _load_model
from tarsim.config import with_overrides as _with_overrides
from tarsim.run import RunRecords, simulate

if TYPE_CHECKING:
    import pandas as pd

    from tarsim.scenarios import Plan, ScenarioResult

DEFAULT_DURATION_S = 300.0
DEFAULT_WARMUP_FRACTION = 0.1


def load_model(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Model:
    """Read and validate a model file, with optional ``{"agents.count": 10}`` overrides."""
    return _load_model(path, overrides)


def with_overrides(model: Model, overrides: Mapping[str, Any]) -> Model:
    """A copy of *model* with dotted paths set (values as YAML would give them)."""
    return _with_overrides(model, overrides)


@dataclass
class RunResult:
    """The outcome of ``run``: the summary (the ``tarsim run`` JSON), each
    replication's summary, and each replication's records when kept."""

    summary: dict[str, Any]
    replications: list[dict[str, Any]]
    records: list[RunRecords] = field(default_factory=list)

    def requests(self, replication: int = 0) -> pd.DataFrame:
        """Per-request rows of one replication."""
        return self.records[replication].requests

    def timeseries(self, replication: int = 0, step: float = 1.0) -> pd.DataFrame:
        """Per-second time series of one replication."""
        return metrics.timeseries(self.records[replication], step)


def run(
    model: Model | str | Path,
    *,
    duration: float = DEFAULT_DURATION_S,
    warmup: float | None = None,
    seed: int = 1,
    replications: int = 1,
    keep_records: bool = True,
) -> RunResult:
    """Simulate *model* for *replications* independent replications.

    *duration* is the simulated horizon in seconds; the first *warmup* seconds
    (default 10% of it) are not measured. Replication r uses streams keyed by
    (seed, r, source), so results do not depend on where or in which order
    replications run.
    """
    if not isinstance(model, Model):
        model = load_model(model)
    warmup = duration * DEFAULT_WARMUP_FRACTION if warmup is None else warmup
    _check_run_args(duration, warmup, seed, replications)
    summaries, kept = [], []
    for r in range(replications):
        rec = simulate(model, duration=duration, warmup=warmup, seed=seed, replication=r)
        summaries.append(metrics.summarize(rec))
        if keep_records:
            kept.append(rec)
    return RunResult(metrics.aggregate(summaries), summaries, kept)


TIMELINE_SUFFIXES = (".csv", ".parquet")


def check_timeline_path(path: str | Path) -> Path:
    """The timeline file's path, if its suffix names a format we write."""
    path = Path(path)
    if path.suffix.lower() not in TIMELINE_SUFFIXES:
        raise ConfigError([Problem("--timeline", "must end in .csv or .parquet", str(path))])
    return path


def timeline(result: RunResult, step: float = 1.0) -> pd.DataFrame:
    """The per-second time series of every kept replication, one below the other,
    with a ``replication`` column."""
    frames = [metrics.timeseries(rec, step).assign(replication=r)
              for r, rec in enumerate(result.records)]
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def write_timeline(result: RunResult, path: str | Path, step: float = 1.0) -> Path:
    """Write :func:`timeline` as CSV or Parquet, by the file's suffix."""
    path = check_timeline_path(path)
    frame = timeline(result, step)
    if path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def _check_run_args(duration: float, warmup: float, seed: int, replications: int) -> None:
    problems = []
    if not duration > 0:
        problems.append(Problem("duration", "must be > 0", duration))
    if not 0 <= warmup < duration:
        problems.append(Problem("warmup", f"must be >= 0 and < the duration ({duration:g}s)",
                                warmup))
    if seed < 0:
        problems.append(Problem("seed", "must be >= 0", seed))
    if replications < 1:
        problems.append(Problem("replications", "must be >= 1", replications))
    if problems:
        raise ConfigError(problems)


def load_scenarios(path: str | Path) -> Plan:
    """Read and check a scenario file, its model, and every model its scenarios
    will simulate (a ConfigError lists every problem)."""
    from tarsim.scenarios import load_plan

    return load_plan(path)


def scenarios(path: str | Path | Plan, only: Sequence[str] = ()) -> list[ScenarioResult]:
    """Run the scenarios of a scenario file (or only those named) and return one
    result per scenario: its name, type, purpose, key result and the numbers behind it."""
    from tarsim.scenarios import Plan, run_plan

    plan = path if isinstance(path, Plan) else load_scenarios(path)
    return run_plan(plan, only)


def read_baseline(path: str | Path, **import_options: Any) -> Baseline:
    """A measured baseline from the plain CSV, a Locust ``*_stats.csv`` /
    ``*_stats_history.csv`` or a k6 summary JSON (``agents``, ``load``, ``load_kind``
    complete what a load tool does not record)."""
    return _read_baseline(path, **import_options)


def calibrate(
    model: Model | str | Path,
    baseline: Baseline | str | Path,
    *,
    fit: list[str] | None = None,
    holdout: list[int] | None = None,
    leave_one_out: bool = True,
    duration: float | None = None,
    warmup: float | None = None,
    replications: int | None = None,
    seed: int | None = None,
    max_iterations: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Calibration:
    """Check a baseline, fit *fit* paths of *model* to it (TARS's usual unknowns when
    None), and measure the prediction error on held-out rows (1-based *holdout*, or
    leave-one-out). Returns a ``Calibration``: ``.as_dict()`` is the
    ``tarsim calibrate`` JSON; ``.result.model`` the calibrated model.

    Runtime: every evaluation simulates each row for *duration* seconds (default 60)
    per replication (default 2); the main fit is bounded by *max_iterations* (default
    8) least-squares evaluations plus their finite differences, each hold-out refit by 3.
    """
    from dataclasses import replace

    if not isinstance(model, Model):
        model = load_model(model)
    if not isinstance(baseline, Baseline):
        baseline = read_baseline(baseline)
    settings = FitSettings()
    given: dict[str, Any] = {"duration_s": duration, "warmup_s": warmup,
                             "replications": replications, "seed": seed,
                             "max_iterations": max_iterations}
    settings = replace(settings, **{k: v for k, v in given.items() if v is not None})
    if duration is not None and warmup is None:
        settings = replace(settings, warmup_s=duration * DEFAULT_WARMUP_FRACTION)
    _check_run_args(settings.duration_s, settings.warmup_s, settings.seed,
                    settings.replications)
    return _calibrate(model, baseline, fit, holdout, leave_one_out, settings, progress)
